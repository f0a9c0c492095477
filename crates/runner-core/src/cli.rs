//! The process entry point shared by both binaries: the global flags, logging, the panic
//! hook and the exit code. The commands are in [`crate::commands`]; those that need
//! LibTorch are carried out by the `runner-torch` binary, and `runner` hands them over so
//! that reading the store never pays for loading LibTorch (about 250 ms a process).

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use clap::Parser;
use tracing_subscriber::EnvFilter;

use crate::commands::Command;
use crate::error::exit_code;
use crate::store::Store;

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
            cli.command.exec(&Store::new(&cli.store))
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
