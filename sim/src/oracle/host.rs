//! The host contract (docs/protocol.md §6, §7.9): a host that sleeps until `poll_timeout` misses nothing.
//!
//! The world wakes the node only at `poll_timeout`. Whether that is enough cannot be seen from the engine's own
//! answer, so every `PROBE_EVERY`-th input a copy of the engine is woken just before the deadline it reported
//! (or, when it reported none, long after): nothing may happen in the copy. A deadline the engine holds but does
//! not report — a buffered chunk's expiry, a backoff, a request's deadline, a cooldown something waits on — fires
//! in the copy, and the run fails naming what the copy did. The real run is untouched, so its trace is too.

use super::{breach, Verdict};
use crate::outcome::FailureClass;
use sync_core::{Millis, Output, SyncEngine};

/// One input in this many is probed (a copy of the engine per probe is the cost).
pub const PROBE_EVERY: u64 = 16;

/// How far ahead a copy with no reported deadline is woken: beyond every timing of the engine.
const QUIET_PROBE_MS: u64 = 3_600_000;

/// Probes the engine after input number `input` at `now`.
pub fn probe(engine: &SyncEngine, now: u64, input: u64) -> Verdict {
    if !input.is_multiple_of(PROBE_EVERY) {
        return Ok(());
    }
    let reported = engine.poll_timeout();
    let at = match reported {
        Some((deadline, _)) if deadline.0 > now + 1 => deadline.0 - 1,
        Some(_) => return Ok(()),
        None => now + QUIET_PROBE_MS,
    };
    let mut copy = engine.clone();
    copy.handle_timeout(Millis(at));
    let Some(output) = copy.poll_output() else { return Ok(()) };
    let what = format!(
        "host contract: poll_timeout reported {reported:?} at {now} ms, yet a wake at {at} ms did {}",
        describe(&output)
    );
    breach(FailureClass::Safety, what)
}

fn describe(output: &Output) -> String {
    match output {
        Output::SendRequest { peer, request, .. } => format!("send {request:?} to {peer}"),
        Output::SendResponse { peer, .. } => format!("answer {peer}"),
        Output::Event(event) => format!("emit {event:?}"),
    }
}
