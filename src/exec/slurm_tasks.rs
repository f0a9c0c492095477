//! `--executor slurm` for a sweep that decides as its trials end (tpe, successive halving,
//! a budget): each job the scheduler chooses (a new trial, or a paused run trained on to
//! its next rung) is submitted then as a Slurm task of its own (`sbatch --array=INDEX`),
//! at most `executor.max_concurrent` at once. A task leaves its run in a bundle in the
//! shared folder as every task does; this process takes it in when Slurm says the task
//! has ended.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::atomic::Ordering;

use anyhow::{Context, Result};

use super::pool::{Ended, Job, Pool};
use super::slurm::{
    JobFiles, POLL_INTERVAL, TaskState, check_request, describe, job_states, resource_arguments,
    shared_folder, shell_quote, submit,
};
use super::workers::{
    Handover, WorkerTrial, job_outcome, prepare_shared_stages, take_run_of, worker_command,
};
use super::{INTERRUPTED, RunOptions};
use crate::plan::Plan;
use crate::spec::ExecutorSpec;
use crate::stages::Stages;
use crate::store::{RunRecord, Store};

/// Tasks running at once when `[executor] max_concurrent` does not say: a sweep that
/// learns from finished trials learns nothing from trials all started together.
const DEFAULT_TASKS_AT_ONCE: usize = 4;

pub struct SlurmTasks<'a> {
    /// The run's options with the store as an absolute path, as tasks on other nodes
    /// need it.
    options: RunOptions,
    executor: ExecutorSpec,
    /// The pipeline's name, which names the tasks (`runner-NAME`).
    name: String,
    store: Store,
    shared: PathBuf,
    sweep: &'a str,
    /// The submission folders: the sweep's, and that of each earlier sweep whose paused
    /// run a task trains on (a bundle belongs to its run's sweep).
    submissions: BTreeMap<String, JobFiles>,
    /// Trials whose stages have been computed here, by position.
    prepared: BTreeSet<usize>,
    running: Vec<Task>,
    taken_in: Vec<RunRecord>,
    submitted: usize,
}

/// A submitted task and the job it trains.
struct Task {
    job_id: String,
    position: usize,
    index: usize,
    epochs_before: usize,
    log: PathBuf,
}

impl<'a> SlurmTasks<'a> {
    /// Checks that Slurm takes such tasks (`sbatch --test-only`), then computes the stages
    /// of `planned` (positions in `plan`) here, so the tasks find them cached.
    pub fn new(
        plan: &Plan,
        planned: &[usize],
        sweep: &'a str,
        stages: &mut Stages,
        options: &RunOptions,
    ) -> Result<Self> {
        let spec = &plan.trials[0].pipeline.spec;
        let executor = spec.executor.clone().unwrap_or_default();
        let name = spec.pipeline.name.clone();
        let store_path = std::path::absolute(&options.store)?;
        let shared = shared_folder(Some(&executor), &store_path);
        let job = JobFiles::create(&shared, sweep)?;
        let probe = job.folder.join("check.sh");
        let checked = std::fs::write(&probe, "#!/bin/bash\ntrue\n")
            .with_context(|| format!("cannot write `{}`", probe.display()))
            .and_then(|()| check_request(&task_arguments(&name, &executor, 0, &job, 0), &probe));
        let _ = std::fs::remove_file(&probe);
        if let Err(error) = checked {
            // Nothing was submitted: leave no folder that looks like a submission.
            let _ = std::fs::remove_dir_all(&job.folder);
            return Err(error);
        }
        let trials: Vec<_> = planned.iter().map(|p| &plan.trials[*p]).collect();
        prepare_shared_stages(&trials, stages, options)?;
        let tasks_at_once = executor
            .max_concurrent
            .map_or(DEFAULT_TASKS_AT_ONCE, |n| n as usize);
        tracing::info!(
            "submitting each trial and promotion as a Slurm task, up to {tasks_at_once} at a time; logs in {}",
            job.logs.display()
        );
        Ok(Self {
            options: RunOptions {
                store: store_path.clone(),
                ..options.clone()
            },
            executor,
            name,
            store: Store::new(&store_path),
            shared,
            sweep,
            submissions: BTreeMap::from([(sweep.to_string(), job)]),
            prepared: planned.iter().copied().collect(),
            running: Vec::new(),
            taken_in: Vec::new(),
            submitted: 0,
        })
    }

    fn take_in(&mut self) -> Result<()> {
        for job in self.submissions.values() {
            self.taken_in
                .extend(self.store.ingest_bundles(&job.bundles)?);
        }
        Ok(())
    }
}

/// `sbatch`'s options for the `n`th task, which trains trial `index`.
fn task_arguments(
    name: &str,
    executor: &ExecutorSpec,
    index: usize,
    job: &JobFiles,
    n: usize,
) -> Vec<String> {
    let mut arguments = vec![
        format!("--job-name=runner-{name}"),
        format!("--array={index}"),
        format!(
            "--output={}",
            job.logs.join(format!("trial-%a-{n}.log")).display()
        ),
    ];
    arguments.extend(resource_arguments(executor));
    arguments
}

