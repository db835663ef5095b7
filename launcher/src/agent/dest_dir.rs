//! The destination's directory, as rsync treats it: a directory that exists is the tree;
//! a missing one is created, its last component only (mode 0777 less the umask, as
//! `mkdir`), when its parent is a directory; a missing parent is refused before anything
//! is made. [`check`] decides without changing anything, so every other check of a
//! command line can run before [`create`] makes the directory.

use std::io::ErrorKind;
use std::path::{Path, PathBuf};

/// Why a destination path cannot be the tree; each message names the path and what to do.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DestDirError {
    /// The path names something else than a directory.
    #[error("destination {} is not a directory: give a directory, or a path to create", .0.display())]
    NotADirectory(PathBuf),
    /// The path is a symlink to nothing: creating it would mean following the link.
    #[error("destination {} is a symlink to a missing directory: create its target, or give another path", .0.display())]
    DanglingSymlink(PathBuf),
    /// The path is missing, and so is its parent: only the last component is created.
    #[error("destination {} cannot be created: its parent {} does not exist: create {} first (only the last component of a destination is created, as rsync does)", .path.display(), .parent.display(), .parent.display())]
    MissingParent {
        /// The destination.
        path: PathBuf,
        /// Its missing parent.
        parent: PathBuf,
    },
    /// The path is missing and its parent is not a directory.
    #[error("destination {} cannot be created: its parent {} is not a directory: give a path whose parent is a directory", .path.display(), .parent.display())]
    ParentNotADirectory {
        /// The destination.
        path: PathBuf,
        /// Its parent.
        parent: PathBuf,
    },
    /// The path or its parent cannot be looked at.
    #[error("destination {} cannot be read ({error}): check its permissions", .path.display())]
    Unreadable {
        /// The path that could not be read.
        path: PathBuf,
        /// Why.
        error: String,
    },
    /// Making the directory failed.
    #[error("cannot create destination {} ({error}): check the permissions of its parent", .path.display())]
    CreateFailed {
        /// The destination.
        path: PathBuf,
        /// Why.
        error: String,
    },
}

/// What is at a destination path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DestDir {
    /// A directory: the tree.
    Exists,
    /// Nothing, under a parent directory: [`create`] makes it.
    ToCreate,
}

/// What is at the absolute path `path`, without changing anything.
pub fn check(path: &Path) -> Result<DestDir, DestDirError> {
    match std::fs::metadata(path) {
        Ok(m) if m.is_dir() => return Ok(DestDir::Exists),
        Ok(_) => return Err(DestDirError::NotADirectory(path.to_owned())),
        Err(e) if missing(&e) => {}
        Err(e) => return Err(unreadable(path, &e)),
    }
    if std::fs::symlink_metadata(path).is_ok() {
        return Err(DestDirError::DanglingSymlink(path.to_owned()));
    }
    let Some(parent) = path.parent() else {
        return Err(DestDirError::NotADirectory(path.to_owned()));
    };
    match std::fs::metadata(parent) {
        Ok(m) if m.is_dir() => Ok(DestDir::ToCreate),
        Ok(_) => Err(DestDirError::ParentNotADirectory {
            path: path.to_owned(),
            parent: parent.to_owned(),
        }),
        Err(e) if missing(&e) => Err(DestDirError::MissingParent {
            path: path.to_owned(),
            parent: parent.to_owned(),
        }),
        Err(e) => Err(unreadable(parent, &e)),
    }
}

/// Whether a lookup failed because a component is missing (or is a file where a directory
/// should be, which is missing as well).
fn missing(error: &std::io::Error) -> bool {
    matches!(error.kind(), ErrorKind::NotFound | ErrorKind::NotADirectory)
}

fn unreadable(path: &Path, error: &std::io::Error) -> DestDirError {
    DestDirError::Unreadable {
        path: path.to_owned(),
        error: error.to_string(),
    }
}

/// Makes the directory [`check`] found missing; returns whether this call made it (another
/// destination of the session on this host may have made it first, which is as good).
pub fn create(path: &Path) -> Result<bool, DestDirError> {
    match std::fs::create_dir(path) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == ErrorKind::AlreadyExists => match check(path)? {
            DestDir::Exists => Ok(false),
            DestDir::ToCreate => Err(DestDirError::DanglingSymlink(path.to_owned())),
        },
        Err(e) => Err(DestDirError::CreateFailed {
            path: path.to_owned(),
            error: e.to_string(),
        }),
    }
}

/// Removes a directory [`create`] made when the destination was refused after all, if it is
/// still empty: a refused destination leaves no trace.
pub fn remove_if_empty(path: &Path) {
    let _ = std::fs::remove_dir(path);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_last_component_is_made() {
        let tmp = tempfile::tempdir().unwrap();
        let here = tmp.path().join("here");
        assert_eq!(check(tmp.path()), Ok(DestDir::Exists));
        assert_eq!(check(&here), Ok(DestDir::ToCreate));
        assert_eq!(create(&here), Ok(true));
        assert_eq!(create(&here), Ok(false), "made by another destination");
        let deep = tmp.path().join("a/b");
        assert_eq!(
            check(&deep),
            Err(DestDirError::MissingParent {
                path: deep.clone(),
                parent: tmp.path().join("a"),
            })
        );
        assert!(!tmp.path().join("a").exists());
        let file = tmp.path().join("file");
        std::fs::write(&file, "").unwrap();
        assert_eq!(check(&file), Err(DestDirError::NotADirectory(file.clone())));
        assert!(matches!(
            check(&file.join("x")),
            Err(DestDirError::ParentNotADirectory { .. })
        ));
        let link = tmp.path().join("link");
        std::os::unix::fs::symlink(tmp.path().join("gone"), &link).unwrap();
        assert_eq!(check(&link), Err(DestDirError::DanglingSymlink(link)));
    }
}
