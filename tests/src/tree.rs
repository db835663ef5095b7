//! Generated source trees for the end-to-end tests.

use std::ffi::OsStr;
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::{Path, PathBuf};

/// Names that break careless tools: spaces, newlines, leading dashes, globs, bytes that
/// are not UTF-8.
pub const ODD_NAMES: &[&[u8]] = &[
    b"with space",
    b"new\nline",
    b"-leading-dash",
    b"*?[glob]",
    b"\xff\xfe not utf8",
    b"tab\there",
];

/// A deterministic pseudo-random sequence (a linear congruential generator).
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.0 >> 33
    }
}

/// What [`generate`] made.
#[derive(Debug, Default)]
pub struct TreeStats {
    /// Directories, the root excluded.
    pub dirs: usize,
    /// Regular files (hard links counted once per name).
    pub files: usize,
    /// Symbolic links.
    pub symlinks: usize,
}

/// Builds a tree of `dirs` directories (spread over 4 levels) with `files_per_dir` files
/// each, odd names at every level, symlinks (to files, to directories, dangling), empty
/// directories and hard links.
pub fn generate(root: &Path, dirs: usize, files_per_dir: usize, seed: u64) -> TreeStats {
    let mut rng = Lcg(seed);
    let mut stats = TreeStats::default();
    fs::create_dir_all(root).unwrap();
    let mut all: Vec<PathBuf> = vec![root.to_owned()];
    let mut made = 0;
    while made < dirs {
        // Parents are picked among the first directories so the tree is bushy near the top
        // and deep enough below it.
        let parent = all[(rng.next() as usize) % all.len().min(1 + made / 3)].clone();
        let name: Vec<u8> = if made % 17 == 0 {
            let mut n = ODD_NAMES[(made / 17) % ODD_NAMES.len()].to_vec();
            n.extend_from_slice(format!(" {made}").as_bytes());
            n
        } else {
            format!("d{made:04}").into_bytes()
        };
        let dir = parent.join(OsStr::from_bytes(&name));
        fs::create_dir(&dir).unwrap();
        all.push(dir.clone());
        made += 1;
        stats.dirs += 1;
        if made % 50 == 0 {
            continue; // an empty directory
        }
        for f in 0..files_per_dir {
            let fname: Vec<u8> = if f == 0 && made % 5 == 0 {
                ODD_NAMES[made % ODD_NAMES.len()].to_vec()
            } else {
                format!("f{f:03}.dat").into_bytes()
            };
            let path = dir.join(OsStr::from_bytes(&fname));
            let len = (rng.next() % 4096) as usize;
            let data: Vec<u8> = (0..len).map(|i| (i as u64 ^ rng.next()) as u8).collect();
            fs::write(&path, data).unwrap();
            if f == 1 {
                fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).unwrap();
            }
            stats.files += 1;
        }
        if made % 7 == 0 {
            symlink("f000.dat", dir.join("link-to-file")).unwrap();
            symlink("..", dir.join("link-to-parent")).unwrap();
            symlink("/nonexistent/target", dir.join("dangling")).unwrap();
            stats.symlinks += 3;
        }
        if made % 11 == 0 && files_per_dir > 2 {
            fs::hard_link(dir.join("f002.dat"), dir.join("hardlink.dat")).unwrap();
            stats.files += 1;
        }
    }
    stats
}

/// Gives every entry below `root` the same old time with nanoseconds (rsync leaves the
/// sub-second part unset for a time in the second of the copy).
pub fn age(root: &Path) {
    let status = std::process::Command::new("find")
        .arg(root)
        .args([
            "-exec",
            "touch",
            "-h",
            "-d",
            "2024-03-01 12:00:00.123456789",
            "{}",
            "+",
        ])
        .status()
        .expect("run find");
    assert!(status.success());
}
