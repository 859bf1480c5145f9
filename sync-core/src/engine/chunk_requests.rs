//! Issuing chunk requests (§4.5 "Issuing requests", §4.12): with one lane, the reference's chain of chunks at one
//! start, hedged on several peers when `chunk_requests_in_flight` > 1; with lanes, one request per lane, on
//! distinct peers first, each to the peer expected to deliver soonest.

use super::SyncEngine;
use crate::interface::PeerId;
use crate::key::Key;
use crate::peers::{Kind, PeerState};
use crate::requests::Purpose;
use crate::state_queue::Cursor;
use crate::wire::Request;

impl SyncEngine {
    /// Outstanding chunk requests: peer, start, generation.
    pub(crate) fn chunk_requests_outstanding(&self) -> Vec<(PeerId, Key, u64)> {
        self.requests
            .iter()
            .filter_map(|(_, o)| match &o.purpose {
                Purpose::Chunk { start, generation, .. } => Some((o.peer, start.clone(), *generation)),
                _ => None,
            })
            .collect()
    }

    /// `chunk_requests_outstanding` without the starts: the peer and lane generation of each (no key copied).
    fn chunk_asks(&self) -> Vec<(PeerId, u64)> {
        self.requests
            .iter()
            .filter_map(|(_, o)| match &o.purpose {
                Purpose::Chunk { generation, .. } => Some((o.peer, *generation)),
                _ => None,
            })
            .collect()
    }

    /// Issues chunk requests while the cursors want them.
    pub(crate) fn issue_chunk_requests(&mut self) {
        // While a catch-up from beyond the window brings blocks, every chunk would be cut at a block far ahead: wait.
        if self.state.retry_at.is_some() || self.peers.is_empty() || self.catch_up_pause().is_some() {
            return;
        }
        if self.state.lanes.len() == 1 {
            self.issue_hedged(0);
        } else {
            self.issue_per_lane();
        }
    }

    /// The start lane `lane`'s next request takes, moving `Reset` to `Continue(s_j)`; `None` when the lane wants
    /// no request (done, paused, or its trie lane is done).
    fn lane_request_start(&mut self, lane: usize) -> Option<Key> {
        let missing = self.chain.trie().lane_start(lane).cloned();
        let cursor = &mut self.state.lanes[lane].cursor;
        match cursor {
            Cursor::Complete | Cursor::Paused(_) => None,
            Cursor::Reset => {
                let missing = missing?;
                *cursor = Cursor::Continue(missing.clone());
                Some(missing)
            }
            Cursor::Continue(k) => match missing {
                Some(missing) if missing > *k => Some(missing),
                _ => Some(k.clone()),
            },
        }
    }

    /// One lane (the reference, §4.5): up to `chunk_requests_in_flight` requests at the same start, the extra
    /// ones hedging on other peers.
    fn issue_hedged(&mut self, lane: usize) {
        let Some(start) = self.lane_request_start(lane) else { return };
        let mut in_flight = self.chunk_asks().len();
        while in_flight < self.config.chunk_requests_in_flight as usize {
            let busy: Vec<PeerId> = self.chunk_asks().into_iter().map(|(peer, _)| peer).collect();
            let Some(peer) = self.round_robin_chunk_peer(&busy) else { return };
            self.send_chunk_request(peer, lane, start.clone());
            in_flight += 1;
        }
    }

