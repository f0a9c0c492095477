//! The training loop. The frozen prefix of the backbone never sees autograd; when nothing
//! random happens before it (no augmentation), its features are computed once and reused
//! by every epoch, and validation features are always computed once.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use anyhow::{Result, bail};
use burn::module::Module;
use burn::optim::GradientsParams;
use burn::prelude::*;
use indicatif::{ProgressBar, ProgressStyle};

use super::loss::{loss_from_logits, predicted_classes};
use super::metrics::RunningMetrics;
use super::optim::build_optimizer;
use crate::data::{Batch, BatchLoader, DecodedSplit, Preprocess, shuffled_order};
use crate::model::{FrozenFeatures, TrainableModel};
use crate::spec::{AugmentSpec, Loss, OptimizerSpec};
use runner_core::metrics::EpochMetrics;

/// Cached features larger than this are recomputed each epoch instead.
const FEATURE_CACHE_BUDGET_BYTES: usize = 8 << 30;

pub struct FitOptions<'a> {
    pub device: Device,
    pub loss: Loss,
    pub optimizer: &'a OptimizerSpec,
    pub epochs: usize,
    pub batch_size: usize,
    pub augment: &'a AugmentSpec,
    pub preprocess: Preprocess,
    pub seed: u64,
    pub show_progress: bool,
    /// Set from another thread (Ctrl-C) to stop after the current batch.
    pub interrupted: &'a AtomicBool,
    /// Called after every batch, to show the run is alive.
    pub heartbeat: &'a dyn Fn(),
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

/// Trains `model` on the frozen prefix's features for `options.epochs` epochs, calling
/// `on_epoch` after each one with its metrics and the current weights.
pub fn fit(
    frozen: &FrozenFeatures,
    mut model: TrainableModel,
    train: Arc<DecodedSplit>,
    validation: Arc<DecodedSplit>,
    options: &FitOptions,
    mut on_epoch: impl FnMut(&EpochMetrics, &TrainableModel) -> Result<EpochOutcome>,
) -> Result<(TrainableModel, FitStop)> {
    let mut optimizer = build_optimizer(options.optimizer);
    let lr = options.optimizer.lr();
    let feature_bytes = |split: &DecodedSplit, features: usize| split.len() * features * 4;
    let probe = extract_batch(frozen, options, &validation, 1);
    let features_per_image = probe.dims().iter().skip(1).product::<usize>();

    let validation_features =
        if feature_bytes(&validation, features_per_image) <= FEATURE_CACHE_BUDGET_BYTES {
            Some(extract_features(
                frozen,
                &validation,
                options,
                "validation features",
            )?)
        } else {
            None
        };
    let train_features = if options.augment.is_identity()
        && feature_bytes(&train, features_per_image) <= FEATURE_CACHE_BUDGET_BYTES
    {
        Some(extract_features(
            frozen,
            &train,
            options,
            "training features",
        )?)
    } else {
        tracing::info!("augmentation is on: the frozen backbone runs on every training batch");
        None
    };

    for epoch in 1..=options.epochs {
        let started = Instant::now();
        let batches = train.len().div_ceil(options.batch_size);
        let bar = progress_bar(
            options,
            batches,
            &format!("epoch {epoch}/{}", options.epochs),
        );
        let mut train_metrics = RunningMetrics::default();
        let order = shuffled_order(train.len(), options.seed, epoch);
        let feature_batches: Box<dyn Iterator<Item = (Tensor<4>, Vec<u32>)>> = match &train_features
        {
            Some(cached) => Box::new(order.chunks(options.batch_size).map(|indices| {
                (
                    cached.select(indices, &options.device),
                    indices.iter().map(|&i| train.labels[i]).collect(),
                )
            })),
            None => Box::new(
                BatchLoader::shuffled(
                    train.clone(),
                    options.batch_size,
                    options.preprocess,
                    options.augment,
                    options.seed,
                    epoch,
                )
                .map(|batch| {
                    let labels = batch.labels.clone();
                    (
                        frozen.forward(batch_tensor(batch, &train, &options.device)),
                        labels,
                    )
                }),
            ),
        };
        for (batch_index, (features, labels)) in feature_batches.enumerate() {
            if options.interrupted.load(Ordering::SeqCst) {
                bar.abandon_with_message("interrupted");
                return Ok((model, FitStop::Interrupted));
            }
            let logits = model.forward_logits(features.autodiff());
            let loss = loss_from_logits(options.loss, logits.clone(), &labels);
            let loss_value = f64::from(loss.clone().into_scalar::<f32>());
            if !loss_value.is_finite() {
                bar.abandon();
                bail!(
                    "the training loss became {loss_value} at epoch {epoch}, batch {}: try a lower learning rate",
                    batch_index + 1
                );
            }
            let predicted = predicted_classes(options.loss, logits.without_autodiff());
            let gradients = GradientsParams::from_grads(loss.backward(), &model);
            model = optimizer.step(lr, model, gradients);
            train_metrics.add_batch(loss_value, &predicted, &labels);
            (options.heartbeat)();
            bar.set_message(format!(
                "loss {:.4} accuracy {:.4}",
                train_metrics.loss(),
                train_metrics.accuracy()
            ));
            bar.inc(1);
        }
        bar.finish_and_clear();

        let validation_metrics = evaluate(
            frozen,
            &model,
            &validation,
            validation_features.as_ref(),
            options,
        );
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
        };
        if on_epoch(&metrics, &model)? == EpochOutcome::Stop {
            return Ok((model, FitStop::StoppedEarly));
        }
    }
    Ok((model, FitStop::Completed))
}

