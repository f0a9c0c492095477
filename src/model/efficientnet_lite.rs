//! EfficientNet-Lite0 .. Lite4 as published in the `efficientnet-lite-pytorch` package: MBConv
//! blocks without squeeze-and-excitation, ReLU6, TensorFlow "SAME" padding, BatchNorm eps
//! 1e-3, input `(x - 127) / 128`. The variants' shapes are in
//! [`runner_core::arch::efficientnet_lite`].

use burn::nn::{Linear, LinearConfig};
use burn::prelude::*;

use super::conv_bn::{Activation, ConvBn, ConvBnShape, Framework};
use super::layers::{BackboneLayer, global_average_pool};
use super::mbconv::MbConv;
use crate::arch::efficientnet_lite::{HEAD_CHANNELS, LiteScaling, STEM_CHANNELS, blocks};

pub const IMAGENET_CLASSES: usize = 1000;

/// The whole network with its ImageNet classifier, laid out so that the package's state
/// dict maps onto it by [`TORCH_KEY_REMAPPING`].
#[derive(Module, Debug)]
pub struct EfficientNetLite {
    pub stem: ConvBn,
    pub blocks: Vec<MbConv>,
    pub head: ConvBn,
    pub fc: Linear,
}

/// Regexes from the package's state-dict keys to this module's paths, applied in order.
pub const TORCH_KEY_REMAPPING: [(&str, &str); 11] = [
    (r"^_conv_stem\.", "stem.conv."),
    (r"^_bn0\.", "stem.bn."),
    (r"^_conv_head\.", "head.conv."),
    (r"^_bn1\.", "head.bn."),
    (r"^_fc\.", "fc."),
    (r"^_blocks\.(\d+)\._expand_conv\.", "blocks.$1.expand.conv."),
    (r"^_blocks\.(\d+)\._bn0\.", "blocks.$1.expand.bn."),
    (
        r"^_blocks\.(\d+)\._depthwise_conv\.",
        "blocks.$1.depthwise.conv.",
    ),
    (r"^_blocks\.(\d+)\._bn1\.", "blocks.$1.depthwise.bn."),
    (
        r"^_blocks\.(\d+)\._project_conv\.",
        "blocks.$1.project.conv.",
    ),
    (r"^_blocks\.(\d+)\._bn2\.", "blocks.$1.project.bn."),
];

impl EfficientNetLite {
    /// The variant `scaling` describes, with freshly initialized weights.
    pub fn new(scaling: LiteScaling, device: &Device) -> Self {
        let stem = ConvBn::new(
            ConvBnShape {
                channels: [3, STEM_CHANNELS],
                kernel: 3,
                stride: 2,
                groups: 1,
                activation: Activation::Relu6,
                framework: Framework::TensorFlow,
            },
            device,
        );
        let shapes = blocks(scaling);
        let input = shapes
            .last()
            .map_or(STEM_CHANNELS, |block| block.channels[1]);
        let blocks = shapes
            .into_iter()
            .map(|block| {
                MbConv::new(
                    block.channels,
                    block.expansion,
                    block.kernel,
                    block.stride,
                    Framework::TensorFlow,
                    device,
                )
            })
            .collect();
        let head = ConvBn::new(
            ConvBnShape::pointwise(
                [input, HEAD_CHANNELS],
                Activation::Relu6,
                Framework::TensorFlow,
            ),
            device,
        );
        let fc = LinearConfig::new(HEAD_CHANNELS, IMAGENET_CLASSES).init(device);
        Self {
            stem,
            blocks,
            head,
            fc,
        }
    }

    /// The stem, the blocks and the head convolution in order, dropping the classifier.
    pub fn into_layers(self) -> Vec<BackboneLayer> {
        std::iter::once(BackboneLayer::ConvBn(self.stem))
            .chain(self.blocks.into_iter().map(BackboneLayer::MbConv))
            .chain(std::iter::once(BackboneLayer::ConvBn(self.head)))
            .collect()
    }

    /// ImageNet logits, for checking that pretrained weights loaded correctly.
    pub fn forward_classifier(&self, images: Tensor<4>) -> Tensor<2> {
        let mut x = self.stem.forward(images);
        for block in &self.blocks {
            x = block.forward(x);
        }
        self.fc.forward(global_average_pool(self.head.forward(x)))
    }
}
