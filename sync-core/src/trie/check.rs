//! The trie's own invariants (§5.1 S2): the cheap check along every lane's boundary path, and the full walk
//! that re-hashes what it has not verified before.

use super::edit::boundary_path;
use super::node::{self, Link, Node, NodeHash};
use super::{Key, Trie};
use std::collections::BTreeMap;
use std::sync::Arc;

/// Nodes whose hash a full check verified (`Trie::check_invariants_full_reusing`), each held with the key it
/// sits at. Holding a node keeps it from being changed in place (a node is mutated only while nothing else holds
/// it), so its hash stays verified as long as it is held; a later check hashes only the nodes it has not seen.
/// Only the nodes of the last check are held.
#[derive(Clone, Debug, Default)]
pub struct VerifiedHashes {
    nodes: BTreeMap<usize, (Arc<Node>, Key)>,
}

impl VerifiedHashes {
    /// How many nodes are held.
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// `node` at `prefix` was verified by the last check.
    fn holds(&self, node: &Arc<Node>, prefix: &Key) -> bool {
        self.nodes.get(&(Arc::as_ptr(node) as usize)).is_some_and(|(held, at)| Arc::ptr_eq(held, node) && at == prefix)
    }
}

/// One full check's walk: the trie, the boundary path's nodes, the values counted, and the hashes verified.
struct FullCheck<'a> {
    trie: &'a Trie,
    boundary: Vec<*const Node>,
    counted: usize,
    previous: &'a VerifiedHashes,
    verified: Option<VerifiedHashes>,
}

impl Trie {
    /// The cheap part of §5.1 S2, fit for every step: the nodes on the boundary path are canonical and
    /// hashed, their stumps lie at or beyond `s`, and freshness and completeness are consistent.
    /// Internal invariants: a failure is a bug in this crate.
    pub fn check_invariants(&self) {
        assert!(self.root.hash != NodeHash::Dirty, "no dirty root between calls");
        assert!(self.root.value.is_none(), "ε never holds a value");
        assert_eq!(self.starts.len(), self.lanes.count(), "one missing start per lane");
        for (lane, start) in self.starts.iter().enumerate() {
            let start_in_lane = start.as_ref().is_none_or(|start| self.lanes.holds(lane, start));
            assert!(start_in_lane, "lane {lane}'s missing start {start:?} lies in the lane");
            if self.fresh {
                assert_eq!(start.as_ref(), Some(&self.lanes.start(lane)), "a fresh trie misses everything");
            }
        }
        assert!(!self.fresh || self.len == 0, "a fresh trie holds nothing");
        if self.is_complete() {
            assert!(self.root_if_computable().is_some(), "a complete trie has a computable root");
            return;
        }
        let mut unknown_stumps = 0;
        for (lane, missing) in self.starts.iter().enumerate() {
            let Some(missing) = missing else { continue };
            boundary_path(&self.root, missing.nibbles(), |depth, node| {
                assert!(depth == 0 || !node.is_redundant(), "canonical shape on the boundary path");
                // A node on the path has `missing`'s first `depth` nibbles as its key, so a child's key compares
                // with `missing` as the child's suffix compares with the rest of `missing`: no key is built
                // unless an assertion fails. The root's children split among lanes by their first nibble; below
                // the root, every node lies in `missing`'s lane (this check ran at 9 % of explore's instructions
                // building a key for each of the root's sixteen children, once per lane).
                let rest = &missing.nibbles()[depth..];
                let in_lane = node.children.iter().filter(|child| {
                    depth > 0 || child.suffix.nibbles().first().is_some_and(|&slot| self.lanes.of_nibble(slot) == lane)
                });
                for child in in_lane {
                    let at_or_beyond = child.suffix.nibbles() >= rest;
                    let key = || {
                        let mut key = missing.prefix(depth);
                        key.extend(child.suffix.nibbles());
                        key
                    };
                    if child.link.is_stump() {
                        assert!(at_or_beyond, "a stump {} below s = {missing}", key());
                        unknown_stumps += usize::from(matches!(child.link, Link::UnknownStump));
                    } else {
                        assert!(!at_or_beyond, "a stored node {} at or beyond s = {missing}", key());
                    }
                }
            });
        }
        let root_unknown = self.root.hash == NodeHash::Unknown;
        assert_eq!(unknown_stumps > 0, root_unknown, "unknown stumps and only they make the root unknown");
    }

