//! Hostile and broken inputs to the store's commands: `rm` and `gc` with ids and folders
//! that would delete too much, bundles in a shared folder that try to write or delete
//! outside the store, names that carry terminal escape sequences, and `csv_logger` paths
//! that leave the run's folder. Each test checks the message (exit code 2 for input
//! errors) and that nothing beside the store changed.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;

use common::*;
use runner_core::store::{RunRecord, Store, sweep_bundles, this_host, this_process};
use serde_json::{Value, json};
use sha2::Digest;

const SPEC: &str = "[pipeline]\nname = \"p\"\n";
const A: &str = "20261130-051500-123abcdefgh";
const B: &str = "20261130-051501-123abcdefgh";
const C: &str = "20261130-051502-123abcdefgh";

/// A store in a temporary folder, with a folder beside it that nothing may touch.
struct Setup {
    dir: tempfile::TempDir,
}

impl Setup {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let outside = dir.path().join("outside");
        for folder in ["checkpoints/x", "cache/decoded"] {
            std::fs::create_dir_all(outside.join(folder)).unwrap();
        }
        for file in [
            "keep.partial",
            "checkpoints/x/best.bpk",
            "cache/decoded/k.bin",
        ] {
            std::fs::write(outside.join(file), b"keep").unwrap();
        }
        Self { dir }
    }

    fn store(&self) -> PathBuf {
        self.dir.path().join("store")
    }

    fn outside(&self) -> PathBuf {
        self.dir.path().join("outside")
    }

    /// Everything beside the store: files with their contents, links with their targets.
    fn sentinel(&self) -> BTreeMap<PathBuf, String> {
        tree(&self.outside())
    }

    /// Records a run straight into the store (as an earlier runner, or a hostile bundle
    /// before bundles were checked, could have), with a `best.bpk` when its id is a
    /// run id.
    fn add_run(&self, record: &RunRecord) {
        let store = Store::new(self.store());
        store
            .import_runs(&[(record.clone(), vec![], SPEC.into())])
            .unwrap();
        if let Ok(folder) = store.checkpoint_dir(&record.id) {
            std::fs::create_dir_all(&folder).unwrap();
            std::fs::write(folder.join("best.bpk"), b"weights").unwrap();
        }
    }

    fn checkpoints(&self, id: &str) -> PathBuf {
        self.store().join("checkpoints").join(id)
    }

    fn run_ids(&self) -> Vec<String> {
        list_runs(&self.store())
            .iter()
            .map(|run| run["run"].as_str().unwrap().to_string())
            .collect()
    }
}

fn tree(root: &Path) -> BTreeMap<PathBuf, String> {
    let mut found = BTreeMap::new();
    let Ok(entries) = std::fs::read_dir(root) else {
        return found;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let meta = std::fs::symlink_metadata(&path).unwrap();
        if meta.is_symlink() {
            let target = std::fs::read_link(&path).unwrap();
            found.insert(path, format!("-> {}", target.display()));
        } else if meta.is_dir() {
            found.insert(path.clone(), "folder".into());
            found.extend(tree(&path));
        } else {
            found.insert(
                path.clone(),
                String::from_utf8_lossy(&std::fs::read(&path).unwrap()).into(),
            );
        }
    }
    found
}

/// A finished run of pipeline `p`, trial 0 of `sweep-x`, with a `best` checkpoint.
fn record(id: &str) -> RunRecord {
    serde_json::from_value(json!({
        "id": id, "pipeline": "p", "pipeline_file": "p.toml",
        "spec_hash": format!("{:x}", sha2::Sha256::digest(SPEC.as_bytes())),
        "params": {"head.2.rate": 0.2}, "seed": 1, "sweep": "sweep-x", "trial": 0,
        "stages": {"training": "key"}, "status": "finished", "reason": null,
        "started_at": 1_000, "ended_at": 2_000, "heartbeat_at": 2_000, "host": "elsewhere",
        "process": {"pid": 1, "start_ticks": null}, "device": "cpu", "runner_version": "0",
        "libtorch_version": "2.9.0", "dataset_hash": "", "classes": ["a", "b"],
        "train_images": 2, "validation_images": 2, "skipped_files": [], "epochs": 1,
        "best_epoch": 1, "best": {"val_accuracy": 0.5}, "last": {"val_accuracy": 0.5},
        "artifacts": {"best": {"path": format!("checkpoints/{id}/best.bpk"), "bytes": 7}}
    }))
    .unwrap()
}

/// A run recorded as running by this (live) test process.
fn running(id: &str) -> RunRecord {
    let mut run = record(id);
    run.status = runner_core::store::RunStatus::Running;
    run.host = this_host();
    run.process = this_process();
    run
}

