//! What a file's trials train, and when: the plan's trials in order, then (a `tpe`
//! sweep) each chosen from the finished ones; under successive halving, rung by rung, the
//! best of each rung promoted and the others paused as `pruned`; and until the sweep's
//! budget is spent. A run an earlier `runner run` of the file paused trains on from its
//! snapshot instead of again. The jobs run in a [`Pool`]: here, in `--jobs` workers or as
//! Slurm tasks, the decisions being the same.

use std::collections::{HashSet, VecDeque};
use std::sync::atomic::Ordering;

use anyhow::Result;

use super::pool::{Ended, Job, Pool};
use super::trial::Stop;
use super::{INTERRUPTED, RunOptions};
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
    /// Epochs trained (runs trained before cost none).
    pub epochs_trained: usize,
}

pub struct Scheduler<'a> {
    pub plan: &'a mut Plan,
    pub store: &'a Store,
    pub sweep: Option<&'a str>,
    pub options: &'a RunOptions,
    /// Positions in `plan.trials` of the planned trials to train, in order.
    pub queue: VecDeque<usize>,
    /// The runs so far, trained before included, by trial index.
    pub runs: Vec<(usize, RunRecord)>,
    /// The paused runs taken on so far: one is trained on by one trial only, when two
    /// trials have its configuration.
    pub continued: HashSet<String>,
}

/// A trial under successive halving.
struct Member {
    position: usize,
    /// Its run as its last job ended it.
    run: Option<RunRecord>,
    progress: TrialProgress,
    /// The rung its job trains it to, while one does.
    training_to: Option<usize>,
    /// Finished, stopped early or failed: it goes no further.
    ended: bool,
}

/// Asynchronous successive halving: each free slot promotes the best paused trial of the
/// highest rung that has one in its top `1 / reduction_factor`, or else starts a trial.
struct Halving {
    asha: Asha,
    members: Vec<Member>,
}

impl Halving {
    fn next(&self) -> Next {
        let progress: Vec<TrialProgress> = self
            .members
            .iter()
            .map(|member| member.progress.clone())
            .collect();
        let busy: Vec<usize> = (0..self.members.len())
            .filter(|&trial| {
                let member = &self.members[trial];
                member.training_to.is_some() || member.ended
            })
            .collect();
        next_job(&self.asha.rungs, &progress, &busy)
    }

    /// Where a job training to `rung` stops: paused after the rung's epoch, unless it is
    /// the last.
    fn stop_at(&self, rung: usize) -> Stop {
        let epochs = &self.asha.rungs.epochs;
        Stop {
            pause_after: (rung + 1 < epochs.len()).then(|| epochs[rung]),
        }
    }

    /// Takes in a trial, with the run an earlier `runner run` paused, at the rungs it
    /// reached; the job that takes it on to the first rung when it reached none.
    fn join_paused(
        &mut self,
        position: usize,
        run: RunRecord,
        store: &Store,
    ) -> Result<Option<Job>> {
        let mut progress = TrialProgress { values: Vec::new() };
        for &epochs in &self.asha.rungs.epochs {
            match value_at(store, &run, epochs, &self.asha.monitor)? {
                Some(value) if run.epochs >= epochs => {
                    progress.values.push(self.asha.mode.oriented(value));
                }
                _ => break,
            }
        }
        let first_rung = progress.values.is_empty();
        self.members.push(Member {
            position,
            run: Some(run.clone()),
            progress,
            training_to: first_rung.then_some(0),
            ended: false,
        });
        Ok(first_rung.then(|| Job {
            position,
            resume: Some(run),
            stop: self.stop_at(0),
        }))
    }

    /// Records where a trial's job left it.
    fn ended(&mut self, position: usize, run: Option<&RunRecord>, store: &Store) -> Result<()> {
        let Some(member) = self.members.iter_mut().find(|m| m.position == position) else {
            return Ok(());
        };
        let rung = member.training_to.take();
        let Some(run) = run else {
            member.ended = true;
            return Ok(());
        };
        if let Some(rung) = rung {
            let epochs = self.asha.rungs.epochs[rung];
            if run.epochs >= epochs
                && let Some(value) = value_at(store, run, epochs, &self.asha.monitor)?
            {
                member.progress.values.push(self.asha.mode.oriented(value));
            }
        }
        member.ended = run.status != RunStatus::Pruned;
        member.run = Some(run.clone());
        Ok(())
    }
}