    /// All of §5.1 S2, walking every node: canonical shape, hashes that match the node bytes, no stored
    /// node at or beyond `s`, stumps only on the boundary path, the known count exact. O(size): for tests and
    /// the simulator's periodic deep checks.
    pub fn check_invariants_full(&self) {
        self.full_check(&VerifiedHashes::default(), false);
    }

    /// `check_invariants_full`, hashing only the nodes the last such check (`verified`) did not verify; every
    /// other condition is checked on every node. `verified` then holds this check's nodes. For the simulator's
    /// periodic deep checks, where most nodes are unchanged since the last one.
    pub fn check_invariants_full_reusing(&self, verified: &mut VerifiedHashes) {
        *verified = self.full_check(verified, true).unwrap_or_default();
    }

    fn full_check(&self, previous: &VerifiedHashes, keep: bool) -> Option<VerifiedHashes> {
        self.check_invariants();
        let mut boundary = Vec::new();
        for missing in self.starts.iter().flatten() {
            boundary_path(&self.root, missing.nibbles(), |_, node| boundary.push(node as *const Node));
        }
        let verified = keep.then(VerifiedHashes::default);
        let mut walk = FullCheck { trie: self, boundary, counted: 0, previous, verified };
        check_node(&mut walk, &self.root, &mut Key::default());
        assert_eq!(walk.counted, self.len, "the known count drifted from the stored values");
        walk.verified
    }
}

fn check_node(walk: &mut FullCheck<'_>, node: &Arc<Node>, prefix: &mut Key) {
    let trie = walk.trie;
    let is_root = prefix.is_empty();
    assert!(node.hash != NodeHash::Dirty, "no dirty node between calls ({prefix})");
    assert!(is_root || !node.is_redundant(), "canonical shape: a valueless node {prefix} with < 2 children");
    assert!(!is_root || node.value.is_none(), "ε never holds a value");
    if let Some(missing) = trie.lane_start(trie.lanes.of_key(prefix)) {
        assert!(*prefix < *missing || (is_root && missing.is_empty()), "a stored node {prefix} at or beyond s");
    }
    if node.value.is_some() {
        walk.counted += 1;
    }
    let mut has_unknown = false;
    let mut last_slot = None;
    for child in &node.children {
        let slot = child.suffix.nibbles().first().copied();
        assert!(slot.is_some(), "an empty edge suffix below {prefix}");
        assert!(slot > last_slot, "slots ascend without duplicates below {prefix}");
        last_slot = slot;
        let depth = prefix.len();
        prefix.extend(child.suffix.nibbles());
        match &child.link {
            Link::Node(next) => {
                has_unknown |= next.hash == NodeHash::Unknown;
                check_node(walk, next, prefix);
            }
            stump => {
                has_unknown |= matches!(stump, Link::UnknownStump);
                let on_boundary = walk.boundary.contains(&(Arc::as_ptr(node)));
                assert!(on_boundary, "a stump {prefix} hangs off the boundary path");
                let missing = trie.lane_start(trie.lanes.of_key(prefix));
                assert!(missing.is_some_and(|missing| *prefix >= *missing), "a stump {prefix} below s");
            }
        }
        prefix.truncate(depth);
    }
    assert_eq!(has_unknown, node.hash == NodeHash::Unknown, "unknown status propagates to the root ({prefix})");
    if let Some(verified) = &mut walk.verified {
        verified.nodes.insert(Arc::as_ptr(node) as usize, (Arc::clone(node), prefix.clone()));
    }
    if walk.previous.holds(node, prefix) {
        return;
    }
    if let NodeHash::Known(hash) = node.hash {
        let mut bytes = Vec::with_capacity(64 + 40 * node.children.len());
        let slots = node.children.iter().map(|child| (child.suffix.nibbles(), child.link.hash().unwrap_or_default()));
        node::encode_node(prefix.nibbles(), node.value.as_deref(), slots, &mut bytes);
        assert_eq!(crate::hash::blake2b_256(&bytes), hash, "stale hash at {prefix}");
    }
}
