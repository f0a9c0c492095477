//! Sweeps: `[sweep]` in a pipeline or experiment file turns one spec into trials, each the
//! spec with some values changed at their key paths.

use std::collections::BTreeMap;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::check::value_problems;
use super::diagnostic::Problem;
use super::integers::from_value;
use super::types::PipelineSpec;
use crate::search::space::TpeSearch;

/// Which values to try. Every key other than `method`, `trials`, `seeds`, `list`,
/// `startup_trials`, `monitor`, `mode`, `budget` and `budget_epochs` is a key path of the pipeline (`"head.2.rate"`,
/// `"train.optimizer.lr"`) with its values.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, JsonSchema)]
pub struct SweepSpec {
    /// `grid`: every combination of the listed values; `random`: `trials` draws;
    /// `list`: the trials given in `list`; `tpe`: `trials` trials, each chosen by a
    /// Tree-structured Parzen Estimator from the finished ones (random for the first 10).
    #[serde(default)]
    pub method: SweepMethod,
    /// How many trials `random` draws and `tpe` runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(transform = super::bounds::AT_LEAST_ONE.in_schema())]
    pub trials: Option<usize>,
    /// Every trial runs once per seed (as `pipeline.seed`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub seeds: Vec<u64>,
    /// For `list`: each trial as a table of key path to value.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub list: Vec<BTreeMap<String, Value>>,
    /// For `tpe`: how many trials are drawn at random before it learns from them (default
    /// 10, as Optuna's `n_startup_trials`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(transform = super::bounds::AT_LEAST_ONE.in_schema())]
    pub startup_trials: Option<usize>,
    /// For `tpe`: the metric whose best value over a trial's epochs ranks the trials
    /// (default `val_loss`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub monitor: Option<String>,
    /// For `tpe`: whether higher (`max`) or lower (`min`) values of `monitor` are better
    /// (default: `min` for a loss, `max` otherwise).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<SweepMode>,
    /// Train trials in rungs and continue only the best of each: `{ type = "asha",
    /// min_epochs = 1, reduction_factor = 3, monitor = "val_accuracy" }`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scheduler: Option<SchedulerSpec>,
    /// Stop starting trials once the sweep has run this long (`"20m"`, `"1h30m"`);
    /// running the file again continues with the trials not started.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub budget: Option<String>,
    /// Stop starting trials once this many epochs have been trained.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(transform = super::bounds::AT_LEAST_ONE.in_schema())]
    pub budget_epochs: Option<usize>,
    /// Key path to the values to try: a list, or for `random` and `tpe` a distribution.
    #[serde(flatten)]
    pub axes: BTreeMap<String, SweepAxis>,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Default, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum SweepMethod {
    #[default]
    Grid,
    Random,
    List,
    Tpe,
}

/// How trials are scheduled.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, JsonSchema)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum SchedulerSpec {
    /// Asynchronous successive halving: every trial trains to `min_epochs`; the best
    /// `1 / reduction_factor` of each rung go on to `reduction_factor` times as many
    /// epochs, up to the pipeline's epochs; the others are recorded as `pruned`, their
    /// epochs and snapshot kept for a later promotion.
    Asha {
        #[serde(default = "one")]
        #[schemars(transform = super::bounds::AT_LEAST_ONE.in_schema())]
        min_epochs: usize,
        #[serde(default = "three")]
        reduction_factor: usize,
        /// The last rung: the pipeline's `train.epochs` (the default), which a trial
        /// that is never pruned trains.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        max_epochs: Option<usize>,
        /// The metric compared at each rung's epoch (default `val_loss`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        monitor: Option<String>,
        /// `max` or `min` (default: `min` for a loss, `max` otherwise).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        mode: Option<SweepMode>,
    },
}

fn one() -> usize {
    1
}

fn three() -> usize {
    3
}

/// Which way a monitored metric is better.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum SweepMode {
    Max,
    Min,
}

impl SweepMode {
    /// `mode` if given, else `min` for a loss and `max` for anything else.
    pub fn of_monitor(monitor: &str, mode: Option<Self>) -> Self {
        mode.unwrap_or(if monitor.ends_with("loss") {
            Self::Min
        } else {
            Self::Max
        })
    }

    /// `value` turned so that higher is better.
    pub fn oriented(self, value: f64) -> f64 {
        match self {
            Self::Max => value,
            Self::Min => -value,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::Max => "max",
            Self::Min => "min",
        }
    }
}

