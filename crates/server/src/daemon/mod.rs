//! The storage daemon: registers with the coordinator, follows its configurations, serves
//! clients and takes part in value-dependent chains. This file is the mio shell: it moves
//! bytes, reads the clock, and carries out what [`node::Node::ready`] asks (commits on the
//! storage thread, messages once they may leave); the logic is in [`node`], storage in
//! [`storage`].

mod cache;
#[cfg(test)]
mod joint_sim;
pub mod node;
pub mod search;
#[cfg(test)]
mod sim_tests;
pub mod storage;
mod table;

use crate::fasthash::FastMap;
use crate::net::Conn;
use hyperdex_core::config::Configuration;
use hyperdex_core::coordset::{CoordinatorSet, Next};
use hyperdex_core::ops::{Check, Func};
use hyperdex_core::proto::{decode_atomic, decode_chain_op, decode_get, msg as proto_msg, Hop, Msg};
use hyperdex_core::wire::{DResult, DecodeError, FrameRef, MAX_FRAME};
use hyperdex_core::CoordCode;
use mio::net::{TcpListener, TcpStream};
use mio::{Events, Interest, Poll, Token, Waker};
use node::{Dest, Input, Job, Loaded, Node, Outgoing, ReadJob, StorageTask};
use std::io;
use std::net::{SocketAddr, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use storage::{FjallStore, Store};

pub struct DaemonOptions {
    pub listen_host: Option<String>,
    pub listen_port: u16,
    pub coordinator_host: String,
    pub coordinator_port: u16,
    pub data: PathBuf,
    /// fsync (fdatasync) every group of writes before acknowledging it.
    pub sync: bool,
    /// Bytes of objects kept in memory (write-through cache).
    pub cache_bytes: usize,
    /// Reader threads: gets that miss the object cache read storage there (at least one).
    pub threads: usize,
}

/// What the daemon asks to hear of a client's or another daemon's connection: readable
/// (and the end of stream, see `conn_events`), and urgent data pending (a read stops short
/// at TCP's urgent mark, so that event's fill must read on; see [`Conn::fill_after`]).
const CONN_READ: Interest = Interest::READABLE.add(Interest::PRIORITY);
const LISTENER: Token = Token(0);
const COORD: Token = Token(1);
const WAKER: Token = Token(2);
/// Messages handled from one connection before the round ends (see `conn_events`).
const CHUNK: usize = 128;
/// Unsent answers a client connection may have before its requests wait (it must read).
const OUT_LIMIT: usize = 8 << 20;
/// Storage reads out on the reader threads (gets that missed the object cache) before
/// clients' requests wait: a client pipelining misses faster than the readers read is
/// not read from until half of them are done, so the reads queued for the readers (and
/// the gets waiting for them) stay bounded, as the synchronous read once bounded them.
const READS_LIMIT: usize = 4096;

/// The storage thread: commits rounds of writes in order (merging every round queued
/// meanwhile into one batch: group commit), runs storage tasks in their place between them,
/// and tells the event loop how far it got, so the event loop keeps serving while the
/// journal and memtable work happens on another core.
struct Committer {
    tx: Option<std::sync::mpsc::Sender<Job>>,
    done: Arc<AtomicU64>,
    error: Arc<Mutex<Option<io::Error>>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

/// The reader threads: each reads storage for the gets that missed the object cache
/// (`Ready::reads`), a batch at a time, and hands the results back to the event loop.
struct Readers {
    txs: Vec<std::sync::mpsc::Sender<Vec<ReadJob>>>,
    done: Arc<Mutex<Vec<(ReadJob, Loaded)>>>,
    next: usize,
    threads: Vec<std::thread::JoinHandle<()>>,
}

/// A batch of reads is split among the reader threads, in parts of at least this many (a
/// part costs a hand-off and a wakeup).
const READ_PART: usize = 16;

impl Readers {
    fn start(store: &FjallStore, waker: &Arc<Waker>, threads: usize) -> io::Result<Readers> {
        let done = Arc::new(Mutex::new(Vec::new()));
        let (mut txs, mut handles) = (Vec::new(), Vec::new());
        for i in 0..threads.max(1) {
            let (tx, rx) = std::sync::mpsc::channel::<Vec<ReadJob>>();
            let (store, waker, done) = (store.clone(), Arc::clone(waker), Arc::clone(&done));
            let handle = std::thread::Builder::new().name(format!("hyperdex:read{i}")).spawn(move || {
                let mut out = Vec::new();
                while let Ok(jobs) = rx.recv() {
                    out.extend(jobs.into_iter().map(|j| {
                        let loaded = node::load(&store, &j.skey);
                        (j, loaded)
                    }));
                    done.lock().unwrap_or_else(|p| p.into_inner()).append(&mut out);
                    let _ = waker.wake();
                }
            })?;
            txs.push(tx);
            handles.push(handle);
        }
        Ok(Readers { txs, done, next: 0, threads: handles })
    }

    /// Stops the reader threads and waits for them, so that their storage handles are gone
    /// before the shell drops the last one (which closes the engine and syncs its journal
    /// on this thread, before the process exits).
    fn finish(&mut self) {
        self.txs.clear();
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }

    /// Hands `jobs` to the reader threads, in turn.
    fn send(&mut self, mut jobs: Vec<ReadJob>) -> io::Result<()> {
        let part = jobs.len().div_ceil(self.txs.len()).max(READ_PART);
        while !jobs.is_empty() {
            let rest = if jobs.len() > part { jobs.split_off(part) } else { Vec::new() };
            self.next = (self.next + 1) % self.txs.len();
            self.txs[self.next].send(jobs).map_err(|_| io::Error::other("a reader thread stopped"))?;
            jobs = rest;
        }
        Ok(())
    }

    /// The reads done since the last call.
    fn take_done(&self) -> Vec<(ReadJob, Loaded)> {
        std::mem::take(&mut *self.done.lock().unwrap_or_else(|p| p.into_inner()))
    }
}

impl Committer {
    fn start(mut store: FjallStore, waker: Arc<Waker>) -> io::Result<Committer> {
        let (tx, rx) = std::sync::mpsc::channel::<Job>();
        let done = Arc::new(AtomicU64::new(0));
        let error = Arc::new(Mutex::new(None));
        let (d, e) = (Arc::clone(&done), Arc::clone(&error));
        let thread = std::thread::Builder::new().name("hyperdex:storage".into()).spawn(move || {
            let mut next = rx.recv().ok();
            while let Some(job) = next.take() {
                let result = match job {
                    Job::Round(mut round, mut writes) => {
                        // Group commit: every round queued meanwhile, up to the next task.
                        loop {
                            match rx.try_recv() {
                                Ok(Job::Round(r, w)) => {
                                    round = r;
                                    writes.extend(w);
                                }
                                Ok(task) => {
                                    next = Some(task);
                                    break;
                                }
                                Err(_) => break,
                            }
                        }
                        store.commit(writes).map(|()| d.store(round, Ordering::Release))
                    }
                    Job::Task(StorageTask::DropRegion(region)) => store.drop_region(region),
                };
                if let Err(err) = result {
                    *e.lock().unwrap_or_else(|p| p.into_inner()) = Some(err);
                    let _ = waker.wake();
                    return;
                }
                let _ = waker.wake();
                if next.is_none() {
                    next = rx.recv().ok();
                }
            }
        })?;
        Ok(Committer { tx: Some(tx), done, error, thread: Some(thread) })
    }

    fn send(&self, job: Job) -> io::Result<()> {
        match &self.tx {
            Some(tx) if tx.send(job).is_ok() => Ok(()),
            _ => Err(self.take_error().unwrap_or_else(|| io::Error::other("the storage thread stopped"))),
        }
    }

    fn take_error(&self) -> Option<io::Error> {
        self.error.lock().unwrap_or_else(|p| p.into_inner()).take()
    }

    /// Waits for every queued round to be committed.
    fn finish(&mut self) -> io::Result<()> {
        self.tx = None;
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        match self.take_error() {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }
}
const ID_FILE: &str = "hyperdex-daemon.id";

/// The identity a daemon keeps in its data directory.
#[derive(Debug, PartialEq, Eq)]
pub struct Identity {
    pub server: u64,
    pub address: String,
    pub coordinator: String,
    /// The cluster this data belongs to (0 until the first configuration arrives).
    pub cluster: u64,
}

impl Identity {
    fn to_text(&self) -> String {
        let mut t = format!("server={}\naddress={}\ncoordinator={}\n", self.server, self.address, self.coordinator);
        if self.cluster != 0 {
            t.push_str(&format!("cluster={}\n", self.cluster));
        }
        t
    }
    fn parse(text: &str) -> Option<Identity> {
        let mut server = None;
        let mut address = None;
        let mut coordinator = None;
        let mut cluster = Some(0);
        for line in text.lines() {
            let (k, v) = line.split_once('=')?;
            match k {
                "server" => server = v.parse().ok(),
                "address" => address = Some(v.to_string()),
                "coordinator" => coordinator = Some(v.to_string()),
                "cluster" => cluster = v.parse().ok(),
                _ => {}
            }
        }
        Some(Identity { server: server?, address: address?, coordinator: coordinator?, cluster: cluster? })
    }
}

fn resolve(host: &str, port: u16) -> io::Result<SocketAddr> {
    Ok(resolve_all(host, port)?[0])
}

/// Every address of `host:port` (at least one).
fn resolve_all(host: &str, port: u16) -> io::Result<Vec<SocketAddr>> {
    let addrs: Vec<SocketAddr> = (host, port).to_socket_addrs()?.collect();
    if addrs.is_empty() {
        return Err(io::Error::new(io::ErrorKind::NotFound, format!("cannot resolve {host}")));
    }
    Ok(addrs)
}

/// The local address used to reach the coordinator: the default for `--listen`.
fn detect_listen_ip(coord: SocketAddr) -> String {
    std::net::UdpSocket::bind(("0.0.0.0", 0))
        .and_then(|s| {
            s.connect(coord)?;
            s.local_addr()
        })
        .map(|a| a.ip().to_string())
        .unwrap_or_else(|_| "127.0.0.1".to_string())
}

fn load_identity(dir: &Path, address: &str, coordinator: &str) -> io::Result<Identity> {
    let path = dir.join(ID_FILE);
    match std::fs::read_to_string(&path) {
        Ok(text) => {
            let id = Identity::parse(&text)
                .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, format!("{} is corrupt", path.display())))?;
            if id.address != address {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!(
                        "the data directory belongs to server {} at {}; restart it with that address (asked for {})",
                        id.server, id.address, address
                    ),
                ));
            }
            // The recorded coordinator is not checked: any member of the coordinator group
            // may be named on a restart. The cluster id sent with Register is what keeps a
            // daemon out of another cluster.
            Ok(id)
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            let mut b = [0u8; 8];
            {
                use std::io::Read;
                std::fs::File::open("/dev/urandom")?.read_exact(&mut b)?;
            }
            let id = Identity {
                server: u64::from_le_bytes(b) | 1,
                address: address.to_string(),
                coordinator: coordinator.to_string(),
                cluster: 0,
            };
            crate::coordinator::write_atomic(&path, id.to_text().as_bytes())?;
            Ok(id)
        }
        Err(e) => Err(e),
    }
}

