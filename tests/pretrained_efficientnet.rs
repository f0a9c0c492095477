//! The real ImageNet weights of EfficientNet-Lite0 (provisioned by `scripts/setup.sh`) load
//! byte-exact and classify real photos correctly.

mod common;

use burn::prelude::*;
use runner::arch::EFFICIENTNET_LITE_PREPROCESS as PREPROCESS;
use runner::arch::efficientnet_lite;
use runner::model::efficientnet_lite::{EfficientNetLite, TORCH_KEY_REMAPPING};
use runner::model::{WeightsUse, load_pytorch};
use runner::spec::Arch;

fn pretrained() -> EfficientNetLite {
    let file = common::repo_root().join("weights/efficientnet-lite0-57934424.pth");
    assert!(
        file.is_file(),
        "{} is missing: run scripts/setup.sh first",
        file.display()
    );
    let scaling = efficientnet_lite::scaling(Arch::EfficientnetLite0).unwrap();
    let mut network = EfficientNetLite::new(scaling, &runner::device::cpu());
    load_pytorch(
        &mut network,
        &file,
        &TORCH_KEY_REMAPPING,
        Arch::EfficientnetLite0,
        WeightsUse::Load,
    )
    .unwrap();
    network
}

fn sum(tensor: Tensor<4>) -> f64 {
    f64::from(tensor.sum().into_scalar::<f32>())
}

#[test]
fn weights_load_exactly() {
    let network = pretrained();
    // Sums computed with torch.load on the same file.
    let stem = sum(network.stem.conv.weight.val());
    assert!(
        (stem - -26.811_376_611).abs() < 1e-4,
        "stem weight sum {stem}"
    );
    let fc = f64::from(network.fc.weight.val().sum().into_scalar::<f32>());
    assert!(
        (fc - -470.632_567_301).abs() < 1e-3,
        "classifier weight sum {fc}"
    );
}

/// ImageNet-1k class indices: 151..=268 are dog breeds, 281..=285 domestic cats.
fn is_dog(class: usize) -> bool {
    (151..=268).contains(&class)
}
fn is_cat(class: usize) -> bool {
    (281..=285).contains(&class)
}

#[test]
fn classifies_real_cats_and_dogs() {
    let network = pretrained();
    let fixtures = common::repo_root().join("tests/fixtures/imagenet");
    let cases = [
        ("cat.4003.jpg", is_cat as fn(usize) -> bool),
        ("cat.4005.jpg", is_cat),
        ("dog.4001.jpg", is_dog),
        ("dog.4003.jpg", is_dog),
    ];
    for (file, is_right_animal) in cases {
        let image = image::open(fixtures.join(file)).unwrap().into_rgb8();
        let image =
            image::imageops::resize(&image, 224, 224, image::imageops::FilterType::Triangle);
        let mut input = vec![0f32; 3 * 224 * 224];
        for (index, pixel) in image.pixels().enumerate() {
            for channel in 0..3 {
                input[channel * 224 * 224 + index] = f32::from(pixel[channel])
                    * PREPROCESS.scale[channel]
                    + PREPROCESS.offset[channel];
            }
        }
        let input = Tensor::<4>::from_data(
            TensorData::new(input, [1, 3, 224, 224]),
            &runner::device::cpu(),
        );
        let logits = network
            .forward_classifier(input)
            .into_data()
            .try_to_vec::<f32>()
            .unwrap();
        let mut ranked: Vec<usize> = (0..logits.len()).collect();
        ranked.sort_by(|a, b| logits[*b].total_cmp(&logits[*a]));
        let top5 = &ranked[..5];
        assert!(
            top5.iter().any(|&class| is_right_animal(class)),
            "{file}: top-5 ImageNet classes {top5:?}"
        );
    }
}
