//! The baseline strategy: pivot-style snapshot sync, run in the same worlds as live sync so the two compare on
//! the same seeds (issue 7; §1 describes why live sync exists).
//!
//! The node picks a pivot block, downloads the whole state *at that block* in chunks (every chunk proved against
//! the pivot's state root, one request in flight, `chunk_size_max` items), then catches up by fetching and
//! applying the diff of every block from the pivot to its head. Peers keep the state of only the last
//! `pivot_retention_blocks` blocks of their main chain: when the pivot falls out of that window (the head
//! outran the download) or off the main chain (a rebranch), peers answer "gone" and the node starts again at a
//! newer pivot, discarding what it had. That restart is the failure mode live sync avoids.
//!
//! The pivot is the latest macro block below the head when it is at most half the retention window back
//! (macro blocks are final, so no rebranch can revert it), otherwise the head itself.
//!
//! What the model leaves out, in the baseline's favour: block headers are free (the node learns heads from
//! announcements and reads blocks from the producer's store), and only honest peers take part (slow, silent and
//! byzantine peers of the options are ignored). The chain, the producer's timing and the network model are
//! the live world's: `block_time_jitter_ms` 0 and no late joins give both strategies the same chain at the
//! same times.

use crate::network::{Direction, Network};
use crate::options::Options;
use crate::outcome::{Failure, FailureClass, RunOutcome, RunStats};
use crate::peer::PeerKind;
use crate::stage::{Clock, Stage};
use crate::trace::Trace;
use std::collections::BTreeMap;
use sync_core::codec::Writer;
use sync_core::{Chunk, Config, Hash, Key, Trie, TrieDiff};

/// Bytes of a request on the wire (an id, a kind, a hash or a key, a limit).
const REQUEST_BYTES: u64 = 64;
/// Bytes of an announcement: a header.
const ANNOUNCE_BYTES: u64 = 300;
/// The wait before asking again when no peer has what the node needs yet.
const NOT_YET_WAIT_MS: u64 = 50;

/// What the node asks a peer.
#[derive(Clone, Debug)]
enum Ask {
    /// Items from `start` of the state at `pivot`.
    Chunk {
        pivot: Hash,
        start: Key,
    },
    Diff {
        block: Hash,
    },
}

/// What a peer answers.
#[derive(Clone, Debug)]
enum Reply {
    Chunk(Chunk),
    Diff(TrieDiff),
    /// The peer does not have that block yet.
    NotYet,
    /// The pivot's state is pruned or the pivot left the main chain.
    Gone,
}

#[derive(Clone, Debug)]
enum Happening {
    Produce,
    PeerBlock { peer: u32, hash: Hash },
    Announce { hash: Hash },
    ToPeer { peer: u32, id: u64, ask: Ask },
    ToNode { id: u64, reply: Reply },
    Timeout { id: u64 },
    Wake,
    Stop,
}

#[derive(Clone, Debug)]
enum Phase {
    /// No head known yet.
    Waiting,
    /// Downloading the state at `pivot`.
    Download {
        pivot: Hash,
        root: Hash,
        trie: Trie,
    },
    /// The state is complete at the first entry; each next entry is the state after one more block.
    CatchUp {
        applied: Vec<(Hash, Trie)>,
    },
    Done,
}

/// One pivot-sync world.
pub struct Baseline {
    options: Options,
    config: Config,
    clock: Clock<Happening>,
    stage: Stage,
    network: Network,
    /// The best head the node has heard of.
    head: Hash,
    phase: Phase,
    pending: BTreeMap<u64, Ask>,
    diffs: BTreeMap<Hash, TrieDiff>,
    next_id: u64,
    next_peer: u32,
    not_before: u64,
    /// Whether any announcement arrived (the pivot waits for one).
    heard: bool,
    /// Chunks committed to the current pivot's download (wasted if it restarts).
    chunks_this_pivot: u64,
    trace: Trace,
    stats: RunStats,
    failure: Option<Failure>,
    stopped: bool,
}

