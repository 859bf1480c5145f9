//! Golden traces: a compact JSON summary of each named scenario, stored under `fixtures/traces/` as insta
//! snapshots. A behaviour change shows up as a reviewable diff (README: "Golden traces"): what each peer was
//! asked, the resets with their reasons, and the events around the moment the scenario is about.

use scenarios::ScenarioRun;
use sync_core::Event;

/// The snapshot of `run`, with the excerpt around the first event `moment` picks (completion if none).
pub fn golden(run: &ScenarioRun, moment: impl Fn(&Event) -> bool) {
    insta::with_settings!({ snapshot_path => "../../../fixtures/traces", prepend_module_to_snapshot => false, omit_expression => true }, {
        insta::assert_json_snapshot!(run.name.as_str(), run.summary(moment));
    });
}

/// The moment of a scenario about the download as a whole: its completion.
pub fn completion(event: &Event) -> bool {
    matches!(event, Event::StateComplete { .. })
}
