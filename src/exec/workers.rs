//! `--jobs N`: trials trained in worker processes (`runner-torch trial ...`), N at a time,
//! with LibTorch's threads divided among them so the machine is not oversubscribed. The
//! stages the trials need are computed first, here, so each worker finds them cached.
//! Workers leave their runs in result bundles, as Slurm tasks do, which this process
//! takes into the store: one writer of the database, and one ingest path for both
//! executors.

use std::collections::BTreeSet;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::sync::atomic::Ordering;
use std::time::Duration;

use anyhow::{Context, Result};

use super::checkpoints::latest_snapshot;
use super::inputs::trial_inputs;
use super::pool::{Ended, Job, Pool};
use super::trial::TrialContext;
use super::{
    INTERRUPTED, RunOptions, Start, Stop, install_interrupt_handler, reopen_for_training, run_trial,
};
use crate::bail_input;
use crate::model::build_classifier;
use crate::plan::{Plan, PlannedTrial};
use crate::spec::sweep::Trial;
use crate::stages::Stages;
use crate::store::{REJECTED_FOLDER, RunRecord, RunStatus, Store, sweep_bundles};

/// The runs the workers trained, by trial index, and why the other trials failed.
pub type WorkerOutcomes = (Vec<(usize, RunRecord)>, Vec<String>);

/// Where in the store `--jobs` workers leave their bundles, one folder per sweep.
pub const WORKERS_FOLDER: &str = "workers";

/// How a worker learns which trial to train.
pub struct WorkerTrial<'a> {
    pub file: &'a Path,
    pub index: usize,
    /// The sweep the trial belongs to; `None` for a pipeline without one.
    pub sweep: Option<&'a str>,
    /// The training stage key the coordinator planned; the worker refuses to train a
    /// trial whose key differs (the file changed since the sweep started).
    pub key: &'a str,
    /// LibTorch intra-op threads.
    pub threads: usize,
    /// Where the worker leaves its run as a bundle.
    pub bundles: &'a Path,
    /// The trial's values as JSON, for a trial the file's plan does not have (TPE chose
    /// it).
    pub values: Option<&'a str>,
    /// The run successive halving paused, which the worker trains on from its snapshot.
    pub resume: Option<&'a str>,
    /// Pause after this epoch (successive halving's next rung).
    pub pause_after: Option<usize>,
}

/// Jobs trained in up to `options.jobs` worker processes at once, each leaving its run in
/// a bundle that this process takes in when the worker exits.
pub struct WorkerPool<'a> {
    options: &'a RunOptions,
    store: Store,
    sweep: &'a str,
    /// LibTorch threads per worker.
    threads: usize,
    /// The folders workers leave bundles in: the sweep's, and that of each earlier sweep
    /// whose paused run a worker trains on (a bundle belongs to its run's sweep).
    folders: BTreeSet<PathBuf>,
    /// Trials whose stages have been computed here, by position.
    prepared: BTreeSet<usize>,
    running: Vec<Worker>,
    /// Runs taken in whose worker has not been seen to exit yet.
    taken_in: Vec<RunRecord>,
}

/// A running worker: its job, and the slot that picks its GPU.
struct Worker {
    position: usize,
    index: usize,
    epochs_before: usize,
    slot: usize,
    child: Child,
}

impl<'a> WorkerPool<'a> {
    /// A pool for `sweep`, with the stages of `planned` (positions in `plan`) computed
    /// here first, so each worker finds them cached.
    pub fn new(
        plan: &Plan,
        planned: &[usize],
        sweep: &'a str,
        stages: &mut Stages,
        options: &'a RunOptions,
    ) -> Result<Self> {
        let trials: Vec<&PlannedTrial> = planned.iter().map(|p| &plan.trials[*p]).collect();
        prepare_shared_stages(&trials, stages, options)?;
        // LibTorch's own thread count (every core, or OMP_NUM_THREADS) shared out.
        let threads = (usize::try_from(tch::get_num_threads()).unwrap_or(1) / options.jobs).max(1);
        tracing::info!(
            "training up to {} trials at a time, {threads} LibTorch thread(s) each",
            options.jobs
        );
        Ok(Self {
            options,
            store: Store::new(&options.store),
            sweep,
            threads,
            folders: BTreeSet::from([sweep_bundles(&options.store.join(WORKERS_FOLDER), sweep)]),
            prepared: planned.iter().copied().collect(),
            running: Vec::new(),
            taken_in: Vec::new(),
        })
    }

