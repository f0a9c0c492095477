//! `runner-torch`: the whole command line, LibTorch included. `runner` starts it for the
//! commands that need LibTorch; it also answers every other command itself.

use std::process::ExitCode;

fn main() -> ExitCode {
    runner::allocator::keep_freed_memory();
    runner_core::cli::main_with(runner::commands::execute)
}
