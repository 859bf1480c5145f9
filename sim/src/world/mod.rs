//! One seeded world and its event loop (§7, STYLE §6): the chain and its peers (`crate::stage`), the
//! network, and the syncing node under test. A run has a safety phase with faults, then a liveness phase in which
//! the node must complete within a bound, then final checks; the oracle (`crate::oracle`) judges it after every
//! input the node takes, and the adversary (`crate::adversary`) tells the lies. Nothing here reads a clock or
//! starts a thread.
//!
//! - `mod.rs`: the world, its schedule, the loop, the phases;
//! - `chain.rs`: block production and delivery to the peers;
//! - `node.rs`: the node under test: its inputs, its outputs, its connections;
//! - `peers.rs`: the peers' answers and the liars' own moves.

mod chain;
mod node;
mod peers;

use crate::adversary::moves;
use crate::network::Network;
use crate::options::{Options, Scripted};
use crate::oracle::liveness::Pace;
use crate::oracle::{self, Oracle, Verdict};
use crate::outcome::{Failure, FailureClass, RunOutcome, RunStats};
use crate::peer::PeerKind;
use crate::prng::{Prng, Stream};
use crate::stage::{Clock, Stage};
use crate::svg::Timeline;
use crate::trace::Trace;
use node::{Connection, Delivery, Node};
use std::collections::BTreeMap;
use std::sync::Arc;
use sync_core::responder::RateLimiter;
use sync_core::wire::Request;
use sync_core::{Config, Event, Hash, Input, Key, PeerId, SyncEngine, Trie};

/// After completion, the node keeps following the chain for this many blocks (L3), then production stops.
const FOLLOW_BLOCKS: u64 = 3;

#[derive(Clone, Debug)]
enum Happening {
    Produce,
    /// A block reaches a peer from the producer.
    PeerBlock {
        peer: u32,
        hash: Hash,
    },
    /// A message reaches the node.
    ToNode {
        peer: u32,
        delivery: Delivery,
    },
    /// A request reaches a peer.
    ToPeer {
        peer: u32,
        request_id: u64,
        request: Request,
    },
    /// A peer sends what it computed for a request.
    PeerSend {
        peer: u32,
        message: Outgoing,
    },
    Wake,
    /// A byzantine peer's own initiative (announcements, unsolicited answers).
    Initiative {
        peer: u32,
    },
    /// `peer` leaves until `until`; a `churn` departure also schedules the next one.
    Leave {
        peer: u32,
        until: u64,
        churn: bool,
    },
    Return {
        peer: u32,
    },
    Reconnect {
        peer: u32,
    },
    Partition {
        peers: Vec<u32>,
        both: bool,
        to_node: bool,
        until: u64,
    },
    Liveness,
    Stop,
}

#[derive(Clone, Debug)]
enum Outgoing {
    /// An answer; `replay`: a stale copy the network replays.
    Response { request_id: u64, response: sync_core::wire::Response, replay: bool },
    /// Bytes that are no message, in answer to `request_id`.
    Bytes { request_id: u64, bytes: Vec<u8> },
}

/// What a run records besides its outcome (each costs time).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Recording {
    /// The readable trace (`replay --trace`).
    pub trace: bool,
    /// The timeline (`replay --svg`).
    pub timeline: bool,
    /// The node's events with their times (named scenarios, golden traces).
    pub events: bool,
    /// Only the trace hash is wanted: the second run of a determinism check. The checks that only observe (the
    /// engine's invariants, the host probe, the deep trie checks and the naive model) are skipped; they ran on
    /// the first run, and a second run that differs from it anywhere has another trace hash.
    pub hash_only: bool,
}

impl PeerRecord {
    fn new(id: PeerId, kind: PeerKind) -> PeerRecord {
        PeerRecord { id, kind, chunk_requests: 0, diff_requests: 0, block_requests: 0, joins: 0, leaves: 0 }
    }
}

/// A finished run and what it recorded.
#[derive(Clone, Debug)]
pub struct Recorded {
    pub outcome: RunOutcome,
    pub timeline: Option<Timeline>,
    pub trace: Option<Vec<String>>,
    /// `(simulated ms, event, chunk-buffer size after the input)`, when recorded.
    pub events: Vec<(u64, Event, u32)>,
    /// What happened between the node and each peer, in peer order.
    pub peers: Vec<PeerRecord>,
}

