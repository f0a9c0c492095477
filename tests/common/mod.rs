//! Helpers shared by the integration tests: tiny synthetic image folders, pipeline files
//! and a way to run the `runner` binary against a private store.

#![allow(dead_code)] // each test binary uses a different subset

pub mod browser;
pub mod dashboard;
pub mod torch_save;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// The repository root, where `weights/` and `tests/fixtures/` are.
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Writes `count` PNG images per class, each a solid color with per-pixel noise, so a
/// model can learn the classes from color alone.
pub fn write_color_classes(root: &Path, classes: &[(&str, [u8; 3])], count: usize, size: u32) {
    // Noise seeded by the split's folder name, so no image is in two splits.
    let split = root.file_name().map_or(0, |name| name.len() as u32);
    let mut state = 12345u32.wrapping_add(split.wrapping_mul(7919));
    let mut noise = move || {
        state = state.wrapping_mul(1_103_515_245).wrapping_add(12345);
        ((state >> 16) % 41) as i32 - 20
    };
    for (name, color) in classes {
        let dir = root.join(name);
        std::fs::create_dir_all(&dir).unwrap();
        for index in 0..count {
            let image = image::RgbImage::from_fn(size, size, |_, _| {
                image::Rgb(color.map(|c| (i32::from(c) + noise()).clamp(0, 255) as u8))
            });
            image.save(dir.join(format!("{name}{index}.png"))).unwrap();
        }
    }
}

/// A two-class dataset (`red`, `blue`) with `train/` and `validation/` under `root`.
pub fn write_red_blue_dataset(root: &Path, per_class: usize) {
    let classes = [("blue", [40, 60, 200]), ("red", [200, 50, 40])];
    write_color_classes(&root.join("train"), &classes, per_class, 32);
    write_color_classes(&root.join("validation"), &classes, per_class / 2, 32);
}

/// A small pipeline over `data` (relative to the file) training a from-scratch
/// A temporary folder with a red/blue dataset (`per_class` images of each class in each
/// split) and the pipeline `text` in `p.toml`: the folder, the file, and where its store
/// goes (not created).
pub fn pipeline_folder(text: &str, per_class: usize) -> (tempfile::TempDir, PathBuf, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    write_red_blue_dataset(&dir.path().join("data"), per_class);
    let file = dir.path().join("p.toml");
    std::fs::write(&file, text).unwrap();
    let store = dir.path().join("store");
    (dir, file, store)
}

/// EfficientNet-Lite0 cut after its stem; `extra` replaces nothing, it is appended.
pub fn tiny_pipeline(backbone: &str, epochs: usize) -> String {
    format!(
        r#"
[pipeline]
name = "tiny"
seed = 7

[data]
train = "data/train"
validation = "data/validation"
image_size = [32, 32]
batch_size = 8

[backbone]
{backbone}

[[head]]
type = "global_avg_pool"
[[head]]
type = "dropout"
rate = 0.2
[[head]]
type = "dense"
units = 1
activation = "sigmoid"

[augment]
horizontal_flip = true

[train]
optimizer = {{ type = "adam", lr = 0.01 }}
loss = "binary_crossentropy"
epochs = {epochs}
"#
    )
}

pub const STEM_ONLY_BACKBONE: &str = r#"arch = "efficientnet_lite0"
weights = "none"
cut = "stem"
freeze = "none""#;

/// Runs the `runner` binary with its store in `store`.
pub fn runner(store: &Path, args: &[&str]) -> Output {
    runner_command(store, args)
        .output()
        .expect("the runner binary starts")
}

fn runner_command(store: &Path, args: &[&str]) -> Command {
    let mut command = runner_process(store, args);
    command.env("RUST_LOG", "runner=info");
    command
}

/// `runner ARGS` with its store in `store`, and nothing else set: the log filter and the
/// streams are the caller's.
pub fn runner_process(store: &Path, args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_runner"));
    command.args(args).env("RUNNER_STORE", store);
    command
}

/// `runner` with LibTorch on one thread (`OMP_NUM_THREADS=1`, which `--jobs` workers then
/// share out as one thread each, and a Slurm task's default of one CPU). A trainable
/// backbone's gradients are summed per thread, as PyTorch sums them, so runs compared to the
/// last digit across executors must train on the same number of threads.
pub fn runner_on_one_thread(store: &Path, args: &[&str]) -> Output {
    runner_command(store, args)
        .env("OMP_NUM_THREADS", "1")
        .output()
        .expect("the runner binary starts")
}

