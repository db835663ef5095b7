//! The check of every remote host before anything starts: it is reachable, its host key
//! is trusted, the user gets in, its `zkrsync -V` is the launcher's (or, with
//! `--push-binary`, the launcher's binary is copied there), and the trees it needs are
//! there. Every problem is reported for its host; one problem and nothing is started.

use std::net::IpAddr;
use std::path::Path;
use std::sync::Mutex;

use crate::launch::ssh::link::{SshConfig, SshLink, Target};
use crate::launch::ssh::remote_command::{capture, command_line, push_file, quote};
use zkrsync_core::protocol::exit_code;

/// What a run needs of one host.
#[derive(Debug, Clone)]
pub struct HostNeeds {
    /// Where to connect.
    pub target: Target,
    /// The tree it copies from, when it runs sources.
    pub src: Option<String>,
    /// The tree it copies to, when it runs destinations.
    pub dst: Option<String>,
}

/// What the checks share.
pub struct Check<'a> {
    /// How to connect.
    pub ssh: &'a SshConfig,
    /// The agent's path on the hosts.
    pub remote_binary: &'a str,
    /// `zkrsync -V` (the short version) as it must read.
    pub version: &'a str,
    /// The binary to copy to hosts that lack it (`--push-binary`).
    pub push: Option<&'a Path>,
    /// Held while copying it.
    pub pushing: Mutex<()>,
}

/// A host that failed its check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// One line: the host and what is wrong.
    pub message: String,
    /// The exit code it calls for: 3 for an unusable host, 2 for a wrong option.
    pub code: i32,
}

/// A shell test of a destination path that prints what is there: `directory`, `to create`
/// (nothing, under a parent directory), `missing parent`, or `other`.
fn dest_test(
    dst: &str,
    parent: &str,
) -> Result<String, crate::launch::ssh::remote_command::RemoteCommandError> {
    let (d, p) = (command_line([dst])?, command_line([parent])?);
    Ok(format!(
        "if test -d {d}; then echo directory; elif test -e {d} || test -L {d}; then echo other; elif test -d {p}; then echo 'to create'; elif test -e {p}; then echo other; else echo 'missing parent'; fi"
    ))
}

fn unusable(message: String) -> Problem {
    Problem {
        message,
        code: exit_code::HOST_FAILED,
    }
}

