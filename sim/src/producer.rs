//! The chain producer and the store of everything it produced (§7.1): sealed blocks whose bodies set,
//! delete and mix accounts, macro blocks every `bpb`, forks that become the main chain or are abandoned, never
//! across a macro block. The store keeps each block's state (a persistent trie, shared with every honest peer)
//! and diff.
//!
//! The canonical chain is a pure function of the seed and the chain's own knobs: the producer's steps alone draw
//! from the chain stream, each step draws the same way whatever phase the world is in, and blocks made for liars
//! (forged, private, abandoned) are made with the liar's own stream (`Producer::child_with` and friends).

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
    /// The items genesis was made of, as drawn (a later duplicate key overwrites an earlier one): the naive
    /// state model starts from these, not from the producer's trie.
    pub genesis_items: Vec<(Key, Vec<u8>)>,
}

impl ChainStore {
    pub fn get(&self, hash: &Hash) -> Option<&Produced> {
        self.blocks.get(hash)
    }

    pub fn block(&self, hash: &Hash) -> Option<&Block> {
        self.blocks.get(hash).map(|produced| &produced.block)
    }

    /// A stored block's diff, to tamper with in tests of the oracle.
    #[cfg(test)]
    pub(crate) fn diff_mut(&mut self, hash: &Hash) -> Option<&mut TrieDiff> {
        self.blocks.get_mut(hash).map(|produced| &mut produced.diff)
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

    /// The canonical chain's blocks from genesis to `up_to` (inclusive, or the tip if lower).
    pub fn canonical(&self, up_to: u32) -> impl Iterator<Item = &Produced> {
        self.canonical.iter().take(up_to as usize + 1).map(|hash| &self.blocks[hash])
    }

    /// The canonical chain hash up to height `up_to`: BLAKE2b-256 over each block's number, hash and state root
    /// from genesis. The same seed gives the same hash whatever liars, faults or network the world has.
    pub fn canonical_hash(&self, up_to: u32) -> Hash {
        let mut writer = sync_core::codec::Writer::default();
        for produced in self.canonical(up_to) {
            writer.u32(produced.block.number());
            writer.raw(&produced.block.hash().0);
            writer.raw(&produced.block.header().state_root.0);
        }
        sync_core::hash::blake2b_256(&writer.into_bytes())
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
    /// Blocks produced before the node joins (drawn below `bpb` unless set).
    pub lead_blocks: u32,
}

impl std::fmt::Debug for Producer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Producer").field("lead_blocks", &self.lead_blocks).finish()
    }
}

impl Producer {
    /// The producer and a store holding genesis: a macro block at height 0 with `accounts` accounts.
    pub fn new(options: &Options) -> (Producer, ChainStore) {
        let mut key_prng = Prng::new(options.seed, Stream::Keys);
        let keys = KeySource::new(options.key_shape, &mut key_prng);
        let mut prng = Prng::new(options.seed, Stream::Chain);
        let seal = KeyedSeal::new(Hash(prng.hash()));
        let items: Vec<(Key, Vec<u8>)> =
            (0..options.accounts).map(|_| (keys.draw(&mut prng), prng.bytes(32))).collect();
        let drawn_lead = prng.below(u64::from(options.bpb.max(1))) as u32;
        let state =
            Trie::from_items(items.iter().map(|(key, value)| (key, value.clone()))).expect("drawn keys are valid");
        let diff = TrieDiff::default();
        let header = Header {
            number: 0,
            parent_hash: Hash::ZERO,
            state_root: state.root_if_computable().expect("complete"),
            diff_root: diff.root(),
            body_root: body_root(&[]),
            is_macro: true,
            seal: Hash::ZERO,
        };
        let genesis = Block::sealed(header, Some(Vec::new()), |hash| seal.seal(hash));
        let hash = genesis.hash();
        let store = ChainStore {
            blocks: BTreeMap::from([(hash, Produced { block: genesis, state, diff })]),
            canonical: vec![hash],
            bpb: options.bpb.max(1),
            genesis_items: items,
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
            lead_blocks: options.lead_blocks.unwrap_or(drawn_lead),
        };
        (producer, store)
    }

    pub fn sealer(&self) -> &KeyedSeal {
        &self.seal
    }

