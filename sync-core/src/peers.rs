//! The peer set shared by every component (§4.2): ordered by join time, without duplicates, with the
//! per-peer facts the schedulers need. A peer removed here is gone for every component.

use crate::interface::{Millis, PeerId};
use std::collections::BTreeMap;

#[derive(Clone, Debug)]
pub(crate) struct PeerState {
    join: u64,
    /// The highest block number this peer announced, and that block's hash.
    pub(crate) head_number: Option<u32>,
    pub(crate) head_hash: Option<crate::hash::Hash>,
    /// No chunk requests to this peer before this time (it answered `IncompleteState`, H23).
    pub(crate) incomplete_until: Option<Millis>,
    /// Other peers go first until this time: a request to it timed out (`unresponsive_cooldown_ms`, or its own
    /// deadline if it `mostly_answers`).
    pub(crate) unresponsive_until: Option<Millis>,
    /// No request of a kind goes to it before this time: it answered one `RateLimited` (responders count each
    /// kind apart, §3.7).
    throttled_until: [Option<Millis>; 3],
    /// Its chunks that were committed, and those discarded uncommitted (their block never became the head):
    /// a reputation, never a penalty (nothing about a discarded chunk is provable).
    pub(crate) chunks_useful: u32,
    pub(crate) chunks_junk: u32,
    /// Ours (§4.5): the block its last chunk beyond the window was tagged with (`TagAhead`). Its head is there
    /// at least, so every chunk it serves is wasted until the node's head comes within the window of it.
    pub(crate) tagged_ahead: Option<u32>,
    /// Ours (§4.3): its announced head, which it then denied holding on its main chain itself (a fork it left,
    /// whose successor the node has not heard yet). The reserved head fetch does not go after it again until
    /// it announces another head.
    pub(crate) head_withdrawn: Option<crate::hash::Hash>,
    /// Its answers to diff and missing-block requests that served, and that denied holding what its head
    /// claims: a reputation for `quickest`, never a penalty.
    served: u32,
    denied: u32,
    /// Ours (§4.12): diff requests it may hold at once, learned from its `RateLimited` answers: halved by each,
    /// one more per diff it serves, never above `diff_requests_in_flight`. `None` until its first `RateLimited`:
    /// any number within `diff_requests_in_flight`.
    diff_window: Option<u8>,
    pub(crate) violations: u32,
    /// With lanes (§4.12): the lanes whose last chunk request to it timed out, one bit per lane; a chunk answer
    /// for a lane clears its bit.
    lanes_timed_out: u16,
    /// The marks above count until then (`unresponsive_cooldown_ms` after the last timeout): for good, a mark
    /// on a fast peer that once timed out kept a slow one first for the rest of the run (explore seed
    /// 140015639).
    lanes_timed_out_until: Millis,
    /// Round-trip estimate of its answers (smoothed, and mean deviation), and timeouts since its last answer.
    srtt_ms: Option<u64>,
    rttvar_ms: u64,
    /// Its quickest answer: the round trip of its link without the time a large answer spends on it (§4.5).
    rtt_min_ms: Option<u64>,
    timeouts_in_row: u32,
    /// Diff requests of its that a hedge went out for (overdue, §4.4) since its last answer: each doubles the
    /// wait before the next hedge against it (`overdue_estimate_ms`).
    overdue_in_row: u32,
    /// Its answers in time, and its timeouts, since it joined.
    answers: u32,
    timeouts: u32,
}

/// Doublings of a peer's deadline after timeouts in a row; `request_timeout_max_ms` caps it anyway.
const TIMEOUT_BACKOFF_MAX: u32 = 4;

impl PeerState {
    /// This peer's request deadline (Ours): `srtt + 4·rttvar`, at least `base`, doubled per timeout in a row,
    /// at most `max`.
    pub(crate) fn timeout_ms(&self, base: u64, max: u64) -> u64 {
        let estimate = self.answer_estimate_ms().unwrap_or(base).max(base);
        estimate.saturating_mul(1 << self.timeouts_in_row.min(TIMEOUT_BACKOFF_MAX)).min(max)
    }

    /// How long one more answer of this peer is expected to take, without the `base` floor of `timeout_ms`:
    /// `srtt + 4·rttvar`; `None` before its first answer.
    pub(crate) fn answer_estimate_ms(&self) -> Option<u64> {
        self.srtt_ms.map(|srtt| srtt.saturating_add(4 * self.rttvar_ms))
    }

