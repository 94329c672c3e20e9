//! The safe client: one `mio::Poll`, no threads, a slab of pending operations.
//!
//! * Every call validates its arguments against the cached configuration, encodes the
//!   request into the write buffer of the point leader's connection and records a pending
//!   entry. Nothing is written to the network until [`Client::loop_once`] runs (or a write
//!   buffer passes [`FLUSH_THRESHOLD`]), so a burst of calls goes out in one write per
//!   connection.
//! * [`Client::loop_once`] hands out one completion per call: first operations already
//!   finished (failed by a reconfiguration or a lost connection, or replies already read),
//!   then it flushes, polls, reads whole socket buffers and parses as many frames as arrived.
//! * Request ids carry the pending entry's slab slot in their low [`SLOT_BITS`] bits and a
//!   call counter above it: they grow with every call, are never reused, and find their
//!   entry without a hash lookup. The id is also the frame nonce.
//! * The configuration comes from the coordinator: fetched synchronously by the first call,
//!   then kept fresh by a standing `ConfigWait` on a persistent connection.

mod buffers;
mod coord;
pub mod optable;
mod reply;
mod request;
mod routing;
mod search;
mod shared;

use std::collections::VecDeque;
use std::io;
use std::net::{SocketAddr, ToSocketAddrs};
use std::os::fd::{AsRawFd, RawFd};
use std::sync::Arc;
use std::time::{Duration, Instant};

use mio::event::Event as MioEvent;
use mio::net::TcpStream;
use mio::{Events, Interest, Poll, Registry, Token, Waker};
use slab::Slab;

use hyperdex_core::codes::{DataType, ReturnCode};
use hyperdex_core::config::Configuration;
use hyperdex_core::coordset::{self, retry_token, CoordinatorSet, Next};
use hyperdex_core::proto::Msg;
use hyperdex_core::space::parse_space;
use hyperdex_core::wire::{parse_frame, HEADER_SIZE, MAX_FRAME};

use buffers::{Fill, ReadBuf, WriteBuf};
use reply::{parse_reply, Kind, Reply};
pub(crate) use request::offset as arg_offset;
use request::{encode_atomic, encode_get, prepare, validate_key, OwnedAttr, OwnedCheck, OwnedMap, Scratch};
use routing::{IdMap, Routing};

#[doc(hidden)]
pub use reply::fuzz_parse_reply;
pub use reply::{Event, Extra, Values, ValuesIter};
pub use request::{AttrInput, Attribute, AttributeCheck, CheckInput, KeyOp, MapAttrInput, MapAttribute, OpError};
pub use routing::SpaceInfo;
pub use search::SearchKind;
pub use shared::SharedClient;

/// Bits of a request id that hold the pending entry's slot.
pub const SLOT_BITS: u32 = 20;
const SLOT_MASK: u64 = (1 << SLOT_BITS) - 1;
/// Most operations that may be outstanding at once; more calls fail with NOMEM.
pub const MAX_PENDING: usize = 1 << SLOT_BITS;
/// A connection's write buffer is written out by the call that makes it this large.
pub const FLUSH_THRESHOLD: usize = 256 * 1024;
/// How often (at most) operation calls look for a new configuration without blocking (loop
/// always does, before it waits).
const CHECK_INTERVAL: Duration = Duration::from_millis(1);
/// Operation calls between two looks at the clock for that check.
const CHECK_EVERY_CALLS: u32 = 16;
/// Wait before trying the next coordinator of the group after one failed or had no leader
/// to name (short: a new leader is usually elected within a second).
const COORD_RETRY: Duration = Duration::from_millis(50);
/// Wait between attempts once every known coordinator failed.
const COORD_RETRY_ALL_DOWN: Duration = Duration::from_secs(1);
const EVENTS_CAPACITY: usize = 1024;
/// Unparsed bytes read from one connection before its frames are used (more when one
/// frame is larger; frames are at most MAX_FRAME).
const READ_LIMIT: usize = 1 << 20;

const COORD: Token = Token(0);
const WAKER: Token = Token(1);
const FIRST_CONN: usize = 2;

/// The persistent connection that holds a `ConfigWait` at the coordinator.
struct CoordConn {
    stream: TcpStream,
    /// The coordinator it goes to.
    addr: SocketAddr,
    rbuf: ReadBuf,
    wbuf: WriteBuf,
    connected: bool,
    /// When the connect began: one not done within `coordset::CONNECT_TIMEOUT` is given up.
    opened: Instant,
    /// `ConfigWait` requests not yet answered.
    waits: u32,
    /// The standing wait was sent (or a configuration arrived): the coordinator tells us of
    /// every change, so the cache is current.
    fresh: bool,
    /// A request for the current configuration (for parked operations) is outstanding.
    fetching: bool,
    /// When that request was queued: a live leader answers it at once, so one unanswered
    /// for `coordset::CONNECT_TIMEOUT` means a coordinator that hangs (the next is tried).
    asked: Instant,
}

/// A connection to one daemon.
struct Conn {
    stream: TcpStream,
    server: u64,
    /// The address it was opened to (a server that moves gets a new connection).
    addr: String,
    rbuf: ReadBuf,
    wbuf: WriteBuf,
    connected: bool,
    /// The last write was complete: writing again will not just block.
    writable: bool,
    /// In `Client::dirty`.
    queued: bool,
    /// In `Client::readable`.
    in_readable: bool,
    /// EOF or an error was seen: close once the buffered frames are used.
    closed: bool,
    /// The peer ended its stream (the poller said so): once the socket is drained, EOF is all
    /// that is left. Reads stop at a short read, so without this an end that arrives together
    /// with the last bytes would never be read (no new readiness event comes for it).
    hup: bool,
    /// The last read stopped at the buffering limit: the socket may hold more.
    more: bool,
}

impl Conn {
    /// Reads (up to the buffering limit) and records what the read saw.
    fn fill(&mut self) {
        let limit = self.rbuf.limit(READ_LIMIT);
        match self.rbuf.fill_from(&mut self.stream, limit) {
            Ok(f) => {
                self.more = !f.drained;
                self.closed |= f.eof || (self.hup && f.drained);
            }
            Err(_) => self.closed = true,
        }
    }
}

/// An operation started and not yet finished.
struct Pending<T> {
    id: u64,
    user: T,
    space: Arc<SpaceInfo>,
    op: Op,
}

