//! fuser's side: each request the session loop reads is counted, its arguments copied into a
//! job with its reply, and the job queued for a worker with the request's delay, metadata or
//! data. Only forget, flush and release are done at once, without delay (they cost no round
//! trip to an NFS server).

use std::ffi::OsStr;
use std::io;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use fuser::{
    BsdFileFlags, FileHandle, Filesystem, INodeNo, InitFlags, KernelConfig, LockOwner, OpenFlags,
    RenameFlags, ReplyAttr, ReplyCreate, ReplyData, ReplyDirectory, ReplyEmpty, ReplyEntry,
    ReplyOpen, ReplyStatfs, ReplyWrite, Request, TimeOrNow, WriteFlags,
};

use crate::passthrough::{Caller, Changes, PassThrough};
use crate::pool::Pool;

/// The requests served, by kind, for the summary at exit.
#[derive(Debug)]
pub struct Served {
    counts: [AtomicU64; OPS.len()],
}

/// The kinds of requests counted, in the summary's order.
const OPS: [&str; 22] = [
    "lookup",
    "getattr",
    "setattr",
    "readlink",
    "mknod",
    "mkdir",
    "unlink",
    "rmdir",
    "symlink",
    "rename",
    "link",
    "open",
    "create",
    "read",
    "write",
    "flush",
    "fsync",
    "release",
    "opendir",
    "readdir",
    "releasedir",
    "statfs",
];

impl Served {
    fn new() -> Served {
        Served {
            counts: std::array::from_fn(|_| AtomicU64::new(0)),
        }
    }

    fn count(&self, op: &str) {
        let i = OPS
            .iter()
            .position(|o| *o == op)
            .expect("a counted request");
        self.counts[i].fetch_add(1, Ordering::Relaxed);
    }

    /// `N requests (lookup A, getattr B, …)`, kinds never seen left out.
    pub fn summary(&self) -> String {
        let counts: Vec<(&str, u64)> = OPS
            .iter()
            .zip(&self.counts)
            .map(|(op, n)| (*op, n.load(Ordering::Relaxed)))
            .filter(|(_, n)| *n > 0)
            .collect();
        let total: u64 = counts.iter().map(|(_, n)| n).sum();
        let each: Vec<String> = counts.iter().map(|(op, n)| format!("{op} {n}")).collect();
        let plural = if total == 1 { "" } else { "s" };
        format!("{total} request{plural} ({})", each.join(", "))
    }
}

/// The delays latfs adds.
#[derive(Debug, Clone, Copy)]
pub struct Delays {
    /// Before each metadata request.
    pub metadata: Duration,
    /// Before each read or write request.
    pub data: Duration,
}

/// The file system fuser runs.
#[derive(Debug)]
pub struct LatFs {
    fs: Arc<PassThrough>,
    pool: Pool,
    delays: Delays,
    threads: usize,
    served: Arc<Served>,
}

fn caller(req: &Request) -> Caller {
    Caller {
        uid: req.uid(),
        gid: req.gid(),
    }
}

impl LatFs {
    /// Serves `fs` on `threads` workers with `delays`.
    pub fn new(fs: Arc<PassThrough>, threads: usize, delays: Delays) -> io::Result<LatFs> {
        Ok(LatFs {
            fs,
            pool: Pool::start(threads)?,
            delays,
            threads,
            served: Arc::new(Served::new()),
        })
    }

    /// A handle to wait until every request handed to a worker is answered.
    pub fn idle(&self) -> crate::pool::Idle {
        self.pool.idle()
    }

    /// The counts of requests served, shared with whoever prints them.
    pub fn served(&self) -> Arc<Served> {
        Arc::clone(&self.served)
    }

    fn queue(&self, op: &str, delay: Duration, job: impl FnOnce(&PassThrough) + Send + 'static) {
        self.served.count(op);
        let fs = Arc::clone(&self.fs);
        self.pool.submit(delay, move || job(&fs));
    }

    fn metadata(&self, op: &str, job: impl FnOnce(&PassThrough) + Send + 'static) {
        self.queue(op, self.delays.metadata, job);
    }

    fn data(&self, op: &str, job: impl FnOnce(&PassThrough) + Send + 'static) {
        self.queue(op, self.delays.data, job);
    }
}

impl Filesystem for LatFs {
    fn init(&mut self, _req: &Request, config: &mut KernelConfig) -> io::Result<()> {
        // Lookups and listings of one directory in parallel, as NFS does (without this the
        // kernel serializes them per directory); no writeback cache, no readdirplus, so
        // every write and every name goes to latfs.
        let _ = config.add_capabilities(InitFlags::FUSE_PARALLEL_DIROPS);
        // Let as many readaheads and async reads wait at once as there are workers.
        let background = u16::try_from(self.threads).unwrap_or(u16::MAX);
        let _ = config.set_max_background(background);
        Ok(())
    }

    fn lookup(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEntry) {
        let name = name.to_os_string();
        self.metadata("lookup", move |fs| fs.lookup(parent.0, name, reply));
    }

    fn forget(&self, _req: &Request, ino: INodeNo, nlookup: u64) {
        self.fs.forget(ino.0, nlookup);
    }

    fn getattr(&self, _req: &Request, ino: INodeNo, fh: Option<FileHandle>, reply: ReplyAttr) {
        self.metadata("getattr", move |fs| {
            fs.getattr(ino.0, fh.map(|f| f.0), reply)
        });
    }

