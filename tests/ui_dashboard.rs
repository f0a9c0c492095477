//! `runner ui`: its JSON API against the commands' `--format json`, bad requests, and
//! every page loaded in a real headless Chromium against a store with finished, running,
//! failed, pruned and swept runs.
//!
//! `RUNNER_UI_SCREENSHOTS=DIR cargo test --test ui_dashboard` also saves screenshots of
//! the pages there; `scripts/ui-screenshots.sh` takes the README's from a real store.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use common::browser::Browser;
use common::dashboard::Dashboard;
use common::{STEM_ONLY_BACKBONE, json_output, runner, tiny_pipeline, write_red_blue_dataset};
use runner::store::{
    RunRecord, RunStatus, Store, SweepRecord, new_run_id, this_host, this_process,
};
use runner::train::EpochMetrics;
use serde_json::{Value, json};

/// The store the tests read: runs of two pipelines, a failed one, one still running (in
/// this process, so it stays `running`), and a sweep over `head.2.rate` with two seeds of
/// one rate and a pruned trial; the first run has highest-loss images in its dataset.
struct Fixture {
    dir: tempfile::TempDir,
    finished: String,
    failed: String,
    running: String,
    sweep_trials: Vec<String>,
    pruned: String,
    /// A run whose recorded highest-loss images lie outside its datasets.
    hostile: String,
}

const SWEEP: &str = "rates";

impl Fixture {
    fn new() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        write_red_blue_dataset(&dir.path().join("data"), 4);
        let pipeline_file = dir.path().join("tiny.toml");
        let spec = tiny_pipeline(STEM_ONLY_BACKBONE, 4);
        std::fs::write(&pipeline_file, &spec).unwrap();
        std::fs::write(
            dir.path().join("secret.png"),
            b"\x89PNG\r\n\x1a\nTHE-SECRET-BYTES",
        )
        .unwrap();
        let mut counter = 0;
        let mut id = || {
            counter += 1;
            // Sorted as they are made: the store lists runs in id order.
            format!("20261130-12{counter:02}00-000{}", &new_run_id()[19..])
        };
        let run = |id: &str, rate: f64, seed: u64, epochs: usize, quality: f64| {
            synthetic_run(id, &pipeline_file, &spec, rate, seed, epochs, quality)
        };
        let finished = id();
        let mut runs = vec![run(&finished, 0.2, 7, 4, 0.9)];
        runs[0].0.confusion_matrix = vec![vec![2, 0], vec![1, 1]];
        runs[0].0.top_losses = ["validation/red/red0.png", "validation/blue/blue1.png"]
            .iter()
            .map(|image| top_loss(&dir.path().join("data").join(image)))
            .collect();
        let store = Store::new(dir.path().join("store"));
        // What the run saw: its validation folder's files with their sizes and hashes.
        let validation = dir.path().join("data/validation");
        let listed: Vec<(String, Vec<u8>)> = [
            "blue/blue0.png",
            "blue/blue1.png",
            "red/red0.png",
            "red/red1.png",
        ]
        .iter()
        .map(|file| {
            (
                file.to_string(),
                std::fs::read(validation.join(file)).unwrap(),
            )
        })
        .collect();
        let key = save_manifest(&store, &listed);
        runs[0].0.stages.insert("manifest.validation".into(), key);
        let failed = id();
        let mut failed_run = run(&failed, 0.3, 7, 1, 0.5);
        failed_run.0.status = RunStatus::Failed;
        failed_run.0.reason = Some("the validation loss became NaN at epoch 2".into());
        runs.push(failed_run);
        let mut sweep_trials = Vec::new();
        for (trial, (rate, seed)) in [(0.1, 1), (0.2, 1), (0.2, 2), (0.5, 1)]
            .into_iter()
            .enumerate()
        {
            let trial_id = id();
            let mut trial_run = run(
                &trial_id,
                rate,
                seed,
                4,
                0.8 + rate / 10.0 + seed as f64 / 100.0,
            );
            trial_run.0.sweep = Some(SWEEP.into());
            trial_run.0.trial = Some(trial);
            runs.push(trial_run);
            sweep_trials.push(trial_id);
        }
        let pruned = sweep_trials[0].clone();
        let pruned_run = runs.iter_mut().find(|r| r.0.id == pruned).unwrap();
        pruned_run.0.status = RunStatus::Pruned;
        pruned_run.1.truncate(2);
        pruned_run.0.reset_epochs(&pruned_run.1.clone());
        let hostile = id();
        let mut hostile_run = run(&hostile, 0.2, 9, 2, 0.7);
        hostile_run.0.top_losses = vec![
            top_loss(&dir.path().join("secret.png")),
            top_loss(&dir.path().join("data/validation/../../secret.png")),
            top_loss(Path::new("/etc/hostname")),
            top_loss(&dir.path().join("data/validation/red/red1.png")),
        ];
        // A manifest that lists the file beside the data, and a dataset file, with other
        // contents than they have.
        let key = save_manifest(
            &store,
            &[
                (
                    "../../secret.png".into(),
                    b"\x89PNG\r\n\x1a\nsomething else".to_vec(),
                ),
                (
                    "red/red1.png".into(),
                    b"\x89PNG\r\n\x1a\nanother image".to_vec(),
                ),
            ],
        );
        hostile_run
            .0
            .stages
            .insert("manifest.validation".into(), key);
        runs.push(hostile_run);
        let running = id();
        let mut running_run = run(&running, 0.2, 8, 2, 0.85);
        running_run.0.status = RunStatus::Running;
        running_run.0.ended_at = None;
        running_run.0.host = this_host();
        running_run.0.process = this_process();
        runs.push(running_run);
        store.import_runs(&runs).unwrap();
        store
            .record_sweep(&SweepRecord {
                sweep: SWEEP.into(),
                trials: sweep_trials.len(),
                rungs: vec![1, 2],
                budget: Some("20m".into()),
                budget_spent: None,
                epochs_trained: 9,
            })
            .unwrap();
        Fixture {
            dir,
            finished,
            failed,
            running,
            sweep_trials,
            pruned,
            hostile,
        }
    }

    fn store(&self) -> PathBuf {
        self.dir.path().join("store")
    }
}

