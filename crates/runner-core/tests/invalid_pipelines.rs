//! A table of broken pipeline files: each must give its expected message at its expected
//! line and column (0:0 for a problem that has no place in the file).

use std::path::Path;

use runner_core::spec::{Diagnostic, check_pipeline};

const VALID: &str = r#"[pipeline]
name = "t"
seed = 1

[data]
train = "data/train"
validation = "data/validation"
image_size = [32, 32]
batch_size = 4

[backbone]
arch = "efficientnet_lite0"
weights = "w.pth"
cut = "block3"
freeze = "all"

[[head]]
type = "global_avg_pool"
[[head]]
type = "dropout"
rate = 0.2
[[head]]
type = "dense"
units = 1
activation = "sigmoid"

[augment]
horizontal_flip = true

[train]
optimizer = { type = "adam", lr = 0.001 }
loss = "binary_crossentropy"
epochs = 2
"#;

/// `(name, text to replace, replacement, expected message part, line, column)`.
const CASES: &[(&str, &str, &str, &str, usize, usize)] = &[
    (
        "syntax: doubled equals",
        "seed = 1",
        "seed = = 1",
        "invalid string",
        3,
        8,
    ),
    (
        "syntax: unclosed header",
        "[data]",
        "[data",
        "invalid table header",
        5,
        6,
    ),
    (
        "syntax: duplicate key",
        "seed = 1",
        "seed = 1\nseed = 2",
        "duplicate key `seed`",
        4,
        1,
    ),
    (
        "unknown section",
        "[train]",
        "[trian]",
        "unknown section `trian`",
        30,
        2,
    ),
    (
        "unknown key in [pipeline]",
        "name = \"t\"",
        "nmae = \"t\"",
        "unknown field `nmae`",
        2,
        1,
    ),
    (
        "unknown key in [data]",
        "batch_size = 4",
        "batchsize = 4",
        "unknown field `batchsize`",
        9,
        1,
    ),
    (
        "unknown key in [backbone]",
        "freeze = \"all\"",
        "freez = \"all\"",
        "unknown field `freez`",
        15,
        1,
    ),
    (
        "unknown key in a head layer",
        "rate = 0.2",
        "rat = 0.2",
        "unknown field `rat`",
        21,
        1,
    ),
    (
        "unknown key in [augment]",
        "horizontal_flip = true",
        "horizontl_flip = true",
        "unknown field `horizontl_flip`",
        28,
        1,
    ),
    (
        "unknown key in [train]",
        "epochs = 2",
        "epoch = 2",
        "unknown field `epoch`",
        33,
        1,
    ),
    (
        "unknown key in the optimizer",
        "lr = 0.001 }",
        "lrr = 0.001 }",
        "unknown field `lrr`",
        31,
        30,
    ),
    (
        "wrong type: seed",
        "seed = 1",
        "seed = \"one\"",
        "invalid type: string \"one\"",
        3,
        8,
    ),
    (
        "wrong type: image_size",
        "image_size = [32, 32]",
        "image_size = 32",
        "invalid type: integer `32`",
        8,
        14,
    ),
    (
        "wrong type: batch_size",
        "batch_size = 4",
        "batch_size = 4.5",
        "invalid type: floating point `4.5`",
        9,
        14,
    ),
    (
        "wrong type: units",
        "units = 1",
        "units = \"one\"",
        "invalid type: string \"one\"",
        22,
        1,
    ),
    (
        "unknown architecture",
        "efficientnet_lite0\"",
        "efficientnet_lite9\"",
        "unknown variant `efficientnet_lite9`",
        12,
        8,
    ),
    (
        "unknown head layer type",
        "type = \"dropout\"",
        "type = \"dropot\"",
        "unknown variant `dropot`",
        20,
        8,
    ),
    (
        "unknown optimizer",
        "type = \"adam\"",
        "type = \"adamx\"",
        "unknown variant `adamx`",
        31,
        22,
    ),
    (
        "unknown loss",
        "\"binary_crossentropy\"",
        "\"binary_crossentropi\"",
        "unknown variant `binary_crossentropi`",
        32,
        8,
    ),
    (
        "dropout out of range",
        "rate = 0.2",
        "rate = 1.5",
        "`head.1.rate` = 1.5 is out of range",
        21,
        8,
    ),
    (
        "negative learning rate",
        "lr = 0.001",
        "lr = -0.001",
        "`train.optimizer.lr` = -0.001 is out of range",
        31,
        35,
    ),
    (
        "zero epochs",
        "epochs = 2",
        "epochs = 0",
        "`train.epochs` = 0 is out of range: it must be at least 1",
        33,
        10,
    ),
    (
        "image side too small",
        "[32, 32]",
        "[8, 32]",
        "`data.image_size.0` = 8 is out of range: it must be in [16, 4096]",
        8,
        15,
    ),
    (
        "zero batch size",
        "batch_size = 4",
        "batch_size = 0",
        "`data.batch_size` = 0 is out of range",
        9,
        14,
    ),
    (
        "unknown cut layer",
        "cut = \"block3\"",
        "cut = \"blok3\"",
        "no layer named `blok3`; the nearest are `block3`",
        14,
        7,
    ),
    (
        "freeze past the cut",
        "freeze = \"all\"",
        "freeze = { from = \"block5\" }",
        "is after the cut (`block3`)",
        15,
        19,
    ),
    (
        "freeze: unknown keyword",
        "freeze = \"all\"",
        "freeze = \"most\"",
        "\"all\", \"none\", a table such as",
        15,
        10,
    ),
    (
        "missing data folder",
        "\"data/train\"",
        "\"data/nope\"",
        "the training data folder",
        6,
        9,
    ),
    (
        "missing weights file",
        "\"w.pth\"",
        "\"nope.pth\"",
        "nope.pth` does not exist",
        13,
        11,
    ),
    (
        "dense before pooling",
        "type = \"global_avg_pool\"",
        "type = \"dense\"\nunits = 8",
        "needs flat features",
        17,
        1,
    ),
    (
        "head does not fit the loss",
        "units = 1",
        "units = 2",
        "binary_crossentropy needs `units = 1`",
        22,
        1,
    ),
    (
        "missing [train] section",
        "[train]\noptimizer = { type = \"adam\", lr = 0.001 }\nloss = \"binary_crossentropy\"\nepochs = 2\n",
        "",
        "missing section `[train]`",
        0,
        0,
    ),
    (
        "missing required key",
        "epochs = 2",
        "",
        "missing field `epochs`",
        30,
        1,
    ),
    (
        "sweep: a key the pipeline lacks",
        "epochs = 2\n",
        "epochs = 2\n\n[sweep]\n\"head.7.rate\" = [0.1]\n",
        "the pipeline has no key `head.7.rate`",
        36,
        1,
    ),
    (
        "sweep: a value that breaks the pipeline",
        "epochs = 2\n",
        "epochs = 2\n\n[sweep]\n\"head.1.rate\" = [0.1, 1.5]\n",
        "the sweep value `head.1.rate` = 1.5 makes the pipeline invalid",
        36,
        1,
    ),
    (
        "sweep: random without trials",
        "epochs = 2\n",
        "epochs = 2\n\n[sweep]\nmethod = \"random\"\n\"head.1.rate\" = { uniform = [0.0, 0.5] }\n",
        "a random sweep needs `trials = N`",
        35,
        2,
    ),
    (
        "sweep: a distribution in a grid",
        "epochs = 2\n",
        "epochs = 2\n\n[sweep]\n\"head.1.rate\" = { uniform = [0.0, 0.5] }\n",
        "distributions need `method = \"random\"`",
        36,
        1,
    ),
    (
        "inception_v3: images smaller than Keras allows",
        "arch = \"efficientnet_lite0\"\nweights = \"w.pth\"\ncut = \"block3\"",
        "arch = \"inception_v3\"\nweights = \"w.pth\"\ncut = \"mixed7\"",
        "inception_v3 needs images of at least 75x75 pixels, but `data.image_size` is [32, 32]",
        8,
        14,
    ),
    (
        "inception_v3: a cut inside a mixed block",
        "arch = \"efficientnet_lite0\"\nweights = \"w.pth\"\ncut = \"block3\"",
        "arch = \"inception_v3\"\nweights = \"w.pth\"\ncut = \"conv2d_69\"",
        "`conv2d_69` is inside inception_v3's block `mixed7`",
        14,
        7,
    ),
    (
        "resnet18: a cut inside the stem",
        "arch = \"efficientnet_lite0\"\nweights = \"w.pth\"\ncut = \"block3\"",
        "arch = \"resnet18\"\nweights = \"w.pth\"\ncut = \"bn1\"",
        "`bn1` is inside resnet18's block `stem`",
        14,
        7,
    ),
    (
        "mobilenet_v2: a feature index past the last",
        "arch = \"efficientnet_lite0\"\nweights = \"w.pth\"\ncut = \"block3\"",
        "arch = \"mobilenet_v2\"\nweights = \"w.pth\"\ncut = \"features.19\"",
        "mobilenet_v2 has no layer named `features.19`; the nearest are `features.1`",
        14,
        7,
    ),
    (
        "sweep: unknown method",
        "epochs = 2\n",
        "epochs = 2\n\n[sweep]\nmethod = \"gird\"\n",
        "unknown variant `gird`",
        36,
        10,
    ),
    (
        "steps_per_epoch of 0",
        "epochs = 2\n",
        "epochs = 2\nsteps_per_epoch = 0\n",
        "`train.steps_per_epoch` = 0 is out of range: it must be at least 1",
        34,
        19,
    ),
    (
        "validation_steps of 0",
        "epochs = 2\n",
        "epochs = 2\nvalidation_steps = 0\n",
        "`train.validation_steps` = 0 is out of range",
        34,
        20,
    ),
    (
        "label smoothing above 1",
        "loss = \"binary_crossentropy\"",
        "loss = { type = \"binary_crossentropy\", label_smoothing = 5 }",
        "`train.loss.label_smoothing` = 5 is out of range: it must be in [0, 1]",
        32,
        58,
    ),
    (
        "plateau factor above 1",
        "epochs = 2\n",
        "epochs = 2\n\n[[callbacks]]\ntype = \"reduce_lr_on_plateau\"\nfactor = 10\n",
        "`callbacks.0.factor` = 10 is out of range: it must be in [0, 1)",
        37,
        10,
    ),
    (
        "negative min_lr",
        "epochs = 2\n",
        "epochs = 2\n\n[[callbacks]]\ntype = \"reduce_lr_on_plateau\"\nmin_lr = -1.0\n",
        "`callbacks.0.min_lr` = -1 is out of range: it must be 0 or more",
        37,
        10,
    ),
    (
        "negative min_delta",
        "epochs = 2\n",
        "epochs = 2\n\n[[callbacks]]\ntype = \"early_stopping\"\nmin_delta = -0.1\n",
        "`callbacks.0.min_delta` = -0.1 is out of range",
        37,
        13,
    ),
    (
        "step schedule of 0 epochs",
        "epochs = 2\n",
        "epochs = 2\nlr_schedule = { type = \"step\", step_epochs = 0, gamma = 0.5 }\n",
        "`train.lr_schedule.step_epochs` = 0 is out of range",
        34,
        46,
    ),
    (
        "exponential decay over 0 epochs",
        "epochs = 2\n",
        "epochs = 2\nlr_schedule = { type = \"exponential\", decay_epochs = 0.0, decay_rate = 0.5 }\n",
        "`train.lr_schedule.decay_epochs` = 0 is out of range: it must be positive",
        34,
        54,
    ),
    (
        "negative decay rate",
        "epochs = 2\n",
        "epochs = 2\nlr_schedule = { type = \"exponential\", decay_epochs = 2.0, decay_rate = -0.5 }\n",
        "`train.lr_schedule.decay_rate` = -0.5 is out of range",
        34,
        72,
    ),
    (
        "cosine alpha above 1",
        "epochs = 2\n",
        "epochs = 2\nlr_schedule = { type = \"cosine\", alpha = 2.0 }\n",
        "`train.lr_schedule.alpha` = 2 is out of range",
        34,
        42,
    ),
    (
        "executor with 0 CPUs",
        "epochs = 2\n",
        "epochs = 2\n\n[executor]\ncpus_per_trial = 0\n",
        "`executor.cpus_per_trial` = 0 is out of range",
        36,
        18,
    ),
    (
        "executor with 0 concurrent tasks",
        "epochs = 2\n",
        "epochs = 2\n\n[executor]\nmax_concurrent = 0\n",
        "`executor.max_concurrent` = 0 is out of range",
        36,
        18,
    ),
    (
        "grid sweep with 0 trials",
        "epochs = 2\n",
        "epochs = 2\n\n[sweep]\ntrials = 0\n\"head.1.rate\" = [0.1]\n",
        "`sweep.trials` = 0 is out of range",
        36,
        10,
    ),
    (
        "blank name",
        "name = \"t\"",
        "name = \"  \"",
        "`pipeline.name` must not be blank",
        2,
        8,
    ),
    (
        "a class listed twice",
        "batch_size = 4\n",
        "batch_size = 4\nclasses = [\"cats\", \"cats\"]\n",
        "`data.classes` lists `cats` twice",
        10,
        20,
    ),
    (
        "zoom_range of 1.5",
        "horizontal_flip = true\n",
        "horizontal_flip = true\nzoom_range = 1.5\n",
        "`augment.zoom_range` = 1.5 is out of range: it must be in [0, 1)",
        29,
        14,
    ),
    (
        "reversed brightness_range",
        "horizontal_flip = true\n",
        "horizontal_flip = true\nbrightness_range = [1.2, 0.8]\n",
        "`augment.brightness_range` = [1.2, 0.8] is reversed",
        29,
        20,
    ),
    (
        "reversed zoom_range pair",
        "horizontal_flip = true\n",
        "horizontal_flip = true\nzoom_range = [1.2, 0.8]\n",
        "`augment.zoom_range` = [1.2, 0.8] is reversed",
        29,
        14,
    ),
    (
        "dense layer too wide",
        "units = 1\n",
        "units = 4611686018427387904\n",
        "`head.2.units` = 4611686018427387904 is out of range: it must be in [1, 1048576]",
        24,
        9,
    ),
    (
        "misspelled monitor",
        "epochs = 2\n",
        "epochs = 2\n\n[[callbacks]]\ntype = \"early_stopping\"\nmonitor = \"val_los\"\n",
        "`callbacks.0.monitor` = \"val_los\" is not a value this run records",
        37,
        11,
    ),
    (
        "monitor of an undeclared metric's class",
        "epochs = 2\n",
        "epochs = 2\n\n[[callbacks]]\ntype = \"checkpoint\"\nmonitor = \"val_recall_dogs\"\n",
        "`callbacks.0.monitor` = \"val_recall_dogs\" is not a value this run records",
        37,
        11,
    ),
    (
        "monitor of an undeclared metric",
        "epochs = 2\n",
        "epochs = 2\n\n[[callbacks]]\ntype = \"checkpoint\"\nmonitor = \"val_auc\"\n",
        "`callbacks.0.monitor` = \"val_auc\" is not a value this run records",
        37,
        11,
    ),
];

