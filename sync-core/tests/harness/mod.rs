//! An in-crate harness for the engine: a sealed test chain, servers that answer with the engine's own responder,
//! messages delivered by hand in FIFO order, time advanced by hand. No simulator, no randomness beyond a seed.
#![allow(dead_code)]

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;
use sync_core::block::{body_root, Block, Header, KeyedSeal};
use sync_core::responder::{respond, ChainView};
use sync_core::wire::{Request, Response};
use sync_core::{Config, Cursor, Event, Hash, Input, Key, Millis, Op, Output, PeerId, SyncEngine, Trie, TrieDiff};

/// A produced block with the state after it and its diff.
pub struct Produced {
    pub block: Block,
    pub state: Trie,
    pub diff: TrieDiff,
}

/// The producer: every block it makes is sealed; it can fork from any block it made.
pub struct TestChain {
    pub seals: KeyedSeal,
    pub bpb: u32,
    produced: BTreeMap<Hash, Produced>,
    pub genesis: Hash,
    salt: u64,
}

impl TestChain {
    /// A genesis macro block at height 0 whose state holds `accounts` accounts.
    pub fn new(bpb: u32, accounts: usize) -> TestChain {
        let seals = KeyedSeal::new(Hash([42; 32]));
        let items = (0..accounts).map(|i| (account(i as u64), value(i as u64, 0)));
        let state = Trie::from_items(items).unwrap();
        let diff = TrieDiff::default();
        let mut header = Header {
            number: 0,
            parent_hash: Hash::ZERO,
            state_root: state.root_if_computable().unwrap(),
            diff_root: diff.root(),
            body_root: body_root(&[]),
            is_macro: true,
            seal: Hash::ZERO,
        };
        header.seal = seals.seal(&header.hash());
        let block = Block::new(header, Some(Vec::new()));
        let genesis = block.hash();
        let mut produced = BTreeMap::new();
        produced.insert(genesis, Produced { block, state, diff });
        TestChain { seals, bpb, produced, genesis, salt: 0 }
    }

    pub fn get(&self, hash: &Hash) -> &Produced {
        &self.produced[hash]
    }

    pub fn block(&self, hash: &Hash) -> Block {
        self.produced[hash].block.clone()
    }

    pub fn root(&self, hash: &Hash) -> Hash {
        self.produced[hash].block.header().state_root
    }

    /// A child of `parent` executing `ops`, sealed after `tamper` edits the header.
    pub fn child_with(&mut self, parent: Hash, ops: Vec<Op>, tamper: impl FnOnce(&mut Header)) -> Block {
        let parent = &self.produced[&parent];
        let (state, diff) = parent.state.execute(&ops).unwrap();
        let number = parent.block.number() + 1;
        let mut header = Header {
            number,
            parent_hash: parent.block.hash(),
            state_root: state.root_if_computable().unwrap(),
            diff_root: diff.root(),
            body_root: body_root(&ops),
            is_macro: number.is_multiple_of(self.bpb),
            seal: Hash::ZERO,
        };
        tamper(&mut header);
        header.seal = self.seals.seal(&header.hash());
        let block = Block::new(header, Some(ops));
        self.produced.insert(block.hash(), Produced { block: block.clone(), state, diff });
        block
    }

    pub fn child(&mut self, parent: Hash, ops: Vec<Op>) -> Block {
        self.child_with(parent, ops, |_| {})
    }

    /// A child that rewrites a few existing accounts and creates one (different per call).
    pub fn next(&mut self, parent: Hash) -> Block {
        self.salt += 1;
        let ops = self.ops_for(parent, self.salt);
        self.child(parent, ops)
    }

    pub fn ops_for(&self, parent: Hash, salt: u64) -> Vec<Op> {
        let accounts = self.produced[&parent].state.len().max(1) as u64;
        vec![
            Op::Set(account(salt * 7 % accounts), value(salt, 1)),
            Op::Mix(account(salt * 13 % accounts), salt.to_le_bytes().to_vec()),
            Op::Set(account(1_000_000 + salt), value(salt, 2)),
        ]
    }

    /// `count` blocks on top of `parent`, oldest first.
    pub fn extend(&mut self, parent: Hash, count: usize) -> Vec<Block> {
        let mut blocks = Vec::new();
        let mut tip = parent;
        for _ in 0..count {
            let block = self.next(tip);
            tip = block.hash();
            blocks.push(block);
        }
        blocks
    }

