//! The accounting oracle (docs/protocol.md §7.7): every piece of work the node wastes must have a cause the world
//! produced, or the run fails as `waste`.
//!
//! Causes are recorded where the world creates them: the world tells the ledger every request the node sent and
//! what the network did with it, what the peer answered (and whether it lied), what the network did with the
//! answer, and which copies of a message are extra (duplicated, replayed, unsolicited). Effects are matched where
//! the node shows them, in its events: a chunk wasted (with the engine's reason), a request that timed out, a
//! chunk-chain reset, a penalty, a cooldown; and in its requests: the same chunk start, diff or missing block asked
//! again. Each effect has a short list of causes that can explain it; the first that holds is counted under its
//! name, and an effect none explains is the run's failure.

mod effects;

use super::{Breach, Verdict};
use crate::adversary::ByzantineClass;
use crate::network::Fate;
use crate::outcome::FailureClass;
use std::collections::BTreeMap;
use sync_core::wire::{Request, Response};
use sync_core::{Hash, Key};

/// What the world produced that can explain waste.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Cause {
    /// A liar's lie.
    Lie(ByzantineClass),
    /// The chain rebranched: blocks and the chunks committed at them were reverted.
    Rebranch,
    /// A block that is not (or no longer) on the canonical chain: an abandoned or private fork.
    Fork,
    /// The chain moved on while a request was in flight, or the answering peer's head was behind the node's.
    Lag,
    /// The network lost the message, or a partition cut it.
    Loss,
    /// The peer was away (churn, everyone gone) or dropped and reconnecting.
    Away,
    /// A silent or slow peer, or a link slower than the node's deadline before it learned the link.
    Slow,
    /// The network delayed the message beyond the others (reordering).
    Reorder,
    /// The round trip varied beyond the node's estimate of it (jitter, a busy link), now and then.
    Latency,
    /// An extra copy of an answer: duplicated or replayed by the network.
    Copy,
    /// Asked of several peers at once on purpose: the configured hedging (`chunk_requests_in_flight` > 1). Not a
    /// fault of the world: reported apart, as the price of the configuration.
    Hedged,
    /// A chunk waits for a block no announcement has named yet (the announcement lags the chunk), so its start is
    /// asked of the next peer (§4.5, step 10).
    Unvouched,
    /// The download completed while it was in flight or buffered.
    Completion,
    /// A buffer at its bound.
    Bound,
    /// The node more than the window behind a peer (catch-up).
    Behind,
    /// A chunk-chain reset, or a block given up for want of its diff (its descendants and their diffs go too),
    /// which has its own cause.
    Reset,
}

impl Cause {
    fn name(self) -> String {
        match self {
            Cause::Lie(class) => format!("lie {}", class.name()),
            other => format!("{other:?}").to_lowercase(),
        }
    }
}

/// Where a message the node takes comes from: an answer (its first copy or an extra one), gossip, or a liar's
/// turn; `Host` for host events and timers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Origin {
    Answer { request_id: u64, extra: bool },
    Gossip,
    Turn(ByzantineClass),
    Host,
}

impl Origin {
    /// The same message's extra copy (the network duplicated it).
    pub fn copy(self) -> Origin {
        match self {
            Origin::Answer { request_id, .. } => Origin::Answer { request_id, extra: true },
            other => other,
        }
    }
}

/// What the node asked. Missing blocks are keyed by target and locators: a follow-up past a macro block names
/// the macro block among its locators, and asks for the next batch, not again. (Blocks delivered twice are
/// caught block by block, whatever the requests looked like.)
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Asked {
    Chunk { start: Key },
    Diff { block: Hash },
    Blocks { target: Hash, locators: Vec<Hash> },
    Batch { target: Hash, first: u32 },
}

impl Asked {
    fn describe(&self) -> String {
        match self {
            Asked::Chunk { start } => format!("chunk at {start:?}"),
            Asked::Diff { block } => format!("diff of {block:?}"),
            Asked::Blocks { target, locators } => {
                format!("blocks towards {target:?}, {} locators from {:?}", locators.len(), locators.first())
            }
            Asked::Batch { target, first } => format!("the batch from #{first} towards {target:?}"),
        }
    }
}

