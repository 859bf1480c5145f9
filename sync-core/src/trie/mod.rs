//! The partial Merkle radix trie that live sync fills chunk by chunk (§2).
//!
//! One type, [`Trie`], serves both roles: a *complete* trie (missing range `None`) that executes blocks and
//! cuts chunks, and a *partial* trie with one missing suffix range `[s, ∞)` whose boundary is summarised by
//! stumps; or, with lanes (§2.13), one missing range `[s_j, b_{j+1})` per lane. A `Trie` is a persistent value: `clone()` is O(1) and shares every node, and every mutation copies
//! only the path it touches. Atomicity of `put_chunk` and `apply_diff` (§2.8) and the exact revert of
//! §2.10 both fall out of that: work on a clone, keep it only on success; revert by restoring a clone.

mod check;
mod chunk;
mod diff;
mod edit;
mod execute;
#[cfg(test)]
mod lane_properties;
mod lanes;
mod node;
mod proof;
#[cfg(test)]
mod properties;
#[cfg(test)]
mod tests;

pub use check::{CheckWork, VerifiedHashes};
pub use chunk::{Chunk, ChunkApplied, ChunkError, Ignored, Invalid};
pub use diff::{DiffApplied, DiffError, TrieDiff};
pub use execute::{Op, OpsError};
pub use lanes::{Lanes, LanesError, LANE_COUNTS};
pub use proof::{ProofNode, ProofSlot};

use crate::hash::Hash;
use crate::key::Key;
use edit::Entry;
use node::{rehash, HashedBytes, Link, Node, NodeHash};
use std::fmt;
use std::ops::ControlFlow;
use std::sync::Arc;

/// The longest value, in bytes (§2.1, §2.12).
pub const VALUE_MAX: usize = 512;
/// The most nodes a proof can have: one per key length from ε to `KEY_MAX` (§2.4).
pub const PROOF_NODES_MAX: usize = crate::key::KEY_MAX + 1;
/// The most items a chunk may carry on the wire, whatever a request asked for (§2.12).
pub const CHUNK_ITEMS_MAX: usize = 4096;
/// The most entries a diff may carry on the wire (§2.12).
pub const DIFF_ENTRIES_MAX: usize = 4096;

/// `EMPTY_ROOT` = Blake2b-256 of 18 zero bytes: the root of the empty map (§2.3).
pub const EMPTY_ROOT: Hash = Hash([
    0x1c, 0x12, 0xe5, 0x1a, 0x42, 0xfe, 0xfd, 0x22, 0x60, 0x34, 0x8e, 0xbe, 0xd1, 0x2c, 0x8e, 0x82, 0xe4, 0xab, 0xaf,
    0xba, 0x92, 0xe5, 0x51, 0x46, 0x35, 0x0c, 0x0d, 0xc3, 0x34, 0xc4, 0xfb, 0x4c,
]);

/// A write the trie cannot take. These are caller errors, never peer input: peers reach the trie only through
/// `put_chunk` and `apply_diff`, which return their own error values.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WriteError {
    /// ε never holds a value.
    EmptyKey,
    ValueTooLong,
    /// The key is in the missing range: its value is not held (§2.9 handles those through diffs).
    InMissingRange,
}

/// The state trie: complete, or partial with one missing range per lane (§2.5, §2.13).
#[derive(Clone)]
pub struct Trie {
    root: Arc<Node>,
    lanes: Lanes,
    /// Per lane: `None` when the lane is known to its end, `Some(s_j)` when every key of the lane `≥ s_j` is
    /// unknown. All `None`: complete. Shared between snapshots, copied on write.
    starts: Arc<Vec<Option<Key>>>,
    /// No chunk has been applied: no boundary information, the root is unknown.
    fresh: bool,
    /// Value-bearing keys held (the known part).
    len: usize,
}

impl Default for Trie {
    fn default() -> Trie {
        Trie::new()
    }
}

impl Trie {
    /// The complete trie of the empty map.
    pub fn new() -> Trie {
        let starts = Arc::new(vec![None]);
        let mut trie = Trie { root: Arc::new(Node::empty()), lanes: Lanes::ONE, starts, fresh: false, len: 0 };
        trie.rehash();
        trie
    }

    /// A fresh incomplete trie: `s = ε`, only the root, no boundary information (§2.5).
    pub fn fresh() -> Trie {
        Trie::fresh_in(Lanes::ONE)
    }

