//! Multi-phase fine-tuning: the phases a pipeline trains in, each seen as a pipeline of
//! its own (its frozen layers, its optimizer, its epochs).

use anyhow::Result;

use super::types::{PhaseSpec, PipelineSpec};
use crate::error::input_error;

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
/// `backbone.freeze`, its optimizer as `train.optimizer`, its epochs as `train.epochs`. An
/// index past the last phase is an input error: indices come back from the store and from
/// resume snapshots, which are read back from disk and may have been damaged or edited.
pub fn phase_spec(spec: &PipelineSpec, index: usize) -> Result<PipelineSpec> {
    let phases = effective_phases(spec);
    let Some(phase) = phases.get(index) else {
        return Err(input_error(format!(
            "phase {} does not exist: the pipeline has {} phase{}",
            index + 1,
            phases.len(),
            if phases.len() == 1 { "" } else { "s" }
        )));
    };
    let mut phase_spec = spec.clone();
    if let Some(freeze) = &phase.freeze {
        phase_spec.backbone.freeze = freeze.clone();
    }
    if let Some(optimizer) = &phase.optimizer {
        phase_spec.train.optimizer = optimizer.clone();
    }
    phase_spec.train.epochs = phase.epochs;
    phase_spec.phases = Vec::new();
    Ok(phase_spec)
}

/// How phase `index` is named in logs and histories.
pub fn phase_name(spec: &PipelineSpec, index: usize) -> String {
    effective_phases(spec)
        .get(index)
        .and_then(|phase| phase.name.clone())
        .unwrap_or_else(|| format!("phase {}", index + 1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_phase_past_the_last_is_an_error_not_a_panic() {
        let text = crate::spec::starter_pipeline(crate::spec::Arch::EfficientnetLite0);
        let spec: PipelineSpec = toml::from_str(&text).unwrap();
        assert!(phase_spec(&spec, 0).is_ok());
        let error = phase_spec(&spec, 98).unwrap_err();
        assert!(crate::error::is_input_error(&error));
        assert_eq!(
            error.to_string(),
            "phase 99 does not exist: the pipeline has 1 phase"
        );
    }
}
