//! Keys: strings of nibbles in depth-first pre-order (§2.1).

use crate::codec::{DecodeError, Reader, Writer};
use smallvec::SmallVec;
use std::fmt;

/// The longest key, in nibbles (§2.1: ours is a named constant of at least 64).
pub const KEY_MAX: usize = 64;

/// Nibbles stored inline before a key spills to the heap; simulated account keys have 40.
const KEY_INLINE: usize = 40;

/// A string of nibbles (each 0..=15), at most [`KEY_MAX`] long.
///
/// The derived order is the protocol's (§2.1): nibble by nibble, and a key that runs out first is smaller, so a
/// proper prefix sorts before all its extensions (`3 < 4 < 40 < 400 < 41 < 5`).
#[derive(PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Key(SmallVec<[u8; KEY_INLINE]>);

/// By copying the nibbles at once: the derived clone went through `SmallVec`'s element-by-element `extend`, 3 %
/// of explore's instructions (keys are cloned wherever chunks, proofs and the checks walk the trie).
impl Clone for Key {
    fn clone(&self) -> Key {
        Key(SmallVec::from_slice(&self.0))
    }
}

/// Why a nibble string is not a key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyError {
    TooLong { nibbles: usize },
    NotANibble { byte: u8 },
    NotHex { character: char },
}

impl Key {
    /// ε, the empty key: the root's key and the smallest key.
    pub const EMPTY: Key = Key(SmallVec::new_const());

    /// A key from nibbles, each checked to be below 16 and the length to be at most `KEY_MAX`.
    pub fn from_nibbles(nibbles: &[u8]) -> Result<Key, KeyError> {
        if nibbles.len() > KEY_MAX {
            return Err(KeyError::TooLong { nibbles: nibbles.len() });
        }
        if let Some(&byte) = nibbles.iter().find(|&&nibble| nibble > 15) {
            return Err(KeyError::NotANibble { byte });
        }
        Ok(Key(SmallVec::from_slice(nibbles)))
    }

    /// A key from nibbles the caller has already checked (slices of other keys).
    pub(crate) fn from_checked(nibbles: &[u8]) -> Key {
        debug_assert!(nibbles.len() <= KEY_MAX && nibbles.iter().all(|&n| n < 16));
        Key(SmallVec::from_slice(nibbles))
    }

    /// A key from a hex string, one nibble per character (`"4a3"`); the empty string is ε.
    pub fn from_hex(hex: &str) -> Result<Key, KeyError> {
        let mut nibbles = SmallVec::<[u8; KEY_INLINE]>::new();
        for character in hex.chars() {
            let nibble = character.to_digit(16).ok_or(KeyError::NotHex { character })?;
            nibbles.push(nibble as u8);
        }
        Key::from_nibbles(&nibbles)
    }

    /// The key of the bytes `bytes`, two nibbles per byte, high half first.
    pub fn from_bytes(bytes: &[u8]) -> Result<Key, KeyError> {
        if bytes.len() * 2 > KEY_MAX {
            return Err(KeyError::TooLong { nibbles: bytes.len() * 2 });
        }
        Ok(Key(bytes.iter().flat_map(|&byte| [byte >> 4, byte & 0x0f]).collect()))
    }

