//! A trained classifier as an ONNX graph: the backbone's preprocessing, every kept backbone
//! layer with its BatchNorm folded into the convolution, the head without its dropout, and
//! the probabilities as `runner predict` computes them. Each layer kind is written here
//! node for node as its `forward` computes it; `tests/onnx_export.rs` runs every family
//! through ONNX Runtime against the runner's own predictions.

use anyhow::{Result, ensure};
use burn::nn::conv::Conv2d;
use burn::nn::pool::{AvgPool2d, MaxPool2d};
use burn::nn::{Linear, PaddingConfig2d};

use super::graph::{Flat, GraphBuilder, Map};
use super::proto::{AttributeProto, GraphProto, ValueInfoProto};
use crate::data::Preprocess;
use crate::model::conv_bn::{self, ConvBn};
use crate::model::head::{Head, HeadLayer};
use crate::model::inception_v3::{BasicConv, Branch, BranchInput, InceptionLayer};
use crate::model::layers::BackboneLayer;
use crate::model::layout::same_padding;
use crate::model::mbconv::MbConv;
use crate::model::resnet::{ResNetStem, ResidualBlock};
use crate::spec::Activation;

/// The graph's input: RGB pixel values 0-255, resized to the pipeline's image size.
pub const INPUT: &str = "images";
/// The last dense layer's output before its activation.
pub const LOGITS: &str = "logits";
/// A row of class probabilities per image, in class order.
pub const PROBABILITIES: &str = "probabilities";

/// What the graph is built from: the layers in order (BatchNorm folded) and the head.
pub struct ClassifierParts<'a> {
    pub preprocess: Preprocess,
    /// `[height, width]` of the input.
    pub image_size: [usize; 2],
    pub backbone: &'a [BackboneLayer],
    pub head: &'a Head,
    pub classes: usize,
}

pub fn classifier_graph(parts: &ClassifierParts) -> Result<GraphProto> {
    let mut graph = Emitter::default();
    let [height, width] = parts.image_size;
    let mut x = graph.preprocess(parts.preprocess, [3, height, width]);
    for (index, layer) in parts.backbone.iter().enumerate() {
        x = graph.backbone_layer(&format!("backbone.{index}"), layer, x)?;
    }
    let logits = graph.head(parts.head, x)?;
    ensure!(
        logits.width == parts.classes || (logits.width == 1 && parts.classes == 2),
        "the head gives {} outputs for {} classes",
        logits.width,
        parts.classes
    );
    graph.probabilities(&logits);
    let input = ValueInfoProto::batched_float(
        INPUT,
        &[3, height, width],
        "RGB pixel values 0-255, NCHW, resized to the pipeline's image size",
    );
    let outputs = vec![
        ValueInfoProto::batched_float(
            LOGITS,
            &[logits.width],
            "the last dense layer before its activation",
        ),
        ValueInfoProto::batched_float(
            PROBABILITIES,
            &[parts.classes],
            "each class's probability, in class order",
        ),
    ];
    Ok(graph.nodes.finish("classifier", input, outputs))
}

#[derive(Default)]
struct Emitter {
    nodes: GraphBuilder,
    /// The names of ReLU6's bounds, once a layer needs them.
    relu6_bounds: Option<[String; 2]>,
}

impl Emitter {
    /// `value = pixel * scale + offset`, per channel, as the runner's loader computes it.
    fn preprocess(&mut self, preprocess: Preprocess, shape: [usize; 3]) -> Map {
        let scale = self
            .nodes
            .constant("preprocess.scale", &[1, 3, 1, 1], &preprocess.scale);
        let offset = self
            .nodes
            .constant("preprocess.offset", &[1, 3, 1, 1], &preprocess.offset);
        let scaled = self.nodes.node("Mul", &[INPUT, &scale], Vec::new());
        let name = self.nodes.node("Add", &[&scaled, &offset], Vec::new());
        Map { name, shape }
    }

    fn backbone_layer(&mut self, name: &str, layer: &BackboneLayer, x: Map) -> Result<Map> {
        match layer {
            BackboneLayer::ConvBn(layer) => self.conv_bn(name, layer, x),
            BackboneLayer::MbConv(layer) => self.mbconv(name, layer, x),
            BackboneLayer::Inception(layer) => self.inception(name, layer, x),
            BackboneLayer::ResNetStem(layer) => self.resnet_stem(name, layer, x),
            BackboneLayer::Residual(layer) => self.residual(name, layer, x),
        }
    }

