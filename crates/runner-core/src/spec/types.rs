//! The pipeline file's types. Their doc comments and `schemars` attributes become the
//! descriptions and bounds of `schemas/pipeline.schema.json`.

use std::path::{Path, PathBuf};

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::bounds;
use super::executor::ExecutorSpec;
use super::precision::Precision;
use super::sweep::SweepSpec;
use crate::arch::Arch;

/// A runner pipeline: a pretrained backbone, where to cut it and what stays frozen, the new
/// head, the augmentation and the training.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(title = "runner pipeline")]
pub struct PipelineSpec {
    pub pipeline: PipelineSection,
    pub data: DataSpec,
    pub backbone: BackboneSpec,
    /// The new head's layers, in order; the last one is a dense layer giving the class
    /// scores.
    #[schemars(length(min = 1))]
    pub head: Vec<HeadLayerSpec>,
    #[serde(default)]
    pub augment: AugmentSpec,
    pub train: TrainSpec,
    /// Callbacks run after every epoch, in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub callbacks: Vec<CallbackSpec>,
    /// Multi-phase fine-tuning: the phases run in order, each with its own epochs, frozen
    /// layers and optimizer; `train.epochs` is then ignored.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub phases: Vec<PhaseSpec>,
    /// Values to try: each trial is this pipeline with some values changed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sweep: Option<SweepSpec>,
    /// How `runner run --executor slurm` submits the trials.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub executor: Option<ExecutorSpec>,
}

/// What the pipeline is called and how it is seeded.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PipelineSection {
    /// The pipeline's name: runs are listed and compared by it.
    #[schemars(transform = bounds::NotBlank.in_schema())]
    pub name: String,
    /// Seed of every random source: weight initialization, shuffling, augmentation, dropout.
    #[serde(default = "default_seed")]
    pub seed: u64,
}

fn default_seed() -> u64 {
    42
}

/// The images: one subfolder per class in each split. Validation comes from its own
/// folder or from a part of `train` (`validation_split`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DataSpec {
    /// Folder with one subfolder of images per class, relative to the pipeline file (or
    /// `train_csv` instead).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub train: Option<PathBuf>,
    /// Folder with the same class subfolders, relative to the pipeline file; never
    /// augmented. Leave it out to hold out `validation_split` of `train` instead.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub validation: Option<PathBuf>,
    /// A CSV file listing the training images (instead of `train`): one row per image, its
    /// path (relative to the CSV file's folder) in `path_column` and its class in
    /// `label_column`, as Keras' `flow_from_dataframe` reads a data frame.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub train_csv: Option<PathBuf>,
    /// A CSV file listing the validation images, as `train_csv` (instead of `validation`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub validation_csv: Option<PathBuf>,
    /// A CSV file listing the test images, as `train_csv` (instead of `test`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub test_csv: Option<PathBuf>,
    /// The CSV column with each image's path (Keras' `x_col`; default `filename`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path_column: Option<String>,
    /// The CSV column with each image's class (Keras' `y_col`; default `class`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label_column: Option<String>,
    /// The fraction of each class of `train` held out for validation, drawn with
    /// `pipeline.seed`, when there is no `validation` folder.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(transform = bounds::OPEN_FRACTION.in_schema())]
    pub validation_split: Option<f64>,
    /// Folder with the same class subfolders, evaluated once after training with the best
    /// epoch's weights.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub test: Option<PathBuf>,
    /// The classes in label order: only these subfolders are used. Default: every
    /// subfolder, in name order.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(transform = bounds::CLASSES.in_schema())]
    pub classes: Option<Vec<String>>,
    /// `[height, width]` every image is resized to, in pixels (16 to 4096).
    #[schemars(transform = bounds::IMAGE_SIDE.in_schema())]
    pub image_size: [u32; 2],
    /// Images per training step.
    #[serde(default = "default_batch_size")]
    #[schemars(transform = bounds::AT_LEAST_ONE.in_schema())]
    pub batch_size: usize,
    /// The most pixels (width x height, as the file's header declares them) an image may
    /// have; a larger one is skipped unread, as a corrupt one is. The default is twice
    /// PIL's `MAX_IMAGE_PIXELS`, where PIL refuses a decompression bomb.
    #[serde(
        default = "default_max_image_pixels",
        skip_serializing_if = "is_default_max_image_pixels"
    )]
    // schemars leaves out a default that `skip_serializing_if` skips: it is given here.
    #[schemars(
        transform = super::bounds::AT_LEAST_ONE.in_schema(),
        extend("default" = default_max_image_pixels())
    )]
    pub max_image_pixels: u64,
    /// The largest image file read, in bytes (default 256 MiB); a larger one is skipped.
    #[serde(
        default = "default_max_image_bytes",
        skip_serializing_if = "is_default_max_image_bytes"
    )]
    #[schemars(
        transform = super::bounds::AT_LEAST_ONE.in_schema(),
        extend("default" = default_max_image_bytes())
    )]
    pub max_image_bytes: u64,
}

