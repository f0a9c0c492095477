//! Result bundles: a run trained away from the store (a Slurm task, a `--jobs` worker) as
//! a self-contained folder, its record, epochs and pipeline text in `bundle.json` and its
//! checkpoint files in `checkpoints/`, which the process that owns the store ingests. So
//! only one process writes the database, whichever node the trial ran on. A bundle
//! appears whole or not at all: it is written under a hidden name and renamed.
//!
//! Bundles lie in shared folders that anyone with access can write, so each is checked
//! like any input before it is taken in (see [`parse_bundle`] and `check_files`): a bad
//! one is moved into `rejected/` beside it with a warning naming it and the reason, and
//! the others are still taken in. An ingester claims a bundle by renaming it first, so
//! two ingesters never take in the same bundle and neither fails.

use std::path::{Component, Path, PathBuf};

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::db::Store;
use super::record::{RunRecord, RunStatus};
use super::run_id::{is_run_id, new_run_id};
use crate::metrics::EpochMetrics;
use crate::report::escape_text;

const BUNDLE_FILE: &str = "bundle.json";
/// The layout of `bundle.json` this runner writes and reads.
const BUNDLE_FORMAT: u32 = 1;
/// Larger `bundle.json` files are refused unread: a real one holds a record and one line
/// of metrics per epoch.
const MAX_BUNDLE_BYTES: u64 = 64 << 20;
/// Where bad bundles are moved, in the folder they were found in.
pub const REJECTED_FOLDER: &str = "rejected";
/// The prefix of a bundle's name while an ingester holds it.
const CLAIMED_PREFIX: &str = ".claimed-";

/// The store's default shared folder for Slurm tasks.
pub const SLURM_FOLDER: &str = "slurm";

/// Where a sweep's tasks leave their bundles in a shared folder.
pub fn sweep_bundles(shared: &Path, sweep: &str) -> PathBuf {
    shared.join(sweep).join("bundles")
}

#[derive(Debug, Serialize, Deserialize)]
pub struct BundleContents {
    /// Bundles from before the format was versioned have the same layout as version 1.
    #[serde(default = "first_format")]
    format: u32,
    pub record: RunRecord,
    pub epochs: Vec<EpochMetrics>,
    pub spec_text: String,
}

fn first_format() -> u32 {
    1
}

/// Reads and checks `bundle.json` of the bundle in a folder named `name`, in a
/// submission folder named `submission` (the sweep, or `run-ID` for a single run): the
/// format, the run id against the folder name, the pipeline text against its hash, the
/// sweep against the folder, and every artifact as a file of the bundle's `checkpoints/`.
/// A run still recorded as running comes back interrupted: a bundle is only written once
/// its process has stopped training it. The error says what is wrong.
pub fn parse_bundle(name: &str, submission: &str, bytes: &[u8]) -> Result<BundleContents, String> {
    let mut bundle: BundleContents = serde_json::from_slice(bytes)
        .map_err(|err| format!("`{BUNDLE_FILE}` is not readable: {err}"))?;
    let record = &mut bundle.record;
    if bundle.format != BUNDLE_FORMAT {
        return Err(format!(
            "it has format version {}, this runner reads version {BUNDLE_FORMAT}",
            bundle.format
        ));
    }
    if !is_run_id(&record.id) {
        return Err(format!("its run id {:?} is not a run id", record.id));
    }
    if record.id != name {
        return Err(format!(
            "its run id {} is not the name of its folder",
            record.id
        ));
    }
    let hash = format!("{:x}", Sha256::digest(bundle.spec_text.as_bytes()));
    if record.spec_hash != hash {
        return Err(format!(
            "its pipeline text does not have the hash it claims ({:?}, the text's is {hash})",
            record.spec_hash
        ));
    }
    if let Some(sweep) = &record.sweep
        && sweep != submission
    {
        return Err(format!(
            "it claims sweep {sweep:?} but lies in the folder of {submission:?}"
        ));
    }
    if !record.reused_in.is_empty() {
        return Err("it claims to stand for trials of other sweeps (`reused_in`)".into());
    }
    for (artifact_name, artifact) in &record.artifacts {
        checkpoint_file(&record.id, &artifact.path).ok_or_else(|| {
            format!(
                "its artifact {artifact_name:?} is at {:?}, not a file of its run's checkpoint folder",
                artifact.path
            )
        })?;
    }
    if record.status == RunStatus::Running {
        record.status = RunStatus::Interrupted;
        record.reason = Some(
            "its bundle was left while it was still recorded as running: its process stopped without finishing it"
                .into(),
        );
    }
    Ok(bundle)
}

/// The file name of an artifact at `path` when it is `checkpoints/RUN_ID/FILE`, the only
/// place a bundle's files go.
fn checkpoint_file<'a>(run_id: &str, path: &'a str) -> Option<&'a str> {
    let mut components = Path::new(path).components();
    let in_checkpoints = components.next() == Some(Component::Normal("checkpoints".as_ref()))
        && components.next() == Some(Component::Normal(run_id.as_ref()));
    let file = match components.next() {
        Some(Component::Normal(file)) => file.to_str(),
        _ => None,
    };
    // `components` drops `.` and repeated slashes; the text must be exactly the 3 parts.
    let exact = file.is_some_and(|file| path == format!("checkpoints/{run_id}/{file}"));
    (in_checkpoints && components.next().is_none() && exact)
        .then_some(file)
        .flatten()
}

