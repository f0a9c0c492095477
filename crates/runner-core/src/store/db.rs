//! Access to the sled database. sled lets one process hold a database at a time, so every
//! operation opens it, does its work, flushes and closes it again; a process that finds
//! the database busy retries for a while. A reader never creates a store.
//!
//! Trees: `meta` (schema version), `runs` (id -> run record), `epochs` (id/epoch ->
//! metrics), `specs` (spec hash -> pipeline text), `stages` (stage key -> run id, see
//! `stages`), `planned` (submission/trial -> the training stage key its coordinator
//! planned, which a bundle's run must claim), `sweeps` (sweep id -> what one `runner run`
//! of it did, see `sweeps`).

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use sled::Transactional;

use super::liveness::this_host;
use super::migrate::migrate;
use super::record::{RunRecord, RunSummary};
use super::run_id::{is_run_id, now_millis};
use crate::bail_input;
use crate::metrics::EpochMetrics;

/// The name of a resume snapshot's folder before its epoch.
const SNAPSHOT_PREFIX: &str = "resume-";

/// How long to wait for another runner process to release the database.
const LOCK_WAIT: Duration = Duration::from_mins(1);

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

    pub(super) fn db_path(&self) -> PathBuf {
        self.root.join("db")
    }

    /// An artifact's file: artifact paths are kept relative to the store root, so a store
    /// can be moved or read from another folder.
    pub fn artifact_path(&self, artifact: &super::Artifact) -> PathBuf {
        self.root.join(&artifact.path)
    }

    /// An artifact's file, to be read: only a file under the store's `checkpoints/`, since
    /// a record read back from the store is not trusted to name one elsewhere (an absolute
    /// path or `..` would have `predict` load any file on the machine).
    pub fn artifact_file(&self, artifact: &super::Artifact) -> Result<PathBuf> {
        let path = Path::new(&artifact.path);
        let mut components = path.components();
        let inside = components.next()
            == Some(std::path::Component::Normal("checkpoints".as_ref()))
            && components.all(|part| matches!(part, std::path::Component::Normal(_)));
        if !inside {
            bail_input!(
                "the store's record names the artifact `{}`, which is not a file under its `checkpoints` folder: the record is damaged",
                artifact.path
            );
        }
        Ok(self.root.join(path))
    }

    /// `path` relative to the store root, for recording an artifact.
    pub fn relative_path(&self, path: &Path) -> String {
        path.strip_prefix(&self.root)
            .unwrap_or(path)
            .display()
            .to_string()
    }

    /// Where stage results too large for the database go (decoded images, features),
    /// each file named by its stage key.
    pub fn cache_dir(&self, stage: &str) -> PathBuf {
        self.root.join("cache").join(stage)
    }

    /// Where the checkpoints of a run go; an error for anything but a run id, so that an
    /// id from a bundle or a record read back never leads outside the store.
    pub fn checkpoint_dir(&self, run_id: &str) -> Result<PathBuf> {
        if !is_run_id(run_id) {
            bail_input!(
                "{run_id:?} is not a run id: refusing to use it as a folder of the store at `{}`",
                self.root.display()
            );
        }
        Ok(self.root.join("checkpoints").join(run_id))
    }

    /// Where the resume snapshot of a run after `epoch` goes, in its checkpoint folder.
    pub fn snapshot_dir(&self, run_id: &str, epoch: usize) -> Result<PathBuf> {
        Ok(self
            .checkpoint_dir(run_id)?
            .join(format!("{SNAPSHOT_PREFIX}{epoch}")))
    }

    /// The complete resume snapshots of a run (its `resume-N/` folders; one still being
    /// written has another name), with their epochs.
    pub fn snapshots(&self, run_id: &str) -> Result<Vec<(usize, PathBuf)>> {
        let Ok(entries) = std::fs::read_dir(self.checkpoint_dir(run_id)?) else {
            return Ok(Vec::new());
        };
        Ok(entries
            .flatten()
            .filter_map(|entry| {
                let name = entry.file_name().to_string_lossy().into_owned();
                let epoch = name.strip_prefix(SNAPSHOT_PREFIX)?.parse().ok()?;
                Some((epoch, entry.path()))
            })
            .collect())
    }

    /// Records a new run and its pipeline text.
    pub fn create_run(&self, record: &RunRecord, spec_text: &str) -> Result<()> {
        self.write(|db| {
            let runs = db.open_tree("runs")?;
            let specs = db.open_tree("specs")?;
            let run_value = serde_json::to_vec(record)?;
            (&runs, &specs)
                .transaction(|(runs, specs)| {
                    runs.insert(record.id.as_bytes(), run_value.as_slice())?;
                    specs.insert(record.spec_hash.as_bytes(), spec_text.as_bytes())?;
                    Ok(())
                })
                .map_err(|err: sled::transaction::TransactionError| anyhow::anyhow!("{err}"))
        })
    }

    /// Records finished runs with their epochs and pipeline texts in one go (imports,
    /// benchmarks): one open of the database instead of one per epoch.
    pub fn import_runs(&self, runs: &[(RunRecord, Vec<EpochMetrics>, String)]) -> Result<()> {
        self.write(|db| {
            let mut run_batch = sled::Batch::default();
            let mut epoch_batch = sled::Batch::default();
            let mut spec_batch = sled::Batch::default();
            for (record, epochs, spec_text) in runs {
                run_batch.insert(record.id.as_bytes(), serde_json::to_vec(record)?);
                spec_batch.insert(record.spec_hash.as_bytes(), spec_text.as_bytes());
                for epoch in epochs {
                    epoch_batch.insert(
                        epoch_key(&record.id, epoch.epoch),
                        serde_json::to_vec(epoch)?,
                    );
                }
            }
            db.open_tree("runs")?.apply_batch(run_batch)?;
            db.open_tree("epochs")?.apply_batch(epoch_batch)?;
            db.open_tree("specs")?.apply_batch(spec_batch)?;
            Ok(())
        })
    }

    /// Replaces a run record.
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
                .map_err(|err: sled::transaction::TransactionError| anyhow::anyhow!("{err}"))
        })
    }

    /// Removes a run's recorded epochs after `last_kept` (a resumed run trains them again).
    pub fn truncate_epochs(&self, run_id: &str, last_kept: usize) -> Result<()> {
        self.write(|db| {
            let epochs = db.open_tree("epochs")?;
            let first_removed = epoch_key(run_id, last_kept + 1);
            let end = epoch_key(run_id, u32::MAX as usize);
            for key in epochs.range(first_removed..=end).keys() {
                epochs.remove(key?)?;
            }
            Ok(())
        })
    }

    /// Refreshes a running run's heartbeat without touching the rest of its record.
    pub fn touch(&self, run_id: &str) -> Result<()> {
        self.update_run(run_id, |record| record.heartbeat_at = now_millis())
    }

    /// Records a file a run produced after it ended (a plot, an export) under `name`.
    pub fn add_artifact(&self, run_id: &str, name: &str, artifact: super::Artifact) -> Result<()> {
        self.update_run(run_id, |record| {
            record.artifacts.insert(name.to_string(), artifact.clone());
        })
    }

    /// Records the highest-loss validation images `runner inspect` found for a run.
    pub fn record_top_losses(&self, run_id: &str, top_losses: &[super::TopLoss]) -> Result<()> {
        self.update_run(run_id, |record| record.top_losses = top_losses.to_vec())
    }

    /// Changes a recorded run in place. A record that does not parse is left as it is
    /// (sled would remove an entry whose update gives nothing), and so is a run the store
    /// does not have.
    pub(super) fn update_run(&self, run_id: &str, change: impl Fn(&mut RunRecord)) -> Result<()> {
        self.write(|db| {
            db.open_tree("runs")?
                .fetch_and_update(run_id.as_bytes(), |value| {
                    let value = value?;
                    let updated = serde_json::from_slice(value).ok().and_then(|mut record| {
                        change(&mut record);
                        serde_json::to_vec(&record).ok()
                    });
                    Some(updated.unwrap_or_else(|| value.to_vec()))
                })?;
            Ok(())
        })
    }

    /// Removes runs with their epochs; their pipeline texts stay while another run uses them.
    pub(super) fn delete_runs(&self, ids: &[String]) -> Result<()> {
        self.write(|db| {
            let runs = db.open_tree("runs")?;
            let epochs = db.open_tree("epochs")?;
            for id in ids {
                runs.remove(id.as_bytes())?;
                for key in epochs.scan_prefix(epoch_prefix(id)).keys() {
                    epochs.remove(key?)?;
                }
            }
            Ok(())
        })
    }

    /// Records `running` runs whose process is gone as interrupted; returns how many.
    pub fn persist_stale_runs(&self) -> Result<usize> {
        if !self.db_path().exists() {
            return Ok(0);
        }
        self.write(|db| {
            let (host, now) = (this_host(), now_millis());
            let runs = db.open_tree("runs")?;
            let mut marked = 0;
            for entry in &runs {
                let (key, value) = entry?;
                let mut run: RunRecord = parse(&key, &value)?;
                let status = run.status;
                run.mark_if_stale(&host, now);
                if run.status != status {
                    runs.insert(key, serde_json::to_vec(&run)?)?;
                    marked += 1;
                }
            }
            Ok(marked)
        })
    }

    /// Every run, oldest first, with stale `running` records shown as interrupted.
    pub fn runs(&self) -> Result<Vec<RunRecord>> {
        self.all_runs(RunRecord::mark_if_stale)
    }

    /// The summary of every run, oldest first; much faster than [`Store::runs`] for many runs.
    pub fn run_summaries(&self) -> Result<Vec<RunSummary>> {
        self.all_runs(RunSummary::mark_if_stale)
    }

    /// Every entry of the `runs` tree parsed as `T`, on all cores: parsing is most of the
    /// time `list` and `compare` take on a large store.
    fn all_runs<T>(&self, mark_if_stale: fn(&mut T, &str, u64)) -> Result<Vec<T>>
    where
        T: serde::de::DeserializeOwned + Send,
    {
        let entries = self.read(|db| {
            let entries: Vec<(sled::IVec, sled::IVec)> =
                db.open_tree("runs")?.iter().collect::<Result<_, _>>()?;
            Ok(entries)
        })?;
        let entries = entries.unwrap_or_default();
        let (host, now) = (this_host(), now_millis());
        let threads = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
        let chunk = entries.len().div_ceil(threads).max(1);
        let parsed: Vec<Result<Vec<T>>> = std::thread::scope(|scope| {
            let workers: Vec<_> = entries
                .chunks(chunk)
                .map(|part| {
                    let host = &host;
                    scope.spawn(move || {
                        part.iter()
                            .map(|(key, value)| {
                                let mut run: T = parse(key, value)?;
                                mark_if_stale(&mut run, host, now);
                                Ok(run)
                            })
                            .collect()
                    })
                })
                .collect();
            workers
                .into_iter()
                .map(|worker| worker.join().expect("parsing threads do not panic"))
                .collect()
        });
        let mut runs = Vec::with_capacity(entries.len());
        for part in parsed {
            runs.extend(part?);
        }
        Ok(runs)
    }

    /// The run with this id, the only run whose id starts with it, or the run `last` or
    /// `last~N` stands for.
    pub fn find_run(&self, id: &str) -> Result<RunRecord> {
        if id.is_empty() {
            bail_input!("an empty run id matches no run (see `runner list`)");
        }
        let relative = self.relative_run_id(id)?;
        let id = relative.as_deref().unwrap_or(id);
        // Only the records whose id starts with `id` are read and parsed.
        let (host, now) = (this_host(), now_millis());
        let mut matches: Vec<RunRecord> = self
            .read(|db| {
                let mut matches = Vec::new();
                for entry in db.open_tree("runs")?.scan_prefix(id.as_bytes()) {
                    let (key, value) = entry?;
                    let mut run: RunRecord = parse(&key, &value)?;
                    run.mark_if_stale(&host, now);
                    matches.push(run);
                }
                Ok(matches)
            })?
            .unwrap_or_default();
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

    /// The run with exactly this id, if the store has it.
    pub(super) fn find_exact(&self, id: &str) -> Result<Option<RunRecord>> {
        let found = self.read(|db| {
            db.open_tree("runs")?
                .get(id.as_bytes())?
                .map(|value| parse(id.as_bytes(), &value))
                .transpose()
        })?;
        Ok(found.flatten())
    }

    /// The recorded epochs of a run, in order.
    pub fn epochs(&self, run_id: &str) -> Result<Vec<EpochMetrics>> {
        Ok(self.histories(&[run_id])?.remove(0))
    }

    /// The recorded epochs of several runs, in order, read in one opening of the database.
    pub fn histories(&self, run_ids: &[&str]) -> Result<Vec<Vec<EpochMetrics>>> {
        self.read(|db| {
            let epochs = db.open_tree("epochs")?;
            run_ids
                .iter()
                .map(|run_id| {
                    epochs
                        .scan_prefix(epoch_prefix(run_id))
                        .map(|entry| {
                            let (key, value) = entry?;
                            parse(&key, &value)
                        })
                        .collect()
                })
                .collect()
        })
        .map(|found| found.unwrap_or_else(|| vec![Vec::new(); run_ids.len()]))
    }

    /// One recorded epoch of each of several runs (`None` where a run lacks it), read in
    /// one opening of the database: the dashboard's page of runs at their best epochs.
    pub fn epochs_of_runs(&self, wanted: &[(&str, usize)]) -> Result<Vec<Option<EpochMetrics>>> {
        self.read(|db| {
            let epochs = db.open_tree("epochs")?;
            wanted
                .iter()
                .map(|(run_id, epoch)| {
                    let key = epoch_key(run_id, *epoch);
                    // An unreadable entry shows as missing: one damaged epoch should not
                    // hide every run listed with it.
                    Ok(epochs.get(&key)?.and_then(|value| parse(&key, &value).ok()))
                })
                .collect()
        })
        .map(|found| found.unwrap_or_else(|| vec![None; wanted.len()]))
    }

    /// The pipeline text a run was started from.
    pub fn spec_text(&self, spec_hash: &str) -> Result<Option<String>> {
        self.read(|db| {
            Ok(db
                .open_tree("specs")?
                .get(spec_hash.as_bytes())?
                .map(|text| String::from_utf8_lossy(&text).into_owned()))
        })
        .map(Option::flatten)
    }

    /// The pipeline `run` was started with, parsed again from the text the store kept, with
    /// what planning decided for it (`precision = "auto"`).
    pub fn run_pipeline(&self, run: &RunRecord) -> Result<crate::spec::Pipeline> {
        let text = self
            .spec_text(&run.spec_hash)?
            .with_context(|| format!("the store has no pipeline text for run {}", run.id))?;
        let mut pipeline = crate::spec::parse_pipeline(Path::new(&run.pipeline_file), text)?;
        // `precision = "auto"` as the run decided it, wherever it is read back.
        if let Some(decided) = run
            .params
            .get("backbone.precision")
            .and_then(|value| serde_json::from_value(value.clone()).ok())
        {
            pipeline.spec.backbone.precision = decided;
        }
        Ok(pipeline)
    }

    pub(super) fn write<T>(&self, work: impl FnOnce(&sled::Db) -> Result<T>) -> Result<T> {
        std::fs::create_dir_all(&self.root)
            .with_context(|| format!("cannot create the store folder `{}`", self.root.display()))?;
        let db = self.open()?;
        let result = work(&db)?;
        db.flush()?;
        Ok(result)
    }

    /// Runs `work` on the database, or returns `None` when there is no store yet.
    pub(super) fn read<T>(&self, work: impl FnOnce(&sled::Db) -> Result<T>) -> Result<Option<T>> {
        if !self.db_path().exists() {
            return Ok(None);
        }
        let db = self.open()?;
        work(&db).map(Some)
    }

    /// Opens the database, waiting while another process holds it, and brings an older
    /// layout up to date.
    fn open(&self) -> Result<sled::Db> {
        let path = self.db_path();
        let started = Instant::now();
        let db = loop {
            match sled::Config::new().path(&path).open() {
                Ok(db) => break db,
                Err(sled::Error::Io(err))
                    if is_lock_contention(&err) && started.elapsed() < LOCK_WAIT =>
                {
                    std::thread::sleep(Duration::from_millis(20));
                }
                Err(sled::Error::Corruption { .. }) if remove_unfinished_snapshots(&path)? => {}
                Err(err) => {
                    return Err(err).with_context(|| {
                        format!("cannot open the run store at `{}`", path.display())
                    });
                }
            }
        };
        migrate(&db, &path)?;
        Ok(db)
    }
}

