//! Chunks: producing them from a complete trie (§2.7), and verifying and applying them to a partial trie
//! all or nothing (§2.8).

use super::edit::{self, Entry};
use super::node::{insert_child, HashedBytes, Link};
use super::proof::{verify_proof, ProofError, ProofNode};
use super::{walk_from, Trie, CHUNK_ITEMS_MAX, PROOF_NODES_MAX, VALUE_MAX};
use crate::codec::{DecodeError, Reader, Writer};
use crate::hash::Hash;
use crate::key::{Key, KEY_MAX};
use std::cmp::Ordering;
use std::ops::ControlFlow;
use std::sync::Arc;

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
    /// The trie is now `P(T_B, end)`; `missing` is the chunk's lane's new missing start, `None` when the lane
    /// is done (with one lane: when the trie is complete).
    Applied { missing: Option<Key> },
    /// The chunk belongs to another position of the download; the trie is unchanged.
    Ignored(Ignored),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ignored {
    /// `start < s` (of its lane), or its lane is done: already downloaded.
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
    /// §2.13: `end` passes the end of the lane that holds `start` (or is `None` below the last lane).
    EndPastLane,
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
        self.chunk_bounded(start, limit, None)
    }

    /// `chunk(start, limit)` cut only from keys below `end_bound` (§2.13): when none is left beyond the limit,
    /// `end` is `end_bound` itself. The caller passes a one-nibble bound above `start` (a lane's end), which
    /// every proof anchors at the root.
    pub fn chunk_bounded(&self, start: &Key, limit: usize, end_bound: Option<&Key>) -> Option<Chunk> {
        if !self.is_complete() {
            return None;
        }
        let (mut items, want) =
            (Vec::with_capacity(limit.min(CHUNK_ITEMS_MAX).saturating_add(1)), limit.saturating_add(1));
        let _ = walk_from(&self.root, &mut Key::EMPTY.clone(), start, &mut |key, value| {
            items.push((key.clone(), value.to_vec()));
            if items.len() >= want {
                ControlFlow::Break(())
            } else {
                ControlFlow::Continue(())
            }
        });
        if let Some(bound) = end_bound {
            items.retain(|(key, _)| key < bound);
        }
        let next = if items.len() > limit { items.pop().map(|(key, _)| key) } else { None };
        let proven = match items.last() {
            Some((last, _)) => last.clone(),
            None => self.predecessor(start).unwrap_or(Key::EMPTY),
        };
        let proof = self.proof(&proven);
        let deepest = &proof[0].key;
        let end = match next {
            Some(next) => Some(next.prefix(deepest.common_prefix_len(&next) + 1)),
            None => end_bound.cloned(),
        };
        Some(Chunk { end, items, proof })
    }

    /// `put_chunk(start, chunk, expected_root)` (§2.8, §2.13): verify, apply, check the root, and commit only
    /// if everything holds. Order: complete? → `start` vs its lane's `s` → structure → apply → root → commit.
    /// The root check compares every root slot the trie can compute with the proof's root node (which verifies
    /// against `expected_root`), and demands every slot of the chunk's lane: with one lane, or with every lane
    /// computable, that is exactly "the root equals `expected_root`".
    pub fn put_chunk(&mut self, start: &Key, chunk: &Chunk, expected_root: Hash) -> Result<ChunkApplied, ChunkError> {
        if self.is_complete() {
            return Err(ChunkError::AlreadyComplete);
        }
        let lane = self.lanes.of_key(start);
        let Some(missing) = self.lane_start(lane) else { return Ok(ChunkApplied::Ignored(Ignored::Stale)) };
        if start < missing {
            return Ok(ChunkApplied::Ignored(Ignored::Stale));
        }
        if start > missing {
            return Ok(ChunkApplied::Ignored(Ignored::Gap));
        }
        let lane_end = self.lanes.end(lane);
        let mut proof_hashed = HashedBytes::default();
        check_structure(start, chunk, expected_root, lane_end.as_ref(), &mut proof_hashed)
            .map_err(ChunkError::Invalid)?;
        let target = &chunk.proof[0].key;
        let on_target = match (chunk.items.last(), self.predecessor(start)) {
            (Some((last, _)), _) => target == last,
            (None, Some(before)) if self.lanes.holds(lane, &before) => *target == before,
            (None, _) if lane == 0 => target.is_empty(),
            // The predecessor lies in a lane below, perhaps in its missing part: only the root check can tell.
            (None, _) => *target < self.lanes.start(lane),
        };
        if !on_target {
            return Err(ChunkError::Invalid(Invalid::ProofTarget));
        }
        let mut work = self.clone();
        work.graft(lane, chunk, &proof_hashed).map_err(ChunkError::Invalid)?;
        if !work.root_slots_match(lane, &chunk.proof[chunk.proof.len() - 1]) {
            let actual = work.root_if_computable();
            return Err(ChunkError::RootMismatch { expected: expected_root, actual });
        }
        *self = work;
        Ok(ChunkApplied::Applied { missing: self.lane_start(lane).cloned() })
    }

    /// Every root slot of `lane` is computable and equals the proof root's; every other computable slot does too.
    fn root_slots_match(&self, lane: usize, proof_root: &ProofNode) -> bool {
        (0..16u8).all(|nibble| {
            let ours = self.root.child_in_slot(nibble).map(|child| (child.suffix.nibbles(), child.link.hash()));
            let theirs = proof_root.slots[usize::from(nibble)].as_ref().map(|slot| (slot.suffix.nibbles(), slot.hash));
            match ours {
                Some((_, None)) => self.lanes.of_nibble(nibble) != lane,
                Some((suffix, Some(hash))) => theirs == Some((suffix, hash)),
                None => theirs.is_none(),
            }
        })
    }

    /// The apply step: drop the boundary stumps of the chunk's lane and every root stump, insert the items, hang
    /// the proof's stumps at and beyond `end` in the lane and in every wholly missing root slot of the other lanes,
    /// move the lane's `s` to `end` (`None` at the lane's end), rehash (taking the hashes of nodes whose bytes are a
    /// proof node's from `proof_hashed`). The caller checks the root.
    fn graft(&mut self, lane: usize, chunk: &Chunk, proof_hashed: &HashedBytes) -> Result<(), Invalid> {
        let missing = self.lane_start(lane).cloned().unwrap_or_default();
        edit::drop_stumps(&mut self.root, 0, missing.nibbles());
        for (key, value) in &chunk.items {
            let entry = Entry::Value(value.clone().into_boxed_slice());
            match edit::insert(&mut self.root, 0, key.nibbles(), entry) {
                Ok(None) => self.len += 1,
                Ok(Some(_)) => unreachable!("items lie in the missing range, which holds no value"),
                Err(_) => return Err(Invalid::Inconsistent),
            }
        }
        let lanes = self.lanes;
        if let Some(end) = &chunk.end {
            for node in chunk.proof.iter().filter(|node| node.key.is_proper_prefix_of(end)) {
                // Keys are built only for the children beyond `end` (most of a proof's slots lie before it).
                let beyond = node.slots.iter().flatten().filter(|slot| node.key.cmp_joined(&slot.suffix, end).is_ge());
                let keyed = beyond.filter_map(|slot| Some((node.key.concat(&slot.suffix)?, slot)));
                for (child_key, slot) in keyed.filter(|(child_key, _)| lanes.holds(lane, child_key)) {
                    let stump = Entry::Stump(Link::ProvenStump(Box::new(slot.hash)));
                    edit::insert(&mut self.root, 0, child_key.nibbles(), stump).map_err(|_| Invalid::Inconsistent)?;
                }
            }
        }
        self.restore_root_stumps(lane, &chunk.proof[chunk.proof.len() - 1]);
        let done = chunk.end.is_none() || chunk.end == lanes.end(lane);
        Arc::make_mut(&mut self.starts)[lane] = if done { None } else { chunk.end.clone() };
        self.fresh = false;
        self.rehash_knowing(proof_hashed);
        Ok(())
    }

    /// Re-hangs from the proof's root node (the state the chunk was cut from, which is the head's) every root slot
    /// of another lane that lies wholly in that lane's missing part: `drop_stumps` removed them, and a fresh trie
    /// never had them. Slots the trie holds a node in are left alone; the root check compares them.
    ///
    /// Such a slot may hold a stored node that the head's state no longer has (explore seeds 818 and 1061, found
    /// by making this case an error): a diff that deletes a key in the other lane's missing part marks the path
    /// to it unknown, but the trie cannot fold the boundary-path nodes above, since it does not know what else
    /// lies beneath the unknown stump. The slot then keeps the old shape, its hash is not computable, and the
    /// root check skips it; the other lane's next chunk regrafts its boundary path from its own proof. A stale
    /// shape always holds an unknown stump (only diffs in a missing part make one), so it never fails the root
    /// check of an honest chunk; that is asserted. (A proven stump there is the ideal shape: stumps hold.)
    fn restore_root_stumps(&mut self, lane: usize, proof_root: &ProofNode) {
        let (lanes, starts) = (self.lanes, Arc::clone(&self.starts));
        let root = Arc::make_mut(&mut self.root);
        for (child_key, slot) in proof_root.children() {
            let other = lanes.of_key(&child_key);
            let wholly_missing = starts[other].as_ref().is_some_and(|start| child_key >= *start);
            if other == lane || !wholly_missing {
                continue;
            }
            if let Some(held) = root.child_in_slot(child_key.nibbles()[0]) {
                assert!(
                    held.link.is_stump() || held.link.holds_unknown_stump(),
                    "I-TRIE: a root slot wholly in lane {other}'s missing part holds a computable stored shape"
                );
                continue;
            }
            root.mark_dirty();
            insert_child(root, slot.suffix.clone(), Link::ProvenStump(Box::new(slot.hash)));
        }
    }
}

