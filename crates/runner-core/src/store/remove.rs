//! Deleting runs, and the one way the store deletes files: only below its own root, never
//! through a link, so that neither a hostile record nor a planted link turns `rm` or `gc`
//! against files elsewhere.

use std::path::Path;

use anyhow::{Context, Result};

use super::db::Store;
use super::liveness::this_host;
use super::record::{RunRecord, RunStatus};
use super::run_id::{MIN_PREFIX, is_run_id, now_millis};
use crate::bail_input;

impl Store {
    /// The runs that `runner rm` arguments name, each a whole id, `last` or `last~N`, or a
    /// unique prefix of at least [`MIN_PREFIX`] characters, without repeats; an error for an argument that is
    /// empty, too short or matches nothing, and for a run still running.
    pub fn runs_to_remove(&self, selectors: &[String]) -> Result<Vec<RunRecord>> {
        self.require_store()?;
        let mut runs: Vec<RunRecord> = Vec::new();
        for selector in selectors {
            if selector.is_empty() {
                bail_input!("an empty run id names no run: nothing removed");
            }
            let relative = self.relative_run_id(selector)?;
            let selector = relative.as_ref().unwrap_or(selector);
            let mut run = match self.find_exact(selector)? {
                Some(run) => run,
                None if selector.chars().count() < MIN_PREFIX => bail_input!(
                    "{selector:?} is not a run id, and a prefix must have at least {MIN_PREFIX} characters (the date and time, as in 20261128-183012): nothing removed"
                ),
                None => self.find_run(selector)?,
            };
            run.mark_if_stale(&this_host(), now_millis());
            if run.status == RunStatus::Running {
                bail_input!(
                    "run {} is still running (pid {} on {}): stop it first; nothing removed",
                    run.id,
                    run.process.pid,
                    run.host
                );
            }
            if !runs.iter().any(|seen| seen.id == run.id) {
                runs.push(run);
            }
        }
        Ok(runs)
    }

    /// Removes runs: their records, epochs and checkpoint folders. Every folder is
    /// checked before anything is removed.
    pub fn remove_runs(&self, runs: &[RunRecord]) -> Result<()> {
        let ids: Vec<String> = runs.iter().map(|run| run.id.clone()).collect();
        // A record that came in with a malformed id (before ids were checked) has no
        // folder this store made.
        let mut folders = Vec::new();
        for id in ids.iter().filter(|id| is_run_id(id)) {
            let folder = self.checkpoint_dir(id)?;
            if std::fs::symlink_metadata(&folder).is_ok() {
                self.check_inside(&folder)?;
                folders.push(folder);
            }
        }
        self.delete_runs(&ids)?;
        for folder in folders {
            self.remove_inside(&folder)?;
        }
        Ok(())
    }

    /// An error unless the root holds a run store (its database): commands that delete
    /// files never guess at a folder that is not one.
    pub(super) fn require_store(&self) -> Result<()> {
        if !self.db_path().is_dir() {
            bail_input!(
                "`{}` is not a run store (it has no `db` folder): nothing removed",
                self.root().display()
            );
        }
        Ok(())
    }

    /// Removes `path`, a file or folder below the store root, and returns the bytes
    /// freed. A link is removed itself, never followed; a path whose folder resolves
    /// outside the store is refused. Nothing there is no error.
    pub(super) fn remove_inside(&self, path: &Path) -> Result<u64> {
        let Ok(meta) = std::fs::symlink_metadata(path) else {
            return Ok(0);
        };
        self.check_inside(path)?;
        let cannot = || format!("cannot remove `{}`", path.display());
        let bytes = size_of(path);
        if meta.is_dir() {
            std::fs::remove_dir_all(path).with_context(cannot)?;
        } else {
            std::fs::remove_file(path).with_context(cannot)?;
        }
        Ok(bytes)
    }

    /// An error unless the folder `path` is in resolves (links followed) to a folder
    /// inside the store's root.
    fn check_inside(&self, path: &Path) -> Result<()> {
        let root = std::fs::canonicalize(self.root())
            .with_context(|| format!("cannot resolve `{}`", self.root().display()))?;
        let parent = path.parent().unwrap_or(path);
        let inside = std::fs::canonicalize(parent).is_ok_and(|parent| parent.starts_with(&root));
        if !inside {
            bail_input!(
                "`{}` lies outside the store at `{}` (through a link): not removed",
                path.display(),
                root.display()
            );
        }
        Ok(())
    }
}

/// The bytes of a file, or of the files below a folder; links count for nothing.
pub(super) fn size_of(path: &Path) -> u64 {
    match std::fs::symlink_metadata(path) {
        Ok(meta) if meta.is_dir() => folder_size(path),
        Ok(meta) if meta.is_file() => meta.len(),
        _ => 0,
    }
}

fn folder_size(path: &Path) -> u64 {
    std::fs::read_dir(path).map_or(0, |entries| {
        entries.flatten().map(|entry| size_of(&entry.path())).sum()
    })
}
