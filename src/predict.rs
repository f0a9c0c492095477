//! `runner predict`: a recorded run's model over image files, folders and glob patterns,
//! in batches, each batch's rows written as soon as it is computed. Memory follows the
//! batch size, not the number of images: a folder of any size streams through.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use burn::prelude::*;
use runner_image::decode_resized;

use crate::bail_input;
use crate::data::{Preprocess, map_in_parallel};
use crate::inference::{Prediction, TrainedModel};
use crate::progress::Activity;
use crate::spec::ImageLimits;
use runner_core::commands::libtorch::PredictFormat;

/// The file extensions a folder is searched for (any case).
const IMAGE_EXTENSIONS: [&str; 6] = ["jpg", "jpeg", "png", "bmp", "webp", "gif"];

/// The images that `paths` name, in order: a file as it is, a folder's image files
/// (recursively, sorted, hidden entries skipped), and a pattern's matches (sorted).
pub fn image_paths(paths: &[PathBuf]) -> Result<Vec<PathBuf>> {
    let mut images = Vec::new();
    for path in paths {
        if path.is_dir() {
            let before = images.len();
            collect_folder(path, &mut images)?;
            if images.len() == before {
                bail_input!("`{}`: the folder holds no image file", path.display());
            }
        } else if path.exists() {
            images.push(path.clone());
        } else if is_pattern(path) {
            let matches = glob_matches(path)?;
            if matches.is_empty() {
                bail_input!("`{}`: no file matches the pattern", path.display());
            }
            images.extend(matches);
        } else {
            bail_input!("`{}`: no such file or folder", path.display());
        }
    }
    Ok(images)
}

fn is_pattern(path: &Path) -> bool {
    path.to_string_lossy().contains(['*', '?', '['])
}

fn glob_matches(pattern: &Path) -> Result<Vec<PathBuf>> {
    let text = pattern.to_string_lossy();
    let entries = glob::glob(&text).map_err(|err| {
        crate::error::input_error(format!("`{text}` is not a valid pattern: {err}"))
    })?;
    let mut matches = Vec::new();
    for entry in entries {
        let path = entry.with_context(|| format!("cannot read a match of `{text}`"))?;
        if path.is_file() {
            matches.push(path);
        }
    }
    matches.sort();
    Ok(matches)
}

fn collect_folder(dir: &Path, images: &mut Vec<PathBuf>) -> Result<()> {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("cannot read the folder `{}`", dir.display()))?
        .filter_map(|entry| entry.ok().map(|entry| entry.path()))
        .filter(|path| {
            !path
                .file_name()
                .is_some_and(|name| name.to_string_lossy().starts_with('.'))
        })
        .collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            collect_folder(&path, images)?;
        } else if has_image_extension(&path) {
            images.push(path);
        }
    }
    Ok(())
}

fn has_image_extension(path: &Path) -> bool {
    path.extension().is_some_and(|extension| {
        let extension = extension.to_string_lossy().to_ascii_lowercase();
        IMAGE_EXTENSIONS.contains(&extension.as_str())
    })
}

pub struct PredictOptions<'a> {
    pub batch_size: usize,
    /// Average with the mirror image's probabilities.
    pub flip: bool,
    /// For the progress bar: predicting records nothing, so Ctrl-C simply ends it.
    pub activity: &'a Activity<'a>,
}

/// Predicts `images` batch by batch and hands each batch's predictions to `emit` before
/// decoding the next; returns how many images were predicted. A file that is not a
/// readable image is an error naming it.
pub fn predict_in_batches(
    model: &TrainedModel,
    images: &[PathBuf],
    device: &Device,
    options: &PredictOptions,
    mut emit: impl FnMut(&[Prediction]) -> Result<()>,
) -> Result<usize> {
    let [height, width] = model.pipeline.spec.data.image_size;
    let bar = options.activity.progress_bar(images.len(), "predict");
    let mut done = 0;
    for paths in images.chunks(options.batch_size) {
        let input = batch_input(model, paths, width, height, device)?;
        let rows = model.probabilities(input, options.flip)?;
        let predictions: Vec<Prediction> = paths
            .iter()
            .zip(rows.chunks(model.classes.len()))
            .map(|(path, row)| model.prediction(path.display().to_string(), row))
            .collect();
        emit(&predictions)?;
        done += paths.len();
        bar.inc(paths.len() as u64);
    }
    bar.finish_and_clear();
    Ok(done)
}

/// The preprocessed `[n, 3, height, width]` batch of `paths`, decoded on every core as
/// training decodes its images.
fn batch_input(
    model: &TrainedModel,
    paths: &[PathBuf],
    width: u32,
    height: u32,
    device: &Device,
) -> Result<Tensor<4>> {
    let pixels = batch_pixels(
        paths,
        width,
        height,
        model.pipeline.spec.data.image_limits(),
    )?;
    let shape = [paths.len(), 3, height as usize, width as usize];
    Ok(model_input(model, pixels, shape, device))
}

