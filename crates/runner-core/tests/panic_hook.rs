//! A panic in a command (a bug, or LibTorch failing inside tch) ends in one `error:` line
//! and exit code 1, not Rust's panic message and exit code 101; `-v` adds the backtrace,
//! `RUST_BACKTRACE` alone does not. Its own harness: the test runs itself as the program.

use std::process::{Command, ExitCode, Output};

const CHILD: &str = "RUNNER_PANIC_HOOK_TEST_CHILD";

fn main() -> ExitCode {
    if std::env::var_os(CHILD).is_some() {
        return runner_core::cli::main_with(|_| {
            panic!("shape mismatch in LibTorch\nException raised from a C++ frame")
        });
    }
    let plain = command(&[]);
    let message = String::from_utf8_lossy(&plain.stderr).into_owned();
    assert_eq!(plain.status.code(), Some(1), "{message}");
    assert_eq!(message.lines().count(), 1, "{message}");
    assert!(
        message.starts_with("error: internal error at crates/runner-core/tests/panic_hook.rs:"),
        "{message}"
    );
    for part in [
        "shape mismatch in LibTorch",
        "please report it",
        "RUNNER_BACKTRACE=1",
    ] {
        assert!(message.contains(part), "{message}");
    }

    let verbose = command(&["-v"]);
    let message = String::from_utf8_lossy(&verbose.stderr).into_owned();
    assert_eq!(verbose.status.code(), Some(1), "{message}");
    assert!(
        message.contains("Exception raised from a C++ frame"),
        "{message}"
    );
    assert!(
        message.contains("panic_hook::main"),
        "a backtrace: {message}"
    );
    println!("panic_hook: ok");
    ExitCode::SUCCESS
}

/// This program as `runner export RUN --out x` (a LibTorch command, whose runner panics)
/// with `RUST_BACKTRACE=1`, as many environments set it.
fn command(extra: &[&str]) -> Output {
    Command::new(std::env::current_exe().unwrap())
        .args(["export", "RUN", "--out", "x.safetensors"])
        .args(extra)
        .env(CHILD, "1")
        .env("RUST_BACKTRACE", "1")
        .env_remove("RUNNER_BACKTRACE")
        .output()
        .unwrap()
}
