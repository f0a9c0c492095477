//! torchvision's resnet18, resnet50 and mobilenet_v2 state dicts load into the runner's
//! networks: `.pth` files with torchvision's exact keys, dtypes and shapes (listed in
//! tests/fixtures/torchvision/, written by bench/parity/torchvision_backbones.py) and values
//! that say which key they came from, so each tensor is checked to land where it belongs.
//! Parity of the outputs on full-size weights is `bench/parity/`'s job.

mod common;

use std::path::{Path, PathBuf};

use burn::prelude::*;
use common::assert_contains;
use common::torch_save::{self, Values};
use runner::model::mobilenet_v2::{self, MobileNetV2};
use runner::model::resnet::{self, ResNet};
use runner::model::{BackboneLayer, WeightsUse, build_classifier, load_pytorch};
use runner::spec::Arch;

/// A state dict in torchvision's layout: float tensor number `k` (in file order) holds
/// `k + (i % 1000) / 1000` at flat index `i`; integer tensors (`num_batches_tracked`) hold 0.
struct Torchvision {
    keys: Vec<String>,
}

impl Torchvision {
    fn write(arch: &str, file: &Path) -> Self {
        let fixture = common::repo_root().join(format!("tests/fixtures/torchvision/{arch}.tsv"));
        let text = std::fs::read_to_string(&fixture).unwrap();
        let mut tensors = Vec::new();
        for line in text.lines().filter(|line| !line.starts_with('#')) {
            let [key, dtype, shape] = line.split('\t').collect::<Vec<_>>()[..] else {
                panic!("{}: bad line {line:?}", fixture.display());
            };
            let shape: Vec<usize> = shape
                .split(',')
                .filter(|dim| !dim.is_empty())
                .map(|dim| dim.parse().unwrap())
                .collect();
            let numel = shape.iter().product();
            let index = tensors.len();
            let values = match dtype {
                "float32" => Values::F32((0..numel).map(|i| value(index, i)).collect()),
                "int64" => Values::I64(vec![0; numel]),
                _ => panic!("{key}: dtype {dtype}"),
            };
            tensors.push(torch_save::Tensor {
                key: key.to_string(),
                shape,
                values,
            });
        }
        torch_save::write_state_dict(file, &tensors);
        Self {
            keys: tensors.into_iter().map(|tensor| tensor.key).collect(),
        }
    }

    /// Asserts that `tensor` starts with the first value of the tensor under `key`.
    #[track_caller]
    fn assert_first<const D: usize>(&self, tensor: Tensor<D>, key: &str) {
        assert_eq!(first(tensor), self.at(key, 0), "{key}");
    }

    /// What the tensor under `key` holds at flat index `i`.
    fn at(&self, key: &str, i: usize) -> f32 {
        let index = self.keys.iter().position(|k| k == key).expect(key);
        value(index, i)
    }
}

fn value(tensor: usize, i: usize) -> f32 {
    tensor as f32 + (i % 1000) as f32 / 1000.0
}

fn first<const D: usize>(tensor: Tensor<D>) -> f32 {
    tensor
        .flatten::<1>(0, D - 1)
        .slice(0..1)
        .into_scalar::<f32>()
}

/// Burn's Linear weight is `[in, out]`, torchvision's `[out, in]`.
fn assert_linear_transposed(weight: Tensor<2>, torchvision: &Torchvision, key: &str) {
    let [inputs, _] = weight.dims();
    let values = weight.into_data().try_to_vec::<f32>().unwrap();
    let outputs = values.len() / inputs;
    // Burn's (input 1, output 0) is torchvision's (output 0, input 1), flat index 1; Burn's
    // (input 0, output 1) is torchvision's flat index `inputs`.
    assert_eq!(values[outputs], torchvision.at(key, 1), "{key}");
    assert_eq!(values[1], torchvision.at(key, inputs), "{key}");
}

fn temp_file(dir: &tempfile::TempDir, name: &str) -> PathBuf {
    dir.path().join(name)
}

#[test]
fn resnet50_takes_every_tensor_of_torchvisions_state_dict() {
    let dir = tempfile::tempdir().unwrap();
    let file = temp_file(&dir, "resnet50.pth");
    let torchvision = Torchvision::write("resnet50", &file);
    let device = runner::device::cpu();
    let mut network = ResNet::resnet50(&device);
    // Every tensor of the network must be in the file, or loading fails.
    load_pytorch(
        &mut network,
        &file,
        &resnet::TORCH_KEY_REMAPPING,
        Arch::Resnet50,
        WeightsUse::Load,
    )
    .unwrap();

    let stem = &network.stem.conv;
    torchvision.assert_first(stem.conv.weight.val(), "conv1.weight");
    let stem_bn = stem.bn.as_ref().unwrap();
    torchvision.assert_first(stem_bn.gamma.val(), "bn1.weight");
    torchvision.assert_first(stem_bn.beta.val(), "bn1.bias");
    let downsample = network.layer1[0].downsample.as_ref().unwrap();
    let bn = downsample.bn.as_ref().unwrap();
    torchvision.assert_first(bn.running_var.value(), "layer1.0.downsample.1.running_var");
    torchvision.assert_first(downsample.conv.weight.val(), "layer1.0.downsample.0.weight");
    let block = &network.layer3[5];
    torchvision.assert_first(block.conv2.conv.weight.val(), "layer3.5.conv2.weight");
    let conv3 = network.layer4[2].conv3.as_ref().unwrap();
    torchvision.assert_first(
        conv3.bn.as_ref().unwrap().running_mean.value(),
        "layer4.2.bn3.running_mean",
    );
    assert_linear_transposed(network.fc.weight.val(), &torchvision, "fc.weight");
    torchvision.assert_first(network.fc.bias.as_ref().unwrap().val(), "fc.bias");
}