impl std::fmt::Debug for Baseline {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Baseline").field("seed", &self.options.seed).field("now", &self.clock.now).finish()
    }
}

impl Baseline {
    pub fn new(options: &Options) -> Baseline {
        // The same chain as the live world's, with the honest peers only.
        let kinds = vec![PeerKind::Honest; options.honest_peers.max(1) as usize];
        let stage = Stage::new(options, &kinds);
        let genesis = stage.genesis().hash();
        let mut baseline = Baseline {
            config: options.engine_config(),
            network: Network::new(options),
            options: options.clone(),
            clock: Clock::default(),
            stage,
            head: genesis,
            phase: Phase::Waiting,
            pending: BTreeMap::new(),
            diffs: BTreeMap::new(),
            next_id: 1,
            next_peer: 0,
            not_before: 0,
            heard: false,
            chunks_this_pivot: 0,
            trace: Trace::new(false),
            stats: RunStats::default(),
            failure: None,
            stopped: false,
        };
        for peer in 0..kinds.len() as u32 {
            let head = baseline.stage.peers[peer as usize].head();
            baseline.announce(peer, head);
        }
        baseline.clock.schedule(options.block_time_ms, Happening::Produce);
        baseline.clock.schedule(baseline.budget_ms(), Happening::Stop);
        baseline
    }

    /// The run's time budget: the live world's safety phase, in which the chain keeps its block time.
    pub fn budget_ms(&self) -> u64 {
        u64::from(self.options.blocks) * self.options.block_time_ms
    }

    /// Runs until the node is done or the budget is spent.
    pub fn run(mut self) -> RunOutcome {
        while !self.stopped && self.failure.is_none() {
            let Some(happening) = self.clock.advance() else { break };
            self.happen(happening);
        }
        self.stats.events = self.clock.events;
        if self.failure.is_none() && !matches!(self.phase, Phase::Done) {
            let what =
                format!("pivot sync did not finish within {} ms ({} restarts)", self.clock.now, self.stats.resets);
            self.fail(FailureClass::Liveness, what);
        }
        self.stats.simulated_ms = self.clock.now;
        self.stats.messages_lost = self.network.lost;
        RunOutcome {
            seed: self.options.seed,
            failure: self.failure,
            trace_hash: self.trace.finish().to_hex(),
            stats: self.stats,
        }
    }

    fn fail(&mut self, class: FailureClass, what: String) {
        if self.failure.is_none() {
            self.trace.note(self.clock.now, &format!("FAIL {class}: {what}"));
            self.failure = Some(Failure { class, at_ms: self.clock.now, what });
        }
    }

    fn happen(&mut self, happening: Happening) {
        match happening {
            Happening::Produce => self.produce(),
            Happening::PeerBlock { peer, hash } => {
                if self.stage.peers[peer as usize].receive(&self.stage.store, hash) {
                    self.announce(peer, hash);
                }
            }
            Happening::Announce { hash } => {
                self.heard = true;
                let number = |hash: &Hash| self.stage.store.block(hash).map_or(0, |block| block.number());
                if number(&hash) > number(&self.head) {
                    self.head = hash;
                }
            }
            Happening::ToPeer { peer, id, ask } => self.answer(peer, id, &ask),
            Happening::ToNode { id, reply } => self.receive(id, reply),
            Happening::Timeout { id } => {
                self.pending.remove(&id);
            }
            Happening::Wake => {}
            Happening::Stop => self.stopped = true,
        }
        self.advance();
    }

    // ---- the chain and the peers ------------------------------------------------------------------------------

    fn produce(&mut self) {
        let production = self.stage.produce(true);
        self.stats.blocks_produced += production.blocks.len() as u64;
        if let Some((depth, adopted)) = production.rebranch {
            self.stats.rebranches += 1;
            self.trace.note(self.clock.now, &format!("rebranch depth {depth}, {adopted} adopted"));
        }
        for block in &production.blocks {
            for peer in 0..self.stage.peers.len() as u32 {
                let at = self.stage.delivery(self.clock.now, peer, self.options.latency_ms);
                self.clock.schedule(at, Happening::PeerBlock { peer, hash: block.hash() });
            }
        }
        let interval = self.stage.interval(self.options.block_time_ms, self.options.block_time_jitter_ms);
        self.clock.schedule(self.clock.now + interval, Happening::Produce);
    }

