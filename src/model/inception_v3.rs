//! InceptionV3 as Keras' `keras.applications.InceptionV3` and torchvision's `inception_v3`
//! build it: convolutions without bias, BatchNorm (eps 1e-3) and ReLU; "same" padding only
//! on stride-1 convolutions, where it is symmetric; input `x / 127.5 - 1`.
//!
//! The fields carry torchvision's module names (lower-cased), so a torchvision state dict
//! loads by [`TORCH_KEY_REMAPPING`]; Keras' `.h5` weights load by [`InceptionV3::conv_bns_mut`],
//! which lists the convolutions in the order Keras creates them.
//!
//! Preprocessing: torchvision's pretrained model has `transform_input = True`, which turns an
//! input normalized with ImageNet's mean and std back into `x / 127.5 - 1` (up to rounding)
//! before its first convolution; the runner feeds `x / 127.5 - 1` directly, for both files.

use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::pool::{AvgPool2d, AvgPool2dConfig, MaxPool2d, MaxPool2dConfig};
use burn::nn::{BatchNorm, BatchNormConfig, Linear, LinearConfig, PaddingConfig2d};
use burn::prelude::*;

use super::conv_bn::{Activation, conv_bn_forward, fold_into_conv};
use super::layers::{BackboneLayer, imagenet_logits};

pub const IMAGENET_CLASSES: usize = 1000;
const FEATURES: usize = 2048;

/// Whose average pooling the mixed blocks use. Both pad the 3x3, stride-1 pooling by one
/// pixel; Keras (as TensorFlow) averages over the real pixels only, torchvision counts the
/// zero padding. Weights trained one way run correctly only that way.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Convention {
    Keras,
    Torchvision,
}

/// Conv2D (no bias), BatchNormalization, ReLU: Keras' `conv2d_bn`, torchvision's
/// `BasicConv2d`.
#[derive(Module, Debug)]
pub struct BasicConv {
    pub conv: Conv2d,
    /// `None` once folded into `conv`.
    pub bn: Option<BatchNorm>,
}

/// Padding of a [`BasicConv`]: "valid" is none; "same" (always stride 1 here) pads half the
/// kernel on each side.
#[derive(Debug, Clone, Copy)]
enum Padding {
    Valid,
    Same,
}

impl BasicConv {
    fn new(
        channels: [usize; 2],
        kernel: [usize; 2],
        stride: usize,
        padding: Padding,
        device: &Device,
    ) -> Self {
        let padding = match padding {
            Padding::Valid => PaddingConfig2d::Valid,
            Padding::Same => {
                let [height, width] = kernel.map(|side| side / 2);
                PaddingConfig2d::Explicit(height, width, height, width)
            }
        };
        let conv = Conv2dConfig::new(channels, kernel)
            .with_stride([stride, stride])
            .with_padding(padding)
            .with_bias(false)
            .init(device);
        // Keras' momentum 0.99 keeps 99% of the running statistics; Burn's momentum is the
        // share of the new batch.
        let bn = BatchNormConfig::new(channels[1])
            .with_epsilon(1e-3)
            .with_momentum(0.01)
            .init(device);
        Self { conv, bn: Some(bn) }
    }

    /// A stride-1 convolution with "same" padding.
    fn same(channels: [usize; 2], kernel: [usize; 2], device: &Device) -> Self {
        Self::new(channels, kernel, 1, Padding::Same, device)
    }

    /// A stride-2 3x3 convolution with "valid" padding.
    fn reduce(channels: [usize; 2], device: &Device) -> Self {
        Self::new(channels, [3, 3], 2, Padding::Valid, device)
    }

    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        conv_bn_forward(&self.conv, self.bn.as_ref(), x, None, Activation::Relu)
    }

    fn fold_batchnorm(&mut self) {
        if let Some(bn) = self.bn.take() {
            fold_into_conv(&mut self.conv, bn);
        }
    }
}

fn max_pool() -> MaxPool2d {
    MaxPool2dConfig::new([3, 3]).with_strides([2, 2]).init()
}

fn average_pool(convention: Convention) -> AvgPool2d {
    AvgPool2dConfig::new([3, 3])
        .with_strides([1, 1])
        .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
        .with_count_include_pad(convention == Convention::Torchvision)
        .init()
}

