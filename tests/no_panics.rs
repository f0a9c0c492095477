//! Inputs that used to panic (exit code 101) end in a message and exit code 2 (a problem
//! with the input) or are recovered from, through the `runner` binary as a user runs it.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::*;
use runner_core::store::{RunStatus, Store};

/// A folder with a two-class dataset and `p.toml` holding `pipeline`.
fn setup(pipeline: &str) -> (tempfile::TempDir, PathBuf) {
    let (dir, file, _store) = pipeline_folder(pipeline, 4);
    (dir, file)
}

/// The 1-based line of `text` that contains `part`.
fn line_of(text: &str, part: &str) -> usize {
    text.lines().position(|line| line.contains(part)).unwrap() + 1
}

#[test]
fn an_experiment_problem_is_shown_in_the_file_that_declared_it() {
    let base = tiny_pipeline(
        "arch = \"efficientnet_lite0\"\nweights = \"missing.pth\"\ncut = \"stem\"",
        1,
    );
    let (dir, base_file) = setup(&base);
    // Non-ASCII before the problem: carets are counted in characters, in the right text.
    let experiment = "# Étude du « dropout » — taux d'abandon\nbase = \"p.toml\"\n\n[set]\n\"head.2.units\" = 3\n\n[sweep]\n\"head.1.rate\" = [0.1, 0.2]\n";
    let file = dir.path().join("e.toml");
    std::fs::write(&file, experiment).unwrap();
    let output = runner(
        &dir.path().join("store"),
        &["validate", file.to_str().unwrap()],
    );
    let message = input_error(&output);
    // The head no longer fits the loss because of the experiment's `[set]`...
    assert_contains(&message, "has 3 units");
    assert_contains(&message, "e.toml:5:1");
    assert_contains(&message, "5 | \"head.2.units\" = 3");
    // ... and the weights file is missing because of the base pipeline.
    let line = line_of(&base, "missing.pth");
    assert_contains(&message, &format!("{}:{line}:11", base_file.display()));
    assert_contains(&message, &format!("{line} | weights = \"missing.pth\""));
}

#[test]
fn summary_of_a_dense_layer_too_wide_to_count() {
    let text =
        tiny_pipeline(STEM_ONLY_BACKBONE, 1).replace("units = 1", "units = 4611686018427387904");
    let (dir, file) = setup(&text);
    let output = runner(
        &dir.path().join("store"),
        &["summary", file.to_str().unwrap()],
    );
    let message = input_error(&output);
    assert_contains(
        &message,
        "`head.2.units` = 4611686018427387904 is out of range: it must be in [1, 1048576]",
    );
}

#[test]
fn a_random_sweep_over_a_span_wider_than_a_float() {
    let text = tiny_pipeline(STEM_ONLY_BACKBONE, 1)
        + "\n[sweep]\nmethod = \"random\"\ntrials = 2\n\"train.optimizer.lr\" = { uniform = [-1.7e308, 1.7e308] }\n";
    let (dir, file) = setup(&text);
    let output = runner(
        &dir.path().join("store"),
        &["validate", file.to_str().unwrap()],
    );
    let message = input_error(&output);
    assert_contains(&message, "too wide to draw from");
}

/// Runs `runner validate` on `path`, failing if it does not end within 60 s (reading a
/// FIFO waits for a writer forever).
fn validate_within_a_minute(store: &Path, path: &Path) -> Output {
    let mut child = spawn_runner(store, &["validate", path.to_str().unwrap()], Stdio::piped);
    let started = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if started.elapsed() > Duration::from_mins(1) {
            child.kill().unwrap();
            panic!("`runner validate {}` hangs", path.display());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    child.wait_with_output().unwrap()
}

#[test]
fn a_fifo_or_a_folder_given_as_the_pipeline_file() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("p.toml");
    let made = Command::new("mkfifo").arg(&fifo).status().unwrap();
    assert!(made.success());
    let store = dir.path().join("store");
    let message = input_error(&validate_within_a_minute(&store, &fifo));
    assert_contains(
        &message,
        &format!(
            "cannot read pipeline file `{}`: it is a FIFO, not a regular file",
            fifo.display()
        ),
    );
    let message = input_error(&validate_within_a_minute(&store, dir.path()));
    assert_contains(&message, "it is a folder, not a regular file");
}

/// A pipeline whose backbone (its stem) is frozen, so its features are cached.
fn frozen_pipeline() -> String {
    tiny_pipeline(
        "arch = \"efficientnet_lite0\"\nweights = \"none\"\ncut = \"stem\"\nfreeze = \"all\"",
        1,
    )
}

/// Trains `pipeline` for its one epoch; returns the folder, the store and the run id.
fn trained(pipeline: &str) -> (tempfile::TempDir, PathBuf, String) {
    let (dir, file) = setup(pipeline);
    let store = dir.path().join("store");
    let id = run_ok(&store, &file);
    (dir, store, id)
}

