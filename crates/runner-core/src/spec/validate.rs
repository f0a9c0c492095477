//! Values that parse but are out of range, each named by its key path. The bounds are the
//! ones `types.rs` declares to the JSON Schema.

use super::types::{HeadLayerSpec, OptimizerSpec, PipelineSpec};

/// `(key, message)` for every out-of-range value.
pub(super) fn out_of_range_values(spec: &PipelineSpec) -> Vec<(String, String)> {
    let mut problems = Vec::new();
    let mut problem = |key: &str, message: String| problems.push((key.to_string(), message));
    if spec.pipeline.name.trim().is_empty() {
        problem("pipeline.name", "`pipeline.name` must not be empty".into());
    }
    for (index, side) in spec.data.image_size.iter().enumerate() {
        if !(16..=4096).contains(side) {
            problem(
                &format!("data.image_size.{index}"),
                format!(
                    "`data.image_size` = {side} is out of range: each side must be 16 to 4096 pixels"
                ),
            );
        }
    }
    if spec.data.batch_size == 0 {
        problem(
            "data.batch_size",
            "`data.batch_size` must be at least 1".into(),
        );
    }
    if spec.head.is_empty() {
        problem(
            "head",
            "the pipeline has no `[[head]]` layers: add at least one `dense` layer".into(),
        );
    }
    for (index, layer) in spec.head.iter().enumerate() {
        match layer {
            HeadLayerSpec::Dense { units: 0, .. } => {
                problem(
                    &format!("head.{index}.units"),
                    format!("`head.{index}.units` must be at least 1"),
                );
            }
            HeadLayerSpec::Dropout { rate } if !(0.0..1.0).contains(rate) => problem(
                &format!("head.{index}.rate"),
                format!(
                    "`head.{index}.rate` = {rate} is out of range: a dropout rate must be in [0, 1)"
                ),
            ),
            _ => {}
        }
    }
    let lr = spec.train.optimizer.lr();
    if !(lr.is_finite() && lr > 0.0) {
        problem(
            "train.optimizer.lr",
            format!(
                "`train.optimizer.lr` = {lr} is out of range: the learning rate must be positive"
            ),
        );
    }
    let fractions: &[(&str, f64)] = match spec.train.optimizer {
        OptimizerSpec::Rmsprop { rho, momentum, .. } => &[("rho", rho), ("momentum", momentum)],
        OptimizerSpec::Adam { beta_1, beta_2, .. } => &[("beta_1", beta_1), ("beta_2", beta_2)],
        OptimizerSpec::Sgd { momentum, .. } => &[("momentum", momentum)],
    };
    for (name, value) in fractions {
        if !(0.0..1.0).contains(value) {
            problem(
                &format!("train.optimizer.{name}"),
                format!("`train.optimizer.{name}` = {value} is out of range: it must be in [0, 1)"),
            );
        }
    }
    if let OptimizerSpec::Rmsprop { epsilon, .. } | OptimizerSpec::Adam { epsilon, .. } =
        spec.train.optimizer
        && !(epsilon.is_finite() && epsilon > 0.0)
    {
        problem(
            "train.optimizer.epsilon",
            format!("`train.optimizer.epsilon` = {epsilon} is out of range: it must be positive"),
        );
    }
    if spec.train.epochs == 0 {
        problem("train.epochs", "`train.epochs` must be at least 1".into());
    }
    problems
}
