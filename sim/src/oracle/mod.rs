//! The oracle: everything a run is judged by (§5, §7.5). After every input the node takes, its invariants,
//! S1 against the simulator's own record of every block, the bounds; after every event S10 and event order;
//! periodically S3 and the full trie check; at the end completion, the final root and the head. The liveness
//! bound and the sustainable block rate are in [`liveness`].
//!
//! The oracle reads the world (the store, the engine, who is honest); it never changes it. A breach it finds is
//! returned as a [`Breach`]; the world turns the first one into the run's failure.

pub mod accounting;
pub mod calm;
pub mod host;
pub mod liveness;
pub mod model;

use crate::outcome::{FailureClass, RunStats};
use crate::peer::PeerKind;
use crate::producer::ChainStore;
use accounting::Accounting;
use sync_core::trie::VerifiedHashes;
use sync_core::{Config, Event, Hash, PeerId, SyncEngine, Trie};

/// A check that failed: its class and what it saw.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Breach {
    pub class: FailureClass,
    pub what: String,
}

pub type Verdict = Result<(), Breach>;

fn breach(class: FailureClass, what: impl Into<String>) -> Verdict {
    Err(Breach { class, what: what.into() })
}

/// What the world knew about the input that caused an event.
#[derive(Clone, Copy, Debug)]
pub struct Cause {
    /// The peer that sent the input, if a peer did.
    pub from: Option<PeerId>,
    /// The head's number before the input.
    pub head_before: u32,
    /// The block number the input was tagged with (an announced block, a chunk's tag).
    pub tagged: Option<u32>,
}

/// The oracle's own record of a run.
#[derive(Debug)]
pub struct Oracle {
    config: Config,
    /// Per peer index: whether it is honest (S10 protects it).
    honest: Vec<bool>,
    deep_check_every: u32,
    inputs_since_deep_check: u32,
    /// The trie nodes whose hashes the last deep check verified: the next one hashes only the rest.
    verified: VerifiedHashes,
    /// The checks that only observe run: the engine's invariants and the host probe (run by the world), the deep
    /// trie checks and the naive model. Off in a determinism check's second run (`Recording::hash_only`).
    pub observing: bool,
    /// The node is complete (between `StateComplete` and `StateReset`), and when it last completed.
    pub complete: bool,
    pub completed_at: Option<u64>,
    /// The head as the event stream tells it (accepted blocks), for the event-order check.
    implied_head: Hash,
    /// Every piece of wasted work, attributed to a cause (§7.7).
    pub accounting: Accounting,
    /// `ChunkWasted` events seen: the engine's own count of wasted chunks must match them.
    chunks_wasted: u64,
    /// Since the last input: a `Rebranched` with no `ChunkChainReset` after it, and a `StateComplete`.
    rebranch_unreset: bool,
    completed_now: bool,
    /// Lanes (§4.12): each lane's missing start after the last input, and the lanes reset during this one.
    lane_starts: Vec<Option<sync_core::Key>>,
    lanes_reset: Vec<u8>,
}

impl Oracle {
    pub fn new(config: &Config, kinds: &[PeerKind], deep_check_every: u32, genesis: Hash) -> Oracle {
        Oracle {
            config: config.clone(),
            honest: kinds.iter().map(|kind| kind.is_honest()).collect(),
            deep_check_every: deep_check_every.max(1),
            observing: true,
            inputs_since_deep_check: 0,
            verified: VerifiedHashes::default(),
            complete: false,
            completed_at: None,
            implied_head: genesis,
            accounting: Accounting::new(
                kinds.iter().map(|kind| matches!(kind, PeerKind::Slow | PeerKind::Silent)).collect(),
                config.chunk_requests_in_flight > 1,
            ),
            chunks_wasted: 0,
            rebranch_unreset: false,
            completed_now: false,
            lane_starts: Vec::new(),
            lanes_reset: Vec::new(),
        }
    }

