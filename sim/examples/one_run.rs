//! One run of a world, for profilers: `cargo run --release -p sim --example one_run -- [seed] [small|large]`.
fn main() {
    let mut args = std::env::args().skip(1);
    let seed = args.next().and_then(|s| s.parse().ok()).unwrap_or(1);
    let options = match args.next().as_deref() {
        Some("large") => sim::Options { seed, ..sim::Options::large() },
        _ => sim::Options { seed, ..sim::Options::default() },
    };
    let outcome = sim::world::run(&options);
    println!("{:?} {} ms simulated, {} inputs", outcome.failure, outcome.stats.simulated_ms, outcome.stats.inputs);
}
