//! Finding the images of a split: one subfolder per class, classes in name order (or in
//! the order `data.classes` gives), and holding out part of a split for validation.

use std::path::{Path, PathBuf};

use anyhow::Result;
use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;

use crate::bail_input;

/// The files of one split and their class indices.
#[derive(Debug, Clone)]
pub struct ScannedSplit {
    pub root: PathBuf,
    pub classes: Vec<String>,
    /// `(path, class index)` in a stable order (class, then file name).
    pub files: Vec<(PathBuf, u32)>,
}

impl ScannedSplit {
    /// Splits off `fraction` of each class (at least one file, and at least one left),
    /// drawn with `seed`: Keras' `validation_split`, stratified and shuffled. Both parts
    /// keep the scan order.
    pub fn hold_out(&self, fraction: f64, seed: u64) -> Result<(Self, Self)> {
        // Its own stream, apart from shuffling and augmentation.
        const HOLD_OUT_STREAM: u64 = 0x0BAD_5EED_0F5B_1100;
        let mut rng = ChaCha8Rng::seed_from_u64(seed ^ HOLD_OUT_STREAM);
        let mut held = vec![false; self.files.len()];
        for (label, class) in self.classes.iter().enumerate() {
            let mut members: Vec<usize> = (0..self.files.len())
                .filter(|&index| self.files[index].1 as usize == label)
                .collect();
            if members.len() < 2 {
                bail_input!(
                    "the class folder `{}` has {} file(s): `data.validation_split` needs at least two per class",
                    self.root.join(class).display(),
                    members.len()
                );
            }
            let count =
                ((members.len() as f64 * fraction).round() as usize).clamp(1, members.len() - 1);
            members.shuffle(&mut rng);
            for &index in &members[..count] {
                held[index] = true;
            }
        }
        let part = |keep: bool| Self {
            root: self.root.clone(),
            classes: self.classes.clone(),
            files: self
                .files
                .iter()
                .zip(&held)
                .filter(|(_, held)| **held == keep)
                .map(|(file, _)| file.clone())
                .collect(),
        };
        Ok((part(false), part(true)))
    }
}

/// Lists `root/<class>/<file>` for the classes `classes` names (every subfolder when
/// `None`). Hidden entries are ignored; which files are really images is decided when
/// they are decoded.
pub fn scan_split(split: &str, root: &Path, classes: Option<&[String]>) -> Result<ScannedSplit> {
    let class_dirs =
        crate::spec::class_folders(split, root, classes).map_err(crate::error::input_error)?;
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

#[cfg(test)]
mod tests {
    use super::*;

    fn split_of(counts: &[usize]) -> ScannedSplit {
        let files = counts
            .iter()
            .enumerate()
            .flat_map(|(label, &count)| {
                (0..count).map(move |i| (PathBuf::from(format!("c{label}/{i}.png")), label as u32))
            })
            .collect();
        ScannedSplit {
            root: PathBuf::from("data"),
            classes: (0..counts.len()).map(|c| format!("c{c}")).collect(),
            files,
        }
    }

    #[test]
    fn hold_out_is_stratified_seeded_and_disjoint() {
        let all = split_of(&[10, 30]);
        let (train, validation) = all.hold_out(0.2, 7).unwrap();
        let count =
            |split: &ScannedSplit, label| split.files.iter().filter(|f| f.1 == label).count();
        assert_eq!((count(&validation, 0), count(&validation, 1)), (2, 6));
        assert_eq!(train.files.len() + validation.files.len(), 40);
        assert!(
            validation
                .files
                .iter()
                .all(|file| !train.files.contains(file))
        );
        assert_eq!(all.hold_out(0.2, 7).unwrap().1.files, validation.files);
        assert_ne!(all.hold_out(0.2, 8).unwrap().1.files, validation.files);
    }

    #[test]
    fn hold_out_needs_two_files_per_class() {
        let error = split_of(&[1, 5]).hold_out(0.5, 1).unwrap_err();
        assert!(
            error.to_string().contains("at least two per class"),
            "{error}"
        );
    }
}
