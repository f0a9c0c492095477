//! Building an ONNX graph node by node: every node gets a fresh output name, every weight
//! becomes an initializer, and feature maps carry their shape so that padding that depends
//! on the input size ("SAME") is computed at export time.

use anyhow::{Result, ensure};
use burn::prelude::*;

use super::proto::{AttributeProto, FLOAT, GraphProto, NodeProto, TensorProto, ValueInfoProto};

/// A feature map in the graph: its name and `[channels, height, width]` (the batch
/// dimension is left to run time).
#[derive(Debug, Clone)]
pub struct Map {
    pub name: String,
    pub shape: [usize; 3],
}

/// A batch of vectors in the graph: its name and its width.
#[derive(Debug, Clone)]
pub struct Flat {
    pub name: String,
    pub width: usize,
}

#[derive(Default)]
pub struct GraphBuilder {
    nodes: Vec<NodeProto>,
    initializers: Vec<TensorProto>,
}

impl GraphBuilder {
    /// Adds an `op` node and returns the name of its one output.
    pub fn node(&mut self, op: &str, inputs: &[&str], attribute: Vec<AttributeProto>) -> String {
        let output = format!("{}_{}", op.to_ascii_lowercase(), self.nodes.len() + 1);
        self.named_node(op, inputs, attribute, &output)
    }

    /// Adds an `op` node whose output is `output`: a graph output's name.
    pub fn named_node(
        &mut self,
        op: &str,
        inputs: &[&str],
        attribute: Vec<AttributeProto>,
        output: &str,
    ) -> String {
        self.nodes.push(NodeProto {
            input: inputs.iter().map(|input| (*input).to_string()).collect(),
            output: vec![output.into()],
            name: output.into(),
            op_type: op.into(),
            attribute,
        });
        output.into()
    }

    /// Adds `values` as a float initializer named `name` (unique in the graph) of shape
    /// `dims`.
    pub fn constant(&mut self, name: &str, dims: &[usize], values: &[f32]) -> String {
        debug_assert_eq!(dims.iter().product::<usize>(), values.len());
        self.initializers.push(TensorProto {
            dims: dims.iter().map(|&size| size as i64).collect(),
            data_type: FLOAT,
            name: name.into(),
            raw_data: values
                .iter()
                .flat_map(|value| value.to_le_bytes())
                .collect(),
        });
        name.into()
    }

    /// Adds a trained tensor as an initializer, in float32 whatever it was stored in.
    pub fn weight<const D: usize>(&mut self, name: &str, tensor: Tensor<D>) -> Result<String> {
        let dims = tensor.dims();
        let values = tensor
            .into_data()
            .convert::<f32>()
            .try_into_vec::<f32>()
            .map_err(|err| anyhow::anyhow!("cannot read the tensor `{name}`: {err:?}"))?;
        ensure!(
            values.len() == dims.iter().product::<usize>(),
            "the tensor `{name}` has {} values for its shape {dims:?}",
            values.len()
        );
        Ok(self.constant(name, &dims, &values))
    }

    /// The graph from `input` to `outputs`, with everything added.
    pub fn finish(
        self,
        name: &str,
        input: ValueInfoProto,
        outputs: Vec<ValueInfoProto>,
    ) -> GraphProto {
        GraphProto {
            node: self.nodes,
            name: name.into(),
            initializer: self.initializers,
            input: vec![input],
            output: outputs,
        }
    }
}
