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

use crate::model::{FrozenFeatures, TrainableModel};
use crate::store::{Artifact, Store};
use crate::train::Callbacks;

/// Writes the trainable weights to the run's `NAME.bpk`, from phase `phase`.
pub fn save_checkpoint(
    model: &TrainableModel,
    store: &Store,
    run_id: &str,
    name: &str,
    phase: usize,
) -> Result<Artifact> {
    let dir = store.checkpoint_dir(run_id)?;
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create `{}`", dir.display()))?;
    let path = dir.join(format!("{name}.bpk"));
    save_model(model, &path)?;
    Ok(artifact(store, &path, phase))
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
    pub callbacks: Callbacks,
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
    let dir = store.checkpoint_dir(run_id)?;
    let partial = dir.join(format!("resume-{}.partial", state.epoch));
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
    let complete = dir.join(format!("resume-{}", state.epoch));
    let _ = std::fs::remove_dir_all(&complete);
    std::fs::rename(&partial, &complete).with_context(|| {
        format!(
            "cannot move the resume snapshot to `{}`",
            complete.display()
        )
    })?;
    for (epoch, older) in snapshots(&dir) {
        if epoch < state.epoch {
            let _ = std::fs::remove_dir_all(older);
        }
    }
    Ok(())
}

/// The latest complete snapshot of a run, if any.
pub fn latest_snapshot(store: &Store, run_id: &str) -> Result<Option<Snapshot>> {
    let Some((_, dir)) = snapshots(&store.checkpoint_dir(run_id)?).into_iter().max() else {
        return Ok(None);
    };
    let text = std::fs::read(dir.join("state.json"))
        .with_context(|| format!("cannot read `{}`", dir.join("state.json").display()))?;
    let state = serde_json::from_slice(&text)
        .with_context(|| format!("`{}` is not a resume state", dir.display()))?;
    Ok(Some(Snapshot {
        state,
        model: dir.join("model.bpk"),
        optimizer: dir.join("optimizer.bpk"),
    }))
}

/// The complete `resume-N/` folders of a checkpoint folder, with their epochs.
fn snapshots(dir: &Path) -> Vec<(usize, PathBuf)> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|entry| {
            let name = entry.file_name().to_string_lossy().into_owned();
            let epoch = name.strip_prefix("resume-")?.parse().ok()?;
            Some((epoch, entry.path()))
        })
        .collect()
}
