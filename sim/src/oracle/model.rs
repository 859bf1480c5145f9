//! A deliberately naive model of the state, independent of `sync_core`'s trie (docs/protocol.md §7.6).
//!
//! The producer's states are `sync_core::Trie`s, like the node's: a hashing or shape bug shared by both would
//! pass every other check. This model shares no code with them. The state is a sorted map from nibble strings to
//! values; a block's body is executed on it directly; the root is computed by a direct recursion over the sorted
//! keys, following the hash rule (§2.3) as written: a node for every key with a value and for every point where
//! two keys part, each node's bytes its key, its value and its sixteen slots. Hashes come from the `blake2` crate
//! itself. It is written to be read, not to be fast: the oracle follows the canonical chain with it once per run
//! and computes the root at a few heights only, the second reusing the first's nodes that no change reached.

use super::{breach, Verdict};
use crate::outcome::FailureClass;
use crate::producer::ChainStore;
use blake2::digest::consts::U32;
use blake2::{Blake2b, Digest};
use std::collections::{BTreeMap, BTreeSet};
use sync_core::Op;

/// A key as its nibbles (each 0..=15). `Vec<u8>`'s own order is the protocol's: a prefix sorts before its
/// extensions.
type Nibbles = Vec<u8>;

fn blake2b_256(bytes: &[u8]) -> [u8; 32] {
    Blake2b::<U32>::digest(bytes).into()
}

/// `key_enc`: the nibble count, then the nibbles two to a byte, the first in the high half, a zero pad.
fn key_enc(nibbles: &[u8], out: &mut Vec<u8>) {
    out.push(nibbles.len() as u8);
    out.extend(nibbles.chunks(2).map(|pair| pair[0] << 4 | pair.get(1).copied().unwrap_or(0)));
}

/// The state as a sorted map.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NaiveState {
    map: BTreeMap<Nibbles, Vec<u8>>,
}

/// A block's net changes: every key whose value changed, with its new value (`None`: deleted).
pub type NaiveDiff = BTreeMap<Nibbles, Option<Vec<u8>>>;

impl NaiveState {
    /// A state of `items`; a later duplicate key overwrites an earlier one.
    pub fn new<'a>(items: impl IntoIterator<Item = (&'a [u8], &'a [u8])>) -> NaiveState {
        NaiveState { map: items.into_iter().map(|(key, value)| (key.to_vec(), value.to_vec())).collect() }
    }

    pub fn len(&self) -> usize {
        self.map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// Executes a body: `Set`, `Delete`, and `Mix` (BLAKE2b-256 of the old value, or of nothing, then the
    /// salt). Returns the net changes.
    pub fn execute(&mut self, ops: &[Op]) -> NaiveDiff {
        let mut before: BTreeMap<Nibbles, Option<Vec<u8>>> = BTreeMap::new();
        for op in ops {
            let key = op.key().nibbles().to_vec();
            let old = self.map.get(&key).cloned();
            before.entry(key.clone()).or_insert_with(|| old.clone());
            match op {
                Op::Set(_, value) => {
                    self.map.insert(key, value.clone());
                }
                Op::Delete(_) => {
                    self.map.remove(&key);
                }
                Op::Mix(_, salt) => {
                    let mut input = old.unwrap_or_default();
                    input.extend_from_slice(salt);
                    self.map.insert(key, blake2b_256(&input).to_vec());
                }
            }
        }
        before
            .into_iter()
            .filter_map(|(key, old)| {
                let new = self.map.get(&key).cloned();
                (new != old).then_some((key, new))
            })
            .collect()
    }

    /// The state root: the hash of the root node, whose key is ε.
    pub fn root(&self) -> [u8; 32] {
        self.root_reusing(&mut Subtrees::default())
    }

    /// The state root, taking from `subtrees` the hash of each node with children that no key changed since the
    /// last root; `subtrees` then holds this root's.
    fn root_reusing(&self, subtrees: &mut Subtrees) -> [u8; 32] {
        let entries: Vec<(&[u8], &[u8])> =
            self.map.iter().map(|(key, value)| (key.as_slice(), value.as_slice())).collect();
        let root = node_hash(&[], &entries, subtrees);
        subtrees.last = std::mem::take(&mut subtrees.next);
        subtrees.changed.clear();
        root
    }
}

