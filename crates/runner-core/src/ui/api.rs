//! The dashboard's JSON API. Each answer is the object the matching command prints with
//! `--format json` (`/api/runs` is `runner list`'s, `/api/runs/ID` `runner show`'s,
//! `/api/compare` `runner compare`'s), so scripts can use either; the pages read nothing
//! else.

use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Value, json};

use super::query::Query;
use crate::error::is_input_error;
use crate::report;
use crate::report::compare::{CompareOptions, compare};
use crate::report::compare_format;
use crate::report::select::RunFilter;
use crate::store::{RunRecord, RunSummary, Store};

/// An answer other than 200: its status and what went wrong.
#[derive(Debug)]
pub struct ApiError {
    pub status: u16,
    pub message: String,
}

impl ApiError {
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self {
            status: 400,
            message: message.into(),
        }
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self {
            status: 404,
            message: message.into(),
        }
    }

    /// A store that cannot be read (damaged, or of a newer runner) is the server's
    /// problem, not the request's.
    fn from_store(error: &anyhow::Error) -> Self {
        Self {
            status: 500,
            message: format!("{error:#}"),
        }
    }
}

pub type ApiResult<T> = Result<T, ApiError>;

/// A page of `runner list --format json`, with the number of runs that matched.
pub struct RunsPage {
    pub total: usize,
    pub runs: Value,
}

/// `GET /api/runs`: `runner list --format json` with each run's metrics at its best epoch
/// (`at_best_epoch`) added: the runs that match `pipeline`, `sweep`, `status`, `since` and each
/// `where` (the `--where` language of `list` and `compare`), ordered by `sort` (`started`,
/// `run`, `pipeline`, `sweep`, `status`, `epochs`, a metric's best value, or a parameter
/// asked for in `params`) and `order` (`asc`, `desc`), `offset` and `limit` of them. With
/// `params=KEY,KEY`, each run also carries those parameters.
pub fn runs(store: &Store, query: &Query) -> ApiResult<RunsPage> {
    let filter = run_filter(query)?;
    let param_keys: Vec<String> = query
        .list("params")
        .into_iter()
        .map(str::to_string)
        .collect();
    let mut rows: Vec<ListedRun> = if filter.needs_params() || !param_keys.is_empty() {
        let records = store.runs().map_err(|e| ApiError::from_store(&e))?;
        records
            .into_iter()
            .filter(|run| filter.matches_record(run))
            .map(|run| ListedRun {
                params: param_keys
                    .iter()
                    .filter_map(|key| run.params.get(key).map(|v| (key.clone(), v.clone())))
                    .collect(),
                summary: run.summary(),
                at_best_epoch: Value::Null,
            })
            .collect()
    } else {
        let no_params = BTreeMap::new();
        let summaries = store
            .run_summaries()
            .map_err(|e| ApiError::from_store(&e))?;
        summaries
            .into_iter()
            .filter(|run| filter.matches(run, &no_params))
            .map(|summary| ListedRun {
                summary,
                params: BTreeMap::new(),
                at_best_epoch: Value::Null,
            })
            .collect()
    };
    let sort = query.one("sort").unwrap_or("started");
    let descending = match query.one("order").unwrap_or("asc") {
        "asc" => false,
        "desc" => true,
        other => {
            return Err(ApiError::bad_request(format!(
                "order={other}: give asc or desc"
            )));
        }
    };
    // The store's order is the ids' (start time to the millisecond, then random); newest
    // first when descending, and kept among equal values by the stable sort.
    if descending {
        rows.reverse();
    }
    if sort.starts_with(AT_BEST_EPOCH) {
        add_best_epochs(store, &mut rows)?;
    }
    if sort != "run" {
        // Each run's value once, not once per comparison: 10,000 runs take ~130,000.
        let keys: Vec<Option<Value>> = rows.iter().map(|row| row.sort_value(sort)).collect();
        let mut order: Vec<usize> = (0..rows.len()).collect();
        order.sort_by(|&a, &b| match (&keys[a], &keys[b]) {
            (Some(x), Some(y)) if descending => compare_values(y, x),
            (Some(x), Some(y)) => compare_values(x, y),
            // Runs without the value go last either way.
            (Some(_), None) => Ordering::Less,
            (None, Some(_)) => Ordering::Greater,
            (None, None) => Ordering::Equal,
        });
        let mut unsorted: Vec<Option<ListedRun>> = rows.into_iter().map(Some).collect();
        rows = order
            .into_iter()
            .filter_map(|index| unsorted[index].take())
            .collect();
    }
    let total = rows.len();
    let offset = query.number("offset")?.unwrap_or(0).min(total);
    let limit = query.number("limit")?.unwrap_or(total);
    let page = &mut rows[offset..offset.saturating_add(limit).min(total)];
    if !sort.starts_with(AT_BEST_EPOCH) {
        add_best_epochs(store, page)?;
    }
    let page = page
        .iter()
        .map(|row| {
            let mut value = report::runs::run_summary_json(&row.summary);
            value[AT_BEST_EPOCH.trim_end_matches('.')] = row.at_best_epoch.clone();
            if !param_keys.is_empty() {
                value["params"] = json!(row.params);
            }
            value
        })
        .collect();
    Ok(RunsPage {
        total,
        runs: Value::Array(page),
    })
}

