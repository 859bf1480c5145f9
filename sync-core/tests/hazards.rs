//! One scripted test per hazard of §5.3 that concerns the engine, and per beyond-reference feature. Each
//! test names the hazard, drives the scenario through the harness, and asserts our behaviour.

mod harness;

use harness::{Behavior, Harness};
use sync_core::block::{Block, BlockInvalid};
use sync_core::wire::{Request, Response};
use sync_core::{Chunk, ChunkWaste, Config, Cursor, Event, Hash, Input, PeerId, ResetReason, Violation};

fn config() -> Config {
    Config { chunk_size_max: 10, ..Config::scaled(8) }
}

/// The reference's tag rule: every buffered chunk moves the cursor, whoever vouched for its tag. The hazards
/// about invented tags (H5, H8, H15) are what follows from it; `chunk_tags_vouched` (the default) keeps such
/// chunks from moving the cursor at all, which `h14_an_invented_tag_never_moves_the_cursor` shows.
fn reference_tags() -> Config {
    Config { chunk_tags_vouched: false, ..config() }
}

/// Rewrites every chunk answer with `edit`; other answers pass unchanged.
fn chunks(mut edit: impl FnMut(&Request, Chunk) -> Chunk + 'static) -> Behavior {
    Behavior::Rewrite(Box::new(move |request, response| match response {
        Response::Chunk { block_number, block_hash, chunk } => {
            Some(Response::Chunk { block_number, block_hash, chunk: edit(request, chunk) })
        }
        other => Some(other),
    }))
}

/// Tags every chunk answer with another block.
fn retag(number: u32, hash: Hash) -> Behavior {
    Behavior::Rewrite(Box::new(move |_, response| match response {
        Response::Chunk { chunk, .. } => Some(Response::Chunk { block_number: number, block_hash: hash, chunk }),
        other => Some(other),
    }))
}

/// Flips a byte of the first item of every chunk: a provable lie.
fn liar() -> Behavior {
    chunks(|_, mut chunk| {
        if let Some((_, value)) = chunk.items.first_mut() {
            value.push(1);
        }
        chunk
    })
}

/// Answers chunk requests with nothing: the engine stays incomplete, so diff mode stays on.
fn withholding_chunks(except_diff_of: Option<Hash>) -> Behavior {
    Behavior::Rewrite(Box::new(move |request, response| match request {
        Request::Chunk { .. } => None,
        Request::TrieDiff { block_hash } if Some(*block_hash) == except_diff_of => Some(Response::UnknownBlockHash),
        _ => Some(response),
    }))
}

fn penalties(h: &Harness) -> usize {
    h.count(|e| matches!(e, Event::PeerPenalized { .. }))
}

/// H4 + H11: a rebranch from `Complete` back across the completion point. The fork blocks were stored while
/// complete, without diffs: the engine fetches them first, then rebranches, resets and syncs again. Nobody is
/// penalised and no block is rejected.
#[test]
fn h4_h11_a_rebranch_out_of_complete_fetches_fork_diffs_first() {
    let mut h = Harness::new(Config { chunk_size_max: 1000, ..Config::scaled(8) }, 50);
    let genesis = h.chain.genesis;
    let first = h.chain.next(genesis);
    h.holding = true;
    h.join(1, first.hash(), Behavior::Honest); // its one chunk is cut at block 1
    h.input(Input::Announce { peer: PeerId(1), block: first.clone() });
    h.stop_holding();
    assert_eq!(h.count(|e| matches!(e, Event::StateComplete { head } if *head == first.hash())), 1);
    for block in h.chain.extend(first.hash(), 2) {
        h.produce(&block); // executed while complete: no diffs fetched
    }
    let fork = h.chain.extend(genesis, 4);
    for block in &fork {
        h.produce(block);
    }
    let rebranched = h.events.iter().find_map(|e| match e {
        Event::Rebranched { reverted, adopted } => Some((reverted.len(), adopted.len())),
        _ => None,
    });
    assert_eq!(rebranched, Some((3, 4)));
    assert_eq!(h.count(|e| matches!(e, Event::StateReset)), 1, "the revert crossed the completion point");
    assert!(h.run_until_complete(60_000));
    h.assert_synced();
    assert_eq!(h.engine.head().hash(), fork[3].hash());
    assert_eq!(h.count(|e| matches!(e, Event::StateComplete { .. })), 2);
    assert_eq!(h.count(|e| matches!(e, Event::RejectedBlock { .. })), 0);
    assert_eq!(penalties(&h), 0);
}

/// Ours (§4.7): over `fork_blocks_max`, the lowest fork *tip* goes, never a fork block that another stored fork
/// block builds on. Dropping the lowest fork block instead (explore seed 700019374) kept a reverted branch
/// without its first block: when the honest chain went on from that branch, its next block was rejected as a
/// fork below the macro block, and the node never followed the chain again.
#[test]
fn a_reverted_branch_keeps_its_first_block_when_forks_overflow() {
    let mut h = Harness::new(Config { fork_blocks_max: 8, ..Config::scaled(8) }, 30);
    let genesis = h.chain.genesis;
    h.join(1, genesis, Behavior::Honest);
    assert!(h.engine.is_complete());
    let first = h.chain.extend(genesis, 3);
    for block in &first {
        h.produce(block);
    }
    let second = h.chain.extend(genesis, 4);
    for block in &second {
        h.produce(block);
    }
    assert_eq!(h.count(|e| matches!(e, Event::Rebranched { .. })), 1, "the first branch became three forks");
    // Six stubs at #2: nine fork blocks, one over the bound. The lowest fork block is the first branch's #1.
    for _ in 0..6 {
        let stub = h.chain.next(second[0].hash());
        h.input(Input::Announce { peer: PeerId(1), block: stub });
    }
    assert_eq!(h.count(|e| matches!(e, Event::StoredFork { number: 2, .. })), 7);
    let onwards = h.chain.extend(first[2].hash(), 2);
    for block in &onwards {
        h.produce(block);
    }
    assert_eq!(h.engine.head().hash(), onwards[1].hash(), "the first branch is the main chain again");
    assert_eq!(h.count(|e| matches!(e, Event::Rebranched { .. })), 2);
    assert_eq!(h.count(|e| matches!(e, Event::RejectedBlock { .. })), 0);
    assert_eq!(penalties(&h), 0);
}

