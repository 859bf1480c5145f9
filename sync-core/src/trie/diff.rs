//! Block diffs: the net key → new value changes of a block, their flat commitment, and their application to
//! a partial trie (§2.9, §3.2).

use super::edit;
use super::{Trie, DIFF_ENTRIES_MAX, VALUE_MAX};
use crate::codec::{DecodeError, Reader, Writer};
use crate::hash::{blake2b_256, Hash};
use crate::key::Key;

/// A block's net changes: key → `Some(new value)` or `None` (deleted), strictly increasing keys, only keys
/// whose value really changed (§3.2).
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct TrieDiff {
    entries: Vec<(Key, Option<Vec<u8>>)>,
}

/// Why a list of entries is not a diff.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DiffShapeError {
    Unsorted { index: usize },
    EmptyKey { index: usize },
    ValueTooLong { index: usize },
    TooManyEntries,
}

/// A diff the trie refused; the trie is unchanged.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DiffError {
    /// After the diff the root was computable and not the block's state root (§2.9): the block is invalid.
    RootMismatch { expected: Hash, actual: Hash },
}

/// A diff the trie took.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DiffApplied {
    /// The root is computable afterwards (and then equals the expected root).
    pub root_computable: bool,
    /// Entries in the missing range, applied as stump changes only.
    pub missing_entries: usize,
}

impl TrieDiff {
    pub fn new(entries: Vec<(Key, Option<Vec<u8>>)>) -> Result<TrieDiff, DiffShapeError> {
        if entries.len() > DIFF_ENTRIES_MAX {
            return Err(DiffShapeError::TooManyEntries);
        }
        for (index, (key, value)) in entries.iter().enumerate() {
            if key.is_empty() {
                return Err(DiffShapeError::EmptyKey { index });
            }
            if value.as_ref().is_some_and(|value| value.len() > VALUE_MAX) {
                return Err(DiffShapeError::ValueTooLong { index });
            }
            if index > 0 && entries[index - 1].0 >= *key {
                return Err(DiffShapeError::Unsorted { index });
            }
        }
        Ok(TrieDiff { entries })
    }

    pub fn entries(&self) -> &[(Key, Option<Vec<u8>>)] {
        &self.entries
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// `diff_root`: Blake2b-256 of the canonical encoding (a flat commitment; diffs are served whole).
    pub fn root(&self) -> Hash {
        if self.entries.is_empty() {
            return crate::hash::EMPTY_LIST_ROOT;
        }
        let mut writer = Writer::default();
        self.encode(&mut writer);
        blake2b_256(&writer.into_bytes())
    }

    pub fn encode(&self, writer: &mut Writer) {
        writer.u32(self.entries.len() as u32);
        for (key, value) in &self.entries {
            key.encode(writer);
            match value {
                None => writer.u8(0),
                Some(value) => {
                    writer.u8(1);
                    writer.byte_string(value);
                }
            }
        }
    }

    /// Decodes a diff and checks its shape: within `DIFF_ENTRIES_MAX`, keys non-empty and strictly increasing.
    pub fn decode(reader: &mut Reader<'_>) -> Result<TrieDiff, DecodeError> {
        let count = reader.count("diff entries", DIFF_ENTRIES_MAX)?;
        let mut entries = Vec::with_capacity(count.min(reader.remaining() / 2));
        for _ in 0..count {
            let key = Key::decode(reader)?;
            let value = match reader.u8()? {
                0 => None,
                1 => Some(reader.byte_string("value bytes", VALUE_MAX)?.to_vec()),
                _ => return Err(DecodeError::Invalid("diff value flag")),
            };
            entries.push((key, value));
        }
        TrieDiff::new(entries).map_err(|_| DecodeError::Invalid("diff keys empty or not strictly increasing"))
    }
}

impl Trie {
    /// Applies a block diff (§2.9): known keys exactly, missing keys as stump changes. If the root is then
    /// computable it must equal `expected_root`, or nothing changes and the block is invalid.
    pub fn apply_diff(&mut self, diff: &TrieDiff, expected_root: Hash) -> Result<DiffApplied, DiffError> {
        let mut work = self.clone();
        let mut missing_entries = 0;
        for (key, value) in diff.entries() {
            if work.is_known(key) {
                if let Err(error) = work.write(key, value.clone().map(Vec::into_boxed_slice)) {
                    unreachable!("a checked diff entry for a known key: {error:?}");
                }
                continue;
            }
            missing_entries += 1;
            // A fresh trie has no boundary to mark: the first chunk brings it.
            let lane_start = work.lane_start(work.lanes.of_key(key)).cloned();
            if let (false, Some(missing)) = (work.fresh, lane_start) {
                edit::mark_missing(&mut work.root, 0, key.nibbles(), value.as_deref(), missing.nibbles());
            }
        }
        work.rehash();
        let root = work.root_if_computable();
        if let Some(actual) = root.filter(|&actual| actual != expected_root) {
            return Err(DiffError::RootMismatch { expected: expected_root, actual });
        }
        *self = work;
        Ok(DiffApplied { root_computable: root.is_some(), missing_entries })
    }
}
