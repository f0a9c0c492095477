//! Planning a pipeline or experiment file: its trials, each trial's stages with their
//! keys, and which results the store has already. `runner plan` prints a plan; `runner
//! run` executes one.

mod report;

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, Result};
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::data::{Manifest, ScannedSplit, check_no_leakage, scan_source};
use crate::model::Network;
use crate::search::asha::Asha;
use crate::search::space::TpeSearch;
use crate::spec::sweep::{Budget, Trial, expand, trial_spec};
use crate::spec::{
    Arch, LayerPlan, Pipeline, PipelineSpec, Precision, Problem, apply_overrides, effective_phases,
    load_pipeline, load_pipeline_to_inspect, phase_name, phase_spec, pipeline_from_spec,
};
use crate::store::{RunRecord, Store};
pub use report::{PlanReport, plan_report};
use runner_core::plan::{InputHashes, StageKeys, feature_cache_problem, stage_keys};

/// The splits a trial can have, in the order every per-split list keeps: training,
/// validation, and test when the pipeline declares one.
pub const SPLITS: [&str; 3] = ["training", "validation", "test"];

pub struct Plan {
    /// The pipeline or experiment file the plan was made from, as given.
    pub source: PathBuf,
    /// The pipeline file the trials' relative paths are anchored at (an experiment's base).
    pub file: PathBuf,
    /// Whether the file declares a sweep (and its runs are trials of one).
    pub is_sweep: bool,
    pub trials: Vec<PlannedTrial>,
    /// For a `tpe` sweep, the search that chooses the trials after `trials` (its random
    /// start) as they finish.
    pub tpe: Option<TpeSearch>,
    /// How much work one `runner run` of the sweep may start.
    pub budget: Budget,
    /// The sweep's successive halving, if it has one.
    pub asha: Option<Asha>,
    /// The file's pipeline, which later trials are made from.
    pipeline: Pipeline,
    inputs: InputCache,
}

pub struct PlannedTrial {
    /// The trial's index in the sweep; 0 for a file without a sweep.
    pub index: usize,
    /// The values the sweep sets for this trial.
    pub values: BTreeMap<String, Value>,
    pub pipeline: Pipeline,
    /// Per split (see [`SPLITS`]).
    pub files: Vec<Arc<ScannedSplit>>,
    pub manifests: Vec<Arc<Manifest>>,
    /// The decoded images' keys and the training key (of all phases together).
    pub keys: StageKeys,
    /// What each phase trains (one phase without `[[phases]]`).
    pub phases: Vec<PlannedPhase>,
    /// A finished run whose training stage has this trial's key: the trial's result.
    pub trained_before: Option<RunRecord>,
    /// Otherwise, a run of this trial that successive halving paused (in an earlier
    /// `runner run` of a sweep): the trial trains on from its snapshot.
    pub paused: Option<RunRecord>,
}

/// One phase of a trial: the pipeline as that phase sees it, and its feature stages.
pub struct PlannedPhase {
    /// `logs` name: `phase 1`, or the name the file gives.
    pub name: String,
    /// The pipeline with this phase's freeze spec, optimizer and epochs.
    pub spec: PipelineSpec,
    /// Where this phase's backbone is cut and what is frozen: what its features' keys and
    /// its model's split are both made from.
    pub layers: LayerPlan,
    /// The frozen prefix differs between phases, and so do the features' keys.
    pub keys: StageKeys,
    /// Why the training features cannot be computed once, or `None` when they can.
    pub feature_cache_problem: Option<String>,
}

impl PlannedPhase {
    /// Whether any backbone layer runs frozen before the trainable ones.
    pub fn has_frozen_prefix(&self) -> bool {
        self.layers.frozen_prefix > 0
    }
}

impl Plan {
    /// The plan of a recorded run's pipeline (its stored text), as trial `index`: what
    /// `runner run --resume` continues.
    pub fn for_pipeline(
        pipeline: Pipeline,
        index: usize,
        on_cuda: bool,
        store: &Store,
    ) -> Result<Self> {
        let trial = Trial {
            index,
            values: BTreeMap::new(),
        };
        let source = pipeline.file.clone();
        let mut inputs = InputCache {
            on_cuda,
            ..Default::default()
        };
        let planned = inputs.plan_trial(trial, pipeline.clone(), store)?;
        Ok(Self {
            file: source.clone(),
            source,
            is_sweep: false,
            trials: vec![planned],
            tpe: None,
            budget: Budget::default(),
            asha: None,
            pipeline,
            inputs,
        })
    }

