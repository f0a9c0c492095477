//! `runner sync`: takes into the store the result bundles Slurm tasks left.

use std::path::PathBuf;

use anyhow::Result;

use crate::store::{SLURM_FOLDER, Store};

/// Take the results that Slurm tasks left in a shared folder into the store (what
/// `runner run --executor slurm` does while it waits, for when it stopped waiting)
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:\n  runner sync\n  runner sync /shared/runner")]
pub struct Args {
    /// The executor's shared folder (default: `slurm/` in the store)
    dir: Option<PathBuf>,
}

pub fn exec(args: Args, store: &Store) -> Result<()> {
    let dir = args.dir.unwrap_or_else(|| store.root().join(SLURM_FOLDER));
    let runs = store.ingest_shared_folder(&dir)?;
    for run in &runs {
        eprintln!(
            "took in run {} ({}{})",
            run.id,
            run.status.as_str(),
            run.trial
                .map_or_else(String::new, |trial| format!(", trial {trial}"))
        );
    }
    eprintln!("took in {} run(s) from `{}`", runs.len(), dir.display());
    Ok(())
}
