//! Every bound and timing of the engine, named (§4.11): every queue and buffer has one. Noun first, unit last.

use crate::trie::CHUNK_ITEMS_MAX;
use crate::wire::BPB_MAX;

/// The lane count we recommend for a node that downloads state (§4.12), chosen from `sim sweep lanes`
/// (BENCHMARKS.md, "Lanes"): the fastest at p50 with three and six honest peers, and within 1.3× of the best with
/// one. [`Config::reference`] keeps 1, the reference's single chain of chunks.
pub const LANES_RECOMMENDED: u32 = 16;

/// The engine's configuration. [`Config::reference`] is the reference's production setting; [`Config::scaled`]
/// scales every batch-relative bound to a small `bpb` for tests and simulations.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    /// Blocks per batch: every block whose number is a multiple of it is a macro block.
    pub bpb: u32,
    /// Chunks in the chunk buffer, in total (§4.5; the reference's name).
    pub buffer_max: u32,
    /// Chunks one peer may have in the buffer (H14).
    pub chunk_buffer_per_peer_max: u32,
    /// Blocks and chunks above `h + window_ahead_max` are Ahead.
    pub window_ahead_max: u32,
    /// Ours: an announcement beyond the window starts a catch-up (missing blocks from our head to it, batch by
    /// batch) instead of dropping the peer as Ahead, so a node cut off for longer than the window recovers.
    /// `false` is the reference: drop the block, remove the peer, `PeerAhead`.
    pub ahead_catch_up: bool,
    /// Ours (H14): only a chunk whose tag some peer vouched for (an announced head, a block pending, buffered or
    /// fetched) moves the cursor; another is buffered without moving it, and the start is asked of the next
    /// peer. `false` is the reference: every buffered chunk moves the cursor.
    pub chunk_tags_vouched: bool,
    /// Blocks and chunks below `h − tolerate_past_max` are Behind.
    pub tolerate_past_max: u32,
    /// Announced and requested blocks carry bodies (needed to execute once complete).
    pub include_body: bool,
    /// Items per chunk request; it counts items, not bytes.
    pub chunk_size_max: u32,
    /// Ours (§4.5): the least the adaptive chunk limit shrinks to when chunks keep arriving after the head has
    /// passed their tag (capped by `chunk_size_max`).
    pub chunk_size_min: u32,
    /// Chunk requests outstanding at once; more than 1 hedges the same start on several peers.
    pub chunk_requests_in_flight: u8,
    /// Ours (§2.13, §4.12): key space split into this many lanes, 1, 2, 4, 8 or 16, each its own chain of chunks
    /// with at most one request outstanding; 1 is the reference. `chunk_requests_in_flight` bounds them all.
    pub lanes: u32,
    /// Ours (§4.12): with lanes, chunk requests one peer may hold at once when no peer is free. Enough to keep a
    /// link busy over a round trip (the lanes sweep: all eight lanes on the first peer to join held back the two
    /// that joined a moment later for the whole first round; 6 rather than 4 let one peer's link carry sixteen
    /// lanes 1.4× the lower bound instead of 2.0×, BENCHMARKS.md "Lanes").
    pub chunk_requests_per_peer_max: u8,
    pub missing_block_requests_in_flight: u8,
    /// Ours: catch-up batches asked by height at once, beyond the one the missing-blocks fetch brings (0: none,
    /// as the reference). Each also needs `bpb` free slots of the block buffer while in flight.
    pub catch_up_batches_in_flight: u8,
    pub diff_requests_in_flight: u8,
    /// The deadline of a request attempt to a peer without history, and the least one to any peer.
    pub request_timeout_ms: u64,
    /// Ours: the most a request's deadline can grow to. Each peer's deadline follows its measured round trips
    /// (`srtt + 4·rttvar`, as TCP does) and doubles after each timeout until an answer comes: a fixed timeout
    /// below a link's round trip times out every chunk request for ever (found by the simulator, seed 311).
    pub request_timeout_max_ms: u64,
    /// Attempts per request are `clamp(peers, attempts_min, attempts_max)` (§4.2).
    pub attempts_min: u32,
    pub attempts_max: u32,
    /// The first wait after a diff round failed on every peer; doubles up to `diff_backoff_max_ms`.
    pub diff_backoff_ms: u64,
    pub diff_backoff_max_ms: u64,
    /// Diff rounds before a block is given up (`DiffUnavailable`, H10).
    pub diff_rounds_max: u32,
    /// The wait before a chunk start that exhausted its attempts is requested again.
    pub chunk_retry_backoff_ms: u64,
    /// A buffered chunk whose block has not arrived after this long is discarded (a reset if it had advanced the
    /// cursor): a tag naming a block that never comes cannot stall a still chain (H14, H15).
    pub chunk_buffer_wait_ms: u64,
    /// A peer that answered `IncompleteState` gets no chunk request for this long (H23).
    pub incomplete_state_cooldown_ms: u64,
    /// Ours: a peer whose request timed out is skipped by every request scheduler for this long, unless no other
    /// peer is left. Not a penalty (timeouts never are): a silent peer otherwise costs a timeout per round.
    pub unresponsive_cooldown_ms: u64,
    /// Ours: a peer that answered `RateLimited` gets no request of any kind for this long, and the attempt does
    /// not count. Counted as a failed round instead, it doubled a diff's backoff up to `diff_backoff_max_ms` while
    /// the only honest peer was merely busy, and the node fell behind for good (found by the simulator, seed
    /// 4008027).
    pub rate_limited_cooldown_ms: u64,
    /// Announced blocks one peer may have buffered per height.
    pub announced_per_peer_per_height: u8,
    /// Blocks in the block buffer (H14; the reference has no bound).
    pub block_buffer_max: u32,
    /// Blocks handed downstream but not yet pushed (waiting for a diff).
    pub pending_blocks_max: u32,
    /// Proven violations before a peer is evicted.
    pub penalty_evict_threshold: u32,
    /// Rejected block hashes remembered.
    pub rejected_hashes_max: u32,
    /// Fork blocks stored above the latest macro block; at least `bpb`, so that any one fork branch fits (a
    /// branch never spans a macro height, so it has fewer than `bpb` blocks, and a rebranch needs all of them).
    pub fork_blocks_max: u32,
    /// Main-chain blocks kept below the latest macro block (for locators and serving missing blocks).
    pub chain_retention_blocks: u32,
    /// Peers in the peer set; further joins are refused.
    pub peers_max: u32,
    /// Responder rate limits: requests per peer per `rate_window_ms` (§3.7).
    pub rate_window_ms: u64,
    pub served_chunks_per_window_max: u32,
    pub served_diffs_per_window_max: u32,
    pub served_missing_blocks_per_window_max: u32,
}

