//! The peers in the world: a request reaches a peer, which answers through the engine's responder (or lies, or
//! stays silent) after its own delay; answers travel back, sometimes replayed much later; liars take turns of
//! their own (`crate::adversary::moves`).

use super::node::{Connection, Delivery};
use super::{Happening, Outgoing, World};
use crate::adversary::moves::{self, Stage as MoveStage};
use crate::oracle::accounting::{Cause, Origin};
use crate::peer::{Answer, PeerKind};
use sync_core::wire::{Message, Request, Response};
use sync_core::{Millis, PeerId};

impl World {
    pub(super) fn peer_request(&mut self, peer: u32, request_id: u64, request: Request) {
        if self.node.connection(peer) != Connection::Connected {
            self.oracle.accounting.unheard(request_id);
            return;
        }
        let node_id = PeerId(1_000);
        let now = Millis(self.clock.now);
        let admitted = self.rate_limiters[peer as usize].admit(now, node_id, &request, &self.config);
        let responder = &mut self.stage.peers[peer as usize];
        let answer = if admitted {
            responder.answer(&self.stage.store, &self.config, request_id, &request)
        } else {
            self.rate_limited_at = Some(self.clock.now);
            Answer::Response(Response::RateLimited)
        };
        let delay = match responder.kind {
            PeerKind::Slow => {
                let timeout = self.config.request_timeout_ms;
                timeout / 2 + responder.prng().below(timeout * 2 / 5 + 1)
            }
            _ => responder.prng().below(3),
        };
        if !matches!(answer, Answer::Nothing) {
            self.oracle.accounting.answered(self.clock.now, request_id, responder.last_lie);
        }
        if let Request::MissingBlocks { locators, .. } = &request {
            // Answered from an older locator than the first: the responder lags, or the first is a fork block (a
            // liar's private or invented one too, which may not even be stored).
            let store = &self.stage.store;
            if let Some(&first) = locators.first() {
                let on_main = store.block(&first).is_some_and(|block| responder.main_at(block.number()) == Some(first));
                if !on_main {
                    let cause = if store.is_canonical(&first) { Cause::Lag } else { Cause::Fork };
                    self.oracle.accounting.older_anchor(request_id, cause);
                }
            }
        }
        let message = match answer {
            Answer::Nothing => return,
            Answer::Response(response) => Outgoing::Response { request_id, response, replay: false },
            Answer::Garbage(bytes) => Outgoing::Bytes { request_id, bytes },
        };
        self.clock.schedule(self.clock.now + delay, Happening::PeerSend { peer, message });
    }

    pub(super) fn peer_send(&mut self, peer: u32, message: Outgoing) {
        match message {
            Outgoing::Response { request_id, response, replay } => {
                let horizon = 10 * self.options.block_time_ms.max(1);
                if let Some(later) = self.network.replay(self.clock.now, peer, horizon).filter(|_| !replay) {
                    // A stale duplicate of this answer arrives much later.
                    let replay = Outgoing::Response { request_id, response: response.clone(), replay: true };
                    self.clock.schedule(later, Happening::PeerSend { peer, message: replay });
                }
                self.send_answer(peer, request_id, Message::Response { request_id, response }, replay);
            }
            Outgoing::Bytes { request_id, bytes } => {
                let delivery = Delivery { message: None, bytes: bytes.into(), origin: Origin::Host };
                self.send_answer_bytes(peer, request_id, delivery);
            }
        }
    }

    /// A byzantine peer's own moves, repeated until it is evicted. Whether it lies on a turn is drawn on its
    /// own stream at every turn, connected or not.
    pub(super) fn initiative(&mut self, peer: u32) {
        let PeerKind::Byzantine(class) = self.stage.peers[peer as usize].kind else { return };
        let connection = self.node.connection(peer);
        if connection == (Connection::Dropped { evicted: true }) {
            return;
        }
        let mut next = self.options.block_time_ms.max(50);
        let lying = self.stage.peers[peer as usize].adversary().chance(self.options.lie_chance);
        if connection == Connection::Connected && lying {
            let stage = MoveStage {
                store: &self.stage.store,
                producer: &self.stage.producer,
                config: &self.config,
                block_time_ms: self.options.block_time_ms,
            };
            let Some(turn) = moves::turn(class, &mut self.stage.peers[peer as usize], stage) else { return };
            self.stage.peers[peer as usize].lies += turn.messages.len() as u64;
            for message in turn.messages {
                self.send_to_node(peer, message, Origin::Turn(class));
            }
            next = turn.next_ms.unwrap_or(next);
        }
        self.clock.schedule(self.clock.now + next, Happening::Initiative { peer });
    }

    /// An answer to `request_id` goes to the node: the ledger learns its fate, and a second answer (to a
    /// duplicated request) or a replayed one is an extra copy.
    fn send_answer(&mut self, peer: u32, request_id: u64, message: Message, replay: bool) {
        let bytes: std::sync::Arc<[u8]> = message.encode().into();
        let delivery = Delivery { message: Some(std::sync::Arc::new(message)), bytes, origin: Origin::Host };
        if replay {
            let origin = Origin::Answer { request_id, extra: true };
            self.send_bytes_to_node(peer, Delivery { origin, ..delivery });
        } else {
            self.send_answer_bytes(peer, request_id, delivery);
        }
    }

    /// The first answer's fate goes to the ledger; a later one is an extra copy.
    fn send_answer_bytes(&mut self, peer: u32, request_id: u64, delivery: Delivery) {
        // Whether it is the first answer is known only once it is sent; the origin is set before, so ask first.
        let connected = self.node.connection(peer) == Connection::Connected;
        let first = !self.oracle.accounting.answered_before(request_id);
        let origin = Origin::Answer { request_id, extra: !first };
        let fate = self.send_bytes_to_node(peer, Delivery { origin, ..delivery });
        if first {
            self.oracle.accounting.answer_sent(request_id, fate.filter(|_| connected));
        }
    }
}
