//! The trace of a run: a BLAKE2b-256 hash over a compact binary encoding of every input a node received and every
//! output it produced (not `format!("{:?}")`), and, when asked for, a readable log. Same seed, same hash.

use blake2::digest::consts::U32;
use blake2::{Blake2b, Digest};
use sync_core::block::Block;
use sync_core::wire::{Message, Request, Response};
use sync_core::{Event, Hash, Input, Key, Output, PeerId};

#[derive(Clone, Debug)]
pub struct Trace {
    hasher: Blake2b<U32>,
    scratch: Vec<u8>,
    /// The readable log, when recording.
    pub lines: Option<Vec<String>>,
    pub records: u64,
}

impl Trace {
    pub fn new(readable: bool) -> Trace {
        Trace { hasher: Blake2b::new(), scratch: Vec::with_capacity(256), lines: readable.then(Vec::new), records: 0 }
    }

    fn commit(&mut self) {
        self.hasher.update(&self.scratch);
        self.scratch.clear();
        self.records += 1;
    }

    pub fn input(&mut self, at: u64, node: u32, input: &Input) {
        self.head(at, node, 1);
        encode_input(input, &mut self.scratch);
        self.commit();
        if let Some(lines) = &mut self.lines {
            lines.push(format!("{at:>9} n{node} <- {}", describe_input(input)));
        }
    }

    /// A message from a peer, handed to the node as bytes: recorded as the typed input it decodes to (the world
    /// knows what it encoded), so that the hash is that of the same typed record.
    pub fn message(&mut self, at: u64, node: u32, peer: PeerId, message: &Message) {
        self.head(at, node, 1);
        encode_message(peer, message, &mut self.scratch);
        self.commit();
        if let Some(lines) = &mut self.lines {
            lines.push(format!("{at:>9} n{node} <- {}", describe_message(peer, message)));
        }
    }

    /// Bytes from a peer that are no message (the record of `Input::Bytes`).
    pub fn bytes(&mut self, at: u64, node: u32, peer: PeerId, bytes: &[u8]) {
        self.head(at, node, 1);
        encode_bytes(peer, bytes, &mut self.scratch);
        self.commit();
        if let Some(lines) = &mut self.lines {
            lines.push(format!("{at:>9} n{node} <- {peer} bytes({})", bytes.len()));
        }
    }

    pub fn output(&mut self, at: u64, node: u32, output: &Output) {
        self.head(at, node, 2);
        encode_output(output, &mut self.scratch);
        self.commit();
        if let Some(lines) = &mut self.lines {
            lines.push(format!("{at:>9} n{node} -> {}", describe_output(output)));
        }
    }

    /// A world happening that is not a node input (a block produced, a phase change): logged and hashed.
    pub fn note(&mut self, at: u64, text: &str) {
        self.head(at, u32::MAX, 3);
        self.scratch.extend_from_slice(text.as_bytes());
        self.commit();
        if let Some(lines) = &mut self.lines {
            lines.push(format!("{at:>9} -- {text}"));
        }
    }

    fn head(&mut self, at: u64, node: u32, kind: u8) {
        self.scratch.extend_from_slice(&at.to_le_bytes());
        self.scratch.extend_from_slice(&node.to_le_bytes());
        self.scratch.push(kind);
    }

    pub fn finish(&self) -> Hash {
        Hash(self.hasher.clone().finalize().into())
    }
}

fn key_bytes(key: &Key, out: &mut Vec<u8>) {
    out.push(key.len() as u8);
    out.extend_from_slice(key.nibbles());
}

