//! `last` and `last~N`: the newest run and the N-th run before it, accepted wherever a run
//! id is (as git's `HEAD~N`). A run id starts with its start time, so the runs tree, sorted
//! by id, ends with the newest runs.

use anyhow::Result;

use super::Store;
use crate::bail_input;

/// How many runs back from the newest `selector` counts (`last` is 0, `last~2` is 2), or
/// `None` when it is not of that form. No run id starts with `last`.
fn steps_back(selector: &str) -> Result<Option<usize>> {
    let Some(rest) = selector.strip_prefix("last") else {
        return Ok(None);
    };
    if rest.is_empty() {
        return Ok(Some(0));
    }
    let Some(count) = rest.strip_prefix('~') else {
        return Ok(None);
    };
    match count.parse::<usize>() {
        Ok(count) => Ok(Some(count)),
        Err(_) => bail_input!(
            "`{selector}`: after `last~` comes how many runs back, a whole number, as in `last~2`"
        ),
    }
}

impl Store {
    /// The id `selector` stands for when it is `last` or `last~N`; `None` for anything else
    /// (an id or a prefix of one). An error when the store has too few runs.
    pub fn relative_run_id(&self, selector: &str) -> Result<Option<String>> {
        let Some(back) = steps_back(selector)? else {
            return Ok(None);
        };
        // Counting the runs walks the whole tree: only an error needs the count.
        let (found, count) = self
            .read(|db| {
                let runs = db.open_tree("runs")?;
                Ok(match runs.iter().keys().rev().nth(back).transpose()? {
                    Some(key) => (Some(key), 0),
                    None => (None, runs.len()),
                })
            })?
            .unwrap_or_default();
        match found {
            Some(key) => Ok(Some(String::from_utf8_lossy(&key).into_owned())),
            None if count == 0 => bail_input!(
                "`{selector}`: no run is recorded in the store at `{}`",
                self.root().display()
            ),
            None => bail_input!(
                "`{selector}`: the store at `{}` has {count} run{}, so the oldest is `last~{}`",
                self.root().display(),
                if count == 1 { "" } else { "s" },
                count - 1
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::error::is_input_error;
    use crate::report::compare::tests::run;
    use crate::store::Store;

    #[test]
    fn last_and_last_n_count_back_from_the_newest_run() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::new(dir.path());
        let error = store.find_run("last").unwrap_err();
        assert!(is_input_error(&error));
        assert!(error.to_string().contains("no run is recorded"), "{error}");
        // Created out of order: ids, which start with the start time, decide.
        for id in [
            "20261130-090000-222aaaaaaaa",
            "20261130-100000-333aaaaaaaa",
            "20261130-080000-111aaaaaaaa",
        ] {
            store
                .create_run(&run(id, &[], 0.9, 0.1), "[pipeline]")
                .unwrap();
        }
        let id = |selector: &str| store.find_run(selector).map(|run| run.id);
        assert_eq!(id("last").unwrap(), "20261130-100000-333aaaaaaaa");
        assert_eq!(id("last~0").unwrap(), "20261130-100000-333aaaaaaaa");
        assert_eq!(id("last~1").unwrap(), "20261130-090000-222aaaaaaaa");
        assert_eq!(id("last~2").unwrap(), "20261130-080000-111aaaaaaaa");
        for (selector, message) in [
            ("last~3", "has 3 runs, so the oldest is `last~2`"),
            ("last~x", "a whole number"),
            ("last~", "a whole number"),
            ("last~-1", "a whole number"),
        ] {
            let error = id(selector).unwrap_err();
            assert!(is_input_error(&error), "{selector}");
            assert!(error.to_string().contains(message), "{selector}: {error}");
        }
        // Anything else is an id or a prefix, as before.
        assert_eq!(id("20261130-08").unwrap(), "20261130-080000-111aaaaaaaa");
        assert!(id("lastly").is_err());
        assert_eq!(
            store
                .runs_to_remove(&["last~1".into()])
                .unwrap()
                .iter()
                .map(|run| run.id.as_str())
                .collect::<Vec<_>>(),
            ["20261130-090000-222aaaaaaaa"]
        );
    }
}
