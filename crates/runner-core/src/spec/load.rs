//! Reading a pipeline file: TOML errors rendered like cargo's (file, line, column, caret),
//! with a "did you mean" for misspelled keys and values, and paths resolved against the
//! file's folder.

use std::ops::Range;
use std::path::{Path, PathBuf};

use anyhow::Result;

use super::validate::validate_values;
use super::{Pipeline, PipelineSpec, flatten_params};
use crate::error::input_error;

/// Reads, parses and checks a pipeline file.
pub fn load_pipeline(file: &Path) -> Result<Pipeline> {
    let text = std::fs::read_to_string(file).map_err(|err| {
        input_error(format!(
            "cannot read pipeline file `{}`: {err}",
            file.display()
        ))
    })?;
    parse_pipeline(file, text)
}

/// Parses and checks pipeline `text` as if read from `file` (which need not exist any
/// more: a recorded run is rebuilt from its stored text).
pub fn parse_pipeline(file: &Path, text: String) -> Result<Pipeline> {
    let mut spec: PipelineSpec = toml::from_str(&text)
        .map_err(|err| input_error(render_toml_error(file, &text, err.message(), err.span())))?;
    validate_values(&spec)
        .map_err(|problem| input_error(format!("{}: {problem}", file.display())))?;
    let params = flatten_params(&spec);
    resolve_paths(&mut spec, file.parent().unwrap_or(Path::new(".")));
    Ok(Pipeline {
        file: std::fs::canonicalize(file).unwrap_or_else(|_| file.to_path_buf()),
        text,
        spec,
        params,
    })
}

/// Makes every path in the spec relative to the pipeline file's folder, as a user reading
/// the file would expect.
fn resolve_paths(spec: &mut PipelineSpec, base: &Path) {
    let resolve = |path: &mut PathBuf| {
        if path.is_relative() {
            *path = base.join(&*path);
        }
    };
    resolve(&mut spec.data.train);
    resolve(&mut spec.data.validation);
    if spec.backbone.weights_file().is_some() {
        resolve(&mut spec.backbone.weights);
    }
}

/// Formats a parse error as `error: MESSAGE` then ` --> file:line:col` and the line with a
/// caret under the offending span.
fn render_toml_error(file: &Path, text: &str, message: &str, span: Option<Range<usize>>) -> String {
    let message = message.trim_end();
    let message = match suggestion(message) {
        Some(hint) => format!("{message}\n  = help: did you mean `{hint}`?"),
        None => message.to_string(),
    };
    let Some(span) = span else {
        return format!("{}: {message}", file.display());
    };
    let start = span.start.min(text.len());
    let line_start = text[..start].rfind('\n').map_or(0, |i| i + 1);
    let line_end = text[start..].find('\n').map_or(text.len(), |i| start + i);
    let line_no = text[..start].matches('\n').count() + 1;
    let column = text[line_start..start].chars().count() + 1;
    let source_line = &text[line_start..line_end];
    let width = text[start..span.end.min(line_end).max(start)]
        .chars()
        .count()
        .max(1);
    let gutter = " ".repeat(line_no.to_string().len());
    format!(
        "{message}\n{gutter}--> {}:{line_no}:{column}\n{gutter} |\n{line_no} | {source_line}\n{gutter} | {}{}",
        file.display(),
        " ".repeat(column - 1),
        "^".repeat(width)
    )
}

/// For serde's "unknown field `x`, expected one of `a`, `b`" and "unknown variant" messages,
/// the closest expected name, when one is close enough to be a likely typo.
fn suggestion(message: &str) -> Option<String> {
    let found = between(message, "unknown field `", "`")
        .or_else(|| between(message, "unknown variant `", "`"))?;
    let expected_part = &message[message.find("expected")?..];
    expected_part
        .split('`')
        .skip(1)
        .step_by(2)
        .map(|candidate| (strsim::levenshtein(found, candidate), candidate))
        .filter(|(distance, candidate)| *distance <= candidate.len().max(found.len()) / 3 + 1)
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, candidate)| candidate.to_string())
}

fn between<'a>(text: &'a str, start: &str, end: &str) -> Option<&'a str> {
    let rest = &text[text.find(start)? + start.len()..];
    Some(&rest[..rest.find(end)?])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_the_closest_field() {
        let message =
            "unknown field `horizontl_flip`, expected `horizontal_flip` or `vertical_flip`";
        assert_eq!(suggestion(message).as_deref(), Some("horizontal_flip"));
    }

    #[test]
    fn does_not_suggest_a_distant_field() {
        let message = "unknown field `colour`, expected `horizontal_flip` or `vertical_flip`";
        assert_eq!(suggestion(message), None);
    }

    #[test]
    fn renders_line_column_and_caret() {
        let text = "[data]\nbatchsize = 3\n";
        let rendered = render_toml_error(Path::new("p.toml"), text, "unknown field", Some(7..16));
        assert!(rendered.contains("--> p.toml:2:1"), "{rendered}");
        assert!(rendered.contains("2 | batchsize = 3"), "{rendered}");
        assert!(rendered.contains("  | ^^^^^^^^^"), "{rendered}");
    }
}
