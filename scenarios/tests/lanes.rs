//! Lanes (docs/protocol.md §2.13, §4.12): several parts of key space downloaded at once, each kept up to date
//! with every block's diff.

mod common;

use common::{completion, golden};
use scenarios::{ByzantineClass, KeyShape, Kind, Scenario};
use sync_core::trie::{ChunkApplied, Lanes, Op};
use sync_core::{Event, Key, ResetReason, Trie};

/// A slow download (small chunks over a thin link) in `lanes` lanes, so that blocks and forks land inside it.
fn downloading(name: &str, lanes: u32) -> Scenario {
    Scenario::new(name).accounts(1_500).chunk_size(15).with(|o| {
        o.bandwidth_bytes_per_ms = 300;
        o.latency_ms = 60;
        o.bpb = 32;
        o.lanes = lanes;
    })
}

/// The lanes reset by `Rebranch` in the input of the first rebranch, and the lanes that were not done then.
fn rebranch_resets(events: &[(u64, Event, u32)]) -> (u64, Vec<u8>) {
    let at = events.iter().find(|(_, e, _)| matches!(e, Event::Rebranched { .. })).map_or(0, |(t, _, _)| *t);
    let reset = events
        .iter()
        .filter(|(t, e, _)| *t == at && matches!(e, Event::ChunkChainReset { reason: ResetReason::Rebranch, .. }))
        .filter_map(|(_, e, _)| match e {
            Event::ChunkChainReset { lane, .. } => Some(*lane),
            _ => None,
        })
        .collect();
    (at, reset)
}

/// A rebranch of depth 2 in the middle of an eight-lane download of clustered keys (lanes without keys are
/// done at once): the lanes whose chunks it reverted start over, the others keep their chains (§4.12: only the lanes whose missing start the rebranch took back), and the
/// result is exact.
#[test]
fn a_rebranch_reverts_some_lanes_but_not_others() {
    let run = downloading("a_rebranch_reverts_some_lanes_but_not_others", 8)
        .with(|o| o.key_shape = KeyShape::Clustered)
        .rebranch_at(12, 2)
        .run();
    run.expect_synced();
    let (at, reset) = rebranch_resets(&run.events);
    let completed = run.outcome.stats.completed_ms.unwrap_or(0);
    run.expect(at > 0 && at < completed, "the rebranch came during the download");
    run.expect(!reset.is_empty(), "the rebranch reset the lanes whose chunks it reverted");
    run.expect(reset.len() < 8, &format!("and only those: lanes {reset:?} reset, not all eight"));
    golden(&run, |e| matches!(e, Event::Rebranched { .. }));
}

/// A block's diff changes a key in lane 0's missing part (its stumps become unknown, the root is no longer
/// computable) while lane 2's next chunk arrives: the chunk is verified slot by slot against the proof's root
/// node and applied; the next chunk of lane 0 brings the root back, equal to the head's, and the download ends
/// in the head's state.
#[test]
fn a_diff_in_one_lanes_missing_part_while_another_lanes_chunk_arrives() {
    let keys = ["03", "031", "05a", "0f", "11", "4c", "81", "8a", "9", "c3", "f0"];
    let items = keys.iter().map(|k| (Key::from_hex(k).unwrap(), k.as_bytes().to_vec()));
    let mut head = Trie::from_items(items).unwrap();
    let lanes = Lanes::new(4).unwrap();
    let mut partial = Trie::fresh_in(lanes);
    let root = |trie: &Trie| trie.root_if_computable().unwrap();
    let chunk_of = |partial: &Trie, head: &Trie, lane: usize| {
        let start = partial.lane_start(lane).unwrap().clone();
        (start.clone(), head.chunk_bounded(&start, 2, lanes.end(lane).as_ref()).unwrap())
    };
    let (start, chunk) = chunk_of(&partial, &head, 0);
    assert!(matches!(partial.put_chunk(&start, &chunk, root(&head)), Ok(ChunkApplied::Applied { .. })));
    assert_eq!(partial.lane_start(0), Some(&Key::from_hex("05").unwrap()), "lane 0 known below 05");
    // A block changes 0f (lane 0, missing) and 11 (lane 0, missing), and 4c (lane 1, missing).
    let ops = vec![
        Op::Set(Key::from_hex("0f").unwrap(), b"changed".to_vec()),
        Op::Delete(Key::from_hex("11").unwrap()),
        Op::Set(Key::from_hex("4d").unwrap(), b"new".to_vec()),
    ];
    let (next, diff) = head.execute(&ops).unwrap();
    let applied = partial.apply_diff(&diff, root(&next)).unwrap();
    assert_eq!(applied.missing_entries, 3, "every change fell in a missing part");
    assert_eq!(partial.root_if_computable(), None, "lane 0's stumps are unknown now");
    head = next;
    let (start, chunk) = chunk_of(&partial, &head, 2);
    assert!(matches!(partial.put_chunk(&start, &chunk, root(&head)), Ok(ChunkApplied::Applied { .. })));
    assert_eq!(partial.root_if_computable(), None, "lane 0 still holds an unknown stump");
    let known_in_lane_2 = head.items().into_iter().filter(|(k, _)| lanes.of_key(k) == 2 && partial.is_known(k));
    assert_eq!(
        partial.items().into_iter().filter(|(k, _)| lanes.of_key(k) == 2).collect::<Vec<_>>(),
        known_in_lane_2.collect::<Vec<_>>()
    );
    let (start, chunk) = chunk_of(&partial, &head, 0);
    assert!(matches!(partial.put_chunk(&start, &chunk, root(&head)), Ok(ChunkApplied::Applied { .. })));
    for lane in [0, 1, 2, 3] {
        while partial.lane_start(lane).is_some() {
            let (start, chunk) = chunk_of(&partial, &head, lane);
            assert!(matches!(partial.put_chunk(&start, &chunk, root(&head)), Ok(ChunkApplied::Applied { .. })));
        }
    }
    assert_eq!(partial.items(), head.items());
    assert_eq!(partial.root_if_computable(), head.root_if_computable());
}

