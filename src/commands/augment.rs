//! `runner augment preview`: a grid of training images and augmented versions of them.

use anyhow::Result;

use crate::data::{augment_preview, scan_source};
use crate::plan::SPLITS;
use crate::spec::load_pipeline_to_inspect;
use runner_core::commands::libtorch::AugmentCommand;

pub fn exec(command: AugmentCommand) -> Result<()> {
    let AugmentCommand::Preview(args) = command;
    let pipeline = load_pipeline_to_inspect(&args.file)?;
    let data = &pipeline.spec.data;
    let source = data.training_source().map_err(crate::error::input_error)?;
    let train = scan_source(SPLITS[0], source, data.classes.as_deref(), data)?;
    let grid = augment_preview(
        &pipeline.spec,
        &train,
        args.images.into(),
        args.samples.into(),
    )?;
    grid.save(&args.out).map_err(|err| {
        crate::error::input_error(format!("cannot write `{}`: {err}", args.out.display()))
    })?;
    eprintln!("wrote {}", args.out.display());
    Ok(())
}
