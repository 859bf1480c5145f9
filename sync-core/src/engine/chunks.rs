//! The chunk flow (§4.5, §4.8, §4.12) as the engine runs it, per lane: the response ladder, commits,
//! discards, the reset rule and completion. Issuing requests is `chunk_requests.rs`; the buffer's own state is
//! `crate::state_queue`.

use super::SyncEngine;
use crate::hash::Hash;
use crate::interface::Millis;
use crate::interface::{ChunkWaste, Event, PeerId, ResetReason, Violation};
use crate::key::Key;
use crate::peers::PeerState;
use crate::requests::{Outstanding, Purpose};
use crate::state_queue::{BufferedChunk, Cursor};
use crate::trie::{Chunk, ChunkApplied, ChunkError, Ignored};
use crate::wire::{RequestId, Response};
use std::sync::Arc;

impl SyncEngine {
    /// The lane holding `key`.
    fn lane_of(&self, key: &Key) -> usize {
        self.chain.trie().lanes().of_key(key)
    }

    /// Lane `lane` enters `Reset` (§4.5, §4.12): a fresh generation, the lane's older chunk requests stop
    /// counting and their answers drop.
    pub(crate) fn reset_lane(&mut self, lane: usize, reason: ResetReason) {
        if self.state.lanes[lane].cursor == Cursor::Complete {
            return; // A rejected block or a stale chunk never leaves Complete (H7).
        }
        let old = self.state.lanes[lane].generation;
        self.state.lanes[lane].cursor = Cursor::Reset;
        self.state.renew(lane);
        self.state.attempts = 0;
        self.state.wasted_in_row = 0;
        self.stats.resets += 1;
        self.requests.forget(|o| matches!(o.purpose, Purpose::Chunk { generation, .. } if generation == old));
        self.emit(Event::ChunkChainReset { reason, lane: lane as u8 });
    }

    /// A rebranch took the trie back (§4.9, §4.12): with one lane, the chain of chunks starts over; with lanes,
    /// every lane whose missing start the rebranch changed does.
    pub(crate) fn reset_rebranched(&mut self, starts_before: &[Option<Key>]) {
        let lanes = self.state.lanes.len();
        for lane in 0..lanes {
            let changed = self.chain.trie().lane_start(lane) != starts_before.get(lane).and_then(Option::as_ref);
            if lanes == 1 || changed {
                self.reset_lane(lane, ResetReason::Rebranch);
            }
        }
    }

    /// A chunk attempt that produced nothing: after `attempts(peers)` in a row, wait `chunk_retry_backoff_ms`.
    pub(crate) fn chunk_attempt_failed(&mut self, generation: u64) {
        if self.state.lane_of_generation(generation).is_none() {
            return;
        }
        self.state.attempts += 1;
        if self.state.attempts >= self.config.attempts(self.peers.len()) {
            self.state.attempts = 0;
            self.state.retry_at = Some(self.now.plus(self.config.chunk_retry_backoff_ms));
        }
    }

    /// A chunk answer that will never be committed: counted and reported with why (§4.5).
    pub(crate) fn waste(&mut self, peer: PeerId, request_id: RequestId, number: u32, waste: ChunkWaste) {
        self.stats.chunks_wasted += 1;
        self.emit(Event::ChunkWasted { peer, request_id, number, waste });
    }

    /// A chunk that could never be applied (H12): wasted, and paced like a failure when it keeps happening.
    fn chunk_wasted(&mut self, peer: PeerId, request_id: RequestId, number: u32, waste: ChunkWaste) {
        self.waste(peer, request_id, number, waste);
        self.pace_unhelpful();
    }

    /// Chunk answers in a row that did not move the cursor: after `attempts(peers)`, wait
    /// `chunk_retry_backoff_ms`, so that no request loop spins without time passing.
    fn pace_unhelpful(&mut self) {
        self.state.wasted_in_row += 1;
        if self.state.wasted_in_row >= self.config.attempts(self.peers.len()) {
            self.state.wasted_in_row = 0;
            self.state.retry_at = Some(self.now.plus(self.config.chunk_retry_backoff_ms));
        }
    }