/// Trains `pipeline`, replaces every file the run cached under `cache/FOLDER` with a
/// well-formed cache file (`magic`, then `header`, then `payload`) whose header lies about
/// its sizes, trains again with `--retrain` and returns what that printed; it must succeed.
fn retrain_over_damaged_cache(
    pipeline: &str,
    folder: &str,
    magic: &str,
    header: &[u8],
    payload: &[u8],
) -> String {
    let (dir, store, _) = trained(pipeline);
    let cached: Vec<PathBuf> = std::fs::read_dir(store.join("cache").join(folder))
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .collect();
    assert!(!cached.is_empty(), "the run caches its {folder}");
    let mut damaged = format!("{magic}\n").into_bytes();
    damaged.extend((header.len() as u64).to_le_bytes());
    damaged.extend(header);
    damaged.extend(payload);
    for file in &cached {
        std::fs::write(file, &damaged).unwrap();
    }
    let output = runner(
        &store,
        &[
            "run",
            dir.path().join("p.toml").to_str().unwrap(),
            "--retrain",
        ],
    );
    let message = stderr(&output);
    assert!(output.status.success(), "{message}");
    message
}

#[test]
fn a_damaged_features_cache_file_is_computed_again() {
    // A well-formed file whose header claims more elements than a machine can count.
    let header = br#"{"dims":[4611686018427387904,4,4,4],"labels":[0],"skipped":[]}"#;
    let message = retrain_over_damaged_cache(
        &frozen_pipeline(),
        "features",
        "RUNNER-FEATURES-1",
        header,
        &[0u8; 64],
    );
    assert_contains(&message, "ignoring the damaged cache file");
}

#[test]
fn a_decoded_cache_file_whose_sizes_overflow_is_decoded_again() {
    // Nothing frozen: training reads the decoded images. 2^62 x 4 x 3 wraps to 0 in 64
    // bits: an empty payload would pass an unchecked product.
    let header = br#"{"height":4611686018427387904,"width":4,"labels":[0],"skipped":[]}"#;
    let message = retrain_over_damaged_cache(
        &tiny_pipeline(STEM_ONLY_BACKBONE, 1),
        "decoded",
        "RUNNER-DECODED-1",
        header,
        &[],
    );
    assert_contains(&message, "decoded 8 training images");
}

#[test]
fn export_of_a_run_whose_record_names_a_phase_it_does_not_have() {
    let (dir, store_dir, id) = trained(&tiny_pipeline(STEM_ONLY_BACKBONE, 1));
    let store = Store::new(&store_dir);
    let mut record = store.find_run(&id).unwrap();
    for artifact in record.artifacts.values_mut() {
        artifact.phase = artifact.phase.map(|_| 98);
    }
    store.put_run(&record).unwrap();
    let out = dir.path().join("model.safetensors");
    let output = runner(&store_dir, &["export", &id, "--out", out.to_str().unwrap()]);
    let message = input_error(&output);
    assert_contains(
        &message,
        &format!(
            "the store's record of run {id} is damaged: phase 99 does not exist: the pipeline has 1 phase"
        ),
    );
}

/// What `runner run --resume` said of a one-epoch run marked interrupted whose snapshot's
/// `state.json` was edited, with the store it left (in a folder kept while this lives).
struct EditedResume {
    _dir: tempfile::TempDir,
    store: Store,
    id: String,
    state: PathBuf,
    /// The input error's message (asserted to be one).
    message: String,
}

fn resume_with_edited_snapshot(edit: impl FnOnce(&mut serde_json::Value)) -> EditedResume {
    let (dir, store_dir, id) = trained(&tiny_pipeline(STEM_ONLY_BACKBONE, 1));
    let store = Store::new(&store_dir);
    let mut record = store.find_run(&id).unwrap();
    record.status = RunStatus::Interrupted;
    store.put_run(&record).unwrap();
    let state = store
        .checkpoint_dir(&id)
        .unwrap()
        .join("resume-1/state.json");
    let mut snapshot: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&state).unwrap()).unwrap();
    edit(&mut snapshot);
    std::fs::write(&state, serde_json::to_vec(&snapshot).unwrap()).unwrap();
    let output = runner(&store_dir, &["run", "--resume", &id]);
    EditedResume {
        _dir: dir,
        store,
        id,
        state,
        message: input_error(&output),
    }
}

#[test]
fn resuming_from_a_snapshot_that_names_a_phase_the_pipeline_does_not_have() {
    let EditedResume { state, message, .. } = resume_with_edited_snapshot(|snapshot| {
        snapshot["phase"] = 98.into();
    });
    assert_contains(
        &message,
        &format!("its snapshot `{}` names phase 99", state.display()),
    );
}

#[test]
fn resuming_from_a_snapshot_of_an_earlier_format_says_so() {
    // `_dir` is bound: the store's folder must outlive the last look at it.
    let EditedResume {
        _dir,
        store,
        id,
        message,
        ..
    } = resume_with_edited_snapshot(|snapshot| {
        // Callbacks' states were one object before they became a list, one per callback.
        snapshot["callbacks"] = serde_json::json!({ "callbacks": [], "best_checkpoint": null });
    });
    assert_contains(
        &message,
        "a run interrupted under an earlier runner version cannot be resumed",
    );
    assert!(store.find_run(&id).is_ok(), "the run stays recorded");
}
