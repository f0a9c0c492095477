//! `runner plan`: what `runner run` would do with a file, and what it would cost.

use anyhow::Result;

use crate::plan::{Plan, plan_report};
use crate::stages::Stages;
use runner_core::commands::Format;
use runner_core::commands::libtorch::FileArgs;
use runner_core::store::Store;

pub fn exec(args: FileArgs, store: &Store) -> Result<()> {
    print_plan(&Plan::to_inspect(&args.file, store)?, args.format, store)
}

/// Prints what running `plan` would do and cost: `runner plan`, and `runner run --dry-run`
/// (whose plan has also checked the weights file).
pub fn print_plan(plan: &Plan, format: Format, store: &Store) -> Result<()> {
    let device = crate::device::cpu();
    let report = plan_report(plan, &Stages::new(store, &device), &device)?;
    match format {
        Format::Table => print!("{}", report.to_text()),
        Format::Json => println!("{}", serde_json::to_string_pretty(&report)?),
    }
    Ok(())
}
