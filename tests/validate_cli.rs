//! `runner validate`, `runner new` and `runner completions` as a user runs them.

mod common;

use common::*;
use serde_json::Value;

#[test]
fn validate_reports_every_problem_and_exits_2() {
    let dir = tempfile::tempdir().unwrap();
    write_red_blue_dataset(&dir.path().join("data"), 2);
    let good = dir.path().join("good.toml");
    std::fs::write(&good, tiny_pipeline(STEM_ONLY_BACKBONE, 1)).unwrap();
    let bad = dir.path().join("bad.toml");
    let text = tiny_pipeline(STEM_ONLY_BACKBONE, 1)
        .replace("batch_size = 8", "batchsize = 8")
        .replace("epochs = 1", "epoch = 1");
    std::fs::write(&bad, text).unwrap();
    let store = dir.path().join("store");

    let ok = runner(&store, &["validate", good.to_str().unwrap()]);
    assert_eq!(ok.status.code(), Some(0), "{}", stderr(&ok));
    assert!(stderr(&ok).contains("good.toml: ok"));

    let failed = runner(
        &store,
        &["validate", good.to_str().unwrap(), bad.to_str().unwrap()],
    );
    assert_eq!(failed.status.code(), Some(2));
    let message = stderr(&failed);
    assert_contains(&message, "bad.toml:10:1");
    assert_contains(&message, "did you mean `batch_size`?");
    assert_contains(&message, "unknown field `epoch`");
    assert_contains(&message, "has 2 problems");
    assert_contains(&message, "1 of 2 pipeline file(s) are not valid");

    let json = runner(
        &store,
        &["validate", bad.to_str().unwrap(), "--format", "json"],
    );
    assert_eq!(json.status.code(), Some(2));
    let report: Vec<Value> = serde_json::from_str(&stdout(&json)).unwrap();
    assert_eq!(report[0]["valid"], false);
    let problems = report[0]["problems"].as_array().unwrap();
    assert_eq!(problems.len(), 2);
    assert_eq!(problems[0]["line"], 10);
    assert_eq!(problems[0]["column"], 1);
    assert_eq!(problems[0]["key"], "data.batchsize");
    assert_eq!(problems[0]["help"], "did you mean `batch_size`?");
}

#[test]
fn new_writes_a_starter_and_keeps_existing_files() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("starter.toml");
    let store = dir.path().join("store");
    assert!(
        runner(&store, &["new", file.to_str().unwrap()])
            .status
            .success()
    );
    let text = std::fs::read_to_string(&file).unwrap();
    assert!(text.contains("arch = \"efficientnet_lite0\""));
    assert!(
        text.lines().filter(|line| line.contains('#')).count() >= 10,
        "the starter is commented"
    );
    let again = runner(&store, &["new", file.to_str().unwrap()]);
    assert_eq!(again.status.code(), Some(2));
    assert_eq!(std::fs::read_to_string(&file).unwrap(), text);
}

#[test]
fn completions_and_help_examples() {
    let dir = tempfile::tempdir().unwrap();
    for shell in ["bash", "zsh", "fish"] {
        let output = runner(dir.path(), &["completions", shell]);
        assert!(output.status.success());
        assert!(stdout(&output).contains("validate"), "{shell}");
    }
    for command in [
        "run",
        "list",
        "show",
        "compare",
        "plot",
        "predict",
        "export",
        "rm",
        "gc",
        "validate",
        "new",
        "completions",
        "schema",
    ] {
        let help = runner(dir.path(), &[command, "--help"]);
        assert!(
            stdout(&help).contains("Example"),
            "`runner {command} --help` has no example"
        );
    }
}
