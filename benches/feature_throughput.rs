//! Frozen-backbone feature extraction, the main job's hot path: images per second of the
//! frozen prefix of pipelines/cats_dogs.toml (EfficientNet-Lite0 up to `head_conv`, 224x224,
//! BatchNorm folded) on one random batch kept in memory, with the ImageNet weights when
//! `scripts/setup.sh` linked them (random ones otherwise: the speed is the same). Another
//! pipeline file can be named instead (its image size; its frozen prefix, from its cut and
//! freeze).
//! The references, same network, batch and threads, are bench/feature_reference.py
//! (PyTorch and ONNX Runtime); bench/compare.sh runs all of them and prints the ratios.
//!
//!     scripts/setup.sh && cargo bench --bench feature_throughput [-- [PIPELINE] [fp32|bf16] BATCH THREADS]
//!
//! `fp32` or `bf16` runs the frozen layers in that number format whatever the pipeline
//! declares (`[backbone] precision`); without either, a declared `auto` is decided as a run
//! on this CPU decides it.
//!
//! Prints one JSON object: `{"batch", "threads", "images_per_second", "runs", "layout"}`,
//! `layout` being the memory layout of the features (`channels_last` or `contiguous`).

use std::path::Path;

use burn::prelude::*;
use runner::model::build_classifier;
use runner::spec::{LayerPlan, Precision, parse_pipeline};

mod common;

/// Batches per run, at most.
const TARGET_BATCHES: usize = 15;

fn main() {
    let common::BenchArgs {
        words,
        batch,
        threads,
    } = common::set_up();
    let pipeline = words
        .iter()
        .find(|arg| Path::new(arg).extension().is_some_and(|ext| ext == "toml"));

    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let file = root.join(pipeline.map_or("pipelines/cats_dogs.toml", String::as_str));
    let text = std::fs::read_to_string(&file).expect("the pipeline file can be read");
    let mut spec = parse_pipeline(&file, text).expect("it parses").spec;
    let weights = spec.backbone.weights_file();
    if !weights.is_some_and(Path::exists) {
        eprintln!("feature_throughput: no weights file, random weights (same speed)");
        spec.backbone.weights = "none".into();
    }
    // `fp32` or `bf16` overrides the pipeline's precision; `auto` is decided as a run on
    // this CPU decides it.
    let named = words.iter().find_map(|arg| match arg.as_str() {
        "fp32" => Some(Precision::Fp32),
        "bf16" => Some(Precision::Bf16),
        _ => None,
    });
    spec.backbone.precision = named.unwrap_or_else(|| spec.backbone.precision.resolve(false));
    let [height, width] = spec.data.image_size;
    let layers = LayerPlan::of(&spec.backbone).expect("the layers resolve");
    let classes = ["cats".to_string(), "dogs".to_string()];
    let device = runner::device::cpu();
    let classifier = build_classifier(&spec, &layers, &classes, &device).expect("the model builds");
    let images = Tensor::<4>::random(
        [batch, 3, height as usize, width as usize],
        burn::tensor::Distribution::Uniform(-1.0, 1.0),
        &device,
    );

    let features = classifier.frozen.forward(images.clone());
    let layout = layout_name(features);
    let runs = common::images_per_second(batch, TARGET_BATCHES, || {
        classifier.frozen.forward(images.clone());
    });
    println!(
        "{{\"batch\": {batch}, \"threads\": {threads}, \"precision\": \"{}\", \
         \"images_per_second\": {:.2}, \"runs\": [{}], \"layout\": \"{layout}\"}}",
        spec.backbone.precision.name(),
        common::median(&runs),
        runs.iter()
            .map(|rate| format!("{rate:.2}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
}

/// Whether LibTorch holds `features` channels-last: what the convolutions ran in.
#[allow(deprecated)]
fn layout_name(features: Tensor<4>) -> &'static str {
    use burn::backend::LibTorch;
    let Ok(primitive) = features.try_into_primitive::<LibTorch>() else {
        return "unknown";
    };
    // NHWC storage: the channel is the innermost dimension.
    if primitive.tensor.stride()[1] == 1 {
        "channels_last"
    } else {
        "contiguous"
    }
}
