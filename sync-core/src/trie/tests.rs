//! Boundary facts of §2.11 and the trie hazards of §5.3, one test each; the property tests are in
//! `properties.rs`.

use super::*;
use crate::codec::{Reader, Writer};
use crate::hash::blake2b_256;
use crate::key::KEY_MAX;

fn key(hex: &str) -> Key {
    Key::from_hex(hex).unwrap()
}

fn state(items: &[(&str, &str)]) -> Trie {
    Trie::from_items(items.iter().map(|(k, v)| (key(k), v.as_bytes().to_vec()))).unwrap()
}

pub(super) fn root(trie: &Trie) -> Hash {
    trie.root_if_computable().unwrap()
}

/// Downloads `full` into a fresh trie chunk by chunk with a fixed limit; returns the trie and the chunk count.
fn sync_all(full: &Trie, limit: usize) -> (Trie, usize) {
    let mut partial = Trie::fresh();
    let mut chunks = 0;
    while let Some(start) = partial.missing_start().cloned() {
        let chunk = full.chunk(&start, limit).unwrap();
        let applied = partial.put_chunk(&start, &chunk, root(full)).unwrap();
        assert!(matches!(applied, ChunkApplied::Applied { .. }), "{applied:?}");
        partial.check_invariants_full();
        chunks += 1;
    }
    (partial, chunks)
}

/// One chunk from a fresh trie: the partial trie at `s = end` of the first chunk.
fn first_chunk(full: &Trie, limit: usize) -> Trie {
    let mut partial = Trie::fresh();
    let chunk = full.chunk(&Key::EMPTY, limit).unwrap();
    partial.put_chunk(&Key::EMPTY, &chunk, root(full)).unwrap();
    partial
}

fn render_chunk(chunk: &Chunk) -> String {
    let items: Vec<String> = chunk.items.iter().map(|(k, v)| format!("{k}={}", String::from_utf8_lossy(v))).collect();
    let end = chunk.end.as_ref().map_or("None".to_string(), Key::to_string);
    format!("items: {}  end: {end}  proof: {} nodes", items.join(" "), chunk.proof.len())
}

// ---- §2.11 fact 1: the empty root and history independence ----

#[test]
fn empty_root_is_blake2b_of_eighteen_zero_bytes() {
    assert_eq!(EMPTY_ROOT, blake2b_256(&[0u8; 18]));
    assert_eq!(Trie::new().root_if_computable(), Some(EMPTY_ROOT));
    assert_eq!(Trie::fresh().root_if_computable(), None, "a fresh trie's root is unknown");
}

#[test]
fn root_is_a_function_of_the_map_alone() {
    let forward = state(&[("4a3", "x"), ("4a", "y"), ("4b1", "z"), ("5", "w")]);
    let mut shuffled = Trie::new();
    for (k, v) in [("5", "w"), ("77", "junk"), ("4b1", "z"), ("4a3", "x"), ("4a30", "junk"), ("4a", "y")] {
        shuffled.put(&key(k), v.as_bytes().to_vec()).unwrap();
    }
    shuffled.delete(&key("77")).unwrap();
    shuffled.delete(&key("4a30")).unwrap();
    shuffled.delete(&key("99")).unwrap();
    assert_eq!(root(&forward), root(&shuffled));
    assert!(forward.same_as(&shuffled) || forward.render() == shuffled.render());
    shuffled.check_invariants_full();
    let mut emptied = shuffled.clone();
    for (k, _) in forward.items() {
        emptied.delete(&k).unwrap();
    }
    assert_eq!(root(&emptied), EMPTY_ROOT, "deleting everything merges back to the empty root");
    emptied.check_invariants_full();
}

// ---- §2.11 fact 2: empty state, one item, two items ----

#[test]
fn empty_state_chunk_is_final_and_completes_a_fresh_trie() {
    let empty = Trie::new();
    let chunk = empty.chunk(&Key::EMPTY, 10).unwrap();
    assert_eq!(render_chunk(&chunk), "items:   end: None  proof: 1 nodes");
    assert!(chunk.proof[0].key.is_empty(), "the root alone");
    let mut partial = Trie::fresh();
    let applied = partial.put_chunk(&Key::EMPTY, &chunk, EMPTY_ROOT);
    assert_eq!(applied, Ok(ChunkApplied::Applied { missing: None }));
    assert!(partial.is_complete());
    assert_eq!(partial.root_if_computable(), Some(EMPTY_ROOT));
}

