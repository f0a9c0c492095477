//! Operations of the trainable part whose gradients are computed the way PyTorch computes
//! them, where Burn's generic formulas cost more on LibTorch (each module says what was
//! measured). Each takes Burn tensors and returns `None` for tensors that are not Burn's
//! autodiff over LibTorch, which the caller then hands to Burn's own operation.

// Burn deprecates its LibTorch backend; this project is built on it (see src/device.rs).
#![allow(deprecated)]

pub mod conv;
pub mod dense;

/// Burn's autodiff over LibTorch, as `.autodiff()` tensors are.
type Differentiable = burn::backend::Autodiff<burn::backend::LibTorch>;
