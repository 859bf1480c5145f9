//! StateQueue and the chunk request component (§4.5): the cursor, chunk requests (hedged when
//! `chunk_requests_in_flight` > 1), the chunk response ladder, the chunk buffer, and the reset rule.

use crate::hash::Hash;
use crate::interface::{Millis, PeerId};
use crate::key::Key;
use crate::peers::RoundRobin;
use crate::trie::Chunk;
use crate::wire::RequestId;
use std::collections::BTreeMap;

/// `ChunkRequestState`: where the next chunk request starts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Cursor {
    /// The trie is complete and sync is finished.
    Complete,
    /// The final chunk was accepted for block `n` but may not be committed yet.
    Paused(u32),
    /// The next request starts at the trie's missing start.
    Reset,
    /// The next request starts at `max(k, s)` (the clamp guards against a cursor behind the trie, H17).
    Continue(Key),
}

/// A chunk waiting in the buffer for its block.
#[derive(Clone, Debug)]
pub(crate) struct BufferedChunk {
    /// The request it answered (for the waste event if it is never committed).
    pub(crate) request_id: RequestId,
    pub(crate) start: Key,
    pub(crate) chunk: Chunk,
    pub(crate) peer: PeerId,
    /// It moved the cursor when it arrived: discarding it uncommitted leaves a hole (H8).
    pub(crate) advanced: bool,
    pub(crate) generation: u64,
    /// When it arrived; it is discarded `chunk_buffer_wait_ms` later if its block has not come.
    pub(crate) arrived: Millis,
    /// Its encoded size, for the buffer's byte count.
    pub(crate) bytes: u32,
}

#[derive(Clone, Debug)]
pub(crate) struct StateQueue {
    pub(crate) cursor: Cursor,
    /// Increases on every entry into `Reset`; answers to older generations are dropped (H17).
    pub(crate) generation: u64,
    /// Height → block hash → chunks with strictly increasing starts.
    pub(crate) buffer: BTreeMap<(u32, Hash), Vec<BufferedChunk>>,
    /// The exact number of buffered chunks (H6), and their encoded bytes.
    pub(crate) size: u32,
    pub(crate) bytes: u64,
    pub(crate) per_peer: BTreeMap<PeerId, u32>,
    /// Failed attempts at the current start; at `attempts(peers)` the start waits `chunk_retry_backoff_ms`.
    pub(crate) attempts: u32,
    /// Chunks in a row that could never be applied (H12): they pace requests like failures.
    pub(crate) wasted_in_row: u32,
    pub(crate) retry_at: Option<Millis>,
    pub(crate) cursor_peers: RoundRobin,
}

impl StateQueue {
    pub(crate) fn new(complete: bool, seed: u64) -> StateQueue {
        StateQueue {
            cursor: if complete { Cursor::Complete } else { Cursor::Reset },
            generation: 0,
            buffer: BTreeMap::new(),
            size: 0,
            bytes: 0,
            per_peer: BTreeMap::new(),
            attempts: 0,
            wasted_in_row: 0,
            retry_at: None,
            cursor_peers: RoundRobin::seeded(seed ^ 0x57a7e),
        }
    }

    /// Buffers a chunk; the caller checked room in total (`buffer_max`) and for its peer (H14).
    pub(crate) fn add(&mut self, number: u32, hash: Hash, chunk: BufferedChunk, buffer_max: u32, per_peer_max: u32) {
        assert!(
            self.size < buffer_max,
            "the caller checked room in the chunk buffer (H5 bypasses it only for head chunks)"
        );
        let from_peer = self.per_peer.get(&chunk.peer).copied().unwrap_or(0);
        assert!(from_peer < per_peer_max, "the caller checked the peer's chunk quota (H14)");
        *self.per_peer.entry(chunk.peer).or_default() += 1;
        self.bytes += u64::from(chunk.bytes);
        self.buffer.entry((number, hash)).or_default().push(chunk);
        self.size += 1;
    }

    /// Takes every chunk buffered for a block, keeping the counters exact (H6).
    pub(crate) fn take(&mut self, number: u32, hash: Hash) -> Vec<BufferedChunk> {
        let chunks = self.buffer.remove(&(number, hash)).unwrap_or_default();
        for chunk in &chunks {
            self.size -= 1;
            self.bytes -= u64::from(chunk.bytes);
            if let Some(count) = self.per_peer.get_mut(&chunk.peer) {
                *count -= 1;
                if *count == 0 {
                    self.per_peer.remove(&chunk.peer);
                }
            }
        }
        chunks
    }

    pub(crate) fn keys(&self) -> Vec<(u32, Hash)> {
        self.buffer.keys().copied().collect()
    }

    /// The earliest time a buffered chunk runs out of patience.
    pub(crate) fn next_expiry(&self, wait_ms: u64) -> Option<Millis> {
        self.buffer.values().flatten().map(|chunk| chunk.arrived.plus(wait_ms)).min()
    }
}
