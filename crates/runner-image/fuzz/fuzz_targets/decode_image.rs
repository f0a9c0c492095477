//! Image decoding on arbitrary bytes: the path training takes (libjpeg at a reduced scale,
//! or the `image` crate, then resizing) and the one `runner data check` takes (the whole
//! image). Every input must come back as an image or an error, within the limits: a crash,
//! a panic (libfuzzer-sys aborts on one, even where the decoder catches it) or an input
//! that runs out of memory or time is a finding.
#![no_main]

use libfuzzer_sys::fuzz_target;
use runner_core::spec::ImageLimits;
use runner_image::{decode_resized_bytes, decoded_size_bytes};

fuzz_target!(|bytes: &[u8]| {
    // Lower than the defaults so that each input decodes in milliseconds; the checks are
    // the same.
    let limits = ImageLimits {
        max_pixels: 4096 * 4096,
        max_file_bytes: 1 << 20,
    };
    let _ = decode_resized_bytes(bytes, 32, 24, limits);
    let _ = decoded_size_bytes(bytes, limits);
});
