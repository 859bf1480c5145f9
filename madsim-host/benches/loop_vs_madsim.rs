//! The same scenario on the own event loop and on the madsim host: runs per second of each, and the ratio
//! (BENCHMARKS.md; goal ≥ 10× for the own loop).
//!
//! `RUSTFLAGS="--cfg madsim" CARGO_TARGET_DIR=target/madsim cargo bench -p madsim-host --bench loop_vs_madsim`
//! measures both; without the cfg only the own loop runs (the madsim host is then real tokio, not a simulator).

use madsim_host::HostScenario;

#[allow(clippy::disallowed_methods)] // a benchmark times itself
fn runs_per_second(runs: u64, mut run: impl FnMut(u64)) -> f64 {
    let started = std::time::Instant::now();
    for seed in 0..runs {
        run(seed);
    }
    runs as f64 / started.elapsed().as_secs_f64()
}

fn main() {
    let runs = std::env::var("LOOP_VS_MADSIM_RUNS").ok().and_then(|s| s.parse().ok()).unwrap_or(50u64);
    // A tiny world, where the event loop itself is what costs, and a medium one, where executing blocks and
    // hashing (work both hosts share) dominates.
    let tiny = HostScenario {
        seed: 0,
        accounts: 20,
        servers: 3,
        blocks: 30,
        block_time_ms: 500,
        chunk_size_max: 8,
        ops_per_block_max: 2,
    };
    let medium = HostScenario {
        seed: 0,
        accounts: 400,
        servers: 3,
        blocks: 60,
        block_time_ms: 500,
        chunk_size_max: 25,
        ops_per_block_max: 20,
    };
    for scenario in [tiny, medium] {
        compare(&scenario, runs);
    }
}

fn compare(scenario: &HostScenario, runs: u64) {
    let own = runs_per_second(runs, |seed| {
        let options = sim::Options { seed, ..scenario.options() };
        let outcome = sim::world::run(&options);
        assert!(outcome.passed(), "own loop, seed {seed}: {:?}", outcome.failure);
    });
    println!("scenario: {scenario:?}");
    println!("own event loop: {own:.1} runs/s ({runs} runs, one thread)");
    #[cfg(madsim)]
    {
        let madsim = runs_per_second(runs, |seed| {
            madsim_host::madsim_run(&HostScenario { seed, ..scenario.clone() }, seed + 1).expect("madsim run syncs");
        });
        println!("madsim host:    {madsim:.1} runs/s ({runs} runs, one thread)");
        println!("ratio:          {:.1}× for the own loop", own / madsim);
    }
    #[cfg(not(madsim))]
    println!("madsim host: not measured (build with RUSTFLAGS=\"--cfg madsim\" to compare)");
}
