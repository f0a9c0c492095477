//! `runner-torch`: the whole command line, LibTorch included. `runner` starts it for
//! `run`, `predict` and `export`; it also answers every other command itself.

use std::process::ExitCode;

fn main() -> ExitCode {
    runner::allocator::keep_freed_memory();
    runner_core::cli::main_with(runner::torch_cli::execute)
}