    /// Takes in the bundles of every folder.
    fn take_in(&mut self) -> Result<()> {
        for folder in &self.folders {
            self.taken_in.extend(self.store.ingest_bundles(folder)?);
        }
        Ok(())
    }

    /// Takes in what is left once the sweep is over and removes the bundle folders (one
    /// with bad bundles stays, for a look in its `rejected/`).
    pub fn close(mut self) -> Result<()> {
        self.take_in()?;
        for folder in &self.folders {
            if !folder.join(REJECTED_FOLDER).exists() {
                let _ = std::fs::remove_dir_all(folder.parent().unwrap_or(folder));
            }
        }
        Ok(())
    }
}

impl Pool for WorkerPool<'_> {
    fn slots(&self) -> usize {
        self.options.jobs
    }

    fn busy(&self) -> usize {
        self.running.len()
    }

    fn start(&mut self, plan: &Plan, job: Job, stages: &mut Stages) -> Result<()> {
        let trial = &plan.trials[job.position];
        let handover = Handover::prepare(
            plan,
            &job,
            self.sweep,
            &mut self.prepared,
            stages,
            self.options,
        )?;
        let submission = handover.submission;
        let bundles = sweep_bundles(&self.options.store.join(WORKERS_FOLDER), &submission);
        self.folders.insert(bundles.clone());
        let slot = (0..self.options.jobs)
            .find(|slot| self.running.iter().all(|worker| worker.slot != *slot))
            .expect("a job starts only when a slot is free");
        let device = worker_device(&self.options.device_label, self.options.gpus, slot);
        let values = handover.values;
        let worker = WorkerTrial {
            file: &plan.source,
            index: trial.index,
            sweep: Some(&submission),
            key: &trial.keys.training,
            threads: self.threads,
            bundles: &bundles,
            values: values.as_deref(),
            resume: job.resume.as_ref().map(|run| run.id.as_str()),
            pause_after: job.stop.pause_after,
        };
        let child = spawn_worker(&worker, &device, self.options)?;
        self.running.push(Worker {
            position: job.position,
            index: trial.index,
            epochs_before: job.epochs_before(),
            slot,
            child,
        });
        Ok(())
    }

    fn wait(&mut self) -> Result<Vec<Ended>> {
        let mut forwarded_interrupt = false;
        while !self.running.is_empty() {
            if INTERRUPTED.load(Ordering::SeqCst) && !forwarded_interrupt {
                forwarded_interrupt = true;
                for worker in &self.running {
                    // SAFETY: kill(2) on a child we started and have not reaped.
                    unsafe { libc::kill(worker.child.id() as libc::pid_t, libc::SIGINT) };
                }
            }
            let mut exited = Vec::new();
            let mut still_running = Vec::with_capacity(self.running.len());
            for mut worker in std::mem::take(&mut self.running) {
                match worker.child.try_wait()? {
                    Some(status) => exited.push((worker, status)),
                    None => still_running.push(worker),
                }
            }
            self.running = still_running;
            if exited.is_empty() {
                std::thread::sleep(Duration::from_millis(100));
                continue;
            }
            // A worker renames its bundle into place before it exits.
            self.take_in()?;
            return Ok(exited
                .into_iter()
                .map(|(worker, status)| {
                    let taken = take_run_of(&mut self.taken_in, worker.index);
                    Ended {
                        position: worker.position,
                        epochs_before: worker.epochs_before,
                        run: job_outcome(taken, &worker_ending(status)),
                    }
                })
                .collect());
        }
        Ok(Vec::new())
    }
}

/// The run taken in for trial `index`, out of `taken_in` (the latest, should a trial have
/// left two).
pub(super) fn take_run_of(taken_in: &mut Vec<RunRecord>, index: usize) -> Option<RunRecord> {
    let at = taken_in.iter().rposition(|run| run.trial == Some(index))?;
    Some(taken_in.remove(at))
}

