//! An experiment file with a sweep: every trial recorded under one sweep id, a failing
//! trial recorded as failed while the others go on.

mod common;

use common::*;
use serde_json::Value;

/// A folder with the red/blue images, `tiny.toml` (the stem-only pipeline, `epochs`
/// epochs) and `experiment.toml`: `base = "tiny.toml"`, then `rest`.
struct SweepFolder {
    dir: tempfile::TempDir,
    experiment: std::path::PathBuf,
    store: std::path::PathBuf,
}

fn sweep_folder(epochs: usize, rest: &str) -> SweepFolder {
    let dir = tempfile::tempdir().unwrap();
    write_red_blue_dataset(&dir.path().join("data"), 4);
    std::fs::write(
        dir.path().join("tiny.toml"),
        tiny_pipeline(STEM_ONLY_BACKBONE, epochs),
    )
    .unwrap();
    let experiment = dir.path().join("experiment.toml");
    std::fs::write(&experiment, format!("base = \"tiny.toml\"\n\n{rest}")).unwrap();
    let store = dir.path().join("store");
    SweepFolder {
        dir,
        experiment,
        store,
    }
}

/// `runner show RUN --format json`.
fn show(store: &std::path::Path, run: &str) -> Value {
    json_output(&runner(store, &["show", run, "--format", "json"]))
}

/// The run of `run`'s learning rate trained straight through, without a sweep, in a store
/// of its own, on one LibTorch thread (so `run` must have trained on one too).
fn trained_straight(folder: &SweepFolder, run: &Value) -> Value {
    let lr = run["params"]["train.optimizer.lr"].as_f64().unwrap();
    let store = folder.dir.path().join(format!("straight-{lr}"));
    let pipeline = folder.dir.path().join("tiny.toml");
    succeeded(runner_on_one_thread(
        &store,
        &[
            "run",
            pipeline.to_str().unwrap(),
            "-s",
            &format!("train.optimizer.lr={lr}"),
        ],
    ));
    show(&store, "last")
}

/// Each epoch's training and validation loss and accuracy, as recorded.
fn history(run: &Value) -> Vec<Vec<Value>> {
    run["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|epoch| {
            ["loss", "accuracy", "val_loss", "val_accuracy"]
                .iter()
                .map(|name| epoch[*name].clone())
                .collect()
        })
        .collect()
}

