//! Data-loading throughput on the shared cats/dogs training images at 150x150 with the
//! course's augmentation (rotation 40, shifts 0.2, shear 0.2, zoom 0.2, horizontal flip,
//! nearest fill, rescale 1/255), batches of 32, one worker per core:
//!   - first epoch: decode + resize every JPEG, then an augmented pass;
//!   - later epochs: an augmented pass over the images decoded in the first (what every
//!     epoch after the first costs in a run).
//!
//! Prints images per second, median of 3. Compare with bench/reference_loaders.py (Keras'
//! ImageDataGenerator and torchvision, which decode every epoch).
//!
//!     scripts/setup.sh && cargo bench --bench loader_throughput

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use runner::data::{BatchLoader, Preprocess, decode_split, default_workers, scan_split};
use runner::spec::ImageLimits;
use runner::spec::{AugmentSpec, FillMode, Seeds, ZoomRange};

const SIZE: u32 = 150;
const BATCH: usize = 32;
const REPEATS: usize = 3;

fn main() {
    // As `runner-torch` does at start-up (see src/allocator.rs).
    runner::allocator::keep_freed_memory();
    let train = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("data/cats_and_dogs/train");
    let files = scan_split("training", &train, None)
        .unwrap_or_else(|err| panic!("{err:#} (run scripts/setup.sh to link the data)"));
    let augment = AugmentSpec {
        rescale: Some(1.0 / 255.0),
        rotation_range: 40.0,
        width_shift_range: 0.2,
        height_shift_range: 0.2,
        shear_range: 0.2,
        zoom_range: ZoomRange::Symmetric(0.2),
        horizontal_flip: true,
        fill_mode: FillMode::Nearest,
        ..AugmentSpec::default()
    };
    let preprocess = Preprocess {
        scale: [1.0 / 255.0; 3],
        offset: [0.0; 3],
    };
    let workers = default_workers();
    let images = files.files.len() as f64;
    let mut first = Vec::new();
    let mut later = Vec::new();
    for repeat in 0..REPEATS {
        let started = Instant::now();
        let decoded = Arc::new(
            decode_split("training", &files, [SIZE, SIZE], ImageLimits::default())
                .expect("decodes"),
        );
        let pass = |epoch| {
            BatchLoader::shuffled(
                decoded.clone(),
                BATCH,
                preprocess,
                &augment,
                Seeds::all(42),
                epoch,
                0,
                workers,
            )
            .map(|batch| batch.len())
            .sum::<usize>()
        };
        assert_eq!(pass(1), files.files.len());
        first.push(images / started.elapsed().as_secs_f64());
        let started = Instant::now();
        pass(2 + repeat);
        later.push(images / started.elapsed().as_secs_f64());
    }
    let median = |values: &mut Vec<f64>| {
        values.sort_by(f64::total_cmp);
        values[values.len() / 2]
    };
    println!(
        "{{\"images\": {images}, \"workers\": {workers}, \"first_epoch_images_per_second\": {:.1}, \"later_epochs_images_per_second\": {:.1}}}",
        median(&mut first),
        median(&mut later)
    );
}