struct Shell {
    poll: Poll,
    node: Node<FjallStore>,
    conns: FastMap<usize, Conn>,
    /// Outbound connections to other daemons.
    peers: FastMap<u64, usize>,
    peer_of: FastMap<usize, u64>,
    next_token: usize,
    /// The coordinator group: the address given, then the configuration's members.
    coords: CoordinatorSet,
    /// Where `coord` goes.
    coord_addr: SocketAddr,
    coord: Option<Conn>,
    coord_retry: Instant,
    /// Coordinators that refused this server as another cluster's since it last registered.
    refused_by: std::collections::HashSet<SocketAddr>,
    /// When the coordinator connection last brought a frame (or was opened).
    coord_heard: Instant,
    identity: Identity,
    data: PathBuf,
    touched: Vec<usize>,
    /// Client connections not read from while [`READS_LIMIT`] reads are out.
    read_blocked: Vec<usize>,
    /// How many times client connections began waiting for storage reads (reported at stop).
    read_waits: u64,
    committer: Committer,
    /// The configuration version at which this server last registered again after finding
    /// itself not AVAILABLE.
    reregistered: u64,
    /// Set once a clean shutdown was acknowledged by the coordinator.
    shutdown_acked: bool,
    /// This process has registered once (later registrations are not `fresh`).
    registered: bool,
    in_place: InPlace,
    readers: Readers,
}

