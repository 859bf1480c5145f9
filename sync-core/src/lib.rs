//! `sync-core`: state live sync as a sans-IO state machine, and the partial Merkle radix trie it fills.
//!
//! Nothing in this crate reads a clock, does I/O, starts a thread or draws ambient randomness: time comes in as
//! `now`, peer messages come in as inputs, and everything the engine wants done comes out as outputs.
//! Nothing a peer sends can make it panic: decoding is total, and a bad message is an error value.
//!
//! Modules, in the order the SPEC introduces them:
//! - [`key`], [`hash`], [`codec`]: nibble keys in pre-order, BLAKE2b-256, bounded byte encoding (SPEC §2.1, §3.1);
//! - [`trie`]: the complete and partial trie, chunks, proofs, diffs, execution (SPEC §2).

pub mod codec;
pub mod hash;
pub mod key;
pub mod trie;

pub use hash::Hash;
pub use key::{Key, KEY_MAX};
pub use trie::{Chunk, ChunkApplied, ChunkError, Ignored, Invalid, Op, ProofNode, Trie, TrieDiff, EMPTY_ROOT};
