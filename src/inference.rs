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
use crate::exec::FROZEN_LAYERS;
use crate::model::{Classifier, FrozenFeatures, TrainableModel, build_classifier};
use crate::plan::Plan;
use crate::spec::{LayerPlan, Pipeline, PipelineSpec, phase_spec};
use crate::store::{RunRecord, Store};
use crate::train::probability_rows;

/// A recorded run's classifier with its trained weights.
pub struct TrainedModel {
    pub pipeline: Pipeline,
    pub classifier: Classifier,
    pub classes: Vec<String>,
    pub checkpoint: PathBuf,
}

/// Rebuilds the run's classifier from its own files: its best checkpoint (or the last
/// one) and the frozen layers it recorded.
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
    let damaged = || format!("the store's record of run {} is damaged", run.id);
    let spec = phase_spec(&pipeline.spec, phase).with_context(damaged)?;
    let mut classifier = match run.artifacts.get(FROZEN_LAYERS) {
        Some(frozen) => {
            let first = phase_spec(&pipeline.spec, 0).with_context(damaged)?;
            with_recorded_frozen_layers(&spec, &first, run, &store.artifact_file(frozen)?, device)?
        }
        // Runs recorded before the frozen layers were kept: they come from the weights file
        // again, which for `weights = "none"` means a fresh random draw.
        None => {
            if pipeline.spec.backbone.weights_file().is_none() {
                tracing::warn!(
                    "run {} was recorded before runs kept their frozen layers, and its backbone had no weights file: its frozen layers are drawn afresh, not the ones it trained on",
                    run.id
                );
            }
            build_classifier(&spec, &LayerPlan::of(&spec.backbone)?, &run.classes, device)?
        }
    };
    let checkpoint = store.artifact_file(artifact)?;
    classifier.trainable = classifier
        .trainable
        .try_load_file(&checkpoint)
        .map_err(|err| cannot_load(&checkpoint, &err))?;
    Ok(TrainedModel {
        pipeline,
        classifier,
        classes: run.classes.clone(),
        checkpoint,
    })
}

/// The classifier of phase spec `spec` with the frozen layers in `file`, which hold the
/// frozen prefix of the run's first phase (`first`), built without reading the weights
/// file: every weight comes from the run.
fn with_recorded_frozen_layers(
    spec: &PipelineSpec,
    first: &PipelineSpec,
    run: &RunRecord,
    file: &Path,
    device: &Device,
) -> Result<Classifier> {
    let skeleton = |spec: &PipelineSpec| {
        let mut spec = spec.clone();
        spec.backbone.weights = PathBuf::from("none");
        build_classifier(&spec, &LayerPlan::of(&spec.backbone)?, &run.classes, device)
    };
    let mut classifier = skeleton(spec)?;
    let first_frozen = if spec == first {
        classifier.frozen.clone()
    } else {
        skeleton(first)?.frozen
    };
    let frozen = first_frozen
        .try_load_file(file)
        .map_err(|err| cannot_load(file, &err))?;
    classifier.frozen = frozen.prefix_of(&classifier.frozen);
    Ok(classifier)
}

fn cannot_load(file: &Path, err: &impl std::fmt::Debug) -> anyhow::Error {
    crate::error::input_error(format!(
        "cannot load checkpoint `{}`: {err:?}",
        file.display()
    ))
}

#[derive(Debug, Clone, Serialize)]
pub struct Prediction {
    pub image: String,
    pub class: String,
    pub probability: f64,
    /// Probability of every class, in class order.
    pub probabilities: Vec<f64>,
}

impl TrainedModel {
    /// Class probabilities of a batch of preprocessed images `[n, 3, height, width]`, a
    /// row of `classes` values per image; with `flip`, averaged with those of the
    /// horizontally mirrored images (test-time augmentation).
    pub fn probabilities(&self, images: Tensor<4>, flip: bool) -> Result<Vec<f64>> {
        let mut probabilities = self.probabilities_of(images.clone());
        if flip {
            probabilities = (probabilities + self.probabilities_of(images.flip([3]))) / 2.0;
        }
        probabilities
            .into_data()
            .convert::<f64>()
            .try_into_vec::<f64>()
            .map_err(|err| anyhow::anyhow!("{err:?}"))
    }

