//! `runner export-logs`: recorded runs as TensorBoard event files.

use std::path::PathBuf;

use anyhow::Result;

use super::compare::select_runs;
use crate::report::tensorboard::write_run;
use crate::store::Store;

/// Write runs' per-epoch metrics and parameters as TensorBoard event files
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Example:\n  runner export-logs last~4 last~3 last~2 last~1 last --tensorboard tb/\n  tensorboard --logdir tb/"
)]
pub struct Args {
    /// Runs to export (ids, unique prefixes, `last~N`)
    #[arg(required = true)]
    runs: Vec<String>,
    /// The log folder: each run goes to TENSORBOARD/RUN_ID (train/ and validation/ scalars
    /// as Keras' TensorBoard callback writes them, and its parameters for the HParams tab)
    #[arg(long, value_name = "DIR")]
    tensorboard: PathBuf,
}

pub fn exec(args: Args, store: &Store) -> Result<()> {
    let records = select_runs(store, &args.runs)?;
    for record in &records {
        let epochs = store.epochs(&record.id)?;
        let folder = write_run(&args.tensorboard, record, &epochs)?;
        eprintln!("wrote {} ({} epochs)", folder.display(), epochs.len());
    }
    Ok(())
}
