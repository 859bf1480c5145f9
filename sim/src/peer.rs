//! Simulated peers: honest full nodes that follow the chain and answer through the engine's own responder
//! (`sync_core::responder::respond`), slow ones, silent ones, and byzantine ones, whose lies are the adversary's
//! (`crate::adversary`). A peer's state is the producer's state of its head (a shared persistent trie).

use crate::adversary::answers::{self, Liar, Told};
use crate::adversary::ByzantineClass;
use crate::prng::{Prng, Stream};
use crate::producer::ChainStore;
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use sync_core::block::Block;
use sync_core::responder::{respond, ChainView};
use sync_core::wire::{Request, Response};
use sync_core::{Config, Hash, PeerId, Trie, TrieDiff};

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
    /// Its honest behaviour: how long it takes to answer.
    prng: Prng,
    /// Its lies, if it is a liar: whether it lies, and how (`crate::adversary`). Its own stream, so that
    /// switching a liar on changes nothing else in the world.
    adversary: Prng,
    recent_heads: VecDeque<Hash>,
    answers: VecDeque<(u64, Response)>,
    pub lies: u64,
    /// Whether its last answer was a lie, and of which class (for the accounting oracle).
    pub last_lie: Option<ByzantineClass>,
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
            adversary: Prng::new(seed, Stream::Adversary(index)),
            recent_heads: VecDeque::from([hash]),
            answers: VecDeque::new(),
            lies: 0,
            last_lie: None,
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
        // Everything from the new block's height up goes (a split, not a walk of the whole main chain per block).
        drop(self.main.split_off(&block.number()));
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
        self.last_lie = None;
        if self.kind == PeerKind::Silent {
            return Answer::Nothing;
        }
        let honest = respond(&self.view(store), request, config);
        let answer = match self.kind {
            PeerKind::Byzantine(class) if self.adversary.chance(self.lie_chance) => {
                let older_head = self.recent_heads.front().copied().filter(|old| *old != self.head);
                let mut liar = Liar { store, config, head: self.head, older_head, prng: &mut self.adversary };
                match answers::lie(class, &mut liar, request, honest) {
                    Told::Lie(answer) => {
                        self.lies += 1;
                        self.last_lie = Some(class);
                        answer
                    }
                    Told::Honest(honest) => Answer::Response(honest),
                }
            }
            _ => Answer::Response(honest),
        };
        // Only a replaying liar resends old answers: the others keep none (a copy of every chunk cost 3 % of
        // explore).
        let replays = self.kind == PeerKind::Byzantine(ByzantineClass::ReplayAnswers);
        if let (true, Answer::Response(response)) = (replays, &answer) {
            self.answers.push_back((request_id, response.clone()));
            if self.answers.len() > REMEMBERED_ANSWERS_MAX {
                self.answers.pop_front();
            }
        }
        answer
    }

    /// An old answer to resend (`ReplayAnswers`), with its original request id.
    pub fn old_answer(&mut self) -> Option<(u64, Response)> {
        let index = self.adversary.below(self.answers.len() as u64) as usize;
        self.answers.get(index).cloned()
    }

    /// The peer's own stream: its answer delays.
    pub fn prng(&mut self) -> &mut Prng {
        &mut self.prng
    }

    /// The liar's stream: everything it lies with.
    pub fn adversary(&mut self) -> &mut Prng {
        &mut self.adversary
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
