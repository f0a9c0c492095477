//! InceptionV3 in a pipeline, and Keras `.h5` weights: read in Keras' order, converted to
//! Burn's layouts, and every kind of wrong file refused with a message naming it.
//! Parity with Keras and torchvision on full-size weights is `bench/parity/`'s job.

mod common;

use std::path::{Path, PathBuf};

use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::{BatchNorm, BatchNormConfig, Linear, LinearConfig};
use burn::prelude::*;
use common::assert_contains;
use runner::model::WeightsUse;
use runner::model::build_classifier;
use runner::model::inception_v3_weights::pretrained;
use runner::model::keras_h5::{KerasWeights, set_batchnorm_without_scale, set_conv, set_dense};

fn fixture(name: &str) -> PathBuf {
    common::repo_root().join("tests/fixtures/keras").join(name)
}

fn values<const D: usize>(tensor: Tensor<D>) -> Vec<f32> {
    tensor.into_data().try_to_vec::<f32>().unwrap()
}

fn error_of<T>(result: anyhow::Result<T>) -> String {
    match result {
        Ok(_) => panic!("expected an error"),
        Err(err) => {
            assert!(runner::error::is_input_error(&err), "{err:#}");
            format!("{err:#}")
        }
    }
}

#[test]
fn a_pipeline_cuts_inception_v3_at_mixed7_and_freezes_it() {
    let backbone = "arch = \"inception_v3\"\nweights = \"none\"\ncut = \"mixed7\"\nfreeze = { to = \"mixed7\" }";
    // Flattened, not pooled: the frozen prefix keeps mixed7's whole map.
    let text = common::tiny_pipeline(backbone, 1)
        .replace("[32, 32]", "[75, 75]")
        .replace("global_avg_pool", "flatten");
    let pipeline = runner::spec::parse_pipeline(Path::new("p.toml"), text).unwrap();
    let classes = ["blue".to_string(), "red".to_string()];
    let spec = &pipeline.spec;
    let layers = runner::spec::LayerPlan::of(&spec.backbone).unwrap();
    let classifier = build_classifier(spec, &layers, &classes, &runner::device::cpu()).unwrap();
    assert_eq!(classifier.layer_names.len(), 15);
    assert_eq!(classifier.layer_names[14], "mixed7");
    assert_eq!(classifier.frozen_prefix, 15);
    // Keras: mixed7 of a 75x75 image is 3x3x768.
    assert_eq!(classifier.frozen_output_shape, [768, 3, 3]);
}

#[test]
fn reads_the_layers_with_weights_in_file_order() {
    let weights = KerasWeights::open(&fixture("tiny.h5"), WeightsUse::Load).unwrap();
    let layers = &weights.layers;
    let names: Vec<&str> = layers.iter().map(|layer| layer.name.as_str()).collect();
    assert_eq!(names, ["conv2d_1", "batch_normalization_1", "dense_1"]);
    let batchnorm: Vec<(&str, &[usize])> = layers[1]
        .weights
        .iter()
        .map(|weight| (weight.name.as_str(), weight.shape.as_slice()))
        .collect();
    assert_eq!(
        batchnorm,
        [
            ("batch_normalization_1/beta:0", &[3][..]),
            ("batch_normalization_1/moving_mean:0", &[3]),
            ("batch_normalization_1/moving_variance:0", &[3]),
        ]
    );
}

/// The tiny fixture's layers in Burn's modules of the same shapes.
fn tiny_modules(device: &Device) -> (Conv2d, BatchNorm, Linear) {
    let conv = Conv2dConfig::new([2, 3], [2, 3])
        .with_bias(false)
        .init(device);
    (
        conv,
        BatchNormConfig::new(3).init(device),
        LinearConfig::new(3, 2).init(device),
    )
}

/// Opens `file` and loads its three layers into the tiny modules.
fn load_tiny(file: &Path) -> anyhow::Result<(Conv2d, BatchNorm, Linear)> {
    let weights = KerasWeights::open(file, WeightsUse::Load)?;
    let (mut conv, mut bn, mut dense) = tiny_modules(&runner::device::cpu());
    set_conv(&mut conv, &weights.layers[0], &weights)?;
    set_batchnorm_without_scale(&mut bn, &weights.layers[1], &weights)?;
    set_dense(&mut dense, &weights.layers[2], &weights)?;
    Ok((conv, bn, dense))
}

