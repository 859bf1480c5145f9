//! Shape-preserving edits on copy-on-write nodes: insertion (splitting edges), removal (merging nodes),
//! stumps carried along both (§2.2, §2.9), the missing-key rules of §2.9, and dropping boundary stumps
//! before a chunk is applied (§2.8).
//!
//! A stump behaves as an opaque leaf: splits shorten its suffix, merges lengthen it, its hash or unknown
//! status travels with it. That one rule is why H1 (deleting the last known sibling of a stump) needs no
//! special case here.

use super::node::{canonicalize_child, edge_common, insert_child, leaf_hash, split_edge, Link, Node, Value};
use crate::key::Key;
use std::sync::Arc;

/// What is inserted: a value, or a stump (opaque subtree) at that key.
#[derive(Debug)]
pub(crate) enum Entry {
    Value(Value),
    Stump(Link),
}

impl Entry {
    fn into_link(self) -> Link {
        match self {
            Entry::Value(value) => Link::Node(Arc::new(Node::leaf(value))),
            Entry::Stump(link) => link,
        }
    }
}

/// An insertion that no canonical trie can hold: the entry overlaps a stump, or a stump overlaps stored nodes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Conflict {
    /// The key lies in a stump's region (it extends or equals the stump's key).
    InsideStump,
    /// A stump's key is the key of a stored node or a prefix of one.
    StumpOverStored,
}

/// Inserts `entry` at `key` below `node`, whose key is `key[..depth]`. Returns the replaced value, if any.
pub(crate) fn insert(node: &mut Arc<Node>, depth: usize, key: &[u8], entry: Entry) -> Result<Option<Value>, Conflict> {
    let node = Arc::make_mut(node);
    node.mark_dirty();
    if key.len() == depth {
        return match entry {
            Entry::Value(value) => Ok(node.value.replace(value)),
            Entry::Stump(_) => Err(Conflict::StumpOverStored),
        };
    }
    let rest = &key[depth..];
    let index = match node.slot(rest[0]) {
        Err(_) => {
            insert_child(node, Key::from_checked(rest), entry.into_link());
            return Ok(None);
        }
        Ok(index) => index,
    };
    let child = &mut node.children[index];
    let common = edge_common(&child.suffix, rest);
    if common == child.suffix.len() {
        return match &mut child.link {
            Link::Node(grandchild) => insert(grandchild, depth + common, key, entry),
            _ => Err(Conflict::InsideStump),
        };
    }
    if common == rest.len() && matches!(entry, Entry::Stump(_)) {
        return Err(Conflict::StumpOverStored);
    }
    let branch = split_edge(child, common);
    match entry {
        Entry::Value(value) if common == rest.len() => branch.value = Some(value),
        entry => insert_child(branch, Key::from_checked(&rest[common..]), entry.into_link()),
    }
    Ok(None)
}

/// Removes the value at `key` below `node` (key `key[..depth]`) and restores the canonical shape below `node`.
/// The caller has checked that the value exists. `node` itself may become redundant: its parent canonicalizes it
/// (the root is exempt).
pub(crate) fn remove(node: &mut Arc<Node>, depth: usize, key: &[u8]) -> Option<Value> {
    let node = Arc::make_mut(node);
    node.mark_dirty();
    if key.len() == depth {
        return node.value.take();
    }
    let index = node.slot(key[depth]).ok()?;
    let child = &mut node.children[index];
    if !key[depth..].starts_with(child.suffix.nibbles()) {
        return None;
    }
    let Link::Node(grandchild) = &mut child.link else { return None };
    let removed = remove(grandchild, depth + child.suffix.len(), key);
    canonicalize_child(node, index);
    removed
}