/// What a pending operation waits for.
enum Op {
    /// A key operation: one request to one server, one reply, one event.
    Key(KeyPending),
    /// A search-type operation: a request per region, many replies, one or many events.
    Search(Box<search::SearchOp>),
    /// Not started yet: waits for a configuration.
    Parked(Box<ParkedOp>),
}

struct KeyPending {
    kind: Kind,
    region: u64,
    server: u64,
    conn: usize,
    /// Set when the operation finished without a reply to deliver (it is then in `ready`).
    outcome: Option<ReturnCode>,
}

impl<T> Pending<T> {
    fn key(&self) -> Option<&KeyPending> {
        match &self.op {
            Op::Key(k) => Some(k),
            _ => None,
        }
    }
}

/// One readiness report, copied out of the poller so that it can be handled after the
/// poller is released.
#[derive(Clone, Copy, Debug)]
struct IoEvent {
    token: Token,
    readable: bool,
    writable: bool,
    hup: bool,
}

impl IoEvent {
    fn of(ev: &MioEvent) -> IoEvent {
        IoEvent {
            token: ev.token(),
            readable: ev.is_readable() || ev.is_read_closed() || ev.is_error(),
            writable: ev.is_writable(),
            hup: ev.is_read_closed(),
        }
    }
}

fn poll_error(e: io::Error) -> ReturnCode {
    if e.kind() == io::ErrorKind::Interrupted {
        ReturnCode::Interrupted
    } else {
        ReturnCode::PollFailed
    }
}

/// An operation waiting for a configuration, with owned copies of its arguments.
struct ParkedOp {
    req: Parked,
    since: Instant,
}

enum Parked {
    Get { space: Vec<u8>, key: Vec<u8> },
    Key { op: KeyOp, space: Vec<u8>, key: Vec<u8>, checks: Vec<OwnedCheck>, attrs: Vec<OwnedAttr>, maps: Vec<OwnedMap> },
    Search { kind: search::OwnedKind, space: Vec<u8>, checks: Vec<OwnedCheck> },
}

impl Parked {
    /// Starts the operation as if it were called now.
    fn start<T: Clone>(&self, c: &mut Client<T>, user: T) -> Result<i64, OpError> {
        match self {
            Parked::Get { space, key } => c.get(space, key, user),
            Parked::Key { op, space, key, checks, attrs, maps } => c.key_op(*op, space, key, checks, attrs, maps, user),
            Parked::Search { kind, space, checks } => c.search(kind.borrow(), space, checks, user),
        }
    }

    /// For a search-type operation, how it hands out a failure.
    fn search_mode(&self) -> Option<search::Mode> {
        match self {
            Parked::Search { kind, .. } => Some(kind.refusal_mode()),
            _ => None,
        }
    }
}

/// What `loop_once` hands out next.
enum Delivery {
    /// A finished key operation (its `outcome` is set).
    Ready(usize),
    /// The next event of a search-type operation.
    Search(usize, search::SearchEvent),
    /// A reply just parsed: slot, connection, status, and for a get the absolute range of
    /// its values in the connection's read buffer.
    Reply { slot: usize, conn: usize, status: ReturnCode, values: Option<(usize, usize, usize)> },
}

/// A HyperDex client. `T` is whatever the caller wants back with each completion (the C
/// layer keeps its status and output pointers there).
pub struct Client<T> {
    coord_host: String,
    coord_port: u16,
    /// The coordinator group: the address given, then the newest configuration's members.
    coords: CoordinatorSet,
    /// Coordinators that sent a configuration of another cluster since one of ours did (a
    /// member restarted on an empty directory starts a new cluster at its old address):
    /// CLUSTER_JUMP only once every known coordinator is one of them.
    foreign: std::collections::HashSet<SocketAddr>,
    /// The poller, while this client is driven by one thread; a [`SharedClient`] keeps it
    /// outside the client's lock instead (`None` here).
    poll: Option<Poll>,
    /// Registers connections with the poller (usable from any thread).
    registry: Registry,
    events: Events,
    /// Readiness taken from the poller, dispatched once the client is ours again.
    io_events: Vec<IoEvent>,
    waker: Option<Arc<Waker>>,
    /// Operations waiting for a configuration (a space this client does not know yet, or no
    /// configuration at all): they are started when one arrives.
    parked: usize,
    /// Set while parked operations are being started: a space still unknown then is
    /// UNKNOWNSPACE, not parked again.
    unparking: bool,
    /// (slot, id) the next operation must use: a parked operation keeps its id.
    reuse: Option<(usize, u64)>,
    routing: Option<Routing>,
    /// The space of the last call (most programs use one space): skips the name lookup.
    last_space: Option<Arc<SpaceInfo>>,
    cluster_jump: bool,
    coord: Option<CoordConn>,
    coord_retry_at: Instant,
    last_check: Instant,
    /// Calls since the clock was last read for a configuration check.
    calls_since_check: u32,
    conns: Slab<Conn>,
    by_server: IdMap<usize>,
    /// Connections with unsent requests, flushed by `loop_once`.
    dirty: Vec<usize>,
    /// Connections whose read buffer may hold complete frames (or that must be closed).
    readable: VecDeque<usize>,
    pending: Slab<Pending<T>>,
    /// Finished entries, in the order they finished.
    ready: VecDeque<usize>,
    next_seq: u64,
    scratch: Scratch,
}

impl<T: Clone> Client<T> {
    /// A client of the cluster whose coordinator listens on `host:port`. Does no network
    /// I/O: the first operation fetches the configuration.
    pub fn new(host: &str, port: u16) -> io::Result<Client<T>> {
        let now = Instant::now();
        let poll = Poll::new()?;
        let registry = poll.registry().try_clone()?;
        Ok(Client {
            coord_host: host.to_string(),
            coord_port: port,
            coords: CoordinatorSet::default(),
            foreign: Default::default(),
            poll: Some(poll),
            registry,
            events: Events::with_capacity(EVENTS_CAPACITY),
            io_events: Vec::new(),
            waker: None,
            parked: 0,
            unparking: false,
            reuse: None,
            routing: None,
            last_space: None,
            cluster_jump: false,
            coord: None,
            coord_retry_at: now,
            last_check: now,
            calls_since_check: 0,
            conns: Slab::new(),
            by_server: IdMap::default(),
            dirty: Vec::new(),
            readable: VecDeque::new(),
            pending: Slab::new(),
            ready: VecDeque::new(),
            next_seq: 1,
            scratch: Scratch::default(),
        })
    }

