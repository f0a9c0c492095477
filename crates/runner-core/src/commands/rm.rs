//! `runner rm`: deletes runs. The store selects them (refusing short prefixes and running
//! runs) and deletes their records and checkpoint folders; this asks and prints.

use std::io::IsTerminal;

use anyhow::Result;

use crate::report;
use crate::store::{RunRecord, Store};

/// Delete runs: their records, metrics and checkpoints
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Examples:\n  runner rm 20261128-183012-456k3mx7q2p\n  runner rm 20261128-183012 20261128-190244 --yes\n  runner rm 20261128-183012 --dry-run"
)]
pub struct Args {
    /// Run ids, `last` or `last~N`, or unique prefixes of at least 15 characters
    /// (20261128-183012)
    #[arg(required = true)]
    runs: Vec<String>,
    /// Remove more than one run without asking
    #[arg(long, short)]
    yes: bool,
    /// Print what would be removed, and remove nothing
    #[arg(long)]
    dry_run: bool,
}

pub fn exec(args: Args, store: &Store) -> Result<()> {
    let records = store.runs_to_remove(&args.runs)?;
    if args.dry_run {
        for run in &records {
            eprintln!("would remove {}", describe_run(run));
        }
        return Ok(());
    }
    if records.len() > 1 && !args.yes {
        confirm_removal(&records)?;
    }
    store.remove_runs(&records)?;
    for run in &records {
        eprintln!("removed {}", describe_run(run));
    }
    Ok(())
}

/// A run as `rm` names it: id, pipeline and status, escaped for the terminal.
fn describe_run(run: &RunRecord) -> String {
    report::escape_text(&format!(
        "{} ({}, {})",
        run.id,
        run.pipeline,
        run.status.as_str()
    ))
}

/// Asks on the terminal before `rm` removes several runs; without a terminal to ask on,
/// refuses.
fn confirm_removal(runs: &[RunRecord]) -> Result<()> {
    let list: Vec<String> = runs.iter().map(describe_run).collect();
    if !std::io::stdin().is_terminal() {
        crate::bail_input!(
            "this would remove {} runs: {}; pass --yes to remove more than one run without asking (nothing removed)",
            runs.len(),
            list.join(", ")
        );
    }
    eprint!(
        "remove {} runs?\n  {}\n[y/N] ",
        runs.len(),
        list.join("\n  ")
    );
    let mut answer = String::new();
    std::io::stdin().read_line(&mut answer)?;
    if !matches!(answer.trim(), "y" | "Y" | "yes") {
        crate::bail_input!("nothing removed");
    }
    Ok(())
}
