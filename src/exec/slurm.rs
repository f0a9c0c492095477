//! `--executor slurm`: the trials as the tasks of one `sbatch --array` job. The stages the
//! trials share are computed here first; each task runs `runner-torch trial` on whatever
//! node Slurm picks and leaves its run as a bundle in the shared folder, which this process
//! takes into the store while it follows the job through `scontrol`. Everything that can
//! be wrong with the request (no `sbatch`, an unknown partition, a shared folder that
//! cannot be written) is found before anything is submitted.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::Ordering;
use std::time::Duration;

use anyhow::{Context, Result};

use super::workers::{WorkerOutcomes, outcomes, planned_keys, prepare_shared_stages};
use super::{INTERRUPTED, RunOptions};
use crate::bail_input;
use crate::plan::{Plan, PlannedTrial};
use crate::spec::ExecutorSpec;
use crate::stages::Stages;
use crate::store::{RunRecord, RunStatus, SLURM_FOLDER, Store, new_run_id, sweep_bundles};

/// How often the job's state is read.
pub(super) const POLL_INTERVAL: Duration = Duration::from_secs(1);

/// Trains `trials` as the tasks of a Slurm array job and returns the finished runs by
/// trial index and why the other trials did not finish.
pub fn run_in_slurm(
    plan: &Plan,
    trials: &[&PlannedTrial],
    sweep: Option<&str>,
    stages: &mut Stages,
    options: &RunOptions,
) -> Result<WorkerOutcomes> {
    let executor = trials[0].pipeline.spec.executor.clone().unwrap_or_default();
    let store = std::path::absolute(&options.store)?;
    let shared = shared_folder(Some(&executor), &store);
    let submission = sweep.map_or_else(|| format!("run-{}", new_run_id()), str::to_string);
    let job = JobFiles::create(&shared, &submission)?;
    let arguments = sbatch_arguments(&executor, trials, &job);
    let checked = job
        .write_script(plan, trials, sweep, &store, &executor, &options.overrides)
        .and_then(|()| check_request(&arguments, &job.script));
    if let Err(error) = checked {
        // Nothing was submitted: leave no folder that looks like a submission.
        let _ = std::fs::remove_dir_all(&job.folder);
        return Err(error);
    }

    prepare_shared_stages(trials, stages, options)?;
    Store::new(&store).plan_trials(&submission, planned_keys(trials))?;
    let job_id = submit(&arguments, &job.script)?;
    tracing::info!(
        "submitted {} trial(s) as Slurm job {job_id}; task logs in {}",
        trials.len(),
        job.logs.display()
    );
    let indices: Vec<usize> = trials.iter().map(|trial| trial.index).collect();
    follow(&job_id, &indices, &job, &Store::new(&store))
}

/// Where Slurm tasks leave their bundles and logs: `[executor] shared_dir`, or `slurm/` in
/// the store.
pub fn shared_folder(executor: Option<&ExecutorSpec>, store: &Path) -> PathBuf {
    executor
        .and_then(|executor| executor.shared_dir.clone())
        .unwrap_or_else(|| store.join(SLURM_FOLDER))
}

/// The files of one submission in the shared folder.
pub(super) struct JobFiles {
    pub folder: PathBuf,
    pub script: PathBuf,
    pub logs: PathBuf,
    pub bundles: PathBuf,
}

impl JobFiles {
    /// Creates the submission's folders and checks they can be written.
    pub fn create(shared: &Path, submission: &str) -> Result<Self> {
        let bundles = sweep_bundles(shared, submission);
        let folder = bundles.parent().unwrap_or(shared).to_path_buf();
        let logs = folder.join("logs");
        let probe = bundles.join(".write-test");
        let writable = std::fs::create_dir_all(&bundles)
            .and_then(|()| std::fs::create_dir_all(&logs))
            .and_then(|()| std::fs::write(&probe, b""));
        if let Err(err) = writable {
            bail_input!(
                "the executor's shared folder `{}` cannot be written ({err}): set `executor.shared_dir` to a folder every node can write",
                shared.display()
            );
        }
        let _ = std::fs::remove_file(&probe);
        Ok(Self {
            script: folder.join("job.sh"),
            folder,
            logs,
            bundles,
        })
    }

