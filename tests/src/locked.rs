//! A session locked with digest credentials, seen from outside: what an anonymous client
//! gets, the ACL that ZooKeeper's super user reads, and a search for the secret in text
//! (command lines, environments, logs) that knows only the secret's digest.

use zookeeper_client as zk;

/// The super user's password of [`crate::zk::ZkServer::with_super_user`] servers in tests.
pub const SUPER_PASSWORD: &str = "the-tests-own-super-password";

/// The length of the secret [`find_secret`] looks for.
pub const SECRET_LEN: usize = 64;

fn block_on<T>(f: impl std::future::Future<Output = T>) -> T {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime")
        .block_on(f)
}

async fn client(connect: &str, auth: Option<&str>) -> zk::Client {
    let mut connector = zk::Client::connector();
    if let Some(a) = auth {
        connector = connector.with_auth("digest", a.as_bytes());
    }
    connector
        .connect(connect)
        .await
        .expect("connect to ZooKeeper")
}

/// What an anonymous client gets when it reads `path`'s data and lists its children.
pub fn anonymous_read(connect: &str, path: &str) -> [Result<(), zk::Error>; 2] {
    block_on(async {
        let c = client(connect, None).await;
        [
            c.get_data(path).await.map(|_| ()),
            c.list_children(path).await.map(|_| ()),
        ]
    })
}

/// Whether `path` exists (no ACL is needed to ask).
pub fn exists(connect: &str, path: &str) -> bool {
    block_on(async {
        let c = client(connect, None).await;
        c.check_stat(path).await.expect("check_stat").is_some()
    })
}

/// Asserts that `/zkrsync/<session>` exists and refuses an anonymous reader (a server
/// without a super user cannot say more).
pub fn assert_exists_locked(connect: &str, session: &str) {
    let root = format!("/zkrsync/{session}");
    assert!(exists(connect, &root), "{root} exists");
    let [data, _] = anonymous_read(connect, &root);
    assert!(
        matches!(data, Err(zk::Error::NoAuth)),
        "an anonymous client reading {root}: {data:?}, not NoAuth"
    );
}

/// The ACL of `path`, read by the super user: `(scheme, id, all permissions?)` each.
pub fn acl_of(connect: &str, path: &str) -> Vec<(String, String, bool)> {
    block_on(async {
        let c = client(connect, Some(&format!("super:{SUPER_PASSWORD}"))).await;
        let (acls, _) = c.get_acl(path).await.expect("get_acl as super");
        acls.iter()
            .map(|a| {
                (
                    a.scheme().to_owned(),
                    a.id().to_owned(),
                    a.permission() == zk::Permission::ALL,
                )
            })
            .collect()
    })
}

/// Asserts that session `session` (under `/zkrsync`) refuses an anonymous client (its
/// znode's data and children, its `config`: not authorized) and that its ACL gives every
/// permission to one digest user alone; returns that user's digest id (`user:hash`).
pub fn assert_locked(connect: &str, session: &str) -> String {
    let root = format!("/zkrsync/{session}");
    for path in [root.clone(), format!("{root}/config")] {
        for got in anonymous_read(connect, &path) {
            assert!(
                matches!(got, Err(zk::Error::NoAuth)),
                "an anonymous client reading {path}: {got:?}, not NoAuth"
            );
        }
    }
    let acl = acl_of(connect, &root);
    match &acl[..] {
        [(scheme, id, true)] if scheme == "digest" => id.clone(),
        _ => panic!("{root} has the ACL {acl:?}, not one digest user with every permission"),
    }
}

/// The secret of the digest ACL id `user:hash` when `text` holds it as [`SECRET_LEN`]
/// letters and digits in a row (anywhere in a longer run too).
pub fn find_secret(text: &str, digest_id: &str) -> Option<String> {
    let user = digest_id.split(':').next().unwrap_or("");
    text.split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|run| run.len() >= SECRET_LEN)
        .flat_map(|run| (0..=run.len() - SECRET_LEN).map(move |i| &run[i..i + SECRET_LEN]))
        .find(|candidate| {
            zkrsync_launcher::initree::config::digest_id(user, candidate) == digest_id
        })
        .map(str::to_owned)
}

/// Every process's command line and environment on this machine (what `ps -eww` and
/// `ps eww` show, and more: nothing is cut), one process a line.
pub fn every_process() -> String {
    let mut out = String::new();
    for entry in std::fs::read_dir("/proc").expect("/proc").flatten() {
        if !entry
            .file_name()
            .to_string_lossy()
            .bytes()
            .all(|b| b.is_ascii_digit())
        {
            continue;
        }
        for what in ["cmdline", "environ"] {
            if let Ok(bytes) = std::fs::read(entry.path().join(what)) {
                out.push_str(&String::from_utf8_lossy(&bytes).replace('\0', " "));
                out.push(' ');
            }
        }
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_secret_is_found_by_its_digest_alone() {
        let secret = "0123456789abcdef".repeat(4);
        let id = zkrsync_launcher::initree::config::digest_id("u", &secret);
        assert_eq!(
            find_secret(&format!("x RSYNC=u:{secret} y"), &id).as_deref(),
            Some(secret.as_str())
        );
        assert_eq!(
            find_secret(&format!("in a longer run: ab{secret}cd"), &id).as_deref(),
            Some(secret.as_str())
        );
        assert_eq!(find_secret(&secret[1..], &id), None);
        let other = "f".repeat(SECRET_LEN);
        assert_eq!(find_secret(&other, &id), None);
    }
}