/// A mixed block: its convolutions as fields named as torchvision names its modules and
/// listed in the order Keras creates them (the order its `.h5` weights load in), and its
/// pooling.
macro_rules! mixed_block {
    ($(#[$doc:meta])* $block:ident { $($conv:ident),+ } pool: $pool:ty) => {
        $(#[$doc])*
        #[derive(Module, Debug)]
        pub struct $block {
            $(pub $conv: BasicConv,)+
            pub pool: $pool,
        }

        impl $block {
            fn conv_bns_mut(&mut self) -> Vec<&mut BasicConv> {
                vec![$(&mut self.$conv),+]
            }
        }
    };
}

/// `(field name, convolution)` of each named field of `block`.
macro_rules! convs {
    ($block:expr; $($conv:ident),+) => {
        vec![$((stringify!($conv), &$block.$conv)),+]
    };
}

/// A branch's convolutions, named by their fields.
pub type NamedConvs<'a> = Vec<(&'static str, &'a BasicConv)>;

/// What a branch of a mixed block starts from.
#[derive(Clone, Copy)]
pub enum BranchInput<'a> {
    /// The block's input itself.
    Block,
    AveragePool(&'a AvgPool2d),
    MaxPool(&'a MaxPool2d),
}

/// One branch of a mixed block: its input, convolutions one after another, then (in
/// InceptionE) convolutions side by side whose outputs are concatenated. The one
/// description of a block that its forward pass and its ONNX export both follow.
pub struct Branch<'a> {
    pub input: BranchInput<'a>,
    pub chain: NamedConvs<'a>,
    pub split: NamedConvs<'a>,
}

impl<'a> Branch<'a> {
    fn of(chain: NamedConvs<'a>) -> Self {
        Self {
            input: BranchInput::Block,
            chain,
            split: Vec::new(),
        }
    }

    fn after(self, input: BranchInput<'a>) -> Self {
        Self { input, ..self }
    }

    fn split_into(self, split: NamedConvs<'a>) -> Self {
        Self { split, ..self }
    }
}

/// The mixed block made of `branches`, on `x`: the branches' outputs concatenated.
fn forward_branches(branches: &[Branch], x: &Tensor<4>) -> Tensor<4> {
    let outputs = branches.iter().map(|branch| {
        let input = match branch.input {
            BranchInput::Block => x.clone(),
            BranchInput::AveragePool(pool) => pool.forward(x.clone()),
            BranchInput::MaxPool(pool) => pool.forward(x.clone()),
        };
        let x = branch
            .chain
            .iter()
            .fold(input, |x, (_, conv)| conv.forward(x));
        if branch.split.is_empty() {
            x
        } else {
            let sides = branch.split.iter().map(|(_, conv)| conv.forward(x.clone()));
            Tensor::cat(sides.collect(), 1)
        }
    });
    Tensor::cat(outputs.collect(), 1)
}

mixed_block!(
    /// Mixed 0-2 (35x35 at 299 px): 1x1, 5x5, double 3x3 and pooling branches.
    InceptionA {
        branch1x1, branch5x5_1, branch5x5_2, branch3x3dbl_1, branch3x3dbl_2, branch3x3dbl_3,
        branch_pool
    }
    pool: AvgPool2d
);

impl InceptionA {
    fn new(input: usize, pool_features: usize, convention: Convention, device: &Device) -> Self {
        Self {
            branch1x1: BasicConv::same([input, 64], [1, 1], device),
            branch5x5_1: BasicConv::same([input, 48], [1, 1], device),
            branch5x5_2: BasicConv::same([48, 64], [5, 5], device),
            branch3x3dbl_1: BasicConv::same([input, 64], [1, 1], device),
            branch3x3dbl_2: BasicConv::same([64, 96], [3, 3], device),
            branch3x3dbl_3: BasicConv::same([96, 96], [3, 3], device),
            branch_pool: BasicConv::same([input, pool_features], [1, 1], device),
            pool: average_pool(convention),
        }
    }

    fn branches(&self) -> Vec<Branch<'_>> {
        vec![
            Branch::of(convs!(self; branch1x1)),
            Branch::of(convs!(self; branch5x5_1, branch5x5_2)),
            Branch::of(convs!(self; branch3x3dbl_1, branch3x3dbl_2, branch3x3dbl_3)),
            Branch::of(convs!(self; branch_pool)).after(BranchInput::AveragePool(&self.pool)),
        ]
    }
}

mixed_block!(
    /// Mixed 3 (35x35 to 17x17): stride-2 3x3, double 3x3 and max-pooling branches.
    InceptionB { branch3x3, branch3x3dbl_1, branch3x3dbl_2, branch3x3dbl_3 }
    pool: MaxPool2d
);

impl InceptionB {
    fn new(input: usize, device: &Device) -> Self {
        Self {
            branch3x3: BasicConv::reduce([input, 384], device),
            branch3x3dbl_1: BasicConv::same([input, 64], [1, 1], device),
            branch3x3dbl_2: BasicConv::same([64, 96], [3, 3], device),
            branch3x3dbl_3: BasicConv::reduce([96, 96], device),
            pool: max_pool(),
        }
    }

    fn branches(&self) -> Vec<Branch<'_>> {
        vec![
            Branch::of(convs!(self; branch3x3)),
            Branch::of(convs!(self; branch3x3dbl_1, branch3x3dbl_2, branch3x3dbl_3)),
            Branch::of(Vec::new()).after(BranchInput::MaxPool(&self.pool)),
        ]
    }
}

