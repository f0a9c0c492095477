//! The training loop. The frozen prefix of the backbone never sees autograd; a split whose
//! frozen features were computed beforehand (see `stages`) does not run it at all.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Result, bail};
use burn::module::Module;
use burn::optim::GradientsParams;
use burn::prelude::*;

use super::loss::{loss_from_logits, predicted_classes};
use super::metrics::RunningMetrics;
use super::optim::build_optimizer;
use crate::data::{
    Batch, BatchLoader, DecodedSplit, Preprocess, SkippedFile, default_workers, shuffled_order,
};
use crate::model::{FrozenFeatures, TrainableModel};
use crate::progress::Activity;
use crate::spec::{AugmentSpec, Loss, OptimizerSpec};
use crate::stages::Features;
use runner_core::metrics::EpochMetrics;

pub struct FitOptions<'a> {
    pub device: Device,
    pub loss: Loss,
    pub optimizer: &'a OptimizerSpec,
    pub epochs: usize,
    pub batch_size: usize,
    pub augment: &'a AugmentSpec,
    pub preprocess: Preprocess,
    pub seed: u64,
    pub activity: &'a Activity<'a>,
}

/// What a split gives the trainable model: features computed beforehand, or images that
/// go through the frozen prefix batch by batch.
#[derive(Clone)]
pub enum SplitInput {
    Features(Arc<Features>),
    Images(Arc<DecodedSplit>),
}

impl SplitInput {
    pub fn len(&self) -> usize {
        match self {
            SplitInput::Features(features) => features.len(),
            SplitInput::Images(images) => images.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The split's files that were not readable images.
    pub fn skipped(&self) -> &[SkippedFile] {
        match self {
            SplitInput::Features(features) => &features.skipped,
            SplitInput::Images(images) => &images.skipped,
        }
    }

    fn labels(&self) -> &[u32] {
        match self {
            SplitInput::Features(features) => &features.labels,
            SplitInput::Images(images) => &images.labels,
        }
    }
}

/// What the caller wants after an epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EpochOutcome {
    Continue,
    Stop,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FitStop {
    Completed,
    StoppedEarly,
    Interrupted,
}

/// Trains `model` for `options.epochs` epochs, calling `on_epoch` after each one with its
/// metrics and the current weights.
pub fn fit(
    frozen: &FrozenFeatures,
    mut model: TrainableModel,
    train: &SplitInput,
    validation: &SplitInput,
    options: &FitOptions,
    mut on_epoch: impl FnMut(&EpochMetrics, &TrainableModel) -> Result<EpochOutcome>,
) -> Result<(TrainableModel, FitStop)> {
    let mut optimizer = build_optimizer(options.optimizer);
    let lr = options.optimizer.lr();
    let activity = options.activity;
    for epoch in 1..=options.epochs {
        let started = Instant::now();
        let batches = train.len().div_ceil(options.batch_size);
        let bar = activity.progress_bar(batches, &format!("epoch {epoch}/{}", options.epochs));
        let mut train_metrics = RunningMetrics::default();
        let mut batches = TrainBatches::new(train, options, epoch);
        let mut data_wait = Duration::ZERO;
        let mut batch_index = 0;
        while let Some((features, labels)) = batches.next(frozen, options, &mut data_wait) {
            batch_index += 1;
            if activity.is_interrupted() {
                bar.abandon_with_message("interrupted");
                return Ok((model, FitStop::Interrupted));
            }
            let logits = model.forward_logits(features.autodiff());
            let loss = loss_from_logits(options.loss, logits.clone(), &labels);
            let loss_value = f64::from(loss.clone().into_scalar::<f32>());
            if !loss_value.is_finite() {
                bar.abandon();
                bail!(
                    "the training loss became {loss_value} at epoch {epoch}, batch {batch_index}: try a lower learning rate"
                );
            }
            let predicted = predicted_classes(options.loss, logits.without_autodiff());
            let gradients = GradientsParams::from_grads(loss.backward(), &model);
            model = optimizer.step(lr, model, gradients);
            train_metrics.add_batch(loss_value, &predicted, &labels);
            (activity.heartbeat)();
            bar.set_message(format!(
                "loss {:.4} accuracy {:.4}",
                train_metrics.loss(),
                train_metrics.accuracy()
            ));
            bar.inc(1);
        }
        bar.finish_and_clear();

        let validation_metrics = evaluate(frozen, &model, validation, options);
        // A diverged model can keep a finite training loss for a batch and still give an
        // infinite validation loss; neither belongs in the history.
        if !validation_metrics.loss().is_finite() {
            bail!(
                "the validation loss became {} at epoch {epoch}: try a lower learning rate",
                validation_metrics.loss()
            );
        }
        let metrics = EpochMetrics {
            epoch,
            loss: train_metrics.loss(),
            accuracy: train_metrics.accuracy(),
            val_loss: validation_metrics.loss(),
            val_accuracy: validation_metrics.accuracy(),
            lr,
            seconds: started.elapsed().as_secs_f64(),
            data_wait_seconds: data_wait.as_secs_f64(),
        };
        if on_epoch(&metrics, &model)? == EpochOutcome::Stop {
            return Ok((model, FitStop::StoppedEarly));
        }
    }
    Ok((model, FitStop::Completed))
}

/// One epoch's training batches: slices of cached features in a shuffled order, or
/// images from the loader through the frozen prefix.
enum TrainBatches<'a> {
    Features {
        features: &'a Features,
        batches: std::vec::IntoIter<Vec<usize>>,
    },
    Images {
        images: &'a Arc<DecodedSplit>,
        loader: BatchLoader,
    },
}

impl<'a> TrainBatches<'a> {
    fn new(train: &'a SplitInput, options: &FitOptions, epoch: usize) -> Self {
        match train {
            SplitInput::Features(features) => {
                let order = shuffled_order(train.len(), options.seed, epoch);
                let batches: Vec<Vec<usize>> = order
                    .chunks(options.batch_size)
                    .map(<[usize]>::to_vec)
                    .collect();
                TrainBatches::Features {
                    features,
                    batches: batches.into_iter(),
                }
            }
            SplitInput::Images(images) => TrainBatches::Images {
                images,
                loader: BatchLoader::shuffled(
                    images.clone(),
                    options.batch_size,
                    options.preprocess,
                    options.augment,
                    options.seed,
                    epoch,
                    default_workers(),
                ),
            },
        }
    }

