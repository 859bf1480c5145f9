//! Total, bounded byte decoding and canonical encoding: the wire's primitives (§3.1).
//!
//! Every read checks the remaining length first; every count a peer sends is checked against its bound
//! before anything is allocated for it. Nothing here panics on any input.

use std::fmt;

/// Why bytes are not a message. Always a value, never a panic (§3.1, STYLE §3).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DecodeError {
    /// The input ended in the middle of a value.
    Truncated,
    /// A complete value was followed by more bytes.
    TrailingBytes { count: usize },
    /// A count or length above its named bound.
    OverBound { what: &'static str, limit: u64, got: u64 },
    /// A tag, flag or field that no canonical encoding produces.
    Invalid(&'static str),
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DecodeError::Truncated => f.write_str("truncated"),
            DecodeError::TrailingBytes { count } => write!(f, "{count} trailing bytes"),
            DecodeError::OverBound { what, limit, got } => write!(f, "{what}: {got} over the bound {limit}"),
            DecodeError::Invalid(what) => write!(f, "invalid: {what}"),
        }
    }
}

impl std::error::Error for DecodeError {}

/// Appends canonical little-endian encodings to a byte buffer.
#[derive(Debug, Default)]
pub struct Writer {
    bytes: Vec<u8>,
}

impl Writer {
    pub fn with_capacity(capacity: usize) -> Writer {
        Writer { bytes: Vec::with_capacity(capacity) }
    }

    pub fn u8(&mut self, value: u8) {
        self.bytes.push(value);
    }

    pub fn u16(&mut self, value: u16) {
        self.bytes.extend_from_slice(&value.to_le_bytes());
    }

    pub fn u32(&mut self, value: u32) {
        self.bytes.extend_from_slice(&value.to_le_bytes());
    }

    pub fn u64(&mut self, value: u64) {
        self.bytes.extend_from_slice(&value.to_le_bytes());
    }

    pub fn bool(&mut self, value: bool) {
        self.bytes.push(u8::from(value));
    }

    pub fn raw(&mut self, bytes: &[u8]) {
        self.bytes.extend_from_slice(bytes);
    }

    /// A length-prefixed byte string (u32 little-endian length).
    pub fn byte_string(&mut self, bytes: &[u8]) {
        self.u32(bytes.len() as u32);
        self.raw(bytes);
    }

    pub fn len(&self) -> usize {
        self.bytes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }

    pub fn into_bytes(self) -> Vec<u8> {
        self.bytes
    }

    /// The buffer itself, for encoders that append in bulk (a proof node's bytes).
    pub(crate) fn buffer(&mut self) -> &mut Vec<u8> {
        &mut self.bytes
    }
}

/// Reads canonical encodings from a byte slice; every method returns `Err` instead of reading past the end.
#[derive(Debug)]
pub struct Reader<'a> {
    bytes: &'a [u8],
    position: usize,
}

impl<'a> Reader<'a> {
    pub fn new(bytes: &'a [u8]) -> Reader<'a> {
        Reader { bytes, position: 0 }
    }

    pub fn remaining(&self) -> usize {
        self.bytes.len() - self.position
    }

    pub fn bytes(&mut self, count: usize) -> Result<&'a [u8], DecodeError> {
        if count > self.remaining() {
            return Err(DecodeError::Truncated);
        }
        let slice = &self.bytes[self.position..self.position + count];
        self.position += count;
        Ok(slice)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], DecodeError> {
        let mut array = [0u8; N];
        array.copy_from_slice(self.bytes(N)?);
        Ok(array)
    }

    pub fn u8(&mut self) -> Result<u8, DecodeError> {
        Ok(self.array::<1>()?[0])
    }

    pub fn u16(&mut self) -> Result<u16, DecodeError> {
        Ok(u16::from_le_bytes(self.array()?))
    }

    pub fn u32(&mut self) -> Result<u32, DecodeError> {
        Ok(u32::from_le_bytes(self.array()?))
    }

    pub fn u64(&mut self) -> Result<u64, DecodeError> {
        Ok(u64::from_le_bytes(self.array()?))
    }

    pub fn hash32(&mut self) -> Result<[u8; 32], DecodeError> {
        self.array()
    }

    /// A boolean byte: exactly 0 or 1.
    pub fn bool(&mut self) -> Result<bool, DecodeError> {
        match self.u8()? {
            0 => Ok(false),
            1 => Ok(true),
            _ => Err(DecodeError::Invalid("a flag byte other than 0 or 1")),
        }
    }

    /// A count (u32) checked against `limit` before the caller allocates anything for it.
    pub fn count(&mut self, what: &'static str, limit: usize) -> Result<usize, DecodeError> {
        let count = self.u32()?;
        if count as u64 > limit as u64 {
            return Err(DecodeError::OverBound { what, limit: limit as u64, got: count as u64 });
        }
        Ok(count as usize)
    }

    /// A length-prefixed byte string of at most `limit` bytes.
    pub fn byte_string(&mut self, what: &'static str, limit: usize) -> Result<&'a [u8], DecodeError> {
        let length = self.count(what, limit)?;
        self.bytes(length)
    }

    /// Fails unless every byte was consumed: trailing bytes are a violation too.
    pub fn finish(self) -> Result<(), DecodeError> {
        match self.remaining() {
            0 => Ok(()),
            count => Err(DecodeError::TrailingBytes { count }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_what_was_written_and_rejects_trailing_bytes() {
        let mut writer = Writer::default();
        writer.u8(7);
        writer.u32(0xdead_beef);
        writer.u64(42);
        writer.byte_string(b"abc");
        writer.bool(true);
        let bytes = writer.into_bytes();
        let mut reader = Reader::new(&bytes);
        assert_eq!(reader.u8(), Ok(7));
        assert_eq!(reader.u32(), Ok(0xdead_beef));
        assert_eq!(reader.u64(), Ok(42));
        assert_eq!(reader.byte_string("test", 3), Ok(&b"abc"[..]));
        assert_eq!(reader.bool(), Ok(true));
        assert_eq!(reader.finish(), Ok(()));
        let mut long = bytes.clone();
        long.push(0);
        let mut reader = Reader::new(&long);
        reader.bytes(bytes.len()).unwrap();
        assert_eq!(reader.finish(), Err(DecodeError::TrailingBytes { count: 1 }));
    }

    #[test]
    fn counts_are_checked_before_allocation() {
        let bytes = u32::MAX.to_le_bytes();
        assert_eq!(
            Reader::new(&bytes).count("items", 1000),
            Err(DecodeError::OverBound { what: "items", limit: 1000, got: u32::MAX as u64 })
        );
        assert_eq!(Reader::new(&[1, 0]).u32(), Err(DecodeError::Truncated));
        assert_eq!(Reader::new(&[2]).bool(), Err(DecodeError::Invalid("a flag byte other than 0 or 1")));
    }
}
