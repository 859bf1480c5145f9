//! One seeded world and its event loop (SPEC §7, STYLE §6): a producer, simulated peers, the network, and the
//! syncing node(s) under test. After every input a node takes, the world checks its invariants; a run has a
//! safety phase with faults, then a liveness phase in which the node must complete within a bound, then final
//! checks. Nothing here reads a clock or starts a thread.

use crate::agenda::Agenda;
use crate::byzantine::ByzantineClass;
use crate::network::{Direction, Network};
use crate::options::{Options, Scripted};
use crate::outcome::{Failure, FailureClass, RunOutcome, RunStats};
use crate::peer::{Answer, PeerKind, SimPeer};
use crate::prng::{Prng, Stream};
use crate::producer::{ChainStore, Producer};
use crate::svg::{Mark, RequestMark, Timeline};
use crate::trace::Trace;
use std::collections::BTreeMap;
use std::sync::Arc;
use sync_core::responder::RateLimiter;
use sync_core::wire::{Message, Request, Response};
use sync_core::{Config, Event, Hash, Input, Key, Millis, Output, PeerId, SyncEngine, Trie};

/// How long the host waits before reconnecting a peer the engine dropped as Behind or Ahead.
const RECONNECT_MS: u64 = 1_000;
/// After completion, the node keeps following the chain for this many blocks (L3), then production stops.
const FOLLOW_BLOCKS: u64 = 3;
/// The gap between unsolicited answers of an `Unsolicited` peer (a high rate).
const UNSOLICITED_EVERY_MS: u64 = 25;

#[derive(Clone, Debug)]
enum Happening {
    Produce,
    /// A block reaches a peer from the producer.
    PeerBlock {
        peer: u32,
        hash: Hash,
    },
    /// A message or a host event reaches a node.
    ToNode {
        node: u32,
        peer: u32,
        input: Input,
    },
    /// A request reaches a peer.
    ToPeer {
        node: u32,
        peer: u32,
        request_id: u64,
        request: Request,
    },
    /// A peer sends what it computed for a request.
    PeerSend {
        node: u32,
        peer: u32,
        message: Outgoing,
    },
    Wake {
        node: u32,
    },
    /// A byzantine peer's own initiative (announcements, unsolicited answers).
    Initiative {
        peer: u32,
    },
    Leave {
        peer: u32,
        until: u64,
    },
    Return {
        peer: u32,
    },
    Reconnect {
        node: u32,
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
    Response { request_id: u64, response: Response },
    Bytes(Vec<u8>),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Connection {
    /// Not joined yet (late joiners), or away (churn, everyone gone).
    Away,
    Connected,
    /// The engine removed the peer; `evicted` peers never come back.
    Dropped {
        evicted: bool,
    },
}

struct SimNode {
    engine: SyncEngine,
    wake: Option<u64>,
    connections: BTreeMap<u32, Connection>,
    complete: bool,
    completed_at: Option<u64>,
    inputs_since_deep_check: u32,
    last_stall_note: String,
    /// The head as the event stream tells it (accepted blocks), for the event-order check.
    implied_head: Hash,
}

pub struct World {
    options: Options,
    config: Config,
    now: u64,
    agenda: Agenda<Happening>,
    store: ChainStore,
    producer: Producer,
    network: Network,
    faults: Prng,
    peers: Vec<SimPeer>,
    rate_limiters: Vec<RateLimiter>,
    /// Per peer: when its last block from the producer arrives (producer-to-peer delivery is in order).
    peer_block_clock: Vec<u64>,
    nodes: Vec<SimNode>,
    pub trace: Trace,
    pub timeline: Option<Timeline>,
    /// Node 0's events with the simulated time and the chunk-buffer size after the input, when recorded.
    events: Option<Vec<(u64, Event, u32)>>,
    /// Scripted chain events already done.
    scripted_done: Vec<bool>,
    request_marks: BTreeMap<u64, usize>,
    stats: RunStats,
    failure: Option<Failure>,
    liveness: bool,
    liveness_deadline: u64,
    producing: bool,
    stopped: bool,
}

impl std::fmt::Debug for World {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("World").field("seed", &self.options.seed).field("now", &self.now).finish()
    }
}

impl World {
    pub fn new(options: &Options, recording: Recording) -> World {
        let (readable_trace, timeline) = (recording.trace, recording.timeline);
        let config = options.engine_config();
        let (mut producer, mut store) = Producer::new(options);
        let genesis = store.tip().block.clone();
        let genesis_hash = genesis.hash();
        let seals = Arc::new(producer.sealer().clone());
        let mut kinds = Vec::new();
        kinds.extend((0..options.honest_peers.max(1)).map(|_| PeerKind::Honest));
        kinds.extend((0..options.slow_peers).map(|_| PeerKind::Slow));
        kinds.extend((0..options.silent_peers).map(|_| PeerKind::Silent));
        kinds.extend(options.byzantine.iter().map(|class| PeerKind::Byzantine(*class)));
        let mut peers: Vec<SimPeer> = kinds
            .iter()
            .enumerate()
            .map(|(index, kind)| SimPeer::new(options.seed, index as u32, *kind, options.lie_chance, &genesis))
            .collect();
        // Blocks produced before the node starts: the peers hold them, the node starts at the checkpoint.
        let lead = (options.seed % u64::from(options.bpb.max(1))) as u32 % options.bpb.max(1);
        for _ in 0..lead {
            for block in producer.step(&mut store, false).blocks {
                for peer in &mut peers {
                    peer.receive(&store, block.hash());
                }
            }
        }
        let mut node_prng = Prng::new(options.seed, Stream::Node(0));
        let engine = SyncEngine::new(config.clone(), node_prng.seed(), genesis, seals, Trie::fresh())
            .expect("options produce a valid engine config");
        let node = SimNode {
            engine,
            wake: None,
            connections: (0..peers.len() as u32).map(|peer| (peer, Connection::Away)).collect(),
            complete: false,
            completed_at: None,
            inputs_since_deep_check: 0,
            last_stall_note: String::new(),
            implied_head: genesis_hash,
        };
        let timeline = timeline.then(|| Timeline {
            peers: peers.iter().map(|peer| format!("{} {}", peer.id, peer.kind.label())).collect(),
            ..Timeline::default()
        });
        let peer_count = peers.len();
        let mut world = World {
            network: Network::new(options),
            faults: Prng::new(options.seed, Stream::Faults),
            options: options.clone(),
            config,
            now: 0,
            agenda: Agenda::default(),
            store,
            producer,
            peers,
            rate_limiters: vec![RateLimiter::default(); peer_count],
            peer_block_clock: vec![0; peer_count],
            nodes: vec![node],
            trace: Trace::new(readable_trace),
            timeline,
            events: recording.events.then(Vec::new),
            scripted_done: vec![false; options.script.len()],
            request_marks: BTreeMap::new(),
            stats: RunStats::default(),
            failure: None,
            liveness: false,
            liveness_deadline: u64::MAX,
            producing: true,
            stopped: false,
        };
        world.stats.chunk_buffer_max = u64::from(world.config.buffer_max);
        world.stats.block_buffer_max = u64::from(world.config.block_buffer_max);
        world.stats.pending_blocks_max = u64::from(world.config.pending_blocks_max);
        world.stats.chunk_buffer_bytes_max = world.config.chunk_buffer_bytes_bound();
        world.schedule_start();
        world
    }

