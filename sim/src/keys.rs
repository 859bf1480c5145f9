//! Account key distributions (§7.1): uniform fixed-length keys, clustered prefixes (deep shared paths),
//! and prefix-related keys (a key and its sub-entries, which make hybrid nodes).

use crate::prng::Prng;
use serde::{Deserialize, Serialize};
use sync_core::Key;

/// Nibbles in a simulated account key (a 20-byte address).
pub const ACCOUNT_KEY_NIBBLES: usize = 40;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "cli", derive(clap::ValueEnum))]
#[serde(rename_all = "snake_case")]
pub enum KeyShape {
    /// 40 uniformly random nibbles.
    Uniform,
    /// A handful of long shared prefixes with short random tails: deep boundary paths.
    Clustered,
    /// Base keys plus sub-entries that extend them by 1–4 nibbles: keys that are prefixes of others.
    PrefixRelated,
}

impl KeyShape {
    pub const ALL: [KeyShape; 3] = [KeyShape::Uniform, KeyShape::Clustered, KeyShape::PrefixRelated];
}

/// Draws keys of one shape; remembers the prefixes or bases the shape reuses.
#[derive(Clone, Debug)]
pub struct KeySource {
    shape: KeyShape,
    pool: Vec<Vec<u8>>,
}

impl KeySource {
    pub fn new(shape: KeyShape, prng: &mut Prng) -> KeySource {
        let (pool_size, length) = match shape {
            KeyShape::Uniform => (0, 0),
            KeyShape::Clustered => (6, 30),
            KeyShape::PrefixRelated => (64, ACCOUNT_KEY_NIBBLES - 4),
        };
        let pool = (0..pool_size).map(|_| nibbles(prng, length)).collect();
        KeySource { shape, pool }
    }

    /// A key of this shape. Every key of a shape takes the same number of draws.
    pub fn draw(&self, prng: &mut Prng) -> Key {
        let nibbles = match self.shape {
            KeyShape::Uniform => nibbles(prng, ACCOUNT_KEY_NIBBLES),
            KeyShape::Clustered => {
                let mut key = prng.pick(&self.pool).cloned().unwrap_or_default();
                key.extend(nibbles(prng, ACCOUNT_KEY_NIBBLES - key.len()));
                key
            }
            KeyShape::PrefixRelated => {
                let mut key = prng.pick(&self.pool).cloned().unwrap_or_default();
                let tail = prng.below(5) as usize;
                let extension: Vec<u8> = (0..4).map(|_| prng.below(3) as u8).collect();
                key.extend(&extension[..tail]);
                key
            }
        };
        Key::from_nibbles(&nibbles).unwrap_or_default()
    }
}

fn nibbles(prng: &mut Prng, count: usize) -> Vec<u8> {
    (0..count).map(|_| prng.below(16) as u8).collect()
}
