//! `runner export --format onnx`: a tiny trained pipeline of each backbone family, exported
//! and run in ONNX Runtime (`--check`: every validation image's probabilities against the
//! runner's, as `runner predict` computes them, to 1e-4), then read by the `onnx` package's
//! checker and ONNX Runtime's Python library (tests/reference/check_onnx.py).
//!
//! A network drawn at random (`weights = "none"`) computes almost the same output for every
//! image: PyTorch's default initialization shrinks the signal at each layer, and a
//! disagreement deep in the backbone would vanish with it. So each whole network is also
//! checked outside a pipeline with weights scaled as He's initialization scales them,
//! whose outputs differ between images by far more than the tolerance.

mod common;

use std::path::Path;

use burn::module::{Module, ModuleMapper, Param};
use burn::prelude::*;
use common::*;
use runner::model::{BackboneLayer, Head, Network};
use runner::onnx::{ClassifierParts, OnnxSession, encode_classifier};
use runner::predict::preprocess_pixels;
use runner::spec::{Activation, Arch, HeadLayerSpec};
use serde_json::Value;

/// A pipeline of `backbone` over `classes` color classes of `side`-pixel images, trained
/// for six epochs (enough to tell colors apart) with a head of `head` (TOML `[[head]]` tables).
fn pipeline(backbone: &str, side: u32, classes: usize, head: &str) -> String {
    let loss = if classes == 2 {
        "binary_crossentropy"
    } else {
        "categorical_crossentropy"
    };
    format!(
        r#"
[pipeline]
name = "onnx"
seed = 3

[data]
train = "data/train"
validation = "data/validation"
image_size = [{side}, {side}]
batch_size = 4

[backbone]
{backbone}

{head}

[train]
optimizer = {{ type = "adam", lr = 0.001 }}
loss = "{loss}"
epochs = 6
"#
    )
}

const BINARY_HEAD: &str = r#"[[head]]
type = "global_avg_pool"
[[head]]
type = "dropout"
rate = 0.2
[[head]]
type = "dense"
units = 1
activation = "sigmoid""#;

/// Flatten, a hidden layer, and a softmax over three classes.
const SOFTMAX_HEAD: &str = r#"[[head]]
type = "flatten"
[[head]]
type = "dense"
units = 8
activation = "relu"
[[head]]
type = "dropout"
rate = 0.1
[[head]]
type = "dense"
units = 3
activation = "softmax""#;

/// Trains the pipeline, exports it with `--check`, and checks the file with the Python
/// reference; returns the reference's findings.
/// With `tells_apart`, the model's probabilities must also differ between the validation
/// images by far more than the tolerance.
fn export_and_check(
    name: &str,
    text: &str,
    side: u32,
    classes: usize,
    tells_apart: bool,
    python: &Path,
) -> Value {
    let dir = tempfile::tempdir().unwrap();
    let colors = [
        ("blue", [40, 60, 200]),
        ("green", [50, 190, 60]),
        ("red", [200, 50, 40]),
    ];
    let colors = &colors[..classes];
    write_color_classes(&dir.path().join("data/train"), colors, 6, side);
    write_color_classes(&dir.path().join("data/validation"), colors, 3, side);
    let file = dir.path().join("pipeline.toml");
    std::fs::write(&file, text).unwrap();
    let store = dir.path().join("store");
    let run = run_ok(&store, &file);

    let out = dir.path().join("model.onnx");
    let exported = runner(
        &store,
        &[
            "export",
            &run,
            "--format",
            "onnx",
            "--out",
            out.to_str().unwrap(),
            "--check",
            "-q",
        ],
    );
    assert!(exported.status.success(), "{name}: {}", stderr(&exported));
    let sidecar: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("model.json")).unwrap())
            .unwrap();
    let check = &sidecar["onnxruntime_check"];
    let report = &check["report"];
    assert_eq!(check["passed"], true, "{name}: {check}");
    assert_eq!(report["images"], 3 * classes, "{name}: {check}");
    let difference = report["max_abs_difference"].as_f64().unwrap();
    assert!(difference <= 1e-4, "{name}: max difference {difference}");
    assert_eq!(report["disagreements"], 0, "{name}: {check}");
    assert_eq!(
        report["onnxruntime_accuracy"], report["runner_accuracy"],
        "{name}: {check}"
    );
    // The run recorded its accuracy at the same checkpoint on the same images.
    let recorded = check["recorded_accuracy"].as_f64().unwrap();
    let accuracy = report["onnxruntime_accuracy"].as_f64().unwrap();
    assert!((recorded - accuracy).abs() < 1e-9, "{name}: {check}");
    // The agreement means something only if the model's outputs differ between images
    // by far more than the tolerance: an export that lost the backbone could otherwise
    // agree with a model whose output hardly depends on its input.
    let spread = probability_spread(&store, &run, &dir.path().join("data/validation"));
    assert!(
        !tells_apart || spread > 0.01,
        "{name}: the probabilities vary by only {spread}"
    );
    eprintln!("{name}: max |difference| {difference:.2e}, spread {spread:.3}");
    assert_contains(&stdout(&exported), "onnxruntime");
    assert_eq!(sidecar["format"], "onnx");
    assert_eq!(sidecar["onnx"]["input"]["shape"][0], "batch");

    let reference = std::process::Command::new(python)
        .arg(repo_root().join("tests/reference/check_onnx.py"))
        .arg(&out)
        .output()
        .unwrap();
    assert!(
        reference.status.success(),
        "{name}: {}",
        String::from_utf8_lossy(&reference.stderr)
    );
    serde_json::from_slice(&reference.stdout).unwrap()
}

