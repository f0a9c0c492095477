//! A pretrained backbone as a sequence of named layers, cut after a named layer, with the
//! freeze spec resolved to one flag per layer.

use anyhow::Result;
use burn::prelude::*;

use super::layers::BackboneLayer;
use super::network::{Network, preprocess};
use crate::data::Preprocess;
use crate::spec::{Arch, BackboneSpec, resolve_layers};

pub struct Backbone {
    pub arch: Arch,
    /// The layers up to and including the cut, in order, with their names.
    pub layers: Vec<(String, BackboneLayer)>,
    /// Whether each of `layers` is frozen.
    pub frozen: Vec<bool>,
    pub preprocess: Preprocess,
}

/// Builds the architecture, loads its weights, cuts it and resolves the freeze spec.
pub fn build_backbone(spec: &BackboneSpec, device: &Device) -> Result<Backbone> {
    let mut layers = Network::load(spec.arch, spec.weights_file(), device)?.into_named_layers();
    debug_assert!(
        layers
            .iter()
            .map(|(name, _)| name)
            .eq(spec.arch.layer_names().iter()),
        "the network's layers are the names runner-core checks cuts and freezes against"
    );
    let plan = resolve_layers(spec).map_err(|problems| {
        let messages: Vec<String> = problems.into_iter().map(|(_, message)| message).collect();
        crate::error::input_error(messages.join("\n"))
    })?;
    layers.truncate(plan.cut + 1);
    let frozen = plan.frozen;
    Ok(Backbone {
        arch: spec.arch,
        layers,
        frozen,
        preprocess: preprocess(spec.arch),
    })
}
