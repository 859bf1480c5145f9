//! DiffQueue (§4.4): while diff mode is on, every block needs a verified diff before it is pushed.
//! Diffs are fetched by per-block jobs (source peer first, then round robin, rounds with backoff, given up after
//! `diff_rounds_max` rounds: H10). Blocks leave in arrival order, except that a block waiting for its diff
//! delays only its own descendants (H10, H20): a block is pushed once its parent is no longer queued.

use crate::block::Block;
use crate::block_queue::VOUCHERS_MAX;
use crate::hash::Hash;
use crate::interface::{Millis, PeerId};
use crate::peers::RoundRobin;
use crate::trie::TrieDiff;
use crate::wire::RequestId;
use std::collections::{BTreeMap, BTreeSet, VecDeque};

/// How a block reached the pipeline: decides which event its adoption emits (§4.10).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum PushKind {
    Head,
    Buffered,
    Missing,
}

#[derive(Clone, Debug)]
pub(crate) struct PendingBlock {
    pub(crate) block: Block,
    pub(crate) kind: PushKind,
    /// Distinct peers that announced or sent it (at most `VOUCHERS_MAX`): denials of its diff must outnumber them.
    pub(crate) vouchers: Vec<PeerId>,
    pub(crate) diff: Option<TrieDiff>,
    /// The chain asked for this block's diff at push time (H4, H11): needed even when diff mode is off.
    pub(crate) force_diff: bool,
    /// Stored fork blocks whose diffs must arrive before this block can be pushed (H11).
    pub(crate) extra: Vec<Hash>,
}

#[derive(Clone, Debug)]
pub(crate) struct DiffJob {
    pub(crate) number: u32,
    pub(crate) diff_root: Hash,
    pub(crate) request: Option<RequestId>,
    pub(crate) tried: BTreeSet<PeerId>,
    pub(crate) rounds: u32,
    /// `UnknownBlockHash` answers from peers whose head is at or above the block: `DENIALS_MAX` of them give the
    /// block up at once (a private fork nobody else holds, H10).
    pub(crate) denials: u32,
    pub(crate) backoff_until: Option<Millis>,
    pub(crate) backoff_ms: u64,
    /// Ours (§4.4): when `request` is overdue (its peer's answer estimate after it was sent) and this job, if it
    /// holds the pipeline, asks once more; moved on by an estimate while no peer may take the hedge. `None` while
    /// no peer is measured, when the moment would pass the deadline, or once the hedge went out.
    pub(crate) hedge_at: Option<Millis>,
    /// The earlier request, still open, after the job asked again: whichever of the two answers first serves.
    pub(crate) hedged: Option<RequestId>,
}

impl DiffJob {
    pub(crate) fn new(number: u32, diff_root: Hash, backoff_ms: u64) -> DiffJob {
        DiffJob {
            number,
            diff_root,
            request: None,
            tried: BTreeSet::new(),
            rounds: 0,
            denials: 0,
            backoff_until: None,
            backoff_ms,
            hedge_at: None,
            hedged: None,
        }
    }

    /// Its requests still open: the current one and the earlier one of a hedge.
    pub(crate) fn open_requests(&self) -> impl Iterator<Item = RequestId> {
        self.request.into_iter().chain(self.hedged)
    }
}

#[derive(Clone, Debug)]
pub(crate) struct DiffQueue {
    pub(crate) entries: VecDeque<PendingBlock>,
    pub(crate) jobs: BTreeMap<Hash, DiffJob>,
    pub(crate) cursor: RoundRobin,
}

impl DiffQueue {
    pub(crate) fn new(seed: u64) -> DiffQueue {
        DiffQueue { entries: VecDeque::new(), jobs: BTreeMap::new(), cursor: RoundRobin::seeded(seed ^ 0xd1ff) }
    }

    /// Queues a block; the caller checked that the queue has room (`pending_blocks_max`).
    pub(crate) fn enqueue(&mut self, block: Block, kind: PushKind, vouchers: Vec<PeerId>, capacity: u32) {
        assert!(self.entries.len() < capacity as usize, "the caller checked room for a pending block");
        assert!(vouchers.len() <= VOUCHERS_MAX, "vouchers are bounded");
        let hash = block.hash();
        let entry = PendingBlock { block, kind, vouchers, diff: None, force_diff: false, extra: Vec::new() };
        // Arrival order, except that a block goes before its children already queued (S6). A child can be
        // queued first when its parent was known to the chain then and has been forgotten since (a pruned or
        // given-up fork block that comes back): found by the million-input fuzz run.
        match self.entries.iter().position(|queued| queued.block.parent_hash() == hash) {
            Some(child) => {
                self.entries.insert(child, entry);
                self.restore_parent_order();
            }
            None => self.entries.push_back(entry),
        }
    }