fn encode_request(request: &Request, out: &mut Vec<u8>) {
    match request {
        Request::MissingBlocks { target_hash, locators, include_body } => {
            out.push(0);
            out.extend_from_slice(&target_hash.0[..8]);
            out.extend_from_slice(&(locators.len() as u32).to_le_bytes());
            out.push(u8::from(*include_body));
        }
        Request::TrieDiff { block_hash } => {
            out.push(1);
            out.extend_from_slice(&block_hash.0[..8]);
        }
        Request::Chunk { start_key, limit, end_bound } => {
            out.push(if end_bound.is_some() { 4 } else { 2 });
            key_bytes(start_key, out);
            out.extend_from_slice(&limit.to_le_bytes());
            if let Some(end_bound) = end_bound {
                key_bytes(end_bound, out);
            }
        }
        Request::BlocksFrom { target_hash, first, include_body } => {
            out.push(3);
            out.extend_from_slice(&target_hash.0[..8]);
            out.extend_from_slice(&first.to_le_bytes());
            out.push(u8::from(*include_body));
        }
    }
}

fn encode_response(response: &Response, out: &mut Vec<u8>) {
    out.push(match response {
        Response::Blocks(_) => 0,
        Response::UnknownLocators => 1,
        Response::TargetHashNotFound => 2,
        Response::TargetNotOnMainChain => 3,
        Response::Diff(_) => 4,
        Response::UnknownBlockHash => 5,
        Response::IncompleteState => 6,
        Response::Chunk { .. } => 7,
        Response::RateLimited => 8,
        Response::BadEndBound => 9,
    });
    match response {
        Response::Blocks(blocks) => {
            for block in blocks {
                out.extend_from_slice(&block.hash().0[..8]);
            }
        }
        Response::Diff(diff) => out.extend_from_slice(&diff.root().0[..8]),
        Response::Chunk { block_number, block_hash, chunk } => {
            out.extend_from_slice(&block_number.to_le_bytes());
            out.extend_from_slice(&block_hash.0[..8]);
            out.extend_from_slice(&(chunk.items.len() as u32).to_le_bytes());
            for (key, value) in chunk.items.first().into_iter().chain(chunk.items.last()) {
                key_bytes(key, out);
                out.extend_from_slice(value);
            }
            if let Some(end) = &chunk.end {
                key_bytes(end, out);
            }
            out.push(chunk.proof.len() as u8);
        }
        _ => {}
    }
}

/// The same bytes as the typed input the message decodes to.
fn encode_message(peer: PeerId, message: &Message, out: &mut Vec<u8>) {
    match message {
        Message::Announce(block) => encode_announce(peer, block, out),
        Message::Response { request_id, response } => encode_answer(peer, *request_id, response, out),
        Message::Request { request_id, request } => encode_asked(peer, *request_id, request, out),
    }
}

fn encode_announce(peer: PeerId, block: &Block, out: &mut Vec<u8>) {
    out.push(2);
    out.extend_from_slice(&peer.0.to_le_bytes());
    out.extend_from_slice(&block.hash().0[..8]);
}

fn encode_answer(peer: PeerId, request_id: u64, response: &Response, out: &mut Vec<u8>) {
    out.push(3);
    out.extend_from_slice(&peer.0.to_le_bytes());
    out.extend_from_slice(&request_id.to_le_bytes());
    encode_response(response, out);
}

fn encode_asked(peer: PeerId, request_id: u64, request: &Request, out: &mut Vec<u8>) {
    out.push(5);
    out.extend_from_slice(&peer.0.to_le_bytes());
    out.extend_from_slice(&request_id.to_le_bytes());
    encode_request(request, out);
}

fn encode_bytes(peer: PeerId, bytes: &[u8], out: &mut Vec<u8>) {
    out.push(6);
    out.extend_from_slice(&peer.0.to_le_bytes());
    out.extend_from_slice(&(bytes.len() as u32).to_le_bytes());
    out.extend_from_slice(&bytes[..bytes.len().min(16)]);
}

