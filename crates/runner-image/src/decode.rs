//! An image file's content to RGB bytes at a model's input size, upright as its EXIF
//! orientation says: JPEGs through libjpeg-turbo at a reduced DCT scale (see [`jpeg`]),
//! other formats through the `image` crate, then antialiased bilinear resizing. Nothing
//! from a file is trusted: the size a header declares is checked against
//! [`ImageLimits`] before anything is allocated for it, decoding reserves its memory from
//! a budget that threads decoding at once share, and a decoder panic becomes an error.

use std::io::{Cursor, Read};
use std::path::Path;

use fast_image_resize::images::{Image, ImageRef};
use fast_image_resize::{FilterType, PixelType, ResizeAlg, ResizeOptions, Resizer};
use image::metadata::Orientation;
use image::{DynamicImage, ImageDecoder, RgbImage};
use runner_core::spec::ImageLimits;

use crate::budget::MemoryBudget;
use crate::jpeg;

/// Bytes that the images being decoded at once may hold together. Photos need a few MB
/// each and decode on every core; an image near `data.max_image_pixels` (up to about
/// 1.4 GB for 16-bit RGBA) waits until it decodes alone, so decoding many of them stays
/// within one image's memory rather than one per core.
static DECODING_MEMORY: MemoryBudget = MemoryBudget::new(512 << 20);

/// One file to RGB bytes at the target size: [`decode_resized_bytes`] of its content, if
/// it is no larger than `limits` allow.
pub fn decode_resized(
    path: &Path,
    width: u32,
    height: u32,
    limits: ImageLimits,
) -> Result<Vec<u8>, String> {
    decode_resized_bytes(&read_image_file(path, limits)?, width, height, limits)
}

/// An image file's content to RGB bytes at the target size, upright as its EXIF
/// orientation says. Grayscale, grayscale+alpha, RGBA, CMYK and 16-bit images become 8-bit
/// RGB (alpha is dropped, as Keras' `load_img` does). An image whose header declares more
/// than `limits` allow is refused before anything is allocated for it. Never panics: a
/// decoder panic on a hostile file becomes an error like any other.
pub fn decode_resized_bytes(
    bytes: &[u8],
    width: u32,
    height: u32,
    limits: ImageLimits,
) -> Result<Vec<u8>, String> {
    let resize = |rgb: RgbImage| resize_bilinear(&rgb, width, height);
    match decode_jpeg_for_size(bytes, width, height, limits, resize) {
        Some(resized) => resized,
        None => decode_upright_bytes(bytes, limits, |image| resize(image.into_rgb8())),
    }
}

/// The width and height of an image file upright: [`decoded_size_bytes`] of its content.
pub fn decoded_size(path: &Path, limits: ImageLimits) -> Result<(u32, u32), String> {
    decoded_size_bytes(&read_image_file(path, limits)?, limits)
}

/// The width and height of an image upright, once all of it has decoded (so that a
/// truncated file is found), or why it does not.
pub fn decoded_size_bytes(bytes: &[u8], limits: ImageLimits) -> Result<(u32, u32), String> {
    if let Some(frame) = jpeg::frame(bytes) {
        // libjpeg reads every scan even at its smallest scale, and is what training uses.
        match decode_jpeg_for_size(bytes, 1, 1, limits, |_| Ok(())) {
            Some(Ok(())) => {
                return Ok(if quarter_turned(jpeg::orientation(bytes)) {
                    (frame.height, frame.width)
                } else {
                    (frame.width, frame.height)
                });
            }
            Some(Err(reason)) => return Err(reason),
            None => {}
        }
    }
    decode_upright_bytes(bytes, limits, |image| Ok((image.width(), image.height())))
}

/// The file's bytes, if it is no larger than the limit allows.
fn read_image_file(path: &Path, limits: ImageLimits) -> Result<Vec<u8>, String> {
    let too_large = |bytes: u64| {
        format!(
            "the file has {bytes} bytes, more than `data.max_image_bytes` ({}) allows",
            limits.max_file_bytes
        )
    };
    let file = std::fs::File::open(path).map_err(|err| err.to_string())?;
    let length = file.metadata().map_err(|err| err.to_string())?.len();
    if length > limits.max_file_bytes {
        return Err(too_large(length));
    }
    // The file may grow after its size was read.
    let mut bytes = Vec::with_capacity(length as usize);
    file.take(limits.max_file_bytes + 1)
        .read_to_end(&mut bytes)
        .map_err(|err| err.to_string())?;
    if bytes.len() as u64 > limits.max_file_bytes {
        return Err(too_large(bytes.len() as u64));
    }
    Ok(bytes)
}

