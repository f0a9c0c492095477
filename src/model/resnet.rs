//! torchvision's ResNet-18 and ResNet-50: a stem (7x7 stride-2 convolution, BatchNorm, ReLU,
//! 3x3 stride-2 max pooling), then four stages `layer1` .. `layer4` of residual blocks. Basic
//! blocks (two 3x3 convolutions) make ResNet-18, bottlenecks (1x1, 3x3, 1x1 to four times
//! the width) ResNet-50, with the stride on the 3x3 convolution as torchvision puts it
//! (ResNet v1.5). A block whose shape changes adds its input through a 1x1 convolution
//! (`downsample`). BatchNorm epsilon 1e-5; input normalized with ImageNet's mean and std.
//!
//! The fields carry torchvision's module names, so its state dict loads by
//! [`TORCH_KEY_REMAPPING`].

use burn::nn::pool::{MaxPool2d, MaxPool2dConfig};
use burn::nn::{Linear, LinearConfig, PaddingConfig2d};
use burn::prelude::*;

use super::conv_bn::{Activation, ConvBn, ConvBnShape, Framework};
use super::layers::{BackboneLayer, imagenet_logits};
use crate::arch::torchvision::{RESNET18_STAGES, RESNET50_STAGES};

pub const IMAGENET_CLASSES: usize = 1000;
/// Output channels of the stem and the width of each stage's first convolution.
const STEM_CHANNELS: usize = 64;
const STAGE_WIDTHS: [usize; 4] = [64, 128, 256, 512];

/// Regexes from torchvision's state-dict keys to this module's paths, applied in order
/// (the `conv` rule before the `bn` rule, whose output it would otherwise match).
pub const TORCH_KEY_REMAPPING: [(&str, &str); 6] = [
    (r"^conv1\.", "stem.conv.conv."),
    (r"^bn1\.", "stem.conv.bn."),
    (r"^(layer\d\.\d+)\.conv(\d)\.", "$1.conv$2.conv."),
    (r"^(layer\d\.\d+)\.bn(\d)\.", "$1.conv$2.bn."),
    (r"^(layer\d\.\d+)\.downsample\.0\.", "$1.downsample.conv."),
    (r"^(layer\d\.\d+)\.downsample\.1\.", "$1.downsample.bn."),
];

fn conv_bn(
    channels: [usize; 2],
    kernel: usize,
    stride: usize,
    activation: Activation,
    device: &Device,
) -> ConvBn {
    ConvBn::new(
        ConvBnShape {
            channels,
            kernel,
            stride,
            groups: 1,
            activation,
            framework: Framework::Torchvision,
        },
        device,
    )
}

/// `conv1`, `bn1`, `relu`, `maxpool`.
#[derive(Module, Debug)]
pub struct ResNetStem {
    pub conv: ConvBn,
    pub pool: MaxPool2d,
}

impl ResNetStem {
    fn new(device: &Device) -> Self {
        Self {
            conv: conv_bn([3, STEM_CHANNELS], 7, 2, Activation::Relu, device),
            pool: MaxPool2dConfig::new([3, 3])
                .with_strides([2, 2])
                .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
                .init(),
        }
    }

    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        self.pool.forward(self.conv.forward(x))
    }

    pub fn fold_batchnorm(self) -> Self {
        Self {
            conv: self.conv.fold_batchnorm(),
            pool: self.pool,
        }
    }
}

/// The two kinds of residual block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Block {
    Basic,
    Bottleneck,
}

impl Block {
    /// Output channels per unit of stage width.
    fn expansion(self) -> usize {
        match self {
            Block::Basic => 1,
            Block::Bottleneck => 4,
        }
    }
}

/// torchvision's `BasicBlock` (`conv3` is `None`) or `Bottleneck`: the convolutions, then
/// the input (through `downsample` when the shape changes) added before the last ReLU.
#[derive(Module, Debug)]
pub struct ResidualBlock {
    pub conv1: ConvBn,
    pub conv2: ConvBn,
    pub conv3: Option<ConvBn>,
    pub downsample: Option<ConvBn>,
}

impl ResidualBlock {
    fn new(block: Block, input: usize, width: usize, stride: usize, device: &Device) -> Self {
        let output = width * block.expansion();
        let (conv1, conv2, conv3) = match block {
            Block::Basic => (
                conv_bn([input, width], 3, stride, Activation::Relu, device),
                conv_bn([width, width], 3, 1, Activation::Linear, device),
                None,
            ),
            Block::Bottleneck => (
                conv_bn([input, width], 1, 1, Activation::Relu, device),
                conv_bn([width, width], 3, stride, Activation::Relu, device),
                Some(conv_bn([width, output], 1, 1, Activation::Linear, device)),
            ),
        };
        let downsample = (stride != 1 || input != output)
            .then(|| conv_bn([input, output], 1, stride, Activation::Linear, device));
        Self {
            conv1,
            conv2,
            conv3,
            downsample,
        }
    }

    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let shortcut = match &self.downsample {
            Some(downsample) => downsample.forward(x.clone()),
            None => x.clone(),
        };
        let x = self.conv1.forward(x);
        match &self.conv3 {
            Some(conv3) => conv3.forward_adding(self.conv2.forward(x), shortcut, Activation::Relu),
            None => self.conv2.forward_adding(x, shortcut, Activation::Relu),
        }
    }

    pub fn fold_batchnorm(self) -> Self {
        Self {
            conv1: self.conv1.fold_batchnorm(),
            conv2: self.conv2.fold_batchnorm(),
            conv3: self.conv3.map(ConvBn::fold_batchnorm),
            downsample: self.downsample.map(ConvBn::fold_batchnorm),
        }
    }

    /// torchvision's class name.
    pub fn kind(&self) -> &'static str {
        match self.conv3 {
            Some(_) => "Bottleneck",
            None => "BasicBlock",
        }
    }
}

