//! The sweeps of `sim sweep`, small: each runs here on a seed or two and checks what its table promises
//! (BENCHMARKS.md has the full-size tables).

use sim::adversary::ByzantineClass;
use sim::options::Options;
use sim::sweep::*;
use sim::{baseline, world};

/// The hardest cell of every class, `n − 1` liars of `n = 3`: no crash, no safety or liveness failure, no
/// honest peer evicted, and the liars did lie.
#[test]
fn every_liar_class_with_all_but_one_peer_lying_stays_safe_and_live() {
    let mut evicted_somewhere = 0;
    for &class in ByzantineClass::ALL {
        let cell = ByzantineCell { class, liars: 2, peers: 3 };
        let runs = [world::run(&cell.options(11))];
        let references = [world::run(&cell.reference(11))];
        let row = byzantine_row(&runs, &references);
        let failure = &runs[0].failure;
        assert_eq!((row.crashes, row.safety, row.liveness), (0, 0, 0), "{class:?}: {failure:?}");
        assert_eq!(row.honest_evicted, 0, "{class:?} got an honest peer evicted");
        assert!(row.slowdown_median.is_some(), "{class:?}: both runs complete");
        evicted_somewhere += row.evicted;
    }
    assert!(evicted_somewhere > 0, "provable liars are evicted");
}

/// Floods fill the buffers they aim at, and never past their bounds (a peak over its bound also fails the run).
#[test]
fn floods_reach_their_buffers_and_stay_within_bounds() {
    let reference = flood_row(&[world::run(&flood_cells(3)[0].reference(5))]);
    for cell in flood_cells(3).into_iter().filter(|cell| cell.liars == 2) {
        let row = flood_row(&[world::run(&cell.options(5))]);
        assert_eq!(row.failed, 0, "{:?}", cell.class);
        for (name, (peak, bound)) in FLOOD_BUFFERS.iter().zip(row.peaks) {
            assert!(peak <= bound, "{:?}: {name} peak {peak} over its bound {bound}", cell.class);
        }
        let [chunks, bytes, blocks, _] = row.peaks;
        match cell.class {
            ByzantineClass::FutureFlood => {
                assert_eq!(blocks.0, blocks.1, "announcements of future blocks fill the block buffer to its bound")
            }
            ByzantineClass::MaxChunks => {
                assert!(bytes.0 > reference.peaks[1].0, "maximal chunks weigh more than honest ones: {bytes:?}");
                assert!(chunks.0 >= reference.peaks[0].0);
            }
            _ => {}
        }
    }
}

/// At 0 % forks in a calm network, the node fetches the state about once (goal: ≤ 1.15 × state).
#[test]
fn without_forks_the_state_is_fetched_about_once() {
    let runs: Vec<_> = [1, 2].iter().map(|&seed| world::run(&efficiency_options(seed, 0.0))).collect();
    let row = efficiency_row(&runs);
    assert_eq!(row.failed, 0);
    let [Some(p50), Some(p90)] = row.bytes_over_state else { panic!("no figures: {row:?}") };
    assert!((1.0..=1.15).contains(&p50) && p90 <= 1.15, "bytes fetched / state: {p50:.3} / {p90:.3}");
    let [Some(bound), _] = row.completion_over_bound else { panic!("no completion: {row:?}") };
    assert!(bound >= 1.0, "nothing beats the lower bound: {bound}");
}

/// The strategy comparison in one small world: both finish on a slow chain; on a fast one the pivot is pruned
/// before its download ends and pivot sync restarts until the budget is gone, while live sync finishes.
#[test]
fn live_sync_finishes_where_pivot_sync_keeps_restarting() {
    let world = |block_time| Options {
        accounts: 20_000,
        pivot_retention_blocks: 16,
        ..baseline::comparison_options(3, block_time, 20_000)
    };
    let budget = 20_000;
    for (block_time, pivot_finishes) in [(1_000, true), (100, false)] {
        let live = comparison_row(&[world::run(&world(block_time))], budget);
        let pivot = comparison_row(&[baseline::run(&world(block_time))], budget);
        assert_eq!((live.finished, live.broken, pivot.broken), (1, 0, 0), "at {block_time} ms");
        assert_eq!(pivot.finished == 1, pivot_finishes, "pivot at {block_time} ms: {pivot:?}");
        if !pivot_finishes {
            assert!(pivot.restarts_mean >= 2.0, "it restarted: {pivot:?}");
        }
    }
    let text = render_comparison(&[(100, "live", ComparisonRow { runs: 1, finished: 1, ..ComparisonRow::default() })]);
    assert!(text.contains("| 100 ms | live | 1 | 1 |"), "{text}");
}
