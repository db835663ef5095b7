//! How inputs, outputs, requests and records are written in a transcript.

#![allow(dead_code)]

use std::fmt::Write as _;
use std::time::Duration;

use zkrsync_core::plan::Chunk;
use zkrsync_core::protocol::records::{
    DestRecord, DoneRecord, FailedRecord, PlanRecord, StopRecord, SummaryRecord,
};
use zkrsync_core::protocol::*;
use zkrsync_core::rsync_stats::RsyncStats;
use zkrsync_core::unit::Unit;

use super::fake_zk::parent_of;

// ------------------------------------------------------------------------ rendering

/// Renders znode data: its length, and what it holds where the path says what it is.
pub fn render_data(path: &str, data: &[u8]) -> String {
    let len = data.len();
    let name = path.rsplit('/').next().unwrap_or("");
    let parent = parent_of(path).rsplit('/').next().unwrap_or("");
    let decoded = match (parent, name) {
        _ if data.is_empty() => None,
        (_, "plan") => Some(match PlanRecord::decode(data) {
            Ok(p) => format!(
                "plan {} chunks={} units={} root_nonempty={}",
                if p.ready { "ready" } else { "building" },
                p.chunks,
                p.units,
                p.root_nonempty
            ),
            Err(e) => format!("bad plan: {e}"),
        }),
        (_, "stop") => Some(format!("stop {:?}", StopRecord::decode(data))),
        (_, "summary") => Some(match SummaryRecord::decode(data) {
            Ok(s) => format!(
                "summary chunks={} units={} done={} stats={} failed=[{}]",
                s.chunks,
                s.units,
                s.done,
                render_stats(&s.stats),
                s.failed
                    .iter()
                    .map(|(c, e)| format!("{c}: {e}"))
                    .collect::<Vec<_>>()
                    .join("; ")
            ),
            Err(e) => format!("bad summary: {e}"),
        }),
        (_, "config") => None,
        ("plan", _) => Some(match Chunk::decode(data) {
            Ok(c) => format!("chunk [{}]", render_units(&c.units)),
            Err(e) => format!("bad chunk: {e}"),
        }),
        ("done", _) => Some(match DoneRecord::decode(data) {
            Ok(r) => format!(
                "done worker={} dest={} code={} stats={}",
                r.worker,
                r.dest,
                r.code,
                render_stats(&r.stats)
            ),
            Err(e) => format!("bad done record: {e}"),
        }),
        ("failed" | "tries", _) => Some(match FailedRecord::decode(data) {
            Ok(r) => render_failed(&r),
            Err(e) => format!("bad failed record: {e}"),
        }),
        ("dests", _) => Some(match DestRecord::decode(data) {
            // Never the secret.
            Ok(r) => format!(
                "dest {} {} auth={}",
                r.url(),
                if r.active { "active" } else { "paused" },
                if r.auth.is_some() { "yes" } else { "no" }
            ),
            Err(e) => format!("bad dest record: {e}"),
        }),
        _ => match std::str::from_utf8(data) {
            Ok(text) if text.len() <= 40 && text.chars().all(|c| c.is_ascii_graphic()) => {
                Some(format!("{text:?}"))
            }
            _ => None,
        },
    };
    match decoded {
        Some(d) => format!("({len} bytes: {d})"),
        None => format!("({len} bytes)"),
    }
}

