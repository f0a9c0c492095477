//! A trained classifier as an ONNX model (`runner export --format onnx`), and the check that
//! ONNX Runtime computes from it what the runner computes (`--check`).

mod classifier;
mod graph;
mod proto;
mod runtime;

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use burn::module::Module;
use prost::Message;
use serde::Serialize;

use crate::inference::{TrainedModel, most_probable};
use crate::model::BackboneLayer;
use crate::predict::{batch_pixels, model_input};
use crate::progress::Activity;
pub use classifier::ClassifierParts;
use classifier::classifier_graph;
pub use classifier::{INPUT, LOGITS, PROBABILITIES};
pub use proto::OPSET;
use proto::{IR_VERSION, ModelProto, OperatorSetIdProto, StringStringEntryProto};
pub use runtime::{OnnxSession, Outputs};

/// The largest difference `--check` accepts between a probability from ONNX Runtime and the
/// runner's: float32 kernels that sum in another order differ by far less.
pub const TOLERANCE: f64 = 1e-4;

/// Writes `model` to `out` as an ONNX model (opset 17, a dynamic batch dimension); the
/// model's metadata carries the class names and the input size.
pub fn export_onnx(model: &TrainedModel, run_id: &str, out: &Path) -> Result<()> {
    let classifier = &model.classifier;
    // Every layer, frozen or trained, with its BatchNorm folded as inference runs it.
    let backbone: Vec<BackboneLayer> = classifier
        .frozen
        .layers()
        .iter()
        .cloned()
        .chain(classifier.trainable.backbone.iter().map(Module::valid))
        .map(BackboneLayer::fold_batchnorm)
        .collect();
    let head = classifier.trainable.head.valid();
    let [height, width] = model
        .pipeline
        .spec
        .data
        .image_size
        .map(|side| side as usize);
    let parts = ClassifierParts {
        preprocess: classifier.preprocess,
        image_size: [height, width],
        backbone: &backbone,
        head: &head,
        classes: model.classes.len(),
    };
    let metadata = [
        ("run", run_id.to_string()),
        ("classes", serde_json::to_string(&model.classes)?),
        ("image_size", serde_json::to_string(&[height, width])?),
    ];
    let doc = format!(
        "{} classifier of run {run_id}: RGB pixel values 0-255 in, class probabilities out",
        model.pipeline.spec.backbone.arch.name()
    );
    let bytes = encode_classifier(&parts, &metadata, doc)?;
    let partial = out.with_extension("onnx.partial");
    std::fs::write(&partial, bytes)
        .with_context(|| format!("cannot write `{}`", partial.display()))?;
    std::fs::rename(&partial, out).with_context(|| format!("cannot write `{}`", out.display()))
}

/// The ONNX model of a classifier's parts (opset 17, a dynamic batch dimension), with
/// `metadata` as its metadata properties.
pub fn encode_classifier(
    parts: &ClassifierParts,
    metadata: &[(&str, String)],
    doc: String,
) -> Result<Vec<u8>> {
    let onnx = ModelProto {
        ir_version: IR_VERSION,
        producer_name: "runner".into(),
        producer_version: env!("CARGO_PKG_VERSION").into(),
        doc_string: doc,
        graph: Some(classifier_graph(parts)?),
        opset_import: vec![OperatorSetIdProto {
            domain: String::new(),
            version: OPSET,
        }],
        metadata_props: metadata
            .iter()
            .map(|(key, value)| StringStringEntryProto {
                key: (*key).into(),
                value: value.clone(),
            })
            .collect(),
    };
    Ok(onnx.encode_to_vec())
}

/// What ONNX Runtime computed from an exported model, against the runner's own model.
#[derive(Debug, Clone, Serialize)]
pub struct CheckReport {
    pub library: PathBuf,
    pub images: usize,
    /// Accuracy of ONNX Runtime's most probable class.
    pub onnxruntime_accuracy: f64,
    /// The same from the runner's model (as `runner predict` computes it).
    pub runner_accuracy: f64,
    /// Images whose most probable class differs between the two.
    pub disagreements: usize,
    /// The largest difference between a probability of the two.
    pub max_abs_difference: f64,
    pub tolerance: f64,
}

/// Runs `images` (with their true labels) through the exported model in ONNX Runtime and
/// through the runner's model, batch by batch, from the same decoded pixels.
pub fn check_onnx(
    model: &TrainedModel,
    exported: &Path,
    images: &[(PathBuf, u32)],
    activity: &Activity,
) -> Result<CheckReport> {
    let mut session = OnnxSession::open(exported)?;
    let spec = &model.pipeline.spec;
    let [height, width] = spec.data.image_size;
    let classes = model.classes.len();
    let device = crate::device::cpu();
    let bar = activity.progress_bar(images.len(), "check");
    let mut report = CheckReport {
        library: session.library.clone(),
        images: images.len(),
        onnxruntime_accuracy: 0.0,
        runner_accuracy: 0.0,
        disagreements: 0,
        max_abs_difference: 0.0,
        tolerance: TOLERANCE,
    };
    let (mut onnx_correct, mut runner_correct) = (0usize, 0usize);
    for batch in images.chunks(spec.data.batch_size) {
        let paths: Vec<PathBuf> = batch.iter().map(|(path, _)| path.clone()).collect();
        let pixels = batch_pixels(&paths, width, height, spec.data.image_limits())?;
        let shape = [batch.len(), 3, height as usize, width as usize];
        let onnx_rows = session.run(pixels.clone(), shape)?.probabilities;
        let input = model_input(model, pixels, shape, &device);
        let runner_rows = model.probabilities(input, false)?;
        anyhow::ensure!(
            onnx_rows.len() == runner_rows.len() && runner_rows.len() == batch.len() * classes,
            "ONNX Runtime gave {} probabilities for {} images of {classes} classes",
            onnx_rows.len(),
            batch.len()
        );
        for ((onnx, runner), (_, label)) in onnx_rows
            .chunks(classes)
            .zip(runner_rows.chunks(classes))
            .zip(batch)
        {
            let onnx: Vec<f64> = onnx.iter().map(|p| f64::from(*p)).collect();
            let (onnx_class, runner_class) = (most_probable(&onnx), most_probable(runner));
            onnx_correct += usize::from(onnx_class == *label as usize);
            runner_correct += usize::from(runner_class == *label as usize);
            report.disagreements += usize::from(onnx_class != runner_class);
            for (a, b) in onnx.iter().zip(runner) {
                report.max_abs_difference = report.max_abs_difference.max((a - b).abs());
            }
        }
        bar.inc(batch.len() as u64);
    }
    bar.finish_and_clear();
    let count = images.len().max(1) as f64;
    report.onnxruntime_accuracy = onnx_correct as f64 / count;
    report.runner_accuracy = runner_correct as f64 / count;
    Ok(report)
}
