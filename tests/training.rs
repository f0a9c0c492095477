//! Training as users of Keras expect it: phases, callbacks, the CSV history, and resuming
//! a killed run to the same history as an uninterrupted one.

mod common;

use std::path::Path;

use common::*;
use serde_json::Value;

/// EfficientNet-Lite0 from scratch, cut after `block1`, frozen (so phases can unfreeze).
const TWO_BLOCKS: &str = r#"arch = "efficientnet_lite0"
weights = "none"
cut = "block1"
freeze = "all""#;

fn show(store: &Path, run: &str) -> Value {
    let output = succeeded(runner(store, &["show", run, "--format", "json"]));
    serde_json::from_str(&stdout(&output)).unwrap()
}

fn history(shown: &Value, field: &str) -> Vec<f64> {
    shown["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|epoch| epoch[field].as_f64().unwrap())
        .collect()
}

#[test]
fn phases_train_in_turn_with_their_own_optimizer_and_the_csv_logger_writes_them() {
    let text = tiny_pipeline(TWO_BLOCKS, 4)
        + r#"
[[phases]]
name = "head"
epochs = 2

[[phases]]
name = "fine-tune"
epochs = 2
freeze = { to = "stem" }
optimizer = { type = "sgd", lr = 0.001, momentum = 0.9 }

[[callbacks]]
type = "csv_logger"
"#;
    let (_dir, file, store) = pipeline_folder(&text, 4);
    let plan = runner(
        &store,
        &["plan", file.to_str().unwrap(), "--format", "json"],
    );
    let plan: Value = serde_json::from_str(&stdout(&plan)).unwrap();
    let params = &plan["trials"][0]["trainable_params"];
    assert!(params[1].as_u64() > params[0].as_u64(), "{params}");

    let run = run_ok(&store, &file);
    let shown = show(&store, &run);
    assert_eq!(history(&shown, "epoch"), [1.0, 2.0, 3.0, 4.0]);
    assert_eq!(history(&shown, "phase"), [1.0, 1.0, 2.0, 2.0]);
    let lr = history(&shown, "lr");
    assert_eq!(lr[..2], [0.01, 0.01]);
    assert_eq!(lr[2..], [0.001, 0.001]);
    assert_eq!(shown["status"], "finished");

    let csv =
        std::fs::read_to_string(store.join("checkpoints").join(&run).join("history.csv")).unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(
        lines[0],
        "epoch,phase,loss,accuracy,val_loss,val_accuracy,lr,seconds"
    );
    assert_eq!(lines.len(), 5);
    assert!(lines[4].starts_with("4,2,"), "{csv}");
    // The best checkpoint loads into the model of the phase that wrote it.
    succeeded(runner(
        &store,
        &[
            "predict",
            &run,
            store
                .parent()
                .unwrap()
                .join("data/validation/red/red0.png")
                .to_str()
                .unwrap(),
        ],
    ));
}

#[test]
fn stop_at_on_a_training_metric_stops_and_says_what_it_watched() {
    let text = tiny_pipeline(STEM_ONLY_BACKBONE, 5)
        + "\n[[callbacks]]\ntype = \"stop_at\"\nmonitor = \"accuracy\"\nthreshold = -1.0\n";
    let (_dir, file, store) = pipeline_folder(&text, 4);
    let output = succeeded(runner(&store, &["run", file.to_str().unwrap()]));
    assert_contains(&stderr(&output), "says nothing about new images");
    let shown = show(&store, &run_id_of(&output));
    assert_eq!(shown["status"], "stopped_early");
    assert_eq!(shown["epochs"], 1);
    assert!(
        shown["reason"].as_str().unwrap().contains("`accuracy`"),
        "{shown}"
    );
}

#[test]
fn early_stopping_restores_the_best_weights_and_plateau_lowers_the_rate() {
    // min_delta 10: no epoch after the first counts as an improvement.
    let text = tiny_pipeline(STEM_ONLY_BACKBONE, 6)
        + r#"
[[callbacks]]
type = "early_stopping"
patience = 3
min_delta = 10.0
restore_best = true

[[callbacks]]
type = "reduce_lr_on_plateau"
patience = 1
min_delta = 10.0
factor = 0.5
"#;
    let (_dir, file, store) = pipeline_folder(&text, 4);
    let output = succeeded(runner(&store, &["run", file.to_str().unwrap()]));
    assert_contains(
        &stderr(&output),
        "restoring the weights of epoch 1, the best",
    );
    let shown = show(&store, &run_id_of(&output));
    assert_eq!(shown["status"], "stopped_early");
    assert_eq!(history(&shown, "epoch"), [1.0, 2.0, 3.0, 4.0]);
    // Epoch 2 does not improve (patience 1): the rate halves for epoch 3, and again for 4.
    assert_eq!(history(&shown, "lr"), [0.01, 0.01, 0.005, 0.0025]);
}

#[test]
fn a_run_killed_mid_training_resumes_to_the_history_of_an_uninterrupted_run() {
    let text = tiny_pipeline(STEM_ONLY_BACKBONE, 60).replace(
        "optimizer = { type = \"adam\", lr = 0.01 }",
        "optimizer = { type = \"adam\", lr = 0.01 }\nlr_schedule = { type = \"cosine\", alpha = 0.1 }",
    ) + "\n[[callbacks]]\ntype = \"reduce_lr_on_plateau\"\npatience = 2\n";
    let (_dir, file, store) = pipeline_folder(&text, 4);

    // Killed mid-epoch or between epochs.
    let args = ["run", file.to_str().unwrap(), "--quiet"];
    kill_runner_when(&store, &args, || first_run_epochs(&store) >= 5);
    let listed: Vec<Value> =
        serde_json::from_str(&stdout(&runner(&store, &["list", "--format", "json"]))).unwrap();
    let run = listed[0]["run"].as_str().unwrap().to_string();
    assert_eq!(listed[0]["status"], "interrupted", "{listed:?}");
    assert!(
        listed[0]["epochs"].as_u64().unwrap() < 60,
        "killed before the end"
    );

    let output = succeeded(runner(&store, &["run", "--resume", &run, "--quiet"]));
    assert_contains(&stderr(&output), &format!("resuming run {run}"));
    let resumed = show(&store, &run);
    assert_eq!(resumed["status"], "finished");

    let uninterrupted_store = store.with_file_name("uninterrupted");
    let other = run_ok(&uninterrupted_store, &file);
    let uninterrupted = show(&uninterrupted_store, &other);
    for field in ["epoch", "loss", "val_loss", "accuracy", "lr"] {
        assert_eq!(
            history(&resumed, field),
            history(&uninterrupted, field),
            "{field} differs after resuming"
        );
    }

    // A finished run has nothing to resume.
    let again = runner(&store, &["run", "--resume", &run]);
    assert_contains(&input_error(&again), "nothing to resume");
}

#[test]
fn the_course_pipeline_runs_as_written_at_a_tiny_scale() {
    // pipelines/cats_dogs_inception.toml with random weights, tiny images and few steps:
    // everything else (rescale, the course's augmentation, flatten + dense 1024, RMSprop,
    // steps_per_epoch, validation_steps, stop_at) as shipped.
    let shipped =
        std::fs::read_to_string(repo_root().join("pipelines/cats_dogs_inception.toml")).unwrap();
    let text = shipped
        .replace(
            "weights = \"../weights/inception_v3_weights_tf_dim_ordering_tf_kernels_notop.h5\"",
            "weights = \"none\"",
        )
        .replace("../data/cats_and_dogs/", "data/")
        .replace("image_size = [150, 150]", "image_size = [75, 75]")
        .replace("batch_size = 20", "batch_size = 4")
        .replace("epochs = 100", "epochs = 2")
        .replace("steps_per_epoch = 100", "steps_per_epoch = 3")
        .replace("validation_steps = 50", "validation_steps = 1");
    assert_ne!(text, shipped);
    let (_dir, file, store) = pipeline_folder(&text, 4);
    let run = run_ok(&store, &file);
    let shown = show(&store, &run);
    assert_eq!(history(&shown, "epoch"), [1.0, 2.0]);
    assert_eq!(shown["params"]["backbone.cut"], "mixed7");
    let summary = runner(&store, &["summary", file.to_str().unwrap()]);
    let summary = stdout(&summary);
    assert_contains(&summary, "mixed7");
    assert_contains(&summary, "head.1 (Dense)");
}
