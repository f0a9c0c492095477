//! Values that parse but are out of range, each named by its key path. The bounds are the
//! ones `types.rs` declares to the JSON Schema.

use super::types::{AugmentSpec, HeadLayerSpec, OptimizerSpec, PipelineSpec};

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
    if let Some(fraction) = spec.data.validation_split
        && !(fraction > 0.0 && fraction < 1.0)
    {
        problem(
            "data.validation_split",
            format!(
                "`data.validation_split` = {fraction} is out of range: it is the fraction of `train` held out, in (0, 1)"
            ),
        );
    }
    if let Some(classes) = &spec.data.classes {
        if classes.len() < 2 {
            problem(
                "data.classes",
                "`data.classes` lists fewer than two classes: a classifier needs at least two"
                    .into(),
            );
        }
        for (index, class) in classes.iter().enumerate() {
            if classes[..index].contains(class) {
                problem(
                    &format!("data.classes.{index}"),
                    format!("`data.classes` lists `{class}` twice"),
                );
            }
        }
    }
    if spec.data.batch_size == 0 {
        problem(
            "data.batch_size",
            "`data.batch_size` must be at least 1".into(),
        );
    }
    for (key, value) in [
        ("max_image_pixels", spec.data.max_image_pixels),
        ("max_image_bytes", spec.data.max_image_bytes),
    ] {
        if value == 0 {
            problem(
                &format!("data.{key}"),
                format!("`data.{key}` must be at least 1"),
            );
        }
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
    optimizer_problems("train.optimizer", &spec.train.optimizer, &mut problem);
    for (index, phase) in spec.phases.iter().enumerate() {
        if let Some(optimizer) = &phase.optimizer {
            optimizer_problems(
                &format!("phases.{index}.optimizer"),
                optimizer,
                &mut problem,
            );
        }
    }
    augment_problems(&spec.augment, &mut problem);
    if !spec.phases.is_empty() {
        let total: usize = spec.phases.iter().map(|phase| phase.epochs).sum();
        if total != spec.train.epochs {
            problem(
                "train.epochs",
                format!(
                    "`train.epochs` = {} but the phases add up to {total} epochs: with `[[phases]]`, `train.epochs` is their sum",
                    spec.train.epochs
                ),
            );
        }
        for (index, phase) in spec.phases.iter().enumerate() {
            if phase.epochs == 0 {
                problem(
                    &format!("phases.{index}.epochs"),
                    format!("`phases.{index}.epochs` must be at least 1"),
                );
            }
        }
    }
    if spec.train.epochs == 0 {
        problem("train.epochs", "`train.epochs` must be at least 1".into());
    }
    problems
}

fn augment_problems(augment: &AugmentSpec, problem: &mut impl FnMut(&str, String)) {
    let ranges = [
        ("rotation_range", augment.rotation_range),
        ("width_shift_range", augment.width_shift_range),
        ("height_shift_range", augment.height_shift_range),
        ("shear_range", augment.shear_range),
        ("channel_shift_range", augment.channel_shift_range),
    ];
    for (name, value) in ranges {
        if !(value.is_finite() && value >= 0.0) {
            problem(
                &format!("augment.{name}"),
                format!("`augment.{name}` = {value} is out of range: it must be 0 or more"),
            );
        }
    }
    let [low, high] = augment.zoom_range.bounds();
    if !(low.is_finite() && high.is_finite() && 0.0 < low && low <= high) {
        problem(
            "augment.zoom_range",
            format!(
                "`augment.zoom_range` gives factors [{low}, {high}]: they must be positive with low <= high (a single number must be below 1)"
            ),
        );
    }
    if let Some([low, high]) = augment.brightness_range
        && !(low.is_finite() && high.is_finite() && 0.0 <= low && low <= high)
    {
        problem(
            "augment.brightness_range",
            format!(
                "`augment.brightness_range` = [{low}, {high}] is out of range: it needs 0 <= low <= high"
            ),
        );
    }
    if let Some(rescale) = augment.rescale
        && !(rescale.is_finite() && rescale > 0.0)
    {
        problem(
            "augment.rescale",
            format!("`augment.rescale` = {rescale} is out of range: it must be positive"),
        );
    }
    if !augment.cval.is_finite() {
        problem(
            "augment.cval",
            "`augment.cval` must be a finite number".into(),
        );
    }
}

/// The values of an optimizer table at `key` (`train.optimizer`, `phases.1.optimizer`).
fn optimizer_problems(
    key: &str,
    optimizer: &OptimizerSpec,
    problem: &mut impl FnMut(&str, String),
) {
    let lr = optimizer.lr();
    if !(lr.is_finite() && lr > 0.0) {
        problem(
            &format!("{key}.lr"),
            format!("`{key}.lr` = {lr} is out of range: the learning rate must be positive"),
        );
    }
    let fractions: &[(&str, f64)] = match *optimizer {
        OptimizerSpec::Rmsprop { rho, momentum, .. } => &[("rho", rho), ("momentum", momentum)],
        OptimizerSpec::Adam { beta_1, beta_2, .. }
        | OptimizerSpec::Adamw { beta_1, beta_2, .. } => &[("beta_1", beta_1), ("beta_2", beta_2)],
        OptimizerSpec::Sgd { momentum, .. } => &[("momentum", momentum)],
    };
    for (name, value) in fractions {
        if !(0.0..1.0).contains(value) {
            problem(
                &format!("{key}.{name}"),
                format!("`{key}.{name}` = {value} is out of range: it must be in [0, 1)"),
            );
        }
    }
    if let OptimizerSpec::Rmsprop { epsilon, .. }
    | OptimizerSpec::Adam { epsilon, .. }
    | OptimizerSpec::Adamw { epsilon, .. } = *optimizer
        && !(epsilon.is_finite() && epsilon > 0.0)
    {
        problem(
            &format!("{key}.epsilon"),
            format!("`{key}.epsilon` = {epsilon} is out of range: it must be positive"),
        );
    }
    let (weight_decay, clipnorm, clipvalue) = optimizer.regularization();
    if !(weight_decay.is_finite() && weight_decay >= 0.0) {
        problem(
            &format!("{key}.weight_decay"),
            format!("`{key}.weight_decay` = {weight_decay} is out of range: it must be 0 or more"),
        );
    }
    for (name, value) in [("clipnorm", clipnorm), ("clipvalue", clipvalue)] {
        if let Some(value) = value
            && !(value.is_finite() && value > 0.0)
        {
            problem(
                &format!("{key}.{name}"),
                format!("`{key}.{name}` = {value} is out of range: it must be positive"),
            );
        }
    }
}
