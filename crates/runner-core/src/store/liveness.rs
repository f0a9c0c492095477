//! Telling a run whose process died (kill -9, power loss) from one still training: on the
//! recording host by whether its process still exists, elsewhere by its heartbeat.

use std::time::Duration;

use super::record::{ProcessId, RunStatus};

/// How often a training process refreshes its run's heartbeat.
pub const HEARTBEAT_INTERVAL: Duration = Duration::from_secs(30);
/// A run recorded on another host is taken for dead after this long without a heartbeat.
const STALE_AFTER: Duration = Duration::from_mins(10);

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

/// The liveness fields of a run record (full or summary), borrowed so that one function
/// marks both.
pub(super) struct Liveness<'a> {
    pub status: &'a mut RunStatus,
    pub reason: &'a mut Option<String>,
    pub recorded_host: &'a str,
    pub process: ProcessId,
    pub heartbeat_at: u64,
}

/// Marks a run recorded as `running` as `interrupted` when it is in fact dead: on the
/// recording host its process is gone, elsewhere its heartbeat is stale.
pub(super) fn mark_if_stale(run: Liveness<'_>, host: &str, now_millis: u64) {
    if *run.status != RunStatus::Running {
        return;
    }
    let gone = if run.recorded_host == host {
        !is_alive(run.process)
    } else {
        now_millis.saturating_sub(run.heartbeat_at) > STALE_AFTER.as_millis() as u64
    };
    if gone {
        *run.status = RunStatus::Interrupted;
        *run.reason = Some(format!(
            "the recording process (pid {} on {}) ended without finishing the run",
            run.process.pid, run.recorded_host
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

/// Field 22 of `/proc/PID/stat`, or `None` when the process is gone or a zombie (killed,
/// not yet reaped by its parent: it runs no more). The command name before the fields
/// may hold spaces and parentheses, so fields are counted after its closing parenthesis.
fn start_ticks(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let mut fields = stat[stat.rfind(')')? + 1..].split_whitespace();
    if fields.next()? == "Z" {
        return None;
    }
    fields.nth(18)?.parse().ok()
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
