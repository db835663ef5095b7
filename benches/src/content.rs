//! Deterministic file contents for the generated benchmark trees: a small pseudo-random
//! generator and files of its bytes.

use std::fs;
use std::io::{self, Write};
use std::path::Path;

/// xorshift64*: small, fast, deterministic.
pub struct Rng(u64);

impl Rng {
    /// A generator for `seed` (any value; 0 is fine).
    pub fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1)
    }

    /// The next 64 pseudo-random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// A number below `n` (below 1 when `n` is 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }
}

/// Creates (or truncates) the file at `path` with `size` bytes drawn from `rng`.
pub fn write_file(path: &Path, size: u64, rng: &mut Rng) -> io::Result<()> {
    let mut f = fs::File::create(path)?;
    let mut buf = vec![0u8; 64 * 1024];
    let mut left = size as usize;
    while left > 0 {
        let n = left.min(buf.len());
        for chunk in buf[..n].chunks_mut(8) {
            let v = rng.next_u64().to_le_bytes();
            chunk.copy_from_slice(&v[..chunk.len()]);
        }
        f.write_all(&buf[..n])?;
        left -= n;
    }
    Ok(())
}
