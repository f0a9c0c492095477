//! Keras' callbacks: small values the training loop calls in order after every epoch, and
//! once when a phase ends, through one trait. Those that only watch the metrics (stop at
//! a threshold, early stopping with its best weights, reduce the learning rate on a
//! plateau) are here; those that write the run's files (checkpoints, the CSV history,
//! resume snapshots) are in `exec`, and reach the run they record as `R`. A callback's
//! state goes into every resume snapshot, so a resumed run carries on where it stopped.

use std::collections::BTreeMap;

use anyhow::Result;
use burn::optim::ModuleOptimizer;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::fit::Phase;
use crate::bail_input;
use crate::model::TrainableModel;
use crate::spec::{CallbackSpec, MonitorMode};
use runner_core::metrics::EpochMetrics;

/// An epoch's metrics by name: `loss`, `accuracy`, `val_loss`, `val_accuracy`,
/// `precision`, `val_auc`, ..., `lr`.
pub type Logs = BTreeMap<String, f64>;

/// What a callback asks of the training loop after an epoch.
#[derive(Debug)]
pub enum Control {
    Continue,
    /// Stop after this epoch, and why.
    Stop(String),
    /// Multiply the learning rate by this from the next epoch on.
    ScaleLr(f64),
}

/// An epoch as the callbacks see it, with what those before have decided.
pub struct EpochEnd<'a, R> {
    pub phase: &'a Phase,
    pub metrics: &'a EpochMetrics,
    pub logs: Logs,
    pub model: &'a TrainableModel,
    pub optimizer: &'a ModuleOptimizer,
    /// `[label][predicted]` on the validation images.
    pub validation_confusion: &'a [Vec<usize>],
    /// The factor of the next epoch's learning rate (reductions on plateau so far).
    pub lr_factor: f64,
    /// Why training stops after this epoch: the first callback that stopped it says.
    pub stop: Option<String>,
    /// The [`Callback::state`] of each callback that has run, in order.
    pub states: Vec<Value>,
    /// The run being recorded.
    pub run: &'a mut R,
}

/// The weights a phase ends with.
pub struct TrainEnd {
    pub model: TrainableModel,
    /// The epoch whose weights `model` holds: the last, unless a callback put back a
    /// better one.
    pub epoch: usize,
    /// Why a callback stopped the phase early.
    pub stopped: Option<String>,
}

/// A Keras callback, for a run recorded in `R`.
pub trait Callback<R> {
    fn on_epoch_end(&mut self, epoch: &mut EpochEnd<R>) -> Result<Control>;

    /// When the phase's epochs are done or a callback stopped them (not on Ctrl-C).
    fn on_train_end(&mut self, _end: &mut TrainEnd) {}

    /// What a resumed run needs to carry on where this one is; `Null` for nothing.
    fn state(&self) -> Value {
        Value::Null
    }

    /// Carries on from a [`Callback::state`] taken before.
    fn resume(&mut self, _state: Value) -> Result<()> {
        Ok(())
    }
}

/// Runs every callback on an epoch, in order, and gathers their answers into `epoch`.
pub(super) fn end_epoch<R>(
    callbacks: &mut [Box<dyn Callback<R> + '_>],
    epoch: &mut EpochEnd<R>,
) -> Result<()> {
    let lr_factor = epoch.lr_factor;
    for callback in callbacks {
        match callback.on_epoch_end(epoch)? {
            Control::Continue => {}
            Control::Stop(reason) => {
                epoch.stop.get_or_insert(reason);
            }
            // Of this epoch's rate: a later callback's reduction replaces an earlier one's.
            Control::ScaleLr(factor) => epoch.lr_factor = lr_factor * factor,
        }
        epoch.states.push(callback.state());
    }
    Ok(())
}

/// An epoch's metrics by name, as callbacks see them.
pub(super) fn epoch_logs(metrics: &EpochMetrics) -> Logs {
    let mut logs: Logs = metrics.extra.clone();
    for (name, value) in [
        ("loss", metrics.loss),
        ("accuracy", metrics.accuracy),
        ("val_loss", metrics.val_loss),
        ("val_accuracy", metrics.val_accuracy),
        ("lr", metrics.lr),
    ] {
        logs.insert(name.to_string(), value);
    }
    logs
}

/// The [`Callback::state`] of a callback that is its own state: all of it serialized.
pub fn state_of(callback: &impl Serialize) -> Value {
    serde_json::to_value(callback).expect("a callback's state serializes")
}

/// [`Callback::resume`] for a callback that is its own state.
pub fn resume_from<T: DeserializeOwned>(callback: &mut T, state: Value) -> Result<()> {
    *callback = serde_json::from_value(state)?;
    Ok(())
}

/// A metric watched by a callback, which way is better, and its best value so far.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Monitor {
    name: String,
    higher_is_better: bool,
    best: Option<f64>,
}

