//! One trial, end to end: for each phase, build the model (carrying the trained layers
//! over from the phase before), get its inputs from the stages, train with the phase's
//! optimizer and the callbacks, and record every epoch. Nothing is recorded until the
//! input has been checked; once recorded, a run always ends with a final status. A run
//! resumed from its snapshot continues exactly where the snapshot left it.

use std::cell::Cell;
use std::collections::BTreeMap;
use std::time::Instant;

use anyhow::Result;
use burn::module::Module;
use serde_json::Value;

use super::checkpoints::{
    FROZEN_LAYERS, ModelCheckpoint, ResumeState, SaveSnapshot, Snapshot, save_frozen_layers,
    save_snapshot,
};
use super::history_csv::CsvLogger;
use super::inputs::trial_inputs;
use super::record::{LogEpoch, RecordEpoch, Run, new_record};
use super::{RunOptions, no_heartbeat};
use crate::model::{Classifier, TrainableModel, build_classifier};
use crate::plan::PlannedTrial;
use crate::progress::Activity;
use crate::spec::{CallbackSpec, CheckpointSave, MonitorMode};
use crate::stages::Stages;
use crate::store::{HEARTBEAT_INTERVAL, RunRecord, RunStatus, Store, now_millis, this_process};
use crate::train::{
    Callback, Coverage, FitOptions, FitOutcome, LrSchedule, Phase, SplitInput, TrainEnd,
    build_optimizer, evaluate, fit_phase, metric_callback,
};

/// Where a trial starts: fresh (as a trial of `sweep` if given), or from a run's snapshot.
pub enum Start<'a> {
    Fresh {
        sweep: Option<&'a str>,
    },
    Resume {
        record: Box<RunRecord>,
        snapshot: Box<Snapshot>,
    },
}

/// Where a trial stops: at its end, or paused after an epoch (successive halving's rung),
/// recorded as `pruned` with the snapshot a promotion continues from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Stop {
    pub pause_after: Option<usize>,
}

/// What every step of a trial works with: its plan, the run's options, the stages its
/// inputs come from and the store it is recorded in.
pub struct TrialContext<'a> {
    pub trial: &'a PlannedTrial,
    pub options: &'a RunOptions,
    pub stages: &'a mut Stages,
    pub store: Store,
}

impl<'a> TrialContext<'a> {
    pub fn new(trial: &'a PlannedTrial, options: &'a RunOptions, stages: &'a mut Stages) -> Self {
        Self {
            trial,
            options,
            stages,
            store: Store::new(&options.store),
        }
    }

    /// The options of the training loop and evaluations of phase `phase`.
    fn fit_options<'b>(
        &'b self,
        phase: usize,
        classifier: &'b Classifier,
        activity: &'b Activity<'b>,
    ) -> FitOptions<'b> {
        let spec = &self.trial.phases[phase].spec;
        FitOptions {
            frozen: &classifier.frozen,
            device: self.options.device.clone(),
            loss: spec.train.loss.options(),
            metrics: &spec.train.metrics,
            class_names: &self.trial.files[0].classes,
            batch_size: spec.data.batch_size,
            augment: &spec.augment,
            preprocess: classifier.preprocess,
            seeds: spec.pipeline.seeds(),
            steps_per_epoch: spec.train.steps_per_epoch,
            validation_steps: spec.train.validation_steps,
            activity,
        }
    }
}