    fn setattr(
        &self,
        _req: &Request,
        ino: INodeNo,
        mode: Option<u32>,
        uid: Option<u32>,
        gid: Option<u32>,
        size: Option<u64>,
        atime: Option<TimeOrNow>,
        mtime: Option<TimeOrNow>,
        _ctime: Option<SystemTime>,
        fh: Option<FileHandle>,
        _crtime: Option<SystemTime>,
        _chgtime: Option<SystemTime>,
        _bkuptime: Option<SystemTime>,
        _flags: Option<BsdFileFlags>,
        reply: ReplyAttr,
    ) {
        let changes = Changes {
            mode,
            uid,
            gid,
            size,
            atime,
            mtime,
        };
        self.metadata("setattr", move |fs| {
            fs.setattr(ino.0, fh.map(|f| f.0), changes, reply)
        });
    }

    fn readlink(&self, _req: &Request, ino: INodeNo, reply: ReplyData) {
        self.metadata("readlink", move |fs| fs.readlink(ino.0, reply));
    }

    fn mknod(
        &self,
        req: &Request,
        parent: INodeNo,
        name: &OsStr,
        mode: u32,
        _umask: u32,
        rdev: u32,
        reply: ReplyEntry,
    ) {
        let (name, who) = (name.to_os_string(), caller(req));
        self.metadata("mknod", move |fs| {
            fs.mknod(parent.0, name, mode, rdev, who, reply)
        });
    }

    fn mkdir(
        &self,
        req: &Request,
        parent: INodeNo,
        name: &OsStr,
        mode: u32,
        _umask: u32,
        reply: ReplyEntry,
    ) {
        let (name, who) = (name.to_os_string(), caller(req));
        self.metadata("mkdir", move |fs| {
            fs.mkdir(parent.0, name, mode, who, reply)
        });
    }

    fn unlink(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEmpty) {
        let name = name.to_os_string();
        self.metadata("unlink", move |fs| fs.remove(parent.0, name, false, reply));
    }

    fn rmdir(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEmpty) {
        let name = name.to_os_string();
        self.metadata("rmdir", move |fs| fs.remove(parent.0, name, true, reply));
    }

    fn symlink(
        &self,
        req: &Request,
        parent: INodeNo,
        link_name: &OsStr,
        target: &Path,
        reply: ReplyEntry,
    ) {
        let (name, target, who) = (link_name.to_os_string(), target.to_path_buf(), caller(req));
        self.metadata("symlink", move |fs| {
            fs.symlink(parent.0, name, target, who, reply)
        });
    }

    fn rename(
        &self,
        _req: &Request,
        parent: INodeNo,
        name: &OsStr,
        newparent: INodeNo,
        newname: &OsStr,
        flags: RenameFlags,
        reply: ReplyEmpty,
    ) {
        let (name, newname) = (name.to_os_string(), newname.to_os_string());
        self.metadata("rename", move |fs| {
            fs.rename(parent.0, name, newparent.0, newname, flags.bits(), reply)
        });
    }

    fn link(
        &self,
        _req: &Request,
        ino: INodeNo,
        newparent: INodeNo,
        newname: &OsStr,
        reply: ReplyEntry,
    ) {
        let newname = newname.to_os_string();
        self.metadata("link", move |fs| {
            fs.link(ino.0, newparent.0, newname, reply)
        });
    }

    fn open(&self, _req: &Request, ino: INodeNo, flags: OpenFlags, reply: ReplyOpen) {
        self.metadata("open", move |fs| fs.open(ino.0, flags.0, reply));
    }

    fn read(
        &self,
        _req: &Request,
        ino: INodeNo,
        fh: FileHandle,
        offset: u64,
        size: u32,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        reply: ReplyData,
    ) {
        self.data("read", move |fs| fs.read(ino.0, fh.0, offset, size, reply));
    }

    fn write(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        offset: u64,
        data: &[u8],
        _write_flags: WriteFlags,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        reply: ReplyWrite,
    ) {
        let data = data.to_vec();
        self.data("write", move |fs| fs.write(fh.0, offset, &data, reply));
    }

    fn flush(
        &self,
        _req: &Request,
        _ino: INodeNo,
        _fh: FileHandle,
        _lock_owner: LockOwner,
        reply: ReplyEmpty,
    ) {
        self.served.count("flush");
        reply.ok();
    }

    fn release(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        _flush: bool,
        reply: ReplyEmpty,
    ) {
        self.served.count("release");
        self.fs.release(fh.0, reply);
    }

    fn fsync(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        datasync: bool,
        reply: ReplyEmpty,
    ) {
        self.metadata("fsync", move |fs| fs.fsync(fh.0, datasync, reply));
    }

    fn opendir(&self, _req: &Request, ino: INodeNo, _flags: OpenFlags, reply: ReplyOpen) {
        self.metadata("opendir", move |fs| fs.opendir(ino.0, reply));
    }

    fn readdir(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        offset: u64,
        reply: ReplyDirectory,
    ) {
        self.metadata("readdir", move |fs| fs.readdir(fh.0, offset, reply));
    }

    fn releasedir(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        _flags: OpenFlags,
        reply: ReplyEmpty,
    ) {
        self.served.count("releasedir");
        self.fs.releasedir(fh.0, reply);
    }

    fn statfs(&self, _req: &Request, _ino: INodeNo, reply: ReplyStatfs) {
        self.metadata("statfs", move |fs| fs.statfs(reply));
    }

    fn create(
        &self,
        req: &Request,
        parent: INodeNo,
        name: &OsStr,
        mode: u32,
        _umask: u32,
        flags: i32,
        reply: ReplyCreate,
    ) {
        let (name, who) = (name.to_os_string(), caller(req));
        self.metadata("create", move |fs| {
            fs.create(parent.0, name, mode, flags, who, reply)
        });
    }
}
