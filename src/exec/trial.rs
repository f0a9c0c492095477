//! One trial, end to end: for each phase, build the model (carrying the trained layers
//! over from the phase before), get its inputs from the stages, train with the phase's
//! optimizer and the callbacks, and record every epoch. Nothing is recorded until the
//! input has been checked; once recorded, a run always ends with a final status. A run
//! resumed from its snapshot continues exactly where the snapshot left it.

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::time::Instant;

use anyhow::Result;
use burn::module::Module;
use burn::optim::ModuleOptimizer;

use super::checkpoints::{
    FROZEN_LAYERS, ResumeState, Snapshot, save_checkpoint, save_frozen_layers, save_snapshot,
};
use super::history_csv::{csv_path, write_history_csv};
use super::inputs::trial_inputs;
use super::record::{log_epoch, new_record};
use super::{RunOptions, no_heartbeat};
use crate::model::{Classifier, TrainableModel, build_classifier};
use crate::plan::PlannedTrial;
use crate::progress::Activity;
use crate::spec::CallbackSpec;
use crate::stages::Stages;
use crate::store::{HEARTBEAT_INTERVAL, RunRecord, RunStatus, Store, now_millis, this_process};
use crate::train::{
    Callbacks, Coverage, EpochMetrics, EpochOutcome, FitOptions, FitStop, Logs, LrSchedule, Phase,
    SplitInput, build_optimizer, evaluate, fit_phase,
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

/// Where training continues inside a phase.
struct PhaseStart {
    /// The run's epoch number of the phase's first epoch.
    first_epoch: usize,
    /// The next epoch to train.
    next_epoch: usize,
    lr_factor: f64,
    callbacks: Callbacks,
}

/// Trains `trial` and returns its final record.
pub fn run_trial(
    trial: &PlannedTrial,
    start: Start,
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
                let classifier = build_classifier(&phase.spec, classes, &options.device)?;
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
    // The model training ended with, the epoch whose weights it holds, and its inputs.
    let mut final_model: Option<(TrainableModel, usize, Classifier, Vec<SplitInput>)> = None;
    for phase_index in first_phase..trial.phases.len() {
        let phase = &trial.phases[phase_index];
        options.device.seed(spec.pipeline.seeds().weight_init);
        let mut classifier = build_classifier(&phase.spec, classes, &options.device)?;
        if let Some((previous, previous_prefix)) = carried.take() {
            classifier.carry_over(previous, previous_prefix);
        }
        let inputs = trial_inputs(&mut ctx, phase_index, &classifier)?;
        let record = match &mut record {
            Some(record) => record,
            None => {
                let record = record.insert(create_record(&ctx, sweep, &inputs)?);
                // A fresh run starts in its first phase, whose frozen prefix is the longest.
                let frozen = save_frozen_layers(&classifier.frozen, &ctx.store, &record.id)?;
                ctx.store
                    .add_artifact(&record.id, FROZEN_LAYERS, frozen.clone())?;
                record.artifacts.insert(FROZEN_LAYERS.into(), frozen);
                record
            }
        };
        let mut optimizer = build_optimizer(&phase.spec.train.optimizer);
        let start = match mid_phase.take() {
            Some(snapshot) => {
                classifier.trainable = load_model(classifier.trainable, &snapshot.model)?;
                optimizer = optimizer
                    .load(&snapshot.optimizer)
                    .map_err(|err| anyhow::anyhow!("cannot load the optimizer state: {err:?}"))?;
                PhaseStart {
                    first_epoch: snapshot.state.phase_first_epoch,
                    next_epoch: snapshot.state.epoch + 1,
                    lr_factor: snapshot.state.lr_factor,
                    callbacks: snapshot.state.callbacks,
                }
            }
            // Keras resets its callbacks at every `fit`, so each phase starts them anew.
            None => PhaseStart {
                first_epoch: next_epoch,
                next_epoch,
                lr_factor: 1.0,
                callbacks: Callbacks::new(&spec.callbacks),
            },
        };
        if trial.phases.len() > 1 {
            tracing::info!(
                "{} (from epoch {}, {} epochs): {} trainable parameters",
                phase.name,
                start.first_epoch,
                phase.spec.train.epochs,
                classifier.trainable.trainable_params()
            );
        }
        let phase_first_epoch = start.first_epoch;
        match train_phase(
            &ctx,
            phase_index,
            &classifier,
            &mut optimizer,
            &inputs,
            start,
            record,
        ) {
            Ok(PhaseEnd::Interrupted) => {
                record.status = RunStatus::Interrupted;
                record.reason = Some("interrupted by the user (Ctrl-C)".into());
                return finish(&ctx.store, record.clone());
            }
            Ok(PhaseEnd::Done {
                model,
                weights_epoch,
                stopped,
            }) => {
                if let Some(reason) = &stopped {
                    tracing::info!("{}: {reason}", phase.name);
                    stopped_by = stopped.clone();
                }
                // The phase's final weights (restored to its best epoch if asked), for
                // the next phase and for a resume that lands between phases.
                let state = ResumeState {
                    epoch: record.epochs,
                    phase: phase_index,
                    phase_first_epoch,
                    phase_done: true,
                    lr_factor: 1.0,
                    callbacks: Callbacks::new(&spec.callbacks),
                    stopped,
                };
                save_snapshot(&ctx.store, &record.id, &state, &model, &optimizer)?;
                next_epoch = record.epochs + 1;
                carried = Some((model.clone(), classifier.frozen_prefix));
                final_model = Some((model, weights_epoch, classifier, inputs));
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
    if let Some((model, weights_epoch, classifier, inputs)) = &final_model
        && let Some(test) = inputs.get(2)
    {
        let activity = options.activity(&no_heartbeat);
        let fit = ctx.fit_options(trial.phases.len() - 1, classifier, &activity);
        let metrics = evaluate(model, test, &fit, Coverage::Whole);
        tracing::info!(
            "test ({} images, epoch {weights_epoch}'s weights): loss {:.4} accuracy {:.4}",
            test.len(),
            metrics.loss(),
            metrics.accuracy()
        );
        record.test = BTreeMap::from([
            ("test_loss".to_string(), metrics.loss()),
            ("test_accuracy".to_string(), metrics.accuracy()),
        ]);
        record.test_epoch = Some(*weights_epoch);
    }
    record.status = if stopped_by.is_some() {
        RunStatus::StoppedEarly
    } else {
        RunStatus::Finished
    };
    record.reason = stopped_by;
    let record = finish(&ctx.store, record)?;
    ctx.store.record_stage(&trial.keys.training, &record.id)?;
    Ok(record)
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

/// How a phase ended.
enum PhaseEnd {
    Done {
        model: TrainableModel,
        /// The epoch whose weights `model` holds: the last, or the best one restored.
        weights_epoch: usize,
        /// Why a callback stopped it early.
        stopped: Option<String>,
    },
    Interrupted,
}

/// Trains one phase from `start`, recording each epoch, its checkpoints and a resume
/// snapshot after it.
fn train_phase(
    ctx: &TrialContext,
    phase_index: usize,
    classifier: &Classifier,
    optimizer: &mut ModuleOptimizer,
    inputs: &[SplitInput],
    start: PhaseStart,
    record: &mut RunRecord,
) -> Result<PhaseEnd> {
    let (trial, store) = (ctx.trial, &ctx.store);
    let phase = &trial.phases[phase_index];
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
    let activity = ctx.options.activity(&heartbeat);
    let fit = ctx.fit_options(phase_index, classifier, &activity);
    let loop_phase = Phase {
        index: phase_index + 1,
        first_epoch: start.first_epoch,
        epochs: phase.spec.train.epochs,
        schedule: LrSchedule::new(
            phase.spec.train.optimizer.lr(),
            phase.spec.train.lr_schedule.clone(),
            phase.spec.train.epochs,
        ),
    };
    let callbacks = RefCell::new(start.callbacks);
    // The weights of the epoch `early_stopping` would restore, and that epoch.
    let remembered: RefCell<Option<(usize, TrainableModel)>> = RefCell::new(None);
    let stopped: RefCell<Option<String>> = RefCell::new(None);
    let last_epoch = trial
        .phases
        .iter()
        .map(|p| p.spec.train.epochs)
        .sum::<usize>();
    let (model, stop) = fit_phase(
        classifier.trainable.clone(),
        optimizer,
        &inputs[0],
        &inputs[1],
        &fit,
        &loop_phase,
        start.next_epoch,
        start.lr_factor,
        |report| {
            let metrics = report.metrics;
            log_epoch(metrics, last_epoch);
            let actions = callbacks.borrow_mut().on_epoch_end(
                metrics.epoch,
                &epoch_logs(metrics),
                metrics.lr,
            )?;
            record.add_epoch(metrics);
            record.heartbeat_at = now_millis();
            if actions.save_best {
                let artifact =
                    save_checkpoint(report.model, store, &record.id, "best", phase_index)?;
                record.artifacts.insert("best".into(), artifact);
                record.confusion_matrix = report.validation_confusion.to_vec();
            }
            if actions.save_last {
                let artifact =
                    save_checkpoint(report.model, store, &record.id, "last", phase_index)?;
                record.artifacts.insert("last".into(), artifact);
            }
            if actions.remember_weights {
                *remembered.borrow_mut() = Some((metrics.epoch, report.model.detached()));
            }
            store.put_epoch(record, metrics)?;
            for callback in &trial.pipeline.spec.callbacks {
                if let CallbackSpec::CsvLogger { file } = callback {
                    let path = csv_path(store, &record.id, file)?;
                    let artifact = write_history_csv(store, &path, &store.epochs(&record.id)?)?;
                    store.add_artifact(&record.id, file, artifact.clone())?;
                    record.artifacts.insert(file.clone(), artifact);
                }
            }
            let state = ResumeState {
                epoch: metrics.epoch,
                phase: phase_index,
                phase_first_epoch: loop_phase.first_epoch,
                phase_done: false,
                lr_factor: report.lr_factor * actions.lr_factor.unwrap_or(1.0),
                callbacks: callbacks.borrow().clone(),
                stopped: actions.stop.clone(),
            };
            save_snapshot(store, &record.id, &state, report.model, report.optimizer)?;
            *stopped.borrow_mut() = actions.stop.clone();
            Ok(EpochOutcome {
                stop: actions.stop.is_some(),
                lr_factor: actions.lr_factor.unwrap_or(1.0),
            })
        },
    )?;
    if stop == FitStop::Interrupted {
        return Ok(PhaseEnd::Interrupted);
    }
    let (weights_epoch, model) = match remembered.into_inner() {
        Some((epoch, best)) if callbacks.borrow().restores_best() => {
            tracing::info!("early_stopping: restoring the weights of epoch {epoch}, the best");
            (epoch, best)
        }
        _ => (record.epochs, model),
    };
    Ok(PhaseEnd::Done {
        model,
        weights_epoch,
        stopped: stopped.into_inner(),
    })
}

/// An epoch's metrics by name, as callbacks see them.
fn epoch_logs(metrics: &EpochMetrics) -> Logs {
    let mut logs: Logs = metrics.extra.clone();
    for (name, value) in [
        ("loss", metrics.loss),
        ("accuracy", metrics.accuracy),
        ("val_loss", metrics.val_loss),
        ("val_accuracy", metrics.val_accuracy),
        ("lr", metrics.lr),
    ] {
        logs.insert(name.to_string(), value);
    }
    logs
}

fn load_model(model: TrainableModel, path: &std::path::Path) -> Result<TrainableModel> {
    model
        .try_load_file(path)
        .map_err(|err| anyhow::anyhow!("cannot load the checkpoint `{}`: {err:?}", path.display()))
}

/// Records the run's end.
fn finish(store: &Store, mut record: RunRecord) -> Result<RunRecord> {
    record.ended_at = Some(now_millis());
    record.heartbeat_at = now_millis();
    record.process = this_process();
    store.put_run(&record)?;
    Ok(record)
}