    /// The safety phase: joins, the first block, churn, partitions, the all-gone window, byzantine initiative.
    fn schedule_start(&mut self) {
        let safety_ms = u64::from(self.options.blocks) * self.options.block_time_ms;
        for peer in 0..self.peers.len() as u32 {
            let at = if peer == 0 { 0 } else { self.faults.below(self.options.late_join_ms_max + 1) };
            self.agenda.schedule(at, Happening::Return { peer });
            if self.options.churn_interval_ms > 0 && peer > 0 {
                let leave_at = at + self.faults.range(1, 2 * self.options.churn_interval_ms);
                let until = leave_at + self.faults.range(1, self.options.churn_interval_ms);
                self.agenda.schedule(leave_at, Happening::Leave { peer, until });
            }
            if matches!(self.peers[peer as usize].kind, PeerKind::Byzantine(_)) {
                self.agenda.schedule(at + 1, Happening::Initiative { peer });
            }
        }
        self.agenda.schedule(self.options.block_time_ms, Happening::Produce);
        if self.options.all_gone_ms > 0 && safety_ms > self.options.all_gone_ms {
            let start = self.faults.below(safety_ms - self.options.all_gone_ms);
            for peer in 0..self.peers.len() as u32 {
                self.agenda.schedule(start, Happening::Leave { peer, until: start + self.options.all_gone_ms });
            }
        }
        for _ in 0..self.options.partitions {
            let start = self.faults.below(safety_ms.max(1));
            let until = start + self.faults.range(1, self.options.partition_ms_max.max(1));
            let peers: Vec<u32> = (0..self.peers.len() as u32).filter(|_| self.faults.chance(0.6)).collect();
            let both = !self.faults.chance(self.options.asymmetric_chance);
            let to_node = self.faults.chance(0.5);
            self.agenda.schedule(start, Happening::Partition { peers, both, to_node, until });
        }
        for scripted in self.options.script.clone() {
            let all = |peers: &Vec<u32>, count: usize| {
                if peers.is_empty() {
                    (0..count as u32).collect()
                } else {
                    peers.clone()
                }
            };
            match scripted {
                Scripted::Partition { at_ms, for_ms, peers, one_way } => {
                    let peers = all(&peers, self.peers.len());
                    self.agenda.schedule(
                        at_ms,
                        Happening::Partition { peers, both: !one_way, to_node: true, until: at_ms + for_ms },
                    );
                }
                Scripted::Leave { at_ms, for_ms, peers } => {
                    for peer in all(&peers, self.peers.len()) {
                        self.agenda.schedule(at_ms, Happening::Leave { peer, until: at_ms + for_ms });
                    }
                }
                Scripted::Rebranch { .. } | Scripted::AbandonedFork { .. } => {}
            }
        }
        self.agenda.schedule(safety_ms, Happening::Liveness);
    }

    /// A scripted fork due at the current tip height (safety phase only: forking ends with it, L1).
    fn scripted_fork(&mut self) -> Option<crate::producer::Production> {
        let tip = self.store.tip().block.number();
        let due = self.options.script.iter().enumerate().position(|(index, scripted)| {
            !self.scripted_done[index]
                && matches!(scripted, Scripted::Rebranch { at_height, .. } | Scripted::AbandonedFork { at_height, .. } if *at_height <= tip)
        })?;
        self.scripted_done[due] = true;
        let (depth, rebranch) = match self.options.script[due] {
            Scripted::Rebranch { depth, .. } => (depth, true),
            Scripted::AbandonedFork { depth, .. } => (depth, false),
            _ => return None,
        };
        let production = self.producer.fork_with(&mut self.store, depth, rebranch);
        if production.is_none() {
            self.trace.note(self.now, &format!("scripted fork of depth {depth} at {tip} does not fit (macro block)"));
        }
        production
    }

