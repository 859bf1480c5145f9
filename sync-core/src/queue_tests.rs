//! Unit tests of the queues' and the chain's own bookkeeping: caps at their exact bound, counts that the
//! engine reports in `bounds()`, the parent-first order of the DiffQueue, fork pruning and finalization.
//! The engine-level behaviour is tested through the public interface in `tests/`; these pin down the arithmetic
//! that the simulator can only see indirectly (each test was written against a mutant that survived it).

use crate::block::{body_root, Block, BlockInvalid, Header};
use crate::block_queue::{BlockQueue, BufferLinks, BufferedBlock, MissingFetch, VOUCHERS_MAX};
use crate::chain::{BlockOutcome, Chain};
use crate::diff_queue::{DiffJob, DiffQueue, PushKind};
use crate::hash::Hash;
use crate::interface::{Millis, PeerId};
use crate::key::Key;
use crate::trie::{Op, Trie};

/// A block at `number` on `parent` with no body (enough for the queues, which never look at state).
fn bare(number: u32, parent: Hash, salt: u8) -> Block {
    let header = Header {
        number,
        parent_hash: parent,
        state_root: Hash([salt; 32]),
        diff_root: Hash::ZERO,
        body_root: Hash::ZERO,
        is_macro: false,
        seal: Hash::ZERO,
    };
    Block::new(header, None)
}

// ---- DiffQueue ----

#[test]
fn a_parent_enqueued_after_its_descendants_goes_first() {
    let mut queue = DiffQueue::new(1);
    let parent = bare(5, Hash([9; 32]), 1);
    let child = bare(6, parent.hash(), 2);
    let grandchild = bare(7, child.hash(), 3);
    let other = bare(6, Hash([8; 32]), 4);
    for block in [&grandchild, &other, &child, &parent] {
        queue.enqueue(block.clone(), PushKind::Buffered, Vec::new(), 8);
        queue.check_invariants();
    }
    let order: Vec<Hash> = queue.entries.iter().map(|entry| entry.block.hash()).collect();
    assert_eq!(order, [parent.hash(), child.hash(), grandchild.hash(), other.hash()]);
}

/// How high the queued blocks reach on a fork tip: through every generation queued, on no other branch.
#[test]
fn the_pipeline_reach_of_a_tip_follows_its_queued_descendants() {
    let mut queue = DiffQueue::new(1);
    let tip = Hash([9; 32]);
    let child = bare(6, tip, 1);
    let grandchild = bare(7, child.hash(), 2);
    let other = bare(9, Hash([8; 32]), 3);
    for block in [&other, &grandchild, &child] {
        queue.enqueue(block.clone(), PushKind::Buffered, Vec::new(), 8);
    }
    assert_eq!(queue.reach(&tip), 7, "the grandchild, queued before its parent, counts");
    assert_eq!(queue.reach(&child.hash()), 7);
    assert_eq!(queue.reach(&grandchild.hash()), 0, "nothing builds on the top block");
    assert_eq!(queue.reach(&Hash([8; 32])), 9);
    assert_eq!(queue.reach(&Hash([7; 32])), 0);
}

#[test]
#[should_panic(expected = "S6")]
fn the_diff_queue_check_sees_a_child_ahead_of_its_parent() {
    let mut queue = DiffQueue::new(1);
    let parent = bare(5, Hash([9; 32]), 1);
    queue.enqueue(bare(6, parent.hash(), 2), PushKind::Head, Vec::new(), 8);
    queue.entries.push_back(queue.entries[0].clone());
    queue.entries[1].block = parent;
    queue.check_invariants();
}

#[test]
#[should_panic(expected = "queued once")]
fn the_diff_queue_check_sees_a_block_queued_twice() {
    let mut queue = DiffQueue::new(1);
    queue.enqueue(bare(6, Hash([9; 32]), 2), PushKind::Head, Vec::new(), 8);
    queue.entries.push_back(queue.entries[0].clone());
    queue.check_invariants();
}

#[test]
fn vouchers_stop_at_vouchers_max_and_count_each_peer_once() {
    let mut queue = DiffQueue::new(1);
    let block = bare(6, Hash([9; 32]), 2);
    queue.enqueue(block.clone(), PushKind::Head, vec![PeerId(0)], 8);
    queue.vouch(&block.hash(), PeerId(0));
    assert_eq!(queue.vouchers(&block.hash()), 1, "a peer vouches once");
    for peer in 1..10 {
        queue.vouch(&block.hash(), PeerId(peer));
    }
    assert_eq!(queue.vouchers(&block.hash()), VOUCHERS_MAX);
    assert_eq!(queue.vouchers(&Hash([1; 32])), 0, "an unknown block has no vouchers");
}

