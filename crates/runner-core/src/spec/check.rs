//! Checking a pipeline file's text: every section is read on its own, so one file gets one
//! diagnostic per broken section or head layer rather than only the first problem, and each
//! diagnostic points at the key it is about.

use std::ops::Range;

use serde::de::DeserializeOwned;
use serde_path_to_error::Segment;
use toml_edit::{ImDocument, Item};

use super::diagnostic::{Diagnostic, Problem};
use super::executor::ExecutorSpec;
use super::integers::from_value;
use super::rules::csv_logger_problems;
use super::sweep::{SweepSpec, expand, trial_spec};
use super::types::{
    AugmentSpec, BackboneSpec, CallbackSpec, DataSpec, HeadLayerSpec, PhaseSpec, PipelineSection,
    PipelineSpec, TrainSpec,
};
use super::validate::out_of_range_values;

const SECTIONS: [&str; 10] = [
    "pipeline",
    "data",
    "backbone",
    "head",
    "augment",
    "train",
    "callbacks",
    "phases",
    "sweep",
    "executor",
];

/// The spec in `text`, or every problem found in it.
pub fn check_text(text: &str) -> Result<PipelineSpec, Vec<Diagnostic>> {
    let document = ImDocument::parse(text)
        .map_err(|err| vec![Diagnostic::new("", err.message(), err.span(), text)])?;
    let table: toml::Table = toml::from_str(text)
        .map_err(|err| vec![Diagnostic::new("", err.message(), err.span(), text)])?;
    let checker = Checker {
        text,
        document: &document,
    };
    let mut problems = Vec::new();
    for key in table.keys().filter(|key| !SECTIONS.contains(&key.as_str())) {
        let expected = SECTIONS.map(|s| format!("`{s}`")).join(", ");
        problems.push(checker.diagnostic(
            key,
            format!("unknown section `{key}`, expected one of {expected}"),
            true,
        ));
    }
    let pipeline = checker.section::<PipelineSection>(&table, "pipeline", &mut problems);
    let data = checker.section::<DataSpec>(&table, "data", &mut problems);
    let backbone = checker.section::<BackboneSpec>(&table, "backbone", &mut problems);
    let head = checker.head(&table, &mut problems);
    let augment = match table.get("augment") {
        Some(_) => checker.section::<AugmentSpec>(&table, "augment", &mut problems),
        None => Some(AugmentSpec::default()),
    };
    let train = checker.section::<TrainSpec>(&table, "train", &mut problems);
    let callbacks = checker.optional_array::<CallbackSpec>(&table, "callbacks", &mut problems);
    let phases = checker.optional_array::<PhaseSpec>(&table, "phases", &mut problems);
    let sweep = match table.get("sweep") {
        Some(_) => checker
            .section::<SweepSpec>(&table, "sweep", &mut problems)
            .map(Some),
        None => Some(None),
    };
    let executor = match table.get("executor") {
        Some(_) => checker
            .section::<ExecutorSpec>(&table, "executor", &mut problems)
            .map(Some),
        None => Some(None),
    };
    let (
        Some(pipeline),
        Some(data),
        Some(backbone),
        Some(head),
        Some(augment),
        Some(train),
        Some(callbacks),
        Some(phases),
        Some(sweep),
        Some(executor),
    ) = (
        pipeline, data, backbone, head, augment, train, callbacks, phases, sweep, executor,
    )
    else {
        return Err(problems);
    };
    let spec = PipelineSpec {
        pipeline,
        data,
        backbone,
        head,
        augment,
        train,
        callbacks,
        phases,
        sweep,
        executor,
    };
    for problem in value_problems(&spec) {
        let span = locate(checker.document, &problem.key, false);
        problems.push(problem.at(span, text));
    }
    if problems.is_empty()
        && let Some(problem) = sweep_problem(&spec)
    {
        problems.push(problem.locate_entry("sweep", text));
    }
    if problems.is_empty() {
        Ok(spec)
    } else {
        Err(problems)
    }
}

/// Every value that parses but is not allowed: out of range, or a file the run writes
/// that would not stay in the run's folder.
pub(super) fn value_problems(spec: &PipelineSpec) -> Vec<Problem> {
    let mut problems = out_of_range_values(spec);
    problems.extend(csv_logger_problems(spec));
    problems
}

/// The span of a key given as segments (which may hold dots) in `text`, if it parses.
pub(super) fn locate_key_path(text: &str, segments: &[&str]) -> Option<Range<usize>> {
    ImDocument::parse(text)
        .ok()
        .and_then(|document| locate_segments(&document, segments, true))
}

/// The span of the value at dotted `key` in `text`, if it parses.
pub(super) fn value_span(text: &str, key: &str) -> Option<Range<usize>> {
    ImDocument::parse(text)
        .ok()
        .and_then(|document| locate(&document, key, false))
}

/// The first problem of the spec's sweep: one that cannot expand, or a trial that would
/// make the pipeline invalid.
pub(super) fn sweep_problem(spec: &PipelineSpec) -> Option<Problem> {
    let sweep = spec.sweep.as_ref()?;
    let trials = match expand(sweep, spec.pipeline.seed) {
        Ok(trials) => trials,
        Err(problem) => return Some(problem),
    };
    trials
        .iter()
        .find_map(|trial| trial_spec(spec, trial).err())
}

struct Checker<'a> {
    text: &'a str,
    document: &'a ImDocument<&'a str>,
}

