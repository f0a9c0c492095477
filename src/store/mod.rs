//! The experiment store: run records and per-epoch metrics in a sled database, checkpoints
//! as files beside it.
//!
//! Layout under the store root:
//!   db/                    sled database (trees `meta`, `runs`, `epochs`)
//!   checkpoints/RUN_ID/    checkpoint files, each written to a temporary name and renamed

mod db;
mod record;
mod run_id;

pub use db::{SCHEMA_VERSION, Store};
pub use record::{RunRecord, RunStatus};
pub use run_id::{new_run_id, now_millis};