/// Most checks or functions whose room the reused request lists keep.
const LIST_ROOM: usize = 64;
/// The largest function argument buffer kept for the next request.
const ARG_ROOM: usize = 4096;

/// The frames of the request path (GET, ATOMIC, CHAIN_OP), decoded in place: keys stay in
/// the read buffer, and checks, functions and hops go into lists kept from one frame to
/// the next, handed to the node borrowed.
#[derive(Default)]
struct InPlace {
    checks: Vec<Check>,
    funcs: Vec<Func>,
    /// At most MAX_HOPS.
    hops: Vec<Hop>,
}

/// Whether frames of type `msg_type` are requests only clients send.
fn client_request(msg_type: u8) -> bool {
    matches!(
        msg_type,
        proto_msg::GET | proto_msg::ATOMIC | proto_msg::SEARCH_START | proto_msg::SEARCH_MORE | proto_msg::SEARCH_STOP
    )
}

impl InPlace {
    fn serves(msg_type: u8) -> bool {
        matches!(msg_type, proto_msg::GET | proto_msg::ATOMIC | proto_msg::CHAIN_OP)
    }

    /// Decodes frame `f` (of a type it `serves`) that arrived on connection `conn` at `now`
    /// and hands it to the node. `server`: the daemon at the other end, if it said which
    /// (CHAIN_OP comes only from one). An error closes the connection.
    fn serve(
        &mut self,
        node: &mut Node<FjallStore>,
        now: Instant,
        conn: usize,
        server: Option<u64>,
        f: &FrameRef<'_>,
    ) -> DResult<()> {
        match f.msg_type {
            proto_msg::GET => {
                let (version, region, key) = decode_get(f.body)?;
                node.get_request(now, conn, None, f.nonce, version, region, key);
            }
            proto_msg::ATOMIC => {
                let decoded = decode_atomic(f.body, &mut self.checks, &mut self.funcs);
                if let Ok(head) = decoded {
                    node.atomic_request(now, conn, None, f.nonce, head, &mut self.checks, &mut self.funcs);
                }
                // The checks a request left go now; its functions stay, for the next
                // request to decode over (reusing their argument buffers: a put allocates
                // nothing for its values). A request with many entries (or one that claimed
                // many and did not decode), or with a large argument, does not leave its
                // room behind.
                self.checks.clear();
                if self.checks.capacity() > LIST_ROOM {
                    self.checks = Vec::new();
                }
                if decoded.is_err()
                    || self.funcs.capacity() > LIST_ROOM
                    || self.funcs.iter().any(|f| f.arg.capacity() > ARG_ROOM || f.map_key.is_some())
                {
                    self.funcs = Vec::new();
                }
                decoded?;
            }
            proto_msg::CHAIN_OP => {
                let from = server.ok_or(DecodeError)?;
                let head = decode_chain_op(f.body, &mut self.hops)?;
                node.chain_op_request(now, conn, Some(from), f.nonce, head, &mut self.hops);
            }
            _ => return Err(DecodeError),
        }
        Ok(())
    }
}

/// A coordinator connection that brings nothing for this long (no heartbeat answer, no
/// configuration; or it never opened) is given up for the next coordinator.
const COORD_SILENCE: Duration = Duration::from_millis(1500);