    /// Runs to the end: completion and final checks, or the first failure. A panic inside leaves the world as
    /// it was at that moment, so `finish` can still report where it happened.
    fn drive(&mut self) {
        while self.failure.is_none() && !self.stopped {
            let Some((at, happening)) = self.agenda.pop() else {
                let note = self.stall_report();
                self.fail(FailureClass::Liveness, format!("nothing left to happen: {note}"));
                break;
            };
            assert!(at >= self.now, "virtual time never goes backwards");
            self.now = at;
            self.stats.events += 1;
            if self.liveness && self.now > self.liveness_deadline && !self.nodes.iter().all(|n| n.complete) {
                let note = self.stall_report();
                self.fail(
                    FailureClass::Liveness,
                    format!("not complete by the L1 bound ({} ms): {note}", self.liveness_deadline),
                );
                break;
            }
            self.happen(happening);
        }
        if self.failure.is_none() {
            self.final_checks();
        }
    }

    /// What a run leaves behind.
    fn finish(mut self) -> Recorded {
        self.stats.simulated_ms = self.now;
        self.stats.messages_lost = self.network.lost;
        self.stats.lies = self.peers.iter().map(|peer| peer.lies).sum();
        let engine_stats = self.nodes[0].engine.stats();
        self.stats.chunks_committed = engine_stats.chunks_committed;
        self.stats.chunks_wasted = engine_stats.chunks_wasted;
        self.stats.resets = engine_stats.resets;
        let outcome = RunOutcome {
            seed: self.options.seed,
            failure: self.failure.clone(),
            trace_hash: self.trace.finish().to_hex(),
            stats: self.stats.clone(),
        };
        if let Some(timeline) = &mut self.timeline {
            timeline.end_ms = self.now;
        }
        Recorded { outcome, timeline: self.timeline, trace: self.trace.lines, events: self.events.unwrap_or_default() }
    }

    fn fail(&mut self, class: FailureClass, what: String) {
        if self.failure.is_none() {
            self.trace.note(self.now, &format!("FAIL {class}: {what}"));
            self.failure = Some(Failure { class, at_ms: self.now, what });
        }
    }

    fn happen(&mut self, happening: Happening) {
        match happening {
            Happening::Produce => self.produce(),
            Happening::PeerBlock { peer, hash } => self.peer_block(peer, hash),
            Happening::ToNode { node, peer, input } => {
                let host_event = matches!(input, Input::PeerJoined { .. } | Input::PeerLeft { .. });
                if host_event || self.nodes[node as usize].connections[&peer] == Connection::Connected {
                    self.node_input(node, Some(peer), input);
                }
            }
            Happening::ToPeer { node, peer, request_id, request } => self.peer_request(node, peer, request_id, request),
            Happening::PeerSend { node, peer, message } => self.peer_send(node, peer, message),
            Happening::Wake { node } => {
                if self.nodes[node as usize].wake == Some(self.now) {
                    self.nodes[node as usize].wake = None;
                    self.node_input(node, None, Input::Timeout);
                }
            }
            Happening::Initiative { peer } => self.initiative(peer),
            Happening::Leave { peer, until } => self.leave(peer, until),
            Happening::Return { peer } => self.connect(0, peer),
            Happening::Reconnect { node, peer } => {
                if matches!(self.nodes[node as usize].connections[&peer], Connection::Dropped { evicted: false }) {
                    self.connect(node, peer);
                }
            }
            Happening::Partition { peers, both, to_node, until } => {
                if !self.liveness {
                    for peer in peers {
                        self.network.cut(0, peer, both, to_node, until);
                    }
                    self.trace.note(self.now, &format!("partition until {until}"));
                }
            }
            Happening::Liveness => self.start_liveness(),
            Happening::Stop => self.stopped = true,
        }
    }

    // ---- the chain ----------------------------------------------------------------------------------------------

    fn produce(&mut self) {
        if !self.producing {
            return;
        }
        let scripted = if self.liveness { None } else { self.scripted_fork() };
        let production = match scripted {
            Some(production) => production,
            None => self.producer.step(&mut self.store, !self.liveness),
        };
        self.stats.blocks_produced += production.blocks.len() as u64;
        let tip = self.store.tip().block.number();
        let text = match production.rebranch {
            Some((depth, adopted)) => format!("rebranch depth {depth}, {adopted} adopted, tip {tip}"),
            None if production.abandoned_fork => format!("abandoned fork of {} blocks", production.blocks.len()),
            None => format!("block {tip}"),
        };
        self.trace.note(self.now, &text);
        if let Some(timeline) = &mut self.timeline {
            if production.rebranch.is_some() || production.abandoned_fork {
                timeline.marks.push((self.now, Mark::Fork(text)));
            }
        }
        for block in &production.blocks {
            for peer in 0..self.peers.len() as u32 {
                self.send_block_to_peer(peer, block.hash());
            }
        }
        // A private, abandoned fork for peers that announce what nobody else can serve (H10).
        let private =
            self.peers.iter().filter(|p| p.kind == PeerKind::Byzantine(ByzantineClass::AbandonedFork)).count();
        if private > 0 && !self.liveness && self.faults.chance(0.3) {
            if let Some(block) = self.producer.private_fork(&mut self.store) {
                for peer in 0..self.peers.len() as u32 {
                    if self.peers[peer as usize].kind == PeerKind::Byzantine(ByzantineClass::AbandonedFork) {
                        self.send_block_to_peer(peer, block.hash());
                    }
                }
            }
        }
        let jitter = self.faults.below(2 * self.options.block_time_jitter_ms + 1);
        let interval = (self.block_time_ms() + jitter).saturating_sub(self.options.block_time_jitter_ms).max(1);
        self.agenda.schedule(self.now + interval, Happening::Produce);
        if self.liveness && self.nodes.iter().all(|node| node.complete) {
            let completed = self.nodes.iter().filter_map(|node| node.completed_at).max().unwrap_or(self.now);
            let completed = completed.max(self.stats.liveness_start_ms);
            if self.now >= completed + FOLLOW_BLOCKS * self.block_time_ms() {
                self.finish_production();
            }
        }
    }