/// The whole network with its ImageNet classifier `fc`.
#[derive(Module, Debug)]
pub struct ResNet {
    pub stem: ResNetStem,
    pub layer1: Vec<ResidualBlock>,
    pub layer2: Vec<ResidualBlock>,
    pub layer3: Vec<ResidualBlock>,
    pub layer4: Vec<ResidualBlock>,
    pub fc: Linear,
}

impl ResNet {
    /// ResNet-18 with freshly initialized weights.
    pub fn resnet18(device: &Device) -> Self {
        Self::new(Block::Basic, RESNET18_STAGES, device)
    }

    /// ResNet-50 with freshly initialized weights.
    pub fn resnet50(device: &Device) -> Self {
        Self::new(Block::Bottleneck, RESNET50_STAGES, device)
    }

    fn new(block: Block, blocks: [usize; 4], device: &Device) -> Self {
        let stem = ResNetStem::new(device);
        let mut input = STEM_CHANNELS;
        let [layer1, layer2, layer3, layer4] = std::array::from_fn(|stage| {
            let width = STAGE_WIDTHS[stage];
            (0..blocks[stage])
                .map(|index| {
                    // Every stage but the first halves the resolution in its first block.
                    let stride = if index == 0 && stage > 0 { 2 } else { 1 };
                    let unit = ResidualBlock::new(block, input, width, stride, device);
                    input = width * block.expansion();
                    unit
                })
                .collect()
        });
        Self {
            stem,
            layer1,
            layer2,
            layer3,
            layer4,
            fc: LinearConfig::new(input, IMAGENET_CLASSES).init(device),
        }
    }

    /// The stem and every residual block in order, dropping the classifier.
    pub fn into_layers(self) -> Vec<BackboneLayer> {
        let blocks = [self.layer1, self.layer2, self.layer3, self.layer4]
            .into_iter()
            .flatten()
            .map(BackboneLayer::Residual);
        std::iter::once(BackboneLayer::ResNetStem(self.stem))
            .chain(blocks)
            .collect()
    }

    /// ImageNet logits (before the softmax), for checking that pretrained weights loaded
    /// correctly.
    pub fn forward_classifier(self, images: Tensor<4>) -> Tensor<2> {
        let fc = self.fc.clone();
        imagenet_logits(&self.into_layers(), &fc, images)
    }
}

#[cfg(test)]
mod tests {
    use burn::tensor::Distribution;

    use super::*;
    use crate::model::test_support::{layer_shapes, max_abs_difference, randomize_batchnorm};

    /// Each layer's output for a 64x64 image, from torchvision 0.24's `resnet18`/`resnet50`.
    const RESNET18_SHAPES_64: [[usize; 3]; 9] = [
        [64, 16, 16],
        [64, 16, 16],
        [64, 16, 16],
        [128, 8, 8],
        [128, 8, 8],
        [256, 4, 4],
        [256, 4, 4],
        [512, 2, 2],
        [512, 2, 2],
    ];
    const RESNET50_SHAPES_64: [[usize; 3]; 17] = [
        [64, 16, 16],
        [256, 16, 16],
        [256, 16, 16],
        [256, 16, 16],
        [512, 8, 8],
        [512, 8, 8],
        [512, 8, 8],
        [512, 8, 8],
        [1024, 4, 4],
        [1024, 4, 4],
        [1024, 4, 4],
        [1024, 4, 4],
        [1024, 4, 4],
        [1024, 4, 4],
        [2048, 2, 2],
        [2048, 2, 2],
        [2048, 2, 2],
    ];

    fn shapes(network: ResNet, side: usize) -> Vec<[usize; 3]> {
        layer_shapes(&network.into_layers(), side)
    }

    #[test]
    fn layer_shapes_match_torchvision() {
        let device = crate::device::cpu();
        let resnet18 = shapes(ResNet::resnet18(&device), 64);
        assert_eq!(resnet18, RESNET18_SHAPES_64);
        let resnet50 = shapes(ResNet::resnet50(&device), 64);
        assert_eq!(resnet50, RESNET50_SHAPES_64);
    }

    #[test]
    fn runs_down_to_one_pixel() {
        let device = crate::device::cpu();
        let shapes = shapes(ResNet::resnet18(&device), 1);
        assert_eq!(shapes[8], [512, 1, 1]);
    }

    #[test]
    fn folding_batchnorm_keeps_a_blocks_output() {
        let device = crate::device::cpu();
        for block in [Block::Basic, Block::Bottleneck] {
            let mut unit = ResidualBlock::new(block, 8, 4, 2, &device);
            for conv in [&mut unit.conv1, &mut unit.conv2]
                .into_iter()
                .chain(unit.conv3.as_mut())
                .chain(unit.downsample.as_mut())
            {
                randomize_batchnorm(conv.bn.as_mut().unwrap());
            }
            let layer = BackboneLayer::Residual(unit);
            let input = Tensor::<4>::random([2, 8, 7, 6], Distribution::Normal(0.0, 1.0), &device);
            let expected = layer.forward(input.clone());
            let folded = layer.fold_batchnorm();
            let difference = max_abs_difference(folded.forward(input), expected);
            assert!(
                difference < 1e-4,
                "{block:?}: max abs difference {difference}"
            );
        }
    }
}
