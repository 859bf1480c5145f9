//! Lies told in answers to requests (§7.4): chunks, diffs and missing blocks made wrong in the ways each
//! class stands for. Every class is matched: a class without a lie for some request answers honestly there.

use super::ByzantineClass;
use crate::peer::Answer;
use crate::prng::Prng;
use crate::producer::ChainStore;
use sync_core::block::Block;
use sync_core::trie::{ProofSlot, VALUE_MAX};
use sync_core::wire::{Request, Response};
use sync_core::{Chunk, Config, Hash, Key, Trie, TrieDiff, KEY_MAX};

/// What a liar knows when it answers: the chain, its own head, and an older head of its own.
#[derive(Debug)]
pub struct Liar<'a> {
    pub store: &'a ChainStore,
    pub config: &'a Config,
    pub head: Hash,
    /// The oldest head it remembers, if it is not the current one (for stale re-tagging).
    pub older_head: Option<Hash>,
    pub prng: &'a mut Prng,
}

/// The answer a liar gives.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Told {
    /// A lie.
    Lie(Answer),
    /// This class has no lie for this request (or could not make one): the honest answer, given back.
    Honest(Response),
}

/// The answer of a liar of `class` to `request`, whose honest answer is `honest`.
pub fn lie(class: ByzantineClass, liar: &mut Liar<'_>, request: &Request, honest: Response) -> Told {
    match class {
        ByzantineClass::WrongProof => chunk_lie(honest, wrong_proof, liar.prng),
        ByzantineClass::WrongItems => chunk_lie(honest, wrong_items, liar.prng),
        ByzantineClass::Truncated => chunk_lie(honest, |chunk, _| truncated(chunk), liar.prng),
        ByzantineClass::WrongStart => wrong_start(liar, request, honest),
        ByzantineClass::ZeroProgress => match (request, honest) {
            (Request::Chunk { start_key, .. }, Response::Chunk { block_number, block_hash, mut chunk }) => {
                chunk.items.clear();
                chunk.end = Some(start_key.clone());
                Told::Lie(Answer::Response(Response::Chunk { block_number, block_hash, chunk }))
            }
            (_, honest) => Told::Honest(honest),
        },
        ByzantineClass::Oversized => oversized(liar, request, honest),
        ByzantineClass::Undecodable => {
            let length = liar.prng.below(64) as usize;
            Told::Lie(Answer::Garbage(liar.prng.bytes(length)))
        }
        ByzantineClass::UnknownTag => unknown_tag(liar.prng, honest),
        ByzantineClass::StaleRetag => stale_retag(liar, request, honest),
        ByzantineClass::IncompleteLie => match request {
            Request::Chunk { .. } => Told::Lie(Answer::Response(Response::IncompleteState)),
            _ => Told::Honest(honest),
        },
        ByzantineClass::GarbageDiff => match request {
            Request::TrieDiff { .. } => {
                let key = Key::from_bytes(&liar.prng.bytes(20)).unwrap_or_default();
                let diff = TrieDiff::new(vec![(key, Some(liar.prng.bytes(32)))]).unwrap_or_default();
                Told::Lie(Answer::Response(Response::Diff(diff)))
            }
            _ => Told::Honest(honest),
        },
        ByzantineClass::WrongBlockDiff => match request {
            Request::TrieDiff { block_hash } => {
                let store = liar.store;
                let other = store.block(block_hash).and_then(|b| store.get(&b.parent_hash())).map(|p| p.diff.clone());
                match other {
                    Some(diff) => Told::Lie(Answer::Response(Response::Diff(diff))),
                    None => Told::Honest(honest),
                }
            }
            _ => Told::Honest(honest),
        },
        ByzantineClass::WithholdDiff | ByzantineClass::AbandonedFork => match request {
            Request::TrieDiff { .. } => Told::Lie(Answer::Response(Response::UnknownBlockHash)),
            _ => Told::Honest(honest),
        },
        ByzantineClass::MaxChunks => max_chunk(liar, request, honest),
        ByzantineClass::CrossLane => cross_lane(liar, request, honest),
        ByzantineClass::OneLane => match request {
            Request::Chunk { start_key, end_bound: Some(_), .. }
                if start_key.nibbles().first().is_some_and(|&n| n >= 4) =>
            {
                Told::Lie(Answer::Nothing)
            }
            _ => Told::Honest(honest),
        },
        ByzantineClass::BadMissingBlocks => bad_missing_blocks(liar, honest),
        // These lie on their own initiative only (`moves`).
        ByzantineClass::InvalidSeal
        | ByzantineClass::ReplayOld
        | ByzantineClass::LyingHead
        | ByzantineClass::Unsolicited
        | ByzantineClass::ReplayAnswers
        | ByzantineClass::FutureFlood => Told::Honest(honest),
    }
}

