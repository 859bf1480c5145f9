//! The reference's six engine behaviours, scripted through the harness (no simulator).

mod harness;

use harness::{Behavior, Harness};
use sync_core::wire::{Request, Response};
use sync_core::{Config, Cursor, Event, Input, PeerId, ResetReason, Violation};

/// The reference's behaviours: every buffered chunk moves the cursor, whoever vouched for its tag.
fn config() -> Config {
    Config { chunk_size_max: 10, chunk_tags_vouched: false, ..Config::scaled(4) }
}

#[test]
fn syncs_state_from_one_peer() {
    let mut h = Harness::new(config(), 95);
    let genesis = h.chain.genesis;
    h.join(1, genesis, Behavior::Honest);
    assert!(h.engine.is_complete(), "a still chain completes without blocks");
    h.assert_synced();
    assert_eq!(h.count(|e| matches!(e, Event::StateComplete { .. })), 1);
    let chunk_requests = h.requests.iter().filter(|(_, r)| matches!(r, Request::Chunk { .. })).count();
    assert_eq!(chunk_requests, 10, "⌈95 / 10⌉ chunks");
}

#[test]
fn syncs_while_the_chain_grows() {
    let mut h = Harness::new(config(), 200);
    let genesis = h.chain.genesis;
    h.holding = true;
    h.join(1, genesis, Behavior::Honest);
    // Every chunk answer is held while a block arrives, so each answer is for an older head.
    for _ in 0..30 {
        h.grow(1);
        h.release();
    }
    h.stop_holding();
    assert!(h.run_until_complete(60_000));
    h.assert_synced();
    assert!(h.engine.head().number() >= 4, "the chain grew past a macro block");
}

#[test]
fn reverts_chunks_on_rebranch() {
    let mut h = Harness::new(config(), 200);
    let genesis = h.chain.genesis;
    let main = h.chain.extend(genesis, 2);
    let fork = h.chain.extend(genesis, 3);
    h.holding = true;
    h.join(1, genesis, Behavior::Honest);
    let peer = PeerId(1);
    h.input(Input::Announce { peer, block: main[0].clone() });
    h.input(Input::Announce { peer, block: main[1].clone() });
    h.servers.get_mut(&peer).unwrap().head = main[1].hash();
    for _ in 0..3 {
        h.release();
    }
    assert_eq!(h.engine.head().hash(), main[1].hash());
    // Stop mid-download: chunks were committed at main[1].
    let missing_before_fork = h.engine.missing_start().cloned();
    assert!(missing_before_fork.is_some(), "the download is under way");
    h.holding = true;
    for block in &fork {
        h.input(Input::Announce { peer, block: block.clone() });
    }
    h.servers.get_mut(&peer).unwrap().head = fork[2].hash();
    h.stop_holding();
    let rebranched = h.events.iter().find_map(|e| match e {
        Event::Rebranched { reverted, adopted } => Some((reverted.len(), adopted.len())),
        _ => None,
    });
    assert_eq!(rebranched, Some((2, 3)), "main[0..2] reverted, fork[0..3] adopted");
    assert!(h.count(|e| matches!(e, Event::ChunkChainReset { reason: ResetReason::Rebranch, .. })) >= 1);
    assert!(h.run_until_complete(60_000));
    h.assert_synced();
    assert_eq!(h.engine.head().hash(), fork[2].hash());
}

#[test]
fn resets_a_chain_of_chunks_after_an_invalid_one() {
    let mut h = Harness::new(config(), 60);
    let genesis = h.chain.genesis;
    // The liar flips a value in every chunk it serves.
    let liar = Behavior::Rewrite(Box::new(|_, response| match response {
        Response::Chunk { block_number, block_hash, mut chunk } => {
            if let Some((_, value)) = chunk.items.first_mut() {
                value.push(1);
            }
            Some(Response::Chunk { block_number, block_hash, chunk })
        }
        other => Some(other),
    }));
    h.join(1, genesis, liar);
    h.join(2, genesis, Behavior::Honest);
    assert!(h.run_until_complete(60_000));
    h.assert_synced();
    assert_eq!(h.count(|e| matches!(e, Event::ChunkChainReset { reason: ResetReason::ChunkRejected, .. })), 1);
    assert_eq!(
        h.count(|e| matches!(e, Event::PeerPenalized { peer: PeerId(1), violation: Violation::ChunkRejected })),
        1
    );
    assert_eq!(h.count(|e| matches!(e, Event::PeerEvicted { peer: PeerId(1) })), 1);
    assert_eq!(h.count(|e| matches!(e, Event::PeerPenalized { peer: PeerId(2), .. })), 0, "S10");
}

