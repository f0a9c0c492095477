//! The command line: clap definitions and a thin dispatch onto the library.

use std::io::IsTerminal;
use std::path::PathBuf;

use anyhow::Result;
use burn::prelude::Device;
use clap::{Parser, Subcommand, ValueEnum};

use crate::exec::{RunOptions, run_pipeline};
use crate::report;
use crate::store::Store;

#[derive(Debug, Parser)]
#[command(
    name = "runner",
    version,
    about = "Declarative transfer-learning pipelines and experiment runs for image classifiers",
    after_help = "Example:\n  runner run pipelines/cats_dogs.toml\n  runner list\n  runner show 20261128-183012-k3f --format json"
)]
pub struct Cli {
    /// More log output: -v for debug, -vv for trace (RUST_LOG overrides)
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,
    /// The run store: a folder holding the database and the checkpoints
    #[arg(long, env = "RUNNER_STORE", default_value = "runs", global = true)]
    pub store: PathBuf,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Train the pipeline a file declares and record the run
    #[command(after_help = "Example:\n  runner run pipelines/cats_dogs.toml")]
    Run {
        /// The pipeline file (TOML)
        file: PathBuf,
        /// Where to train: a CUDA GPU when LibTorch has one (auto), or the CPU
        #[arg(long, value_enum, default_value_t = DeviceChoice::Auto)]
        device: DeviceChoice,
        /// No progress bars
        #[arg(long, short)]
        quiet: bool,
    },
    /// List the recorded runs, oldest first
    #[command(after_help = "Example:\n  runner list --format json")]
    List {
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
    },
    /// Show one run: parameters, per-epoch metrics, checkpoints
    #[command(after_help = "Example:\n  runner show 20261128-183012-k3f --format json")]
    Show {
        /// A run id, or a prefix that matches one run
        run: String,
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DeviceChoice {
    Auto,
    Cpu,
    Cuda,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Table,
    Json,
}

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
            let run = run_pipeline(&file, &options)?;
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
        Command::List { format } => {
            let runs = store.runs()?;
            match format {
                Format::Table if runs.is_empty() => {
                    eprintln!("no runs recorded in `{}`", cli.store.display());
                }
                Format::Table => println!("{}", report::runs_table(&runs)),
                Format::Json => println!(
                    "{}",
                    serde_json::to_string_pretty(&report::runs_json(&runs))?
                ),
            }
        }
        Command::Show { run, format } => {
            let record = store.find_run(&run)?;
            let history = store.epochs(&record.id)?;
            match format {
                Format::Table => print!("{}", report::run_text(&record, &history)),
                Format::Json => println!(
                    "{}",
                    serde_json::to_string_pretty(&report::run_json(&record, &history))?
                ),
            }
        }
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