/// Trains `trial` and returns its final record.
pub fn run_trial(
    trial: &PlannedTrial,
    start: Start,
    stop: Stop,
    stages: &mut Stages,
    options: &RunOptions,
) -> Result<RunRecord> {
    let spec = &trial.pipeline.spec;
    let mut ctx = TrialContext::new(trial, options, stages);
    let classes = &trial.files[0].classes;

    let mut record: Option<RunRecord> = None;
    let mut sweep = None;
    let mut first_phase = 0;
    let mut next_epoch = 1;
    let mut carried: Option<(TrainableModel, usize)> = None;
    let mut mid_phase: Option<Snapshot> = None;
    match start {
        Start::Fresh { sweep: of } => sweep = of,
        Start::Resume {
            record: resumed,
            snapshot,
        } => {
            tracing::info!(
                "resuming run {} after epoch {}",
                resumed.id,
                snapshot.state.epoch
            );
            record = Some(*resumed);
            let state = &snapshot.state;
            if state.phase_done || state.stopped.is_some() {
                // The snapshot's phase had ended: its weights go into the next phase.
                let phase = &trial.phases[state.phase];
                let classifier =
                    build_classifier(&phase.spec, &phase.layers, classes, &options.device)?;
                let model = load_model(classifier.trainable, &snapshot.model)?;
                carried = Some((model, classifier.frozen_prefix));
                first_phase = state.phase + 1;
                next_epoch = state.epoch + 1;
            } else {
                first_phase = state.phase;
                mid_phase = Some(*snapshot);
            }
        }
    }

    let mut stopped_by: Option<String> = None;
    // The weights training ended with, the classifier they belong to, and its inputs.
    let mut final_model: Option<(TrainEnd, Classifier, Vec<SplitInput>)> = None;
    for phase_index in first_phase..trial.phases.len() {
        let phase = &trial.phases[phase_index];
        options.device.seed(spec.pipeline.seeds().weight_init);
        let mut classifier =
            build_classifier(&phase.spec, &phase.layers, classes, &options.device)?;
        if let Some((previous, previous_prefix)) = carried.take() {
            classifier.carry_over(previous, previous_prefix);
        }
        let inputs = trial_inputs(&mut ctx, phase_index, &classifier)?;
        let record = if let Some(record) = &mut record {
            record
        } else {
            let record = record.insert(create_record(&ctx, sweep, &inputs)?);
            // A fresh run starts in its first phase, whose frozen prefix is the longest.
            let frozen = save_frozen_layers(&classifier.frozen, &ctx.store, &record.id)?;
            ctx.store
                .add_artifact(&record.id, FROZEN_LAYERS, frozen.clone())?;
            record.artifacts.insert(FROZEN_LAYERS.into(), frozen);
            record
        };
        let mut optimizer = build_optimizer(&phase.spec.train.optimizer);
        // Keras resets its callbacks at every `fit`, so each phase starts them anew, unless
        // it resumes from a snapshot in its middle.
        let mut callback_states = Vec::new();
        let mut loop_phase = Phase {
            index: phase_index + 1,
            first_epoch: next_epoch,
            next_epoch,
            epochs: phase.spec.train.epochs,
            schedule: LrSchedule::new(
                phase.spec.train.optimizer.lr(),
                phase.spec.train.lr_schedule.clone(),
                phase.spec.train.epochs,
            ),
            lr_factor: 1.0,
            pause_after: stop.pause_after,
        };
        if let Some(snapshot) = mid_phase.take() {
            classifier.trainable = load_model(classifier.trainable, &snapshot.model)?;
            optimizer = optimizer
                .load(&snapshot.optimizer)
                .map_err(|err| anyhow::anyhow!("cannot load the optimizer state: {err:?}"))?;
            callback_states = snapshot.state.callbacks;
            loop_phase.first_epoch = snapshot.state.phase_first_epoch;
            loop_phase.next_epoch = snapshot.state.epoch + 1;
            loop_phase.lr_factor = snapshot.state.lr_factor;
        }
        if trial.phases.len() > 1 {
            tracing::info!(
                "{} (from epoch {}, {} epochs): {} trainable parameters",
                phase.name,
                loop_phase.first_epoch,
                loop_phase.epochs,
                classifier.trainable.trainable_params()
            );
        }
        // Every batch shows the run is alive, at most once per interval.
        let last_heartbeat = Cell::new(Instant::now());
        let record_id = record.id.clone();
        let heartbeat = || {
            if last_heartbeat.get().elapsed() >= HEARTBEAT_INTERVAL {
                last_heartbeat.set(Instant::now());
                if let Err(error) = ctx.store.touch(&record_id) {
                    tracing::warn!("cannot refresh the run's heartbeat: {error:#}");
                }
            }
        };
        let activity = options.activity(&heartbeat);
        let ended = fit_phase(
            &ctx.fit_options(phase_index, &classifier, &activity),
            &loop_phase,
            classifier.trainable.clone(),
            &mut optimizer,
            &inputs,
            &mut phase_callbacks(trial, callback_states)?,
            &mut Run {
                store: &ctx.store,
                record,
            },
        );
        match ended {
            Ok(FitOutcome::Interrupted) => {
                record.status = RunStatus::Interrupted;
                record.reason = Some("interrupted by the user (Ctrl-C)".into());
                return finish(&ctx.store, record.clone());
            }
            Ok(FitOutcome::Paused) => return pause(&ctx.store, record.clone()),
            Ok(FitOutcome::Ended(end)) => {
                if let Some(reason) = &end.stopped {
                    tracing::info!("{}: {reason}", phase.name);
                    stopped_by.clone_from(&end.stopped);
                }
                // The phase's final weights (restored to its best epoch if asked), for
                // the next phase and for a resume that lands between phases.
                let state = ResumeState {
                    epoch: record.epochs,
                    phase: phase_index,
                    phase_first_epoch: loop_phase.first_epoch,
                    phase_done: true,
                    lr_factor: 1.0,
                    callbacks: Vec::new(),
                    stopped: end.stopped.clone(),
                };
                save_snapshot(&ctx.store, &record.id, &state, &end.model, &optimizer)?;
                next_epoch = record.epochs + 1;
                carried = Some((end.model.clone(), classifier.frozen_prefix));
                let more_phases = phase_index + 1 < trial.phases.len();
                if more_phases && end.stopped.is_none() && stop.pause_after == Some(record.epochs) {
                    // The rung is the phase's last epoch: the next phase waits.
                    return pause(&ctx.store, record.clone());
                }
                final_model = Some((end, classifier, inputs));
            }
            Err(error) => {
                record.status = RunStatus::Failed;
                record.reason = Some(format!("{error:#}"));
                finish(&ctx.store, record.clone())?;
                return Err(error.context(format!("run {} failed", record.id)));
            }
        }
    }
    let mut record = record.expect("a trial has at least one phase");
    if let Some((end, classifier, inputs)) = &final_model
        && let Some(test) = inputs.get(2)
    {
        let activity = options.activity(&no_heartbeat);
        let fit = ctx.fit_options(trial.phases.len() - 1, classifier, &activity);
        let metrics = evaluate(&end.model, test, &fit, Coverage::Whole);
        tracing::info!(
            "test ({} images, epoch {}'s weights): loss {:.4} accuracy {:.4}",
            test.len(),
            end.epoch,
            metrics.loss(),
            metrics.accuracy()
        );
        record.test = BTreeMap::from([
            ("test_loss".to_string(), metrics.loss()),
            ("test_accuracy".to_string(), metrics.accuracy()),
        ]);
        record.test_epoch = Some(end.epoch);
    }
    record.status = if stopped_by.is_some() {
        RunStatus::StoppedEarly
    } else {
        RunStatus::Finished
    };
    record.reason = stopped_by;
    // The stage first: a run recorded as finished is then always found as its stage's
    // result, even when this process dies between the two writes (a stage whose run has
    // not finished counts for nothing).
    ctx.store.record_stage(&trial.keys.training, &record.id)?;
    finish(&ctx.store, record)
}

