//! Optimizers with Keras 3's update rules (keras/src/optimizers): Burn's RMSprop and Adam
//! follow PyTorch, which puts epsilon elsewhere (outside RMSprop's square root, scaled in
//! Adam's denominator), and its SGD momentum has PyTorch's form. The differences are small
//! per step but visible over a run, and users port Keras recipes.
//!
//! Weight decay is Keras' decoupled form, applied before the update:
//! `variable -= variable * weight_decay * lr`.

use burn::optim::{LearningRate, Optimizer, RecordState, StateSink, StateSource};
use burn::prelude::*;

use super::one_pass;

/// `variable - variable * weight_decay * lr`, or `variable` unchanged.
fn decayed<const D: usize>(variable: Tensor<D>, weight_decay: f64, lr: LearningRate) -> Tensor<D> {
    if weight_decay == 0.0 {
        return variable;
    }
    variable.clone() - variable.mul_scalar(weight_decay * lr)
}

/// `keras.optimizers.SGD`: `m = momentum * m - lr * g`, then `variable += m`, or with
/// Nesterov `variable += momentum * m - lr * g`.
#[derive(Debug, Clone)]
pub struct KerasSgd {
    pub momentum: f64,
    pub nesterov: bool,
    pub weight_decay: f64,
}

#[derive(Clone)]
pub struct VelocityState<const D: usize> {
    pub velocity: Tensor<D>,
}

impl Optimizer for KerasSgd {
    type State<const D: usize> = VelocityState<D>;

    fn step<const D: usize>(
        &self,
        lr: LearningRate,
        variable: Tensor<D>,
        grad: Tensor<D>,
        state: Option<Self::State<D>>,
    ) -> (Tensor<D>, Option<Self::State<D>>) {
        let variable = decayed(variable, self.weight_decay, lr);
        if self.momentum == 0.0 {
            return (variable - grad.mul_scalar(lr), None);
        }
        let previous = state.map_or_else(|| grad.zeros_like(), |state| state.velocity);
        let velocity = previous.mul_scalar(self.momentum) - grad.clone().mul_scalar(lr);
        let step = if self.nesterov {
            velocity.clone().mul_scalar(self.momentum) - grad.mul_scalar(lr)
        } else {
            velocity.clone()
        };
        (variable + step, Some(VelocityState { velocity }))
    }

    fn to_device<const D: usize>(state: Self::State<D>, device: &Device) -> Self::State<D> {
        VelocityState {
            velocity: state.velocity.to_device(device),
        }
    }
}

/// `keras.optimizers.Adam` (and `AdamW`, which is Adam with a default weight decay):
/// `m += (g - m) * (1 - beta_1)`, `v += (g² - v) * (1 - beta_2)`,
/// `variable -= lr * sqrt(1 - beta_2^t) / (1 - beta_1^t) * m / (sqrt(v) + epsilon)`.
#[derive(Debug, Clone)]
pub struct KerasAdam {
    pub beta_1: f64,
    pub beta_2: f64,
    pub epsilon: f64,
    pub weight_decay: f64,
}

#[derive(Clone)]
pub struct AdamMoments<const D: usize> {
    pub m: Tensor<D>,
    pub v: Tensor<D>,
    /// Updates applied so far (Keras' `iterations`), as a one-element tensor so that it is
    /// saved with the rest of the state.
    pub steps: Tensor<1>,
}

impl Optimizer for KerasAdam {
    type State<const D: usize> = AdamMoments<D>;

    fn step<const D: usize>(
        &self,
        lr: LearningRate,
        variable: Tensor<D>,
        grad: Tensor<D>,
        state: Option<Self::State<D>>,
    ) -> (Tensor<D>, Option<Self::State<D>>) {
        let variable = decayed(variable, self.weight_decay, lr);
        let AdamMoments { m, v, steps } = state.unwrap_or_else(|| AdamMoments {
            m: grad.zeros_like(),
            v: grad.zeros_like(),
            steps: Tensor::zeros([1], &grad.device()),
        });
        let steps = steps.add_scalar(1.0);
        let t = steps.clone().into_scalar::<f32>() as i32;
        let alpha = lr * (1.0 - self.beta_2.powi(t)).sqrt() / (1.0 - self.beta_1.powi(t));
        let m = m.clone() + (grad.clone() - m).mul_scalar(1.0 - self.beta_1);
        let v = v.clone() + (grad.square() - v).mul_scalar(1.0 - self.beta_2);
        let update = m
            .clone()
            .mul_scalar(alpha)
            .div(v.clone().sqrt().add_scalar(self.epsilon));
        (variable - update, Some(AdamMoments { m, v, steps }))
    }