/// What happened between the node and one peer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PeerRecord {
    pub id: PeerId,
    pub kind: PeerKind,
    /// Requests the node sent it: chunks, diffs, missing blocks.
    pub chunk_requests: u32,
    pub diff_requests: u32,
    pub block_requests: u32,
    /// Times it connected to the node, and left it (churn, everyone gone, scripted departures).
    pub joins: u32,
    pub leaves: u32,
}

pub struct World {
    options: Options,
    config: Config,
    clock: Clock<Happening>,
    stage: Stage,
    /// Per peer: its join time and churn.
    churn: Vec<Prng>,
    network: Network,
    rate_limiters: Vec<RateLimiter>,
    node: Node,
    oracle: Oracle,
    pub trace: Trace,
    pub timeline: Option<Timeline>,
    /// The node's events with the simulated time and the chunk-buffer size after the input, when recorded.
    events: Option<Vec<(u64, Event, u32)>>,
    /// Scripted chain events already done.
    scripted_done: Vec<bool>,
    request_marks: BTreeMap<u64, usize>,
    peer_records: Vec<PeerRecord>,
    stats: RunStats,
    failure: Option<Failure>,
    liveness: bool,
    liveness_deadline: u64,
    producing: bool,
    stopped: bool,
    /// The node held the canonical tip at some point of the liveness phase.
    reached_tip: bool,
    /// When a responder last refused the node for its rate limit (`RateLimited`).
    rate_limited_at: Option<u64>,
    /// The simulated instant of the last happening, and how many happened at it.
    instant: (u64, u64),
    /// The last blocks announced to the node, with the announcement's bytes: every peer announces each block, and
    /// encoding it once is enough (at most `ANNOUNCEMENTS_KEPT`).
    announced: std::collections::VecDeque<(sync_core::block::Block, Arc<[u8]>)>,
}

/// Announcements whose bytes the world keeps, newest first.
const ANNOUNCEMENTS_KEPT: usize = 8;

/// Happenings at one simulated instant at most: more is a livelock (an engine that asks to be woken now, again
/// and again, hangs a run without time passing), and the run fails instead of hanging `explore`.
const HAPPENINGS_PER_INSTANT_MAX: u64 = 100_000;

impl std::fmt::Debug for World {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("World").field("seed", &self.options.seed).field("now", &self.clock.now).finish()
    }
}

/// The peers of a world, in order: honest (at least one), slow, silent, byzantine.
pub fn peer_kinds(options: &Options) -> Vec<PeerKind> {
    let mut kinds = Vec::new();
    kinds.extend((0..options.honest_peers.max(1)).map(|_| PeerKind::Honest));
    kinds.extend((0..options.slow_peers).map(|_| PeerKind::Slow));
    kinds.extend((0..options.silent_peers).map(|_| PeerKind::Silent));
    kinds.extend(options.byzantine.iter().map(|class| PeerKind::Byzantine(*class)));
    kinds
}

