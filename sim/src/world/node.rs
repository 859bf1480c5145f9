//! The node under test in the world: its connections to the peers, every input it takes (each judged by the
//! oracle), every output it gives (requests onto the network, events to the oracle and the recordings), and its
//! timer.

use super::{lane_progress, Happening, World};
use crate::network::{Direction, Fate};
use crate::oracle::accounting::Origin;
use crate::oracle::liveness::RECONNECT_MS;
use crate::oracle::Cause;
use crate::peer::PeerKind;
use crate::svg::{Mark, RequestMark};
use std::collections::BTreeMap;
use std::sync::Arc;
use sync_core::block::Block;
use sync_core::wire::{Message, Request, Response};
use sync_core::{Event, Input, Millis, Output, PeerId, SyncEngine};

/// A message on its way from a peer to the node: the bytes the node decodes, (unless they are garbage) the
/// typed message the world encoded them from, for the trace and the oracle, and where it comes from.
#[derive(Clone, Debug)]
pub(super) struct Delivery {
    pub(super) message: Option<Arc<Message>>,
    pub(super) bytes: Arc<[u8]>,
    pub(super) origin: Origin,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Connection {
    /// Not joined yet (late joiners), or away (churn, everyone gone).
    Away,
    Connected,
    /// The engine removed the peer; `evicted` peers never come back.
    Dropped {
        evicted: bool,
    },
}

/// The syncing node: its engine, its pending wake-up, and how each peer is connected to it.
pub(super) struct Node {
    pub(super) engine: SyncEngine,
    pub(super) wake: Option<u64>,
    connections: BTreeMap<u32, Connection>,
}

impl Node {
    pub(super) fn new(engine: SyncEngine, peers: usize) -> Node {
        Node { engine, wake: None, connections: (0..peers as u32).map(|peer| (peer, Connection::Away)).collect() }
    }

    pub(super) fn connection(&self, peer: u32) -> Connection {
        self.connections[&peer]
    }
}

impl World {
    pub(super) fn connect(&mut self, peer: u32) {
        if matches!(self.node.connection(peer), Connection::Connected | Connection::Dropped { evicted: true }) {
            return;
        }
        self.node.connections.insert(peer, Connection::Connected);
        self.peer_records[peer as usize].joins += 1;
        let id = self.stage.peers[peer as usize].id;
        self.node_input(Some(peer), Input::PeerJoined { peer: id });
        // A joining peer announces its head, as a connecting full node would.
        if self.stage.peers[peer as usize].kind != PeerKind::Silent {
            let head = self.stage.peers[peer as usize].head();
            if let Some(block) = self.stage.store.block(&head).cloned() {
                self.send_to_node(peer, Message::Announce(block), Origin::Gossip);
            }
        }
    }

    /// `peer` leaves until `until` (in the safety phase only); a churn departure schedules the next one, whether
    /// or not the peer was connected to leave.
    pub(super) fn leave(&mut self, peer: u32, until: u64, churn: bool) {
        if self.liveness {
            return;
        }
        if churn {
            self.schedule_churn(peer, until);
        }
        if self.node.connection(peer) != Connection::Connected {
            return;
        }
        self.node.connections.insert(peer, Connection::Away);
        self.oracle.accounting.away(peer, until);
        self.oracle.accounting.forget_peer(peer);
        self.peer_records[peer as usize].leaves += 1;
        let id = self.stage.peers[peer as usize].id;
        self.node_input(Some(peer), Input::PeerLeft { peer: id });
        self.clock.schedule(until, Happening::Return { peer });
    }

    /// A message from `peer` to the node: encoded once, its real size on the network, its bytes to the node.
    /// Returns what the network did with it (`None`: the node is not connected to the peer).
    pub(super) fn send_to_node(&mut self, peer: u32, message: Message, origin: Origin) -> Option<Fate> {
        let bytes = match &message {
            Message::Announce(block) => self.announcement_bytes(block),
            _ => message.encode().into(),
        };
        self.send_bytes_to_node(peer, Delivery { message: Some(Arc::new(message)), bytes, origin })
    }

    /// The bytes of an announcement of `block`: kept from another peer's announcement of an equal block (the same
    /// header, seal and body encode the same), or encoded and kept.
    fn announcement_bytes(&mut self, block: &Block) -> Arc<[u8]> {
        if let Some((_, bytes)) = self.announced.iter().find(|(kept, _)| kept == block) {
            let encoded = || Message::Announce(block.clone()).encode();
            debug_assert!(**bytes == *encoded(), "kept announcement bytes are the block's encoding");
            return Arc::clone(bytes);
        }
        let bytes: Arc<[u8]> = Message::Announce(block.clone()).encode().into();
        if self.announced.len() == super::ANNOUNCEMENTS_KEPT {
            self.announced.pop_back();
        }
        self.announced.push_front((block.clone(), Arc::clone(&bytes)));
        bytes
    }

