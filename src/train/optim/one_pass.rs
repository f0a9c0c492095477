//! Keras' plain RMSprop update in one pass over memory, for float32 LibTorch tensors on the
//! CPU.
//!
//! Written as tensor operations the update is nine passes over the parameter (square,
//! scale, add, add epsilon, square root, scale, divide, subtract, and the decay of the
//! average), each reading and writing the whole tensor. For the course model's
//! Flatten -> Dense(1024) weight (38.5M values, 154 MB) those passes were most of a training
//! step on cached features (a profile: LibTorch's add, mul, sqrt, div and copy kernels at
//! 17% of the samples of the whole training benchmark). One loop reads the variable, the
//! average and the gradient once and writes the two results once. Each element gets the
//! same float32 operations in the same order as the tensor form. They give the same bits
//! except for the square root: LibTorch's vectorized float32 `sqrt` is not correctly rounded
//! (it differs from IEEE's in about 16% of values here), Rust's is, so the new variable can
//! differ from the tensor form's by the last bit of a step (a test holds it to that).

// Burn deprecates its LibTorch backend; this project is built on it (see src/device.rs).
#![allow(deprecated)]

use burn::backend::LibTorch;
use burn::backend::libtorch::TchTensor;
use burn::prelude::*;
use burn::tensor::DType;

/// Below this many values the threads cost more than they save.
const PARALLEL_FROM: usize = 1 << 16;

/// `velocity = rho * velocity + (1 - rho) * grad²`, then
/// `variable -= lr * grad / sqrt(velocity + epsilon)`: the new `(variable, velocity)`, or
/// `None` where the tensors are not float32 LibTorch CPU tensors of one (non-empty) shape.
pub fn rmsprop<const D: usize>(
    variable: &Tensor<D>,
    grad: &Tensor<D>,
    velocity: &Tensor<D>,
    [rho, epsilon, lr]: [f64; 3],
) -> Option<(Tensor<D>, Tensor<D>)> {
    let cpu = crate::device::cpu();
    let tensors = [variable, grad, velocity];
    if tensors
        .iter()
        .any(|tensor| tensor.device() != cpu || tensor.dtype() != DType::F32)
        || variable.shape() != grad.shape()
        || velocity.shape() != grad.shape()
        // An empty tensor's storage may be a null pointer, which no slice may hold.
        || grad.shape().num_elements() == 0
    {
        return None;
    }
    // Clones share the values; the results go to new tensors, so nothing shared is changed.
    let [variable, grad, velocity] = tensors.map(|tensor| {
        tensor
            .clone()
            .try_into_primitive::<LibTorch>()
            .ok()
            .map(|primitive| primitive.tensor.contiguous())
    });
    let (variable, grad, velocity) = (variable?, grad?, velocity?);
    let outputs = [variable.empty_like(), velocity.empty_like()];
    let values = grad.numel();
    // SAFETY: the five tensors are contiguous float32 CPU tensors of `values` elements (checked
    // above, `contiguous()` made them so, `empty_like` of a contiguous tensor is contiguous),
    // alive until the end of this function; the two outputs are new and alias nothing.
    let slice = |tensor: &tch::Tensor| unsafe {
        std::slice::from_raw_parts(tensor.data_ptr().cast::<f32>(), values)
    };
    let slice_mut = |tensor: &tch::Tensor| unsafe {
        std::slice::from_raw_parts_mut(tensor.data_ptr().cast::<f32>(), values)
    };
    let inputs = [slice(&variable), slice(&grad), slice(&velocity)];
    let results = [slice_mut(&outputs[0]), slice_mut(&outputs[1])];
    // LibTorch turns each scalar into float32 before the float32 arithmetic; so does this.
    let scalars = Scalars {
        rho: rho as f32,
        one_minus_rho: (1.0 - rho) as f32,
        epsilon: epsilon as f32,
        lr: lr as f32,
    };
    let threads = usize::try_from(tch::get_num_threads()).unwrap_or(1).max(1);
    let chunk = if threads == 1 || values < PARALLEL_FROM {
        values.max(1)
    } else {
        values.div_ceil(threads)
    };
    if chunk >= values {
        // One chunk: no thread to start.
        let ([variable, grad, velocity], [new_variable, new_velocity]) = (inputs, results);
        scalars.update(variable, grad, velocity, new_variable, new_velocity);
    } else {
        let [variable, grad, velocity] = inputs.map(|values| values.chunks(chunk));
        let [new_variable, new_velocity] = results.map(|values| values.chunks_mut(chunk));
        std::thread::scope(|scope| {
            for ((((variable, grad), velocity), new_variable), new_velocity) in variable
                .zip(grad)
                .zip(velocity)
                .zip(new_variable)
                .zip(new_velocity)
            {
                scope.spawn(move || {
                    scalars.update(variable, grad, velocity, new_variable, new_velocity);
                });
            }
        });
    }
    let [new_variable, new_velocity] = outputs;
    let tensor = |values: tch::Tensor| Tensor::from_primitive::<LibTorch>(TchTensor::new(values));
    Some((tensor(new_variable), tensor(new_velocity)))
}

