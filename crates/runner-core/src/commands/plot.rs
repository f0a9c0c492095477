//! `runner plot`: accuracy and loss per epoch of one or more runs, as an image.

use std::path::PathBuf;

use anyhow::Result;

use super::compare::select_runs;
use crate::report::compare::{CompareOptions, compare};
use crate::report::plot::{PlottedRun, plot_runs};
use crate::report::select::display;
use crate::store::{Artifact, Store};

/// Plot training and validation accuracy and loss per epoch of one or more runs
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Example:\n  runner plot 20261128-183012 20261128-190244 --out docs/curves.png"
)]
pub struct Args {
    /// Runs to plot (ids, unique prefixes, `last~N`)
    #[arg(required = true)]
    runs: Vec<String>,
    /// The image to write: .png or .svg
    #[arg(long)]
    out: PathBuf,
}

pub fn exec(args: Args, store: &Store) -> Result<()> {
    let Args { runs, out } = args;
    let records = select_runs(store, &runs)?;
    // The legend names each run by what sets it apart from the others.
    let differing = compare(
        &records,
        CompareOptions {
            no_group: true,
            ..Default::default()
        },
    );
    let mut plotted = Vec::new();
    for (record, row) in records.iter().zip(&differing.rows) {
        let params: Vec<String> = row
            .params
            .iter()
            .map(|(key, value)| format!("{key}={}", display(value)))
            .collect();
        let label = if params.is_empty() {
            record.id.clone()
        } else {
            format!("{} ({})", record.id, params.join(", "))
        };
        plotted.push(PlottedRun {
            label,
            history: store.epochs(&record.id)?,
        });
    }
    plot_runs(&plotted, &out)?;
    // Each plotted run lists the plot among its artifacts.
    let path = std::fs::canonicalize(&out)?;
    let artifact = Artifact {
        path: store.relative_path(&path),
        bytes: std::fs::metadata(&path)?.len(),
        phase: None,
    };
    let name = format!(
        "plot:{}",
        out.file_name()
            .map_or_else(String::new, |n| n.to_string_lossy().into_owned())
    );
    for record in &records {
        store.add_artifact(&record.id, &name, artifact.clone())?;
    }
    eprintln!("wrote {}", out.display());
    Ok(())
}
