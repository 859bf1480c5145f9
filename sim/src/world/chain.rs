//! Block production in the world: the producer's steps (drawn forks in the safety phase, scripted ones of named
//! scenarios, none in the liveness phase), each block's way to every peer, and the peers' gossip to the node.

use super::{Happening, World, FOLLOW_BLOCKS};
use crate::adversary::{moves, ByzantineClass};
use crate::options::Scripted;
use crate::oracle::accounting::Origin;
use crate::peer::PeerKind;
use crate::producer::Production;
use crate::svg::Mark;
use sync_core::wire::Message;
use sync_core::Hash;

impl World {
    pub(super) fn produce(&mut self) {
        if !self.producing {
            return;
        }
        if self.followed_long_enough() {
            return self.finish_production();
        }
        if self.liveness && self.stranded() {
            return;
        }
        let scripted = if self.liveness { None } else { self.scripted_fork() };
        let production = match scripted {
            Some(production) => production,
            None => self.stage.produce(!self.liveness),
        };
        self.note_production(&production);
        for block in &production.blocks {
            for peer in 0..self.peer_count() {
                self.send_block_to_peer(peer, block.hash());
            }
        }
        self.abandoned_fork_for_liars();
        let interval = self.stage.interval(self.pace().block_time_ms(self.liveness), self.options.block_time_jitter_ms);
        self.clock.schedule(self.clock.now + interval, Happening::Produce);
    }

    /// Production stops once the node completed, followed the chain for `FOLLOW_BLOCKS` block times (L3), and
    /// is as close to the tip as blocks can travel: no further behind than the blocks produced while one crosses
    /// two links (producer to peer to node). Stopping while it was still catching up would leave it short of the
    /// tip however well it follows (seed 1004526). A node that never gets that close keeps production going until
    /// L1's deadline, and fails there; the final check still wants the tip itself, after the drain.
    fn followed_long_enough(&self) -> bool {
        if !(self.liveness && self.oracle.complete) {
            return false;
        }
        let block_time = self.pace().block_time_ms(true).max(1);
        let completed = self.oracle.completed_at.unwrap_or(self.clock.now).max(self.stats.liveness_start_ms);
        let followed = self.clock.now >= completed + FOLLOW_BLOCKS * block_time;
        let travel = 2 * self.network.one_way_max_ms(64 * 1024);
        let lag_max = u32::try_from(travel / block_time + 1).unwrap_or(u32::MAX);
        let tip = self.stage.store.tip().block.number();
        followed && self.node.engine.head().number().saturating_add(lag_max) >= tip
    }

    /// The trace note and timeline mark of a production step.
    fn note_production(&mut self, production: &Production) {
        self.stats.blocks_produced += production.blocks.len() as u64;
        let tip = self.stage.store.tip().block.number();
        let text = match production.rebranch {
            Some((depth, adopted)) => format!("rebranch depth {depth}, {adopted} adopted, tip {tip}"),
            None if production.abandoned_fork => format!("abandoned fork of {} blocks", production.blocks.len()),
            None => format!("block {tip}"),
        };
        self.trace.note(self.clock.now, &text);
        if let Some(timeline) = &mut self.timeline {
            if production.rebranch.is_some() || production.abandoned_fork {
                timeline.marks.push((self.clock.now, Mark::Fork(text)));
            }
        }
    }

    /// Private, abandoned fork blocks for peers that announce what nobody else can serve (H10): each such liar
    /// makes its own, on its own stream, in the safety phase only.
    fn abandoned_fork_for_liars(&mut self) {
        let liar = PeerKind::Byzantine(ByzantineClass::AbandonedFork);
        for peer in 0..self.peer_count() {
            let stage = &mut self.stage;
            if stage.peers[peer as usize].kind != liar {
                continue;
            }
            let peer_state = &mut stage.peers[peer as usize];
            if let Some(block) = moves::private_fork(peer_state, &mut stage.store, &stage.producer, !self.liveness) {
                self.send_block_to_peer(peer, block.hash());
            }
        }
    }

    /// A scripted fork due at the current tip height (safety phase only: forking ends with it, L1).
    fn scripted_fork(&mut self) -> Option<Production> {
        let tip = self.stage.store.tip().block.number();
        let due = self.options.script.iter().enumerate().position(|(index, scripted)| {
            !self.scripted_done[index]
                && matches!(scripted, Scripted::Rebranch { at_height, .. } | Scripted::AbandonedFork { at_height, .. } if *at_height <= tip)
        })?;
        self.scripted_done[due] = true;
        let (depth, rebranch) = match self.options.script[due] {
            Scripted::Rebranch { depth, .. } => (depth, true),
            Scripted::AbandonedFork { depth, .. } => (depth, false),
            _ => return None,
        };
        let production = self.stage.producer.fork_with(&mut self.stage.store, depth, rebranch);
        if production.is_none() {
            self.trace
                .note(self.clock.now, &format!("scripted fork of depth {depth} at {tip} does not fit (macro block)"));
        }
        production
    }

    /// Production stops; the world runs until every message has landed, then stops.
    fn finish_production(&mut self) {
        self.producing = false;
        let drain = self.pace().drain_ms();
        self.clock.schedule(self.clock.now + drain, Happening::Stop);
        self.trace.note(self.clock.now, "production stops");
    }

    fn send_block_to_peer(&mut self, peer: u32, hash: Hash) {
        let at = self.stage.delivery(self.clock.now, peer, self.options.latency_ms);
        self.clock.schedule(at, Happening::PeerBlock { peer, hash });
    }

    /// A peer receives a block and gossips it to the node.
    pub(super) fn peer_block(&mut self, peer: u32, hash: Hash) {
        let store = &self.stage.store;
        let receiver = &mut self.stage.peers[peer as usize];
        let known_before = receiver.knows(&hash);
        receiver.receive(store, hash);
        if known_before || !receiver.knows(&hash) || receiver.kind == PeerKind::Silent {
            return;
        }
        let Some(block) = store.block(&hash).cloned() else { return };
        self.send_to_node(peer, Message::Announce(block), Origin::Gossip);
    }
}
