//! The allowed values of every bounded key, each declared once:
//! `#[schemars(transform = bounds::X.in_schema())]` on a field writes `X` into the JSON
//! Schema, and `validate.rs` checks the parsed value with the same `X`, so the schema that
//! editors use and `runner validate` cannot disagree on a range.

use schemars::Schema;
use schemars::transform::Transform;
use serde_json::{Map, Value};

use super::diagnostic::Problem;

/// A numeric interval; either end may be open, closed or absent.
#[derive(Debug, Clone, Copy)]
pub struct Range {
    low: Option<End>,
    high: Option<End>,
}

#[derive(Debug, Clone, Copy)]
struct End {
    value: f64,
    inclusive: bool,
}

impl Range {
    const fn new(low: Option<End>, high: Option<End>) -> Self {
        Self { low, high }
    }

    /// `value` or more.
    const fn at_least(value: f64) -> Self {
        Self::new(Some(End::closed(value)), None)
    }

    /// `low` up to, not including, `high`.
    const fn from_below(low: f64, high: f64) -> Self {
        Self::new(Some(End::closed(low)), Some(End::open(high)))
    }

    /// Whether `value` is a finite number inside the interval.
    pub fn contains(&self, value: f64) -> bool {
        let above = |end: &End| value > end.value || (end.inclusive && value == end.value);
        let below = |end: &End| value < end.value || (end.inclusive && value == end.value);
        value.is_finite()
            && self.low.as_ref().is_none_or(above)
            && self.high.as_ref().is_none_or(below)
    }

    /// The problem of `key` = `value` outside the interval, if it is.
    pub fn problem(&self, key: &str, value: f64) -> Option<Problem> {
        (!self.contains(value)).then(|| self.out_of_range(key, value))
    }

    /// [`Range::problem`] for a count, shown as the integer it is (a float would round it).
    pub fn count_problem(&self, key: &str, count: usize) -> Option<Problem> {
        (!self.contains(count as f64)).then(|| self.out_of_range(key, count))
    }

    fn out_of_range(&self, key: &str, value: impl std::fmt::Display) -> Problem {
        Problem::new(
            key,
            format!("`{key}` = {value} is out of range: it must be {self}"),
        )
    }

    /// Writes the interval into a number's schema, or, for an array (`image_size`,
    /// `brightness_range`), into its items' schema: a bound on an array bounds each element.
    fn write(&self, schema: &mut Map<String, Value>) {
        if let Some(Value::Object(items)) = schema.get_mut("items") {
            return self.write(items);
        }
        for name in ["minimum", "exclusiveMinimum", "maximum", "exclusiveMaximum"] {
            schema.remove(name);
        }
        let integer = is_integer(schema);
        let number = |value: f64| {
            if integer {
                Value::from(value as i64)
            } else {
                Value::from(value)
            }
        };
        if let Some(end) = self.low {
            let name = if end.inclusive {
                "minimum"
            } else {
                "exclusiveMinimum"
            };
            schema.insert(name.into(), number(end.value));
        }
        if let Some(end) = self.high {
            let name = if end.inclusive {
                "maximum"
            } else {
                "exclusiveMaximum"
            };
            schema.insert(name.into(), number(end.value));
        }
    }
}

/// Whether a schema is an integer's (`"integer"`, or `["integer", "null"]` for an option):
/// its bounds are then written as integers, as schemars writes them.
fn is_integer(schema: &Map<String, Value>) -> bool {
    match schema.get("type") {
        Some(Value::String(kind)) => kind == "integer",
        Some(Value::Array(kinds)) => kinds.iter().any(|kind| kind == "integer"),
        _ => false,
    }
}

impl End {
    const fn closed(value: f64) -> Self {
        Self {
            value,
            inclusive: true,
        }
    }

    const fn open(value: f64) -> Self {
        Self {
            value,
            inclusive: false,
        }
    }
}

impl std::fmt::Display for Range {
    /// As the messages say it: "at least 1", "positive", "in [0, 1)".
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        match (self.low, self.high) {
            (Some(low), None) if low.inclusive && low.value == 0.0 => write!(f, "0 or more"),
            (Some(low), None) if low.inclusive => write!(f, "at least {}", low.value),
            (Some(low), None) if low.value == 0.0 => write!(f, "positive"),
            (Some(low), None) => write!(f, "above {}", low.value),
            (None, Some(high)) if high.inclusive => write!(f, "at most {}", high.value),
            (None, Some(high)) => write!(f, "below {}", high.value),
            (Some(low), Some(high)) => write!(
                f,
                "in {}{}, {}{}",
                if low.inclusive { "[" } else { "(" },
                low.value,
                high.value,
                if high.inclusive { "]" } else { ")" }
            ),
            (None, None) => write!(f, "a finite number"),
        }
    }
}

impl Range {
    /// The interval as a schemars transform, for `#[schemars(transform = X.in_schema())]`.
    pub fn in_schema(self) -> impl Transform {
        move |schema: &mut Schema| {
            if let Some(map) = schema.as_object_mut() {
                self.write(map);
            }
        }
    }
}

