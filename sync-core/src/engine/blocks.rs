//! The block flow (§4.3) as the engine runs it: the announcement ladder, the buffer, release, eager pruning,
//! rejection; missing-block fetches are `fetches`. The queue's own state is `crate::block_queue`.

use super::SyncEngine;
use crate::block::Block;
use crate::block_queue::{BufferedBlock, MissingFetch, VOUCHERS_MAX};
use crate::diff_queue::PushKind;
use crate::hash::Hash;
use crate::interface::{Event, PeerId, Violation};

impl SyncEngine {
    /// The announcement ladder (§4.3), first match wins.
    pub(crate) fn on_announce(&mut self, peer: PeerId, block: Block) {
        // 1. Only peers in the set are heard.
        if !self.peers.contains(peer) {
            return;
        }
        // 2. Validated before buffering (H24).
        let checked = || block.check_intrinsic(self.seals.as_ref(), self.config.bpb, self.config.include_body);
        let held = self.held_as_checked(&block);
        debug_assert!(!held || checked().is_ok(), "a held block passes its intrinsic check again");
        if let Err(reason) = if held { Ok(()) } else { checked() } {
            self.penalize(peer, Violation::InvalidBlock(reason));
            return;
        }
        self.peers.note_head(peer, block.number(), block.hash());
        let hash = block.hash();
        // 3. Known, pending or buffered: nothing (a pending or buffered block gains a voucher); rejected: drop.
        if self.blocks.is_pending(&hash) {
            return self.diffs.vouch(&hash, peer);
        }
        if self.chain.knows(&hash) || self.blocks.rejected_set.contains(&hash) {
            return;
        }
        if let Some(buffered) = self.blocks.buffered_mut(block.number(), &hash) {
            if !buffered.vouchers.contains(&peer) && buffered.vouchers.len() < VOUCHERS_MAX {
                buffered.vouchers.push(peer);
            }
            return;
        }
        let head_number = self.chain.head_number();
        // 4. Far behind: the sender is Behind, unless it announced a head within reach before (then this is old
        // news the network delayed: found by the accounting oracle, seed 3010733, an honest peer called Behind
        // for a reordered announcement, S10).
        let floor = head_number.saturating_sub(self.config.tolerate_past_max);
        if block.number() < floor {
            if self.peers.holds_height(peer, floor) {
                return;
            }
            self.remove_peer(peer);
            self.emit(Event::PeerBehind { peer });
            return;
        }
        // 5. At or below the latest macro block: it can never be adopted. (Checked before handing down: a fork
        // block a macro block passed was handed down, and its diff fetched in vain, seed 3014907.)
        if block.number() <= self.chain.latest_macro() {
            return;
        }
        // 6. The parent is known or on its way: downstream (with a full pipeline, buffered below).
        if self.parent_known_or_pending(&block) && self.pipeline_has_room() {
            self.hand_down(block, PushKind::Head, vec![peer]);
            return;
        }
        // 7. Far ahead with an unknown parent: we are behind.
        if block.number() > head_number.saturating_add(self.config.window_ahead_max) {
            return self.announced_far_ahead(peer, block);
        }
        // 8. Buffer it, within the per-peer-per-height and total bounds, and fetch its ancestors.
        let at_height = self.blocks.buffer().get(&block.number());
        let from_peer = at_height.map_or(0, |at| at.values().filter(|b| b.announcer == Some(peer)).count());
        if from_peer >= self.config.announced_per_peer_per_height as usize {
            return;
        }
        if !self.make_room_for(block.number(), hash, false) {
            return;
        }
        let number = block.number();
        let buffered =
            BufferedBlock { block, requested: false, announcer: Some(peer), vouchers: vec![peer], held: None };
        self.blocks.insert(buffered, self.config.block_buffer_max);
        self.request_ancestors_of(number, hash);
    }

