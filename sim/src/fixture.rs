//! Recorded runs (`fixtures/seeds/*.json`): the options that reproduce a run, what it once did, and what it must
//! do now. `cargo test` replays every file (scenarios/tests/recorded_seeds.rs).

use crate::options::Options;
use crate::outcome::{Failure, RunOutcome};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// What replaying a fixture must give.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Expect {
    /// The run passes (a regression test for a failure since fixed).
    Pass,
    /// The run fails with the recorded class (a known, open failure).
    Fail,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Fixture {
    /// One line: what this run is about.
    pub description: String,
    pub options: Options,
    pub expect: Expect,
    /// The failure this run had when it was recorded (kept after a fix, as history).
    pub failure: Option<Failure>,
    /// The trace hash expected on replay; empty to skip the comparison (e.g. after an intended behaviour change).
    pub trace_hash: String,
}

impl Fixture {
    /// A fixture recorded from a run as it just happened.
    pub fn from_outcome(options: &Options, outcome: &RunOutcome) -> Fixture {
        let description = match &outcome.failure {
            Some(failure) => format!("{} failure found by explore: {}", failure.class, first_line(&failure.what)),
            None => "a passing run".to_string(),
        };
        Fixture {
            description,
            options: options.clone(),
            expect: if outcome.failure.is_some() { Expect::Fail } else { Expect::Pass },
            failure: outcome.failure.clone(),
            trace_hash: outcome.trace_hash.clone(),
        }
    }

    pub fn file_name(&self) -> String {
        let class = self.failure.as_ref().map_or("pass", |failure| failure.class.name());
        format!("{class}-{}.json", self.options.seed)
    }

    pub fn save(&self, dir: &Path) -> std::io::Result<PathBuf> {
        std::fs::create_dir_all(dir)?;
        let path = dir.join(self.file_name());
        let json = serde_json::to_string_pretty(self).map_err(std::io::Error::other)?;
        std::fs::write(&path, json + "\n")?;
        Ok(path)
    }

    pub fn load(path: &Path) -> Result<Fixture, String> {
        let text = std::fs::read_to_string(path).map_err(|error| format!("{}: {error}", path.display()))?;
        serde_json::from_str(&text).map_err(|error| format!("{}: {error}", path.display()))
    }

    /// Checks a replay against this fixture: `Err` says what differs.
    pub fn check(&self, outcome: &RunOutcome) -> Result<(), String> {
        match (self.expect, &outcome.failure) {
            (Expect::Pass, Some(failure)) => {
                return Err(format!("expected to pass, failed: {} {}", failure.class, failure.what))
            }
            (Expect::Fail, None) => return Err("expected to fail, passed (fixed? set \"expect\": \"pass\")".into()),
            (Expect::Fail, Some(failure)) if Some(failure.class) != self.failure.as_ref().map(|f| f.class) => {
                return Err(format!(
                    "expected a {:?} failure, got {} {}",
                    self.failure.as_ref().map(|f| f.class),
                    failure.class,
                    failure.what
                ));
            }
            _ => {}
        }
        if !self.trace_hash.is_empty() && self.trace_hash != outcome.trace_hash {
            return Err(format!("trace hash {} differs from the recorded {}", outcome.trace_hash, self.trace_hash));
        }
        Ok(())
    }
}

fn first_line(text: &str) -> &str {
    text.lines().next().unwrap_or_default()
}

/// Every fixture file in `dir`, sorted by name.
pub fn fixture_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|entries| {
            entries.flatten().map(|entry| entry.path()).filter(|p| p.extension().is_some_and(|e| e == "json")).collect()
        })
        .unwrap_or_default();
    files.sort();
    files
}
