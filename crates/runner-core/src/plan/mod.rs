//! The stages a run is made of and the content keys that name their results.
//!
//! A trial is a chain of stages: the dataset manifests (which files, with which bytes),
//! the decoded images, the frozen backbone's features, and the training (with its
//! per-epoch evaluation). Each stage's key is a SHA-256 over everything that determines
//! its output and nothing else, so two trials that agree on a stage share its result, and
//! a result recorded by an earlier run is found again by its key.

mod keys;

pub use keys::{InputHashes, StageKeys, digest, feature_cache_problem, stage_keys};