#[test]
fn keras_layouts_become_burns() {
    let (conv, bn, dense) = load_tiny(&fixture("tiny.h5")).unwrap();
    // The fixture's kernel[h, w, in, out] is 1000 h + 100 w + 10 in + out.
    let kernel = values(conv.weight.val());
    for out in 0..3 {
        for input in 0..2 {
            for h in 0..2 {
                for w in 0..3 {
                    let burn = kernel[((out * 2 + input) * 2 + h) * 3 + w];
                    assert_eq!(burn, (1000 * h + 100 * w + 10 * input + out) as f32);
                }
            }
        }
    }

    assert_eq!(values(bn.gamma.val()), [1.0; 3]);
    assert_eq!(values(bn.beta.val()), [0.5, 1.5, 2.5]);
    assert_eq!(values(bn.running_mean.value()), [-1.0, 0.0, 1.0]);
    assert_eq!(values(bn.running_var.value()), [1.0, 2.0, 4.0]);

    assert_eq!(
        values(dense.weight.val()),
        [0.0, 1.0, 10.0, 11.0, 20.0, 21.0]
    );
    assert_eq!(values(dense.bias.unwrap().val()), [7.0, 8.0]);
}

#[test]
fn a_tensor_that_does_not_fit_is_named() {
    let weights = KerasWeights::open(&fixture("tiny.h5"), WeightsUse::Load).unwrap();
    let layers = &weights.layers;
    let device = runner::device::cpu();
    let mut conv = Conv2dConfig::new([2, 4], [2, 3]).init(&device);
    let message = error_of(set_conv(&mut conv, &layers[0], &weights));
    assert_contains(&message, "tiny.h5` does not fit the network");
    assert_contains(
        &message,
        "layer `conv2d_1`'s `conv2d_1/kernel:0` has shape [2, 3, 2, 3], the network needs [2, 3, 2, 4]",
    );
    let mut bn = BatchNormConfig::new(3).init(&device);
    let message = error_of(set_batchnorm_without_scale(&mut bn, &layers[2], &weights));
    assert_contains(
        &message,
        "layer `dense_1` has 2 weight(s) (dense_1/kernel:0, dense_1/bias:0)",
    );
}

#[test]
fn files_that_are_not_keras_weights() {
    let dir = tempfile::tempdir().unwrap();
    let text = dir.path().join("text.h5");
    std::fs::write(&text, "not hdf5").unwrap();
    let message = error_of(KerasWeights::open(&text, WeightsUse::Load));
    assert_contains(&message, "cannot read `");
    assert_contains(&message, "text.h5` as Keras weights: not an HDF5 file");

    let message = error_of(KerasWeights::open(
        &fixture("not_keras.h5"),
        WeightsUse::Load,
    ));
    assert_contains(&message, "has no `layer_names` attribute");

    let bytes = std::fs::read(fixture("tiny.h5")).unwrap();
    for length in [100, bytes.len() / 2, bytes.len() - 100] {
        let truncated = dir.path().join(format!("truncated{length}.h5"));
        std::fs::write(&truncated, &bytes[..length]).unwrap();
        // Cut in the structure, the file does not open; cut in the data, a tensor does
        // not read.
        let message = error_of(load_tiny(&truncated));
        assert_contains(&message, &format!("truncated{length}.h5"));
    }
}

#[test]
fn inception_v3_refuses_weights_of_another_network() {
    let device = runner::device::cpu();
    let message = error_of(pretrained(
        Some(&fixture("tiny.h5")),
        WeightsUse::Load,
        &device,
    ));
    assert_contains(
        &message,
        "is not InceptionV3 weights: it has 1 Conv2D, 1 BatchNormalization and 1 Dense layers, where InceptionV3 has 94, 94 and (with its classifier) 1",
    );
    let message = error_of(pretrained(
        Some(Path::new("missing.h5")),
        WeightsUse::Load,
        &device,
    ));
    assert_contains(&message, "`missing.h5` does not exist");
    assert_contains(
        &message,
        "inception_v3_weights_tf_dim_ordering_tf_kernels_notop.h5",
    );
    let message = error_of(pretrained(
        Some(&fixture("make_fixtures.py")),
        WeightsUse::Load,
        &device,
    ));
    assert_contains(
        &message,
        "Keras weights (`.h5`) or torchvision weights (`.pth`)",
    );
}
