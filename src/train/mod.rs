//! Fitting a classifier: optimizers, losses, per-epoch metrics and the training loop.

mod fit;
mod loss;
mod metrics;
mod optim;

pub use fit::{EpochOutcome, FitOptions, FitStop, SplitInput, evaluate, fit};
pub use loss::{loss_from_logits, predicted_classes};
pub use metrics::RunningMetrics;
pub use optim::build_optimizer;
pub use runner_core::metrics::EpochMetrics;