/// Why a bundle is not taken in, or `Ok` with what it holds; the outer `Result` is for
/// failures of the store itself, which leave the bundle where it was.
type Checked<T> = Result<Result<T, String>>;

/// A bundle that passed every check.
struct CheckedBundle {
    contents: BundleContents,
    /// Whether its coordinator planned its trial with the training stage key it claims.
    planned: bool,
}

impl Store {
    /// Moves run `run_id` of this store (a scratch store that held only that run) into a
    /// bundle in `dir`, and returns the bundle's folder.
    pub fn write_bundle(&self, run_id: &str, dir: &Path) -> Result<PathBuf> {
        let record = self.find_run(run_id)?;
        let contents = BundleContents {
            format: BUNDLE_FORMAT,
            epochs: self.epochs(run_id)?,
            spec_text: self.spec_text(&record.spec_hash)?.unwrap_or_default(),
            record,
        };
        let cannot = |what: &str, path: &Path| format!("cannot {what} `{}`", path.display());
        std::fs::create_dir_all(dir).with_context(|| cannot("create the folder", dir))?;
        let partial = dir.join(format!(".{run_id}.partial"));
        if partial.exists() {
            std::fs::remove_dir_all(&partial).with_context(|| cannot("remove", &partial))?;
        }
        std::fs::create_dir(&partial).with_context(|| cannot("create the folder", &partial))?;
        let checkpoints = self.checkpoint_dir(run_id)?;
        if checkpoints.is_dir() {
            move_dir(&checkpoints, &partial.join("checkpoints"))?;
        }
        let file = partial.join(BUNDLE_FILE);
        std::fs::write(&file, serde_json::to_vec(&contents)?)
            .with_context(|| cannot("write", &file))?;
        let bundle = dir.join(run_id);
        std::fs::rename(&partial, &bundle).with_context(|| cannot("rename", &partial))?;
        Ok(bundle)
    }

    /// Copies run `run_id` of this store, paused by successive halving, into `scratch` (a
    /// worker's scratch store) to be trained on there and come back in a bundle: its
    /// record (without the sweeps it stands for, which a bundle may not claim; taking it
    /// back in keeps them), epochs, pipeline text and checkpoint files.
    pub fn lend_paused_run(&self, run_id: &str, scratch: &Store) -> Result<RunRecord> {
        let Some(mut record) = self.find_exact(run_id)? else {
            crate::bail_input!("the store has no run {run_id} to train on");
        };
        if record.status != RunStatus::Pruned {
            crate::bail_input!(
                "run {run_id} is {}, not paused by successive halving",
                record.status.as_str()
            );
        }
        let epochs = self.epochs(run_id)?;
        let spec_text = self.spec_text(&record.spec_hash)?.unwrap_or_default();
        record.reused_in.clear();
        scratch.import_runs(&[(record.clone(), epochs, spec_text)])?;
        let checkpoints = self.checkpoint_dir(run_id)?;
        if checkpoints.is_dir() {
            copy_dir(&checkpoints, &scratch.checkpoint_dir(run_id)?)?;
        }
        Ok(record)
    }

    /// Takes every whole bundle in `dir` into this store (runs, epochs, pipeline texts,
    /// checkpoints; a finished run also as its training stage's result, when that is the
    /// stage planned for its trial) and removes it; moves bad ones into `rejected/`.
    /// Returns the runs taken in, in the order of their bundles' names.
    pub fn ingest_bundles(&self, dir: &Path) -> Result<Vec<RunRecord>> {
        let submission_folder = dir.parent().unwrap_or(dir);
        if ![dir, submission_folder].into_iter().all(is_real_folder) {
            // A link would have this process rename and move files wherever it points.
            if std::fs::symlink_metadata(dir).is_ok() {
                tracing::warn!(
                    "`{}` is not a folder of its own (a link?): its bundles are left alone",
                    shown(dir)
                );
            }
            return Ok(Vec::new());
        }
        let Ok(entries) = std::fs::read_dir(dir) else {
            return Ok(Vec::new());
        };
        let submission = submission_folder
            .file_name()
            .map_or_else(String::new, |name| name.to_string_lossy().into_owned());
        let mut names: Vec<std::ffi::OsString> = entries
            .filter_map(std::result::Result::ok)
            .map(|entry| entry.file_name())
            // Hidden: a bundle still being written, or one another ingester holds.
            .filter(|name| !name.as_encoded_bytes().starts_with(b".") && name != REJECTED_FOLDER)
            .collect();
        names.sort();
        let mut ingested = Vec::new();
        for os_name in names {
            let name = os_name.to_string_lossy().into_owned();
            let mut claimed_name =
                std::ffi::OsString::from(format!("{CLAIMED_PREFIX}{}-", std::process::id()));
            claimed_name.push(&os_name);
            let claimed = dir.join(claimed_name);
            match std::fs::rename(dir.join(&os_name), &claimed) {
                Ok(()) => {}
                // Another ingester claimed it since the folder was listed.
                Err(err) if err.kind() == std::io::ErrorKind::NotFound => continue,
                Err(err) => {
                    tracing::warn!(
                        "cannot take the bundle `{}` in: {err}",
                        shown(&dir.join(&name))
                    );
                    continue;
                }
            }
            match self.ingest_bundle(&claimed, &name, &submission) {
                Ok(Ok(record)) => {
                    ingested.extend(record);
                    // Its run is in: what is left of it is only in the way.
                    if let Err(err) = std::fs::remove_dir_all(&claimed) {
                        tracing::warn!("cannot remove the bundle `{}`: {err}", shown(&claimed));
                    }
                }
                Ok(Err(reason)) => reject(dir, &claimed, &name, &reason)?,
                Err(error) => {
                    // The store failed, not the bundle: leave it for the next ingestion.
                    let _ = std::fs::rename(&claimed, dir.join(&os_name));
                    return Err(error);
                }
            }
        }
        Ok(ingested)
    }

