//! Experiment files: a base pipeline, values changed in it and a sweep, so that a study
//! lives apart from the pipeline it varies.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::check::{check_text, locate_key_path};
use super::diagnostic::Diagnostic;
use super::executor::ExecutorSpec;
use super::sweep::{SweepSpec, Trial, trial_spec};
use super::types::PipelineSpec;

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

/// The spec an experiment describes, as written (paths relative to the base file), and
/// the base file. Problems are located in the experiment file.
pub fn check_experiment(
    file: &Path,
    text: &str,
) -> Result<(PathBuf, PipelineSpec), Vec<Diagnostic>> {
    let experiment: ExperimentSpec = toml::from_str(text)
        .map_err(|err| vec![Diagnostic::new("", err.message(), err.span(), text)])?;
    let base_file = file
        .parent()
        .unwrap_or(Path::new("."))
        .join(&experiment.base);
    let at = |segments: &[&str], message: String| {
        let key = segments.join(".");
        vec![Diagnostic::new(
            &key,
            message,
            locate_key_path(text, segments),
            text,
        )]
    };
    let base_text = std::fs::read_to_string(&base_file).map_err(|err| {
        at(
            &["base"],
            format!(
                "cannot read the base pipeline `{}`: {err}",
                base_file.display()
            ),
        )
    })?;
    let base = check_text(&base_text).map_err(|problems| {
        let rendered = super::load::render_diagnostics(&base_file, &base_text, &problems);
        at(
            &["base"],
            format!(
                "the base pipeline `{}` is not valid: {rendered}",
                base_file.display()
            ),
        )
    })?;
    let mut spec = if experiment.set.is_empty() {
        base
    } else {
        let changes = Trial {
            index: 0,
            values: experiment.set.clone(),
        };
        trial_spec(&base, &changes).map_err(|(key, message)| at(&["set", &key], message))?
    };
    if experiment.sweep.is_some() {
        spec.sweep = experiment.sweep;
    }
    if experiment.executor.is_some() {
        spec.executor = experiment.executor;
    }
    if let Some((key, message)) = super::check::sweep_problem(&spec) {
        return Err(at(&["sweep", &key], message));
    }
    Ok((base_file, spec))
}