fn default_batch_size() -> usize {
    32
}

// The two limits are left out of the serialized spec at their defaults, so that the stage
// keys and recorded parameters of pipelines that do not set them stay what they were.
fn default_max_image_pixels() -> u64 {
    ImageLimits::default().max_pixels
}

fn is_default_max_image_pixels(pixels: &u64) -> bool {
    *pixels == default_max_image_pixels()
}

fn default_max_image_bytes() -> u64 {
    ImageLimits::default().max_file_bytes
}

fn is_default_max_image_bytes(bytes: &u64) -> bool {
    *bytes == default_max_image_bytes()
}

/// What a file must stay under to be decoded: checked before anything is allocated for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ImageLimits {
    /// Width x height as the header declares it.
    pub max_pixels: u64,
    /// The file's size.
    pub max_file_bytes: u64,
}

impl Default for ImageLimits {
    fn default() -> Self {
        Self {
            // PIL's `Image.MAX_IMAGE_PIXELS` (89,478,485) warns; twice that is an error.
            max_pixels: 2 * 89_478_485,
            max_file_bytes: 256 << 20,
        }
    }
}

/// Where a split's images are listed: class subfolders, or the rows of a CSV file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SplitSource<'a> {
    Folder(&'a Path),
    Csv(&'a Path),
}

impl DataSpec {
    /// The training split's source, the validation split's (`None` with
    /// `validation_split`) and the test split's; `None` where neither key is given, and the
    /// folder where both are (validation reports both cases).
    pub fn sources(&self) -> [Option<SplitSource<'_>>; 3] {
        fn source<'a>(
            folder: Option<&'a PathBuf>,
            csv: Option<&'a PathBuf>,
        ) -> Option<SplitSource<'a>> {
            match (folder, csv) {
                (Some(folder), _) => Some(SplitSource::Folder(folder)),
                (None, Some(csv)) => Some(SplitSource::Csv(csv)),
                (None, None) => None,
            }
        }
        [
            source(self.train.as_ref(), self.train_csv.as_ref()),
            source(self.validation.as_ref(), self.validation_csv.as_ref()),
            source(self.test.as_ref(), self.test_csv.as_ref()),
        ]
    }

    /// The training split's source, or what to write when the file gives none.
    pub fn training_source(&self) -> Result<SplitSource<'_>, String> {
        let [train, ..] = self.sources();
        train.ok_or_else(|| {
            "`data` needs a `train` folder (one subfolder per class) or a `train_csv` file"
                .to_string()
        })
    }

    /// The CSV columns with the path and the class of each image.
    pub fn csv_columns(&self) -> [&str; 2] {
        [
            self.path_column.as_deref().unwrap_or("filename"),
            self.label_column.as_deref().unwrap_or("class"),
        ]
    }

    pub fn image_limits(&self) -> ImageLimits {
        ImageLimits {
            max_pixels: self.max_image_pixels,
            max_file_bytes: self.max_image_bytes,
        }
    }
}

/// The pretrained backbone: which one, its weights, where to cut it, what stays frozen.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BackboneSpec {
    pub arch: Arch,
    /// A weights file relative to the pipeline file (`.pth`; for `inception_v3` also Keras'
    /// `.h5`), or `"none"` to train from a random initialization on purpose.
    pub weights: PathBuf,
    /// The last backbone layer kept; everything after it is dropped. Defaults to the last
    /// layer before the classifier.
    #[serde(default)]
    pub cut: Option<String>,
    /// Which kept layers keep their pretrained values (BatchNorm in them uses its running
    /// statistics).
    #[serde(default)]
    pub freeze: FreezeSpec,
    /// BatchNorm in frozen layers: `inference` (running statistics, the default) or
    /// `train` (batch statistics).
    #[serde(default, skip_serializing_if = "is_default")]
    pub batchnorm: BatchNormMode,
    /// The frozen layers' number format: `fp32` (the default), `bf16`, or `auto` (`bf16`
    /// where the hardware computes it natively).
    #[serde(default, skip_serializing_if = "is_default")]
    pub precision: Precision,
}

