//! The `csv_logger` callback: the run's per-epoch history as CSV, rewritten after every
//! epoch (through a temporary file) so that it always holds whole rows.

use std::fmt::Write;
use std::path::Path;

use anyhow::{Context, Result};

use super::record::Run;
use crate::store::{Artifact, Store};
use crate::train::{Callback, Control, EpochEnd, EpochMetrics};

/// Keras' `CSVLogger`, writing `file` in the run's folder (the pipeline check made sure it
/// is a plain `.csv` file name: `csv_logger_problems` in runner-core's `spec/rules.rs`).
/// It reads the history back from the store, after `RecordEpoch` stored the epoch, so a
/// resumed run's file starts with the epochs before the resume.
pub struct CsvLogger {
    pub file: String,
}

impl Callback<Run<'_>> for CsvLogger {
    fn on_epoch_end(&mut self, epoch: &mut EpochEnd<Run>) -> Result<Control> {
        let Run { store, record } = epoch.run;
        let path = store.checkpoint_dir(&record.id)?.join(&self.file);
        let artifact = write_history_csv(store, &path, &store.epochs(&record.id)?)?;
        store.add_artifact(&record.id, &self.file, artifact.clone())?;
        record.artifacts.insert(self.file.clone(), artifact);
        Ok(Control::Continue)
    }
}

/// Writes `history` to `path`: `epoch,phase,loss,accuracy,val_loss,val_accuracy`, the
/// other metrics in name order, then `lr,seconds`.
fn write_history_csv(store: &Store, path: &Path, history: &[EpochMetrics]) -> Result<Artifact> {
    let extra: Vec<&String> = history
        .first()
        .map(|epoch| epoch.extra.keys().collect())
        .unwrap_or_default();
    let mut text = String::from("epoch,phase,loss,accuracy,val_loss,val_accuracy");
    for name in &extra {
        let _ = write!(text, ",{name}");
    }
    text.push_str(",lr,seconds\n");
    for epoch in history {
        let _ = write!(
            text,
            "{},{},{},{},{},{}",
            epoch.epoch,
            epoch.phase,
            epoch.loss,
            epoch.accuracy,
            epoch.val_loss,
            epoch.val_accuracy
        );
        for name in &extra {
            let _ = write!(
                text,
                ",{}",
                epoch.extra.get(*name).copied().unwrap_or(f64::NAN)
            );
        }
        let _ = writeln!(text, ",{},{}", epoch.lr, epoch.seconds);
    }
    if let Some(folder) = path.parent() {
        std::fs::create_dir_all(folder)
            .with_context(|| format!("cannot create `{}`", folder.display()))?;
    }
    let partial = path.with_extension("csv.partial");
    std::fs::write(&partial, text)
        .with_context(|| format!("cannot write `{}`", partial.display()))?;
    std::fs::rename(&partial, path)
        .with_context(|| format!("cannot write `{}`", path.display()))?;
    Ok(Artifact {
        bytes: std::fs::metadata(path).map_or(0, |meta| meta.len()),
        path: store.relative_path(path),
        phase: None,
    })
}
