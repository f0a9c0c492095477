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
use burn::prelude::*;

/// `images` with the same shape and values, stored NHWC.
pub fn channels_last(images: Tensor<4>) -> Tensor<4> {
    match images.clone().try_into_primitive::<LibTorch>() {
        Ok(primitive) => {
            let nhwc = primitive
                .tensor
                .permute([0, 2, 3, 1])
                .contiguous()
                .permute([0, 3, 1, 2]);
            Tensor::from_primitive::<LibTorch>(TchTensor::new(nhwc))
        }
        // Another backend, or an autodiff tensor: left as it is.
        Err(_) => images,
    }
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
}