/// The values of one key: a list, or a distribution for `random`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, JsonSchema)]
#[serde(
    untagged,
    expecting = "a list of values, or a distribution such as { uniform = [0.0, 0.5] }"
)]
pub enum SweepAxis {
    Values(Vec<Value>),
    Distribution(Distribution),
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, JsonSchema)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Distribution {
    /// One of the values, each as likely.
    Choice(Vec<Value>),
    /// A float uniformly in [low, high).
    Uniform([f64; 2]),
    /// A float whose logarithm is uniform in [ln low, ln high).
    Loguniform([f64; 2]),
    /// An integer uniformly in [low, high].
    Int([i64; 2]),
}

/// One trial of a sweep: the values it sets, by key path.
#[derive(Debug, Clone, PartialEq)]
pub struct Trial {
    pub index: usize,
    pub values: BTreeMap<String, Value>,
}

/// How much work one `runner run` of a sweep may start: a time, a number of epochs, or
/// both (whichever is spent first).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Budget {
    pub time: Option<std::time::Duration>,
    pub epochs: Option<usize>,
}

/// `20m`, `30 epochs`, `20m or 30 epochs`.
impl std::fmt::Display for Budget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let time = self
            .time
            .map(|time| humantime::format_duration(time).to_string());
        let epochs = self.epochs.map(|epochs| format!("{epochs} epochs"));
        let parts: Vec<String> = time.into_iter().chain(epochs).collect();
        f.write_str(&parts.join(" or "))
    }
}

impl Budget {
    /// The sweep's budget; an unreadable duration is a problem at `budget`.
    pub fn of_sweep(sweep: &SweepSpec) -> Result<Self, Problem> {
        let time = match &sweep.budget {
            None => None,
            Some(text) => Some(humantime::parse_duration(text).map_err(|err| {
                Problem::new(
                    "budget",
                    format!("`{text}` is not a duration such as \"20m\" or \"1h30m\": {err}"),
                )
            })?),
        };
        if sweep.budget_epochs == Some(0) {
            return Err(Problem::new(
                "budget_epochs",
                "the budget must be at least 1 epoch",
            ));
        }
        Ok(Self {
            time,
            epochs: sweep.budget_epochs,
        })
    }

    pub fn is_set(&self) -> bool {
        self.time.is_some() || self.epochs.is_some()
    }

    /// What was spent, described, once `elapsed` time or `epochs` reaches the budget.
    pub fn spent(&self, elapsed: std::time::Duration, epochs: usize) -> Option<String> {
        if let Some(limit) = self.time.filter(|limit| elapsed >= *limit) {
            return Some(format!(
                "{} of {} spent",
                humantime::format_duration(std::time::Duration::from_secs(elapsed.as_secs())),
                humantime::format_duration(limit)
            ));
        }
        self.epochs
            .filter(|limit| epochs >= *limit)
            .map(|limit| format!("{epochs} of {limit} epochs trained"))
    }
}

/// The trials of a sweep, in order; random draws depend on `seed` alone. For `tpe`, the
/// trials drawn at random before it learns: the others are chosen as trials finish.
pub fn expand(sweep: &SweepSpec, seed: u64) -> Result<Vec<Trial>, Problem> {
    Budget::of_sweep(sweep)?;
    let configurations: Vec<BTreeMap<String, Value>> = match sweep.method {
        SweepMethod::Grid => {
            let mut product = vec![BTreeMap::new()];
            for (key, axis) in &sweep.axes {
                let SweepAxis::Values(values) = axis else {
                    return Err(Problem::new(
                        key,
                        "a grid sweep takes a list of values; distributions need `method = \"random\"`",
                    ));
                };
                if values.is_empty() {
                    return Err(Problem::new(key, "the list of values is empty"));
                }
                product = product
                    .into_iter()
                    .flat_map(|partial| {
                        values.iter().map(move |value| {
                            let mut next = partial.clone();
                            next.insert(key.clone(), value.clone());
                            next
                        })
                    })
                    .collect();
            }
            product
        }
        SweepMethod::Random => {
            let Some(trials) = sweep.trials.filter(|&n| n > 0) else {
                return Err(Problem::new(
                    "trials",
                    "a random sweep needs `trials = N` (at least 1)",
                ));
            };
            let axes = sweep
                .axes
                .iter()
                .map(|(key, axis)| Ok((key, axis.checked(key)?)))
                .collect::<Result<Vec<_>, Problem>>()?;
            let mut rng = ChaCha8Rng::seed_from_u64(seed);
            (0..trials)
                .map(|_| {
                    axes.iter()
                        .map(|(key, axis)| ((*key).clone(), draw(axis, &mut rng)))
                        .collect()
                })
                .collect()
        }
        SweepMethod::Tpe => {
            let search = TpeSearch::of_sweep(sweep, seed)?.expect("a tpe sweep");
            let mut trials: Vec<Trial> = Vec::new();
            for index in 0..search.startup_trials() {
                let tried: Vec<_> = trials.iter().map(|trial| trial.values.clone()).collect();
                let Some(trial) = search.trial(index, &tried, &[]) else {
                    break;
                };
                trials.push(trial);
            }
            return Ok(trials);
        }
        SweepMethod::List => {
            if let Some(key) = sweep.axes.keys().next() {
                return Err(Problem::new(
                    key,
                    "a list sweep gives its trials in `list`; move this key into them",
                ));
            }
            if sweep.list.is_empty() {
                return Err(Problem::new(
                    "list",
                    "a list sweep needs `list = [{ ... }, ...]` with at least one trial",
                ));
            }
            sweep.list.clone()
        }
    };
    let seeds: Vec<Option<u64>> = if sweep.seeds.is_empty() {
        vec![None]
    } else {
        sweep.seeds.iter().copied().map(Some).collect()
    };
    let mut trials = Vec::new();
    for configuration in configurations {
        for seed in &seeds {
            let mut values = configuration.clone();
            if let Some(seed) = seed {
                values.insert("pipeline.seed".into(), Value::from(*seed));
            }
            trials.push(Trial {
                index: trials.len(),
                values,
            });
        }
    }
    Ok(trials)
}

