//! Open files and directories: the source's file behind each file handle, read and written
//! at the kernel's offsets, and each open directory's listing, taken when it is opened and
//! handed out page by page. No page may be cached by the kernel beyond the open (no
//! `FOPEN_KEEP_CACHE`, no `FOPEN_CACHE_DIR`).

use std::collections::HashMap;
use std::ffi::{OsStr, OsString};
use std::fs::{self, File};
use std::io;
use std::os::fd::{FromRawFd, OwnedFd};
use std::os::unix::fs::{DirEntryExt, FileExt, MetadataExt};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use fuser::{
    FileHandle, FileType, FopenFlags, Generation, INodeNo, ReplyCreate, ReplyData, ReplyDirectory,
    ReplyEmpty, ReplyOpen, ReplyWrite,
};
use nix::fcntl::OFlag;
use nix::sys::stat::Mode;

use crate::attr::{self, errno, TTL};
use crate::hang::Held;
use crate::inodes::ROOT;
use crate::passthrough::{key_of, Caller, PassThrough};

/// An entry of a directory listing.
#[derive(Debug)]
struct Listed {
    id: u64,
    kind: FileType,
    name: OsString,
}

/// The open files and directories, by file handle.
#[derive(Debug, Default)]
pub struct Handles {
    next: AtomicU64,
    files: Mutex<HashMap<u64, Arc<File>>>,
    dirs: Mutex<HashMap<u64, Arc<Vec<Listed>>>>,
}

fn bad_handle() -> io::Error {
    io::Error::from_raw_os_error(libc::EBADF)
}

impl Handles {
    fn handle(&self) -> u64 {
        self.next.fetch_add(1, Ordering::Relaxed) + 1
    }

    fn add_file(&self, file: File) -> u64 {
        let fh = self.handle();
        self.files
            .lock()
            .expect("files lock")
            .insert(fh, Arc::new(file));
        fh
    }

    /// The source's file behind handle `fh`.
    pub fn file(&self, fh: u64) -> io::Result<Arc<File>> {
        let files = self.files.lock().expect("files lock");
        files.get(&fh).cloned().ok_or_else(bad_handle)
    }

    fn dir(&self, fh: u64) -> io::Result<Arc<Vec<Listed>>> {
        let dirs = self.dirs.lock().expect("dirs lock");
        dirs.get(&fh).cloned().ok_or_else(bad_handle)
    }
}

/// Opens `path` with the kernel's open flags (and `mode` when they create).
fn open_path(path: &Path, flags: i32, mode: u32) -> io::Result<File> {
    let flags = OFlag::from_bits_retain(flags & !libc::O_NOCTTY) | OFlag::O_CLOEXEC;
    let fd = nix::fcntl::open(path, flags, Mode::from_bits_truncate(mode & 0o7777))?;
    // SAFETY: open returned a new descriptor that nothing else owns.
    Ok(File::from(unsafe { OwnedFd::from_raw_fd(fd) }))
}

impl PassThrough {
    /// open: the source's file, opened the same way.
    pub fn open(&self, id: u64, flags: i32, reply: ReplyOpen) {
        let flags = flags & !(libc::O_CREAT | libc::O_EXCL);
        match self.path_of(id).and_then(|p| open_path(&p, flags, 0)) {
            Ok(file) => reply.opened(FileHandle(self.handles.add_file(file)), FopenFlags::empty()),
            Err(e) => reply.error(errno(&e)),
        }
    }

    /// create: a new file `name` of `parent`, opened.
    pub fn create(
        &self,
        parent: u64,
        name: OsString,
        mode: u32,
        flags: i32,
        caller: Caller,
        reply: ReplyCreate,
    ) {
        let created = self.path_of(parent).and_then(|dir| {
            let path = dir.join(&name);
            let file = open_path(&path, flags | libc::O_CREAT, mode)?;
            self.own(&path, caller)?;
            let meta = file.metadata()?;
            Ok((file, meta))
        });
        match created {
            Ok((file, meta)) => {
                let id = self.inodes().remember(parent, &name, key_of(&meta));
                let fh = self.handles.add_file(file);
                reply.created(
                    &TTL,
                    &attr::of(id, &meta),
                    Generation(0),
                    FileHandle(fh),
                    FopenFlags::empty(),
                );
            }
            Err(e) => reply.error(errno(&e)),
        }
    }

