//! The store survives what happens to real runs: processes killed mid-write, readers
//! while a run writes, old layouts, newer layouts.

mod common;

use std::process::Stdio;
use std::time::{Duration, Instant};

use common::*;
use serde_json::Value;

/// Starts `runner run --retrain`: the same pipeline trains again although the store has
/// its result.
fn start_run(store: &std::path::Path, pipeline: &std::path::Path) -> std::process::Child {
    spawn_runner(
        store,
        &["run", pipeline.to_str().unwrap(), "--retrain"],
        Stdio::null,
    )
}

#[test]
fn kill_9_at_random_points_never_loses_a_finished_run() {
    let (_dir, pipeline, store) = pipeline_folder(&tiny_pipeline(STEM_ONLY_BACKBONE, 6), 4);

    // One run that finishes, which every later kill must leave intact.
    let finished_id = run_ok(&store, &pipeline);
    let started = Instant::now();
    let full_run = {
        let mut child = start_run(&store, &pipeline);
        child.wait().unwrap();
        started.elapsed()
    };

    let mut seed = 0x2545_F491_4F6C_DD1Du64;
    for trial in 0..20 {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let delay = Duration::from_millis(seed % full_run.as_millis().max(1) as u64);
        let mut child = start_run(&store, &pipeline);
        std::thread::sleep(delay);
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();

        let runs = list_runs(&store);
        let finished = runs
            .iter()
            .find(|run| run["run"] == finished_id.as_str())
            .unwrap_or_else(|| panic!("trial {trial}: the finished run is gone"));
        assert_eq!(finished["status"], "finished", "trial {trial}");
        assert_eq!(finished["epochs"], 6, "trial {trial}");
        for run in &runs {
            assert_ne!(
                run["status"], "running",
                "trial {trial}: a killed run still shows as running: {run}"
            );
        }
    }
}

#[test]
fn kill_9_during_a_parallel_sweep_while_a_reader_reads_loses_no_finished_run() {
    let dir = tempfile::tempdir().unwrap();
    write_red_blue_dataset(&dir.path().join("data"), 4);
    let sweep = dir.path().join("sweep.toml");
    std::fs::write(
        &sweep,
        tiny_pipeline(STEM_ONLY_BACKBONE, 4)
            + "\n[sweep]\n\"head.1.rate\" = [0.1, 0.2, 0.3, 0.4]\n",
    )
    .unwrap();
    let store = dir.path().join("store");
    let start_sweep = || {
        let args = ["run", sweep.to_str().unwrap(), "--jobs", "2"];
        spawn_runner(&store, &args, Stdio::null)
    };

    // A second process reads the store the whole time; every run it ever sees finished
    // must stay finished, with the same epochs.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let reader = {
        let (store, stop) = (store.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut reads = 0;
            while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                if store.join("db").exists() {
                    succeeded(runner(&store, &["list", "--format", "json"]));
                    reads += 1;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            reads
        })
    };
    let mut finished: std::collections::BTreeMap<String, Value> = Default::default();
    let mut seed = 0x9E37_79B9_7F4A_7C15u64;
    for kill in 0..6 {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let mut coordinator = start_sweep();
        std::thread::sleep(Duration::from_millis(500 + seed % 6000));
        coordinator.kill().unwrap(); // SIGKILL; its workers stop on their parent's death
        coordinator.wait().unwrap();
        std::thread::sleep(Duration::from_millis(300));
        let runs = list_runs(&store);
        for (id, before) in &finished {
            let now = runs
                .iter()
                .find(|run| run["run"] == id.as_str())
                .unwrap_or_else(|| panic!("kill {kill}: finished run {id} is gone"));
            assert_eq!(now["status"], "finished", "kill {kill}: {now}");
            assert_eq!(now["epochs"], before["epochs"], "kill {kill}: {now}");
        }
        for run in runs.into_iter().filter(|run| run["status"] == "finished") {
            finished.insert(run["run"].as_str().unwrap().to_string(), run);
        }
    }
    // Running the file again takes in what the workers left and trains the rest.
    let output = start_sweep().wait_with_output().unwrap();
    assert!(output.status.success());
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    assert!(reader.join().unwrap() > 0, "the reader read");
    let runs = list_runs(&store);
    for id in finished.keys() {
        assert!(
            runs.iter()
                .any(|run| run["run"] == id.as_str() && run["status"] == "finished")
        );
    }
    let mut rates: Vec<String> = runs
        .iter()
        .filter(|run| run["status"] == "finished")
        .map(|run| {
            let shown = json_output(&runner(
                &store,
                &["show", run["run"].as_str().unwrap(), "--format", "json"],
            ));
            shown["params"]["head.1.rate"].to_string()
        })
        .collect();
    rates.sort();
    rates.dedup();
    assert_eq!(
        rates,
        ["0.1", "0.2", "0.3", "0.4"],
        "every trial finished once the sweep ran through"
    );
}