impl Check<'_> {
    /// Checks every host, at most `--max-ssh-connect` connecting at once; returns this
    /// machine's address as the first host sees it (for the private ZooKeeper and local
    /// destinations), or every problem.
    pub fn all(&self, hosts: &[HostNeeds]) -> Result<Option<IpAddr>, Vec<Problem>> {
        let results: Vec<Result<IpAddr, Problem>> = std::thread::scope(|s| {
            let handles: Vec<_> = hosts
                .iter()
                .map(|needs| s.spawn(move || self.one(needs)))
                .collect();
            handles
                .into_iter()
                .map(|h| {
                    h.join()
                        .unwrap_or_else(|_| Err(unusable("a host check panicked".to_owned())))
                })
                .collect()
        });
        let mut first = None;
        let mut problems = Vec::new();
        for result in results {
            match result {
                Ok(addr) => {
                    first.get_or_insert(addr);
                }
                Err(p) => problems.push(p),
            }
        }
        if problems.is_empty() {
            Ok(first)
        } else {
            Err(problems)
        }
    }

    fn one(&self, needs: &HostNeeds) -> Result<IpAddr, Problem> {
        let host = &needs.target.host;
        let link = self
            .ssh
            .open(&needs.target)
            .map_err(|e| unusable(e.to_string()))?;
        let session = &link.session;
        let bin = self.remote_binary;
        let version_cmd = format!("{} -V", quote(bin));
        let ran =
            capture(session, &version_cmd, &[]).map_err(|e| unusable(format!("{host}: {e}")))?;
        let found = ran.stdout.trim();
        if ran.code != Some(0) || found != self.version {
            let what = if ran.code == Some(0) {
                format!("{bin} is {found}, not {}", self.version)
            } else {
                format!(
                    "{bin} does not run there ({})",
                    match ran.first_line() {
                        "" => format!("exit {:?}", ran.code),
                        line => line.to_owned(),
                    }
                )
            };
            let Some(local) = self.push else {
                return Err(unusable(format!(
                    "{host}: {what}: install {} there, give --remote-binary PATH, or --push-binary",
                    self.version
                )));
            };
            // One copy at a time, and each looks again first: hosts that share a file
            // system (home directories on NFS) need it copied once.
            let _one = self.pushing.lock().unwrap_or_else(|e| e.into_inner());
            let again = capture(session, &version_cmd, &[])
                .map_err(|e| unusable(format!("{host}: {e}")))?;
            if again.code == Some(0) && again.stdout.trim() == self.version {
                return self.trees(needs, &link);
            }
            eprintln!(
                "zkrsync-launch: {host}: {what}: copying {} there",
                local.display()
            );
            push_file(session, local, bin, host).map_err(|e| unusable(format!("{host}: {e}")))?;
            let again = capture(session, &version_cmd, &[])
                .map_err(|e| unusable(format!("{host}: {e}")))?;
            if again.code != Some(0) || again.stdout.trim() != self.version {
                return Err(unusable(format!(
                    "{host}: the copied {bin} does not run there ({}): the host may need another build of zkrsync",
                    again.first_line()
                )));
            }
        }
        self.trees(needs, &link)
    }

    /// Checks that the trees the host needs are there (a missing `--dst` whose parent is a
    /// directory will be made by the destinations); ends the connection.
    fn trees(&self, needs: &HostNeeds, link: &SshLink) -> Result<IpAddr, Problem> {
        let host = &needs.target.host;
        let session = &link.session;
        let wrong = |message: String| Problem {
            message: format!("{host}: {message}"),
            code: exit_code::CONFIG,
        };
        if let Some(src) = &needs.src {
            let test =
                command_line(["test", "-d", src.as_str()]).map_err(|e| wrong(e.to_string()))?;
            let ran = capture(session, &test, &[]).map_err(|e| unusable(format!("{host}: {e}")))?;
            if ran.code != Some(0) {
                return Err(wrong(format!(
                    "--src {src} is not a directory there: give a path that exists on every host of its role"
                )));
            }
        }
        if let Some(dst) = &needs.dst {
            let parent = Path::new(dst).parent().unwrap_or(Path::new("/"));
            let test =
                dest_test(dst, &parent.to_string_lossy()).map_err(|e| wrong(e.to_string()))?;
            let ran = capture(session, &test, &[]).map_err(|e| unusable(format!("{host}: {e}")))?;
            match ran.stdout.trim() {
                "directory" | "to create" => {}
                "missing parent" => return Err(wrong(format!(
                    "--dst {dst} cannot be created there: its parent {} does not exist: create it first (only the last component of a destination is created, as rsync does)",
                    parent.display()
                ))),
                _ => return Err(wrong(format!(
                    "--dst {dst} is not a directory there, nor a path to create under a directory: give a directory, or a path whose parent is one, on every host of its role"
                ))),
            }
        }
        let _ = session.disconnect(None, "checked", None);
        Ok(link.local_addr.ip())
    }
}

#[cfg(test)]
mod tests {
    use super::dest_test;

    /// What the remote test prints for `dst`, run by a local shell as the remote user's
    /// shell runs it.
    fn verdict(dst: &std::path::Path) -> String {
        let parent = dst.parent().unwrap().to_str().unwrap();
        let test = dest_test(dst.to_str().unwrap(), parent).unwrap();
        let out = std::process::Command::new("sh")
            .args(["-c", &test])
            .output()
            .unwrap();
        String::from_utf8(out.stdout).unwrap().trim().to_owned()
    }

    #[test]
    fn the_remote_destination_test_tells_a_path_to_create_from_a_missing_parent() {
        let tmp = tempfile::tempdir().unwrap();
        let odd = tmp.path().join("it's here");
        std::fs::create_dir(&odd).unwrap();
        std::fs::write(tmp.path().join("file"), "").unwrap();
        assert_eq!(verdict(&odd), "directory");
        assert_eq!(verdict(&odd.join("new one")), "to create");
        assert_eq!(verdict(&tmp.path().join("a/b")), "missing parent");
        assert_eq!(verdict(&tmp.path().join("file")), "other");
        assert_eq!(verdict(&tmp.path().join("file/x")), "other");
        assert!(!tmp.path().join("a").exists() && !odd.join("new one").exists());
    }
}
