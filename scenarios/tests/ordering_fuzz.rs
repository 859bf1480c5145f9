//! Property-based fuzzing of chunk ordering: proptest draws the scenario *parameters* (chunk size, which
//! messages arrive, their order, duplication and delay relative to blocks, which blocks are forked out, how
//! many servers answer), not raw seeds. Property: the node converges to the canonical tip with its root, and no
//! invariant breaks on the way. Failures shrink to a minimal step list and are kept in
//! `ordering_fuzz.proptest-regressions` (committed). `PROPTEST_CASES` raises the count for long runs.

use proptest::prelude::*;
use proptest::test_runner::FileFailurePersistence;
use scenarios::ordering::{run, OrderingParams, Step};

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        6 => any::<usize>().prop_map(Step::Deliver),
        1 => any::<usize>().prop_map(Step::Drop),
        1 => any::<usize>().prop_map(Step::Duplicate),
        2 => any::<usize>().prop_map(Step::Delay),
        2 => Just(Step::Block),
        1 => (1u8..4, any::<bool>()).prop_map(|(depth, rebranch)| Step::Fork { depth, rebranch }),
        1 => (1u16..2_000).prop_map(Step::Advance),
    ]
}

fn params() -> impl Strategy<Value = OrderingParams> {
    (
        any::<u64>().no_shrink(), // the seed re-rolls the state: it rides along unshrunk
        0u64..300,
        1u32..40,
        1u32..4,
        1u8..3,
        prop::collection::vec(step(), 0..150),
    )
        .prop_map(|(seed, accounts, chunk_size, servers, chunk_requests_in_flight, steps)| OrderingParams {
            seed,
            accounts,
            chunk_size,
            servers,
            chunk_requests_in_flight,
            steps,
        })
}

fn config() -> ProptestConfig {
    let mut config = ProptestConfig::default();
    if std::env::var_os("PROPTEST_CASES").is_none() {
        config.cases = 64;
    }
    config.failure_persistence = Some(Box::new(FileFailurePersistence::WithSource("proptest-regressions")));
    config
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn any_chunk_ordering_converges_to_the_tip(params in params()) {
        let outcome = run(&params);
        prop_assert!(outcome.converged(), "{outcome:?} for {params:?}");
    }
}

/// The fuzzer reaches what it is about: with enough reordering and forks, resets and waste happen, and the
/// node still converges.
#[test]
fn reordering_and_forks_cause_resets_yet_converge() {
    let steps: Vec<Step> = (0..120)
        .map(|i| match i % 7 {
            0 => Step::Block,
            1 => Step::Delay(i),
            2 => Step::Deliver(i * 3),
            3 => Step::Fork { depth: 1 + (i % 3) as u8, rebranch: i % 2 == 0 },
            4 => Step::Duplicate(i),
            5 => Step::Deliver(1),
            _ => Step::Advance(600),
        })
        .collect();
    let params =
        OrderingParams { seed: 7, accounts: 250, chunk_size: 9, servers: 3, chunk_requests_in_flight: 2, steps };
    let outcome = run(&params);
    assert!(outcome.converged(), "{outcome:?}");
    assert!(outcome.resets > 0, "the steps disturbed the download: {outcome:?}");
}
