//! The scenario README.md shows a new user, kept compiling and passing.

use scenarios::{ByzantineClass, Kind, Scenario};
use sync_core::Event;

#[test]
fn a_liar_during_a_rebranch() {
    let run = Scenario::new("a_liar_during_a_rebranch")
        .accounts(2_000)
        .chunk_size(25)
        .byzantine(ByzantineClass::WrongProof, 1)
        .rebranch_at(8, 2)
        .partition(3_000, 2_000, &[])
        .run();
    run.expect_synced();
    run.expect_evicted(Kind::Byzantine(ByzantineClass::WrongProof));
    run.expect_event("a rebranch", |e| matches!(e, Event::Rebranched { .. }));
}
