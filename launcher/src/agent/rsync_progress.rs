//! rsync's running counters (`--info=progress2`) as they come, for live progress: each
//! `\r`-separated update reads `  3,000,000  99%  1.02MB/s  0:00:02 (xfr#1, to-chk=3/5)`.
//! The job's runs are summed, and the core is told at most once a second.

use std::time::{Duration, Instant};

use tokio::sync::mpsc;
use zkrsync_core::protocol::run_counts::RunCounter;
use zkrsync_core::protocol::{Input, JobId};

/// How often the driver tells the core, at most.
const REPORT_EVERY: Duration = Duration::from_secs(1);

/// Bytes done and files checked so far by one rsync, from one progress2 update.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counters {
    /// Bytes of file data done.
    pub bytes: u64,
    /// Files checked (of the file list so far).
    pub files: u64,
}

/// One progress2 update, if `segment` is one.
pub fn parse(segment: &str) -> Option<Counters> {
    let mut words = segment.split_whitespace();
    let bytes: u64 = words.next()?.replace(',', "").parse().ok()?;
    words.next().filter(|w| w.ends_with('%'))?;
    // `to-chk=3/5)` (or `ir-chk=` while the file list is still growing): 5 - 3 checked.
    let files = segment
        .split_once("-chk=")
        .and_then(|(_, rest)| rest.split_once(')'))
        .and_then(|(counts, _)| counts.split_once('/'))
        .and_then(|(left, total)| {
            let left: u64 = left.parse().ok()?;
            let total: u64 = total.parse().ok()?;
            Some(total.saturating_sub(left))
        })
        .unwrap_or(0);
    Some(Counters { bytes, files })
}

/// Where a job's updates go: the core, with the counters of its earlier runs added.
#[derive(Debug, Clone)]
pub struct Sink {
    id: JobId,
    inputs: mpsc::UnboundedSender<Input>,
    /// The job's runs that ended.
    before: Counters,
    last_sent: Option<Instant>,
}

impl Sink {
    /// The sink of job `id`.
    pub fn new(id: JobId, inputs: mpsc::UnboundedSender<Input>) -> Sink {
        Sink {
            id,
            inputs,
            before: Counters::default(),
            last_sent: None,
        }
    }

    /// The current run is at `now`; told to the core when a second has passed.
    pub fn update(&mut self, now: Counters) {
        let due = self.last_sent.is_none_or(|at| at.elapsed() >= REPORT_EVERY);
        if due {
            self.last_sent = Some(Instant::now());
            let _ = self.inputs.send(Input::RsyncProgress {
                id: self.id,
                bytes: self.before.bytes + now.bytes,
                files: self.before.files + now.files,
            });
        }
    }

    /// The current run ended at `last`: the next one counts on from there.
    pub fn run_ended(&mut self, last: Counters) {
        self.before.bytes += last.bytes;
        self.before.files += last.files;
    }
}

/// Reads rsync's standard output to its end: every progress2 update goes to `sink`, every
/// other line to `counter` (itemized entries and the `--stats` block); returns the counter
/// and the run's last counters.
pub async fn read_stdout(
    mut out: impl tokio::io::AsyncRead + Unpin,
    mut counter: RunCounter,
    mut sink: Option<Sink>,
) -> (RunCounter, Counters, Option<Sink>) {
    use tokio::io::AsyncReadExt as _;
    let mut pending = Vec::new();
    let mut last = Counters::default();
    let mut buf = [0u8; 8192];
    loop {
        let n = match out.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        for &b in &buf[..n] {
            if b != b'\r' && b != b'\n' {
                pending.push(b);
                continue;
            }
            match parse(&String::from_utf8_lossy(&pending)) {
                Some(c) => {
                    last = c;
                    if let Some(s) = sink.as_mut() {
                        s.update(c);
                    }
                }
                None if pending.is_empty() => {}
                None => counter.line(&pending),
            }
            pending.clear();
        }
    }
    if !pending.is_empty() {
        counter.line(&pending);
    }
    (counter, last, sink)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_progress2_updates() {
        assert_eq!(
            parse("      3,000,000  99%    1.02MB/s    0:00:02 (xfr#1, to-chk=3/5)"),
            Some(Counters {
                bytes: 3_000_000,
                files: 2
            })
        );
        assert_eq!(
            parse("         32,768   1%    0.00kB/s    0:00:00  "),
            Some(Counters {
                bytes: 32_768,
                files: 0
            })
        );
        assert_eq!(
            parse("  1,114,112  37%  1000.95kB/s  0:00:01 (xfr#2, ir-chk=1000/1520)"),
            Some(Counters {
                bytes: 1_114_112,
                files: 520
            })
        );
        for not in [
            "",
            "Number of files: 5 (reg: 4, dir: 1)",
            "sent 3,001,234 bytes  received 95 bytes",
        ] {
            assert_eq!(parse(not), None, "{not:?}");
        }
    }

    #[tokio::test]
    async fn keeps_the_last_counters_and_counts_the_rest() {
        let out: &[u8] = b"\r   1,000  10%  1kB/s  0:00:01\r   9,000 100%  1kB/s  0:00:02 (xfr#1, to-chk=0/3)\n\nNumber of files: 3 (reg: 2, dir: 1)\nTotal file size: 9,000 bytes\n";
        let inv = zkrsync_core::protocol::rsync_job::RsyncInvocation {
            args: vec!["-d".into()],
            files_from: b".\0".to_vec(),
            excludes: Vec::new(),
            filters: Vec::new(),
            buckets: Vec::new(),
        };
        let (counted, last, _) = read_stdout(out, RunCounter::new(&inv), None).await;
        assert_eq!(
            last,
            Counters {
                bytes: 9_000,
                files: 3
            }
        );
        let stats = counted
            .stats()
            .expect("the --stats block reached the counter");
        assert_eq!(stats.total_file_size, 9_000);
    }
}
