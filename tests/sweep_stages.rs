//! Sweeps as a DAG of stages: trials share the frozen features, finished trials are found
//! again by their training key, a killed sweep resumes, `--jobs` trains in workers.

mod common;

use std::path::Path;

use common::*;
use serde_json::Value;

/// The tiny pipeline with its stem frozen and no augmentation: its features can be cached.
fn frozen_pipeline(epochs: usize) -> String {
    tiny_pipeline(
        "arch = \"efficientnet_lite0\"\nweights = \"none\"\ncut = \"stem\"\nfreeze = \"all\"",
        epochs,
    )
    .replace("horizontal_flip = true", "horizontal_flip = false")
}

fn write_experiment(dir: &Path, rates: &str) -> String {
    let experiment = dir.join("study.toml");
    std::fs::write(
        &experiment,
        format!("base = \"tiny.toml\"\n\n[sweep]\n\"head.1.rate\" = [{rates}]\n"),
    )
    .unwrap();
    experiment.to_str().unwrap().to_string()
}

#[test]
fn trials_share_features_and_finished_trials_are_not_trained_again() {
    let dir = tempfile::tempdir().unwrap();
    write_red_blue_dataset(&dir.path().join("data"), 4);
    std::fs::write(dir.path().join("tiny.toml"), frozen_pipeline(2)).unwrap();
    let experiment = write_experiment(dir.path(), "0.0, 0.3, 0.5");
    let store = dir.path().join("store");

    let plan = json_output(&runner(&store, &["plan", &experiment, "--format", "json"]));
    let stage = |plan: &Value, name: &str| -> Value {
        plan["stages"]
            .as_array()
            .unwrap()
            .iter()
            .find(|row| row["stage"] == name)
            .cloned()
            .unwrap_or_else(|| panic!("no stage {name} in {plan}"))
    };
    let features = stage(&plan, "features.training");
    assert_eq!(features["status"], "to compute");
    assert_eq!(features["trials"], serde_json::json!([0, 1, 2]));
    // 8 training and 4 validation images, each through the backbone once for all trials,
    // instead of 3 trials x 2 epochs x 12.
    assert_eq!(plan["backbone_passes"], 12);
    assert_eq!(plan["backbone_passes_without_cache"], 72);
    assert!(plan["trials"][0]["trainable_params"][0].as_u64().unwrap() > 0);

    let output = succeeded(runner(&store, &["run", &experiment]));
    let log = stderr(&output);
    assert_eq!(
        log.matches("computed training features").count(),
        1,
        "{log}"
    );
    assert_eq!(
        log.matches("computed validation features").count(),
        1,
        "{log}"
    );
    assert_eq!(list_runs(&store).len(), 3);

    // The same sweep again: nothing trains, and the new sweep lists all three trials.
    let plan = json_output(&runner(&store, &["plan", &experiment, "--format", "json"]));
    assert_eq!(plan["backbone_passes"], 0);
    assert!(plan["trials"].as_array().unwrap().iter().all(|trial| {
        trial["training"]
            .as_str()
            .unwrap()
            .starts_with("trained before")
    }));
    let output = succeeded(runner(&store, &["run", &experiment]));
    assert_contains(
        &stdout(&output),
        "3 trial(s) finished (3 trained before, not again)",
    );
    assert!(!stderr(&output).contains("computed training features"));
    assert_eq!(list_runs(&store).len(), 3);
    let sweep = stdout(&output)
        .split_whitespace()
        .find(|word| word.starts_with("sweep-"))
        .unwrap()
        .trim_end_matches(':')
        .to_string();
    let compared = json_output(&runner(
        &store,
        &["compare", "--sweep", &sweep, "--format", "json"],
    ));
    assert_eq!(compared.as_array().unwrap().len(), 3);

    // One more value: only the new trial trains, on the cached features.
    let experiment = write_experiment(dir.path(), "0.0, 0.3, 0.5, 0.7");
    let output = succeeded(runner(&store, &["run", &experiment]));
    assert_contains(
        &stdout(&output),
        "4 trial(s) finished (3 trained before, not again)",
    );
    assert_contains(&stderr(&output), "computed before");
    assert_eq!(list_runs(&store).len(), 4);

    // A changed training image changes its split's stages and every training key.
    let image = dir.path().join("data/train/red/red0.png");
    image::RgbImage::from_pixel(32, 32, image::Rgb([90, 200, 10]))
        .save(&image)
        .unwrap();
    let plan = json_output(&runner(&store, &["plan", &experiment, "--format", "json"]));
    assert_eq!(stage(&plan, "decoded.training")["status"], "to compute");
    assert_eq!(stage(&plan, "decoded.validation")["status"], "cached");
    assert!(
        plan["trials"]
            .as_array()
            .unwrap()
            .iter()
            .all(|trial| trial["training"].as_str().unwrap().starts_with("to train"))
    );
}

