//! The store at scale: fills a fresh store with 10,000 synthetic runs of 30 epochs and
//! times `runner compare --pipeline P --format json` and `runner list` as whole processes
//! (targets: 200 ms and 100 ms).
//!
//!     cargo bench --bench store_scale
//!     STORE_SCALE_KEEP=/tmp/big-store cargo bench --bench store_scale   # keep the store

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

mod scale_store;

const REPEATS: usize = 7;

/// Median wall time of `runner ARGS` over several runs, and the bytes it printed.
fn time_command(store: &std::path::Path, args: &[&str]) -> (Duration, usize) {
    let mut times = Vec::new();
    let mut printed = 0;
    for _ in 0..REPEATS {
        let started = Instant::now();
        let output = Command::new(env!("CARGO_BIN_EXE_runner"))
            .args(args)
            .env("RUNNER_STORE", store)
            .stderr(Stdio::inherit())
            .output()
            .expect("runner starts");
        times.push(started.elapsed());
        assert!(output.status.success(), "runner {args:?} failed");
        printed = output.stdout.len();
    }
    times.sort();
    (times[REPEATS / 2], printed)
}

fn main() {
    // STORE_SCALE_KEEP=DIR keeps the filled store there, for profiling.
    let dir = tempfile::tempdir().expect("a temporary folder");
    let store_path =
        std::env::var_os("STORE_SCALE_KEEP").map_or_else(|| dir.path().join("store"), Into::into);
    scale_store::fill(&store_path);

    for (args, target) in [
        (
            vec!["compare", "--pipeline", "bench", "--format", "json"],
            200,
        ),
        (vec!["list"], 100),
        (vec!["list", "--format", "json"], 100),
    ] {
        let (median, printed) = time_command(&store_path, &args);
        println!(
            "runner {:<40} median {:>6.1} ms over {REPEATS} runs (target {target} ms), {printed} bytes out",
            args.join(" "),
            median.as_secs_f64() * 1000.0
        );
    }
}