    /// Reads and checks the file (the weights file's tensors against the backbone too),
    /// sets the `-s KEY=VALUE` overrides, expands its sweep, scans and hashes the data and
    /// the weights, decides `precision = "auto"` for a run on CUDA (`on_cuda`) or on this
    /// CPU, and looks up finished training stages in `store`: what a run starts from.
    pub fn new(file: &Path, overrides: &[String], on_cuda: bool, store: &Store) -> Result<Self> {
        let inputs = InputCache {
            check_weights: true,
            on_cuda,
            ..Default::default()
        };
        let pipeline = apply_overrides(load_pipeline(file)?, overrides)?;
        Self::of_pipeline(file, pipeline, inputs, store)
    }

    /// The plan for `runner plan` and `runner data check`, which read no weights: a missing
    /// weights file is a warning (its stages are planned as not cached) and the weights'
    /// tensors are not checked. `precision = "auto"` is decided for the device a run would
    /// choose by default.
    pub fn to_inspect(file: &Path, store: &Store) -> Result<Self> {
        let pipeline = load_pipeline_to_inspect(file)?;
        let inputs = InputCache {
            on_cuda: crate::device::cuda_available(),
            ..Default::default()
        };
        Self::of_pipeline(file, pipeline, inputs, store)
    }

    fn of_pipeline(
        file: &Path,
        pipeline: Pipeline,
        inputs: InputCache,
        store: &Store,
    ) -> Result<Self> {
        let sweep = pipeline.written.sweep.clone();
        let trials = match &sweep {
            Some(sweep) => expand(sweep, pipeline.spec.pipeline.seed)
                .map_err(|problem| Problem::input_error([problem]))?,
            None => vec![Trial {
                index: 0,
                values: BTreeMap::new(),
            }],
        };
        let tpe = match &sweep {
            Some(sweep) => TpeSearch::of_sweep(sweep, pipeline.spec.pipeline.seed)
                .map_err(|problem| Problem::input_error([problem]))?,
            None => None,
        };
        let budget = sweep
            .as_ref()
            .map(Budget::of_sweep)
            .transpose()
            .map_err(|problem| Problem::input_error([problem]))?
            .unwrap_or_default();
        let mut inputs = inputs;
        if sweep.is_some() {
            inputs.paused = store.paused_runs()?;
        }
        let mut plan = Self {
            source: file.to_path_buf(),
            file: pipeline.file.clone(),
            is_sweep: sweep.is_some(),
            trials: Vec::with_capacity(trials.len()),
            tpe,
            budget,
            asha: None,
            pipeline,
            inputs,
        };
        for trial in trials {
            plan.add_trial(trial, store)?;
        }
        // Rungs count the epochs of every phase, as the base pipeline trains them.
        if let (Some(sweep), Some(first)) = (&sweep, plan.trials.first()) {
            let epochs = first.phases.iter().map(|p| p.spec.train.epochs).sum();
            plan.asha =
                Asha::of_sweep(sweep, epochs).map_err(|problem| Problem::input_error([problem]))?;
        }
        Ok(plan)
    }

    /// How many trials the file runs: those planned, or all that a tpe sweep will choose.
    pub fn trial_count(&self) -> usize {
        self.tpe
            .as_ref()
            .map_or(self.trials.len(), |search| search.trials)
    }

    /// Plans `trial` (the file's pipeline with the trial's values) after the others.
    pub fn add_trial(&mut self, trial: Trial, store: &Store) -> Result<&PlannedTrial> {
        let trial_pipeline = if self.is_sweep {
            let written = trial_spec(&self.pipeline.written, &trial)
                .map_err(|problem| Problem::input_error([problem]))?;
            pipeline_from_spec(&self.pipeline.file, written)
        } else {
            self.pipeline.clone()
        };
        let planned = self.inputs.plan_trial(trial, trial_pipeline, store)?;
        self.trials.push(planned);
        Ok(self.trials.last().expect("just planned"))
    }
}

/// A split's files and their manifest.
type SplitFiles = (Arc<ScannedSplit>, Arc<Manifest>);

/// The scanned splits with their manifests, and the weight hashes, each computed once
/// per distinct `[data]` section or weights file.
#[derive(Default)]
struct InputCache {
    data: HashMap<String, Vec<SplitFiles>>,
    weights: HashMap<PathBuf, String>,
    /// Whether each weights file's tensors are compared with the backbone's.
    check_weights: bool,
    /// Whether the trials will run on CUDA, where `precision = "auto"` means `bf16`.
    on_cuda: bool,
    /// The runs successive halving paused, by training stage key (a sweep's only).
    paused: HashMap<String, RunRecord>,
}

