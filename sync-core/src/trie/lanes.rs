//! Lanes (§2.13): key space split by first nibble into 1, 2, 4, 8 or 16 parts, each with its own missing
//! start, so that disjoint parts of the state can be downloaded at once and still follow every block's diff.
//!
//! Lane `j` of `L` holds the keys whose first nibble is in `[16j/L, 16(j+1)/L)`. Its bounds are one-nibble keys
//! (`ε` for lane 0, which holds no value), so every node but the root lies in exactly one lane and the root's 16
//! slots split among them. One lane is exactly the single missing range of §2.5.

use crate::key::Key;
use std::fmt;
use std::ops::Range;

/// The lane counts a trie and an engine accept.
pub const LANE_COUNTS: [u32; 5] = [1, 2, 4, 8, 16];

/// How key space is split into lanes. Always one of [`LANE_COUNTS`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Lanes(u8);

/// A lane count outside [`LANE_COUNTS`]: a configuration error, reported, never a panic.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LanesError {
    pub count: u32,
}

impl fmt::Display for LanesError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "lanes = {} is not one of 1, 2, 4, 8, 16", self.count)
    }
}

impl std::error::Error for LanesError {}

impl Default for Lanes {
    fn default() -> Lanes {
        Lanes::ONE
    }
}

impl Lanes {
    /// One lane: the reference behaviour (§2.5–§2.10).
    pub const ONE: Lanes = Lanes(1);

    pub fn new(count: u32) -> Result<Lanes, LanesError> {
        if LANE_COUNTS.contains(&count) {
            Ok(Lanes(count as u8))
        } else {
            Err(LanesError { count })
        }
    }

    pub fn count(self) -> usize {
        usize::from(self.0)
    }

    /// The lane of a key whose first nibble is `nibble`.
    pub fn of_nibble(self, nibble: u8) -> usize {
        usize::from(nibble) * self.count() / 16
    }

    /// The lane holding `key`; ε (which holds no value) is in lane 0.
    pub fn of_key(self, key: &Key) -> usize {
        key.nibbles().first().map_or(0, |&nibble| self.of_nibble(nibble))
    }

    /// The root slots of `lane`.
    pub fn nibbles(self, lane: usize) -> Range<u8> {
        let width = 16 / self.count();
        (lane * width) as u8..((lane + 1) * width) as u8
    }

    /// `b_j`, the first key of `lane`: ε for lane 0, the one-nibble key `16j/L` otherwise.
    pub fn start(self, lane: usize) -> Key {
        match lane {
            0 => Key::EMPTY,
            _ => one_nibble(self.nibbles(lane).start),
        }
    }

    /// `b_{j+1}`, the exclusive end of `lane`: `None` for the last lane.
    pub fn end(self, lane: usize) -> Option<Key> {
        (lane + 1 < self.count()).then(|| one_nibble(self.nibbles(lane).end))
    }

    /// Whether `key` lies in `lane`'s key range `[b_j, b_{j+1})`.
    pub fn holds(self, lane: usize, key: &Key) -> bool {
        self.of_key(key) == lane
    }
}

fn one_nibble(nibble: u8) -> Key {
    Key::from_checked(&[nibble])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_powers_of_two_up_to_sixteen_are_lane_counts() {
        for count in 0..40 {
            assert_eq!(Lanes::new(count).is_ok(), LANE_COUNTS.contains(&count), "{count}");
        }
        assert_eq!(Lanes::new(3), Err(LanesError { count: 3 }));
        assert_eq!(Lanes::new(3).unwrap_err().to_string(), "lanes = 3 is not one of 1, 2, 4, 8, 16");
    }

    #[test]
    fn lanes_tile_key_space_in_order() {
        for count in LANE_COUNTS {
            let lanes = Lanes::new(count).unwrap();
            let mut covered = Vec::new();
            for lane in 0..lanes.count() {
                covered.extend(lanes.nibbles(lane));
                assert!(lanes.holds(lane, &lanes.start(lane)) || lane == 0);
                if let Some(end) = lanes.end(lane) {
                    assert_eq!(lanes.of_key(&end), lane + 1, "a lane ends where the next begins");
                    assert!(lanes.start(lane) < end);
                }
            }
            assert_eq!(covered, (0..16).collect::<Vec<u8>>(), "{count} lanes cover every root slot once");
            assert_eq!(lanes.end(lanes.count() - 1), None);
            assert_eq!(lanes.of_key(&Key::EMPTY), 0);
        }
        let four = Lanes::new(4).unwrap();
        assert_eq!(four.start(2), Key::from_hex("8").unwrap());
        assert_eq!(four.end(2), Some(Key::from_hex("c").unwrap()));
        assert_eq!(four.of_key(&Key::from_hex("bff").unwrap()), 2);
        assert_eq!(four.of_key(&Key::from_hex("c").unwrap()), 3);
    }
}
