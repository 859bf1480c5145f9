//! Blocks of the simplified Albatross chain (§1.2, §3.2): headers, seals, bodies, intrinsic validity.

use crate::codec::{DecodeError, Reader, Writer};
use crate::hash::{blake2b_256, blake2b_256_parts, Hash};
use crate::trie::Op;
use std::fmt;
use std::sync::Arc;

/// The most operations a body may carry on the wire.
pub const BODY_OPS_MAX: usize = 1024;

/// A block header. `hash` covers every field but the seal.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Header {
    pub number: u32,
    pub parent_hash: Hash,
    pub state_root: Hash,
    pub diff_root: Hash,
    pub body_root: Hash,
    pub is_macro: bool,
    /// Stands for all producer signatures and macro justifications: only the producer can make a valid one.
    pub seal: Hash,
}

impl Header {
    fn encode_unsealed(&self, writer: &mut Writer) {
        writer.u32(self.number);
        writer.raw(&self.parent_hash.0);
        writer.raw(&self.state_root.0);
        writer.raw(&self.diff_root.0);
        writer.raw(&self.body_root.0);
        writer.bool(self.is_macro);
    }

    /// Blake2b-256 of the canonical header encoding without the seal.
    pub fn hash(&self) -> Hash {
        let mut writer = Writer::with_capacity(140);
        self.encode_unsealed(&mut writer);
        blake2b_256(&writer.into_bytes())
    }

    pub fn encode(&self, writer: &mut Writer) {
        self.encode_unsealed(writer);
        writer.raw(&self.seal.0);
    }

    pub fn decode(reader: &mut Reader<'_>) -> Result<Header, DecodeError> {
        Ok(Header {
            number: reader.u32()?,
            parent_hash: Hash(reader.hash32()?),
            state_root: Hash(reader.hash32()?),
            diff_root: Hash(reader.hash32()?),
            body_root: Hash(reader.hash32()?),
            is_macro: reader.bool()?,
            seal: Hash(reader.hash32()?),
        })
    }
}

/// `body_root`: Blake2b-256 of the canonical body encoding.
pub fn body_root(ops: &[Op]) -> Hash {
    if ops.is_empty() {
        return crate::hash::EMPTY_LIST_ROOT;
    }
    let mut writer = Writer::default();
    encode_body(ops, &mut writer);
    blake2b_256(&writer.into_bytes())
}

fn encode_body(ops: &[Op], writer: &mut Writer) {
    writer.u32(ops.len() as u32);
    for op in ops {
        op.encode(writer);
    }
}

/// A header, an optional body, and the header's hash computed once. Cheap to clone.
#[derive(Clone, PartialEq, Eq)]
pub struct Block(Arc<BlockInner>);

#[derive(PartialEq, Eq)]
struct BlockInner {
    header: Header,
    body: Option<Vec<Op>>,
    hash: Hash,
}

impl Block {
    pub fn new(header: Header, body: Option<Vec<Op>>) -> Block {
        let hash = header.hash();
        Block(Arc::new(BlockInner { header, body, hash }))
    }

    /// `header` sealed by `seal` over its hash (the seal field it has is replaced), hashed once: the hash leaves
    /// the seal out, so sealing first and `new` after would hash the same bytes twice.
    pub fn sealed(mut header: Header, body: Option<Vec<Op>>, seal: impl FnOnce(&Hash) -> Hash) -> Block {
        let hash = header.hash();
        header.seal = seal(&hash);
        Block(Arc::new(BlockInner { header, body, hash }))
    }

    pub fn header(&self) -> &Header {
        &self.0.header
    }

    pub fn body(&self) -> Option<&[Op]> {
        self.0.body.as_deref()
    }

    pub fn hash(&self) -> Hash {
        self.0.hash
    }

    pub fn number(&self) -> u32 {
        self.0.header.number
    }

    pub fn parent_hash(&self) -> Hash {
        self.0.header.parent_hash
    }

    /// The same block without its body (for peers that asked for headers only).
    pub fn without_body(&self) -> Block {
        Block::new(self.header().clone(), None)
    }

