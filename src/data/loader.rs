//! Batches for one pass over a split: a seeded order and seeded per-image augmentation,
//! assembled into contiguous `[batch, 3, height, width]` floats by worker threads that
//! each stay at most one batch ahead. Everything random is drawn up front, on the calling
//! thread, so the batches do not depend on the number of workers.

use std::sync::Arc;
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::thread::JoinHandle;

use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;

pub use crate::arch::Preprocess;

use super::DecodedSplit;
use super::augment::{Transform, sample_transform};
use crate::spec::{AugmentSpec, FillMode, Seeds};

/// One batch, ready to become a tensor.
#[derive(Debug)]
pub struct Batch {
    /// `[len, 3, height, width]`, row-major.
    pub images: Vec<f32>,
    pub labels: Vec<u32>,
}

impl Batch {
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }
}

const ORDER_STREAM: u64 = 1;
const AUGMENT_STREAM: u64 = 2;
const EVALUATION_ORDER_STREAM: u64 = 3;

/// The order of training pass `epoch`: a permutation drawn from `seed` and `epoch` alone.
pub fn shuffled_order(len: usize, seed: u64, epoch: usize) -> Vec<usize> {
    let mut order = (0..len).collect::<Vec<_>>();
    order.shuffle(&mut epoch_rng(seed, epoch, ORDER_STREAM));
    order
}

/// The order in which epoch `epoch` evaluates a split that it evaluates only part of
/// (`validation_steps`): a permutation drawn afresh each epoch, as Keras' shuffling
/// generator reshuffles at every epoch's end, from a stream of its own so that it does
/// not follow the training order.
pub fn evaluation_order(len: usize, seed: u64, epoch: usize) -> Vec<usize> {
    let mut order = (0..len).collect::<Vec<_>>();
    order.shuffle(&mut epoch_rng(seed, epoch, EVALUATION_ORDER_STREAM));
    order
}

/// An independent RNG per (seed, epoch, purpose), so that adding augmentation does not
/// change the order of the images.
fn epoch_rng(seed: u64, epoch: usize, stream: u64) -> ChaCha8Rng {
    let mut mixed = seed;
    for word in [epoch as u64, stream] {
        mixed = (mixed ^ word)
            .wrapping_mul(0x9E37_79B9_7F4A_7C15)
            .rotate_left(29);
    }
    ChaCha8Rng::seed_from_u64(mixed)
}

/// What every worker of a pass needs.
struct Pass {
    split: Arc<DecodedSplit>,
    batch_size: usize,
    preprocess: Preprocess,
    order: Vec<usize>,
    /// One per entry of `order`; `None` when the pass is not augmented.
    transforms: Option<Vec<Transform>>,
    fill_mode: FillMode,
    cval: f32,
}

/// Iterates over the batches of one pass; dropping it stops the workers.
pub struct BatchLoader {
    /// Worker `w` assembles batches `w`, `w + workers`, ...; reading the receivers in
    /// turn gives the batches in order.
    receivers: Vec<Receiver<Batch>>,
    workers: Vec<JoinHandle<()>>,
    next: usize,
    batches: usize,
}

impl BatchLoader {
    /// A pass in file order with no augmentation (validation, feature extraction).
    pub fn sequential(split: Arc<DecodedSplit>, batch_size: usize, preprocess: Preprocess) -> Self {
        let order = (0..split.len()).collect::<Vec<_>>();
        Self::in_order(split, batch_size, preprocess, order)
    }

    /// A pass over the images at `order` (indices into the split, possibly only some of
    /// them), with no augmentation.
    pub fn in_order(
        split: Arc<DecodedSplit>,
        batch_size: usize,
        preprocess: Preprocess,
        order: Vec<usize>,
    ) -> Self {
        let pass = Pass {
            split,
            batch_size,
            preprocess,
            order,
            transforms: None,
            fill_mode: FillMode::Nearest,
            cval: 0.0,
        };
        Self::start(pass, 0, default_workers())
    }

    /// Training pass number `epoch`: shuffled, and augmented as the spec says, from batch
    /// `first_batch` on (an epoch of `steps_per_epoch` batches can start inside a pass),
    /// with `workers` threads.
    #[allow(clippy::too_many_arguments)]
    pub fn shuffled(
        split: Arc<DecodedSplit>,
        batch_size: usize,
        preprocess: Preprocess,
        augment: &AugmentSpec,
        seeds: Seeds,
        epoch: usize,
        first_batch: usize,
        workers: usize,
    ) -> Self {
        let order = shuffled_order(split.len(), seeds.shuffle, epoch);
        let transforms = (!augment.is_identity()).then(|| {
            let mut rng = epoch_rng(seeds.augmentation, epoch, AUGMENT_STREAM);
            order
                .iter()
                .map(|_| sample_transform(augment, &mut rng, split.height, split.width))
                .collect()
        });
        let pass = Pass {
            split,
            batch_size,
            preprocess,
            order,
            transforms,
            fill_mode: augment.fill_mode,
            cval: augment.cval as f32,
        };
        Self::start(pass, first_batch, workers)
    }

    fn start(pass: Pass, first_batch: usize, workers: usize) -> Self {
        let total = pass.order.len().div_ceil(pass.batch_size);
        let batches = total.saturating_sub(first_batch);
        let workers = workers.clamp(1, batches.max(1));
        let pass = Arc::new(pass);
        let (receivers, handles) = (0..workers)
            .map(|worker| {
                let (sender, receiver) = sync_channel(1);
                let pass = pass.clone();
                let handle = std::thread::spawn(move || {
                    let mine = (first_batch + worker..total).step_by(workers);
                    assemble_batches(&pass, mine, sender);
                });
                (receiver, handle)
            })
            .unzip();
        Self {
            receivers,
            workers: handles,
            next: 0,
            batches,
        }
    }

