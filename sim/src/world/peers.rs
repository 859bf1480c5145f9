//! The peers in the world: a request reaches a peer, which answers through the engine's responder (or lies, or
//! stays silent) after its own delay; answers travel back, sometimes replayed much later; liars take turns of
//! their own (`crate::adversary::moves`).

use super::node::Connection;
use super::{Happening, Outgoing, World};
use crate::adversary::moves::{self, Stage as MoveStage};
use crate::peer::{Answer, PeerKind};
use sync_core::wire::{Message, Request, Response};
use sync_core::{Input, Millis, PeerId};

impl World {
    pub(super) fn peer_request(&mut self, peer: u32, request_id: u64, request: Request) {
        if self.node.connection(peer) != Connection::Connected {
            return;
        }
        let node_id = PeerId(1_000);
        let now = Millis(self.clock.now);
        let admitted = self.rate_limiters[peer as usize].admit(now, node_id, &request, &self.config);
        let responder = &mut self.stage.peers[peer as usize];
        let answer = if admitted {
            responder.answer(&self.stage.store, &self.config, request_id, &request)
        } else {
            Answer::Response(Response::RateLimited)
        };
        let delay = match responder.kind {
            PeerKind::Slow => {
                let timeout = self.config.request_timeout_ms;
                timeout / 2 + responder.prng().below(timeout * 2 / 5 + 1)
            }
            _ => responder.prng().below(3),
        };
        let message = match answer {
            Answer::Nothing => return,
            Answer::Response(response) => Outgoing::Response { request_id, response },
            Answer::Garbage(bytes) => Outgoing::Bytes(bytes),
        };
        self.clock.schedule(self.clock.now + delay, Happening::PeerSend { peer, message });
    }

    pub(super) fn peer_send(&mut self, peer: u32, message: Outgoing) {
        let id = self.stage.peers[peer as usize].id;
        match message {
            Outgoing::Response { request_id, response } => {
                if !self.liveness && self.stage.faults.chance(self.options.replay_chance) {
                    // A stale duplicate of this answer arrives much later.
                    let later = self.clock.now + self.stage.faults.range(1, 10 * self.options.block_time_ms.max(1));
                    let replay = Outgoing::Response { request_id, response: response.clone() };
                    self.clock.schedule(later, Happening::PeerSend { peer, message: replay });
                }
                let input = Input::Response { peer: id, request_id, response: response.clone() };
                self.send_to_node(peer, Message::Response { request_id, response }, input);
            }
            Outgoing::Bytes(bytes) => {
                let input = Input::Bytes { peer: id, bytes: bytes.clone() };
                self.send_bytes_to_node(peer, bytes.len() as u64, input);
            }
        }
    }

    /// A byzantine peer's own moves, repeated while it stays connected.
    pub(super) fn initiative(&mut self, peer: u32) {
        let PeerKind::Byzantine(class) = self.stage.peers[peer as usize].kind else { return };
        let connection = self.node.connection(peer);
        if connection == (Connection::Dropped { evicted: true }) {
            return;
        }
        let mut next = self.options.block_time_ms.max(50);
        if connection == Connection::Connected && self.stage.faults.chance(self.options.lie_chance) {
            let stage = MoveStage {
                store: &self.stage.store,
                producer: &mut self.stage.producer,
                config: &self.config,
                block_time_ms: self.options.block_time_ms,
            };
            let Some(turn) = moves::turn(class, &mut self.stage.peers[peer as usize], stage) else { return };
            let id = self.stage.peers[peer as usize].id;
            for message in turn.messages {
                let input = match message.clone() {
                    Message::Announce(block) => Input::Announce { peer: id, block },
                    Message::Response { request_id, response } => Input::Response { peer: id, request_id, response },
                    Message::Request { request_id, request } => Input::Request { peer: id, request_id, request },
                };
                self.send_to_node(peer, message, input);
            }
            next = turn.next_ms.unwrap_or(next);
        }
        self.clock.schedule(self.clock.now + next, Happening::Initiative { peer });
    }
}
