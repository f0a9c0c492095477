//! Each architecture's whole network, backbone and ImageNet classifier, with its pretrained
//! weights: what a backbone is cut from, and what `bench/parity` checks logits on.

use std::path::Path;

use anyhow::Result;
use burn::prelude::*;

use super::efficientnet_lite::{self, EfficientNetLite};
use super::inception_v3::InceptionV3;
use super::inception_v3_weights;
use super::layers::BackboneLayer;
use super::mobilenet_v2::{self, MobileNetV2};
use super::resnet::{self, ResNet};
use super::weights::{WeightsUse, load_pytorch};
use crate::arch::efficientnet_lite::scaling as lite_scaling;
use crate::spec::Arch;

/// A network of any architecture.
// Built once per backbone and taken apart at once: boxing the larger variants would buy nothing.
#[allow(clippy::large_enum_variant)]
pub enum Network {
    EfficientnetLite(EfficientNetLite),
    InceptionV3(InceptionV3),
    ResNet(ResNet),
    MobileNetV2(MobileNetV2),
}

impl Network {
    /// `arch` with the weights of `file`, or freshly initialized for `None`.
    pub fn load(arch: Arch, file: Option<&Path>, device: &Device) -> Result<Self> {
        Self::with_weights(arch, file, WeightsUse::Load, device)
    }

    /// Whether `file` has every tensor `arch` needs, with its shape, reading no tensor
    /// data: what `runner validate` and `runner run` check before anything starts.
    pub fn check_weights(arch: Arch, file: &Path) -> Result<()> {
        Self::with_weights(
            arch,
            Some(file),
            WeightsUse::CheckShapes,
            &crate::device::cpu(),
        )
        .map(drop)
    }

    fn with_weights(
        arch: Arch,
        file: Option<&Path>,
        usage: WeightsUse,
        device: &Device,
    ) -> Result<Self> {
        Ok(match arch {
            lite @ (Arch::EfficientnetLite0
            | Arch::EfficientnetLite1
            | Arch::EfficientnetLite2
            | Arch::EfficientnetLite3
            | Arch::EfficientnetLite4) => Network::EfficientnetLite(torch_weights(
                EfficientNetLite::new(
                    lite_scaling(lite).expect("every Lite variant has coefficients"),
                    device,
                ),
                file,
                &efficientnet_lite::TORCH_KEY_REMAPPING,
                arch,
                usage,
            )?),
            Arch::InceptionV3 => {
                Network::InceptionV3(inception_v3_weights::pretrained(file, usage, device)?)
            }
            Arch::Resnet18 => Network::ResNet(torch_weights(
                ResNet::resnet18(device),
                file,
                &resnet::TORCH_KEY_REMAPPING,
                arch,
                usage,
            )?),
            Arch::Resnet50 => Network::ResNet(torch_weights(
                ResNet::resnet50(device),
                file,
                &resnet::TORCH_KEY_REMAPPING,
                arch,
                usage,
            )?),
            Arch::MobilenetV2 => Network::MobileNetV2(torch_weights(
                MobileNetV2::new(device),
                file,
                &mobilenet_v2::TORCH_KEY_REMAPPING,
                arch,
                usage,
            )?),
        })
    }

    /// The feature layers in order, dropping the classifier.
    pub fn into_layers(self) -> Vec<BackboneLayer> {
        match self {
            Network::EfficientnetLite(network) => network.into_layers(),
            Network::InceptionV3(network) => network.into_layers(),
            Network::ResNet(network) => network.into_layers(),
            Network::MobileNetV2(network) => network.into_layers(),
        }
    }

    /// ImageNet logits (before the softmax), for checking that pretrained weights loaded
    /// correctly.
    pub fn forward_classifier(self, images: Tensor<4>) -> Tensor<2> {
        match self {
            Network::EfficientnetLite(network) => network.forward_classifier(images),
            Network::InceptionV3(network) => network.forward_classifier(images),
            Network::ResNet(network) => network.forward_classifier(images),
            Network::MobileNetV2(network) => network.forward_classifier(images),
        }
    }
}

/// `network` with a PyTorch state dict loaded into it (or checked against it), when there
/// is one.
fn torch_weights<M: Module>(
    mut network: M,
    file: Option<&Path>,
    remapping: &[(&str, &str)],
    arch: Arch,
    usage: WeightsUse,
) -> Result<M> {
    if let Some(file) = file {
        load_pytorch(&mut network, file, remapping, arch, usage)?;
    }
    Ok(network)
}
