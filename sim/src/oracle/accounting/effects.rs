//! The effects side of the ledger: each event of the node's is matched against the causes the world recorded.

use super::{unexplained, Accounting, Ask, Asked, Cause, Origin};
use crate::oracle::{Breach, Verdict};
use crate::producer::ChainStore;
use sync_core::{ChunkWaste, Event, PeerId, ResetReason, SyncEngine};

impl Accounting {
    // ---- what the node shows ------------------------------------------------------------------------------

    /// Attributes one event of the node's; an effect nothing explains is the run's failure.
    pub fn event(&mut self, now: u64, event: &Event, engine: &SyncEngine, store: &ChainStore) -> Verdict {
        if let Event::PeerBehind { peer } | Event::PeerAhead { peer } | Event::PeerEvicted { peer } = event {
            // Removed from the peer set: the engine failed what it had asked of it.
            if !engine.peers().contains(peer) && peer.0 >= 1 {
                self.away(peer.0 - 1, now);
                self.forget_peer(peer.0 - 1);
            }
        }
        let verdict = match event {
            Event::ChunkWasted { peer, request_id, number, waste } => {
                self.chunk_wasted(now, *peer, *request_id, *number, *waste, engine, store)
            }
            Event::RequestTimedOut { request_id, .. } => self.timed_out(now, *request_id),
            Event::ChunkChainReset { reason, .. } => self.reset(now, *reason),
            Event::PeerPenalized { peer, violation } => self.penalty(*peer, *violation),
            Event::PeerBehind { peer } => self.behind(*peer),
            Event::DiffUnavailable { hash } => self.given_up(now, *hash),
            Event::ForkForgotten { hash, orphaned, .. } => {
                self.forgotten.insert(*hash, now);
                for hash in orphaned {
                    self.forgotten.insert(*hash, now);
                    self.count("pipeline block orphaned", Cause::Bound);
                }
                Ok(())
            }
            Event::Rebranched { .. } => {
                self.rebranches.push(now);
                self.input_causes.push(Cause::Rebranch);
                Ok(())
            }
            Event::StateComplete { .. } | Event::LaneComplete { .. } => {
                self.completions.push(now);
                Ok(())
            }
            _ => Ok(()),
        };
        verdict.map_err(|breach| Breach { what: format!("{} ({})", breach.what, in_flight(engine)), ..breach })
    }

    /// The lie that answered `request_id`, if any.
    fn lie_of(&self, request_id: u64) -> Option<Cause> {
        self.asks.get(&request_id).and_then(|ask| ask.lie).map(Cause::Lie)
    }

    /// An extra copy, or a liar's own message.
    fn extra_copy(&self) -> Option<Cause> {
        match self.origin {
            Origin::Answer { extra: true, .. } => Some(Cause::Copy),
            Origin::Turn(class) => Some(Cause::Lie(class)),
            _ => None,
        }
    }

