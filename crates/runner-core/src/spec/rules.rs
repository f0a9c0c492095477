//! Rules across keys and against the filesystem: layer names exist in the backbone, the
//! head is well formed and fits the loss and the classes, folders and files exist.

use std::path::{Path, PathBuf};

use super::closest;
use super::csv_split::{check_labels, csv_classes, read_csv_split};
use super::diagnostic::Problem;
use super::precision::Precision;
use super::types::{
    Activation, BackboneSpec, BatchNormMode, CallbackSpec, DataSpec, FreezeKeyword, FreezePattern,
    FreezeSpec, HeadLayerSpec, LayerRef, Loss, PipelineSpec, SplitSource,
};
use crate::arch::{Arch, LayerName};

/// Every broken rule but a missing weights file ([`missing_weights_problem`]). Paths in
/// `spec` must already be resolved.
pub fn check_rules(spec: &PipelineSpec) -> Vec<Problem> {
    let mut problems = resolve_layers(&spec.backbone).err().unwrap_or_default();
    check_phases(spec, &mut problems);
    problems.extend(head_shape_problems(&spec.head));
    check_monitors(spec, &mut problems);
    check_data(spec, &mut problems);
    let arch = spec.backbone.arch;
    let smallest = spec.data.image_size.into_iter().min().unwrap_or(0);
    if smallest < arch.min_image_side() {
        problems.push(
            Problem::new(
                "data.image_size",
                format!(
                    "{} needs images of at least {side}x{side} pixels, but `data.image_size` is {:?}",
                    arch.name(),
                    spec.data.image_size,
                    side = arch.min_image_side()
                ),
            )
            .with_help(format!(
                "use `image_size = [{side}, {side}]` or larger",
                side = arch.min_image_side().max(150)
            )),
        );
    }
    problems
}

/// The weights file the pipeline names, when it does not exist: only training needs it,
/// so the commands that only look at a pipeline warn instead.
pub fn missing_weights_problem(spec: &PipelineSpec) -> Option<Problem> {
    let file = spec.backbone.weights_file()?;
    (!file.is_file()).then(|| {
        Problem::new(
            "backbone.weights",
            format!("the weights file `{}` does not exist", file.display()),
        )
        .with_help(spec.backbone.arch.weights_source())
    })
}

/// A problem for each `csv_logger` whose `file` is not a plain `.csv` file name.
/// The run writes it in its own folder of the store (`checkpoints/RUN_ID/`), beside its
/// checkpoints and resume snapshots, and records it as an artifact under that name: a
/// name with a folder, `..` or an absolute path could write outside that folder, and any
/// other name could replace `best.bpk`, `last.bpk`, a snapshot, or the `best` and `last`
/// artifacts that `predict` loads.
pub fn csv_logger_problems(spec: &PipelineSpec) -> Vec<Problem> {
    spec.callbacks
        .iter()
        .enumerate()
        .filter_map(|(index, callback)| match callback {
            CallbackSpec::CsvLogger { file } if !is_csv_file_name(file) => Some(Problem::new(
                format!("callbacks.{index}.file"),
                format!(
                    "`csv_logger` file {file:?} must be a file name ending in `.csv` (such as \"history.csv\"), without folders or `..`: it is written in the run's folder of the store"
                ),
            )),
            _ => None,
        })
        .collect()
}

fn is_csv_file_name(file: &str) -> bool {
    // Exactly `.csv`, lower case: the name is checked, not guessed.
    #[allow(clippy::case_sensitive_file_extension_comparisons)]
    let csv = file.ends_with(".csv");
    file.len() > ".csv".len()
        && file.len() <= 255
        && csv
        && !file.starts_with('.')
        && !file
            .chars()
            .any(|c| c == '/' || c == '\\' || c.is_control())
}

/// Every callback's `monitor` names a value the run records after each epoch, so that a
/// typo fails here rather than after the first epoch's training.
fn check_monitors(spec: &PipelineSpec, problems: &mut Vec<Problem>) {
    let recorded = recorded_metrics(spec);
    for (index, callback) in spec.callbacks.iter().enumerate() {
        let monitor = match callback {
            CallbackSpec::StopAt { monitor, .. }
            | CallbackSpec::EarlyStopping { monitor, .. }
            | CallbackSpec::Checkpoint { monitor, .. }
            | CallbackSpec::ReduceLrOnPlateau { monitor, .. } => monitor,
            CallbackSpec::CsvLogger { .. } => continue,
        };
        if !recorded.contains(monitor) && !is_per_class_metric(spec, monitor) {
            let nearest = closest(recorded.iter().map(String::as_str), monitor, 1);
            problems.push(Problem {
                help: nearest.first().map(|name| format!("did you mean `{name}`?")),
                ..Problem::new(
                    format!("callbacks.{index}.monitor"),
                    format!(
                        "`callbacks.{index}.monitor` = \"{monitor}\" is not a value this run records; it records {}",
                        recorded.join(", ")
                    ),
                )
            });
        }
    }
}

