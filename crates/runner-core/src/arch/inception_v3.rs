//! InceptionV3's layers that a cut or a freeze range can name, and the other names
//! (Keras', torchvision's) that lead to them.
//!
//! InceptionV3 is not a plain sequence of layers: its mixed blocks run
//! branches side by side and concatenate them, so it is a sequence of 18 blocks (the stem's
//! convolutions and poolings, then `mixed0` .. `mixed10`), each named after the Keras layer
//! whose output it is. Every other layer Keras names (`conv2d_69`, `batch_normalization_69`,
//! `average_pooling2d_6`, `mixed9_0`, `concatenate`, ...) lies inside one block, and each
//! of torchvision's modules (`Conv2d_1a_3x3`, `maxpool1`, `Mixed_5b`, ...) is one block.

use super::LayerName;

/// The blocks' Keras names (their outputs), in order.
pub fn layer_names() -> Vec<String> {
    inception_v3_blocks()
        .into_iter()
        .map(|block| block.name)
        .collect()
}

/// Looks `name` up among the blocks' Keras and torchvision names and the Keras layers
/// inside them.
pub fn find_layer(name: &str) -> LayerName {
    for (index, block) in inception_v3_blocks().iter().enumerate() {
        if block.name == name || block.torchvision == name {
            return LayerName::Layer(index);
        }
        if block.inside.iter().any(|inner| inner == name) {
            return LayerName::Inside(index);
        }
    }
    LayerName::Unknown
}

/// What Keras' `inception_v3.py` creates in one block, in the order it creates them.
#[derive(Clone, Copy)]
enum Contents {
    /// `conv2d_bn`: Conv2D, BatchNormalization, Activation.
    ConvBn,
    MaxPool,
    /// A mixed block: its `conv2d_bn` units and poolings, its unnamed `concatenate` layers,
    /// and the name of the concatenation inside it that Keras names (`mixed9_0`).
    Mixed {
        conv_bns: usize,
        max_pools: usize,
        average_pools: usize,
        concatenates: usize,
        named_concatenate: Option<&'static str>,
    },
}

const fn mixed(conv_bns: usize, max_pools: usize, average_pools: usize) -> Contents {
    Contents::Mixed {
        conv_bns,
        max_pools,
        average_pools,
        concatenates: 0,
        named_concatenate: None,
    }
}

/// Mixed 9 and 10 (torchvision's InceptionE) also concatenate two pairs of branches.
const fn mixed_e(named_concatenate: &'static str) -> Contents {
    Contents::Mixed {
        conv_bns: 9,
        max_pools: 0,
        average_pools: 1,
        concatenates: 1,
        named_concatenate: Some(named_concatenate),
    }
}

/// InceptionV3's blocks by torchvision's module names and contents.
const INCEPTION_V3: [(&str, Contents); 18] = [
    ("Conv2d_1a_3x3", Contents::ConvBn),
    ("Conv2d_2a_3x3", Contents::ConvBn),
    ("Conv2d_2b_3x3", Contents::ConvBn),
    ("maxpool1", Contents::MaxPool),
    ("Conv2d_3b_1x1", Contents::ConvBn),
    ("Conv2d_4a_3x3", Contents::ConvBn),
    ("maxpool2", Contents::MaxPool),
    ("Mixed_5b", mixed(7, 0, 1)),
    ("Mixed_5c", mixed(7, 0, 1)),
    ("Mixed_5d", mixed(7, 0, 1)),
    ("Mixed_6a", mixed(4, 1, 0)),
    ("Mixed_6b", mixed(10, 0, 1)),
    ("Mixed_6c", mixed(10, 0, 1)),
    ("Mixed_6d", mixed(10, 0, 1)),
    ("Mixed_6e", mixed(10, 0, 1)),
    ("Mixed_7a", mixed(6, 1, 0)),
    ("Mixed_7b", mixed_e("mixed9_0")),
    ("Mixed_7c", mixed_e("mixed9_1")),
];

struct Block {
    /// The Keras layer whose output is the block's output.
    name: String,
    torchvision: &'static str,
    /// The Keras layers inside the block whose output is not the block's.
    inside: Vec<String>,
}

/// Keras names a layer it creates without a name by its class and how many of that class
/// came before it: `conv2d`, `conv2d_1`, `conv2d_2`, ...
#[derive(Default)]
struct KerasNames {
    counts: std::collections::HashMap<&'static str, usize>,
}

