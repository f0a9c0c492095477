//! A frozen convolution computed together with what follows it (its bias, a residual
//! addition, a ReLU or ReLU6) by one oneDNN primitive, as PyTorch's inductor fuses them on
//! the CPU. Done apart, each activation and addition is one more pass over the layer's
//! output, and in bfloat16 LibTorch's elementwise kernels convert every value to float32
//! and back: on a 2-core Xeon with AMX (perf, EfficientNet-Lite0 frozen features, batch
//! 32) the ReLU6 alone was 35% of the time in bfloat16 and 10% in float32.
//!
//! The entry points are the C functions that AOTInductor's generated code calls
//! (`torch/csrc/inductor/aoti_torch/c/shim_cpu.h`), which every LibTorch build exports from
//! `libtorch_cpu`: they take and give `at::Tensor*`, which is what a `tch::Tensor` holds.
//! Where one does not apply (a tensor that trains, on CUDA, in another number format) or
//! fails, the caller computes the same thing op by op.

// Burn deprecates its LibTorch backend; this project is built on it (see src/device.rs).
#![allow(deprecated)]

use std::ffi::{c_char, c_void};
use std::ptr;
use std::sync::atomic::{AtomicBool, Ordering};

use burn::backend::LibTorch;
use burn::backend::libtorch::TchTensor;
use burn::nn::conv::Conv2d;
use burn::prelude::*;

use super::conv_bn::Activation;
use super::layout::conv_options;

/// `at::Tensor*`.
type TensorHandle = *mut c_void;

unsafe extern "C" {
    fn aoti_torch_cpu_mkldnn__convolution_pointwise(
        x: TensorHandle,
        weight: TensorHandle,
        bias: *const TensorHandle,
        padding: *const i64,
        padding_len: i64,
        stride: *const i64,
        stride_len: i64,
        dilation: *const i64,
        dilation_len: i64,
        groups: i64,
        attr: *const c_char,
        scalars: *const *const f64,
        scalars_len: i64,
        algorithm: *const *const c_char,
        output: *mut TensorHandle,
    ) -> i32;

    fn aoti_torch_cpu_mkldnn__convolution_pointwise_binary(
        x: TensorHandle,
        other: TensorHandle,
        weight: TensorHandle,
        bias: *const TensorHandle,
        padding: *const i64,
        padding_len: i64,
        stride: *const i64,
        stride_len: i64,
        dilation: *const i64,
        dilation_len: i64,
        groups: i64,
        binary_attr: *const c_char,
        alpha: *const f64,
        unary_attr: *const *const c_char,
        unary_scalars: *const *const f64,
        unary_scalars_len: i64,
        unary_algorithm: *const *const c_char,
        output: *mut TensorHandle,
    ) -> i32;
}

/// Set when a fused call failed: LibTorch has logged why, and every later convolution runs
/// op by op instead of failing (and logging) again.
static FAILED: AtomicBool = AtomicBool::new(false);

/// `activation(conv(x) + residual)` (no addition without `residual`) in one oneDNN
/// primitive, in `x`'s channels-last layout; `None` where that does not apply and the
/// caller computes it op by op. Only for inference: LibTorch records no gradient of it.
pub fn forward(
    conv: &Conv2d,
    x: &Tensor<4>,
    residual: Option<&Tensor<4>>,
    activation: Activation,
) -> Option<Tensor<4>> {
    if FAILED.load(Ordering::Relaxed) {
        return None;
    }
    let input = on_cpu(x)?;
    let weight = on_cpu(&conv.weight.val())?;
    let bias = match &conv.bias {
        Some(bias) => Some(on_cpu(&bias.val())?),
        None => None,
    };
    let residual = match residual {
        Some(residual) => Some(on_cpu(residual)?),
        None => None,
    };
    if !fusable(input.kind()) || weight.kind() != input.kind() {
        return None;
    }
    let [_, _, height, width] = x.dims();
    let options = conv_options(conv, height, width);
    // A zero row before a dilated kernel would move it by the dilation, not by one pixel.
    if options.is_asymmetric() && options.dilation != [1, 1] {
        return None;
    }
    let (weight, padding) = evenly_padded(weight, options.padding);
    let call = Call {
        padding: padding.map(|side| side as i64),
        stride: options.stride.map(|side| side as i64),
        dilation: options.dilation.map(|side| side as i64),
        groups: options.groups as i64,
    };
    let output = call.run(
        &input,
        &weight,
        bias.as_ref(),
        residual.as_ref(),
        activation,
    );
    if output.is_none() {
        FAILED.store(true, Ordering::Relaxed);
        tracing::warn!("oneDNN's fused convolution failed; convolutions now run op by op");
    }
    output.map(|output| Tensor::from_primitive::<LibTorch>(TchTensor::new(output)))
}

