//! Finished stages, found by key: a run whose training stage has the key a new trial
//! would train under is that trial's result, so the trial is not trained again.

use std::collections::HashMap;

use anyhow::{Context, Result};

use super::db::{Store, parse};
use super::record::{RunRecord, RunStatus};

impl Store {
    /// Records that `run` finished the stage with `key`.
    pub fn record_stage(&self, key: &str, run_id: &str) -> Result<()> {
        self.write(|db| {
            db.open_tree("stages")?
                .insert(key.as_bytes(), run_id.as_bytes())?;
            Ok(())
        })
    }

    /// Records the training stage key planned for each trial `(index, key)` of a
    /// submission (a sweep, or `run-ID`) handed to workers or Slurm: the results they
    /// leave as bundles count as those stages only if they claim these keys.
    pub fn plan_trials<'a>(
        &self,
        submission: &str,
        trials: impl IntoIterator<Item = (usize, &'a str)>,
    ) -> Result<()> {
        let mut batch = sled::Batch::default();
        for (index, key) in trials {
            batch.insert(planned_key(submission, index), key.as_bytes());
        }
        self.write(|db| Ok(db.open_tree("planned")?.apply_batch(batch)?))
    }

    /// The training stage key planned for trial `index` of `submission`, if any was.
    pub(super) fn planned_training(
        &self,
        submission: &str,
        index: usize,
    ) -> Result<Option<String>> {
        let found = self.read(|db| {
            Ok(db
                .open_tree("planned")?
                .get(planned_key(submission, index))?
                .map(|key| String::from_utf8_lossy(&key).into_owned()))
        })?;
        Ok(found.flatten())
    }

    /// The runs successive halving paused that can be trained on (their checkpoint folder
    /// holds a resume snapshot), the latest for each training stage key.
    pub fn paused_runs(&self) -> Result<HashMap<String, RunRecord>> {
        let mut paused = HashMap::new();
        // Oldest first: a later run of the same stage replaces an earlier one.
        for run in self.runs()? {
            if run.status != RunStatus::Pruned {
                continue;
            }
            if !self.snapshots(&run.id)?.is_empty()
                && let Some(key) = run.stages.get("training").cloned()
            {
                paused.insert(key, run);
            }
        }
        Ok(paused)
    }

    /// The run that finished the stage with `key`, if it is still in the store, finished,
    /// and its checkpoints are still on disk.
    pub fn run_for_stage(&self, key: &str) -> Result<Option<RunRecord>> {
        let found = self.read(|db| {
            let Some(id) = db.open_tree("stages")?.get(key.as_bytes())? else {
                return Ok(None);
            };
            let Some(value) = db.open_tree("runs")?.get(&id)? else {
                return Ok(None);
            };
            Ok(Some(parse::<RunRecord>(&id, &value)?))
        })?;
        Ok(found.flatten().filter(|run| {
            matches!(run.status, RunStatus::Finished | RunStatus::StoppedEarly)
                && run
                    .artifacts
                    .values()
                    .all(|artifact| self.artifact_path(artifact).is_file())
        }))
    }

    /// Keeps a split's manifest (what a run saw, file by file) under its key; a manifest
    /// already kept is not written again.
    pub fn save_manifest(&self, key: &str, text: &str) -> Result<()> {
        let folder = self.root().join("manifests");
        let path = folder.join(format!("{key}.tsv"));
        if path.is_file() {
            return Ok(());
        }
        std::fs::create_dir_all(&folder)
            .with_context(|| format!("cannot create `{}`", folder.display()))?;
        let partial = path.with_extension(format!("{}.partial", std::process::id()));
        std::fs::write(&partial, text)
            .with_context(|| format!("cannot write `{}`", partial.display()))?;
        std::fs::rename(&partial, &path)
            .with_context(|| format!("cannot write `{}`", path.display()))
    }

    /// The files a kept manifest lists, each with its size and SHA-256 (hex), by path
    /// relative to its split's folder; `None` if the store has no manifest by that key
    /// (or the key is not a stage key, which never names a file).
    pub fn manifest_files(&self, key: &str) -> Option<Vec<(String, u64, String)>> {
        if key.is_empty() || !key.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        let file = self.root().join("manifests").join(format!("{key}.tsv"));
        let text = std::fs::read_to_string(file).ok()?;
        Some(
            text.lines()
                .filter_map(|line| {
                    let mut fields = line.split('\t');
                    let path = fields.next()?.to_string();
                    let size = fields.next()?.parse().ok()?;
                    let hash = fields.next()?.to_string();
                    Some((path, size, hash))
                })
                .collect(),
        )
    }

    /// Makes a finished run a trial of `sweep` as well, without training it again.
    pub fn join_sweep(&self, run_id: &str, sweep: &str) -> Result<()> {
        self.update_run(run_id, |record| {
            if !record.reused_in.iter().any(|id| id == sweep) {
                record.reused_in.push(sweep.to_string());
            }
        })
    }
}

fn planned_key(submission: &str, index: usize) -> Vec<u8> {
    format!("{submission}/{index}").into_bytes()
}
