//! The commands, one module each, as cargo's `src/bin/cargo/commands/`: a module holds
//! its command's arguments and what it does. A new store command is a module here, a
//! variant of [`Command`] and a line of [`Command::exec`].

pub mod compare;
pub mod completions;
pub mod gc;
pub mod list;
pub mod new;
pub mod plot;
pub mod rm;
pub mod schema;
pub mod show;
pub mod sync;
pub mod validate;

use std::path::PathBuf;

use anyhow::Result;
use clap::{Subcommand, ValueEnum};

use crate::store::Store;

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Train the pipeline a file declares and record the run (each trial of its sweep);
    /// trials whose training stage the store has already are not trained again
    #[command(
        after_help = "Examples:\n  runner run pipelines/cats_dogs.toml\n  runner run experiments/dropout_sweep.toml --jobs 2\n  runner run experiments/dropout_sweep.toml --executor slurm\n  runner run --resume 20261128-183012-456k3mx7q2p"
    )]
    Run {
        /// The pipeline or experiment file (TOML)
        #[arg(required_unless_present = "resume")]
        file: Option<PathBuf>,
        /// Continue an interrupted or failed run from its last epoch instead (weights,
        /// optimizer, schedule, callbacks and phase as they were)
        #[arg(long, value_name = "RUN_ID", conflicts_with_all = ["file", "retrain", "jobs"])]
        resume: Option<String>,
        /// Where to train: a CUDA GPU when LibTorch has one (auto), or the CPU
        #[arg(long, value_enum, default_value_t = DeviceChoice::Auto)]
        device: DeviceChoice,
        /// No progress bars
        #[arg(long, short)]
        quiet: bool,
        /// Trials trained at once, each in its own process with a share of the cores
        /// (default: 1 on the CPU, one per GPU with CUDA)
        #[arg(long, short, value_parser = clap::value_parser!(u16).range(1..))]
        jobs: Option<u16>,
        /// Train every trial, even those whose result the store already has
        #[arg(long)]
        retrain: bool,
        /// Where the trials train: here (local), or as the tasks of one Slurm array job
        /// (slurm; see `[executor]` in the pipeline file)
        #[arg(long, value_enum, default_value_t = ExecutorChoice::Local, conflicts_with = "resume")]
        executor: ExecutorChoice,
    },
    /// Print what `runner run` would do: the stages, which are cached, which trials share
    /// them, trainable parameters per trial and the backbone passes the run will cost
    #[command(after_help = "Example:\n  runner plan experiments/dropout_sweep.toml")]
    Plan {
        /// The pipeline or experiment file (TOML)
        file: PathBuf,
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
    },
    /// The model a pipeline builds, layer by layer, as Keras' model.summary(): output
    /// shapes at the configured image size, parameters, what trains, and the totals
    #[command(after_help = "Example:\n  runner summary pipelines/cats_dogs.toml")]
    Summary {
        /// The pipeline or experiment file (TOML)
        file: PathBuf,
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
    },
    /// Look at a pipeline's data before training on it
    #[command(subcommand)]
    Data(DataCommand),
    /// Look at a pipeline's augmentation
    #[command(subcommand)]
    Augment(AugmentCommand),
    /// Train one trial planned by `runner run --jobs` or `--executor slurm` (a worker
    /// process or a Slurm task)
    #[command(hide = true)]
    Trial {
        file: PathBuf,
        #[arg(long)]
        index: usize,
        #[arg(long)]
        sweep: Option<String>,
        /// The training stage key the coordinator planned
        #[arg(long)]
        key: String,
        /// LibTorch intra-op threads
        #[arg(long)]
        threads: usize,
        /// `cpu` or `cuda:0`
        #[arg(long)]
        device: String,
        /// Leave the run in a result bundle in this folder (the trial only reads cached
        /// stages from the store)
        #[arg(long)]
        bundle: PathBuf,
    },
    List(list::Args),
    Show(show::Args),
    Compare(compare::Args),
    Plot(plot::Args),
    /// Classify images with a run's trained model (its best checkpoint)
    #[command(
        after_help = "Examples:\n  runner predict 20261128-183012-456k3mx7q2p photos/*.jpg\n  runner predict 20261128-183012-456k3mx7q2p photos/ --format csv > predictions.csv\n  runner predict 20261128-183012-456k3mx7q2p 'photos/**/*.jpg' --tta flip --format json"
    )]
    Predict {
        run: String,
        /// Image files, folders (searched recursively for JPEG, PNG, BMP, WebP and GIF
        /// files) or quoted glob patterns such as 'photos/*.jpg'
        #[arg(required = true, value_name = "PATH")]
        paths: Vec<PathBuf>,
        /// table (tab-separated), csv (a header, then a row per image) or json (one
        /// object per line); rows are written as each batch is computed
        #[arg(long, value_enum, default_value_t = PredictFormat::Table)]
        format: PredictFormat,
        /// Images per batch (default: the pipeline's batch size)
        #[arg(long, value_parser = clap::value_parser!(u32).range(1..=4096))]
        batch_size: Option<u32>,
        /// Test-time augmentation: `flip` averages each image's probabilities with
        /// those of its mirror image
        #[arg(long, value_enum)]
        tta: Option<Tta>,
        /// Where the model runs: a CUDA GPU when LibTorch has one (auto), or the CPU
        #[arg(long, value_enum, default_value_t = DeviceChoice::Cpu)]
        device: DeviceChoice,
        /// No progress bar
        #[arg(long, short)]
        quiet: bool,
    },
    /// Export a run's trained model as safetensors, with its classes and preprocessing in
    /// a JSON file beside it
    #[command(
        after_help = "Example:\n  runner export 20261128-183012-456k3mx7q2p --out model.safetensors"
    )]
    Export {
        run: String,
        /// The .safetensors file to write; FILE.json is written beside it
        #[arg(long)]
        out: PathBuf,
    },
    Validate(validate::Args),
    New(new::Args),
    Completions(completions::Args),
    Schema(schema::Args),
    Rm(rm::Args),
    Gc(gc::Args),
    Sync(sync::Args),
}

