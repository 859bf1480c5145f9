//! Named, reproducible live-sync scenarios (STYLE §9). A scenario is built from explicit options plus scripted
//! events, runs in the simulator with every check on, and then states what it expects: the final root and
//! completion (always), and the events or peer outcomes it is about.
//!
//! A new scenario in a few lines:
//!
//! ```
//! use scenarios::{Scenario, Kind};
//!
//! let run = Scenario::new("rebranch_while_downloading")
//!     .accounts(800)
//!     .chunk_size(20)
//!     .rebranch_at(6, 2) // when the tip reaches height 6, a fork from 2 blocks below wins
//!     .run();
//! run.expect_synced();
//! run.expect_event("a rebranch", |e| matches!(e, sync_core::Event::Rebranched { .. }));
//! ```
//!
//! Failures end with the line that replays the run.

pub mod ordering;

pub use sim::adversary::ByzantineClass;
pub use sim::keys::KeyShape;
pub use sim::options::{Options, Scripted};
pub use sim::peer::PeerKind as Kind;
pub use sim::trie_job::{TrieJobOptions, TrieJobStats};

use serde_json::{json, Value};
use sim::outcome::RunOutcome;
use sim::world::{self, PeerRecord, Recording};
use std::collections::BTreeMap;
use sync_core::{Event, PeerId};

/// Runs a trie download and returns its stats, or panics with the failure and the options that reproduce it.
#[track_caller]
pub fn expect_trie_download(name: &str, options: TrieJobOptions) -> TrieJobStats {
    match sim::trie_job::run(&options) {
        Ok(stats) => stats,
        Err(failure) => panic!("{name}: {failure:?}\n  options: {options:?}"),
    }
}

/// A named world: options and a script.
#[derive(Clone, Debug)]
pub struct Scenario {
    pub name: String,
    pub options: Options,
}

impl Scenario {
    /// A calm small world (no drawn forks, no loss) named `name`, seed 1: scenarios add the trouble they are
    /// about explicitly.
    pub fn new(name: &str) -> Scenario {
        let options = Options {
            seed: 1,
            accounts: 1_000,
            honest_peers: 3,
            blocks: 40,
            block_time_ms: 500,
            block_time_jitter_ms: 50,
            late_join_ms_max: 500,
            chunk_size_max: 100,
            ..Options::calm()
        };
        Scenario { name: name.to_string(), options }
    }

    /// Any other knob.
    pub fn with(mut self, edit: impl FnOnce(&mut Options)) -> Scenario {
        edit(&mut self.options);
        self
    }

    pub fn seed(self, seed: u64) -> Scenario {
        self.with(|o| o.seed = seed)
    }

    pub fn accounts(self, accounts: u64) -> Scenario {
        self.with(|o| o.accounts = accounts)
    }

    pub fn honest_peers(self, peers: u32) -> Scenario {
        self.with(|o| o.honest_peers = peers)
    }

    pub fn blocks(self, blocks: u32) -> Scenario {
        self.with(|o| o.blocks = blocks)
    }

    pub fn chunk_size(self, items: u32) -> Scenario {
        self.with(|o| o.chunk_size_max = items)
    }

    pub fn block_time_ms(self, ms: u64) -> Scenario {
        self.with(|o| o.block_time_ms = ms)
    }

    /// Adds `count` byzantine peers of `class`, lying on every answer.
    pub fn byzantine(self, class: ByzantineClass, count: u32) -> Scenario {
        self.with(|o| {
            o.byzantine.extend(std::iter::repeat_n(class, count as usize));
            o.lie_chance = 1.0;
        })
    }

    /// When the canonical tip reaches `height`, a fork from `depth` blocks below it becomes the main chain.
    pub fn rebranch_at(self, height: u32, depth: u32) -> Scenario {
        self.with(|o| o.script.push(Scripted::Rebranch { at_height: height, depth }))
    }

    pub fn abandoned_fork_at(self, height: u32, depth: u32) -> Scenario {
        self.with(|o| o.script.push(Scripted::AbandonedFork { at_height: height, depth }))
    }

    /// Cuts the links to `peers` (all if empty) from `at_ms` for `for_ms`.
    pub fn partition(self, at_ms: u64, for_ms: u64, peers: &[u32]) -> Scenario {
        self.with(|o| o.script.push(Scripted::Partition { at_ms, for_ms, peers: peers.to_vec(), one_way: false }))
    }

    /// `peers` (all if empty) leave from `at_ms` for `for_ms`.
    pub fn leave(self, at_ms: u64, for_ms: u64, peers: &[u32]) -> Scenario {
        self.with(|o| o.script.push(Scripted::Leave { at_ms, for_ms, peers: peers.to_vec() }))
    }

    pub fn run(&self) -> ScenarioRun {
        let recorded = world::run_with(&self.options, Recording { events: true, ..Recording::default() });
        ScenarioRun {
            name: self.name.clone(),
            options: self.options.clone(),
            outcome: recorded.outcome,
            events: recorded.events,
            peers: recorded.peers,
        }
    }
}