    /// Step 7 of the ladder. Ref: the sender is Ahead and goes. Ours (with `ahead_catch_up`): fetch the blocks
    /// between our head and it, batch by batch, from that peer first; while a catch-up runs, the highest such
    /// announcement waits for it to end.
    fn announced_far_ahead(&mut self, peer: PeerId, block: Block) {
        if !self.config.ahead_catch_up {
            self.remove_peer(peer);
            self.emit(Event::PeerAhead { peer });
        } else if self.blocks.catching_up() {
            // The one announcement held back is the one more peers' heads reach, then the highest: kept by height
            // alone, a flooder's invented heads, always the highest, displaced every honest head, and each catch-up
            // chased a block nobody held (explore seed 20036018: the node stayed 477 blocks behind).
            let rank = |number: u32| (self.holders(number), number);
            let better =
                self.blocks.deferred_ahead.as_ref().is_none_or(|(held, _)| rank(held.number()) < rank(block.number()));
            if better {
                self.blocks.deferred_ahead = Some((block, peer));
            }
        } else {
            // A buffered block's missing parent takes a free place in the table first: it lies within the window,
            // and its block is here. Taken by whoever came first, the one place of a table of one went to a
            // flooder's announcements beyond the window, one after another as each was given up, and the honest
            // tip's parent never became a target (explore seed 610023748: two blocks short of the tip).
            self.fetch_below_lowest_buffered();
            if self.blocks.ordinary_targets() < self.config.block_buffer_max as usize
                && !self.blocks.fetches.contains_key(&block.hash())
            {
                // (A fetch of the same target already runs: replacing it would lose its request, and fetch twice.)
                self.blocks.fetches.insert(block.hash(), MissingFetch::new(block.number(), Some(peer), true, false));
            }
        }
    }

    /// A fetched block from `peer` (a missing-blocks answer or a batch): down the pipeline when its parent is
    /// known or pending and the pipeline has room, else into the buffer, vouched for by `peer`. With a full
    /// pipeline the block waits in the buffer: dropped, it would be fetched again (found by the accounting
    /// oracle, seed 2004561: announcements filled the pipeline while a batch was in flight).
    pub(super) fn hand_down_or_buffer(&mut self, block: Block, peer: PeerId) {
        let hash = block.hash();
        if self.parent_known_or_pending(&block) && self.pipeline_has_room() {
            self.hand_down(block, PushKind::Missing, vec![peer]);
        } else if self.make_room_for(block.number(), hash, true) {
            let buffered = BufferedBlock { block, requested: true, announcer: None, vouchers: vec![peer], held: None };
            self.blocks.insert(buffered, self.config.block_buffer_max);
        }
    }

    /// A block the node holds already with this very header and body (in the chain, pending or buffered), which
    /// came in through `check_intrinsic` (every block but the trusted checkpoint did): it would pass again, the
    /// check depending on the header, the body and the configuration alone. Every block is announced by each
    /// peer that has it, and the check hashes the body (1.6 % of explore's time). The whole header is compared:
    /// the hash leaves the seal out, so a forged seal on a held block's hash must still be checked (found by the
    /// input fuzzer, whose debug assertion runs the skipped check).
    fn held_as_checked(&self, block: &Block) -> bool {
        let hash = block.hash();
        let pending = || self.diffs.entries.iter().map(|entry| &entry.block).find(|pending| pending.hash() == hash);
        let buffered = || self.blocks.buffer().get(&block.number())?.get(&hash).map(|buffered| &buffered.block);
        let held = self.chain.checked_block(&hash).or_else(pending).or_else(buffered);
        held.is_some_and(|held| held.header() == block.header() && held.body() == block.body())
    }

    pub(super) fn parent_known_or_pending(&self, block: &Block) -> bool {
        self.chain.knows(&block.parent_hash()) || self.blocks.is_pending(&block.parent_hash())
    }

    pub(super) fn pipeline_has_room(&self) -> bool {
        self.diffs.len() < self.config.pending_blocks_max as usize
    }

    /// Marks a block pending and gives it to the DiffQueue; the caller checked `pipeline_has_room`.
    pub(super) fn hand_down(&mut self, block: Block, kind: PushKind, vouchers: Vec<PeerId>) {
        self.blocks.mark_pending(block.hash());
        self.diffs.enqueue(block, kind, vouchers, self.config.pending_blocks_max);
    }

    /// Frees a buffer slot for block `hash` at `number` if the buffer is full: announced blocks go before
    /// requested ones, those fewer peers vouch for first (peers that announced or sent it, or announced it as
    /// their head), then those farthest ahead. `false` if the newcomer itself is the one to drop. (Height alone
    /// let a flood of invented blocks at the tip's height keep out the honest tip five peers announced, seed
    /// 5002936.)
    pub(super) fn make_room_for(&mut self, number: u32, hash: Hash, requested: bool) -> bool {
        use std::cmp::Reverse;
        if self.blocks.buffered < self.config.block_buffer_max as usize {
            return true;
        }
        // Peers per announced head, counted once: not a pass over the peers for each buffered block.
        let announced = self.peers.heads_announced();
        let heads = |hash: &Hash| announced.get(hash).copied().unwrap_or(0);
        let newcomer = (requested, heads(&hash).max(1), Reverse(number));
        let victim = self
            .blocks
            .buffer()
            .iter()
            .flat_map(|(&n, at)| at.values().map(move |b| (b, n)))
            .map(|(b, n)| ((b.requested, b.vouchers.len().max(heads(&b.block.hash())), Reverse(n)), b.block.hash()))
            .min();
        match victim {
            Some((rank, hash)) if rank < newcomer => {
                self.blocks.take(rank.2 .0, &hash);
                true
            }
            _ => false,
        }
    }