/// How soon a daemon tries the next coordinator after losing one (or hearing that no
/// leader is known yet).
const COORD_RETRY: Duration = Duration::from_millis(50);

impl Shell {
    fn token(&mut self) -> usize {
        let t = self.next_token;
        self.next_token += 1;
        t
    }

    /// Opens a connection to the coordinator the group set names; it starts with Register
    /// (then ConfigWait, once registered).
    fn connect_coordinator(&mut self) {
        self.coord_retry = Instant::now() + COORD_RETRY;
        let Some(addr) = self.coords.target() else { return };
        let Ok(mut s) = TcpStream::connect(addr) else {
            self.coords.failed(addr);
            return;
        };
        if self.poll.registry().register(&mut s, COORD, Interest::READABLE | Interest::WRITABLE).is_err() {
            self.coords.failed(addr);
            return;
        }
        hyperdex_core::coordset::detect_dead_peer(std::os::fd::AsRawFd::as_raw_fd(&s));
        let mut c = Conn::new(s);
        c.want_write = true;
        self.register(&mut c);
        self.coord_heard = Instant::now();
        if crate::signals::stopping() {
            // Stopping, and the shutdown may not have reached the leader: tell this one.
            Msg::Shutdown { server: self.identity.server }.encode(3, &mut c.wbuf);
        }
        self.coord_addr = addr;
        self.coord = Some(c);
    }

    fn close_coordinator(&mut self) {
        if let Some(mut c) = self.coord.take() {
            let _ = self.poll.registry().deregister(&mut c.stream);
        }
    }

    /// The coordinator answered one of our requests with REDIRECT: it is not the leader.
    /// Go to the one it names at once, or (none known yet) to the next after a pause.
    fn coordinator_redirected(&mut self, leader: &str) {
        self.close_coordinator();
        match self.coords.redirected(self.coord_addr, leader) {
            Next::Now => self.connect_coordinator(),
            Next::Later => {
                eprintln!("hyperdex daemon: coordinator {} knows no leader; trying another", self.coord_addr);
                self.coord_retry = Instant::now() + COORD_RETRY;
            }
        }
    }

    /// The coordinator connection closed or failed: the next coordinator, after a pause.
    fn coordinator_lost(&mut self) {
        self.close_coordinator();
        self.coords.failed(self.coord_addr);
        eprintln!("hyperdex daemon: lost the coordinator at {}; reconnecting", self.coord_addr);
        self.coord_retry = Instant::now() + COORD_RETRY;
    }

    fn register(&self, c: &mut Conn) {
        Msg::Register {
            server: self.identity.server,
            addr: self.identity.address.clone(),
            cluster: self.identity.cluster,
            fresh: !self.registered,
        }
        .encode(1, &mut c.wbuf);
    }

    fn coord_events(&mut self) -> io::Result<()> {
        let Some(c) = self.coord.as_mut() else { return Ok(()) };
        c.fill();
        let mut configs = Vec::new();
        let mut redirect = None;
        while let Some(c) = self.coord.as_mut() {
            let frame = c.next_owned(MAX_FRAME);
            if matches!(frame, Ok(Some(_))) {
                self.coord_heard = Instant::now();
            }
            let Some(c) = self.coord.as_mut() else { break };
            match frame {
                Ok(Some((ty, nonce, body))) => match Msg::decode(ty, &body) {
                    Ok(Msg::CoordReply { code }) if nonce == 3 => {
                        // The answer to a clean shutdown.
                        self.shutdown_acked = code == CoordCode::Success;
                    }
                    Ok(Msg::CoordReply { code }) => {
                        if code == CoordCode::Success {
                            self.registered = true;
                            self.refused_by.clear();
                        }
                        let other_cluster = code == CoordCode::Malformed && self.identity.cluster != 0;
                        if other_cluster {
                            self.refused_by.insert(self.coord_addr);
                        }
                        if other_cluster && self.coords.addrs().iter().any(|a| !self.refused_by.contains(a)) {
                            // One coordinator of the list runs another cluster (a member
                            // restarted on an empty data directory without -c, say): the
                            // others may still be ours.
                            eprintln!(
                                "hyperdex daemon: coordinator {} runs another cluster than this server's {}; trying another",
                                self.coord_addr, self.identity.cluster
                            );
                            c.dead = true;
                            break;
                        }
                        if code != CoordCode::Success {
                            let why = if code == CoordCode::Malformed && self.identity.cluster != 0 {
                                format!(
                                    "its data directory belongs to cluster {}, which this coordinator does not run",
                                    self.identity.cluster
                                )
                            } else {
                                code.message().to_string()
                            };
                            return Err(io::Error::other(format!(
                                "the coordinator refused to register this server: {why}"
                            )));
                        }
                        Msg::ConfigWait { have: self.node.config.version }.encode(2, &mut c.wbuf);
                    }
                    Ok(Msg::HeartbeatAck { lease_ms }) => {
                        let lease = Duration::from_millis(lease_ms.min(60_000));
                        self.node.step(Instant::now(), Input::HeartbeatAck { nonce, lease });
                    }
                    Ok(Msg::Config { config }) => match Configuration::decode(&config) {
                        Ok(cfg) => configs.push(cfg),
                        Err(_) => c.dead = true,
                    },
                    // Not the leader (whichever request this answers): no refusal, go on to
                    // the leader. Nothing after it on this connection matters.
                    Ok(Msg::Redirect { leader }) => {
                        redirect = Some(leader);
                        break;
                    }
                    _ => c.dead = true,
                },
                Ok(None) => break,
                Err(_) => break,
            }
        }
        if !configs.is_empty() {
            // Only the leader sends configurations.
            self.coords.answered(self.coord_addr);
        }
        for cfg in configs {
            let v = cfg.version;
            if v > self.node.config.version {
                self.coords.learn(&cfg.coordinators);
            }
            if self.identity.cluster == 0 && cfg.cluster != 0 {
                // From now on this data belongs to that cluster.
                self.identity.cluster = cfg.cluster;
                crate::coordinator::write_atomic(&self.data.join(ID_FILE), self.identity.to_text().as_bytes())?;
            }
            let state = cfg.server_state(self.identity.server);
            let before = self.node.config.version;
            self.node.step(Instant::now(), Input::Config(cfg));
            if self.node.config.version != before {
                eprintln!("hyperdex daemon: configuration {} installed ({})", v, self.describe_config());
            }
            if let Some(c) = self.coord.as_mut() {
                Msg::ConfigWait { have: v }.encode(2, &mut c.wbuf);
            }
            // Declared failed while alive (a lost lease, a peer's report): serve again once
            // the coordinator has us back (our regions will be copied to us anew).
            if !matches!(state, Some(hyperdex_core::config::ServerState::Available))
                && self.reregistered < v
                && !crate::signals::stopping()
            {
                self.reregistered = v;
                eprintln!("hyperdex daemon: configuration {v} does not have this server available; registering again");
                if let Some(mut c) = self.coord.take() {
                    self.register(&mut c);
                    self.coord = Some(c);
                }
            }
        }
        if let Some(leader) = redirect {
            self.coordinator_redirected(&leader);
        }
        Ok(())
    }

