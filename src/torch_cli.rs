//! The commands that need LibTorch: `run` (and its workers, `trial`), `plan`, `predict`
//! and `export`, and `validate` when it checks a weights file against the network.

use std::io::IsTerminal;
use std::sync::atomic::AtomicBool;

use anyhow::Result;
use burn::prelude::Device;

use crate::data::{augment_preview, check_data, scan_split};
use crate::exec::{FileRuns, RunOptions, WorkerTrial, resume_run, run_file, run_worker};
use crate::inference::{export, load_trained};
use crate::model::Network;
use crate::plan::SPLITS;
use crate::plan::{Plan, plan_report};
use crate::predict::{PredictOptions, PredictionWriter, image_paths, predict_in_batches};
use crate::progress::Activity;
use crate::spec::{PipelineSpec, load_pipeline_to_inspect};
use crate::stages::Stages;
use crate::summary::summarize;
use runner_core::cli::Cli;
use runner_core::commands::{
    AugmentCommand, Command, DataCommand, DeviceChoice, ExecutorChoice, Format, Tta, validate,
};
use runner_core::error::Interrupted;
use runner_core::report::compare::{CompareOptions, compare};
use runner_core::report::compare_format;
use runner_core::store::RunStatus;
use runner_core::store::Store;

pub fn execute(cli: Cli) -> Result<()> {
    let store = Store::new(&cli.store);
    match cli.command {
        Command::Run {
            file,
            resume,
            device,
            quiet,
            jobs,
            retrain,
            executor,
        } => {
            let (device, device_label) = select_device(device)?;
            let gpus = if device_label.starts_with("cuda") {
                usize::try_from(tch::Cuda::device_count()).unwrap_or(1)
            } else {
                0
            };
            let options = RunOptions {
                store: cli.store.clone(),
                device,
                device_label,
                gpus,
                show_progress: !quiet && std::io::stderr().is_terminal(),
                jobs: jobs.map_or(gpus.max(1), usize::from),
                retrain,
                in_slurm: executor == ExecutorChoice::Slurm,
            };
            let outcome = match (resume, file) {
                (Some(run_id), _) => FileRuns {
                    sweep: None,
                    runs: vec![resume_run(&run_id, &options)?],
                    reused: 0,
                    failures: Vec::new(),
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
        }
        Command::Plan { file, format } => {
            let plan = Plan::to_inspect(&file, &store)?;
            let device = crate::device::cpu();
            let report = plan_report(&plan, &Stages::new(&store, &device), &device)?;
            match format {
                Format::Table => print!("{}", report.to_text()),
                Format::Json => println!("{}", serde_json::to_string_pretty(&report)?),
            }
        }
        Command::Summary { file, format } => {
            let pipeline = load_pipeline_to_inspect(&file)?;
            let summary = summarize(&pipeline.spec, &crate::device::cpu())?;
            match format {
                Format::Table => print!("{}", summary.to_text()),
                Format::Json => println!("{}", serde_json::to_string_pretty(&summary)?),
            }
        }
        Command::Data(DataCommand::Check { file, format }) => {
            let plan = Plan::to_inspect(&file, &store)?;
            let trial = &plan.trials[0];
            let splits: Vec<_> = trial
                .files
                .iter()
                .zip(&trial.manifests)
                .enumerate()
                .map(|(split, (files, manifest))| {
                    (SPLITS[split], files.as_ref(), manifest.as_ref())
                })
                .collect();
            let report = check_data(&splits, trial.pipeline.spec.data.image_limits());
            match format {
                Format::Table => print!("{}", report.to_text()),
                Format::Json => println!("{}", serde_json::to_string_pretty(&report)?),
            }
        }
        Command::Augment(AugmentCommand::Preview {
            file,
            out,
            images,
            samples,
        }) => {
            let pipeline = load_pipeline_to_inspect(&file)?;
            let train = scan_split(
                SPLITS[0],
                &pipeline.spec.data.train,
                pipeline.spec.data.classes.as_deref(),
            )?;
            let grid = augment_preview(&pipeline.spec, &train, images.into(), samples.into())?;
            grid.save(&out).map_err(|err| {
                crate::error::input_error(format!("cannot write `{}`: {err}", out.display()))
            })?;
            eprintln!("wrote {}", out.display());
        }
        Command::Trial {
            file,
            index,
            sweep,
            key,
            threads,
            device,
            bundle,
        } => {
            let (device, device_label) = worker_device(&device)?;
            let options = RunOptions {
                store: cli.store.clone(),
                device,
                device_label,
                gpus: 0,
                show_progress: false,
                jobs: 1,
                retrain: false,
                in_slurm: false,
            };
            let worker = WorkerTrial {
                file: &file,
                index,
                sweep: sweep.as_deref(),
                key: &key,
                threads,
                bundles: &bundle,
            };
            let run = run_worker(&worker, &options)?;
            println!("run {} {}", run.id, run.status.as_str());
        }
        Command::Predict {
            run,
            paths,
            format,
            batch_size,
            tta,
            device,
            quiet,
        } => {
            let record = store.find_run(&run)?;
            let images = image_paths(&paths)?;
            let (device, _) = select_device(device)?;
            let model = load_trained(&store, &record, &device)?;
            let mut writer =
                PredictionWriter::new(format, &model.classes, std::io::stdout().lock())?;
            let no_heartbeat = || {};
            let activity = Activity {
                show_progress: !quiet && std::io::stderr().is_terminal(),
                interrupted: &AtomicBool::new(false),
                heartbeat: &no_heartbeat,
            };
            let options = PredictOptions {
                batch_size: batch_size
                    .map_or(model.pipeline.spec.data.batch_size, |size| size as usize),
                flip: tta == Some(Tta::Flip),
                activity: &activity,
            };
            predict_in_batches(&model, &images, &device, &options, |batch| {
                writer.write(batch)
            })?;
        }
        Command::Export { run, out } => {
            let record = store.find_run(&run)?;
            let model = load_trained(&store, &record, &crate::device::cpu())?;
            let metadata = export(model, &record, &out)?;
            eprintln!("wrote {} and {}", out.display(), metadata.display());
        }
        Command::Validate(args) => {
            let check_weights = |spec: &PipelineSpec| match spec.backbone.weights_file() {
                Some(file) => Network::check_weights(spec.backbone.arch, file),
                None => Ok(()),
            };
            validate::exec(args, Some(&check_weights))?;
        }
        _ => unreachable!("store commands run in runner_core::commands"),
    }
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

/// The device to train on, and its name for the run record.
fn select_device(choice: DeviceChoice) -> Result<(Device, String)> {
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