/// H5 + H22: the buffer is full of chunks for a block that is not ours, yet chunks for our head are committed.
/// The flooder's chunk advanced the cursor, so the honest head chunk after it is a gap: reset at once.
#[test]
fn h5_h22_a_full_buffer_still_takes_head_chunks_and_a_gap_resets() {
    let config = Config { buffer_max: 1, chunk_buffer_per_peer_max: 1, ..reference_tags() };
    let mut h = Harness::new(config, 40);
    let genesis = h.chain.genesis;
    h.join(1, genesis, retag(1, Hash([0xee; 32])));
    assert_eq!(h.engine.chunk_buffer_size(), 1, "the flooder filled the buffer");
    h.join(2, genesis, Behavior::Honest);
    assert!(h.run_until_complete(120_000));
    h.assert_synced();
    assert!(h.count(|e| matches!(e, Event::ChunkChainReset { reason: ResetReason::Gap, .. })) >= 1, "H22");
    let committed_while_full = h
        .events
        .iter()
        .zip(&h.buffer_sizes)
        .any(|(event, size)| matches!(event, Event::AcceptedChunks { .. }) && *size == 1);
    assert!(committed_while_full, "H5: a head chunk was committed while the buffer was full");
    assert_eq!(penalties(&h), 0, "tagging a block that never comes is not a proven violation");
}

/// H7: a rejected block never takes the engine out of `Complete`.
#[test]
fn h7_a_rejected_block_leaves_complete_alone() {
    let mut h = Harness::new(config(), 30);
    let genesis = h.chain.genesis;
    h.join(1, genesis, Behavior::Honest);
    assert!(h.engine.is_complete());
    let ops = h.chain.ops_for(genesis, 5);
    let skipping = h.chain.child_with(genesis, ops, |header| header.number = 2);
    h.input(Input::Announce { peer: PeerId(1), block: skipping });
    assert_eq!(h.count(|e| matches!(e, Event::RejectedBlock { reason: BlockInvalid::Number, .. })), 1);
    assert_eq!(*h.engine.cursor(), Cursor::Complete);
    assert_eq!(h.count(|e| matches!(e, Event::StateReset | Event::ChunkChainReset { .. })), 0);
}

/// H8: a chunk buffered for a fork block advanced the cursor; when its height is passed by the main chain the
/// chunk goes and the cursor resets at once, not one round trip later through a gap.
#[test]
fn h8_a_discarded_chunk_that_advanced_the_cursor_resets_at_once() {
    let mut h = Harness::new(reference_tags(), 60);
    let genesis = h.chain.genesis;
    let main = h.chain.next(genesis);
    let fork = h.chain.next(genesis);
    h.holding = true;
    let peer = h.join(1, genesis, retag(1, fork.hash()));
    h.release();
    assert_eq!(h.engine.chunk_buffer_size(), 1);
    assert!(matches!(h.cursor(), Cursor::Continue(_)), "the fork chunk advanced the cursor");
    h.input(Input::Announce { peer, block: main.clone() });
    h.release();
    assert_eq!(h.engine.head().hash(), main.hash());
    assert_eq!(h.count(|e| matches!(e, Event::ChunkChainReset { reason: ResetReason::ChunkDiscarded, .. })), 1);
    assert_eq!(h.count(|e| matches!(e, Event::ChunkChainReset { reason: ResetReason::Gap, .. })), 0);
    h.servers.get_mut(&peer).unwrap().behavior = Behavior::Honest;
    h.servers.get_mut(&peer).unwrap().head = main.hash();
    h.stop_holding();
    assert!(h.run_until_complete(60_000));
    h.assert_synced();
}

/// H10: nobody serves the diff of an abandoned fork block. Only its descendants would wait: the main chain
/// moves on, and after `diff_rounds_max` rounds the block is given up (`DiffUnavailable`), unpunished.
#[test]
fn h10_a_diff_nobody_serves_delays_only_its_own_descendants() {
    let mut h = Harness::new(config(), 60);
    let genesis = h.chain.genesis;
    let abandoned = h.chain.next(genesis);
    h.join(1, genesis, withholding_chunks(Some(abandoned.hash())));
    h.join(2, genesis, withholding_chunks(Some(abandoned.hash())));
    h.input(Input::Announce { peer: PeerId(2), block: abandoned.clone() });
    assert_eq!(h.engine.pending_blocks(), 1);
    let main = h.grow(3);
    assert_eq!(h.engine.head().hash(), main[2].hash(), "unrelated blocks were not held back (H10, H20)");
    assert_eq!(h.engine.pending_blocks(), 1, "the abandoned block still waits");
    h.run_until_complete(200_000);
    assert_eq!(h.count(|e| matches!(e, Event::DiffUnavailable { hash } if *hash == abandoned.hash())), 1);
    assert_eq!(h.engine.pending_blocks(), 0);
    assert_eq!(penalties(&h), 0, "withholding is not a proven violation");
    assert_eq!(h.count(|e| matches!(e, Event::RejectedBlock { .. })), 0, "forgotten, not rejected");
}

/// H12: a responder whose head lags behind ours. Once it announces a head below ours, no more chunk requests go
/// to it while another peer is free; the download completes as the chain moves.
#[test]
fn h12_a_lagging_responder_is_skipped_once_its_head_is_known() {
    let mut h = Harness::new(config(), 120);
    let genesis = h.chain.genesis;
    let (fast, slow) = (PeerId(1), PeerId(2));
    h.holding = true;
    h.join(1, genesis, Behavior::Honest);
    h.join(2, genesis, Behavior::Honest);
    let mut tip = genesis;
    let mut requests_to_slow = None;
    for _ in 0..6 {
        let block = h.chain.next(tip);
        h.servers.get_mut(&fast).unwrap().head = block.hash();
        h.servers.get_mut(&slow).unwrap().head = tip;
        h.input(Input::Announce { peer: fast, block: block.clone() });
        h.release(); // the diff lands: our head is now the new block
        assert_eq!(h.engine.head().hash(), block.hash());
        // The slow peer announces its own head, one block behind ours.
        let lagging = h.chain.block(&tip);
        h.input(Input::Announce { peer: slow, block: lagging });
        requests_to_slow.get_or_insert(h.chunk_requests_to(slow));
        tip = block.hash();
    }
    h.stop_holding();
    assert!(h.run_until_complete(60_000));
    h.assert_synced();
    assert_eq!(Some(h.chunk_requests_to(slow)), requests_to_slow, "no chunk request to a peer behind us");
    assert_eq!(penalties(&h), 0);
}

