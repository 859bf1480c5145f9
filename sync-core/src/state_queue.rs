//! StateQueue and the chunk request component (§4.5, §4.12): one cursor and generation per lane, chunk
//! requests (hedged when `chunk_requests_in_flight` > 1 with one lane), the chunk response ladder, the chunk
//! buffer, and the reset rule.

use crate::hash::Hash;
use crate::interface::{Millis, PeerId};
use crate::key::Key;
use crate::peers::RoundRobin;
use crate::trie::Chunk;
use crate::wire::RequestId;
use std::collections::BTreeMap;
use std::sync::Arc;

/// `ChunkRequestState`: where a lane's next chunk request starts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Cursor {
    /// The lane is done (with one lane: the trie is complete and sync is finished).
    Complete,
    /// The lane's final chunk was accepted for block `n` but may not be committed yet.
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
    /// Shared, not copied, by a copy of the engine (a host's snapshot, the simulator's host-contract probe: its
    /// copy of the chunk buffer was 0.6 % of explore's time).
    pub(crate) chunk: Arc<Chunk>,
    pub(crate) peer: PeerId,
    /// It moved the cursor when it arrived: discarding it uncommitted leaves a hole (H8).
    pub(crate) advanced: bool,
    pub(crate) generation: u64,
    /// When it arrived; it is discarded `chunk_buffer_wait_ms` later if its block has not come.
    pub(crate) arrived: Millis,
    /// Its encoded size, for the buffer's byte count.
    pub(crate) bytes: u32,
}

/// One lane's chain of chunks (§4.12).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct LaneCursor {
    pub(crate) cursor: Cursor,
    /// A fresh value on every entry into `Reset` (unique over all lanes); answers to older generations are
    /// dropped (H17).
    pub(crate) generation: u64,
}

#[derive(Clone, Debug)]
pub(crate) struct StateQueue {
    /// One per lane, in lane order.
    pub(crate) lanes: Vec<LaneCursor>,
    /// The last generation handed out.
    pub(crate) generations: u64,
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
    /// Items the next chunk request asks for (§4.5): halved when an answer came after the head had passed its
    /// tag, grown by an eighth at each commit, within `chunk_size_min..=chunk_size_max`.
    pub(crate) chunk_limit: u32,
    /// When the limit was last halved: answers to requests sent before then were asked at the old limit and do
    /// not halve it again.
    pub(crate) chunk_limit_cut_at: Millis,
}

impl StateQueue {
    pub(crate) fn new(lanes: usize, complete: bool, chunk_size_max: u32, seed: u64) -> StateQueue {
        let cursor = if complete { Cursor::Complete } else { Cursor::Reset };
        StateQueue {
            lanes: (0..lanes as u64).map(|generation| LaneCursor { cursor: cursor.clone(), generation }).collect(),
            generations: lanes as u64 - 1,
            buffer: BTreeMap::new(),
            size: 0,
            bytes: 0,
            per_peer: BTreeMap::new(),
            attempts: 0,
            wasted_in_row: 0,
            retry_at: None,
            cursor_peers: RoundRobin::seeded(seed ^ 0x57a7e),
            chunk_limit: chunk_size_max,
            chunk_limit_cut_at: Millis(0),
        }
    }

    /// A full answer spent too long on the link (§4.5): the next requests ask for half as many items, not below
    /// `floor`.
    pub(crate) fn chunk_came_late(&mut self, floor: u32, now: Millis) {
        self.chunk_limit = (self.chunk_limit / 2).max(floor);
        self.chunk_limit_cut_at = now;
    }

    /// A chunk was committed: the limit grows back by an eighth, up to `max`.
    pub(crate) fn chunk_committed(&mut self, max: u32) {
        self.chunk_limit = self.chunk_limit.saturating_add(self.chunk_limit / 8 + 1).min(max);
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
        let list = self.buffer.entry((number, hash)).or_default();
        let position = list.partition_point(|held| held.start < chunk.start);
        list.insert(position, chunk);
        self.size += 1;
    }

    /// Every lane's cursor is `Complete`.
    pub(crate) fn complete(&self) -> bool {
        self.lanes.iter().all(|lane| lane.cursor == Cursor::Complete)
    }

    /// The lane whose current generation is `generation`, if any.
    pub(crate) fn lane_of_generation(&self, generation: u64) -> Option<usize> {
        self.lanes.iter().position(|lane| lane.generation == generation)
    }

    /// A fresh generation for `lane` (§4.5: on every entry into `Reset`).
    pub(crate) fn renew(&mut self, lane: usize) {
        self.generations += 1;
        self.lanes[lane].generation = self.generations;
    }

    /// Takes every chunk buffered for a block, keeping the counters exact (H6).
    pub(crate) fn take(&mut self, number: u32, hash: Hash) -> Vec<BufferedChunk> {
        self.take_where(number, hash, |_| true)
    }

    /// Takes the chunks buffered for a block that `which` selects (one lane's), keeping the counters exact.
    pub(crate) fn take_where(
        &mut self,
        number: u32,
        hash: Hash,
        which: impl Fn(&BufferedChunk) -> bool,
    ) -> Vec<BufferedChunk> {
        let Some(list) = self.buffer.get_mut(&(number, hash)) else { return Vec::new() };
        let (chunks, kept): (Vec<_>, Vec<_>) = std::mem::take(list).into_iter().partition(|chunk| which(chunk));
        if kept.is_empty() {
            self.buffer.remove(&(number, hash));
        } else {
            *list = kept;
        }
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
