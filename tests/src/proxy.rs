//! A TCP proxy on loopback between one ZooKeeper client and the server, that can cut the
//! client off (its connections dropped, new ones held) and let it through again: a network
//! partition of one client, for tests that need a server-side session expiry.

use std::sync::Arc;

use tokio::io::copy_bidirectional;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

/// A running proxy; it stops with the runtime that started it.
pub struct Proxy {
    /// The address clients connect to.
    pub addr: String,
    open: Arc<watch::Sender<bool>>,
}

impl Proxy {
    /// Starts a proxy to `upstream` (`host:port`) on 127.0.0.1, on the current runtime.
    pub async fn start(upstream: &str) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind a proxy");
        let addr = listener.local_addr().expect("proxy address").to_string();
        let (open, _) = watch::channel(true);
        let open = Arc::new(open);
        let upstream = upstream.to_owned();
        let state = open.clone();
        tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                let upstream = upstream.clone();
                let mut gate = state.subscribe();
                tokio::spawn(async move {
                    // Held while cut.
                    if gate.wait_for(|open| *open).await.is_err() {
                        return;
                    }
                    let Ok(mut server) = TcpStream::connect(&upstream).await else {
                        return;
                    };
                    tokio::select! {
                        _ = copy_bidirectional(&mut client, &mut server) => {}
                        _ = gate.wait_for(|open| !*open) => {} // cut: both ends dropped
                    }
                });
            }
        });
        Proxy { addr, open }
    }

    /// Cuts the client off: its connections close, new ones wait.
    pub fn cut(&self) {
        self.open.send_replace(false);
    }

    /// Lets the client through again.
    pub fn heal(&self) {
        self.open.send_replace(true);
    }
}
