//! The command line: clap definitions, the store commands, and the process entry point
//! shared by both binaries. Commands that need LibTorch (`run`, `predict`, `export`) are
//! carried out by the `runner-torch` binary; `runner` hands them over so that reading the
//! store never pays for loading LibTorch (about 250 ms a process).

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use clap::{CommandFactory, Parser, Subcommand, ValueEnum};
use tracing_subscriber::EnvFilter;

use crate::error::exit_code;
use crate::report;
use crate::report::compare::{CompareOptions, compare};
use crate::report::compare_format;
use crate::report::plot::{PlottedRun, plot_runs};
use crate::report::select::{Condition, RunFilter, display, parse_since};
use crate::spec::{self, Arch};
use crate::store::{Artifact, RunRecord, RunSummary, SLURM_FOLDER, Store};

#[derive(Debug, Parser)]
#[command(
    name = "runner",
    version,
    about = "Declarative transfer-learning pipelines and experiment runs for image classifiers",
    after_help = "Examples:\n  runner run pipelines/cats_dogs.toml\n  runner list\n  runner show 20261128-183012-456k3mx7q2p --format json\n  runner compare --pipeline cats_dogs --sort val_accuracy\n  runner plot 20261128-183012-456k3mx7q2p --out curves.png"
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
    /// List the recorded runs, oldest first
    #[command(
        after_help = "Example:\n  runner list --pipeline cats_dogs --status finished --since 2days"
    )]
    List {
        #[command(flatten)]
        filter: FilterArgs,
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
    },
    /// Show one run: parameters, per-epoch metrics, artifacts
    #[command(after_help = "Example:\n  runner show 20261128-183012-456k3mx7q2p --format json")]
    Show {
        /// A run id, or a prefix that matches one run
        run: String,
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
    },
    /// Put runs side by side: the parameters that differ, then each metric
    #[command(
        after_help = "Examples:\n  runner compare --pipeline cats_dogs --sort val_accuracy\n  runner compare --sweep dropout --where 'head.2.rate >= 0.2' --format markdown\n  runner compare 20261128-183012 20261128-190244 --all-params --last"
    )]
    Compare {
        /// Runs to compare (ids or unique prefixes); all runs matching the filters if none
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
    },
    /// Plot training and validation accuracy and loss per epoch of one or more runs
    #[command(
        after_help = "Example:\n  runner plot 20261128-183012 20261128-190244 --out docs/curves.png"
    )]
    Plot {
        /// Runs to plot (ids or unique prefixes)
        #[arg(required = true)]
        runs: Vec<String>,
        /// The image to write: .png or .svg
        #[arg(long)]
        out: PathBuf,
    },
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
    /// Check pipeline files: every problem, with file, line, column and a caret
    #[command(
        after_help = "Examples:\n  runner validate pipelines/*.toml\n  runner validate my.toml --format json"
    )]
    Validate {
        #[arg(required = true)]
        files: Vec<PathBuf>,
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
    },
    /// Write a commented starter pipeline that validates
    #[command(
        after_help = "Example:\n  runner new pipelines/flowers.toml --backbone efficientnet_lite0"
    )]
    New {
        /// The pipeline file to create (an existing file is left alone)
        file: PathBuf,
        #[arg(long, value_enum, default_value_t = BackboneChoice::EfficientnetLite0)]
        backbone: BackboneChoice,
    },
    /// Print shell completions
    #[command(
        after_help = "Example:\n  runner completions bash > ~/.local/share/bash-completion/completions/runner"
    )]
    Completions { shell: clap_complete::Shell },
    /// Print the JSON Schema of pipeline or experiment files (as in schemas/)
    #[command(
        after_help = "Examples:\n  runner schema > schemas/pipeline.schema.json\n  runner schema experiment > schemas/experiment.schema.json"
    )]
    Schema {
        #[arg(value_enum, default_value_t = SchemaKind::Pipeline)]
        kind: SchemaKind,
    },
    /// Delete runs: their records, metrics and checkpoints
    #[command(
        after_help = "Examples:\n  runner rm 20261128-183012-456k3mx7q2p\n  runner rm 20261128-183012 20261128-190244 --yes\n  runner rm 20261128-183012 --dry-run"
    )]
    Rm {
        /// Run ids, or unique prefixes of at least 15 characters (20261128-183012)
        #[arg(required = true)]
        runs: Vec<String>,
        /// Remove more than one run without asking
        #[arg(long, short)]
        yes: bool,
        /// Print what would be removed, and remove nothing
        #[arg(long)]
        dry_run: bool,
    },
    /// Remove checkpoints of deleted runs and half-written files, and record runs whose
    /// process died as interrupted
    #[command(after_help = "Examples:\n  runner gc\n  runner gc --cache --dry-run")]
    Gc {
        /// Also remove the cached decoded images and backbone features (they are computed
        /// again when a run needs them)
        #[arg(long)]
        cache: bool,
        /// Print what would be removed, and remove nothing
        #[arg(long)]
        dry_run: bool,
    },
    /// Take the results that Slurm tasks left in a shared folder into the store (what
    /// `runner run --executor slurm` does while it waits, for when it stopped waiting)
    #[command(after_help = "Examples:\n  runner sync\n  runner sync /shared/runner")]
    Sync {
        /// The executor's shared folder (default: `slurm/` in the store)
        dir: Option<PathBuf>,
    },
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