    /// Handles what a connection sent, in chunks of [`CHUNK`] messages: after each full chunk
    /// the round ends (its writes go to the storage thread), so storage works on one chunk
    /// while the next is handled, and answers flow back while the client is still sending.
    /// `read_on`: the readiness event reported the peer's end of stream, an error or urgent
    /// data, so a short read does not end the fill (see [`Conn::fill_after`]); true where
    /// there was no event.
    fn conn_events(&mut self, t: usize, read_on: bool) -> io::Result<()> {
        let Some(c) = self.conns.get_mut(&t) else { return Ok(()) };
        c.fill_after(read_on);
        loop {
            let Some(c) = self.conns.get_mut(&t) else { return Ok(()) };
            if !c.peer && c.unsent() > OUT_LIMIT {
                // A client that does not read its answers gets no more of them for now.
                c.paused = true;
                self.touched.push(t);
                return Ok(());
            }
            if c.parked && self.node.reads_out() > READS_LIMIT / 2 {
                // Readable again, still parked: fill took what fits in its buffer.
                self.touched.push(t);
                return Ok(());
            }
            if !c.peer && self.node.reads_out() >= READS_LIMIT && c.next_type().is_some_and(|m| m != proto_msg::HELLO) {
                // Its requests (and writes: they are not told apart) stay in its buffer and
                // socket until the readers catch up. A daemon's HELLO is never held: peers
                // are never stopped.
                if !c.parked {
                    c.parked = true;
                    if self.read_blocked.is_empty() {
                        self.read_waits += 1;
                    }
                    self.read_blocked.push(t);
                }
                self.touched.push(t);
                return Ok(());
            }
            c.parked = false;
            let mut handled = 0;
            // One look at the clock per chunk, not per request.
            let now = Instant::now();
            while handled < CHUNK {
                let server = c.server;
                let (nonce, msg) = match c.next_frame(MAX_FRAME) {
                    // A client's request on a daemon's connection (one that said HELLO)
                    // closes it: daemons never send them, and such a connection is never
                    // paused or parked for the answers it does not read.
                    Ok(Some(f)) if server.is_some() && client_request(f.msg_type) => {
                        c.dead = true;
                        break;
                    }
                    // The frames of the request path are served from the read buffer.
                    Ok(Some(f)) if InPlace::serves(f.msg_type) => {
                        match self.in_place.serve(&mut self.node, now, t, server, &f) {
                            Ok(()) => {
                                handled += 1;
                                continue;
                            }
                            Err(_) => {
                                c.dead = true;
                                break;
                            }
                        }
                    }
                    Ok(Some(f)) => match Msg::decode(f.msg_type, f.body) {
                        Ok(m) => (f.nonce, m),
                        Err(_) => {
                            c.dead = true;
                            break;
                        }
                    },
                    Ok(None) => break,
                    Err(_) => break,
                };
                match msg {
                    Msg::Get { .. }
                    | Msg::Atomic { .. }
                    | Msg::SearchStart { .. }
                    | Msg::SearchMore { .. }
                    | Msg::SearchStop { .. } => {
                        self.node.step(now, Input::Message { conn: t, from: None, nonce, msg });
                        handled += 1;
                    }
                    Msg::Hello { cluster, server } => {
                        // A daemon introduces itself; one of another cluster is not a peer.
                        let ours = self.node.config.cluster;
                        if c.server.is_some() || (ours != 0 && cluster != ours) || server == 0 {
                            c.dead = true;
                            break;
                        }
                        c.server = Some(server);
                        c.peer = true;
                    }
                    Msg::ChainOp { .. }
                    | Msg::ChainAck { .. }
                    | Msg::ChainFail { .. }
                    | Msg::TransferData { .. }
                    | Msg::TransferAck { .. }
                    | Msg::TransferSummary { .. }
                    | Msg::TransferWant { .. } => {
                        // Only on a connection that said who it is (the node checks that it
                        // is a server of the current configuration).
                        let Some(from) = c.server else {
                            c.dead = true;
                            break;
                        };
                        self.node.step(now, Input::Message { conn: t, from: Some(from), nonce, msg });
                        handled += 1;
                    }
                    _ => {
                        c.dead = true;
                        break;
                    }
                }
            }
            self.touched.push(t);
            if handled < CHUNK {
                return Ok(());
            }
            self.finish_round()?;
        }
    }