#[test]
fn one_item_is_final_and_two_items_need_an_end() {
    let one = state(&[("4a3", "x")]);
    assert_eq!(render_chunk(&one.chunk(&Key::EMPTY, 1).unwrap()), "items: 4a3=x  end: None  proof: 2 nodes");
    let two = state(&[("4a3", "x"), ("4b1", "y")]);
    assert_eq!(render_chunk(&two.chunk(&Key::EMPTY, 1).unwrap()), "items: 4a3=x  end: 4b  proof: 3 nodes");
}

// ---- §2.7 facts and §2.11 fact 3: any limits rebuild the root ----

#[test]
fn a_fixed_limit_takes_ceil_n_over_l_chunks() {
    let items: Vec<(Key, Vec<u8>)> = (0..37u8).map(|i| (Key::from_bytes(&[i * 7, i]).unwrap(), vec![i])).collect();
    let full = Trie::from_items(items).unwrap();
    for limit in [1, 2, 5, 36, 37, 38, 1000] {
        let (partial, chunks) = sync_all(&full, limit);
        assert_eq!(chunks, 37usize.div_ceil(limit).max(1), "limit {limit}");
        assert_eq!(partial.root_if_computable(), full.root_if_computable());
        assert_eq!(partial.items(), full.items());
    }
    let (_, chunks) = sync_all(&Trie::new(), 3);
    assert_eq!(chunks, 1, "the empty state still takes one chunk");
}

#[test]
fn limit_zero_gives_an_empty_non_final_chunk() {
    let full = state(&[("3", "a"), ("4a3", "b"), ("5", "c")]);
    let chunk = full.chunk(&key("4"), 0).unwrap();
    assert!(chunk.items.is_empty());
    assert_eq!(chunk.end, Some(key("4")), "predecessor 3, next 4a3: the end cuts next after lcp + 1");
}

// ---- §2.11 fact 4: wrong start, complete trie ----

#[test]
fn a_chunk_at_the_wrong_start_is_ignored_and_changes_nothing() {
    let full = state(&[("1", "a"), ("2", "b"), ("3", "c"), ("4", "d")]);
    let partial = first_chunk(&full, 2);
    assert_eq!(partial.missing_start(), Some(&key("3")));
    let before = partial.clone();
    let mut stale = partial.clone();
    let from_start = full.chunk(&Key::EMPTY, 2).unwrap();
    assert_eq!(stale.put_chunk(&Key::EMPTY, &from_start, root(&full)), Ok(ChunkApplied::Ignored(Ignored::Stale)));
    assert!(stale.same_as(&before));
    let mut gap = partial.clone();
    let from_four = full.chunk(&key("4"), 2).unwrap();
    assert_eq!(gap.put_chunk(&key("4"), &from_four, root(&full)), Ok(ChunkApplied::Ignored(Ignored::Gap)));
    assert!(gap.same_as(&before));
    let mut complete = full.clone();
    assert_eq!(complete.put_chunk(&Key::EMPTY, &from_start, root(&full)), Err(ChunkError::AlreadyComplete));
}

// ---- §2.11 fact 6: a chunk is bound to its state ----

#[test]
fn a_chunk_cut_from_one_state_fails_against_another() {
    let at_b = state(&[("1", "a"), ("2", "b"), ("3", "c")]);
    let other = state(&[("1", "a"), ("2", "b"), ("3", "changed")]);
    let chunk = at_b.chunk(&Key::EMPTY, 2).unwrap();
    let mut partial = Trie::fresh();
    let result = partial.put_chunk(&Key::EMPTY, &chunk, root(&other));
    assert!(matches!(result, Err(ChunkError::Invalid(_) | ChunkError::RootMismatch { .. })), "{result:?}");
    assert!(partial.same_as(&Trie::fresh()));
}

// ---- §2.11 fact 7: keys that are prefixes of others ----

