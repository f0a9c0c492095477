//! JPEG decoding at a reduced DCT scale through the system's libjpeg-turbo (the shim in
//! `src/native/jpeg_scaled.c`): a photo several times larger than the model's input is
//! decoded at 1/2, 1/4 or 1/8 of its size directly, as PIL's `draft` mode does, instead
//! of in full and then shrunk.

use std::ffi::{CStr, c_char, c_int, c_uint, c_ulong, c_ulonglong};

use image::RgbImage;
use image::metadata::Orientation;

unsafe extern "C" {
    fn runner_jpeg_decode_scaled(
        data: *const u8,
        length: c_ulong,
        min_width: c_uint,
        min_height: c_uint,
        max_pixels: c_ulonglong,
        max_memory: usize,
        max_scans: c_int,
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
const TOO_LARGE: c_int = 3;

/// Whether `bytes` start like a JPEG file.
pub fn is_jpeg(bytes: &[u8]) -> bool {
    bytes.starts_with(&[0xFF, 0xD8, 0xFF])
}

/// The most scans a JPEG may have. Photos have one, progressive ones about ten; a file
/// with thousands of tiny scans makes libjpeg re-process its whole coefficient buffer for
/// each (libjpeg-turbo's own tools refuse such files with `-maxscans`).
pub const MAX_SCANS: u32 = 256;

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
    segments(bytes)
        .find(|(marker, segment)| *marker == APP1 && segment.starts_with(b"Exif\0\0"))
        .map(|(_, segment)| &segment[6..])
}

/// The size and sampling a JPEG's frame header (SOF) declares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    pub width: u32,
    pub height: u32,
    /// Each component's horizontal and vertical sampling factors.
    pub sampling: Vec<(u32, u32)>,
}

impl Frame {
    /// Width x height.
    pub fn pixels(&self) -> u64 {
        u64::from(self.width) * u64::from(self.height)
    }

    /// About the most memory decoding takes: the RGB output at full size, and the
    /// coefficients of every block, which libjpeg keeps for the whole image when the file
    /// has several scans (progressive JPEGs), 2 bytes per coefficient, plus its tables.
    pub fn decoding_bytes(&self) -> u64 {
        const TABLES: u64 = 16 << 20;
        let max_h = self.sampling.iter().map(|s| s.0).max().unwrap_or(1).max(1);
        let max_v = self.sampling.iter().map(|s| s.1).max().unwrap_or(1).max(1);
        // Each dimension padded to whole MCUs.
        let padded_width =
            u64::from(self.width).div_ceil(8 * u64::from(max_h)) * 8 * u64::from(max_h);
        let padded_height =
            u64::from(self.height).div_ceil(8 * u64::from(max_v)) * 8 * u64::from(max_v);
        let coefficients: u64 = self
            .sampling
            .iter()
            .map(|&(h, v)| {
                padded_width * u64::from(h) / u64::from(max_h) * padded_height * u64::from(v)
                    / u64::from(max_v)
                    * 2
            })
            .sum();
        self.pixels() * 3 + coefficients + TABLES
    }
}

/// The frame header of a JPEG, from its markers; `None` when there is none before the
/// image data.
pub fn frame(bytes: &[u8]) -> Option<Frame> {
    // SOF0..SOF15 but DHT (C4), JPG (C8) and DAC (CC), which share the range.
    let is_frame =
        |marker: u8| (0xC0..=0xCF).contains(&marker) && ![0xC4, 0xC8, 0xCC].contains(&marker);
    let (_, segment) = segments(bytes).find(|(marker, _)| is_frame(*marker))?;
    // precision, height, width, component count, then (id, sampling, table) per component.
    let height = u32::from(u16::from_be_bytes([*segment.get(1)?, *segment.get(2)?]));
    let width = u32::from(u16::from_be_bytes([*segment.get(3)?, *segment.get(4)?]));
    let components = usize::from(*segment.get(5)?);
    let sampling = (0..components)
        .map(|index| {
            let factors = *segment.get(6 + index * 3 + 1)?;
            Some((u32::from(factors >> 4), u32::from(factors & 0x0F)))
        })
        .collect::<Option<Vec<_>>>()?;
    Some(Frame {
        width,
        height,
        sampling,
    })
}

