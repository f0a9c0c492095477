//! Stage results shared by epochs, trials and runs: each split's decoded images and the
//! frozen backbone's features, found by their stage key (see `runner_core::plan`) in this
//! process's memory, then in the store's cache folder, and computed only when in neither.

mod features;
mod files;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Instant;

use anyhow::{Context, Result, anyhow};
use burn::prelude::Device;
use serde::{Deserialize, Serialize};

use crate::data::{DecodedSplit, ScannedSplit, SkippedFile, decode_split};
use crate::spec::DataSpec;
use crate::store::Store;
pub use features::{Features, extract_features};

const DECODED_MAGIC: &str = "RUNNER-DECODED-1";

#[derive(Serialize, Deserialize)]
struct DecodedHeader {
    height: usize,
    width: usize,
    labels: Vec<u32>,
    skipped: Vec<SkippedFile>,
}

/// The stage results this process has, by key.
pub struct Stages {
    device: Device,
    decoded_dir: PathBuf,
    features_dir: PathBuf,
    decoded: HashMap<String, Arc<DecodedSplit>>,
    features: HashMap<String, Arc<Features>>,
    /// Decoded images being written to the cache, by key. A split's pixels (300 MB for
    /// 2000 images at 224x224) are written and synced to disk on a thread of their own while
    /// the backbone runs on them: that waits on the disk, not the CPU, and took 0.2-3.6 s
    /// per split of the main job on this machine's virtual disk.
    writing: HashMap<String, JoinHandle<Result<()>>>,
}

impl Stages {
    /// Stages of `store`, with features kept on `device`.
    pub fn new(store: &Store, device: &Device) -> Self {
        Self {
            device: device.clone(),
            decoded_dir: store.cache_dir("decoded"),
            features_dir: store.cache_dir("features"),
            decoded: HashMap::new(),
            features: HashMap::new(),
            writing: HashMap::new(),
        }
    }

    /// Whether the features with `key` are at hand without running the backbone.
    pub fn has_features(&self, key: &str) -> bool {
        self.features.contains_key(key) || self.features_file(key).is_file()
    }

    /// Whether the decoded images with `key` are at hand without decoding.
    pub fn has_decoded(&self, key: &str) -> bool {
        self.decoded.contains_key(key) || self.decoded_file(key).is_file()
    }

    /// The split's images decoded at `size`: from memory, the cache, or decoded now (and
    /// cached).
    pub fn decoded(
        &mut self,
        key: &str,
        split: &str,
        files: &ScannedSplit,
        data: &DataSpec,
    ) -> Result<Arc<DecodedSplit>> {
        let size = data.image_size;
        if let Some(decoded) = self.decoded.get(key) {
            return Ok(decoded.clone());
        }
        self.finish_writing(key)?;
        let path = self.decoded_file(key);
        let decoded = match files::read_cached::<DecodedHeader>(&path, DECODED_MAGIC) {
            // The file is read back from disk: its sizes are checked against the pipeline's
            // before any product of them is taken, so that none can overflow.
            Some((header, pixels))
                if [header.height, header.width] == size.map(|side| side as usize)
                    && header
                        .labels
                        .len()
                        .checked_mul(header.height * header.width * 3)
                        == Some(pixels.len()) =>
            {
                tracing::info!("{split} images: decoded before (stage {})", short(key));
                Arc::new(DecodedSplit {
                    height: header.height,
                    width: header.width,
                    pixels,
                    labels: header.labels,
                    skipped: header.skipped,
                })
            }
            _ => {
                let started = Instant::now();
                let decoded = decode_split(split, files, size, data.image_limits())?;
                tracing::info!(
                    "decoded {} {split} images at {}x{} in {:.1} s ({} skipped)",
                    decoded.len(),
                    size[0],
                    size[1],
                    started.elapsed().as_secs_f64(),
                    decoded.skipped.len()
                );
                let decoded = Arc::new(decoded);
                self.write_in_background(key, path, decoded.clone())?;
                decoded
            }
        };
        self.decoded.insert(key.to_string(), decoded.clone());
        Ok(decoded)
    }

    /// Writes `decoded` to the cache file `path` on a thread of its own.
    fn write_in_background(
        &mut self,
        key: &str,
        path: PathBuf,
        decoded: Arc<DecodedSplit>,
    ) -> Result<()> {
        let header = DecodedHeader {
            height: decoded.height,
            width: decoded.width,
            labels: decoded.labels.clone(),
            skipped: decoded.skipped.clone(),
        };
        let writer = std::thread::Builder::new()
            .name("cache-writer".into())
            .spawn(move || files::write_cached(&path, DECODED_MAGIC, &header, &decoded.pixels))
            .context("cannot start a thread to write the cache")?;
        self.writing.insert(key.to_string(), writer);
        Ok(())
    }

    /// Waits until the decoded images with `key` are in the cache folder, if they are
    /// being written; an error is the write's.
    fn finish_writing(&mut self, key: &str) -> Result<()> {
        self.writing.remove(key).map_or(Ok(()), joined)
    }

    /// The features with `key` from memory or the cache, when they are there and readable
    /// (a damaged cache file is reported and counts as missing).
    pub fn cached_features(&mut self, key: &str, label: &str) -> Option<Arc<Features>> {
        if let Some(features) = self.features.get(key) {
            return Some(features.clone());
        }
        let features = Arc::new(Features::read(&self.features_file(key), &self.device)?);
        tracing::info!(
            "{label}: computed before (stage {}), the backbone does not run",
            short(key)
        );
        self.features.insert(key.to_string(), features.clone());
        Some(features)
    }

    /// Keeps features computed now under `key`, in memory and in the cache.
    pub fn insert_features(&mut self, key: &str, features: Features) -> Result<Arc<Features>> {
        features.write(&self.features_file(key))?;
        let features = Arc::new(features);
        self.features.insert(key.to_string(), features.clone());
        Ok(features)
    }

    /// Lets go of the decoded images with `key` in memory once their features replace them
    /// (300 MB for 2000 images at 224x224); they stay in the cache folder for a trial that
    /// streams images.
    pub fn release_decoded(&mut self, key: &str) {
        self.decoded.remove(key);
    }

    /// Drops the results held in memory once they are all in the cache folder, where
    /// other processes (workers, Slurm tasks) read them.
    pub fn forget_in_memory(&mut self) -> Result<()> {
        let keys: Vec<String> = self.writing.keys().cloned().collect();
        for key in keys {
            self.finish_writing(&key)?;
        }
        self.decoded.clear();
        self.features.clear();
        Ok(())
    }

    fn decoded_file(&self, key: &str) -> PathBuf {
        self.decoded_dir.join(format!("{key}.bin"))
    }

    fn features_file(&self, key: &str) -> PathBuf {
        self.features_dir.join(format!("{key}.bin"))
    }
}

impl Drop for Stages {
    /// Lets the cache writes end, so that the cache folder has every result when the run is
    /// over. A write that fails here loses only the cached copy: it is reported, and the
    /// stage is computed again when it is next needed.
    fn drop(&mut self) {
        for (_, writer) in self.writing.drain() {
            if let Err(error) = joined(writer) {
                tracing::warn!("{error:#}; it will be computed again");
            }
        }
    }
}

/// What a cache writer thread ended with: its write's error, or that it panicked.
fn joined(writer: JoinHandle<Result<()>>) -> Result<()> {
    writer
        .join()
        .map_err(|_| anyhow!("the thread writing a cache file panicked"))?
}

/// The first 12 hex digits of a key, as shown in logs and plans.
pub fn short(key: &str) -> &str {
    &key[..key.len().min(12)]
}