    /// The number of batches this pass yields.
    pub fn batches(&self) -> usize {
        self.batches
    }
}

/// One worker per core: decoding is done, what is left is copying, scaling and warping.
pub fn default_workers() -> usize {
    std::thread::available_parallelism().map_or(1, std::num::NonZero::get)
}

impl Iterator for BatchLoader {
    type Item = Batch;

    fn next(&mut self) -> Option<Batch> {
        if self.next >= self.batches {
            return None;
        }
        let batch = self.receivers[self.next % self.receivers.len()]
            .recv()
            .ok()?;
        self.next += 1;
        Some(batch)
    }
}

impl Drop for BatchLoader {
    fn drop(&mut self) {
        // Closing the channels first makes a blocked worker's send fail, so the joins return.
        self.receivers.clear();
        for worker in self.workers.drain(..) {
            let _ = worker.join();
        }
    }
}

fn assemble_batches(pass: &Pass, batches: impl Iterator<Item = usize>, sender: SyncSender<Batch>) {
    let split = &pass.split;
    let (height, width) = (split.height, split.width);
    let image_floats = 3 * height * width;
    for batch in batches {
        let first = batch * pass.batch_size;
        let indices = &pass.order[first..(first + pass.batch_size).min(pass.order.len())];
        let mut images = vec![0f32; indices.len() * image_floats];
        for (slot, &index) in indices.iter().enumerate() {
            let transform = match &pass.transforms {
                Some(transforms) => &transforms[first + slot],
                None => &Transform::identity(),
            };
            transform.apply(
                split.image(index),
                height,
                width,
                pass.fill_mode,
                pass.cval,
                pass.preprocess.scale,
                pass.preprocess.offset,
                &mut images[slot * image_floats..(slot + 1) * image_floats],
            );
        }
        let labels = indices.iter().map(|&index| split.labels[index]).collect();
        if sender.send(Batch { images, labels }).is_err() {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split_of(images: &[[u8; 12]]) -> Arc<DecodedSplit> {
        Arc::new(DecodedSplit {
            height: 2,
            width: 2,
            pixels: images.iter().flatten().copied().collect(),
            labels: (0..images.len() as u32).collect(),
            skipped: Vec::new(),
        })
    }

    const IDENTITY: Preprocess = Preprocess {
        scale: [1.0; 3],
        offset: [0.0; 3],
    };

    #[test]
    fn sequential_pass_is_channels_first_and_in_order() {
        // One 2x2 image whose red channel counts 1..4 in row-major order.
        let image = [1, 10, 20, 2, 11, 21, 3, 12, 22, 4, 13, 23];
        let batches: Vec<Batch> =
            BatchLoader::sequential(split_of(&[image, image, image]), 2, IDENTITY).collect();
        assert_eq!(batches.len(), 2);
        assert_eq!(batches[0].labels, vec![0, 1]);
        assert_eq!(
            &batches[0].images[..12],
            &[1., 2., 3., 4., 10., 11., 12., 13., 20., 21., 22., 23.]
        );
        assert_eq!(batches[1].len(), 1);
    }

    #[test]
    fn horizontal_flip_mirrors_columns() {
        let image = [1, 0, 0, 2, 0, 0, 3, 0, 0, 4, 0, 0];
        let augment = AugmentSpec {
            horizontal_flip: true,
            ..AugmentSpec::default()
        };
        // Over many images, every red plane is either [1,2,3,4] or its mirror [2,1,4,3].
        let split = split_of(&[image; 64]);
        let mut mirrored = 0;
        for batch in BatchLoader::shuffled(split, 64, IDENTITY, &augment, Seeds::all(7), 0, 0, 2) {
            for slot in 0..batch.len() {
                let red = &batch.images[slot * 12..slot * 12 + 4];
                if red == [2., 1., 4., 3.] {
                    mirrored += 1;
                } else {
                    assert_eq!(red, [1., 2., 3., 4.]);
                }
            }
        }
        assert!((16..=48).contains(&mirrored), "{mirrored} of 64 flipped");
    }

    #[test]
    fn the_same_seed_gives_the_same_batches_whatever_the_number_of_workers() {
        let images: Vec<[u8; 12]> = (0..20u8).map(|i| [i * 10; 12]).collect();
        let augment = AugmentSpec {
            horizontal_flip: true,
            vertical_flip: true,
            rotation_range: 40.0,
            zoom_range: crate::spec::ZoomRange::Symmetric(0.3),
            channel_shift_range: 20.0,
            ..AugmentSpec::default()
        };
        let run = |seed, workers| {
            BatchLoader::shuffled(
                split_of(&images),
                3,
                IDENTITY,
                &augment,
                Seeds::all(seed),
                3,
                0,
                workers,
            )
            .map(|batch| (batch.labels, batch.images))
            .collect::<Vec<_>>()
        };
        let one_worker = run(1, 1);
        assert_eq!(one_worker.len(), 7);
        assert_eq!(one_worker, run(1, 3));
        assert_eq!(one_worker, run(1, 8));
        assert_ne!(one_worker, run(2, 1));
    }

    #[test]
    fn dropping_a_pass_early_stops_its_workers() {
        let images: Vec<[u8; 12]> = (0..50u8).map(|i| [i; 12]).collect();
        let mut loader = BatchLoader::sequential(split_of(&images), 2, IDENTITY);
        assert!(loader.next().is_some());
        drop(loader); // joins the workers; hangs here if one stayed blocked
    }
}
