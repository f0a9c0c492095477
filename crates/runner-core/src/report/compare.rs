//! `runner compare`: one row per run, or per group of runs that differ only by seed
//! (shown as mean ± std), with only the parameters that differ between the rows.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde::Serialize;
use serde_json::Value;

use crate::store::RunRecord;

/// The key that groups repeats of one configuration.
const SEED_KEY: &str = "pipeline.seed";
pub const METRICS: [&str; 4] = ["loss", "accuracy", "val_loss", "val_accuracy"];

#[derive(Debug, Clone, Copy, Default)]
pub struct CompareOptions {
    /// Show every parameter, not only those that differ.
    pub all_params: bool,
    /// Metrics of the last epoch instead of the best.
    pub last: bool,
    /// Keep runs that differ only by seed as separate rows.
    pub no_group: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct Comparison {
    /// The parameter columns, in key order.
    pub params: Vec<String>,
    /// `best` or `last`.
    pub metric_kind: &'static str,
    pub rows: Vec<Row>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Row {
    /// The first run of the row.
    pub run: String,
    /// Every run of the row (several when seeds are grouped).
    pub runs: Vec<String>,
    pub pipeline: String,
    /// The runs' statuses, joined with `/` when they differ.
    pub status: String,
    pub params: BTreeMap<String, Value>,
    /// Mean of each metric over the row's runs.
    pub metrics: BTreeMap<String, f64>,
    /// Sample standard deviation of each metric, for rows of several runs.
    pub std: BTreeMap<String, f64>,
    /// Number of seeds (runs) in the row.
    pub seeds: usize,
    /// Epochs of each run (the most when they differ).
    pub epochs: usize,
}

pub fn compare(runs: &[RunRecord], options: CompareOptions) -> Comparison {
    let groups = group_runs(runs, options.no_group);
    let shown_params = differing_params(&groups, options.all_params);
    let rows = groups
        .iter()
        .map(|group| make_row(group, &shown_params, options.last))
        .collect();
    Comparison {
        params: shown_params.into_iter().collect(),
        metric_kind: if options.last { "last" } else { "best" },
        rows,
    }
}

/// Groups runs with the same pipeline and the same parameters apart from the seed, in
/// the order their first runs appear.
fn group_runs(runs: &[RunRecord], no_group: bool) -> Vec<Vec<&RunRecord>> {
    if no_group {
        return runs.iter().map(|run| vec![run]).collect();
    }
    let mut groups: Vec<Vec<&RunRecord>> = Vec::new();
    let mut group_of_config: HashMap<String, usize> = HashMap::new();
    for run in runs {
        let index = *group_of_config.entry(config_key(run)).or_insert_with(|| {
            groups.push(Vec::new());
            groups.len() - 1
        });
        groups[index].push(run);
    }
    groups
}

/// The pipeline and every parameter but the seed, as one comparable string.
fn config_key(run: &RunRecord) -> String {
    let mut key = run.pipeline.clone();
    for (name, value) in &run.params {
        if name != SEED_KEY {
            key.push_str(&format!("\u{1f}{name}={value}"));
        }
    }
    key
}

/// Keys whose value differs between rows (a key missing from some rows differs). The
/// seed of a grouped row has no single value, so it is never a column then.
fn differing_params(groups: &[Vec<&RunRecord>], all: bool) -> BTreeSet<String> {
    let keys: BTreeSet<&String> = groups
        .iter()
        .flatten()
        .flat_map(|run| run.params.keys())
        .collect();
    let grouped = groups.iter().any(|group| group.len() > 1);
    keys.into_iter()
        .filter(|key| !(grouped && key.as_str() == SEED_KEY))
        .filter(|key| {
            all || {
                let first = groups[0][0].params.get(*key);
                groups
                    .iter()
                    .any(|group| group[0].params.get(*key) != first)
            }
        })
        .cloned()
        .collect()
}

fn make_row(group: &[&RunRecord], shown_params: &BTreeSet<String>, last: bool) -> Row {
    let first = group[0];
    let mut statuses: Vec<&str> = group.iter().map(|run| run.status.as_str()).collect();
    statuses.dedup();
    let mut metrics = BTreeMap::new();
    let mut std = BTreeMap::new();
    for name in METRICS {
        let values: Vec<f64> = group
            .iter()
            .filter_map(|run| {
                if last {
                    run.last.get(name)
                } else {
                    run.best.get(name)
                }
            })
            .copied()
            .collect();
        if values.is_empty() {
            continue;
        }
        let mean = values.iter().sum::<f64>() / values.len() as f64;
        metrics.insert(name.to_string(), mean);
        if values.len() > 1 {
            let variance =
                values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (values.len() - 1) as f64;
            std.insert(name.to_string(), variance.sqrt());
        }
    }
    Row {
        run: first.id.clone(),
        runs: group.iter().map(|run| run.id.clone()).collect(),
        pipeline: first.pipeline.clone(),
        status: statuses.join("/"),
        params: shown_params
            .iter()
            .filter_map(|key| {
                first
                    .params
                    .get(key)
                    .map(|value| (key.clone(), value.clone()))
            })
            .collect(),
        metrics,
        std,
        seeds: group.len(),
        epochs: group.iter().map(|run| run.epochs).max().unwrap_or(0),
    }
}

impl Comparison {
    /// Orders rows best-first by a metric: ascending for losses, descending otherwise.
    /// Rows without the metric go last.
    pub fn sort_by(&mut self, metric: &str) {
        let ascending = metric.contains("loss");
        self.rows.sort_by(
            |a, b| match (a.metrics.get(metric), b.metrics.get(metric)) {
                (Some(x), Some(y)) if ascending => x.total_cmp(y),
                (Some(x), Some(y)) => y.total_cmp(x),
                (Some(_), None) => std::cmp::Ordering::Less,
                (None, Some(_)) => std::cmp::Ordering::Greater,
                (None, None) => std::cmp::Ordering::Equal,
            },
        );
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use serde_json::json;

    use super::*;
    use crate::store::{ProcessId, RunStatus};

    /// A finished run with the given parameters and best metrics.
    pub(crate) fn run(
        id: &str,
        params: &[(&str, Value)],
        val_accuracy: f64,
        val_loss: f64,
    ) -> RunRecord {
        RunRecord {
            id: id.to_string(),
            pipeline: "p".into(),
            pipeline_file: "p.toml".into(),
            spec_hash: "h".into(),
            params: params
                .iter()
                .map(|(k, v)| (k.to_string(), v.clone()))
                .collect(),
            seed: 0,
            seeds: Default::default(),
            sweep: None,
            trial: None,
            reused_in: Vec::new(),
            stages: Default::default(),
            status: RunStatus::Finished,
            reason: None,
            started_at: 0,
            ended_at: Some(1),
            heartbeat_at: 1,
            host: "h".into(),
            process: ProcessId {
                pid: 1,
                start_ticks: None,
            },
            device: "cpu".into(),
            runner_version: "0".into(),
            libtorch_version: "2.9.0".into(),
            dataset_hash: String::new(),
            classes: vec!["a".into(), "b".into()],
            train_images: 1,
            validation_images: 1,
            test_images: None,
            test_epoch: None,
            test: Default::default(),
            skipped_files: vec![],
            epochs: 3,
            best_epoch: Some(2),
            best: [
                ("val_accuracy".to_string(), val_accuracy),
                ("val_loss".to_string(), val_loss),
            ]
            .into(),
            last: [
                ("val_accuracy".to_string(), val_accuracy - 0.1),
                ("val_loss".to_string(), val_loss + 0.1),
            ]
            .into(),
            artifacts: Default::default(),
            confusion_matrix: Vec::new(),
            top_losses: Vec::new(),
        }
    }

    fn params(rate: f64, seed: u64) -> Vec<(&'static str, Value)> {
        vec![
            ("head.2.rate", json!(rate)),
            ("pipeline.seed", json!(seed)),
            ("train.epochs", json!(3)),
        ]
    }

    #[test]
    fn shows_only_the_params_that_differ() {
        let runs = [
            run("a", &params(0.2, 1), 0.9, 0.3),
            run("b", &params(0.5, 1), 0.8, 0.4),
        ];
        let comparison = compare(&runs, CompareOptions::default());
        assert_eq!(comparison.params, vec!["head.2.rate".to_string()]);
        assert_eq!(comparison.rows[1].params["head.2.rate"], json!(0.5));
        let all = compare(
            &runs,
            CompareOptions {
                all_params: true,
                ..Default::default()
            },
        );
        assert_eq!(
            all.params,
            vec!["head.2.rate", "pipeline.seed", "train.epochs"]
        );
    }

    #[test]
    fn a_param_missing_from_one_run_differs() {
        let mut with_extra = params(0.2, 1);
        with_extra.push(("augment.horizontal_flip", json!(true)));
        let runs = [
            run("a", &params(0.2, 1), 0.9, 0.3),
            run("b", &with_extra, 0.8, 0.4),
        ];
        assert_eq!(
            compare(&runs, CompareOptions::default()).params,
            vec!["augment.horizontal_flip"]
        );
    }

    #[test]
    fn groups_seeds_as_mean_and_std() {
        let runs = [
            run("a", &params(0.2, 1), 0.90, 0.3),
            run("b", &params(0.5, 1), 0.80, 0.4),
            run("c", &params(0.2, 2), 0.94, 0.2),
            run("d", &params(0.2, 3), 0.92, 0.1),
        ];
        let comparison = compare(&runs, CompareOptions::default());
        assert_eq!(comparison.rows.len(), 2);
        let grouped = &comparison.rows[0];
        assert_eq!(grouped.runs, vec!["a", "c", "d"]);
        assert_eq!(grouped.seeds, 3);
        assert!((grouped.metrics["val_accuracy"] - 0.92).abs() < 1e-12);
        assert!((grouped.std["val_accuracy"] - 0.02).abs() < 1e-12);
        assert!(!comparison.params.contains(&"pipeline.seed".to_string()));
        let separate = compare(
            &runs,
            CompareOptions {
                no_group: true,
                ..Default::default()
            },
        );
        assert_eq!(separate.rows.len(), 4);
        assert!(separate.params.contains(&"pipeline.seed".to_string()));
    }

    #[test]
    fn last_uses_the_last_epoch_and_sort_puts_the_best_first() {
        let runs = [
            run("a", &params(0.2, 1), 0.8, 0.3),
            run("b", &params(0.5, 1), 0.9, 0.4),
        ];
        let mut comparison = compare(
            &runs,
            CompareOptions {
                last: true,
                ..Default::default()
            },
        );
        assert_eq!(comparison.metric_kind, "last");
        assert!((comparison.rows[0].metrics["val_accuracy"] - 0.7).abs() < 1e-12);
        comparison.sort_by("val_accuracy");
        assert_eq!(comparison.rows[0].run, "b");
        comparison.sort_by("val_loss");
        assert_eq!(comparison.rows[0].run, "a");
    }
}