    fn to_device<const D: usize>(state: Self::State<D>, device: &Device) -> Self::State<D> {
        AdamMoments {
            m: state.m.to_device(device),
            v: state.v.to_device(device),
            steps: state.steps.to_device(device),
        }
    }
}

/// `keras.optimizers.RMSprop`: `v = rho * v + (1 - rho) * g²` (centered: minus the square
/// of the same average of `g`), `increment = lr * g / sqrt(v + epsilon)`, then
/// `variable -= increment`, or with momentum `buf = momentum * buf + increment`,
/// `variable -= buf`.
#[derive(Debug, Clone)]
pub struct KerasRmsprop {
    pub rho: f64,
    pub momentum: f64,
    pub epsilon: f64,
    pub centered: bool,
    pub weight_decay: f64,
}

#[derive(Clone)]
pub struct RmspropState<const D: usize> {
    pub velocity: Tensor<D>,
    /// The moving average of the gradient, when centered.
    pub average_grad: Option<Tensor<D>>,
    /// The momentum buffer, when momentum is on.
    pub momentum: Option<Tensor<D>>,
}

impl Optimizer for KerasRmsprop {
    type State<const D: usize> = RmspropState<D>;

    fn step<const D: usize>(
        &self,
        lr: LearningRate,
        variable: Tensor<D>,
        grad: Tensor<D>,
        state: Option<Self::State<D>>,
    ) -> (Tensor<D>, Option<Self::State<D>>) {
        let variable = decayed(variable, self.weight_decay, lr);
        // Built only for a state's first step: a zero tensor the size of the largest weight
        // (Flatten into Dense: 38M values) every step was a sizable share of the step.
        let (shape, device) = (grad.shape(), grad.device());
        let zeros = || Tensor::zeros(shape.clone(), &device);
        let (velocity, average_grad, momentum) = match state {
            Some(state) => (state.velocity, state.average_grad, state.momentum),
            None => (zeros(), None, None),
        };
        let rho = self.rho;
        if !self.centered && self.momentum == 0.0 {
            let rule = [rho, self.epsilon, lr];
            if let Some((variable, velocity)) = one_pass::rmsprop(&variable, &grad, &velocity, rule)
            {
                let state = RmspropState {
                    velocity,
                    average_grad,
                    momentum,
                };
                return (variable, Some(state));
            }
        }
        let velocity = velocity.mul_scalar(rho) + grad.clone().square().mul_scalar(1.0 - rho);
        let (denominator, average_grad) = if self.centered {
            let average = average_grad.unwrap_or_else(zeros).mul_scalar(rho)
                + grad.clone().mul_scalar(1.0 - rho);
            (
                velocity.clone() - average.clone().square() + self.epsilon,
                Some(average),
            )
        } else {
            (velocity.clone().add_scalar(self.epsilon), None)
        };
        let increment = grad.mul_scalar(lr).div(denominator.sqrt());
        let (step, momentum) = if self.momentum > 0.0 {
            let buffer = momentum.unwrap_or_else(zeros).mul_scalar(self.momentum) + increment;
            (buffer.clone(), Some(buffer))
        } else {
            (increment, None)
        };
        let state = RmspropState {
            velocity,
            average_grad,
            momentum,
        };
        (variable - step, Some(state))
    }

    fn to_device<const D: usize>(state: Self::State<D>, device: &Device) -> Self::State<D> {
        RmspropState {
            velocity: state.velocity.to_device(device),
            average_grad: state.average_grad.map(|tensor| tensor.to_device(device)),
            momentum: state.momentum.map(|tensor| tensor.to_device(device)),
        }
    }
}

