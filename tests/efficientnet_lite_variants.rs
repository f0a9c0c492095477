//! EfficientNet-Lite1 .. Lite4 have the reference package's shapes, and a pipeline can cut
//! and freeze them by their block names.

mod common;

use burn::prelude::*;
use common::*;
use runner::arch::efficientnet_lite;
use runner::model::efficientnet_lite::EfficientNetLite;
use runner::spec::Arch;

/// The values in the state dict of `EfficientNet.from_name(name)` in efficientnet-lite-pytorch
/// 0.1.0, ImageNet classifier and BatchNorm statistics included (Burn counts those as
/// parameters), `num_batches_tracked` not.
const REFERENCE_PARAMETERS: [(Arch, usize); 5] = [
    (Arch::EfficientnetLite0, 4_694_024),
    (Arch::EfficientnetLite1, 5_470_344),
    (Arch::EfficientnetLite2, 6_150_168),
    (Arch::EfficientnetLite3, 8_273_768),
    (Arch::EfficientnetLite4, 13_118_936),
];

#[test]
fn every_variant_has_the_reference_parameter_count_and_output() {
    let device = runner::device::cpu();
    for (arch, parameters) in REFERENCE_PARAMETERS {
        let scaling = efficientnet_lite::scaling(arch).unwrap();
        let network = EfficientNetLite::new(scaling, &device);
        assert_eq!(network.num_params(), parameters, "{}", arch.name());
        let logits = network.forward_classifier(Tensor::zeros([1, 3, 33, 33], &device));
        assert_eq!(logits.dims(), [1, 1000], "{}", arch.name());
    }
}

#[test]
fn a_pipeline_cuts_and_freezes_lite4_by_its_block_names() {
    let backbone = r#"arch = "efficientnet_lite4"
weights = "none"
cut = "block29"
freeze = { to = "block28" }"#;
    let (_dir, file, store) = pipeline_folder(&tiny_pipeline(backbone, 1), 4);
    let output = succeeded(runner(&store, &["summary", file.to_str().unwrap()]));
    let summary = stdout(&output);
    assert_contains(&summary, "block29");
    assert!(!summary.contains("head_conv"), "{summary}");

    let wrong = tiny_pipeline(&backbone.replace("block29", "block30"), 1);
    std::fs::write(&file, wrong).unwrap();
    let output = runner(&store, &["validate", file.to_str().unwrap()]);
    assert!(!output.status.success());
    assert_contains(
        &stderr(&output),
        "efficientnet_lite4 has no layer named `block30`",
    );
}