    /// Follows parent links inside the buffer to the oldest buffered ancestor of the block, and requests that
    /// ancestor's parent unless it is pending or already requested.
    pub(super) fn request_ancestors_of(&mut self, mut number: u32, mut hash: Hash) {
        loop {
            let Some(buffered) = self.blocks.buffer().get(&number).and_then(|at| at.get(&hash)) else { return };
            if self.blocks.fetches.contains_key(&hash) {
                return; // The block itself is a target: its fetch brings its ancestors.
            }
            let (parent, source) = (buffered.block.parent_hash(), buffered.vouchers.first().copied());
            let parent_buffered =
                number > 0 && self.blocks.buffer().get(&(number - 1)).is_some_and(|at| at.contains_key(&parent));
            if !parent_buffered {
                if self.chain.knows(&parent)
                    || self.blocks.is_pending(&parent)
                    || self.blocks.fetches.contains_key(&parent)
                {
                    return;
                }
                if self.blocks.ordinary_targets() >= self.config.block_buffer_max as usize {
                    return;
                }
                self.blocks.fetches.insert(parent, MissingFetch::new(number.saturating_sub(1), source, false, false));
                return;
            }
            number -= 1;
            hash = parent;
        }
    }

    /// Release (§4.3): buffered blocks whose parent is now known or pending go downstream, in height order.
    pub(crate) fn release_buffered_blocks(&mut self) {
        // A full pipeline takes nothing: the scan below would stop at the first ready block (a flood world calls
        // this with 64 buffered blocks and a full pipeline twice a drive pass).
        if self.diffs.len() >= self.config.pending_blocks_max as usize || self.buffer_links().ready == 0 {
            return;
        }
        let heights: Vec<u32> = self.blocks.buffer().keys().copied().collect();
        for number in heights {
            let ready: Vec<Hash> = match self.blocks.buffer().get(&number) {
                Some(at) => {
                    at.values().filter(|b| self.parent_known_or_pending(&b.block)).map(|b| b.block.hash()).collect()
                }
                None => continue,
            };
            for hash in ready {
                if self.diffs.len() >= self.config.pending_blocks_max as usize {
                    return;
                }
                if let Some(buffered) = self.blocks.take(number, &hash) {
                    if self.chain.knows(&hash) {
                        continue;
                    }
                    self.hand_down(buffered.block, PushKind::Buffered, buffered.vouchers);
                }
            }
        }
    }

    /// Eager pruning on every head change (Ours, H13): blocks at or below the latest macro height, and blocks the
    /// chain already holds.
    pub(crate) fn prune_block_buffer(&mut self) {
        let latest_macro = self.chain.latest_macro();
        let below: Vec<u32> = self.blocks.buffer().range(..=latest_macro).map(|(&n, _)| n).collect();
        for number in below {
            let hashes: Vec<Hash> = self.blocks.buffer()[&number].keys().copied().collect();
            for hash in hashes {
                self.blocks.take(number, &hash);
            }
        }
        let known: Vec<(u32, Hash)> = self
            .blocks
            .buffer()
            .iter()
            .flat_map(|(&n, at)| at.keys().map(move |h| (n, *h)))
            .filter(|(_, hash)| self.chain.knows(hash))
            .collect();
        for (number, hash) in known {
            self.blocks.take(number, &hash);
        }
        let chain = &self.chain;
        let mut moot = Vec::new();
        self.blocks.fetches.retain(|target, fetch| {
            let keep = fetch.target_number > latest_macro && !chain.knows(target);
            moot.extend(fetch.request.filter(|_| !keep));
            keep
        });
        // A fetch that is no longer needed takes its request with it: its answer is dropped unread.
        for request in moot {
            self.requests.remove(request);
        }
    }

    /// A pushed block was invalid: it and its buffered descendants go, and its hash is remembered.
    pub(crate) fn reject_block(&mut self, hash: Hash) {
        self.blocks.reject(hash, self.config.rejected_hashes_max);
        self.blocks.remove_descendants(hash);
    }

    /// Some peer vouched for the block: it is pending, buffered or a fetch target, or a peer announced it as its
    /// head. The chain's own blocks never get here (chunk rule 8 took them).
    pub(crate) fn vouched(&self, hash: &Hash) -> bool {
        self.blocks.holds(hash) || self.peers.announced_head(hash)
    }

    /// Remaining buffered blocks, for `AcceptedBufferedBlock`.
    pub(crate) fn blocks_remaining(&self) -> u32 {
        self.blocks.buffered as u32
    }
}