    /// The block interval: as drawn during the safety phase; in the liveness phase no faster than the
    /// "sustainable rate" of SPEC §7.5, which is the slower of two limits. The diff pipeline: twice the time
    /// `diff_requests_in_flight` diffs take per round trip (L1's own assumption). The download: a block may
    /// add at most half as many accounts as the download fetches meanwhile. Otherwise no strategy finishes
    /// (H12). A faster chain is a different experiment; the efficiency sweep explores it, L1 does not promise it.
    fn block_time_ms(&self) -> u64 {
        if !self.liveness {
            return self.options.block_time_ms;
        }
        let parallel =
            u64::from(self.config.diff_requests_in_flight.max(1)).min(u64::from(self.config.pending_blocks_max.max(1)));
        let diff_limit = 2 * self.diff_round_trip_ms() / parallel;
        let items_per_second = self.download_items_per_second();
        let growth_limit = (2.0 * f64::from(self.options.ops_per_block_max) / items_per_second * 1000.0) as u64;
        self.options.block_time_ms.max(diff_limit).max(growth_limit)
    }

    /// The worst round trip of a diff request to an honest peer: slow peers answer after up to 90 % of the
    /// request timeout, and round robin reaches them too.
    fn diff_round_trip_ms(&self) -> u64 {
        let network = 2 * self.network.one_way_max_ms(8 * 1024) + 10;
        let slow = if self.options.slow_peers > 0 { self.config.request_timeout_ms * 9 / 10 } else { 0 };
        network + slow
    }

    /// A conservative download rate: one chunk per round trip to the worst honest peer (round robin reaches the
    /// slow ones too), or the rate limit of the honest peers if that is lower.
    fn download_items_per_second(&self) -> f64 {
        let chunk = f64::from(self.config.chunk_size_max.max(1));
        let chunk_bytes = u64::from(self.config.chunk_size_max) * 96 + 8 * 1024;
        let slow = if self.options.slow_peers > 0 { self.config.request_timeout_ms * 9 / 10 } else { 0 };
        let round_trip_ms = (2 * self.network.one_way_max_ms(chunk_bytes) + 10 + slow) as f64;
        let by_latency = chunk * 1000.0 / round_trip_ms;
        let honest = f64::from(self.options.honest_peers.max(1) + self.options.slow_peers);
        let limit = f64::from(self.config.served_chunks_per_window_max.max(1)) * honest;
        let by_rate_limit = chunk * limit * 1000.0 / self.config.rate_window_ms.max(1) as f64;
        by_latency.min(by_rate_limit).max(1e-3)
    }

    /// Production stops; the world runs until every message has landed, then stops.
    fn finish_production(&mut self) {
        self.producing = false;
        let drain = 4 * self.network.one_way_max_ms(64 * 1024) + 4 * self.config.request_timeout_ms + 1_000;
        self.agenda.schedule(self.now + drain, Happening::Stop);
        self.trace.note(self.now, "production stops");
    }

    fn send_block_to_peer(&mut self, peer: u32, hash: Hash) {
        let delay = 1 + self.faults.below(self.options.latency_ms / 2 + 1);
        let at = (self.now + delay).max(self.peer_block_clock[peer as usize]);
        self.peer_block_clock[peer as usize] = at;
        self.agenda.schedule(at, Happening::PeerBlock { peer, hash });
    }

    /// A peer receives a block and gossips it to the node.
    fn peer_block(&mut self, peer: u32, hash: Hash) {
        let store = &self.store;
        let known_before = self.peers[peer as usize].knows(&hash);
        self.peers[peer as usize].receive(store, hash);
        if known_before || !self.peers[peer as usize].knows(&hash) || self.peers[peer as usize].kind == PeerKind::Silent
        {
            return;
        }
        let Some(block) = self.store.block(&hash).cloned() else { return };
        self.send_to_node(
            0,
            peer,
            Message::Announce(block.clone()),
            Input::Announce { peer: self.peers[peer as usize].id, block },
        );
    }

    // ---- peers ---------------------------------------------------------------------------------------------------

    fn connect(&mut self, node: u32, peer: u32) {
        let connection = self.nodes[node as usize].connections[&peer];
        if matches!(connection, Connection::Connected | Connection::Dropped { evicted: true }) {
            return;
        }
        self.nodes[node as usize].connections.insert(peer, Connection::Connected);
        let id = self.peers[peer as usize].id;
        self.node_input(node, Some(peer), Input::PeerJoined { peer: id });
        // A joining peer announces its head, as a connecting full node would.
        if self.peers[peer as usize].kind != PeerKind::Silent {
            let head = self.peers[peer as usize].head();
            if let Some(block) = self.store.block(&head).cloned() {
                self.send_to_node(node, peer, Message::Announce(block.clone()), Input::Announce { peer: id, block });
            }
        }
    }

    fn leave(&mut self, peer: u32, until: u64) {
        if self.liveness {
            return;
        }
        if self.nodes[0].connections[&peer] == Connection::Connected {
            self.nodes[0].connections.insert(peer, Connection::Away);
            let id = self.peers[peer as usize].id;
            self.node_input(0, Some(peer), Input::PeerLeft { peer: id });
            self.agenda.schedule(until, Happening::Return { peer });
            if self.options.churn_interval_ms > 0 && peer > 0 {
                let next = until + self.faults.range(1, 2 * self.options.churn_interval_ms);
                let next_until = next + self.faults.range(1, self.options.churn_interval_ms);
                self.agenda.schedule(next, Happening::Leave { peer, until: next_until });
            }
        }
    }