    /// Takes in the bundles of every sweep in a shared folder (see [`sweep_bundles`]).
    pub fn ingest_shared_folder(&self, shared: &Path) -> Result<Vec<RunRecord>> {
        let entries = std::fs::read_dir(shared).map_err(|err| {
            crate::error::input_error(format!("cannot read `{}`: {err}", shared.display()))
        })?;
        let mut runs = Vec::new();
        for entry in entries {
            runs.extend(self.ingest_bundles(&entry?.path().join("bundles"))?);
        }
        Ok(runs)
    }

    /// Takes in the bundle this process claimed at `bundle`, which was named `name`;
    /// `None` when the store has its run already (taken in before, by a process that
    /// stopped before removing the bundle).
    fn ingest_bundle(
        &self,
        bundle: &Path,
        name: &str,
        submission: &str,
    ) -> Checked<Option<RunRecord>> {
        let CheckedBundle { contents, planned } =
            match self.check_bundle(bundle, name, submission)? {
                Ok(checked) => checked,
                Err(reason) => return Ok(Err(reason)),
            };
        let BundleContents {
            mut record,
            epochs,
            spec_text,
            ..
        } = contents;
        let checkpoints = bundle.join("checkpoints");
        let mut continued = false;
        match self.find_exact(&record.id)? {
            Some(stored) if stored.is_same_run(&record) => {
                // Recorded by an ingester that stopped before it moved the checkpoints.
                let folder = self.checkpoint_dir(&record.id)?;
                if checkpoints.is_dir() && !folder.exists() {
                    move_dir(&checkpoints, &folder)?;
                }
                return Ok(Ok(None));
            }
            Some(stored) if record.continues(&stored, &epochs, &self.epochs(&stored.id)?) => {
                // A paused run a worker or task trained on: it replaces what was stored.
                record.reused_in = stored.reused_in;
                continued = true;
            }
            Some(_) => {
                let fresh = new_run_id();
                tracing::warn!(
                    "the store has another run with the id {} of the bundle `{}`: taken in as run {fresh}",
                    record.id,
                    bundle.display()
                );
                record.rename(&fresh);
            }
            None => {}
        }
        // Recorded before the checkpoints move in, so that `gc` never takes them for
        // the folder of a deleted run.
        self.import_runs(&[(record.clone(), epochs, spec_text)])?;
        if checkpoints.is_dir() {
            let folder = self.checkpoint_dir(&record.id)?;
            if continued {
                replace_dir(&checkpoints, &folder)?;
            } else {
                move_dir(&checkpoints, &folder)?;
            }
        }
        if planned
            && matches!(record.status, RunStatus::Finished | RunStatus::StoppedEarly)
            && let Some(key) = record.stages.get("training")
        {
            self.record_stage(key, &record.id)?;
        }
        Ok(Ok(Some(record)))
    }

    /// Every check of a claimed bundle: its file, its contents, its checkpoint files and
    /// the training stage it claims.
    fn check_bundle(&self, bundle: &Path, name: &str, submission: &str) -> Checked<CheckedBundle> {
        let contents = read_bundle_file(bundle)
            .and_then(|bytes| parse_bundle(name, submission, &bytes))
            .and_then(|contents| {
                check_files(&bundle.join("checkpoints"), &contents.record).map(|()| contents)
            });
        let contents = match contents {
            Ok(contents) => contents,
            Err(reason) => return Ok(Err(reason)),
        };
        let record = &contents.record;
        let Some(planned) = self.planned_training(submission, record.trial.unwrap_or(0))? else {
            tracing::warn!(
                "no trial was planned for run {} (trial {} of {}): it is taken in, but not as the result of a training stage",
                record.id,
                record.trial.unwrap_or(0),
                escape_text(submission)
            );
            return Ok(Ok(CheckedBundle {
                contents,
                planned: false,
            }));
        };
        // The key is computed from the data and weights, which only the coordinator
        // hashes, so a bundle's own word for it is not taken.
        match record.stages.get("training") {
            Some(claimed) if *claimed == planned => Ok(Ok(CheckedBundle {
                contents,
                planned: true,
            })),
            claimed => Ok(Err(format!(
                "it claims the training stage {claimed:?}, but its trial was planned as {planned:?}"
            ))),
        }
    }
}

impl RunRecord {
    /// Whether `other` is this run, as recorded by the same process at the same start.
    fn is_same_run(&self, other: &RunRecord) -> bool {
        self.id == other.id
            && self.started_at == other.started_at
            && self.host == other.host
            && self.process == other.process
            && self.spec_hash == other.spec_hash
            && self.trial == other.trial
    }

