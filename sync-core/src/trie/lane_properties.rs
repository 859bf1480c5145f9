//! Property tests of lanes (§2.13): any interleaving of chunks across lanes, diffs and reverts keeps the trie
//! equal to the ideal partial trie `P(T_head, s_0…s_{L−1})` whenever its root is computable, the known part
//! exact, and a download always ends in the full state; a chunk of one lane never touches another lane's known
//! part; lies about lane bounds are refused atomically.

use super::node::{Child, Link, Node};
use super::properties::apply_block;
use super::tests::root;
use super::*;
use proptest::prelude::*;

/// Keys whose first nibble spans every lane (and its bounds), then a small alphabet so that prefixes, hybrids
/// and shared paths are common.
fn lane_key() -> impl Strategy<Value = Key> {
    (prop::sample::select(vec![3u8, 4, 4, 7, 8, 8, 0xf]), prop::collection::vec(0u8..3, 0..4)).prop_map(
        |(first, rest)| {
            let mut nibbles = vec![first];
            nibbles.extend(rest);
            Key::from_nibbles(&nibbles).unwrap()
        },
    )
}

fn lane_state() -> impl Strategy<Value = Vec<(Key, Vec<u8>)>> {
    prop::collection::vec((lane_key(), prop::collection::vec(any::<u8>(), 0..3)), 0..40)
}

fn lane_op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (lane_key(), prop::collection::vec(any::<u8>(), 0..3)).prop_map(|(k, v)| Op::Set(k, v)),
        lane_key().prop_map(Op::Delete),
    ]
}

fn lanes() -> impl Strategy<Value = Lanes> {
    prop::sample::select(vec![2u32, 4, 8, 16]).prop_map(|count| Lanes::new(count).unwrap())
}

#[derive(Clone, Debug)]
enum Step {
    Block(Vec<Op>),
    /// A chunk for lane `index % lanes` with this limit.
    Chunk(usize, usize),
    /// Back to the snapshot before the last step (and its head).
    Revert,
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        prop::collection::vec(lane_op(), 0..5).prop_map(Step::Block),
        (any::<usize>(), 1usize..5).prop_map(|(lane, limit)| Step::Chunk(lane, limit)),
        Just(Step::Revert),
    ]
}

/// The honest chunk for `lane` of `partial`, cut from `full`, with its start; `None` when the lane is done.
fn lane_chunk(partial: &Trie, full: &Trie, lane: usize, limit: usize) -> Option<(Key, Chunk)> {
    let start = partial.lane_start(lane)?.clone();
    let chunk = full.chunk_bounded(&start, limit, partial.lanes().end(lane).as_ref()).unwrap();
    Some((start, chunk))
}

/// `P(T, s_0…s_{L−1})` built straight from the definition (§2.13): the nodes of `full` in the known part, the
/// root and the nodes on each lane's boundary path; every slot whose child lies wholly in a missing part is a
/// proven stump with the child's hash.
fn ideal(full: &Trie, lanes: Lanes, starts: &[Option<Key>]) -> Trie {
    fn copy(node: &Node, prefix: &Key, lanes: Lanes, starts: &[Option<Key>]) -> Node {
        let mut out = node.clone();
        out.children = node
            .children
            .iter()
            .map(|child| {
                let key = prefix.concat(&child.suffix).unwrap();
                let link = match (&child.link, &starts[lanes.of_key(&key)]) {
                    (Link::Node(next), Some(start)) if key.is_proper_prefix_of(start) => {
                        Link::Node(Arc::new(copy(next, &key, lanes, starts)))
                    }
                    (link, Some(start)) if key >= *start => Link::ProvenStump(Box::new(link.hash().unwrap())),
                    (link, _) => link.clone(),
                };
                Child { suffix: child.suffix.clone(), link }
            })
            .collect();
        out
    }
    let root = Arc::new(copy(&full.root, &Key::EMPTY, lanes, starts));
    let len = full.items().iter().filter(|(key, _)| starts[lanes.of_key(key)].as_ref().is_none_or(|s| key < s)).count();
    Trie { root, lanes, starts: Arc::new(starts.to_vec()), fresh: false, len }
}

/// 1 000 cases by default (the cases are small; 128 missed a planted lane mix-up in diffs); `PROPTEST_CASES`
/// changes the count.
fn config() -> ProptestConfig {
    let mut config = ProptestConfig::default();
    if std::env::var_os("PROPTEST_CASES").is_none() {
        config.cases = 1000;
    }
    config
}

