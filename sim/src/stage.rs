//! What every run shares, whichever sync strategy it tests (live sync in `world`, pivot sync in `baseline`):
//! the clock and its agenda, the chain producer and its store, the simulated peers, the blocks produced before
//! the node joins, and each block's way from the producer to every peer.

use crate::agenda::Agenda;
use crate::options::Options;
use crate::peer::{PeerKind, SimPeer};
use crate::prng::{Prng, Stream};
use crate::producer::{ChainStore, Producer, Production};
use sync_core::block::Block;

/// Simulated time and what is due: earliest first, ties in scheduling order (STYLE §6).
#[derive(Debug)]
pub struct Clock<H> {
    pub now: u64,
    agenda: Agenda<H>,
    /// Happenings taken off the agenda so far.
    pub events: u64,
}

impl<H> Default for Clock<H> {
    fn default() -> Self {
        Clock { now: 0, agenda: Agenda::default(), events: 0 }
    }
}

impl<H> Clock<H> {
    pub fn schedule(&mut self, at: u64, happening: H) {
        self.agenda.schedule(at, happening);
    }

    /// The next happening; time moves to it. `None` when nothing is left.
    pub fn advance(&mut self) -> Option<H> {
        let (at, happening) = self.agenda.pop()?;
        assert!(at >= self.now, "virtual time never goes backwards");
        self.now = at;
        self.events += 1;
        Some(happening)
    }
}

/// The chain and the peers that follow it.
#[derive(Debug)]
pub struct Stage {
    pub store: ChainStore,
    pub producer: Producer,
    pub peers: Vec<SimPeer>,
    /// Block-time jitter.
    block_times: Prng,
    /// Per peer: how long each block takes to reach it from the producer.
    deliveries: Vec<Prng>,
    /// Per peer: when its last block from the producer arrives (producer-to-peer delivery is in order).
    peer_block_clock: Vec<u64>,
}

impl Stage {
    /// Genesis, the peers of `kinds` (in order), and the blocks produced before the node starts: the peers hold
    /// them, the node starts at the checkpoint (genesis).
    pub fn new(options: &Options, kinds: &[PeerKind]) -> Stage {
        let (mut producer, mut store) = Producer::new(options);
        let genesis = store.tip().block.clone();
        let mut peers: Vec<SimPeer> = kinds
            .iter()
            .enumerate()
            .map(|(index, kind)| SimPeer::new(options.seed, index as u32, *kind, options.lie_chance, &genesis))
            .collect();
        for _ in 0..producer.lead_blocks {
            for block in producer.step(&mut store, false).blocks {
                for peer in &mut peers {
                    peer.receive(&store, block.hash());
                }
            }
        }
        let deliveries =
            (0..peers.len() as u32).map(|peer| Prng::new(options.seed, Stream::PeerBlocks(peer))).collect();
        let block_times = Prng::new(options.seed, Stream::BlockTimes);
        Stage { store, producer, peer_block_clock: vec![0; peers.len()], peers, block_times, deliveries }
    }

    pub fn genesis(&self) -> &Block {
        &self.store.canonical_at(0).expect("the store holds genesis").block
    }

    /// One block event of the producer (`forks`: whether it may fork).
    pub fn produce(&mut self, forks: bool) -> Production {
        self.producer.step(&mut self.store, forks)
    }

    /// When `hash`, produced at `now`, reaches `peer`: a drawn delay up to half the latency, never before the
    /// blocks produced earlier.
    pub fn delivery(&mut self, now: u64, peer: u32, latency_ms: u64) -> u64 {
        let delay = 1 + self.deliveries[peer as usize].below(latency_ms / 2 + 1);
        let at = (now + delay).max(self.peer_block_clock[peer as usize]);
        self.peer_block_clock[peer as usize] = at;
        at
    }

    /// The interval to the next block: `block_time_ms ± jitter_ms`, at least 1.
    pub fn interval(&mut self, block_time_ms: u64, jitter_ms: u64) -> u64 {
        let jitter = self.block_times.below(2 * jitter_ms + 1);
        (block_time_ms + jitter).saturating_sub(jitter_ms).max(1)
    }
}