    /// A chunk the node will never commit.
    #[allow(clippy::too_many_arguments)]
    fn chunk_wasted(
        &mut self,
        now: u64,
        peer: PeerId,
        request_id: u64,
        number: u32,
        waste: ChunkWaste,
        engine: &SyncEngine,
        store: &ChainStore,
    ) -> Verdict {
        self.last_waste = Some((peer, request_id));
        let ask = self.asks.get(&request_id).cloned();
        let sent_at = ask.as_ref().map_or(now, |ask| ask.sent_at);
        let since = |times: &[u64]| times.iter().any(|&t| t >= sent_at);
        let tag = ask.as_ref().and_then(|ask| ask.chunk.clone());
        let off_chain = tag.as_ref().is_some_and(|(_, hash, _)| !store.is_canonical(hash));
        let cause = match waste {
            // A liar's invented chunk whose random id hit a request still open to it (of any kind) is the answer
            // the node sees, and a lie (explore seed 260041755: an `unsolicited` chunk carrying the id of an open
            // missing-blocks request).
            ChunkWaste::Unmatched => {
                self.extra_copy().or_else(|| self.lie_of(request_id)).or_else(|| self.forgotten(request_id, now))
            }
            ChunkWaste::Outdated => Some(Cause::Reset)
                .filter(|_| since(&self.resets))
                .or_else(|| Some(Cause::Completion).filter(|_| since(&self.completions))),
            ChunkWaste::Rejected => self.lie_of(request_id),
            // Cut at an old head: a liar's, or an honest peer's answer that came long after the chain moved on.
            ChunkWaste::TagBehind => self.lie_of(request_id).or(Some(Cause::Lag)),
            ChunkWaste::TagAhead => self.lie_of(request_id).or(Some(Cause::Behind)),
            ChunkWaste::TagPassed | ChunkWaste::Pruned | ChunkWaste::HeadMoved | ChunkWaste::NotAdopted => {
                self.lie_of(request_id).or(Some(if off_chain { Cause::Fork } else { Cause::Lag }))
            }
            ChunkWaste::BufferFull => Some(Cause::Bound),
            // Another copy of the same start (a hedge, or a re-ask past an unvouched tag) was committed first.
            ChunkWaste::Replaced | ChunkWaste::Stale => self
                .lie_of(request_id)
                .or(Some(Cause::Reset).filter(|_| since(&self.resets)))
                .or(Some(if self.hedging { Cause::Hedged } else { Cause::Unvouched })),
            ChunkWaste::Gap => self.gap(request_id, number, sent_at, store),
            ChunkWaste::AfterReset => self.input_causes.first().copied(),
            ChunkWaste::BlockInvalid => self.lie_of(request_id).or(Some(Cause::Fork)),
            // Its block did not come in time: an invented or forked tag, or the node did not get that far (it is
            // behind: the calm-phase catch-up rate judges how fast it catches up). The engine expires only chunks
            // above its head (lower ones are pruned); the head may pass them later in the same input (explore seed
            // 100023421: the blocks the chunk waited for came in the input that expired it).
            ChunkWaste::Expired => {
                self.lie_of(request_id).or(Some(Cause::Fork).filter(|_| off_chain)).or(Some(Cause::Behind))
            }
            ChunkWaste::Completed => Some(Cause::Completion),
        };
        match cause {
            Some(cause) => {
                if let Some(ask) = self.asks.get_mut(&request_id) {
                    ask.failure.get_or_insert(cause);
                }
                self.count(&format!("chunk {waste:?}"), cause);
                Ok(())
            }
            None => unexplained(format!(
                "chunk of r{request_id} from {peer} tagged #{number} wasted ({waste:?}) at head #{}",
                engine.head().number()
            )),
        }
    }

    /// An answer the engine no longer waited for: it had timed out, a reset or completion dropped it, or
    /// another copy of the request (a hedge, or a repeat at the same start) was answered first.
    fn forgotten(&self, request_id: u64, now: u64) -> Option<Cause> {
        let ask = self.asks.get(&request_id)?;
        let since = |times: &[u64]| times.iter().any(|&t| t >= ask.sent_at && t <= now);
        if ask.timed_out {
            return Some(self.failure_cause(request_id));
        }
        // Its peer left while the answer was on its way, and the node forgot the request (explore seed 1359: an
        // answer queued behind lane chunks on the node's downlink arrived after its peer left and came back).
        if matches!(ask.failure, Some(Cause::Away)) {
            return Some(Cause::Away);
        }
        if since(&self.resets) {
            return Some(Cause::Reset);
        }
        if since(&self.completions) {
            return Some(Cause::Completion);
        }
        let siblings = self.by_asked.get(&ask.asked).map_or(0, Vec::len);
        let copy = if self.hedging { Cause::Hedged } else { Cause::Unvouched };
        (siblings > 1).then_some(copy).or(self.unheard_answer(request_id))
    }

    /// The answer arrived although the request was unheard: the request was duplicated on its way.
    fn unheard_answer(&self, request_id: u64) -> Option<Cause> {
        self.asks.get(&request_id).and_then(|ask| ask.unheard).map(|_| Cause::Copy)
    }

