//! A destination's probe files (`.zkrsync-*` in the root of its tree): what the driver does
//! for the machine's [`ProbeOp`]s. Blocking file-system calls: run them off the async
//! threads. Names are file names in the root; symlinks are never followed. Writing or
//! removing one leaves the root's modification time as it was (the root is a directory
//! rsync copies: its time must stay the source's).

use std::io::{Read as _, Write as _};
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::Path;

use zkrsync_core::protocol::dest::{PROBE_MAX_BYTES, PROBE_PREFIX};
use zkrsync_core::protocol::{ProbeDone, ProbeOp};

/// The most probe files a listing reports (a root holds a few).
const LISTED_AT_MOST: usize = 1000;

/// Carries out `op` in the tree at `root`; the error is one line.
pub fn carry_out(root: &Path, op: ProbeOp) -> Result<ProbeDone, String> {
    match op {
        ProbeOp::List => list(root).map(ProbeDone::Listed),
        ProbeOp::Write { name, content } => {
            keeping_mtime(root, || write(root, &name, &content).map(|()| ((), true)))
                .map(|()| ProbeDone::Written)
        }
        ProbeOp::Read { name } => read(root, &name).map(ProbeDone::Read),
        ProbeOp::Remove { name } => {
            let path = checked(root, &name)?;
            keeping_mtime(root, || match std::fs::remove_file(&path) {
                Ok(()) => Ok((ProbeDone::Removed, true)),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    Ok((ProbeDone::Removed, false))
                }
                Err(e) => Err(format!("cannot remove {}: {e}", path.display())),
            })
        }
    }
}

/// Runs `change` (of the root's entries) and sets the root's modification time back to
/// what it was before — only when `change` says it changed the root (`Ok((_, true))`): a
/// removal that found nothing must not set back a time read after another destination's
/// removal of the same file, over that one's restore (two destinations leave at once).
fn keeping_mtime<T>(
    root: &Path,
    change: impl FnOnce() -> Result<(T, bool), String>,
) -> Result<T, String> {
    let before = std::fs::metadata(root)
        .and_then(|m| m.modified())
        .map_err(|e| format!("{}: {e}", root.display()))?;
    let (done, changed) = change()?;
    if changed {
        std::fs::File::open(root)
            .and_then(|d| d.set_times(std::fs::FileTimes::new().set_modified(before)))
            .map_err(|e| format!("cannot set the time of {} back: {e}", root.display()))?;
    }
    Ok(done)
}

/// `root/name`, for a plain probe file name.
fn checked(root: &Path, name: &str) -> Result<std::path::PathBuf, String> {
    if !name.starts_with(PROBE_PREFIX) || name.contains('/') || name.contains('\0') {
        return Err(format!("{name:?} is not a probe file's name"));
    }
    Ok(root.join(name))
}

fn list(root: &Path) -> Result<Vec<(String, Vec<u8>)>, String> {
    let entries = std::fs::read_dir(root).map_err(|e| format!("{}: {e}", root.display()))?;
    let mut found = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| format!("{}: {e}", root.display()))?;
        // A probe file's name is ASCII: anything else is not one.
        let Ok(name) = entry.file_name().into_string() else {
            continue;
        };
        if !name.starts_with(PROBE_PREFIX) {
            continue;
        }
        let content = read(root, &name).ok().flatten().unwrap_or_default();
        found.push((name, content));
        if found.len() == LISTED_AT_MOST {
            break;
        }
    }
    found.sort();
    Ok(found)
}

fn read(root: &Path, name: &str) -> Result<Option<Vec<u8>>, String> {
    let path = checked(root, name)?;
    // Opening the directory first makes an NFS client look again at what it holds (its
    // close-to-open consistency), so a file another host has just written is seen.
    drop(std::fs::File::open(root));
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(&path);
    let file = match file {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(format!("cannot open {}: {e}", path.display())),
    };
    let meta = file
        .metadata()
        .map_err(|e| format!("{}: {e}", path.display()))?;
    if !meta.is_file() {
        return Err(format!("{} is not a regular file", path.display()));
    }
    let mut content = Vec::new();
    file.take(PROBE_MAX_BYTES as u64)
        .read_to_end(&mut content)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    Ok(Some(content))
}