/// The hashes of the last root's nodes with children, by node key, and the keys set or deleted since. A node's
/// entries are all the entries under its key (the key is their longest common prefix), so a node whose key no
/// changed key starts with holds the same entries as then, and has the same hash. Callgrind of `explore --seeds
/// 40`, the roots' instructions: 484 M without, 391 M with; 448 M keeping only subtrees of eight entries or more
/// (most of them hold a changed key), 466 M keeping leaves too (a leaf hashes in less than its bookkeeping).
#[derive(Default)]
struct Subtrees {
    last: BTreeMap<Nibbles, [u8; 32]>,
    next: BTreeMap<Nibbles, [u8; 32]>,
    changed: BTreeSet<Nibbles>,
}

impl Subtrees {
    fn unchanged(&self, key: &[u8]) -> Option<[u8; 32]> {
        let hash = self.last.get(key)?;
        let touched = self.changed.range::<[u8], _>((std::ops::Bound::Included(key), std::ops::Bound::Unbounded));
        match touched.map(Vec::as_slice).next() {
            Some(changed) if changed.starts_with(key) => None,
            _ => Some(*hash),
        }
    }
}

/// The hash of the node with key `key` over `entries`: every entry's key starts with `key`, in order.
fn node_hash(key: &[u8], entries: &[(&[u8], &[u8])], subtrees: &mut Subtrees) -> [u8; 32] {
    if let Some(hash) = (entries.len() > 1).then(|| subtrees.unchanged(key)).flatten() {
        subtrees.next.insert(key.to_vec(), hash);
        return hash;
    }
    let (value, below) = match entries.first() {
        Some((first, value)) if first.len() == key.len() => (Some(*value), &entries[1..]),
        _ => (None, entries),
    };
    // Room for the key, the value and sixteen slots (of a short key and a hash each, unless this is a leaf): one
    // allocation per node.
    let slots = if below.is_empty() { 16 } else { 16 * 48 };
    let mut bytes = Vec::with_capacity(64 + value.map_or(0, <[u8]>::len) + slots);
    key_enc(key, &mut bytes);
    match value {
        None => bytes.push(0),
        Some(value) => {
            bytes.push(1);
            bytes.extend_from_slice(&(value.len() as u32).to_le_bytes());
            bytes.extend_from_slice(value);
        }
    }
    if below.is_empty() {
        // A leaf: sixteen empty slots. Hashing it again costs less than keeping its hash.
        bytes.extend_from_slice(&[0; 16]);
        return blake2b_256(&bytes);
    }
    // The entries are sorted, so each slot's keys follow one another: slot by slot, take the run of keys whose
    // next nibble is the slot.
    let mut rest = below;
    for slot in 0..16u8 {
        let count = rest.iter().take_while(|(k, _)| k[key.len()] == slot).count();
        let (group, after) = rest.split_at(count);
        rest = after;
        let (Some(first), Some(last)) = (group.first(), group.last()) else {
            bytes.push(0);
            continue;
        };
        // The child's key: the longest prefix all keys of the slot share (the first and the last, sorted).
        let shared = first.0.iter().zip(last.0).take_while(|(a, b)| a == b).count();
        let child_key = &first.0[..shared];
        bytes.push(1);
        key_enc(&child_key[key.len()..], &mut bytes);
        bytes.extend_from_slice(&node_hash(child_key, group, subtrees));
    }
    let hash = blake2b_256(&bytes);
    subtrees.next.insert(key.to_vec(), hash);
    hash
}

/// The commitment to a diff: its entries' count, then each key, a presence flag, and the value's length and
/// bytes (docs/protocol.md §3.2).
pub fn diff_root(diff: &NaiveDiff) -> [u8; 32] {
    let mut bytes = (diff.len() as u32).to_le_bytes().to_vec();
    for (key, value) in diff {
        key_enc(key, &mut bytes);
        match value {
            None => bytes.push(0),
            Some(value) => {
                bytes.push(1);
                bytes.extend_from_slice(&(value.len() as u32).to_le_bytes());
                bytes.extend_from_slice(value);
            }
        }
    }
    blake2b_256(&bytes)
}