impl Checker<'_> {
    /// A diagnostic at `key`: at the key itself when `at_key` (an unknown or misplaced
    /// key), else at its value.
    fn diagnostic(&self, key: &str, message: impl Into<String>, at_key: bool) -> Diagnostic {
        Diagnostic::new(key, message, locate(self.document, key, at_key), self.text)
    }

    fn section<T: DeserializeOwned>(
        &self,
        table: &toml::Table,
        name: &str,
        problems: &mut Vec<Diagnostic>,
    ) -> Option<T> {
        let Some(value) = table.get(name) else {
            problems.push(Diagnostic::new(
                name,
                format!("missing section `[{name}]`"),
                None,
                self.text,
            ));
            return None;
        };
        self.deserialize(name, value.clone(), problems)
    }

    /// Each `[[head]]` layer on its own, so every broken layer is reported.
    fn head(
        &self,
        table: &toml::Table,
        problems: &mut Vec<Diagnostic>,
    ) -> Option<Vec<HeadLayerSpec>> {
        if !table.contains_key("head") {
            problems.push(
                Problem::new("head", "missing `[[head]]` layers")
                    .with_help("add at least a `dense` layer: [[head]] type = \"dense\" units = 1 activation = \"sigmoid\"")
                    .at(None, self.text),
            );
            return None;
        }
        self.array(table, "head", "layer", problems)
    }

    /// An optional array of tables (`[[callbacks]]`, `[[phases]]`), each entry checked on
    /// its own; empty when missing.
    fn optional_array<T: DeserializeOwned>(
        &self,
        table: &toml::Table,
        name: &str,
        problems: &mut Vec<Diagnostic>,
    ) -> Option<Vec<T>> {
        if table.contains_key(name) {
            self.array(table, name, "entry", problems)
        } else {
            Some(Vec::new())
        }
    }

    /// The array of tables `name`, each `entry` checked on its own, so that every broken one
    /// is reported.
    fn array<T: DeserializeOwned>(
        &self,
        table: &toml::Table,
        name: &str,
        entry: &str,
        problems: &mut Vec<Diagnostic>,
    ) -> Option<Vec<T>> {
        let Some(entries) = table.get(name).and_then(toml::Value::as_array) else {
            problems.push(self.diagnostic(
                name,
                format!("`{name}` must be an array of tables: write each {entry} as `[[{name}]]`"),
                false,
            ));
            return None;
        };
        let before = problems.len();
        let parsed: Vec<T> = entries
            .iter()
            .enumerate()
            .filter_map(|(index, entry)| {
                self.deserialize(&format!("{name}.{index}"), entry.clone(), problems)
            })
            .collect();
        (problems.len() == before).then_some(parsed)
    }

    fn deserialize<T: DeserializeOwned>(
        &self,
        prefix: &str,
        value: toml::Value,
        problems: &mut Vec<Diagnostic>,
    ) -> Option<T> {
        match from_value::<_, T>(value) {
            Ok(parsed) => Some(parsed),
            Err(err) => {
                let mut key = prefix.to_string();
                for segment in err.path() {
                    match segment {
                        Segment::Seq { index } => key.push_str(&format!(".{index}")),
                        Segment::Map { key: name } => key.push_str(&format!(".{name}")),
                        Segment::Enum { .. } | Segment::Unknown => {}
                    }
                }
                let message = err.into_inner().to_string();
                // An unknown key is reported where it is written.
                let unknown = message
                    .strip_prefix("unknown field `")
                    .and_then(|rest| rest.split('`').next())
                    .map(|name| {
                        // Some paths already end at the unknown key.
                        if key.ends_with(&format!(".{name}")) {
                            key.clone()
                        } else {
                            format!("{key}.{name}")
                        }
                    });
                let diagnostic = match unknown {
                    Some(unknown_key) => self.diagnostic(&unknown_key, message, true),
                    None => self.diagnostic(&key, message, false),
                };
                problems.push(diagnostic);
                None
            }
        }
    }
}

/// The span of the key at dotted `path` (`head.1.rate`) or of its value; the nearest
/// enclosing key's span when the path goes deeper than the file.
fn locate(document: &ImDocument<&str>, path: &str, at_key: bool) -> Option<Range<usize>> {
    let segments: Vec<&str> = path
        .split('.')
        .filter(|segment| !segment.is_empty())
        .collect();
    locate_segments(document, &segments, at_key)
}

/// [`locate`] for keys that may hold dots themselves (a sweep's `"head.2.rate"`).
fn locate_segments(
    document: &ImDocument<&str>,
    segments: &[&str],
    at_key: bool,
) -> Option<Range<usize>> {
    enum Node<'a> {
        Item(&'a Item),
        Table(&'a toml_edit::Table),
        Value(&'a toml_edit::Value),
    }
    let mut node = Node::Item(document.as_item());
    let mut found: Option<Range<usize>> = None;
    for &segment in segments {
        let index = segment.parse::<usize>().ok();
        let step = match node {
            Node::Item(Item::Table(table)) | Node::Table(table) => table
                .get_key_value(segment)
                .map(|(key, item)| (key.span(), item.span(), Node::Item(item))),
            Node::Item(Item::ArrayOfTables(array)) => index
                .and_then(|index| array.get(index))
                .map(|table| (table.span(), table.span(), Node::Table(table))),
            Node::Item(Item::Value(value)) | Node::Value(value) => match value {
                toml_edit::Value::InlineTable(table) => table
                    .get_key_value(segment)
                    .map(|(key, value)| (key.span(), value.span(), Node::Item(value))),
                toml_edit::Value::Array(array) => index
                    .and_then(|index| array.get(index))
                    .map(|value| (value.span(), value.span(), Node::Value(value))),
                _ => None,
            },
            Node::Item(Item::None) => None,
        };
        let Some((key_span, value_span, child)) = step else {
            return found;
        };
        found = if at_key {
            key_span.or(value_span)
        } else {
            value_span.or(key_span)
        };
        node = child;
    }
    found
}