    fn peer_request(&mut self, node: u32, peer: u32, request_id: u64, request: Request) {
        if self.nodes[node as usize].connections[&peer] != Connection::Connected {
            return;
        }
        let node_id = PeerId(1_000 + node);
        let admitted = self.rate_limiters[peer as usize].admit(Millis(self.now), node_id, &request, &self.config);
        let answer = if admitted {
            self.peers[peer as usize].answer(&self.store, &self.config, request_id, &request)
        } else {
            Answer::Response(Response::RateLimited)
        };
        let delay = match self.peers[peer as usize].kind {
            PeerKind::Slow => {
                let timeout = self.config.request_timeout_ms;
                timeout / 2 + self.peers[peer as usize].prng().below(timeout * 2 / 5 + 1)
            }
            _ => self.peers[peer as usize].prng().below(3),
        };
        let message = match answer {
            Answer::Nothing => return,
            Answer::Response(response) => Outgoing::Response { request_id, response },
            Answer::Garbage(bytes) => Outgoing::Bytes(bytes),
        };
        self.agenda.schedule(self.now + delay, Happening::PeerSend { node, peer, message });
    }

    fn peer_send(&mut self, node: u32, peer: u32, message: Outgoing) {
        let id = self.peers[peer as usize].id;
        match message {
            Outgoing::Response { request_id, response } => {
                if !self.liveness && self.faults.chance(self.options.replay_chance) {
                    // A stale duplicate of this answer arrives much later.
                    let later = self.now + self.faults.range(1, 10 * self.options.block_time_ms.max(1));
                    let replay = Outgoing::Response { request_id, response: response.clone() };
                    self.agenda.schedule(later, Happening::PeerSend { node, peer, message: replay });
                }
                let input = Input::Response { peer: id, request_id, response: response.clone() };
                self.send_to_node(node, peer, Message::Response { request_id, response }, input);
            }
            Outgoing::Bytes(bytes) => {
                let input = Input::Bytes { peer: id, bytes: bytes.clone() };
                self.send_bytes_to_node(node, peer, bytes.len() as u64, input);
            }
        }
    }

    /// A byzantine peer's own moves, repeated while it stays connected.
    fn initiative(&mut self, peer: u32) {
        let PeerKind::Byzantine(class) = self.peers[peer as usize].kind else { return };
        let connection = self.nodes[0].connections[&peer];
        if connection == (Connection::Dropped { evicted: true }) {
            return;
        }
        let id = self.peers[peer as usize].id;
        let head_number = self.peers[peer as usize].head_number(&self.store);
        let mut next = self.options.block_time_ms.max(50);
        if connection == Connection::Connected && self.faults.chance(self.options.lie_chance) {
            match class {
                ByzantineClass::InvalidSeal => {
                    let parent = self.peers[peer as usize].head();
                    let forged = self.producer.forge(head_number + 1, parent);
                    self.send_to_node(
                        0,
                        peer,
                        Message::Announce(forged.clone()),
                        Input::Announce { peer: id, block: forged },
                    );
                }
                ByzantineClass::LyingHead => {
                    let forged = self.producer.forge(head_number + 10_000, Hash([0x11; 32]));
                    self.send_to_node(
                        0,
                        peer,
                        Message::Announce(forged.clone()),
                        Input::Announce { peer: id, block: forged },
                    );
                }
                ByzantineClass::ReplayOld => {
                    let back = self.peers[peer as usize].prng().range(1, 64) as u32;
                    if let Some(old) =
                        self.store.canonical_at(head_number.saturating_sub(back)).map(|p| p.block.clone())
                    {
                        self.send_to_node(
                            0,
                            peer,
                            Message::Announce(old.clone()),
                            Input::Announce { peer: id, block: old },
                        );
                    }
                }
                ByzantineClass::Unsolicited => {
                    let request_id = self.peers[peer as usize].prng().below(1 << 20);
                    let state = &self
                        .store
                        .get(&self.peers[peer as usize].head())
                        .map(|p| (p.block.clone(), p.state.chunk(&Key::EMPTY, 8)));
                    if let Some((block, Some(chunk))) = state.clone() {
                        let response =
                            Response::Chunk { block_number: block.number(), block_hash: block.hash(), chunk };
                        let input = Input::Response { peer: id, request_id, response: response.clone() };
                        self.send_to_node(0, peer, Message::Response { request_id, response }, input);
                    }
                    next = UNSOLICITED_EVERY_MS;
                }
                ByzantineClass::FutureFlood => {
                    // Everything but the first block of a fresh private chain, one block time apart.
                    let length = self.config.window_ahead_max.min(64);
                    let chain = self.producer.private_chain(&self.store, length);
                    for block in chain.into_iter().skip(1) {
                        self.send_to_node(
                            0,
                            peer,
                            Message::Announce(block.clone()),
                            Input::Announce { peer: id, block },
                        );
                    }
                    next = self.options.block_time_ms.max(200);
                }
                ByzantineClass::ReplayAnswers => {
                    if let Some((request_id, response)) = self.peers[peer as usize].old_answer() {
                        let input = Input::Response { peer: id, request_id, response: response.clone() };
                        self.send_to_node(0, peer, Message::Response { request_id, response }, input);
                    }
                    next = self.options.block_time_ms.max(50) / 2;
                }
                _ => return, // the other classes lie in their answers only
            }
        }
        self.agenda.schedule(self.now + next, Happening::Initiative { peer });
    }

    // ---- the network ------------------------------------------------------------------------------------------

    fn send_to_node(&mut self, node: u32, peer: u32, message: Message, input: Input) {
        let bytes = message.encode().len() as u64;
        self.send_bytes_to_node(node, peer, bytes, input);
    }

    fn send_bytes_to_node(&mut self, node: u32, peer: u32, bytes: u64, input: Input) {
        if self.nodes[node as usize].connections[&peer] != Connection::Connected {
            return;
        }
        for at in self.network.send(self.now, node, peer, Direction::ToNode, bytes) {
            match &input {
                Input::Response { response: Response::Chunk { .. }, .. } => self.stats.bytes_fetched += bytes,
                Input::Response { response: Response::Diff(_), .. } => self.stats.diff_bytes_fetched += bytes,
                _ => {}
            }
            self.agenda.schedule(at, Happening::ToNode { node, peer, input: input.clone() });
        }
    }