    /// Whether this record, with `epochs`, is `stored` (with `stored_epochs`), a run paused
    /// by successive halving, trained on since from its snapshot: the same run and
    /// pipeline and training stage, with the history it had and more.
    fn continues(
        &self,
        stored: &RunRecord,
        epochs: &[EpochMetrics],
        stored_epochs: &[EpochMetrics],
    ) -> bool {
        stored.status == RunStatus::Pruned
            && self.id == stored.id
            && self.started_at == stored.started_at
            && self.spec_hash == stored.spec_hash
            && self.trial == stored.trial
            && self.stages == stored.stages
            && epochs.starts_with(stored_epochs)
    }

    /// Gives the run a new id; its artifacts, checked to be in its checkpoint folder,
    /// move with it.
    fn rename(&mut self, id: &str) {
        let old = format!("checkpoints/{}/", self.id);
        for artifact in self.artifacts.values_mut() {
            if let Some(file) = artifact.path.strip_prefix(&old) {
                artifact.path = format!("checkpoints/{id}/{file}");
            }
        }
        self.id = id.to_string();
    }
}

/// `bundle.json` of a claimed bundle: a regular file of sane size inside a real folder.
fn read_bundle_file(bundle: &Path) -> Result<Vec<u8>, String> {
    let meta = std::fs::symlink_metadata(bundle).map_err(|err| err.to_string())?;
    if !meta.is_dir() {
        return Err("it is not a folder".into());
    }
    let file = bundle.join(BUNDLE_FILE);
    let meta = std::fs::symlink_metadata(&file)
        .map_err(|err| format!("cannot read `{BUNDLE_FILE}`: {err}"))?;
    if !meta.is_file() {
        return Err(format!("`{BUNDLE_FILE}` is not a regular file"));
    }
    if meta.len() > MAX_BUNDLE_BYTES {
        return Err(format!(
            "`{BUNDLE_FILE}` has {} bytes, more than a bundle can hold ({MAX_BUNDLE_BYTES})",
            meta.len()
        ));
    }
    std::fs::read(&file).map_err(|err| format!("cannot read `{BUNDLE_FILE}`: {err}"))
}

/// A bundle's `checkpoints/` holds only files and folders (no links, which could lead
/// ingestion and later `gc` outside the store), and every artifact the record lists.
fn check_files(checkpoints: &Path, record: &RunRecord) -> Result<(), String> {
    match std::fs::symlink_metadata(checkpoints) {
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => {}
        Err(err) => return Err(format!("cannot read `checkpoints/`: {err}")),
        Ok(meta) => no_links(checkpoints, &meta)?,
    }
    for (name, artifact) in &record.artifacts {
        let file = checkpoint_file(&record.id, &artifact.path).unwrap_or_default();
        let is_file =
            std::fs::symlink_metadata(checkpoints.join(file)).is_ok_and(|meta| meta.is_file());
        if !is_file {
            return Err(format!(
                "its artifact {name:?} ({}) is not a file in its `checkpoints/`",
                artifact.path
            ));
        }
    }
    Ok(())
}

fn no_links(path: &Path, meta: &std::fs::Metadata) -> Result<(), String> {
    if meta.is_file() {
        return Ok(());
    }
    if !meta.is_dir() {
        return Err(format!(
            "`{}` is a link or a special file, not a file or folder",
            path.display()
        ));
    }
    let unreadable = |err: std::io::Error| format!("cannot read `{}`: {err}", path.display());
    for entry in std::fs::read_dir(path).map_err(unreadable)? {
        let entry = entry.map_err(unreadable)?;
        let meta = std::fs::symlink_metadata(entry.path()).map_err(unreadable)?;
        no_links(&entry.path(), &meta)?;
    }
    Ok(())
}

/// Moves the claimed bundle into `rejected/` beside it, under its own name (numbered when
/// taken), and says so. When `rejected` is not a real folder (a planted link), the bundle
/// stays beside it under a hidden `.rejected-` name, which ingestion skips.
fn reject(dir: &Path, claimed: &Path, name: &str, reason: &str) -> Result<()> {
    let rejected = dir.join(REJECTED_FOLDER);
    let _ = std::fs::create_dir(&rejected);
    let (folder, prefix) = if is_real_folder(&rejected) {
        (rejected, "")
    } else {
        (dir.to_path_buf(), ".rejected-")
    };
    let mut target = folder.join(format!("{prefix}{name}"));
    let mut copy = 1;
    while std::fs::symlink_metadata(&target).is_ok() {
        target = folder.join(format!("{prefix}{name}.{copy}"));
        copy += 1;
    }
    std::fs::rename(claimed, &target)
        .with_context(|| format!("cannot move `{}` aside", claimed.display()))?;
    // Folder names in a shared folder are anyone's: shown escaped.
    tracing::warn!(
        "rejected the bundle `{}`: {}; moved to `{}`",
        shown(&dir.join(name)),
        escape_text(reason),
        shown(&target)
    );
    Ok(())
}

fn is_real_folder(path: &Path) -> bool {
    std::fs::symlink_metadata(path).is_ok_and(|meta| meta.is_dir())
}

