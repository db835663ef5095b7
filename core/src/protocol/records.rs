//! What the session's znodes hold: small `key=value` lines (UTF-8 text, values
//! percent-escaped), readable with `zkCli.sh get` and stable across versions.

use std::collections::BTreeMap;

use crate::rsync_stats::RsyncStats;

pub use super::tree_id::TreeId;
pub use live::LiveRecord;
pub use outcome::OutcomeRecord;

mod live;
mod outcome;

/// A record that could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unreadable {what} record: {reason}")]
pub struct RecordError {
    what: &'static str,
    reason: String,
}

impl RecordError {
    pub(crate) fn new(what: &'static str, reason: impl Into<String>) -> Self {
        RecordError {
            what,
            reason: reason.into(),
        }
    }
}

/// Escapes bytes outside printable ASCII, and `%`, as `%XX`.
pub fn escape(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len());
    for &b in bytes {
        if (0x21..0x7f).contains(&b) && b != b'%' {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Reverses [`escape`].
pub fn unescape(text: &str) -> Option<Vec<u8>> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = text.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    Some(out)
}

/// Lines of `key=value`, keys in the order written; a key may repeat (lists).
#[derive(Debug, Default, Clone)]
pub(crate) struct Lines(String);

impl Lines {
    pub(crate) fn put(&mut self, key: &str, value: impl std::fmt::Display) -> &mut Self {
        self.0.push_str(key);
        self.0.push('=');
        self.0.push_str(&value.to_string());
        self.0.push('\n');
        self
    }
    pub(crate) fn put_bytes(&mut self, key: &str, value: &[u8]) -> &mut Self {
        let escaped = escape(value);
        self.put(key, escaped)
    }
    pub(crate) fn into_bytes(self) -> Vec<u8> {
        self.0.into_bytes()
    }
}

/// Parsed `key=value` lines.
#[derive(Debug, Default)]
pub(crate) struct Fields {
    what: &'static str,
    map: BTreeMap<String, Vec<String>>,
}

impl Fields {
    pub(crate) fn parse(what: &'static str, data: &[u8]) -> Result<Fields, RecordError> {
        let text = std::str::from_utf8(data).map_err(|_| RecordError::new(what, "not UTF-8"))?;
        let mut map: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for line in text.lines().filter(|l| !l.is_empty()) {
            let (key, value) = line
                .split_once('=')
                .ok_or_else(|| RecordError::new(what, format!("line {line:?} has no '='")))?;
            map.entry(key.to_owned())
                .or_default()
                .push(value.to_owned());
        }
        Ok(Fields { what, map })
    }
    pub(crate) fn all(&self, key: &str) -> &[String] {
        self.map.get(key).map(Vec::as_slice).unwrap_or(&[])
    }
    pub(crate) fn str(&self, key: &str) -> Result<&str, RecordError> {
        self.all(key)
            .first()
            .map(String::as_str)
            .ok_or_else(|| RecordError::new(self.what, format!("no {key}")))
    }
    pub(crate) fn num<T: std::str::FromStr>(&self, key: &str) -> Result<T, RecordError> {
        self.str(key)?
            .parse()
            .map_err(|_| RecordError::new(self.what, format!("{key} is not a number")))
    }
    pub(crate) fn num_or<T: std::str::FromStr>(
        &self,
        key: &str,
        default: T,
    ) -> Result<T, RecordError> {
        if self.all(key).is_empty() {
            Ok(default)
        } else {
            self.num(key)
        }
    }
    pub(crate) fn bool(&self, key: &str) -> Result<bool, RecordError> {
        match self.str(key)? {
            "true" => Ok(true),
            "false" => Ok(false),
            _ => Err(RecordError::new(
                self.what,
                format!("{key} is not true or false"),
            )),
        }
    }
    pub(crate) fn bytes(&self, key: &str) -> Result<Vec<u8>, RecordError> {
        unescape(self.str(key)?)
            .ok_or_else(|| RecordError::new(self.what, format!("{key} is badly escaped")))
    }
    pub(crate) fn all_bytes(&self, key: &str) -> Result<Vec<Vec<u8>>, RecordError> {
        self.all(key)
            .iter()
            .map(|v| {
                unescape(v)
                    .ok_or_else(|| RecordError::new(self.what, format!("{key} is badly escaped")))
            })
            .collect()
    }
}

/// State of the plan (`plan` znode).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlanRecord {
    /// True when every chunk is published.
    pub ready: bool,
    /// Chunks published (valid when ready).
    pub chunks: u64,
    /// Units published (valid when ready).
    pub units: u64,
    /// Whether the source root had entries when it was walked.
    pub root_nonempty: bool,
    /// A sample of the source root's directory names: a source whose root lacks most of
    /// them is on another tree ([`crate::protocol::source_tree::Guards`]).
    pub top_dirs: Vec<Vec<u8>>,
    /// Directory entries in the plan's units (the sum of their weights: what the session's
    /// file count goes to), when known (valid when ready; 0: unknown).
    pub entries: u64,
}

