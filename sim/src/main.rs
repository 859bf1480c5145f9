//! The simulator's command line: `explore` runs many seeds on all cores and summarises them.
//!
//! The CLI may read the wall clock to report runs per second; a run itself never does.

use clap::{Parser, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use sim::trie_job::{self, TrieJobOptions, TrieJobStats};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Instant;

#[derive(Parser, Debug)]
#[command(name = "sim", about = "Deterministic simulation of state live sync")]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Runs many seeded worlds on all cores and prints a summary; exits non-zero if any run failed.
    Explore(ExploreArgs),
}

#[derive(clap::Args, Debug, Clone)]
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
}

impl Default for ExploreArgs {
    fn default() -> Self {
        ExploreArgs { seeds: 2000, seed_start: 0, jobs: None }
    }
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    match cli.command.unwrap_or(Command::Explore(ExploreArgs::default())) {
        Command::Explore(args) => explore(&args),
    }
}

#[allow(clippy::disallowed_methods)] // the CLI times runs; runs never read the clock
fn explore(args: &ExploreArgs) -> std::process::ExitCode {
    let jobs = args.jobs.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    let progress = ProgressBar::new(args.seeds);
    progress.set_style(ProgressStyle::with_template("{bar:40} {pos}/{len} seeds {per_sec} eta {eta}").expect("style"));
    let next = AtomicU64::new(0);
    let results: Mutex<Vec<(u64, Result<TrieJobStats, trie_job::TrieJobFailure>)>> = Mutex::new(Vec::new());
    let started = Instant::now();
    std::thread::scope(|scope| {
        for _ in 0..jobs {
            scope.spawn(|| loop {
                let index = next.fetch_add(1, Ordering::Relaxed);
                if index >= args.seeds {
                    break;
                }
                let seed = args.seed_start + index;
                let result = trie_job::run(&TrieJobOptions::swarm(seed));
                results.lock().expect("no worker panics while holding the lock").push((seed, result));
                progress.inc(1);
            });
        }
    });
    progress.finish_and_clear();
    let elapsed = started.elapsed().as_secs_f64();
    let mut results = results.into_inner().expect("workers joined");
    results.sort_by_key(|(seed, _)| *seed);
    let mut total = TrieJobStats::default();
    let mut failures = 0;
    for (seed, result) in &results {
        match result {
            Ok(stats) => {
                total.chunks += stats.chunks;
                total.items += stats.items;
                total.blocks += stats.blocks;
                total.diff_entries += stats.diff_entries;
                total.final_accounts += stats.final_accounts;
            }
            Err(failure) => {
                failures += 1;
                println!("FAIL seed {seed} at step {}: {}", failure.step, failure.what);
                println!("  replay: cargo run --release -p sim -- explore --seeds 1 --seed-start {seed}");
            }
        }
    }
    println!("runs            {}", results.len());
    println!("failures        {failures}");
    println!("runs/s          {:.0}", results.len() as f64 / elapsed);
    println!("chunks applied  {} ({} items, {:.0} items/s)", total.chunks, total.items, total.items as f64 / elapsed);
    println!("blocks applied  {} ({} diff entries)", total.blocks, total.diff_entries);
    println!("accounts synced {}", total.final_accounts);
    if failures == 0 {
        std::process::ExitCode::SUCCESS
    } else {
        std::process::ExitCode::FAILURE
    }
}
