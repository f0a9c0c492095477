//! Hostile and broken inputs: image files whose headers declare billions of pixels or
//! thousands of scans, files over the size limit, weights files whose tensors claim more
//! values than memory holds. Each is refused from what it declares, before anything is
//! allocated for it, with its name and the reason: an image is skipped as a corrupt one
//! is, a weights file is an input error (exit code 2). Every file is a few bytes written
//! here.

mod common;

use std::path::Path;
use std::process::Output;

use common::*;

/// The most memory a `runner` process started by these tests may take.
const MEMORY_LIMIT_BYTES: i64 = 1 << 30;

/// The peak resident memory of the largest child process this test binary has waited for
/// (all tests' children, so an upper bound for each).
fn peak_child_rss_bytes() -> i64 {
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: getrusage writes the struct it is given.
    assert_eq!(
        unsafe { libc::getrusage(libc::RUSAGE_CHILDREN, &raw mut usage) },
        0
    );
    usage.ru_maxrss * 1024
}

fn assert_bounded_memory() {
    let peak = peak_child_rss_bytes();
    assert!(
        peak < MEMORY_LIMIT_BYTES,
        "a runner process took {peak} bytes"
    );
}

/// A red/blue dataset with `files` added to `train/red`, and a pipeline over it with
/// `data_keys` added to `[data]`.
fn dataset_with(dir: &Path, files: &[(&str, Vec<u8>)], data_keys: &str) -> std::path::PathBuf {
    write_red_blue_dataset(&dir.join("data"), 2);
    for (name, bytes) in files {
        std::fs::write(dir.join("data/train/red").join(name), bytes).unwrap();
    }
    let text = tiny_pipeline(STEM_ONLY_BACKBONE, 1).replace(
        "batch_size = 8\n",
        &format!("batch_size = 8\n{data_keys}\n"),
    );
    let file = dir.join("p.toml");
    std::fs::write(&file, text).unwrap();
    file
}

/// `runner data check --format json` of a dataset with `files`: each file's reason for
/// being unreadable, by name. Asserts that the command succeeded within the memory limit.
fn unreadable_files(files: &[(&str, Vec<u8>)], data_keys: &str) -> Vec<String> {
    let dir = tempfile::tempdir().unwrap();
    let file = dataset_with(dir.path(), files, data_keys);
    let output = runner(
        &dir.path().join("store"),
        &["data", "check", file.to_str().unwrap(), "--format", "json"],
    );
    let report = json_output(&output);
    assert_bounded_memory();
    let train = &report["splits"][0];
    assert_eq!(train["classes"][1][1], 2, "{report}");
    train["unreadable"]
        .as_array()
        .unwrap()
        .iter()
        .map(|line| line.as_str().unwrap().to_string())
        .collect()
}

/// Asserts that data check skips `name` (and only it) for a reason containing `reason`.
fn assert_skipped(name: &str, bytes: Vec<u8>, reason: &str) {
    let unreadable = unreadable_files(&[(name, bytes)], "");
    assert_eq!(unreadable.len(), 1, "{unreadable:?}");
    assert!(
        unreadable[0].starts_with(&format!("red/{name}: ")) && unreadable[0].contains(reason),
        "{unreadable:?}"
    );
}

const PIXEL_LIMIT: &str = "more than `data.max_image_pixels` (178956970) allows";

fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &byte in bytes {
        crc ^= u32::from(byte);
        for _ in 0..8 {
            crc = (crc >> 1) ^ (0xEDB8_8320 & (crc & 1).wrapping_neg());
        }
    }
    !crc
}

fn png_chunk(out: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
    out.extend_from_slice(&(data.len() as u32).to_be_bytes());
    let start = out.len();
    out.extend_from_slice(kind);
    out.extend_from_slice(data);
    let crc = crc32(&out[start..]);
    out.extend_from_slice(&crc.to_be_bytes());
}

