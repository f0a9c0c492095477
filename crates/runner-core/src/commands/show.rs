//! `runner show`: one run's parameters, per-epoch metrics and artifacts.

use anyhow::Result;

use super::Format;
use crate::report;
use crate::store::Store;

/// Show one run: parameters, per-epoch metrics, artifacts
#[derive(Debug, clap::Args)]
#[command(after_help = "Example:\n  runner show 20261128-183012-456k3mx7q2p --format json")]
pub struct Args {
    /// A run id, a prefix that matches one run, or `last` (`last~N`: N runs before it)
    run: String,
    #[arg(long, value_enum, default_value_t = Format::Table)]
    format: Format,
}

pub fn exec(args: Args, store: &Store) -> Result<()> {
    let record = store.find_run(&args.run)?;
    let history = store.epochs(&record.id)?;
    match args.format {
        Format::Table => print!("{}", report::run_text(&record, &history, store)),
        Format::Json => {
            let spec_text = store.spec_text(&record.spec_hash)?;
            let json = report::run_json(&record, &history, spec_text.as_deref(), store);
            println!("{}", serde_json::to_string_pretty(&json)?);
        }
    }
    Ok(())
}
