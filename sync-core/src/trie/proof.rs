//! Proofs: the full nodes on the path from the root to a key, deepest first (§2.4).
//!
//! A proof node travels as its `node_bytes` (§2.3), so its hash is the hash of the bytes received.

use super::node::{encode_node, HashedBytes, Link, Node};
use super::{Trie, PROOF_NODES_MAX, VALUE_MAX};
use crate::codec::{DecodeError, Reader, Writer};
use crate::hash::{blake2b_256, Hash};
use crate::key::{Key, KEY_MAX};
use std::sync::Arc;

/// One occupied slot of a proof node: the child's suffix and hash.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProofSlot {
    pub suffix: Key,
    pub hash: Hash,
}

/// A full node: key, value and all 16 slots.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProofNode {
    pub key: Key,
    pub value: Option<Vec<u8>>,
    pub slots: [Option<ProofSlot>; 16],
}

impl ProofNode {
    /// The node's hash: Blake2b-256 of its `node_bytes`.
    pub fn hash(&self) -> Hash {
        let mut bytes = Vec::with_capacity(64 + 16 * 40);
        self.write_node_bytes(&mut bytes);
        blake2b_256(&bytes)
    }

    fn write_node_bytes(&self, out: &mut Vec<u8>) {
        let slots = self.slots.iter().flatten().map(|slot| (slot.suffix.nibbles(), slot.hash));
        encode_node(self.key.nibbles(), self.value.as_deref(), slots, out);
    }

    /// The occupied slots with the full keys of their children (`key ‖ suffix`).
    pub fn children(&self) -> impl Iterator<Item = (Key, &ProofSlot)> + '_ {
        self.slots.iter().flatten().filter_map(|slot| Some((self.key.concat(&slot.suffix)?, slot)))
    }

    pub fn encode(&self, writer: &mut Writer) {
        self.write_node_bytes(writer.buffer());
    }

    /// Decodes `node_bytes`, rejecting anything no canonical node has: a value over `VALUE_MAX`, a slot whose
    /// suffix is empty or starts with another nibble, a child key over `KEY_MAX`.
    pub fn decode(reader: &mut Reader<'_>) -> Result<ProofNode, DecodeError> {
        let key = Key::decode(reader)?;
        let value = match reader.u8()? {
            0 => None,
            1 => Some(reader.byte_string("value bytes", VALUE_MAX)?.to_vec()),
            _ => return Err(DecodeError::Invalid("value flag")),
        };
        let mut slots: [Option<ProofSlot>; 16] = Default::default();
        for (nibble, slot) in slots.iter_mut().enumerate() {
            match reader.u8()? {
                0 => {}
                1 => {
                    let suffix = Key::decode(reader)?;
                    if suffix.nibbles().first() != Some(&(nibble as u8)) {
                        return Err(DecodeError::Invalid("a slot suffix that does not start with its slot"));
                    }
                    if key.len() + suffix.len() > KEY_MAX {
                        return Err(DecodeError::Invalid("a child key over KEY_MAX"));
                    }
                    *slot = Some(ProofSlot { suffix, hash: Hash(reader.hash32()?) });
                }
                _ => return Err(DecodeError::Invalid("slot flag")),
            }
        }
        Ok(ProofNode { key, value, slots })
    }
}

/// Why a proof does not verify (§2.4).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProofError {
    Empty,
    TooLong,
    /// The last node is not the root (key ε) or does not hash to the expected root.
    WrongRoot,
    /// Node `index` is not referenced by the next shallower node.
    BrokenLink {
        index: usize,
    },
}

/// Checks that `proof` is a path of full nodes from the root with hash `root` down to its first node, keeping
/// the bytes and hash of every node it hashed in `hashed` (for the graft's rehash).
pub(crate) fn verify_proof(proof: &[ProofNode], root: Hash, hashed: &mut HashedBytes) -> Result<(), ProofError> {
    let Some(last) = proof.last() else { return Err(ProofError::Empty) };
    if proof.len() > PROOF_NODES_MAX {
        return Err(ProofError::TooLong);
    }
    if !last.key.is_empty() || hashed.hash(|out| last.write_node_bytes(out)) != root {
        return Err(ProofError::WrongRoot);
    }
    for index in (0..proof.len() - 1).rev() {
        let (child, parent) = (&proof[index], &proof[index + 1]);
        let child_hash = hashed.hash(|out| child.write_node_bytes(out));
        let linked = parent.key.is_proper_prefix_of(&child.key) && {
            let nibble = child.key.nibbles()[parent.key.len()];
            parent.slots[nibble as usize]
                .as_ref()
                .is_some_and(|slot| slot.hash == child_hash && slot.suffix == child.key.suffix(parent.key.len()))
        };
        if !linked {
            return Err(ProofError::BrokenLink { index });
        }
    }
    Ok(())
}

impl Trie {
    /// `proof(k)`: the nodes from the root to `k`, or to the deepest stored node whose key is a prefix of `k`,
    /// deepest first, root last (§2.4). Stumps appear as slots with their hash; a node above an unknown
    /// stump has no hash, so a proof is only complete for a trie whose root is computable.
    pub fn proof(&self, key: &Key) -> Vec<ProofNode> {
        let target = key.nibbles();
        let mut path: Vec<ProofNode> = Vec::new();
        let mut node: &Arc<Node> = &self.root;
        let mut prefix = Key::EMPTY;
        loop {
            path.push(proof_node(&prefix, node));
            if prefix.len() >= target.len() {
                break;
            }
            let Some(child) = node.child_in_slot(target[prefix.len()]) else { break };
            if !target[prefix.len()..].starts_with(child.suffix.nibbles()) {
                break;
            }
            let Link::Node(next) = &child.link else { break };
            prefix.extend(child.suffix.nibbles());
            node = next;
        }
        path.reverse();
        path
    }
}

fn proof_node(key: &Key, node: &Node) -> ProofNode {
    let mut slots: [Option<ProofSlot>; 16] = Default::default();
    for child in &node.children {
        let nibble = child.suffix.nibbles()[0] as usize;
        let hash = child.link.hash().unwrap_or_default();
        slots[nibble] = Some(ProofSlot { suffix: child.suffix.clone(), hash });
    }
    ProofNode { key: key.clone(), value: node.value.as_ref().map(|value| value.to_vec()), slots }
}
