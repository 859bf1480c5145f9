//! The only source of randomness in a run: one ChaCha8 stream per component, all derived from one seed
//! (DEVELOPERS.md rule 2, STYLE §7). An extra draw in one component never reshuffles another.

use rand_chacha::ChaCha8Rng;
use rand_core::{Rng, SeedableRng};

/// Which component a stream belongs to. Stream ids are part of the replay format: never renumber them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stream {
    Options,
    Chain,
    Keys,
    Network,
    Faults,
    /// A simulated peer (honest or byzantine), by index.
    Peer(u32),
    /// A syncing node's engine seed, by index.
    Node(u32),
    Job,
}

impl Stream {
    fn id(self) -> u64 {
        match self {
            Stream::Options => 1,
            Stream::Chain => 2,
            Stream::Keys => 3,
            Stream::Network => 4,
            Stream::Faults => 5,
            Stream::Job => 6,
            Stream::Peer(index) => 1 << 32 | u64::from(index),
            Stream::Node(index) => 2 << 32 | u64::from(index),
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

    /// Uniform in `0..n` (0 when `n` is 0), without modulo bias.
    pub fn below(&mut self, n: u64) -> u64 {
        if n == 0 {
            return 0;
        }
        let zone = u64::MAX - u64::MAX % n;
        loop {
            let draw = self.next_u64();
            if draw < zone {
                return draw % n;
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

    /// `true` with probability `p`.
    pub fn chance(&mut self, p: f64) -> bool {
        p > 0.0 && self.unit() < p
    }

    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> Option<&'a T> {
        if items.is_empty() {
            return None;
        }
        Some(&items[self.below(items.len() as u64) as usize])
    }

    pub fn bytes(&mut self, count: usize) -> Vec<u8> {
        let mut bytes = vec![0u8; count];
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
        let mut c = Prng::new(7, Stream::Network);
        let (x, y, z) = (a.next_u64(), b.next_u64(), c.next_u64());
        assert_eq!(x, y, "same seed and stream replay");
        assert_ne!(x, z, "different streams differ");
        assert_ne!(Prng::new(8, Stream::Chain).next_u64(), x, "different seeds differ");
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
    }
}
