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
    assert_contains(&text, "6 test");
    assert_contains(&text, "(epoch 2's weights)");

    // The held-out part is recorded in the manifests: the same files each time.
    let manifests = std::fs::read_dir(store.join("manifests")).unwrap().count();
    assert_eq!(manifests, 3);
    run_ok(&store, &pipeline);
    assert_eq!(
        std::fs::read_dir(store.join("manifests")).unwrap().count(),
        3
    );
}

/// `filename,class` rows for every image under `root`'s class folders, paths relative to
/// `csv`'s folder.
fn csv_of(root: &std::path::Path, relative_to: &std::path::Path) -> String {
    let mut text = String::from("class,filename\n");
    for class in ["blue", "red"] {
        let mut files: Vec<_> = std::fs::read_dir(root.join(class))
            .unwrap()
            .map(|entry| entry.unwrap().path())
            .collect();
        files.sort();
        for file in files {
            let relative = file.strip_prefix(relative_to).unwrap();
            text.push_str(&format!("{class},{}\n", relative.display()));
        }
    }
    text
}

#[test]
fn csv_splits_train_as_folders_do_and_reuse_their_stages() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    write_red_blue_dataset(&data, 6);
    std::fs::write(data.join("train.csv"), csv_of(&data.join("train"), &data)).unwrap();
    std::fs::write(
        data.join("validation.csv"),
        csv_of(&data.join("validation"), &data),
    )
    .unwrap();
    let folders = dir.path().join("folders.toml");
    std::fs::write(&folders, tiny_pipeline(STEM_ONLY_BACKBONE, 1)).unwrap();
    let csv = dir.path().join("csv.toml");
    let text = tiny_pipeline(STEM_ONLY_BACKBONE, 1)
        .replace("train = \"data/train\"", "train_csv = \"data/train.csv\"")
        .replace(
            "validation = \"data/validation\"",
            "validation_csv = \"data/validation.csv\"",
        );
    std::fs::write(&csv, text).unwrap();
    let store = dir.path().join("store");

    let run_id = run_ok(&store, &csv);
    let shown = json_output(&runner(&store, &["show", &run_id, "--format", "json"]));
    assert_eq!(shown["train_images"], 12, "{shown}");
    assert_eq!(shown["validation_images"], 6, "{shown}");
    assert_eq!(shown["classes"], serde_json::json!(["blue", "red"]));
    // A manifest names each file by its path under the split's root (the CSV file's folder
    // here), so the same images listed in class folders are another manifest; listed by the
    // CSV files again they are the same stages: decoded once, and the trial is not trained
    // again.
    let plan = |file: &std::path::Path| {
        let output = runner(
            &store,
            &["plan", file.to_str().unwrap(), "--format", "json"],
        );
        json_output(&output)["stages"].clone()
    };
    let stages = plan(&csv);
    let status = |stage: &str| {
        let found = stages
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["stage"] == stage);
        found.map(|s| s["status"].clone()).unwrap_or_default()
    };
    assert_eq!(status("decoded.training"), "cached", "{stages}");
    assert_eq!(status("decoded.validation"), "cached", "{stages}");
    assert_eq!(status("training"), "cached", "{stages}");
    assert_ne!(plan(&folders), stages);
    succeeded(runner(&store, &["run", csv.to_str().unwrap()]));
    assert_eq!(list_runs(&store).len(), 1, "the CSV pipeline trained again");
}

#[test]
fn csv_problems_name_the_file_and_line_and_leakage_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    write_red_blue_dataset(&data, 4);
    let train = csv_of(&data.join("train"), &data);
    std::fs::write(data.join("train.csv"), &train).unwrap();
    let pipeline = dir.path().join("p.toml");
    let with_validation = |validation: &str| {
        std::fs::write(data.join("validation.csv"), validation).unwrap();
        let text = tiny_pipeline(STEM_ONLY_BACKBONE, 1)
            .replace("train = \"data/train\"", "train_csv = \"data/train.csv\"")
            .replace(
                "validation = \"data/validation\"",
                "validation_csv = \"data/validation.csv\"",
            );
        std::fs::write(&pipeline, text).unwrap();
        runner(
            &dir.path().join("store"),
            &["run", pipeline.to_str().unwrap()],
        )
    };
    let cases = [
        (
            "class,filename\nblue,validation/blue/blue0.png\nred,validation/red/gone.png\n",
            "validation.csv:3: the image `validation/red/gone.png` does not exist",
        ),
        (
            "class,filename\nblue,validation/blue/blue0.png\ngreen,validation/red/red0.png\n",
            "validation.csv:3: the validation image",
        ),
        (
            // A training image listed for validation.
            "class,filename\nblue,validation/blue/blue0.png\nred,train/red/red1.png\n",
            "is in both the training and the validation images",
        ),
    ];
    for (validation, expected) in cases {
        let output = with_validation(validation);
        assert_eq!(
            output.status.code(),
            Some(2),
            "{validation}: {}",
            stderr(&output)
        );
        assert!(
            stderr(&output).contains(expected),
            "{validation}: {}",
            stderr(&output)
        );
    }
    assert!(list_runs(&dir.path().join("store")).is_empty());
}
