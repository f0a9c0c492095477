//! Asynchronous successive halving (Li et al., "A System for Massively Parallel
//! Hyperparameter Tuning", 2020, algorithm 2): trials train to the first rung; whenever a
//! worker is free, the best not-yet-promoted trial in the top `1/reduction_factor` of the
//! highest rung that has one goes on to the next rung, and otherwise a new trial starts.
//! A trial left behind in a rung is paused, not lost: its epochs are kept, and a later
//! promotion continues it from its snapshot.
//!
//! The top of a rung is its best `max(1, n / reduction_factor)` of `n` trials, as
//! Optuna's `SuccessiveHalvingPruner` and Ray Tune's ASHA count it: a rung with fewer
//! than `reduction_factor` trials lets its best go on. The strict count (none until a
//! rung has `reduction_factor` trials) trains the first trials one rung each before any
//! trains further, which with few workers costs the most where the first rung says the
//! least (BENCHMARKS.md, the search replay).

use crate::spec::Problem;
use crate::spec::sweep::{SchedulerSpec, SweepMode, SweepSpec};

/// A sweep's successive halving: its rungs and what it compares there.
#[derive(Debug, Clone, PartialEq)]
pub struct Asha {
    pub rungs: Rungs,
    pub monitor: String,
    pub mode: SweepMode,
}

impl Asha {
    /// The scheduler of `sweep`, whose trials train `epochs` epochs in all, if it has one.
    pub fn of_sweep(sweep: &SweepSpec, epochs: usize) -> Result<Option<Self>, Problem> {
        let Some(SchedulerSpec::Asha {
            min_epochs,
            reduction_factor,
            max_epochs,
            monitor,
            mode,
        }) = &sweep.scheduler
        else {
            return Ok(None);
        };
        if max_epochs.is_some_and(|max| max != epochs) {
            return Err(Problem::new(
                "scheduler",
                format!(
                    "max_epochs is the epochs a trial trains when it is never pruned: the pipeline's {epochs}; set `train.epochs` instead"
                ),
            ));
        }
        let Some(rungs) = Rungs::new(*min_epochs, *reduction_factor, epochs) else {
            return Err(Problem::new(
                "scheduler",
                format!(
                    "successive halving needs 1 <= min_epochs <= the pipeline's {epochs} epochs and reduction_factor >= 2, got min_epochs {min_epochs} and reduction_factor {reduction_factor}"
                ),
            ));
        };
        let monitor = monitor.clone().unwrap_or_else(|| "val_loss".into());
        Ok(Some(Self {
            mode: SweepMode::of_monitor(&monitor, *mode),
            monitor,
            rungs,
        }))
    }
}

/// The epochs at which trials are compared: `min_epochs * reduction_factor^k` below
/// `max_epochs`, then `max_epochs`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rungs {
    pub epochs: Vec<usize>,
    pub reduction_factor: usize,
}

impl Rungs {
    /// `None` when the arguments make no rungs (zero epochs, a factor below 2, or a
    /// minimum above the maximum).
    pub fn new(min_epochs: usize, reduction_factor: usize, max_epochs: usize) -> Option<Self> {
        if min_epochs == 0 || reduction_factor < 2 || min_epochs > max_epochs {
            return None;
        }
        let mut epochs = Vec::new();
        let mut rung = min_epochs;
        while rung < max_epochs {
            epochs.push(rung);
            rung = rung.saturating_mul(reduction_factor);
        }
        epochs.push(max_epochs);
        Some(Self {
            epochs,
            reduction_factor,
        })
    }
}

/// Where a trial stands: the rung it has reached (its index in [`Rungs::epochs`]), and its
/// monitored value at each rung reached, higher is better.
#[derive(Debug, Clone, PartialEq)]
pub struct TrialProgress {
    pub values: Vec<f64>,
}

impl TrialProgress {
    /// The rung reached, `None` before the first.
    pub fn rung(&self) -> Option<usize> {
        self.values.len().checked_sub(1)
    }
}

/// What a free worker does next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    /// Continue trial `trial` (an index into the progress list) to rung `rung`.
    Promote { trial: usize, rung: usize },
    /// Start a new trial, to the first rung.
    Start,
}

