//! The ZooKeeper options every `zkrsync` command shares, and connecting with them.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{anyhow, bail, Context};
use clap::Args;
use zkrsync_core::protocol::Layout;
use zookeeper_client::{Acls, Client};

/// Where the session lives and how to reach it.
#[derive(Debug, Clone, Args)]
pub struct ZkArgs {
    /// ZooKeeper servers, comma-separated, with an optional chroot: host:port[,host:port...][/chroot].
    #[arg(long, value_name = "CONNECT", env = "ZKRSYNC_ZK")]
    pub zk: String,

    /// Name of the session; every client of one copy uses the same.
    #[arg(long, short = 'N', value_name = "NAME")]
    pub session: String,

    /// ZooKeeper path under which sessions live.
    #[arg(long, default_value = "/zkrsync", value_name = "PATH")]
    pub base: String,

    /// Digest credentials USER:PASS; the session's znodes are then readable and writable by
    /// that user only. Better given through ZKRSYNC_AUTH or --auth-file.
    #[arg(
        long,
        value_name = "USER:PASS",
        env = "ZKRSYNC_AUTH",
        hide_env_values = true
    )]
    pub auth: Option<String>,

    /// A file whose first line is USER:PASS (keep it mode 0600).
    #[arg(long, value_name = "FILE", conflicts_with = "auth")]
    pub auth_file: Option<PathBuf>,

    /// Read USER:PASS from the first line of standard input (how zkrsync-launch hands the
    /// session's credentials to its agents: on no command line, in no environment).
    #[arg(long, conflicts_with_all = ["auth", "auth_file"])]
    pub auth_stdin: bool,

    /// ZooKeeper session timeout in seconds: a client silent for this long loses its claims.
    #[arg(long, default_value_t = 20.0, value_name = "SEC")]
    pub session_timeout: f64,
}

/// The longest first line `--auth-stdin` reads.
const STDIN_LINE_MAX: u64 = 4096;

/// The first line of standard input, read once (every later connection of the agent uses
/// it again); what is after it stays for [`crate::agent::stdin_lifeline`], which reads the
/// same buffered standard input.
fn stdin_credentials() -> anyhow::Result<String> {
    static READ: std::sync::OnceLock<Result<String, String>> = std::sync::OnceLock::new();
    let read = READ.get_or_init(|| {
        use std::io::BufRead as _;
        let mut line = String::new();
        let stdin = std::io::stdin().lock();
        match std::io::Read::take(stdin, STDIN_LINE_MAX).read_line(&mut line) {
            Ok(_) if line.ends_with('\n') => Ok(line.trim().to_owned()),
            Ok(_) => Err("--auth-stdin: standard input ended before a whole first line: give USER:PASS and a newline on it".to_owned()),
            Err(e) => Err(format!("--auth-stdin: cannot read standard input ({e}): give USER:PASS on its first line")),
        }
    });
    read.clone().map_err(|e| anyhow!(e))
}

/// A connected client, with the ACLs new znodes get.
#[derive(Debug, Clone)]
pub struct Zk {
    /// The client.
    pub client: Client,
    /// ACLs for created znodes of the session.
    pub acls: Acls<'static>,
    /// Shared znodes above the sessions (the base path): open to everyone, so that other
    /// users of the same ZooKeeper can have sessions there too.
    pub shared: Vec<String>,
}

impl ZkArgs {
    /// The session's layout, or a one-line error.
    pub fn layout(&self) -> anyhow::Result<Layout> {
        Ok(Layout::new(&self.base, &self.session)?)
    }

    /// The session timeout, checked.
    pub fn timeout(&self) -> anyhow::Result<Duration> {
        if !(self.session_timeout.is_finite() && (1.0..=600.0).contains(&self.session_timeout)) {
            bail!(
                "--session-timeout {} is out of range: give 1 to 600 seconds",
                self.session_timeout
            );
        }
        Ok(Duration::from_secs_f64(self.session_timeout))
    }

    /// The credentials, from --auth, ZKRSYNC_AUTH, --auth-file or --auth-stdin.
    pub fn credentials(&self) -> anyhow::Result<Option<String>> {
        let auth = match (&self.auth, &self.auth_file) {
            _ if self.auth_stdin => Some(stdin_credentials()?),
            (Some(a), _) => Some(a.clone()),
            (None, Some(file)) => {
                let text = std::fs::read_to_string(file)
                    .with_context(|| format!("cannot read --auth-file {}", file.display()))?;
                Some(text.lines().next().unwrap_or("").trim().to_owned())
            }
            (None, None) => None,
        };
        if let Some(a) = &auth {
            match a.split_once(':') {
                Some((user, pass)) if !user.is_empty() && !pass.is_empty() => {}
                _ => bail!("the credentials are not USER:PASS: give them as user:password"),
            }
        }
        Ok(auth)
    }

    /// Checks the connect string without connecting.
    pub fn check_connect(&self) -> anyhow::Result<()> {
        let (hosts, chroot) = match self.zk.find('/') {
            Some(at) => (&self.zk[..at], Some(&self.zk[at..])),
            None => (&self.zk[..], None),
        };
        if hosts.is_empty() {
            bail!("--zk is empty: give host:port[,host:port…][/chroot]");
        }
        for server in hosts.split(',') {
            let ok = server
                .rsplit_once(':')
                .is_some_and(|(h, p)| !h.is_empty() && p.parse::<u16>().is_ok_and(|p| p > 0));
            if !ok {
                bail!(
                    "--zk server {server:?} is not host:port: give host:port[,host:port…][/chroot]"
                );
            }
        }
        if let Some(chroot) = chroot {
            if chroot.len() > 1 && chroot.ends_with('/') {
                bail!("--zk chroot {chroot:?} ends with '/': remove it");
            }
        }
        Ok(())
    }

    /// Connects, failing within the session timeout (at most 15 s) when no server answers.
    pub async fn connect(&self) -> anyhow::Result<Zk> {
        self.check_connect()?;
        let timeout = self.timeout()?;
        let credentials = self.credentials()?;
        let mut connector = Client::connector()
            .with_session_timeout(timeout)
            .with_connection_timeout(timeout.min(Duration::from_secs(5)));
        if let Some(c) = &credentials {
            connector = connector.with_auth("digest", c.as_bytes());
        }
        let limit = timeout.min(Duration::from_secs(15));
        let client = tokio::time::timeout(limit, connector.connect(&self.zk))
            .await
            .map_err(|_| anyhow!("cannot reach ZooKeeper at {} within {} s: check --zk and that the servers are up", self.zk, limit.as_secs()))?
            .map_err(|e| anyhow!("cannot connect to ZooKeeper at {} ({e}): check --zk and that the servers are up", self.zk))?;
        let acls = if credentials.is_some() {
            Acls::creator_all()
        } else {
            Acls::anyone_all()
        };
        let shared = self.layout()?.base_ancestors();
        Ok(Zk {
            client,
            acls,
            shared,
        })
    }
}