impl InputCache {
    fn plan_trial(
        &mut self,
        trial: Trial,
        mut pipeline: Pipeline,
        store: &Store,
    ) -> Result<PlannedTrial> {
        decide_precision(&mut pipeline, self.on_cuda);
        let spec = &pipeline.spec;
        let splits = self.splits(spec)?;
        let weights = match spec.backbone.weights_file() {
            Some(path) => Some(self.weights(spec.backbone.arch, path)?),
            None => None,
        };
        let hashes = InputHashes {
            manifests: splits
                .iter()
                .map(|(_, manifest)| manifest.key.clone())
                .collect(),
            weights,
        };
        let keys = stage_keys(spec, &LayerPlan::of(&spec.backbone)?, &hashes);
        let phases = (0..effective_phases(spec).len())
            .map(|index| {
                let phase = phase_spec(spec, index)?;
                let layers = LayerPlan::of(&phase.backbone)?;
                Ok(PlannedPhase {
                    name: phase_name(spec, index),
                    keys: stage_keys(&phase, &layers, &hashes),
                    feature_cache_problem: feature_cache_problem(&phase, &layers),
                    layers,
                    spec: phase,
                })
            })
            .collect::<Result<_>>()?;
        let (files, manifests) = splits.into_iter().unzip();
        let trained_before = store.run_for_stage(&keys.training)?;
        let paused = if trained_before.is_none() {
            self.paused.get(&keys.training).cloned()
        } else {
            None
        };
        Ok(PlannedTrial {
            index: trial.index,
            values: trial.values,
            phases,
            trained_before,
            paused,
            keys,
            files,
            manifests,
            pipeline,
        })
    }

    /// Training, validation (a folder, or held out of `train`) and test when declared.
    fn splits(&mut self, spec: &PipelineSpec) -> Result<Vec<SplitFiles>> {
        let data = &spec.data;
        // A held-out validation split depends on the seed too.
        let identity = serde_json::to_string(&(
            data,
            data.validation_split
                .map(|_| spec.pipeline.seeds().validation_split),
        ))?;
        if let Some(found) = self.data.get(&identity) {
            return Ok(found.clone());
        }
        let [_, validation, test] = data.sources();
        let train = data.training_source().map_err(crate::error::input_error)?;
        let train = scan_source(SPLITS[0], train, data.classes.as_deref(), data)?;
        // The other splits' labels are the training split's classes.
        let classes = train.classes.clone();
        let classes = Some(classes.as_slice());
        let (train, validation) = match (validation, data.validation_split) {
            (Some(source), _) => {
                let validation = scan_source(SPLITS[1], source, classes, data)?;
                (train, validation)
            }
            (None, Some(fraction)) => {
                train.hold_out(fraction, spec.pipeline.seeds().validation_split)?
            }
            (None, None) => crate::bail_input!(
                "`data` needs a `validation` folder or `validation_csv` file, or a `validation_split`"
            ),
        };
        let mut splits = vec![train, validation];
        if let Some(test) = test {
            splits.push(scan_source(SPLITS[2], test, classes, data)?);
        }
        check_no_leakage(&splits[0], &splits[1..])?;
        let splits: Vec<SplitFiles> = splits
            .into_iter()
            .map(|split| {
                let manifest = Manifest::of(&split)?;
                Ok((Arc::new(split), Arc::new(manifest)))
            })
            .collect::<Result<_>>()?;
        self.data.insert(identity, splits.clone());
        Ok(splits)
    }

    /// The weights file's hash; for a missing file (see [`Plan::to_inspect`]) a key of its
    /// own, which no stage in the store has.
    fn weights(&mut self, arch: Arch, path: &Path) -> Result<String> {
        if let Some(hash) = self.weights.get(path) {
            return Ok(hash.clone());
        }
        if !path.is_file() {
            return Ok(format!("missing {}", path.display()));
        }
        if self.check_weights {
            Network::check_weights(arch, path)?;
        }
        let bytes = std::fs::read(path)
            .with_context(|| format!("cannot read the weights file `{}`", path.display()))?;
        let hash = format!("{:x}", Sha256::digest(&bytes));
        self.weights.insert(path.to_path_buf(), hash.clone());
        Ok(hash)
    }
}

/// `precision = "auto"` decided for the hardware the trial runs on, in the spec that its
/// keys and model are made from and in the parameters its run records.
fn decide_precision(pipeline: &mut Pipeline, on_cuda: bool) {
    let backbone = &mut pipeline.spec.backbone;
    if backbone.precision != Precision::Auto {
        return;
    }
    backbone.precision = backbone.precision.resolve(on_cuda);
    pipeline.params.insert(
        "backbone.precision".into(),
        backbone.precision.name().into(),
    );
}