    pub fn encode(&self, writer: &mut Writer) {
        self.header().encode(writer);
        match self.body() {
            None => writer.u8(0),
            Some(ops) => {
                writer.u8(1);
                encode_body(ops, writer);
            }
        }
    }

    pub fn decode(reader: &mut Reader<'_>) -> Result<Block, DecodeError> {
        let header = Header::decode(reader)?;
        let body = match reader.u8()? {
            0 => None,
            1 => {
                let count = reader.count("body operations", BODY_OPS_MAX)?;
                let mut ops = Vec::with_capacity(count.min(reader.remaining() / 2));
                for _ in 0..count {
                    ops.push(Op::decode(reader)?);
                }
                Some(ops)
            }
            _ => return Err(DecodeError::Invalid("body flag")),
        };
        Ok(Block::new(header, body))
    }

    /// The parts of intrinsic validity that need no chain (§3.2): the seal verifies, the macro flag
    /// matches the number, the body is present iff expected and matches `body_root`.
    pub fn check_intrinsic(&self, seals: &dyn SealVerifier, bpb: u32, include_body: bool) -> Result<(), BlockInvalid> {
        let header = self.header();
        if !seals.verify(&self.hash(), &header.seal) {
            return Err(BlockInvalid::Seal);
        }
        if header.is_macro != header.number.is_multiple_of(bpb.max(1)) {
            return Err(BlockInvalid::MacroFlag);
        }
        match (self.body(), include_body) {
            (Some(ops), true) if body_root(ops) != header.body_root => Err(BlockInvalid::BodyRoot),
            (Some(_), true) | (None, false) => Ok(()),
            _ => Err(BlockInvalid::BodyPresence),
        }
    }
}

impl fmt::Debug for Block {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Block({} {:?})", self.number(), self.hash())
    }
}

/// Why a block is not valid (§3.2, §4.6).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum BlockInvalid {
    Seal,
    MacroFlag,
    BodyPresence,
    BodyRoot,
    /// `number != parent.number + 1`.
    Number,
    /// Executing the body or applying the diff gave another state root.
    StateRoot,
    /// The executed diff differs from the diff we hold, or its root from `diff_root`.
    Diff,
    /// The body cannot be executed (bounds).
    Body,
    /// A fork whose common ancestor lies below the latest macro block.
    ForkBelowMacro,
}

/// Checks seals. Handed to the engine at construction; peers can replay or withhold sealed blocks but not forge.
pub trait SealVerifier: Send + Sync + fmt::Debug {
    fn verify(&self, block_hash: &Hash, seal: &Hash) -> bool;
}

/// The simulated producer's seal: a keyed hash of the block hash. Whoever holds the key can seal; the
/// simulator gives it only to the producer.
#[derive(Clone, Debug)]
pub struct KeyedSeal {
    key: Hash,
}

impl KeyedSeal {
    pub fn new(key: Hash) -> KeyedSeal {
        KeyedSeal { key }
    }

    pub fn seal(&self, block_hash: &Hash) -> Hash {
        blake2b_256_parts(&[&self.key.0, &block_hash.0])
    }
}

impl SealVerifier for KeyedSeal {
    fn verify(&self, block_hash: &Hash, seal: &Hash) -> bool {
        self.seal(block_hash) == *seal
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `sealed` is sealing the header's hash and then `new`: the same header, seal and hash.
    #[test]
    fn a_sealed_block_is_the_block_built_after_sealing() {
        let seals = KeyedSeal::new(Hash([3; 32]));
        let header = Header {
            number: 9,
            parent_hash: Hash([1; 32]),
            state_root: Hash([2; 32]),
            diff_root: Hash::ZERO,
            body_root: crate::hash::EMPTY_LIST_ROOT,
            is_macro: false,
            seal: Hash([0xee; 32]),
        };
        let mut by_hand = header.clone();
        by_hand.seal = seals.seal(&by_hand.hash());
        let expected = Block::new(by_hand, Some(Vec::new()));
        let block = Block::sealed(header, Some(Vec::new()), |hash| seals.seal(hash));
        assert!(block == expected, "the same block");
        assert_eq!(block.hash(), block.header().hash(), "the cached hash is the header's");
        assert!(seals.verify(&block.hash(), &block.header().seal), "the seal verifies");
    }
}
