//! `sim`: a seeded, deterministic simulator for state live sync.
//!
//! One seed is one world: every random choice flows from it through [`prng::Prng`] streams, one per
//! component, and nothing in a run reads the wall clock or starts a thread. Parallelism is across seeds only.

pub mod keys;
pub mod prng;
pub mod trie_job;