// Burn's `#[derive(RecordState)]` only works inside burn-optim, so the states spell it out:
// each tensor is a named leaf under the parameter's prefix.

fn put<const D: usize>(out: &mut StateSink, prefix: &str, leaf: &str, tensor: &Tensor<D>) {
    out.push_tensor(prefix, leaf, tensor.to_data());
}

fn take<const D: usize>(
    source: &mut StateSource,
    prefix: &str,
    leaf: &str,
    device: &Device,
) -> Option<Tensor<D>> {
    source
        .take_tensor(prefix, leaf)
        .map(|data| Tensor::from_data(data, device))
}

impl<const D: usize> RecordState for VelocityState<D> {
    fn state_flatten(&self, prefix: &str, out: &mut StateSink) {
        put(out, prefix, "velocity", &self.velocity);
    }

    fn state_unflatten(prefix: &str, source: &mut StateSource, device: &Device) -> Option<Self> {
        Some(Self {
            velocity: take(source, prefix, "velocity", device)?,
        })
    }
}

impl<const D: usize> RecordState for AdamMoments<D> {
    fn state_flatten(&self, prefix: &str, out: &mut StateSink) {
        put(out, prefix, "m", &self.m);
        put(out, prefix, "v", &self.v);
        put(out, prefix, "steps", &self.steps);
    }

    fn state_unflatten(prefix: &str, source: &mut StateSource, device: &Device) -> Option<Self> {
        Some(Self {
            m: take(source, prefix, "m", device)?,
            v: take(source, prefix, "v", device)?,
            steps: take(source, prefix, "steps", device)?,
        })
    }
}

impl<const D: usize> RecordState for RmspropState<D> {
    fn state_flatten(&self, prefix: &str, out: &mut StateSink) {
        put(out, prefix, "velocity", &self.velocity);
        if let Some(average) = &self.average_grad {
            put(out, prefix, "average_grad", average);
        }
        if let Some(momentum) = &self.momentum {
            put(out, prefix, "momentum", momentum);
        }
    }

    fn state_unflatten(prefix: &str, source: &mut StateSource, device: &Device) -> Option<Self> {
        Some(Self {
            velocity: take(source, prefix, "velocity", device)?,
            average_grad: take(source, prefix, "average_grad", device),
            momentum: take(source, prefix, "momentum", device),
        })
    }
}

#[cfg(test)]
mod tests {
    //! Each optimizer's first steps on one parameter vector `w = [1, -2]` with the loss
    //! `sum(w²) / 2` (gradient `w`), against the values Keras' update rules give, worked
    //! out by hand below each test.
    use super::*;

    fn run(optimizer: &impl Optimizer, lr: f64, steps: usize) -> Vec<[f32; 2]> {
        let device = crate::device::cpu();
        let mut w = Tensor::<1>::from_floats([1.0, -2.0], &device);
        let mut state = None;
        let mut trajectory = Vec::new();
        for _ in 0..steps {
            let grad = w.clone();
            let (next, next_state) = optimizer.step(lr, w, grad, state);
            w = next;
            state = next_state;
            let values = w.to_data().try_to_vec::<f32>().unwrap();
            trajectory.push([values[0], values[1]]);
        }
        trajectory
    }

    fn assert_close(actual: &[[f32; 2]], expected: &[[f64; 2]]) {
        for (step, (a, e)) in actual.iter().zip(expected).enumerate() {
            for i in 0..2 {
                assert!(
                    (f64::from(a[i]) - e[i]).abs() < 1e-5,
                    "step {}: {a:?} != {e:?}",
                    step + 1
                );
            }
        }
    }

