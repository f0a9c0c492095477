//! A new run's record, and the callbacks that log and record each epoch.

use std::collections::BTreeMap;

use anyhow::Result;

use super::RunOptions;
use crate::data::SkippedFile;
use crate::plan::{PlannedTrial, SPLITS};
use crate::store::{RunRecord, RunStatus, Store, new_run_id, now_millis, this_host, this_process};
use crate::train::{Callback, Control, EpochEnd, SplitInput};
use runner_core::plan::digest;

/// What the callbacks of `exec` record a run in.
pub struct Run<'a> {
    pub store: &'a Store,
    pub record: &'a mut RunRecord,
}

/// The record of a run of `trial` about to train on `inputs`, one per split.
pub fn new_record(trial: &PlannedTrial, inputs: &[SplitInput], options: &RunOptions) -> RunRecord {
    let pipeline = &trial.pipeline;
    let skipped_files = inputs
        .iter()
        .flat_map(SplitInput::skipped)
        .map(|SkippedFile { path, reason }| format!("{}: {reason}", path.display()))
        .collect();
    let keys = &trial.keys;
    let mut stages = BTreeMap::new();
    for (split, input) in inputs.iter().enumerate() {
        let name = SPLITS[split];
        stages.insert(
            format!("manifest.{name}"),
            trial.manifests[split].key.clone(),
        );
        stages.insert(format!("decoded.{name}"), keys.decoded[split].clone());
        if matches!(input, SplitInput::Features(_)) {
            stages.insert(format!("features.{name}"), keys.features[split].clone());
        }
    }
    stages.insert("training".into(), keys.training.clone());
    let now = now_millis();
    RunRecord {
        id: new_run_id(),
        pipeline: pipeline.spec.pipeline.name.clone(),
        pipeline_file: pipeline.file.display().to_string(),
        spec_hash: format!(
            "{:x}",
            <sha2::Sha256 as sha2::Digest>::digest(pipeline.text.as_bytes())
        ),
        params: pipeline.params.clone(),
        seed: pipeline.spec.pipeline.seed,
        seeds: pipeline.spec.pipeline.seeds(),
        sweep: None,
        trial: None,
        reused_in: Vec::new(),
        stages,
        status: RunStatus::Running,
        reason: None,
        started_at: now,
        ended_at: None,
        heartbeat_at: now,
        host: this_host(),
        process: this_process(),
        device: options.device_label.clone(),
        runner_version: env!("CARGO_PKG_VERSION").to_string(),
        libtorch_version: crate::device::LIBTORCH_VERSION.to_string(),
        dataset_hash: digest(
            &trial
                .manifests
                .iter()
                .map(|manifest| manifest.key.as_str())
                .collect::<Vec<_>>(),
        ),
        classes: trial.files[0].classes.clone(),
        train_images: inputs[0].len(),
        validation_images: inputs[1].len(),
        test_images: inputs.get(2).map(SplitInput::len),
        test_epoch: None,
        test: BTreeMap::new(),
        skipped_files,
        epochs: 0,
        best_epoch: None,
        best: Default::default(),
        last: Default::default(),
        artifacts: Default::default(),
        confusion_matrix: Vec::new(),
        top_losses: Vec::new(),
    }
}

/// Logs each epoch's metrics (Keras' progress line), numbered over all phases' `epochs`.
pub struct LogEpoch {
    pub epochs: usize,
}

impl Callback<Run<'_>> for LogEpoch {
    fn on_epoch_end(&mut self, epoch: &mut EpochEnd<Run>) -> Result<Control> {
        let metrics = epoch.metrics;
        let extra: String = metrics
            .extra
            .iter()
            .map(|(name, value)| format!(" {name} {value:.4}"))
            .collect();
        tracing::info!(
            "epoch {}/{}: loss {:.4} accuracy {:.4} val_loss {:.4} val_accuracy {:.4}{extra} lr {:.2e} ({:.1} s, {:.1}% waiting for data)",
            metrics.epoch,
            self.epochs,
            metrics.loss,
            metrics.accuracy,
            metrics.val_loss,
            metrics.val_accuracy,
            metrics.lr,
            metrics.seconds,
            100.0 * metrics.data_wait_seconds / metrics.seconds.max(f64::EPSILON)
        );
        Ok(Control::Continue)
    }
}

/// Adds each epoch to the run's record and stores both. It runs after the callbacks that
/// judge the epoch, so that one a monitor cannot judge is not recorded, and before the
/// CSV logger, which reads the history back from the store.
pub struct RecordEpoch;

impl Callback<Run<'_>> for RecordEpoch {
    fn on_epoch_end(&mut self, epoch: &mut EpochEnd<Run>) -> Result<Control> {
        let Run { store, record } = epoch.run;
        record.add_epoch(epoch.metrics);
        record.heartbeat_at = now_millis();
        store.put_epoch(record, epoch.metrics)?;
        Ok(Control::Continue)
    }
}
