//! Simulated peers: honest full nodes that follow the chain and answer through the engine's own responder
//! (`sync_core::responder::respond`), slow ones, silent ones, and byzantine ones that lie in the ways of
//! SPEC §7.4. A peer's state is the producer's state of its head (a shared persistent trie).

use crate::byzantine::ByzantineClass;
use crate::prng::{Prng, Stream};
use crate::producer::ChainStore;
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use sync_core::block::Block;
use sync_core::responder::{respond, ChainView};
use sync_core::trie::ProofSlot;
use sync_core::trie::VALUE_MAX;
use sync_core::wire::{Request, Response};
use sync_core::{Chunk, Config, Hash, Key, PeerId, Trie, TrieDiff, KEY_MAX};

/// Old answers a replaying peer remembers.
const REMEMBERED_ANSWERS_MAX: usize = 16;
/// Recent heads a peer remembers (for stale re-tagging).
const REMEMBERED_HEADS_MAX: usize = 8;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PeerKind {
    Honest,
    /// Honest, but answers near the request timeout.
    Slow,
    /// Never answers.
    Silent,
    Byzantine(ByzantineClass),
}

impl PeerKind {
    /// Honest peers must never be penalised, evicted, or called Behind/Ahead within the window (S10).
    pub fn is_honest(self) -> bool {
        matches!(self, PeerKind::Honest | PeerKind::Slow)
    }

    pub fn label(self) -> String {
        match self {
            PeerKind::Honest => "honest".into(),
            PeerKind::Slow => "slow".into(),
            PeerKind::Silent => "silent".into(),
            PeerKind::Byzantine(class) => class.name(),
        }
    }
}

/// What a peer sends back for a request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Answer {
    Response(Response),
    /// Bytes that are not a message.
    Garbage(Vec<u8>),
    Nothing,
}

#[derive(Clone, Debug)]
pub struct SimPeer {
    pub index: u32,
    pub id: PeerId,
    pub kind: PeerKind,
    pub lie_chance: f64,
    known: BTreeSet<Hash>,
    head: Hash,
    /// The main chain of `head`, by number.
    main: BTreeMap<u32, Hash>,
    prng: Prng,
    recent_heads: VecDeque<Hash>,
    answers: VecDeque<(u64, Response)>,
    pub lies: u64,
}

impl SimPeer {
    pub fn new(seed: u64, index: u32, kind: PeerKind, lie_chance: f64, genesis: &Block) -> SimPeer {
        let hash = genesis.hash();
        SimPeer {
            index,
            id: PeerId(index + 1),
            kind,
            lie_chance,
            known: BTreeSet::from([hash]),
            head: hash,
            main: BTreeMap::from([(genesis.number(), hash)]),
            prng: Prng::new(seed, Stream::Peer(index)),
            recent_heads: VecDeque::from([hash]),
            answers: VecDeque::new(),
            lies: 0,
        }
    }

    pub fn head(&self) -> Hash {
        self.head
    }

    pub fn head_number(&self, store: &ChainStore) -> u32 {
        store.block(&self.head).map_or(0, Block::number)
    }

    /// A block arrives from the producer (in order). Returns whether it became the head. Fork choice as the
    /// engine's: a strictly higher number wins, ties keep the head.
    pub fn receive(&mut self, store: &ChainStore, hash: Hash) -> bool {
        let Some(block) = store.block(&hash) else { return false };
        if !self.known.contains(&block.parent_hash()) || !self.known.insert(hash) {
            return false;
        }
        let head_number = self.head_number(store);
        if block.parent_hash() != self.head && block.number() <= head_number {
            return false;
        }
        self.head = hash;
        self.main.retain(|&number, _| number < block.number());
        let mut cursor = hash;
        while let Some(block) = store.block(&cursor) {
            if self.main.get(&block.number()) == Some(&cursor) {
                break;
            }
            self.main.insert(block.number(), cursor);
            if block.number() == 0 {
                break;
            }
            cursor = block.parent_hash();
        }
        self.recent_heads.push_back(hash);
        if self.recent_heads.len() > REMEMBERED_HEADS_MAX {
            self.recent_heads.pop_front();
        }
        true
    }

    /// The block at `number` on this peer's main chain.
    pub fn main_at(&self, number: u32) -> Option<Hash> {
        self.main.get(&number).copied()
    }

    pub fn knows(&self, hash: &Hash) -> bool {
        self.known.contains(hash)
    }

    fn view<'a>(&'a self, store: &'a ChainStore) -> PeerView<'a> {
        PeerView { store, peer: self }
    }

