//! The discrete-event agenda: a min-heap on `(at_ms, seq)`. `seq` is the insertion order, so equal times keep a
//! total, replayable order (STYLE §6).

use std::cmp::{Ordering, Reverse};
use std::collections::BinaryHeap;

#[derive(Debug)]
struct Scheduled<T> {
    at: u64,
    seq: u64,
    what: T,
}

impl<T> PartialEq for Scheduled<T> {
    fn eq(&self, other: &Self) -> bool {
        (self.at, self.seq) == (other.at, other.seq)
    }
}
impl<T> Eq for Scheduled<T> {}
impl<T> PartialOrd for Scheduled<T> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl<T> Ord for Scheduled<T> {
    fn cmp(&self, other: &Self) -> Ordering {
        (self.at, self.seq).cmp(&(other.at, other.seq))
    }
}

#[derive(Debug)]
pub struct Agenda<T> {
    heap: BinaryHeap<Reverse<Scheduled<T>>>,
    seq: u64,
}

impl<T> Default for Agenda<T> {
    fn default() -> Self {
        Agenda { heap: BinaryHeap::new(), seq: 0 }
    }
}

impl<T> Agenda<T> {
    pub fn schedule(&mut self, at: u64, what: T) {
        self.seq += 1;
        self.heap.push(Reverse(Scheduled { at, seq: self.seq, what }));
    }

    pub fn pop(&mut self) -> Option<(u64, T)> {
        self.heap.pop().map(|Reverse(scheduled)| (scheduled.at, scheduled.what))
    }

    pub fn len(&self) -> usize {
        self.heap.len()
    }

    pub fn is_empty(&self) -> bool {
        self.heap.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn earliest_first_and_ties_in_insertion_order() {
        let mut agenda = Agenda::default();
        agenda.schedule(5, "b");
        agenda.schedule(1, "a");
        agenda.schedule(5, "c");
        let order: Vec<_> = std::iter::from_fn(|| agenda.pop()).collect();
        assert_eq!(order, [(1, "a"), (5, "b"), (5, "c")]);
    }
}