/// A lie that alters an honest chunk in place; anything but a chunk stays honest.
fn chunk_lie(honest: Response, alter: impl FnOnce(&mut Chunk, &mut Prng), prng: &mut Prng) -> Told {
    match honest {
        Response::Chunk { block_number, block_hash, mut chunk } => {
            alter(&mut chunk, prng);
            Told::Lie(Answer::Response(Response::Chunk { block_number, block_hash, chunk }))
        }
        honest => Told::Honest(honest),
    }
}

/// A proof node removed, two swapped, or a slot hash altered (or a slot invented).
fn wrong_proof(chunk: &mut Chunk, prng: &mut Prng) {
    let nodes = chunk.proof.len();
    match prng.below(3) {
        0 if nodes > 0 => drop(chunk.proof.remove(prng.below(nodes as u64) as usize)),
        1 if nodes > 1 => chunk.proof.swap(0, nodes - 1),
        _ => {
            let node = &mut chunk.proof[prng.below(nodes as u64) as usize];
            match node.slots.iter_mut().flatten().next() {
                Some(slot) => slot.hash.0[0] ^= 0x55,
                None => {
                    node.slots[3] =
                        Some(ProofSlot { suffix: Key::from_hex("3").unwrap_or_default(), hash: Hash([7; 32]) })
                }
            }
        }
    }
}

/// A value changed, an item dropped, duplicated, two swapped, or one added past the last.
fn wrong_items(chunk: &mut Chunk, prng: &mut Prng) {
    let items = chunk.items.len() as u64;
    match prng.below(5) {
        0 if items > 0 => chunk.items[prng.below(items) as usize].1.push(0x42),
        1 if items > 0 => drop(chunk.items.remove(prng.below(items) as usize)),
        2 if items > 0 => {
            let at = prng.below(items) as usize;
            chunk.items.insert(at, chunk.items[at].clone());
        }
        3 if items > 1 => chunk.items.swap(0, 1),
        _ => {
            let key = chunk
                .items
                .last()
                .and_then(|(k, _)| k.successor())
                .unwrap_or_else(|| Key::from_hex("7").unwrap_or_default());
            chunk.items.push((key, vec![1, 2, 3]));
        }
    }
}

/// Half the items with the end unchanged, the end dropped, or the only item removed.
fn truncated(chunk: &mut Chunk) {
    if chunk.items.len() >= 2 {
        chunk.items.truncate(chunk.items.len() / 2);
    } else if chunk.end.is_some() {
        chunk.end = None;
    } else {
        chunk.items.clear();
    }
}

/// The liar's head as a tag, or `IncompleteState` when it has none.
fn tagged(liar: &Liar<'_>, chunk: Chunk) -> Response {
    match liar.store.block(&liar.head) {
        Some(head) => Response::Chunk { block_number: head.number(), block_hash: head.hash(), chunk },
        None => Response::IncompleteState,
    }
}

fn head_state(liar: &Liar<'_>) -> Trie {
    liar.store.get(&liar.head).map(|p| p.state.clone()).unwrap_or_else(Trie::fresh)
}

/// A chunk cut at another start: the honest chunk's second item, ε, or `8`.
fn wrong_start(liar: &mut Liar<'_>, request: &Request, honest: Response) -> Told {
    let Request::Chunk { start_key, limit, .. } = request else { return Told::Honest(honest) };
    let other = match &honest {
        Response::Chunk { chunk, .. } if chunk.items.len() > 1 => chunk.items[1].0.clone(),
        _ if !start_key.is_empty() => Key::EMPTY,
        _ => Key::from_hex("8").unwrap_or_default(),
    };
    let limit = (*limit).clamp(1, liar.config.chunk_size_max) as usize;
    match head_state(liar).chunk(&other, limit) {
        Some(chunk) => Told::Lie(Answer::Response(tagged(liar, chunk))),
        None => Told::Honest(honest),
    }
}

/// One to four items more than the limit.
fn oversized(liar: &mut Liar<'_>, request: &Request, honest: Response) -> Told {
    let Request::Chunk { start_key, limit, .. } = request else { return Told::Honest(honest) };
    let more = (*limit as usize).saturating_add(1 + liar.prng.below(4) as usize);
    match head_state(liar).chunk(start_key, more) {
        Some(chunk) if chunk.items.len() > *limit as usize => Told::Lie(Answer::Response(tagged(liar, chunk))),
        _ => Told::Honest(honest),
    }
}

