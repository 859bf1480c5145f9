//! An async host of the sans-IO engine: the same code runs as simulated nodes under `--cfg madsim` (madsim's
//! network, clock and scheduler, with node kill/restart and link clogging) and as real tokio tasks over
//! loopback TCP without it. The engine never notices: the host turns datagrams into `Input::Bytes`, a timer into
//! `Input::Timeout`, and `Output::SendRequest` into datagrams.
//!
//! Servers answer with the simulator's honest peers (`sim::peer::SimPeer`, which calls the engine's own
//! responder); a producer task makes the chain. They share one `ChainStore` behind a mutex: the producer is the
//! simulation's god object, not a network node.

use madsim::net::Endpoint;
use madsim::time::{timeout, Duration, Instant};
use sim::options::Options;
use sim::peer::{Answer, PeerKind, SimPeer};
use sim::producer::{ChainStore, Producer};
use std::collections::{BTreeMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use sync_core::wire::Message;
use sync_core::{Config, Event, Hash, Input, Millis, Output, PeerId, SyncEngine, Trie};

/// The one message tag on every endpoint.
pub const TAG: u64 = 7;
/// The receive buffer: larger than any message a scenario sends.
const RECEIVE_BYTES_MAX: usize = 4 << 20;
/// How often a server looks for new blocks when no request arrives.
const SERVER_POLL_MS: u64 = 10;

/// A host scenario: one syncing node, `servers` honest servers, a chain that grows while it syncs.
#[derive(Clone, Debug)]
pub struct HostScenario {
    pub seed: u64,
    pub accounts: u64,
    pub servers: u32,
    pub blocks: u32,
    pub block_time_ms: u64,
    pub chunk_size_max: u32,
    pub ops_per_block_max: u32,
}

impl HostScenario {
    /// The simulator options of the same world (for the own-loop side of the comparison).
    pub fn options(&self) -> Options {
        Options {
            seed: self.seed,
            accounts: self.accounts,
            honest_peers: self.servers,
            blocks: self.blocks,
            block_time_ms: self.block_time_ms,
            chunk_size_max: self.chunk_size_max,
            ops_per_block_max: self.ops_per_block_max,
            ..Options::calm()
        }
    }

    pub fn engine_config(&self) -> Config {
        let mut config = self.options().engine_config();
        config.request_timeout_ms = 1_000;
        config
    }
}

/// The chain every server follows.
#[derive(Debug)]
pub struct Shared {
    pub store: ChainStore,
    producer: Producer,
    /// New block hashes per server, in production order.
    inboxes: Vec<VecDeque<Hash>>,
    pub blocks_produced: u32,
}

pub type SharedChain = Arc<Mutex<Shared>>;

pub fn shared_chain(scenario: &HostScenario) -> SharedChain {
    let (producer, store) = Producer::new(&scenario.options());
    let inboxes = vec![VecDeque::new(); scenario.servers as usize];
    Arc::new(Mutex::new(Shared { store, producer, inboxes, blocks_produced: 0 }))
}

fn lock(shared: &SharedChain) -> std::sync::MutexGuard<'_, Shared> {
    shared.lock().unwrap_or_else(|poison| poison.into_inner())
}

/// Produces `blocks` blocks, one every `block_time_ms`, and hands each to every server.
pub async fn produce(shared: SharedChain, blocks: u32, block_time_ms: u64) {
    for _ in 0..blocks {
        madsim::time::sleep(Duration::from_millis(block_time_ms)).await;
        let mut chain = lock(&shared);
        let Shared { store, producer, inboxes, blocks_produced } = &mut *chain;
        for block in producer.step(store, false).blocks {
            inboxes.iter_mut().for_each(|inbox| inbox.push_back(block.hash()));
        }
        *blocks_produced += 1;
    }
}