/// Follows the canonical chain from genesis with the naive model: every block's diff and diff root are checked
/// against the producer's, and the state root halfway along the chain and at the tip. Returns how many roots it
/// computed.
pub fn check_chain(store: &ChainStore) -> Result<u32, super::Breach> {
    let items = store.genesis_items.iter().map(|(key, value)| (key.nibbles(), value.as_slice()));
    let mut state = NaiveState::new(items);
    let tip = store.tip().block.number();
    let sampled = |number: u32| number == tip || number == tip / 2;
    let mut roots = 0;
    let mut subtrees = Subtrees::default();
    for produced in store.canonical(tip) {
        let (block, number) = (&produced.block, produced.block.number());
        if number > 0 {
            let ops = block.body().unwrap_or_default();
            let diff = state.execute(ops);
            // The producer's entries are strictly ascending (`TrieDiff` refuses any other), in the order of
            // nibble strings, as the model's map is: compared in step, without a copy of them.
            let ours = diff.iter().map(|(key, value)| (key.as_slice(), value.as_deref()));
            let producers = produced.diff.entries().iter().map(|(key, value)| (key.nibbles(), value.as_deref()));
            if !ours.eq(producers) || diff_root(&diff) != block.header().diff_root.0 {
                return Err(model_breach(format!("block #{number}'s diff differs from the naive model's")));
            }
            subtrees.changed.extend(diff.into_keys());
        }
        if sampled(number) {
            roots += 1;
            if state.root_reusing(&mut subtrees) != block.header().state_root.0 {
                return Err(model_breach(format!("block #{number}'s state root differs from the naive model's")));
            }
        }
    }
    Ok(roots)
}

fn model_breach(what: String) -> super::Breach {
    match breach(FailureClass::Safety, format!("oracle: {what}")) {
        Err(breach) => breach,
        Ok(()) => unreachable!("breach always fails"),
    }
}

