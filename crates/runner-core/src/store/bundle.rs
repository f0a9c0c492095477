//! Result bundles: a run trained away from the store (a Slurm task, a `--jobs` worker) as
//! a self-contained folder, its record, epochs and pipeline text in `bundle.json` and its
//! checkpoint files in `checkpoints/`, which the process that owns the store ingests. So
//! only one process writes the database, whichever node the trial ran on. A bundle
//! appears whole or not at all: it is written under a hidden name and renamed.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

use super::db::Store;
use super::record::{RunRecord, RunStatus};
use crate::metrics::EpochMetrics;

const BUNDLE_FILE: &str = "bundle.json";

/// The store's default shared folder for Slurm tasks.
pub const SLURM_FOLDER: &str = "slurm";

/// Where a sweep's tasks leave their bundles in a shared folder.
pub fn sweep_bundles(shared: &Path, sweep: &str) -> PathBuf {
    shared.join(sweep).join("bundles")
}

#[derive(Serialize, Deserialize)]
struct BundleContents {
    record: RunRecord,
    epochs: Vec<EpochMetrics>,
    spec_text: String,
}

impl Store {
    /// Moves run `run_id` of this store (a scratch store that held only that run) into a
    /// bundle in `dir`, and returns the bundle's folder.
    pub fn write_bundle(&self, run_id: &str, dir: &Path) -> Result<PathBuf> {
        let record = self.find_run(run_id)?;
        let contents = BundleContents {
            epochs: self.epochs(run_id)?,
            spec_text: self.spec_text(&record.spec_hash)?.unwrap_or_default(),
            record,
        };
        let cannot = |what: &str, path: &Path| format!("cannot {what} `{}`", path.display());
        std::fs::create_dir_all(dir).with_context(|| cannot("create the folder", dir))?;
        let partial = dir.join(format!(".{run_id}.partial"));
        if partial.exists() {
            std::fs::remove_dir_all(&partial).with_context(|| cannot("remove", &partial))?;
        }
        std::fs::create_dir(&partial).with_context(|| cannot("create the folder", &partial))?;
        let checkpoints = self.checkpoint_dir(run_id);
        if checkpoints.is_dir() {
            move_dir(&checkpoints, &partial.join("checkpoints"))?;
        }
        let file = partial.join(BUNDLE_FILE);
        std::fs::write(&file, serde_json::to_vec(&contents)?)
            .with_context(|| cannot("write", &file))?;
        let bundle = dir.join(run_id);
        std::fs::rename(&partial, &bundle).with_context(|| cannot("rename", &partial))?;
        Ok(bundle)
    }

    /// Takes every whole bundle in `dir` into this store (runs, epochs, pipeline texts,
    /// checkpoints; a finished run also as its training stage's result) and removes it.
    /// Returns the runs taken in, in the order of their ids.
    pub fn ingest_bundles(&self, dir: &Path) -> Result<Vec<RunRecord>> {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return Ok(Vec::new());
        };
        let mut bundles: Vec<PathBuf> = entries
            .filter_map(|entry| entry.ok().map(|entry| entry.path()))
            .filter(|path| {
                !path
                    .file_name()
                    .is_some_and(|name| name.to_string_lossy().starts_with('.'))
                    && path.join(BUNDLE_FILE).is_file()
            })
            .collect();
        bundles.sort();
        let mut ingested = Vec::new();
        for bundle in bundles {
            if let Some(record) = self.ingest_bundle(&bundle)? {
                ingested.push(record);
            }
            // Another runner taking the same bundles in may have removed it already.
            match std::fs::remove_dir_all(&bundle) {
                Err(err) if err.kind() != std::io::ErrorKind::NotFound => {
                    return Err(err).with_context(|| {
                        format!("cannot remove the bundle `{}`", bundle.display())
                    });
                }
                _ => {}
            }
        }
        Ok(ingested)
    }

    /// Takes in the bundles of every sweep in a shared folder (see [`sweep_bundles`]).
    pub fn ingest_shared_folder(&self, shared: &Path) -> Result<Vec<RunRecord>> {
        let entries = std::fs::read_dir(shared).map_err(|err| {
            crate::error::input_error(format!("cannot read `{}`: {err}", shared.display()))
        })?;
        let mut runs = Vec::new();
        for entry in entries {
            runs.extend(self.ingest_bundles(&entry?.path().join("bundles"))?);
        }
        Ok(runs)
    }

    /// Takes one bundle in; `None` when the store has its run already (a bundle taken in
    /// before its folder could be removed).
    fn ingest_bundle(&self, bundle: &Path) -> Result<Option<RunRecord>> {
        let file = bundle.join(BUNDLE_FILE);
        let text = match std::fs::read(&file) {
            // Taken in by another runner since the folder was listed.
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            read => read.with_context(|| format!("cannot read the bundle `{}`", file.display()))?,
        };
        let BundleContents {
            record,
            epochs,
            spec_text,
        } = serde_json::from_slice(&text)
            .with_context(|| format!("the bundle `{}` is not readable", file.display()))?;
        if self.has_run(&record.id)? {
            return Ok(None);
        }
        let checkpoints = bundle.join("checkpoints");
        if checkpoints.is_dir() {
            move_dir(&checkpoints, &self.checkpoint_dir(&record.id))?;
        }
        self.import_runs(&[(record.clone(), epochs, spec_text)])?;
        if matches!(record.status, RunStatus::Finished | RunStatus::StoppedEarly)
            && let Some(key) = record.stages.get("training")
        {
            self.record_stage(key, &record.id)?;
        }
        Ok(Some(record))
    }

    fn has_run(&self, id: &str) -> Result<bool> {
        Ok(self
            .read(|db| Ok(db.open_tree("runs")?.contains_key(id.as_bytes())?))?
            .unwrap_or(false))
    }
}

