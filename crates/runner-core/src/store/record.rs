//! What the store keeps about a run.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::liveness::{Liveness, mark_if_stale};
use crate::metrics::EpochMetrics;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    Running,
    Finished,
    StoppedEarly,
    Failed,
    Interrupted,
    /// Paused at a rung of successive halving, below the rung's cut: its epochs,
    /// checkpoints and snapshot are kept, and a promotion continues it.
    Pruned,
}

impl RunStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            RunStatus::Running => "running",
            RunStatus::Finished => "finished",
            RunStatus::StoppedEarly => "stopped_early",
            RunStatus::Failed => "failed",
            RunStatus::Interrupted => "interrupted",
            RunStatus::Pruned => "pruned",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunRecord {
    /// Sortable by start time: `20261128-183012-456k3mx7q2p`.
    pub id: String,
    pub pipeline: String,
    pub pipeline_file: String,
    /// SHA-256 of the pipeline file's text, hex; the text is in the store's `specs` tree.
    pub spec_hash: String,
    /// The spec flattened to key paths (`head.2.rate`), values as written in the file.
    pub params: BTreeMap<String, serde_json::Value>,
    pub seed: u64,
    /// The seed of each random source, all derived from `seed`.
    #[serde(default)]
    pub seeds: crate::spec::Seeds,
    /// The sweep this run is a trial of, and its index there.
    pub sweep: Option<String>,
    pub trial: Option<usize>,
    /// Later sweeps in which this run stands for a trial they did not train again, its
    /// training stage being the same.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reused_in: Vec<String>,
    /// The key of each stage the run went through (`decoded.train`, `features.train`,
    /// `training`, ...): see `runner_core::plan`.
    #[serde(default)]
    pub stages: BTreeMap<String, String>,
    pub status: RunStatus,
    /// Why a run failed, was interrupted or stopped early.
    pub reason: Option<String>,
    /// Milliseconds since the Unix epoch.
    pub started_at: u64,
    pub ended_at: Option<u64>,
    /// The last time the recording process showed it was alive.
    pub heartbeat_at: u64,
    pub host: String,
    pub process: ProcessId,
    pub device: String,
    pub runner_version: String,
    pub libtorch_version: String,
    /// SHA-256 over the training and validation manifests (path, size, label of each file).
    pub dataset_hash: String,
    pub classes: Vec<String>,
    pub train_images: usize,
    pub validation_images: usize,
    /// Images of the held-out test split, when the pipeline has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub test_images: Option<usize>,
    /// `test_loss` and `test_accuracy` over the whole test split, evaluated once after
    /// training with the weights training ended with, as Keras' `evaluate` after `fit`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub test: BTreeMap<String, f64>,
    /// The epoch whose weights `test` was evaluated with: the last one, or the one
    /// `early_stopping` with `restore_best` went back to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub test_epoch: Option<usize>,
    /// Files that were not readable images, skipped with a warning.
    pub skipped_files: Vec<String>,
    /// Epochs recorded so far (their metrics are in the store's `epochs` tree).
    pub epochs: usize,
    /// The epoch with the lowest validation loss (Keras' default monitor), 1-based.
    pub best_epoch: Option<usize>,
    /// The best value of each metric over the epochs: highest accuracy, lowest loss.
    pub best: BTreeMap<String, f64>,
    /// The metrics of the last epoch.
    pub last: BTreeMap<String, f64>,
    /// Files the run produced, by name: `last` and `best` checkpoints, plots, exports.
    pub artifacts: BTreeMap<String, Artifact>,
    /// `[label][predicted]` counts on the validation images at the best checkpoint.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub confusion_matrix: Vec<Vec<usize>>,
    /// The validation images with the highest loss at the best checkpoint, highest first,
    /// as `runner inspect` last found them (`runner ui` shows them).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub top_losses: Vec<TopLoss>,
}

/// A validation image and how wrong the model was about it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TopLoss {
    /// The image file, as the run's dataset lists it.
    pub image: String,
    #[serde(rename = "true")]
    pub true_class: String,
    pub predicted: String,
    /// The predicted class's probability.
    pub probability: f64,
    /// The true class's probability.
    pub true_probability: f64,
    /// `-ln(true_probability)`, clipped as Keras clips it.
    pub loss: f64,
}

/// A process on a host, told apart from a later process that reuses its pid by its start
/// time (clock ticks after boot, from `/proc/PID/stat`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProcessId {
    pub pid: u32,
    pub start_ticks: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Artifact {
    pub path: String,
    pub bytes: u64,
    /// For a checkpoint: the phase (0-based) whose model it holds, which says how the
    /// model is split into frozen and trainable layers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<usize>,
}