    /// Answers a request as this peer does: honestly through the engine's responder, or not at all, or with a
    /// lie of its class.
    pub fn answer(&mut self, store: &ChainStore, config: &Config, request_id: u64, request: &Request) -> Answer {
        if self.kind == PeerKind::Silent {
            return Answer::Nothing;
        }
        let honest = respond(&self.view(store), request, config);
        let answer = match self.kind {
            PeerKind::Byzantine(class) if self.prng.chance(self.lie_chance) => {
                self.lies += 1;
                self.lie(class, store, config, request, honest)
            }
            _ => Answer::Response(honest),
        };
        if let Answer::Response(response) = &answer {
            self.answers.push_back((request_id, response.clone()));
            if self.answers.len() > REMEMBERED_ANSWERS_MAX {
                self.answers.pop_front();
            }
        }
        answer
    }

    /// An old answer to resend (`ReplayAnswers`), with its original request id.
    pub fn old_answer(&mut self) -> Option<(u64, Response)> {
        let index = self.prng.below(self.answers.len() as u64) as usize;
        self.answers.get(index).cloned()
    }

    pub fn prng(&mut self) -> &mut Prng {
        &mut self.prng
    }

    fn lie(
        &mut self,
        class: ByzantineClass,
        store: &ChainStore,
        config: &Config,
        request: &Request,
        honest: Response,
    ) -> Answer {
        let head = store.block(&self.head).cloned();
        let head_state = store.get(&self.head).map(|p| p.state.clone()).unwrap_or_else(Trie::fresh);
        let prng = &mut self.prng;
        let tag = |chunk: Chunk| match &head {
            Some(head) => Response::Chunk { block_number: head.number(), block_hash: head.hash(), chunk },
            None => Response::IncompleteState,
        };
        match (class, request, honest) {
            (ByzantineClass::WrongProof, _, Response::Chunk { block_number, block_hash, mut chunk }) => {
                let nodes = chunk.proof.len();
                match prng.below(3) {
                    0 if nodes > 0 => drop(chunk.proof.remove(prng.below(nodes as u64) as usize)),
                    1 if nodes > 1 => chunk.proof.swap(0, nodes - 1),
                    _ => {
                        let node = &mut chunk.proof[prng.below(nodes as u64) as usize];
                        match node.slots.iter_mut().flatten().next() {
                            Some(slot) => slot.hash.0[0] ^= 0x55,
                            None => {
                                node.slots[3] = Some(ProofSlot {
                                    suffix: Key::from_hex("3").unwrap_or_default(),
                                    hash: Hash([7; 32]),
                                })
                            }
                        }
                    }
                }
                Answer::Response(Response::Chunk { block_number, block_hash, chunk })
            }
            (ByzantineClass::WrongItems, _, Response::Chunk { block_number, block_hash, mut chunk }) => {
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
                Answer::Response(Response::Chunk { block_number, block_hash, chunk })
            }
            (ByzantineClass::Truncated, _, Response::Chunk { block_number, block_hash, mut chunk }) => {
                if chunk.items.len() >= 2 {
                    chunk.items.truncate(chunk.items.len() / 2);
                } else if chunk.end.is_some() {
                    chunk.end = None;
                } else {
                    chunk.items.clear();
                }
                Answer::Response(Response::Chunk { block_number, block_hash, chunk })
            }
            (ByzantineClass::WrongStart, Request::Chunk { start_key, limit }, honest) => {
                let other = match honest {
                    Response::Chunk { ref chunk, .. } if chunk.items.len() > 1 => chunk.items[1].0.clone(),
                    _ if !start_key.is_empty() => Key::EMPTY,
                    _ => Key::from_hex("8").unwrap_or_default(),
                };
                let limit = (*limit).clamp(1, config.chunk_size_max) as usize;
                head_state.chunk(&other, limit).map_or(Answer::Response(honest), |chunk| Answer::Response(tag(chunk)))
            }
            (
                ByzantineClass::ZeroProgress,
                Request::Chunk { start_key, .. },
                Response::Chunk { block_number, block_hash, mut chunk },
            ) => {
                chunk.items.clear();
                chunk.end = Some(start_key.clone());
                Answer::Response(Response::Chunk { block_number, block_hash, chunk })
            }
            (ByzantineClass::Oversized, Request::Chunk { start_key, limit }, honest) => {
                let more = (*limit as usize).saturating_add(1 + prng.below(4) as usize);
                match head_state.chunk(start_key, more) {
                    Some(chunk) if chunk.items.len() > *limit as usize => Answer::Response(tag(chunk)),
                    _ => Answer::Response(honest),
                }
            }
            (ByzantineClass::Undecodable, _, _) => {
                let length = prng.below(64) as usize;
                Answer::Garbage(prng.bytes(length))
            }
            (ByzantineClass::UnknownTag, _, Response::Chunk { block_number, chunk, .. }) => {
                let number = match prng.below(4) {
                    0 => block_number + 1 + prng.below(8) as u32,
                    1 => block_number + 10_000,
                    2 => block_number.saturating_sub(10_000),
                    _ => block_number + 1,
                };
                let fake = Hash(prng.bytes(32).try_into().unwrap_or([3; 32]));
                Answer::Response(Response::Chunk { block_number: number, block_hash: fake, chunk })
            }
            (ByzantineClass::StaleRetag, Request::Chunk { start_key, limit }, honest) => {
                let older = self.recent_heads.front().copied().filter(|old| *old != self.head);
                let limit = (*limit).clamp(1, config.chunk_size_max) as usize;
                match older.and_then(|old| store.get(&old)).and_then(|p| p.state.chunk(start_key, limit)) {
                    Some(chunk) => Answer::Response(tag(chunk)),
                    None => Answer::Response(honest),
                }
            }
            (ByzantineClass::IncompleteLie, Request::Chunk { .. }, _) => Answer::Response(Response::IncompleteState),
            (ByzantineClass::GarbageDiff, Request::TrieDiff { .. }, _) => {
                let key = Key::from_bytes(&prng.bytes(20)).unwrap_or_default();
                let diff = TrieDiff::new(vec![(key, Some(prng.bytes(32)))]).unwrap_or_default();
                Answer::Response(Response::Diff(diff))
            }
            (ByzantineClass::WrongBlockDiff, Request::TrieDiff { block_hash }, honest) => {
                let other = store.block(block_hash).and_then(|b| store.get(&b.parent_hash())).map(|p| p.diff.clone());
                Answer::Response(other.map_or(honest, Response::Diff))
            }
            (ByzantineClass::WithholdDiff | ByzantineClass::AbandonedFork, Request::TrieDiff { .. }, _) => {
                Answer::Response(Response::UnknownBlockHash)
            }
            (
                ByzantineClass::MaxChunks,
                Request::Chunk { start_key, limit },
                Response::Chunk { block_number, mut chunk, .. },
            ) => {
                // Items of the largest value, keys ascending from the start: well formed, useless, maximal.
                let items = (*limit).clamp(1, config.chunk_size_max) as usize;
                let prefix = start_key.nibbles()[..start_key.len().min(KEY_MAX - 6)].to_vec();
                chunk.items = (0..items)
                    .map(|i| {
                        let mut nibbles = prefix.clone();
                        nibbles.extend((0..6).rev().map(|shift| ((i >> (4 * shift)) & 0xf) as u8));
                        (Key::from_nibbles(&nibbles).unwrap_or_default(), vec![0xab; VALUE_MAX])
                    })
                    .collect();
                chunk.end = chunk.items.last().and_then(|(key, _)| key.successor());
                let fake = Hash(prng.bytes(32).try_into().unwrap_or([4; 32]));
                Answer::Response(Response::Chunk { block_number: block_number + 2, block_hash: fake, chunk })
            }
            (ByzantineClass::BadMissingBlocks, _, Response::Blocks(mut blocks)) => {
                match prng.below(3) {
                    0 if blocks.len() > 1 => blocks.reverse(),
                    1 if blocks.len() > 2 => drop(blocks.remove(1)),
                    _ => {
                        let extra: Vec<Block> = (0..config.bpb + 1)
                            .filter_map(|n| store.canonical_at(n).map(|p| p.block.clone()))
                            .collect();
                        blocks.extend(extra);
                    }
                }
                Answer::Response(Response::Blocks(blocks))
            }
            (_, _, honest) => Answer::Response(honest),
        }
    }
}

/// A peer's view of the store at its head: what it can serve.
struct PeerView<'a> {
    store: &'a ChainStore,
    peer: &'a SimPeer,
}

impl ChainView for PeerView<'_> {
    fn head(&self) -> &Block {
        self.store.block(&self.peer.head).expect("a peer's head is produced")
    }
    fn block(&self, hash: &Hash) -> Option<&Block> {
        self.peer.known.contains(hash).then(|| self.store.block(hash)).flatten()
    }
    fn is_main(&self, hash: &Hash) -> bool {
        self.store.block(hash).is_some_and(|block| self.peer.main.get(&block.number()) == Some(hash))
    }
    fn main_at(&self, number: u32) -> Option<&Block> {
        self.store.block(self.peer.main.get(&number)?)
    }
    fn diff(&self, hash: &Hash) -> Option<&TrieDiff> {
        self.peer.known.contains(hash).then(|| self.store.get(hash).map(|p| &p.diff)).flatten()
    }
    fn head_state(&self) -> &Trie {
        &self.store.get(&self.peer.head).expect("a peer's head is produced").state
    }
}
