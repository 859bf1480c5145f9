//! The network between the syncing node and the simulated peers (§7.2): per-link latency with jitter,
//! bandwidth (a link sends one message at a time, so chunk size matters), loss, duplication, reordering, replays
//! of old answers, and partitions that cut one or both directions until they heal. Faults apply only while
//! `faults` is on.
//!
//! Every link draws from its own stream, and every message takes the same draws whether or not a fault hits
//! it: traffic on one link, or a fault switched on, never reshuffles another link.

use crate::options::Options;
use crate::prng::{Prng, Stream};
use std::collections::BTreeMap;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Direction {
    ToPeer,
    ToNode,
}

/// One direction of a link.
#[derive(Clone, Debug, Default)]
struct Lane {
    busy_until: u64,
    cut_until: u64,
    last_arrival: u64,
}

#[derive(Clone, Debug)]
struct Link {
    prng: Prng,
    /// This link's own share of latency, drawn once.
    extra_latency_ms: u64,
    to_peer: Lane,
    to_node: Lane,
}

/// What happened to a message sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fate {
    /// It arrives at `at`; a duplicate arrives at `duplicate`; `reordered` when it was held back past the
    /// messages after it; `queued_ms`: how long it waited behind earlier messages on a busy link.
    Arrives { at: u64, duplicate: Option<u64>, reordered: bool, queued_ms: u64 },
    /// Dropped by loss.
    Lost,
    /// Dropped by a partition.
    Cut,
}

impl Fate {
    /// The arrival times (none when dropped), the first copy first.
    pub fn arrivals(self) -> impl Iterator<Item = u64> {
        let (first, second) = match self {
            Fate::Arrives { at, duplicate, .. } => (Some(at), duplicate),
            Fate::Lost | Fate::Cut => (None, None),
        };
        first.into_iter().chain(second)
    }
}

#[derive(Clone, Debug)]
pub struct Network {
    links: BTreeMap<u32, Link>,
    seed: u64,
    pub faults: bool,
    latency_ms: u64,
    jitter_ms: u64,
    loss: f64,
    duplication: f64,
    reorder_chance: f64,
    reorder_ms: u64,
    replay_chance: f64,
    bandwidth_bytes_per_ms: u64,
    /// The node's inbound queue (§4.12): its bandwidth (0: unlimited) and when it is free again. It bounds what
    /// the node downloads from peers that follow the protocol; a liar's messages pass beside it (a flood of
    /// replays would otherwise starve every honest answer, an attack on bandwidth no sync engine can answer
    /// but by fair queuing, which this model leaves out: explore seed 90003516).
    downlink_bytes_per_ms: u64,
    /// The downlink's reserved intervals, start → end, in time order. A message is placed in the first gap at or
    /// after the moment its bytes can come (a single "busy until" let a message queued on a busy link reserve the
    /// downlink seconds ahead and hold back every other peer's answer behind it: explore seed 110034168).
    downlink_busy: BTreeMap<u64, u64>,
    /// How many peers follow the protocol. Peers are numbered from 0 in the order of `world::peer_kinds`, which
    /// puts the liars last: peers `0..followers` pass the downlink, the rest beside it. (It was compared as if
    /// numbered from 1, so the first liar's replays filled the downlink and starved every honest answer: explore
    /// seed 500048668.)
    followers: u32,
    /// Messages lost, duplicated, cut by partitions (for the summary).
    pub lost: u64,
    pub duplicated: u64,
    pub cut: u64,
}

impl Link {
    /// The link to `peer`: its stream, and its own extra latency (up to half the base latency), drawn first.
    fn drawn(seed: u64, peer: u32, latency_ms: u64) -> Link {
        let mut prng = Prng::new(seed, Stream::Link(peer));
        let extra_latency_ms = prng.below(latency_ms / 2 + 1);
        Link { prng, extra_latency_ms, to_peer: Lane::default(), to_node: Lane::default() }
    }
}

impl Network {
    pub fn new(options: &Options) -> Network {
        Network {
            links: BTreeMap::new(),
            seed: options.seed,
            faults: true,
            latency_ms: options.latency_ms,
            jitter_ms: options.jitter_ms,
            loss: options.loss,
            duplication: options.duplication,
            reorder_chance: options.reorder_chance,
            reorder_ms: options.reorder_ms.max(1),
            replay_chance: options.replay_chance,
            bandwidth_bytes_per_ms: options.bandwidth_bytes_per_ms,
            downlink_bytes_per_ms: options.downlink_bytes_per_ms,
            downlink_busy: BTreeMap::new(),
            followers: options.honest_peers.max(1) + options.slow_peers + options.silent_peers,
            lost: 0,
            duplicated: 0,
            cut: 0,
        }
    }

