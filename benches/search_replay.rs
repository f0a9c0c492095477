//! The tabular search benchmark of issue #19, the runner's side: searches replayed against
//! the recorded learning curves of bench/search/curves.json (every configuration of
//! bench/search/grid48.toml trained for 8 epochs once). Asking for a configuration's epoch
//! `k` returns its recorded validation accuracy there and costs one epoch; a search ends
//! when it has seen a value within 0.2 points of the best of the whole grid. It prints, per
//! method, the median epochs consumed over 20 seeds. bench/search/optuna_replay.py replays
//! Optuna the same way; bench/search/README.md says how the curves were recorded.
//!
//! Run: cargo bench --bench search_replay [CURVES.json] [--seeds N]

use std::path::PathBuf;

use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use runner::search::asha::{Next, Rungs, TrialProgress, next_job};
use runner::search::tpe::{Dimension, Observation, Tpe};
use serde_json::Value;

/// Seeds per method unless `--seeds N` says otherwise: the 20.
const SEEDS: u64 = 20;
/// How far below the grid's best a value may be and still count as found: the issue's
/// 0.2 percentage points, then closer.
const MARGINS: [f64; 3] = [0.002, 0.001, 0.0];
/// A search that has not found it after this many epochs counts this many; one that
/// tried every configuration without finding it counts what it spent.
const BUDGET: usize = 2000;

struct Table {
    /// Per axis, how many values it has.
    sizes: Vec<usize>,
    /// Per configuration (indexed by its value indices, first axis slowest), the curve.
    curves: Vec<Vec<f64>>,
    target: f64,
}

impl Table {
    fn load(file: &PathBuf, margin: f64) -> Self {
        let text = std::fs::read_to_string(file)
            .unwrap_or_else(|err| panic!("cannot read {}: {err}", file.display()));
        let json: Value = serde_json::from_str(&text).expect("curves.json is JSON");
        let sizes: Vec<usize> = json["axes"]
            .as_array()
            .expect("axes")
            .iter()
            .map(|axis| axis["values"].as_array().expect("values").len())
            .collect();
        let mut curves = vec![Vec::new(); sizes.iter().product()];
        for configuration in json["configurations"].as_array().expect("configurations") {
            let index: Vec<usize> = configuration["index"]
                .as_array()
                .expect("index")
                .iter()
                .map(|i| i.as_u64().expect("an index") as usize)
                .collect();
            let curve = configuration["val_accuracy"]
                .as_array()
                .expect("val_accuracy")
                .iter()
                .map(|v| v.as_f64().expect("a number"))
                .collect();
            curves[flat(&sizes, &index)] = curve;
        }
        assert!(
            curves.iter().all(|curve: &Vec<f64>| curve.len() == 8),
            "every configuration has 8 epochs"
        );
        let best = curves.iter().flatten().copied().fold(f64::MIN, f64::max);
        Self {
            sizes,
            curves,
            target: best - margin - 1e-9,
        }
    }
}

fn flat(sizes: &[usize], index: &[usize]) -> usize {
    index
        .iter()
        .zip(sizes)
        .fold(0, |flat, (i, size)| flat * size + i)
}

/// Counts epochs until a value reaches the target.
struct Meter<'a> {
    table: &'a Table,
    epochs: usize,
    found: bool,
}

impl Meter<'_> {
    /// Trains `configuration` from epoch `from` to epoch `to` (1-based, inclusive) and
    /// returns the value at `to`.
    fn train(&mut self, configuration: usize, from: usize, to: usize) -> f64 {
        let curve = &self.table.curves[configuration];
        for epoch in from..=to {
            if self.found {
                break;
            }
            self.epochs += 1;
            self.found = curve[epoch - 1] >= self.table.target;
        }
        curve[to - 1]
    }

    fn done(&self) -> bool {
        self.found || self.epochs >= BUDGET
    }
}

/// Every configuration for 8 epochs, in `order`.
fn grid(table: &Table, order: &[usize]) -> usize {
    let mut meter = Meter {
        table,
        epochs: 0,
        found: false,
    };
    for &configuration in order {
        meter.train(configuration, 1, 8);
        if meter.done() {
            break;
        }
    }
    meter.epochs
}

/// How each new configuration is chosen.
#[derive(Clone, Copy)]
enum Sampler {
    Random,
    Tpe,
}

