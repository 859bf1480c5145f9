//! `sim shrink`: from a failing world, the smallest world that still fails the same way.
//!
//! Greedy and deterministic: each round tries every reduction of the current world in a fixed order (a liar or a
//! scripted event removed, a fault switched off, fewer peers, accounts, blocks, operations per block, shorter
//! waits) and keeps the first that still fails the same way; it stops when no reduction does, or when the run
//! budget is spent. "The same way" is the same failure class, and for a crash the same assertion message.
//! A failure is worth most when it is small: fewer peers and blocks make a timeline one can read.

use crate::options::Options;
use crate::outcome::{Failure, RunOutcome};
use crate::world;

/// The result of a shrink: the smallest failing world found, its outcome, and what was removed on the way.
#[derive(Clone, Debug)]
pub struct Shrunk {
    pub options: Options,
    pub outcome: RunOutcome,
    /// Runs spent, the original's included.
    pub runs: u32,
    /// Each accepted reduction, in order.
    pub steps: Vec<String>,
}

/// Shrinks `options`, which must fail; `Err` with the outcome when it passes.
pub fn shrink(options: &Options, budget: u32) -> Result<Shrunk, Box<RunOutcome>> {
    let outcome = world::run(options);
    let Some(failure) = outcome.failure.clone() else { return Err(Box::new(outcome)) };
    let mut best = Shrunk { options: options.clone(), outcome, runs: 1, steps: Vec::new() };
    'rounds: while best.runs < budget {
        for (what, candidate) in reductions(&best.options) {
            if best.runs >= budget {
                break 'rounds;
            }
            best.runs += 1;
            let tried = world::run(&candidate);
            if tried.failure.as_ref().is_some_and(|f| same_way(f, &failure)) {
                best.options = candidate;
                best.outcome = tried;
                best.steps.push(what);
                continue 'rounds;
            }
        }
        break;
    }
    Ok(best)
}

/// The same class, and for a crash the same message up to its location.
fn same_way(tried: &Failure, original: &Failure) -> bool {
    let message = |failure: &Failure| failure.what.split(" at ").next().unwrap_or_default().to_string();
    tried.class == original.class
        && (original.class != crate::outcome::FailureClass::Crash || message(tried) == message(original))
}

/// A world's size in the words of the shrink report.
pub fn size(o: &Options) -> String {
    let faults = [o.loss, o.duplication, o.reorder_chance, o.replay_chance, o.fork_chance]
        .iter()
        .filter(|chance| **chance > 0.0)
        .count()
        + [o.partitions > 0, o.churn_interval_ms > 0, o.all_gone_ms > 0].iter().filter(|on| **on).count();
    format!(
        "{} peers ({} honest, {} slow, {} silent, {} liars), {} accounts, {} blocks, {} faults, {} scripted events",
        o.honest_peers + o.slow_peers + o.silent_peers + o.byzantine.len() as u32,
        o.honest_peers,
        o.slow_peers,
        o.silent_peers,
        o.byzantine.len(),
        o.accounts,
        o.blocks,
        faults,
        o.script.len()
    )
}

/// Every reduction of `o`, most valuable first.
fn reductions(o: &Options) -> Vec<(String, Options)> {
    let mut out: Vec<(String, Options)> = Vec::new();
    let mut with = |what: String, change: &dyn Fn(&mut Options)| {
        let mut candidate = o.clone();
        change(&mut candidate);
        if candidate != *o {
            out.push((what, candidate));
        }
    };
    for (index, class) in o.byzantine.iter().enumerate() {
        with(format!("liar {} removed", class.name()), &|c| {
            c.byzantine.remove(index);
        });
    }
    for index in 0..o.script.len() {
        with(format!("scripted event {index} removed"), &|c| {
            c.script.remove(index);
        });
    }
    with("no silent peers".into(), &|c| c.silent_peers = 0);
    with("no slow peers".into(), &|c| c.slow_peers = 0);
    with(format!("honest peers {} → 1", o.honest_peers), &|c| c.honest_peers = 1);
    with(format!("honest peers {} → {}", o.honest_peers, o.honest_peers - 1), &|c| {
        c.honest_peers = (c.honest_peers - 1).max(1)
    });
    faults_off(&mut with);
    with(format!("accounts {} → {}", o.accounts, o.accounts / 2), &|c| c.accounts /= 2);
    with(format!("blocks {} → {}", o.blocks, o.blocks / 2), &|c| c.blocks = (c.blocks / 2).max(1));
    with(format!("blocks {} → {}", o.blocks, o.blocks.saturating_sub(1)), &|c| c.blocks = (c.blocks - 1).max(1));
    with(format!("ops per block {} → {}", o.ops_per_block_max, o.ops_per_block_max / 2), &|c| {
        c.ops_per_block_max = (c.ops_per_block_max / 2).max(1)
    });
    out
}

/// Records one reduction: what it does, and the change.
type Reduce<'a> = dyn FnMut(String, &dyn Fn(&mut Options)) + 'a;

/// The reductions that switch one fault or one source of noise off.
fn faults_off(with: &mut Reduce) {
    with("no partitions".into(), &|c| c.partitions = 0);
    with("no churn".into(), &|c| c.churn_interval_ms = 0);
    with("no all-gone window".into(), &|c| c.all_gone_ms = 0);
    with("no forks".into(), &|c| c.fork_chance = 0.0);
    with("no loss".into(), &|c| c.loss = 0.0);
    with("no duplication".into(), &|c| c.duplication = 0.0);
    with("no reordering".into(), &|c| c.reorder_chance = 0.0);
    with("no replays".into(), &|c| c.replay_chance = 0.0);
    with("no subtree deletions".into(), &|c| c.subtree_delete_chance = 0.0);
    with("no late joins".into(), &|c| c.late_join_ms_max = 0);
    with("no jitter".into(), &|c| c.jitter_ms = 0);
    with("no block-time jitter".into(), &|c| c.block_time_jitter_ms = 0);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_passing_world_is_not_shrunk() {
        let calm = Options { blocks: 5, accounts: 20, ..Options::calm() };
        let outcome = shrink(&calm, 10).expect_err("a calm world passes");
        assert!(outcome.failure.is_none());
    }

    #[test]
    fn every_reduction_changes_the_world_and_says_how() {
        let o = Options::swarm(3);
        let all = reductions(&o);
        assert!(all.len() >= 5, "a swarm world has things to remove: {}", all.len());
        assert!(all.iter().all(|(what, candidate)| !what.is_empty() && *candidate != o));
    }
}
