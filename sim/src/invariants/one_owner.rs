//! 3. At most one live owner per chunk: no two runs of one chunk overlap in time — not even
//!    when an agent is frozen while its rsync runs on (its watchdog must stop it first). A
//!    killed rsync is dead at once.

use super::{Check, Violation};

const NAME: &str = "one-owner";

/// When `client` starts an rsync of `chunk`: `others` are the clients already running one.
pub fn check_spawn(client: &str, chunk: &str, others: &[String]) -> Check {
    if others.is_empty() {
        Ok(())
    } else {
        Err(Violation::new(
            NAME,
            format!(
                "{client} started rsync for chunk {chunk} while {} still run(s) it",
                others.join(", ")
            ),
        ))
    }
}
