//! Image-folder datasets: scanning class folders, decoding and resizing every image once,
//! and batching with seeded shuffling and augmentation on a prefetch thread.

mod augment;
mod decode;
mod loader;
mod manifest;
mod scan;

pub use decode::{DecodedSplit, SkippedFile, decode_resized, decode_split};
pub use loader::{Batch, BatchLoader, Preprocess, default_workers, shuffled_order};
pub use manifest::Manifest;
pub use scan::{ScannedSplit, scan_split};