/// The next job, given every trial's progress; `running` trials (being trained now, or
/// ended otherwise: failed, stopped early) are counted in their rungs but not promoted.
pub fn next_job(rungs: &Rungs, trials: &[TrialProgress], running: &[usize]) -> Next {
    let top = rungs.epochs.len() - 1;
    for rung in (0..top).rev() {
        // Every trial that reached this rung, with its value there.
        let mut reached: Vec<(usize, f64)> = trials
            .iter()
            .enumerate()
            .filter(|(_, trial)| trial.values.len() > rung)
            .map(|(index, trial)| (index, trial.values[rung]))
            .collect();
        if reached.is_empty() {
            continue;
        }
        let promotable = (reached.len() / rungs.reduction_factor).max(1);
        // Highest first; the earlier trial first among equal values.
        reached.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        let candidate = reached[..promotable]
            .iter()
            .find(|(index, _)| trials[*index].rung() == Some(rung) && !running.contains(index));
        if let Some(&(trial, _)) = candidate {
            return Next::Promote {
                trial,
                rung: rung + 1,
            };
        }
    }
    Next::Start
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(values: &[f64]) -> TrialProgress {
        TrialProgress {
            values: values.to_vec(),
        }
    }

    #[test]
    fn rungs_grow_by_the_factor_and_end_at_the_maximum() {
        assert_eq!(Rungs::new(1, 3, 8).unwrap().epochs, [1, 3, 8]);
        assert_eq!(Rungs::new(1, 3, 9).unwrap().epochs, [1, 3, 9]);
        assert_eq!(Rungs::new(1, 3, 27).unwrap().epochs, [1, 3, 9, 27]);
        assert_eq!(Rungs::new(2, 2, 10).unwrap().epochs, [2, 4, 8, 10]);
        assert_eq!(Rungs::new(5, 3, 5).unwrap().epochs, [5]);
        assert_eq!(Rungs::new(0, 3, 8), None);
        assert_eq!(Rungs::new(1, 1, 8), None);
        assert_eq!(Rungs::new(9, 3, 8), None);
    }

    #[test]
    fn promotes_the_top_third_of_a_rung_and_the_best_of_a_rung_with_fewer_than_three() {
        let rungs = Rungs::new(1, 3, 9).unwrap();
        let promote = |trial, rung| Next::Promote { trial, rung };
        // Alone in its rung, a trial is its best: it goes on, rung after rung.
        assert_eq!(next_job(&rungs, &[at(&[0.6])], &[]), promote(0, 1));
        assert_eq!(next_job(&rungs, &[at(&[0.6, 0.62])], &[]), promote(0, 2));
        // A second trial goes on only if it beats the first at their rung.
        let trials = vec![at(&[0.6, 0.62, 0.7]), at(&[0.5])];
        assert_eq!(next_job(&rungs, &trials, &[]), Next::Start);
        let trials = vec![at(&[0.6, 0.62, 0.7]), at(&[0.9])];
        assert_eq!(next_job(&rungs, &trials, &[]), promote(1, 1));
        // Six at rung 0: the top third is two; the best is training (or done), so the
        // second best goes on ...
        let trials = vec![
            at(&[0.6]),
            at(&[0.9, 0.91]),
            at(&[0.7]),
            at(&[0.5]),
            at(&[0.55]),
            at(&[0.65]),
        ];
        assert_eq!(next_job(&rungs, &trials, &[1]), promote(2, 1));
        // ... unless it is being trained already; the others are not in the top third.
        assert_eq!(next_job(&rungs, &trials, &[1, 2]), Next::Start);
        // Free, the best of rung 1 (alone there) goes to the top rung first.
        assert_eq!(next_job(&rungs, &trials, &[]), promote(1, 2));
    }

    #[test]
    fn higher_rungs_are_promoted_first() {
        let rungs = Rungs::new(1, 3, 9).unwrap();
        let trials = vec![
            at(&[0.9, 0.95]),
            at(&[0.8, 0.85]),
            at(&[0.85, 0.80]),
            at(&[0.1]),
            at(&[0.2]),
            at(&[0.3]),
            at(&[0.4]),
            at(&[0.5]),
            at(&[0.6]),
            at(&[0.95]),
        ];
        // Rung 1 has three trials: its best goes to the top rung before rung 0's best
        // unpromoted trial (the last) goes to rung 1.
        assert_eq!(
            next_job(&rungs, &trials, &[]),
            Next::Promote { trial: 0, rung: 2 }
        );
    }
}
