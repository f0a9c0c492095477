//! The committed JSON Schema is the one the Rust types generate, and every shipped
//! pipeline validates against both.

use std::path::PathBuf;

use runner_core::spec::{check_pipeline, experiment_schema, parse_pipeline, pipeline_schema};

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

#[test]
fn committed_schemas_are_current() {
    for (kind, schema) in [
        ("pipeline", pipeline_schema()),
        ("experiment", experiment_schema()),
    ] {
        let path = repo().join(format!("schemas/{kind}.schema.json"));
        let generated = serde_json::to_string_pretty(&schema).unwrap() + "\n";
        let committed = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            committed == generated,
            "{} is out of date: run `runner schema {kind} > schemas/{kind}.schema.json`",
            path.display()
        );
    }
}

fn shipped(folder: &str) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(repo().join(folder))
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "toml"))
        .collect();
    files.sort();
    assert!(!files.is_empty());
    files
}

/// What the JSON Schema finds wrong with a TOML file, read as JSON.
fn schema_errors(validator: &jsonschema::Validator, text: &str) -> Vec<String> {
    let as_json = serde_json::to_value(toml::from_str::<toml::Value>(text).unwrap()).unwrap();
    validator
        .iter_errors(&as_json)
        .map(|error| format!("{error} at {}", error.instance_path()))
        .collect()
}

#[test]
fn shipped_pipelines_fit_the_types_and_the_schema() {
    let validator = jsonschema::validator_for(&pipeline_schema()).unwrap();
    for file in shipped("pipelines") {
        let text = std::fs::read_to_string(&file).unwrap();
        parse_pipeline(&file, text.clone())
            .unwrap_or_else(|err| panic!("{}: {err:#}", file.display()));
        let errors = schema_errors(&validator, &text);
        assert!(errors.is_empty(), "{}: {errors:?}", file.display());
    }
}

#[test]
fn shipped_experiments_fit_the_types_and_the_schema() {
    let validator = jsonschema::validator_for(&experiment_schema()).unwrap();
    let pipeline_validator = jsonschema::validator_for(&pipeline_schema()).unwrap();
    for file in shipped("experiments") {
        let text = std::fs::read_to_string(&file).unwrap();
        let experiment: runner_core::spec::experiment::ExperimentSpec =
            toml::from_str(&text).unwrap_or_else(|err| panic!("{}: {err}", file.display()));
        assert!(experiment.sweep.is_some(), "{}", file.display());
        let spec = runner_core::spec::experiment::check_experiment(&file, &text)
            .unwrap_or_else(|problems| panic!("{}: {problems:?}", file.display()))
            .spec;
        let trials =
            runner_core::spec::sweep::expand(spec.sweep.as_ref().unwrap(), spec.pipeline.seed)
                .unwrap();
        assert!(!trials.is_empty());
        let errors = schema_errors(&validator, &text);
        assert!(errors.is_empty(), "{}: {errors:?}", file.display());
        // The pipeline the experiment resolves to fits the pipeline schema too.
        let resolved = serde_json::to_value(&spec).unwrap();
        let errors: Vec<String> = pipeline_validator
            .iter_errors(&resolved)
            .map(|error| format!("{error} at {}", error.instance_path()))
            .collect();
        assert!(errors.is_empty(), "{} resolved: {errors:?}", file.display());
    }
}

#[test]
fn the_schema_rejects_what_the_types_reject() {
    let validator = jsonschema::validator_for(&pipeline_schema()).unwrap();
    let text = std::fs::read_to_string(repo().join("pipelines/cats_dogs.toml")).unwrap();
    for (from, to) in [
        ("rate = 0.2", "rate = 1.5"),
        ("epochs = 5", "epochs = 0"),
        ("batch_size = 32", "batchsize = 32"),
    ] {
        let broken = text.replace(from, to);
        assert!(
            !schema_errors(&validator, &broken).is_empty(),
            "the schema accepts `{to}`"
        );
        assert!(
            parse_pipeline(&repo().join("pipelines/x.toml"), broken).is_err(),
            "the types accept `{to}`"
        );
    }
}

#[test]
fn a_starter_pipeline_validates() {
    let dir = tempfile::tempdir().unwrap();
    for split in ["train", "validation"] {
        for class in ["cats", "dogs"] {
            std::fs::create_dir_all(
                dir.path()
                    .join("data/cats_and_dogs")
                    .join(split)
                    .join(class),
            )
            .unwrap();
        }
    }
    std::fs::create_dir_all(dir.path().join("weights")).unwrap();
    std::fs::write(
        dir.path().join("weights/efficientnet-lite0-57934424.pth"),
        b"x",
    )
    .unwrap();
    std::fs::create_dir_all(dir.path().join("pipelines")).unwrap();
    let file = dir.path().join("pipelines/new.toml");
    let text = runner_core::spec::starter_pipeline(runner_core::spec::Arch::EfficientnetLite0);
    if let Err(problems) = check_pipeline(&file, text) {
        panic!("{problems:?}");
    }
}
