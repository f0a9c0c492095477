//! `runner validate`: every problem of every pipeline file. `runner-torch` also checks
//! the weights file a pipeline names against its network; `runner` hands it the files
//! that name one.

use std::path::{Path, PathBuf};

use anyhow::Result;

use super::Format;
use crate::spec;

/// Check pipeline files: every problem, with file, line, column and a caret
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Examples:\n  runner validate pipelines/*.toml\n  runner validate my.toml --format json"
)]
pub struct Args {
    #[arg(required = true)]
    files: Vec<PathBuf>,
    #[arg(long, value_enum, default_value_t = Format::Table)]
    format: Format,
}

impl Args {
    /// Whether a file is a valid pipeline (its weights file exists then) that names a
    /// weights file; an invalid one is reported without LibTorch.
    pub(super) fn names_weights_file(&self) -> bool {
        self.files.iter().any(|file| {
            spec::load::read(file)
                .ok()
                .and_then(|text| spec::check_pipeline(file, text).ok())
                .is_some_and(|pipeline| pipeline.spec.backbone.weights_file().is_some())
        })
    }
}

/// Checks a pipeline's weights file against its backbone (names and shapes); `runner-torch`
/// has one, `runner` not.
pub type WeightsCheck<'a> = &'a dyn Fn(&spec::PipelineSpec) -> Result<()>;

/// Every problem of every file, and with `check_weights` the weights files too; an input
/// error when any has one.
pub fn exec(args: Args, check_weights: Option<WeightsCheck>) -> Result<()> {
    let Args { files, format } = args;
    let mut report = Vec::new();
    let mut failed = 0;
    for file in &files {
        let problems = match spec::load::read(file) {
            Ok(text) => match check_with_weights(file, text.clone(), check_weights) {
                Ok(_) => Vec::new(),
                Err(problems) => {
                    if format == Format::Table {
                        eprintln!("error: {}\n", spec::render_diagnostics(file, &problems));
                    }
                    problems
                }
            },
            Err(error) => {
                if format == Format::Table {
                    eprintln!("error: {error:#}\n");
                }
                vec![spec::Diagnostic::new("", format!("{error:#}"), None, "")]
            }
        };
        if problems.is_empty() && format == Format::Table {
            eprintln!("{}: ok", file.display());
        }
        failed += usize::from(!problems.is_empty());
        report.push(
            serde_json::json!({ "file": file, "valid": problems.is_empty(), "problems": problems }),
        );
    }
    if format == Format::Json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    }
    if failed > 0 {
        return Err(crate::error::InputError(format!(
            "{failed} of {} pipeline file(s) are not valid",
            files.len()
        ))
        .into());
    }
    Ok(())
}

/// The pipeline's problems, then its weights file's when there are none and a check is given.
fn check_with_weights(
    file: &Path,
    text: String,
    check_weights: Option<WeightsCheck>,
) -> Result<spec::Pipeline, Vec<spec::Diagnostic>> {
    let pipeline = spec::check_pipeline(file, text)?;
    match check_weights.map(|check| check(&pipeline.spec)) {
        Some(Err(error)) => Err(vec![
            spec::Problem::new("backbone.weights", format!("{error:#}")).locate(&pipeline.text),
        ]),
        _ => Ok(pipeline),
    }
}
