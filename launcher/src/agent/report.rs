//! How progress and the final summary read.

use std::fmt::Write as _;
use std::os::unix::ffi::OsStrExt as _;
use std::time::Duration;

use zkrsync_core::protocol::Summary;

/// `1234567` as `1.2 MB`.
pub fn bytes(n: u64) -> String {
    const UNITS: [&str; 6] = ["B", "kB", "MB", "GB", "TB", "PB"];
    let mut value = n as f64;
    let mut unit = 0;
    while value >= 1000.0 && unit + 1 < UNITS.len() {
        value /= 1000.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

/// What every line of a dry run starts with: nothing it reports was changed.
pub const DRY_RUN: &str = "DRY RUN: ";

/// [`DRY_RUN`] for a dry run, else nothing.
pub fn dry_mark(dry_run: bool) -> &'static str {
    if dry_run {
        DRY_RUN
    } else {
        ""
    }
}

/// The summary the master prints at the end (and writes to the done-file).
pub fn summary_text(session: &str, s: &Summary, elapsed: Duration, dry_run: bool) -> String {
    let p = &s.progress;
    let mut out = String::new();
    let mark = dry_mark(dry_run);
    let _ = writeln!(
        out,
        "zkrsync: {mark}session {session} {}: {} chunks ({} units): {} done, {} failed, in {:.1} s",
        if s.failed.is_empty() {
            "complete"
        } else {
            "finished with failures"
        },
        p.chunks,
        p.units,
        p.done,
        p.failed,
        elapsed.as_secs_f64()
    );
    let st = &p.stats;
    let _ = match dry_run {
        false => writeln!(
            out,
            "  files: {} ({} regular transferred, {} created, {} deleted); size {} ({} transferred)",
            st.files,
            st.regular_files_transferred,
            st.created_files,
            st.deleted_files,
            bytes(st.total_file_size),
            bytes(st.transferred_file_size)
        ),
        true => writeln!(
            out,
            "  {mark}files: {} (would transfer {} regular, create {}, delete {}); size {} (would transfer {}); nothing was changed",
            st.files,
            st.regular_files_transferred,
            st.created_files,
            st.deleted_files,
            bytes(st.total_file_size),
            bytes(st.transferred_file_size)
        ),
    };
    let _ = writeln!(
        out,
        "  data: {} literal, {} matched, file lists {}; sent {}, received {}",
        bytes(st.literal_data),
        bytes(st.matched_data),
        bytes(st.file_list_size),
        bytes(st.bytes_sent),
        bytes(st.bytes_received)
    );
    for f in &s.failed {
        let paths: Vec<String> = f
            .record
            .paths
            .iter()
            .map(|p| {
                String::from_utf8_lossy(std::ffi::OsStr::from_bytes(p).as_bytes()).into_owned()
            })
            .map(|p| if p.is_empty() { ".".to_owned() } else { p })
            .collect();
        let _ = writeln!(
            out,
            "  failed chunk {}: {} (paths: {})",
            f.chunk,
            f.record.error,
            paths.join(", ")
        );
    }
    if s.left_behind {
        let _ = writeln!(
            out,
            "  some znodes of the session were left behind: run zkrsync abort on it"
        );
    }
    let items = &s.items;
    if !items.lines.is_empty() || items.omitted > 0 {
        let more = match items.omitted {
            0 => String::new(),
            n => format!(", {n} more left out"),
        };
        let _ = writeln!(
            out,
            "  {mark}itemized changes ({} by path{more}; names as rsync -i prints them):",
            items.lines.len()
        );
        for line in &items.lines {
            let _ = writeln!(out, "{}", String::from_utf8_lossy(line));
        }
    }
    out
}

/// The summary as one JSON object (`--json`): what [`summary_text`] says, by field.
pub fn summary_json(session: &str, s: &Summary, elapsed: Duration, dry_run: bool) -> String {
    let p = &s.progress;
    let st = &p.stats;
    let failed: Vec<serde_json::Value> = s
        .failed
        .iter()
        .map(|f| {
            serde_json::json!({
                "chunk": f.chunk,
                "error": f.record.error,
                "rsync_exit": f.record.code,
                "worker": f.record.worker,
                "dest": f.record.dest,
                "paths": f.record.paths.iter().map(|p| match p.is_empty() {
                    true => ".".to_owned(),
                    false => String::from_utf8_lossy(p).into_owned(),
                }).collect::<Vec<_>>(),
            })
        })
        .collect();
    let v = serde_json::json!({
        "session": session,
        "complete": s.failed.is_empty(),
        "dry_run": dry_run,
        "seconds": (elapsed.as_secs_f64() * 1000.0).round() / 1000.0,
        "chunks": p.chunks,
        "units": p.units,
        "done": p.done,
        "failed": p.failed,
        "stats": {
            "files": st.files,
            "regular_files_transferred": st.regular_files_transferred,
            "created_files": st.created_files,
            "deleted_files": st.deleted_files,
            "total_file_size": st.total_file_size,
            "transferred_file_size": st.transferred_file_size,
            "literal_data": st.literal_data,
            "matched_data": st.matched_data,
            "file_list_size": st.file_list_size,
            "bytes_sent": st.bytes_sent,
            "bytes_received": st.bytes_received,
        },
        "failed_chunks": failed,
        "left_behind": s.left_behind,
        "items": s.items.lines.iter().map(|l| String::from_utf8_lossy(l)).collect::<Vec<_>>(),
        "items_omitted": s.items.omitted,
    });
    format!("{v}\n")
}
