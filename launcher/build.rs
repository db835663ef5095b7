//! Records, for `--version`, the version of zookeeper-client that the workspace's
//! Cargo.lock pins (`ZKRSYNC_ZK_CLIENT_VERSION`; "unknown" when no lock file names it).

use std::path::PathBuf;

fn main() {
    let manifest = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("set by cargo"));
    let lock = manifest
        .ancestors()
        .map(|dir| dir.join("Cargo.lock"))
        .find(|file| file.is_file());
    let version = match &lock {
        Some(lock) => {
            println!("cargo:rerun-if-changed={}", lock.display());
            let text = std::fs::read_to_string(lock).unwrap_or_default();
            locked_version(&text, "zookeeper-client").unwrap_or_else(|| "unknown".to_owned())
        }
        None => "unknown".to_owned(),
    };
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rustc-env=ZKRSYNC_ZK_CLIENT_VERSION={version}");
}

/// The `version` of the `[[package]]` named `name` in a Cargo.lock's text.
fn locked_version(lock: &str, name: &str) -> Option<String> {
    let wanted = format!("name = \"{name}\"");
    lock.split("[[package]]").find_map(|package| {
        if !package.lines().any(|l| l.trim() == wanted) {
            return None;
        }
        package
            .lines()
            .map(str::trim)
            .find_map(|l| l.strip_prefix("version = \""))
            .and_then(|v| v.strip_suffix('"'))
            .map(str::to_owned)
    })
}