    /// One block event: a plain extension, or (while `forks` is on) a fork that rebranches or is abandoned.
    /// Whether a fork happens, its depth and its kind are drawn at every step, forks on or off.
    pub fn step(&mut self, store: &mut ChainStore, forks: bool) -> Production {
        let fork = self.prng.chance(self.fork_chance);
        let depth = self.prng.range(1, u64::from(self.fork_depth_max)) as u32;
        let rebranch = self.prng.chance(self.rebranch_chance);
        if forks && fork {
            if let Some(production) = self.fork_with(store, depth, rebranch) {
                return production;
            }
        }
        let tip = store.tip().block.hash();
        let block = self.child(store, tip);
        store.canonical.push(block.hash());
        Production { blocks: vec![block], ..Production::default() }
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
    pub fn private_fork(&self, store: &mut ChainStore, prng: &mut Prng) -> Option<Block> {
        let tip_number = store.tip().block.number();
        let parent_number = tip_number.checked_sub(2)?;
        if parent_number < store.latest_macro() || (parent_number + 1) % store.bpb == 0 {
            return None;
        }
        let parent = store.canonical[parent_number as usize];
        Some(self.child_with(store, parent, prng))
    }

    /// A private chain of `length` sealed blocks from the canonical block below the tip, for a flooding peer. Its
    /// first block is never given to anyone, so the rest can never be connected (the producer does not
    /// equivocate: nobody can ever adopt this chain). Nobody can ever check their state either, so they carry
    /// empty bodies and invented roots and are not stored: executing and keeping a state per flooded block
    /// made one swarm run take 1.4 GB and 10 s (explore seed 228).
    pub fn private_chain(&self, store: &ChainStore, length: u32, prng: &mut Prng) -> Vec<Block> {
        let tip_number = store.tip().block.number();
        let Some(mut parent) = store.canonical.get(tip_number.saturating_sub(1) as usize).copied() else {
            return Vec::new();
        };
        let (diff_root, body_root) = (TrieDiff::default().root(), body_root(&[]));
        (tip_number..tip_number + length)
            .map(|number| {
                let header = Header {
                    number,
                    parent_hash: parent,
                    state_root: Hash(prng.hash()),
                    diff_root,
                    body_root,
                    is_macro: number.is_multiple_of(store.bpb),
                    seal: Hash::ZERO,
                };
                let block = Block::sealed(header, Some(Vec::new()), |hash| self.seal.seal(hash));
                parent = block.hash();
                block
            })
            .collect()
    }

    /// Seals a forged block (an invalid seal) at `number`, for liars.
    pub fn forge(&self, number: u32, parent_hash: Hash, prng: &mut Prng) -> Block {
        let header = Header {
            number,
            parent_hash,
            state_root: Hash(prng.hash()),
            diff_root: TrieDiff::default().root(),
            body_root: body_root(&[]),
            is_macro: false,
            seal: Hash([0xf0; 32]),
        };
        Block::new(header, Some(Vec::new()))
    }

    /// A sealed child of `parent` on the chain stream; stored with its state and diff.
    fn child(&mut self, store: &mut ChainStore, parent: Hash) -> Block {
        let mut prng = std::mem::replace(&mut self.prng, Prng::new(0, Stream::Chain));
        let block = self.child_with(store, parent, &mut prng);
        self.prng = prng;
        block
    }

    /// A sealed child of `parent` whose body draws random operations from `prng`; stored with its state and
    /// diff.
    fn child_with(&self, store: &mut ChainStore, parent: Hash, prng: &mut Prng) -> Block {
        let parent_produced = &store.blocks[&parent];
        let ops = self.body(&parent_produced.state, prng);
        let (state, diff) = parent_produced.state.execute(&ops).expect("the producer's ops are valid");
        let number = parent_produced.block.number() + 1;
        let header = Header {
            number,
            parent_hash: parent,
            state_root: state.root_if_computable().expect("complete"),
            diff_root: diff.root(),
            body_root: body_root(&ops),
            is_macro: number.is_multiple_of(store.bpb),
            seal: Hash::ZERO,
        };
        let block = Block::sealed(header, Some(ops), |hash| self.seal.seal(hash));
        store.blocks.insert(block.hash(), Produced { block: block.clone(), state, diff });
        block
    }

    /// Random operations: writes to existing and new accounts, deletions, mixes, sometimes a subtree wiped.
    /// Each operation draws the same way whatever it turns out to be; which keys exist depends on the state.
    fn body(&self, state: &Trie, prng: &mut Prng) -> Vec<Op> {
        let salt = prng.next_u64().to_le_bytes().to_vec();
        let count = prng.range(1, u64::from(self.ops_per_block_max));
        let mut ops = Vec::with_capacity(count as usize + 8);
        for _ in 0..count {
            let fresh = prng.chance(0.3);
            let near = Key::from_bytes(&prng.bytes(8)).unwrap_or_default();
            let drawn = self.keys.draw(prng);
            let existing = if state.is_empty() || fresh { None } else { existing_key(state, &near) };
            let key = existing.unwrap_or(drawn);
            let value = prng.bytes(32);
            ops.push(match prng.below(10) {
                0..=3 => Op::Set(key, value),
                4..=5 => Op::Delete(key),
                _ => Op::Mix(key, salt.clone()),
            });
        }
        let wipe = prng.chance(self.subtree_delete_chance);
        let start = Key::from_bytes(&prng.bytes(2)).unwrap_or_default();
        let run = prng.range(2, 8) as usize;
        if wipe {
            // Delete a run of consecutive accounts: whole subtrees disappear.
            if let Some(chunk) = state.chunk(&start, run) {
                ops.extend(chunk.items.into_iter().map(|(key, _)| Op::Delete(key)));
            }
        }
        ops
    }
}

/// The first key at or after `near`, or the first key of all: an existing account to write.
fn existing_key(state: &Trie, near: &Key) -> Option<Key> {
    state.first_key_at_or_after(near).or_else(|| state.first_key_at_or_after(&Key::EMPTY))
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
