//! The stage keys of every shipped pipeline and experiment trial, and of pipelines that cut
//! and freeze each architecture in the middle, pinned in `fixtures/stage_keys.txt`. A key
//! names a stored result: one that changes silently makes the store recompute what it has,
//! or, worse, serve features of another frozen prefix. A change that alters what a stage
//! computes updates the file on purpose (`RUNNER_PIN_STAGE_KEYS=1 cargo test -p
//! runner-core --test stage_keys`) and says so in its commit.

use std::path::{Path, PathBuf};

use runner_core::plan::{InputHashes, feature_cache_problem, stage_keys};
use runner_core::spec::experiment::check_experiment;
use runner_core::spec::sweep::{expand, trial_spec};
use runner_core::spec::{LayerPlan, PipelineSpec, effective_phases, parse_pipeline, phase_spec};

const PINNED: &str = "tests/fixtures/stage_keys.txt";

/// Stand-ins for the manifests' and the weights file's hashes: the keys are pinned for
/// given inputs, whatever the data folders hold on this machine.
fn inputs(test_split: bool) -> InputHashes {
    let mut manifests = vec!["training manifest".into(), "validation manifest".into()];
    if test_split {
        manifests.push("test manifest".into());
    }
    InputHashes {
        manifests,
        weights: Some("weights hash".into()),
    }
}

/// The lines that pin one pipeline: its keys, and each phase's features keys, frozen
/// prefix and whether its features can be cached.
fn pin(name: &str, spec: &PipelineSpec) -> Vec<String> {
    let inputs = inputs(spec.data.test.is_some());
    let keys = stage_keys(spec, &plan(spec), &inputs);
    let mut lines = vec![
        format!("{name} decoded {}", keys.decoded.join(" ")),
        format!("{name} features {}", keys.features.join(" ")),
        format!("{name} training {}", keys.training),
    ];
    for index in 0..effective_phases(spec).len() {
        let phase = phase_spec(spec, index).expect("the phase exists");
        let layers = plan(&phase);
        let keys = stage_keys(&phase, &layers, &inputs);
        lines.push(format!(
            "{name} phase{index} features {}",
            keys.features.join(" ")
        ));
        lines.push(format!(
            "{name} phase{index} prefix [{}]",
            layers.frozen_prefix_names().join(",")
        ));
        lines.push(format!(
            "{name} phase{index} cacheable {}",
            feature_cache_problem(&phase, &layers).is_none()
        ));
    }
    lines
}

fn plan(spec: &PipelineSpec) -> LayerPlan {
    LayerPlan::of(&spec.backbone).expect("the backbone's layers resolve")
}

/// Every trial of a written pipeline (one without a sweep).
fn pin_trials(name: &str, written: &PipelineSpec) -> Vec<String> {
    let Some(sweep) = &written.sweep else {
        return pin(name, written);
    };
    expand(sweep, written.pipeline.seed)
        .expect("the sweep expands")
        .iter()
        .flat_map(|trial| {
            let spec = trial_spec(written, trial).expect("the trial's spec");
            pin(&format!("{name}#{}", trial.index), &spec)
        })
        .collect()
}

fn shipped(folder: &str) -> Vec<PathBuf> {
    let folder = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(folder);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&folder)
        .expect("the folder of shipped files")
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "toml"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no pipeline in {}", folder.display());
    files
}

fn file_name(path: &Path) -> String {
    let folder = path
        .parent()
        .unwrap()
        .file_name()
        .unwrap()
        .to_string_lossy();
    format!("{folder}/{}", path.file_name().unwrap().to_string_lossy())
}

/// A small pipeline on `arch` with the `[backbone]` and further sections given.
fn variant(arch: &str, backbone: &str, more: &str) -> PipelineSpec {
    let text = format!(
        r#"
        [pipeline]
        name = "variant"
        [data]
        train = "data/train"
        validation = "data/validation"
        image_size = [96, 96]
        [backbone]
        arch = "{arch}"
        weights = "w.pth"
        {backbone}
        [[head]]
        type = "global_avg_pool"
        [[head]]
        type = "dense"
        units = 1
        activation = "sigmoid"
        [train]
        optimizer = {{ type = "adam", lr = 0.001 }}
        loss = "binary_crossentropy"
        epochs = 2
        {more}
        "#
    );
    parse_pipeline(Path::new("variant.toml"), text)
        .unwrap_or_else(|err| panic!("{arch} {backbone} {more}: {err:#}"))
        .written
}