/// H14: a peer floods answers tagged with invented blocks. Its share of the buffer is capped, nothing it sends
/// is a proven violation, and the honest peer still completes the download.
#[test]
fn h14_a_flooder_is_held_to_its_buffer_quota() {
    let config = Config { buffer_max: 8, chunk_buffer_per_peer_max: 2, chunk_requests_in_flight: 2, ..config() };
    let mut invented = 0u8;
    let flooder = Behavior::Rewrite(Box::new(move |_, response| match response {
        Response::Chunk { chunk, .. } => {
            invented = invented.wrapping_add(1);
            Some(Response::Chunk { block_number: 1 + u32::from(invented % 8), block_hash: Hash([invented; 32]), chunk })
        }
        other => Some(other),
    }));
    let mut h = Harness::new(config, 80);
    let genesis = h.chain.genesis;
    h.join(1, genesis, flooder);
    h.join(2, genesis, Behavior::Honest);
    assert!(h.run_until_complete(300_000));
    h.assert_synced();
    assert!(h.buffer_sizes.iter().all(|&size| size <= 2), "only the flooder buffers, within its quota of 2");
}

/// H15: the final chunk is buffered for a block that never comes; passing that height resets at once.
#[test]
fn h15_a_final_chunk_for_a_block_that_never_comes() {
    let mut h = Harness::new(reference_tags(), 5); // one chunk is the final one
    let genesis = h.chain.genesis;
    let main = h.chain.next(genesis);
    let peer = h.join(1, genesis, retag(1, Hash([0xab; 32])));
    assert_eq!(h.cursor(), Cursor::Paused(1));
    h.servers.get_mut(&peer).unwrap().behavior = Behavior::Honest;
    h.produce(&main);
    assert_eq!(h.count(|e| matches!(e, Event::ChunkChainReset { reason: ResetReason::ChunkDiscarded, .. })), 1);
    assert!(h.run_until_complete(60_000));
    h.assert_synced();
}

/// H15 on a still chain: no block ever passes the height, so patience runs out (`chunk_buffer_wait_ms`).
#[test]
fn h15_a_final_chunk_waits_at_most_chunk_buffer_wait_ms() {
    let mut h = Harness::new(reference_tags(), 5);
    let genesis = h.chain.genesis;
    let peer = h.join(1, genesis, retag(1, Hash([0xab; 32])));
    assert_eq!(h.cursor(), Cursor::Paused(1));
    h.servers.get_mut(&peer).unwrap().behavior = Behavior::Honest;
    let wait = h.engine.config().chunk_buffer_wait_ms;
    h.advance(wait - 1);
    assert_eq!(h.cursor(), Cursor::Paused(1), "still waiting");
    assert!(h.run_until_complete(2 * wait));
    h.assert_synced();
    assert_eq!(h.count(|e| matches!(e, Event::ChunkChainReset { reason: ResetReason::ChunkDiscarded, .. })), 1);
}

/// H16: every peer leaves; the first one to join again gets a request at once, without waiting for a timer.
#[test]
fn h16_a_peer_joining_an_empty_set_restarts_the_download() {
    let mut h = Harness::new(config(), 30);
    let genesis = h.chain.genesis;
    h.join(1, genesis, Behavior::Silent);
    h.input(Input::PeerLeft { peer: PeerId(1) });
    h.advance(50_000);
    assert!(h.engine.peers().is_empty());
    h.join(2, genesis, Behavior::Honest);
    assert!(h.engine.is_complete(), "completed on the join alone");
    h.assert_synced();
}

/// H17: an answer to a request that a reset made obsolete is dropped: it is neither committed nor buffered.
#[test]
fn h17_a_late_answer_after_a_reset_is_dropped() {
    let config = Config { chunk_requests_in_flight: 2, ..config() };
    let mut h = Harness::new(config, 40);
    let genesis = h.chain.genesis;
    h.holding = true;
    h.join(1, genesis, liar()); // asked first
    h.join(2, genesis, Behavior::Honest); // the hedge
    h.release();
    assert_eq!(h.count(|e| matches!(e, Event::ChunkChainReset { reason: ResetReason::ChunkRejected, .. })), 1);
    assert_eq!(h.count(|e| matches!(e, Event::AcceptedChunks { .. })), 0, "the hedge's answer was dropped");
    assert_eq!(h.count(|e| matches!(e, Event::PeerPenalized { peer: PeerId(2), .. })), 0);
    h.stop_holding();
    assert!(h.run_until_complete(60_000));
    h.assert_synced();
}

/// H18: an empty non-final chunk makes no progress: a violation, and the download moves to another peer.
#[test]
fn h18_a_chunk_without_progress_is_a_violation() {
    let stuck = chunks(|request, mut chunk| {
        let Request::Chunk { start_key, .. } = request else { return chunk };
        chunk.items.clear();
        chunk.end = Some(start_key.clone());
        chunk
    });
    let mut h = Harness::new(config(), 40);
    let genesis = h.chain.genesis;
    h.join(1, genesis, stuck);
    h.join(2, genesis, Behavior::Honest);
    assert!(h.run_until_complete(60_000));
    h.assert_synced();
    let violation = Violation::ChunkNoProgress;
    assert_eq!(h.count(|e| matches!(e, Event::PeerPenalized { peer: PeerId(1), violation: v } if *v == violation)), 1);
    assert_eq!(h.count(|e| matches!(e, Event::PeerEvicted { peer: PeerId(1) })), 1);
}

