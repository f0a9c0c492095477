//! The new head declared by `[[head]]`: pooling or flattening, dense layers with their
//! activations, dropout.

use anyhow::Result;
use burn::module::Param;
use burn::nn::{Dropout, DropoutConfig, Initializer, Linear, LinearConfig};
use burn::prelude::*;

use super::grad;
use super::layers::global_average_pool;
use crate::bail_input;
use crate::spec::{Activation, HeadLayerSpec, Problem, head_shape_problems};

#[derive(Module, Debug, Default)]
pub struct GlobalAvgPool;

#[derive(Module, Debug, Default)]
pub struct Flatten;

#[derive(Module, Debug)]
pub struct Dense {
    pub linear: Linear,
    #[module(skip)]
    pub activation: Activation,
}

impl Dense {
    /// `linear.forward(x)`, before the activation, with the product's gradients computed
    /// as [`grad::dense`] says.
    fn forward(&self, x: Tensor<2>) -> Tensor<2> {
        let Some(product) = grad::dense::matmul(&x, &self.linear.weight.val()) else {
            return self.linear.forward(x);
        };
        match &self.linear.bias {
            Some(bias) => product + bias.val().unsqueeze(),
            None => product,
        }
    }
}

#[derive(Module, Debug)]
pub enum HeadLayer {
    GlobalAvgPool(GlobalAvgPool),
    Flatten(Flatten),
    Dense(Dense),
    Dropout(Dropout),
}

#[derive(Module, Debug)]
pub struct Head {
    pub layers: Vec<HeadLayer>,
}

/// What the head's last layer produces, before its final activation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HeadOutput {
    pub units: usize,
    pub activation: Activation,
}

/// A head's intermediate value: a feature map until it is pooled or flattened.
enum Value {
    Map(Tensor<4>),
    Flat(Tensor<2>),
}

impl Head {
    /// Builds the head for backbone features of shape `[channels, height, width]`. Dense layers
    /// use Keras' defaults (Glorot-uniform kernel, zero bias).
    pub fn new(
        specs: &[HeadLayerSpec],
        feature_shape: [usize; 3],
        device: &Device,
    ) -> Result<(Self, HeadOutput)> {
        if let Some(problem) = head_shape_problems(specs).into_iter().next() {
            return Err(Problem::input_error([problem]));
        }
        let [channels, height, width] = feature_shape;
        let mut flat_width: Option<usize> = None;
        let mut layers = Vec::new();
        let mut output = None;
        for spec in specs {
            let layer = match *spec {
                HeadLayerSpec::GlobalAvgPool => {
                    flat_width = Some(channels);
                    HeadLayer::GlobalAvgPool(GlobalAvgPool)
                }
                HeadLayerSpec::Flatten => {
                    flat_width = Some(channels * height * width);
                    HeadLayer::Flatten(Flatten)
                }
                HeadLayerSpec::Dense { units, activation } => {
                    let inputs =
                        flat_width.expect("head_shape_problems: dense layers follow pooling");
                    // Counted with checks before LibTorch is asked for the weights.
                    let params = inputs.checked_mul(units).and_then(|w| w.checked_add(units));
                    if params.is_none() {
                        bail_input!(
                            "a dense layer of {units} units on {inputs} features would have more parameters than this machine can count"
                        );
                    }
                    flat_width = Some(units);
                    output = Some(HeadOutput { units, activation });
                    let linear = LinearConfig::new(inputs, units)
                        .with_initializer(Initializer::XavierUniform { gain: 1.0 })
                        .init(device);
                    // A new parameter, not `Param::map`: a mapped tensor no longer asks for
                    // gradients, and the bias would silently never train.
                    let linear = Linear {
                        bias: linear
                            .bias
                            .map(|bias| Param::from_tensor(bias.val().zeros_like())),
                        ..linear
                    };
                    HeadLayer::Dense(Dense { linear, activation })
                }
                HeadLayerSpec::Dropout { rate } => {
                    HeadLayer::Dropout(DropoutConfig::new(rate).init())
                }
            };
            layers.push(layer);
        }
        let output = output.expect("head_shape_problems: the last layer is dense");
        Ok((Self { layers }, output))
    }

    /// The last dense layer's pre-activation output: logits, which the losses and
    /// predictions turn into probabilities stably.
    pub fn forward_logits(&self, features: Tensor<4>) -> Tensor<2> {
        let last = self.layers.len() - 1;
        let mut value = Value::Map(features);
        for (index, layer) in self.layers.iter().enumerate() {
            value = match (layer, value) {
                (HeadLayer::GlobalAvgPool(_), Value::Map(x)) => Value::Flat(global_average_pool(x)),
                (HeadLayer::Flatten(_), Value::Map(x)) => Value::Flat(x.flatten(1, 3)),
                (HeadLayer::Dropout(dropout), Value::Map(x)) => Value::Map(dropout.forward(x)),
                (HeadLayer::Dropout(dropout), Value::Flat(x)) => Value::Flat(dropout.forward(x)),
                (HeadLayer::Dense(dense), Value::Flat(x)) => {
                    let x = dense.forward(x);
                    Value::Flat(if index == last {
                        x
                    } else {
                        activate(x, dense.activation)
                    })
                }
                _ => unreachable!("Head::new only builds heads whose layers fit their inputs"),
            };
        }
        match value {
            Value::Flat(logits) => logits,
            Value::Map(_) => unreachable!("Head::new ends every head with a dense layer"),
        }
    }
}

fn activate(x: Tensor<2>, activation: Activation) -> Tensor<2> {
    match activation {
        Activation::Linear => x,
        Activation::Relu => burn::tensor::activation::relu(x),
        Activation::Sigmoid => burn::tensor::activation::sigmoid(x),
        Activation::Softmax => burn::tensor::activation::softmax(x, 1),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::TrainableModel;
    use crate::model::test_support::pooling_head;

    #[test]
    fn every_dense_weight_and_bias_trains() {
        let device = crate::device::cpu().autodiff();
        let (head, _) = Head::new(&pooling_head(), [8, 2, 2], &device).unwrap();
        let model = TrainableModel {
            backbone: Vec::new(),
            head,
            mixed_precision: false,
        };
        // (8 * 4 + 4) + (4 * 1 + 1): the zero-initialized biases are parameters too.
        assert_eq!(model.trainable_params(), 41);
    }
}
