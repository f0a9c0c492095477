//! Batches for one pass over a split: a seeded order and seeded per-image augmentation,
//! assembled into contiguous `[batch, 3, height, width]` floats on a prefetch thread that
//! stays at most two batches ahead.

use std::sync::Arc;
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::thread::JoinHandle;

use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::DecodedSplit;
use crate::spec::AugmentSpec;

/// How a backbone wants its input: `value = byte * scale + offset`, per channel.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Preprocess {
    pub scale: [f32; 3],
    pub offset: [f32; 3],
}

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

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Flip {
    horizontal: bool,
    vertical: bool,
}

const ORDER_STREAM: u64 = 1;
const AUGMENT_STREAM: u64 = 2;

/// The order of training pass `epoch`: a permutation drawn from `seed` and `epoch` alone.
pub fn shuffled_order(len: usize, seed: u64, epoch: usize) -> Vec<usize> {
    let mut order = (0..len).collect::<Vec<_>>();
    order.shuffle(&mut epoch_rng(seed, epoch, ORDER_STREAM));
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

/// Iterates over the batches of one pass; dropping it stops the prefetch thread.
pub struct BatchLoader {
    receiver: Option<Receiver<Batch>>,
    worker: Option<JoinHandle<()>>,
    batches: usize,
}

impl BatchLoader {
    /// A pass in file order with no augmentation (validation, feature extraction).
    pub fn sequential(split: Arc<DecodedSplit>, batch_size: usize, preprocess: Preprocess) -> Self {
        let order = (0..split.len()).collect::<Vec<_>>();
        let flips = vec![Flip::default(); order.len()];
        Self::start(split, batch_size, preprocess, order, flips)
    }

    /// A training pass: shuffled, and augmented as the spec says. Everything random is drawn
    /// here, from `seed` and `epoch` alone, so the batches do not depend on threading.
    pub fn shuffled(
        split: Arc<DecodedSplit>,
        batch_size: usize,
        preprocess: Preprocess,
        augment: &AugmentSpec,
        seed: u64,
        epoch: usize,
    ) -> Self {
        let order = shuffled_order(split.len(), seed, epoch);
        let mut rng = epoch_rng(seed, epoch, AUGMENT_STREAM);
        let flips = order
            .iter()
            .map(|_| Flip {
                horizontal: augment.horizontal_flip && rng.random_bool(0.5),
                vertical: augment.vertical_flip && rng.random_bool(0.5),
            })
            .collect();
        Self::start(split, batch_size, preprocess, order, flips)
    }

    fn start(
        split: Arc<DecodedSplit>,
        batch_size: usize,
        preprocess: Preprocess,
        order: Vec<usize>,
        flips: Vec<Flip>,
    ) -> Self {
        let batches = order.len().div_ceil(batch_size);
        let (sender, receiver) = sync_channel(2);
        let worker = std::thread::spawn(move || {
            assemble_batches(&split, batch_size, preprocess, &order, &flips, sender)
        });
        Self {
            receiver: Some(receiver),
            worker: Some(worker),
            batches,
        }
    }

    /// The number of batches this pass yields.
    pub fn batches(&self) -> usize {
        self.batches
    }
}

impl Iterator for BatchLoader {
    type Item = Batch;

    fn next(&mut self) -> Option<Batch> {
        self.receiver.as_ref()?.recv().ok()
    }
}

impl Drop for BatchLoader {
    fn drop(&mut self) {
        // Closing the channel first makes a blocked worker's send fail, so the join returns.
        self.receiver.take();
        if let Some(worker) = self.worker.take() {
            let _ = worker.join();
        }
    }
}

fn assemble_batches(
    split: &DecodedSplit,
    batch_size: usize,
    preprocess: Preprocess,
    order: &[usize],
    flips: &[Flip],
    sender: SyncSender<Batch>,
) {
    let (height, width) = (split.height, split.width);
    let plane = height * width;
    for (indices, flips) in order.chunks(batch_size).zip(flips.chunks(batch_size)) {
        let mut images = vec![0f32; indices.len() * 3 * plane];
        for (slot, (&index, flip)) in indices.iter().zip(flips).enumerate() {
            let source = split.image(index);
            let target = &mut images[slot * 3 * plane..(slot + 1) * 3 * plane];
            for y in 0..height {
                let source_y = if flip.vertical { height - 1 - y } else { y };
                for x in 0..width {
                    let source_x = if flip.horizontal { width - 1 - x } else { x };
                    let pixel = &source[(source_y * width + source_x) * 3..][..3];
                    for channel in 0..3 {
                        target[channel * plane + y * width + x] = f32::from(pixel[channel])
                            * preprocess.scale[channel]
                            + preprocess.offset[channel];
                    }
                }
            }
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
            vertical_flip: false,
        };
        // Over many images, every red plane is either [1,2,3,4] or its mirror [2,1,4,3].
        let split = split_of(&[image; 64]);
        let mut mirrored = 0;
        for batch in BatchLoader::shuffled(split, 64, IDENTITY, &augment, 7, 0) {
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
    fn the_same_seed_gives_the_same_batches() {
        let images: Vec<[u8; 12]> = (0..20u8).map(|i| [i; 12]).collect();
        let augment = AugmentSpec {
            horizontal_flip: true,
            vertical_flip: true,
        };
        let run = |seed| {
            BatchLoader::shuffled(split_of(&images), 8, IDENTITY, &augment, seed, 3)
                .flat_map(|batch| batch.labels)
                .collect::<Vec<_>>()
        };
        assert_eq!(run(1), run(1));
        assert_ne!(run(1), run(2));
    }
}
