//! The engine's minimal local chain (§1.2, §4.6, §4.7, §4.9): headers and bodies from the checkpoint on,
//! fork choice, state application (execute when complete, apply the diff when not), rebranch with exact
//! revert, finalization at macro blocks.
//!
//! Revert records are trie snapshots: each main-chain block above the latest macro block keeps the trie as it
//! was before the block (an O(1) clone, see `Trie`). Reverting blocks newest first down to an ancestor is the
//! same as restoring the snapshot of the oldest reverted block, and that is exact (§2.10).

use crate::block::{Block, BlockInvalid};
use crate::hash::Hash;
use crate::key::Key;
use crate::trie::{Chunk, ChunkApplied, ChunkError, Trie, TrieDiff};
use std::cell::Cell;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

#[derive(Clone, Debug)]
struct StoredBlock {
    block: Block,
    /// The verified or executed diff, kept for serving and for a later rebranch.
    diff: Option<TrieDiff>,
    main: bool,
    /// The trie before this block was applied: its revert record (main chain, above the latest macro).
    before: Option<Trie>,
    /// The blocks generation at which it was stored or, reverted, became a fork block: over `fork_blocks_max`,
    /// the fork tip untouched longest goes first.
    since: u64,
}

/// What pushing one block did (§4.6).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum BlockOutcome {
    Extended,
    Rebranched {
        reverted: Vec<Hash>,
        adopted: Vec<Hash>,
    },
    /// Stored, not adopted.
    Forked,
    Known,
    /// At or below the latest macro height and not on the main chain.
    Ignored,
    /// The parent is unknown.
    Orphan,
    Invalid(BlockInvalid),
    /// The trie is (or would become) incomplete and these blocks have no diff: fetch them first (H4, H11).
    /// Not an error: nobody is penalised.
    NeedsDiffs(Vec<Hash>),
}

/// How a block's state is applied, and what stops it.
enum ApplyError {
    NeedsDiff,
    Invalid(BlockInvalid),
}

#[derive(Clone, Debug)]
pub(crate) struct Chain {
    /// Shared with copies of the engine until one of them changes it (a host's snapshot, the simulator's
    /// host-contract probe, costs no copy of every stored block and its diff).
    blocks: Arc<BTreeMap<Hash, StoredBlock>>,
    main: BTreeMap<u32, Hash>,
    head: Hash,
    /// The trusted block the chain started at: the one block that never passed `Block::check_intrinsic` here.
    checkpoint: Hash,
    /// The head block itself (read on every input: a lookup by hash each time cost a tenth of a flood world).
    head_block: Block,
    latest_macro: u32,
    trie: Trie,
    bpb: u32,
    fork_blocks_max: u32,
    retention_blocks: u32,
    /// Bumped by every method that can change the chain (`push`, `store_diff`, `commit_chunk`: the only ones
    /// that take `&mut self` outside this module; a new one must bump it too).
    generation: u64,
    /// Bumped by every method that can change the stored blocks, the main chain or the head (`push`,
    /// `store_diff`): `commit_chunk` changes the state alone.
    blocks_generation: u64,
    /// The generation `check_invariants` last found sound: a chain that did not change is not walked again
    /// (the walk after every input cost 6 % of explore).
    checked: Cell<Option<u64>>,
    /// The blocks generation at which `check_invariants` last walked the main chain and the stored blocks: a
    /// chunk committed changes neither, and chunks are the most frequent change.
    blocks_checked: Cell<Option<u64>>,
    /// The fork blocks the last push forgot at `fork_blocks_max`, with their numbers: the caller takes them
    /// (`take_forgotten`) and drops the pipeline blocks that built on them.
    forgotten: Vec<(Hash, u32)>,
}

