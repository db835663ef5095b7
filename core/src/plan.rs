//! The plan: units packed into chunks, the unit of claiming, each small enough for one
//! znode, in a compact, versioned binary encoding.
//!
//! Encoding, version 1 (all integers unsigned LEB128 varints unless said otherwise):
//!
//! ```text
//! chunk := "ZKC" version:u8(=1) count unit{count}
//! unit  := flags:u8 weight path_len path_bytes [excluded_count (name_len name_bytes){excluded_count}]
//! flags := bit 0 recursive | bit 1 listing failed | bit 2 has excluded names
//!        | bit 3 has mount points | bit 4 a bucket (index of, two varints, follow the
//!          mount points) | bit 5 the deletions of a directory cut into buckets
//! ```
//!
//! Paths are relative to the root of the walk, so a plan does not depend on where a host
//! mounts the tree. Decoding checks every path again: a chunk can never name anything
//! outside the root.

use crate::unit::{Part, RelPath, RelPathError, Unit};

/// The encoding version written by this build.
pub const FORMAT_VERSION: u8 = 1;
const MAGIC: &[u8; 3] = b"ZKC";

/// Largest encoded chunk: one znode, well below ZooKeeper's ~1 MB limit.
pub const MAX_CHUNK_BYTES: usize = 512 * 1024;
/// Default largest number of units in one chunk (one rsync `--files-from` list).
pub const DEFAULT_MAX_CHUNK_UNITS: usize = 2048;

const FLAG_RECURSIVE: u8 = 1;
const FLAG_LISTING_FAILED: u8 = 2;
const FLAG_EXCLUDED: u8 = 4;
const FLAG_MOUNTS: u8 = 8;
const FLAG_BUCKET: u8 = 16;
const FLAG_DELETES: u8 = 32;
const KNOWN_FLAGS: u8 =
    FLAG_RECURSIVE | FLAG_LISTING_FAILED | FLAG_EXCLUDED | FLAG_MOUNTS | FLAG_BUCKET | FLAG_DELETES;

/// Most buckets a directory is cut into.
pub const MAX_BUCKETS: u32 = 1024;

/// Units claimed and copied together.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Chunk {
    /// The units, in walk order.
    pub units: Vec<Unit>,
}

/// Why bytes are not a valid chunk.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// The bytes do not start with the chunk magic.
    #[error("not a zkrsync chunk (bad magic): the znode was not written by zkrsync")]
    BadMagic,
    /// Written by a newer zkrsync.
    #[error("chunk format version {0} is not supported by this zkrsync (version {FORMAT_VERSION}): use the same zkrsync version on every host")]
    UnsupportedVersion(u8),
    /// The bytes end in the middle of a field.
    #[error("chunk is truncated: the znode is damaged")]
    Truncated,
    /// A varint is longer than 64 bits.
    #[error("chunk has an overlong number: the znode is damaged")]
    Overflow,
    /// Flags this version does not know.
    #[error("chunk has unknown unit flags {0:#04x}: use the same zkrsync version on every host")]
    UnknownFlags(u8),
    /// A path that could escape the root.
    #[error("chunk has an invalid path: {0}")]
    BadPath(RelPathError),
    /// An excluded name that is not a single file name.
    #[error("chunk has an invalid excluded name {0:?}: the znode is damaged")]
    BadName(String),
    /// A bucket that is not one of its directory's.
    #[error("chunk has bucket {0} of {1}: the znode is damaged")]
    BadBucket(u64, u64),
    /// Bytes after the last unit.
    #[error("chunk has {0} bytes after its last unit: the znode is damaged")]
    TrailingBytes(usize),
}

impl Chunk {
    /// The sum of the weights of the units.
    pub fn weight(&self) -> u64 {
        self.units
            .iter()
            .map(|u| u.weight)
            .fold(0, u64::saturating_add)
    }

    /// The binary encoding.
    pub fn encode(&self) -> Vec<u8> {
        let len = HEADER_MAX + self.units.iter().map(encoded_unit_len).sum::<usize>();
        let mut out = Vec::with_capacity(len);
        out.extend_from_slice(MAGIC);
        out.push(FORMAT_VERSION);
        put_varint(&mut out, self.units.len() as u64);
        for unit in &self.units {
            encode_unit(&mut out, unit);
        }
        out
    }

