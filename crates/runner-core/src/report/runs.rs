//! Runs as tables and JSON for `runner list` and `runner show`.

use std::time::{Duration, UNIX_EPOCH};

use comfy_table::{Table, presets::UTF8_FULL_CONDENSED};
use serde_json::{Value, json};

use super::escape_text;
use crate::metrics::EpochMetrics;
use crate::store::{RunRecord, RunSummary, Store};

/// `runner list` as aligned columns, oldest run first. Plain columns rather than a drawn
/// table: a store of thousands of runs prints in milliseconds.
pub fn runs_table(runs: &[RunSummary]) -> String {
    let header = [
        "run",
        "pipeline",
        "status",
        "epochs",
        "best val_accuracy",
        "best val_loss",
        "started",
    ];
    let rows: Vec<[String; 7]> = runs
        .iter()
        .map(|run| {
            [
                escape_text(&run.id),
                escape_text(&run.pipeline),
                run.status.as_str().to_string(),
                run.epochs.to_string(),
                metric_cell(run.best.get("val_accuracy")),
                metric_cell(run.best.get("val_loss")),
                timestamp(run.started_at),
            ]
        })
        .collect();
    let mut widths = header.map(str::len);
    for row in &rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let mut out = String::with_capacity((rows.len() + 1) * (widths.iter().sum::<usize>() + 16));
    let mut push_line = |cells: &mut dyn Iterator<Item = &str>| {
        for (index, cell) in cells.enumerate() {
            if index > 0 {
                out.push_str("  ");
            }
            out.push_str(cell);
            if index + 1 < widths.len() {
                out.extend(std::iter::repeat_n(
                    ' ',
                    widths[index] - cell.chars().count(),
                ));
            }
        }
        out.push('\n');
    };
    push_line(&mut header.iter().copied());
    for row in &rows {
        push_line(&mut row.iter().map(String::as_str));
    }
    out
}

/// `runner list --format json`: one summary object per run.
pub fn runs_json(runs: &[RunSummary]) -> Value {
    Value::Array(runs.iter().map(run_summary_json).collect())
}

/// One run of `runner list --format json` (and of the dashboard's `/api/runs`).
pub fn run_summary_json(run: &RunSummary) -> Value {
    json!({
        "run": run.id,
        "pipeline": run.pipeline,
        "sweep": run.sweep,
        "status": run.status.as_str(),
        "reason": run.reason,
        "epochs": run.epochs,
        "best_epoch": run.best_epoch,
        "best": run.best,
        "last": run.last,
        "started_at": timestamp(run.started_at),
        "ended_at": run.ended_at.map(timestamp),
    })
}

/// `runner show --format json`: the whole record with its per-epoch history and the
/// pipeline text it ran.
pub fn run_json(
    run: &RunRecord,
    history: &[EpochMetrics],
    spec_text: Option<&str>,
    store: &Store,
) -> Value {
    let mut value = run_summary_json(&run.summary());
    let object = value.as_object_mut().expect("a summary is an object");
    let extra = json!({
        "pipeline_file": run.pipeline_file,
        "spec_hash": run.spec_hash,
        "spec": spec_text,
        "trial": run.trial,
        "dataset_hash": run.dataset_hash,
        "libtorch_version": run.libtorch_version,
        "artifacts": run.artifacts,
        "params": run.params,
        "seed": run.seed,
        "seeds": run.seeds,
        "history": history,
        "classes": run.classes,
        "train_images": run.train_images,
        "validation_images": run.validation_images,
        "test_images": run.test_images,
        "test": run.test,
        "test_epoch": run.test_epoch,
        "confusion_matrix": run.confusion_matrix,
        "top_losses": run.top_losses,
        "stages": run.stages,
        "reused_in": run.reused_in,
        "skipped_files": run.skipped_files,
        "device": run.device,
        "host": run.host,
        "runner_version": run.runner_version,
        "checkpoint": run.artifacts.get("last").map(|artifact| store.artifact_path(artifact)),
        "best_checkpoint": run.artifacts.get("best").map(|artifact| store.artifact_path(artifact)),
    });
    object.extend(extra.as_object().expect("an object literal").clone());
    value
}