/// A finished scenario: its outcome, the node's events, and what happened with each peer.
#[derive(Clone, Debug)]
pub struct ScenarioRun {
    pub name: String,
    pub options: Options,
    pub outcome: RunOutcome,
    /// `(simulated ms, event, chunk-buffer size after the input)`.
    pub events: Vec<(u64, Event, u32)>,
    pub peers: Vec<PeerRecord>,
}

impl ScenarioRun {
    /// The command and options that replay this run.
    pub fn replay_line(&self) -> String {
        let path = std::env::temp_dir().join(format!("scenario-{}.json", self.name));
        let _ = std::fs::write(&path, self.options.to_json());
        format!("replay: cargo run --release -p sim -- replay {} --options {}", self.options.seed, path.display())
    }

    #[track_caller]
    fn fail(&self, what: &str) -> ! {
        panic!("{}: {what}\n  {}", self.name, self.replay_line())
    }

    /// The run passed every check: the node completed, its root is the canonical tip's state root, the head is
    /// the tip, no safety check failed.
    #[track_caller]
    pub fn expect_synced(&self) -> &ScenarioRun {
        if let Some(failure) = &self.outcome.failure {
            self.fail(&format!("{} failure at {} ms: {}", failure.class, failure.at_ms, failure.what));
        }
        if self.outcome.stats.completed_ms.is_none() {
            self.fail("never completed");
        }
        self
    }

    /// The last completion happened within `ms` of simulated time.
    #[track_caller]
    pub fn expect_complete_within_ms(&self, ms: u64) -> &ScenarioRun {
        match self.outcome.stats.completed_ms {
            Some(at) if at <= ms => self,
            other => self.fail(&format!("completed at {other:?} ms, expected within {ms} ms")),
        }
    }

    /// A scenario-specific expectation: fails with the replay line when it does not hold.
    #[track_caller]
    pub fn expect(&self, holds: bool, what: &str) -> &ScenarioRun {
        if !holds {
            self.fail(what);
        }
        self
    }

    pub fn count(&self, predicate: impl Fn(&Event) -> bool) -> usize {
        self.events.iter().filter(|(_, event, _)| predicate(event)).count()
    }

    /// At least one event matches.
    #[track_caller]
    pub fn expect_event(&self, what: &str, predicate: impl Fn(&Event) -> bool) -> &ScenarioRun {
        if self.count(predicate) == 0 {
            self.fail(&format!("expected {what}, saw none"));
        }
        self
    }

    /// No event matches.
    #[track_caller]
    pub fn expect_no_event(&self, what: &str, predicate: impl Fn(&Event) -> bool) -> &ScenarioRun {
        let count = self.count(predicate);
        if count > 0 {
            self.fail(&format!("expected no {what}, saw {count}"));
        }
        self
    }

    /// The peers of `kind` in this world (`PeerId(index + 1)` in peer order: honest, slow, silent, byzantine).
    pub fn peers_of(&self, kind: Kind) -> Vec<PeerId> {
        let o = &self.options;
        let mut kinds = Vec::new();
        kinds.extend(std::iter::repeat_n(Kind::Honest, o.honest_peers.max(1) as usize));
        kinds.extend(std::iter::repeat_n(Kind::Slow, o.slow_peers as usize));
        kinds.extend(std::iter::repeat_n(Kind::Silent, o.silent_peers as usize));
        kinds.extend(o.byzantine.iter().map(|class| Kind::Byzantine(*class)));
        kinds.iter().enumerate().filter(|(_, k)| **k == kind).map(|(i, _)| PeerId(i as u32 + 1)).collect()
    }

    pub fn evicted(&self) -> Vec<PeerId> {
        self.events
            .iter()
            .filter_map(|(_, e, _)| if let Event::PeerEvicted { peer } = e { Some(*peer) } else { None })
            .collect()
    }

    /// Every peer of `kind` was evicted.
    #[track_caller]
    pub fn expect_evicted(&self, kind: Kind) -> &ScenarioRun {
        let evicted = self.evicted();
        let missing: Vec<PeerId> = self.peers_of(kind).into_iter().filter(|p| !evicted.contains(p)).collect();
        if !missing.is_empty() {
            self.fail(&format!("expected {kind:?} peers {missing:?} to be evicted"));
        }
        self
    }