impl Monitor {
    pub fn new(name: &str, mode: MonitorMode) -> Self {
        let higher_is_better = match mode {
            MonitorMode::Max => true,
            MonitorMode::Min => false,
            // As Keras' `auto`: accuracies and the like go up, losses go down.
            MonitorMode::Auto => !name.ends_with("loss"),
        };
        Self {
            name: name.to_string(),
            higher_is_better,
            best: None,
        }
    }

    fn value(&self, logs: &Logs) -> Result<f64> {
        match logs.get(&self.name) {
            Some(value) => Ok(*value),
            None => bail_input!(
                "a callback monitors `{}`, which this run does not record (it records {})",
                self.name,
                logs.keys()
                    .map(String::as_str)
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        }
    }

    /// Whether the epoch of `logs` beats the best value by more than `min_delta`, which
    /// makes it the best.
    pub fn improved(&mut self, logs: &Logs, min_delta: f64) -> Result<bool> {
        let current = self.value(logs)?;
        let improved = match self.best {
            None => true,
            Some(best) if self.higher_is_better => current - min_delta > best,
            Some(best) => current + min_delta < best,
        };
        if improved {
            self.best = Some(current);
        }
        Ok(improved)
    }
}

/// The callback `spec` declares when it only watches the metrics; `None` for those that
/// write the run's files, which `exec` makes.
pub fn metric_callback<R>(spec: &CallbackSpec) -> Option<Box<dyn Callback<R>>> {
    Some(match spec {
        CallbackSpec::StopAt {
            monitor,
            threshold,
            mode,
        } => {
            if !monitor.starts_with("val_") {
                tracing::warn!(
                    "`stop_at` watches the training metric `{monitor}`: reaching {threshold} on the training images says nothing about new images"
                );
            }
            Box::new(StopAt {
                monitor: Monitor::new(monitor, *mode),
                threshold: *threshold,
            })
        }
        CallbackSpec::EarlyStopping {
            monitor,
            patience,
            min_delta,
            mode,
            restore_best,
        } => Box::new(EarlyStopping {
            monitor: Monitor::new(monitor, *mode),
            patience: *patience,
            min_delta: *min_delta,
            restore_best: *restore_best,
            wait: 0,
            best_weights: None,
        }),
        CallbackSpec::ReduceLrOnPlateau {
            monitor,
            factor,
            patience,
            min_delta,
            cooldown,
            min_lr,
            mode,
        } => Box::new(ReduceLrOnPlateau {
            monitor: Monitor::new(monitor, *mode),
            factor: *factor,
            patience: *patience,
            min_delta: *min_delta,
            cooldown: *cooldown,
            min_lr: *min_lr,
            wait: 0,
            cooldown_left: 0,
        }),
        CallbackSpec::Checkpoint { .. } | CallbackSpec::CsvLogger { .. } => return None,
    })
}

/// Stops once the monitor passes a threshold (the course's "stop at 99.9% accuracy").
struct StopAt {
    monitor: Monitor,
    threshold: f64,
}

impl<R> Callback<R> for StopAt {
    fn on_epoch_end(&mut self, epoch: &mut EpochEnd<R>) -> Result<Control> {
        let value = self.monitor.value(&epoch.logs)?;
        let passed = if self.monitor.higher_is_better {
            value > self.threshold
        } else {
            value < self.threshold
        };
        Ok(if passed {
            Control::Stop(format!(
                "`{}` = {value:.4} passed {} at epoch {}",
                self.monitor.name, self.threshold, epoch.metrics.epoch
            ))
        } else {
            Control::Continue
        })
    }
}

/// Stops when the monitor has not improved for `patience` epochs; with `restore_best`,
/// keeps a copy of the best epoch's weights and ends the phase with them.
#[derive(Serialize, Deserialize)]
struct EarlyStopping {
    monitor: Monitor,
    patience: usize,
    min_delta: f64,
    restore_best: bool,
    wait: usize,
    /// Not in a resume snapshot: a resumed run restores only a best epoch it trained.
    #[serde(skip)]
    best_weights: Option<(usize, TrainableModel)>,
}

impl<R> Callback<R> for EarlyStopping {
    fn on_epoch_end(&mut self, epoch: &mut EpochEnd<R>) -> Result<Control> {
        if self.monitor.improved(&epoch.logs, self.min_delta)? {
            self.wait = 0;
            if self.restore_best {
                self.best_weights = Some((epoch.metrics.epoch, epoch.model.detached()));
            }
            return Ok(Control::Continue);
        }
        // As Keras: stop at the `patience`-th epoch without improvement.
        self.wait += 1;
        Ok(if self.wait >= self.patience {
            Control::Stop(format!(
                "early stopping: `{}` has not improved for {} epoch(s) (patience {})",
                self.monitor.name, self.wait, self.patience
            ))
        } else {
            Control::Continue
        })
    }

