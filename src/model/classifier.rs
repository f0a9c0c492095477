//! A classifier split where gradients stop: the frozen prefix of the backbone runs as pure
//! inference (BatchNorm folded, no autograd graph), the rest (unfrozen backbone layers and
//! the head) is the trainable module.

use anyhow::Result;
use burn::module::{ModuleMapper, ModuleVisitor, Param};
use burn::prelude::*;
use burn::tensor::FloatDType;

use super::backbone::build_backbone;
use super::grad;
use super::head::{Head, HeadOutput};
use super::layers::{BackboneLayer, average_over_space};
use super::layout::{channels_first, channels_last};
use crate::data::Preprocess;
use crate::spec::{LayerPlan, PipelineSpec, Precision, head_fits_loss};

/// The backbone layers before the first trainable one, ready for inference; when they are
/// the whole backbone and the head starts with global average pooling, that pooling too.
#[derive(Module, Debug)]
pub struct FrozenFeatures {
    layers: Vec<BackboneLayer>,
    /// Their number format; the features they give are float32 either way.
    #[module(skip)]
    precision: Precision,
    /// Whether their output is averaged over height and width
    /// ([`LayerPlan::pools_features`]).
    #[module(skip)]
    pooled: bool,
}

impl FrozenFeatures {
    /// `layers` (BatchNorm folded) running in `precision`, their weights converted once.
    fn new(layers: Vec<BackboneLayer>, precision: Precision, pooled: bool) -> Self {
        let layers = match precision {
            Precision::Bf16 => layers
                .into_iter()
                .map(|layer| layer.map(&mut ToFloatType(FloatDType::BF16)))
                .collect(),
            // `auto` is decided by planning; undecided it runs as float32.
            Precision::Fp32 | Precision::Auto => layers,
        };
        Self {
            layers,
            precision,
            pooled,
        }
    }

    pub fn forward(&self, images: Tensor<4>) -> Tensor<4> {
        let images = channels_last(images);
        let run = |x: Tensor<4>| self.layers.iter().fold(x, |x, layer| layer.forward(x));
        let features = match self.precision {
            Precision::Bf16 => run(images.cast(FloatDType::BF16)).cast(FloatDType::F32),
            Precision::Fp32 | Precision::Auto => run(images),
        };
        if self.pooled {
            // In the row-major layout that the head's pooling reads cached features in, so
            // that the averages are the same to the last bit.
            average_over_space(channels_first(features))
        } else {
            features
        }
    }

    /// The number format its layers run in.
    pub fn precision(&self) -> Precision {
        self.precision
    }

    /// Its layers in order, BatchNorm folded, weights in its number format.
    pub fn layers(&self) -> &[BackboneLayer] {
        &self.layers
    }

    /// Its layers that `later` keeps: the frozen prefix of a later phase, which unfroze
    /// the rest (and so may no longer pool).
    pub fn prefix_of(mut self, later: &FrozenFeatures) -> Self {
        self.layers.truncate(later.layers.len());
        self.pooled = later.pooled;
        self
    }
}

/// Everything that learns: backbone layers after the frozen prefix (frozen ones among them
/// stay frozen) and the head.
#[derive(Module, Debug)]
pub struct TrainableModel {
    pub backbone: Vec<BackboneLayer>,
    pub head: Head,
    /// Whether the backbone's trainable convolutions compute in bfloat16 where that is
    /// native (`precision = "bf16"`, mixed precision: weights and gradients stay float32).
    #[module(skip)]
    pub mixed_precision: bool,
}

