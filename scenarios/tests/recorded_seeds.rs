//! Replays every recorded run in `fixtures/seeds/*.json` and checks its expected outcome and trace hash. A file
//! recorded from a failure that has since been fixed stays as a regression test: `"expect": "pass"`, with the
//! failure it once had kept in `"failure"`. All mismatches are reported together, not just the first.
//!
//! After an intended behaviour change, review the differences, then refresh a fixture with
//! `cargo run --release -p sim -- replay fixtures/seeds/<file>.json --record`.

use sim::fixture::{fixture_files, Fixture};
use std::path::Path;

#[test]
fn every_recorded_seed_replays_as_recorded() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/seeds");
    let files = fixture_files(&dir);
    assert!(!files.is_empty(), "no fixtures found in {}", dir.display());
    let mut problems = Vec::new();
    for path in &files {
        let fixture = match Fixture::load(path) {
            Ok(fixture) => fixture,
            Err(error) => {
                problems.push(error);
                continue;
            }
        };
        if fixture.description.trim().is_empty() {
            problems.push(format!("{}: no description", path.display()));
        }
        let outcome = sim::world::run(&fixture.options);
        if let Err(difference) = fixture.check(&outcome) {
            problems.push(format!(
                "{}: {difference}\n  replay: cargo run --release -p sim -- replay {}",
                path.display(),
                path.display()
            ));
        }
    }
    assert!(problems.is_empty(), "{} of {} fixtures:\n{}", problems.len(), files.len(), problems.join("\n"));
}
