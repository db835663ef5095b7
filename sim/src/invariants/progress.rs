//! 4. Progress: once faults stop, with sources, destinations and ZooKeeper up, the session
//!    completes and every client exits.

use std::time::Duration;

use super::{Check, Violation};

const NAME: &str = "progress";

/// When the liveness phase ran out of time or of events with clients still running.
pub fn check_all_exited(still_running: &[String], waited: Duration, idle: bool) -> Check {
    if still_running.is_empty() {
        return Ok(());
    }
    Err(Violation::new(
        NAME,
        format!(
            "{} after {:.1} s without faults: {} still running",
            if idle {
                "nothing more happens"
            } else {
                "the session did not complete"
            },
            waited.as_secs_f64(),
            still_running.join(", ")
        ),
    ))
}

/// Every client's last exit code is 0 (1 for the master when chunks failed for good).
pub fn check_exit_codes(codes: &[(String, i32)]) -> Check {
    let bad: Vec<String> = codes
        .iter()
        .filter(|(_, c)| *c != 0 && *c != 1)
        .map(|(n, c)| format!("{n} exited with {c}"))
        .collect();
    if bad.is_empty() {
        Ok(())
    } else {
        Err(Violation::new(NAME, bad.join(", ")))
    }
}