    /// When one of its diff requests is overdue: `answer_estimate_ms`, doubled per hedge in a row against it.
    /// A hedge that wins leaves the late answer unmatched, so the estimate never learned that the peer had
    /// slowed down, and every diff it was asked first was hedged at the old estimate (explore seed 530011370:
    /// four in a row at 70 ms while its answers, delayed on the link, took 200 to 450 ms).
    pub(crate) fn overdue_estimate_ms(&self) -> Option<u64> {
        let doublings = self.overdue_in_row.min(TIMEOUT_BACKOFF_MAX);
        self.answer_estimate_ms().map(|estimate| estimate.saturating_mul(1 << doublings))
    }

    /// A hedge went out for one of its diff requests.
    pub(crate) fn note_overdue(&mut self) {
        self.overdue_in_row = self.overdue_in_row.saturating_add(1);
    }

    /// An answer came `rtt_ms` after its request (RFC 6298 smoothing, integer arithmetic).
    pub(crate) fn note_answer(&mut self, rtt_ms: u64) {
        self.timeouts_in_row = 0;
        self.overdue_in_row = 0;
        self.answers = self.answers.saturating_add(1);
        self.rtt_min_ms = Some(self.rtt_min_ms.map_or(rtt_ms, |least| least.min(rtt_ms)));
        match self.srtt_ms {
            None => {
                self.srtt_ms = Some(rtt_ms);
                self.rttvar_ms = rtt_ms / 2;
            }
            Some(srtt) => {
                self.rttvar_ms = (3 * self.rttvar_ms + srtt.abs_diff(rtt_ms)) / 4;
                self.srtt_ms = Some((7 * srtt + rtt_ms) / 8);
            }
        }
    }

    /// Its last chunk came tagged beyond the window of a node whose head is `head`, and still is: its next one
    /// would be too.
    pub(crate) fn ahead_of(&self, head: u32, window_ahead_max: u32) -> bool {
        self.tagged_ahead.is_some_and(|tag| tag > head.saturating_add(window_ahead_max))
    }

    /// Not cooling down after a timeout.
    pub(crate) fn responsive(&self, now: Millis) -> bool {
        self.unresponsive_until.is_none_or(|until| until <= now)
    }

    /// Out of its `IncompleteState` cooldown.
    pub(crate) fn stated(&self, now: Millis) -> bool {
        self.incomplete_until.is_none_or(|until| until <= now)
    }

    pub(crate) fn throttled(&self, kind: Kind, now: Millis) -> bool {
        self.throttled_until[kind as usize].is_some_and(|until| until > now)
    }

    /// It answered something once: a timeout since is more likely a lost message than a silent peer.
    /// Its quickest answer so far, in ms; `None` before its first.
    pub(crate) fn rtt_min_ms(&self) -> Option<u64> {
        self.rtt_min_ms
    }

    pub(crate) fn answered(&self) -> bool {
        self.srtt_ms.is_some()
    }

    /// It timed out and never answered anything: nothing says it ever will.
    pub(crate) fn unproven(&self) -> bool {
        self.srtt_ms.is_none() && self.timeouts_in_row > 0
    }

    pub(crate) fn note_timeout(&mut self) {
        self.timeouts_in_row = self.timeouts_in_row.saturating_add(1);
        self.timeouts = self.timeouts.saturating_add(1);
    }

    /// Few of its requests time out (at most one in five of those it answered): a timeout is more likely a lost
    /// message than a peer that will not answer.
    pub(crate) fn mostly_answers(&self) -> bool {
        self.answers >= 4 * self.timeouts
    }

    /// Its last chunk request for some lane timed out.
    pub(crate) fn any_lane_timed_out(&self, now: Millis) -> bool {
        self.lanes_timed_out != 0 && now < self.lanes_timed_out_until
    }

    /// Its last chunk request for `lane` timed out.
    pub(crate) fn lane_timed_out(&self, lane: usize, now: Millis) -> bool {
        lane < 16 && self.lanes_timed_out & (1 << lane) != 0 && now < self.lanes_timed_out_until
    }

    /// A chunk request for `lane` timed out (`Some(until)`: the mark counts until then) or was answered with a
    /// chunk (`None`).
    pub(crate) fn note_lane(&mut self, lane: usize, timed_out: Option<Millis>) {
        if lane < 16 {
            let bit = 1u16 << lane;
            match timed_out {
                Some(until) => {
                    self.lanes_timed_out |= bit;
                    self.lanes_timed_out_until = self.lanes_timed_out_until.max(until);
                }
                None => self.lanes_timed_out &= !bit,
            }
        }
    }
}

