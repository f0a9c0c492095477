//! `runner export`: a run's trained model as safetensors, with a JSON file beside it.

use anyhow::Result;

use crate::inference::{export, load_trained};
use runner_core::commands::libtorch::ExportArgs;
use runner_core::store::Store;

pub fn exec(args: ExportArgs, store: &Store) -> Result<()> {
    let record = store.find_run(&args.run)?;
    let model = load_trained(store, &record, &crate::device::cpu())?;
    let metadata = export(model, &record, &args.out)?;
    eprintln!("wrote {} and {}", args.out.display(), metadata.display());
    Ok(())
}
