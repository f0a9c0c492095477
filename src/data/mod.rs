//! Image-folder datasets: scanning class folders, decoding and resizing every image once,
//! and batching with seeded shuffling and augmentation on a prefetch thread.

mod augment;
mod check;
mod decode;
mod loader;
mod manifest;
mod parallel;
mod preview;
mod scan;

pub use check::{DataReport, check_data};
pub use decode::{DecodedSplit, SkippedFile, decode_split};
pub use loader::{
    Batch, BatchLoader, Preprocess, default_workers, evaluation_order, shuffled_order,
};
pub use manifest::Manifest;
pub use parallel::map_in_parallel;
pub use preview::augment_preview;
pub use scan::{ScannedSplit, check_no_leakage, scan_source, scan_split};