fn worker_ending(status: std::process::ExitStatus) -> String {
    if status.success() {
        "the trial left no result".into()
    } else {
        format!("its worker exited ({status}); see its log above")
    }
}

/// A job's run if it finished, stopped early or was paused; otherwise why not (`how`: how
/// its process ended).
pub(super) fn job_outcome(run: Option<RunRecord>, how: &str) -> Result<RunRecord> {
    match run {
        Some(run)
            if matches!(
                run.status,
                RunStatus::Finished | RunStatus::StoppedEarly | RunStatus::Pruned
            ) =>
        {
            Ok(run)
        }
        Some(run) => Err(anyhow::anyhow!(
            "run {} {}: {}",
            run.id,
            run.status.as_str(),
            run.reason.as_deref().unwrap_or("no reason recorded")
        )),
        None => Err(anyhow::anyhow!("no run was recorded ({how})")),
    }
}

/// What a pool of `runner-torch trial` processes (workers, Slurm tasks) settles before it
/// hands a job over.
pub(super) struct Handover {
    /// Where the job's bundle goes: the sweep's folder, or for a paused run trained on,
    /// the folder of that run's own sweep (a bundle belongs to its run's sweep).
    pub submission: String,
    /// For a trial TPE chose, which the file's plan does not have, its values as JSON:
    /// the process plans it from them.
    pub values: Option<String>,
}

impl Handover {
    /// Computes a new trial's stages here (once per trial, so the process finds them
    /// cached) and records the training stage key its bundle must claim.
    pub fn prepare(
        plan: &Plan,
        job: &Job,
        sweep: &str,
        prepared: &mut BTreeSet<usize>,
        stages: &mut Stages,
        options: &RunOptions,
    ) -> Result<Self> {
        let trial = &plan.trials[job.position];
        if job.resume.is_none() && prepared.insert(job.position) {
            prepare_shared_stages(&[trial], stages, options)?;
        }
        let submission = job
            .resume
            .as_ref()
            .and_then(|run| run.sweep.clone())
            .unwrap_or_else(|| sweep.to_string());
        Store::new(&options.store)
            .plan_trials(&submission, [(trial.index, trial.keys.training.as_str())])?;
        let values = (plan.tpe.is_some())
            .then(|| serde_json::to_string(&trial.values))
            .transpose()?;
        Ok(Self { submission, values })
    }
}

/// The training stage key of each trial, which the bundles left for them must claim.
pub(super) fn planned_keys<'a>(
    trials: &'a [&PlannedTrial],
) -> impl Iterator<Item = (usize, &'a str)> {
    trials
        .iter()
        .map(|trial| (trial.index, trial.keys.training.as_str()))
}

/// The trials whose runs finished, by index, and why the others did not. `ended` says,
/// per trial that was started, why its process ended badly (`None` when it did not).
pub(super) fn outcomes(
    ingested: Vec<RunRecord>,
    ended: Vec<(usize, Option<String>)>,
) -> WorkerOutcomes {
    let mut finished = Vec::new();
    let mut failures = Vec::new();
    for (index, why) in ended {
        let record = ingested.iter().rfind(|run| run.trial == Some(index));
        match record {
            Some(run) if matches!(run.status, RunStatus::Finished | RunStatus::StoppedEarly) => {
                finished.push((index, run.clone()));
            }
            Some(run) => failures.push(format!(
                "trial {index}: run {} {}: {}",
                run.id,
                run.status.as_str(),
                run.reason.as_deref().unwrap_or("no reason recorded")
            )),
            None => failures.push(format!(
                "trial {index}: no run was recorded ({})",
                why.as_deref().unwrap_or("the trial left no result")
            )),
        }
    }
    (finished, failures)
}

/// Computes the decoded images and features the trials need, so that the workers load
/// them instead of each computing them again.
pub(super) fn prepare_shared_stages(
    trials: &[&PlannedTrial],
    stages: &mut Stages,
    options: &RunOptions,
) -> Result<()> {
    for trial in trials {
        let spec = &trial.pipeline.spec;
        options.device.seed(spec.pipeline.seeds().weight_init);
        let classifier = build_classifier(
            &trial.phases[0].spec,
            &trial.phases[0].layers,
            &trial.files[0].classes,
            &options.device,
        )?;
        trial_inputs(
            &mut TrialContext::new(trial, options, stages),
            0,
            &classifier,
        )?;
    }
    stages.forget_in_memory()
}