    /// Reorders the queue so that every queued parent precedes its queued children, keeping arrival order
    /// otherwise (a stable topological order; the queue is bounded by `pending_blocks_max`).
    pub(crate) fn restore_parent_order(&mut self) {
        let mut rest: Vec<PendingBlock> = std::mem::take(&mut self.entries).into();
        while !rest.is_empty() {
            let queued: BTreeSet<Hash> = rest.iter().map(|entry| entry.block.hash()).collect();
            // The first entry whose parent is not among the rest; a cycle cannot exist (a parent is older).
            let next = rest.iter().position(|entry| !queued.contains(&entry.block.parent_hash())).unwrap_or(0);
            self.entries.push_back(rest.remove(next));
        }
    }

    /// The highest number the queued blocks reach building on `tip` (0 when none does): one pass, since every
    /// queued parent precedes its queued children. Asked only over the fork bound, once per fork tip.
    pub(crate) fn reach(&self, tip: &Hash) -> u32 {
        let mut line = BTreeSet::from([*tip]);
        let mut top = 0;
        for entry in &self.entries {
            if line.contains(&entry.block.parent_hash()) {
                line.insert(entry.block.hash());
                top = top.max(entry.block.number());
            }
        }
        top
    }

    /// Puts a block back at the front (the chain asked for diffs first, H4/H11).
    pub(crate) fn requeue_front(&mut self, entry: PendingBlock) {
        self.entries.push_front(entry);
    }

    /// Another peer vouches for pending block `hash`.
    pub(crate) fn vouch(&mut self, hash: &Hash, peer: PeerId) {
        if let Some(entry) = self.entries.iter_mut().find(|entry| entry.block.hash() == *hash) {
            if !entry.vouchers.contains(&peer) && entry.vouchers.len() < VOUCHERS_MAX {
                entry.vouchers.push(peer);
            }
        }
    }

    /// How many peers vouch for pending block `hash`.
    pub(crate) fn vouchers(&self, hash: &Hash) -> usize {
        self.entries.iter().find(|entry| entry.block.hash() == *hash).map_or(0, |entry| entry.vouchers.len())
    }

    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    /// The hashes of the queued blocks, ascending.
    /// The queued blocks' hashes, ascending, each once.
    pub(crate) fn hashes(&self) -> impl Iterator<Item = Hash> {
        let mut hashes: Vec<Hash> = self.places().into_iter().map(|(hash, _)| hash).collect();
        hashes.dedup();
        hashes.into_iter()
    }

    /// Every queued block's hash with its place in the queue, ascending (a sorted list: the checks after every
    /// input built a set and compared every pair of blocks).
    fn places(&self) -> Vec<(Hash, usize)> {
        let mut places: Vec<(Hash, usize)> =
            self.entries.iter().enumerate().map(|(place, entry)| (entry.block.hash(), place)).collect();
        places.sort_unstable();
        places
    }

    pub(crate) fn in_flight(&self) -> usize {
        self.jobs.values().filter(|job| job.request.is_some()).count()
    }

    /// The job that holds the pipeline (the oldest block waiting for a diff) and the moment it may ask once
    /// more: only while its request is in flight, and while no other job holds a hedge (so that at most one
    /// diff request beyond `diff_requests_in_flight` is ever open).
    pub(crate) fn hedge_due(&self) -> Option<(Hash, Millis)> {
        if self.jobs.values().any(|job| job.hedged.is_some()) {
            return None;
        }
        let (hash, job) = self.jobs.iter().min_by_key(|(hash, job)| (job.number, **hash))?;
        job.request.and(job.hedge_at).map(|at| (*hash, at))
    }

    /// Some job waits for a peer: no request in flight, no backoff.
    pub(crate) fn any_idle(&self) -> bool {
        self.jobs.values().any(|job| job.request.is_none() && job.backoff_until.is_none())
    }

    pub(crate) fn job_count(&self) -> usize {
        self.jobs.len()
    }

    pub(crate) fn next_backoff(&self) -> Option<Millis> {
        self.jobs.values().filter_map(|job| job.backoff_until).min()
    }

    pub(crate) fn expire_backoffs(&mut self, now: Millis) {
        for job in self.jobs.values_mut() {
            if job.backoff_until.is_some_and(|until| until <= now) {
                job.backoff_until = None;
            }
        }
    }

    pub(crate) fn check_invariants(&self) {
        for job in self.jobs.values() {
            assert!(job.hedged.is_none() || job.request.is_some(), "a hedged job keeps a current request");
            assert!(job.hedged.is_none() || job.hedged != job.request, "a hedge is another request");
        }
        assert!(self.jobs.values().filter(|job| job.hedged.is_some()).count() <= 1, "one hedged diff at a time");
        let places = self.places();
        assert!(places.windows(2).all(|pair| pair[0].0 != pair[1].0), "a block is queued once");
        for (place, entry) in self.entries.iter().enumerate() {
            let parent = entry.block.parent_hash();
            let parent_place = places.binary_search_by(|(hash, _)| hash.cmp(&parent)).ok().map(|found| places[found].1);
            assert!(parent_place.is_none_or(|at| at < place), "S6: a block never waits ahead of its parent (H20)");
        }
    }
}