    // ---- the node under test --------------------------------------------------------------------------------

    fn node_input(&mut self, node: u32, from: Option<u32>, input: Input) {
        let head_before = self.nodes[node as usize].engine.head().number();
        let tagged_number = match &input {
            Input::Announce { block, .. } => Some(block.number()),
            Input::Response { response: Response::Chunk { block_number, .. }, .. } => Some(*block_number),
            _ => None,
        };
        self.trace.input(self.now, node, &input);
        self.stats.inputs += 1;
        if let (Some(timeline), Input::Response { request_id, .. }) = (&mut self.timeline, &input) {
            if let Some(&index) = self.request_marks.get(request_id) {
                timeline.requests[index].answered.get_or_insert(self.now);
            }
        }
        self.nodes[node as usize].engine.handle_input(Millis(self.now), input);
        self.nodes[node as usize].engine.check_invariants();
        self.drain(node, from, head_before, tagged_number);
        self.check_node(node);
    }

    /// Handles every output of the last input: requests go on the network, events are checked.
    fn drain(&mut self, node: u32, from: Option<u32>, head_before: u32, tagged_number: Option<u32>) {
        let mut evicted = Vec::new();
        while let Some(output) = self.nodes[node as usize].engine.poll_output() {
            self.trace.output(self.now, node, &output);
            match output {
                Output::SendRequest { peer, request_id, request } => {
                    let Some(index) = self.peer_index(peer) else { continue };
                    if let Some(timeline) = &mut self.timeline {
                        let kind = match request {
                            Request::Chunk { .. } => 'c',
                            Request::TrieDiff { .. } => 'd',
                            Request::MissingBlocks { .. } => 'b',
                        };
                        self.request_marks.insert(request_id, timeline.requests.len());
                        timeline.requests.push(RequestMark { sent: self.now, peer: index, kind, answered: None });
                    }
                    let bytes = Message::Request { request_id, request: request.clone() }.encode().len() as u64;
                    for at in self.network.send(self.now, node, index, Direction::ToPeer, bytes) {
                        self.agenda.schedule(
                            at,
                            Happening::ToPeer { node, peer: index, request_id, request: request.clone() },
                        );
                    }
                }
                Output::SendResponse { .. } => {}
                Output::Event(event) => {
                    self.check_event(node, from, &event, head_before, tagged_number);
                    if let (0, Some(events)) = (node, &mut self.events) {
                        events.push((self.now, event.clone(), self.nodes[0].engine.chunk_buffer_size()));
                    }
                    if let Event::PeerEvicted { peer } = event {
                        evicted.extend(self.peer_index(peer));
                    }
                }
            }
        }
        // Peers the engine removed: the host disconnects them, and reconnects those not evicted.
        let members = self.nodes[node as usize].engine.peers();
        for peer in 0..self.peers.len() as u32 {
            let id = self.peers[peer as usize].id;
            let connection = self.nodes[node as usize].connections[&peer];
            if connection == Connection::Connected && !members.contains(&id) {
                let is_evicted = evicted.contains(&peer);
                self.nodes[node as usize].connections.insert(peer, Connection::Dropped { evicted: is_evicted });
                if !is_evicted {
                    self.agenda.schedule(self.now + RECONNECT_MS, Happening::Reconnect { node, peer });
                }
            }
        }
        if let Some(timeline) = &mut self.timeline {
            let engine = &self.nodes[node as usize].engine;
            timeline.heads.push((self.now, engine.head().number(), self.store.tip().block.number()));
            timeline.progress.push((self.now, progress(engine.missing_start())));
        }
        let wake = self.nodes[node as usize].engine.poll_timeout().map(|(at, _)| at.0.max(self.now));
        if wake.is_some() && wake != self.nodes[node as usize].wake {
            self.nodes[node as usize].wake = wake;
            self.agenda.schedule(wake.unwrap_or(self.now), Happening::Wake { node });
        }
    }

    fn peer_index(&self, peer: PeerId) -> Option<u32> {
        (peer.0 >= 1 && (peer.0 as usize) <= self.peers.len()).then(|| peer.0 - 1)
    }

