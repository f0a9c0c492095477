//! What the model modules' unit tests share.

use burn::module::{Param, RunningState};
use burn::nn::BatchNorm;
use burn::prelude::*;
use burn::tensor::Distribution;

use super::layers::BackboneLayer;
use crate::spec::{Activation, HeadLayerSpec};

/// Each layer's output shape, `[channels, height, width]`, for one `side` x `side` image.
pub fn layer_shapes(layers: &[BackboneLayer], side: usize) -> Vec<[usize; 3]> {
    let mut x = Tensor::<4>::zeros([1, 3, side, side], &crate::device::cpu());
    layers
        .iter()
        .map(|layer| {
            x = layer.forward(x.clone());
            let [_, channels, height, width] = x.dims();
            [channels, height, width]
        })
        .collect()
}

/// A small head: global average pooling, Dense(4, relu), Dense(1, sigmoid).
pub fn pooling_head() -> Vec<HeadLayerSpec> {
    vec![
        HeadLayerSpec::GlobalAvgPool,
        HeadLayerSpec::Dense {
            units: 4,
            activation: Activation::Relu,
        },
        HeadLayerSpec::Dense {
            units: 1,
            activation: Activation::Sigmoid,
        },
    ]
}

/// Random scale, shift and running statistics, so that folding `bn` has something to fold.
pub fn randomize_batchnorm(bn: &mut BatchNorm) {
    let channels = bn.beta.dims()[0];
    let device = crate::device::cpu();
    let random = |low: f64, high: f64| {
        Tensor::<1>::random([channels], Distribution::Uniform(low, high), &device)
    };
    bn.gamma = Param::from_tensor(random(0.5, 2.0));
    bn.beta = Param::from_tensor(random(-1.0, 1.0));
    bn.running_mean = RunningState::new(random(-1.0, 1.0));
    bn.running_var = RunningState::new(random(0.1, 3.0));
}

/// A loss that weights every output differently (by the sine of its value), so that each
/// gradient is distinct.
pub fn weighted_sum<const D: usize>(output: Tensor<D>) -> Tensor<1> {
    let weights = output.clone().detach().sin();
    (output * weights).sum()
}

/// The largest absolute difference between two tensors' values.
pub fn max_abs_difference<const D: usize>(a: Tensor<D>, b: Tensor<D>) -> f32 {
    (a - b).abs().max().into_scalar::<f32>()
}
