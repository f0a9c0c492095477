//! Backbones (with named layers for cuts and freeze ranges), weight loading, the head
//! builder, and the split of a classifier into a frozen part and a trainable part.

mod backbone;
mod classifier;
pub mod conv_bn;
pub mod efficientnet_lite;
mod fused_conv;
mod grad;
pub mod head;
pub mod inception_v3;
pub mod inception_v3_weights;
pub mod keras_h5;
pub mod layers;
pub mod layout;
pub mod mbconv;
pub mod mobilenet_v2;
mod network;
pub mod resnet;
#[cfg(test)]
mod test_support;
mod weights;

pub use backbone::{Backbone, build_backbone};
pub use classifier::{Classifier, FrozenFeatures, TrainableModel, build_classifier};
pub use head::{Head, HeadOutput};
pub use layers::BackboneLayer;
pub use layout::channels_last;
pub use network::Network;
pub use weights::{WeightsUse, load_pytorch};
