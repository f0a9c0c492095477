//! A problem in a pipeline file: what a check finds ([`Problem`]: a key, a message, a fix),
//! then located by line and column and rendered like rustc's and cargo's messages:
//! `error:`, ` --> file:line:col`, the line and a caret under the span.

use std::ops::Range;
use std::path::{Path, PathBuf};

use serde::Serialize;

/// A problem a check found: the key it is about, what is wrong and, when one is known, a
/// likely fix. Every check returns these rather than a shape of its own, so that a problem
/// becomes a located [`Diagnostic`] one way ([`Problem::at`], [`Problem::locate`]) and an
/// input error one way ([`Problem::input_error`]).
#[derive(Debug, Clone, PartialEq)]
pub struct Problem {
    /// The dotted key path it is about (`head.1.rate`). A sweep's problems name an entry of
    /// the table its values come from ([`Problem::locate_entry`]): `trials`, or an axis
    /// such as `head.1.rate`.
    pub key: String,
    pub message: String,
    /// A likely fix, shown as `help:`.
    pub help: Option<String>,
}

impl Problem {
    pub fn new(key: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            key: key.into(),
            message: message.into(),
            help: None,
        }
    }

    pub fn with_help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }

    /// The problem at byte range `span` of `text` (the text the span was found in). Its own
    /// help wins over the one [`Diagnostic::new`] guesses from a serde message.
    pub fn at(self, span: Option<Range<usize>>, text: &str) -> Diagnostic {
        let diagnostic = Diagnostic::new(&self.key, self.message, span, text);
        Diagnostic {
            help: self.help.or(diagnostic.help),
            ..diagnostic
        }
    }

    /// The problem at its key's value in `text`, the text that value was written in; without
    /// a place when the text does not hold the key.
    pub fn locate(self, text: &str) -> Diagnostic {
        let span = super::check::value_span(text, &self.key);
        self.at(span, text)
    }

    /// A problem about an entry of `table` (`sweep`, an experiment's `set`), a table whose
    /// keys are key paths themselves (`"head.1.rate"`), which splitting at dots would not
    /// find: keyed `table.KEY` and placed at the entry's key in `text`.
    pub fn locate_entry(self, table: &str, text: &str) -> Diagnostic {
        let span = super::check::locate_key_path(text, &[table, &self.key]);
        let key = format!("{table}.{}", self.key);
        Self { key, ..self }.at(span, text)
    }

    /// Problems found where no text is at hand to show them in (a backbone or head built
    /// from a sweep trial's spec, a sweep expanded again to plan it): an input error with
    /// each message on a line of its own. Only the messages are shown: the layer and head
    /// checks' name their key, and a sweep's were shown located when its file was checked.
    pub fn input_error(problems: impl IntoIterator<Item = Self>) -> anyhow::Error {
        let messages: Vec<String> = problems
            .into_iter()
            .map(|problem| problem.message)
            .collect();
        crate::error::input_error(messages.join("\n"))
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Diagnostic {
    /// The file the problem is in, when it is not the file being checked (an experiment's
    /// base pipeline).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file: Option<PathBuf>,
    /// The key the problem is about (`head.1.rate`), empty for the file as a whole.
    pub key: String,
    pub message: String,
    /// A likely fix, such as the closest known key.
    pub help: Option<String>,
    /// 1-based; 0 when the problem has no place in the file (a missing section).
    pub line: usize,
    pub column: usize,
    /// The located line and the caret's width, taken from the text the span was found in
    /// so that rendering never mixes one file's offsets with another file's text.
    #[serde(skip)]
    snippet: Option<Snippet>,
}

#[derive(Debug, Clone, PartialEq)]
struct Snippet {
    source_line: String,
    width: usize,
}

impl Diagnostic {
    /// A problem at byte range `span` of `text` (the text the span was found in).
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
        let located = span.and_then(|span| locate(text, span));
        let (line, column) = located
            .as_ref()
            .map_or((0, 0), |(line, column, _)| (*line, *column));
        Self {
            file: None,
            key: key.to_string(),
            message,
            help,
            line,
            column,
            snippet: located.map(|(_, _, snippet)| snippet),
        }
    }

    /// The problem as found in `file` rather than in the file being checked.
    pub fn in_file(mut self, file: &Path) -> Self {
        self.file = Some(file.to_path_buf());
        self
    }

    /// `error: MESSAGE`, the location, the source line with a caret, and the help. `file`
    /// is the file being checked; a problem found in another file names that one.
    pub fn render(&self, file: &Path) -> String {
        let file = self.file.as_deref().unwrap_or(file);
        let mut out = format!("error: {}\n", self.message);
        if let Some(Snippet { source_line, width }) = &self.snippet {
            let gutter = " ".repeat(self.line.to_string().len());
            out.push_str(&format!(
                "{gutter}--> {}:{}:{}\n{gutter} |\n{} | {source_line}\n{gutter} | {}{}\n",
                file.display(),
                self.line,
                self.column,
                self.line,
                " ".repeat(self.column - 1),
                "^".repeat(*width)
            ));
            if let Some(help) = &self.help {
                out.push_str(&format!("{gutter} = help: {help}\n"));
            }
        } else {
            out.push_str(&format!("  --> {}\n", file.display()));
            if let Some(help) = &self.help {
                out.push_str(&format!("   = help: {help}\n"));
            }
        }
        out
    }
}

/// 1-based line and column (in characters) of `span` in `text`, with its line and the
/// caret's width (in characters, at least 1, up to the end of the line); `None` when the
/// span does not fall on character boundaries of `text`.
fn locate(text: &str, span: Range<usize>) -> Option<(usize, usize, Snippet)> {
    let start = span.start.min(text.len());
    let before = text.get(..start)?;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let line_end = text[start..].find('\n').map_or(text.len(), |i| start + i);
    let width = text
        .get(start..span.end.clamp(start, line_end))?
        .chars()
        .count()
        .max(1);
    let (line, column) = line_and_column(text, start);
    let source_line = text[line_start..line_end].to_string();
    Some((line, column, Snippet { source_line, width }))
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
        let rendered = diagnostic.render(Path::new("p.toml"));
        crate::assert_contains(&rendered, "--> p.toml:2:1");
        crate::assert_contains(&rendered, "2 | batchsize = 3");
        crate::assert_contains(&rendered, "  | ^^^^^^^^^");
    }

    #[test]
    fn renders_the_text_it_was_located_in_whatever_text_comes_later() {
        // Columns count characters; the snippet is kept, so another file's text (an
        // experiment's, for a problem in its base pipeline) never meets these offsets.
        let text = "# é « »\nname = \"\"\n";
        let start = text.find("\"\"").unwrap();
        let diagnostic = Diagnostic::new("pipeline.name", "blank", Some(start..start + 2), text)
            .in_file(Path::new("base.toml"));
        assert_eq!((diagnostic.line, diagnostic.column), (2, 8));
        let rendered = diagnostic.render(Path::new("experiment.toml"));
        crate::assert_contains(&rendered, "--> base.toml:2:8");
        crate::assert_contains(&rendered, "2 | name = \"\"");
        crate::assert_contains(&rendered, "  |        ^^");
        // A span that is not on character boundaries of the text is shown without a place.
        let inside = Diagnostic::new("", "x", Some(3..4), text);
        assert_eq!((inside.line, inside.column), (0, 0));
    }
}