/// The device of the worker in `slot`: on CUDA, GPU `slot` modulo the GPUs there are, so
/// one worker per GPU (the default `--jobs`) gives each its own.
fn worker_device(device_label: &str, gpus: usize, slot: usize) -> String {
    if device_label.starts_with("cuda") && gpus > 0 {
        format!("cuda:{}", slot % gpus)
    } else {
        device_label.to_string()
    }
}

fn spawn_worker(worker: &WorkerTrial, device: &str, options: &RunOptions) -> Result<Child> {
    let exe = std::env::current_exe().context("cannot find the runner-torch executable")?;
    let mut command = worker_command(&exe, worker, device, options);
    // SAFETY: prctl is async-signal-safe; it makes the worker stop (as on Ctrl-C) when
    // this process dies, instead of training on unobserved.
    unsafe {
        command.pre_exec(|| {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGINT);
            Ok(())
        });
    }
    command
        .spawn()
        .with_context(|| format!("cannot start a worker `{}`", exe.display()))
}

/// The command line of a worker training `worker` on `device`.
pub(super) fn worker_command(
    exe: &Path,
    worker: &WorkerTrial,
    device: &str,
    options: &RunOptions,
) -> Command {
    let mut command = Command::new(exe);
    command
        .arg("--store")
        .arg(&options.store)
        .arg("trial")
        .arg(worker.file)
        .args(["--index", &worker.index.to_string()])
        .args(
            worker
                .sweep
                .map(|sweep| ["--sweep", sweep])
                .into_iter()
                .flatten(),
        )
        .args(["--key", worker.key])
        .args(["--threads", &worker.threads.to_string()])
        .args(["--device", device])
        .arg("--bundle")
        .arg(worker.bundles)
        .args(
            worker
                .values
                .map(|values| ["--values", values])
                .into_iter()
                .flatten(),
        )
        .args(
            worker
                .resume
                .map(|run| ["--resume", run])
                .into_iter()
                .flatten(),
        )
        .args(
            worker
                .pause_after
                .map(|epoch| ["--pause-after".to_string(), epoch.to_string()])
                .into_iter()
                .flatten(),
        )
        .args(options.overrides.iter().flat_map(|value| ["--set", value]))
        // The coordinator prints the sweep's outcome; workers only log, on stderr.
        .stdout(std::process::Stdio::null());
    command
}

/// The body of `runner-torch trial`: re-plans the file, checks the trial is the one the
/// coordinator planned, and trains it with the stages the coordinator cached. The run is
/// recorded in a scratch store in this node's temporary folder and then moved into a
/// bundle in `worker.bundles`, failed or interrupted runs too: only the coordinator writes
/// the store.
pub fn run_worker(worker: &WorkerTrial, options: &RunOptions) -> Result<RunRecord> {
    tch::set_num_threads(i32::try_from(worker.threads).unwrap_or(1));
    // SIGINT from a stopping coordinator, SIGTERM from Slurm (scancel, time limit): the
    // run stops after its batch and is recorded as interrupted.
    install_interrupt_handler();
    let scratch = ScratchStore::new()?;
    let scratch_store = Store::new(&scratch.0);
    let scratch_options = RunOptions {
        store: scratch.0.clone(),
        ..options.clone()
    };
    let caches = Store::new(&options.store);
    let trained = train_planned_trial(worker, &scratch_store, &caches, &scratch_options);
    for run in scratch_store.runs()? {
        let bundle = scratch_store.write_bundle(&run.id, worker.bundles)?;
        tracing::info!("run {} left in {}", run.id, bundle.display());
    }
    trained
}

