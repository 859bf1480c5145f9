//! Missing-block fetches (§4.3) as the engine runs them: targets ordered by who vouches for them, one request
//! per stretch of heights, locators from the blocks on their way, the quickest peer that may hold the target,
//! answers verified and handed down or buffered. The queue's own state is `crate::block_queue`.

use super::SyncEngine;
use crate::block::Block;
use crate::block_queue::{BufferLinks, MissingFetch, DENIALS_MAX};
use crate::hash::Hash;
use crate::interface::{PeerId, Violation};
use crate::peers::Kind;
use crate::requests::Purpose;
use crate::wire::{Request, RequestId, Response, LOCATORS_MAX};
use std::collections::{BTreeMap, BTreeSet};

/// What one round of missing-block requests shares between its targets: nothing the round itself changes is
/// recomputed per target (a flood world holds a hundred targets and as many buffered blocks).
struct Round {
    /// The blocks on their way, newest first (`frontier_path_with`).
    frontier: Vec<(u32, Hash)>,
    /// The chain's own locators.
    chain_locators: Vec<Hash>,
    /// Requests in flight per peer.
    load: BTreeMap<PeerId, usize>,
    /// The spans of the missing-blocks requests in flight.
    spans: Vec<(u32, u32)>,
    claims: Claims,
}

/// The peers' claims about their heads, gathered once per round: `SyncEngine::holders` and the announced-head
/// half of `SyncEngine::vouchers`, without a pass over the peers per target.
struct Claims {
    /// Every announced head height, ascending.
    heights: Vec<u32>,
    /// Peers per announced head.
    heads: BTreeMap<Hash, usize>,
}

impl Claims {
    fn of(peers: &crate::peers::PeerSet) -> Claims {
        let mut heights: Vec<u32> = peers.states().filter_map(|(_, state)| state.head_number).collect();
        heights.sort_unstable();
        Claims { heights, heads: peers.heads_announced() }
    }

    /// Peers whose announced head is at `number` or above.
    fn holders(&self, number: u32) -> usize {
        self.heights.len() - self.heights.partition_point(|&height| height < number)
    }

    /// Peers that announced `hash` as their head.
    fn heads(&self, hash: &Hash) -> usize {
        self.heads.get(hash).copied().unwrap_or(0)
    }
}

