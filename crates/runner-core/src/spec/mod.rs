//! The pipeline file: its serde types, parsing with located errors, value checks and the
//! flattened parameter view that the store records.

mod load;
mod params;
mod validate;

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

pub use load::{load_pipeline, parse_pipeline};
pub use params::flatten_params;

/// A parsed pipeline file with its paths resolved against the file's folder.
#[derive(Debug, Clone)]
pub struct Pipeline {
    /// Where the file was read from.
    pub file: PathBuf,
    /// The file's text, as read.
    pub text: String,
    /// Paths resolved against the file's folder.
    pub spec: PipelineSpec,
    /// The spec flattened to key paths, with values as written in the file (paths
    /// unresolved), so runs compare the same wherever they were started.
    pub params: std::collections::BTreeMap<String, serde_json::Value>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct PipelineSpec {
    pub pipeline: PipelineSection,
    pub data: DataSpec,
    pub backbone: BackboneSpec,
    pub head: Vec<HeadLayerSpec>,
    #[serde(default)]
    pub augment: AugmentSpec,
    pub train: TrainSpec,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct PipelineSection {
    pub name: String,
    #[serde(default = "default_seed")]
    pub seed: u64,
}

fn default_seed() -> u64 {
    42
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct DataSpec {
    /// Folder with one subfolder of images per class.
    pub train: PathBuf,
    /// Folder with the same class subfolders, never augmented.
    pub validation: PathBuf,
    /// `[height, width]` every image is resized to.
    pub image_size: [u32; 2],
    #[serde(default = "default_batch_size")]
    pub batch_size: usize,
}

fn default_batch_size() -> usize {
    32
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Arch {
    EfficientnetLite0,
}

impl Arch {
    pub fn name(self) -> &'static str {
        match self {
            Arch::EfficientnetLite0 => "efficientnet_lite0",
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct BackboneSpec {
    pub arch: Arch,
    /// A weights file (`.pth`), or `"none"` to train from a random initialization on purpose.
    pub weights: PathBuf,
    /// The last backbone layer kept; everything after it is dropped. Defaults to the last
    /// layer before the classifier.
    #[serde(default)]
    pub cut: Option<String>,
    #[serde(default)]
    pub freeze: FreezeSpec,
}

impl BackboneSpec {
    /// The weights file, or `None` when the file says `weights = "none"`.
    pub fn weights_file(&self) -> Option<&std::path::Path> {
        (self.weights.as_os_str() != "none").then_some(self.weights.as_path())
    }
}

/// Which backbone layers keep their pretrained values.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(
    untagged,
    expecting = "\"all\", \"none\" or a table such as { from = \"block3\", to = \"block10\" }"
)]
pub enum FreezeSpec {
    /// `"all"` or `"none"`.
    Keyword(FreezeKeyword),
    /// `{ from = "block3", to = "block10" }`, both ends included; a missing `from` starts at
    /// the first layer, a missing `to` ends at the cut.
    Range(FreezeRange),
}

impl Default for FreezeSpec {
    fn default() -> Self {
        FreezeSpec::Keyword(FreezeKeyword::None)
    }
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum FreezeKeyword {
    All,
    None,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct FreezeRange {
    #[serde(default)]
    pub from: Option<String>,
    #[serde(default)]
    pub to: Option<String>,
}

/// One layer of the new head, in order.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum HeadLayerSpec {
    Flatten,
    GlobalAvgPool,
    Dense {
        units: usize,
        #[serde(default)]
        activation: Activation,
    },
    Dropout {
        rate: f64,
    },
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "snake_case")]
pub enum Activation {
    #[default]
    Linear,
    Relu,
    Sigmoid,
    Softmax,
}

/// Augmentation of the training images (validation images are never augmented).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
#[serde(deny_unknown_fields)]
pub struct AugmentSpec {
    #[serde(default)]
    pub horizontal_flip: bool,
    #[serde(default)]
    pub vertical_flip: bool,
}

impl AugmentSpec {
    pub fn is_identity(&self) -> bool {
        !self.horizontal_flip && !self.vertical_flip
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct TrainSpec {
    pub optimizer: OptimizerSpec,
    pub loss: Loss,
    pub epochs: usize,
    /// Reported metrics; the loss is always reported.
    #[serde(default = "default_metrics")]
    pub metrics: Vec<Metric>,
}

fn default_metrics() -> Vec<Metric> {
    vec![Metric::Accuracy]
}

/// Optimizers with Keras' parameter names and defaults.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum OptimizerSpec {
    Rmsprop {
        lr: f64,
        #[serde(default = "default_rho")]
        rho: f64,
        #[serde(default)]
        momentum: f64,
        #[serde(default = "default_epsilon")]
        epsilon: f64,
        #[serde(default)]
        centered: bool,
    },
    Adam {
        lr: f64,
        #[serde(default = "default_beta_1")]
        beta_1: f64,
        #[serde(default = "default_beta_2")]
        beta_2: f64,
        #[serde(default = "default_epsilon")]
        epsilon: f64,
    },
    Sgd {
        lr: f64,
        #[serde(default)]
        momentum: f64,
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

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Loss {
    /// Two classes, one output unit with a sigmoid.
    BinaryCrossentropy,
    /// N classes, N output units with a softmax.
    CategoricalCrossentropy,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Metric {
    Accuracy,
}

/// The `count` candidates closest to `name` by edit distance, closest first: for error
/// messages that list what the user may have meant.
pub fn closest<'a>(
    candidates: impl IntoIterator<Item = &'a str>,
    name: &str,
    count: usize,
) -> Vec<&'a str> {
    let mut ranked: Vec<&str> = candidates.into_iter().collect();
    ranked.sort_by_key(|candidate| strsim::levenshtein(candidate, name));
    ranked.truncate(count);
    ranked
}
