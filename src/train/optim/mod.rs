//! The optimizer a pipeline declares, with Keras' update rules ([`keras`]) and Keras'
//! gradient clipping (`clipnorm` per parameter, `clipvalue`).

mod keras;

use burn::grad_clipping::GradientClipping;
use burn::optim::ModuleOptimizer;

use crate::spec::OptimizerSpec;
pub use keras::{KerasAdam, KerasRmsprop, KerasSgd};

pub fn build_optimizer(spec: &OptimizerSpec) -> ModuleOptimizer {
    let (weight_decay, clipnorm, clipvalue) = spec.regularization();
    let optimizer = match *spec {
        OptimizerSpec::Rmsprop {
            rho,
            momentum,
            epsilon,
            centered,
            ..
        } => ModuleOptimizer::from(KerasRmsprop {
            rho,
            momentum,
            epsilon,
            centered,
            weight_decay,
        }),
        OptimizerSpec::Adam {
            beta_1,
            beta_2,
            epsilon,
            ..
        }
        | OptimizerSpec::Adamw {
            beta_1,
            beta_2,
            epsilon,
            ..
        } => ModuleOptimizer::from(KerasAdam {
            beta_1,
            beta_2,
            epsilon,
            weight_decay,
        }),
        OptimizerSpec::Sgd {
            momentum, nesterov, ..
        } => ModuleOptimizer::from(KerasSgd {
            momentum,
            nesterov,
            weight_decay,
        }),
    };
    match (clipnorm, clipvalue) {
        (Some(norm), _) => optimizer.with_grad_clipping(GradientClipping::Norm(norm as f32)),
        (None, Some(value)) => optimizer.with_grad_clipping(GradientClipping::Value(value as f32)),
        (None, None) => optimizer,
    }
}