impl Chain {
    /// A chain that starts at `checkpoint` (a trusted macro block) with `trie` as its state.
    pub(crate) fn new(checkpoint: Block, trie: Trie, bpb: u32, fork_blocks_max: u32, retention_blocks: u32) -> Chain {
        let hash = checkpoint.hash();
        let number = checkpoint.number();
        let head_block = checkpoint.clone();
        let mut blocks = BTreeMap::new();
        blocks.insert(hash, StoredBlock { block: checkpoint, diff: None, main: true, before: None, since: 0 });
        Chain {
            blocks: Arc::new(blocks),
            main: BTreeMap::from([(number, hash)]),
            head: hash,
            checkpoint: hash,
            head_block,
            latest_macro: number,
            trie,
            bpb,
            fork_blocks_max,
            retention_blocks,
            generation: 0,
            blocks_generation: 0,
            checked: Cell::new(None),
            blocks_checked: Cell::new(None),
            forgotten: Vec::new(),
        }
    }

    /// How many times the chain may have changed (for tests of the skip in `check_invariants`).
    #[cfg(test)]
    pub(crate) fn generation(&self) -> u64 {
        self.generation
    }

    /// How many times the stored blocks, the main chain or the head may have changed (`knows` answers the same
    /// while it stands still: `SyncEngine::buffer_links`).
    pub(crate) fn blocks_generation(&self) -> u64 {
        self.blocks_generation
    }

    /// The stored blocks, to change: copied first if a copy of the chain shares them.
    fn blocks_mut(&mut self) -> &mut BTreeMap<Hash, StoredBlock> {
        Arc::make_mut(&mut self.blocks)
    }

    pub(crate) fn head(&self) -> &Block {
        &self.head_block
    }

    pub(crate) fn head_hash(&self) -> Hash {
        self.head
    }

    pub(crate) fn head_number(&self) -> u32 {
        self.head().number()
    }

    pub(crate) fn latest_macro(&self) -> u32 {
        self.latest_macro
    }

    pub(crate) fn trie(&self) -> &Trie {
        &self.trie
    }

    pub(crate) fn knows(&self, hash: &Hash) -> bool {
        self.blocks.contains_key(hash)
    }

    pub(crate) fn block(&self, hash: &Hash) -> Option<&Block> {
        self.blocks.get(hash).map(|stored| &stored.block)
    }

    /// A stored block that came in from a peer (any but the checkpoint), so through `Block::check_intrinsic`.
    pub(crate) fn checked_block(&self, hash: &Hash) -> Option<&Block> {
        self.block(hash).filter(|_| *hash != self.checkpoint)
    }

    pub(crate) fn diff(&self, hash: &Hash) -> Option<&TrieDiff> {
        self.blocks.get(hash)?.diff.as_ref()
    }

    pub(crate) fn has_diff(&self, hash: &Hash) -> bool {
        self.diff(hash).is_some()
    }

    pub(crate) fn is_main(&self, hash: &Hash) -> bool {
        self.blocks.get(hash).is_some_and(|stored| stored.main)
    }

    pub(crate) fn main_at(&self, number: u32) -> Option<&Block> {
        self.block(self.main.get(&number)?)
    }

    pub(crate) fn block_count(&self) -> usize {
        self.blocks.len()
    }

    /// Stores a diff fetched for a block we hold (a fork block, for a later rebranch: H11).
    pub(crate) fn store_diff(&mut self, hash: &Hash, diff: TrieDiff) {
        self.generation += 1;
        self.blocks_generation += 1;
        if let Some(stored) = self.blocks_mut().get_mut(hash) {
            if stored.diff.is_none() && diff.root() == stored.block.header().diff_root {
                stored.diff = Some(diff);
            }
        }
    }

    /// Locators, newest first: our head, then the main chain back to the latest macro block (§3.4).
    pub(crate) fn locators(&self) -> Vec<Hash> {
        self.main.range(self.latest_macro..).rev().map(|(_, hash)| *hash).collect()
    }

    /// Pushes one block (§4.6): parent known → fork choice → state → revert record. `diff` is the verified
    /// diff the DiffQueue obtained, if any. The chain and trie changes of one block are atomic.
    #[cfg(test)]
    pub(crate) fn push(&mut self, block: &Block, diff: Option<&TrieDiff>) -> BlockOutcome {
        let outcome = self.push_awaited(block, diff, &|_| 0);
        self.forgotten.clear();
        outcome
    }

