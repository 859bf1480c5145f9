//! Stored nodes, child links and the fixed hash rule (§2.2, §2.3).
//!
//! Nodes are immutable once shared: every mutation goes through `Arc::make_mut`, so a clone of a trie is an O(1)
//! persistent snapshot. A node's cached hash is valid unless the node is `Dirty`; every public mutator of
//! [`super::Trie`] rehashes before it returns, so snapshots never share dirty nodes.

use crate::hash::{blake2b_256, Hash};
use crate::key::{common_prefix_len, Key};
use std::sync::Arc;

/// A stored value. Boxed slice: two words, no spare capacity.
pub(crate) type Value = Box<[u8]>;

/// The cached hash of a node.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum NodeHash {
    /// Changed since the last rehash (never shared between snapshots).
    Dirty,
    /// Some stump below is unknown (§2.5): no hash exists.
    Unknown,
    Known(Hash),
}

#[derive(Clone, Debug)]
pub(crate) struct Node {
    pub(crate) value: Option<Value>,
    /// Occupied slots in ascending nibble order; `suffix[0]` is the slot.
    pub(crate) children: Vec<Child>,
    pub(crate) hash: NodeHash,
}

#[derive(Clone, Debug)]
pub(crate) struct Child {
    /// Non-empty; its first nibble is the slot. For an unknown stump: the certain prefix.
    pub(crate) suffix: Key,
    pub(crate) link: Link,
}

/// What a slot points to: a stored node, or a stump standing for a subtree in the missing range.
#[derive(Clone, Debug)]
pub(crate) enum Link {
    Node(Arc<Node>),
    /// Exact suffix and subtree hash, as set by a chunk's proof or an exact diff.
    ProvenStump(Box<Hash>),
    /// A diff changed something beneath: no hash, and only the suffix's nibbles are certain.
    UnknownStump,
}

impl Link {
    pub(crate) fn is_stump(&self) -> bool {
        !matches!(self, Link::Node(_))
    }

    /// An unknown stump, or a stored node with one beneath: its hash is not computable.
    pub(crate) fn holds_unknown_stump(&self) -> bool {
        match self {
            Link::UnknownStump => true,
            Link::ProvenStump(_) => false,
            Link::Node(node) => node.children.iter().any(|child| child.link.holds_unknown_stump()),
        }
    }

    /// The hash this link contributes to its parent's node bytes, if known.
    pub(crate) fn hash(&self) -> Option<Hash> {
        match self {
            Link::Node(node) => match node.hash {
                NodeHash::Known(hash) => Some(hash),
                NodeHash::Unknown => None,
                NodeHash::Dirty => unreachable!("children are rehashed before their parent"),
            },
            Link::ProvenStump(hash) => Some(**hash),
            Link::UnknownStump => None,
        }
    }
}

impl Node {
    pub(crate) fn empty() -> Node {
        Node { value: None, children: Vec::new(), hash: NodeHash::Dirty }
    }

    pub(crate) fn leaf(value: Value) -> Node {
        Node { value: Some(value), children: Vec::new(), hash: NodeHash::Dirty }
    }

    /// The index of the child in slot `nibble`, or where it would be inserted.
    pub(crate) fn slot(&self, nibble: u8) -> Result<usize, usize> {
        self.children.binary_search_by_key(&nibble, |child| child.suffix.nibbles()[0])
    }

    pub(crate) fn child_in_slot(&self, nibble: u8) -> Option<&Child> {
        self.slot(nibble).ok().map(|index| &self.children[index])
    }

    pub(crate) fn mark_dirty(&mut self) {
        self.hash = NodeHash::Dirty;
    }

    /// A non-root node that the canonical shape does not allow: valueless with fewer than two children.
    pub(crate) fn is_redundant(&self) -> bool {
        self.value.is_none() && self.children.len() < 2
    }
}

/// Pushes `(suffix, link)` as a child of `node`, which must not already hold that slot.
pub(crate) fn insert_child(node: &mut Node, suffix: Key, link: Link) {
    let nibble = suffix.nibbles()[0];
    match node.slot(nibble) {
        Ok(_) => unreachable!("slot {nibble:x} is already taken"),
        Err(position) => node.children.insert(position, Child { suffix, link }),
    }
}

/// Restores the canonical shape of the child at `index` of `parent` after something below it changed:
/// a valueless child without children disappears, and one with a single child is merged into the edge,
/// carrying a stump along with its suffix and hash or unknown status (H1).
pub(crate) fn canonicalize_child(parent: &mut Node, index: usize) {
    let Link::Node(child) = &parent.children[index].link else { return };
    if !child.is_redundant() {
        return;
    }
    match child.children.len() {
        0 => {
            parent.children.remove(index);
        }
        _ => {
            let grandchild = child.children[0].clone();
            let edge = &mut parent.children[index];
            edge.suffix.extend(grandchild.suffix.nibbles());
            edge.link = grandchild.link;
        }
    }
}

/// The split of an edge: `child`'s suffix is cut after `common` nibbles, and the cut-off part hangs below a
/// new valueless node that the caller fills. Returns that new node.
pub(crate) fn split_edge(child: &mut Child, common: usize) -> &mut Node {
    debug_assert!(common > 0 && common < child.suffix.len(), "a split falls strictly inside the edge");
    let lower_suffix = child.suffix.suffix(common);
    let lower_link = std::mem::replace(&mut child.link, Link::UnknownStump);
    child.suffix.truncate(common);
    let mut branch = Node::empty();
    branch.children.push(Child { suffix: lower_suffix, link: lower_link });
    child.link = Link::Node(Arc::new(branch));
    match &mut child.link {
        Link::Node(branch) => Arc::make_mut(branch),
        _ => unreachable!("just set"),
    }
}

