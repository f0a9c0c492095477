//! Running sums of loss and accuracy over an epoch.

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