/// An axis checked for drawing from: a list with values, or a range that is not empty.
#[derive(Debug, Clone, PartialEq)]
pub enum Axis {
    /// One of the listed values (a list, or `{ choice = [...] }`).
    Values(Vec<Value>),
    /// A float in `[low, high)`, log-uniform with `log`.
    Float { low: f64, high: f64, log: bool },
    /// An integer in `[low, high]`.
    Int { low: i64, high: i64 },
}

impl SweepAxis {
    /// The axis of `key`, checked: an empty list or range is a problem at `key`.
    pub fn checked(&self, key: &str) -> Result<Axis, Problem> {
        let bad_range = |low: f64, high: f64| {
            Err(Problem::new(
                key,
                format!(
                    "the range [{low}, {high}] is empty, or too wide to draw from: low < high, and high - low a finite number"
                ),
            ))
        };
        match self {
            SweepAxis::Values(values) | SweepAxis::Distribution(Distribution::Choice(values)) => {
                if values.is_empty() {
                    return Err(Problem::new(key, "the list of values is empty"));
                }
                Ok(Axis::Values(values.clone()))
            }
            SweepAxis::Distribution(Distribution::Uniform([low, high])) => {
                // The sampler scales by `high - low`, which overflows to infinity for spans
                // wider than f64::MAX even when both ends are finite.
                if !(low < high && (high - low).is_finite()) {
                    return bad_range(*low, *high);
                }
                Ok(Axis::Float {
                    low: *low,
                    high: *high,
                    log: false,
                })
            }
            SweepAxis::Distribution(Distribution::Loguniform([low, high])) => {
                if !(0.0 < *low && low < high && high.is_finite()) {
                    return Err(Problem::new(
                        key,
                        format!("a log-uniform range needs 0 < low < high, got [{low}, {high}]"),
                    ));
                }
                Ok(Axis::Float {
                    low: *low,
                    high: *high,
                    log: true,
                })
            }
            SweepAxis::Distribution(Distribution::Int([low, high])) => {
                if low > high {
                    return bad_range(*low as f64, *high as f64);
                }
                Ok(Axis::Int {
                    low: *low,
                    high: *high,
                })
            }
        }
    }
}

fn draw(axis: &Axis, rng: &mut ChaCha8Rng) -> Value {
    match axis {
        Axis::Values(values) => values[rng.random_range(0..values.len())].clone(),
        Axis::Float {
            low,
            high,
            log: false,
        } => Value::from(rng.random_range(*low..*high)),
        Axis::Float {
            low,
            high,
            log: true,
        } => Value::from(rng.random_range(low.ln()..high.ln()).exp()),
        Axis::Int { low, high } => Value::from(rng.random_range(*low..=*high)),
    }
}

