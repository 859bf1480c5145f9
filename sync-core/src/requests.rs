//! Outstanding requests, one table for all components (§4.2): who was asked what, and until when.
//! A response counts only if `(peer, request_id)` matches an entry here; everything else is dropped silently.

use crate::hash::Hash;
use crate::interface::{Millis, PeerId};
use crate::key::Key;
use crate::wire::RequestId;
use std::collections::{BTreeMap, BTreeSet};

/// What a request was for: which component gets its answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Purpose {
    /// A chunk request at `start`, of the cursor generation it was issued in (H17), sent while the head was
    /// `head` (a late answer shrinks the chunk limit, §4.5).
    Chunk {
        start: Key,
        limit: u32,
        generation: u64,
        head: u32,
    },
    Diff {
        block: Hash,
    },
    MissingBlocks {
        target: Hash,
        locators: Vec<Hash>,
    },
    /// A catch-up batch from height `first` towards `target`.
    Batch {
        target: Hash,
        first: u32,
    },
}

#[derive(Clone, Debug)]
pub(crate) struct Outstanding {
    pub(crate) peer: PeerId,
    /// When it was sent: its answer's round trip feeds the peer's timeout estimate.
    pub(crate) sent: Millis,
    pub(crate) deadline: Millis,
    pub(crate) purpose: Purpose,
}

#[derive(Clone, Debug, Default)]
pub(crate) struct Requests {
    next_id: RequestId,
    outstanding: BTreeMap<RequestId, Outstanding>,
    deadlines: BTreeSet<(Millis, RequestId)>,
}

impl Requests {
    pub(crate) fn open(&mut self, peer: PeerId, sent: Millis, deadline: Millis, purpose: Purpose) -> RequestId {
        self.next_id += 1;
        let id = self.next_id;
        self.outstanding.insert(id, Outstanding { peer, sent, deadline, purpose });
        self.deadlines.insert((deadline, id));
        id
    }

    /// Takes the request `id` if `peer` is the one it was sent to.
    pub(crate) fn take(&mut self, peer: PeerId, id: RequestId) -> Option<Outstanding> {
        if self.outstanding.get(&id)?.peer != peer {
            return None;
        }
        self.remove(id)
    }

    /// Request `id`, while it is open.
    pub(crate) fn get(&self, id: RequestId) -> Option<&Outstanding> {
        self.outstanding.get(&id)
    }

    pub(crate) fn remove(&mut self, id: RequestId) -> Option<Outstanding> {
        let outstanding = self.outstanding.remove(&id)?;
        self.deadlines.remove(&(outstanding.deadline, id));
        Some(outstanding)
    }

    /// Removes and returns every request whose deadline is at or before `now`.
    pub(crate) fn expire(&mut self, now: Millis) -> Vec<(RequestId, Outstanding)> {
        let due: Vec<RequestId> = self.deadlines.range(..=(now, RequestId::MAX)).map(|&(_, id)| id).collect();
        due.into_iter().filter_map(|id| Some((id, self.remove(id)?))).collect()
    }

    /// Removes every request to `peer` (it left): they fail at once.
    pub(crate) fn drain_peer(&mut self, peer: PeerId) -> Vec<(RequestId, Outstanding)> {
        let ids: Vec<RequestId> = self.outstanding.iter().filter(|(_, o)| o.peer == peer).map(|(&id, _)| id).collect();
        ids.into_iter().filter_map(|id| Some((id, self.remove(id)?))).collect()
    }

    pub(crate) fn earliest_deadline(&self) -> Option<Millis> {
        self.deadlines.first().map(|&(deadline, _)| deadline)
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = (&RequestId, &Outstanding)> {
        self.outstanding.iter()
    }

    pub(crate) fn len(&self) -> usize {
        self.outstanding.len()
    }

    /// Requests in flight per peer.
    pub(crate) fn load(&self) -> BTreeMap<PeerId, usize> {
        self.load_where(|_| true)
    }

    /// Requests in flight per peer, of those `counts` picks.
    pub(crate) fn load_where(&self, counts: impl Fn(&Outstanding) -> bool) -> BTreeMap<PeerId, usize> {
        let mut load = BTreeMap::new();
        for outstanding in self.outstanding.values().filter(|outstanding| counts(outstanding)) {
            *load.entry(outstanding.peer).or_default() += 1;
        }
        load
    }

    /// How many requests in flight `counts` picks.
    pub(crate) fn count_where(&self, counts: impl Fn(&Outstanding) -> bool) -> usize {
        self.outstanding.values().filter(|outstanding| counts(outstanding)).count()
    }

    /// Forgets requests `drop` picks: their answers will be dropped as unknown.
    pub(crate) fn forget(&mut self, drop: impl Fn(&Outstanding) -> bool) {
        let ids: Vec<RequestId> = self.outstanding.iter().filter(|(_, o)| drop(o)).map(|(&id, _)| id).collect();
        for id in ids {
            self.remove(id);
        }
    }

    pub(crate) fn check_invariants(&self) {
        assert_eq!(self.outstanding.len(), self.deadlines.len(), "the deadline index matches the table");
    }
}
