//! Reading a pipeline file: checked as text (every problem reported, each located), then
//! paths resolved against the file's folder, then the rules that look at the filesystem.

use std::path::{Path, PathBuf};

use anyhow::Result;

use super::check::check_text;
use super::diagnostic::Diagnostic;
use super::experiment::{check_experiment, is_experiment};
use super::rules::{check_rules, missing_weights_problem};
use super::{Pipeline, PipelineSpec, flatten_params};
use crate::error::input_error;

/// Reads a pipeline file and checks everything, the data folders and weights file too.
pub fn load_pipeline(file: &Path) -> Result<Pipeline> {
    let text = read(file)?;
    check_pipeline(file, text.clone())
        .map_err(|problems| input_error(render_diagnostics(file, &problems)))
}

/// Reads a pipeline file for a command that looks at it without training (`summary`,
/// `plan`, `data check`, `augment preview`): as [`load_pipeline`], but a missing weights
/// file is a warning, since none of them reads the weights (as Keras' `model.summary()`
/// does not).
pub fn load_pipeline_to_inspect(file: &Path) -> Result<Pipeline> {
    let text = read(file)?;
    let pipeline = check(file, text.clone(), false)
        .map_err(|problems| input_error(render_diagnostics(file, &problems)))?;
    if let Some(problem) = missing_weights_problem(&pipeline.spec) {
        tracing::warn!(
            "{}: `runner run` needs it, this command does not",
            problem.message
        );
    }
    Ok(pipeline)
}

/// Checks pipeline `text` as if read from `file`, without looking at the filesystem: a
/// recorded run is rebuilt from its stored text even when its data is gone.
pub fn parse_pipeline(file: &Path, text: String) -> Result<Pipeline> {
    match check_text(&text) {
        Ok(spec) => Ok(resolved(file, text, spec)),
        Err(problems) => Err(input_error(render_diagnostics(file, &problems))),
    }
}

/// Everything `runner validate` checks: the text, then the rules across keys and against
/// the filesystem. Returns every problem found. An experiment file gives its base pipeline
/// with the experiment's changes and sweep.
pub fn check_pipeline(file: &Path, text: String) -> Result<Pipeline, Vec<Diagnostic>> {
    check(file, text, true)
}

fn check(file: &Path, text: String, needs_weights: bool) -> Result<Pipeline, Vec<Diagnostic>> {
    let experiment = if is_experiment(&text) {
        Some(check_experiment(file, &text)?)
    } else {
        None
    };
    let pipeline = match &experiment {
        Some(experiment) => pipeline_from_spec(&experiment.base_file, experiment.spec.clone()),
        None => resolved(file, text.clone(), check_text(&text)?),
    };
    let mut rules = check_rules(&pipeline.spec);
    if needs_weights {
        rules.extend(missing_weights_problem(&pipeline.spec));
    }
    // Located in the text the value was written in, not in `pipeline.text`, which for an
    // experiment is its resolved pipeline serialized.
    let problems: Vec<Diagnostic> = rules
        .into_iter()
        .map(|problem| match &experiment {
            Some(experiment) => experiment.locate(problem, &text),
            None => problem.locate(&text),
        })
        .collect();
    if problems.is_empty() {
        Ok(pipeline)
    } else {
        Err(problems)
    }
}

/// The file's text, or an input error naming it. Anything but a regular file (a folder, a
/// FIFO, a device) is refused before it is opened: reading a FIFO would wait forever.
pub fn read(file: &Path) -> Result<String> {
    let cannot_read = |reason: String| {
        input_error(format!(
            "cannot read pipeline file `{}`: {reason}",
            file.display()
        ))
    };
    let metadata = std::fs::metadata(file).map_err(|err| cannot_read(err.to_string()))?;
    if !metadata.is_file() {
        return Err(cannot_read(format!(
            "it is {}, not a regular file",
            file_kind(&metadata.file_type())
        )));
    }
    std::fs::read_to_string(file).map_err(|err| cannot_read(err.to_string()))
}

/// What a file that is not a regular file is, for the message refusing it.
fn file_kind(kind: &std::fs::FileType) -> &'static str {
    use std::os::unix::fs::FileTypeExt;
    if kind.is_dir() {
        "a folder"
    } else if kind.is_fifo() {
        "a FIFO"
    } else if kind.is_socket() {
        "a socket"
    } else if kind.is_block_device() || kind.is_char_device() {
        "a device"
    } else {
        "a special file"
    }
}

/// Every diagnostic, the first without its `error: ` prefix (the caller prints it).
pub fn render_diagnostics(file: &Path, problems: &[Diagnostic]) -> String {
    let rendered: Vec<String> = problems
        .iter()
        .map(|problem| problem.render(file))
        .collect();
    let mut out = rendered
        .join("\n")
        .trim_start_matches("error: ")
        .trim_end()
        .to_string();
    if problems.len() > 1 {
        out.push_str(&format!(
            "\n\nerror: `{}` has {} problems",
            file.display(),
            problems.len()
        ));
    }
    out
}

/// A pipeline built from a spec as written (a sweep trial, an experiment), anchored at
/// `file` for its relative paths; its text is the spec serialized as TOML.
pub fn pipeline_from_spec(file: &Path, written: PipelineSpec) -> Pipeline {
    let text = toml::to_string(&written).expect("a spec serializes to TOML");
    resolved(file, text, written)
}

fn resolved(file: &Path, text: String, written: PipelineSpec) -> Pipeline {
    let params = flatten_params(&written);
    let mut spec = written.clone();
    resolve_paths(&mut spec, file.parent().unwrap_or(Path::new(".")));
    Pipeline {
        file: std::fs::canonicalize(file).unwrap_or_else(|_| file.to_path_buf()),
        text,
        spec,
        written,
        params,
    }
}

/// Makes every path in the spec relative to the pipeline file's folder, as a user reading
/// the file would expect.
fn resolve_paths(spec: &mut PipelineSpec, base: &Path) {
    let resolve = |path: &mut PathBuf| {
        if path.is_relative() {
            *path = base.join(&*path);
        }
    };
    let data = &mut spec.data;
    for path in [
        &mut data.train,
        &mut data.validation,
        &mut data.test,
        &mut data.train_csv,
        &mut data.validation_csv,
        &mut data.test_csv,
    ]
    .into_iter()
    .flatten()
    {
        resolve(path);
    }
    if spec.backbone.weights_file().is_some() {
        resolve(&mut spec.backbone.weights);
    }
    if let Some(dir) = spec
        .executor
        .as_mut()
        .and_then(|executor| executor.shared_dir.as_mut())
    {
        resolve(dir);
    }
}