/// Units as `path(kind weight)`: `d` own entries, `r` recursive, `!` listing failed,
/// `-name` an excluded subdirectory.
pub fn render_units(units: &[Unit]) -> String {
    units
        .iter()
        .map(|u| {
            let path = if u.path.is_root() {
                ".".to_owned()
            } else {
                String::from_utf8_lossy(u.path.as_bytes()).into_owned()
            };
            let mut s = format!(
                "{path}({}{}{}",
                if u.recursive { "r" } else { "d" },
                u.weight,
                if u.listing_failed { "!" } else { "" }
            );
            for e in &u.excluded {
                write!(s, " -{}", String::from_utf8_lossy(e)).unwrap();
            }
            s.push(')');
            s
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// The non-zero counters of rsync stats, or `0`.
pub fn render_stats(s: &RsyncStats) -> String {
    let fields = [
        ("files", s.files),
        ("regular_files_transferred", s.regular_files_transferred),
        ("created_files", s.created_files),
        ("deleted_files", s.deleted_files),
        ("total_file_size", s.total_file_size),
        ("transferred_file_size", s.transferred_file_size),
        ("literal_data", s.literal_data),
        ("matched_data", s.matched_data),
        ("file_list_size", s.file_list_size),
        ("bytes_sent", s.bytes_sent),
        ("bytes_received", s.bytes_received),
    ];
    let parts: Vec<String> = fields
        .iter()
        .filter(|(_, v)| *v != 0)
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    if parts.is_empty() {
        "0".to_owned()
    } else {
        format!("{{{}}}", parts.join(" "))
    }
}

fn render_failed(r: &FailedRecord) -> String {
    format!(
        "failed worker={} dest={} code={} error={:?} paths=[{}]",
        r.worker,
        r.dest,
        r.code.map_or("none".to_owned(), |c| c.to_string()),
        r.error,
        r.paths
            .iter()
            .map(|p| String::from_utf8_lossy(p).into_owned())
            .collect::<Vec<_>>()
            .join(", ")
    )
}

fn render_mode(mode: CreateMode) -> &'static str {
    match mode {
        CreateMode::Persistent => "Persistent",
        CreateMode::PersistentSequential => "PersistentSequential",
        CreateMode::Ephemeral => "Ephemeral",
        CreateMode::EphemeralSequential => "EphemeralSequential",
    }
}

fn watch_tag(watch: bool) -> &'static str {
    if watch {
        " watch"
    } else {
        ""
    }
}

fn render_multi_op(op: &MultiOp) -> String {
    match op {
        MultiOp::Create { path, data, mode } => format!(
            "create {path} {} {}",
            render_mode(*mode),
            render_data(path, data)
        ),
        MultiOp::Delete { path } => format!("delete {path}"),
        MultiOp::SetData { path, data } => format!("set {path} {}", render_data(path, data)),
    }
}

/// A request in full.
pub fn render_op(op: &ZkOp) -> String {
    match op {
        ZkOp::Create { path, data, mode } => format!(
            "create {path} {} {}",
            render_mode(*mode),
            render_data(path, data)
        ),
        ZkOp::Delete { path } => format!("delete {path}"),
        ZkOp::SetData { path, data } => format!("set {path} {}", render_data(path, data)),
        ZkOp::GetData { path, watch } => format!("get {path}{}", watch_tag(*watch)),
        ZkOp::GetChildren { path, watch } => format!("ls {path}{}", watch_tag(*watch)),
        ZkOp::Exists { path, watch } => format!("exists {path}{}", watch_tag(*watch)),
        ZkOp::Multi(ops) => format!(
            "multi [{}]",
            ops.iter()
                .map(render_multi_op)
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

/// A request in short, to say what a reply answers.
pub fn render_op_short(op: &ZkOp) -> String {
    let kind = match op {
        ZkOp::Create { .. } => "create".to_owned(),
        ZkOp::Delete { .. } => "delete".to_owned(),
        ZkOp::SetData { .. } => "set".to_owned(),
        ZkOp::GetData { .. } => "get".to_owned(),
        ZkOp::GetChildren { .. } => "ls".to_owned(),
        ZkOp::Exists { .. } => "exists".to_owned(),
        ZkOp::Multi(ops) => format!("multi({})", ops.len()),
    };
    format!("{kind} {}", op.path())
}

/// A reply; `op` says how to read data.
pub fn render_result(op: &ZkOp, result: &Result<ZkReply, ZkError>) -> String {
    match result {
        Ok(ZkReply::Created(path)) => format!("created {path}"),
        Ok(ZkReply::Done) => "ok".to_owned(),
        Ok(ZkReply::Data(data)) => format!("data {}", render_data(op.path(), data)),
        Ok(ZkReply::Children(names)) => format!("children [{}]", names.join(", ")),
        Ok(ZkReply::Exists(b)) => format!("exists {b}"),
        Err(e) => format!("error {e:?}"),
    }
}

/// A duration since the scenario's start, as `+12.345s`.
pub fn render_at(d: Duration) -> String {
    format!("+{}.{:03}s", d.as_secs(), d.subsec_millis())
}

fn render_progress(p: &Progress) -> String {
    format!(
        "chunks={} plan_ready={} units={} done={} failed={} running={} sources={} dests={} stats={}",
        p.chunks,
        p.plan_ready,
        p.units,
        p.done,
        p.failed,
        p.running,
        p.sources,
        p.dests,
        render_stats(&p.stats)
    ) + &match (p.live_bytes, p.live_files, p.entries) {
        (0, 0, 0) => String::new(),
        (b, f, e) => format!(" live_bytes={b} live_files={f} entries={e}"),
    }
}

fn render_level(level: Level) -> &'static str {
    match level {
        Level::Error => "ERROR",
        Level::Warn => "WARN",
        Level::Info => "INFO",
        Level::Debug => "DEBUG",
    }
}

/// An output; instants relative to `t0`.
pub fn render_output(o: &Output) -> String {
    match o {
        Output::Zk { id, op } => format!("zk #{} {}", id.0, render_op(op)),
        Output::NewSession => "NewSession".to_owned(),
        Output::Walk => "Walk".to_owned(),
        Output::Spawn { id, job } => format!(
            "Spawn job#{} chunk={} dest={} url={} units={} invocations={} root_nonempty={} password={}",
            id.0,
            job.chunk,
            job.dest,
            job.url,
            job.units,
            job.invocations.len(),
            job.guards.root_nonempty,
            if job.password.is_some() { "set" } else { "none" }
        ),
        Output::Kill { id } => format!("Kill job#{}", id.0),
        Output::WatchTree => "WatchTree".to_owned(),
        Output::Probe {
            id,
            op: ProbeOp::Write { name, content },
        } => format!(
            "Probe #{} Write {name} {:?}",
            id.0,
            String::from_utf8_lossy(content)
        ),
        Output::Probe { id, op } => format!("Probe #{} {op:?}", id.0),
        Output::Log { level, message } => format!("Log {} {message}", render_level(*level)),
        Output::Progress(p) => format!("Progress {}", render_progress(p)),
        Output::Summary(s) => {
            let mut line = format!(
                "Summary {} left_behind={} failed=[",
                render_progress(&s.progress),
                s.left_behind
            );
            let failed: Vec<String> = s
                .failed
                .iter()
                .map(|f| format!("{}: {}", f.chunk, render_failed(&f.record)))
                .collect();
            line.push_str(&failed.join("; "));
            line.push(']');
            line
        }
        Output::Exit(e) => match &e.message {
            Some(m) => format!("Exit code={} message={m:?}", e.code),
            None => format!("Exit code={}", e.code),
        },
    }
}

/// An input, compactly (replies are rendered by the driver, which knows the request).
pub fn render_input(i: &Input) -> String {
    match i {
        Input::Session(SessionEvent::Connected { new_session, .. }) => {
            format!("session Connected new_session={new_session}")
        }
        Input::Session(e) => format!("session {e:?}"),
        Input::Reply { id, result } => format!("reply #{} {result:?}", id.0),
        Input::Watch { path, kind } => format!("watch {kind:?} {path}"),
        Input::Walked(Ok(w)) => format!(
            "walked {} units root_nonempty={} dirs_read={} errors={} [{}]",
            w.units.len(),
            w.root_nonempty,
            w.dirs_read,
            w.errors,
            render_units(&w.units)
        ),
        Input::Walked(Err(e)) => format!("walked error {:?}", e.to_string()),
        Input::RsyncDone { id, outcome } => format!("rsync done job#{} {outcome:?}", id.0),
        Input::RsyncProgress { id, bytes, files } => {
            format!("rsync progress job#{} bytes={bytes} files={files}", id.0)
        }
        Input::Timeout => "timeout".to_owned(),
        Input::Tree(t) => format!("tree {t:?}"),
        Input::Probe { id, result } => format!("probe #{} {result:?}", id.0),
        Input::Interrupt => "interrupt".to_owned(),
    }
}

// ------------------------------------------------------------------------ transcript