    fn link(&mut self, peer: u32) -> &mut Link {
        let (seed, latency_ms) = (self.seed, self.latency_ms);
        self.links.entry(peer).or_insert_with(|| Link::drawn(seed, peer, latency_ms))
    }

    /// The shortest round trip the node can make with any of `peers`: twice the base latency and the quickest
    /// link's own extra latency. Jitter (never negative) and transmission are left out, so no request is answered
    /// sooner: a floor for the completion lower bound (docs/protocol.md §7.2). A link not used yet is drawn as
    /// its first use would draw it.
    pub fn round_trip_floor_ms(&self, peers: impl IntoIterator<Item = u32>) -> u64 {
        let extra = |peer: u32| match self.links.get(&peer) {
            Some(link) => link.extra_latency_ms,
            None => Link::drawn(self.seed, peer, self.latency_ms).extra_latency_ms,
        };
        2 * (self.latency_ms + peers.into_iter().map(extra).min().unwrap_or(0))
    }

    /// The worst one-way delay of a message of `bytes` on an idle link (for the liveness bound).
    pub fn one_way_max_ms(&self, bytes: u64) -> u64 {
        self.latency_ms + self.latency_ms / 2 + self.jitter_ms + self.transmit_ms(bytes)
    }

    fn transmit_ms(&self, bytes: u64) -> u64 {
        match self.bandwidth_bytes_per_ms {
            0 => 0,
            bandwidth => bytes.div_ceil(bandwidth),
        }
    }

    /// Sends `bytes` over one direction of the link to `peer` at `now`.
    pub fn send(&mut self, now: u64, peer: u32, direction: Direction, bytes: u64) -> Fate {
        let transmit = self.transmit_ms(bytes);
        let (latency, jitter, faults) = (self.latency_ms, self.jitter_ms, self.faults);
        let (loss, reorder_chance, reorder_ms, duplication) =
            (self.loss, self.reorder_chance, self.reorder_ms, self.duplication);
        let downlink = direction == Direction::ToNode && peer < self.followers;
        let downlink_bytes_per_ms = if downlink { self.downlink_bytes_per_ms } else { 0 };
        self.link(peer);
        let Network { links, downlink_busy, cut, lost: lost_count, .. } = self;
        let Some(link) = links.get_mut(&peer) else { unreachable!("made just above") };
        let prng = &mut link.prng;
        let jitter_draw = prng.below(jitter + 1);
        let lost = prng.chance(loss) && faults;
        let reordered = prng.chance(reorder_chance) && faults;
        let reorder_extra = prng.below(reorder_ms + 1);
        let duplicated = prng.chance(duplication) && faults;
        let duplicate_extra = prng.below(2 * latency + 1);
        let extra_latency = link.extra_latency_ms;
        let lane = match direction {
            Direction::ToPeer => &mut link.to_peer,
            Direction::ToNode => &mut link.to_node,
        };
        // The link sends one message at a time: a large chunk delays what follows it.
        let start = now.max(lane.busy_until);
        lane.busy_until = start + transmit;
        if faults && lane.cut_until > now {
            *cut += 1;
            return Fate::Cut;
        }
        if lost {
            *lost_count += 1;
            return Fate::Lost;
        }
        // Every message to the node also passes its downlink, one at a time at its own bandwidth, whichever peer
        // sent it: the later of the two transmissions ends it.
        let mut sent = start + transmit;
        if downlink_bytes_per_ms > 0 {
            let duration = bytes.div_ceil(downlink_bytes_per_ms);
            // Uncontended, its downlink transfer ends with its link transfer.
            let ready = sent.saturating_sub(duration).max(start);
            sent = sent.max(reserve(downlink_busy, now, ready, duration));
        }
        let idle_arrival = now + transmit + latency + extra_latency + jitter_draw;
        let mut arrival = sent + latency + extra_latency + jitter_draw;
        if reordered {
            arrival += reorder_extra; // may overtake nothing but is overtaken: no FIFO floor
        } else {
            arrival = arrival.max(lane.last_arrival);
            lane.last_arrival = arrival;
        }
        if duplicated {
            self.duplicated += 1;
        }
        let duplicate = duplicated.then_some(arrival + duplicate_extra);
        // Behind earlier messages: the wait for the link, and for a message ahead that arrives later (FIFO).
        let queued_ms = if reordered { start - now } else { arrival - idle_arrival };
        Fate::Arrives { at: arrival, duplicate, reordered, queued_ms }
    }

    /// Whether an answer sent over the link to `peer` at `now` is replayed later, and when (a stale duplicate,
    /// up to `horizon_ms` later). Two draws on the link's stream, replay or not.
    pub fn replay(&mut self, now: u64, peer: u32, horizon_ms: u64) -> Option<u64> {
        let (faults, chance) = (self.faults, self.replay_chance);
        let prng = &mut self.link(peer).prng;
        let replayed = prng.chance(chance) && faults;
        let later = now + prng.range(1, horizon_ms.max(1));
        replayed.then_some(later)
    }