    /// The next batch's frozen features and labels; the time spent blocked on the loader
    /// is added to `data_wait`.
    fn next(
        &mut self,
        frozen: &FrozenFeatures,
        options: &FitOptions,
        data_wait: &mut Duration,
    ) -> Option<(Tensor<4>, Vec<u32>)> {
        match self {
            TrainBatches::Features { features, batches } => {
                let indices = batches.next()?;
                let labels = indices.iter().map(|&i| features.labels[i]).collect();
                Some((features.select(&indices), labels))
            }
            TrainBatches::Images { images, loader } => {
                let waiting = Instant::now();
                let batch = loader.next()?;
                *data_wait += waiting.elapsed();
                let labels = batch.labels.clone();
                let features = frozen.forward(batch_tensor(batch, images, &options.device));
                Some((features, labels))
            }
        }
    }
}

/// Loss and accuracy of `model` on a split that is not trained on (validation, test).
pub fn evaluate(
    frozen: &FrozenFeatures,
    model: &TrainableModel,
    split: &SplitInput,
    options: &FitOptions,
) -> RunningMetrics {
    let model = model.valid();
    let mut metrics = RunningMetrics::default();
    let mut add = |features: Tensor<4>, labels: &[u32]| {
        let logits = model.forward_logits(features);
        let loss =
            f64::from(loss_from_logits(options.loss, logits.clone(), labels).into_scalar::<f32>());
        metrics.add_batch(loss, &predicted_classes(options.loss, logits), labels);
    };
    match split {
        SplitInput::Features(features) => {
            let order: Vec<usize> = (0..split.len()).collect();
            for indices in order.chunks(options.batch_size) {
                let labels = &split.labels()[indices[0]..=indices[indices.len() - 1]];
                add(features.select(indices), labels);
            }
        }
        SplitInput::Images(images) => {
            for batch in
                BatchLoader::sequential(images.clone(), options.batch_size, options.preprocess)
            {
                let labels = batch.labels.clone();
                add(
                    frozen.forward(batch_tensor(batch, images, &options.device)),
                    &labels,
                );
            }
        }
    }
    metrics
}

fn batch_tensor(batch: Batch, split: &DecodedSplit, device: &Device) -> Tensor<4> {
    let shape = [batch.len(), 3, split.height, split.width];
    Tensor::from_data(TensorData::new(batch.images, shape), device)
}