fn shown(path: &Path) -> String {
    escape_text(&path.display().to_string())
}

/// Moves a folder, copying it when `to` is on another file system (node-local scratch
/// space to a shared folder).
fn move_dir(from: &Path, to: &Path) -> Result<()> {
    if let Some(parent) = to.parent() {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("cannot create the folder `{}`", parent.display()))?;
    }
    if std::fs::rename(from, to).is_ok() {
        return Ok(());
    }
    copy_dir(from, to)?;
    std::fs::remove_dir_all(from).with_context(|| format!("cannot remove `{}`", from.display()))
}

/// Puts the folder `from` in the place of the folder `to`: moved in beside it first, so
/// that `to` is whole at every moment but an instant between two renames.
fn replace_dir(from: &Path, to: &Path) -> Result<()> {
    let name = to.file_name().unwrap_or_default().to_string_lossy();
    let incoming = to.with_file_name(format!(".{name}.incoming"));
    let replaced = to.with_file_name(format!(".{name}.replaced"));
    for leftover in [&incoming, &replaced] {
        if leftover.exists() {
            std::fs::remove_dir_all(leftover)
                .with_context(|| format!("cannot remove `{}`", leftover.display()))?;
        }
    }
    move_dir(from, &incoming)?;
    if to.exists() {
        std::fs::rename(to, &replaced)
            .with_context(|| format!("cannot rename `{}`", to.display()))?;
    }
    std::fs::rename(&incoming, to)
        .with_context(|| format!("cannot rename `{}`", incoming.display()))?;
    if replaced.exists() {
        std::fs::remove_dir_all(&replaced)
            .with_context(|| format!("cannot remove `{}`", replaced.display()))?;
    }
    Ok(())
}