/// The fields of a run record that `runner list` shows, parsed from the same stored JSON:
/// skipping the parameters (most of a record's bytes) keeps listing thousands of runs fast.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunSummary {
    pub id: String,
    pub pipeline: String,
    pub sweep: Option<String>,
    #[serde(default)]
    pub reused_in: Vec<String>,
    pub status: RunStatus,
    pub reason: Option<String>,
    pub started_at: u64,
    pub ended_at: Option<u64>,
    pub heartbeat_at: u64,
    pub host: String,
    pub process: ProcessId,
    pub epochs: usize,
    pub best_epoch: Option<usize>,
    pub best: BTreeMap<String, f64>,
    pub last: BTreeMap<String, f64>,
}

impl RunSummary {
    /// Whether the run is a trial of `sweep`, trained there or reused from an earlier run.
    pub fn in_sweep(&self, sweep: &str) -> bool {
        self.sweep.as_deref() == Some(sweep) || self.reused_in.iter().any(|id| id == sweep)
    }

    /// Shows a `running` run whose process is gone as `interrupted`, with the reason.
    pub fn mark_if_stale(&mut self, host: &str, now_millis: u64) {
        let run = Liveness {
            status: &mut self.status,
            reason: &mut self.reason,
            recorded_host: &self.host,
            process: self.process,
            heartbeat_at: self.heartbeat_at,
        };
        mark_if_stale(run, host, now_millis);
    }
}

impl RunRecord {
    pub fn summary(&self) -> RunSummary {
        RunSummary {
            id: self.id.clone(),
            pipeline: self.pipeline.clone(),
            sweep: self.sweep.clone(),
            reused_in: self.reused_in.clone(),
            status: self.status,
            reason: self.reason.clone(),
            started_at: self.started_at,
            ended_at: self.ended_at,
            heartbeat_at: self.heartbeat_at,
            host: self.host.clone(),
            process: self.process,
            epochs: self.epochs,
            best_epoch: self.best_epoch,
            best: self.best.clone(),
            last: self.last.clone(),
        }
    }

    /// Shows a `running` run whose process is gone as `interrupted`, with the reason.
    pub fn mark_if_stale(&mut self, host: &str, now_millis: u64) {
        let run = Liveness {
            status: &mut self.status,
            reason: &mut self.reason,
            recorded_host: &self.host,
            process: self.process,
            heartbeat_at: self.heartbeat_at,
        };
        mark_if_stale(run, host, now_millis);
    }

    /// Rebuilds the summary fields from a history (after a resume cut it back).
    pub fn reset_epochs(&mut self, history: &[EpochMetrics]) {
        self.epochs = 0;
        self.best_epoch = None;
        self.best.clear();
        self.last.clear();
        for epoch in history {
            self.add_epoch(epoch);
        }
    }

    /// Folds one more epoch into the summary fields. Returns whether it is the new best epoch.
    pub fn add_epoch(&mut self, epoch: &EpochMetrics) -> bool {
        let improved = self
            .best
            .get("val_loss")
            .is_none_or(|&best| epoch.val_loss < best);
        if improved {
            self.best_epoch = Some(epoch.epoch);
        }
        let values = metric_values(epoch);
        for (name, value, higher_is_better) in &values {
            let (name, value, higher_is_better) = (name.as_str(), *value, *higher_is_better);
            self.best
                .entry(name.to_string())
                .and_modify(|current| {
                    if (higher_is_better && value > *current)
                        || (!higher_is_better && value < *current)
                    {
                        *current = value;
                    }
                })
                .or_insert(value);
        }
        self.last = values
            .iter()
            .map(|(name, value, _)| (name.clone(), *value))
            .collect();
        self.epochs = epoch.epoch;
        improved
    }
}

/// `(name, value, higher is better)` of each recorded metric: losses go down, every
/// other metric (accuracy, precision, recall, f1, auc) goes up.
fn metric_values(epoch: &EpochMetrics) -> Vec<(String, f64, bool)> {
    let mut values = vec![
        ("loss".to_string(), epoch.loss, false),
        ("accuracy".to_string(), epoch.accuracy, true),
        ("val_loss".to_string(), epoch.val_loss, false),
        ("val_accuracy".to_string(), epoch.val_accuracy, true),
    ];
    values.extend(
        epoch
            .extra
            .iter()
            .map(|(name, value)| (name.clone(), *value, !name.ends_with("loss"))),
    );
    values
}
