//! `runner data check`, `runner augment preview`, and the decoded-image cache.

mod common;

use common::*;
use serde_json::Value;

#[test]
fn data_check_reports_counts_sizes_unreadable_files_and_leakage() {
    let dir = tempfile::tempdir().unwrap();
    write_red_blue_dataset(&dir.path().join("data"), 4);
    // One validation image is a copy of a training image; one training file is not an image.
    std::fs::copy(
        dir.path().join("data/train/red/red0.png"),
        dir.path().join("data/validation/red/copy.png"),
    )
    .unwrap();
    std::fs::write(dir.path().join("data/train/blue/notes.jpg"), "not an image").unwrap();
    let pipeline = dir.path().join("p.toml");
    std::fs::write(&pipeline, tiny_pipeline(STEM_ONLY_BACKBONE, 1)).unwrap();
    let store = dir.path().join("store");

    let output = succeeded(runner(
        &store,
        &["data", "check", pipeline.to_str().unwrap()],
    ));
    let text = stdout(&output);
    assert_contains(&text, "8 images (blue 4, red 4)");
    assert!(
        text.contains("width 32-32, height 32-32 px; 1 unreadable"),
        "{text}"
    );
    assert_contains(&text, "unreadable: blue/notes.jpg");
    assert_contains(&text, "1 across splits");
    assert_contains(&text, "training: red/red0.png = validation: red/copy.png");

    let output = runner(
        &store,
        &[
            "data",
            "check",
            pipeline.to_str().unwrap(),
            "--format",
            "json",
        ],
    );
    let report: Value = serde_json::from_str(&stdout(&output)).unwrap();
    assert_eq!(report["duplicates_across_splits"], 1);
    assert_eq!(
        report["splits"][1]["classes"],
        serde_json::json!([["blue", 2], ["red", 3]])
    );
}

#[test]
fn augment_preview_writes_a_grid_and_refuses_a_pipeline_without_augmentation() {
    let dir = tempfile::tempdir().unwrap();
    write_red_blue_dataset(&dir.path().join("data"), 4);
    let pipeline = dir.path().join("p.toml");
    let text = tiny_pipeline(STEM_ONLY_BACKBONE, 1).replace(
        "horizontal_flip = true",
        "rotation_range = 40\nzoom_range = 0.3\nfill_mode = \"constant\"\ncval = 255",
    );
    std::fs::write(&pipeline, text).unwrap();
    let store = dir.path().join("store");
    let out = dir.path().join("grid.png");
    succeeded(runner(
        &store,
        &[
            "augment",
            "preview",
            pipeline.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
            "--images",
            "2",
            "--samples",
            "3",
        ],
    ));
    let grid = image::open(&out).unwrap().into_rgb8();
    // Two rows of four 32-pixel cells, 4-pixel gaps around and between them.
    assert_eq!(grid.dimensions(), (4 * 36 + 4, 2 * 36 + 4));
    let cell = |row: u32, column: u32| {
        let (left, top) = (4 + column * 36, 4 + row * 36);
        (0..32)
            .flat_map(|y| (0..32).map(move |x| (x, y)))
            .map(|(x, y)| grid.get_pixel(left + x, top + y).0)
            .collect::<Vec<_>>()
    };
    // The originals are red or blue with a little noise: white can only be the fill of a
    // rotated or zoomed-out copy.
    assert!(!cell(0, 0).contains(&[255, 255, 255]));
    assert!((1..4).any(|column| cell(0, column).contains(&[255, 255, 255])));

    std::fs::write(
        &pipeline,
        tiny_pipeline(STEM_ONLY_BACKBONE, 1).replace("horizontal_flip = true", ""),
    )
    .unwrap();
    let output = runner(
        &store,
        &[
            "augment",
            "preview",
            pipeline.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ],
    );
    assert_contains(&input_error(&output), "nothing to preview");
}

#[test]
fn decoded_images_are_cached_across_runs_and_invalidated_by_a_changed_file() {
    let (dir, pipeline, store) = pipeline_folder(&tiny_pipeline(STEM_ONLY_BACKBONE, 1), 4);
    let run = || {
        let output = succeeded(runner(
            &store,
            &["run", pipeline.to_str().unwrap(), "--retrain"],
        ));
        stderr(&output)
    };
    assert!(run().contains("decoded 8 training images"));
    let again = run();
    assert_contains(&again, "training images: decoded before");
    assert!(!again.contains("decoded 8 training images"), "{again}");

    image::RgbImage::from_pixel(32, 32, image::Rgb([10, 10, 10]))
        .save(dir.path().join("data/train/red/red1.png"))
        .unwrap();
    let changed = run();
    assert_contains(&changed, "decoded 8 training images");
    assert_contains(&changed, "validation images: decoded before");
}
