//! The simulator's command line (`cargo run --release -p sim -- …`).
//!
//! - `explore`: many swarm seeds on all cores, a progress bar, a summary, one replay line per failure;
//! - `replay`: one run again, from a seed or a fixture, with `--trace` and `--svg`;
//! - `trie`: the trie-only download job.
//!
//! The CLI may read the wall clock to report runs per second; a run itself never does.

use clap::{Args, Parser, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use sim::fixture::{Expect, Fixture};
use sim::outcome::{Failure, FailureClass, RunOutcome};
use sim::{world, Options};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

#[derive(Parser, Debug)]
#[command(name = "sim", about = "Deterministic simulation of state live sync", version)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Runs many seeded worlds on all cores and prints a summary; exits non-zero if any run failed.
    Explore(ExploreArgs),
    /// Runs one world again: a seed (with the same option overrides) or a fixture file.
    Replay(ReplayArgs),
    /// Combines the JSON lines of `explore --shard` runs into one summary (the same as one machine's).
    Merge(MergeArgs),
    /// Runs a sweep and prints its table: byzantine classes, efficiency at fork rates, sensitivity.
    Sweep(SweepArgs),
    /// Downloads random states through the trie API alone (no engine, no network).
    Trie(TrieArgs),
}

/// Where a run's options come from: the swarm draw for its seed, a JSON file, then `--set` overrides.
#[derive(Args, Debug, Clone, Default)]
struct OptionArgs {
    /// Options as JSON (a full `Options` object, or a fixture file); the seed still comes from the run.
    #[arg(long, value_name = "FILE")]
    options: Option<PathBuf>,
    /// Overrides one knob: `--set loss=0.1 --set key_shape=clustered` (repeatable; `--list-knobs` shows them).
    #[arg(long = "set", value_name = "KNOB=VALUE")]
    sets: Vec<String>,
    /// Which world a seed starts from: its swarm draw, the small world, or the large one.
    #[arg(long, value_enum, default_value_t = World::Swarm)]
    world: World,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug, Default, PartialEq, Eq)]
enum World {
    /// Every knob drawn from the seed.
    #[default]
    Swarm,
    /// 3 honest peers, 2 000 accounts, 100 blocks of 1 s, a mildly lossy network (`Options::default`).
    Small,
    /// 20 honest peers, 10⁵ accounts, 2 000 blocks (`Options::large`).
    Large,
}

impl OptionArgs {
    fn for_seed(&self, seed: u64) -> Result<Options, String> {
        let mut options = match &self.options {
            Some(path) => load_options(path)?,
            None => match self.world {
                World::Swarm => Options::swarm(seed),
                World::Small => Options::default(),
                World::Large => Options::large(),
            },
        };
        options.seed = seed;
        for set in &self.sets {
            let (name, value) = set.split_once('=').ok_or_else(|| format!("--set {set}: expected KNOB=VALUE"))?;
            options.set(name.trim(), value.trim())?;
        }
        Ok(options)
    }

    /// The flags that reproduce these overrides on a command line.
    fn replay_flags(&self) -> String {
        let mut flags = String::new();
        if let Some(path) = &self.options {
            flags.push_str(&format!(" --options {}", path.display()));
        }
        if self.world != World::Swarm {
            flags.push_str(&format!(" --world {}", format!("{:?}", self.world).to_lowercase()));
        }
        for set in &self.sets {
            flags.push_str(&format!(" --set '{set}'"));
        }
        flags
    }
}

fn load_options(path: &Path) -> Result<Options, String> {
    let text = std::fs::read_to_string(path).map_err(|error| format!("{}: {error}", path.display()))?;
    serde_json::from_str::<Options>(&text)
        .or_else(|_| serde_json::from_str::<Fixture>(&text).map(|fixture| fixture.options))
        .map_err(|error| format!("{}: {error}", path.display()))
}

