//! The optimizer a pipeline declares, with Keras' update rules ([`keras`]) and Keras'
//! gradient clipping (`clipnorm` per parameter, `clipvalue`).

mod keras;
mod one_pass;

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

#[cfg(test)]
mod tests {
    use burn::nn::{Linear, LinearConfig};
    use burn::optim::GradientsParams;
    use burn::prelude::*;

    use super::*;

    /// One SGD step (lr 0.1) on `loss = w · [3, 4]`, whose gradient is `[3, 4]` (norm 5);
    /// returns the change of `w`.
    fn sgd_step(clipping: &str) -> Vec<f32> {
        let spec: OptimizerSpec =
            toml::from_str(&format!("type = \"sgd\"\nlr = 0.1\n{clipping}")).unwrap();
        let device = crate::device::cpu().autodiff();
        let model: Linear = LinearConfig::new(2, 1).with_bias(false).init(&device);
        let before = model.weight.val().to_data().try_to_vec::<f32>().unwrap();
        let input = Tensor::<2>::from_floats([[3.0, 4.0]], &device);
        let grads = GradientsParams::from_grads(model.forward(input).sum().backward(), &model);
        let after = build_optimizer(&spec).step(0.1, model, grads);
        let after = after.weight.val().to_data().try_to_vec::<f32>().unwrap();
        before.iter().zip(after).map(|(b, a)| a - b).collect()
    }

    fn assert_close(got: &[f32], want: &[f32]) {
        for (g, w) in got.iter().zip(want) {
            assert!((g - w).abs() < 1e-6, "{got:?} vs {want:?}");
        }
    }

    #[test]
    fn clipnorm_scales_a_gradient_down_to_the_norm_and_clipvalue_clamps_it() {
        assert_close(&sgd_step(""), &[-0.3, -0.4]);
        // [3, 4] / 5 * 1
        assert_close(&sgd_step("clipnorm = 1.0"), &[-0.06, -0.08]);
        // A norm under the bound is left alone.
        assert_close(&sgd_step("clipnorm = 10.0"), &[-0.3, -0.4]);
        // [min(3, 2), min(4, 2)]
        assert_close(&sgd_step("clipvalue = 2.0"), &[-0.2, -0.2]);
    }
}
