//! An agent started by `zkrsync-launch` over SSH (`--watch-stdin`) takes its orders on
//! standard input, because closing an SSH channel does not signal the remote command
//! (docs/pitfalls.md): `t` stops it cleanly, as SIGTERM does; `k` ends it at once, its rsync
//! processes with it; the end of input (the launcher or its connection is gone) stops it
//! cleanly, and if that takes longer than [`GRACE`] it ends at once, so nothing outlives
//! a lost launcher.
//!
//! With `--auth-stdin` the first line of that input is the session's credentials, which
//! the agent reads (agent/zk_connect.rs) while it checks its arguments, before this watch
//! starts: the orders follow that line, from the same buffered standard input.

use std::io::Read as _;
use std::time::Duration;

use tokio::sync::mpsc;
use zkrsync_core::protocol::{exit_code, Input};

/// How long a clean stop may take once the launcher is gone.
pub const GRACE: Duration = Duration::from_secs(30);

/// Watches standard input on a thread of its own, sending [`Input::Interrupt`] to the
/// machine when told to stop.
pub fn watch(inputs: mpsc::UnboundedSender<Input>) {
    let spawned = std::thread::Builder::new()
        .name("stdin lifeline".into())
        .spawn(move || {
            let mut stdin = std::io::stdin().lock();
            let mut buf = [0u8; 64];
            loop {
                match stdin.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => {
                        for order in &buf[..n] {
                            match order {
                                b't' => {
                                    let _ = inputs.send(Input::Interrupt);
                                }
                                b'k' => end_now("killed by zkrsync-launch"),
                                _ => {}
                            }
                        }
                    }
                }
            }
            tracing::warn!("zkrsync-launch is gone (standard input closed): stopping");
            let _ = inputs.send(Input::Interrupt);
            std::thread::sleep(GRACE);
            end_now("did not stop within 30 s of losing zkrsync-launch");
        });
    if let Err(e) = spawned {
        tracing::error!("cannot watch standard input: {e}");
    }
}

fn end_now(why: &str) -> ! {
    tracing::error!("{why}: exiting at once");
    // Its children die with it (PR_SET_PDEATHSIG, see child_death.rs).
    std::process::exit(exit_code::INTERRUPTED)
}
