//! The one hash function of the project: unkeyed BLAKE2b with a 32-byte digest (§2.3).

use blake2::digest::consts::U32;
use blake2::{Blake2b, Digest};
use std::fmt;

/// A BLAKE2b-256 digest: node hashes, state roots, diff roots, block hashes. Ordered as byte strings.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Hash(pub [u8; 32]);

impl Hash {
    /// The digest as four big-endian words: comparing them in order is comparing the bytes in order.
    fn words(&self) -> [u64; 4] {
        std::array::from_fn(|index| {
            let mut word = [0u8; 8];
            word.copy_from_slice(&self.0[8 * index..8 * index + 8]);
            u64::from_be_bytes(word)
        })
    }

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

/// Byte-string order, compared a word at a time: hashes key the engine's and the simulator's ordered maps, and a
/// call to `memcmp` per comparison cost a tenth of `explore`'s time.
impl Ord for Hash {
    fn cmp(&self, other: &Hash) -> std::cmp::Ordering {
        self.words().cmp(&other.words())
    }
}

impl PartialOrd for Hash {
    fn partial_cmp(&self, other: &Hash) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
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

/// BLAKE2b-256 of an empty list's encoding, a zero `u32` count: the body root of an empty body and the diff root
/// of an empty diff. Flooded blocks carry both, so they are not hashed again for each (a test pins the value).
pub const EMPTY_LIST_ROOT: Hash = Hash([
    0x11, 0xda, 0x6d, 0x1f, 0x76, 0x1d, 0xdf, 0x9b, 0xdb, 0x4c, 0x9d, 0x6e, 0x53, 0x03, 0xeb, 0xd4, 0x1f, 0x61, 0x85,
    0x8d, 0x0a, 0x56, 0x47, 0xa1, 0xa7, 0xbf, 0xe0, 0x89, 0xbf, 0x92, 0x1b, 0xe9,
]);

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
    fn the_empty_list_root_is_the_hash_of_a_zero_count() {
        assert_eq!(EMPTY_LIST_ROOT, blake2b_256(&0u32.to_le_bytes()));
    }

    #[test]
    fn parts_hash_like_their_concatenation() {
        assert_eq!(blake2b_256_parts(&[b"ab", b"", b"c"]), blake2b_256(b"abc"));
        assert_ne!(blake2b_256(b"abc"), blake2b_256(b"abd"));
    }

    /// The word-wise order is the byte-string order, whichever byte differs first.
    #[test]
    fn hashes_order_as_byte_strings() {
        for first in 0..32 {
            for (low, high) in [(0u8, 1u8), (0x7f, 0x80), (0xfe, 0xff)] {
                let mut a = [0x55u8; 32];
                let mut b = a;
                a[first] = low;
                b[first] = high;
                if first < 31 {
                    a[first + 1] = 0xff; // a later byte never outweighs the first difference
                }
                assert!(Hash(a) < Hash(b) && Hash(b) > Hash(a), "byte {first}");
                assert_eq!(Hash(a).cmp(&Hash(a)), std::cmp::Ordering::Equal);
                assert_eq!(Hash(a).cmp(&Hash(b)), a.cmp(&b));
            }
        }
    }
}