    /// read: up to `size` bytes at `offset` (fewer only at the end of the file); with
    /// `--hang`, a read of a file met under the hung name is held.
    pub fn read(&self, id: u64, fh: u64, offset: u64, size: u32, reply: ReplyData) {
        if let Some(hang) = self.hang.as_ref().filter(|h| h.is_hung_node(id)) {
            let path = self.path_of(id).map(|p| self.shown(&p)).unwrap_or_default();
            return hang.hold(Held::Data(reply), &format!("read of {path}"));
        }
        match self
            .handles
            .file(fh)
            .and_then(|f| read_full(&f, offset, size as usize))
        {
            Ok(data) => reply.data(&data),
            Err(e) => reply.error(errno(&e)),
        }
    }

    /// write: all of `data` at `offset`.
    pub fn write(&self, fh: u64, offset: u64, data: &[u8], reply: ReplyWrite) {
        match self
            .handles
            .file(fh)
            .and_then(|f| f.write_all_at(data, offset))
        {
            Ok(()) => reply.written(data.len() as u32),
            Err(e) => reply.error(errno(&e)),
        }
    }

    /// fsync (fdatasync when `datasync`).
    pub fn fsync(&self, fh: u64, datasync: bool, reply: ReplyEmpty) {
        let synced = self.handles.file(fh).and_then(|f| {
            if datasync {
                f.sync_data()
            } else {
                f.sync_all()
            }
        });
        match synced {
            Ok(()) => reply.ok(),
            Err(e) => reply.error(errno(&e)),
        }
    }

    /// release: the last close of an open file.
    pub fn release(&self, fh: u64, reply: ReplyEmpty) {
        self.handles.files.lock().expect("files lock").remove(&fh);
        reply.ok();
    }

    /// opendir: lists the directory now, `.` and `..` first.
    pub fn opendir(&self, id: u64, reply: ReplyOpen) {
        match self.path_of(id).and_then(|p| self.list(id, &p)) {
            Ok(listing) => {
                let fh = self.handles.handle();
                self.handles
                    .dirs
                    .lock()
                    .expect("dirs lock")
                    .insert(fh, Arc::new(listing));
                reply.opened(FileHandle(fh), FopenFlags::empty());
            }
            Err(e) => reply.error(errno(&e)),
        }
    }

    fn list(&self, id: u64, path: &Path) -> io::Result<Vec<Listed>> {
        let dev = fs::symlink_metadata(path)?.dev();
        let parent = if id == ROOT {
            ROOT
        } else {
            self.inodes().parent(id).unwrap_or(ROOT)
        };
        let mut listing = vec![
            Listed {
                id,
                kind: FileType::Directory,
                name: ".".into(),
            },
            Listed {
                id: parent,
                kind: FileType::Directory,
                name: "..".into(),
            },
        ];
        for entry in fs::read_dir(path)? {
            let entry = entry?;
            let name = entry.file_name();
            let id = self.inodes().listed_id((dev, entry.ino()));
            if let Some(hang) = self.hang.as_ref().filter(|h| h.is_hung_name(&name)) {
                hang.mark(id);
            }
            listing.push(Listed {
                id,
                kind: attr::kind(entry.file_type()?),
                name,
            });
        }
        Ok(listing)
    }

    /// readdir: the entries from `offset` on, as many as fit.
    pub fn readdir(&self, fh: u64, offset: u64, mut reply: ReplyDirectory) {
        let listing = match self.handles.dir(fh) {
            Ok(listing) => listing,
            Err(e) => return reply.error(errno(&e)),
        };
        for (i, entry) in listing.iter().enumerate().skip(offset as usize) {
            let name: &OsStr = &entry.name;
            if reply.add(INodeNo(entry.id), i as u64 + 1, entry.kind, name) {
                break;
            }
        }
        reply.ok();
    }

    /// releasedir.
    pub fn releasedir(&self, fh: u64, reply: ReplyEmpty) {
        self.handles.dirs.lock().expect("dirs lock").remove(&fh);
        reply.ok();
    }
}

/// Reads `size` bytes at `offset`, fewer only at the end of the file.
fn read_full(file: &File, offset: u64, size: usize) -> io::Result<Vec<u8>> {
    let mut data = vec![0; size];
    let mut filled = 0;
    while filled < size {
        match file.read_at(&mut data[filled..], offset + filled as u64) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    data.truncate(filled);
    Ok(data)
}