/// Cross-checks the producer's chain; a run that passes everything else must pass this too.
pub fn verdict(store: &ChainStore) -> Verdict {
    check_chain(store).map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use sync_core::{Key, Trie, EMPTY_ROOT};

    fn state(items: &[(&[u8], &[u8])]) -> NaiveState {
        NaiveState::new(items.iter().copied())
    }

    /// Every block's diff is compared with the model's: a value changed, an entry dropped and an entry added are
    /// each a breach.
    #[test]
    fn a_producer_diff_unlike_the_models_is_a_breach() {
        use crate::options::Options;
        use crate::producer::Producer;
        use sync_core::TrieDiff;
        let (mut producer, mut store) = Producer::new(&Options { accounts: 40, ..Options::default() });
        for _ in 0..12 {
            producer.step(&mut store, false);
        }
        assert_eq!(check_chain(&store).map_err(|breach| breach.what), Ok(2), "the untouched chain passes");
        let changed = (1..=12).find(|&n| !store.canonical_at(n).is_some_and(|p| p.diff.is_empty())).unwrap_or(1);
        let hash = store.canonical_at(changed).map(|produced| produced.block.hash()).unwrap_or_default();
        type Tamper = fn(&mut Vec<(Key, Option<Vec<u8>>)>);
        let tampers: [(&str, Tamper); 3] = [
            ("a value changed", |entries| entries[0].1 = Some(vec![9])),
            ("an entry dropped", |entries| drop(entries.pop())),
            ("an entry added", |entries| entries.push((Key::from_bytes(&[0xff; 24]).unwrap_or_default(), None))),
        ];
        for (what, tamper) in tampers {
            let mut tampered = store.clone();
            let diff = tampered.diff_mut(&hash).unwrap();
            let mut entries = diff.entries().to_vec();
            tamper(&mut entries);
            *diff = TrieDiff::new(entries).unwrap();
            let breach = check_chain(&tampered).map_err(|breach| breach.what);
            assert_eq!(
                breach,
                Err(format!("oracle: block #{changed}'s diff differs from the naive model's")),
                "{what}"
            );
        }
    }

    #[test]
    fn the_empty_map_hashes_eighteen_zero_bytes() {
        assert_eq!(state(&[]).root(), blake2b_256(&[0; 18]));
        assert_eq!(state(&[]).root(), EMPTY_ROOT.0, "and agrees with the trie's constant");
    }

    /// One key `4a` = "x", by hand: the leaf is `02 4a` (key), `01 01000000 78` (value), 16 empty slots; the
    /// root is `00` (ε), `00` (no value), slots 0–3 empty, slot 4 = `01` `02 4a` leaf hash, slots 5–15 empty.
    #[test]
    fn one_key_by_hand() {
        let mut leaf = vec![0x02, 0x4a, 0x01, 0x01, 0x00, 0x00, 0x00, b'x'];
        leaf.extend([0u8; 16]);
        let mut root = vec![0x00, 0x00, 0, 0, 0, 0, 0x01, 0x02, 0x4a];
        root.extend(blake2b_256(&leaf));
        root.extend([0u8; 11]);
        assert_eq!(state(&[(&[4, 10], b"x")]).root(), blake2b_256(&root));
    }

    /// `4` = "a" and `4a` = "b": the shorter key is a hybrid node holding a value and the longer key's slot. By
    /// hand: leaf `4a` is `02 4a 01 01000000 62` and 16 empty slots; the hybrid `4` is `01 40 01 01000000 61`,
    /// slots 0–9 empty, slot a = `01 01 a0` leaf hash, slots b–f empty; the root has slot 4 = `01 01 40` hybrid.
    #[test]
    fn a_key_that_is_a_prefix_of_another_by_hand() {
        let mut leaf = vec![0x02, 0x4a, 0x01, 0x01, 0x00, 0x00, 0x00, b'b'];
        leaf.extend([0u8; 16]);
        let mut hybrid = vec![0x01, 0x40, 0x01, 0x01, 0x00, 0x00, 0x00, b'a'];
        hybrid.extend([0u8; 10]);
        hybrid.extend([0x01, 0x01, 0xa0]);
        hybrid.extend(blake2b_256(&leaf));
        hybrid.extend([0u8; 5]);
        let mut root = vec![0x00, 0x00, 0, 0, 0, 0, 0x01, 0x01, 0x40];
        root.extend(blake2b_256(&hybrid));
        root.extend([0u8; 11]);
        assert_eq!(state(&[(&[4], b"a"), (&[4, 10], b"b")]).root(), blake2b_256(&root));
    }

    #[test]
    fn a_body_executes_to_its_net_changes() {
        let mut naive = state(&[(&[1], b"one"), (&[2], b"two")]);
        let key = |hex: &str| Key::from_hex(hex).unwrap();
        let diff = naive.execute(&[
            Op::Set(key("1"), b"uno".to_vec()),
            Op::Delete(key("2")),
            Op::Set(key("3"), b"x".to_vec()),
            Op::Delete(key("3")),
            Op::Mix(key("4"), b"salt".to_vec()),
        ]);
        let expected: NaiveDiff =
            [(vec![1], Some(b"uno".to_vec())), (vec![2], None), (vec![4], Some(blake2b_256(b"salt").to_vec()))]
                .into_iter()
                .collect();
        assert_eq!(diff, expected, "set then deleted leaves no entry");
    }

    fn keys() -> impl Strategy<Value = Vec<u8>> {
        prop::collection::vec(0u8..4, 1..6)
    }

    proptest! {
        /// On any map (small alphabet and short keys: prefixes and hybrids are common), the naive root is the
        /// trie's root, and a body's net changes are the trie's diff.
        #[test]
        fn the_naive_model_agrees_with_the_trie(
            items in prop::collection::vec((keys(), prop::collection::vec(any::<u8>(), 0..40)), 0..60),
            writes in prop::collection::vec((keys(), prop::option::of(prop::collection::vec(any::<u8>(), 0..8))), 0..20),
        ) {
            let trie_items: Vec<(Key, Vec<u8>)> =
                items.iter().map(|(key, value)| (Key::from_nibbles(key).unwrap(), value.clone())).collect();
            let trie = Trie::from_items(trie_items).unwrap();
            let mut naive = NaiveState::new(items.iter().map(|(key, value)| (key.as_slice(), value.as_slice())));
            let mut subtrees = Subtrees::default();
            prop_assert_eq!(naive.root_reusing(&mut subtrees), trie.root_if_computable().unwrap().0);
            let ops: Vec<Op> = writes
                .into_iter()
                .enumerate()
                .map(|(index, (key, value))| {
                    let key = Key::from_nibbles(&key).unwrap();
                    match (value, index % 3) {
                        (Some(_), 0) => Op::Mix(key, vec![index as u8]),
                        (Some(value), _) => Op::Set(key, value),
                        (None, _) => Op::Delete(key),
                    }
                })
                .collect();
            let (next, trie_diff) = trie.execute(&ops).unwrap();
            let diff = naive.execute(&ops);
            prop_assert_eq!(naive.root(), next.root_if_computable().unwrap().0);
            subtrees.changed.extend(diff.keys().cloned());
            prop_assert_eq!(naive.root_reusing(&mut subtrees), naive.root(), "unchanged subtrees kept, the rest anew");
            let expected: NaiveDiff =
                trie_diff.entries().iter().map(|(key, value)| (key.nibbles().to_vec(), value.clone())).collect();
            prop_assert_eq!(diff_root(&diff), trie_diff.root().0);
            prop_assert_eq!(diff, expected);
        }
    }
}
