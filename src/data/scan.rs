//! Finding the images of a split: one subfolder per class, classes in name order (or in
//! the order `data.classes` gives), or the rows of a CSV file; holding out part of a split
//! for validation; and checking that no image is in two splits.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use anyhow::Result;
use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;

use crate::bail_input;
use crate::plan::SPLITS;
use crate::spec::csv_split::{check_labels, csv_classes, read_csv_split};
use crate::spec::{DataSpec, SplitSource};

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

/// The images of `split` from wherever `data` lists them. `classes` are the declared ones,
/// or for the validation and test splits the training split's, which their labels must be
/// among.
pub fn scan_source(
    split: &str,
    source: SplitSource<'_>,
    classes: Option<&[String]>,
    data: &DataSpec,
) -> Result<ScannedSplit> {
    match source {
        SplitSource::Folder(root) => scan_split(split, root, classes),
        SplitSource::Csv(csv) => scan_csv(split, csv, classes, data),
    }
}

/// The rows of a CSV split, in the folder scan's order (class, then path).
fn scan_csv(
    split: &str,
    csv: &Path,
    classes: Option<&[String]>,
    data: &DataSpec,
) -> Result<ScannedSplit> {
    let rows = read_csv_split(split, csv, data.csv_columns()).map_err(crate::error::input_error)?;
    let classes = match classes {
        // The training split's classes, when this is another split.
        Some(classes) if split != SPLITS[0] => {
            check_labels(split, csv, &rows, classes, "the training split")
                .map_err(crate::error::input_error)?;
            classes.to_vec()
        }
        declared => csv_classes(split, csv, &rows, declared).map_err(crate::error::input_error)?,
    };
    let mut files: Vec<(PathBuf, u32)> = rows
        .into_iter()
        .map(|row| {
            let label = classes.iter().position(|class| *class == row.label);
            let label = label.and_then(|label| u32::try_from(label).ok());
            (
                row.path,
                label.expect("checked to be one of the classes, fewer than 2^32"),
            )
        })
        .collect();
    files.sort_by(|a, b| (a.1, &a.0).cmp(&(b.1, &b.0)));
    Ok(ScannedSplit {
        root: csv.parent().unwrap_or(Path::new(".")).to_path_buf(),
        classes,
        files,
    })
}

/// An input error naming the first training image that the validation or test split
/// (`others`, in [`SPLITS`] order after training) also has: a model scored on images it
/// trained on reports figures that mean nothing. Validation and test may share images (a
/// test split that is the validation folder again is a common shortcut).
pub fn check_no_leakage(training: &ScannedSplit, others: &[ScannedSplit]) -> Result<()> {
    // The same file by two spellings (`a/../b.png`) is still the same file.
    let canonical = |path: &Path| path.canonicalize().unwrap_or_else(|_| path.to_path_buf());
    let trained: HashSet<PathBuf> = training
        .files
        .iter()
        .map(|(path, _)| canonical(path))
        .collect();
    for (split, other) in SPLITS[1..].iter().zip(others) {
        if let Some((path, _)) = other
            .files
            .iter()
            .find(|(path, _)| trained.contains(&canonical(path)))
        {
            bail_input!(
                "`{}` is in both the training and the {split} images: a model must not be scored on images it trained on",
                path.display()
            );
        }
    }
    Ok(())
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