/// A configuration that cannot work.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigError(pub &'static str);

impl Config {
    /// The reference's production values (`bpb` = 60).
    pub fn reference() -> Config {
        Config::scaled(60)
    }

    /// Every batch-relative bound of §4.11 scaled to `bpb`; the rest as in the reference.
    pub fn scaled(bpb: u32) -> Config {
        let bpb = bpb.clamp(1, BPB_MAX);
        let buffer_max = 10 * bpb;
        let window_ahead_max = 2 * bpb;
        Config {
            bpb,
            buffer_max,
            chunk_buffer_per_peer_max: (buffer_max / 4).max(1),
            window_ahead_max,
            ahead_catch_up: true,
            chunk_tags_vouched: true,
            tolerate_past_max: bpb,
            include_body: true,
            chunk_size_max: 1000,
            chunk_size_min: 16,
            chunk_requests_in_flight: 1,
            lanes: 1,
            chunk_requests_per_peer_max: 6,
            missing_block_requests_in_flight: 5,
            catch_up_batches_in_flight: 3,
            diff_requests_in_flight: 5,
            request_timeout_ms: 10_000,
            request_timeout_max_ms: 40_000,
            attempts_min: 4,
            attempts_max: 12,
            diff_backoff_ms: 1_000,
            diff_backoff_max_ms: 30_000,
            diff_rounds_max: 6,
            chunk_retry_backoff_ms: 1_000,
            chunk_buffer_wait_ms: 30_000,
            incomplete_state_cooldown_ms: 10_000,
            unresponsive_cooldown_ms: 30_000,
            rate_limited_cooldown_ms: 1_000,
            announced_per_peer_per_height: 5,
            block_buffer_max: 2 * window_ahead_max,
            pending_blocks_max: 2 * window_ahead_max,
            penalty_evict_threshold: 1,
            rejected_hashes_max: 4 * bpb,
            fork_blocks_max: 4 * bpb,
            chain_retention_blocks: 2 * bpb,
            peers_max: 64,
            rate_window_ms: 10_000,
            served_chunks_per_window_max: 5_000,
            served_diffs_per_window_max: 100,
            served_missing_blocks_per_window_max: 1_000,
        }
    }

