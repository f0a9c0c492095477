//! `runner completions`: shell completions for every command.

use anyhow::Result;
use clap::CommandFactory;

use crate::cli::Cli;

/// Print shell completions
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Example:\n  runner completions bash > ~/.local/share/bash-completion/completions/runner"
)]
pub struct Args {
    shell: clap_complete::Shell,
}

pub fn exec(args: Args) -> Result<()> {
    clap_complete::generate(
        args.shell,
        &mut Cli::command(),
        "runner",
        &mut std::io::stdout(),
    );
    Ok(())
}
