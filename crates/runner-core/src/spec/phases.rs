//! Multi-phase fine-tuning: the phases a pipeline trains in, each seen as a pipeline of
//! its own (its frozen layers, its optimizer, its epochs).

use super::types::{PhaseSpec, PipelineSpec};

/// The phases to train: those declared, or one made of `train` and `backbone.freeze`.
pub fn effective_phases(spec: &PipelineSpec) -> Vec<PhaseSpec> {
    if !spec.phases.is_empty() {
        return spec.phases.clone();
    }
    vec![PhaseSpec {
        name: None,
        epochs: spec.train.epochs,
        freeze: None,
        optimizer: None,
    }]
}

/// The pipeline as phase `index` (0-based) trains it: the phase's freeze spec as
/// `backbone.freeze`, its optimizer as `train.optimizer`, its epochs as `train.epochs`.
pub fn phase_spec(spec: &PipelineSpec, index: usize) -> PipelineSpec {
    let phase = &effective_phases(spec)[index];
    let mut phase_spec = spec.clone();
    if let Some(freeze) = &phase.freeze {
        phase_spec.backbone.freeze = freeze.clone();
    }
    if let Some(optimizer) = &phase.optimizer {
        phase_spec.train.optimizer = optimizer.clone();
    }
    phase_spec.train.epochs = phase.epochs;
    phase_spec.phases = Vec::new();
    phase_spec
}

/// How phase `index` is named in logs and histories.
pub fn phase_name(spec: &PipelineSpec, index: usize) -> String {
    effective_phases(spec)[index]
        .name
        .clone()
        .unwrap_or_else(|| format!("phase {}", index + 1))
}