/// `runner show` for people: the summary, the parameters and the per-epoch table.
pub fn run_text(run: &RunRecord, history: &[EpochMetrics], store: &Store) -> String {
    let mut out = String::new();
    // Every value from the store is escaped: see `escape_text`.
    let line = |out: &mut String, key: &str, value: String| {
        out.push_str(&format!(
            "{:<12} {}\n",
            escape_text(key),
            escape_text(&value)
        ));
    };
    line(&mut out, "run", run.id.clone());
    line(
        &mut out,
        "pipeline",
        format!("{} ({})", run.pipeline, run.pipeline_file),
    );
    let status = match &run.reason {
        Some(reason) => format!("{}: {reason}", run.status.as_str()),
        None => run.status.as_str().to_string(),
    };
    line(&mut out, "status", status);
    line(&mut out, "started", timestamp(run.started_at));
    if let Some(ended) = run.ended_at {
        line(&mut out, "ended", timestamp(ended));
    }
    line(&mut out, "device", run.device.clone());
    let seeds = run.seeds;
    line(
        &mut out,
        "seeds",
        format!(
            "weight init {}, validation split {}, shuffle {}, augmentation {}, dropout {}",
            seeds.weight_init,
            seeds.validation_split,
            seeds.shuffle,
            seeds.augmentation,
            seeds.dropout
        ),
    );
    line(&mut out, "classes", run.classes.join(", "));
    line(
        &mut out,
        "images",
        format!(
            "{} training, {} validation, {}{} skipped",
            run.train_images,
            run.validation_images,
            run.test_images
                .map_or_else(String::new, |test| format!("{test} test, ")),
            run.skipped_files.len()
        ),
    );
    if let Some(best) = run.best_epoch {
        line(&mut out, "best epoch", format!("{best} (lowest val_loss)"));
    }
    if let (Some(loss), Some(accuracy)) = (run.test.get("test_loss"), run.test.get("test_accuracy"))
    {
        line(
            &mut out,
            "test",
            format!(
                "loss {loss:.4} accuracy {accuracy:.4}{}",
                run.test_epoch
                    .map_or_else(String::new, |epoch| format!(" (epoch {epoch}'s weights)"))
            ),
        );
    }
    if !run.confusion_matrix.is_empty() {
        // Rows are the true classes, columns the predicted ones, as Keras users print it.
        let rows: Vec<String> = run
            .confusion_matrix
            .iter()
            .zip(&run.classes)
            .map(|(row, class)| format!("{class}: {row:?}"))
            .collect();
        line(
            &mut out,
            "confusion",
            format!("{} (true: predicted counts)", rows.join("; ")),
        );
    }
    for (name, artifact) in &run.artifacts {
        line(
            &mut out,
            name,
            format!(
                "{} ({} bytes)",
                store.artifact_path(artifact).display(),
                artifact.bytes
            ),
        );
    }
    out.push_str("\nparams\n");
    for (key, value) in &run.params {
        out.push_str(&format!(
            "  {} = {}\n",
            escape_text(key),
            escape_text(&value.to_string())
        ));
    }
    if !history.is_empty() {
        let mut table = Table::new();
        table.load_preset(UTF8_FULL_CONDENSED).set_header([
            "epoch",
            "loss",
            "accuracy",
            "val_loss",
            "val_accuracy",
            "seconds",
        ]);
        for epoch in history {
            table.add_row([
                epoch.epoch.to_string(),
                format!("{:.4}", epoch.loss),
                format!("{:.4}", epoch.accuracy),
                format!("{:.4}", epoch.val_loss),
                format!("{:.4}", epoch.val_accuracy),
                format!("{:.1}", epoch.seconds),
            ]);
        }
        out.push_str(&format!("\n{table}\n"));
    }
    out
}

fn metric_cell(value: Option<&f64>) -> String {
    value.map_or_else(|| "-".to_string(), |value| format!("{value:.4}"))
}

fn timestamp(millis: u64) -> String {
    humantime::format_rfc3339_seconds(UNIX_EPOCH + Duration::from_millis(millis)).to_string()
}