/// H19: more items than asked for is a violation; the start is retried on another peer.
#[test]
fn h19_an_oversized_chunk_is_a_violation_and_retried() {
    let oversized = chunks(|_, mut chunk| {
        if let Some(first) = chunk.items.first().cloned() {
            chunk.items.push(first);
        }
        chunk
    });
    let mut h = Harness::new(config(), 40);
    let genesis = h.chain.genesis;
    h.join(1, genesis, oversized);
    h.join(2, genesis, Behavior::Honest);
    assert!(h.run_until_complete(60_000));
    h.assert_synced();
    let violation = Violation::ChunkOverLimit;
    assert_eq!(h.count(|e| matches!(e, Event::PeerPenalized { peer: PeerId(1), violation: v } if *v == violation)), 1);
}

/// H20: diffs answered newest first; blocks are still pushed parent first.
#[test]
fn h20_blocks_are_pushed_in_ancestry_order() {
    let mut h = Harness::new(config(), 60);
    let genesis = h.chain.genesis;
    h.join(1, genesis, withholding_chunks(None));
    let blocks = h.chain.extend(genesis, 3);
    h.holding = true;
    for block in &blocks {
        h.input(Input::Announce { peer: PeerId(1), block: block.clone() });
    }
    assert_eq!(h.held(), 3, "three diff requests in flight at once");
    h.release_reversed();
    let accepted: Vec<u32> = h
        .events
        .iter()
        .filter_map(|e| match e {
            Event::AcceptedAnnouncedBlock { number, .. } => Some(*number),
            _ => None,
        })
        .collect();
    assert_eq!(accepted, [1, 2, 3]);
}

/// H21: a chunk tagged with the head arrives after the head moved on: dropped as stale, nobody penalised.
#[test]
fn h21_a_head_chunk_overtaken_by_a_new_head_is_dropped_unpunished() {
    let mut h = Harness::new(config(), 60);
    let genesis = h.chain.genesis;
    let next = h.chain.next(genesis);
    h.holding = true;
    let peer = h.join(1, genesis, Behavior::Honest);
    h.input(Input::Announce { peer, block: next.clone() });
    h.release_reversed(); // the diff first: block 1 becomes the head before the chunk for block 0 lands
    assert_eq!(h.engine.head().hash(), next.hash());
    assert!(h.engine.stats().chunks_wasted >= 1);
    assert_eq!(penalties(&h), 0);
    h.servers.get_mut(&peer).unwrap().head = next.hash();
    h.stop_holding();
    assert!(h.run_until_complete(60_000));
    h.assert_synced();
}

/// H23: a peer answering `IncompleteState` is Behind for chunks and skipped during its cooldown, but stays.
#[test]
fn h23_a_peer_without_state_cools_down() {
    let incomplete = Behavior::Rewrite(Box::new(|request, response| match request {
        Request::Chunk { .. } => Some(Response::IncompleteState),
        _ => Some(response),
    }));
    let mut h = Harness::new(config(), 80);
    let genesis = h.chain.genesis;
    h.holding = true;
    h.join(2, genesis, Behavior::Honest); // first: alone, a peer in cooldown would still be asked
    let incomplete_peer = h.join(1, genesis, incomplete);
    h.stop_holding();
    assert!(h.run_until_complete(5_000), "completed within the cooldown");
    h.assert_synced();
    assert_eq!(h.chunk_requests_to(incomplete_peer), 1, "asked once, then cooled down");
    assert_eq!(h.count(|e| matches!(e, Event::PeerBehind { peer } if *peer == incomplete_peer)), 1);
    assert!(h.engine.peers().contains(&incomplete_peer), "the peer stays in the set");
    assert_eq!(penalties(&h), 0);
}

/// H24: a block with a bad seal is a violation at receipt: never buffered, never a reason to fetch ancestors.
#[test]
fn h24_an_invalid_announced_block_is_never_buffered() {
    let mut h = Harness::new(config(), 30);
    let genesis = h.chain.genesis;
    let peer = h.join(1, genesis, withholding_chunks(None));
    let far = h.chain.extend(genesis, 4).pop().unwrap();
    let mut header = far.header().clone();
    header.seal = Hash([1; 32]);
    let forged = Block::new(header, far.body().map(<[_]>::to_vec));
    h.input(Input::Announce { peer, block: forged });
    let violation = Violation::InvalidBlock(BlockInvalid::Seal);
    assert_eq!(h.count(|e| matches!(e, Event::PeerPenalized { violation: v, .. } if *v == violation)), 1);
    assert_eq!(h.engine.block_buffer_size(), 0);
    assert!(!h.requests.iter().any(|(_, r)| matches!(r, Request::MissingBlocks { .. })));
}

/// H24 for a block the node holds already: an announcement of its header with another body, or with another seal
/// (the hash leaves the seal out), is checked, and its sender penalised (the engine skips the check only for the
/// very header and body it holds, which passed).
#[test]
fn h24_a_held_block_announced_with_another_body_or_seal_is_a_violation() {
    let mut h = Harness::new(config(), 30);
    let genesis = h.chain.genesis;
    let far = h.chain.extend(genesis, 4).pop().unwrap();
    let [honest, body_liar, seal_liar] = [1, 2, 3].map(|peer| h.join(peer, far.hash(), Behavior::Honest));
    h.input(Input::Announce { peer: honest, block: far.clone() });
    assert!(h.engine.holds_block(&far.hash()), "the valid block is held");
    h.input(Input::Announce { peer: honest, block: far.clone() });
    let mut body = far.body().map(<[_]>::to_vec).unwrap_or_default();
    body.pop();
    let tampered = Block::new(far.header().clone(), Some(body));
    assert_eq!(tampered.hash(), far.hash(), "the same header, so the same hash");
    h.input(Input::Announce { peer: body_liar, block: tampered });
    let mut header = far.header().clone();
    header.seal = Hash([3; 32]);
    let forged = Block::new(header, far.body().map(<[_]>::to_vec));
    assert_eq!(forged.hash(), far.hash(), "the hash leaves the seal out");
    h.input(Input::Announce { peer: seal_liar, block: forged });
    let penalised = |peer, why| {
        let violation = Violation::InvalidBlock(why);
        h.count(|e| matches!(e, Event::PeerPenalized { peer: p, violation: v } if *p == peer && *v == violation))
    };
    assert_eq!(h.count(|e| matches!(e, Event::PeerPenalized { peer, .. } if *peer == honest)), 0, "S10");
    assert_eq!(penalised(body_liar, BlockInvalid::BodyRoot), 1, "another body is a violation");
    assert_eq!(penalised(seal_liar, BlockInvalid::Seal), 1, "another seal is a violation");
}

