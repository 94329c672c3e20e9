//! Per-connection byte buffers.
//!
//! Reads land in a [`ReadBuf`] in large chunks; many frames are then parsed out of it without
//! copying. Requests are appended to a [`WriteBuf`] and sent with one write per readiness.

use hyperdex_core::wire::MAX_FRAME;
use std::io::{self, Read, Write};

/// Bytes asked of the kernel per read call.
const READ_CHUNK: usize = 64 * 1024;
/// A read buffer that grew past this (for one large reply) is given back once it is empty.
const READ_KEEP: usize = 1024 * 1024;
/// A write buffer whose capacity grew past this is given back once it is empty.
const WRITE_KEEP: usize = 4 * 1024 * 1024;

/// What a [`ReadBuf::fill_from`] call saw.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Fill {
    /// The peer closed its side.
    pub(crate) eof: bool,
    /// The socket has nothing more for now (false: stopped at the limit).
    pub(crate) drained: bool,
}

/// Received bytes not yet parsed: `buf[start..end]`.
///
/// `consume` only moves `start`, so a slice of a frame that was just consumed stays intact
/// until the next call that reads into the buffer. The client relies on this to hand out
/// get results without copying them.
#[derive(Default)]
pub(crate) struct ReadBuf {
    buf: Vec<u8>,
    start: usize,
    end: usize,
}

impl ReadBuf {
    /// The unparsed bytes.
    pub(crate) fn data(&self) -> &[u8] {
        &self.buf[self.start..self.end]
    }

    /// Absolute offset of `data()[0]` inside `raw()`.
    pub(crate) fn offset(&self) -> usize {
        self.start
    }

    /// The whole backing store, for slices recorded with absolute offsets.
    pub(crate) fn raw(&self) -> &[u8] {
        &self.buf
    }

