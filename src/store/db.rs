//! Access to the sled database. sled lets one process hold a database at a time, so every
//! operation opens it, does its work, flushes and closes it again; a process that finds
//! the database busy retries for a while. A reader never creates a store.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use sled::Transactional;

use super::record::RunRecord;
use crate::bail_input;
use crate::train::EpochMetrics;

/// The layout version this runner writes. A store with a newer version is refused.
pub const SCHEMA_VERSION: u32 = 1;
const SCHEMA_KEY: &[u8] = b"schema_version";
/// How long to wait for another runner process to release the database.
const LOCK_WAIT: Duration = Duration::from_secs(60);

pub struct Store {
    root: PathBuf,
}

impl Store {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    fn db_path(&self) -> PathBuf {
        self.root.join("db")
    }

    /// Where the checkpoints of a run go.
    pub fn checkpoint_dir(&self, run_id: &str) -> PathBuf {
        self.root.join("checkpoints").join(run_id)
    }

    /// Writes (or replaces) a run record.
    pub fn put_run(&self, record: &RunRecord) -> Result<()> {
        self.write(|db| {
            db.open_tree("runs")?
                .insert(record.id.as_bytes(), serde_json::to_vec(record)?)?;
            Ok(())
        })
    }

    /// Records one epoch and the run's updated summary together, atomically.
    pub fn put_epoch(&self, record: &RunRecord, epoch: &EpochMetrics) -> Result<()> {
        self.write(|db| {
            let runs = db.open_tree("runs")?;
            let epochs = db.open_tree("epochs")?;
            let run_value = serde_json::to_vec(record)?;
            let epoch_value = serde_json::to_vec(epoch)?;
            let epoch_key = epoch_key(&record.id, epoch.epoch);
            (&runs, &epochs)
                .transaction(|(runs, epochs)| {
                    runs.insert(record.id.as_bytes(), run_value.as_slice())?;
                    epochs.insert(epoch_key.as_slice(), epoch_value.as_slice())?;
                    Ok(())
                })
                .map_err(|err: sled::transaction::TransactionError| anyhow::anyhow!("{err}"))?;
            Ok(())
        })
    }

    /// Every run, oldest first.
    pub fn runs(&self) -> Result<Vec<RunRecord>> {
        self.read(|db| {
            let mut runs = Vec::new();
            for entry in db.open_tree("runs")?.iter() {
                let (key, value) = entry?;
                runs.push(parse(&key, &value)?);
            }
            Ok(runs)
        })
        .map(Option::unwrap_or_default)
    }

    /// The run with this id, or the only run whose id starts with it.
    pub fn find_run(&self, id: &str) -> Result<RunRecord> {
        let found = self.read(|db| {
            let mut matches = Vec::new();
            for entry in db.open_tree("runs")?.scan_prefix(id.as_bytes()) {
                let (key, value) = entry?;
                matches.push(parse::<RunRecord>(&key, &value)?);
            }
            Ok(matches)
        })?;
        let mut matches = found.unwrap_or_default();
        if let Some(exact) = matches.iter().position(|run| run.id == id) {
            return Ok(matches.swap_remove(exact));
        }
        match matches.len() {
            0 => bail_input!(
                "no run `{id}` in the store at `{}` (see `runner list`)",
                self.root.display()
            ),
            1 => Ok(matches.remove(0)),
            n => bail_input!(
                "`{id}` matches {n} runs ({}): give more of the id",
                matches
                    .iter()
                    .map(|run| run.id.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        }
    }

    /// The recorded epochs of a run, in order.
    pub fn epochs(&self, run_id: &str) -> Result<Vec<EpochMetrics>> {
        self.read(|db| {
            let mut prefix = run_id.as_bytes().to_vec();
            prefix.push(b'/');
            let mut epochs = Vec::new();
            for entry in db.open_tree("epochs")?.scan_prefix(prefix) {
                let (key, value) = entry?;
                epochs.push(parse(&key, &value)?);
            }
            Ok(epochs)
        })
        .map(Option::unwrap_or_default)
    }

    fn write<T>(&self, work: impl FnOnce(&sled::Db) -> Result<T>) -> Result<T> {
        std::fs::create_dir_all(&self.root)
            .with_context(|| format!("cannot create the store folder `{}`", self.root.display()))?;
        let db = self.open()?;
        let meta = db.open_tree("meta")?;
        if meta.get(SCHEMA_KEY)?.is_none() {
            meta.insert(SCHEMA_KEY, &SCHEMA_VERSION.to_be_bytes())?;
        }
        let result = work(&db)?;
        db.flush()?;
        Ok(result)
    }

    /// Runs `work` on the database, or returns `None` when there is no store yet.
    fn read<T>(&self, work: impl FnOnce(&sled::Db) -> Result<T>) -> Result<Option<T>> {
        if !self.db_path().exists() {
            return Ok(None);
        }
        let db = self.open()?;
        work(&db).map(Some)
    }

    fn open(&self) -> Result<sled::Db> {
        let path = self.db_path();
        let started = Instant::now();
        let db = loop {
            match sled::Config::new().path(&path).open() {
                Ok(db) => break db,
                Err(sled::Error::Io(err))
                    if is_lock_contention(&err) && started.elapsed() < LOCK_WAIT =>
                {
                    std::thread::sleep(Duration::from_millis(50));
                }
                Err(err) => {
                    return Err(err).with_context(|| {
                        format!("cannot open the run store at `{}`", path.display())
                    });
                }
            }
        };
        check_schema(&db, &path)?;
        Ok(db)
    }
}

fn check_schema(db: &sled::Db, path: &Path) -> Result<()> {
    let Some(stored) = db.open_tree("meta")?.get(SCHEMA_KEY)? else {
        return Ok(());
    };
    let version = <[u8; 4]>::try_from(stored.as_ref())
        .map(u32::from_be_bytes)
        .map_err(|_| {
            anyhow::anyhow!(
                "the store at `{}` has a corrupt schema version",
                path.display()
            )
        })?;
    if version > SCHEMA_VERSION {
        bail!(crate::error::InputError(format!(
            "the store at `{}` has schema version {version}, newer than this runner's {SCHEMA_VERSION}: use a newer runner",
            path.display()
        )));
    }
    Ok(())
}

fn is_lock_contention(err: &std::io::Error) -> bool {
    err.kind() == std::io::ErrorKind::WouldBlock || err.to_string().contains("lock")
}

fn epoch_key(run_id: &str, epoch: usize) -> Vec<u8> {
    let mut key = run_id.as_bytes().to_vec();
    key.push(b'/');
    key.extend_from_slice(&(epoch as u32).to_be_bytes());
    key
}

fn parse<T: serde::de::DeserializeOwned>(key: &[u8], value: &[u8]) -> Result<T> {
    serde_json::from_slice(value).with_context(|| {
        format!(
            "the store entry `{}` is not readable",
            String::from_utf8_lossy(key)
        )
    })
}