// ---- beyond the reference -----------------------------------------------------------------------------------

/// Hedged chunk requests: two peers serve concurrently; the liar is evicted while the download completes.
#[test]
fn hedged_requests_evict_the_liar_and_complete() {
    let config = Config { chunk_requests_in_flight: 2, ..config() };
    let mut h = Harness::new(config, 100);
    let genesis = h.chain.genesis;
    h.join(1, genesis, liar());
    h.join(2, genesis, Behavior::Honest);
    assert!(h.run_until_complete(60_000));
    h.assert_synced();
    assert_eq!(h.count(|e| matches!(e, Event::PeerEvicted { peer: PeerId(1) })), 1);
    assert_eq!(h.count(|e| matches!(e, Event::PeerPenalized { peer: PeerId(2), .. })), 0, "S10");
    assert!(h.chunk_requests_to(PeerId(1)) >= 1 && h.chunk_requests_to(PeerId(2)) >= 1, "both were asked");
}

/// Timeouts: a silent peer costs `request_timeout_ms` per attempt, is never penalised, and the request moves on.
#[test]
fn a_silent_peer_times_out_and_the_request_moves_on() {
    let mut h = Harness::new(config(), 40);
    let genesis = h.chain.genesis;
    h.join(1, genesis, Behavior::Silent);
    h.join(2, genesis, Behavior::Honest);
    assert!(h.run_until_complete(120_000));
    h.assert_synced();
    assert_eq!(penalties(&h), 0);
    assert!(h.now.0 >= h.engine.config().request_timeout_ms || h.chunk_requests_to(PeerId(1)) == 0);
}

/// Missing blocks: an announcement far ahead of the checkpoint with unknown parents fetches the gap.
#[test]
fn missing_blocks_fill_the_gap_to_an_announced_block() {
    let mut h = Harness::new(config(), 30);
    let genesis = h.chain.genesis;
    let blocks = h.chain.extend(genesis, 5);
    let peer = h.join(1, blocks[4].hash(), withholding_chunks(None));
    h.input(Input::Announce { peer, block: blocks[4].clone() });
    assert_eq!(h.engine.head().hash(), blocks[4].hash());
    let received: usize = h
        .events
        .iter()
        .map(|e| match e {
            Event::ReceivedMissingBlocks { hashes } => hashes.len(),
            _ => 0,
        })
        .sum();
    assert_eq!(received, 4, "blocks 1–4 came as missing blocks");
}

/// Missing blocks across a macro block: the response stops at the macro block and a follow-up names it.
#[test]
fn missing_blocks_stop_at_a_macro_block_and_follow_up() {
    let mut h = Harness::new(Config { chunk_size_max: 10, ..Config::scaled(4) }, 30);
    let genesis = h.chain.genesis;
    let blocks = h.chain.extend(genesis, 6); // block 4 is a macro block
    let peer = h.join(1, blocks[5].hash(), withholding_chunks(None));
    h.input(Input::Announce { peer, block: blocks[5].clone() });
    assert_eq!(h.engine.head().hash(), blocks[5].hash());
    assert_eq!(h.engine.latest_macro(), 4);
    let missing_requests = h.requests.iter().filter(|(_, r)| matches!(r, Request::MissingBlocks { .. })).count();
    assert_eq!(missing_requests, 2, "one request up to the macro block, one after it");
}

/// The reference (`ahead_catch_up: false`): an announcement far beyond the window makes the peer Ahead (removed,
/// not penalised); an old block from a peer that announced nothing nearer makes it Behind. Ours: the same old
/// block from a peer that announced a head within reach is old news the network delayed, and ignored (S10).
#[test]
fn far_ahead_and_far_behind_announcements_classify_the_peer() {
    let config = Config { chunk_size_max: 10, ahead_catch_up: false, ..Config::scaled(4) };
    let mut h = Harness::new(config, 30);
    let genesis = h.chain.genesis;
    let far = h.chain.extend(genesis, 12).pop().unwrap(); // window_ahead_max = 8
    let ahead = h.join(1, genesis, withholding_chunks(None));
    h.input(Input::Announce { peer: ahead, block: far });
    assert_eq!(h.count(|e| matches!(e, Event::PeerAhead { peer } if *peer == ahead)), 1);
    assert!(!h.engine.peers().contains(&ahead));
    let current = h.join(2, genesis, withholding_chunks(None));
    let old = h.chain.extend(genesis, 1).pop().unwrap();
    h.grow(6);
    h.input(Input::Announce { peer: current, block: old.clone() });
    assert_eq!(h.count(|e| matches!(e, Event::PeerBehind { .. })), 0, "delayed old news");
    assert!(h.engine.peers().contains(&current));
    let behind = h.join(3, genesis, withholding_chunks(None));
    h.input(Input::Announce { peer: behind, block: old });
    assert_eq!(h.count(|e| matches!(e, Event::PeerBehind { peer } if *peer == behind)), 1);
    assert_eq!(penalties(&h), 0);
}

/// A diff whose root is not the header's diff root is a violation; the diff is fetched elsewhere.
#[test]
fn a_diff_with_the_wrong_root_is_a_violation() {
    let wrong_diff = Behavior::Rewrite(Box::new(|request, response| match (request, response) {
        (Request::Chunk { .. }, _) => None,
        (_, Response::Diff(_)) => Some(Response::Diff(sync_core::TrieDiff::default())),
        (_, other) => Some(other),
    }));
    let mut h = Harness::new(config(), 30);
    let genesis = h.chain.genesis;
    h.join(1, genesis, wrong_diff);
    h.join(2, genesis, withholding_chunks(None));
    let blocks = h.grow(1);
    assert_eq!(h.engine.head().hash(), blocks[0].hash());
    let violation = Violation::DiffRootMismatch;
    assert_eq!(h.count(|e| matches!(e, Event::PeerPenalized { peer: PeerId(1), violation: v } if *v == violation)), 1);
}