/// Whether `monitor` is a declared metric of one class (`val_precision_cats`): runs record
/// each metric per class too. The class is checked when `data.classes` names them; the
/// folders' classes are known only once they are read.
fn is_per_class_metric(spec: &PipelineSpec, monitor: &str) -> bool {
    spec.train.metrics.iter().any(|metric| {
        let per_class = |name: &str| {
            monitor
                .strip_prefix(name)
                .and_then(|rest| rest.strip_prefix('_'))
                .is_some_and(|class| match &spec.data.classes {
                    Some(classes) => classes.iter().any(|known| known == class),
                    None => !class.is_empty(),
                })
        };
        metric.name() != "accuracy"
            && (per_class(metric.name()) || per_class(&format!("val_{}", metric.name())))
    })
}

/// What a run records after each epoch, as callbacks see it: the losses, the accuracies
/// and the learning rate, and each declared metric on the training and validation images.
fn recorded_metrics(spec: &PipelineSpec) -> Vec<String> {
    let mut names: Vec<String> = ["loss", "accuracy", "val_loss", "val_accuracy", "lr"]
        .map(String::from)
        .into();
    for metric in &spec.train.metrics {
        for name in [metric.name().to_string(), format!("val_{}", metric.name())] {
            if !names.contains(&name) {
                names.push(name);
            }
        }
    }
    names
}

/// The data: each split from a folder or a CSV file (one of them), validation from either or
/// held out of training (one of them), every split with the training split's classes, and a
/// head that fits their number.
fn check_data(spec: &PipelineSpec, problems: &mut Vec<Problem>) {
    let data = &spec.data;
    for (split, folder, csv) in [
        ("train", &data.train, &data.train_csv),
        ("validation", &data.validation, &data.validation_csv),
        ("test", &data.test, &data.test_csv),
    ] {
        if folder.is_some() && csv.is_some() {
            problems.push(Problem::new(
                format!("data.{split}_csv"),
                format!(
                    "`data.{split}` and `data.{split}_csv` both list the {split} images: keep one"
                ),
            ));
        }
    }
    let [_, validation, test] = data.sources();
    let train = data.training_source();
    if let Err(message) = &train {
        problems.push(Problem::new("data", message.clone()));
    }
    match (validation.is_some(), data.validation_split) {
        (true, Some(_)) => problems.push(Problem::new(
            "data.validation_split",
            "`data` has both validation images (a folder or a CSV file) and a `validation_split`: keep one",
        )),
        (false, None) => problems.push(
            Problem::new(
                "data",
                "`data` needs a `validation` folder or `validation_csv` file, or a `validation_split` to hold out part of `train`",
            )
            .with_help("add `validation_split = 0.2` to validate on a fifth of each class"),
        ),
        _ => {}
    }
    let Ok(train) = train else { return };
    let train_classes = match split_classes("training", train, data.classes.as_deref(), data) {
        Ok(classes) => classes,
        Err(message) => return problems.push(Problem::new(source_key("train", train), message)),
    };
    for (split, name, source) in [
        ("validation", "validation", validation),
        ("test", "test", test),
    ] {
        let Some(source) = source else { continue };
        let key = source_key(split, source);
        let result = match source {
            // A CSV split's labels must be training classes; it need not have them all.
            SplitSource::Csv(csv) => read_csv_split(name, csv, data.csv_columns())
                .and_then(|rows| check_labels(name, csv, &rows, &train_classes, "the training split")),
            SplitSource::Folder(_) => split_classes(name, source, data.classes.as_deref(), data)
                .and_then(|classes| {
                    if classes == train_classes {
                        Ok(())
                    } else {
                        Err(format!(
                            "the training split has classes {train_classes:?} but the {name} folder has {classes:?}: every split needs the same class subfolders"
                        ))
                    }
                }),
        };
        if let Err(message) = result {
            problems.push(Problem::new(key, message));
        }
    }
    if let Err(message) = head_fits_loss(spec, &train_classes) {
        problems.push(Problem::new(
            format!("head.{}", spec.head.len().saturating_sub(1)),
            message,
        ));
    }
}

