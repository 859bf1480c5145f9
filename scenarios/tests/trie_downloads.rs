//! Trie-level downloads under named conditions: the state churns between chunks and the result must match.

use scenarios::{expect_trie_download, KeyShape, TrieJobOptions};

fn options(key_shape: KeyShape) -> TrieJobOptions {
    TrieJobOptions { seed: 11, accounts: 800, key_shape, chunk_limit_max: 40, block_chance: 0.5, ops_per_block_max: 30 }
}

/// Keys that are prefixes of others (hybrid nodes) while half the steps are blocks: the boundary moves through
/// hybrids and the diffs hit the missing part right next to it.
#[test]
fn prefix_related_keys_under_heavy_churn() {
    let stats = expect_trie_download("prefix_related_keys_under_heavy_churn", options(KeyShape::PrefixRelated));
    assert!(stats.blocks > 10, "the head moved during the download: {stats:?}");
    assert!(stats.chunks >= 800 / 40, "chunks of at most 40 items: {stats:?}");
}

/// Deep shared prefixes: long boundary paths with many stumps per chunk.
#[test]
fn clustered_keys_with_single_item_chunks() {
    let stats = expect_trie_download(
        "clustered_keys_with_single_item_chunks",
        TrieJobOptions { chunk_limit_max: 1, accounts: 200, ..options(KeyShape::Clustered) },
    );
    assert!(stats.chunks >= 200, "one item per chunk: {stats:?}");
}

/// An empty state is one final chunk.
#[test]
fn empty_state_is_one_chunk() {
    let stats = expect_trie_download(
        "empty_state_is_one_chunk",
        TrieJobOptions { accounts: 0, block_chance: 0.0, ..options(KeyShape::Uniform) },
    );
    assert_eq!((stats.chunks, stats.items), (1, 0));
}