/// A PNG whose header declares `width` x `height` RGB pixels, with one compressed row of
/// zeros: under 100 bytes.
fn png_declaring(width: u32, height: u32) -> Vec<u8> {
    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut header = Vec::new();
    header.extend_from_slice(&width.to_be_bytes());
    header.extend_from_slice(&height.to_be_bytes());
    header.extend_from_slice(&[8, 2, 0, 0, 0]); // 8-bit RGB, deflate, no interlace
    png_chunk(&mut png, b"IHDR", &header);
    // zlib: a stored block of 4 zero bytes (filter byte and one pixel).
    png_chunk(
        &mut png,
        b"IDAT",
        &[
            0x78, 0x01, 0x01, 0x04, 0x00, 0xFB, 0xFF, 0, 0, 0, 0, 0, 0x04, 0, 0x01,
        ],
    );
    png_chunk(&mut png, b"IEND", &[]);
    png
}

/// A JPEG frame header (SOF `marker`) declaring `width` x `height`, three components.
fn jpeg_frame(marker: u8, width: u16, height: u16) -> Vec<u8> {
    let mut jpeg = vec![0xFF, 0xD8, 0xFF, marker, 0, 17, 8];
    jpeg.extend_from_slice(&height.to_be_bytes());
    jpeg.extend_from_slice(&width.to_be_bytes());
    jpeg.extend_from_slice(&[3, 1, 0x22, 0, 2, 0x11, 0, 3, 0x11, 0]);
    jpeg
}

/// A JPEG declaring `width` x `height` whose scan is a few bytes of entropy data.
fn jpeg_declaring(marker: u8, width: u16, height: u16) -> Vec<u8> {
    let mut jpeg = jpeg_frame(marker, width, height);
    // DHT: DC table 0 with one code of length 1 (category 0).
    jpeg.extend_from_slice(&[0xFF, 0xC4, 0, 20, 0x00, 1]);
    jpeg.extend_from_slice(&[0; 15]);
    jpeg.push(0);
    jpeg.extend_from_slice(&[0xFF, 0xDA, 0, 12, 3, 1, 0, 2, 0, 3, 0, 0, 0, 0]);
    jpeg.extend_from_slice(&[0x7F; 64]);
    jpeg.extend_from_slice(&[0xFF, 0xD9]);
    jpeg
}

/// An 8x8 grayscale progressive JPEG with `scans` DC scans: libjpeg re-reads its
/// coefficient buffer for each.
fn progressive_jpeg_with_scans(scans: usize) -> Vec<u8> {
    let mut jpeg = vec![0xFF, 0xD8, 0xFF, 0xC2, 0, 11, 8, 0, 8, 0, 8, 1, 1, 0x11, 0];
    jpeg.extend_from_slice(&[0xFF, 0xDB, 0, 67, 0]);
    jpeg.extend_from_slice(&[1; 64]);
    jpeg.extend_from_slice(&[0xFF, 0xC4, 0, 20, 0x00, 1]);
    jpeg.extend_from_slice(&[0; 15]);
    jpeg.push(0);
    for _ in 0..scans {
        // One component, DC only (Ss = Se = 0), first pass; the block's difference is 0.
        jpeg.extend_from_slice(&[0xFF, 0xDA, 0, 8, 1, 1, 0x00, 0, 0, 0, 0x7F]);
    }
    jpeg.extend_from_slice(&[0xFF, 0xD9]);
    jpeg
}

/// A GIF whose screen and first frame are 65535 x 65535.
fn gif_declaring_65535() -> Vec<u8> {
    let mut gif = b"GIF89a\xFF\xFF\xFF\xFF\x00\x00\x00".to_vec();
    gif.extend_from_slice(b"\x2C\x00\x00\x00\x00\xFF\xFF\xFF\xFF\x00");
    gif.extend_from_slice(&[2, 2, 0x4C, 0x01, 0, 0x3B]);
    gif
}