/// The callbacks of a phase of `trial`, in the order they run, carrying on from `states`
/// when resumed: the progress line, the pipeline's callbacks that judge the epoch (so
/// that an error there comes before the epoch is recorded), the checkpoint (the declared
/// one, else the default), recording the epoch, the CSV loggers that read it back, and
/// the resume snapshot of them all.
fn phase_callbacks<'r>(
    trial: &PlannedTrial,
    states: Vec<Value>,
) -> Result<Vec<Box<dyn Callback<Run<'r>>>>> {
    let epochs = trial.phases.iter().map(|p| p.spec.train.epochs).sum();
    let mut callbacks: Vec<Box<dyn Callback<Run>>> = vec![Box::new(LogEpoch { epochs })];
    // Without a `checkpoint` callback: both checkpoints, the best by `val_loss`.
    let mut checkpoint = ModelCheckpoint::new("val_loss", MonitorMode::Auto, CheckpointSave::Both);
    let mut csv_loggers = Vec::new();
    for declared in &trial.pipeline.spec.callbacks {
        match declared {
            CallbackSpec::Checkpoint {
                monitor,
                mode,
                save,
            } => checkpoint = ModelCheckpoint::new(monitor, *mode, *save),
            CallbackSpec::CsvLogger { file } => csv_loggers.push(CsvLogger { file: file.clone() }),
            judging => callbacks.extend(metric_callback(judging)),
        }
    }
    callbacks.push(Box::new(checkpoint));
    callbacks.push(Box::new(RecordEpoch));
    for logger in csv_loggers {
        callbacks.push(Box::new(logger));
    }
    callbacks.push(Box::new(SaveSnapshot));
    for (callback, state) in callbacks.iter_mut().zip(states) {
        callback.resume(state)?;
    }
    Ok(callbacks)
}

/// Records a new run of the trial, with the manifests of the data it sees.
fn create_record(
    ctx: &TrialContext,
    sweep: Option<&str>,
    inputs: &[SplitInput],
) -> Result<RunRecord> {
    let (trial, store) = (ctx.trial, &ctx.store);
    let mut record = new_record(trial, inputs, ctx.options);
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
        inputs[0].len(),
        inputs[1].len(),
        record.classes
    );
    Ok(record)
}

fn load_model(model: TrainableModel, path: &std::path::Path) -> Result<TrainableModel> {
    model
        .try_load_file(path)
        .map_err(|err| anyhow::anyhow!("cannot load the checkpoint `{}`: {err:?}", path.display()))
}

/// Records the run as paused at a rung: `pruned` until a promotion continues it.
fn pause(store: &Store, mut record: RunRecord) -> Result<RunRecord> {
    tracing::info!("run {} paused after epoch {}", record.id, record.epochs);
    record.status = RunStatus::Pruned;
    record.reason = Some(format!(
        "paused after epoch {} by successive halving: below its rung's cut so far",
        record.epochs
    ));
    finish(store, record)
}

/// Records the run's end.
fn finish(store: &Store, mut record: RunRecord) -> Result<RunRecord> {
    record.ended_at = Some(now_millis());
    record.heartbeat_at = now_millis();
    record.process = this_process();
    store.put_run(&record)?;
    Ok(record)
}
