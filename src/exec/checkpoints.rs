//! What a run keeps on disk while it trains: the `best` and `last` checkpoints of the
//! trainable part and, once, the frozen layers they sit on (`frozen`), which `predict` and
//! `export` use; and after every epoch a resume snapshot (weights,
//! optimizer state, callback state) that `runner run --resume` continues from. Every file
//! is written under a temporary name and renamed, and a snapshot is a folder renamed
//! into place whole, so a crash leaves the previous one intact.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use burn::module::Module;
use burn::optim::ModuleOptimizer;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::record::Run;
use crate::model::{FrozenFeatures, TrainableModel};
use crate::spec::{CheckpointSave, MonitorMode};
use crate::store::{Artifact, Store};
use crate::train::{Callback, Control, EpochEnd, Monitor, resume_from, state_of};

/// Keras' `ModelCheckpoint`: keeps the weights of the best epoch by its monitor as `best`,
/// with that epoch's validation confusion matrix, and the latest epoch's as `last`.
#[derive(Serialize, Deserialize)]
pub struct ModelCheckpoint {
    monitor: Monitor,
    save: CheckpointSave,
}

impl ModelCheckpoint {
    pub fn new(monitor: &str, mode: MonitorMode, save: CheckpointSave) -> Self {
        Self {
            monitor: Monitor::new(monitor, mode),
            save,
        }
    }
}

impl Callback<Run<'_>> for ModelCheckpoint {
    fn on_epoch_end(&mut self, epoch: &mut EpochEnd<Run>) -> Result<Control> {
        if self.monitor.improved(&epoch.logs, 0.0)? && self.save != CheckpointSave::Last {
            save_checkpoint(epoch, "best")?;
            epoch.run.record.confusion_matrix = epoch.validation_confusion.to_vec();
        }
        if self.save != CheckpointSave::Best {
            save_checkpoint(epoch, "last")?;
        }
        Ok(Control::Continue)
    }

    fn state(&self) -> Value {
        state_of(self)
    }

    fn resume(&mut self, state: Value) -> Result<()> {
        resume_from(self, state)
    }
}

/// Writes the epoch's trainable weights to the run's `NAME.bpk`, an artifact of its phase.
fn save_checkpoint(epoch: &mut EpochEnd<Run>, name: &str) -> Result<()> {
    let Run { store, record } = epoch.run;
    let dir = store.checkpoint_dir(&record.id)?;
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create `{}`", dir.display()))?;
    let path = dir.join(format!("{name}.bpk"));
    save_model(epoch.model, &path)?;
    // Artifacts number phases from 0.
    let artifact = artifact(store, &path, epoch.phase.index - 1);
    record.artifacts.insert(name.into(), artifact);
    Ok(())
}

/// Keras' `BackupAndRestore`: after every epoch, the snapshot that `runner run --resume`
/// continues from. It runs last, to keep the state every other callback ended the epoch
/// with.
pub struct SaveSnapshot;

impl Callback<Run<'_>> for SaveSnapshot {
    fn on_epoch_end(&mut self, epoch: &mut EpochEnd<Run>) -> Result<Control> {
        let state = ResumeState {
            epoch: epoch.metrics.epoch,
            phase: epoch.phase.index - 1,
            phase_first_epoch: epoch.phase.first_epoch,
            phase_done: false,
            lr_factor: epoch.lr_factor,
            callbacks: epoch.states.clone(),
            stopped: epoch.stop.clone(),
        };
        let run = &epoch.run;
        save_snapshot(
            run.store,
            &run.record.id,
            &state,
            epoch.model,
            epoch.optimizer,
        )?;
        Ok(Control::Continue)
    }
}

/// Writes the first phase's frozen prefix (BatchNorm folded) to the run's `frozen.bpk`:
/// with the checkpoints it is the whole model, so `predict` and `export` need neither the
/// weights file (which may have changed or moved since) nor, for `weights = "none"`, the
/// random draw that initialized the frozen layers. Later phases only unfreeze, so each
/// phase's frozen prefix is a prefix of this one.
pub fn save_frozen_layers(
    frozen: &FrozenFeatures,
    store: &Store,
    run_id: &str,
) -> Result<Artifact> {
    let dir = store.checkpoint_dir(run_id)?;
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create `{}`", dir.display()))?;
    let path = dir.join(format!("{FROZEN_LAYERS}.bpk"));
    save_model(frozen, &path)?;
    Ok(artifact(store, &path, 0))
}