    /// Event-level checks: S10 (no honest peer penalised, evicted, or Behind/Ahead while within the window),
    /// StateComplete at most once per incompleteness period, macro blocks never reverted.
    fn check_event(&mut self, node: u32, from: Option<u32>, event: &Event, head_before: u32, tagged: Option<u32>) {
        let honest = |world: &World, peer: PeerId| {
            world.peer_index(peer).is_some_and(|i| world.peers[i as usize].kind.is_honest())
        };
        if let Some(timeline) = &mut self.timeline {
            let mark = match event {
                Event::ChunkChainReset { reason } => Some(Mark::Reset(format!("{reason:?}"))),
                Event::Rebranched { reverted, .. } => Some(Mark::Rebranch(reverted.len() as u32)),
                Event::PeerPenalized { peer, violation } => {
                    Some(Mark::Penalty(peer.0.saturating_sub(1), format!("{violation:?}")))
                }
                Event::StateComplete { .. } => Some(Mark::Complete),
                _ => None,
            };
            timeline.marks.extend(mark.map(|mark| (self.now, mark)));
        }
        match event {
            Event::PeerPenalized { peer, violation } => {
                self.stats.penalties += 1;
                if honest(self, *peer) {
                    self.fail(FailureClass::Safety, format!("S10: honest peer {peer} penalised for {violation:?}"));
                }
            }
            Event::PeerEvicted { peer } => {
                self.stats.evictions += 1;
                if honest(self, *peer) {
                    self.stats.honest_evictions += 1;
                    self.fail(FailureClass::Safety, format!("S10: honest peer {peer} evicted"));
                }
            }
            Event::PeerBehind { peer } | Event::PeerAhead { peer } if honest(self, *peer) => {
                let behind = matches!(event, Event::PeerBehind { .. });
                let fair = match tagged {
                    Some(number) if behind => number < head_before.saturating_sub(self.config.tolerate_past_max),
                    Some(number) => number > head_before + self.config.window_ahead_max,
                    None => false,
                };
                if !fair && from.is_some_and(|from| self.peers[from as usize].id == *peer) {
                    self.fail(
                        FailureClass::Safety,
                        format!("S10: honest peer {peer} classified {event:?} within the window"),
                    );
                }
            }
            Event::StateComplete { .. } => {
                let node_state = &mut self.nodes[node as usize];
                if node_state.complete {
                    self.fail(FailureClass::Safety, "StateComplete twice without StateReset".into());
                    return;
                }
                node_state.complete = true;
                node_state.completed_at = Some(self.now);
                self.stats.completed_ms = Some(self.now);
            }
            Event::StateReset => self.nodes[node as usize].complete = false,
            Event::Rebranched { reverted, .. } => {
                self.stats.rebranches += 1;
                if let Some(hash) =
                    reverted.iter().find(|hash| self.store.block(hash).is_some_and(|b| b.header().is_macro))
                {
                    self.fail(FailureClass::Safety, format!("S6: macro block {hash:?} reverted"));
                }
            }
            Event::AcceptedAnnouncedBlock { hash, .. } | Event::AcceptedBufferedBlock { hash, .. } => {
                self.nodes[node as usize].implied_head = *hash;
            }
            Event::ReceivedMissingBlocks { hashes } => {
                if let Some(last) = hashes.last() {
                    self.nodes[node as usize].implied_head = *last;
                }
            }
            Event::AcceptedChunks { hash, .. } => {
                let implied = self.nodes[node as usize].implied_head;
                if *hash != implied {
                    self.fail(
                        FailureClass::Safety,
                        format!("chunks accepted for {hash:?}, but the head is {implied:?}"),
                    );
                }
            }
            _ => {}
        }
    }

    /// After every input: S1 against the simulator's own record, S3 and the full trie check periodically,
    /// the peak buffer size.
    fn check_node(&mut self, node: u32) {
        let engine = &self.nodes[node as usize].engine;
        let head = engine.head().hash();
        let Some(produced) = self.store.get(&head) else {
            return self.fail(FailureClass::Safety, format!("the node's head {head:?} was never produced"));
        };
        if let Some(root) = engine.root_if_computable() {
            if root != produced.block.header().state_root {
                return self.fail(
                    FailureClass::Safety,
                    format!("S1: computable root {root:?} is not block {}'s", produced.block.number()),
                );
            }
        }
        let stats = &mut self.stats;
        stats.chunk_buffer_peak = stats.chunk_buffer_peak.max(u64::from(engine.chunk_buffer_size()));
        stats.chunk_buffer_bytes_peak = stats.chunk_buffer_bytes_peak.max(engine.chunk_buffer_bytes());
        stats.block_buffer_peak = stats.block_buffer_peak.max(engine.block_buffer_size() as u64);
        stats.pending_blocks_peak = stats.pending_blocks_peak.max(engine.pending_blocks() as u64);
        let bounds = [
            ("chunk buffer (chunks)", stats.chunk_buffer_peak, stats.chunk_buffer_max),
            ("chunk buffer (bytes)", stats.chunk_buffer_bytes_peak, stats.chunk_buffer_bytes_max),
            ("block buffer", stats.block_buffer_peak, stats.block_buffer_max),
            ("pending blocks", stats.pending_blocks_peak, stats.pending_blocks_max),
        ];
        if let Some((what, peak, max)) = bounds.into_iter().find(|(_, peak, max)| peak > max) {
            return self.fail(FailureClass::Safety, format!("bound: the {what} reached {peak}, over its bound {max}"));
        }
        let node_state = &mut self.nodes[node as usize];
        node_state.inputs_since_deep_check += 1;
        if node_state.inputs_since_deep_check >= self.options.deep_check_every.max(1) {
            node_state.inputs_since_deep_check = 0;
            self.deep_check(node);
        }
    }

    /// Every node of the trie is canonical and correctly hashed; and S3, the known-part oracle: the known map
    /// equals the head state below `s`. S3 runs while the root is not computable (H3): a computable root equal to
    /// the head's (S1, checked after every input) already proves the known part, given correct hashes.
    fn deep_check(&mut self, node: u32) {
        let engine = &self.nodes[node as usize].engine;
        let trie = engine.trie();
        trie.check_invariants_full();
        if trie.root_if_computable().is_some() {
            return;
        }
        let Some(produced) = self.store.get(&engine.head().hash()) else { return };
        let known: Vec<_> = produced.state.items().into_iter().filter(|(key, _)| trie.is_known(key)).collect();
        if trie.items() != known {
            let missing = trie.missing_start().map(ToString::to_string).unwrap_or_default();
            self.fail(FailureClass::Safety, format!("S3: the known part differs from the head state below {missing}"));
        }
    }

    // ---- phases ----------------------------------------------------------------------------------------------

    /// Faults stop, partitions heal, forking ends, everyone not evicted rejoins; the node must complete within
    /// the bound of L1 (see `liveness_bound_ms`).
    fn start_liveness(&mut self) {
        self.liveness = true;
        self.network.heal();
        self.stats.liveness_start_ms = self.now;
        self.liveness_deadline = self.now + self.liveness_bound_ms();
        self.trace.note(self.now, &format!("liveness phase, deadline {}", self.liveness_deadline));
        if let Some(timeline) = &mut self.timeline {
            timeline.liveness_ms = self.now;
        }
        for peer in 0..self.peers.len() as u32 {
            if matches!(self.nodes[0].connections[&peer], Connection::Away | Connection::Dropped { evicted: false }) {
                self.connect(0, peer);
            }
        }
    }