mixed_block!(
    /// Mixed 4-7 (17x17): 1x1, factorized 7x7, double factorized 7x7 and pooling branches.
    InceptionC {
        branch1x1, branch7x7_1, branch7x7_2, branch7x7_3, branch7x7dbl_1, branch7x7dbl_2,
        branch7x7dbl_3, branch7x7dbl_4, branch7x7dbl_5, branch_pool
    }
    pool: AvgPool2d
);

impl InceptionC {
    fn new(input: usize, channels_7x7: usize, convention: Convention, device: &Device) -> Self {
        let c7 = channels_7x7;
        Self {
            branch1x1: BasicConv::same([input, 192], [1, 1], device),
            branch7x7_1: BasicConv::same([input, c7], [1, 1], device),
            branch7x7_2: BasicConv::same([c7, c7], [1, 7], device),
            branch7x7_3: BasicConv::same([c7, 192], [7, 1], device),
            branch7x7dbl_1: BasicConv::same([input, c7], [1, 1], device),
            branch7x7dbl_2: BasicConv::same([c7, c7], [7, 1], device),
            branch7x7dbl_3: BasicConv::same([c7, c7], [1, 7], device),
            branch7x7dbl_4: BasicConv::same([c7, c7], [7, 1], device),
            branch7x7dbl_5: BasicConv::same([c7, 192], [1, 7], device),
            branch_pool: BasicConv::same([input, 192], [1, 1], device),
            pool: average_pool(convention),
        }
    }

    fn branches(&self) -> Vec<Branch<'_>> {
        vec![
            Branch::of(convs!(self; branch1x1)),
            Branch::of(convs!(self; branch7x7_1, branch7x7_2, branch7x7_3)),
            Branch::of(convs!(self;
                branch7x7dbl_1, branch7x7dbl_2, branch7x7dbl_3, branch7x7dbl_4, branch7x7dbl_5
            )),
            Branch::of(convs!(self; branch_pool)).after(BranchInput::AveragePool(&self.pool)),
        ]
    }
}

mixed_block!(
    /// Mixed 8 (17x17 to 8x8): 3x3, factorized 7x7 then 3x3, both stride 2, and max pooling.
    InceptionD {
        branch3x3_1, branch3x3_2, branch7x7x3_1, branch7x7x3_2, branch7x7x3_3, branch7x7x3_4
    }
    pool: MaxPool2d
);

impl InceptionD {
    fn new(input: usize, device: &Device) -> Self {
        Self {
            branch3x3_1: BasicConv::same([input, 192], [1, 1], device),
            branch3x3_2: BasicConv::reduce([192, 320], device),
            branch7x7x3_1: BasicConv::same([input, 192], [1, 1], device),
            branch7x7x3_2: BasicConv::same([192, 192], [1, 7], device),
            branch7x7x3_3: BasicConv::same([192, 192], [7, 1], device),
            branch7x7x3_4: BasicConv::reduce([192, 192], device),
            pool: max_pool(),
        }
    }

    fn branches(&self) -> Vec<Branch<'_>> {
        vec![
            Branch::of(convs!(self; branch3x3_1, branch3x3_2)),
            Branch::of(convs!(self;
                branch7x7x3_1, branch7x7x3_2, branch7x7x3_3, branch7x7x3_4
            )),
            Branch::of(Vec::new()).after(BranchInput::MaxPool(&self.pool)),
        ]
    }
}