    #[test]
    fn sgd_plain_momentum_and_nesterov() {
        let plain = KerasSgd {
            momentum: 0.0,
            nesterov: false,
            weight_decay: 0.0,
        };
        // w -= 0.1 w  → 0.9 w each step.
        assert_close(&run(&plain, 0.1, 2), &[[0.9, -1.8], [0.81, -1.62]]);

        let momentum = KerasSgd {
            momentum: 0.9,
            nesterov: false,
            weight_decay: 0.0,
        };
        // m1 = -0.1 w0 = [-0.1, 0.2]; w1 = [0.9, -1.8]
        // m2 = 0.9 m1 - 0.1 w1 = [-0.09 - 0.09, 0.18 + 0.18] = [-0.18, 0.36]; w2 = [0.72, -1.44]
        assert_close(&run(&momentum, 0.1, 2), &[[0.9, -1.8], [0.72, -1.44]]);

        let nesterov = KerasSgd {
            momentum: 0.9,
            nesterov: true,
            weight_decay: 0.0,
        };
        // m1 = [-0.1, 0.2]; w1 = w0 + 0.9 m1 - 0.1 w0 = [1 - 0.09 - 0.1, ...] = [0.81, -1.62]
        // m2 = 0.9 m1 - 0.1 w1 = [-0.09 - 0.081, 0.18 + 0.162] = [-0.171, 0.342]
        // w2 = w1 + 0.9 m2 - 0.1 w1 = [0.81 - 0.1539 - 0.081, -1.62 + 0.3078 + 0.162]
        assert_close(&run(&nesterov, 0.1, 2), &[[0.81, -1.62], [0.5751, -1.1502]]);
    }

    /// Adam's first update at lr 0.1 for gradient `g`: m = 0.1 g, v = 0.001 g²,
    /// alpha = 0.1 * sqrt(0.001) / 0.1, update = alpha * m / (sqrt(v) + 1e-7) ≈ 0.1 sign(g).
    fn adam_first_update(g: f64) -> f64 {
        let alpha = 0.1 * 0.001f64.sqrt() / 0.1;
        alpha * 0.1 * g / ((0.001 * g * g).sqrt() + 1e-7)
    }

    #[test]
    fn adam_follows_keras_not_pytorch() {
        let adam = KerasAdam {
            beta_1: 0.9,
            beta_2: 0.999,
            epsilon: 1e-7,
            weight_decay: 0.0,
        };
        let first = [1.0 - adam_first_update(1.0), -2.0 - adam_first_update(-2.0)];
        // Step 2 from w1: m = 0.09 g1 + 0.1 w1, v = 0.999 * 0.001 g1² + 0.001 w1².
        let expected_2 = |g1: f64, w1: f64| {
            let m = 0.9 * 0.1 * g1 + 0.1 * w1;
            let v = 0.999 * 0.001 * g1 * g1 + 0.001 * w1 * w1;
            let alpha = 0.1 * (1.0 - 0.999f64.powi(2)).sqrt() / (1.0 - 0.9f64.powi(2));
            w1 - alpha * m / (v.sqrt() + 1e-7)
        };
        let second = [expected_2(1.0, first[0]), expected_2(-2.0, first[1])];
        assert_close(&run(&adam, 0.1, 2), &[first, second]);
    }

    #[test]
    fn adamw_decays_the_weights_before_the_update() {
        let adamw = KerasAdam {
            beta_1: 0.9,
            beta_2: 0.999,
            epsilon: 1e-7,
            weight_decay: 0.5,
        };
        // w ← w - 0.5 * 0.1 w = 0.95 w, then Adam's update for the gradient at the old w.
        let expected = |w: f64| 0.95 * w - adam_first_update(w);
        assert_close(&run(&adamw, 0.1, 1), &[[expected(1.0), expected(-2.0)]]);
    }

