//! Finding the images of a split: one subfolder per class, classes in name order.

use std::path::{Path, PathBuf};

use anyhow::Result;

use crate::bail_input;

/// The files of one split and their class indices.
#[derive(Debug, Clone)]
pub struct ScannedSplit {
    pub root: PathBuf,
    pub classes: Vec<String>,
    /// `(path, class index)` in a stable order (class, then file name).
    pub files: Vec<(PathBuf, u32)>,
}

/// Lists `root/<class>/<file>`. Hidden entries are ignored; which files are really images
/// is decided when they are decoded.
pub fn scan_split(split: &str, root: &Path) -> Result<ScannedSplit> {
    let class_dirs = crate::spec::class_folders(split, root).map_err(crate::error::input_error)?;
    let mut classes = Vec::new();
    let mut files = Vec::new();
    for (index, dir) in class_dirs.iter().enumerate() {
        let class_files: Vec<PathBuf> = read_dir_sorted(dir)?
            .into_iter()
            .filter(|path| path.is_file())
            .collect();
        if class_files.is_empty() {
            bail_input!("the class folder `{}` has no files", dir.display());
        }
        let label = u32::try_from(index).expect("fewer than 2^32 classes");
        files.extend(class_files.into_iter().map(|path| (path, label)));
        classes.push(file_name(dir));
    }
    Ok(ScannedSplit {
        root: root.to_path_buf(),
        classes,
        files,
    })
}

fn read_dir_sorted(dir: &Path) -> Result<Vec<PathBuf>> {
    let entries = std::fs::read_dir(dir).map_err(|err| {
        crate::error::input_error(format!("cannot read folder `{}`: {err}", dir.display()))
    })?;
    let mut paths: Vec<PathBuf> = entries
        .filter_map(|entry| entry.ok().map(|entry| entry.path()))
        .filter(|path| !file_name(path).starts_with('.'))
        .collect();
    paths.sort();
    Ok(paths)
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_default()
}
