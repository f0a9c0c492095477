//! What the commands that need LibTorch do, one module each; their arguments are in
//! `runner_core::commands::libtorch`, since `runner` parses them without LibTorch. A new
//! LibTorch command is its arguments there, a module here and a line of [`execute`].

mod augment;
mod data;
mod export;
mod inspect;
mod plan;
mod predict;
mod run;
mod summary;
mod trial;
mod validate;

use anyhow::Result;

use runner_core::cli::Cli;
use runner_core::commands::Command;
use runner_core::commands::libtorch::{ModelCommand, PipelineCommand};
use runner_core::store::Store;

/// Runs a command that needs LibTorch; `runner_core::cli::main_with` runs the others.
pub fn execute(cli: Cli) -> Result<()> {
    let store = Store::new(&cli.store);
    match cli.command {
        Command::Pipeline(PipelineCommand::Run(args)) => run::exec(args, &store),
        Command::Pipeline(PipelineCommand::Plan(args)) => plan::exec(args, &store),
        Command::Pipeline(PipelineCommand::Summary(args)) => summary::exec(args),
        Command::Pipeline(PipelineCommand::Data(command)) => data::exec(command, &store),
        Command::Pipeline(PipelineCommand::Augment(command)) => augment::exec(command),
        Command::Pipeline(PipelineCommand::Trial(args)) => trial::exec(args, &store),
        Command::Model(ModelCommand::Predict(args)) => predict::exec(args, &store),
        Command::Model(ModelCommand::Export(args)) => export::exec(args, &store),
        Command::Model(ModelCommand::Inspect(args)) => inspect::exec(args, &store),
        Command::Validate(args) => validate::exec(args),
        _ => unreachable!("store commands run in runner_core::commands"),
    }
}
