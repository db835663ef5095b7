//! The destination machine: how it proves its tree (probe files and `desttree`) before it
//! registers, pauses, and leaves. A fake ZooKeeper answers its requests and a map stands
//! for the probe files in its tree's root.

mod harness;

use std::collections::BTreeMap;
use std::time::Duration;

use harness::{check_golden, FakeZk, Harness};
use zkrsync_core::protocol::dest::{probe_name, ProbeRecord};
use zkrsync_core::protocol::layout::Dir;
use zkrsync_core::protocol::records::{DestRecord, DestTreeRecord, OutcomeRecord};
use zkrsync_core::protocol::*;

const ROOT: &str = "/zkrsync/s1";

fn layout() -> Layout {
    Layout::new("/zkrsync", "s1").unwrap()
}

fn dest(id: &str, token: &str) -> Dest {
    Dest::new(DestConfig {
        layout: layout(),
        id: id.into(),
        record: DestRecord {
            address: "127.0.0.2".into(),
            port: 1,
            module: "m".into(),
            active: true,
            host: "h".into(),
            auth: None,
            tree: None,
            extra: vec![],
        },
        session_timeout: Duration::from_secs(9),
        path: "/dst".into(),
        token: token.into(),
        run: Some("run-1".into()),
    })
}

/// Whether `op` creates `desttree` (guarded by the outcome, as every create of the setup).
fn creates_desttree(op: &ZkOp) -> bool {
    matches!(op, ZkOp::Multi(ops) if matches!(ops.last(), Some(MultiOp::Create { path, mode: CreateMode::Persistent, .. }) if *path == layout().desttree()))
}

/// A session the sources created.
fn session_zk() -> FakeZk {
    let l = layout();
    let mut zk = FakeZk::new();
    zk.create("/zkrsync", b"", CreateMode::Persistent);
    zk.create(ROOT, b"", CreateMode::Persistent);
    for dir in Dir::ALL {
        zk.create(&l.dir(dir), b"", CreateMode::Persistent);
    }
    zk
}

fn probe(root: &str, session: &str, dest: &str, token: &str) -> Vec<u8> {
    ProbeRecord {
        root: root.into(),
        session: session.into(),
        dest: dest.into(),
        token: token.into(),
    }
    .encode()
}

/// A destination machine, its ZooKeeper and the probe files of its tree's root.
struct Rig {
    h: Harness<Dest>,
    files: BTreeMap<String, Vec<u8>>,
    answered: usize,
}

impl Rig {
    fn new(d: Dest, zk: FakeZk, files: &[(&str, Vec<u8>)]) -> Rig {
        Rig {
            h: Harness::new(d, zk),
            files: files
                .iter()
                .map(|(n, c)| (n.to_string(), c.clone()))
                .collect(),
            answered: 0,
        }
    }

    /// Carries out every probe request (the driver's part: also those that come with the
    /// machine's exit) and every ZooKeeper request, until the machine waits for something
    /// else.
    fn run(&mut self) {
        loop {
            self.h.settle();
            let asked: Vec<(ProbeId, ProbeOp)> = self.h.outputs[self.answered..]
                .iter()
                .filter_map(|o| match o {
                    Output::Probe { id, op } => Some((*id, op.clone())),
                    _ => None,
                })
                .collect();
            self.answered = self.h.outputs.len();
            if asked.is_empty() {
                return;
            }
            for (id, op) in asked {
                let result = Ok(match op {
                    ProbeOp::List => ProbeDone::Listed(self.files.clone().into_iter().collect()),
                    ProbeOp::Write { name, content } => {
                        self.files.insert(name, content);
                        ProbeDone::Written
                    }
                    ProbeOp::Read { name } => ProbeDone::Read(self.files.get(&name).cloned()),
                    ProbeOp::Remove { name } => {
                        self.files.remove(&name);
                        ProbeDone::Removed
                    }
                });
                if !self.h.exited() {
                    self.h.feed(Input::Probe { id, result });
                }
            }
        }
    }

    fn start(&mut self) {
        self.h.feed(Input::Session(SessionEvent::Connected {
            new_session: true,
            timeout: Duration::from_secs(9),
        }));
        self.run();
        self.h.feed(Input::Tree(TreeState::Present));
        self.run();
    }

    fn registered(&self) -> bool {
        self.h.zk.exists(&layout().entry(Dir::Dests, "d1"))
    }

    fn exit(&self) -> Option<Exit> {
        self.h.outputs.iter().find_map(|o| match o {
            Output::Exit(e) => Some(e.clone()),
            _ => None,
        })
    }

    /// Index of the first output that matches.
    fn index(&self, f: impl Fn(&Output) -> bool) -> Option<usize> {
        self.h.outputs.iter().position(f)
    }
}

