//! The training loop of one phase. The frozen prefix of the backbone never sees autograd;
//! a split whose frozen features were computed beforehand (see `stages`) does not run it
//! at all. Batches come from a stream of shuffled passes over the training images, so an
//! epoch of `steps_per_epoch` batches can end inside a pass, as with a Keras generator.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Result, bail};
use burn::module::Module;
use burn::optim::{GradientsParams, ModuleOptimizer};
use burn::prelude::*;

use super::callbacks::{Callback, EpochEnd, TrainEnd, end_epoch, epoch_logs};
use super::loss::{class_probabilities, loss_from_logits, predicted_classes};
use super::metrics::RunningMetrics;
use super::schedule::LrSchedule;
use crate::data::{
    Batch, BatchLoader, DecodedSplit, Preprocess, SkippedFile, default_workers, evaluation_order,
    shuffled_order,
};
use crate::model::{FrozenFeatures, TrainableModel};
use crate::progress::Activity;
use crate::spec::{AugmentSpec, LossOptions, Metric, Seeds};
use crate::stages::Features;
use runner_core::metrics::EpochMetrics;

/// What the training loop and evaluations of a phase run with.
pub struct FitOptions<'a> {
    /// The frozen prefix that images go through before the trainable model.
    pub frozen: &'a FrozenFeatures,
    pub device: Device,
    pub loss: LossOptions,
    /// The metrics to report beyond loss and accuracy.
    pub metrics: &'a [Metric],
    /// The class names, in label order: metrics are reported per class.
    pub class_names: &'a [String],
    pub batch_size: usize,
    pub augment: &'a AugmentSpec,
    pub preprocess: Preprocess,
    pub seeds: Seeds,
    /// Batches per epoch; one pass over the training images when `None`.
    pub steps_per_epoch: Option<usize>,
    /// Validation batches per epoch, drawn from a reshuffled order when they cover only
    /// part of the split (see [`Coverage`]); all when `None`.
    pub validation_steps: Option<usize>,
    pub activity: &'a Activity<'a>,
}

impl FitOptions<'_> {
    fn steps_per_epoch(&self, train: &SplitInput) -> usize {
        self.steps_per_epoch
            .unwrap_or_else(|| train.len().div_ceil(self.batch_size))
    }
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

/// One phase of training: its epochs, numbered over the whole run, its schedule, and
/// where training continues (after a resume snapshot's epoch).
pub struct Phase {
    /// 1-based.
    pub index: usize,
    /// The run's epoch number of the phase's first epoch (1-based).
    pub first_epoch: usize,
    /// The next epoch to train.
    pub next_epoch: usize,
    pub epochs: usize,
    pub schedule: LrSchedule,
    /// Multiplies the schedule's rate from `next_epoch` on (reductions on plateau).
    pub lr_factor: f64,
    /// Pause after this epoch of the run (successive halving's rung), once its callbacks
    /// have recorded it and saved the snapshot a promotion continues from.
    pub pause_after: Option<usize>,
}

/// How a phase's training loop ended.
pub enum FitOutcome {
    /// Its epochs are done, or a callback stopped it.
    Ended(TrainEnd),
    /// Ctrl-C stopped it.
    Interrupted,
    /// It reached [`Phase::pause_after`].
    Paused,
}

