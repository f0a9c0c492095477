//! A split's manifest: every file with its size, content hash and label. Its key names
//! exactly the data a run saw; a changed, added or removed file changes it.

use std::path::Path;

use anyhow::{Context, Result};
use sha2::{Digest, Sha256};

use super::ScannedSplit;
use super::parallel::map_in_parallel;
use runner_core::plan::digest;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Manifest {
    /// One line per file, in scan order: `class/file<TAB>bytes<TAB>sha256<TAB>label`.
    pub text: String,
    /// SHA-256 of the text.
    pub key: String,
    /// Each file's SHA-256, in scan order.
    pub hashes: Vec<String>,
}

impl Manifest {
    /// Reads and hashes every file of the split, on all cores.
    pub fn of(split: &ScannedSplit) -> Result<Self> {
        let hashes = map_in_parallel(&split.files, |(path, _)| hash_file(path))
            .into_iter()
            .collect::<Result<Vec<_>>>()?;
        let mut text = String::new();
        for ((path, label), (bytes, hash)) in split.files.iter().zip(&hashes) {
            let relative = path.strip_prefix(&split.root).unwrap_or(path);
            text.push_str(&format!(
                "{}\t{bytes}\t{hash}\t{label}\n",
                relative.display()
            ));
        }
        let key = digest(&["manifest", &text]);
        Ok(Self {
            text,
            key,
            hashes: hashes.into_iter().map(|(_, hash)| hash).collect(),
        })
    }
}

/// The file's size and SHA-256, read in pieces: a huge file in a class folder is skipped
/// when it is decoded, and hashing it must not hold it in memory first.
fn hash_file(path: &Path) -> Result<(u64, String)> {
    let mut file =
        std::fs::File::open(path).with_context(|| format!("cannot read `{}`", path.display()))?;
    let mut hasher = Sha256::new();
    let bytes = std::io::copy(&mut file, &mut hasher)
        .with_context(|| format!("cannot read `{}`", path.display()))?;
    Ok((bytes, format!("{:x}", hasher.finalize())))
}
