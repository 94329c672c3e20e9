//! The byte-moving shell shared by the coordinator and the daemon: nonblocking TCP
//! connections with a read buffer that yields whole frames and a write buffer flushed in as
//! few system calls as possible. No protocol logic lives here.

use hyperdex_core::wire::{parse_frame, DecodeError, FrameRef, MAX_FRAME};
use mio::net::TcpStream;
use std::io::{self, Read, Write};

const READ_CHUNK: usize = 64 * 1024;
/// Unparsed bytes buffered per connection before its frames must be used.
const READ_LIMIT: usize = 4 << 20;

/// One peer connection.
pub struct Conn {
    pub stream: TcpStream,
    /// Read buffer: `rbuf[rpos..rend]` is received and not yet parsed. Its whole length is
    /// initialised once when it grows, so a read needs no zeroing of the space it reads into.
    rbuf: Vec<u8>,
    rpos: usize,
    rend: usize,
    pub wbuf: Vec<u8>,
    wpos: usize,
    /// Set once the peer closed, errored or sent garbage: the owner drops the connection.
    pub dead: bool,
    /// Whether WRITABLE interest is registered (only while output is pending).
    pub want_write: bool,
    /// The last fill stopped at the buffering limit with data still in the socket: the owner
    /// must use the frames and call fill again without waiting for readiness.
    pub more: bool,
    /// Output waits for the peer to read it: stop serving its requests until it does.
    pub paused: bool,
    /// The peer is another daemon (it sent chain messages): never paused, since two daemons
    /// pausing each other would wait forever.
    pub peer: bool,
    /// Not read from until the owner says so (the daemon parks clients while too many of
    /// its storage reads are out): `more` alone must not bring it another turn.
    pub parked: bool,
    /// The daemon at the other end, once known: the server we connected to, or the one that
    /// introduced itself with HELLO.
    pub server: Option<u64>,
}

impl Conn {
    pub fn new(stream: TcpStream) -> Conn {
        let _ = stream.set_nodelay(true);
        Conn {
            stream,
            rbuf: Vec::new(),
            rpos: 0,
            rend: 0,
            wbuf: Vec::new(),
            wpos: 0,
            dead: false,
            want_write: false,
            more: false,
            paused: false,
            peer: false,
            parked: false,
            server: None,
        }
    }

    /// Whether the owner should use this connection's buffered frames (and read more) without
    /// waiting for readiness: it stopped at the buffering limit, and is neither paused,
    /// parked nor dead. A paused or parked connection whose buffer is full must not get
    /// turns, or the owner's loop would spin without waiting.
    pub fn wants_turn(&self) -> bool {
        self.more && !self.paused && !self.parked && !self.dead
    }

    /// The type of the next frame, once its first five bytes have arrived.
    pub fn next_type(&self) -> Option<u8> {
        self.rbuf.get(self.rpos + 4).filter(|_| self.rend - self.rpos >= 5).copied()
    }

    /// Reads everything available (until WouldBlock or end of stream). Returns false when the
    /// peer is gone.
    pub fn fill(&mut self) -> bool {
        self.fill_after(true)
    }

