//! What a finished session leaves behind (`outcome`): its summary, which run it was, and how
//! long it is kept.

use super::{Fields, Lines, RecordError, SummaryRecord};

/// A finished session's outcome: the session's znode keeps only this child, so that
/// `zkrsync status` says how it ended and a late client of the same run leaves instead of
/// starting the session anew. Removed `keep_secs` after it was written (by the znode's
/// modification time), by `zkrsync forget`, or by the next run of the session.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct OutcomeRecord {
    /// The run the session was (`--run`; `zkrsync-launch` gives every launch its own), if
    /// it was given one.
    pub run: Option<String>,
    /// How long the outcome is kept, in seconds.
    pub keep_secs: u64,
    /// Whether the session was a dry run.
    pub dry_run: bool,
    /// The counts and the failed chunks, as the master recorded them.
    pub summary: SummaryRecord,
}

impl OutcomeRecord {
    /// Encodes.
    pub fn encode(&self) -> Vec<u8> {
        let mut l = Lines::default();
        l.put("state", "finished");
        if let Some(run) = &self.run {
            l.put_bytes("run", run.as_bytes());
        }
        l.put("keep", self.keep_secs).put("dry_run", self.dry_run);
        self.summary.put(&mut l);
        l.into_bytes()
    }

    /// Decodes.
    pub fn decode(data: &[u8]) -> Result<OutcomeRecord, RecordError> {
        let f = Fields::parse("outcome", data)?;
        if f.str("state")? != "finished" {
            return Err(RecordError::new("outcome", "state is not finished"));
        }
        let run = match f.all("run").is_empty() {
            true => None,
            false => Some(String::from_utf8_lossy(&f.bytes("run")?).into_owned()),
        };
        Ok(OutcomeRecord {
            run,
            keep_secs: f.num("keep")?,
            dry_run: f.bool("dry_run")?,
            summary: SummaryRecord::from_fields(&f)?,
        })
    }

    /// Whether a client of `run` belongs to the run that finished (and so leaves): only
    /// when both name the same run.
    pub fn is_run(&self, run: Option<&str>) -> bool {
        matches!((self.run.as_deref(), run), (Some(a), Some(b)) if a == b)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_tells_runs_apart() {
        let mut r = OutcomeRecord {
            run: Some("r-1 é".into()),
            keep_secs: 86400,
            dry_run: true,
            summary: SummaryRecord {
                chunks: 3,
                units: 7,
                done: 2,
                failed: vec![("0000000002".into(), "rsync exit 23".into())],
                ..SummaryRecord::default()
            },
        };
        assert_eq!(OutcomeRecord::decode(&r.encode()).unwrap(), r);
        assert!(r.is_run(Some("r-1 é")));
        assert!(!r.is_run(Some("r-2")));
        assert!(!r.is_run(None));
        r.run = None;
        assert_eq!(OutcomeRecord::decode(&r.encode()).unwrap(), r);
        assert!(!r.is_run(None), "two clients without a run are not one run");
        assert!(OutcomeRecord::decode(b"chunks=1\n").is_err());
    }
}
