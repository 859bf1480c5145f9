//! The push executor (§4.6): one block at a time, in the order the DiffQueue releases them. Its results
//! drive events, chunk commits, resets, completion and the BlockQueue's bookkeeping.

use super::SyncEngine;
use crate::chain::BlockOutcome;
use crate::diff_queue::{PendingBlock, PushKind};
use crate::hash::Hash;
use crate::interface::{ChunkWaste, Event};

impl SyncEngine {
    /// Pushes one block with the chunks buffered for it.
    pub(crate) fn push_block(&mut self, entry: PendingBlock) {
        let block = entry.block.clone();
        let hash = block.hash();
        let diff = entry.diff.clone().or_else(|| self.chain.diff(&hash).cloned());
        let starts_before = self.chain.trie().lane_starts().to_vec();
        // Over the fork bound, the tips the pipeline reaches highest on go last (dropped, each waiting child was
        // pushed as an orphan with its diff and dropped too; explore seed 720044401).
        let outcome = self.chain.push_awaited(&block, diff.as_ref(), &|tip| self.diffs.reach(tip));
        let forgotten = self.chain.take_forgotten();
        if let BlockOutcome::NeedsDiffs(needed) = outcome {
            assert!(forgotten.is_empty(), "a push that waits for diffs changes no stored block");
            // H4, H11: not an error. The block goes back, first, with the diffs it waits for; nobody is penalised.
            let force_diff = needed.contains(&hash);
            let extra = needed.into_iter().filter(|needed| *needed != hash).collect();
            self.diffs.requeue_front(PendingBlock { force_diff, extra, ..entry });
            return;
        }
        self.blocks.finish_pending(&hash);
        let chunks = self.state.take(block.number(), hash);
        let head_moved = matches!(outcome, BlockOutcome::Extended | BlockOutcome::Rebranched { .. });
        match outcome {
            BlockOutcome::Extended | BlockOutcome::Rebranched { .. } => {
                if let BlockOutcome::Rebranched { reverted, adopted } = outcome {
                    self.emit(Event::Rebranched { reverted, adopted });
                    if !self.chain.trie().is_complete() {
                        self.reset_rebranched(&starts_before);
                    }
                }
                let number = block.number();
                let accepted = match entry.kind {
                    PushKind::Head => Event::AcceptedAnnouncedBlock { hash, number },
                    PushKind::Buffered => {
                        Event::AcceptedBufferedBlock { hash, number, remaining: self.blocks_remaining() }
                    }
                    PushKind::Missing => Event::ReceivedMissingBlocks { hashes: vec![hash] },
                };
                self.emit(accepted);
                if !chunks.is_empty() {
                    self.commit_chunks(hash, chunks);
                }
            }
            BlockOutcome::Forked => {
                self.emit(Event::StoredFork { hash, number: block.number() });
                self.discard_chunks(chunks, block.number(), ChunkWaste::NotAdopted);
            }
            BlockOutcome::Known | BlockOutcome::Ignored | BlockOutcome::Orphan => {
                self.discard_chunks(chunks, block.number(), ChunkWaste::NotAdopted)
            }
            BlockOutcome::Invalid(reason) => {
                self.emit(Event::RejectedBlock { hash, reason });
                self.reject_block(hash);
                self.discard_chunks(chunks, block.number(), ChunkWaste::BlockInvalid);
            }
            BlockOutcome::NeedsDiffs(_) => unreachable!("handled above"),
        }
        self.forget_pipeline_on(forgotten);
        if head_moved {
            self.prune_chunk_buffer();
            self.prune_block_buffer();
        }
        self.update_completion();
        self.release_buffered_blocks();
    }

    /// Ours (§4.7): the blocks waiting on a fork block the bound forgot could only be pushed as orphans, each
    /// with the diff fetched for it (explore seed 730003862): they leave the pipeline now, and the event names
    /// them, so that a host (and the simulator's accounting) knows why they may be fetched again.
    fn forget_pipeline_on(&mut self, forgotten: Vec<(Hash, u32)>) {
        for (fork, number) in forgotten {
            let orphaned = self.drop_pipeline_from(fork);
            self.emit(Event::ForkForgotten { hash: fork, number, orphaned });
        }
    }
}