/// The key that gives `split`'s images: `data.train` or `data.train_csv`.
fn source_key(split: &str, source: SplitSource<'_>) -> String {
    match source {
        SplitSource::Folder(_) => format!("data.{split}"),
        SplitSource::Csv(_) => format!("data.{split}_csv"),
    }
}

/// A split's classes in label order: its class folders, or its CSV file's labels (both
/// `declared` when `data.classes` gives them).
pub fn split_classes(
    split: &str,
    source: SplitSource<'_>,
    declared: Option<&[String]>,
    data: &DataSpec,
) -> Result<Vec<String>, String> {
    match source {
        SplitSource::Folder(root) => {
            class_folders(split, root, declared).map(|folders| names(&folders))
        }
        SplitSource::Csv(csv) => {
            let rows = read_csv_split(split, csv, data.csv_columns())?;
            csv_classes(split, csv, &rows, declared)
        }
    }
}

/// Each phase's freeze spec must resolve, and a phase may only unfreeze: a layer trained
/// in one phase stays trainable in the next (its trained weights live in the trainable
/// part of the model).
fn check_phases(spec: &PipelineSpec, problems: &mut Vec<Problem>) {
    let mut previous: Option<Vec<bool>> = None;
    for (index, phase) in spec.phases.iter().enumerate() {
        let backbone = BackboneSpec {
            freeze: phase
                .freeze
                .clone()
                .unwrap_or_else(|| spec.backbone.freeze.clone()),
            ..spec.backbone.clone()
        };
        let key = format!("phases.{index}.freeze");
        match resolve_layers(&backbone) {
            Ok(plan) => {
                if let Some(before) = &previous
                    && let Some(layer) = (0..plan.frozen.len()).find(|&layer| {
                        plan.frozen[layer] && !before.get(layer).copied().unwrap_or(true)
                    })
                {
                    let name = &spec.backbone.arch.layer_names()[layer];
                    problems.push(Problem::new(
                        key,
                        format!(
                            "phase {} freezes `{name}`, which phase {index} trains: a later phase may only unfreeze layers",
                            index + 1
                        ),
                    ));
                }
                previous = Some(plan.frozen);
            }
            Err(layer_problems) => problems.extend(layer_problems.into_iter().map(|problem| {
                Problem::new(&key, problem.message.replace("backbone.freeze", &key))
            })),
        }
    }
}

/// The class subfolders of a split: those `classes` names, in its order, or else every
/// subfolder in name order; at least two.
pub fn class_folders(
    split: &str,
    root: &Path,
    classes: Option<&[String]>,
) -> Result<Vec<PathBuf>, String> {
    let entries = std::fs::read_dir(root).map_err(|_| {
        format!(
            "the {split} data folder `{}` does not exist or is not a folder",
            root.display()
        )
    })?;
    let mut folders: Vec<PathBuf> = entries
        .filter_map(|entry| entry.ok().map(|entry| entry.path()))
        .filter(|path| {
            path.is_dir()
                && !path
                    .file_name()
                    .is_some_and(|name| name.to_string_lossy().starts_with('.'))
        })
        .collect();
    folders.sort();
    if let Some(classes) = classes {
        let present = names(&folders);
        if let Some(missing) = classes.iter().find(|class| !present.contains(class)) {
            let nearest = crate::spec::closest(present.iter().map(String::as_str), missing, 1);
            return Err(format!(
                "the {split} data folder `{}` has no subfolder `{missing}`, which `data.classes` lists{}",
                root.display(),
                nearest
                    .first()
                    .map_or_else(String::new, |name| format!(" (did you mean `{name}`?)"))
            ));
        }
        folders = classes.iter().map(|class| root.join(class)).collect();
    }
    if folders.len() < 2 {
        return Err(format!(
            "the {split} data folder `{}` has {} class folder{}: a classifier needs at least two (one subfolder of images per class)",
            root.display(),
            folders.len(),
            if folders.len() == 1 { "" } else { "s" }
        ));
    }
    Ok(folders)
}

