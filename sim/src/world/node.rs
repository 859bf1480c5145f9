//! The node under test in the world: its connections to the peers, every input it takes (each judged by the
//! oracle), every output it gives (requests onto the network, events to the oracle and the recordings), and its
//! timer.

use super::{progress, Happening, World};
use crate::network::Direction;
use crate::oracle::liveness::RECONNECT_MS;
use crate::oracle::Cause;
use crate::peer::PeerKind;
use crate::svg::{Mark, RequestMark};
use std::collections::BTreeMap;
use sync_core::wire::{Message, Request, Response};
use sync_core::{Event, Input, Millis, Output, PeerId, SyncEngine};

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
        let id = self.stage.peers[peer as usize].id;
        self.node_input(Some(peer), Input::PeerJoined { peer: id });
        // A joining peer announces its head, as a connecting full node would.
        if self.stage.peers[peer as usize].kind != PeerKind::Silent {
            let head = self.stage.peers[peer as usize].head();
            if let Some(block) = self.stage.store.block(&head).cloned() {
                self.send_to_node(peer, Message::Announce(block.clone()), Input::Announce { peer: id, block });
            }
        }
    }

    pub(super) fn leave(&mut self, peer: u32, until: u64) {
        if self.liveness || self.node.connection(peer) != Connection::Connected {
            return;
        }
        self.node.connections.insert(peer, Connection::Away);
        let id = self.stage.peers[peer as usize].id;
        self.node_input(Some(peer), Input::PeerLeft { peer: id });
        self.clock.schedule(until, Happening::Return { peer });
        if self.options.churn_interval_ms > 0 && peer > 0 {
            let churn = self.options.churn_interval_ms;
            let next = until + self.stage.faults.range(1, 2 * churn);
            let next_until = next + self.stage.faults.range(1, churn);
            self.clock.schedule(next, Happening::Leave { peer, until: next_until });
        }
    }

    pub(super) fn send_to_node(&mut self, peer: u32, message: Message, input: Input) {
        let bytes = message.encode().len() as u64;
        self.send_bytes_to_node(peer, bytes, input);
    }

    pub(super) fn send_bytes_to_node(&mut self, peer: u32, bytes: u64, input: Input) {
        if self.node.connection(peer) != Connection::Connected {
            return;
        }
        for at in self.network.send(self.clock.now, 0, peer, Direction::ToNode, bytes) {
            match &input {
                Input::Response { response: Response::Chunk { .. }, .. } => self.stats.bytes_fetched += bytes,
                Input::Response { response: Response::Diff(_), .. } => self.stats.diff_bytes_fetched += bytes,
                _ => {}
            }
            self.clock.schedule(at, Happening::ToNode { peer, input: input.clone() });
        }
    }

    /// One input into the node, then its outputs, then the oracle's checks.
    pub(super) fn node_input(&mut self, from: Option<u32>, input: Input) {
        let now = self.clock.now;
        let cause = Cause {
            from: from.map(|peer| self.stage.peers[peer as usize].id),
            head_before: self.node.engine.head().number(),
            tagged: match &input {
                Input::Announce { block, .. } => Some(block.number()),
                Input::Response { response: Response::Chunk { block_number, .. }, .. } => Some(*block_number),
                _ => None,
            },
        };
        self.trace.input(now, 0, &input);
        self.stats.inputs += 1;
        if let (Some(timeline), Input::Response { request_id, .. }) = (&mut self.timeline, &input) {
            if let Some(&index) = self.request_marks.get(request_id) {
                timeline.requests[index].answered.get_or_insert(now);
            }
        }
        self.node.engine.handle_input(Millis(now), input);
        self.node.engine.check_invariants();
        self.drain(cause);
        let verdict = self.oracle.after_input(&self.node.engine, &self.stage.store, &mut self.stats);
        self.judge(verdict);
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
            timeline.progress.push((self.clock.now, progress(engine.missing_start())));
        }
        let wake = self.node.engine.poll_timeout().map(|(at, _)| at.0.max(self.clock.now));
        if let Some(at) = wake.filter(|_| wake != self.node.wake) {
            self.node.wake = wake;
            self.clock.schedule(at, Happening::Wake);
        }
    }

    fn send_request(&mut self, peer: PeerId, request_id: u64, request: Request) {
        let Some(index) = self.peer_index(peer) else { return };
        if let Some(timeline) = &mut self.timeline {
            let kind = match request {
                Request::Chunk { .. } => 'c',
                Request::TrieDiff { .. } => 'd',
                Request::MissingBlocks { .. } => 'b',
            };
            self.request_marks.insert(request_id, timeline.requests.len());
            timeline.requests.push(RequestMark { sent: self.clock.now, peer: index, kind, answered: None });
        }
        let bytes = Message::Request { request_id, request: request.clone() }.encode().len() as u64;
        for at in self.network.send(self.clock.now, 0, index, Direction::ToPeer, bytes) {
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
                if !is_evicted {
                    self.clock.schedule(self.clock.now + RECONNECT_MS, Happening::Reconnect { peer });
                }
            }
        }
    }

    /// The timeline's marks for an event (resets, rebranches, penalties, completion).
    fn record_event(&mut self, event: &Event) {
        let Some(timeline) = &mut self.timeline else { return };
        let mark = match event {
            Event::ChunkChainReset { reason } => Some(Mark::Reset(format!("{reason:?}"))),
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