    /// A convolution with its padding made explicit for the input's size.
    fn conv(&mut self, name: &str, conv: &Conv2d, x: &Map) -> Result<Map> {
        let [_, height, width] = x.shape;
        let [top, left, bottom, right] = explicit_padding(
            &conv.padding,
            conv.kernel_size,
            conv.stride,
            [height, width],
        );
        let weight = self
            .nodes
            .weight(&format!("{name}.weight"), conv.weight.val())?;
        let bias = match &conv.bias {
            Some(bias) => Some(self.nodes.weight(&format!("{name}.bias"), bias.val())?),
            None => None,
        };
        let mut inputs = vec![x.name.as_str(), &weight];
        inputs.extend(bias.as_deref());
        let output = self.nodes.node(
            "Conv",
            &inputs,
            vec![
                AttributeProto::ints("kernel_shape", conv.kernel_size),
                AttributeProto::ints("strides", conv.stride),
                AttributeProto::ints("dilations", conv.dilation),
                AttributeProto::ints("pads", [top, left, bottom, right]),
                AttributeProto::int("group", conv.groups as i64),
            ],
        );
        let [out_channels, ..] = conv.weight.dims();
        let side = |size: usize, before: usize, after: usize, axis: usize| {
            (size + before + after - conv.dilation[axis] * (conv.kernel_size[axis] - 1) - 1)
                / conv.stride[axis]
                + 1
        };
        Ok(Map {
            name: output,
            shape: [
                out_channels,
                side(height, top, bottom, 0),
                side(width, left, right, 1),
            ],
        })
    }

    fn conv_bn(&mut self, name: &str, layer: &ConvBn, x: Map) -> Result<Map> {
        ensure!(
            layer.bn.is_none(),
            "{name}: BatchNorm is folded before export"
        );
        let x = self.conv(&format!("{name}.conv"), &layer.conv, &x)?;
        Ok(match layer.activation {
            conv_bn::Activation::Linear => x,
            conv_bn::Activation::Relu => self.unary("Relu", x),
            conv_bn::Activation::Relu6 => self.relu6(x),
        })
    }

    /// `Clip` to [0, 6], its bounds one pair of initializers for the whole graph.
    fn relu6(&mut self, x: Map) -> Map {
        let [low, high] = match &self.relu6_bounds {
            Some(bounds) => bounds.clone(),
            None => {
                let bounds = [
                    self.nodes.constant("relu6.min", &[], &[0.0]),
                    self.nodes.constant("relu6.max", &[], &[6.0]),
                ];
                self.relu6_bounds.insert(bounds).clone()
            }
        };
        let output = self.nodes.node("Clip", &[&x.name, &low, &high], Vec::new());
        Map {
            name: output,
            shape: x.shape,
        }
    }

    fn unary(&mut self, op: &str, x: Map) -> Map {
        Map {
            name: self.nodes.node(op, &[&x.name], Vec::new()),
            shape: x.shape,
        }
    }

    fn add(&mut self, a: &Map, b: &Map) -> Map {
        Map {
            name: self.nodes.node("Add", &[&a.name, &b.name], Vec::new()),
            shape: a.shape,
        }
    }

    fn concat(&mut self, branches: &[Map]) -> Map {
        let names: Vec<&str> = branches.iter().map(|map| map.name.as_str()).collect();
        let [_, height, width] = branches[0].shape;
        let channels = branches.iter().map(|map| map.shape[0]).sum();
        Map {
            name: self
                .nodes
                .node("Concat", &names, vec![AttributeProto::int("axis", 1)]),
            shape: [channels, height, width],
        }
    }

    fn mbconv(&mut self, name: &str, block: &MbConv, input: Map) -> Result<Map> {
        let x = match &block.expand {
            Some(expand) => self.conv_bn(&format!("{name}.expand"), expand, input.clone())?,
            None => input.clone(),
        };
        let x = self.conv_bn(&format!("{name}.depthwise"), &block.depthwise, x)?;
        let x = self.conv_bn(&format!("{name}.project"), &block.project, x)?;
        Ok(if block.residual {
            self.add(&x, &input)
        } else {
            x
        })
    }

    fn resnet_stem(&mut self, name: &str, stem: &ResNetStem, x: Map) -> Result<Map> {
        let x = self.conv_bn(&format!("{name}.conv"), &stem.conv, x)?;
        Ok(self.max_pool(&stem.pool, &x))
    }

