//! `runner summary` counts parameters as the backbone's own framework does: Keras'
//! `model.summary()` for the course's InceptionV3 model, `sum(p.numel() for p in
//! model.parameters())` for torchvision's networks.

mod common;

use common::*;
use serde_json::Value;

fn summary(pipeline: &str) -> Value {
    let (_dir, file, store) = pipeline_folder(pipeline, 2);
    json_output(&runner(
        &store,
        &["summary", file.to_str().unwrap(), "--format", "json"],
    ))
}

#[test]
fn the_course_model_has_keras_counts() {
    let shipped =
        std::fs::read_to_string(repo_root().join("pipelines/cats_dogs_inception.toml")).unwrap();
    let text = shipped
        .replace(
            "weights = \"../weights/inception_v3_weights_tf_dim_ordering_tf_kernels_notop.h5\"",
            "weights = \"none\"",
        )
        .replace("../data/cats_and_dogs/", "data/");
    assert_ne!(text, shipped);
    let counts = summary(&text);
    // Keras 3: InceptionV3(include_top=False, input_shape=(150, 150, 3)) up to mixed7,
    // frozen, then Flatten, Dense(1024), Dropout(0.2), Dense(1): model.summary() prints
    // these totals.
    assert_eq!(counts["total_params"], 47_512_481, "{counts}");
    assert_eq!(counts["non_trainable_params"], 8_975_264, "{counts}");
    assert_eq!(counts["trainable_params"], 38_537_217, "{counts}");
}

#[test]
fn torchvision_backbones_have_torchvision_counts() {
    // torchvision.models.resnet18() and mobilenet_v2(): sum(p.numel() for p in
    // model.parameters()) is 11,689,512 and 3,504,872, of which their classifier
    // Linear(512 or 1280, 1000) has 513,000 or 1,281,000. Here the classifier is
    // global pooling then Dense(1): 513 or 1,281 parameters.
    for (arch, cut, torchvision_total, classifier, head) in [
        ("resnet18", "layer4", 11_689_512, 513_000, 513),
        ("mobilenet_v2", "features.18", 3_504_872, 1_281_000, 1_281),
    ] {
        let backbone =
            format!("arch = \"{arch}\"\nweights = \"none\"\ncut = \"{cut}\"\nfreeze = \"all\"");
        let counts = summary(&tiny_pipeline(&backbone, 1));
        assert_eq!(
            counts["total_params"],
            torchvision_total - classifier + head,
            "{arch}: {counts}"
        );
        // Frozen backbone: only the head trains.
        assert_eq!(counts["trainable_params"], head, "{arch}: {counts}");
    }
}
