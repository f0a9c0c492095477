//! The on-disk form of a cached stage result: a magic line naming the kind, a JSON
//! header, and a raw little-endian payload. Written to a temporary name and renamed, so a
//! reader never sees half a file; a file that does not parse is treated as missing.

use std::io::{BufWriter, Read, Write};
use std::path::Path;

use anyhow::{Context, Result};
use serde::Serialize;
use serde::de::DeserializeOwned;

/// Writes `header` and `payload` to `path` atomically.
pub fn write_cached<H: Serialize>(
    path: &Path,
    magic: &str,
    header: &H,
    payload: &[u8],
) -> Result<()> {
    let folder = path.parent().expect("cache files live in a folder");
    std::fs::create_dir_all(folder)
        .with_context(|| format!("cannot create the cache folder `{}`", folder.display()))?;
    // Another process may be writing the same result: each writes its own partial file.
    let partial = path.with_extension(format!("{}.partial", std::process::id()));
    let header = serde_json::to_vec(header)?;
    let write = || -> std::io::Result<()> {
        let mut out = BufWriter::new(std::fs::File::create(&partial)?);
        writeln!(out, "{magic}")?;
        out.write_all(&(header.len() as u64).to_le_bytes())?;
        out.write_all(&header)?;
        out.write_all(payload)?;
        out.into_inner()?.sync_data()
    };
    write().with_context(|| format!("cannot write the cache file `{}`", partial.display()))?;
    std::fs::rename(&partial, path)
        .with_context(|| format!("cannot move the cache file to `{}`", path.display()))
}

/// Reads a file written by [`write_cached`] with the same magic, or `None` when it is
/// missing or not readable (logged; the stage is then computed again).
pub fn read_cached<H: DeserializeOwned>(path: &Path, magic: &str) -> Option<(H, Vec<u8>)> {
    let mut file = std::fs::File::open(path).ok()?;
    let parsed = (|| -> Result<(H, Vec<u8>)> {
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes)?;
        let rest = bytes
            .strip_prefix(magic.as_bytes())
            .and_then(|rest| rest.strip_prefix(b"\n"))
            .context("wrong kind of file")?;
        let (length, rest) = rest.split_at_checked(8).context("truncated header")?;
        let length = u64::from_le_bytes(length.try_into()?) as usize;
        let (header, payload) = rest.split_at_checked(length).context("truncated header")?;
        let header = serde_json::from_slice(header)?;
        let offset = bytes.len() - payload.len();
        bytes.drain(..offset);
        Ok((header, bytes))
    })();
    match parsed {
        Ok(parsed) => Some(parsed),
        Err(error) => {
            tracing::warn!(
                "ignoring the unreadable cache file `{}` ({error:#}); computing it again",
                path.display()
            );
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_rejects_other_kinds_and_truncation() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub").join("key.bin");
        write_cached(&path, "TEST-1", &vec![1u32, 2], &[7, 8, 9]).unwrap();
        let (header, payload): (Vec<u32>, Vec<u8>) = read_cached(&path, "TEST-1").unwrap();
        assert_eq!((header, payload), (vec![1, 2], vec![7, 8, 9]));
        assert!(read_cached::<Vec<u32>>(&path, "OTHER-1").is_none());
        assert_eq!(
            std::fs::read_dir(dir.path().join("sub")).unwrap().count(),
            1
        );

        let bytes = std::fs::read(&path).unwrap();
        std::fs::write(&path, &bytes[..10]).unwrap();
        assert!(read_cached::<Vec<u32>>(&path, "TEST-1").is_none());
    }
}