    /// Opens (or reuses) the outbound connection to a daemon.
    fn peer_conn(&mut self, server: u64) -> Option<usize> {
        if let Some(t) = self.peers.get(&server) {
            return Some(*t);
        }
        let addr: SocketAddr = self.node.config.server_addr(server)?.parse().ok()?;
        let mut s = TcpStream::connect(addr).ok()?;
        let t = self.token();
        self.poll.registry().register(&mut s, Token(t), CONN_READ | Interest::WRITABLE).ok()?;
        let mut c = Conn::new(s);
        c.want_write = true;
        c.peer = true;
        c.server = Some(server);
        Msg::Hello { cluster: self.node.config.cluster, server: self.identity.server }.encode(0, &mut c.wbuf);
        self.conns.insert(t, c);
        self.peers.insert(server, t);
        self.peer_of.insert(t, server);
        Some(t)
    }

    /// A one-line summary of the installed configuration for the log.
    fn describe_config(&self) -> String {
        let cfg = &self.node.config;
        let me = self.identity.server;
        let (mut head, mut member, mut joining, mut offline) = (0, 0, 0, 0);
        for sp in &cfg.spaces {
            for ss in &sp.subspaces {
                for r in &ss.regions {
                    if r.replicas.first().map(|p| p.server) == Some(me) {
                        head += 1;
                    }
                    if r.replicas.iter().any(|p| p.server == me) {
                        member += 1;
                    }
                    if r.joining.iter().any(|p| p.server == me) {
                        joining += 1;
                    }
                    if !r.replicas.iter().any(|p| cfg.available(p.server)) {
                        offline += 1;
                    }
                }
            }
        }
        let avail = cfg.servers.iter().filter(|s| cfg.available(s.id)).count();
        format!(
            "{avail} of {} servers available; this server heads {head} regions, holds {member}, joins {joining}; {offline} regions offline",
            cfg.servers.len()
        )
    }

    /// Ends a round: carries out what the node's `Ready` asks (a raised version floor
    /// committed at once, the round's writes and storage tasks queued to the storage thread,
    /// the messages that may leave written to their connections), then reports how far
    /// storage got, which may release more messages; repeats until nothing is left to do.
    fn finish_round(&mut self) -> io::Result<()> {
        let now = Instant::now();
        loop {
            if let Some(e) = self.node.storage_error.take() {
                return Err(e);
            }
            if let Some(e) = self.committer.take_error() {
                return Err(e);
            }
            let committed = self.committer.done.load(Ordering::Acquire);
            self.node.step(now, Input::Committed(committed));
            let loaded = self.readers.take_done();
            if !loaded.is_empty() {
                self.node.step(now, Input::Loaded(loaded));
                if !self.read_blocked.is_empty() && self.node.reads_out() <= READS_LIMIT / 2 {
                    // Serve the waiting clients again (the main loop calls conn_events for
                    // connections with `more`).
                    for t in self.read_blocked.drain(..) {
                        if let Some(c) = self.conns.get_mut(&t) {
                            c.parked = false;
                            c.more = true;
                        }
                    }
                }
            }
            let ready = self.node.ready();
            if ready.is_empty() && self.touched.is_empty() {
                return Ok(());
            }
            let send = self.store(ready)?;
            let sent = self.send_all(send);
            self.node.recycle(sent);
            self.flush_touched();
        }
    }

    /// The storage part of a `Ready`: the version floor committed at once, the round and
    /// the tasks queued to the storage thread in order. Returns the messages to send.
    fn store(&mut self, ready: node::Ready) -> io::Result<Vec<Outgoing>> {
        for line in &ready.log {
            eprintln!("hyperdex daemon: {line}");
        }
        if let Some(w) = ready.floor {
            self.node.store.commit(vec![w])?;
        }
        for job in ready.jobs {
            self.committer.send(job)?;
        }
        if !ready.reads.is_empty() {
            self.readers.send(ready.reads)?;
        }
        for t in ready.close {
            if let Some(c) = self.conns.get_mut(&t) {
                c.dead = true;
                self.touched.push(t);
            }
        }
        Ok(ready.send)
    }