    /// Marks the first `n` unparsed bytes as used.
    pub(crate) fn consume(&mut self, n: usize) {
        debug_assert!(n <= self.end - self.start);
        self.start = (self.start + n).min(self.end);
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        }
    }

    /// Makes room for at least `want` more bytes at the end.
    fn reserve(&mut self, want: usize) {
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
            if self.buf.len() > READ_KEEP {
                self.buf = Vec::new();
            }
        }
        if self.buf.len() - self.end >= want {
            return;
        }
        if self.start > 0 {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        if self.buf.len() - self.end < want {
            let new_len = (self.end + want).max(self.buf.len().saturating_mul(2));
            self.buf.resize(new_len, 0);
        }
    }

    /// Reads what the socket has, in chunks, until a read comes back short (the socket is
    /// drained; new data will raise a new readiness event), the read would block, or `limit`
    /// unparsed bytes are buffered (a peer cannot make us buffer without bound; the caller
    /// reads the rest once it has used what it got).
    pub(crate) fn fill_from<R: Read>(&mut self, src: &mut R, limit: usize) -> io::Result<Fill> {
        loop {
            if self.end - self.start >= limit {
                return Ok(Fill { eof: false, drained: false });
            }
            self.reserve(READ_CHUNK);
            let space = self.buf.len() - self.end;
            match src.read(&mut self.buf[self.end..]) {
                Ok(0) => return Ok(Fill { eof: true, drained: true }),
                Ok(n) => {
                    self.end += n;
                    if n < space {
                        return Ok(Fill { eof: false, drained: true });
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(Fill { eof: false, drained: true }),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }

    /// How many unparsed bytes to allow before parsing: `base`, or the whole frame whose
    /// header is at the front if that is larger (its length was checked by `parse_frame`).
    pub(crate) fn limit(&self, base: usize) -> usize {
        match self.data().get(..4) {
            // The length is not checked yet: never let it raise the limit past MAX_FRAME.
            Some(len) => base.max(4 + (u32::from_le_bytes([len[0], len[1], len[2], len[3]]) as usize).min(MAX_FRAME)),
            None => base,
        }
    }
}

/// Encoded requests not yet sent: `buf[start..]`.
#[derive(Default)]
pub(crate) struct WriteBuf {
    buf: Vec<u8>,
    start: usize,
}

impl WriteBuf {
    /// Where new frames are appended.
    pub(crate) fn vec(&mut self) -> &mut Vec<u8> {
        &mut self.buf
    }

    pub(crate) fn unsent(&self) -> usize {
        self.buf.len() - self.start
    }

    /// Drops bytes appended after `len` (undoes a frame that could not be completed).
    pub(crate) fn truncate(&mut self, len: usize) {
        self.buf.truncate(len.max(self.start));
    }

    /// One write of everything unsent. `Ok(true)` when the buffer is now empty, `Ok(false)`
    /// when the socket took only part (or nothing): wait for writability.
    pub(crate) fn flush_to<W: Write>(&mut self, dst: &mut W) -> io::Result<bool> {
        if self.start == self.buf.len() {
            return Ok(true);
        }
        loop {
            match dst.write(&self.buf[self.start..]) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => {
                    self.start += n;
                    if self.start == self.buf.len() {
                        self.buf.clear();
                        self.start = 0;
                        if self.buf.capacity() > WRITE_KEEP {
                            self.buf = Vec::new();
                        }
                        return Ok(true);
                    }
                    return Ok(false);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(false),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Hands out its bytes `step` at a time, then WouldBlock (or EOF).
    struct Trickle {
        data: Vec<u8>,
        pos: usize,
        step: usize,
        eof: bool,
    }

    impl Read for Trickle {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            if self.pos == self.data.len() {
                return if self.eof { Ok(0) } else { Err(io::ErrorKind::WouldBlock.into()) };
            }
            let n = buf.len().min(self.step).min(self.data.len() - self.pos);
            buf[..n].copy_from_slice(&self.data[self.pos..self.pos + n]);
            self.pos += n;
            Ok(n)
        }
    }

    #[test]
    fn fill_reads_everything_and_consume_keeps_consumed_bytes_readable() {
        let data: Vec<u8> = (0..200_000u32).map(|i| i as u8).collect();
        let mut src = Trickle { data: data.clone(), pos: 0, step: usize::MAX, eof: false };
        let mut rb = ReadBuf::default();
        assert_eq!(rb.fill_from(&mut src, usize::MAX).unwrap(), Fill { eof: false, drained: true });
        assert_eq!(rb.data(), &data[..]);
        let off = rb.offset();
        rb.consume(10);
        assert_eq!(&rb.raw()[off..off + 10], &data[..10]);
        assert_eq!(rb.data(), &data[10..]);
        rb.consume(data.len() - 10);
        assert!(rb.data().is_empty());
    }

    #[test]
    fn short_read_stops_and_eof_is_reported() {
        let mut src = Trickle { data: vec![1, 2, 3], pos: 0, step: 2, eof: true };
        let mut rb = ReadBuf::default();
        // 2 bytes < 64 KiB asked: the socket is taken as drained.
        assert_eq!(rb.fill_from(&mut src, 100).unwrap(), Fill { eof: false, drained: true });
        assert_eq!(rb.data(), &[1, 2]);
        assert!(!rb.fill_from(&mut src, 100).unwrap().eof);
        assert!(rb.fill_from(&mut src, 100).unwrap().eof);
        assert_eq!(rb.data(), &[1, 2, 3]);
    }

    #[test]
    fn compaction_preserves_unparsed_bytes() {
        let mut rb = ReadBuf::default();
        let mut src = Trickle { data: vec![7; READ_CHUNK], pos: 0, step: usize::MAX, eof: false };
        rb.fill_from(&mut src, usize::MAX).unwrap();
        rb.consume(READ_CHUNK - 3);
        let mut src2 = Trickle { data: vec![9; READ_CHUNK], pos: 0, step: usize::MAX, eof: false };
        rb.fill_from(&mut src2, usize::MAX).unwrap();
        assert_eq!(rb.data().len(), READ_CHUNK + 3);
        assert_eq!(&rb.data()[..4], &[7, 7, 7, 9]);
    }

    #[test]
    fn a_flood_stops_at_the_limit_and_resumes() {
        let mut src = Trickle { data: vec![5; 10 * READ_CHUNK], pos: 0, step: usize::MAX, eof: false };
        let mut rb = ReadBuf::default();
        let f = rb.fill_from(&mut src, 2 * READ_CHUNK).unwrap();
        assert_eq!(f, Fill { eof: false, drained: false });
        assert_eq!(rb.data().len(), 2 * READ_CHUNK);
        rb.consume(2 * READ_CHUNK);
        let f = rb.fill_from(&mut src, usize::MAX).unwrap();
        assert_eq!(f, Fill { eof: false, drained: true });
        assert_eq!(rb.data().len(), 8 * READ_CHUNK);
    }

    #[test]
    fn the_limit_grows_to_hold_the_frame_at_the_front() {
        let mut rb = ReadBuf::default();
        let mut frame = 100_000u32.to_le_bytes().to_vec();
        frame.extend_from_slice(&[0; 9]);
        let mut src = Trickle { data: frame, pos: 0, step: usize::MAX, eof: false };
        rb.fill_from(&mut src, 10).unwrap();
        assert_eq!(rb.limit(10), 100_004);
        assert_eq!(ReadBuf::default().limit(10), 10);
    }

    struct Sink {
        out: Vec<u8>,
        cap: usize,
    }

    impl Write for Sink {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            if self.cap == 0 {
                return Err(io::ErrorKind::WouldBlock.into());
            }
            let n = buf.len().min(self.cap);
            self.out.extend_from_slice(&buf[..n]);
            self.cap -= n;
            Ok(n)
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn partial_writes_resume_where_they_stopped() {
        let mut wb = WriteBuf::default();
        wb.vec().extend_from_slice(b"hello world");
        let mut sink = Sink { out: Vec::new(), cap: 5 };
        assert!(!wb.flush_to(&mut sink).unwrap());
        assert_eq!(wb.unsent(), 6);
        assert!(!wb.flush_to(&mut sink).unwrap());
        sink.cap = 100;
        assert!(wb.flush_to(&mut sink).unwrap());
        assert_eq!(sink.out, b"hello world");
        assert_eq!(wb.unsent(), 0);
    }
}