    /// Step 6: a chunk tagged beyond the window. The reference removes the peer as `PeerAhead`. Ours: we are the
    /// one behind; announcements drive the catch-up. Until then, pace like any chunk that cannot be used, or the
    /// same start would be asked again at once, for ever; and ask this peer no chunk until the head is within the
    /// window of this tag (§4.5).
    fn chunk_ahead(&mut self, peer: PeerId, request_id: RequestId, number: u32) {
        if !self.config.ahead_catch_up {
            self.waste(peer, request_id, number, ChunkWaste::TagAhead);
            self.remove_peer(peer);
            self.emit(Event::PeerAhead { peer });
            return;
        }
        if let Some(state) = self.peers.get_mut(peer) {
            state.tagged_ahead = Some(number);
        }
        self.chunk_wasted(peer, request_id, number, ChunkWaste::TagAhead);
    }

    /// The adaptive chunk limit (§4.5): a full answer that came after the head had passed its tag although it was
    /// cut no earlier than the head we asked at, and whose round trip was more than twice the peer's quickest, lost
    /// its block on the link; a smaller one would have made it. Once per round: an answer asked before the last
    /// cut was asked at the old limit.
    fn time_chunk_answer(&mut self, peer: PeerId, sent: Millis, full: bool, passed: bool) {
        if !full || !passed || sent < self.state.chunk_limit_cut_at {
            return;
        }
        let Some(quickest) = self.peers.get(peer).and_then(PeerState::rtt_min_ms) else { return };
        if self.now.0.saturating_sub(sent.0) > 2 * quickest {
            let floor = self.config.chunk_size_min.min(self.config.chunk_size_max);
            self.state.chunk_came_late(floor, self.now);
        }
    }

    /// The chunk response ladder (§4.5), first match wins.
    pub(crate) fn on_chunk_response(
        &mut self,
        peer: PeerId,
        request_id: RequestId,
        outstanding: Outstanding,
        response: Response,
    ) {
        let Purpose::Chunk { start, limit, generation, head: asked_at } = outstanding.purpose else { return };
        if matches!(response, Response::Chunk { .. }) {
            let lane = self.lane_of(&start);
            if let Some(state) = self.peers.get_mut(peer) {
                state.note_lane(lane, None);
            }
        }
        let Some((number, hash, chunk)) = self.readable_chunk(peer, request_id, &start, limit, generation, response)
        else {
            return;
        };
        let head_number = self.chain.head_number();
        let full = chunk.items.len() == limit as usize;
        self.time_chunk_answer(peer, outstanding.sent, full, (asked_at..head_number).contains(&number));
        // 5., 6. Far behind or far ahead: the peer is removed (not penalised).
        if number < head_number.saturating_sub(self.config.tolerate_past_max) {
            self.waste(peer, request_id, number, ChunkWaste::TagBehind);
            self.remove_peer(peer);
            self.emit(Event::PeerBehind { peer });
            return;
        }
        if number > head_number.saturating_add(self.config.window_ahead_max) {
            return self.chunk_ahead(peer, request_id, number);
        }
        // 7. A chunk for our head: commit now, bound to that hash; the buffer's capacity does not apply (H5).
        if hash == self.chain.head_hash() {
            let advanced = self.advance_cursor(&start, chunk.end.as_ref(), number);
            let arrived = self.now;
            let chunk = Arc::new(chunk);
            let buffered = BufferedChunk { request_id, start, chunk, peer, advanced, generation, arrived, bytes: 0 };
            self.commit_chunks(hash, vec![buffered]);
            self.update_completion();
            return;
        }
        // 8. A block that can never take it: at or below the latest macro, already known (H8, H12), or
        //    already rejected (it would only occupy the buffer, H14). Ours, stricter: at or below our head's
        //    height. The head number never decreases (a rebranch needs a strictly higher tip), so such a block can
        //    never become the head, and only the head takes chunks.
        let never = number <= head_number || self.chain.knows(&hash) || self.blocks.is_rejected(&hash);
        if number <= self.chain.latest_macro() || never {
            // Junk for peer choice, as a discarded chunk is: a slow peer whose every answer came tagged with a
            // block the node had passed stayed the one preferred peer (its one committed chunk outweighed none),
            // and 454 of its chunks in a row were wasted while four quick peers idled (explore seed 270012911).
            self.peers.note_chunk(peer, false);
            return self.chunk_wasted(peer, request_id, number, ChunkWaste::TagPassed);
        }
        // 9. The buffer is full, in total or for this peer (H14): drop, the cursor unchanged.
        let from_peer = self.state.per_peer.get(&peer).copied().unwrap_or(0);
        if self.state.size >= self.config.buffer_max || from_peer >= self.config.chunk_buffer_per_peer_max {
            return self.chunk_wasted(peer, request_id, number, ChunkWaste::BufferFull);
        }
        let chunk = Arc::new(chunk);
        self.buffer_chunk(
            number,
            hash,
            BufferedChunk { request_id, start, chunk, peer, advanced: false, generation, arrived: self.now, bytes: 0 },
        );
    }