    /// `push`, where `reach` tells, of a block, the highest number that blocks waiting in the pipeline reach
    /// building on it (0 when none does): over `fork_blocks_max`, the fork tip of the lowest reach goes first.
    /// The fork blocks forgotten at the bound wait in `take_forgotten`.
    pub(crate) fn push_awaited(
        &mut self,
        block: &Block,
        diff: Option<&TrieDiff>,
        reach: &dyn Fn(&Hash) -> u32,
    ) -> BlockOutcome {
        assert!(self.forgotten.is_empty(), "the caller takes the forgotten fork blocks after every push");
        self.generation += 1;
        self.blocks_generation += 1;
        let hash = block.hash();
        if let Some(stored) = self.blocks_mut().get_mut(&hash) {
            if stored.diff.is_none() {
                stored.diff = diff.filter(|diff| diff.root() == block.header().diff_root).cloned();
            }
            return BlockOutcome::Known;
        }
        let Some(parent) = self.blocks.get(&block.parent_hash()) else { return BlockOutcome::Orphan };
        if block.number() != parent.block.number().saturating_add(1) {
            return BlockOutcome::Invalid(BlockInvalid::Number);
        }
        if block.number() <= self.latest_macro {
            return BlockOutcome::Ignored;
        }
        if block.parent_hash() == self.head {
            return self.extend(block, diff);
        }
        let Some((ancestor, branch)) = self.fork_branch(block.parent_hash()) else {
            return BlockOutcome::Invalid(BlockInvalid::ForkBelowMacro);
        };
        if block.number() > self.head_number() {
            return self.rebranch(ancestor, branch, block, diff, reach);
        }
        let since = self.blocks_generation;
        self.blocks_mut()
            .insert(hash, StoredBlock { block: block.clone(), diff: diff.cloned(), main: false, before: None, since });
        self.bound_forks(reach);
        BlockOutcome::Forked
    }

    /// The fork blocks the last push forgot at `fork_blocks_max` (hash and number), lowest reach first.
    pub(crate) fn take_forgotten(&mut self) -> Vec<(Hash, u32)> {
        std::mem::take(&mut self.forgotten)
    }

    fn extend(&mut self, block: &Block, diff: Option<&TrieDiff>) -> BlockOutcome {
        let before = self.trie.clone();
        let mut trie = self.trie.clone();
        match apply_state(&mut trie, block, diff) {
            Ok(applied_diff) => {
                self.trie = trie;
                let (hash, since) = (block.hash(), self.blocks_generation);
                let stored = StoredBlock {
                    block: block.clone(),
                    diff: Some(applied_diff),
                    main: true,
                    before: Some(before),
                    since,
                };
                self.blocks_mut().insert(hash, stored);
                self.main.insert(block.number(), hash);
                self.set_head(hash);
                if block.header().is_macro {
                    self.finalize(block.number());
                }
                BlockOutcome::Extended
            }
            Err(ApplyError::NeedsDiff) => BlockOutcome::NeedsDiffs(vec![block.hash()]),
            Err(ApplyError::Invalid(reason)) => BlockOutcome::Invalid(reason),
        }
    }

    /// The fork blocks from the main chain up to `tip` (oldest first) and their main-chain ancestor; `None` if
    /// the ancestor lies below the latest macro block.
    fn fork_branch(&self, tip: Hash) -> Option<(Hash, Vec<Hash>)> {
        let mut branch = Vec::new();
        let mut cursor = tip;
        loop {
            let stored = self.blocks.get(&cursor)?;
            if stored.main {
                if stored.block.number() < self.latest_macro {
                    return None;
                }
                branch.reverse();
                return Some((cursor, branch));
            }
            branch.push(cursor);
            cursor = stored.block.parent_hash();
        }
    }

