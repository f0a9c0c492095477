//! The pipeline file: its types (and so its JSON Schema), checking with every problem
//! located and explained, the cross-key rules, and the flattened parameter view that the
//! store records.

mod bounds;
mod check;
pub mod csv_split;
mod diagnostic;
mod executor;
pub mod experiment;
mod integers;
pub mod load;
mod overrides;
mod params;
mod phases;
mod precision;
mod rules;
mod seeds;
#[cfg(test)]
pub(crate) mod small_pipeline;
mod starter;
pub mod sweep;
mod types;
mod validate;

use std::collections::BTreeMap;
use std::path::PathBuf;

pub use crate::arch::Arch;
pub use diagnostic::{Diagnostic, Problem};
pub use executor::ExecutorSpec;
pub use load::{
    check_pipeline, load_pipeline, load_pipeline_to_inspect, parse_pipeline, pipeline_from_spec,
    render_diagnostics,
};
pub use overrides::apply_overrides;
pub use params::flatten_params;
pub use phases::{effective_phases, phase_name, phase_spec};
pub use precision::{Precision, native_bf16};
pub use rules::{
    LayerPlan, class_folders, head_fits_loss, head_shape_problems, resolve_layers, split_classes,
    unknown_layer_message,
};
pub use seeds::Seeds;
pub use starter::starter_pipeline;
pub use types::*;

/// A parsed pipeline file with its paths resolved against the file's folder.
#[derive(Debug, Clone)]
pub struct Pipeline {
    /// Where the file was read from.
    pub file: PathBuf,
    /// The file's text, as read.
    pub text: String,
    /// Paths resolved against the file's folder.
    pub spec: PipelineSpec,
    /// The spec as written: paths as in the file, before resolving. Sweep trials start
    /// from it.
    pub written: PipelineSpec,
    /// The spec flattened to key paths, with values as written in the file (paths
    /// unresolved), so runs compare the same wherever they were started.
    pub params: BTreeMap<String, serde_json::Value>,
}

/// The JSON Schema of pipeline files, as committed in `schemas/pipeline.schema.json`.
pub fn pipeline_schema() -> serde_json::Value {
    serde_json::to_value(schemars::schema_for!(PipelineSpec)).expect("a schema is JSON")
}

/// The JSON Schema of experiment files, as committed in `schemas/experiment.schema.json`.
pub fn experiment_schema() -> serde_json::Value {
    serde_json::to_value(schemars::schema_for!(experiment::ExperimentSpec))
        .expect("a schema is JSON")
}

/// The `count` candidates closest to `name` by edit distance, closest first: for error
/// messages that list what the user may have meant.
pub fn closest<'a>(
    candidates: impl IntoIterator<Item = &'a str>,
    name: &str,
    count: usize,
) -> Vec<&'a str> {
    let mut ranked: Vec<&str> = candidates.into_iter().collect();
    ranked.sort_by_key(|candidate| strsim::levenshtein(candidate, name));
    ranked.truncate(count);
    ranked
}