fn encode_input(input: &Input, out: &mut Vec<u8>) {
    match input {
        Input::PeerJoined { peer } => {
            out.push(0);
            out.extend_from_slice(&peer.0.to_le_bytes());
        }
        Input::PeerLeft { peer } => {
            out.push(1);
            out.extend_from_slice(&peer.0.to_le_bytes());
        }
        Input::Announce { peer, block } => encode_announce(*peer, block, out),
        Input::Response { peer, request_id, response } => encode_answer(*peer, *request_id, response, out),
        Input::RequestFailed { peer, request_id } => {
            out.push(4);
            out.extend_from_slice(&peer.0.to_le_bytes());
            out.extend_from_slice(&request_id.to_le_bytes());
        }
        Input::Request { peer, request_id, request } => encode_asked(*peer, *request_id, request, out),
        Input::Bytes { peer, bytes } => encode_bytes(*peer, bytes, out),
        Input::Timeout => out.push(7),
    }
}

fn encode_output(output: &Output, out: &mut Vec<u8>) {
    match output {
        Output::SendRequest { peer, request_id, request } => {
            out.push(0);
            out.extend_from_slice(&peer.0.to_le_bytes());
            out.extend_from_slice(&request_id.to_le_bytes());
            encode_request(request, out);
        }
        Output::SendResponse { peer, request_id, response } => {
            out.push(1);
            out.extend_from_slice(&peer.0.to_le_bytes());
            out.extend_from_slice(&request_id.to_le_bytes());
            encode_response(response, out);
        }
        Output::Event(event) => {
            out.push(2);
            encode_event(event, out);
        }
    }
}

fn encode_event(event: &Event, out: &mut Vec<u8>) {
    let hash = |out: &mut Vec<u8>, hash: &Hash| out.extend_from_slice(&hash.0[..8]);
    let tagged = |out: &mut Vec<u8>, tag: u8, h: &Hash| {
        out.push(tag);
        out.extend_from_slice(&h.0[..8]);
    };
    match event {
        Event::AcceptedAnnouncedBlock { hash: h, .. } => tagged(out, 0, h),
        Event::AcceptedBufferedBlock { hash: h, remaining, .. } => {
            out.push(1);
            hash(out, h);
            out.extend_from_slice(&remaining.to_le_bytes());
        }
        Event::ReceivedMissingBlocks { hashes } => {
            out.push(2);
            hashes.iter().for_each(|h| hash(out, h));
        }
        Event::RejectedBlock { hash: h, reason } => {
            out.push(3);
            hash(out, h);
            out.push(*reason as u8);
        }
        Event::StoredFork { hash: h, .. } => tagged(out, 4, h),
        Event::AcceptedChunks { hash: h, count } => {
            out.push(5);
            hash(out, h);
            out.extend_from_slice(&count.to_le_bytes());
        }
        Event::PeerBehind { peer } => out.extend_from_slice(&[6, peer.0 as u8]),
        Event::PeerAhead { peer } => out.extend_from_slice(&[7, peer.0 as u8]),
        Event::StateComplete { head } => tagged(out, 8, head),
        Event::LaneComplete { lane } => out.extend_from_slice(&[18, *lane]),
        Event::StateReset => out.push(9),
        // Lane 0 adds nothing: with one lane the bytes (and trace hashes) are those from before lanes.
        Event::ChunkChainReset { reason, lane: 0 } => out.extend_from_slice(&[10, *reason as u8]),
        Event::ChunkChainReset { reason, lane } => out.extend_from_slice(&[10, *reason as u8, *lane]),
        Event::StateProgress { head, missing } => {
            out.push(11);
            hash(out, head);
            if let Some(missing) = missing {
                key_bytes(missing, out);
            }
        }
        Event::Rebranched { reverted, adopted } => {
            out.push(12);
            reverted.iter().chain(adopted).for_each(|h| hash(out, h));
        }
        Event::PeerPenalized { peer, violation } => {
            out.extend_from_slice(&[13, peer.0 as u8]);
            out.extend_from_slice(format!("{violation:?}").as_bytes());
        }
        Event::PeerEvicted { peer } => out.extend_from_slice(&[14, peer.0 as u8]),
        Event::DiffUnavailable { hash: h } => tagged(out, 15, h),
        Event::ForkForgotten { hash: h, number, orphaned } => {
            tagged(out, 19, h);
            out.extend_from_slice(&number.to_le_bytes());
            orphaned.iter().for_each(|h| hash(out, h));
        }
        Event::ChunkWasted { peer, request_id, number, waste } => {
            out.extend_from_slice(&[16, peer.0 as u8, *waste as u8]);
            out.extend_from_slice(&request_id.to_le_bytes());
            out.extend_from_slice(&number.to_le_bytes());
        }
        Event::RequestTimedOut { peer, request_id } => {
            out.extend_from_slice(&[17, peer.0 as u8]);
            out.extend_from_slice(&request_id.to_le_bytes());
        }
    }
}

