//! `runner`: declarative transfer-learning pipelines for image classifiers on LibTorch.
//!
//! Data flows one way: [`spec`] parses and validates a pipeline file, [`data`] scans and
//! decodes the image folders, [`model`] builds the backbone and head, [`train`] fits them,
//! [`store`] records the run, and [`report`] prints what was recorded. [`exec`] strings
//! these stages together for one run; [`cli`] maps commands onto them.

pub mod allocator;
pub mod cli;
pub mod data;
pub mod device;
pub mod error;
pub mod exec;
pub mod inference;
pub mod model;
pub mod report;
pub mod spec;
pub mod store;
pub mod train;