    fn residual(&mut self, name: &str, block: &ResidualBlock, input: Map) -> Result<Map> {
        let shortcut = match &block.downsample {
            Some(downsample) => {
                self.conv_bn(&format!("{name}.downsample"), downsample, input.clone())?
            }
            None => input.clone(),
        };
        let x = self.conv_bn(&format!("{name}.conv1"), &block.conv1, input)?;
        let mut x = self.conv_bn(&format!("{name}.conv2"), &block.conv2, x)?;
        if let Some(conv3) = &block.conv3 {
            x = self.conv_bn(&format!("{name}.conv3"), conv3, x)?;
        }
        let sum = self.add(&x, &shortcut);
        Ok(self.unary("Relu", sum))
    }

    fn max_pool(&mut self, pool: &MaxPool2d, x: &Map) -> Map {
        self.pool(
            "MaxPool",
            x,
            Pooling {
                kernel: pool.kernel_size,
                stride: pool.stride,
                padding: &pool.padding,
                ceil_mode: pool.ceil_mode,
            },
            vec![AttributeProto::ints("dilations", pool.dilation)],
        )
    }

    fn average_pool(&mut self, pool: &AvgPool2d, x: &Map) -> Map {
        self.pool(
            "AveragePool",
            x,
            Pooling {
                kernel: pool.kernel_size,
                stride: pool.stride,
                padding: &pool.padding,
                ceil_mode: pool.ceil_mode,
            },
            vec![AttributeProto::int(
                "count_include_pad",
                i64::from(pool.count_include_pad),
            )],
        )
    }

    fn pool(
        &mut self,
        op: &str,
        x: &Map,
        pooling: Pooling,
        mut attributes: Vec<AttributeProto>,
    ) -> Map {
        let [channels, height, width] = x.shape;
        let pads = explicit_padding(
            pooling.padding,
            pooling.kernel,
            pooling.stride,
            [height, width],
        );
        attributes.extend([
            AttributeProto::ints("kernel_shape", pooling.kernel),
            AttributeProto::ints("strides", pooling.stride),
            AttributeProto::ints("pads", pads),
            AttributeProto::int("ceil_mode", i64::from(pooling.ceil_mode)),
        ]);
        let side = |size: usize, before: usize, after: usize, axis: usize| {
            let span = size + before + after - pooling.kernel[axis];
            let steps = if pooling.ceil_mode {
                span.div_ceil(pooling.stride[axis])
            } else {
                span / pooling.stride[axis]
            };
            steps + 1
        };
        Map {
            name: self.nodes.node(op, &[&x.name], attributes),
            shape: [
                channels,
                side(height, pads[0], pads[2], 0),
                side(width, pads[1], pads[3], 1),
            ],
        }
    }

    fn basic_conv(&mut self, name: &str, layer: &BasicConv, x: Map) -> Result<Map> {
        ensure!(
            layer.bn.is_none(),
            "{name}: BatchNorm is folded before export"
        );
        let x = self.conv(&format!("{name}.conv"), &layer.conv, &x)?;
        Ok(self.unary("Relu", x))
    }

    /// `convs` applied one after another to `x`, named `name.FIELD`.
    fn chain(&mut self, name: &str, convs: &[(&str, &BasicConv)], x: Map) -> Result<Map> {
        convs.iter().try_fold(x, |x, (field, conv)| {
            self.basic_conv(&format!("{name}.{field}"), conv, x)
        })
    }

    fn inception(&mut self, name: &str, layer: &InceptionLayer, x: Map) -> Result<Map> {
        match layer {
            InceptionLayer::Conv(conv) => self.basic_conv(name, conv, x),
            InceptionLayer::MaxPool(pool) => Ok(self.max_pool(pool, &x)),
            mixed => self.mixed(name, &mixed.branches(), &x),
        }
    }

    /// A mixed block, branch by branch as `forward_branches` runs it.
    fn mixed(&mut self, name: &str, branches: &[Branch], x: &Map) -> Result<Map> {
        let mut outputs = Vec::new();
        for branch in branches {
            let input = match branch.input {
                BranchInput::Block => x.clone(),
                BranchInput::AveragePool(pool) => self.average_pool(pool, x),
                BranchInput::MaxPool(pool) => self.max_pool(pool, x),
            };
            let chained = self.chain(name, &branch.chain, input)?;
            outputs.push(if branch.split.is_empty() {
                chained
            } else {
                let sides = branch
                    .split
                    .iter()
                    .map(|conv| self.chain(name, &[*conv], chained.clone()))
                    .collect::<Result<Vec<_>>>()?;
                self.concat(&sides)
            });
        }
        Ok(self.concat(&outputs))
    }

