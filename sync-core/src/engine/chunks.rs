//! The chunk flow (§4.5, §4.8) as the engine runs it: the cursor, chunk requests, the response ladder,
//! commits, discards, the reset rule and completion. The buffer's own state is `crate::state_queue`.

use super::SyncEngine;
use crate::hash::Hash;
use crate::interface::{ChunkWaste, Event, PeerId, ResetReason, Violation};
use crate::key::Key;
use crate::peers::Kind;
use crate::requests::{Outstanding, Purpose};
use crate::state_queue::{BufferedChunk, Cursor};
use crate::trie::{Chunk, ChunkApplied, ChunkError, Ignored};
use crate::wire::{Request, RequestId, Response};

impl SyncEngine {
    /// Enters `Reset` (§4.5): generation + 1, older chunk requests stop counting and their answers drop.
    pub(crate) fn reset_chunks(&mut self, reason: ResetReason) {
        if self.state.cursor == Cursor::Complete {
            return; // A rejected block or a stale chunk never leaves Complete (H7).
        }
        self.state.cursor = Cursor::Reset;
        self.state.generation += 1;
        self.state.attempts = 0;
        self.state.wasted_in_row = 0;
        self.stats.resets += 1;
        self.requests.forget(|outstanding| matches!(outstanding.purpose, Purpose::Chunk { .. }));
        self.emit(Event::ChunkChainReset { reason });
    }

    fn chunk_requests_outstanding(&self) -> Vec<(PeerId, Key)> {
        self.requests
            .iter()
            .filter_map(|(_, o)| match &o.purpose {
                Purpose::Chunk { start, .. } => Some((o.peer, start.clone())),
                _ => None,
            })
            .collect()
    }

    /// Issues chunk requests while the cursor wants them (§4.5, "Issuing requests").
    pub(crate) fn issue_chunk_requests(&mut self) {
        // While a catch-up from beyond the window brings blocks, every chunk would be cut at a block far ahead: wait.
        if self.state.retry_at.is_some() || self.peers.is_empty() || self.catch_up_pause().is_some() {
            return;
        }
        let start = match &self.state.cursor {
            Cursor::Complete | Cursor::Paused(_) => return,
            Cursor::Reset => {
                let Some(missing) = self.chain.trie().missing_start().cloned() else { return };
                self.state.cursor = Cursor::Continue(missing.clone());
                missing
            }
            Cursor::Continue(k) => {
                let missing = self.chain.trie().missing_start();
                match missing {
                    Some(missing) if missing > k => missing.clone(),
                    _ => k.clone(),
                }
            }
        };
        let outstanding = self.chunk_requests_outstanding();
        let mut in_flight = outstanding.len();
        let head_number = self.chain.head_number();
        let now = self.now;
        while in_flight < self.config.chunk_requests_in_flight as usize {
            let busy: Vec<PeerId> = self.chunk_requests_outstanding().into_iter().map(|(peer, _)| peer).collect();
            // Prefer peers out of cooldown whose head is not below ours (H12, H23); anyone free otherwise.
            // Ours (H14): also skip peers whose chunks were mostly discarded uncommitted (tags naming blocks that
            // never came); the byzantine sweep measured a 15x slowdown with five such liars of six peers.
            let preferred = |peer: PeerId, state: &crate::peers::PeerState| {
                !busy.contains(&peer)
                    && !state.throttled(Kind::Chunk, now)
                    && state.incomplete_until.is_none_or(|until| until <= now)
                    && state.head_number.is_none_or(|head| head >= head_number)
                    && !crate::peers::PeerSet::mostly_junk(state)
            };
            // Tiers: responsive and preferred; responsive; preferred; anyone free. A peer that timed out never
            // goes before one that answers (found by the simulator: a silent peer without history outranked
            // honest peers whose chunks forks had discarded, for ever).
            let free = |peer: PeerId, state: &crate::peers::PeerState| {
                !busy.contains(&peer) && !state.throttled(Kind::Chunk, now)
            };
            let responsive =
                |state: &crate::peers::PeerState| state.unresponsive_until.is_none_or(|until| until <= now);
            let cursor = &mut self.state.cursor_peers;
            let peer = self
                .peers
                .next(cursor, |peer, state| responsive(state) && preferred(peer, state))
                .or_else(|| self.peers.next(cursor, |peer, state| responsive(state) && free(peer, state)))
                .or_else(|| self.peers.next(cursor, preferred))
                .or_else(|| self.peers.next(cursor, free));
            let Some(peer) = peer else { return };
            let limit = self.config.chunk_size_max;
            let purpose = Purpose::Chunk { start: start.clone(), limit, generation: self.state.generation };
            self.send(peer, purpose, Request::Chunk { start_key: start.clone(), limit, end_bound: None });
            in_flight += 1;
        }
    }

