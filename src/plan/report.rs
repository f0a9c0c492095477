//! What `runner plan` prints: the stages with their keys and whether they are cached,
//! which trials share them, and each trial's trainable parameters and training status.

use std::collections::BTreeMap;
use std::fmt::Write;

use anyhow::Result;
use burn::prelude::Device;
use serde::Serialize;

use super::{Plan, SPLITS};
use crate::model::build_classifier;
use crate::stages::{Stages, short};

#[derive(Debug, Serialize)]
pub struct PlanReport {
    pub file: String,
    pub stages: Vec<StageRow>,
    pub trials: Vec<TrialRow>,
    /// Images the frozen backbone will process: each uncached feature stage once, plus
    /// every epoch's training images of trials that cannot cache them.
    pub backbone_passes: usize,
    /// The same for a loop with no stage sharing: every trial, every epoch, both splits.
    pub backbone_passes_without_cache: usize,
    /// For a `tpe` sweep: the trials chosen as trials finish, after the listed ones.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub chosen_later: Option<ChosenLater>,
    /// For a sweep with successive halving: the epochs of its rungs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rungs: Option<Rungs>,
    /// What one `runner run` of the sweep may spend before it stops starting work.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub budget: Option<String>,
}

/// Successive halving's rungs, as planned.
#[derive(Debug, Serialize)]
pub struct Rungs {
    pub epochs: Vec<usize>,
    pub reduction_factor: usize,
    pub monitor: String,
    pub mode: crate::spec::sweep::SweepMode,
}

/// The trials of a `tpe` sweep that planning cannot list.
#[derive(Debug, Serialize)]
pub struct ChosenLater {
    pub trials: usize,
    pub monitor: String,
    pub mode: crate::spec::sweep::SweepMode,
}

#[derive(Debug, Serialize)]
pub struct StageRow {
    pub stage: String,
    pub key: String,
    /// `cached`, `to compute`, `not needed` (every trial that uses it is cached further
    /// down) or `hashed now` (manifests).
    pub status: String,
    pub trials: Vec<usize>,
}

#[derive(Debug, Serialize)]
pub struct TrialRow {
    pub trial: usize,
    pub values: BTreeMap<String, serde_json::Value>,
    /// Per phase (one without `[[phases]]`).
    pub trainable_params: Vec<usize>,
    /// In the first phase: `shared stage KEY`, or why the training features cannot be
    /// cached.
    pub training_features: String,
    /// `to train (N epochs)`, `trained before: run ID` or `paused after epoch N: run ID,
    /// trains on`.
    pub training: String,
}

/// Builds each trial's model (for its parameter counts) and checks the cache for each stage.
pub fn plan_report(plan: &Plan, stages: &Stages, device: &Device) -> Result<PlanReport> {
    let mut rows: BTreeMap<String, StageRow> = BTreeMap::new();
    let mut trials = Vec::with_capacity(plan.trials.len());
    let mut passes = 0;
    let mut counted_features = std::collections::HashSet::new();
    let mut passes_without_cache = 0;
    for trial in &plan.trials {
        let spec = &trial.pipeline.spec;
        let images: Vec<usize> = trial.files.iter().map(|files| files.files.len()).collect();
        let to_train = trial.trained_before.is_none();
        // Without shared stages: training and validation every epoch, test once.
        passes_without_cache +=
            spec.train.epochs * (images[0] + images[1]) + images.get(2).copied().unwrap_or(0);
        let mut decoded_needed = vec![false; images.len()];
        let mut trainable_params = Vec::with_capacity(trial.phases.len());
        for (phase_index, phase) in trial.phases.iter().enumerate() {
            // Counted on random weights, as `runner summary` counts them: the plan reads no
            // weights file (which may not be there yet).
            let mut unloaded = phase.spec.clone();
            unloaded.backbone.weights = "none".into();
            let classes = &trial.files[0].classes;
            let classifier = build_classifier(&unloaded, &phase.layers, classes, device)?;
            trainable_params.push(classifier.trainable.trainable_params());
            // Features of later phases are named with their phase: their prefix differs.
            let suffix = if trial.phases.len() > 1 {
                format!(" (phase {})", phase_index + 1)
            } else {
                String::new()
            };
            for (split, name) in SPLITS.iter().enumerate().take(images.len()) {
                // Only training images are augmented.
                let uses_features = phase.has_frozen_prefix()
                    && (split > 0 || phase.feature_cache_problem.is_none());
                let features_key = &phase.keys.features[split];
                let cached = stages.has_features(features_key);
                decoded_needed[split] |= to_train && !(uses_features && cached);
                if uses_features {
                    let status = if cached {
                        "cached"
                    } else if to_train {
                        "to compute"
                    } else {
                        "not needed"
                    };
                    add_stage(
                        &mut rows,
                        format!("features.{name}{suffix}"),
                        features_key,
                        status,
                        trial.index,
                    );
                    if status == "to compute" && counted_features.insert(features_key.clone()) {
                        passes += images[split];
                    }
                } else if to_train && split == 0 {
                    passes += phase.spec.train.epochs * images[0];
                }
            }
        }
        for (split, name) in SPLITS.iter().enumerate().take(images.len()) {
            add_stage(
                &mut rows,
                format!("manifest.{name}"),
                &trial.manifests[split].key,
                "hashed now",
                trial.index,
            );
            let decoded_key = &trial.keys.decoded[split];
            let status = if stages.has_decoded(decoded_key) {
                "cached"
            } else if decoded_needed[split] {
                "to compute"
            } else {
                "not needed"
            };
            add_stage(
                &mut rows,
                format!("decoded.{name}"),
                decoded_key,
                status,
                trial.index,
            );
        }
        let first = &trial.phases[0];
        let training_features = match &first.feature_cache_problem {
            None => format!("shared stage {}", short(&first.keys.features[0])),
            Some(problem) => format!("not cached: {problem}"),
        };
        let training = match (&trial.trained_before, &trial.paused) {
            (Some(run), _) => format!("trained before: run {}", run.id),
            (None, Some(run)) => format!(
                "paused after epoch {}: run {}, trains on",
                run.epochs, run.id
            ),
            (None, None) => format!("to train ({} epochs)", spec.train.epochs),
        };
        let status = if to_train { "to compute" } else { "cached" };
        add_stage(
            &mut rows,
            "training".into(),
            &trial.keys.training,
            status,
            trial.index,
        );
        trials.push(TrialRow {
            trial: trial.index,
            values: trial.values.clone(),
            trainable_params,
            training_features,
            training,
        });
    }
    Ok(PlanReport {
        file: plan.source.display().to_string(),
        stages: rows.into_values().collect(),
        trials,
        backbone_passes: passes,
        backbone_passes_without_cache: passes_without_cache,
        rungs: plan.asha.as_ref().map(|asha| Rungs {
            epochs: asha.rungs.epochs.clone(),
            reduction_factor: asha.rungs.reduction_factor,
            monitor: asha.monitor.clone(),
            mode: asha.mode,
        }),
        budget: plan.budget.is_set().then(|| plan.budget.to_string()),
        chosen_later: plan.tpe.as_ref().map(|search| ChosenLater {
            trials: plan.trial_count() - plan.trials.len(),
            monitor: search.monitor.clone(),
            mode: search.mode,
        }),
    })
}

