//! The layer kinds a backbone is a sequence of, so that a cut or a freeze range can split
//! any backbone by layer index.

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
