//! Using a recorded run's model: rebuilding it from the stored pipeline text and its
//! checkpoint, to predict images (`runner predict`) or export it (`runner export`).

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use burn::module::Module;
use burn::prelude::*;
use burn::store::{ModuleSnapshot, SafetensorsStore};
use serde::Serialize;
use serde_json::json;

use crate::bail_input;
use crate::data::decode_resized;
use crate::model::{Classifier, FrozenFeatures, TrainableModel, build_classifier};
use crate::spec::{Activation, Pipeline, phase_spec};
use crate::store::{RunRecord, Store};

/// A recorded run's classifier with its trained weights.
pub struct TrainedModel {
    pub pipeline: Pipeline,
    pub classifier: Classifier,
    pub classes: Vec<String>,
    pub checkpoint: PathBuf,
}

/// Rebuilds the run's classifier and loads its best checkpoint (or the last one).
pub fn load_trained(store: &Store, run: &RunRecord, device: &Device) -> Result<TrainedModel> {
    let Some(artifact) = run.artifacts.get("best").or(run.artifacts.get("last")) else {
        bail_input!(
            "run {} has no checkpoint: it ended before its first epoch",
            run.id
        );
    };
    let pipeline = store.run_pipeline(run)?;
    // The checkpoint holds the trainable part of the phase that saved it.
    let phase = artifact.phase.unwrap_or(0);
    let phase_spec = phase_spec(&pipeline.spec, phase)
        .with_context(|| format!("the store's record of run {} is damaged", run.id))?;
    let mut classifier = build_classifier(&phase_spec, &run.classes, device)?;
    let checkpoint = store.artifact_path(artifact);
    classifier.trainable = classifier
        .trainable
        .try_load_file(&checkpoint)
        .map_err(|err| {
            crate::error::input_error(format!(
                "cannot load checkpoint `{}`: {err:?}",
                checkpoint.display()
            ))
        })?;
    Ok(TrainedModel {
        pipeline,
        classifier,
        classes: run.classes.clone(),
        checkpoint,
    })
}

#[derive(Debug, Clone, Serialize)]
pub struct Prediction {
    pub image: String,
    pub class: String,
    pub probability: f64,
    /// Probability of every class, in class order.
    pub probabilities: Vec<f64>,
}

/// The most likely class of each image and its probability.
pub fn predict(
    model: &TrainedModel,
    images: &[PathBuf],
    device: &Device,
) -> Result<Vec<Prediction>> {
    let [height, width] = model.pipeline.spec.data.image_size;
    let preprocess = model.classifier.preprocess;
    let plane = (height * width) as usize;
    let mut input = vec![0f32; images.len() * 3 * plane];
    for (slot, path) in images.iter().enumerate() {
        let pixels = decode_resized(path, width, height).map_err(|reason| {
            crate::error::input_error(format!("`{}`: {reason}", path.display()))
        })?;
        for (index, pixel) in pixels.chunks_exact(3).enumerate() {
            for channel in 0..3 {
                input[(slot * 3 + channel) * plane + index] = f32::from(pixel[channel])
                    * preprocess.scale[channel]
                    + preprocess.offset[channel];
            }
        }
    }
    let shape = [images.len(), 3, height as usize, width as usize];
    let batch = Tensor::<4>::from_data(TensorData::new(input, shape), device);
    let features = model.classifier.frozen.forward(batch);
    let logits = model.classifier.trainable.valid().forward_logits(features);
    let probabilities = match model.classifier.output.activation {
        Activation::Sigmoid => {
            let positive = burn::tensor::activation::sigmoid(logits);
            Tensor::cat(vec![positive.clone().neg().add_scalar(1.0), positive], 1)
        }
        _ => burn::tensor::activation::softmax(logits, 1),
    };
    let classes = model.classes.len();
    let values = probabilities
        .into_data()
        .convert::<f64>()
        .try_into_vec::<f64>()
        .map_err(|err| anyhow::anyhow!("{err:?}"))?;
    Ok(images
        .iter()
        .zip(values.chunks(classes))
        .map(|(path, row)| {
            let best = (0..classes)
                .max_by(|a, b| row[*a].total_cmp(&row[*b]))
                .unwrap_or(0);
            Prediction {
                image: path.display().to_string(),
                class: model.classes[best].clone(),
                probability: row[best],
                probabilities: row.to_vec(),
            }
        })
        .collect())
}

/// The whole classifier as one module, for export.
#[derive(Module, Debug)]
struct ExportedClassifier {
    frozen: FrozenFeatures,
    trainable: TrainableModel,
}

/// Writes the classifier's weights as safetensors at `out` and, beside it, `OUT.json` with
/// the class names, the input size and preprocessing, and how the model was built.
pub fn export(model: TrainedModel, run: &RunRecord, out: &Path) -> Result<PathBuf> {
    if out.extension().and_then(|e| e.to_str()) != Some("safetensors") {
        bail_input!(
            "`--out {}`: the export is a .safetensors file",
            out.display()
        );
    }
    let spec = &model.pipeline.spec;
    let exported = ExportedClassifier {
        frozen: model.classifier.frozen,
        trainable: model.classifier.trainable.valid(),
    };
    let partial = out.with_extension("safetensors.partial");
    exported
        .save_into(&mut SafetensorsStore::from_file(&partial))
        .map_err(|err| anyhow::anyhow!("cannot write `{}`: {err}", partial.display()))?;
    std::fs::rename(&partial, out).with_context(|| format!("cannot write `{}`", out.display()))?;
    let metadata = json!({
        "run": run.id,
        "pipeline": run.pipeline,
        "classes": model.classes,
        "image_size": spec.data.image_size,
        "input_layout": "NCHW, RGB",
        "preprocess": {
            "formula": "value = byte * scale + offset, per RGB channel",
            "scale": model.classifier.preprocess.scale,
            "offset": model.classifier.preprocess.offset,
        },
        "backbone": {
            "arch": spec.backbone.arch.name(),
            "layers": model.classifier.layer_names,
            "batchnorm": "folded into the convolutions of the frozen layers (frozen.*)",
        },
        "head": spec.head,
        "output": {
            "units": model.classifier.output.units,
            "activation": model.classifier.output.activation,
            "note": "the weights give logits; apply the activation for probabilities",
        },
        "checkpoint": model.checkpoint,
    });
    let metadata_path = out.with_extension("json");
    std::fs::write(&metadata_path, serde_json::to_string_pretty(&metadata)?)
        .with_context(|| format!("cannot write `{}`", metadata_path.display()))?;
    Ok(metadata_path)
}
