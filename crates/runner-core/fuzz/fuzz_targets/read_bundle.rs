//! Any bytes given as a result bundle (its folder name, a newline, then its
//! `bundle.json`) are accepted or refused with a reason, without a panic; an accepted
//! bundle names its run by a run id equal to its folder's name, keeps every artifact in
//! its run's checkpoint folder, and is not running.
//!
//!     mkdir -p corpus-bundle
//!     RUSTC_BOOTSTRAP=1 cargo fuzz run --sanitizer none read_bundle corpus-bundle bundle_seeds -- -max_total_time=600

#![no_main]

use libfuzzer_sys::fuzz_target;
use runner_core::store::{RunStatus, is_run_id, parse_bundle};

fuzz_target!(|data: &[u8]| {
    let split = data
        .iter()
        .position(|&byte| byte == b'\n')
        .unwrap_or(data.len());
    let Ok(name) = std::str::from_utf8(&data[..split]) else {
        return;
    };
    let json = data.get(split + 1..).unwrap_or_default();
    match parse_bundle(name, "sweep-x", json) {
        Ok(bundle) => {
            let record = &bundle.record;
            assert!(is_run_id(&record.id) && record.id == name);
            let folder = format!("checkpoints/{name}/");
            for artifact in record.artifacts.values() {
                let file = artifact.path.strip_prefix(&folder).unwrap();
                assert!(!file.is_empty() && !file.contains('/') && file != "..");
            }
            assert_ne!(record.status, RunStatus::Running);
        }
        Err(reason) => assert!(!reason.is_empty()),
    }
});