/// The sort key prefix of a metric at the best epoch (`at_best_epoch.val_accuracy`), and
/// the field that holds those metrics.
const AT_BEST_EPOCH: &str = "at_best_epoch.";

/// A run as the runs table lists it.
struct ListedRun {
    summary: RunSummary,
    /// The parameters asked for.
    params: BTreeMap<String, Value>,
    /// The metrics of its best epoch, the weights Keras' `restore_best_weights` and the
    /// `best` checkpoint keep, or null.
    at_best_epoch: Value,
}

impl ListedRun {
    /// The value a column sorts by: a field, a metric at the best epoch, a parameter, or a
    /// metric's best value.
    fn sort_value(&self, sort: &str) -> Option<Value> {
        let run = &self.summary;
        match sort {
            "started" => Some(json!(run.started_at)),
            "pipeline" => Some(json!(run.pipeline)),
            "sweep" => run.sweep.as_ref().map(|sweep| json!(sweep)),
            "status" => Some(json!(run.status.as_str())),
            "epochs" => Some(json!(run.epochs)),
            _ => match sort.strip_prefix(AT_BEST_EPOCH) {
                Some(metric) => self
                    .at_best_epoch
                    .get(metric)
                    .filter(|value| !value.is_null())
                    .cloned(),
                None => self
                    .params
                    .get(sort)
                    .cloned()
                    .or_else(|| run.best.get(sort).map(|value| json!(value))),
            },
        }
    }
}

/// Numbers by value before anything else, which compares as people read it: a total
/// order even where a parameter is a number in some runs and text in others.
fn compare_values(a: &Value, b: &Value) -> Ordering {
    match (a.as_f64(), b.as_f64()) {
        (Some(x), Some(y)) => x.total_cmp(&y),
        (Some(_), None) => Ordering::Less,
        (None, Some(_)) => Ordering::Greater,
        (None, None) => report::select::display(a).cmp(&report::select::display(b)),
    }
}

/// Reads the metrics of each run's best epoch, in one opening of the store: the store
/// keeps epochs apart from the records.
fn add_best_epochs(store: &Store, rows: &mut [ListedRun]) -> ApiResult<()> {
    let wanted: Vec<(&str, usize)> = rows
        .iter()
        .filter_map(|row| Some((row.summary.id.as_str(), row.summary.best_epoch?)))
        .collect();
    let mut epochs = store
        .epochs_of_runs(&wanted)
        .map_err(|e| ApiError::from_store(&e))?
        .into_iter();
    for row in rows
        .iter_mut()
        .filter(|row| row.summary.best_epoch.is_some())
    {
        let epoch = epochs.next().flatten();
        row.at_best_epoch = epoch.map_or(Value::Null, |epoch| epoch_metrics(&epoch));
    }
    Ok(())
}