    /// [`Conn::fill`] on a readiness event: `read_on` says whether the event reported the
    /// peer's end of stream, an error, or urgent data. Without it, a read that returns less
    /// than it asked for ends the fill: the socket was empty right after it, and since
    /// epoll is edge-triggered, whatever arrives later brings a new event. That saves the
    /// read that would only say WouldBlock (between daemons, about one read in two). With
    /// it, reading goes on until WouldBlock: to an end of stream, which brings no event of
    /// its own, and past TCP's urgent mark, where a read stops short with data still
    /// behind it (the owner must ask for priority events to be told of it).
    pub fn fill_after(&mut self, read_on: bool) -> bool {
        self.more = false;
        loop {
            if self.rpos == self.rend {
                self.rpos = 0;
                self.rend = 0;
            }
            // Bound what one peer can make us buffer: stop at READ_LIMIT unparsed bytes (or
            // the size of the frame being assembled, if larger) and come back once the
            // frames are used (`more`).
            let unparsed = self.rend - self.rpos;
            let frame = match self.rbuf.get(self.rpos..self.rpos + 4).filter(|_| unparsed >= 4) {
                // Unchecked until parse_frame sees it: never trust more than MAX_FRAME.
                Some(b) => (u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize).min(MAX_FRAME) + 4,
                None => 0,
            };
            if unparsed >= READ_LIMIT.max(frame) {
                self.more = true;
                return true;
            }
            if self.rbuf.len() - self.rend < READ_CHUNK {
                // Compact before growing.
                if self.rpos > 0 {
                    self.rbuf.copy_within(self.rpos..self.rend, 0);
                    self.rend -= self.rpos;
                    self.rpos = 0;
                }
                if self.rbuf.len() - self.rend < READ_CHUNK {
                    let grown = (self.rend + READ_CHUNK).max(self.rbuf.len() * 2);
                    self.rbuf.resize(grown, 0);
                }
            }
            let room = self.rbuf.len() - self.rend;
            match self.stream.read(&mut self.rbuf[self.rend..]) {
                Ok(0) => {
                    self.dead = true;
                    return false;
                }
                Ok(n) => {
                    self.rend += n;
                    if n < room && !read_on {
                        return true;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return true,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => {
                    self.dead = true;
                    return false;
                }
            }
        }
    }

    /// The next complete frame, if any. A malformed or oversized frame marks the connection
    /// dead and returns an error.
    pub fn next_frame(&mut self, max: usize) -> Result<Option<FrameRef<'_>>, DecodeError> {
        match parse_frame(&self.rbuf[self.rpos..self.rend], max) {
            Ok(Some(f)) => {
                self.rpos += f.size;
                Ok(Some(f))
            }
            Ok(None) => Ok(None),
            Err(e) => {
                self.dead = true;
                Err(e)
            }
        }
    }

    /// Pops the next frame as owned (type, nonce, body) — for callers that must mutate
    /// other state while handling it.
    pub fn next_owned(&mut self, max: usize) -> Result<Option<(u8, u64, Vec<u8>)>, DecodeError> {
        Ok(self.next_frame(max)?.map(|f| (f.msg_type, f.nonce, f.body.to_vec())))
    }

    /// Writes as much buffered output as the socket takes. Returns false on error.
    pub fn flush(&mut self) -> bool {
        while self.wpos < self.wbuf.len() {
            match self.stream.write(&self.wbuf[self.wpos..]) {
                Ok(0) => {
                    self.dead = true;
                    return false;
                }
                Ok(n) => self.wpos += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => {
                    self.dead = true;
                    return false;
                }
            }
        }
        if self.wpos == self.wbuf.len() {
            self.wbuf.clear();
            self.wpos = 0;
        }
        true
    }

    /// Bytes written into the buffer and not yet taken by the socket.
    pub fn unsent(&self) -> usize {
        self.wbuf.len() - self.wpos
    }

    pub fn has_output(&self) -> bool {
        self.wpos < self.wbuf.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A connection gets turns without readiness only while it has more to read and nothing
    /// holds it back: a paused or parked one with a full buffer would spin its owner's loop.
    #[test]
    fn only_an_unheld_connection_with_more_gets_another_turn() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let client = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (server, _) = listener.accept().unwrap();
        server.set_nonblocking(true).unwrap();
        let mut c = Conn::new(TcpStream::from_std(server));
        assert!(!c.wants_turn());
        c.more = true;
        assert!(c.wants_turn());
        for hold in 0..3 {
            let mut h = Conn::new(TcpStream::from_std(client.try_clone().unwrap()));
            h.more = true;
            match hold {
                0 => h.paused = true,
                1 => h.parked = true,
                _ => h.dead = true,
            }
            assert!(!h.wants_turn(), "hold {hold}");
        }
    }

    /// A client socket and the server side of its connection as a [`Conn`], registered
    /// for `interest` with a poll of its own.
    fn polled_pair(interest: mio::Interest) -> (std::net::TcpStream, Conn, mio::Poll) {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let client = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (server, _) = listener.accept().unwrap();
        server.set_nonblocking(true).unwrap();
        let mut c = Conn::new(TcpStream::from_std(server));
        let poll = mio::Poll::new().unwrap();
        poll.registry().register(&mut c.stream, mio::Token(0), interest).unwrap();
        (client, c, poll)
    }

    /// The next readiness event of a [`polled_pair`]'s connection: (readable, read closed,
    /// priority). None within 10 s fails the test.
    fn next_event(poll: &mut mio::Poll) -> (bool, bool, bool) {
        let mut events = mio::Events::with_capacity(4);
        poll.poll(&mut events, Some(std::time::Duration::from_secs(10))).unwrap();
        let ev = events.iter().next().expect("no readiness event within 10 s");
        (ev.is_readable(), ev.is_read_closed(), ev.is_priority())
    }

    /// A fill on a readiness event stops after a short read: what arrives later brings a
    /// new event (epoll is edge-triggered). An end of stream arrives with no event of its
    /// own, so a fill told of it reads on to it.
    #[test]
    fn a_short_read_ends_a_fill_unless_the_event_reported_the_end_of_stream() {
        use std::io::Write as _;
        let (mut client, mut c, mut poll) = polled_pair(mio::Interest::READABLE);
        client.write_all(b"0123456789").unwrap();
        assert_eq!(next_event(&mut poll), (true, false, false));
        assert!(c.fill_after(false));
        assert_eq!(c.rend - c.rpos, 10);
        // More data after the short read: a new event.
        client.write_all(b"abc").unwrap();
        assert_eq!(next_event(&mut poll), (true, false, false));
        assert!(c.fill_after(false));
        assert_eq!(c.rend - c.rpos, 13);
        // Data, then the end of stream, both in before the fill (an event says the end
        // came): a short read stops at the data, and would never see the end...
        client.write_all(b"xyz").unwrap();
        client.shutdown(std::net::Shutdown::Write).unwrap();
        while !next_event(&mut poll).1 {}
        assert!(c.fill_after(false));
        assert!(!c.dead);
        assert_eq!(c.rend - c.rpos, 16);
        // ...while a fill told of it reads the data and the end in one go.
        let (mut client, mut c, mut poll) = polled_pair(mio::Interest::READABLE);
        client.write_all(b"xyz").unwrap();
        client.shutdown(std::net::Shutdown::Write).unwrap();
        while !next_event(&mut poll).1 {}
        assert!(!c.fill_after(true));
        assert!(c.dead);
        assert_eq!(c.rend - c.rpos, 3);
    }

    /// A read stops short at TCP's urgent mark with data behind it, and no event follows:
    /// the readiness event says priority, and a fill told so reads on past the mark.
    #[test]
    fn a_fill_told_of_urgent_data_reads_past_the_mark() {
        use std::io::Write as _;
        use std::os::fd::AsRawFd;
        // Data, an urgent byte, data and the end of stream, all in before the fill (the
        // end comes last, so an event that reports it comes after the rest is in).
        let sent = || {
            let (mut client, c, mut poll) = polled_pair(mio::Interest::READABLE | mio::Interest::PRIORITY);
            client.write_all(b"abc").unwrap();
            // SAFETY: one byte from a live buffer, on the client's open socket.
            let sent = unsafe { libc::send(client.as_raw_fd(), b"X".as_ptr().cast(), 1, libc::MSG_OOB) };
            assert_eq!(sent, 1);
            client.write_all(b"def").unwrap();
            client.shutdown(std::net::Shutdown::Write).unwrap();
            let mut priority = false;
            loop {
                let (_, closed, p) = next_event(&mut poll);
                priority |= p;
                if closed {
                    break;
                }
            }
            assert!(priority);
            c
        };
        // A fill that stops at a short read stops at the mark (the urgent byte is not part
        // of the stream)...
        let mut c = sent();
        assert!(c.fill_after(false));
        assert_eq!(&c.rbuf[c.rpos..c.rend], b"abc");
        // ...and one told of the urgent data reads past it, to the end.
        let mut c = sent();
        assert!(!c.fill_after(true));
        assert_eq!(&c.rbuf[c.rpos..c.rend], b"abcdef");
    }

    /// The next frame's type is known from its fifth byte on, before the frame is whole.
    #[test]
    fn the_next_frame_type_is_known_once_five_bytes_are_in() {
        use std::io::Write as _;
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let mut client = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (server, _) = listener.accept().unwrap();
        server.set_nonblocking(true).unwrap();
        let mut c = Conn::new(TcpStream::from_std(server));
        let read_all = |c: &mut Conn, want: usize| {
            while c.rend - c.rpos < want {
                assert!(c.fill());
            }
        };
        client.write_all(&[30, 0, 0, 0]).unwrap();
        read_all(&mut c, 4);
        assert_eq!(c.next_type(), None);
        client.write_all(&[35, 1]).unwrap();
        read_all(&mut c, 6);
        assert_eq!(c.next_type(), Some(35));
        assert!(matches!(c.next_frame(MAX_FRAME), Ok(None)));
    }
}
