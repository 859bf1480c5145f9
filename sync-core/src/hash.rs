//! The one hash function of the project: unkeyed BLAKE2b with a 32-byte digest (§2.3).

use blake2::digest::consts::U32;
use blake2::{Blake2b, Digest};
use std::fmt;

/// A BLAKE2b-256 digest: node hashes, state roots, diff roots, block hashes.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Hash(pub [u8; 32]);

impl Hash {
    pub const ZERO: Hash = Hash([0; 32]);

    /// The first eight bytes as a number: a compact, stable label for traces and logs.
    pub fn short(&self) -> u64 {
        let mut first = [0u8; 8];
        first.copy_from_slice(&self.0[..8]);
        u64::from_be_bytes(first)
    }

    pub fn to_hex(&self) -> String {
        self.0.iter().map(|byte| format!("{byte:02x}")).collect()
    }
}

impl fmt::Debug for Hash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{:016x}", self.short())
    }
}

impl fmt::Display for Hash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

/// BLAKE2b-256 of `bytes`.
pub fn blake2b_256(bytes: &[u8]) -> Hash {
    Hash(Blake2b::<U32>::digest(bytes).into())
}

/// BLAKE2b-256 over several parts, as if they were concatenated.
pub fn blake2b_256_parts(parts: &[&[u8]]) -> Hash {
    let mut hasher = Blake2b::<U32>::new();
    for part in parts {
        hasher.update(part);
    }
    Hash(hasher.finalize().into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_hash_like_their_concatenation() {
        assert_eq!(blake2b_256_parts(&[b"ab", b"", b"c"]), blake2b_256(b"abc"));
        assert_ne!(blake2b_256(b"abc"), blake2b_256(b"abd"));
    }
}
