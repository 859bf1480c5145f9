//! BlockQueue (§4.3): announcements and missing-block responses become blocks handed to the DiffQueue in
//! ancestry order; blocks whose parent is unknown wait in a bounded buffer while their ancestors are requested.

use crate::block::Block;
use crate::chain::Chain;
use crate::hash::Hash;
use crate::interface::{Millis, PeerId};
use crate::peers::RoundRobin;
use crate::wire::RequestId;
use std::collections::{BTreeMap, BTreeSet, VecDeque};

/// Denials that end a missing-blocks fetch or a diff job: two peers at or above the block's height do not have
/// it (on their main chain), and more than vouch for it (a liar's denials cannot end an honest block that
/// several peers announced: seed 2001074). Waiting for attempts or rounds to run out instead cost a round trip per peer and per
/// invented or private block, one at a time: a flood kept the honest head out (seeds 1934 and 3003196), and a
/// private fork held the only diff slot (seed 4001390).
pub(crate) const DENIALS_MAX: u32 = 2;

/// Peers remembered per buffered block as having announced or sent it.
pub(crate) const VOUCHERS_MAX: usize = 4;

#[derive(Clone, Debug)]
pub(crate) struct BufferedBlock {
    pub(crate) block: Block,
    /// It came from a missing-blocks response (evicted after announced ones).
    pub(crate) requested: bool,
    pub(crate) announcer: Option<PeerId>,
    /// Distinct peers that announced or sent it (at most `VOUCHERS_MAX`): how credible fetching its ancestors is.
    pub(crate) vouchers: Vec<PeerId>,
    /// Whether it and its parent are held (in the chain or pending), as found at `(chain blocks generation,
    /// pending_generation)`: one block is buffered per flood announcement, and the others are not looked up again.
    pub(crate) held: Option<((u64, u64), Held)>,
}

/// Whether a buffered block and its parent are in the chain or pending.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Held {
    pub(crate) block: bool,
    pub(crate) parent: bool,
}

/// What the buffered blocks are to the chain: which are linked to it (in the chain or pending themselves, or with
/// a parent that is, or with a linked buffered parent), and how many have a parent in the chain or pending
/// (without one, `release_buffered_blocks` has nothing to release). Kept while the chain's blocks generation and the
/// queue's `links_generation` stand still (`SyncEngine::buffer_links`): a flood world walked its 64 buffered
/// blocks twice per drive pass, with four map lookups per block, at 30 % of its instructions (seed 1353).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct BufferLinks {
    /// The generations it was found at (chain, queue); `None` before the first walk.
    pub(crate) at: Option<(u64, u64)>,
    pub(crate) linked: BTreeSet<(u32, Hash)>,
    pub(crate) ready: usize,
}

impl BufferLinks {
    /// One block of the walk up the heights: every block below `number` was walked before.
    fn walk(&mut self, number: u32, hash: Hash, parent: Hash, held: Held) {
        self.ready += usize::from(held.parent);
        let parent_linked = number > 0 && (held.parent || self.linked.contains(&(number - 1, parent)));
        if held.block || parent_linked {
            self.linked.insert((number, hash));
        }
    }
}

/// One missing-blocks target being fetched.
#[derive(Clone, Debug)]
pub(crate) struct MissingFetch {
    pub(crate) target_number: u32,
    /// The peer whose announcement made the node want it (its head, or a buffered child's first announcer):
    /// fetches take turns by it, so that no peer's announcements monopolise the fetch queue.
    pub(crate) source: Option<PeerId>,
    pub(crate) request: Option<RequestId>,
    pub(crate) tried: BTreeSet<PeerId>,
    pub(crate) attempts: u32,
    /// Answers that the target is not on the responder's main chain, from peers whose head is at or above it:
    /// `DENIALS_MAX` of them end the fetch (an invented or forked-out target).
    pub(crate) denials: u32,
    /// The heights its request in flight may bring: above its first locator's, up to the target's. Two
    /// requests whose spans overlap would fetch the same blocks.
    pub(crate) span: Option<(u32, u32)>,
    /// A catch-up towards a block beyond the window (Ours): paced by room in the pipeline.
    pub(crate) catch_up: bool,
    /// The one reserved fetch towards a peer's announced head (L2), outside the `block_buffer_max` targets.
    pub(crate) head: bool,
}

