//! The commands, one module each, as cargo's `src/bin/cargo/commands/`: a module holds
//! its command's arguments and what it does. A new store command is a module here, a
//! variant of [`Command`] and a line of [`Command::exec`]. A LibTorch command's
//! arguments go in [`libtorch`] (`runner` parses them before it hands the command over)
//! and what it does in the `runner` crate's `commands`.

pub mod compare;
pub mod completions;
pub mod export_logs;
pub mod gc;
pub mod libtorch;
pub mod list;
pub mod new;
pub mod plot;
pub mod rm;
pub mod schema;
pub mod show;
pub mod sync;
pub mod ui;
pub mod validate;

use anyhow::Result;
use clap::{Subcommand, ValueEnum};

use crate::store::Store;
use libtorch::{ModelCommand, PipelineCommand};

/// Every command, in the order `runner --help` lists them. The LibTorch commands are the
/// two flattened groups, which is what tells `runner` to hand them over; they are two only
/// so that the list keeps `predict` and `export` after the store commands they follow.
#[derive(Debug, Subcommand)]
pub enum Command {
    #[command(flatten)]
    Pipeline(PipelineCommand),
    List(list::Args),
    Show(show::Args),
    Compare(compare::Args),
    Plot(plot::Args),
    ExportLogs(export_logs::Args),
    Ui(ui::Args),
    #[command(flatten)]
    Model(ModelCommand),
    Validate(validate::Args),
    New(new::Args),
    Completions(completions::Args),
    Schema(schema::Args),
    Rm(rm::Args),
    Gc(gc::Args),
    Sync(sync::Args),
}

impl Command {
    /// Whether the command trains or runs a model, and so needs LibTorch; `validate` does
    /// when a file names a weights file, to compare its tensors with the network's (whose
    /// shapes only the LibTorch crate's models know).
    pub fn needs_libtorch(&self) -> bool {
        match self {
            Command::Pipeline(_) | Command::Model(_) => true,
            Command::Validate(args) => args.names_weights_file(),
            _ => false,
        }
    }

    /// Runs a command that reads or edits the store (or needs neither).
    pub fn exec(self, store: &Store) -> Result<()> {
        match self {
            Command::List(args) => list::exec(args, store),
            Command::Show(args) => show::exec(args, store),
            Command::Compare(args) => compare::exec(args, store),
            Command::Plot(args) => plot::exec(args, store),
            Command::ExportLogs(args) => export_logs::exec(args, store),
            Command::Ui(args) => ui::exec(args, store),
            Command::Validate(args) => validate::exec(args, None),
            Command::New(args) => new::exec(args),
            Command::Completions(args) => completions::exec(args),
            Command::Schema(args) => schema::exec(args),
            Command::Rm(args) => rm::exec(args, store),
            Command::Gc(args) => gc::exec(args, store),
            Command::Sync(args) => sync::exec(args, store),
            Command::Pipeline(_) | Command::Model(_) => {
                unreachable!("main_with hands LibTorch commands to runner-torch")
            }
        }
    }
}

/// The output of the commands that print one report: a table for people or JSON.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Table,
    Json,
}
