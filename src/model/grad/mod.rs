//! Operations of the trainable part whose gradients are computed the way PyTorch computes
//! them, where Burn's generic formulas cost more on LibTorch (each module says what was
//! measured). Each takes Burn tensors and returns `None` for tensors that are not Burn's
//! autodiff over LibTorch, which the caller then hands to Burn's own operation.

// Burn deprecates its LibTorch backend; this project is built on it (see src/device.rs).
#![allow(deprecated)]

pub mod batch_norm;
pub mod conv;
pub mod dense;

use burn::backend::LibTorch;
use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::NoCheckpointing;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::libtorch::TchTensor;
use burn::backend::tensor::FloatTensor;

/// Burn's autodiff over LibTorch, as `.autodiff()` tensors are.
type Differentiable = burn::backend::Autodiff<LibTorch>;

/// `operation` on `inputs` as one step of Burn's autodiff graph whose gradients LibTorch's
/// autograd computes (its `*_backward` kernels, as PyTorch's). Where Burn needs no gradient
/// the operation just runs.
fn recorded_by_libtorch<const N: usize>(
    inputs: [&FloatTensor<Differentiable>; N],
    operation: impl FnOnce([&tch::Tensor; N]) -> tch::Tensor,
) -> FloatTensor<Differentiable> {
    let primitives = inputs.map(|input| input.primitive().clone());
    match LibTorchAutograd
        .prepare::<NoCheckpointing>(inputs.map(FloatTensor::<Differentiable>::node))
        .compute_bound()
        .stateful()
    {
        OpsKind::Tracked(prep) => {
            let leaves = primitives
                .each_ref()
                .map(|input| input.tensor.detach().set_requires_grad(true));
            let output = operation(leaves.each_ref());
            let returned = TchTensor::new(output.detach());
            let recorded = Recorded {
                output: TchTensor::new(output),
                leaves: leaves.map(TchTensor::new),
                _inputs: primitives,
            };
            prep.finish(recorded, returned)
        }
        OpsKind::UnTracked(prep) => prep.finish(TchTensor::new(operation(
            primitives.each_ref().map(|input| &input.tensor),
        ))),
    }
}

/// An operation as LibTorch's autograd recorded it, kept for Burn's backward step.
#[derive(Debug, Clone)]
struct Recorded<const N: usize> {
    /// The output, with LibTorch's graph back to the leaves.
    output: TchTensor,
    /// Leaves sharing the memory of Burn's inputs, all asking for gradients: which of them
    /// LibTorch computes is decided in the backward step, where Burn says which it needs.
    leaves: [TchTensor; N],
    /// Burn's own handles on that memory. burn-tch writes an operation's result into its
    /// input's buffer when it holds the last handle; holding these keeps the recorded
    /// values from being overwritten before the backward step, as Burn's own operations
    /// keep their inputs.
    _inputs: [TchTensor; N],
}

#[derive(Debug)]
struct LibTorchAutograd;

impl<const N: usize> Backward<LibTorch, N> for LibTorchAutograd {
    type State = Recorded<N>;

    fn backward(self, ops: Ops<Recorded<N>, N>, grads: &mut Gradients, _: &mut Checkpointer) {
        let output_grad = grads.consume::<LibTorch>(&ops.node);
        let recorded = ops.state;
        // Only the leaves Burn needs are asked for: LibTorch then skips the others' (the
        // input's, for the first trainable layer).
        let wanted: Vec<(usize, _)> = ops
            .parents
            .into_iter()
            .enumerate()
            .filter_map(|(index, parent)| parent.map(|parent| (index, parent)))
            .collect();
        let leaves: Vec<&tch::Tensor> = wanted
            .iter()
            .map(|(index, _)| &recorded.leaves[*index].tensor)
            .collect();
        // LibTorch backpropagates ones from its roots; `output * output_grad` has the
        // gradient `output_grad` with respect to `output`.
        let root = &recorded.output.tensor * &output_grad.tensor;
        let gradients = tch::Tensor::run_backward(&[root], &leaves, false, false);
        for ((_, parent), gradient) in wanted.into_iter().zip(gradients) {
            grads.register::<LibTorch>(parent.id, TchTensor::new(gradient));
        }
    }
}