fn is_default<T: Default + PartialEq>(value: &T) -> bool {
    *value == T::default()
}

impl BackboneSpec {
    /// The weights file, or `None` when the file says `weights = "none"`.
    pub fn weights_file(&self) -> Option<&Path> {
        (self.weights.as_os_str() != "none").then_some(self.weights.as_path())
    }
}

/// `"all"`, `"none"`, a range of layers by name or index such as
/// `{ from = "block3", to = "block10" }` or `{ to = 249 }`, or the layers whose names match
/// a regular expression: `{ regex = "^block1[0-5]$" }`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, JsonSchema)]
#[serde(
    untagged,
    expecting = "\"all\", \"none\", a table such as { from = \"block3\", to = \"block10\" } or { to = 12 }, or { regex = \"^block1\" }"
)]
pub enum FreezeSpec {
    Keyword(FreezeKeyword),
    Range(FreezeRange),
    Pattern(FreezePattern),
}

/// The layers whose names match `regex` (Rust's regex syntax, unanchored).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FreezePattern {
    pub regex: String,
}

/// A layer by name, or by its 0-based index among the backbone's layers (as Keras users
/// write `model.layers[:249]`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, JsonSchema)]
#[serde(untagged)]
pub enum LayerRef {
    Name(String),
    Index(usize),
}

impl std::fmt::Display for LayerRef {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        match self {
            LayerRef::Name(name) => write!(f, "\"{name}\""),
            LayerRef::Index(index) => write!(f, "{index}"),
        }
    }
}

/// How BatchNorm behaves in frozen layers.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Default, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum BatchNormMode {
    /// Running statistics, as Keras' `trainable = False` does; the frozen layers then run
    /// as pure inference and their output can be cached.
    #[default]
    Inference,
    /// Statistics of each batch (and running statistics updated), as a PyTorch model in
    /// `train()` mode with frozen parameters does.
    Train,
}

impl Default for FreezeSpec {
    fn default() -> Self {
        FreezeSpec::Keyword(FreezeKeyword::None)
    }
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum FreezeKeyword {
    /// Every kept layer is frozen.
    All,
    /// Every kept layer trains.
    None,
}

/// Layers `from` through `to`, both included. For `inception_v3`, a Keras layer inside a
/// mixed block (such as `conv2d_69`) stands for its whole block.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FreezeRange {
    /// The first frozen layer; the first layer when missing.
    #[serde(default)]
    pub from: Option<LayerRef>,
    /// The last frozen layer; the cut when missing.
    #[serde(default)]
    pub to: Option<LayerRef>,
}

/// One layer of the new head.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, JsonSchema)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum HeadLayerSpec {
    /// Flattens the backbone's feature map (channels x height x width).
    Flatten,
    /// Averages the backbone's feature map over height and width.
    GlobalAvgPool,
    /// A fully connected layer (Glorot-uniform kernel, zero bias, as in Keras).
    Dense {
        /// Output units.
        #[schemars(transform = bounds::DENSE_UNITS.in_schema())]
        units: usize,
        /// Activation after the layer.
        #[serde(default)]
        activation: Activation,
    },
    /// Zeroes a fraction of its inputs while training.
    Dropout {
        /// The fraction dropped, in [0, 1).
        #[schemars(transform = bounds::FRACTION.in_schema())]
        rate: f64,
    },
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Default, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Activation {
    #[default]
    Linear,
    Relu,
    Sigmoid,
    Softmax,
}

