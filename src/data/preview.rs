//! `runner augment preview`: a grid of training images, each row an original followed by
//! augmented versions of it, drawn as training would draw them.

use anyhow::Result;
use image::{Rgb, RgbImage};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use runner_image::decode_resized;

use super::ScannedSplit;
use super::augment::sample_transform;
use crate::spec::PipelineSpec;

/// Pixels between cells of the grid.
const GAP: u32 = 4;

/// `rows` images spread over the split (so every class shows up), each followed by
/// `samples` augmentations drawn with the pipeline's seed.
pub fn augment_preview(
    spec: &PipelineSpec,
    train: &ScannedSplit,
    rows: usize,
    samples: usize,
) -> Result<RgbImage> {
    if spec.augment.is_identity() {
        crate::bail_input!(
            "the pipeline's `[augment]` changes nothing: there is nothing to preview"
        );
    }
    let [height, width] = spec.data.image_size;
    let (h, w) = (height as usize, width as usize);
    let step = (train.files.len() / rows.max(1)).max(1);
    let picked: Vec<&std::path::Path> = train
        .files
        .iter()
        .step_by(step)
        .take(rows)
        .map(|(path, _)| path.as_path())
        .collect();
    let columns = 1 + samples as u32;
    let mut grid = RgbImage::from_pixel(
        columns * (width + GAP) + GAP,
        picked.len() as u32 * (height + GAP) + GAP,
        Rgb([255, 255, 255]),
    );
    let mut rng = ChaCha8Rng::seed_from_u64(spec.pipeline.seed);
    let mut planes = vec![0f32; 3 * h * w];
    for (row, path) in picked.iter().enumerate() {
        let original =
            decode_resized(path, width, height, spec.data.image_limits()).map_err(|reason| {
                crate::error::input_error(format!("cannot preview `{}`: {reason}", path.display()))
            })?;
        for column in 0..columns {
            let transform = if column == 0 {
                super::augment::Transform::identity()
            } else {
                sample_transform(&spec.augment, &mut rng, h, w)
            };
            transform.apply(
                &original,
                h,
                w,
                spec.augment.fill_mode,
                spec.augment.cval as f32,
                [1.0; 3],
                [0.0; 3],
                &mut planes,
            );
            let (left, top) = (
                GAP + column * (width + GAP),
                GAP + row as u32 * (height + GAP),
            );
            for y in 0..h {
                for x in 0..w {
                    let channel =
                        |c: usize| planes[c * h * w + y * w + x].round().clamp(0.0, 255.0) as u8;
                    grid.put_pixel(
                        left + x as u32,
                        top + y as u32,
                        Rgb([channel(0), channel(1), channel(2)]),
                    );
                }
            }
        }
    }
    Ok(grid)
}
