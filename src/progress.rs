//! What long loops share with the run around them: a progress bar when a person watches,
//! the Ctrl-C flag, and the heartbeat that shows the run is alive.

use std::sync::atomic::{AtomicBool, Ordering};

use indicatif::{ProgressBar, ProgressStyle};

pub struct Activity<'a> {
    pub show_progress: bool,
    /// Set from another thread (Ctrl-C) to stop after the current batch.
    pub interrupted: &'a AtomicBool,
    /// Called after every batch, to show the run is alive.
    pub heartbeat: &'a dyn Fn(),
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
