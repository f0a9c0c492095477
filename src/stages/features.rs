//! The frozen prefix's output for every image of a split, computed once in file order.

use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Result, bail};
use burn::prelude::*;
use burn::tensor::DType;
use serde::{Deserialize, Serialize};

use super::files::{read_cached, write_cached};
use crate::data::{BatchLoader, DecodedSplit, Preprocess, SkippedFile};
use crate::model::FrozenFeatures;
use crate::progress::Activity;

const FEATURES_MAGIC: &str = "RUNNER-FEATURES-1";

pub struct Features {
    /// `[images, channels, height, width]`, on the device that trains.
    pub tensor: Tensor<4>,
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

    /// The features of the images at `indices`, in that order.
    pub fn select(&self, indices: &[usize]) -> Tensor<4> {
        let device = self.tensor.device();
        let indices = indices
            .iter()
            .map(|&index| index as i64)
            .collect::<Vec<_>>();
        let indices = Tensor::<1, Int>::from_ints(indices.as_slice(), &device);
        self.tensor.clone().select(0, indices)
    }

    /// Reads features cached by [`Features::write`] onto `device`.
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
        let data = TensorData::from_bytes_vec(payload, header.dims, DType::F32);
        Some(Self {
            tensor: Tensor::from_data(data, device),
            labels: header.labels,
            skipped: header.skipped,
        })
    }

    pub(super) fn write(&self, path: &Path) -> Result<()> {
        let data = self.tensor.to_data();
        let header = FeaturesHeader {
            dims: self.tensor.dims(),
            labels: self.labels.clone(),
            skipped: self.skipped.clone(),
        };
        write_cached(path, FEATURES_MAGIC, &header, data.as_bytes())
    }
}

/// Runs the frozen prefix over every image of `split`, in batches of `batch_size`.
pub fn extract_features(
    frozen: &FrozenFeatures,
    split: &Arc<DecodedSplit>,
    preprocess: Preprocess,
    batch_size: usize,
    device: &Device,
    activity: &Activity,
    label: &str,
) -> Result<Features> {
    let loader = BatchLoader::sequential(split.clone(), batch_size, preprocess);
    let bar = activity.progress_bar(loader.batches(), label);
    let started = Instant::now();
    let mut parts = Vec::new();
    for batch in loader {
        if activity.is_interrupted() {
            bail!("interrupted while computing {label}");
        }
        let shape = [batch.len(), 3, split.height, split.width];
        let images = Tensor::from_data(TensorData::new(batch.images, shape), device);
        parts.push(frozen.forward(images));
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
        tensor: Tensor::cat(parts, 0),
        labels: split.labels.clone(),
        skipped: split.skipped.clone(),
    })
}
