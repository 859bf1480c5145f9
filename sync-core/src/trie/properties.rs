//! Property tests of the trie (§2.11): histories, chunk mutations, interleavings of chunks and diffs, reverts.

use super::tests::root;
use super::*;
use crate::codec::{Reader, Writer};
use proptest::prelude::*;

/// Keys over a small alphabet and short lengths, so that prefixes, hybrids and shared paths are common.
fn small_key() -> impl Strategy<Value = Key> {
    prop::collection::vec(0u8..4, 1..6).prop_map(|nibbles| Key::from_nibbles(&nibbles).unwrap())
}

fn small_value() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(any::<u8>(), 0..4)
}

fn small_state() -> impl Strategy<Value = Vec<(Key, Vec<u8>)>> {
    prop::collection::vec((small_key(), small_value()), 0..40)
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (small_key(), small_value()).prop_map(|(k, v)| Op::Set(k, v)),
        small_key().prop_map(Op::Delete),
        (small_key(), small_value()).prop_map(|(k, salt)| Op::Mix(k, salt)),
    ]
}

#[derive(Clone, Debug)]
enum Step {
    Block(Vec<Op>),
    Chunk(usize),
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![prop::collection::vec(op(), 0..6).prop_map(Step::Block), (1usize..6).prop_map(Step::Chunk),]
}

/// A single mutation of an honest chunk (§2.11 fact 5).
#[derive(Clone, Debug)]
enum Mutation {
    ItemKey(usize, Key),
    ItemValue(usize, Vec<u8>),
    ItemRemoved(usize),
    ItemAdded(Key, Vec<u8>),
    ItemsSwapped(usize),
    ItemDuplicated(usize),
    End(Option<Key>),
    ProofNodeDropped(usize),
    ProofNodesSwapped(usize),
    ProofSlotHash(usize, u8),
    ProofSlotSuffix(usize, Key),
    ProofValue(usize, Option<Vec<u8>>),
    Start(Key),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<usize>(), small_key()).prop_map(|(i, k)| Mutation::ItemKey(i, k)),
        (any::<usize>(), small_value()).prop_map(|(i, v)| Mutation::ItemValue(i, v)),
        any::<usize>().prop_map(Mutation::ItemRemoved),
        (small_key(), small_value()).prop_map(|(k, v)| Mutation::ItemAdded(k, v)),
        any::<usize>().prop_map(Mutation::ItemsSwapped),
        any::<usize>().prop_map(Mutation::ItemDuplicated),
        prop::option::of(small_key()).prop_map(Mutation::End),
        any::<usize>().prop_map(Mutation::ProofNodeDropped),
        any::<usize>().prop_map(Mutation::ProofNodesSwapped),
        (any::<usize>(), any::<u8>()).prop_map(|(i, b)| Mutation::ProofSlotHash(i, b)),
        (any::<usize>(), small_key()).prop_map(|(i, k)| Mutation::ProofSlotSuffix(i, k)),
        (any::<usize>(), prop::option::of(small_value())).prop_map(|(i, v)| Mutation::ProofValue(i, v)),
        small_key().prop_map(Mutation::Start),
    ]
}

fn mutate(chunk: &mut Chunk, start: &mut Key, mutation: &Mutation) {
    let items = chunk.items.len();
    let nodes = chunk.proof.len();
    match mutation.clone() {
        Mutation::ItemKey(i, k) if items > 0 => chunk.items[i % items].0 = k,
        Mutation::ItemValue(i, v) if items > 0 => chunk.items[i % items].1 = v,
        Mutation::ItemRemoved(i) if items > 0 => drop(chunk.items.remove(i % items)),
        Mutation::ItemAdded(k, v) => {
            let position = chunk.items.partition_point(|(key, _)| *key < k);
            chunk.items.insert(position, (k, v));
        }
        Mutation::ItemsSwapped(i) if items > 1 => chunk.items.swap(i % (items - 1), i % (items - 1) + 1),
        Mutation::ItemDuplicated(i) if items > 0 => chunk.items.insert(i % items, chunk.items[i % items].clone()),
        Mutation::End(end) => chunk.end = end,
        Mutation::ProofNodeDropped(i) if nodes > 0 => drop(chunk.proof.remove(i % nodes)),
        Mutation::ProofNodesSwapped(i) if nodes > 1 => chunk.proof.swap(i % (nodes - 1), i % (nodes - 1) + 1),
        Mutation::ProofSlotHash(i, byte) if nodes > 0 => {
            let node = &mut chunk.proof[i % nodes];
            if let Some(slot) = node.slots.iter_mut().flatten().next() {
                slot.hash.0[(byte % 32) as usize] ^= 1 | byte;
            }
        }
        Mutation::ProofSlotSuffix(i, suffix) if nodes > 0 => {
            let node = &mut chunk.proof[i % nodes];
            let nibble = suffix.nibbles()[0] as usize;
            let hash = node.slots.iter().flatten().next().map_or(Hash::ZERO, |slot| slot.hash);
            node.slots[nibble] = Some(ProofSlot { suffix, hash });
        }
        Mutation::ProofValue(i, value) if nodes > 0 => chunk.proof[i % nodes].value = value,
        Mutation::Start(k) => *start = k,
        _ => {}
    }
}

