//! Decoding every image of a split once, resized to the model's input size, on all cores.
//! A file that is not a readable image is skipped with a warning naming it.

use std::path::PathBuf;

use anyhow::Result;
use runner_image::decode_resized;

use super::ScannedSplit;
use super::parallel::map_in_parallel;
use crate::bail_input;
use crate::spec::ImageLimits;

/// A split's images as `[n, height, width, 3]` RGB bytes, with their labels.
#[derive(Debug)]
pub struct DecodedSplit {
    pub height: usize,
    pub width: usize,
    pub pixels: Vec<u8>,
    pub labels: Vec<u32>,
    pub skipped: Vec<SkippedFile>,
}

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct SkippedFile {
    pub path: PathBuf,
    pub reason: String,
}

impl DecodedSplit {
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    pub fn image(&self, index: usize) -> &[u8] {
        let size = self.height * self.width * 3;
        &self.pixels[index * size..(index + 1) * size]
    }
}

/// Decodes and resizes every file of the split to `[height, width]` (bilinear, antialiased).
/// Errors when a class is left without a single readable image.
pub fn decode_split(
    split: &str,
    scanned: &ScannedSplit,
    [height, width]: [u32; 2],
    limits: ImageLimits,
) -> Result<DecodedSplit> {
    let image_bytes = height as usize * width as usize * 3;
    let decoded = map_in_parallel(&scanned.files, |(path, _)| {
        decode_resized(path, width, height, limits)
    });
    let mut pixels = Vec::with_capacity(decoded.len() * image_bytes);
    let mut labels = Vec::with_capacity(decoded.len());
    let mut skipped = Vec::new();
    for ((path, label), result) in scanned.files.iter().zip(decoded) {
        match result {
            Ok(bytes) => {
                pixels.extend_from_slice(&bytes);
                labels.push(*label);
            }
            Err(reason) => {
                tracing::warn!("skipping {}: {reason}", path.display());
                skipped.push(SkippedFile {
                    path: path.clone(),
                    reason,
                });
            }
        }
    }
    for (class_index, class) in scanned.classes.iter().enumerate() {
        if !labels.iter().any(|&label| label as usize == class_index) {
            bail_input!(
                "the {split} class folder `{}` has no readable image",
                scanned.root.join(class).display()
            );
        }
    }
    Ok(DecodedSplit {
        height: height as usize,
        width: width as usize,
        pixels,
        labels,
        skipped,
    })
}