/// Ours (`ahead_catch_up`): a node more than the window behind fetches the gap batch by batch (stopping at each
/// macro block) instead of dropping the peer as Ahead; chunk requests wait until it is back within the window.
#[test]
fn a_node_beyond_the_window_catches_up_batch_by_batch() {
    let mut h = Harness::new(Config { chunk_size_max: 10, ..Config::scaled(4) }, 30);
    let genesis = h.chain.genesis;
    let blocks = h.chain.extend(genesis, 20); // window_ahead_max = 8; macro blocks every 4
    let peer = h.join(1, blocks[19].hash(), Behavior::Honest);
    h.input(Input::Announce { peer, block: blocks[19].clone() });
    assert!(h.run_until_complete(60_000));
    h.assert_synced();
    assert_eq!(h.engine.head().hash(), blocks[19].hash());
    assert_eq!(h.count(|e| matches!(e, Event::PeerAhead { .. })), 0);
    // The frontier's fetch brings the first batch; the batches beyond it are asked by height, several at once.
    let from_frontier = h.requests.iter().filter(|(_, r)| matches!(r, Request::MissingBlocks { .. })).count();
    let by_height = h.requests.iter().filter(|(_, r)| matches!(r, Request::BlocksFrom { .. })).count();
    assert!(from_frontier + by_height >= 5, "one batch per macro block: {from_frontier} + {by_height}");
    assert!(by_height >= 3, "batches beyond the frontier are asked by height: {by_height}");
}

/// Ours (`unresponsive_cooldown_ms`): after one timeout a silent peer is skipped while others answer; it is
/// never penalised.
#[test]
fn a_peer_that_timed_out_cools_down() {
    let mut h = Harness::new(Config { chunk_size_max: 5, ..config() }, 200);
    let genesis = h.chain.genesis;
    h.holding = true;
    let silent = h.join(1, genesis, Behavior::Silent); // asked first, never answers
    h.join(2, genesis, Behavior::Honest);
    h.stop_holding();
    assert!(h.run_until_complete(60_000));
    h.assert_synced();
    assert_eq!(h.chunk_requests_to(silent), 1, "one timeout, then other peers go first");
    assert_eq!(penalties(&h), 0);
}

/// A chunk whose end lies at or before its start is a no-progress violation at receipt: it must not move the
/// cursor behind `s` (S4; found by the simulator, seed 659, a `WrongStart` liar).
#[test]
fn a_chunk_ending_before_its_start_is_refused_before_it_moves_the_cursor() {
    let backwards = chunks(|request, mut chunk| {
        let Request::Chunk { start_key, .. } = request else { return chunk };
        chunk.end = Some(start_key.clone()); // items kept: only the end lies
        chunk
    });
    let mut h = Harness::new(config(), 60);
    let genesis = h.chain.genesis;
    h.holding = true;
    h.join(2, genesis, Behavior::Honest);
    h.join(1, genesis, backwards);
    h.stop_holding();
    assert!(h.run_until_complete(60_000));
    h.assert_synced();
    let violation = Violation::ChunkNoProgress;
    assert_eq!(h.count(|e| matches!(e, Event::PeerPenalized { peer: PeerId(1), violation: v } if *v == violation)), 1);
}

/// A block announced beyond the window while a catch-up runs is heard again when the catch-up ends, so the node
/// does not stop short of the tip when no further block comes (found by the simulator, seed 646).
#[test]
fn an_announcement_during_a_catch_up_is_not_forgotten() {
    let mut h = Harness::new(Config { chunk_size_max: 10, ..Config::scaled(4) }, 30);
    let genesis = h.chain.genesis;
    let blocks = h.chain.extend(genesis, 24);
    h.holding = true;
    let peer = h.join(1, blocks[23].hash(), Behavior::Honest);
    h.input(Input::Announce { peer, block: blocks[19].clone() }); // starts a catch-up towards block 20
    h.input(Input::Announce { peer, block: blocks[23].clone() }); // arrives while it runs
    h.stop_holding();
    assert!(h.run_until_complete(60_000));
    h.assert_synced();
    assert_eq!(h.engine.head().hash(), blocks[23].hash(), "the node went on to block 24");
}

/// Ours (H14): a peer whose chunks keep being discarded uncommitted (tags naming blocks that never come) goes
/// last for chunk requests; it is never penalised (nothing about it is provable).
#[test]
fn a_peer_whose_chunks_are_discarded_goes_last() {
    let mut h = Harness::new(config(), 200);
    let genesis = h.chain.genesis;
    h.holding = true;
    let tagger = h.join(1, genesis, retag(2, Hash([0xcd; 32])));
    let honest = h.join(2, genesis, Behavior::Honest);
    h.release(); // the tagger's chunk waits for block 2, which never comes
    let blocks = h.chain.extend(genesis, 3);
    for block in &blocks {
        h.produce(block); // the head passes height 2: the tagged chunk is discarded
    }
    h.release();
    let asked_before = h.chunk_requests_to(tagger);
    h.stop_holding();
    assert!(h.run_until_complete(60_000));
    h.assert_synced();
    assert_eq!(
        h.chunk_requests_to(tagger),
        asked_before,
        "the tagger was not asked again while the honest peer was free"
    );
    assert!(h.chunk_requests_to(honest) > 5);
    assert_eq!(penalties(&h), 0);
}

/// L2 with tiny bounds: blocks dropped because the pipeline was full are fetched again from the announced head,
/// even when no further block is ever announced (found by the simulator, seed 98).
#[test]
fn l2_blocks_dropped_from_a_full_pipeline_are_fetched_again() {
    let config =
        Config { block_buffer_max: 1, pending_blocks_max: 4, ..Config { chunk_size_max: 10, ..Config::scaled(4) } };
    let mut h = Harness::new(config, 30);
    let genesis = h.chain.genesis;
    h.holding = true;
    let peer = h.join(1, genesis, withholding_chunks(None));
    let blocks = h.chain.extend(genesis, 7);
    h.servers.get_mut(&peer).unwrap().head = blocks[6].hash();
    for block in &blocks {
        h.input(Input::Announce { peer, block: block.clone() }); // diffs held: the pipeline fills and drops blocks
    }
    h.stop_holding();
    h.advance(1);
    assert_eq!(h.engine.head().hash(), blocks[6].hash(), "every announced block was applied in the end");
}