/// A run of the tiny pipeline whose validation accuracy climbs towards `quality`.
fn synthetic_run(
    id: &str,
    pipeline_file: &Path,
    spec: &str,
    rate: f64,
    seed: u64,
    epochs: usize,
    quality: f64,
) -> (RunRecord, Vec<EpochMetrics>, String) {
    use sha2::Digest;
    let history: Vec<EpochMetrics> = (1..=epochs)
        .map(|epoch| {
            let progress = epoch as f64 / epochs as f64;
            EpochMetrics {
                epoch,
                phase: 1,
                loss: 0.7 - 0.5 * progress * quality,
                accuracy: 0.5 + (quality - 0.45) * progress,
                val_loss: 0.72 - 0.45 * progress * quality + rate / 20.0,
                val_accuracy: 0.5 + (quality - 0.5) * progress.sqrt(),
                extra: BTreeMap::new(),
                lr: 0.01 / epoch as f64,
                seconds: 1.5,
                data_wait_seconds: 0.0,
            }
        })
        .collect();
    let mut record: RunRecord = serde_json::from_value(json!({
        "id": id, "pipeline": "tiny", "pipeline_file": pipeline_file,
        "spec_hash": format!("{:x}", sha2::Sha256::digest(spec.as_bytes())),
        "params": {"head.1.rate": rate, "pipeline.seed": seed, "train.optimizer.lr": 0.01,
                   "pipeline.name": "tiny"},
        "seed": seed, "sweep": null, "trial": null, "status": "finished", "reason": null,
        "started_at": 1_796_040_000_000u64, "ended_at": 1_796_040_060_000u64,
        "heartbeat_at": 1_796_040_060_000u64, "host": "elsewhere",
        "process": {"pid": 1, "start_ticks": null}, "device": "cpu", "runner_version": "0.1.0",
        "libtorch_version": "2.9.0", "dataset_hash": "", "classes": ["blue", "red"],
        "train_images": 8, "validation_images": 4, "skipped_files": [], "epochs": 0,
        "best_epoch": null, "best": {}, "last": {},
        "artifacts": {"best": {"path": format!("checkpoints/{id}/best.bpk"), "bytes": 1234, "phase": 0}}
    }))
    .unwrap();
    record.reset_epochs(&history);
    (record, history, spec.to_string())
}