fn names(folders: &[PathBuf]) -> Vec<String> {
    folders
        .iter()
        .map(|folder| {
            folder
                .file_name()
                .map_or_else(String::new, |name| name.to_string_lossy().into_owned())
        })
        .collect()
}

/// Where the backbone is cut and which kept layers are frozen, resolved once per phase:
/// the one value that the stage keys (whose output is cached) and the model's split (what
/// runs as folded inference) both read, so that they cannot disagree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LayerPlan {
    /// The kept layers' names: [`Arch::layer_names`] up to and including the cut.
    pub names: Vec<String>,
    /// Whether each kept layer is frozen.
    pub frozen: Vec<bool>,
    /// How many kept layers, from the first, are frozen and run before the first trainable
    /// one as pure inference: the part whose output can be computed once and cached. None
    /// with `batchnorm = "train"`, where a frozen layer's output depends on its batch.
    pub frozen_prefix: usize,
    /// The frozen prefix's number format. Planning a run decides `auto`
    /// ([`Precision::resolve`]); undecided, it runs as `fp32`.
    pub precision: Precision,
}

impl LayerPlan {
    /// The plan of a backbone whose cut and freeze are valid, or an input error with every
    /// problem.
    pub fn of(backbone: &BackboneSpec) -> anyhow::Result<Self> {
        resolve_layers(backbone).map_err(Problem::input_error)
    }

    fn new(backbone: &BackboneSpec, mut names: Vec<String>, cut: usize, frozen: Vec<bool>) -> Self {
        names.truncate(cut + 1);
        let frozen_prefix = match backbone.batchnorm {
            BatchNormMode::Inference => frozen.iter().take_while(|frozen| **frozen).count(),
            BatchNormMode::Train => 0,
        };
        Self {
            names,
            frozen,
            frozen_prefix,
            precision: backbone.precision,
        }
    }

    /// The names of the layers in the frozen prefix.
    pub fn frozen_prefix_names(&self) -> &[String] {
        &self.names[..self.frozen_prefix]
    }

    /// Whether the frozen prefix's features are kept averaged over height and width: when
    /// every kept layer is in the prefix and `head` starts with global average pooling,
    /// the head would average them first anyway, and its mean over the one value left is
    /// that value exactly. A feature then takes `channels` floats instead of
    /// `channels x height x width` (1280 instead of 62,720 for EfficientNet-Lite0).
    pub fn pools_features(&self, head: &[HeadLayerSpec]) -> bool {
        self.frozen_prefix == self.names.len()
            && matches!(head.first(), Some(HeadLayerSpec::GlobalAvgPool))
    }
}

