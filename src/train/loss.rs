//! Losses computed from logits, which is the numerically stable form of a sigmoid or
//! softmax output followed by cross-entropy.

use burn::prelude::*;
use burn::tensor::activation::log_softmax;

use crate::spec::{Loss, LossOptions};

/// The mean loss of a batch, from the logits (the last layer's values before its sigmoid
/// or softmax; with `from_logits`, simply its values). `labels` are class indices.
/// Label smoothing follows Keras: targets `y * (1 - s) + s / classes`, with 2 classes for
/// the binary case (`y * (1 - s) + s / 2`).
pub fn loss_from_logits(options: LossOptions, logits: Tensor<2>, labels: &[u32]) -> Tensor<1> {
    let device = logits.device();
    let smoothing = options.label_smoothing;
    match options.kind {
        Loss::BinaryCrossentropy => {
            // max(z, 0) - z * y + log(1 + exp(-|z|))
            let targets: Vec<f32> = labels
                .iter()
                .map(|&label| (f64::from(label) * (1.0 - smoothing) + smoothing / 2.0) as f32)
                .collect();
            let targets = Tensor::<1>::from_floats(targets.as_slice(), &device)
                .reshape([labels.len() as i32, 1]);
            let softplus = logits.clone().abs().neg().exp().add_scalar(1.0).log();
            (logits.clone().clamp_min(0.0) - logits * targets + softplus).mean()
        }
        Loss::CategoricalCrossentropy | Loss::SparseCategoricalCrossentropy => {
            let [rows, classes] = logits.dims();
            let hot = 1.0 - smoothing + smoothing / classes as f64;
            let cold = smoothing / classes as f64;
            let mut targets = vec![cold as f32; rows * classes];
            for (row, &label) in labels.iter().enumerate() {
                targets[row * classes + label as usize] = hot as f32;
            }
            let targets =
                Tensor::<2>::from_data(TensorData::new(targets, [rows, classes]), &device);
            (log_softmax(logits, 1) * targets).sum_dim(1).mean().neg()
        }
    }
}

/// The predicted class index of each row.
pub fn predicted_classes(loss: Loss, logits: Tensor<2>) -> Vec<u32> {
    let predicted = match loss {
        Loss::BinaryCrossentropy => logits.greater_elem(0.0).int().flatten::<1>(0, 1),
        Loss::CategoricalCrossentropy | Loss::SparseCategoricalCrossentropy => {
            logits.argmax(1).flatten::<1>(0, 1)
        }
    };
    predicted
        .into_data()
        .convert::<i64>()
        .try_to_vec::<i64>()
        .expect("class indices convert to i64")
        .into_iter()
        .map(|class| class as u32)
        .collect()
}

/// Every class's probability, a row per image: `[1 - p, p]` for one logit (a sigmoid
/// unit, as the binary losses read it), the softmax of several.
pub fn probability_rows(logits: Tensor<2>) -> Tensor<2> {
    let [_, columns] = logits.dims();
    if columns == 1 {
        let positive = burn::tensor::activation::sigmoid(logits);
        Tensor::cat(vec![positive.clone().neg().add_scalar(1.0), positive], 1)
    } else {
        burn::tensor::activation::softmax(logits, 1)
    }
}

/// [`probability_rows`] flattened, for ROC AUC.
pub fn class_probabilities(logits: Tensor<2>) -> Vec<f32> {
    probability_rows(logits)
        .flatten::<1>(0, 1)
        .into_data()
        .try_to_vec::<f32>()
        .expect("probabilities are f32")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn value(tensor: Tensor<1>) -> f32 {
        tensor.into_scalar::<f32>()
    }

    fn plain(kind: Loss) -> LossOptions {
        LossOptions {
            kind,
            from_logits: false,
            label_smoothing: 0.0,
        }
    }

    #[test]
    fn binary_crossentropy_matches_the_formula() {
        let device = crate::device::cpu();
        let logits = Tensor::<2>::from_floats([[2.0], [-1.0]], &device);
        let loss = value(loss_from_logits(
            plain(Loss::BinaryCrossentropy),
            logits,
            &[1, 1],
        ));
        let sigmoid = |z: f32| 1.0 / (1.0 + (-z).exp());
        let expected = -(sigmoid(2.0).ln() + sigmoid(-1.0).ln()) / 2.0;
        assert!((loss - expected).abs() < 1e-6, "{loss} vs {expected}");
    }

    #[test]
    fn categorical_crossentropy_matches_the_formula() {
        let device = crate::device::cpu();
        let logits = Tensor::<2>::from_floats([[1.0, 2.0, 3.0]], &device);
        for kind in [
            Loss::CategoricalCrossentropy,
            Loss::SparseCategoricalCrossentropy,
        ] {
            let loss = value(loss_from_logits(plain(kind), logits.clone(), &[0]));
            let expected = -(1f32.exp() / (1f32.exp() + 2f32.exp() + 3f32.exp())).ln();
            assert!((loss - expected).abs() < 1e-6, "{loss} vs {expected}");
        }
    }

    #[test]
    fn label_smoothing_moves_targets_towards_uniform() {
        let device = crate::device::cpu();
        let smoothed = |kind| LossOptions {
            label_smoothing: 0.2,
            ..plain(kind)
        };
        // Binary: target 1 becomes 0.9; loss = -(0.9 ln p + 0.1 ln(1 - p)).
        let logits = Tensor::<2>::from_floats([[1.5]], &device);
        let loss = value(loss_from_logits(
            smoothed(Loss::BinaryCrossentropy),
            logits,
            &[1],
        ));
        let p = 1.0 / (1.0 + (-1.5f32).exp());
        let expected = -(0.9 * p.ln() + 0.1 * (1.0 - p).ln());
        assert!((loss - expected).abs() < 1e-6, "{loss} vs {expected}");

        // Three classes: targets [0.2/3, 0.8 + 0.2/3, 0.2/3].
        let logits = Tensor::<2>::from_floats([[1.0, 2.0, 3.0]], &device);
        let loss = value(loss_from_logits(
            smoothed(Loss::CategoricalCrossentropy),
            logits,
            &[1],
        ));
        let total = 1f32.exp() + 2f32.exp() + 3f32.exp();
        let log_p = |z: f32| (z.exp() / total).ln();
        let (cold, hot) = (0.2 / 3.0, 0.8 + 0.2 / 3.0);
        let expected = -(cold * log_p(1.0) + hot * log_p(2.0) + cold * log_p(3.0));
        assert!((loss - expected).abs() < 1e-6, "{loss} vs {expected}");
    }

    #[test]
    fn predictions_threshold_or_argmax() {
        let device = crate::device::cpu();
        let binary = Tensor::<2>::from_floats([[0.3], [-0.2]], &device);
        assert_eq!(
            predicted_classes(Loss::BinaryCrossentropy, binary),
            vec![1, 0]
        );
        let categorical = Tensor::<2>::from_floats([[0.1, 0.9, 0.0], [2.0, 0.0, 1.0]], &device);
        assert_eq!(
            predicted_classes(Loss::CategoricalCrossentropy, categorical),
            vec![1, 0]
        );
    }
}
