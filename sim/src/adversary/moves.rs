//! Lies told on a liar's own initiative (§7.4): announcements of forged, old, private or far-future
//! blocks, and answers to requests never sent. Every class is matched: a class that lies only in its answers has
//! no initiative.

use super::ByzantineClass;
use crate::peer::SimPeer;
use crate::producer::{ChainStore, Producer};
use sync_core::wire::{Message, Response};
use sync_core::{Config, Hash, Key};

/// The gap between unsolicited answers of an `Unsolicited` peer (a high rate).
pub const UNSOLICITED_EVERY_MS: u64 = 25;

/// What a liar does on one turn of its initiative: messages to send, and when its next turn comes (`None`: the
/// default interval of one block time).
#[derive(Clone, Debug, Default)]
pub struct Turn {
    pub messages: Vec<Message>,
    pub next_ms: Option<u64>,
}

/// Everything a liar's turn may draw on.
#[derive(Debug)]
pub struct Stage<'a> {
    pub store: &'a ChainStore,
    pub producer: &'a Producer,
    pub config: &'a Config,
    pub block_time_ms: u64,
}

/// Whether `class` takes turns of its own (the others lie in their answers only).
pub fn takes_turns(class: ByzantineClass) -> bool {
    match class {
        ByzantineClass::InvalidSeal
        | ByzantineClass::LyingHead
        | ByzantineClass::ReplayOld
        | ByzantineClass::Unsolicited
        | ByzantineClass::FutureFlood
        | ByzantineClass::ReplayAnswers => true,
        ByzantineClass::WrongProof
        | ByzantineClass::WrongItems
        | ByzantineClass::Truncated
        | ByzantineClass::WrongStart
        | ByzantineClass::ZeroProgress
        | ByzantineClass::Oversized
        | ByzantineClass::Undecodable
        | ByzantineClass::UnknownTag
        | ByzantineClass::StaleRetag
        | ByzantineClass::IncompleteLie
        | ByzantineClass::GarbageDiff
        | ByzantineClass::WrongBlockDiff
        | ByzantineClass::WithholdDiff
        | ByzantineClass::AbandonedFork
        | ByzantineClass::BadMissingBlocks
        | ByzantineClass::MaxChunks
        | ByzantineClass::CrossLane
        | ByzantineClass::OneLane => false,
    }
}

/// The chance an `AbandonedFork` liar makes a private fork block when the chain makes a block.
pub const PRIVATE_FORK_CHANCE: f64 = 0.3;

/// An `AbandonedFork` liar's private fork block on the canonical block two below the tip, made with its own
/// stream when its chance hits and forks are `allowed` (H10): nobody else ever receives it. The chance is drawn
/// at every block, allowed or not.
pub fn private_fork(
    peer: &mut SimPeer,
    store: &mut ChainStore,
    producer: &Producer,
    allowed: bool,
) -> Option<sync_core::block::Block> {
    let hit = peer.adversary().chance(PRIVATE_FORK_CHANCE);
    if !hit || !allowed {
        return None;
    }
    producer.private_fork(store, peer.adversary())
}

/// One turn of `class`'s initiative; `None` for a class that lies only in its answers (`takes_turns`).
pub fn turn(class: ByzantineClass, peer: &mut SimPeer, stage: Stage<'_>) -> Option<Turn> {
    let head_number = peer.head_number(stage.store);
    let announce = |block| Turn { messages: vec![Message::Announce(block)], next_ms: None };
    match class {
        ByzantineClass::InvalidSeal => {
            let head = peer.head();
            Some(announce(stage.producer.forge(head_number + 1, head, peer.adversary())))
        }
        ByzantineClass::LyingHead => {
            Some(announce(stage.producer.forge(head_number + 10_000, Hash([0x11; 32]), peer.adversary())))
        }
        ByzantineClass::ReplayOld => {
            let back = peer.adversary().range(1, 64) as u32;
            let old = stage.store.canonical_at(head_number.saturating_sub(back)).map(|p| p.block.clone());
            Some(Turn { messages: old.into_iter().map(Message::Announce).collect(), next_ms: None })
        }
        ByzantineClass::Unsolicited => {
            let request_id = peer.adversary().below(1 << 20);
            let head = stage.store.get(&peer.head());
            let messages = head
                .and_then(|p| Some((p.block.clone(), p.state.chunk(&Key::EMPTY, 8)?)))
                .map(|(block, chunk)| {
                    let response = Response::Chunk { block_number: block.number(), block_hash: block.hash(), chunk };
                    Message::Response { request_id, response }
                })
                .into_iter()
                .collect();
            Some(Turn { messages, next_ms: Some(UNSOLICITED_EVERY_MS) })
        }
        ByzantineClass::FutureFlood => {
            // Everything but the first block of a fresh private chain, one block time apart.
            let length = stage.config.window_ahead_max.min(64);
            let chain = stage.producer.private_chain(stage.store, length, peer.adversary());
            let messages = chain.into_iter().skip(1).map(Message::Announce).collect();
            Some(Turn { messages, next_ms: Some(stage.block_time_ms.max(200)) })
        }
        ByzantineClass::ReplayAnswers => {
            let messages = peer
                .old_answer()
                .map(|(request_id, response)| Message::Response { request_id, response })
                .into_iter()
                .collect();
            Some(Turn { messages, next_ms: Some(stage.block_time_ms.max(50) / 2) })
        }
        // These lie in their answers only (`answers`). AbandonedFork's private fork blocks come with the
        // chain's production (`private_fork`), not on a turn of its own.
        ByzantineClass::WrongProof
        | ByzantineClass::WrongItems
        | ByzantineClass::Truncated
        | ByzantineClass::WrongStart
        | ByzantineClass::ZeroProgress
        | ByzantineClass::Oversized
        | ByzantineClass::Undecodable
        | ByzantineClass::UnknownTag
        | ByzantineClass::StaleRetag
        | ByzantineClass::IncompleteLie
        | ByzantineClass::GarbageDiff
        | ByzantineClass::WrongBlockDiff
        | ByzantineClass::WithholdDiff
        | ByzantineClass::AbandonedFork
        | ByzantineClass::BadMissingBlocks
        | ByzantineClass::MaxChunks
        | ByzantineClass::CrossLane
        | ByzantineClass::OneLane => None,
    }
}
