//! `runner compare`, `plot`, `rm` and `gc` on real recorded runs.

mod common;

use common::*;
use serde_json::Value;

#[test]
fn compare_plot_rm_and_gc_on_recorded_runs() {
    let dir = tempfile::tempdir().unwrap();
    write_red_blue_dataset(&dir.path().join("data"), 4);
    let store = dir.path().join("store");
    let mut ids = Vec::new();
    for (rate, seed) in [(0.2, 1), (0.2, 2), (0.5, 1)] {
        let text = tiny_pipeline(STEM_ONLY_BACKBONE, 2)
            .replace("rate = 0.2", &format!("rate = {rate}"))
            .replace("seed = 7", &format!("seed = {seed}"));
        let file = dir.path().join(format!("p{rate}-{seed}.toml"));
        std::fs::write(&file, text).unwrap();
        ids.push(run_ok(&store, &file));
    }

    let rows: Vec<Value> =
        serde_json::from_str(&stdout(&runner(&store, &["compare", "--format", "json"]))).unwrap();
    assert_eq!(rows.len(), 2, "the two seeds of rate 0.2 are one row");
    assert_eq!(rows[0]["seeds"], 2);
    assert_eq!(rows[0]["params"], serde_json::json!({"head.1.rate": 0.2}));
    let filtered: Vec<Value> = serde_json::from_str(&stdout(&runner(
        &store,
        &[
            "compare",
            "--where",
            "head.1.rate >= 0.3",
            "--format",
            "json",
        ],
    )))
    .unwrap();
    assert_eq!(filtered.len(), 1);
    assert_eq!(filtered[0]["run"], ids[2].as_str());

    // `list --limit --reverse` and `last~N`, as run ids anywhere.
    let latest: Vec<Value> = serde_json::from_str(&stdout(&runner(
        &store,
        &["list", "--limit", "2", "--reverse", "--format", "json"],
    )))
    .unwrap();
    let latest: Vec<&str> = latest
        .iter()
        .map(|row| row["run"].as_str().unwrap())
        .collect();
    assert_eq!(latest, [ids[2].as_str(), ids[1].as_str()]);
    let oldest: Value = serde_json::from_str(&stdout(&runner(
        &store,
        &["show", "last~2", "--format", "json"],
    )))
    .unwrap();
    assert_eq!(oldest["run"], ids[0].as_str());

    let csv = stdout(&runner(
        &store,
        &["compare", "--no-group", "--format", "csv"],
    ));
    let mut reader = csv::Reader::from_reader(csv.as_bytes());
    assert_eq!(reader.records().count(), 3);

    let png = dir.path().join("curves.png");
    succeeded(runner(
        &store,
        &["plot", &ids[0], &ids[2], "--out", png.to_str().unwrap()],
    ));
    let image = image::open(&png).unwrap();
    assert_eq!((image.width(), image.height()), (1200, 520));
    let shown: Value = serde_json::from_str(&stdout(&runner(
        &store,
        &["show", &ids[2], "--format", "json"],
    )))
    .unwrap();
    let plot = &shown["artifacts"]["plot:curves.png"];
    assert_eq!(
        plot["bytes"],
        std::fs::metadata(&png).unwrap().len(),
        "{shown}"
    );
    let svg = dir.path().join("curves.svg");
    assert!(
        runner(&store, &["plot", &ids[0], "--out", svg.to_str().unwrap()])
            .status
            .success()
    );
    assert!(std::fs::read_to_string(&svg).unwrap().contains("<svg"));
    let bad = runner(
        &store,
        &[
            "plot",
            &ids[0],
            "--out",
            dir.path().join("x.gif").to_str().unwrap(),
        ],
    );
    assert_eq!(bad.status.code(), Some(2));

    succeeded(runner(&store, &["rm", &ids[1]]));
    let listed: Vec<Value> =
        serde_json::from_str(&stdout(&runner(&store, &["list", "--format", "json"]))).unwrap();
    assert_eq!(listed.len(), 2);
    assert!(!store.join("checkpoints").join(&ids[1]).exists());

    // The folder of a run no longer in the store (gc removes only folders named by run ids).
    let orphan = store.join("checkpoints/20261130-000000-000abcdefgh");
    std::fs::create_dir_all(&orphan).unwrap();
    std::fs::write(orphan.join("last.bpk"), b"12345").unwrap();
    std::fs::write(
        store
            .join("checkpoints")
            .join(&ids[0])
            .join("last.bpk.partial"),
        b"123",
    )
    .unwrap();
    let gc = succeeded(runner(&store, &["gc"]));
    assert_contains(
        &stderr(&gc),
        "removed 1 orphaned checkpoint folder(s), 1 half-written file(s) and 0 cached stage result(s) (8 bytes)",
    );
    assert!(
        store
            .join("checkpoints")
            .join(&ids[0])
            .join("last.bpk")
            .exists()
    );
}

