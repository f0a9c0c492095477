//! Validation held out of the training folder, an explicit class order, and a test split
//! evaluated once at the end.

mod common;

use common::*;
use serde_json::Value;

#[test]
fn validation_split_class_order_and_test_split() {
    let dir = tempfile::tempdir().unwrap();
    write_red_blue_dataset(&dir.path().join("data"), 10);
    write_color_classes(
        &dir.path().join("data/test"),
        &[("blue", [40, 60, 200]), ("red", [200, 50, 40])],
        3,
        32,
    );
    let text = tiny_pipeline(STEM_ONLY_BACKBONE, 2).replace(
        "validation = \"data/validation\"",
        "validation_split = 0.2\ntest = \"data/test\"\nclasses = [\"red\", \"blue\"]",
    );
    let pipeline = dir.path().join("p.toml");
    std::fs::write(&pipeline, text).unwrap();
    let store = dir.path().join("store");
    let run_id = run_ok(&store, &pipeline);
    let shown: Value = serde_json::from_str(&stdout(&runner(
        &store,
        &["show", &run_id, "--format", "json"],
    )))
    .unwrap();
    // 10 images per class: 2 of each held out.
    assert_eq!(shown["train_images"], 16);
    assert_eq!(shown["validation_images"], 4);
    assert_eq!(shown["test_images"], 6);
    assert_eq!(shown["classes"], serde_json::json!(["red", "blue"]));
    // Two epochs, no restore_best: the test split is evaluated with the last epoch's
    // weights (tests/reported_results.rs checks the values against a validation pass).
    let test = &shown["test"];
    assert_eq!(shown["test_epoch"], 2, "{shown}");
    let accuracy = test["test_accuracy"].as_f64().unwrap();
    // 6 images: the accuracy is a whole number of sixths.
    assert!(
        (accuracy * 6.0 - (accuracy * 6.0).round()).abs() < 1e-9,
        "{shown}"
    );
    assert!(test["test_loss"].as_f64().unwrap() > 0.0, "{shown}");
    assert!(shown["stages"]["manifest.test"].is_string(), "{shown}");
    let text = stdout(&runner(&store, &["show", &run_id]));
    assert!(text.contains("6 test"), "{text}");
    assert!(text.contains("(epoch 2's weights)"), "{text}");

    // The held-out part is recorded in the manifests: the same files each time.
    let manifests = std::fs::read_dir(store.join("manifests")).unwrap().count();
    assert_eq!(manifests, 3);
    run_ok(&store, &pipeline);
    assert_eq!(
        std::fs::read_dir(store.join("manifests")).unwrap().count(),
        3
    );
}
