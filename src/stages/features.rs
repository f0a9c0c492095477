//! The frozen prefix's output for every image of a split, computed once in file order.

// Burn deprecates its LibTorch backend; this project is built on it (see src/device.rs).
#![allow(deprecated)]

use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Result, bail};
use burn::backend::LibTorch;
use burn::backend::libtorch::TchTensor;
use burn::prelude::*;
use serde::{Deserialize, Serialize};

use super::files::{read_cached, write_cached};
use crate::data::{BatchLoader, DecodedSplit, SkippedFile};
use crate::model::Classifier;
use crate::progress::Activity;

const FEATURES_MAGIC: &str = "RUNNER-FEATURES-1";

/// A split's features, kept in host memory as the cache file holds them: float32 in native
/// byte order, image after image (each `[channels, height, width]`). Batches are copied out
/// to the training device as they are needed (8 MB for 32 of the main job's images), so a
/// split's features exist once: one LibTorch tensor of them, built by concatenating the
/// batches and copied again to be written, held the main job at 3.6 GB.
pub struct Features {
    bytes: Vec<u8>,
    /// `[images, channels, height, width]`.
    dims: [usize; 4],
    /// Where batches go: the device that trains.
    device: Device,
    pub labels: Vec<u32>,
    /// The split's files that were not readable images, as the decoding found them.
    pub skipped: Vec<SkippedFile>,
}

#[derive(Serialize, Deserialize)]
struct FeaturesHeader {
    dims: [usize; 4],
    labels: Vec<u32>,
    skipped: Vec<SkippedFile>,
}

impl Features {
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// The features of the images at `indices`, in that order, on the training device.
    pub fn select(&self, indices: &[usize]) -> Tensor<4> {
        let [_, channels, height, width] = self.dims;
        let image_bytes = channels * height * width * std::mem::size_of::<f32>();
        let shape = [indices.len(), channels, height, width];
        if indices.is_empty() || image_bytes == 0 {
            return Tensor::zeros(shape, &self.device);
        }
        // Gathered straight into a new LibTorch tensor: one copy of the batch, not two.
        let batch = tch::Tensor::empty(
            shape.map(|side| side as i64),
            (tch::Kind::Float, tch::Device::Cpu),
        );
        // SAFETY: `batch` is a new, contiguous, non-empty float32 CPU tensor of exactly
        // `indices.len() * image_bytes` bytes, written only through this slice while alive.
        let out = unsafe {
            std::slice::from_raw_parts_mut(
                batch.data_ptr().cast::<u8>(),
                indices.len() * image_bytes,
            )
        };
        for (slot, &index) in out.chunks_exact_mut(image_bytes).zip(indices) {
            slot.copy_from_slice(&self.bytes[index * image_bytes..][..image_bytes]);
        }
        Tensor::from_primitive::<LibTorch>(TchTensor::new(batch)).to_device(&self.device)
    }

    /// Reads features cached by [`Features::write`], for training on `device`.
    pub(super) fn read(path: &Path, device: &Device) -> Option<Self> {
        let (header, payload) = read_cached::<FeaturesHeader>(path, FEATURES_MAGIC)?;
        // The header is read back from disk: its sizes are multiplied with checks, so a
        // damaged one is recomputed rather than overflowing.
        let bytes = header
            .dims
            .iter()
            .try_fold(4usize, |product, &dim| product.checked_mul(dim));
        if bytes != Some(payload.len()) || header.labels.len() != header.dims[0] {
            tracing::warn!(
                "ignoring the damaged cache file `{}` (its header does not match its size); computing it again",
                path.display()
            );
            return None;
        }
        // The payload is f32 in native byte order, as it was written on this machine kind.
        Some(Self {
            bytes: payload,
            dims: header.dims,
            device: device.clone(),
            labels: header.labels,
            skipped: header.skipped,
        })
    }

    pub(super) fn write(&self, path: &Path) -> Result<()> {
        let header = FeaturesHeader {
            dims: self.dims,
            labels: self.labels.clone(),
            skipped: self.skipped.clone(),
        };
        write_cached(path, FEATURES_MAGIC, &header, &self.bytes)
    }
}

/// Runs the classifier's frozen prefix over every image of `split`, in batches of
/// `batch_size`.
pub fn extract_features(
    classifier: &Classifier,
    split: &Arc<DecodedSplit>,
    batch_size: usize,
    device: &Device,
    activity: &Activity,
    label: &str,
) -> Result<Features> {
    let [channels, height, width] = classifier.frozen_output_shape;
    let image_bytes = channels * height * width * std::mem::size_of::<f32>();
    let loader = BatchLoader::sequential(split.clone(), batch_size, classifier.preprocess);
    let bar = activity.progress_bar(loader.batches(), label);
    let started = Instant::now();
    let mut bytes = Vec::with_capacity(image_bytes * split.len());
    for batch in loader {
        if activity.is_interrupted() {
            bail!("interrupted while computing {label}");
        }
        let shape = [batch.len(), 3, split.height, split.width];
        let images = Tensor::from_data(TensorData::new(batch.images, shape), device);
        let features = classifier.frozen.forward(images);
        // `into_data` reads the values in NCHW order, whatever the layout they ran in.
        bytes.extend_from_slice(features.into_data().as_bytes());
        (activity.heartbeat)();
        bar.inc(1);
    }
    bar.finish_and_clear();
    tracing::info!(
        "computed {label} for {} images ({:.1} s, {:.1} images/s)",
        split.len(),
        started.elapsed().as_secs_f64(),
        split.len() as f64 / started.elapsed().as_secs_f64()
    );
    Ok(Features {
        bytes,
        dims: [split.len(), channels, height, width],
        device: device.clone(),
        labels: split.labels.clone(),
        skipped: split.skipped.clone(),
    })
}
