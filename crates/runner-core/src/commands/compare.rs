//! `runner compare`: runs side by side, the parameters that differ, then each metric.

use anyhow::Result;
use clap::ValueEnum;

use super::list::FilterArgs;
use crate::report;
use crate::report::compare::{CompareOptions, compare};
use crate::report::compare_format;
use crate::store::{RunRecord, Store};

/// Put runs side by side: the parameters that differ, then each metric
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Examples:\n  runner compare --pipeline cats_dogs --sort val_accuracy\n  runner compare --sweep dropout --where 'head.2.rate >= 0.2' --format markdown\n  runner compare 20261128-183012 20261128-190244 --all-params --last"
)]
pub struct Args {
    /// Runs to compare (ids, unique prefixes, `last~N`); all runs matching the filters if
    /// none
    runs: Vec<String>,
    #[command(flatten)]
    filter: FilterArgs,
    /// Show every parameter, not only those that differ
    #[arg(long)]
    all_params: bool,
    /// Metrics of the last epoch instead of the best
    #[arg(long)]
    last: bool,
    /// Keep runs that differ only by seed as separate rows (default: mean ± std)
    #[arg(long)]
    no_group: bool,
    /// Order rows best-first by this metric (loss, accuracy, val_loss, val_accuracy)
    #[arg(long, value_parser = clap::builder::PossibleValuesParser::new(report::compare::METRICS))]
    sort: Option<String>,
    #[arg(long, value_enum, default_value_t = CompareFormat::Table)]
    format: CompareFormat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum CompareFormat {
    Table,
    Csv,
    Json,
    Markdown,
}

pub fn exec(args: Args, store: &Store) -> Result<()> {
    let filter = args.filter.to_filter()?;
    let selected: Vec<RunRecord> = select_runs(store, &args.runs)?
        .into_iter()
        .filter(|run| filter.matches_record(run))
        .collect();
    if selected.is_empty() {
        crate::bail_input!("no recorded run matches (see `runner list`)");
    }
    let mut comparison = compare(
        &selected,
        CompareOptions {
            all_params: args.all_params,
            last: args.last,
            no_group: args.no_group,
        },
    );
    if let Some(metric) = args.sort {
        comparison.sort_by(&metric);
    }
    // The sweep as a whole, under its table.
    let footer = match &args.filter.sweep {
        Some(sweep) => store
            .sweep_record(sweep)?
            .map(|record| compare_format::sweep_footer(&record, &selected)),
        None => None,
    };
    match args.format {
        CompareFormat::Table => {
            println!("{}", compare_format::to_table(&comparison));
            if let Some(footer) = &footer {
                println!("{footer}");
            }
        }
        CompareFormat::Markdown => {
            print!("{}", compare_format::to_markdown(&comparison));
            if let Some(footer) = &footer {
                println!("\n{footer}");
            }
        }
        CompareFormat::Csv => print!("{}", compare_format::to_csv(&comparison)?),
        CompareFormat::Json => {
            println!(
                "{}",
                serde_json::to_string_pretty(&compare_format::to_json(&comparison))?
            );
        }
    }
    Ok(())
}

/// The runs named by ids or unique prefixes, in the order given; every run if none.
pub fn select_runs(store: &Store, ids: &[String]) -> Result<Vec<RunRecord>> {
    if ids.is_empty() {
        return store.runs();
    }
    ids.iter().map(|id| store.find_run(id)).collect()
}