/// One honest peer and one that serves the first quarter of key space only and withholds every other lane's
/// chunks: the withheld lanes go to the honest peer, the liar is never penalised (withholding proves
/// nothing), and the node completes.
#[test]
fn a_liar_that_serves_one_lane_only() {
    let run =
        downloading("a_liar_that_serves_one_lane_only", 4).honest_peers(1).byzantine(ByzantineClass::OneLane, 1).run();
    run.expect_synced();
    let liar = run.peers_of(Kind::Byzantine(ByzantineClass::OneLane));
    run.expect_event(
        "a chunk request to the liar timed out",
        |e| matches!(e, Event::RequestTimedOut { peer, .. } if liar.contains(peer)),
    );
    run.expect_no_event(
        "a penalty for withholding",
        |e| matches!(e, Event::PeerPenalized { peer, .. } if liar.contains(peer)),
    );
    golden(&run, |e| matches!(e, Event::RequestTimedOut { peer, .. } if liar.contains(peer)));
}

/// A peer that answers a lane's request past the lane's end is caught at receipt (`ChunkPastLane`) and evicted.
#[test]
fn a_liar_crossing_lane_bounds_is_evicted() {
    let run = downloading("a_liar_crossing_lane_bounds_is_evicted", 4).byzantine(ByzantineClass::CrossLane, 1).run();
    run.expect_synced();
    run.expect_evicted(Kind::Byzantine(ByzantineClass::CrossLane));
    run.expect_event("a ChunkPastLane penalty", |e| {
        matches!(e, Event::PeerPenalized { violation: sync_core::Violation::ChunkPastLane, .. })
    });
}

/// Clustered keys (a few long shared prefixes) put most of the state in one lane: the other lanes are done
/// long before it, the last lane keeps following every block's diff alone, and the result is exact.
#[test]
fn the_last_lane_finishing_long_after_the_others() {
    let run = downloading("the_last_lane_finishing_long_after_the_others", 8)
        .with(|o| o.key_shape = KeyShape::Clustered)
        .run();
    run.expect_synced();
    let lanes_done: Vec<u64> =
        run.events.iter().filter(|(_, e, _)| matches!(e, Event::LaneComplete { .. })).map(|(t, _, _)| *t).collect();
    let completed = run.outcome.stats.completed_ms.unwrap_or(0);
    run.expect(lanes_done.len() >= 4, &format!("most lanes finish before the last: {} did", lanes_done.len()));
    let first = lanes_done.first().copied().unwrap_or(completed);
    run.expect(completed >= 4 * first, &format!("the last lane finished long after: {first} ms, then {completed} ms"));
    golden(&run, completion);
}