    /// L1's bound, from the options (SPEC §5.2). The download: the state as it stands plus 50 % headroom, at the
    /// conservative rate of `download_items_per_second` halved (the liveness block rate lets state growth eat
    /// at most half of it), doubled again for resets and hedges. Slack: every peer that can stall a request
    /// (slow, silent, byzantine) costs up to `attempts_max` timeouts at the longest adaptive deadline
    /// (`request_timeout_max_ms`); a diff round's longest backoff; one `chunk_buffer_wait_ms` per byzantine peer
    /// (tags naming blocks that never come); ten block intervals (the last chunks wait for their blocks, catch-up
    /// batches); reconnection; and 20 s.
    pub fn liveness_bound_ms(&self) -> u64 {
        let config = &self.config;
        let accounts = (self.store.tip().state.len() as f64 * 1.5).max(1.0) + 2.0 * f64::from(config.chunk_size_max);
        let download = (4.0 * accounts / self.download_items_per_second() * 1000.0) as u64;
        let stalling =
            u64::from(self.options.slow_peers + self.options.silent_peers) + self.options.byzantine.len() as u64;
        let timeouts = (1 + stalling) * u64::from(config.attempts_max) * config.request_timeout_max_ms;
        let tags = (self.options.byzantine.len() as u64) * (config.chunk_buffer_wait_ms + config.request_timeout_ms);
        let blocks = 10 * (self.block_time_ms() + self.options.block_time_jitter_ms);
        // The node may start the phase far behind: every block it lacks needs its diff first.
        let behind = u64::from(self.store.tip().block.number().saturating_sub(self.nodes[0].engine.head().number()));
        let catch_up = 2 * behind * self.diff_round_trip_ms() / u64::from(config.diff_requests_in_flight.max(1));
        download + timeouts + config.diff_backoff_max_ms + tags + blocks + catch_up + RECONNECT_MS + 20_000
    }

    /// The final checks (SPEC §7.5): complete, the root is the head's state root, the head is the canonical tip.
    fn final_checks(&mut self) {
        let tip = self.store.tip().block.clone();
        let engine = &self.nodes[0].engine;
        let (head, complete, root) = (engine.head().clone(), engine.is_complete(), engine.root_if_computable());
        if !complete {
            let note = self.stall_report();
            return self.fail(FailureClass::Liveness, format!("not complete at the end: {note}"));
        }
        self.deep_check(0);
        if root != Some(head.header().state_root) {
            return self.fail(FailureClass::Safety, "final: the root is not the head's state root".into());
        }
        if head.hash() != tip.hash() {
            return self.fail(
                FailureClass::Liveness,
                format!("final: head #{} is not the canonical tip #{}", head.number(), tip.number()),
            );
        }
        self.stats.state_bytes = state_bytes(&self.store.tip().state);
        let bandwidth = self.options.bandwidth_bytes_per_ms;
        let transfer = if bandwidth == 0 { 0 } else { self.stats.state_bytes.div_ceil(bandwidth) };
        self.stats.lower_bound_ms = transfer + 2 * self.options.latency_ms;
        self.nodes[0].last_stall_note.clear();
    }

    /// Where the node stands: for liveness failures (cursor, `s`, head, buffers, requests).
    fn stall_report(&self) -> String {
        let engine = &self.nodes[0].engine;
        format!(
            "cursor {:?}, s {}, head #{} (tip #{}), chunk buffer {}, blocks buffered {}, pending {}, requests {}, peers {:?}",
            engine.cursor(),
            engine.missing_start().map_or("complete".to_string(), crate::trace::short_key),
            engine.head().number(),
            self.store.tip().block.number(),
            engine.chunk_buffer_size(),
            engine.block_buffer_size(),
            engine.pending_blocks(),
            engine.requests_in_flight(),
            engine.peers().iter().map(|p| p.0).collect::<Vec<_>>(),
        )
    }
}

/// The bytes of a state as chunks carry it: each key and value with their length prefixes.
pub fn state_bytes(state: &Trie) -> u64 {
    state.items().iter().map(|(key, value)| (key.len() as u64).div_ceil(2) + 1 + 4 + value.len() as u64).sum()
}

/// How much of key space lies below `s`, as a fraction (the first 12 nibbles).
pub fn progress(missing: Option<&Key>) -> f64 {
    let Some(missing) = missing else { return 1.0 };
    missing.nibbles().iter().take(12).rev().fold(0.0, |acc, &nibble| (acc + f64::from(nibble)) / 16.0)
}

/// What a run records besides its outcome (each costs time).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Recording {
    /// The readable trace (`replay --trace`).
    pub trace: bool,
    /// The timeline (`replay --svg`).
    pub timeline: bool,
    /// Node 0's events with their times (named scenarios, golden traces).
    pub events: bool,
}

/// A finished run and what it recorded.
#[derive(Clone, Debug)]
pub struct Recorded {
    pub outcome: RunOutcome,
    pub timeline: Option<Timeline>,
    pub trace: Option<Vec<String>>,
    /// `(simulated ms, event, chunk-buffer size after the input)`, when recorded.
    pub events: Vec<(u64, Event, u32)>,
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
            return Recorded { outcome, timeline: None, trace: None, events: Vec::new() };
        }
    };
    let result = crate::panics::quietly(|| std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| world.drive())));
    if let Err(payload) = result {
        let what = crate::panics::message(&payload);
        world.trace.note(world.now, &format!("CRASH: {what}"));
        world.failure = Some(Failure { class: FailureClass::Crash, at_ms: world.now, what });
    }
    world.finish()
}
