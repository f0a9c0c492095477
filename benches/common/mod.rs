//! What the model benchmarks share: their command line, the process set up as `runner-torch`
//! sets itself up, and the timing protocol, which bench/feature_reference.py and
//! bench/train_reference.py follow too.

use std::time::{Duration, Instant};

const WARMUP: usize = 3;
const MIN_ITERATIONS: usize = 5;
const TIME_BUDGET: Duration = Duration::from_secs(20);
pub const REPEATS: usize = 3;

/// `[WORD...] [BATCH [THREADS]]`: the numbers (default batch 32, 2 threads) and the other
/// words, which each benchmark reads its own way.
pub struct BenchArgs {
    pub words: Vec<String>,
    pub batch: usize,
    pub threads: usize,
}

/// The arguments, with LibTorch's threads and the allocator set as `runner-torch` sets them
/// at start-up (see src/allocator.rs).
pub fn set_up() -> BenchArgs {
    let (numbers, words): (Vec<String>, Vec<String>) = std::env::args()
        .skip(1)
        .partition(|arg| arg.parse::<usize>().is_ok());
    let numbers: Vec<usize> = numbers.iter().filter_map(|arg| arg.parse().ok()).collect();
    runner::allocator::keep_freed_memory();
    let args = BenchArgs {
        words,
        batch: numbers.first().copied().unwrap_or(32),
        threads: numbers.get(1).copied().unwrap_or(2),
    };
    tch::set_num_threads(i32::try_from(args.threads).unwrap_or(1));
    args
}

/// Images per second of `iteration` (a batch of `batch` images) in each of [`REPEATS`]
/// runs: 3 warm-up iterations, then iterations until `target`, or until 20 s have passed
/// and at least 5 ran.
pub fn images_per_second(batch: usize, target: usize, mut iteration: impl FnMut()) -> Vec<f64> {
    (0..REPEATS)
        .map(|_| {
            for _ in 0..WARMUP {
                iteration();
            }
            let started = Instant::now();
            let mut done = 0;
            while done < MIN_ITERATIONS || (done < target && started.elapsed() < TIME_BUDGET) {
                iteration();
                done += 1;
            }
            (done * batch) as f64 / started.elapsed().as_secs_f64()
        })
        .collect()
}

/// The median of `runs`.
pub fn median(runs: &[f64]) -> f64 {
    let mut sorted = runs.to_vec();
    sorted.sort_by(f64::total_cmp);
    sorted[sorted.len() / 2]
}
