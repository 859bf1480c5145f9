//! `sim`: a seeded, deterministic simulator for state live sync.
//!
//! One seed is one world: every random choice flows from it through [`prng::Prng`] streams, one per
//! component, and nothing in a run reads the wall clock or starts a thread. Parallelism is across seeds only.
//!
//! - [`options`]: every knob, `Options::swarm(seed)`;
//! - [`world`]: the event loop, the checks, [`world::run`];
//! - [`producer`], [`peer`], [`byzantine`], [`network`]: the chain, the peers, the liars, the links;
//! - [`trace`], [`svg`], [`outcome`]: what a run leaves behind;
//! - [`sweep`], [`baseline`]: tables over many worlds, and the pivot-sync strategy live sync is compared with.

pub mod adversary;
pub mod agenda;
pub mod baseline;
pub mod fixture;
pub mod keys;
pub mod network;
pub mod options;
pub mod oracle;
pub mod outcome;
pub mod panics;
pub mod peer;
#[cfg(feature = "cli")]
pub mod plot;
pub mod prng;
pub mod producer;
pub mod shrink;
pub mod stage;
pub mod summary;
pub mod svg;
pub mod sweep;
pub mod trace;
pub mod trie_job;
pub mod world;

pub use options::Options;
pub use outcome::{Failure, FailureClass, RunOutcome, RunStats};