impl MissingFetch {
    /// A fetch not yet asked of anyone.
    pub(crate) fn new(target_number: u32, source: Option<PeerId>, catch_up: bool, head: bool) -> MissingFetch {
        let (request, tried, attempts, denials, span) = (None, BTreeSet::new(), 0, 0, None);
        MissingFetch { target_number, source, request, tried, attempts, denials, span, catch_up, head }
    }
}

/// One catch-up batch being fetched by height (`Request::BlocksFrom`), keyed by its first height.
#[derive(Clone, Debug)]
pub(crate) struct BatchFetch {
    pub(crate) target: Hash,
    pub(crate) target_number: u32,
    pub(crate) request: Option<RequestId>,
    pub(crate) tried: BTreeSet<PeerId>,
    pub(crate) attempts: u32,
    pub(crate) denials: u32,
}

#[derive(Clone, Debug)]
pub(crate) struct BlockQueue {
    /// Private, as `pending` is: every change to either moves `links_generation`.
    buffer: BTreeMap<u32, BTreeMap<Hash, BufferedBlock>>,
    pub(crate) buffered: usize,
    /// Handed to the DiffQueue, not yet pushed.
    pending: BTreeSet<Hash>,
    /// Moved by every change to which blocks are buffered or pending: what the buffered blocks are to the chain
    /// (`SyncEngine::buffer_links`) is kept while it and the chain's blocks generation stand still.
    links_generation: u64,
    /// Moved by every change to which blocks are pending (`BufferedBlock::held`).
    pending_generation: u64,
    pub(crate) fetches: BTreeMap<Hash, MissingFetch>,
    /// Catch-up batches by first height, at most `catch_up_batches_in_flight`.
    pub(crate) batches: BTreeMap<u32, BatchFetch>,
    pub(crate) rejected: VecDeque<Hash>,
    pub(crate) rejected_set: BTreeSet<Hash>,
    pub(crate) cursor: RoundRobin,
    /// Which peer's announced head the reserved head fetch goes after next: every peer in turn, so that a peer
    /// announcing heads that never come cannot hold the reserved fetch.
    pub(crate) head_cursor: RoundRobin,
    /// Whose fetch goes next: every source in turn (`MissingFetch::source`).
    pub(crate) source_cursor: RoundRobin,
    /// The last missing-blocks request sent was the reserved head fetch's: the next goes to an ordinary target,
    /// if one waits (`SyncEngine::fetch_order`).
    pub(crate) head_went_last: bool,
    /// The highest announcement beyond the window seen while a catch-up ran: announced again once it ends, so
    /// that blocks produced during the catch-up are not forgotten (found by the simulator, seed 646).
    pub(crate) deferred_ahead: Option<(Block, PeerId)>,
    /// When a catch-up answer last brought verified blocks: chunk requests wait only while blocks keep coming.
    pub(crate) catch_up_progress: Option<Millis>,
}

impl BlockQueue {
    pub(crate) fn new(seed: u64) -> BlockQueue {
        BlockQueue {
            buffer: BTreeMap::new(),
            buffered: 0,
            pending: BTreeSet::new(),
            links_generation: 0,
            pending_generation: 0,
            fetches: BTreeMap::new(),
            batches: BTreeMap::new(),
            rejected: VecDeque::new(),
            rejected_set: BTreeSet::new(),
            cursor: RoundRobin::seeded(seed),
            head_cursor: RoundRobin::seeded(seed ^ 0x4ead),
            source_cursor: RoundRobin::seeded(seed ^ 0x5ce),
            head_went_last: false,
            deferred_ahead: None,
            catch_up_progress: None,
        }
    }

    pub(crate) fn buffered_count(&self) -> usize {
        self.buffered
    }