/// Counts: batch size, epochs, steps, trials, Slurm CPUs.
pub const AT_LEAST_ONE: Range = Range::at_least(1.0);
/// Ranges, deltas, decay rates, weight decay, warmup lengths.
pub const NON_NEGATIVE: Range = Range::at_least(0.0);
/// Learning rates, epsilons, clipping norms, `rescale`, decay lengths.
pub const POSITIVE: Range = Range::new(Some(End::open(0.0)), None);
/// Dropout rates, momentum, `rho`, Adam's betas, the plateau factor, a single `zoom_range`
/// (1 - z must stay positive).
pub const FRACTION: Range = Range::from_below(0.0, 1.0);
/// `validation_split`: some images must be left on either side.
pub const OPEN_FRACTION: Range = Range::new(Some(End::open(0.0)), Some(End::open(1.0)));
/// `label_smoothing`, the cosine schedule's `alpha`.
pub const CLOSED_FRACTION: Range = Range::new(Some(End::closed(0.0)), Some(End::closed(1.0)));
/// An image side in pixels.
pub const IMAGE_SIDE: Range = Range::new(Some(End::closed(16.0)), Some(End::closed(4096.0)));
/// A dense layer's units: far above any classifier's, and low enough that no parameter
/// count derived from them overflows.
pub const DENSE_UNITS: Range = Range::new(Some(End::closed(1.0)), Some(End::closed(1_048_576.0)));

/// A text that must hold something other than white space (`pipeline.name`).
#[derive(Debug, Clone, Copy)]
pub struct NotBlank;

impl NotBlank {
    /// The JSON Schema pattern; validate reads it too, through the regex crate, whose `\S`
    /// is Unicode-aware as ECMAScript's is.
    const PATTERN: &str = r"\S";

    pub fn problem(&self, key: &str, text: &str) -> Option<Problem> {
        let pattern = regex::Regex::new(Self::PATTERN).expect("a valid pattern");
        (!pattern.is_match(text)).then(|| Problem::new(key, format!("`{key}` must not be blank")))
    }
}

impl NotBlank {
    /// The rule as a schemars transform.
    pub fn in_schema(self) -> impl Transform {
        |schema: &mut Schema| {
            schema.insert("minLength".into(), Value::from(1));
            schema.insert("pattern".into(), Value::from(Self::PATTERN));
        }
    }
}

/// `data.classes`: a classifier needs two classes, each listed once.
pub const CLASSES: DistinctItems = DistinctItems { min: 2 };

/// A list of at least `min` different items.
#[derive(Debug, Clone, Copy)]
pub struct DistinctItems {
    pub min: usize,
}

impl DistinctItems {
    /// A problem for a list too short (about the list) or for each item listed before
    /// (about the item, `key.INDEX`).
    pub fn problems<T: PartialEq + std::fmt::Display>(
        &self,
        key: &str,
        items: &[T],
    ) -> Vec<Problem> {
        let mut problems = Vec::new();
        if items.len() < self.min {
            problems.push(Problem::new(
                key,
                format!(
                    "`{key}` lists {} item(s): it needs at least {}",
                    items.len(),
                    self.min
                ),
            ));
        }
        for (index, item) in items.iter().enumerate() {
            if items[..index].contains(item) {
                problems.push(Problem::new(
                    format!("{key}.{index}"),
                    format!("`{key}` lists `{item}` twice"),
                ));
            }
        }
        problems
    }
}

impl DistinctItems {
    /// The rule as a schemars transform.
    pub fn in_schema(self) -> impl Transform {
        move |schema: &mut Schema| {
            schema.insert("minItems".into(), Value::from(self.min));
            schema.insert("uniqueItems".into(), Value::from(true));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ends_are_open_or_closed_and_non_finite_values_are_out() {
        assert!(FRACTION.contains(0.0) && !FRACTION.contains(1.0));
        assert!(!OPEN_FRACTION.contains(0.0) && OPEN_FRACTION.contains(0.5));
        assert!(CLOSED_FRACTION.contains(1.0) && !CLOSED_FRACTION.contains(1.1));
        assert!(!POSITIVE.contains(0.0) && POSITIVE.contains(1e-300));
        assert!(!NON_NEGATIVE.contains(f64::NAN) && !NON_NEGATIVE.contains(f64::INFINITY));
        assert!(!DENSE_UNITS.contains(2f64.powi(62)));
        assert_eq!(
            DENSE_UNITS
                .count_problem("head.2.units", 1 << 62)
                .unwrap()
                .message,
            "`head.2.units` = 4611686018427387904 is out of range: it must be in [1, 1048576]"
        );
    }

    #[test]
    fn messages_and_schemas_say_the_same_interval() {
        assert_eq!(
            FRACTION.problem("head.1.rate", 1.5).unwrap().message,
            "`head.1.rate` = 1.5 is out of range: it must be in [0, 1)"
        );
        assert_eq!(
            AT_LEAST_ONE.problem("train.epochs", 0.0).unwrap().message,
            "`train.epochs` = 0 is out of range: it must be at least 1"
        );
        let mut schema = schemars::json_schema!({ "type": "integer", "minimum": 0 });
        IMAGE_SIDE.in_schema().transform(&mut schema);
        assert_eq!(schema.get("minimum"), Some(&Value::from(16)));
        assert_eq!(schema.get("maximum"), Some(&Value::from(4096)));
        let mut schema = schemars::json_schema!({ "type": "number" });
        OPEN_FRACTION.in_schema().transform(&mut schema);
        assert_eq!(schema.get("exclusiveMinimum"), Some(&Value::from(0.0)));
        assert_eq!(schema.get("exclusiveMaximum"), Some(&Value::from(1.0)));
    }

    #[test]
    fn blank_names_and_repeated_items_are_refused() {
        assert!(NotBlank.problem("pipeline.name", " \t").is_some());
        assert!(NotBlank.problem("pipeline.name", " a ").is_none());
        let twice = DistinctItems { min: 2 }.problems("data.classes", &["a", "b", "a"]);
        assert_eq!(
            twice,
            [Problem::new(
                "data.classes.2",
                "`data.classes` lists `a` twice"
            )]
        );
    }
}
