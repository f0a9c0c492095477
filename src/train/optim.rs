//! Burn optimizers configured with Keras' parameter names and defaults.

use burn::optim::momentum::MomentumConfig;
use burn::optim::{AdamConfig, ModuleOptimizer, RmsPropConfig, SgdConfig};

use crate::spec::OptimizerSpec;

pub fn build_optimizer(spec: &OptimizerSpec) -> ModuleOptimizer {
    match *spec {
        OptimizerSpec::Rmsprop {
            rho,
            momentum,
            epsilon,
            centered,
            ..
        } => RmsPropConfig::new()
            .with_alpha(rho as f32)
            .with_momentum(momentum as f32)
            .with_epsilon(epsilon as f32)
            .with_centered(centered)
            .init(),
        OptimizerSpec::Adam {
            beta_1,
            beta_2,
            epsilon,
            ..
        } => AdamConfig::new()
            .with_beta_1(beta_1 as f32)
            .with_beta_2(beta_2 as f32)
            .with_epsilon(epsilon as f32)
            .init(),
        OptimizerSpec::Sgd {
            momentum, nesterov, ..
        } => SgdConfig::new()
            .with_momentum((momentum > 0.0).then_some(MomentumConfig {
                momentum,
                dampening: 0.0,
                nesterov,
            }))
            .init(),
    }
}
