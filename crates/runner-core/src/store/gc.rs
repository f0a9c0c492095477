//! `runner gc`: files the store no longer points at, and runs whose process died.

use std::path::Path;

use anyhow::Result;

use super::db::Store;

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct GcReport {
    pub orphaned_folders: usize,
    pub partial_files: usize,
    pub cached_results: usize,
    pub bytes_freed: u64,
    pub runs_marked_interrupted: usize,
}

impl Store {
    /// Removes checkpoint folders of runs no longer in the store and `.partial` files left
    /// by a crash mid-write, and records dead `running` runs as interrupted. With
    /// `cache`, also removes every cached stage result.
    pub fn collect_garbage(&self, cache: bool) -> Result<GcReport> {
        let mut report = GcReport {
            runs_marked_interrupted: self.persist_stale_runs()?,
            ..GcReport::default()
        };
        let cache_root = self.root().join("cache");
        if cache && cache_root.is_dir() {
            for stage in std::fs::read_dir(&cache_root)?.flatten() {
                for file in std::fs::read_dir(stage.path())?.flatten() {
                    report.bytes_freed += file.metadata().map_or(0, |meta| meta.len());
                    std::fs::remove_file(file.path())?;
                    report.cached_results += 1;
                }
            }
        }
        let runs = self.runs()?;
        let checkpoints = self.root().join("checkpoints");
        let Ok(folders) = std::fs::read_dir(&checkpoints) else {
            return Ok(report);
        };
        for folder in folders.flatten() {
            let path = folder.path();
            let id = folder.file_name().to_string_lossy().into_owned();
            if !runs.iter().any(|run| run.id == id) {
                report.bytes_freed += folder_size(&path);
                std::fs::remove_dir_all(&path)?;
                report.orphaned_folders += 1;
                continue;
            }
            for file in std::fs::read_dir(&path)?.flatten() {
                if file.file_name().to_string_lossy().ends_with(".partial") {
                    // A half-written checkpoint, or a half-written resume snapshot folder.
                    let partial = file.path();
                    if partial.is_dir() {
                        report.bytes_freed += folder_size(&partial);
                        std::fs::remove_dir_all(&partial)?;
                    } else {
                        report.bytes_freed += file.metadata().map_or(0, |meta| meta.len());
                        std::fs::remove_file(&partial)?;
                    }
                    report.partial_files += 1;
                }
            }
        }
        Ok(report)
    }
}

fn folder_size(path: &Path) -> u64 {
    std::fs::read_dir(path)
        .map(|entries| {
            entries
                .flatten()
                .map(|entry| match entry.metadata() {
                    Ok(meta) if meta.is_dir() => folder_size(&entry.path()),
                    Ok(meta) => meta.len(),
                    Err(_) => 0,
                })
                .sum()
        })
        .unwrap_or(0)
}