/// H14, Ours: a chunk tagged with a block nobody vouched for (no announcement, not pending, buffered or fetched)
/// is buffered but never moves the cursor, so nothing is chained onto it; the start goes to the next peer, and
/// the honest peer's chunks make the whole download without a single reset.
#[test]
fn h14_an_invented_tag_never_moves_the_cursor() {
    let mut h = Harness::new(config(), 60);
    let genesis = h.chain.genesis;
    h.join(1, genesis, retag(2, Hash([0xab; 32])));
    assert!(h.engine.chunk_buffer_size() >= 1, "the chunk waits in the buffer");
    assert!(matches!(h.cursor(), Cursor::Continue(start) if start == sync_core::Key::EMPTY), "the cursor stays");
    h.join(2, genesis, Behavior::Honest);
    h.grow(1);
    assert!(h.run_until_complete(120_000));
    h.assert_synced();
    assert_eq!(h.count(|e| matches!(e, Event::ChunkChainReset { .. })), 0, "no chunk built on an invented tag");
}

/// The same invented tag under the reference rule moves the cursor, and the chain built on it is thrown away:
/// the reset `chunk_tags_vouched` avoids.
#[test]
fn h14_under_the_reference_rule_an_invented_tag_costs_a_reset() {
    let mut h = Harness::new(reference_tags(), 60);
    let genesis = h.chain.genesis;
    h.join(1, genesis, retag(2, Hash([0xab; 32])));
    assert!(!matches!(h.cursor(), Cursor::Continue(start) if start == sync_core::Key::EMPTY), "the cursor moved");
    h.join(2, genesis, Behavior::Honest);
    h.grow(2);
    assert!(h.run_until_complete(120_000));
    h.assert_synced();
    assert!(h.count(|e| matches!(e, Event::ChunkChainReset { reason: ResetReason::ChunkDiscarded, .. })) >= 1);
}

/// Ours: a link slower than `request_timeout_ms`. The first attempt times out; the deadline of the next one to the
/// same peer doubles, so its answer, slower than the base timeout, is taken. A fixed deadline would time out
/// every attempt for ever (found by the simulator, explore seed 311).
#[test]
fn a_link_slower_than_the_timeout_still_delivers() {
    let config = Config { request_timeout_ms: 1_000, request_timeout_max_ms: 8_000, ..config() };
    let mut h = Harness::new(config, 60);
    let genesis = h.chain.genesis;
    h.holding = true;
    h.join(1, genesis, Behavior::Honest);
    assert_eq!(h.held(), 1, "the first chunk request is on its way");
    h.advance(1_000);
    assert_eq!(h.chunk_requests_to(PeerId(1)), 2, "it timed out and was asked again");
    h.advance(1_500); // 1.5 s after the second request: past the base timeout, within the doubled one
    assert_eq!(h.chunk_requests_to(PeerId(1)), 2, "the second attempt has not timed out");
    h.stop_holding(); // the first answer is late and dropped; the second is taken
    assert!(h.count(|e| matches!(e, Event::AcceptedChunks { .. })) >= 1, "the slow answer was accepted");
    assert!(h.run_until_complete(60_000));
    h.assert_synced();
}

/// Ours (§4.4): the diff that holds the pipeline, lost, is asked again once it is overdue by its peer's answer
/// estimate, not after the whole deadline; the lost request stays open, and the block goes in at once.
#[test]
fn a_lost_diff_that_holds_the_pipeline_is_asked_again_when_overdue() {
    let config = Config { request_timeout_ms: 10_000, request_timeout_max_ms: 20_000, ..config() };
    let mut h = Harness::new(config, 60);
    let genesis = h.chain.genesis;
    let lost = std::rc::Rc::new(std::cell::Cell::new(false));
    let drop_once = lost.clone();
    let first = h.chain.next(genesis);
    let second = h.chain.next(first.hash());
    let target = second.hash();
    h.join(
        1,
        genesis,
        Behavior::Rewrite(Box::new(move |request, response| match request {
            Request::Chunk { .. } => None, // diff mode stays on
            Request::TrieDiff { block_hash } if *block_hash == target && !drop_once.get() => {
                drop_once.set(true);
                None
            }
            _ => Some(response),
        })),
    );
    h.produce(&first);
    assert_eq!(h.engine.head().hash(), first.hash(), "its diff was answered: the peer is measured");
    h.produce(&second);
    assert!(lost.get(), "the diff of the second block was lost");
    assert_eq!(h.engine.head().hash(), first.hash(), "the second block waits for its diff");
    let diffs_of = |h: &Harness| {
        h.requests
            .iter()
            .filter(|(_, r)| matches!(r, Request::TrieDiff { block_hash } if *block_hash == target))
            .count()
    };
    assert_eq!(diffs_of(&h), 1);
    let (at, _) = h.engine.poll_timeout().expect("the engine asks to be woken when the diff is overdue");
    assert!(at.0 < 1_000, "overdue by the peer's answer estimate, long before the 10 s deadline: {at}");
    h.now = at;
    h.input(Input::Timeout);
    assert_eq!(diffs_of(&h), 2, "asked once more");
    assert_eq!(h.engine.head().hash(), target, "the hedge's answer let the block in");
    assert_eq!(h.count(|e| matches!(e, Event::RequestTimedOut { .. })), 0, "no deadline passed");
    let open = h.engine.bounds().into_iter().find(|(name, _, _)| *name == "diff requests open").map(|(_, n, _)| n);
    assert_eq!(open, Some(0), "the lost request went with its job");
}

/// The limit of the chunk request that follows this script (§4.5, the adaptive chunk limit): a first chunk is
/// answered 10 ms after it was asked (the peer's quickest round trip), a second is held while block 1 comes, and
/// block 1's diff comes `wait` ms after it was asked, just before that second chunk, which is then tagged with a
/// block the head has passed. With `accounts` = 74 the second chunk is the last, of 10 items.
fn limit_after_a_passed_chunk(accounts: usize, wait: u64) -> (u32, Harness) {
    let mut h = Harness::new(Config { chunk_size_max: 64, ..Config::scaled(8) }, accounts);
    let genesis = h.chain.genesis;
    h.holding = true;
    h.join(1, genesis, Behavior::Honest);
    h.advance(10);
    h.release();
    assert_eq!(h.engine.stats().chunks_committed, 1, "the first chunk commits at the genesis head");
    h.grow(1);
    h.advance(wait);
    h.release_reversed();
    assert_eq!(h.engine.head().number(), 1, "block 1's diff made it the head");
    assert!(
        h.events.iter().any(|e| matches!(e, Event::ChunkWasted { number: 0, waste: ChunkWaste::TagPassed, .. })),
        "the second chunk came after its block was passed"
    );
    (last_chunk_limit(&h), h)
}

