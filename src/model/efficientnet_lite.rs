//! EfficientNet-Lite0 as published in the `efficientnet-lite-pytorch` package: MBConv blocks
//! without squeeze-and-excitation, ReLU6, TensorFlow "SAME" padding, BatchNorm eps 1e-3,
//! input `(x - 127) / 128`.

use burn::nn::{Linear, LinearConfig};
use burn::prelude::*;

use super::conv_bn::{Activation, ConvBn, ConvBnShape, Framework};
use super::layers::BackboneLayer;
use super::mbconv::MbConv;
use crate::data::Preprocess;

/// `(expansion, kernel, stride, output channels, repeats)` per stage, as in the reference.
const LITE0_STAGES: [(usize, usize, usize, usize, usize); 7] = [
    (1, 3, 1, 16, 1),
    (6, 3, 2, 24, 2),
    (6, 5, 2, 40, 2),
    (6, 3, 2, 80, 3),
    (6, 5, 1, 112, 3),
    (6, 5, 2, 192, 4),
    (6, 3, 1, 320, 1),
];
const STEM_CHANNELS: usize = 32;
const HEAD_CHANNELS: usize = 1280;
pub const IMAGENET_CLASSES: usize = 1000;

pub const PREPROCESS: Preprocess = Preprocess {
    scale: [1.0 / 128.0; 3],
    offset: [-127.0 / 128.0; 3],
};

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
    /// Lite0 with freshly initialized weights.
    pub fn lite0(device: &Device) -> Self {
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
        let mut blocks = Vec::new();
        let mut input = STEM_CHANNELS;
        for (expansion, kernel, stride, output, repeats) in LITE0_STAGES {
            for repeat in 0..repeats {
                let stride = if repeat == 0 { stride } else { 1 };
                blocks.push(MbConv::new(
                    [input, output],
                    expansion,
                    kernel,
                    stride,
                    Framework::TensorFlow,
                    device,
                ));
                input = output;
            }
        }
        let head = ConvBn::new(
            ConvBnShape {
                channels: [input, HEAD_CHANNELS],
                kernel: 1,
                stride: 1,
                groups: 1,
                activation: Activation::Relu6,
                framework: Framework::TensorFlow,
            },
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

    /// The feature layers in order with their names (`stem`, `block0` .. `block15`,
    /// `head_conv`), dropping the classifier.
    pub fn into_named_layers(self) -> Vec<(String, BackboneLayer)> {
        let mut layers = vec![("stem".to_string(), BackboneLayer::ConvBn(self.stem))];
        for (index, block) in self.blocks.into_iter().enumerate() {
            layers.push((format!("block{index}"), BackboneLayer::MbConv(block)));
        }
        layers.push(("head_conv".to_string(), BackboneLayer::ConvBn(self.head)));
        layers
    }

    /// ImageNet logits, for checking that pretrained weights loaded correctly.
    pub fn forward_classifier(&self, images: Tensor<4>) -> Tensor<2> {
        let mut x = self.stem.forward(images);
        for block in &self.blocks {
            x = block.forward(x);
        }
        let features = self.head.forward(x).mean_dim(3).mean_dim(2).flatten(1, 3);
        self.fc.forward(features)
    }
}
