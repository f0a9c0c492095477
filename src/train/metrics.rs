//! Running sums of loss and accuracy over an epoch.

use serde::{Deserialize, Serialize};

/// Loss and accuracy of one pass, weighted by batch size.
#[derive(Debug, Default, Clone, Copy)]
pub struct RunningMetrics {
    loss_sum: f64,
    correct: usize,
    seen: usize,
}

impl RunningMetrics {
    pub fn add_batch(&mut self, mean_loss: f64, predicted: &[u32], labels: &[u32]) {
        self.loss_sum += mean_loss * labels.len() as f64;
        self.correct += predicted.iter().zip(labels).filter(|(p, l)| p == l).count();
        self.seen += labels.len();
    }

    pub fn loss(&self) -> f64 {
        self.loss_sum / self.seen.max(1) as f64
    }

    pub fn accuracy(&self) -> f64 {
        self.correct as f64 / self.seen.max(1) as f64
    }
}

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
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weights_batches_by_size() {
        let mut metrics = RunningMetrics::default();
        metrics.add_batch(1.0, &[1, 1], &[1, 0]);
        metrics.add_batch(4.0, &[0], &[0]);
        assert!((metrics.loss() - 2.0).abs() < 1e-12);
        assert!((metrics.accuracy() - 2.0 / 3.0).abs() < 1e-12);
    }
}