/// How much `runner predict`'s probabilities of the first class vary over `images`.
fn probability_spread(store: &Path, run: &str, images: &Path) -> f64 {
    let predicted = succeeded(runner(
        store,
        &[
            "predict",
            run,
            images.to_str().unwrap(),
            "--format",
            "json",
            "-q",
        ],
    ));
    let first: Vec<f64> = stdout(&predicted)
        .lines()
        .map(|line| {
            let row: Value = serde_json::from_str(line).unwrap();
            row["probabilities"][0].as_f64().unwrap()
        })
        .collect();
    let highest = first.iter().copied().fold(f64::MIN, f64::max);
    let lowest = first.iter().copied().fold(f64::MAX, f64::min);
    highest - lowest
}

fn onnx_python() -> Option<std::path::PathBuf> {
    venv_python("onnx-venv", "RUNNER_REQUIRE_ONNXRUNTIME")
}

#[test]
fn efficientnet_lite_with_uneven_same_padding_and_trained_batchnorm() {
    let Some(python) = onnx_python() else { return };
    // Blocks 3 and 5 pad unevenly (stride 2 on an even side), block 4 adds its input; the
    // layers after block1 train, so their BatchNorm is folded only at export. The ImageNet
    // weights (scripts/setup.sh provides them) tell the colors apart at once.
    let weights = repo_root().join("weights/efficientnet-lite0-57934424.pth");
    assert!(
        weights.is_file(),
        "{} is missing: run scripts/setup.sh first",
        weights.display()
    );
    let backbone = format!(
        "arch = \"efficientnet_lite0\"\nweights = \"{}\"\ncut = \"block5\"\nfreeze = {{ to = \"block1\" }}",
        weights.display()
    );
    let found = export_and_check(
        "efficientnet_lite0",
        &pipeline(&backbone, 32, 2, BINARY_HEAD),
        32,
        2,
        true,
        &python,
    );
    assert_eq!(found["classes"], serde_json::json!(["blue", "green"]));
    let ops = found["ops"].to_string();
    for op in [
        "Clip",
        "Conv",
        "Add",
        "GlobalAveragePool",
        "Gemm",
        "Sigmoid",
    ] {
        assert!(ops.contains(op), "{op} missing from {ops}");
    }
}

#[test]
fn inception_v3_through_every_block_kind_with_a_softmax_head() {
    let Some(python) = onnx_python() else { return };
    // Mixed 0-10: blocks A to E, max and average pooling (Keras' count_include_pad = 0).
    // Drawn at random, its output hardly depends on the image (see the top of this file),
    // which the whole-network test below makes up for.
    let backbone = r#"arch = "inception_v3"
weights = "none"
cut = "mixed10"
freeze = { to = "mixed8" }"#;
    let found = export_and_check(
        "inception_v3",
        &pipeline(backbone, 75, 3, SOFTMAX_HEAD),
        75,
        3,
        false,
        &python,
    );
    let ops = found["ops"].to_string();
    for op in [
        "AveragePool",
        "MaxPool",
        "Concat",
        "Flatten",
        "Softmax",
        "Relu",
    ] {
        assert!(ops.contains(op), "{op} missing from {ops}");
    }
    assert_eq!(found["logits_width"], 3);
}

#[test]
fn resnets_basic_and_bottleneck_blocks() {
    let Some(python) = onnx_python() else { return };
    for (arch, cut) in [("resnet18", "layer2"), ("resnet50", "layer2")] {
        let backbone = format!(
            "arch = \"{arch}\"\nweights = \"none\"\ncut = \"{cut}\"\nfreeze = {{ to = \"stem\" }}"
        );
        let found = export_and_check(
            arch,
            &pipeline(&backbone, 32, 2, BINARY_HEAD),
            32,
            2,
            true,
            &python,
        );
        assert!(found["ops"].to_string().contains("MaxPool"), "{found}");
    }
}