pub fn describe_request(request: &Request) -> String {
    match request {
        Request::MissingBlocks { target_hash, locators, .. } => {
            let first = locators.first().map_or(String::new(), |first| format!(" from {first:?}"));
            format!("missing-blocks(target {target_hash:?}, {} locators{first})", locators.len())
        }
        Request::TrieDiff { block_hash } => format!("diff({block_hash:?})"),
        Request::Chunk { start_key, limit, end_bound: None } => {
            format!("chunk(start {}, limit {limit})", short_key(start_key))
        }
        Request::Chunk { start_key, limit, end_bound: Some(bound) } => {
            format!("chunk(start {}, limit {limit}, below {})", short_key(start_key), short_key(bound))
        }
        Request::BlocksFrom { target_hash, first, .. } => format!("blocks-from(#{first}, target {target_hash:?})"),
    }
}

pub fn describe_response(response: &Response) -> String {
    match response {
        Response::Blocks(blocks) => {
            let numbers: Vec<String> = blocks.iter().map(|b| b.number().to_string()).collect();
            format!("blocks[{}]", numbers.join(","))
        }
        Response::Diff(diff) => format!("diff({} entries)", diff.len()),
        Response::Chunk { block_number, block_hash, chunk } => format!(
            "chunk(#{block_number} {block_hash:?}, {} items, end {})",
            chunk.items.len(),
            chunk.end.as_ref().map_or("none".to_string(), short_key)
        ),
        other => other.kind().to_string(),
    }
}

fn describe_message(peer: PeerId, message: &Message) -> String {
    match message {
        Message::Announce(block) => format!("{peer} announce #{} {:?}", block.number(), block.hash()),
        Message::Response { request_id, response } => {
            format!("{peer} answer r{request_id} {}", describe_response(response))
        }
        Message::Request { request_id, request } => format!("{peer} asks r{request_id} {}", describe_request(request)),
    }
}

fn describe_input(input: &Input) -> String {
    match input {
        Input::PeerJoined { peer } => format!("{peer} joined"),
        Input::PeerLeft { peer } => format!("{peer} left"),
        Input::Announce { peer, block } => format!("{peer} announce #{} {:?}", block.number(), block.hash()),
        Input::Response { peer, request_id, response } => {
            format!("{peer} answer r{request_id} {}", describe_response(response))
        }
        Input::RequestFailed { peer, request_id } => format!("{peer} failed r{request_id}"),
        Input::Request { peer, request_id, request } => {
            format!("{peer} asks r{request_id} {}", describe_request(request))
        }
        Input::Bytes { peer, bytes } => format!("{peer} bytes({})", bytes.len()),
        Input::Timeout => "timeout".into(),
    }
}

fn describe_output(output: &Output) -> String {
    match output {
        Output::SendRequest { peer, request_id, request } => {
            format!("{peer} r{request_id} {}", describe_request(request))
        }
        Output::SendResponse { peer, request_id, response } => {
            format!("{peer} reply r{request_id} {}", describe_response(response))
        }
        Output::Event(event) => format!("event {event:?}"),
    }
}

/// A key shortened for logs: its first 8 nibbles.
pub fn short_key(key: &Key) -> String {
    let text = key.to_string();
    if text.chars().count() > 8 {
        format!("{}…", text.chars().take(8).collect::<String>())
    } else {
        text
    }
}
