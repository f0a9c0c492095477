//! A store of 10,000 synthetic runs of 30 epochs each (15 parameters per run, 100 sweeps),
//! shared by the store and dashboard benchmarks.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Instant;

use runner::store::{ProcessId, RunRecord, RunStatus, Store};
use runner::train::EpochMetrics;
use serde_json::json;

pub const RUNS: usize = 10_000;
pub const EPOCHS: usize = 30;

/// Fills a fresh store at `path` with [`RUNS`] runs.
pub fn fill(path: &Path) -> Store {
    let store = Store::new(path);
    let started = Instant::now();
    let runs: Vec<_> = (0..RUNS).map(synthetic_run).collect();
    for chunk in runs.chunks(1000) {
        store
            .import_runs(chunk)
            .expect("the store accepts the runs");
    }
    println!(
        "filled {RUNS} runs x {EPOCHS} epochs in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    store
}

fn synthetic_run(index: usize) -> (RunRecord, Vec<EpochMetrics>, String) {
    let rate = [0.0, 0.1, 0.2, 0.3, 0.5][index % 5];
    let lr = [1e-3, 3e-4, 1e-4][index / 5 % 3];
    let seed = (index / 15) as u64;
    let spec_text = format!("[pipeline]\nname = \"bench\"\nseed = {seed}\n# rate {rate} lr {lr}\n");
    let mut params: BTreeMap<String, serde_json::Value> = [
        ("pipeline.name", json!("bench")),
        ("pipeline.seed", json!(seed)),
        ("head.2.rate", json!(rate)),
        ("train.optimizer.lr", json!(lr)),
        ("train.optimizer.type", json!("adam")),
        ("train.epochs", json!(EPOCHS)),
        ("data.image_size", json!([224, 224])),
        ("data.batch_size", json!(32)),
        ("backbone.arch", json!("efficientnet_lite0")),
        ("backbone.freeze", json!("all")),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    for layer in 0..4 {
        params.insert(format!("head.{layer}.type"), json!("dense"));
    }
    let epochs: Vec<EpochMetrics> = (1..=EPOCHS)
        .map(|epoch| {
            let progress = epoch as f64 / EPOCHS as f64;
            EpochMetrics {
                epoch,
                phase: 1,
                extra: Default::default(),
                loss: 0.7 * (1.0 - progress) + 0.01 * (index % 7) as f64,
                accuracy: 0.5 + 0.49 * progress,
                val_loss: 0.6 * (1.0 - progress) + 0.05 + rate / 10.0,
                val_accuracy: 0.5 + 0.45 * progress - rate / 20.0,
                lr,
                seconds: 1.0,
                data_wait_seconds: 0.0,
            }
        })
        .collect();
    let mut record = RunRecord {
        id: format!("20261128-{:06}-{:03}", index / 1000, index % 1000),
        pipeline: "bench".into(),
        pipeline_file: "bench.toml".into(),
        spec_hash: format!("hash{index}"),
        params,
        seed,
        seeds: runner::spec::Seeds::all(seed),
        sweep: Some(format!("sweep{}", index / 100)),
        trial: Some(index % 100),
        reused_in: Vec::new(),
        stages: Default::default(),
        status: RunStatus::Finished,
        reason: None,
        started_at: 1_000 + index as u64,
        ended_at: Some(2_000 + index as u64),
        heartbeat_at: 2_000,
        host: "bench".into(),
        process: ProcessId {
            pid: 1,
            start_ticks: None,
        },
        device: "cpu".into(),
        runner_version: "0.1.0".into(),
        libtorch_version: "2.9.0".into(),
        dataset_hash: "0".repeat(64),
        classes: vec!["cats".into(), "dogs".into()],
        train_images: 2000,
        validation_images: 2000,
        test_images: None,
        test_epoch: None,
        test: Default::default(),
        skipped_files: vec![],
        epochs: 0,
        best_epoch: None,
        best: BTreeMap::new(),
        last: BTreeMap::new(),
        artifacts: BTreeMap::new(),
        confusion_matrix: Vec::new(),
        top_losses: Vec::new(),
    };
    for epoch in &epochs {
        record.add_epoch(epoch);
    }
    (record, epochs, spec_text)
}