    /// A chunk attempt that produced nothing: after `attempts(peers)` in a row, wait `chunk_retry_backoff_ms`.
    pub(crate) fn chunk_attempt_failed(&mut self, generation: u64) {
        if generation != self.state.generation {
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

    /// The chunk response ladder (§4.5), first match wins.
    pub(crate) fn on_chunk_response(
        &mut self,
        peer: PeerId,
        request_id: RequestId,
        outstanding: Outstanding,
        response: Response,
    ) {
        let Purpose::Chunk { start, limit, generation } = outstanding.purpose else { return };
        let Some((number, hash, chunk)) = self.readable_chunk(peer, request_id, &start, limit, generation, response)
        else {
            return;
        };
        let head_number = self.chain.head_number();
        // 5., 6. Far behind or far ahead: the peer is removed (not penalised).
        if number < head_number.saturating_sub(self.config.tolerate_past_max) {
            self.waste(peer, request_id, number, ChunkWaste::TagBehind);
            self.remove_peer(peer);
            self.emit(Event::PeerBehind { peer });
            return;
        }
        if number > head_number.saturating_add(self.config.window_ahead_max) {
            if !self.config.ahead_catch_up {
                self.waste(peer, request_id, number, ChunkWaste::TagAhead);
                self.remove_peer(peer);
                self.emit(Event::PeerAhead { peer });
                return;
            }
            // Ours: we are the one behind; announcements drive the catch-up. Until then, pace like any chunk
            // that cannot be used, or the same start would be asked again at once, for ever.
            return self.chunk_wasted(peer, request_id, number, ChunkWaste::TagAhead);
        }
        // 7. A chunk for our head: commit now, bound to that hash; the buffer's capacity does not apply (H5).
        if hash == self.chain.head_hash() {
            let advanced = self.advance_cursor(&start, chunk.end.as_ref(), number);
            let arrived = self.now;
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
            return self.chunk_wasted(peer, request_id, number, ChunkWaste::TagPassed);
        }
        // 9. The buffer is full, in total or for this peer (H14): drop, the cursor unchanged.
        let from_peer = self.state.per_peer.get(&peer).copied().unwrap_or(0);
        if self.state.size >= self.config.buffer_max || from_peer >= self.config.chunk_buffer_per_peer_max {
            return self.chunk_wasted(peer, request_id, number, ChunkWaste::BufferFull);
        }
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
        // 1. Complete, or an older generation: drop unread.
        if self.state.cursor == Cursor::Complete || generation != self.state.generation {
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
        let violation = if chunk.items.len() > limit as usize {
            Some(Violation::ChunkOverLimit)
        } else if (chunk.items.is_empty() && chunk.end.is_some()) || end_not_after_start {
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
        let list = self.state.buffer.get(&(number, hash));
        if list.and_then(|list| list.last()).is_some_and(|last| chunk.start <= last.start) {
            // A new chain of chunks has begun for this block: the old list goes.
            let discarded = self.state.take(number, hash);
            self.discard_chunks(discarded, number, ChunkWaste::Replaced);
        }
        chunk.bytes = chunk.chunk.encoded_len() as u32;
        self.state.add(number, hash, chunk, self.config.buffer_max, self.config.chunk_buffer_per_peer_max);
    }

    /// Moves the cursor past a chunk requested at the cursor's start; other hedged requests for that start are
    /// forgotten (the first acceptable answer wins). Returns whether it moved.
    fn advance_cursor(&mut self, start: &Key, end: Option<&Key>, number: u32) -> bool {
        let Cursor::Continue(k) = &self.state.cursor else { return false };
        let effective = match self.chain.trie().missing_start() {
            Some(missing) if missing > k => missing,
            _ => k,
        };
        if start != effective {
            return false;
        }
        self.state.cursor = match end {
            Some(end) => Cursor::Continue(end.clone()),
            None => Cursor::Paused(number),
        };
        self.state.attempts = 0;
        self.state.wasted_in_row = 0;
        let generation = self.state.generation;
        let start = start.clone();
        self.requests.forget(
            |o| matches!(&o.purpose, Purpose::Chunk { start: s, generation: g, .. } if *s == start && *g == generation),
        );
        true
    }

    /// Commits chunks in order against `block_hash`, which must be the head (§4.5 "When chunks are
    /// committed"). Each commit is atomic; the first error stops the rest.
    pub(crate) fn commit_chunks(&mut self, block_hash: Hash, chunks: Vec<BufferedChunk>) {
        let number = self.chain.block(&block_hash).map_or(self.chain.head_number(), |block| block.number());
        let mut committed = 0u32;
        let mut rest = chunks.into_iter();
        while let Some(buffered) = rest.next() {
            let (peer, request_id) = (buffered.peer, buffered.request_id);
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
                }
                Some(Ok(ChunkApplied::Ignored(Ignored::Stale))) => {
                    self.waste(peer, request_id, number, ChunkWaste::Stale)
                }
                Some(Err(ChunkError::AlreadyComplete)) => self.waste(peer, request_id, number, ChunkWaste::Completed),
                Some(Ok(ChunkApplied::Ignored(Ignored::Gap))) => {
                    self.waste(peer, request_id, number, ChunkWaste::Gap);
                    self.reset_chunks(ResetReason::Gap);
                    self.waste_rest(rest, number);
                    break;
                }
                Some(Err(ChunkError::Invalid(_) | ChunkError::RootMismatch { .. })) => {
                    self.waste(peer, request_id, number, ChunkWaste::Rejected);
                    self.penalize(peer, Violation::ChunkRejected);
                    self.reset_chunks(ResetReason::ChunkRejected);
                    self.waste_rest(rest, number);
                    break;
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

    /// The chunks of a push left after one of them reset the chunk chain.
    fn waste_rest(&mut self, rest: impl Iterator<Item = BufferedChunk>, number: u32) {
        for chunk in rest {
            self.waste(chunk.peer, chunk.request_id, number, ChunkWaste::AfterReset);
        }
    }

    /// Chunks buffered for block `number` leave uncommitted, for `waste`. If one had advanced the cursor in this
    /// generation and starts at or beyond `s`, the chain of chunks has a hole: reset at once (H8, H15, H21).
    pub(crate) fn discard_chunks(&mut self, chunks: Vec<BufferedChunk>, number: u32, waste: ChunkWaste) {
        for chunk in &chunks {
            self.peers.note_chunk(chunk.peer, false);
            self.waste(chunk.peer, chunk.request_id, number, waste);
        }
        let missing = self.chain.trie().missing_start().cloned();
        let hole = chunks.iter().any(|chunk| {
            chunk.advanced
                && chunk.generation == self.state.generation
                && missing.as_ref().is_some_and(|s| chunk.start >= *s)
        });
        if hole {
            self.reset_chunks(ResetReason::ChunkDiscarded);
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
        if let Cursor::Continue(k) = &self.state.cursor {
            if let Some(missing) = self.chain.trie().missing_start().filter(|missing| *missing > k) {
                self.state.cursor = Cursor::Continue(missing.clone());
            }
        }
    }

    /// After every push: `Paused(n)` with the head past `n` resets; a complete trie completes (§4.8).
    pub(crate) fn update_completion(&mut self) {
        self.normalize_cursor();
        if self.chain.trie().is_complete() {
            if self.state.cursor != Cursor::Complete {
                self.state.cursor = Cursor::Complete;
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
        if self.state.cursor == Cursor::Complete {
            // A rebranch took the trie back below completion (§4.8).
            self.state.cursor = Cursor::Reset;
            self.emit(Event::StateReset);
            self.state.generation += 1;
            self.stats.resets += 1;
            self.emit(Event::ChunkChainReset { reason: ResetReason::Rebranch });
            return;
        }
        if let Cursor::Paused(n) = self.state.cursor {
            if self.chain.head_number() > n {
                self.reset_chunks(ResetReason::PausedPassed);
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
        match &state.cursor {
            Cursor::Complete => {
                assert!(self.chain.trie().is_complete(), "S2: Complete implies a complete trie");
                assert_eq!(state.size, 0, "S2: Complete implies an empty buffer");
                assert!(chunk_requests.is_empty(), "S2: Complete implies no chunk requests");
            }
            Cursor::Continue(k) => {
                let missing = self.chain.trie().missing_start();
                assert!(missing.is_some_and(|s| s <= k), "S4: Continue(k) implies s ≤ k on an incomplete trie");
            }
            Cursor::Paused(n) => {
                assert!(*n <= head_number + self.config.window_ahead_max, "S4: Paused within the window")
            }
            Cursor::Reset => {}
        }
    }
}
