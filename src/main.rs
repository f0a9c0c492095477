//! `runner`: the command line. It reads and edits the run store itself and hands the
//! commands that need LibTorch to `runner-torch`, installed beside it, so that `list`,
//! `show` and `compare` start without loading LibTorch.

use std::os::unix::process::CommandExt;
use std::process::{Command, ExitCode};

use anyhow::Result;
use runner_core::cli::{Cli, main_with};

fn main() -> ExitCode {
    main_with(hand_over_to_runner_torch)
}

/// Replaces this process with `runner-torch` and the same arguments; returns only if that
/// binary cannot be started.
fn hand_over_to_runner_torch(_cli: Cli) -> Result<()> {
    let exe = std::env::current_exe()?.with_file_name("runner-torch");
    let error = Command::new(&exe).args(std::env::args_os().skip(1)).exec();
    anyhow::bail!(
        "cannot start `{}`, which runs training and models: {error} (cargo builds it beside `runner`)",
        exe.display()
    )
}
