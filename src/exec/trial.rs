//! One run of a pipeline, end to end: parse, scan and decode the data, build the model,
//! record the run, train, and record the outcome. Nothing is recorded until the input has
//! been checked; once recorded, a run always ends with a final status.

use std::cell::Cell;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use anyhow::{Context, Result};
use burn::module::Module;
use burn::prelude::*;
use sha2::{Digest, Sha256};

use crate::data::{DecodedSplit, ScannedSplit, decode_split, scan_split};
use crate::model::{TrainableModel, build_classifier};
use crate::spec::sweep::{expand, trial_spec};
use crate::spec::{Pipeline, load_pipeline, pipeline_from_spec};
use crate::store::{
    Artifact, HEARTBEAT_INTERVAL, RunRecord, RunStatus, Store, new_run_id, now_millis, this_host,
    this_process,
};
use crate::train::{EpochMetrics, EpochOutcome, FitOptions, FitStop, fit};

/// Set by Ctrl-C; training stops after the current batch and the run is recorded as
/// interrupted.
static INTERRUPTED: AtomicBool = AtomicBool::new(false);

pub struct RunOptions {
    pub store: PathBuf,
    pub device: Device,
    /// How the device is named in the run record: `cpu`, `cuda:0`.
    pub device_label: String,
    pub show_progress: bool,
}

/// The runs of a pipeline or experiment file: one, or one per trial of its sweep.
pub struct FileRuns {
    pub sweep: Option<String>,
    pub runs: Vec<RunRecord>,
    /// Trials that failed, with why; the other trials still ran.
    pub failures: Vec<String>,
}

/// Runs a pipeline or experiment file: once, or each trial of its sweep in turn. A failed
/// trial is recorded with its reason and the others go on; Ctrl-C stops the sweep.
pub fn run_file(file: &Path, options: &RunOptions) -> Result<FileRuns> {
    let pipeline = load_pipeline(file)?;
    let Some(sweep) = pipeline.written.sweep.clone() else {
        return Ok(FileRuns {
            sweep: None,
            runs: vec![run_pipeline(&pipeline, None, options)?],
            failures: Vec::new(),
        });
    };
    let trials = expand(&sweep, pipeline.spec.pipeline.seed)
        .map_err(|(key, message)| crate::error::input_error(format!("`sweep.{key}`: {message}")))?;
    let sweep_id = format!("sweep-{}", new_run_id());
    tracing::info!("sweep {sweep_id}: {} trials", trials.len());
    let mut result = FileRuns {
        sweep: Some(sweep_id.clone()),
        runs: Vec::new(),
        failures: Vec::new(),
    };
    for trial in &trials {
        if INTERRUPTED.load(Ordering::SeqCst) {
            break;
        }
        let written = trial_spec(&pipeline.written, trial).map_err(|(key, message)| {
            crate::error::input_error(format!("`sweep.{key}`: {message}"))
        })?;
        let trial_pipeline = pipeline_from_spec(&pipeline.file, written);
        tracing::info!(
            "trial {}/{}: {:?}",
            trial.index + 1,
            trials.len(),
            trial.values
        );
        match run_pipeline(&trial_pipeline, Some((&sweep_id, trial.index)), options) {
            Ok(run) => result.runs.push(run),
            Err(error) => {
                tracing::error!("trial {} failed: {error:#}", trial.index);
                result
                    .failures
                    .push(format!("trial {}: {error:#}", trial.index));
            }
        }
    }
    Ok(result)
}

