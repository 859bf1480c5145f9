//! Protocol messages and their one canonical, versioned binary encoding (§3).
//!
//! Decoding is total: bytes either decode to a message within every bound or yield a [`DecodeError`].

use crate::block::{Block, BODY_OPS_MAX};
use crate::codec::{DecodeError, Reader, Writer};
use crate::hash::Hash;
use crate::key::Key;
use crate::trie::{Chunk, TrieDiff, CHUNK_ITEMS_MAX, PROOF_NODES_MAX, VALUE_MAX};

/// The wire version; a message with another version is undecodable.
pub const WIRE_VERSION: u8 = 1;
/// The largest batch size (`bpb`) the protocol supports; locators and block lists are bounded by it.
pub const BPB_MAX: u32 = 254;
/// Locators per missing-blocks request: at most `bpb + 2` (§3.4).
pub const LOCATORS_MAX: usize = BPB_MAX as usize + 2;
/// Blocks per missing-blocks response: at most `bpb`.
pub const BLOCKS_PER_RESPONSE_MAX: usize = BPB_MAX as usize;
/// The largest message in bytes. A full chunk and a full block list fit; anything larger is undecodable.
pub const MESSAGE_BYTES_MAX: usize = 16 << 20;

/// Worst-case bytes of a maximal chunk: items, then proof nodes with a value and all 16 slots.
const CHUNK_BYTES_MAX: usize =
    CHUNK_ITEMS_MAX * (33 + 4 + VALUE_MAX) + PROOF_NODES_MAX * (33 + 5 + VALUE_MAX + 16 * (1 + 33 + 32)) + 16;
const _: () = assert!(CHUNK_BYTES_MAX + 64 <= MESSAGE_BYTES_MAX, "a full chunk fits a message");
const _: () = assert!(
    BLOCKS_PER_RESPONSE_MAX * (200 + BODY_OPS_MAX * (2 + 33 + 4 + VALUE_MAX)) <= MESSAGE_BYTES_MAX * 16,
    "block lists are bounded by count and by the message size"
);

/// Chosen by the requester, unique per requester for its lifetime; echoed by the response.
pub type RequestId = u64;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Request {
    /// §3.4: locators newest first.
    MissingBlocks { target_hash: Hash, locators: Vec<Hash>, include_body: bool },
    /// §3.5.
    TrieDiff { block_hash: Hash },
    /// §3.6: the answer is cut from the responder's head, whatever it is. §2.13 (Ours, tag 4, added without a
    /// version change: a request without a bound keeps tag 2 and its old bytes): with `end_bound`, a lane's end
    /// (a one-nibble key above `start_key`), the chunk holds only keys below it, and ends at it when the lane is
    /// exhausted.
    Chunk { start_key: Key, limit: u32, end_bound: Option<Key> },
    /// §3.4, Ours (tag 3, added without a version change: older requests decode as before): the main-chain
    /// blocks from height `first` towards `target_hash`, stopping at the first macro block, at most `bpb` of
    /// them. A catch-up asks for several batches at once this way, by height, before it holds their parents.
    BlocksFrom { target_hash: Hash, first: u32, include_body: bool },
}

/// Every answer any request can get. Which variants fit which request is the engine's business (a mismatch is
/// a violation, §4.2).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Response {
    Blocks(Vec<Block>),
    UnknownLocators,
    TargetHashNotFound,
    TargetNotOnMainChain,
    Diff(TrieDiff),
    UnknownBlockHash,
    /// The responder holds no diff for that block, or its trie is incomplete (no chunks).
    IncompleteState,
    Chunk {
        block_number: u32,
        block_hash: Hash,
        chunk: Chunk,
    },
    RateLimited,
    /// §2.13: the chunk request's end bound is not a one-nibble key above its start (tag 9).
    BadEndBound,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Message {
    Announce(Block),
    Request { request_id: RequestId, request: Request },
    Response { request_id: RequestId, response: Response },
}

impl Request {
    pub fn encode(&self, writer: &mut Writer) {
        match self {
            Request::MissingBlocks { target_hash, locators, include_body } => {
                writer.u8(0);
                writer.raw(&target_hash.0);
                writer.u32(locators.len() as u32);
                for locator in locators {
                    writer.raw(&locator.0);
                }
                writer.bool(*include_body);
            }
            Request::TrieDiff { block_hash } => {
                writer.u8(1);
                writer.raw(&block_hash.0);
            }
            Request::Chunk { start_key, limit, end_bound } => {
                writer.u8(if end_bound.is_some() { 4 } else { 2 });
                start_key.encode(writer);
                writer.u32(*limit);
                if let Some(end_bound) = end_bound {
                    end_bound.encode(writer);
                }
            }
            Request::BlocksFrom { target_hash, first, include_body } => {
                writer.u8(3);
                writer.raw(&target_hash.0);
                writer.u32(*first);
                writer.bool(*include_body);
            }
        }
    }

