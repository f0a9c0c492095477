//! `runner predict` and `runner export` rebuild a recorded run's model from the store.

mod common;

use common::*;
use serde_json::Value;

#[test]
fn predict_and_export_a_trained_run() {
    let dir = tempfile::tempdir().unwrap();
    write_red_blue_dataset(&dir.path().join("data"), 16);
    let pipeline = dir.path().join("tiny.toml");
    std::fs::write(&pipeline, tiny_pipeline(STEM_ONLY_BACKBONE, 8)).unwrap();
    let store = dir.path().join("store");
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
    let predicted = runner(&store, &args);
    assert!(predicted.status.success(), "{}", stderr(&predicted));
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
    assert_eq!(bad.status.code(), Some(2), "{}", stderr(&bad));
    assert!(stderr(&bad).contains("notes.txt"), "{}", stderr(&bad));

    let out = dir.path().join("model.safetensors");
    let exported = runner(&store, &["export", &run_id, "--out", out.to_str().unwrap()]);
    assert!(exported.status.success(), "{}", stderr(&exported));
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
