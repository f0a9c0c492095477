//! `runner gc`: the store collects its garbage ([`Store::collect_garbage`]); this prints
//! what went, or would go.

use anyhow::Result;

use crate::report;
use crate::store::Store;

/// Remove checkpoints of deleted runs and half-written files, and record runs whose
/// process died as interrupted
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:\n  runner gc\n  runner gc --cache --dry-run")]
pub struct Args {
    /// Also remove the cached decoded images and backbone features (they are computed
    /// again when a run needs them)
    #[arg(long)]
    cache: bool,
    /// Print what would be removed, and remove nothing
    #[arg(long)]
    dry_run: bool,
}

pub fn exec(args: Args, store: &Store) -> Result<()> {
    let report = store.collect_garbage(args.cache, args.dry_run)?;
    if args.dry_run {
        for path in &report.removed {
            eprintln!(
                "would remove {}",
                report::escape_text(&path.display().to_string())
            );
        }
        eprintln!(
            "would remove {} file(s) and folder(s) ({} bytes)",
            report.removed.len(),
            report.bytes_freed
        );
        return Ok(());
    }
    eprintln!(
        "removed {} orphaned checkpoint folder(s), {} half-written file(s) and {} cached stage result(s) ({} bytes); marked {} dead run(s) interrupted",
        report.orphaned_folders,
        report.partial_files,
        report.cached_results,
        report.bytes_freed,
        report.runs_marked_interrupted
    );
    Ok(())
}
