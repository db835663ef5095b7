//! A private ZooKeeper for one run of the launcher when no `--zk` is given: Debian's
//! ZooKeeper 3.8, standalone, on an address the hosts reach this machine at (127.0.0.1 when
//! every host is local), with its own data directory, stopped at the end.

use std::io::{Read, Write};
use std::net::{IpAddr, SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};

/// Debian's ZooKeeper start script.
const ZK_SERVER: &str = "/usr/share/zookeeper/bin/zkServer.sh";

/// A running private server; stopped when dropped.
pub struct PrivateZk {
    child: Child,
    _dir: tempfile::TempDir,
    /// Its connect string.
    pub connect: String,
}

fn answers(addr: SocketAddr) -> bool {
    let Ok(mut s) = TcpStream::connect(addr) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
    let mut reply = String::new();
    s.write_all(b"ruok").is_ok() && s.read_to_string(&mut reply).is_ok() && reply == "imok"
}

impl PrivateZk {
    /// Starts a server listening on `bind` and waits until it serves; it carries
    /// `ZKRSYNC_LAUNCH_ID=session` in its environment, as the agents do.
    pub fn start(bind: IpAddr, session: &str) -> anyhow::Result<PrivateZk> {
        if !Path::new(ZK_SERVER).exists() {
            bail!("ZooKeeper is not installed ({ZK_SERVER} is missing): install Debian's zookeeper package, or give --zk");
        }
        let dir = tempfile::Builder::new()
            .prefix("zkrsync-launch-zk-")
            .tempdir()
            .context("cannot make a directory for the private ZooKeeper")?;
        let port = TcpListener::bind((bind, 0))
            .and_then(|l| l.local_addr())
            .context("cannot find a free port for the private ZooKeeper")?
            .port();
        let data = dir.path().join("data");
        std::fs::create_dir_all(&data)?;
        let cfg = dir.path().join("zoo.cfg");
        std::fs::write(
            &cfg,
            format!(
                "tickTime=500\ninitLimit=20\nsyncLimit=10\nminSessionTimeout=1000\nmaxSessionTimeout=60000\ndataDir={}\nclientPort={port}\nclientPortAddress={bind}\nadmin.enableServer=false\n4lw.commands.whitelist=ruok\nmaxClientCnxns=0\n",
                data.display(),
                bind = bind,
            ),
        )?;
        let log = std::fs::File::create(dir.path().join("server.log"))?;
        let mut cmd = Command::new(ZK_SERVER);
        cmd.arg("start-foreground")
            .arg(&cfg)
            .env("JMXDISABLE", "true")
            .env("ZKRSYNC_LAUNCH_ID", session)
            .env("SERVER_JVMFLAGS", "-Xmx256m")
            .env("ZOOPIDFILE", dir.path().join("zk.pid"))
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log);
        // Its own process group: Ctrl-C at the terminal reaches the agents, which need the
        // server to leave cleanly; the launcher stops it last.
        std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
        // And it goes when the launcher goes, even by kill -9 (the start script execs the
        // JVM, which keeps this setting). The main thread starts it and lives to the end.
        // SAFETY: only prctl between fork and exec.
        unsafe {
            std::os::unix::process::CommandExt::pre_exec(&mut cmd, || {
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let mut child = cmd.spawn().context("cannot start ZooKeeper")?;
        let deadline = Instant::now() + Duration::from_secs(90);
        let addr = SocketAddr::new(bind, port);
        while !answers(addr) {
            if let Some(status) = child.try_wait()? {
                bail!(
                    "the private ZooKeeper exited ({status}); see {}",
                    dir.path().join("server.log").display()
                );
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                bail!("the private ZooKeeper did not serve within 90 s");
            }
            // Readiness of a server just started: nothing to be told, so ask again shortly.
            std::thread::sleep(Duration::from_millis(100));
        }
        Ok(PrivateZk {
            child,
            _dir: dir,
            connect: addr.to_string(),
        })
    }
}

impl Drop for PrivateZk {
    fn drop(&mut self) {
        // The start script and its JVM share the process group.
        unsafe {
            libc::killpg(self.child.id() as i32, libc::SIGTERM);
        }
        let _ = self.child.wait();
    }
}
