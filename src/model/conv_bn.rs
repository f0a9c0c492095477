//! Convolution followed by batch normalization and an optional ReLU6: the unit every
//! EfficientNet-Lite layer is built from.

use burn::module::Param;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::{BatchNorm, BatchNormConfig, PaddingConfig2d};
use burn::prelude::*;

/// TensorFlow's BatchNorm epsilon, which the EfficientNet-Lite weights were trained with.
const BATCH_NORM_EPSILON: f64 = 1e-3;

#[derive(Module, Debug)]
pub struct ConvBn {
    pub conv: Conv2d,
    /// `None` once folded into `conv` by [`ConvBn::fold_batchnorm`].
    pub bn: Option<BatchNorm>,
    /// Whether a ReLU6 follows.
    #[module(skip)]
    pub relu6: bool,
}

/// The shape of a [`ConvBn`].
#[derive(Debug, Clone, Copy)]
pub struct ConvBnShape {
    pub channels: [usize; 2],
    pub kernel: usize,
    pub stride: usize,
    /// `channels[0]` for a depthwise convolution, 1 otherwise.
    pub groups: usize,
    pub relu6: bool,
}

impl ConvBn {
    /// A convolution with TensorFlow "SAME" padding (asymmetric on stride 2), no bias.
    pub fn new(shape: ConvBnShape, device: &Device) -> Self {
        let conv = Conv2dConfig::new(shape.channels, [shape.kernel, shape.kernel])
            .with_stride([shape.stride, shape.stride])
            .with_groups(shape.groups)
            .with_padding(PaddingConfig2d::Same)
            .with_bias(false)
            .init(device);
        let bn = BatchNormConfig::new(shape.channels[1])
            .with_epsilon(BATCH_NORM_EPSILON)
            .init(device);
        Self {
            conv,
            bn: Some(bn),
            relu6: shape.relu6,
        }
    }

    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let x = self.conv.forward(x);
        let x = match &self.bn {
            Some(bn) => bn.forward(x),
            None => x,
        };
        if self.relu6 { x.clamp(0.0, 6.0) } else { x }
    }

    /// Folds the BatchNorm's running statistics into the convolution's weight and bias, for
    /// inference: one op instead of two, with the same output.
    pub fn fold_batchnorm(self) -> Self {
        let Some(bn) = self.bn else { return self };
        let mut conv = self.conv;
        fold_into_conv(&mut conv, bn);
        Self {
            conv,
            bn: None,
            relu6: self.relu6,
        }
    }
}

/// Makes `conv` compute `bn(conv(x))` with the BatchNorm's running statistics.
pub fn fold_into_conv(conv: &mut Conv2d, bn: BatchNorm) {
    let scale = bn.gamma.val() / (bn.running_var.value() + bn.epsilon).sqrt();
    let [out_channels, ..] = conv.weight.dims();
    let weight = conv.weight.val() * scale.clone().reshape([out_channels as i32, 1, 1, 1]);
    let shift = bn.beta.val() - bn.running_mean.value() * scale.clone();
    let bias = match conv.bias.take() {
        Some(bias) => bias.val() * scale + shift,
        None => shift,
    };
    conv.weight = Param::from_tensor(weight);
    conv.bias = Some(Param::from_tensor(bias));
}

#[cfg(test)]
mod tests {
    use burn::module::RunningState;
    use burn::tensor::Distribution;

    use super::*;

    #[test]
    fn folding_batchnorm_keeps_the_output() {
        let device = crate::device::cpu();
        let shape = ConvBnShape {
            channels: [6, 6],
            kernel: 3,
            stride: 2,
            groups: 6,
            relu6: true,
        };
        let mut layer = ConvBn::new(shape, &device);
        let random = |low: f64, high: f64| {
            Tensor::<1>::random([6], Distribution::Uniform(low, high), &device)
        };
        let bn = layer.bn.as_mut().unwrap();
        bn.gamma = Param::from_tensor(random(0.5, 2.0));
        bn.beta = Param::from_tensor(random(-1.0, 1.0));
        bn.running_mean = RunningState::new(random(-1.0, 1.0));
        bn.running_var = RunningState::new(random(0.1, 3.0));
        let input = Tensor::<4>::random([2, 6, 9, 10], Distribution::Normal(0.0, 2.0), &device);

        let expected = layer.forward(input.clone());
        let folded = layer.fold_batchnorm();
        assert!(folded.bn.is_none());
        let difference = (folded.forward(input) - expected)
            .abs()
            .max()
            .into_scalar::<f32>();
        assert!(difference < 1e-5, "max abs difference {difference}");
    }
}