/// Writes `root/name` durably: a temporary name (itself a probe file's name, so rsync runs
/// leave it alone), fsync, rename, fsync of the root.
fn write(root: &Path, name: &str, content: &[u8]) -> Result<(), String> {
    let path = checked(root, name)?;
    let tmp = root.join(format!("{name}.tmp-{}", std::process::id()));
    let fail = |what: &str, e: std::io::Error| format!("cannot {what} {}: {e}", tmp.display());
    match std::fs::remove_file(&tmp) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(fail("remove", e)),
    }
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o644)
        .open(&tmp)
        .map_err(|e| fail("create", e))?;
    let written = file
        .write_all(content)
        .and_then(|()| file.sync_all())
        .map_err(|e| fail("write", e))
        .and_then(|()| {
            std::fs::rename(&tmp, &path)
                .map_err(|e| format!("cannot rename {} to {name}: {e}", tmp.display()))
        });
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    written?;
    std::fs::File::open(root)
        .and_then(|d| d.sync_all())
        .map_err(|e| format!("cannot sync {}: {e}", root.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set_mtime(root: &Path, secs: u64) {
        let t = std::time::UNIX_EPOCH + std::time::Duration::from_secs(secs);
        std::fs::File::open(root)
            .unwrap()
            .set_times(std::fs::FileTimes::new().set_modified(t))
            .unwrap();
    }

    fn mtime(root: &Path) -> u64 {
        let m = std::fs::metadata(root).unwrap().modified().unwrap();
        m.duration_since(std::time::UNIX_EPOCH).unwrap().as_secs()
    }

    #[test]
    fn a_removal_that_found_nothing_leaves_the_roots_time_as_another_destination_set_it() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path();
        set_mtime(root, 1_000);
        // Meanwhile another destination removed the probe and set the time back to 2,000.
        let gone = keeping_mtime(root, || {
            set_mtime(root, 2_000);
            Ok(((), false))
        });
        assert_eq!(gone, Ok(()));
        assert_eq!(mtime(root), 2_000, "not set back to what was read before");
        let name = ".zkrsync-s1-d1".to_owned();
        assert_eq!(
            carry_out(root, ProbeOp::Remove { name }),
            Ok(ProbeDone::Removed)
        );
        assert_eq!(mtime(root), 2_000);
        // A change that happened is set back.
        let written = keeping_mtime(root, || {
            set_mtime(root, 3_000);
            Ok(((), true))
        });
        assert_eq!(written, Ok(()));
        assert_eq!(mtime(root), 2_000);
    }

    #[test]
    fn probe_files_are_written_read_listed_and_removed_and_symlinks_are_not_followed() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path();
        let name = ".zkrsync-s1-d1".to_owned();
        assert_eq!(
            carry_out(root, ProbeOp::Read { name: name.clone() }),
            Ok(ProbeDone::Read(None))
        );
        carry_out(
            root,
            ProbeOp::Write {
                name: name.clone(),
                content: b"token=1\n".to_vec(),
            },
        )
        .unwrap();
        std::fs::write(root.join("other"), b"x").unwrap();
        std::os::unix::fs::symlink("/etc/passwd", root.join(".zkrsync-link")).unwrap();
        assert_eq!(
            carry_out(root, ProbeOp::List),
            Ok(ProbeDone::Listed(vec![
                (".zkrsync-link".into(), vec![]),
                (name.clone(), b"token=1\n".to_vec())
            ]))
        );
        let err = carry_out(
            root,
            ProbeOp::Read {
                name: ".zkrsync-link".into(),
            },
        )
        .unwrap_err();
        assert!(err.starts_with("cannot open"), "{err}");
        assert!(carry_out(
            root,
            ProbeOp::Read {
                name: "../x".into()
            }
        )
        .is_err());
        for _ in 0..2 {
            assert_eq!(
                carry_out(root, ProbeOp::Remove { name: name.clone() }),
                Ok(ProbeDone::Removed)
            );
        }
        assert!(!root.join(&name).exists());
        assert!(root.join(".zkrsync-link").is_symlink());
        // The root's time is the copy's, not the probes'.
        let then = std::time::SystemTime::UNIX_EPOCH + std::time::Duration::new(1_000_000_000, 123);
        std::fs::File::open(root)
            .unwrap()
            .set_times(std::fs::FileTimes::new().set_modified(then))
            .unwrap();
        let write = ProbeOp::Write {
            name: name.clone(),
            content: vec![],
        };
        carry_out(root, write).unwrap();
        carry_out(root, ProbeOp::Remove { name }).unwrap();
        assert_eq!(std::fs::metadata(root).unwrap().modified().unwrap(), then);
    }
}
