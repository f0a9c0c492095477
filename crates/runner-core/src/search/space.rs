//! A `method = "tpe"` sweep: its axes as a search space, its objective, and the values of
//! each trial, chosen from the trials before it.

use std::collections::BTreeMap;

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde_json::Value;

use super::tpe::{Dimension, Observation, Tpe};
use crate::spec::Problem;
use crate::spec::sweep::{Axis, SweepMethod, SweepMode, SweepSpec, Trial};

/// A finished (or paused) trial as the search sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct Observed {
    pub values: BTreeMap<String, Value>,
    /// Its run's best value of each metric.
    pub best: BTreeMap<String, f64>,
    /// The epochs it trained: trials that went further (successive halving promoted
    /// them) rank above those that stopped earlier.
    pub epochs: usize,
}

/// How many suggestions (and then random draws) are tried for a configuration not run yet.
const ATTEMPTS: usize = 100;

/// The TPE search of a sweep.
#[derive(Debug, Clone)]
pub struct TpeSearch {
    axes: Vec<(String, Axis)>,
    tpe: Tpe,
    /// How many trials the sweep runs.
    pub trials: usize,
    seed: u64,
    /// The metric whose best value over a trial's epochs ranks it.
    pub monitor: String,
    pub mode: SweepMode,
}

impl TpeSearch {
    /// The search of `sweep` if its method is TPE, seeded with the pipeline's seed.
    pub fn of_sweep(sweep: &SweepSpec, seed: u64) -> Result<Option<Self>, Problem> {
        if sweep.method != SweepMethod::Tpe {
            return Ok(None);
        }
        let Some(trials) = sweep.trials.filter(|&n| n > 0) else {
            return Err(Problem::new(
                "trials",
                "a tpe sweep needs `trials = N` (at least 1)",
            ));
        };
        if !sweep.seeds.is_empty() {
            return Err(Problem::new(
                "seeds",
                "`seeds` repeats every configuration, which a tpe sweep does not do: set `[pipeline] seed` instead",
            ));
        }
        if !sweep.list.is_empty() {
            return Err(Problem::new(
                "list",
                "a tpe sweep searches the axes it is given; `list` is for `method = \"list\"`",
            ));
        }
        if sweep.axes.is_empty() {
            return Err(Problem::new(
                "method",
                "a tpe sweep needs at least one key path with its values or distribution",
            ));
        }
        let axes = sweep
            .axes
            .iter()
            .map(|(key, axis)| Ok((key.clone(), axis.checked(key)?)))
            .collect::<Result<Vec<_>, Problem>>()?;
        let dimensions = axes.iter().map(|(_, axis)| dimension(axis)).collect();
        let monitor = sweep
            .monitor
            .clone()
            .unwrap_or_else(|| "val_loss".to_string());
        let mode = SweepMode::of_monitor(&monitor, sweep.mode);
        let tpe = Tpe {
            startup_trials: sweep.startup_trials.unwrap_or(10),
            ..Tpe::new(dimensions)
        };
        Ok(Some(Self {
            axes,
            tpe,
            trials,
            seed,
            monitor,
            mode,
        }))
    }

    /// The trials drawn at random before TPE has observations to learn from, which
    /// planning can list: they depend on the seed alone.
    pub fn startup_trials(&self) -> usize {
        self.tpe.startup_trials.min(self.trials)
    }

    /// Trial `index`: random for the first [`Self::startup_trials`], then from
    /// `observed` (each earlier trial's values and its run). `None` when every
    /// configuration of a small space has been tried.
    pub fn trial(
        &self,
        index: usize,
        tried: &[BTreeMap<String, Value>],
        observed: &[Observed],
    ) -> Option<Trial> {
        let mut rng = ChaCha8Rng::seed_from_u64(self.seed);
        rng.set_stream(index as u64);
        let tried: Vec<Vec<f64>> = tried
            .iter()
            .filter_map(|values| self.point(values))
            .collect();
        let observations: Vec<Observation> = if index < self.startup_trials() {
            Vec::new()
        } else {
            observed
                .iter()
                .filter_map(|observed| {
                    let best = observed.best.get(&self.monitor)?;
                    Some(Observation {
                        point: self.point(&observed.values)?,
                        epochs: observed.epochs,
                        value: self.mode.oriented(*best),
                    })
                })
                .collect()
        };
        let point = self
            .tpe
            .suggest_untried(&observations, &tried, ATTEMPTS, &mut rng)?;
        Some(Trial {
            index,
            values: self.values(&point),
        })
    }

    fn values(&self, point: &[f64]) -> BTreeMap<String, Value> {
        self.axes
            .iter()
            .zip(point)
            .map(|((key, axis), coordinate)| {
                let value = match axis {
                    Axis::Values(values) => values[*coordinate as usize].clone(),
                    Axis::Float { .. } => Value::from(*coordinate),
                    Axis::Int { .. } => Value::from(*coordinate as i64),
                };
                (key.clone(), value)
            })
            .collect()
    }