fn dataset(dir: &Path) {
    for split in ["train", "validation"] {
        for class in ["cats", "dogs"] {
            std::fs::create_dir_all(dir.join("data").join(split).join(class)).unwrap();
        }
    }
    std::fs::write(dir.join("w.pth"), b"weights").unwrap();
}

fn problems(text: &str) -> Vec<Diagnostic> {
    let dir = tempfile::tempdir().unwrap();
    dataset(dir.path());
    let file = dir.path().join("p.toml");
    std::fs::write(&file, text).unwrap();
    match check_pipeline(&file, text.to_string()) {
        Ok(_) => Vec::new(),
        Err(problems) => problems,
    }
}

#[test]
fn the_valid_file_is_valid() {
    assert_eq!(problems(VALID), Vec::new());
}

#[test]
fn each_broken_file_reports_its_problem_where_it_is() {
    assert!(CASES.len() >= 25);
    let mut failures = Vec::new();
    for (name, from, to, message, line, column) in CASES {
        assert!(
            VALID.contains(from),
            "{name}: `{from}` is not in the valid file"
        );
        let found = problems(&VALID.replacen(from, to, 1));
        let matching = found
            .iter()
            .find(|problem| problem.message.contains(message));
        match matching {
            Some(problem) if (problem.line, problem.column) == (*line, *column) => {}
            _ => failures.push(format!(
                "{name}: expected `{message}` at {line}:{column}, got {:?}",
                found
                    .iter()
                    .map(|p| format!("{}:{} {}", p.line, p.column, p.message))
                    .collect::<Vec<_>>()
            )),
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

#[test]
fn typos_get_the_closest_name() {
    for (from, to, help) in [
        ("[train]", "[trian]", "did you mean `train`?"),
        (
            "batch_size = 4",
            "batchsize = 4",
            "did you mean `batch_size`?",
        ),
        (
            "type = \"dropout\"",
            "type = \"dropot\"",
            "did you mean `dropout`?",
        ),
        (
            "\"binary_crossentropy\"",
            "\"binary_crossentropi\"",
            "did you mean `binary_crossentropy`?",
        ),
    ] {
        let found = problems(&VALID.replacen(from, to, 1));
        assert!(
            found.iter().any(|p| p.help.as_deref() == Some(help)),
            "{to}: {found:?}"
        );
    }
}

#[test]
fn every_problem_is_reported_not_only_the_first() {
    let text = VALID
        .replacen("batch_size = 4", "batchsize = 4", 1)
        .replacen("epochs = 2", "epoch = 2", 1)
        .replacen("type = \"dropout\"", "type = \"dropot\"", 1);
    let found = problems(&text);
    assert_eq!(found.len(), 3, "{found:?}");
    let lines: Vec<usize> = found.iter().map(|p| p.line).collect();
    assert_eq!(lines, vec![9, 20, 33]);
}

/// The broken files the JSON Schema accepts, and why it cannot refuse them: a schema sees
/// one file's keys and values, not the backbone's layers, the folders on disk, or one
/// value against another. Every other case is refused by both.
const VALIDATE_ONLY: &[(&str, &str)] = &[
    ("unknown cut layer", "layer names depend on `backbone.arch`"),
    ("freeze past the cut", "one layer name against another"),
    (
        "inception_v3: a cut inside a mixed block",
        "layer names depend on `backbone.arch`",
    ),
    (
        "resnet18: a cut inside the stem",
        "layer names depend on `backbone.arch`",
    ),
    (
        "mobilenet_v2: a feature index past the last",
        "layer names depend on `backbone.arch`",
    ),
    (
        "inception_v3: images smaller than Keras allows",
        "the bound depends on `backbone.arch`",
    ),
    ("missing data folder", "the filesystem"),
    ("missing weights file", "the filesystem"),
    ("dense before pooling", "the order of the head's layers"),
    (
        "head does not fit the loss",
        "the last layer against the loss and the classes on disk",
    ),
    (
        "sweep: a key the pipeline lacks",
        "sweep keys are paths into the rest of the file",
    ),
    (
        "sweep: a value that breaks the pipeline",
        "sweep values are checked in the pipeline they make",
    ),
    (
        "sweep: random without trials",
        "`trials` is required by one `method` only",
    ),
    (
        "sweep: a distribution in a grid",
        "distributions are allowed by one `method` only",
    ),
    ("reversed brightness_range", "one element against the other"),
    ("reversed zoom_range pair", "one element against the other"),
    (
        "misspelled monitor",
        "what a run records depends on `train.metrics`",
    ),
    (
        "monitor of an undeclared metric",
        "what a run records depends on `train.metrics`",
    ),
    (
        "monitor of an undeclared metric's class",
        "what a run records depends on `train.metrics`",
    ),
];

/// Valid files at the edges of the ranges, which both must accept: `(name, text to
/// replace, replacement)`.
const VALID_EDGES: &[(&str, &str, &str)] = &[
    (
        "integers written as floats",
        "image_size = [32, 32]\nbatch_size = 4",
        "image_size = [32.0, 32.0]\nbatch_size = 4.0",
    ),
    (
        "the smallest and largest image sides",
        "[32, 32]",
        "[16, 4096]",
    ),
    ("no dropout", "rate = 0.2", "rate = 0.0"),
    (
        "full label smoothing",
        "loss = \"binary_crossentropy\"",
        "loss = { type = \"binary_crossentropy\", label_smoothing = 1.0 }",
    ),
    (
        "a zoom pair and an even brightness",
        "horizontal_flip = true",
        "zoom_range = [0.5, 2.0]\nbrightness_range = [0.5, 0.5]",
    ),
    ("no zoom", "horizontal_flip = true", "zoom_range = 0.0"),
    (
        "a non-ASCII name",
        "name = \"t\"",
        "name = \"chats et chiens é\"",
    ),
    (
        "a validation split instead of a folder",
        "validation = \"data/validation\"",
        "validation_split = 0.5",
    ),
    (
        "a cosine schedule down to the full rate",
        "epochs = 2\n",
        "epochs = 2\nlr_schedule = { type = \"cosine\", alpha = 1.0, warmup_epochs = 0.0 }\n",
    ),
    (
        "a monitor of a declared metric",
        "epochs = 2\n",
        "epochs = 2\nmetrics = [\"accuracy\", \"auc\"]\n\n[[callbacks]]\ntype = \"early_stopping\"\nmonitor = \"val_auc\"\nmin_delta = 0.0\n",
    ),
    (
        "a monitor of one class's declared metric",
        "epochs = 2\n",
        "epochs = 2\nmetrics = [\"accuracy\", \"recall\"]\n\n[[callbacks]]\ntype = \"checkpoint\"\nmonitor = \"val_recall_dogs\"\n",
    ),
    (
        "a plateau callback at its bounds",
        "epochs = 2\n",
        "epochs = 2\n\n[[callbacks]]\ntype = \"reduce_lr_on_plateau\"\nfactor = 0.0\nmin_lr = 0.0\n",
    ),
    (
        "integral floats in a sweep",
        "epochs = 2\n",
        "epochs = 2\n\n[sweep]\n\"train.epochs\" = [1.0, 3.0]\n",
    ),
    (
        "a Slurm executor without GPUs",
        "epochs = 2\n",
        "epochs = 2\n\n[executor]\ngpus_per_trial = 0\ncpus_per_trial = 1\n",
    ),
];

/// Whether the pipeline JSON Schema refuses `text` (a file that is not TOML has no JSON
/// form: refused).
fn schema_refuses(validator: &jsonschema::Validator, text: &str) -> bool {
    match toml::from_str::<toml::Value>(text) {
        Ok(value) => !validator.is_valid(&serde_json::to_value(value).unwrap()),
        Err(_) => true,
    }
}

#[test]
fn validate_and_the_schema_agree() {
    let validator = jsonschema::validator_for(&runner_core::spec::pipeline_schema()).unwrap();
    let mut disagreements = Vec::new();
    for (name, from, to, ..) in CASES {
        let text = VALID.replacen(from, to, 1);
        let validate_only = VALIDATE_ONLY.iter().any(|(case, _)| case == name);
        let (by_validate, by_schema) = (
            !problems(&text).is_empty(),
            schema_refuses(&validator, &text),
        );
        if !by_validate || by_schema == validate_only {
            disagreements.push(format!("{name}: validate refuses {by_validate}, the schema refuses {by_schema}, validate-only {validate_only}"));
        }
    }
    for (name, _) in VALIDATE_ONLY {
        if !CASES.iter().any(|case| case.0 == *name) {
            disagreements.push(format!("{name}: listed as validate-only but not a case"));
        }
    }
    for (name, from, to) in [("the valid file", "", "")].iter().chain(VALID_EDGES) {
        assert!(
            VALID.contains(from),
            "{name}: `{from}` is not in the valid file"
        );
        let text = VALID.replacen(from, to, 1);
        let found = problems(&text);
        if !found.is_empty() || schema_refuses(&validator, &text) {
            disagreements.push(format!(
                "{name}: should be valid; validate says {found:?}, the schema refuses {}",
                schema_refuses(&validator, &text)
            ));
        }
    }
    assert!(disagreements.is_empty(), "\n{}", disagreements.join("\n"));
}

#[test]
fn an_experiments_own_sweep_and_executor_are_checked_as_a_pipelines_are() {
    let dir = tempfile::tempdir().unwrap();
    dataset(dir.path());
    std::fs::write(dir.path().join("p.toml"), VALID).unwrap();
    let validator = jsonschema::validator_for(&runner_core::spec::experiment_schema()).unwrap();
    for (text, message, line) in [
        (
            "base = \"p.toml\"\n\n[executor]\ncpus_per_trial = 0\n",
            "`executor.cpus_per_trial` = 0 is out of range",
            4,
        ),
        (
            "base = \"p.toml\"\n\n[sweep]\ntrials = 0\n\"head.1.rate\" = [0.1]\n",
            "`sweep.trials` = 0 is out of range",
            4,
        ),
    ] {
        let file = dir.path().join("e.toml");
        std::fs::write(&file, text).unwrap();
        let found = check_pipeline(&file, text.to_string()).unwrap_err();
        assert!(
            found
                .iter()
                .any(|problem| problem.message.contains(message) && problem.line == line),
            "{found:?}"
        );
        assert!(
            schema_refuses(&validator, text),
            "the schema accepts {text}"
        );
    }
}