/// `model`'s input on `device` from a batch of pixel values of `shape` `[n, 3, height,
/// width]`: preprocessed as training preprocesses them.
pub fn model_input(
    model: &TrainedModel,
    mut pixels: Vec<f32>,
    shape: [usize; 4],
    device: &Device,
) -> Tensor<4> {
    preprocess_pixels(
        &mut pixels,
        shape[2] * shape[3],
        model.classifier.preprocess,
    );
    Tensor::from_data(TensorData::new(pixels, shape), device)
}

/// The pixel values (0-255) of `paths` decoded and resized to `width` x `height`, as
/// `[n, 3, height, width]`: what an exported model takes.
pub fn batch_pixels(
    paths: &[PathBuf],
    width: u32,
    height: u32,
    limits: ImageLimits,
) -> Result<Vec<f32>> {
    let plane = (height * width) as usize;
    let decoded = map_in_parallel(paths, |path| decode_resized(path, width, height, limits));
    let mut input = vec![0f32; paths.len() * 3 * plane];
    for (slot, (path, pixels)) in paths.iter().zip(decoded).enumerate() {
        let pixels = pixels.map_err(|reason| {
            crate::error::input_error(format!("`{}`: {reason}", path.display()))
        })?;
        for (index, pixel) in pixels.chunks_exact(3).enumerate() {
            for channel in 0..3 {
                input[(slot * 3 + channel) * plane + index] = f32::from(pixel[channel]);
            }
        }
    }
    Ok(input)
}

/// `value = pixel * scale + offset` per channel of a `[n, 3, height, width]` batch, as the
/// training loader computes it.
/// `plane` is `height * width`.
pub fn preprocess_pixels(batch: &mut [f32], plane: usize, preprocess: Preprocess) {
    for (index, channel_plane) in batch.chunks_mut(plane).enumerate() {
        let channel = index % 3;
        for value in channel_plane {
            *value = *value * preprocess.scale[channel] + preprocess.offset[channel];
        }
    }
}

/// Writes predictions as they come, flushed after each batch so that a pipe sees them.
pub enum PredictionWriter<W: Write> {
    /// `image<TAB>class<TAB>probability`.
    Table(W),
    /// A header (`image,class,probability,p_CLASS...`), then a row per image.
    // Boxed: the writer carries its buffer inline, many times the other variants' size.
    Csv(Box<csv::Writer<W>>),
    /// JSON Lines: one object per image.
    JsonLines(W),
}

impl<W: Write> PredictionWriter<W> {
    pub fn new(format: PredictFormat, classes: &[String], out: W) -> Result<Self> {
        Ok(match format {
            PredictFormat::Table => Self::Table(out),
            PredictFormat::Json => Self::JsonLines(out),
            PredictFormat::Csv => {
                let mut csv = csv::Writer::from_writer(out);
                let mut header = vec!["image".to_string(), "class".into(), "probability".into()];
                header.extend(classes.iter().map(|class| format!("p_{class}")));
                csv.write_record(&header)?;
                Self::Csv(Box::new(csv))
            }
        })
    }

    pub fn write(&mut self, predictions: &[Prediction]) -> Result<()> {
        match self {
            Self::Table(out) => {
                for prediction in predictions {
                    writeln!(
                        out,
                        "{}\t{}\t{:.4}",
                        prediction.image, prediction.class, prediction.probability
                    )?;
                }
                out.flush()?;
            }
            Self::JsonLines(out) => {
                for prediction in predictions {
                    serde_json::to_writer(&mut *out, prediction)?;
                    writeln!(out)?;
                }
                out.flush()?;
            }
            Self::Csv(csv) => {
                for prediction in predictions {
                    let mut row = vec![
                        prediction.image.clone(),
                        prediction.class.clone(),
                        prediction.probability.to_string(),
                    ];
                    row.extend(prediction.probabilities.iter().map(f64::to_string));
                    csv.write_record(&row)?;
                }
                csv.flush()?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folders_are_searched_recursively_for_image_files_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir_all(root.join("b/nested")).unwrap();
        std::fs::create_dir_all(root.join(".hidden")).unwrap();
        for name in [
            "a.JPG",
            "b/z.png",
            "b/nested/c.webp",
            "notes.txt",
            ".hidden/d.jpg",
        ] {
            std::fs::write(root.join(name), b"x").unwrap();
        }
        let found = image_paths(&[root.to_path_buf()]).unwrap();
        let names: Vec<String> = found
            .iter()
            .map(|path| path.strip_prefix(root).unwrap().display().to_string())
            .collect();
        assert_eq!(names, ["a.JPG", "b/nested/c.webp", "b/z.png"]);
    }

    #[test]
    fn patterns_files_and_missing_paths() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        for name in ["x1.png", "x2.png", "y.png"] {
            std::fs::write(root.join(name), b"x").unwrap();
        }
        let found = image_paths(&[root.join("x*.png"), root.join("y.png")]).unwrap();
        assert_eq!(
            found,
            [root.join("x1.png"), root.join("x2.png"), root.join("y.png")]
        );
        let missing = image_paths(&[root.join("none.png")]).unwrap_err();
        assert!(missing.to_string().contains("none.png"), "{missing}");
        let unmatched = image_paths(&[root.join("z*.png")]).unwrap_err();
        assert!(
            unmatched.to_string().contains("no file matches"),
            "{unmatched}"
        );
    }
}
