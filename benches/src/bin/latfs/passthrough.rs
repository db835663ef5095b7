//! The pass-through itself: each request carried out on the source tree, by path, and
//! answered. This file holds the requests on names and attributes; `open_files.rs` those on
//! open files and directories. Nothing here waits: the delay is the pool's.

use std::ffi::{OsStr, OsString};
use std::fs::{self, File, Metadata, Permissions};
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{SystemTime, UNIX_EPOCH};

use fuser::{
    Errno, Generation, ReplyAttr, ReplyData, ReplyEmpty, ReplyEntry, ReplyStatfs, TimeOrNow,
};
use nix::sys::stat::{self as nix_stat, Mode, SFlag, UtimensatFlags};
use nix::sys::time::TimeSpec;

use crate::attr::{self, errno, TTL};
use crate::hang::{Hang, Held};
use crate::inodes::{Inodes, Key};
use crate::open_files::Handles;

/// Who sent a request: what it creates is theirs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Caller {
    /// User id.
    pub uid: u32,
    /// Group id.
    pub gid: u32,
}

/// The attribute changes of a setattr request.
#[derive(Debug, Default)]
pub struct Changes {
    /// New permission bits.
    pub mode: Option<u32>,
    /// New owner.
    pub uid: Option<u32>,
    /// New group.
    pub gid: Option<u32>,
    /// New size (truncate).
    pub size: Option<u64>,
    /// New access time.
    pub atime: Option<TimeOrNow>,
    /// New modification time.
    pub mtime: Option<TimeOrNow>,
}

/// The source tree, served by path.
#[derive(Debug)]
pub struct PassThrough {
    source: PathBuf,
    /// The user latfs runs as: entries made for another user are given to them.
    me: Caller,
    inodes: Mutex<Inodes>,
    pub(crate) handles: Handles,
    pub(crate) hang: Option<Hang>,
}

/// The identity of an inode, from its metadata.
pub fn key_of(meta: &Metadata) -> Key {
    (meta.dev(), meta.ino())
}

fn no_entry() -> io::Error {
    io::Error::from_raw_os_error(libc::ENOENT)
}

impl PassThrough {
    /// Serves the directory `source` (already checked to be one); `hang` is `--hang`'s name.
    pub fn new(source: PathBuf, hang: Option<OsString>) -> io::Result<Arc<PassThrough>> {
        let meta = fs::metadata(&source)?;
        Ok(Arc::new(PassThrough {
            inodes: Mutex::new(Inodes::new(source.clone(), key_of(&meta))),
            source,
            me: Caller {
                uid: nix::unistd::geteuid().as_raw(),
                gid: nix::unistd::getegid().as_raw(),
            },
            handles: Handles::default(),
            hang: hang.map(Hang::new),
        }))
    }