    pub fn nibbles(&self) -> &[u8] {
        &self.0
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn starts_with(&self, prefix: &Key) -> bool {
        self.0.starts_with(&prefix.0)
    }

    /// `self` is a prefix of `other` and shorter than it.
    pub fn is_proper_prefix_of(&self, other: &Key) -> bool {
        self.len() < other.len() && other.0.starts_with(&self.0)
    }

    /// The first `nibbles` nibbles (the whole key if it is shorter).
    pub fn prefix(&self, nibbles: usize) -> Key {
        Key(SmallVec::from_slice(&self.0[..nibbles.min(self.len())]))
    }

    /// The nibbles from position `from` on.
    pub fn suffix(&self, from: usize) -> Key {
        Key(SmallVec::from_slice(&self.0[from.min(self.len())..]))
    }

    /// `self ‖ tail`, or `None` when the result would exceed `KEY_MAX`.
    pub fn concat(&self, tail: &Key) -> Option<Key> {
        if self.len() + tail.len() > KEY_MAX {
            return None;
        }
        let mut joined = SmallVec::with_capacity(self.len() + tail.len());
        joined.extend_from_slice(&self.0);
        joined.extend_from_slice(&tail.0);
        Some(Key(joined))
    }

    /// How `self ‖ tail` compares with `other`, without building it (the order of `Key`: nibble by nibble, a
    /// proper prefix first).
    pub fn cmp_joined(&self, tail: &Key, other: &Key) -> std::cmp::Ordering {
        let (head, other) = (self.nibbles(), other.nibbles());
        let shared = head.len().min(other.len());
        match head[..shared].cmp(&other[..shared]) {
            std::cmp::Ordering::Equal if head.len() > other.len() => std::cmp::Ordering::Greater,
            std::cmp::Ordering::Equal => tail.nibbles().cmp(&other[head.len()..]),
            unequal => unequal,
        }
    }

    /// `succ(k)`: `k` followed by nibble 0, the smallest key strictly greater than `k` (None at `KEY_MAX`).
    pub fn successor(&self) -> Option<Key> {
        if self.len() >= KEY_MAX {
            return None;
        }
        let mut next = self.0.clone();
        next.push(0);
        Some(Key(next))
    }

    /// The length of the longest common prefix.
    pub fn common_prefix_len(&self, other: &Key) -> usize {
        common_prefix_len(&self.0, &other.0)
    }

    pub(crate) fn extend(&mut self, nibbles: &[u8]) {
        self.0.extend_from_slice(nibbles);
    }

    pub(crate) fn truncate(&mut self, nibbles: usize) {
        self.0.truncate(nibbles);
    }

    /// Key encoding (§2.1): the nibble count, then the nibbles two per byte, high half first, a
    /// zero pad nibble when the count is odd.
    pub fn encode(&self, writer: &mut Writer) {
        Key::encode_into(&self.0, writer.buffer());
    }

    /// The bytes `encode` writes, without a writer (hot path of node hashing).
    pub(crate) fn encode_into(nibbles: &[u8], out: &mut Vec<u8>) {
        out.push(nibbles.len() as u8);
        // One reservation for the whole key: `chunks` knows its length.
        out.extend(nibbles.chunks(2).map(|pair| pair[0] << 4 | pair.get(1).copied().unwrap_or(0)));
    }

    /// Decodes a key, rejecting counts above `KEY_MAX` and a nonzero pad nibble.
    pub fn decode(reader: &mut Reader<'_>) -> Result<Key, DecodeError> {
        let count = reader.u8()? as usize;
        if count > KEY_MAX {
            return Err(DecodeError::OverBound { what: "key nibbles", limit: KEY_MAX as u64, got: count as u64 });
        }
        let packed = reader.bytes(count.div_ceil(2))?;
        // Unpacked on the stack, copied once: pushing nibble by nibble cost 4 % of explore.
        let mut nibbles = [0u8; 2 * KEY_MAX.div_ceil(2)];
        for (index, &byte) in packed.iter().enumerate() {
            nibbles[2 * index] = byte >> 4;
            nibbles[2 * index + 1] = byte & 0x0f;
        }
        if count % 2 == 1 && nibbles[count] != 0 {
            return Err(DecodeError::Invalid("nonzero pad nibble in a key"));
        }
        Ok(Key(SmallVec::from_slice(&nibbles[..count])))
    }
}

pub(crate) fn common_prefix_len(a: &[u8], b: &[u8]) -> usize {
    a.iter().zip(b).take_while(|(x, y)| x == y).count()
}

impl fmt::Display for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_empty() {
            return f.write_str("ε");
        }
        for &nibble in self.0.iter() {
            write!(f, "{nibble:x}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Key({self})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(hex: &str) -> Key {
        Key::from_hex(hex).unwrap()
    }

    #[test]
    fn order_puts_prefixes_first() {
        let mut keys: Vec<Key> = ["5", "41", "400", "40", "4", "3", ""].iter().map(|hex| key(hex)).collect();
        keys.sort();
        let rendered: Vec<String> = keys.iter().map(Key::to_string).collect();
        assert_eq!(rendered, ["ε", "3", "4", "40", "400", "41", "5"]);
    }

    /// `cmp_joined` is the order of the joined key, for every split of short keys over a small alphabet (where
    /// prefixes and ties are common).
    #[test]
    fn cmp_joined_is_the_order_of_the_joined_key() {
        use proptest::prelude::*;
        let nibbles = || proptest::collection::vec(0u8..3, 0..5);
        proptest!(|(head in nibbles(), tail in nibbles(), other in nibbles())| {
            let (head, tail, other) =
                (Key::from_nibbles(&head).unwrap(), Key::from_nibbles(&tail).unwrap(), Key::from_nibbles(&other).unwrap());
            let joined = head.concat(&tail).unwrap();
            prop_assert_eq!(head.cmp_joined(&tail, &other), joined.cmp(&other), "{} ‖ {} against {}", head, tail, other);
        });
    }

    #[test]
    fn successor_is_the_smallest_greater_key() {
        assert_eq!(key("4a").successor(), Some(key("4a0")));
        assert!(key("4a") < key("4a0") && key("4a0") < key("4a00"));
        assert_eq!(Key::from_nibbles(&[1; KEY_MAX]).unwrap().successor(), None);
    }

    #[test]
    fn encoding_packs_high_half_first_and_pads_with_zero() {
        let mut writer = Writer::default();
        key("4a3").encode(&mut writer);
        assert_eq!(writer.into_bytes(), vec![3, 0x4a, 0x30]);
    }

    #[test]
    fn decoding_rejects_a_nonzero_pad_and_overlong_counts() {
        assert_eq!(Key::decode(&mut Reader::new(&[3, 0x4a, 0x30])), Ok(key("4a3")));
        assert_eq!(
            Key::decode(&mut Reader::new(&[3, 0x4a, 0x31])),
            Err(DecodeError::Invalid("nonzero pad nibble in a key"))
        );
        assert!(matches!(Key::decode(&mut Reader::new(&[65])), Err(DecodeError::OverBound { .. })));
        assert_eq!(Key::decode(&mut Reader::new(&[4, 0x4a])), Err(DecodeError::Truncated));
    }

    #[test]
    fn construction_checks_nibbles_and_length() {
        assert_eq!(Key::from_nibbles(&[16]), Err(KeyError::NotANibble { byte: 16 }));
        assert!(matches!(Key::from_nibbles(&[0; KEY_MAX + 1]), Err(KeyError::TooLong { .. })));
        assert_eq!(Key::from_bytes(&[0x4a, 0x30]).unwrap(), key("4a30"));
    }
}
