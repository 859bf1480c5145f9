//! L1's bound and the sustainable block rate of the liveness phase (§5.2, §7.5): how long the node may take
//! once faults end, and how fast the chain may go so that any strategy can finish at all.

use crate::network::Network;
use crate::options::Options;
use sync_core::Config;

/// How the world's options and network pace a run.
#[derive(Clone, Copy, Debug)]
pub struct Pace<'a> {
    pub options: &'a Options,
    pub config: &'a Config,
    pub network: &'a Network,
}

/// How long the host waits before reconnecting a peer the engine dropped as Behind or Ahead.
pub const RECONNECT_MS: u64 = 1_000;

impl Pace<'_> {
    /// L1's bound (§5.2), from the options, for a state of `accounts` at the tip and a node `behind` blocks
    /// behind it when the phase starts. The download: the state plus 50 % headroom, at the conservative rate of
    /// `download_items_per_second` halved (the liveness block rate lets state growth eat at most half of it),
    /// doubled again for resets and hedges. Slack: every peer that can stall a request (slow, silent, byzantine)
    /// costs up to `attempts_max` timeouts at the longest adaptive deadline (`request_timeout_max_ms`); a diff
    /// round's longest backoff; one `chunk_buffer_wait_ms` per byzantine peer (tags naming blocks that never
    /// come), and with the reference's tag rule one per chunk a liar answers; ten block intervals (the last chunks wait for their blocks, catch-up batches); every block the node
    /// lacks, with its diff; reconnection; and 20 s.
    pub fn liveness_bound_ms(&self, accounts: usize, behind: u64) -> u64 {
        let (options, config) = (self.options, self.config);
        let accounts = (accounts as f64 * 1.5).max(1.0) + 2.0 * f64::from(config.chunk_size_max);
        let download = (4.0 * accounts / self.download_items_per_second() * 1000.0) as u64;
        let stalling = u64::from(options.slow_peers + options.silent_peers) + options.byzantine.len() as u64;
        let timeouts = (1 + stalling) * u64::from(config.attempts_max) * config.request_timeout_max_ms;
        let liars = options.byzantine.len() as u64;
        let mut tags = liars * (config.chunk_buffer_wait_ms + config.request_timeout_ms);
        if !config.chunk_tags_vouched && liars > 0 {
            // The reference's tag rule (H14): any chunk a liar answers can move the cursor onto a block that never
            // comes, and each such hijack costs up to a buffer wait before its expiry resets the chain; a liar
            // answers its share of the chunk requests (explore seed 10030715: 189 resets over 334 chunks).
            let chunks = (accounts / f64::from(config.chunk_size_max.max(1))) as u64 + 1;
            let peers = u64::from(options.honest_peers + options.slow_peers + options.silent_peers) + liars;
            tags += chunks * liars / peers.max(1) * config.chunk_buffer_wait_ms;
        }
        let blocks = 10 * (self.block_time_ms(true) + options.block_time_jitter_ms);
        let catch_up = 2 * behind * self.catch_up_ms_per_block();
        download + timeouts + config.diff_backoff_max_ms + tags + blocks + catch_up + RECONNECT_MS + 20_000
    }

    /// The block interval: as drawn during the safety phase; in the liveness phase no faster than the
    /// "sustainable rate" of §7.5, the slowest of five limits. The diff pipeline: twice the time
    /// `diff_requests_in_flight` diffs take per round trip (L1's own assumption). The responders: half the diffs
    /// the honest peers serve under their rate limit (one honest peer serves 100 diffs per 10 s: a block every
    /// 100 ms outran it for ever, explore seed 119). The download: a block may add at most half as many accounts
    /// as the download fetches meanwhile. The block fetch: twice the time one missing-blocks answer of `bpb`
    /// blocks takes per block (a node behind learns the blocks it must push a batch per round trip; with the
    /// diffs of sixteen lanes at once, a block every 57 ms outran four blocks per 330 ms round trip for ever:
    /// explore seeds 200004525 and 210020679, and 27 more in 200 M..+50 000 and 210 M..+50 000). The block
    /// buffer: one small missing-blocks round trip per `block_buffer_max + 1` blocks. A node a few blocks behind
    /// follows by fetching up to the head announced when it asks, and keeps at most `block_buffer_max` blocks
    /// announced meanwhile; unless an answer lands before more blocks than that come, the next announcement's
    /// parent is never held, and the node stays a round trip behind for good (explore seed 700034738: a buffer
    /// of one, 385 ms round trips, a block every 100 ms; no margin here, so that seed 260002152, which sits at
    /// this limit, still fails without its own fix). Otherwise no strategy finishes (H12). A faster chain is a
    /// different experiment: the efficiency sweep explores it, and L1 does not promise it.
    pub fn block_time_ms(&self, liveness: bool) -> u64 {
        let (options, config) = (self.options, self.config);
        if !liveness {
            return options.block_time_ms;
        }
        let diff_limit = 2 * self.diff_round_trip_ms() / self.diffs_parallel();
        let fetch_limit = 2 * self.block_fetch_round_trip_ms() / u64::from(config.bpb.max(1));
        // A missing-blocks answer of a few blocks is as small as a diff: it takes a diff's round trip.
        let buffer_limit = self.diff_round_trip_ms() / (u64::from(config.block_buffer_max) + 1);
        let honest = u64::from(options.honest_peers.max(1) + options.slow_peers);
        let served = u64::from(config.served_diffs_per_window_max.max(1)) * honest;
        let rate_limit = (2 * config.rate_window_ms).div_ceil(served);
        let items_per_second = self.download_items_per_second();
        let growth_limit = (2.0 * f64::from(options.ops_per_block_max) / items_per_second * 1000.0) as u64;
        let limits = [diff_limit, fetch_limit, buffer_limit, rate_limit, growth_limit];
        limits.into_iter().fold(options.block_time_ms, u64::max)
    }

    /// The worst round trip of a diff request to an honest peer: slow peers answer after up to 90 % of the
    /// request timeout, and round robin reaches them too.
    pub fn diff_round_trip_ms(&self) -> u64 {
        let network = 2 * self.network.one_way_max_ms(8 * 1024) + 10;
        let slow = if self.options.slow_peers > 0 { self.config.request_timeout_ms * 9 / 10 } else { 0 };
        network + slow
    }

    /// Diff requests the node keeps in flight: `diff_requests_in_flight`, and no more than the pending blocks
    /// that wait for them.
    fn diffs_parallel(&self) -> u64 {
        let config = self.config;
        u64::from(config.diff_requests_in_flight.max(1)).min(u64::from(config.pending_blocks_max.max(1)))
    }

    /// What one block the node lacks costs it at most, the slowest of: its diff (`diff_requests_in_flight` per
    /// worst round trip), its share of a missing-blocks answer (`bpb` per such round trip), and its diff under the
    /// honest responders' rate limit. With the diff pipeline alone, sixteen diffs in flight promised a catch-up of
    /// 1 254 blocks four times faster than four responders serve diffs (explore seed 250034936).
    fn catch_up_ms_per_block(&self) -> u64 {
        let config = self.config;
        let diffs = self.diff_round_trip_ms() / self.diffs_parallel();
        let fetch = self.block_fetch_round_trip_ms() / u64::from(config.bpb.max(1));
        let honest = u64::from(self.options.honest_peers.max(1) + self.options.slow_peers);
        let served = config.rate_window_ms.div_ceil(u64::from(config.served_diffs_per_window_max.max(1)) * honest);
        diffs.max(fetch).max(served)
    }

    /// The worst round trip of a missing-blocks request for `bpb` blocks with their bodies, counted as 4 KiB a
    /// block (a generous size for a block of these worlds).
    fn block_fetch_round_trip_ms(&self) -> u64 {
        let slow = if self.options.slow_peers > 0 { self.config.request_timeout_ms * 9 / 10 } else { 0 };
        2 * self.network.one_way_max_ms(u64::from(self.config.bpb) * 4 * 1024) + 10 + slow
    }

    /// A conservative download rate: one chunk per round trip to the worst honest peer (round robin reaches the
    /// slow ones too), or the rate limit of the honest peers if that is lower.
    pub fn download_items_per_second(&self) -> f64 {
        let (options, config) = (self.options, self.config);
        let chunk = f64::from(config.chunk_size_max.max(1));
        let chunk_bytes = u64::from(config.chunk_size_max) * 96 + 8 * 1024;
        let slow = if options.slow_peers > 0 { config.request_timeout_ms * 9 / 10 } else { 0 };
        let round_trip_ms = (2 * self.network.one_way_max_ms(chunk_bytes) + 10 + slow) as f64;
        let by_latency = chunk * 1000.0 / round_trip_ms;
        let honest = f64::from(options.honest_peers.max(1) + options.slow_peers);
        let limit = f64::from(config.served_chunks_per_window_max.max(1)) * honest;
        let by_rate_limit = chunk * limit * 1000.0 / config.rate_window_ms.max(1) as f64;
        by_latency.min(by_rate_limit).max(1e-3)
    }

    /// How long the world runs after production stops, so that every message lands.
    pub fn drain_ms(&self) -> u64 {
        4 * self.network.one_way_max_ms(64 * 1024) + 4 * self.config.request_timeout_ms + 1_000
    }
}