    /// Decodes and checks a chunk.
    pub fn decode(bytes: &[u8]) -> Result<Chunk, DecodeError> {
        let rest = bytes.strip_prefix(MAGIC).ok_or(DecodeError::BadMagic)?;
        let (&version, rest) = rest.split_first().ok_or(DecodeError::Truncated)?;
        if version != FORMAT_VERSION {
            return Err(DecodeError::UnsupportedVersion(version));
        }
        let mut reader = Reader(rest);
        let count = reader.varint()?;
        // Every unit takes at least three bytes: never trust a count to size an allocation.
        let mut units = Vec::with_capacity((count as usize).min(reader.0.len() / 3));
        for _ in 0..count {
            units.push(reader.unit()?);
        }
        match reader.0.len() {
            0 => Ok(Chunk { units }),
            n => Err(DecodeError::TrailingBytes(n)),
        }
    }
}

const HEADER_MAX: usize = MAGIC.len() + 1 + 10;

/// The number of bytes `unit` takes in a chunk.
pub fn encoded_unit_len(unit: &Unit) -> usize {
    let bytes = |b: &[u8]| varint_len(b.len() as u64) + b.len();
    let mut len = 1 + varint_len(unit.weight) + bytes(unit.path.as_bytes());
    if !unit.excluded.is_empty() {
        len += varint_len(unit.excluded.len() as u64);
        len += unit.excluded.iter().map(|n| bytes(n)).sum::<usize>();
    }
    if !unit.mounts.is_empty() {
        len += varint_len(unit.mounts.len() as u64);
        len += unit
            .mounts
            .iter()
            .map(|m| bytes(m.as_bytes()))
            .sum::<usize>();
    }
    if let Part::Bucket { index, of } = unit.part {
        len += varint_len(index.into()) + varint_len(of.into());
    }
    len
}

fn encode_unit(out: &mut Vec<u8>, unit: &Unit) {
    let mut flags = 0;
    if unit.recursive {
        flags |= FLAG_RECURSIVE;
    }
    if unit.listing_failed {
        flags |= FLAG_LISTING_FAILED;
    }
    if !unit.excluded.is_empty() {
        flags |= FLAG_EXCLUDED;
    }
    if !unit.mounts.is_empty() {
        flags |= FLAG_MOUNTS;
    }
    match unit.part {
        Part::Whole => {}
        Part::Bucket { .. } => flags |= FLAG_BUCKET,
        Part::Deletes => flags |= FLAG_DELETES,
    }
    out.push(flags);
    put_varint(out, unit.weight);
    put_bytes(out, unit.path.as_bytes());
    if !unit.excluded.is_empty() {
        put_varint(out, unit.excluded.len() as u64);
        for name in &unit.excluded {
            put_bytes(out, name);
        }
    }
    if !unit.mounts.is_empty() {
        put_varint(out, unit.mounts.len() as u64);
        for mount in &unit.mounts {
            put_bytes(out, mount.as_bytes());
        }
    }
    if let Part::Bucket { index, of } = unit.part {
        put_varint(out, index.into());
        put_varint(out, of.into());
    }
}

fn put_bytes(out: &mut Vec<u8>, bytes: &[u8]) {
    put_varint(out, bytes.len() as u64);
    out.extend_from_slice(bytes);
}