/// Keeps a manifest listing `files` (path relative to the split's folder, contents) and
/// returns its key.
fn save_manifest(store: &Store, files: &[(String, Vec<u8>)]) -> String {
    use sha2::Digest;
    let text: String = files
        .iter()
        .map(|(path, bytes)| {
            format!(
                "{path}\t{}\t{:x}\t0\n",
                bytes.len(),
                sha2::Sha256::digest(bytes)
            )
        })
        .collect();
    let key = format!("{:x}", sha2::Sha256::digest(text.as_bytes()));
    store.save_manifest(&key, &text).unwrap();
    key
}

fn top_loss(image: &Path) -> runner::store::TopLoss {
    runner::store::TopLoss {
        image: image.display().to_string(),
        true_class: "red".into(),
        predicted: "blue".into(),
        probability: 0.8,
        true_probability: 0.2,
        loss: 1.609,
    }
}

#[test]
fn the_api_answers_as_the_commands_do() {
    let fixture = Fixture::new();
    let store = fixture.store();
    let dashboard = Dashboard::start(&store);
    let cli = |args: &[&str]| json_output(&runner(&store, args));

    // `runner list`'s objects, each with its best epoch's metrics added.
    let without_best_epochs = |runs: Value| -> Value {
        let mut runs = runs;
        for run in runs.as_array_mut().unwrap() {
            let at_best = run
                .as_object_mut()
                .unwrap()
                .remove("at_best_epoch")
                .unwrap();
            let shown = dashboard.json(&format!("/api/runs/{}", run["run"].as_str().unwrap()));
            let best = &shown["history"][run["best_epoch"].as_u64().unwrap() as usize - 1];
            for metric in ["loss", "accuracy", "val_loss", "val_accuracy", "lr"] {
                assert_eq!(at_best[metric], best[metric], "{run}");
            }
        }
        runs
    };
    assert_eq!(
        without_best_epochs(dashboard.json("/api/runs")),
        cli(&["list", "--format", "json"])
    );
    assert_eq!(
        dashboard.json(&format!("/api/runs/{}", fixture.finished)),
        cli(&["show", &fixture.finished, "--format", "json"])
    );
    let (a, b) = (&fixture.sweep_trials[1], &fixture.sweep_trials[2]);
    assert_eq!(
        dashboard.json(&format!("/api/compare?runs={a},{b}")),
        cli(&["compare", a, b, "--format", "json"])
    );
    assert_eq!(
        dashboard.json(&format!(
            "/api/compare?sweep={SWEEP}&no_group=1&sort=val_loss"
        )),
        cli(&[
            "compare",
            "--sweep",
            SWEEP,
            "--no-group",
            "--sort",
            "val_loss",
            "--format",
            "json"
        ])
    );
    assert_eq!(
        without_best_epochs(
            dashboard.json("/api/runs?where=head.1.rate+%3E%3D+0.3&status=finished")
        ),
        cli(&[
            "list",
            "--where",
            "head.1.rate >= 0.3",
            "--status",
            "finished",
            "--format",
            "json"
        ])
    );

    // Paging, ordering and parameter columns.
    let all = dashboard.json("/api/runs").as_array().unwrap().clone();
    let newest = dashboard.json("/api/runs?order=desc&limit=2&offset=1&params=head.1.rate");
    assert_eq!(newest[0]["run"], all[all.len() - 2]["run"]);
    assert_eq!(newest.as_array().unwrap().len(), 2);
    assert!(newest[0]["params"]["head.1.rate"].is_number());
    let best_first = dashboard.json("/api/runs?sort=val_accuracy&order=desc");
    let accuracies: Vec<f64> = best_first
        .as_array()
        .unwrap()
        .iter()
        .map(|run| run["best"]["val_accuracy"].as_f64().unwrap())
        .collect();
    assert!(
        accuracies.windows(2).all(|pair| pair[0] >= pair[1]),
        "{accuracies:?}"
    );
    let lowest_first = dashboard.json("/api/runs?sort=at_best_epoch.val_loss");
    let losses: Vec<f64> = lowest_first
        .as_array()
        .unwrap()
        .iter()
        .map(|run| run["at_best_epoch"]["val_loss"].as_f64().unwrap())
        .collect();
    assert!(
        losses.windows(2).all(|pair| pair[0] <= pair[1]),
        "{losses:?}"
    );

    // Histories in one request, as `show` has them.
    let histories = dashboard.json(&format!("/api/histories?runs={a},{}", fixture.finished));
    for id in [a, &fixture.finished] {
        let shown = cli(&["show", id, "--format", "json"]);
        assert_eq!(histories[id.as_str()], shown["history"]);
    }

    let sweep = dashboard.json(&format!("/api/sweeps/{SWEEP}"));
    assert_eq!(sweep["params"], json!(["head.1.rate", "pipeline.seed"]));
    let statuses: Vec<&str> = sweep["trials"]
        .as_array()
        .unwrap()
        .iter()
        .map(|trial| trial["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses, ["pruned", "finished", "finished", "finished"]);
    assert_eq!(
        dashboard.json("/api/sweeps"),
        json!([{"sweep": SWEEP, "trials": 4, "pipelines": ["tiny"],
                "statuses": {"finished": 3, "pruned": 1}}])
    );

    // The recorded highest-loss images, as the files are.
    let (status, body) = dashboard.get(&format!("/api/runs/{}/top_losses/0", fixture.finished));
    assert_eq!(status, 200);
    assert!(body.starts_with("\u{fffd}PNG"), "{body:?}");
}

#[test]
fn bad_requests_get_4xx_and_touch_nothing() {
    let fixture = Fixture::new();
    let store = fixture.store();
    let listing_before = json_output(&runner(&store, &["list", "--format", "json"]));
    let files_before = files_under(fixture.dir.path(), &store);
    let dashboard = Dashboard::start(&store);
    let host = dashboard.address.clone();
    let finished = &fixture.finished;
    let hostile = &fixture.hostile;
    let long_query = format!("/api/runs?where={}", "a".repeat(20_000));
    let cases: Vec<(&str, String, &str, u16)> = vec![
        (
            "GET",
            "/api/runs/20991231-000000-000aaaaaaaa".into(),
            &host,
            404,
        ),
        ("GET", "/api/runs/no-such-run".into(), &host, 404),
        (
            "GET",
            "/api/runs/..%2F..%2F..%2Fetc%2Fpasswd".into(),
            &host,
            404,
        ),
        ("GET", "/api/runs/%2e%2e".into(), &host, 404),
        ("GET", "/../../../etc/passwd".into(), &host, 404),
        ("GET", "/assets/../../Cargo.toml".into(), &host, 404),
        ("GET", "/assets/..%2F..%2FCargo.toml".into(), &host, 404),
        (
            "GET",
            "/assets/%2e%2e%2f%2e%2e%2fsrc%2fmain.rs".into(),
            &host,
            404,
        ),
        ("GET", "/runs/../../etc/passwd".into(), &host, 404),
        ("GET", "/api/runs?limit=-1".into(), &host, 400),
        ("GET", "/api/histories?runs=no-such-run".into(), &host, 404),
        ("GET", "/api/runs?where=nonsense".into(), &host, 400),
        ("GET", "/api/runs?order=sideways".into(), &host, 400),
        ("GET", "/api/compare?runs=no-such-run".into(), &host, 404),
        ("GET", "/api/sweeps/no-such-sweep".into(), &host, 404),
        (
            "GET",
            format!("/api/runs/{finished}/top_losses/2"),
            &host,
            404,
        ),
        (
            "GET",
            format!("/api/runs/{finished}/top_losses/-1"),
            &host,
            404,
        ),
        (
            "GET",
            format!("/api/runs/{finished}/top_losses/..%2F..%2Fsecret.png"),
            &host,
            404,
        ),
        // Recorded paths outside the run's datasets: a file beside them, `..` out of
        // them, a system file.
        (
            "GET",
            format!("/api/runs/{hostile}/top_losses/0"),
            &host,
            404,
        ),
        (
            "GET",
            format!("/api/runs/{hostile}/top_losses/1"),
            &host,
            404,
        ),
        (
            "GET",
            format!("/api/runs/{hostile}/top_losses/2"),
            &host,
            404,
        ),
        (
            "GET",
            format!("/api/runs/{hostile}/top_losses/3"),
            &host,
            404,
        ),
        ("GET", "/runs/..%2F..%2Fetc%2Fpasswd".into(), &host, 404),
        ("GET", long_query, &host, 414),
        ("POST", "/api/runs".into(), &host, 405),
        ("DELETE", format!("/api/runs/{finished}"), &host, 405),
        ("PUT", "/".into(), &host, 405),
        ("POST", format!("/api/sweeps/{SWEEP}"), &host, 405),
        // DNS rebinding: a page elsewhere that resolves its own name to 127.0.0.1.
        ("GET", "/api/runs".into(), "attacker.example:80", 421),
    ];
    for (method, target, host, expected) in &cases {
        let (status, body) = dashboard.raw(method, target, host);
        assert_eq!(status, *expected, "{method} {target} (Host {host}): {body}");
        assert!(!body.contains("THE-SECRET-BYTES"), "{target}: {body}");
    }
    // What a browser sends for an <img> or fetch() on a page of another site.
    let (status, _) = dashboard.raw_with(
        "GET",
        &format!("/api/runs/{finished}/top_losses/0"),
        &format!("Host: {host}\r\nSec-Fetch-Site: cross-site\r\n"),
    );
    assert_eq!(status, 403);
    drop(dashboard);
    assert_eq!(
        json_output(&runner(&store, &["list", "--format", "json"])),
        listing_before
    );
    assert_eq!(files_under(fixture.dir.path(), &store), files_before);
}

/// Every file under `root` but the store's database (which sled may compact when opened),
/// with its size.
fn files_under(root: &Path, store: &Path) -> Vec<(PathBuf, u64)> {
    let mut files = Vec::new();
    let mut pending = vec![root.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.starts_with(store.join("db")) {
                continue;
            }
            if path.is_dir() {
                pending.push(path);
            } else {
                files.push((path.clone(), std::fs::metadata(&path).unwrap().len()));
            }
        }
    }
    files.sort();
    files
}

#[test]
fn every_page_renders_in_a_real_browser() {
    let Some(browser) = Browser::start() else {
        return;
    };
    let fixture = Fixture::new();
    let store = fixture.store();
    let dashboard = Dashboard::start(&store);
    let screenshots = std::env::var_os("RUNNER_UI_SCREENSHOTS").map(PathBuf::from);
    let no_console_errors = |page: &str| {
        let errors = browser.console_errors();
        assert!(errors.is_empty(), "{page}: console errors {errors:?}");
    };
    let runs = dashboard.json("/api/runs");
    let runs = runs.as_array().unwrap();

    // The runs table: every run, newest first, best metrics as recorded.
    browser.goto(&dashboard.url("/"));
    let rows = browser.wait_for(
        "const rows = [...document.querySelectorAll('#runs tbody tr')]; return rows.length && rows.map(r => r.dataset.run)",
    );
    let newest_first: Vec<&str> = runs
        .iter()
        .rev()
        .map(|run| run["run"].as_str().unwrap())
        .collect();
    assert_eq!(rows, json!(newest_first));
    let finished = runs
        .iter()
        .find(|run| run["run"] == fixture.finished.as_str())
        .unwrap();
    let cell = browser.eval(&format!(
        "return document.querySelector('tr[data-run=\"{}\"] td[data-column=\"at_best:val_accuracy\"]').textContent",
        fixture.finished
    ));
    let at_best = finished["at_best_epoch"]["val_accuracy"].as_f64().unwrap();
    assert_eq!(cell, json!(format!("{at_best:.4}")));
    assert!(
        browser.eval("return document.getElementById('live').hidden") == json!(false),
        "a running run makes the table live"
    );
    if let Some(dir) = &screenshots {
        browser.screenshot(&dir.join("ui-runs.png"));
    }
    no_console_errors("runs table");

    // Filters, the `--where` language, sorting and chosen columns, as the URL says.
    browser.goto(&dashboard.url("/?status=failed"));
    let rows = browser.wait_for("const rows = [...document.querySelectorAll('#runs tbody tr')]; return rows.length && rows.map(r => r.dataset.run)");
    assert_eq!(rows, json!([fixture.failed]));
    browser.goto(&dashboard.url(
        "/?where=head.1.rate+%3E%3D+0.3&sort=val_accuracy&order=desc&cols=run,status,param:head.1.rate,best:val_accuracy",
    ));
    let shown = browser.wait_for(
        "const rows = [...document.querySelectorAll('#runs tbody tr')]; return rows.length && rows.map(r => [r.dataset.run, r.querySelector('td[data-column=\"param:head.1.rate\"]').textContent, Number(r.querySelector('td[data-column=\"best:val_accuracy\"]').textContent)])",
    );
    let expected: Vec<Value> = {
        let mut matching: Vec<&Value> = runs
            .iter()
            .filter(|run| {
                let record = dashboard.json(&format!("/api/runs/{}", run["run"].as_str().unwrap()));
                record["params"]["head.1.rate"].as_f64().unwrap() >= 0.3
            })
            .collect();
        matching.sort_by(|a, b| {
            b["best"]["val_accuracy"]
                .as_f64()
                .unwrap()
                .total_cmp(&a["best"]["val_accuracy"].as_f64().unwrap())
        });
        matching.iter().map(|run| run["run"].clone()).collect()
    };
    let shown_ids: Vec<Value> = shown
        .as_array()
        .unwrap()
        .iter()
        .map(|row| row[0].clone())
        .collect();
    assert_eq!(shown_ids, expected);
    assert!(
        shown.as_array().unwrap().iter().all(|row| row[1]
            .as_str()
            .unwrap()
            .parse::<f64>()
            .unwrap()
            >= 0.3)
    );
    no_console_errors("filtered runs table");

    // A run page: its curves carry the recorded epochs, point for point.
    browser.goto(&dashboard.url(&format!("/runs/{}", fixture.finished)));
    browser.wait_for("return document.querySelector('svg.chart g[data-series=\"val_accuracy\"]')");
    let recorded = dashboard.json(&format!("/api/runs/{}", fixture.finished));
    let history = recorded["history"].as_array().unwrap();
    let points = browser.eval(
        "return [...document.querySelectorAll('svg.chart g[data-series=\"val_accuracy\"] circle')].map(c => [Number(c.dataset.x), Number(c.dataset.y)])",
    );
    let expected: Vec<Value> = history
        .iter()
        .map(|e| json!([e["epoch"], e["val_accuracy"]]))
        .collect();
    assert_eq!(points, json!(expected));
    let lr_points = browser
        .eval("return document.querySelectorAll('svg.chart g[data-series=\"lr\"] circle').length");
    assert_eq!(lr_points, json!(history.len()));
    let text = browser
        .eval("return document.body.innerText")
        .as_str()
        .unwrap()
        .to_string();
    for expected in [
        fixture.finished.as_str(),
        "weight_init",
        "head.1.rate",
        "best.bpk",
        "[pipeline]",
        "red → blue",
    ] {
        assert!(
            text.contains(expected),
            "the run page lacks {expected:?}:\n{text}"
        );
    }
    let confusion = browser.eval("return [...document.querySelectorAll('table.confusion td.cell')].map(c => Number(c.textContent))");
    assert_eq!(confusion, json!([2, 0, 1, 1]));
    let images = browser.wait_for(
        "const images = [...document.querySelectorAll('.losses img')]; return images.length && images.every(i => i.complete && i.naturalWidth > 0) && images.map(i => i.naturalWidth)",
    );
    assert_eq!(images, json!([32, 32]));
    if let Some(dir) = &screenshots {
        browser.screenshot(&dir.join("ui-run.png"));
    }
    no_console_errors("run page");

    // A running run's page follows new epochs without reloading.
    browser.goto(&dashboard.url(&format!("/runs/{}", fixture.running)));
    browser.wait_for("return document.querySelectorAll('#epochs tbody tr').length === 2");
    browser.eval("window.notReloaded = true; return null");
    let running = dashboard.json(&format!("/api/runs/{}", fixture.running));
    let mut record: RunRecord = runner::store::Store::new(&store)
        .find_run(&fixture.running)
        .unwrap();
    let mut epoch: EpochMetrics = serde_json::from_value(running["history"][1].clone()).unwrap();
    epoch.epoch = 3;
    epoch.val_accuracy = 0.875;
    record.add_epoch(&epoch);
    Store::new(&store).put_epoch(&record, &epoch).unwrap();
    browser.wait_for("return document.querySelectorAll('#epochs tbody tr').length === 3");
    assert_eq!(
        browser.eval("return window.notReloaded === true"),
        json!(true)
    );
    let last_point = browser.eval(
        "const points = [...document.querySelectorAll('svg.chart g[data-series=\"val_accuracy\"] circle')]; return Number(points[points.length - 1].dataset.y)",
    );
    assert_eq!(last_point, json!(0.875));
    no_console_errors("running run page");

    // Compare: the parameters that differ, seeds grouped as mean ± std, curves overlaid.
    browser.goto(&dashboard.url(&format!("/compare?sweep={SWEEP}")));
    browser.wait_for(
        "return document.querySelector('svg.chart[data-title=\"val_accuracy\"] g.series')",
    );
    let compared = dashboard.json(&format!("/api/compare?sweep={SWEEP}"));
    let rows = browser
        .eval("return [...document.querySelectorAll('#compare tbody tr')].map(r => r.dataset.run)");
    let expected: Vec<Value> = compared
        .as_array()
        .unwrap()
        .iter()
        .map(|row| row["run"].clone())
        .collect();
    assert_eq!(rows, json!(expected));
    let text = browser
        .eval("return document.getElementById('compare').innerText")
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        text.contains(" ± "),
        "two seeds of one rate show mean ± std:\n{text}"
    );
    let series = browser.eval("return document.querySelectorAll('svg.chart[data-title=\"val_accuracy\"] g.series').length");
    assert_eq!(series, json!(expected.len()));
    let bands = browser.eval("return document.querySelectorAll('svg.chart[data-title=\"val_accuracy\"] g.series polygon').length");
    assert_eq!(bands, json!(1), "one configuration has two seeds");
    no_console_errors("compare page");

    // The sweep: one scatter per swept parameter, a point per trial, pruned ones marked.
    browser.goto(&dashboard.url(&format!("/sweeps/{SWEEP}")));
    browser.wait_for("return document.querySelector('#scatters svg')");
    // What the sweep's `runner run` did, as `runner compare --sweep` says it.
    let summary = browser.eval("return document.querySelector('#sweep-summary').textContent");
    let compared =
        String::from_utf8(runner(&fixture.store(), &["compare", "--sweep", SWEEP]).stdout).unwrap();
    assert_eq!(compared.lines().last(), summary.as_str(), "{compared}");
    assert!(
        summary.as_str().unwrap().contains("successive halving: ")
            && summary.as_str().unwrap().contains("budget 20m: not spent"),
        "{summary}"
    );
    let rate_points = browser.eval(
        "return [...document.querySelectorAll('svg[data-param=\"head.1.rate\"] circle')].map(c => [c.dataset.run, c.dataset.status, c.classList.contains('pruned')])",
    );
    let rate_points = rate_points.as_array().unwrap();
    assert_eq!(rate_points.len(), fixture.sweep_trials.len());
    for point in rate_points {
        let pruned = point[0] == fixture.pruned.as_str();
        assert_eq!(point[2], json!(pruned), "{point}");
        assert_eq!(point[1], json!(if pruned { "pruned" } else { "finished" }));
    }
    if let Some(dir) = &screenshots {
        browser.screenshot(&dir.join("ui-sweep.png"));
    }
    no_console_errors("sweep page");
    browser.goto(&dashboard.url("/sweeps"));
    browser.wait_for("return document.querySelector('#sweeps a')");
    no_console_errors("sweeps page");

    // An unknown run says so on the page (the 404 is the one expected console entry).
    browser.goto(&dashboard.url("/runs/20991231-000000-000aaaaaaaa"));
    let message = browser.wait_for(
        "return document.querySelector('.error') && document.querySelector('.error').textContent",
    );
    assert!(message.as_str().unwrap().contains("no run"), "{message}");
}

