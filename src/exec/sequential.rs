//! Trials run one at a time in this process: in the plan's order, then (a `tpe` sweep)
//! each chosen from the finished ones; under successive halving, trained rung by rung,
//! the best of each rung promoted and the others paused as `pruned`; and until the
//! sweep's budget is spent.

use std::collections::VecDeque;
use std::sync::atomic::Ordering;

use anyhow::Result;

use super::checkpoints::latest_snapshot;
use super::trial::{Start, Stop, run_trial};
use super::{INTERRUPTED, RunOptions, reopen_for_training};
use crate::plan::Plan;
use crate::search::asha::{Asha, Next, TrialProgress, next_job};
use crate::search::space::Observed;
use crate::spec::sweep::Budget;
use crate::stages::Stages;
use crate::store::{RunRecord, RunStatus, Store};

/// What the trials of a file came to.
pub struct Outcome {
    /// By trial index.
    pub runs: Vec<(usize, RunRecord)>,
    pub failures: Vec<String>,
    /// Why the budget stopped the sweep, and how many trials it did not start.
    pub budget_spent: Option<(String, usize)>,
}

pub struct Sequential<'a> {
    pub plan: &'a mut Plan,
    pub store: &'a Store,
    pub sweep: Option<&'a str>,
    pub options: &'a RunOptions,
    /// Positions in `plan.trials` of the planned trials to train, in order.
    pub queue: VecDeque<usize>,
    /// The runs so far, trained before included, by trial index.
    pub runs: Vec<(usize, RunRecord)>,
}