#[test]
fn compare_works_while_a_run_is_writing() {
    let (_dir, pipeline, store) = pipeline_folder(&tiny_pipeline(STEM_ONLY_BACKBONE, 30), 8);
    let mut child = start_run(&store, &pipeline);
    let mut compared = 0;
    while child.try_wait().unwrap().is_none() {
        let output = runner(&store, &["compare", "--format", "json"]);
        if output.status.success() {
            let rows: Vec<Value> = serde_json::from_str(&stdout(&output)).unwrap();
            assert_eq!(rows.len(), 1);
            compared += 1;
        } else {
            // Before the run is recorded there is nothing to compare yet.
            assert_contains(&stderr(&output), "no recorded run matches");
        }
    }
    assert!(child.wait().unwrap().success());
    assert!(
        compared >= 3,
        "compare ran {compared} times while the run was writing"
    );
    let rows: Vec<Value> =
        serde_json::from_str(&stdout(&runner(&store, &["compare", "--format", "json"]))).unwrap();
    assert_eq!(rows[0]["status"], "finished");
    assert_eq!(rows[0]["epochs"], 30);
}

/// A version-1 store as the first runner wrote it: the pipeline text inside the record.
fn write_v1_store(store: &std::path::Path) {
    let db = sled::open(store.join("db")).unwrap();
    db.open_tree("meta")
        .unwrap()
        .insert("schema_version", &1u32.to_be_bytes())
        .unwrap();
    let record = serde_json::json!({
        "id": "20261128-100000-abc", "pipeline": "old", "pipeline_file": "old.toml",
        "spec_text": "[pipeline]\nname = \"old\"\n", "spec_hash": "feed",
        "params": {"head.2.rate": 0.2}, "seed": 1, "status": "finished", "reason": null,
        "started_at": 1000, "ended_at": 2000, "host": "h", "pid": 42, "device": "cpu",
        "runner_version": "0.1.0", "classes": ["a", "b"], "train_images": 2,
        "validation_images": 2, "skipped_files": [], "epochs": 1, "best_epoch": 1,
        "best": {"val_accuracy": 0.75}, "last": {"val_accuracy": 0.75},
        "checkpoint": "/somewhere/runs/checkpoints/20261128-100000-abc/last.bpk", "best_checkpoint": null
    });
    db.open_tree("runs")
        .unwrap()
        .insert("20261128-100000-abc", serde_json::to_vec(&record).unwrap())
        .unwrap();
    db.flush().unwrap();
}

#[test]
fn a_version_1_store_is_upgraded() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store");
    write_v1_store(&store);
    let output = succeeded(runner(
        &store,
        &["show", "20261128-100000", "--format", "json"],
    ));
    let run: Value = serde_json::from_str(&stdout(&output)).unwrap();
    assert_eq!(run["spec"], "[pipeline]\nname = \"old\"\n");
    assert_eq!(
        run["artifacts"]["last"]["path"],
        "checkpoints/20261128-100000-abc/last.bpk"
    );
    assert_eq!(run["best"]["val_accuracy"], 0.75);
    assert_eq!(run["status"], "finished");
    // Upgraded once: a second read sees the same.
    let again: Value = serde_json::from_str(&stdout(&runner(
        &store,
        &["show", "20261128-100000", "--format", "json"],
    )))
    .unwrap();
    assert_eq!(again, run);
}

#[test]
fn a_newer_store_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store");
    {
        let db = sled::open(store.join("db")).unwrap();
        db.open_tree("meta")
            .unwrap()
            .insert("schema_version", &99u32.to_be_bytes())
            .unwrap();
        db.flush().unwrap();
    }
    let output = runner(&store, &["list"]);
    assert_contains(
        &input_error(&output),
        "schema version 99, newer than this runner's 2",
    );
}

#[test]
fn two_runs_record_into_the_same_store_at_once() {
    let (_dir, pipeline, store) = pipeline_folder(&tiny_pipeline(STEM_ONLY_BACKBONE, 10), 4);
    let mut first = start_run(&store, &pipeline);
    let mut second = start_run(&store, &pipeline);
    assert!(first.wait().unwrap().success());
    assert!(second.wait().unwrap().success());
    let runs = list_runs(&store);
    assert_eq!(runs.len(), 2);
    for run in &runs {
        assert_eq!(run["status"], "finished", "{run}");
        assert_eq!(run["epochs"], 10, "{run}");
    }
}