    /// Reverts the main chain down to `ancestor` and adopts `branch` then `block` (§4.9). Works on copies:
    /// a failure anywhere leaves chain and trie as they were.
    fn rebranch(
        &mut self,
        ancestor: Hash,
        branch: Vec<Hash>,
        block: &Block,
        diff: Option<&TrieDiff>,
        reach: &dyn Fn(&Hash) -> u32,
    ) -> BlockOutcome {
        let ancestor_number = self.blocks[&ancestor].block.number();
        let reverted: Vec<Hash> = self.main.range(ancestor_number + 1..).rev().map(|(_, hash)| *hash).collect();
        let base = match reverted.last() {
            Some(oldest) => {
                let before = self.blocks[oldest].before.clone();
                assert!(before.is_some(), "blocks above the latest macro keep their revert record");
                before.unwrap_or_else(|| self.trie.clone())
            }
            None => self.trie.clone(),
        };
        if let Some(root) = base.root_if_computable() {
            assert_eq!(
                root,
                self.blocks[&ancestor].block.header().state_root,
                "H25: revert restores the parent's root"
            );
        }
        // Adopted blocks need diffs unless the trie is complete all the way (H11): fetch first, then rebranch.
        if !base.is_complete() {
            let mut needed: Vec<Hash> = branch.iter().copied().filter(|hash| !self.has_diff(hash)).collect();
            if diff.is_none() {
                needed.push(block.hash());
            }
            if !needed.is_empty() {
                return BlockOutcome::NeedsDiffs(needed);
            }
        }
        let (adopted, trie) = match self.apply_branch(base, &branch, block, diff) {
            Ok(applied) => applied,
            Err(outcome) => return outcome,
        };
        self.adopt(ancestor_number, &reverted, adopted, block.hash(), trie, reach);
        let adopted = self.main.range(ancestor_number + 1..).map(|(_, hash)| *hash).collect();
        BlockOutcome::Rebranched { reverted, adopted }
    }

    /// Applies the fork blocks of `branch`, then `block`, to `trie` (the ancestor's state), on copies: each adopted
    /// block with its applied diff and the trie before it, and the trie at the end. A stored fork block that fails
    /// is forgotten (the block built on it fails with it).
    #[allow(clippy::type_complexity)]
    fn apply_branch(
        &mut self,
        mut trie: Trie,
        branch: &[Hash],
        block: &Block,
        diff: Option<&TrieDiff>,
    ) -> Result<(Vec<(Block, TrieDiff, Trie)>, Trie), BlockOutcome> {
        let mut adopted: Vec<(Block, TrieDiff, Trie)> = Vec::with_capacity(branch.len() + 1);
        for hash in branch {
            let fork = self.blocks[hash].block.clone();
            let before = trie.clone();
            match apply_state(&mut trie, &fork, self.diff(hash)) {
                Ok(applied) => adopted.push((fork, applied, before)),
                Err(ApplyError::NeedsDiff) => return Err(BlockOutcome::NeedsDiffs(vec![*hash])),
                Err(ApplyError::Invalid(reason)) => {
                    self.blocks_mut().remove(hash);
                    self.forget_unrooted_forks();
                    return Err(BlockOutcome::Invalid(reason));
                }
            }
        }
        let before = trie.clone();
        match apply_state(&mut trie, block, diff) {
            Ok(applied) => adopted.push((block.clone(), applied, before)),
            Err(ApplyError::NeedsDiff) => return Err(BlockOutcome::NeedsDiffs(vec![block.hash()])),
            Err(ApplyError::Invalid(reason)) => return Err(BlockOutcome::Invalid(reason)),
        }
        Ok((adopted, trie))
    }

