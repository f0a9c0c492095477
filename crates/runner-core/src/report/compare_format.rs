//! A [`Comparison`] as a terminal table, CSV, Markdown or JSON.

use comfy_table::{Table, presets::UTF8_FULL_CONDENSED};
use serde_json::{Value, json};

use super::compare::{Comparison, METRICS};
use super::escape_text;
use super::select::display;
use crate::store::{RunRecord, RunStatus, SweepRecord};

/// Header and cells of every row, shared by the table, CSV and Markdown outputs.
fn grid(comparison: &Comparison) -> (Vec<String>, Vec<Vec<String>>) {
    let grouped = comparison.rows.iter().any(|row| row.seeds > 1);
    let mut header = vec!["run".to_string(), "pipeline".into(), "status".into()];
    header.extend(comparison.params.iter().cloned());
    header.extend(
        METRICS
            .iter()
            .map(|m| format!("{} {m}", comparison.metric_kind)),
    );
    if grouped {
        header.push("seeds".into());
    }
    header.push("epochs".into());
    let rows = comparison
        .rows
        .iter()
        .map(|row| {
            let mut cells = vec![row.run.clone(), row.pipeline.clone(), row.status.clone()];
            cells.extend(
                comparison
                    .params
                    .iter()
                    .map(|key| row.params.get(key).map_or("-".into(), display)),
            );
            cells.extend(METRICS.iter().map(|metric| {
                match (row.metrics.get(*metric), row.std.get(*metric)) {
                    (Some(mean), Some(std)) => format!("{mean:.4} ± {std:.4}"),
                    (Some(mean), None) => format!("{mean:.4}"),
                    (None, _) => "-".into(),
                }
            }));
            if grouped {
                cells.push(row.seeds.to_string());
            }
            cells.push(row.epochs.to_string());
            cells
        })
        .collect();
    (header, rows)
}

/// Header and cells as a terminal may show them (see [`escape_text`]).
fn escaped_grid(comparison: &Comparison) -> (Vec<String>, Vec<Vec<String>>) {
    let (header, rows) = grid(comparison);
    let escape = |cells: Vec<String>| cells.iter().map(|cell| escape_text(cell)).collect();
    (escape(header), rows.into_iter().map(escape).collect())
}

pub fn to_table(comparison: &Comparison) -> String {
    let (header, rows) = escaped_grid(comparison);
    let mut table = Table::new();
    table.load_preset(UTF8_FULL_CONDENSED).set_header(header);
    for row in rows {
        table.add_row(row);
    }
    table.to_string()
}

pub fn to_markdown(comparison: &Comparison) -> String {
    let (header, rows) = escaped_grid(comparison);
    let line = |cells: &[String]| {
        format!(
            "| {} |\n",
            cells
                .iter()
                .map(|c| c.replace('|', "\\|"))
                .collect::<Vec<_>>()
                .join(" | ")
        )
    };
    let mut out = line(&header);
    out.push_str(&line(&vec!["---".to_string(); header.len()]));
    for row in rows {
        out.push_str(&line(&row));
    }
    out
}

/// CSV with plain numbers: a `METRIC_std` column follows each metric.
pub fn to_csv(comparison: &Comparison) -> anyhow::Result<String> {
    let mut writer = csv::Writer::from_writer(Vec::new());
    let kind = comparison.metric_kind;
    let mut header = vec![
        "run".to_string(),
        "runs".into(),
        "pipeline".into(),
        "status".into(),
    ];
    header.extend(comparison.params.iter().cloned());
    for metric in METRICS {
        header.push(format!("{kind}_{metric}"));
        header.push(format!("{kind}_{metric}_std"));
    }
    header.extend(["seeds".to_string(), "epochs".into()]);
    writer.write_record(&header)?;
    for row in &comparison.rows {
        let mut cells = vec![
            row.run.clone(),
            row.runs.join(" "),
            row.pipeline.clone(),
            row.status.clone(),
        ];
        cells.extend(
            comparison
                .params
                .iter()
                .map(|key| row.params.get(key).map_or(String::new(), display)),
        );
        for metric in METRICS {
            cells.push(
                row.metrics
                    .get(metric)
                    .map_or(String::new(), f64::to_string),
            );
            cells.push(row.std.get(metric).map_or(String::new(), f64::to_string));
        }
        cells.extend([row.seeds.to_string(), row.epochs.to_string()]);
        writer.write_record(&cells)?;
    }
    Ok(String::from_utf8(writer.into_inner()?)?)
}