    /// A fresh incomplete trie split into `lanes`: every lane misses everything from its start (§2.13).
    pub fn fresh_in(lanes: Lanes) -> Trie {
        let starts = Arc::new((0..lanes.count()).map(|lane| Some(lanes.start(lane))).collect());
        let mut trie = Trie { root: Arc::new(Node::empty()), lanes, starts, fresh: true, len: 0 };
        trie.rehash();
        trie
    }

    /// A complete trie holding `items` (later duplicates overwrite earlier ones).
    pub fn from_items<K: AsRef<Key>>(items: impl IntoIterator<Item = (K, Vec<u8>)>) -> Result<Trie, WriteError> {
        let mut trie = Trie::new();
        for (key, value) in items {
            trie.write(key.as_ref(), Some(value.into_boxed_slice()))?;
        }
        trie.rehash();
        Ok(trie)
    }

    pub fn is_complete(&self) -> bool {
        self.starts.iter().all(Option::is_none)
    }

    pub fn is_fresh(&self) -> bool {
        self.fresh
    }

    /// `s`, the start of the missing range, or `None` when complete. With lanes: the first missing key, the
    /// start of the first lane not yet done.
    pub fn missing_start(&self) -> Option<&Key> {
        self.starts.iter().flatten().next()
    }

    /// How key space is split (§2.13); `Lanes::ONE` for a complete trie built from items.
    pub fn lanes(&self) -> Lanes {
        self.lanes
    }

    /// `s_j` of every lane, in lane order: `None` for a lane known to its end.
    pub fn lane_starts(&self) -> &[Option<Key>] {
        &self.starts
    }

    /// `s_j` of `lane`, or `None` when the lane is done.
    pub fn lane_start(&self, lane: usize) -> Option<&Key> {
        self.starts.get(lane).and_then(Option::as_ref)
    }

    /// The number of value-bearing keys held (all of them when complete, the known part otherwise).
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Whether `key` is in the known part (always, when complete).
    pub fn is_known(&self, key: &Key) -> bool {
        self.lane_start(self.lanes.of_key(key)).is_none_or(|missing| key < missing)
    }

    /// The root hash when it is computable: not fresh and no unknown stump (§2.5). Always `Some` when
    /// complete.
    pub fn root_if_computable(&self) -> Option<Hash> {
        match (self.fresh, self.root.hash) {
            (false, NodeHash::Known(hash)) => Some(hash),
            (_, NodeHash::Dirty) => unreachable!("public methods leave the trie rehashed"),
            _ => None,
        }
    }

    /// The value of a known key; `None` if it is absent or in the missing range.
    pub fn get(&self, key: &Key) -> Option<&[u8]> {
        if !self.is_known(key) {
            return None;
        }
        let nibbles = key.nibbles();
        let mut node = &self.root;
        let mut depth = 0;
        while depth < nibbles.len() {
            let child = node.child_in_slot(nibbles[depth])?;
            if !nibbles[depth..].starts_with(child.suffix.nibbles()) {
                return None;
            }
            let Link::Node(next) = &child.link else { return None };
            depth += child.suffix.len();
            node = next;
        }
        node.value.as_deref()
    }

    /// Sets a known key (any key, when complete). Returns the old value.
    pub fn put(&mut self, key: &Key, value: Vec<u8>) -> Result<Option<Vec<u8>>, WriteError> {
        let old = self.write(key, Some(value.into_boxed_slice()))?;
        self.rehash();
        Ok(old)
    }

    /// Deletes a known key (a no-op when absent). Returns the old value.
    pub fn delete(&mut self, key: &Key) -> Result<Option<Vec<u8>>, WriteError> {
        let old = self.write(key, None)?;
        self.rehash();
        Ok(old)
    }

    /// Put or delete without rehashing, keeping the canonical shape (§2.2).
    fn write(&mut self, key: &Key, value: Option<Box<[u8]>>) -> Result<Option<Vec<u8>>, WriteError> {
        if key.is_empty() {
            return Err(WriteError::EmptyKey);
        }
        if !self.is_known(key) {
            return Err(WriteError::InMissingRange);
        }
        let is_put = value.is_some();
        let old = match value {
            Some(value) if value.len() > VALUE_MAX => return Err(WriteError::ValueTooLong),
            Some(value) => match edit::insert(&mut self.root, 0, key.nibbles(), Entry::Value(value)) {
                Ok(old) => old,
                Err(conflict) => unreachable!("a known key never overlaps a stump: {conflict:?}"),
            },
            None if self.get(key).is_none() => None,
            None => edit::remove(&mut self.root, 0, key.nibbles()),
        };
        match (is_put, &old) {
            (true, None) => self.len += 1,
            (false, Some(_)) => self.len -= 1,
            _ => {}
        }
        Ok(old.map(Vec::from))
    }

