//! `runner run FILE -s KEY=VALUE`: values of the pipeline changed for this run from the
//! command line, as Hydra's overrides: the key paths of an experiment's `[set]`, set and
//! checked the same way, and recorded in the run's parameters like any value of the file.

use std::collections::BTreeMap;

use anyhow::Result;
use serde_json::Value;

use super::check::sweep_problem;
use super::load::pipeline_from_spec;
use super::rules::{check_rules, missing_weights_problem};
use super::sweep::{Trial, trial_spec};
use super::{Pipeline, Problem};
use crate::error::input_error;

/// `KEY=VALUE`, the value read as TOML (`0.3`, `true`, `[224, 224]`, `"adam"`), or as a
/// string when it is not TOML (`-s pipeline.name=dogs`).
fn parse_override(text: &str) -> Result<(String, Value)> {
    let Some((key, value)) = text.split_once('=') else {
        return Err(input_error(format!(
            "`-s {text}`: an override is KEY=VALUE, as in `-s head.2.rate=0.3`"
        )));
    };
    let key = key.trim();
    if key.is_empty() {
        return Err(input_error(format!(
            "`-s {text}`: the key before `=` is missing"
        )));
    }
    let value = value.trim();
    let parsed = toml::from_str::<toml::Table>(&format!("value = {value}"))
        .ok()
        .and_then(|mut table| table.remove("value"))
        .map_or_else(
            || Value::String(value.to_string()),
            |toml| serde_json::to_value(toml).expect("a TOML value is JSON"),
        );
    Ok((key.to_string(), parsed))
}

/// `pipeline` with `overrides` set, checked as the file was (values, rules, the sweep,
/// the weights file), its text and parameters those of the changed pipeline.
pub fn apply_overrides(pipeline: Pipeline, overrides: &[String]) -> Result<Pipeline> {
    if overrides.is_empty() {
        return Ok(pipeline);
    }
    let values: BTreeMap<String, Value> = overrides
        .iter()
        .map(|text| parse_override(text))
        .collect::<Result<_>>()?;
    // A problem is shown with the override that caused it, or at its own key when it comes
    // from the combination.
    let given = |key: &str| {
        overrides
            .iter()
            .find(|text| text.split_once('=').is_some_and(|(k, _)| k.trim() == key))
            .map_or_else(|| key.to_string(), |text| format!("-s {text}"))
    };
    let report = |problems: Vec<Problem>| {
        let lines: Vec<String> = problems
            .into_iter()
            .map(|problem| format!("`{}`: {}", given(&problem.key), problem.message))
            .collect();
        input_error(lines.join("\n"))
    };
    let trial = Trial { index: 0, values };
    let mut written =
        trial_spec(&pipeline.written, &trial).map_err(|problem| report(vec![problem]))?;
    // `trial_spec` makes one trial's spec, without the sweep: the overridden file keeps it.
    written.sweep.clone_from(&pipeline.written.sweep);
    if let Some(problem) = sweep_problem(&written) {
        return Err(report(vec![problem]));
    }
    let changed = pipeline_from_spec(&pipeline.file, written);
    let mut problems = check_rules(&changed.spec);
    problems.extend(missing_weights_problem(&changed.spec));
    if problems.is_empty() {
        Ok(changed)
    } else {
        Err(report(problems))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::is_input_error;
    use crate::spec::parse_pipeline;
    use crate::spec::small_pipeline::small_pipeline;

    /// A pipeline whose data folders exist (the rules look), in a folder kept while it is
    /// used.
    fn pipeline() -> (tempfile::TempDir, Pipeline) {
        let text = small_pipeline("none")
            + r#"
            [sweep]
            method = "grid"
            "train.epochs" = [1, 2]
            "#;
        let dir = tempfile::tempdir().unwrap();
        for split in ["train", "validation"] {
            for class in ["cats", "dogs"] {
                std::fs::create_dir_all(dir.path().join("data").join(split).join(class)).unwrap();
            }
        }
        let pipeline = parse_pipeline(&dir.path().join("p.toml"), text).unwrap();
        (dir, pipeline)
    }

    fn apply(overrides: &[&str]) -> Result<Pipeline> {
        let overrides: Vec<String> = overrides.iter().map(ToString::to_string).collect();
        let (_dir, pipeline) = pipeline();
        apply_overrides(pipeline, &overrides)
    }

    #[test]
    fn overrides_change_values_and_parameters_and_keep_the_sweep() {
        let changed = apply(&[
            "head.1.rate=0.3",
            "train.optimizer.lr = 3e-4",
            "pipeline.name=dogs",
            "data.image_size=[48, 40]",
        ])
        .unwrap();
        assert_eq!(changed.params["head.1.rate"], 0.3);
        assert_eq!(changed.params["train.optimizer.lr"], 3e-4);
        assert_eq!(changed.spec.pipeline.name, "dogs");
        assert_eq!(changed.spec.data.image_size, [48, 40]);
        assert!(changed.text.contains("rate = 0.3"), "{}", changed.text);
        assert!(changed.written.sweep.is_some());
        assert_eq!(apply(&[]).unwrap().params, pipeline().1.params);
    }

    #[test]
    fn a_bad_override_is_an_input_error_naming_it() {
        for (overrides, message) in [
            (&["head.1.rate"][..], "an override is KEY=VALUE"),
            (&["=3"], "the key before `=` is missing"),
            (
                &["head.9.rate=0.3"],
                "`-s head.9.rate=0.3`: the pipeline has no key",
            ),
            (&["head.1.rate=7"], "`-s head.1.rate=7`"),
            (&["train.epochs=many"], "`-s train.epochs=many`"),
            (&["backbone.cut=block99"], "has no layer named `block99`"),
        ] {
            let error = apply(overrides).unwrap_err();
            assert!(is_input_error(&error), "{overrides:?}");
            assert!(
                error.to_string().contains(message),
                "{overrides:?}: {error}"
            );
        }
    }
}