/// Resolves `cut` and `freeze` against the architecture's layer names, or says, per key,
/// which names do not exist or do not fit together.
pub fn resolve_layers(backbone: &BackboneSpec) -> Result<LayerPlan, Vec<Problem>> {
    let arch = backbone.arch;
    let layers = arch.layer_names();
    let mut problems = Vec::new();
    let mut find = |key: &str, layer: &LayerRef| -> Option<usize> {
        let name = match layer {
            LayerRef::Name(name) => name.as_str(),
            LayerRef::Index(index) if *index < layers.len() => return Some(*index),
            LayerRef::Index(index) => {
                problems.push(Problem::new(
                    key,
                    format!(
                        "`{key}` = {index}: {} has {} layers, numbered 0 to {}",
                        arch.name(),
                        layers.len(),
                        layers.len() - 1
                    ),
                ));
                return None;
            }
        };
        let (index, problem) = match arch.find_layer(name) {
            LayerName::Layer(index) => (Some(index), None),
            // A freeze range covers whole blocks; a cut inside one would hand the head a
            // different tensor than Keras' cut at that layer, so it is refused.
            LayerName::Inside(index) if key != "backbone.cut" => (Some(index), None),
            LayerName::Inside(index) => {
                (None, Some(inside_block_message(arch, &layers, name, index)))
            }
            // A freeze range from a ResNet stage starts at its first block; a cut there or a
            // range up to it ends after its last.
            LayerName::Group { first, .. } if key == "backbone.freeze.from" => (Some(first), None),
            LayerName::Group { last, .. } => (Some(last), None),
            LayerName::Unknown => (None, Some(unknown_layer_message(arch, &layers, key, name))),
        };
        problems.extend(problem.map(|message| Problem::new(key, message)));
        index
    };
    let cut = match &backbone.cut {
        Some(name) => find("backbone.cut", &LayerRef::Name(name.clone())),
        None => Some(layers.len() - 1),
    };
    let range = match &backbone.freeze {
        FreezeSpec::Keyword(FreezeKeyword::None) => None,
        FreezeSpec::Keyword(FreezeKeyword::All) => cut.map(|cut| 0..=cut),
        FreezeSpec::Pattern(FreezePattern { regex }) => {
            let key = "backbone.freeze.regex";
            match regex::Regex::new(regex) {
                Ok(pattern) => {
                    let kept = cut.map_or(0, |cut| cut + 1);
                    let matched: Vec<bool> = layers[..kept]
                        .iter()
                        .map(|name| pattern.is_match(name))
                        .collect();
                    if cut.is_some() && !matched.contains(&true) {
                        problems.push(Problem::new(
                            key,
                            format!(
                                "`{key}` = \"{regex}\" matches none of the kept layers ({})",
                                layers[..kept].join(", ")
                            ),
                        ));
                    }
                    return match cut {
                        Some(cut) if problems.is_empty() => {
                            Ok(LayerPlan::new(backbone, layers, cut, matched))
                        }
                        _ => Err(problems),
                    };
                }
                Err(error) => {
                    problems.push(Problem::new(
                        key,
                        format!("`{key}` is not a valid regular expression: {error}"),
                    ));
                    None
                }
            }
        }
        FreezeSpec::Range(range) => {
            let from = range
                .from
                .as_ref()
                .map(|layer| (find("backbone.freeze.from", layer), layer));
            let to = range
                .to
                .as_ref()
                .map(|layer| (find("backbone.freeze.to", layer), layer));
            for (key, end) in [("backbone.freeze.from", &from), ("backbone.freeze.to", &to)] {
                if let (Some((Some(index), name)), Some(cut)) = (end, cut)
                    && *index > cut
                {
                    problems.push(Problem::new(
                        key,
                        format!("`{key}` = {name} is after the cut (`{}`): only kept layers can be frozen", layers[cut]),
                    ));
                }
            }
            if let (Some((Some(from), from_name)), Some((Some(to), to_name))) = (from, to)
                && from > to
            {
                problems.push(Problem::new(
                    "backbone.freeze",
                    format!("`backbone.freeze`: `from` ({from_name}) comes after `to` ({to_name})"),
                ));
            }
            let first = from.map_or(Some(0), |(index, _)| index);
            let last = to.map_or(cut, |(index, _)| index);
            first.zip(last).map(|(first, last)| first..=last)
        }
    };
    match cut {
        Some(cut) if problems.is_empty() => {
            let frozen = (0..=cut)
                .map(|index| range.as_ref().is_some_and(|range| range.contains(&index)))
                .collect();
            Ok(LayerPlan::new(backbone, layers, cut, frozen))
        }
        _ => Err(problems),
    }
}

/// The message for a cut at a layer inside a block, naming the blocks around it.
fn inside_block_message(arch: Arch, layers: &[String], name: &str, block: usize) -> String {
    let before = match block {
        0 => String::new(),
        _ => format!(" or `{}` to drop it", layers[block - 1]),
    };
    let why = match arch {
        Arch::InceptionV3 => {
            "which runs its branches side by side and cuts only after the whole block"
        }
        _ => "which is kept or dropped as a whole",
    };
    format!(
        "`backbone.cut` = \"{name}\": `{name}` is inside {}'s block `{block_name}`, {why}; \
         cut at `{block_name}` to keep the block{before} (blocks: {})",
        arch.name(),
        layers.join(", "),
        block_name = layers[block],
    )
}

/// The message for a layer name the architecture does not have, listing the nearest ones.
pub fn unknown_layer_message(arch: Arch, layers: &[String], key: &str, name: &str) -> String {
    let groups = arch.facts().layers.group_names();
    let candidates: Vec<String> = layers.iter().cloned().chain(groups).collect();
    let nearest: Vec<String> = closest(candidates.iter().map(String::as_str), name, 3)
        .iter()
        .map(|layer| format!("`{layer}`"))
        .collect();
    format!(
        "`{key}` = \"{name}\": {} has no layer named `{name}`; the nearest are {} (all layers: {} .. {})",
        arch.name(),
        nearest.join(", "),
        layers[0],
        layers[layers.len() - 1]
    )
}

