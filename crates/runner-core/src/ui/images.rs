//! The images a run page shows: its highest-loss validation images. A request names an
//! image by its place in the run's recorded list, never by path, and the file is served
//! only if it lies inside one of the dataset folders the run's pipeline names: a record
//! read back from the store is not trusted to name a file elsewhere on the machine.

use std::io::Read;
use std::path::{Path, PathBuf};

use super::api::{ApiError, ApiResult, find_run};
use crate::store::Store;

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
    let pipeline = store
        .run_pipeline(&run)
        .map_err(|error| ApiError::not_found(format!("{error:#}")))?;
    let data = &pipeline.spec.data;
    let folders: Vec<PathBuf> = [&data.train, &data.validation, &data.test]
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
    let file = inside_any(Path::new(&top_loss.image), &folders).ok_or_else(|| {
        ApiError::not_found(format!(
            "run {}'s image `{}` is not a file in its datasets' folders",
            run.id, top_loss.image
        ))
    })?;
    read_image(&file)
}

/// `path` resolved, if it is a file inside one of `folders` (resolved too, so that
/// neither `..` nor a symbolic link leads out).
fn inside_any(path: &Path, folders: &[PathBuf]) -> Option<PathBuf> {
    let file = std::fs::canonicalize(path).ok()?;
    let inside = folders
        .iter()
        .any(|folder| std::fs::canonicalize(folder).is_ok_and(|folder| file.starts_with(folder)));
    (inside && file.is_file()).then_some(file)
}

fn read_image(file: &Path) -> ApiResult<Image> {
    let unreadable =
        |reason: String| ApiError::not_found(format!("the image `{}` {reason}", file.display()));
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
    fn serves_only_files_inside_the_datasets() {
        let root = tempfile::tempdir().unwrap();
        let data = root.path().join("data");
        std::fs::create_dir_all(data.join("cats")).unwrap();
        std::fs::write(data.join("cats/a.png"), b"\x89PNG\r\n").unwrap();
        std::fs::write(root.path().join("secret.png"), b"\x89PNG\r\n").unwrap();
        std::os::unix::fs::symlink(root.path().join("secret.png"), data.join("cats/link.png"))
            .unwrap();
        let folders = [data.clone()];
        assert!(inside_any(&data.join("cats/a.png"), &folders).is_some());
        assert!(inside_any(&data.join("cats/../../secret.png"), &folders).is_none());
        assert!(inside_any(&data.join("cats/link.png"), &folders).is_none());
        assert!(inside_any(&data.join("cats"), &folders).is_none());
        assert!(inside_any(&root.path().join("secret.png"), &folders).is_none());
        assert_eq!(image_type(b"\xff\xd8\xff\xe0"), Some("image/jpeg"));
        assert_eq!(image_type(b"<svg onload=alert(1)>"), None);
    }
}
