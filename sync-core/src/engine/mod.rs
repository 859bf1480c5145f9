//! `SyncEngine`: the live-sync state machine (§4, §6). Inputs go in with `now`; requests, responses and
//! events come out of [`SyncEngine::poll_output`]; [`SyncEngine::poll_timeout`] says when to call back.
//!
//! The components live in their own modules as `impl SyncEngine` blocks over their own state:
//! `block_queue` (announcements, missing blocks), `diff_queue` (diffs, ancestry order), `state_queue` (chunk
//! cursor, requests, buffer), `push` (the executor). They share the peer set, the request table and the chain.

mod batches;
mod blocks;
mod chunk_requests;
mod chunks;
mod diffs;
mod fetches;
mod push;

use crate::block::{Block, SealVerifier};
use crate::block_queue::BlockQueue;
use crate::chain::Chain;
use crate::config::{Config, ConfigError};
use crate::diff_queue::DiffQueue;
use crate::hash::Hash;
use crate::interface::{ChunkWaste, Event, Input, Millis, Output, PeerId, TimeoutReason, Violation};
use crate::key::Key;
use crate::peers::{Kind, PeerSet};
use crate::requests::{Outstanding, Purpose, Requests};
use crate::responder::{respond, RateLimiter};
use crate::state_queue::{Cursor, StateQueue};
use crate::trie::{Lanes, Trie};
use crate::wire::{Message, RequestId, Response};
use std::collections::VecDeque;
use std::sync::Arc;

/// Outputs one input may leave behind before they must be drained: a bound that catches runaway loops.
const OUTPUTS_MAX: usize = 1 << 16;

/// Counters for the simulator's efficiency figures. Never read by the engine itself.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct EngineStats {
    pub chunk_responses: u64,
    pub chunks_committed: u64,
    pub chunk_items_committed: u64,
    /// Chunks received and then dropped, discarded, or ignored at commit (§4.5, H12).
    pub chunks_wasted: u64,
    pub diffs_received: u64,
    pub resets: u64,
    pub requests_sent: u64,
    pub responses_served: u64,
    /// Messages that came as bytes and decoded, their bytes, and byte strings that did not decode.
    pub messages_decoded: u64,
    pub bytes_decoded: u64,
    pub messages_undecodable: u64,
}

/// One syncing (or serving) node's engine.
#[derive(Clone)]
pub struct SyncEngine {
    pub(crate) config: Config,
    pub(crate) seals: Arc<dyn SealVerifier>,
    pub(crate) now: Millis,
    pub(crate) chain: Chain,
    pub(crate) peers: PeerSet,
    pub(crate) requests: Requests,
    pub(crate) blocks: BlockQueue,
    pub(crate) diffs: DiffQueue,
    pub(crate) state: StateQueue,
    rate_limiter: RateLimiter,
    outputs: VecDeque<Output>,
    pub(crate) stats: EngineStats,
    /// Kept between drive passes and inputs while nothing it rests on changes (`buffer_links`).
    links: crate::block_queue::BufferLinks,
}

impl std::fmt::Debug for SyncEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SyncEngine")
            .field("head", &self.chain.head())
            .field("lanes", &self.state.lanes)
            .field("missing", &self.chain.trie().missing_start())
            .field("peers", &self.peers.len())
            .finish()
    }
}

/// Issuing passes per input at most (each sends at least one request but the last; the in-flight bounds end
/// them long before).
const DRIVE_PASSES_MAX: usize = 8;

