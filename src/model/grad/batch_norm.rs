//! BatchNorm in training (batch statistics), computed and differentiated by LibTorch's
//! `native_batch_norm`, PyTorch's kernels: one pass for the statistics and one for the
//! output, and one fused backward. Burn's generic `batch_norm_train` makes separate passes
//! for the mean, the centred squares, the variance and the output, and for a channels-last
//! activation copies it twice to move the channels first; its backward makes as many again.
//! The running statistics are updated as Burn's `BatchNorm` updates them (momentum, the
//! batch's biased variance).

use burn::backend::LibTorch;
use burn::backend::libtorch::TchTensor;
use burn::nn::BatchNorm;
use burn::prelude::*;

use super::{Differentiable, recorded_by_libtorch};

/// `bn.forward(x)`.
pub fn forward(bn: &BatchNorm, x: Tensor<4>) -> Tensor<4> {
    // Burn's own rule for when a BatchNorm trains: on an autodiff device, unless frozen.
    if !(x.device().is_autodiff() && bn.training.is_enabled()) {
        return bn.forward(x);
    }
    let gamma = bn.gamma.val();
    let beta = bn.beta.val();
    let primitives = (
        x.clone().try_into_primitive::<Differentiable>(),
        gamma.try_into_primitive::<Differentiable>(),
        beta.try_into_primitive::<Differentiable>(),
    );
    let (Ok(input), Ok(gamma), Ok(beta)) = primitives else {
        return bn.forward(x);
    };
    let mut statistics = None;
    let output = recorded_by_libtorch([&input, &gamma, &beta], |[x, gamma, beta]| {
        let (output, mean, inverse_std) = x.native_batch_norm(
            Some(gamma),
            Some(beta),
            None,
            None,
            true,
            bn.momentum,
            bn.epsilon,
        );
        // Copies: LibTorch's backward reads the saved statistics, and Burn may update a
        // tensor it holds the only handle on in place.
        statistics = Some((mean.detach().copy(), inverse_std.detach().copy()));
        output
    });
    let (mean, inverse_std) = statistics.expect("the operation ran");
    update_running_statistics(bn, mean, inverse_std, &x.device());
    Tensor::from_primitive::<Differentiable>(output)
}

/// Burn's update: `running = running * (1 - momentum) + batch * momentum`, for the mean and
/// the biased variance, which LibTorch gives as `1 / sqrt(variance + epsilon)`. Recovering
/// the variance in f64 loses nothing that matters: it is only ever used as
/// `variance + epsilon`, which the inverse carries to f32 precision.
fn update_running_statistics(
    bn: &BatchNorm,
    mean: tch::Tensor,
    inverse_std: tch::Tensor,
    device: &Device,
) {
    let variance = (inverse_std.to_kind(tch::Kind::Double).pow_tensor_scalar(-2) - bn.epsilon)
        .clamp_min(0.0)
        .to_kind(tch::Kind::Float);
    let batch = |values: tch::Tensor| {
        Tensor::<1>::from_primitive::<LibTorch>(TchTensor::new(values)).autodiff()
    };
    let blend = |running: Tensor<1>, batch: Tensor<1>| {
        running
            .to_device(device)
            .mul_scalar(1.0 - bn.momentum)
            .add(batch.mul_scalar(bn.momentum))
            .detach()
    };
    bn.running_mean
        .update(blend(bn.running_mean.value_sync(), batch(mean)));
    bn.running_var
        .update(blend(bn.running_var.value_sync(), batch(variance)));
}

#[cfg(test)]
mod tests {
    use burn::module::{Param, RunningState};
    use burn::nn::BatchNormConfig;
    use burn::tensor::Distribution;

    use super::*;
    use crate::model::test_support::weighted_sum;

    /// The output, the three gradients and the running statistics equal Burn's BatchNorm's
    /// within float rounding, on a channels-last input as the backbones give it.
    #[test]
    fn matches_burns_batch_norm_in_training() {
        let device = crate::device::cpu().autodiff();
        let random = |low: f64, high: f64| {
            Tensor::<1>::random([6], Distribution::Uniform(low, high), &device)
        };
        let values = [
            random(0.5, 2.0),
            random(-1.0, 1.0),
            random(-1.0, 1.0),
            random(0.5, 3.0),
        ];
        // Two layers with the same values and nothing shared (a clone shares its running
        // statistics).
        let layer = || {
            let [gamma, beta, mean, variance] = values.clone();
            let mut bn = BatchNormConfig::new(6).with_epsilon(1e-3).init(&device);
            bn.gamma = Param::from_tensor(gamma);
            bn.beta = Param::from_tensor(beta);
            bn.running_mean = RunningState::new(mean);
            bn.running_var = RunningState::new(variance);
            bn
        };
        let (ours, burns) = (layer(), layer());
        let x = Tensor::<4>::random([4, 6, 5, 7], Distribution::Normal(0.5, 2.0), &device);
        let x = crate::model::channels_last(x).require_grad();
        let our_output = forward(&ours, x.clone());
        let burn_output = burns.forward(x.clone());
        let close = |what: &str, ours: Tensor<1>, burns: Tensor<1>| {
            let largest = burns.clone().abs().max().into_scalar::<f32>();
            let difference = (ours - burns).abs().max().into_scalar::<f32>();
            // Float rounding of sums over 140 values taken in another order.
            assert!(
                difference <= 1e-5 * largest.max(1.0),
                "{what}: max abs difference {difference} on values up to {largest}"
            );
        };
        close(
            "output",
            our_output.clone().flatten(0, 3),
            burn_output.clone().flatten(0, 3),
        );
        let our_grads = weighted_sum(our_output).backward();
        let burn_grads = weighted_sum(burn_output).backward();
        close(
            "input gradient",
            x.grad(&our_grads).unwrap().flatten(0, 3),
            x.grad(&burn_grads).unwrap().flatten(0, 3),
        );
        for (what, ours_param, burns_param) in [
            ("gamma gradient", &ours.gamma, &burns.gamma),
            ("beta gradient", &ours.beta, &burns.beta),
        ] {
            close(
                what,
                ours_param.val().grad(&our_grads).unwrap(),
                burns_param.val().grad(&burn_grads).unwrap(),
            );
        }
        close(
            "running mean",
            ours.running_mean.value(),
            burns.running_mean.value(),
        );
        close(
            "running variance",
            ours.running_var.value(),
            burns.running_var.value(),
        );
    }

    /// A frozen BatchNorm, or one off an autodiff device, is Burn's (running statistics).
    #[test]
    fn inference_is_burns() {
        let device = crate::device::cpu();
        let bn = BatchNormConfig::new(3).init(&device);
        let x = Tensor::<4>::random([2, 3, 4, 4], Distribution::Normal(0.0, 1.0), &device);
        assert_eq!(
            forward(&bn, x.clone()).into_data(),
            bn.forward(x).into_data()
        );
    }
}
