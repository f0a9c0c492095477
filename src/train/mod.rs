//! Fitting a classifier: optimizers, losses, per-epoch metrics and the training loop.

mod fit;
mod loss;
mod metrics;
mod optim;

pub use fit::{EpochOutcome, FitOptions, FitStop, SplitInput, fit};
pub use loss::{loss_from_logits, predicted_classes};
pub use optim::build_optimizer;
pub use runner_core::metrics::EpochMetrics;