    /// Lanes (§4.12): at most one request per lane and `chunk_requests_in_flight` in all, the lanes with the most
    /// key space left first, each to the free peer expected to answer soonest; a busy peer only when no peer is
    /// free.
    ///
    /// While the node is more than the window behind a peer's announced head, or a catch-up runs, one chunk
    /// request at a time, as with one lane: every answer is tagged beyond the window and wasted, and every lane's
    /// answers on a thin link crowd out the blocks the node must catch up with, so that it falls further behind
    /// (explore seed 120019761: one peer behind a 200 bytes/ms link, a block every 50 ms, two lanes of 145 KB
    /// chunks).
    ///
    /// Every answer may come tagged with a block ahead of the head and wait in the chunk buffer, so requests in
    /// flight and buffered chunks together stay within `buffer_max` (one request at least), and a peer is asked
    /// beyond its free peer within its buffer share: sixteen lanes with a buffer of one chunk, a few blocks
    /// behind, wasted fifteen answers of every round as `BufferFull`, for ever (explore seed 230049073).
    fn issue_per_lane(&mut self) {
        let outstanding = self.chunk_asks();
        let mut in_flight = outstanding.len();
        let window_end = self.chain.head_number().saturating_add(self.config.window_ahead_max);
        let behind =
            self.peers.ordered().filter_map(|peer| self.peers.get(peer)?.head_number).any(|head| head > window_end);
        let room = (self.config.buffer_max.saturating_sub(self.state.size) as usize).max(1);
        let in_flight_max = if behind || self.blocks.catching_up() {
            1
        } else {
            usize::from(self.config.chunk_requests_in_flight).min(room)
        };
        // Full already: the loop below would stop at its first lane (most drive passes with lanes).
        if in_flight >= in_flight_max {
            return;
        }
        let mut order: Vec<usize> = (0..self.state.lanes.len()).collect();
        order.sort_by_key(|&lane| std::cmp::Reverse(self.lane_left(lane)));
        for lane in order {
            if in_flight >= in_flight_max {
                return;
            }
            let generation = self.state.lanes[lane].generation;
            if outstanding.iter().any(|(_, g)| *g == generation) {
                continue;
            }
            let Some(start) = self.lane_request_start(lane) else { continue };
            let busy: Vec<PeerId> = self.chunk_asks().into_iter().map(|(peer, _)| peer).collect();
            let Some(peer) = self.useful_chunk_peer(&busy, lane) else { return };
            self.send_chunk_request(peer, lane, start);
            in_flight += 1;
        }
    }

    /// How much of `lane` is left to ask for, in 1/256ths of the lane, from the first two nibbles of where its
    /// cursor stands (chunks buffered for a block not yet here count as fetched).
    fn lane_left(&self, lane: usize) -> u32 {
        let lanes = self.chain.trie().lanes();
        let start = match &self.state.lanes[lane].cursor {
            Cursor::Complete | Cursor::Paused(_) => return 0,
            Cursor::Continue(k) => Some(k),
            Cursor::Reset => self.chain.trie().lane_start(lane),
        };
        let Some(start) = start else { return 0 };
        let nibbles = start.nibbles();
        let at = |index: usize| u32::from(nibbles.get(index).copied().unwrap_or(0));
        let lane_first = u32::from(lanes.nibbles(lane).start);
        let width = 256 * lanes.nibbles(lane).len() as u32;
        let done = if nibbles.is_empty() { 0 } else { ((at(0) - lane_first) << 4) | at(1) };
        width.saturating_sub(done)
    }

    /// With lanes, a lane's first request (nothing of the lane known yet) asks for half a chunk (§4.12). A lane
    /// whose size is not known yet (1 250 items of sixteen lanes in the efficiency world) then ends in two chunks
    /// of about equal size (500 and 750) rather than a full one and a small tail (1 000 and 250) that costs a whole
    /// round trip of its own; and the first round of every lane clears the links in half the time, so that the
    /// second requests go out sooner. Measured with `sim sweep lanes --seeds 40` (six requests per peer):
    /// sixteen lanes over three peers went from 1.99× to 1.85× the lower bound at p50; eight lanes over three
    /// peers, whose lanes need three chunks either way and whose smaller first round leaves the links idle,
    /// from 2.22× to 2.44× (BENCHMARKS.md, "Lanes").
    fn send_chunk_request(&mut self, peer: PeerId, lane: usize, start: Key) {
        let lanes = self.chain.trie().lanes();
        let limit = match self.state.chunk_limit {
            max if lanes.count() > 1 && lanes.start(lane) == start => (max / 2).max(1),
            max => max,
        };
        let generation = self.state.lanes[lane].generation;
        let end_bound = lanes.end(lane);
        let purpose = Purpose::Chunk { start: start.clone(), limit, generation, head: self.chain.head_number() };
        // With lanes a peer may hold several chunk requests, and its link sends the answers one after another:
        // a deadline for this one alone timed out the last of four chunks queued on a thin link, again and again
        // (explore seed 230019446, a calm world: four lanes on one 200 bytes/ms link, 2.3 times the state fetched).
        let queued = match lanes.count() {
            1 => 0,
            _ => self.chunk_asks().iter().filter(|(held, _)| *held == peer).count() as u64,
        };
        self.send_queued(peer, purpose, Request::Chunk { start_key: start, limit, end_bound }, queued);
    }

