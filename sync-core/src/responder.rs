//! The responder side (§3.4–§3.7): answering chunk, diff and missing-block requests from a node's own chain
//! and state. Written against [`ChainView`] so that the engine and the simulator's honest peers run this same
//! code.

use crate::block::Block;
use crate::config::Config;
use crate::hash::Hash;
use crate::interface::{Millis, PeerId};
use crate::trie::{Trie, TrieDiff};
use crate::wire::{Request, Response};
use std::collections::BTreeMap;

/// What a responder needs to see of a chain.
pub trait ChainView {
    fn head(&self) -> &Block;
    fn block(&self, hash: &Hash) -> Option<&Block>;
    fn is_main(&self, hash: &Hash) -> bool;
    /// The main-chain block at `number`, if held.
    fn main_at(&self, number: u32) -> Option<&Block>;
    /// A verified or self-produced diff held for `hash`.
    fn diff(&self, hash: &Hash) -> Option<&TrieDiff>;
    /// The state at the head (complete or not).
    fn head_state(&self) -> &Trie;
}

impl ChainView for crate::chain::Chain {
    fn head(&self) -> &Block {
        crate::chain::Chain::head(self)
    }
    fn block(&self, hash: &Hash) -> Option<&Block> {
        crate::chain::Chain::block(self, hash)
    }
    fn is_main(&self, hash: &Hash) -> bool {
        crate::chain::Chain::is_main(self, hash)
    }
    fn main_at(&self, number: u32) -> Option<&Block> {
        crate::chain::Chain::main_at(self, number)
    }
    fn diff(&self, hash: &Hash) -> Option<&TrieDiff> {
        crate::chain::Chain::diff(self, hash)
    }
    fn head_state(&self) -> &Trie {
        self.trie()
    }
}

/// Answers one request from `view` (no rate limiting; see [`RateLimiter`]).
pub fn respond(view: &impl ChainView, request: &Request, config: &Config) -> Response {
    match request {
        Request::Chunk { start_key, limit, end_bound } => {
            let state = view.head_state();
            let limit = (*limit).clamp(1, config.chunk_size_max) as usize;
            // A bound is a lane's end (§2.13): one nibble, above the start. Anything else is answered with an error
            // value, never cut (a bound the proof does not anchor would make an honest chunk look like a lie).
            if end_bound.as_ref().is_some_and(|bound| bound.len() != 1 || bound <= start_key) {
                return Response::BadEndBound;
            }
            match state.chunk_bounded(start_key, limit, end_bound.as_ref()) {
                None => Response::IncompleteState,
                Some(chunk) => {
                    let head = view.head();
                    Response::Chunk { block_number: head.number(), block_hash: head.hash(), chunk }
                }
            }
        }
        Request::TrieDiff { block_hash } => match (view.block(block_hash), view.diff(block_hash)) {
            (None, _) => Response::UnknownBlockHash,
            (Some(_), None) => Response::IncompleteState,
            (Some(_), Some(diff)) => Response::Diff(diff.clone()),
        },
        Request::MissingBlocks { target_hash, locators, include_body } => {
            let Some(locator) = locators.iter().find(|locator| view.is_main(locator)).and_then(|l| view.block(l))
            else {
                return Response::UnknownLocators;
            };
            blocks_towards(view, target_hash, locator.number().saturating_add(1), *include_body, config.bpb)
        }
        Request::BlocksFrom { target_hash, first, include_body } => {
            blocks_towards(view, target_hash, *first, *include_body, config.bpb)
        }
    }
}

/// §3.4, forward direction: our main-chain blocks from height `first` (after the first locator we hold, or as
/// asked) up to the target, stopping at the first macro block, at most `bpb` of them.
fn blocks_towards(view: &impl ChainView, target: &Hash, first: u32, include_body: bool, bpb: u32) -> Response {
    let Some(target_block) = view.block(target) else { return Response::TargetHashNotFound };
    if !view.is_main(target) {
        return Response::TargetNotOnMainChain;
    }
    let mut blocks = Vec::new();
    for number in first..=target_block.number() {
        let Some(block) = view.main_at(number) else { break };
        blocks.push(if include_body { block.clone() } else { block.without_body() });
        if block.header().is_macro || blocks.len() >= bpb as usize {
            break;
        }
    }
    Response::Blocks(blocks)
}

/// Per-peer request counters over fixed windows (§3.7). Bounded: at most `peers_max` peers are tracked;
/// the least recently seen is forgotten first.
#[derive(Clone, Debug, Default)]
pub struct RateLimiter {
    windows: BTreeMap<PeerId, Window>,
}

#[derive(Clone, Copy, Debug, Default)]
struct Window {
    started: Millis,
    chunks: u32,
    diffs: u32,
    missing_blocks: u32,
}

impl RateLimiter {
    /// Counts the request and says whether it may be served.
    pub fn admit(&mut self, now: Millis, peer: PeerId, request: &Request, config: &Config) -> bool {
        if !self.windows.contains_key(&peer) && self.windows.len() >= config.peers_max as usize {
            let oldest = self.windows.iter().min_by_key(|(_, window)| window.started).map(|(&peer, _)| peer);
            if let Some(oldest) = oldest {
                self.windows.remove(&oldest);
            }
        }
        let window = self.windows.entry(peer).or_insert(Window { started: now, ..Window::default() });
        if now.0 >= window.started.0.saturating_add(config.rate_window_ms) {
            *window = Window { started: now, ..Window::default() };
        }
        let (count, max) = match request {
            Request::Chunk { .. } => (&mut window.chunks, config.served_chunks_per_window_max),
            Request::TrieDiff { .. } => (&mut window.diffs, config.served_diffs_per_window_max),
            Request::MissingBlocks { .. } | Request::BlocksFrom { .. } => {
                (&mut window.missing_blocks, config.served_missing_blocks_per_window_max)
            }
        };
        *count = count.saturating_add(1);
        *count <= max
    }

    pub fn tracked_peers(&self) -> usize {
        self.windows.len()
    }
}