    fn announce(&mut self, peer: u32, hash: Hash) {
        for at in self.network.send(self.clock.now, peer, Direction::ToNode, ANNOUNCE_BYTES).arrivals() {
            self.clock.schedule(at, Happening::Announce { hash });
        }
    }

    /// A peer answers from the producer's store, within its own view of the chain and its retention window.
    fn answer(&mut self, peer: u32, id: u64, ask: &Ask) {
        let view = &self.stage.peers[peer as usize];
        let head_number = view.head_number(&self.stage.store);
        let reply = match ask {
            Ask::Chunk { pivot, start } => match self.stage.store.get(pivot) {
                None => Reply::Gone,
                Some(produced) => {
                    let number = produced.block.number();
                    if view.main_at(number) == Some(*pivot) {
                        if head_number - number > self.options.pivot_retention_blocks {
                            Reply::Gone
                        } else {
                            produced
                                .state
                                .chunk(start, self.config.chunk_size_max as usize)
                                .map_or(Reply::Gone, Reply::Chunk)
                        }
                    } else if head_number < number {
                        Reply::NotYet
                    } else {
                        Reply::Gone
                    }
                }
            },
            Ask::Diff { block } => match self.stage.store.get(block) {
                Some(produced) if view.knows(block) => Reply::Diff(produced.diff.clone()),
                _ => Reply::NotYet,
            },
        };
        let bytes = 16
            + match &reply {
                Reply::Chunk(chunk) => chunk.encoded_len() as u64,
                Reply::Diff(diff) => {
                    let mut writer = Writer::default();
                    diff.encode(&mut writer);
                    writer.len() as u64
                }
                Reply::NotYet | Reply::Gone => 0,
            };
        let delay = self.stage.peers[peer as usize].prng().below(3);
        for at in self.network.send(self.clock.now + delay, peer, Direction::ToNode, bytes).arrivals() {
            match reply {
                Reply::Chunk(_) => self.stats.bytes_fetched += bytes,
                Reply::Diff(_) => self.stats.diff_bytes_fetched += bytes,
                _ => {}
            }
            self.clock.schedule(at, Happening::ToNode { id, reply: reply.clone() });
        }
    }

    // ---- the node ---------------------------------------------------------------------------------------------

    fn send(&mut self, ask: Ask) {
        let id = self.next_id;
        self.next_id += 1;
        let peer = self.next_peer % self.stage.peers.len() as u32;
        self.next_peer += 1;
        for at in self.network.send(self.clock.now, peer, Direction::ToPeer, REQUEST_BYTES).arrivals() {
            self.clock.schedule(at, Happening::ToPeer { peer, id, ask: ask.clone() });
        }
        self.clock.schedule(self.clock.now + self.config.request_timeout_ms, Happening::Timeout { id });
        self.pending.insert(id, ask);
    }

    fn receive(&mut self, id: u64, reply: Reply) {
        let Some(ask) = self.pending.remove(&id) else {
            if matches!(reply, Reply::Chunk(_)) {
                self.stats.chunks_wasted += 1; // answered after its timeout
            }
            return;
        };
        match (ask, reply) {
            (Ask::Chunk { pivot, start }, Reply::Chunk(chunk)) => {
                let Phase::Download { pivot: current, root, trie } = &mut self.phase else {
                    self.stats.chunks_wasted += 1;
                    return;
                };
                if *current != pivot || trie.missing_start() != Some(&start) {
                    self.stats.chunks_wasted += 1;
                    return;
                }
                if let Err(error) = trie.put_chunk(&start, &chunk, *root) {
                    let what = format!("an honest chunk was refused: {error:?}");
                    return self.fail(FailureClass::Safety, what);
                }
                self.stats.chunks_committed += 1;
                self.chunks_this_pivot += 1;
                if trie.is_complete() {
                    let trie = trie.clone();
                    self.trace.note(self.clock.now, &format!("state complete at pivot {pivot:?}"));
                    self.phase = Phase::CatchUp { applied: vec![(pivot, trie)] };
                }
            }
            (Ask::Chunk { pivot, .. }, Reply::Gone) => {
                if matches!(&self.phase, Phase::Download { pivot: current, .. } if *current == pivot) {
                    self.restart("the pivot is gone");
                }
            }
            (Ask::Diff { block }, Reply::Diff(diff)) => {
                self.diffs.insert(block, diff);
            }
            (_, Reply::NotYet) => self.wait(NOT_YET_WAIT_MS),
            _ => {}
        }
    }

