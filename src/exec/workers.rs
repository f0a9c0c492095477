//! `--jobs N`: trials trained in worker processes (`runner-torch trial ...`), N at a time,
//! with LibTorch's threads divided among them so the machine is not oversubscribed. The
//! stages the trials need are computed first, here, so each worker finds them cached.

use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command};
use std::sync::atomic::Ordering;
use std::time::Duration;

use anyhow::{Context, Result};

use super::inputs::trial_inputs;
use super::{INTERRUPTED, RunOptions, Start, run_trial};
use crate::bail_input;
use crate::model::build_classifier;
use crate::plan::{Plan, PlannedTrial};
use crate::progress::Activity;
use crate::stages::Stages;
use crate::store::{RunRecord, RunStatus, Store};

/// The runs the workers trained, by trial index, and why the other trials failed.
pub type WorkerOutcomes = (Vec<(usize, RunRecord)>, Vec<String>);

/// How a worker learns which trial to train.
pub struct WorkerTrial<'a> {
    pub file: &'a Path,
    pub index: usize,
    pub sweep: &'a str,
    /// The training stage key the coordinator planned; the worker refuses to train a
    /// trial whose key differs (the file changed since the sweep started).
    pub key: &'a str,
    /// LibTorch intra-op threads.
    pub threads: usize,
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
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let threads = (cores / options.jobs).max(1);
    tracing::info!(
        "training {} trials, {} at a time, {threads} LibTorch thread(s) each",
        trials.len(),
        options.jobs
    );
    let mut waiting = trials.iter();
    let mut running: Vec<(usize, Child)> = Vec::new();
    let mut exits = Vec::new();
    let mut forwarded_interrupt = false;
    loop {
        let interrupted = INTERRUPTED.load(Ordering::SeqCst);
        while running.len() < options.jobs && !interrupted {
            let Some(trial) = waiting.next() else { break };
            let worker = WorkerTrial {
                file: &plan.source,
                index: trial.index,
                sweep,
                key: &trial.keys.training,
                threads,
            };
            running.push((trial.index, spawn_worker(&worker, options)?));
        }
        if interrupted && !forwarded_interrupt {
            forwarded_interrupt = true;
            for (_, child) in &running {
                // SAFETY: kill(2) on a child we started and have not reaped.
                unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGINT) };
            }
        }
        if running.is_empty() {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
        let mut still_running = Vec::with_capacity(running.len());
        for (index, mut child) in running {
            match child.try_wait()? {
                Some(status) => exits.push((index, status)),
                None => still_running.push((index, child)),
            }
        }
        running = still_running;
    }
    collect_outcomes(&Store::new(&options.store), sweep, exits)
}

/// The trained runs of the workers that exited, and why the others failed.
fn collect_outcomes(
    store: &Store,
    sweep: &str,
    exits: Vec<(usize, std::process::ExitStatus)>,
) -> Result<WorkerOutcomes> {
    let runs = store.runs()?;
    let mut finished = Vec::new();
    let mut failures = Vec::new();
    for (index, status) in exits {
        let record = runs
            .iter()
            .rfind(|run| run.sweep.as_deref() == Some(sweep) && run.trial == Some(index));
        match record {
            Some(run) if status.success() && run.status != RunStatus::Failed => {
                finished.push((index, run.clone()));
            }
            Some(run) => failures.push(format!(
                "trial {index}: {}",
                run.reason.as_deref().unwrap_or(run.status.as_str())
            )),
            None => failures.push(format!(
                "trial {index}: its worker exited ({status}) before recording a run; see its log above"
            )),
        }
    }
    Ok((finished, failures))
}

/// Computes the decoded images and features the trials need, so that the workers load
/// them instead of each computing them again.
fn prepare_shared_stages(
    trials: &[&PlannedTrial],
    stages: &mut Stages,
    options: &RunOptions,
) -> Result<()> {
    let no_heartbeat = || {};
    let activity = Activity {
        show_progress: options.show_progress,
        interrupted: &INTERRUPTED,
        heartbeat: &no_heartbeat,
    };
    for trial in trials {
        let spec = &trial.pipeline.spec;
        options.device.seed(spec.pipeline.seed);
        let classifier = build_classifier(
            &trial.phases[0].spec,
            &trial.files[0].classes,
            &options.device,
        )?;
        trial_inputs(trial, 0, &classifier, stages, options, &activity)?;
    }
    stages.forget_in_memory();
    Ok(())
}

fn spawn_worker(worker: &WorkerTrial, options: &RunOptions) -> Result<Child> {
    let exe = std::env::current_exe().context("cannot find the runner-torch executable")?;
    let mut command = Command::new(&exe);
    command
        .arg("--store")
        .arg(&options.store)
        .arg("trial")
        .arg(worker.file)
        .args(["--index", &worker.index.to_string()])
        .args(["--sweep", worker.sweep])
        .args(["--key", worker.key])
        .args(["--threads", &worker.threads.to_string()])
        .args(["--device", &options.device_label])
        // The coordinator prints the sweep's outcome; workers only log, on stderr.
        .stdout(std::process::Stdio::null());
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

/// The body of `runner-torch trial`: re-plans the file, checks the trial is the one the
/// coordinator planned, and trains it with the stages the coordinator cached.
pub fn run_worker(worker: &WorkerTrial, options: &RunOptions) -> Result<RunRecord> {
    tch::set_num_threads(i32::try_from(worker.threads).unwrap_or(1));
    let store = Store::new(&options.store);
    let plan = Plan::new(worker.file, &store)?;
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
    let mut stages = Stages::new(&store, &options.device);
    let start = Start::Fresh {
        sweep: Some(worker.sweep),
    };
    run_trial(trial, start, &mut stages, options)
}
