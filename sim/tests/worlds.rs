//! The simulator from the outside: worlds pass, the same seed replays byte for byte, failures are classified.

use sim::fixture::{Expect, Fixture};
use sim::{world, FailureClass, Options};

/// A fast slice of `explore`: swarm worlds of every kind pass. (The full default is 2 000 seeds.)
#[test]
fn swarm_seeds_pass() {
    let seeds = std::env::var("SIM_TEST_SEEDS").ok().and_then(|s| s.parse().ok()).unwrap_or(24u64);
    let failures: Vec<String> = (0..seeds)
        .filter_map(|seed| {
            let outcome = world::run(&Options::swarm(seed));
            outcome.failure.map(|f| {
                format!("seed {seed}: {} {}\n  replay: cargo run --release -p sim -- replay {seed}", f.class, f.what)
            })
        })
        .collect();
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn the_same_seed_replays_to_the_same_trace_hash() {
    for seed in [3, 17, 42] {
        let options = Options::swarm(seed);
        let (first, second) = (world::run(&options), world::run(&options));
        assert!(!first.trace_hash.is_empty());
        assert_eq!(first.trace_hash, second.trace_hash, "seed {seed} is not deterministic");
        assert_eq!(first.stats, second.stats, "seed {seed}: the same figures");
    }
    assert_ne!(world::run(&Options::swarm(3)).trace_hash, world::run(&Options::swarm(4)).trace_hash);
}

/// The second run of a determinism check skips the checks that only observe: the same trace hash, without the
/// naive model's roots.
#[test]
fn a_hash_only_run_has_the_full_runs_trace_hash() {
    for seed in [3, 17] {
        let options = Options::swarm(seed);
        let full = world::run(&options);
        let hash_only = world::run_with(&options, world::Recording { hash_only: true, ..Default::default() }).outcome;
        assert_eq!(full.trace_hash, hash_only.trace_hash, "seed {seed}: checks leave the run alone");
        assert!(full.stats.model_roots > 0 && hash_only.stats.model_roots == 0, "seed {seed}: the model ran once");
    }
}

#[test]
fn the_default_world_syncs_under_faults() {
    let outcome = world::run(&Options { seed: 9, ..Options::default() });
    assert!(outcome.passed(), "{:?}", outcome.failure);
    let stats = &outcome.stats;
    assert!(stats.completed_ms.is_some() && stats.rebranches > 0 && stats.blocks_produced >= 100, "{stats:?}");
    assert!(stats.bytes_fetched >= stats.state_bytes, "the state came over the wire: {stats:?}");
}

/// `replay --trace`: the readable log tells the run in order (inputs, outputs, events, world notes).
#[test]
fn the_readable_trace_tells_the_run() {
    let options = Options { seed: 1, blocks: 5, ..Options::default() };
    let world::Recorded { outcome, trace, .. } =
        world::run_with(&options, world::Recording { trace: true, ..Default::default() });
    assert!(outcome.passed(), "{:?}", outcome.failure);
    let trace = trace.expect("a readable trace");
    let position = |needle: &str| trace.iter().position(|line| line.contains(needle));
    let joined = position("p1 joined").expect("a join");
    let chunk = position("chunk(start").expect("a chunk request");
    let complete = position("event StateComplete").expect("completion");
    let liveness = position("liveness phase").expect("the phase change");
    assert!(joined < chunk && chunk < complete, "in order: join, request, completion");
    assert!(liveness > joined && position("production stops").is_some());
}

#[test]
fn the_timeline_renders_as_svg() {
    let world::Recorded { outcome, timeline, .. } = world::run_with(
        &Options { seed: 4, ..Options::default() },
        world::Recording { timeline: true, ..Default::default() },
    );
    assert!(outcome.passed());
    let svg = timeline.expect("a timeline").render("seed 4");
    assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"));
    assert!(svg.contains("node head") && svg.contains("p1 honest"), "lanes and legend are drawn");
    assert!(svg.matches("<line").count() > 20, "requests are drawn");
}

#[test]
fn a_timeline_window_keeps_only_its_span() {
    let world::Recorded { timeline, .. } = world::run_with(
        &Options { seed: 4, ..Options::default() },
        world::Recording { timeline: true, ..Default::default() },
    );
    let timeline = timeline.expect("a timeline");
    let all = timeline.requests.len();
    // Up to the middle request, and not to its answer: about half the requests fall in the window.
    let middle = timeline.requests[all / 2].sent;
    let window = timeline.window(0, middle);
    assert!(window.requests.len() < all && !window.requests.is_empty(), "{} of {all}", window.requests.len());
    assert!(window.heads.iter().all(|(t, _, _)| *t <= middle));
    assert!(window.render("zoomed").contains(&format!("time 0 – {middle} ms")));
}

#[test]
fn fixtures_round_trip_and_check_outcomes() {
    let options = Options { seed: 12, ..Options::default() };
    let outcome = world::run(&options);
    let fixture = Fixture::from_outcome(&options, &outcome);
    assert_eq!(fixture.expect, Expect::Pass);
    let dir = std::env::temp_dir().join(format!("livesync-fixture-test-{}", std::process::id()));
    let path = fixture.save(&dir).unwrap();
    let loaded = Fixture::load(&path).unwrap();
    assert_eq!(loaded, fixture);
    assert_eq!(loaded.check(&world::run(&loaded.options)), Ok(()));
    let mut wrong = loaded.clone();
    wrong.trace_hash = "00".into();
    assert!(wrong.check(&outcome).unwrap_err().contains("trace hash"));
    let mut failing = loaded;
    failing.expect = Expect::Fail;
    failing.failure = Some(sim::Failure { class: FailureClass::Liveness, at_ms: 0, what: String::new() });
    assert!(failing.check(&outcome).is_err(), "a fixed failure must be re-marked as a pass");
    std::fs::remove_dir_all(dir).ok();
}
