//! What long loops share with the run around them: a progress bar when a person watches,
//! the Ctrl-C flag, and the heartbeat that shows the run is alive.

use std::io::IsTerminal;
use std::sync::atomic::{AtomicBool, Ordering};

use indicatif::{ProgressBar, ProgressStyle};

pub struct Activity<'a> {
    pub show_progress: bool,
    /// Set from another thread (Ctrl-C) to stop after the current batch.
    pub interrupted: &'a AtomicBool,
    /// Called after every batch, to show the run is alive.
    pub heartbeat: &'a dyn Fn(),
}

/// Never set: what commands that record nothing (`predict`, `inspect`) watch, since Ctrl-C
/// may simply end them.
static NEVER_INTERRUPTED: AtomicBool = AtomicBool::new(false);

fn no_heartbeat() {}

impl Activity<'static> {
    /// For a command that records nothing: a progress bar on a terminal unless `quiet`, no
    /// heartbeat, and Ctrl-C left to end the process.
    pub fn of_command(quiet: bool) -> Self {
        Activity {
            show_progress: !quiet && std::io::stderr().is_terminal(),
            interrupted: &NEVER_INTERRUPTED,
            heartbeat: &no_heartbeat,
        }
    }
}

impl Activity<'_> {
    pub fn is_interrupted(&self) -> bool {
        self.interrupted.load(Ordering::SeqCst)
    }

    /// A bar of `length` steps, hidden unless progress is shown.
    pub fn progress_bar(&self, length: usize, prefix: &str) -> ProgressBar {
        if !self.show_progress {
            return ProgressBar::hidden();
        }
        let bar = ProgressBar::new(length as u64);
        bar.set_style(
            ProgressStyle::with_template(
                "{prefix} [{bar:30}] {pos}/{len} {elapsed_precise} (eta {eta}) {msg}",
            )
            .expect("the template is valid")
            .progress_chars("=> "),
        );
        bar.set_prefix(prefix.to_string());
        bar
    }
}