#[derive(Args, Debug, Clone)]
struct ExploreArgs {
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
struct ReplayArgs {
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

#[derive(Args, Debug, Clone)]
struct SweepArgs {
    #[arg(value_enum)]
    kind: SweepKind,
    /// Seeds per cell.
    #[arg(long, default_value_t = 100)]
    seeds: u64,
    #[arg(long, default_value_t = 0)]
    seed_start: u64,
    /// Peers in the byzantine sweep (liars k ∈ {1, n/2, n−1}).
    #[arg(long, default_value_t = 6)]
    peers: u32,
    #[arg(long)]
    jobs: Option<usize>,
    #[arg(long)]
    quiet: bool,
    /// `baseline`: also draws the comparison as an SVG (completion time and finished share vs block time).
    #[arg(long, value_name = "FILE")]
    svg: Option<PathBuf>,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug)]
enum SweepKind {
    /// Every byzantine class × k liars of n peers, against the same seeds without liars.
    Byzantine,
    /// Bytes, waste and completion against the lower bound at fork rates 0 %, 10 %, 30 %.
    Efficiency,
    /// Chunk size × chunk requests in flight against completion time (10 % forks).
    Sensitivity,
    /// Flood and size attacks: every buffer's peak next to its configured bound.
    Floods,
    /// Live sync against pivot-style snapshot sync on the same seeds, as the block time falls.
    Baseline,
}

/// The worlds of a sweep, each with the label of its group.
type Worlds = Vec<(String, Options)>;
/// Turns a sweep's outcomes, grouped by label, into its table and whether it passed.
type Table = Box<dyn Fn(&BTreeMap<String, Vec<RunOutcome>>) -> (String, bool)>;

#[allow(clippy::disallowed_methods)] // the CLI times the sweep
fn sweep(args: &SweepArgs) -> Result<ExitCode, String> {
    use sim::sweep::*;
    let jobs = jobs(args.jobs);
    let started = std::time::Instant::now();
    let seeds: Vec<u64> = (args.seed_start..args.seed_start + args.seeds).collect();
    // Every sweep is a list of (label, options) worlds; run them all on all cores, then group.
    let (worlds, table): (Worlds, Table) = match args.kind {
        SweepKind::Byzantine => {
            let cells = byzantine_cells(args.peers.max(2));
            let mut worlds = Vec::new();
            // The reference of a cell (same seeds, the liars' places left empty) depends only on k: run it once.
            let mut referenced = Vec::new();
            for cell in &cells {
                if !referenced.contains(&cell.liars) {
                    referenced.push(cell.liars);
                    worlds.extend(seeds.iter().map(|&seed| (format!("ref {}", cell.liars), cell.reference(seed))));
                }
                for &seed in &seeds {
                    worlds.push((format!("run {:?} {}", cell.class, cell.liars), cell.options(seed)));
                }
            }
            let table = move |groups: &BTreeMap<String, Vec<RunOutcome>>| {
                let rows: Vec<(ByzantineCell, ByzantineRow)> = cells
                    .iter()
                    .map(|cell| {
                        let empty = Vec::new();
                        let runs = groups.get(&format!("run {:?} {}", cell.class, cell.liars)).unwrap_or(&empty);
                        let references = groups.get(&format!("ref {}", cell.liars)).unwrap_or(&empty);
                        (*cell, byzantine_row(runs, references))
                    })
                    .collect();
                let ok =
                    rows.iter().all(|(_, row)| row.crashes + row.safety + row.liveness == 0 && row.honest_evicted == 0);
                (render_byzantine(&rows), ok)
            };
            (worlds, Box::new(table))
        }
        SweepKind::Efficiency => {
            let rates = [("0 %", 0.0), ("10 %", 0.1), ("30 %", 0.3)];
            let worlds = rates
                .iter()
                .flat_map(|(name, rate)| {
                    seeds.iter().map(move |&seed| (name.to_string(), efficiency_options(seed, *rate)))
                })
                .collect();
            let table = move |groups: &BTreeMap<String, Vec<RunOutcome>>| {
                let rows: Vec<(String, EfficiencyRow)> = rates
                    .iter()
                    .map(|(name, _)| {
                        (name.to_string(), efficiency_row(groups.get(*name).map_or(&[][..], Vec::as_slice)))
                    })
                    .collect();
                let ok = rows.iter().all(|(_, row)| row.failed == 0);
                (render_efficiency("fork rate", &rows), ok)
            };
            (worlds, Box::new(table))
        }
        SweepKind::Floods => {
            let cells = flood_cells(args.peers.max(2));
            let label = |cell: &ByzantineCell| format!("{} {}/{}", cell.class.name(), cell.liars, cell.peers);
            let mut labels = vec!["no liars".to_string()];
            let mut worlds: Worlds = seeds.iter().map(|&seed| (labels[0].clone(), cells[0].reference(seed))).collect();
            for cell in &cells {
                labels.push(label(cell));
                worlds.extend(seeds.iter().map(|&seed| (label(cell), cell.options(seed))));
            }
            let table = move |groups: &BTreeMap<String, Vec<RunOutcome>>| {
                let rows: Vec<(String, FloodRow)> = labels
                    .iter()
                    .map(|label| (label.clone(), flood_row(groups.get(label).map_or(&[][..], Vec::as_slice))))
                    .collect();
                let ok = rows.iter().all(|(_, row)| row.failed == 0);
                (render_floods(&rows), ok)
            };
            (worlds, Box::new(table))
        }
        SweepKind::Baseline => {
            // Each world twice: the label says which strategy runs it.
            let mut worlds = Vec::new();
            for block_time in COMPARISON_BLOCK_TIMES_MS {
                for &seed in &seeds {
                    let options = sim::baseline::comparison_options(seed, block_time, COMPARISON_BUDGET_MS);
                    worlds.push((format!("live {block_time}"), options.clone()));
                    worlds.push((format!("pivot {block_time}"), options));
                }
            }
            let svg = args.svg.clone();
            let table = move |groups: &BTreeMap<String, Vec<RunOutcome>>| {
                let mut rows = Vec::new();
                for block_time in COMPARISON_BLOCK_TIMES_MS {
                    for strategy in ["live", "pivot"] {
                        let runs = groups.get(&format!("{strategy} {block_time}")).map_or(&[][..], Vec::as_slice);
                        rows.push((block_time, strategy, comparison_row(runs, COMPARISON_BUDGET_MS)));
                    }
                }
                let mut text = render_comparison(&rows);
                if let Some(path) = &svg {
                    let written = sim::plot::comparison_svg(&rows, COMPARISON_BUDGET_MS)
                        .and_then(|svg| std::fs::write(path, svg).map_err(|e| e.to_string()));
                    match written {
                        Ok(()) => text.push_str(&format!("plot written to {}\n", path.display())),
                        Err(error) => text.push_str(&format!("plot not written: {error}\n")),
                    }
                }
                // Live sync must finish wherever the chain is sustainable; neither may break a safety check.
                let ok = rows.iter().all(|(_, _, row)| row.broken == 0)
                    && rows.iter().filter(|(_, s, _)| *s == "live").all(|(_, _, row)| row.finished == row.runs);
                (text, ok)
            };
            (worlds, Box::new(table))
        }
        SweepKind::Sensitivity => {
            let mut labels = Vec::new();
            let mut worlds = Vec::new();
            for chunk in [16u32, 64, 256, 1_000, 4_096] {
                for in_flight in [1u8, 2, 3] {
                    let label = format!("chunk {chunk:>4}, {in_flight} in flight");
                    labels.push(label.clone());
                    worlds
                        .extend(seeds.iter().map(|&seed| (label.clone(), sensitivity_options(seed, chunk, in_flight))));
                }
            }
            let table = move |groups: &BTreeMap<String, Vec<RunOutcome>>| {
                let rows: Vec<(String, EfficiencyRow)> = labels
                    .iter()
                    .map(|label| (label.clone(), efficiency_row(groups.get(label).map_or(&[][..], Vec::as_slice))))
                    .collect();
                let ok = rows.iter().all(|(_, row)| row.failed == 0);
                (render_efficiency("chunk size, requests in flight", &rows), ok)
            };
            (worlds, Box::new(table))
        }
    };
    let progress = progress_bar(worlds.len() as u64, args.quiet);
    let outcomes = run_seeds(worlds.len() as u64, jobs, &progress, |index| {
        let (label, options) = &worlds[index as usize];
        if label.starts_with("pivot ") {
            sim::baseline::run(options)
        } else {
            world::run(options)
        }
    });
    progress.finish_and_clear();
    let mut groups: BTreeMap<String, Vec<RunOutcome>> = BTreeMap::new();
    for ((label, options), outcome) in worlds.iter().zip(outcomes) {
        // A pivot sync that does not finish is what the baseline sweep measures, not a failure to report.
        let expected = label.starts_with("pivot ")
            && outcome.failure.as_ref().is_some_and(|failure| failure.class == FailureClass::Liveness);
        if let Some(failure) = outcome.failure.as_ref().filter(|_| !expected) {
            let dir = PathBuf::from("target/sweep-failures");
            let path =
                dir.join(format!("{}-{}.json", label.replace(|c: char| !c.is_ascii_alphanumeric(), "_"), outcome.seed));
            std::fs::create_dir_all(&dir)
                .and_then(|()| std::fs::write(&path, options.to_json()))
                .map_err(|e| e.to_string())?;
            println!("FAIL {} seed {} ({label}): {}", failure.class, outcome.seed, failure.what);
            let pivot = if label.starts_with("pivot ") { " --pivot" } else { "" };
            println!(
                "  replay: cargo run --release -p sim -- replay {} --options {}{pivot}",
                outcome.seed,
                path.display()
            );
        }
        groups.entry(label.clone()).or_default().push(outcome);
    }
    let (text, ok) = table(&groups);
    print!("{text}");
    println!("{} runs in {:.1} s on {jobs} threads", worlds.len(), started.elapsed().as_secs_f64());
    Ok(if ok { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}

#[derive(Args, Debug, Clone)]
struct MergeArgs {
    /// JSON-lines files written by `explore --jsonl`.
    files: Vec<PathBuf>,
}

/// One line of `explore --jsonl`.
#[derive(serde::Serialize, serde::Deserialize)]
struct RunLine {
    outcome: RunOutcome,
    replay: String,
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

fn merge(args: &MergeArgs) -> Result<ExitCode, String> {
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
    let outcomes: Vec<RunOutcome> = lines.into_iter().map(|line| line.outcome).collect();
    print!("{}", sim::summary::render(&outcomes, 0.0, 0));
    Ok(if outcomes.iter().all(RunOutcome::passed) { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}

fn print_failure(outcome: &RunOutcome, replay: &str) {
    if let Some(failure) = &outcome.failure {
        println!("FAIL {} seed {} at {} ms: {}", failure.class, outcome.seed, failure.at_ms, failure.what);
        println!("  replay: {replay}");
    }
}

#[derive(Args, Debug, Clone)]
struct TrieArgs {
    #[arg(long, default_value_t = 500)]
    seeds: u64,
    #[arg(long, default_value_t = 0)]
    seed_start: u64,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command.unwrap_or(Command::Explore(ExploreArgs::default())) {
        Command::Explore(args) => explore(&args),
        Command::Replay(args) => replay(&args),
        Command::Merge(args) => merge(&args),
        Command::Sweep(args) => sweep(&args),
        Command::Trie(args) => trie(&args),
    };
    match result {
        Ok(code) => code,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::from(2)
        }
    }
}

fn jobs(requested: Option<usize>) -> usize {
    requested.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get())).max(1)
}

/// Runs `count` seeds on `jobs` threads (parallelism across seeds only) and returns outcomes in seed order.
#[allow(clippy::disallowed_methods)] // worker threads run whole seeds; nothing inside a run is shared
fn run_seeds<T: Send>(count: u64, jobs: usize, progress: &ProgressBar, work: impl Fn(u64) -> T + Sync) -> Vec<T> {
    let next = AtomicU64::new(0);
    let results: Mutex<BTreeMap<u64, T>> = Mutex::new(BTreeMap::new());
    std::thread::scope(|scope| {
        for _ in 0..jobs {
            scope.spawn(|| loop {
                let index = next.fetch_add(1, Ordering::Relaxed);
                if index >= count {
                    break;
                }
                let result = work(index);
                results.lock().unwrap_or_else(|poison| poison.into_inner()).insert(index, result);
                progress.inc(1);
            });
        }
    });
    results.into_inner().unwrap_or_else(|poison| poison.into_inner()).into_values().collect()
}

fn progress_bar(count: u64, quiet: bool) -> ProgressBar {
    if quiet {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(count);
    if let Ok(style) =
        ProgressStyle::with_template("{spinner} [{elapsed_precise}] {bar:40} {pos}/{len} seeds · {per_sec} · eta {eta}")
    {
        bar.set_style(style);
    }
    bar
}

#[allow(clippy::disallowed_methods)] // the CLI times the whole exploration
fn explore(args: &ExploreArgs) -> Result<ExitCode, String> {
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
    let outcomes: Vec<(Options, RunOutcome)> = run_seeds(seeds.len() as u64, jobs, &progress, |index| {
        let seed = seeds[index as usize];
        let options = args.options.for_seed(seed).expect("checked above");
        let mut outcome = world::run(&options);
        if args.check_determinism && outcome.failure.is_none() {
            let again = world::run(&options);
            if again.trace_hash != outcome.trace_hash {
                let what = format!("trace hash {} then {}", outcome.trace_hash, again.trace_hash);
                outcome.failure = Some(Failure { class: FailureClass::Determinism, at_ms: 0, what });
            }
        }
        (options, outcome)
    });
    progress.finish_and_clear();
    let elapsed = started.elapsed().as_secs_f64();
    let failures: Vec<&(Options, RunOutcome)> = outcomes.iter().filter(|(_, o)| o.failure.is_some()).collect();
    let replay_line = |seed: u64| format!("cargo run --release -p sim -- replay {seed}{}", args.options.replay_flags());
    if let Some(path) = &args.jsonl {
        let mut text = String::new();
        for (_, outcome) in &outcomes {
            let line = RunLine { outcome: outcome.clone(), replay: replay_line(outcome.seed) };
            text.push_str(&serde_json::to_string(&line).map_err(|e| e.to_string())?);
            text.push('\n');
        }
        std::fs::write(path, text).map_err(|e| format!("{}: {e}", path.display()))?;
    }
    for (options, outcome) in &failures {
        print_failure(outcome, &replay_line(outcome.seed));
        if args.save {
            let path = Fixture::from_outcome(options, outcome).save(&args.fixtures).map_err(|e| e.to_string())?;
            println!("  saved: {}", path.display());
        }
    }
    print!("{}", sim::summary::render(&outcomes.iter().map(|(_, o)| o.clone()).collect::<Vec<_>>(), elapsed, jobs));
    Ok(if failures.is_empty() { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}

fn replay(args: &ReplayArgs) -> Result<ExitCode, String> {
    let (options, fixture) = match args.target.parse::<u64>() {
        Ok(seed) => (args.options.for_seed(seed)?, None),
        Err(_) => {
            let fixture = Fixture::load(Path::new(&args.target))?;
            (fixture.options.clone(), Some(fixture))
        }
    };
    if args.pivot {
        let outcome = sim::baseline::run(&options);
        println!("options: {}", options.to_json());
        match &outcome.failure {
            None => println!("result: pivot sync finished at {} ms", outcome.stats.completed_ms.unwrap_or_default()),
            Some(failure) => println!("result: {} failure at {} ms: {}", failure.class, failure.at_ms, failure.what),
        }
        println!("trace hash: {}", outcome.trace_hash);
        println!("stats: {}", serde_json::to_string(&outcome.stats).unwrap_or_default());
        let deterministic = sim::baseline::run(&options).trace_hash == outcome.trace_hash;
        println!("determinism: {}", if deterministic { "same trace hash" } else { "DIFFERENT trace hash" });
        return Ok(if deterministic { ExitCode::SUCCESS } else { ExitCode::FAILURE });
    }
    let recording = world::Recording { trace: args.trace, timeline: args.svg.is_some(), events: false };
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
    println!("options: {}", options.to_json());
    match &outcome.failure {
        None => println!("result: pass"),
        Some(failure) => println!("result: {} failure at {} ms: {}", failure.class, failure.at_ms, failure.what),
    }
    println!("trace hash: {}", outcome.trace_hash);
    println!("stats: {}", serde_json::to_string(&outcome.stats).unwrap_or_default());
    let again = world::run(&options);
    let deterministic = again.trace_hash == outcome.trace_hash;
    println!(
        "determinism: {}",
        if deterministic { "same trace hash on a second run" } else { "DIFFERENT trace hash on a second run" }
    );
    if let (Some(path), Some(mut timeline)) = (&args.svg, timeline) {
        if let Some(range) = &args.svg_range {
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
        let title = format!(
            "seed {} · {}",
            options.seed,
            outcome.failure.as_ref().map_or("pass".to_string(), |f| f.class.to_string())
        );
        std::fs::write(path, timeline.render(&title)).map_err(|e| format!("{}: {e}", path.display()))?;
        println!("timeline: {}", path.display());
    }
    if args.record {
        let path = match &fixture {
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
                path
            }
            None => {
                let mut recorded = Fixture::from_outcome(&options, &outcome);
                if let Some(description) = &args.description {
                    recorded.description = description.clone();
                }
                recorded.save(&args.fixtures).map_err(|e| e.to_string())?
            }
        };
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

#[allow(clippy::disallowed_methods)] // the CLI times the job
fn trie(args: &TrieArgs) -> Result<ExitCode, String> {
    use sim::trie_job::{run, TrieJobOptions};
    let started = std::time::Instant::now();
    let progress = progress_bar(args.seeds, false);
    let results = run_seeds(args.seeds, jobs(None), &progress, |index| {
        (args.seed_start + index, run(&TrieJobOptions::swarm(args.seed_start + index)))
    });
    progress.finish_and_clear();
    let mut failed = 0;
    let (mut chunks, mut items) = (0, 0);
    for (seed, result) in &results {
        match result {
            Ok(stats) => {
                chunks += stats.chunks;
                items += stats.items;
            }
            Err(failure) => {
                failed += 1;
                println!("FAIL seed {seed} at step {}: {}", failure.step, failure.what);
            }
        }
    }
    println!(
        "trie downloads: {} runs, {failed} failed, {chunks} chunks, {items} items, {:.1} s",
        results.len(),
        started.elapsed().as_secs_f64()
    );
    Ok(if failed == 0 { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}