    /// The descriptor to wait on (readable) when driving the client from another event loop.
    /// From this call on, an operation call that queues the first unsent request also makes
    /// the descriptor readable, so the caller's loop comes back to call `loop_once(0)`, which
    /// sends it.
    pub fn poll_fd(&mut self) -> io::Result<RawFd> {
        let poll = self.poll.as_ref().ok_or_else(|| io::Error::other("the poller is shared"))?;
        if self.waker.is_none() {
            self.waker = Some(Arc::new(Waker::new(&self.registry, WAKER)?));
        }
        Ok(poll.as_raw_fd())
    }

    /// Operations started and not yet handed out by `loop_once`.
    pub fn pending(&self) -> usize {
        self.pending.len()
    }

    /// The version of the cached configuration (0: none yet).
    pub fn config_version(&self) -> u64 {
        self.routing.as_ref().map_or(0, |r| r.version)
    }

    // ---- administration (synchronous) ----

    /// Adds a space. The description is checked here first (BADSPACE without contacting
    /// anyone); its words are joined with single spaces like `hyperdex add-space` does.
    pub fn add_space(&mut self, description: &[u8]) -> ReturnCode {
        let Ok(text) = std::str::from_utf8(description) else {
            return ReturnCode::BadSpace;
        };
        let joined = text.split_ascii_whitespace().collect::<Vec<_>>().join(" ");
        if parse_space(&joined).is_err() {
            return ReturnCode::BadSpace;
        }
        // One token for every attempt: the group applies the call once however often a
        // coordinator fails under it.
        let rc = self.coord_rpc(&Msg::AddSpace { description: joined, token: retry_token() });
        if rc == ReturnCode::Success {
            let _ = self.refresh_config();
        }
        rc
    }

    /// Removes a space and its data.
    pub fn rm_space(&mut self, name: &[u8]) -> ReturnCode {
        let Ok(name) = std::str::from_utf8(name) else {
            return ReturnCode::NotFound;
        };
        let rc = self.coord_rpc(&Msg::RmSpace { name: name.to_string(), token: retry_token() });
        if rc == ReturnCode::Success {
            let _ = self.refresh_config();
        }
        rc
    }

    fn coord_rpc(&mut self, req: &Msg) -> ReturnCode {
        if let Err(rc) = self.resolve_coordinator() {
            return rc;
        }
        match coord::rpc(&mut self.coords, req, coord::RPC_TIMEOUT, COORD_RETRY) {
            Ok(Msg::CoordReply { code }) => code.to_returncode(),
            Ok(_) => ReturnCode::CoordFail,
            Err(rc) => rc,
        }
    }

    /// The declared type of an attribute.
    pub fn attribute_type(&mut self, space: &[u8], attr: &[u8]) -> Result<DataType, ReturnCode> {
        let sp = self.space_info(space)?;
        let idx = sp.attr_index(attr).ok_or(ReturnCode::UnknownAttr)?;
        sp.attr_type(idx).ok_or(ReturnCode::UnknownAttr)
    }

    /// The cached description of a space. Synchronous (like `attribute_type` in C): a space
    /// the cache does not know is looked up at the coordinator, waiting up to 10 s.
    pub fn space_info(&mut self, space: &[u8]) -> Result<Arc<SpaceInfo>, ReturnCode> {
        if self.cluster_jump {
            return Err(ReturnCode::ClusterJump);
        }
        if let Some(sp) = self.routing.as_ref().and_then(|r| r.spaces.get(space)) {
            return Ok(sp.clone());
        }
        self.refresh_config()?;
        if self.cluster_jump {
            return Err(ReturnCode::ClusterJump);
        }
        self.routing.as_ref().and_then(|r| r.spaces.get(space)).cloned().ok_or(ReturnCode::UnknownSpace)
    }

    // ---- key operations ----

    /// Starts a get. Its completion carries the object's values.
    pub fn get(&mut self, space: &[u8], key: &[u8], user: T) -> Result<i64, OpError> {
        self.ensure_config().map_err(OpError::whole)?;
        let Some(sp) = self.space(space)? else {
            return self.park(Parked::Get { space: space.to_vec(), key: key.to_vec() }, user);
        };
        validate_key(sp.key_type(), key)?;
        self.submit(Kind::Get, sp, key, 0, user)
    }

    /// Starts any write: `op` says which (put, cond_put with checks, del, atomic_add, ...).
    #[allow(clippy::too_many_arguments)]
    pub fn key_op<C: CheckInput, A: AttrInput, M: MapAttrInput>(
        &mut self,
        op: KeyOp,
        space: &[u8],
        key: &[u8],
        checks: &[C],
        attrs: &[A],
        mapattrs: &[M],
        user: T,
    ) -> Result<i64, OpError> {
        self.ensure_config().map_err(OpError::whole)?;
        let Some(sp) = self.space(space)? else {
            let req = Parked::Key {
                op,
                space: space.to_vec(),
                key: key.to_vec(),
                checks: checks.iter().map(OwnedCheck::of).collect(),
                attrs: attrs.iter().map(OwnedAttr::of).collect(),
                maps: mapattrs.iter().map(OwnedMap::of).collect(),
            };
            return self.park(req, user);
        };
        validate_key(sp.key_type(), key)?;
        prepare(&mut self.scratch, &sp, op, checks, attrs, mapattrs)?;
        let r = self.submit(Kind::Atomic, sp, key, op.flags, user);
        self.scratch.trim();
        r
    }