impl Scheduler<'_> {
    pub fn run(mut self, pool: &mut dyn Pool, stages: &mut Stages) -> Result<Outcome> {
        let mut meter = BudgetMeter::new(self.plan.budget);
        let mut halving = self.plan.asha.clone().map(|asha| Halving {
            asha,
            members: Vec::new(),
        });
        let mut failures = Vec::new();
        loop {
            // Without halving, once nothing is left to start a spent budget has nothing
            // to stop; with it, promotions may still be left.
            while pool.busy() < pool.slots()
                && !INTERRUPTED.load(Ordering::SeqCst)
                && (halving.is_some() || self.not_started() > 0)
                && !meter.stop(self.not_started())
            {
                let Some(job) = self.next_job(halving.as_mut())? else {
                    break;
                };
                pool.start(self.plan, job, stages)?;
            }
            if pool.busy() == 0 {
                break;
            }
            for ended in pool.wait()? {
                self.ended(ended, halving.as_mut(), &mut meter, &mut failures)?;
            }
        }
        Ok(Outcome {
            runs: self.runs,
            failures,
            budget_spent: meter.spent,
            epochs_trained: meter.epochs,
        })
    }

    /// The next job: without halving the next trial; with it a promotion, or else the
    /// next trial to its first rung. `None` when there is nothing to start now.
    fn next_job(&mut self, halving: Option<&mut Halving>) -> Result<Option<Job>> {
        let Some(halving) = halving else {
            return Ok(self.next_new_trial()?.map(|(position, paused)| Job {
                position,
                resume: paused,
                stop: Stop::default(),
            }));
        };
        loop {
            match halving.next() {
                Next::Promote { trial, rung } => {
                    let stop = halving.stop_at(rung);
                    let member = &mut halving.members[trial];
                    member.training_to = Some(rung);
                    let run = member.run.clone().expect("a paused trial has a run");
                    tracing::info!(
                        "trial {}: promoted to rung {} ({} epochs)",
                        self.plan.trials[member.position].index,
                        rung + 1,
                        halving.asha.rungs.epochs[rung]
                    );
                    return Ok(Some(Job {
                        position: member.position,
                        resume: Some(run),
                        stop,
                    }));
                }
                Next::Start => {
                    let Some((position, paused)) = self.next_new_trial()? else {
                        return Ok(None);
                    };
                    let Some(run) = paused else {
                        halving.members.push(Member {
                            position,
                            run: None,
                            progress: TrialProgress { values: Vec::new() },
                            training_to: Some(0),
                            ended: false,
                        });
                        return Ok(Some(Job {
                            position,
                            resume: None,
                            stop: halving.stop_at(0),
                        }));
                    };
                    // Back at the rungs it reached, it is promoted when its values say so.
                    if let Some(job) = halving.join_paused(position, run, self.store)? {
                        return Ok(Some(job));
                    }
                }
            }
        }
    }

    /// Takes in what a job came to: its run, or a failure (which ends a file without a
    /// sweep).
    fn ended(
        &mut self,
        ended: Ended,
        halving: Option<&mut Halving>,
        meter: &mut BudgetMeter,
        failures: &mut Vec<String>,
    ) -> Result<()> {
        let index = self.plan.trials[ended.position].index;
        let run = match ended.run {
            Ok(run) => run,
            Err(error) if self.plan.is_sweep => {
                tracing::error!("trial {index} failed: {error:#}");
                failures.push(format!("trial {index}: {error:#}"));
                if let Some(halving) = halving {
                    halving.ended(ended.position, None, self.store)?;
                }
                return Ok(());
            }
            Err(error) => return Err(error),
        };
        meter.add(run.epochs.saturating_sub(ended.epochs_before));
        if let Some(halving) = halving {
            halving.ended(ended.position, Some(&run), self.store)?;
        }
        self.runs.retain(|(trial, _)| *trial != index);
        self.runs.push((index, run));
        Ok(())
    }

    /// Trials the sweep has yet to start: planned ones, then those TPE will choose.
    fn not_started(&self) -> usize {
        self.queue.len()
            + self
                .plan
                .trial_count()
                .saturating_sub(self.plan.trials.len())
    }

    /// The position in the plan of the next trial to train, with the run an earlier
    /// `runner run` paused for it if there is one: the planned trials in order, then each
    /// that TPE chooses from the runs so far (one trained before is taken as it is).
    /// `None` when there are no more.
    fn next_new_trial(&mut self) -> Result<Option<(usize, Option<RunRecord>)>> {
        if let Some(position) = self.queue.pop_front() {
            return Ok(Some((position, self.take_paused(position)?)));
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
                _ => return Ok(Some((index, self.take_paused(index)?))),
            }
        }
        Ok(None)
    }

    /// Says the trial at `position` starts, and takes the run an earlier `runner run`
    /// paused for it, if any, into this sweep.
    fn take_paused(&mut self, position: usize) -> Result<Option<RunRecord>> {
        let trial = &self.plan.trials[position];
        let paused = trial
            .paused
            .clone()
            .filter(|run| !self.options.retrain && self.continued.insert(run.id.clone()));
        let Some(run) = paused else {
            self.log_start(position);
            return Ok(None);
        };
        tracing::info!(
            "trial {}: trains on from run {}, paused after epoch {} by an earlier run of the sweep",
            trial.index,
            run.id,
            run.epochs
        );
        if let Some(sweep) = self.sweep {
            self.store.join_sweep(&run.id, sweep)?;
        }
        Ok(Some(run))
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
}

/// The run's `monitor` at `epoch`, from its recorded history.
fn value_at(store: &Store, run: &RunRecord, epoch: usize, monitor: &str) -> Result<Option<f64>> {
    if run.epochs == epoch {
        return Ok(run.last.get(monitor).copied());
    }
    let history = store.epochs(&run.id)?;
    Ok(history
        .iter()
        .find(|metrics| metrics.epoch == epoch)
        .and_then(|metrics| metrics.value(monitor)))
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
            "budget spent ({reason}): {left} trial(s) not started; running the file again continues with them and trains paused trials on"
        );
        self.spent = Some((reason, left));
        true
    }
}
