//! Stage keys: what each stage's result depends on, hashed.

use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::spec::{BatchNormMode, ImageLimits, LayerPlan, PipelineSpec, Precision};

/// How images are decoded and resized; part of the decoded stage's key, so that changing
/// either invalidates every decoded cache.
const DECODING: &str = "libjpeg-turbo at a covering DCT scale, then bilinear (fast_image_resize 5)";

/// How `train.validation_steps` picks what it evaluates; part of the training stage's key
/// of the pipelines that set it, whose runs from before (the split's first batches, and a
/// test split cut to as many) differ from today's.
const PARTIAL_VALIDATION: &str =
    "validation_steps batches drawn from an order reshuffled every epoch; the whole test split";

/// Content hashes of what a trial reads from disk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InputHashes {
    /// Key of each split's manifest (relative path, size, content hash and label of each
    /// file): training, validation, and test when there is one.
    pub manifests: Vec<String>,
    /// SHA-256 of the weights file; `None` for `weights = "none"`.
    pub weights: Option<String>,
}

/// The keys of one trial's stages; the per-split ones in the order of
/// [`InputHashes::manifests`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StageKeys {
    pub decoded: Vec<String>,
    /// Output of the frozen prefix of the backbone for each image.
    pub features: Vec<String>,
    /// The trained model, its history and its test evaluation.
    pub training: String,
}

/// Hex SHA-256 of the parts, each length-prefixed so that no two lists of parts collide.
pub fn digest(parts: &[&str]) -> String {
    let mut hasher = Sha256::new();
    for part in parts {
        hasher.update((part.len() as u64).to_le_bytes());
        hasher.update(part.as_bytes());
    }
    format!("{:x}", hasher.finalize())
}

/// Why the training images' features cannot be computed once and reused by every epoch
/// (and every trial that shares them), or `None` when they can. `layers` is the plan of
/// `spec.backbone`.
pub fn feature_cache_problem(spec: &PipelineSpec, layers: &LayerPlan) -> Option<String> {
    if spec.backbone.batchnorm == BatchNormMode::Train {
        return Some(
            "BatchNorm in the frozen layers uses batch statistics (`backbone.batchnorm = \"train\"`), so their output depends on the batch"
                .into(),
        );
    }
    if layers.frozen_prefix == 0 {
        return Some("no frozen layer comes before the first trainable one".into());
    }
    if !spec.augment.is_identity() {
        return Some(
            "augmentation is on, so every epoch shows the backbone different training images"
                .into(),
        );
    }
    None
}

/// Every stage key of a trial, whose backbone's plan is `layers`. The pipeline's name, its
/// sweep and where its files live are left out: only what changes a stage's output
/// changes its key.
pub fn stage_keys(spec: &PipelineSpec, layers: &LayerPlan, inputs: &InputHashes) -> StageKeys {
    let [height, width] = spec.data.image_size;
    let size = format!("{height}x{width}");
    // The limits decide which files are skipped. At their defaults they are left out, so
    // the keys of pipelines that do not set them stay what they were.
    let limits = spec.data.image_limits();
    let limits = (limits != ImageLimits::default()).then(|| {
        format!(
            "{} pixels, {} bytes",
            limits.max_pixels, limits.max_file_bytes
        )
    });
    let decoded: Vec<String> = inputs
        .manifests
        .iter()
        .map(|manifest| {
            let mut parts = vec!["decoded", manifest, &size, DECODING];
            parts.extend(limits.as_deref());
            digest(&parts)
        })
        .collect();

    let weights = match &inputs.weights {
        Some(hash) => hash.clone(),
        // Random frozen layers depend on the seed that initialized them.
        None => format!("none, seed {}", spec.pipeline.seed),
    };
    let prefix = layers.frozen_prefix_names().join(",");
    let preprocessing = match spec.augment.rescale {
        Some(rescale) => format!("rescale {rescale}"),
        None => "the backbone's".to_string(),
    };
    // float32 features keep the keys they had before precision could be chosen.
    let precision = (layers.precision == Precision::Bf16).then_some(Precision::Bf16.name());
    // Likewise, features kept whole keep their keys.
    let pooled = layers
        .pools_features(&spec.head)
        .then_some("averaged over height and width");
    let features = decoded
        .iter()
        .map(|decoded| {
            let mut parts = vec![
                "features",
                decoded,
                spec.backbone.arch.name(),
                &weights,
                &prefix,
                &preprocessing,
            ];
            parts.extend(precision);
            parts.extend(pooled);
            digest(&parts)
        })
        .collect();

    let spec_text = training_spec(spec).to_string();
    let mut parts = vec!["training", &weights, &spec_text];
    parts.extend(inputs.manifests.iter().map(String::as_str));
    if spec.train.validation_steps.is_some() {
        parts.push(PARTIAL_VALIDATION);
    }
    let training = digest(&parts);
    StageKeys {
        decoded,
        features,
        training,
    }
}

