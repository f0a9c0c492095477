//! A request's query string, decoded once: keys may repeat (`where=a&where=b`), and lists
//! may also be written comma-separated (`runs=a,b`).

use super::api::{ApiError, ApiResult};

pub struct Query {
    pairs: Vec<(String, String)>,
}

impl Query {
    pub fn parse(raw: Option<&str>) -> Self {
        let pairs = form_urlencoded::parse(raw.unwrap_or_default().as_bytes())
            .map(|(key, value)| (key.into_owned(), value.into_owned()))
            .collect();
        Self { pairs }
    }

    /// Every value of `key`, in order.
    pub fn all(&self, key: &str) -> Vec<&str> {
        self.pairs
            .iter()
            .filter(|(name, _)| name == key)
            .map(|(_, value)| value.as_str())
            .collect()
    }

    /// The last value of `key`, unless empty.
    pub fn one(&self, key: &str) -> Option<&str> {
        self.all(key)
            .into_iter()
            .next_back()
            .filter(|value| !value.is_empty())
    }

    /// Every value of `key`, each split at commas, without empty items.
    pub fn list(&self, key: &str) -> Vec<&str> {
        self.all(key)
            .into_iter()
            .flat_map(|value| value.split(','))
            .map(str::trim)
            .filter(|item| !item.is_empty())
            .collect()
    }

    pub fn number(&self, key: &str) -> ApiResult<Option<usize>> {
        self.one(key)
            .map(|text| {
                text.parse().map_err(|_| {
                    ApiError::bad_request(format!("{key}={text}: give a whole number"))
                })
            })
            .transpose()
    }

    /// `key`, `key=1` or `key=true` is on; absent, `0` or `false` off.
    pub fn flag(&self, key: &str) -> ApiResult<bool> {
        match self.all(key).into_iter().next_back() {
            None | Some("0" | "false") => Ok(false),
            Some("" | "1" | "true") => Ok(true),
            Some(other) => Err(ApiError::bad_request(format!("{key}={other}: give 1 or 0"))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_repeated_and_listed_values() {
        let query = Query::parse(Some(
            "where=head.2.rate+%3E%3D+0.2&where=val_accuracy>0.9&runs=a,b&runs=c&last&limit=x",
        ));
        assert_eq!(
            query.all("where"),
            ["head.2.rate >= 0.2", "val_accuracy>0.9"]
        );
        assert_eq!(query.list("runs"), ["a", "b", "c"]);
        assert!(query.flag("last").unwrap());
        assert!(!query.flag("no_group").unwrap());
        assert_eq!(query.number("limit").unwrap_err().status, 400);
        assert_eq!(query.one("sort"), None);
    }
}