/// A WebP (extended format) whose canvas and lossless image are 16384 x 16384.
fn webp_declaring_16384() -> Vec<u8> {
    let mut chunks = b"VP8X".to_vec();
    chunks.extend_from_slice(&10u32.to_le_bytes());
    chunks.extend_from_slice(&[0, 0, 0, 0]);
    chunks.extend_from_slice(&[0xFF, 0x3F, 0x00, 0xFF, 0x3F, 0x00]); // 16383 = size - 1
    chunks.extend_from_slice(b"VP8L");
    chunks.extend_from_slice(&5u32.to_le_bytes());
    // Signature, then 14 bits each of width - 1 and height - 1.
    chunks.extend_from_slice(&[0x2F, 0xFF, 0xFF, 0xFF, 0x0F, 0]);
    let mut webp = b"RIFF".to_vec();
    webp.extend_from_slice(&(4 + chunks.len() as u32).to_le_bytes());
    webp.extend_from_slice(b"WEBP");
    webp.extend_from_slice(&chunks);
    webp
}

/// A 24-bit BMP whose header declares 20000 x 20000 pixels (the `image` crate refuses
/// sides over 65535 by itself).
fn bmp_declaring_20000() -> Vec<u8> {
    let mut bmp = b"BM".to_vec();
    bmp.extend_from_slice(&70u32.to_le_bytes());
    bmp.extend_from_slice(&[0, 0, 0, 0]);
    bmp.extend_from_slice(&54u32.to_le_bytes());
    bmp.extend_from_slice(&40u32.to_le_bytes());
    bmp.extend_from_slice(&20_000i32.to_le_bytes());
    bmp.extend_from_slice(&20_000i32.to_le_bytes());
    bmp.extend_from_slice(&1u16.to_le_bytes());
    bmp.extend_from_slice(&24u16.to_le_bytes());
    bmp.extend_from_slice(&[0; 24]);
    bmp.extend_from_slice(&[0; 16]);
    bmp
}

#[test]
fn a_png_declaring_100000_squared_pixels_is_skipped_unread() {
    assert_skipped(
        "bomb.png",
        png_declaring(100_000, 100_000),
        &format!("the image declares 100000x100000 pixels, {PIXEL_LIMIT}"),
    );
}

#[test]
fn a_jpeg_declaring_60000_squared_pixels_is_skipped_unread() {
    assert_skipped(
        "bomb.jpg",
        jpeg_declaring(0xC0, 60_000, 60_000),
        &format!("the image declares 60000x60000 pixels, {PIXEL_LIMIT}"),
    );
}

#[test]
fn a_progressive_jpeg_declaring_60000_squared_pixels_is_skipped_unread() {
    assert_skipped(
        "bomb.jpg",
        jpeg_declaring(0xC2, 60_000, 60_000),
        "the image declares 60000x60000 pixels",
    );
}

#[test]
fn a_progressive_jpeg_with_thousands_of_scans_is_skipped() {
    assert_skipped(
        "scans.jpg",
        progressive_jpeg_with_scans(5000),
        "more than 256 scans",
    );
}

#[test]
fn gif_webp_and_bmp_headers_declaring_huge_images_are_skipped_unread() {
    let unreadable = unreadable_files(
        &[
            ("bomb.gif", gif_declaring_65535()),
            ("bomb.webp", webp_declaring_16384()),
            ("bomb.bmp", bmp_declaring_20000()),
        ],
        "",
    );
    assert_eq!(unreadable.len(), 3, "{unreadable:?}");
    for (name, size) in [
        ("bomb.bmp", "20000x20000"),
        ("bomb.gif", "65535x65535"),
        ("bomb.webp", "16384x16384"),
    ] {
        let expected = format!("red/{name}: the image declares {size} pixels, {PIXEL_LIMIT}");
        assert!(
            unreadable.iter().any(|line| line.starts_with(&expected)),
            "{name}: {unreadable:?}"
        );
    }
}