impl KerasNames {
    fn next(&mut self, class: &'static str) -> String {
        let count = self.counts.entry(class).or_default();
        let name = match *count {
            0 => class.to_string(),
            n => format!("{class}_{n}"),
        };
        *count += 1;
        name
    }

    /// The names of `conv2d_bn`'s three layers.
    fn conv_bn(&mut self) -> [String; 3] {
        ["conv2d", "batch_normalization", "activation"].map(|class| self.next(class))
    }
}

/// The blocks with every Keras name, as a fresh Keras session numbers them.
fn inception_v3_blocks() -> Vec<Block> {
    let mut names = KerasNames::default();
    let mut mixed_blocks = 0;
    INCEPTION_V3
        .iter()
        .map(|&(torchvision, contents)| match contents {
            Contents::ConvBn => {
                let [conv, bn, activation] = names.conv_bn();
                Block {
                    name: activation,
                    torchvision,
                    inside: vec![conv, bn],
                }
            }
            Contents::MaxPool => Block {
                name: names.next("max_pooling2d"),
                torchvision,
                inside: Vec::new(),
            },
            Contents::Mixed {
                conv_bns,
                max_pools,
                average_pools,
                concatenates,
                named_concatenate,
            } => {
                let mut inside: Vec<String> = (0..conv_bns).flat_map(|_| names.conv_bn()).collect();
                inside.extend((0..max_pools).map(|_| names.next("max_pooling2d")));
                inside.extend((0..average_pools).map(|_| names.next("average_pooling2d")));
                inside.extend((0..concatenates).map(|_| names.next("concatenate")));
                inside.extend(named_concatenate.map(str::to_string));
                let name = format!("mixed{mixed_blocks}");
                mixed_blocks += 1;
                Block {
                    name,
                    torchvision,
                    inside,
                }
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inception_v3_blocks_follow_keras_numbering() {
        let names = layer_names();
        assert_eq!(names.len(), 18);
        assert_eq!(
            names[..4],
            [
                "activation",
                "activation_1",
                "activation_2",
                "max_pooling2d"
            ]
        );
        assert_eq!(names[6..8], ["max_pooling2d_1", "mixed0"]);
        assert_eq!(names[17], "mixed10");
        let find = find_layer;
        assert_eq!(find("conv2d"), LayerName::Inside(0));
        assert_eq!(find("Conv2d_1a_3x3"), LayerName::Layer(0));
        assert_eq!(find("mixed7"), LayerName::Layer(14));
        assert_eq!(find("Mixed_6e"), LayerName::Layer(14));
        // mixed7's first unit is the 60th conv2d_bn: 5 in the stem, 21 in mixed0-2, 4 in
        // mixed3, 30 in mixed4-6. Keras' own names, checked in bench/parity.
        assert_eq!(find("conv2d_60"), LayerName::Inside(14));
        assert_eq!(find("activation_69"), LayerName::Inside(14));
        assert_eq!(find("conv2d_70"), LayerName::Inside(15));
        assert_eq!(find("average_pooling2d_6"), LayerName::Inside(14));
        assert_eq!(find("max_pooling2d_3"), LayerName::Inside(15));
        assert_eq!(find("mixed9_1"), LayerName::Inside(17));
        assert_eq!(find("concatenate_1"), LayerName::Inside(17));
        assert_eq!(find("conv2d_93"), LayerName::Inside(17));
        assert_eq!(find("conv2d_94"), LayerName::Unknown);
        assert_eq!(find("input_layer"), LayerName::Unknown);
    }

    /// The fixture lists the 310 layers of Keras' `InceptionV3(include_top=False)` in a fresh
    /// session, each with the block output whose graph first contains it, as Keras builds it.
    #[test]
    fn every_keras_layer_leads_to_the_block_keras_puts_it_in() {
        let fixture = include_str!("../../tests/fixtures/inception_v3_keras_layers.tsv");
        let blocks = layer_names();
        let mut count = 0;
        for line in fixture.lines().filter(|line| !line.starts_with('#')) {
            let (layer, block) = line.split_once('\t').expect("layer<TAB>block");
            let index = blocks.iter().position(|name| name == block).expect(block);
            let expected = if layer == block {
                LayerName::Layer(index)
            } else {
                LayerName::Inside(index)
            };
            assert_eq!(find_layer(layer), expected, "{layer}");
            count += 1;
        }
        assert_eq!(count, 310);
    }
}
