//! What one `runner run` of a sweep did as a whole, beside its runs' records: the rungs
//! successive halving compared trials at, the budget and what was spent of it. `runner
//! compare --sweep` shows it under the sweep's table.

use anyhow::Result;
use serde::{Deserialize, Serialize};

use super::db::{Store, parse};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SweepRecord {
    pub sweep: String,
    /// The trials the sweep has (for a tpe sweep, all it chooses).
    pub trials: usize,
    /// The epochs of successive halving's rungs, if it had them.
    #[serde(default)]
    pub rungs: Vec<usize>,
    /// The budget of one `runner run` (`20m`, `30 epochs`), if it had one.
    #[serde(default)]
    pub budget: Option<String>,
    /// Why the budget stopped the sweep, and how many trials it did not start.
    #[serde(default)]
    pub budget_spent: Option<(String, usize)>,
    /// Epochs trained by this `runner run` (runs trained before cost none).
    pub epochs_trained: usize,
}

impl Store {
    pub fn record_sweep(&self, record: &SweepRecord) -> Result<()> {
        let value = serde_json::to_vec(record)?;
        self.write(|db| {
            db.open_tree("sweeps")?
                .insert(record.sweep.as_bytes(), value)?;
            Ok(())
        })
    }

    /// The record of sweep `sweep`, if the store has one it can read; one it cannot read
    /// is left alone with a warning.
    pub fn sweep_record(&self, sweep: &str) -> Result<Option<SweepRecord>> {
        let found = self.read(|db| Ok(db.open_tree("sweeps")?.get(sweep.as_bytes())?))?;
        let Some(Some(value)) = found else {
            return Ok(None);
        };
        match parse(sweep.as_bytes(), &value) {
            Ok(record) => Ok(Some(record)),
            Err(error) => {
                tracing::warn!("{error:#}");
                Ok(None)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sweep_record_reads_back_and_a_damaged_one_is_left_alone() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::new(dir.path());
        let record = SweepRecord {
            sweep: "sweep-a".into(),
            trials: 6,
            rungs: vec![1, 2, 4],
            budget: Some("5 epochs".into()),
            budget_spent: Some(("5 of 5 epochs trained".into(), 2)),
            epochs_trained: 5,
        };
        store.record_sweep(&record).unwrap();
        assert_eq!(store.sweep_record("sweep-a").unwrap(), Some(record));
        assert_eq!(store.sweep_record("sweep-b").unwrap(), None);
        store
            .write(|db| Ok(db.open_tree("sweeps")?.insert("sweep-a", "{not json")?))
            .unwrap();
        assert_eq!(store.sweep_record("sweep-a").unwrap(), None);
    }
}
