//! Image files to RGB bytes for runner, safely: the decoding that training, `runner data
//! check` and `runner predict` share, kept apart from LibTorch so that it can be fuzzed
//! on its own (`fuzz/`).

mod budget;
mod decode;
mod jpeg;

pub use decode::{decode_resized, decode_resized_bytes, decoded_size, decoded_size_bytes};
