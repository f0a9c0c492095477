//! `runner run`: trains a pipeline or experiment file's trials, or resumes a run, and
//! prints how each ended (and a sweep's table).

use std::io::IsTerminal;

use anyhow::Result;
use burn::prelude::Device;

use super::plan::print_plan;
use crate::exec::{FileRuns, RunOptions, resume_run, run_file};
use crate::plan::Plan;
use runner_core::commands::Format;
use runner_core::commands::libtorch::{DeviceChoice, ExecutorChoice, RunArgs};
use runner_core::error::Interrupted;
use runner_core::report::compare::{CompareOptions, compare};
use runner_core::report::compare_format;
use runner_core::store::{RunStatus, Store};

pub fn exec(args: RunArgs, store: &Store) -> Result<()> {
    // clap requires a file with --dry-run, which conflicts with --resume.
    let (device, device_label) = select_device(args.device)?;
    if let (true, Some(file)) = (args.dry_run, &args.file) {
        let plan = Plan::new(file, &args.set, device_label.starts_with("cuda"), store)?;
        return print_plan(&plan, Format::Table, store);
    }
    let gpus = if device_label.starts_with("cuda") {
        usize::try_from(tch::Cuda::device_count()).unwrap_or(1)
    } else {
        0
    };
    let options = RunOptions {
        store: store.root().to_path_buf(),
        device,
        device_label,
        gpus,
        show_progress: !args.quiet && std::io::stderr().is_terminal(),
        jobs: args.jobs.map_or(gpus.max(1), usize::from),
        retrain: args.retrain,
        in_slurm: args.executor == ExecutorChoice::Slurm,
        overrides: args.set,
    };
    let outcome = match (args.resume, args.file) {
        (Some(run_id), _) => FileRuns {
            sweep: None,
            runs: vec![resume_run(&run_id, &options)?],
            reused: 0,
            failures: Vec::new(),
            budget_spent: None,
        },
        (None, Some(file)) => run_file(&file, &options)?,
        (None, None) => unreachable!("clap requires a file or --resume"),
    };
    for run in &outcome.runs {
        let best = run
            .best
            .get("val_accuracy")
            .map_or_else(String::new, |accuracy| {
                format!(", best val_accuracy {accuracy:.4}")
            });
        println!(
            "run {} {}{best}; `runner show {}` for details",
            run.id,
            run.status.as_str(),
            run.id
        );
    }
    let (ended, interrupted): (Vec<_>, Vec<_>) = outcome
        .runs
        .iter()
        .cloned()
        .partition(|run| run.status != RunStatus::Interrupted);
    if let Some(sweep) = &outcome.sweep {
        println!(
            "\nsweep {sweep}: {} trial(s) finished ({} trained before, not again), {} interrupted, {} failed",
            ended.len(),
            outcome.reused,
            interrupted.len(),
            outcome.failures.len()
        );
        let pruned: Vec<&str> = ended
            .iter()
            .filter(|run| run.status == RunStatus::Pruned)
            .map(|run| run.id.as_str())
            .collect();
        if !pruned.is_empty() {
            println!(
                "successive halving paused {} trial(s) below their rung's cut (status `pruned`, epochs and snapshots kept; `runner run --resume RUN_ID` trains one on)",
                pruned.len()
            );
        }
        if let Some((reason, left)) = &outcome.budget_spent {
            println!(
                "budget spent ({reason}): {left} trial(s) not started; `runner run` the file again to continue with them"
            );
        }
        if !ended.is_empty() {
            let comparison = compare(&ended, CompareOptions::default());
            println!("{}", compare_format::to_table(&comparison));
        }
    }
    if !outcome.failures.is_empty() {
        anyhow::bail!(
            "{} trial(s) failed:\n{}",
            outcome.failures.len(),
            outcome.failures.join("\n")
        );
    }
    if !interrupted.is_empty() || crate::exec::was_interrupted() {
        return Err(Interrupted(
            "interrupted: `runner run --resume RUN_ID` continues a run, `runner run FILE` the trials not trained yet".into(),
        )
        .into());
    }
    Ok(())
}

/// The device to train on, and its name for the run record.
pub(super) fn select_device(choice: DeviceChoice) -> Result<(Device, String)> {
    let cuda = crate::device::cuda_available();
    let cpu = || Ok((crate::device::cpu(), "cpu".to_string()));
    match choice {
        DeviceChoice::Cpu => cpu(),
        DeviceChoice::Auto if !cuda => cpu(),
        DeviceChoice::Auto | DeviceChoice::Cuda if cuda => {
            Ok((crate::device::cuda(0), "cuda:0".to_string()))
        }
        _ => crate::bail_input!(
            "`--device cuda`: this LibTorch has no usable CUDA device (provision the CUDA build with `scripts/setup.sh --cuda`)"
        ),
    }
}