/// An epoch's metrics by the names the logs use (`val_accuracy`, `lr`, `val_auc`, ...).
fn epoch_metrics(epoch: &crate::metrics::EpochMetrics) -> Value {
    let mut metrics = serde_json::Map::new();
    for name in ["loss", "accuracy", "val_loss", "val_accuracy", "lr"] {
        metrics.insert(name.into(), json!(epoch.value(name)));
    }
    for (name, value) in &epoch.extra {
        metrics.insert(name.clone(), json!(value));
    }
    Value::Object(metrics)
}

fn run_filter(query: &Query) -> ApiResult<RunFilter> {
    // The page sends an empty `where` when its field is empty.
    let conditions: Vec<&str> = query
        .all("where")
        .into_iter()
        .filter(|text| !text.trim().is_empty())
        .collect();
    RunFilter::parse(
        query.one("pipeline"),
        query.one("sweep"),
        query.one("status"),
        query.one("since"),
        &conditions,
    )
    .map_err(|error| ApiError::bad_request(format!("{error:#}")))
}

/// `GET /api/facets`: what the runs table offers to filter and show: the pipelines,
/// sweeps and statuses present, and every metric with a best value.
pub fn facets(store: &Store) -> ApiResult<Value> {
    let summaries = store
        .run_summaries()
        .map_err(|e| ApiError::from_store(&e))?;
    let mut pipelines = BTreeSet::new();
    let mut sweeps = BTreeSet::new();
    let mut statuses = BTreeSet::new();
    let mut metrics = BTreeSet::new();
    for run in &summaries {
        pipelines.insert(run.pipeline.as_str());
        sweeps.extend(run.sweep.as_deref());
        sweeps.extend(run.reused_in.iter().map(String::as_str));
        statuses.insert(run.status.as_str());
        metrics.extend(run.best.keys().map(String::as_str));
    }
    Ok(json!({
        "runs": summaries.len(),
        "pipelines": pipelines,
        "sweeps": sweeps,
        "statuses": statuses,
        "metrics": metrics,
    }))
}

/// `GET /api/params`: every parameter key any run recorded, for choosing columns.
pub fn param_keys(store: &Store) -> ApiResult<Value> {
    let runs = store.runs().map_err(|e| ApiError::from_store(&e))?;
    let keys: BTreeSet<&str> = runs
        .iter()
        .flat_map(|run| run.params.keys().map(String::as_str))
        .collect();
    Ok(json!(keys))
}

/// A run by id (or unique prefix): unknown and ambiguous ids are 404.
pub fn find_run(store: &Store, id: &str) -> ApiResult<RunRecord> {
    store.find_run(id).map_err(|error| {
        if is_input_error(&error) {
            ApiError::not_found(format!("{error:#}"))
        } else {
            ApiError::from_store(&error)
        }
    })
}

/// `GET /api/runs/ID`: `runner show ID --format json`.
pub fn run(store: &Store, id: &str) -> ApiResult<Value> {
    let record = find_run(store, id)?;
    let read = |error: anyhow::Error| ApiError::from_store(&error);
    let history = store.epochs(&record.id).map_err(read)?;
    let spec_text = store.spec_text(&record.spec_hash).map_err(read)?;
    Ok(report::run_json(
        &record,
        &history,
        spec_text.as_deref(),
        store,
    ))
}

/// `GET /api/compare`: `runner compare --format json` over the runs named by `runs`
/// (comma-separated or repeated; every run if none) that pass the filters of
/// [`runs`], with `all_params`, `last`, `no_group` and `sort` as the command's flags.
pub fn compare_runs(store: &Store, query: &Query) -> ApiResult<Value> {
    let filter = run_filter(query)?;
    let mut ids = query.list("runs");
    // A run named twice is still one run, not two seeds.
    let mut seen = BTreeSet::new();
    ids.retain(|id| seen.insert(*id));
    let records: Vec<RunRecord> = if ids.is_empty() {
        store.runs().map_err(|e| ApiError::from_store(&e))?
    } else {
        ids.iter()
            .map(|id| find_run(store, id))
            .collect::<ApiResult<_>>()?
    };
    let selected: Vec<RunRecord> = records
        .into_iter()
        .filter(|run| filter.matches_record(run))
        .collect();
    if selected.is_empty() {
        return Err(ApiError::not_found("no recorded run matches"));
    }
    let mut comparison = compare(
        &selected,
        CompareOptions {
            all_params: query.flag("all_params")?,
            last: query.flag("last")?,
            no_group: query.flag("no_group")?,
        },
    );
    if let Some(metric) = query.one("sort") {
        comparison.sort_by(metric);
    }
    Ok(compare_format::to_json(&comparison))
}