mixed_block!(
    /// Mixed 9-10 (8x8): 1x1, 3x3 split into 1x3 and 3x1, double 3x3 split the same way,
    /// and pooling branches.
    InceptionE {
        branch1x1, branch3x3_1, branch3x3_2a, branch3x3_2b, branch3x3dbl_1, branch3x3dbl_2,
        branch3x3dbl_3a, branch3x3dbl_3b, branch_pool
    }
    pool: AvgPool2d
);

impl InceptionE {
    fn new(input: usize, convention: Convention, device: &Device) -> Self {
        Self {
            branch1x1: BasicConv::same([input, 320], [1, 1], device),
            branch3x3_1: BasicConv::same([input, 384], [1, 1], device),
            branch3x3_2a: BasicConv::same([384, 384], [1, 3], device),
            branch3x3_2b: BasicConv::same([384, 384], [3, 1], device),
            branch3x3dbl_1: BasicConv::same([input, 448], [1, 1], device),
            branch3x3dbl_2: BasicConv::same([448, 384], [3, 3], device),
            branch3x3dbl_3a: BasicConv::same([384, 384], [1, 3], device),
            branch3x3dbl_3b: BasicConv::same([384, 384], [3, 1], device),
            branch_pool: BasicConv::same([input, 192], [1, 1], device),
            pool: average_pool(convention),
        }
    }

    fn branches(&self) -> Vec<Branch<'_>> {
        vec![
            Branch::of(convs!(self; branch1x1)),
            Branch::of(convs!(self; branch3x3_1))
                .split_into(convs!(self; branch3x3_2a, branch3x3_2b)),
            Branch::of(convs!(self; branch3x3dbl_1, branch3x3dbl_2))
                .split_into(convs!(self; branch3x3dbl_3a, branch3x3dbl_3b)),
            Branch::of(convs!(self; branch_pool)).after(BranchInput::AveragePool(&self.pool)),
        ]
    }
}

/// One block of the backbone: what [`InceptionV3::into_layers`] cuts the network into.
// A backbone holds 18 of these: boxing the larger variants would buy nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Module, Debug)]
pub enum InceptionLayer {
    Conv(BasicConv),
    MaxPool(MaxPool2d),
    A(InceptionA),
    B(InceptionB),
    C(InceptionC),
    D(InceptionD),
    E(InceptionE),
}

impl InceptionLayer {
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        match self {
            InceptionLayer::Conv(layer) => layer.forward(x),
            InceptionLayer::MaxPool(layer) => layer.forward(x),
            mixed => forward_branches(&mixed.branches(), &x),
        }
    }

    /// A mixed block's branches; none for a convolution or a pooling.
    pub fn branches(&self) -> Vec<Branch<'_>> {
        match self {
            InceptionLayer::Conv(_) | InceptionLayer::MaxPool(_) => Vec::new(),
            InceptionLayer::A(block) => block.branches(),
            InceptionLayer::B(block) => block.branches(),
            InceptionLayer::C(block) => block.branches(),
            InceptionLayer::D(block) => block.branches(),
            InceptionLayer::E(block) => block.branches(),
        }
    }

    pub fn fold_batchnorm(mut self) -> Self {
        for conv in self.conv_bns_mut() {
            conv.fold_batchnorm();
        }
        self
    }

    fn conv_bns_mut(&mut self) -> Vec<&mut BasicConv> {
        match self {
            InceptionLayer::Conv(layer) => vec![layer],
            InceptionLayer::MaxPool(_) => Vec::new(),
            InceptionLayer::A(layer) => layer.conv_bns_mut(),
            InceptionLayer::B(layer) => layer.conv_bns_mut(),
            InceptionLayer::C(layer) => layer.conv_bns_mut(),
            InceptionLayer::D(layer) => layer.conv_bns_mut(),
            InceptionLayer::E(layer) => layer.conv_bns_mut(),
        }
    }

    /// A short type name for summaries and logs.
    pub fn kind(&self) -> &'static str {
        match self {
            InceptionLayer::Conv(_) => "Conv2d+BatchNorm+ReLU",
            InceptionLayer::MaxPool(_) => "MaxPool2d",
            InceptionLayer::A(_) => "InceptionA",
            InceptionLayer::B(_) => "InceptionB",
            InceptionLayer::C(_) => "InceptionC",
            InceptionLayer::D(_) => "InceptionD",
            InceptionLayer::E(_) => "InceptionE",
        }
    }
}

