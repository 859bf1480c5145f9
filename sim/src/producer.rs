//! The chain producer and the store of everything it produced (SPEC §7.1): sealed blocks whose bodies set,
//! delete and mix accounts, macro blocks every `bpb`, forks that become the main chain or are abandoned, never
//! across a macro block. The store keeps each block's state (a persistent trie, shared with every honest peer)
//! and diff.

use crate::keys::KeySource;
use crate::options::Options;
use crate::prng::{Prng, Stream};
use std::collections::BTreeMap;
use sync_core::block::{body_root, Block, Header, KeyedSeal};
use sync_core::{Hash, Key, Op, Trie, TrieDiff};

/// A produced block with the state after it and its diff.
#[derive(Clone, Debug)]
pub struct Produced {
    pub block: Block,
    pub state: Trie,
    pub diff: TrieDiff,
}

/// Everything produced, and the canonical chain.
#[derive(Clone, Debug)]
pub struct ChainStore {
    blocks: BTreeMap<Hash, Produced>,
    /// The canonical chain by number, from genesis.
    canonical: Vec<Hash>,
    pub bpb: u32,
}

impl ChainStore {
    pub fn get(&self, hash: &Hash) -> Option<&Produced> {
        self.blocks.get(hash)
    }

    pub fn block(&self, hash: &Hash) -> Option<&Block> {
        self.blocks.get(hash).map(|produced| &produced.block)
    }

    pub fn tip(&self) -> &Produced {
        &self.blocks[self.canonical.last().expect("the store holds genesis")]
    }

    pub fn canonical_at(&self, number: u32) -> Option<&Produced> {
        self.canonical.get(number as usize).map(|hash| &self.blocks[hash])
    }

    pub fn is_canonical(&self, hash: &Hash) -> bool {
        self.blocks.get(hash).is_some_and(|p| self.canonical.get(p.block.number() as usize) == Some(hash))
    }

    pub fn latest_macro(&self) -> u32 {
        let tip = self.tip().block.number();
        tip - tip % self.bpb
    }

    pub fn len(&self) -> usize {
        self.blocks.len()
    }

    pub fn is_empty(&self) -> bool {
        self.blocks.is_empty()
    }
}

/// What one production step made, in the order honest peers receive it.
#[derive(Clone, Debug, Default)]
pub struct Production {
    pub blocks: Vec<Block>,
    /// A fork became the main chain: (depth reverted, blocks adopted).
    pub rebranch: Option<(u32, u32)>,
    pub abandoned_fork: bool,
}

pub struct Producer {
    seal: KeyedSeal,
    keys: KeySource,
    prng: Prng,
    ops_per_block_max: u32,
    subtree_delete_chance: f64,
    fork_chance: f64,
    fork_depth_max: u32,
    rebranch_chance: f64,
    salt: u64,
}

impl std::fmt::Debug for Producer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Producer").field("salt", &self.salt).finish()
    }
}

impl Producer {
    /// The producer and a store holding genesis: a macro block at height 0 with `accounts` accounts.
    pub fn new(options: &Options) -> (Producer, ChainStore) {
        let mut key_prng = Prng::new(options.seed, Stream::Keys);
        let keys = KeySource::new(options.key_shape, &mut key_prng);
        let mut prng = Prng::new(options.seed, Stream::Chain);
        let seal = KeyedSeal::new(Hash(prng.bytes(32).try_into().unwrap_or([1; 32])));
        let items: Vec<(Key, Vec<u8>)> =
            (0..options.accounts).map(|_| (keys.draw(&mut prng), prng.bytes(32))).collect();
        let state = Trie::from_items(items).expect("drawn keys are valid");
        let diff = TrieDiff::default();
        let mut header = Header {
            number: 0,
            parent_hash: Hash::ZERO,
            state_root: state.root_if_computable().expect("complete"),
            diff_root: diff.root(),
            body_root: body_root(&[]),
            is_macro: true,
            seal: Hash::ZERO,
        };
        header.seal = seal.seal(&header.hash());
        let genesis = Block::new(header, Some(Vec::new()));
        let hash = genesis.hash();
        let store = ChainStore {
            blocks: BTreeMap::from([(hash, Produced { block: genesis, state, diff })]),
            canonical: vec![hash],
            bpb: options.bpb.max(1),
        };
        let producer = Producer {
            seal,
            keys,
            prng,
            ops_per_block_max: options.ops_per_block_max.max(1),
            subtree_delete_chance: options.subtree_delete_chance,
            fork_chance: options.fork_chance,
            fork_depth_max: options.fork_depth_max.max(1),
            rebranch_chance: options.rebranch_chance,
            salt: 0,
        };
        (producer, store)
    }

