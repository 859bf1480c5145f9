//! One knob never reshuffles another: the same seed with a liar switched on, or with a network or peer fault
//! switched on, runs over the very same canonical chain (the canonical chain hash of `RunStats`). This is what
//! makes the byzantine sweep's "slowdown against the same seed without liars" compare like with like.

use sim::adversary::ByzantineClass;
use sim::{world, Options};

/// The worlds of the test: small and quick, with forks and rebranches so that the chain has shape.
fn world_of(seed: u64) -> Options {
    Options {
        seed,
        accounts: 300,
        blocks: 30,
        block_time_ms: 250,
        fork_chance: 0.3,
        fork_depth_max: 3,
        loss: 0.0,
        duplication: 0.0,
        reorder_chance: 0.0,
        ..Options::default()
    }
}

/// A fault switched on in a world.
type Fault = fn(&mut Options);

/// Every variation of a world that must leave its chain alone: each liar class, each fault.
fn variations(base: &Options) -> Vec<(String, Options)> {
    let mut variations: Vec<(String, Options)> = ByzantineClass::ALL
        .iter()
        .map(|&class| {
            let mut options = base.clone();
            options.byzantine.push(class);
            options.lie_chance = 1.0;
            (class.name(), options)
        })
        .collect();
    let faults: [(&str, Fault); 8] = [
        ("loss", |o| o.loss = 0.2),
        ("duplication", |o| o.duplication = 0.2),
        ("reordering", |o| o.reorder_chance = 0.3),
        ("partitions", |o| o.partitions = 3),
        ("replays", |o| o.replay_chance = 0.1),
        ("churn", |o| o.churn_interval_ms = 2_000),
        ("all gone", |o| o.all_gone_ms = 3_000),
        ("slow and silent peers", |o| {
            o.slow_peers = 1;
            o.silent_peers = 1;
        }),
    ];
    for (name, fault) in faults {
        let mut options = base.clone();
        fault(&mut options);
        variations.push((name.to_string(), options));
    }
    variations
}

#[test]
fn liars_and_faults_leave_the_canonical_chain_alone() {
    let mut differing = Vec::new();
    for seed in [1, 2, 3] {
        let base = world_of(seed);
        let reference = world::run(&base);
        assert!(reference.passed(), "seed {seed}: {:?}", reference.failure);
        assert!(!reference.stats.chain_hash.is_empty() && reference.stats.rebranches > 0, "seed {seed} has forks");
        for (name, options) in variations(&base) {
            let outcome = world::run(&options);
            let same = (&outcome.stats.chain_hash, outcome.stats.chain_height)
                == (&reference.stats.chain_hash, reference.stats.chain_height);
            if !same {
                differing.push(format!("seed {seed} with {name}"));
            }
        }
    }
    assert!(differing.is_empty(), "a different canonical chain: {}", differing.join(", "));
}

/// The hash can tell chains apart: another seed, or another chain knob, is another chain.
#[test]
fn the_canonical_chain_hash_tells_chains_apart() {
    let hash = |options: &Options| world::run(options).stats.chain_hash;
    let base = world_of(1);
    assert_ne!(hash(&base), hash(&world_of(2)));
    assert_ne!(hash(&base), hash(&Options { ops_per_block_max: 3, ..base.clone() }));
    assert_ne!(hash(&base), hash(&Options { fork_chance: 0.0, ..base }));
}
