//! `--executor slurm` against a real single-node Slurm cluster started from Debian's
//! packages by tests/slurm/cluster.sh: a 4-trial sweep gives what a local run gives, a
//! cancelled sweep is finished by re-running the same command, and bad requests are
//! refused before anything is submitted.
//!
//! Without Slurm installed these tests say so and pass, unless RUNNER_REQUIRE_SLURM is set
//! (`.ci/run` installs the packages and sets it).

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::*;
use serde_json::Value;

/// A running test cluster, stopped when dropped.
struct Cluster {
    dir: tempfile::TempDir,
}

impl Cluster {
    fn start() -> Option<Self> {
        let installed = Command::new("sh")
            .args(["-c", "command -v slurmctld && command -v munged"])
            .output()
            .is_ok_and(|output| output.status.success());
        if !installed {
            assert!(
                std::env::var_os("RUNNER_REQUIRE_SLURM").is_none(),
                "RUNNER_REQUIRE_SLURM is set but Slurm is not installed \
                 (apt-get install slurmctld slurmd slurm-client munge)"
            );
            eprintln!(
                "Slurm is not installed: skipping (apt-get install slurmctld slurmd slurm-client munge)"
            );
            return None;
        }
        let dir = tempfile::tempdir().unwrap();
        let output = Command::new(repo_root().join("tests/slurm/cluster.sh"))
            .arg("start")
            .arg(dir.path())
            .output()
            .unwrap();
        assert!(output.status.success(), "{}", stderr(&output));
        Some(Self { dir })
    }

    fn conf(&self) -> PathBuf {
        self.dir.path().join("slurm.conf")
    }

    fn command(&self, program: &str) -> Command {
        let mut command = Command::new(program);
        command.env("SLURM_CONF", self.conf());
        command
    }

    /// `runner ARGS` as a user of this cluster runs it.
    fn runner(&self, store: &Path) -> Command {
        let mut command = self.command(env!("CARGO_BIN_EXE_runner"));
        command
            .env("RUNNER_STORE", store)
            .env("RUST_LOG", "runner=info");
        command
    }

    fn run(&self, store: &Path, args: &[&str]) -> Output {
        self.runner(store).args(args).output().unwrap()
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let _ = Command::new(repo_root().join("tests/slurm/cluster.sh"))
            .arg("stop")
            .arg(self.dir.path())
            .status();
    }
}

const RATES: &str = "0.01, 0.02, 0.005, 0.001";

/// The tiny pipeline and a sweep over four learning rates in `dir`; returns the
/// experiment file.
fn write_sweep(dir: &Path, epochs: usize, rates: &str, executor: &str) -> String {
    write_red_blue_dataset(&dir.join("data"), 4);
    std::fs::write(
        dir.join("tiny.toml"),
        tiny_pipeline(STEM_ONLY_BACKBONE, epochs),
    )
    .unwrap();
    let experiment = dir.join("study.toml");
    std::fs::write(
        &experiment,
        format!(
            "base = \"tiny.toml\"\n\n[executor]\n{executor}\n\n[sweep]\n\"train.optimizer.lr\" = [{rates}]\n"
        ),
    )
    .unwrap();
    experiment.to_str().unwrap().to_string()
}

fn finished(store: &Path) -> Vec<Value> {
    list_runs(store)
        .into_iter()
        .filter(|run| run["status"] == "finished")
        .collect()
}

/// Each finished trial's validation losses, by trial index.
fn histories(store: &Path) -> Vec<(u64, Vec<f64>)> {
    let mut histories: Vec<(u64, Vec<f64>)> = finished(store)
        .iter()
        .map(|run| {
            let (shown, losses) = shown_with_val_losses(store, run["run"].as_str().unwrap());
            (shown["trial"].as_u64().unwrap(), losses)
        })
        .collect();
    histories.sort_by_key(|(trial, _)| *trial);
    histories
}

