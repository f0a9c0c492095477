//! `runner data check`: what a pipeline's data looks like before training on it: images
//! per class and split, the range of image sizes, unreadable files, and identical files
//! within a split or across splits (validation or test images that are also training
//! images make the metrics lie).

use std::collections::BTreeMap;
use std::fmt::Write;

use serde::Serialize;

use super::parallel::map_in_parallel;
use super::{Manifest, ScannedSplit};
use crate::spec::ImageLimits;
use runner_image::decoded_size;

#[derive(Debug, Serialize)]
pub struct DataReport {
    pub splits: Vec<SplitReport>,
    /// Groups of files with the same content, each file as `split: class/file`.
    pub duplicates: Vec<Vec<String>>,
    /// How many of the groups span more than one split.
    pub duplicates_across_splits: usize,
}

#[derive(Debug, Serialize)]
pub struct SplitReport {
    pub split: String,
    pub folder: String,
    /// Images per class, in label order (unreadable files not counted).
    pub classes: Vec<(String, usize)>,
    /// `[smallest, largest]` width and height of the readable images, in pixels.
    pub width: [u32; 2],
    pub height: [u32; 2],
    /// `class/file: why`.
    pub unreadable: Vec<String>,
}

/// Decodes every file of each split (fully, so truncated files are found; within
/// `limits`, as training would) and compares their content hashes.
pub fn check_data(splits: &[(&str, &ScannedSplit, &Manifest)], limits: ImageLimits) -> DataReport {
    let mut reports = Vec::new();
    let mut by_hash: BTreeMap<&str, Vec<(usize, String)>> = BTreeMap::new();
    for (split_index, (split, files, manifest)) in splits.iter().enumerate() {
        let sizes = map_in_parallel(&files.files, |(path, _)| decoded_size(path, limits));
        let mut counts = vec![0; files.classes.len()];
        let mut unreadable = Vec::new();
        let (mut width, mut height) = ([u32::MAX, 0], [u32::MAX, 0]);
        for (((path, label), size), hash) in files.files.iter().zip(sizes).zip(&manifest.hashes) {
            let relative = path
                .strip_prefix(&files.root)
                .unwrap_or(path)
                .display()
                .to_string();
            by_hash
                .entry(hash)
                .or_default()
                .push((split_index, format!("{split}: {relative}")));
            match size {
                Ok((w, h)) => {
                    counts[*label as usize] += 1;
                    width = [width[0].min(w), width[1].max(w)];
                    height = [height[0].min(h), height[1].max(h)];
                }
                Err(reason) => unreadable.push(format!("{relative}: {reason}")),
            }
        }
        reports.push(SplitReport {
            split: split.to_string(),
            folder: files.root.display().to_string(),
            classes: files.classes.iter().cloned().zip(counts).collect(),
            width: if width[1] == 0 { [0, 0] } else { width },
            height: if height[1] == 0 { [0, 0] } else { height },
            unreadable,
        });
    }
    let groups: Vec<Vec<(usize, String)>> = by_hash
        .into_values()
        .filter(|files| files.len() > 1)
        .collect();
    let duplicates_across_splits = groups
        .iter()
        .filter(|files| files.iter().any(|(split, _)| *split != files[0].0))
        .count();
    DataReport {
        splits: reports,
        duplicates: groups
            .into_iter()
            .map(|files| files.into_iter().map(|(_, file)| file).collect())
            .collect(),
        duplicates_across_splits,
    }
}

impl DataReport {
    pub fn to_text(&self) -> String {
        let mut out = String::new();
        for split in &self.splits {
            let images: usize = split.classes.iter().map(|(_, count)| count).sum();
            let classes = split
                .classes
                .iter()
                .map(|(class, count)| format!("{class} {count}"))
                .collect::<Vec<_>>()
                .join(", ");
            let _ = writeln!(
                out,
                "{:<11} {}: {images} images ({classes}); width {}-{}, height {}-{} px; {} unreadable",
                split.split,
                split.folder,
                split.width[0],
                split.width[1],
                split.height[0],
                split.height[1],
                split.unreadable.len()
            );
            for file in &split.unreadable {
                let _ = writeln!(out, "  unreadable: {file}");
            }
        }
        if self.duplicates.is_empty() {
            let _ = writeln!(out, "duplicates: none");
        } else {
            let _ = writeln!(
                out,
                "duplicates: {} group(s) of identical files, {} across splits{}",
                self.duplicates.len(),
                self.duplicates_across_splits,
                if self.duplicates_across_splits > 0 {
                    " (the same image in training and validation or test inflates their metrics)"
                } else {
                    ""
                }
            );
            for group in &self.duplicates {
                let _ = writeln!(out, "  {}", group.join(" = "));
            }
        }
        out
    }
}
