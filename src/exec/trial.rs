//! One trial, end to end: build the model, get its inputs from the stages, record the run,
//! train, and record the outcome. Nothing is recorded until the input has been checked;
//! once recorded, a run always ends with a final status.

use std::cell::Cell;
use std::collections::BTreeMap;
use std::time::Instant;

use anyhow::{Context, Result};
use burn::module::Module;

use super::inputs::trial_inputs;
use super::{INTERRUPTED, RunOptions};
use crate::data::SkippedFile;
use crate::model::{TrainableModel, build_classifier};
use crate::plan::{PlannedTrial, SPLITS};
use crate::progress::Activity;
use crate::stages::Stages;
use crate::store::{
    Artifact, HEARTBEAT_INTERVAL, RunRecord, RunStatus, Store, new_run_id, now_millis, this_host,
    this_process,
};
use crate::train::{EpochMetrics, EpochOutcome, FitOptions, FitStop, SplitInput, evaluate, fit};
use runner_core::plan::digest;

/// Trains `trial` (as trial of `sweep` if given) and returns its final record.
pub fn run_trial(
    trial: &PlannedTrial,
    sweep: Option<&str>,
    stages: &mut Stages,
    options: &RunOptions,
) -> Result<RunRecord> {
    let spec = &trial.pipeline.spec;
    let store = Store::new(&options.store);
    options.device.seed(spec.pipeline.seed);
    let classifier = build_classifier(spec, &trial.files[0].classes, &options.device)?;

    // Until the run is recorded there is no heartbeat to refresh.
    let no_heartbeat = || {};
    let preparing = Activity {
        show_progress: options.show_progress,
        interrupted: &INTERRUPTED,
        heartbeat: &no_heartbeat,
    };
    let inputs = trial_inputs(trial, &classifier, stages, options, &preparing)?;
    let (train, validation, test) = (&inputs[0], &inputs[1], inputs.get(2));

    let mut record = new_record(trial, &inputs, options);
    if let Some(sweep) = sweep {
        record.sweep = Some(sweep.to_string());
        record.trial = Some(trial.index);
    }
    for manifest in &trial.manifests {
        store.save_manifest(&manifest.key, &manifest.text)?;
    }
    store.create_run(&record, &trial.pipeline.text)?;
    tracing::info!(
        "run {} of `{}`: {} training and {} validation images, classes {:?}",
        record.id,
        record.pipeline,
        train.len(),
        validation.len(),
        record.classes
    );
    let record_id = record.id.clone();
    let last_heartbeat = Cell::new(Instant::now());
    let heartbeat = || {
        if last_heartbeat.get().elapsed() >= HEARTBEAT_INTERVAL {
            last_heartbeat.set(Instant::now());
            if let Err(error) = store.touch(&record_id) {
                tracing::warn!("cannot refresh the run's heartbeat: {error:#}");
            }
        }
    };
    let activity = Activity {
        heartbeat: &heartbeat,
        ..preparing
    };
    let fit_options = FitOptions {
        device: options.device.clone(),
        loss: spec.train.loss,
        optimizer: &spec.train.optimizer,
        epochs: spec.train.epochs,
        batch_size: spec.data.batch_size,
        augment: &spec.augment,
        preprocess: classifier.preprocess,
        seed: spec.pipeline.seed,
        activity: &activity,
    };
    // The test split is evaluated with the weights of the best epoch, kept here.
    let mut best_model = None;
    let outcome = fit(
        &classifier.frozen,
        classifier.trainable,
        train,
        validation,
        &fit_options,
        |epoch, model| {
            log_epoch(epoch, spec.train.epochs);
            let improved = record.add_epoch(epoch);
            if improved && test.is_some() {
                best_model = Some(model.clone());
            }
            record.heartbeat_at = now_millis();
            let names: &[&str] = if improved {
                &["last", "best"]
            } else {
                &["last"]
            };
            for name in names {
                let artifact = save_checkpoint(model, &store, &record.id, name)?;
                record.artifacts.insert(name.to_string(), artifact);
            }
            store.put_epoch(&record, epoch)?;
            Ok(EpochOutcome::Continue)
        },
    );
    record.ended_at = Some(now_millis());
    record.heartbeat_at = now_millis();
    match outcome {
        Ok((_, stop)) => {
            record.status = match stop {
                FitStop::Completed => RunStatus::Finished,
                FitStop::StoppedEarly => RunStatus::StoppedEarly,
                FitStop::Interrupted => RunStatus::Interrupted,
            };
            if stop == FitStop::Interrupted {
                record.reason = Some("interrupted by the user (Ctrl-C)".into());
            } else if let (Some(test), Some(model)) = (test, &best_model) {
                let metrics = evaluate(&classifier.frozen, model, test, &fit_options);
                tracing::info!(
                    "test ({} images, epoch {} weights): loss {:.4} accuracy {:.4}",
                    test.len(),
                    record.best_epoch.unwrap_or_default(),
                    metrics.loss(),
                    metrics.accuracy()
                );
                record.test = BTreeMap::from([
                    ("test_loss".to_string(), metrics.loss()),
                    ("test_accuracy".to_string(), metrics.accuracy()),
                ]);
            }
            store.put_run(&record)?;
            if stop != FitStop::Interrupted {
                store.record_stage(&trial.keys.training, &record.id)?;
            }
            Ok(record)
        }
        Err(error) => {
            record.status = RunStatus::Failed;
            record.reason = Some(format!("{error:#}"));
            store.put_run(&record)?;
            Err(error.context(format!("run {} failed", record.id)))
        }
    }
}

fn new_record(trial: &PlannedTrial, inputs: &[SplitInput], options: &RunOptions) -> RunRecord {
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
        test: BTreeMap::new(),
        skipped_files,
        epochs: 0,
        best_epoch: None,
        best: Default::default(),
        last: Default::default(),
        artifacts: Default::default(),
    }
}

fn log_epoch(epoch: &EpochMetrics, epochs: usize) {
    tracing::info!(
        "epoch {}/{epochs}: loss {:.4} accuracy {:.4} val_loss {:.4} val_accuracy {:.4} ({:.1} s, {:.1}% waiting for data)",
        epoch.epoch,
        epoch.loss,
        epoch.accuracy,
        epoch.val_loss,
        epoch.val_accuracy,
        epoch.seconds,
        100.0 * epoch.data_wait_seconds / epoch.seconds.max(f64::EPSILON)
    );
}

/// Writes the trainable weights to the run's `NAME.bpk` through a temporary file, so a
/// crash never leaves a half-written checkpoint under the final name.
fn save_checkpoint(
    model: &TrainableModel,
    store: &Store,
    run_id: &str,
    name: &str,
) -> Result<Artifact> {
    let dir = store.checkpoint_dir(run_id);
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create `{}`", dir.display()))?;
    let partial = dir.join(format!("{name}.bpk.partial"));
    let path = dir.join(format!("{name}.bpk"));
    let _ = std::fs::remove_file(&partial);
    model.clone().save_file(&partial).map_err(|err| {
        anyhow::anyhow!("cannot write checkpoint `{}`: {err:?}", partial.display())
    })?;
    std::fs::rename(&partial, &path)
        .with_context(|| format!("cannot move checkpoint to `{}`", path.display()))?;
    Ok(Artifact {
        bytes: std::fs::metadata(&path).map_or(0, |meta| meta.len()),
        path: store.relative_path(&path),
    })
}
