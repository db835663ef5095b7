//! zkinitree's config, vsc-zk's format: `[MAIN]` (`servers`), `[root]` (the admin: `passwd`,
//! optional `path`, the chroot the tree is built under), user sections (`passwd`), and znode
//! sections (names starting with `/`) whose keys are permission sets (`r w c d a` in any
//! combination, or `all`) mapped to comma-separated users; an empty value is ignored, as in
//! vsc-zk; `value` gives a znode's data.
//!
//! Turned into the znodes to create, parents before children, each with its digest ACL list:
//! the admin with every permission first, then the users.

use std::collections::BTreeMap;

use base64::Engine as _;
use sha1::{Digest as _, Sha1};
use zookeeper_client::{Acl, AuthId, Permission};

use crate::ini::{self, IniError, Section};

/// The admin's user name in the digest ACLs, as vsc-zk has it.
pub const ADMIN: &str = "root";

/// A digest ACL id: `user:base64(sha1(user:password))`, as ZooKeeper's DigestAuthenticationProvider.
pub fn digest_id(user: &str, password: &str) -> String {
    let hash = Sha1::digest(format!("{user}:{password}").as_bytes());
    format!(
        "{user}:{}",
        base64::engine::general_purpose::STANDARD.encode(hash)
    )
}

/// One znode to make, with its ACL list.
#[derive(Debug, Clone)]
pub struct Znode {
    /// Its full path (the chroot's included).
    pub path: String,
    /// Its ACL list: the admin's first.
    pub acls: Vec<Acl>,
    /// Its data, when the config gives `value`.
    pub value: Option<String>,
    /// Whether the config names it (a parent it only implies gets the admin's ACL alone).
    pub listed: bool,
}

/// What the config asks for.
#[derive(Debug, Clone)]
pub struct TreeSpec {
    /// `[MAIN] servers`, if given.
    pub servers: Option<String>,
    /// The admin's password.
    pub admin_password: String,
    /// The chroot the tree is built under (`[root] path`, default `/`).
    pub chroot: String,
    /// The znodes, parents before children.
    pub znodes: Vec<Znode>,
}

fn permissions(set: &str) -> Result<Permission, char> {
    if set == "all" {
        return Ok(Permission::ALL);
    }
    let mut p = Permission::NONE;
    for c in set.chars() {
        p = p | match c {
            'r' => Permission::READ,
            'w' => Permission::WRITE,
            'c' => Permission::CREATE,
            'd' => Permission::DELETE,
            'a' => Permission::ADMIN,
            other => return Err(other),
        };
    }
    Ok(p)
}

/// What a ZooKeeper path must look like, for the messages that refuse one.
const PATH_RULE: &str = "give /a/b, without a trailing '/', '//', '.' or '..'";

/// Why a config cannot be used; every message names the place and says what to write.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// The file is not INI.
    #[error(transparent)]
    Ini(#[from] IniError),
    /// No `[root]` section, so no admin.
    #[error(
        "{file}: there is no [root] section: add [root] with passwd=… (the admin of every znode)"
    )]
    NoRoot {
        /// The file, as named to [`parse`].
        file: String,
    },
    /// `[root]` has no password.
    #[error("{file}: [root] has no passwd: give the admin's password, passwd=…")]
    NoAdminPassword {
        /// The file, as named to [`parse`].
        file: String,
    },
    /// `[root] path` is not a ZooKeeper path.
    #[error("{file}: [root] path: {path:?} is not a ZooKeeper path: {}", PATH_RULE)]
    BadChroot {
        /// The file, as named to [`parse`].
        file: String,
        /// The path given.
        path: String,
    },
    /// A znode section's name is not a ZooKeeper path.
    #[error(
        "{file} line {line}: section: {path:?} is not a ZooKeeper path: {}",
        PATH_RULE
    )]
    BadZnodePath {
        /// The file, as named to [`parse`].
        file: String,
        /// The section's line.
        line: usize,
        /// The section's name.
        path: String,
    },
    /// A user section has no password.
    #[error(
        "{file} line {line}: user [{user}] has no passwd: give passwd=… (or remove the section)"
    )]
    NoUserPassword {
        /// The file, as named to [`parse`].
        file: String,
        /// The section's line.
        line: usize,
        /// The user (the section's name).
        user: String,
    },
    /// An entry of a znode section is wrong.
    #[error("{file} line {line}: [{section}] {key}: {problem}")]
    Entry {
        /// The file, as named to [`parse`].
        file: String,
        /// The entry's line.
        line: usize,
        /// The znode section.
        section: String,
        /// The entry's key.
        key: String,
        /// What is wrong with it.
        problem: EntryProblem,
    },
}

/// What is wrong with one entry of a znode section.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EntryProblem {
    /// `ephemeral` or `sequence`: vsc-zk options that make no lasting znode.
    #[error("an ephemeral or sequential znode cannot be part of a lasting tree: remove the key")]
    NotLasting,
    /// A letter of the key is no permission.
    #[error("{0:?} is not a permission: use letters of r w c d a (read, write, create, delete, admin), or all")]
    NotAPermission(char),
    /// A user the value names has no section.
    #[error("user {0:?} is not configured: add a [{0}] section with passwd=…")]
    UnknownUser(String),
}