    pub fn view(&self, head: Hash) -> View<'_> {
        let mut main = BTreeMap::new();
        let mut cursor = Some(head);
        while let Some(hash) = cursor {
            let produced = &self.produced[&hash];
            main.insert(produced.block.number(), hash);
            cursor = (produced.block.number() > 0).then(|| produced.block.parent_hash());
        }
        View { chain: self, head, main }
    }
}

/// The account key of index `i`: 20 bytes from its hash.
pub fn account(i: u64) -> Key {
    let hash = sync_core::hash::blake2b_256(&i.to_le_bytes());
    Key::from_bytes(&hash.0[..20]).unwrap()
}

pub fn value(i: u64, version: u64) -> Vec<u8> {
    let mut bytes = i.to_le_bytes().to_vec();
    bytes.extend(version.to_le_bytes());
    bytes
}

/// A server's view of the test chain at its head.
pub struct View<'a> {
    chain: &'a TestChain,
    head: Hash,
    main: BTreeMap<u32, Hash>,
}

impl ChainView for View<'_> {
    fn head(&self) -> &Block {
        &self.chain.produced[&self.head].block
    }
    fn block(&self, hash: &Hash) -> Option<&Block> {
        self.chain.produced.get(hash).map(|p| &p.block)
    }
    fn is_main(&self, hash: &Hash) -> bool {
        self.chain.produced.get(hash).is_some_and(|p| self.main.get(&p.block.number()) == Some(hash))
    }
    fn main_at(&self, number: u32) -> Option<&Block> {
        self.main.get(&number).map(|hash| &self.chain.produced[hash].block)
    }
    fn diff(&self, hash: &Hash) -> Option<&TrieDiff> {
        self.chain.produced.get(hash).map(|p| &p.diff)
    }
    fn head_state(&self) -> &Trie {
        &self.chain.produced[&self.head].state
    }
}

/// Gets the request and the honest answer; returns what to send (`None`: nothing).
pub type RewriteFn = Box<dyn FnMut(&Request, Response) -> Option<Response>>;

/// How a server answers: honestly, never, or through a rewrite of the honest answer.
pub enum Behavior {
    Honest,
    Silent,
    Rewrite(RewriteFn),
}

pub struct Server {
    pub head: Hash,
    pub behavior: Behavior,
}

/// The engine under test and its world.
pub struct Harness {
    pub engine: SyncEngine,
    pub chain: TestChain,
    pub now: Millis,
    pub servers: BTreeMap<PeerId, Server>,
    inbox: VecDeque<Input>,
    /// Answers held back by `hold`, delivered by `release`.
    held: Vec<Input>,
    pub holding: bool,
    pub events: Vec<Event>,
    /// The chunk buffer's size right after each event's input.
    pub buffer_sizes: Vec<u32>,
    pub requests: Vec<(PeerId, Request)>,
    pub responses: Vec<(PeerId, Response)>,
}

impl Harness {
    /// A fresh syncing engine at the chain's genesis checkpoint.
    pub fn new(config: Config, accounts: usize) -> Harness {
        let chain = TestChain::new(config.bpb, accounts);
        let checkpoint = chain.block(&chain.genesis);
        let seals = Arc::new(chain.seals.clone());
        let engine = SyncEngine::new(config, 7, checkpoint, seals, Trie::fresh()).unwrap();
        Harness {
            engine,
            chain,
            now: Millis(0),
            servers: BTreeMap::new(),
            inbox: VecDeque::new(),
            held: Vec::new(),
            holding: false,
            events: Vec::new(),
            buffer_sizes: Vec::new(),
            requests: Vec::new(),
            responses: Vec::new(),
        }
    }

    /// Adds a server at `head` and tells the engine.
    pub fn join(&mut self, peer: u32, head: Hash, behavior: Behavior) -> PeerId {
        let peer = PeerId(peer);
        self.servers.insert(peer, Server { head, behavior });
        self.input(Input::PeerJoined { peer });
        peer
    }

    /// Feeds one input and everything that follows from it, until the inbox is empty.
    pub fn input(&mut self, input: Input) {
        self.inbox.push_back(input);
        self.settle();
    }