    /// Writes messages to their connections (opening peer connections as needed); servers
    /// that cannot be reached are reported to the node.
    fn send_all(&mut self, mut msgs: Vec<Outgoing>) -> Vec<Outgoing> {
        let mut lost = Vec::new();
        for (dest, nonce, msg) in msgs.drain(..) {
            let t = match dest {
                Dest::Coordinator => {
                    // Lost with the link if there is none: what matters is sent again.
                    if let Some(c) = self.coord.as_mut() {
                        msg.encode(nonce, &mut c.wbuf);
                        c.flush();
                    }
                    continue;
                }
                Dest::Conn(t) => t,
                Dest::Server(s) => match self.peer_conn(s) {
                    Some(t) => t,
                    None => {
                        lost.push(s);
                        continue;
                    }
                },
            };
            if let Some(c) = self.conns.get_mut(&t) {
                msg.encode(nonce, &mut c.wbuf);
                // Answers come in runs to one connection: note it once per run.
                if self.touched.last() != Some(&t) {
                    self.touched.push(t);
                }
            }
        }
        lost.sort_unstable();
        lost.dedup();
        for s in lost {
            self.node.step(Instant::now(), Input::Unreachable(s));
        }
        msgs
    }

    /// Flushes the connections written to, closes the dead ones (telling the node), and
    /// resumes clients that caught up with their answers.
    fn flush_touched(&mut self) {
        let mut dead = Vec::new();
        // By index: the list keeps its room for the next flush, and nothing here adds to it.
        for i in 0..self.touched.len() {
            let t = self.touched[i];
            let Some(c) = self.conns.get_mut(&t) else { continue };
            if !c.dead && c.has_output() {
                c.flush();
            }
            if c.dead {
                dead.push(t);
                continue;
            }
            if c.paused && c.unsent() <= OUT_LIMIT / 2 {
                // It caught up: serve what it sent meanwhile (the main loop calls
                // conn_events for connections with `more`).
                c.paused = false;
                c.more = true;
            }
            let want = c.has_output();
            if want != c.want_write {
                c.want_write = want;
                let i = if want { CONN_READ | Interest::WRITABLE } else { CONN_READ };
                let _ = self.poll.registry().reregister(&mut c.stream, Token(t), i);
            }
        }
        self.touched.clear();
        dead.sort_unstable();
        dead.dedup();
        for t in dead {
            if let Some(mut c) = self.conns.remove(&t) {
                let _ = self.poll.registry().deregister(&mut c.stream);
            }
            let peer = self.peer_of.remove(&t);
            if let Some(s) = peer {
                self.peers.remove(&s);
            }
            self.node.step(Instant::now(), Input::Closed { conn: t, peer });
        }
    }
}

/// The wall clock in nanoseconds since 1970 (the node's versions start above it).
fn wall_clock_nanos() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos() as u64).unwrap_or(1)
}

