//! `runner summary`: the model a pipeline builds, layer by layer.

use anyhow::Result;

use crate::spec::load_pipeline_to_inspect;
use crate::summary::summarize;
use runner_core::commands::Format;
use runner_core::commands::libtorch::FileArgs;

pub fn exec(args: FileArgs) -> Result<()> {
    let pipeline = load_pipeline_to_inspect(&args.file)?;
    let summary = summarize(&pipeline.spec, &crate::device::cpu())?;
    match args.format {
        Format::Table => print!("{}", summary.to_text()),
        Format::Json => println!("{}", serde_json::to_string_pretty(&summary)?),
    }
    Ok(())
}