/// A server: answers requests through an honest `SimPeer` and announces every new block to `node`.
pub async fn serve(shared: SharedChain, index: u32, endpoint: Endpoint, node: SocketAddr, config: Config) {
    let genesis = lock(&shared).store.canonical_at(0).map(|p| p.block.clone()).expect("genesis");
    let mut peer = SimPeer::new(0, index, PeerKind::Honest, 0.0, &genesis);
    let mut buffer = vec![0u8; RECEIVE_BYTES_MAX];
    loop {
        let received = timeout(Duration::from_millis(SERVER_POLL_MS), endpoint.recv_from(TAG, &mut buffer)).await;
        if let Ok(Ok((length, from))) = received {
            if let Ok(Message::Request { request_id, request }) = Message::decode(&buffer[..length]) {
                let answer = peer.answer(&lock(&shared).store, &config, request_id, &request);
                if let Answer::Response(response) = answer {
                    let bytes = Message::Response { request_id, response }.encode();
                    let _ = endpoint.send_to(from, TAG, &bytes).await;
                }
            }
        }
        let fresh: Vec<Hash> = lock(&shared).inboxes[index as usize].drain(..).collect();
        for hash in fresh {
            let block = {
                let chain = lock(&shared);
                peer.receive(&chain.store, hash);
                chain.store.block(&hash).cloned()
            };
            if let Some(block) = block {
                let _ = endpoint.send_to(node, TAG, &Message::Announce(block).encode()).await;
            }
        }
    }
}

/// What the syncing node reached.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NodeReport {
    pub complete: bool,
    pub head_number: u32,
    pub head_hash: Hash,
    pub root: Option<Hash>,
    pub inputs: u64,
    pub penalties: u64,
}

/// The syncing node: a fresh engine at the genesis checkpoint, fed by `endpoint`, until it is complete and its
/// head is `target_height`, or `limit_ms` passes. Returns what it reached.
pub async fn sync(
    shared: SharedChain,
    endpoint: Endpoint,
    servers: Vec<SocketAddr>,
    config: Config,
    target_height: u32,
    limit_ms: u64,
) -> NodeReport {
    let (genesis, seals) = {
        let chain = lock(&shared);
        let genesis = chain.store.canonical_at(0).map(|p| p.block.clone()).expect("genesis");
        (genesis, Arc::new(chain.producer_seal()))
    };
    let mut engine = SyncEngine::new(config, 1, genesis, seals, Trie::fresh()).expect("a valid config");
    let peers: BTreeMap<SocketAddr, PeerId> =
        servers.iter().enumerate().map(|(i, addr)| (*addr, PeerId(i as u32 + 1))).collect();
    let addresses: BTreeMap<PeerId, SocketAddr> = peers.iter().map(|(addr, peer)| (*peer, *addr)).collect();
    let start = Instant::now();
    let now = |start: Instant| Millis(start.elapsed().as_millis() as u64);
    let mut report = NodeReport::default();
    for peer in addresses.keys() {
        engine.handle_input(now(start), Input::PeerJoined { peer: *peer });
    }
    let mut buffer = vec![0u8; RECEIVE_BYTES_MAX];
    loop {
        while let Some(output) = engine.poll_output() {
            match output {
                Output::SendRequest { peer, request_id, request } => {
                    if let Some(addr) = addresses.get(&peer) {
                        let bytes = Message::Request { request_id, request }.encode();
                        let _ = endpoint.send_to(*addr, TAG, &bytes).await;
                    }
                }
                Output::SendResponse { peer, request_id, response } => {
                    if let Some(addr) = addresses.get(&peer) {
                        let _ =
                            endpoint.send_to(*addr, TAG, &Message::Response { request_id, response }.encode()).await;
                    }
                }
                Output::Event(Event::PeerPenalized { .. }) => report.penalties += 1,
                Output::Event(_) => {}
            }
        }
        engine.check_invariants();
        report.complete = engine.is_complete();
        report.head_number = engine.head().number();
        report.head_hash = engine.head().hash();
        report.root = engine.root_if_computable();
        let elapsed = now(start).0;
        if (report.complete && report.head_number >= target_height) || elapsed >= limit_ms {
            return report;
        }
        let wait = engine.poll_timeout().map_or(100, |(at, _)| at.0.saturating_sub(elapsed)).clamp(1, 100);
        let input = match timeout(Duration::from_millis(wait), endpoint.recv_from(TAG, &mut buffer)).await {
            Ok(Ok((length, from))) => match peers.get(&from) {
                Some(peer) => Input::Bytes { peer: *peer, bytes: buffer[..length].to_vec() },
                None => continue,
            },
            _ => Input::Timeout,
        };
        report.inputs += 1;
        engine.handle_input(now(start), input);
    }
}