#[test]
fn a_killed_sweep_resumes_without_training_finished_trials_again() {
    let dir = tempfile::tempdir().unwrap();
    write_red_blue_dataset(&dir.path().join("data"), 4);
    std::fs::write(dir.path().join("tiny.toml"), frozen_pipeline(400)).unwrap();
    let experiment = write_experiment(dir.path(), "0.0, 0.3, 0.5");
    let store = dir.path().join("store");

    let finished = |store: &Path| {
        if !store.join("db").exists() {
            return 0;
        }
        list_runs(store)
            .iter()
            .filter(|run| run["status"] == "finished")
            .count()
    };
    kill_runner_when(&store, &["run", &experiment, "--quiet"], || {
        finished(&store) > 0
    });
    let done_before = finished(&store);
    assert!(
        done_before < 3,
        "the sweep finished before it could be killed"
    );

    let output = succeeded(runner(&store, &["run", &experiment, "--quiet"]));
    assert_contains(
        &stdout(&output),
        &format!("3 trial(s) finished ({done_before} trained before, not again)"),
    );
    let runs = list_runs(&store);
    let finished_runs = runs
        .iter()
        .filter(|run| run["status"] == "finished")
        .count();
    assert_eq!(
        finished_runs, 3,
        "each trial trained to the end exactly once"
    );
    // Killed between trials, no run was left behind; killed in one, it shows as interrupted.
    assert!(runs.len() <= 4, "{runs:?}");
}

#[test]
fn jobs_train_trials_in_workers_with_the_same_results_and_survive_a_failure() {
    let dir = tempfile::tempdir().unwrap();
    write_red_blue_dataset(&dir.path().join("data"), 4);
    // Augmentation on: no training-feature cache, the backbone runs in every worker.
    std::fs::write(
        dir.path().join("tiny.toml"),
        tiny_pipeline(STEM_ONLY_BACKBONE, 2),
    )
    .unwrap();
    let experiment = dir.path().join("study.toml");
    std::fs::write(
        &experiment,
        "base = \"tiny.toml\"\n\n[sweep]\n\"train.optimizer.lr\" = [0.01, 1e38, 0.001]\n",
    )
    .unwrap();
    let experiment = experiment.to_str().unwrap();

    let histories = |store: &Path, jobs: &str| {
        // Workers plan the file again: they must get the command line's overrides too.
        let output = runner_on_one_thread(
            store,
            &["run", experiment, "--jobs", jobs, "-s", "train.epochs=3"],
        );
        assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
        assert_contains(
            &stdout(&output),
            "2 trial(s) finished (0 trained before, not again), 0 interrupted, 1 failed",
        );
        let mut histories = Vec::new();
        for run in list_runs(store) {
            let (shown, losses) = shown_with_val_losses(store, run["run"].as_str().unwrap());
            assert_eq!(shown["params"]["train.epochs"], 3);
            if run["status"] == "finished" {
                assert_eq!(losses.len(), 3, "the override's epochs");
            }
            histories.push((
                shown["trial"].as_u64().unwrap(),
                run["status"].clone(),
                losses,
            ));
        }
        histories.sort_by_key(|(trial, _, _)| *trial);
        histories
    };
    let in_workers = histories(&dir.path().join("store-jobs-2"), "2");
    let in_process = histories(&dir.path().join("store-jobs-1"), "1");
    assert_eq!(in_workers, in_process);
    assert_eq!(in_workers[1].1, "failed");
}