#[test]
fn diff_jobs_in_flight_are_those_with_a_request() {
    let mut queue = DiffQueue::new(1);
    let job = |request| DiffJob { request, ..DiffJob::new(6, Hash::ZERO, 0) };
    queue.jobs.insert(Hash([1; 32]), job(Some(11)));
    queue.jobs.insert(Hash([2; 32]), job(None));
    queue.jobs.insert(Hash([3; 32]), job(Some(12)));
    assert_eq!((queue.in_flight(), queue.job_count()), (2, 3));
}

#[test]
fn only_the_oldest_job_hedges_and_only_while_no_hedge_is_open() {
    let mut queue = DiffQueue::new(1);
    let job = |number, request, hedge_at: Option<u64>| DiffJob {
        request,
        hedge_at: hedge_at.map(Millis),
        ..DiffJob::new(number, Hash::ZERO, 0)
    };
    queue.jobs.insert(Hash([1; 32]), job(7, Some(11), Some(50)));
    queue.jobs.insert(Hash([2; 32]), job(6, Some(12), Some(90)));
    assert_eq!(queue.hedge_due(), Some((Hash([2; 32]), Millis(90))), "the oldest block's job, not the earliest");
    queue.jobs.get_mut(&Hash([2; 32])).unwrap().request = None;
    assert_eq!(queue.hedge_due(), None, "a job in backoff has nothing to hedge");
    queue.jobs.insert(Hash([2; 32]), job(6, Some(12), Some(90)));
    queue.jobs.get_mut(&Hash([1; 32])).unwrap().hedged = Some(10);
    assert_eq!(queue.hedge_due(), None, "one hedge open at a time");
    let open: Vec<u64> = queue.jobs[&Hash([1; 32])].open_requests().collect();
    assert_eq!(open, vec![11, 10], "the current request, then the earlier one");
}

// ---- BlockQueue ----

#[test]
fn the_block_buffer_counts_what_it_holds() {
    let mut queue = BlockQueue::new(1);
    let blocks: Vec<Block> = (0..3).map(|salt| bare(9, Hash([7; 32]), salt)).collect();
    for block in &blocks {
        let buffered =
            BufferedBlock { block: block.clone(), requested: false, announcer: None, vouchers: Vec::new(), held: None };
        queue.insert(buffered, 3);
    }
    assert_eq!(queue.buffered_count(), 3);
    assert!(queue.take(9, &blocks[1].hash()).is_some());
    assert_eq!(queue.buffered_count(), 2);
    assert!(queue.holds(&blocks[0].hash()) && !queue.holds(&blocks[1].hash()));
}

#[test]
fn rejected_hashes_keep_the_newest_max() {
    let mut queue = BlockQueue::new(1);
    for salt in 1..=3 {
        queue.reject(Hash([salt; 32]), 2);
    }
    queue.reject(Hash([3; 32]), 2);
    assert_eq!(queue.rejected_count(), 2);
    assert!(!queue.is_rejected(&Hash([1; 32])), "the oldest is forgotten");
    assert!(queue.is_rejected(&Hash([2; 32])) && queue.is_rejected(&Hash([3; 32])));
}

// ---- Chain ----

/// A chain of real blocks: each block's state is its parent's with one key set.
struct Builder {
    bpb: u32,
}

impl Builder {
    fn genesis(&self) -> (Block, Trie) {
        let trie = Trie::from_items([(Key::from_hex("1").unwrap(), vec![1])]).unwrap();
        let header = Header {
            number: 0,
            parent_hash: Hash::ZERO,
            state_root: trie.root_if_computable().unwrap(),
            diff_root: Hash::ZERO,
            body_root: Hash::ZERO,
            is_macro: true,
            seal: Hash::ZERO,
        };
        (Block::new(header, None), trie)
    }

    /// A chain at genesis holding the complete genesis state, with `fork_blocks_max`; the genesis block and state.
    fn chain(&self, fork_blocks_max: u32) -> (Chain, Block, Trie) {
        let (genesis, state) = self.genesis();
        (Chain::new(genesis.clone(), state.clone(), self.bpb, fork_blocks_max, 10), genesis, state)
    }

