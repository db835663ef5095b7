//! The thin loop that runs a core machine in the real world: ZooKeeper requests through
//! zookeeper-client, watches and session events in, one sleep until the machine's
//! `poll_timeout()`, and everything else (walks, rsync, trees, reports) through a role's
//! [`Hooks`]. The simulator's driver (`sim/src/world`) has the same shape.

use std::time::{Duration, Instant};

use futures::stream::{FuturesUnordered, StreamExt};
use tokio::sync::mpsc;
use zkrsync_core::protocol::{exit_code, Exit, Input, Machine, Output, SessionEvent};
use zookeeper_client as zk;

use crate::agent::zk_connect::{Zk, ZkArgs};
use crate::agent::zk_ops::{self, ReplyFuture};

/// What a role does with the outputs that are not ZooKeeper's.
pub trait Hooks {
    /// Carries out `output`; results come back as inputs through `inputs`.
    fn handle(&mut self, output: Output, inputs: &mpsc::UnboundedSender<Input>);
    /// Called once when the machine exits: stop everything started (rsync processes) and
    /// wait for it, so that nothing outlives the session.
    fn shutdown(&mut self) -> impl std::future::Future<Output = ()> + Send;
    /// Called a few times per `lease` while connected to ZooKeeper: what this process runs
    /// may go on for `lease` more (see [`crate::agent::watchdog`]).
    fn renew_lease(&mut self, _lease: Duration) {}
}

/// Renewals of the lease per lease: a late one or two still renew in time.
const RENEWALS_PER_LEASE: u32 = 4;

/// Runs `machine` until it exits, starting with the already connected `first` client.
pub async fn run<M: Machine, H: Hooks>(
    machine: &mut M,
    hooks: &mut H,
    args: &ZkArgs,
    first: Zk,
    inputs: mpsc::UnboundedSender<Input>,
    mut rx: mpsc::UnboundedReceiver<Input>,
) -> Exit {
    listen_for_signals(inputs.clone());
    let mut next_client = Some(first);
    loop {
        let zk = match next_client.take() {
            Some(zk) => zk,
            None => match reconnect(args, &mut rx).await {
                Ok(zk) => zk,
                Err(exit) => {
                    hooks.shutdown().await;
                    return exit;
                }
            },
        };
        let outcome = run_session(machine, hooks, &zk, &inputs, &mut rx).await;
        close(zk).await;
        if let Some(exit) = outcome {
            return exit;
        }
    }
}

/// Closes the session (dropping the last handle does) and waits, briefly, until the server
/// has done so, so that its ephemeral znodes (claims, registrations) are gone at once.
pub async fn close(zk: Zk) {
    let mut state = zk.client.state_watcher();
    drop(zk);
    if state.peek_state().is_terminated() {
        // Expired (or closed) already: nothing will change any more.
        return;
    }
    let _ = tokio::time::timeout(std::time::Duration::from_secs(3), async {
        while !state.changed().await.is_terminated() {}
    })
    .await;
}

/// Connects again after the machine gave up its session; an interrupt meanwhile ends it.
async fn reconnect(args: &ZkArgs, rx: &mut mpsc::UnboundedReceiver<Input>) -> Result<Zk, Exit> {
    let mut delay = std::time::Duration::from_millis(200);
    loop {
        tokio::select! {
            result = args.connect() => match result {
                Ok(zk) => return Ok(zk),
                Err(e) => tracing::warn!("{e:#}; trying again in {} ms", delay.as_millis()),
            },
            Some(Input::Interrupt) = rx.recv() => {
                return Err(Exit { code: exit_code::INTERRUPTED, message: Some("interrupted while reconnecting to ZooKeeper".into()) });
            }
        }
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(std::time::Duration::from_secs(5));
    }
}

enum Event {
    Replied(zk_ops::Replied),
    Watched(Option<Input>),
}