/// One request of the node, as the world saw it go and come back.
#[derive(Clone, Debug)]
struct Ask {
    peer: u32,
    asked: Asked,
    sent_at: u64,
    /// The request was lost or cut, or reached a peer that was away.
    unheard: Option<Cause>,
    /// The request was reordered on its way (held back up to `reorder_ms`): its answer comes that much later.
    reordered: bool,
    /// The peer's answer: when it was sent, the lie it told, whether it was a chunk (its tag and end).
    answered_at: Option<u64>,
    lie: Option<ByzantineClass>,
    chunk: Option<(u32, Hash, Option<Key>)>,
    /// The answer's first copy was lost or cut, or reordered.
    answer_fate: Option<Cause>,
    /// When the answer's first copy reaches the node, and whether it has.
    arrives_at: Option<u64>,
    /// The request or its answer waited behind earlier messages on a busy link.
    queued: bool,
    /// The blocks its answer delivered, if it was a list of blocks.
    blocks: Vec<Hash>,
    delivered: bool,
    /// Why the answer is of no use, if it is not (a lie, a rate limit, a peer without the block yet, a chunk
    /// tagged with a block nobody announced): known when it is sent, effective when it arrives.
    unhelpful: Option<Cause>,
    /// It failed as the node saw it (timed out, its chunk wasted, its peer gone), and why.
    failure: Option<Cause>,
    /// A missing-blocks request whose first locator the responder's main chain lacked: it answered from an
    /// older one, with blocks the node may hold already (it lagged, or the locator is a fork block).
    older_anchor: Option<Cause>,
    timed_out: bool,
}

/// The ledger and its verdicts.
#[derive(Debug)]
pub struct Accounting {
    asks: BTreeMap<u64, Ask>,
    /// Requests by what they asked, in order.
    by_asked: BTreeMap<Asked, Vec<u64>>,
    /// Per peer: whether it is silent or slow.
    slow: Vec<bool>,
    /// Per peer: answers it delivered to the node so far (a link's round trip is learned from them), and
    /// timeouts in a row whose answers came late: a deadline that stays below a link's round trip is the node's.
    answers_delivered: Vec<u32>,
    late_in_row: Vec<u32>,
    /// Per peer: the quickest round trip of its answers delivered so far. No answer can be due sooner.
    quickest_answer_ms: Vec<Option<u64>>,
    /// Per peer: until when it is away or cut off.
    away_until: Vec<u64>,
    /// When chunk-chain resets happened, and blocks were given up (`DiffUnavailable`).
    resets: Vec<u64>,
    /// The last `RECENT_RESETS` chunk-chain resets: when, and whether a liar's lie caused them.
    recent_resets: std::collections::VecDeque<(u64, bool)>,
    given_up: Vec<u64>,
    /// Fork blocks forgotten at the fork bound, and the pipeline blocks that built on them and went with them
    /// (`ForkForgotten`), and when last: their diffs may be asked again, for cause `Bound`.
    forgotten: BTreeMap<Hash, u64>,
    completions: Vec<u64>,
    rebranches: Vec<u64>,
    /// Blocks some announcement to the node named.
    announced: std::collections::BTreeSet<Hash>,
    /// Blocks answers delivered to the node, and the request each came with first.
    blocks_delivered: BTreeMap<Hash, u64>,
    /// Where the message of the current input came from, and the causes found so far in it.
    origin: Origin,
    input_causes: Vec<Cause>,
    /// The last chunk wasted in the current input: its peer and request.
    last_waste: Option<(sync_core::PeerId, u64)>,
    hedging: bool,
    tally: BTreeMap<String, u64>,
}

/// Resets `hijacked` looks back over.
const RECENT_RESETS: usize = 8;

fn unexplained(what: String) -> Verdict {
    Err(Breach { class: FailureClass::Waste, what })
}