impl Shared {
    fn producer_seal(&self) -> sync_core::block::KeyedSeal {
        self.producer.sealer().clone()
    }

    /// The canonical tip's height and state root.
    pub fn tip(&self) -> (u32, Hash, Hash) {
        let tip = self.store.tip();
        (tip.block.number(), tip.block.hash(), tip.block.header().state_root)
    }
}

/// Checks a report against the chain: complete, at the tip, with the tip's state root.
pub fn check(shared: &SharedChain, report: &NodeReport) -> Result<(), String> {
    let (height, hash, root) = lock(shared).tip();
    if !report.complete {
        return Err(format!("not complete: {report:?}"));
    }
    if report.head_hash != hash {
        return Err(format!("head #{} is not the tip #{height}", report.head_number));
    }
    if report.root != Some(root) {
        return Err("the root is not the tip's state root".into());
    }
    if report.penalties > 0 {
        return Err(format!("{} penalties against honest servers", report.penalties));
    }
    Ok(())
}

/// One whole simulated run of `scenario` on madsim (no kills, no clogging): the madsim side of the comparison
/// with the own event loop. Only under `--cfg madsim`.
#[cfg(madsim)]
pub fn madsim_run(scenario: &HostScenario, seed: u64) -> Result<NodeReport, String> {
    use madsim::runtime::{Handle, Runtime};
    let scenario = scenario.clone();
    let runtime = Runtime::with_seed_and_config(seed, madsim::Config::default());
    runtime.block_on(async move {
        let handle = Handle::current();
        let shared = shared_chain(&scenario);
        let config = scenario.engine_config();
        let node_addr: SocketAddr = "10.0.0.1:700".parse().map_err(|e| format!("{e}"))?;
        let servers: Vec<SocketAddr> =
            (0..scenario.servers).filter_map(|i| format!("10.0.0.{}:700", i + 2).parse().ok()).collect();
        for (index, addr) in servers.iter().copied().enumerate() {
            let (shared, config) = (shared.clone(), config.clone());
            handle
                .create_node()
                .ip(addr.ip())
                .init(move || {
                    let (shared, config) = (shared.clone(), config.clone());
                    async move {
                        let endpoint = Endpoint::bind(addr).await.expect("bind a server");
                        serve(shared, index as u32, endpoint, node_addr, config).await;
                    }
                })
                .build();
        }
        let producer = handle.create_node().build();
        producer.spawn(produce(shared.clone(), scenario.blocks, scenario.block_time_ms));
        let node = handle.create_node().ip(node_addr.ip()).build();
        let sync_task = node.spawn({
            let shared = shared.clone();
            async move {
                let endpoint = Endpoint::bind(node_addr).await.expect("bind the node");
                sync(shared, endpoint, servers, config, scenario.blocks, 600_000).await
            }
        });
        let report = sync_task.await.map_err(|e| format!("{e:?}"))?;
        check(&shared, &report).map(|()| report)
    })
}

/// The scheduler alone on madsim: `actors` tasks that each sleep `wakes` times for 1–8 simulated ms (a fixed
/// pattern, no work); the count of wakes. For the per-event cost of the runtime (BENCHMARKS.md). Only under
/// `--cfg madsim`.
#[cfg(madsim)]
pub fn madsim_noop(actors: u64, wakes: u64, seed: u64) -> u64 {
    use madsim::runtime::Runtime;
    let runtime = Runtime::with_seed_and_config(seed, madsim::Config::default());
    runtime.block_on(async move {
        let tasks: Vec<_> = (0..actors)
            .map(|actor| {
                madsim::task::spawn(async move {
                    for wake in 0..wakes {
                        madsim::time::sleep(Duration::from_millis(1 + (actor + wake) % 8)).await;
                    }
                    wakes
                })
            })
            .collect();
        let mut total = 0;
        for task in tasks {
            total += task.await.unwrap_or(0);
        }
        total
    })
}
