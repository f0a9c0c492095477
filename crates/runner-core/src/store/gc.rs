//! `runner gc`: files the store no longer points at, and runs whose process died. It only
//! deletes what it recognizes as the store's own (folders named by run ids, `.partial`
//! files of runs that are not running, cached results), and only in a folder that holds
//! a store's database.

use std::path::{Path, PathBuf};

use anyhow::Result;

use super::db::Store;
use super::record::RunStatus;
use super::remove::size_of;
use super::run_id::is_run_id;

#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct GcReport {
    pub orphaned_folders: usize,
    pub partial_files: usize,
    pub cached_results: usize,
    pub bytes_freed: u64,
    pub runs_marked_interrupted: usize,
    /// Every file or folder removed (or, in a dry run, that would be).
    pub removed: Vec<PathBuf>,
}

impl Store {
    /// Removes checkpoint folders of runs no longer in the store and `.partial` files left
    /// by a crash mid-write (never those of a run still running: they are its next
    /// checkpoint), and records dead `running` runs as interrupted. With `cache`, also
    /// removes every cached stage result. A `dry_run` changes nothing and reports what
    /// would go.
    pub fn collect_garbage(&self, cache: bool, dry_run: bool) -> Result<GcReport> {
        self.require_store()?;
        let mut report = GcReport::default();
        if !dry_run {
            report.runs_marked_interrupted = self.persist_stale_runs()?;
        }
        let mut remove = |path: PathBuf| -> Result<u64> {
            let bytes = if dry_run {
                size_of(&path)
            } else {
                self.remove_inside(&path)?
            };
            report.removed.push(path);
            Ok(bytes)
        };
        let mut bytes = 0;
        let mut counts = [0usize; 3];
        if cache {
            for stage in real_folders(&self.root().join("cache")) {
                for file in entries(&stage) {
                    bytes += remove(file)?;
                    counts[2] += 1;
                }
            }
        }
        let runs = self.runs()?;
        for folder in real_folders(&self.root().join("checkpoints")) {
            let id = folder.file_name().unwrap_or_default().to_string_lossy();
            let Some(run) = runs.iter().find(|run| run.id == id) else {
                // Only a folder this store would have made: one named by a run id.
                if is_run_id(&id) {
                    bytes += remove(folder)?;
                    counts[0] += 1;
                }
                continue;
            };
            if run.status == RunStatus::Running {
                continue;
            }
            for file in entries(&folder) {
                // A half-written checkpoint, or a half-written resume snapshot folder.
                if file.to_string_lossy().ends_with(".partial") {
                    bytes += remove(file)?;
                    counts[1] += 1;
                }
            }
        }
        [
            report.orphaned_folders,
            report.partial_files,
            report.cached_results,
        ] = counts;
        report.bytes_freed = bytes;
        Ok(report)
    }
}

fn entries(folder: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(folder) else {
        return Vec::new();
    };
    entries.flatten().map(|entry| entry.path()).collect()
}

/// The folders in `folder`, links to folders left out: `gc` never walks through a link.
fn real_folders(folder: &Path) -> Vec<PathBuf> {
    entries(folder)
        .into_iter()
        .filter(|path| std::fs::symlink_metadata(path).is_ok_and(|meta| meta.is_dir()))
        .collect()
}
