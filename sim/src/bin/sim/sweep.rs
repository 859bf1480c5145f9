//! `sweep`: the worlds of one sweep (`sim::sweep::Plan`) on all cores, then its table.

use crate::{jobs, progress_bar, run_seeds};
use clap::Args;
use sim::outcome::RunOutcome;
use sim::sweep::{Groups, Plan, SweepKind};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Args, Debug, Clone)]
pub struct SweepArgs {
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
    /// Lanes in every world of the sweep (1, 2, 4, 8 or 16; default: as the sweep sets them).
    #[arg(long)]
    lanes: Option<u32>,
    /// The node's downlink in bytes per ms in every world (0: unlimited; default: as the sweep sets it).
    #[arg(long)]
    downlink: Option<u64>,
    /// `baseline`: also draws the comparison as an SVG (completion time and finished share vs block time).
    #[arg(long, value_name = "FILE")]
    svg: Option<PathBuf>,
}

#[allow(clippy::disallowed_methods)] // the CLI times the sweep
pub fn sweep(args: &SweepArgs) -> Result<ExitCode, String> {
    let jobs = jobs(args.jobs);
    let started = std::time::Instant::now();
    let seeds: Vec<u64> = (args.seed_start..args.seed_start + args.seeds).collect();
    let plan = Plan::new(args.kind, &seeds, args.peers).with_lanes(args.lanes, args.downlink)?;
    let worlds = &plan.worlds;
    let progress = progress_bar(worlds.len() as u64, args.quiet);
    let outcomes = run_seeds(worlds.len() as u64, jobs, &progress, |index| {
        let (label, options) = &worlds[index as usize];
        Plan::run(label, options)
    });
    progress.finish_and_clear();
    let mut groups = Groups::new();
    for ((label, options), outcome) in worlds.iter().zip(outcomes) {
        report_failure(label, options, &outcome)?;
        groups.entry(label.clone()).or_default().push(outcome);
    }
    let table = plan.table(&groups);
    print!("{}", table.text);
    if let (Some(path), Some(svg)) = (&args.svg, table.svg) {
        match svg.and_then(|svg| std::fs::write(path, svg).map_err(|e| e.to_string())) {
            Ok(()) => println!("plot written to {}", path.display()),
            Err(error) => println!("plot not written: {error}"),
        }
    }
    println!("{} runs in {:.1} s on {jobs} threads", worlds.len(), started.elapsed().as_secs_f64());
    Ok(if table.ok { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}

/// A run that broke a promise: its options go to `target/sweep-failures/`, and its replay line is printed.
fn report_failure(label: &str, options: &sim::Options, outcome: &RunOutcome) -> Result<(), String> {
    let Some(failure) = outcome.failure.as_ref().filter(|_| !Plan::expected_failure(label, outcome)) else {
        return Ok(());
    };
    let dir = PathBuf::from("target/sweep-failures");
    let path = dir.join(format!("{}-{}.json", label.replace(|c: char| !c.is_ascii_alphanumeric(), "_"), outcome.seed));
    std::fs::create_dir_all(&dir).and_then(|()| std::fs::write(&path, options.to_json())).map_err(|e| e.to_string())?;
    println!("FAIL {} seed {} ({label}): {}", failure.class, outcome.seed, failure.what);
    let flag = Plan::replay_flag(label);
    println!("  replay: cargo run --release -p sim -- replay {} --options {}{flag}", outcome.seed, path.display());
    Ok(())
}