/// Applies a diff entry for a key in the missing range `[s, ∞)` (§2.9): the value is not stored; the stump
/// that covers the key becomes unknown, or a branch is created on the boundary path. Where the new subtree is
/// exactly one new leaf, its stump is proven with the leaf's hash (the precision §2.9 allows).
///
/// `node` has key `key[..depth]`, a proper prefix of `s`. Never detaches, overwrites or re-keys a known node (H2).
pub(crate) fn mark_missing(node: &mut Arc<Node>, depth: usize, key: &[u8], value: Option<&[u8]>, missing: &[u8]) {
    debug_assert!(key >= missing, "only keys in the missing range");
    let rest = &key[depth..];
    let Some(index) = node.slot(rest[0]).ok() else {
        // An empty slot of a boundary node is empty in the full trie too: the key is new.
        if let Some(value) = value {
            let node = Arc::make_mut(node);
            node.mark_dirty();
            let stump = Link::ProvenStump(Box::new(leaf_hash(key, value)));
            insert_child(node, Key::from_checked(rest), stump);
        }
        return;
    };
    let child = &node.children[index];
    let common = edge_common(&child.suffix, rest);
    if common == child.suffix.len() {
        let child_depth = depth + common;
        let node = Arc::make_mut(node);
        node.mark_dirty();
        let child = &mut node.children[index];
        match &mut child.link {
            // A stored node whose key is a prefix of the key: the key is deeper.
            Link::Node(grandchild) => mark_missing(grandchild, child_depth, key, value, missing),
            // The key is inside the stump's region: the subtree changed in a way we cannot compute.
            stump => *stump = Link::UnknownStump,
        }
        return;
    }
    // The key diverges inside the edge: it did not exist, so a deletion is a no-op.
    let Some(value) = value else { return };
    let branch_key = &key[..depth + common];
    let node = Arc::make_mut(node);
    node.mark_dirty();
    let child = &mut node.children[index];
    if branch_key.len() < missing.len() && missing.starts_with(branch_key) {
        // The full trie gains a branch on the boundary path (H2): create it, keep the child as it was, and
        // hang the new leaf next to it.
        let branch = split_edge(child, common);
        let stump = Link::ProvenStump(Box::new(leaf_hash(key, value)));
        insert_child(branch, Key::from_checked(&rest[common..]), stump);
    } else {
        // The divergence point is itself missing: the child must be a stump, now unknown with a shorter
        // certain prefix.
        debug_assert!(child.link.is_stump(), "a known child diverging at a missing key (H2)");
        child.suffix.truncate(common);
        child.link = Link::UnknownStump;
    }
}

/// Drops every stump, proven or unknown, along the boundary path of `missing` and restores the canonical shape
/// of the known part: the first step of applying a chunk (§2.8).
pub(crate) fn drop_stumps(node: &mut Arc<Node>, depth: usize, missing: &[u8]) {
    let node = Arc::make_mut(node);
    node.mark_dirty();
    node.children.retain(|child| !child.link.is_stump());
    if depth >= missing.len() {
        return;
    }
    let Ok(index) = node.slot(missing[depth]) else { return };
    let child = &mut node.children[index];
    let rest = &missing[depth..];
    if child.suffix.len() < rest.len() && rest.starts_with(child.suffix.nibbles()) {
        let child_depth = depth + child.suffix.len();
        if let Link::Node(grandchild) = &mut child.link {
            drop_stumps(grandchild, child_depth, missing);
            canonicalize_child(node, index);
        }
    }
}

/// Visits the boundary path of `missing` from the root down: every stored node whose key is a proper prefix
/// of `missing`, with its key length.
pub(crate) fn boundary_path<'a>(root: &'a Arc<Node>, missing: &[u8], mut visit: impl FnMut(usize, &'a Node)) {
    let mut node: &Arc<Node> = root;
    let mut depth = 0;
    loop {
        visit(depth, node);
        if depth >= missing.len() {
            return;
        }
        let Some(child) = node.child_in_slot(missing[depth]) else { return };
        let rest = &missing[depth..];
        let Link::Node(next) = &child.link else { return };
        if child.suffix.len() >= rest.len() || !rest.starts_with(child.suffix.nibbles()) {
            return;
        }
        depth += child.suffix.len();
        node = next;
    }
}
