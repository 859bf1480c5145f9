//! Every knob of a simulated world (§7). Each has a default; [`Options::swarm`] draws all of them from a
//! seed, so a seed alone is a whole world; options print and serialize to JSON, and any knob can be overridden
//! by name (`--set loss=0.1`).

use crate::adversary::ByzantineClass;
use crate::keys::KeyShape;
use crate::prng::{Prng, Stream};
use serde::{Deserialize, Serialize};
use sync_core::Config;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Options {
    pub seed: u64,

    // ---- chain ----
    /// Accounts in the state when the node joins.
    pub accounts: u64,
    pub key_shape: KeyShape,
    /// Blocks per batch (macro blocks every `bpb`).
    pub bpb: u32,
    /// Blocks produced during the safety phase.
    pub blocks: u32,
    /// Blocks produced before the node joins; `None` draws it below `bpb` from the chain stream.
    pub lead_blocks: Option<u32>,
    pub block_time_ms: u64,
    /// Each block interval is `block_time_ms ± block_time_jitter_ms`.
    pub block_time_jitter_ms: u64,
    pub ops_per_block_max: u32,
    /// Chance that a block also deletes a whole run of consecutive accounts (a subtree).
    pub subtree_delete_chance: f64,
    /// Chance that a block event makes a fork instead of a plain extension.
    pub fork_chance: f64,
    pub fork_depth_max: u32,
    /// Chance that a fork becomes the main chain (a rebranch); otherwise it is abandoned.
    pub rebranch_chance: f64,

    // ---- peers ----
    pub honest_peers: u32,
    /// Honest peers that answer near the request timeout.
    pub slow_peers: u32,
    /// Peers that never answer.
    pub silent_peers: u32,
    /// One byzantine peer per entry.
    pub byzantine: Vec<ByzantineClass>,
    /// Chance that a byzantine peer lies on a given answer (otherwise it answers honestly).
    pub lie_chance: f64,
    /// Peers other than the first honest one join at a time drawn up to this.
    pub late_join_ms_max: u64,
    /// Mean time between a peer leaving and (after as long again) rejoining; 0 disables churn.
    pub churn_interval_ms: u64,
    /// A window during the safety phase in which every peer is gone: `[start, start + length)`; 0 disables it.
    pub all_gone_ms: u64,

    // ---- network ----
    pub latency_ms: u64,
    pub jitter_ms: u64,
    pub loss: f64,
    pub duplication: f64,
    /// Chance that a message is held back by up to `reorder_ms` extra.
    pub reorder_chance: f64,
    pub reorder_ms: u64,
    /// Bytes per millisecond per link direction; 0 means unlimited.
    pub bandwidth_bytes_per_ms: u64,
    /// The node's downlink (§4.12): every message to the node passes one inbound queue of this many bytes per
    /// millisecond, whichever peer sent it, so that parallel lanes cannot beat physics; 0 means unlimited.
    pub downlink_bytes_per_ms: u64,
    /// Partitions during the safety phase (each cuts some links for a while).
    pub partitions: u32,
    pub partition_ms_max: u64,
    /// Chance that a partition cuts one direction only.
    pub asymmetric_chance: f64,
    /// Chance that an answer is replayed later (a stale duplicate).
    pub replay_chance: f64,

    // ---- engine ----
    pub chunk_size_max: u32,
    pub chunk_requests_in_flight: u8,
    /// Lanes (§2.13, §4.12): 1, 2, 4, 8 or 16; anything else is a config error. With lanes, chunk requests in
    /// flight are at least `lanes`.
    pub lanes: u32,
    pub diff_requests_in_flight: u8,
    pub request_timeout_ms: u64,
    /// Responder rate limit on chunks per peer per window (the simulator may lower it, §3.7).
    pub served_chunks_per_window_max: u32,
    /// Chunks the node may buffer (0: the default for `bpb`); the per-peer quota follows as a quarter of it.
    pub buffer_max: u32,
    /// Blocks the node may buffer (0: the default for `bpb`); pending blocks follow it.
    pub block_buffer_max: u32,
    /// Fork blocks the node may store (0: the default for `bpb`, four batches); raised to `bpb` when lower (a
    /// rebranch needs every block of its branch, and the engine refuses less), so one value suits every `bpb`.
    pub fork_blocks_max: u32,
    /// Catch-up batches asked by height at once (0: none, as the reference).
    pub catch_up_batches: u8,
    /// The engine's `ahead_catch_up` and `chunk_tags_vouched` (`false`: the reference's behaviour).
    pub ahead_catch_up: bool,
    pub chunk_tags_vouched: bool,

    // ---- the baseline strategy (`baseline`) ----
    /// Peers keep the state of the last this many main-chain blocks below their head; older pivots are pruned.
    pub pivot_retention_blocks: u32,

    // ---- checks ----
    /// The known-part oracle (S3) and the full trie check run every this many inputs (and at the end).
    pub deep_check_every: u32,

    // ---- scripted events (named scenarios) ----
    /// Happenings at chosen heights or times, on top of everything drawn. Empty for swarm worlds.
    pub script: Vec<Scripted>,
}

