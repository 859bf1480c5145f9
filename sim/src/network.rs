//! The network between syncing nodes and simulated peers (SPEC §7.2): per-link latency with jitter, bandwidth
//! (a link sends one message at a time, so chunk size matters), loss, duplication, reordering, and partitions
//! that cut one or both directions until they heal. Faults apply only while `faults` is on.

use crate::options::Options;
use crate::prng::{Prng, Stream};
use std::collections::BTreeMap;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Direction {
    ToPeer,
    ToNode,
}

#[derive(Clone, Debug, Default)]
struct Lane {
    busy_until: u64,
    cut_until: u64,
    last_arrival: u64,
}

#[derive(Clone, Debug)]
struct Link {
    /// This link's own share of latency, drawn once.
    extra_latency_ms: u64,
    to_peer: Lane,
    to_node: Lane,
}

#[derive(Clone, Debug)]
pub struct Network {
    links: BTreeMap<(u32, u32), Link>,
    prng: Prng,
    pub faults: bool,
    latency_ms: u64,
    jitter_ms: u64,
    loss: f64,
    duplication: f64,
    reorder_chance: f64,
    reorder_ms: u64,
    bandwidth_bytes_per_ms: u64,
    /// Messages lost, duplicated, cut by partitions (for the summary).
    pub lost: u64,
    pub duplicated: u64,
    pub cut: u64,
}

impl Network {
    pub fn new(options: &Options) -> Network {
        Network {
            links: BTreeMap::new(),
            prng: Prng::new(options.seed, Stream::Network),
            faults: true,
            latency_ms: options.latency_ms,
            jitter_ms: options.jitter_ms,
            loss: options.loss,
            duplication: options.duplication,
            reorder_chance: options.reorder_chance,
            reorder_ms: options.reorder_ms.max(1),
            bandwidth_bytes_per_ms: options.bandwidth_bytes_per_ms,
            lost: 0,
            duplicated: 0,
            cut: 0,
        }
    }

    fn link(&mut self, node: u32, peer: u32) -> &mut Link {
        let extra = self.latency_ms / 2;
        let prng = &mut self.prng;
        self.links.entry((node, peer)).or_insert_with(|| Link {
            extra_latency_ms: prng.below(extra + 1),
            to_peer: Lane::default(),
            to_node: Lane::default(),
        })
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

    /// Sends `bytes` over one direction of a link at `now`: the arrival times of the copies that arrive (none if
    /// lost or cut, two if duplicated).
    pub fn send(&mut self, now: u64, node: u32, peer: u32, direction: Direction, bytes: u64) -> Vec<u64> {
        let transmit = self.transmit_ms(bytes);
        let (latency, jitter, faults) = (self.latency_ms, self.jitter_ms, self.faults);
        let jitter_draw = self.prng.below(jitter + 1);
        let lost = faults && self.prng.chance(self.loss);
        let reordered = faults && self.prng.chance(self.reorder_chance);
        let reorder_extra = self.prng.below(self.reorder_ms + 1);
        let duplicated = faults && self.prng.chance(self.duplication);
        let duplicate_extra = self.prng.below(2 * latency + 1);
        let link = self.link(node, peer);
        let extra_latency = link.extra_latency_ms;
        let lane = match direction {
            Direction::ToPeer => &mut link.to_peer,
            Direction::ToNode => &mut link.to_node,
        };
        // The link sends one message at a time: a large chunk delays what follows it.
        let start = now.max(lane.busy_until);
        lane.busy_until = start + transmit;
        if faults && lane.cut_until > now {
            self.cut += 1;
            return Vec::new();
        }
        if lost {
            self.lost += 1;
            return Vec::new();
        }
        let mut arrival = start + transmit + latency + extra_latency + jitter_draw;
        if reordered {
            arrival += reorder_extra; // may overtake nothing but is overtaken: no FIFO floor
        } else {
            arrival = arrival.max(lane.last_arrival);
            lane.last_arrival = arrival;
        }
        let mut arrivals = vec![arrival];
        if duplicated {
            self.duplicated += 1;
            arrivals.push(arrival + duplicate_extra);
        }
        arrivals
    }

    /// Cuts one or both directions of a link until `until`.
    pub fn cut(&mut self, node: u32, peer: u32, both: bool, to_node: bool, until: u64) {
        let link = self.link(node, peer);
        if both || to_node {
            link.to_node.cut_until = link.to_node.cut_until.max(until);
        }
        if both || !to_node {
            link.to_peer.cut_until = link.to_peer.cut_until.max(until);
        }
    }

    /// Faults stop: no more loss, duplication, reordering; every partition heals.
    pub fn heal(&mut self) {
        self.faults = false;
        for link in self.links.values_mut() {
            link.to_node.cut_until = 0;
            link.to_peer.cut_until = 0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bandwidth_queues_messages_and_partitions_cut() {
        let options = Options {
            latency_ms: 10,
            jitter_ms: 0,
            loss: 0.0,
            duplication: 0.0,
            reorder_chance: 0.0,
            bandwidth_bytes_per_ms: 100,
            ..Options::default()
        };
        let mut network = Network::new(&options);
        let first = network.send(0, 0, 1, Direction::ToNode, 1_000)[0];
        let second = network.send(0, 0, 1, Direction::ToNode, 100)[0];
        assert!(first >= 20 && second > first, "10 ms to send 1000 bytes, then the next: {first} {second}");
        network.cut(0, 1, false, true, 500);
        assert!(network.send(100, 0, 1, Direction::ToNode, 10).is_empty(), "cut towards the node");
        assert_eq!(network.send(100, 0, 1, Direction::ToPeer, 10).len(), 1, "the other direction still works");
        network.heal();
        assert_eq!(network.send(200, 0, 1, Direction::ToNode, 10).len(), 1, "healed");
    }
}
