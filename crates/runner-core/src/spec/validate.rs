//! Checks of single values that serde's types cannot express (ranges, non-empty lists).
//! Rules that need the data or the backbone (class counts, layer names) live with those.

use super::{HeadLayerSpec, OptimizerSpec, PipelineSpec};

/// The first out-of-range value, named by its key path as written in the file.
pub(super) fn validate_values(spec: &PipelineSpec) -> Result<(), String> {
    if spec.pipeline.name.trim().is_empty() {
        return Err("`pipeline.name` must not be empty".into());
    }
    let [height, width] = spec.data.image_size;
    if !(16..=4096).contains(&height) || !(16..=4096).contains(&width) {
        return Err(format!(
            "`data.image_size` = [{height}, {width}] is out of range: each side must be 16 to 4096 pixels"
        ));
    }
    if spec.data.batch_size == 0 {
        return Err("`data.batch_size` must be at least 1".into());
    }
    if spec.head.is_empty() {
        return Err("the pipeline has no `[[head]]` layers: add at least one `dense` layer".into());
    }
    for (index, layer) in spec.head.iter().enumerate() {
        match layer {
            HeadLayerSpec::Dense { units: 0, .. } => {
                return Err(format!("`head.{index}.units` must be at least 1"));
            }
            HeadLayerSpec::Dropout { rate } if !(0.0..1.0).contains(rate) => {
                return Err(format!(
                    "`head.{index}.rate` = {rate} is out of range: a dropout rate must be in [0, 1)"
                ));
            }
            _ => {}
        }
    }
    validate_optimizer(&spec.train.optimizer)?;
    if spec.train.epochs == 0 {
        return Err("`train.epochs` must be at least 1".into());
    }
    Ok(())
}

fn validate_optimizer(optimizer: &OptimizerSpec) -> Result<(), String> {
    let lr = optimizer.lr();
    if !(lr.is_finite() && lr > 0.0) {
        return Err(format!(
            "`train.optimizer.lr` = {lr} is out of range: the learning rate must be positive"
        ));
    }
    let in_unit = |name: &str, value: f64| {
        if (0.0..1.0).contains(&value) {
            Ok(())
        } else {
            Err(format!(
                "`train.optimizer.{name}` = {value} is out of range: it must be in [0, 1)"
            ))
        }
    };
    match *optimizer {
        OptimizerSpec::Rmsprop {
            rho,
            momentum,
            epsilon,
            ..
        } => {
            in_unit("rho", rho)?;
            in_unit("momentum", momentum)?;
            positive("epsilon", epsilon)
        }
        OptimizerSpec::Adam {
            beta_1,
            beta_2,
            epsilon,
            ..
        } => {
            in_unit("beta_1", beta_1)?;
            in_unit("beta_2", beta_2)?;
            positive("epsilon", epsilon)
        }
        OptimizerSpec::Sgd { momentum, .. } => in_unit("momentum", momentum),
    }
}

fn positive(name: &str, value: f64) -> Result<(), String> {
    if value.is_finite() && value > 0.0 {
        Ok(())
    } else {
        Err(format!(
            "`train.optimizer.{name}` = {value} is out of range: it must be positive"
        ))
    }
}
