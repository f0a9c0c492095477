//! Losses computed from logits, which is the numerically stable form of a sigmoid or
//! softmax output followed by cross-entropy.

use burn::prelude::*;
use burn::tensor::activation::log_softmax;

use crate::spec::Loss;

/// The mean loss of a batch. `labels` are class indices.
pub fn loss_from_logits(loss: Loss, logits: Tensor<2>, labels: &[u32]) -> Tensor<1> {
    let device = logits.device();
    match loss {
        Loss::BinaryCrossentropy => {
            // max(z, 0) - z * y + log(1 + exp(-|z|))
            let targets = Tensor::<1>::from_floats(
                labels
                    .iter()
                    .map(|&label| label as f32)
                    .collect::<Vec<_>>()
                    .as_slice(),
                &device,
            )
            .reshape([labels.len() as i32, 1]);
            let softplus = logits.clone().abs().neg().exp().add_scalar(1.0).log();
            (logits.clone().clamp_min(0.0) - logits * targets + softplus).mean()
        }
        Loss::CategoricalCrossentropy => {
            let indices = Tensor::<1, Int>::from_ints(
                labels
                    .iter()
                    .map(|&label| label as i64)
                    .collect::<Vec<_>>()
                    .as_slice(),
                &device,
            )
            .reshape([labels.len() as i32, 1]);
            log_softmax(logits, 1).gather(1, indices).mean().neg()
        }
    }
}

/// The predicted class index of each row.
pub fn predicted_classes(loss: Loss, logits: Tensor<2>) -> Vec<u32> {
    let predicted = match loss {
        Loss::BinaryCrossentropy => logits.greater_elem(0.0).int().flatten::<1>(0, 1),
        Loss::CategoricalCrossentropy => logits.argmax(1).flatten::<1>(0, 1),
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

#[cfg(test)]
mod tests {
    use super::*;

    fn value(tensor: Tensor<1>) -> f32 {
        tensor.into_scalar::<f32>()
    }

    #[test]
    fn binary_crossentropy_matches_the_formula() {
        let device = crate::device::cpu();
        let logits = Tensor::<2>::from_floats([[2.0], [-1.0]], &device);
        let loss = value(loss_from_logits(Loss::BinaryCrossentropy, logits, &[1, 1]));
        let sigmoid = |z: f32| 1.0 / (1.0 + (-z).exp());
        let expected = -(sigmoid(2.0).ln() + sigmoid(-1.0).ln()) / 2.0;
        assert!((loss - expected).abs() < 1e-6, "{loss} vs {expected}");
    }

    #[test]
    fn categorical_crossentropy_matches_the_formula() {
        let device = crate::device::cpu();
        let logits = Tensor::<2>::from_floats([[1.0, 2.0, 3.0]], &device);
        let loss = value(loss_from_logits(
            Loss::CategoricalCrossentropy,
            logits,
            &[0],
        ));
        let expected = -(1f32.exp() / (1f32.exp() + 2f32.exp() + 3f32.exp())).ln();
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