#[derive(Clone, Copy)]
struct Scalars {
    rho: f32,
    one_minus_rho: f32,
    epsilon: f32,
    lr: f32,
}

impl Scalars {
    fn update(
        self,
        variable: &[f32],
        grad: &[f32],
        velocity: &[f32],
        new_variable: &mut [f32],
        new_velocity: &mut [f32],
    ) {
        for ((((variable, &grad), velocity), new_variable), new_velocity) in variable
            .iter()
            .zip(grad)
            .zip(velocity)
            .zip(new_variable)
            .zip(new_velocity)
        {
            // The tensor form's operations, in its order (KerasRmsprop::step).
            let velocity = velocity * self.rho + grad * grad * self.one_minus_rho;
            *new_velocity = velocity;
            *new_variable = variable - grad * self.lr / (velocity + self.epsilon).sqrt();
        }
    }
}

#[cfg(test)]
mod tests {
    use burn::tensor::Distribution;

    use super::*;

    #[test]
    fn gives_the_tensor_form_but_for_the_last_bit_in_parallel_chunks_too() {
        let device = crate::device::cpu();
        let (rho, epsilon, lr) = (0.9, 1e-7, 1e-4);
        // Not a multiple of the chunk: the last chunk is shorter.
        let shape = [3, 66_667];
        let random =
            |low, high| Tensor::<2>::random(shape, Distribution::Uniform(low, high), &device);
        let (mut variable, mut velocity) = (random(-1.0, 1.0), Tensor::<2>::zeros(shape, &device));
        let (mut expected_variable, mut expected_velocity) = (variable.clone(), velocity.clone());
        for _ in 0..3 {
            let grad = random(-0.01, 0.01);
            (variable, velocity) =
                rmsprop(&variable, &grad, &velocity, [rho, epsilon, lr]).expect("CPU float32");
            expected_velocity =
                expected_velocity.mul_scalar(rho) + grad.clone().square().mul_scalar(1.0 - rho);
            let denominator = expected_velocity.clone().add_scalar(epsilon).sqrt();
            expected_variable = expected_variable - grad.mul_scalar(lr).div(denominator);
        }
        let bits = |tensor: Tensor<2>| -> Vec<u32> {
            let values = tensor.into_data().to_vec::<f32>().expect("float32");
            values.into_iter().map(f32::to_bits).collect()
        };
        assert!(
            bits(velocity) == bits(expected_velocity),
            "the velocities differ"
        );
        // The one difference, LibTorch's square root, changes a step in its last bit, which
        // moves the new variable by at most the last bit of the old one (|variable| <= 1).
        let difference = (variable - expected_variable)
            .abs()
            .max()
            .into_scalar::<f32>();
        assert!(
            difference <= f32::EPSILON,
            "max abs difference {difference}"
        );
    }

    #[test]
    fn declines_what_it_cannot_update() {
        let device = crate::device::cpu();
        let values = Tensor::<1>::ones([4], &device);
        let other_shape = Tensor::<1>::ones([5], &device);
        assert!(rmsprop(&values, &other_shape, &values, [0.9, 1e-7, 0.1]).is_none());
    }
}
