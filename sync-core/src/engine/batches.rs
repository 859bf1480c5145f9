//! Catch-up batches (§4.3, Ours). Far behind, the missing-blocks fetch from the frontier brings one batch a round
//! trip. So the batches beyond the frontier's next macro block, up to the catch-up target, are asked of several
//! peers at once, by height (`Request::BlocksFrom`). Each answer is checked on its own: it starts right after a
//! macro block and ends at the next one, which is sealed and final (nobody forks past a macro block), so its
//! blocks are the canonical ones; they wait in the buffer until the gap below closes, then go down the pipeline.
//! Bounded by `catch_up_batches_in_flight` and by room in the block buffer for every batch in flight.

use super::SyncEngine;
use crate::block::Block;
use crate::block_queue::{BatchFetch, DENIALS_MAX};
use crate::hash::Hash;
use crate::interface::{PeerId, Violation};
use crate::peers::Kind;
use crate::requests::Purpose;
use crate::wire::{Request, RequestId, Response};
use std::collections::{BTreeMap, BTreeSet};

impl SyncEngine {
    /// Sends batch requests towards the catch-up target, lowest heights first, while slots and buffer room
    /// last.
    pub(crate) fn issue_catch_up_batches(&mut self) {
        let (bpb, max) = (self.config.bpb.max(1), self.config.catch_up_batches_in_flight as usize);
        let target = self.catch_up_target().filter(|_| max > 0 && bpb >= 2 && !self.peers.is_empty());
        let Some((target, target_number)) = target else {
            self.blocks.batches.retain(|_, batch| batch.request.is_some());
            return;
        };
        // The fetch from the frontier (the highest height linked to the chain) brings the blocks up to the next
        // macro block; batches start after it. An idle batch the frontier has come near is the fetch's now.
        // Kept from the fetch round just before, unless that round changed the buffer (`buffer_links`).
        let linked = self.buffer_links().linked.clone();
        let frontier = self.frontier_top(&linked).unwrap_or(0).max(self.chain.head_number());
        let lowest = (frontier / bpb + 1) * bpb + 1;
        self.blocks.batches.retain(|&first, batch| batch.request.is_some() || first >= lowest);
        let mut first = lowest;
        let mut load = self.requests.load();
        while first <= target_number && self.blocks.batches.len() < max {
            let room = self.blocks.buffered + bpb as usize * (self.blocks.batches.len() + 1);
            if room > self.config.block_buffer_max as usize {
                return;
            }
            let held = self.blocks.buffer().get(&first).is_some_and(|at| !at.is_empty());
            if !held && !self.blocks.batches.contains_key(&first) {
                let batch = BatchFetch {
                    target,
                    target_number,
                    request: None,
                    tried: BTreeSet::new(),
                    attempts: 0,
                    denials: 0,
                };
                self.blocks.batches.insert(first, batch);
            }
            first += bpb;
        }
        let idle: Vec<u32> = self.blocks.batches.iter().filter(|(_, b)| b.request.is_none()).map(|(&f, _)| f).collect();
        for first in idle {
            self.issue_batch(first, &mut load);
        }
    }

    /// The catch-up fetch the batches go towards: the one most peers vouch for, then can serve, then the highest.
    fn catch_up_target(&self) -> Option<(Hash, u32)> {
        let catch_up = self.blocks.fetches.iter().filter(|(_, fetch)| fetch.catch_up);
        let ranked = catch_up.map(|(hash, fetch)| {
            let number = fetch.target_number;
            ((self.vouchers(number, hash), self.holders(number), number), *hash)
        });
        ranked.max().map(|((_, _, number), hash)| (hash, number))
    }