/// A kernel and an even padding that compute what `weight` computes with the uneven
/// `padding` (`(before, after)` of the height and the width), which oneDNN cannot be given
/// here: TensorFlow's "SAME" on stride 2 pads one pixel more after than before. Padding
/// both sides by the larger amount and giving the kernel as many zero rows (columns) on
/// that side lines every window up with the same pixels; the zeros add nothing. Padding
/// the input instead costs a copy of it: EfficientNet-Lite0's four such layers then took
/// 17% of its bfloat16 features.
fn evenly_padded(weight: tch::Tensor, padding: [(usize, usize); 2]) -> (tch::Tensor, [usize; 2]) {
    let [(top, bottom), (left, right)] = padding;
    if top == bottom && left == right {
        return (weight, [top, left]);
    }
    // Zero rows before the kernel where the padding after is larger, after it otherwise.
    let zeros =
        |before: usize, after: usize| [after.saturating_sub(before), before.saturating_sub(after)];
    let [height_before, height_after] = zeros(top, bottom);
    let [width_before, width_after] = zeros(left, right);
    let weight = weight.constant_pad_nd(
        [width_before, width_after, height_before, height_after].map(|side| side as i64),
    );
    (weight, [top.max(bottom), left.max(right)])
}

/// `x`'s LibTorch tensor, if it is one (not an autodiff tensor) and on the CPU.
fn on_cpu<const D: usize>(x: &Tensor<D>) -> Option<tch::Tensor> {
    let tensor = x.clone().try_into_primitive::<LibTorch>().ok()?.tensor;
    (tensor.device() == tch::Device::Cpu).then_some(tensor)
}

/// Whether oneDNN computes convolutions of this number format on this CPU: float32
/// everywhere, bfloat16 with AVX-512 (LibTorch refuses it without, where it would only be
/// emulated anyway).
fn fusable(kind: tch::Kind) -> bool {
    match kind {
        tch::Kind::Float => true,
        #[cfg(target_arch = "x86_64")]
        tch::Kind::BFloat16 => {
            std::arch::is_x86_feature_detected!("avx512bw")
                && std::arch::is_x86_feature_detected!("avx512vl")
                && std::arch::is_x86_feature_detected!("avx512dq")
        }
        _ => false,
    }
}

/// The geometry of one convolution, in LibTorch's integers.
struct Call {
    padding: [i64; 2],
    stride: [i64; 2],
    dilation: [i64; 2],
    groups: i64,
}

impl Call {
    /// The fused convolution, or `None` when LibTorch reports an error.
    fn run(
        &self,
        input: &tch::Tensor,
        weight: &tch::Tensor,
        bias: Option<&tch::Tensor>,
        residual: Option<&tch::Tensor>,
        activation: Activation,
    ) -> Option<tch::Tensor> {
        let handle = |tensor: &tch::Tensor| tensor.as_ptr().cast_mut().cast::<c_void>();
        let bias = bias.map(handle);
        let bias = bias.as_ref().map_or(ptr::null(), ptr::from_ref);
        let (name, scalars): (&'static std::ffi::CStr, &[f64]) = match activation {
            Activation::Linear => (c"none", &[]),
            Activation::Relu => (c"relu", &[]),
            Activation::Relu6 => (c"hardtanh", &[0.0, 6.0]),
        };
        let scalars: Vec<*const f64> = scalars.iter().map(ptr::from_ref).collect();
        let mut output: TensorHandle = ptr::null_mut();
        // SAFETY: every handle is a live `at::Tensor*` borrowed for the call (the shim
        // neither keeps nor frees them); the arrays outlive the call and their lengths are
        // passed; `output` receives a new `at::Tensor*` that `from_ptr` takes ownership of.
        let status = unsafe {
            match residual {
                None => aoti_torch_cpu_mkldnn__convolution_pointwise(
                    handle(input),
                    handle(weight),
                    bias,
                    self.padding.as_ptr(),
                    2,
                    self.stride.as_ptr(),
                    2,
                    self.dilation.as_ptr(),
                    2,
                    self.groups,
                    name.as_ptr(),
                    scalars.as_ptr(),
                    scalars.len() as i64,
                    ptr::null(),
                    &raw mut output,
                ),
                Some(residual) => {
                    let name = name.as_ptr();
                    // No activation after the addition is `None`, not "none", for this op.
                    let after = match activation {
                        Activation::Linear => ptr::null(),
                        _ => &raw const name,
                    };
                    aoti_torch_cpu_mkldnn__convolution_pointwise_binary(
                        handle(input),
                        handle(residual),
                        handle(weight),
                        bias,
                        self.padding.as_ptr(),
                        2,
                        self.stride.as_ptr(),
                        2,
                        self.dilation.as_ptr(),
                        2,
                        self.groups,
                        c"add".as_ptr(),
                        ptr::null(),
                        after,
                        scalars.as_ptr(),
                        scalars.len() as i64,
                        ptr::null(),
                        &raw mut output,
                    )
                }
            }
        };
        (status == 0 && !output.is_null())
            // SAFETY: a new tensor the shim allocated with `new at::Tensor`, owned from here.
            .then(|| unsafe { tch::Tensor::from_ptr(output.cast()) })
    }
}

