//! Keras `.h5` weight files, the format of `keras.applications`' downloads and of Keras'
//! legacy `save_weights`: the root's `layer_names` attribute lists every layer in model
//! order, and each layer's group has a `weight_names` attribute naming its datasets
//! (`conv2d/kernel:0`, ...). Keras loads them by order, not by name ([`KerasWeights::open`] gives
//! them in that order), since layer names depend on what else the session built. Only the
//! datasets' shapes are read when the file is opened; a tensor's values are read once its
//! shape is the one the network needs, so a file declaring a huge dataset allocates nothing.
//!
//! HDF5 is read by `hdf5-reader`, a pure-Rust reader, rather than by bindings to the C
//! library (`hdf5-metno`): the bindings need Debian's libhdf5-dev to build and libhdf5 on
//! every machine that runs the binary (a GPU machine included), for the few hundred
//! uncompressed float datasets a Keras file holds. The reader bounds-checks malformed files
//! instead of trusting them, and a panic from it is still reported as a bad file.

use std::path::{Path, PathBuf};

use anyhow::Result;
use burn::module::{Param, RunningState};
use burn::nn::conv::Conv2d;
use burn::nn::{BatchNorm, Linear};
use burn::prelude::*;
use hdf5_reader::Hdf5File;

use super::weights::WeightsUse;
use crate::bail_input;

/// One stored tensor: its name and the shape its dataset declares. Its values are read
/// only once that shape is the one the network needs.
#[derive(Debug, Clone, PartialEq)]
pub struct KerasTensor {
    /// The dataset's path in its layer's group, as `weight_names` gives it.
    pub name: String,
    pub shape: Vec<usize>,
}

/// A layer that has weights, with its tensors in Keras' order (a BatchNormalization's
/// `gamma`, `beta`, `moving_mean`, `moving_variance`, less `gamma` when it has no scale).
#[derive(Debug, Clone, PartialEq)]
pub struct KerasLayer {
    pub name: String,
    pub weights: Vec<KerasTensor>,
}

/// An open Keras weights file: its layers that have weights, in the file's order.
pub struct KerasWeights {
    file: PathBuf,
    h5: Hdf5File,
    pub layers: Vec<KerasLayer>,
    usage: WeightsUse,
}

impl KerasWeights {
    /// Opens `file` and reads its layers' names and shapes, no values.
    pub fn open(file: &Path, usage: WeightsUse) -> Result<Self> {
        let (h5, layers) = guarded(file, || read_structure(file))?;
        Ok(Self {
            file: file.to_path_buf(),
            h5,
            layers,
            usage,
        })
    }

    pub fn file(&self) -> &Path {
        &self.file
    }

    /// From now on, tensors whose shape fits are read (opened to check shapes first).
    pub fn read_values(&mut self) {
        self.usage = WeightsUse::Load;
    }

    /// `tensor` of `layer` on `device`, if its shape is `shape`; `None` when only the
    /// shapes are checked.
    fn tensor<const D: usize>(
        &self,
        layer: &str,
        tensor: &KerasTensor,
        shape: [usize; D],
        device: &Device,
    ) -> Result<Option<Tensor<D>>> {
        if tensor.shape != shape {
            bail_input!(
                "`{}` does not fit the network: layer `{layer}`'s `{}` has shape {:?}, the network needs {:?}",
                self.file.display(),
                tensor.name,
                tensor.shape,
                shape
            );
        }
        if self.usage == WeightsUse::CheckShapes {
            return Ok(None);
        }
        let path = format!("/{layer}/{}", tensor.name);
        let values = guarded(&self.file, || {
            let dataset = self.h5.dataset(&path).map_err(|err| err.to_string())?;
            let mut values = vec![0f32; shape.iter().product()];
            dataset
                .read_into(&mut values)
                .map_err(|err| format!("cannot read `{path}` as 32-bit floats: {err}"))?;
            Ok(values)
        })?;
        Ok(Some(Tensor::from_data(
            TensorData::new(values, shape),
            device,
        )))
    }
}

/// `read`'s result; its error, or a panic of the reader on a truncated or hostile file
/// (still bad input), as an input error naming `file`.
fn guarded<T>(file: &Path, read: impl FnOnce() -> Result<T, String>) -> Result<T> {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(read)) {
        Ok(Ok(value)) => Ok(value),
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

fn read_structure(file: &Path) -> Result<(Hdf5File, Vec<KerasLayer>), String> {
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
            .map(|weight| declared_tensor(&h5, &name, weight))
            .collect::<Result<_, _>>()?;
        layers.push(KerasLayer { name, weights });
    }
    Ok((h5, layers))
}

fn declared_tensor(h5: &Hdf5File, layer: &str, name: String) -> Result<KerasTensor, String> {
    let path = format!("/{layer}/{name}");
    let dataset = h5.dataset(&path).map_err(|_| {
        format!("layer `{layer}` lists the weight `{name}`, but the file has no dataset `{path}`")
    })?;
    let shape = dataset.shape().iter().map(|&side| side as usize).collect();
    Ok(KerasTensor { name, shape })
}

/// Sets a convolution without bias from a Conv2D layer: Keras' kernel is
/// `[height, width, in, out]`, Burn's `[out, in, height, width]`.
pub fn set_conv(conv: &mut Conv2d, layer: &KerasLayer, weights: &KerasWeights) -> Result<()> {
    let [kernel] = weights_of(layer, weights.file(), "a Conv2D without bias: its kernel")?;
    let [out, input, height, width] = conv.weight.dims();
    let device = conv.weight.device();
    if let Some(kernel) =
        weights.tensor(&layer.name, kernel, [height, width, input, out], &device)?
    {
        conv.weight = Param::from_tensor(kernel.permute([3, 2, 0, 1]));
    }
    Ok(())
}

/// Sets a BatchNorm from a BatchNormalization layer with `scale=False`: no `gamma`, so the
/// scale is 1.
pub fn set_batchnorm_without_scale(
    bn: &mut BatchNorm,
    layer: &KerasLayer,
    weights: &KerasWeights,
) -> Result<()> {
    let [beta, mean, variance] = weights_of(
        layer,
        weights.file(),
        "a BatchNormalization without scale: beta, moving_mean, moving_variance",
    )?;
    let device = bn.beta.device();
    let channels = bn.beta.dims();
    let name = &layer.name;
    let beta = weights.tensor(name, beta, channels, &device)?;
    let mean = weights.tensor(name, mean, channels, &device)?;
    let variance = weights.tensor(name, variance, channels, &device)?;
    if let (Some(beta), Some(mean), Some(variance)) = (beta, mean, variance) {
        bn.gamma = Param::from_tensor(Tensor::ones(channels, &device));
        bn.beta = Param::from_tensor(beta);
        bn.running_mean = RunningState::new(mean);
        bn.running_var = RunningState::new(variance);
    }
    Ok(())
}

/// Sets a linear layer from a Dense layer: both store the kernel as `[in, out]`.
pub fn set_dense(linear: &mut Linear, layer: &KerasLayer, weights: &KerasWeights) -> Result<()> {
    let [kernel, bias] = weights_of(layer, weights.file(), "a Dense layer: kernel and bias")?;
    let [input, output] = linear.weight.dims();
    let device = linear.weight.device();
    let kernel = weights.tensor(&layer.name, kernel, [input, output], &device)?;
    let bias = weights.tensor(&layer.name, bias, [output], &device)?;
    if let (Some(kernel), Some(bias)) = (kernel, bias) {
        linear.weight = Param::from_tensor(kernel);
        linear.bias = Some(Param::from_tensor(bias));
    }
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