/// Cuts and freezes in the middle of every architecture, by name, Keras name, index,
/// stage and pattern, with BatchNorm in training mode, and in phases.
fn variants() -> Vec<(String, PipelineSpec)> {
    let cases: &[(&str, &str, &str)] = &[
        ("efficientnet_lite0", r#"cut = "block5""#, ""),
        (
            "efficientnet_lite0",
            r#"cut = "block9"
        freeze = { from = "block2", to = "block6" }"#,
            "",
        ),
        ("efficientnet_lite0", r"freeze = { to = 4 }", ""),
        (
            "efficientnet_lite0",
            r#"freeze = { regex = "^block1[0-5]$" }"#,
            "",
        ),
        (
            "efficientnet_lite0",
            r#"freeze = "all"
        batchnorm = "train""#,
            "",
        ),
        (
            "efficientnet_lite0",
            r#"freeze = "all""#,
            r"validation_steps = 2
        [augment]
        rescale = 0.00392156862745098",
        ),
        (
            "efficientnet_lite0",
            r#"freeze = "all""#,
            r"[augment]
        horizontal_flip = true",
        ),
        (
            "efficientnet_lite0",
            r#"cut = "block12"
        freeze = "all""#,
            r#"[[phases]]
        epochs = 1
        [[phases]]
        name = "fine-tune"
        epochs = 1
        freeze = { to = "block7" }
        optimizer = { type = "sgd", lr = 0.0001 }"#,
        ),
        (
            "efficientnet_lite2",
            r#"cut = "block8"
        freeze = "all""#,
            "",
        ),
        ("efficientnet_lite4", r#"freeze = { to = "block20" }"#, ""),
        (
            "inception_v3",
            r#"cut = "mixed7"
        freeze = "all""#,
            "",
        ),
        (
            "inception_v3",
            r#"cut = "mixed9"
        freeze = { to = "conv2d_69" }"#,
            "",
        ),
        (
            "inception_v3",
            r#"freeze = { from = "Mixed_5b", to = "mixed4" }"#,
            "",
        ),
        (
            "resnet18",
            r#"cut = "layer3"
        freeze = { to = "layer2" }"#,
            "",
        ),
        (
            "resnet50",
            r#"freeze = { from = "layer2", to = "layer3.2" }"#,
            "",
        ),
        (
            "resnet50",
            r#"cut = "layer4.1"
        freeze = "all""#,
            "",
        ),
        (
            "mobilenet_v2",
            r#"cut = "features.13"
        freeze = { to = "features.6" }"#,
            "",
        ),
        ("mobilenet_v2", r#"freeze = "all""#, ""),
    ];
    cases
        .iter()
        .enumerate()
        .map(|(index, (arch, backbone, more))| {
            (
                format!("variant{index}-{arch}"),
                variant(arch, backbone, more),
            )
        })
        .collect()
}

fn all_lines() -> Vec<String> {
    let mut lines = Vec::new();
    for file in shipped("pipelines") {
        let text = std::fs::read_to_string(&file).unwrap();
        let pipeline = parse_pipeline(&file, text).expect("a shipped pipeline parses");
        lines.extend(pin_trials(&file_name(&file), &pipeline.written));
    }
    for file in shipped("experiments") {
        let text = std::fs::read_to_string(&file).unwrap();
        let experiment =
            check_experiment(&file, &text).unwrap_or_else(|_| panic!("{} checks", file.display()));
        lines.extend(pin_trials(&file_name(&file), &experiment.spec));
    }
    for (name, spec) in variants() {
        lines.extend(pin(&name, &spec));
    }
    lines
}

#[test]
fn stage_keys_stay_as_pinned() {
    let pinned_file = Path::new(env!("CARGO_MANIFEST_DIR")).join(PINNED);
    let lines = all_lines();
    let text = lines.join("\n") + "\n";
    if std::env::var_os("RUNNER_PIN_STAGE_KEYS").is_some() {
        std::fs::write(&pinned_file, &text).unwrap();
    }
    let pinned = std::fs::read_to_string(&pinned_file).expect("the pinned keys");
    let changed: Vec<String> = pinned
        .lines()
        .zip(&lines)
        .filter(|(pinned, now)| pinned != now)
        .map(|(pinned, now)| format!("  pinned: {pinned}\n  now:    {now}"))
        .collect();
    assert!(
        changed.is_empty() && pinned.lines().count() == lines.len(),
        "{} of {} pinned lines changed ({} lines now, {} pinned):\n{}",
        changed.len(),
        lines.len(),
        lines.len(),
        pinned.lines().count(),
        changed.join("\n")
    );
}