/// The whole network with its ImageNet classifier (Keras' `predictions`, torchvision's
/// `fc`), laid out as torchvision's `Inception3` without its auxiliary classifier.
#[derive(Module, Debug)]
pub struct InceptionV3 {
    pub conv2d_1a_3x3: BasicConv,
    pub conv2d_2a_3x3: BasicConv,
    pub conv2d_2b_3x3: BasicConv,
    pub conv2d_3b_1x1: BasicConv,
    pub conv2d_4a_3x3: BasicConv,
    pub mixed_5b: InceptionA,
    pub mixed_5c: InceptionA,
    pub mixed_5d: InceptionA,
    pub mixed_6a: InceptionB,
    pub mixed_6b: InceptionC,
    pub mixed_6c: InceptionC,
    pub mixed_6d: InceptionC,
    pub mixed_6e: InceptionC,
    pub mixed_7a: InceptionD,
    pub mixed_7b: InceptionE,
    pub mixed_7c: InceptionE,
    pub fc: Linear,
}

/// Regexes from torchvision's state-dict keys to this module's paths. The auxiliary
/// classifier's keys (`AuxLogits.*`) match nothing here and are ignored.
pub const TORCH_KEY_REMAPPING: [(&str, &str); 2] =
    [(r"^Conv2d_", "conv2d_"), (r"^Mixed_", "mixed_")];

impl InceptionV3 {
    /// InceptionV3 with freshly initialized weights.
    pub fn new(convention: Convention, device: &Device) -> Self {
        Self {
            conv2d_1a_3x3: BasicConv::new([3, 32], [3, 3], 2, Padding::Valid, device),
            conv2d_2a_3x3: BasicConv::new([32, 32], [3, 3], 1, Padding::Valid, device),
            conv2d_2b_3x3: BasicConv::same([32, 64], [3, 3], device),
            conv2d_3b_1x1: BasicConv::new([64, 80], [1, 1], 1, Padding::Valid, device),
            conv2d_4a_3x3: BasicConv::new([80, 192], [3, 3], 1, Padding::Valid, device),
            mixed_5b: InceptionA::new(192, 32, convention, device),
            mixed_5c: InceptionA::new(256, 64, convention, device),
            mixed_5d: InceptionA::new(288, 64, convention, device),
            mixed_6a: InceptionB::new(288, device),
            mixed_6b: InceptionC::new(768, 128, convention, device),
            mixed_6c: InceptionC::new(768, 160, convention, device),
            mixed_6d: InceptionC::new(768, 160, convention, device),
            mixed_6e: InceptionC::new(768, 192, convention, device),
            mixed_7a: InceptionD::new(768, device),
            mixed_7b: InceptionE::new(1280, convention, device),
            mixed_7c: InceptionE::new(2048, convention, device),
            fc: LinearConfig::new(FEATURES, IMAGENET_CLASSES).init(device),
        }
    }

    /// The 94 convolutions in the order Keras' `inception_v3.py` creates them (which is
    /// torchvision's module order too).
    pub fn conv_bns_mut(&mut self) -> Vec<&mut BasicConv> {
        let mut convs = vec![
            &mut self.conv2d_1a_3x3,
            &mut self.conv2d_2a_3x3,
            &mut self.conv2d_2b_3x3,
            &mut self.conv2d_3b_1x1,
            &mut self.conv2d_4a_3x3,
        ];
        for block in [&mut self.mixed_5b, &mut self.mixed_5c, &mut self.mixed_5d] {
            convs.extend(block.conv_bns_mut());
        }
        convs.extend(self.mixed_6a.conv_bns_mut());
        for block in [
            &mut self.mixed_6b,
            &mut self.mixed_6c,
            &mut self.mixed_6d,
            &mut self.mixed_6e,
        ] {
            convs.extend(block.conv_bns_mut());
        }
        convs.extend(self.mixed_7a.conv_bns_mut());
        convs.extend(self.mixed_7b.conv_bns_mut());
        convs.extend(self.mixed_7c.conv_bns_mut());
        convs
    }

