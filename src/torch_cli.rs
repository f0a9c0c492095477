//! The commands that need LibTorch: `run`, `predict` and `export`.

use std::io::IsTerminal;

use anyhow::Result;
use burn::prelude::Device;

use crate::exec::{RunOptions, run_file};
use crate::inference::{export, load_trained, predict};
use runner_core::cli::{Cli, Command, DeviceChoice, Format};
use runner_core::report::compare::{CompareOptions, compare};
use runner_core::report::compare_format;
use runner_core::store::Store;

pub fn execute(cli: Cli) -> Result<()> {
    let store = Store::new(&cli.store);
    match cli.command {
        Command::Run {
            file,
            device,
            quiet,
        } => {
            let (device, device_label) = select_device(device)?;
            let options = RunOptions {
                store: cli.store.clone(),
                device,
                device_label,
                show_progress: !quiet && std::io::stderr().is_terminal(),
            };
            let outcome = run_file(&file, &options)?;
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
            if let Some(sweep) = &outcome.sweep {
                let comparison = compare(&outcome.runs, CompareOptions::default());
                println!(
                    "\nsweep {sweep}: {} trial(s) finished, {} failed",
                    outcome.runs.len(),
                    outcome.failures.len()
                );
                if !outcome.runs.is_empty() {
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
        }
        Command::Predict {
            run,
            images,
            format,
        } => {
            let record = store.find_run(&run)?;
            let device = crate::device::cpu();
            let model = load_trained(&store, &record, &device)?;
            let predictions = predict(&model, &images, &device)?;
            match format {
                Format::Table => {
                    for prediction in &predictions {
                        println!(
                            "{}\t{}\t{:.4}",
                            prediction.image, prediction.class, prediction.probability
                        );
                    }
                }
                Format::Json => println!("{}", serde_json::to_string_pretty(&predictions)?),
            }
        }
        Command::Export { run, out } => {
            let record = store.find_run(&run)?;
            let model = load_trained(&store, &record, &crate::device::cpu())?;
            let metadata = export(model, &record, &out)?;
            eprintln!("wrote {} and {}", out.display(), metadata.display());
        }
        _ => unreachable!("store commands run in runner_core::cli"),
    }
    Ok(())
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
