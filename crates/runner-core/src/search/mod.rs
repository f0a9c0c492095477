//! Search that learns and prunes (issue #19): the TPE sampler, which picks the next trial
//! from the finished ones, and asynchronous successive halving, which decides which trials
//! train further. Both are pure decisions over recorded values; `bench/search/` replays
//! them against recorded learning curves beside Optuna's.

pub mod asha;
pub mod space;
pub mod tpe;
