//! A classifier split where gradients stop: the frozen prefix of the backbone runs as pure
//! inference (BatchNorm folded, no autograd graph), the rest (unfrozen backbone layers and
//! the head) is the trainable module.

use anyhow::Result;
use burn::module::{ModuleVisitor, Param};
use burn::prelude::*;

use super::backbone::build_backbone;
use super::head::{Head, HeadOutput};
use super::layers::BackboneLayer;
use super::layout::channels_last;
use crate::data::Preprocess;
use crate::spec::{LayerPlan, PipelineSpec, head_fits_loss};

/// The backbone layers before the first trainable one, ready for inference.
#[derive(Module, Debug)]
pub struct FrozenFeatures {
    layers: Vec<BackboneLayer>,
}

impl FrozenFeatures {
    pub fn forward(&self, images: Tensor<4>) -> Tensor<4> {
        self.layers
            .iter()
            .fold(channels_last(images), |x, layer| layer.forward(x))
    }

    /// Its first `layers` layers: the frozen prefix of a later phase, which unfroze the
    /// rest.
    pub fn prefix(mut self, layers: usize) -> Self {
        self.layers.truncate(layers);
        self
    }
}

/// Everything that learns: backbone layers after the frozen prefix (frozen ones among them
/// stay frozen) and the head.
#[derive(Module, Debug)]
pub struct TrainableModel {
    pub backbone: Vec<BackboneLayer>,
    pub head: Head,
}

impl TrainableModel {
    /// Logits from the frozen prefix's features.
    pub fn forward_logits(&self, features: Tensor<4>) -> Tensor<2> {
        let features = self
            .backbone
            .iter()
            .fold(features, |x, layer| layer.forward(x));
        self.head.forward_logits(features)
    }
}

impl TrainableModel {
    /// A copy that later training of `self` leaves alone. A clone would not do: Burn's
    /// clones share BatchNorm's running statistics, which the next epochs keep updating.
    pub fn detached(&self) -> Self {
        self.valid().train()
    }

    /// How many values the optimizer updates: frozen layers in the tail do not count.
    pub fn trainable_params(&self) -> usize {
        let mut counter = TrainableCounter(0);
        self.visit(&mut counter);
        counter.0
    }
}

struct TrainableCounter(usize);

impl ModuleVisitor for TrainableCounter {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        if param.is_require_grad() {
            self.0 += param.val().shape().num_elements();
        }
    }
}

impl Classifier {
    /// Takes over the trained model of the phase before, which froze a prefix of
    /// `previous_prefix` layers (at least ours: phases only unfreeze): its backbone
    /// layers replace our copies of the same layers, frozen or not as this phase says,
    /// and its head replaces ours.
    pub fn carry_over(&mut self, previous: TrainableModel, previous_prefix: usize) {
        let offset = previous_prefix - self.frozen_prefix;
        for (index, layer) in previous.backbone.into_iter().enumerate() {
            let position = offset + index;
            self.trainable.backbone[position] = if self.tail_frozen[position] {
                layer.freeze()
            } else {
                layer.unfreeze()
            };
        }
        self.trainable.head = previous.head;
    }
}

pub struct Classifier {
    pub frozen: FrozenFeatures,
    pub trainable: TrainableModel,
    pub output: HeadOutput,
    pub preprocess: Preprocess,
    /// Names of the kept backbone layers, and how many of them are in the frozen prefix.
    pub layer_names: Vec<String>,
    pub frozen_prefix: usize,
    /// Whether each layer of the trainable part's backbone is frozen.
    pub tail_frozen: Vec<bool>,
    /// `[channels, height, width]` of the frozen prefix's output for one image.
    pub frozen_output_shape: [usize; 3],
}

/// Builds backbone and head for `classes` and checks that the head's output fits the loss.
/// The trainable part lives on `device.autodiff()`, the frozen prefix on `device`.
pub fn build_classifier(
    spec: &PipelineSpec,
    layers: &LayerPlan,
    classes: &[String],
    device: &Device,
) -> Result<Classifier> {
    let train_device = device.clone().autodiff();
    let backbone = build_backbone(&spec.backbone, layers, &train_device)?;
    // The plan's frozen prefix runs as folded inference; with BatchNorm in training mode it
    // is empty, and the frozen layers go into the trainable part, frozen there.
    let frozen_prefix = layers.frozen_prefix;
    let layer_names = backbone
        .layers
        .iter()
        .map(|(name, _)| name.clone())
        .collect();
    let mut layers = backbone
        .layers
        .into_iter()
        .map(|(_, layer)| layer)
        .collect::<Vec<_>>();
    let tail = layers.split_off(frozen_prefix);
    let frozen = FrozenFeatures {
        layers: layers
            .into_iter()
            .map(|layer| layer.valid().fold_batchnorm())
            .collect(),
    };
    let tail_frozen = backbone.frozen[frozen_prefix..].to_vec();
    let tail: Vec<BackboneLayer> = tail
        .into_iter()
        .zip(&tail_frozen)
        .map(|(layer, frozen)| if *frozen { layer.freeze() } else { layer })
        .collect();

    let [height, width] = spec.data.image_size.map(|side| side as usize);
    let probe = Tensor::<4>::zeros([1, 3, height, width], device);
    let frozen_output = frozen.forward(probe);
    let frozen_output_shape = shape_of(&frozen_output);
    let backbone_output = tail
        .iter()
        .fold(frozen_output, |x, layer| layer.valid().forward(x));
    let (head, output) = Head::new(&spec.head, shape_of(&backbone_output), &train_device)?;
    head_fits_loss(spec, classes).map_err(crate::error::input_error)?;
    Ok(Classifier {
        frozen,
        trainable: TrainableModel {
            backbone: tail,
            head,
        },
        output,
        // Keras' `rescale` replaces the backbone's preprocessing, in training and inference.
        preprocess: spec
            .augment
            .rescale
            .map_or(backbone.preprocess, |rescale| Preprocess {
                scale: [rescale as f32; 3],
                offset: [0.0; 3],
            }),
        layer_names,
        frozen_prefix,
        tail_frozen,
        frozen_output_shape,
    })
}

fn shape_of(features: &Tensor<4>) -> [usize; 3] {
    let [_, channels, height, width] = features.dims();
    [channels, height, width]
}