    /// Cuts one or both directions of the link to `peer` until `until`.
    pub fn cut(&mut self, peer: u32, both: bool, to_node: bool, until: u64) {
        let link = self.link(peer);
        if both || to_node {
            link.to_node.cut_until = link.to_node.cut_until.max(until);
        }
        if both || !to_node {
            link.to_peer.cut_until = link.to_peer.cut_until.max(until);
        }
    }

    /// Faults stop: no more loss, duplication, reordering, replays; every partition heals.
    pub fn heal(&mut self) {
        self.faults = false;
        for link in self.links.values_mut() {
            link.to_node.cut_until = 0;
            link.to_peer.cut_until = 0;
        }
    }
}

/// Places `duration` ms in the first gap of `busy` at or after `ready` and returns its end; intervals that ended
/// before `now` are forgotten (nothing is ever placed before `now`).
fn reserve(busy: &mut BTreeMap<u64, u64>, now: u64, ready: u64, duration: u64) -> u64 {
    busy.retain(|_, end| *end > now);
    if duration == 0 {
        return ready;
    }
    let mut at = ready;
    for (&start, &end) in busy.iter() {
        if start >= at + duration {
            break;
        }
        at = at.max(end);
    }
    busy.insert(at, at + duration);
    at + duration
}

#[cfg(test)]
mod tests {
    use super::*;

    fn calm() -> Options {
        Options { latency_ms: 10, jitter_ms: 0, bandwidth_bytes_per_ms: 100, ..Options::calm() }
    }

    #[test]
    fn bandwidth_queues_messages_and_partitions_cut() {
        let mut network = Network::new(&calm());
        let first = network.send(0, 1, Direction::ToNode, 1_000).arrivals().next().unwrap();
        let second = network.send(0, 1, Direction::ToNode, 100).arrivals().next().unwrap();
        assert!(first >= 20 && second > first, "10 ms to send 1000 bytes, then the next: {first} {second}");
        network.cut(1, false, true, 500);
        assert_eq!(network.send(100, 1, Direction::ToNode, 10), Fate::Cut, "cut towards the node");
        assert_eq!(network.send(100, 1, Direction::ToPeer, 10).arrivals().count(), 1, "the other way still works");
        network.heal();
        assert_eq!(network.send(200, 1, Direction::ToNode, 10).arrivals().count(), 1, "healed");
    }

    /// The round-trip floor is the quickest link's round trip when nothing else delays a message (no jitter,
    /// no bandwidth limit), drawn the same before and after the links are used; with jitter, no round trip
    /// beats it.
    #[test]
    fn the_round_trip_floor_is_the_quickest_links_round_trip() {
        let round_trip = |network: &mut Network, peer: u32, at: u64| {
            let there = network.send(at, peer, Direction::ToPeer, 10).arrivals().next().unwrap();
            network.send(there, peer, Direction::ToNode, 10).arrivals().next().unwrap() - at
        };
        for seed in 0..20 {
            let options = Options { seed, latency_ms: 40, bandwidth_bytes_per_ms: 0, ..calm() };
            let mut network = Network::new(&options);
            let floor = network.round_trip_floor_ms(0..3);
            let quickest = (0..3).map(|peer| round_trip(&mut network, peer, 0)).min().unwrap();
            assert_eq!(floor, quickest, "seed {seed}");
            assert_eq!(network.round_trip_floor_ms(0..3), floor, "the same once the links exist");
            assert!((80..=120).contains(&floor), "twice 40 ms and at most 20 ms more each way: {floor}");
            let mut jittery = Network::new(&Options { jitter_ms: 30, ..options });
            let jittered = (0..3).map(|peer| round_trip(&mut jittery, peer, 0)).min().unwrap();
            assert!(jittered >= floor, "seed {seed}: {jittered} < {floor}");
        }
    }