    /// Commits a rebranch: the reverted blocks become forks, the adopted ones the main chain up to `head`.
    fn adopt(
        &mut self,
        ancestor_number: u32,
        reverted: &[Hash],
        adopted: Vec<(Block, TrieDiff, Trie)>,
        head: Hash,
        trie: Trie,
        reach: &dyn Fn(&Hash) -> u32,
    ) {
        let since = self.blocks_generation;
        for hash in reverted {
            let stored = self.blocks_mut().get_mut(hash).map(|stored| {
                stored.main = false;
                stored.before = None;
                stored.since = since;
            });
            assert!(stored.is_some(), "reverted blocks are stored");
        }
        self.main.retain(|&number, _| number <= ancestor_number);
        let mut macro_number = None;
        for (block, applied, before) in adopted {
            let hash = block.hash();
            self.main.insert(block.number(), hash);
            if block.header().is_macro {
                macro_number = Some(block.number());
            }
            self.blocks_mut()
                .insert(hash, StoredBlock { block, diff: Some(applied), main: true, before: Some(before), since });
        }
        self.set_head(head);
        self.trie = trie;
        if let Some(number) = macro_number {
            self.finalize(number);
        }
        self.bound_forks(reach);
    }

    /// Moves the head. Ours: the head number never decreases; an extension adds one, a rebranch needs a strictly
    /// higher tip (chunk pruning and the chunk ladder rely on it).
    fn set_head(&mut self, head: Hash) {
        let block = self.blocks[&head].block.clone();
        let (old, new) = (self.head_number(), block.number());
        assert!(new > old, "the head number never decreases: #{old} → #{new}");
        self.head = head;
        self.head_block = block;
    }

    /// A macro block became final: revert records at or below it go, forks at or below it go, and the main
    /// chain is kept `retention_blocks` below it (for locators and serving).
    fn finalize(&mut self, number: u32) {
        self.latest_macro = self.latest_macro.max(number);
        let latest = self.latest_macro;
        let keep_from = latest.saturating_sub(self.retention_blocks);
        let diff_from = latest.saturating_sub(self.bpb);
        self.blocks_mut().retain(|_, stored| {
            let n = stored.block.number();
            if stored.main {
                n >= keep_from
            } else {
                n > latest
            }
        });
        self.main.retain(|&n, _| n >= keep_from);
        self.forget_unrooted_forks();
        for stored in self.blocks_mut().values_mut() {
            if stored.block.number() <= latest {
                stored.before = None;
            }
            if stored.block.number() <= diff_from {
                stored.diff = None;
            }
        }
    }

    /// At most `fork_blocks_max` fork blocks: fork *tips* go (a tip is a fork block no stored fork block builds
    /// on), so that every fork block kept still has its parent, the tip stored (or reverted) longest ago first.
    /// Dropping the lowest fork blocks instead kept their children, which could then never be adopted: found by
    /// the simulator (explore seed 700019374), an honest branch reverted and then extended lost its lowest
    /// block, and the node rejected the honest head's next block as a fork below the macro block. Dropping the
    /// lowest tip instead, with the bound at one batch, dropped each block of a branch the node was fetching as
    /// it came, while stale forks above it stayed: the node never followed again (`--set fork_blocks_max=1`,
    /// seeds 5000165 and more). Tips that blocks in the pipeline build on go last, the one they reach least
    /// high first (`push_awaited`): such a tip dropped orphans its waiting descendants, and the branch the node
    /// is fetching is the one that reaches highest (seeds 720044401 and 730003862).
    fn bound_forks(&mut self, reach: &dyn Fn(&Hash) -> u32) {
        // A push stores one fork block at a time and a rebranch swaps as many, so this removes one block, rarely
        // more: the fork blocks are listed again for each.
        while self.blocks.values().filter(|stored| !stored.main).count() > self.fork_blocks_max as usize {
            let forks = || self.blocks.iter().filter(|(_, stored)| !stored.main);
            let parents: BTreeSet<Hash> = forks().map(|(_, stored)| stored.block.parent_hash()).collect();
            let first_to_go = forks()
                .filter(|(hash, _)| !parents.contains(*hash))
                .map(|(hash, stored)| (reach(hash), stored.since, stored.block.number(), *hash))
                .min();
            // Fork blocks always have a tip (the highest); without one, `check_invariants` finds the bound broken.
            let Some((_, _, number, tip)) = first_to_go else { break };
            self.blocks_mut().remove(&tip);
            self.forgotten.push((tip, number));
        }
    }