/// The marker segments before the first scan, each as `(marker, payload)`.
fn segments(bytes: &[u8]) -> impl Iterator<Item = (u8, &[u8])> {
    const START_OF_SCAN: u8 = 0xDA;
    let mut at = 2; // after SOI
    std::iter::from_fn(move || {
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
            let segment = bytes.get(at + 4..(at + 2 + length).max(at + 4))?;
            at += 2 + length.max(2);
            return Some((marker, segment));
        }
        None
    })
}

/// Why a JPEG was not decoded.
pub enum Refused {
    /// A color space libjpeg does not turn into RGB (CMYK, YCCK).
    Unsupported,
    /// libjpeg's header declares more than `max_pixels`.
    TooLarge { width: u32, height: u32 },
    /// Corrupt, truncated, too many scans or over `max_memory`.
    Failed(String),
}

/// `bytes` (a JPEG file) as RGB, at least `min_width` x `min_height` unless the image is
/// smaller, decoding an image of at most `max_pixels` in at most about `max_memory` bytes.
pub fn decode_scaled(
    bytes: &[u8],
    min_width: u32,
    min_height: u32,
    max_pixels: u64,
    max_memory: u64,
) -> Result<RgbImage, Refused> {
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
            max_pixels as c_ulonglong,
            usize::try_from(max_memory).unwrap_or(usize::MAX),
            MAX_SCANS as c_int,
            &raw mut pixels,
            &raw mut width,
            &raw mut height,
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
            Ok(RgbImage::from_raw(width, height, rgb)
                .expect("the shim returns width * height * 3 bytes"))
        }
        UNSUPPORTED => Err(Refused::Unsupported),
        TOO_LARGE => Err(Refused::TooLarge { width, height }),
        _ => {
            // SAFETY: the shim writes a NUL-terminated message within the buffer.
            let text = unsafe { CStr::from_ptr(message.as_ptr()) };
            Err(Refused::Failed(text.to_string_lossy().into_owned()))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn photo() -> Vec<u8> {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../tests/fixtures/imagenet/cat.4003.jpg");
        std::fs::read(path).unwrap()
    }

    /// Decoded within generous limits.
    fn decode(bytes: &[u8], min_width: u32, min_height: u32) -> Result<RgbImage, Refused> {
        decode_scaled(bytes, min_width, min_height, 1 << 30, 1 << 30)
    }

    #[test]
    fn decodes_at_the_smallest_scale_still_covering_the_target() {
        let bytes = photo();
        let full = decode(&bytes, u32::MAX, u32::MAX).ok().unwrap();
        let small = decode(&bytes, 20, 20).ok().unwrap();
        assert!(small.width() >= 20 && small.height() >= 20);
        assert!(
            small.width() * 2 < full.width(),
            "{} vs {}",
            small.width(),
            full.width()
        );
        let half = decode(&bytes, full.width() / 2, full.height() / 2)
            .ok()
            .unwrap();
        assert_eq!(half.width(), full.width().div_ceil(2));
    }

    #[test]
    fn the_exif_orientation_is_read_from_the_markers() {
        let fixture = |name: &str| {
            let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../../tests/fixtures/formats")
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
        assert!(matches!(decode(truncated, 10, 10), Err(Refused::Failed(_))));
        assert!(matches!(
            decode(b"\xFF\xD8\xFFnot a jpeg", 10, 10),
            Err(Refused::Failed(_))
        ));
    }

    #[test]
    fn the_frame_header_gives_size_and_sampling() {
        let frame = frame(&photo()).unwrap();
        let full = decode(&photo(), u32::MAX, u32::MAX).ok().unwrap();
        assert_eq!((frame.width, frame.height), (full.width(), full.height()));
        assert_eq!(frame.sampling.len(), 3);
        assert!(frame.decoding_bytes() > frame.pixels() * 3);
        assert_eq!(super::frame(b"\xFF\xD8\xFF\xDA\x00\x02"), None);
    }

    #[test]
    fn libjpeg_refuses_more_pixels_or_memory_than_allowed() {
        let bytes = photo();
        let frame = frame(&bytes).unwrap();
        assert!(matches!(
            decode_scaled(&bytes, 10, 10, frame.pixels() - 1, 1 << 30),
            Err(Refused::TooLarge { width, height }) if (width, height) == (frame.width, frame.height)
        ));
        let Err(Refused::Failed(reason)) =
            decode_scaled(&bytes, u32::MAX, u32::MAX, frame.pixels(), 1000)
        else {
            panic!("decoded in 1000 bytes");
        };
        assert!(reason.contains("memory"), "{reason}");
    }
}