/// The error for an image whose header declares more pixels than the limit.
fn too_many_pixels(width: u32, height: u32, limits: ImageLimits) -> String {
    format!(
        "the image declares {width}x{height} pixels, more than `data.max_image_pixels` ({}) allows (a decompression bomb?)",
        limits.max_pixels
    )
}

/// `then` of a JPEG decoded upright at the smallest DCT scale that still covers `width` x
/// `height` (see [`jpeg`]), while the decoding's memory is reserved; `None` when
/// `bytes` is no JPEG or one libjpeg cannot turn into RGB. Never panics.
fn decode_jpeg_for_size<T>(
    bytes: &[u8],
    width: u32,
    height: u32,
    limits: ImageLimits,
    then: impl FnOnce(RgbImage) -> Result<T, String>,
) -> Option<Result<T, String>> {
    if !jpeg::is_jpeg(bytes) {
        return None;
    }
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let Some(frame) = jpeg::frame(bytes) else {
            return Some(Err(
                "not a readable image (no JPEG frame header)".to_string()
            ));
        };
        if frame.pixels() > limits.max_pixels {
            return Some(Err(too_many_pixels(frame.width, frame.height, limits)));
        }
        let orientation = jpeg::orientation(bytes);
        // The size asked for is upright; a quarter turn swaps the stored image's axes.
        let [min_width, min_height] = if quarter_turned(orientation) {
            [height, width]
        } else {
            [width, height]
        };
        let memory = frame.decoding_bytes();
        // Held until `then` has used the image.
        let _reservation = DECODING_MEMORY.reserve(memory);
        // libjpeg reads the header itself: its size is checked again there, and its memory
        // capped at what was reserved, whatever this reading of the markers found.
        let decoded = jpeg::decode_scaled(bytes, min_width, min_height, limits.max_pixels, memory);
        match decoded {
            Ok(rgb) => {
                let mut image = DynamicImage::ImageRgb8(rgb);
                image.apply_orientation(orientation);
                Some(then(image.into_rgb8()))
            }
            Err(jpeg::Refused::Unsupported) => None,
            Err(jpeg::Refused::TooLarge { width, height }) => {
                Some(Err(too_many_pixels(width, height, limits)))
            }
            Err(jpeg::Refused::Failed(reason)) => {
                Some(Err(format!("not a readable image ({reason})")))
            }
        }
    }))
    .unwrap_or_else(|_| Some(Err("the image decoder failed on this file".to_string())))
}

/// Whether the orientation turns the image by a quarter, swapping width and height.
fn quarter_turned(orientation: Orientation) -> bool {
    matches!(
        orientation,
        Orientation::Rotate90
            | Orientation::Rotate270
            | Orientation::Rotate90FlipH
            | Orientation::Rotate270FlipH
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

/// `then` of the whole image upright, decoded with the `image` crate after checking the
/// size its header declares, while the decoding's memory is reserved. Never panics. The
/// size is checked here because the crate checks its allocation limit only in
/// `ImageReader::decode`, not in `from_decoder`, which is needed here for the EXIF
/// orientation.
fn decode_upright_bytes<T>(
    bytes: &[u8],
    limits: ImageLimits,
    then: impl FnOnce(DynamicImage) -> Result<T, String>,
) -> Result<T, String> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let mut reader = image::ImageReader::new(Cursor::new(bytes))
            .with_guessed_format()
            .map_err(|err| err.to_string())?;
        // What the largest image allowed takes as 16-bit RGBA: decoders that honour the
        // limit (PNG's text chunks, GIF's frames) cannot be made to allocate more.
        let mut decoder_limits = image::Limits::default();
        decoder_limits.max_alloc = Some(limits.max_pixels.saturating_mul(8));
        reader.limits(decoder_limits);
        let mut decoder = reader
            .into_decoder()
            .map_err(|err| format!("not a readable image ({err})"))?;
        let (width, height) = decoder.dimensions();
        if u64::from(width) * u64::from(height) > limits.max_pixels {
            return Err(too_many_pixels(width, height, limits));
        }
        // The decoded image, and its RGB copy or turned copy.
        let memory = decoder.total_bytes() + u64::from(width) * u64::from(height) * 3;
        // Held until `then` has used the image.
        let _reservation = DECODING_MEMORY.reserve(memory);
        let orientation = decoder.orientation().unwrap_or(Orientation::NoTransforms);
        let mut image = DynamicImage::from_decoder(decoder)
            .map_err(|err| format!("not a readable image ({err})"))?;
        image.apply_orientation(orientation);
        then(image)
    }))
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
            .join("../../tests/fixtures/imagenet/cat.4003.jpg");
        let bytes = std::fs::read(photo).unwrap();
        let rgb =
            decode_upright_bytes(
                &bytes,
                ImageLimits::default(),
                |image| Ok(image.into_rgb8()),
            )
            .unwrap();
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
