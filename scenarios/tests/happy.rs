//! Scenarios without trouble, and with scale or tight bounds: the baseline every other scenario departs from.

mod common;

use common::{completion, golden};
use scenarios::Scenario;
use sync_core::Event;

/// One honest peer, a growing chain: the node downloads the state and follows the head.
#[test]
fn happy_path_from_one_peer() {
    let run = Scenario::new("happy_path_from_one_peer").honest_peers(1).run();
    run.expect_synced().expect_complete_within_ms(20_000);
    run.expect_no_event("a penalty", |e| matches!(e, Event::PeerPenalized { .. }));
    run.expect_no_event("a reset", |e| matches!(e, Event::ChunkChainReset { .. }));
    run.expect(run.count(|e| matches!(e, Event::StateComplete { .. })) == 1, "completes once");
    golden(&run, completion);
}

/// Twenty honest peers: chunk requests spread over them (at least ten get some, none gets more than a quarter),
/// nobody is penalised, completion is no slower than from a few peers.
#[test]
fn twenty_peers() {
    let run = Scenario::new("twenty_peers").honest_peers(20).accounts(3_000).run();
    run.expect_synced().expect_complete_within_ms(20_000);
    run.expect_no_event("a penalty", |e| matches!(e, Event::PeerPenalized { .. }));
    let asked: Vec<u32> = run.peers.iter().map(|peer| peer.chunk_requests).collect();
    let total: u32 = asked.iter().sum();
    let peers_asked = asked.iter().filter(|&&n| n > 0).count();
    let most = asked.iter().copied().max().unwrap_or(0);
    run.expect(peers_asked >= 10, &format!("chunk requests went to {peers_asked} of 20 peers: {asked:?}"));
    run.expect(4 * most <= total, &format!("one peer got {most} of {total} chunk requests: {asked:?}"));
    golden(&run, completion);
}

/// Tiny buffers: one chunk buffered at most, a block buffer of two. Chunks for our head bypass the chunk
/// buffer (H5), so the download completes; the bound holds throughout (checked after every input).
#[test]
fn tiny_buffers() {
    let run = Scenario::new("tiny_buffers")
        .chunk_size(20)
        .with(|o| {
            o.latency_ms = 120;
            o.block_time_ms = 200;
            o.buffer_max = 1;
            o.block_buffer_max = 2;
        })
        .run();
    run.expect_synced();
    let peak = run.events.iter().map(|(_, _, size)| *size).max().unwrap_or(0);
    run.expect(peak <= 1, &format!("never more than one buffered chunk; peak {peak}"));
    run.expect(run.count(|e| matches!(e, Event::AcceptedChunks { .. })) >= 50, "20-item chunks of 1 000 accounts");
    golden(&run, completion);
}
