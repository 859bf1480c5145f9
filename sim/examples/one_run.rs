//! One run of a world, for profilers:
//! `cargo run --release -p sim --example one_run -- [seed] [small|large|tiny|host|swarm]`.
fn main() {
    let mut args = std::env::args().skip(1);
    let seed = args.next().and_then(|s| s.parse().ok()).unwrap_or(1);
    let options = match args.next().as_deref() {
        Some("large") => sim::Options { seed, ..sim::Options::large() },
        Some("tiny") => sim::Options {
            seed,
            accounts: 20,
            honest_peers: 3,
            blocks: 30,
            block_time_ms: 500,
            chunk_size_max: 8,
            ops_per_block_max: 2,
            ..sim::Options::calm()
        },
        Some("host") => sim::Options {
            seed,
            accounts: 400,
            honest_peers: 3,
            blocks: 60,
            block_time_ms: 500,
            chunk_size_max: 25,
            ..sim::Options::calm()
        },
        Some("swarm") => sim::Options::swarm(seed),
        _ => sim::Options { seed, ..sim::Options::default() },
    };
    let outcome = sim::world::run(&options);
    println!("{:?} {} ms simulated, {} inputs", outcome.failure, outcome.stats.simulated_ms, outcome.stats.inputs);
}