/// `GET /api/histories?runs=ID,ID`: each run's recorded epochs (as `runner show`'s
/// `history`), by run id, read in one opening of the store: the compare page's curves.
pub fn histories(store: &Store, query: &Query) -> ApiResult<Value> {
    let ids = query.list("runs");
    if ids.len() > MAX_HISTORIES {
        return Err(ApiError::bad_request(format!(
            "at most {MAX_HISTORIES} runs' histories at once"
        )));
    }
    let runs: Vec<RunRecord> = ids
        .iter()
        .map(|id| find_run(store, id))
        .collect::<ApiResult<_>>()?;
    let run_ids: Vec<&str> = runs.iter().map(|run| run.id.as_str()).collect();
    let histories = store
        .histories(&run_ids)
        .map_err(|e| ApiError::from_store(&e))?;
    Ok(Value::Object(
        run_ids
            .iter()
            .zip(histories)
            .map(|(id, history)| ((*id).to_string(), json!(history)))
            .collect(),
    ))
}

/// More runs than a comparison shows at once are a mistake or an attack.
const MAX_HISTORIES: usize = 1000;

/// `GET /api/sweeps`: each sweep with its number of trials and how many have each status.
pub fn sweeps(store: &Store) -> ApiResult<Value> {
    let summaries = store
        .run_summaries()
        .map_err(|e| ApiError::from_store(&e))?;
    let mut sweeps: BTreeMap<&str, (BTreeSet<&str>, BTreeMap<&str, usize>)> = BTreeMap::new();
    for run in &summaries {
        for sweep in run.sweep.iter().chain(&run.reused_in) {
            let (pipelines, statuses) = sweeps.entry(sweep).or_default();
            pipelines.insert(&run.pipeline);
            *statuses.entry(run.status.as_str()).or_default() += 1;
        }
    }
    Ok(Value::Array(
        sweeps
            .into_iter()
            .map(|(sweep, (pipelines, statuses))| {
                json!({
                    "sweep": sweep,
                    "trials": statuses.values().sum::<usize>(),
                    "pipelines": pipelines,
                    "statuses": statuses,
                })
            })
            .collect(),
    ))
}

/// `GET /api/sweeps/NAME`: the sweep's trials as `runner compare --sweep NAME --no-group
/// --format json` rows (the swept parameters are those that differ), in trial order.
pub fn sweep(store: &Store, name: &str) -> ApiResult<Value> {
    let in_sweep = RunFilter {
        sweep: Some(name.to_string()),
        ..Default::default()
    };
    let runs = store.runs().map_err(|e| ApiError::from_store(&e))?;
    let mut trials: Vec<RunRecord> = runs
        .into_iter()
        .filter(|run| in_sweep.matches_record(run))
        .collect();
    if trials.is_empty() {
        return Err(ApiError::not_found(format!(
            "no sweep `{name}` in the store"
        )));
    }
    trials.sort_by_key(|run| run.trial);
    let comparison = compare(
        &trials,
        CompareOptions {
            no_group: true,
            ..Default::default()
        },
    );
    // The metrics compare's rows carry.
    let metrics: BTreeSet<&str> = trials
        .iter()
        .flat_map(|run| run.best.keys().map(String::as_str))
        .filter(|metric| crate::report::compare::METRICS.contains(metric))
        .collect();
    // What its `runner run` did as a whole, as `runner compare --sweep` says it.
    let summary = store
        .sweep_record(name)
        .map_err(|e| ApiError::from_store(&e))?
        .map(|record| compare_format::sweep_footer(&record, &trials));
    Ok(json!({
        "sweep": name,
        "params": comparison.params,
        "metrics": metrics,
        "trials": compare_format::to_json(&comparison),
        "summary": summary,
    }))
}