    /// Steps 1–4 of the ladder: the answer is for the current generation, is a chunk, and is within its limit and
    /// makes progress. Anything else is an attempt that failed (a violation when it is proven), and `None`.
    fn readable_chunk(
        &mut self,
        peer: PeerId,
        request_id: RequestId,
        start: &Key,
        limit: u32,
        generation: u64,
        response: Response,
    ) -> Option<(u32, Hash, Chunk)> {
        // 1. Its lane complete, or an older generation: drop unread.
        let lane = &self.state.lanes[self.lane_of(start)];
        if lane.cursor == Cursor::Complete || generation != lane.generation {
            if let Response::Chunk { block_number, .. } = response {
                self.waste(peer, request_id, block_number, ChunkWaste::Outdated);
            }
            return None;
        }
        let (number, hash, chunk) = match response {
            Response::Chunk { block_number, block_hash, chunk } => (block_number, block_hash, chunk),
            // 2. IncompleteState: Behind for chunks, cooled down (H23), the cursor unchanged.
            Response::IncompleteState => {
                if let Some(state) = self.peers.get_mut(peer) {
                    state.incomplete_until = Some(self.now.plus(self.config.incomplete_state_cooldown_ms));
                }
                self.emit(Event::PeerBehind { peer });
                self.chunk_attempt_failed(generation);
                return None;
            }
            // Busy, not failed: the peer cools down (`rate_limited_cooldown_ms`), the attempt does not count.
            Response::RateLimited => return None,
            _ => {
                self.penalize(peer, Violation::WrongResponseType);
                self.chunk_attempt_failed(generation);
                return None;
            }
        };
        self.stats.chunk_responses += 1;
        // 3. More items than asked for (H19).
        // 4. No progress: empty and not final (H18). Ours, also: an end at or before the start, which no honest
        //    chunk has (its end lies beyond its last item, which is at or after the start). Checked here because
        //    advancing the cursor to it would move the cursor behind `s` (found by the simulator, seed 659).
        let end_not_after_start = chunk.end.as_ref().is_some_and(|end| end <= start);
        // §2.13: with lanes, an end past the lane's end (the request's bound) answers a lane nobody asked for.
        let lanes = self.chain.trie().lanes();
        let lane_end = (lanes.count() > 1).then(|| lanes.end(lanes.of_key(start)));
        let past_lane = lane_end.as_ref().is_some_and(|bound| match (&chunk.end, bound) {
            (_, None) => false,
            (None, Some(_)) => true,
            (Some(end), Some(bound)) => end > bound,
        });
        // An empty chunk that ends at its lane's end is progress: the rest of the lane is empty.
        let lane_exhausted = lane_end.as_ref().is_some_and(|bound| bound.is_some() && chunk.end == *bound);
        let violation = if chunk.items.len() > limit as usize {
            Some(Violation::ChunkOverLimit)
        } else if past_lane {
            Some(Violation::ChunkPastLane)
        } else if (chunk.items.is_empty() && chunk.end.is_some() && !lane_exhausted) || end_not_after_start {
            Some(Violation::ChunkNoProgress)
        } else {
            None
        };
        if let Some(violation) = violation {
            self.waste(peer, request_id, number, ChunkWaste::Rejected);
            self.penalize(peer, violation);
            self.chunk_attempt_failed(generation);
            return None;
        }
        Some((number, hash, chunk))
    }

