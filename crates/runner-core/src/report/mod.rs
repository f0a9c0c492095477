//! Turning store records into what people and tools read: run lists, one run in detail,
//! comparisons and plots.

pub mod compare;
pub mod compare_format;
pub mod plot;
pub mod runs;
pub mod select;

pub use runs::{run_json, run_text, runs_json, runs_table};