    fn is_honest(&self, peer: PeerId) -> bool {
        peer.0 >= 1 && self.honest.get(peer.0 as usize - 1).copied().unwrap_or(false)
    }

    /// Event-level checks: S10 (no honest peer penalised, evicted, or Behind/Ahead while within the window),
    /// StateComplete at most once per incompleteness period, macro blocks never reverted, no block the producer
    /// made rejected, chunks accepted only for the head the events imply.
    pub fn event(
        &mut self,
        now: u64,
        event: &Event,
        cause: Cause,
        store: &ChainStore,
        stats: &mut RunStats,
    ) -> Verdict {
        match event {
            Event::ChunkWasted { .. } => self.chunks_wasted += 1,
            Event::PeerPenalized { peer, violation } => {
                stats.penalties += 1;
                if self.is_honest(*peer) {
                    return breach(
                        FailureClass::Safety,
                        format!("S10: honest peer {peer} penalised for {violation:?}"),
                    );
                }
            }
            Event::PeerEvicted { peer } => {
                stats.evictions += 1;
                if self.is_honest(*peer) {
                    stats.honest_evictions += 1;
                    return breach(FailureClass::Safety, format!("S10: honest peer {peer} evicted"));
                }
            }
            Event::PeerBehind { peer } | Event::PeerAhead { peer } if self.is_honest(*peer) => {
                return self.behind_or_ahead(event, *peer, cause);
            }
            Event::StateComplete { head } => return self.state_complete(now, head, store, stats),
            Event::StateReset => self.complete = false,
            Event::ChunkChainReset { lane, .. } => {
                self.rebranch_unreset = false;
                self.lanes_reset.push(*lane);
            }
            Event::Rebranched { reverted, .. } => {
                stats.rebranches += 1;
                self.rebranch_unreset = true;
                let is_macro = |hash: &&Hash| store.block(hash).is_some_and(|b| b.header().is_macro);
                if let Some(hash) = reverted.iter().find(is_macro) {
                    return breach(FailureClass::Safety, format!("S6: macro block {hash:?} reverted"));
                }
            }
            // Every block the producer stored is valid, and no branch of it forks below a macro block: a rejection
            // is the node's own error (seed 700019374 rejected the honest chain's next block after forgetting
            // the first block of its branch).
            Event::RejectedBlock { hash, reason } if store.get(hash).is_some() => {
                return breach(FailureClass::Safety, format!("the honest block {hash:?} rejected as {reason:?}"));
            }
            Event::AcceptedAnnouncedBlock { hash, .. } | Event::AcceptedBufferedBlock { hash, .. } => {
                self.implied_head = *hash;
            }
            Event::ReceivedMissingBlocks { hashes } => {
                if let Some(last) = hashes.last() {
                    self.implied_head = *last;
                }
            }
            Event::AcceptedChunks { hash, .. } if *hash != self.implied_head => {
                let implied = self.implied_head;
                return breach(
                    FailureClass::Safety,
                    format!("chunks accepted for {hash:?}, but the head is {implied:?}"),
                );
            }
            _ => {}
        }
        Ok(())
    }

    fn state_complete(&mut self, now: u64, head: &Hash, store: &ChainStore, stats: &mut RunStats) -> Verdict {
        if self.complete {
            return breach(FailureClass::Safety, "StateComplete twice without StateReset");
        }
        self.complete = true;
        self.completed_now = true;
        self.completed_at = Some(now);
        stats.completed_head = store.block(head).map_or(0, |block| block.number());
        stats.completed_ms = Some(now);
        Ok(())
    }

