//! What one pass over a split measured: loss and accuracy, a confusion matrix, and
//! precision, recall, F1 and ROC AUC for any number of classes: per class (`precision_CLASS`,
//! one class against the rest) and overall (`precision`). With two classes the overall
//! value is class 1's, the positive class of Keras' binary metrics; with more it is the
//! unweighted mean over the classes (macro average, as scikit-learn's `average="macro"`).

use std::collections::BTreeMap;

use crate::spec::Metric;

/// Sums over a pass, weighted by batch size.
#[derive(Debug, Clone)]
pub struct RunningMetrics {
    loss_sum: f64,
    seen: usize,
    /// `confusion[label][predicted]`.
    confusion: Vec<Vec<usize>>,
    /// Every image's class probabilities (a row of `classes` values) and label, for AUC;
    /// empty unless AUC is asked for.
    scores: Vec<(Vec<f32>, u32)>,
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

    /// Adds a batch: its mean loss, predicted classes and labels, and the class
    /// probabilities of each image, row by row (empty when AUC is not needed).
    pub fn add_batch(
        &mut self,
        mean_loss: f64,
        predicted: &[u32],
        labels: &[u32],
        probabilities: &[f32],
    ) {
        self.loss_sum += mean_loss * labels.len() as f64;
        self.seen += labels.len();
        for (&label, &prediction) in labels.iter().zip(predicted) {
            self.confusion[label as usize][prediction as usize] += 1;
        }
        let classes = self.confusion.len();
        self.scores.extend(
            probabilities
                .chunks_exact(classes)
                .map(<[f32]>::to_vec)
                .zip(labels.iter().copied()),
        );
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

    /// The requested metrics beyond loss and accuracy, by name: `precision` (overall),
    /// then `precision_CLASS` for each of `class_names`, and so on.
    pub fn extra(&self, metrics: &[Metric], class_names: &[String]) -> BTreeMap<String, f64> {
        let mut extra = BTreeMap::new();
        for metric in metrics {
            let per_class: Vec<f64> = match metric {
                Metric::Accuracy => continue,
                Metric::Precision => (0..class_names.len()).map(|c| self.precision(c)).collect(),
                Metric::Recall => (0..class_names.len()).map(|c| self.recall(c)).collect(),
                Metric::F1 => (0..class_names.len()).map(|c| self.f1(c)).collect(),
                Metric::Auc => (0..class_names.len()).map(|c| self.auc(c)).collect(),
            };
            let overall = if per_class.len() == 2 {
                per_class[1]
            } else {
                per_class.iter().sum::<f64>() / per_class.len().max(1) as f64
            };
            extra.insert(metric.name().to_string(), overall);
            for (class, value) in class_names.iter().zip(per_class) {
                extra.insert(format!("{}_{class}", metric.name()), value);
            }
        }
        extra
    }

    /// Of the images predicted as `class`, the share that are.
    pub fn precision(&self, class: usize) -> f64 {
        let predicted: usize = self.confusion.iter().map(|row| row[class]).sum();
        ratio(self.confusion[class][class], predicted)
    }

    /// Of the images of `class`, the share predicted as it.
    pub fn recall(&self, class: usize) -> f64 {
        ratio(
            self.confusion[class][class],
            self.confusion[class].iter().sum(),
        )
    }

    pub fn f1(&self, class: usize) -> f64 {
        let (precision, recall) = (self.precision(class), self.recall(class));
        if precision + recall == 0.0 {
            0.0
        } else {
            2.0 * precision * recall / (precision + recall)
        }
    }

    /// ROC AUC of `class` against the rest, by its predicted probability.
    fn auc(&self, class: usize) -> f64 {
        let scores: Vec<(f32, bool)> = self
            .scores
            .iter()
            .map(|(row, label)| (row[class], *label as usize == class))
            .collect();
        roc_auc(&scores)
    }
}

/// `part / whole`, 0 for an empty whole (as scikit-learn's `zero_division=0`).
fn ratio(part: usize, whole: usize) -> f64 {
    if whole == 0 {
        0.0
    } else {
        part as f64 / whole as f64
    }
}

/// The probability that a random positive scores above a random negative (ties count
/// half): the area under the ROC curve, by ranking. 0.5 when either side is missing.
fn roc_auc(scores: &[(f32, bool)]) -> f64 {
    let mut sorted = scores.to_vec();
    sorted.sort_by(|a, b| a.0.total_cmp(&b.0));
    let positives = sorted.iter().filter(|(_, positive)| *positive).count();
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
                .filter(|(_, positive)| *positive)
                .count() as f64;
        start = end;
    }
    (rank_sum - (positives * (positives + 1)) as f64 / 2.0) / (positives * negatives) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(names: &[&str]) -> Vec<String> {
        names.iter().map(ToString::to_string).collect()
    }