impl PlanRecord {
    /// A plan being built.
    pub fn building() -> PlanRecord {
        PlanRecord {
            ready: false,
            chunks: 0,
            units: 0,
            root_nonempty: false,
            top_dirs: Vec::new(),
            entries: 0,
        }
    }
    /// Encodes.
    pub fn encode(&self) -> Vec<u8> {
        let mut l = Lines::default();
        l.put("state", if self.ready { "ready" } else { "building" })
            .put("chunks", self.chunks)
            .put("units", self.units)
            .put("root_nonempty", self.root_nonempty)
            .put("entries", self.entries);
        for name in &self.top_dirs {
            l.put_bytes("top", name);
        }
        l.into_bytes()
    }
    /// Decodes.
    pub fn decode(data: &[u8]) -> Result<PlanRecord, RecordError> {
        let f = Fields::parse("plan", data)?;
        Ok(PlanRecord {
            ready: match f.str("state")? {
                "ready" => true,
                "building" => false,
                other => return Err(RecordError::new("plan", format!("unknown state {other:?}"))),
            },
            chunks: f.num("chunks")?,
            units: f.num("units")?,
            root_nonempty: f.bool("root_nonempty")?,
            top_dirs: f.all_bytes("top")?,
            entries: f.num_or("entries", 0)?,
        })
    }
}

/// A secret that never shows in a log: its `Debug` prints `***`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(pub String);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("***")
    }
}

/// How sources log in to a destination's rsync daemon (`auth users` / `secrets file`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DaemonAuth {
    /// The daemon's user.
    pub user: String,
    /// Its password, given to rsync through `RSYNC_PASSWORD`.
    pub secret: Secret,
}

/// A destination (`dests/<id>`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DestRecord {
    /// Address its rsync daemon listens on.
    pub address: String,
    /// Port.
    pub port: u16,
    /// rsync module of the session.
    pub module: String,
    /// False while its tree is missing: it takes no work.
    pub active: bool,
    /// Host name, for messages.
    pub host: String,
    /// The login its daemon requires, if any.
    pub auth: Option<DaemonAuth>,
    /// What its tree is on its host, for a source to tell whether the two trees overlap
    /// ([`crate::protocol::source_tree::overlap`]); None from older versions.
    pub tree: Option<TreeId>,
    /// Fields of newer versions; kept as they are.
    pub extra: Vec<(String, String)>,
}

impl DestRecord {
    /// Encodes.
    pub fn encode(&self) -> Vec<u8> {
        let mut l = Lines::default();
        l.put("address", &self.address)
            .put("port", self.port)
            .put("module", &self.module)
            .put("state", if self.active { "active" } else { "paused" })
            .put_bytes("host", self.host.as_bytes());
        if let Some(auth) = &self.auth {
            l.put("auth_user", &auth.user)
                .put("auth_secret", &auth.secret.0);
        }
        if let Some(tree) = &self.tree {
            tree.put(&mut l);
        }
        for (k, v) in &self.extra {
            l.put(k, v);
        }
        l.into_bytes()
    }
    /// Decodes.
    pub fn decode(data: &[u8]) -> Result<DestRecord, RecordError> {
        let f = Fields::parse("destination", data)?;
        let known = [
            "address",
            "port",
            "module",
            "state",
            "host",
            "auth_user",
            "auth_secret",
            "tree_boot",
            "tree_path",
            "tree_dir",
        ];
        let auth = match (f.all("auth_user").first(), f.all("auth_secret").first()) {
            (Some(user), Some(secret)) => Some(DaemonAuth {
                user: user.clone(),
                secret: Secret(secret.clone()),
            }),
            (None, None) => None,
            _ => {
                return Err(RecordError::new(
                    "destination",
                    "auth_user and auth_secret come together",
                ))
            }
        };
        Ok(DestRecord {
            address: f.str("address")?.to_owned(),
            port: f.num("port")?,
            module: f.str("module")?.to_owned(),
            active: f.str("state")? == "active",
            host: String::from_utf8_lossy(&f.bytes("host")?).into_owned(),
            auth,
            tree: TreeId::get(&f)?,
            extra: f
                .map
                .iter()
                .filter(|(k, _)| !known.contains(&k.as_str()))
                .flat_map(|(k, vs)| vs.iter().map(move |v| (k.clone(), v.clone())))
                .collect(),
        })
    }
    /// The rsync URL of the module.
    pub fn url(&self) -> String {
        let host = if self.address.contains(':') {
            format!("[{}]", self.address)
        } else {
            self.address.clone()
        };
        let user = match &self.auth {
            Some(a) => format!("{}@", a.user),
            None => String::new(),
        };
        format!("rsync://{user}{host}:{}/{}/", self.port, self.module)
    }
}

