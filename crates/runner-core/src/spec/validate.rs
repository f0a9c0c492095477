//! Values that parse but are out of range, each named by its key path. Every range is a
//! constant of `bounds.rs`, the same one `types.rs` writes into the JSON Schema; the few
//! rules a JSON Schema cannot say (one value against another) are checked here alone.

use super::bounds::{
    AT_LEAST_ONE, CLASSES, CLOSED_FRACTION, DENSE_UNITS, FRACTION, IMAGE_SIDE, NON_NEGATIVE,
    NotBlank, OPEN_FRACTION, POSITIVE, Range,
};
use super::diagnostic::Problem;
use super::types::{
    AugmentSpec, CallbackSpec, HeadLayerSpec, LrScheduleSpec, OptimizerSpec, PipelineSpec,
    ZoomRange,
};

/// A problem for every out-of-range value.
pub(super) fn out_of_range_values(spec: &PipelineSpec) -> Vec<Problem> {
    let mut problems = Problems::default();
    problems
        .0
        .extend(NotBlank.problem("pipeline.name", &spec.pipeline.name));
    data_problems(spec, &mut problems);
    head_problems(spec, &mut problems);
    augment_problems(&spec.augment, &mut problems);
    train_problems(spec, &mut problems);
    for (index, callback) in spec.callbacks.iter().enumerate() {
        callback_problems(&format!("callbacks.{index}"), callback, &mut problems);
    }
    phase_problems(spec, &mut problems);
    if let Some(trials) = spec.sweep.as_ref().and_then(|sweep| sweep.trials) {
        problems.count(AT_LEAST_ONE, "sweep.trials", trials);
    }
    if let Some(executor) = &spec.executor {
        for (name, value) in [
            ("cpus_per_trial", executor.cpus_per_trial),
            ("max_concurrent", executor.max_concurrent),
        ] {
            if let Some(value) = value {
                problems.count(AT_LEAST_ONE, &format!("executor.{name}"), value as usize);
            }
        }
    }
    problems.0
}

/// The problems found so far.
#[derive(Default)]
struct Problems(Vec<Problem>);

impl Problems {
    fn push(&mut self, key: &str, message: String) {
        self.0.push(Problem::new(key, message));
    }

    /// `key` = `value` must lie in `range`.
    fn value(&mut self, range: Range, key: &str, value: f64) {
        self.0.extend(range.problem(key, value));
    }

    /// A count or size `key` = `value` must lie in `range`.
    fn count(&mut self, range: Range, key: &str, value: usize) {
        self.0.extend(range.count_problem(key, value));
    }

    /// Each element of the pair at `key` in `range`, then `low <= high`, which a JSON
    /// Schema cannot say.
    fn ordered_pair(&mut self, range: Range, key: &str, [low, high]: [f64; 2]) {
        let before = self.0.len();
        self.value(range, &format!("{key}.0"), low);
        self.value(range, &format!("{key}.1"), high);
        if self.0.len() == before && low > high {
            self.push(
                key,
                format!("`{key}` = [{low}, {high}] is reversed: write the low end first, [{high}, {low}]"),
            );
        }
    }
}

fn data_problems(spec: &PipelineSpec, problems: &mut Problems) {
    let data = &spec.data;
    for (index, side) in data.image_size.iter().enumerate() {
        problems.count(
            IMAGE_SIDE,
            &format!("data.image_size.{index}"),
            *side as usize,
        );
    }
    for (key, value) in [
        ("data.max_image_pixels", data.max_image_pixels),
        ("data.max_image_bytes", data.max_image_bytes),
    ] {
        problems.count(
            AT_LEAST_ONE,
            key,
            usize::try_from(value).unwrap_or(usize::MAX),
        );
    }
    if let Some(fraction) = data.validation_split {
        problems.value(OPEN_FRACTION, "data.validation_split", fraction);
    }
    if let Some(classes) = &data.classes {
        problems.0.extend(CLASSES.problems("data.classes", classes));
    }
    problems.count(AT_LEAST_ONE, "data.batch_size", data.batch_size);
}