fn put_varint(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push((value as u8) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

fn varint_len(value: u64) -> usize {
    (64 - (value | 1).leading_zeros() as usize).div_ceil(7)
}

struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn byte(&mut self) -> Result<u8, DecodeError> {
        let (&b, rest) = self.0.split_first().ok_or(DecodeError::Truncated)?;
        self.0 = rest;
        Ok(b)
    }

    fn varint(&mut self) -> Result<u64, DecodeError> {
        let mut value = 0u64;
        for shift in (0..64).step_by(7) {
            let b = self.byte()?;
            let bits = u64::from(b & 0x7f);
            if shift == 63 && bits > 1 {
                return Err(DecodeError::Overflow);
            }
            value |= bits << shift;
            if b & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err(DecodeError::Overflow)
    }

    fn bytes(&mut self) -> Result<&'a [u8], DecodeError> {
        let len = self.varint()?;
        if len > self.0.len() as u64 {
            return Err(DecodeError::Truncated);
        }
        let (bytes, rest) = self.0.split_at(len as usize);
        self.0 = rest;
        Ok(bytes)
    }

    fn unit(&mut self) -> Result<Unit, DecodeError> {
        let flags = self.byte()?;
        if flags & !KNOWN_FLAGS != 0 {
            return Err(DecodeError::UnknownFlags(flags));
        }
        let weight = self.varint()?;
        let path = RelPath::from_bytes(self.bytes()?).map_err(DecodeError::BadPath)?;
        let mut excluded = Vec::new();
        if flags & FLAG_EXCLUDED != 0 {
            let count = self.varint()?;
            for _ in 0..count {
                let name = self.bytes()?;
                if name.is_empty()
                    || name == b"."
                    || name == b".."
                    || name.contains(&b'/')
                    || name.contains(&0)
                {
                    return Err(DecodeError::BadName(
                        String::from_utf8_lossy(name).into_owned(),
                    ));
                }
                excluded.push(name.to_vec());
            }
        }
        let mut mounts = Vec::new();
        if flags & FLAG_MOUNTS != 0 {
            let count = self.varint()?;
            for _ in 0..count {
                mounts.push(RelPath::from_bytes(self.bytes()?).map_err(DecodeError::BadPath)?);
            }
        }
        let part = match (flags & FLAG_BUCKET != 0, flags & FLAG_DELETES != 0) {
            (false, false) => Part::Whole,
            (false, true) => Part::Deletes,
            (true, false) => {
                let index = self.varint()?;
                let of = self.varint()?;
                if of == 0 || of > u64::from(MAX_BUCKETS) || index >= of {
                    return Err(DecodeError::BadBucket(index, of));
                }
                Part::Bucket {
                    index: index as u32,
                    of: of as u32,
                }
            }
            (true, true) => return Err(DecodeError::UnknownFlags(flags)),
        };
        let recursive = flags & FLAG_RECURSIVE != 0;
        if recursive && part != Part::Whole {
            return Err(DecodeError::UnknownFlags(flags));
        }
        Ok(Unit {
            path,
            recursive,
            listing_failed: flags & FLAG_LISTING_FAILED != 0,
            weight,
            excluded,
            mounts,
            part,
        })
    }
}

/// When a chunk is full.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PackLimits {
    /// Largest encoded size of a chunk (a unit that alone is larger gets a chunk of its own).
    pub max_bytes: usize,
    /// Largest number of units in a chunk.
    pub max_units: usize,
    /// A chunk is closed before it would pass this weight.
    pub target_weight: u64,
    /// A directory with more own entries than this is cut into buckets of about
    /// `target_weight` entries ([`split`]).
    pub split_above: u64,
}

/// The fewest entries of a directory that is cut into buckets: below it, the rsync starts
/// and daemon connections of more units cost more than one rsync of the whole directory.
pub const MIN_SPLIT_ENTRIES: u64 = 1024;

impl PackLimits {
    /// Limits that cut `total_weight` into about `chunks` chunks of similar weight, never
    /// lighter than `min_weight` (so a small tree does not turn into many tiny rsyncs).
    pub fn balanced(total_weight: u64, chunks: u64, min_weight: u64) -> PackLimits {
        let target_weight = total_weight.div_ceil(chunks.max(1)).max(min_weight).max(1);
        PackLimits {
            max_bytes: MAX_CHUNK_BYTES,
            max_units: DEFAULT_MAX_CHUNK_UNITS,
            target_weight,
            split_above: target_weight.max(MIN_SPLIT_ENTRIES),
        }
    }
}

/// Which rsync invocation a unit needs: `-r` or `-d`, whether `--delete` may apply, a
/// bucket of a directory or its deletions. A chunk holds units of one kind only, so a worker
/// runs one rsync per chunk.
fn kind(unit: &Unit) -> usize {
    match unit.part {
        Part::Whole => usize::from(unit.recursive) * 2 + usize::from(unit.listing_failed),
        Part::Bucket { .. } => 4,
        Part::Deletes => 5,
    }
}