    fn on_train_end(&mut self, end: &mut TrainEnd) {
        if let Some((epoch, model)) = self.best_weights.take() {
            tracing::info!("early_stopping: restoring the weights of epoch {epoch}, the best");
            end.model = model;
            end.epoch = epoch;
        }
    }

    fn state(&self) -> Value {
        state_of(self)
    }

    fn resume(&mut self, state: Value) -> Result<()> {
        resume_from(self, state)
    }
}

/// Multiplies the learning rate by `factor` when the monitor has not improved for
/// `patience` epochs, then waits `cooldown` epochs; never below `min_lr`.
#[derive(Serialize, Deserialize)]
struct ReduceLrOnPlateau {
    monitor: Monitor,
    factor: f64,
    patience: usize,
    min_delta: f64,
    cooldown: usize,
    min_lr: f64,
    wait: usize,
    cooldown_left: usize,
}

impl<R> Callback<R> for ReduceLrOnPlateau {
    fn on_epoch_end(&mut self, epoch: &mut EpochEnd<R>) -> Result<Control> {
        // Keras' order: the cooldown ticks first, and resets the wait.
        if self.cooldown_left > 0 {
            self.cooldown_left -= 1;
            self.wait = 0;
        }
        if self.monitor.improved(&epoch.logs, self.min_delta)? {
            self.wait = 0;
            return Ok(Control::Continue);
        }
        if self.cooldown_left > 0 {
            return Ok(Control::Continue);
        }
        self.wait += 1;
        let lr = epoch.metrics.lr;
        if self.wait < self.patience || lr <= self.min_lr {
            return Ok(Control::Continue);
        }
        let new_lr = (lr * self.factor).max(self.min_lr);
        tracing::info!(
            "reduce_lr_on_plateau: `{}` has not improved for {} epoch(s), learning rate {lr:e} -> {new_lr:e}",
            self.monitor.name,
            self.wait
        );
        self.cooldown_left = self.cooldown;
        self.wait = 0;
        Ok(Control::ScaleLr(new_lr / lr))
    }

    fn state(&self) -> Value {
        state_of(self)
    }