    pub(crate) fn inodes(&self) -> MutexGuard<'_, Inodes> {
        self.inodes.lock().expect("inode table lock")
    }

    /// The path of node `id`, or ENOENT.
    pub(crate) fn path_of(&self, id: u64) -> io::Result<PathBuf> {
        self.inodes().path(id).ok_or_else(no_entry)
    }

    fn child_path(&self, parent: u64, name: &OsStr) -> io::Result<PathBuf> {
        self.inodes().child_path(parent, name).ok_or_else(no_entry)
    }

    /// `path` as shown in messages: below the source.
    pub(crate) fn shown(&self, path: &Path) -> String {
        let rel = path.strip_prefix(&self.source).unwrap_or(path);
        rel.display().to_string()
    }

    /// Hands entry `name` of `parent` to the kernel.
    fn entry(&self, parent: u64, name: &OsStr, meta: &Metadata, reply: ReplyEntry) {
        let id = self.inodes().remember(parent, name, key_of(meta));
        reply.entry(&TTL, &attr::of(id, meta), Generation(0));
    }

    /// Gives a new entry to its caller when that is not latfs's user.
    pub(crate) fn own(&self, path: &Path, caller: Caller) -> io::Result<()> {
        if caller == self.me {
            return Ok(());
        }
        std::os::unix::fs::lchown(path, Some(caller.uid), Some(caller.gid))
    }

    /// Looks up `name` in `parent`; with `--hang NAME` that lookup is held.
    pub fn lookup(&self, parent: u64, name: OsString, reply: ReplyEntry) {
        let path = match self.child_path(parent, &name) {
            Ok(path) => path,
            Err(e) => return reply.error(errno(&e)),
        };
        if let Some(hang) = self.hang.as_ref().filter(|h| h.is_hung_name(&name)) {
            if let Ok(meta) = fs::symlink_metadata(&path) {
                hang.mark(self.inodes().listed_id(key_of(&meta)));
            }
            let what = format!("lookup of {}", self.shown(&path));
            return hang.hold(Held::Entry(reply), &what);
        }
        match fs::symlink_metadata(&path) {
            Ok(meta) => self.entry(parent, &name, &meta, reply),
            Err(e) => reply.error(errno(&e)),
        }
    }

    /// The kernel dropped `count` references to `id`.
    pub fn forget(&self, id: u64, count: u64) {
        self.inodes().forget(id, count);
    }

    /// The attributes of `id` (of its open file `fh` when given).
    pub fn getattr(&self, id: u64, fh: Option<u64>, reply: ReplyAttr) {
        let meta = match fh {
            Some(fh) => self.handles.file(fh).and_then(|f| f.metadata()),
            None => self.path_of(id).and_then(fs::symlink_metadata),
        };
        match meta {
            // A path that now names another inode (changed behind the mount) is stale.
            Ok(meta) if self.inodes().key(id) != Some(key_of(&meta)) => reply.error(Errno::ESTALE),
            Ok(meta) => reply.attr(&TTL, &attr::of(id, &meta)),
            Err(e) => reply.error(errno(&e)),
        }
    }

    /// Changes the attributes of `id` (through its open file `fh` when given).
    pub fn setattr(&self, id: u64, fh: Option<u64>, changes: Changes, reply: ReplyAttr) {
        let target = match fh {
            Some(fh) => self.handles.file(fh).map(Target::File),
            None => self.path_of(id).map(Target::Path),
        };
        match target.and_then(|t| t.change(&changes)) {
            Ok(meta) => reply.attr(&TTL, &attr::of(id, &meta)),
            Err(e) => reply.error(errno(&e)),
        }
    }

    /// The target of symlink `id`.
    pub fn readlink(&self, id: u64, reply: ReplyData) {
        match self.path_of(id).and_then(fs::read_link) {
            Ok(target) => reply.data(target.as_os_str().as_bytes()),
            Err(e) => reply.error(errno(&e)),
        }
    }

    /// Makes entry `name` of `parent` with `make`, gives it to `caller`, and hands it over.
    fn make(
        &self,
        parent: u64,
        name: &OsStr,
        caller: Caller,
        reply: ReplyEntry,
        make: impl FnOnce(&Path) -> io::Result<()>,
    ) {
        let made = self.child_path(parent, name).and_then(|path| {
            make(&path)?;
            self.own(&path, caller)?;
            fs::symlink_metadata(&path)
        });
        match made {
            Ok(meta) => self.entry(parent, name, &meta, reply),
            Err(e) => reply.error(errno(&e)),
        }
    }

    /// mknod: a device, fifo or socket (the kernel has applied the umask).
    pub fn mknod(
        &self,
        parent: u64,
        name: OsString,
        mode: u32,
        rdev: u32,
        caller: Caller,
        reply: ReplyEntry,
    ) {
        self.make(parent, &name, caller, reply, |path| {
            let kind = SFlag::from_bits_truncate(mode & libc::S_IFMT);
            let perm = Mode::from_bits_truncate(mode & 0o7777);
            Ok(nix_stat::mknod(path, kind, perm, libc::dev_t::from(rdev))?)
        });
    }

    /// mkdir.
    pub fn mkdir(&self, parent: u64, name: OsString, mode: u32, caller: Caller, reply: ReplyEntry) {
        self.make(parent, &name, caller, reply, |path| {
            fs::DirBuilder::new().mode(mode & 0o7777).create(path)
        });
    }

    /// symlink: entry `name` of `parent` pointing to `target`.
    pub fn symlink(
        &self,
        parent: u64,
        name: OsString,
        target: PathBuf,
        caller: Caller,
        reply: ReplyEntry,
    ) {
        self.make(parent, &name, caller, reply, |path| {
            std::os::unix::fs::symlink(&target, path)
        });
    }

    /// link: a new name `new_name` of `new_parent` for `id`.
    pub fn link(&self, id: u64, new_parent: u64, new_name: OsString, reply: ReplyEntry) {
        let linked = self.path_of(id).and_then(|from| {
            let to = self.child_path(new_parent, &new_name)?;
            fs::hard_link(from, &to)?;
            fs::symlink_metadata(&to)
        });
        match linked {
            Ok(meta) => self.entry(new_parent, &new_name, &meta, reply),
            Err(e) => reply.error(errno(&e)),
        }
    }

    /// unlink (`dir` false) or rmdir (`dir` true) of `name` in `parent`.
    pub fn remove(&self, parent: u64, name: OsString, dir: bool, reply: ReplyEmpty) {
        let removed = self.child_path(parent, &name).and_then(|path| {
            if dir {
                fs::remove_dir(path)
            } else {
                fs::remove_file(path)
            }
        });
        match removed {
            Ok(()) => {
                self.inodes().unlinked(parent, &name);
                reply.ok()
            }
            Err(e) => reply.error(errno(&e)),
        }
    }

    /// rename, with renameat2's `flags` (RENAME_NOREPLACE, RENAME_EXCHANGE).
    pub fn rename(
        &self,
        parent: u64,
        name: OsString,
        new_parent: u64,
        new_name: OsString,
        flags: u32,
        reply: ReplyEmpty,
    ) {
        let renamed = self.child_path(parent, &name).and_then(|from| {
            let to = self.child_path(new_parent, &new_name)?;
            if flags == 0 {
                return fs::rename(from, to);
            }
            let flags = nix::fcntl::RenameFlags::from_bits_truncate(flags);
            Ok(nix::fcntl::renameat2(None, &from, None, &to, flags)?)
        });
        match renamed {
            Ok(()) => {
                let mut inodes = self.inodes();
                if flags & libc::RENAME_EXCHANGE != 0 {
                    inodes.exchanged(parent, &name, new_parent, &new_name);
                } else {
                    inodes.renamed(parent, &name, new_parent, &new_name);
                }
                drop(inodes);
                reply.ok()
            }
            Err(e) => reply.error(errno(&e)),
        }
    }

    /// statfs: the source's file system.
    pub fn statfs(&self, reply: ReplyStatfs) {
        match nix::sys::statvfs::statvfs(&self.source) {
            Ok(s) => reply.statfs(
                s.blocks(),
                s.blocks_free(),
                s.blocks_available(),
                s.files(),
                s.files_free(),
                s.block_size() as u32,
                s.name_max() as u32,
                s.fragment_size() as u32,
            ),
            Err(e) => reply.error(Errno::from_i32(e as i32)),
        }
    }
}