/// `unit` as the units that copy it: itself, or, for a directory with more own entries
/// than `limits.split_above`, buckets of about `limits.target_weight` entries (a chunk's
/// share) and one unit for its deletions ([`Part`]). A directory whose listing failed is
/// never cut: it is recursive.
pub fn split(unit: Unit, limits: &PackLimits) -> Vec<Unit> {
    let entries = unit.weight.saturating_sub(1);
    let target = limits.target_weight.max(1);
    if unit.recursive || unit.part != Part::Whole || entries <= limits.split_above.max(target) {
        return vec![unit];
    }
    let of = entries.div_ceil(target.max(1)).min(u64::from(MAX_BUCKETS)) as u32;
    let mut parts: Vec<Unit> = (0..of)
        .map(|index| Unit {
            weight: 1 + entries / u64::from(of),
            part: Part::Bucket { index, of },
            ..unit.clone()
        })
        .collect();
    parts.push(Unit {
        part: Part::Deletes,
        ..unit
    });
    parts
}

/// A chunk being filled.
#[derive(Debug)]
struct Open {
    chunk: Chunk,
    bytes: usize,
    weight: u64,
}

impl Default for Open {
    fn default() -> Open {
        Open {
            chunk: Chunk::default(),
            bytes: HEADER_MAX,
            weight: 0,
        }
    }
}

/// Packs units into chunks, streaming: one open chunk per kind of unit (recursive or not,
/// listing failed or not), so every chunk is one rsync invocation. Within a kind, units keep
/// their order.
#[derive(Debug)]
pub struct Packer {
    limits: PackLimits,
    open: [Open; 6],
}

impl Packer {
    /// A packer with no open chunk.
    pub fn new(limits: PackLimits) -> Packer {
        Packer {
            limits,
            open: Default::default(),
        }
    }

    /// Adds a unit, cut into parts when it is too heavy for one chunk ([`split`]); returns
    /// the chunks it closed because they were full.
    pub fn push(&mut self, unit: Unit) -> Vec<Chunk> {
        split(unit, &self.limits)
            .into_iter()
            .filter_map(|part| self.push_one(part))
            .collect()
    }

    /// Adds one unit; returns the chunk of its kind that it closed because it did not fit.
    fn push_one(&mut self, unit: Unit) -> Option<Chunk> {
        let len = encoded_unit_len(&unit);
        let limits = self.limits;
        let open = &mut self.open[kind(&unit)];
        let full = !open.chunk.units.is_empty()
            && (open.chunk.units.len() >= limits.max_units
                || open.bytes + len > limits.max_bytes
                || open.weight.saturating_add(unit.weight) > limits.target_weight);
        let closed = if full { Self::take(open) } else { None };
        open.bytes += len;
        open.weight = open.weight.saturating_add(unit.weight);
        open.chunk.units.push(unit);
        closed
    }

    /// Closes the open chunks.
    pub fn finish(mut self) -> Vec<Chunk> {
        self.open.iter_mut().filter_map(Self::take).collect()
    }

    fn take(open: &mut Open) -> Option<Chunk> {
        let chunk = std::mem::take(open).chunk;
        (!chunk.units.is_empty()).then_some(chunk)
    }
}