    fn probabilities_of(&self, images: Tensor<4>) -> Tensor<2> {
        let features = self.classifier.frozen.forward(images);
        probability_rows(self.classifier.trainable.valid().forward_logits(features))
    }

    /// The prediction for `image` from its row of class probabilities.
    pub fn prediction(&self, image: String, row: &[f64]) -> Prediction {
        let best = most_probable(row);
        Prediction {
            image,
            class: self.classes[best].clone(),
            probability: row[best],
            probabilities: row.to_vec(),
        }
    }
}

/// The index of the highest of a row of class probabilities (the last of equal ones).
pub fn most_probable(row: &[f64]) -> usize {
    (0..row.len())
        .max_by(|a, b| row[*a].total_cmp(&row[*b]))
        .unwrap_or(0)
}

/// The run's validation images with their labels (indices into the run's classes), as
/// planning lists them: a held-out part of the training folder is drawn again with the
/// run's seed.
pub fn validation_images(
    store: &Store,
    run: &RunRecord,
    model: &TrainedModel,
    on_cuda: bool,
) -> Result<Vec<(PathBuf, u32)>> {
    let plan = Plan::for_pipeline(
        model.pipeline.clone(),
        run.trial.unwrap_or(0),
        on_cuda,
        store,
    )?;
    let trial = &plan.trials[0];
    let validation = &trial.files[1];
    if run
        .stages
        .get("manifest.validation")
        .is_some_and(|recorded| *recorded != trial.manifests[1].key)
    {
        tracing::warn!(
            "the validation images are not the ones run {} validated on (files changed since): the figures are for the files as they are now",
            run.id
        );
    }
    // Labels are indices into the run's classes: a split whose classes are others now
    // (a class folder added or renamed since) cannot be scored with this model.
    if validation.classes != model.classes {
        bail_input!(
            "run {} was trained on the classes {:?}, but its validation images now have {:?}",
            run.id,
            model.classes,
            validation.classes
        );
    }
    Ok(validation.files.clone())
}

/// The whole classifier as one module, for export.
#[derive(Module, Debug)]
struct ExportedClassifier {
    frozen: FrozenFeatures,
    trainable: TrainableModel,
}

/// Writes the classifier's weights (the frozen layers' BatchNorm folded) as safetensors.
pub fn export_safetensors(model: &TrainedModel, out: &Path) -> Result<()> {
    let exported = ExportedClassifier {
        frozen: model.classifier.frozen.clone(),
        trainable: model.classifier.trainable.valid(),
    };
    let partial = out.with_extension("safetensors.partial");
    exported
        .save_into(&mut SafetensorsStore::from_file(&partial))
        .map_err(|err| anyhow::anyhow!("cannot write `{}`: {err}", partial.display()))?;
    std::fs::rename(&partial, out).with_context(|| format!("cannot write `{}`", out.display()))
}

/// What the JSON file beside an export says about the model, whatever its format: the
/// class names, the input size and preprocessing, and how the model was built.
pub fn export_metadata(
    model: &TrainedModel,
    run: &RunRecord,
) -> serde_json::Map<String, serde_json::Value> {
    let spec = &model.pipeline.spec;
    let serde_json::Value::Object(metadata) = json!({
        "run": run.id,
        "pipeline": run.pipeline,
        "classes": model.classes,
        "image_size": spec.data.image_size,
        "resize": "decoded as RGB and resized to image_size ([height, width]) bilinearly with antialiasing, ignoring the aspect ratio",
        "preprocess": {
            "formula": "value = byte * scale + offset, per RGB channel",
            "scale": model.classifier.preprocess.scale,
            "offset": model.classifier.preprocess.offset,
        },
        "backbone": {
            "arch": spec.backbone.arch.name(),
            "layers": model.classifier.layer_names,
        },
        "head": spec.head,
        "output": {
            "units": model.classifier.output.units,
            "activation": model.classifier.output.activation,
        },
        "checkpoint": model.checkpoint,
    }) else {
        unreachable!("a JSON object literal")
    };
    metadata
}