    const ALL: [Metric; 5] = [
        Metric::Accuracy,
        Metric::Precision,
        Metric::Recall,
        Metric::F1,
        Metric::Auc,
    ];

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
    fn two_classes_report_the_positive_class_as_keras_binary_metrics() {
        let mut metrics = RunningMetrics::new(2);
        // labels:     1    1    1    0    0
        // predicted:  1    1    0    1    0
        // p(class 1): 0.9  0.8  0.3  0.7  0.1
        let rows: Vec<f32> = [0.9f32, 0.8, 0.3, 0.7, 0.1]
            .iter()
            .flat_map(|p| [1.0 - p, *p])
            .collect();
        metrics.add_batch(0.5, &[1, 1, 0, 1, 0], &[1, 1, 1, 0, 0], &rows);
        let extra = metrics.extra(&ALL, &names(&["cat", "dog"]));
        assert!((extra["precision"] - 2.0 / 3.0).abs() < 1e-12);
        assert!((extra["recall"] - 2.0 / 3.0).abs() < 1e-12);
        assert!((extra["f1"] - 2.0 / 3.0).abs() < 1e-12);
        // Positive/negative pairs ranked right: (0.9,0.7) (0.9,0.1) (0.8,0.7) (0.8,0.1)
        // (0.3,0.1) yes, (0.3,0.7) no: 5 of 6.
        assert!((extra["auc"] - 5.0 / 6.0).abs() < 1e-12);
        assert_eq!(extra["precision_dog"], extra["precision"]);
        // Class 0: predicted twice, right once; 2 images, 1 found.
        assert!((extra["precision_cat"] - 0.5).abs() < 1e-12);
        assert!((extra["recall_cat"] - 0.5).abs() < 1e-12);
        assert!((extra["auc_cat"] - 5.0 / 6.0).abs() < 1e-12);
        assert!(!extra.contains_key("accuracy"));
    }

    #[test]
    fn more_classes_report_each_class_and_the_macro_average() {
        let mut metrics = RunningMetrics::new(3);
        // confusion [label][predicted]: a: [2, 1, 0], b: [0, 1, 1], c: [0, 0, 3]
        let labels = [0, 0, 0, 1, 1, 2, 2, 2];
        let predicted = [0, 0, 1, 1, 2, 2, 2, 2];
        let rows: Vec<f32> = predicted
            .iter()
            .flat_map(|&p| {
                let mut row = [0.1f32; 3];
                row[p as usize] = 0.8;
                row
            })
            .collect();
        metrics.add_batch(0.5, &predicted, &labels, &rows);
        let extra = metrics.extra(&ALL, &names(&["a", "b", "c"]));
        // Precision: a 2/2, b 1/2, c 3/4; recall: a 2/3, b 1/2, c 3/3 (scikit-learn's
        // precision_recall_fscore_support on the same labels).
        for (key, value) in [
            ("precision_a", 1.0),
            ("precision_b", 0.5),
            ("precision_c", 0.75),
            ("recall_a", 2.0 / 3.0),
            ("recall_b", 0.5),
            ("recall_c", 1.0),
            ("f1_a", 0.8),
            ("f1_b", 0.5),
            ("f1_c", 6.0 / 7.0),
            ("precision", 0.75),
            ("recall", (2.0 / 3.0 + 0.5 + 1.0) / 3.0),
            ("f1", (0.8 + 0.5 + 6.0 / 7.0) / 3.0),
        ] {
            assert!((extra[key] - value).abs() < 1e-12, "{key}: {}", extra[key]);
        }
        // AUC of a against the rest: its images score 0.8, 0.8 and 0.1, the 5 others
        // 0.1: of 15 pairs, 10 ranked right and 5 ties counting half -> 12.5/15.
        assert!(
            (extra["auc_a"] - 12.5 / 15.0).abs() < 1e-12,
            "{}",
            extra["auc_a"]
        );
        let macro_auc = (extra["auc_a"] + extra["auc_b"] + extra["auc_c"]) / 3.0;
        assert!((extra["auc"] - macro_auc).abs() < 1e-12);
    }

    #[test]
    fn auc_counts_ties_as_half_and_needs_both_sides() {
        assert!((roc_auc(&[(0.5, true), (0.5, false)]) - 0.5).abs() < 1e-12);
        assert!((roc_auc(&[(0.2, false), (0.9, true), (0.9, false)]) - 0.75).abs() < 1e-12);
        assert_eq!(roc_auc(&[(0.9, true)]), 0.5);
    }
}