    /// Step 10: buffer the chunk under (height, hash), and advance the cursor if its tag is vouched for. Ours
    /// (H14): only a tag some peer vouched for (announced, or fetched as an ancestor) moves the cursor. An honest
    /// responder announces its head before it answers from it, so its tags are vouched for; an invented tag is
    /// held without moving the cursor, and the same start goes to the next peer. Otherwise every chunk chained
    /// after an invented one builds on a range that is thrown away when the tag's height passes: the byzantine
    /// sweep measured a 3× slowdown and two runs that never finished with five such liars of six peers.
    fn buffer_chunk(&mut self, number: u32, hash: Hash, mut chunk: BufferedChunk) {
        let vouched = !self.config.chunk_tags_vouched || self.vouched(&hash);
        chunk.advanced = vouched && self.advance_cursor(&chunk.start, chunk.chunk.end.as_ref(), number);
        if !vouched {
            // The same start goes to the next peer at once: paced like a failure when it keeps happening.
            self.pace_unhelpful();
        }
        let lanes = self.chain.trie().lanes();
        let lane = lanes.of_key(&chunk.start);
        let list = self.state.buffer.get(&(number, hash)).map(Vec::as_slice).unwrap_or_default();
        if list.iter().any(|held| lanes.holds(lane, &held.start) && held.start >= chunk.start) {
            // A new chain of chunks has begun for this block in this lane: the lane's old list goes.
            let discarded = self.state.take_where(number, hash, |held| lanes.holds(lane, &held.start));
            self.discard_chunks(discarded, number, ChunkWaste::Replaced);
        }
        chunk.bytes = chunk.chunk.encoded_len() as u32;
        self.state.add(number, hash, chunk, self.config.buffer_max, self.config.chunk_buffer_per_peer_max);
    }

    /// Moves the cursor past a chunk requested at the cursor's start; other hedged requests for that start are
    /// forgotten (the first acceptable answer wins). Returns whether it moved.
    /// With lanes, the chunk that ends at its lane's end pauses the lane as the final chunk does (§4.12).
    fn advance_cursor(&mut self, start: &Key, end: Option<&Key>, number: u32) -> bool {
        let lane = self.lane_of(start);
        let Cursor::Continue(k) = &self.state.lanes[lane].cursor else { return false };
        let effective = match self.chain.trie().lane_start(lane) {
            Some(missing) if missing > k => missing,
            _ => k,
        };
        if start != effective {
            return false;
        }
        let lane_end = self.chain.trie().lanes().end(lane);
        self.state.lanes[lane].cursor = match end {
            Some(end) if Some(end) != lane_end.as_ref() => Cursor::Continue(end.clone()),
            _ => Cursor::Paused(number),
        };
        self.state.attempts = 0;
        self.state.wasted_in_row = 0;
        let generation = self.state.lanes[lane].generation;
        let start = start.clone();
        self.requests.forget(
            |o| matches!(&o.purpose, Purpose::Chunk { start: s, generation: g, .. } if *s == start && *g == generation),
        );
        true
    }

    /// Commits chunks in order against `block_hash`, which must be the head (§4.5 "When chunks are
    /// committed"; with lanes, in lane order, §4.12). Each commit is atomic; the first error stops the rest of
    /// its lane's chunks.
    pub(crate) fn commit_chunks(&mut self, block_hash: Hash, chunks: Vec<BufferedChunk>) {
        let number = self.chain.block(&block_hash).map_or(self.chain.head_number(), |block| block.number());
        let lanes = self.chain.trie().lanes();
        let mut committed = 0u32;
        let mut stopped = vec![false; lanes.count()];
        let mut rest = chunks.into_iter();
        while let Some(buffered) = rest.next() {
            let (peer, request_id) = (buffered.peer, buffered.request_id);
            let lane = lanes.of_key(&buffered.start);
            if stopped[lane] {
                self.waste(peer, request_id, number, ChunkWaste::AfterReset);
                continue;
            }
            match self.chain.commit_chunk(block_hash, &buffered.start, &buffered.chunk) {
                None => {
                    // The head moved on before the commit (H21).
                    self.discard_chunks(std::iter::once(buffered).chain(rest).collect(), number, ChunkWaste::HeadMoved);
                    break;
                }
                Some(Ok(ChunkApplied::Applied { .. })) => {
                    committed += 1;
                    self.peers.note_chunk(peer, true);
                    self.stats.chunks_committed += 1;
                    self.stats.chunk_items_committed += buffered.chunk.items.len() as u64;
                    self.state.wasted_in_row = 0;
                    self.state.chunk_committed(self.config.chunk_size_max);
                }
                Some(Ok(ChunkApplied::Ignored(Ignored::Stale))) => {
                    self.waste(peer, request_id, number, ChunkWaste::Stale)
                }
                Some(Err(ChunkError::AlreadyComplete)) => self.waste(peer, request_id, number, ChunkWaste::Completed),
                Some(Ok(ChunkApplied::Ignored(Ignored::Gap))) => {
                    self.waste(peer, request_id, number, ChunkWaste::Gap);
                    self.reset_lane(lane, ResetReason::Gap);
                    stopped[lane] = true;
                }
                Some(Err(ChunkError::Invalid(_) | ChunkError::RootMismatch { .. })) => {
                    self.waste(peer, request_id, number, ChunkWaste::Rejected);
                    self.penalize(peer, Violation::ChunkRejected);
                    self.reset_lane(lane, ResetReason::ChunkRejected);
                    stopped[lane] = true;
                }
            }
        }
        if committed > 0 {
            self.normalize_cursor();
            self.emit(Event::AcceptedChunks { hash: block_hash, count: committed });
            let missing = self.chain.trie().missing_start().cloned();
            self.emit(Event::StateProgress { head: block_hash, missing });
        }
    }

