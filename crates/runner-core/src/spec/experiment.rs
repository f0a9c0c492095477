//! Experiment files: a base pipeline, values changed in it and a sweep, so that a study
//! lives apart from the pipeline it varies.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::check::{check_text, locate_key_path};
use super::diagnostic::{Diagnostic, Problem};
use super::executor::ExecutorSpec;
use super::sweep::{SweepSpec, Trial, trial_spec};
use super::types::PipelineSpec;
use super::validate::out_of_range_values;

/// A study of a base pipeline: values changed in it and the sweep to run.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(title = "runner experiment")]
pub struct ExperimentSpec {
    /// The pipeline file this experiment varies, relative to the experiment file.
    pub base: PathBuf,
    /// Values changed in the base pipeline, by key path (`"train.epochs" = 3`).
    #[serde(default)]
    pub set: BTreeMap<String, Value>,
    /// The sweep to run; it replaces the base pipeline's own.
    #[serde(default)]
    pub sweep: Option<SweepSpec>,
    /// How `runner run --executor slurm` submits the trials; it replaces the base
    /// pipeline's own.
    #[serde(default)]
    pub executor: Option<ExecutorSpec>,
}

/// Whether `text` is an experiment file (it names a `base` pipeline) rather than a pipeline.
pub fn is_experiment(text: &str) -> bool {
    toml::from_str::<toml::Table>(text).is_ok_and(|table| table.contains_key("base"))
}

/// An experiment resolved to the pipeline it runs, with what is needed to find where each
/// value of that pipeline was written.
pub struct CheckedExperiment {
    /// The base pipeline file, which relative paths in `spec` start from.
    pub base_file: PathBuf,
    /// The base pipeline's text.
    pub base_text: String,
    /// The base pipeline with the experiment's changes, sweep and executor, as written.
    pub spec: PipelineSpec,
    /// The key paths the experiment's `[set]` changes.
    pub set_keys: Vec<String>,
}

impl CheckedExperiment {
    /// A problem of the resolved pipeline, located where its key's value was written: at
    /// the experiment's `[set]` entry that changed it (`text` is the experiment file's), else
    /// in the base pipeline file.
    pub fn locate(&self, problem: Problem, text: &str) -> Diagnostic {
        let nested =
            |outer: &str, inner: &str| inner == outer || inner.starts_with(&format!("{outer}."));
        let key = problem.key.as_str();
        match self
            .set_keys
            .iter()
            .find(|set| nested(set, key) || nested(key, set))
        {
            Some(set) => problem.at(locate_key_path(text, &["set", set]), text),
            None => problem.locate(&self.base_text).in_file(&self.base_file),
        }
    }
}

/// The pipeline an experiment describes. Problems of the experiment itself are located in
/// the experiment file; those of its base pipeline in the base file.
pub fn check_experiment(file: &Path, text: &str) -> Result<CheckedExperiment, Vec<Diagnostic>> {
    let experiment: ExperimentSpec = toml::from_str(text)
        .map_err(|err| vec![Diagnostic::new("", err.message(), err.span(), text)])?;
    let base_file = file
        .parent()
        .unwrap_or(Path::new("."))
        .join(&experiment.base);
    // The experiment's own problems are shown at their key in its file.
    let at_key = |problem: Problem| {
        let span = locate_key_path(text, &problem.key.split('.').collect::<Vec<_>>());
        vec![problem.at(span, text)]
    };
    let base_text = super::load::read(&base_file)
        .map_err(|err| at_key(Problem::new("base", format!("the base pipeline: {err:#}"))))?;
    let base = check_text(&base_text).map_err(|problems| {
        problems
            .into_iter()
            .map(|problem| problem.in_file(&base_file))
            .collect::<Vec<_>>()
    })?;
    let mut spec = if experiment.set.is_empty() {
        base
    } else {
        let changes = Trial {
            index: 0,
            values: experiment.set.clone(),
        };
        trial_spec(&base, &changes).map_err(|problem| vec![problem.locate_entry("set", text)])?
    };
    if experiment.sweep.is_some() {
        spec.sweep = experiment.sweep;
    }
    if experiment.executor.is_some() {
        spec.executor = experiment.executor;
    }
    // The experiment's own sweep and executor get the range checks a pipeline's get; the
    // rest was checked in the base and in `[set]`. Their keys are the same in this file.
    if let Some(problem) = out_of_range_values(&spec).into_iter().next() {
        return Err(at_key(problem));
    }
    if let Some(problem) = super::check::sweep_problem(&spec) {
        return Err(vec![problem.locate_entry("sweep", text)]);
    }
    Ok(CheckedExperiment {
        base_file,
        base_text,
        spec,
        set_keys: experiment.set.into_keys().collect(),
    })
}