    /// One batch request, to the quickest peer that may hold the target (its head is that high: a peer whose
    /// head is below cannot know which chain the target is on) and was not tried for it.
    fn issue_batch(&mut self, first: u32, load: &mut BTreeMap<PeerId, usize>) {
        let Some(batch) = self.blocks.batches.get(&first) else { return };
        let last = batch.target_number;
        let holders = self.holders(last);
        if holders == 0 || batch.attempts >= self.config.attempts(holders) || batch.denials >= DENIALS_MAX {
            self.blocks.batches.remove(&first);
            return;
        }
        let now = self.now;
        let busy = |peer: PeerId| load.get(&peer).copied().unwrap_or(0);
        let usable = |state: &crate::peers::PeerState| {
            state.head_number.is_some_and(|head| head >= last) && !state.throttled(Kind::Blocks, now)
        };
        let (target, tried) = (batch.target, batch.tried.clone());
        let cursor = &mut self.blocks.cursor;
        let untried =
            self.peers.quickest(cursor, now, last, busy, |peer, state| usable(state) && !tried.contains(&peer));
        // Every holder tried: a new round at once (attempts bound it). Left for "later", it waited for whatever
        // input came next, with no deadline to wake a host (found by the host-contract probe, explore seed 668).
        let peer = untried.or_else(|| {
            let again = self.peers.quickest(cursor, now, last, busy, |_, state| usable(state));
            if let Some(batch) = self.blocks.batches.get_mut(&first).filter(|_| again.is_some()) {
                batch.tried.clear();
            }
            again
        });
        // Only busy (throttled) holders: the next throttle's end wakes the engine (`PeerThrottled`).
        let Some(peer) = peer else { return };
        let request = Request::BlocksFrom { target_hash: target, first, include_body: self.config.include_body };
        *load.entry(peer).or_default() += 1;
        let id = self.send(peer, Purpose::Batch { target, first }, request);
        if let Some(batch) = self.blocks.batches.get_mut(&first) {
            batch.request = Some(id);
            batch.tried.insert(peer);
            batch.attempts += 1;
        }
    }

    /// The batch's current request `request_id` failed: it may ask the next peer.
    pub(crate) fn batch_attempt_failed(&mut self, first: u32, request_id: RequestId) {
        if let Some(batch) = self.blocks.batches.get_mut(&first).filter(|batch| batch.request == Some(request_id)) {
            batch.request = None;
        }
    }

    /// A batch answer: verified on its own, then handed down where its parent is there, buffered otherwise.
    pub(crate) fn on_batch_response(&mut self, peer: PeerId, request_id: RequestId, first: u32, response: Response) {
        let Some(batch) = self.blocks.batches.get(&first).filter(|batch| batch.request == Some(request_id)) else {
            return;
        };
        let (target, target_number) = (batch.target, batch.target_number);
        let blocks = match response {
            Response::Blocks(blocks) if !blocks.is_empty() => blocks,
            Response::TargetHashNotFound | Response::TargetNotOnMainChain => {
                // A denial of the target: it counts against its fetch too (an invented head is given up sooner).
                if self.peers.holds_height(peer, target_number) {
                    if let Some(batch) = self.blocks.batches.get_mut(&first) {
                        batch.denials += 1;
                    }
                    if let Some(fetch) = self.blocks.fetches.get_mut(&target) {
                        fetch.denials += 1;
                    }
                    self.peers.note_served(peer, false);
                }
                return self.batch_attempt_failed(first, request_id);
            }
            Response::RateLimited => {
                if let Some(batch) = self.blocks.batches.get_mut(&first) {
                    batch.tried.remove(&peer);
                    batch.attempts = batch.attempts.saturating_sub(1);
                }
                return self.batch_attempt_failed(first, request_id);
            }
            Response::Blocks(_) => return self.batch_attempt_failed(first, request_id),
            _ => {
                self.batch_attempt_failed(first, request_id);
                return self.penalize(peer, Violation::WrongResponseType);
            }
        };
        if let Err(violation) = self.verify_batch(&blocks, first, target, target_number) {
            self.batch_attempt_failed(first, request_id);
            return self.penalize(peer, violation);
        }
        self.peers.note_served(peer, true);
        self.blocks.batches.remove(&first);
        self.blocks.catch_up_progress = Some(self.now);
        for block in blocks {
            self.take_batch_block(block, peer);
        }
        self.release_buffered_blocks();
    }

    /// One block of a verified batch: down the pipeline if its parent is there, else into the buffer.
    fn take_batch_block(&mut self, block: Block, peer: PeerId) {
        let hash = block.hash();
        if self.holds_block(&hash) {
            return;
        }
        self.hand_down_or_buffer(block, peer);
    }

    /// A batch answer's checks: it starts at `first`, right after a macro block; it is a chain of intrinsically
    /// valid blocks, none above the target; it ends at the next macro block, or at the target.
    fn verify_batch(&self, blocks: &[Block], first: u32, target: Hash, target_number: u32) -> Result<(), Violation> {
        if blocks[0].number() != first {
            return Err(Violation::MissingBlocksInvalid);
        }
        self.verify_block_run(blocks, target, target_number)
    }
}