impl World {
    pub fn new(options: &Options, recording: Recording) -> World {
        let config = options.engine_config();
        let kinds = peer_kinds(options);
        let stage = Stage::new(options, &kinds);
        let genesis = stage.genesis().clone();
        let seals = Arc::new(stage.producer.sealer().clone());
        let mut node_prng = Prng::new(options.seed, Stream::Node(0));
        let engine = SyncEngine::new(config.clone(), node_prng.seed(), genesis.clone(), seals, Trie::fresh())
            .expect("options produce a valid engine config");
        let timeline = recording.timeline.then(|| Timeline {
            peers: stage.peers.iter().map(|peer| format!("{} {}", peer.id, peer.kind.label())).collect(),
            ..Timeline::default()
        });
        let peer_count = stage.peers.len();
        let mut world = World {
            network: Network::new(options),
            oracle: Oracle::new(&config, &kinds, options.deep_check_every, genesis.hash()),
            node: Node::new(engine, peer_count),
            churn: (0..peer_count as u32).map(|peer| Prng::new(options.seed, Stream::Churn(peer))).collect(),
            options: options.clone(),
            config,
            clock: Clock::default(),
            stage,
            rate_limiters: vec![RateLimiter::default(); peer_count],
            trace: Trace::new(recording.trace),
            timeline,
            events: recording.events.then(Vec::new),
            scripted_done: vec![false; options.script.len()],
            request_marks: BTreeMap::new(),
            peer_records: kinds
                .iter()
                .enumerate()
                .map(|(index, &kind)| PeerRecord::new(PeerId(index as u32 + 1), kind))
                .collect(),
            stats: RunStats::default(),
            failure: None,
            liveness: false,
            liveness_deadline: u64::MAX,
            producing: true,
            stopped: false,
            instant: (0, 0),
            announced: std::collections::VecDeque::with_capacity(ANNOUNCEMENTS_KEPT),
            reached_tip: false,
            rate_limited_at: None,
        };
        world.oracle.observing = !recording.hash_only;
        world.stats.chunk_buffer_max = u64::from(world.config.buffer_max);
        world.stats.block_buffer_max = u64::from(world.config.block_buffer_max);
        world.stats.pending_blocks_max = u64::from(world.config.pending_blocks_max);
        world.stats.chunk_buffer_bytes_max = world.config.chunk_buffer_bytes_bound();
        world.schedule_start();
        world
    }