    fn resume(&mut self, state: Value) -> Result<()> {
        resume_from(self, state)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Head;
    use crate::spec::{Activation, HeadLayerSpec};
    use crate::train::{LrSchedule, build_optimizer};

    fn parse(text: &str) -> Vec<CallbackSpec> {
        #[derive(Deserialize)]
        struct File {
            #[serde(default)]
            callbacks: Vec<CallbackSpec>,
        }
        toml::from_str::<File>(text).unwrap().callbacks
    }

    /// What the training loop makes of the callbacks after one epoch.
    struct Outcome {
        stop: Option<String>,
        lr_factor: f64,
        states: Vec<Value>,
    }

    /// Drives callbacks over epochs as the training loop does, on a model of one unit.
    struct Loop {
        callbacks: Vec<Box<dyn Callback<()>>>,
        model: TrainableModel,
        optimizer: ModuleOptimizer,
        phase: Phase,
        lr_factor: f64,
    }

    impl Loop {
        fn new(specs: &str) -> Self {
            let head = [
                HeadLayerSpec::GlobalAvgPool,
                HeadLayerSpec::Dense {
                    units: 1,
                    activation: Activation::Sigmoid,
                },
            ];
            let device = crate::device::cpu().autodiff();
            let (head, _) = Head::new(&head, [1, 1, 1], &device).unwrap();
            let optimizer = toml::from_str("type = \"sgd\"\nlr = 0.1").unwrap();
            Self {
                callbacks: parse(specs).iter().filter_map(metric_callback).collect(),
                model: TrainableModel {
                    backbone: Vec::new(),
                    head,
                    mixed_precision: false,
                },
                optimizer: build_optimizer(&optimizer),
                phase: Phase {
                    index: 1,
                    first_epoch: 1,
                    next_epoch: 1,
                    epochs: 100,
                    lr_factor: 1.0,
                    schedule: LrSchedule::new(0.1, None, 100),
                    pause_after: None,
                },
                lr_factor: 1.0,
            }
        }

        /// Epoch `epoch` with these logs and learning rate.
        fn epoch(&mut self, epoch: usize, logs: &[(&str, f64)], lr: f64) -> Result<Outcome> {
            let metrics = EpochMetrics {
                epoch,
                phase: 1,
                loss: 0.0,
                accuracy: 0.0,
                val_loss: 0.0,
                val_accuracy: 0.0,
                extra: BTreeMap::new(),
                lr,
                seconds: 0.0,
                data_wait_seconds: 0.0,
            };
            let mut end = EpochEnd {
                phase: &self.phase,
                metrics: &metrics,
                logs: logs.iter().map(|(k, v)| (k.to_string(), *v)).collect(),
                model: &self.model,
                optimizer: &self.optimizer,
                validation_confusion: &[],
                lr_factor: self.lr_factor,
                stop: None,
                states: Vec::new(),
                run: &mut (),
            };
            end_epoch(&mut self.callbacks, &mut end)?;
            self.lr_factor = end.lr_factor;
            Ok(Outcome {
                stop: end.stop,
                lr_factor: end.lr_factor,
                states: end.states,
            })
        }

        /// The epoch whose weights the phase ends with, after `last`.
        fn train_end(&mut self, last: usize) -> usize {
            let mut end = TrainEnd {
                model: self.model.clone(),
                epoch: last,
                stopped: None,
            };
            for callback in &mut self.callbacks {
                callback.on_train_end(&mut end);
            }
            end.epoch
        }
    }

    /// Runs the callbacks over `val_loss` values (and accuracy = 1 - loss), with the
    /// learning rate `lr` times the callbacks' factor; returns each epoch's outcome.
    fn run(specs: &str, losses: &[f64], lr: f64) -> Vec<Outcome> {
        let mut fit = Loop::new(specs);
        (0..losses.len())
            .map(|index| {
                let logs = [
                    ("val_loss", losses[index]),
                    ("accuracy", 1.0 - losses[index]),
                ];
                let lr = lr * fit.lr_factor;
                fit.epoch(index + 1, &logs, lr).unwrap()
            })
            .collect()
    }

    fn stop_epoch(outcomes: &[Outcome]) -> Option<usize> {
        outcomes
            .iter()
            .position(|outcome| outcome.stop.is_some())
            .map(|index| index + 1)
    }

    #[test]
    fn stop_at_stops_once_the_threshold_is_passed() {
        let specs =
            "[[callbacks]]\ntype = \"stop_at\"\nmonitor = \"accuracy\"\nthreshold = 0.999\n";
        // accuracy = 1 - loss: 0.5, 0.9, 0.999 (not past), 0.9995 (past)
        let outcomes = run(specs, &[0.5, 0.1, 0.001, 0.0005, 0.0001], 0.1);
        assert_eq!(stop_epoch(&outcomes), Some(4));
        assert!(
            outcomes[3]
                .stop
                .as_ref()
                .unwrap()
                .contains("`accuracy` = 0.9995")
        );
    }

    #[test]
    fn early_stopping_waits_patience_epochs_after_the_best_and_restores_it() {
        let specs = "[[callbacks]]\ntype = \"early_stopping\"\npatience = 2\nrestore_best = true\n";
        // Best at epoch 2; epochs 3 and 4 do not improve: the second of them stops.
        let mut fit = Loop::new(specs);
        let stops: Vec<bool> = [0.5, 0.3, 0.35, 0.31]
            .iter()
            .enumerate()
            .map(|(index, &loss)| {
                let outcome = fit.epoch(index + 1, &[("val_loss", loss)], 0.1).unwrap();
                outcome.stop.is_some()
            })
            .collect();
        assert_eq!(stops, [false, false, false, true]);
        assert_eq!(fit.train_end(4), 2);
        // Without restore_best the phase ends with its last weights.
        let mut fit = Loop::new("[[callbacks]]\ntype = \"early_stopping\"\npatience = 2\n");
        fit.epoch(1, &[("val_loss", 0.5)], 0.1).unwrap();
        fit.epoch(2, &[("val_loss", 0.6)], 0.1).unwrap();
        assert_eq!(fit.train_end(2), 2);

        // patience 0 (Keras' default) stops at the first epoch without improvement.
        let specs = "[[callbacks]]\ntype = \"early_stopping\"\n";
        assert_eq!(stop_epoch(&run(specs, &[0.5, 0.4, 0.45], 0.1)), Some(3));
    }

    #[test]
    fn early_stopping_min_delta_demands_a_real_improvement() {
        let specs = "[[callbacks]]\ntype = \"early_stopping\"\npatience = 2\nmin_delta = 0.05\n";
        // 0.48 and 0.46 improve on 0.5 by less than 0.05: two epochs without improvement.
        assert_eq!(stop_epoch(&run(specs, &[0.5, 0.48, 0.46], 0.1)), Some(3));
        assert_eq!(stop_epoch(&run(specs, &[0.5, 0.4, 0.3], 0.1)), None);
    }

    #[test]
    fn reduce_lr_on_plateau_with_patience_cooldown_and_min_lr() {
        let specs = "[[callbacks]]\ntype = \"reduce_lr_on_plateau\"\nfactor = 0.5\npatience = 2\ncooldown = 1\nmin_lr = 0.02\n";
        let factors: Vec<f64> = run(specs, &[1.0; 8], 0.1)
            .iter()
            .map(|outcome| outcome.lr_factor)
            .collect();
        // Keras' order: epoch 1 sets the best; 2 and 3 wait and 3 reduces 0.1 -> 0.05; 4 ends
        // the cooldown and, no longer in it, waits once; 5 reduces 0.05 -> 0.025; 6 ends the
        // cooldown and waits; 7 would reduce to 0.0125 but stops at min_lr 0.02 (x0.8).
        assert_eq!(factors[..6], [1.0, 1.0, 0.5, 0.5, 0.25, 0.25]);
        assert!((factors[6] - 0.2).abs() < 1e-12);
        assert_eq!(factors[7], factors[6]);
    }

    #[test]
    fn a_monitor_keeps_the_best_value_in_its_direction() {
        let logs = |loss: f64| Logs::from([("val_loss".to_string(), loss)]);
        let mut lower = Monitor::new("val_loss", MonitorMode::Auto);
        let improved: Vec<bool> = [0.5, 0.6, 0.4]
            .iter()
            .map(|&loss| lower.improved(&logs(loss), 0.0).unwrap())
            .collect();
        assert_eq!(improved, [true, false, true]);
        let mut higher = Monitor::new("val_loss", MonitorMode::Max);
        let improved: Vec<bool> = [0.5, 0.6, 0.4]
            .iter()
            .map(|&loss| higher.improved(&logs(loss), 0.0).unwrap())
            .collect();
        assert_eq!(improved, [true, true, false]);
    }

    #[test]
    fn an_unrecorded_monitor_is_an_error_listing_the_recorded_ones() {
        let specs = "[[callbacks]]\ntype = \"early_stopping\"\nmonitor = \"val_auc\"\n";
        let error = Loop::new(specs)
            .epoch(1, &[("val_loss", 0.1)], 0.1)
            .err()
            .unwrap()
            .to_string();
        assert!(
            error.contains("`val_auc`") && error.contains("val_loss"),
            "{error}"
        );
    }

    #[test]
    fn state_survives_serialization_for_resume() {
        let specs = "[[callbacks]]\ntype = \"early_stopping\"\npatience = 2\n";
        let mut fit = Loop::new(specs);
        fit.epoch(1, &[("val_loss", 0.5)], 0.1).unwrap();
        let states = fit.epoch(2, &[("val_loss", 0.6)], 0.1).unwrap().states;
        let text = serde_json::to_string(&states).unwrap();
        let mut resumed = Loop::new(specs);
        for (callback, state) in resumed
            .callbacks
            .iter_mut()
            .zip(serde_json::from_str::<Vec<Value>>(&text).unwrap())
        {
            callback.resume(state).unwrap();
        }
        let outcome = resumed.epoch(3, &[("val_loss", 0.7)], 0.1).unwrap();
        assert!(outcome.stop.is_some());
    }
}