/// A problem for each way the head's layer order is wrong: a dense layer before the
/// features are pooled or flattened, a second pooling, a last layer that is not dense.
pub fn head_shape_problems(head: &[HeadLayerSpec]) -> Vec<Problem> {
    let mut problems = Vec::new();
    let mut flat = false;
    for (index, layer) in head.iter().enumerate() {
        match layer {
            HeadLayerSpec::GlobalAvgPool | HeadLayerSpec::Flatten if flat => problems.push(Problem::new(
                format!("head.{index}"),
                format!("`head.{index}`: the features are already flat; pool or flatten once, before the first dense layer"),
            )),
            HeadLayerSpec::GlobalAvgPool | HeadLayerSpec::Flatten => flat = true,
            HeadLayerSpec::Dense { .. } if !flat => {
                problems.push(Problem::new(
                    format!("head.{index}"),
                    format!("`head.{index}`: a dense layer needs flat features; add a `global_avg_pool` or `flatten` layer before it"),
                ));
                flat = true;
            }
            _ => {}
        }
    }
    if !matches!(head.last(), Some(HeadLayerSpec::Dense { .. })) {
        problems.push(Problem::new(
            format!("head.{}", head.len().saturating_sub(1)),
            "the last `[[head]]` layer must be a `dense` layer: it gives the class scores",
        ));
    }
    problems
}

/// The head must end in what the loss expects for these classes; the message says what
/// the last layer should be.
pub fn head_fits_loss(spec: &PipelineSpec, classes: &[String]) -> Result<(), String> {
    let last = spec.head.len().saturating_sub(1);
    let Some(HeadLayerSpec::Dense { units, activation }) = spec.head.last() else {
        return Ok(()); // reported by the head shape rule
    };
    let (units, activation, count) = (*units, *activation, classes.len());
    let options = spec.train.loss.options();
    // With `from_logits` the layer gives raw scores and the loss applies the activation.
    let (expected, expected_name) = match (options.kind, options.from_logits) {
        (_, true) => (Activation::Linear, "linear"),
        (Loss::BinaryCrossentropy, false) => (Activation::Sigmoid, "sigmoid"),
        (_, false) => (Activation::Softmax, "softmax"),
    };
    let name = loss_name(options.kind);
    match options.kind {
        Loss::BinaryCrossentropy if count != 2 => Err(format!(
            "`train.loss` = \"binary_crossentropy\" needs exactly 2 classes, but the data has {count} ({}): use \"categorical_crossentropy\" with a last dense layer of {count} units and softmax",
            classes.join(", ")
        )),
        Loss::BinaryCrossentropy if units != 1 || activation != expected => Err(format!(
            "the last head layer (`head.{last}`) has {units} units with {activation:?} activation, but {name}{} needs `units = 1` and `activation = \"{expected_name}\"`",
            if options.from_logits {
                " with from_logits"
            } else {
                ""
            }
        )),
        Loss::CategoricalCrossentropy | Loss::SparseCategoricalCrossentropy
            if units != count || activation != expected =>
        {
            Err(format!(
                "the last head layer (`head.{last}`) has {units} units with {activation:?} activation, but {name}{} on {count} classes needs `units = {count}` and `activation = \"{expected_name}\"`",
                if options.from_logits {
                    " with from_logits"
                } else {
                    ""
                }
            ))
        }
        _ => Ok(()),
    }
}