/// Whether `path` is a ZooKeeper path: absolute, no trailing '/' (but `/`), no empty,
/// `.` or `..` component.
fn is_zk_path(path: &str) -> bool {
    path.starts_with('/')
        && (path == "/" || !path.ends_with('/'))
        && !path.contains("//")
        && path.split('/').all(|c| c != "." && c != "..")
}

/// Parses and checks a config; `file` names it in errors, which name the section and key.
pub fn parse(text: &str, file: &str) -> Result<TreeSpec, ConfigError> {
    let sections = ini::parse(text, file)?;
    let find = |name: &str| sections.iter().find(|s| s.name == name);
    let servers = find("MAIN")
        .and_then(|s| s.get("servers"))
        .map(|e| e.value.clone())
        .filter(|v| !v.is_empty());
    let root = find("root").ok_or_else(|| ConfigError::NoRoot {
        file: file.to_owned(),
    })?;
    let admin_password = root
        .get("passwd")
        .map(|e| e.value.clone())
        .filter(|v| !v.is_empty())
        .ok_or_else(|| ConfigError::NoAdminPassword {
            file: file.to_owned(),
        })?;
    let chroot = root
        .get("path")
        .map(|e| e.value.clone())
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| "/".to_owned());
    if !is_zk_path(&chroot) {
        return Err(ConfigError::BadChroot {
            file: file.to_owned(),
            path: chroot,
        });
    }

    let users = users(&sections, &admin_password, file)?;

    let admin = Acl::new(
        Permission::ALL,
        AuthId::new("digest", &digest_id(ADMIN, &admin_password)),
    );
    let mut listed: BTreeMap<String, Znode> = BTreeMap::new();
    for s in sections.iter().filter(|s| s.name.starts_with('/')) {
        if !is_zk_path(&s.name) {
            return Err(ConfigError::BadZnodePath {
                file: file.to_owned(),
                line: s.line,
                path: s.name.clone(),
            });
        }
        let mut z = znode(s, file, &users, &admin)?;
        z.path = under(&chroot, &s.name);
        listed.insert(z.path.clone(), z);
    }
    // Parents the config only implies: made with the admin's ACL alone.
    let mut all = listed.clone();
    for path in listed.keys() {
        let mut p = path.as_str();
        while let Some(at) = p.rfind('/').filter(|at| *at > 0) {
            p = &p[..at];
            all.entry(p.to_owned()).or_insert_with(|| Znode {
                path: p.to_owned(),
                acls: vec![admin.clone()],
                value: None,
                listed: false,
            });
        }
    }
    let mut znodes: Vec<Znode> = all.into_values().collect();
    znodes.sort_by(|a, b| {
        let depth = |p: &str| p.matches('/').count();
        (depth(&a.path), &a.path).cmp(&(depth(&b.path), &b.path))
    });
    Ok(TreeSpec {
        servers,
        admin_password,
        chroot,
        znodes,
    })
}

/// Every user's password by name: the admin's, then those of the user sections (neither
/// `[MAIN]`, `[root]` nor a znode).
fn users<'a>(
    sections: &'a [Section],
    admin_password: &'a str,
    file: &str,
) -> Result<BTreeMap<&'a str, &'a str>, ConfigError> {
    let mut users: BTreeMap<&str, &str> = BTreeMap::new();
    users.insert(ADMIN, admin_password);
    for s in sections
        .iter()
        .filter(|s| !s.name.starts_with('/') && s.name != "MAIN" && s.name != "root")
    {
        let pass = s
            .get("passwd")
            .map(|e| e.value.as_str())
            .filter(|v| !v.is_empty())
            .ok_or_else(|| ConfigError::NoUserPassword {
                file: file.to_owned(),
                line: s.line,
                user: s.name.clone(),
            })?;
        users.insert(&s.name, pass);
    }
    Ok(users)
}

/// `path` under `chroot`.
pub fn under(chroot: &str, path: &str) -> String {
    match (chroot, path) {
        ("/", p) => p.to_owned(),
        (c, "/") => c.to_owned(),
        (c, p) => format!("{c}{p}"),
    }
}