    /// The batch script: each task trains the trial whose index is its array index.
    fn write_script(
        &self,
        plan: &Plan,
        trials: &[&PlannedTrial],
        sweep: Option<&str>,
        store: &Path,
        executor: &ExecutorSpec,
        overrides: &[String],
    ) -> Result<()> {
        let exe = std::env::current_exe().context("cannot find the runner-torch executable")?;
        let file = std::path::absolute(&plan.source)?;
        let device = if executor.gpus_per_trial.unwrap_or(0) > 0 {
            "cuda:0"
        } else {
            "cpu"
        };
        let keys: String = trials
            .iter()
            .map(|trial| format!("  {}) key={} ;;\n", trial.index, trial.keys.training))
            .collect();
        let sweep_arg = sweep.map_or_else(String::new, |sweep| format!(" --sweep {sweep}"));
        let set_args: String = overrides
            .iter()
            .map(|value| format!(" --set {}", shell_quote(value)))
            .collect();
        let script = format!(
            "#!/bin/bash\n\
             # Written by `runner run --executor slurm`: task N trains trial N of\n\
             # {file} and leaves its run in {bundles}.\n\
             case \"$SLURM_ARRAY_TASK_ID\" in\n{keys}esac\n\
             exec {exe} --store {store} trial {file_arg} --index \"$SLURM_ARRAY_TASK_ID\"{sweep_arg} \
             --key \"$key\" --threads \"${{SLURM_CPUS_PER_TASK:-1}}\" \
             --device {device} --bundle {bundles_arg}{set_args}\n",
            file = file.display(),
            bundles = self.bundles.display(),
            exe = shell_quote(exe.display()),
            store = shell_quote(store.display()),
            file_arg = shell_quote(file.display()),
            bundles_arg = shell_quote(self.bundles.display()),
        );
        std::fs::write(&self.script, script)
            .with_context(|| format!("cannot write `{}`", self.script.display()))
    }
}

/// `sbatch`'s options for the job, from `[executor]`.
fn sbatch_arguments(
    executor: &ExecutorSpec,
    trials: &[&PlannedTrial],
    job: &JobFiles,
) -> Vec<String> {
    let indices: Vec<String> = trials.iter().map(|trial| trial.index.to_string()).collect();
    let throttle = executor
        .max_concurrent
        .map_or_else(String::new, |n| format!("%{n}"));
    let name = &trials[0].pipeline.spec.pipeline.name;
    let mut arguments = vec![
        format!("--job-name=runner-{name}"),
        format!("--array={}{throttle}", indices.join(",")),
        format!("--output={}", job.logs.join("trial-%a.log").display()),
    ];
    arguments.extend(resource_arguments(executor));
    arguments
}

/// `sbatch`'s options for each task's resources, from `[executor]`.
pub(super) fn resource_arguments(executor: &ExecutorSpec) -> Vec<String> {
    let mut arguments = Vec::new();
    let optional = [
        ("--partition", executor.partition.clone()),
        ("--time", executor.time_limit.clone()),
        (
            "--cpus-per-task",
            executor.cpus_per_trial.map(|n| n.to_string()),
        ),
        (
            "--gres",
            executor.gpus_per_trial.map(|n| format!("gpu:{n}")),
        ),
        ("--mem", executor.memory.clone()),
    ];
    for (option, value) in optional {
        if let Some(value) = value {
            arguments.push(format!("{option}={value}"));
        }
    }
    arguments.extend(executor.sbatch_args.iter().cloned());
    arguments
}