impl TrainableModel {
    /// Logits from the frozen prefix's features.
    pub fn forward_logits(&self, features: Tensor<4>) -> Tensor<2> {
        let run = || {
            self.backbone
                .iter()
                .fold(features, |x, layer| layer.forward(x))
        };
        let features = if self.mixed_precision {
            grad::conv::in_bfloat16(run)
        } else {
            run()
        };
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

/// Converts every float parameter to one number format.
struct ToFloatType(FloatDType);

impl ModuleMapper for ToFloatType {
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        param.map(|tensor| tensor.cast(self.0))
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
    /// `[channels, height, width]` of the frozen prefix's features for one image.
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
    let (frozen_prefix, precision) = (layers.frozen_prefix, layers.precision);
    let pooled = layers.pools_features(&spec.head);
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
    let frozen = FrozenFeatures::new(
        layers
            .into_iter()
            .map(|layer| layer.valid().fold_batchnorm())
            .collect(),
        precision,
        pooled,
    );
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
            mixed_precision: precision == Precision::Bf16,
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

#[cfg(test)]
mod tests {
    use burn::tensor::{DType, Distribution};

    use super::*;
    use crate::arch::efficientnet_lite::LITE0;
    use crate::model::efficientnet_lite::EfficientNetLite;
    use crate::model::test_support::pooling_head;

    /// EfficientNet-Lite0's stem and three blocks, folded: uneven padding, ReLU6, a
    /// residual addition.
    fn lite0_stem_and_three_blocks(device: &Device) -> Vec<BackboneLayer> {
        EfficientNetLite::new(LITE0, device)
            .into_layers()
            .into_iter()
            .take(4)
            .map(BackboneLayer::fold_batchnorm)
            .collect()
    }

    #[test]
    fn bf16_features_are_float32_and_within_bf16_rounding_of_fp32() {
        let device = crate::device::cpu();
        let layers = lite0_stem_and_three_blocks(&device);
        let fp32 = FrozenFeatures::new(layers.clone(), Precision::Fp32, false);
        let bf16 = FrozenFeatures::new(layers, Precision::Bf16, false);
        let images = Tensor::<4>::random([2, 3, 32, 32], Distribution::Uniform(-1.0, 1.0), &device);

        let expected = fp32.forward(images.clone());
        let features = bf16.forward(images);
        assert_eq!(features.dtype(), DType::F32);
        assert_eq!(features.dims(), expected.dims());
        let largest = expected.clone().abs().max().into_scalar::<f32>();
        let difference = (features - expected).abs().max().into_scalar::<f32>();
        // bfloat16 keeps 8 significant bits (0.4% per rounding); four layers of them stay
        // within 3% of the largest feature, and they do round: the two are not equal.
        assert!(
            difference <= 0.03 * largest,
            "max abs difference {difference}, largest feature {largest}"
        );
        assert!(difference > 0.0, "the bf16 features are the fp32 ones");
    }

    #[test]
    fn pooled_features_give_the_logits_of_whole_ones_to_the_last_bit() {
        let device = crate::device::cpu();
        let layers = lite0_stem_and_three_blocks(&device);
        let whole = FrozenFeatures::new(layers.clone(), Precision::Fp32, false);
        let pooled = FrozenFeatures::new(layers, Precision::Fp32, true);
        let images = Tensor::<4>::random([3, 3, 32, 32], Distribution::Uniform(-1.0, 1.0), &device);
        let whole_features = whole.forward(images.clone());
        let (head, _) = Head::new(
            &pooling_head(),
            shape_of(&whole_features),
            &device.clone().autodiff(),
        )
        .unwrap();
        let model = TrainableModel {
            backbone: Vec::new(),
            head,
            mixed_precision: false,
        }
        .valid();
        // As training reads them from the feature cache: the values, in a new tensor.
        let cached = |features: Tensor<4>| Tensor::<4>::from_data(features.into_data(), &device);

        let pooled_features = pooled.forward(images);
        let [_, channels, _, _] = whole_features.dims();
        assert_eq!(pooled_features.dims(), [3, channels, 1, 1]);
        assert_eq!(
            model.forward_logits(cached(pooled_features)).into_data(),
            model.forward_logits(cached(whole_features)).into_data()
        );
    }
}