    /// A compact JSON summary for golden traces, about what the scenario is about: what each peer was asked,
    /// every reset with its reason, the counts of every event, and a fixed-column excerpt of the events around
    /// the first one that `moment` picks (completion if none does). A behaviour change shows up as a diff that
    /// says why the run changed, not only that its hash did.
    pub fn summary(&self, moment: impl Fn(&Event) -> bool) -> Value {
        let mut counts: BTreeMap<&'static str, u64> = BTreeMap::new();
        let mut resets: BTreeMap<String, u64> = BTreeMap::new();
        for (_, event, _) in &self.events {
            *counts.entry(event_kind(event)).or_default() += 1;
            if let Event::ChunkChainReset { reason, .. } = event {
                *resets.entry(format!("{reason:?}")).or_default() += 1;
            }
        }
        let requests: BTreeMap<String, Value> = self
            .peers
            .iter()
            .map(|peer| {
                let label = format!("p{:02} {}", peer.id.0, peer.kind.label());
                let asked = json!({ "chunks": peer.chunk_requests, "diffs": peer.diff_requests, "blocks": peer.block_requests, "joins": peer.joins, "leaves": peer.leaves });
                (label, asked)
            })
            .collect();
        let stats = &self.outcome.stats;
        json!({
            "scenario": self.name,
            "completed_ms": stats.completed_ms,
            "peers": requests,
            "resets": resets,
            "excerpt": self.excerpt(moment, 3, 6),
            "event_counts": counts,
            "chunks": { "committed": stats.chunks_committed, "wasted": stats.chunks_wasted },
            "trace_hash": self.outcome.trace_hash,
        })
    }

    /// The `before` events before the first one `moment` picks (or completion), it, and `after` more, one per line
    /// in fixed columns: time, kind, details.
    pub fn excerpt(&self, moment: impl Fn(&Event) -> bool, before: usize, after: usize) -> Vec<String> {
        let at = self
            .events
            .iter()
            .position(|(_, event, _)| moment(event))
            .or_else(|| self.events.iter().position(|(_, event, _)| matches!(event, Event::StateComplete { .. })))
            .unwrap_or(0);
        let from = at.saturating_sub(before);
        let to = (at + after + 1).min(self.events.len());
        self.events[from..to]
            .iter()
            .enumerate()
            .map(|(index, (ms, event, _))| {
                let mark = if from + index == at { ">" } else { " " };
                format!("{mark}{ms:>8} ms  {:<26}{}", event_kind(event), event_details(event))
            })
            .collect()
    }
}

fn event_kind(event: &Event) -> &'static str {
    match event {
        Event::AcceptedAnnouncedBlock { .. } => "accepted_announced_block",
        Event::AcceptedBufferedBlock { .. } => "accepted_buffered_block",
        Event::ReceivedMissingBlocks { .. } => "received_missing_blocks",
        Event::RejectedBlock { .. } => "rejected_block",
        Event::StoredFork { .. } => "stored_fork",
        Event::AcceptedChunks { .. } => "accepted_chunks",
        Event::PeerBehind { .. } => "peer_behind",
        Event::PeerAhead { .. } => "peer_ahead",
        Event::StateComplete { .. } => "state_complete",
        Event::LaneComplete { .. } => "lane_complete",
        Event::StateReset => "state_reset",
        Event::ChunkChainReset { .. } => "chunk_chain_reset",
        Event::StateProgress { .. } => "state_progress",
        Event::Rebranched { .. } => "rebranched",
        Event::PeerPenalized { .. } => "peer_penalized",
        Event::PeerEvicted { .. } => "peer_evicted",
        Event::DiffUnavailable { .. } => "diff_unavailable",
        Event::ForkForgotten { .. } => "fork_forgotten",
        Event::ChunkWasted { .. } => "chunk_wasted",
        Event::RequestTimedOut { .. } => "request_timed_out",
    }
}

/// An event's details for the excerpt: what a reviewer needs to follow the run (block numbers, peers, reasons),
/// short hashes only where nothing else names the block.
fn event_details(event: &Event) -> String {
    match event {
        Event::AcceptedAnnouncedBlock { number, .. } | Event::AcceptedBufferedBlock { number, .. } => {
            format!("#{number}")
        }
        Event::StoredFork { number, .. } => format!("#{number}"),
        Event::ReceivedMissingBlocks { hashes } => format!("{} blocks", hashes.len()),
        Event::RejectedBlock { reason, .. } => format!("{reason:?}"),
        Event::AcceptedChunks { count, .. } => format!("{count} chunks"),
        Event::PeerBehind { peer } | Event::PeerAhead { peer } | Event::PeerEvicted { peer } => peer.to_string(),
        Event::StateComplete { .. } | Event::StateReset => String::new(),
        Event::LaneComplete { lane } => format!("lane {lane}"),
        Event::ChunkChainReset { reason, lane: 0 } => format!("{reason:?}"),
        Event::ChunkChainReset { reason, lane } => format!("{reason:?} lane {lane}"),
        Event::StateProgress { missing, .. } => {
            missing.as_ref().map_or("complete".to_string(), |key| format!("s = {}", sim::trace::short_key(key)))
        }
        Event::Rebranched { reverted, adopted } => format!("{} reverted, {} adopted", reverted.len(), adopted.len()),
        Event::PeerPenalized { peer, violation } => format!("{peer} {violation:?}"),
        Event::DiffUnavailable { hash } => format!("{hash:?}"),
        Event::ForkForgotten { number, orphaned, .. } => format!("#{number}, {} orphaned", orphaned.len()),
        Event::ChunkWasted { peer, request_id, number, waste } => format!("{peer} r{request_id} #{number} {waste:?}"),
        Event::RequestTimedOut { peer, request_id } => format!("{peer} r{request_id}"),
    }
}