    fn wait(&mut self, ms: u64) {
        self.not_before = self.clock.now + ms;
        self.clock.schedule(self.not_before, Happening::Wake);
    }

    /// Starts over at a pivot chosen from the current head.
    fn restart(&mut self, why: &str) {
        self.stats.resets += 1;
        self.stats.chunks_wasted += self.chunks_this_pivot;
        self.chunks_this_pivot = 0;
        self.pending.clear();
        self.diffs.clear();
        self.trace.note(self.clock.now, &format!("restart: {why}"));
        self.phase = Phase::Waiting;
        self.wait(self.options.block_time_ms.min(1_000));
    }

    /// The pivot for the current head: its latest macro ancestor if close enough, else the head.
    fn pivot(&self) -> Hash {
        let mut cursor = self.head;
        let limit = self.options.pivot_retention_blocks / 2;
        for _ in 0..=limit {
            let Some(block) = self.stage.store.block(&cursor) else { break };
            if block.header().is_macro {
                return cursor;
            }
            cursor = block.parent_hash();
        }
        self.head
    }

    /// Whatever the node does next: choose a pivot, ask for the next chunk, apply diffs, ask for more.
    fn advance(&mut self) {
        if self.failure.is_some() || self.clock.now < self.not_before {
            return;
        }
        match &self.phase {
            Phase::Waiting => {
                if self.heard {
                    let pivot = self.pivot();
                    let Some(produced) = self.stage.store.get(&pivot) else { return };
                    let root = produced.block.header().state_root;
                    self.trace.note(self.clock.now, &format!("pivot #{} {pivot:?}", produced.block.number()));
                    self.phase = Phase::Download { pivot, root, trie: Trie::fresh() };
                    self.advance();
                }
            }
            Phase::Download { pivot, trie, .. } => {
                if self.pending.is_empty() {
                    let ask = Ask::Chunk { pivot: *pivot, start: trie.missing_start().cloned().unwrap_or(Key::EMPTY) };
                    self.send(ask);
                }
            }
            Phase::CatchUp { .. } => self.catch_up(),
            Phase::Done => {}
        }
    }