    fn pace(&self) -> Pace<'_> {
        Pace { options: &self.options, config: &self.config, network: &self.network }
    }

    fn peer_count(&self) -> u32 {
        self.stage.peers.len() as u32
    }

    /// The safety phase: joins, churn, the first block, the all-gone window, partitions, the script. Each draws
    /// from its own stream: a peer's join and churn from `Churn(peer)`, each partition from `Partition(k)`, the
    /// all-gone window from `Faults`.
    fn schedule_start(&mut self) {
        let safety_ms = u64::from(self.options.blocks) * self.options.block_time_ms;
        for peer in 0..self.peer_count() {
            let join = self.churn[peer as usize].range(0, self.options.late_join_ms_max);
            let at = if peer == 0 { 0 } else { join };
            self.clock.schedule(at, Happening::Return { peer });
            if peer > 0 {
                self.schedule_churn(peer, at);
            }
            if let PeerKind::Byzantine(class) = self.stage.peers[peer as usize].kind {
                if moves::takes_turns(class) {
                    self.clock.schedule(at + 1, Happening::Initiative { peer });
                }
            }
        }
        self.clock.schedule(self.options.block_time_ms, Happening::Produce);
        let mut faults = Prng::new(self.options.seed, Stream::Faults);
        let gone_start = faults.below(safety_ms.saturating_sub(self.options.all_gone_ms));
        if self.options.all_gone_ms > 0 && safety_ms > self.options.all_gone_ms {
            for peer in 0..self.peer_count() {
                let until = gone_start + self.options.all_gone_ms;
                self.clock.schedule(gone_start, Happening::Leave { peer, until, churn: false });
            }
        }
        for partition in 0..self.options.partitions {
            let mut draw = Prng::new(self.options.seed, Stream::Partition(partition));
            let start = draw.below(safety_ms.max(1));
            let until = start + draw.range(1, self.options.partition_ms_max.max(1));
            let both = !draw.chance(self.options.asymmetric_chance);
            let to_node = draw.chance(0.5);
            let peers: Vec<u32> = (0..self.peer_count()).filter(|_| draw.chance(0.6)).collect();
            self.clock.schedule(start, Happening::Partition { peers, both, to_node, until });
        }
        self.schedule_script();
        self.clock.schedule(safety_ms, Happening::Liveness);
    }

    /// The next churn of `peer` after `after`: it leaves a drawn while later and comes back a drawn while after
    /// that. Drawn whether or not churn is on.
    fn schedule_churn(&mut self, peer: u32, after: u64) {
        let churn = self.options.churn_interval_ms;
        let draw = &mut self.churn[peer as usize];
        let leave_at = after + draw.range(1, 2 * churn.max(1));
        let until = leave_at + draw.range(1, churn.max(1));
        if churn > 0 {
            self.clock.schedule(leave_at, Happening::Leave { peer, until, churn: true });
        }
    }

    /// The scripted partitions and departures of a named scenario (its forks come with production).
    fn schedule_script(&mut self) {
        let everyone: Vec<u32> = (0..self.peer_count()).collect();
        let all = |peers: &Vec<u32>| if peers.is_empty() { everyone.clone() } else { peers.clone() };
        for scripted in self.options.script.clone() {
            match scripted {
                Scripted::Partition { at_ms, for_ms, peers, one_way } => {
                    let partition = Happening::Partition {
                        peers: all(&peers),
                        both: !one_way,
                        to_node: true,
                        until: at_ms + for_ms,
                    };
                    self.clock.schedule(at_ms, partition);
                }
                Scripted::Leave { at_ms, for_ms, peers } => {
                    for peer in all(&peers) {
                        self.clock.schedule(at_ms, Happening::Leave { peer, until: at_ms + for_ms, churn: false });
                    }
                }
                Scripted::Rebranch { .. } | Scripted::AbandonedFork { .. } => {}
            }
        }
    }

    /// Runs to the end: completion and final checks, or the first failure. A panic inside leaves the world as
    /// it was at that moment, so `finish` can still report where it happened.
    fn drive(&mut self) {
        while self.failure.is_none() && !self.stopped {
            let Some(happening) = self.clock.advance() else {
                let note = oracle::stall_report(&self.node.engine, &self.stage.store);
                self.fail(FailureClass::Liveness, format!("nothing left to happen: {note}"));
                break;
            };
            if self.liveness && self.clock.now > self.liveness_deadline && (self.producing || !self.oracle.complete) {
                if self.hijacked() {
                    break;
                }
                let note = oracle::stall_report(&self.node.engine, &self.stage.store);
                let deadline = self.liveness_deadline;
                let what = if self.oracle.complete { "at the tip" } else { "complete" };
                self.fail(FailureClass::Liveness, format!("not {what} by the L1 bound ({deadline} ms): {note}"));
                break;
            }
            self.instant = if self.instant.0 == self.clock.now {
                (self.clock.now, self.instant.1 + 1)
            } else {
                (self.clock.now, 1)
            };
            if self.instant.1 > HAPPENINGS_PER_INSTANT_MAX {
                let note = oracle::stall_report(&self.node.engine, &self.stage.store);
                let what = format!("livelock: {HAPPENINGS_PER_INSTANT_MAX} happenings without time passing: {note}");
                self.fail(FailureClass::Liveness, what);
                break;
            }
            self.happen(happening);
        }
        if self.failure.is_none() && !self.stats.stranded && !self.stats.hijacked {
            let bandwidth = crate::oracle::download_rate(&self.options);
            let round_trip = self.network.round_trip_floor_ms(0..self.options.honest_peers.max(1));
            let verdict =
                self.oracle.final_checks(&self.node.engine, &self.stage.store, bandwidth, round_trip, &mut self.stats);
            self.judge(verdict);
            if self.failure.is_none() {
                let (options, store) = (&self.options, &self.stage.store);
                let verdict = crate::oracle::calm::check(options, self.node.engine.config(), &mut self.stats, store);
                self.judge(verdict);
            }
        }
    }

    fn happen(&mut self, happening: Happening) {
        match happening {
            Happening::Produce => self.produce(),
            Happening::PeerBlock { peer, hash } => self.peer_block(peer, hash),
            Happening::ToNode { peer, delivery } => {
                if self.node.connection(peer) == Connection::Connected {
                    self.deliver(peer, delivery);
                }
            }
            Happening::ToPeer { peer, request_id, request } => self.peer_request(peer, request_id, request),
            Happening::PeerSend { peer, message } => self.peer_send(peer, message),
            Happening::Wake => {
                if self.node.wake == Some(self.clock.now) {
                    self.node.wake = None;
                    self.node_input(None, Input::Timeout);
                }
            }
            Happening::Initiative { peer } => self.initiative(peer),
            Happening::Leave { peer, until, churn } => self.leave(peer, until, churn),
            Happening::Return { peer } => self.connect(peer),
            Happening::Reconnect { peer } => {
                if self.node.connection(peer) == (Connection::Dropped { evicted: false }) {
                    self.connect(peer);
                }
            }
            Happening::Partition { peers, both, to_node, until } => {
                if !self.liveness {
                    for peer in peers {
                        self.network.cut(peer, both, to_node, until);
                        self.oracle.accounting.away(peer, until);
                    }
                    self.trace.note(self.clock.now, &format!("partition until {until}"));
                }
            }
            Happening::Liveness => self.start_liveness(),
            Happening::Stop => self.stopped = true,
        }
    }

    /// Faults stop, partitions heal, forking ends, everyone not evicted rejoins; the node must complete within
    /// the bound of L1 (`Pace::liveness_bound_ms`).
    fn start_liveness(&mut self) {
        self.note_chain();
        if self.stranded() {
            return;
        }
        self.liveness = true;
        self.network.heal();
        self.stats.liveness_start_ms = self.clock.now;
        let accounts = self.stage.store.tip().state.len();
        let behind = self.stage.store.tip().block.number().saturating_sub(self.node.engine.head().number());
        self.liveness_deadline = self.clock.now + self.pace().liveness_bound_ms(accounts, u64::from(behind));
        self.trace.note(self.clock.now, &format!("liveness phase, deadline {}", self.liveness_deadline));
        if let Some(timeline) = &mut self.timeline {
            timeline.liveness_ms = self.clock.now;
        }
        for peer in 0..self.peer_count() {
            if matches!(self.node.connection(peer), Connection::Away | Connection::Dropped { evicted: false }) {
                self.connect(peer);
            }
        }
    }

    /// H26: the reference (`ahead_catch_up = false`) drops every peer whose head is beyond the window, and cannot
    /// catch up from there. Until it has first reached the tip in the liveness phase, a reference node beyond
    /// the window is stranded, not failed: the run ends. After that, falling behind is the liveness check's, but
    /// for a node a responder refused for its rate limit within the last rate window: the liveness phase may
    /// begin with a responder's window spent, and the reference then stands still for up to a window while
    /// blocks come (explore seed 30017196: one honest peer, 50 blocks in the 10 s its diffs were refused).
    pub(super) fn stranded(&mut self) -> bool {
        let (tip, head) = (self.stage.store.tip().block.number(), self.node.engine.head().number());
        if head >= tip {
            self.reached_tip = true;
        }
        let refused = self.rate_limited_at.is_some_and(|at| self.clock.now <= at + self.config.rate_window_ms);
        let judged = self.reached_tip && !refused;
        if self.config.ahead_catch_up || judged || tip.saturating_sub(head) <= self.config.window_ahead_max {
            return false;
        }
        self.stats.stranded = true;
        self.trace.note(self.clock.now, &format!("stranded: the reference is {} blocks behind (H26)", tip - head));
        self.stopped = true;
        true
    }

    /// H14 under the reference tag rule (`chunk_tags_vouched` off): any chunk moves the cursor, so a liar that
    /// answers chunks with invented tags faster than every honest peer wins every hedge, and the chunk chain is
    /// thrown away each time the invented tag's height passes, for ever (explore seed 50028603: one honest peer and
    /// a `max_chunks` liar, 185 chunks committed in 17 hours). At the liveness deadline, a reference node still
    /// incomplete whose last resets all came from lies is *hijacked*, not failed: the reference's documented limit,
    /// which vouched tags remove. A stall with other causes still fails.
    fn hijacked(&mut self) -> bool {
        let window = 10 * self.pace().block_time_ms(true).max(1);
        let by_lies = self.oracle.accounting.hijacked(self.clock.now, window);
        if self.config.chunk_tags_vouched || self.oracle.complete || !by_lies {
            return false;
        }
        self.stats.hijacked = true;
        self.trace.note(self.clock.now, "hijacked: the reference tag rule lost every chunk chain to lies (H14)");
        self.stopped = true;
        true
    }

    /// Records the canonical chain hash as it stands: every fork lies below the tip now (forking ends with the
    /// safety phase), and the chain only grows after it.
    fn note_chain(&mut self) {
        let height = self.stage.store.tip().block.number();
        self.stats.chain_height = height;
        self.stats.chain_hash = self.stage.store.canonical_hash(height).to_hex();
    }

    /// The first breach of a check becomes the run's failure.
    fn judge(&mut self, verdict: Verdict) {
        if let Err(breach) = verdict {
            self.fail(breach.class, breach.what);
        }
    }

    fn fail(&mut self, class: FailureClass, what: String) {
        if self.failure.is_none() {
            self.trace.note(self.clock.now, &format!("FAIL {class}: {what}"));
            self.failure = Some(Failure { class, at_ms: self.clock.now, what });
        }
    }

    /// What a run leaves behind.
    fn finish(mut self) -> Recorded {
        self.stats.simulated_ms = self.clock.now;
        self.stats.events = self.clock.events;
        self.stats.messages_lost = self.network.lost;
        self.stats.lies = self.stage.peers.iter().map(|peer| peer.lies).sum();
        let engine_stats = self.node.engine.stats();
        self.stats.chunks_committed = engine_stats.chunks_committed;
        self.stats.chunks_wasted = engine_stats.chunks_wasted;
        self.stats.resets = engine_stats.resets;
        self.stats.messages_decoded = engine_stats.messages_decoded;
        self.stats.bytes_decoded = engine_stats.bytes_decoded;
        self.stats.messages_undecodable = engine_stats.messages_undecodable;
        self.stats.waste = self.oracle.accounting.tally().clone();
        if self.stats.chain_hash.is_empty() {
            self.note_chain();
        }
        let outcome = RunOutcome {
            seed: self.options.seed,
            failure: self.failure.clone(),
            trace_hash: self.trace.finish().to_hex(),
            stats: self.stats.clone(),
        };
        if let Some(timeline) = &mut self.timeline {
            timeline.end_ms = self.clock.now;
        }
        let events = self.events.unwrap_or_default();
        Recorded { outcome, timeline: self.timeline, trace: self.trace.lines, events, peers: self.peer_records }
    }
}