/// 256 cases by default; `PROPTEST_CASES` raises the count for long runs.
fn config() -> ProptestConfig {
    let mut config = ProptestConfig::default();
    if std::env::var_os("PROPTEST_CASES").is_none() {
        config.cases = 256;
    }
    // Mutations that happen to change nothing and state pairs with equal roots are skipped, not failures.
    config.max_global_rejects = config.cases.max(1024);
    config
}

proptest! {
    #![proptest_config(config())]

    /// The neighbours of any key in a complete trie are those of its sorted items: `predecessor` the greatest
    /// key below it, `first_key_at_or_after` the least at or after it. In the known part of a partial trie,
    /// `first_key_at_or_after` is the least stored key at or after it.
    #[test]
    fn neighbours_are_those_of_the_sorted_items(items in small_state(), probes in prop::collection::vec(small_key(), 1..8), limit in 1usize..6) {
        let full = Trie::from_items(items).unwrap();
        let partial = {
            let mut partial = Trie::fresh();
            partial.put_chunk(&Key::EMPTY, &full.chunk(&Key::EMPTY, limit).unwrap(), root(&full)).unwrap();
            partial
        };
        for probe in probes.iter().chain([Key::EMPTY].iter()) {
            let keys: Vec<Key> = full.items().into_iter().map(|(key, _)| key).collect();
            prop_assert_eq!(full.predecessor(probe), keys.iter().rfind(|key| *key < probe).cloned());
            prop_assert_eq!(full.first_key_at_or_after(probe), keys.iter().find(|key| *key >= probe).cloned());
            let known: Vec<Key> = partial.items().into_iter().map(|(key, _)| key).collect();
            prop_assert_eq!(partial.first_key_at_or_after(probe), known.iter().find(|key| *key >= probe).cloned());
        }
    }

    /// Property 1: any split of any state into chunks of any sizes rebuilds the identical trie.
    #[test]
    fn any_split_into_chunks_rebuilds_the_root(items in small_state(), limits in prop::collection::vec(1usize..8, 1..6)) {
        let full = Trie::from_items(items).unwrap();
        full.check_invariants_full();
        let mut partial = Trie::fresh();
        let mut round = 0;
        while let Some(start) = partial.missing_start().cloned() {
            let chunk = full.chunk(&start, limits[round % limits.len()]).unwrap();
            let applied = partial.put_chunk(&start, &chunk, root(&full));
            prop_assert!(matches!(applied, Ok(ChunkApplied::Applied { .. })), "{:?}", applied);
            prop_assert_eq!(partial.root_if_computable(), full.root_if_computable());
            partial.check_invariants_full();
            round += 1;
            prop_assert!(round <= full.len() + 1, "every non-final chunk makes progress");
        }
        prop_assert_eq!(partial.items(), full.items());
        prop_assert!(partial.same_as(&full) || partial.render() == full.render());
    }

    /// Property 2: chunks and block diffs interleaved in any order: a computable root is the head's root,
    /// and the known part is exactly the head's state below `s` (S1, S3).
    #[test]
    fn chunks_and_diffs_interleaved_track_the_head(items in small_state(), steps in prop::collection::vec(step(), 0..24)) {
        let mut head = Trie::from_items(items).unwrap();
        let mut partial = Trie::fresh();
        let mut verified = VerifiedHashes::default();
        for step in steps.iter().chain(std::iter::repeat_n(&Step::Chunk(7), 50)) {
            match step {
                Step::Block(ops) => apply_block(&mut partial, &mut head, ops)?,
                Step::Chunk(limit) => {
                    let Some(start) = partial.missing_start().cloned() else { continue };
                    let chunk = head.chunk(&start, *limit).unwrap();
                    let applied = partial.put_chunk(&start, &chunk, root(&head));
                    prop_assert!(matches!(applied, Ok(ChunkApplied::Applied { .. })), "{:?}", applied);
                    prop_assert!(partial.root_if_computable().is_some(), "computable right after a chunk");
                }
            }
            partial.check_invariants_full();
            partial.check_invariants_full_reusing(&mut verified);
            if let Some(partial_root) = partial.root_if_computable() {
                prop_assert_eq!(partial_root, root(&head));
            }
            let known: Vec<_> = head.items().into_iter().filter(|(k, _)| partial.is_known(k)).collect();
            prop_assert_eq!(partial.items(), known, "S3: the known part is exact");
        }
        prop_assert!(partial.is_complete());
        prop_assert_eq!(partial.root_if_computable(), head.root_if_computable());
    }

    /// Property 3: any single mutation of an honest chunk is refused and leaves the trie byte-identical; the
    /// one exception is an `end` that is itself a correct boundary, which applies and reaches the same root.
    #[test]
    fn a_mutated_chunk_is_refused_atomically(
        items in small_state(),
        first_limit in 1usize..5,
        limit in 1usize..6,
        mutation in mutation(),
    ) {
        let full = Trie::from_items(items).unwrap();
        let mut partial = Trie::fresh();
        if let Some(start) = partial.missing_start().cloned() {
            partial.put_chunk(&start, &full.chunk(&start, first_limit).unwrap(), root(&full)).unwrap();
        }
        let Some(honest_start) = partial.missing_start().cloned() else { return Ok(()) };
        let honest = full.chunk(&honest_start, limit).unwrap();
        let (mut chunk, mut start) = (honest.clone(), honest_start.clone());
        mutate(&mut chunk, &mut start, &mutation);
        prop_assume!(chunk != honest || start != honest_start);
        let before = partial.clone();
        match partial.put_chunk(&start, &chunk, root(&full)) {
            Ok(ChunkApplied::Applied { .. }) => {
                prop_assert!(matches!(mutation, Mutation::End(_)), "only a changed end may be another valid chunk");
                partial.check_invariants_full();
                let (rest, _) = continue_sync(partial, &full);
                prop_assert_eq!(rest.items(), full.items());
                prop_assert_eq!(rest.root_if_computable(), full.root_if_computable());
            }
            Ok(ChunkApplied::Ignored(_)) | Err(_) => prop_assert!(partial.same_as(&before), "refusal is atomic"),
        }
    }

    /// Property 4: reverting in LIFO order restores exactly: every snapshot stays byte-identical to a deep copy
    /// taken when it was made, whatever chunks and diffs came later.
    #[test]
    fn snapshots_restore_exactly(items in small_state(), steps in prop::collection::vec(step(), 0..16)) {
        let mut head = Trie::from_items(items).unwrap();
        let mut partial = Trie::fresh();
        let mut undo: Vec<(Trie, Trie, Trie)> = Vec::new(); // (snapshot, its deep copy, the head it matched)
        for step in &steps {
            undo.push((partial.clone(), partial.deep_copy(), head.clone()));
            match step {
                Step::Block(ops) => {
                    let (next, diff) = head.execute(ops).unwrap();
                    partial.apply_diff(&diff, root(&next)).unwrap();
                    head = next;
                }
                Step::Chunk(limit) => {
                    let Some(start) = partial.missing_start().cloned() else { continue };
                    partial.put_chunk(&start, &head.chunk(&start, *limit).unwrap(), root(&head)).unwrap();
                }
            }
        }
        // The reusing check sees each version once, newest first: `s` moves back, subtrees come back.
        let mut verified = VerifiedHashes::default();
        partial.check_invariants_full_reusing(&mut verified);
        while let Some((snapshot, copy, at_head)) = undo.pop() {
            partial = snapshot;
            prop_assert!(partial.same_as(&copy), "the revert restored a changed trie");
            partial.check_invariants_full();
            partial.check_invariants_full_reusing(&mut verified);
            if let Some(partial_root) = partial.root_if_computable() {
                prop_assert_eq!(partial_root, root(&at_head), "H25: the reverted root is the parent's");
            }
        }
    }

    /// Property 5a: decoding arbitrary bytes as a chunk, proof node, diff, key or op never panics.
    #[test]
    fn decoding_arbitrary_bytes_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..600)) {
        let _ = Chunk::decode(&mut Reader::new(&bytes));
        let _ = ProofNode::decode(&mut Reader::new(&bytes));
        let _ = TrieDiff::decode(&mut Reader::new(&bytes));
        let _ = Key::decode(&mut Reader::new(&bytes));
        let _ = Op::decode(&mut Reader::new(&bytes));
    }

    /// Property 5b: honest chunks and diffs round-trip, and every truncation or bit flip of them is either
    /// rejected or decodes to something that re-encodes to the same bytes.
    #[test]
    fn encodings_round_trip(items in small_state(), ops in prop::collection::vec(op(), 0..8), limit in 1usize..6, cut in any::<usize>(), flip in any::<(usize, u8)>()) {
        let full = Trie::from_items(items).unwrap();
        let chunk = full.chunk(&Key::EMPTY, limit).unwrap();
        let mut writer = Writer::default();
        chunk.encode(&mut writer);
        let bytes = writer.into_bytes();
        let mut reader = Reader::new(&bytes);
        prop_assert_eq!(Chunk::decode(&mut reader), Ok(chunk.clone()));
        prop_assert!(reader.finish().is_ok());
        let (_, diff) = full.execute(&ops).unwrap();
        let mut writer = Writer::default();
        diff.encode(&mut writer);
        let diff_bytes = writer.into_bytes();
        prop_assert_eq!(TrieDiff::decode(&mut Reader::new(&diff_bytes)), Ok(diff));
        let truncated = &bytes[..cut % bytes.len()];
        prop_assert!(Chunk::decode(&mut Reader::new(truncated)).is_err() || truncated.len() < bytes.len());
        let mut flipped = bytes.clone();
        let index = flip.0 % flipped.len();
        flipped[index] ^= flip.1 | 1;
        let mut reader = Reader::new(&flipped);
        if let Ok(decoded) = Chunk::decode(&mut reader) {
            let mut writer = Writer::default();
            decoded.encode(&mut writer);
            let consumed = flipped.len() - reader.remaining();
            prop_assert_eq!(&writer.into_bytes()[..], &flipped[..consumed], "decoding is canonical");
        }
    }

    /// §2.11 fact 6 as a property: a chunk cut from one state is refused against any other state's root.
    #[test]
    fn a_chunk_only_verifies_against_its_own_state(a in small_state(), ops in prop::collection::vec(op(), 1..4), limit in 1usize..5) {
        let at_a = Trie::from_items(a).unwrap();
        let (other, _) = at_a.execute(&ops).unwrap();
        prop_assume!(root(&other) != root(&at_a));
        let chunk = at_a.chunk(&Key::EMPTY, limit).unwrap();
        let mut partial = Trie::fresh();
        let result = partial.put_chunk(&Key::EMPTY, &chunk, root(&other));
        prop_assert!(matches!(result, Err(ChunkError::Invalid(_) | ChunkError::RootMismatch { .. })), "{:?}", result);
        prop_assert!(partial.same_as(&Trie::fresh()));
    }
}

/// A block of `ops` on `head`, its diff applied to `partial`, which must take it; `head` becomes the block's state.
pub(super) fn apply_block(partial: &mut Trie, head: &mut Trie, ops: &[Op]) -> Result<(), TestCaseError> {
    let (next, diff) = head.execute(ops).unwrap();
    let applied = partial.apply_diff(&diff, root(&next));
    prop_assert!(applied.is_ok(), "{:?}", applied);
    *head = next;
    Ok(())
}

/// Finishes a download from wherever `partial` stands, with honest chunks of `full`.
fn continue_sync(mut partial: Trie, full: &Trie) -> (Trie, usize) {
    let mut chunks = 0;
    while let Some(start) = partial.missing_start().cloned() {
        let chunk = full.chunk(&start, 3).unwrap();
        let applied = partial.put_chunk(&start, &chunk, root(full)).unwrap();
        assert!(matches!(applied, ChunkApplied::Applied { .. }));
        chunks += 1;
        assert!(chunks <= full.len() + 1, "progress");
    }
    (partial, chunks)
}