    pub(super) fn send_bytes_to_node(&mut self, peer: u32, delivery: Delivery) -> Option<Fate> {
        if self.node.connection(peer) != Connection::Connected {
            return None;
        }
        let size = delivery.bytes.len() as u64;
        let fate = self.network.send(self.clock.now, peer, Direction::ToNode, size);
        for (copy, at) in fate.arrivals().enumerate() {
            match delivery.message.as_deref() {
                Some(Message::Response { response: Response::Chunk { .. }, .. }) => self.stats.bytes_fetched += size,
                Some(Message::Response { response: Response::Diff(_), .. }) => self.stats.diff_bytes_fetched += size,
                _ => {}
            }
            let origin = if copy == 0 { delivery.origin } else { delivery.origin.copy() };
            self.clock.schedule(at, Happening::ToNode { peer, delivery: Delivery { origin, ..delivery.clone() } });
        }
        Some(fate)
    }

    /// A message reaches the node as bytes, through the engine's own decoder (one wire path). The trace and the
    /// oracle see the typed message the world encoded.
    pub(super) fn deliver(&mut self, peer: u32, delivery: Delivery) {
        let now = self.clock.now;
        let id = self.stage.peers[peer as usize].id;
        let cause = Cause {
            from: Some(id),
            head_before: self.node.engine.head().number(),
            tagged: match delivery.message.as_deref() {
                Some(Message::Announce(block)) => Some(block.number()),
                Some(Message::Response { response: Response::Chunk { block_number, .. }, .. }) => Some(*block_number),
                _ => None,
            },
        };
        match delivery.message.as_deref() {
            Some(message) => self.trace.message(now, 0, id, message),
            None => self.trace.bytes(now, 0, id, &delivery.bytes),
        }
        if let (Some(timeline), Some(Message::Response { request_id, .. })) =
            (&mut self.timeline, delivery.message.as_deref())
        {
            if let Some(&index) = self.request_marks.get(request_id) {
                timeline.requests[index].answered.get_or_insert(now);
            }
        }
        self.stats.inputs += 1;
        let response = match delivery.message.as_deref() {
            Some(Message::Response { request_id, response }) => Some((*request_id, response)),
            _ => None,
        };
        let engine = &self.node.engine;
        let holds = |hash: &sync_core::Hash| engine.holds_block(hash);
        let awaited = response.is_some_and(|(request_id, _)| engine.awaits(id, request_id));
        let response = response.map(|(request_id, r)| (peer, request_id, r));
        let verdict = self.oracle.accounting.input(now, delivery.origin, response, awaited, &holds);
        self.judge(verdict);
        if let Some(Message::Announce(block)) = delivery.message.as_deref() {
            self.oracle.accounting.announced(block.hash());
        }
        self.node.engine.handle_input(Millis(now), Input::Bytes { peer: id, bytes: delivery.bytes.to_vec() });
        self.after_input(cause);
    }

    /// A host event or the node's timer: one input into the node.
    pub(super) fn node_input(&mut self, from: Option<u32>, input: Input) {
        let now = self.clock.now;
        let cause = Cause {
            from: from.map(|peer| self.stage.peers[peer as usize].id),
            head_before: self.node.engine.head().number(),
            tagged: None,
        };
        self.trace.input(now, 0, &input);
        self.stats.inputs += 1;
        let verdict = self.oracle.accounting.input(now, Origin::Host, None, false, &|_| false);
        self.judge(verdict);
        self.node.engine.handle_input(Millis(now), input);
        self.after_input(cause);
    }

    /// After every input: the engine's own invariants, its outputs, then the oracle's checks.
    fn after_input(&mut self, cause: Cause) {
        if self.oracle.observing {
            self.node.engine.check_invariants();
        }
        self.drain(cause);
        let verdict = self.oracle.after_input(&self.node.engine, &self.stage.store, &mut self.stats);
        self.judge(verdict);
        if self.oracle.observing {
            let verdict = crate::oracle::host::probe(&self.node.engine, self.clock.now, self.stats.inputs);
            self.judge(verdict);
        }
    }

