//! Private ZooKeeper servers for the tests, started with `scripts/zk` on loopback.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The repository's root.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("repo root")
        .to_owned()
}

fn script(args: &[&str]) -> String {
    script_with(args, &[])
}

fn script_with(args: &[&str], env: &[(&str, &str)]) -> String {
    let out = Command::new(repo_root().join("scripts/zk"))
        .args(args)
        .envs(env.iter().copied())
        .output()
        .expect("run scripts/zk");
    assert!(
        out.status.success(),
        "scripts/zk {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .expect("UTF-8")
        .trim()
        .to_owned()
}

/// A standalone server or an ensemble, stopped when dropped.
pub struct ZkServer {
    dir: tempfile::TempDir,
    connect: String,
}

impl ZkServer {
    /// Starts a standalone server.
    pub fn start() -> ZkServer {
        ZkServer::start_with(&[])
    }

    /// Starts an ensemble of `n` servers.
    pub fn ensemble(n: usize) -> ZkServer {
        ZkServer::start_with(&["--ensemble", &n.to_string()])
    }

    /// Starts a standalone server with a super user `super` of `password` (ZooKeeper's
    /// `superDigest`), who may read every znode whatever its ACL: how a test looks at the
    /// ACLs of a locked session.
    pub fn with_super_user(password: &str) -> ZkServer {
        let digest = zkrsync_launcher::initree::config::digest_id("super", password);
        let flags = format!("-Dzookeeper.DigestAuthenticationProvider.superDigest={digest}");
        ZkServer::start_env(&[], &[("JVMFLAGS", &flags)])
    }

    fn start_with(extra: &[&str]) -> ZkServer {
        ZkServer::start_env(extra, &[])
    }

    fn start_env(extra: &[&str], env: &[(&str, &str)]) -> ZkServer {
        let dir = tempfile::Builder::new()
            .prefix("zkrsync-zk-")
            .tempdir()
            .expect("temp dir");
        let path = dir.path().to_str().expect("UTF-8 temp dir").to_owned();
        let mut args = vec!["start", path.as_str()];
        args.extend_from_slice(extra);
        let connect = script_with(&args, env);
        ZkServer { dir, connect }
    }

    /// The connect string.
    pub fn connect(&self) -> &str {
        &self.connect
    }

    /// The server's directory (config, data, logs).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Stops member `i` (1-based) of an ensemble.
    pub fn stop_member(&self, i: usize) {
        script(&[
            "stop-member",
            self.dir.path().to_str().unwrap(),
            &i.to_string(),
        ]);
    }

    /// The member (1-based) that leads the ensemble now.
    pub fn leader(&self) -> usize {
        let out = Command::new(repo_root().join("scripts/zk"))
            .args(["status", self.dir.path().to_str().unwrap()])
            .output()
            .expect("run scripts/zk status");
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        text.lines()
            .find(|l| l.ends_with(" leader"))
            .and_then(|l| l.split_whitespace().next())
            .and_then(|dir| dir.rsplit('/').next())
            .and_then(|i| i.parse().ok())
            .unwrap_or_else(|| panic!("no leader in:\n{text}"))
    }

    /// Starts member `i` of an ensemble again and waits until every member serves.
    pub fn start_member(&self, i: usize) {
        script(&[
            "start-member",
            self.dir.path().to_str().unwrap(),
            &i.to_string(),
        ]);
    }
}

impl Drop for ZkServer {
    fn drop(&mut self) {
        let _ = Command::new(repo_root().join("scripts/zk"))
            .args(["stop", self.dir.path().to_str().unwrap_or("")])
            .status();
    }
}
