//! The engine's one vocabulary (§6, STYLE §2): inputs in, outputs drained, events, time.

use crate::block::{Block, BlockInvalid};
use crate::hash::Hash;
use crate::key::Key;
use crate::wire::{Request, RequestId, Response};
use std::fmt;

/// Milliseconds of host time. Never decreasing across inputs; equal values are allowed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Millis(pub u64);

impl Millis {
    pub fn plus(self, ms: u64) -> Millis {
        Millis(self.0.saturating_add(ms))
    }
}

impl fmt::Display for Millis {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}ms", self.0)
    }
}

/// A peer, as the host names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PeerId(pub u32);

impl fmt::Display for PeerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "p{}", self.0)
    }
}

/// One input, handed over with its `now`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Input {
    PeerJoined {
        peer: PeerId,
    },
    PeerLeft {
        peer: PeerId,
    },
    Announce {
        peer: PeerId,
        block: Block,
    },
    /// The answer to a request we sent (or claims to be).
    Response {
        peer: PeerId,
        request_id: RequestId,
        response: Response,
    },
    /// The transport could not deliver a request or its answer.
    RequestFailed {
        peer: PeerId,
        request_id: RequestId,
    },
    /// A request to be served by the responder side (§3).
    Request {
        peer: PeerId,
        request_id: RequestId,
        request: Request,
    },
    /// Raw bytes from a peer: decoded here, and an undecodable message is a violation (§6).
    Bytes {
        peer: PeerId,
        bytes: Vec<u8>,
    },
    /// A timer fired (early or late: deadlines are re-checked against `now`).
    Timeout,
}

/// What the engine wants done, drained after every input until none are left.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Output {
    SendRequest { peer: PeerId, request_id: RequestId, request: Request },
    SendResponse { peer: PeerId, request_id: RequestId, response: Response },
    Event(Event),
}

/// Why the engine wants to be woken.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum TimeoutReason {
    RequestDeadline,
    DiffBackoff,
    /// The diff request of the oldest block waiting for one is overdue: it may be asked once more (§4.4).
    DiffHedge,
    ChunkRetryBackoff,
    /// A buffered chunk's block has not come within `chunk_buffer_wait_ms`.
    ChunkBufferWait,
    /// A catch-up that brought blocks no longer holds chunk requests back (`request_timeout_ms` after its last).
    CatchUpPause,
    /// A peer that answered `RateLimited` may be asked again (`rate_limited_cooldown_ms`).
    PeerThrottled,
    /// A peer that timed out and never answered ends its cooldown: a waiting diff may probe it (§4.4).
    PeerCooled,
}

/// Why the chunk cursor went back to `Reset` (§4.5).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum ResetReason {
    /// A commit returned `Invalid` or `RootMismatch`.
    ChunkRejected,
    /// A commit returned `Ignored(Gap)` (H22).
    Gap,
    /// A chunk that had advanced the cursor was discarded uncommitted (H8, H15, H21).
    ChunkDiscarded,
    /// `Paused(n)` and the head passed `n` with the trie still incomplete.
    PausedPassed,
    /// A rebranch left the trie incomplete.
    Rebranch,
}