    /// Handles every output of the last input: requests go on the network, events are checked and recorded;
    /// then peers the engine removed are disconnected, and the node's next wake-up is scheduled.
    fn drain(&mut self, cause: Cause) {
        let mut evicted = Vec::new();
        while let Some(output) = self.node.engine.poll_output() {
            self.trace.output(self.clock.now, 0, &output);
            match output {
                Output::SendRequest { peer, request_id, request } => self.send_request(peer, request_id, request),
                Output::SendResponse { .. } => {}
                Output::Event(event) => {
                    self.record_event(&event);
                    let verdict = self.oracle.event(self.clock.now, &event, cause, &self.stage.store, &mut self.stats);
                    self.judge(verdict);
                    let (engine, store) = (&self.node.engine, &self.stage.store);
                    let verdict = self.oracle.accounting.event(self.clock.now, &event, engine, store);
                    self.judge(verdict);
                    if let Some(events) = &mut self.events {
                        events.push((self.clock.now, event.clone(), self.node.engine.chunk_buffer_size()));
                    }
                    if let Event::PeerEvicted { peer } = event {
                        evicted.extend(self.peer_index(peer));
                    }
                }
            }
        }
        self.disconnect_removed(&evicted);
        if let Some(timeline) = &mut self.timeline {
            let engine = &self.node.engine;
            let tip = self.stage.store.tip().block.number();
            timeline.heads.push((self.clock.now, engine.head().number(), tip));
            timeline.progress.push((self.clock.now, lane_progress(engine.trie())));
        }
        let wake = self.node.engine.poll_timeout().map(|(at, _)| at.0.max(self.clock.now));
        if let Some(at) = wake.filter(|_| wake != self.node.wake) {
            self.node.wake = wake;
            self.clock.schedule(at, Happening::Wake);
        }
    }

    fn send_request(&mut self, peer: PeerId, request_id: u64, request: Request) {
        let Some(index) = self.peer_index(peer) else { return };
        let record = &mut self.peer_records[index as usize];
        match request {
            Request::Chunk { .. } => record.chunk_requests += 1,
            Request::TrieDiff { .. } => record.diff_requests += 1,
            Request::MissingBlocks { .. } | Request::BlocksFrom { .. } => record.block_requests += 1,
        }
        if let Some(timeline) = &mut self.timeline {
            let kind = match request {
                Request::Chunk { .. } => 'c',
                Request::TrieDiff { .. } => 'd',
                Request::MissingBlocks { .. } | Request::BlocksFrom { .. } => 'b',
            };
            self.request_marks.insert(request_id, timeline.requests.len());
            timeline.requests.push(RequestMark { sent: self.clock.now, peer: index, kind, answered: None });
        }
        let bytes = Message::Request { request_id, request: request.clone() }.encode().len() as u64;
        let fate = self.network.send(self.clock.now, index, Direction::ToPeer, bytes);
        let engine = &self.node.engine;
        let head = engine.head().number();
        let holds = |hash: &sync_core::Hash| engine.holds_block(hash);
        let verdict = self.oracle.accounting.asked(self.clock.now, head, request_id, index, &request, fate, &holds);
        self.judge(verdict);
        for at in fate.arrivals() {
            self.clock.schedule(at, Happening::ToPeer { peer: index, request_id, request: request.clone() });
        }
    }

    /// Peers the engine removed: the host disconnects them, and reconnects those not evicted.
    fn disconnect_removed(&mut self, evicted: &[u32]) {
        let members = self.node.engine.peers();
        for peer in 0..self.peer_count() {
            let id = self.stage.peers[peer as usize].id;
            if self.node.connection(peer) == Connection::Connected && !members.contains(&id) {
                let is_evicted = evicted.contains(&peer);
                self.node.connections.insert(peer, Connection::Dropped { evicted: is_evicted });
                self.oracle.accounting.forget_peer(peer);
                if !is_evicted {
                    self.clock.schedule(self.clock.now + RECONNECT_MS, Happening::Reconnect { peer });
                    self.oracle.accounting.away(peer, self.clock.now + RECONNECT_MS);
                }
            }
        }
    }

    /// The timeline's marks for an event (resets, rebranches, penalties, completion).
    fn record_event(&mut self, event: &Event) {
        let Some(timeline) = &mut self.timeline else { return };
        let mark = match event {
            Event::ChunkChainReset { reason, .. } => Some(Mark::Reset(format!("{reason:?}"))),
            Event::Rebranched { reverted, .. } => Some(Mark::Rebranch(reverted.len() as u32)),
            Event::PeerPenalized { peer, violation } => {
                Some(Mark::Penalty(peer.0.saturating_sub(1), format!("{violation:?}")))
            }
            Event::StateComplete { .. } => Some(Mark::Complete),
            _ => None,
        };
        timeline.marks.extend(mark.map(|mark| (self.clock.now, mark)));
    }

    pub(super) fn peer_index(&self, peer: PeerId) -> Option<u32> {
        (peer.0 >= 1 && (peer.0 as usize) <= self.stage.peers.len()).then(|| peer.0 - 1)
    }
}
