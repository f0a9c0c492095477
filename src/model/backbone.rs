//! A pretrained backbone as a sequence of named layers, cut after a named layer, with the
//! freeze spec resolved to one flag per layer.

use anyhow::Result;
use burn::prelude::*;

use super::efficientnet_lite::{self, EfficientNetLite};
use super::inception_v3;
use super::inception_v3_weights;
use super::layers::BackboneLayer;
use super::weights::load_pytorch;
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
    let (mut layers, preprocess) = match spec.arch {
        Arch::EfficientnetLite0 => {
            let mut network = EfficientNetLite::lite0(device);
            if let Some(file) = spec.weights_file() {
                load_pytorch(
                    &mut network,
                    file,
                    &efficientnet_lite::TORCH_KEY_REMAPPING,
                    spec.arch,
                )?;
            }
            (network.into_named_layers(), efficientnet_lite::PREPROCESS)
        }
        Arch::InceptionV3 => {
            let network = inception_v3_weights::pretrained(spec.weights_file(), device)?;
            (network.into_named_layers(), inception_v3::PREPROCESS)
        }
    };
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
        preprocess,
    })
}
