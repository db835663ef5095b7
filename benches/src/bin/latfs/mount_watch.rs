//! Is the mount still there? Asked of `/proc/self/mountinfo`, and waited for without
//! polling in a loop: the kernel wakes a `poll` for `POLLPRI` on that file whenever the mount
//! table changes, so an unmount by anyone (`fusermount3 -u`, `umount -l`) is seen at once,
//! even one that leaves requests held by `--hang` behind.

use std::fs::{self, File};
use std::io;
use std::os::fd::AsFd;
use std::thread;

use nix::poll::{PollFd, PollFlags, PollTimeout};

const MOUNTINFO: &str = "/proc/self/mountinfo";

/// Is a file system of device `dev` mounted (in this mount namespace)?
pub fn is_mounted(dev: u64) -> io::Result<bool> {
    Ok(lists(&fs::read_to_string(MOUNTINFO)?, dev))
}

/// Does `mountinfo` (the text of `/proc/self/mountinfo`) list a mount of device `dev`?
fn lists(mountinfo: &str, dev: u64) -> bool {
    let id = format!("{}:{}", libc::major(dev), libc::minor(dev));
    mountinfo
        .lines()
        .any(|line| line.split(' ').nth(2) == Some(id.as_str()))
}

/// Calls `gone` (on a thread of its own) once no file system of device `dev` is mounted.
pub fn when_unmounted(dev: u64, gone: impl FnOnce() + Send + 'static) -> io::Result<()> {
    let table = File::open(MOUNTINFO)?;
    thread::Builder::new()
        .name("latfs-mounts".into())
        .spawn(move || loop {
            if !is_mounted(dev).unwrap_or(true) {
                return gone();
            }
            let mut fds = [PollFd::new(table.as_fd(), PollFlags::POLLPRI)];
            match nix::poll::poll(&mut fds, PollTimeout::NONE) {
                Ok(_) | Err(nix::errno::Errno::EINTR) => {}
                // Cannot wait: the mount is then only left by a signal or the session's end.
                Err(_) => return,
            }
        })?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const TABLE: &str = "\
22 1 0:21 / /tmp rw,relatime shared:1 - tmpfs tmpfs rw
97 22 0:52 / /tmp/m\\040n rw,nosuid,nodev,relatime shared:60 - fuse.latfs latfs rw,user_id=0
";

    #[test]
    fn a_mount_is_found_by_its_device() {
        assert!(lists(TABLE, libc::makedev(0, 52)));
        assert!(!lists(TABLE, libc::makedev(0, 5)));
        assert!(!lists(TABLE, libc::makedev(52, 0)));
    }
}
