//! The images a run page shows: its highest-loss validation images. A request names an
//! image by its place in the run's recorded list, never by path, and the file is served
//! only if the run's manifests (what it saw, file by file, under its dataset folders) list
//! it with the size and SHA-256 the file has now. The store is not trusted: a record
//! edited to name another file would also need that file's hash, that is, its content.

use std::io::Read;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use super::api::{ApiError, ApiResult, find_run};
use crate::store::{RunRecord, Store};

/// Larger files are not images a dataset holds; reading them would only cost memory.
const MAX_IMAGE_BYTES: u64 = 64 << 20;

pub struct Image {
    pub bytes: Vec<u8>,
    pub content_type: &'static str,
}

/// `GET /api/runs/ID/top_losses/N`: the file of the run's `N`th highest-loss image.
pub fn top_loss_image(store: &Store, id: &str, index: usize) -> ApiResult<Image> {
    let run = find_run(store, id)?;
    let Some(top_loss) = run.top_losses.get(index) else {
        return Err(ApiError::not_found(format!(
            "run {} has {} recorded highest-loss images, not {}",
            run.id,
            run.top_losses.len(),
            index + 1
        )));
    };
    let image = Path::new(&top_loss.image);
    let refused = |why: &str| {
        ApiError::not_found(format!("run {}'s image `{}` {why}", run.id, top_loss.image))
    };
    let listed = listed_as(store, &run, image)
        .ok_or_else(|| refused("is not a file of its datasets' manifests"))?;
    let image = read_image(image)?;
    if image.bytes.len() as u64 != listed.0
        || format!("{:x}", Sha256::digest(&image.bytes)) != listed.1
    {
        return Err(refused("has changed since the run read it"));
    }
    Ok(image)
}

/// The size and SHA-256 the run's manifests give `image`, a file of one of its pipeline's
/// dataset folders (a manifest lists files relative to their split's folder).
fn listed_as(store: &Store, run: &RunRecord, image: &Path) -> Option<(u64, String)> {
    let pipeline = store.run_pipeline(run).ok()?;
    let data = &pipeline.spec.data;
    let roots: Vec<PathBuf> = [&data.train, &data.validation, &data.test]
        .into_iter()
        .flatten()
        .cloned()
        .chain(
            [&data.train_csv, &data.validation_csv, &data.test_csv]
                .into_iter()
                .flatten()
                .filter_map(|csv| csv.parent().map(Path::to_path_buf)),
        )
        .collect();
    run.stages
        .iter()
        .filter(|(stage, _)| stage.starts_with("manifest."))
        .filter_map(|(_, key)| store.manifest_files(key))
        .flatten()
        .find(|(path, _, _)| roots.iter().any(|root| root.join(path) == image))
        .map(|(_, size, hash)| (size, hash))
}

fn read_image(file: &Path) -> ApiResult<Image> {
    let unreadable =
        |reason: String| ApiError::not_found(format!("the image `{}` {reason}", file.display()));
    // A FIFO or a device would block or never end.
    if !std::fs::metadata(file).is_ok_and(|metadata| metadata.is_file()) {
        return Err(unreadable("is not a file".into()));
    }
    let handle =
        std::fs::File::open(file).map_err(|err| unreadable(format!("cannot be read: {err}")))?;
    let mut bytes = Vec::new();
    handle
        .take(MAX_IMAGE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|err| unreadable(format!("cannot be read: {err}")))?;
    if bytes.len() as u64 > MAX_IMAGE_BYTES {
        return Err(unreadable(format!(
            "is larger than {} MB",
            MAX_IMAGE_BYTES >> 20
        )));
    }
    let content_type = image_type(&bytes)
        .ok_or_else(|| unreadable("is not a JPEG, PNG, GIF, WebP or BMP image".into()))?;
    Ok(Image {
        bytes,
        content_type,
    })
}

/// The media type of an image by its first bytes, as browsers sniff it; the file's name is
/// not trusted.
fn image_type(bytes: &[u8]) -> Option<&'static str> {
    match bytes {
        [0xff, 0xd8, 0xff, ..] => Some("image/jpeg"),
        [0x89, b'P', b'N', b'G', ..] => Some("image/png"),
        [b'G', b'I', b'F', b'8', ..] => Some("image/gif"),
        [
            b'R',
            b'I',
            b'F',
            b'F',
            _,
            _,
            _,
            _,
            b'W',
            b'E',
            b'B',
            b'P',
            ..,
        ] => Some("image/webp"),
        [b'B', b'M', ..] => Some("image/bmp"),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn images_are_told_by_their_first_bytes() {
        assert_eq!(image_type(b"\xff\xd8\xff\xe0"), Some("image/jpeg"));
        assert_eq!(image_type(b"\x89PNG\r\n"), Some("image/png"));
        assert_eq!(image_type(b"<svg onload=alert(1)>"), None);
    }
}