    /// The child of `parent` (whose state is `state`) that sets key `2` to `salt`.
    fn child(&self, parent: &Block, state: &Trie, salt: u8) -> (Block, Trie) {
        let ops = vec![Op::Set(Key::from_hex("2").unwrap(), vec![salt])];
        let (next, diff) = state.execute(&ops).unwrap();
        let number = parent.number() + 1;
        let header = Header {
            number,
            parent_hash: parent.hash(),
            state_root: next.root_if_computable().unwrap(),
            diff_root: diff.root(),
            body_root: body_root(&ops),
            is_macro: number.is_multiple_of(self.bpb),
            seal: Hash::ZERO,
        };
        (Block::new(header, Some(ops)), next)
    }
}

/// Over `fork_blocks_max`, the fork tip stored longest ago goes: never a fork block another one builds on, and
/// not the branch the node is adding to.
#[test]
fn fork_blocks_over_the_bound_go_oldest_tip_first() {
    let build = Builder { bpb: 100 };
    let (mut chain, genesis, state) = build.chain(2);
    let (a1, s1) = build.child(&genesis, &state, 1);
    let (a2, s2) = build.child(&a1, &s1, 2);
    let (a3, _) = build.child(&a2, &s2, 3);
    for block in [&a1, &a2, &a3] {
        assert_eq!(chain.push(block, None), BlockOutcome::Extended);
    }
    let (b2, t2) = build.child(&a1, &s1, 20);
    let (b3, _) = build.child(&b2, &t2, 30);
    let (c2, _) = build.child(&a1, &s1, 40);
    for block in [&c2, &b2, &b3] {
        assert_eq!(chain.push(block, None), BlockOutcome::Forked);
    }
    chain.check_invariants();
    assert!(!chain.knows(&c2.hash()), "the oldest fork tip goes");
    assert!(chain.knows(&b2.hash()) && chain.knows(&b3.hash()), "the branch stays whole");
    let (d2, _) = build.child(&a1, &s1, 50);
    assert_eq!(chain.push(&d2, None), BlockOutcome::Forked);
    chain.check_invariants();
    assert!(chain.knows(&d2.hash()), "the newest fork block stays");
    assert!(!chain.knows(&b3.hash()) && chain.knows(&b2.hash()), "the branch loses its top, not its first block");
    // A tip a waiting block builds on goes last: b2 (now a tip, the oldest) stays, d2 goes.
    let (e2, _) = build.child(&a1, &s1, 60);
    assert_eq!(chain.push_awaited(&e2, None, &|hash| if *hash == b2.hash() { 3 } else { 0 }), BlockOutcome::Forked);
    chain.check_invariants();
    assert!(chain.knows(&b2.hash()) && chain.knows(&e2.hash()) && !chain.knows(&d2.hash()));
    assert_eq!(chain.take_forgotten(), vec![(d2.hash(), 2)], "the caller learns what the bound forgot");
    // Every tip awaited: the one the pipeline reaches least high goes (b2's waiting blocks reach #3, e2's #4).
    let (f2, _) = build.child(&a1, &s1, 70);
    let reach = |hash: &Hash| match hash {
        hash if *hash == b2.hash() => 3,
        hash if *hash == e2.hash() => 4,
        hash if *hash == f2.hash() => 5,
        _ => 0,
    };
    assert_eq!(chain.push_awaited(&f2, None, &reach), BlockOutcome::Forked);
    assert_eq!(chain.take_forgotten(), vec![(b2.hash(), 2)], "the lowest reach goes, not the oldest tip");
    assert!(chain.knows(&e2.hash()) && chain.knows(&f2.hash()));
}

/// A stored fork block found invalid in a rebranch goes with the fork blocks built on it: kept, they could never
/// be adopted (their branch passes a forgotten block).
#[test]
fn an_invalid_fork_block_takes_its_stored_descendants_with_it() {
    let build = Builder { bpb: 100 };
    let (mut chain, genesis, state) = build.chain(8);
    let (a1, s1) = build.child(&genesis, &state, 1);
    let (a2, s2) = build.child(&a1, &s1, 2);
    let (a3, s3) = build.child(&a2, &s2, 3);
    let (a4, _) = build.child(&a3, &s3, 4);
    for block in [&a1, &a2, &a3, &a4] {
        assert_eq!(chain.push(block, None), BlockOutcome::Extended);
    }
    let (b2, t2) = build.child(&a1, &s1, 20);
    let mut header = b2.header().clone();
    header.state_root = Hash([9; 32]);
    let bad = Block::new(header, b2.body().map(<[Op]>::to_vec));
    let (b3, t3) = build.child(&bad, &t2, 30);
    let (b4, t4) = build.child(&b3, &t3, 40);
    let (c4, _) = build.child(&b3, &t3, 44);
    let (b5, _) = build.child(&b4, &t4, 50);
    for block in [&bad, &b3, &b4, &c4] {
        assert_eq!(chain.push(block, None), BlockOutcome::Forked);
    }
    assert!(matches!(chain.push(&b5, None), BlockOutcome::Invalid(_)));
    chain.check_invariants();
    for gone in [&bad, &b3, &b4, &c4] {
        assert!(!chain.knows(&gone.hash()), "#{} built on the invalid block goes", gone.number());
    }
    assert_eq!(chain.head_number(), 4);
}

