//! Decoding every image of a split once, resized to the model's input size, on all cores.
//! A file that is not a readable image is skipped with a warning naming it.

use std::io::Cursor;
use std::path::PathBuf;

use anyhow::Result;
use fast_image_resize::images::{Image, ImageRef};
use fast_image_resize::{FilterType, PixelType, ResizeAlg, ResizeOptions, Resizer};
use image::metadata::Orientation;
use image::{DynamicImage, ImageDecoder, RgbImage};

use super::ScannedSplit;
use super::jpeg;
use super::parallel::map_in_parallel;
use crate::bail_input;

/// A split's images as `[n, height, width, 3]` RGB bytes, with their labels.
#[derive(Debug)]
pub struct DecodedSplit {
    pub height: usize,
    pub width: usize,
    pub pixels: Vec<u8>,
    pub labels: Vec<u32>,
    pub skipped: Vec<SkippedFile>,
}

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct SkippedFile {
    pub path: PathBuf,
    pub reason: String,
}

impl DecodedSplit {
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    pub fn image(&self, index: usize) -> &[u8] {
        let size = self.height * self.width * 3;
        &self.pixels[index * size..(index + 1) * size]
    }
}

/// Decodes and resizes every file of the split to `[height, width]` (bilinear, antialiased).
/// Errors when a class is left without a single readable image.
pub fn decode_split(
    split: &str,
    scanned: &ScannedSplit,
    [height, width]: [u32; 2],
) -> Result<DecodedSplit> {
    let image_bytes = height as usize * width as usize * 3;
    let decoded = map_in_parallel(&scanned.files, |(path, _)| {
        decode_resized(path, width, height)
    });
    let mut pixels = Vec::with_capacity(decoded.len() * image_bytes);
    let mut labels = Vec::with_capacity(decoded.len());
    let mut skipped = Vec::new();
    for ((path, label), result) in scanned.files.iter().zip(decoded) {
        match result {
            Ok(bytes) => {
                pixels.extend_from_slice(&bytes);
                labels.push(*label);
            }
            Err(reason) => {
                tracing::warn!("skipping {}: {reason}", path.display());
                skipped.push(SkippedFile {
                    path: path.clone(),
                    reason,
                });
            }
        }
    }
    for (class_index, class) in scanned.classes.iter().enumerate() {
        if !labels.iter().any(|&label| label as usize == class_index) {
            bail_input!(
                "the {split} class folder `{}` has no readable image",
                scanned.root.join(class).display()
            );
        }
    }
    Ok(DecodedSplit {
        height: height as usize,
        width: width as usize,
        pixels,
        labels,
        skipped,
    })
}

/// One file to RGB bytes at the target size, upright as its EXIF orientation says.
/// Grayscale, grayscale+alpha, RGBA, CMYK and 16-bit images become 8-bit RGB (alpha is
/// dropped, as Keras' `load_img` does). Never panics: a decoder panic on a hostile file
/// becomes an error like any other.
pub fn decode_resized(path: &std::path::Path, width: u32, height: u32) -> Result<Vec<u8>, String> {
    let bytes = std::fs::read(path).map_err(|err| err.to_string())?;
    let jpeg = std::panic::catch_unwind(|| decode_jpeg_for_size(&bytes, width, height))
        .unwrap_or_else(|_| Some(Err("the image decoder failed on this file".to_string())));
    let rgb = match jpeg {
        Some(decoded) => decoded?,
        None => decode_upright_bytes(bytes)?.into_rgb8(),
    };
    resize_bilinear(&rgb, width, height)
}

/// A JPEG decoded upright at the smallest DCT scale that still covers `width` x `height`
/// (see [`super::jpeg`]); `None` when `bytes` is no JPEG or one libjpeg cannot turn into
/// RGB.
fn decode_jpeg_for_size(bytes: &[u8], width: u32, height: u32) -> Option<Result<RgbImage, String>> {
    if !jpeg::is_jpeg(bytes) {
        return None;
    }
    let orientation = jpeg::orientation(bytes);
    // The size asked for is upright; a quarter turn swaps the stored image's axes.
    let turned = matches!(
        orientation,
        Orientation::Rotate90
            | Orientation::Rotate270
            | Orientation::Rotate90FlipH
            | Orientation::Rotate270FlipH
    );
    let [min_width, min_height] = if turned {
        [height, width]
    } else {
        [width, height]
    };
    Some(
        jpeg::decode_scaled(bytes, min_width, min_height)?.map(|rgb| {
            let mut image = DynamicImage::ImageRgb8(rgb);
            image.apply_orientation(orientation);
            image.into_rgb8()
        }),
    )
}

/// Antialiased bilinear resizing (PIL's `BILINEAR`, `image`'s `Triangle`: the kernel widens
/// with the downscale factor) with fast_image_resize's SIMD kernels, about 10x faster than
/// `image::imageops::resize`.
fn resize_bilinear(rgb: &RgbImage, width: u32, height: u32) -> Result<Vec<u8>, String> {
    let source = ImageRef::new(rgb.width(), rgb.height(), rgb.as_raw(), PixelType::U8x3)
        .map_err(|err| format!("cannot resize the image ({err})"))?;
    let mut resized = Image::new(width, height, PixelType::U8x3);
    let options = ResizeOptions::new().resize_alg(ResizeAlg::Convolution(FilterType::Bilinear));
    Resizer::new()
        .resize(&source, &mut resized, &options)
        .map_err(|err| format!("cannot resize the image ({err})"))?;
    Ok(resized.into_vec())
}

/// One file fully decoded, upright as its EXIF orientation says. Never panics: a decoder
/// panic on a hostile file becomes an error like any other.
pub fn decode_upright(path: &std::path::Path) -> Result<DynamicImage, String> {
    decode_upright_bytes(std::fs::read(path).map_err(|err| err.to_string())?)
}

fn decode_upright_bytes(bytes: Vec<u8>) -> Result<DynamicImage, String> {
    std::panic::catch_unwind(|| {
        let mut decoder = image::ImageReader::new(Cursor::new(bytes))
            .with_guessed_format()
            .map_err(|err| err.to_string())?
            .into_decoder()
            .map_err(|err| format!("not a readable image ({err})"))?;
        let orientation = decoder.orientation().unwrap_or(Orientation::NoTransforms);
        let mut image = DynamicImage::from_decoder(decoder)
            .map_err(|err| format!("not a readable image ({err})"))?;
        image.apply_orientation(orientation);
        Ok(image)
    })
    .unwrap_or_else(|_| Err("the image decoder failed on this file".to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The SIMD resize is the same antialiased bilinear filter as `image`'s `Triangle`,
    /// up to rounding.
    #[test]
    fn resizing_matches_image_triangle_filter() {
        let photo = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/imagenet/cat.4003.jpg");
        let rgb = decode_upright(&photo).unwrap().into_rgb8();
        let ours = resize_bilinear(&rgb, 150, 120).unwrap();
        let reference =
            image::imageops::resize(&rgb, 150, 120, image::imageops::FilterType::Triangle);
        let largest = ours
            .iter()
            .zip(reference.as_raw())
            .map(|(a, b)| a.abs_diff(*b))
            .max()
            .unwrap();
        assert!(largest <= 2, "largest difference {largest}");
    }
}