/// sled 0.34 writes a snapshot as `snap.LSN.generating` and renames it when complete, but
/// reads the last `snap.*` file by name, so a process killed while writing one leaves a
/// file that sorts last and fails its checksum: the database then refuses to open
/// (spacejam/sled#1527). Such a file is never a finished snapshot, and the log it
/// summarizes is still there. Returns whether there was one to remove.
fn remove_unfinished_snapshots(db: &Path) -> Result<bool> {
    let mut removed = false;
    for entry in std::fs::read_dir(db).with_context(|| format!("cannot read `{}`", db.display()))? {
        let path = entry?.path();
        let name = path.file_name().unwrap_or_default().to_string_lossy();
        if name.starts_with("snap.") && name.ends_with(".generating") {
            std::fs::remove_file(&path)
                .with_context(|| format!("cannot remove `{}`", path.display()))?;
            tracing::warn!(
                "removed {}, a snapshot left unfinished by a killed process",
                path.display()
            );
            removed = true;
        }
    }
    Ok(removed)
}

fn is_lock_contention(err: &std::io::Error) -> bool {
    err.kind() == std::io::ErrorKind::WouldBlock || err.to_string().contains("lock")
}

fn epoch_prefix(run_id: &str) -> Vec<u8> {
    let mut prefix = run_id.as_bytes().to_vec();
    prefix.push(b'/');
    prefix
}