#[test]
fn list_filters() {
    let (_dir, file, store) = pipeline_folder(&tiny_pipeline(STEM_ONLY_BACKBONE, 1), 2);
    assert!(
        runner(&store, &["run", file.to_str().unwrap()])
            .status
            .success()
    );
    let count = |args: &[&str]| {
        let mut all = vec!["list", "--format", "json"];
        all.extend_from_slice(args);
        serde_json::from_str::<Vec<Value>>(&stdout(&runner(&store, &all)))
            .unwrap()
            .len()
    };
    assert_eq!(count(&[]), 1);
    assert_eq!(count(&["--pipeline", "tiny"]), 1);
    assert_eq!(count(&["--pipeline", "other"]), 0);
    assert_eq!(count(&["--status", "finished"]), 1);
    assert_eq!(count(&["--status", "failed"]), 0);
    assert_eq!(count(&["--since", "1h"]), 1);
    assert_eq!(count(&["--since", "2099-01-01"]), 0);
    assert_eq!(count(&["--sweep", "s"]), 0);
    let bad = runner(&store, &["list", "--since", "someday"]);
    assert_eq!(bad.status.code(), Some(2));
}

#[test]
fn export_logs_writes_event_files_tensorboard_reads_back() {
    let Some(python) = venv_python("tensorboard-venv", "RUNNER_REQUIRE_TENSORBOARD") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    write_red_blue_dataset(&dir.path().join("data"), 4);
    let store = dir.path().join("store");
    let file = dir.path().join("p.toml");
    let text = tiny_pipeline(STEM_ONLY_BACKBONE, 3).replace(
        "epochs = 3",
        "epochs = 3\nmetrics = [\"accuracy\", \"precision\"]",
    );
    std::fs::write(&file, text).unwrap();
    let run_id = run_ok(&store, &file);
    let logs = dir.path().join("tb");
    succeeded(runner(
        &store,
        &[
            "export-logs",
            "last",
            "--tensorboard",
            logs.to_str().unwrap(),
        ],
    ));

    // TensorBoard's own reader (tests/reference/read_tensorboard.py).
    let read = std::process::Command::new(&python)
        .arg(repo_root().join("tests/reference/read_tensorboard.py"))
        .arg(&logs)
        .output()
        .unwrap();
    assert!(
        read.status.success(),
        "{}",
        String::from_utf8_lossy(&read.stderr)
    );
    let runs: Value = serde_json::from_slice(&read.stdout).unwrap();
    let run = &runs[run_id.as_str()];
    let shown = json_output(&runner(&store, &["show", &run_id, "--format", "json"]));
    let history = shown["history"].as_array().unwrap();
    assert_eq!(history.len(), 3);
    let check = |split: &str, tag: &str, key: &str| {
        let points = run[split][tag]
            .as_array()
            .unwrap_or_else(|| panic!("{split}/{tag}: {run}"));
        assert_eq!(points.len(), 3, "{split}/{tag}");
        for (index, (point, epoch)) in points.iter().zip(history).enumerate() {
            assert_eq!(point[0], index, "{split}/{tag}: steps count epochs from 0");
            // Metrics beyond loss and accuracy are under `extra`.
            let recorded = epoch.get(key).unwrap_or(&epoch["extra"][key]);
            let (written, recorded) = (point[1].as_f64().unwrap(), recorded.as_f64().unwrap());
            // Scalars are float32 in event files.
            assert!(
                (written - recorded).abs() <= 1e-6 * recorded.abs().max(1.0),
                "{split}/{tag} epoch {}: {written} != {recorded}",
                index + 1
            );
        }
    };
    check("train", "epoch_loss", "loss");
    check("train", "epoch_accuracy", "accuracy");
    check("train", "epoch_learning_rate", "lr");
    check("validation", "epoch_loss", "val_loss");
    check("validation", "epoch_accuracy", "val_accuracy");
    check("validation", "epoch_precision", "val_precision");
    // The parameters for the HParams tab, and how the run ended.
    assert_eq!(run["group"], run_id.as_str());
    assert_eq!(run["status"], "STATUS_SUCCESS");
    assert_eq!(run["hparams"]["head.1.rate"], 0.2);
    assert_eq!(run["hparams"]["train.optimizer.type"], "adam");
}
