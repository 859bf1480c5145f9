//! A world for fuzzing chunk ordering (proptest draws `OrderingParams`): the engine, honest servers that answer
//! through the engine's responder, a producer that makes blocks and forks on demand, and an explicit queue of
//! in-flight messages. Each step delivers, drops, duplicates or delays one of them, or produces a block or a
//! fork, or lets time pass. After the steps a fair phase delivers everything in order until the node completes.
//! The property: it converges to the canonical tip with the tip's root, and no invariant ever breaks.

use sim::options::Options;
use sim::peer::{Answer, PeerKind, SimPeer};
use sim::producer::{ChainStore, Producer};
use std::sync::Arc;
use sync_core::wire::Request;
use sync_core::{Config, Input, Millis, Output, PeerId, SyncEngine, Trie};

/// The block interval of the fair phase.
const FAIR_BLOCK_MS: u64 = 1_000;

/// One scheduling decision.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Step {
    /// Deliver the in-flight message at this index (modulo the queue length): any index but 0 reorders.
    Deliver(usize),
    /// Lose it.
    Drop(usize),
    /// Deliver a copy and keep the original in flight.
    Duplicate(usize),
    /// Hold it back behind everything else in flight (late relative to blocks and other answers).
    Delay(usize),
    /// A block, announced by every server.
    Block,
    /// A fork from `depth` blocks below the tip that wins (`rebranch`) or is abandoned; every server gets it.
    Fork { depth: u8, rebranch: bool },
    /// Time passes: timeouts fire.
    Advance(u16),
}

/// Everything one ordering run is drawn from. The seed only shapes the state and the block bodies.
#[derive(Clone, Debug)]
pub struct OrderingParams {
    pub seed: u64,
    pub accounts: u64,
    pub chunk_size: u32,
    pub servers: u32,
    pub chunk_requests_in_flight: u8,
    pub steps: Vec<Step>,
}

#[derive(Clone, Debug)]
enum InFlight {
    /// A request on its way to a server.
    ToServer { server: usize, request_id: u64, request: Request },
    /// An input on its way to the node.
    ToNode(Input),
}

/// How a run ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OrderingOutcome {
    pub complete: bool,
    pub head_is_tip: bool,
    pub root_is_tip_root: bool,
    pub inputs: u64,
    pub resets: u64,
    pub wasted: u64,
}

impl OrderingOutcome {
    pub fn converged(&self) -> bool {
        self.complete && self.head_is_tip && self.root_is_tip_root
    }
}

struct OrderingWorld {
    engine: SyncEngine,
    config: Config,
    producer: Producer,
    store: ChainStore,
    servers: Vec<SimPeer>,
    in_flight: Vec<InFlight>,
    now: u64,
    inputs: u64,
}

impl OrderingWorld {
    fn new(params: &OrderingParams) -> OrderingWorld {
        let options = Options {
            seed: params.seed,
            accounts: params.accounts,
            bpb: 64,
            ops_per_block_max: 6,
            chunk_size_max: params.chunk_size,
            chunk_requests_in_flight: params.chunk_requests_in_flight,
            ..Options::default()
        };
        let config = Config { request_timeout_ms: 500, ..options.engine_config() };
        let (producer, store) = Producer::new(&options);
        let genesis = store.tip().block.clone();
        let seals = Arc::new(producer.sealer().clone());
        let engine =
            SyncEngine::new(config.clone(), params.seed, genesis.clone(), seals, Trie::fresh()).expect("config");
        let servers =
            (0..params.servers.max(1)).map(|i| SimPeer::new(params.seed, i, PeerKind::Honest, 0.0, &genesis)).collect();
        let mut world =
            OrderingWorld { engine, config, producer, store, servers, in_flight: Vec::new(), now: 0, inputs: 0 };
        for server in 0..world.servers.len() {
            world.node_input(Input::PeerJoined { peer: PeerId(server as u32 + 1) });
        }
        world
    }

    fn node_input(&mut self, input: Input) {
        self.engine.handle_input(Millis(self.now), input);
        self.engine.check_invariants();
        self.inputs += 1;
        if let Some(root) = self.engine.root_if_computable() {
            let head = self.store.get(&self.engine.head().hash()).expect("the head was produced");
            assert_eq!(root, head.block.header().state_root, "S1: the root is the head's state root");
        }
        while let Some(output) = self.engine.poll_output() {
            if let Output::SendRequest { peer, request_id, request } = output {
                let server = peer.0 as usize - 1;
                self.in_flight.push(InFlight::ToServer { server, request_id, request });
            }
        }
    }