    pub(crate) fn rejected_count(&self) -> usize {
        self.rejected.len()
    }

    pub(crate) fn target_count(&self) -> usize {
        self.fetches.len()
    }

    /// Targets that count against `block_buffer_max`: all but the reserved head fetch.
    pub(crate) fn ordinary_targets(&self) -> usize {
        self.fetches.values().filter(|fetch| !fetch.head).count()
    }

    /// A catch-up is under way: we are more than the window behind some peer. The reserved head fetch does not
    /// count: it goes after every peer's head in turn, invented ones too, and must not pause chunk requests.
    pub(crate) fn catching_up(&self) -> bool {
        self.fetches.values().any(|fetch| fetch.catch_up && !fetch.head)
    }

    /// Until when chunk requests wait for the catch-up (§4.3, Ours): while one runs and brought blocks within
    /// the last `wait_ms`. A catch-up that brings nothing (a flood of invented heads far ahead, each fetched in
    /// vain) holds nothing back: found by the simulator (seed 1004380), a `future_flood` liar paused the download
    /// for ever.
    pub(crate) fn chunk_pause_until(&self, now: Millis, wait_ms: u64) -> Option<Millis> {
        let until = self.catch_up_progress?.plus(wait_ms);
        (self.catching_up() && until > now).then_some(until)
    }

    pub(crate) fn in_flight(&self) -> usize {
        self.fetches.values().filter(|fetch| fetch.request.is_some()).count()
    }

    /// The block is on its way through the queue: pending, buffered or a fetch target.
    pub(crate) fn holds(&self, hash: &Hash) -> bool {
        self.pending.contains(hash)
            || self.fetches.contains_key(hash)
            || self.buffer.values().any(|at| at.contains_key(hash))
    }

    /// A buffered block by hash.
    pub(crate) fn block(&self, hash: &Hash) -> Option<&Block> {
        self.buffer.values().find_map(|at| at.get(hash)).map(|buffered| &buffered.block)
    }

    pub(crate) fn is_rejected(&self, hash: &Hash) -> bool {
        self.rejected_set.contains(hash)
    }

    /// The buffered blocks by height, then hash.
    pub(crate) fn buffer(&self) -> &BTreeMap<u32, BTreeMap<Hash, BufferedBlock>> {
        &self.buffer
    }

    /// A buffered block, to change what is remembered about it (never its block).
    pub(crate) fn buffered_mut(&mut self, number: u32, hash: &Hash) -> Option<&mut BufferedBlock> {
        self.buffer.get_mut(&number)?.get_mut(hash)
    }

    /// The blocks handed to the DiffQueue and not pushed yet.
    pub(crate) fn pending(&self) -> &BTreeSet<Hash> {
        &self.pending
    }

    pub(crate) fn is_pending(&self, hash: &Hash) -> bool {
        self.pending.contains(hash)
    }

    /// How many times the buffered or pending blocks may have changed.
    pub(crate) fn links_generation(&self) -> u64 {
        self.links_generation
    }

    pub(crate) fn mark_pending(&mut self, hash: Hash) {
        self.links_generation += 1;
        self.pending_generation += 1;
        self.pending.insert(hash);
    }

    pub(crate) fn finish_pending(&mut self, hash: &Hash) {
        self.links_generation += 1;
        self.pending_generation += 1;
        self.pending.remove(hash);
    }

    /// `BufferLinks` at `at`, `knows` saying which hashes the chain (at blocks generation `chain_generation`) holds;
    /// what each block's `held` says is trusted when it was found at the same generations of the chain and of
    /// the pending blocks.
    pub(crate) fn links(
        &mut self,
        at: (u64, u64),
        chain_generation: u64,
        knows: impl Fn(&Hash) -> bool,
    ) -> BufferLinks {
        let facts_at = (chain_generation, self.pending_generation);
        let mut links = BufferLinks { at: Some(at), ..BufferLinks::default() };
        let pending = &self.pending;
        for (&number, blocks) in &mut self.buffer {
            for (hash, buffered) in blocks {
                let parent = buffered.block.parent_hash();
                let held = match buffered.held {
                    Some((found_at, held)) if found_at == facts_at => held,
                    _ => {
                        let held_now = |hash: &Hash| knows(hash) || pending.contains(hash);
                        let held = Held { block: held_now(hash), parent: held_now(&parent) };
                        buffered.held = Some((facts_at, held));
                        held
                    }
                };
                links.walk(number, *hash, parent, held);
            }
        }
        links
    }