fn epoch_key(run_id: &str, epoch: usize) -> Vec<u8> {
    let mut key = epoch_prefix(run_id);
    key.extend_from_slice(&(epoch as u32).to_be_bytes());
    key
}

pub(super) fn parse<T: serde::de::DeserializeOwned>(key: &[u8], value: &[u8]) -> Result<T> {
    serde_json::from_slice(value).with_context(|| {
        format!(
            "the store entry `{}` is not readable",
            String::from_utf8_lossy(key)
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::compare::tests::run;

    #[test]
    fn changing_a_record_it_cannot_read_keeps_it() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::new(dir.path());
        let id = "20261128-183012-456k3mx7q2p";
        store
            .write(|db| Ok(db.open_tree("runs")?.insert(id, &b"{damaged"[..])?))
            .unwrap();
        store.touch(id).unwrap();
        store.join_sweep(id, "sweep").unwrap();
        let kept = store
            .read(|db| Ok(db.open_tree("runs")?.get(id)?))
            .unwrap()
            .flatten();
        assert_eq!(kept.as_deref(), Some(&b"{damaged"[..]));
    }

    #[test]
    fn artifacts_are_read_only_from_the_checkpoints_folder() {
        let store = Store::new(Path::new("/store"));
        let artifact = |path: &str| super::super::Artifact {
            path: path.into(),
            bytes: 0,
            phase: None,
        };
        assert_eq!(
            store
                .artifact_file(&artifact(
                    "checkpoints/20261128-183012-456k3mx7q2p/best.bpk"
                ))
                .unwrap(),
            Path::new("/store/checkpoints/20261128-183012-456k3mx7q2p/best.bpk")
        );
        for hostile in [
            "/etc/passwd",
            "checkpoints/../../etc/passwd",
            "../outside.bpk",
            "db/conf",
            "",
        ] {
            let error = store.artifact_file(&artifact(hostile)).unwrap_err();
            assert!(crate::error::is_input_error(&error), "{hostile}");
        }
    }

    #[test]
    fn a_snapshot_left_unfinished_by_a_killed_process_does_not_lock_the_store_out() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::new(dir.path());
        store
            .create_run(&run("run-a", &[], 0.9, 0.1), "[pipeline]")
            .unwrap();
        let unfinished = store.db_path().join("snap.FFFFFFFFFFFFFFFF.generating");
        std::fs::write(&unfinished, b"the first bytes of a snapshot").unwrap();
        // What sled 0.34 makes of it on its own.
        let refused = sled::Config::new().path(store.db_path()).open();
        assert!(matches!(refused, Err(sled::Error::Corruption { .. })));

        assert_eq!(store.find_run("run-a").unwrap().id, "run-a");
        assert!(!unfinished.exists());
    }
}