impl SyncEngine {
    /// An engine at `checkpoint` (a trusted macro block) with `trie` as its state: `Trie::fresh()` for a
    /// syncing node, the checkpoint's complete state for a serving one. `seed` only breaks ties.
    pub fn new(
        config: Config,
        seed: u64,
        checkpoint: Block,
        seals: Arc<dyn SealVerifier>,
        trie: Trie,
    ) -> Result<SyncEngine, ConfigError> {
        config.validate()?;
        if !checkpoint.header().is_macro {
            return Err(ConfigError("the checkpoint is a macro block"));
        }
        let lanes = Lanes::new(config.lanes).map_err(|_| ConfigError("lanes is one of 1, 2, 4, 8, 16"))?;
        let trie = match (trie.is_fresh(), trie.is_complete() || trie.lanes() == lanes) {
            (true, _) => Trie::fresh_in(lanes),
            (false, true) => trie,
            (false, false) => return Err(ConfigError("an incomplete trie is split into the configured lanes")),
        };
        let complete = trie.is_complete();
        let chain = Chain::new(checkpoint, trie, config.bpb, config.fork_blocks_max, config.chain_retention_blocks);
        let state = StateQueue::new(lanes.count(), complete, config.chunk_size_max, seed);
        Ok(SyncEngine {
            blocks: BlockQueue::new(seed),
            diffs: DiffQueue::new(seed),
            config,
            seals,
            now: Millis(0),
            chain,
            peers: PeerSet::default(),
            requests: Requests::default(),
            state,
            rate_limiter: RateLimiter::default(),
            outputs: VecDeque::new(),
            stats: EngineStats::default(),
            links: crate::block_queue::BufferLinks::default(),
        })
    }

    // ---- handle_* -------------------------------------------------------------------------------------------

    /// Feeds one input. Any input is accepted at any time: unknown peers, unknown request ids, late timers.
    pub fn handle_input(&mut self, now: Millis, input: Input) {
        self.now = self.now.max(now);
        match input {
            Input::PeerJoined { peer } => {
                self.peers.join(peer, self.config.peers_max);
            }
            Input::PeerLeft { peer } => self.remove_peer(peer),
            Input::Announce { peer, block } => self.on_typed(peer, Message::Announce(block)),
            Input::Response { peer, request_id, response } => {
                self.on_typed(peer, Message::Response { request_id, response })
            }
            Input::RequestFailed { peer, request_id } => {
                if let Some(outstanding) = self.requests.take(peer, request_id) {
                    self.request_failed(request_id, outstanding);
                }
            }
            Input::Request { peer, request_id, request } => {
                self.on_typed(peer, Message::Request { request_id, request })
            }
            Input::Bytes { peer, bytes } => match Message::decode(&bytes) {
                Err(_) => {
                    self.stats.messages_undecodable += 1;
                    self.penalize(peer, Violation::Undecodable);
                }
                Ok(message) => {
                    self.stats.messages_decoded += 1;
                    self.stats.bytes_decoded += bytes.len() as u64;
                    self.on_message(peer, message);
                }
            },
            Input::Timeout => self.on_timeout(),
        }
        self.drive();
        assert!(self.outputs.len() < OUTPUTS_MAX, "outputs are drained after every input");
    }

    /// A typed message from a host that does not hand over bytes: it goes through the wire's own encoder and
    /// decoder, so that it meets exactly the bounds bytes meet (a value over `VALUE_MAX`, too many items or
    /// proof nodes, a malformed proof node: undecodable, and a violation).
    fn on_typed(&mut self, peer: PeerId, message: Message) {
        match Message::decode(&message.encode()) {
            Ok(message) => self.on_message(peer, message),
            Err(_) => self.penalize(peer, Violation::Undecodable),
        }
    }

    fn on_message(&mut self, peer: PeerId, message: Message) {
        match message {
            Message::Announce(block) => self.on_announce(peer, block),
            Message::Request { request_id, request } => self.serve(peer, request_id, request),
            Message::Response { request_id, response } => self.on_response(peer, request_id, response),
        }
    }

    /// The same as `handle_input(now, Input::Timeout)`.
    pub fn handle_timeout(&mut self, now: Millis) {
        self.handle_input(now, Input::Timeout);
    }

    // ---- poll_* ---------------------------------------------------------------------------------------------

    /// The next output, until `None`. Drain after every input.
    #[must_use]
    pub fn poll_output(&mut self) -> Option<Output> {
        self.outputs.pop_front()
    }