proptest! {
    #![proptest_config(config())]

    /// Chunks of every lane, diffs and reverts in any order: S1, S3 and the ideal form hold after every step, and
    /// finishing every lane in any order ends in the head's full state.
    #[test]
    fn lanes_interleaved_with_diffs_and_reverts_track_the_head(
        lanes in lanes(),
        items in lane_state(),
        steps in prop::collection::vec(step(), 0..30),
        finish_order in any::<usize>(),
    ) {
        let mut head = Trie::from_items(items).unwrap();
        let mut partial = Trie::fresh_in(lanes);
        let mut undo: Vec<(Trie, Trie)> = Vec::new();
        let mut verified = VerifiedHashes::default();
        for step in &steps {
            let before = (partial.clone(), head.clone());
            match step {
                Step::Block(ops) => apply_block(&mut partial, &mut head, ops)?,
                Step::Chunk(lane, limit) => {
                    let lane = lane % lanes.count();
                    let Some((start, chunk)) = lane_chunk(&partial, &head, lane, *limit) else { continue };
                    let others: Vec<_> = partial.items().into_iter().filter(|(k, _)| lanes.of_key(k) != lane).collect();
                    let applied = partial.put_chunk(&start, &chunk, root(&head));
                    prop_assert!(matches!(applied, Ok(ChunkApplied::Applied { .. })), "{:?}", applied);
                    let after: Vec<_> = partial.items().into_iter().filter(|(k, _)| lanes.of_key(k) != lane).collect();
                    prop_assert_eq!(others, after, "a chunk of one lane never touches another lane's known part");
                }
                Step::Revert => {
                    let Some((snapshot, at_head)) = undo.pop() else { continue };
                    partial = snapshot;
                    head = at_head;
                    continue;
                }
            }
            undo.push(before);
            check_against_head(&partial, &head, &mut verified)?;
        }
        let mut round = 0;
        while !partial.is_complete() {
            let lane = (finish_order + round) % lanes.count();
            if let Some((start, chunk)) = lane_chunk(&partial, &head, lane, 3) {
                let applied = partial.put_chunk(&start, &chunk, root(&head));
                prop_assert!(matches!(applied, Ok(ChunkApplied::Applied { .. })), "{:?}", applied);
                check_against_head(&partial, &head, &mut verified)?;
            }
            round += 1;
            // A visit to an unfinished lane takes an item or finishes it, and every `lanes` rounds visit one: all
            // items in one of sixteen lanes, three a chunk, took 64 rounds against an earlier bound of 54.
            let visits = head.len() + lanes.count();
            prop_assert!(round <= lanes.count() * visits + 2, "every lane makes progress");
        }
        prop_assert_eq!(partial.items(), head.items());
        prop_assert_eq!(partial.root_if_computable(), head.root_if_computable());
    }

    /// A lie about lane bounds: an honest chunk of lane `j` with its `end` moved past the lane's end, or with an
    /// item of the next lane appended, is refused and leaves the trie byte-identical.
    #[test]
    fn a_chunk_crossing_its_lane_is_refused_atomically(
        lanes in lanes(),
        items in lane_state(),
        lane in any::<usize>(),
        limit in 1usize..5,
        past in prop::option::of(lane_key()),
    ) {
        let full = Trie::from_items(items).unwrap();
        let lane = lane % (lanes.count() - 1);
        let mut partial = Trie::fresh_in(lanes);
        let (start, honest) = lane_chunk(&partial, &full, lane, limit).unwrap();
        let lane_end = lanes.end(lane).unwrap();
        let mut lie = honest.clone();
        match &past {
            // `None`: the end of key space, or any end at or past the next lane's start.
            Some(end) if *end <= lane_end => lie.end = None,
            end => lie.end = end.clone(),
        }
        let before = partial.clone();
        let result = partial.put_chunk(&start, &lie, root(&full));
        prop_assert_eq!(result, Err(ChunkError::Invalid(Invalid::EndPastLane)));
        prop_assert!(partial.same_as(&before));
        let crossing = full.chunk_bounded(&start, limit + 2, None).unwrap();
        if crossing.items.iter().any(|(key, _)| !lanes.holds(lane, key)) {
            let result = partial.put_chunk(&start, &crossing, root(&full));
            prop_assert!(matches!(result, Err(ChunkError::Invalid(_))), "{:?}", result);
            prop_assert!(partial.same_as(&before));
        }
    }
}

/// S1 (a computable root is the head's), S3 (the known part is exactly the head's state there), the trie's own
/// invariants, and I-TRIE: with no unknown stump the trie equals the ideal partial trie node for node.
fn check_against_head(partial: &Trie, head: &Trie, verified: &mut VerifiedHashes) -> Result<(), TestCaseError> {
    partial.check_invariants_full();
    partial.check_invariants_full_reusing(verified);
    let known: Vec<_> = head.items().into_iter().filter(|(k, _)| partial.is_known(k)).collect();
    prop_assert_eq!(partial.items(), known, "S3: the known part is exact");
    if let Some(partial_root) = partial.root_if_computable() {
        prop_assert_eq!(partial_root, root(head), "S1");
        let ideal = ideal(head, partial.lanes(), partial.lane_starts());
        prop_assert!(partial.same_as(&ideal), "I-TRIE:\n{}\nideal:\n{}", partial.render(), ideal.render());
    }
    Ok(())
}
