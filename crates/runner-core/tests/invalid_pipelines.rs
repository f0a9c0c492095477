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
