//! Telling a run whose process died (kill -9, power loss) from one still training: on the
//! recording host by whether its process still exists, elsewhere by its heartbeat.

use std::time::Duration;

use super::record::{ProcessId, RunRecord, RunStatus};

/// How often a training process refreshes its run's heartbeat.
pub const HEARTBEAT_INTERVAL: Duration = Duration::from_secs(30);
/// A run recorded on another host is taken for dead after this long without a heartbeat.
const STALE_AFTER: Duration = Duration::from_secs(10 * 60);

/// This process, as recorded in its runs.
pub fn this_process() -> ProcessId {
    let pid = std::process::id();
    ProcessId {
        pid,
        start_ticks: start_ticks(pid),
    }
}

pub fn this_host() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|name| name.trim().to_string())
        .unwrap_or_default()
}

/// Shows a `running` record whose process is gone as `interrupted`, with the reason.
pub fn mark_if_stale(record: &mut RunRecord, host: &str, now_millis: u64) {
    if record.status != RunStatus::Running {
        return;
    }
    let gone = if record.host == host {
        !is_alive(record.process)
    } else {
        now_millis.saturating_sub(record.heartbeat_at) > STALE_AFTER.as_millis() as u64
    };
    if gone {
        record.status = RunStatus::Interrupted;
        record.reason = Some(format!(
            "the recording process (pid {} on {}) ended without finishing the run",
            record.process.pid, record.host
        ));
    }
}

fn is_alive(process: ProcessId) -> bool {
    match (start_ticks(process.pid), process.start_ticks) {
        (None, _) => false,
        (Some(now), Some(recorded)) => now == recorded,
        (Some(_), None) => true,
    }
}

/// Field 22 of `/proc/PID/stat`; the command name before it may hold spaces and
/// parentheses, so fields are counted after its closing parenthesis.
fn start_ticks(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after_name = &stat[stat.rfind(')')? + 1..];
    after_name.split_whitespace().nth(19)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_is_alive_and_a_reused_pid_is_not() {
        let me = this_process();
        assert!(me.start_ticks.is_some());
        assert!(is_alive(me));
        let reused = ProcessId {
            start_ticks: me.start_ticks.map(|ticks| ticks + 1),
            ..me
        };
        assert!(!is_alive(reused));
        assert!(!is_alive(ProcessId {
            pid: u32::MAX,
            start_ticks: None
        }));
    }
}
