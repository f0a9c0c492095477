//! The seed of each random source of a run, as the run records it.

use serde::{Deserialize, Serialize};

use super::types::PipelineSection;

/// What seeds each random source of a run. Each is `pipeline.seed`; the sources that draw
/// per epoch (shuffling, augmentation, dropout) mix the epoch and a stream of their own into
/// it, so that turning one on or off (augmentation, say) does not change what the others
/// draw.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Seeds {
    /// Freshly initialized weights: the head, and the backbone with `weights = "none"`.
    pub weight_init: u64,
    /// Which training images `data.validation_split` holds out.
    pub validation_split: u64,
    /// The order of the training images in each epoch.
    pub shuffle: u64,
    /// Each training image's augmentation parameters in each epoch.
    pub augmentation: u64,
    /// Dropout masks in each epoch.
    pub dropout: u64,
}

impl Seeds {
    /// Every source seeded with `seed`.
    pub fn all(seed: u64) -> Self {
        Seeds {
            weight_init: seed,
            validation_split: seed,
            shuffle: seed,
            augmentation: seed,
            dropout: seed,
        }
    }
}

impl PipelineSection {
    pub fn seeds(&self) -> Seeds {
        Seeds::all(self.seed)
    }
}
