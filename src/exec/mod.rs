//! Executing a plan: each trial whose training stage the store does not have yet is
//! trained, in this process or, with `--jobs N`, in worker processes; the others are
//! reused. A failed trial is recorded with its reason and the others go on; Ctrl-C stops
//! after the current batch.

mod checkpoints;
mod history_csv;
mod inputs;
mod pool;
mod record;
mod schedule;
mod slurm;
mod slurm_tasks;
mod trial;
mod workers;

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::Result;
use burn::prelude::Device;

use crate::bail_input;
use crate::plan::{Plan, PlannedTrial};
use crate::progress::Activity;
use crate::spec::{Pipeline, load_pipeline};
use crate::stages::Stages;
use crate::store::{
    RunRecord, RunStatus, Store, SweepRecord, new_run_id, now_millis, this_host, this_process,
};
pub use checkpoints::FROZEN_LAYERS;
use checkpoints::{Snapshot, latest_snapshot};
use pool::InProcess;
use schedule::{Outcome, Scheduler};
use slurm_tasks::SlurmTasks;
pub use trial::{Start, Stop, run_trial};
use workers::{WORKERS_FOLDER, WorkerPool};
pub use workers::{WorkerTrial, run_worker};

/// Set by Ctrl-C; training stops after the current batch and the run is recorded as
/// interrupted.
static INTERRUPTED: AtomicBool = AtomicBool::new(false);

/// Whether Ctrl-C (or SIGTERM) stopped this process's work.
pub fn was_interrupted() -> bool {
    INTERRUPTED.load(Ordering::SeqCst)
}

#[derive(Clone)]
pub struct RunOptions {
    pub store: PathBuf,
    pub device: Device,
    /// How the device is named in the run record: `cpu`, `cuda:0`.
    pub device_label: String,
    /// The CUDA GPUs `--jobs` workers are spread over (0 on the CPU).
    pub gpus: usize,
    pub show_progress: bool,
    /// Trials trained at once, each in its own process.
    pub jobs: usize,
    /// Train even the trials whose result the store already has.
    pub retrain: bool,
    /// Train the trials as the tasks of a Slurm array job instead of here.
    pub in_slurm: bool,
    /// `-s KEY=VALUE` values set in the pipeline; workers and Slurm tasks plan the file
    /// again with them.
    pub overrides: Vec<String>,
}

impl RunOptions {
    /// Whether trials train on a CUDA device.
    pub fn on_cuda(&self) -> bool {
        self.device_label.starts_with("cuda")
    }

    /// What the long loops of this process share: progress bars when shown, the Ctrl-C
    /// flag, and `heartbeat`, called after every batch.
    fn activity<'a>(&self, heartbeat: &'a dyn Fn()) -> Activity<'a> {
        Activity {
            show_progress: self.show_progress,
            interrupted: &INTERRUPTED,
            heartbeat,
        }
    }
}

/// The heartbeat of work done before a run is recorded: there is no run to keep alive.
fn no_heartbeat() {}

/// The runs of a pipeline or experiment file: one, or one per trial of its sweep.
pub struct FileRuns {
    pub sweep: Option<String>,
    /// Every finished or stopped trial, trained now or before.
    pub runs: Vec<RunRecord>,
    /// How many of `runs` were trained before and reused.
    pub reused: usize,
    /// Trials that failed, with why; the other trials still ran.
    pub failures: Vec<String>,
    /// Why the sweep's budget stopped it, and how many trials it did not start.
    pub budget_spent: Option<(String, usize)>,
}