/// One scripted happening of a named scenario.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum Scripted {
    /// When the canonical tip reaches `at_height`, a fork from `depth` blocks below it becomes the main chain.
    Rebranch { at_height: u32, depth: u32 },
    /// When the tip reaches `at_height`, a fork of `depth` blocks from `depth` below it appears and loses.
    AbandonedFork { at_height: u32, depth: u32 },
    /// At `at_ms`, the links to `peers` (all if empty) are cut for `for_ms`; `one_way` cuts only towards the node.
    Partition { at_ms: u64, for_ms: u64, peers: Vec<u32>, one_way: bool },
    /// At `at_ms`, `peers` (all if empty) leave the node for `for_ms`.
    Leave { at_ms: u64, for_ms: u64, peers: Vec<u32> },
}

impl Default for Options {
    /// A small world: 3 honest peers, 2 000 accounts, 100 blocks of one second, a mildly lossy network.
    fn default() -> Options {
        Options {
            seed: 0,
            accounts: 2_000,
            key_shape: KeyShape::Uniform,
            bpb: 16,
            blocks: 100,
            lead_blocks: None,
            block_time_ms: 1_000,
            block_time_jitter_ms: 200,
            ops_per_block_max: 20,
            subtree_delete_chance: 0.02,
            fork_chance: 0.1,
            fork_depth_max: 3,
            rebranch_chance: 0.5,
            honest_peers: 3,
            slow_peers: 0,
            silent_peers: 0,
            byzantine: Vec::new(),
            lie_chance: 0.5,
            late_join_ms_max: 2_000,
            churn_interval_ms: 0,
            all_gone_ms: 0,
            latency_ms: 40,
            jitter_ms: 20,
            loss: 0.01,
            duplication: 0.01,
            reorder_chance: 0.05,
            reorder_ms: 100,
            bandwidth_bytes_per_ms: 2_000,
            downlink_bytes_per_ms: 0,
            partitions: 0,
            partition_ms_max: 5_000,
            asymmetric_chance: 0.3,
            replay_chance: 0.0,
            script: Vec::new(),
            chunk_size_max: 200,
            chunk_requests_in_flight: 1,
            lanes: 1,
            diff_requests_in_flight: 5,
            request_timeout_ms: 2_000,
            served_chunks_per_window_max: 5_000,
            buffer_max: 0,
            block_buffer_max: 0,
            fork_blocks_max: 0,
            catch_up_batches: 3,
            ahead_catch_up: true,
            chunk_tags_vouched: true,
            pivot_retention_blocks: 64,
            deep_check_every: 512,
        }
    }
}

impl Options {
    /// The large world of the performance figures: 20 peers, 10⁵ accounts, 2 000 blocks.
    pub fn large() -> Options {
        Options {
            accounts: 100_000,
            blocks: 2_000,
            honest_peers: 20,
            chunk_size_max: 1_000,
            bpb: 60,
            deep_check_every: 4_096,
            ..Options::default()
        }
    }

    /// A calm small world: no drawn forks, no loss, duplication, reordering, partitions, churn or late joins,
    /// an exact block time. Named scenarios, the madsim host and the examples start from it and add the trouble
    /// they are about.
    pub fn calm() -> Options {
        Options {
            block_time_jitter_ms: 0,
            fork_chance: 0.0,
            loss: 0.0,
            duplication: 0.0,
            reorder_chance: 0.0,
            partitions: 0,
            late_join_ms_max: 0,
            ..Options::default()
        }
    }

