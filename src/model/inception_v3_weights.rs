//! InceptionV3's pretrained weights: Keras' `.h5` files or torchvision's `.pth`, told apart by
//! the file's extension; each fixes the convention the network runs with.

use std::path::Path;

use anyhow::Result;
use burn::prelude::*;

use super::inception_v3::{Convention, InceptionV3, TORCH_KEY_REMAPPING};
use super::keras_h5::{self, KerasLayer, KerasWeights};
use super::weights::{WeightsUse, check_exists, load_pytorch};
use crate::bail_input;
use crate::spec::Arch;

/// InceptionV3 with the weights of `file`, or freshly initialized (Keras' convention) for
/// `None`. With [`WeightsUse::CheckShapes`] the network stays as initialized.
pub fn pretrained(file: Option<&Path>, usage: WeightsUse, device: &Device) -> Result<InceptionV3> {
    let Some(file) = file else {
        return Ok(InceptionV3::new(Convention::Keras, device));
    };
    check_exists(file, Arch::InceptionV3)?;
    let extension = file
        .extension()
        .map(|extension| extension.to_string_lossy().to_lowercase());
    match extension.as_deref() {
        Some("h5" | "hdf5") => {
            let mut network = InceptionV3::new(Convention::Keras, device);
            load_keras(&mut network, file, usage)?;
            Ok(network)
        }
        Some("pth" | "pt") => {
            let mut network = InceptionV3::new(Convention::Torchvision, device);
            load_pytorch(
                &mut network,
                file,
                &TORCH_KEY_REMAPPING,
                Arch::InceptionV3,
                usage,
            )?;
            Ok(network)
        }
        _ => bail_input!(
            "`{}`: inception_v3 loads Keras weights (`.h5`) or torchvision weights (`.pth`), told apart by the file's extension",
            file.display()
        ),
    }
}

/// InceptionV3's layers with weights, by kind: 94 Conv2D, 94 BatchNormalization and, in the
/// file with the classifier, the Dense layer `predictions`.
const CONV_BNS: usize = 94;

/// Loads a Keras InceptionV3 weights file, with or without its classifier (or checks its
/// shapes only). Every layer's shapes are compared with the network's before any values
/// are read.
///
/// Keras matches a file's layers to the model's by position in its own topological order,
/// which interleaves the branches of each mixed block. Keras names the layers it creates
/// `conv2d`, `conv2d_1`, ... in creation order, the order of
/// [`InceptionV3::conv_bns_mut`], so the Conv2D and BatchNormalization layers are taken in
/// the order of the number their names end with, whatever number the file starts from.
pub fn load_keras(network: &mut InceptionV3, file: &Path, usage: WeightsUse) -> Result<()> {
    let mut weights = KerasWeights::open(file, WeightsUse::CheckShapes)?;
    // Names and shapes only: a copy lets the same file be read from afterwards.
    let layers = weights.layers.clone();
    let (convs, batchnorms, dense) = layers_by_kind(&layers, file)?;
    assign(network, &weights, &convs, &batchnorms, &dense)?;
    if usage == WeightsUse::Load {
        weights.read_values();
        assign(network, &weights, &convs, &batchnorms, &dense)?;
    }
    Ok(())
}

/// The file's Conv2D, BatchNormalization and Dense layers, in the order Keras created them.
#[allow(clippy::type_complexity)]
fn layers_by_kind<'a>(
    layers: &'a [KerasLayer],
    file: &Path,
) -> Result<(
    Vec<&'a KerasLayer>,
    Vec<&'a KerasLayer>,
    Vec<&'a KerasLayer>,
)> {
    let mut convs = Vec::new();
    let mut batchnorms = Vec::new();
    let mut dense = Vec::new();
    for layer in layers {
        let dims: Vec<usize> = layer
            .weights
            .iter()
            .map(|weight| weight.shape.len())
            .collect();
        match dims.as_slice() {
            [4] => convs.push(layer),
            [1, 1, 1] => batchnorms.push(layer),
            [2, 1] => dense.push(layer),
            _ => bail_input!(
                "`{}` is not InceptionV3 weights: its layer `{}` has weights of shapes {:?}",
                file.display(),
                layer.name,
                layer
                    .weights
                    .iter()
                    .map(|weight| &weight.shape)
                    .collect::<Vec<_>>()
            ),
        }
    }
    if convs.len() != CONV_BNS || batchnorms.len() != CONV_BNS || dense.len() > 1 {
        bail_input!(
            "`{}` is not InceptionV3 weights: it has {} Conv2D, {} BatchNormalization and {} Dense layers, where InceptionV3 has {CONV_BNS}, {CONV_BNS} and (with its classifier) 1",
            file.display(),
            convs.len(),
            batchnorms.len(),
            dense.len()
        );
    }
    convs.sort_by_key(|layer| creation_number(layer));
    batchnorms.sort_by_key(|layer| creation_number(layer));
    Ok((convs, batchnorms, dense))
}

/// Sets (or, while `weights` reads no values, checks) every layer of the network.
fn assign(
    network: &mut InceptionV3,
    weights: &KerasWeights,
    convs: &[&KerasLayer],
    batchnorms: &[&KerasLayer],
    dense: &[&KerasLayer],
) -> Result<()> {
    for ((unit, conv), batchnorm) in network
        .conv_bns_mut()
        .into_iter()
        .zip(convs)
        .zip(batchnorms)
    {
        keras_h5::set_conv(&mut unit.conv, conv, weights)?;
        if let Some(bn) = unit.bn.as_mut() {
            keras_h5::set_batchnorm_without_scale(bn, batchnorm, weights)?;
        }
    }
    if let Some(predictions) = dense.first() {
        keras_h5::set_dense(&mut network.fc, predictions, weights)?;
    }
    Ok(())
}

/// The number Keras appended to a layer's name (`conv2d_12` is 12), 0 for none.
fn creation_number(layer: &KerasLayer) -> u64 {
    layer
        .name
        .rsplit_once('_')
        .and_then(|(_, number)| number.parse().ok())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layer(name: &str) -> KerasLayer {
        KerasLayer {
            name: name.to_string(),
            weights: Vec::new(),
        }
    }

    #[test]
    fn orders_layers_by_the_number_keras_gave_them() {
        let mut layers: Vec<KerasLayer> = ["conv2d_10", "conv2d_2", "conv2d", "conv2d_1"]
            .map(layer)
            .into();
        layers.sort_by_key(creation_number);
        let names: Vec<&str> = layers.iter().map(|layer| layer.name.as_str()).collect();
        assert_eq!(names, ["conv2d", "conv2d_1", "conv2d_2", "conv2d_10"]);
    }
}