    /// The earliest deadline: request timeouts, diff backoffs, chunk retry backoff. Ties break by reason.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<(Millis, TimeoutReason)> {
        let deadlines = [
            self.requests.earliest_deadline().map(|at| (at, TimeoutReason::RequestDeadline)),
            self.diffs.next_backoff().map(|at| (at, TimeoutReason::DiffBackoff)),
            self.diffs.hedge_due().map(|(_, at)| (at, TimeoutReason::DiffHedge)),
            self.state.retry_at.map(|at| (at, TimeoutReason::ChunkRetryBackoff)),
            self.state.next_expiry(self.config.chunk_buffer_wait_ms).map(|at| (at, TimeoutReason::ChunkBufferWait)),
            self.catch_up_pause().map(|at| (at, TimeoutReason::CatchUpPause)),
            self.peers.next_unthrottled(self.now).map(|at| (at, TimeoutReason::PeerThrottled)),
            self.diffs
                .any_idle()
                .then(|| self.peers.next_probe(self.now))
                .flatten()
                .map(|at| (at, TimeoutReason::PeerCooled)),
        ];
        deadlines.into_iter().flatten().min()
    }

    // ---- getters for hosts and checkers (§6) -----------------------------------------------------------

    pub fn config(&self) -> &Config {
        &self.config
    }

    pub fn head(&self) -> &Block {
        self.chain.head()
    }

    pub fn latest_macro(&self) -> u32 {
        self.chain.latest_macro()
    }

    pub fn trie(&self) -> &Trie {
        self.chain.trie()
    }

    pub fn missing_start(&self) -> Option<&Key> {
        self.chain.trie().missing_start()
    }

    pub fn root_if_computable(&self) -> Option<Hash> {
        self.chain.trie().root_if_computable()
    }

    /// Lane 0's cursor: with one lane (the reference), the cursor.
    pub fn cursor(&self) -> &Cursor {
        &self.state.lanes[0].cursor
    }

    /// Every lane's cursor, in lane order (§4.12).
    pub fn lane_cursors(&self) -> impl Iterator<Item = &Cursor> + '_ {
        self.state.lanes.iter().map(|lane| &lane.cursor)
    }

    /// Every lane is done and the trie complete: sync is finished.
    pub fn is_complete(&self) -> bool {
        self.state.complete()
    }

    pub fn chunk_buffer_size(&self) -> u32 {
        self.state.size
    }

    /// The encoded bytes of the buffered chunks. Bounded by `buffer_max` chunks of at most
    /// [`crate::wire::MESSAGE_BYTES_MAX`] each; in practice by `chunk_size_max` items of `KEY_MAX`/`VALUE_MAX`.
    pub fn chunk_buffer_bytes(&self) -> u64 {
        self.state.bytes
    }

    pub fn block_buffer_size(&self) -> usize {
        self.blocks.buffered_count()
    }

    pub fn pending_blocks(&self) -> usize {
        self.diffs.len()
    }

    pub fn peers(&self) -> Vec<PeerId> {
        self.peers.ordered().collect()
    }

    pub fn requests_in_flight(&self) -> usize {
        self.requests.len()
    }

    /// Whether request `request_id` to `peer` is open: an answer to it now would be taken (and timed).
    pub fn awaits(&self, peer: PeerId, request_id: RequestId) -> bool {
        self.requests.get(request_id).is_some_and(|outstanding| outstanding.peer == peer)
    }

    pub fn stats(&self) -> EngineStats {
        self.stats
    }

    /// Whether this engine holds `hash` (main chain or fork).
    pub fn knows_block(&self, hash: &Hash) -> bool {
        self.chain.knows(hash)
    }

    /// Whether `hash` is in the chain or on its way: pending or buffered.
    pub fn holds_block(&self, hash: &Hash) -> bool {
        self.chain.knows(hash) || self.blocks.is_pending(hash) || self.blocks.block(hash).is_some()
    }

    /// Sizes of everything bounded, with their bounds: `(name, size, bound)`. The simulator checks each.
    pub fn bounds(&self) -> Vec<(&'static str, usize, usize)> {
        let config = &self.config;
        // The main chain from `retention` below the latest macro up to the head (< one batch above it), plus forks.
        let chain_blocks_max = (config.chain_retention_blocks + config.bpb + 1 + config.fork_blocks_max) as usize;
        vec![
            ("chunk buffer", self.state.size as usize, config.buffer_max as usize),
            ("block buffer", self.blocks.buffered_count(), config.block_buffer_max as usize),
            ("pending blocks", self.diffs.len(), config.pending_blocks_max as usize),
            ("pending set", self.blocks.pending().len(), config.pending_blocks_max as usize),
            ("rejected hashes", self.blocks.rejected_count(), config.rejected_hashes_max as usize),
            ("peers", self.peers.len(), config.peers_max as usize),
            ("chunk requests", self.state_requests(), config.chunk_requests_in_flight as usize),
            ("diff requests", self.diffs.in_flight(), config.diff_requests_in_flight as usize),
            // One hedge of the diff that holds the pipeline may be open beyond them (§4.4).
            ("diff requests open", self.open_diff_requests(), config.diff_requests_in_flight as usize + 1),
            ("missing-block requests", self.blocks.in_flight(), config.missing_block_requests_in_flight as usize),
            ("catch-up batches", self.blocks.batches.len(), config.catch_up_batches_in_flight as usize),
            ("diff jobs", self.diffs.job_count(), 2 * config.pending_blocks_max as usize),
            ("missing-block targets", self.blocks.target_count(), config.block_buffer_max as usize + 1),
            ("chain blocks", self.chain.block_count(), chain_blocks_max),
            ("rate-limited peers", self.rate_limiter.tracked_peers(), config.peers_max as usize),
            ("outputs", self.outputs.len(), OUTPUTS_MAX),
        ]
    }

    /// Until when chunk requests wait for a catch-up that brings blocks.
    pub(crate) fn catch_up_pause(&self) -> Option<Millis> {
        self.blocks.chunk_pause_until(self.now, self.config.request_timeout_ms)
    }

    fn open_diff_requests(&self) -> usize {
        self.requests.count_where(|o| matches!(o.purpose, Purpose::Diff { .. }))
    }

    fn state_requests(&self) -> usize {
        self.requests.count_where(|o| matches!(o.purpose, Purpose::Chunk { .. }))
    }

    /// Every internal invariant of §5.1 the engine can see (S1, S2, S4–S6, S8). Called by the simulator after
    /// every step; a failure is a bug in this crate.
    pub fn check_invariants(&self) {
        self.chain.check_invariants();
        self.requests.check_invariants();
        self.check_state_invariants();
        self.blocks.check_invariants(&self.chain, self.config.bpb);
        self.diffs.check_invariants();
        assert!(
            self.diffs.hashes().eq(self.blocks.pending().iter().copied()),
            "the pending-block set is exactly the DiffQueue's blocks"
        );
        for (name, size, bound) in self.bounds() {
            assert!(size <= bound, "S8: {name} holds {size}, over its bound {bound}");
        }
        let (least, most) = (self.config.chunk_size_min.min(self.config.chunk_size_max), self.config.chunk_size_max);
        let limit = self.state.chunk_limit;
        assert!((least..=most).contains(&limit), "the chunk limit {limit} lies within {least}..={most} (§4.5)");
    }

    // ---- shared plumbing --------------------------------------------------------------------------------------

    pub(crate) fn emit(&mut self, event: Event) {
        self.outputs.push_back(Output::Event(event));
    }

    /// Sends a request and records it; returns its id.
    pub(crate) fn send(&mut self, peer: PeerId, purpose: Purpose, request: crate::wire::Request) -> RequestId {
        self.send_queued(peer, purpose, request, 0)
    }

    /// `send`, behind `queued` requests at the same peer that its link sends first: the deadline is this
    /// request's own plus, per request ahead, the peer's measured answer time (`srtt + 4·rttvar`; a whole
    /// deadline while it has answered nothing), at most `request_timeout_max_ms`. A whole deadline per request
    /// ahead even for a measured peer (130 ms answers) held a lost request of the last lane for 8 s against a
    /// 2 s deadline, and the download with it (the small world, one peer, eight lanes, seed 1: 8.5 s against
    /// 1.8 s with one lane).
    pub(crate) fn send_queued(
        &mut self,
        peer: PeerId,
        purpose: Purpose,
        request: crate::wire::Request,
        queued: u64,
    ) -> RequestId {
        let (base, max) = (self.config.request_timeout_ms, self.config.request_timeout_max_ms);
        let state = self.peers.get(peer);
        let timeout = state.map_or(base, |state| state.timeout_ms(base, max));
        let ahead = state.and_then(|state| state.answer_estimate_ms()).unwrap_or(timeout);
        let timeout = if queued == 0 {
            timeout
        } else {
            timeout.saturating_add(ahead.saturating_mul(queued)).min(max.max(timeout))
        };
        let request_id = self.requests.open(peer, self.now, self.now.plus(timeout), purpose);
        self.stats.requests_sent += 1;
        self.outputs.push_back(Output::SendRequest { peer, request_id, request });
        request_id
    }

    /// A proven violation (§4.2): `PeerPenalized`, and eviction at the threshold. Only for peers in the set.
    pub(crate) fn penalize(&mut self, peer: PeerId, violation: Violation) {
        let Some(state) = self.peers.get_mut(peer) else { return };
        state.violations += 1;
        let evict = state.violations >= self.config.penalty_evict_threshold;
        self.emit(Event::PeerPenalized { peer, violation });
        if evict {
            self.remove_peer(peer);
            self.emit(Event::PeerEvicted { peer });
        }
    }

    /// Removes a peer from every component; its outstanding requests fail at once and are retried elsewhere.
    pub(crate) fn remove_peer(&mut self, peer: PeerId) {
        if !self.peers.leave(peer) {
            return;
        }
        for (request_id, outstanding) in self.requests.drain_peer(peer) {
            self.request_failed(request_id, outstanding);
        }
    }

    fn on_response(&mut self, peer: PeerId, request_id: RequestId, response: Response) {
        // Unknown ids, wrong peers, duplicates and late answers are honest network behaviour: dropped unread, never
        // penalised. An unmatched chunk is still fetched and never committed: reported as waste.
        let Some(outstanding) = self.requests.take(peer, request_id) else {
            if let Response::Chunk { block_number, .. } = response {
                self.waste(peer, request_id, block_number, ChunkWaste::Unmatched);
            }
            return;
        };
        let rtt = self.now.0.saturating_sub(outstanding.sent.0);
        if let Some(state) = self.peers.get_mut(peer) {
            state.note_answer(rtt);
        }
        if response == Response::RateLimited {
            let kind = match outstanding.purpose {
                Purpose::Chunk { .. } => Kind::Chunk,
                Purpose::Diff { .. } => Kind::Diff,
                Purpose::MissingBlocks { .. } | Purpose::Batch { .. } => Kind::Blocks,
            };
            self.peers.throttle(peer, kind, self.now.plus(self.config.rate_limited_cooldown_ms));
        }
        match outstanding.purpose.clone() {
            Purpose::Chunk { .. } => self.on_chunk_response(peer, request_id, outstanding, response),
            Purpose::Diff { block } => self.on_diff_response(peer, request_id, block, response),
            Purpose::MissingBlocks { target, locators } => {
                self.on_missing_blocks_response(peer, request_id, target, &locators, response)
            }
            Purpose::Batch { first, .. } => self.on_batch_response(peer, request_id, first, response),
        }
    }

    /// A failed attempt: timeout, transport failure, peer gone, `RateLimited` or an unhelpful answer. Never a
    /// penalty.
    pub(crate) fn request_failed(&mut self, request_id: RequestId, outstanding: Outstanding) {
        match outstanding.purpose {
            Purpose::Chunk { generation, .. } => self.chunk_attempt_failed(generation),
            Purpose::Diff { block } => self.diff_attempt_failed(block, request_id, outstanding.peer),
            Purpose::MissingBlocks { target, .. } => self.missing_attempt_failed(target, request_id),
            Purpose::Batch { first, .. } => self.batch_attempt_failed(first, request_id),
        }
    }

    fn on_timeout(&mut self) {
        for (request_id, outstanding) in self.requests.expire(self.now) {
            self.emit(Event::RequestTimedOut { peer: outstanding.peer, request_id });
            let lane = match &outstanding.purpose {
                Purpose::Chunk { start, .. } => Some(self.chain.trie().lanes().of_key(start)),
                _ => None,
            };
            let (base, max, cooldown) = (
                self.config.request_timeout_ms,
                self.config.request_timeout_max_ms,
                self.config.unresponsive_cooldown_ms,
            );
            if let Some(state) = self.peers.get_mut(outstanding.peer) {
                state.note_timeout();
                let cooldown =
                    if state.mostly_answers() { state.timeout_ms(base, max).min(cooldown) } else { cooldown };
                let until = self.now.plus(cooldown);
                state.unresponsive_until = Some(until);
                if let Some(lane) = lane {
                    state.note_lane(lane, Some(until));
                }
            }
            self.request_failed(request_id, outstanding);
        }
        self.diffs.expire_backoffs(self.now);
        if self.state.retry_at.is_some_and(|at| at <= self.now) {
            self.state.retry_at = None;
        }
        self.prune_chunk_buffer();
    }

    fn serve(&mut self, peer: PeerId, request_id: RequestId, request: crate::wire::Request) {
        let response = if self.rate_limiter.admit(self.now, peer, &request, &self.config) {
            respond(&self.chain, &request, &self.config)
        } else {
            Response::RateLimited
        };
        self.stats.responses_served += 1;
        self.outputs.push_back(Output::SendResponse { peer, request_id, response });
    }

    /// Moves the pipeline until nothing more can move: push every ready block, release buffered blocks, then
    /// issue whatever requests the components want (PeerJoined re-evaluates everything this way, H16).
    fn drive(&mut self) {
        // One pass can unblock another (a batch given up frees the span of a fetch that waited for it, a fetch
        // sent moves the sources' turn): pass until one does nothing, so that no work waits for the next input.
        // Found by the host-contract probe: a host that woke only at `poll_timeout` never sent these requests
        // (explore seed 153: no deadline reported, a missing-blocks request due).
        for _ in 0..DRIVE_PASSES_MAX {
            let before = self.drive_marker();
            while self.push_next_ready() {}
            // A buffered block whose parent became pending by another way (an announcement) goes down too: left
            // in the buffer, it was evicted for a block it was the parent of (found by the accounting oracle,
            // seed 2002015).
            self.release_buffered_blocks();
            while self.push_next_ready() {}
            self.issue_missing_block_requests();
            self.issue_catch_up_batches();
            self.issue_diff_requests();
            self.issue_chunk_requests();
            if self.drive_marker() == before {
                break;
            }
        }
    }

    /// What a drive pass can change: another pass is due while any of it moved (a fetch given up sends nothing,
    /// yet frees its place for the reserved head fetch: explore seed 153).
    fn drive_marker(&self) -> [usize; 8] {
        [
            self.outputs.len(),
            self.blocks.fetches.len(),
            // A fetch dropped and another made in one pass keeps the count (seed 20028256).
            self.blocks.fetches.values().map(|fetch| fetch.target_number as usize).sum(),
            self.blocks.batches.len(),
            self.blocks.batches.keys().map(|&first| first as usize).sum(),
            self.blocks.buffered,
            self.diffs.len(),
            self.chain.head_number() as usize,
        ]
    }
}