    /// Every knob drawn from `seed`: a seed alone is a whole world.
    ///
    /// **Append-only.** The knobs are drawn in the order below, each with a fixed number of draws (a knob drawn
    /// only when a chance hits draws its value anyway). A new knob goes at the end of the list: inserted in the
    /// middle it would re-roll every knob after it, for every seed, and every recorded seed would change world.
    pub fn swarm(seed: u64) -> Options {
        let mut draw = Swarm(Prng::new(seed, Stream::Options));
        let mut o = Options { seed, ..Options::default() };
        o.accounts = draw.pick(&[0, 1, 10, 200, 1_000, 2_000, 5_000]);
        o.key_shape = draw.pick(&KeyShape::ALL);
        o.bpb = draw.pick(&[4, 8, 16, 32]);
        o.blocks = draw.range(10, 120) as u32;
        o.block_time_ms = draw.pick(&[100, 250, 500, 1_000, 2_000]);
        o.block_time_jitter_ms = draw.range(0, o.block_time_ms / 2);
        o.ops_per_block_max = draw.range(1, 40) as u32;
        o.subtree_delete_chance = draw.maybe(0.3, 0.0, |d| d.unit() * 0.1);
        o.fork_chance = draw.maybe(0.6, 0.0, |d| d.unit() * 0.4);
        o.fork_depth_max = draw.range(1, 6) as u32;
        o.rebranch_chance = draw.unit();
        o.honest_peers = draw.range(1, 6) as u32;
        o.slow_peers = draw.maybe(0.2, 0, |d| d.range(1, 2) as u32);
        o.silent_peers = draw.maybe(0.15, 0, |_| 1);
        let liars = draw.maybe(0.4, 0, |d| d.range(1, 3) as usize);
        let classes: Vec<ByzantineClass> = (0..3).map(|_| draw.pick(ByzantineClass::ALL)).collect();
        o.byzantine = classes[..liars].to_vec();
        o.lie_chance = 0.2 + draw.unit() * 0.8;
        o.late_join_ms_max = draw.range(0, 4_999);
        o.churn_interval_ms = draw.maybe(0.25, 0, |d| d.range(2_000, 20_000));
        o.all_gone_ms = draw.maybe(0.1, 0, |d| d.range(1_000, 10_000));
        o.latency_ms = draw.range(1, 150);
        o.jitter_ms = draw.range(0, 79);
        o.loss = draw.maybe(0.5, 0.0, |d| d.unit() * 0.15);
        o.duplication = draw.maybe(0.3, 0.0, |d| d.unit() * 0.1);
        o.reorder_chance = draw.maybe(0.4, 0.0, |d| d.unit() * 0.3);
        o.reorder_ms = draw.range(1, 500);
        o.bandwidth_bytes_per_ms = draw.pick(&[0, 200, 1_000, 5_000, 20_000]);
        o.partitions = draw.maybe(0.3, 0, |d| d.range(1, 3) as u32);
        o.partition_ms_max = draw.range(500, 15_000);
        o.asymmetric_chance = draw.unit();
        o.replay_chance = draw.maybe(0.2, 0.0, |d| d.unit() * 0.05);
        o.chunk_size_max = draw.pick(&[1, 3, 16, 64, 200, 1_000]);
        o.chunk_requests_in_flight = draw.range(1, 3) as u8;
        o.diff_requests_in_flight = draw.range(1, 5) as u8;
        o.request_timeout_ms = draw.range(500, 5_000);
        o.served_chunks_per_window_max = draw.maybe(0.1, 5_000, |d| d.range(5, 50) as u32);
        o.buffer_max = draw.maybe(0.15, 0, |d| d.range(1, 8) as u32);
        o.block_buffer_max = draw.maybe(0.15, 0, |d| d.range(1, 8) as u32);
        o.catch_up_batches = draw.pick(&[0, 1, 2, 3, 4]);
        o.ahead_catch_up = draw.maybe(0.15, true, |_| false);
        o.chunk_tags_vouched = draw.maybe(0.15, true, |_| false);
        o.draw_extremes(&mut draw);
        // New knobs go here, after every knob above.
        // Lanes: one world in three keeps the reference's single lane, so it stays under test.
        o.lanes = draw.pick(&[1, 1, 2, 4, 8, 16]);
        o.downlink_bytes_per_ms = draw.pick(&[0, 0, 1_000, 5_000, 20_000]);
        // One world in six stores one or two batches of fork blocks, not four, so that forky worlds overflow the
        // bound: with four, only a world of 36 % forks did (explore seed 700019374, where the lowest-first bound
        // lost an honest branch), and no default seed.
        o.fork_blocks_max = draw.maybe(1.0 / 6.0, 0, |d| d.range(1, 2) as u32 * o.bpb);
        o
    }