impl SyncEngine {
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
        let linked = self.buffer_links().linked.clone();
        self.drop_moot_fetches(&linked);
        // A request goes out only when the pipeline has room for a whole batch: blocks it cannot take would be
        // dropped, and fetched again (found by the accounting oracle, explore seed 142). Nothing in the loop below
        // changes the pipeline, so without room no target goes.
        if self.diffs.len() + self.config.bpb as usize > self.config.pending_blocks_max as usize {
            return;
        }
        // Only a request sent changes the count in flight (the targets waiting have none).
        let mut in_flight = self.blocks.in_flight();
        let in_flight_max = self.config.missing_block_requests_in_flight as usize;
        let room = |in_flight: usize| in_flight < in_flight_max;
        if !room(in_flight) || self.peers.is_empty() {
            return;
        }
        // Without a target waiting for a request, `fetch_order` has nothing to rank: the peers' claims are not
        // gathered (most drive passes of a calm world).
        if self.blocks.fetches.values().all(|fetch| fetch.request.is_some()) {
            return;
        }
        let claims = Claims::of(&self.peers);
        let targets = self.fetch_order(&claims);
        if targets.is_empty() {
            return;
        }
        let asked = self.blocks.fetches.values().filter(|fetch| fetch.request.is_some());
        let mut round = Round {
            frontier: self.frontier_path_with(&linked),
            chain_locators: self.chain.locators(),
            load: self.requests.load(),
            spans: asked.filter_map(|fetch| fetch.span).collect(),
            claims,
        };
        for target in targets {
            if !room(in_flight) || self.peers.is_empty() {
                break;
            }
            let head = self.blocks.fetches.get(&target).is_some_and(|fetch| fetch.head);
            if self.issue_missing_blocks(target, &mut round) {
                in_flight += 1;
                self.blocks.head_went_last = head;
            }
        }
    }

    /// The waiting fetches in the order they may go. Sources take turns, from the one after the last served
    /// (seed 3003196: a flooder's targets, one after another, kept the honest peer's head out until production
    /// stopped); within a source, targets more peers vouch for, then more peers can serve, then the lowest (seeds
    /// 2001130 and 3003196). A request sent moves the turn to its source.
    ///
    /// The reserved head fetch goes before them all: L2 rests on it, and it passes to the next peer's head only
    /// once it ends. Ranked among its source's targets, a flooder's stale head (no longer anyone's head, so no
    /// voucher) waited behind the flooder's fresh targets for good, and the honest head never had the reserved
    /// fetch (explore seed 390037152: two blocks short of the tip when production stopped). But not twice in a
    /// row while an ordinary target waits: the requests in flight go to the two in turn. With one request in
    /// flight, a flooder's heads took the reserved fetch one after another (the honest head was buffered, so
    /// only the flooder's was wanted), every request went to them, and the one ordinary target never went; the
    /// honest tip's parent could not become a target, the table being full (explore seed 610023748: two blocks
    /// short of the tip when production stopped).
    fn fetch_order(&self, claims: &Claims) -> Vec<Hash> {
        use std::cmp::Reverse;
        /// Vouchers and holders (most first), then the height, then the target.
        type Rank = (Reverse<usize>, Reverse<usize>, u32, Hash);
        let mut by_source: BTreeMap<Option<PeerId>, Vec<Rank>> = BTreeMap::new();
        for (hash, fetch) in self.blocks.fetches.iter().filter(|(_, fetch)| fetch.request.is_none()) {
            let number = fetch.target_number;
            let vouchers = claims.heads(hash) + self.child_vouchers(number, hash);
            let key = (Reverse(vouchers), Reverse(claims.holders(number)), number, *hash);
            by_source.entry(fetch.source).or_default().push(key);
        }
        for targets in by_source.values_mut() {
            targets.sort();
        }
        // Sources in turn: the peers after the cursor in join order, then fetches of no known source.
        let mut turn = Vec::new();
        let mut cursor = self.blocks.source_cursor;
        while let Some(peer) =
            self.peers.next(&mut cursor, |peer, _| by_source.contains_key(&Some(peer)) && !turn.contains(&Some(peer)))
        {
            turn.push(Some(peer));
        }
        turn.extend(by_source.keys().filter(|source| !turn.contains(source)).copied().collect::<Vec<_>>());
        let deepest = by_source.values().map(Vec::len).max().unwrap_or(0);
        let waiting = |fetch: &MissingFetch| fetch.head && fetch.request.is_none();
        let head = self.blocks.fetches.iter().find(|(_, fetch)| waiting(fetch)).map(|(hash, _)| *hash);
        let in_turn = (0..deepest)
            .flat_map(|round| turn.iter().map(move |source| (round, *source)))
            .filter_map(|(round, source)| by_source.get(&source).and_then(|targets| targets.get(round)).map(|t| t.3));
        let in_turn: Vec<Hash> = in_turn.filter(|target| Some(*target) != head).collect();
        if self.blocks.head_went_last && !in_turn.is_empty() {
            in_turn.into_iter().chain(head).collect()
        } else {
            head.into_iter().chain(in_turn).collect()
        }
    }

    /// A fetch whose target is in the chain or pending (another fetch's answer brought it, with its ancestors),
    /// or buffered with every ancestor buffered down to one there (it waits only for room in the pipeline),
    /// goes, with its request: asking for blocks the node holds fetches them twice (found by the accounting
    /// oracle, explore seeds 5 and 703). A target buffered without its ancestors keeps its fetch: its answer
    /// brings them.
    fn drop_moot_fetches(&mut self, linked: &BTreeSet<(u32, Hash)>) {
        let moot: Vec<Hash> = self
            .blocks
            .fetches
            .iter()
            .filter(|(target, fetch)| self.linked(linked, fetch.target_number, **target))
            .map(|(target, _)| *target)
            .collect();
        for target in moot {
            if let Some(request) = self.blocks.fetches.remove(&target).and_then(|fetch| fetch.request) {
                self.requests.remove(request);
            }
        }
    }

    /// Block `hash` at `number` is in the chain or pending, or buffered with every ancestor buffered down to one
    /// that is (`linked` holds the buffered ones: `BufferLinks::linked`).
    fn linked(&self, linked: &BTreeSet<(u32, Hash)>, number: u32, hash: Hash) -> bool {
        self.chain.knows(&hash) || self.blocks.is_pending(&hash) || linked.contains(&(number, hash))
    }

    /// `BufferLinks` as of now: the one kept if neither the chain nor the buffered and pending blocks changed
    /// since it was found, else a walk that looks up only the blocks buffered since the chain or the pending
    /// blocks last changed. Checked against a walk afresh wherever debug assertions are on (every test).
    pub(super) fn buffer_links(&mut self) -> &BufferLinks {
        let chain_generation = self.chain.blocks_generation();
        let at = (chain_generation, self.blocks.links_generation());
        if self.links.at != Some(at) {
            let chain = &self.chain;
            self.links = self.blocks.links(at, chain_generation, |hash| chain.knows(hash));
        }
        debug_assert!(
            BufferLinks { at: Some(at), ..self.blocks.links_afresh(|hash| self.chain.knows(hash)) } == self.links,
            "the kept buffer links are current"
        );
        &self.links
    }

    /// One missing-blocks request for `target` (the caller checked room in the pipeline), if nothing in flight
    /// asks the same. True if a request went.
    fn issue_missing_blocks(&mut self, target: Hash, round: &mut Round) -> bool {
        let Some(fetch) = self.blocks.fetches.get(&target) else { return false };
        let holders = round.claims.holders(fetch.target_number);
        let vouchers = round.claims.heads(&target) + self.child_vouchers(fetch.target_number, &target);
        let denied = fetch.denials >= DENIALS_MAX && fetch.denials as usize > vouchers;
        if holders == 0 || fetch.attempts >= self.config.attempts(holders) || denied {
            // Exhausted, or nobody claims to hold it: the chain of buffered descendants of the target goes (§4.3).
            self.blocks.fetches.remove(&target);
            self.blocks.remove_descendants(target);
            return false;
        }
        let first = round.frontier.iter().find(|(number, _)| *number < fetch.target_number);
        let first = first.map_or(self.chain.head_number(), |(number, _)| *number);
        // One request per stretch of heights: two targets on one chain would fetch the same blocks (found by the
        // simulator, seed 1004526). The other waits; once the blocks land, the frontier moves past them.
        let span = (first, fetch.target_number);
        // A batch on its way by height (`batches`) overlapping the span: asking for it again would fetch it twice.
        let bpb = self.config.bpb;
        let batch_overlaps = |(&batch_first, batch): (&u32, &crate::block_queue::BatchFetch)| {
            batch.request.is_some() && batch_first <= span.1 && span.0 < batch_first.saturating_add(bpb - 1)
        };
        if self.blocks.batches.iter().any(batch_overlaps) {
            return false;
        }
        if round.spans.iter().any(|&(low, high)| low < span.1 && span.0 < high) {
            return false;
        }
        let Some(peer) = self.missing_blocks_peer(target, &round.load) else {
            // Every peer that could serve it cools down after a timeout: it goes, rather than hold its place (the
            // reserved head fetch waited for ever on a silent flooder's head, seed 2002482). Merely busy peers
            // (rate-limited) are waited for.
            if !self.peers.any_throttled(Kind::Blocks, self.now) {
                self.blocks.fetches.remove(&target);
            }
            return false;
        };
        let locators = self.locators_for(&round.frontier, &round.chain_locators, span.1);
        let include_body = self.config.include_body;
        let request = Request::MissingBlocks { target_hash: target, locators: locators.clone(), include_body };
        *round.load.entry(peer).or_default() += 1;
        round.spans.push(span);
        let id = self.send(peer, Purpose::MissingBlocks { target, locators }, request);
        if let Some(source) = self.blocks.fetches.get(&target).and_then(|fetch| fetch.source) {
            self.peers.next(&mut self.blocks.source_cursor, |candidate, _| candidate == source);
        }
        if let Some(fetch) = self.blocks.fetches.get_mut(&target) {
            fetch.request = Some(id);
            fetch.span = Some(span);
            fetch.tried.insert(peer);
            fetch.attempts += 1;
        }
        true
    }

    /// Peers that vouch for block `hash` at `number`: those that announced it as their head, and those that
    /// announced or sent its buffered children.
    pub(super) fn vouchers(&self, number: u32, hash: &Hash) -> usize {
        let heads =
            self.peers.ordered().filter(|&peer| self.peers.get(peer).is_some_and(|s| s.head_hash == Some(*hash)));
        heads.count() + self.child_vouchers(number, hash)
    }

    /// Peers that announced or sent the buffered children of block `hash` at `number`.
    fn child_vouchers(&self, number: u32, hash: &Hash) -> usize {
        let children = self.blocks.buffer().get(&number.saturating_add(1)).into_iter().flat_map(|at| at.values());
        let children = children.filter(|child| child.block.parent_hash() == *hash);
        children.map(|child| child.vouchers.len()).sum::<usize>()
    }

    /// Peers whose announced head is at `number` or above: the ones that may hold a block there.
    pub(super) fn holders(&self, number: u32) -> usize {
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

    /// The highest height on the frontier path (`frontier_path_with`'s first), given the linked buffered blocks.
    pub(super) fn frontier_top(&self, linked: &BTreeSet<(u32, Hash)>) -> Option<u32> {
        let pending = self.diffs.entries.iter().map(|entry| entry.block.number());
        pending.chain(linked.iter().map(|&(number, _)| number)).max()
    }

    /// The frontier path, the blocks on their way, newest first: every pending block, and every buffered block
    /// linked to the chain through pending or buffered ancestors (`linked`, from `BufferLinks::linked`), on every
    /// branch (one branch only missed the main chain's blocks behind a fork's higher one, and asked for them
    /// again: seed 1191). Blocks buffered above a gap are no locators: an answer from them would wait in the
    /// buffer, or be dropped and asked again; they link once the gap closes, and the frontier moves past them.
    fn frontier_path_with(&self, linked: &BTreeSet<(u32, Hash)>) -> Vec<(u32, Hash)> {
        let pending = self.diffs.entries.iter().map(|entry| (entry.block.number(), entry.block.hash()));
        let mut path: Vec<(u32, Hash)> = pending.chain(linked.iter().copied()).collect();
        path.sort_by_key(|&(number, hash)| (std::cmp::Reverse(number), hash));
        path
    }

    /// The locators of a missing-blocks request (§3.4), newest first: the blocks on their way below
    /// `target_number` (`frontier_path_with`), eight in a row and then twice as far apart each time; then the
    /// chain's own. A responder answers from the first it holds on its main chain, so nothing on its way is asked
    /// for again, and a fork among them costs only a step back. An answer that stopped at a macro block short of
    /// its target left that block on the way: the next request starts after it.
    fn locators_for(&self, frontier: &[(u32, Hash)], chain_locators: &[Hash], target_number: u32) -> Vec<Hash> {
        let path: Vec<(u32, Hash)> = frontier.iter().filter(|(number, _)| *number < target_number).copied().collect();
        let mut locators: Vec<Hash> = Vec::with_capacity(LOCATORS_MAX);
        let (mut index, mut step) = (0, 1);
        while let Some((_, hash)) = path.get(index) {
            locators.push(*hash);
            index += step;
            if locators.len() >= 8 {
                step *= 2;
            }
        }
        locators.extend_from_slice(chain_locators);
        locators.truncate(LOCATORS_MAX.min(self.config.bpb as usize + 2 + 16));
        locators
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
    ///
    /// A head its own peer denied holding on its main chain (`PeerState::head_withdrawn`) is not chased again
    /// until that peer announces another. Found by the ordering fuzzer: a server whose highest announcement was
    /// a block of an abandoned fork denied it, and the head fetch was made again at once, for ever.
    fn fetch_towards_announced_heads(&mut self) {
        self.fetch_below_lowest_buffered();
        if self.blocks.fetches.values().any(|fetch| fetch.head) {
            return self.renew_head_fetch();
        }
        let our_head = self.chain.head_number();
        let blocks = &self.blocks;
        let chain = &self.chain;
        let anywhere = |hash: &Hash| chain.knows(hash) || blocks.rejected_set.contains(hash) || blocks.holds(hash);
        let wanted = |_: PeerId, state: &crate::peers::PeerState| match (state.head_number, state.head_hash) {
            (Some(number), Some(hash)) => number > our_head && !anywhere(&hash) && state.head_withdrawn != Some(hash),
            _ => false,
        };
        let mut cursor = self.blocks.head_cursor;
        let Some(peer) = self.peers.next(&mut cursor, wanted) else { return };
        self.blocks.head_cursor = cursor;
        let Some((number, hash)) = self.peers.get(peer).and_then(|state| state.head_number.zip(state.head_hash)) else {
            return;
        };
        let catch_up = number > our_head.saturating_add(self.config.window_ahead_max);
        self.blocks.fetches.insert(hash, MissingFetch::new(number, Some(peer), catch_up, true));
    }

    /// The lowest buffered block's missing ancestors become a target, if the table has room (`request_ancestors_of`).
    pub(super) fn fetch_below_lowest_buffered(&mut self) {
        let lowest =
            self.blocks.buffer().iter().next().and_then(|(&number, at)| at.keys().next().map(|h| (number, *h)));
        if let Some((number, hash)) = lowest {
            self.request_ancestors_of(number, hash);
        }
    }

    /// The head fetch, while not sent, follows its source's newest head within the window (and only if no peer
    /// denied it yet): sent for the head announced before the previous answer landed, it fetched one round trip's
    /// blocks per round trip, and a node behind by its round trips never closed the gap (explore seed 260002152:
    /// six blocks behind for good). Its attempts and peers tried go with it: a flooder's ever newer heads must not
    /// renew them.
    fn renew_head_fetch(&mut self) {
        let Some((&target, fetch)) = self.blocks.fetches.iter().find(|(_, fetch)| fetch.head) else { return };
        let Some(state) = fetch.source.filter(|_| fetch.request.is_none()).and_then(|source| self.peers.get(source))
        else {
            return;
        };
        let Some((number, hash)) = state.head_number.zip(state.head_hash) else { return };
        let known = self.chain.knows(&hash) || self.blocks.rejected_set.contains(&hash) || self.blocks.holds(&hash);
        if number <= fetch.target_number || known || self.blocks.fetches.contains_key(&hash) {
            return;
        }
        // Within the window only, and never a fetch already denied: renewed beyond it, a `future_flood` liar's
        // ever higher invented head kept the reserved fetch (and the catch-up batches it drives) for good, and
        // the honest peers' heads never had their turn (explore seed 320045387: 1 280 s at #33, the tip #12 801).
        let catch_up = number > self.chain.head_number().saturating_add(self.config.window_ahead_max);
        if catch_up || fetch.catch_up || fetch.denials > 0 {
            return;
        }
        if let Some(old) = self.blocks.fetches.remove(&target) {
            self.blocks.fetches.insert(hash, MissingFetch { target_number: number, span: None, ..old });
        }
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
                self.peers.note_own_head_denied(peer, target);
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
        self.take_fetched_blocks(peer, blocks);
        self.request_ancestors_of(first.0, first.1);
        self.release_buffered_blocks();
    }

    /// Blocks of a verified missing-blocks answer from `peer`: handed down when their parent is known and the
    /// pipeline has room, buffered otherwise; blocks the node holds already are skipped.
    fn take_fetched_blocks(&mut self, peer: PeerId, blocks: Vec<Block>) {
        for block in blocks {
            let hash = block.hash();
            if let Some(buffered) = self.blocks.take(block.number(), &hash) {
                drop(buffered);
            }
            if self.chain.knows(&hash) || self.blocks.is_pending(&hash) {
                continue;
            }
            self.hand_down_or_buffer(block, peer);
        }
    }

    /// The requester's checks of §3.4; any failure is a violation.
    fn verify_missing_blocks(
        &self,
        blocks: &[Block],
        target: Hash,
        target_number: u32,
        locators: &[Hash],
    ) -> Result<(), Violation> {
        if !locators.contains(&blocks[0].parent_hash()) {
            return Err(Violation::MissingBlocksInvalid);
        }
        self.verify_block_run(blocks, target, target_number)
    }

    /// The checks a missing-blocks answer and a batch share: at most `bpb` blocks, bodies as configured, none
    /// above the target, numbers consecutive and parents chained, each intrinsically valid, the last one the
    /// target or a macro block.
    pub(super) fn verify_block_run(&self, blocks: &[Block], target: Hash, target_number: u32) -> Result<(), Violation> {
        let invalid = Err(Violation::MissingBlocksInvalid);
        if blocks.len() > self.config.bpb as usize {
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
}