/// Packs all `units`, in order, into chunks.
pub fn pack(units: impl IntoIterator<Item = Unit>, limits: PackLimits) -> Vec<Chunk> {
    let mut packer = Packer::new(limits);
    let mut chunks: Vec<Chunk> = units.into_iter().flat_map(|u| packer.push(u)).collect();
    chunks.extend(packer.finish());
    chunks
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn unit(path: &[u8], recursive: bool, weight: u64) -> Unit {
        Unit {
            path: RelPath::from_bytes(path).unwrap(),
            recursive,
            listing_failed: false,
            weight,
            excluded: vec![],
            mounts: vec![],
            part: Default::default(),
        }
    }

    #[test]
    fn golden_encoding() {
        let mut odd = unit(b"a/-x\n\xff", false, 300);
        odd.excluded = vec![b".snapshots".to_vec()];
        odd.listing_failed = true;
        let chunk = Chunk {
            units: vec![unit(b"", false, 3), odd],
        };
        let bytes = chunk.encode();
        let mut expected = b"ZKC\x01\x02".to_vec();
        expected.extend_from_slice(b"\x00\x03\x00");
        expected.extend_from_slice(b"\x06\xac\x02\x06a/-x\n\xff\x01\x0a.snapshots");
        assert_eq!(bytes, expected);
        assert_eq!(Chunk::decode(&bytes).unwrap(), chunk);
    }

    #[test]
    fn decode_rejects_damage() {
        let good = Chunk {
            units: vec![unit(b"a/b", true, 64)],
        }
        .encode();
        assert_eq!(Chunk::decode(b"XYZ\x01\x00"), Err(DecodeError::BadMagic));
        assert_eq!(
            Chunk::decode(b"ZKC\x02\x00"),
            Err(DecodeError::UnsupportedVersion(2))
        );
        assert_eq!(
            Chunk::decode(&good[..good.len() - 1]),
            Err(DecodeError::Truncated)
        );
        let mut trailing = good.clone();
        trailing.push(0);
        assert_eq!(Chunk::decode(&trailing), Err(DecodeError::TrailingBytes(1)));
        let escape = b"ZKC\x01\x01\x00\x01\x05a/../".to_vec();
        assert!(matches!(
            Chunk::decode(&escape),
            Err(DecodeError::BadPath(_))
        ));
        let absolute = b"ZKC\x01\x01\x00\x01\x04/etc".to_vec();
        assert!(matches!(
            Chunk::decode(&absolute),
            Err(DecodeError::BadPath(_))
        ));
        let flags = b"ZKC\x01\x01\x80\x01\x00".to_vec();
        assert_eq!(Chunk::decode(&flags), Err(DecodeError::UnknownFlags(0x80)));
        let huge_count = b"ZKC\x01\xff\xff\xff\xff\x0f".to_vec();
        assert_eq!(Chunk::decode(&huge_count), Err(DecodeError::Truncated));
        let bad_name = b"ZKC\x01\x01\x04\x01\x00\x01\x03a/b".to_vec();
        assert!(matches!(
            Chunk::decode(&bad_name),
            Err(DecodeError::BadName(_))
        ));
    }

    #[test]
    fn packing_respects_weight_units_and_bytes() {
        let units: Vec<Unit> = (0..10)
            .map(|i| unit(format!("d{i}").as_bytes(), false, 10))
            .collect();
        let limits = PackLimits {
            max_bytes: MAX_CHUNK_BYTES,
            max_units: 100,
            target_weight: 30,
            split_above: u64::MAX,
        };
        let chunks = pack(units.clone(), limits);
        assert_eq!(
            chunks.iter().map(|c| c.units.len()).collect::<Vec<_>>(),
            vec![3, 3, 3, 1]
        );
        let limits = PackLimits {
            max_units: 4,
            target_weight: u64::MAX,
            ..limits
        };
        assert_eq!(pack(units.clone(), limits).len(), 3);
        // Each unit is 5 bytes; a header is at most 14.
        let limits = PackLimits {
            max_bytes: HEADER_MAX + 10,
            max_units: 100,
            target_weight: u64::MAX,
            split_above: u64::MAX,
        };
        assert_eq!(pack(units, limits).len(), 5);
        // A unit heavier than the target still gets a chunk, alone.
        let heavy = vec![unit(b"a", true, 1000), unit(b"b", false, 1)];
        let limits = PackLimits {
            max_bytes: MAX_CHUNK_BYTES,
            max_units: 100,
            target_weight: 10,
            split_above: u64::MAX,
        };
        assert_eq!(pack(heavy, limits).len(), 2);
    }

    #[test]
    fn balanced_limits() {
        assert_eq!(PackLimits::balanced(1000, 10, 1).target_weight, 100);
        assert_eq!(PackLimits::balanced(1000, 10, 500).target_weight, 500);
        assert_eq!(PackLimits::balanced(0, 0, 0).target_weight, 1);
    }

    fn arb_unit() -> impl Strategy<Value = Unit> {
        let component = proptest::collection::vec(any::<u8>(), 1..12)
            .prop_filter("valid name", |c| {
                !c.contains(&b'/') && !c.contains(&0) && c != b"." && c != b".."
            });
        (
            proptest::collection::vec(component.clone(), 0..5),
            any::<bool>(),
            any::<bool>(),
            any::<u64>(),
            proptest::collection::vec(component.clone(), 0..3),
            proptest::collection::vec(proptest::collection::vec(component, 0..3), 0..2),
        )
            .prop_map(
                |(parts, recursive, listing_failed, weight, excluded, mounts)| Unit {
                    path: RelPath::from_bytes(&parts.join(&b'/')).unwrap(),
                    recursive,
                    listing_failed,
                    weight,
                    excluded,
                    mounts: mounts
                        .iter()
                        .map(|m| RelPath::from_bytes(&m.join(&b'/')).unwrap())
                        .collect(),
                    part: match (recursive, weight % 5) {
                        (false, 0) => Part::Deletes,
                        (false, 1 | 2) => Part::Bucket {
                            index: (weight % 7) as u32,
                            of: 7 + (weight % 9) as u32,
                        },
                        _ => Part::Whole,
                    },
                },
            )
    }

    proptest! {
        #[test]
        fn round_trip(units in proptest::collection::vec(arb_unit(), 0..50)) {
            let chunk = Chunk { units };
            let bytes = chunk.encode();
            prop_assert_eq!(bytes.len(), MAGIC.len() + 1 + varint_len(chunk.units.len() as u64)
                + chunk.units.iter().map(encoded_unit_len).sum::<usize>());
            prop_assert_eq!(Chunk::decode(&bytes).unwrap(), chunk);
        }

        #[test]
        fn packing_keeps_order_and_limits(
            units in proptest::collection::vec(arb_unit(), 0..200),
            max_units in 1usize..20,
            target_weight in 1u64..u64::MAX,
            split_above in prop_oneof![Just(u64::MAX), 0u64..1000],
        ) {
            let limits = PackLimits { max_bytes: 600, max_units, target_weight, split_above };
            let chunks = pack(units.clone(), limits);
            let units: Vec<Unit> = units.into_iter().flat_map(|u| split(u, &limits)).collect();
            for chunk in &chunks {
                prop_assert!(!chunk.units.is_empty());
                prop_assert!(chunk.units.len() <= max_units);
                if chunk.units.len() > 1 {
                    prop_assert!(chunk.encode().len() <= 600);
                    prop_assert!(chunk.weight() <= target_weight);
                }
            }
            for chunk in &chunks {
                let k = kind(&chunk.units[0]);
                prop_assert!(chunk.units.iter().all(|u| kind(u) == k));
            }
            // Within a kind, the order of the units is kept.
            for k in 0..6 {
                let flat: Vec<&Unit> = chunks.iter().flat_map(|c| &c.units).filter(|u| kind(u) == k).collect();
                let expected: Vec<&Unit> = units.iter().filter(|u| kind(u) == k).collect();
                prop_assert_eq!(flat, expected);
            }
        }

        #[test]
        fn a_directory_cut_into_buckets_copies_every_name_once_and_deletes_once(
            entries in 0u64..200_000,
            target in 1u64..50_000,
            names in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 1..20), 0..200),
        ) {
            let dir = Unit { weight: 1 + entries, ..unit(b"flat", false, 0) };
            let limits = PackLimits { target_weight: target, ..PackLimits::balanced(0, 1, 1) };
            let parts = split(dir.clone(), &limits);
            if entries <= limits.split_above.max(target) {
                prop_assert_eq!(parts, vec![dir]);
                return Ok(());
            }
            let deletes = parts.iter().filter(|u| u.part == Part::Deletes).count();
            prop_assert_eq!(deletes, 1);
            for u in &parts {
                prop_assert_eq!((&u.path, u.recursive, &u.excluded), (&dir.path, false, &dir.excluded));
                if let Part::Bucket { .. } = u.part {
                    prop_assert!(u.weight <= 1 + target.max(entries.div_ceil(u64::from(MAX_BUCKETS))));
                }
            }
            for name in &names {
                let holders = parts.iter().filter(|u| u.part.holds(name)).count();
                prop_assert_eq!(holders, 1, "{:?}", name);
            }
        }

        #[test]
        fn decode_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            let mut framed = b"ZKC\x01".to_vec();
            framed.extend(bytes);
            let _ = Chunk::decode(&framed);
        }
    }
}
