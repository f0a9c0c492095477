//! JPEG decoding at a reduced DCT scale through the system's libjpeg-turbo (the shim in
//! `native/jpeg_scaled.c`): a photo several times larger than the model's input is
//! decoded at 1/2, 1/4 or 1/8 of its size directly, as PIL's `draft` mode does, instead
//! of in full and then shrunk.

use std::ffi::{CStr, c_char, c_int, c_uint, c_ulong};

use image::RgbImage;
use image::metadata::Orientation;

unsafe extern "C" {
    fn runner_jpeg_decode_scaled(
        data: *const u8,
        length: c_ulong,
        min_width: c_uint,
        min_height: c_uint,
        pixels: *mut *mut u8,
        width: *mut c_uint,
        height: *mut c_uint,
        message: *mut c_char,
        message_length: usize,
    ) -> c_int;
    fn runner_jpeg_free(pixels: *mut u8);
}

const DECODED: c_int = 0;
const UNSUPPORTED: c_int = 2;

/// Whether `bytes` start like a JPEG file.
pub fn is_jpeg(bytes: &[u8]) -> bool {
    bytes.starts_with(&[0xFF, 0xD8, 0xFF])
}

/// The EXIF orientation of a JPEG, read from its APP1 segment without decoding anything
/// else; `NoTransforms` when there is none.
pub fn orientation(bytes: &[u8]) -> Orientation {
    exif_chunk(bytes)
        .and_then(Orientation::from_exif_chunk)
        .unwrap_or(Orientation::NoTransforms)
}

/// The TIFF data of the first `Exif` APP1 segment before the image data.
fn exif_chunk(bytes: &[u8]) -> Option<&[u8]> {
    const APP1: u8 = 0xE1;
    const START_OF_SCAN: u8 = 0xDA;
    let mut at = 2; // after SOI
    while at + 4 <= bytes.len() {
        if bytes[at] != 0xFF {
            return None;
        }
        let marker = bytes[at + 1];
        if marker == 0xFF {
            at += 1; // fill byte
            continue;
        }
        if marker == START_OF_SCAN {
            return None;
        }
        // The length counts its own two bytes but not the marker's.
        let length = usize::from(u16::from_be_bytes([bytes[at + 2], bytes[at + 3]]));
        let segment = bytes.get(at + 4..at + 2 + length)?;
        if marker == APP1 && segment.starts_with(b"Exif\0\0") {
            return Some(&segment[6..]);
        }
        at += 2 + length;
    }
    None
}

/// `bytes` (a JPEG file) as RGB, at least `min_width` x `min_height` unless the image is
/// smaller. `None` for the color spaces libjpeg does not turn into RGB (CMYK, YCCK);
/// `Some(Err)` for a corrupt or truncated file.
pub fn decode_scaled(
    bytes: &[u8],
    min_width: u32,
    min_height: u32,
) -> Option<Result<RgbImage, String>> {
    let mut pixels: *mut u8 = std::ptr::null_mut();
    let (mut width, mut height): (c_uint, c_uint) = (0, 0);
    let mut message = [0 as c_char; 256];
    // SAFETY: the shim reads `bytes` only within `length`, writes the outputs given, and
    // allocates `pixels` (width * height * 3 bytes) only when it returns DECODED.
    let status = unsafe {
        runner_jpeg_decode_scaled(
            bytes.as_ptr(),
            bytes.len() as c_ulong,
            min_width,
            min_height,
            &mut pixels,
            &mut width,
            &mut height,
            message.as_mut_ptr(),
            message.len(),
        )
    };
    match status {
        DECODED => {
            let length = width as usize * height as usize * 3;
            // SAFETY: DECODED means `pixels` holds `length` initialized bytes, ours to free.
            let rgb = unsafe { std::slice::from_raw_parts(pixels, length) }.to_vec();
            unsafe { runner_jpeg_free(pixels) };
            Some(Ok(RgbImage::from_raw(width, height, rgb)
                .expect("the shim returns width * height * 3 bytes")))
        }
        UNSUPPORTED => None,
        _ => {
            // SAFETY: the shim writes a NUL-terminated message within the buffer.
            let text = unsafe { CStr::from_ptr(message.as_ptr()) };
            Some(Err(format!(
                "not a readable image ({})",
                text.to_string_lossy()
            )))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn photo() -> Vec<u8> {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/imagenet/cat.4003.jpg");
        std::fs::read(path).unwrap()
    }

    #[test]
    fn decodes_at_the_smallest_scale_still_covering_the_target() {
        let bytes = photo();
        let full = decode_scaled(&bytes, u32::MAX, u32::MAX).unwrap().unwrap();
        let small = decode_scaled(&bytes, 20, 20).unwrap().unwrap();
        assert!(small.width() >= 20 && small.height() >= 20);
        assert!(
            small.width() * 2 < full.width(),
            "{} vs {}",
            small.width(),
            full.width()
        );
        let half = decode_scaled(&bytes, full.width() / 2, full.height() / 2)
            .unwrap()
            .unwrap();
        assert_eq!(half.width(), full.width().div_ceil(2));
    }

    #[test]
    fn the_exif_orientation_is_read_from_the_markers() {
        let fixture = |name: &str| {
            let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("tests/fixtures/formats")
                .join(name);
            std::fs::read(path).unwrap()
        };
        assert_eq!(
            orientation(&fixture("exif_rotated.jpg")),
            Orientation::Rotate90
        );
        assert_eq!(orientation(&fixture("rgb.jpg")), Orientation::NoTransforms);
        assert_eq!(
            orientation(b"\xFF\xD8\xFF\xE1\xFF"),
            Orientation::NoTransforms
        );
    }

    #[test]
    fn a_truncated_file_is_an_error_not_a_gray_image() {
        let bytes = photo();
        let truncated = &bytes[..bytes.len() / 2];
        let result = decode_scaled(truncated, 10, 10).unwrap();
        assert!(result.is_err());
        assert!(
            decode_scaled(b"\xFF\xD8\xFFnot a jpeg", 10, 10)
                .unwrap()
                .is_err()
        );
    }
}
