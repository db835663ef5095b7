//! Children that die with their parent: an rsync whose agent was killed (kill -9 included)
//! must not go on copying, and a destination's daemon must not outlive it.

/// Makes the child started by `cmd` receive SIGKILL when the thread that started it exits.
/// Children are started from the runtime's worker threads, which live as long as the agent.
pub fn die_with_parent(cmd: &mut tokio::process::Command) {
    // SAFETY: prctl and getppid are async-signal-safe; nothing else runs between fork and
    // exec here.
    unsafe {
        cmd.pre_exec(|| {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            // The parent may have died before prctl took effect.
            if libc::getppid() == 1 {
                libc::_exit(1);
            }
            Ok(())
        });
    }
}