/// The session's destination tree (`desttree`): the first destination wrote a probe file
/// holding `token` into its tree's root; every other destination must read the same token
/// back from its own path (see [`crate::protocol::dest`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DestTreeRecord {
    /// The id of the destination that wrote the probe (it names the probe file).
    pub dest: String,
    /// The random token in the probe file.
    pub token: String,
}

impl DestTreeRecord {
    /// Encodes.
    pub fn encode(&self) -> Vec<u8> {
        let mut l = Lines::default();
        l.put_bytes("dest", self.dest.as_bytes())
            .put_bytes("token", self.token.as_bytes());
        l.into_bytes()
    }
    /// Decodes.
    pub fn decode(data: &[u8]) -> Result<DestTreeRecord, RecordError> {
        let f = Fields::parse("destination tree", data)?;
        Ok(DestTreeRecord {
            dest: String::from_utf8_lossy(&f.bytes("dest")?).into_owned(),
            token: String::from_utf8_lossy(&f.bytes("token")?).into_owned(),
        })
    }
}

fn put_stats(l: &mut Lines, s: &RsyncStats) {
    l.put("files", s.files)
        .put("regular_files_transferred", s.regular_files_transferred)
        .put("created_files", s.created_files)
        .put("deleted_files", s.deleted_files)
        .put("total_file_size", s.total_file_size)
        .put("transferred_file_size", s.transferred_file_size)
        .put("literal_data", s.literal_data)
        .put("matched_data", s.matched_data)
        .put("file_list_size", s.file_list_size)
        .put("bytes_sent", s.bytes_sent)
        .put("bytes_received", s.bytes_received);
}

fn get_stats(f: &Fields) -> Result<RsyncStats, RecordError> {
    Ok(RsyncStats {
        files: f.num_or("files", 0)?,
        regular_files_transferred: f.num_or("regular_files_transferred", 0)?,
        created_files: f.num_or("created_files", 0)?,
        deleted_files: f.num_or("deleted_files", 0)?,
        total_file_size: f.num_or("total_file_size", 0)?,
        transferred_file_size: f.num_or("transferred_file_size", 0)?,
        literal_data: f.num_or("literal_data", 0)?,
        matched_data: f.num_or("matched_data", 0)?,
        file_list_size: f.num_or("file_list_size", 0)?,
        bytes_sent: f.num_or("bytes_sent", 0)?,
        bytes_received: f.num_or("bytes_received", 0)?,
    })
}

/// A chunk done (`done/<chunk>`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DoneRecord {
    /// Who copied it.
    pub worker: String,
    /// To which destination.
    pub dest: String,
    /// rsync's stats.
    pub stats: RsyncStats,
    /// rsync's exit code (0, or 24 when files vanished).
    pub code: i32,
    /// With `--itemize`: rsync's itemized changes (bounded,
    /// [`super::itemized::CHUNK_ITEM_BYTES`]).
    pub items: super::itemized::Itemized,
}

impl DoneRecord {
    /// Encodes.
    pub fn encode(&self) -> Vec<u8> {
        let mut l = Lines::default();
        l.put_bytes("worker", self.worker.as_bytes())
            .put_bytes("dest", self.dest.as_bytes())
            .put("code", self.code);
        put_stats(&mut l, &self.stats);
        for line in &self.items.lines {
            l.put_bytes("item", line);
        }
        if self.items.omitted > 0 {
            l.put("items_omitted", self.items.omitted);
        }
        l.into_bytes()
    }
    /// Decodes.
    pub fn decode(data: &[u8]) -> Result<DoneRecord, RecordError> {
        let f = Fields::parse("done", data)?;
        Ok(DoneRecord {
            worker: String::from_utf8_lossy(&f.bytes("worker")?).into_owned(),
            dest: String::from_utf8_lossy(&f.bytes("dest")?).into_owned(),
            code: f.num_or("code", 0)?,
            stats: get_stats(&f)?,
            items: super::itemized::Itemized::new(
                f.all_bytes("item")?,
                f.num_or("items_omitted", 0)?,
            ),
        })
    }
}

