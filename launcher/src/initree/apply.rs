//! `zkinitree CONFIG [--servers CONNECT] [--dry-run]`: builds a ZooKeeper tree with digest
//! ACLs from vsc-zk's config format, as the admin `root`. Parents come before children; a
//! znode the config names that exists already gets its ACL set (and a warning); a parent the
//! config only implies is made with the admin's ACL alone, and left as it is when it exists;
//! a second run changes nothing.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{anyhow, Context};
use clap::Parser;
use zkrsync_core::protocol::exit_code;
use zookeeper_client::{self as zk, Acl, Permission};

use crate::initree::config::{self, Znode, ADMIN};

/// Options of `zkinitree`.
#[derive(Debug, Parser)]
#[command(
    name = "zkinitree",
    version,
    about = "Build a ZooKeeper tree with digest ACLs from a vsc-zk config file",
    after_help = format!(
        "The config: [MAIN] servers=...; [root] passwd=... (path=/chroot); a section per user with passwd=...; a section per znode (/a/b) with permission sets (r w c d a, or all) = comma-separated users, and value=...\n\n{}",
        exit_code::help(&[exit_code::OK, exit_code::CONFIG])
    )
)]
pub struct InitreeArgs {
    /// The config file.
    pub config: PathBuf,
    /// ZooKeeper connect string (default: [MAIN] servers).
    #[arg(long, value_name = "CONNECT")]
    pub servers: Option<String>,
    /// Print what would be created or changed; change nothing.
    #[arg(long, short = 'n')]
    pub dry_run: bool,
}

/// What happened (or would happen) to one znode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Done {
    /// Made.
    Created,
    /// There already; its ACL (or data) set to the config's.
    Updated,
    /// There already as the config has it, or an implied parent that exists.
    Unchanged,
}

/// `r w c d a` letters of a permission.
pub fn letters(p: Permission) -> String {
    [
        (Permission::READ, 'r'),
        (Permission::WRITE, 'w'),
        (Permission::CREATE, 'c'),
        (Permission::DELETE, 'd'),
        (Permission::ADMIN, 'a'),
    ]
    .iter()
    .filter(|(bit, _)| p.has(*bit))
    .map(|(_, c)| *c)
    .collect()
}

fn show(acls: &[Acl]) -> String {
    acls.iter()
        .map(|a| {
            let user = a.id().split(':').next().unwrap_or("");
            format!("{}:{user}={}", a.scheme(), letters(a.permission()))
        })
        .collect::<Vec<_>>()
        .join(",")
}

fn same_acls(a: &[Acl], b: &[Acl]) -> bool {
    a.len() == b.len() && a.iter().all(|x| b.contains(x))
}

fn zk_error(path: &str, what: &str, e: zk::Error) -> anyhow::Error {
    match e {
        zk::Error::NoAuth => anyhow!(
            "{path}: not authorized to {what}: its ACL does not let the admin ({ADMIN}) in: check [root] passwd, or fix the ACL with ZooKeeper's super user"
        ),
        e => anyhow!("{path}: cannot {what}: {e}"),
    }
}

/// Runs `zkinitree`; returns the exit code.
pub fn run(args: &InitreeArgs) -> anyhow::Result<i32> {
    let file = args.config.display().to_string();
    let text =
        std::fs::read_to_string(&args.config).with_context(|| format!("cannot read {file}"))?;
    let spec = config::parse(&text, &file)?;
    let servers = args.servers.clone().or(spec.servers.clone()).ok_or_else(|| {
        anyhow!("no ZooKeeper to build the tree on: give --servers host:port, or servers= in [MAIN] of {file}")
    })?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let credentials = format!("{ADMIN}:{}", spec.admin_password);
        let mut connector = zk::Client::connector();
        connector = connector
            .with_session_timeout(Duration::from_secs(10))
            .with_connection_timeout(Duration::from_secs(5))
            .with_auth("digest", credentials.as_bytes());
        let client = tokio::time::timeout(Duration::from_secs(15), connector.connect(&servers))
        .await
        .map_err(|_| anyhow!("cannot reach ZooKeeper at {servers} within 15 s: check --servers and that the servers are up"))?
        .map_err(|e| anyhow!("cannot connect to ZooKeeper at {servers} ({e}): check --servers and that the servers are up"))?;
        let mut changed = 0;
        for z in &spec.znodes {
            let done = apply(&client, z, args.dry_run).await?;
            let verb = match (done, args.dry_run) {
                (Done::Created, false) => "created",
                (Done::Created, true) => "would create",
                (Done::Updated, false) => "updated",
                (Done::Updated, true) => "would update",
                (Done::Unchanged, _) => "unchanged",
            };
            if done != Done::Unchanged {
                changed += 1;
            }
            println!("{verb} {} [{}]", z.path, show(&z.acls));
        }
        eprintln!(
            "zkinitree: {} znodes, {changed} {} on {servers}",
            spec.znodes.len(),
            if args.dry_run { "to change (dry run: nothing changed)" } else { "changed" }
        );
        Ok(0)
    })
}

async fn apply(client: &zk::Client, z: &Znode, dry_run: bool) -> anyhow::Result<Done> {
    let path = z.path.as_str();
    let exists = client
        .check_stat(path)
        .await
        .map_err(|e| zk_error(path, "look it up", e))?;
    let Some(_) = exists else {
        if dry_run {
            return Ok(Done::Created);
        }
        let data = z.value.as_deref().unwrap_or("").as_bytes();
        let options = zk::CreateMode::Persistent.with_acls(zk::Acls::new(&z.acls));
        match client.create(path, data, &options).await {
            Ok(_) => return Ok(Done::Created),
            // Made meanwhile by someone else: treat it as there.
            Err(zk::Error::NodeExists) => {}
            Err(e) => return Err(zk_error(path, "create it", e)),
        }
        return Box::pin(apply(client, z, dry_run)).await;
    };
    if !z.listed {
        // A parent the config does not name: whatever it is, it stays.
        return Ok(Done::Unchanged);
    }
    let (current, _) = client
        .get_acl(path)
        .await
        .map_err(|e| zk_error(path, "read its ACL", e))?;
    let mut done = Done::Unchanged;
    if !same_acls(&current, &z.acls) {
        eprintln!(
            "zkinitree: warning: {path} exists already with ACL [{}]: {}setting the config's",
            show(&current),
            if dry_run { "would be " } else { "" }
        );
        if !dry_run {
            client
                .set_acl(path, &z.acls, None)
                .await
                .map_err(|e| zk_error(path, "set its ACL", e))?;
        }
        done = Done::Updated;
    }
    if let Some(value) = &z.value {
        let (data, _) = client
            .get_data(path)
            .await
            .map_err(|e| zk_error(path, "read its data", e))?;
        if data != value.as_bytes() {
            eprintln!(
                "zkinitree: warning: {path} exists already with other data: {}setting value",
                if dry_run { "would be " } else { "" }
            );
            if !dry_run {
                client
                    .set_data(path, value.as_bytes(), None)
                    .await
                    .map_err(|e| zk_error(path, "set its data", e))?;
            }
            done = Done::Updated;
        }
    }
    Ok(done)
}