/// Frozen features of a whole split, computed once, in file order.
struct CachedFeatures {
    features: Tensor<4>,
}

impl CachedFeatures {
    fn select(&self, indices: &[usize], device: &Device) -> Tensor<4> {
        let indices = Tensor::<1, Int>::from_ints(
            indices
                .iter()
                .map(|&index| index as i64)
                .collect::<Vec<_>>()
                .as_slice(),
            device,
        );
        self.features.clone().select(0, indices)
    }
}

fn extract_features(
    frozen: &FrozenFeatures,
    split: &Arc<DecodedSplit>,
    options: &FitOptions,
    label: &str,
) -> Result<CachedFeatures> {
    let loader = BatchLoader::sequential(split.clone(), options.batch_size, options.preprocess);
    let bar = progress_bar(options, loader.batches(), label);
    let started = Instant::now();
    let mut parts = Vec::new();
    for batch in loader {
        if options.interrupted.load(Ordering::SeqCst) {
            bail!("interrupted while computing {label}");
        }
        parts.push(frozen.forward(batch_tensor(batch, split, &options.device)));
        (options.heartbeat)();
        bar.inc(1);
    }
    bar.finish_and_clear();
    tracing::info!(
        "computed {label} for {} images once ({:.1} s, {:.1} images/s)",
        split.len(),
        started.elapsed().as_secs_f64(),
        split.len() as f64 / started.elapsed().as_secs_f64()
    );
    Ok(CachedFeatures {
        features: Tensor::cat(parts, 0),
    })
}

fn extract_batch(
    frozen: &FrozenFeatures,
    options: &FitOptions,
    split: &Arc<DecodedSplit>,
    size: usize,
) -> Tensor<4> {
    let batch = BatchLoader::sequential(split.clone(), size, options.preprocess)
        .next()
        .expect("a decoded split has at least one image per class");
    frozen.forward(batch_tensor(batch, split, &options.device))
}

fn evaluate(
    frozen: &FrozenFeatures,
    model: &TrainableModel,
    split: &Arc<DecodedSplit>,
    cached: Option<&CachedFeatures>,
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
    match cached {
        Some(cached) => {
            let order: Vec<usize> = (0..split.len()).collect();
            for indices in order.chunks(options.batch_size) {
                add(
                    cached.select(indices, &options.device),
                    &split.labels[indices[0]..=indices[indices.len() - 1]],
                );
            }
        }
        None => {
            for batch in
                BatchLoader::sequential(split.clone(), options.batch_size, options.preprocess)
            {
                let labels = batch.labels.clone();
                add(
                    frozen.forward(batch_tensor(batch, split, &options.device)),
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

fn progress_bar(options: &FitOptions, length: usize, prefix: &str) -> ProgressBar {
    if !options.show_progress {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(length as u64);
    bar.set_style(
        ProgressStyle::with_template(
            "{prefix} [{bar:30}] {pos}/{len} {elapsed_precise} (eta {eta}) {msg}",
        )
        .expect("the template is valid")
        .progress_chars("=> "),
    );
    bar.set_prefix(prefix.to_string());
    bar
}