/// Plans a pipeline or experiment file and runs what the store does not have yet.
pub fn run_file(file: &Path, options: &RunOptions) -> Result<FileRuns> {
    let store = Store::new(&options.store);
    // Runs that workers or Slurm tasks finished after their coordinator stopped following
    // them count as trained: take them in before planning looks for them.
    take_in_left_bundles(&load_pipeline(file)?, &store)?;
    let mut plan = Plan::new(file, &options.overrides, options.on_cuda(), &store)?;
    // Sweeps that decide as trials end which to start or promote, or whether to start
    // one, and those that train paused runs on, go through the scheduler one job at a
    // time; the others may be submitted whole.
    let adaptive = plan.tpe.is_some()
        || plan.asha.is_some()
        || plan.budget.is_set()
        || (!options.retrain && plan.trials.iter().any(|trial| trial.paused.is_some()));
    let sweep = plan.is_sweep.then(|| format!("sweep-{}", new_run_id()));
    if let Some(sweep) = &sweep {
        tracing::info!("{sweep}: {} trials", plan.trial_count());
    }
    install_interrupt_handler();
    // Runs by trial index, so the sweep's table lists them in the file's order.
    let mut runs: Vec<(usize, RunRecord)> = Vec::new();
    let mut to_train: Vec<usize> = Vec::new();
    for (position, trial) in plan.trials.iter().enumerate() {
        match &trial.trained_before {
            Some(run) if !options.retrain => {
                tracing::info!(
                    "trial {}: trained before as run {} (same training stage); not trained again",
                    trial.index,
                    run.id
                );
                if let Some(sweep) = &sweep {
                    store.join_sweep(&run.id, sweep)?;
                }
                runs.push((trial.index, run.clone()));
            }
            _ => to_train.push(position),
        }
    }
    let reused = runs.len();
    let mut stages = Stages::new(&store, &options.device);
    let outcome = if options.in_slurm && !to_train.is_empty() && !adaptive {
        let trials: Vec<&PlannedTrial> = to_train.iter().map(|p| &plan.trials[*p]).collect();
        let (trained, failures) =
            slurm::run_in_slurm(&plan, &trials, sweep.as_deref(), &mut stages, options)?;
        let epochs_trained = trained.iter().map(|(_, run)| run.epochs).sum();
        runs.extend(trained);
        Outcome {
            runs,
            failures,
            budget_spent: None,
            epochs_trained,
        }
    } else {
        // Trials to start: planned ones not trained before, or more that TPE will choose.
        let work_left = !to_train.is_empty() || plan.trial_count() > plan.trials.len();
        let scheduler = Scheduler {
            queue: to_train.iter().copied().collect(),
            plan: &mut plan,
            store: &store,
            sweep: sweep.as_deref(),
            options,
            runs,
            continued: HashSet::new(),
        };
        match &sweep {
            Some(sweep) if options.in_slurm && work_left => {
                let mut pool =
                    SlurmTasks::new(scheduler.plan, &to_train, sweep, &mut stages, options)?;
                scheduler.run(&mut pool, &mut stages)?
            }
            Some(sweep) if options.jobs > 1 && work_left && (to_train.len() > 1 || adaptive) => {
                let mut pool =
                    WorkerPool::new(scheduler.plan, &to_train, sweep, &mut stages, options)?;
                let outcome = scheduler.run(&mut pool, &mut stages)?;
                pool.close()?;
                outcome
            }
            _ => {
                let mut pool = InProcess {
                    store: &store,
                    options,
                    sweep: sweep.as_deref(),
                    ended: Vec::new(),
                };
                scheduler.run(&mut pool, &mut stages)?
            }
        }
    };
    let Outcome {
        mut runs,
        failures,
        budget_spent,
        epochs_trained,
    } = outcome;
    if let Some(sweep) = &sweep {
        store.record_sweep(&SweepRecord {
            sweep: sweep.clone(),
            trials: plan.trial_count(),
            rungs: plan
                .asha
                .as_ref()
                .map(|asha| asha.rungs.epochs.clone())
                .unwrap_or_default(),
            budget: plan.budget.is_set().then(|| plan.budget.to_string()),
            budget_spent: budget_spent.clone(),
            epochs_trained,
        })?;
    }
    runs.sort_by_key(|(index, _)| *index);
    Ok(FileRuns {
        budget_spent,
        sweep,
        runs: runs.into_iter().map(|(_, run)| run).collect(),
        reused,
        failures,
    })
}

