//! A split's manifest: every file with its size, content hash and label. Its key names
//! exactly the data a run saw; a changed, added or removed file changes it.

use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};

use anyhow::{Context, Result};
use sha2::{Digest, Sha256};

use super::ScannedSplit;
use runner_core::plan::digest;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Manifest {
    /// One line per file, in scan order: `class/file<TAB>bytes<TAB>sha256<TAB>label`.
    pub text: String,
    /// SHA-256 of the text.
    pub key: String,
}

impl Manifest {
    /// Reads and hashes every file of the split, on all cores.
    pub fn of(split: &ScannedSplit) -> Result<Self> {
        let hashes = hash_files(split.files.iter().map(|(path, _)| path.as_path()))?;
        let mut text = String::new();
        for ((path, label), (bytes, hash)) in split.files.iter().zip(hashes) {
            let relative = path.strip_prefix(&split.root).unwrap_or(path);
            text.push_str(&format!(
                "{}\t{bytes}\t{hash}\t{label}\n",
                relative.display()
            ));
        }
        let key = digest(&["manifest", &text]);
        Ok(Self { text, key })
    }
}

/// `(size, hex SHA-256)` of each file, in order.
fn hash_files<'a>(paths: impl Iterator<Item = &'a Path>) -> Result<Vec<(u64, String)>> {
    let paths: Vec<&Path> = paths.collect();
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let next = AtomicUsize::new(0);
    let mut hashed: Vec<(usize, Result<(u64, String)>)> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads)
            .map(|_| {
                scope.spawn(|| {
                    let mut out = Vec::new();
                    loop {
                        let index = next.fetch_add(1, Ordering::Relaxed);
                        let Some(path) = paths.get(index) else {
                            break out;
                        };
                        out.push((index, hash_file(path)));
                    }
                })
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|worker| worker.join().expect("hashing threads do not panic"))
            .collect()
    });
    hashed.sort_by_key(|(index, _)| *index);
    hashed.into_iter().map(|(_, hash)| hash).collect()
}

fn hash_file(path: &Path) -> Result<(u64, String)> {
    let bytes = std::fs::read(path).with_context(|| format!("cannot read `{}`", path.display()))?;
    Ok((bytes.len() as u64, format!("{:x}", Sha256::digest(&bytes))))
}