    /// The head up to its logits: pooling or flattening, the dense layers and their
    /// activations but the last one's; dropout does nothing at inference.
    fn head(&mut self, head: &Head, x: Map) -> Result<Flat> {
        let last = head.layers.len() - 1;
        let mut map = Some(x);
        let mut flat: Option<Flat> = None;
        for (index, layer) in head.layers.iter().enumerate() {
            match (layer, map.take()) {
                (HeadLayer::GlobalAvgPool(_), Some(x)) => {
                    let pooled = self.nodes.node("GlobalAveragePool", &[&x.name], Vec::new());
                    flat = Some(self.flatten(&pooled, x.shape[0]));
                }
                (HeadLayer::Flatten(_), Some(x)) => {
                    flat = Some(self.flatten(&x.name, x.shape.iter().product()));
                }
                (HeadLayer::Dropout(_), unchanged) => map = unchanged,
                (HeadLayer::Dense(dense), None) => {
                    let input = flat.take().expect("a dense layer follows pooling");
                    let name = format!("head.{index}");
                    let x = self.dense(&name, &dense.linear, &input)?;
                    flat = Some(if index == last {
                        x
                    } else {
                        self.dense_activation(x, dense.activation)
                    });
                }
                _ => anyhow::bail!("head layer {index} does not fit its input"),
            }
        }
        let logits = flat.ok_or_else(|| anyhow::anyhow!("the head ends without a dense layer"))?;
        Ok(Flat {
            name: self
                .nodes
                .named_node("Identity", &[&logits.name], Vec::new(), LOGITS),
            width: logits.width,
        })
    }

    fn flatten(&mut self, name: &str, width: usize) -> Flat {
        Flat {
            name: self
                .nodes
                .node("Flatten", &[name], vec![AttributeProto::int("axis", 1)]),
            width,
        }
    }

    /// `x @ weight + bias`: Burn stores a dense weight as `[inputs, units]`.
    fn dense(&mut self, name: &str, linear: &Linear, x: &Flat) -> Result<Flat> {
        let [inputs, units] = linear.weight.dims();
        ensure!(
            inputs == x.width,
            "{name}: {inputs} inputs, but {} features come in",
            x.width
        );
        let weight = self
            .nodes
            .weight(&format!("{name}.weight"), linear.weight.val())?;
        let bias = match &linear.bias {
            Some(bias) => self.nodes.weight(&format!("{name}.bias"), bias.val())?,
            None => self
                .nodes
                .constant(&format!("{name}.bias"), &[units], &vec![0.0; units]),
        };
        Ok(Flat {
            name: self
                .nodes
                .node("Gemm", &[&x.name, &weight, &bias], Vec::new()),
            width: units,
        })
    }

    fn dense_activation(&mut self, x: Flat, activation: Activation) -> Flat {
        let (op, attributes) = match activation {
            Activation::Linear => return x,
            Activation::Relu => ("Relu", Vec::new()),
            Activation::Sigmoid => ("Sigmoid", Vec::new()),
            Activation::Softmax => ("Softmax", vec![AttributeProto::int("axis", 1)]),
        };
        Flat {
            name: self.nodes.node(op, &[&x.name], attributes),
            width: x.width,
        }
    }

    /// As `train::probability_rows`: `[1 - p, p]` of a single sigmoid unit, the softmax of
    /// several logits.
    fn probabilities(&mut self, logits: &Flat) {
        if logits.width == 1 {
            let positive = self.nodes.node("Sigmoid", &[&logits.name], Vec::new());
            let one = self.nodes.constant("one", &[1], &[1.0]);
            let negative = self.nodes.node("Sub", &[&one, &positive], Vec::new());
            self.nodes.named_node(
                "Concat",
                &[&negative, &positive],
                vec![AttributeProto::int("axis", 1)],
                PROBABILITIES,
            );
        } else {
            self.nodes.named_node(
                "Softmax",
                &[&logits.name],
                vec![AttributeProto::int("axis", 1)],
                PROBABILITIES,
            );
        }
    }
}

/// A pooling's shape and padding.
struct Pooling<'a> {
    kernel: [usize; 2],
    stride: [usize; 2],
    padding: &'a PaddingConfig2d,
    ceil_mode: bool,
}

/// `[top, left, bottom, right]` padding (ONNX's order) of `padding` on a `size` input.
fn explicit_padding(
    padding: &PaddingConfig2d,
    kernel: [usize; 2],
    stride: [usize; 2],
    [height, width]: [usize; 2],
) -> [usize; 4] {
    match *padding {
        PaddingConfig2d::Valid => [0; 4],
        PaddingConfig2d::Same => {
            let (top, bottom) = same_padding(kernel[0], stride[0], height);
            let (left, right) = same_padding(kernel[1], stride[1], width);
            [top, left, bottom, right]
        }
        PaddingConfig2d::Explicit(top, left, bottom, right) => [top, left, bottom, right],
    }
}
