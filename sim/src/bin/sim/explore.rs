//! `explore`: many seeded worlds on all cores, one summary; `merge`: the summary of sharded runs.

use crate::args::OptionArgs;
use crate::{jobs, progress_bar, run_seeds};
use clap::Args;
use sim::fixture::Fixture;
use sim::outcome::{Failure, FailureClass, RunOutcome};
use sim::{world, Options};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Args, Debug, Clone)]
pub struct ExploreArgs {
    /// How many seeds to run.
    #[arg(long, default_value_t = 2000)]
    seeds: u64,
    /// The first seed.
    #[arg(long, default_value_t = 0)]
    seed_start: u64,
    /// Worker threads (default: all cores).
    #[arg(long)]
    jobs: Option<usize>,
    /// Runs every seed twice and fails any whose trace hashes differ.
    #[arg(long)]
    check_determinism: bool,
    /// Runs one seed in this many twice (seeds `≡ 0 mod N`) and fails any whose trace hashes differ, so that
    /// nondeterminism fails the main job too; 0 turns the sample off.
    #[arg(long, default_value_t = 16, value_name = "N")]
    determinism_sample: u64,
    /// Saves every failure as fixtures/seeds/<class>-<seed>.json.
    #[arg(long)]
    save: bool,
    /// Where `--save` writes.
    #[arg(long, default_value = "fixtures/seeds")]
    fixtures: PathBuf,
    /// No progress bar (for CI logs).
    #[arg(long)]
    quiet: bool,
    /// Lists the knob names `--set` takes and exits.
    #[arg(long)]
    list_knobs: bool,
    /// Runs only the seeds of shard `I` of `N` (`I/N`, 0-based): seed offsets `≡ I (mod N)`.
    #[arg(long, value_name = "I/N")]
    shard: Option<String>,
    /// Writes one JSON line per run (outcome and replay command) to this file, for `merge`.
    #[arg(long, value_name = "FILE")]
    jsonl: Option<PathBuf>,
    #[command(flatten)]
    options: OptionArgs,
}

impl Default for ExploreArgs {
    fn default() -> Self {
        ExploreArgs {
            seeds: 2000,
            seed_start: 0,
            jobs: None,
            check_determinism: false,
            determinism_sample: 16,
            save: false,
            fixtures: PathBuf::from("fixtures/seeds"),
            quiet: false,
            list_knobs: false,
            shard: None,
            jsonl: None,
            options: OptionArgs::default(),
        }
    }
}

#[derive(Args, Debug, Clone)]
pub struct MergeArgs {
    /// JSON-lines files written by `explore --jsonl`.
    files: Vec<PathBuf>,
}

/// One line of `explore --jsonl`.
#[derive(serde::Serialize, serde::Deserialize)]
struct RunLine {
    outcome: RunOutcome,
    replay: String,
    /// Wall time of the run in ms (its determinism replay left out; a loaded or paused machine inflates it): what
    /// the seed costs to explore, not part of the outcome. Absent (0) in files written before it was added.
    #[serde(default)]
    wall_ms: f64,
}

/// How many of the slowest runs the summary names.
const SLOWEST_SHOWN: usize = 5;

/// The summary line naming the slowest runs, `(seed, ms)`, slowest first; empty when no run was timed.
fn slowest_line(mut times: Vec<(u64, f64)>) -> String {
    times.retain(|(_, ms)| *ms > 0.0);
    if times.is_empty() {
        return String::new();
    }
    let total: f64 = times.iter().map(|(_, ms)| ms).sum();
    times.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    let named: Vec<String> = times.iter().take(SLOWEST_SHOWN).map(|(seed, ms)| format!("{seed} {ms:.0} ms")).collect();
    let share: f64 = times.iter().take(SLOWEST_SHOWN).map(|(_, ms)| ms).sum::<f64>() / total;
    format!("slowest runs         {} ({:.1} % of run time)\n", named.join(" · "), 100.0 * share)
}

/// The seeds of one shard: offsets `i, i + n, i + 2n, …` below `seeds`.
fn shard_seeds(args: &ExploreArgs) -> Result<Vec<u64>, String> {
    let (index, count) = match &args.shard {
        None => (0, 1),
        Some(text) => {
            let (i, n) = text.split_once('/').ok_or("--shard takes I/N")?;
            let (i, n): (u64, u64) =
                (i.parse().map_err(|e| format!("--shard: {e}"))?, n.parse().map_err(|e| format!("--shard: {e}"))?);
            if n == 0 || i >= n {
                return Err(format!("--shard {text}: need 0 <= I < N"));
            }
            (i, n)
        }
    };
    Ok((0..args.seeds).filter(|offset| offset % count == index).map(|offset| args.seed_start + offset).collect())
}