impl Accounting {
    /// The chunk chain is being hijacked by lies: each of the last `RECENT_RESETS` resets had a liar's lie for
    /// its cause, the latest within `window_ms` of `now` (H14, the reference tag rule).
    pub fn hijacked(&self, now: u64, window_ms: u64) -> bool {
        self.recent_resets.len() == RECENT_RESETS
            && self.recent_resets.iter().all(|&(_, by_lie)| by_lie)
            && self.recent_resets.back().is_some_and(|&(at, _)| at + window_ms >= now)
    }

    fn note_reset(&mut self, now: u64, cause: Cause) {
        if self.recent_resets.len() == RECENT_RESETS {
            self.recent_resets.pop_front();
        }
        self.recent_resets.push_back((now, matches!(cause, Cause::Lie(_))));
    }

    pub fn new(slow: Vec<bool>, hedging: bool) -> Accounting {
        let peers = slow.len();
        Accounting {
            asks: BTreeMap::new(),
            by_asked: BTreeMap::new(),
            slow,
            answers_delivered: vec![0; peers],
            late_in_row: vec![0; peers],
            quickest_answer_ms: vec![None; peers],
            away_until: vec![0; peers],
            resets: Vec::new(),
            recent_resets: std::collections::VecDeque::new(),
            given_up: Vec::new(),
            forgotten: BTreeMap::new(),
            completions: Vec::new(),
            rebranches: Vec::new(),
            announced: std::collections::BTreeSet::new(),
            blocks_delivered: BTreeMap::new(),
            origin: Origin::Host,
            input_causes: Vec::new(),
            last_waste: None,
            hedging,
            tally: BTreeMap::new(),
        }
    }

    /// Every piece of waste attributed so far, by effect and cause.
    pub fn tally(&self) -> &BTreeMap<String, u64> {
        &self.tally
    }

    fn count(&mut self, effect: &str, cause: Cause) {
        *self.tally.entry(format!("{effect}: {}", cause.name())).or_default() += 1;
        self.input_causes.push(cause);
    }

    // ---- what the world records --------------------------------------------------------------------------

    /// The node sent `request` to `peer`; `fate` is what the network did with it. A repeat of an earlier
    /// request for the same thing must follow that one's failure.
    /// `holds` says whether the node holds a block (in its chain, pending or buffered).
    #[allow(clippy::too_many_arguments)]
    pub fn asked(
        &mut self,
        now: u64,
        head: u32,
        request_id: u64,
        peer: u32,
        request: &Request,
        fate: Fate,
        holds: &dyn Fn(&Hash) -> bool,
    ) -> Verdict {
        let asked = match request {
            Request::Chunk { start_key, .. } => Asked::Chunk { start: start_key.clone() },
            Request::TrieDiff { block_hash } => Asked::Diff { block: *block_hash },
            Request::MissingBlocks { target_hash, locators, .. } => {
                Asked::Blocks { target: *target_hash, locators: locators.clone() }
            }
            Request::BlocksFrom { target_hash, first, .. } => Asked::Batch { target: *target_hash, first: *first },
        };
        let unheard = match fate {
            Fate::Lost | Fate::Cut => Some(Cause::Loss),
            Fate::Arrives { .. } => None,
        };
        let queued = matches!(fate, Fate::Arrives { queued_ms, .. } if queued_ms > 0);
        let verdict = self.repeat(now, head, request_id, &asked, holds);
        let ask = Ask {
            peer,
            asked: asked.clone(),
            sent_at: now,
            unheard,
            reordered: matches!(fate, Fate::Arrives { reordered: true, .. }),
            answered_at: None,
            lie: None,
            chunk: None,
            answer_fate: None,
            arrives_at: None,
            queued,
            blocks: Vec::new(),
            delivered: false,
            unhelpful: None,
            failure: None,
            older_anchor: None,
            timed_out: false,
        };
        self.asks.insert(request_id, ask);
        self.by_asked.entry(asked).or_default().push(request_id);
        verdict
    }