#[test]
fn resnet18_takes_torchvisions_basic_blocks() {
    let dir = tempfile::tempdir().unwrap();
    let file = temp_file(&dir, "resnet18.pth");
    let torchvision = Torchvision::write("resnet18", &file);
    let mut network = ResNet::resnet18(&runner::device::cpu());
    load_pytorch(
        &mut network,
        &file,
        &resnet::TORCH_KEY_REMAPPING,
        Arch::Resnet18,
        WeightsUse::Load,
    )
    .unwrap();
    let block = &network.layer2[0];
    assert!(block.conv3.is_none());
    torchvision.assert_first(
        block.conv2.bn.as_ref().unwrap().gamma.val(),
        "layer2.0.bn2.weight",
    );
    let downsample = block.downsample.as_ref().unwrap();
    torchvision.assert_first(downsample.conv.weight.val(), "layer2.0.downsample.0.weight");
    assert!(network.layer1[0].downsample.is_none());
    assert_linear_transposed(network.fc.weight.val(), &torchvision, "fc.weight");
}

#[test]
fn mobilenet_v2_takes_every_tensor_of_torchvisions_state_dict() {
    let dir = tempfile::tempdir().unwrap();
    let file = temp_file(&dir, "mobilenet_v2.pth");
    let torchvision = Torchvision::write("mobilenet_v2", &file);
    let mut network = MobileNetV2::new(&runner::device::cpu());
    load_pytorch(
        &mut network,
        &file,
        &mobilenet_v2::TORCH_KEY_REMAPPING,
        Arch::MobilenetV2,
        WeightsUse::Load,
    )
    .unwrap();

    let BackboneLayer::ConvBn(stem) = &network.features[0] else {
        panic!("features.0 is a convolution");
    };
    torchvision.assert_first(stem.conv.weight.val(), "features.0.0.weight");
    // features.1 has no expansion: its first convolution is the depthwise one.
    let BackboneLayer::MbConv(block) = &network.features[1] else {
        panic!("features.1 is an inverted residual");
    };
    assert!(block.expand.is_none());
    torchvision.assert_first(
        block.depthwise.bn.as_ref().unwrap().beta.val(),
        "features.1.conv.0.1.bias",
    );
    torchvision.assert_first(block.project.conv.weight.val(), "features.1.conv.1.weight");
    let BackboneLayer::MbConv(block) = &network.features[14] else {
        panic!("features.14 is an inverted residual");
    };
    let expand = block.expand.as_ref().unwrap();
    torchvision.assert_first(expand.conv.weight.val(), "features.14.conv.0.0.weight");
    torchvision.assert_first(
        block.depthwise.conv.weight.val(),
        "features.14.conv.1.0.weight",
    );
    torchvision.assert_first(
        block.project.bn.as_ref().unwrap().running_mean.value(),
        "features.14.conv.3.running_mean",
    );
    let BackboneLayer::ConvBn(last) = &network.features[18] else {
        panic!("features.18 is a convolution");
    };
    torchvision.assert_first(
        last.bn.as_ref().unwrap().running_var.value(),
        "features.18.1.running_var",
    );
    assert_linear_transposed(
        network.classifier.weight.val(),
        &torchvision,
        "classifier.1.weight",
    );
}

#[test]
fn another_networks_file_is_refused_with_a_message() {
    let dir = tempfile::tempdir().unwrap();
    let file = temp_file(&dir, "mobilenet_v2.pth");
    Torchvision::write("mobilenet_v2", &file);
    let mut network = ResNet::resnet18(&runner::device::cpu());
    let err = load_pytorch(
        &mut network,
        &file,
        &resnet::TORCH_KEY_REMAPPING,
        Arch::Resnet18,
        WeightsUse::Load,
    )
    .unwrap_err();
    assert!(runner::error::is_input_error(&err), "{err:#}");
    let message = format!("{err:#}");
    assert_contains(&message, "is not a resnet18 weights file");
}

#[test]
fn a_pipeline_fine_tunes_the_last_resnet_stage_on_frozen_features() {
    let dir = tempfile::tempdir().unwrap();
    let file = temp_file(&dir, "resnet18.pth");
    Torchvision::write("resnet18", &file);
    let backbone = format!(
        "arch = \"resnet18\"\nweights = \"{}\"\ncut = \"layer4\"\nfreeze = {{ to = \"layer3\" }}",
        file.display()
    );
    let text = common::tiny_pipeline(&backbone, 1);
    let pipeline = runner::spec::parse_pipeline(Path::new("p.toml"), text).unwrap();
    let classes = ["blue".to_string(), "red".to_string()];
    let spec = &pipeline.spec;
    let layers = runner::spec::LayerPlan::of(&spec.backbone).unwrap();
    let classifier = build_classifier(spec, &layers, &classes, &runner::device::cpu()).unwrap();
    assert_eq!(classifier.layer_names.len(), 9);
    assert_eq!(classifier.layer_names[7], "layer4.0");
    // stem .. layer3.1 run frozen, BatchNorm folded; layer4's two blocks train.
    assert_eq!(classifier.frozen_prefix, 7);
    assert_eq!(classifier.tail_frozen, [false, false]);
    // torchvision: layer3 of a 32x32 image is 256x2x2.
    assert_eq!(classifier.frozen_output_shape, [256, 2, 2]);
}
