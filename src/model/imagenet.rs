//! The input torchvision's ImageNet models expect: pixels scaled to 0..1, then normalized
//! with ImageNet's per-channel mean and standard deviation.

use crate::data::Preprocess;

const MEAN: [f32; 3] = [0.485, 0.456, 0.406];
const STD: [f32; 3] = [0.229, 0.224, 0.225];

/// `(x / 255 - mean) / std` as one multiply-add on 0..255 pixels.
pub const PREPROCESS: Preprocess = Preprocess {
    scale: [
        1.0 / (255.0 * STD[0]),
        1.0 / (255.0 * STD[1]),
        1.0 / (255.0 * STD[2]),
    ],
    offset: [-MEAN[0] / STD[0], -MEAN[1] / STD[1], -MEAN[2] / STD[2]],
};
