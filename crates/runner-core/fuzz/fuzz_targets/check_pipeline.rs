//! Any text given as a pipeline file is checked and its problems rendered without a panic.
//!
//!     RUSTC_BOOTSTRAP=1 cargo fuzz run --sanitizer none check_pipeline -- -max_total_time=600

#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let file = Path::new("/nonexistent/fuzz/pipeline.toml");
    if let Err(problems) = runner_core::spec::check_pipeline(file, text.to_string()) {
        let rendered = runner_core::spec::render_diagnostics(file, &problems);
        assert!(!rendered.is_empty());
    }
});