/// `lcp` of an edge suffix and the rest of a key, in nibbles.
pub(crate) fn edge_common(suffix: &Key, rest: &[u8]) -> usize {
    common_prefix_len(suffix.nibbles(), rest)
}

// ---- hash rule (§2.3) ----------------------------------------------------------------------------------

/// `value_enc`: 0x00 for absent, else 0x01 ‖ u32_le(len) ‖ bytes.
pub(crate) fn encode_value(value: Option<&[u8]>, out: &mut Vec<u8>) {
    match value {
        None => out.push(0),
        Some(bytes) => {
            out.push(1);
            out.extend_from_slice(&(bytes.len() as u32).to_le_bytes());
            out.extend_from_slice(bytes);
        }
    }
}

/// `node_bytes(N)`: key, value, then all 16 slots. `slots` yields occupied slots in ascending nibble order.
pub(crate) fn encode_node<'a>(
    key: &[u8],
    value: Option<&[u8]>,
    slots: impl Iterator<Item = (&'a [u8], Hash)>,
    out: &mut Vec<u8>,
) {
    Key::encode_into(key, out);
    encode_value(value, out);
    let mut next_slot = 0u8;
    for (suffix, hash) in slots {
        let nibble = suffix[0];
        debug_assert!(nibble >= next_slot, "slots ascend");
        out.extend(std::iter::repeat_n(0u8, (nibble - next_slot) as usize));
        out.push(1);
        Key::encode_into(suffix, out);
        out.extend_from_slice(&hash.0);
        next_slot = nibble + 1;
    }
    out.extend(std::iter::repeat_n(0u8, (16 - next_slot) as usize));
}

/// The hash of a leaf with `key` and `value` (an exact stump for a brand-new missing key, §2.9).
pub(crate) fn leaf_hash(key: &[u8], value: &[u8]) -> Hash {
    let mut bytes = Vec::with_capacity(key.len() / 2 + value.len() + 24);
    encode_node(key, Some(value), std::iter::empty(), &mut bytes);
    blake2b_256(&bytes)
}

/// Recomputes every dirty hash below and including `node`, whose key is `key`. Returns the node's hash state.
/// Node bytes hashed already, with their hashes: a chunk's proof nodes, which the proof check hashed. An honest
/// chunk's boundary path, once grafted, is its proof's nodes byte for byte, so `rehash` looks each node's bytes
/// up here before hashing them (hashing the proof twice was 3.7 % of explore's time). The same bytes, the same
/// hash: nothing else changes.
#[derive(Debug, Default)]
pub(crate) struct HashedBytes {
    bytes: Vec<u8>,
    /// `(start, end, hash)` of each node's bytes in `bytes`.
    spans: Vec<(usize, usize, Hash)>,
}

impl HashedBytes {
    /// Hashes the bytes `write` appends, and keeps them with their hash.
    pub(crate) fn hash(&mut self, write: impl FnOnce(&mut Vec<u8>)) -> Hash {
        let start = self.bytes.len();
        write(&mut self.bytes);
        let hash = blake2b_256(&self.bytes[start..]);
        self.spans.push((start, self.bytes.len(), hash));
        hash
    }

    /// The hash of `bytes`, if they were hashed here.
    fn find(&self, bytes: &[u8]) -> Option<Hash> {
        let same =
            |&&(start, end, _): &&(usize, usize, Hash)| end - start == bytes.len() && self.bytes[start..end] == *bytes;
        self.spans.iter().find(same).map(|&(_, _, hash)| hash)
    }
}

pub(crate) fn rehash(node: &mut Arc<Node>, key: &mut Key, scratch: &mut Vec<u8>, known: &HashedBytes) -> NodeHash {
    if node.hash != NodeHash::Dirty {
        return node.hash;
    }
    let node = Arc::make_mut(node);
    let mut unknown = false;
    for child in node.children.iter_mut() {
        match &mut child.link {
            // A clean child keeps its hash: its key is not even built (most children of a dirty node are clean).
            Link::Node(grandchild) if grandchild.hash != NodeHash::Dirty => {
                unknown |= grandchild.hash == NodeHash::Unknown;
            }
            Link::Node(grandchild) => {
                let depth = key.len();
                key.extend(child.suffix.nibbles());
                unknown |= rehash(grandchild, key, scratch, known) == NodeHash::Unknown;
                key.truncate(depth);
            }
            Link::ProvenStump(_) => {}
            Link::UnknownStump => unknown = true,
        }
    }
    node.hash = if unknown {
        NodeHash::Unknown
    } else {
        scratch.clear();
        let slots = node.children.iter().map(|child| {
            let hash = child.link.hash();
            debug_assert!(hash.is_some(), "no unknown child below a known node");
            (child.suffix.nibbles(), hash.unwrap_or_default())
        });
        encode_node(key.nibbles(), node.value.as_deref(), slots, scratch);
        NodeHash::Known(known.find(scratch).unwrap_or_else(|| blake2b_256(scratch)))
    };
    node.hash
}

/// Structural equality, for tests of atomicity and exact revert: shared subtrees compare by pointer.
pub(crate) fn same_subtree(a: &Arc<Node>, b: &Arc<Node>) -> bool {
    Arc::ptr_eq(a, b)
        || (a.value == b.value
            && a.hash == b.hash
            && a.children.len() == b.children.len()
            && a.children.iter().zip(&b.children).all(|(x, y)| {
                x.suffix == y.suffix
                    && match (&x.link, &y.link) {
                        (Link::Node(x), Link::Node(y)) => same_subtree(x, y),
                        (Link::ProvenStump(x), Link::ProvenStump(y)) => x == y,
                        (Link::UnknownStump, Link::UnknownStump) => true,
                        _ => false,
                    }
            }))
}
