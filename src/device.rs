//! The LibTorch devices runner trains on. Burn marks its LibTorch backend deprecated in
//! favour of CubeCL; this project is built on LibTorch on purpose, so the deprecation is
//! acknowledged here, once.

use burn::prelude::Device;

/// The LibTorch version runner links; torch-sys refuses to build against any other.
pub const LIBTORCH_VERSION: &str = "2.9.0";

/// LibTorch on the CPU.
#[allow(deprecated)]
pub fn cpu() -> Device {
    Device::libtorch()
}

/// LibTorch on CUDA GPU `index`.
#[allow(deprecated)]
pub fn cuda(index: usize) -> Device {
    Device::libtorch_cuda(index)
}

/// Whether LibTorch was built with CUDA and sees a GPU.
pub fn cuda_available() -> bool {
    tch::Cuda::is_available()
}
