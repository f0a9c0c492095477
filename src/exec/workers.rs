//! `--jobs N`: trials trained in worker processes (`runner-torch trial ...`), N at a time,
//! with LibTorch's threads divided among them so the machine is not oversubscribed. The
//! stages the trials need are computed first, here, so each worker finds them cached.
//! Workers leave their runs in result bundles, as Slurm tasks do, which this process
//! takes into the store: one writer of the database, and one ingest path for both
//! executors.

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::sync::atomic::Ordering;
use std::time::Duration;

use anyhow::{Context, Result};

use super::inputs::trial_inputs;
use super::trial::TrialContext;
use super::{INTERRUPTED, RunOptions, Start, Stop, install_interrupt_handler, run_trial};
use crate::bail_input;
use crate::model::build_classifier;
use crate::plan::{Plan, PlannedTrial};
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
}

/// Trains `trials` in up to `options.jobs` workers. Returns the finished runs by trial
/// index and the failures.
pub fn run_in_workers(
    plan: &Plan,
    trials: &[&PlannedTrial],
    sweep: &str,
    stages: &mut Stages,
    options: &RunOptions,
) -> Result<WorkerOutcomes> {
    prepare_shared_stages(trials, stages, options)?;
    let store = Store::new(&options.store);
    store.plan_trials(sweep, planned_keys(trials))?;
    let bundles = sweep_bundles(&options.store.join(WORKERS_FOLDER), sweep);
    let cores = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
    let threads = (cores / options.jobs).max(1);
    tracing::info!(
        "training {} trials, {} at a time, {threads} LibTorch thread(s) each",
        trials.len(),
        options.jobs
    );
    let mut waiting = trials.iter();
    // Each running worker holds a slot, 0..jobs, which picks its GPU.
    let mut running: Vec<(usize, usize, Child)> = Vec::new();
    let mut exits = Vec::new();
    let mut forwarded_interrupt = false;
    loop {
        let interrupted = INTERRUPTED.load(Ordering::SeqCst);
        while running.len() < options.jobs && !interrupted {
            let Some(trial) = waiting.next() else { break };
            let slot = (0..options.jobs)
                .find(|slot| running.iter().all(|(_, taken, _)| taken != slot))
                .expect("fewer workers run than there are slots");
            let device = worker_device(&options.device_label, options.gpus, slot);
            let worker = WorkerTrial {
                file: &plan.source,
                index: trial.index,
                sweep: Some(sweep),
                key: &trial.keys.training,
                threads,
                bundles: &bundles,
            };
            running.push((trial.index, slot, spawn_worker(&worker, &device, options)?));
        }
        if interrupted && !forwarded_interrupt {
            forwarded_interrupt = true;
            for (_, _, child) in &running {
                // SAFETY: kill(2) on a child we started and have not reaped.
                unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGINT) };
            }
        }
        if running.is_empty() {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
        let mut still_running = Vec::with_capacity(running.len());
        for (index, slot, mut child) in running {
            match child.try_wait()? {
                Some(status) => exits.push((index, status)),
                None => still_running.push((index, slot, child)),
            }
        }
        running = still_running;
    }
    let ingested = store.ingest_bundles(&bundles)?;
    // Bad bundles stay in `rejected/` for a look; the rest of the folder is done with.
    if !bundles.join(REJECTED_FOLDER).exists() {
        let _ = std::fs::remove_dir_all(bundles.parent().unwrap_or(&bundles));
    }
    let exits = exits
        .into_iter()
        .map(|(index, status)| {
            let ended = if status.success() {
                None
            } else {
                Some(format!("its worker exited ({status}); see its log above"))
            };
            (index, ended)
        })
        .collect();
    Ok(outcomes(ingested, exits))
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
    stages.forget_in_memory();
    Ok(())
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
fn worker_command(exe: &Path, worker: &WorkerTrial, device: &str, options: &RunOptions) -> Command {
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
    let plan = Plan::new(worker.file, &options.overrides, options.on_cuda(), records)?;
    let Some(trial) = plan.trials.iter().find(|trial| trial.index == worker.index) else {
        bail_input!(
            "`{}` has no trial {} (it has {})",
            worker.file.display(),
            worker.index,
            plan.trials.len()
        );
    };
    if trial.keys.training != worker.key {
        bail_input!(
            "trial {} of `{}` is not the trial that was planned: the file or its data changed since the sweep started",
            worker.index,
            worker.file.display()
        );
    }
    let mut stages = Stages::new(caches, &options.device);
    let start = Start::Fresh {
        sweep: worker.sweep,
    };
    run_trial(trial, start, Stop::default(), &mut stages, options)
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