/// Adds `trial` to the row of the stage with `key`, creating the row with `status`. A
/// stage one trial computes is there for the next, so the first status wins.
fn add_stage(
    rows: &mut BTreeMap<String, StageRow>,
    stage: String,
    key: &str,
    status: &str,
    trial: usize,
) {
    // Rows in the order the stages run, then by key.
    let rank = ["manifest", "decoded", "features", "training"]
        .iter()
        .position(|kind| stage.starts_with(kind))
        .unwrap_or(4);
    let row = rows
        .entry(format!("{rank} {stage} {key}"))
        .or_insert_with(|| StageRow {
            stage,
            key: key.to_string(),
            status: status.to_string(),
            trials: Vec::new(),
        });
    if row.status == "not needed" && status == "to compute" {
        row.status = status.to_string();
    }
    row.trials.push(trial);
}

impl PlanReport {
    /// The plan as aligned text.
    pub fn to_text(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "plan of {}: {} trial(s)\n",
            self.file,
            self.trials.len()
        );
        let _ = writeln!(out, "{:<22} {:<14} {:<12} trials", "stage", "key", "status");
        for row in &self.stages {
            let _ = writeln!(
                out,
                "{:<22} {:<14} {:<12} {}",
                row.stage,
                short(&row.key),
                row.status,
                trial_list(&row.trials)
            );
        }
        let _ = writeln!(
            out,
            "\n{:<6} {:<32} {:>12}  {:<46} training features",
            "trial", "values", "trainable", "training"
        );
        for trial in &self.trials {
            let values = trial
                .values
                .iter()
                .map(|(key, value)| format!("{key}={value}"))
                .collect::<Vec<_>>()
                .join(" ");
            let _ = writeln!(
                out,
                "{:<6} {:<32} {:>12}  {:<46} {}",
                trial.trial,
                if values.is_empty() {
                    "-".into()
                } else {
                    values
                },
                trial
                    .trainable_params
                    .iter()
                    .map(usize::to_string)
                    .collect::<Vec<_>>()
                    .join(" / "),
                trial.training,
                trial.training_features
            );
        }
        if let Some(rungs) = &self.rungs {
            let _ = writeln!(
                out,
                "successive halving: rungs at {} epochs; the best 1/{} of each rung by {} ({}) go on, the others pause as `pruned`; training counts above assume every trial trains all its epochs",
                rungs
                    .epochs
                    .iter()
                    .map(usize::to_string)
                    .collect::<Vec<_>>()
                    .join(", "),
                rungs.reduction_factor,
                rungs.monitor,
                rungs.mode.name()
            );
        }
        if let Some(budget) = &self.budget {
            let _ = writeln!(
                out,
                "budget: each `runner run` of the sweep starts work until {budget} are spent, then stops; running it again continues"
            );
        }
        if let Some(later) = &self.chosen_later {
            let _ = writeln!(
                out,
                "then {} trials chosen by TPE as trials finish, from each one's best {} ({}); their stages are not counted",
                later.trials,
                later.monitor,
                later.mode.name()
            );
        }
        let _ = writeln!(
            out,
            "\nbackbone passes over images: {} (without shared stages: {})",
            self.backbone_passes, self.backbone_passes_without_cache
        );
        out
    }
}

/// `0-4` for a run of consecutive trials, `0, 2, 5` otherwise.
fn trial_list(trials: &[usize]) -> String {
    let consecutive = trials.windows(2).all(|pair| pair[1] == pair[0] + 1);
    match (trials.first(), trials.last()) {
        (Some(first), Some(last)) if consecutive && trials.len() > 2 => format!("{first}-{last}"),
        _ => trials
            .iter()
            .map(usize::to_string)
            .collect::<Vec<_>>()
            .join(", "),
    }
}
