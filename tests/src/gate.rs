//! An rsync that waits at a gate: a wrapper script for `--rsync` whose copying runs block
//! until the test opens the gate (it holds an exclusive `flock` on a file; each run takes a
//! shared one first), so a session stays under way for as long as a test looks at it,
//! without any sleep. A trial run (`rsync --dry-run …`, which a source makes of its options
//! before it joins) passes at once.

use std::fs::File;
use std::os::fd::AsRawFd;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// The gate, closed until [`RsyncGate::open`] or drop.
pub struct RsyncGate {
    script: PathBuf,
    lock: Option<File>,
}

impl RsyncGate {
    /// A closed gate with its script in `dir`.
    pub fn closed(dir: &Path) -> RsyncGate {
        let lock_path = dir.join("rsync-gate.lock");
        let lock = File::create(&lock_path).expect("create the gate's lock file");
        // SAFETY: flock(2) on a descriptor we own.
        let rc = unsafe { libc::flock(lock.as_raw_fd(), libc::LOCK_EX) };
        assert_eq!(rc, 0, "lock the gate");
        let script = dir.join("rsync-at-a-gate");
        std::fs::write(
            &script,
            format!(
                "#!/bin/sh\ncase \"$1\" in --dry-run) ;; *) flock -s '{}' true ;; esac\nexec rsync \"$@\"\n",
                lock_path.display()
            ),
        )
        .expect("write the gate's script");
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
        RsyncGate {
            script,
            lock: Some(lock),
        }
    }

    /// The wrapper, for `--rsync`.
    pub fn rsync(&self) -> &Path {
        &self.script
    }

    /// Lets every waiting and later run through.
    pub fn open(&mut self) {
        self.lock = None;
    }
}