/// Filters shared by `list` and `compare`.
#[derive(Debug, Clone, clap::Args)]
pub struct FilterArgs {
    /// Only runs of this pipeline (its `pipeline.name`)
    #[arg(long)]
    pipeline: Option<String>,
    /// Only trials of this sweep
    #[arg(long)]
    sweep: Option<String>,
    /// Only runs with this status
    #[arg(long, value_parser = ["running", "finished", "stopped_early", "failed", "interrupted"])]
    status: Option<String>,
    /// Only runs started since: a duration (2h, 3days) or a date (2026-11-28)
    #[arg(long)]
    since: Option<String>,
    /// Only runs where a parameter or best metric satisfies KEY OP VALUE (repeatable)
    #[arg(long = "where", value_name = "KEY OP VALUE")]
    conditions: Vec<String>,
}

impl FilterArgs {
    fn to_filter(&self) -> Result<RunFilter> {
        Ok(RunFilter {
            pipeline: self.pipeline.clone(),
            sweep: self.sweep.clone(),
            status: self.status.clone(),
            since: self.since.as_deref().map(parse_since).transpose()?,
            conditions: self
                .conditions
                .iter()
                .map(|c| Condition::parse(c))
                .collect::<Result<_>>()?,
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SchemaKind {
    Pipeline,
    Experiment,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ExecutorChoice {
    Local,
    Slurm,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum BackboneChoice {
    EfficientnetLite0,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum CompareFormat {
    Table,
    Csv,
    Json,
    Markdown,
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
            Command::Validate { files, .. } => files.iter().any(|file| names_weights_file(file)),
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
}

/// Whether `file` is a valid pipeline (its weights file exists then) that names a weights
/// file; an invalid one is reported without LibTorch.
fn names_weights_file(file: &std::path::Path) -> bool {
    spec::load::read(file)
        .ok()
        .and_then(|text| spec::check_pipeline(file, text).ok())
        .is_some_and(|pipeline| pipeline.spec.backbone.weights_file().is_some())
}

/// Checks a pipeline's weights file against its backbone (names and shapes); `runner-torch`
/// has one, `runner` not.
pub type WeightsCheck<'a> = &'a dyn Fn(&spec::PipelineSpec) -> Result<()>;

/// Parses the arguments, sets up logging and runs the command: store commands here,
/// LibTorch commands through `run_with_libtorch`. Exit code 2 for input errors, 1 for
/// anything else, a panic included.
pub fn main_with(run_with_libtorch: impl FnOnce(Cli) -> Result<()>) -> ExitCode {
    let cli = Cli::parse();
    init_logging(cli.verbose);
    install_panic_hook(
        cli.verbose > 0 || std::env::var_os("RUNNER_BACKTRACE").is_some_and(|v| v == "1"),
    );
    let run = move || {
        if cli.command.needs_libtorch() {
            run_with_libtorch(cli)
        } else {
            execute_store_command(cli)
        }
    };
    // The hook has said what happened; the unwound panic only sets the exit code.
    let Ok(result) = std::panic::catch_unwind(std::panic::AssertUnwindSafe(run)) else {
        return ExitCode::from(1);
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            exit_code(&error)
        }
    }
}

/// Reports a panic (a bug in runner, or LibTorch failing inside tch or burn-tch: a shape
/// mismatch, memory exhausted in C++) as one `error:` line and a request to report it,
/// instead of Rust's panic message. The backtrace follows with `-v` or
/// `RUNNER_BACKTRACE=1`, not with `RUST_BACKTRACE`, which many environments set for
/// every program.
fn install_panic_hook(with_backtrace: bool) {
    std::panic::set_hook(Box::new(move |info| {
        let payload = info.payload();
        let message = payload
            .downcast_ref::<&str>()
            .copied()
            .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
            .unwrap_or("a panic without a message");
        // LibTorch's messages carry its C++ stack on the following lines.
        let first_line = message.lines().next().unwrap_or_default();
        let location = info
            .location()
            .map_or_else(String::new, |at| format!(" at {}:{}", at.file(), at.line()));
        let backtrace_hint = if with_backtrace {
            ""
        } else {
            "; -v or RUNNER_BACKTRACE=1 shows a backtrace"
        };
        eprintln!(
            "error: internal error{location}: {first_line} (a bug in runner, or LibTorch failing: please report it with the command that caused it{backtrace_hint})"
        );
        if with_backtrace {
            eprintln!("{message}\n{}", std::backtrace::Backtrace::force_capture());
        }
    }));
}

fn init_logging(verbose: u8) {
    let default_level = match verbose {
        0 => "info",
        1 => "debug",
        _ => "trace",
    };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| {
        EnvFilter::new(format!(
            "warn,runner={default_level},runner_core={default_level}"
        ))
    });
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .with_ansi(std::io::stderr().is_terminal())
        .without_time()
        .init();
}

/// Runs a command that reads or edits the store.
fn execute_store_command(cli: Cli) -> Result<()> {
    let store = Store::new(&cli.store);
    match cli.command {
        Command::List { filter, format } => {
            let filter = filter.to_filter()?;
            let runs: Vec<RunSummary> = if filter.needs_params() {
                let records = store.runs()?.into_iter();
                records
                    .filter(|run| filter.matches_record(run))
                    .map(|run| run.summary())
                    .collect()
            } else {
                let no_params = Default::default();
                let summaries = store.run_summaries()?.into_iter();
                summaries
                    .filter(|run| filter.matches(run, &no_params))
                    .collect()
            };
            let mut stdout = std::io::BufWriter::new(std::io::stdout().lock());
            match format {
                Format::Table if runs.is_empty() => {
                    eprintln!("no runs recorded in `{}` match", cli.store.display());
                }
                Format::Table => write!(stdout, "{}", report::runs_table(&runs))?,
                Format::Json => {
                    serde_json::to_writer_pretty(&mut stdout, &report::runs_json(&runs))?;
                    writeln!(stdout)?;
                }
            }
        }
        Command::Show { run, format } => {
            let record = store.find_run(&run)?;
            let history = store.epochs(&record.id)?;
            match format {
                Format::Table => print!("{}", report::run_text(&record, &history, &store)),
                Format::Json => {
                    let spec_text = store.spec_text(&record.spec_hash)?;
                    let json = report::run_json(&record, &history, spec_text.as_deref(), &store);
                    println!("{}", serde_json::to_string_pretty(&json)?);
                }
            }
        }
        Command::Compare {
            runs,
            filter,
            all_params,
            last,
            no_group,
            sort,
            format,
        } => {
            let filter = filter.to_filter()?;
            let selected: Vec<RunRecord> = select_runs(&store, &runs)?
                .into_iter()
                .filter(|run| filter.matches_record(run))
                .collect();
            if selected.is_empty() {
                crate::bail_input!("no recorded run matches (see `runner list`)");
            }
            let mut comparison = compare(
                &selected,
                CompareOptions {
                    all_params,
                    last,
                    no_group,
                },
            );
            if let Some(metric) = sort {
                comparison.sort_by(&metric);
            }
            match format {
                CompareFormat::Table => println!("{}", compare_format::to_table(&comparison)),
                CompareFormat::Markdown => print!("{}", compare_format::to_markdown(&comparison)),
                CompareFormat::Csv => print!("{}", compare_format::to_csv(&comparison)?),
                CompareFormat::Json => {
                    println!(
                        "{}",
                        serde_json::to_string_pretty(&compare_format::to_json(&comparison))?
                    )
                }
            }
        }
        Command::Plot { runs, out } => {
            let records = select_runs(&store, &runs)?;
            // The legend names each run by what sets it apart from the others.
            let differing = compare(
                &records,
                CompareOptions {
                    no_group: true,
                    ..Default::default()
                },
            );
            let mut plotted = Vec::new();
            for (record, row) in records.iter().zip(&differing.rows) {
                let params: Vec<String> = row
                    .params
                    .iter()
                    .map(|(key, value)| format!("{key}={}", display(value)))
                    .collect();
                let label = if params.is_empty() {
                    record.id.clone()
                } else {
                    format!("{} ({})", record.id, params.join(", "))
                };
                plotted.push(PlottedRun {
                    label,
                    history: store.epochs(&record.id)?,
                });
            }
            plot_runs(&plotted, &out)?;
            // Each plotted run lists the plot among its artifacts.
            let path = std::fs::canonicalize(&out)?;
            let artifact = Artifact {
                path: store.relative_path(&path),
                bytes: std::fs::metadata(&path)?.len(),
                phase: None,
            };
            let name = format!(
                "plot:{}",
                out.file_name()
                    .map_or_else(String::new, |n| n.to_string_lossy().into_owned())
            );
            for record in &records {
                store.add_artifact(&record.id, &name, artifact.clone())?;
            }
            eprintln!("wrote {}", out.display());
        }
        Command::Rm { runs, yes, dry_run } => {
            let records = store.runs_to_remove(&runs)?;
            if dry_run {
                for run in &records {
                    eprintln!("would remove {}", describe_run(run));
                }
                return Ok(());
            }
            if records.len() > 1 && !yes {
                confirm_removal(&records)?;
            }
            store.remove_runs(&records)?;
            for run in &records {
                eprintln!("removed {}", describe_run(run));
            }
        }
        Command::Sync { dir } => {
            let dir = dir.unwrap_or_else(|| store.root().join(SLURM_FOLDER));
            let runs = store.ingest_shared_folder(&dir)?;
            for run in &runs {
                eprintln!(
                    "took in run {} ({}{})",
                    run.id,
                    run.status.as_str(),
                    run.trial
                        .map_or_else(String::new, |trial| format!(", trial {trial}"))
                );
            }
            eprintln!("took in {} run(s) from `{}`", runs.len(), dir.display());
        }
        Command::Gc { cache, dry_run } => {
            let report = store.collect_garbage(cache, dry_run)?;
            if dry_run {
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
        }
        Command::Validate { files, format } => validate_files(&files, format, None)?,
        Command::New { file, backbone } => {
            let arch = match backbone {
                BackboneChoice::EfficientnetLite0 => Arch::EfficientnetLite0,
            };
            write_starter(&file, arch)?;
            eprintln!(
                "wrote {}; check it with `runner validate {}`",
                file.display(),
                file.display()
            );
        }
        Command::Completions { shell } => {
            clap_complete::generate(shell, &mut Cli::command(), "runner", &mut std::io::stdout());
        }
        Command::Schema { kind } => {
            let schema = match kind {
                SchemaKind::Pipeline => spec::pipeline_schema(),
                SchemaKind::Experiment => spec::experiment_schema(),
            };
            println!("{}", serde_json::to_string_pretty(&schema)?);
        }
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
    Ok(())
}

/// `runner validate`: every problem of every file, and with `check_weights` the weights
/// files too; an input error when any has one.
pub fn validate_files(
    files: &[PathBuf],
    format: Format,
    check_weights: Option<WeightsCheck>,
) -> Result<()> {
    let mut report = Vec::new();
    let mut failed = 0;
    for file in files {
        let problems = match spec::load::read(file) {
            Ok(text) => match check_with_weights(file, text.clone(), check_weights) {
                Ok(_) => Vec::new(),
                Err(problems) => {
                    if format == Format::Table {
                        eprintln!("error: {}\n", spec::render_diagnostics(file, &problems));
                    }
                    problems
                }
            },
            Err(error) => {
                if format == Format::Table {
                    eprintln!("error: {error:#}\n");
                }
                vec![spec::Diagnostic::new("", format!("{error:#}"), None, "")]
            }
        };
        if problems.is_empty() && format == Format::Table {
            eprintln!("{}: ok", file.display());
        }
        failed += usize::from(!problems.is_empty());
        report.push(
            serde_json::json!({ "file": file, "valid": problems.is_empty(), "problems": problems }),
        );
    }
    if format == Format::Json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    }
    if failed > 0 {
        return Err(crate::error::InputError(format!(
            "{failed} of {} pipeline file(s) are not valid",
            files.len()
        ))
        .into());
    }
    Ok(())
}

/// The pipeline's problems, then its weights file's when there are none and a check is given.
fn check_with_weights(
    file: &std::path::Path,
    text: String,
    check_weights: Option<WeightsCheck>,
) -> Result<spec::Pipeline, Vec<spec::Diagnostic>> {
    let pipeline = spec::check_pipeline(file, text)?;
    match check_weights.map(|check| check(&pipeline.spec)) {
        Some(Err(error)) => Err(vec![spec::diagnostic_for_key(
            &pipeline,
            "backbone.weights",
            format!("{error:#}"),
        )]),
        _ => Ok(pipeline),
    }
}

/// `runner new`: a commented starter pipeline; an existing file is left alone.
fn write_starter(file: &std::path::Path, arch: Arch) -> Result<()> {
    use std::io::Write as _;
    let text = spec::starter_pipeline(arch);
    let mut out = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(file)
        .map_err(|err| {
            crate::error::input_error(format!("cannot create `{}`: {err}", file.display()))
        })?;
    out.write_all(text.as_bytes())?;
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

/// The runs named by ids or unique prefixes, in the order given; every run if none.
pub fn select_runs(store: &Store, ids: &[String]) -> Result<Vec<RunRecord>> {
    if ids.is_empty() {
        return store.runs();
    }
    ids.iter().map(|id| store.find_run(id)).collect()
}
