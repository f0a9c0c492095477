//! The arguments of the commands that need LibTorch. `runner` parses them like any
//! command's (for `--help`, completions and errors) and hands the command to
//! `runner-torch`; what each does is in the `runner` crate's `commands`, which this crate
//! cannot see.

use std::path::PathBuf;

use clap::{Subcommand, ValueEnum};

use super::Format;

/// The commands that build, train or inspect a pipeline's model and data.
#[derive(Debug, Subcommand)]
pub enum PipelineCommand {
    /// Train the pipeline a file declares and record the run (each trial of its sweep);
    /// trials whose training stage the store has already are not trained again
    #[command(
        after_help = "Examples:\n  runner run pipelines/cats_dogs.toml\n  runner run experiments/dropout_sweep.toml --jobs 2\n  runner run experiments/dropout_sweep.toml --executor slurm\n  runner run experiments/dropout_sweep.toml --dry-run\n  runner run pipelines/cats_dogs.toml -s head.2.rate=0.3 -s train.optimizer.lr=3e-4\n  runner run --resume last"
    )]
    Run(RunArgs),
    /// Print what `runner run` would do: the stages, which are cached, which trials share
    /// them, trainable parameters per trial and the backbone passes the run will cost
    #[command(after_help = "Example:\n  runner plan experiments/dropout_sweep.toml")]
    Plan(FileArgs),
    /// The model a pipeline builds, layer by layer, as Keras' model.summary(): output
    /// shapes at the configured image size, parameters, what trains, and the totals
    #[command(after_help = "Example:\n  runner summary pipelines/cats_dogs.toml")]
    Summary(FileArgs),
    /// Look at a pipeline's data before training on it
    #[command(subcommand)]
    Data(DataCommand),
    /// Look at a pipeline's augmentation
    #[command(subcommand)]
    Augment(AugmentCommand),
    /// Train one trial planned by `runner run --jobs` or `--executor slurm` (a worker
    /// process or a Slurm task)
    #[command(hide = true)]
    Trial(TrialArgs),
}

/// The commands that use a run's trained model.
#[derive(Debug, Subcommand)]
pub enum ModelCommand {
    /// Classify images with a run's trained model (its best checkpoint)
    #[command(
        after_help = "Examples:\n  runner predict 20261128-183012-456k3mx7q2p photos/*.jpg\n  runner predict 20261128-183012-456k3mx7q2p photos/ --format csv > predictions.csv\n  runner predict 20261128-183012-456k3mx7q2p 'photos/**/*.jpg' --tta flip --format json"
    )]
    Predict(PredictArgs),
    /// Export a run's trained model as ONNX (the whole classifier, preprocessing inside)
    /// or safetensors (its weights), with its classes and preprocessing in a JSON file
    /// beside it
    #[command(
        after_help = "Examples:\n  runner export last --format onnx --out model.onnx --check\n  runner export 20261128-183012-456k3mx7q2p --out model.safetensors"
    )]
    Export(ExportArgs),
    /// Where a run's model goes wrong on its validation images (as fastai's
    /// ClassificationInterpretation): the confusion matrix, precision, recall and F1 per
    /// class, and the images with the highest loss (also recorded with the run, for
    /// `runner ui`), from its best checkpoint
    #[command(
        after_help = "Examples:\n  runner inspect last --out inspect/\n  runner inspect 20261128-183012-456k3mx7q2p --out inspect/ --top 25 --format json"
    )]
    Inspect(InspectArgs),
}

#[derive(Debug, clap::Args)]
pub struct RunArgs {
    /// The pipeline or experiment file (TOML)
    #[arg(required_unless_present = "resume")]
    pub file: Option<PathBuf>,
    /// Continue an interrupted or failed run from its last epoch instead (weights,
    /// optimizer, schedule, callbacks and phase as they were)
    #[arg(long, value_name = "RUN_ID", conflicts_with_all = ["file", "retrain", "jobs"])]
    pub resume: Option<String>,
    /// Where to train: a CUDA GPU when LibTorch has one (auto), or the CPU
    #[arg(long, value_enum, default_value_t = DeviceChoice::Auto)]
    pub device: DeviceChoice,
    /// No progress bars
    #[arg(long, short)]
    pub quiet: bool,
    /// Trials trained at once, each in its own process with a share of the cores
    /// (default: 1 on the CPU, one per GPU with CUDA)
    #[arg(long, short, value_parser = clap::value_parser!(u16).range(1..))]
    pub jobs: Option<u16>,
    /// Train every trial, even those whose result the store already has
    #[arg(long)]
    pub retrain: bool,
    /// Where the trials train: here (local), or as the tasks of one Slurm array job
    /// (slurm; see `[executor]` in the pipeline file)
    #[arg(long, value_enum, default_value_t = ExecutorChoice::Local, conflicts_with = "resume")]
    pub executor: ExecutorChoice,
    /// Change a value of the pipeline for this run: a key path as in an experiment's
    /// `[set]`, the value as TOML (`-s head.2.rate=0.3 -s train.optimizer.lr=3e-4`);
    /// recorded in the run's parameters
    #[arg(
        short = 's',
        long = "set",
        value_name = "KEY=VALUE",
        conflicts_with = "resume"
    )]
    pub set: Vec<String>,
    /// Check the file and its weights, and print the plan (as `runner plan` does), without
    /// training anything
    #[arg(long, conflicts_with = "resume")]
    pub dry_run: bool,
}

/// `plan`, `summary` and `data check`: a pipeline file, and a report about it.
#[derive(Debug, clap::Args)]
pub struct FileArgs {
    /// The pipeline or experiment file (TOML)
    pub file: PathBuf,
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
}