/// Trains `model` on `inputs` (training, validation) for the phase's epochs from
/// `next_epoch`, running `callbacks` after each with `run`.
pub fn fit_phase<R>(
    options: &FitOptions,
    phase: &Phase,
    mut model: TrainableModel,
    optimizer: &mut ModuleOptimizer,
    inputs: &[SplitInput],
    callbacks: &mut [Box<dyn Callback<R> + '_>],
    run: &mut R,
) -> Result<FitOutcome> {
    let (train, validation) = (&inputs[0], &inputs[1]);
    let activity = options.activity;
    let steps = options.steps_per_epoch(train);
    let last_epoch = phase.first_epoch + phase.epochs - 1;
    let mut lr_factor = phase.lr_factor;
    let mut trained = phase.next_epoch - 1;
    let mut stopped = None;
    for epoch in phase.next_epoch..=last_epoch {
        let started = Instant::now();
        // Dropout draws from the device's generator: seeding it per epoch makes a resumed
        // run draw what the uninterrupted one would have.
        options.device.seed(
            options
                .seeds
                .dropout
                .wrapping_add(epoch as u64)
                .wrapping_mul(0x9E37_79B9),
        );
        let bar = activity.progress_bar(steps, &format!("epoch {epoch}/{last_epoch}"));
        let mut train_metrics = RunningMetrics::new(options.class_names.len());
        let mut batches = TrainBatches::new(train, options, (epoch - 1) * steps, steps);
        let mut data_wait = Duration::ZERO;
        let mut lr = 0.0;
        let mut step = 0;
        while let Some((features, labels)) = batches.next(&mut data_wait) {
            if activity.is_interrupted() {
                bar.abandon_with_message("interrupted");
                return Ok(FitOutcome::Interrupted);
            }
            let progress = (epoch - phase.first_epoch) as f64 + f64::from(step) / steps as f64;
            lr = phase.schedule.lr(progress) * lr_factor;
            step += 1;
            let logits = model.forward_logits(features.autodiff());
            let loss = loss_from_logits(options.loss, logits.clone(), &labels);
            let loss_value = f64::from(loss.clone().into_scalar::<f32>());
            if !loss_value.is_finite() {
                bar.abandon();
                bail!(
                    "the training loss became {loss_value} at epoch {epoch}, batch {step}: try a lower learning rate"
                );
            }
            let logits = logits.without_autodiff();
            train_metrics.add_batch(
                loss_value,
                &predicted_classes(options.loss.kind, logits.clone()),
                &labels,
                &auc_scores(options, logits),
            );
            let gradients = GradientsParams::from_grads(loss.backward(), &model);
            model = optimizer.step(lr, model, gradients);
            (activity.heartbeat)();
            bar.set_message(format!(
                "loss {:.4} accuracy {:.4}",
                train_metrics.loss(),
                train_metrics.accuracy()
            ));
            bar.inc(1);
        }
        bar.finish_and_clear();

        let validation_metrics = evaluate(&model, validation, options, Coverage::Epoch(epoch));
        // A diverged model can keep a finite training loss for a batch and still give an
        // infinite validation loss; neither belongs in the history.
        if !validation_metrics.loss().is_finite() {
            bail!(
                "the validation loss became {} at epoch {epoch}: try a lower learning rate",
                validation_metrics.loss()
            );
        }
        let mut extra = train_metrics.extra(options.metrics, options.class_names);
        for (name, value) in validation_metrics.extra(options.metrics, options.class_names) {
            extra.insert(format!("val_{name}"), value);
        }
        let metrics = EpochMetrics {
            epoch,
            phase: phase.index,
            loss: train_metrics.loss(),
            accuracy: train_metrics.accuracy(),
            val_loss: validation_metrics.loss(),
            val_accuracy: validation_metrics.accuracy(),
            extra,
            lr,
            seconds: started.elapsed().as_secs_f64(),
            data_wait_seconds: data_wait.as_secs_f64(),
        };
        let mut epoch_end = EpochEnd {
            phase,
            metrics: &metrics,
            logs: epoch_logs(&metrics),
            model: &model,
            optimizer,
            validation_confusion: validation_metrics.confusion_matrix(),
            lr_factor,
            stop: None,
            states: Vec::new(),
            run: &mut *run,
        };
        end_epoch(callbacks, &mut epoch_end)?;
        lr_factor = epoch_end.lr_factor;
        trained = epoch;
        stopped = epoch_end.stop;
        if stopped.is_some() {
            break;
        }
        if phase.pause_after == Some(epoch) && epoch < last_epoch {
            return Ok(FitOutcome::Paused);
        }
    }
    let mut end = TrainEnd {
        model,
        epoch: trained,
        stopped,
    };
    for callback in callbacks {
        callback.on_train_end(&mut end);
    }
    Ok(FitOutcome::Ended(end))
}

/// Every class's probability per row when a metric needs them (AUC), else nothing.
fn auc_scores(options: &FitOptions, logits: Tensor<2>) -> Vec<f32> {
    if options.metrics.contains(&Metric::Auc) {
        class_probabilities(logits)
    } else {
        Vec::new()
    }
}

/// An epoch's training batches: batches `first..first + count` of the stream of shuffled
/// passes (pass `k` shuffled with `k`, 1-based), as cached-feature slices or as images
/// through the frozen prefix.
struct TrainBatches<'a> {
    train: &'a SplitInput,
    options: &'a FitOptions<'a>,
    next: usize,
    end: usize,
    per_pass: usize,
    /// The pass being read, and its source.
    current: Option<(usize, PassBatches)>,
}

enum PassBatches {
    Features(Vec<usize>),
    Images(BatchLoader),
}

impl<'a> TrainBatches<'a> {
    fn new(train: &'a SplitInput, options: &'a FitOptions<'a>, first: usize, count: usize) -> Self {
        Self {
            train,
            options,
            next: first,
            end: first + count,
            per_pass: train.len().div_ceil(options.batch_size),
            current: None,
        }
    }

    /// The next batch's frozen features and labels; time blocked on the loader is added
    /// to `data_wait`.
    fn next(&mut self, data_wait: &mut Duration) -> Option<(Tensor<4>, Vec<u32>)> {
        if self.next >= self.end {
            return None;
        }
        let (pass, within) = (self.next / self.per_pass + 1, self.next % self.per_pass);
        self.next += 1;
        if self.current.as_ref().map(|(current, _)| *current) != Some(pass) {
            self.current = Some((pass, self.start_pass(pass, within)));
        }
        let options = self.options;
        match (&mut self.current.as_mut()?.1, self.train) {
            (PassBatches::Features(order), SplitInput::Features(features)) => {
                let first = within * options.batch_size;
                let indices = &order[first..(first + options.batch_size).min(order.len())];
                let labels = indices.iter().map(|&i| features.labels[i]).collect();
                Some((features.select(indices), labels))
            }
            (PassBatches::Images(loader), SplitInput::Images(images)) => {
                let waiting = Instant::now();
                let batch = loader.next()?;
                *data_wait += waiting.elapsed();
                let labels = batch.labels.clone();
                let features = options
                    .frozen
                    .forward(batch_tensor(batch, images, &options.device));
                Some((features, labels))
            }
            _ => unreachable!("a pass reads the kind of input it was started for"),
        }
    }