/// `runner run --resume RUN_ID`: continues an interrupted or failed run from its last
/// snapshot, with the pipeline text it was started with, on the same data and weights.
pub fn resume_run(run_id: &str, options: &RunOptions) -> Result<RunRecord> {
    let store = Store::new(&options.store);
    store.persist_stale_runs()?;
    let record = store.find_run(run_id)?;
    match record.status {
        RunStatus::Finished | RunStatus::StoppedEarly => bail_input!(
            "run {} has already ended ({}): there is nothing to resume",
            record.id,
            record.status.as_str()
        ),
        RunStatus::Running => bail_input!(
            "run {} is still running (process {} on {})",
            record.id,
            record.process.pid,
            record.host
        ),
        // A pruned run (paused by successive halving) trains on to its last epoch.
        RunStatus::Failed | RunStatus::Interrupted | RunStatus::Pruned => {}
    }
    let Some(snapshot) = latest_snapshot(&store, &record.id)? else {
        bail_input!(
            "run {} has no resume snapshot: it ended before its first epoch; run its pipeline again",
            record.id
        );
    };
    let pipeline = store.run_pipeline(&record)?;
    let plan = Plan::for_pipeline(
        pipeline,
        record.trial.unwrap_or(0),
        options.on_cuda(),
        &store,
    )?;
    let trial = &plan.trials[0];
    // The snapshot is read back from disk: a phase the pipeline does not have is refused
    // here rather than indexed.
    if snapshot.state.phase >= trial.phases.len() {
        bail_input!(
            "run {} cannot be resumed: its snapshot `{}` names phase {}, but its pipeline has {} phase(s); the snapshot is damaged",
            record.id,
            snapshot.model.with_file_name("state.json").display(),
            snapshot.state.phase + 1,
            trial.phases.len()
        );
    }
    if record.stages.get("training") != Some(&trial.keys.training) {
        bail_input!(
            "run {} cannot be resumed: its data or weights changed since it started (the training stage key differs)",
            record.id
        );
    }
    let record = reopen_for_training(&store, record, &snapshot)?;
    install_interrupt_handler();
    let mut stages = Stages::new(&store, &options.device);
    run_trial(
        trial,
        Start::Resume {
            record: Box::new(record),
            snapshot: Box::new(snapshot),
        },
        Stop::default(),
        &mut stages,
        options,
    )
}

/// `record` made ready to train on from `snapshot`: its history goes back to the
/// snapshot (epochs recorded after it are trained again), and it is running in this
/// process.
fn reopen_for_training(
    store: &Store,
    mut record: RunRecord,
    snapshot: &Snapshot,
) -> Result<RunRecord> {
    store.truncate_epochs(&record.id, snapshot.state.epoch)?;
    record.reset_epochs(&store.epochs(&record.id)?);
    record.status = RunStatus::Running;
    record.reason = None;
    record.ended_at = None;
    record.process = this_process();
    record.host = this_host();
    record.heartbeat_at = now_millis();
    store.put_run(&record)?;
    Ok(record)
}

/// Takes in the bundles left in the store's `--jobs` folder and in the shared folder of
/// `pipeline`'s executor.
fn take_in_left_bundles(pipeline: &Pipeline, store: &Store) -> Result<()> {
    let shared = slurm::shared_folder(pipeline.spec.executor.as_ref(), store.root());
    for folder in [store.root().join(WORKERS_FOLDER), shared] {
        if folder.is_dir() {
            for run in store.ingest_shared_folder(&folder)? {
                tracing::info!(
                    "took in run {} ({}), left by an earlier run",
                    run.id,
                    run.status.as_str()
                );
            }
        }
    }
    Ok(())
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