    /// Each knob's far end with a real chance, over what was drawn above: liars that lie on every answer, a
    /// peer that withholds every diff for ever, a single honest peer and nothing else, chunks of the largest
    /// size, a clock without jitter, the fastest chain, the tightest diff pipeline, the most hedging, the
    /// lossiest network. (Not a deadline below the round trip: no engine can work with one.) The
    /// ranges above reach some ends only by luck (`lie_chance` was drawn below 1.0: a diff asked for ever of a
    /// peer that always withholds it passed 2 000 seeds untouched).
    fn draw_extremes(&mut self, draw: &mut Swarm) {
        self.lie_chance = draw.maybe(0.15, self.lie_chance, |_| 1.0);
        let withholder = draw.maybe(0.1, false, |_| true);
        if withholder && self.byzantine.len() < 4 {
            self.byzantine.push(ByzantineClass::WithholdDiff);
        }
        if draw.maybe(0.05, false, |_| true) {
            (self.honest_peers, self.slow_peers, self.silent_peers) = (1, 0, 0);
            self.byzantine.clear();
        }
        self.chunk_size_max = draw.maybe(0.05, self.chunk_size_max, |_| sync_core::trie::CHUNK_ITEMS_MAX as u32);
        if draw.maybe(0.1, false, |_| true) {
            (self.jitter_ms, self.block_time_jitter_ms) = (0, 0);
        }
        self.block_time_ms = draw.maybe(0.05, self.block_time_ms, |_| 50);
        self.block_time_jitter_ms = self.block_time_jitter_ms.min(self.block_time_ms / 2);
        self.diff_requests_in_flight = draw.maybe(0.1, self.diff_requests_in_flight, |_| 1);
        self.chunk_requests_in_flight = draw.maybe(0.05, self.chunk_requests_in_flight, |_| 4);
        self.loss = draw.maybe(0.05, self.loss, |_| 0.3);
        // One world in eight is calm: nothing in it can waste work, so its efficiency is judged (§7.9).
        if draw.maybe(0.125, false, |_| true) {
            self.make_calm();
        }
    }

    /// Turns off everything that can waste the node's work: liars, slow and silent peers, loss, duplication,
    /// reordering, replays, partitions, churn, the all-gone window and forks (`oracle::calm::is_quiet`).
    pub fn make_calm(&mut self) {
        self.byzantine.clear();
        (self.slow_peers, self.silent_peers) = (0, 0);
        (self.loss, self.duplication, self.reorder_chance, self.replay_chance) = (0.0, 0.0, 0.0, 0.0);
        (self.partitions, self.churn_interval_ms, self.all_gone_ms) = (0, 0, 0);
        self.fork_chance = 0.0;
        self.honest_peers = self.honest_peers.max(1);
    }

    /// The engine configuration these options imply: the protocol's defaults scaled to `bpb` (§4.11), with the knobs above.
    pub fn engine_config(&self) -> Config {
        let mut config = Config::scaled(self.bpb);
        config.chunk_size_max = self.chunk_size_max.clamp(1, sync_core::trie::CHUNK_ITEMS_MAX as u32);
        config.chunk_requests_in_flight = self.chunk_requests_in_flight.max(1);
        config.diff_requests_in_flight = self.diff_requests_in_flight.max(1);
        config = config.with_lanes(self.lanes);
        config.request_timeout_ms = self.request_timeout_ms.max(1);
        // Adaptive deadlines grow to four times the drawn timeout, as the defaults do (10 s → 40 s).
        config.request_timeout_max_ms = 4 * config.request_timeout_ms;
        config.served_chunks_per_window_max = self.served_chunks_per_window_max;
        if self.buffer_max > 0 {
            config.buffer_max = self.buffer_max;
            config.chunk_buffer_per_peer_max = (self.buffer_max / 4).max(1);
        }
        if self.block_buffer_max > 0 {
            config.block_buffer_max = self.block_buffer_max;
            config.pending_blocks_max = self.block_buffer_max.max(2 * config.bpb);
        }
        if self.lanes > 1 && self.buffer_max == 0 {
            config.chunk_buffer_per_peer_max = config.chunk_buffer_per_peer_max.max(self.lanes).min(config.buffer_max);
        }
        if self.fork_blocks_max > 0 {
            config.fork_blocks_max = self.fork_blocks_max.max(config.bpb);
        }
        config.catch_up_batches_in_flight = self.catch_up_batches;
        config.ahead_catch_up = self.ahead_catch_up;
        config.chunk_tags_vouched = self.chunk_tags_vouched;
        config
    }