/// Moves a folder, copying it when `to` is on another file system (node-local scratch
/// space to a shared folder).
fn move_dir(from: &Path, to: &Path) -> Result<()> {
    if let Some(parent) = to.parent() {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("cannot create the folder `{}`", parent.display()))?;
    }
    if std::fs::rename(from, to).is_ok() {
        return Ok(());
    }
    copy_dir(from, to)?;
    std::fs::remove_dir_all(from).with_context(|| format!("cannot remove `{}`", from.display()))
}

fn copy_dir(from: &Path, to: &Path) -> Result<()> {
    std::fs::create_dir_all(to)
        .with_context(|| format!("cannot create the folder `{}`", to.display()))?;
    for entry in
        std::fs::read_dir(from).with_context(|| format!("cannot read `{}`", from.display()))?
    {
        let entry = entry?;
        let target = to.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            copy_dir(&entry.path(), &target)?;
        } else {
            std::fs::copy(entry.path(), &target).with_context(|| {
                format!(
                    "cannot copy `{}` to `{}`",
                    entry.path().display(),
                    target.display()
                )
            })?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::compare::tests::run;

    /// A scratch store holding one finished run with a checkpoint file.
    fn scratch_with_run(dir: &Path, id: &str) -> Store {
        let scratch = Store::new(dir.join("scratch"));
        let mut record = run(id, &[], 0.9, 0.1);
        record.stages.insert("training".into(), format!("key-{id}"));
        scratch.create_run(&record, "[pipeline]").unwrap();
        let checkpoints = scratch.checkpoint_dir(id);
        std::fs::create_dir_all(&checkpoints).unwrap();
        std::fs::write(checkpoints.join("best.mpk"), b"weights").unwrap();
        scratch
    }

    #[test]
    fn a_bundle_moves_a_run_with_its_checkpoints_into_the_store_once() {
        let dir = tempfile::tempdir().unwrap();
        let bundles = dir.path().join("bundles");
        let scratch = scratch_with_run(dir.path(), "run-a");
        let bundle = scratch.write_bundle("run-a", &bundles).unwrap();
        assert!(bundle.join(BUNDLE_FILE).is_file());
        assert!(!scratch.checkpoint_dir("run-a").exists());
        // A bundle still being written is left alone.
        std::fs::create_dir_all(bundles.join(".run-b.partial")).unwrap();

        let store = Store::new(dir.path().join("store"));
        let ingested = store.ingest_bundles(&bundles).unwrap();
        assert_eq!(ingested.len(), 1);
        assert_eq!(store.find_run("run-a").unwrap().id, "run-a");
        let checkpoint = store.checkpoint_dir("run-a").join("best.mpk");
        assert_eq!(std::fs::read(checkpoint).unwrap(), b"weights");
        assert_eq!(
            store.spec_text(&ingested[0].spec_hash).unwrap().unwrap(),
            "[pipeline]"
        );
        // The finished run now answers for its training stage.
        let trained = store.run_for_stage("key-run-a").unwrap();
        assert_eq!(trained.unwrap().id, "run-a");
        assert!(!bundle.exists());
        assert!(bundles.join(".run-b.partial").exists());
        assert!(store.ingest_bundles(&bundles).unwrap().is_empty());
    }
}
