//! `runner list`: the recorded runs, oldest first (or newest first), all or the latest few.

use std::io::Write;

use anyhow::Result;

use super::Format;
use crate::report;
use crate::report::select::RunFilter;
use crate::store::{RunSummary, Store};

/// List the recorded runs, oldest first
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Examples:\n  runner list --pipeline cats_dogs --status finished --since 2days\n  runner list --limit 5 --reverse"
)]
pub struct Args {
    #[command(flatten)]
    filter: FilterArgs,
    /// Only the N most recent of the runs that match
    #[arg(long, value_name = "N")]
    limit: Option<usize>,
    /// Newest first
    #[arg(long)]
    reverse: bool,
    #[arg(long, value_enum, default_value_t = Format::Table)]
    format: Format,
}

pub fn exec(args: Args, store: &Store) -> Result<()> {
    let filter = args.filter.to_filter()?;
    let mut runs: Vec<RunSummary> = if filter.needs_params() {
        let records = store.runs()?.into_iter();
        records
            .filter(|run| filter.matches_record(run))
            .map(|run| run.summary())
            .collect()
    } else {
        let no_params = Default::default();
        let summaries = store.run_summaries()?.into_iter();
        summaries
            .filter(|run| filter.matches(run, &no_params))
            .collect()
    };
    // The store keeps runs in the order of their ids, which start with the start time.
    if let Some(limit) = args.limit {
        runs.drain(..runs.len().saturating_sub(limit));
    }
    if args.reverse {
        runs.reverse();
    }
    let mut stdout = std::io::BufWriter::new(std::io::stdout().lock());
    match args.format {
        Format::Table if runs.is_empty() => {
            eprintln!("no runs recorded in `{}` match", store.root().display());
        }
        Format::Table => write!(stdout, "{}", report::runs_table(&runs))?,
        Format::Json => {
            serde_json::to_writer_pretty(&mut stdout, &report::runs_json(&runs))?;
            writeln!(stdout)?;
        }
    }
    Ok(())
}

/// Filters shared by `list` and `compare`.
#[derive(Debug, Clone, clap::Args)]
pub struct FilterArgs {
    /// Only runs of this pipeline (its `pipeline.name`)
    #[arg(long)]
    pipeline: Option<String>,
    /// Only trials of this sweep
    #[arg(long)]
    pub sweep: Option<String>,
    /// Only runs with this status
    #[arg(long, value_parser = ["running", "finished", "stopped_early", "failed", "interrupted", "pruned"])]
    status: Option<String>,
    /// Only runs started since: a duration (2h, 3days) or a date (2026-11-28)
    #[arg(long)]
    since: Option<String>,
    /// Only runs where a parameter or best metric satisfies KEY OP VALUE (repeatable)
    #[arg(long = "where", value_name = "KEY OP VALUE")]
    conditions: Vec<String>,
}

impl FilterArgs {
    pub fn to_filter(&self) -> Result<RunFilter> {
        let conditions: Vec<&str> = self.conditions.iter().map(String::as_str).collect();
        RunFilter::parse(
            self.pipeline.as_deref(),
            self.sweep.as_deref(),
            self.status.as_deref(),
            self.since.as_deref(),
            &conditions,
        )
    }
}
