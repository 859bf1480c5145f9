//! A seeded download of one random state through the trie API alone: chunks of random sizes cut from the
//! moving head, block diffs in between, every step checked. No network, no engine: the fastest way to hammer
//! `put_chunk` and `apply_diff` with many shapes of state (`sim trie`).

use crate::keys::{KeyShape, KeySource};
use crate::prng::{Prng, Stream};
use serde::{Deserialize, Serialize};
use sync_core::trie::{ChunkApplied, Op};
use sync_core::{Key, Trie};

/// Everything one trie run draws from its seed.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrieJobOptions {
    pub seed: u64,
    pub accounts: u64,
    pub key_shape: KeyShape,
    pub chunk_limit_max: u64,
    /// Chance that the next step is a block rather than a chunk.
    pub block_chance: f64,
    pub ops_per_block_max: u64,
}

impl TrieJobOptions {
    pub fn swarm(seed: u64) -> TrieJobOptions {
        let mut prng = Prng::new(seed, Stream::Options);
        TrieJobOptions {
            seed,
            accounts: prng.below(3000),
            key_shape: *prng.pick(&KeyShape::ALL).unwrap_or(&KeyShape::Uniform),
            chunk_limit_max: prng.range(1, 400),
            block_chance: prng.unit() * 0.8,
            ops_per_block_max: prng.range(1, 60),
        }
    }
}

/// What a successful run measured.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TrieJobStats {
    pub chunks: u64,
    pub items: u64,
    pub blocks: u64,
    pub diff_entries: u64,
    pub final_accounts: u64,
}

/// A download that went wrong: what and where.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TrieJobFailure {
    pub step: u64,
    pub what: String,
}

pub fn run(options: &TrieJobOptions) -> Result<TrieJobStats, TrieJobFailure> {
    let mut prng = Prng::new(options.seed, Stream::Job);
    let keys = KeySource::new(options.key_shape, &mut Prng::new(options.seed, Stream::Keys));
    let mut head = Trie::from_items((0..options.accounts).map(|_| (keys.draw(&mut prng), prng.bytes(32))))
        .map_err(|error| TrieJobFailure { step: 0, what: format!("building the state: {error:?}") })?;
    let mut partial = Trie::fresh();
    let mut stats = TrieJobStats::default();
    let step_max = 100_000;
    for step in 0..step_max {
        let fail = |what: String| TrieJobFailure { step, what };
        let Some(start) = partial.missing_start().cloned() else { break };
        if prng.chance(options.block_chance) {
            let ops = block_ops(&mut prng, &keys, &head, options.ops_per_block_max);
            let (next, diff) = head.execute(&ops).map_err(|error| fail(format!("execute: {error:?}")))?;
            let root = next.root_if_computable().ok_or_else(|| fail("a complete trie without root".into()))?;
            partial.apply_diff(&diff, root).map_err(|error| fail(format!("honest diff refused: {error:?}")))?;
            stats.blocks += 1;
            stats.diff_entries += diff.len() as u64;
            head = next;
        } else {
            let limit = prng.range(1, options.chunk_limit_max) as usize;
            let chunk = head.chunk(&start, limit).ok_or_else(|| fail("the head cannot cut a chunk".into()))?;
            let root = head.root_if_computable().ok_or_else(|| fail("a complete trie without root".into()))?;
            match partial.put_chunk(&start, &chunk, root) {
                Ok(ChunkApplied::Applied { .. }) => {}
                other => return Err(fail(format!("honest chunk at {start} not applied: {other:?}"))),
            }
            stats.chunks += 1;
            stats.items += chunk.items.len() as u64;
        }
        partial.check_invariants();
        if let Some(root) = partial.root_if_computable() {
            if Some(root) != head.root_if_computable() {
                return Err(fail(format!("S1: computable root {root:?} is not the head's")));
            }
        }
    }
    if !partial.is_complete() {
        return Err(TrieJobFailure { step: step_max, what: "not complete after the step bound".into() });
    }
    partial.check_invariants_full();
    if partial.root_if_computable() != head.root_if_computable() || partial.items() != head.items() {
        return Err(TrieJobFailure { step: step_max, what: "final state differs from the head".into() });
    }
    stats.final_accounts = head.len() as u64;
    Ok(stats)
}

/// A block body: writes to existing and new keys, deletions, mixes.
fn block_ops(prng: &mut Prng, keys: &KeySource, head: &Trie, ops_max: u64) -> Vec<Op> {
    let existing = head.len();
    (0..prng.range(1, ops_max))
        .map(|_| {
            let key = if existing > 0 && prng.chance(0.6) { existing_key(head, prng) } else { None };
            let key = key.unwrap_or_else(|| keys.draw(prng));
            match prng.below(3) {
                0 => Op::Set(key, prng.bytes(32)),
                1 => Op::Delete(key),
                _ => Op::Mix(key, prng.bytes(8)),
            }
        })
        .collect()
}

/// An existing account near a random point of key space: the first key at or after it, wrapping around.
fn existing_key(head: &Trie, prng: &mut Prng) -> Option<Key> {
    let start = Key::from_bytes(&prng.bytes(8)).ok()?;
    head.first_key_at_or_after(&start).or_else(|| head.first_key_at_or_after(&Key::EMPTY))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn swarm_runs_download_and_match_the_head() {
        for seed in 0..20 {
            let options = TrieJobOptions::swarm(seed);
            let stats = run(&options).unwrap_or_else(|failure| panic!("seed {seed}: {failure:?}"));
            assert!(stats.chunks >= 1, "seed {seed}: at least the final chunk");
            assert_eq!(run(&options).unwrap(), stats, "seed {seed}: the same seed replays");
        }
    }
}