pub fn merge(args: &MergeArgs) -> Result<ExitCode, String> {
    let mut lines: Vec<RunLine> = Vec::new();
    for path in &args.files {
        let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
        for (number, line) in text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
            lines.push(serde_json::from_str(line).map_err(|e| format!("{}:{}: {e}", path.display(), number + 1))?);
        }
    }
    lines.sort_by_key(|line| line.outcome.seed);
    lines.dedup_by_key(|line| line.outcome.seed);
    for line in lines.iter().filter(|line| line.outcome.failure.is_some()) {
        print_failure(&line.outcome, &line.replay);
    }
    let times = lines.iter().map(|line| (line.outcome.seed, line.wall_ms)).collect();
    let outcomes: Vec<RunOutcome> = lines.into_iter().map(|line| line.outcome).collect();
    print!("{}", sim::summary::render(&outcomes, 0.0, 0));
    print!("{}", slowest_line(times));
    Ok(if outcomes.iter().all(RunOutcome::passed) { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}

fn print_failure(outcome: &RunOutcome, replay: &str) {
    if let Some(failure) = &outcome.failure {
        println!("FAIL {} seed {} at {} ms: {}", failure.class, outcome.seed, failure.at_ms, failure.what);
        println!("  replay: {replay}");
    }
}

#[allow(clippy::disallowed_methods)] // the CLI times the whole exploration
pub fn explore(args: &ExploreArgs) -> Result<ExitCode, String> {
    if args.list_knobs {
        let json = serde_json::to_value(Options::default()).map_err(|e| e.to_string())?;
        let names: Vec<&String> = json.as_object().map(|o| o.keys().collect()).unwrap_or_default();
        println!("{}", names.iter().map(|s| s.as_str()).collect::<Vec<_>>().join("\n"));
        return Ok(ExitCode::SUCCESS);
    }
    args.options.for_seed(args.seed_start)?; // fail early on bad overrides
    let seeds = shard_seeds(args)?;
    let jobs = jobs(args.jobs);
    let progress = progress_bar(seeds.len() as u64, args.quiet);
    let started = std::time::Instant::now();
    let outcomes: Vec<(Options, RunOutcome, f64)> = run_seeds(seeds.len() as u64, jobs, &progress, |index| {
        let seed = seeds[index as usize];
        let options = args.options.for_seed(seed).expect("checked above");
        let run_started = std::time::Instant::now();
        let mut outcome = world::run(&options);
        let wall_ms = run_started.elapsed().as_secs_f64() * 1000.0;
        let sampled = args.determinism_sample > 0 && seed % args.determinism_sample == 0;
        if (args.check_determinism || sampled) && outcome.failure.is_none() {
            let again = world::run_with(&options, world::Recording { hash_only: true, ..Default::default() }).outcome;
            if again.trace_hash != outcome.trace_hash {
                let what = format!("trace hash {} then {}", outcome.trace_hash, again.trace_hash);
                outcome.failure = Some(Failure { class: FailureClass::Determinism, at_ms: 0, what });
            } else {
                outcome.stats.replayed = true;
            }
        }
        (options, outcome, wall_ms)
    });
    progress.finish_and_clear();
    let elapsed = started.elapsed().as_secs_f64();
    let failures: Vec<&(Options, RunOutcome, f64)> = outcomes.iter().filter(|(_, o, _)| o.failure.is_some()).collect();
    let replay_line = |seed: u64| format!("cargo run --release -p sim -- replay {seed}{}", args.options.replay_flags());
    if let Some(path) = &args.jsonl {
        let mut text = String::new();
        for (_, outcome, wall_ms) in &outcomes {
            let line = RunLine { outcome: outcome.clone(), replay: replay_line(outcome.seed), wall_ms: *wall_ms };
            text.push_str(&serde_json::to_string(&line).map_err(|e| e.to_string())?);
            text.push('\n');
        }
        std::fs::write(path, text).map_err(|e| format!("{}: {e}", path.display()))?;
    }
    for (options, outcome, _) in &failures {
        print_failure(outcome, &replay_line(outcome.seed));
        if args.save {
            let path = Fixture::from_outcome(options, outcome).save(&args.fixtures).map_err(|e| e.to_string())?;
            println!("  saved: {}", path.display());
        }
    }
    print!("{}", sim::summary::render(&outcomes.iter().map(|(_, o, _)| o.clone()).collect::<Vec<_>>(), elapsed, jobs));
    print!("{}", slowest_line(outcomes.iter().map(|(_, o, ms)| (o.seed, *ms)).collect()));
    Ok(if failures.is_empty() { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}