    /// Chunks buffered for block `number` leave uncommitted, for `waste`. If one had advanced the cursor in this
    /// generation and starts at or beyond `s`, the chain of chunks has a hole: reset at once (H8, H15, H21).
    pub(crate) fn discard_chunks(&mut self, chunks: Vec<BufferedChunk>, number: u32, waste: ChunkWaste) {
        for chunk in &chunks {
            self.peers.note_chunk(chunk.peer, false);
            self.waste(chunk.peer, chunk.request_id, number, waste);
        }
        for lane in 0..self.state.lanes.len() {
            let missing = self.chain.trie().lane_start(lane);
            let generation = self.state.lanes[lane].generation;
            let hole = chunks.iter().any(|chunk| {
                chunk.advanced && chunk.generation == generation && missing.is_some_and(|s| chunk.start >= *s)
            });
            if hole {
                self.reset_lane(lane, ResetReason::ChunkDiscarded);
            }
        }
    }

    /// Eager pruning on every head change (H13): chunks whose block can never become the head. Those are the
    /// heights at or below the latest macro block and (Ours, stricter than `h − tolerate_past_max`) at or below
    /// the head's height, since the head number never decreases; and blocks the chain already knows. Also on
    /// every timer: chunks older than `chunk_buffer_wait_ms`.
    pub(crate) fn prune_chunk_buffer(&mut self) {
        let head_number = self.chain.head_number();
        let wait_ms = self.config.chunk_buffer_wait_ms;
        for (number, hash) in self.state.keys() {
            if number <= head_number || self.chain.knows(&hash) {
                let pruned = self.state.take(number, hash);
                self.discard_chunks(pruned, number, ChunkWaste::Pruned);
                continue;
            }
            let list = self.state.buffer.get(&(number, hash)).map(Vec::as_slice).unwrap_or_default();
            if list.iter().any(|chunk| chunk.arrived.plus(wait_ms) <= self.now) {
                let expired = self.state.take(number, hash);
                self.discard_chunks(expired, number, ChunkWaste::Expired);
            }
        }
    }

    /// Keeps `Continue(k)` at or beyond `s`: the `max(k, s)` clamp of §4.5 made explicit, so that S4 holds
    /// after commits moved `s` past `k` (H17).
    fn normalize_cursor(&mut self) {
        for lane in 0..self.state.lanes.len() {
            let cursor = &mut self.state.lanes[lane].cursor;
            if let Cursor::Continue(k) = cursor {
                if let Some(missing) = self.chain.trie().lane_start(lane).filter(|missing| *missing > k) {
                    *cursor = Cursor::Continue(missing.clone());
                }
            }
        }
    }

    /// After every push: `Paused(n)` with the head past `n` resets; a complete trie completes (§4.8).
    pub(crate) fn update_completion(&mut self) {
        self.normalize_cursor();
        if self.chain.trie().is_complete() {
            if !self.state.complete() {
                for lane in &mut self.state.lanes {
                    lane.cursor = Cursor::Complete;
                }
                for (number, hash) in self.state.keys() {
                    for chunk in self.state.take(number, hash) {
                        self.waste(chunk.peer, chunk.request_id, number, ChunkWaste::Completed);
                    }
                }
                self.state.retry_at = None;
                self.requests.forget(|outstanding| matches!(outstanding.purpose, Purpose::Chunk { .. }));
                let head = self.chain.head_hash();
                self.emit(Event::StateComplete { head });
            }
            return;
        }
        if self.state.complete() {
            self.emit(Event::StateReset);
        }
        for lane in 0..self.state.lanes.len() {
            let done = self.chain.trie().lane_start(lane).is_none();
            match self.state.lanes[lane].cursor {
                Cursor::Complete if !done => {
                    // A rebranch took the lane back below its end (§4.8).
                    self.state.lanes[lane].cursor = Cursor::Reset;
                    self.state.renew(lane);
                    self.stats.resets += 1;
                    self.emit(Event::ChunkChainReset { reason: ResetReason::Rebranch, lane: lane as u8 });
                }
                Cursor::Complete => {}
                _ if done => {
                    // Lanes: this lane is known to its end while others are not.
                    let generation = self.state.lanes[lane].generation;
                    self.state.lanes[lane].cursor = Cursor::Complete;
                    self.requests
                        .forget(|o| matches!(o.purpose, Purpose::Chunk { generation: g, .. } if g == generation));
                    self.emit(Event::LaneComplete { lane: lane as u8 });
                }
                Cursor::Paused(n) if self.chain.head_number() > n => self.reset_lane(lane, ResetReason::PausedPassed),
                _ => {}
            }
        }
    }