#[derive(Debug, Subcommand)]
pub enum DataCommand {
    /// Images per class and split, image sizes, unreadable files, and identical files
    /// within and across splits (training images that are also validation images)
    #[command(after_help = "Example:\n  runner data check pipelines/cats_dogs.toml")]
    Check {
        /// The pipeline or experiment file (TOML)
        file: PathBuf,
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
    },
}

#[derive(Debug, Subcommand)]
pub enum AugmentCommand {
    /// Write a PNG grid: training images, each followed by augmented versions of it
    #[command(
        after_help = "Example:\n  runner augment preview pipelines/cats_dogs_inception.toml --out grid.png"
    )]
    Preview {
        /// The pipeline or experiment file (TOML)
        file: PathBuf,
        /// The PNG to write
        #[arg(long)]
        out: PathBuf,
        /// Training images to show, one per row
        #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..=64))]
        images: u16,
        /// Augmented versions of each
        #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u16).range(1..=32))]
        samples: u16,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ExecutorChoice {
    Local,
    Slurm,
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

/// How `runner predict` writes its rows, each as soon as its batch is computed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum PredictFormat {
    Table,
    Csv,
    /// JSON Lines: one object per image.
    Json,
}

/// Test-time augmentation for `runner predict`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Tta {
    /// The image and its horizontal mirror, probabilities averaged.
    Flip,
}

impl Command {
    /// Whether the command trains or runs a model, and so needs LibTorch; `validate` does
    /// when a file names a weights file, to compare its tensors with the network's (whose
    /// shapes only the LibTorch crate's models know).
    pub fn needs_libtorch(&self) -> bool {
        match self {
            Command::Validate(args) => args.names_weights_file(),
            _ => matches!(
                self,
                Command::Run { .. }
                    | Command::Plan { .. }
                    | Command::Summary { .. }
                    | Command::Data(_)
                    | Command::Augment(_)
                    | Command::Trial { .. }
                    | Command::Predict { .. }
                    | Command::Export { .. }
            ),
        }
    }

    /// Runs a command that reads or edits the store (or needs neither).
    pub fn exec(self, store: &Store) -> Result<()> {
        match self {
            Command::List(args) => list::exec(args, store),
            Command::Show(args) => show::exec(args, store),
            Command::Compare(args) => compare::exec(args, store),
            Command::Plot(args) => plot::exec(args, store),
            Command::Validate(args) => validate::exec(args, None),
            Command::New(args) => new::exec(args),
            Command::Completions(args) => completions::exec(args),
            Command::Schema(args) => schema::exec(args),
            Command::Rm(args) => rm::exec(args, store),
            Command::Gc(args) => gc::exec(args, store),
            Command::Sync(args) => sync::exec(args, store),
            Command::Run { .. }
            | Command::Plan { .. }
            | Command::Summary { .. }
            | Command::Data(_)
            | Command::Augment(_)
            | Command::Trial { .. }
            | Command::Predict { .. }
            | Command::Export { .. } => {
                unreachable!("main_with hands LibTorch commands to runner-torch")
            }
        }
    }
}