fn desttree(zk: &FakeZk) -> Option<DestTreeRecord> {
    zk.data(&layout().desttree())
        .map(|d| DestTreeRecord::decode(d).unwrap())
}

#[test]
fn the_first_destination_writes_its_probe_before_naming_it_and_removes_it_at_the_end() {
    let mut r = Rig::new(dest("d1", "tok-1"), session_zk(), &[]);
    r.start();
    let name = probe_name("s1", "d1");
    assert_eq!(name, ".zkrsync-s1-d1");
    let written = r
        .index(
            |o| matches!(o, Output::Probe { op: ProbeOp::Write { name: n, .. }, .. } if *n == name),
        )
        .expect("the probe is written");
    let claimed = r
        .index(|o| matches!(o, Output::Zk { op, .. } if creates_desttree(op)))
        .expect("desttree is created");
    assert!(
        written < claimed,
        "the probe is in place before desttree names it"
    );
    assert_eq!(
        desttree(&r.h.zk),
        Some(DestTreeRecord {
            dest: "d1".into(),
            token: "tok-1".into()
        })
    );
    let content = ProbeRecord::decode(&r.files[&name]).unwrap();
    assert_eq!(
        (content.root.as_str(), content.token.as_str()),
        (ROOT, "tok-1")
    );
    assert!(r.registered());
    // Paused while the tree is missing.
    r.h.feed(Input::Tree(TreeState::Missing("/dst is gone".into())));
    r.run();
    let data = r.h.zk.data(&layout().entry(Dir::Dests, "d1")).unwrap();
    assert!(!DestRecord::decode(data).unwrap().active);
    // The session completes: the probe goes, then the destination leaves.
    r.h.zk
        .create(&layout().stop(), b"done\n", CreateMode::Persistent);
    r.run();
    assert_eq!(r.exit().map(|e| e.code), Some(exit_code::OK));
    assert!(r.files.is_empty(), "the probe is removed: {:?}", r.files);
    check_golden("dest_first", r.h.transcript.text());
}

#[test]
fn a_destination_that_reads_the_session_s_probe_back_joins_and_another_tree_is_refused() {
    let mut zk = session_zk();
    let tree = DestTreeRecord {
        dest: "d0".into(),
        token: "tok-0".into(),
    };
    zk.create(&layout().desttree(), &tree.encode(), CreateMode::Persistent);
    let name = probe_name("s1", "d0");
    // The same tree: the probe of d0 with d0's token.
    let mut same = Rig::new(
        dest("d1", "tok-1"),
        zk.clone(),
        &[(&name, probe(ROOT, "s1", "d0", "tok-0"))],
    );
    same.start();
    assert!(same.registered(), "{}", same.h.transcript.text());
    assert_eq!(same.exit(), None);
    assert!(
        !same.h.has_output(|o| matches!(
            o,
            Output::Probe {
                op: ProbeOp::Write { .. },
                ..
            }
        )),
        "a destination that is not the first writes nothing"
    );
    // At the end, it removes the session's probe too (its writer may be long gone).
    same.h
        .zk
        .create(&layout().stop(), b"done\n", CreateMode::Persistent);
    same.run();
    assert!(same.files.is_empty());

    // Another tree that happens to hold a probe of this session with another token.
    let mut other = Rig::new(
        dest("d1", "tok-1"),
        zk.clone(),
        &[(&name, probe(ROOT, "s1", "d0", "tok-9"))],
    );
    other.start();
    let exit = other.exit().expect("refused");
    assert_eq!(exit.code, exit_code::CONFIG);
    let message = exit.message.unwrap();
    assert!(
        message.starts_with("destination /dst is not session s1's destination tree: the session's first destination d0 wrote the probe file .zkrsync-s1-d0 into the root of its tree, and /dst/.zkrsync-s1-d0 holds another token than the session's"),
        "{message}"
    );
    assert!(!other.registered());
    assert_eq!(other.files.len(), 1, "nothing written, nothing removed");

    // A tree without the probe: it is looked for again (a shared file system may show a
    // new file late), then refused.
    let mut empty = Rig::new(dest("d1", "tok-1"), zk, &[]);
    empty.start();
    assert_eq!(empty.exit(), None, "not refused at the first miss");
    let mut reads = 1;
    while empty.exit().is_none() {
        empty.h.fire_until(Timer::ProbeRetry);
        empty.run();
        reads += 1;
    }
    assert_eq!(reads, 5);
    let message = empty.exit().unwrap().message.unwrap();
    assert!(message.contains("/dst/.zkrsync-s1-d0 is not there (another directory, another host's disk, or a file system that is not mounted?)"), "{message}");
    assert!(!empty.registered());
    assert!(empty.files.is_empty(), "nothing written");
}