    /// A request asked again: the earlier one must have failed (or still be in flight, when hedging), or been
    /// dropped by a reset or completion, or s moved back (a rebranch).
    fn repeat(
        &mut self,
        now: u64,
        head: u32,
        request_id: u64,
        asked: &Asked,
        holds: &dyn Fn(&Hash) -> bool,
    ) -> Verdict {
        let Some(&earlier) = self.by_asked.get(asked).and_then(|ids| ids.last()) else { return Ok(()) };
        let before = &self.asks[&earlier];
        let since = |times: &[u64]| times.iter().any(|&t| t >= before.sent_at && t <= now);
        let arrived = before.delivered;
        let cause = if let Some(failure) = before.failure {
            Some(failure)
        } else if let Some(unhelpful) = before.unhelpful.filter(|_| arrived) {
            Some(unhelpful)
        } else if since(&self.resets) || since(&self.given_up) {
            Some(Cause::Reset)
        } else if since(&self.rebranches) {
            Some(Cause::Rebranch)
        } else if since(&self.completions) {
            Some(Cause::Completion)
        } else if matches!(asked, Asked::Diff { block } if self.forgotten.get(block).is_some_and(|&at| since(&[at]))) {
            // Its block was forgotten at the fork bound, or left the pipeline with the fork block it built on (§4.7).
            Some(Cause::Bound)
        } else if arrived && before.blocks.iter().any(|hash| !holds(hash)) {
            // Its blocks came and are gone: dropped at a bound (a full buffer, a fetch given up below them).
            Some(Cause::Bound)
        } else if !arrived && self.hedging && matches!(asked, Asked::Chunk { .. }) {
            Some(Cause::Hedged)
        } else if !arrived && matches!(asked, Asked::Diff { .. }) {
            // The diff that holds the pipeline, asked again while its request is overdue (§4.4): the request
            // or its answer was lost, or the answer comes later than the peer's round trips promised. Not before
            // the quickest answer that peer ever gave (of a peer that never answered: any peer): nothing told the
            // node yet that this one is late.
            let before = before.clone();
            let age = now.saturating_sub(before.sent_at);
            let quickest = self.quickest_answer_ms[before.peer as usize]
                .or_else(|| self.quickest_answer_ms.iter().flatten().copied().min());
            let due = quickest.is_some_and(|quickest| age >= quickest);
            if due {
                self.overdue_cause(now, &before, false)
            } else {
                None
            }
        } else if arrived && before.chunk.as_ref().is_some_and(|(number, _, _)| *number > head) {
            // Its chunk waits in the buffer for a block nobody vouched for yet, and the start goes to the next
            // peer (§4.5, step 10).
            Some(Cause::Unvouched)
        } else {
            None
        };
        match cause {
            Some(cause) => {
                self.count("repeated request", cause);
                Ok(())
            }
            None => unexplained(format!("request r{request_id} asks again what r{earlier} got ({})", asked.describe())),
        }
    }

    /// Why an earlier request failed: what the world did to it (or the lie that answered it).
    fn failure_cause(&self, request_id: u64) -> Cause {
        let ask = &self.asks[&request_id];
        ask.lie
            .map(Cause::Lie)
            .or(ask.unheard)
            .or(ask.answer_fate)
            .or_else(|| self.slow[ask.peer as usize].then_some(Cause::Slow))
            .unwrap_or(Cause::Lag)
    }

    /// Whether an answer to `request_id` went on the network already.
    pub fn answered_before(&self, request_id: u64) -> bool {
        self.asks.get(&request_id).is_some_and(|ask| ask.arrives_at.is_some() || ask.answer_fate.is_some())
    }

    /// The responder of missing-blocks request `request_id` answered from an older locator than the first:
    /// `cause` says why it lacked the first.
    pub fn older_anchor(&mut self, request_id: u64, cause: Cause) {
        if let Some(ask) = self.asks.get_mut(&request_id) {
            ask.older_anchor = Some(cause);
        }
    }

    /// The peer got the request while away (it never hears it).
    pub fn unheard(&mut self, request_id: u64) {
        if let Some(ask) = self.asks.get_mut(&request_id) {
            ask.unheard = Some(Cause::Away);
        }
    }

    /// The peer answered at `now` (`lie`: the class it lied with). A duplicated request gets two answers: a lie
    /// in either counts.
    pub fn answered(&mut self, now: u64, request_id: u64, lie: Option<ByzantineClass>) {
        let Some(ask) = self.asks.get_mut(&request_id) else { return };
        ask.answered_at.get_or_insert(now);
        ask.lie = ask.lie.or(lie);
    }

