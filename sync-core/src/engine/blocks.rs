//! The block flow (§4.3) as the engine runs it: the announcement ladder, missing-block requests and their
//! verification, release, eager pruning, rejection. The queue's own state is `crate::block_queue`.

use super::SyncEngine;
use crate::block::Block;
use crate::block_queue::{BufferedBlock, MissingFetch, DENIALS_MAX, VOUCHERS_MAX};
use crate::diff_queue::PushKind;
use crate::hash::Hash;
use crate::interface::{Event, PeerId, Violation};
use crate::peers::Kind;
use crate::requests::Purpose;
use crate::wire::{Request, RequestId, Response, LOCATORS_MAX};
use std::collections::{BTreeMap, BTreeSet};

impl SyncEngine {
    /// The announcement ladder (§4.3), first match wins.
    pub(crate) fn on_announce(&mut self, peer: PeerId, block: Block) {
        // 1. Only peers in the set are heard.
        if !self.peers.contains(peer) {
            return;
        }
        // 2. Validated before buffering (H24).
        if let Err(reason) = block.check_intrinsic(self.seals.as_ref(), self.config.bpb, self.config.include_body) {
            self.penalize(peer, Violation::InvalidBlock(reason));
            return;
        }
        self.peers.note_head(peer, block.number(), block.hash());
        let hash = block.hash();
        // 3. Known, pending or buffered: nothing (a pending or buffered block gains a voucher); rejected: drop.
        if self.blocks.pending.contains(&hash) {
            return self.diffs.vouch(&hash, peer);
        }
        if self.chain.knows(&hash) || self.blocks.rejected_set.contains(&hash) {
            return;
        }
        if let Some(buffered) = self.blocks.buffer.get_mut(&block.number()).and_then(|at| at.get_mut(&hash)) {
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
        let at_height = self.blocks.buffer.get(&block.number());
        let from_peer = at_height.map_or(0, |at| at.values().filter(|b| b.announcer == Some(peer)).count());
        if from_peer >= self.config.announced_per_peer_per_height as usize {
            return;
        }
        if !self.make_room_for(block.number(), hash, false) {
            return;
        }
        let number = block.number();
        let buffered = BufferedBlock { block, requested: false, announcer: Some(peer), vouchers: vec![peer] };
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
            let higher = self.blocks.deferred_ahead.as_ref().is_none_or(|(held, _)| held.number() < block.number());
            if higher {
                self.blocks.deferred_ahead = Some((block, peer));
            }
        } else if self.blocks.ordinary_targets() < self.config.block_buffer_max as usize
            && !self.blocks.fetches.contains_key(&block.hash())
        {
            // (A fetch of the same target already runs: replacing it would lose its request, and fetch twice.)
            let fetch = MissingFetch {
                target_number: block.number(),
                request: None,
                tried: BTreeSet::new(),
                attempts: 0,
                denials: 0,
                span: None,
                catch_up: true,
                head: false,
            };
            self.blocks.fetches.insert(block.hash(), fetch);
        }
    }

    fn parent_known_or_pending(&self, block: &Block) -> bool {
        self.chain.knows(&block.parent_hash()) || self.blocks.pending.contains(&block.parent_hash())
    }

    fn pipeline_has_room(&self) -> bool {
        self.diffs.len() < self.config.pending_blocks_max as usize
    }

    /// Marks a block pending and gives it to the DiffQueue; the caller checked `pipeline_has_room`.
    fn hand_down(&mut self, block: Block, kind: PushKind, vouchers: Vec<PeerId>) {
        self.blocks.pending.insert(block.hash());
        self.diffs.enqueue(block, kind, vouchers, self.config.pending_blocks_max);
    }