/// The structural checks a–e of §2.8. They only give earlier and more precise errors: the root check
/// alone would reject every lie.
fn check_structure(
    start: &Key,
    chunk: &Chunk,
    expected_root: Hash,
    lane_end: Option<&Key>,
    proof_hashed: &mut HashedBytes,
) -> Result<(), Invalid> {
    let end = chunk.end.as_ref();
    if end.is_some_and(|end| end < start) {
        return Err(Invalid::EndBeforeStart);
    }
    if let Some(lane_end) = lane_end {
        if end.is_none_or(|end| end > lane_end) {
            return Err(Invalid::EndPastLane);
        }
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
    verify_proof(&chunk.proof, expected_root, proof_hashed).map_err(Invalid::Proof)?;
    if let Some(end) = end {
        let anchored = chunk
            .proof
            .iter()
            .any(|node| node.key == *end || (node.key.len() + 1 == end.len() && node.key.is_proper_prefix_of(end)));
        if !anchored {
            return Err(Invalid::EndNotAnchored);
        }
    }
    // Each child's key is compared as `node ‖ suffix`, and built only for the error: building one per slot of
    // every proof node was 1.2 % of explore's instructions.
    for node in &chunk.proof {
        for slot in node.slots.iter().flatten().filter(|slot| node.key.len() + slot.suffix.len() <= KEY_MAX) {
            let child = |other: &Key| node.key.cmp_joined(&slot.suffix, other);
            let above_lower = match last {
                Some(last) => child(last) == Ordering::Greater,
                None => child(start) != Ordering::Less,
            };
            if above_lower && end.is_none_or(|end| child(end) == Ordering::Less) {
                let child = node.key.concat(&slot.suffix).unwrap_or_default();
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