/// Asserts exit code 2, a message containing `expected`, and no panic; returns stderr.
fn input_error(output: &std::process::Output, expected: &str) -> String {
    let message = common::input_error(output);
    assert_contains(&message, expected);
    message
}

// --- rm ---

#[test]
fn rm_of_an_empty_id_removes_nothing() {
    let setup = Setup::new();
    setup.add_run(&record(A));
    setup.add_run(&record(B));
    let before = setup.sentinel();
    // What `runner rm "$ID"` runs when ID is unset.
    let output = runner(&setup.store(), &["rm", ""]);
    input_error(&output, "an empty run id names no run: nothing removed");
    assert_eq!(setup.run_ids(), [A, B]);
    assert!(setup.checkpoints(A).join("best.bpk").is_file());
    assert_eq!(setup.sentinel(), before);
}

#[test]
fn rm_refuses_a_prefix_shorter_than_the_date_and_time() {
    let setup = Setup::new();
    setup.add_run(&record(A));
    let before = setup.sentinel();
    for prefix in ["2", "20261130", "20261130-0515"] {
        let output = runner(&setup.store(), &["rm", prefix]);
        input_error(&output, "a prefix must have at least 15 characters");
    }
    assert_eq!(setup.run_ids(), [A]);
    assert_eq!(setup.sentinel(), before);
}

#[test]
fn rm_of_an_id_that_matches_no_run_is_an_error() {
    let setup = Setup::new();
    setup.add_run(&record(A));
    let output = runner(&setup.store(), &["rm", A, "20991231-000000"]);
    input_error(&output, "no run `20991231-000000`");
    assert_eq!(
        setup.run_ids(),
        [A],
        "nothing is removed when one id is wrong"
    );
}

#[test]
fn rm_of_several_runs_without_a_terminal_asks_for_yes() {
    let setup = Setup::new();
    for id in [A, B] {
        setup.add_run(&record(id));
    }
    let output = runner(&setup.store(), &["rm", A, "20261130-051501"]);
    let message = input_error(&output, "pass --yes to remove more than one run");
    assert!(message.contains(A) && message.contains(B), "{message}");
    assert_eq!(setup.run_ids(), [A, B]);
}

#[test]
fn rm_with_yes_removes_the_runs_and_their_checkpoints_only() {
    let setup = Setup::new();
    for id in [A, B, C] {
        setup.add_run(&record(id));
    }
    let before = setup.sentinel();
    succeeded(runner(
        &setup.store(),
        &["rm", A, "20261130-051501", A, "--yes"],
    ));
    assert_eq!(setup.run_ids(), [C]);
    assert!(!setup.checkpoints(A).exists() && !setup.checkpoints(B).exists());
    assert!(setup.checkpoints(C).join("best.bpk").is_file());
    assert_eq!(setup.sentinel(), before);
}

#[test]
fn rm_dry_run_says_what_it_would_remove_and_removes_nothing() {
    let setup = Setup::new();
    for id in [A, B] {
        setup.add_run(&record(id));
    }
    let output = succeeded(runner(&setup.store(), &["rm", A, B, "--dry-run"]));
    let message = stderr(&output);
    assert_contains(&message, &format!("would remove {A} (p, finished)"));
    assert_contains(&message, &format!("would remove {B}"));
    assert_eq!(setup.run_ids(), [A, B]);
    assert!(setup.checkpoints(A).join("best.bpk").is_file());
}

#[test]
fn rm_of_a_running_run_is_refused() {
    let setup = Setup::new();
    setup.add_run(&running(A));
    let output = runner(&setup.store(), &["rm", A]);
    input_error(&output, "is still running");
    assert!(setup.checkpoints(A).join("best.bpk").is_file());
}

#[test]
fn rm_of_a_record_whose_id_is_a_path_deletes_nothing_outside() {
    let setup = Setup::new();
    setup.add_run(&record(A));
    for id in ["../outside", "..", "../outside/checkpoints"] {
        setup.add_run(&record(id));
    }
    let before = setup.sentinel();
    for id in ["../outside", "..", "../outside/checkpoints"] {
        succeeded(runner(&setup.store(), &["rm", id]));
    }
    assert_eq!(setup.sentinel(), before);
    assert_eq!(setup.run_ids(), [A]);
    assert!(setup.checkpoints(A).join("best.bpk").is_file());
}

// --- gc ---