    /// The space named `name`. `Ok(None)`: the operation must wait for a configuration
    /// (there is none yet, or the space is unknown and the coordinator link is down); the
    /// caller parks it. A space unknown to a configuration kept current by the coordinator
    /// (the link is up with its standing wait) is UNKNOWNSPACE at once.
    fn space(&mut self, name: &[u8]) -> Result<Option<Arc<SpaceInfo>>, OpError> {
        if let Some(sp) = self.last_space.as_ref().filter(|sp| &*sp.name == name) {
            return Ok(Some(sp.clone()));
        }
        if self.cluster_jump {
            return Err(OpError::whole(ReturnCode::ClusterJump));
        }
        let found = |c: &Self| c.routing.as_ref().and_then(|r| r.spaces.get(name)).cloned();
        if let Some(sp) = found(self) {
            self.last_space = Some(sp.clone());
            return Ok(Some(sp));
        }
        // A configuration naming it may already wait in the coordinator's socket (the
        // coordinator sends new configurations before it answers the add_space that made
        // them): read it now, without waiting.
        let mut read_news = false;
        if self.coord.as_ref().is_some_and(|c| c.connected) {
            let before = self.config_version();
            self.coord_event(true, false, false);
            if let Some(sp) = found(self) {
                return Ok(Some(sp));
            }
            // A new configuration arrived just now: our standing wait was used up by it, so
            // a still newer one may exist unannounced. Ask (the call waits in loop).
            read_news = self.config_version() != before;
        }
        let live = !read_news && self.coord.as_ref().is_some_and(|c| c.connected && c.waits > 0 && c.fresh);
        if self.unparking || (self.routing.is_some() && live) {
            return Err(OpError::whole(ReturnCode::UnknownSpace));
        }
        Ok(None)
    }

    /// Records an operation that waits for a configuration; it gets its id now and is started
    /// (or fails) when a configuration arrives, within the coordinator timeout.
    fn park(&mut self, req: Parked, user: T) -> Result<i64, OpError> {
        if self.pending.len() >= MAX_PENDING {
            return Err(OpError::whole(ReturnCode::NoMem));
        }
        let slot = self.pending.vacant_key();
        let id = (self.next_seq << SLOT_BITS) | slot as u64;
        self.next_seq += 1;
        let op = Op::Parked(Box::new(ParkedOp { req, since: Instant::now() }));
        self.pending.insert(Pending { id, user, space: Arc::new(SpaceInfo::empty()), op });
        self.parked += 1;
        // Whoever waits in poll must come back to open the coordinator link.
        if let Some(w) = &self.waker {
            let _ = w.wake();
        }
        Ok(id as i64)
    }

    /// The slot and id of the operation being started: a parked one's, or new ones.
    fn next_slot(&mut self) -> (usize, u64) {
        match self.reuse.take() {
            Some((slot, id)) if self.pending.vacant_key() == slot => (slot, id),
            _ => {
                let slot = self.pending.vacant_key();
                let id = (self.next_seq << SLOT_BITS) | slot as u64;
                self.next_seq += 1;
                (slot, id)
            }
        }
    }

    /// Starts (or fails) every parked operation: after a configuration was installed
    /// (`failure` None), or with `failure` when the coordinator could not be reached.
    fn unpark(&mut self, failure: Option<ReturnCode>) {
        if self.parked == 0 {
            return;
        }
        let slots: Vec<usize> =
            self.pending.iter().filter(|(_, p)| matches!(p.op, Op::Parked(_))).map(|(s, _)| s).collect();
        self.parked = 0;
        self.unparking = true;
        for slot in slots {
            let p = self.pending.remove(slot);
            let Op::Parked(parked) = p.op else { continue };
            let started = match failure {
                Some(rc) => Err(OpError::whole(rc)),
                None => {
                    self.reuse = Some((slot, p.id));
                    let r = parked.req.start(self, p.user.clone());
                    self.reuse = None;
                    r
                }
            };
            if let Err(e) = started {
                self.fail_parked(slot, p.id, p.user, &parked.req, e.status);
            }
        }
        self.unparking = false;
    }

    /// A parked operation that could not start: it finishes with `rc` (searches hand out an
    /// error event, then SEARCHDONE, as when a region fails).
    fn fail_parked(&mut self, slot: usize, id: u64, user: T, req: &Parked, rc: ReturnCode) {
        let space = Arc::new(SpaceInfo::empty());
        debug_assert_eq!(self.pending.vacant_key(), slot);
        match req.search_mode() {
            Some(mode) => {
                let op = search::SearchOp::refused(mode, rc);
                self.pending.insert(Pending { id, user, space, op: Op::Search(Box::new(op)) });
                self.search_ready(slot);
            }
            None => {
                let key = KeyPending { kind: Kind::Atomic, region: 0, server: 0, conn: usize::MAX, outcome: Some(rc) };
                self.pending.insert(Pending { id, user, space, op: Op::Key(key) });
                self.ready.push_back(slot);
            }
        }
    }

    /// Parked operations waiting longer than the coordinator timeout fail with COORDFAIL.
    fn expire_parked(&mut self, now: Instant) {
        if self.parked == 0 {
            return;
        }
        let late: Vec<usize> = self
            .pending
            .iter()
            .filter(|(_, p)| matches!(&p.op, Op::Parked(x) if now.duration_since(x.since) >= coord::RPC_TIMEOUT))
            .map(|(slot, _)| slot)
            .collect();
        for slot in late {
            let p = self.pending.remove(slot);
            self.parked -= 1;
            if let Op::Parked(parked) = p.op {
                self.fail_parked(slot, p.id, p.user, &parked.req, ReturnCode::CoordFail);
            }
        }
    }

    fn submit(&mut self, kind: Kind, space: Arc<SpaceInfo>, key: &[u8], flags: u8, user: T) -> Result<i64, OpError> {
        let offline = OpError::whole(ReturnCode::Offline);
        let region = *space.route(key).ok_or(offline)?;
        let server = region.head.ok_or(offline)?;
        if self.pending.len() >= MAX_PENDING {
            return Err(OpError::whole(ReturnCode::NoMem));
        }
        let version = self.routing.as_ref().map_or(0, |r| r.version);
        let ci = self.conn_for(server)?;
        let (slot, id) = self.next_slot();
        let conn = &mut self.conns[ci];
        let out = conn.wbuf.vec();
        let before = out.len();
        match kind {
            Kind::Get => encode_get(out, id, version, region.id, key),
            Kind::Atomic => {
                encode_atomic(out, id, version, region.id, key, flags, self.scratch.checks(), self.scratch.funcs())
            }
        }
        if out.len() - before - 4 > MAX_FRAME {
            conn.wbuf.truncate(before);
            return Err(OpError::whole(ReturnCode::NoMem));
        }
        let unsent = conn.wbuf.unsent();
        let key = KeyPending { kind, region: region.id, server, conn: ci, outcome: None };
        let at = self.pending.insert(Pending { id, user, space, op: Op::Key(key) });
        debug_assert_eq!(at, slot);
        self.mark_dirty(ci);
        if unsent >= FLUSH_THRESHOLD {
            self.flush_conn(ci);
        }
        Ok(id as i64)
    }

