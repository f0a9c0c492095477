//! What an epoch of training produces, as recorded in the store and printed.

use serde::{Deserialize, Serialize};

/// The metrics of one epoch, as recorded in the store and printed.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct EpochMetrics {
    /// 1-based, as Keras prints it.
    pub epoch: usize,
    pub loss: f64,
    pub accuracy: f64,
    pub val_loss: f64,
    pub val_accuracy: f64,
    pub lr: f64,
    pub seconds: f64,
    /// Of `seconds`, the time training waited for the loader to hand over a batch.
    #[serde(default)]
    pub data_wait_seconds: f64,
}