#[test]
fn gc_refuses_a_folder_that_is_not_a_store() {
    let setup = Setup::new();
    let before = tree(setup.dir.path());
    // A folder with a store's shape but no database: `--store` pointed at the wrong place.
    let output = runner(&setup.outside(), &["gc", "--cache"]);
    input_error(
        &output,
        "is not a run store (it has no `db` folder): nothing removed",
    );
    assert_eq!(tree(setup.dir.path()), before);
}

#[test]
fn gc_leaves_the_partial_files_of_a_running_run() {
    let setup = Setup::new();
    setup.add_run(&running(A));
    setup.add_run(&record(B));
    for id in [A, B] {
        std::fs::write(setup.checkpoints(id).join("last.bpk.partial"), b"half").unwrap();
        std::fs::create_dir_all(setup.checkpoints(id).join("resume-3.partial")).unwrap();
    }
    succeeded(runner(&setup.store(), &["gc"]));
    assert!(setup.checkpoints(A).join("last.bpk.partial").is_file());
    assert!(setup.checkpoints(A).join("resume-3.partial").is_dir());
    assert!(!setup.checkpoints(B).join("last.bpk.partial").exists());
    assert!(!setup.checkpoints(B).join("resume-3.partial").exists());
    assert!(setup.checkpoints(B).join("best.bpk").is_file());
}

#[test]
fn gc_dry_run_lists_and_removes_nothing() {
    let setup = Setup::new();
    setup.add_run(&record(A));
    let orphan = setup.checkpoints(B);
    std::fs::create_dir_all(&orphan).unwrap();
    std::fs::write(orphan.join("best.bpk"), b"w").unwrap();
    let cached = setup.store().join("cache/decoded/k.bin");
    std::fs::create_dir_all(cached.parent().unwrap()).unwrap();
    std::fs::write(&cached, b"c").unwrap();
    // The files gc may remove (the database changes whenever it is opened).
    let files = || {
        (
            tree(&setup.store().join("checkpoints")),
            tree(&setup.store().join("cache")),
        )
    };
    let before = files();

    let output = succeeded(runner(&setup.store(), &["gc", "--cache", "--dry-run"]));
    let message = stderr(&output);
    assert_contains(&message, &format!("would remove {}", orphan.display()));
    assert_contains(&message, &format!("would remove {}", cached.display()));
    assert_eq!(files(), before);

    succeeded(runner(&setup.store(), &["gc", "--cache"]));
    assert!(!orphan.exists() && !cached.exists());
    assert!(setup.checkpoints(A).join("best.bpk").is_file());
}

#[test]
fn gc_never_walks_through_links_or_removes_folders_it_did_not_make() {
    let setup = Setup::new();
    setup.add_run(&record(A));
    let outside = setup.outside();
    // The run's own folder, an orphan's and a cache stage, each a link to the outside.
    std::fs::remove_dir_all(setup.checkpoints(A)).unwrap();
    std::os::unix::fs::symlink(&outside, setup.checkpoints(A)).unwrap();
    std::os::unix::fs::symlink(outside.join("checkpoints"), setup.checkpoints(B)).unwrap();
    std::fs::create_dir_all(setup.store().join("cache")).unwrap();
    std::os::unix::fs::symlink(
        outside.join("cache/decoded"),
        setup.store().join("cache/decoded"),
    )
    .unwrap();
    let notes = setup.store().join("checkpoints/notes");
    std::fs::create_dir_all(&notes).unwrap();
    let before = setup.sentinel();

    succeeded(runner(&setup.store(), &["gc", "--cache"]));
    assert_eq!(setup.sentinel(), before);
    assert!(
        notes.is_dir(),
        "a folder not named by a run id is not gc's to remove"
    );
}

// --- bundles taken in by `runner sync` ---

/// A bundle folder `name` in sweep `sweep-x`'s bundles of the shared folder, with
/// `contents` as its `bundle.json` and a checkpoint.
fn write_bundle(shared: &Path, name: &str, contents: &Value) -> PathBuf {
    let folder = sweep_bundles(shared, "sweep-x").join(name);
    std::fs::create_dir_all(folder.join("checkpoints")).unwrap();
    std::fs::write(folder.join("checkpoints/best.bpk"), b"weights").unwrap();
    std::fs::write(folder.join("bundle.json"), contents.to_string()).unwrap();
    folder
}

fn bundle_of(record: &RunRecord) -> Value {
    json!({ "format": 1, "record": record, "epochs": [], "spec_text": SPEC })
}

