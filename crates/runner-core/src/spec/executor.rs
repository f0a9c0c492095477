//! `[executor]`: how `runner run --executor slurm` asks Slurm for each trial. None of it
//! changes what is trained, so it is neither a parameter of the runs nor part of any stage
//! key; the local executor ignores it.

use std::path::PathBuf;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// What each trial's Slurm task gets, and where tasks leave their results.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ExecutorSpec {
    /// The Slurm partition (`sbatch --partition`); the cluster's default when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub partition: Option<String>,
    /// Each task's time limit in Slurm's format (`sbatch --time`): `"30"` minutes,
    /// `"2:00:00"`, `"1-12:00:00"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_limit: Option<String>,
    /// CPU cores per trial (`sbatch --cpus-per-task`); LibTorch uses that many threads.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(transform = super::bounds::AT_LEAST_ONE.in_schema())]
    pub cpus_per_trial: Option<u32>,
    /// GPUs per trial (`sbatch --gres=gpu:N`); with any, the trial trains on CUDA.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gpus_per_trial: Option<u32>,
    /// Memory per trial in Slurm's format (`sbatch --mem`): `"16G"`, `"4000M"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory: Option<String>,
    /// Tasks of the array running at once (`sbatch --array=...%N`); all when absent. A
    /// sweep that decides as its trials end (tpe, successive halving, a budget) submits a
    /// task per trial or promotion, this many at once, 4 when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(transform = super::bounds::AT_LEAST_ONE.in_schema())]
    pub max_concurrent: Option<u32>,
    /// More `sbatch` arguments, as given (`["--account=vision", "--qos=low"]`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sbatch_args: Vec<String>,
    /// A folder every node can write, where tasks leave their result bundles and logs;
    /// relative to the pipeline file. Default: `slurm/` in the store, which the tasks read
    /// the shared stages from and so must see anyway.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shared_dir: Option<PathBuf>,
}