    /// Frees a buffer slot for block `hash` at `number` if the buffer is full: announced blocks go before
    /// requested ones, those fewer peers vouch for first (peers that announced or sent it, or announced it as
    /// their head), then those farthest ahead. `false` if the newcomer itself is the one to drop. (Height alone
    /// let a flood of invented blocks at the tip's height keep out the honest tip five peers announced, seed
    /// 5002936.)
    fn make_room_for(&mut self, number: u32, hash: Hash, requested: bool) -> bool {
        use std::cmp::Reverse;
        if self.blocks.buffered < self.config.block_buffer_max as usize {
            return true;
        }
        let heads = |hash: &Hash| self.peers.ordered().filter(|&p| self.peers.announced(p, hash)).count();
        let newcomer = (requested, heads(&hash).max(1), Reverse(number));
        let victim = self
            .blocks
            .buffer
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
    fn request_ancestors_of(&mut self, mut number: u32, mut hash: Hash) {
        loop {
            let Some(buffered) = self.blocks.buffer.get(&number).and_then(|at| at.get(&hash)) else { return };
            if self.blocks.fetches.contains_key(&hash) {
                return; // The block itself is a target: its fetch brings its ancestors.
            }
            let parent = buffered.block.parent_hash();
            let parent_buffered =
                number > 0 && self.blocks.buffer.get(&(number - 1)).is_some_and(|at| at.contains_key(&parent));
            if !parent_buffered {
                if self.chain.knows(&parent)
                    || self.blocks.pending.contains(&parent)
                    || self.blocks.fetches.contains_key(&parent)
                {
                    return;
                }
                if self.blocks.ordinary_targets() >= self.config.block_buffer_max as usize {
                    return;
                }
                let fetch = MissingFetch {
                    target_number: number.saturating_sub(1),
                    request: None,
                    tried: BTreeSet::new(),
                    attempts: 0,
                    denials: 0,
                    span: None,
                    catch_up: false,
                    head: false,
                };
                self.blocks.fetches.insert(parent, fetch);
                return;
            }
            number -= 1;
            hash = parent;
        }
    }

    /// Sends missing-block requests for targets that have none, at most `missing_block_requests_in_flight`.
    /// First, once a catch-up has ended, the announcement held back during it is heard again.
    pub(crate) fn issue_missing_block_requests(&mut self) {
        if !self.blocks.catching_up() {
            // Heard again only if still ahead: old news is no sign that its sender is behind (found by the
            // accounting oracle, seed 2008073: a deferred head, passed during the catch-up, called its sender
            // Behind).
            let head_number = self.chain.head_number();
            if let Some((block, peer)) =
                self.blocks.deferred_ahead.take().filter(|(block, _)| block.number() > head_number)
            {
                self.on_announce(peer, block);
            }
        }
        self.fetch_towards_announced_heads();
        self.drop_moot_fetches();
        // Targets more peers vouch for, then more peers can serve, go first: a flood of invented blocks, which
        // only its liar announces, waits behind the honest chain's (found by the simulator, seeds 2001130 and
        // 3003196).
        use std::cmp::Reverse;
        let mut targets: Vec<(Reverse<usize>, Reverse<usize>, u32, Hash)> = self
            .blocks
            .fetches
            .iter()
            .filter(|(_, fetch)| fetch.request.is_none())
            .map(|(hash, fetch)| {
                let number = fetch.target_number;
                (Reverse(self.vouchers(number, hash)), Reverse(self.holders(number)), number, *hash)
            })
            .collect();
        if targets.is_empty() {
            return;
        }
        targets.sort();
        let mut load = self.requests.load();
        let frontier = self.frontier_path();
        for (_, _, _, target) in targets {
            if self.blocks.in_flight() >= self.config.missing_block_requests_in_flight as usize || self.peers.is_empty()
            {
                return;
            }
            self.issue_missing_blocks(target, &frontier, &mut load);
        }
    }

    /// A fetch whose target is in the chain or pending (another fetch's answer brought it, with its ancestors),
    /// or buffered with every ancestor buffered down to one there (it waits only for room in the pipeline),
    /// goes, with its request: asking for blocks the node holds fetches them twice (found by the accounting
    /// oracle, explore seeds 5 and 703). A target buffered without its ancestors keeps its fetch: its answer
    /// brings them.
    fn drop_moot_fetches(&mut self) {
        let moot: Vec<Hash> = self
            .blocks
            .fetches
            .iter()
            .filter(|(target, fetch)| self.linked(fetch.target_number, **target))
            .map(|(target, _)| *target)
            .collect();
        for target in moot {
            if let Some(request) = self.blocks.fetches.remove(&target).and_then(|fetch| fetch.request) {
                self.requests.remove(request);
            }
        }
    }

    /// Block `hash` at `number` is in the chain or pending, or buffered with every ancestor buffered down to one
    /// that is.
    fn linked(&self, mut number: u32, mut hash: Hash) -> bool {
        loop {
            if self.chain.knows(&hash) || self.blocks.pending.contains(&hash) {
                return true;
            }
            match self.blocks.buffer.get(&number).and_then(|at| at.get(&hash)) {
                Some(buffered) if number > 0 => (number, hash) = (number - 1, buffered.block.parent_hash()),
                _ => return false,
            }
        }
    }

    /// One missing-blocks request for `target`, if the pipeline has room and nothing in flight asks the same.
    fn issue_missing_blocks(&mut self, target: Hash, frontier: &[(u32, Hash)], load: &mut BTreeMap<PeerId, usize>) {
        let Some(fetch) = self.blocks.fetches.get(&target) else { return };
        // A batch goes out only when the pipeline has room for a whole batch: blocks it cannot take would be
        // dropped, and fetched again (found by the accounting oracle, explore seed 142).
        if self.diffs.len() + self.config.bpb as usize > self.config.pending_blocks_max as usize {
            return;
        }
        let holders = self.holders(fetch.target_number);
        let denied =
            fetch.denials >= DENIALS_MAX && fetch.denials as usize > self.vouchers(fetch.target_number, &target);
        if holders == 0 || fetch.attempts >= self.config.attempts(holders) || denied {
            // Exhausted, or nobody claims to hold it: the chain of buffered descendants of the target goes (§4.3).
            self.blocks.fetches.remove(&target);
            self.blocks.remove_descendants(target);
            return;
        }
        let (locators, first) = self.locators_for(frontier, fetch.target_number);
        // One request per stretch of heights: two targets on one chain would fetch the same blocks (found by the
        // simulator, seed 1004526). The other waits; once the blocks land, the frontier moves past them.
        let span = (first, fetch.target_number);
        let overlaps = |other: &MissingFetch| {
            other.request.is_some() && other.span.is_some_and(|(low, high)| low < span.1 && span.0 < high)
        };
        if self.blocks.fetches.values().any(overlaps) {
            return;
        }
        let Some(peer) = self.missing_blocks_peer(target, load) else {
            // Every peer that could serve it cools down after a timeout: it goes, rather than hold its place (the
            // reserved head fetch waited for ever on a silent flooder's head, seed 2002482). Merely busy peers
            // (rate-limited) are waited for.
            if !self.peers.any_throttled(Kind::Blocks, self.now) {
                self.blocks.fetches.remove(&target);
            }
            return;
        };
        let include_body = self.config.include_body;
        let request = Request::MissingBlocks { target_hash: target, locators: locators.clone(), include_body };
        *load.entry(peer).or_default() += 1;
        let id = self.send(peer, Purpose::MissingBlocks { target, locators }, request);
        if let Some(fetch) = self.blocks.fetches.get_mut(&target) {
            fetch.request = Some(id);
            fetch.span = Some(span);
            fetch.tried.insert(peer);
            fetch.attempts += 1;
        }
    }

    /// Peers that vouch for block `hash` at `number`: those that announced it as their head, and those that
    /// announced or sent its buffered children.
    fn vouchers(&self, number: u32, hash: &Hash) -> usize {
        let heads =
            self.peers.ordered().filter(|&peer| self.peers.get(peer).is_some_and(|s| s.head_hash == Some(*hash)));
        let children = self.blocks.buffer.get(&number.saturating_add(1)).into_iter().flat_map(|at| at.values());
        let children = children.filter(|child| child.block.parent_hash() == *hash);
        heads.count() + children.map(|child| child.vouchers.len()).sum::<usize>()
    }

    /// Peers whose announced head is at `number` or above: the ones that may hold a block there.
    fn holders(&self, number: u32) -> usize {
        self.peers.ordered().filter(|&peer| self.peers.holds_height(peer, number)).count()
    }

    /// The quickest peer that may hold the target and was not tried for it in this round; once every such peer
    /// was tried, another round starts. A peer whose head is below the target cannot serve it.
    fn missing_blocks_peer(&mut self, target: Hash, load: &BTreeMap<PeerId, usize>) -> Option<PeerId> {
        let fetch = self.blocks.fetches.get_mut(&target)?;
        let busy = |peer: PeerId| load.get(&peer).copied().unwrap_or(0);
        let (cursor, now, needed) = (&mut self.blocks.cursor, self.now, fetch.target_number);
        let holds = |state: &crate::peers::PeerState| {
            state.head_number.is_some_and(|head| head >= needed) && !state.throttled(Kind::Blocks, now)
        };
        let untried =
            self.peers.quickest(cursor, now, needed, busy, |peer, state| holds(state) && !fetch.tried.contains(&peer));
        untried.or_else(|| {
            fetch.tried.clear();
            self.peers.quickest(cursor, now, needed, busy, |_, state| holds(state))
        })
    }

    /// The blocks on their way, newest first: every pending block, and every buffered block linked to the
    /// chain through pending or buffered ancestors, on every branch (one branch only missed the main chain's
    /// blocks behind a fork's higher one, and asked for them again: seed 1191). Blocks buffered above a gap are
    /// no locators: an answer from them would wait in the buffer, or be dropped and asked again; they link once
    /// the gap closes, and the frontier moves past them.
    fn frontier_path(&self) -> Vec<(u32, Hash)> {
        let pending = self.diffs.entries.iter().map(|entry| (entry.block.number(), entry.block.hash()));
        let buffered = self.blocks.buffer.iter().flat_map(|(&number, at)| at.keys().map(move |hash| (number, *hash)));
        let linked = buffered.filter(|&(number, hash)| self.linked(number, hash));
        let mut path: Vec<(u32, Hash)> = pending.chain(linked).collect();
        path.sort_by_key(|&(number, hash)| (std::cmp::Reverse(number), hash));
        path
    }

    /// The locators of a missing-blocks request (§3.4), newest first: the blocks on their way below
    /// `target_number` (`frontier_path`), eight in a row and then twice as far apart each time; then the
    /// chain's own. A responder answers from the first it holds on its main chain, so nothing on its way is asked
    /// for again, and a fork among them costs only a step back. An answer that stopped at a macro block short of
    /// its target left that block on the way: the next request starts after it. Returns them with the height of
    /// the first.
    fn locators_for(&self, frontier: &[(u32, Hash)], target_number: u32) -> (Vec<Hash>, u32) {
        let path: Vec<(u32, Hash)> = frontier.iter().filter(|(number, _)| *number < target_number).copied().collect();
        let first = path.first().map_or(self.chain.head_number(), |(number, _)| *number);
        let mut locators: Vec<Hash> = Vec::with_capacity(LOCATORS_MAX);
        let (mut index, mut step) = (0, 1);
        while let Some((_, hash)) = path.get(index) {
            locators.push(*hash);
            index += step;
            if locators.len() >= 8 {
                step *= 2;
            }
        }
        locators.extend(self.chain.locators());
        locators.truncate(LOCATORS_MAX.min(self.config.bpb as usize + 2 + 16));
        (locators, first)
    }

    /// L2 (every canonical block an honest peer announces is eventually applied), whatever was dropped on the way
    /// (a full pipeline or buffer, a lost fetch). A buffered block whose ancestors are not being fetched (the
    /// fetch table was full when it came) gets its fetch now (found by the simulator: with tiny buffers the node
    /// stopped short of the tip when production stopped, seed 98).
    ///
    /// And one fetch, reserved outside the `block_buffer_max` targets, goes after the announced head of each peer
    /// in turn whose head is above ours and nowhere in the queue. Found by the simulator (explore seed 722): a
    /// `future_flood` liar kept the whole target table full of heads that never come, the honest peers' last
    /// blocks were dropped from a buffer of three, and the node stayed six blocks short of the tip for good.
    fn fetch_towards_announced_heads(&mut self) {
        let lowest = self.blocks.buffer.iter().next().and_then(|(&number, at)| at.keys().next().map(|h| (number, *h)));
        if let Some((number, hash)) = lowest {
            self.request_ancestors_of(number, hash);
        }
        if self.blocks.fetches.values().any(|fetch| fetch.head) {
            return;
        }
        let our_head = self.chain.head_number();
        let blocks = &self.blocks;
        let chain = &self.chain;
        let anywhere = |hash: &Hash| chain.knows(hash) || blocks.rejected_set.contains(hash) || blocks.holds(hash);
        let wanted = |_: PeerId, state: &crate::peers::PeerState| match (state.head_number, state.head_hash) {
            (Some(number), Some(hash)) => number > our_head && !anywhere(&hash),
            _ => false,
        };
        let mut cursor = self.blocks.head_cursor;
        let Some(peer) = self.peers.next(&mut cursor, wanted) else { return };
        self.blocks.head_cursor = cursor;
        let Some((number, hash)) = self.peers.get(peer).and_then(|state| state.head_number.zip(state.head_hash)) else {
            return;
        };
        let fetch = MissingFetch {
            target_number: number,
            request: None,
            tried: BTreeSet::new(),
            attempts: 0,
            denials: 0,
            span: None,
            catch_up: number > our_head.saturating_add(self.config.window_ahead_max),
            head: true,
        };
        self.blocks.fetches.insert(hash, fetch);
    }

    /// The fetch's current request `request_id` failed: the fetch may ask the next peer. A failure of an older
    /// request for the same target changes nothing: the current one is still in flight, and asking again would
    /// fetch the same blocks twice.
    pub(crate) fn missing_attempt_failed(&mut self, target: Hash, request_id: RequestId) {
        if let Some(fetch) = self.blocks.fetches.get_mut(&target).filter(|fetch| fetch.request == Some(request_id)) {
            fetch.request = None;
        }
    }

    /// A missing-blocks answer (§3.4): verify, then hand down or buffer, and follow up past a macro block. Only
    /// the answer to the fetch's current request counts; an older request's answer is dropped like a late one.
    pub(crate) fn on_missing_blocks_response(
        &mut self,
        peer: PeerId,
        request_id: RequestId,
        target: Hash,
        locators: &[Hash],
        response: Response,
    ) {
        let current = self.blocks.fetches.get(&target).is_some_and(|fetch| fetch.request == Some(request_id));
        if !current {
            return;
        }
        let blocks = match response {
            Response::Blocks(blocks) if !blocks.is_empty() => blocks,
            Response::TargetHashNotFound | Response::TargetNotOnMainChain => {
                let holds =
                    self.blocks.fetches.get(&target).is_some_and(|f| self.peers.holds_height(peer, f.target_number));
                if let Some(fetch) = self.blocks.fetches.get_mut(&target).filter(|_| holds) {
                    fetch.denials += 1;
                    self.peers.note_served(peer, false);
                }
                return self.missing_attempt_failed(target, request_id);
            }
            // Busy, not failed: the peer cools down, the attempt does not count.
            Response::RateLimited => {
                if let Some(fetch) = self.blocks.fetches.get_mut(&target).filter(|f| f.request == Some(request_id)) {
                    fetch.tried.remove(&peer);
                    fetch.attempts = fetch.attempts.saturating_sub(1);
                }
                return self.missing_attempt_failed(target, request_id);
            }
            Response::Blocks(_) | Response::UnknownLocators => return self.missing_attempt_failed(target, request_id),
            _ => {
                self.missing_attempt_failed(target, request_id);
                return self.penalize(peer, Violation::WrongResponseType);
            }
        };
        let Some(fetch) = self.blocks.fetches.get(&target) else { return };
        let target_number = fetch.target_number;
        if let Err(violation) = self.verify_missing_blocks(&blocks, target, target_number, locators) {
            self.missing_attempt_failed(target, request_id);
            return self.penalize(peer, violation);
        }
        self.peers.note_served(peer, true);
        // Nothing new (the responder lacked our first locators and answered from an older one): a failed attempt,
        // not progress. Counted as progress, it reset the fetch and asked the same peer again (seed 2004561).
        if blocks.iter().all(|block| self.holds_block(&block.hash())) {
            return self.missing_attempt_failed(target, request_id);
        }
        let last = &blocks[blocks.len() - 1];
        let reached_target = last.hash() == target;
        if self.blocks.fetches.get(&target).is_some_and(|fetch| fetch.catch_up) {
            self.blocks.catch_up_progress = Some(self.now);
        }
        if self.chain.latest_macro() >= target_number {
            self.blocks.fetches.remove(&target);
            return;
        }
        if reached_target {
            self.blocks.fetches.remove(&target);
        } else if let Some(fetch) = self.blocks.fetches.get_mut(&target) {
            // Stopped at a macro block short of the target: ask again from there.
            *fetch = MissingFetch { request: None, tried: BTreeSet::new(), attempts: 0, denials: 0, ..fetch.clone() };
        }
        let first = (blocks[0].number(), blocks[0].hash());
        for block in blocks {
            let hash = block.hash();
            if let Some(buffered) = self.blocks.take(block.number(), &hash) {
                drop(buffered);
            }
            if self.chain.knows(&hash) || self.blocks.pending.contains(&hash) {
                continue;
            }
            // With a full pipeline the block waits in the buffer: dropped, it would be fetched again (found by
            // the accounting oracle, seed 2004561: announcements filled the pipeline while a batch was in flight).
            if self.parent_known_or_pending(&block) && self.pipeline_has_room() {
                self.hand_down(block, PushKind::Missing, vec![peer]);
            } else if self.make_room_for(block.number(), hash, true) {
                let buffered = BufferedBlock { block, requested: true, announcer: None, vouchers: vec![peer] };
                self.blocks.insert(buffered, self.config.block_buffer_max);
            }
        }
        self.request_ancestors_of(first.0, first.1);
        self.release_buffered_blocks();
    }

    /// The requester's checks of §3.4; any failure is a violation.
    fn verify_missing_blocks(
        &self,
        blocks: &[Block],
        target: Hash,
        target_number: u32,
        locators: &[Hash],
    ) -> Result<(), Violation> {
        let invalid = Err(Violation::MissingBlocksInvalid);
        if blocks.len() > self.config.bpb as usize || !locators.contains(&blocks[0].parent_hash()) {
            return invalid;
        }
        for (index, block) in blocks.iter().enumerate() {
            if (block.body().is_some()) != self.config.include_body || block.number() > target_number {
                return invalid;
            }
            if index > 0 {
                let previous = &blocks[index - 1];
                if block.parent_hash() != previous.hash() || block.number() != previous.number() + 1 {
                    return invalid;
                }
            }
            if let Err(reason) = block.check_intrinsic(self.seals.as_ref(), self.config.bpb, self.config.include_body) {
                return Err(Violation::InvalidBlock(reason));
            }
        }
        let last = &blocks[blocks.len() - 1];
        if last.hash() != target && !last.header().is_macro {
            return invalid;
        }
        Ok(())
    }

    /// Release (§4.3): buffered blocks whose parent is now known or pending go downstream, in height order.
    pub(crate) fn release_buffered_blocks(&mut self) {
        let heights: Vec<u32> = self.blocks.buffer.keys().copied().collect();
        for number in heights {
            let ready: Vec<Hash> = match self.blocks.buffer.get(&number) {
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
        let below: Vec<u32> = self.blocks.buffer.range(..=latest_macro).map(|(&n, _)| n).collect();
        for number in below {
            let hashes: Vec<Hash> = self.blocks.buffer[&number].keys().copied().collect();
            for hash in hashes {
                self.blocks.take(number, &hash);
            }
        }
        let known: Vec<(u32, Hash)> = self
            .blocks
            .buffer
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
