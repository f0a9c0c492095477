//! A pretrained backbone as a sequence of named layers, cut after a named layer, with the
//! freeze spec resolved to one flag per layer.

use anyhow::Result;
use burn::prelude::*;

use super::efficientnet_lite::{self, EfficientNetLite};
use super::layers::BackboneLayer;
use super::weights::load_pytorch;
use crate::bail_input;
use crate::data::Preprocess;
use crate::spec::{Arch, BackboneSpec, FreezeKeyword, FreezeSpec, unknown_layer_message};

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
    };
    let names: Vec<String> = layers.iter().map(|(name, _)| name.clone()).collect();
    let cut = match &spec.cut {
        Some(name) => find_layer(spec.arch, &names, name, "backbone.cut")?,
        None => names.len() - 1,
    };
    layers.truncate(cut + 1);
    let frozen = resolve_freeze(spec.arch, &spec.freeze, &names[..=cut], &names)?;
    Ok(Backbone {
        arch: spec.arch,
        layers,
        frozen,
        preprocess,
    })
}

/// One flag per kept layer. Range ends may only name kept layers.
fn resolve_freeze(
    arch: Arch,
    freeze: &FreezeSpec,
    kept: &[String],
    all: &[String],
) -> Result<Vec<bool>> {
    let range = match freeze {
        FreezeSpec::Keyword(FreezeKeyword::None) => return Ok(vec![false; kept.len()]),
        FreezeSpec::Keyword(FreezeKeyword::All) => 0..=kept.len() - 1,
        FreezeSpec::Range(range) => {
            let index = |name: &Option<String>, key: &str, default: usize| -> Result<usize> {
                let Some(name) = name else { return Ok(default) };
                let index = find_layer(arch, all, name, key)?;
                if index >= kept.len() {
                    bail_input!(
                        "`{key}` = \"{name}\" is after the cut (`{}`): only kept layers can be frozen",
                        kept[kept.len() - 1]
                    );
                }
                Ok(index)
            };
            let from = index(&range.from, "backbone.freeze.from", 0)?;
            let to = index(&range.to, "backbone.freeze.to", kept.len() - 1)?;
            if from > to {
                bail_input!(
                    "`backbone.freeze`: `from` ({}) comes after `to` ({})",
                    kept[from],
                    kept[to]
                );
            }
            from..=to
        }
    };
    Ok((0..kept.len())
        .map(|index| range.contains(&index))
        .collect())
}

/// The index of a layer by name; an unknown name lists the closest valid names.
fn find_layer(arch: Arch, names: &[String], name: &str, key: &str) -> Result<usize> {
    if let Some(index) = names.iter().position(|candidate| candidate == name) {
        return Ok(index);
    }
    bail_input!("{}", unknown_layer_message(arch, names, key, name))
}