    /// A chunk committed beyond `s`: s moved back (a rebranch) or the chain was reset since it was asked; or
    /// the chunk before it in its chain (the one whose end is its start) was wasted, and its cause holds, or
    /// it was a lie, or it waits for a block that is not canonical (a fork's, an invented one) or later than
    /// this one's `number` (its responder's head was ahead); the reference moves the cursor on such tags
    /// (`chunk_tags_vouched = false`). Or this chunk was a lie.
    fn gap(&self, request_id: u64, number: u32, sent_at: u64, store: &ChainStore) -> Option<Cause> {
        let since = |times: &[u64]| times.iter().any(|&t| t >= sent_at);
        let start = match self.asks.get(&request_id).map(|ask| &ask.asked) {
            Some(Asked::Chunk { start }) => Some(start),
            _ => None,
        };
        let predecessors = || {
            self.asks
                .values()
                .filter_map(|ask| ask.chunk.as_ref().map(|chunk| (ask, chunk)))
                .filter(|(_, (_, _, end))| end.as_ref() == start)
        };
        let predecessor_failure = predecessors().find_map(|(ask, _)| ask.failure.or(ask.lie.map(Cause::Lie)));
        let predecessor_fork = predecessors().any(|(_, (_, hash, _))| !store.is_canonical(hash)).then_some(Cause::Fork);
        let predecessor_ahead = predecessors().any(|(_, (tag, _, _))| *tag > number).then_some(Cause::Lag);
        self.lie_of(request_id)
            .or(Some(Cause::Rebranch).filter(|_| since(&self.rebranches)))
            .or(Some(Cause::Reset).filter(|_| since(&self.resets)))
            .or(predecessor_failure)
            .or(predecessor_fork)
            .or(predecessor_ahead)
    }

    /// A request with no answer in time.
    fn timed_out(&mut self, now: u64, request_id: u64) -> Verdict {
        let Some(ask) = self.asks.get_mut(&request_id) else {
            return unexplained(format!("r{request_id} timed out, but the node never sent it"));
        };
        ask.timed_out = true;
        let ask = ask.clone();
        match self.overdue_cause(now, &ask, true) {
            Some(cause) => {
                if let Some(ask) = self.asks.get_mut(&request_id) {
                    ask.failure.get_or_insert(cause);
                }
                self.count("timeout", cause);
                Ok(())
            }
            None => unexplained(format!(
                "r{request_id} to peer {} timed out at {now} ms; its answer {}",
                ask.peer + 1,
                ask.arrives_at.map_or("never came".to_string(), |at| format!("arrives at {at} ms"))
            )),
        }
    }

    /// Why `ask` has no answer at `now`, if its answer is indeed not there (it arrives later or never): what the
    /// world did to it, or a late answer. `unanswered_is_away`: at a deadline, a peer that has not even answered
    /// was away; when the node asks again sooner (a diff hedge, §4.4), the request may still be on its way.
    pub(super) fn overdue_cause(&mut self, now: u64, ask: &Ask, unanswered_is_away: bool) -> Option<Cause> {
        let peer = ask.peer as usize;
        let late = ask.arrives_at.is_none_or(|at| at >= now);
        // A lie larger than the honest answer is slower on a thin link (explore seed 360018927: a `max_chunks`
        // liar's chunks of 1 000 items took 3 s on a 200 bytes/ms link, against 2.7 s deadlines).
        let inflated = ask.lie.filter(|class| class.inflates()).map(Cause::Lie);
        let cause = ask
            .unheard
            .or(ask.answer_fate)
            // The request itself held back (explore seed 750032553: four requests in a row to one peer, each
            // reordered, each answer late; the deadline was the node's own three times and "late in a row" the
            // fourth).
            .or(ask.reordered.then_some(Cause::Reorder))
            .or(inflated)
            .or_else(|| self.slow[peer].then_some(Cause::Slow))
            .or_else(|| (unanswered_is_away && ask.answered_at.is_none()).then_some(Cause::Away))
            .or_else(|| (late && self.answers_delivered[peer] < 3).then_some(Cause::Slow))
            .or_else(|| (self.away_until[peer] + 1_000 >= ask.sent_at).then_some(Cause::Away))
            // Behind other messages on a busy link (a large chunk ahead of it): the deadline follows round trips,
            // not what else is on the link.
            .or_else(|| ask.queued.then_some(Cause::Latency))
            .or_else(|| {
                // A late answer on a link the node knows: now and then, variance; three times in a row, a deadline
                // that does not follow the link (the node's).
                self.late_in_row[peer] += 1;
                (self.late_in_row[peer] <= 3).then_some(Cause::Latency)
            });
        cause.filter(|_| late)
    }