/// Plans `worker.file` against `records` (where the run is recorded) and trains the trial
/// with the cached stages of `caches`.
fn train_planned_trial(
    worker: &WorkerTrial,
    records: &Store,
    caches: &Store,
    options: &RunOptions,
) -> Result<RunRecord> {
    let mut plan = Plan::new(worker.file, &options.overrides, options.on_cuda(), records)?;
    let known = plan
        .trials
        .iter()
        .position(|trial| trial.index == worker.index);
    let position = match (known, worker.values) {
        (Some(position), _) => position,
        (None, Some(values)) => {
            let values = serde_json::from_str(values)
                .map_err(|err| crate::error::input_error(format!("`--values`: {err}")))?;
            plan.add_trial(
                Trial {
                    index: worker.index,
                    values,
                },
                records,
            )?;
            plan.trials.len() - 1
        }
        (None, None) => bail_input!(
            "`{}` has no trial {} (it has {})",
            worker.file.display(),
            worker.index,
            plan.trials.len()
        ),
    };
    let trial = &plan.trials[position];
    if trial.keys.training != worker.key {
        bail_input!(
            "trial {} of `{}` is not the trial that was planned: the file or its data changed since the sweep started",
            worker.index,
            worker.file.display()
        );
    }
    let mut stages = Stages::new(caches, &options.device);
    let start = match worker.resume {
        None => Start::Fresh {
            sweep: worker.sweep,
        },
        Some(run_id) => {
            let record = caches.lend_paused_run(run_id, records)?;
            if record.stages.get("training") != Some(&trial.keys.training) {
                bail_input!(
                    "run {run_id} is not a run of trial {} of `{}`",
                    worker.index,
                    worker.file.display()
                );
            }
            let Some(snapshot) = latest_snapshot(records, run_id)? else {
                bail_input!("run {run_id} was paused without a snapshot");
            };
            Start::Resume {
                record: Box::new(reopen_for_training(records, record, &snapshot)?),
                snapshot: Box::new(snapshot),
            }
        }
    };
    let stop = Stop {
        pause_after: worker.pause_after,
    };
    run_trial(trial, start, stop, &mut stages, options)
}

/// A store folder of this process in the temporary folder, removed when dropped.
struct ScratchStore(PathBuf);

impl ScratchStore {
    fn new() -> Result<Self> {
        let path = std::env::temp_dir().join(format!(
            "runner-trial-{}-{}",
            std::process::id(),
            crate::store::now_millis()
        ));
        std::fs::create_dir_all(&path)
            .with_context(|| format!("cannot create the scratch store `{}`", path.display()))?;
        Ok(Self(path))
    }
}

impl Drop for ScratchStore {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn workers_on_cuda_get_a_gpu_each_and_the_overrides() {
        let options = RunOptions {
            store: PathBuf::from("runs"),
            device: crate::device::cpu(),
            device_label: "cuda:0".into(),
            gpus: 4,
            show_progress: false,
            jobs: 4,
            retrain: false,
            in_slurm: false,
            overrides: vec!["head.2.rate=0.3".into()],
        };
        let worker = WorkerTrial {
            file: Path::new("sweep.toml"),
            index: 0,
            sweep: Some("s"),
            key: "k",
            threads: 4,
            bundles: Path::new("bundles"),
            values: None,
            resume: None,
            pause_after: None,
        };
        let devices: Vec<String> = (0..4)
            .map(|slot| {
                let device = worker_device(&options.device_label, options.gpus, slot);
                let command = worker_command(Path::new("runner-torch"), &worker, &device, &options);
                let args: Vec<String> = command
                    .get_args()
                    .map(|arg| arg.to_string_lossy().into_owned())
                    .collect();
                let at = args.iter().position(|arg| arg == "--device").unwrap();
                args[at + 1].clone()
            })
            .collect();
        assert_eq!(devices, ["cuda:0", "cuda:1", "cuda:2", "cuda:3"]);
        // Workers plan the file again, with the coordinator's overrides.
        let command = worker_command(Path::new("runner-torch"), &worker, "cpu", &options);
        let args: Vec<_> = command.get_args().collect();
        assert!(
            args.windows(2)
                .any(|pair| pair == ["--set", "head.2.rate=0.3"])
        );
        // More workers than GPUs share them in turn.
        assert_eq!(worker_device("cuda:0", 2, 3), "cuda:1");
        assert_eq!(worker_device("cpu", 0, 3), "cpu");
    }
}