fn loss_name(loss: Loss) -> &'static str {
    match loss {
        Loss::BinaryCrossentropy => "binary_crossentropy",
        Loss::CategoricalCrossentropy => "categorical_crossentropy",
        Loss::SparseCategoricalCrossentropy => "sparse_categorical_crossentropy",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn backbone(cut: Option<&str>, freeze: &str) -> BackboneSpec {
        let text = format!(
            "arch = \"efficientnet_lite0\"\nweights = \"none\"\n{}freeze = {freeze}\n",
            cut.map_or(String::new(), |cut| format!("cut = \"{cut}\"\n"))
        );
        toml::from_str(&text).unwrap()
    }

    #[test]
    fn resolves_cuts_and_freeze_ranges() {
        let all = resolve_layers(&backbone(Some("block3"), "\"all\"")).unwrap();
        assert_eq!(all.names.len(), 5); // cut at layer 4
        assert_eq!(all.frozen, vec![true; 5]);
        let none = resolve_layers(&backbone(None, "\"none\"")).unwrap();
        assert_eq!(none.names.len(), 18); // cut at layer 17
        assert!(none.frozen.iter().all(|frozen| !frozen));
        let range = resolve_layers(&backbone(
            Some("block3"),
            "{ from = \"block0\", to = \"block1\" }",
        ))
        .unwrap();
        assert_eq!(range.frozen, vec![false, true, true, false, false]);
        let up_to = resolve_layers(&backbone(None, "{ to = \"block0\" }")).unwrap();
        assert_eq!(up_to.frozen.iter().filter(|frozen| **frozen).count(), 2);
    }

    #[test]
    fn features_are_pooled_only_after_the_whole_backbone_and_before_the_head_pools() {
        let pool_first = [HeadLayerSpec::GlobalAvgPool, HeadLayerSpec::Flatten];
        let all = resolve_layers(&backbone(Some("block3"), "\"all\"")).unwrap();
        assert!(all.pools_features(&pool_first));
        // Another layer first: flattening keeps every value, dropout differs per epoch.
        for first in [HeadLayerSpec::Flatten, HeadLayerSpec::Dropout { rate: 0.2 }] {
            assert!(!all.pools_features(&[first, HeadLayerSpec::GlobalAvgPool]));
        }
        // A trainable layer comes between the frozen prefix and the head.
        let up_to = resolve_layers(&backbone(Some("block3"), "{ to = \"block2\" }")).unwrap();
        assert!(!up_to.pools_features(&pool_first));
        // With BatchNorm training, nothing runs as a frozen prefix.
        let mut batchnorm_train = backbone(Some("block3"), "\"all\"");
        batchnorm_train.batchnorm = BatchNormMode::Train;
        assert!(
            !resolve_layers(&batchnorm_train)
                .unwrap()
                .pools_features(&pool_first)
        );
    }

    #[test]
    fn freezes_by_index_and_by_regex() {
        // Indices as Keras users slice `model.layers`: 1 is block0, 2 is block1.
        let by_index = resolve_layers(&backbone(Some("block3"), "{ from = 1, to = 2 }")).unwrap();
        assert_eq!(by_index.frozen, vec![false, true, true, false, false]);
        let by_regex = resolve_layers(&backbone(
            Some("block3"),
            "{ regex = \"^(stem|block[13])$\" }",
        ))
        .unwrap();
        assert_eq!(by_regex.frozen, vec![true, false, true, false, true]);

        let problems =
            |freeze: &str| resolve_layers(&backbone(Some("block3"), freeze)).unwrap_err();
        let out_of_range = problems("{ to = 40 }");
        crate::assert_contains(&out_of_range[0].message, "numbered 0 to 17");
        let after_cut = problems("{ to = 9 }");
        crate::assert_contains(&after_cut[0].message, "after the cut");
        let no_match = problems("{ regex = \"^head\" }");
        assert_eq!(no_match[0].key, "backbone.freeze.regex");
        assert!(
            no_match[0]
                .message
                .contains("matches none of the kept layers"),
            "{no_match:?}"
        );
        let invalid = problems("{ regex = \"block(\" }");
        assert!(
            invalid[0]
                .message
                .contains("not a valid regular expression"),
            "{invalid:?}"
        );
    }

    fn inception(cut: &str, freeze: &str) -> BackboneSpec {
        let text = format!(
            "arch = \"inception_v3\"\nweights = \"none\"\ncut = \"{cut}\"\nfreeze = {freeze}\n"
        );
        toml::from_str(&text).unwrap()
    }

    #[test]
    fn inception_v3_takes_keras_and_torchvision_names() {
        let course = resolve_layers(&inception("mixed7", "{ to = \"mixed7\" }")).unwrap();
        assert_eq!(course.names.len(), 15); // cut at layer 14
        assert_eq!(course.frozen, vec![true; 15]);
        let torchvision = resolve_layers(&inception("Mixed_6e", "{ to = \"Mixed_6e\" }")).unwrap();
        assert_eq!(torchvision, course);
        // A freeze range names whole blocks: conv2d_60 opens mixed7, conv2d is in the stem.
        let inside = resolve_layers(&inception(
            "mixed7",
            "{ from = \"conv2d_60\", to = \"activation_69\" }",
        ))
        .unwrap();
        assert_eq!(inside.frozen.iter().filter(|frozen| **frozen).count(), 1);
        assert!(inside.frozen[14]);
        let stem = resolve_layers(&inception("mixed0", "{ to = \"conv2d\" }")).unwrap();
        assert_eq!(stem.frozen.iter().filter(|frozen| **frozen).count(), 1);
    }

    #[test]
    fn inception_v3_refuses_a_cut_inside_a_block() {
        let problems = resolve_layers(&inception("conv2d_69", "\"all\"")).unwrap_err();
        assert_eq!(problems[0].key, "backbone.cut");
        let message = &problems[0].message;
        crate::assert_contains(message, "inside inception_v3's block `mixed7`");
        crate::assert_contains(
            message,
            "cut at `mixed7` to keep the block or `mixed6` to drop it",
        );
        crate::assert_contains(message, "activation, activation_1,");
    }

    fn torchvision(arch: &str, cut: &str, freeze: &str) -> BackboneSpec {
        let text =
            format!("arch = \"{arch}\"\nweights = \"none\"\ncut = \"{cut}\"\nfreeze = {freeze}\n");
        toml::from_str(&text).unwrap()
    }

    #[test]
    fn resnet_stages_freeze_and_cut_by_their_blocks() {
        // resnet50: stem, layer1.0-2, layer2.0-3, layer3.0-5 (8..=13), layer4.0-2.
        let stages = resolve_layers(&torchvision(
            "resnet50",
            "layer4",
            "{ from = \"layer2\", to = \"layer3\" }",
        ))
        .unwrap();
        assert_eq!(stages.names.len(), 17); // cut at layer 16
        let frozen: Vec<usize> = (0..=16).filter(|&index| stages.frozen[index]).collect();
        assert_eq!(frozen, (4..=13).collect::<Vec<_>>());
        // Fine-tuning the last block: everything before `layer4.2` frozen.
        let blocks = resolve_layers(&torchvision(
            "resnet50",
            "layer4.2",
            "{ to = \"layer4.1\" }",
        ))
        .unwrap();
        assert_eq!(blocks.frozen, [vec![true; 16], vec![false]].concat());
        let stem = resolve_layers(&torchvision("resnet18", "maxpool", "{ to = \"bn1\" }")).unwrap();
        assert_eq!(stem.frozen, [true]);
        let problems =
            resolve_layers(&torchvision("resnet18", "layer3", "{ to = \"layer4\" }")).unwrap_err();
        assert!(
            problems[0]
                .message
                .contains("is after the cut (`layer3.1`)"),
            "{problems:?}"
        );
        let problems = resolve_layers(&torchvision("resnet18", "layr3", "\"all\"")).unwrap_err();
        crate::assert_contains(&problems[0].message, "the nearest are `layer3`,");
        let problems = resolve_layers(&torchvision("resnet18", "bn1", "\"all\"")).unwrap_err();
        assert!(
            problems[0]
                .message
                .contains("`bn1` is inside resnet18's block `stem`, which is kept or dropped as a whole; cut at `stem` to keep the block (blocks: stem, layer1.0,"),
            "{problems:?}"
        );
    }

    #[test]
    fn mobilenet_v2_names_its_features_as_torchvision() {
        let plan = resolve_layers(&torchvision(
            "mobilenet_v2",
            "features.13",
            "{ to = \"features.6\" }",
        ))
        .unwrap();
        assert_eq!(plan.names.len(), 14); // cut at layer 13
        assert_eq!(plan.frozen.iter().filter(|frozen| **frozen).count(), 7);
        let problems =
            resolve_layers(&torchvision("mobilenet_v2", "features.19", "\"all\"")).unwrap_err();
        crate::assert_contains(&problems[0].message, "the nearest are `features.1`");
    }

    #[test]
    fn reports_every_bad_layer_name() {
        let problems = resolve_layers(&backbone(
            Some("blok3"),
            "{ from = \"stme\", to = \"block9\" }",
        ))
        .unwrap_err();
        let keys: Vec<&str> = problems
            .iter()
            .map(|problem| problem.key.as_str())
            .collect();
        assert_eq!(keys, ["backbone.cut", "backbone.freeze.from"]);
        let after_cut =
            resolve_layers(&backbone(Some("block3"), "{ to = \"block9\" }")).unwrap_err();
        crate::assert_contains(&after_cut[0].message, "is after the cut (`block3`)");
        let reversed =
            resolve_layers(&backbone(None, "{ from = \"block5\", to = \"block2\" }")).unwrap_err();
        assert!(
            reversed[0]
                .message
                .contains("`from` (\"block5\") comes after `to` (\"block2\")"),
            "{reversed:?}"
        );
    }
}