    /// The point of a trial's values; `None` for values outside the space.
    fn point(&self, values: &BTreeMap<String, Value>) -> Option<Vec<f64>> {
        self.axes
            .iter()
            .map(|(key, axis)| {
                let value = values.get(key)?;
                match axis {
                    Axis::Values(listed) => listed
                        .iter()
                        .position(|listed| listed == value)
                        .map(|index| index as f64),
                    Axis::Float { .. } | Axis::Int { .. } => value.as_f64(),
                }
            })
            .collect()
    }
}

fn dimension(axis: &Axis) -> Dimension {
    match *axis {
        Axis::Values(ref values) => Dimension::Choice(values.len()),
        Axis::Float { low, high, log } => Dimension::Float { low, high, log },
        Axis::Int { low, high } => Dimension::Int { low, high },
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn search(text: &str) -> TpeSearch {
        let sweep: SweepSpec = toml::from_str(text).unwrap();
        TpeSearch::of_sweep(&sweep, 42).unwrap().unwrap()
    }

    const SPACE: &str = r#"
method = "tpe"
trials = 30
startup_trials = 4
monitor = "val_accuracy"
"train.optimizer.lr" = { loguniform = [1e-5, 1e-1] }
"head.2.rate" = [0.0, 0.2, 0.5]
"head.1.units" = { int = [16, 512] }
"#;

    /// Runs the search against `score` (higher is better), as a sweep would.
    fn run(
        search: &TpeSearch,
        score: impl Fn(&BTreeMap<String, Value>) -> f64,
    ) -> Vec<BTreeMap<String, Value>> {
        let mut tried = Vec::new();
        let mut observed = Vec::new();
        for index in 0..search.trials {
            let trial = search.trial(index, &tried, &observed).unwrap();
            assert_eq!(trial.index, index);
            let best = BTreeMap::from([("val_accuracy".to_string(), score(&trial.values))]);
            observed.push(Observed {
                values: trial.values.clone(),
                best,
                epochs: 8,
            });
            tried.push(trial.values);
        }
        tried
    }

    fn accuracy(values: &BTreeMap<String, Value>) -> f64 {
        let lr = values["train.optimizer.lr"].as_f64().unwrap();
        let rate = values["head.2.rate"].as_f64().unwrap();
        1.0 - (lr.log10() + 3.0).abs() / 10.0 - rate / 5.0
    }

    #[test]
    fn trials_are_in_the_space_reproducible_and_learn_from_the_finished_ones() {
        let search = search(SPACE);
        assert_eq!(search.mode, SweepMode::Max);
        let trials = run(&search, accuracy);
        assert_eq!(
            trials,
            run(&search, accuracy),
            "the seed decides everything"
        );
        for values in &trials {
            let lr = values["train.optimizer.lr"].as_f64().unwrap();
            assert!((1e-5..=1e-1).contains(&lr), "{lr}");
            assert!([json!(0.0), json!(0.2), json!(0.5)].contains(&values["head.2.rate"]));
            let units = values["head.1.units"].as_i64().unwrap();
            assert!((16..=512).contains(&units), "{units}");
        }
        let mean = |values: &[BTreeMap<String, Value>]| {
            values.iter().map(accuracy).sum::<f64>() / values.len() as f64
        };
        // The last ten, chosen from 20 finished trials and more, beat the random start.
        assert!(
            mean(&trials[20..]) > mean(&trials[..4]) + 0.05,
            "random start {}, last ten {}",
            mean(&trials[..4]),
            mean(&trials[20..])
        );
        // A different seed, different trials.
        let sweep: SweepSpec = toml::from_str(SPACE).unwrap();
        let other = TpeSearch::of_sweep(&sweep, 43).unwrap().unwrap();
        assert_ne!(run(&other, accuracy)[..4], trials[..4]);
    }

    #[test]
    fn a_loss_is_minimized_by_default_and_bad_sweeps_are_refused() {
        let loss = search("method = \"tpe\"\ntrials = 2\n\"a\" = [1, 2]");
        assert_eq!(
            (loss.monitor.as_str(), loss.mode),
            ("val_loss", SweepMode::Min)
        );
        for (text, key) in [
            ("method = \"tpe\"\n\"a\" = [1]", "trials"),
            ("method = \"tpe\"\ntrials = 3", "method"),
            (
                "method = \"tpe\"\ntrials = 3\nseeds = [1, 2]\n\"a\" = [1]",
                "seeds",
            ),
            (
                "method = \"tpe\"\ntrials = 3\n\"a\" = { loguniform = [0.0, 1.0] }",
                "a",
            ),
            ("method = \"tpe\"\ntrials = 3\n\"a\" = []", "a"),
        ] {
            let sweep: SweepSpec = toml::from_str(text).unwrap();
            assert_eq!(
                TpeSearch::of_sweep(&sweep, 1).unwrap_err().key,
                key,
                "{text}"
            );
        }
    }

    #[test]
    fn a_small_space_ends_when_every_configuration_was_tried() {
        let search = search("method = \"tpe\"\ntrials = 10\nstartup_trials = 2\n\"a\" = [1, 2, 3]");
        let mut tried = Vec::new();
        while let Some(trial) = search.trial(tried.len(), &tried, &[]) {
            tried.push(trial.values);
        }
        let mut values: Vec<i64> = tried
            .iter()
            .map(|values| values["a"].as_i64().unwrap())
            .collect();
        values.sort_unstable();
        assert_eq!(values, [1, 2, 3]);
    }
}
