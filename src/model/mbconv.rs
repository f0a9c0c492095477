//! The inverted-residual block of EfficientNet-Lite and MobileNetV2 (torchvision's
//! `InvertedResidual`): 1x1 expansion, depthwise convolution and 1x1 projection, each with
//! BatchNorm, ReLU6 after the first two.

use burn::prelude::*;

use super::conv_bn::{Activation, ConvBn, ConvBnShape, Framework};

/// An inverted-residual block, which adds its input to its output when the shape is
/// unchanged.
#[derive(Module, Debug)]
pub struct MbConv {
    pub expand: Option<ConvBn>,
    pub depthwise: ConvBn,
    pub project: ConvBn,
    #[module(skip)]
    pub residual: bool,
}

impl MbConv {
    pub fn new(
        [input, output]: [usize; 2],
        expansion: usize,
        kernel: usize,
        stride: usize,
        framework: Framework,
        device: &Device,
    ) -> Self {
        let hidden = input * expansion;
        let expand = (expansion != 1).then(|| {
            ConvBn::new(
                ConvBnShape::pointwise([input, hidden], Activation::Relu6, framework),
                device,
            )
        });
        let depthwise = ConvBn::new(
            ConvBnShape {
                channels: [hidden, hidden],
                kernel,
                stride,
                groups: hidden,
                activation: Activation::Relu6,
                framework,
            },
            device,
        );
        let project = ConvBn::new(
            ConvBnShape::pointwise([hidden, output], Activation::Linear, framework),
            device,
        );
        Self {
            expand,
            depthwise,
            project,
            residual: stride == 1 && input == output,
        }
    }

    pub fn forward(&self, input: Tensor<4>) -> Tensor<4> {
        let x = match &self.expand {
            Some(expand) => expand.forward(input.clone()),
            None => input.clone(),
        };
        let x = self.depthwise.forward(x);
        if self.residual {
            self.project.forward_adding(x, input, Activation::Linear)
        } else {
            self.project.forward(x)
        }
    }

    pub fn fold_batchnorm(self) -> Self {
        Self {
            expand: self.expand.map(ConvBn::fold_batchnorm),
            depthwise: self.depthwise.fold_batchnorm(),
            project: self.project.fold_batchnorm(),
            residual: self.residual,
        }
    }
}
