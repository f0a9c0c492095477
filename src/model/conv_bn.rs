//! Convolution followed by batch normalization and an optional ReLU or ReLU6: the unit
//! EfficientNet-Lite, MobileNetV2 and the ResNets are built from, padded and normalized as
//! the framework their weights were trained in does it.

use burn::module::Param;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::{BatchNorm, BatchNormConfig, PaddingConfig2d};
use burn::prelude::*;
use burn::tensor::activation::relu;

use super::layout::convolve;
use super::{fused_conv, grad};

/// The framework whose padding and BatchNorm epsilon a network's weights were trained with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framework {
    /// "SAME" padding (asymmetric on stride 2), epsilon 1e-3: EfficientNet-Lite.
    TensorFlow,
    /// Half the kernel on each side, epsilon 1e-5: torchvision's networks.
    Torchvision,
}

impl Framework {
    fn padding(self, kernel: usize) -> PaddingConfig2d {
        match self {
            Framework::TensorFlow => PaddingConfig2d::Same,
            Framework::Torchvision => {
                let side = (kernel - 1) / 2;
                PaddingConfig2d::Explicit(side, side, side, side)
            }
        }
    }

    fn batch_norm_epsilon(self) -> f64 {
        match self {
            Framework::TensorFlow => 1e-3,
            Framework::Torchvision => 1e-5,
        }
    }
}

/// What follows the BatchNorm.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Activation {
    /// Nothing: a projection, or a residual branch that is activated after the addition.
    Linear,
    Relu,
    Relu6,
}

impl Activation {
    pub fn apply(self, x: Tensor<4>) -> Tensor<4> {
        match self {
            Activation::Linear => x,
            Activation::Relu => relu(x),
            Activation::Relu6 => x.clamp(0.0, 6.0),
        }
    }
}

#[derive(Module, Debug)]
pub struct ConvBn {
    pub conv: Conv2d,
    /// `None` once folded into `conv` by [`ConvBn::fold_batchnorm`].
    pub bn: Option<BatchNorm>,
    #[module(skip)]
    pub activation: Activation,
}

/// The shape of a [`ConvBn`].
#[derive(Debug, Clone, Copy)]
pub struct ConvBnShape {
    pub channels: [usize; 2],
    pub kernel: usize,
    pub stride: usize,
    /// `channels[0]` for a depthwise convolution, 1 otherwise.
    pub groups: usize,
    pub activation: Activation,
    pub framework: Framework,
}

impl ConvBnShape {
    /// A 1x1 convolution from `channels[0]` to `channels[1]` channels.
    pub fn pointwise(channels: [usize; 2], activation: Activation, framework: Framework) -> Self {
        Self {
            channels,
            kernel: 1,
            stride: 1,
            groups: 1,
            activation,
            framework,
        }
    }
}

impl ConvBn {
    /// A convolution without bias, padded as `shape.framework` pads.
    pub fn new(shape: ConvBnShape, device: &Device) -> Self {
        let conv = Conv2dConfig::new(shape.channels, [shape.kernel, shape.kernel])
            .with_stride([shape.stride, shape.stride])
            .with_groups(shape.groups)
            .with_padding(shape.framework.padding(shape.kernel))
            .with_bias(false)
            .init(device);
        let bn = BatchNormConfig::new(shape.channels[1])
            .with_epsilon(shape.framework.batch_norm_epsilon())
            .init(device);
        Self {
            conv,
            bn: Some(bn),
            activation: shape.activation,
        }
    }

    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        conv_bn_forward(&self.conv, self.bn.as_ref(), x, None, self.activation)
    }

    /// `then(self(x) + residual)`, for a layer with no activation of its own: the end of a
    /// residual block.
    pub fn forward_adding(&self, x: Tensor<4>, residual: Tensor<4>, then: Activation) -> Tensor<4> {
        debug_assert_eq!(self.activation, Activation::Linear);
        conv_bn_forward(&self.conv, self.bn.as_ref(), x, Some(residual), then)
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
            activation: self.activation,
        }
    }
}

/// `activation(bn(conv(x)) + residual)` (no addition without `residual`): for a folded layer
/// (`bn` is `None`) one oneDNN primitive where [`fused_conv`] applies, op by op otherwise.
/// Every backbone's convolution unit runs through here.
pub fn conv_bn_forward(
    conv: &Conv2d,
    bn: Option<&BatchNorm>,
    x: Tensor<4>,
    residual: Option<Tensor<4>>,
    activation: Activation,
) -> Tensor<4> {
    if bn.is_none()
        && let Some(output) = fused_conv::forward(conv, &x, residual.as_ref(), activation)
    {
        return output;
    }
    let x = convolve(conv, x);
    let x = match bn {
        Some(bn) => grad::batch_norm::forward(bn, x),
        None => x,
    };
    let x = match residual {
        Some(residual) => x + residual,
        None => x,
    };
    activation.apply(x)
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
    use burn::tensor::Distribution;

    use super::*;
    use crate::model::test_support::{max_abs_difference, randomize_batchnorm};

    #[test]
    fn folding_batchnorm_keeps_the_output() {
        let device = crate::device::cpu();
        for (activation, framework) in [
            (Activation::Relu6, Framework::TensorFlow),
            (Activation::Relu, Framework::Torchvision),
        ] {
            let shape = ConvBnShape {
                channels: [6, 6],
                kernel: 3,
                stride: 2,
                groups: 6,
                activation,
                framework,
            };
            let mut layer = ConvBn::new(shape, &device);
            randomize_batchnorm(layer.bn.as_mut().unwrap());
            let input = Tensor::<4>::random([2, 6, 9, 10], Distribution::Normal(0.0, 2.0), &device);

            let expected = layer.forward(input.clone());
            let folded = layer.fold_batchnorm();
            assert!(folded.bn.is_none());
            let difference = max_abs_difference(folded.forward(input), expected);
            assert!(
                difference < 1e-5,
                "{framework:?}: max abs difference {difference}"
            );
        }
    }

    #[test]
    fn pads_as_each_framework_does() {
        let device = crate::device::cpu();
        let output_side = |framework| {
            let shape = ConvBnShape {
                channels: [1, 1],
                kernel: 3,
                stride: 2,
                groups: 1,
                activation: Activation::Linear,
                framework,
            };
            let input = Tensor::<4>::ones([1, 1, 6, 6], &device);
            let mut layer = ConvBn::new(shape, &device);
            layer.conv.weight = Param::from_tensor(Tensor::ones([1, 1, 3, 3], &device));
            // Without the BatchNorm, the output counts the real pixels under the kernel.
            layer.bn = None;
            layer
                .forward(input)
                .into_data()
                .try_to_vec::<f32>()
                .unwrap()
        };
        // TensorFlow pads a 6-pixel side by 0 before and 1 after, torchvision by 1 and 1.
        assert_eq!(output_side(Framework::TensorFlow)[..3], [9.0, 9.0, 6.0]);
        assert_eq!(output_side(Framework::Torchvision)[..3], [4.0, 6.0, 6.0]);
    }
}