fn znode(
    s: &Section,
    file: &str,
    users: &BTreeMap<&str, &str>,
    admin: &Acl,
) -> Result<Znode, ConfigError> {
    let mut acls = vec![admin.clone()];
    let mut value = None;
    for e in &s.entries {
        let at = |problem: EntryProblem| ConfigError::Entry {
            file: file.to_owned(),
            line: e.line,
            section: s.name.clone(),
            key: e.key.clone(),
            problem,
        };
        match e.key.as_str() {
            "value" => {
                value = Some(e.value.clone());
                continue;
            }
            // vsc-zk's kazoo option: parents are always made here.
            "makepath" => continue,
            "ephemeral" | "sequence" => return Err(at(EntryProblem::NotLasting)),
            _ => {}
        }
        // An empty value is ignored, as in vsc-zk.
        if e.value.is_empty() {
            continue;
        }
        let perms = permissions(&e.key).map_err(|c| at(EntryProblem::NotAPermission(c)))?;
        for user in e.value.split(',').map(str::trim).filter(|u| !u.is_empty()) {
            let pass = users
                .get(user)
                .ok_or_else(|| at(EntryProblem::UnknownUser(user.to_owned())))?;
            let id = AuthId::new("digest", &digest_id(user, pass));
            match acls.iter_mut().find(|a| a.auth_id() == &id) {
                // One entry per identity: its permissions add up.
                Some(existing) => *existing = Acl::new(existing.permission() | perms, id),
                None => acls.push(Acl::new(perms, id)),
            }
        }
    }
    Ok(Znode {
        path: s.name.clone(),
        acls,
        value,
        listed: true,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXAMPLE: &str = "[MAIN]\nservers=127.0.0.1:2181\n[root]\npasswd=admin\npath=/\n[rsync]\npasswd=w00f\n[user4]\npasswd=bla\n[/admin/rsync]\nrwcd=rsync\n[/admin]\nr=user4\nw=\n";

    #[test]
    fn digest_matches_zookeeper() {
        // ZooKeeper's own: DigestAuthenticationProvider.generateDigest("super:test").
        assert_eq!(
            digest_id("super", "test"),
            "super:D/InIHSb7yEEbrWz8b9l71RjZJU="
        );
    }

    #[test]
    fn the_example_makes_parents_first_with_their_acls() {
        let spec = parse(EXAMPLE, "f").unwrap();
        assert_eq!(spec.servers.as_deref(), Some("127.0.0.1:2181"));
        assert_eq!(spec.chroot, "/");
        let paths: Vec<&str> = spec.znodes.iter().map(|z| z.path.as_str()).collect();
        assert_eq!(paths, ["/admin", "/admin/rsync"]);
        let admin = &spec.znodes[0];
        assert_eq!(
            admin.acls.len(),
            2,
            "root and user4; the empty w= is ignored"
        );
        assert_eq!(admin.acls[0].permission(), Permission::ALL);
        assert_eq!(admin.acls[0].auth_id().id(), digest_id("root", "admin"));
        assert_eq!(admin.acls[1].permission(), Permission::READ);
        assert_eq!(admin.acls[1].auth_id().id(), digest_id("user4", "bla"));
        let rsync = &spec.znodes[1];
        assert_eq!(
            rsync.acls[1].permission(),
            Permission::READ | Permission::WRITE | Permission::CREATE | Permission::DELETE
        );
    }

    #[test]
    fn implied_parents_get_the_admin_alone() {
        let spec = parse("[root]\npasswd=x\n[u]\npasswd=p\n[/a/b/c]\nall=u\n", "f").unwrap();
        let paths: Vec<(&str, usize, bool)> = spec
            .znodes
            .iter()
            .map(|z| (z.path.as_str(), z.acls.len(), z.listed))
            .collect();
        assert_eq!(
            paths,
            [("/a", 1, false), ("/a/b", 1, false), ("/a/b/c", 2, true)]
        );
        assert_eq!(spec.znodes[2].acls[1].permission(), Permission::ALL);
    }

    #[test]
    fn the_root_path_is_a_chroot() {
        let spec = parse("[root]\npasswd=x\npath=/site\n[/a]\n[/]\n", "f").unwrap();
        let paths: Vec<(&str, bool)> = spec
            .znodes
            .iter()
            .map(|z| (z.path.as_str(), z.listed))
            .collect();
        assert_eq!(paths, [("/site", true), ("/site/a", true)]);
    }

    #[test]
    fn errors_name_the_section_and_key() {
        for (text, want) in [
            ("[u]\npasswd=p\n", "f: there is no [root] section"),
            ("[root]\npath=/\n", "f: [root] has no passwd"),
            (
                "[root]\npasswd=x\n[bob]\nname=b\n",
                "f line 3: user [bob] has no passwd",
            ),
            (
                "[root]\npasswd=x\n[/a]\nr=bob\n",
                "f line 4: [/a] r: user \"bob\" is not configured",
            ),
            (
                "[root]\npasswd=x\n[/a]\nrx=root\n",
                "f line 4: [/a] rx: 'x' is not a permission",
            ),
            (
                "[root]\npasswd=x\n[/a/]\n",
                "f line 3: section: \"/a/\" is not a ZooKeeper path",
            ),
            (
                "[root]\npasswd=x\n[/a]\nephemeral=1\n",
                "f line 4: [/a] ephemeral: an ephemeral",
            ),
        ] {
            let e = parse(text, "f").unwrap_err().to_string();
            assert!(e.starts_with(want), "{want} vs {e}");
            assert!(!e.contains('\n'));
        }
    }
}
