//! Keras `.h5` weight files, the format of `keras.applications`' downloads and of Keras'
//! legacy `save_weights`: the root's `layer_names` attribute lists every layer in model
//! order, and each layer's group has a `weight_names` attribute naming its datasets
//! (`conv2d/kernel:0`, ...). Keras loads them by order, not by name ([`read_layers`] gives
//! them in that order), since layer names depend on what else the session built.
//!
//! HDF5 is read by `hdf5-reader`, a pure-Rust reader, rather than by bindings to the C
//! library (`hdf5-metno`): the bindings need Debian's libhdf5-dev to build and libhdf5 on
//! every machine that runs the binary (a GPU machine included), for the few hundred
//! uncompressed float datasets a Keras file holds. The reader bounds-checks malformed files
//! instead of trusting them, and a panic from it is still reported as a bad file.

use std::path::Path;

use anyhow::Result;
use burn::module::{Param, RunningState};
use burn::nn::conv::Conv2d;
use burn::nn::{BatchNorm, Linear};
use burn::prelude::*;
use hdf5_reader::Hdf5File;

use crate::bail_input;

/// One stored tensor.
#[derive(Debug, Clone, PartialEq)]
pub struct KerasTensor {
    /// The dataset's path in its layer's group, as `weight_names` gives it.
    pub name: String,
    pub shape: Vec<usize>,
    pub values: Vec<f32>,
}

/// A layer that has weights, with its tensors in Keras' order (a BatchNormalization's
/// `gamma`, `beta`, `moving_mean`, `moving_variance`, less `gamma` when it has no scale).
#[derive(Debug, Clone, PartialEq)]
pub struct KerasLayer {
    pub name: String,
    pub weights: Vec<KerasTensor>,
}

/// The layers of a Keras weights file that have weights, in the file's order.
pub fn read_layers(file: &Path) -> Result<Vec<KerasLayer>> {
    // A reader that meets a truncated or hostile file may panic; that is still bad input.
    let read = std::panic::catch_unwind(|| read_file(file));
    match read {
        Ok(Ok(layers)) => Ok(layers),
        Ok(Err(message)) => bail_input!(
            "cannot read `{}` as Keras weights: {message}",
            file.display()
        ),
        Err(_) => bail_input!(
            "cannot read `{}` as Keras weights: the file is corrupt or truncated",
            file.display()
        ),
    }
}

fn read_file(file: &Path) -> Result<Vec<KerasLayer>, String> {
    let h5 = Hdf5File::open(file).map_err(|err| format!("not an HDF5 file ({err})"))?;
    let root = h5.root_group().map_err(|err| err.to_string())?;
    let layer_names = root
        .attribute("layer_names")
        .and_then(|attribute| attribute.read_strings())
        .map_err(|_| {
            "it has no `layer_names` attribute at its root, so it is not a Keras weights file \
             (`keras.applications` downloads and legacy `model.save_weights(\"x.h5\")` files are)"
                .to_string()
        })?;
    let mut layers = Vec::new();
    for name in layer_names {
        let group = h5.group(&name).map_err(|_| {
            format!("`layer_names` lists `{name}`, but the file has no group `/{name}`")
        })?;
        // A layer without weights may have no `weight_names` attribute at all.
        let weight_names = group
            .attribute("weight_names")
            .and_then(|attribute| attribute.read_strings())
            .unwrap_or_default();
        if weight_names.is_empty() {
            continue;
        }
        let weights = weight_names
            .into_iter()
            .map(|weight| read_tensor(&h5, &name, weight))
            .collect::<Result<_, _>>()?;
        layers.push(KerasLayer { name, weights });
    }
    Ok(layers)
}

fn read_tensor(h5: &Hdf5File, layer: &str, name: String) -> Result<KerasTensor, String> {
    let path = format!("/{layer}/{name}");
    let dataset = h5.dataset(&path).map_err(|_| {
        format!("layer `{layer}` lists the weight `{name}`, but the file has no dataset `{path}`")
    })?;
    let shape: Vec<usize> = dataset.shape().iter().map(|&side| side as usize).collect();
    let mut values = vec![0f32; shape.iter().product()];
    dataset
        .read_into(&mut values)
        .map_err(|err| format!("cannot read `{path}` as 32-bit floats: {err}"))?;
    Ok(KerasTensor {
        name,
        shape,
        values,
    })
}

