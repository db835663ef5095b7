//! What `--version` prints, as rsync's does, besides the version: the rsync that the agents
//! drive (the first `rsync` in `PATH`, with the first line of its `--version`), the rsync
//! protocol that rsync speaks, and the ZooKeeper client library. `-V` stays the version
//! alone (`zkrsync 0.1.0`), which is what `zkrsync-launch` compares across hosts.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// The version of the ZooKeeper client crate this build uses (from Cargo.lock, by build.rs).
pub const ZK_CLIENT_VERSION: &str = env!("ZKRSYNC_ZK_CLIENT_VERSION");

/// `cmd` with its long version (`--version`) when `args` ask for it: running rsync to
/// learn its version costs a process, which no other command line should pay.
pub fn with_long_version(cmd: clap::Command, args: &[OsString]) -> clap::Command {
    if !args.iter().skip(1).any(|a| a == "--version") {
        return cmd;
    }
    let version = cmd.get_version().unwrap_or_default().to_owned();
    cmd.long_version(long_version(&version, find_rsync().as_deref()))
}

/// The text after the program's name on `--version`: `version`, then the rsync at `rsync`
/// (None: not found), its protocol, and the ZooKeeper client.
pub fn long_version(version: &str, rsync: Option<&Path>) -> String {
    let (rsync_line, protocol) = match rsync {
        None => ("not found in PATH".to_owned(), None),
        Some(path) => match first_version_line(path) {
            Ok(line) => {
                let protocol = protocol_of(&line);
                (format!("{} ({line})", path.display()), protocol)
            }
            Err(e) => (format!("{} cannot be run ({e})", path.display()), None),
        },
    };
    format!(
        "{version}\nrsync:            {rsync_line}\nrsync protocol:   {}\nZooKeeper client: zookeeper-client {ZK_CLIENT_VERSION}",
        protocol.as_deref().unwrap_or("unknown")
    )
}

/// The first `rsync` in `PATH` that is an executable file, as the agents' default
/// `--rsync rsync` finds it.
pub fn find_rsync() -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt as _;
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join("rsync"))
        .find(|file| {
            std::fs::metadata(file)
                .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        })
}

/// The first line of `rsync --version`, e.g. `rsync  version 3.2.7  protocol version 31`.
fn first_version_line(rsync: &Path) -> std::io::Result<String> {
    let out = Command::new(rsync)
        .arg("--version")
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()?;
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text.lines().next().unwrap_or_default().trim();
    if !out.status.success() || line.is_empty() {
        return Err(std::io::Error::other(format!(
            "--version gave {} and printed {line:?}",
            out.status
        )));
    }
    Ok(line.to_owned())
}

/// The protocol number of an `rsync --version` first line.
fn protocol_of(line: &str) -> Option<String> {
    let (_, after) = line.split_once("protocol version")?;
    let number: String = after
        .trim_start()
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    (!number.is_empty()).then_some(number)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_protocol_is_read_from_rsync_s_first_line() {
        assert_eq!(
            protocol_of("rsync  version 3.2.7  protocol version 31").as_deref(),
            Some("31")
        );
        assert_eq!(protocol_of("rsync version 2.6.9"), None);
    }

    #[test]
    fn no_rsync_is_said_and_the_zookeeper_client_is_named() {
        let text = long_version("0.1.0", None);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "0.1.0");
        assert!(lines[1].starts_with("rsync:") && lines[1].contains("not found"));
        assert_eq!(lines[2], "rsync protocol:   unknown");
        assert_eq!(
            lines[3],
            format!("ZooKeeper client: zookeeper-client {ZK_CLIENT_VERSION}")
        );
        assert_ne!(ZK_CLIENT_VERSION, "unknown");
    }
}