fn last_chunk_limit(h: &Harness) -> u32 {
    let mut limits = h.requests.iter().rev().filter_map(|(_, request)| match request {
        Request::Chunk { limit, .. } => Some(*limit),
        _ => None,
    });
    limits.next().expect("a chunk request went out")
}

#[test]
fn a_full_chunk_that_outlived_its_block_on_the_link_halves_the_chunk_limit() {
    let (limit, _) = limit_after_a_passed_chunk(1_000, 15);
    assert_eq!(limit, 64, "a round trip of 15 ms against the quickest 10 ms: latency lost the block, not size");
    let (limit, _) = limit_after_a_passed_chunk(1_000, 20);
    assert_eq!(limit, 64, "a round trip of twice the quickest is not more than twice");
    let (limit, _) = limit_after_a_passed_chunk(74, 50);
    assert_eq!(limit, 64, "the late chunk held 10 items of 64: a smaller limit would not have shortened it");
    let (limit, mut h) = limit_after_a_passed_chunk(1_000, 50);
    assert_eq!(limit, 32, "a round trip of 50 ms against the quickest 10 ms: a smaller chunk would have made it");
    h.advance(10);
    h.release();
    assert_eq!(h.engine.stats().chunks_committed, 2, "the next chunk, tagged with the head, commits");
    assert_eq!(last_chunk_limit(&h), 32 + 32 / 8 + 1, "each commit grows the limit by an eighth");
}

/// The limit halves once per round (§4.5): two late answers to requests sent before the first halving halve it
/// once; a late answer to a request sent at the halving's own moment, at the new limit, halves it again.
#[test]
fn late_chunks_asked_before_a_halving_do_not_halve_the_limit_again() {
    let config = Config { chunk_size_max: 64, chunk_requests_in_flight: 2, ..Config::scaled(8) };
    let mut h = Harness::new(config, 1_000);
    let genesis = h.chain.genesis;
    h.holding = true;
    h.join(1, genesis, Behavior::Honest);
    h.join(2, genesis, Behavior::Honest);
    h.advance(10);
    h.release();
    let limits = |h: &Harness| -> Vec<u32> {
        let chunk_limit = |request: &Request| match request {
            Request::Chunk { limit, .. } => Some(*limit),
            _ => None,
        };
        h.requests.iter().filter_map(|(_, request)| chunk_limit(request)).collect()
    };
    let asked = limits(&h).len();
    assert_eq!(h.held(), 2, "two chunk requests in flight, sent at 10 ms");
    h.grow(1);
    h.advance(50);
    h.release_reversed();
    let wasted = h.count(|e| matches!(e, Event::ChunkWasted { waste: ChunkWaste::TagPassed, .. }));
    assert_eq!(wasted, 2, "both came after block 1 was the head");
    let after = limits(&h)[asked..].to_vec();
    assert!(!after.is_empty() && after.iter().all(|&limit| limit == 32), "halved once, not twice: {after:?}");
    h.grow(1);
    h.advance(50);
    h.release_reversed();
    assert_eq!(last_chunk_limit(&h), 16, "asked at the halving's moment, at 32: a late answer halves it again");
}

/// Ours (§4.4): a hedge that fails (here a denial) leaves the earlier request, still open, with a new overdue
/// moment: the diff is asked once more long before the earlier request's deadline. Without it the earlier
/// request held the pipeline until its deadline (explore seed 680030436: 4.6 s, and the reference node fell
/// beyond the window for good).
#[test]
fn a_diff_whose_hedge_is_denied_is_hedged_again_when_overdue() {
    let config = Config { request_timeout_ms: 10_000, request_timeout_max_ms: 20_000, ..config() };
    let mut h = Harness::new(config, 60);
    let genesis = h.chain.genesis;
    let first = h.chain.next(genesis);
    let second = h.chain.next(first.hash());
    let (early, target) = (first.hash(), second.hash());
    // Peer 1 never serves the second block's diff; peer 2 denies the first block's diff (so it ranks after peer
    // 1) and the second's once.
    h.join(
        1,
        genesis,
        Behavior::Rewrite(Box::new(move |request, response| match request {
            Request::Chunk { .. } => None, // diff mode stays on
            Request::TrieDiff { block_hash } if *block_hash == target => None,
            _ => Some(response),
        })),
    );
    let denied = std::rc::Rc::new(std::cell::Cell::new(0));
    let denials = denied.clone();
    h.join(
        2,
        genesis,
        Behavior::Rewrite(Box::new(move |request, response| match request {
            Request::Chunk { .. } => None,
            Request::TrieDiff { block_hash } if *block_hash == early => Some(Response::UnknownBlockHash),
            Request::TrieDiff { block_hash } if *block_hash == target && denials.get() == 0 => {
                denials.set(1);
                Some(Response::UnknownBlockHash)
            }
            _ => Some(response),
        })),
    );
    h.produce(&first);
    assert_eq!(h.engine.head().hash(), early, "peer 1 served the first diff");
    h.produce(&second);
    assert_eq!(h.engine.head().hash(), early, "the second block waits: peer 1 holds its diff request");
    for _ in 0..2 {
        let (at, _) = h.engine.poll_timeout().expect("the engine asks to be woken when the diff is overdue");
        assert!(at.0 < 1_000, "overdue by the peer's answer estimate, long before the 10 s deadline: {at}");
        h.now = at;
        h.input(Input::Timeout);
    }
    assert_eq!(denied.get(), 1, "the first hedge was denied");
    assert_eq!(h.engine.head().hash(), target, "the second hedge's answer let the block in");
    assert_eq!(h.count(|e| matches!(e, Event::RequestTimedOut { .. })), 0, "no deadline passed");
}
