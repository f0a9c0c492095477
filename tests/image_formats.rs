//! Decoding what users have in their folders: every format and pixel layout becomes 8-bit
//! RGB the right way up; what is not an image is an error, never a panic. The fixtures
//! (16x8, left half red, right half blue) come from tests/fixtures/formats/make_fixtures.py.

use std::path::PathBuf;

use runner::spec::ImageLimits;
use runner_image::decode_resized;

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/formats")
        .join(name)
}

/// The pixel at `(x, y)` of an RGB image `width` pixels wide.
fn pixel(rgb: &[u8], width: usize, x: usize, y: usize) -> [u8; 3] {
    let at = (y * width + x) * 3;
    [rgb[at], rgb[at + 1], rgb[at + 2]]
}

fn is_red([r, g, b]: [u8; 3]) -> bool {
    r > 150 && g < 80 && b < 80
}

fn is_blue([r, g, b]: [u8; 3]) -> bool {
    b > 150 && r < 80 && g < 80
}

#[test]
fn color_formats_become_rgb() {
    for name in ["rgb.jpg", "rgb.bmp", "rgb.webp", "rgba.png", "cmyk.jpg"] {
        let rgb = decode_resized(&fixture(name), 16, 8, ImageLimits::default())
            .unwrap_or_else(|err| panic!("{name}: {err}"));
        assert_eq!(rgb.len(), 16 * 8 * 3, "{name}");
        assert!(
            is_red(pixel(&rgb, 16, 1, 4)),
            "{name}: {:?}",
            pixel(&rgb, 16, 1, 4)
        );
        assert!(
            is_blue(pixel(&rgb, 16, 14, 4)),
            "{name}: {:?}",
            pixel(&rgb, 16, 14, 4)
        );
    }
}

#[test]
fn grayscale_and_16_bit_become_gray_rgb() {
    for name in ["gray.png", "gray16.png"] {
        let rgb = decode_resized(&fixture(name), 16, 8, ImageLimits::default())
            .unwrap_or_else(|err| panic!("{name}: {err}"));
        let [left, right] = [pixel(&rgb, 16, 1, 4), pixel(&rgb, 16, 14, 4)];
        // Pillow's luma of the red and blue halves: 81 and 49.
        assert_eq!(left, [81; 3], "{name}");
        assert_eq!(right, [49; 3], "{name}");
    }
}

#[test]
fn exif_orientation_is_applied() {
    // Stored 16x8 with orientation 6: upright it is 8 wide, 16 tall, red on top.
    let rgb = decode_resized(&fixture("exif_rotated.jpg"), 8, 16, ImageLimits::default()).unwrap();
    assert!(is_red(pixel(&rgb, 8, 6, 1)), "{:?}", pixel(&rgb, 8, 6, 1));
    assert!(
        is_blue(pixel(&rgb, 8, 1, 14)),
        "{:?}",
        pixel(&rgb, 8, 1, 14)
    );
    // At half that size the JPEG is decoded at half its DCT scale (8x4 stored), turned.
    let rgb = decode_resized(&fixture("exif_rotated.jpg"), 4, 8, ImageLimits::default()).unwrap();
    assert!(is_red(pixel(&rgb, 4, 3, 0)), "{:?}", pixel(&rgb, 4, 3, 0));
    assert!(is_blue(pixel(&rgb, 4, 0, 7)), "{:?}", pixel(&rgb, 4, 0, 7));
}

#[test]
fn truncated_and_non_image_files_are_errors() {
    for name in ["truncated.jpg", "not_an_image.jpg"] {
        let error = decode_resized(&fixture(name), 16, 8, ImageLimits::default()).unwrap_err();
        assert!(error.contains("not a readable image"), "{name}: {error}");
    }
    assert!(decode_resized(&fixture("missing.png"), 16, 8, ImageLimits::default()).is_err());
}
