//! `runner validate` for files that name a weights file: the store's checks, then the
//! weights file's tensors against the network the pipeline builds.

use anyhow::Result;

use crate::model::Network;
use crate::spec::PipelineSpec;
use runner_core::commands::validate::{self, Args};

pub fn exec(args: Args) -> Result<()> {
    let check_weights = |spec: &PipelineSpec| match spec.backbone.weights_file() {
        Some(file) => Network::check_weights(spec.backbone.arch, file),
        None => Ok(()),
    };
    validate::exec(args, Some(&check_weights))
}