/// The spec of one trial: `base` (without its sweep) with the trial's values set. A key
/// the pipeline does not have, or a value that makes it invalid, is an error naming both.
///
/// A value that changes a table's `type` (`train.optimizer.type = "adam"`) is set first,
/// and the table keeps only the keys the new type has: the base's settings of the old
/// type (RMSprop's `rho`, which the base spec holds even when the file left it to its
/// default) do not apply to it. The other values are set after, so they may name keys of
/// the new type (`train.optimizer.beta_1`).
pub fn trial_spec(base: &PipelineSpec, trial: &Trial) -> Result<PipelineSpec, Problem> {
    let problem = |err: String| {
        let key = trial.values.keys().next().cloned().unwrap_or_default();
        Problem::new(key, format!("trial {}: {err}", trial.index))
    };
    let to_document = |spec: &PipelineSpec| {
        serde_json::to_value(PipelineSpec {
            sweep: None,
            ..spec.clone()
        })
        .expect("a spec is JSON")
    };
    let (types, others): (Vec<_>, Vec<_>) = trial
        .values
        .iter()
        .partition(|(key, _)| key.rsplit('.').next() == Some("type"));
    let retyped_base;
    let base = if types.is_empty() {
        base
    } else {
        let mut document = to_document(base);
        for (key, value) in &types {
            set_path(&mut document, key, (*value).clone())?;
        }
        let tables: Vec<&str> = types
            .iter()
            .map(|(key, _)| key.strip_suffix(".type").unwrap_or(""))
            .collect();
        retyped_base = parse_retyped(document, &tables).map_err(problem)?;
        &retyped_base
    };
    let mut document = to_document(base);
    for (key, value) in others {
        set_path(&mut document, key, value.clone())?;
    }
    let spec: PipelineSpec =
        from_value(document).map_err(|err| problem(err.into_inner().to_string()))?;
    if let Some(Problem { key, message, .. }) = value_problems(&spec).into_iter().next() {
        let value = trial
            .values
            .get(&key)
            .map_or_else(String::new, |v| format!(" = {v}"));
        let message =
            format!("the sweep value `{key}`{value} makes the pipeline invalid: {message}");
        return Err(Problem::new(key, message));
    }
    Ok(spec)
}

/// `document` parsed after the `type` of each table in `tables` (dotted keys) changed,
/// dropping from those tables each key the new type does not have.
fn parse_retyped(mut document: Value, tables: &[&str]) -> Result<PipelineSpec, String> {
    loop {
        let error = match from_value::<_, PipelineSpec>(document.clone()) {
            Ok(spec) => return Ok(spec),
            Err(error) => error.into_inner().to_string(),
        };
        let unknown = error
            .strip_prefix("unknown field `")
            .and_then(|rest| rest.split('`').next());
        // Each pass removes a key, so the loop ends.
        let removed = unknown.is_some_and(|field| {
            tables.iter().any(|table| {
                table_at(&mut document, table)
                    .and_then(Value::as_object_mut)
                    .is_some_and(|map| map.remove(field).is_some())
            })
        });
        if !removed {
            return Err(error);
        }
    }
}

/// The value at dotted `key`, if the document has it.
fn table_at<'a>(document: &'a mut Value, key: &str) -> Option<&'a mut Value> {
    key.split('.')
        .filter(|segment| !segment.is_empty())
        .try_fold(document, |node, segment| match node {
            Value::Object(map) => map.get_mut(segment),
            Value::Array(items) => items.get_mut(segment.parse::<usize>().ok()?),
            _ => None,
        })
}