    pub fn sealer(&self) -> &KeyedSeal {
        &self.seal
    }

    /// One block event: a plain extension, or (while `forks` is on) a fork that rebranches or is abandoned.
    pub fn step(&mut self, store: &mut ChainStore, forks: bool) -> Production {
        if forks && self.prng.chance(self.fork_chance) {
            if let Some(production) = self.fork(store) {
                return production;
            }
        }
        let tip = store.tip().block.hash();
        let block = self.child(store, tip);
        store.canonical.push(block.hash());
        Production { blocks: vec![block], ..Production::default() }
    }

    /// A drawn fork: a depth up to `fork_depth_max`, a rebranch with `rebranch_chance`.
    fn fork(&mut self, store: &mut ChainStore) -> Option<Production> {
        let depth = self.prng.range(1, u64::from(self.fork_depth_max)) as u32;
        let rebranch = self.prng.chance(self.rebranch_chance);
        self.fork_with(store, depth, rebranch)
    }

    /// A fork from `depth` blocks below the tip that becomes the main chain (`rebranch`) or loses, never
    /// reaching below the latest macro block and never spanning a macro height. `None` when it does not fit.
    pub fn fork_with(&mut self, store: &mut ChainStore, depth: u32, rebranch: bool) -> Option<Production> {
        let tip_number = store.tip().block.number();
        let ancestor_number = tip_number.checked_sub(depth)?;
        let length = if rebranch { depth + 1 } else { depth };
        let latest_macro = store.latest_macro();
        let next_macro = latest_macro + store.bpb;
        if ancestor_number < latest_macro || ancestor_number + length >= next_macro {
            return None;
        }
        let mut parent = store.canonical[ancestor_number as usize];
        let mut blocks = Vec::with_capacity(length as usize);
        for _ in 0..length {
            let block = self.child(store, parent);
            parent = block.hash();
            blocks.push(block);
        }
        if rebranch {
            store.canonical.truncate(ancestor_number as usize + 1);
            store.canonical.extend(blocks.iter().map(Block::hash));
            Some(Production { blocks, rebranch: Some((depth, length)), abandoned_fork: false })
        } else {
            Some(Production { blocks, rebranch: None, abandoned_fork: true })
        }
    }

    /// A private fork block on the canonical block `depth` below the tip, for a byzantine peer to announce
    /// (H10): nobody else ever receives it. Below the tip's height, so it can never win fork choice.
    pub fn private_fork(&mut self, store: &mut ChainStore) -> Option<Block> {
        let tip_number = store.tip().block.number();
        let parent_number = tip_number.checked_sub(2)?;
        if parent_number < store.latest_macro() || (parent_number + 1) % store.bpb == 0 {
            return None;
        }
        let parent = store.canonical[parent_number as usize];
        Some(self.child(store, parent))
    }

    /// A private chain of `length` sealed blocks from the canonical block below the tip, for a flooding peer. Its
    /// first block is never given to anyone, so the rest can never be connected (the producer does not
    /// equivocate: nobody can ever adopt this chain). Nobody can ever check their state either, so they carry
    /// empty bodies and invented roots and are not stored: executing and keeping a state per flooded block
    /// made one swarm run take 1.4 GB and 10 s (explore seed 228).
    pub fn private_chain(&mut self, store: &ChainStore, length: u32) -> Vec<Block> {
        let tip_number = store.tip().block.number();
        let Some(mut parent) = store.canonical.get(tip_number.saturating_sub(1) as usize).copied() else {
            return Vec::new();
        };
        (tip_number..tip_number + length)
            .map(|number| {
                let mut header = Header {
                    number,
                    parent_hash: parent,
                    state_root: Hash(self.prng.bytes(32).try_into().unwrap_or([3; 32])),
                    diff_root: TrieDiff::default().root(),
                    body_root: body_root(&[]),
                    is_macro: number.is_multiple_of(store.bpb),
                    seal: Hash::ZERO,
                };
                header.seal = self.seal.seal(&header.hash());
                let block = Block::new(header, Some(Vec::new()));
                parent = block.hash();
                block
            })
            .collect()
    }

