//! torchvision's MobileNetV2 (width 1.0): `features.0` is a 3x3 stride-2 convolution,
//! `features.1` .. `features.17` are inverted residuals, `features.18` is a 1x1 convolution
//! to 1280 channels; ReLU6, BatchNorm epsilon 1e-5, padding half the kernel on each side;
//! input normalized with ImageNet's mean and std.
//!
//! `features` holds the layers under torchvision's indices, so its state dict loads by
//! [`TORCH_KEY_REMAPPING`] (burn-store matches paths without the enum variant's name).

use burn::nn::{Linear, LinearConfig};
use burn::prelude::*;

use super::conv_bn::{Activation, ConvBn, ConvBnShape, Framework};
use super::layers::{BackboneLayer, imagenet_logits};
use super::mbconv::MbConv;
use crate::arch::torchvision::MOBILENET_V2_STAGES;

pub const IMAGENET_CLASSES: usize = 1000;
const STEM_CHANNELS: usize = 32;
const LAST_CHANNELS: usize = 1280;

/// Regexes from torchvision's state-dict keys to this module's paths, applied in order.
/// `features.1` has no expansion, so its first convolution is the depthwise one; its rules
/// come first and give paths the general rules do not match.
pub const TORCH_KEY_REMAPPING: [(&str, &str); 13] = [
    (r"^features\.(0|18)\.0\.", "features.$1.conv."),
    (r"^features\.(0|18)\.1\.", "features.$1.bn."),
    (r"^features\.1\.conv\.0\.0\.", "features.1.depthwise.conv."),
    (r"^features\.1\.conv\.0\.1\.", "features.1.depthwise.bn."),
    (r"^features\.1\.conv\.1\.", "features.1.project.conv."),
    (r"^features\.1\.conv\.2\.", "features.1.project.bn."),
    (
        r"^features\.(\d+)\.conv\.0\.0\.",
        "features.$1.expand.conv.",
    ),
    (r"^features\.(\d+)\.conv\.0\.1\.", "features.$1.expand.bn."),
    (
        r"^features\.(\d+)\.conv\.1\.0\.",
        "features.$1.depthwise.conv.",
    ),
    (
        r"^features\.(\d+)\.conv\.1\.1\.",
        "features.$1.depthwise.bn.",
    ),
    (r"^features\.(\d+)\.conv\.2\.", "features.$1.project.conv."),
    (r"^features\.(\d+)\.conv\.3\.", "features.$1.project.bn."),
    // The classifier is Dropout (index 0) then Linear.
    (r"^classifier\.1\.", "classifier."),
];

fn conv_bn(channels: [usize; 2], kernel: usize, stride: usize, device: &Device) -> ConvBn {
    ConvBn::new(
        ConvBnShape {
            channels,
            kernel,
            stride,
            groups: 1,
            activation: Activation::Relu6,
            framework: Framework::Torchvision,
        },
        device,
    )
}

/// The whole network with its ImageNet classifier.
#[derive(Module, Debug)]
pub struct MobileNetV2 {
    pub features: Vec<BackboneLayer>,
    pub classifier: Linear,
}

impl MobileNetV2 {
    /// MobileNetV2 with freshly initialized weights.
    pub fn new(device: &Device) -> Self {
        let mut features = vec![BackboneLayer::ConvBn(conv_bn(
            [3, STEM_CHANNELS],
            3,
            2,
            device,
        ))];
        let mut input = STEM_CHANNELS;
        for (expansion, output, repeats, stride) in MOBILENET_V2_STAGES {
            for repeat in 0..repeats {
                let stride = if repeat == 0 { stride } else { 1 };
                features.push(BackboneLayer::MbConv(MbConv::new(
                    [input, output],
                    expansion,
                    3,
                    stride,
                    Framework::Torchvision,
                    device,
                )));
                input = output;
            }
        }
        features.push(BackboneLayer::ConvBn(conv_bn(
            [input, LAST_CHANNELS],
            1,
            1,
            device,
        )));
        Self {
            features,
            classifier: LinearConfig::new(LAST_CHANNELS, IMAGENET_CLASSES).init(device),
        }
    }

    /// `features.0` .. `features.18`, dropping the classifier.
    pub fn into_layers(self) -> Vec<BackboneLayer> {
        self.features
    }

    /// ImageNet logits (before the softmax; the classifier's dropout is off in inference),
    /// for checking that pretrained weights loaded correctly.
    pub fn forward_classifier(&self, images: Tensor<4>) -> Tensor<2> {
        imagenet_logits(&self.features, &self.classifier, images)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::test_support::layer_shapes;

    /// Each feature's output for a 64x64 image, from torchvision 0.24's `mobilenet_v2`.
    const SHAPES_64: [[usize; 3]; 19] = [
        [32, 32, 32],
        [16, 32, 32],
        [24, 16, 16],
        [24, 16, 16],
        [32, 8, 8],
        [32, 8, 8],
        [32, 8, 8],
        [64, 4, 4],
        [64, 4, 4],
        [64, 4, 4],
        [64, 4, 4],
        [96, 4, 4],
        [96, 4, 4],
        [96, 4, 4],
        [160, 2, 2],
        [160, 2, 2],
        [160, 2, 2],
        [320, 2, 2],
        [1280, 2, 2],
    ];

    #[test]
    fn feature_shapes_match_torchvision() {
        let layers = MobileNetV2::new(&crate::device::cpu()).into_layers();
        assert_eq!(layer_shapes(&layers, 64), SHAPES_64);
    }
}