/// Augmentation of the training images, with the names and meanings of Keras'
/// `ImageDataGenerator`: parameters are drawn per image from the pipeline's seed.
/// Validation images are never augmented.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AugmentSpec {
    /// Multiply every pixel value (0 to 255) by this instead of the backbone's own
    /// preprocessing, in every split, as Keras' `rescale = 1./255` on both generators.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(transform = bounds::POSITIVE.in_schema())]
    pub rescale: Option<f64>,
    /// Rotate by an angle drawn uniformly in [-r, r] degrees.
    #[serde(default)]
    #[schemars(transform = bounds::NON_NEGATIVE.in_schema())]
    pub rotation_range: f64,
    /// Shift by up to this fraction of the width (below 1) or this many pixels (1 or more).
    #[serde(default)]
    #[schemars(transform = bounds::NON_NEGATIVE.in_schema())]
    pub width_shift_range: f64,
    /// Shift by up to this fraction of the height (below 1) or this many pixels.
    #[serde(default)]
    #[schemars(transform = bounds::NON_NEGATIVE.in_schema())]
    pub height_shift_range: f64,
    /// Shear by an angle drawn uniformly in [-r, r] degrees.
    #[serde(default)]
    #[schemars(transform = bounds::NON_NEGATIVE.in_schema())]
    pub shear_range: f64,
    /// Zoom: a number z draws each axis' factor in [1 - z, 1 + z]; a pair [low, high]
    /// draws it there. Factors below 1 zoom in.
    #[serde(default)]
    pub zoom_range: ZoomRange,
    /// Mirror each training image left-right with probability 1/2.
    #[serde(default)]
    pub horizontal_flip: bool,
    /// Mirror each training image top-bottom with probability 1/2.
    #[serde(default)]
    pub vertical_flip: bool,
    /// Multiply brightness by a factor drawn uniformly in [low, high].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(transform = bounds::NON_NEGATIVE.in_schema())]
    pub brightness_range: Option<[f64; 2]>,
    /// Add one value drawn uniformly in [-r, r] (0 to 255 scale) to every channel.
    #[serde(default)]
    #[schemars(transform = bounds::NON_NEGATIVE.in_schema())]
    pub channel_shift_range: f64,
    /// How points from outside the image are filled after a rotation, shift, shear or zoom.
    #[serde(default)]
    pub fill_mode: FillMode,
    /// The value `fill_mode = "constant"` fills with (0 to 255 scale).
    #[serde(default)]
    pub cval: f64,
}

/// Keras' `zoom_range`: one number or a `[low, high]` pair.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, JsonSchema)]
#[serde(
    untagged,
    expecting = "a number such as 0.2, or a pair such as [0.8, 1.2]"
)]
pub enum ZoomRange {
    #[schemars(transform = bounds::FRACTION.in_schema())]
    Symmetric(f64),
    #[schemars(transform = bounds::POSITIVE.in_schema())]
    Between([f64; 2]),
}

impl Default for ZoomRange {
    fn default() -> Self {
        ZoomRange::Symmetric(0.0)
    }
}

impl ZoomRange {
    /// `[low, high]` as Keras reads it.
    pub fn bounds(self) -> [f64; 2] {
        match self {
            ZoomRange::Symmetric(zoom) => [1.0 - zoom, 1.0 + zoom],
            ZoomRange::Between(pair) => pair,
        }
    }
}

/// Keras' `fill_mode`.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Default, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum FillMode {
    /// `aaaa|abcd|dddd`: the nearest edge pixel.
    #[default]
    Nearest,
    /// `kkkk|abcd|kkkk` with `k = cval`.
    Constant,
    /// `dcba|abcd|dcba`: mirrored at the edge.
    Reflect,
    /// The image repeated (scipy's `wrap`, as Keras uses it).
    Wrap,
}

impl AugmentSpec {
    /// Whether training images reach the model unchanged (`rescale` is preprocessing, not
    /// augmentation).
    pub fn is_identity(&self) -> bool {
        self.rotation_range == 0.0
            && self.width_shift_range == 0.0
            && self.height_shift_range == 0.0
            && self.shear_range == 0.0
            && self.zoom_range.bounds() == [1.0, 1.0]
            && !self.horizontal_flip
            && !self.vertical_flip
            && self.brightness_range.is_none()
            && self.channel_shift_range == 0.0
    }
}

