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
use crate::report::select::{Condition, RunFilter, parse_since};
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

    /// A store that cannot be read is the server's problem (500); a bad value in the
    /// request, the client's (400).
    fn from_store(error: &anyhow::Error) -> Self {
        Self {
            status: if is_input_error(error) { 400 } else { 500 },
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

/// `GET /api/runs`: the runs that match `pipeline`, `sweep`, `status`, `since` and each
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
    let mut runs: Vec<(RunSummary, BTreeMap<String, Value>)> =
        if filter.needs_params() || !param_keys.is_empty() {
            let records = store.runs().map_err(|e| ApiError::from_store(&e))?;
            records
                .into_iter()
                .filter(|run| filter.matches_record(run))
                .map(|run| {
                    let params = param_keys
                        .iter()
                        .filter_map(|key| run.params.get(key).map(|v| (key.clone(), v.clone())))
                        .collect();
                    (run.summary(), params)
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
                .map(|run| (run, BTreeMap::new()))
                .collect()
        };
    let sort = query.one("sort").unwrap_or("started");
    // The store's order is the start order; a stable sort keeps it among equals.
    if sort != "started" && sort != "run" {
        runs.sort_by(|(a, a_params), (b, b_params)| {
            compare_by(sort, a, b, a_params.get(sort), b_params.get(sort))
        });
    }
    match query.one("order").unwrap_or("asc") {
        "asc" => {}
        "desc" => runs.reverse(),
        other => {
            return Err(ApiError::bad_request(format!(
                "order={other}: give asc or desc"
            )));
        }
    }
    let total = runs.len();
    let offset = query.number("offset")?.unwrap_or(0).min(total);
    let limit = query.number("limit")?.unwrap_or(total);
    let page = runs
        .iter()
        .skip(offset)
        .take(limit)
        .map(|(run, params)| {
            let mut value = report::runs::run_summary_json(run);
            if !param_keys.is_empty() {
                value["params"] = json!(params);
            }
            value
        })
        .collect();
    Ok(RunsPage {
        total,
        runs: Value::Array(page),
    })
}

/// Orders two runs by a column; runs without a value go last whichever the order.
fn compare_by(
    sort: &str,
    a: &RunSummary,
    b: &RunSummary,
    a_param: Option<&Value>,
    b_param: Option<&Value>,
) -> Ordering {
    match sort {
        "pipeline" => a.pipeline.cmp(&b.pipeline),
        "sweep" => a.sweep.cmp(&b.sweep),
        "status" => a.status.as_str().cmp(b.status.as_str()),
        "epochs" => a.epochs.cmp(&b.epochs),
        _ if a_param.is_some() || b_param.is_some() => match (a_param, b_param) {
            (Some(x), Some(y)) => match (x.as_f64(), y.as_f64()) {
                (Some(x), Some(y)) => x.total_cmp(&y),
                _ => report::select::display(x).cmp(&report::select::display(y)),
            },
            (Some(_), None) => Ordering::Less,
            (None, _) => Ordering::Greater,
        },
        metric => match (a.best.get(metric), b.best.get(metric)) {
            (Some(x), Some(y)) => x.total_cmp(y),
            (Some(_), None) => Ordering::Less,
            (None, Some(_)) => Ordering::Greater,
            (None, None) => Ordering::Equal,
        },
    }
}

fn run_filter(query: &Query) -> ApiResult<RunFilter> {
    let input = |error: anyhow::Error| ApiError::bad_request(format!("{error:#}"));
    Ok(RunFilter {
        pipeline: query.one("pipeline").map(str::to_string),
        sweep: query.one("sweep").map(str::to_string),
        status: query.one("status").map(str::to_string),
        since: query
            .one("since")
            .map(parse_since)
            .transpose()
            .map_err(input)?,
        conditions: query
            .all("where")
            .into_iter()
            .filter(|text| !text.trim().is_empty())
            .map(Condition::parse)
            .collect::<anyhow::Result<_>>()
            .map_err(input)?,
    })
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
    let ids = query.list("runs");
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
    let runs = store.runs().map_err(|e| ApiError::from_store(&e))?;
    let mut trials: Vec<RunRecord> = runs
        .into_iter()
        .filter(|run| run.summary().in_sweep(name))
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
    let metrics: BTreeSet<&str> = trials
        .iter()
        .flat_map(|run| run.best.keys().map(String::as_str))
        .collect();
    Ok(json!({
        "sweep": name,
        "params": comparison.params,
        "metrics": metrics,
        "trials": compare_format::to_json(&comparison),
    }))
}
