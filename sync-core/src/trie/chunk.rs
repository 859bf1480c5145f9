//! Chunks: producing them from a complete trie (§2.7), and verifying and applying them to a partial trie
//! all or nothing (§2.8).

use super::edit::{self, Entry};
use super::node::Link;
use super::proof::{verify_proof, ProofError, ProofNode};
use super::{collect_items, Trie, CHUNK_ITEMS_MAX, PROOF_NODES_MAX, VALUE_MAX};
use crate::codec::{DecodeError, Reader, Writer};
use crate::hash::Hash;
use crate::key::Key;

/// Sorted items `[start, end)` of the state at one block, and the proof of the right boundary (§2.6).
/// `start` is not part of the chunk: the requester remembers what it asked for.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Chunk {
    /// Exclusive end; `None` for the final chunk.
    pub end: Option<Key>,
    pub items: Vec<(Key, Vec<u8>)>,
    /// The proof of the last item; with no items, of `predecessor(start)`, or the root alone.
    pub proof: Vec<ProofNode>,
}

/// A chunk the trie took, or set aside without error (§2.8).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ChunkApplied {
    /// The trie is now `P(T_B, end)`; `missing` is the new missing start, `None` when complete.
    Applied { missing: Option<Key> },
    /// The chunk belongs to another position of the download; the trie is unchanged.
    Ignored(Ignored),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ignored {
    /// `start < s`: already downloaded.
    Stale,
    /// `start > s`: a hole would open.
    Gap,
}

/// A chunk the trie refused; the trie is byte-for-byte unchanged (§2.8, atomicity).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ChunkError {
    AlreadyComplete,
    Invalid(Invalid),
    RootMismatch { expected: Hash, actual: Option<Hash> },
}

/// The structural checks of §2.8, a–e, plus the cases where the pieces cannot be put together.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Invalid {
    /// a. `end < start`.
    EndBeforeStart,
    /// b. Items not strictly increasing.
    ItemsUnsorted { index: usize },
    /// b. The first item is below `start`.
    ItemBeforeStart,
    /// b. The last item is at or beyond `end`.
    ItemAtOrAfterEnd,
    /// b. An item with the empty key (ε never holds a value), a value over `VALUE_MAX`, or too many items.
    ItemOverBound { index: usize },
    /// c. The proof is empty, too long, or does not verify against the expected root.
    Proof(ProofError),
    /// c. The proof does not end at the key it must prove: the last item, or with no items the predecessor of
    /// `start` (which the known part holds), or the root.
    ProofTarget,
    /// d. `end` is neither a proof node's key nor one nibble below one.
    EndNotAnchored,
    /// e. A proof node names a child inside the claimed range that the items do not deliver.
    ChildSkipped { child: Key },
    /// The known part, the items and the proof's stumps do not fit into one trie.
    Inconsistent,
}

impl Trie {
    /// `chunk(start, limit)` (§2.7): a pure function of the state, `start` and `limit`. `None` when the
    /// trie is not complete: only complete tries serve chunks (§3.6).
    pub fn chunk(&self, start: &Key, limit: usize) -> Option<Chunk> {
        if !self.is_complete() {
            return None;
        }
        let mut items = Vec::with_capacity(limit.min(CHUNK_ITEMS_MAX).saturating_add(1));
        let mut prefix = Key::EMPTY;
        collect_items(&self.root, &mut prefix, start, limit.saturating_add(1), &mut items);
        let next = if items.len() > limit { items.pop().map(|(key, _)| key) } else { None };
        let proven = match items.last() {
            Some((last, _)) => last.clone(),
            None => self.predecessor(start).unwrap_or(Key::EMPTY),
        };
        let proof = self.proof(&proven);
        let deepest = &proof[0].key;
        let end = next.map(|next| next.prefix(deepest.common_prefix_len(&next) + 1));
        Some(Chunk { end, items, proof })
    }

    /// `put_chunk(start, chunk, expected_root)` (§2.8): verify, apply, check the whole root, and commit
    /// only if everything holds. Order: complete? → `start` vs `s` → structure → apply → root → commit.
    pub fn put_chunk(&mut self, start: &Key, chunk: &Chunk, expected_root: Hash) -> Result<ChunkApplied, ChunkError> {
        let Some(missing) = &self.missing else { return Err(ChunkError::AlreadyComplete) };
        if start < missing {
            return Ok(ChunkApplied::Ignored(Ignored::Stale));
        }
        if start > missing {
            return Ok(ChunkApplied::Ignored(Ignored::Gap));
        }
        check_structure(start, chunk, expected_root).map_err(ChunkError::Invalid)?;
        let target = match chunk.items.last() {
            Some((last, _)) => last.clone(),
            None => self.predecessor(start).unwrap_or(Key::EMPTY),
        };
        if chunk.proof[0].key != target {
            return Err(ChunkError::Invalid(Invalid::ProofTarget));
        }
        let mut work = self.clone();
        work.graft(chunk).map_err(ChunkError::Invalid)?;
        let actual = work.root_if_computable();
        if actual != Some(expected_root) {
            return Err(ChunkError::RootMismatch { expected: expected_root, actual });
        }
        *self = work;
        Ok(ChunkApplied::Applied { missing: self.missing.clone() })
    }

