//! Convolutions that train, differentiated by LibTorch. Burn's autodiff computes a
//! convolution's gradients with generic formulas: the input's by a transposed convolution,
//! the weight's by a convolution over the batch and channel dimensions swapped, which copies
//! both tensors and hands oneDNN a convolution with a kernel as large as the image. PyTorch
//! calls oneDNN's backward-weights kernel instead. Fine-tuning mixed6 and mixed7 of
//! InceptionV3 (`cargo bench --bench train_throughput -- top_unfrozen`), the runner spent
//! 21% more time per step than PyTorch in oneDNN's generated kernels (`perf record`: 284
//! against 234 samples per step), and ran at 0.85x its speed; with this, oneDNN's own
//! timings (`ONEDNN_VERBOSE=profile_exec`) are 760 ms per step against PyTorch's 767.
//!
//! Here LibTorch's autograd records the convolution ([`super::recorded_by_libtorch`]), and
//! Burn's backward step gets the gradients from the same `convolution_backward` PyTorch
//! runs.

use std::cell::Cell;

use burn::prelude::*;
use burn::tensor::ops::ConvOptions;

use super::{Differentiable, recorded_by_libtorch};
use crate::model::layout::pad;
use crate::spec::native_bf16;

thread_local! {
    /// Whether convolutions that train compute in bfloat16 on this thread (mixed precision,
    /// as under `torch.autocast`): set by [`in_bfloat16`].
    static IN_BFLOAT16: Cell<bool> = const { Cell::new(false) };
}

/// Runs `forward` with the convolutions that train computing in bfloat16 where that is
/// native (CUDA, a CPU with AVX-512 BF16 or AMX): their float32 input and weights are
/// rounded to bfloat16 for the product, the output is float32 again, and LibTorch's
/// autograd differentiates the roundings, so the weights and their gradients stay float32.
/// Fine-tuning mixed6 and mixed7 of InceptionV3 on a Xeon with AMX ran 84-85 images/s
/// before and 94-98 with it (`cargo bench --bench train_throughput -- top_unfrozen`).
pub fn in_bfloat16<R>(forward: impl FnOnce() -> R) -> R {
    /// Puts the previous setting back, also when `forward` unwinds.
    struct Restore(bool);
    impl Drop for Restore {
        fn drop(&mut self) {
            IN_BFLOAT16.set(self.0);
        }
    }
    let _restore = Restore(IN_BFLOAT16.replace(true));
    forward()
}

/// `conv2d(x, weight)` without bias under `options` (uneven padding allowed), when both
/// are tensors Burn differentiates on LibTorch; `None` for any other pair, which Burn's own
/// convolution then computes.
pub fn conv2d(x: &Tensor<4>, weight: &Tensor<4>, options: &ConvOptions<2>) -> Option<Tensor<4>> {
    let x = x.clone().try_into_primitive::<Differentiable>().ok()?;
    let weight = weight.clone().try_into_primitive::<Differentiable>().ok()?;
    let output = recorded_by_libtorch([&x, &weight], |[x, weight]| forward(x, weight, options));
    Some(Tensor::from_primitive::<Differentiable>(output))
}

/// The convolution LibTorch computes: uneven padding first, then the convolution.
fn forward(x: &tch::Tensor, weight: &tch::Tensor, options: &ConvOptions<2>) -> tch::Tensor {
    let to_i64 = |values: [usize; 2]| values.map(|value| value as i64);
    let (x, padding) = if options.is_asymmetric() {
        (pad(x, options.padding), [0, 0])
    } else {
        (x.shallow_clone(), to_i64(options.padding_begin()))
    };
    let convolve = |x: &tch::Tensor, weight: &tch::Tensor| {
        x.conv2d(
            weight,
            None::<tch::Tensor>,
            to_i64(options.stride),
            padding,
            to_i64(options.dilation),
            options.groups as i64,
        )
    };
    if IN_BFLOAT16.get() && native_bf16(x.device().is_cuda()) {
        let bf16 = tch::Kind::BFloat16;
        convolve(&x.to_kind(bf16), &weight.to_kind(bf16)).to_kind(tch::Kind::Float)
    } else {
        convolve(&x, weight)
    }
}

#[cfg(test)]
mod tests {
    use burn::tensor::Distribution;
    use burn::tensor::module::conv2d as burn_conv2d;

    use super::*;
    use crate::model::test_support::{max_abs_difference, weighted_sum};

