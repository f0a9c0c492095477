//! Choosing runs: by id prefix, pipeline, sweep, status, start time, and `--where`
//! conditions on parameters or metrics.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::Result;
use serde_json::Value;

use crate::bail_input;
use std::collections::BTreeMap;

use crate::store::{RunRecord, RunSummary};

#[derive(Debug, Default, Clone)]
pub struct RunFilter {
    pub pipeline: Option<String>,
    pub sweep: Option<String>,
    pub status: Option<String>,
    /// Runs started at or after this time (milliseconds since the Unix epoch).
    pub since: Option<u64>,
    pub conditions: Vec<Condition>,
}

impl RunFilter {
    /// The filters as `list`, `compare` and the dashboard's API take them, as text:
    /// `since` a duration or a date, each condition `KEY OP VALUE`.
    pub fn parse(
        pipeline: Option<&str>,
        sweep: Option<&str>,
        status: Option<&str>,
        since: Option<&str>,
        conditions: &[&str],
    ) -> Result<Self> {
        Ok(Self {
            pipeline: pipeline.map(str::to_string),
            sweep: sweep.map(str::to_string),
            status: status.map(str::to_string),
            since: since.map(parse_since).transpose()?,
            conditions: conditions
                .iter()
                .map(|condition| Condition::parse(condition))
                .collect::<Result<_>>()?,
        })
    }

    /// Whether a `--where` condition needs the runs' parameters, which only full records
    /// carry.
    pub fn needs_params(&self) -> bool {
        !self.conditions.is_empty()
    }

    pub fn matches(&self, run: &RunSummary, params: &BTreeMap<String, Value>) -> bool {
        self.pipeline.as_ref().is_none_or(|p| &run.pipeline == p)
            && self.sweep.as_ref().is_none_or(|s| run.in_sweep(s))
            && self
                .status
                .as_ref()
                .is_none_or(|s| run.status.as_str() == s)
            && self.since.is_none_or(|since| run.started_at >= since)
            && self
                .conditions
                .iter()
                .all(|condition| condition.holds(params, &run.best))
    }

    pub fn matches_record(&self, run: &RunRecord) -> bool {
        self.matches(&run.summary(), &run.params)
    }
}

/// `--since`: a duration back from now (`2h`, `3days`) or a date (`2026-11-28`,
/// `2026-11-28T18:00:00Z`).
pub fn parse_since(text: &str) -> Result<u64> {
    let millis = |time: SystemTime| {
        time.duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64)
    };
    if let Ok(ago) = humantime::parse_duration(text) {
        return Ok(millis(
            SystemTime::now() - ago.min(Duration::from_secs(u64::from(u32::MAX))),
        ));
    }
    let date_time = if text.len() == 10 {
        format!("{text}T00:00:00Z")
    } else {
        text.to_string()
    };
    match humantime::parse_rfc3339_weak(&date_time) {
        Ok(time) => Ok(millis(time)),
        Err(_) => bail_input!(
            "`--since {text}`: give a duration such as `2h` or `3days`, or a date such as `2026-11-28` or `2026-11-28T18:00:00Z`"
        ),
    }
}

/// `KEY OP VALUE`, with OP one of `==`, `!=`, `>=`, `<=`, `>`, `<`. KEY is a parameter
/// path (`head.2.rate`) or a metric (`val_accuracy`, the run's best value).
#[derive(Debug, Clone, PartialEq)]
pub struct Condition {
    pub key: String,
    pub op: Op,
    pub value: Value,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Eq,
    Ne,
    Ge,
    Le,
    Gt,
    Lt,
}

impl Condition {
    pub fn parse(text: &str) -> Result<Self> {
        const OPS: [(&str, Op); 6] = [
            ("==", Op::Eq),
            ("!=", Op::Ne),
            (">=", Op::Ge),
            ("<=", Op::Le),
            (">", Op::Gt),
            ("<", Op::Lt),
        ];
        for (symbol, op) in OPS {
            if let Some((key, value)) = text.split_once(symbol) {
                let (key, value) = (key.trim(), value.trim());
                if key.is_empty() || value.is_empty() {
                    break;
                }
                let value = serde_json::from_str(value)
                    .unwrap_or_else(|_| Value::String(value.trim_matches(['"', '\'']).to_string()));
                return Ok(Self {
                    key: key.to_string(),
                    op,
                    value,
                });
            }
        }
        bail_input!(
            "`--where {text}`: expected KEY OP VALUE, such as `head.2.rate >= 0.2` (OP: == != >= <= > <)"
        )
    }

    fn holds(&self, params: &BTreeMap<String, Value>, best: &BTreeMap<String, f64>) -> bool {
        let actual = match params.get(&self.key) {
            Some(value) => value.clone(),
            None => match best.get(&self.key) {
                Some(metric) => Value::from(*metric),
                None => return false,
            },
        };
        let ordering = match (actual.as_f64(), self.value.as_f64()) {
            (Some(a), Some(b)) => a.partial_cmp(&b),
            _ => Some(display(&actual).cmp(&display(&self.value))),
        };
        let Some(ordering) = ordering else {
            return false;
        };
        match self.op {
            Op::Eq => ordering.is_eq(),
            Op::Ne => ordering.is_ne(),
            Op::Ge => ordering.is_ge(),
            Op::Le => ordering.is_le(),
            Op::Gt => ordering.is_gt(),
            Op::Lt => ordering.is_lt(),
        }
    }
}

/// A parameter value as people write it: strings without quotes.
pub fn display(value: &Value) -> String {
    match value {
        Value::String(text) => text.clone(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_conditions() {
        let condition = Condition::parse("head.2.rate >= 0.2").unwrap();
        assert_eq!(condition.key, "head.2.rate");
        assert_eq!(condition.op, Op::Ge);
        assert_eq!(condition.value, Value::from(0.2));
        assert_eq!(
            Condition::parse("train.optimizer.type == adam")
                .unwrap()
                .value,
            Value::from("adam")
        );
        assert!(Condition::parse("head.2.rate").is_err());
        assert!(Condition::parse(">= 3").is_err());
    }

    #[test]
    fn parses_since() {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_millis() as u64;
        let two_hours_ago = parse_since("2h").unwrap();
        assert!((now - two_hours_ago).abs_diff(7_200_000) < 5_000);
        assert_eq!(parse_since("1970-01-02").unwrap(), 86_400_000);
        assert!(parse_since("yesterday-ish").is_err());
    }
}
