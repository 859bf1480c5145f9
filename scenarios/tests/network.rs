//! Network trouble: partitions, churn, everyone gone, a chain faster than the download (§7.2, H12, H16).

mod common;

use common::{completion, golden};
use scenarios::{ByzantineClass, Scenario};
use sync_core::Event;

/// A partition cuts the node off from every peer for 8 s; the node catches up after it heals.
#[test]
fn partition_then_heal() {
    let run = Scenario::new("partition_then_heal").chunk_size(20).partition(2_000, 8_000, &[]).run();
    run.expect_synced();
    let completed = run.outcome.stats.completed_ms.unwrap_or(0);
    run.expect(completed > 10_000, &format!("nothing could arrive during the partition: completed at {completed} ms"));
    golden(&run, completion);
}

/// Heavy churn: peers leave and rejoin every few seconds all through the download (H16). Every peer but the
/// first churns; each leaves at least twice while the download runs, and the download still completes, with
/// chunks asked of more than one peer.
#[test]
fn heavy_churn() {
    let run = Scenario::new("heavy_churn")
        .honest_peers(4)
        .accounts(3_000)
        .chunk_size(10)
        .with(|o| {
            o.churn_interval_ms = 1_500;
            o.blocks = 60;
        })
        .run();
    run.expect_synced();
    let completed = run.outcome.stats.completed_ms.unwrap_or(0);
    run.expect(completed > 2 * 3 * 1_500, &format!("the download spans several churns: completed at {completed} ms"));
    let leaves: Vec<u32> = run.peers.iter().map(|peer| peer.leaves).collect();
    run.expect(leaves[0] == 0, "the first peer never leaves");
    run.expect(leaves[1..].iter().all(|&n| n >= 2), &format!("every other peer left at least twice: {leaves:?}"));
    let asked = run.peers.iter().filter(|peer| peer.chunk_requests > 0).count();
    run.expect(asked >= 2, "chunks were asked of more than one peer");
    golden(&run, completion);
}

/// All peers behind for chunks: for the first 15 s the only peers are liars answering `IncompleteState` (and
/// the honest peer is away). They are Behind for chunks and cool down, never penalised (H23); when the honest
/// peer returns the download completes.
#[test]
fn all_peers_behind() {
    let run = Scenario::new("all_peers_behind")
        .honest_peers(1)
        .byzantine(ByzantineClass::IncompleteLie, 2)
        .leave(0, 15_000, &[0])
        .run();
    run.expect_synced();
    run.expect_event("a peer Behind for chunks", |e| matches!(e, Event::PeerBehind { .. }));
    run.expect_no_event("a penalty", |e| matches!(e, Event::PeerPenalized { .. }));
    let completed = run.outcome.stats.completed_ms.unwrap_or(0);
    run.expect(completed > 15_000, &format!("no state before the honest peer returned: {completed} ms"));
    golden(&run, |e| matches!(e, Event::PeerBehind { .. }));
}

/// H12, the head outrunning the download: a block every 100 ms while a chunk round trip takes over 300 ms
/// (150 ms latency each way, 250 B/ms). The peers are ahead of the node, so their chunks wait in the buffer for
/// blocks the node has not applied yet and are committed when they arrive; the download is not wasted, but it
/// cannot finish while the chain races (150 blocks in 15 s). The liveness phase slows the chain to a sustainable
/// rate (`World::block_time_ms`) and the node must then complete within the L1 bound. Asserted: the node followed
/// the racing head all along (more than 100 blocks accepted before completion), and completed within 60 s.
#[test]
fn head_outrunning_the_download() {
    let run = Scenario::new("head_outrunning_the_download")
        .accounts(2_000)
        .chunk_size(50)
        .block_time_ms(100)
        .with(|o| {
            o.block_time_jitter_ms = 0;
            o.latency_ms = 150;
            o.bandwidth_bytes_per_ms = 250;
            o.blocks = 150;
        })
        .run();
    run.expect_synced().expect_complete_within_ms(60_000);
    let completed = run.outcome.stats.completed_ms.unwrap_or(0);
    let followed = run
        .events
        .iter()
        .filter(|(at, e, _)| {
            *at <= completed && matches!(e, Event::AcceptedAnnouncedBlock { .. } | Event::AcceptedBufferedBlock { .. })
        })
        .count();
    run.expect(followed > 100, &format!("the head was followed while downloading: {followed} blocks"));
    golden(&run, completion);
}