    /// The answer the node takes (the first delivered): what it is decides whether it helps.
    fn delivered(&mut self, request_id: u64, response: Option<&Response>) {
        let announced = &self.announced;
        let Some(ask) = self.asks.get_mut(&request_id) else { return };
        ask.unhelpful = match response {
            _ if ask.lie.is_some() => ask.lie.map(Cause::Lie),
            None => None,
            Some(Response::RateLimited) => Some(Cause::Bound),
            Some(Response::Chunk { block_hash, .. }) if !announced.contains(block_hash) => Some(Cause::Unvouched),
            Some(Response::Chunk { .. } | Response::Diff(_)) => None,
            // Answered from an older locator than the first: maybe nothing the node lacks.
            Some(Response::Blocks(blocks)) if !blocks.is_empty() => ask.older_anchor,
            // The peer has not got the block yet, or sees another chain: it lags.
            Some(_) => Some(Cause::Lag),
        };
        if let Some(Response::Chunk { block_number, block_hash, chunk }) = response {
            ask.chunk = Some((*block_number, *block_hash, chunk.end.clone()));
        }
        if let Some(Response::Blocks(blocks)) = response.filter(|_| ask.lie.is_none()) {
            ask.blocks = blocks.iter().map(|block| block.hash()).collect();
        }
    }

    /// An announcement of `hash` reached the node: chunks tagged with it are vouched for.
    pub fn announced(&mut self, hash: Hash) {
        self.announced.insert(hash);
    }

    /// An answer to `request_id` went on the network (`None`: the node was not connected to the peer, and
    /// nothing was sent). Returns whether it was the first: a later one answers a duplicated request.
    pub fn answer_sent(&mut self, request_id: u64, fate: Option<Fate>) -> bool {
        let Some(ask) = self.asks.get_mut(&request_id) else { return true };
        if ask.arrives_at.is_some() || ask.answer_fate.is_some() {
            return false;
        }
        ask.answer_fate = match fate {
            None => Some(Cause::Away),
            Some(Fate::Lost | Fate::Cut) => Some(Cause::Loss),
            Some(Fate::Arrives { reordered: true, .. }) => Some(Cause::Reorder),
            Some(Fate::Arrives { .. }) => None,
        };
        ask.arrives_at = fate.and_then(|fate| fate.arrivals().next());
        ask.queued |= matches!(fate, Some(Fate::Arrives { queued_ms, .. }) if queued_ms > 0);
        true
    }

    /// `peer` is away or cut off until `until`: what it had not answered yet fails.
    pub fn away(&mut self, peer: u32, until: u64) {
        let slot = &mut self.away_until[peer as usize];
        *slot = (*slot).max(until);
        for ask in self.asks.values_mut().filter(|ask| ask.peer == peer && ask.failure.is_none() && !ask.delivered) {
            ask.failure = Some(Cause::Away);
        }
    }

    /// `peer` left the node's peer set (it left, or the node dropped it): the node forgets what it measured of
    /// it, and so does the ledger.
    pub fn forget_peer(&mut self, peer: u32) {
        self.quickest_answer_ms[peer as usize] = None;
    }

