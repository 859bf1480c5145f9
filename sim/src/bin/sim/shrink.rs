//! `shrink`: from a failing seed, the smallest world that still fails the same way, saved as an options file
//! that `replay --options` runs.

use crate::args::OptionArgs;
use clap::Args;
use sim::outcome::RunOutcome;
use sim::shrink::{self, Shrunk};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Args, Debug, Clone)]
pub struct ShrinkArgs {
    /// The failing seed.
    seed: u64,
    /// At most this many runs (each reduction tried is one run).
    #[arg(long, default_value_t = 400)]
    budget: u32,
    /// Where the smallest failing world's options go (default: `shrunk-<seed>.json`).
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
    #[command(flatten)]
    options: OptionArgs,
}

pub fn shrink(args: &ShrinkArgs) -> Result<ExitCode, String> {
    let options = args.options.for_seed(args.seed)?;
    println!("seed {}: {}", args.seed, shrink::size(&options));
    let shrunk = match shrink::shrink(&options, args.budget) {
        Ok(shrunk) => shrunk,
        Err(outcome) => {
            println!(
                "seed {} passes with these options (trace hash {}): nothing to shrink",
                args.seed, outcome.trace_hash
            );
            return Ok(ExitCode::FAILURE);
        }
    };
    report(args, &shrunk)?;
    Ok(ExitCode::SUCCESS)
}

fn report(args: &ShrinkArgs, shrunk: &Shrunk) -> Result<(), String> {
    for step in &shrunk.steps {
        println!("  - {step}");
    }
    println!("shrunk in {} runs to: {}", shrunk.runs, shrink::size(&shrunk.options));
    print_failure(&shrunk.outcome);
    let path = args.out.clone().unwrap_or_else(|| PathBuf::from(format!("shrunk-{}.json", args.seed)));
    std::fs::write(&path, shrunk.options.to_json()).map_err(|e| format!("{}: {e}", path.display()))?;
    println!("saved: {}", path.display());
    println!("replay: cargo run --release -p sim -- replay {} --options {}", args.seed, path.display());
    Ok(())
}

fn print_failure(outcome: &RunOutcome) {
    if let Some(failure) = &outcome.failure {
        println!("still fails: {} at {} ms: {}", failure.class, failure.at_ms, failure.what);
    }
}
