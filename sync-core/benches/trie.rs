//! Trie benchmarks (BENCHMARKS.md): producing and applying 1000-item chunks over tries of 10⁴–10⁶ accounts, bare
//! BLAKE2b-256 over the very node bytes an application hashes, a full chunked restore side by side with the
//! `jmt` crate (same key/value set, same hash function), and memory per stored account.
//!
//! `cargo bench -p sync-core --bench trie`; set `LIVESYNC_BENCH_LARGE=1` to add the 10⁶-account restore race.

use blake2::digest::consts::U32;
use blake2::Blake2b;
use criterion::{BatchSize, BenchmarkId, Criterion, Throughput};
use jmt::mock::MockTreeStore;
use jmt::restore::{JellyfishMerkleRestore, StateSnapshotReceiver};
use jmt::{JellyfishMerkleTree, KeyHash};
use rand_chacha::ChaCha8Rng;
use rand_core::{Rng, SeedableRng};
use stats_alloc::{Region, StatsAlloc, INSTRUMENTED_SYSTEM};
use std::alloc::System;
use std::sync::Arc;
use std::time::Duration;
use sync_core::hash::blake2b_256;
use sync_core::{Chunk, Hash, Key, Trie};

#[global_allocator]
static ALLOCATOR: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

const CHUNK_ITEMS: usize = 1000;
type Blake2b256 = Blake2b<U32>;

/// `n` accounts with 20-byte keys (40 nibbles) and 32-byte values, as the simulator draws them.
fn accounts(n: usize) -> Vec<([u8; 20], Vec<u8>)> {
    let mut rng = ChaCha8Rng::seed_from_u64(n as u64);
    let mut accounts: Vec<([u8; 20], Vec<u8>)> = (0..n)
        .map(|_| {
            let mut key = [0u8; 20];
            rng.fill_bytes(&mut key);
            let mut value = vec![0u8; 32];
            rng.fill_bytes(&mut value);
            (key, value)
        })
        .collect();
    accounts.sort();
    accounts.dedup_by(|a, b| a.0 == b.0);
    accounts
}

/// A complete trie, all its 1000-item chunks, and the partial trie just before a few sample chunks.
struct Download {
    full: Trie,
    root: Hash,
    starts: Vec<Key>,
    chunks: Vec<Chunk>,
    samples: Vec<(usize, Trie)>,
}

fn download(accounts: &[([u8; 20], Vec<u8>)]) -> Download {
    let full = Trie::from_items(accounts.iter().map(|(k, v)| (Key::from_bytes(k).unwrap(), v.clone()))).unwrap();
    let root = full.root_if_computable().unwrap();
    let (mut starts, mut chunks) = (Vec::new(), Vec::new());
    let mut partial = Trie::fresh();
    let sample_at = |count: usize| [count / 4, count / 2, 3 * count / 4];
    let expected_chunks = accounts.len().div_ceil(CHUNK_ITEMS);
    let mut samples = Vec::new();
    while let Some(start) = partial.missing_start().cloned() {
        let chunk = full.chunk(&start, CHUNK_ITEMS).unwrap();
        if sample_at(expected_chunks).contains(&chunks.len()) {
            samples.push((chunks.len(), partial.clone()));
        }
        partial.put_chunk(&start, &chunk, root).unwrap();
        starts.push(start);
        chunks.push(chunk);
    }
    assert_eq!(partial.root_if_computable(), Some(root), "the download rebuilds the root");
    Download { full, root, starts, chunks, samples }
}

fn chunk_benches(c: &mut Criterion, sizes: &[usize]) {
    let mut group = c.benchmark_group("chunk");
    group.throughput(Throughput::Elements(CHUNK_ITEMS as u64));
    group.sample_size(30).measurement_time(Duration::from_secs(4)).warm_up_time(Duration::from_secs(1));
    for &n in sizes {
        let world = download(&accounts(n));
        let sample_count = world.samples.len();
        let mut turn = 0;
        group.bench_function(BenchmarkId::new("produce", n), |b| {
            b.iter(|| {
                turn = (turn + 1) % sample_count;
                let index = world.samples[turn].0;
                world.full.chunk(&world.starts[index], CHUNK_ITEMS)
            })
        });
        group.bench_function(BenchmarkId::new("verify_apply", n), |b| {
            b.iter_batched(
                || {
                    turn = (turn + 1) % sample_count;
                    let (index, partial) = &world.samples[turn];
                    (*index, partial.clone())
                },
                |(index, mut partial)| {
                    partial.put_chunk(&world.starts[index], &world.chunks[index], world.root).unwrap();
                    partial
                },
                BatchSize::SmallInput,
            )
        });
        // The physical limit: BLAKE2b-256 over exactly the node bytes one application hashes.
        let node_bytes: Vec<Vec<Vec<u8>>> = world
            .samples
            .iter()
            .map(|(index, partial)| {
                let mut after = partial.clone();
                after.put_chunk(&world.starts[*index], &world.chunks[*index], world.root).unwrap();
                after.unshared_node_bytes()
            })
            .collect();
        let per_chunk: Vec<String> = node_bytes
            .iter()
            .map(|nodes| format!("{} nodes/{} bytes", nodes.len(), nodes.iter().map(Vec::len).sum::<usize>()))
            .collect();
        println!("node bytes hashed per chunk at n = {n}: {}", per_chunk.join(", "));
        group.bench_function(BenchmarkId::new("bare_blake2b", n), |b| {
            b.iter(|| {
                turn = (turn + 1) % sample_count;
                node_bytes[turn].iter().map(|bytes| blake2b_256(bytes)).fold(0u8, |acc, hash| acc ^ hash.0[0])
            })
        });
    }
    group.finish();
}