    /// A reset must follow from a cause in the same input: the waste that triggered it, or the rebranch.
    fn reset(&mut self, now: u64, reason: ResetReason) -> Verdict {
        self.resets.push(now);
        let cause = match reason {
            ResetReason::Rebranch => Some(Cause::Rebranch).filter(|_| self.input_causes.contains(&Cause::Rebranch)),
            ResetReason::ChunkRejected | ResetReason::Gap | ResetReason::ChunkDiscarded => {
                self.input_causes.first().copied()
            }
            ResetReason::PausedPassed => Some(Cause::Fork),
        };
        match cause {
            Some(cause) => {
                self.count(&format!("reset {reason:?}"), cause);
                self.note_reset(now, cause);
                Ok(())
            }
            None => unexplained(format!("a chunk-chain reset ({reason:?}) at {now} ms with no cause in its input")),
        }
    }

    /// A penalty: the peer told a lie that proves this violation.
    fn penalty(&mut self, peer: PeerId, violation: sync_core::Violation) -> Verdict {
        let lie = match self.origin {
            Origin::Answer { request_id, .. } => self.asks.get(&request_id).and_then(|ask| ask.lie),
            Origin::Turn(class) => Some(class),
            Origin::Gossip | Origin::Host => None,
        };
        // A chunk rejected at commit: the engine reports its waste just before the penalty.
        let chunk_lie = self
            .last_waste
            .filter(|(wasted_by, _)| *wasted_by == peer)
            .and_then(|(_, request_id)| self.asks.get(&request_id))
            .and_then(|ask| ask.lie);
        // Either may prove it: the input's own lie, or the lie of the chunk rejected at commit (explore seed
        // 60012416: a diff answer from a withholding liar let a block in, and a wrong-proof liar's chunk buffered
        // for it 8 s earlier failed its commit; the input's lie alone proved nothing).
        match [lie, chunk_lie].into_iter().flatten().find(|class| class.proves(violation)) {
            Some(class) => {
                self.count("penalty", Cause::Lie(class));
                Ok(())
            }
            None => unexplained(format!(
                "{peer} penalised for {violation:?} without a lie that proves it (its input: {:?}, lie {lie:?})",
                self.origin
            )),
        }
    }

    /// A block given up for want of its diff (H10): every round of diff requests failed. Why the last one failed
    /// is the cause; without any request, no peer was there to ask. Its descendants go with it, so their
    /// diffs may be asked again: `Reset` explains those repeats.
    fn given_up(&mut self, now: u64, hash: sync_core::Hash) -> Verdict {
        self.given_up.push(now);
        let last = self.by_asked.get(&Asked::Diff { block: hash }).and_then(|ids| ids.last()).copied();
        let cause = match last {
            Some(id) => {
                let ask = &self.asks[&id];
                ask.failure.or(ask.unhelpful).unwrap_or_else(|| self.failure_cause(id))
            }
            None => Cause::Away,
        };
        self.count("diff given up", cause);
        Ok(())
    }

    /// Behind: only a liar answers `IncompleteState` or replays old blocks; a chunk tagged far behind is a lie,
    /// or an honest answer that came long after the chain moved on (its waste, in the same input, says which).
    /// An honest peer's announcement far behind the node's head, from a peer that never announced anything
    /// nearer (the engine ignores reordered old news), comes from a peer that lags: its link is slow, or it
    /// joined late.
    fn behind(&mut self, peer: PeerId) -> Verdict {
        let lie = match self.origin {
            Origin::Answer { request_id, .. } => self.lie_of(request_id),
            Origin::Turn(class) => Some(Cause::Lie(class)),
            Origin::Gossip => Some(Cause::Lag),
            Origin::Host => None,
        };
        match lie.or(self.input_causes.first().copied()) {
            Some(cause) => {
                self.count("cooldown", cause);
                Ok(())
            }
            None => unexplained(format!("{peer} was called Behind without a lie")),
        }
    }
}

/// What the node had in flight, for a failure's message.
fn in_flight(engine: &SyncEngine) -> String {
    format!(
        "cursor {:?}, head #{}, requests in flight {}, chunk buffer {}",
        engine.cursor(),
        engine.head().number(),
        engine.requests_in_flight(),
        engine.chunk_buffer_size()
    )
}
