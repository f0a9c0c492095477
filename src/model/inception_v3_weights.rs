//! InceptionV3's pretrained weights: torchvision's `.pth`, which fixes the convention the
//! network runs with.

use std::path::Path;

use anyhow::Result;
use burn::prelude::*;

use super::inception_v3::{Convention, InceptionV3, TORCH_KEY_REMAPPING};
use super::weights::{check_exists, load_pytorch};
use crate::bail_input;
use crate::spec::Arch;

/// InceptionV3 with the weights of `file`, or freshly initialized (Keras' convention) for
/// `None`.
pub fn pretrained(file: Option<&Path>, device: &Device) -> Result<InceptionV3> {
    let Some(file) = file else {
        return Ok(InceptionV3::new(Convention::Keras, device));
    };
    check_exists(file, Arch::InceptionV3)?;
    let extension = file
        .extension()
        .map(|extension| extension.to_string_lossy().to_lowercase());
    match extension.as_deref() {
        Some("pth" | "pt") => {
            let mut network = InceptionV3::new(Convention::Torchvision, device);
            load_pytorch(&mut network, file, &TORCH_KEY_REMAPPING, Arch::InceptionV3)?;
            Ok(network)
        }
        _ => bail_input!(
            "`{}`: inception_v3 loads torchvision weights (`.pth`)",
            file.display()
        ),
    }
}