/// Asynchronous successive halving (min 1 epoch, factor 3, max 8: rungs 1, 3, 8) over
/// configurations from `sampler`, one worker.
fn asha(table: &Table, sampler: Sampler, seed: u64) -> usize {
    let rungs = Rungs::new(1, 3, 8).expect("valid rungs");
    let dimensions: Vec<Dimension> = table.sizes.iter().map(|&n| Dimension::Choice(n)).collect();
    let tpe = Tpe::new(dimensions);
    // A TPE that never leaves its random start: random search without repeats.
    let random = Tpe {
        startup_trials: usize::MAX,
        ..tpe.clone()
    };
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut meter = Meter {
        table,
        epochs: 0,
        found: false,
    };
    let mut configurations: Vec<(usize, Vec<f64>)> = Vec::new();
    let mut progress: Vec<TrialProgress> = Vec::new();
    while !meter.done() {
        match next_job(&rungs, &progress, &[]) {
            Next::Promote { trial, rung } => {
                let from = rungs.epochs[rung - 1] + 1;
                let value = meter.train(configurations[trial].0, from, rungs.epochs[rung]);
                progress[trial].values.push(value);
            }
            Next::Start => {
                let tried: Vec<Vec<f64>> = configurations
                    .iter()
                    .map(|(_, point)| point.clone())
                    .collect();
                let observations: Vec<Observation> = configurations
                    .iter()
                    .zip(&progress)
                    .map(|((_, point), trial)| Observation {
                        point: point.clone(),
                        epochs: rungs.epochs[trial.values.len() - 1],
                        value: *trial.values.last().expect("a value"),
                    })
                    .collect();
                let sampler = match sampler {
                    Sampler::Random => &random,
                    Sampler::Tpe => &tpe,
                };
                let Some(point) = sampler.suggest_untried(&observations, &tried, 100, &mut rng)
                else {
                    // Every configuration has started and none is promotable: done.
                    break;
                };
                let index: Vec<usize> = point.iter().map(|v| *v as usize).collect();
                let configuration = flat(&table.sizes, &index);
                let value = meter.train(configuration, 1, rungs.epochs[0]);
                configurations.push((configuration, point));
                progress.push(TrialProgress {
                    values: vec![value],
                });
            }
        }
    }
    meter.epochs
}

/// TPE alone: every trial trains its 8 epochs.
fn tpe_full(table: &Table, seed: u64) -> usize {
    let tpe = Tpe::new(table.sizes.iter().map(|&n| Dimension::Choice(n)).collect());
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut meter = Meter {
        table,
        epochs: 0,
        found: false,
    };
    let mut observations = Vec::new();
    let mut tried = Vec::new();
    while !meter.done() {
        let Some(point) = tpe.suggest_untried(&observations, &tried, 100, &mut rng) else {
            break;
        };
        let index: Vec<usize> = point.iter().map(|v| *v as usize).collect();
        let value = meter.train(flat(&table.sizes, &index), 1, 8);
        tried.push(point.clone());
        observations.push(Observation {
            point,
            epochs: 8,
            value,
        });
    }
    meter.epochs
}

/// A search replayed with a seed, giving the epochs it consumed.
type Method<'a> = Box<dyn Fn(u64) -> usize + 'a>;

fn median(mut values: Vec<usize>) -> f64 {
    values.sort_unstable();
    let middle = values.len() / 2;
    if values.len().is_multiple_of(2) {
        (values[middle - 1] + values[middle]) as f64 / 2.0
    } else {
        values[middle] as f64
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let seeds = args
        .iter()
        .position(|arg| arg == "--seeds")
        .and_then(|at| args.get(at + 1))
        .map_or(SEEDS, |n| n.parse().expect("--seeds takes a number"));
    let file = args
        .iter()
        .enumerate()
        .find(|(at, arg)| !arg.starts_with('-') && (*at == 0 || args[at - 1] != "--seeds"))
        .map(|(_, arg)| arg)
        .map_or_else(|| PathBuf::from("bench/search/curves.json"), PathBuf::from);
    for margin in MARGINS {
        let table = Table::load(&file, margin);
        report(&table, margin, seeds);
    }
}

fn report(table: &Table, margin: f64, seeds: u64) {
    let configurations = table.curves.len();
    println!(
        "\n{configurations} configurations x 8 epochs; target: validation accuracy >= {:.4} (the grid's best minus {:.1} points); median epochs over {seeds} seeds",
        table.target + 1e-9,
        margin * 100.0
    );
    let in_order: Vec<usize> = (0..configurations).collect();
    let shuffled = |seed: u64| {
        let mut order = in_order.clone();
        order.shuffle(&mut ChaCha8Rng::seed_from_u64(seed));
        order
    };
    let methods: [(&str, Method); 5] = [
        ("grid, file order", Box::new(|_| grid(table, &in_order))),
        (
            "grid, shuffled",
            Box::new(|seed| grid(table, &shuffled(seed))),
        ),
        (
            "runner tpe, full trials",
            Box::new(|seed| tpe_full(table, seed)),
        ),
        (
            "runner random + asha",
            Box::new(|seed| asha(table, Sampler::Random, seed)),
        ),
        (
            "runner tpe + asha",
            Box::new(|seed| asha(table, Sampler::Tpe, seed)),
        ),
    ];
    println!("| method | median epochs | min | max |");
    println!("|---|---|---|---|");
    for (name, method) in &methods {
        let epochs: Vec<usize> = (0..seeds).map(method).collect();
        let (low, high) = (*epochs.iter().min().unwrap(), *epochs.iter().max().unwrap());
        println!("| {name} | {} | {low} | {high} |", median(epochs));
    }
}
