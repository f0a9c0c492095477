//! `runner data check`: a pipeline's images, per class and split, before training.

use anyhow::Result;

use crate::data::check_data;
use crate::plan::{Plan, SPLITS};
use runner_core::commands::Format;
use runner_core::commands::libtorch::DataCommand;
use runner_core::store::Store;

pub fn exec(command: DataCommand, store: &Store) -> Result<()> {
    let DataCommand::Check(args) = command;
    let plan = Plan::to_inspect(&args.file, store)?;
    let trial = &plan.trials[0];
    let splits: Vec<_> = trial
        .files
        .iter()
        .zip(&trial.manifests)
        .enumerate()
        .map(|(split, (files, manifest))| (SPLITS[split], files.as_ref(), manifest.as_ref()))
        .collect();
    let report = check_data(&splits, trial.pipeline.spec.data.image_limits());
    match args.format {
        Format::Table => print!("{}", report.to_text()),
        Format::Json => println!("{}", serde_json::to_string_pretty(&report)?),
    }
    Ok(())
}
