//! The walk options shared by `zkrsync paths` and `zkrsync source`.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Context};
use clap::Args;
use regex::bytes::Regex;

use crate::agent::filter_args::FilterArgs;
use zkrsync_core::walk::{SubPath, WalkSpec, DEFAULT_DEPTH, DEFAULT_EXCLUDE};

/// How the source tree is cut into units.
#[derive(Debug, Clone, Args)]
pub struct WalkArgs {
    /// Directories above this depth are copied one level at a time (rsync -d), directories
    /// at it with their whole subtree (rsync -r); 0 copies the tree as one unit.
    #[arg(long, default_value_t = DEFAULT_DEPTH, value_name = "D")]
    pub depth: u32,

    /// rsync's filter options, in the order given.
    #[command(flatten)]
    pub filters: FilterArgs,

    /// Leave out directories whose full path matches this regular expression (vsc-zk's
    /// --excludere; '' for none).
    #[arg(long, default_value = DEFAULT_EXCLUDE, value_name = "REGEX")]
    pub exclude_regex: String,

    /// A match of --exclude-regex counts only for directories owned by this user (name or
    /// uid); '' makes every match count.
    #[arg(long, default_value = "root", value_name = "USER")]
    pub exclude_owner: String,

    /// Walk a sub-tree N levels deeper than itself, written N_PATH (e.g. 2_projects/big);
    /// repeatable, deepest reach last.
    #[arg(long = "subpath", value_name = "N_PATH")]
    pub subpaths: Vec<OsString>,

    /// Threads that read directories (default: one per core; more helps on network file
    /// systems).
    #[arg(long, value_name = "N")]
    pub threads: Option<usize>,
}

impl WalkArgs {
    /// The walk spec for the tree at `root` (absolute, as given by [`absolute_root`]).
    pub fn spec(&self, root: &Path) -> anyhow::Result<WalkSpec> {
        let exclude_regex = if self.exclude_regex.is_empty() {
            None
        } else {
            Some(Regex::new(&self.exclude_regex).map_err(|e| {
                anyhow!(
                    "--exclude-regex {:?} is not a valid regular expression ({}): fix it, or give --exclude-regex '' to exclude nothing",
                    self.exclude_regex,
                    one_line(&e.to_string())
                )
            })?)
        };
        let exclude_owner = match self.exclude_owner.as_str() {
            "" => None,
            name => Some(uid_of(name)?),
        };
        let subpaths = self
            .subpaths
            .iter()
            .map(|arg| SubPath::parse(arg, root))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(WalkSpec {
            depth: self.depth,
            filters: self.filters.filters()?,
            exclude_regex,
            exclude_owner,
            subpaths,
        })
    }

    /// Sizes rayon's global pool, once, before any walk.
    pub fn configure_threads(&self) -> anyhow::Result<()> {
        if let Some(threads) = self.threads {
            if threads == 0 {
                bail!("--threads 0: give at least 1 thread");
            }
            rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build_global()
                .context("cannot size the walk's thread pool")?;
        }
        Ok(())
    }
}

/// `path` made absolute (without resolving symlinks) and without trailing slashes.
pub fn absolute_root(path: &Path) -> anyhow::Result<PathBuf> {
    if path.as_os_str().is_empty() {
        bail!("the path is empty: give the directory to copy");
    }
    let absolute = std::path::absolute(path)
        .with_context(|| format!("cannot make {} absolute", path.display()))?;
    Ok(absolute.components().collect())
}

fn uid_of(name: &str) -> anyhow::Result<u32> {
    if let Ok(uid) = name.parse::<u32>() {
        return Ok(uid);
    }
    match nix::unistd::User::from_name(name) {
        Ok(Some(user)) => Ok(user.uid.as_raw()),
        Ok(None) => bail!(
            "--exclude-owner {name:?} is not a known user: give a user name, a numeric uid, or '' to exclude every match"
        ),
        Err(e) => bail!("cannot look up user {name:?} for --exclude-owner: {e}"),
    }
}

/// Error texts (the regex crate's are several lines) squeezed onto one line.
pub fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}
