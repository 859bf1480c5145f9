//! Golden traces: a compact JSON summary of each named scenario, stored under `fixtures/traces/` as insta
//! snapshots. A behaviour change shows up as a reviewable diff (README: "Golden traces").

use scenarios::ScenarioRun;

pub fn golden(run: &ScenarioRun) {
    insta::with_settings!({ snapshot_path => "../../../fixtures/traces", prepend_module_to_snapshot => false, omit_expression => true }, {
        insta::assert_json_snapshot!(run.name.as_str(), run.summary());
    });
}
