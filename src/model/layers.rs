//! The layer kinds a backbone is a sequence of, so that a cut or a freeze range can split
//! any backbone by layer index.

use burn::prelude::*;

use super::conv_bn::ConvBn;
use super::inception_v3::InceptionLayer;
use super::mbconv::MbConv;

// A backbone holds a few dozen layers: boxing the larger variant would buy nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Module, Debug)]
pub enum BackboneLayer {
    ConvBn(ConvBn),
    MbConv(MbConv),
    Inception(InceptionLayer),
}

impl BackboneLayer {
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        match self {
            BackboneLayer::ConvBn(layer) => layer.forward(x),
            BackboneLayer::MbConv(layer) => layer.forward(x),
            BackboneLayer::Inception(layer) => layer.forward(x),
        }
    }

    pub fn fold_batchnorm(self) -> Self {
        match self {
            BackboneLayer::ConvBn(layer) => BackboneLayer::ConvBn(layer.fold_batchnorm()),
            BackboneLayer::MbConv(layer) => BackboneLayer::MbConv(layer.fold_batchnorm()),
            BackboneLayer::Inception(layer) => BackboneLayer::Inception(layer.fold_batchnorm()),
        }
    }

    /// A short type name for summaries and logs.
    pub fn kind(&self) -> &'static str {
        match self {
            BackboneLayer::ConvBn(_) => "Conv2d+BatchNorm",
            BackboneLayer::MbConv(_) => "MBConv",
            BackboneLayer::Inception(layer) => layer.kind(),
        }
    }
}