    /// Loss on, or traffic on another link, leaves a link's timing as it was: its own stream, fixed draws.
    #[test]
    fn a_fault_or_another_links_traffic_never_reshuffles_a_link() {
        let arrivals = |options: &Options, noise: bool| {
            let mut network = Network::new(options);
            (0..20)
                .map(|at| {
                    if noise {
                        network.send(at * 10, 2, Direction::ToPeer, 50);
                    }
                    network.send(at * 10, 1, Direction::ToPeer, 50)
                })
                .collect::<Vec<Fate>>()
        };
        let jittery = Options { jitter_ms: 30, ..calm() };
        let quiet = arrivals(&jittery, false);
        assert_eq!(quiet, arrivals(&jittery, true), "another link's traffic changes nothing here");
        // Every message reordered: its arrival owes nothing to the messages before it (no FIFO floor).
        let reordering = Options { reorder_chance: 1.0, ..jittery };
        let quiet = arrivals(&reordering, false);
        let lossy = arrivals(&Options { loss: 0.5, ..reordering }, false);
        let kept: Vec<bool> = lossy.iter().map(|fate| *fate != Fate::Lost).collect();
        assert!(kept.contains(&false) && kept.contains(&true), "some lost, some not");
        for ((with_loss, without), kept) in lossy.iter().zip(&quiet).zip(kept) {
            if kept {
                assert_eq!(with_loss, without, "a message that is not lost arrives as it would have");
            }
        }
    }

    /// The node's downlink serves every honest peer's messages one at a time at its own rate: two peers' answers
    /// sent at once arrive one downlink transfer apart; a liar's pass beside it; the peers' direction is free.
    #[test]
    fn the_downlink_is_one_queue_for_every_peer() {
        let options = Options {
            downlink_bytes_per_ms: 10,
            honest_peers: 2,
            byzantine: vec![crate::adversary::ByzantineClass::ReplayAnswers],
            ..calm()
        };
        let mut network = Network::new(&options);
        let at = |fate: Fate| fate.arrivals().next().unwrap();
        let first = at(network.send(0, 0, Direction::ToNode, 1_000));
        let second = at(network.send(0, 1, Direction::ToNode, 1_000));
        let latency = options.latency_ms;
        assert!(first >= 100 + latency, "1 000 bytes at 10 per ms, then the latency: {first}");
        assert!(second >= 200 + latency, "the second peer's answer waits for the first on the downlink: {second}");
        let liar = at(network.send(0, 2, Direction::ToNode, 1_000));
        assert!(liar < first, "a liar's message passes beside the downlink: {liar}");
        let upward = at(network.send(0, 0, Direction::ToPeer, 1_000));
        assert!(upward < first, "the downlink limits only what comes to the node: {upward}");
        let unlimited = at(Network::new(&calm()).send(0, 1, Direction::ToNode, 1_000));
        assert!(unlimited < second, "without a downlink limit the second peer does not wait");
    }

    /// A message that waits behind others on its own busy link reserves the downlink only when its bytes can come,
    /// not at once: another peer's answer sent later but ready sooner goes first (explore seed 110034168: a single
    /// "busy until" held every answer seconds behind one queued chunk, and the node never left block 0).
    #[test]
    fn a_message_queued_on_its_link_does_not_hold_the_downlink() {
        let options = Options { downlink_bytes_per_ms: 1_000, honest_peers: 2, ..calm() };
        let mut network = Network::new(&options);
        let at = |fate: Fate| fate.arrivals().next().unwrap();
        // Ten large messages on peer 0's link (100 bytes per ms): the last starts 900 ms from now; each needs the
        // downlink (1 000 bytes per ms) for 10 ms only, at the end of its link transfer.
        let last = (0..10).map(|_| at(network.send(0, 0, Direction::ToNode, 10_000))).max().unwrap();
        let other = at(network.send(5, 1, Direction::ToNode, 1_000));
        assert!(other < 100, "peer 1's answer does not wait for peer 0's queue: {other}");
        assert!(last >= 1_000, "peer 0's messages take their link's time: {last}");
    }

    /// The network numbers peers as the world does (`world::peer_kinds`, from 0): every peer that follows the
    /// protocol (honest, slow, silent) passes the downlink, and no liar does (explore seed 500048668: the first
    /// liar's replays passed it and starved the honest answers for 460 s).
    #[test]
    fn the_downlink_carries_exactly_the_peers_that_follow_the_protocol() {
        use crate::adversary::ByzantineClass::{AbandonedFork, ReplayAnswers};
        use crate::peer::PeerKind;
        let options = Options {
            downlink_bytes_per_ms: 10,
            honest_peers: 2,
            slow_peers: 1,
            silent_peers: 1,
            byzantine: vec![ReplayAnswers, AbandonedFork],
            ..calm()
        };
        let kinds = crate::world::peer_kinds(&options);
        assert_eq!(kinds.len(), 6);
        for (peer, kind) in (0..).zip(&kinds) {
            let limited = Network::new(&options).send(0, peer, Direction::ToNode, 1_000).arrivals().next().unwrap();
            let free = Network::new(&calm()).send(0, peer, Direction::ToNode, 1_000).arrivals().next().unwrap();
            let liar = matches!(kind, PeerKind::Byzantine(_));
            assert_eq!(limited == free, liar, "peer {peer} ({kind:?}): {limited} ms, {free} ms without a downlink");
        }
    }
}