#[test]
fn removes_chunks_tied_to_an_invalid_block() {
    let mut h = Harness::new(config(), 60);
    let genesis = h.chain.genesis;
    let good = h.chain.next(genesis);
    // A sealed block that skips a number: intrinsically fine, invalid once its parent is known (at push).
    let ops = h.chain.ops_for(good.hash(), 99);
    let bad = h.chain.child_with(good.hash(), ops, |header| header.number = 3);
    let bad_hash = bad.hash();
    // The peer tags its chunks with the invalid block before anyone knows it is invalid.
    let tagger = Behavior::Rewrite(Box::new(move |_, response| match response {
        Response::Chunk { chunk, .. } => Some(Response::Chunk { block_number: 3, block_hash: bad_hash, chunk }),
        other => Some(other),
    }));
    h.join(1, genesis, tagger);
    let peer = PeerId(1);
    h.input(Input::Announce { peer, block: good.clone() });
    assert!(h.engine.chunk_buffer_size() > 0, "chunks wait for block 2");
    let buffered = h.engine.chunk_buffer_size();
    h.input(Input::Announce { peer, block: bad.clone() });
    assert!(h.count(|e| matches!(e, Event::RejectedBlock { hash, .. } if *hash == bad_hash)) == 1);
    assert_eq!(h.engine.chunk_buffer_size(), 0, "H6: all {buffered} chunks of the invalid block are gone");
    assert!(h.count(|e| matches!(e, Event::ChunkChainReset { reason: ResetReason::ChunkDiscarded, .. })) >= 1);
}

#[test]
fn clears_the_buffer_after_a_macro_block() {
    let mut h = Harness::new(config(), 60);
    let genesis = h.chain.genesis;
    let blocks = h.chain.extend(genesis, 4); // block 4 is a macro block (bpb 4)
    let future = blocks[2].clone();
    let (future_number, future_hash) = (future.number(), future.hash());
    // Chunks are tagged with block 3, which this engine has not seen yet.
    let tagger = Behavior::Rewrite(Box::new(move |_, response| match response {
        Response::Chunk { chunk, .. } => {
            Some(Response::Chunk { block_number: future_number, block_hash: future_hash, chunk })
        }
        other => Some(other),
    }));
    h.join(1, genesis, tagger);
    assert!(h.engine.chunk_buffer_size() > 0);
    // Blocks 1, 2, then a fork block 3' and a macro block 4' on it: block 3 never comes.
    let peer = PeerId(1);
    for block in &blocks[..2] {
        h.input(Input::Announce { peer, block: block.clone() });
    }
    let fork3 = h.chain.next(blocks[1].hash());
    let fork4 = h.chain.next(fork3.hash());
    assert!(fork4.header().is_macro);
    h.input(Input::Announce { peer, block: fork3 });
    h.input(Input::Announce { peer, block: fork4 });
    assert_eq!(h.engine.latest_macro(), 4);
    assert_eq!(h.engine.chunk_buffer_size(), 0, "H13: chunks for height 3 are pruned at the macro block");
}

#[test]
fn replies_incomplete_when_asked_for_a_chunk_it_cannot_serve() {
    let mut h = Harness::new(config(), 10);
    let request = Request::Chunk { start_key: sync_core::Key::EMPTY, limit: 5, end_bound: None };
    h.input(Input::Request { peer: PeerId(9), request_id: 1, request });
    assert_eq!(h.responses, vec![(PeerId(9), Response::IncompleteState)]);
    assert_eq!(*h.engine.cursor(), Cursor::Reset, "serving changes nothing");
}