#[test]
fn a_sweep_runs_as_an_array_job_and_a_cancelled_one_finishes_on_a_rerun() {
    let Some(cluster) = Cluster::start() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let experiment = write_sweep(dir.path(), 2, RATES, "");

    // Four trials through Slurm: all in the store, with the histories a local run gives.
    let on_slurm = dir.path().join("store-slurm");
    let output = cluster.run(&on_slurm, &["run", &experiment, "--executor", "slurm"]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert_contains(
        &stdout(&output),
        "4 trial(s) finished (0 trained before, not again), 0 interrupted, 0 failed",
    );
    assert_contains(&stderr(&output), "4 done");
    let local = dir.path().join("store-local");
    succeeded(runner_on_one_thread(&local, &["run", &experiment]));
    let slurm_histories = histories(&on_slurm);
    assert_eq!(slurm_histories.len(), 4);
    assert_eq!(slurm_histories, histories(&local));

    // A longer sweep, one task at a time, cancelled once its first trial is in.
    let mut slow = SlowSweep::start(&cluster);
    let store = slow.store.clone();
    // The trials finished so far compare while the job runs.
    let first = finished(&store)[0]["run"].as_str().unwrap().to_string();
    let shown = json_output(&runner(&store, &["show", &first, "--format", "json"]));
    let sweep = shown["sweep"].as_str().unwrap().to_string();
    succeeded(runner(
        &store,
        &["compare", "--sweep", &sweep, "--format", "json"],
    ));
    let cancel = cluster
        .command("scancel")
        .args(["--name", "runner-tiny"])
        .status()
        .unwrap();
    assert!(cancel.success());
    let (status, printed) = slow.wait(Duration::from_mins(2));
    assert_eq!(status.code(), Some(1), "{printed}");
    assert_contains(&printed, "CANCELLED");
    let done_before = finished(&store).len();
    assert!(
        (1..4).contains(&done_before),
        "{done_before} trials finished before the cancel"
    );
    for run in list_runs(&store)
        .iter()
        .filter(|run| run["status"] != "finished")
    {
        let shown = json_output(&runner(
            &store,
            &["show", run["run"].as_str().unwrap(), "--format", "json"],
        ));
        assert!(
            shown["reason"]
                .as_str()
                .unwrap()
                .contains("stopped by Slurm: CANCELLED"),
            "{shown}"
        );
    }

    // The same command again trains only the trials that did not finish.
    let output = cluster.run(&store, &["run", &slow.experiment, "--executor", "slurm"]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert_contains(
        &stdout(&output),
        &format!(
            "4 trial(s) finished ({done_before} trained before, not again), 0 interrupted, 0 failed"
        ),
    );
    assert_eq!(finished(&store).len(), 4);
}

#[test]
fn a_coordinator_stopped_with_ctrl_c_leaves_the_job_running_for_runner_sync() {
    let Some(cluster) = Cluster::start() else {
        return;
    };
    let mut slow = SlowSweep::start(&cluster);
    let store = slow.store.clone();
    // SAFETY: kill(2) on a child we started and have not reaped.
    unsafe { libc::kill(slow.coordinator.id() as libc::pid_t, libc::SIGINT) };
    let (_, printed) = slow.wait(Duration::from_mins(1));
    assert_contains(&printed, "keeps running");

    let started = Instant::now();
    loop {
        let queue = cluster.command("squeue").arg("-h").output().unwrap();
        if stdout(&queue).trim().is_empty() {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_mins(3),
            "the job did not end"
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    let synced = succeeded(runner(&store, &["sync"]));
    assert_contains(&stderr(&synced), "run(s) from");
    assert_eq!(finished(&store).len(), 4);
}

/// A sweep of longer trials, one task at a time, followed by `runner run --executor slurm`
/// in the background; started, it has its first trial in the store.
struct SlowSweep {
    _dir: tempfile::TempDir,
    experiment: String,
    store: PathBuf,
    log: PathBuf,
    coordinator: std::process::Child,
}

impl SlowSweep {
    fn start(cluster: &Cluster) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let experiment = write_sweep(dir.path(), 12, RATES, "max_concurrent = 1");
        let store = dir.path().join("store");
        let log = dir.path().join("coordinator.log");
        let coordinator = cluster
            .runner(&store)
            .args(["run", &experiment, "--executor", "slurm"])
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        let started = Instant::now();
        while finished(&store).is_empty() {
            assert!(
                started.elapsed() < Duration::from_mins(3),
                "no trial finished: {}",
                std::fs::read_to_string(&log).unwrap()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
        Self {
            _dir: dir,
            experiment,
            store,
            log,
            coordinator,
        }
    }

    /// Waits for the coordinator to exit; its status and what it logged.
    fn wait(&mut self, limit: Duration) -> (std::process::ExitStatus, String) {
        let started = Instant::now();
        loop {
            if let Some(status) = self.coordinator.try_wait().unwrap() {
                return (status, std::fs::read_to_string(&self.log).unwrap());
            }
            if started.elapsed() > limit {
                let _ = self.coordinator.kill();
                panic!("the coordinator did not stop within {limit:?}");
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

#[test]
fn bad_requests_are_refused_before_anything_is_submitted() {
    let Some(cluster) = Cluster::start() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store");
    let submitted = || {
        let output = cluster
            .command("squeue")
            .args(["-h", "-t", "all", "-o", "%i"])
            .output()
            .unwrap();
        stdout(&output).trim().to_string()
    };

    let experiment = write_sweep(dir.path(), 1, "0.01, 0.02", "partition = \"nope\"");
    let output = cluster.run(&store, &["run", &experiment, "--executor", "slurm"]);
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("Slurm refuses the job")
            && stderr(&output).contains("invalid partition"),
        "{}",
        stderr(&output)
    );

    let experiment = write_sweep(dir.path(), 1, "0.01, 0.02", "shared_dir = \"/proc/runner\"");
    let output = cluster.run(&store, &["run", &experiment, "--executor", "slurm"]);
    assert_contains(
        &input_error(&output),
        "shared folder `/proc/runner` cannot be written",
    );

    let experiment = write_sweep(dir.path(), 1, "0.01, 0.02", "");
    let empty = tempfile::tempdir().unwrap();
    let output = cluster
        .runner(&store)
        .args(["run", &experiment, "--executor", "slurm"])
        .env("PATH", empty.path())
        .output()
        .unwrap();
    assert_contains(&input_error(&output), "needs Slurm's `sbatch` on the PATH");

    assert_eq!(submitted(), "", "a job was submitted");
    assert!(list_runs(&store).is_empty());
}

#[test]
fn successive_halving_submits_each_trial_and_promotion_as_a_task() {
    let Some(cluster) = Cluster::start() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let experiment = write_sweep(dir.path(), 4, RATES, "max_concurrent = 2");
    // Every trial trained straight through here, the reference for each epoch.
    let local = dir.path().join("store-local");
    succeeded(runner_on_one_thread(&local, &["run", &experiment]));
    let straight = histories(&local);
    assert_eq!(straight.len(), 4);

    let mut text = std::fs::read_to_string(&experiment).unwrap();
    text.push_str(
        "scheduler = { type = \"asha\", min_epochs = 1, reduction_factor = 2, monitor = \"val_loss\" }\n",
    );
    std::fs::write(&experiment, text).unwrap();
    let on_slurm = dir.path().join("store-slurm");
    let output = cluster.run(&on_slurm, &["run", &experiment, "--executor", "slurm"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let log = stderr(&output);
    assert_contains(&log, "up to 2 at a time");
    assert_contains(&log, "promoted to rung");
    // A promotion is a task of its own, paused at its rung.
    assert_contains(&log, ", to epoch 2");

    let runs = list_runs(&on_slurm);
    assert_eq!(runs.len(), 4, "one run per trial: {runs:?}");
    assert!(runs.iter().any(|run| run["status"] == "pruned"), "{runs:?}");
    assert!(
        runs.iter().any(|run| run["status"] == "finished"),
        "{runs:?}"
    );
    // Each run, paused or promoted through several tasks, has the first epochs of the
    // straight run of its trial, to the last digit.
    for run in &runs {
        let (shown, losses) = shown_with_val_losses(&on_slurm, run["run"].as_str().unwrap());
        let trial = shown["trial"].as_u64().unwrap();
        let (_, full) = straight.iter().find(|(t, _)| *t == trial).unwrap();
        assert!(
            !losses.is_empty() && full.starts_with(&losses),
            "trial {trial}: {losses:?} vs {full:?}"
        );
    }
}
