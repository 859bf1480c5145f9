//! What a run produced: its failure if any, its trace hash, and the figures the summary aggregates.

use serde::{Deserialize, Serialize};
use std::fmt;

/// The four failure classes of §7.5.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FailureClass {
    /// A panic: an `assert!` of our own invariants, or worse.
    Crash,
    /// A safety check failed (S1–S10, a bound, event order, the final state).
    Safety,
    /// The node did not complete within the bound of L1.
    Liveness,
    /// The same seed gave two different traces.
    Determinism,
    /// Wasted work with no cause the world produced (§7.7).
    Waste,
}

impl FailureClass {
    pub fn name(self) -> &'static str {
        match self {
            FailureClass::Crash => "crash",
            FailureClass::Safety => "safety",
            FailureClass::Liveness => "liveness",
            FailureClass::Determinism => "determinism",
            FailureClass::Waste => "waste",
        }
    }
}

impl fmt::Display for FailureClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Failure {
    pub class: FailureClass,
    /// Simulated time of the failure.
    pub at_ms: u64,
    pub what: String,
}

/// Figures of one run.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct RunStats {
    pub simulated_ms: u64,
    /// Inputs delivered to nodes.
    pub inputs: u64,
    /// Agenda events processed.
    pub events: u64,
    pub blocks_produced: u64,
    pub liveness_start_ms: u64,
    /// When the (first) node completed, if it did.
    pub completed_ms: Option<u64>,
    /// Bytes of chunk answers delivered to nodes.
    pub bytes_fetched: u64,
    /// Bytes of diff answers delivered to nodes.
    #[serde(default)]
    pub diff_bytes_fetched: u64,
    /// Messages from peers the node decoded from bytes, their bytes, and byte strings that did not decode.
    #[serde(default)]
    pub messages_decoded: u64,
    #[serde(default)]
    pub bytes_decoded: u64,
    #[serde(default)]
    pub messages_undecodable: u64,
    /// The canonical chain hash (`ChainStore::canonical_hash`) at the start of the liveness phase (or at the end
    /// of a run that stopped before it), and that height: every fork of the run lies below it.
    #[serde(default)]
    pub chain_hash: String,
    #[serde(default)]
    pub chain_height: u32,
    /// State roots the naive model recomputed along the canonical chain (they all matched, or the run failed).
    #[serde(default)]
    pub model_roots: u32,
    /// The reference (`ahead_catch_up = false`) was more than the window behind in the liveness phase before it
    /// first reached the tip: it drops every peer as Ahead and never catches up (H26). L1 does not apply; the
    /// run ends there.
    #[serde(default)]
    pub stranded: bool,
    /// A reference node (vouched tags off) whose chunk chain lies kept resetting until the liveness deadline (H14).
    #[serde(default)]
    pub hijacked: bool,
    /// `explore` ran this seed a second time and found the same trace hash (a determinism sample).
    #[serde(default)]
    pub replayed: bool,
    /// Wasted work, by effect and the cause it was attributed to (the accounting oracle, §7.7).
    #[serde(default)]
    pub waste: std::collections::BTreeMap<String, u64>,
    /// Bytes of the final state (keys and values as chunks carry them), and its items.
    pub state_bytes: u64,
    #[serde(default)]
    pub state_items: u64,
    /// A calm world (nothing in it can waste work, §7.9), and its completion floor.
    #[serde(default)]
    pub calm: bool,
    #[serde(default)]
    pub calm_floor_ms: u64,
    /// In a calm world: the share of the completion and byte budgets the run used, in percent.
    #[serde(default)]
    pub calm_time_used_pct: u32,
    #[serde(default)]
    pub calm_bytes_used_pct: u32,
    /// The head's number when the node last completed (with `completed_ms`).
    #[serde(default)]
    pub completed_head: u32,
    /// The completion lower bound: state bytes over bandwidth plus the shortest round trip of an honest link.
    pub lower_bound_ms: u64,
    pub chunks_committed: u64,
    pub chunks_wasted: u64,
    pub resets: u64,
    pub penalties: u64,
    pub evictions: u64,
    pub honest_evictions: u64,
    pub rebranches: u64,
    pub lies: u64,
    pub messages_lost: u64,
    /// Peak chunk-buffer size seen, and its bound; the same in bytes; block buffer and pending blocks.
    pub chunk_buffer_peak: u64,
    pub chunk_buffer_max: u64,
    pub chunk_buffer_bytes_peak: u64,
    pub chunk_buffer_bytes_max: u64,
    pub block_buffer_peak: u64,
    pub block_buffer_max: u64,
    pub pending_blocks_peak: u64,
    pub pending_blocks_max: u64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunOutcome {
    pub seed: u64,
    pub failure: Option<Failure>,
    /// Hex BLAKE2b-256 of the trace.
    pub trace_hash: String,
    pub stats: RunStats,
}

impl RunOutcome {
    pub fn passed(&self) -> bool {
        self.failure.is_none()
    }
}