/// The README's screenshots, from a real store:
/// `RUNNER_UI_STORE=runs RUNNER_UI_SCREENSHOTS=docs cargo test --test ui_dashboard -- --ignored`
/// (the run page shows the run with recorded highest losses, else the best one).
#[test]
#[ignore = "takes the README's screenshots from the store RUNNER_UI_STORE names"]
fn screenshots_of_a_real_store() {
    let store = PathBuf::from(std::env::var_os("RUNNER_UI_STORE").expect("RUNNER_UI_STORE"));
    let out =
        PathBuf::from(std::env::var_os("RUNNER_UI_SCREENSHOTS").expect("RUNNER_UI_SCREENSHOTS"));
    let browser = Browser::start().expect("chromium and chromedriver");
    let dashboard = Dashboard::start(&store);
    let shoot = |path: &str, ready: &str, height: u32, name: &str| {
        browser.resize(1400, height);
        browser.goto(&dashboard.url(path));
        browser.wait_for(ready);
        assert!(browser.console_errors().is_empty(), "{path}");
        browser.screenshot(&out.join(name));
    };
    shoot(
        "/",
        "return document.querySelector('#runs tbody tr')",
        900,
        "ui-runs.png",
    );
    let runs = dashboard.json("/api/runs?sort=val_accuracy&order=desc");
    let runs = runs.as_array().unwrap();
    let shown = runs
        .iter()
        .map(|run| dashboard.json(&format!("/api/runs/{}", run["run"].as_str().unwrap())))
        .find(|run| !run["top_losses"].as_array().unwrap().is_empty())
        .unwrap_or_else(|| {
            dashboard.json(&format!("/api/runs/{}", runs[0]["run"].as_str().unwrap()))
        });
    shoot(
        &format!("/runs/{}", shown["run"].as_str().unwrap()),
        "const images = [...document.querySelectorAll('.losses img')]; return document.querySelector('svg.chart') && images.every(i => i.complete)",
        1500,
        "ui-run.png",
    );
    let sweeps = dashboard.json("/api/sweeps");
    if let Some(sweep) = sweeps[0]["sweep"].as_str() {
        shoot(
            &format!("/sweeps/{sweep}"),
            "return document.querySelector('#scatters svg')",
            900,
            "ui-sweep.png",
        );
    }
}