/// An array with one object per row: `run`, `runs`, `pipeline`, `status`, `params`,
/// `best` (or `last`), `std`, `seeds`, `epochs`.
pub fn to_json(comparison: &Comparison) -> Value {
    Value::Array(
        comparison
            .rows
            .iter()
            .map(|row| {
                let mut object = json!({
                    "run": row.run,
                    "runs": row.runs,
                    "pipeline": row.pipeline,
                    "status": row.status,
                    "params": row.params,
                    "std": row.std,
                    "seeds": row.seeds,
                    "epochs": row.epochs,
                });
                object[comparison.metric_kind] = json!(row.metrics);
                object
            })
            .collect(),
    )
}

/// What a sweep's `runner run` did as a whole, under its table: the rungs and how many of
/// `runs` reached each, the trials paused, the epochs trained against every trial
/// trained to its end, and the budget.
pub fn sweep_footer(record: &SweepRecord, runs: &[RunRecord]) -> String {
    let mut parts = vec![format!("{}: {} trial(s)", record.sweep, record.trials)];
    if let Some(&last) = record.rungs.last() {
        let reached: Vec<String> = record
            .rungs
            .iter()
            .enumerate()
            .map(|(rung, &epochs)| {
                let count = runs.iter().filter(|run| run.epochs >= epochs).count();
                format!("{count} reached rung {} ({epochs} epochs)", rung + 1)
            })
            .collect();
        let paused = runs
            .iter()
            .filter(|run| run.status == RunStatus::Pruned)
            .count();
        parts.push(format!(
            "successive halving: {}; {paused} paused (`pruned`)",
            reached.join(", ")
        ));
        parts.push(format!(
            "{} epochs trained (every trial to its end: {})",
            record.epochs_trained,
            record.trials * last
        ));
    } else {
        parts.push(format!("{} epochs trained", record.epochs_trained));
    }
    if let Some(budget) = &record.budget {
        parts.push(match &record.budget_spent {
            Some((reason, left)) => {
                format!("budget {budget}: spent ({reason}), {left} trial(s) not started")
            }
            None => format!("budget {budget}: not spent"),
        });
    }
    // The record was read back from the store: no control characters reach the terminal.
    escape_text(&parts.join("; "))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::report::compare::tests::run;
    use crate::report::compare::{CompareOptions, compare};

    fn sample() -> Comparison {
        let runs = [
            run(
                "a",
                &[("head.2.rate", json!(0.2)), ("pipeline.seed", json!(1))],
                0.9,
                0.3,
            ),
            run(
                "b",
                &[("head.2.rate", json!(0.2)), ("pipeline.seed", json!(2))],
                0.8,
                0.5,
            ),
            run(
                "c",
                &[("head.2.rate", json!(0.5)), ("pipeline.seed", json!(1))],
                0.7,
                0.6,
            ),
        ];
        compare(&runs, CompareOptions::default())
    }

    #[test]
    fn json_parses_with_the_documented_fields() {
        let rows: Vec<Value> = serde_json::from_str(&to_json(&sample()).to_string()).unwrap();
        assert_eq!(rows.len(), 2);
        for key in [
            "run", "pipeline", "status", "params", "best", "epochs", "seeds",
        ] {
            assert!(rows[0].get(key).is_some(), "{key} missing in {}", rows[0]);
        }
        assert_eq!(rows[0]["runs"], json!(["a", "b"]));
        assert!((rows[0]["best"]["val_accuracy"].as_f64().unwrap() - 0.85).abs() < 1e-12);
    }

    #[test]
    fn csv_parses_with_one_record_per_row() {
        let text = to_csv(&sample()).unwrap();
        let mut reader = csv::Reader::from_reader(text.as_bytes());
        let header = reader.headers().unwrap().clone();
        assert!(header.iter().any(|h| h == "head.2.rate"));
        assert!(header.iter().any(|h| h == "best_val_accuracy_std"));
        let records: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
        assert_eq!(records.len(), 2);
        let column = |name: &str| header.iter().position(|h| h == name).unwrap();
        assert_eq!(&records[0][column("seeds")], "2");
        assert_eq!(&records[1][column("head.2.rate")], "0.5");
        let std: f64 = records[0][column("best_val_accuracy_std")].parse().unwrap();
        assert!((std - 0.070_710_678_1).abs() < 1e-6);
    }

    #[test]
    fn table_and_markdown_show_mean_and_std() {
        let table = to_table(&sample());
        crate::assert_contains(&table, "0.8500 ± 0.0707");
        let markdown = to_markdown(&sample());
        let lines: Vec<&str> = markdown.lines().collect();
        assert_eq!(lines.len(), 4, "{markdown}");
        assert!(lines[1].starts_with("| --- |"));
        assert!(lines[2].contains("0.8500 ± 0.0707"));
    }
}
