//! A problem in a pipeline file, located by line and column and rendered like rustc's and
//! cargo's messages: `error:`, ` --> file:line:col`, the line and a caret under the span.

use std::ops::Range;
use std::path::Path;

use serde::Serialize;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Diagnostic {
    /// The key the problem is about (`head.1.rate`), empty for the file as a whole.
    pub key: String,
    pub message: String,
    /// A likely fix, such as the closest known key.
    pub help: Option<String>,
    /// 1-based; 0 when the problem has no place in the file (a missing section).
    pub line: usize,
    pub column: usize,
    #[serde(skip)]
    pub span: Option<Range<usize>>,
}

impl Diagnostic {
    pub fn new(
        key: &str,
        message: impl Into<String>,
        span: Option<Range<usize>>,
        text: &str,
    ) -> Self {
        // toml appends "in `key`" on a second line; the location says it better.
        let message: String = message.into();
        let message = message
            .lines()
            .next()
            .unwrap_or_default()
            .trim_end()
            .to_string();
        let help = suggestion(&message).map(|name| format!("did you mean `{name}`?"));
        let (line, column) = span
            .as_ref()
            .map_or((0, 0), |span| line_and_column(text, span.start));
        Self {
            key: key.to_string(),
            message,
            help,
            line,
            column,
            span,
        }
    }

    pub fn with_help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }

    /// `error: MESSAGE`, the location, the source line with a caret, and the help.
    pub fn render(&self, file: &Path, text: &str) -> String {
        let mut out = format!("error: {}\n", self.message);
        match &self.span {
            Some(span) => {
                let start = span.start.min(text.len());
                let line_start = text[..start].rfind('\n').map_or(0, |i| i + 1);
                let line_end = text[start..].find('\n').map_or(text.len(), |i| start + i);
                let source_line = &text[line_start..line_end];
                let width = text[start..span.end.clamp(start, line_end)]
                    .chars()
                    .count()
                    .max(1);
                let gutter = " ".repeat(self.line.to_string().len());
                out.push_str(&format!(
                    "{gutter}--> {}:{}:{}\n{gutter} |\n{} | {source_line}\n{gutter} | {}{}\n",
                    file.display(),
                    self.line,
                    self.column,
                    self.line,
                    " ".repeat(self.column - 1),
                    "^".repeat(width)
                ));
                if let Some(help) = &self.help {
                    out.push_str(&format!("{gutter} = help: {help}\n"));
                }
            }
            None => {
                out.push_str(&format!("  --> {}\n", file.display()));
                if let Some(help) = &self.help {
                    out.push_str(&format!("   = help: {help}\n"));
                }
            }
        }
        out
    }
}

/// 1-based line and column (in characters) of a byte offset.
fn line_and_column(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let line_start = text[..offset].rfind('\n').map_or(0, |i| i + 1);
    (
        text[..offset].matches('\n').count() + 1,
        text[line_start..offset].chars().count() + 1,
    )
}

/// For serde's "unknown field `x`, expected one of `a`, `b`" and "unknown variant" messages,
/// the closest expected name, when one is close enough to be a likely typo.
fn suggestion(message: &str) -> Option<String> {
    let found = ["unknown field `", "unknown variant `", "unknown section `"]
        .iter()
        .find_map(|start| between(message, start, "`"))?;
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
        let diagnostic = Diagnostic::new("data.batchsize", "unknown field", Some(7..16), text);
        assert_eq!((diagnostic.line, diagnostic.column), (2, 1));
        let rendered = diagnostic.render(Path::new("p.toml"), text);
        assert!(rendered.contains("--> p.toml:2:1"), "{rendered}");
        assert!(rendered.contains("2 | batchsize = 3"), "{rendered}");
        assert!(rendered.contains("  | ^^^^^^^^^"), "{rendered}");
    }
}
