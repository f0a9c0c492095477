//! `runner predict` and `runner export` rebuild a recorded run's model from the store.

mod common;

use common::*;
use serde_json::Value;

#[test]
fn predict_and_export_a_trained_run() {
    let (dir, pipeline, store) = pipeline_folder(&tiny_pipeline(STEM_ONLY_BACKBONE, 8), 16);
    let run_id = run_ok(&store, &pipeline);
    // The pipeline file may be gone: the store keeps its text.
    std::fs::remove_file(&pipeline).unwrap();

    let fresh = dir.path().join("fresh");
    write_color_classes(
        &fresh,
        &[("blue", [40, 60, 200]), ("red", [200, 50, 40])],
        3,
        40,
    );
    let mut args = vec![
        "predict".to_string(),
        run_id.clone(),
        "--format".into(),
        "json".into(),
    ];
    let mut expected = Vec::new();
    for class in ["blue", "red"] {
        for index in 0..3 {
            args.push(
                fresh
                    .join(class)
                    .join(format!("{class}{index}.png"))
                    .display()
                    .to_string(),
            );
            expected.push(class);
        }
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let predicted = succeeded(runner(&store, &args));
    // JSON Lines: one object per image.
    let predictions: Vec<Value> = stdout(&predicted)
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    assert_eq!(predictions.len(), 6);
    for (prediction, class) in predictions.iter().zip(&expected) {
        assert_eq!(prediction["class"], *class, "{prediction}");
        let probability = prediction["probability"].as_f64().unwrap();
        assert!((0.5..=1.0).contains(&probability), "{prediction}");
        let sum: f64 = prediction["probabilities"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p.as_f64().unwrap())
            .sum();
        assert!((sum - 1.0).abs() < 1e-5);
    }
    let not_an_image = dir.path().join("notes.txt");
    std::fs::write(&not_an_image, "hello").unwrap();
    let bad = runner(
        &store,
        &["predict", &run_id, not_an_image.to_str().unwrap()],
    );
    assert_contains(&input_error(&bad), "notes.txt");

    let out = dir.path().join("model.safetensors");
    succeeded(runner(
        &store,
        &["export", &run_id, "--out", out.to_str().unwrap()],
    ));
    // A safetensors file starts with the length of its JSON header, then the header.
    let bytes = std::fs::read(&out).unwrap();
    let header_length = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    let header: Value = serde_json::from_slice(&bytes[8..8 + header_length]).unwrap();
    let names: Vec<&String> = header.as_object().unwrap().keys().collect();
    assert!(
        names.iter().any(|name| name.starts_with("trainable.head")),
        "{names:?}"
    );
    let metadata: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("model.json")).unwrap())
            .unwrap();
    assert_eq!(metadata["classes"], serde_json::json!(["blue", "red"]));
    assert_eq!(metadata["image_size"], serde_json::json!([32, 32]));
    assert_eq!(metadata["run"], run_id.as_str());
}

#[test]
fn inspect_agrees_with_predict_on_the_validation_images() {
    let (dir, pipeline, store) = pipeline_folder(&tiny_pipeline(STEM_ONLY_BACKBONE, 2), 12);
    let run_id = run_ok(&store, &pipeline);
    let out = dir.path().join("inspect");
    let inspected = succeeded(runner(
        &store,
        &[
            "inspect",
            "last",
            "--out",
            out.to_str().unwrap(),
            "--top",
            "3",
            "--format",
            "json",
        ],
    ));
    let report = json_output(&inspected);
    assert_eq!(report["run"], run_id.as_str());
    assert_eq!(report["classes"], serde_json::json!(["blue", "red"]));

    // The same model through `runner predict`, and each image's class from its folder.
    let validation = dir.path().join("data/validation");
    let predicted = succeeded(runner(
        &store,
        &[
            "predict",
            &run_id,
            validation.to_str().unwrap(),
            "--format",
            "json",
        ],
    ));
    let mut confusion = [[0u64; 2]; 2];
    let mut losses = Vec::new();
    for line in stdout(&predicted).lines() {
        let prediction: Value = serde_json::from_str(line).unwrap();
        let image = prediction["image"].as_str().unwrap().to_string();
        let truth = usize::from(image.contains("/red/"));
        let guess = usize::from(prediction["class"] == "red");
        confusion[truth][guess] += 1;
        let p_true = prediction["probabilities"][truth].as_f64().unwrap();
        losses.push((-p_true.clamp(1e-7, 1.0 - 1e-7).ln(), image));
    }
    assert_eq!(report["images"], 12);
    assert_eq!(report["confusion_matrix"], serde_json::json!(confusion));
    let correct = (confusion[0][0] + confusion[1][1]) as f64;
    assert!((report["accuracy"].as_f64().unwrap() - correct / 12.0).abs() < 1e-12);
    for (class, figures) in report["per_class"].as_array().unwrap().iter().enumerate() {
        let hits = confusion[class][class] as f64;
        let predicted_as: u64 = confusion.iter().map(|row| row[class]).sum();
        let actual: u64 = confusion[class].iter().sum();
        assert_eq!(figures["support"], actual);
        let precision = if predicted_as == 0 {
            0.0
        } else {
            hits / predicted_as as f64
        };
        let recall = hits / actual as f64;
        assert!(
            (figures["precision"].as_f64().unwrap() - precision).abs() < 1e-12,
            "{figures}"
        );
        assert!(
            (figures["recall"].as_f64().unwrap() - recall).abs() < 1e-12,
            "{figures}"
        );
    }
    // The three highest losses, highest first, with predict's probabilities.
    losses.sort_by(|a, b| b.0.total_cmp(&a.0));
    let top = report["top_losses"].as_array().unwrap();
    assert_eq!(top.len(), 3);
    for (shown, (loss, image)) in top.iter().zip(&losses) {
        assert_eq!(shown["image"].as_str().unwrap(), image);
        assert!(
            (shown["loss"].as_f64().unwrap() - loss).abs() < 1e-9,
            "{shown}"
        );
    }

    // The files: two PNGs, the per-class table and the report.
    for picture in ["confusion_matrix.png", "top_losses.png"] {
        let bytes = std::fs::read(out.join(picture)).unwrap();
        assert_eq!(&bytes[1..4], b"PNG", "{picture}");
    }
    let table = std::fs::read_to_string(out.join("per_class.csv")).unwrap();
    assert_eq!(
        table.lines().next(),
        Some("class,precision,recall,f1,support")
    );
    assert_eq!(table.lines().count(), 3);
    let written: Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("inspect.json")).unwrap()).unwrap();
    assert_eq!(written, report);
    // ... and the run keeps the highest losses, for `runner ui`'s run page.
    let shown = json_output(&runner(&store, &["show", &run_id, "--format", "json"]));
    assert_eq!(shown["top_losses"], report["top_losses"]);

    let unknown = runner(
        &store,
        &["inspect", "no-such-run", "--out", out.to_str().unwrap()],
    );
    assert_eq!(unknown.status.code(), Some(2), "{}", stderr(&unknown));
}