/// Runs a daemon until SIGINT/SIGTERM/SIGHUP.
pub fn run(opts: DaemonOptions) -> io::Result<()> {
    keep_freed_memory();
    std::fs::create_dir_all(&opts.data)?;
    let coord_addrs = resolve_all(&opts.coordinator_host, opts.coordinator_port)?;
    let coord_addr = coord_addrs[0];
    let listen_host = opts.listen_host.clone().unwrap_or_else(|| detect_listen_ip(coord_addr));
    let listen_addr = resolve(&listen_host, opts.listen_port)?;
    let identity = load_identity(&opts.data, &listen_addr.to_string(), &coord_addr.to_string())?;
    let store = FjallStore::open(&opts.data, opts.sync)?;
    let poll = Poll::new()?;
    let waker = Arc::new(Waker::new(poll.registry(), WAKER)?);
    let readers = Readers::start(&store, &waker, opts.threads)?;
    let committer = Committer::start(store.clone(), waker)?;
    let mut listener = TcpListener::bind(listen_addr)?;
    poll.registry().register(&mut listener, LISTENER, Interest::READABLE)?;
    eprintln!(
        "hyperdex daemon: server {} listening on {} (data in {}), coordinator {}",
        identity.server,
        listen_addr,
        opts.data.display(),
        coord_addr
    );
    crate::signals::install();
    crate::signals::ready(Ok(()));
    let mut sh = Shell {
        poll,
        node: {
            let mut node = Node::new(identity.server, store, opts.cache_bytes, Instant::now(), wall_clock_nanos());
            node.read_elsewhere(true);
            node
        },
        conns: FastMap::default(),
        peers: FastMap::default(),
        peer_of: FastMap::default(),
        next_token: 3,
        coords: CoordinatorSet::new(coord_addrs),
        coord_addr,
        coord: None,
        coord_retry: Instant::now(),
        coord_heard: Instant::now(),
        refused_by: Default::default(),
        identity,
        data: opts.data.clone(),
        touched: Vec::new(),
        read_blocked: Vec::new(),
        read_waits: 0,
        committer,
        readers,
        reregistered: 0,
        shutdown_acked: false,
        registered: false,
        in_place: InPlace::default(),
    };
    sh.connect_coordinator();
    let mut events = Events::with_capacity(1024);
    let mut next_tick = Instant::now();
    // A clean stop: tell the coordinator (so the chains are repaired at once, and the
    // regions this server is the last replica of wait for it), keep serving until it
    // answers or a deadline passes, then stop.
    let mut stop_deadline: Option<Instant> = None;
    loop {
        if crate::signals::stopping() && stop_deadline.is_none() {
            stop_deadline = Some(Instant::now() + Duration::from_secs(2));
            // Nothing more is answered from here: the coordinator repairs the chains at once.
            sh.node.step(Instant::now(), Input::Stopping);
            if let Some(c) = sh.coord.as_mut() {
                Msg::Shutdown { server: sh.identity.server }.encode(3, &mut c.wbuf);
                c.flush();
            }
        }
        if let Some(d) = stop_deadline {
            if sh.shutdown_acked || sh.coord.is_none() || Instant::now() >= d {
                break;
            }
        }
        // Counting and sorted searches scan between events, a slice per turn.
        let scanning = sh.node.search_work();
        if scanning || sh.node.has_output() {
            // A scan that just ended left its answer to send: send it without waiting.
            sh.finish_round()?;
        }
        // After that round: it may have resumed a client that had stopped reading.
        let again: Vec<usize> = sh.conns.iter().filter(|(_, c)| c.wants_turn()).map(|(t, _)| *t).collect();
        let idle = again.is_empty() && !scanning;
        let wait = if idle { Duration::from_millis(50) } else { Duration::ZERO };
        for t in again {
            sh.conn_events(t, true)?;
        }
        match sh.poll.poll(&mut events, Some(wait)) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
        for ev in events.iter() {
            match ev.token() {
                LISTENER => loop {
                    match listener.accept() {
                        Ok((mut s, _)) => {
                            let t = sh.token();
                            if sh.poll.registry().register(&mut s, Token(t), CONN_READ).is_ok() {
                                sh.conns.insert(t, Conn::new(s));
                            }
                        }
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                        Err(_) => break,
                    }
                },
                COORD => sh.coord_events()?,
                WAKER => {}
                Token(t) => {
                    let read_on = ev.is_read_closed() || ev.is_error() || ev.is_priority();
                    if ev.is_readable() || read_on {
                        sh.conn_events(t, read_on)?;
                    }
                    if ev.is_writable() {
                        sh.touched.push(t);
                    }
                }
            }
        }
        // The coordinator link: flush, detect loss, reconnect.
        let mut lost = false;
        if let Some(c) = sh.coord.as_mut() {
            if !c.dead {
                c.flush();
            }
            if c.dead {
                lost = true;
            } else {
                let want = c.has_output();
                if want != c.want_write {
                    c.want_write = want;
                    let i = if want { Interest::READABLE | Interest::WRITABLE } else { Interest::READABLE };
                    let _ = sh.poll.registry().reregister(&mut c.stream, COORD, i);
                }
            }
        }
        if sh.coord.is_some() && sh.coord_heard.elapsed() > COORD_SILENCE {
            // Heartbeats are answered every 100 ms: a coordinator this quiet (or a connect
            // that never completed) is on a host that is gone, or no longer leads.
            eprintln!("hyperdex daemon: coordinator {} silent for {} ms", sh.coord_addr, COORD_SILENCE.as_millis());
            lost = true;
        }
        if lost {
            sh.coordinator_lost();
        }
        if sh.coord.is_none() && Instant::now() >= sh.coord_retry {
            sh.connect_coordinator();
        }
        let now = Instant::now();
        if now >= next_tick {
            sh.node.step(now, Input::Tick);
            next_tick = now + Duration::from_millis(100);
        }
        sh.finish_round()?;
    }
    // What is left (answers no client will read now) goes to storage, then storage stops.
    let ready = sh.node.ready();
    sh.store(ready)?;
    sh.readers.finish();
    sh.committer.finish()?;
    if sh.read_waits > 0 {
        eprintln!(
            "hyperdex daemon: clients waited for storage reads {} times ({READS_LIMIT} reads out; a larger --cache-mb keeps more objects in memory)",
            sh.read_waits
        );
    }
    eprintln!("hyperdex daemon: stopping");
    Ok(())
}

/// Asks glibc's allocator to keep freed memory instead of returning it to the system as
/// soon as the top of a heap is free. The reader threads allocate and free a block buffer
/// (4 KiB and more) per read, each in its own arena: with the default threshold each
/// arena's heap shrank and grew again all the time, and a tenth of their time went to the
/// kernel zeroing the pages handed back.
fn keep_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets allocator parameters; it is called before other threads start.
    unsafe {
        libc::mallopt(libc::M_TRIM_THRESHOLD, 64 << 20);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identity_round_trip() {
        let id =
            Identity { server: 5, address: "127.0.0.1:2012".into(), coordinator: "127.0.0.1:1982".into(), cluster: 0 };
        assert_eq!(Identity::parse(&id.to_text()), Some(id));
        assert_eq!(Identity::parse("garbage"), None);
    }

    #[test]
    fn a_restart_may_name_any_coordinator_but_not_another_address() {
        let dir = std::env::temp_dir().join(format!("hyperdex-identity-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let _ = std::fs::remove_file(dir.join(ID_FILE));
        let first = load_identity(&dir, "127.0.0.1:2012", "127.0.0.1:1982").unwrap();
        // An identity file written before coordinator groups existed reads the same way.
        let mut old = first.to_text();
        old.push_str("cluster=42\n");
        std::fs::write(dir.join(ID_FILE), old).unwrap();
        let again = load_identity(&dir, "127.0.0.1:2012", "127.0.0.1:1983").unwrap();
        assert_eq!((again.server, again.cluster), (first.server, 42));
        assert!(load_identity(&dir, "127.0.0.1:2013", "127.0.0.1:1982").is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
