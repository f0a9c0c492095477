//! `runner`: declarative transfer-learning pipelines for image classifiers on LibTorch.
//!
//! Data flows one way: [`spec`] parses and validates a pipeline file, [`data`] scans and
//! decodes the image folders, [`model`] builds the backbone and head, [`train`] fits them,
//! [`store`] records the run, and [`report`] prints what was recorded. [`exec`] strings
//! these stages together for one run; [`inference`] uses a recorded model. The parts that
//! need no LibTorch live in `runner-core` and are re-exported here.

pub mod allocator;
pub mod commands;
pub mod data;
pub mod device;
pub mod exec;
pub mod inference;
pub mod model;
pub mod onnx;
pub mod plan;
pub mod predict;
pub mod progress;
pub mod stages;
pub mod summary;
pub mod train;

pub use runner_core::{arch, bail_input, cli, error, metrics, report, search, spec, store};