    /// Peers in the world: honest, slow, silent, then byzantine.
    pub fn peer_count(&self) -> u32 {
        self.honest_peers + self.slow_peers + self.silent_peers + self.byzantine.len() as u32
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    /// Overrides one knob by name: `value` is read as JSON, or as a string if it is not JSON.
    pub fn set(&mut self, name: &str, value: &str) -> Result<(), String> {
        let mut json = serde_json::to_value(&*self).map_err(|error| error.to_string())?;
        let object = json.as_object_mut().ok_or("options are an object")?;
        if !object.contains_key(name) {
            return Err(format!(
                "no knob named {name:?}; knobs: {}",
                object.keys().cloned().collect::<Vec<_>>().join(", ")
            ));
        }
        let word =
            |value: &str| serde_json::from_str(value).unwrap_or_else(|_| serde_json::Value::String(value.into()));
        // A list knob also takes plain comma-separated words (`byzantine=wrong_proof,zero_progress`), not only
        // JSON: a bare name was an opaque "expected a sequence".
        let parsed = match serde_json::from_str(value) {
            Ok(parsed) => parsed,
            Err(_) if object[name].is_array() => serde_json::Value::Array(
                value.split(',').filter(|part| !part.trim().is_empty()).map(|part| word(part.trim())).collect(),
            ),
            Err(_) => serde_json::Value::String(value.to_string()),
        };
        object.insert(name.to_string(), parsed);
        *self = serde_json::from_value(json).map_err(|error| format!("{name}={value}: {error}"))?;
        self.validate()
    }

    /// What `Options` can hold but no world can run: a lane count outside 1, 2, 4, 8, 16. A clear error, never
    /// a panic (the engine refuses such a config too).
    pub fn validate(&self) -> Result<(), String> {
        sync_core::trie::Lanes::new(self.lanes).map(|_| ()).map_err(|error| error.to_string())
    }
}

/// The swarm's draws: each takes a fixed number of draws from the options stream, whatever it yields.
struct Swarm(Prng);

impl Swarm {
    fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        let index = self.0.below(items.len() as u64) as usize;
        items[index]
    }

    fn range(&mut self, low: u64, high: u64) -> u64 {
        self.0.range(low, high)
    }

    fn unit(&mut self) -> f64 {
        self.0.unit()
    }

    /// `value` with probability `p`, `otherwise` else; `value` is drawn either way, so the draws that follow
    /// never depend on the coin.
    fn maybe<T>(&mut self, p: f64, otherwise: T, value: impl FnOnce(&mut Swarm) -> T) -> T {
        let hit = self.0.chance(p);
        let drawn = value(self);
        if hit {
            drawn
        } else {
            otherwise
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn swarm_draws_a_whole_world_from_a_seed() {
        assert_eq!(Options::swarm(5), Options::swarm(5));
        let distinct: std::collections::BTreeSet<String> = (0..50).map(|seed| Options::swarm(seed).to_json()).collect();
        assert_eq!(distinct.len(), 50);
        assert!((0..200).any(|seed| !Options::swarm(seed).byzantine.is_empty()), "some worlds have liars");
    }

    /// The append-only rule, checked: every knob takes a fixed number of draws, so the draws after the swarm's
    /// last knob are the same for every seed's stream position... measured as: a world whose knobs all hit their
    /// chances and one whose knobs all miss leave their streams at the same position.
    #[test]
    fn every_knob_takes_a_fixed_number_of_draws() {
        let position = |p: f64| {
            let mut draw = Swarm(Prng::new(1, Stream::Options));
            for _ in 0..5 {
                draw.maybe(p, 0, |d| d.range(1, 3));
                draw.maybe(p, 0.0, |d| d.unit());
            }
            draw.0.next_u64()
        };
        assert_eq!(position(0.0), position(1.0));
        assert!((0..100).all(|seed| Options::swarm(seed).byzantine.len() <= 3));
    }

    #[test]
    fn options_round_trip_through_json_and_take_overrides() {
        let options = Options::swarm(11);
        let back: Options = serde_json::from_str(&options.to_json()).unwrap();
        assert_eq!(back, options);
        let mut options = Options::default();
        options.set("loss", "0.25").unwrap();
        options.set("key_shape", "clustered").unwrap();
        options.set("byzantine", r#"["wrong_proof","zero_progress"]"#).unwrap();
        assert_eq!(options.loss, 0.25);
        assert_eq!(options.key_shape, KeyShape::Clustered);
        assert_eq!(options.byzantine, [ByzantineClass::WrongProof, ByzantineClass::ZeroProgress]);
        options.set("byzantine", "one_lane, cross_lane").unwrap();
        assert_eq!(options.byzantine, [ByzantineClass::OneLane, ByzantineClass::CrossLane], "plain words for a list");
        options.set("byzantine", "").unwrap();
        assert!(options.byzantine.is_empty());
        assert!(options.set("byzantine", "no_such_liar").is_err());
        assert!(options.set("no_such_knob", "1").unwrap_err().contains("no knob"));
        assert!(options.set("loss", "\"lots\"").is_err());
    }
}