/// A macro block adopted by a rebranch finalizes its height: the block it displaced at that height goes.
#[test]
fn finalization_drops_fork_blocks_at_the_macro_height() {
    let build = Builder { bpb: 4 };
    let (mut chain, genesis, state) = build.chain(16);
    let (a1, s1) = build.child(&genesis, &state, 1);
    let (a2, s2) = build.child(&a1, &s1, 2);
    let (a3, s3) = build.child(&a2, &s2, 3);
    let (mut a4, _) = build.child(&a3, &s3, 4);
    // Not a macro block (the chain leaves the flag to intrinsic checks): the head at height 4 stays open.
    let mut header = a4.header().clone();
    header.is_macro = false;
    a4 = Block::new(header, a4.body().map(<[Op]>::to_vec));
    for block in [&a1, &a2, &a3, &a4] {
        assert_eq!(chain.push(block, None), BlockOutcome::Extended);
    }
    let (b3, t3) = build.child(&a2, &s2, 30);
    let (b4, t4) = build.child(&b3, &t3, 40);
    let (b5, _) = build.child(&b4, &t4, 50);
    for block in [&b3, &b4] {
        assert_eq!(chain.push(block, None), BlockOutcome::Forked);
    }
    assert!(matches!(chain.push(&b5, None), BlockOutcome::Rebranched { .. }));
    assert_eq!(chain.latest_macro(), 4);
    assert!(!chain.knows(&a4.hash()), "a fork block at the macro height is final history's loser");
    assert!(!chain.knows(&a3.hash()), "fork blocks below the macro height go");
    assert!(chain.diff(&b5.hash()).is_some(), "blocks above the macro keep their diffs (for serving)");
    chain.check_invariants();
    // #5 came with the macro block's rebranch: it keeps its revert record, so a fork from #4 can still win.
    let (c5, u5) = build.child(&b4, &t4, 55);
    let (c6, _) = build.child(&c5, &u5, 66);
    assert_eq!(chain.push(&c5, None), BlockOutcome::Forked);
    assert!(matches!(chain.push(&c6, None), BlockOutcome::Rebranched { .. }));
    chain.check_invariants();
}

#[test]
fn a_block_whose_diff_root_lies_is_invalid_even_without_a_diff() {
    let build = Builder { bpb: 100 };
    let (mut chain, genesis, state) = build.chain(4);
    let (a1, _) = build.child(&genesis, &state, 1);
    let mut header = a1.header().clone();
    header.diff_root = Hash([5; 32]);
    let lying = Block::new(header, a1.body().map(<[Op]>::to_vec));
    assert_eq!(chain.push(&lying, None), BlockOutcome::Invalid(BlockInvalid::Diff));
    assert_eq!(chain.push(&a1, None), BlockOutcome::Extended);
}

#[test]
fn the_reserved_head_fetch_is_no_ordinary_target_and_pauses_nothing() {
    let mut queue = BlockQueue::new(1);
    queue.fetches.insert(Hash([1; 32]), MissingFetch::new(10, None, false, true));
    assert_eq!((queue.ordinary_targets(), queue.target_count()), (0, 1));
    assert!(!queue.catching_up(), "the head fetch is no catch-up");
    queue.fetches.insert(Hash([2; 32]), MissingFetch::new(90, None, true, false));
    assert_eq!((queue.ordinary_targets(), queue.target_count()), (1, 2));
    assert!(queue.catching_up());
}