#[test]
fn a_destination_that_loses_the_race_to_be_first_removes_its_probe_and_reads_the_winner_s() {
    let mut r = Rig::new(dest("d1", "tok-1"), session_zk(), &[]);
    // d0 creates desttree between our read of it and our create.
    r.h.set_hook(|zk, op| match op {
        op if creates_desttree(op) => {
            let tree = DestTreeRecord {
                dest: "d0".into(),
                token: "tok-0".into(),
            };
            zk.create(&layout().desttree(), &tree.encode(), CreateMode::Persistent);
            Some(Err(ZkError::MultiFailed {
                index: 2,
                error: Box::new(ZkError::NodeExists),
            }))
        }
        _ => None,
    });
    r.files
        .insert(probe_name("s1", "d0"), probe(ROOT, "s1", "d0", "tok-0"));
    r.start();
    assert!(r.registered(), "{}", r.h.transcript.text());
    assert_eq!(
        r.files.keys().collect::<Vec<_>>(),
        [".zkrsync-s1-d0"],
        "our own probe is gone, the winner's stays"
    );
}

#[test]
fn a_tree_in_use_by_another_live_session_is_refused_and_a_stale_probe_is_removed() {
    let mut zk = session_zk();
    zk.create("/zkrsync/other", b"", CreateMode::Persistent);
    zk.create("/zkrsync/other/dests", b"", CreateMode::Persistent);
    let live = probe("/zkrsync/other", "other", "x1", "t");
    let mut r = Rig::new(dest("d1", "tok-1"), zk, &[(".zkrsync-other-x1", live)]);
    r.start();
    let exit = r.exit().expect("refused");
    assert_eq!(exit.code, exit_code::CONFIG);
    assert_eq!(
        exit.message.unwrap(),
        "destination tree /dst is in use by session other (its probe file .zkrsync-other-x1 is in the tree's root and the session is in ZooKeeper at /zkrsync/other): copy into another tree, or end session other first (zkrsync abort --session other)"
    );
    assert!(!r.registered());
    assert!(desttree(&r.h.zk).is_none(), "nothing recorded");
    assert_eq!(r.files.len(), 1, "nothing written");

    // A probe of a session that is gone, one of a session that finished (it keeps only its
    // outcome), and a file that is not a probe at all.
    let stale = probe("/elsewhere/old", "old", "x1", "t");
    let finished = probe("/zkrsync/fin", "fin", "x1", "t");
    let mut zk = session_zk();
    zk.create("/zkrsync/fin", b"", CreateMode::Persistent);
    zk.create("/zkrsync/fin/outcome", b"", CreateMode::Persistent);
    let mut r = Rig::new(
        dest("d1", "tok-1"),
        zk,
        &[
            (".zkrsync-old-x1", stale),
            (".zkrsync-fin-x1", finished),
            (".zkrsync-notes", b"my notes\n".to_vec()),
        ],
    );
    r.start();
    assert!(r.registered(), "{}", r.h.transcript.text());
    for session in ["old", "fin"] {
        let said = format!("removing the stale probe file /dst/.zkrsync-{session}-x1: session {session} is not running any more");
        assert!(
            r.h.has_output(
                |o| matches!(o, Output::Log { level: Level::Warn, message } if *message == said)
            ),
            "{said}"
        );
    }
    assert_eq!(
        r.files.keys().collect::<Vec<_>>(),
        [".zkrsync-notes", ".zkrsync-s1-d1"]
    );
}

#[test]
fn a_destination_proves_its_tree_again_after_its_session_expired_mid_proof() {
    let mut r = Rig::new(dest("d1", "tok-1"), session_zk(), &[]);
    r.h.feed(Input::Session(SessionEvent::Connected {
        new_session: true,
        timeout: Duration::from_secs(9),
    }));
    r.h.settle();
    r.h.feed(Input::Tree(TreeState::Present));
    // The listing is asked for; the session expires before its answer is handled.
    assert!(r.h.has_output(|o| matches!(
        o,
        Output::Probe {
            op: ProbeOp::List,
            ..
        }
    )));
    r.h.feed(Input::Session(SessionEvent::Expired));
    r.run(); // the stale listing's answer is ignored
    assert!(!r.registered());
    r.start();
    assert!(r.registered(), "{}", r.h.transcript.text());
    let lists =
        r.h.outputs
            .iter()
            .filter(|o| {
                matches!(
                    o,
                    Output::Probe {
                        op: ProbeOp::List,
                        ..
                    }
                )
            })
            .count();
    assert_eq!(lists, 2);
}