fn head_problems(spec: &PipelineSpec, problems: &mut Problems) {
    if spec.head.is_empty() {
        problems.push(
            "head",
            "the pipeline has no `[[head]]` layers: add at least one `dense` layer".into(),
        );
    }
    for (index, layer) in spec.head.iter().enumerate() {
        match layer {
            HeadLayerSpec::Dense { units, .. } => {
                problems.count(DENSE_UNITS, &format!("head.{index}.units"), *units);
            }
            HeadLayerSpec::Dropout { rate } => {
                problems.value(FRACTION, &format!("head.{index}.rate"), *rate);
            }
            HeadLayerSpec::Flatten | HeadLayerSpec::GlobalAvgPool => {}
        }
    }
}

fn augment_problems(augment: &AugmentSpec, problems: &mut Problems) {
    let ranges = [
        ("rotation_range", augment.rotation_range),
        ("width_shift_range", augment.width_shift_range),
        ("height_shift_range", augment.height_shift_range),
        ("shear_range", augment.shear_range),
        ("channel_shift_range", augment.channel_shift_range),
    ];
    for (name, value) in ranges {
        problems.value(NON_NEGATIVE, &format!("augment.{name}"), value);
    }
    match augment.zoom_range {
        ZoomRange::Symmetric(zoom) => problems.value(FRACTION, "augment.zoom_range", zoom),
        ZoomRange::Between(pair) => problems.ordered_pair(POSITIVE, "augment.zoom_range", pair),
    }
    if let Some(pair) = augment.brightness_range {
        problems.ordered_pair(NON_NEGATIVE, "augment.brightness_range", pair);
    }
    if let Some(rescale) = augment.rescale {
        problems.value(POSITIVE, "augment.rescale", rescale);
    }
    // TOML has `inf` and `nan`, JSON has neither: a schema never sees them.
    if !augment.cval.is_finite() {
        problems.push(
            "augment.cval",
            "`augment.cval` must be a finite number".into(),
        );
    }
}

fn train_problems(spec: &PipelineSpec, problems: &mut Problems) {
    let train = &spec.train;
    problems.count(AT_LEAST_ONE, "train.epochs", train.epochs);
    for (name, value) in [
        ("steps_per_epoch", train.steps_per_epoch),
        ("validation_steps", train.validation_steps),
    ] {
        if let Some(value) = value {
            problems.count(AT_LEAST_ONE, &format!("train.{name}"), value);
        }
    }
    problems.value(
        CLOSED_FRACTION,
        "train.loss.label_smoothing",
        train.loss.options().label_smoothing,
    );
    optimizer_problems("train.optimizer", &train.optimizer, problems);
    if let Some(schedule) = &train.lr_schedule {
        schedule_problems(schedule, problems);
    }
}

fn schedule_problems(schedule: &LrScheduleSpec, problems: &mut Problems) {
    let key = |name: &str| format!("train.lr_schedule.{name}");
    let warmup = match *schedule {
        LrScheduleSpec::Step {
            step_epochs,
            gamma,
            warmup_epochs,
        } => {
            problems.count(AT_LEAST_ONE, &key("step_epochs"), step_epochs);
            problems.value(NON_NEGATIVE, &key("gamma"), gamma);
            warmup_epochs
        }
        LrScheduleSpec::Exponential {
            decay_epochs,
            decay_rate,
            warmup_epochs,
            ..
        } => {
            problems.value(POSITIVE, &key("decay_epochs"), decay_epochs);
            problems.value(NON_NEGATIVE, &key("decay_rate"), decay_rate);
            warmup_epochs
        }
        LrScheduleSpec::Cosine {
            decay_epochs,
            alpha,
            warmup_epochs,
        } => {
            if let Some(decay_epochs) = decay_epochs {
                problems.value(POSITIVE, &key("decay_epochs"), decay_epochs);
            }
            problems.value(CLOSED_FRACTION, &key("alpha"), alpha);
            warmup_epochs
        }
        LrScheduleSpec::Warmup { warmup_epochs } => warmup_epochs,
    };
    problems.value(NON_NEGATIVE, &key("warmup_epochs"), warmup);
}