/// Where a tensor came from, for messages.
struct Source<'a> {
    file: &'a Path,
    layer: &'a str,
}

impl Source<'_> {
    /// `tensor` on `device`, if its shape is `shape`.
    fn tensor<const D: usize>(
        &self,
        tensor: &KerasTensor,
        shape: [usize; D],
        device: &Device,
    ) -> Result<Tensor<D>> {
        if tensor.shape != shape {
            bail_input!(
                "`{}` does not fit the network: layer `{}`'s `{}` has shape {:?}, the network needs {:?}",
                self.file.display(),
                self.layer,
                tensor.name,
                tensor.shape,
                shape
            );
        }
        let data = TensorData::new(tensor.values.clone(), shape);
        Ok(Tensor::from_data(data, device))
    }
}

/// Sets a convolution without bias from a Conv2D layer: Keras' kernel is
/// `[height, width, in, out]`, Burn's `[out, in, height, width]`.
pub fn set_conv(conv: &mut Conv2d, layer: &KerasLayer, file: &Path) -> Result<()> {
    let source = Source {
        file,
        layer: &layer.name,
    };
    let [kernel] = weights_of(layer, file, "a Conv2D without bias: its kernel")?;
    let [out, input, height, width] = conv.weight.dims();
    let device = conv.weight.device();
    let kernel = source.tensor(kernel, [height, width, input, out], &device)?;
    conv.weight = Param::from_tensor(kernel.permute([3, 2, 0, 1]));
    Ok(())
}

/// Sets a BatchNorm from a BatchNormalization layer with `scale=False`: no `gamma`, so the
/// scale is 1.
pub fn set_batchnorm_without_scale(
    bn: &mut BatchNorm,
    layer: &KerasLayer,
    file: &Path,
) -> Result<()> {
    let source = Source {
        file,
        layer: &layer.name,
    };
    let [beta, mean, variance] = weights_of(
        layer,
        file,
        "a BatchNormalization without scale: beta, moving_mean, moving_variance",
    )?;
    let device = bn.beta.device();
    let channels = bn.beta.dims();
    bn.gamma = Param::from_tensor(Tensor::ones(channels, &device));
    bn.beta = Param::from_tensor(source.tensor(beta, channels, &device)?);
    bn.running_mean = RunningState::new(source.tensor(mean, channels, &device)?);
    bn.running_var = RunningState::new(source.tensor(variance, channels, &device)?);
    Ok(())
}

/// Sets a linear layer from a Dense layer: both store the kernel as `[in, out]`.
pub fn set_dense(linear: &mut Linear, layer: &KerasLayer, file: &Path) -> Result<()> {
    let source = Source {
        file,
        layer: &layer.name,
    };
    let [kernel, bias] = weights_of(layer, file, "a Dense layer: kernel and bias")?;
    let [input, output] = linear.weight.dims();
    let device = linear.weight.device();
    linear.weight = Param::from_tensor(source.tensor(kernel, [input, output], &device)?);
    linear.bias = Some(Param::from_tensor(source.tensor(
        bias,
        [output],
        &device,
    )?));
    Ok(())
}

/// The layer's tensors, if it has `N`.
fn weights_of<'a, const N: usize>(
    layer: &'a KerasLayer,
    file: &Path,
    what: &str,
) -> Result<[&'a KerasTensor; N]> {
    match <[&KerasTensor; N]>::try_from(layer.weights.iter().collect::<Vec<_>>()) {
        Ok(weights) => Ok(weights),
        Err(_) => bail_input!(
            "`{}` does not fit the network: layer `{}` has {} weight(s) ({}), where the network needs {what}",
            file.display(),
            layer.name,
            layer.weights.len(),
            layer
                .weights
                .iter()
                .map(|weight| weight.name.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}