    /// Forgets the fork blocks whose parent is no longer stored, and their descendants: they can never be
    /// adopted (their branch forks below the latest macro block, or passes a block given up as invalid).
    fn forget_unrooted_forks(&mut self) {
        let mut forks: Vec<(u32, Hash, Hash)> = self
            .blocks
            .iter()
            .filter(|(_, stored)| !stored.main)
            .map(|(hash, stored)| (stored.block.number(), *hash, stored.block.parent_hash()))
            .collect();
        forks.sort_unstable();
        for (_, hash, parent) in forks {
            if !self.blocks.contains_key(&parent) {
                self.blocks_mut().remove(&hash);
            }
        }
    }

    /// Commits a chunk against the head, if `block_hash` still is the head (H21).
    pub(crate) fn commit_chunk(
        &mut self,
        block_hash: Hash,
        start: &Key,
        chunk: &Chunk,
    ) -> Option<Result<ChunkApplied, ChunkError>> {
        self.generation += 1;
        if block_hash != self.head {
            return None;
        }
        let root = self.head().header().state_root;
        Some(self.trie.put_chunk(start, chunk, root))
    }

    pub(crate) fn check_invariants(&self) {
        if self.checked.get() == Some(self.generation) {
            return;
        }
        let head = self.head();
        if self.blocks_checked.get() != Some(self.blocks_generation) {
            assert!(self.is_main(&self.head), "the head is on the main chain");
            assert_eq!(head.hash(), self.head, "the head block is the head");
            assert!(head.number() >= self.latest_macro, "S6: the head never goes below the latest macro block");
            assert_eq!(self.main.get(&head.number()), Some(&self.head), "the main map ends at the head");
            assert_eq!(self.main.range(head.number() + 1..).count(), 0, "nothing on the main chain above the head");
            for (number, hash) in &self.main {
                let stored = &self.blocks[hash];
                assert!(stored.main && stored.block.number() == *number, "main map and flags agree");
            }
            let forks = self.blocks.values().filter(|stored| !stored.main).count();
            assert!(forks <= self.fork_blocks_max as usize, "fork blocks within fork_blocks_max");
            for stored in self.blocks.values().filter(|stored| !stored.main) {
                let parent = stored.block.parent_hash();
                assert!(
                    self.blocks.contains_key(&parent),
                    "a stored fork block's parent is stored (it can be adopted)"
                );
            }
            self.blocks_checked.set(Some(self.blocks_generation));
        }
        if let Some(root) = self.trie.root_if_computable() {
            assert_eq!(root, head.header().state_root, "S1: a computable root is the head's state root");
        }
        self.trie.check_invariants();
        self.checked.set(Some(self.generation));
    }
}

/// Applies `block`'s state change to `trie` (whose state is the parent's): executes the body when the trie is
/// complete, applies the diff otherwise. Returns the diff that was applied.
fn apply_state(trie: &mut Trie, block: &Block, diff: Option<&TrieDiff>) -> Result<TrieDiff, ApplyError> {
    let header = block.header();
    if trie.is_complete() {
        if let Some(ops) = block.body() {
            let (next, executed) = trie.execute(ops).map_err(|_| ApplyError::Invalid(BlockInvalid::Body))?;
            if next.root_if_computable() != Some(header.state_root) {
                return Err(ApplyError::Invalid(BlockInvalid::StateRoot));
            }
            if executed.root() != header.diff_root || diff.is_some_and(|diff| *diff != executed) {
                return Err(ApplyError::Invalid(BlockInvalid::Diff));
            }
            *trie = next;
            return Ok(executed);
        }
    }
    let Some(diff) = diff else { return Err(ApplyError::NeedsDiff) };
    if diff.root() != header.diff_root {
        return Err(ApplyError::Invalid(BlockInvalid::Diff));
    }
    trie.apply_diff(diff, header.state_root).map_err(|_| ApplyError::Invalid(BlockInvalid::StateRoot))?;
    Ok(diff.clone())
}