#[test]
fn a_boundary_inside_a_hybrids_children() {
    let full = state(&[("41", "a"), ("413", "hybrid"), ("413b391", "b"), ("413c", "c"), ("5", "d")]);
    let chunk = full.chunk(&Key::EMPTY, 2).unwrap();
    assert_eq!(render_chunk(&chunk), "items: 41=a 413=hybrid  end: 413b  proof: 3 nodes");
    let partial = first_chunk(&full, 2);
    insta::assert_snapshot!(partial.render(), @"
    ε
      41 = a
        413 = hybrid
          413b391 stump #2db6ac4211521216
          413c stump #84de17e962cc4665
      5 stump #0749507232930d2f
    missing: [413b, ∞)
    ");
    assert_eq!(sync_all(&full, 2).0.root_if_computable(), full.root_if_computable());
}

#[test]
fn a_boundary_one_nibble_below_the_root() {
    let full = state(&[("3ff", "a"), ("4", "hybrid"), ("41", "b")]);
    let chunk = full.chunk(&Key::EMPTY, 1).unwrap();
    assert_eq!(render_chunk(&chunk), "items: 3ff=a  end: 4  proof: 2 nodes");
    let mut partial = first_chunk(&full, 1);
    assert_eq!(partial.missing_start(), Some(&key("4")));
    let rest = full.chunk(&key("4"), 5).unwrap();
    assert_eq!(partial.put_chunk(&key("4"), &rest, root(&full)), Ok(ChunkApplied::Applied { missing: None }));
    assert_eq!(partial.root_if_computable(), full.root_if_computable());
}

#[test]
fn the_spec_end_examples() {
    // last 4a3, next 4b1 → end 4b
    let full = state(&[("4a3", "x"), ("4b1", "y")]);
    assert_eq!(full.chunk(&Key::EMPTY, 1).unwrap().end, Some(key("4b")));
    // a proper prefix sorts first: 4a < 4a3 < 4b
    let full = state(&[("4a", "x"), ("4a3", "y"), ("4b", "z")]);
    assert_eq!(render_chunk(&full.chunk(&Key::EMPTY, 2).unwrap()), "items: 4a=x 4a3=y  end: 4b  proof: 4 nodes");
}

// ---- §2.11 fact 8 and H3: diffs keep a computable root correct ----

#[test]
fn a_diff_on_known_keys_keeps_the_root_computable() {
    let full = state(&[("1", "a"), ("2", "b"), ("3", "c"), ("4", "d")]);
    let mut partial = first_chunk(&full, 2);
    let (next, diff) = full.execute(&[Op::Set(key("1"), b"A".to_vec()), Op::Delete(key("2"))]).unwrap();
    let applied = partial.apply_diff(&diff, root(&next)).unwrap();
    assert!(applied.root_computable);
    assert_eq!(partial.root_if_computable(), next.root_if_computable());
    partial.check_invariants_full();
}

#[test]
fn a_diff_inside_a_stump_makes_the_root_unknown_until_the_next_chunk() {
    let full = state(&[("1", "a"), ("2", "b"), ("31", "c"), ("32", "d")]);
    let mut partial = first_chunk(&full, 2);
    assert_eq!(partial.missing_start(), Some(&key("3")));
    let (next, diff) = full.execute(&[Op::Mix(key("31"), b"salt".to_vec())]).unwrap();
    let applied = partial.apply_diff(&diff, root(&next)).unwrap();
    assert!(!applied.root_computable, "31 lies under the stump 3");
    assert_eq!(partial.root_if_computable(), None);
    partial.check_invariants_full();
    let chunk = next.chunk(&key("3"), 10).unwrap();
    assert_eq!(partial.put_chunk(&key("3"), &chunk, root(&next)), Ok(ChunkApplied::Applied { missing: None }));
    assert_eq!(partial.items(), next.items());
}

#[test]
fn a_wrong_diff_against_a_computable_root_is_refused_atomically() {
    let full = state(&[("1", "a"), ("2", "b"), ("3", "c")]);
    let mut partial = first_chunk(&full, 1);
    let before = partial.clone();
    let (_, diff) = full.execute(&[Op::Set(key("1"), b"A".to_vec())]).unwrap();
    let result = partial.apply_diff(&diff, root(&full));
    assert!(matches!(result, Err(DiffError::RootMismatch { .. })));
    assert!(partial.same_as(&before));
}

#[test]
fn a_new_missing_key_in_an_empty_slot_stays_exact() {
    let full = state(&[("1", "a"), ("2", "b")]);
    let mut partial = first_chunk(&full, 1);
    assert_eq!(partial.missing_start(), Some(&key("2")));
    let (next, diff) = full.execute(&[Op::Set(key("9"), b"new".to_vec())]).unwrap();
    assert!(partial.apply_diff(&diff, root(&next)).unwrap().root_computable, "a brand-new leaf's hash is known");
    assert_eq!(partial.root_if_computable(), next.root_if_computable());
}

// ---- §5.3 H1, H2 ----

/// H1: deleting the known leaf 4a3 next to the stump at s = 4a5 dissolves node 4a and re-hangs the stump.
#[test]
fn h1_deleting_the_last_known_sibling_of_a_stump() {
    let full = state(&[("4a3", "x"), ("4a51", "y"), ("4a52", "z"), ("5", "w")]);
    let mut partial = first_chunk(&full, 1);
    assert_eq!(partial.missing_start(), Some(&key("4a5")));
    let (next, diff) = full.execute(&[Op::Delete(key("4a3"))]).unwrap();
    let applied = partial.apply_diff(&diff, root(&next)).unwrap();
    assert!(applied.root_computable);
    assert_eq!(partial.root_if_computable(), next.root_if_computable());
    insta::assert_snapshot!(partial.render(), @"
    ε
      4a5 stump #34383959200b6af9
      5 stump #33defa90f265b03d
    missing: [4a5, ∞)
    ");
    partial.check_invariants_full();
}

/// H1, second form: clearing the value of a hybrid whose sole remaining child is a stump.
#[test]
fn h1_clearing_a_hybrid_above_a_lone_stump() {
    let full = state(&[("4a", "hybrid"), ("4a51", "y"), ("4a52", "z"), ("5", "w")]);
    let mut partial = first_chunk(&full, 1);
    assert_eq!(partial.missing_start(), Some(&key("4a5")));
    let (next, diff) = full.execute(&[Op::Delete(key("4a"))]).unwrap();
    partial.apply_diff(&diff, root(&next)).unwrap();
    assert_eq!(partial.root_if_computable(), next.root_if_computable());
    partial.check_invariants_full();
}

/// H2: a missing-part insertion that splits the edge to the known node 4a creates the branch 4 instead of
/// orphaning 4a; the download then finishes with the right root.
#[test]
fn h2_a_missing_insertion_splitting_a_boundary_edge() {
    let full = state(&[("4a3", "x"), ("4a51", "y"), ("4a52", "z"), ("5", "w")]);
    let mut partial = first_chunk(&full, 1);
    let (next, diff) = full.execute(&[Op::Set(key("4b7"), b"new".to_vec())]).unwrap();
    partial.apply_diff(&diff, root(&next)).unwrap();
    insta::assert_snapshot!(partial.render(), @"
    ε
      4
        4a
          4a3 = x
          4a5 stump #34383959200b6af9
        4b7 stump #7a888225fed48645
      5 stump #33defa90f265b03d
    missing: [4a5, ∞)
    ");
    assert_eq!(partial.get(&key("4a3")), Some(&b"x"[..]), "known data survives");
    assert_eq!(partial.root_if_computable(), next.root_if_computable());
    let rest = next.chunk(&key("4a5"), 10).unwrap();
    assert_eq!(partial.put_chunk(&key("4a5"), &rest, root(&next)), Ok(ChunkApplied::Applied { missing: None }));
    assert_eq!(partial.items(), next.items());
}

/// H25's precondition: snapshots are persistent, so reverting to one restores the parent's exact state.
#[test]
fn a_snapshot_survives_later_chunks_and_diffs() {
    let full = state(&[("1", "a"), ("2", "b"), ("31", "c"), ("32", "d")]);
    let mut partial = first_chunk(&full, 1);
    let snapshot = partial.clone();
    let copy = snapshot.deep_copy();
    let (next, diff) = full.execute(&[Op::Set(key("1"), b"A".to_vec()), Op::Mix(key("32"), vec![1])]).unwrap();
    partial.apply_diff(&diff, root(&next)).unwrap();
    let chunk = next.chunk(&key("2"), 10).unwrap();
    partial.put_chunk(&key("2"), &chunk, root(&next)).unwrap();
    assert!(partial.is_complete());
    assert!(snapshot.same_as(&copy), "later writes never reach a snapshot's nodes");
    snapshot.check_invariants_full();
}

// ---- §2.11 fact 11 and the decoders ----

#[test]
fn chunk_decoding_rejects_claimed_counts_over_the_bound() {
    let mut writer = Writer::default();
    writer.u8(0);
    writer.u32(u32::MAX);
    let bytes = writer.into_bytes();
    assert!(matches!(Chunk::decode(&mut Reader::new(&bytes)), Err(crate::codec::DecodeError::OverBound { .. })));
}

/// What a chunk costs on the wire (the engine's byte accounting and the simulator's bandwidth) is exactly what
/// `encode` writes and `decode` reads back.
#[test]
fn encoded_len_is_what_encode_writes_and_decode_reads() {
    let full = state(&[("1", "a"), ("2", "bb"), ("31", "ccc"), ("32", "dddd"), ("4", "e")]);
    for (start, limit) in [(Key::EMPTY, 2), (key("2"), 10), (key("5"), 3)] {
        let chunk = full.chunk(&start, limit).unwrap();
        let mut writer = Writer::default();
        chunk.encode(&mut writer);
        let bytes = writer.into_bytes();
        assert_eq!(chunk.encoded_len(), bytes.len());
        let mut reader = Reader::new(&bytes);
        assert_eq!(Chunk::decode(&mut reader).unwrap(), chunk);
        assert_eq!(reader.remaining(), 0, "decode reads every byte encode wrote");
    }
}

/// The largest chunk `decode` accepts: an end bound, items and proof nodes all at their bounds. A proof node's
/// slot suffixes can be `KEY_MAX` nibbles only below an empty node key, so the bound's one slack is the node key.
fn largest_chunk(items: usize) -> Chunk {
    let long = |first: u8| Key::from_nibbles(&[vec![first], vec![0xa; KEY_MAX - 1]].concat()).unwrap();
    let node = ProofNode {
        key: Key::EMPTY,
        value: Some(vec![7; VALUE_MAX]),
        slots: std::array::from_fn(|nibble| Some(ProofSlot { suffix: long(nibble as u8), hash: Hash([1; 32]) })),
    };
    Chunk {
        end: Some(long(0xf)),
        items: (0..items).map(|index| (long(index as u8 % 16), vec![3; VALUE_MAX])).collect(),
        proof: vec![node; PROOF_NODES_MAX],
    }
}

#[test]
fn encoded_len_max_bounds_the_largest_decodable_chunk_tightly() {
    let node_key_slack = PROOF_NODES_MAX * KEY_MAX.div_ceil(2);
    for items in [0, 1, 3, 17] {
        let chunk = largest_chunk(items);
        let mut writer = Writer::default();
        chunk.encode(&mut writer);
        let bytes = writer.into_bytes();
        assert!(Chunk::decode(&mut Reader::new(&bytes)).is_ok(), "the largest chunk is decodable");
        assert_eq!(Chunk::encoded_len_max(items), chunk.encoded_len() + node_key_slack, "{items} items");
    }
}

/// `CHUNK_ITEMS_MAX` items is a legal chunk; one more is over the bound.
#[test]
fn a_chunk_of_exactly_chunk_items_max_items_is_accepted() {
    let full = Trie::from_items((0..=CHUNK_ITEMS_MAX as u32).map(|n| {
        let nibbles: Vec<u8> = (0..4).map(|shift| (n >> (4 * (3 - shift)) & 0xf) as u8).collect();
        (Key::from_nibbles(&nibbles).unwrap(), vec![1])
    }))
    .unwrap();
    let at_bound = full.chunk(&Key::EMPTY, CHUNK_ITEMS_MAX).unwrap();
    assert_eq!(at_bound.items.len(), CHUNK_ITEMS_MAX);
    let mut partial = Trie::fresh();
    assert!(matches!(partial.put_chunk(&Key::EMPTY, &at_bound, root(&full)), Ok(ChunkApplied::Applied { .. })));
    let over = full.chunk(&Key::EMPTY, CHUNK_ITEMS_MAX + 1).unwrap();
    assert_eq!(
        Trie::fresh().put_chunk(&Key::EMPTY, &over, root(&full)),
        Err(ChunkError::Invalid(Invalid::ItemOverBound { index: CHUNK_ITEMS_MAX }))
    );
}

// ---- the deep check that reuses verified hashes ----

fn stale_root(trie: &mut Trie) {
    let root = Arc::make_mut(&mut trie.root);
    root.hash = node::NodeHash::Known(Hash([9; 32]));
}

#[test]
fn a_reusing_check_walks_and_hashes_only_the_changed_path() {
    let full = state(&[("1", "a"), ("2", "b"), ("31", "c"), ("32", "d"), ("4", "e")]);
    let mut verified = VerifiedHashes::default();
    let first = full.check_invariants_full_reusing(&mut verified);
    assert_eq!(first, CheckWork { visited: 7, hashed: 7 }, "the first check walks and hashes every node");
    let (next, _) = full.execute(&[Op::Set(key("32"), b"D".to_vec())]).unwrap();
    let second = next.check_invariants_full_reusing(&mut verified);
    assert_eq!(second, CheckWork { visited: 3, hashed: 3 }, "ε, 3 and 32 changed; 1, 2, 31 and 4 did not");
    let third = next.check_invariants_full_reusing(&mut verified);
    assert_eq!(third, CheckWork { visited: 1, hashed: 0 }, "nothing changed: ε is walked, not hashed");
}

/// Values removed and added between checks keep the count exact, and a count that drifts is found.
#[test]
fn a_reusing_check_counts_what_came_and_went() {
    let mut trie = state(&[("1", "a"), ("2", "b"), ("31", "c"), ("32", "d"), ("4", "e")]);
    let mut verified = VerifiedHashes::default();
    trie.check_invariants_full_reusing(&mut verified);
    let steps = [
        vec![Op::Delete(key("31"))],
        vec![Op::Set(key("311"), b"x".to_vec()), Op::Set(key("3"), b"y".to_vec())],
        vec![Op::Delete(key("3")), Op::Delete(key("32")), Op::Delete(key("311")), Op::Set(key("5"), b"z".to_vec())],
    ];
    for ops in &steps {
        trie = trie.execute(ops).unwrap().0;
        trie.check_invariants_full_reusing(&mut verified);
    }
    assert_eq!(trie.len(), 4);
    trie.len += 1;
    let drifted = std::panic::catch_unwind(|| trie.check_invariants_full_reusing(&mut verified.clone()));
    assert!(drifted.is_err(), "a known count one too high is found");
}

/// A subtree that held a stump is walked again even though it is the very same node: `s` may have passed the
/// stump without taking it down. (The cheap check walks only the new boundary path and cannot see it.)
#[test]
#[should_panic(expected = "stump 32")]
fn a_reusing_check_finds_a_stump_that_s_passed() {
    let full = state(&[("31", "a"), ("32", "b"), ("33", "c"), ("4", "d"), ("5", "e")]);
    let mut partial = first_chunk(&full, 1);
    assert_eq!(partial.missing_start(), Some(&key("32")));
    let mut verified = VerifiedHashes::default();
    partial.check_invariants_full_reusing(&mut verified);
    Arc::make_mut(&mut partial.starts)[0] = Some(key("4"));
    partial.check_invariants();
    partial.check_invariants_full_reusing(&mut verified);
}

/// A node moved to another key is not the node verified there (its hash covers its key): it is hashed again.
#[test]
#[should_panic(expected = "stale hash at 1b")]
fn a_reusing_check_rehashes_a_node_moved_to_another_key() {
    let mut trie = state(&[("1a", "x"), ("2", "y")]);
    let mut verified = VerifiedHashes::default();
    trie.check_invariants_full_reusing(&mut verified);
    let root = Arc::make_mut(&mut trie.root);
    root.children[0].suffix = key("1b");
    root.mark_dirty();
    trie.rehash();
    trie.check_invariants_full_reusing(&mut verified);
}

/// `s` moved back over subtrees the last check verified: they are skipped, and the cheap check, run first,
/// finds the stored node at or beyond `s` where it hangs off the boundary path.
#[test]
#[should_panic(expected = "a stored node 3 at or beyond s")]
fn a_reusing_check_finds_stored_nodes_that_s_moved_back_over() {
    let mut trie = state(&[("1", "a"), ("2", "b"), ("31", "c"), ("32", "d"), ("4", "e")]);
    let mut verified = VerifiedHashes::default();
    trie.check_invariants_full_reusing(&mut verified);
    Arc::make_mut(&mut trie.starts)[0] = Some(key("25"));
    trie.check_invariants_full_reusing(&mut verified);
}

/// A node changed after a check is a new node (the check holds the old one): its stale hash is found.
#[test]
#[should_panic(expected = "stale hash")]
fn a_reusing_check_finds_a_stale_hash_written_after_it() {
    let mut trie = state(&[("1", "a"), ("2", "b"), ("31", "c")]);
    let mut verified = VerifiedHashes::default();
    trie.check_invariants_full_reusing(&mut verified);
    stale_root(&mut trie);
    trie.check_invariants_full_reusing(&mut verified);
}

#[test]
#[should_panic(expected = "stale hash")]
fn the_full_check_finds_a_stale_hash() {
    let mut trie = state(&[("1", "a"), ("2", "b"), ("31", "c")]);
    stale_root(&mut trie);
    trie.check_invariants_full();
}

/// An end bound equal to the start is not "before the start": the chunk fails on its items instead.
#[test]
fn an_end_at_the_start_is_no_end_before_it() {
    let full = state(&[("1", "a"), ("2", "b"), ("31", "c")]);
    let mut partial = first_chunk(&full, 1);
    let start = partial.missing_start().cloned().unwrap();
    let mut chunk = full.chunk(&start, 1).unwrap();
    chunk.end = Some(start.clone());
    assert_eq!(partial.put_chunk(&start, &chunk, root(&full)), Err(ChunkError::Invalid(Invalid::ItemAtOrAfterEnd)));
}

/// A value of exactly `VALUE_MAX` bytes is legal in a chunk; the decoder and `put_chunk` agree.
#[test]
fn a_value_of_exactly_value_max_bytes_is_accepted() {
    let full = Trie::from_items([(key("1"), vec![5; VALUE_MAX]), (key("2"), b"b".to_vec())]).unwrap();
    let chunk = full.chunk(&Key::EMPTY, 10).unwrap();
    let mut partial = Trie::fresh();
    assert_eq!(partial.put_chunk(&Key::EMPTY, &chunk, root(&full)), Ok(ChunkApplied::Applied { missing: None }));
}

// ---- the cheap check with lanes: what each boundary-path assertion catches ----

/// Two lanes, lane 0 known up to `02` (its start moved there), lane 1 fresh and its root slots proven stumps;
/// then `lane`'s missing start is moved to `start` behind the trie's back, and the cheap check runs.
fn check_with_lane_start_moved(lane: usize, start: &str) {
    let full = state(&[("01", "a"), ("02", "b"), ("11", "c"), ("81", "d"), ("82", "e"), ("91", "f")]);
    let mut partial = Trie::fresh_in(Lanes::new(2).unwrap());
    let chunk = full.chunk_bounded(&Key::default(), 1, partial.lanes().end(0).as_ref()).unwrap();
    partial.put_chunk(&Key::default(), &chunk, root(&full)).unwrap();
    partial.check_invariants();
    Arc::make_mut(&mut partial.starts)[lane] = Some(key(start));
    partial.check_invariants();
}

#[test]
#[should_panic(expected = "at or beyond s")]
fn the_cheap_check_finds_a_stored_node_beyond_its_lanes_start() {
    check_with_lane_start_moved(0, "01");
}

#[test]
#[should_panic(expected = "below s")]
fn the_cheap_check_finds_a_stump_below_its_lanes_start() {
    check_with_lane_start_moved(1, "9");
}

/// A chunk that leaves out an item its proof shows, between its last item (or its start) and its end, names the
/// first such child: the earliest, most precise error (§2.8 e).
#[test]
fn a_chunk_that_skips_a_child_of_its_proof_names_it() {
    let full = state(&[("1", "a"), ("2", "b"), ("3", "c"), ("4", "d")]);
    let mut chunk = full.chunk(&Key::EMPTY, 3).unwrap();
    assert_eq!(chunk.end, Some(key("4")), "three items, then the end at the fourth");
    chunk.items.pop();
    let skipped = Err(ChunkError::Invalid(Invalid::ChildSkipped { child: key("3") }));
    assert_eq!(Trie::fresh().put_chunk(&Key::EMPTY, &chunk, root(&full)), skipped);
    chunk.items.clear();
    let first = Err(ChunkError::Invalid(Invalid::ChildSkipped { child: key("1") }));
    assert_eq!(Trie::fresh().put_chunk(&Key::EMPTY, &chunk, root(&full)), first, "no items: from the start on");
    let honest = full.chunk(&Key::EMPTY, 3).unwrap();
    assert!(Trie::fresh().put_chunk(&Key::EMPTY, &honest, root(&full)).is_ok(), "the whole chunk is taken");
}