/// Runs one pipeline and returns its final record, as a trial of `sweep` if given.
/// `load_pipeline` has already checked the folders (both splits with the same classes)
/// and the weights file.
pub fn run_pipeline(
    pipeline: &Pipeline,
    sweep: Option<(&str, usize)>,
    options: &RunOptions,
) -> Result<RunRecord> {
    let spec = &pipeline.spec;
    let train_files = scan_split("training", &spec.data.train)?;
    let validation_files = scan_split("validation", &spec.data.validation)?;

    options.device.seed(spec.pipeline.seed);
    let classifier = build_classifier(spec, &train_files.classes, &options.device)?;
    let train = Arc::new(decode_logged(
        "training",
        &train_files,
        spec.data.image_size,
    )?);
    let validation = Arc::new(decode_logged(
        "validation",
        &validation_files,
        spec.data.image_size,
    )?);

    let store = Store::new(&options.store);
    let dataset_hash = format!(
        "{:x}",
        Sha256::digest(format!(
            "{}\n{}",
            train_files.manifest(),
            validation_files.manifest()
        ))
    );
    let mut record = new_record(
        pipeline,
        &train_files.classes,
        &train,
        &validation,
        &options.device_label,
        dataset_hash,
    );
    if let Some((sweep_id, trial)) = sweep {
        record.sweep = Some(sweep_id.to_string());
        record.trial = Some(trial);
    }
    store.create_run(&record, &pipeline.text)?;
    tracing::info!(
        "run {} of `{}`: {} training and {} validation images, classes {:?}",
        record.id,
        record.pipeline,
        train.len(),
        validation.len(),
        record.classes
    );
    install_interrupt_handler();
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

    let fit_options = FitOptions {
        device: options.device.clone(),
        loss: spec.train.loss,
        optimizer: &spec.train.optimizer,
        epochs: spec.train.epochs,
        batch_size: spec.data.batch_size,
        augment: &spec.augment,
        preprocess: classifier.preprocess,
        seed: spec.pipeline.seed,
        show_progress: options.show_progress,
        interrupted: &INTERRUPTED,
        heartbeat: &heartbeat,
    };
    let outcome = fit(
        &classifier.frozen,
        classifier.trainable,
        train,
        validation,
        &fit_options,
        |epoch, model| {
            log_epoch(epoch, spec.train.epochs);
            let improved = record.add_epoch(epoch);
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
            }
            store.put_run(&record)?;
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

fn decode_logged(split: &str, files: &ScannedSplit, size: [u32; 2]) -> Result<DecodedSplit> {
    let started = std::time::Instant::now();
    let decoded = decode_split(split, files, size, &|_| {})?;
    tracing::info!(
        "decoded {} {split} images at {}x{} in {:.1} s ({} skipped)",
        decoded.len(),
        size[0],
        size[1],
        started.elapsed().as_secs_f64(),
        decoded.skipped.len()
    );
    Ok(decoded)
}

fn new_record(
    pipeline: &Pipeline,
    classes: &[String],
    train: &DecodedSplit,
    validation: &DecodedSplit,
    device: &str,
    dataset_hash: String,
) -> RunRecord {
    let skipped_files = train
        .skipped
        .iter()
        .chain(&validation.skipped)
        .map(|skipped| format!("{}: {}", skipped.path.display(), skipped.reason))
        .collect();
    let now = now_millis();
    RunRecord {
        id: new_run_id(),
        pipeline: pipeline.spec.pipeline.name.clone(),
        pipeline_file: pipeline.file.display().to_string(),
        spec_hash: format!("{:x}", Sha256::digest(pipeline.text.as_bytes())),
        params: pipeline.params.clone(),
        seed: pipeline.spec.pipeline.seed,
        sweep: None,
        trial: None,
        status: RunStatus::Running,
        reason: None,
        started_at: now,
        ended_at: None,
        heartbeat_at: now,
        host: this_host(),
        process: this_process(),
        device: device.to_string(),
        runner_version: env!("CARGO_PKG_VERSION").to_string(),
        libtorch_version: crate::device::LIBTORCH_VERSION.to_string(),
        dataset_hash,
        classes: classes.to_vec(),
        train_images: train.len(),
        validation_images: validation.len(),
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
        "epoch {}/{epochs}: loss {:.4} accuracy {:.4} val_loss {:.4} val_accuracy {:.4} ({:.1} s)",
        epoch.epoch,
        epoch.loss,
        epoch.accuracy,
        epoch.val_loss,
        epoch.val_accuracy,
        epoch.seconds
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

fn install_interrupt_handler() {
    // A second installation (a second run in the same process) keeps the first handler.
    let _ = ctrlc::set_handler(|| {
        if INTERRUPTED.swap(true, Ordering::SeqCst) {
            std::process::exit(130);
        }
        eprintln!("\ninterrupted: stopping after this batch (Ctrl-C again to quit at once)");
    });
}