    fn rehash(&mut self) {
        self.rehash_knowing(&HashedBytes::default());
    }

    /// `rehash`, taking the hash of any node whose bytes `known` holds from there.
    fn rehash_knowing(&mut self, known: &HashedBytes) {
        let mut key = Key::EMPTY;
        let mut scratch = Vec::with_capacity(1024);
        rehash(&mut self.root, &mut key, &mut scratch, known);
    }

    /// The greatest value-bearing key below `key`, if any (§2.4). Searches the known part only.
    pub fn predecessor(&self, key: &Key) -> Option<Key> {
        let target = key.nibbles();
        let mut best = None;
        let mut node = &self.root;
        let mut prefix = Key::EMPTY;
        loop {
            if node.value.is_some() && prefix.len() < target.len() {
                best = Some(prefix.clone());
            }
            if prefix.len() >= target.len() {
                return best;
            }
            // The greatest key under the siblings before the path: the last of them whose rightmost descent reaches
            // a value (one that ends in a stump gives none), else what was found above.
            let next_nibble = target[prefix.len()];
            let before = node.children.iter().rev().filter(|child| child.suffix.nibbles()[0] < next_nibble);
            let key_of = |child: &node::Child| {
                let mut child_key = prefix.clone();
                child_key.extend(child.suffix.nibbles());
                child_key
            };
            if let Some(found) = before.filter_map(|child| max_key(key_of(child), child)).next() {
                best = Some(found);
            }
            let Some(child) = node.child_in_slot(next_nibble) else { return best };
            let mut child_key = prefix.clone();
            child_key.extend(child.suffix.nibbles());
            if child_key.is_proper_prefix_of(key) {
                let Link::Node(next) = &child.link else { return best };
                node = next;
                prefix = child_key;
            } else if child_key < *key && !key.starts_with(&child_key) {
                return max_key(child_key, child).or(best);
            } else {
                return best;
            }
        }
    }

    /// The first value-bearing key at or after `start` in the known part, without building a proof.
    pub fn first_key_at_or_after(&self, start: &Key) -> Option<Key> {
        let mut prefix = Key::EMPTY;
        let found = walk_from(&self.root, &mut prefix, start, &mut |_, _| ControlFlow::Break(()));
        found.is_break().then_some(prefix)
    }

    /// Every known value-bearing key in order, with its value.
    pub fn items(&self) -> Vec<(Key, Vec<u8>)> {
        let mut items = Vec::with_capacity(self.len);
        self.for_each_item(|key, value| items.push((key.clone(), value.to_vec())));
        items
    }

    /// Calls `visit` with every stored value-bearing key in order and its value, building no list.
    pub fn for_each_item(&self, mut visit: impl FnMut(&Key, &[u8])) {
        let mut prefix = Key::EMPTY;
        let _ = walk_from(&self.root, &mut prefix, &Key::EMPTY, &mut |key, value| {
            visit(key, value);
            ControlFlow::Continue(())
        });
    }

    /// The structure is identical, node for node, including stumps, hashes, the missing range and freshness:
    /// what "byte-identical" means for atomicity and exact revert (§2.8, §2.10).
    pub fn same_as(&self, other: &Trie) -> bool {
        self.lanes == other.lanes
            && self.starts == other.starts
            && self.fresh == other.fresh
            && self.len == other.len
            && node::same_subtree(&self.root, &other.root)
    }

    /// A copy that shares no node with `self`: the reference against which tests check that later writes
    /// never reach a snapshot.
    #[cfg(test)]
    pub(crate) fn deep_copy(&self) -> Trie {
        fn copy(node: &Node) -> Arc<Node> {
            let mut fresh = node.clone();
            for child in &mut fresh.children {
                if let Link::Node(next) = &child.link {
                    child.link = Link::Node(copy(next));
                }
            }
            Arc::new(fresh)
        }
        let starts = Arc::new(self.starts.to_vec());
        Trie { root: copy(&self.root), lanes: self.lanes, starts, fresh: self.fresh, len: self.len }
    }

