//! Where a sweep's jobs run: here, one at a time, or in `--jobs` worker processes, or as
//! Slurm tasks. The scheduler (`schedule.rs`) decides what to train next; a pool only
//! trains it and says when it has ended, so every search, halving and budget works the
//! same on each.

use anyhow::Result;

use super::checkpoints::latest_snapshot;
use super::trial::{Start, Stop, run_trial};
use super::{RunOptions, reopen_for_training};
use crate::plan::Plan;
use crate::stages::Stages;
use crate::store::{RunRecord, Store};

/// One piece of work: train the trial at `position` in the plan, afresh or on from a run
/// that successive halving paused, until `stop`.
pub struct Job {
    pub position: usize,
    pub resume: Option<RunRecord>,
    pub stop: Stop,
}

impl Job {
    /// The epochs the job's run had before it (those a budget has counted already).
    pub fn epochs_before(&self) -> usize {
        self.resume.as_ref().map_or(0, |run| run.epochs)
    }
}

/// A job that has ended: the trial's run as it ended (finished, stopped early or paused),
/// or why it has none.
pub struct Ended {
    pub position: usize,
    pub epochs_before: usize,
    pub run: Result<RunRecord>,
}

pub trait Pool {
    /// How many jobs may run at once.
    fn slots(&self) -> usize;
    /// How many jobs have started and not yet been returned by [`Pool::wait`].
    fn busy(&self) -> usize;
    fn start(&mut self, plan: &Plan, job: Job, stages: &mut Stages) -> Result<()>;
    /// Waits until at least one started job has ended and returns those that have.
    fn wait(&mut self) -> Result<Vec<Ended>>;
}

/// Jobs trained in this process, one at a time: `start` trains the job to its end.
pub struct InProcess<'a> {
    pub store: &'a Store,
    pub options: &'a RunOptions,
    pub sweep: Option<&'a str>,
    pub ended: Vec<Ended>,
}

impl Pool for InProcess<'_> {
    fn slots(&self) -> usize {
        1
    }

    fn busy(&self) -> usize {
        self.ended.len()
    }

    fn start(&mut self, plan: &Plan, job: Job, stages: &mut Stages) -> Result<()> {
        let trial = &plan.trials[job.position];
        let epochs_before = job.epochs_before();
        let start = match job.resume {
            Some(run) => {
                let Some(snapshot) = latest_snapshot(self.store, &run.id)? else {
                    anyhow::bail!("run {} was paused without a snapshot", run.id);
                };
                let record = reopen_for_training(self.store, run, &snapshot)?;
                Start::Resume {
                    record: Box::new(record),
                    snapshot: Box::new(snapshot),
                }
            }
            None => Start::Fresh { sweep: self.sweep },
        };
        self.ended.push(Ended {
            position: job.position,
            epochs_before,
            run: run_trial(trial, start, job.stop, stages, self.options),
        });
        Ok(())
    }

    fn wait(&mut self) -> Result<Vec<Ended>> {
        Ok(std::mem::take(&mut self.ended))
    }
}