    /// The stem's layers and the mixed blocks in order, dropping the classifier.
    pub fn into_layers(self) -> Vec<BackboneLayer> {
        use InceptionLayer::{A, B, C, Conv, D, E, MaxPool};
        let stem = [
            Conv(self.conv2d_1a_3x3),
            Conv(self.conv2d_2a_3x3),
            Conv(self.conv2d_2b_3x3),
            MaxPool(max_pool()),
            Conv(self.conv2d_3b_1x1),
            Conv(self.conv2d_4a_3x3),
            MaxPool(max_pool()),
        ];
        let mixed = [
            A(self.mixed_5b),
            A(self.mixed_5c),
            A(self.mixed_5d),
            B(self.mixed_6a),
            C(self.mixed_6b),
            C(self.mixed_6c),
            C(self.mixed_6d),
            C(self.mixed_6e),
            D(self.mixed_7a),
            E(self.mixed_7b),
            E(self.mixed_7c),
        ];
        stem.into_iter()
            .chain(mixed)
            .map(BackboneLayer::Inception)
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

    /// Keras' `model.summary()` of `InceptionV3(include_top=False, input_shape=(150, 150, 3))`.
    const KERAS_SHAPES_150: [(&str, [usize; 3]); 18] = [
        ("activation", [32, 74, 74]),
        ("activation_1", [32, 72, 72]),
        ("activation_2", [64, 72, 72]),
        ("max_pooling2d", [64, 35, 35]),
        ("activation_3", [80, 35, 35]),
        ("activation_4", [192, 33, 33]),
        ("max_pooling2d_1", [192, 16, 16]),
        ("mixed0", [256, 16, 16]),
        ("mixed1", [288, 16, 16]),
        ("mixed2", [288, 16, 16]),
        ("mixed3", [768, 7, 7]),
        ("mixed4", [768, 7, 7]),
        ("mixed5", [768, 7, 7]),
        ("mixed6", [768, 7, 7]),
        ("mixed7", [768, 7, 7]),
        ("mixed8", [1280, 3, 3]),
        ("mixed9", [2048, 3, 3]),
        ("mixed10", [2048, 3, 3]),
    ];

    fn shapes(side: usize, convention: Convention) -> Vec<(String, [usize; 3])> {
        let layers = InceptionV3::new(convention, &crate::device::cpu()).into_layers();
        let names = crate::spec::Arch::InceptionV3.layer_names();
        names.into_iter().zip(layer_shapes(&layers, side)).collect()
    }

    #[test]
    fn block_shapes_match_keras_at_150_px() {
        let expected: Vec<(String, [usize; 3])> = KERAS_SHAPES_150
            .iter()
            .map(|(name, shape)| (name.to_string(), *shape))
            .collect();
        assert_eq!(shapes(150, Convention::Keras), expected);
    }

    #[test]
    fn runs_at_keras_smallest_size() {
        let shapes = shapes(75, Convention::Torchvision);
        assert_eq!(shapes[14], ("mixed7".to_string(), [768, 3, 3]));
        assert_eq!(shapes[17], ("mixed10".to_string(), [2048, 1, 1]));
    }

    #[test]
    fn lists_its_94_convolutions() {
        let device = crate::device::cpu();
        let mut network = InceptionV3::new(Convention::Keras, &device);
        let convs = network.conv_bns_mut();
        assert_eq!(convs.len(), 94);
        let [out, input, height, width] = convs[93].conv.weight.dims();
        assert_eq!([out, input, height, width], [192, 2048, 1, 1]);
    }

    #[test]
    fn the_pooling_convention_survives_the_move_to_inference() {
        let device = crate::device::cpu().autodiff();
        for (convention, counts_padding) in
            [(Convention::Keras, false), (Convention::Torchvision, true)]
        {
            let layers = InceptionV3::new(convention, &device).into_layers();
            let mixed0 = layers.into_iter().nth(7).unwrap();
            let BackboneLayer::Inception(InceptionLayer::A(block)) =
                mixed0.valid().fold_batchnorm()
            else {
                panic!("mixed0 is an InceptionA block");
            };
            assert_eq!(block.pool.count_include_pad, counts_padding);
        }
    }

    #[test]
    fn folding_batchnorm_keeps_a_mixed_blocks_output() {
        let device = crate::device::cpu();
        let mut block = InceptionLayer::E(InceptionE::new(16, Convention::Keras, &device));
        for conv in block.conv_bns_mut() {
            randomize_batchnorm(conv.bn.as_mut().unwrap());
        }
        let input = Tensor::<4>::random([2, 16, 5, 6], Distribution::Normal(0.0, 1.0), &device);
        let expected = block.forward(input.clone());
        let folded = block.fold_batchnorm();
        assert_eq!(folded.kind(), "InceptionE");
        let difference = max_abs_difference(folded.forward(input), expected);
        assert!(difference < 1e-4, "max abs difference {difference}");
    }
}
