//! Run ids that sort by start time and are short enough to type: `20261128-183012-k3f`.

use std::time::{SystemTime, UNIX_EPOCH};

use rand::Rng;

pub fn new_run_id() -> String {
    let now = humantime::format_rfc3339_seconds(SystemTime::now()).to_string();
    // "2026-11-28T18:30:12Z" -> "20261128-183012"
    let digits: String = now.chars().filter(char::is_ascii_digit).collect();
    let suffix: String = (0..3)
        .map(|_| {
            let alphabet = b"abcdefghijkmnpqrstuvwxyz23456789";
            alphabet[rand::rng().random_range(0..alphabet.len())] as char
        })
        .collect();
    format!("{}-{}-{suffix}", &digits[..8], &digits[8..14])
}

/// Milliseconds since the Unix epoch, the store's time unit.
pub fn now_millis() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_millis() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_have_the_documented_shape() {
        let id = new_run_id();
        assert_eq!(id.len(), 19, "{id}");
        assert_eq!(&id[8..9], "-");
        assert_eq!(&id[15..16], "-");
        assert!(id[..8].chars().all(|c| c.is_ascii_digit()));
    }
}