    fn start_pass(&self, pass: usize, first_batch: usize) -> PassBatches {
        let options = self.options;
        match self.train {
            SplitInput::Features(_) => PassBatches::Features(shuffled_order(
                self.train.len(),
                options.seeds.shuffle,
                pass,
            )),
            SplitInput::Images(images) => PassBatches::Images(BatchLoader::shuffled(
                images.clone(),
                options.batch_size,
                options.preprocess,
                options.augment,
                options.seeds,
                pass,
                first_batch,
                default_workers(),
            )),
        }
    }
}

/// Which images of a split an evaluation covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Coverage {
    /// Every image, in file order: the test split, and validation without
    /// `validation_steps`.
    Whole,
    /// The validation of epoch `n` (the run's numbering): every image, unless
    /// `validation_steps` batches cover fewer, which are then drawn as Keras' shuffling
    /// generator draws them, from an order reshuffled every epoch.
    Epoch(usize),
}

/// The indices of the `len` images that `coverage` evaluates, in the order they are
/// batched: `validation_steps` batches of `batch_size` drawn with `seed` when they cover
/// fewer than all.
fn evaluated_images(
    len: usize,
    batch_size: usize,
    validation_steps: Option<usize>,
    seed: u64,
    coverage: Coverage,
) -> Vec<usize> {
    match (coverage, validation_steps) {
        (Coverage::Epoch(epoch), Some(steps)) if steps.saturating_mul(batch_size) < len => {
            // A class-sorted split read from its start would be validated on its first
            // classes only.
            let mut order = evaluation_order(len, seed, epoch);
            order.truncate(steps * batch_size);
            order
        }
        _ => (0..len).collect(),
    }
}

/// Loss and metrics of `model` on the images of a split that is not trained on
/// (validation, test) that `coverage` names.
pub fn evaluate(
    model: &TrainableModel,
    split: &SplitInput,
    options: &FitOptions,
    coverage: Coverage,
) -> RunningMetrics {
    let model = model.valid();
    let mut metrics = RunningMetrics::new(options.class_names.len());
    let mut add = |features: Tensor<4>, labels: &[u32]| {
        let logits = model.forward_logits(features);
        let loss =
            f64::from(loss_from_logits(options.loss, logits.clone(), labels).into_scalar::<f32>());
        let predicted = predicted_classes(options.loss.kind, logits.clone());
        metrics.add_batch(loss, &predicted, labels, &auc_scores(options, logits));
    };
    let order = evaluated_images(
        split.len(),
        options.batch_size,
        options.validation_steps,
        options.seeds.shuffle,
        coverage,
    );
    match split {
        SplitInput::Features(features) => {
            for indices in order.chunks(options.batch_size) {
                let labels: Vec<u32> = indices.iter().map(|&i| split.labels()[i]).collect();
                add(features.select(indices), &labels);
            }
        }
        SplitInput::Images(images) => {
            let loader = BatchLoader::in_order(
                images.clone(),
                options.batch_size,
                options.preprocess,
                order,
            );
            for batch in loader {
                let labels = batch.labels.clone();
                add(
                    options
                        .frozen
                        .forward(batch_tensor(batch, images, &options.device)),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partial_validation_draws_a_seeded_part_anew_every_epoch() {
        let first = evaluated_images(100, 8, Some(5), 42, Coverage::Epoch(1));
        assert_eq!(first.len(), 40);
        let mut distinct = first.clone();
        distinct.sort_unstable();
        distinct.dedup();
        assert_eq!(distinct.len(), 40, "no image twice");
        assert!(distinct.iter().all(|&index| index < 100));
        // Not the split's first 40, and reshuffled at the next epoch.
        assert_ne!(distinct, (0..40).collect::<Vec<_>>());
        assert_ne!(
            first,
            evaluated_images(100, 8, Some(5), 42, Coverage::Epoch(2))
        );
        assert_eq!(
            first,
            evaluated_images(100, 8, Some(5), 42, Coverage::Epoch(1))
        );
        assert_ne!(
            first,
            evaluated_images(100, 8, Some(5), 43, Coverage::Epoch(1))
        );
    }

    #[test]
    fn whole_splits_are_evaluated_in_file_order() {
        let in_order: Vec<usize> = (0..10).collect();
        assert_eq!(
            evaluated_images(10, 4, None, 1, Coverage::Epoch(3)),
            in_order
        );
        // Steps that cover the split (the last batch partial) read it all, in order.
        assert_eq!(
            evaluated_images(10, 4, Some(3), 1, Coverage::Epoch(3)),
            in_order
        );
        // The test split ignores validation_steps.
        assert_eq!(
            evaluated_images(10, 4, Some(1), 1, Coverage::Whole),
            in_order
        );
    }
}