    pub fn decode(reader: &mut Reader<'_>) -> Result<Request, DecodeError> {
        match reader.u8()? {
            0 => {
                let target_hash = Hash(reader.hash32()?);
                let count = reader.count("locators", LOCATORS_MAX)?;
                let locators = (0..count).map(|_| reader.hash32().map(Hash)).collect::<Result<_, _>>()?;
                Ok(Request::MissingBlocks { target_hash, locators, include_body: reader.bool()? })
            }
            1 => Ok(Request::TrieDiff { block_hash: Hash(reader.hash32()?) }),
            2 => Ok(Request::Chunk { start_key: Key::decode(reader)?, limit: reader.u32()?, end_bound: None }),
            4 => Ok(Request::Chunk {
                start_key: Key::decode(reader)?,
                limit: reader.u32()?,
                end_bound: Some(Key::decode(reader)?),
            }),
            3 => Ok(Request::BlocksFrom {
                target_hash: Hash(reader.hash32()?),
                first: reader.u32()?,
                include_body: reader.bool()?,
            }),
            _ => Err(DecodeError::Invalid("request tag")),
        }
    }
}

impl Response {
    pub fn encode(&self, writer: &mut Writer) {
        match self {
            Response::Blocks(blocks) => {
                writer.u8(0);
                writer.u32(blocks.len() as u32);
                for block in blocks {
                    block.encode(writer);
                }
            }
            Response::UnknownLocators => writer.u8(1),
            Response::TargetHashNotFound => writer.u8(2),
            Response::TargetNotOnMainChain => writer.u8(3),
            Response::Diff(diff) => {
                writer.u8(4);
                diff.encode(writer);
            }
            Response::UnknownBlockHash => writer.u8(5),
            Response::IncompleteState => writer.u8(6),
            Response::Chunk { block_number, block_hash, chunk } => {
                writer.u8(7);
                writer.u32(*block_number);
                writer.raw(&block_hash.0);
                chunk.encode(writer);
            }
            Response::RateLimited => writer.u8(8),
            Response::BadEndBound => writer.u8(9),
        }
    }

    pub fn decode(reader: &mut Reader<'_>) -> Result<Response, DecodeError> {
        Ok(match reader.u8()? {
            0 => {
                let count = reader.count("blocks", BLOCKS_PER_RESPONSE_MAX)?;
                let mut blocks = Vec::with_capacity(count.min(reader.remaining() / 150));
                for _ in 0..count {
                    blocks.push(Block::decode(reader)?);
                }
                Response::Blocks(blocks)
            }
            1 => Response::UnknownLocators,
            2 => Response::TargetHashNotFound,
            3 => Response::TargetNotOnMainChain,
            4 => Response::Diff(TrieDiff::decode(reader)?),
            5 => Response::UnknownBlockHash,
            6 => Response::IncompleteState,
            7 => Response::Chunk {
                block_number: reader.u32()?,
                block_hash: Hash(reader.hash32()?),
                chunk: Chunk::decode(reader)?,
            },
            8 => Response::RateLimited,
            9 => Response::BadEndBound,
            _ => return Err(DecodeError::Invalid("response tag")),
        })
    }

    /// A short name for traces and penalties.
    pub fn kind(&self) -> &'static str {
        match self {
            Response::Blocks(_) => "blocks",
            Response::UnknownLocators => "unknown-locators",
            Response::TargetHashNotFound => "target-not-found",
            Response::TargetNotOnMainChain => "target-not-on-main-chain",
            Response::Diff(_) => "diff",
            Response::UnknownBlockHash => "unknown-block-hash",
            Response::IncompleteState => "incomplete-state",
            Response::Chunk { .. } => "chunk",
            Response::RateLimited => "rate-limited",
            Response::BadEndBound => "bad-end-bound",
        }
    }
}

impl Message {
    pub fn encode(&self) -> Vec<u8> {
        let mut writer = Writer::default();
        writer.u8(WIRE_VERSION);
        match self {
            Message::Announce(block) => {
                writer.u8(0);
                block.encode(&mut writer);
            }
            Message::Request { request_id, request } => {
                writer.u8(1);
                writer.u64(*request_id);
                request.encode(&mut writer);
            }
            Message::Response { request_id, response } => {
                writer.u8(2);
                writer.u64(*request_id);
                response.encode(&mut writer);
            }
        }
        writer.into_bytes()
    }

