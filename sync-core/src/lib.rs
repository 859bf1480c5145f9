//! `sync-core`: state live sync as a sans-IO state machine, and the partial Merkle radix trie it fills.
//!
//! Nothing in this crate reads a clock, does I/O, starts a thread or draws ambient randomness: time comes in as
//! `now`, peer messages come in as inputs, and everything the engine wants done comes out as outputs.
//! Nothing a peer sends can make it panic: decoding is total, and a bad message is an error value and a penalty.
//!
//! # Driving the engine
//!
//! A host owns time, delivery and the peers. It calls, in this order, forever:
//!
//! 1. [`SyncEngine::handle_input`] with one [`Input`] and the current `now` (never decreasing);
//! 2. [`SyncEngine::poll_output`] until it returns `None`, sending every [`Output::SendRequest`] and
//!    [`Output::SendResponse`] to its peer and recording every [`Output::Event`];
//! 3. [`SyncEngine::poll_timeout`], and arranges to deliver [`Input::Timeout`] at that time (earlier or later is
//!    harmless: deadlines are re-checked against `now`).
//!
//! ```
//! use std::sync::Arc;
//! use sync_core::{Config, Input, Millis, Output, PeerId, SyncEngine, Trie};
//! use sync_core::block::{Block, Header, KeyedSeal};
//! use sync_core::{Hash, EMPTY_ROOT};
//!
//! # fn main() -> Result<(), sync_core::config::ConfigError> {
//! let seals = KeyedSeal::new(Hash([7; 32]));
//! let header = Header { number: 0, parent_hash: Hash::ZERO, state_root: EMPTY_ROOT,
//!     diff_root: Hash::ZERO, body_root: Hash::ZERO, is_macro: true, seal: Hash::ZERO };
//! let checkpoint = Block::sealed(header, None, |hash| seals.seal(hash));
//! let mut engine = SyncEngine::new(Config::scaled(4), 1, checkpoint, Arc::new(seals), Trie::fresh())?;
//! engine.handle_input(Millis(0), Input::PeerJoined { peer: PeerId(1) });
//! while let Some(output) = engine.poll_output() {
//!     // The fresh engine asks its only peer for the first chunk.
//!     assert!(matches!(output, Output::SendRequest { peer: PeerId(1), .. }));
//! }
//! assert!(engine.poll_timeout().is_some(), "the request has a deadline");
//! # Ok(())
//! # }
//! ```
//!
//! Section numbers (§) and hazards (H1–H25) refer to `docs/protocol.md`. Modules, in its order:
//! - [`key`], [`hash`], [`codec`]: nibble keys in pre-order, BLAKE2b-256, bounded byte encoding (§2.1, §3.1);
//! - [`trie`]: the complete and partial trie, chunks, proofs, diffs, execution (§2);
//! - [`block`], [`wire`]: blocks, seals and the protocol messages (§1.2, §3);
//! - [`config`], [`interface`], [`SyncEngine`], [`responder`]: the engine and its vocabulary (§4, §6).

mod block_queue;
mod chain;
mod diff_queue;
mod engine;
mod peers;
#[cfg(test)]
mod queue_tests;
mod requests;
mod state_queue;

pub mod block;
pub mod codec;
pub mod config;
pub mod hash;
pub mod interface;
pub mod key;
pub mod responder;
pub mod trie;
pub mod wire;

pub use config::{Config, LANES_RECOMMENDED};
pub use engine::{EngineStats, SyncEngine};
pub use hash::Hash;
pub use interface::{ChunkWaste, Event, Input, Millis, Output, PeerId, ResetReason, TimeoutReason, Violation};
pub use key::{Key, KEY_MAX};
pub use state_queue::Cursor;
pub use trie::{Chunk, ChunkApplied, ChunkError, Ignored, Invalid, Op, ProofNode, Trie, TrieDiff, EMPTY_ROOT};