/// How much of key space lies below `s`, as a fraction (the first 12 nibbles).
pub fn progress(missing: Option<&Key>) -> f64 {
    let Some(missing) = missing else { return 1.0 };
    missing.nibbles().iter().take(12).rev().fold(0.0, |acc, &nibble| (acc + f64::from(nibble)) / 16.0)
}

/// How much of each lane's key space is known, as a fraction of the lane (§2.13), in lane order.
pub fn lane_progress(trie: &sync_core::Trie) -> Vec<f64> {
    let lanes = trie.lanes();
    (0..lanes.count())
        .map(|lane| {
            let (low, high) = (progress(Some(&lanes.start(lane))), progress(lanes.end(lane).as_ref()));
            let at = trie.lane_start(lane).map_or(high, |start| progress(Some(start)));
            ((at - low) / (high - low)).clamp(0.0, 1.0)
        })
        .collect()
}

/// Runs one world, catching panics as `Crash` failures.
pub fn run(options: &Options) -> RunOutcome {
    run_with(options, Recording::default()).outcome
}

/// Runs one world, recording what `recording` asks for. A panic becomes a `Crash` failure at the simulated
/// time it happened, and what was recorded up to it is kept.
pub fn run_with(options: &Options, recording: Recording) -> Recorded {
    let built = crate::panics::quietly(|| std::panic::catch_unwind(|| World::new(options, recording)));
    let mut world = match built {
        Ok(world) => world,
        Err(payload) => {
            let what = format!("building the world: {}", crate::panics::message(&payload));
            let failure = Some(Failure { class: FailureClass::Crash, at_ms: 0, what });
            let outcome =
                RunOutcome { seed: options.seed, failure, trace_hash: String::new(), stats: RunStats::default() };
            return Recorded { outcome, timeline: None, trace: None, events: Vec::new(), peers: Vec::new() };
        }
    };
    let result = crate::panics::quietly(|| std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| world.drive())));
    if let Err(payload) = result {
        let what = crate::panics::message(&payload);
        world.trace.note(world.clock.now, &format!("CRASH: {what}"));
        world.failure = Some(Failure { class: FailureClass::Crash, at_ms: world.clock.now, what });
    }
    world.finish()
}