    /// S2, S4, S5 for the chunk side.
    pub(crate) fn check_state_invariants(&self) {
        let state = &self.state;
        let counted: usize = state.buffer.values().map(Vec::len).sum();
        assert_eq!(counted, state.size as usize, "H6: the chunk count drifted from the buffer");
        let per_peer: u32 = state.per_peer.values().sum();
        assert_eq!(per_peer, state.size, "per-peer chunk counts add up");
        let bytes: u64 = state.buffer.values().flatten().map(|chunk| u64::from(chunk.bytes)).sum();
        assert_eq!(bytes, state.bytes, "the chunk buffer's byte count is exact");
        assert!(state.size <= self.config.buffer_max, "S5: the chunk buffer within buffer_max");
        let head_number = self.chain.head_number();
        let chunk_requests = self.chunk_requests_outstanding();
        assert!(chunk_requests.len() <= self.config.chunk_requests_in_flight as usize, "S4: chunk requests in flight");
        for ((number, hash), list) in &state.buffer {
            assert!(!list.is_empty(), "no empty chunk list");
            assert!(!self.chain.knows(hash), "S5: no buffered chunk belongs to a known block");
            assert!(*number > head_number, "S5 (Ours): buffered heights above the head, which never goes back");
            assert!(*number <= head_number + self.config.window_ahead_max, "S5: buffered heights within the window");
            assert!(
                list.windows(2).all(|pair| pair[0].start < pair[1].start),
                "S5: starts strictly increase per block"
            );
        }
        if state.complete() {
            assert!(self.chain.trie().is_complete(), "S2: Complete implies a complete trie");
            assert_eq!(state.size, 0, "S2: Complete implies an empty buffer");
            assert!(chunk_requests.is_empty(), "S2: Complete implies no chunk requests");
        }
        assert_eq!(state.lanes.len(), self.chain.trie().lanes().count(), "one cursor per lane of the trie");
        for (index, lane) in state.lanes.iter().enumerate() {
            let asked = chunk_requests.iter().filter(|(_, _, generation)| *generation == lane.generation).count();
            assert!(state.lanes.len() == 1 || asked <= 1, "§4.12: at most one chunk request per lane");
            assert!(state.lanes.iter().filter(|other| other.generation == lane.generation).count() == 1);
            let missing = self.chain.trie().lane_start(index);
            match &lane.cursor {
                Cursor::Complete => {
                    assert!(missing.is_none(), "S2: a Complete lane is known to its end");
                    assert_eq!(asked, 0, "S2: a Complete lane has no chunk requests");
                }
                Cursor::Continue(k) => {
                    assert!(missing.is_some_and(|s| s <= k), "S4: Continue(k) implies s ≤ k in an unfinished lane");
                }
                Cursor::Paused(n) => {
                    assert!(*n <= head_number + self.config.window_ahead_max, "S4: Paused within the window")
                }
                Cursor::Reset => {}
            }
        }
        if state.lanes.len() > 1 {
            let per_peer_max = usize::from(self.config.chunk_requests_per_peer_max);
            let held = |peer: PeerId| chunk_requests.iter().filter(|(p, ..)| *p == peer).count();
            let within = chunk_requests.iter().all(|(peer, ..)| held(*peer) <= per_peer_max);
            assert!(within, "§4.12: at most chunk_requests_per_peer_max chunk requests per peer");
        }
        let current = |generation: u64| state.lane_of_generation(generation).is_some();
        assert!(chunk_requests.iter().all(|(_, _, g)| current(*g)), "older generations no longer count (H17)");
    }
}