    /// Seals a forged block (an invalid seal) at `number`, for liars.
    pub fn forge(&mut self, number: u32, parent_hash: Hash) -> Block {
        let header = Header {
            number,
            parent_hash,
            state_root: Hash(self.prng.bytes(32).try_into().unwrap_or([2; 32])),
            diff_root: TrieDiff::default().root(),
            body_root: body_root(&[]),
            is_macro: false,
            seal: Hash([0xf0; 32]),
        };
        Block::new(header, Some(Vec::new()))
    }

    /// A sealed child of `parent` whose body draws random operations; stored with its state and diff.
    fn child(&mut self, store: &mut ChainStore, parent: Hash) -> Block {
        let parent_produced = &store.blocks[&parent];
        let ops = self.body(&parent_produced.state);
        let (state, diff) = parent_produced.state.execute(&ops).expect("the producer's ops are valid");
        let number = parent_produced.block.number() + 1;
        let mut header = Header {
            number,
            parent_hash: parent,
            state_root: state.root_if_computable().expect("complete"),
            diff_root: diff.root(),
            body_root: body_root(&ops),
            is_macro: number.is_multiple_of(store.bpb),
            seal: Hash::ZERO,
        };
        header.seal = self.seal.seal(&header.hash());
        let block = Block::new(header, Some(ops));
        store.blocks.insert(block.hash(), Produced { block: block.clone(), state, diff });
        block
    }

    /// Random operations: writes to existing and new accounts, deletions, mixes, sometimes a subtree wiped.
    fn body(&mut self, state: &Trie) -> Vec<Op> {
        self.salt += 1;
        let count = self.prng.range(1, u64::from(self.ops_per_block_max));
        let mut ops = Vec::with_capacity(count as usize + 8);
        for _ in 0..count {
            let existing = if state.is_empty() || self.prng.chance(0.3) { None } else { self.existing_key(state) };
            let key = existing.unwrap_or_else(|| self.keys.draw(&mut self.prng));
            ops.push(match self.prng.below(10) {
                0..=3 => Op::Set(key, self.prng.bytes(32)),
                4..=5 => Op::Delete(key),
                _ => Op::Mix(key, self.salt.to_le_bytes().to_vec()),
            });
        }
        if self.prng.chance(self.subtree_delete_chance) {
            // Delete a run of consecutive accounts: whole subtrees disappear.
            let start = Key::from_bytes(&self.prng.bytes(2)).unwrap_or_default();
            if let Some(chunk) = state.chunk(&start, self.prng.range(2, 8) as usize) {
                ops.extend(chunk.items.into_iter().map(|(key, _)| Op::Delete(key)));
            }
        }
        ops
    }

    fn existing_key(&mut self, state: &Trie) -> Option<Key> {
        let start = Key::from_bytes(&self.prng.bytes(8)).ok()?;
        state.first_key_at_or_after(&start).or_else(|| state.first_key_at_or_after(&Key::EMPTY))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forks_never_cross_a_macro_block_and_rebranches_move_the_tip_up() {
        let options = Options { fork_chance: 0.8, fork_depth_max: 4, bpb: 8, accounts: 50, ..Options::default() };
        let (mut producer, mut store) = Producer::new(&options);
        let mut tip = 0;
        for _ in 0..200 {
            let production = producer.step(&mut store, true);
            let new_tip = store.tip().block.number();
            assert!(new_tip >= tip, "the canonical tip never goes down");
            tip = new_tip;
            for block in &production.blocks {
                let parent = store.get(&block.parent_hash()).unwrap();
                assert_eq!(parent.block.number() + 1, block.number());
                assert_eq!(block.header().is_macro, block.number() % 8 == 0);
                if block.header().is_macro {
                    assert!(store.is_canonical(&block.hash()), "macro blocks are canonical");
                }
            }
        }
        for number in 0..=tip {
            let produced = store.canonical_at(number).unwrap();
            assert_eq!(produced.block.number(), number);
            if number > 0 {
                assert_eq!(produced.block.parent_hash(), store.canonical_at(number - 1).unwrap().block.hash());
            }
        }
    }
}
