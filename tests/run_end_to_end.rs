//! `runner run` on tiny synthetic data, then `runner show` and `runner list` reading the
//! record back from the store in a new process.

mod common;

use common::*;
use serde_json::Value;

#[test]
fn a_run_trains_records_and_reads_back() {
    let dir = tempfile::tempdir().unwrap();
    write_red_blue_dataset(&dir.path().join("data"), 16);
    // One corrupt file and one that is not an image: skipped, named, counted.
    std::fs::write(
        dir.path().join("data/train/red/broken.jpg"),
        b"\xff\xd8\xff\xe0 not really",
    )
    .unwrap();
    std::fs::write(dir.path().join("data/train/blue/notes.txt"), b"hello").unwrap();
    let pipeline = dir.path().join("tiny.toml");
    std::fs::write(&pipeline, tiny_pipeline(STEM_ONLY_BACKBONE, 8)).unwrap();
    let store = dir.path().join("store");

    let output = succeeded(runner(&store, &["run", pipeline.to_str().unwrap()]));
    assert!(
        stderr(&output).contains("broken.jpg"),
        "the skipped file is named: {}",
        stderr(&output)
    );
    let run_id = run_id_of(&output);

    let shown = succeeded(runner(&store, &["show", &run_id, "--format", "json"]));
    let record: Value = serde_json::from_str(&stdout(&shown)).unwrap();
    assert_eq!(record["run"], run_id.as_str());
    assert_eq!(record["pipeline"], "tiny");
    assert_eq!(record["status"], "finished");
    assert_eq!(record["params"]["head.1.rate"], 0.2);
    assert_eq!(record["params"]["train.optimizer.type"], "adam");
    assert_eq!(
        record["params"]["data.train"], "data/train",
        "params keep paths as written"
    );
    assert_eq!(record["device"], "cpu");
    assert_eq!(record["skipped_files"].as_array().unwrap().len(), 2);
    assert_eq!(record["train_images"], 32);
    let history = record["history"].as_array().unwrap();
    assert_eq!(history.len(), 8);
    for (index, epoch) in history.iter().enumerate() {
        assert_eq!(epoch["epoch"], index + 1);
        for key in ["loss", "accuracy", "val_loss", "val_accuracy"] {
            assert!(epoch[key].as_f64().unwrap().is_finite(), "{key} in {epoch}");
        }
    }
    // Red and blue differ by color alone: the model must learn them.
    let best = record["best"]["val_accuracy"].as_f64().unwrap();
    assert!(best >= 0.9, "best val_accuracy {best}");
    let last_loss = history[7]["loss"].as_f64().unwrap();
    let first_loss = history[0]["loss"].as_f64().unwrap();
    assert!(
        last_loss < first_loss,
        "training loss went from {first_loss} to {last_loss}"
    );
    let checkpoint = record["checkpoint"].as_str().unwrap();
    assert!(std::path::Path::new(checkpoint).is_file(), "{checkpoint}");

    let listed = runner(&store, &["list", "--format", "json"]);
    let runs: Value = serde_json::from_str(&stdout(&listed)).unwrap();
    assert_eq!(runs.as_array().unwrap().len(), 1);
    assert_eq!(runs[0]["run"], run_id.as_str());
}

#[test]
fn the_same_seed_gives_the_same_history_and_every_source_seed_is_recorded() {
    let dir = tempfile::tempdir().unwrap();
    write_red_blue_dataset(&dir.path().join("data"), 8);
    let pipeline = dir.path().join("tiny.toml");
    let backbone = r#"arch = "efficientnet_lite0"
weights = "none"
cut = "block1"
freeze = { to = "stem" }"#;
    std::fs::write(&pipeline, tiny_pipeline(backbone, 2)).unwrap();
    let store = dir.path().join("store");
    let history = || {
        let run_id = run_ok(&store, &pipeline);
        let shown: Value = serde_json::from_str(&stdout(&runner(
            &store,
            &["show", &run_id, "--format", "json"],
        )))
        .unwrap();
        // Every random source's seed is recorded (tiny_pipeline's seed is 7).
        for source in [
            "weight_init",
            "validation_split",
            "shuffle",
            "augmentation",
            "dropout",
        ] {
            assert_eq!(shown["seeds"][source], 7, "{source}: {}", shown["seeds"]);
        }
        shown["history"]
            .as_array()
            .unwrap()
            .iter()
            .map(|epoch| {
                (
                    epoch["loss"].as_f64().unwrap(),
                    epoch["val_loss"].as_f64().unwrap(),
                )
            })
            .collect::<Vec<_>>()
    };
    assert_eq!(history(), history());
}
