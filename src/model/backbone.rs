//! A pretrained backbone as a sequence of named layers, cut after a named layer, with the
//! freeze spec resolved to one flag per layer.

use anyhow::Result;
use burn::prelude::*;

use super::layers::BackboneLayer;
use super::network::Network;
use crate::data::Preprocess;
use crate::spec::{Arch, BackboneSpec, LayerPlan};

pub struct Backbone {
    pub arch: Arch,
    /// The layers up to and including the cut, in order, with their names.
    pub layers: Vec<(String, BackboneLayer)>,
    /// Whether each of `layers` is frozen.
    pub frozen: Vec<bool>,
    pub preprocess: Preprocess,
}

/// Builds the architecture, loads its weights, and cuts it and flags its frozen layers as
/// `plan` (the plan of `spec`) says.
pub fn build_backbone(spec: &BackboneSpec, plan: &LayerPlan, device: &Device) -> Result<Backbone> {
    let layers = Network::load(spec.arch, spec.weights_file(), device)?.into_layers();
    let names = spec.arch.layer_names();
    // The architecture's facts name the layers that cuts and freezes resolve against; a
    // network built otherwise is a bug, which must not cut at the wrong place.
    anyhow::ensure!(
        layers.len() == names.len(),
        "{}'s network has {} layers but {} layer names (a bug in runner)",
        spec.arch.name(),
        layers.len(),
        names.len()
    );
    let layers = names
        .into_iter()
        .zip(layers)
        .take(plan.names.len())
        .collect();
    Ok(Backbone {
        arch: spec.arch,
        layers,
        frozen: plan.frozen.clone(),
        preprocess: spec.arch.preprocess(),
    })
}
