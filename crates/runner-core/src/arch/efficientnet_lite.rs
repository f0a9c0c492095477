//! EfficientNet-Lite0 .. Lite4's blocks: Lite0's stages scaled by each variant's width and
//! depth coefficients, as the reference (`efficientnet-lite-pytorch`, after TensorFlow's
//! `efficientnet_lite_builder.py`) scales them. Unlike EfficientNet, Lite keeps the stem
//! (32 channels), the head (1280) and the first and last stages' repeats unscaled, so that
//! every variant quantizes alike.

use super::{Arch, Layers};

pub const STEM_CHANNELS: usize = 32;
pub const HEAD_CHANNELS: usize = 1280;

/// `(expansion, kernel, stride, output channels, repeats)` per stage of Lite0.
const LITE0_STAGES: [(usize, usize, usize, usize, usize); 7] = [
    (1, 3, 1, 16, 1),
    (6, 3, 2, 24, 2),
    (6, 5, 2, 40, 2),
    (6, 3, 2, 80, 3),
    (6, 5, 1, 112, 3),
    (6, 5, 2, 192, 4),
    (6, 3, 1, 320, 1),
];

/// How a variant scales Lite0: channels by `width`, repeats by `depth`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LiteScaling {
    pub width: f64,
    pub depth: f64,
}

/// One inverted-residual block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MbConvShape {
    /// Input and output channels.
    pub channels: [usize; 2],
    pub expansion: usize,
    pub kernel: usize,
    pub stride: usize,
}

/// Each variant's `width` and `depth` coefficients, as the reference scales Lite0.
pub const LITE0: LiteScaling = LiteScaling {
    width: 1.0,
    depth: 1.0,
};
pub const LITE1: LiteScaling = LiteScaling {
    width: 1.0,
    depth: 1.1,
};
pub const LITE2: LiteScaling = LiteScaling {
    width: 1.1,
    depth: 1.2,
};
pub const LITE3: LiteScaling = LiteScaling {
    width: 1.2,
    depth: 1.4,
};
pub const LITE4: LiteScaling = LiteScaling {
    width: 1.4,
    depth: 1.8,
};

/// The coefficients of `arch`, `None` when it is not an EfficientNet-Lite.
pub fn scaling(arch: Arch) -> Option<LiteScaling> {
    match arch.facts().layers {
        Layers::EfficientNetLite(scaling) => Some(scaling),
        Layers::InceptionV3 | Layers::ResNet(_) | Layers::MobileNetV2 => None,
    }
}

/// The blocks in order, `block0` first.
pub fn blocks(scaling: LiteScaling) -> Vec<MbConvShape> {
    let last_stage = LITE0_STAGES.len() - 1;
    let mut blocks = Vec::new();
    let mut input = STEM_CHANNELS;
    for (stage, (expansion, kernel, stride, output, repeats)) in
        LITE0_STAGES.into_iter().enumerate()
    {
        let output = round_channels(output, scaling.width);
        let repeats = if stage == 0 || stage == last_stage {
            repeats
        } else {
            (repeats as f64 * scaling.depth).ceil() as usize
        };
        for repeat in 0..repeats {
            blocks.push(MbConvShape {
                channels: [input, output],
                expansion,
                kernel,
                stride: if repeat == 0 { stride } else { 1 },
            });
            input = output;
        }
    }
    blocks
}

/// The layer names a cut or a freeze range can use: `stem`, `block0` .. `blockN`,
/// `head_conv`.
pub fn layer_names(scaling: LiteScaling) -> Vec<String> {
    std::iter::once("stem".to_string())
        .chain((0..blocks(scaling).len()).map(|block| format!("block{block}")))
        .chain(std::iter::once("head_conv".to_string()))
        .collect()
}

/// TensorFlow's `round_filters`: the nearest multiple of 8, never more than 10% below.
fn round_channels(channels: usize, width: f64) -> usize {
    const DIVISOR: usize = 8;
    let scaled = channels as f64 * width;
    let rounded = ((scaled + DIVISOR as f64 / 2.0) as usize / DIVISOR * DIVISOR).max(DIVISOR);
    if (rounded as f64) < 0.9 * scaled {
        rounded + DIVISOR
    } else {
        rounded
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shape(arch: Arch) -> (usize, usize) {
        let blocks = blocks(scaling(arch).unwrap());
        (blocks.len(), blocks.last().unwrap().channels[1])
    }

    /// Block counts and last widths of the reference package's networks
    /// (`len(EfficientNet.from_name(name)._blocks)`, `_conv_head.in_channels`).
    #[test]
    fn variants_match_the_reference_shapes() {
        assert_eq!(shape(Arch::EfficientnetLite0), (16, 320));
        assert_eq!(shape(Arch::EfficientnetLite1), (21, 320));
        assert_eq!(shape(Arch::EfficientnetLite2), (21, 352));
        assert_eq!(shape(Arch::EfficientnetLite3), (24, 384));
        assert_eq!(shape(Arch::EfficientnetLite4), (30, 448));
    }

    #[test]
    fn the_first_stage_keeps_the_stem_width() {
        let lite4 = blocks(scaling(Arch::EfficientnetLite4).unwrap());
        assert_eq!(lite4[0].channels, [32, 24]);
        assert_eq!(lite4[1].channels, [24, 32]);
    }
}