    /// Moves every honest and rewriting server to `head` and announces it from each of them.
    pub fn produce(&mut self, block: &Block) {
        let peers: Vec<PeerId> = self.servers.keys().copied().collect();
        for peer in &peers {
            self.servers.get_mut(peer).unwrap().head = block.hash();
        }
        for peer in peers {
            self.input(Input::Announce { peer, block: block.clone() });
        }
    }

    /// Produces `count` blocks on the current head of the first server, announcing each.
    pub fn grow(&mut self, count: usize) -> Vec<Block> {
        let tip = self.servers.values().next().map_or(self.chain.genesis, |server| server.head);
        let blocks = self.chain.extend(tip, count);
        for block in &blocks {
            self.produce(block);
        }
        blocks
    }

    fn settle(&mut self) {
        let mut steps = 0;
        while let Some(input) = self.inbox.pop_front() {
            self.engine.handle_input(self.now, input);
            self.engine.check_invariants();
            self.drain();
            steps += 1;
            assert!(steps < 1_000_000, "the harness does not converge");
        }
    }

    fn drain(&mut self) {
        while let Some(output) = self.engine.poll_output() {
            match output {
                Output::Event(event) => {
                    self.events.push(event);
                    self.buffer_sizes.push(self.engine.chunk_buffer_size());
                }
                Output::SendResponse { peer, response, .. } => self.responses.push((peer, response)),
                Output::SendRequest { peer, request_id, request } => {
                    self.requests.push((peer, request.clone()));
                    let Some(server) = self.servers.get_mut(&peer) else { continue };
                    let honest = respond(&self.chain.view(server.head), &request, self.engine.config());
                    let answer = match &mut server.behavior {
                        Behavior::Honest => Some(honest),
                        Behavior::Silent => None,
                        Behavior::Rewrite(rewrite) => rewrite(&request, honest),
                    };
                    if let Some(response) = answer {
                        let input = Input::Response { peer, request_id, response };
                        if self.holding {
                            self.held.push(input);
                        } else {
                            self.inbox.push_back(input);
                        }
                    }
                }
            }
        }
    }

    /// Delivers the answers held so far; answers to requests sent meanwhile are held again while `holding`.
    pub fn release(&mut self) {
        let held = std::mem::take(&mut self.held);
        self.inbox.extend(held);
        self.settle();
    }

    /// Delivers the answers held so far, newest first.
    pub fn release_reversed(&mut self) {
        let held = std::mem::take(&mut self.held);
        self.inbox.extend(held.into_iter().rev());
        self.settle();
    }

    /// Stops holding answers and delivers everything held.
    pub fn stop_holding(&mut self) {
        self.holding = false;
        self.release();
    }

    pub fn held(&self) -> usize {
        self.held.len()
    }

    /// Advances time by `ms` and fires the engine's timer if due.
    pub fn advance(&mut self, ms: u64) {
        self.now = self.now.plus(ms);
        self.input(Input::Timeout);
    }

    /// Jumps from timer to timer until the engine completes or `limit_ms` passes.
    pub fn run_until_complete(&mut self, limit_ms: u64) -> bool {
        let deadline = self.now.plus(limit_ms);
        while !self.engine.is_complete() && self.now < deadline {
            let next = self.engine.poll_timeout().map_or(deadline, |(at, _)| at.max(self.now.plus(1)));
            self.now = next.min(deadline);
            self.input(Input::Timeout);
        }
        self.engine.is_complete()
    }

    /// The engine's root equals the head block's state root.
    pub fn assert_synced(&self) {
        let head = self.engine.head().hash();
        assert!(self.engine.is_complete(), "not complete: {:?}", self.engine);
        assert_eq!(self.engine.root_if_computable(), Some(self.chain.root(&head)), "root differs from the head's");
        assert_eq!(self.engine.trie().items(), self.chain.get(&head).state.items(), "state differs from the head's");
    }

    pub fn count(&self, predicate: impl Fn(&Event) -> bool) -> usize {
        self.events.iter().filter(|event| predicate(event)).count()
    }

    /// Chunk requests sent to `peer` so far.
    pub fn chunk_requests_to(&self, peer: PeerId) -> usize {
        self.requests.iter().filter(|(p, r)| *p == peer && matches!(r, Request::Chunk { .. })).count()
    }

    pub fn cursor(&self) -> Cursor {
        self.engine.cursor().clone()
    }
}
