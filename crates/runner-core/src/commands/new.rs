//! `runner new`: a commented starter pipeline that validates.

use std::io::Write;
use std::path::PathBuf;

use anyhow::Result;
use clap::ValueEnum;

use crate::spec::{self, Arch};

/// Write a commented starter pipeline that validates
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Example:\n  runner new pipelines/flowers.toml --backbone efficientnet_lite0"
)]
pub struct Args {
    /// The pipeline file to create (an existing file is left alone)
    file: PathBuf,
    #[arg(long, value_enum, default_value_t = BackboneChoice::EfficientnetLite0)]
    backbone: BackboneChoice,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum BackboneChoice {
    EfficientnetLite0,
}

pub fn exec(args: Args) -> Result<()> {
    let Args { file, backbone } = args;
    let arch = match backbone {
        BackboneChoice::EfficientnetLite0 => Arch::EfficientnetLite0,
    };
    let text = spec::starter_pipeline(arch);
    let mut out = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&file)
        .map_err(|err| {
            crate::error::input_error(format!("cannot create `{}`: {err}", file.display()))
        })?;
    out.write_all(text.as_bytes())?;
    eprintln!(
        "wrote {}; check it with `runner validate {}`",
        file.display(),
        file.display()
    );
    Ok(())
}
