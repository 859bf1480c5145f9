//! Executing a block body on a complete trie: the new state and the block's diff (§1.2, §2.4).

use super::{Trie, TrieDiff, VALUE_MAX};
use crate::codec::{DecodeError, Reader, Writer};
use crate::hash::blake2b_256_parts;
use crate::key::Key;
use std::collections::BTreeMap;

/// One state operation of a block body.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Op {
    Set(Key, Vec<u8>),
    Delete(Key),
    /// Sets the value to Blake2b-256(old value ‖ salt), or Blake2b-256(salt) when the key is absent: executing
    /// it needs the old state, which is why incomplete nodes need diffs.
    Mix(Key, Vec<u8>),
}

/// Why a body cannot be executed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OpsError {
    /// Only a complete trie executes bodies.
    Incomplete,
    EmptyKey {
        index: usize,
    },
    ValueTooLong {
        index: usize,
    },
    /// More distinct keys than a diff may carry (`DIFF_ENTRIES_MAX`).
    TooManyKeys,
}

impl Op {
    pub fn key(&self) -> &Key {
        match self {
            Op::Set(key, _) | Op::Delete(key) | Op::Mix(key, _) => key,
        }
    }

    pub fn encode(&self, writer: &mut Writer) {
        match self {
            Op::Set(key, value) => {
                writer.u8(0);
                key.encode(writer);
                writer.byte_string(value);
            }
            Op::Delete(key) => {
                writer.u8(1);
                key.encode(writer);
            }
            Op::Mix(key, salt) => {
                writer.u8(2);
                key.encode(writer);
                writer.byte_string(salt);
            }
        }
    }

    pub fn decode(reader: &mut Reader<'_>) -> Result<Op, DecodeError> {
        let tag = reader.u8()?;
        let key = Key::decode(reader)?;
        if key.is_empty() {
            return Err(DecodeError::Invalid("an operation on the empty key"));
        }
        match tag {
            0 => Ok(Op::Set(key, reader.byte_string("value bytes", VALUE_MAX)?.to_vec())),
            1 => Ok(Op::Delete(key)),
            2 => Ok(Op::Mix(key, reader.byte_string("salt bytes", VALUE_MAX)?.to_vec())),
            _ => Err(DecodeError::Invalid("operation tag")),
        }
    }
}

impl Trie {
    /// Executes `ops` in order on this complete state: returns the new state and the block's diff, which holds
    /// only keys whose value really changed (§3.2). `self` is unchanged.
    pub fn execute(&self, ops: &[Op]) -> Result<(Trie, TrieDiff), OpsError> {
        if !self.is_complete() {
            return Err(OpsError::Incomplete);
        }
        let mut state = self.clone();
        let mut before: BTreeMap<Key, Option<Vec<u8>>> = BTreeMap::new();
        for (index, op) in ops.iter().enumerate() {
            let key = op.key();
            if key.is_empty() {
                return Err(OpsError::EmptyKey { index });
            }
            let old = state.get(key).map(<[u8]>::to_vec);
            before.entry(key.clone()).or_insert_with(|| old.clone());
            let new = match op {
                Op::Set(_, value) if value.len() > VALUE_MAX => return Err(OpsError::ValueTooLong { index }),
                Op::Set(_, value) => Some(value.clone()),
                Op::Delete(_) => None,
                Op::Mix(_, salt) => {
                    let old = old.as_deref().unwrap_or_default();
                    Some(blake2b_256_parts(&[old, salt]).0.to_vec())
                }
            };
            if let Err(error) = state.write(key, new.map(Vec::into_boxed_slice)) {
                unreachable!("a complete trie takes every checked write: {error:?}");
            }
        }
        state.rehash();
        let entries = before
            .into_iter()
            .filter_map(|(key, old)| {
                let new = state.get(&key).map(<[u8]>::to_vec);
                (new != old).then_some((key, new))
            })
            .collect();
        let diff = TrieDiff::new(entries).map_err(|_| OpsError::TooManyKeys)?;
        Ok((state, diff))
    }
}
