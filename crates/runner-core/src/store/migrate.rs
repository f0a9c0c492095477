//! The store's layout version and the steps that bring an older store up to date. A store
//! written by a newer runner is refused rather than misread.

use std::path::Path;

use anyhow::{Context, Result};
use serde_json::{Value, json};

use crate::bail_input;

/// The layout this runner reads and writes.
pub const SCHEMA_VERSION: u32 = 2;
const SCHEMA_KEY: &[u8] = b"schema_version";

/// `(from version, step)`: each step upgrades a store from its version to the next one.
/// A step must be safe to run again after a crash halfway through it.
const STEPS: [(u32, MigrationStep); 1] = [(1, v1_to_v2)];

type MigrationStep = fn(&sled::Db) -> Result<()>;

/// Brings the database at `path` to [`SCHEMA_VERSION`], or refuses a newer one.
pub fn migrate(db: &sled::Db, path: &Path) -> Result<()> {
    let meta = db.open_tree("meta")?;
    let Some(mut version) = stored_version(db, path)? else {
        meta.insert(SCHEMA_KEY, &SCHEMA_VERSION.to_be_bytes())?;
        return Ok(());
    };
    if version > SCHEMA_VERSION {
        bail_input!(
            "the run store at `{}` has schema version {version}, newer than this runner's {SCHEMA_VERSION}: use a newer runner",
            path.display()
        );
    }
    for (from, step) in STEPS {
        if version == from {
            step(db).with_context(|| {
                format!(
                    "cannot upgrade the run store at `{}` from version {from}",
                    path.display()
                )
            })?;
            version = from + 1;
            meta.insert(SCHEMA_KEY, &version.to_be_bytes())?;
            db.flush()?;
            tracing::info!(
                "upgraded the run store at `{}` to version {version}",
                path.display()
            );
        }
    }
    Ok(())
}

fn stored_version(db: &sled::Db, path: &Path) -> Result<Option<u32>> {
    let Some(stored) = db.open_tree("meta")?.get(SCHEMA_KEY)? else {
        return Ok(None);
    };
    let bytes = <[u8; 4]>::try_from(stored.as_ref()).map_err(|_| {
        anyhow::anyhow!(
            "the run store at `{}` has a corrupt schema version",
            path.display()
        )
    })?;
    Ok(Some(u32::from_be_bytes(bytes)))
}

/// Version 2 moved the pipeline text out of run records (lists stay small), recorded the
/// process start time next to the pid, and gathered checkpoints into `artifacts`.
fn v1_to_v2(db: &sled::Db) -> Result<()> {
    let runs = db.open_tree("runs")?;
    let specs = db.open_tree("specs")?;
    for entry in &runs {
        let (key, value) = entry?;
        let mut run: Value = serde_json::from_slice(&value)?;
        let Some(object) = run.as_object_mut() else {
            continue;
        };
        let Some(spec_text) = object.remove("spec_text") else {
            continue;
        };
        let spec_hash = object
            .get("spec_hash")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        specs.insert(
            spec_hash.as_bytes(),
            spec_text.as_str().unwrap_or_default().as_bytes(),
        )?;
        let pid = object.remove("pid").unwrap_or(json!(0));
        object.insert("process".into(), json!({ "pid": pid, "start_ticks": null }));
        let mut artifacts = serde_json::Map::new();
        for (old, name) in [("checkpoint", "last"), ("best_checkpoint", "best")] {
            if let Some(Value::String(path)) = object.remove(old) {
                let bytes = std::fs::metadata(&path).map_or(0, |meta| meta.len());
                // Version 1 kept paths as the run saw them; version 2 keeps them relative
                // to the store root, where checkpoints always live.
                let path = path
                    .find("checkpoints/")
                    .map_or(path.clone(), |at| path[at..].to_string());
                artifacts.insert(name.into(), json!({ "path": path, "bytes": bytes }));
            }
        }
        object.insert("artifacts".into(), Value::Object(artifacts));
        let heartbeat = object
            .get("ended_at")
            .filter(|v| !v.is_null())
            .or(object.get("started_at"))
            .cloned();
        object.insert("heartbeat_at".into(), heartbeat.unwrap_or(json!(0)));
        object.insert("sweep".into(), Value::Null);
        object.insert("trial".into(), Value::Null);
        object.insert("libtorch_version".into(), json!("2.9.0"));
        object.insert("dataset_hash".into(), json!(""));
        runs.insert(key, serde_json::to_vec(&run)?)?;
    }
    Ok(())
}
