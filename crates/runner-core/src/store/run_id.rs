//! Run ids that sort by start time (to the millisecond), end in 40 random bits, and are
//! safe as a folder name: `20261128-183012-456k3mx7q2p`. Ids are also the names of
//! checkpoint folders and bundles, so whatever comes from outside (a bundle, a record
//! read back) is used as a path only once [`is_run_id`] accepts it.

use std::time::{SystemTime, UNIX_EPOCH};

use rand::Rng;

/// Lower-case letters and digits without the look-alikes (0/o, 1/l).
const ALPHABET: &[u8] = b"abcdefghijkmnpqrstuvwxyz23456789";
/// Random characters at the end of an id: 40 bits, so even a thousand Slurm tasks
/// starting in the same millisecond collide with a chance under one in a million.
const RANDOM_CHARS: usize = 8;
/// What ids had before (10 random bits); stores keep them, so they stay valid.
const LEGACY_RANDOM_CHARS: usize = 2;
/// `YYYYMMDD-HHMMSS-mmm`, the time part of an id.
const TIME_CHARS: usize = 19;

/// The shortest prefix `runner rm` deletes by: the date and time to the second
/// (`20261128-183012`), so a typo or an empty variable never matches many runs.
pub const MIN_PREFIX: usize = 15;

pub fn new_run_id() -> String {
    let now = SystemTime::now();
    // "2026-11-28T18:30:12.456Z" -> "20261128183012456"
    let digits: String = humantime::format_rfc3339_millis(now)
        .to_string()
        .chars()
        .filter(char::is_ascii_digit)
        .collect();
    let mut rng = rand::rng();
    let suffix: String = (0..RANDOM_CHARS)
        .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char)
        .collect();
    format!(
        "{}-{}-{}{suffix}",
        &digits[..8],
        &digits[8..14],
        &digits[14..17]
    )
}

/// Whether `id` has the shape [`new_run_id`] gives (or gave, before ids had 40 random
/// bits): nothing else is ever joined to a store path.
pub fn is_run_id(id: &str) -> bool {
    let bytes = id.as_bytes();
    if bytes.len() != TIME_CHARS + RANDOM_CHARS && bytes.len() != TIME_CHARS + LEGACY_RANDOM_CHARS {
        return false;
    }
    let (time, random) = bytes.split_at(TIME_CHARS);
    let time_ok = time.iter().enumerate().all(|(at, byte)| match at {
        8 | 15 => *byte == b'-',
        _ => byte.is_ascii_digit(),
    });
    time_ok && random.iter().all(|byte| ALPHABET.contains(byte))
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
        assert_eq!(id.len(), 27, "{id}");
        assert_eq!(&id[8..9], "-");
        assert_eq!(&id[15..16], "-");
        assert!(id[..8].chars().all(|c| c.is_ascii_digit()));
        assert!(id[16..19].chars().all(|c| c.is_ascii_digit()));
        assert!(is_run_id(&id), "{id}");
    }

    #[test]
    fn later_ids_sort_after_earlier_ones() {
        let first = new_run_id();
        std::thread::sleep(std::time::Duration::from_millis(2));
        assert!(new_run_id() > first);
    }

    #[test]
    fn only_generated_ids_are_run_ids() {
        assert!(
            is_run_id("20261128-183012-456k3"),
            "ids from before stay valid"
        );
        for hostile in [
            "",
            ".",
            "..",
            "../../x",
            "/etc",
            "20261128-183012-456k3/../..",
            "20261128-183012-456K3MX7Q2P",
            "20261128-183012-456k3mx7q2\n",
            "20261128-183012-456k3mx7q2p-",
            "2026112a-183012-456k3mx7q2p",
            "20261128_183012-456k3mx7q2p",
            "20261128-183012-456k3mx7q",
            "20261128-183012-456k3mx7q2p.rejected",
        ] {
            assert!(!is_run_id(hostile), "{hostile:?}");
        }
    }
}