/// How the model is trained.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TrainSpec {
    pub optimizer: OptimizerSpec,
    pub loss: LossSpec,
    /// Passes over the training images; with `[[phases]]`, the sum of their epochs.
    #[schemars(transform = bounds::AT_LEAST_ONE.in_schema())]
    pub epochs: usize,
    /// Batches per epoch, as Keras' `steps_per_epoch`: training continues through the
    /// shuffled passes over the images, so an epoch can be part of a pass or span several.
    /// Default: one pass.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(transform = bounds::AT_LEAST_ONE.in_schema())]
    pub steps_per_epoch: Option<usize>,
    /// Validation batches per epoch, from the start of the validation images (Keras'
    /// `validation_steps`). Default: all of them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(transform = bounds::AT_LEAST_ONE.in_schema())]
    pub validation_steps: Option<usize>,
    /// Reported metrics; the loss is always reported. `precision`, `recall`, `f1` and
    /// `auc` need two classes.
    #[serde(default = "default_metrics")]
    pub metrics: Vec<Metric>,
    /// How the learning rate changes during training; constant when missing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lr_schedule: Option<LrScheduleSpec>,
}

fn default_metrics() -> Vec<Metric> {
    vec![Metric::Accuracy]
}

/// A learning-rate schedule, its lengths in epochs (fractions count: the rate changes
/// after every batch for the smooth ones), starting from the optimizer's `lr`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, JsonSchema)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum LrScheduleSpec {
    /// `lr * gamma ^ floor(epoch / step_epochs)`.
    Step {
        #[schemars(transform = bounds::AT_LEAST_ONE.in_schema())]
        step_epochs: usize,
        #[schemars(transform = bounds::NON_NEGATIVE.in_schema())]
        gamma: f64,
        /// Epochs of linear warmup from 0 before the schedule starts.
        #[serde(default)]
        #[schemars(transform = bounds::NON_NEGATIVE.in_schema())]
        warmup_epochs: f64,
    },
    /// `lr * decay_rate ^ (epoch / decay_epochs)`, as Keras' `ExponentialDecay`.
    Exponential {
        #[schemars(transform = bounds::POSITIVE.in_schema())]
        decay_epochs: f64,
        #[schemars(transform = bounds::NON_NEGATIVE.in_schema())]
        decay_rate: f64,
        /// Decay in whole steps of `decay_epochs` instead of continuously.
        #[serde(default)]
        staircase: bool,
        #[serde(default)]
        #[schemars(transform = bounds::NON_NEGATIVE.in_schema())]
        warmup_epochs: f64,
    },
    /// Cosine decay to `alpha * lr` over `decay_epochs` (default: the whole training), as
    /// Keras' `CosineDecay`.
    Cosine {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[schemars(transform = bounds::POSITIVE.in_schema())]
        decay_epochs: Option<f64>,
        #[serde(default)]
        #[schemars(transform = bounds::CLOSED_FRACTION.in_schema())]
        alpha: f64,
        #[serde(default)]
        #[schemars(transform = bounds::NON_NEGATIVE.in_schema())]
        warmup_epochs: f64,
    },
    /// Linear warmup from 0 to `lr` over `warmup_epochs`, then constant.
    Warmup {
        #[schemars(transform = bounds::NON_NEGATIVE.in_schema())]
        warmup_epochs: f64,
    },
}

/// A callback run after every epoch, as in Keras.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, JsonSchema)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum CallbackSpec {
    /// Stop once `monitor` passes `threshold` (the course's "stop at 99.9% accuracy").
    StopAt {
        #[serde(default = "default_stop_at_monitor")]
        monitor: String,
        threshold: f64,
        #[serde(default)]
        mode: MonitorMode,
    },
    /// Stop when `monitor` has not improved by `min_delta` for `patience` epochs.
    EarlyStopping {
        #[serde(default = "default_monitor")]
        monitor: String,
        #[serde(default)]
        patience: usize,
        #[serde(default)]
        #[schemars(transform = bounds::NON_NEGATIVE.in_schema())]
        min_delta: f64,
        #[serde(default)]
        mode: MonitorMode,
        /// Put back the weights of the best epoch at the end, whether training stopped
        /// early or not.
        #[serde(default)]
        restore_best: bool,
    },
    /// Which checkpoints to keep: `best` by `monitor`, `last`, or `both` (the default
    /// without this callback: both, best by `val_loss`).
    Checkpoint {
        #[serde(default = "default_monitor")]
        monitor: String,
        #[serde(default)]
        mode: MonitorMode,
        #[serde(default)]
        save: CheckpointSave,
    },
    /// Multiply the learning rate by `factor` when `monitor` has not improved for
    /// `patience` epochs, then wait `cooldown` epochs; never below `min_lr`.
    ReduceLrOnPlateau {
        #[serde(default = "default_monitor")]
        monitor: String,
        #[serde(default = "default_factor")]
        #[schemars(transform = bounds::FRACTION.in_schema())]
        factor: f64,
        #[serde(default = "default_plateau_patience")]
        patience: usize,
        #[serde(default = "default_plateau_min_delta")]
        #[schemars(transform = bounds::NON_NEGATIVE.in_schema())]
        min_delta: f64,
        #[serde(default)]
        cooldown: usize,
        #[serde(default)]
        #[schemars(transform = bounds::NON_NEGATIVE.in_schema())]
        min_lr: f64,
        #[serde(default)]
        mode: MonitorMode,
    },
    /// Write the per-epoch history as CSV: `file` is a `.csv` file name in the run's folder.
    CsvLogger {
        #[serde(default = "default_csv_file")]
        file: String,
    },
}