/// Runs `runner run FILE --retrain` (a new run even when the store has the result),
/// asserts it succeeded, and returns the new run's id (the second word of its last line:
/// `run ID finished, ...`).
pub fn run_ok(store: &Path, pipeline: &Path) -> String {
    let output = runner(store, &["run", pipeline.to_str().unwrap(), "--retrain"]);
    assert!(output.status.success(), "{}", stderr(&output));
    run_id_of(&output)
}

pub fn run_id_of(output: &Output) -> String {
    stdout(output)
        .split_whitespace()
        .nth(1)
        .expect("runner run prints the run id")
        .to_string()
}

pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Starts `runner ARGS` on `store` in the background, its standard output and error each
/// going to `streams()` (`Stdio::null` or `Stdio::piped`).
pub fn spawn_runner(store: &Path, args: &[&str], streams: fn() -> Stdio) -> Child {
    runner_process(store, args)
        .stdout(streams())
        .stderr(streams())
        .spawn()
        .expect("the runner binary starts")
}

/// Starts `runner ARGS` on `store` and kills it (SIGKILL: no chance to record anything
/// more) as soon as `ready()` holds, which must happen within two minutes.
pub fn kill_runner_when(store: &Path, args: &[&str], ready: impl Fn() -> bool) {
    let mut child = spawn_runner(store, args, Stdio::null);
    let started = Instant::now();
    while !ready() {
        assert!(
            started.elapsed() < Duration::from_mins(2),
            "runner {args:?} made no progress"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().unwrap();
    child.wait().unwrap();
}

/// The epochs the store's first run has recorded so far (0 before there is a store).
pub fn first_run_epochs(store: &Path) -> u64 {
    if !store.join("db").exists() {
        return 0;
    }
    serde_json::from_str::<Vec<serde_json::Value>>(&stdout(&runner(
        store,
        &["list", "--format", "json"],
    )))
    .ok()
    .and_then(|runs| runs.first().and_then(|run| run["epochs"].as_u64()))
    .unwrap_or(0)
}

/// `output`, once asserted that its command succeeded (its standard error printed if not).
#[track_caller]
pub fn succeeded(output: Output) -> Output {
    assert!(output.status.success(), "{}", stderr(&output));
    output
}

/// Asserts that `output` is an input error (exit code 2, no panic) and returns its stderr.
#[track_caller]
pub fn input_error(output: &Output) -> String {
    let message = stderr(output);
    assert_eq!(output.status.code(), Some(2), "{message}");
    assert!(!message.contains("panicked"), "{message}");
    message
}

/// Asserts that `text` contains `part`, printing `text` when it does not.
#[track_caller]
pub fn assert_contains(text: &str, part: &str) {
    assert!(text.contains(part), "expected `{part}` in:\n{text}");
}

pub fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// A successful command's standard output, parsed as JSON.
pub fn json_output(output: &Output) -> serde_json::Value {
    assert!(output.status.success(), "{}", stderr(output));
    serde_json::from_str(&stdout(output)).unwrap()
}

/// `runner list --format json`: every run in the store, oldest first.
pub fn list_runs(store: &Path) -> Vec<serde_json::Value> {
    json_output(&runner(store, &["list", "--format", "json"]))
        .as_array()
        .unwrap()
        .clone()
}

/// `runner show RUN --format json` of a run in `store`, and its validation loss at each
/// recorded epoch.
pub fn shown_with_val_losses(store: &Path, run: &str) -> (serde_json::Value, Vec<f64>) {
    let shown = json_output(&runner(store, &["show", run, "--format", "json"]));
    let losses = shown["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|epoch| epoch["val_loss"].as_f64().unwrap())
        .collect();
    (shown, losses)
}

/// The Python of one of `scripts/setup.sh`'s virtualenvs (`$RUNNER_HOME/VENV`), or `None`:
/// the test then says it is skipped, unless the environment variable `required` is set (as
/// `.ci/run` sets it), when a missing virtualenv fails the test.
pub fn venv_python(venv: &str, required: &str) -> Option<PathBuf> {
    let home = std::env::var_os("RUNNER_HOME").map_or_else(
        || PathBuf::from(std::env::var_os("HOME").unwrap_or_default()).join(".cache/runner"),
        PathBuf::from,
    );
    let python = home.join(venv).join("bin/python");
    if python.is_file() {
        return Some(python);
    }
    assert!(
        std::env::var_os(required).is_none(),
        "{required} is set but {} is missing (scripts/setup.sh installs it)",
        python.display()
    );
    eprintln!(
        "skipped: no virtualenv at {} (scripts/setup.sh makes it)",
        python.display()
    );
    None
}
