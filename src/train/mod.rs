//! Fitting a classifier: Keras' optimizers, losses and metrics, learning-rate schedules,
//! callbacks, and the training loop of one phase.

mod callbacks;
mod fit;
mod loss;
mod metrics;
mod optim;
mod schedule;

pub use callbacks::{
    Callback, Control, EpochEnd, Logs, Monitor, TrainEnd, metric_callback, resume_from, state_of,
};
pub use fit::{Coverage, FitOptions, FitOutcome, Phase, SplitInput, evaluate, fit_phase};
pub use loss::{class_probabilities, loss_from_logits, predicted_classes, probability_rows};
pub use metrics::RunningMetrics;
pub use optim::build_optimizer;
pub use runner_core::metrics::EpochMetrics;
pub use schedule::LrSchedule;
