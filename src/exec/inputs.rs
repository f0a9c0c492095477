//! What a trial trains and validates on: frozen features from the stage cache when the
//! frozen prefix's output can be reused, decoded images otherwise.

use anyhow::Result;

use super::no_heartbeat;
use super::trial::TrialContext;
use crate::model::Classifier;
use crate::plan::SPLITS;
use crate::stages::{extract_features, short};
use crate::train::SplitInput;

/// Features larger than this are not cached: the frozen prefix runs on every batch instead.
const FEATURE_CACHE_BUDGET_BYTES: usize = 8 << 30;

/// The input of each split of the trial (training, validation, test when declared) in
/// phase `phase`, computing (and caching) the stages they need that no earlier trial or
/// run has computed.
pub fn trial_inputs(
    ctx: &mut TrialContext,
    phase: usize,
    classifier: &Classifier,
) -> Result<Vec<SplitInput>> {
    (0..ctx.trial.files.len())
        .map(|split| split_input(ctx, phase, split, classifier))
        .collect()
}

fn split_input(
    ctx: &mut TrialContext,
    phase: usize,
    split: usize,
    classifier: &Classifier,
) -> Result<SplitInput> {
    let TrialContext {
        trial,
        options,
        stages,
        ..
    } = ctx;
    let phase = &trial.phases[phase];
    let spec = &phase.spec;
    let name = SPLITS[split];
    let files = &trial.files[split];
    let feature_bytes = classifier.frozen_output_shape.iter().product::<usize>() * 4;
    // Validation and test images are never augmented: their features can always be reused.
    let cacheable = phase.has_frozen_prefix()
        && (split > 0 || phase.feature_cache_problem.is_none())
        && files.files.len() * feature_bytes <= FEATURE_CACHE_BUDGET_BYTES;
    let decoded_key = &trial.keys.decoded[split];
    if !cacheable {
        let images = stages.decoded(decoded_key, name, files, &spec.data)?;
        return Ok(SplitInput::Images(images));
    }
    let features_key = &phase.keys.features[split];
    let label = format!("{name} features (stage {})", short(features_key));
    // Images are decoded only when the cached features cannot be read: a cache file that
    // exists may still be damaged.
    if let Some(features) = stages.cached_features(features_key, &label) {
        return Ok(SplitInput::Features(features));
    }
    let decoded = stages.decoded(decoded_key, name, files, &spec.data)?;
    let features = extract_features(
        classifier,
        &decoded,
        spec.data.batch_size,
        &options.device,
        &options.activity(&no_heartbeat),
        &label,
    )?;
    drop(decoded);
    stages.release_decoded(decoded_key);
    Ok(SplitInput::Features(
        stages.insert_features(features_key, features)?,
    ))
}