impl Sequential<'_> {
    pub fn run(mut self, stages: &mut Stages) -> Result<Outcome> {
        let mut meter = BudgetMeter::new(self.plan.budget);
        let mut failures = Vec::new();
        match self.plan.asha.clone() {
            Some(asha) => self.halving(&asha, stages, &mut meter, &mut failures)?,
            None => self.in_order(stages, &mut meter, &mut failures)?,
        }
        Ok(Outcome {
            runs: self.runs,
            failures,
            budget_spent: meter.spent,
        })
    }

    fn in_order(
        &mut self,
        stages: &mut Stages,
        meter: &mut BudgetMeter,
        failures: &mut Vec<String>,
    ) -> Result<()> {
        // Once nothing is left to start, a spent budget has nothing to stop.
        while self.not_started() > 0
            && !INTERRUPTED.load(Ordering::SeqCst)
            && !meter.stop(self.not_started())
        {
            let Some(position) = self.next_new_trial()? else {
                break;
            };
            let start = Start::Fresh { sweep: self.sweep };
            self.train(position, start, Stop::default(), stages, meter, failures)?;
        }
        Ok(())
    }

    /// Asynchronous successive halving with one worker: each free turn promotes the best
    /// paused trial of the highest rung that has one in its top `1 / reduction_factor`,
    /// or else starts the next trial.
    fn halving(
        &mut self,
        asha: &Asha,
        stages: &mut Stages,
        meter: &mut BudgetMeter,
        failures: &mut Vec<String>,
    ) -> Result<()> {
        let rungs = &asha.rungs;
        // The rung epoch a trial pauses after, unless it is the last.
        let pause_at = |rung: usize| (rung + 1 < rungs.epochs.len()).then(|| rungs.epochs[rung]);
        // Per trial started: its position in the plan, its run, and its value at each rung.
        let mut members: Vec<(usize, Option<RunRecord>)> = Vec::new();
        let mut progress: Vec<TrialProgress> = Vec::new();
        // Trials that cannot go on: finished, stopped early, failed.
        let mut ended: Vec<usize> = Vec::new();
        while !INTERRUPTED.load(Ordering::SeqCst) && !meter.stop(self.not_started()) {
            let (member, rung, outcome) = match next_job(rungs, &progress, &ended) {
                Next::Promote { trial, rung } => {
                    let (position, run) = &members[trial];
                    let run = run.clone().expect("a paused trial has a run");
                    let Some(snapshot) = latest_snapshot(self.store, &run.id)? else {
                        anyhow::bail!("run {} was paused without a snapshot", run.id);
                    };
                    tracing::info!(
                        "trial {}: promoted to rung {} ({} epochs)",
                        self.plan.trials[*position].index,
                        rung + 1,
                        rungs.epochs[rung]
                    );
                    let record = reopen_for_training(self.store, run, &snapshot)?;
                    let start = Start::Resume {
                        record: Box::new(record),
                        snapshot: Box::new(snapshot),
                    };
                    let stop = Stop {
                        pause_after: pause_at(rung),
                    };
                    let outcome = self.train(*position, start, stop, stages, meter, failures)?;
                    (trial, rung, outcome)
                }
                Next::Start => {
                    let Some(position) = self.next_new_trial()? else {
                        break;
                    };
                    let start = Start::Fresh { sweep: self.sweep };
                    let stop = Stop {
                        pause_after: pause_at(0),
                    };
                    let outcome = self.train(position, start, stop, stages, meter, failures)?;
                    members.push((position, None));
                    progress.push(TrialProgress { values: Vec::new() });
                    (members.len() - 1, 0, outcome)
                }
            };
            match outcome {
                Some(run) => {
                    if run.epochs >= rungs.epochs[rung]
                        && let Some(value) =
                            self.value_at(&run, rungs.epochs[rung], &asha.monitor)?
                    {
                        progress[member].values.push(asha.mode.oriented(value));
                    }
                    if run.status != RunStatus::Pruned {
                        ended.push(member);
                    }
                    members[member].1 = Some(run);
                }
                None => ended.push(member),
            }
        }
        Ok(())
    }

    /// The run's `monitor` at `epoch`, from its recorded history.
    fn value_at(&self, run: &RunRecord, epoch: usize, monitor: &str) -> Result<Option<f64>> {
        if run.epochs == epoch {
            return Ok(run.last.get(monitor).copied());
        }
        let history = self.store.epochs(&run.id)?;
        Ok(history
            .iter()
            .find(|metrics| metrics.epoch == epoch)
            .and_then(|metrics| metrics.value(monitor)))
    }

    /// Trials the sweep has yet to start: planned ones, then those TPE will choose.
    fn not_started(&self) -> usize {
        self.queue.len()
            + self
                .plan
                .trial_count()
                .saturating_sub(self.plan.trials.len())
    }

    /// The position in the plan of the next trial to train: the planned ones in order,
    /// then each that TPE chooses from the runs so far (one trained before is taken as
    /// it is). `None` when there are no more.
    fn next_new_trial(&mut self) -> Result<Option<usize>> {
        if let Some(position) = self.queue.pop_front() {
            self.log_start(position);
            return Ok(Some(position));
        }
        let Some(search) = self.plan.tpe.clone() else {
            return Ok(None);
        };
        while self.plan.trials.len() < search.trials {
            let index = self.plan.trials.len();
            let tried: Vec<_> = self.plan.trials.iter().map(|t| t.values.clone()).collect();
            // Failed trials have no run and teach nothing.
            let observed: Vec<Observed> = self
                .runs
                .iter()
                .map(|(trial, run)| Observed {
                    values: self.plan.trials[*trial].values.clone(),
                    best: run.best.clone(),
                    epochs: run.epochs,
                })
                .collect();
            let Some(trial) = search.trial(index, &tried, &observed) else {
                tracing::info!("trial {}: every configuration has been tried", index + 1);
                return Ok(None);
            };
            let planned = self.plan.add_trial(trial, self.store)?;
            match planned.trained_before.clone() {
                Some(run) if !self.options.retrain => {
                    tracing::info!(
                        "trial {index}: {:?} was trained before as run {}; not trained again",
                        planned.values,
                        run.id
                    );
                    if let Some(sweep) = self.sweep {
                        self.store.join_sweep(&run.id, sweep)?;
                    }
                    self.runs.push((index, run));
                }
                _ => {
                    self.log_start(index);
                    return Ok(Some(index));
                }
            }
        }
        Ok(None)
    }

    fn log_start(&self, position: usize) {
        if !self.plan.is_sweep {
            return;
        }
        let trial = &self.plan.trials[position];
        let total = self.plan.trial_count();
        match &self.plan.tpe {
            Some(search) if position >= search.startup_trials() => tracing::info!(
                "trial {}/{total} (tpe, monitoring {}): {:?}",
                trial.index + 1,
                search.monitor,
                trial.values
            ),
            _ => tracing::info!("trial {}/{total}: {:?}", trial.index + 1, trial.values),
        }
    }

    /// Trains the trial at `position` and keeps its run (replacing the one a promotion
    /// continued); `None` when a sweep's trial failed, which is recorded in `failures`.
    fn train(
        &mut self,
        position: usize,
        start: Start,
        stop: Stop,
        stages: &mut Stages,
        meter: &mut BudgetMeter,
        failures: &mut Vec<String>,
    ) -> Result<Option<RunRecord>> {
        let trial = &self.plan.trials[position];
        let epochs_before = match &start {
            Start::Resume { record, .. } => record.epochs,
            Start::Fresh { .. } => 0,
        };
        match run_trial(trial, start, stop, stages, self.options) {
            Ok(run) => {
                meter.add(run.epochs.saturating_sub(epochs_before));
                self.runs.retain(|(index, _)| *index != trial.index);
                self.runs.push((trial.index, run.clone()));
                Ok(Some(run))
            }
            Err(error) if self.plan.is_sweep => {
                tracing::error!("trial {} failed: {error:#}", trial.index);
                failures.push(format!("trial {}: {error:#}", trial.index));
                Ok(None)
            }
            Err(error) => Err(error),
        }
    }
}

/// What a sweep's budget has left: the time since the sweep started and the epochs its
/// trials trained in this `runner run` (trials trained before cost nothing).
struct BudgetMeter {
    budget: Budget,
    started: std::time::Instant,
    epochs: usize,
    /// Why the sweep stopped starting trials, and how many it did not start.
    spent: Option<(String, usize)>,
}

impl BudgetMeter {
    fn new(budget: Budget) -> Self {
        Self {
            budget,
            started: std::time::Instant::now(),
            epochs: 0,
            spent: None,
        }
    }

    fn add(&mut self, epochs: usize) {
        self.epochs += epochs;
    }

    /// Whether the budget is spent before the next job (`left` trials not started yet),
    /// said once.
    fn stop(&mut self, left: usize) -> bool {
        if self.spent.is_some() {
            return true;
        }
        let Some(reason) = self.budget.spent(self.started.elapsed(), self.epochs) else {
            return false;
        };
        tracing::info!(
            "budget spent ({reason}): {left} trial(s) not started; running the file again continues with them"
        );
        self.spent = Some((reason, left));
        true
    }
}
