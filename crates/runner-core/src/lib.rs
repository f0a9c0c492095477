//! The parts of runner that need no LibTorch: the pipeline file ([`spec`]), the run store
//! ([`store`]), what is printed from it ([`report`]), the command line ([`cli`],
//! [`commands`]) and the dashboard that shows the store in a browser ([`ui`]). The
//! `runner` binary is built from these alone, so commands that only read the store start
//! fast; training lives in the `runner` crate.

pub mod arch;
pub mod cli;
pub mod commands;
pub mod error;
pub mod metrics;
pub mod plan;
pub mod report;
pub mod search;
pub mod spec;
pub mod store;
pub mod ui;

/// Asserts that `text` contains `part`, printing `text` when it does not.
#[cfg(test)]
#[track_caller]
pub(crate) fn assert_contains(text: &str, part: &str) {
    assert!(text.contains(part), "expected `{part}` in:\n{text}");
}