#[test]
fn chunk_requests_wait_only_while_a_catch_up_brings_blocks() {
    let mut queue = BlockQueue::new(1);
    queue.fetches.insert(Hash([2; 32]), MissingFetch::new(90, None, true, false));
    assert_eq!(queue.chunk_pause_until(Millis(120), 50), None, "no progress yet");
    queue.catch_up_progress = Some(Millis(100));
    assert_eq!(queue.chunk_pause_until(Millis(120), 50), Some(Millis(150)));
    assert_eq!(queue.chunk_pause_until(Millis(149), 50), Some(Millis(150)));
    assert_eq!(queue.chunk_pause_until(Millis(150), 50), None, "the pause ends at its deadline");
    queue.fetches.clear();
    assert_eq!(queue.chunk_pause_until(Millis(120), 50), None, "no catch-up, no pause");
}

#[test]
fn a_block_is_held_when_pending_fetched_or_buffered() {
    let mut queue = BlockQueue::new(1);
    let (pending, fetched, buffered) =
        (bare(3, Hash([7; 32]), 1), bare(4, Hash([7; 32]), 2), bare(5, Hash([7; 32]), 3));
    assert!(!queue.holds(&pending.hash()));
    queue.mark_pending(pending.hash());
    queue.fetches.insert(fetched.hash(), MissingFetch::new(4, None, false, false));
    let block = buffered.clone();
    queue.insert(BufferedBlock { block, requested: false, announcer: None, vouchers: Vec::new(), held: None }, 4);
    for block in [&pending, &fetched, &buffered] {
        assert!(queue.holds(&block.hash()), "#{}", block.number());
    }
    assert!(!queue.holds(&Hash([9; 32])));
}

/// `check_invariants` skips a chain that did not change: every mutator must count as a change, and every one
/// that changes the blocks as a change of the blocks.
#[test]
fn every_change_of_the_chain_moves_its_generation() {
    let build = Builder { bpb: 100 };
    let (genesis, state) = build.genesis();
    let mut chain = Chain::new(genesis.clone(), Trie::fresh(), 100, 4, 10);
    let mut last = (chain.generation(), chain.blocks_generation());
    let mut moved = |chain: &Chain, what: &str, blocks: bool| {
        assert!(chain.generation() > last.0, "{what} moves the generation");
        assert_eq!(chain.blocks_generation() > last.1, blocks, "{what} moves the blocks generation: {blocks}");
        last = (chain.generation(), chain.blocks_generation());
    };
    let chunk = state.chunk(&Key::EMPTY, 10).unwrap();
    chain.commit_chunk(genesis.hash(), &Key::EMPTY, &chunk);
    moved(&chain, "commit_chunk", false);
    let (a1, _) = build.child(&genesis, &state, 1);
    assert_eq!(chain.push(&a1, None), BlockOutcome::Extended);
    moved(&chain, "push", true);
    let (_, diff) = state.execute(a1.body().unwrap_or_default()).unwrap();
    chain.store_diff(&a1.hash(), diff);
    moved(&chain, "store_diff", true);
    chain.check_invariants();
}

/// A stored diff must match the block's diff root, and the first one stays.
#[test]
fn store_diff_keeps_only_a_matching_first_diff() {
    let build = Builder { bpb: 100 };
    let (mut chain, genesis, state) = build.chain(4);
    let (a1, s1) = build.child(&genesis, &state, 1);
    let (b1, _) = build.child(&genesis, &state, 2);
    assert_eq!(chain.push(&a1, None), BlockOutcome::Extended);
    assert_eq!(chain.push(&b1, None), BlockOutcome::Forked);
    let (_, a1_diff) = state.execute(a1.body().unwrap_or_default()).unwrap();
    let (_, b1_diff) = state.execute(b1.body().unwrap_or_default()).unwrap();
    let (_, other) = s1.execute(&[Op::Set(Key::from_hex("7").unwrap(), vec![7])]).unwrap();
    chain.store_diff(&b1.hash(), other.clone());
    assert_eq!(chain.diff(&b1.hash()), None, "a diff with another root is not stored");
    chain.store_diff(&b1.hash(), b1_diff.clone());
    assert_eq!(chain.diff(&b1.hash()), Some(&b1_diff));
    chain.store_diff(&a1.hash(), other);
    assert_eq!(chain.diff(&a1.hash()), Some(&a1_diff), "the diff applied when it was pushed stays");
}