/// Copies files and folders; a link is refused rather than followed. A file is linked
/// rather than copied where the file system allows: the store never writes a file in
/// place (every one is written under another name and renamed), so a link is as good as
/// a copy, and a checkpoint may be gigabytes.
fn copy_dir(from: &Path, to: &Path) -> Result<()> {
    std::fs::create_dir_all(to)
        .with_context(|| format!("cannot create the folder `{}`", to.display()))?;
    for entry in
        std::fs::read_dir(from).with_context(|| format!("cannot read `{}`", from.display()))?
    {
        let entry = entry?;
        let target = to.join(entry.file_name());
        let kind = entry.file_type()?;
        if kind.is_dir() {
            copy_dir(&entry.path(), &target)?;
        } else if kind.is_file() {
            if std::fs::hard_link(entry.path(), &target).is_ok() {
                continue;
            }
            std::fs::copy(entry.path(), &target).with_context(|| {
                format!(
                    "cannot copy `{}` to `{}`",
                    entry.path().display(),
                    target.display()
                )
            })?;
        } else {
            anyhow::bail!("`{}` is not a file or a folder", entry.path().display());
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::compare::tests::run;

    const SPEC: &str = "[pipeline]\nname = \"p\"\n";
    const ID: &str = "20261130-051500-123abcdefgh";
    const OTHER: &str = "20261130-051500-456abcdefgh";

    /// A finished trial 0 of sweep `sweep-a`, trained under stage key `key-ID`, with a
    /// `best` checkpoint.
    fn record(id: &str) -> RunRecord {
        let mut record = run(id, &[], 0.9, 0.1);
        record.spec_hash = format!("{:x}", Sha256::digest(SPEC.as_bytes()));
        record.sweep = Some("sweep-a".into());
        record.trial = Some(0);
        record.stages.insert("training".into(), format!("key-{id}"));
        record.artifacts.insert(
            "best".into(),
            super::super::Artifact {
                path: format!("checkpoints/{id}/best.bpk"),
                bytes: 7,
                phase: Some(0),
            },
        );
        record
    }

    /// A test folder: a store, the bundles folder of `sweep-a` in its `workers/`, and a
    /// sentinel folder beside the store that nothing may touch.
    struct Setup {
        dir: tempfile::TempDir,
        store: Store,
        bundles: PathBuf,
    }

    impl Setup {
        fn new() -> Self {
            let dir = tempfile::tempdir().unwrap();
            let store = Store::new(dir.path().join("store"));
            let bundles = sweep_bundles(&dir.path().join("store/workers"), "sweep-a");
            std::fs::create_dir_all(&bundles).unwrap();
            let sentinel = dir.path().join("outside");
            std::fs::create_dir_all(sentinel.join("checkpoints")).unwrap();
            std::fs::write(sentinel.join("keep.partial"), b"keep").unwrap();
            std::fs::write(sentinel.join("checkpoints/best.bpk"), b"keep").unwrap();
            Self {
                dir,
                store,
                bundles,
            }
        }

        fn outside(&self) -> PathBuf {
            self.dir.path().join("outside")
        }

        /// The runs taken in from the bundles folder.
        fn ingest(&self) -> Vec<RunRecord> {
            self.store.ingest_bundles(&self.bundles).unwrap()
        }

        /// Every file beside the store, with its contents.
        fn sentinel(&self) -> Vec<(PathBuf, Vec<u8>)> {
            let mut files = Vec::new();
            let mut folders = vec![self.outside()];
            while let Some(folder) = folders.pop() {
                for entry in std::fs::read_dir(&folder).unwrap().flatten() {
                    let path = entry.path();
                    if path.is_dir() {
                        folders.push(path);
                    } else {
                        files.push((path.clone(), std::fs::read(&path).unwrap()));
                    }
                }
            }
            files.sort();
            files
        }

        /// A bundle folder `name` holding `contents` as its `bundle.json` and a
        /// `checkpoints/best.bpk`.
        fn bundle(&self, name: &str, contents: &serde_json::Value) -> PathBuf {
            let folder = self.bundles.join(name);
            std::fs::create_dir_all(folder.join("checkpoints")).unwrap();
            std::fs::write(folder.join("checkpoints/best.bpk"), b"weights").unwrap();
            std::fs::write(folder.join(BUNDLE_FILE), contents.to_string()).unwrap();
            folder
        }

        fn good_bundle(&self, record: &RunRecord) -> PathBuf {
            self.bundle(&record.id, &contents(record))
        }

        fn rejected(&self) -> Vec<String> {
            let Ok(entries) = std::fs::read_dir(self.bundles.join(REJECTED_FOLDER)) else {
                return Vec::new();
            };
            let mut names: Vec<String> = entries
                .flatten()
                .map(|entry| entry.file_name().to_string_lossy().into_owned())
                .collect();
            names.sort();
            names
        }

        fn run_ids(&self) -> Vec<String> {
            self.store
                .runs()
                .unwrap()
                .into_iter()
                .map(|run| run.id)
                .collect()
        }
    }

    fn contents(record: &RunRecord) -> serde_json::Value {
        serde_json::json!({ "format": 1, "record": record, "epochs": [], "spec_text": SPEC })
    }

    #[test]
    fn a_bundle_moves_a_run_with_its_checkpoints_into_the_store_once() {
        let setup = Setup::new();
        let scratch = Store::new(setup.dir.path().join("scratch"));
        let record = record(ID);
        scratch.create_run(&record, SPEC).unwrap();
        let checkpoints = scratch.checkpoint_dir(ID).unwrap();
        std::fs::create_dir_all(&checkpoints).unwrap();
        std::fs::write(checkpoints.join("best.bpk"), b"weights").unwrap();
        let bundle = scratch.write_bundle(ID, &setup.bundles).unwrap();
        assert!(bundle.join(BUNDLE_FILE).is_file());
        assert!(!checkpoints.exists());
        // A bundle still being written is left alone.
        std::fs::create_dir_all(setup.bundles.join(format!(".{OTHER}.partial"))).unwrap();

        let store = &setup.store;
        store
            .plan_trials("sweep-a", [(0, format!("key-{ID}").as_str())])
            .unwrap();
        let ingested = store.ingest_bundles(&setup.bundles).unwrap();
        assert_eq!(ingested.len(), 1);
        assert_eq!(store.find_run(ID).unwrap().id, ID);
        let checkpoint = store.checkpoint_dir(ID).unwrap().join("best.bpk");
        assert_eq!(std::fs::read(checkpoint).unwrap(), b"weights");
        assert_eq!(
            store.spec_text(&ingested[0].spec_hash).unwrap().unwrap(),
            SPEC
        );
        // The finished run now answers for the training stage planned for its trial.
        let trained = store.run_for_stage(&format!("key-{ID}")).unwrap();
        assert_eq!(trained.unwrap().id, ID);
        assert!(!bundle.exists());
        assert!(setup.bundles.join(format!(".{OTHER}.partial")).exists());
        assert!(store.ingest_bundles(&setup.bundles).unwrap().is_empty());
        assert!(setup.rejected().is_empty());
    }

    #[test]
    fn bundles_whose_id_is_a_path_are_rejected_and_nothing_outside_changes() {
        let setup = Setup::new();
        let before = setup.sentinel();
        let outside = setup.outside().display().to_string();
        let hostile = ["../../outside", &outside, "..", "", ".", "../x/../.."];
        for (index, id) in hostile.iter().enumerate() {
            let mut record = record(ID);
            record.id = id.to_string();
            record.artifacts.clear();
            // Named by its id where that is a name, else by a harmless one.
            let name = if id.contains('/') || id.starts_with('.') || id.is_empty() {
                format!("bundle{index}")
            } else {
                id.to_string()
            };
            setup.bundle(&name, &contents(&record));
        }
        let good = record(OTHER);
        setup.good_bundle(&good);

        let ingested = setup.ingest();
        assert_eq!(ingested.len(), 1);
        assert_eq!(setup.run_ids(), [OTHER]);
        assert_eq!(
            setup.rejected().len(),
            hostile.len(),
            "{:?}",
            setup.rejected()
        );
        assert_eq!(setup.sentinel(), before);
        let store_root = setup.store.root();
        assert!(
            store_root
                .join("checkpoints")
                .join(OTHER)
                .join("best.bpk")
                .is_file()
        );
    }

    #[test]
    fn a_bundle_not_named_by_its_run_id_is_rejected() {
        let setup = Setup::new();
        setup.bundle(OTHER, &contents(&record(ID)));
        assert!(setup.ingest().is_empty());
        assert_eq!(setup.rejected(), [OTHER]);
        assert!(setup.run_ids().is_empty());
    }

    #[test]
    fn a_bundle_with_a_linked_checkpoint_folder_is_rejected() {
        let setup = Setup::new();
        let before = setup.sentinel();
        let bundle = setup.good_bundle(&record(ID));
        std::fs::remove_dir_all(bundle.join("checkpoints")).unwrap();
        std::os::unix::fs::symlink(setup.outside(), bundle.join("checkpoints")).unwrap();
        assert!(setup.ingest().is_empty());
        assert_eq!(setup.rejected(), [ID]);
        // Nothing made the store's folder for the run a link to the outside.
        assert!(!setup.store.root().join("checkpoints").join(ID).exists());
        assert_eq!(setup.sentinel(), before);
    }

    #[test]
    fn a_bundle_with_a_linked_file_inside_its_checkpoints_is_rejected() {
        let setup = Setup::new();
        let bundle = setup.good_bundle(&record(ID));
        std::os::unix::fs::symlink(
            setup.outside().join("keep.partial"),
            bundle.join("checkpoints/last.bpk.partial"),
        )
        .unwrap();
        assert!(setup.ingest().is_empty());
        assert_eq!(setup.rejected(), [ID]);
    }

    #[test]
    fn artifacts_outside_the_bundle_are_rejected() {
        let setup = Setup::new();
        let outside = setup.outside().join("checkpoints/best.bpk");
        for (id, path) in [
            (ID, outside.display().to_string()),
            (
                OTHER,
                format!("checkpoints/{OTHER}/../../../outside/checkpoints/best.bpk"),
            ),
            (
                "20261130-051500-789abcdefgh",
                "checkpoints/20261130-051500-123abcdefgh/best.bpk".into(),
            ),
        ] {
            let mut record = record(id);
            record.artifacts.get_mut("best").unwrap().path = path;
            setup.good_bundle(&record);
        }
        assert!(setup.ingest().is_empty());
        assert_eq!(setup.rejected().len(), 3);
    }

    #[test]
    fn a_bundle_cannot_replace_another_runs_pipeline_text() {
        let setup = Setup::new();
        let stored = record(ID);
        setup.store.create_run(&stored, SPEC).unwrap();
        // Claims the stored text's hash for a text of its own.
        let mut contents = contents(&record(OTHER));
        contents["spec_text"] = "[pipeline]\nname = \"replaced\"\n".into();
        setup.bundle(OTHER, &contents);
        assert!(setup.ingest().is_empty());
        assert_eq!(setup.rejected(), [OTHER]);
        assert_eq!(
            setup.store.spec_text(&stored.spec_hash).unwrap().unwrap(),
            SPEC
        );
    }

    #[test]
    fn a_bundle_claiming_to_be_running_comes_in_interrupted() {
        let setup = Setup::new();
        let mut running = record(ID);
        running.status = RunStatus::Running;
        running.host = super::super::this_host();
        setup.good_bundle(&running);
        let ingested = setup.ingest();
        assert_eq!(ingested[0].status, RunStatus::Interrupted);
        let stored = setup.store.find_run(ID).unwrap();
        assert_eq!(stored.status, RunStatus::Interrupted);
        assert!(stored.reason.unwrap().contains("still recorded as running"));
    }

    #[test]
    fn an_unreadable_bundle_is_moved_aside_and_the_next_one_taken_in() {
        let setup = Setup::new();
        // Sorted first, so a failure on it would stop the good one.
        let broken = setup.bundles.join("20261130-051500-000abcdefgh");
        std::fs::create_dir_all(&broken).unwrap();
        std::fs::write(broken.join(BUNDLE_FILE), b"{\"record\": ").unwrap();
        let empty = setup.bundles.join("20261130-051500-001abcdefgh");
        std::fs::create_dir_all(&empty).unwrap();
        std::fs::write(setup.bundles.join("stray-file"), b"x").unwrap();
        setup.good_bundle(&record(ID));
        let ingested = setup.ingest();
        assert_eq!(ingested.len(), 1);
        assert_eq!(
            setup.rejected(),
            [
                "20261130-051500-000abcdefgh",
                "20261130-051500-001abcdefgh",
                "stray-file"
            ]
        );
        // Once aside, they no longer stand in the way.
        assert!(setup.ingest().is_empty());
    }

    #[test]
    fn a_newer_bundle_format_is_rejected() {
        let setup = Setup::new();
        let mut contents = contents(&record(ID));
        contents["format"] = 2.into();
        setup.bundle(ID, &contents);
        assert!(setup.ingest().is_empty());
        assert_eq!(setup.rejected(), [ID]);
    }

    #[test]
    fn two_ingesters_at_once_take_every_bundle_in_exactly_once() {
        let setup = Setup::new();
        let ids: Vec<String> = (0..12)
            .map(|n| format!("20261130-051500-{n:03}abcdefgh"))
            .collect();
        for id in &ids {
            setup.good_bundle(&record(id));
        }
        let root = setup.store.root().to_path_buf();
        let taken: Vec<Vec<RunRecord>> = std::thread::scope(|scope| {
            let ingesters: Vec<_> = (0..2)
                .map(|_| {
                    let (root, bundles) = (&root, &setup.bundles);
                    scope.spawn(move || Store::new(root).ingest_bundles(bundles).unwrap())
                })
                .collect();
            ingesters.into_iter().map(|i| i.join().unwrap()).collect()
        });
        let mut all: Vec<String> = taken.concat().into_iter().map(|run| run.id).collect();
        all.sort();
        assert_eq!(all, ids);
        assert_eq!(setup.run_ids(), ids);
        assert!(setup.rejected().is_empty());
    }

    #[test]
    fn a_colliding_id_from_another_run_keeps_both_results() {
        let setup = Setup::new();
        let stored = record(ID);
        setup.store.create_run(&stored, SPEC).unwrap();
        let mut other = record(ID);
        other.process.pid = 4242;
        setup.good_bundle(&other);
        let ingested = setup.ingest();
        assert_eq!(ingested.len(), 1);
        let fresh = &ingested[0];
        assert_ne!(fresh.id, ID);
        assert!(is_run_id(&fresh.id));
        assert_eq!(
            fresh.artifacts["best"].path,
            format!("checkpoints/{}/best.bpk", fresh.id)
        );
        assert!(
            setup
                .store
                .artifact_path(&fresh.artifacts["best"])
                .is_file()
        );
        assert_eq!(setup.run_ids().len(), 2);
        assert_eq!(setup.store.find_run(ID).unwrap(), stored);
    }

    #[test]
    fn the_same_run_taken_in_twice_is_recorded_once() {
        let setup = Setup::new();
        let stored = record(ID);
        setup.store.create_run(&stored, SPEC).unwrap();
        setup.good_bundle(&stored);
        assert!(setup.ingest().is_empty());
        assert_eq!(setup.run_ids(), [ID]);
        // Its checkpoints were still in the bundle: they move in.
        assert!(
            setup
                .store
                .checkpoint_dir(ID)
                .unwrap()
                .join("best.bpk")
                .is_file()
        );
        assert!(setup.rejected().is_empty());
    }

    #[test]
    fn a_bundle_claims_only_the_training_stage_its_trial_was_planned_with() {
        let setup = Setup::new();
        let store = &setup.store;
        // Claims another configuration's stage: refused.
        store.plan_trials("sweep-a", [(0, "planned-key")]).unwrap();
        let mut lying = record(ID);
        lying
            .stages
            .insert("training".into(), "someone-elses-key".into());
        setup.good_bundle(&lying);
        assert!(store.ingest_bundles(&setup.bundles).unwrap().is_empty());
        assert_eq!(setup.rejected(), [ID]);
        assert!(store.run_for_stage("someone-elses-key").unwrap().is_none());

        // No trial planned for it: the run comes in, but answers for no stage.
        let mut unplanned = record(OTHER);
        unplanned.trial = Some(7);
        setup.good_bundle(&unplanned);
        assert_eq!(store.ingest_bundles(&setup.bundles).unwrap().len(), 1);
        assert!(
            store
                .run_for_stage(&format!("key-{OTHER}"))
                .unwrap()
                .is_none()
        );
    }

    #[test]
    fn a_bundle_cannot_join_another_sweep() {
        let setup = Setup::new();
        let mut record = record(ID);
        record.sweep = Some("sweep-b".into());
        setup.good_bundle(&record);
        assert!(setup.ingest().is_empty());
        assert_eq!(setup.rejected(), [ID]);
    }

    #[test]
    fn a_bundles_folder_that_is_a_link_is_left_alone() {
        let setup = Setup::new();
        let before = setup.sentinel();
        // What is outside looks like bundles: ingestion must not rename or move it.
        std::fs::create_dir_all(setup.outside().join(ID)).unwrap();
        let shared = setup.dir.path().join("shared");
        std::fs::create_dir_all(shared.join("sweep-a")).unwrap();
        std::os::unix::fs::symlink(setup.outside(), shared.join("sweep-a/bundles")).unwrap();
        std::os::unix::fs::symlink(setup.outside(), shared.join("sweep-b")).unwrap();
        assert!(
            setup
                .store
                .ingest_shared_folder(&shared)
                .unwrap()
                .is_empty()
        );
        assert_eq!(setup.sentinel(), before);
        assert!(setup.outside().join(ID).is_dir());
    }

    #[test]
    fn a_rejected_folder_that_is_a_link_is_not_written_through() {
        let setup = Setup::new();
        let before = setup.sentinel();
        std::os::unix::fs::symlink(setup.outside(), setup.bundles.join(REJECTED_FOLDER)).unwrap();
        setup.bundle(OTHER, &contents(&record(ID)));
        assert!(setup.ingest().is_empty());
        assert_eq!(setup.sentinel(), before);
        assert!(setup.bundles.join(format!(".rejected-{OTHER}")).is_dir());
    }

    #[test]
    fn artifact_paths_are_checkpoint_files_of_the_run() {
        assert_eq!(
            checkpoint_file(ID, &format!("checkpoints/{ID}/best.bpk")),
            Some("best.bpk")
        );
        for path in [
            format!("checkpoints/{ID}"),
            format!("checkpoints/{ID}/a/b"),
            format!("checkpoints/{ID}/../x"),
            format!("checkpoints/{ID}/./best.bpk"),
            format!("checkpoints//{ID}/best.bpk"),
            format!("/checkpoints/{ID}/best.bpk"),
            format!("checkpoints/{OTHER}/best.bpk"),
            "/etc/passwd".into(),
            String::new(),
        ] {
            assert_eq!(checkpoint_file(ID, &path), None, "{path}");
        }
    }
}