    fn mark_dirty(&mut self, ci: usize) {
        let Some(c) = self.conns.get_mut(ci) else {
            return;
        };
        if c.queued {
            return;
        }
        c.queued = true;
        if self.dirty.is_empty() {
            if let Some(w) = &self.waker {
                let _ = w.wake();
            }
        }
        self.dirty.push(ci);
    }

    /// The connection to `server`, opened (without blocking) if there is none.
    fn conn_for(&mut self, server: u64) -> Result<usize, OpError> {
        if let Some(&ci) = self.by_server.get(&server) {
            return Ok(ci);
        }
        let addr_s = self
            .routing
            .as_ref()
            .and_then(|r| r.servers.get(&server))
            .ok_or(OpError::whole(ReturnCode::Offline))?
            .clone();
        let failed = OpError::whole(ReturnCode::Reconfigure);
        let addr = match addr_s.parse::<SocketAddr>() {
            Ok(a) => a,
            Err(_) => addr_s.to_socket_addrs().ok().and_then(|mut it| it.next()).ok_or(failed)?,
        };
        let mut stream = TcpStream::connect(addr).map_err(|_| failed)?;
        let _ = stream.set_nodelay(true);
        let entry = self.conns.vacant_entry();
        let ci = entry.key();
        self.registry
            .register(&mut stream, Token(FIRST_CONN + ci), Interest::READABLE | Interest::WRITABLE)
            .map_err(|_| failed)?;
        entry.insert(Conn {
            stream,
            server,
            addr: addr_s,
            rbuf: ReadBuf::default(),
            wbuf: WriteBuf::default(),
            connected: false,
            writable: false,
            queued: false,
            in_readable: false,
            closed: false,
            hup: false,
            more: false,
        });
        self.by_server.insert(server, ci);
        Ok(ci)
    }

    // ---- the event loop ----