/// Asks Slurm whether it would take the job (`sbatch --test-only`): an unknown partition,
/// a malformed time limit or more resources than any node has are refused here.
pub(super) fn check_request(arguments: &[String], script: &Path) -> Result<()> {
    let output = match Command::new("sbatch")
        .arg("--test-only")
        .args(arguments)
        .arg(script)
        .output()
    {
        Ok(output) => output,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => bail_input!(
            "`--executor slurm` needs Slurm's `sbatch` on the PATH, and it is not there"
        ),
        Err(err) => return Err(err).context("cannot run `sbatch --test-only`"),
    };
    if !output.status.success() {
        bail_input!(
            "Slurm refuses the job (`sbatch --test-only {}`): {}",
            arguments.join(" "),
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    Ok(())
}

pub(super) fn submit(arguments: &[String], script: &Path) -> Result<String> {
    let output = Command::new("sbatch")
        .arg("--parsable")
        .args(arguments)
        .arg(script)
        .output()
        .context("cannot run `sbatch`")?;
    if !output.status.success() {
        anyhow::bail!(
            "sbatch failed: {}",
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    // `--parsable` prints `JOBID` or `JOBID;CLUSTER`.
    let stdout = String::from_utf8_lossy(&output.stdout);
    let id = stdout.trim().split(';').next().unwrap_or_default();
    if id.is_empty() {
        anyhow::bail!("sbatch printed no job id");
    }
    Ok(id.to_string())
}

/// A task's state as `scontrol` reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct TaskState {
    pub state: String,
    pub reason: String,
}

impl TaskState {
    pub fn unknown() -> Self {
        Self {
            state: "UNKNOWN".into(),
            reason: "no longer listed by Slurm".into(),
        }
    }

    pub fn has_ended(&self) -> bool {
        !matches!(
            self.state.as_str(),
            "PENDING"
                | "CONFIGURING"
                | "RUNNING"
                | "COMPLETING"
                | "SUSPENDED"
                | "REQUEUED"
                | "RESIZING"
                | "STAGE_OUT"
        )
    }
}

/// Follows the job until every task has ended, taking bundles in as they appear and
/// logging the counts of pending, running, done and failed trials when they change.
/// Ctrl-C stops following; the job keeps running and `runner sync` takes its results in.
fn follow(
    job_id: &str,
    indices: &[usize],
    job: &JobFiles,
    store: &Store,
) -> Result<WorkerOutcomes> {
    let mut ingested: Vec<RunRecord> = Vec::new();
    let mut states: BTreeMap<usize, TaskState> = BTreeMap::new();
    let mut last_counts = String::new();
    loop {
        ingested.extend(store.ingest_bundles(&job.bundles)?);
        let now = job_states(job_id)?;
        if let Some(now) = &now {
            for &index in indices {
                if let Some(state) = now.of(index) {
                    states.insert(index, state.clone());
                }
            }
        }
        // Once nothing of the job is pending or running (or Slurm has forgotten it), a
        // task it no longer lists has ended too: `scancel` of a pending task drops it.
        if !now.as_ref().is_some_and(JobStates::any_active) {
            for &index in indices {
                let state = states.entry(index).or_insert_with(TaskState::unknown);
                if !state.has_ended() {
                    *state = TaskState::unknown();
                }
            }
        }
        let counts = progress(indices, &states, &ingested);
        if counts != last_counts {
            tracing::info!("Slurm job {job_id}: {counts}");
            last_counts = counts;
        }
        let all_ended = indices
            .iter()
            .all(|index| states.get(index).is_none_or(TaskState::has_ended));
        if all_ended {
            // A task's bundle is renamed into place before the task exits.
            ingested.extend(store.ingest_bundles(&job.bundles)?);
            break;
        }
        if INTERRUPTED.load(Ordering::SeqCst) {
            eprintln!(
                "stopped following Slurm job {job_id}; it keeps running: `runner sync` takes its results in later, `scancel {job_id}` stops it"
            );
            break;
        }
        std::thread::sleep(POLL_INTERVAL);
    }
    add_slurm_reasons(&mut ingested, &states, store)?;
    let ended = task_endings(job_id, indices, &states, job);
    Ok(outcomes(ingested, ended))
}

/// A task Slurm stopped (scancel, time limit, preemption) recorded only that it was
/// interrupted; Slurm knows why.
fn add_slurm_reasons(
    ingested: &mut [RunRecord],
    states: &BTreeMap<usize, TaskState>,
    store: &Store,
) -> Result<()> {
    for run in ingested {
        let Some(state) = run.trial.and_then(|index| states.get(&index)) else {
            continue;
        };
        if run.status == RunStatus::Interrupted && state.has_ended() && state.state != "COMPLETED" {
            run.reason = Some(format!("stopped by Slurm: {}", describe(state)));
            store.put_run(run)?;
        }
    }
    Ok(())
}

/// How each task ended (or that it has not), with where its log is.
fn task_endings(
    job_id: &str,
    indices: &[usize],
    states: &BTreeMap<usize, TaskState>,
    job: &JobFiles,
) -> Vec<(usize, Option<String>)> {
    indices
        .iter()
        .map(|&index| {
            let why = match states.get(&index) {
                Some(state) if state.has_ended() => {
                    format!("Slurm task {job_id}_{index} ended {}", describe(state))
                }
                Some(state) => format!(
                    "still {} as Slurm task {job_id}_{index}; `runner sync` takes its run in once it ends",
                    describe(state)
                ),
                None => format!("Slurm task {job_id}_{index} was not seen"),
            };
            (
                index,
                Some(format!(
                    "{why}; log {}",
                    job.logs.join(format!("trial-{index}.log")).display()
                )),
            )
        })
        .collect()
}

pub(super) fn describe(state: &TaskState) -> String {
    match state.reason.as_str() {
        // A task cancelled while pending keeps the reason it was pending for.
        _ if state.state == "CANCELLED" => state.state.clone(),
        "" | "None" => state.state.clone(),
        reason => format!("{} ({reason})", state.state),
    }
}

/// `2 pending, 1 running, 1 done, 0 failed`.
fn progress(
    indices: &[usize],
    states: &BTreeMap<usize, TaskState>,
    ingested: &[RunRecord],
) -> String {
    let (mut pending, mut running, mut done, mut failed) = (0, 0, 0, 0);
    for index in indices {
        let finished = ingested.iter().any(|run| {
            run.trial == Some(*index)
                && matches!(run.status, RunStatus::Finished | RunStatus::StoppedEarly)
        });
        match states.get(index) {
            _ if finished => done += 1,
            None => pending += 1,
            Some(state) if state.state == "COMPLETED" => done += 1,
            Some(state) if matches!(state.state.as_str(), "PENDING" | "REQUEUED") => pending += 1,
            Some(state) if !state.has_ended() => running += 1,
            Some(_) => failed += 1,
        }
    }
    format!("{pending} pending, {running} running, {done} done, {failed} failed")
}

/// The states `scontrol -o show job` gives: one line per task that has started, and one
/// for the tasks not started yet (`ArrayTaskId=2-3,5%2`; once those are cancelled, Slurm's
/// "no value" 4294967294 stands for them).
#[derive(Debug, Default)]
pub(super) struct JobStates {
    tasks: BTreeMap<usize, TaskState>,
    rest: Option<TaskState>,
}

impl JobStates {
    pub fn of(&self, index: usize) -> Option<&TaskState> {
        self.tasks.get(&index).or(self.rest.as_ref())
    }

    pub fn any_active(&self) -> bool {
        self.tasks
            .values()
            .chain(self.rest.iter())
            .any(|state| !state.has_ended())
    }
}

/// The job's task states; `None` once Slurm no longer knows the job (`MinJobAge`).
pub(super) fn job_states(job_id: &str) -> Result<Option<JobStates>> {
    let output = Command::new("scontrol")
        .args(["-o", "show", "job", job_id])
        .output()
        .context("cannot run `scontrol`")?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        if stderr.contains("Invalid job id") {
            return Ok(None);
        }
        anyhow::bail!("`scontrol show job {job_id}` failed: {}", stderr.trim());
    }
    Ok(Some(parse_job_states(&String::from_utf8_lossy(
        &output.stdout,
    ))))
}

fn parse_job_states(text: &str) -> JobStates {
    /// Slurm's NO_VAL as an array task id.
    const NO_TASK: &str = "4294967294";
    let mut states = JobStates::default();
    for line in text.lines() {
        let fields: BTreeMap<&str, &str> = line
            .split_whitespace()
            .filter_map(|field| field.split_once('='))
            .collect();
        let (Some(&tasks), Some(state)) = (fields.get("ArrayTaskId"), fields.get("JobState"))
        else {
            continue;
        };
        let state = TaskState {
            state: state.to_string(),
            reason: fields.get("Reason").unwrap_or(&"").to_string(),
        };
        if tasks == NO_TASK {
            states.rest = Some(state);
            continue;
        }
        for index in expand_task_ids(tasks) {
            states.tasks.insert(index, state.clone());
        }
    }
    states
}

/// `0-2,5%2` → 0, 1, 2, 5.
fn expand_task_ids(text: &str) -> Vec<usize> {
    let ids = text.split('%').next().unwrap_or_default();
    let mut indices = Vec::new();
    for part in ids.split(',') {
        match part.split_once('-') {
            Some((first, last)) => {
                if let (Ok(first), Ok(last)) = (first.parse::<usize>(), last.parse::<usize>()) {
                    indices.extend(first..=last);
                }
            }
            None => indices.extend(part.parse::<usize>()),
        }
    }
    indices
}

pub(super) fn shell_quote(text: impl std::fmt::Display) -> String {
    format!("'{}'", text.to_string().replace('\'', r"'\''"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn task_ids_expand_ranges_lists_and_throttles() {
        assert_eq!(expand_task_ids("3"), [3]);
        assert_eq!(expand_task_ids("0-2,5%2"), [0, 1, 2, 5]);
    }

    #[test]
    fn scontrol_lines_give_each_task_its_state() {
        let text = "JobId=9 ArrayJobId=9 ArrayTaskId=2-3 JobName=runner-x JobState=PENDING Reason=Resources Dependency=(null)\n\
                    JobId=11 ArrayJobId=9 ArrayTaskId=1 JobState=TIMEOUT Reason=TimeLimit ExitCode=0:15\n\
                    JobId=10 ArrayJobId=9 ArrayTaskId=0 JobState=COMPLETED Reason=None ExitCode=0:0\n";
        let states = parse_job_states(text);
        assert_eq!(states.tasks.len(), 4);
        assert_eq!(states.of(2).unwrap().state, "PENDING");
        assert!(!states.of(3).unwrap().has_ended());
        assert_eq!(describe(states.of(1).unwrap()), "TIMEOUT (TimeLimit)");
        assert_eq!(describe(states.of(0).unwrap()), "COMPLETED");
        assert!(states.of(0).unwrap().has_ended());
        assert!(states.of(4).is_none());
        assert!(states.any_active());
    }

    #[test]
    fn tasks_cancelled_before_starting_share_one_line() {
        let text = "JobId=1 ArrayJobId=1 ArrayTaskId=4294967294 JobState=CANCELLED Reason=JobArrayTaskLimit\n\
                    JobId=2 ArrayJobId=1 ArrayTaskId=0 JobState=COMPLETED Reason=None\n";
        let states = parse_job_states(text);
        assert_eq!(states.of(0).unwrap().state, "COMPLETED");
        assert_eq!(states.of(3).unwrap().state, "CANCELLED");
        assert!(!states.any_active());
    }
}