#[test]
fn an_experiment_sweep_runs_every_trial_and_survives_a_failing_one() {
    // lr 1e38 sends the loss to infinity: that trial fails, the others run.
    let folder = sweep_folder(
        5,
        "[set]\n\"train.epochs\" = 3\n\n[sweep]\n\"train.optimizer.lr\" = [0.01, 1e38, 0.001]\n",
    );
    let (experiment, store) = (&folder.experiment, &folder.store);
    // --dry-run checks and plans the three trials and trains none.
    let planned = succeeded(runner(
        store,
        &["run", experiment.to_str().unwrap(), "--dry-run"],
    ));
    assert_contains(&stdout(&planned), "stage");
    let listed = stdout(&runner(store, &["list", "--format", "json"]));
    assert!(
        serde_json::from_str::<Vec<Value>>(&listed)
            .unwrap()
            .is_empty()
    );

    let output = runner(store, &["run", experiment.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    assert_contains(&stderr(&output), "1 trial(s) failed");
    assert_contains(
        &stdout(&output),
        "2 trial(s) finished (0 trained before, not again), 0 interrupted, 1 failed",
    );

    let runs: Vec<Value> =
        serde_json::from_str(&stdout(&runner(store, &["list", "--format", "json"]))).unwrap();
    assert_eq!(runs.len(), 3);
    let statuses: Vec<&str> = runs
        .iter()
        .map(|run| run["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses, ["finished", "failed", "finished"]);
    assert!(
        runs[1]["reason"].as_str().unwrap().contains("loss became"),
        "{}",
        runs[1]
    );

    let shown: Value = serde_json::from_str(&stdout(&runner(
        store,
        &["show", runs[2]["run"].as_str().unwrap(), "--format", "json"],
    )))
    .unwrap();
    let sweep = shown["sweep"].as_str().unwrap().to_string();
    assert_eq!(shown["trial"], 2);
    assert_eq!(shown["params"]["train.optimizer.lr"], 0.001);
    assert_eq!(shown["params"]["train.epochs"], 3);
    assert_eq!(shown["history"].as_array().unwrap().len(), 3);

    let compared: Vec<Value> = serde_json::from_str(&stdout(&runner(
        store,
        &["compare", "--sweep", &sweep, "--format", "json"],
    )))
    .unwrap();
    assert_eq!(compared.len(), 3);
    assert!(compared.iter().all(|row| {
        row["params"]
            .as_object()
            .unwrap()
            .keys()
            .collect::<Vec<_>>()
            == ["train.optimizer.lr"]
    }));
}

#[test]
fn a_tpe_sweep_draws_its_start_then_chooses_from_finished_trials() {
    let folder = sweep_folder(
        2,
        r#"[sweep]
method = "tpe"
trials = 5
startup_trials = 2
monitor = "val_accuracy"
"train.optimizer.lr" = { loguniform = [1e-4, 1e-1] }
"head.1.rate" = [0.0, 0.2, 0.5]
"#,
    );
    let (experiment, store) = (&folder.experiment, &folder.store);
    let file = experiment.to_str().unwrap();

    // Planning lists the random start and says the rest is chosen later.
    let planned = succeeded(runner(store, &["plan", file]));
    assert_contains(
        &stdout(&planned),
        "then 3 trials chosen by TPE as trials finish, from each one's best val_accuracy (max)",
    );
    // Two workers: each TPE trial is chosen here from the trials finished so far and
    // trained in a worker, which plans it from its values.
    let output = succeeded(runner(store, &["run", file, "--jobs", "2"]));
    assert_contains(&stderr(&output), "training up to 2 trials at a time");
    assert_contains(&stderr(&output), "trial 3/5 (tpe, monitoring val_accuracy)");
    let runs = list_runs(store);
    assert_eq!(runs.len(), 5);
    let mut configurations = Vec::new();
    // Workers record their trials in the order they finish.
    let mut trials = Vec::new();
    for summary in &runs {
        let shown = show(store, summary["run"].as_str().unwrap());
        trials.push(shown["trial"].as_u64().unwrap());
        assert_eq!(shown["status"], "finished");
        // The trial's choice is recorded with it.
        let lr = shown["params"]["train.optimizer.lr"].as_f64().unwrap();
        let rate = shown["params"]["head.1.rate"].as_f64().unwrap();
        assert!((1e-4..=1e-1).contains(&lr), "{lr}");
        assert!([0.0, 0.2, 0.5].contains(&rate), "{rate}");
        configurations.push(format!("{lr} {rate}"));
    }
    configurations.sort();
    configurations.dedup();
    assert_eq!(configurations.len(), 5, "no configuration twice");
    trials.sort_unstable();
    assert_eq!(trials, [0, 1, 2, 3, 4]);
}

#[test]
fn a_sweep_stops_starting_trials_when_its_budget_is_spent_and_continues_when_run_again() {
    let folder = sweep_folder(
        2,
        "[sweep]\nbudget_epochs = 4\n\"train.optimizer.lr\" = [0.01, 0.003, 0.001, 0.0003]\n",
    );
    let (experiment, store) = (&folder.experiment, &folder.store);
    let file = experiment.to_str().unwrap();

    // Two trials of two epochs spend the budget; the other two wait.
    let first = succeeded(runner(store, &["run", file]));
    assert!(
        stdout(&first).contains(
            "budget spent (4 of 4 epochs trained): 2 trial(s) not started; `runner run` the file again to continue with them"
        ),
        "{}",
        stdout(&first)
    );
    assert_eq!(list_runs(store).len(), 2);

    // Again: the two trained trials are reused, the other two train.
    let second = succeeded(runner(store, &["run", file]));
    assert_contains(
        &stdout(&second),
        "4 trial(s) finished (2 trained before, not again)",
    );
    assert!(
        !stdout(&second).contains("budget spent"),
        "{}",
        stdout(&second)
    );
    let runs = list_runs(store);
    assert_eq!(runs.len(), 4);
    assert!(runs.iter().all(|run| run["status"] == "finished"));

    // A budget that is not a duration is refused before anything runs.
    std::fs::write(
        experiment,
        "base = \"tiny.toml\"\n\n[sweep]\nbudget = \"soon\"\n\"train.optimizer.lr\" = [0.01]\n",
    )
    .unwrap();
    let bad = runner(store, &["run", file]);
    assert_contains(&input_error(&bad), "`soon` is not a duration");
}

#[test]
fn successive_halving_pauses_the_worst_and_promoted_trials_train_on_exactly() {
    let folder = sweep_folder(
        4,
        r#"[sweep]
scheduler = { type = "asha", min_epochs = 1, reduction_factor = 2, monitor = "val_loss" }
"train.optimizer.lr" = [0.03, 0.01, 0.003, 0.001, 0.0003, 0.0001]
"#,
    );
    let (experiment, store) = (&folder.experiment, &folder.store);
    let file = experiment.to_str().unwrap();

    let planned = succeeded(runner(store, &["plan", file]));
    assert!(
        stdout(&planned).contains("successive halving: rungs at 1, 2, 4 epochs; the best 1/2 of each rung by val_loss (min) go on"),
        "{}",
        stdout(&planned)
    );
    // On one thread, as `trained_straight` compares it with.
    let output = succeeded(runner_on_one_thread(store, &["run", file]));
    assert_contains(&stdout(&output), "successive halving paused");

    let runs = list_runs(store);
    assert_eq!(runs.len(), 6, "every trial started once");
    let epochs = |run: &Value| run["epochs"].as_u64().unwrap();
    let pruned: Vec<&Value> = runs
        .iter()
        .filter(|run| run["status"] == "pruned")
        .collect();
    let finished: Vec<&Value> = runs
        .iter()
        .filter(|run| run["status"] == "finished")
        .collect();
    assert!(!pruned.is_empty() && !finished.is_empty(), "{runs:?}");
    assert_eq!(pruned.len() + finished.len(), 6, "{runs:?}");
    // Paused at a rung, with what they trained kept; the promoted ones trained all 4.
    for run in &pruned {
        assert!([1, 2].contains(&epochs(run)), "{run}");
        let shown = json_output(&runner(
            store,
            &["show", run["run"].as_str().unwrap(), "--format", "json"],
        ));
        assert!(shown["artifacts"]["last"].is_object(), "{shown}");
        assert_eq!(
            shown["history"].as_array().unwrap().len() as u64,
            epochs(run)
        );
    }
    assert!(finished.iter().all(|run| epochs(run) == 4), "{finished:?}");
    let listed = json_output(&runner(
        store,
        &["list", "--status", "pruned", "--format", "json"],
    ));
    assert_eq!(listed.as_array().unwrap().len(), pruned.len());

    // A promoted trial's history is the uninterrupted run's: train its configuration
    // straight through in another store and compare every epoch.
    let promoted = show(store, finished[0]["run"].as_str().unwrap());
    assert_eq!(
        history(&promoted),
        history(&trained_straight(&folder, &promoted))
    );
}

#[test]
fn halving_in_workers_stops_at_its_budget_and_running_again_trains_paused_trials_on() {
    let sweep = |budget: &str| {
        format!(
            "[sweep]\n{budget}scheduler = {{ type = \"asha\", min_epochs = 1, reduction_factor = 2, monitor = \"val_loss\" }}\n\"train.optimizer.lr\" = [0.03, 0.01, 0.003, 0.001, 0.0003, 0.0001]\n"
        )
    };
    // However the workers' jobs interleave, 3 epochs leave a trial paused: a trial alone in
    // its rung is promoted (as Optuna's pruner does), so with 5 the first two trials could
    // both be promoted to the end (8 epochs) when their first epochs ended apart.
    let folder = sweep_folder(4, &sweep("budget_epochs = 3\n"));
    let (experiment, store) = (&folder.experiment, &folder.store);
    let file = experiment.to_str().unwrap();

    // Two workers: new trials and promotions alike train in them, until 3 epochs are spent.
    let first = succeeded(runner_on_one_thread(store, &["run", file, "--jobs", "2"]));
    assert_contains(&stderr(&first), "training up to 2 trials at a time");
    assert_contains(&stdout(&first), "budget spent");
    let paused: Vec<String> = list_runs(store)
        .iter()
        .filter(|run| run["status"] == "pruned")
        .map(|run| run["run"].as_str().unwrap().to_string())
        .collect();
    assert!(!paused.is_empty(), "{:?}", list_runs(store));
    // The plan says which trials train on, from where, and what a run may spend.
    let planned = stdout(&runner(store, &["plan", file]));
    assert_contains(&planned, &format!("run {}, trains on", paused[0]));
    assert_contains(
        &planned,
        "budget: each `runner run` of the sweep starts work until 3 epochs are spent",
    );

    // Without the budget: the paused trials train on from their snapshots, in workers,
    // instead of again; every trial has one run.
    std::fs::write(experiment, format!("base = \"tiny.toml\"\n\n{}", sweep(""))).unwrap();
    let second = succeeded(runner_on_one_thread(store, &["run", file, "--jobs", "2"]));
    assert_contains(&stderr(&second), "trains on from run");
    let runs = list_runs(store);
    assert_eq!(runs.len(), 6, "one run per trial: {runs:?}");

    // `compare --sweep` shows each sweep's rungs, paused trials and budget under its table.
    let sweep_of = |output: &std::process::Output| {
        let text = stderr(output);
        let at = text.find("sweep-").expect("the sweep is named");
        text[at..].split(':').next().unwrap().to_string()
    };
    let compared = stdout(&runner(store, &["compare", "--sweep", &sweep_of(&first)]));
    assert!(
        compared.contains("successive halving: ") && compared.contains("budget 3 epochs: spent ("),
        "{compared}"
    );
    let compared = stdout(&runner(store, &["compare", "--sweep", &sweep_of(&second)]));
    assert!(
        compared.contains("6 reached rung 1 (1 epochs), ")
            && compared.contains("(every trial to its end: 24)"),
        "{compared}"
    );
    let mut trials: Vec<u64> = runs
        .iter()
        .map(|run| {
            let shown = json_output(&runner(
                store,
                &["show", run["run"].as_str().unwrap(), "--format", "json"],
            ));
            shown["trial"].as_u64().unwrap()
        })
        .collect();
    trials.sort_unstable();
    assert_eq!(trials, [0, 1, 2, 3, 4, 5]);
    assert!(
        runs.iter().any(|run| run["status"] == "finished"),
        "{runs:?}"
    );

    // A run paused by the first `runner run` and trained on by a worker of the second has
    // the history of an uninterrupted run, epoch for epoch.
    let carried_on = runs
        .iter()
        .filter(|run| paused.contains(&run["run"].as_str().unwrap().to_string()))
        .max_by_key(|run| run["epochs"].as_u64().unwrap())
        .expect("a paused run is still in the store");
    let carried_on = show(store, carried_on["run"].as_str().unwrap());
    let epochs = carried_on["history"].as_array().unwrap().len();
    assert!(epochs >= 2, "{carried_on}");
    let straight = trained_straight(&folder, &carried_on);
    assert_eq!(history(&carried_on), history(&straight)[..epochs]);
}