    /// The apply step: drop the boundary stumps, insert the items, hang the proof's stumps at and beyond `end`,
    /// move `s` to `end`, rehash. The caller checks the root.
    fn graft(&mut self, chunk: &Chunk) -> Result<(), Invalid> {
        let missing = self.missing.clone().unwrap_or_default();
        edit::drop_stumps(&mut self.root, 0, missing.nibbles());
        for (key, value) in &chunk.items {
            let entry = Entry::Value(value.clone().into_boxed_slice());
            match edit::insert(&mut self.root, 0, key.nibbles(), entry) {
                Ok(None) => self.len += 1,
                Ok(Some(_)) => unreachable!("items lie in the missing range, which holds no value"),
                Err(_) => return Err(Invalid::Inconsistent),
            }
        }
        if let Some(end) = &chunk.end {
            for node in chunk.proof.iter().filter(|node| node.key.is_proper_prefix_of(end)) {
                for (child_key, slot) in node.children().filter(|(child_key, _)| child_key >= end) {
                    let stump = Entry::Stump(Link::ProvenStump(Box::new(slot.hash)));
                    edit::insert(&mut self.root, 0, child_key.nibbles(), stump).map_err(|_| Invalid::Inconsistent)?;
                }
            }
        }
        self.missing = chunk.end.clone();
        self.fresh = false;
        self.rehash();
        Ok(())
    }
}

/// The structural checks a–e of §2.8. They only give earlier and more precise errors: the root check
/// alone would reject every lie.
fn check_structure(start: &Key, chunk: &Chunk, expected_root: Hash) -> Result<(), Invalid> {
    let end = chunk.end.as_ref();
    if end.is_some_and(|end| end < start) {
        return Err(Invalid::EndBeforeStart);
    }
    if chunk.items.len() > CHUNK_ITEMS_MAX {
        return Err(Invalid::ItemOverBound { index: CHUNK_ITEMS_MAX });
    }
    for (index, (key, value)) in chunk.items.iter().enumerate() {
        if key.is_empty() || value.len() > VALUE_MAX {
            return Err(Invalid::ItemOverBound { index });
        }
        if index > 0 && chunk.items[index - 1].0 >= *key {
            return Err(Invalid::ItemsUnsorted { index });
        }
    }
    if chunk.items.first().is_some_and(|(first, _)| first < start) {
        return Err(Invalid::ItemBeforeStart);
    }
    let last = chunk.items.last().map(|(key, _)| key);
    if let (Some(last), Some(end)) = (last, end) {
        if last >= end {
            return Err(Invalid::ItemAtOrAfterEnd);
        }
    }
    verify_proof(&chunk.proof, expected_root).map_err(Invalid::Proof)?;
    if let Some(end) = end {
        let anchored = chunk
            .proof
            .iter()
            .any(|node| node.key == *end || (node.key.len() + 1 == end.len() && node.key.is_proper_prefix_of(end)));
        if !anchored {
            return Err(Invalid::EndNotAnchored);
        }
    }
    for node in &chunk.proof {
        for (child, _) in node.children() {
            let above_lower = match last {
                Some(last) => child > *last,
                None => child >= *start,
            };
            if above_lower && end.is_none_or(|end| child < *end) {
                return Err(Invalid::ChildSkipped { child });
            }
        }
    }
    Ok(())
}

impl Chunk {
    pub fn encode(&self, writer: &mut Writer) {
        match &self.end {
            None => writer.u8(0),
            Some(end) => {
                writer.u8(1);
                end.encode(writer);
            }
        }
        writer.u32(self.items.len() as u32);
        for (key, value) in &self.items {
            key.encode(writer);
            writer.byte_string(value);
        }
        writer.u32(self.proof.len() as u32);
        for node in &self.proof {
            node.encode(writer);
        }
    }

    /// Decodes a chunk; counts are checked against `CHUNK_ITEMS_MAX` and `PROOF_NODES_MAX` before anything
    /// is allocated for them. Order and boundary facts are left to `put_chunk`, which knows `start`.
    pub fn decode(reader: &mut Reader<'_>) -> Result<Chunk, DecodeError> {
        let end = match reader.u8()? {
            0 => None,
            1 => Some(Key::decode(reader)?),
            _ => return Err(DecodeError::Invalid("end flag")),
        };
        let item_count = reader.count("chunk items", CHUNK_ITEMS_MAX)?;
        // The smallest item is 5 bytes: never reserve more than the input could hold.
        let mut items = Vec::with_capacity(item_count.min(reader.remaining() / 5));
        for _ in 0..item_count {
            let key = Key::decode(reader)?;
            let value = reader.byte_string("value bytes", VALUE_MAX)?.to_vec();
            items.push((key, value));
        }
        let proof_count = reader.count("proof nodes", PROOF_NODES_MAX)?;
        let mut proof = Vec::with_capacity(proof_count.min(reader.remaining() / 18));
        for _ in 0..proof_count {
            proof.push(ProofNode::decode(reader)?);
        }
        Ok(Chunk { end, items, proof })
    }

    /// The encoded size in bytes: what a chunk costs on the wire.
    pub fn encoded_len(&self) -> usize {
        let mut writer = Writer::default();
        self.encode(&mut writer);
        writer.len()
    }

    /// The most bytes `encode` can write for a chunk of `items` items that `decode` accepts: every key of
    /// `KEY_MAX` nibbles, every value of `VALUE_MAX` bytes, `PROOF_NODES_MAX` full proof nodes.
    pub const fn encoded_len_max(items: usize) -> usize {
        let key = 1 + crate::key::KEY_MAX.div_ceil(2);
        let value = 4 + super::VALUE_MAX;
        let proof_node = key + 1 + value + 16 * (1 + key + 32);
        1 + key + 4 + items * (key + value) + 4 + super::PROOF_NODES_MAX * proof_node
    }
}
