//! Forks and rebranches during the download (§4.9, H8, H9, H13).

mod common;

use common::{completion, golden};
use scenarios::Scenario;
use sync_core::{Event, ResetReason};

/// The download is slow (small chunks over a thin link) so that the scripted forks land in the middle of it.
fn downloading(name: &str) -> Scenario {
    Scenario::new(name).accounts(1_500).chunk_size(15).with(|o| {
        o.bandwidth_bytes_per_ms = 300;
        o.latency_ms = 60;
        o.bpb = 32;
    })
}

/// H9, depth 1: a fork replaces the head while chunks are being committed; the node follows it and completes.
#[test]
fn rebranch_of_depth_one_during_chunk_download() {
    let run = downloading("rebranch_of_depth_one_during_chunk_download").rebranch_at(4, 1).run();
    run.expect_synced();
    run.expect_event(
        "a rebranch reverting one block",
        |e| matches!(e, Event::Rebranched { reverted, .. } if reverted.len() == 1),
    );
    let rebranch_at = run.events.iter().find(|(_, e, _)| matches!(e, Event::Rebranched { .. })).map(|(t, _, _)| *t);
    let completed = run.outcome.stats.completed_ms.unwrap_or(0);
    run.expect(rebranch_at.is_some_and(|t| t < completed), "the rebranch came before completion: during the download");
    golden(&run, |e| matches!(e, Event::Rebranched { .. }));
}

/// H9, deep: a rebranch of depth 3 reverts blocks at which chunks were committed; the trie goes back to the
/// ancestor's boundary, the cursor resets, the download resumes, and the result is exact.
#[test]
fn deep_rebranch_reverts_committed_chunks() {
    let run = downloading("deep_rebranch_reverts_committed_chunks").rebranch_at(8, 3).run();
    run.expect_synced();
    run.expect_event(
        "a rebranch reverting three blocks",
        |e| matches!(e, Event::Rebranched { reverted, .. } if reverted.len() == 3),
    );
    run.expect_event("a reset for the rebranch", |e| {
        matches!(e, Event::ChunkChainReset { reason: ResetReason::Rebranch, .. })
    });
    // Chunks were committed at the reverted blocks: the missing start went back.
    let progress: Vec<Option<sync_core::Key>> = run
        .events
        .iter()
        .filter_map(|(_, e, _)| if let Event::StateProgress { missing, .. } = e { Some(missing.clone()) } else { None })
        .collect();
    let went_back = progress.windows(2).any(|w| matches!((&w[0], &w[1]), (Some(a), Some(b)) if b < a));
    run.expect(went_back, "the revert moved the missing start back");
    golden(&run, |e| matches!(e, Event::Rebranched { .. }));
}

/// H8: chunks cut at a block that is then forked out are discarded, and the cursor resets at once rather than
/// one round trip later through a gap. A peer announces a block before it cuts chunks at it, so on a FIFO link
/// the block always arrives first; here 30 % of messages are held back up to 1.5 s, so a chunk can overtake its
/// block's announcement and wait in the buffer while a rebranch every third block replaces that block. Only a
/// chunk whose block some peer has announced moves the cursor (§4.5, step 10), so the hole needs another peer's
/// announcement to have overtaken too: 60 % of messages are held back and two requests are in flight (with these
/// settings 6 of 8 seeds show the reset; this one does).
#[test]
fn chunk_invalidated_when_its_block_is_forked_out() {
    let mut scenario =
        Scenario::new("chunk_invalidated_when_its_block_is_forked_out").accounts(2_000).chunk_size(25).with(|o| {
            o.latency_ms = 150;
            o.block_time_ms = 250;
            o.bpb = 32;
            o.bandwidth_bytes_per_ms = 0;
            o.reorder_chance = 0.6;
            o.reorder_ms = 1_500;
            o.chunk_requests_in_flight = 2;
        });
    for height in (3..30).step_by(3) {
        scenario = scenario.rebranch_at(height, 1);
    }
    let run = scenario.run();
    run.expect_synced();
    run.expect_event("a discarded chunk that had advanced the cursor", |e| {
        matches!(e, Event::ChunkChainReset { reason: ResetReason::ChunkDiscarded, .. })
    });
    run.expect(run.outcome.stats.chunks_wasted > 0, "chunks were wasted");
    golden(&run, |e| matches!(e, Event::ChunkChainReset { .. }));
}

/// H13: a macro block prunes buffered chunks at once. The peers are ahead (high latency), chunks wait for
/// their blocks, and small batches make macro blocks frequent: after every accepted macro block no chunk for a
/// height at or below it is left (S5, checked after every input), and the buffer shrinks at macro blocks.
#[test]
fn macro_block_prunes_buffered_chunks() {
    let run = Scenario::new("macro_block_prunes_buffered_chunks")
        .accounts(2_000)
        .chunk_size(10)
        .with(|o| {
            o.bpb = 4;
            o.latency_ms = 150;
            o.block_time_ms = 200;
            o.chunk_requests_in_flight = 2;
        })
        .run();
    run.expect_synced();
    let buffered_at_some_point = run.events.iter().any(|(_, _, size)| *size > 0);
    run.expect(buffered_at_some_point, "chunks waited in the buffer for their blocks");
    // The buffer shrank exactly when a macro block became the head: its chunks at or below it were pruned.
    let pruned_at_macro = run.events.windows(2).any(|pair| {
        let ((_, _, before), (_, event, after)) = (&pair[0], &pair[1]);
        let is_macro = matches!(event, Event::AcceptedAnnouncedBlock { number, .. } | Event::AcceptedBufferedBlock { number, .. } if number % 4 == 0);
        is_macro && after < before
    });
    run.expect(pruned_at_macro, "the buffer shrank when a macro block became the head");
    golden(&run, completion);
}

/// §4.7, the fork bound (explore seed 730003862, a swarm world with a bound of four fork blocks, bpb 4, and three
/// competing branches): over the bound, a tip the pipeline reaches highest on stays, and the pipeline blocks that
/// waited on a forgotten tip leave with `ForkForgotten`, which names them. Before, the tip under eleven waiting
/// blocks went, each was pushed as an orphan with the diff fetched for it, and a diff was asked again unexplained.
#[test]
fn forks_over_the_fork_bound_take_their_waiting_blocks_along() {
    let run = Scenario::new("forks_over_the_fork_bound_take_their_waiting_blocks_along")
        .with(|o| *o = sim::Options::swarm(730_003_862))
        .run();
    run.expect_synced();
    run.expect(run.count(|e| matches!(e, Event::ForkForgotten { .. })) == 2, "the bound forgot two fork blocks");
    run.expect_event(
        "a forgotten tip with a waiting block",
        |e| matches!(e, Event::ForkForgotten { orphaned, .. } if !orphaned.is_empty()),
    );
    run.expect(
        run.outcome.stats.waste.get("pipeline block orphaned: bound") == Some(&1),
        "one pipeline block orphaned, not the eleven of the tip under the branch being fetched",
    );
    golden(&run, |e| matches!(e, Event::ForkForgotten { orphaned, .. } if !orphaned.is_empty()));
}
