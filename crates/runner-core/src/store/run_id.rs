//! Run ids that sort by start time (to the millisecond) and are short enough to type:
//! `20261128-183012-456k3`.

use std::time::{SystemTime, UNIX_EPOCH};

use rand::Rng;

pub fn new_run_id() -> String {
    let now = SystemTime::now();
    // "2026-11-28T18:30:12.456Z" -> "20261128183012456"
    let digits: String = humantime::format_rfc3339_millis(now)
        .to_string()
        .chars()
        .filter(char::is_ascii_digit)
        .collect();
    // Two runs started in the same millisecond still get different ids.
    let alphabet = b"abcdefghijkmnpqrstuvwxyz23456789";
    let suffix: String = (0..2)
        .map(|_| alphabet[rand::rng().random_range(0..alphabet.len())] as char)
        .collect();
    format!(
        "{}-{}-{}{suffix}",
        &digits[..8],
        &digits[8..14],
        &digits[14..17]
    )
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
        assert_eq!(id.len(), 21, "{id}");
        assert_eq!(&id[8..9], "-");
        assert_eq!(&id[15..16], "-");
        assert!(id[..8].chars().all(|c| c.is_ascii_digit()));
        assert!(id[16..19].chars().all(|c| c.is_ascii_digit()));
    }

    #[test]
    fn later_ids_sort_after_earlier_ones() {
        let first = new_run_id();
        std::thread::sleep(std::time::Duration::from_millis(2));
        assert!(new_run_id() > first);
    }
}
