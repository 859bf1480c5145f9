//! Named, reproducible live-sync scenarios. Each scenario is built from explicit options, not a bare seed, and
//! states what it expects.

pub use sim::keys::KeyShape;
pub use sim::trie_job::{TrieJobOptions, TrieJobStats};

/// Runs a trie download and returns its stats, or panics with the failure and the options that reproduce it.
#[track_caller]
pub fn expect_trie_download(name: &str, options: TrieJobOptions) -> TrieJobStats {
    match sim::trie_job::run(&options) {
        Ok(stats) => stats,
        Err(failure) => panic!("{name}: {failure:?}\n  options: {options:?}"),
    }
}