#[derive(Debug, Subcommand)]
pub enum DataCommand {
    /// Images per class and split, image sizes, unreadable files, and identical files
    /// within and across splits (training images that are also validation images)
    #[command(after_help = "Example:\n  runner data check pipelines/cats_dogs.toml")]
    Check(FileArgs),
}

#[derive(Debug, Subcommand)]
pub enum AugmentCommand {
    /// Write a PNG grid: training images, each followed by augmented versions of it
    #[command(
        after_help = "Example:\n  runner augment preview pipelines/cats_dogs_inception.toml --out grid.png"
    )]
    Preview(PreviewArgs),
}

#[derive(Debug, clap::Args)]
pub struct PreviewArgs {
    /// The pipeline or experiment file (TOML)
    pub file: PathBuf,
    /// The PNG to write
    #[arg(long)]
    pub out: PathBuf,
    /// Training images to show, one per row
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..=64))]
    pub images: u16,
    /// Augmented versions of each
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u16).range(1..=32))]
    pub samples: u16,
}

#[derive(Debug, clap::Args)]
pub struct TrialArgs {
    pub file: PathBuf,
    #[arg(long)]
    pub index: usize,
    #[arg(long)]
    pub sweep: Option<String>,
    /// The training stage key the coordinator planned
    #[arg(long)]
    pub key: String,
    /// LibTorch intra-op threads
    #[arg(long)]
    pub threads: usize,
    /// `cpu` or `cuda:0`
    #[arg(long)]
    pub device: String,
    /// Leave the run in a result bundle in this folder (the trial only reads cached
    /// stages from the store)
    #[arg(long)]
    pub bundle: PathBuf,
    /// The coordinator's `-s KEY=VALUE` overrides
    #[arg(short = 's', long = "set", value_name = "KEY=VALUE")]
    pub set: Vec<String>,
    /// The trial's sweep values as JSON, for a trial the file's plan does not have (one
    /// that TPE chose)
    #[arg(long)]
    pub values: Option<String>,
    /// Train on from the snapshot of this run, paused by successive halving
    #[arg(long, value_name = "RUN_ID")]
    pub resume: Option<String>,
    /// Pause the run after this epoch (successive halving's next rung)
    #[arg(long, value_name = "EPOCH")]
    pub pause_after: Option<usize>,
}

#[derive(Debug, clap::Args)]
pub struct PredictArgs {
    pub run: String,
    /// Image files, folders (searched recursively for JPEG, PNG, BMP, WebP and GIF
    /// files) or quoted glob patterns such as 'photos/*.jpg'
    #[arg(required = true, value_name = "PATH")]
    pub paths: Vec<PathBuf>,
    /// table (tab-separated), csv (a header, then a row per image) or json (one
    /// object per line); rows are written as each batch is computed
    #[arg(long, value_enum, default_value_t = PredictFormat::Table)]
    pub format: PredictFormat,
    /// Images per batch (default: the pipeline's batch size)
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=4096))]
    pub batch_size: Option<u32>,
    /// Test-time augmentation: `flip` averages each image's probabilities with
    /// those of its mirror image
    #[arg(long, value_enum)]
    pub tta: Option<Tta>,
    /// Where the model runs: a CUDA GPU when LibTorch has one (auto), or the CPU
    #[arg(long, value_enum, default_value_t = DeviceChoice::Cpu)]
    pub device: DeviceChoice,
    /// No progress bar
    #[arg(long, short)]
    pub quiet: bool,
}

#[derive(Debug, clap::Args)]
pub struct InspectArgs {
    pub run: String,
    /// The folder to write confusion_matrix.png, per_class.csv, top_losses.png and
    /// inspect.json into (made if missing)
    #[arg(long)]
    pub out: PathBuf,
    /// How many of the highest-loss images the grid shows
    #[arg(long, default_value_t = 16, value_parser = clap::value_parser!(u32).range(1..=400))]
    pub top: u32,
    /// table (the per-class table and the highest losses, as text) or json (what
    /// inspect.json holds)
    #[arg(long, value_enum, default_value_t = super::Format::Table)]
    pub format: super::Format,
    /// Where the model runs: a CUDA GPU when LibTorch has one (auto), or the CPU
    #[arg(long, value_enum, default_value_t = DeviceChoice::Cpu)]
    pub device: DeviceChoice,
    /// No progress bar
    #[arg(long, short)]
    pub quiet: bool,
}

#[derive(Debug, clap::Args)]
pub struct ExportArgs {
    pub run: String,
    /// The file to write; OUT.json is written beside it
    #[arg(long)]
    pub out: PathBuf,
    /// onnx (opset 17, dynamic batch, BatchNorm folded, input RGB 0-255) or safetensors;
    /// by default the extension of --out says which
    #[arg(long, value_enum)]
    pub format: Option<ExportFormat>,
    /// Run the exported ONNX model in ONNX Runtime on the run's validation images and
    /// compare its probabilities with the runner's (at most 1e-4 apart) and its accuracy
    /// with the run's
    #[arg(long)]
    pub check: bool,
    /// No progress bar
    #[arg(long, short)]
    pub quiet: bool,
}

/// What `runner export` writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ExportFormat {
    /// The whole classifier as an ONNX model.
    Onnx,
    /// The classifier's weights.
    Safetensors,
}

impl ExportFormat {
    /// The format a file name's extension names.
    pub fn of_file(path: &std::path::Path) -> Option<Self> {
        match path.extension()?.to_str()? {
            "onnx" => Some(Self::Onnx),
            "safetensors" => Some(Self::Safetensors),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::Onnx => "onnx",
            Self::Safetensors => "safetensors",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DeviceChoice {
    Auto,
    Cpu,
    Cuda,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ExecutorChoice {
    Local,
    Slurm,
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