/// Sets `value` at dotted `key` (`head.2.rate`); every step of the path must exist.
pub fn set_path(document: &mut Value, key: &str, value: Value) -> Result<(), Problem> {
    let missing = || Problem::new(key, format!("the pipeline has no key `{key}`"));
    let mut node = document;
    let segments: Vec<&str> = key.split('.').collect();
    for (depth, segment) in segments.iter().enumerate() {
        let last = depth + 1 == segments.len();
        node = match node {
            Value::Object(map) if last => {
                if !map.contains_key(*segment) {
                    return Err(missing());
                }
                map.insert(segment.to_string(), value);
                return Ok(());
            }
            Value::Object(map) => map.get_mut(*segment).ok_or_else(missing)?,
            Value::Array(items) => {
                let index: usize = segment.parse().map_err(|_| missing())?;
                let item = items.get_mut(index).ok_or_else(missing)?;
                if last {
                    *item = value;
                    return Ok(());
                }
                item
            }
            _ => return Err(missing()),
        };
    }
    Err(missing())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sweep(text: &str) -> SweepSpec {
        toml::from_str(text).unwrap()
    }

    #[test]
    fn a_value_that_changes_a_tables_type_drops_the_old_types_keys() {
        use crate::spec::types::OptimizerSpec;
        let text = crate::spec::starter_pipeline(crate::spec::Arch::EfficientnetLite0);
        let mut base: PipelineSpec = toml::from_str(&text).unwrap();
        base.train.optimizer = serde_json::from_value(
            serde_json::json!({ "type": "rmsprop", "lr": 0.01, "rho": 0.8 }),
        )
        .unwrap();
        let trial = |values: &[(&str, Value)]| Trial {
            index: 0,
            values: values
                .iter()
                .map(|(key, value)| ((*key).to_string(), value.clone()))
                .collect(),
        };
        let adam = trial_spec(&base, &trial(&[("train.optimizer.type", "adam".into())])).unwrap();
        let expected: OptimizerSpec =
            serde_json::from_value(serde_json::json!({ "type": "adam", "lr": 0.01 })).unwrap();
        assert_eq!(adam.train.optimizer, expected);
        // A key of the new type is set after the type changed.
        let tuned = trial_spec(
            &base,
            &trial(&[
                ("train.optimizer.type", "adam".into()),
                ("train.optimizer.beta_1", 0.8.into()),
            ]),
        )
        .unwrap();
        let expected: OptimizerSpec = serde_json::from_value(
            serde_json::json!({ "type": "adam", "lr": 0.01, "beta_1": 0.8 }),
        )
        .unwrap();
        assert_eq!(tuned.train.optimizer, expected);
        // A type that does not exist is still an error.
        let bad = trial_spec(&base, &trial(&[("train.optimizer.type", "adamax".into())]));
        assert!(bad.is_err());
    }

    #[test]
    fn grid_is_the_cartesian_product_times_the_seeds() {
        let trials = expand(
            &sweep("\"head.2.rate\" = [0.0, 0.2, 0.5]\n\"train.epochs\" = [1, 2]\nseeds = [7, 8]"),
            1,
        )
        .unwrap();
        assert_eq!(trials.len(), 12);
        assert_eq!(trials[0].values["head.2.rate"], Value::from(0.0));
        assert_eq!(trials[0].values["pipeline.seed"], Value::from(7));
        assert_eq!(trials[1].values["pipeline.seed"], Value::from(8));
        assert_eq!(trials[11].values["head.2.rate"], Value::from(0.5));
        assert_eq!(trials[11].values["train.epochs"], Value::from(2));
    }

    #[test]
    fn random_draws_depend_on_the_seed_alone() {
        let spec = sweep(
            "method = \"random\"\ntrials = 20\n\"train.optimizer.lr\" = { loguniform = [1e-5, 1e-2] }\n\"head.2.rate\" = { uniform = [0.0, 0.5] }\n\"head.1.units\" = { int = [8, 64] }\n\"head.1.activation\" = { choice = [\"relu\", \"linear\"] }",
        );
        let first = expand(&spec, 3).unwrap();
        assert_eq!(first.len(), 20);
        assert_eq!(first, expand(&spec, 3).unwrap());
        assert_ne!(first, expand(&spec, 4).unwrap());
        for trial in &first {
            let lr = trial.values["train.optimizer.lr"].as_f64().unwrap();
            assert!((1e-5..1e-2).contains(&lr));
            let units = trial.values["head.1.units"].as_i64().unwrap();
            assert!((8..=64).contains(&units));
        }
    }

    #[test]
    fn list_gives_its_trials() {
        let trials = expand(&sweep("method = \"list\"\nlist = [{ \"head.2.rate\" = 0.1 }, { \"head.2.rate\" = 0.3, \"train.epochs\" = 2 }]"), 1).unwrap();
        assert_eq!(trials.len(), 2);
        assert_eq!(trials[1].values.len(), 2);
    }

    #[test]
    fn bad_sweeps_name_their_key() {
        assert_eq!(
            expand(&sweep("method = \"random\"\n\"a\" = [1]"), 1)
                .unwrap_err()
                .key,
            "trials"
        );
        assert_eq!(
            expand(&sweep("\"a\" = { uniform = [0.0, 1.0] }"), 1)
                .unwrap_err()
                .key,
            "a"
        );
        assert_eq!(expand(&sweep("\"a\" = []"), 1).unwrap_err().key, "a");
        let too_wide = "method = \"random\"\ntrials = 1\n\"a\" = { uniform = [-1.7e308, 1.7e308] }";
        assert!(
            expand(&sweep(too_wide), 1)
                .unwrap_err()
                .message
                .contains("too wide")
        );
        let mut document = serde_json::json!({"head": [{"rate": 0.1}]});
        assert!(set_path(&mut document, "head.0.rate", Value::from(0.2)).is_ok());
        assert_eq!(document["head"][0]["rate"], 0.2);
        assert_eq!(
            set_path(&mut document, "head.3.rate", Value::from(0.2))
                .unwrap_err()
                .message,
            "the pipeline has no key `head.3.rate`"
        );
        assert!(set_path(&mut document, "head.0.rat", Value::from(0.2)).is_err());
    }
}
