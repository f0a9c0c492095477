//! `runner trial`: one trial that `runner run --jobs` or `--executor slurm` planned, in a
//! worker process or a Slurm task.

use anyhow::Result;
use burn::prelude::Device;

use crate::exec::{RunOptions, WorkerTrial, run_worker};
use runner_core::commands::libtorch::TrialArgs;
use runner_core::store::Store;

pub fn exec(args: TrialArgs, store: &Store) -> Result<()> {
    let (device, device_label) = worker_device(&args.device)?;
    let options = RunOptions {
        store: store.root().to_path_buf(),
        device,
        device_label,
        gpus: 0,
        show_progress: false,
        jobs: 1,
        retrain: false,
        in_slurm: false,
        overrides: args.set,
    };
    let worker = WorkerTrial {
        file: &args.file,
        index: args.index,
        sweep: args.sweep.as_deref(),
        key: &args.key,
        threads: args.threads,
        bundles: &args.bundle,
        values: args.values.as_deref(),
        resume: args.resume.as_deref(),
        pause_after: args.pause_after,
    };
    let run = run_worker(&worker, &options)?;
    println!("run {} {}", run.id, run.status.as_str());
    Ok(())
}

/// A worker's `--device`: `cpu` or `cuda:N`, as its coordinator assigned it.
fn worker_device(label: &str) -> Result<(Device, String)> {
    if label == "cpu" {
        return Ok((crate::device::cpu(), label.to_string()));
    }
    let Some(index) = label
        .strip_prefix("cuda:")
        .and_then(|index| index.parse().ok())
    else {
        crate::bail_input!("`--device {label}`: expected `cpu` or `cuda:N`");
    };
    if !crate::device::cuda_available() {
        crate::bail_input!("`--device {label}`: this LibTorch has no usable CUDA device");
    }
    Ok((crate::device::cuda(index), label.to_string()))
}