fn rejected(shared: &Path) -> Vec<String> {
    let folder = sweep_bundles(shared, "sweep-x").join("rejected");
    let mut names: Vec<String> = std::fs::read_dir(folder)
        .map(|entries| {
            entries
                .flatten()
                .map(|entry| entry.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

#[test]
fn sync_moves_hostile_bundles_aside_and_takes_the_good_one_in() {
    let setup = Setup::new();
    let shared = setup.dir.path().join("shared");
    let outside = setup.outside();
    let mut by_path = record(A);
    by_path.id = "../../../outside".into();
    write_bundle(&shared, "by-path", &bundle_of(&by_path));
    let mut absolute = record(B);
    absolute.id = outside.display().to_string();
    write_bundle(&shared, "absolute", &bundle_of(&absolute));
    let linked = write_bundle(&shared, A, &bundle_of(&record(A)));
    std::fs::remove_dir_all(linked.join("checkpoints")).unwrap();
    std::os::unix::fs::symlink(&outside, linked.join("checkpoints")).unwrap();
    let mut artifact = record(B);
    artifact.artifacts.get_mut("best").unwrap().path =
        outside.join("checkpoints/x/best.bpk").display().to_string();
    write_bundle(&shared, B, &bundle_of(&artifact));
    write_bundle(&shared, C, &bundle_of(&record(C)));
    let before = setup.sentinel();

    let output = succeeded(runner(&setup.store(), &["sync", shared.to_str().unwrap()]));
    let message = stderr(&output);
    for reason in [
        "is not a run id",
        "is a link or a special file",
        "not a file of its run's checkpoint folder",
    ] {
        assert!(message.contains(reason), "{reason}: {message}");
    }
    assert_contains(&message, "took in 1 run(s)");
    assert_eq!(setup.run_ids(), [C]);
    assert_eq!(rejected(&shared), [A, B, "absolute", "by-path"]);
    assert_eq!(setup.sentinel(), before);
}

#[test]
fn sync_takes_a_run_claiming_to_run_forever_in_as_interrupted() {
    let setup = Setup::new();
    let shared = setup.dir.path().join("shared");
    let mut forever = record(A);
    forever.status = runner_core::store::RunStatus::Running;
    forever.host = this_host(); // pid 1 on this host: alive as long as the machine is
    write_bundle(&shared, A, &bundle_of(&forever));
    succeeded(runner(&setup.store(), &["sync", shared.to_str().unwrap()]));
    let runs = list_runs(&setup.store());
    assert_eq!(runs[0]["status"], "interrupted");
    // So it can be removed like any other ended run.
    succeeded(runner(&setup.store(), &["rm", A]));
}

#[test]
fn sync_after_an_unreadable_bundle_still_takes_the_others_in() {
    let setup = Setup::new();
    let shared = setup.dir.path().join("shared");
    let broken = sweep_bundles(&shared, "sweep-x").join("20261130-051400-123abcdefgh");
    std::fs::create_dir_all(&broken).unwrap();
    std::fs::write(broken.join("bundle.json"), b"{\"format\": 1, \"record\": {").unwrap();
    write_bundle(&shared, A, &bundle_of(&record(A)));
    let output = succeeded(runner(&setup.store(), &["sync", shared.to_str().unwrap()]));
    assert_contains(&stderr(&output), "`bundle.json` is not readable");
    assert_eq!(setup.run_ids(), [A]);
    write_bundle(&shared, B, &bundle_of(&record(B)));
    succeeded(runner(&setup.store(), &["sync", shared.to_str().unwrap()]));
    assert_eq!(setup.run_ids(), [A, B]);
}

#[test]
fn two_syncs_at_once_both_succeed_and_take_each_bundle_once() {
    let setup = Setup::new();
    let shared = setup.dir.path().join("shared");
    let ids: Vec<String> = (0..16)
        .map(|n| format!("20261130-0515{n:02}-123abcdefgh"))
        .collect();
    for id in &ids {
        write_bundle(&shared, id, &bundle_of(&record(id)));
    }
    let sync = || {
        runner_process(&setup.store(), &["sync", shared.to_str().unwrap()])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    };
    let (first, second) = (sync(), sync());
    for child in [first, second] {
        let output = child.wait_with_output().unwrap();
        assert!(output.status.success(), "{}", stderr(&output));
    }
    assert_eq!(setup.run_ids(), ids);
    assert!(rejected(&shared).is_empty());
}

#[test]
fn a_bundle_whose_id_the_store_has_for_another_run_comes_in_under_a_new_id() {
    let setup = Setup::new();
    setup.add_run(&record(A));
    let shared = setup.dir.path().join("shared");
    let mut twin = record(A);
    twin.process.pid = 4242; // another Slurm task that started in the same millisecond
    twin.started_at = 1_001;
    write_bundle(&shared, A, &bundle_of(&twin));
    let output = succeeded(runner(&setup.store(), &["sync", shared.to_str().unwrap()]));
    assert_contains(&stderr(&output), "taken in as run");
    let ids = setup.run_ids();
    assert_eq!(ids.len(), 2, "{ids:?}");
    assert!(ids.contains(&A.to_string()));
    let fresh = ids.iter().find(|id| *id != A).unwrap();
    assert!(setup.checkpoints(fresh).join("best.bpk").is_file());
    assert!(setup.checkpoints(A).join("best.bpk").is_file());
}

// --- what list, show and compare print ---

#[test]
fn terminal_escape_sequences_from_the_store_are_shown_not_obeyed() {
    let setup = Setup::new();
    let hostile = "p\x1b]0;owned\x07\x1b[2J\u{202e}";
    let mut run = record(A);
    run.pipeline = hostile.into();
    run.params.insert("head.\x1b[31m".into(), json!("\x1b[8m"));
    run.reason = Some("\x1b[1Areason".into());
    setup.add_run(&run);
    setup.add_run(&record(B));
    for args in [
        &["list"][..],
        &["show", A],
        &["compare", "--all-params"],
        &["compare", "--format", "markdown"],
    ] {
        let output = runner(&setup.store(), args);
        assert!(output.status.success(), "{args:?}: {}", stderr(&output));
        let text = stdout(&output);
        assert!(
            !text.contains('\x1b') && !text.contains('\u{202e}'),
            "{args:?}: {text:?}"
        );
        assert!(
            text.contains("p\\x1b]0;owned\\x07\\x1b[2J\\u{202e}"),
            "{args:?}: {text}"
        );
    }
    let json = json_output(&runner(&setup.store(), &["show", A, "--format", "json"]));
    assert_eq!(json["pipeline"], hostile, "JSON keeps the text exact");
    assert_eq!(list_runs(&setup.store())[0]["pipeline"], hostile);
}

// --- csv_logger ---

#[test]
fn csv_logger_files_that_leave_the_run_folder_or_replace_its_files_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    write_red_blue_dataset(&dir.path().join("data"), 2);
    let file = dir.path().join("p.toml");
    for hostile in [
        "../escape.csv",
        "../../outside/x.csv",
        "/tmp/absolute.csv",
        "sub/x.csv",
        "best.bpk",
        "last.bpk",
        "best",
        "last",
        "resume-1",
        ".csv",
        "..",
        "",
    ] {
        let text = tiny_pipeline(STEM_ONLY_BACKBONE, 1)
            + &format!("\n[[callbacks]]\ntype = \"csv_logger\"\nfile = {hostile:?}\n");
        std::fs::write(&file, &text).unwrap();
        let line = text
            .lines()
            .position(|line| line.starts_with("file ="))
            .unwrap()
            + 1;
        let output = runner(
            &dir.path().join("store"),
            &["validate", file.to_str().unwrap()],
        );
        let message = input_error(&output, "must be a file name ending in `.csv`");
        assert!(
            message.contains(&format!("p.toml:{line}:")),
            "{hostile:?}: {message}"
        );
    }
}

#[test]
fn a_run_with_a_csv_logger_outside_its_folder_records_nothing_and_writes_nothing() {
    let setup = Setup::new();
    write_red_blue_dataset(&setup.dir.path().join("data"), 2);
    let file = setup.dir.path().join("p.toml");
    let text = tiny_pipeline(STEM_ONLY_BACKBONE, 1)
        + "\n[[callbacks]]\ntype = \"csv_logger\"\nfile = \"../../../outside/history.csv\"\n";
    std::fs::write(&file, text).unwrap();
    let before = setup.sentinel();
    let output = runner(&setup.store(), &["run", file.to_str().unwrap()]);
    input_error(
        &output,
        "`csv_logger` file \"../../../outside/history.csv\"",
    );
    assert_eq!(setup.sentinel(), before);
    assert!(setup.run_ids().is_empty());
}

#[test]
fn a_sweep_cannot_move_the_csv_logger_out_of_the_run_folder() {
    let dir = tempfile::tempdir().unwrap();
    write_red_blue_dataset(&dir.path().join("data"), 2);
    let file = dir.path().join("p.toml");
    let text = tiny_pipeline(STEM_ONLY_BACKBONE, 1)
        + "\n[[callbacks]]\ntype = \"csv_logger\"\n\n[sweep]\n\"callbacks.0.file\" = [\"a.csv\", \"../b.csv\"]\n";
    std::fs::write(&file, text).unwrap();
    let output = runner(
        &dir.path().join("store"),
        &["validate", file.to_str().unwrap()],
    );
    input_error(&output, "must be a file name ending in `.csv`");
}