#[test]
fn a_file_over_the_size_limit_is_skipped_unread() {
    let mut big = png_declaring(1, 1);
    big.resize(5000, 0); // trailing bytes after IEND
    let unreadable = unreadable_files(&[("big.png", big)], "max_image_bytes = 4096");
    assert_eq!(
        unreadable,
        ["red/big.png: the file has 5000 bytes, more than `data.max_image_bytes` (4096) allows"]
    );
}

#[test]
fn the_pixel_limit_is_the_pipelines_to_set() {
    // A real 64x64 image (4096 pixels): under the default limit, over this one.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("large.png");
    image::RgbImage::new(64, 64).save(&path).unwrap();
    let bytes = std::fs::read(&path).unwrap();
    let unreadable = unreadable_files(&[("large.png", bytes)], "max_image_pixels = 4000");
    assert_eq!(
        unreadable,
        [
            "red/large.png: the image declares 64x64 pixels, more than `data.max_image_pixels` (4000) allows (a decompression bomb?)"
        ]
    );
}

#[test]
fn a_limit_of_zero_is_out_of_range() {
    let dir = tempfile::tempdir().unwrap();
    let file = dataset_with(dir.path(), &[], "max_image_pixels = 0\nmax_image_bytes = 0");
    let output = runner(dir.path(), &["validate", file.to_str().unwrap()]);
    let message = common::input_error(&output);
    assert_contains(
        &message,
        "`data.max_image_pixels` = 0 is out of range: it must be at least 1",
    );
    assert_contains(
        &message,
        "`data.max_image_bytes` = 0 is out of range: it must be at least 1",
    );
}

#[test]
fn data_check_of_a_folder_of_bombs_stays_within_the_memory_limit() {
    let files = [
        ("a.png", png_declaring(100_000, 100_000)),
        ("b.jpg", jpeg_declaring(0xC0, 60_000, 60_000)),
        ("c.jpg", jpeg_declaring(0xC2, 65_535, 65_535)),
        ("d.jpg", progressive_jpeg_with_scans(5000)),
        ("e.gif", gif_declaring_65535()),
        ("f.webp", webp_declaring_16384()),
        ("g.bmp", bmp_declaring_20000()),
    ];
    let unreadable = unreadable_files(&files, "");
    assert_eq!(unreadable.len(), files.len(), "{unreadable:?}");
}

#[test]
fn a_run_skips_the_bombs_and_lists_them() {
    let dir = tempfile::tempdir().unwrap();
    let file = dataset_with(
        dir.path(),
        &[
            ("bomb.png", png_declaring(100_000, 100_000)),
            ("bomb.jpg", jpeg_declaring(0xC2, 60_000, 60_000)),
        ],
        "",
    );
    let store = dir.path().join("store");
    let output = runner(&store, &["run", file.to_str().unwrap()]);
    let message = stderr(&output);
    assert!(output.status.success(), "{message}");
    assert_bounded_memory();
    for name in ["bomb.png", "bomb.jpg"] {
        assert_contains(
            &message,
            &format!(
                "skipping {}",
                dir.path().join("data/train/red").join(name).display()
            ),
        );
    }
}

/// Runs `args` with the pipeline `file`'s folder as store, expecting an input error, and
/// returns its message.
fn input_error(dir: &Path, args: &[&str]) -> String {
    common::input_error(&runner(&dir.join("store"), args))
}

/// A resnet18 pipeline over a red/blue dataset with `weights` as its weights file.
fn resnet18_pipeline(dir: &Path, weights: &str) -> std::path::PathBuf {
    write_red_blue_dataset(&dir.join("data"), 2);
    let backbone =
        format!("arch = \"resnet18\"\nweights = \"{weights}\"\ncut = \"stem\"\nfreeze = \"all\"");
    let file = dir.join("p.toml");
    std::fs::write(&file, tiny_pipeline(&backbone, 1)).unwrap();
    file
}

