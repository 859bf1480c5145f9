//! The simulator's command line (`cargo run --release -p sim -- …`).
//!
//! - `explore`: many swarm seeds on all cores, a progress bar, a summary, one replay line per failure;
//! - `merge`: the summary of `explore --shard` runs, as one machine would print it;
//! - `replay`: one run again, from a seed or a fixture, with `--trace` and `--svg`;
//! - `shrink`: the smallest world that still fails the way a seed fails;
//! - `sweep`: many worlds that differ in one dimension, as a table;
//! - `trie`: the trie-only download job.
//!
//! The CLI may read the wall clock to report runs per second and start threads to run seeds in parallel; a run
//! itself never does either.

mod args;
mod explore;
mod replay;
mod shrink;
mod sweep;

use clap::{Parser, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use std::collections::BTreeMap;
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

/// The simulator allocates and frees small vectors and tree nodes at a high rate (a fifth of explore's time went
/// to the system allocator); mimalloc serves them faster. Allocation never reaches a run's behaviour.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser, Debug)]
#[command(name = "sim", about = "Deterministic simulation of state live sync", version)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Runs many seeded worlds on all cores and prints a summary; exits non-zero if any run failed.
    Explore(explore::ExploreArgs),
    /// Runs one world again: a seed (with the same option overrides) or a fixture file.
    Replay(replay::ReplayArgs),
    /// Combines the JSON lines of `explore --shard` runs into one summary (the same as one machine's).
    Merge(explore::MergeArgs),
    /// From a failing seed, searches for the smallest world that still fails the same way and saves it.
    Shrink(shrink::ShrinkArgs),
    /// Runs a sweep and prints its table: byzantine classes, efficiency at fork rates, sensitivity.
    Sweep(sweep::SweepArgs),
    /// Downloads random states through the trie API alone (no engine, no network).
    Trie(TrieArgs),
}

#[derive(clap::Args, Debug, Clone)]
struct TrieArgs {
    #[arg(long, default_value_t = 500)]
    seeds: u64,
    #[arg(long, default_value_t = 0)]
    seed_start: u64,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    sim::panics::install_for_cli();
    let result = match cli.command.unwrap_or(Command::Explore(explore::ExploreArgs::default())) {
        Command::Explore(args) => explore::explore(&args),
        Command::Replay(args) => replay::replay(&args),
        Command::Merge(args) => explore::merge(&args),
        Command::Shrink(args) => shrink::shrink(&args),
        Command::Sweep(args) => sweep::sweep(&args),
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
