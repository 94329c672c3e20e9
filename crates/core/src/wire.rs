//! Byte-level encoding shared by every protocol: a bounds-checked reader, a writer, and the
//! frame header. The layouts are documented byte by byte in docs/protocol.md.
//!
//! Frame: `u32 LE length` (of everything after this field) | `u8 type` | `u64 LE nonce` | body.

/// Largest frame any peer may send (bytes after the length field). Bigger frames close the
/// connection before any memory is reserved for them.
pub const MAX_FRAME: usize = 64 << 20;
/// Bytes of the frame header: length (4) + type (1) + nonce (8).
pub const HEADER_SIZE: usize = 13;

/// A decoding failure: the input is truncated, oversized or inconsistent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DecodeError;

impl std::fmt::Display for DecodeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("malformed message")
    }
}
impl std::error::Error for DecodeError {}

pub type DResult<T> = Result<T, DecodeError>;

/// Reads little-endian fields from a byte slice, checking every length against what is left.
#[derive(Clone)]
pub struct Reader<'a> {
    buf: &'a [u8],
}

impl<'a> Reader<'a> {
    pub fn new(buf: &'a [u8]) -> Self {
        Reader { buf }
    }
    pub fn remaining(&self) -> usize {
        self.buf.len()
    }
    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }
    /// The bytes not read yet (without reading them).
    pub fn rest(&self) -> &'a [u8] {
        self.buf
    }
    pub fn take(&mut self, n: usize) -> DResult<&'a [u8]> {
        if n > self.buf.len() {
            return Err(DecodeError);
        }
        let (a, b) = self.buf.split_at(n);
        self.buf = b;
        Ok(a)
    }
    pub fn u8(&mut self) -> DResult<u8> {
        Ok(self.take(1)?[0])
    }
    pub fn u16(&mut self) -> DResult<u16> {
        Ok(u16::from_le_bytes(self.take(2)?.try_into().unwrap()))
    }
    pub fn u32(&mut self) -> DResult<u32> {
        Ok(u32::from_le_bytes(self.take(4)?.try_into().unwrap()))
    }
    pub fn u64(&mut self) -> DResult<u64> {
        Ok(u64::from_le_bytes(self.take(8)?.try_into().unwrap()))
    }
    /// `u32 LE length` then that many bytes.
    pub fn bytes(&mut self) -> DResult<&'a [u8]> {
        let n = self.u32()? as usize;
        self.take(n)
    }
    pub fn string(&mut self) -> DResult<&'a str> {
        std::str::from_utf8(self.bytes()?).map_err(|_| DecodeError)
    }
    /// A count of items that each take at least `min_item` bytes: rejects counts the rest of
    /// the buffer cannot hold, so a hostile count never makes us reserve memory.
    pub fn count(&mut self, min_item: usize) -> DResult<usize> {
        let n = self.u32()? as usize;
        if n.saturating_mul(min_item.max(1)) > self.buf.len() {
            return Err(DecodeError);
        }
        Ok(n)
    }
    /// Fails unless every byte was consumed.
    pub fn finish(&self) -> DResult<()> {
        if self.buf.is_empty() {
            Ok(())
        } else {
            Err(DecodeError)
        }
    }
}

/// Appends little-endian fields to a byte vector.
pub struct Writer<'a> {
    pub buf: &'a mut Vec<u8>,
}

impl<'a> Writer<'a> {
    pub fn new(buf: &'a mut Vec<u8>) -> Self {
        Writer { buf }
    }
    pub fn u8(&mut self, v: u8) -> &mut Self {
        self.buf.push(v);
        self
    }
    pub fn u16(&mut self, v: u16) -> &mut Self {
        self.buf.extend_from_slice(&v.to_le_bytes());
        self
    }
    pub fn u32(&mut self, v: u32) -> &mut Self {
        self.buf.extend_from_slice(&v.to_le_bytes());
        self
    }
    pub fn u64(&mut self, v: u64) -> &mut Self {
        self.buf.extend_from_slice(&v.to_le_bytes());
        self
    }
    pub fn raw(&mut self, v: &[u8]) -> &mut Self {
        self.buf.extend_from_slice(v);
        self
    }
    pub fn bytes(&mut self, v: &[u8]) -> &mut Self {
        self.u32(v.len() as u32);
        self.raw(v)
    }
    pub fn count(&mut self, n: usize) -> &mut Self {
        self.u32(n as u32)
    }
}

/// Starts a frame in `out`: reserves the length, writes type and nonce. Returns the offset to
/// pass to [`end_frame`] once the body has been appended.
pub fn begin_frame(out: &mut Vec<u8>, msg_type: u8, nonce: u64) -> usize {
    let start = out.len();
    out.extend_from_slice(&[0, 0, 0, 0]);
    out.push(msg_type);
    out.extend_from_slice(&nonce.to_le_bytes());
    start
}

/// Fills in the length of the frame begun at `start`.
pub fn end_frame(out: &mut [u8], start: usize) {
    let len = (out.len() - start - 4) as u32;
    out[start..start + 4].copy_from_slice(&len.to_le_bytes());
}

/// One complete frame found at the front of a buffer.
#[derive(Debug, Clone, Copy)]
pub struct FrameRef<'a> {
    pub msg_type: u8,
    pub nonce: u64,
    pub body: &'a [u8],
    /// Bytes the whole frame occupied (header included).
    pub size: usize,
}

/// Looks for a complete frame at the front of `buf`. `Ok(None)`: need more bytes.
/// `Err`: the length is too small to hold a header or larger than `max` (close the peer).
pub fn parse_frame(buf: &[u8], max: usize) -> DResult<Option<FrameRef<'_>>> {
    if buf.len() < 4 {
        return Ok(None);
    }
    let len = u32::from_le_bytes(buf[..4].try_into().unwrap()) as usize;
    if len < HEADER_SIZE - 4 || len > max {
        return Err(DecodeError);
    }
    if buf.len() < 4 + len {
        return Ok(None);
    }
    let msg_type = buf[4];
    let nonce = u64::from_le_bytes(buf[5..13].try_into().unwrap());
    Ok(Some(FrameRef { msg_type, nonce, body: &buf[13..4 + len], size: 4 + len }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn frame_round_trip() {
        let mut out = Vec::new();
        let s = begin_frame(&mut out, 7, 99);
        Writer::new(&mut out).bytes(b"hello").u64(5);
        end_frame(&mut out, s);
        let f = parse_frame(&out, MAX_FRAME).unwrap().unwrap();
        assert_eq!((f.msg_type, f.nonce, f.size), (7, 99, out.len()));
        let mut r = Reader::new(f.body);
        assert_eq!(r.bytes().unwrap(), b"hello");
        assert_eq!(r.u64().unwrap(), 5);
        r.finish().unwrap();
        assert!(parse_frame(&out[..out.len() - 1], MAX_FRAME).unwrap().is_none());
    }

    #[test]
    fn oversized_and_undersized_frames_are_errors() {
        let mut big = ((MAX_FRAME + 1) as u32).to_le_bytes().to_vec();
        big.extend_from_slice(&[0; 9]);
        assert!(parse_frame(&big, MAX_FRAME).is_err());
        assert!(parse_frame(&[3, 0, 0, 0, 1, 2, 3], MAX_FRAME).is_err());
    }

    proptest! {
        #[test]
        fn reader_never_panics(data in proptest::collection::vec(any::<u8>(), 0..64)) {
            let mut r = Reader::new(&data);
            let _ = r.count(8);
            let _ = r.bytes();
            let _ = r.string();
            let _ = r.u64();
            let _ = parse_frame(&data, 1024);
        }
    }
}
