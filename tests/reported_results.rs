//! What a run reports is what its model does: `predict` with the run's own files gives the
//! recorded validation metrics image by image (pretrained or random frozen layers, after
//! phases, after a resume), test metrics come from the epoch the record names, and a
//! partial validation (`validation_steps`) sees every class.

mod common;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use common::*;
use serde_json::Value;

fn show(store: &Path, run: &str) -> Value {
    json_output(&runner(store, &["show", run, "--format", "json"]))
}

fn history(shown: &Value, field: &str) -> Vec<f64> {
    shown["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|epoch| epoch[field].as_f64().unwrap())
        .collect()
}

/// The epoch (1-based) whose weights `predict` uses: the best checkpoint's, else the last.
fn checkpoint_epoch(shown: &Value) -> usize {
    shown["best_epoch"]
        .as_u64()
        .map_or_else(|| history(shown, "epoch").len(), |epoch| epoch as usize)
}

/// `runner predict RUN FOLDER --format json`: one object per line.
fn predict(store: &Path, run: &str, folder: &Path, extra: &[&str]) -> Vec<Value> {
    let mut args = vec!["predict", run, folder.to_str().unwrap(), "--format", "json"];
    args.extend(extra);
    let output = succeeded(runner(store, &args));
    stdout(&output)
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect()
}

/// Accuracy and mean cross-entropy of predictions whose true class is their image's
/// folder name.
fn metrics_of(predictions: &[Value], classes: &[&str]) -> (f64, f64) {
    let mut correct = 0;
    let mut loss = 0.0;
    for prediction in predictions {
        let image = PathBuf::from(prediction["image"].as_str().unwrap());
        let truth = image
            .parent()
            .and_then(Path::file_name)
            .unwrap()
            .to_string_lossy()
            .into_owned();
        let label = classes.iter().position(|class| *class == truth).unwrap();
        correct += usize::from(prediction["class"] == truth.as_str());
        loss -= prediction["probabilities"][label].as_f64().unwrap().ln();
    }
    let count = predictions.len() as f64;
    (correct as f64 / count, loss / count)
}

/// Asserts that predicting the validation folder with the run's model gives the
/// validation accuracy and loss it recorded for the epoch of its checkpoint.
fn assert_predict_reproduces_validation(store: &Path, run: &str, validation: &Path) {
    let shown = show(store, run);
    let epoch = checkpoint_epoch(&shown);
    let predictions = predict(store, run, validation, &[]);
    assert_eq!(predictions.len() as u64, shown["validation_images"]);
    let (accuracy, loss) = metrics_of(&predictions, &["blue", "red"]);
    let recorded_accuracy = history(&shown, "val_accuracy")[epoch - 1];
    let recorded_loss = history(&shown, "val_loss")[epoch - 1];
    assert_eq!(accuracy, recorded_accuracy, "epoch {epoch}: {shown}");
    assert!(
        (loss - recorded_loss).abs() < 1e-5,
        "epoch {epoch}: predicted loss {loss}, recorded {recorded_loss}"
    );
}

/// EfficientNet-Lite0 from scratch cut after `block1`, its stem and block0 frozen: layers
/// that keep their random initial values through training.
const RANDOM_FROZEN: &str = r#"arch = "efficientnet_lite0"
weights = "none"
cut = "block1"
freeze = { to = "block0" }"#;

#[test]
fn predict_reproduces_a_run_with_random_frozen_layers() {
    let (dir, file, store) = pipeline_folder(&tiny_pipeline(RANDOM_FROZEN, 3), 8);
    let run = run_ok(&store, &file);
    let shown = show(&store, &run);
    assert!(shown["artifacts"]["frozen"].is_object(), "{shown}");
    assert_predict_reproduces_validation(&store, &run, &dir.path().join("data/validation"));
}

#[test]
fn predict_reproduces_a_pretrained_run_whose_weights_file_is_gone() {
    let dir = tempfile::tempdir().unwrap();
    let weights = dir.path().join("lite0.pth");
    std::fs::copy(
        repo_root().join("weights/efficientnet-lite0-57934424.pth"),
        &weights,
    )
    .unwrap();
    let backbone = RANDOM_FROZEN.replace("weights = \"none\"", "weights = \"lite0.pth\"");
    write_red_blue_dataset(&dir.path().join("data"), 8);
    let file = dir.path().join("p.toml");
    std::fs::write(&file, tiny_pipeline(&backbone, 2)).unwrap();
    let store = dir.path().join("store");
    let run = run_ok(&store, &file);
    // The run's files hold every weight: the weights file may change or go.
    std::fs::remove_file(&weights).unwrap();
    assert_predict_reproduces_validation(&store, &run, &dir.path().join("data/validation"));
}

#[test]
fn predict_reproduces_the_last_phase_of_a_phased_run() {
    let text = tiny_pipeline(RANDOM_FROZEN, 4)
        + r#"
[[phases]]
name = "head"
epochs = 2

[[phases]]
name = "fine-tune"
epochs = 2
freeze = { to = "stem" }

[[callbacks]]
type = "checkpoint"
save = "last"
"#;
    let (dir, file, store) = pipeline_folder(&text, 8);
    let run = run_ok(&store, &file);
    let shown = show(&store, &run);
    // Only the last checkpoint, from the phase that unfroze block0.
    assert!(shown["artifacts"]["best"].is_null(), "{shown}");
    assert_eq!(shown["artifacts"]["last"]["phase"], 1, "{shown}");
    let predictions = predict(&store, &run, &dir.path().join("data/validation"), &[]);
    let (accuracy, loss) = metrics_of(&predictions, &["blue", "red"]);
    assert_eq!(accuracy, *history(&shown, "val_accuracy").last().unwrap());
    let recorded = *history(&shown, "val_loss").last().unwrap();
    assert!((loss - recorded).abs() < 1e-5, "{loss} vs {recorded}");
}

#[test]
fn predict_reproduces_a_resumed_run() {
    let (dir, file, store) = pipeline_folder(&tiny_pipeline(RANDOM_FROZEN, 40), 4);
    let args = ["run", file.to_str().unwrap(), "--quiet"];
    kill_runner_when(&store, &args, || first_run_epochs(&store) >= 3);
    let run = list_runs(&store)[0]["run"].as_str().unwrap().to_string();
    succeeded(runner(&store, &["run", "--resume", &run, "--quiet"]));
    assert_eq!(show(&store, &run)["status"], "finished");
    assert_predict_reproduces_validation(&store, &run, &dir.path().join("data/validation"));
}

#[test]
fn predict_streams_files_folders_and_patterns_in_every_format() {
    let (dir, file, store) = pipeline_folder(&tiny_pipeline(STEM_ONLY_BACKBONE, 1), 8);
    let run = run_ok(&store, &file);
    let validation = dir.path().join("data/validation");
    // Batches of 3 over 8 images: the last batch is partial; flipping changes nothing
    // about which images are predicted.
    let batched = predict(&store, &run, &validation, &["--batch-size", "3"]);
    let whole = predict(&store, &run, &validation, &[]);
    assert_eq!(batched.len(), 8);
    for (a, b) in batched.iter().zip(&whole) {
        assert_eq!(a["image"], b["image"]);
        let (a, b) = (
            a["probability"].as_f64().unwrap(),
            b["probability"].as_f64().unwrap(),
        );
        assert!((a - b).abs() < 1e-6, "{a} vs {b}");
    }
    let flipped = predict(&store, &run, &validation, &["--tta", "flip"]);
    assert_eq!(flipped.len(), 8);

    let pattern = validation.join("red").join("*.png");
    let csv = succeeded(runner(
        &store,
        &[
            "predict",
            &run,
            pattern.to_str().unwrap(),
            "--format",
            "csv",
        ],
    ));
    let mut reader = csv::Reader::from_reader(csv.stdout.as_slice());
    assert_eq!(
        reader.headers().unwrap(),
        vec!["image", "class", "probability", "p_blue", "p_red"]
    );
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    assert_eq!(rows.len(), 4);
    assert!(rows.iter().all(|row| row[0].contains("red")));

    let table = succeeded(runner(
        &store,
        &["predict", &run, validation.to_str().unwrap()],
    ));
    assert_eq!(stdout(&table).lines().count(), 8);
    for line in stdout(&table).lines() {
        assert_eq!(line.split('\t').count(), 3, "{line}");
    }

    let nothing = runner(
        &store,
        &[
            "predict",
            &run,
            dir.path().join("data/none*.png").to_str().unwrap(),
        ],
    );
    assert_contains(&input_error(&nothing), "no file matches");
}

/// A pipeline whose test split is its validation folder: the test metrics of some
/// epoch's weights are that epoch's validation metrics.
fn test_is_validation(extra: &str) -> String {
    tiny_pipeline(RANDOM_FROZEN, 5).replace(
        "validation = \"data/validation\"",
        "validation = \"data/validation\"\ntest = \"data/validation\"",
    ) + extra
}

#[test]
fn test_metrics_come_from_the_last_epoch_without_restore_best() {
    let (_dir, file, store) = pipeline_folder(&test_is_validation(""), 8);
    let run = run_ok(&store, &file);
    let shown = show(&store, &run);
    assert_eq!(shown["test_epoch"], 5, "{shown}");
    let test_loss = shown["test"]["test_loss"].as_f64().unwrap();
    assert_eq!(test_loss, history(&shown, "val_loss")[4], "{shown}");
    assert_eq!(
        shown["test"]["test_accuracy"].as_f64().unwrap(),
        history(&shown, "val_accuracy")[4]
    );
    let text = stdout(&runner(&store, &["show", &run]));
    assert_contains(&text, "(epoch 5's weights)");
}

#[test]
fn test_metrics_come_from_the_restored_epoch_with_restore_best() {
    let callbacks = r#"
[[callbacks]]
type = "early_stopping"
monitor = "val_accuracy"
patience = 5
restore_best = true
"#;
    let (_dir, file, store) = pipeline_folder(&test_is_validation(callbacks), 8);
    let run = run_ok(&store, &file);
    let shown = show(&store, &run);
    // The first epoch with the highest val_accuracy is the one restored.
    let accuracies = history(&shown, "val_accuracy");
    let best = accuracies.iter().copied().fold(f64::MIN, f64::max);
    let restored = accuracies.iter().position(|value| *value == best).unwrap() + 1;
    assert_eq!(shown["test_epoch"], restored, "{shown}");
    assert_eq!(
        shown["test"]["test_loss"].as_f64().unwrap(),
        history(&shown, "val_loss")[restored - 1],
        "{shown}"
    );
}

/// Solid gray images, the same in both classes: any model predicts one class for all.
fn write_indistinguishable_classes(root: &Path, per_class: usize) {
    for class in ["blue", "red"] {
        let dir = root.join(class);
        std::fs::create_dir_all(&dir).unwrap();
        for index in 0..per_class {
            image::RgbImage::from_pixel(32, 32, image::Rgb([128, 128, 128]))
                .save(dir.join(format!("{class}{index}.png")))
                .unwrap();
        }
    }
}

/// Runs a constant classifier validated on half of a class-sorted validation split.
fn constant_classifier_on_half(augment: bool) -> Value {
    let dir = tempfile::tempdir().unwrap();
    write_indistinguishable_classes(&dir.path().join("data/train"), 8);
    write_indistinguishable_classes(&dir.path().join("data/validation"), 16);
    // 32 validation images in batches of 8: two batches are half of them.
    let mut text =
        tiny_pipeline(RANDOM_FROZEN, 4).replace("epochs = 4", "epochs = 4\nvalidation_steps = 2");
    if !augment {
        text = text.replace("[augment]\nhorizontal_flip = true\n", "");
    }
    let file = dir.path().join("p.toml");
    std::fs::write(&file, &text).unwrap();
    let store = dir.path().join("store");
    let run = run_ok(&store, &file);
    let shown = show(&store, &run);
    // Drawn from the seed: the same file gives the same metrics.
    let again = show(&store, &run_ok(&store, &file));
    assert_eq!(history(&shown, "val_loss"), history(&again, "val_loss"));
    assert_eq!(
        history(&shown, "val_accuracy"),
        history(&again, "val_accuracy")
    );
    shown
}

#[test]
fn partial_validation_draws_both_classes_from_cached_features_and_images() {
    for augment in [false, true] {
        let shown = constant_classifier_on_half(augment);
        // Both classes among the 16 evaluated images.
        let confusion = shown["confusion_matrix"].as_array().unwrap();
        for row in confusion {
            let evaluated: u64 = row
                .as_array()
                .unwrap()
                .iter()
                .map(|n| n.as_u64().unwrap())
                .sum();
            assert!(evaluated > 0, "augment {augment}: {shown}");
        }
        // A constant classifier scores its class's share, not 1.0 or 0.0.
        for accuracy in history(&shown, "val_accuracy") {
            assert!(
                (0.2..=0.8).contains(&accuracy),
                "augment {augment}: val_accuracy {accuracy}"
            );
        }
    }
}

#[test]
fn ctrl_c_exits_130_and_the_sweep_counts_the_trial_as_interrupted() {
    let text = tiny_pipeline(STEM_ONLY_BACKBONE, 200) + "\n[sweep]\n\"head.1.rate\" = [0.1, 0.2]\n";
    let (_dir, file, store) = pipeline_folder(&text, 4);
    let child = spawn_runner(
        &store,
        &["run", file.to_str().unwrap(), "--quiet"],
        Stdio::piped,
    );
    let started = Instant::now();
    loop {
        let epochs = store
            .join("db")
            .exists()
            .then(|| list_runs(&store))
            .and_then(|runs| runs.first().and_then(|run| run["epochs"].as_u64()));
        if epochs.unwrap_or(0) >= 2 {
            break;
        }
        assert!(started.elapsed() < Duration::from_mins(2), "no progress");
        std::thread::sleep(Duration::from_millis(20));
    }
    // SAFETY: kill(2) on a child we started and have not reaped.
    unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGINT) };
    let output = child.wait_with_output().unwrap();
    assert_eq!(output.status.code(), Some(130), "{}", stderr(&output));
    assert_contains(
        &stdout(&output),
        "0 trial(s) finished (0 trained before, not again), 1 interrupted, 0 failed",
    );
    let runs = list_runs(&store);
    assert_eq!(runs.len(), 1, "the second trial never started");
    assert_eq!(runs[0]["status"], "interrupted");
}