    /// `links`, every block looked up afresh (the check of what `links` kept).
    pub(crate) fn links_afresh(&self, knows: impl Fn(&Hash) -> bool) -> BufferLinks {
        let mut links = BufferLinks::default();
        let held = |hash: &Hash| knows(hash) || self.pending.contains(hash);
        for (&number, blocks) in &self.buffer {
            for (hash, buffered) in blocks {
                let parent = buffered.block.parent_hash();
                links.walk(number, *hash, parent, Held { block: held(hash), parent: held(&parent) });
            }
        }
        links
    }

    pub(crate) fn take(&mut self, number: u32, hash: &Hash) -> Option<BufferedBlock> {
        self.links_generation += 1;
        let at = self.buffer.get_mut(&number)?;
        let taken = at.remove(hash)?;
        if at.is_empty() {
            self.buffer.remove(&number);
        }
        self.buffered -= 1;
        Some(taken)
    }

    /// Buffers a block; the caller made room (`block_buffer_max`) and checked that it is not buffered yet.
    pub(crate) fn insert(&mut self, buffered: BufferedBlock, capacity: u32) {
        assert!(self.buffered < capacity as usize, "the caller made room in the block buffer");
        self.links_generation += 1;
        let block = &buffered.block;
        let previous = self.buffer.entry(block.number()).or_default().insert(block.hash(), buffered);
        assert!(previous.is_none(), "callers check that the block is not buffered yet");
        self.buffered += 1;
    }

    /// Remembers a rejected hash, forgetting the oldest beyond `max`.
    pub(crate) fn reject(&mut self, hash: Hash, max: u32) {
        if self.rejected_set.insert(hash) {
            self.rejected.push_back(hash);
        }
        while self.rejected.len() > max as usize {
            if let Some(old) = self.rejected.pop_front() {
                self.rejected_set.remove(&old);
            }
        }
    }

    /// Removes buffered blocks descending from `root` (not `root` itself); returns how many.
    pub(crate) fn remove_descendants(&mut self, root: Hash) -> usize {
        let mut doomed = BTreeSet::from([root]);
        let mut removed = 0;
        let heights: Vec<u32> = self.buffer.keys().copied().collect();
        for number in heights {
            let hashes: Vec<Hash> = self.buffer[&number]
                .values()
                .filter(|b| doomed.contains(&b.block.parent_hash()))
                .map(|b| b.block.hash())
                .collect();
            for hash in hashes {
                self.take(number, &hash);
                doomed.insert(hash);
                removed += 1;
            }
        }
        removed
    }

    pub(crate) fn check_invariants(&self, chain: &Chain, bpb: u32) {
        for &first in self.batches.keys() {
            assert!(first % bpb.max(1) == 1 % bpb.max(1), "a batch starts right after a macro block");
        }
        let counted: usize = self.buffer.values().map(BTreeMap::len).sum();
        assert_eq!(counted, self.buffered, "the block buffer count is exact");
        assert!(self.buffer.values().all(|at| !at.is_empty()), "no empty height in the block buffer");
        assert_eq!(self.rejected.len(), self.rejected_set.len(), "rejected list and set agree");
        for at in self.buffer.values() {
            for (hash, buffered) in at {
                assert_eq!(*hash, buffered.block.hash(), "buffered under its own hash");
                assert!(buffered.vouchers.len() <= VOUCHERS_MAX, "vouchers are bounded");
                assert!(!self.pending.contains(hash), "a block is buffered or pending, not both");
            }
        }
        for hash in &self.pending {
            assert!(!chain.knows(hash), "pending blocks are not in the chain yet");
        }
    }
}