/// A chunk failed for good (`failed/<chunk>`), or one failed attempt (`tries/…`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FailedRecord {
    /// Who tried last.
    pub worker: String,
    /// On which destination.
    pub dest: String,
    /// rsync's exit code, if it exited.
    pub code: Option<i32>,
    /// The error, one line.
    pub error: String,
    /// The first few paths of the chunk, for the summary.
    pub paths: Vec<Vec<u8>>,
}

impl FailedRecord {
    /// Encodes.
    pub fn encode(&self) -> Vec<u8> {
        let mut l = Lines::default();
        l.put_bytes("worker", self.worker.as_bytes())
            .put_bytes("dest", self.dest.as_bytes())
            .put_bytes("error", self.error.as_bytes());
        if let Some(code) = self.code {
            l.put("code", code);
        }
        for p in &self.paths {
            l.put_bytes("path", p);
        }
        l.into_bytes()
    }
    /// Decodes.
    pub fn decode(data: &[u8]) -> Result<FailedRecord, RecordError> {
        let f = Fields::parse("failed", data)?;
        Ok(FailedRecord {
            worker: String::from_utf8_lossy(&f.bytes("worker")?).into_owned(),
            dest: String::from_utf8_lossy(&f.bytes("dest")?).into_owned(),
            error: String::from_utf8_lossy(&f.bytes("error")?).into_owned(),
            code: if f.all("code").is_empty() {
                None
            } else {
                Some(f.num("code")?)
            },
            paths: f.all_bytes("path")?,
        })
    }
}

/// The outcome of a session (`summary`), written by the master before it deletes any
/// result, so that a master that takes over a half-cleaned session still reports it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SummaryRecord {
    /// Chunks in the plan.
    pub chunks: u64,
    /// Units in the plan.
    pub units: u64,
    /// Chunks done.
    pub done: u64,
    /// Stats of the chunks done.
    pub stats: RsyncStats,
    /// Chunks failed for good, with their error.
    pub failed: Vec<(String, String)>,
}

impl SummaryRecord {
    /// Encodes.
    pub fn encode(&self) -> Vec<u8> {
        let mut l = Lines::default();
        self.put(&mut l);
        l.into_bytes()
    }
    pub(crate) fn put(&self, l: &mut Lines) {
        l.put("chunks", self.chunks)
            .put("units", self.units)
            .put("done", self.done);
        put_stats(l, &self.stats);
        for (chunk, error) in &self.failed {
            l.put_bytes("failed", format!("{chunk} {error}").as_bytes());
        }
    }
    /// The summary of a session whose run `self` was retried (`--retry-failed`) by `retry`:
    /// the chunks and units of the whole session, the chunks done by either, the failures
    /// of the retry.
    pub fn then(&self, retry: SummaryRecord) -> SummaryRecord {
        SummaryRecord {
            chunks: self.chunks,
            units: self.units,
            done: self.done + retry.done,
            stats: self.stats + retry.stats,
            failed: retry.failed,
        }
    }
    /// Decodes.
    pub fn decode(data: &[u8]) -> Result<SummaryRecord, RecordError> {
        SummaryRecord::from_fields(&Fields::parse("summary", data)?)
    }
    pub(crate) fn from_fields(f: &Fields) -> Result<SummaryRecord, RecordError> {
        let failed = f
            .all_bytes("failed")?
            .into_iter()
            .map(|b| {
                let text = String::from_utf8_lossy(&b).into_owned();
                match text.split_once(' ') {
                    Some((chunk, error)) => (chunk.to_owned(), error.to_owned()),
                    None => (text, String::new()),
                }
            })
            .collect();
        Ok(SummaryRecord {
            chunks: f.num("chunks")?,
            units: f.num("units")?,
            done: f.num("done")?,
            stats: get_stats(f)?,
            failed,
        })
    }
}

/// The stop signal (`stop`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopRecord {
    /// Every chunk is done or failed.
    Done,
    /// `zkrsync abort`.
    Abort,
}

impl StopRecord {
    /// Encodes.
    pub fn encode(self) -> Vec<u8> {
        match self {
            StopRecord::Done => b"done\n".to_vec(),
            StopRecord::Abort => b"abort\n".to_vec(),
        }
    }
    /// Decodes; anything unknown counts as an abort.
    pub fn decode(data: &[u8]) -> StopRecord {
        if data.trim_ascii() == b"done" {
            StopRecord::Done
        } else {
            StopRecord::Abort
        }
    }
}

#[cfg(test)]
mod tests;
