//! `replay`: one run again, from a seed or a fixture, readable (`--trace`), drawn (`--svg`) or recorded.

use crate::args::OptionArgs;
use clap::Args;
use sim::fixture::{Expect, Fixture};
use sim::outcome::RunOutcome;
use sim::svg::Timeline;
use sim::world;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[derive(Args, Debug, Clone)]
pub struct ReplayArgs {
    /// A seed, or a fixture file (`fixtures/seeds/*.json`).
    target: String,
    /// Runs the baseline strategy (pivot-style snapshot sync, `sweep baseline`) in the same world instead.
    #[arg(long)]
    pivot: bool,
    /// Prints the event log readably.
    #[arg(long)]
    trace: bool,
    /// Draws a timeline of the run as an SVG.
    #[arg(long, value_name = "FILE")]
    svg: Option<PathBuf>,
    /// Draws only this span of simulated time, in ms (`START:END`, either side may be empty).
    #[arg(long, value_name = "START:END")]
    svg_range: Option<String>,
    /// Records the run as a fixture: for a seed, a new file in `--fixtures`; for a fixture file, its trace hash
    /// and expectation are rewritten to what the run does now (after reviewing an intended behaviour change).
    #[arg(long)]
    record: bool,
    /// With `--record` of a seed: the one-line description of the fixture.
    #[arg(long)]
    description: Option<String>,
    /// Where `--record` of a seed writes.
    #[arg(long, default_value = "fixtures/seeds")]
    fixtures: PathBuf,
    #[command(flatten)]
    options: OptionArgs,
}

pub fn replay(args: &ReplayArgs) -> Result<ExitCode, String> {
    let (options, fixture) = match args.target.parse::<u64>() {
        Ok(seed) => (args.options.for_seed(seed)?, None),
        Err(_) => {
            let fixture = Fixture::load(Path::new(&args.target))?;
            (fixture.options.clone(), Some(fixture))
        }
    };
    if args.pivot {
        return Ok(replay_pivot(&options));
    }
    let recording = world::Recording { trace: args.trace, timeline: args.svg.is_some(), ..Default::default() };
    let world::Recorded { outcome, timeline, trace: lines, .. } = world::run_with(&options, recording);
    if let Some(lines) = lines {
        use std::io::Write;
        let mut out = std::io::stdout().lock();
        for line in lines {
            if writeln!(out, "{line}").is_err() {
                return Ok(ExitCode::SUCCESS); // the reader went away (`| head`)
            }
        }
    }
    print_outcome(&options, &outcome, "pass".into());
    let again = world::run_with(&options, world::Recording { hash_only: true, ..Default::default() });
    let deterministic = again.outcome.trace_hash == outcome.trace_hash;
    println!(
        "determinism: {}",
        if deterministic { "same trace hash on a second run" } else { "DIFFERENT trace hash on a second run" }
    );
    if let (Some(path), Some(timeline)) = (&args.svg, timeline) {
        draw_timeline(path, timeline, args.svg_range.as_deref(), &options, &outcome)?;
    }
    if args.record {
        let path = record(args, fixture.as_ref(), &options, &outcome)?;
        println!("recorded: {}", path.display());
        return Ok(ExitCode::SUCCESS);
    }
    let fixture_ok = match &fixture {
        Some(fixture) => match fixture.check(&outcome) {
            Ok(()) => {
                println!("fixture: as recorded ({:?})", fixture.expect);
                true
            }
            Err(difference) => {
                println!("fixture: {difference}");
                false
            }
        },
        None => outcome.failure.is_none(),
    };
    Ok(if fixture_ok && deterministic { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}

/// The options, the result (`passed` says what a pass is called), the trace hash and the figures.
fn print_outcome(options: &sim::Options, outcome: &RunOutcome, passed: String) {
    println!("options: {}", options.to_json());
    match &outcome.failure {
        None => println!("result: {passed}"),
        Some(failure) => println!("result: {} failure at {} ms: {}", failure.class, failure.at_ms, failure.what),
    }
    println!("trace hash: {}", outcome.trace_hash);
    println!("canonical chain: {} (genesis to #{})", outcome.stats.chain_hash, outcome.stats.chain_height);
    println!("stats: {}", serde_json::to_string(&outcome.stats).unwrap_or_default());
}

/// The same world with the baseline strategy (pivot-style snapshot sync), run twice.
fn replay_pivot(options: &sim::Options) -> ExitCode {
    let outcome = sim::baseline::run(options);
    let finished = format!("pivot sync finished at {} ms", outcome.stats.completed_ms.unwrap_or_default());
    print_outcome(options, &outcome, finished);
    let deterministic = sim::baseline::run(options).trace_hash == outcome.trace_hash;
    println!("determinism: {}", if deterministic { "same trace hash" } else { "DIFFERENT trace hash" });
    if deterministic {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// Writes the run's timeline as an SVG, zoomed to `range` (`START:END` in ms, either side may be empty).
fn draw_timeline(
    path: &Path,
    mut timeline: Timeline,
    range: Option<&str>,
    options: &sim::Options,
    outcome: &RunOutcome,
) -> Result<(), String> {
    if let Some(range) = range {
        let (start, end) = range.split_once(':').ok_or("--svg-range takes START:END")?;
        let parse = |text: &str, default: u64| {
            if text.is_empty() {
                Ok(default)
            } else {
                text.parse::<u64>().map_err(|e| format!("--svg-range: {e}"))
            }
        };
        let end_ms = parse(end, timeline.end_ms)?;
        timeline = timeline.window(parse(start, 0)?, end_ms);
    }
    let verdict = outcome.failure.as_ref().map_or("pass".to_string(), |f| f.class.to_string());
    let title = format!("seed {} · {verdict}", options.seed);
    std::fs::write(path, timeline.render(&title)).map_err(|e| format!("{}: {e}", path.display()))?;
    println!("timeline: {}", path.display());
    Ok(())
}

/// `--record`: a fixture file's trace hash and expectation are rewritten to what the run does now; a seed
/// becomes a new fixture in `--fixtures`.
fn record(
    args: &ReplayArgs,
    fixture: Option<&Fixture>,
    options: &sim::Options,
    outcome: &RunOutcome,
) -> Result<PathBuf, String> {
    match fixture {
        Some(recorded) => {
            let mut updated = recorded.clone();
            updated.trace_hash = outcome.trace_hash.clone();
            updated.expect = if outcome.failure.is_some() { Expect::Fail } else { Expect::Pass };
            if outcome.failure.is_some() {
                updated.failure = outcome.failure.clone();
            }
            let path = PathBuf::from(&args.target);
            let json = serde_json::to_string_pretty(&updated).map_err(|e| e.to_string())?;
            std::fs::write(&path, json + "\n").map_err(|e| format!("{}: {e}", path.display()))?;
            Ok(path)
        }
        None => {
            let mut recorded = Fixture::from_outcome(options, outcome);
            if let Some(description) = &args.description {
                recorded.description = description.clone();
            }
            recorded.save(&args.fixtures).map_err(|e| e.to_string())
        }
    }
}