#[test]
fn a_stride_zero_view_claiming_10_gb_is_refused_before_it_is_read() {
    let dir = tempfile::tempdir().unwrap();
    let weights = dir.path().join("bomb.pth");
    // 10^10 bytes: just under what burn-store's pickle reader refuses by itself.
    common::torch_save::write_stride_zero_view(&weights, "fc.weight", &[50_000, 50_000]);
    assert!(std::fs::metadata(&weights).unwrap().len() < 2000);
    let file = resnet18_pipeline(dir.path(), "bomb.pth");
    for command in ["validate", "run"] {
        let message = input_error(dir.path(), &[command, file.to_str().unwrap()]);
        assert!(
            message.contains("bomb.pth` does not fit resnet18: its tensor `fc.weight` has shape [50000, 50000], the network needs [1000, 512]"),
            "{command}: {message}"
        );
    }
    assert_bounded_memory();
}

#[test]
fn validate_refuses_a_weights_file_of_the_wrong_shape() {
    let dir = tempfile::tempdir().unwrap();
    let weights = dir.path().join("small_kernel.pth");
    let tensor = common::torch_save::Tensor {
        key: "conv1.weight".into(),
        shape: vec![64, 3, 3, 3],
        values: common::torch_save::Values::F32(vec![0.0; 64 * 27]),
    };
    common::torch_save::write_state_dict(&weights, &[tensor]);
    let file = resnet18_pipeline(dir.path(), "small_kernel.pth");
    let message = input_error(dir.path(), &["validate", file.to_str().unwrap()]);
    assert_contains(&message, "p.toml");
    assert_contains(
        &message,
        "small_kernel.pth` does not fit resnet18: its tensor `stem.conv.conv.weight` has shape [64, 3, 3, 3], the network needs [64, 3, 7, 7]",
    );
}

#[test]
fn validate_refuses_a_weights_file_missing_tensors() {
    let dir = tempfile::tempdir().unwrap();
    let weights = dir.path().join("empty.pth");
    common::torch_save::write_state_dict(&weights, &[]);
    let file = resnet18_pipeline(dir.path(), "empty.pth");
    let message = input_error(dir.path(), &["validate", file.to_str().unwrap()]);
    assert_contains(
        &message,
        "empty.pth` is not a resnet18 weights file: 102 tensors are missing, such as stem.conv.conv.weight",
    );
}

/// tests/fixtures/keras/tiny.h5 with its convolution kernel's dataspace saying
/// 50000 x 50000 x 2 x 3 instead of 2 x 3 x 2 x 3: 60 GB of floats, none in the file.
fn h5_declaring_a_huge_kernel(path: &Path) {
    let mut bytes = std::fs::read(repo_root().join("tests/fixtures/keras/tiny.h5")).unwrap();
    let dims = |sides: [u64; 4]| -> Vec<u8> {
        let one: Vec<u8> = sides.iter().flat_map(|side| side.to_le_bytes()).collect();
        [one.clone(), one].concat() // the dimensions, then the maximum dimensions
    };
    let (from, to) = (dims([2, 3, 2, 3]), dims([50_000, 50_000, 2, 3]));
    let at = bytes
        .windows(from.len())
        .position(|window| window == from)
        .expect("the fixture's kernel dataspace");
    bytes[at..at + to.len()].copy_from_slice(&to);
    std::fs::write(path, bytes).unwrap();
}

