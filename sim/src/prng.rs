//! The only source of randomness in a run: ChaCha8 streams derived from one seed, one per component and per
//! actor (STYLE §7).
//!
//! Two rules make "one knob never reshuffles another" true, and `tests/isolation.rs` checks it:
//! - every actor that can be switched on has a stream of its own: each liar ([`Stream::Adversary`]), each link,
//!   each partition, each peer's churn and block deliveries; the canonical chain alone draws from
//!   [`Stream::Chain`];
//! - a draw site consumes the same number of draws whatever its probability: [`Prng::chance`] draws even for
//!   0 and 1, and a site that draws a value only when a chance hits draws it anyway.

use rand_chacha::ChaCha8Rng;
use rand_core::{Rng, SeedableRng};

/// Which component or actor a stream belongs to. Stream ids are part of the replay format: never renumber them,
/// only add new ones.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stream {
    /// The swarm's draw of the options.
    Options,
    /// The canonical chain and the forks the producer makes: nothing else draws from it.
    Chain,
    /// The key shape's pools.
    Keys,
    /// World-wide faults: the window in which every peer is gone.
    Faults,
    /// The trie-only job (`sim trie`).
    Job,
    /// Block-time jitter.
    BlockTimes,
    /// A simulated peer's honest behaviour (its answer delays), by index.
    Peer(u32),
    /// A syncing node's engine seed, by index.
    Node(u32),
    /// A liar's lies and moves, by peer index: switching a liar on changes nothing else.
    Adversary(u32),
    /// The network link between the node and a peer: latency, jitter, loss, reordering, duplication, replays.
    Link(u32),
    /// A peer's join time and churn.
    Churn(u32),
    /// When each block reaches a peer from the producer.
    PeerBlocks(u32),
    /// The k-th partition of the safety phase.
    Partition(u32),
}

impl Stream {
    fn id(self) -> u64 {
        match self {
            Stream::Options => 1,
            Stream::Chain => 2,
            Stream::Keys => 3,
            // 4 and 5 were the whole network's and all faults' streams before the streams were split.
            Stream::Faults => 9,
            Stream::Job => 6,
            Stream::BlockTimes => 7,
            Stream::Peer(index) => 1 << 32 | u64::from(index),
            Stream::Node(index) => 2 << 32 | u64::from(index),
            Stream::Adversary(index) => 3 << 32 | u64::from(index),
            Stream::Link(index) => 4 << 32 | u64::from(index),
            Stream::Churn(index) => 5 << 32 | u64::from(index),
            Stream::PeerBlocks(index) => 6 << 32 | u64::from(index),
            Stream::Partition(index) => 7 << 32 | u64::from(index),
        }
    }
}

/// A seeded generator with the few draws the simulator needs.
#[derive(Clone, Debug)]
pub struct Prng(ChaCha8Rng);

impl Prng {
    pub fn new(seed: u64, stream: Stream) -> Prng {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        rng.set_stream(stream.id());
        Prng(rng)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0.next_u64()
    }

    /// Uniform in `0..n` (0 when `n` is 0), without modulo bias. Draws once, or again on a rejection, which
    /// depends only on the draw itself.
    pub fn below(&mut self, n: u64) -> u64 {
        let zone = u64::MAX - u64::MAX % n.max(1);
        loop {
            let draw = self.next_u64();
            if draw < zone {
                return if n == 0 { 0 } else { draw % n };
            }
        }
    }

    /// Uniform in `low..=high`.
    pub fn range(&mut self, low: u64, high: u64) -> u64 {
        debug_assert!(low <= high);
        low + self.below(high - low + 1)
    }

    /// Uniform in `[0, 1)`.
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// `true` with probability `p`. Always one draw, whatever `p`: turning a probability from 0 to something
    /// else never shifts the draws after it.
    pub fn chance(&mut self, p: f64) -> bool {
        let draw = self.unit();
        p > 0.0 && draw < p
    }

    /// One of `items`, uniformly (one draw; `None` for an empty slice, after its draw).
    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> Option<&'a T> {
        let index = self.below(items.len() as u64) as usize;
        items.get(index)
    }

    pub fn bytes(&mut self, count: usize) -> Vec<u8> {
        let mut bytes = vec![0u8; count];
        self.0.fill_bytes(&mut bytes);
        bytes
    }

    /// 32 drawn bytes.
    pub fn hash(&mut self) -> [u8; 32] {
        let mut bytes = [0u8; 32];
        self.0.fill_bytes(&mut bytes);
        bytes
    }

    /// A fresh seed for a sub-generator (e.g. an engine's tie-breaking seed).
    pub fn seed(&mut self) -> u64 {
        self.next_u64()
    }

    /// Fisher–Yates shuffle.
    pub fn shuffle<T>(&mut self, items: &mut [T]) {
        for index in (1..items.len()).rev() {
            let other = self.below(index as u64 + 1) as usize;
            items.swap(index, other);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streams_are_independent_and_replayable() {
        let mut a = Prng::new(7, Stream::Chain);
        let mut b = Prng::new(7, Stream::Chain);
        let mut c = Prng::new(7, Stream::Link(0));
        let (x, y, z) = (a.next_u64(), b.next_u64(), c.next_u64());
        assert_eq!(x, y, "same seed and stream replay");
        assert_ne!(x, z, "different streams differ");
        assert_ne!(Prng::new(8, Stream::Chain).next_u64(), x, "different seeds differ");
        let ids =
            [Stream::Adversary(1), Stream::Link(1), Stream::Churn(1), Stream::PeerBlocks(1), Stream::Partition(1)];
        let mut firsts: Vec<u64> = ids.iter().map(|stream| Prng::new(7, *stream).next_u64()).collect();
        firsts.sort();
        firsts.dedup();
        assert_eq!(firsts.len(), ids.len(), "per-actor streams of the same index differ");
    }

    #[test]
    fn draws_stay_in_range() {
        let mut prng = Prng::new(1, Stream::Job);
        for _ in 0..1000 {
            assert!(prng.below(7) < 7);
            assert!((3..=5).contains(&prng.range(3, 5)));
            assert!((0.0..1.0).contains(&prng.unit()));
        }
        assert_eq!(prng.below(0), 0);
        assert!(!prng.chance(0.0));
        assert!(prng.chance(1.0));
        assert_eq!(prng.pick::<u8>(&[]), None);
    }

    /// The isolation rule at its smallest: a chance of 0, of ½ or of 1 consumes one draw, so what follows is the
    /// same whatever the probability was.
    #[test]
    fn a_chance_draws_once_whatever_its_probability() {
        let after = |p: f64| {
            let mut prng = Prng::new(3, Stream::Faults);
            prng.chance(p);
            let _ = prng.pick(&[10, 20, 30]);
            prng.next_u64()
        };
        assert_eq!(after(0.0), after(0.5));
        assert_eq!(after(0.5), after(1.0));
        let picked = |items: &[u8]| {
            let mut prng = Prng::new(3, Stream::Faults);
            prng.pick(items);
            prng.next_u64()
        };
        assert_eq!(picked(&[]), picked(&[1, 2, 3]), "picking from an empty slice draws too");
    }
}