/// The spec as JSON without the keys that do not change what is trained: the name, the
/// sweep, the executor, and the paths (their contents are hashed instead). serde_json sorts object keys,
/// so the text is canonical.
fn training_spec(spec: &PipelineSpec) -> Value {
    let mut value = serde_json::to_value(PipelineSpec {
        sweep: None,
        executor: None,
        ..spec.clone()
    })
    .expect("a spec is JSON");
    let remove = |value: &mut Value, section: &str, key: &str| {
        if let Some(Value::Object(section)) = value.get_mut(section) {
            section.remove(key);
        }
    };
    remove(&mut value, "pipeline", "name");
    // The files' contents are in the manifests' keys, whichever way they were listed.
    for path in [
        "train",
        "validation",
        "test",
        "train_csv",
        "validation_csv",
        "test_csv",
        "path_column",
        "label_column",
    ] {
        remove(&mut value, "data", path);
    }
    remove(&mut value, "backbone", "weights");
    value
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::small_pipeline::small_pipeline;
    use crate::spec::{AugmentSpec, FreezeKeyword, FreezeSpec, HeadLayerSpec};

    fn spec() -> PipelineSpec {
        toml::from_str(&small_pipeline("w.pth")).unwrap()
    }

    fn keys_of(spec: &PipelineSpec, inputs: &InputHashes) -> StageKeys {
        stage_keys(spec, &LayerPlan::of(&spec.backbone).unwrap(), inputs)
    }

    /// The keys of the small pipeline, and of the same after `change`.
    fn keys_after(change: impl FnOnce(&mut PipelineSpec)) -> (StageKeys, StageKeys) {
        let mut changed = spec();
        change(&mut changed);
        (keys_of(&spec(), &inputs()), keys_of(&changed, &inputs()))
    }

    fn cache_problem(spec: &PipelineSpec) -> Option<String> {
        feature_cache_problem(spec, &LayerPlan::of(&spec.backbone).unwrap())
    }

    fn inputs() -> InputHashes {
        InputHashes {
            manifests: vec!["train-manifest".into(), "validation-manifest".into()],
            weights: Some("weights".into()),
        }
    }

    #[test]
    fn name_and_paths_do_not_change_any_key() {
        let base = keys_of(&spec(), &inputs());
        let mut moved = spec();
        moved.pipeline.name = "other".into();
        moved.data.train = Some("elsewhere/train".into());
        moved.data.validation = Some("elsewhere/validation".into());
        moved.backbone.weights = "elsewhere/w.pth".into();
        assert_eq!(keys_of(&moved, &inputs()), base);
    }

    #[test]
    fn the_executor_changes_no_key_and_no_parameter() {
        let mut on_slurm = spec();
        on_slurm.executor = Some(crate::spec::ExecutorSpec {
            partition: Some("gpu".into()),
            max_concurrent: Some(2),
            ..Default::default()
        });
        assert_eq!(keys_of(&on_slurm, &inputs()), keys_of(&spec(), &inputs()));
        assert_eq!(
            crate::spec::flatten_params(&on_slurm),
            crate::spec::flatten_params(&spec())
        );
    }

    #[test]
    fn bf16_features_and_their_training_never_share_a_key_with_fp32() {
        let (base, declared_fp32) = keys_after(|spec| spec.backbone.precision = Precision::Fp32);
        assert_eq!(declared_fp32, base);
        let (base, keys) = keys_after(|spec| spec.backbone.precision = Precision::Bf16);
        assert_eq!(keys.decoded, base.decoded);
        for (bf16, fp32) in keys.features.iter().zip(&base.features) {
            assert_ne!(bf16, fp32);
        }
        assert_ne!(keys.training, base.training);
    }

    #[test]
    fn a_head_change_changes_only_the_training_key() {
        let (base, keys) = keys_after(|spec| spec.head[1] = HeadLayerSpec::Dropout { rate: 0.5 });
        assert_eq!(keys.decoded, base.decoded);
        assert_eq!(keys.features, base.features);
        assert_ne!(keys.training, base.training);
    }

    #[test]
    fn pooled_features_never_share_a_key_with_whole_ones() {
        // Whole backbone frozen and global average pooling first: the features are pooled.
        let pooled = spec();
        let layers = LayerPlan::of(&pooled.backbone).unwrap();
        assert!(layers.pools_features(&pooled.head));
        let mut flattened = spec();
        flattened.head[0] = HeadLayerSpec::Flatten;
        assert!(!layers.pools_features(&flattened.head));
        let (pooled, flattened) = (keys_of(&pooled, &inputs()), keys_of(&flattened, &inputs()));
        assert_eq!(pooled.decoded, flattened.decoded);
        for (pooled, whole) in pooled.features.iter().zip(&flattened.features) {
            assert_ne!(pooled, whole);
        }
    }

    #[test]
    fn a_changed_data_file_changes_its_split_and_the_training() {
        let base = keys_of(&spec(), &inputs());
        let changed = InputHashes {
            manifests: vec![
                "another-train-manifest".into(),
                "validation-manifest".into(),
            ],
            ..inputs()
        };
        let keys = keys_of(&spec(), &changed);
        assert_ne!(keys.decoded[0], base.decoded[0]);
        assert_ne!(keys.features[0], base.features[0]);
        assert_eq!(keys.decoded[1], base.decoded[1]);
        assert_eq!(keys.features[1], base.features[1]);
        assert_ne!(keys.training, base.training);
    }

    #[test]
    fn a_test_split_changes_only_the_training() {
        let base = keys_of(&spec(), &inputs());
        let mut with_test = inputs();
        with_test.manifests.push("test-manifest".into());
        let keys = keys_of(&spec(), &with_test);
        assert_eq!(keys.decoded[..2], base.decoded[..]);
        assert_eq!(keys.features[..2], base.features[..]);
        assert_eq!(keys.decoded.len(), 3);
        assert_ne!(keys.training, base.training);
    }

    #[test]
    fn changed_weights_change_features_and_training_not_decoding() {
        let base = keys_of(&spec(), &inputs());
        let changed = InputHashes {
            weights: Some("other weights".into()),
            ..inputs()
        };
        let keys = keys_of(&spec(), &changed);
        assert_eq!(keys.decoded, base.decoded);
        assert_ne!(keys.features, base.features);
        assert_ne!(keys.training, base.training);
    }

    #[test]
    fn image_size_cut_and_freeze_change_the_upstream_stages() {
        let (base, resized) = keys_after(|spec| spec.data.image_size = [64, 64]);
        assert_ne!(resized.decoded, base.decoded);

        let (base, keys) = keys_after(|spec| spec.backbone.cut = Some("block5".into()));
        assert_eq!(keys.decoded, base.decoded);
        assert_ne!(keys.features, base.features);
        assert_ne!(keys.training, base.training);
    }

    #[test]
    fn epochs_seed_and_augmentation_change_only_the_training() {
        for change in [
            (|spec: &mut PipelineSpec| spec.train.epochs = 3) as fn(&mut PipelineSpec),
            |spec| spec.pipeline.seed = 7,
            |spec| {
                spec.augment = AugmentSpec {
                    horizontal_flip: true,
                    ..AugmentSpec::default()
                }
            },
        ] {
            let (base, keys) = keys_after(change);
            assert_eq!(keys.features, base.features);
            assert_ne!(keys.training, base.training);
        }
    }

    #[test]
    fn rescale_changes_the_features_of_both_splits() {
        let (base, keys) = keys_after(|spec| spec.augment.rescale = Some(1.0 / 255.0));
        assert_eq!(keys.decoded, base.decoded);
        assert_ne!(keys.features[0], base.features[0]);
        assert_ne!(keys.features[1], base.features[1]);
    }

    #[test]
    fn random_frozen_layers_tie_features_to_the_seed() {
        let none = InputHashes {
            weights: None,
            ..inputs()
        };
        let base = keys_of(&spec(), &none);
        let mut reseeded = spec();
        reseeded.pipeline.seed = 7;
        assert_ne!(keys_of(&reseeded, &none).features, base.features);
    }

    #[test]
    fn feature_cache_needs_a_frozen_prefix_and_no_augmentation() {
        assert_eq!(cache_problem(&spec()), None);
        let plan = LayerPlan::of(&spec().backbone).unwrap();
        assert_eq!(
            plan.frozen_prefix_names(),
            ["stem", "block0", "block1", "block2", "block3"]
        );

        let mut trainable = spec();
        trainable.backbone.freeze = FreezeSpec::Keyword(FreezeKeyword::None);
        assert!(
            cache_problem(&trainable)
                .unwrap()
                .contains("no frozen layer")
        );

        let mut augmented = spec();
        augmented.augment.horizontal_flip = true;
        assert!(cache_problem(&augmented).unwrap().contains("augmentation"));
    }
}
