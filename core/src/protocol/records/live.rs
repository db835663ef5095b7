//! A worker's live progress (`progress/<election node>`): how far its running rsync is.

use super::{Fields, Lines, RecordError};

/// What a worker's rsync has done so far in the chunk it copies (rsync's running
/// `--info=progress2` counters, summed over the job's runs); no chunk when idle.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LiveRecord {
    /// The chunk being copied; empty when idle.
    pub chunk: String,
    /// Bytes of file data done so far.
    pub bytes: u64,
    /// Files checked so far.
    pub files: u64,
}

impl LiveRecord {
    /// Encodes.
    pub fn encode(&self) -> Vec<u8> {
        let mut l = Lines::default();
        l.put("chunk", &self.chunk)
            .put("bytes", self.bytes)
            .put("files", self.files);
        l.into_bytes()
    }

    /// Decodes.
    pub fn decode(data: &[u8]) -> Result<LiveRecord, RecordError> {
        let f = Fields::parse("live", data)?;
        Ok(LiveRecord {
            chunk: f.str("chunk").unwrap_or("").to_owned(),
            bytes: f.num("bytes")?,
            files: f.num("files")?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips() {
        let r = LiveRecord {
            chunk: "0000000007".into(),
            bytes: 123_456,
            files: 42,
        };
        assert_eq!(LiveRecord::decode(&r.encode()).unwrap(), r);
        let idle = LiveRecord::default();
        assert_eq!(LiveRecord::decode(&idle.encode()).unwrap(), idle);
    }
}