#[test]
fn mobilenet_v2_fully_trainable() {
    let Some(python) = onnx_python() else { return };
    let backbone = r#"arch = "mobilenet_v2"
weights = "none"
cut = "features.7"
freeze = "none""#;
    export_and_check(
        "mobilenet_v2",
        &pipeline(backbone, 32, 3, SOFTMAX_HEAD),
        32,
        3,
        true,
        &python,
    );
}

/// Multiplies every convolution kernel by sqrt(6): PyTorch's default uniform bound
/// `1/sqrt(fan_in)` becomes He's `sqrt(6/fan_in)`, which keeps the signal's size through
/// ReLU layers.
struct HeScale;

impl ModuleMapper for HeScale {
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        if D == 4 {
            param.map(|kernel| kernel * 6f32.sqrt())
        } else {
            param
        }
    }
}

#[test]
fn every_whole_network_agrees_with_onnx_runtime_on_inputs_it_tells_apart() {
    if onnx_python().is_none() {
        return;
    }
    let device = runner::device::cpu();
    // The same networks every time: the spread below must not depend on the draw.
    device.seed(11);
    let dir = tempfile::tempdir().unwrap();
    for (arch, side) in [
        (Arch::EfficientnetLite0, 64),
        (Arch::InceptionV3, 75),
        (Arch::Resnet18, 64),
        (Arch::Resnet50, 64),
        (Arch::MobilenetV2, 64),
    ] {
        let backbone: Vec<BackboneLayer> = Network::load(arch, None, &device)
            .unwrap()
            .into_layers()
            .into_iter()
            .map(|layer| layer.map(&mut HeScale).fold_batchnorm())
            .collect();
        let features = backbone.iter().fold(
            Tensor::<4>::zeros([1, 3, side, side], &device),
            |x, layer| layer.forward(x),
        );
        let [_, channels, height, width] = features.dims();
        let specs = [
            HeadLayerSpec::GlobalAvgPool,
            HeadLayerSpec::Dense {
                units: 16,
                activation: Activation::Relu,
            },
            HeadLayerSpec::Dense {
                units: 3,
                activation: Activation::Softmax,
            },
        ];
        let (head, _) = Head::new(&specs, [channels, height, width], &device).unwrap();
        let parts = ClassifierParts {
            preprocess: arch.preprocess(),
            image_size: [side, side],
            backbone: &backbone,
            head: &head,
            classes: 3,
        };
        let file = dir.path().join(format!("{}.onnx", arch.name()));
        std::fs::write(
            &file,
            encode_classifier(&parts, &[], String::new()).unwrap(),
        )
        .unwrap();

        // Four images of noise around different colors, as pixel values.
        let shape = [4, 3, side, side];
        let mut state = 99u32;
        let pixels: Vec<f32> = (0..shape.iter().product::<usize>())
            .map(|index| {
                state = state.wrapping_mul(1_103_515_245).wrapping_add(12345);
                let base = (index / (side * side) * 53 % 200) as f32;
                base + ((state >> 16) % 56) as f32
            })
            .collect();
        let outputs = OnnxSession::open(&file)
            .unwrap()
            .run(pixels.clone(), shape)
            .unwrap();
        let mut input = pixels;
        preprocess_pixels(&mut input, side * side, arch.preprocess());
        let input = Tensor::<4>::from_data(TensorData::new(input, shape), &device);
        let features = backbone.iter().fold(input, |x, layer| layer.forward(x));
        let logits = head
            .forward_logits(features)
            .into_data()
            .try_to_vec::<f32>()
            .unwrap();

        let largest = logits.iter().fold(1f32, |top, value| top.max(value.abs()));
        let difference = logits
            .iter()
            .zip(&outputs.logits)
            .fold(0f32, |top, (a, b)| top.max((a - b).abs()));
        // The first logit of each image: how far apart the images are.
        let firsts: Vec<f32> = logits.iter().step_by(3).copied().collect();
        let spread = firsts.iter().fold(f32::MIN, |a, b| a.max(*b))
            - firsts.iter().fold(f32::MAX, |a, b| a.min(*b));
        eprintln!(
            "{}: max |logit difference| {difference:.2e}, largest logit {largest:.3}, spread {spread:.3}",
            arch.name()
        );
        assert!(
            spread > 0.01,
            "{}: the images' logits differ by only {spread}",
            arch.name()
        );
        assert!(
            difference <= 1e-4 * largest,
            "{}: ONNX Runtime's logits differ by {difference} (largest {largest})",
            arch.name()
        );
    }
}