/// What a setattr changes: a path, or an open file.
enum Target {
    Path(PathBuf),
    File(Arc<File>),
}

impl Target {
    /// Applies `changes` in the order chown, chmod, truncate, times (chown clears set-id
    /// bits, so the mode comes after it); returns the new metadata.
    fn change(&self, changes: &Changes) -> io::Result<Metadata> {
        if changes.uid.is_some() || changes.gid.is_some() {
            match self {
                Target::Path(p) => std::os::unix::fs::lchown(p, changes.uid, changes.gid)?,
                Target::File(f) => std::os::unix::fs::fchown(f.as_ref(), changes.uid, changes.gid)?,
            }
        }
        if let Some(mode) = changes.mode {
            let perm = Permissions::from_mode(mode & 0o7777);
            match self {
                Target::Path(p) => fs::set_permissions(p, perm)?,
                Target::File(f) => f.set_permissions(perm)?,
            }
        }
        if let Some(size) = changes.size {
            match self {
                Target::Path(p) => nix::unistd::truncate(p, size as libc::off_t)?,
                Target::File(f) => f.set_len(size)?,
            }
        }
        if changes.atime.is_some() || changes.mtime.is_some() {
            let atime = timespec(changes.atime.as_ref());
            let mtime = timespec(changes.mtime.as_ref());
            match self {
                Target::Path(p) => {
                    nix_stat::utimensat(None, p, &atime, &mtime, UtimensatFlags::NoFollowSymlink)?
                }
                Target::File(f) => nix_stat::futimens(f.as_raw_fd(), &atime, &mtime)?,
            }
        }
        match self {
            Target::Path(p) => fs::symlink_metadata(p),
            Target::File(f) => f.metadata(),
        }
    }
}

/// A time to set, as utimensat takes it (`UTIME_OMIT` for none).
fn timespec(time: Option<&TimeOrNow>) -> TimeSpec {
    match time {
        None => TimeSpec::UTIME_OMIT,
        Some(TimeOrNow::Now) => TimeSpec::UTIME_NOW,
        Some(TimeOrNow::SpecificTime(t)) => since_epoch(*t),
    }
}

fn since_epoch(t: SystemTime) -> TimeSpec {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => TimeSpec::from(d),
        Err(before) => {
            let d = before.duration();
            let (secs, nanos) = (d.as_secs() as i64, i64::from(d.subsec_nanos()));
            if nanos == 0 {
                TimeSpec::new(-secs, 0)
            } else {
                TimeSpec::new(-secs - 1, 1_000_000_000 - nanos)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn times_before_1970_become_a_negative_second_and_positive_nanoseconds() {
        let t = UNIX_EPOCH - Duration::new(1, 250_000_000);
        let ts = since_epoch(t);
        assert_eq!((ts.tv_sec(), ts.tv_nsec()), (-2, 750_000_000));
        let ts = since_epoch(UNIX_EPOCH + Duration::new(5, 6));
        assert_eq!((ts.tv_sec(), ts.tv_nsec()), (5, 6));
    }
}
