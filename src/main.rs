use std::io::IsTerminal;
use std::process::ExitCode;

use clap::Parser;
use runner::cli::{Cli, execute};
use runner::error::is_input_error;
use tracing_subscriber::EnvFilter;

fn main() -> ExitCode {
    runner::allocator::keep_freed_memory();
    let cli = Cli::parse();
    let default_level = match cli.verbose {
        0 => "info",
        1 => "debug",
        _ => "trace",
    };
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new(format!("warn,runner={default_level}")));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .with_ansi(std::io::stderr().is_terminal())
        .without_time()
        .init();
    match execute(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::from(if is_input_error(&error) { 2 } else { 1 })
        }
    }
}