    /// The events of the last input agree with the engine's state after it (§4.10): the completion they imply
    /// is the engine's; a `StateComplete` still standing has a complete trie whose root is the head's; and a
    /// rebranch that left the trie incomplete reset the chunk chain (the reset rule of §4.5: without it, the
    /// next chunk heals the hole through `Gap`, and nothing else notices).
    fn events_agree(&mut self, engine: &SyncEngine, head_root: Hash) -> Verdict {
        let (rebranch_unreset, completed_now) = (self.rebranch_unreset, self.completed_now);
        (self.rebranch_unreset, self.completed_now) = (false, false);
        if self.complete != engine.is_complete() {
            let what =
                format!("the events say complete = {}, the engine's cursor {:?}", self.complete, engine.cursor());
            return breach(FailureClass::Safety, what);
        }
        if completed_now && self.complete {
            let root = engine.root_if_computable();
            if !engine.trie().is_complete() || root != Some(head_root) {
                let what =
                    format!("StateComplete with a trie complete = {}, root {root:?}", engine.trie().is_complete());
                return breach(FailureClass::Safety, what);
            }
        }
        let lanes_reset = std::mem::take(&mut self.lanes_reset);
        let lane_starts = std::mem::replace(&mut self.lane_starts, engine.trie().lane_starts().to_vec());
        if engine.trie().lanes().count() > 1 {
            // With lanes, a rebranch resets the lanes whose missing start it took back (§4.12), and only those.
            return rebranched_lanes_reset(&lane_starts, engine.trie().lane_starts(), &lanes_reset);
        }
        if rebranch_unreset && !engine.is_complete() {
            return breach(FailureClass::Safety, "a rebranch left the trie incomplete without a chunk-chain reset");
        }
        Ok(())
    }

    /// S10 for Behind/Ahead: an honest peer may be called so only for an input it sent that was tagged outside
    /// the window.
    fn behind_or_ahead(&self, event: &Event, peer: PeerId, cause: Cause) -> Verdict {
        let behind = matches!(event, Event::PeerBehind { .. });
        let fair = match cause.tagged {
            Some(number) if behind => number < cause.head_before.saturating_sub(self.config.tolerate_past_max),
            Some(number) => number > cause.head_before + self.config.window_ahead_max,
            None => false,
        };
        if !fair && cause.from == Some(peer) {
            return breach(
                FailureClass::Safety,
                format!("S10: honest peer {peer} classified {event:?} within the window"),
            );
        }
        Ok(())
    }

    /// After every input: S1 against the simulator's own record, the peak of every buffer against its bound, and
    /// S3 with the full trie check every `deep_check_every` inputs.
    pub fn after_input(&mut self, engine: &SyncEngine, store: &ChainStore, stats: &mut RunStats) -> Verdict {
        let head = engine.head().hash();
        let Some(produced) = store.get(&head) else {
            return breach(FailureClass::Safety, format!("the node's head {head:?} was never produced"));
        };
        self.events_agree(engine, produced.block.header().state_root)?;
        if let Some(root) = engine.root_if_computable() {
            if root != produced.block.header().state_root {
                let number = produced.block.number();
                return breach(FailureClass::Safety, format!("S1: computable root {root:?} is not block {number}'s"));
            }
        }
        stats.chunk_buffer_peak = stats.chunk_buffer_peak.max(u64::from(engine.chunk_buffer_size()));
        stats.chunk_buffer_bytes_peak = stats.chunk_buffer_bytes_peak.max(engine.chunk_buffer_bytes());
        stats.block_buffer_peak = stats.block_buffer_peak.max(engine.block_buffer_size() as u64);
        stats.pending_blocks_peak = stats.pending_blocks_peak.max(engine.pending_blocks() as u64);
        let bounds = [
            ("chunk buffer (chunks)", stats.chunk_buffer_peak, stats.chunk_buffer_max),
            ("chunk buffer (bytes)", stats.chunk_buffer_bytes_peak, stats.chunk_buffer_bytes_max),
            ("block buffer", stats.block_buffer_peak, stats.block_buffer_max),
            ("pending blocks", stats.pending_blocks_peak, stats.pending_blocks_max),
        ];
        if let Some((what, peak, max)) = bounds.into_iter().find(|(_, peak, max)| peak > max) {
            return breach(FailureClass::Safety, format!("bound: the {what} reached {peak}, over its bound {max}"));
        }
        self.inputs_since_deep_check += 1;
        if self.observing && self.inputs_since_deep_check >= self.deep_check_every {
            self.inputs_since_deep_check = 0;
            return deep_check(engine, store, &mut self.verified);
        }
        Ok(())
    }