/// A finished session keeps only its outcome: a destination of the run that finished
/// leaves without touching its tree; one of another run waits until a source removes the
/// outcome, then registers in the session started anew.
#[test]
fn a_destination_coming_to_a_finished_session_leaves_if_it_was_of_its_run() {
    let finished = |run: &str| {
        let mut zk = FakeZk::new();
        zk.create("/zkrsync", b"", CreateMode::Persistent);
        zk.create(ROOT, b"", CreateMode::Persistent);
        let outcome = OutcomeRecord {
            run: Some(run.into()),
            ..OutcomeRecord::default()
        };
        zk.create(
            &layout().outcome(),
            &outcome.encode(),
            CreateMode::Persistent,
        );
        zk
    };
    let mut r = Rig::new(dest("d1", "tok-1"), finished("run-1"), &[]);
    r.h.feed(Input::Session(SessionEvent::Connected {
        new_session: true,
        timeout: Duration::from_secs(9),
    }));
    r.run();
    let exit = r.exit().expect("left");
    assert_eq!(exit.code, exit_code::OK);
    assert!(!r.registered());
    assert!(r.files.is_empty(), "no probe written");
    assert_eq!(r.h.zk.children(ROOT), ["outcome"]);

    // Another run's destination waits for a source of its run to remove the outcome.
    let mut r = Rig::new(dest("d1", "tok-1"), finished("run-0"), &[]);
    r.start();
    assert!(r.exit().is_none());
    assert!(!r.registered(), "{}", r.h.transcript.text());
    assert!(r.h.has_output(|o| matches!(o, Output::Log { level: Level::Info, message } if message == "session s1 finished earlier: waiting for a source to start it again")));
    r.h.zk.delete(&layout().outcome());
    r.run();
    assert!(r.registered(), "{}", r.h.transcript.text());
}

/// The first destination removes probe files of its session that are not the one it named,
/// but never another destination's temporary: that one may be writing it right now (CI
/// saw the loser of the race for the tree exit 2 when its temporary vanished).
#[test]
fn the_first_destination_leaves_another_destinations_temporary_probe_alone() {
    let stale = probe(ROOT, "s1", "d8", "tok-8");
    let writing = probe(ROOT, "s1", "d9", "tok-9");
    let mut r = Rig::new(
        dest("d1", "tok-1"),
        session_zk(),
        &[
            (".zkrsync-s1-d8", stale),
            (".zkrsync-s1-d9.tmp-4242", writing),
        ],
    );
    r.start();
    assert!(r.registered(), "{}", r.h.transcript.text());
    assert_eq!(
        r.files.keys().collect::<Vec<_>>(),
        [".zkrsync-s1-d1", ".zkrsync-s1-d9.tmp-4242"],
        "the stale probe is gone, the temporary in progress stays"
    );
}

/// A session that finishes while the first destination claims the tree: the guarded create
/// of `desttree` finds the outcome; the destination removes its probe and leaves.
#[test]
fn a_destination_claiming_the_tree_of_a_session_that_just_finished_removes_its_probe_and_leaves() {
    let mut r = Rig::new(dest("d1", "tok-1"), session_zk(), &[]);
    r.h.set_hook(|zk, op| match op {
        op if creates_desttree(op) => {
            zk.create(&layout().outcome(), b"", CreateMode::Persistent);
            Some(Err(ZkError::MultiFailed {
                index: 0,
                error: Box::new(ZkError::NodeExists),
            }))
        }
        _ => None,
    });
    r.start();
    assert_eq!(r.exit().expect("left").code, exit_code::OK);
    assert!(!r.registered());
    assert!(
        r.files.is_empty(),
        "its probe is gone: {:?}",
        r.files.keys()
    );
    assert!(desttree(&r.h.zk).is_none(), "nothing under the outcome");
}

/// `stop` goes only with the final cleanup: a destination that finds it gone (its
/// registration may have gone with the cleanup too) leaves instead of waiting for ever.
#[test]
fn a_destination_that_finds_stop_gone_leaves() {
    let mut zk = session_zk();
    zk.create(&layout().stop(), b"done\n", CreateMode::Persistent);
    let mut r = Rig::new(dest("d1", "tok-1"), zk, &[]);
    r.h.set_hook(|zk, op| match op {
        ZkOp::GetData { path, .. } if *path == layout().stop() => {
            zk.delete(path);
            Some(Err(ZkError::NoNode))
        }
        _ => None,
    });
    r.h.feed(Input::Session(SessionEvent::Connected {
        new_session: true,
        timeout: Duration::from_secs(9),
    }));
    r.run();
    assert_eq!(r.exit().expect("left").code, exit_code::OK);
    assert!(r.h.has_output(|o| matches!(o, Output::Log { level: Level::Info, message } if message == "session s1 has ended: leaving")));
}
