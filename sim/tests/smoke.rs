use sim::{world, Options};

#[test]
fn default_world_completes() {
    for seed in 0..5 {
        let options = Options { seed, ..Options::default() };
        let outcome = world::run(&options);
        println!("{seed}: {:?} {:?}", outcome.failure, outcome.stats);
        assert!(outcome.passed(), "seed {seed}: {:?}", outcome.failure);
    }
}