    fn catch_up(&mut self) {
        let Phase::CatchUp { applied } = &mut self.phase else { return };
        // The path from the head back to the newest block already applied; a rebranch reverts what it left.
        let mut path = Vec::new();
        let mut cursor = self.head;
        let found = loop {
            if let Some(index) = applied.iter().rposition(|(hash, _)| *hash == cursor) {
                break Some(index);
            }
            let Some(block) = self.stage.store.block(&cursor) else { break None };
            if block.number() <= self.stage.store.block(&applied[0].0).map_or(0, |b| b.number()) {
                break None;
            }
            path.push(cursor);
            cursor = block.parent_hash();
        };
        let Some(index) = found else {
            return self.restart("a rebranch reverted the pivot");
        };
        applied.truncate(index + 1);
        path.reverse();
        // Apply what has arrived, in order.
        let mut next = 0;
        while let Some(hash) = path.get(next) {
            let Some(diff) = self.diffs.remove(hash) else { break };
            let Some(block) = self.stage.store.block(hash) else { break };
            let mut trie = applied.last().map(|(_, trie)| trie.clone()).unwrap_or_default();
            if let Err(error) = trie.apply_diff(&diff, block.header().state_root) {
                let what = format!("an honest diff failed: {error:?}");
                return self.fail(FailureClass::Safety, what);
            }
            applied.push((*hash, trie));
            next += 1;
        }
        // Keep the last few states only (a rebranch never reaches below the latest macro block).
        let keep = (self.options.bpb as usize + 1).max(self.options.fork_depth_max as usize + 1);
        if applied.len() > keep {
            applied.drain(1..applied.len() - keep);
        }
        if next == path.len() {
            let (hash, trie) = applied.last().cloned().unwrap_or_default();
            return self.caught_up(hash, &trie);
        }
        let asked: Vec<Hash> = self
            .pending
            .values()
            .filter_map(|ask| match ask {
                Ask::Diff { block } => Some(*block),
                Ask::Chunk { .. } => None,
            })
            .collect();
        let in_flight = usize::from(self.config.diff_requests_in_flight.max(1));
        let wanted: Vec<Hash> = path[next..]
            .iter()
            .filter(|hash| !asked.contains(hash) && !self.diffs.contains_key(*hash))
            .take(in_flight.saturating_sub(asked.len()))
            .copied()
            .collect();
        for block in wanted {
            self.send(Ask::Diff { block });
        }
    }

    /// The state is at the head `hash`: check its root, and the run is done.
    fn caught_up(&mut self, hash: Hash, trie: &Trie) {
        let root = self.stage.store.block(&hash).map(|block| block.header().state_root);
        if trie.root_if_computable() != root {
            return self.fail(FailureClass::Safety, "the caught-up root is not the head's state root".into());
        }
        self.stats.completed_ms = Some(self.clock.now);
        self.stats.state_bytes = crate::oracle::state_bytes(trie);
        let transfer = crate::oracle::transfer_ms(self.options.bandwidth_bytes_per_ms, self.stats.state_bytes);
        self.stats.lower_bound_ms = transfer + self.network.round_trip_floor_ms(0..self.options.honest_peers.max(1));
        self.trace.note(self.clock.now, "caught up: done");
        self.phase = Phase::Done;
        self.stopped = true;
    }
}

/// Runs one world with the baseline strategy.
pub fn run(options: &Options) -> RunOutcome {
    Baseline::new(options).run()
}

/// The world of the strategy comparison: `efficiency_options` at `block_time_ms`, with an exact block time, a
/// budget of `budget_ms`, and a state large enough that the download takes many blocks.
pub fn comparison_options(seed: u64, block_time_ms: u64, budget_ms: u64) -> Options {
    let base = crate::sweep::efficiency_options(seed, 0.1);
    Options {
        block_time_ms,
        block_time_jitter_ms: 0,
        blocks: budget_ms.div_ceil(block_time_ms.max(1)) as u32,
        accounts: 50_000,
        replay_chance: 0.0,
        late_join_ms_max: 0,
        churn_interval_ms: 0,
        all_gone_ms: 0,
        partitions: 0,
        ..base
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pivot_sync_finishes_in_a_slow_chain_and_restarts_in_a_fast_one() {
        let slow = run(&Options { pivot_retention_blocks: 64, ..comparison_options(1, 1_000, 60_000) });
        assert!(slow.passed(), "{:?}", slow.failure);
        assert_eq!(slow.stats.resets, 0, "a slow chain never prunes the pivot");
        assert!(slow.stats.diff_bytes_fetched > 0, "it caught up with diffs");
        let fast = run(&Options { pivot_retention_blocks: 4, ..comparison_options(1, 100, 20_000) });
        assert!(fast.stats.resets > 0, "4 blocks of 100 ms are gone before the download ends");
        assert!(!fast.passed(), "the head outruns a pivot download that must restart");
    }

    #[test]
    fn same_seed_same_trace() {
        let options = comparison_options(7, 250, 20_000);
        assert_eq!(run(&options), run(&options));
    }
}