    /// The final checks (§7.5): complete, the root is the head's state root, the head is the canonical tip.
    /// Also the run's efficiency figures: the state's bytes and the completion lower bound, the state's transfer
    /// at `bandwidth` and one `round_trip` (the network's floor, `Network::round_trip_floor_ms`).
    pub fn final_checks(
        &mut self,
        engine: &SyncEngine,
        store: &ChainStore,
        bandwidth: u64,
        round_trip: u64,
        stats: &mut RunStats,
    ) -> Verdict {
        let tip = store.tip().block.clone();
        let (head, complete, root) = (engine.head().clone(), engine.is_complete(), engine.root_if_computable());
        if !complete {
            return breach(FailureClass::Liveness, format!("not complete at the end: {}", stall_report(engine, store)));
        }
        if self.observing {
            deep_check(engine, store, &mut self.verified)?;
        }
        if root != Some(head.header().state_root) {
            return breach(FailureClass::Safety, "final: the root is not the head's state root");
        }
        if head.hash() != tip.hash() {
            let what = format!(
                "final: head #{} is not the canonical tip #{}: {}",
                head.number(),
                tip.number(),
                stall_report(engine, store)
            );
            return breach(FailureClass::Liveness, what);
        }
        let engine_wasted = engine.stats().chunks_wasted;
        if engine_wasted != self.chunks_wasted {
            let what = format!("the engine counts {engine_wasted} wasted chunks, its events {}", self.chunks_wasted);
            return breach(FailureClass::Safety, what);
        }
        // The independent oracle: the producer's roots and diffs, recomputed without sync-core's trie.
        if self.observing {
            stats.model_roots = model::check_chain(store)?;
        }
        stats.state_bytes = state_bytes(&store.tip().state);
        stats.state_items = store.tip().state.len() as u64;
        stats.lower_bound_ms = transfer_ms(bandwidth, stats.state_bytes) + round_trip;
        Ok(())
    }
}

/// Every node of the trie is canonical and correctly hashed; and S3, the known-part oracle: the known map equals
/// the head state below `s`. S3 runs while the root is not computable (H3): a computable root equal to the
/// head's (S1, checked after every input) already proves the known part, given correct hashes. Hashes the last
/// deep check verified (`verified`, nodes unchanged since) are not computed again; everything else is checked on
/// every node.
pub fn deep_check(engine: &SyncEngine, store: &ChainStore, verified: &mut VerifiedHashes) -> Verdict {
    let trie = engine.trie();
    trie.check_invariants_full_reusing(verified);
    if trie.root_if_computable().is_some() {
        return Ok(());
    }
    let Some(produced) = store.get(&engine.head().hash()) else { return Ok(()) };
    // The node's items are the head's known items: each of them is known and is the head's, and there are as
    // many as the head has known items.
    let (head, mut agree, mut held, mut known) = (&produced.state, true, 0usize, 0usize);
    trie.for_each_item(|key, value| {
        agree &= trie.is_known(key) && head.get(key) == Some(value);
        held += 1;
    });
    head.for_each_item(|key, _| known += usize::from(trie.is_known(key)));
    if !agree || held != known {
        let missing = trie.missing_start().map(ToString::to_string).unwrap_or_default();
        return breach(FailureClass::Safety, format!("S3: the known part differs from the head state below {missing}"));
    }
    Ok(())
}