fn default_monitor() -> String {
    "val_loss".into()
}
fn default_stop_at_monitor() -> String {
    "accuracy".into()
}
fn default_factor() -> f64 {
    0.1
}
fn default_plateau_patience() -> usize {
    10
}
fn default_plateau_min_delta() -> f64 {
    1e-4
}
fn default_csv_file() -> String {
    "history.csv".into()
}

/// Whether a monitored metric improves by going down or up; `auto` knows from its name
/// (accuracy, precision, recall, f1 and auc go up, losses go down).
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Default, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum MonitorMode {
    #[default]
    Auto,
    Min,
    Max,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Default, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum CheckpointSave {
    Best,
    Last,
    #[default]
    Both,
}

/// One phase of multi-phase fine-tuning: its own epochs, frozen layers and optimizer.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PhaseSpec {
    /// A name for logs and the history (default: `phase N`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[schemars(transform = bounds::AT_LEAST_ONE.in_schema())]
    pub epochs: usize,
    /// Which kept layers stay frozen in this phase (default: `backbone.freeze`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub freeze: Option<FreezeSpec>,
    /// This phase's optimizer (default: `train.optimizer`); a new phase starts with a
    /// fresh optimizer state, as recompiling a Keras model does.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub optimizer: Option<OptimizerSpec>,
}