fn callback_problems(key: &str, callback: &CallbackSpec, problems: &mut Problems) {
    let key = |name: &str| format!("{key}.{name}");
    match *callback {
        CallbackSpec::EarlyStopping { min_delta, .. } => {
            problems.value(NON_NEGATIVE, &key("min_delta"), min_delta);
        }
        CallbackSpec::ReduceLrOnPlateau {
            factor,
            min_delta,
            min_lr,
            ..
        } => {
            problems.value(FRACTION, &key("factor"), factor);
            problems.value(NON_NEGATIVE, &key("min_delta"), min_delta);
            problems.value(NON_NEGATIVE, &key("min_lr"), min_lr);
        }
        CallbackSpec::StopAt { .. }
        | CallbackSpec::Checkpoint { .. }
        | CallbackSpec::CsvLogger { .. } => {}
    }
}

/// Each phase's epochs and optimizer, and `train.epochs` as their sum (added with checks:
/// epochs near 2^64 would wrap).
fn phase_problems(spec: &PipelineSpec, problems: &mut Problems) {
    if spec.phases.is_empty() {
        return;
    }
    for (index, phase) in spec.phases.iter().enumerate() {
        problems.count(
            AT_LEAST_ONE,
            &format!("phases.{index}.epochs"),
            phase.epochs,
        );
        if let Some(optimizer) = &phase.optimizer {
            optimizer_problems(&format!("phases.{index}.optimizer"), optimizer, problems);
        }
    }
    let total = spec
        .phases
        .iter()
        .try_fold(0usize, |sum, phase| sum.checked_add(phase.epochs));
    match total {
        None => problems.push(
            "phases",
            format!("the phases add up to more than {} epochs", usize::MAX),
        ),
        Some(total) if total != spec.train.epochs => problems.push(
            "train.epochs",
            format!(
                "`train.epochs` = {} but the phases add up to {total} epochs: with `[[phases]]`, `train.epochs` is their sum",
                spec.train.epochs
            ),
        ),
        Some(_) => {}
    }
}

/// The values of an optimizer table at `key` (`train.optimizer`, `phases.1.optimizer`).
fn optimizer_problems(key: &str, optimizer: &OptimizerSpec, problems: &mut Problems) {
    let key = |name: &str| format!("{key}.{name}");
    problems.value(POSITIVE, &key("lr"), optimizer.lr());
    let fractions: &[(&str, f64)] = match *optimizer {
        OptimizerSpec::Rmsprop { rho, momentum, .. } => &[("rho", rho), ("momentum", momentum)],
        OptimizerSpec::Adam { beta_1, beta_2, .. }
        | OptimizerSpec::Adamw { beta_1, beta_2, .. } => &[("beta_1", beta_1), ("beta_2", beta_2)],
        OptimizerSpec::Sgd { momentum, .. } => &[("momentum", momentum)],
    };
    for (name, value) in fractions {
        problems.value(FRACTION, &key(name), *value);
    }
    if let OptimizerSpec::Rmsprop { epsilon, .. }
    | OptimizerSpec::Adam { epsilon, .. }
    | OptimizerSpec::Adamw { epsilon, .. } = *optimizer
    {
        problems.value(POSITIVE, &key("epsilon"), epsilon);
    }
    let (weight_decay, clipnorm, clipvalue) = optimizer.regularization();
    problems.value(NON_NEGATIVE, &key("weight_decay"), weight_decay);
    for (name, value) in [("clipnorm", clipnorm), ("clipvalue", clipvalue)] {
        if let Some(value) = value {
            problems.value(POSITIVE, &key(name), value);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phase_epochs_that_would_wrap_are_refused() {
        let text = crate::spec::starter_pipeline(crate::spec::Arch::EfficientnetLite0)
            + "\n[[phases]]\nepochs = 9223372036854775807\n[[phases]]\nepochs = 9223372036854775807\n[[phases]]\nepochs = 2\n";
        let spec: PipelineSpec = toml::from_str(&text).unwrap();
        let problems = out_of_range_values(&spec);
        assert!(
            problems.iter().any(|problem| problem.key == "phases"
                && problem.message.contains("add up to more than")),
            "{problems:?}"
        );
    }
}
