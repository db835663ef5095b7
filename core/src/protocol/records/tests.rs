//! Round trips and damage of every record.

use super::*;
use proptest::prelude::*;

proptest! {
    #[test]
    fn escape_round_trips(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
        let text = escape(&bytes);
        prop_assert!(!text.contains('\n'));
        prop_assert_eq!(unescape(&text).unwrap(), bytes);
    }

    #[test]
    fn failed_round_trips(
        error in ".*",
        code in proptest::option::of(-1i32..300),
        paths in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..20), 0..4),
    ) {
        let record = FailedRecord { worker: "w-1".into(), dest: "d".into(), code, error, paths };
        prop_assert_eq!(FailedRecord::decode(&record.encode()).unwrap(), record);
    }
}

#[test]
fn summary_round_trips() {
    let r = SummaryRecord {
        chunks: 9,
        units: 40,
        done: 7,
        stats: RsyncStats {
            files: 12,
            ..RsyncStats::default()
        },
        failed: vec![("0000000003".into(), "rsync exited with 23: oops".into())],
    };
    assert_eq!(SummaryRecord::decode(&r.encode()).unwrap(), r);
}

#[test]
fn records_round_trip() {
    let plan = PlanRecord {
        ready: true,
        chunks: 3,
        units: 70,
        root_nonempty: true,
        top_dirs: vec![b"a".to_vec(), b"new\nline".to_vec(), b"\xff".to_vec()],
        entries: 0,
    };
    assert_eq!(PlanRecord::decode(&plan.encode()).unwrap(), plan);
    assert_eq!(
        PlanRecord::decode(&PlanRecord::building().encode()).unwrap(),
        PlanRecord::building()
    );
    let dest = DestRecord {
        address: "127.0.0.2".into(),
        port: 8730,
        module: "zkrsync-s1".into(),
        active: false,
        host: "node 1".into(),
        auth: None,
        tree: None,
        extra: vec![("later".into(), "kept".into())],
    };
    assert_eq!(DestRecord::decode(&dest.encode()).unwrap(), dest);
    let placed = DestRecord {
        tree: Some(TreeId {
            boot_id: "3f2a-boot".into(),
            path: b"/data/b \xff".to_vec(),
            chain: vec![(64770, 131073), (64770, 2)],
        }),
        ..dest.clone()
    };
    assert_eq!(DestRecord::decode(&placed.encode()).unwrap(), placed);
    assert!(
        DestRecord::decode(
            b"address=a\nport=1\nmodule=m\nstate=active\nhost=h\ntree_boot=b\ntree_path=/\n"
        )
        .is_err(),
        "a tree without its chain is unreadable"
    );
    let tree = DestTreeRecord {
        dest: "d-1".into(),
        token: "0badc0de".into(),
    };
    assert_eq!(DestTreeRecord::decode(&tree.encode()).unwrap(), tree);
    assert_eq!(dest.url(), "rsync://127.0.0.2:8730/zkrsync-s1/");
    let locked = DestRecord {
        auth: Some(DaemonAuth {
            user: "zkrsync".into(),
            secret: Secret("s3cr3t".into()),
        }),
        ..dest.clone()
    };
    assert_eq!(DestRecord::decode(&locked.encode()).unwrap(), locked);
    assert_eq!(locked.url(), "rsync://zkrsync@127.0.0.2:8730/zkrsync-s1/");
    assert!(
        !format!("{locked:?}").contains("s3cr3t"),
        "the secret stays out of logs"
    );
    let done = DoneRecord {
        worker: "w".into(),
        dest: "d".into(),
        code: 24,
        stats: RsyncStats {
            files: 5,
            bytes_sent: 99,
            ..Default::default()
        },
        items: Default::default(),
    };
    assert_eq!(DoneRecord::decode(&done.encode()).unwrap(), done);
    let itemized = DoneRecord {
        items: crate::protocol::itemized::Itemized::new(
            vec![
                b"cd+++++++++ new\\#012line/".to_vec(),
                b"*deleting   x".to_vec(),
            ],
            7,
        ),
        ..done.clone()
    };
    assert_eq!(DoneRecord::decode(&itemized.encode()).unwrap(), itemized);
    assert_eq!(
        StopRecord::decode(&StopRecord::Done.encode()),
        StopRecord::Done
    );
    assert_eq!(StopRecord::decode(b"junk"), StopRecord::Abort);
}

#[test]
fn garbage_is_an_error() {
    assert!(PlanRecord::decode(b"state=maybe\nchunks=1\nunits=1\nroot_nonempty=true\n").is_err());
    assert!(PlanRecord::decode(b"\xff").is_err());
    assert!(DoneRecord::decode(b"worker=w\ndest=d\nfiles=x\n").is_err());
}