    #[test]
    fn rmsprop_puts_epsilon_inside_the_square_root() {
        let rmsprop = KerasRmsprop {
            rho: 0.9,
            momentum: 0.0,
            epsilon: 1e-7,
            centered: false,
            weight_decay: 0.0,
        };
        // v1 = 0.1 g², w1 = w0 - 0.01 g / sqrt(0.1 g² + 1e-7)
        let step = |w: f64, v: f64| w - 0.01 * w / (v + 1e-7).sqrt();
        let w1 = [step(1.0, 0.1), step(-2.0, 0.4)];
        let v2 = [
            0.9 * 0.1 + 0.1 * w1[0] * w1[0],
            0.9 * 0.4 + 0.1 * w1[1] * w1[1],
        ];
        let w2 = [step(w1[0], v2[0]), step(w1[1], v2[1])];
        assert_close(&run(&rmsprop, 0.01, 2), &[w1, w2]);

        let centered = KerasRmsprop {
            centered: true,
            ..rmsprop.clone()
        };
        // a1 = 0.1 g, denominator = 0.1 g² - 0.01 g² + 1e-7 = 0.09 g² + 1e-7
        let centered_step = |w: f64| w - 0.01 * w / (0.09 * w * w + 1e-7).sqrt();
        assert_close(
            &run(&centered, 0.01, 1),
            &[[centered_step(1.0), centered_step(-2.0)]],
        );

        let momentum = KerasRmsprop {
            momentum: 0.5,
            ..rmsprop
        };
        // buf1 = increment1; buf2 = 0.5 buf1 + increment2
        let increment = |w: f64, v: f64| 0.01 * w / (v + 1e-7).sqrt();
        let buf1 = [increment(1.0, 0.1), increment(-2.0, 0.4)];
        let w1 = [1.0 - buf1[0], -2.0 - buf1[1]];
        let v2 = [0.09 + 0.1 * w1[0] * w1[0], 0.36 + 0.1 * w1[1] * w1[1]];
        let buf2 = [
            0.5 * buf1[0] + increment(w1[0], v2[0]),
            0.5 * buf1[1] + increment(w1[1], v2[1]),
        ];
        assert_close(
            &run(&momentum, 0.01, 2),
            &[w1, [w1[0] - buf2[0], w1[1] - buf2[1]]],
        );
    }
}

#[cfg(test)]
mod keras_not_pytorch_tests {
    //! With a large epsilon and small gradients the Keras and PyTorch rules part by an
    //! order of magnitude or more, so these tests tell the two apart: each checks the
    //! first updates against Keras' formula to 1e-4 of their size and that PyTorch's
    //! formula would miss by far more.
    use super::*;

    const START: [f64; 2] = [0.01, -0.02];
    const TOLERANCE: f64 = 1e-4;

    /// The updates `w_{t} - w_{t-1}` of `steps` steps from `START` with gradient `w`.
    fn updates(optimizer: &impl Optimizer, lr: f64, steps: usize) -> Vec<[f64; 2]> {
        let device = crate::device::cpu();
        let mut w = Tensor::<1>::from_floats(START.map(|x| x as f32), &device);
        let mut state = None;
        let mut previous = START;
        let mut updates = Vec::new();
        for _ in 0..steps {
            let (next, next_state) = optimizer.step(lr, w.clone(), w, state);
            let values = next.to_data().convert::<f64>().try_to_vec::<f64>().unwrap();
            updates.push([values[0] - previous[0], values[1] - previous[1]]);
            previous = [values[0], values[1]];
            (w, state) = (next, next_state);
        }
        updates
    }

    /// Asserts `actual` is `keras` to TOLERANCE relative, and `pytorch` is not, by 100x.
    fn assert_keras_not_pytorch(actual: &[[f64; 2]], keras: &[[f64; 2]], pytorch: &[[f64; 2]]) {
        for (step, ((a, k), p)) in actual.iter().zip(keras).zip(pytorch).enumerate() {
            for i in 0..2 {
                let keras_miss = (a[i] - k[i]).abs() / k[i].abs();
                let pytorch_miss = (a[i] - p[i]).abs() / k[i].abs();
                assert!(
                    keras_miss < TOLERANCE,
                    "step {}: {a:?} vs Keras {k:?}",
                    step + 1
                );
                assert!(
                    pytorch_miss > 100.0 * TOLERANCE,
                    "step {}: PyTorch's rule {p:?} is as close as Keras' {k:?}",
                    step + 1
                );
            }
        }
    }