    pub fn decode(bytes: &[u8]) -> Result<Message, DecodeError> {
        if bytes.len() > MESSAGE_BYTES_MAX {
            let got = bytes.len() as u64;
            return Err(DecodeError::OverBound { what: "message bytes", limit: MESSAGE_BYTES_MAX as u64, got });
        }
        let mut reader = Reader::new(bytes);
        if reader.u8()? != WIRE_VERSION {
            return Err(DecodeError::Invalid("wire version"));
        }
        let message = match reader.u8()? {
            0 => Message::Announce(Block::decode(&mut reader)?),
            1 => Message::Request { request_id: reader.u64()?, request: Request::decode(&mut reader)? },
            2 => Message::Response { request_id: reader.u64()?, response: Response::decode(&mut reader)? },
            _ => return Err(DecodeError::Invalid("message tag")),
        };
        reader.finish()?;
        Ok(message)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::block::Header;
    use crate::trie::{Op, Trie};
    use proptest::prelude::*;

    fn sample_messages() -> Vec<Message> {
        let state = Trie::from_items([(Key::from_hex("4a3").unwrap(), b"x".to_vec())]).unwrap();
        let chunk = state.chunk(&Key::EMPTY, 5).unwrap();
        let (_, diff) = state.execute(&[Op::Set(Key::from_hex("5").unwrap(), b"y".to_vec())]).unwrap();
        let header = Header {
            number: 7,
            parent_hash: Hash([1; 32]),
            state_root: Hash([2; 32]),
            diff_root: diff.root(),
            body_root: Hash([4; 32]),
            is_macro: false,
            seal: Hash([5; 32]),
        };
        let block = Block::new(header, Some(vec![Op::Delete(Key::from_hex("4a3").unwrap())]));
        vec![
            Message::Announce(block.clone()),
            Message::Request {
                request_id: 9,
                request: Request::MissingBlocks {
                    target_hash: Hash([6; 32]),
                    locators: vec![Hash([7; 32])],
                    include_body: true,
                },
            },
            Message::Request {
                request_id: 10,
                request: Request::Chunk { start_key: Key::EMPTY, limit: 1000, end_bound: None },
            },
            Message::Request {
                request_id: 15,
                request: Request::Chunk {
                    start_key: Key::from_hex("41").unwrap(),
                    limit: 9,
                    end_bound: Key::from_hex("8").ok(),
                },
            },
            Message::Request {
                request_id: 14,
                request: Request::BlocksFrom { target_hash: Hash([8; 32]), first: 61, include_body: false },
            },
            Message::Response { request_id: 11, response: Response::Blocks(vec![block.clone(), block.without_body()]) },
            Message::Response { request_id: 12, response: Response::Diff(diff) },
            Message::Response {
                request_id: 13,
                response: Response::Chunk { block_number: 7, block_hash: block.hash(), chunk },
            },
            Message::Response { request_id: 14, response: Response::RateLimited },
            Message::Response { request_id: 15, response: Response::BadEndBound },
        ]
    }

    #[test]
    fn messages_round_trip() {
        for message in sample_messages() {
            assert_eq!(Message::decode(&message.encode()), Ok(message.clone()), "{message:?}");
        }
    }

    #[test]
    fn a_wrong_version_or_trailing_byte_is_undecodable() {
        let mut bytes = sample_messages()[0].encode();
        bytes.push(0);
        assert!(matches!(Message::decode(&bytes), Err(DecodeError::TrailingBytes { count: 1 })));
        bytes.pop();
        bytes[0] = 2;
        assert_eq!(Message::decode(&bytes), Err(DecodeError::Invalid("wire version")));
    }

    proptest! {
        /// Every truncation and bit flip of a valid message is rejected or decodes canonically; never a panic.
        #[test]
        fn mutated_messages_never_panic(pick in 0usize..7, cut in any::<usize>(), flips in prop::collection::vec((any::<usize>(), any::<u8>()), 0..4)) {
            let bytes = sample_messages()[pick].encode();
            let _ = Message::decode(&bytes[..cut % bytes.len()]);
            let mut flipped = bytes.clone();
            for (index, mask) in flips {
                let index = index % flipped.len();
                flipped[index] ^= mask;
            }
            if let Ok(message) = Message::decode(&flipped) {
                prop_assert_eq!(message.encode(), flipped, "decoding is canonical");
            }
        }

        #[test]
        fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..400)) {
            let _ = Message::decode(&bytes);
        }
    }
}