/// Where the node stands, for liveness failures: cursor, `s`, head, buffers, requests, peers.
pub fn stall_report(engine: &SyncEngine, store: &ChainStore) -> String {
    format!(
        "cursor {:?}, s {}, head #{} (tip #{}), chunk buffer {}, blocks buffered {}, pending {}, requests {}, peers {:?}",
        engine.cursor(),
        engine.missing_start().map_or("complete".to_string(), crate::trace::short_key),
        engine.head().number(),
        store.tip().block.number(),
        engine.chunk_buffer_size(),
        engine.block_buffer_size(),
        engine.pending_blocks(),
        engine.requests_in_flight(),
        engine.peers().iter().map(|p| p.0).collect::<Vec<_>>(),
    )
}

/// The bytes of a state as chunks carry it: each key and value with their length prefixes.
/// The fastest the node can download, in bytes per ms (0: unlimited): `min(node downlink, Σ uplinks of the
/// honest peers)` (§4.12). With one lane the node still downloads from one link at a time, and its figures stay
/// above this bound by design; the bound is what lanes can reach.
pub fn download_rate(options: &crate::options::Options) -> u64 {
    let uplinks = options.bandwidth_bytes_per_ms.saturating_mul(u64::from(options.honest_peers.max(1)));
    slower(options.downlink_bytes_per_ms, uplinks)
}

/// The slower of two rates in bytes per ms, where 0 means unlimited.
pub fn slower(a: u64, b: u64) -> u64 {
    match (a, b) {
        (0, b) => b,
        (a, 0) => a,
        (a, b) => a.min(b),
    }
}

/// How long `bytes` take at `bandwidth` bytes per ms (0: no bandwidth limit, no time).
pub fn transfer_ms(bandwidth: u64, bytes: u64) -> u64 {
    if bandwidth == 0 {
        0
    } else {
        bytes.div_ceil(bandwidth)
    }
}

pub fn state_bytes(state: &Trie) -> u64 {
    let mut bytes = 0;
    state.for_each_item(|key, value| bytes += (key.len() as u64).div_ceil(2) + 1 + 4 + value.len() as u64);
    bytes
}

/// Every lane whose missing start went back during an input (only a revert does that) was reset in it.
fn rebranched_lanes_reset(
    before: &[Option<sync_core::Key>],
    after: &[Option<sync_core::Key>],
    reset: &[u8],
) -> Verdict {
    for (lane, (before, after)) in before.iter().zip(after).enumerate() {
        let went_back = match (before, after) {
            (None, Some(_)) => true,
            (Some(before), Some(after)) => after < before,
            _ => false,
        };
        if went_back && !reset.contains(&(lane as u8)) {
            let what = format!("a rebranch took lane {lane} back to {after:?} without resetting it");
            return breach(FailureClass::Safety, what);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::options::Options;
    use crate::producer::Producer;
    use sync_core::block::BlockInvalid;

    /// A rejected block is a breach if and only if the producer made it.
    #[test]
    fn rejecting_a_block_the_producer_made_is_a_breach() {
        let (mut producer, mut store) = Producer::new(&Options { accounts: 40, ..Options::default() });
        producer.step(&mut store, false);
        let genesis = store.canonical_at(0).map(|produced| produced.block.hash()).unwrap_or_default();
        let made = store.canonical_at(1).map(|produced| produced.block.hash()).unwrap_or_default();
        let mut oracle = Oracle::new(&Config::scaled(8), &[PeerKind::Honest], 512, genesis);
        let cause = Cause { from: Some(PeerId(1)), head_before: 0, tagged: Some(1) };
        let mut stats = RunStats::default();
        let mut rejected = |hash| {
            let event = Event::RejectedBlock { hash, reason: BlockInvalid::ForkBelowMacro };
            oracle.event(0, &event, cause, &store, &mut stats).map_err(|breach| (breach.class, breach.what))
        };
        assert_eq!(rejected(Hash([7; 32])), Ok(()), "a block nobody made may be invalid");
        let verdict = rejected(made);
        assert!(
            matches!(verdict, Err((FailureClass::Safety, ref what)) if what.contains("honest block")),
            "{verdict:?}"
        );
    }
}