/// The kinds of request a responder rate-limits apart (§3.7).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    Chunk = 0,
    Diff = 1,
    Blocks = 2,
}

#[derive(Clone, Debug, Default)]
pub(crate) struct PeerSet {
    peers: BTreeMap<PeerId, PeerState>,
    by_join: BTreeMap<u64, PeerId>,
    joins: u64,
}

/// A position in the join order, kept by each component for its own round robin.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct RoundRobin(u64);

impl RoundRobin {
    pub(crate) fn at(position: u64) -> RoundRobin {
        RoundRobin(position)
    }

    /// A starting position drawn from the engine's seed (each component salts it): ties break differently per
    /// engine, and the same per seed.
    pub(crate) fn seeded(seed: u64) -> RoundRobin {
        let mut state = seed;
        RoundRobin::at(split_mix(&mut state) % 16)
    }
}

/// SplitMix64: the engine's only randomness, seeded by the host, for tie-breaking.
fn split_mix(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

impl PeerSet {
    /// Adds a peer; `false` if it is already in the set or the set is full.
    pub(crate) fn join(&mut self, peer: PeerId, peers_max: u32) -> bool {
        if self.peers.contains_key(&peer) || self.peers.len() >= peers_max as usize {
            return false;
        }
        self.joins += 1;
        self.by_join.insert(self.joins, peer);
        let state = PeerState {
            join: self.joins,
            head_number: None,
            head_hash: None,
            incomplete_until: None,
            unresponsive_until: None,
            throttled_until: [None; 3],
            chunks_useful: 0,
            chunks_junk: 0,
            tagged_ahead: None,
            head_withdrawn: None,
            served: 0,
            denied: 0,
            diff_window: None,
            violations: 0,
            lanes_timed_out: 0,
            lanes_timed_out_until: Millis(0),
            srtt_ms: None,
            rttvar_ms: 0,
            rtt_min_ms: None,
            timeouts_in_row: 0,
            overdue_in_row: 0,
            answers: 0,
            timeouts: 0,
        };
        self.peers.insert(peer, state);
        true
    }

    pub(crate) fn leave(&mut self, peer: PeerId) -> bool {
        match self.peers.remove(&peer) {
            Some(state) => {
                self.by_join.remove(&state.join);
                true
            }
            None => false,
        }
    }

    pub(crate) fn contains(&self, peer: PeerId) -> bool {
        self.peers.contains_key(&peer)
    }

    pub(crate) fn len(&self) -> usize {
        self.peers.len()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.peers.is_empty()
    }

    pub(crate) fn get(&self, peer: PeerId) -> Option<&PeerState> {
        self.peers.get(&peer)
    }

    pub(crate) fn get_mut(&mut self, peer: PeerId) -> Option<&mut PeerState> {
        self.peers.get_mut(&peer)
    }

    /// Peers in join order.
    pub(crate) fn ordered(&self) -> impl Iterator<Item = PeerId> + '_ {
        self.by_join.values().copied()
    }

    /// How many peers announced each hash as their head.
    pub(crate) fn heads_announced(&self) -> BTreeMap<crate::hash::Hash, usize> {
        let mut heads = BTreeMap::new();
        for state in self.peers.values() {
            if let Some(hash) = state.head_hash {
                *heads.entry(hash).or_default() += 1;
            }
        }
        heads
    }

    /// Every peer and its state, by id (not join order: for questions whose answer does not depend on order).
    pub(crate) fn states(&self) -> impl Iterator<Item = (PeerId, &PeerState)> + '_ {
        self.peers.iter().map(|(&peer, state)| (peer, state))
    }

    /// The next peer after `cursor` in join order (wrapping) that `accept` takes; moves the cursor to it.
    pub(crate) fn next(&self, cursor: &mut RoundRobin, accept: impl Fn(PeerId, &PeerState) -> bool) -> Option<PeerId> {
        let after = self.by_join.range(cursor.0 + 1..).chain(self.by_join.range(..=cursor.0));
        for (&join, &peer) in after {
            if accept(peer, &self.peers[&peer]) {
                cursor.0 = join;
                return Some(peer);
            }
        }
        None
    }

    /// The peer `accept` takes that should answer soonest (Ours, §4.2), for diff and missing-block requests.
    /// Peers cooling down after a timeout are asked only when all are. Then peers whose announced head is below
    /// `needed` go last (they may not hold the block yet); then peers that denied more than they served (a
    /// quick liar that denied every diff drew every request, seed 2001074); the rest by expected wait: the
    /// smoothed round trip, doubled per timeout in a row, times one plus the requests `load` says it has in
    /// flight. A peer never measured is assumed as quick as the quickest measured one, so that every peer gets
    /// measured and none hoards the work. Ties go round robin from `cursor`, which moves to the peer chosen.
    ///
    /// Found by the simulator (seed 1004526): round robin and "the announcer first" sent every missing-block
    /// request of a catch-up to a slow peer, four blocks a round trip, while a fast honest peer sat idle.
    pub(crate) fn quickest(
        &self,
        cursor: &mut RoundRobin,
        now: Millis,
        needed: u32,
        load: impl Fn(PeerId) -> usize,
        accept: impl Fn(PeerId, &PeerState) -> bool,
    ) -> Option<PeerId> {
        let prior = self.peers.values().filter_map(|state| state.srtt_ms).min().unwrap_or(1).max(1);
        let cooling = |state: &PeerState| !state.responsive(now);
        // A peer cooling down after a timeout is asked only when every peer that could be asked is: one that
        // answers, even if it is busy or tried already, is worth the wait (seed 4008027: a silent peer took every
        // diff slot for seconds while the one honest peer was rate-limited for one); but when the only holders
        // of a block cool down, one of them is asked rather than none. Peers that never answered do not count:
        // they rank after every peer that answers anyway, and counting them kept a cooling peer that answers out
        // until its cooldown ended, a moment `poll_timeout` does not report (explore seed 210023319: the one
        // peer not cooling was silent and the diff waited; at the cooldown's end a wake the host was never asked
        // for sent it).
        let all_cooling = self
            .peers
            .iter()
            .filter(|(&peer, state)| accept(peer, state) && !state.unproven())
            .all(|(_, state)| cooling(state));
        let rank = |peer: PeerId, state: &PeerState| {
            // A peer that timed out and never answered anything is not "as quick as the quickest": ranked by
            // the expected wait, it took every request the busy honest peer could not, and held the pipeline
            // for its whole deadline each time (explore seed 10044350: one honest and one silent peer, the node
            // fell behind for good). It goes after every peer that answers, cooling down or not: ranked only
            // with the cooling ones, it tied with a cooling peer that answers, the round robin chose between
            // them, and a request waited for however many calls it took to come round (explore seed 30005102).
            // But a peer that denies more than it serves ranks after it: two liars that denied what their heads
            // claimed answered at once, outranked the one honest peer (unproven after its first five requests
            // were lost) for good, and their denials gave up every diff before it was asked (explore seed
            // 410011946: 2 400 blocks behind after 850 s).
            let unproven = state.unproven();
            let lacks = state.head_number.is_none_or(|head| head < needed);
            let denies = state.denied > state.served;
            let round_trip = state.srtt_ms.unwrap_or(prior).max(1) << state.timeouts_in_row.min(TIMEOUT_BACKOFF_MAX);
            let wait = round_trip.saturating_mul(1 + load(peer) as u64);
            (denies, unproven, cooling(state), lacks, wait)
        };
        let after = self.by_join.range(cursor.0 + 1..).chain(self.by_join.range(..=cursor.0));
        type Rank = (bool, bool, bool, bool, u64);
        let mut best: Option<(Rank, u64, PeerId)> = None;
        for (&join, &peer) in after {
            let state = &self.peers[&peer];
            if !accept(peer, state) || (cooling(state) && !all_cooling) {
                continue;
            }
            let key = rank(peer, state);
            if best.as_ref().is_none_or(|(best_key, _, _)| key < *best_key) {
                best = Some((key, join, peer));
            }
        }
        let (_, join, peer) = best?;
        cursor.0 = join;
        Some(peer)
    }

    /// `peer` answered a request of `kind` with `RateLimited`: no such request goes to it before `until`.
    pub(crate) fn throttle(&mut self, peer: PeerId, kind: Kind, until: Millis) {
        if let Some(state) = self.peers.get_mut(&peer) {
            state.throttled_until[kind as usize] = Some(until);
        }
    }

    /// Some peer answered a request of `kind` with `RateLimited` and cools down still.
    pub(crate) fn any_throttled(&self, kind: Kind, now: Millis) -> bool {
        self.peers.values().any(|state| state.throttled(kind, now))
    }

    /// When the first throttled peer may be asked again.
    pub(crate) fn next_unthrottled(&self, now: Millis) -> Option<Millis> {
        self.peers.values().flat_map(|state| state.throttled_until).flatten().filter(|&until| until > now).min()
    }

    /// When the next peer that timed out and never answered ends its cooldown, after `now`: it may be probed.
    pub(crate) fn next_probe(&self, now: Millis) -> Option<Millis> {
        let until = |state: &PeerState| state.unresponsive_until.filter(|&until| until > now);
        self.peers.values().filter(|state| state.unproven()).filter_map(until).min()
    }

    /// `peer`, holding `held` diff requests, may take one more: below its window, or without one.
    pub(crate) fn within_diff_window(&self, peer: PeerId, held: usize) -> bool {
        self.diff_window(peer).is_none_or(|window| held < window)
    }

    /// The quickest answer estimate of any measured peer (`PeerState::answer_estimate_ms`).
    pub(crate) fn quickest_estimate_ms(&self) -> Option<u64> {
        self.peers.values().filter_map(PeerState::answer_estimate_ms).min()
    }

    /// `peer` announced a head at `number` or above.
    pub(crate) fn holds_height(&self, peer: PeerId, number: u32) -> bool {
        self.peers.get(&peer).is_some_and(|state| state.head_number.is_some_and(|head| head >= number))
    }

    /// Some peer announced `hash` as its head.
    pub(crate) fn announced_head(&self, hash: &crate::hash::Hash) -> bool {
        self.peers.values().any(|state| state.head_hash.as_ref() == Some(hash))
    }

    /// More of its chunks were discarded (or came tagged with a block the node had passed) than committed: other
    /// peers go first for chunk requests.
    pub(crate) fn mostly_junk(state: &PeerState) -> bool {
        state.chunks_junk > state.chunks_useful
    }

    /// Counts a committed (`useful`) or discarded chunk of `peer`. The counts decay (both halve past 64), so
    /// that forks, which discard honest chunks too, do not mark an honest peer for ever.
    pub(crate) fn note_chunk(&mut self, peer: PeerId, useful: bool) {
        let Some(state) = self.peers.get_mut(&peer) else { return };
        if useful {
            state.chunks_useful = state.chunks_useful.saturating_add(1);
        } else {
            state.chunks_junk = state.chunks_junk.saturating_add(1);
        }
        if state.chunks_useful + state.chunks_junk > 64 {
            state.chunks_useful /= 2;
            state.chunks_junk /= 2;
        }
    }

    /// Counts an answer of `peer`'s that served a diff or blocks, or denied holding them. Decays as
    /// `note_chunk` does.
    /// Diff requests `peer` may hold at once (`None`: no limit of its own).
    pub(crate) fn diff_window(&self, peer: PeerId) -> Option<usize> {
        self.peers.get(&peer).and_then(|state| state.diff_window).map(usize::from)
    }

    /// `peer` answered a diff request with `RateLimited` while it held `held` others: its window halves (at
    /// least one).
    pub(crate) fn note_diff_rate_limited(&mut self, peer: PeerId, held: usize) {
        let Some(state) = self.peers.get_mut(&peer) else { return };
        let window = state.diff_window.unwrap_or(u8::try_from(held + 1).unwrap_or(u8::MAX));
        state.diff_window = Some((window / 2).max(1));
    }

    /// `peer` served a diff: its window, if it has one, grows by one up to `max`.
    pub(crate) fn note_diff_served(&mut self, peer: PeerId, max: u8) {
        let Some(state) = self.peers.get_mut(&peer) else { return };
        state.diff_window = state.diff_window.map(|window| window.saturating_add(1).min(max.max(1)));
    }

    pub(crate) fn note_served(&mut self, peer: PeerId, served: bool) {
        let Some(state) = self.peers.get_mut(&peer) else { return };
        if served {
            state.served = state.served.saturating_add(1);
        } else {
            state.denied = state.denied.saturating_add(1);
        }
        if state.served + state.denied > 64 {
            state.served /= 2;
            state.denied /= 2;
        }
    }

    /// `peer` denied holding `hash` on its main chain: if that is its announced head, the claim is withdrawn.
    pub(crate) fn note_own_head_denied(&mut self, peer: PeerId, hash: crate::hash::Hash) {
        if let Some(state) = self.peers.get_mut(&peer).filter(|state| state.head_hash == Some(hash)) {
            state.head_withdrawn = Some(hash);
        }
    }

    pub(crate) fn note_head(&mut self, peer: PeerId, number: u32, hash: crate::hash::Hash) {
        if let Some(state) = self.peers.get_mut(&peer) {
            if state.head_number.is_none_or(|head| number > head) {
                state.head_number = Some(number);
                state.head_hash = Some(hash);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each hedge against a peer doubles the wait before the next, up to 2^TIMEOUT_BACKOFF_MAX; an answer ends it.
    #[test]
    fn hedges_in_a_row_back_off_until_an_answer() {
        let mut peers = PeerSet::default();
        assert!(peers.join(PeerId(1), 8));
        let state = peers.get_mut(PeerId(1)).unwrap();
        assert_eq!(state.overdue_estimate_ms(), None, "no estimate before an answer");
        state.note_answer(40);
        let estimate = state.answer_estimate_ms().unwrap();
        assert_eq!(state.overdue_estimate_ms(), Some(estimate));
        for doublings in 1..=TIMEOUT_BACKOFF_MAX + 2 {
            state.note_overdue();
            let expected = estimate << doublings.min(TIMEOUT_BACKOFF_MAX);
            assert_eq!(state.overdue_estimate_ms(), Some(expected), "after {doublings} hedges");
        }
        state.note_answer(40);
        assert_eq!(state.overdue_estimate_ms(), state.answer_estimate_ms(), "an answer ends the backoff");
    }

    #[test]
    fn round_robin_follows_join_order_and_wraps() {
        let mut peers = PeerSet::default();
        for id in [5, 3, 9] {
            assert!(peers.join(PeerId(id), 8));
        }
        assert!(!peers.join(PeerId(3), 8), "no duplicates");
        let mut cursor = RoundRobin::default();
        let picks: Vec<u32> = (0..4).map(|_| peers.next(&mut cursor, |_, _| true).unwrap().0).collect();
        assert_eq!(picks, [5, 3, 9, 5]);
        assert_eq!(peers.next(&mut cursor, |peer, _| peer.0 == 9), Some(PeerId(9)));
        peers.leave(PeerId(9));
        assert_eq!(peers.next(&mut cursor, |peer, _| peer.0 == 9), None);
        assert!(peers.join(PeerId(9), 8), "a removed peer may join again");
        assert_eq!(peers.ordered().map(|p| p.0).collect::<Vec<_>>(), [5, 3, 9]);
        assert!(!peers.join(PeerId(1), 3), "the set is full");
    }

    #[test]
    fn the_diff_window_halves_on_rate_limits_and_grows_by_one_per_diff_up_to_the_bound() {
        let mut peers = PeerSet::default();
        assert!(peers.join(PeerId(1), 8));
        peers.note_diff_served(PeerId(1), 16);
        assert_eq!(peers.diff_window(PeerId(1)), None, "no window before the first RateLimited");
        peers.note_diff_rate_limited(PeerId(1), 11);
        assert_eq!(peers.diff_window(PeerId(1)), Some(6), "twelve held with this one: half of them");
        for expected in [3, 1, 1] {
            peers.note_diff_rate_limited(PeerId(1), 5);
            assert_eq!(peers.diff_window(PeerId(1)), Some(expected), "halved, at least one");
        }
        for expected in [2, 3, 4] {
            peers.note_diff_served(PeerId(1), 4);
            assert_eq!(peers.diff_window(PeerId(1)), Some(expected));
        }
        peers.note_diff_served(PeerId(1), 4);
        assert_eq!(peers.diff_window(PeerId(1)), Some(4), "never above diff_requests_in_flight");
        assert_eq!(peers.diff_window(PeerId(7)), None, "an unknown peer has none");
    }

    #[test]
    fn a_peer_that_mostly_answers_is_taken_to_have_lost_a_message() {
        let mut peers = PeerSet::default();
        assert!(peers.join(PeerId(1), 8));
        let state = peers.get_mut(PeerId(1)).unwrap();
        state.note_timeout();
        assert!(!state.mostly_answers(), "a timeout before any answer: a silent peer, for all we know");
        for _ in 0..4 {
            state.note_answer(100);
        }
        assert!(state.mostly_answers(), "one timeout in five requests");
        state.note_timeout();
        assert!(!state.mostly_answers(), "two in six: a peer that leaves some requests unanswered");
        for _ in 0..4 {
            state.note_answer(100);
        }
        assert!(state.mostly_answers(), "two in ten");
    }
}