impl Pool for SlurmTasks<'_> {
    fn slots(&self) -> usize {
        self.executor
            .max_concurrent
            .map_or(DEFAULT_TASKS_AT_ONCE, |n| n as usize)
    }

    fn busy(&self) -> usize {
        self.running.len()
    }

    fn start(&mut self, plan: &Plan, job: Job, stages: &mut Stages) -> Result<()> {
        let trial = &plan.trials[job.position];
        let Handover { submission, values } = Handover::prepare(
            plan,
            &job,
            self.sweep,
            &mut self.prepared,
            stages,
            &self.options,
        )?;
        if !self.submissions.contains_key(&submission) {
            let files = JobFiles::create(&self.shared, &submission)?;
            self.submissions.insert(submission.clone(), files);
        }
        let files = &self.submissions[&submission];
        self.submitted += 1;
        let n = self.submitted;
        let threads = self.executor.cpus_per_trial.unwrap_or(1) as usize;
        let device = if self.executor.gpus_per_trial.unwrap_or(0) > 0 {
            "cuda:0"
        } else {
            "cpu"
        };
        let file = std::path::absolute(&plan.source)?;
        let worker = WorkerTrial {
            file: &file,
            index: trial.index,
            sweep: Some(&submission),
            key: &trial.keys.training,
            threads,
            bundles: &files.bundles,
            values: values.as_deref(),
            resume: job.resume.as_ref().map(|run| run.id.as_str()),
            pause_after: job.stop.pause_after,
        };
        let exe = std::env::current_exe().context("cannot find the runner-torch executable")?;
        let command = worker_command(&exe, &worker, device, &self.options);
        let line: Vec<String> = std::iter::once(command.get_program())
            .chain(command.get_args())
            .map(|arg| shell_quote(arg.to_string_lossy()))
            .collect();
        let script = files.folder.join(format!("task-{n}.sh"));
        std::fs::write(
            &script,
            format!(
                "#!/bin/bash\n# Written by `runner run --executor slurm`: trial {} of {}.\nexec {}\n",
                trial.index,
                file.display(),
                line.join(" ")
            ),
        )
        .with_context(|| format!("cannot write `{}`", script.display()))?;
        let job_id = submit(
            &task_arguments(&self.name, &self.executor, trial.index, files, n),
            &script,
        )?;
        tracing::info!(
            "trial {}: Slurm job {job_id}{}",
            trial.index,
            job.stop
                .pause_after
                .map_or_else(String::new, |epoch| format!(", to epoch {epoch}"))
        );
        self.running.push(Task {
            job_id,
            position: job.position,
            index: trial.index,
            epochs_before: job.epochs_before(),
            log: files.logs.join(format!("trial-{}-{n}.log", trial.index)),
        });
        Ok(())
    }

    fn wait(&mut self) -> Result<Vec<Ended>> {
        while !self.running.is_empty() {
            let mut ended: Vec<(Task, TaskState)> = Vec::new();
            let mut still_running = Vec::with_capacity(self.running.len());
            for task in std::mem::take(&mut self.running) {
                let state = match job_states(&task.job_id)? {
                    Some(states) => match states.of(task.index) {
                        Some(state) => state.clone(),
                        // Not listed while nothing of the job is active: it is gone.
                        None if !states.any_active() => TaskState::unknown(),
                        None => {
                            still_running.push(task);
                            continue;
                        }
                    },
                    None => TaskState::unknown(),
                };
                if state.has_ended() {
                    ended.push((task, state));
                } else {
                    still_running.push(task);
                }
            }
            self.running = still_running;
            if INTERRUPTED.load(Ordering::SeqCst) {
                eprintln!(
                    "stopped following the sweep's Slurm tasks; they keep running: `runner sync` takes their results in later"
                );
                ended.extend(self.running.drain(..).map(|task| {
                    let state = TaskState {
                        state: "RUNNING".into(),
                        reason: "not followed any more".into(),
                    };
                    (task, state)
                }));
            }
            if ended.is_empty() {
                std::thread::sleep(POLL_INTERVAL);
                continue;
            }
            // A task renames its bundle into place before it exits.
            self.take_in()?;
            return Ok(ended
                .into_iter()
                .map(|(task, state)| {
                    let taken = take_run_of(&mut self.taken_in, task.index);
                    let how = format!(
                        "Slurm task {}_{} ended {}; log {}",
                        task.job_id,
                        task.index,
                        describe(&state),
                        task.log.display()
                    );
                    Ended {
                        position: task.position,
                        epochs_before: task.epochs_before,
                        run: job_outcome(taken, &how),
                    }
                })
                .collect());
        }
        Ok(Vec::new())
    }
}
