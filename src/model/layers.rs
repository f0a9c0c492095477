//! The layer kinds a backbone is a sequence of, so that a cut or a freeze range can split
//! any backbone by layer index.

use burn::nn::Linear;
use burn::prelude::*;

use super::conv_bn::ConvBn;
use super::inception_v3::InceptionLayer;
use super::mbconv::MbConv;
use super::resnet::{ResNetStem, ResidualBlock};

// A backbone holds a few dozen layers: boxing the larger variant would buy nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Module, Debug)]
pub enum BackboneLayer {
    ConvBn(ConvBn),
    MbConv(MbConv),
    Inception(InceptionLayer),
    ResNetStem(ResNetStem),
    Residual(ResidualBlock),
}

impl BackboneLayer {
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        match self {
            BackboneLayer::ConvBn(layer) => layer.forward(x),
            BackboneLayer::MbConv(layer) => layer.forward(x),
            BackboneLayer::Inception(layer) => layer.forward(x),
            BackboneLayer::ResNetStem(layer) => layer.forward(x),
            BackboneLayer::Residual(layer) => layer.forward(x),
        }
    }

    pub fn fold_batchnorm(self) -> Self {
        match self {
            BackboneLayer::ConvBn(layer) => BackboneLayer::ConvBn(layer.fold_batchnorm()),
            BackboneLayer::MbConv(layer) => BackboneLayer::MbConv(layer.fold_batchnorm()),
            BackboneLayer::Inception(layer) => BackboneLayer::Inception(layer.fold_batchnorm()),
            BackboneLayer::ResNetStem(layer) => BackboneLayer::ResNetStem(layer.fold_batchnorm()),
            BackboneLayer::Residual(layer) => BackboneLayer::Residual(layer.fold_batchnorm()),
        }
    }

    /// A short type name for summaries and logs.
    pub fn kind(&self) -> &'static str {
        match self {
            BackboneLayer::ConvBn(_) => "Conv2d+BatchNorm",
            BackboneLayer::MbConv(_) => "MBConv",
            BackboneLayer::Inception(layer) => layer.kind(),
            BackboneLayer::ResNetStem(_) => "Conv2d+BatchNorm+ReLU+MaxPool2d",
            BackboneLayer::Residual(layer) => layer.kind(),
        }
    }
}

/// Each channel's mean over the image: `[n, c, h, w]` to `[n, c]`.
pub fn global_average_pool(x: Tensor<4>) -> Tensor<2> {
    average_over_space(x).flatten(1, 3)
}

/// Each channel's mean over the image, as a map: `[n, c, h, w]` to `[n, c, 1, 1]`.
pub fn average_over_space(x: Tensor<4>) -> Tensor<4> {
    x.mean_dim(3).mean_dim(2)
}

/// ImageNet logits (before the softmax) of a network whose classifier is global average
/// pooling then `fc` on its last feature layer, for checking that pretrained weights loaded
/// correctly.
pub fn imagenet_logits<'a>(
    layers: impl IntoIterator<Item = &'a BackboneLayer>,
    fc: &Linear,
    images: Tensor<4>,
) -> Tensor<2> {
    let features = layers.into_iter().fold(images, |x, layer| layer.forward(x));
    fc.forward(global_average_pool(features))
}