    /// The next input comes from `origin`. Of the answers to one request (the network may duplicate the request
    /// or the answer, or replay it), the first delivered is the answer; the others are extra copies.
    /// `holds` says whether the node holds a block (in its chain, pending or buffered) before it takes the input.
    /// `response`: the answer's sender, request id and content, if the input is one; `awaited`: the node has
    /// that request open and will take (and time) the answer. A liar's message that
    /// carries the id of a request still open to it is the answer, as the node sees it:
    /// a replay of its own answer (`replay_answers`) that overtakes the original says what that answer says; an
    /// invented one (`unsolicited`, whose random id hit an open request) is a lie.
    pub fn input(
        &mut self,
        now: u64,
        origin: Origin,
        response: Option<(u32, u64, &Response)>,
        awaited: bool,
        holds: &dyn Fn(&Hash) -> bool,
    ) -> Verdict {
        self.input_causes.clear();
        self.last_waste = None;
        let origin = match (origin, response) {
            (Origin::Turn(class), Some((from, request_id, _))) => match self.asks.get_mut(&request_id) {
                Some(ask) if !ask.delivered && ask.peer == from => {
                    if class != ByzantineClass::ReplayAnswers {
                        ask.lie = Some(class);
                    }
                    Origin::Answer { request_id, extra: false }
                }
                _ => origin,
            },
            _ => origin,
        };
        let response = response.map(|(_, _, response)| response);
        let mut verdict = Ok(());
        if let Origin::Answer { request_id, .. } = origin {
            if self.asks.get(&request_id).is_some_and(|ask| !ask.delivered) {
                self.delivered(request_id, response);
                if let Some(Response::Blocks(blocks)) = response {
                    // Everything in it came meanwhile by another way (gossip, another answer): no use, and the
                    // node asks again.
                    if blocks.iter().all(|block| holds(&block.hash())) {
                        let ask = self.asks.get_mut(&request_id).expect("checked above");
                        ask.unhelpful = ask.unhelpful.or(Some(Cause::Lag));
                    }
                    verdict = self.blocks_again(now, request_id, blocks, holds);
                }
            }
        }
        self.origin = match origin {
            // Copies overtake each other (a duplicate may arrive before the reordered original): whichever
            // comes first is the answer.
            Origin::Answer { request_id, .. } => match self.asks.get_mut(&request_id) {
                Some(ask) if !ask.delivered => {
                    ask.delivered = true;
                    self.answers_delivered[ask.peer as usize] += 1;
                    if !ask.timed_out {
                        self.late_in_row[ask.peer as usize] = 0;
                    }
                    // Only an answer the node takes teaches it the round trip: one after its deadline, or to a
                    // request it dropped (another peer served the diff), is dropped unread.
                    if awaited {
                        let round_trip = now.saturating_sub(ask.sent_at);
                        let quickest = &mut self.quickest_answer_ms[ask.peer as usize];
                        *quickest = Some(quickest.map_or(round_trip, |ms| ms.min(round_trip)));
                    }
                    origin
                }
                _ => Origin::Answer { request_id, extra: true },
            },
            other => other,
        };
        verdict
    }

    /// The blocks of an answer some earlier answer delivered already: fetched twice. The same block is never
    /// fetched for two targets, nor asked again while the node holds it, unless the responder lacked the first
    /// locator, the earlier request failed, the chain rebranched or a reset came since, or the node dropped the
    /// block at a bound (a full pipeline or buffer).
    fn blocks_again(
        &mut self,
        now: u64,
        request_id: u64,
        blocks: &[sync_core::block::Block],
        holds: &dyn Fn(&Hash) -> bool,
    ) -> Verdict {
        if self.asks[&request_id].lie.is_some() {
            return Ok(()); // A lie's blocks are rejected whole: none of them counts as delivered.
        }
        let mut again = None;
        for block in blocks {
            match self.blocks_delivered.insert(block.hash(), request_id) {
                Some(earlier) if earlier != request_id && again.is_none() => again = Some((earlier, block)),
                _ => {}
            }
        }
        let Some((earlier, block)) = again else { return Ok(()) };
        let ask = &self.asks[&request_id];
        let before = &self.asks[&earlier];
        let since = |times: &[u64]| times.iter().any(|&t| t >= before.sent_at && t <= now);
        let cause = ask
            .lie
            .map(Cause::Lie)
            .or(ask.older_anchor)
            .or(before.older_anchor)
            .or(ask.failure)
            .or(before.failure)
            .or_else(|| since(&self.rebranches).then_some(Cause::Rebranch))
            .or_else(|| (since(&self.resets) || since(&self.given_up)).then_some(Cause::Reset))
            .or_else(|| (!holds(&block.hash())).then_some(Cause::Bound));
        match cause {
            Some(cause) => {
                self.count("block fetched twice", cause);
                Ok(())
            }
            None => unexplained(format!(
                "r{request_id} delivers block #{} {:?} again, which r{earlier} delivered and the node holds",
                block.number(),
                block.hash()
            )),
        }
    }
}
