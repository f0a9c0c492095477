//! What one pass over a split measured: loss and accuracy, a confusion matrix, and for
//! two classes precision, recall, F1 and ROC AUC (class 1 is the positive class, as in
//! Keras' binary metrics).

use std::collections::BTreeMap;

use crate::spec::Metric;

/// Sums over a pass, weighted by batch size.
#[derive(Debug, Clone)]
pub struct RunningMetrics {
    loss_sum: f64,
    seen: usize,
    /// `confusion[label][predicted]`.
    confusion: Vec<Vec<usize>>,
    /// `(probability of class 1, label)` of every image, for AUC; two classes only.
    scores: Vec<(f32, u32)>,
}

impl RunningMetrics {
    pub fn new(classes: usize) -> Self {
        Self {
            loss_sum: 0.0,
            seen: 0,
            confusion: vec![vec![0; classes]; classes],
            scores: Vec::new(),
        }
    }

    /// Adds a batch: its mean loss, predicted classes and labels, and for two classes the
    /// predicted probability of class 1 (empty otherwise).
    pub fn add_batch(
        &mut self,
        mean_loss: f64,
        predicted: &[u32],
        labels: &[u32],
        positive: &[f32],
    ) {
        self.loss_sum += mean_loss * labels.len() as f64;
        self.seen += labels.len();
        for (&label, &prediction) in labels.iter().zip(predicted) {
            self.confusion[label as usize][prediction as usize] += 1;
        }
        self.scores
            .extend(positive.iter().copied().zip(labels.iter().copied()));
    }

    pub fn loss(&self) -> f64 {
        self.loss_sum / self.seen.max(1) as f64
    }

    pub fn accuracy(&self) -> f64 {
        let correct: usize = (0..self.confusion.len())
            .map(|class| self.confusion[class][class])
            .sum();
        correct as f64 / self.seen.max(1) as f64
    }

    pub fn confusion_matrix(&self) -> &[Vec<usize>] {
        &self.confusion
    }

    /// The requested metrics beyond loss and accuracy, by name (`precision`, ...); the
    /// two-class ones are left out for more classes.
    pub fn extra(&self, metrics: &[Metric]) -> BTreeMap<String, f64> {
        if self.confusion.len() != 2 {
            return BTreeMap::new();
        }
        let [[_, false_positive], [false_negative, true_positive]] =
            [0, 1].map(|label| [self.confusion[label][0], self.confusion[label][1]]);
        let ratio = |part: usize, whole: usize| {
            if whole == 0 {
                0.0
            } else {
                part as f64 / whole as f64
            }
        };
        let precision = ratio(true_positive, true_positive + false_positive);
        let recall = ratio(true_positive, true_positive + false_negative);
        let f1 = if precision + recall == 0.0 {
            0.0
        } else {
            2.0 * precision * recall / (precision + recall)
        };
        metrics
            .iter()
            .filter_map(|metric| {
                let value = match metric {
                    Metric::Accuracy => return None,
                    Metric::Precision => precision,
                    Metric::Recall => recall,
                    Metric::F1 => f1,
                    Metric::Auc => roc_auc(&self.scores),
                };
                Some((metric.name().to_string(), value))
            })
            .collect()
    }
}

/// The probability that a random positive scores above a random negative (ties count
/// half): the area under the ROC curve, by ranking. 0.5 when a class is missing.
fn roc_auc(scores: &[(f32, u32)]) -> f64 {
    let mut sorted = scores.to_vec();
    sorted.sort_by(|a, b| a.0.total_cmp(&b.0));
    let positives = sorted.iter().filter(|(_, label)| *label == 1).count();
    let negatives = sorted.len() - positives;
    if positives == 0 || negatives == 0 {
        return 0.5;
    }
    // Sum of the (average, for ties) ranks of the positives.
    let mut rank_sum = 0.0;
    let mut start = 0;
    while start < sorted.len() {
        let end = start
            + sorted[start..]
                .iter()
                .take_while(|(score, _)| *score == sorted[start].0)
                .count();
        let average_rank = (start + 1 + end) as f64 / 2.0;
        rank_sum += average_rank
            * sorted[start..end]
                .iter()
                .filter(|(_, label)| *label == 1)
                .count() as f64;
        start = end;
    }
    (rank_sum - (positives * (positives + 1)) as f64 / 2.0) / (positives * negatives) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weights_batches_by_size() {
        let mut metrics = RunningMetrics::new(2);
        metrics.add_batch(1.0, &[1, 1], &[1, 0], &[]);
        metrics.add_batch(4.0, &[0], &[0], &[]);
        assert!((metrics.loss() - 2.0).abs() < 1e-12);
        assert!((metrics.accuracy() - 2.0 / 3.0).abs() < 1e-12);
        assert_eq!(metrics.confusion_matrix(), [vec![1, 1], vec![0, 1]]);
    }

    #[test]
    fn precision_recall_f1_and_auc() {
        let mut metrics = RunningMetrics::new(2);
        // labels:     1    1    1    0    0
        // predicted:  1    1    0    1    0
        // p(class 1): 0.9  0.8  0.3  0.7  0.1
        metrics.add_batch(
            0.5,
            &[1, 1, 0, 1, 0],
            &[1, 1, 1, 0, 0],
            &[0.9, 0.8, 0.3, 0.7, 0.1],
        );
        let all = [
            Metric::Accuracy,
            Metric::Precision,
            Metric::Recall,
            Metric::F1,
            Metric::Auc,
        ];
        let extra = metrics.extra(&all);
        assert!((extra["precision"] - 2.0 / 3.0).abs() < 1e-12);
        assert!((extra["recall"] - 2.0 / 3.0).abs() < 1e-12);
        assert!((extra["f1"] - 2.0 / 3.0).abs() < 1e-12);
        // Positive/negative pairs ranked right: (0.9,0.7) (0.9,0.1) (0.8,0.7) (0.8,0.1)
        // (0.3,0.1) yes, (0.3,0.7) no: 5 of 6.
        assert!((extra["auc"] - 5.0 / 6.0).abs() < 1e-12);
        assert!(!extra.contains_key("accuracy"));
    }

    #[test]
    fn auc_counts_ties_as_half_and_needs_both_classes() {
        assert!((roc_auc(&[(0.5, 1), (0.5, 0)]) - 0.5).abs() < 1e-12);
        assert!((roc_auc(&[(0.2, 0), (0.9, 1), (0.9, 0)]) - 0.75).abs() < 1e-12);
        assert_eq!(roc_auc(&[(0.9, 1)]), 0.5);
    }

    #[test]
    fn more_than_two_classes_have_no_binary_metrics() {
        let mut metrics = RunningMetrics::new(3);
        metrics.add_batch(0.1, &[2, 0], &[2, 1], &[]);
        assert!(metrics.extra(&[Metric::Precision]).is_empty());
    }
}