/// Runs one ZooKeeper session; None when the machine asked for a new one.
async fn run_session<M: Machine, H: Hooks>(
    machine: &mut M,
    hooks: &mut H,
    zk: &Zk,
    inputs: &mpsc::UnboundedSender<Input>,
    rx: &mut mpsc::UnboundedReceiver<Input>,
) -> Option<Exit> {
    let mut state = zk.client.state_watcher();
    let mut replies: FuturesUnordered<ReplyFuture<'_>> = FuturesUnordered::new();
    let mut watches: FuturesUnordered<
        std::pin::Pin<Box<dyn std::future::Future<Output = Option<Input>> + Send>>,
    > = FuturesUnordered::new();
    machine.handle(
        Instant::now(),
        Input::Session(SessionEvent::Connected {
            new_session: true,
            timeout: zk.client.session_timeout(),
        }),
    );
    let mut connected = true;
    hooks.renew_lease(lease(zk));
    let mut renew = tokio::time::interval(lease(zk) / RENEWALS_PER_LEASE);
    renew.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        while let Some(output) = machine.poll_output() {
            match output {
                Output::Zk { id, op } => replies.push(zk_ops::start(zk, id, op)),
                Output::NewSession => return None,
                Output::Exit(exit) => {
                    hooks.shutdown().await;
                    return Some(exit);
                }
                other => hooks.handle(other, inputs),
            }
        }
        let timeout = machine.poll_timeout();
        let wake = async move {
            match timeout {
                Some(at) => tokio::time::sleep_until(tokio::time::Instant::from_std(at)).await,
                None => std::future::pending().await,
            }
        };
        let event = tokio::select! {
            () = wake => Event::Watched(Some(Input::Timeout)),
            _ = renew.tick(), if connected => {
                hooks.renew_lease(lease(zk));
                Event::Watched(None)
            }
            Some(replied) = replies.next() => Event::Replied(replied),
            Some(watched) = watches.next() => Event::Watched(watched),
            Some(input) = rx.recv() => Event::Watched(Some(input)),
            state = state.changed() => {
                connected = matches!(state, zk::SessionState::SyncConnected | zk::SessionState::ConnectedReadOnly);
                if connected {
                    hooks.renew_lease(lease(zk));
                }
                match session_input(zk, state) {
                    Ok(input) => Event::Watched(Some(input)),
                    Err(exit) => {
                        hooks.shutdown().await;
                        return Some(exit);
                    }
                }
            }
        };
        let now = Instant::now();
        match event {
            Event::Replied(replied) => {
                if let Some(w) = replied.watch {
                    watches.push(Box::pin(
                        async move { zk_ops::watch_input(w.changed().await) },
                    ));
                }
                machine.handle(now, replied.input);
            }
            Event::Watched(Some(input)) => machine.handle(now, input),
            Event::Watched(None) => {}
        }
    }
}

/// The lease of this session's work: a quarter of the session timeout the server granted
/// (the core's worker lease).
fn lease(zk: &Zk) -> Duration {
    zk.client.session_timeout() / 4
}

/// What a change of the session's state means to the machine; an authentication failure
/// ends it.
fn session_input(zk: &Zk, state: zk::SessionState) -> Result<Input, Exit> {
    Ok(Input::Session(match state {
        zk::SessionState::Disconnected => SessionEvent::Disconnected,
        zk::SessionState::SyncConnected | zk::SessionState::ConnectedReadOnly => {
            SessionEvent::Connected {
                new_session: false,
                timeout: zk.client.session_timeout(),
            }
        }
        zk::SessionState::Expired | zk::SessionState::Closed => SessionEvent::Expired,
        zk::SessionState::AuthFailed => {
            return Err(Exit {
                code: exit_code::CONFIG,
                message: Some(
                    "ZooKeeper refused the credentials (authentication failed): check --auth"
                        .into(),
                ),
            })
        }
    }))
}

fn listen_for_signals(inputs: mpsc::UnboundedSender<Input>) {
    tokio::spawn(async move {
        use tokio::signal::unix::{signal, SignalKind};
        let (Ok(mut term), Ok(mut int), Ok(mut hup)) = (
            signal(SignalKind::terminate()),
            signal(SignalKind::interrupt()),
            signal(SignalKind::hangup()),
        ) else {
            return;
        };
        loop {
            tokio::select! {
                _ = term.recv() => {}
                _ = int.recv() => {}
                _ = hup.recv() => {}
            }
            if inputs.send(Input::Interrupt).is_err() {
                return;
            }
        }
    });
}
