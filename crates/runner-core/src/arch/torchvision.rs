//! The layer names of torchvision's ResNets and MobileNetV2, as `print(model)` shows them.
//!
//! A ResNet is its stem (`conv1`, `bn1`, `relu`, `maxpool`, kept or dropped together) and
//! four stages `layer1` .. `layer4` of residual blocks. Each block is a layer (`layer3.1`),
//! so fine-tuning can unfreeze the last blocks; a stage's name stands for its blocks.
//! MobileNetV2 is torchvision's `features.0` .. `features.18`.

use super::LayerName;

/// Residual blocks per stage: torchvision's `resnet18` (basic blocks) and `resnet50`
/// (bottlenecks).
pub const RESNET18_STAGES: [usize; 4] = [2, 2, 2, 2];
pub const RESNET50_STAGES: [usize; 4] = [3, 4, 6, 3];

/// `(expansion, output channels, repeats, stride)` per stage of MobileNetV2's inverted
/// residuals: torchvision's `inverted_residual_setting`.
pub const MOBILENET_V2_STAGES: [(usize, usize, usize, usize); 7] = [
    (1, 16, 1, 1),
    (6, 24, 2, 2),
    (6, 32, 3, 2),
    (6, 64, 4, 2),
    (6, 96, 3, 1),
    (6, 160, 3, 2),
    (6, 320, 1, 1),
];

/// `stem`, then `layer1.0` .. one name per residual block.
pub fn resnet_layer_names(stages: [usize; 4]) -> Vec<String> {
    let blocks = stages.iter().enumerate().flat_map(|(stage, &count)| {
        (0..count).map(move |block| format!("layer{}.{block}", stage + 1))
    });
    std::iter::once("stem".to_string()).chain(blocks).collect()
}

/// The names of a ResNet's stages, which stand for their blocks.
pub fn resnet_stage_names() -> Vec<String> {
    (1..=4).map(|stage| format!("layer{stage}")).collect()
}

/// Looks `name` up among a ResNet's layers, its stem's modules and its stages.
pub fn find_resnet_layer(stages: [usize; 4], name: &str) -> LayerName {
    match name {
        // The stem's output is maxpool's.
        "stem" | "maxpool" => return LayerName::Layer(0),
        "conv1" | "bn1" | "relu" => return LayerName::Inside(0),
        _ => {}
    }
    if let Some(stage) = name
        .strip_prefix("layer")
        .and_then(|number| number.parse::<usize>().ok())
        .filter(|stage| (1..=4).contains(stage))
        && name == format!("layer{stage}")
    {
        let first = 1 + stages[..stage - 1].iter().sum::<usize>();
        return LayerName::Group {
            first,
            last: first + stages[stage - 1] - 1,
        };
    }
    resnet_layer_names(stages)
        .iter()
        .position(|layer| layer == name)
        .map_or(LayerName::Unknown, LayerName::Layer)
}

/// `features.0` .. `features.18`: the stem convolution, the inverted residuals, the last
/// 1x1 convolution.
pub fn mobilenet_v2_layer_names() -> Vec<String> {
    let residuals: usize = MOBILENET_V2_STAGES
        .iter()
        .map(|(_, _, repeats, _)| repeats)
        .sum();
    (0..residuals + 2)
        .map(|index| format!("features.{index}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resnet_blocks_are_named_as_torchvision_prints_them() {
        let names = resnet_layer_names(RESNET18_STAGES);
        assert_eq!(names.len(), 9);
        assert_eq!(names[..3], ["stem", "layer1.0", "layer1.1"]);
        assert_eq!(names[8], "layer4.1");
        let names = resnet_layer_names(RESNET50_STAGES);
        assert_eq!(names.len(), 17);
        assert_eq!(
            names[13..],
            ["layer3.5", "layer4.0", "layer4.1", "layer4.2"]
        );
    }

    #[test]
    fn resnet_stages_and_stem_modules_lead_to_their_blocks() {
        let find = |name| find_resnet_layer(RESNET50_STAGES, name);
        assert_eq!(find("maxpool"), LayerName::Layer(0));
        assert_eq!(find("bn1"), LayerName::Inside(0));
        assert_eq!(find("layer1"), LayerName::Group { first: 1, last: 3 });
        assert_eq!(find("layer3"), LayerName::Group { first: 8, last: 13 });
        assert_eq!(
            find("layer4"),
            LayerName::Group {
                first: 14,
                last: 16
            }
        );
        assert_eq!(find("layer3.5"), LayerName::Layer(13));
        assert_eq!(find("layer3.6"), LayerName::Unknown);
        assert_eq!(find("layer5"), LayerName::Unknown);
        assert_eq!(find("layer04"), LayerName::Unknown);
        assert_eq!(find("fc"), LayerName::Unknown);
    }

    #[test]
    fn mobilenet_v2_features_keep_torchvisions_indices() {
        let names = mobilenet_v2_layer_names();
        assert_eq!(names.len(), 19);
        assert_eq!(names[0], "features.0");
        assert_eq!(names[18], "features.18");
    }
}