    /// Prefer peers out of cooldown whose head is not below ours (H12, H23); anyone free otherwise. Ours (H14):
    /// also skip peers whose chunks were mostly discarded uncommitted (tags naming blocks that never came) or
    /// came tagged with blocks the node had passed; the byzantine sweep measured a 15x slowdown with five such
    /// liars of six peers.
    fn preferred_for_chunks(&self, busy: &[PeerId], peer: PeerId, state: &PeerState) -> bool {
        let now = self.now;
        !busy.contains(&peer)
            && !state.throttled(Kind::Chunk, now)
            && state.stated(now)
            && state.head_number.is_none_or(|head| head >= self.chain.head_number())
            && !crate::peers::PeerSet::mostly_junk(state)
    }

    /// Tiers: responsive and preferred; responsive and out of an `IncompleteState` cooldown; cooling after a
    /// timeout but out of that cooldown, if it ever answered; responsive; preferred; anyone free, round robin
    /// within a tier. A peer that timed out and never answered never goes before one that answers (found by the
    /// simulator: a silent peer without history outranked honest peers whose chunks forks had discarded, for
    /// ever). But one that answered before goes before peers that just answered `IncompleteState`: the one honest
    /// peer, cooling for 30 s after one lost request, waited while five `incomplete_lie` liars were asked again and
    /// again (the byzantine sweep's world, seed 0: 33 s against 2.3 s without the liars).
    fn round_robin_chunk_peer(&mut self, busy: &[PeerId]) -> Option<PeerId> {
        let now = self.now;
        let free = |peer: PeerId, state: &PeerState| !busy.contains(&peer) && !state.throttled(Kind::Chunk, now);
        let responsive = |state: &PeerState| state.responsive(now);
        let preferred = |peer: PeerId, state: &PeerState| self.preferred_for_chunks(busy, peer, state);
        let stated = |state: &PeerState| state.stated(now);
        let usable = self.chunk_usable();
        let mut cursor = self.state.cursor_peers;
        let mut next = |tier: &dyn Fn(PeerId, &PeerState) -> bool| {
            self.peers.next(&mut cursor, |peer, state| usable(state) && tier(peer, state))
        };
        let peer = next(&|peer, state| responsive(state) && preferred(peer, state))
            .or_else(|| next(&|peer, state| responsive(state) && stated(state) && free(peer, state)))
            .or_else(|| next(&|peer, state| state.answered() && stated(state) && free(peer, state)))
            .or_else(|| next(&|peer, state| responsive(state) && free(peer, state)))
            .or_else(|| next(&preferred))
            .or_else(|| next(&free));
        self.state.cursor_peers = cursor;
        peer
    }

    /// A peer whose chunks can be of use now: not one whose last chunk was tagged beyond the window of the head,
    /// which is still there (its next would be tagged there or later, and wasted). While the node catches up from
    /// far behind its only peer, a chunk of the whole state every 1.3 s on a 200 bytes/ms link, each wasted, held
    /// every diff behind it, and the node never caught up (explore seed 360014899).
    fn chunk_usable(&self) -> impl Fn(&PeerState) -> bool {
        let (head, window) = (self.chain.head_number(), self.config.window_ahead_max);
        move |state: &PeerState| !state.ahead_of(head, window)
    }