/// Why a chunk answer will never be committed (§4.5). Every chunk answer the engine reads is either committed
/// or wasted with one of these, in a `ChunkWasted` event (Ours: hosts account for the waste, and the simulator
/// attributes each one to a cause, §7.7).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum ChunkWaste {
    /// The answer matched no outstanding request: it was never sent, answered already, timed out, or forgotten
    /// (a reset, a hedge that lost, completion).
    Unmatched,
    /// The answer was to a request of an older cursor generation (a reset since it was sent), or came after
    /// completion.
    Outdated,
    /// Tagged more than `tolerate_past_max` below the head (§4.5, step 5).
    TagBehind,
    /// Tagged more than `window_ahead_max` above the head (§4.5, step 6).
    TagAhead,
    /// Tagged with a block that can never become the head: at or below the head or the latest macro block,
    /// known, or rejected (§4.5, step 8).
    TagPassed,
    /// The chunk buffer, or the peer's share of it, was full (§4.5, step 9).
    BufferFull,
    /// Buffered for a block, then replaced by a new chain of chunks for the same block.
    Replaced,
    /// At commit: its start was already downloaded (another copy was committed first).
    Stale,
    /// At commit: its start lies beyond `s`, a hole (the reset reason `Gap`).
    Gap,
    /// At commit: invalid or the root mismatched (the peer is penalised).
    Rejected,
    /// Left in a push after an earlier chunk of it reset the chunk chain.
    AfterReset,
    /// Its block was pushed and not adopted: stored as a fork, already known, ignored, or without a parent.
    NotAdopted,
    /// Its block was invalid.
    BlockInvalid,
    /// A head chunk whose head moved on before its commit (H21).
    HeadMoved,
    /// Pruned: its block's height was passed, or its block became known, before it was pushed (H13).
    Pruned,
    /// Its block did not come within `chunk_buffer_wait_ms` (H14, H15).
    Expired,
    /// The trie completed while it was buffered, or before it could be committed.
    Completed,
}

/// A proven protocol violation (§4.2). Nothing else is ever penalised.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Violation {
    Undecodable,
    WrongResponseType,
    ChunkOverLimit,
    ChunkNoProgress,
    /// §2.13: a chunk whose `end` passes the end bound its request named (a lane nobody asked for).
    ChunkPastLane,
    ChunkRejected,
    DiffRootMismatch,
    MissingBlocksInvalid,
    InvalidBlock(BlockInvalid),
}

/// Events (§4.10).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    AcceptedAnnouncedBlock {
        hash: Hash,
        number: u32,
    },
    AcceptedBufferedBlock {
        hash: Hash,
        number: u32,
        remaining: u32,
    },
    ReceivedMissingBlocks {
        hashes: Vec<Hash>,
    },
    RejectedBlock {
        hash: Hash,
        reason: BlockInvalid,
    },
    /// A block was stored as a fork, not adopted.
    StoredFork {
        hash: Hash,
        number: u32,
    },
    AcceptedChunks {
        hash: Hash,
        count: u32,
    },
    PeerBehind {
        peer: PeerId,
    },
    PeerAhead {
        peer: PeerId,
    },
    StateComplete {
        head: Hash,
    },
    /// §4.12: lane `lane` is known to its end while other lanes are not; its outstanding chunk requests are
    /// forgotten, and their answers drop unread.
    LaneComplete {
        lane: u8,
    },
    StateReset,
    /// Lane `lane`'s chain of chunks starts over (lane 0 with one lane).
    ChunkChainReset {
        reason: ResetReason,
        lane: u8,
    },
    /// The missing range changed (a commit or a revert); `missing` is `None` when complete.
    StateProgress {
        head: Hash,
        missing: Option<Key>,
    },
    Rebranched {
        reverted: Vec<Hash>,
        adopted: Vec<Hash>,
    },
    PeerPenalized {
        peer: PeerId,
        violation: Violation,
    },
    PeerEvicted {
        peer: PeerId,
    },
    DiffUnavailable {
        hash: Hash,
    },
    /// Ours (§4.7): fork block `hash` (#`number`) was forgotten at `fork_blocks_max`; the blocks that waited in
    /// the pipeline building on it (`orphaned`, at most `pending_blocks_max`) left the pipeline with it.
    ForkForgotten {
        hash: Hash,
        number: u32,
        orphaned: Vec<Hash>,
    },
    /// A chunk answer that will never be committed, and why (Ours).
    ChunkWasted {
        peer: PeerId,
        request_id: RequestId,
        number: u32,
        waste: ChunkWaste,
    },
    /// A request got no answer before its deadline (Ours): a failed attempt, and the peer cools down.
    RequestTimedOut {
        peer: PeerId,
        request_id: RequestId,
    },
}
