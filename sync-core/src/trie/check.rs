//! The trie's own invariants (§5.1 S2): the cheap check along every lane's boundary path, and the full walk
//! that skips what it verified before and cannot have changed.

use super::edit::boundary_path;
use super::lanes::Lanes;
use super::node::{self, Link, Node, NodeHash};
use super::{Key, Trie};
use std::sync::Arc;

/// The trie as the last full check (`Trie::check_invariants_full_reusing`) verified it: its root, lanes, missing
/// starts and known count. Holding the root keeps every node of that version from being changed in place (a node
/// is mutated only while nothing else holds it), so a node of the next version that is the very node at the very
/// position is still verified. At most one old version is held: a bounded cost of memory.
#[derive(Clone, Debug, Default)]
pub struct VerifiedHashes {
    last: Option<Verified>,
}

#[derive(Clone, Debug)]
struct Verified {
    root: Arc<Node>,
    lanes: Lanes,
    starts: Arc<Vec<Option<Key>>>,
    len: usize,
}

/// What one full check did: the nodes it walked and the nodes it hashed. The rest it skipped as verified.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CheckWork {
    pub visited: usize,
    pub hashed: usize,
}

/// One full check's walk: the trie, the boundary path's nodes, the values counted on both versions, and the
/// version the last check verified.
struct FullCheck<'a> {
    trie: &'a Trie,
    boundary: Vec<*const Node>,
    /// Values in the nodes of this version the walk visited, and in the nodes of the last version it visited.
    counted: usize,
    uncounted: usize,
    previous: Option<&'a Verified>,
    work: CheckWork,
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
        self.full_check(None);
    }

    /// `check_invariants_full`, skipping what the last such check (`verified`) verified and what cannot have
    /// changed since; `verified` then holds this version. Each node is paired with the node at its position in
    /// the last version. The very same node there (`Arc::ptr_eq`) is immutable, so its hash, shape and slots
    /// hold and it is not hashed again. Its whole subtree is skipped when, besides, it held no stump (see
    /// `unchanged_subtree_holds`: nothing else in it depends on `s`, which may have moved either way). The
    /// known count is the last version's, plus the values walked here, minus those walked in the last version:
    /// a skipped subtree is the same in both. Every other node is checked as by `check_invariants_full`. For the
    /// simulator's periodic deep checks, where most of the trie is unchanged since the last one.
    pub fn check_invariants_full_reusing(&self, verified: &mut VerifiedHashes) -> CheckWork {
        let work = self.full_check(verified.last.as_ref());
        let starts = Arc::clone(&self.starts);
        verified.last = Some(Verified { root: Arc::clone(&self.root), lanes: self.lanes, starts, len: self.len });
        work
    }

    fn full_check(&self, previous: Option<&Verified>) -> CheckWork {
        self.check_invariants();
        let mut boundary = Vec::new();
        for missing in self.starts.iter().flatten() {
            boundary_path(&self.root, missing.nibbles(), |_, node| boundary.push(node as *const Node));
        }
        let mut walk =
            FullCheck { trie: self, boundary, counted: 0, uncounted: 0, previous, work: CheckWork::default() };
        check_node(&mut walk, &self.root, &mut Key::default(), previous.map(|last| &last.root));
        let counted = (previous.map_or(0, |last| last.len) + walk.counted).checked_sub(walk.uncounted);
        assert_eq!(counted, Some(self.len), "the known count drifted from the stored values");
        walk.work
    }
}

impl FullCheck<'_> {
    /// The subtree at `prefix`, the very one the last check verified at `prefix`, needs no walk if it holds no
    /// stump: the last version's `s` of its lane does not run through it, and stumps hang only off the boundary
    /// path. Then the one rule in it that depends on `s` is that no stored node lies at or beyond `s`, and
    /// `check_invariants`, run first, proves that along the boundary path, off which the topmost such node would
    /// hang. (A condition "wholly below the new `s`" here survived every mutation: it was that proof again.)
    fn unchanged_subtree_holds(&self, prefix: &Key) -> bool {
        let Some(last) = self.previous else { return false };
        if prefix.is_empty() || last.lanes != self.trie.lanes {
            return false;
        }
        let lane = self.trie.lanes.of_key(prefix);
        last.starts[lane].as_ref().is_none_or(|start| !start.starts_with(prefix))
    }
}

/// The values stored in `node`'s subtree, for a subtree of the last version that this one no longer holds.
fn values_below(node: &Node) -> usize {
    let below = node.children.iter().map(|child| match &child.link {
        Link::Node(next) => values_below(next),
        _ => 0,
    });
    usize::from(node.value.is_some()) + below.sum::<usize>()
}

/// The child of `old` at the same position as `child` (same slot, same suffix) if it is a stored node.
fn paired<'a>(old: Option<&'a Arc<Node>>, child: &node::Child) -> Option<&'a Arc<Node>> {
    let held = old?.child_in_slot(child.suffix.nibbles()[0])?;
    match &held.link {
        Link::Node(next) if held.suffix == child.suffix => Some(next),
        _ => None,
    }
}

fn check_node(walk: &mut FullCheck<'_>, node: &Arc<Node>, prefix: &mut Key, old: Option<&Arc<Node>>) {
    let same = old.is_some_and(|old| Arc::ptr_eq(old, node));
    if same && walk.unchanged_subtree_holds(prefix) {
        return;
    }
    walk.work.visited += 1;
    let trie = walk.trie;
    let is_root = prefix.is_empty();
    assert!(node.hash != NodeHash::Dirty, "no dirty node between calls ({prefix})");
    assert!(is_root || !node.is_redundant(), "canonical shape: a valueless node {prefix} with < 2 children");
    assert!(!is_root || node.value.is_none(), "ε never holds a value");
    if let Some(missing) = trie.lane_start(trie.lanes.of_key(prefix)) {
        assert!(*prefix < *missing || (is_root && missing.is_empty()), "a stored node {prefix} at or beyond s");
    }
    walk.counted += usize::from(node.value.is_some());
    walk.uncounted += old.map_or(0, |old| usize::from(old.value.is_some()));
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
                check_node(walk, next, prefix, paired(old, child));
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
    // The last version's subtrees that no child of this node pairs with: their values are gone from the count.
    for held in old.map_or(&[][..], |old| &old.children[..]) {
        if let Link::Node(gone) = &held.link {
            let child = node.child_in_slot(held.suffix.nibbles()[0]);
            let kept = child.is_some_and(|child| !child.link.is_stump() && paired(old, child).is_some());
            if !kept {
                walk.uncounted += values_below(gone);
            }
        }
    }
    assert_eq!(has_unknown, node.hash == NodeHash::Unknown, "unknown status propagates to the root ({prefix})");
    if same {
        return;
    }
    if let NodeHash::Known(hash) = node.hash {
        walk.work.hashed += 1;
        let mut bytes = Vec::with_capacity(64 + 40 * node.children.len());
        let slots = node.children.iter().map(|child| (child.suffix.nibbles(), child.link.hash().unwrap_or_default()));
        node::encode_node(prefix.nibbles(), node.value.as_deref(), slots, &mut bytes);
        assert_eq!(crate::hash::blake2b_256(&bytes), hash, "stale hash at {prefix}");
    }
}