    /// Lanes: the peer expected to deliver soonest (`PeerSet::quickest`: answer time and load, unproven peers
    /// last), tier by tier as with one lane (responsive and preferred; responsive and stated; cooling, stated and
    /// once answered; responsive and free; preferred; free), then
    /// (one lane per peer no longer possible) any peer not throttled that holds fewer than
    /// `chunk_requests_per_peer_max` chunk requests. A peer that timed
    /// out never goes before one that answers (explore seed 1787: a silent peer drew every request of the last
    /// lane while the one honest peer, not preferred, sat idle). In every tier, a peer whose last request for
    /// this lane timed out goes after the others: five `one_lane` liars of six peers, quick with the lane they
    /// serve and silent with the rest, drew the other lanes again and again (11.5× slower with eight lanes).
    fn useful_chunk_peer(&mut self, busy: &[PeerId], lane: usize) -> Option<PeerId> {
        let now = self.now;
        let head = self.chain.head_number();
        let load = |peer: PeerId| busy.iter().filter(|&&b| b == peer).count();
        let mut cursor = self.state.cursor_peers;
        let free = |peer: PeerId, state: &PeerState| !busy.contains(&peer) && !state.throttled(Kind::Chunk, now);
        // Only the throttle counts here, whose end `poll_timeout` reports: a cooldown that ended unreported
        // changed the choice at a wake the host was never asked to make (explore seed 80001084, lanes 2).
        let per_peer_max = usize::from(self.config.chunk_requests_per_peer_max);
        let buffered = |peer: PeerId| self.state.per_peer.get(&peer).copied().unwrap_or(0) as usize;
        let share = self.config.chunk_buffer_per_peer_max as usize;
        let shared = |peer: PeerId, state: &PeerState| {
            !state.throttled(Kind::Chunk, now) && load(peer) < per_peer_max && load(peer) + buffered(peer) < share
        };
        let responsive = |state: &PeerState| state.responsive(now);
        let preferred = |peer: PeerId, state: &PeerState| self.preferred_for_chunks(busy, peer, state);
        let peers = &self.peers;
        // Out of an `IncompleteState` cooldown before the rest: ranked by speed alone, a liar that answers every
        // chunk request at once with `IncompleteState` drew every request of the last lane while the one honest
        // peer, not preferred, was never asked (explore seed 100006950).
        let stated = |state: &PeerState| state.stated(now);
        type Tier<'t> = Box<dyn Fn(PeerId, &PeerState) -> bool + 't>;
        let tiers: [Tier<'_>; 7] = [
            Box::new(|peer, state| responsive(state) && preferred(peer, state)),
            Box::new(|peer, state| responsive(state) && stated(state) && free(peer, state)),
            // Cooling after a timeout, but it answered before: before the `IncompleteState` liars (as one lane).
            Box::new(|peer, state| state.answered() && stated(state) && free(peer, state)),
            Box::new(|peer, state| responsive(state) && free(peer, state)),
            Box::new(preferred),
            Box::new(free),
            Box::new(shared),
        ];
        // Within each tier: peers that delivered chunks and let no lane's request time out since; then peers whose
        // request for this lane did not time out; then the rest. Tiers come first: as passes over the tiers, a
        // peer demoted for a lane lost it to liars answering `IncompleteState` at once, for ever (the byzantine
        // sweep, `incomplete_lie` 5/6 with eight lanes: 26 runs of 100 never finished).
        let proven = |state: &PeerState| state.chunks_useful > 0 && !state.any_lane_timed_out(now);
        let serves_lane = |state: &PeerState| !state.lane_timed_out(lane, now);
        let passes: [&dyn Fn(&PeerState) -> bool; 3] = [&proven, &serves_lane, &|_| true];
        let usable = self.chunk_usable();
        // The first search, in (tier, pass) order, that accepts any peer decides, and it accepts exactly the peers
        // whose own first (tier, pass) is that one: so each peer's first is found in one scan, and only the
        // lowest is searched (21 searches of the peers, most of them empty, cost a chunk-size-1 world 8 % of
        // its instructions).
        let first = |peer: PeerId, state: &PeerState| {
            let mut searches = tiers.iter().flat_map(|tier| passes.iter().map(move |pass| (tier, pass)));
            usable(state).then(|| searches.position(|(tier, pass)| pass(state) && tier(peer, state))).flatten()
        };
        let lowest = peers.states().filter_map(|(peer, state)| first(peer, state)).min();
        let peer = lowest.and_then(|lowest| {
            peers.quickest(&mut cursor, now, head, load, |peer, state| first(peer, state) == Some(lowest))
        });
        drop(tiers);
        self.state.cursor_peers = cursor;
        peer
    }
}
