//! The channels-last memory layout for the frozen prefix. oneDNN's CPU convolutions (and
//! cuDNN's) take and give NHWC without reordering every layer's input and output: in
//! PyTorch itself, InceptionV3 up to `mixed7` at 150x150 (batch 32, 2 threads) ran in
//! 363 ms instead of 502 ms. Burn has no memory-format API, so the LibTorch tensor is
//! reached through Burn's backend-extension downcast; LibTorch's later operations keep the
//! layout, and reshaping (Flatten) reads the values in their logical order.

// Burn deprecates its LibTorch backend; this project is built on it (see src/device.rs).
#![allow(deprecated)]

use burn::backend::LibTorch;
use burn::backend::libtorch::TchTensor;
use burn::module::Param;
use burn::nn::PaddingConfig2d;
use burn::nn::conv::Conv2d;
use burn::prelude::*;
use burn::tensor::module::conv2d;
use burn::tensor::ops::ConvOptions;

use super::grad;

/// `images` with the same shape and values, stored NHWC.
pub fn channels_last(images: Tensor<4>) -> Tensor<4> {
    relaid(images, |nchw| {
        nchw.permute([0, 2, 3, 1])
            .contiguous()
            .permute([0, 3, 1, 2])
    })
}

/// `x` with the same shape and values, stored NCHW (row-major): the layout of a tensor
/// made from values read out of another.
pub fn channels_first(x: Tensor<4>) -> Tensor<4> {
    relaid(x, |x| x.contiguous())
}

/// `x` stored as `relayout` stores its LibTorch tensor.
fn relaid(x: Tensor<4>, relayout: impl FnOnce(tch::Tensor) -> tch::Tensor) -> Tensor<4> {
    match x.clone().try_into_primitive::<LibTorch>() {
        Ok(primitive) => {
            Tensor::from_primitive::<LibTorch>(TchTensor::new(relayout(primitive.tensor)))
        }
        // Another backend, or an autodiff tensor: left as it is.
        Err(_) => x,
    }
}

/// `conv.forward(x)`, with an uneven padding done on `x` first in its own layout: the same
/// values, with the same zeros where the padding is. A convolution that trains (without
/// bias, as every trainable one of the backbones) is differentiated by LibTorch
/// ([`grad::conv`]).
pub fn convolve(conv: &Conv2d, x: Tensor<4>) -> Tensor<4> {
    let [_, _, height, width] = x.dims();
    let options = conv_options(conv, height, width);
    if conv.bias.is_none()
        && let Some(output) = grad::conv::conv2d(&x, &conv.weight.val(), &options)
    {
        return output;
    }
    if !options.is_asymmetric() {
        return conv.forward(x);
    }
    // An autodiff tensor goes through Burn's padding, which knows its gradient.
    let Ok(primitive) = x.clone().try_into_primitive::<LibTorch>() else {
        return conv.forward(x);
    };
    let padded = pad(&primitive.tensor, options.padding);
    conv2d(
        Tensor::from_primitive::<LibTorch>(TchTensor::new(padded)),
        conv.weight.val(),
        conv.bias.as_ref().map(Param::val),
        ConvOptions::new(conv.stride, [0, 0], conv.dilation, conv.groups),
    )
}

/// `conv`'s options on an input of `height` x `width`, its padding as Burn pads.
pub(super) fn conv_options(conv: &Conv2d, height: usize, width: usize) -> ConvOptions<2> {
    ConvOptions::new_with_padding(
        conv.stride,
        padding(conv, height, width),
        conv.dilation,
        conv.groups,
    )
}

/// `x` padded with zeros by `padding` (`(before, after)` of the height and the width), in
/// its own memory layout.
pub(super) fn pad(x: &tch::Tensor, padding: [(usize, usize); 2]) -> tch::Tensor {
    let [(top, bottom), (left, right)] = padding;
    // LibTorch lists the pads from the last dimension back.
    x.constant_pad_nd([left, right, top, bottom].map(|pad| pad as i64))
}

/// The `(before, after)` padding of the height and the width, as Burn pads for `conv`.
fn padding(conv: &Conv2d, height: usize, width: usize) -> [(usize, usize); 2] {
    match conv.padding {
        PaddingConfig2d::Valid => [(0, 0), (0, 0)],
        PaddingConfig2d::Same => [
            same_padding(conv.kernel_size[0], conv.stride[0], height),
            same_padding(conv.kernel_size[1], conv.stride[1], width),
        ],
        PaddingConfig2d::Explicit(top, left, bottom, right) => [(top, bottom), (left, right)],
    }
}

/// TensorFlow's "SAME" padding of one side (as Burn computes it): enough for
/// `ceil(size / stride)` outputs, the odd pixel after.
pub fn same_padding(kernel: usize, stride: usize, size: usize) -> (usize, usize) {
    let outputs = size.div_ceil(stride);
    let total = (outputs.saturating_sub(1) * stride + kernel).saturating_sub(size);
    (total / 2, total - total / 2)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_shape_and_values_and_stores_channels_last() {
        let device = crate::device::cpu();
        let values: Vec<f32> = (0..2 * 3 * 4 * 5).map(|v| v as f32).collect();
        let images = Tensor::<4>::from_data(TensorData::new(values, [2, 3, 4, 5]), &device);
        let converted = channels_last(images.clone());
        assert_eq!(converted.dims(), [2, 3, 4, 5]);
        assert_eq!(converted.clone().into_data(), images.into_data());
        let strides = converted
            .try_into_primitive::<LibTorch>()
            .unwrap()
            .tensor
            .stride();
        assert_eq!(strides, [60, 1, 15, 3]);
    }

    #[test]
    fn uneven_same_padding_keeps_the_values_and_the_layout() {
        use burn::nn::conv::Conv2dConfig;
        use burn::tensor::Distribution;

        let device = crate::device::cpu();
        // Stride 2 on an even side pads 0 before and 1 after (kernel 3), or 1 and 2 (kernel 5).
        for (kernel, groups) in [(3, 1), (5, 4)] {
            let conv = Conv2dConfig::new([4, 8], [kernel, kernel])
                .with_stride([2, 2])
                .with_groups(groups)
                .with_padding(PaddingConfig2d::Same)
                .init(&device);
            let images =
                Tensor::<4>::random([2, 4, 10, 12], Distribution::Normal(0.0, 1.0), &device);
            let expected = conv.forward(images.clone());
            let output = convolve(&conv, channels_last(images));
            assert_eq!(output.dims(), [2, 8, 5, 6]);
            let difference = (output.clone() - expected).abs().max().into_scalar::<f32>();
            assert!(
                difference < 1e-5,
                "kernel {kernel}: max abs difference {difference}"
            );
            let strides = output
                .try_into_primitive::<LibTorch>()
                .unwrap()
                .tensor
                .stride();
            assert_eq!(
                strides[1], 1,
                "kernel {kernel}: not channels-last: {strides:?}"
            );
        }
    }
}