    fn deliver(&mut self, message: InFlight) {
        match message {
            InFlight::ToNode(input) => self.node_input(input),
            InFlight::ToServer { server, request_id, request } => {
                let answer = self.servers[server].answer(&self.store, &self.config, request_id, &request);
                if let Answer::Response(response) = answer {
                    let peer = PeerId(server as u32 + 1);
                    self.in_flight.push(InFlight::ToNode(Input::Response { peer, request_id, response }));
                }
            }
        }
    }

    /// Every server receives the blocks and announces them to the node.
    fn spread(&mut self, blocks: Vec<sync_core::block::Block>) {
        for block in blocks {
            for (index, server) in self.servers.iter_mut().enumerate() {
                server.receive(&self.store, block.hash());
                let peer = PeerId(index as u32 + 1);
                self.in_flight.push(InFlight::ToNode(Input::Announce { peer, block: block.clone() }));
            }
        }
    }

    fn step(&mut self, step: &Step) {
        let pick = |index: usize, len: usize| index % len.max(1);
        match *step {
            Step::Deliver(index) if !self.in_flight.is_empty() => {
                let message = self.in_flight.remove(pick(index, self.in_flight.len()));
                self.deliver(message);
            }
            Step::Drop(index) if !self.in_flight.is_empty() => {
                self.in_flight.remove(pick(index, self.in_flight.len()));
            }
            Step::Duplicate(index) if !self.in_flight.is_empty() => {
                let message = self.in_flight[pick(index, self.in_flight.len())].clone();
                self.deliver(message);
            }
            Step::Delay(index) if !self.in_flight.is_empty() => {
                let message = self.in_flight.remove(pick(index, self.in_flight.len()));
                self.in_flight.push(message);
            }
            Step::Block => {
                let blocks = self.producer.step(&mut self.store, false).blocks;
                self.spread(blocks);
            }
            Step::Fork { depth, rebranch } => {
                if let Some(production) = self.producer.fork_with(&mut self.store, u32::from(depth.max(1)), rebranch) {
                    self.spread(production.blocks);
                }
            }
            Step::Advance(ms) => {
                self.now += u64::from(ms);
                self.node_input(Input::Timeout);
            }
            _ => {}
        }
    }

    /// Delivers everything in order and fires timers until the node is complete at the tip (bounded). The chain
    /// stays alive meanwhile, a block per simulated second, as L1 assumes ("blocks may still be produced"): a
    /// node left on the losing side of a tie can only move when a next block breaks it (found by this fuzzer:
    /// with production stopped, such a node wasted every chunk for ever).
    fn fair_phase(&mut self) {
        let mut next_block_at = self.now + FAIR_BLOCK_MS;
        for _ in 0..20_000 {
            let tip = self.store.tip().block.hash();
            if self.engine.is_complete() && self.engine.head().hash() == tip && self.in_flight.is_empty() {
                return;
            }
            if self.now >= next_block_at {
                next_block_at = self.now + FAIR_BLOCK_MS;
                self.step(&Step::Block);
            }
            if self.in_flight.is_empty() {
                let next = self.engine.poll_timeout().map_or(self.now + 100, |(at, _)| at.0.max(self.now + 1));
                self.now = next.min(next_block_at);
                self.node_input(Input::Timeout);
            } else {
                let message = self.in_flight.remove(0);
                self.deliver(message);
            }
        }
    }
}

/// Runs the steps, then the fair phase; every invariant is checked after every input (a panic is a failure).
pub fn run(params: &OrderingParams) -> OrderingOutcome {
    let mut world = OrderingWorld::new(params);
    for step in &params.steps {
        world.step(step);
    }
    world.fair_phase();
    world.engine.trie().check_invariants_full();
    let tip = world.store.tip();
    let stats = world.engine.stats();
    OrderingOutcome {
        complete: world.engine.is_complete(),
        head_is_tip: world.engine.head().hash() == tip.block.hash(),
        root_is_tip_root: world.engine.root_if_computable() == Some(tip.block.header().state_root),
        inputs: world.inputs,
        resets: stats.resets,
        wasted: stats.chunks_wasted,
    }
}