/// A rebranch above the latest macro block reverts to the fork point and keeps the main chain below it; the
/// blocks above the macro keep their revert records, so a later rebranch works too.
#[test]
fn rebranches_keep_the_chain_below_the_fork_point() {
    let build = Builder { bpb: 4 };
    let (mut chain, genesis, state) = build.chain(16);
    let mut main = vec![(genesis.clone(), state.clone())];
    for salt in 1..=6 {
        let (parent, parent_state) = main.last().cloned().unwrap();
        let child = build.child(&parent, &parent_state, salt);
        assert_eq!(chain.push(&child.0, None), BlockOutcome::Extended);
        main.push(child);
    }
    assert_eq!(chain.latest_macro(), 4);
    let (f6, t6) = build.child(&main[5].0, &main[5].1, 60);
    let (f7, _) = build.child(&f6, &t6, 70);
    assert_eq!(chain.push(&f6, None), BlockOutcome::Forked);
    assert!(matches!(chain.push(&f7, None), BlockOutcome::Rebranched { .. }), "a revert record above the macro");
    for (number, (block, _)) in main.iter().enumerate().take(6).skip(1) {
        assert_eq!(chain.main_at(number as u32).map(Block::hash), Some(block.hash()), "#{number} stays main");
    }
    assert_eq!(chain.main_at(7).map(Block::hash), Some(f7.hash()));
    chain.check_invariants();
}

/// `remove_descendants` takes the buffered chain below a root (not the root) and says how many went; `block`
/// finds a buffered block by hash.
#[test]
fn the_buffered_descendants_of_a_root_go_together() {
    let mut queue = BlockQueue::new(1);
    let root = bare(10, Hash([7; 32]), 1);
    let child = bare(11, root.hash(), 2);
    let grandchild = bare(12, child.hash(), 3);
    let stranger = bare(11, Hash([8; 32]), 4);
    for block in [&root, &child, &grandchild, &stranger] {
        let buffered =
            BufferedBlock { block: block.clone(), requested: false, announcer: None, vouchers: Vec::new(), held: None };
        queue.insert(buffered, 8);
    }
    assert_eq!(queue.block(&child.hash()).map(Block::hash), Some(child.hash()));
    assert_eq!(queue.remove_descendants(root.hash()), 2);
    assert!(queue.block(&child.hash()).is_none() && queue.block(&grandchild.hash()).is_none());
    assert!(queue.block(&root.hash()).is_some() && queue.block(&stranger.hash()).is_some());
    assert_eq!(queue.buffered_count(), 2);
}

/// What the buffered blocks are to the chain: a chain of buffered blocks links through a pending parent, a block
/// above a gap does not, and a walk at unchanged generations looks up only the block buffered since.
#[test]
fn buffer_links_follow_pending_parents_and_look_up_only_new_blocks() {
    use std::cell::Cell;
    let mut queue = BlockQueue::new(1);
    let root = bare(3, Hash([1; 32]), 1);
    let (a, gap) = (bare(4, root.hash(), 2), bare(6, Hash([9; 32]), 3));
    let b = bare(5, a.hash(), 4);
    let buffer = |queue: &mut BlockQueue, block: &Block| {
        let buffered =
            BufferedBlock { block: block.clone(), requested: false, announcer: None, vouchers: Vec::new(), held: None };
        queue.insert(buffered, 8);
    };
    buffer(&mut queue, &a);
    buffer(&mut queue, &gap);
    let lookups = Cell::new(0);
    let knows = |_: &Hash| {
        lookups.set(lookups.get() + 1);
        false
    };
    let walk = |queue: &mut BlockQueue, chain_generation| queue.links((chain_generation, 0), chain_generation, knows);
    let unlinked = walk(&mut queue, 1);
    assert!(unlinked.linked.is_empty() && unlinked.ready == 0, "nothing links before the root is pending");
    assert_eq!(lookups.replace(0), 4, "each block and its parent looked up once");
    queue.mark_pending(root.hash());
    buffer(&mut queue, &b);
    let linked = walk(&mut queue, 1);
    assert_eq!(
        linked.linked,
        std::collections::BTreeSet::from([(4, a.hash()), (5, b.hash())]),
        "a and b link through the root"
    );
    assert_eq!(linked.ready, 1, "only a's parent is held");
    assert_eq!(lookups.replace(0), 6, "a new pending block: every block looked up again");
    buffer(&mut queue, &bare(7, Hash([8; 32]), 5));
    walk(&mut queue, 1);
    assert_eq!(lookups.replace(0), 2, "the same generations: only the new block is looked up");
    let again = walk(&mut queue, 2);
    assert_eq!(lookups.get(), 8, "a new chain generation: every block looked up again");
    assert_eq!(BufferLinks { at: again.at, ..queue.links_afresh(|_| false) }, again, "the walk afresh agrees");
}