    #[test]
    fn rmsprop_is_keras_with_a_large_epsilon() {
        let (rho, epsilon, lr) = (0.9, 0.1, 0.01);
        let rmsprop = KerasRmsprop {
            rho,
            momentum: 0.0,
            epsilon,
            centered: false,
            weight_decay: 0.0,
        };
        // Keras: lr g / sqrt(v + eps); PyTorch: lr g / (sqrt(v) + eps).
        let rule = |pytorch: bool| {
            let (mut w, mut v) = (START, [0.0; 2]);
            (0..2)
                .map(|_| {
                    let mut update = [0.0; 2];
                    for i in 0..2 {
                        v[i] = rho * v[i] + (1.0 - rho) * w[i] * w[i];
                        let denominator = if pytorch {
                            v[i].sqrt() + epsilon
                        } else {
                            (v[i] + epsilon).sqrt()
                        };
                        update[i] = -lr * w[i] / denominator;
                        w[i] += update[i];
                    }
                    update
                })
                .collect::<Vec<_>>()
        };
        assert_keras_not_pytorch(&updates(&rmsprop, lr, 2), &rule(false), &rule(true));
    }

    #[test]
    fn adam_is_keras_with_a_large_epsilon() {
        let (beta_1, beta_2, epsilon, lr) = (0.9, 0.999, 1.0, 1.0);
        let adam = KerasAdam {
            beta_1,
            beta_2,
            epsilon,
            weight_decay: 0.0,
        };
        // Keras: lr sqrt(1 - b2^t) / (1 - b1^t) m / (sqrt(v) + eps); PyTorch divides by
        // sqrt(v / (1 - b2^t)) + eps instead, a 30x smaller denominator here.
        let rule = |pytorch: bool| {
            let (mut w, mut m, mut v) = (START, [0.0; 2], [0.0; 2]);
            (1..=2)
                .map(|t| {
                    let correction_2 = 1.0 - beta_2.powi(t);
                    let alpha = lr * correction_2.sqrt() / (1.0 - beta_1.powi(t));
                    let mut update = [0.0; 2];
                    for i in 0..2 {
                        m[i] += (w[i] - m[i]) * (1.0 - beta_1);
                        v[i] += (w[i] * w[i] - v[i]) * (1.0 - beta_2);
                        let denominator = if pytorch {
                            v[i].sqrt() + epsilon * correction_2.sqrt()
                        } else {
                            v[i].sqrt() + epsilon
                        };
                        update[i] = -alpha * m[i] / denominator;
                        w[i] += update[i];
                    }
                    update
                })
                .collect::<Vec<_>>()
        };
        assert_keras_not_pytorch(&updates(&adam, lr, 2), &rule(false), &rule(true));
    }
}

#[cfg(test)]
mod resume_tests {
    use super::*;
    use burn::module::Module;
    use burn::nn::{Linear, LinearConfig};
    use burn::optim::{GradientsParams, ModuleOptimizer};

    fn step(model: Linear, optimizer: &mut ModuleOptimizer) -> Linear {
        let device = model.weight.device();
        let input = Tensor::<2>::from_floats([[1.0, -2.0], [0.5, 3.0]], &device);
        let loss = model.forward(input).square().mean();
        let grads = GradientsParams::from_grads(loss.backward(), &model);
        optimizer.step(0.1, model, grads)
    }

    #[test]
    fn saved_and_reloaded_state_continues_the_same_trajectory() {
        let device = crate::device::cpu().autodiff();
        let adam = || {
            ModuleOptimizer::from(KerasAdam {
                beta_1: 0.9,
                beta_2: 0.999,
                epsilon: 1e-7,
                weight_decay: 0.0,
            })
        };
        let mut optimizer = adam();
        let model = step(LinearConfig::new(2, 1).init(&device), &mut optimizer);
        let dir = tempfile::tempdir().unwrap();
        model.clone().save_file(dir.path().join("m.bpk")).unwrap();
        optimizer.save(dir.path().join("o.bpk")).unwrap();
        let continuous = step(model, &mut optimizer);

        let fresh = LinearConfig::new(2, 1).init(&device);
        let reloaded = fresh.load_file(dir.path().join("m.bpk"));
        let mut reloaded_optimizer = adam().load(dir.path().join("o.bpk")).unwrap();
        let resumed = step(reloaded, &mut reloaded_optimizer);
        let values = |m: &Linear| m.weight.val().to_data().try_to_vec::<f32>().unwrap();
        assert_eq!(values(&resumed), values(&continuous));
    }
}