    /// `lanes` lanes (§4.12), with the bounds lanes need raised to match: a request outstanding for every lane at
    /// once (`chunk_requests_in_flight`), and the diffs of as many blocks at once (`diff_requests_in_flight`), so
    /// that a node that joins behind fetches the diffs of the blocks it lacks in one round trip rather than three
    /// while its lanes download (sixteen lanes over three peers: 1.70× → 1.54× the lower bound at p50). Each peer
    /// holds no more diff requests than its own window, learned from its `RateLimited` answers (§4.4): without it,
    /// each peer whose throttle ended drew all sixteen diffs at once, over its responder's limit again, and the
    /// node fell behind for good (explore seed 250034936). Bounds already higher stay; `lanes` = 1 changes nothing
    /// else.
    pub fn with_lanes(mut self, lanes: u32) -> Config {
        self.lanes = lanes;
        if lanes > 1 {
            let lanes = u8::try_from(lanes).unwrap_or(u8::MAX);
            self.chunk_requests_in_flight = self.chunk_requests_in_flight.max(lanes);
            self.diff_requests_in_flight = self.diff_requests_in_flight.max(lanes);
        }
        self
    }

    pub fn validate(&self) -> Result<(), ConfigError> {
        let checks = [
            (self.bpb >= 1 && self.bpb <= BPB_MAX, "bpb in 1..=BPB_MAX"),
            (self.chunk_size_max >= 1 && self.chunk_size_max as usize <= CHUNK_ITEMS_MAX, "chunk_size_max"),
            (self.chunk_size_min >= 1, "chunk_size_min ≥ 1"),
            (self.chunk_requests_in_flight >= 1, "chunk_requests_in_flight ≥ 1"),
            (crate::trie::Lanes::new(self.lanes).is_ok(), "lanes is one of 1, 2, 4, 8, 16"),
            (self.chunk_requests_per_peer_max >= 1, "chunk_requests_per_peer_max ≥ 1"),
            (self.diff_requests_in_flight >= 1, "diff_requests_in_flight ≥ 1"),
            (self.missing_block_requests_in_flight >= 1, "missing_block_requests_in_flight ≥ 1"),
            (self.attempts_min >= 1 && self.attempts_min <= self.attempts_max, "attempts_min ≤ attempts_max"),
            (self.request_timeout_ms >= 1, "request_timeout_ms ≥ 1"),
            (self.request_timeout_max_ms >= self.request_timeout_ms, "request_timeout_max_ms ≥ request_timeout_ms"),
            (self.diff_rounds_max >= 1, "diff_rounds_max ≥ 1"),
            (self.penalty_evict_threshold >= 1, "penalty_evict_threshold ≥ 1"),
            (self.buffer_max >= 1 && self.chunk_buffer_per_peer_max >= 1, "chunk buffer bounds ≥ 1"),
            (self.block_buffer_max >= 1, "block_buffer_max ≥ 1"),
            (self.pending_blocks_max >= self.bpb, "pending_blocks_max ≥ bpb: a catch-up batch must fit"),
            (self.fork_blocks_max >= self.bpb, "fork_blocks_max ≥ bpb: any one fork branch must fit"),
            (self.window_ahead_max >= 1, "window_ahead_max ≥ 1"),
            (self.peers_max >= 1, "peers_max ≥ 1"),
        ];
        match checks.iter().find(|(ok, _)| !ok) {
            Some((_, what)) => Err(ConfigError(what)),
            None => Ok(()),
        }
    }

    /// The most bytes the chunk buffer can hold: `buffer_max` chunks of at most `chunk_size_max` items, each
    /// at its largest encoding. Not a separate knob: it follows from the two item bounds, and the simulator
    /// checks the engine against it.
    pub fn chunk_buffer_bytes_bound(&self) -> u64 {
        u64::from(self.buffer_max) * crate::trie::Chunk::encoded_len_max(self.chunk_size_max as usize) as u64
    }

    /// `clamp(peers, attempts_min, attempts_max)`.
    pub fn attempts(&self, peers: usize) -> u32 {
        (peers as u32).clamp(self.attempts_min, self.attempts_max)
    }
}
