//! What an epoch of training produces, as recorded in the store and printed.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// The metrics of one epoch, as recorded in the store and printed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EpochMetrics {
    /// 1-based, as Keras prints it, counted over the whole run.
    pub epoch: usize,
    /// The phase the epoch belongs to (1-based; 1 without `[[phases]]`).
    #[serde(default = "first_phase")]
    pub phase: usize,
    pub loss: f64,
    pub accuracy: f64,
    pub val_loss: f64,
    pub val_accuracy: f64,
    /// The other requested metrics: `precision`, `val_auc`, ...
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub extra: BTreeMap<String, f64>,
    pub lr: f64,
    pub seconds: f64,
    /// Of `seconds`, the time training waited for the loader to hand over a batch.
    #[serde(default)]
    pub data_wait_seconds: f64,
}

impl EpochMetrics {
    /// The metric called `name` as the logs name it (`val_accuracy`, `val_precision`,
    /// `lr`, ...), if the epoch has it.
    pub fn value(&self, name: &str) -> Option<f64> {
        match name {
            "loss" => Some(self.loss),
            "accuracy" => Some(self.accuracy),
            "val_loss" => Some(self.val_loss),
            "val_accuracy" => Some(self.val_accuracy),
            "lr" => Some(self.lr),
            other => self.extra.get(other).copied(),
        }
    }
}

fn first_phase() -> usize {
    1
}
