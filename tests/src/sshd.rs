//! Private SSH hosts for the launcher's tests: one sshd (Debian's openssh-server) on each
//! of 127.0.0.2, 127.0.0.3 and 127.0.0.4, started with `scripts/sshd-hosts` with private host
//! keys, a generated user key and a private known_hosts; stopped when dropped.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::zk::repo_root;

/// The loopback addresses the hosts listen on.
pub const ADDRS: [&str; 3] = ["127.0.0.2", "127.0.0.3", "127.0.0.4"];

fn script(args: &[&str]) -> String {
    let out = Command::new(repo_root().join("scripts/sshd-hosts"))
        .args(args)
        .output()
        .expect("run scripts/sshd-hosts");
    assert!(
        out.status.success(),
        "scripts/sshd-hosts {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("UTF-8")
}

/// Three running sshd "hosts".
pub struct SshHosts {
    dir: tempfile::TempDir,
}

impl SshHosts {
    /// Starts them.
    pub fn start() -> SshHosts {
        let dir = tempfile::Builder::new()
            .prefix("zkrsync-sshd-")
            .tempdir()
            .expect("temp dir");
        let mut args = vec!["start", dir.path().to_str().expect("UTF-8 temp dir")];
        args.extend(ADDRS);
        script(&args);
        SshHosts { dir }
    }

    /// The port of the sshd on `addr`.
    pub fn port(&self, addr: &str) -> u16 {
        std::fs::read_to_string(self.dir.path().join(addr).join("port"))
            .expect("port file")
            .trim()
            .parse()
            .expect("a port")
    }

    /// A host-file line for `addr` with its port and `options`.
    pub fn line(&self, addr: &str, options: &str) -> String {
        format!("{addr} port={} {options}\n", self.port(addr))
    }

    /// The user's private key (its public half is in every host's authorized_keys).
    pub fn user_key(&self) -> PathBuf {
        self.dir.path().join("user_key")
    }

    /// A known_hosts file with every host's key.
    pub fn known_hosts(&self) -> PathBuf {
        self.dir.path().join("known_hosts")
    }

    /// The directory of it all.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Gives `addr` a new host key (as a reinstalled host, or a man in the middle, would
    /// have) and restarts its sshd on the same port.
    pub fn rekey(&self, addr: &str) {
        script(&["rekey", self.dir.path().to_str().expect("UTF-8"), addr]);
    }
}

impl Drop for SshHosts {
    fn drop(&mut self) {
        let _ = Command::new(repo_root().join("scripts/sshd-hosts"))
            .arg("stop")
            .arg(self.dir.path())
            .output();
    }
}