#[test]
fn three_classes_report_per_class_and_macro_metrics() {
    let dir = tempfile::tempdir().unwrap();
    let classes = [
        ("blue", [40, 60, 200]),
        ("green", [40, 190, 60]),
        ("red", [200, 50, 40]),
    ];
    write_color_classes(&dir.path().join("data/train"), &classes, 6, 32);
    write_color_classes(&dir.path().join("data/validation"), &classes, 4, 32);
    let text = tiny_pipeline(STEM_ONLY_BACKBONE, 3)
        .replace("units = 1\nactivation = \"sigmoid\"", "units = 3\nactivation = \"softmax\"")
        .replace(
            "loss = \"binary_crossentropy\"",
            "loss = \"sparse_categorical_crossentropy\"\nmetrics = [\"accuracy\", \"precision\", \"recall\", \"f1\", \"auc\"]",
        );
    let file = dir.path().join("p.toml");
    std::fs::write(&file, text).unwrap();
    let store = dir.path().join("store");
    let run = run_ok(&store, &file);
    let shown = show(&store, &run);
    let epoch = &shown["history"][shown["best_epoch"].as_u64().unwrap() as usize - 1]["extra"];
    // The best epoch's per-class values follow from the confusion matrix recorded with it.
    let confusion: Vec<Vec<f64>> = shown["confusion_matrix"]
        .as_array()
        .unwrap()
        .iter()
        .map(|row| {
            row.as_array()
                .unwrap()
                .iter()
                .map(|n| n.as_f64().unwrap())
                .collect()
        })
        .collect();
    assert_eq!(confusion.len(), 3, "{shown}");
    let mut precisions = Vec::new();
    for (index, (class, _)) in classes.iter().enumerate() {
        let predicted: f64 = confusion.iter().map(|row| row[index]).sum();
        let actual: f64 = confusion[index].iter().sum();
        let right = confusion[index][index];
        let precision = if predicted == 0.0 {
            0.0
        } else {
            right / predicted
        };
        let recall = right / actual;
        let recorded = epoch[format!("val_precision_{class}")].as_f64().unwrap();
        assert!((recorded - precision).abs() < 1e-12, "{class}: {epoch}");
        let recorded = epoch[format!("val_recall_{class}")].as_f64().unwrap();
        assert!((recorded - recall).abs() < 1e-12, "{class}: {epoch}");
        assert!(epoch[format!("val_f1_{class}")].is_f64(), "{epoch}");
        let auc = epoch[format!("val_auc_{class}")].as_f64().unwrap();
        assert!((0.0..=1.0).contains(&auc), "{epoch}");
        precisions.push(precision);
    }
    let macro_precision = precisions.iter().sum::<f64>() / 3.0;
    assert!((epoch["val_precision"].as_f64().unwrap() - macro_precision).abs() < 1e-12);
    let text = stdout(&runner(&store, &["show", &run]));
    assert_contains(&text, "green: [");
}