/// The artifact name of the run's frozen layers.
pub const FROZEN_LAYERS: &str = "frozen";

fn artifact(store: &Store, path: &Path, phase: usize) -> Artifact {
    Artifact {
        bytes: std::fs::metadata(path).map_or(0, |meta| meta.len()),
        path: store.relative_path(path),
        phase: Some(phase),
    }
}

fn save_model(model: &impl Module, path: &Path) -> Result<()> {
    let partial = path.with_extension("bpk.partial");
    let _ = std::fs::remove_file(&partial);
    model.clone().save_file(&partial).map_err(|err| {
        anyhow::anyhow!("cannot write checkpoint `{}`: {err:?}", partial.display())
    })?;
    std::fs::rename(&partial, path)
        .with_context(|| format!("cannot move checkpoint to `{}`", path.display()))
}

/// Where training stands after an epoch.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ResumeState {
    /// The last completed epoch (the run's numbering).
    pub epoch: usize,
    /// The phase that epoch belongs to (0-based).
    pub phase: usize,
    /// The run's epoch number of that phase's first epoch.
    pub phase_first_epoch: usize,
    /// Whether the phase is over: these are its final weights, for the next phase.
    pub phase_done: bool,
    /// Reductions of the learning rate so far in this phase (reduce on plateau).
    pub lr_factor: f64,
    /// The state of each callback of the phase, in order.
    pub callbacks: Vec<Value>,
    /// Why a callback stopped the phase, if one did.
    pub stopped: Option<String>,
}

/// A complete snapshot: the state, the weights and the optimizer's state.
pub struct Snapshot {
    pub state: ResumeState,
    pub model: PathBuf,
    pub optimizer: PathBuf,
}

/// Writes the snapshot of `state` as `resume-EPOCH/` and removes older ones.
pub fn save_snapshot(
    store: &Store,
    run_id: &str,
    state: &ResumeState,
    model: &TrainableModel,
    optimizer: &ModuleOptimizer,
) -> Result<()> {
    let complete = store.snapshot_dir(run_id, state.epoch)?;
    let partial = complete.with_extension("partial");
    let _ = std::fs::remove_dir_all(&partial);
    std::fs::create_dir_all(&partial)
        .with_context(|| format!("cannot create `{}`", partial.display()))?;
    save_model(model, &partial.join("model.bpk"))?;
    optimizer
        .save(partial.join("optimizer.bpk"))
        .map_err(|err| anyhow::anyhow!("cannot write the optimizer state: {err:?}"))?;
    std::fs::write(
        partial.join("state.json"),
        serde_json::to_vec_pretty(state)?,
    )
    .context("cannot write the resume state")?;
    let _ = std::fs::remove_dir_all(&complete);
    std::fs::rename(&partial, &complete).with_context(|| {
        format!(
            "cannot move the resume snapshot to `{}`",
            complete.display()
        )
    })?;
    for (epoch, older) in store.snapshots(run_id)? {
        if epoch < state.epoch {
            let _ = std::fs::remove_dir_all(older);
        }
    }
    Ok(())
}

/// The latest complete snapshot of a run, if any.
pub fn latest_snapshot(store: &Store, run_id: &str) -> Result<Option<Snapshot>> {
    let Some((_, dir)) = store.snapshots(run_id)?.into_iter().max() else {
        return Ok(None);
    };
    let text = std::fs::read(dir.join("state.json"))
        .with_context(|| format!("cannot read `{}`", dir.join("state.json").display()))?;
    // A snapshot written by a runner from before callbacks kept their states as a list
    // (or a damaged one) cannot be continued; the run's recorded epochs stay as they are.
    let state = serde_json::from_slice(&text).map_err(|err| {
        crate::error::input_error(format!(
            "`{}` is not a resume state this runner can read ({err}); a run interrupted under an earlier runner version cannot be resumed: train it again with `runner run FILE --retrain`",
            dir.display()
        ))
    })?;
    Ok(Some(Snapshot {
        state,
        model: dir.join("model.bpk"),
        optimizer: dir.join("optimizer.bpk"),
    }))
}