    /// Waits up to `timeout_ms` (negative: forever; 0: do not block) for one operation to
    /// finish and returns it. Errors: NONEPENDING (nothing outstanding), TIMEOUT,
    /// INTERRUPTED (a signal), POLLFAILED.
    pub fn loop_once(&mut self, timeout_ms: i32) -> Result<Event<'_, T>, ReturnCode> {
        // Fast path: something already finished (no clock read, no system call).
        if let Some(d) = self.next_delivery() {
            return Ok(self.deliver(d));
        }
        let mut now = Instant::now();
        let deadline = u64::try_from(timeout_ms).ok().map(|ms| now + Duration::from_millis(ms));
        let mut polled = false;
        loop {
            if let Some(timeout) = self.before_wait(now, deadline, polled)? {
                self.poll_events(timeout).map_err(poll_error)?;
                now = Instant::now();
                self.last_check = now;
                polled = true;
            }
            if let Some(d) = self.next_delivery() {
                return Ok(self.deliver(d));
            }
        }
    }

    /// The work of `loop_once` before it waits: sends what is queued, and says how long to
    /// wait for the network (`Some(timeout)`; None inside: forever), or `None` when an event
    /// is ready. Errors end the loop call: NONEPENDING, or TIMEOUT once `deadline` passed
    /// after at least one wait.
    fn before_wait(
        &mut self,
        now: Instant,
        deadline: Option<Instant>,
        polled: bool,
    ) -> Result<Option<Option<Duration>>, ReturnCode> {
        if self.pending.is_empty() {
            return Err(ReturnCode::NonePending);
        }
        self.expire_parked(now);
        self.coord_maintain(now);
        self.flush_all();
        if !self.ready.is_empty() {
            return Ok(None);
        }
        let mut timeout = match deadline {
            None => None,
            Some(d) => {
                if polled && now >= d {
                    return Err(ReturnCode::Timeout);
                }
                Some(d.saturating_duration_since(now))
            }
        };
        let mut wake_at = |at: Instant| {
            let t = at.saturating_duration_since(now);
            timeout = Some(timeout.map_or(t, |x: Duration| x.min(t)));
        };
        if self.coord.is_none() && (self.routing.is_some() || self.parked > 0) {
            wake_at(self.coord_retry_at);
        }
        if let Some(c) = self.coord.as_ref() {
            if !c.connected {
                wake_at(c.opened + coordset::CONNECT_TIMEOUT);
            }
            if c.fetching {
                wake_at(c.asked + coordset::CONNECT_TIMEOUT);
            }
        }
        if self.parked > 0 {
            let first = self.pending.iter().filter_map(|(_, p)| match &p.op {
                Op::Parked(x) => Some(x.since + coord::RPC_TIMEOUT),
                _ => None,
            });
            if let Some(at) = first.min() {
                wake_at(at);
            }
        }
        Ok(Some(timeout))
    }

    /// Whether an event is ready to hand out without waiting (a finished operation, or
    /// frames already read).
    fn has_deliverable(&self) -> bool {
        !self.ready.is_empty() || !self.readable.is_empty()
    }

    /// Wakes whoever waits in the poller.
    fn wake(&self) {
        if let Some(w) = &self.waker {
            let _ = w.wake();
        }
    }

    /// Dispatches readiness taken from the poller (by this thread or another).
    fn dispatch_all(&mut self, events: &[IoEvent]) {
        for ev in events {
            match ev.token {
                COORD => self.coord_event(ev.readable, ev.writable, ev.hup),
                WAKER => {}
                Token(t) => self.conn_event(t - FIRST_CONN, ev.readable, ev.writable, ev.hup),
            }
        }
    }

    fn deliver(&mut self, d: Delivery) -> Event<'_, T> {
        match d {
            Delivery::Ready(slot) => {
                let p = self.pending.remove(slot);
                let status = p.key().and_then(|k| k.outcome).unwrap_or(ReturnCode::Garbage);
                Event { id: p.id as i64, user: p.user, status, values: None, extra: Extra::None, last: true }
            }
            Delivery::Reply { slot, conn, status, values } => {
                let p = self.pending.remove(slot);
                let values = match (values, self.conns.get(conn)) {
                    (Some((s, e, n)), Some(c)) => {
                        Some(Values { space: p.space, body: &c.rbuf.raw()[s..e], n, first: 1 })
                    }
                    _ => None,
                };
                Event { id: p.id as i64, user: p.user, status, values, extra: Extra::None, last: true }
            }
            Delivery::Search(slot, ev) => match ev {
                search::SearchEvent::Done { status, count, text } => {
                    let p = self.pending.remove(slot);
                    let extra = match (count, text) {
                        (Some(n), _) => Extra::Count(n),
                        (None, Some(t)) => Extra::Text(t),
                        _ => Extra::None,
                    };
                    Event { id: p.id as i64, user: p.user, status, values: None, extra, last: true }
                }
                search::SearchEvent::Error(status) => {
                    let p = &self.pending[slot];
                    Event {
                        id: p.id as i64,
                        user: p.user.clone(),
                        status,
                        values: None,
                        extra: Extra::None,
                        last: false,
                    }
                }
                search::SearchEvent::Object { start, end, n, in_current } => {
                    let p = &self.pending[slot];
                    let values = match &p.op {
                        Op::Search(op) => Some(Values {
                            space: Arc::clone(&p.space),
                            body: &op.object_bytes(in_current)[start..end],
                            n,
                            first: 0,
                        }),
                        _ => None,
                    };
                    let status = ReturnCode::Success;
                    Event { id: p.id as i64, user: p.user.clone(), status, values, extra: Extra::None, last: false }
                }
            },
        }
    }

    /// The next completion that needs no waiting, if any: a finished entry, or a reply
    /// already in a read buffer. Closes connections that are spent.
    fn next_delivery(&mut self) -> Option<Delivery> {
        loop {
            if let Some(slot) = self.ready.pop_front() {
                match self.pending.get_mut(slot).map(|p| &mut p.op) {
                    Some(Op::Key(k)) if k.outcome.is_some() => return Some(Delivery::Ready(slot)),
                    Some(Op::Search(op)) => {
                        op.queued = false;
                        let Some(ev) = op.next_event() else {
                            // Nothing to hand out (say, every object left was a repeat): the
                            // batches it used up make room for the next ones.
                            self.search_refill(slot);
                            continue;
                        };
                        if !matches!(ev, search::SearchEvent::Done { .. }) {
                            // More may follow: stay first in line, and let regions whose
                            // batches were handed out send their next ones.
                            op.queued = true;
                            self.ready.push_front(slot);
                            self.search_refill(slot);
                        }
                        return Some(Delivery::Search(slot, ev));
                    }
                    _ => {}
                }
                continue;
            }
            let &ci = self.readable.front()?;
            let Some(c) = self.conns.get_mut(ci) else {
                self.readable.pop_front();
                continue;
            };
            let frame = match parse_frame(c.rbuf.data(), MAX_FRAME) {
                Ok(Some(f)) => f,
                Ok(None) => {
                    if c.more && !c.closed {
                        // Everything read is used: read what was left in the socket.
                        c.fill();
                        continue;
                    }
                    self.readable.pop_front();
                    c.in_readable = false;
                    if c.closed {
                        self.drop_conn(ci);
                    }
                    continue;
                }
                Err(_) => {
                    self.readable.pop_front();
                    self.drop_conn(ci);
                    continue;
                }
            };
            let size = frame.size;
            let slot = (frame.nonce & SLOT_MASK) as usize;
            let expect = match self.pending.get(slot) {
                Some(p) if p.id == frame.nonce => match &p.op {
                    Op::Key(k) if k.outcome.is_none() && k.conn == ci => {
                        Some((k.kind, p.space.attr_count().saturating_sub(1)))
                    }
                    Op::Search(_) => {
                        // A search's batch or a group_del's delete answer: copied out of the
                        // read buffer, so the frame is consumed here.
                        let (ty, body) = (frame.msg_type, frame.body.to_vec());
                        c.rbuf.consume(size);
                        if !self.search_frame(slot, ci, ty, body) {
                            self.drop_conn(ci);
                        }
                        continue;
                    }
                    _ => None,
                },
                _ => None,
            };
            let Some((kind, nonkey)) = expect else {
                // A reply to an operation already failed (by a reconfiguration): drop it.
                c.rbuf.consume(size);
                continue;
            };
            let body_at = c.rbuf.offset() + HEADER_SIZE;
            let parsed = parse_reply(kind, frame.msg_type, frame.body, nonkey);
            c.rbuf.consume(size);
            match parsed {
                Ok(Reply { rc, values }) => {
                    let values = values.map(|(s, e, n)| (body_at + s, body_at + e, n));
                    return Some(Delivery::Reply { slot, conn: ci, status: rc, values });
                }
                Err(_) => {
                    // This operation gets SERVERERROR; the connection is no longer trusted.
                    if let Some(Op::Key(k)) = self.pending.get_mut(slot).map(|p| &mut p.op) {
                        k.outcome = Some(ReturnCode::ServerError);
                    }
                    self.drop_conn(ci);
                    return Some(Delivery::Ready(slot));
                }
            }
        }
    }

    /// Waits on this client's own poller and dispatches what it reports.
    fn poll_events(&mut self, timeout: Option<Duration>) -> io::Result<()> {
        let Some(poll) = self.poll.as_mut() else { return Ok(()) };
        poll.poll(&mut self.events, timeout)?;
        let mut evs = std::mem::take(&mut self.io_events);
        evs.clear();
        evs.extend(self.events.iter().map(IoEvent::of));
        self.dispatch_all(&evs);
        self.io_events = evs;
        Ok(())
    }

    fn conn_event(&mut self, ci: usize, readable: bool, writable: bool, hup: bool) {
        let Some(c) = self.conns.get_mut(ci) else {
            return;
        };
        c.hup |= hup;
        if writable && !c.connected {
            match (c.stream.take_error(), c.stream.peer_addr()) {
                (Ok(None), Ok(_)) => c.connected = true,
                (Ok(None), Err(e)) if e.kind() == io::ErrorKind::NotConnected => {}
                _ => c.closed = true,
            }
        }
        if writable && c.connected {
            c.writable = true;
            if c.wbuf.unsent() > 0 {
                self.flush_conn(ci);
            }
        }
        let Some(c) = self.conns.get_mut(ci) else {
            return;
        };
        if readable && !c.closed {
            c.fill();
        }
        if (readable || c.closed) && !c.in_readable {
            c.in_readable = true;
            self.readable.push_back(ci);
        }
    }

    fn flush_conn(&mut self, ci: usize) {
        let Some(c) = self.conns.get_mut(ci) else {
            return;
        };
        if !c.connected || !c.writable || c.closed {
            return;
        }
        match c.wbuf.flush_to(&mut c.stream) {
            Ok(true) => {}
            Ok(false) => c.writable = false,
            Err(_) => {
                c.closed = true;
                if !c.in_readable {
                    c.in_readable = true;
                    self.readable.push_back(ci);
                }
            }
        }
    }

    fn flush_all(&mut self) {
        let mut dirty = std::mem::take(&mut self.dirty);
        for &ci in &dirty {
            if let Some(c) = self.conns.get_mut(ci) {
                c.queued = false;
            }
            self.flush_conn(ci);
        }
        dirty.clear();
        if self.dirty.is_empty() {
            self.dirty = dirty;
        }
    }

    /// Closes a connection; every operation still waiting on it finishes with RECONFIGURE.
    fn drop_conn(&mut self, ci: usize) {
        let Some(mut c) = self.conns.try_remove(ci) else {
            return;
        };
        let _ = self.registry.deregister(&mut c.stream);
        if self.by_server.get(&c.server) == Some(&ci) {
            self.by_server.remove(&c.server);
        }
        let mut searches = Vec::new();
        for (slot, p) in self.pending.iter_mut() {
            match &mut p.op {
                Op::Key(k) if k.outcome.is_none() && k.conn == ci => {
                    k.outcome = Some(ReturnCode::Reconfigure);
                    self.ready.push_back(slot);
                }
                Op::Search(_) => searches.push(slot),
                _ => {}
            }
        }
        for slot in searches {
            self.search_conn_lost(slot, ci);
        }
    }

    // ---- configuration ----

    fn resolve_coordinator(&mut self) -> Result<(), ReturnCode> {
        if self.coords.is_empty() {
            self.coords = CoordinatorSet::new(coord::resolve(&self.coord_host, self.coord_port)?);
        }
        Ok(())
    }

    /// Never blocks. Without a configuration the call parks (see `space`); with one, calls
    /// look for a newer one without blocking, at most every CHECK_INTERVAL (when this thread
    /// owns the poller).
    fn ensure_config(&mut self) -> Result<(), ReturnCode> {
        if self.cluster_jump {
            return Err(ReturnCode::ClusterJump);
        }
        if self.routing.is_none() || self.poll.is_none() {
            return Ok(());
        }
        // Reading the clock costs a little; a burst of calls only looks every few calls.
        self.calls_since_check += 1;
        if self.calls_since_check >= CHECK_EVERY_CALLS {
            self.calls_since_check = 0;
            let now = Instant::now();
            if now.duration_since(self.last_check) >= CHECK_INTERVAL {
                self.last_check = now;
                self.coord_maintain(now);
                let _ = self.poll_events(Some(Duration::ZERO));
            }
        }
        if self.cluster_jump {
            return Err(ReturnCode::ClusterJump);
        }
        Ok(())
    }

    /// Fetches the newest configuration synchronously and installs it.
    fn refresh_config(&mut self) -> Result<(), ReturnCode> {
        self.resolve_coordinator()?;
        match coord::rpc(&mut self.coords, &Msg::ConfigWait { have: 0 }, coord::RPC_TIMEOUT, COORD_RETRY)? {
            Msg::Config { config } => {
                let cfg = Configuration::decode(&config).map_err(|_| ReturnCode::BadConfig)?;
                self.install(cfg);
                Ok(())
            }
            _ => Err(ReturnCode::CoordFail),
        }
    }

    /// Installs a configuration newer than the cached one. Operations whose server is no
    /// longer the head of their region finish with RECONFIGURE; connections to servers that
    /// left or moved are closed.
    fn install(&mut self, cfg: Configuration) {
        if let Some(r) = &self.routing {
            if cfg.cluster != r.cluster {
                self.cluster_jump = true;
                self.unpark(Some(ReturnCode::ClusterJump));
                return;
            }
            if cfg.version <= r.version {
                // Not newer, but current: what waited for it can start.
                self.unpark(None);
                return;
            }
        }
        self.coords.learn(&cfg.coordinators);
        let new = Routing::new(&cfg);
        for (slot, p) in self.pending.iter_mut() {
            // A search's regions keep streaming from the snapshots they took (a lost server
            // shows as a lost connection); key operations whose leader changed are failed.
            if let Op::Key(k) = &mut p.op {
                if k.outcome.is_none() && new.heads.get(&k.region).copied().flatten() != Some(k.server) {
                    k.outcome = Some(ReturnCode::Reconfigure);
                    self.ready.push_back(slot);
                }
            }
        }
        let stale: Vec<usize> =
            self.conns.iter().filter(|(_, c)| new.servers.get(&c.server) != Some(&c.addr)).map(|(ci, _)| ci).collect();
        self.routing = Some(new);
        self.last_space = None;
        for ci in stale {
            self.drop_conn(ci);
        }
        self.unpark(None);
    }

    /// Reopens the coordinator connection when it is down and the retry time has come, and
    /// asks for the current configuration when operations wait for one.
    fn coord_maintain(&mut self, now: Instant) {
        let stuck = |c: &CoordConn| {
            (!c.connected && now >= c.opened + coordset::CONNECT_TIMEOUT)
                || (c.fetching && now >= c.asked + coordset::CONNECT_TIMEOUT)
        };
        if self.coord.as_ref().is_some_and(stuck) {
            // Its host does not answer (down, cut off, or hung): the next coordinator.
            self.lose_coord();
        }
        if self.parked > 0 {
            if let Some(c) = self.coord.as_mut() {
                if !c.fetching {
                    // Answered at once (the standing wait stays in place).
                    Msg::ConfigWait { have: 0 }.encode(0, c.wbuf.vec());
                    c.waits += 1;
                    c.fetching = true;
                    c.asked = now;
                    if c.connected && c.wbuf.flush_to(&mut c.stream).is_err() {
                        self.lose_coord();
                    }
                }
                return;
            }
            if let Err(rc) = self.resolve_coordinator() {
                self.unpark(Some(rc));
                return;
            }
        } else if self.routing.is_none() {
            return;
        }
        if self.coord.is_none() && now >= self.coord_retry_at {
            self.coord_connect();
        }
    }

    /// Opens the persistent connection to the coordinator the group set names, with its
    /// first `ConfigWait` queued (sent once connected).
    fn coord_connect(&mut self) {
        let Some(addr) = self.coords.target() else { return };
        let Ok(mut stream) = TcpStream::connect(addr) else {
            self.coord_failed(addr);
            return;
        };
        let _ = stream.set_nodelay(true);
        hyperdex_core::coordset::detect_dead_peer(std::os::fd::AsRawFd::as_raw_fd(&stream));
        if self.registry.register(&mut stream, COORD, Interest::READABLE | Interest::WRITABLE).is_err() {
            self.coord_failed(addr);
            return;
        }
        let fetching = self.parked > 0;
        let mut c = CoordConn {
            stream,
            addr,
            rbuf: ReadBuf::default(),
            wbuf: WriteBuf::default(),
            connected: false,
            opened: Instant::now(),
            waits: 0,
            fresh: false,
            fetching,
            asked: Instant::now(),
        };
        let have = if fetching { 0 } else { self.config_version() };
        Msg::ConfigWait { have }.encode(0, c.wbuf.vec());
        c.waits = 1;
        self.coord = Some(c);
    }

    /// Closes the coordinator connection (if any) and returns the address it went to.
    fn close_coord(&mut self) -> Option<SocketAddr> {
        let mut c = self.coord.take()?;
        let _ = self.registry.deregister(&mut c.stream);
        Some(c.addr)
    }

    /// The coordinator connection failed (closed, errored, or sent nonsense).
    fn lose_coord(&mut self) {
        if let Some(addr) = self.close_coord() {
            self.coord_failed(addr);
        }
    }

    /// An attempt at `addr` failed: the next coordinator is tried after a short pause.
    /// Operations waiting for a configuration fail now rather than at their deadline, but
    /// only once no known coordinator is left to try.
    fn coord_failed(&mut self, addr: SocketAddr) {
        self.coords.failed(addr);
        let all_down = self.coords.all_down();
        self.coord_retry_at = Instant::now() + if all_down { COORD_RETRY_ALL_DOWN } else { COORD_RETRY };
        if all_down {
            self.unpark(Some(ReturnCode::CoordFail));
        }
    }

    /// The coordinator is not the leader: go to the one it names at once, or (no leader
    /// known yet) to the next coordinator after a short pause.
    fn coord_redirected(&mut self, leader: &str) {
        let Some(addr) = self.close_coord() else { return };
        let now = Instant::now();
        match self.coords.redirected(addr, leader) {
            Next::Now => {
                self.coord_retry_at = now;
                self.coord_maintain(now);
            }
            Next::Later => self.coord_retry_at = now + COORD_RETRY,
        }
    }

    fn coord_event(&mut self, readable: bool, writable: bool, hup: bool) {
        let Some(c) = self.coord.as_mut() else { return };
        let mut failed = false;
        if writable && !c.connected {
            match (c.stream.take_error(), c.stream.peer_addr()) {
                (Ok(None), Ok(_)) => c.connected = true,
                (Ok(None), Err(e)) if e.kind() == io::ErrorKind::NotConnected => {}
                _ => failed = true,
            }
        }
        if c.connected && !failed && c.wbuf.unsent() > 0 && c.wbuf.flush_to(&mut c.stream).is_err() {
            failed = true;
        }
        if c.connected && !failed && c.wbuf.unsent() == 0 && c.waits > 0 {
            // The standing wait for anything newer than our version is on its way: from now
            // on the coordinator tells us of every change.
            c.fresh = true;
        }
        let mut configs = Vec::new();
        let mut bad_config = false;
        let mut redirect = None;
        while readable && !failed && redirect.is_none() {
            let limit = c.rbuf.limit(READ_LIMIT);
            let fill = match c.rbuf.fill_from(&mut c.stream, limit) {
                Ok(f) => f,
                Err(_) => Fill { eof: true, drained: true },
            };
            // After the peer's end (hup), a drained socket has nothing left but EOF.
            failed |= fill.eof || (hup && fill.drained);
            loop {
                match parse_frame(c.rbuf.data(), MAX_FRAME) {
                    Ok(Some(f)) => {
                        let size = f.size;
                        let msg = Msg::decode(f.msg_type, f.body);
                        c.rbuf.consume(size);
                        c.waits = c.waits.saturating_sub(1);
                        match msg {
                            Ok(Msg::Config { config }) => match Configuration::decode(&config) {
                                Ok(cfg) => {
                                    c.fresh = true;
                                    c.fetching = false;
                                    configs.push(cfg);
                                }
                                Err(_) => {
                                    bad_config = true;
                                    failed = true;
                                    break;
                                }
                            },
                            Ok(Msg::Redirect { leader }) => {
                                redirect = Some(leader);
                                break;
                            }
                            _ => {
                                failed = true;
                                break;
                            }
                        }
                    }
                    Ok(None) => break,
                    Err(_) => {
                        failed = true;
                        break;
                    }
                }
            }
            if fill.drained {
                break;
            }
        }
        if !configs.is_empty() {
            let addr = c.addr;
            let ours = self.routing.as_ref().map(|r| r.cluster);
            if ours.is_some_and(|k| configs.iter().any(|cfg| cfg.cluster != k)) {
                self.foreign.insert(addr);
                if self.coords.addrs().iter().any(|a| !self.foreign.contains(a)) {
                    // Another cluster's coordinator at an address of ours: try the others.
                    self.lose_coord();
                    return;
                }
            } else {
                self.foreign.clear();
            }
            // Only the leader sends configurations: it is the first to ask from now on.
            self.coords.answered(addr);
        }
        for cfg in configs {
            self.install(cfg);
        }
        if let Some(leader) = redirect {
            self.coord_redirected(&leader);
            return;
        }
        if failed {
            if bad_config {
                // What waited for this configuration learns why it never came.
                self.unpark(Some(ReturnCode::BadConfig));
            }
            self.lose_coord();
            return;
        }
        let version = self.config_version();
        if let Some(c) = self.coord.as_mut() {
            if c.waits == 0 {
                Msg::ConfigWait { have: version }.encode(0, c.wbuf.vec());
                c.waits = 1;
                if c.connected && c.wbuf.flush_to(&mut c.stream).is_err() {
                    self.lose_coord();
                }
            }
        }
    }
}

#[cfg(test)]
mod tests;
