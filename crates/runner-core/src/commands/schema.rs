//! `runner schema`: the JSON Schema of pipeline or experiment files.

use anyhow::Result;
use clap::ValueEnum;

use crate::spec;

/// Print the JSON Schema of pipeline or experiment files (as in schemas/)
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Examples:\n  runner schema > schemas/pipeline.schema.json\n  runner schema experiment > schemas/experiment.schema.json"
)]
pub struct Args {
    #[arg(value_enum, default_value_t = SchemaKind::Pipeline)]
    kind: SchemaKind,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SchemaKind {
    Pipeline,
    Experiment,
}

pub fn exec(args: Args) -> Result<()> {
    let schema = match args.kind {
        SchemaKind::Pipeline => spec::pipeline_schema(),
        SchemaKind::Experiment => spec::experiment_schema(),
    };
    println!("{}", serde_json::to_string_pretty(&schema)?);
    Ok(())
}