#[cfg(test)]
mod tests {
    use burn::module::Param;
    use burn::tensor::{Distribution, FloatDType};

    use super::*;
    use crate::model::conv_bn::{ConvBn, ConvBnShape, Framework};
    use crate::model::layout::{channels_last, convolve};
    use crate::model::test_support::{max_abs_difference, randomize_batchnorm};

    /// A folded layer of `shape` with random weights and statistics.
    fn folded(shape: ConvBnShape) -> ConvBn {
        let mut layer = ConvBn::new(shape, &crate::device::cpu());
        randomize_batchnorm(layer.bn.as_mut().unwrap());
        layer.fold_batchnorm()
    }

    /// Every kind of layer the backbones fold: 3x3 and 5x5, dense and depthwise, stride 1
    /// and 2, TensorFlow's uneven and torchvision's even padding, each activation.
    fn shapes() -> Vec<ConvBnShape> {
        let mut shapes = Vec::new();
        for framework in [Framework::TensorFlow, Framework::Torchvision] {
            for (kernel, stride, groups) in [(1, 1, 1), (3, 1, 1), (3, 2, 1), (3, 2, 8), (5, 2, 8)]
            {
                for activation in [Activation::Linear, Activation::Relu, Activation::Relu6] {
                    shapes.push(ConvBnShape {
                        channels: [8, 8],
                        kernel,
                        stride,
                        groups,
                        activation,
                        framework,
                    });
                }
            }
        }
        shapes
    }

    fn images(side: usize) -> Tensor<4> {
        let device = crate::device::cpu();
        channels_last(Tensor::random(
            [2, 8, side, side],
            Distribution::Normal(0.0, 2.0),
            &device,
        ))
    }

    #[test]
    fn float32_is_the_op_by_op_result() {
        // Even and odd sides: "SAME" pads unevenly on even ones at stride 2.
        for side in [10, 11] {
            let x = images(side);
            for shape in shapes() {
                let layer = folded(shape);
                let expected = shape.activation.apply(convolve(&layer.conv, x.clone()));
                let fused = forward(&layer.conv, &x, None, shape.activation)
                    .expect("float32 on the CPU is fused");
                assert_eq!(fused.dims(), expected.dims(), "{shape:?}");
                let difference = max_abs_difference(fused, expected);
                assert!(difference < 1e-5, "{shape:?}, side {side}: {difference}");
            }
        }
    }

    #[test]
    fn adds_the_residual_before_the_activation() {
        let x = images(6);
        for activation in [Activation::Linear, Activation::Relu] {
            let layer = folded(ConvBnShape::pointwise(
                [8, 8],
                Activation::Linear,
                Framework::Torchvision,
            ));
            let residual = images(6);
            let expected = activation.apply(convolve(&layer.conv, x.clone()) + residual.clone());
            let fused = forward(&layer.conv, &x, Some(&residual), activation).unwrap();
            let difference = max_abs_difference(fused, expected.clone());
            assert!(difference < 1e-5, "{activation:?}: {difference}");
            // The layer's own entry point gives the same.
            let difference = max_abs_difference(
                layer.forward_adding(x.clone(), residual, activation),
                expected,
            );
            assert!(difference < 1e-5, "{activation:?}: {difference}");
        }
    }

    #[test]
    fn bfloat16_is_within_its_rounding_of_float32_or_left_to_the_caller() {
        let x = images(10);
        for shape in shapes() {
            let layer = folded(shape);
            let expected = shape.activation.apply(convolve(&layer.conv, x.clone()));
            let mut bf16 = layer.conv.clone();
            bf16.weight = Param::from_tensor(bf16.weight.val().cast(FloatDType::BF16));
            bf16.bias = bf16
                .bias
                .map(|bias| Param::from_tensor(bias.val().cast(FloatDType::BF16)));
            let fused = forward(
                &bf16,
                &x.clone().cast(FloatDType::BF16),
                None,
                shape.activation,
            );
            match fused {
                Some(fused) => {
                    let fused = fused.cast(FloatDType::F32);
                    let scale = expected.clone().abs().max().into_scalar::<f32>();
                    let difference = max_abs_difference(fused, expected);
                    // bfloat16 keeps 8 significant bits: 2^-8 of the largest value, for
                    // the inputs' and weights' rounding and the output's.
                    assert!(
                        difference <= scale / 64.0,
                        "{shape:?}: {difference} of {scale}"
                    );
                }
                None => assert!(!fusable(tch::Kind::BFloat16), "{shape:?}: not fused"),
            }
        }
    }

    #[test]
    fn a_convolution_that_trains_is_left_to_the_caller() {
        let device = crate::device::cpu().autodiff();
        let conv = burn::nn::conv::Conv2dConfig::new([2, 2], [3, 3]).init(&device);
        let x = Tensor::<4>::zeros([1, 2, 5, 5], &device).require_grad();
        assert!(forward(&conv, &x, None, Activation::Relu).is_none());
    }
}
