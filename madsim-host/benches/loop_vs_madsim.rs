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
    scheduler_only();
}

/// The schedulers alone, with a world that does no work: `ACTORS` actors, each woken `WAKES` times 1–8 ms
/// apart. The own loop is `sim::stage::Clock` (the agenda every run uses); madsim is its runtime with one task
/// per actor sleeping. Nanoseconds per event.
fn scheduler_only() {
    const ACTORS: u64 = 16;
    const WAKES: u64 = 62_500;
    let own = events_per_second(|| {
        let mut clock: sim::stage::Clock<(u64, u64)> = sim::stage::Clock::default();
        for actor in 0..ACTORS {
            clock.schedule(1 + actor % 8, (actor, 0));
        }
        let mut woken = 0;
        while let Some((actor, wake)) = clock.advance() {
            woken += 1;
            if wake + 1 < WAKES {
                clock.schedule(clock.now + 1 + (actor + wake + 1) % 8, (actor, wake + 1));
            }
        }
        woken
    });
    println!("scheduler only ({ACTORS} actors × {WAKES} wakes, no work):");
    println!("own event loop: {:.1} ns per event", 1e9 / own);
    #[cfg(madsim)]
    {
        let madsim = events_per_second(|| madsim_host::madsim_noop(ACTORS, WAKES, 1));
        println!("madsim host:    {:.1} ns per event", 1e9 / madsim);
        println!("ratio:          {:.1}× lower cost per event for the own loop", own / madsim);
    }
}

#[allow(clippy::disallowed_methods)] // a benchmark times itself
fn events_per_second(mut run: impl FnMut() -> u64) -> f64 {
    let started = std::time::Instant::now();
    let events = run();
    events as f64 / started.elapsed().as_secs_f64()
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