/// The optimizer, with Keras' parameter names, defaults and update rules.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, JsonSchema)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum OptimizerSpec {
    /// RMSprop as in Keras: `rho` 0.9, `epsilon` 1e-7 (inside the square root), no momentum.
    Rmsprop {
        /// Learning rate.
        #[schemars(transform = bounds::POSITIVE.in_schema())]
        lr: f64,
        /// Decay of the moving average of squared gradients, in [0, 1).
        #[serde(default = "default_rho")]
        #[schemars(transform = bounds::FRACTION.in_schema())]
        rho: f64,
        /// Momentum, in [0, 1).
        #[serde(default)]
        #[schemars(transform = bounds::FRACTION.in_schema())]
        momentum: f64,
        /// Added to the denominator for numerical stability.
        #[serde(default = "default_epsilon")]
        #[schemars(transform = bounds::POSITIVE.in_schema())]
        epsilon: f64,
        /// Normalize by the gradient's estimated variance instead of its second moment.
        #[serde(default)]
        centered: bool,
        /// Decoupled weight decay, as Keras applies it: `w -= w * weight_decay * lr`
        /// before each update.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[schemars(transform = bounds::NON_NEGATIVE.in_schema())]
        weight_decay: Option<f64>,
        /// Clip each parameter's gradient to this norm (Keras' `clipnorm`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[schemars(transform = bounds::POSITIVE.in_schema())]
        clipnorm: Option<f64>,
        /// Clip each gradient value to [-clipvalue, clipvalue] (Keras' `clipvalue`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[schemars(transform = bounds::POSITIVE.in_schema())]
        clipvalue: Option<f64>,
    },
    /// Adam as in Keras: `beta_1` 0.9, `beta_2` 0.999, `epsilon` 1e-7.
    Adam {
        /// Learning rate.
        #[schemars(transform = bounds::POSITIVE.in_schema())]
        lr: f64,
        /// Decay of the first-moment estimate, in [0, 1).
        #[serde(default = "default_beta_1")]
        #[schemars(transform = bounds::FRACTION.in_schema())]
        beta_1: f64,
        /// Decay of the second-moment estimate, in [0, 1).
        #[serde(default = "default_beta_2")]
        #[schemars(transform = bounds::FRACTION.in_schema())]
        beta_2: f64,
        /// Added to the denominator for numerical stability.
        #[serde(default = "default_epsilon")]
        #[schemars(transform = bounds::POSITIVE.in_schema())]
        epsilon: f64,
        /// Decoupled weight decay, as Keras applies it: `w -= w * weight_decay * lr`
        /// before each update.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[schemars(transform = bounds::NON_NEGATIVE.in_schema())]
        weight_decay: Option<f64>,
        /// Clip each parameter's gradient to this norm (Keras' `clipnorm`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[schemars(transform = bounds::POSITIVE.in_schema())]
        clipnorm: Option<f64>,
        /// Clip each gradient value to [-clipvalue, clipvalue] (Keras' `clipvalue`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[schemars(transform = bounds::POSITIVE.in_schema())]
        clipvalue: Option<f64>,
    },
    /// AdamW as in Keras: Adam with `weight_decay` 0.004 unless given.
    Adamw {
        /// Learning rate.
        #[schemars(transform = bounds::POSITIVE.in_schema())]
        lr: f64,
        /// Decay of the first-moment estimate, in [0, 1).
        #[serde(default = "default_beta_1")]
        #[schemars(transform = bounds::FRACTION.in_schema())]
        beta_1: f64,
        /// Decay of the second-moment estimate, in [0, 1).
        #[serde(default = "default_beta_2")]
        #[schemars(transform = bounds::FRACTION.in_schema())]
        beta_2: f64,
        /// Added to the denominator for numerical stability.
        #[serde(default = "default_epsilon")]
        #[schemars(transform = bounds::POSITIVE.in_schema())]
        epsilon: f64,
        /// Decoupled weight decay: `w -= w * weight_decay * lr` before each update.
        #[serde(default = "default_adamw_weight_decay")]
        #[schemars(transform = bounds::NON_NEGATIVE.in_schema())]
        weight_decay: f64,
        /// Clip each parameter's gradient to this norm (Keras' `clipnorm`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[schemars(transform = bounds::POSITIVE.in_schema())]
        clipnorm: Option<f64>,
        /// Clip each gradient value to [-clipvalue, clipvalue] (Keras' `clipvalue`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[schemars(transform = bounds::POSITIVE.in_schema())]
        clipvalue: Option<f64>,
    },
    /// Stochastic gradient descent as in Keras, with optional (Nesterov) momentum.
    Sgd {
        /// Learning rate.
        #[schemars(transform = bounds::POSITIVE.in_schema())]
        lr: f64,
        /// Momentum, in [0, 1).
        #[serde(default)]
        #[schemars(transform = bounds::FRACTION.in_schema())]
        momentum: f64,
        /// Nesterov momentum.
        #[serde(default)]
        nesterov: bool,
        /// Decoupled weight decay, as Keras applies it: `w -= w * weight_decay * lr`
        /// before each update.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[schemars(transform = bounds::NON_NEGATIVE.in_schema())]
        weight_decay: Option<f64>,
        /// Clip each parameter's gradient to this norm (Keras' `clipnorm`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[schemars(transform = bounds::POSITIVE.in_schema())]
        clipnorm: Option<f64>,
        /// Clip each gradient value to [-clipvalue, clipvalue] (Keras' `clipvalue`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[schemars(transform = bounds::POSITIVE.in_schema())]
        clipvalue: Option<f64>,
    },
}

fn default_adamw_weight_decay() -> f64 {
    0.004
}

fn default_rho() -> f64 {
    0.9
}
fn default_epsilon() -> f64 {
    1e-7
}
fn default_beta_1() -> f64 {
    0.9
}
fn default_beta_2() -> f64 {
    0.999
}

impl OptimizerSpec {
    pub fn lr(&self) -> f64 {
        match self {
            OptimizerSpec::Rmsprop { lr, .. }
            | OptimizerSpec::Adam { lr, .. }
            | OptimizerSpec::Adamw { lr, .. }
            | OptimizerSpec::Sgd { lr, .. } => *lr,
        }
    }