fn jmt_key(key: &[u8; 20]) -> KeyHash {
    let mut padded = [0u8; 32];
    padded[..20].copy_from_slice(key);
    KeyHash(padded)
}

fn restore_benches(c: &mut Criterion, sizes: &[usize]) {
    let mut group = c.benchmark_group("restore");
    group.sample_size(10).measurement_time(Duration::from_secs(10)).warm_up_time(Duration::from_secs(1));
    for &n in sizes {
        let accounts = accounts(n);
        group.throughput(Throughput::Elements(accounts.len() as u64));
        let world = download(&accounts);
        group.bench_function(BenchmarkId::new("ours", n), |b| {
            b.iter(|| {
                let mut partial = Trie::fresh();
                for (start, chunk) in world.starts.iter().zip(&world.chunks) {
                    partial.put_chunk(start, chunk, world.root).unwrap();
                }
                partial
            })
        });
        drop(world);
        // jmt: the same accounts, the same hash function, chunks of the same size with jmt's range proofs.
        let store = MockTreeStore::default();
        let tree = JellyfishMerkleTree::<_, Blake2b256>::new(&store);
        let values = accounts.iter().map(|(k, v)| (jmt_key(k), Some(v.clone())));
        let (root, batch) = tree.put_value_set(values, 0).unwrap();
        store.write_tree_update_batch(batch).unwrap();
        let chunks: Vec<_> = accounts
            .chunks(CHUNK_ITEMS)
            .map(|chunk| {
                let items: Vec<_> = chunk.iter().map(|(k, v)| (jmt_key(k), v.clone())).collect();
                let proof = tree.get_range_proof(items.last().unwrap().0, 0).unwrap();
                (items, proof)
            })
            .collect();
        group.bench_function(BenchmarkId::new("jmt", n), |b| {
            b.iter(|| {
                let target = Arc::new(MockTreeStore::default());
                let mut restore = JellyfishMerkleRestore::<Blake2b256>::new(Arc::clone(&target), 0, root).unwrap();
                for (items, proof) in &chunks {
                    restore.add_chunk(items.clone(), proof.clone()).unwrap();
                }
                restore.finish().unwrap();
                target
            })
        });
    }
    group.finish();
}

/// Heap bytes per account of a complete trie, by a counting allocator. The 32-byte value buffers are allocated
/// before the measured region and moved into the trie, so they are added back by hand.
fn memory_per_account(n: usize) {
    let accounts: Vec<(Key, Vec<u8>)> =
        accounts(n).into_iter().map(|(k, v)| (Key::from_bytes(&k).unwrap(), v)).collect();
    let count = accounts.len();
    let region = Region::new(ALLOCATOR);
    let trie = Trie::from_items(accounts).unwrap();
    let stats = region.change();
    let structure = stats.bytes_allocated as i64 - stats.bytes_deallocated as i64 + stats.bytes_reallocated as i64;
    let values = 32 * count as i64;
    println!(
        "memory at n = {count}: {:.1} bytes per account ({:.1} of trie structure + 32 of value)",
        (structure + values) as f64 / count as f64,
        structure as f64 / count as f64
    );
    drop(trie);
}

fn main() {
    let large = std::env::var_os("LIVESYNC_BENCH_LARGE").is_some();
    memory_per_account(1_000_000);
    let mut criterion = Criterion::default().configure_from_args();
    chunk_benches(&mut criterion, &[10_000, 100_000, 1_000_000]);
    let restore_sizes: &[usize] = if large { &[10_000, 100_000, 1_000_000] } else { &[10_000, 100_000] };
    restore_benches(&mut criterion, restore_sizes);
    criterion.final_summary();
}