/// The honest chunk tagged with a block nobody has: a little or far ahead, far behind.
fn unknown_tag(prng: &mut Prng, honest: Response) -> Told {
    let (block_number, chunk) = match honest {
        Response::Chunk { block_number, chunk, .. } => (block_number, chunk),
        honest => return Told::Honest(honest),
    };
    let number = match prng.below(4) {
        0 => block_number + 1 + prng.below(8) as u32,
        1 => block_number + 10_000,
        2 => block_number.saturating_sub(10_000),
        _ => block_number + 1,
    };
    let fake = Hash(prng.bytes(32).try_into().unwrap_or([3; 32]));
    Told::Lie(Answer::Response(Response::Chunk { block_number: number, block_hash: fake, chunk }))
}

/// A chunk cut from an older head, tagged as the current one.
fn stale_retag(liar: &mut Liar<'_>, request: &Request, honest: Response) -> Told {
    let Request::Chunk { start_key, limit, .. } = request else { return Told::Honest(honest) };
    let limit = (*limit).clamp(1, liar.config.chunk_size_max) as usize;
    let older = liar.older_head.and_then(|old| liar.store.get(&old)).and_then(|p| p.state.chunk(start_key, limit));
    match older {
        Some(chunk) => Told::Lie(Answer::Response(tagged(liar, chunk))),
        None => Told::Honest(honest),
    }
}

/// Items of the largest value, keys ascending from the start, tagged with an invented future block: well
/// formed, useless, maximal.
fn max_chunk(liar: &mut Liar<'_>, request: &Request, honest: Response) -> Told {
    let Request::Chunk { start_key, limit, .. } = request else { return Told::Honest(honest) };
    let (block_number, mut chunk) = match honest {
        Response::Chunk { block_number, chunk, .. } => (block_number, chunk),
        honest => return Told::Honest(honest),
    };
    let items = (*limit).clamp(1, liar.config.chunk_size_max) as usize;
    let prefix = start_key.nibbles()[..start_key.len().min(KEY_MAX - 6)].to_vec();
    chunk.items = (0..items)
        .map(|i| {
            let mut nibbles = prefix.clone();
            nibbles.extend((0..6).rev().map(|shift| ((i >> (4 * shift)) & 0xf) as u8));
            (Key::from_nibbles(&nibbles).unwrap_or_default(), vec![0xab; VALUE_MAX])
        })
        .collect();
    chunk.end = chunk.items.last().and_then(|(key, _)| key.successor());
    // Within its request's lane (§2.13): a flood, not a provable lie (explore seed 493 with four lanes: the
    // successor of `bfff…` is `c`, past the lane).
    if let Request::Chunk { end_bound: Some(bound), .. } = request {
        if chunk.end.as_ref().is_none_or(|end| end > bound) {
            chunk.end = Some(bound.clone());
        }
    }
    let fake = Hash(liar.prng.bytes(32).try_into().unwrap_or([4; 32]));
    Told::Lie(Answer::Response(Response::Chunk { block_number: block_number + 2, block_hash: fake, chunk }))
}

/// A bounded request answered past its bound (§2.13): half the time the unbounded chunk at the same start (items
/// of the next lane, the end beyond), half the time the honest chunk with its `end` moved into the next lane.
fn cross_lane(liar: &mut Liar<'_>, request: &Request, honest: Response) -> Told {
    let Request::Chunk { start_key, limit, end_bound: Some(bound) } = request else { return Told::Honest(honest) };
    let Response::Chunk { block_number, block_hash, mut chunk } = honest else { return Told::Honest(honest) };
    let limit = (*limit).clamp(1, liar.config.chunk_size_max) as usize;
    let unbounded = liar.prng.chance(0.5);
    match head_state(liar).chunk(start_key, limit) {
        Some(wide) if unbounded && wide.end.as_ref().is_none_or(|end| end > bound) => chunk = wide,
        _ => chunk.end = bound.successor(),
    }
    Told::Lie(Answer::Response(Response::Chunk { block_number, block_hash, chunk }))
}

/// Blocks reversed, one skipped, or more than `bpb` of them.
fn bad_missing_blocks(liar: &mut Liar<'_>, honest: Response) -> Told {
    let mut blocks = match honest {
        Response::Blocks(blocks) => blocks,
        honest => return Told::Honest(honest),
    };
    match liar.prng.below(3) {
        0 if blocks.len() > 1 => blocks.reverse(),
        1 if blocks.len() > 2 => drop(blocks.remove(1)),
        _ => {
            let store = liar.store;
            let extra: Vec<Block> =
                (0..liar.config.bpb + 1).filter_map(|n| store.canonical_at(n).map(|p| p.block.clone())).collect();
            blocks.extend(extra);
        }
    }
    Told::Lie(Answer::Response(Response::Blocks(blocks)))
}