#[test]
fn a_keras_file_declaring_a_huge_kernel_is_refused_before_it_is_read() {
    use burn::nn::conv::Conv2dConfig;
    use runner::model::WeightsUse;
    use runner::model::keras_h5::{KerasWeights, set_conv};

    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("bomb.h5");
    h5_declaring_a_huge_kernel(&file);
    let weights = KerasWeights::open(&file, WeightsUse::Load).unwrap();
    assert_eq!(weights.layers[0].weights[0].shape, [50_000, 50_000, 2, 3]);
    let mut conv = Conv2dConfig::new([2, 3], [2, 3])
        .with_bias(false)
        .init(&runner::device::cpu());
    let error = set_conv(&mut conv, &weights.layers[0], &weights).unwrap_err();
    assert!(runner::error::is_input_error(&error));
    assert!(
        format!("{error:#}").contains("bomb.h5` does not fit the network: layer `conv2d_1`'s `conv2d_1/kernel:0` has shape [50000, 50000, 2, 3], the network needs [2, 3, 2, 3]"),
        "{error:#}"
    );
}

#[test]
fn validate_refuses_a_keras_file_declaring_a_huge_kernel() {
    let dir = tempfile::tempdir().unwrap();
    h5_declaring_a_huge_kernel(&dir.path().join("bomb.h5"));
    write_red_blue_dataset(&dir.path().join("data"), 2);
    let backbone =
        "arch = \"inception_v3\"\nweights = \"bomb.h5\"\ncut = \"mixed0\"\nfreeze = \"all\"";
    let text = tiny_pipeline(backbone, 1).replace("[32, 32]", "[75, 75]");
    let file = dir.path().join("p.toml");
    std::fs::write(&file, text).unwrap();
    let message = input_error(dir.path(), &["validate", file.to_str().unwrap()]);
    assert_contains(
        &message,
        "bomb.h5` is not InceptionV3 weights: it has 1 Conv2D",
    );
    assert_bounded_memory();
}

/// Runs `runner` with its default log filter, which shows every crate's warnings.
fn runner_logging_warnings(store: &Path, args: &[&str]) -> Output {
    runner_process(store, args)
        .env_remove("RUST_LOG")
        .output()
        .expect("the runner binary starts")
}

/// A pipeline naming a weights file that does not exist, over a red/blue dataset.
fn pipeline_without_its_weights(dir: &Path) -> std::path::PathBuf {
    resnet18_pipeline(dir, "resnet18-f37072fd.pth")
}

const MISSING_WARNING: &str =
    "resnet18-f37072fd.pth` does not exist: `runner run` needs it, this command does not";

#[test]
fn summary_plan_and_data_check_work_without_the_weights_file_and_warn() {
    let dir = tempfile::tempdir().unwrap();
    let file = pipeline_without_its_weights(dir.path());
    let file = file.to_str().unwrap();
    let store = dir.path().join("store");
    for args in [
        vec!["summary", file],
        vec!["plan", file],
        vec!["data", "check", file],
    ] {
        let output = runner_logging_warnings(&store, &args);
        let message = stderr(&output);
        assert!(output.status.success(), "{args:?}: {message}");
        assert!(message.contains(MISSING_WARNING), "{args:?}: {message}");
    }
}

#[test]
fn augment_preview_works_without_the_weights_file() {
    let dir = tempfile::tempdir().unwrap();
    let file = pipeline_without_its_weights(dir.path());
    let grid = dir.path().join("grid.png");
    let output = runner_logging_warnings(
        &dir.path().join("store"),
        &[
            "augment",
            "preview",
            file.to_str().unwrap(),
            "--out",
            grid.to_str().unwrap(),
        ],
    );
    let message = stderr(&output);
    assert!(output.status.success(), "{message}");
    assert_contains(&message, MISSING_WARNING);
    assert!(grid.is_file());
}

#[test]
fn run_and_validate_still_refuse_a_missing_weights_file() {
    let dir = tempfile::tempdir().unwrap();
    let file = pipeline_without_its_weights(dir.path());
    for command in ["run", "validate"] {
        let message = input_error(dir.path(), &[command, file.to_str().unwrap()]);
        assert!(
            message.contains("the weights file `")
                && message.contains("resnet18-f37072fd.pth` does not exist"),
            "{command}: {message}"
        );
    }
}
