//! Training throughput of the course's model shape (pipelines/cats_dogs_inception.toml:
//! InceptionV3 cut at mixed7, Flatten, Dense(1024), Dropout, Dense(1), RMSprop) at
//! 150x150: images per second of one training step (frozen prefix forward, trainable
//! forward, backward, optimizer step) on random batches already in memory, for
//!   (a) `frozen`: the whole backbone frozen (runs as inference, BatchNorm folded);
//!   (b) `top_unfrozen`: mixed6 and mixed7 trainable;
//!   (c) `cached_features`: (a) once its features are cached (what `runner run` does when
//!       nothing random comes before the head), for reference.
//! The PyTorch reference is bench/train_reference.py, same shapes, batch and threads.
//!
//!     scripts/setup.sh && cargo bench --bench train_throughput [-- [CASE...] [bf16] BATCH THREADS]
//!
//! `bf16` declares `precision = "bf16"`: the frozen prefix in bfloat16 and the trainable
//! convolutions in mixed precision (where bfloat16 is native).

use std::path::Path;

use burn::optim::GradientsParams;
use burn::prelude::*;
use runner::model::build_classifier;
use runner::spec::{FreezeRange, FreezeSpec, LayerPlan, LayerRef, parse_pipeline};
use runner::train::{build_optimizer, loss_from_logits};

mod common;

/// Steps per run, at most.
const TARGET_STEPS: usize = 10;

fn main() {
    let common::BenchArgs {
        words,
        batch,
        threads,
    } = common::set_up();
    // Case names among the arguments run only those cases (for profiling one).
    let only: Vec<&str> = words
        .iter()
        .map(String::as_str)
        .filter(|arg| ["frozen", "cached_features", "top_unfrozen"].contains(arg))
        .collect();
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let file = root.join("pipelines/cats_dogs_inception.toml");
    let text = std::fs::read_to_string(&file).expect("the course pipeline is in the repository");
    let mut spec = parse_pipeline(&file, text).expect("it parses").spec;
    spec.backbone.weights = "none".into();
    if words.iter().any(|arg| arg == "bf16") {
        spec.backbone.precision = runner::spec::Precision::Bf16;
    }
    let classes = ["cats".to_string(), "dogs".to_string()];
    let device = runner::device::cpu();
    let images = Tensor::<4>::random(
        [batch, 3, 150, 150],
        burn::tensor::Distribution::Uniform(-1.0, 1.0),
        &device,
    );
    let labels: Vec<u32> = (0..batch as u32).map(|i| i % 2).collect();

    let mut results = Vec::new();
    for (case, freeze) in [
        (
            "frozen",
            FreezeSpec::Keyword(runner::spec::FreezeKeyword::All),
        ),
        (
            "top_unfrozen",
            FreezeSpec::Range(FreezeRange {
                from: None,
                to: Some(LayerRef::Name("mixed5".into())),
            }),
        ),
    ] {
        spec.backbone.freeze = freeze;
        let layers = LayerPlan::of(&spec.backbone).expect("the layers resolve");
        let classifier =
            build_classifier(&spec, &layers, &classes, &device).expect("the model builds");
        let loss = spec.train.loss.options();
        let mut model = classifier.trainable.clone();
        let mut optimizer = build_optimizer(&spec.train.optimizer);
        let features = classifier.frozen.forward(images.clone());
        let mut step = |cached: bool| {
            let input = if cached {
                features.clone()
            } else {
                classifier.frozen.forward(images.clone())
            };
            let logits = model.forward_logits(input.autodiff());
            let grads = GradientsParams::from_grads(
                loss_from_logits(loss, logits, &labels).backward(),
                &model,
            );
            model = optimizer.step(1e-4, model.clone(), grads);
        };
        let cases: &[(&str, bool)] = if case == "frozen" {
            &[("frozen", false), ("cached_features", true)]
        } else {
            &[("top_unfrozen", false)]
        };
        for &(name, cached) in cases {
            if !only.is_empty() && !only.contains(&name) {
                continue;
            }
            let rates = common::images_per_second(batch, TARGET_STEPS, || step(cached));
            results.push(format!("\"{name}\": {:.2}", common::median(&rates)));
        }
    }
    println!(
        "{{\"batch\": {batch}, \"threads\": {threads}, \"images_per_second\": {{{}}}}}",
        results.join(", ")
    );
}