    /// The `node_bytes` of every node this trie does not share with any other snapshot: after an operation on
    /// a clone, while the original is alive, exactly the nodes that operation hashed. For the bare-hashing
    /// benchmark (BENCHMARKS.md), not for protocol use.
    #[doc(hidden)]
    pub fn unshared_node_bytes(&self) -> Vec<Vec<u8>> {
        fn walk(node: &Arc<Node>, prefix: &mut Key, out: &mut Vec<Vec<u8>>) {
            if Arc::strong_count(node) > 1 {
                return;
            }
            let mut bytes = Vec::new();
            let slots =
                node.children.iter().map(|child| (child.suffix.nibbles(), child.link.hash().unwrap_or_default()));
            node::encode_node(prefix.nibbles(), node.value.as_deref(), slots, &mut bytes);
            out.push(bytes);
            for child in &node.children {
                if let Link::Node(next) = &child.link {
                    let depth = prefix.len();
                    prefix.extend(child.suffix.nibbles());
                    walk(next, prefix, out);
                    prefix.truncate(depth);
                }
            }
        }
        let mut out = Vec::new();
        walk(&self.root, &mut Key::EMPTY.clone(), &mut out);
        out
    }

    /// A readable dump for tests and debugging: one node per line, stumps marked.
    pub fn render(&self) -> String {
        let mut out = String::new();
        render_node(&self.root, &mut Key::EMPTY.clone(), 0, &mut out);
        let fresh = if self.fresh { " fresh" } else { "" };
        match (self.lanes.count(), self.starts.first()) {
            _ if self.is_complete() => out.push_str("complete\n"),
            (1, Some(Some(missing))) => out.push_str(&format!("missing: [{missing}, ∞){fresh}\n")),
            _ => {
                for (lane, start) in self.starts.iter().enumerate() {
                    let end = self.lanes.end(lane).map_or("∞".to_string(), |end| end.to_string());
                    match start {
                        None => out.push_str(&format!("lane {lane}: done\n")),
                        Some(start) => out.push_str(&format!("lane {lane}: missing [{start}, {end}){fresh}\n")),
                    }
                }
            }
        }
        out
    }
}

impl fmt::Debug for Trie {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Trie")
            .field("missing", &self.starts)
            .field("fresh", &self.fresh)
            .field("len", &self.len)
            .field("root", &self.root_if_computable())
            .finish()
    }
}

impl AsRef<Key> for Key {
    fn as_ref(&self) -> &Key {
        self
    }
}

/// The greatest value-bearing key in `child`'s subtree (`child_key` is its key). `None` for a stump.
fn max_key(mut child_key: Key, child: &node::Child) -> Option<Key> {
    let Link::Node(node) = &child.link else { return None };
    let mut node: &Arc<Node> = node;
    loop {
        match node.children.last() {
            None => return node.value.as_ref().map(|_| child_key),
            Some(last) => {
                child_key.extend(last.suffix.nibbles());
                let Link::Node(next) = &last.link else { return None };
                node = next;
            }
        }
    }
}

/// Pre-order walk of the stored values at keys `≥ start`, in key order, until `visit` breaks; subtrees entirely
/// below `start` are skipped without being visited. After a break, `prefix` is the key visited last.
pub(crate) fn walk_from(
    node: &Node,
    prefix: &mut Key,
    start: &Key,
    visit: &mut dyn FnMut(&Key, &[u8]) -> ControlFlow<()>,
) -> ControlFlow<()> {
    if let Some(value) = &node.value {
        if *prefix >= *start {
            visit(prefix, value)?;
        }
    }
    for child in &node.children {
        let Link::Node(next) = &child.link else { continue };
        let depth = prefix.len();
        prefix.extend(child.suffix.nibbles());
        if *prefix >= *start || start.starts_with(prefix) {
            walk_from(next, prefix, start, visit)?;
        }
        prefix.truncate(depth);
    }
    ControlFlow::Continue(())
}

fn render_node(node: &Node, prefix: &mut Key, indent: usize, out: &mut String) {
    let value = node.value.as_ref().map(|value| format!(" = {}", String::from_utf8_lossy(value))).unwrap_or_default();
    out.push_str(&format!("{:indent$}{prefix}{value}\n", "", indent = indent * 2));
    for child in &node.children {
        let depth = prefix.len();
        prefix.extend(child.suffix.nibbles());
        match &child.link {
            Link::Node(next) => render_node(next, prefix, indent + 1, out),
            Link::ProvenStump(hash) => {
                out.push_str(&format!("{:indent$}{prefix} stump {hash:?}\n", "", indent = (indent + 1) * 2))
            }
            Link::UnknownStump => {
                out.push_str(&format!("{:indent$}{prefix} stump unknown\n", "", indent = (indent + 1) * 2))
            }
        }
        prefix.truncate(depth);
    }
}