    /// `(weight_decay, clipnorm, clipvalue)`, the settings every optimizer has.
    pub fn regularization(&self) -> (f64, Option<f64>, Option<f64>) {
        match *self {
            OptimizerSpec::Rmsprop {
                weight_decay,
                clipnorm,
                clipvalue,
                ..
            }
            | OptimizerSpec::Adam {
                weight_decay,
                clipnorm,
                clipvalue,
                ..
            }
            | OptimizerSpec::Sgd {
                weight_decay,
                clipnorm,
                clipvalue,
                ..
            } => (weight_decay.unwrap_or(0.0), clipnorm, clipvalue),
            OptimizerSpec::Adamw {
                weight_decay,
                clipnorm,
                clipvalue,
                ..
            } => (weight_decay, clipnorm, clipvalue),
        }
    }
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Loss {
    /// Two classes: a last dense layer of one unit with a sigmoid (or no activation and
    /// `from_logits`).
    BinaryCrossentropy,
    /// N classes: a last dense layer of N units with a softmax (or no activation and
    /// `from_logits`), labels one-hot as Keras' generators give them.
    CategoricalCrossentropy,
    /// The same as `categorical_crossentropy` with integer labels, as Keras names it.
    SparseCategoricalCrossentropy,
}

/// The loss: a name, or a table with Keras' options.
#[derive(Debug, Clone, Copy, Serialize, PartialEq, JsonSchema)]
#[serde(untagged)]
pub enum LossSpec {
    Name(Loss),
    Options(LossOptions),
}

// By hand rather than `untagged`, so that a misspelled name gets serde's "unknown variant,
// expected one of" (and so a did-you-mean) instead of a generic mismatch.
impl<'de> Deserialize<'de> for LossSpec {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct LossVisitor;
        impl<'de> serde::de::Visitor<'de> for LossVisitor {
            type Value = LossSpec;

            fn expecting(&self, formatter: &mut std::fmt::Formatter) -> std::fmt::Result {
                formatter.write_str(
                    "a loss name such as \"binary_crossentropy\", or a table such as { type = \"binary_crossentropy\", label_smoothing = 0.1 }",
                )
            }

            fn visit_str<E: serde::de::Error>(self, name: &str) -> Result<LossSpec, E> {
                use serde::de::IntoDeserializer;
                Loss::deserialize(name.into_deserializer()).map(LossSpec::Name)
            }

            fn visit_map<A: serde::de::MapAccess<'de>>(self, map: A) -> Result<LossSpec, A::Error> {
                LossOptions::deserialize(serde::de::value::MapAccessDeserializer::new(map))
                    .map(LossSpec::Options)
            }
        }
        deserializer.deserialize_any(LossVisitor)
    }
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LossOptions {
    #[serde(rename = "type")]
    pub kind: Loss,
    /// The last dense layer has no activation: the loss applies the sigmoid or softmax.
    #[serde(default)]
    pub from_logits: bool,
    /// Moves the targets towards uniform: `y * (1 - s) + s / classes` (0.5 for binary).
    #[serde(default)]
    #[schemars(transform = bounds::CLOSED_FRACTION.in_schema())]
    pub label_smoothing: f64,
}

impl LossSpec {
    pub fn options(self) -> LossOptions {
        match self {
            LossSpec::Name(kind) => LossOptions {
                kind,
                from_logits: false,
                label_smoothing: 0.0,
            },
            LossSpec::Options(options) => options,
        }
    }

    pub fn kind(self) -> Loss {
        self.options().kind
    }
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Metric {
    /// The fraction of images classified correctly.
    Accuracy,
    /// Of the images predicted as the second class, the fraction that are (two classes).
    Precision,
    /// Of the images of the second class, the fraction predicted so (two classes).
    Recall,
    /// The harmonic mean of precision and recall (two classes).
    F1,
    /// Area under the ROC curve of the predicted probability (two classes).
    Auc,
}

impl Metric {
    pub fn name(self) -> &'static str {
        match self {
            Metric::Accuracy => "accuracy",
            Metric::Precision => "precision",
            Metric::Recall => "recall",
            Metric::F1 => "f1",
            Metric::Auc => "auc",
        }
    }
}