    /// The output and both gradients equal Burn's own convolution's, for even and uneven
    /// padding, strides, groups and a channels-last input.
    #[test]
    fn matches_burns_convolution_and_its_gradients() {
        let device = crate::device::cpu().autodiff();
        let cases = [
            // (input channels, output channels, kernel, stride, padding, groups)
            (4, 6, 3, 1, [(1, 1), (1, 1)], 1),
            (4, 6, 3, 2, [(0, 1), (0, 1)], 1),
            (6, 6, 5, 2, [(1, 2), (1, 2)], 6),
            (4, 8, 1, 1, [(0, 0), (0, 0)], 2),
            (3, 5, 7, 1, [(0, 0), (3, 3)], 1),
        ];
        for (inputs, outputs, kernel, stride, padding, groups) in cases {
            let options = ConvOptions::new_with_padding([stride; 2], padding, [1, 1], groups);
            let x =
                Tensor::<4>::random([3, inputs, 11, 10], Distribution::Normal(0.0, 1.0), &device);
            let x = crate::model::channels_last(x).require_grad();
            let weight = Tensor::<4>::random(
                [outputs, inputs / groups, kernel, kernel],
                Distribution::Normal(0.0, 1.0),
                &device,
            )
            .require_grad();
            let ours = conv2d(&x, &weight, &options).expect("LibTorch autodiff tensors");
            let burns = burn_conv2d(x.clone(), weight.clone(), None, options.clone());
            let difference = max_abs_difference(ours.clone(), burns.clone());
            assert!(difference < 1e-4, "output: max abs difference {difference}");

            let our_grads = weighted_sum(ours).backward();
            let burn_grads = weighted_sum(burns).backward();
            for (name, tensor) in [("input", &x), ("weight", &weight)] {
                let ours = tensor.grad(&our_grads).expect("a gradient");
                let burns = tensor.grad(&burn_grads).expect("a gradient");
                let largest = burns.clone().abs().max().into_scalar::<f32>();
                let difference = (ours - burns).abs().max().into_scalar::<f32>();
                // Float rounding of sums taken in another order: about 5e-7 of the
                // largest value here; a wrong gradient is off by far more.
                assert!(
                    difference <= 1e-5 * largest,
                    "{name} gradient, kernel {kernel} stride {stride} groups {groups}: \
                     max abs difference {difference} on values up to {largest}"
                );
            }
        }
    }

    /// In mixed precision the output and both gradients are float32 and within bfloat16
    /// rounding of float32's where bfloat16 is native, and float32's exactly elsewhere.
    #[test]
    fn mixed_precision_keeps_float32_tensors_within_bfloat16_rounding() {
        let device = crate::device::cpu().autodiff();
        let options = ConvOptions::new_with_padding([2, 2], [(0, 1), (0, 1)], [1, 1], 1);
        let x = Tensor::<4>::random([2, 4, 9, 9], Distribution::Normal(0.0, 1.0), &device);
        let x = crate::model::channels_last(x).require_grad();
        let weight = Tensor::<4>::random([6, 4, 3, 3], Distribution::Normal(0.0, 1.0), &device)
            .require_grad();
        let run = || {
            let output = conv2d(&x, &weight, &options).unwrap();
            let grads = weighted_sum(output.clone()).backward();
            let gradient = |tensor: &Tensor<4>| tensor.grad(&grads).unwrap();
            [output.inner(), gradient(&x), gradient(&weight)]
        };
        let float32 = run();
        let mixed = in_bfloat16(run);
        let native = native_bf16(false);
        for (name, (mixed, float32)) in ["output", "input gradient", "weight gradient"]
            .into_iter()
            .zip(mixed.into_iter().zip(float32))
        {
            assert_eq!(mixed.dtype(), burn::tensor::DType::F32, "{name}");
            let largest = float32.clone().abs().max().into_scalar::<f32>();
            let difference = max_abs_difference(mixed, float32);
            if native {
                // Inputs and weights rounded to 8 significant bits, summed in float32.
                assert!(difference > 0.0, "{name}: not computed in bfloat16");
                assert!(
                    difference <= largest / 32.0,
                    "{name}: {difference} of {largest}"
                );
            } else {
                assert_eq!(difference, 0.0, "{name}: bfloat16 where it is emulated");
            }
        }
    }

    /// A layer whose input needs no gradient (the first trainable one, after the frozen
    /// part) gets only its weight's.
    #[test]
    fn an_input_without_gradient_gets_none() {
        let device = crate::device::cpu().autodiff();
        let x = Tensor::<4>::random([2, 3, 6, 6], Distribution::Normal(0.0, 1.0), &device);
        let weight = Tensor::<4>::random([4, 3, 3, 3], Distribution::Normal(0.0, 1.0), &device)
            .require_grad();
        let options = ConvOptions::new([1, 1], [1, 1], [1, 1], 1);
        let grads = conv2d(&x, &weight, &options).unwrap().sum().backward();
        assert!(x.grad(&grads).is_none());
        assert_eq!(weight.grad(&grads).unwrap().dims(), [4, 3, 3, 3]);
    }

    /// Tensors Burn does not differentiate are left to Burn's convolution.
    #[test]
    fn declines_tensors_without_autodiff() {
        let device = crate::device::cpu();
        let x = Tensor::<4>::zeros([1, 3, 4, 4], &device);
        let weight = Tensor::<4>::zeros([2, 3, 1, 1], &device);
        assert!(conv2d(&x, &weight, &ConvOptions::new([1, 1], [0, 0], [1, 1], 1)).is_none());
    }
}
