//! The experiment store: run records and per-epoch metrics in a sled database, checkpoints
//! as files beside it.
//!
//! Layout under the store root:
//!   db/                    sled database (see `db` for its trees, `migrate` for versions)
//!   checkpoints/RUN_ID/    checkpoint files, each written to a temporary name and renamed
//!   manifests/KEY.tsv      the data a run saw: each file's path, size, hash and label
//!   cache/STAGE/KEY.bin    stage results shared by runs (decoded images, features),
//!                          named by their content key; `runner gc --cache` removes them

mod bundle;
mod db;
mod gc;
mod liveness;
mod migrate;
mod record;
mod relative;
mod remove;
mod run_id;
mod stages;
mod sweeps;

pub use bundle::{BundleContents, REJECTED_FOLDER, SLURM_FOLDER, parse_bundle, sweep_bundles};
pub use db::Store;
pub use gc::GcReport;
pub use liveness::{HEARTBEAT_INTERVAL, this_host, this_process};
pub use migrate::SCHEMA_VERSION;
pub use record::{Artifact, ProcessId, RunRecord, RunStatus, RunSummary, TopLoss};
pub use run_id::{is_run_id, new_run_id, now_millis};
pub use sweeps::SweepRecord;
