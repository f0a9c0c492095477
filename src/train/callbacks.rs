//! Keras' callbacks, run after every epoch on that epoch's metrics: stop at a threshold,
//! early stopping, reduce the learning rate on a plateau, which checkpoints to keep.
//! Their state is serializable so a resumed run carries on where it stopped.

use std::collections::BTreeMap;

use anyhow::Result;
use serde::{Deserialize, Serialize};

use crate::bail_input;
use crate::spec::{CallbackSpec, CheckpointSave, MonitorMode};

/// An epoch's metrics by name: `loss`, `accuracy`, `val_loss`, `val_accuracy`,
/// `precision`, `val_auc`, ...
pub type Logs = BTreeMap<String, f64>;

/// A metric watched by a callback, and which way is better.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Monitor {
    name: String,
    higher_is_better: bool,
}

impl Monitor {
    fn new(name: &str, mode: MonitorMode) -> Self {
        let higher_is_better = match mode {
            MonitorMode::Max => true,
            MonitorMode::Min => false,
            // As Keras' `auto`: accuracies and the like go up, losses go down.
            MonitorMode::Auto => !name.ends_with("loss"),
        };
        Self {
            name: name.to_string(),
            higher_is_better,
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

    /// Whether `current` beats `best` by more than `min_delta`.
    fn improves(&self, current: f64, best: Option<f64>, min_delta: f64) -> bool {
        match best {
            None => true,
            Some(best) if self.higher_is_better => current - min_delta > best,
            Some(best) => current + min_delta < best,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
enum Callback {
    StopAt {
        monitor: Monitor,
        threshold: f64,
    },
    EarlyStopping {
        monitor: Monitor,
        patience: usize,
        min_delta: f64,
        restore_best: bool,
        best: Option<f64>,
        wait: usize,
    },
    ReduceLrOnPlateau {
        monitor: Monitor,
        factor: f64,
        patience: usize,
        min_delta: f64,
        cooldown: usize,
        min_lr: f64,
        best: Option<f64>,
        wait: usize,
        cooldown_left: usize,
    },
}

/// What the run should do after an epoch.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct EpochActions {
    /// Stop training, and why.
    pub stop: Option<String>,
    /// Multiply the learning rate by this from the next epoch on.
    pub lr_factor: Option<f64>,
    /// Keep this epoch's weights as the best checkpoint.
    pub save_best: bool,
    /// Keep this epoch's weights as the last checkpoint.
    pub save_last: bool,
    /// Remember this epoch's weights, to put back at the end (`restore_best`).
    pub remember_weights: bool,
}

/// Every callback of a run, with its state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Callbacks {
    callbacks: Vec<Callback>,
    checkpoint: Monitor,
    save: CheckpointSave,
    best_checkpoint: Option<f64>,
    /// For `restore_best`: the monitor, its `min_delta`, and the best value so far.
    restore: Option<(Monitor, f64, Option<f64>)>,
}

impl Callbacks {
    pub fn new(specs: &[CallbackSpec]) -> Self {
        let mut callbacks = Vec::new();
        let mut checkpoint = Monitor::new("val_loss", MonitorMode::Auto);
        let mut save = CheckpointSave::Both;
        let mut restore = None;
        for spec in specs {
            match spec {
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
                    callbacks.push(Callback::StopAt {
                        monitor: Monitor::new(monitor, *mode),
                        threshold: *threshold,
                    });
                }
                CallbackSpec::EarlyStopping {
                    monitor,
                    patience,
                    min_delta,
                    mode,
                    restore_best,
                } => {
                    let monitor = Monitor::new(monitor, *mode);
                    if *restore_best {
                        restore = Some((monitor.clone(), *min_delta, None));
                    }
                    callbacks.push(Callback::EarlyStopping {
                        monitor,
                        patience: *patience,
                        min_delta: *min_delta,
                        restore_best: *restore_best,
                        best: None,
                        wait: 0,
                    });
                }
                CallbackSpec::ReduceLrOnPlateau {
                    monitor,
                    factor,
                    patience,
                    min_delta,
                    cooldown,
                    min_lr,
                    mode,
                } => callbacks.push(Callback::ReduceLrOnPlateau {
                    monitor: Monitor::new(monitor, *mode),
                    factor: *factor,
                    patience: *patience,
                    min_delta: *min_delta,
                    cooldown: *cooldown,
                    min_lr: *min_lr,
                    best: None,
                    wait: 0,
                    cooldown_left: 0,
                }),
                CallbackSpec::Checkpoint {
                    monitor,
                    mode,
                    save: which,
                } => {
                    checkpoint = Monitor::new(monitor, *mode);
                    save = *which;
                }
                CallbackSpec::CsvLogger { .. } => {}
            }
        }
        Self {
            callbacks,
            checkpoint,
            save,
            best_checkpoint: None,
            restore,
        }
    }

    /// Runs every callback on an epoch's `logs`; `lr` is the rate the epoch ended with.
    pub fn on_epoch_end(&mut self, epoch: usize, logs: &Logs, lr: f64) -> Result<EpochActions> {
        let mut actions = EpochActions {
            save_last: self.save != CheckpointSave::Best,
            ..EpochActions::default()
        };
        let current = self.checkpoint.value(logs)?;
        if self.checkpoint.improves(current, self.best_checkpoint, 0.0) {
            self.best_checkpoint = Some(current);
            actions.save_best = self.save != CheckpointSave::Last;
        }
        if let Some((monitor, min_delta, best)) = &mut self.restore {
            let current = monitor.value(logs)?;
            if monitor.improves(current, *best, *min_delta) {
                *best = Some(current);
                actions.remember_weights = true;
            }
        }
        for callback in &mut self.callbacks {
            match callback {
                Callback::StopAt { monitor, threshold } => {
                    let value = monitor.value(logs)?;
                    let passed = if monitor.higher_is_better {
                        value > *threshold
                    } else {
                        value < *threshold
                    };
                    if passed && actions.stop.is_none() {
                        actions.stop = Some(format!(
                            "`{}` = {value:.4} passed {threshold} at epoch {epoch}",
                            monitor.name
                        ));
                    }
                }
                Callback::EarlyStopping {
                    monitor,
                    patience,
                    min_delta,
                    best,
                    wait,
                    ..
                } => {
                    let value = monitor.value(logs)?;
                    if monitor.improves(value, *best, *min_delta) {
                        *best = Some(value);
                        *wait = 0;
                    } else {
                        // As Keras: stop at the `patience`-th epoch without improvement.
                        *wait += 1;
                        if *wait >= *patience && actions.stop.is_none() {
                            actions.stop = Some(format!(
                                "early stopping: `{}` has not improved for {wait} epoch(s) (patience {patience})",
                                monitor.name
                            ));
                        }
                    }
                }
                Callback::ReduceLrOnPlateau {
                    monitor,
                    factor,
                    patience,
                    min_delta,
                    cooldown,
                    min_lr,
                    best,
                    wait,
                    cooldown_left,
                } => {
                    // Keras' order: the cooldown ticks first, and resets the wait.
                    if *cooldown_left > 0 {
                        *cooldown_left -= 1;
                        *wait = 0;
                    }
                    let value = monitor.value(logs)?;
                    if monitor.improves(value, *best, *min_delta) {
                        *best = Some(value);
                        *wait = 0;
                    } else if *cooldown_left == 0 {
                        *wait += 1;
                        if *wait >= *patience && lr > *min_lr {
                            let new_lr = (lr * *factor).max(*min_lr);
                            tracing::info!(
                                "reduce_lr_on_plateau: `{}` has not improved for {wait} epoch(s), learning rate {lr:e} -> {new_lr:e}",
                                monitor.name
                            );
                            actions.lr_factor = Some(new_lr / lr);
                            *cooldown_left = *cooldown;
                            *wait = 0;
                        }
                    }
                }
            }
        }
        Ok(actions)
    }

    /// Whether the weights remembered by `restore_best` go back in at the end.
    pub fn restores_best(&self) -> bool {
        self.callbacks.iter().any(|callback| {
            matches!(
                callback,
                Callback::EarlyStopping {
                    restore_best: true,
                    ..
                }
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn logs(pairs: &[(&str, f64)]) -> Logs {
        pairs.iter().map(|(k, v)| (k.to_string(), *v)).collect()
    }

    fn parse(text: &str) -> Vec<CallbackSpec> {
        #[derive(Deserialize)]
        struct File {
            #[serde(default)]
            callbacks: Vec<CallbackSpec>,
        }
        toml::from_str::<File>(text).unwrap().callbacks
    }

    /// Runs the callbacks over `val_loss` values; returns the actions of each epoch.
    fn run(specs: &str, losses: &[f64], lr: f64) -> Vec<EpochActions> {
        let mut callbacks = Callbacks::new(&parse(specs));
        let mut lr = lr;
        losses
            .iter()
            .enumerate()
            .map(|(index, &loss)| {
                let logs = logs(&[("val_loss", loss), ("accuracy", 1.0 - loss)]);
                let actions = callbacks.on_epoch_end(index + 1, &logs, lr).unwrap();
                lr *= actions.lr_factor.unwrap_or(1.0);
                actions
            })
            .collect()
    }

    fn stop_epoch(actions: &[EpochActions]) -> Option<usize> {
        actions
            .iter()
            .position(|a| a.stop.is_some())
            .map(|index| index + 1)
    }

    #[test]
    fn stop_at_stops_once_the_threshold_is_passed() {
        let specs =
            "[[callbacks]]\ntype = \"stop_at\"\nmonitor = \"accuracy\"\nthreshold = 0.999\n";
        // accuracy = 1 - loss: 0.5, 0.9, 0.999 (not past), 0.9995 (past)
        let actions = run(specs, &[0.5, 0.1, 0.001, 0.0005, 0.0001], 0.1);
        assert_eq!(stop_epoch(&actions), Some(4));
        assert!(
            actions[3]
                .stop
                .as_ref()
                .unwrap()
                .contains("`accuracy` = 0.9995")
        );
    }

    #[test]
    fn early_stopping_waits_patience_epochs_after_the_best() {
        let specs = "[[callbacks]]\ntype = \"early_stopping\"\npatience = 2\nrestore_best = true\n";
        // Best at epoch 2; epochs 3 and 4 do not improve: the second of them stops.
        let actions = run(specs, &[0.5, 0.3, 0.35, 0.31, 0.2], 0.1);
        assert_eq!(stop_epoch(&actions), Some(4));
        let remembered: Vec<bool> = actions.iter().map(|a| a.remember_weights).collect();
        assert_eq!(remembered, [true, true, false, false, true]);

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
        let factors: Vec<Option<f64>> = run(specs, &[1.0; 8], 0.1)
            .iter()
            .map(|a| a.lr_factor)
            .collect();
        // Keras' order: epoch 1 sets the best; 2 and 3 wait and 3 reduces 0.1 -> 0.05; 4 ends
        // the cooldown and, no longer in it, waits once; 5 reduces 0.05 -> 0.025; 6 ends the
        // cooldown and waits; 7 would reduce to 0.0125 but stops at min_lr 0.02 (x0.8).
        assert_eq!(factors[..6], [None, None, Some(0.5), None, Some(0.5), None]);
        assert!((factors[6].unwrap() - 0.8).abs() < 1e-12);
        assert_eq!(factors[7], None);
    }

    #[test]
    fn checkpoint_keeps_best_by_its_monitor() {
        let actions = run("", &[0.5, 0.6, 0.4], 0.1);
        let best: Vec<bool> = actions.iter().map(|a| a.save_best).collect();
        assert_eq!(best, [true, false, true]);
        assert!(actions.iter().all(|a| a.save_last));

        let specs =
            "[[callbacks]]\ntype = \"checkpoint\"\nmonitor = \"accuracy\"\nsave = \"best\"\n";
        let actions = run(specs, &[0.5, 0.6, 0.4], 0.1);
        let best: Vec<bool> = actions.iter().map(|a| a.save_best).collect();
        assert_eq!(best, [true, false, true]);
        assert!(actions.iter().all(|a| !a.save_last));
    }

    #[test]
    fn an_unrecorded_monitor_is_an_error_listing_the_recorded_ones() {
        let specs = "[[callbacks]]\ntype = \"early_stopping\"\nmonitor = \"val_auc\"\n";
        let mut callbacks = Callbacks::new(&parse(specs));
        let error = callbacks
            .on_epoch_end(1, &logs(&[("val_loss", 0.1)]), 0.1)
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("`val_auc`") && error.contains("val_loss"),
            "{error}"
        );
    }

    #[test]
    fn state_survives_serialization_for_resume() {
        let specs = "[[callbacks]]\ntype = \"early_stopping\"\npatience = 2\n";
        let mut callbacks = Callbacks::new(&parse(specs));
        callbacks
            .on_epoch_end(1, &logs(&[("val_loss", 0.5)]), 0.1)
            .unwrap();
        callbacks
            .on_epoch_end(2, &logs(&[("val_loss", 0.6)]), 0.1)
            .unwrap();
        let mut resumed: Callbacks =
            serde_json::from_str(&serde_json::to_string(&callbacks).unwrap()).unwrap();
        let actions = resumed
            .on_epoch_end(3, &logs(&[("val_loss", 0.7)]), 0.1)
            .unwrap();
        assert!(actions.stop.is_some());
    }
}
