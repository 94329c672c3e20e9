//! The coordinator: owns the cluster configuration (servers, spaces, regions and their
//! chains) under a version that only grows, persists it in its data directory, and answers
//! configuration waits, space changes and daemon registrations.
//!
//! [`CoordState`] is the pure state machine (requests in, answers and a new configuration
//! out); [`run`] is the mio shell that moves bytes and writes the state file.

use crate::net::Conn;
use hyperdex_core::config::{Configuration, CoordinatorAddr, Region, Replica, Server, ServerState, Space, Subspace};
use hyperdex_core::hashing::partition;
use hyperdex_core::proto::Msg;
use hyperdex_core::space::parse_space;
use hyperdex_core::wire::{DResult, DecodeError, Reader, Writer, MAX_FRAME};
use hyperdex_core::CoordCode;
use mio::net::TcpListener;
use mio::{Events, Interest, Poll, Token};
use std::collections::HashMap;
use std::io;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// A registered daemon.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServerRec {
    pub id: u64,
    pub addr: String,
    pub state: ServerState,
}

/// The coordinator's persistent state: the cluster's configuration and id counters.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CoordState {
    pub cluster: u64,
    pub version: u64,
    /// Source of every space, subspace, region and virtual-server id.
    pub next_id: u64,
    pub servers: Vec<ServerRec>,
    pub spaces: Vec<Space>,
    /// The coordinator group's members (raft id and address), in id order.
    pub coordinators: Vec<CoordinatorAddr>,
}

const STATE_MAGIC: &[u8; 8] = b"HDXCRD02";

/// A small deterministic generator (xorshift64*) for replica placement.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
}

impl CoordState {
    /// A brand-new cluster with the given id.
    pub fn new(cluster: u64) -> CoordState {
        CoordState {
            cluster,
            version: 1,
            next_id: 1,
            servers: Vec::new(),
            spaces: Vec::new(),
            coordinators: Vec::new(),
        }
    }

    fn id(&mut self) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        id
    }

    /// The configuration daemons and clients see.
    pub fn config(&self) -> Configuration {
        Configuration {
            cluster: self.cluster,
            version: self.version,
            servers: self.servers.iter().map(|s| Server { id: s.id, addr: s.addr.clone(), state: s.state }).collect(),
            spaces: self.spaces.clone(),
            coordinators: self.coordinators.clone(),
        }
    }

    fn available(&self) -> Vec<u64> {
        self.servers.iter().filter(|s| s.state == ServerState::Available).map(|s| s.id).collect()
    }

    fn is_available(&self, id: u64) -> bool {
        self.servers.iter().any(|s| s.id == id && s.state == ServerState::Available)
    }

    /// A daemon of this cluster (re-)registers; see [`CoordState::register_in`].
    pub fn register(&mut self, id: u64, addr: &str) -> CoordCode {
        self.register_in(id, addr, 0, false)
    }

    /// A daemon (re-)registers: `cluster` is the cluster its data belongs to (0: new). A
    /// known id may come back (with a new address) and is AVAILABLE again; a new id may not
    /// take the address of another registered server. A daemon of another cluster is
    /// refused (MALFORMED). A `fresh` process of a server still AVAILABLE (it restarted
    /// before its failure was noticed) lost the writes that were passing through it: it
    /// first leaves its chains as a failed server would, and gets its regions back by
    /// transfer (a region it is the last replica of keeps it: what it stored is all there is).
    pub fn register_in(&mut self, id: u64, addr: &str, cluster: u64, fresh: bool) -> CoordCode {
        if id == 0 || addr.parse::<SocketAddr>().is_err() || (cluster != 0 && cluster != self.cluster) {
            return CoordCode::Malformed;
        }
        if self.servers.iter().any(|s| s.id != id && s.addr == addr) {
            return CoordCode::Duplicate;
        }
        if fresh {
            self.remove_server(id, ServerState::NotAvailable);
        }
        match self.servers.iter_mut().find(|s| s.id == id) {
            Some(s) => {
                s.addr = addr.to_string();
                s.state = ServerState::Available;
            }
            None => self.servers.push(ServerRec { id, addr: addr.to_string(), state: ServerState::Available }),
        }
        self.fill_regions();
        self.version += 1;
        CoordCode::Success
    }

    /// Server `id` failed (NOT_AVAILABLE) or stopped (SHUTDOWN): it leaves every chain where
    /// another replica remains (the survivors keep their order, so the next replica of a
    /// chain it headed becomes point leader) and every transfer; a region where it was the
    /// last replica keeps it, and is offline until it returns. Gaps are filled (transfers).
    /// False when nothing changed (unknown or already not available).
    pub fn remove_server(&mut self, id: u64, state: ServerState) -> bool {
        let Some(s) = self.servers.iter_mut().find(|s| s.id == id) else { return false };
        if s.state != ServerState::Available || state == ServerState::Available {
            return false;
        }
        s.state = state;
        for sp in &mut self.spaces {
            for ss in &mut sp.subspaces {
                for r in &mut ss.regions {
                    r.joining.retain(|p| p.server != id);
                    // The copy's source is gone: a joining server starts over, under a new
                    // id, from the next tail. (It may hold writes its failed source applied
                    // and never committed upstream; a source restarted on its data lacks
                    // them.)
                    if r.replicas.last().is_some_and(|p| p.server == id) {
                        r.joining.clear();
                    }
                    if r.replicas.iter().any(|p| p.server == id) && r.replicas.len() > 1 {
                        r.replicas.retain(|p| p.server != id);
                    }
                }
            }
        }
        self.fill_regions();
        self.version += 1;
        true
    }

    /// The tail `source` of `region` finished copying it to the joining replica `vid` on
    /// `target`: the target becomes the chain's new tail.
    pub fn transfer_done(&mut self, source: u64, region: u64, target: u64, vid: u64) -> CoordCode {
        let avail = self.is_available(target);
        let Some(r) = self
            .spaces
            .iter_mut()
            .flat_map(|sp| sp.subspaces.iter_mut())
            .flat_map(|ss| ss.regions.iter_mut())
            .find(|r| r.id == region)
        else {
            return CoordCode::NotFound;
        };
        if r.replicas.last().map(|p| p.server) != Some(source)
            || r.joining.first() != Some(&Replica { server: target, vid })
            || !avail
        {
            return CoordCode::NotFound;
        }
        let j = r.joining.remove(0);
        r.replicas.push(j);
        self.fill_regions();
        self.version += 1;
        CoordCode::Success
    }

    /// Gives replicas to regions short of f+1. A region that never had one (a new space, or
    /// one added before any daemon) gets them directly: there is nothing to copy. A region
    /// whose replicas are all available gets one joining server at a time, which its tail
    /// copies the region to (state transfer); it joins the chain once caught up.
    fn fill_regions(&mut self) {
        let avail = self.available();
        let mut rng = Rng(self.cluster ^ self.version.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
        let mut next_id = self.next_id;
        let servers = &self.servers;
        let is_avail = |id: u64| servers.iter().any(|s| s.id == id && s.state == ServerState::Available);
        for sp in &mut self.spaces {
            let want = sp.fault_tolerance as usize + 1;
            for ss in &mut sp.subspaces {
                for r in &mut ss.regions {
                    let fresh = r.replicas.is_empty();
                    if !fresh && (!r.joining.is_empty() || !r.replicas.iter().all(|p| is_avail(p.server))) {
                        continue;
                    }
                    while r.replicas.len() + r.joining.len() < want {
                        let candidates: Vec<u64> = avail
                            .iter()
                            .copied()
                            .filter(|s| r.replicas.iter().chain(&r.joining).all(|p| p.server != *s))
                            .collect();
                        if candidates.is_empty() {
                            break;
                        }
                        let pick = candidates[(rng.next() % candidates.len() as u64) as usize];
                        let rep = Replica { server: pick, vid: next_id };
                        next_id += 1;
                        if fresh {
                            r.replicas.push(rep);
                        } else {
                            r.joining.push(rep);
                            break;
                        }
                    }
                }
            }
        }
        self.next_id = next_id;
    }

    pub fn add_space(&mut self, description: &str) -> CoordCode {
        let desc = match parse_space(description) {
            Ok(d) => d,
            Err(_) => return CoordCode::Malformed,
        };
        if self.spaces.iter().any(|s| s.name == desc.name) {
            return CoordCode::Duplicate;
        }
        let space_id = self.id();
        let mut dims: Vec<Vec<usize>> = vec![vec![0]];
        dims.extend(desc.subspaces.iter().cloned());
        let mut subspaces = Vec::with_capacity(dims.len());
        for attrs in dims {
            let sid = self.id();
            let boxes = partition(attrs.len(), desc.partitions);
            let mut regions = Vec::with_capacity(boxes.len());
            for (lower, upper) in boxes {
                let rid = self.id();
                regions.push(Region { id: rid, lower, upper, replicas: Vec::new(), joining: Vec::new() });
            }
            subspaces.push(Subspace { id: sid, attrs, regions });
        }
        self.spaces.push(Space {
            id: space_id,
            name: desc.name,
            fault_tolerance: desc.fault_tolerance,
            attrs: desc.attrs,
            subspaces,
        });
        self.fill_regions();
        self.version += 1;
        CoordCode::Success
    }

    pub fn rm_space(&mut self, name: &str) -> CoordCode {
        match self.spaces.iter().position(|s| s.name == name) {
            Some(i) => {
                self.spaces.remove(i);
                self.version += 1;
                CoordCode::Success
            }
            None => CoordCode::NotFound,
        }
    }

    pub fn encode(&self) -> Vec<u8> {
        let mut out = STATE_MAGIC.to_vec();
        let mut cfg = Vec::new();
        self.config().encode(&mut cfg);
        let mut w = Writer::new(&mut out);
        w.u64(self.next_id);
        w.bytes(&cfg);
        out
    }

    pub fn decode(buf: &[u8]) -> DResult<CoordState> {
        if buf.len() < 8 || &buf[..8] != STATE_MAGIC {
            return Err(DecodeError);
        }
        let mut r = Reader::new(&buf[8..]);
        let next_id = r.u64()?;
        let cfg = Configuration::decode(r.bytes()?)?;
        r.finish()?;
        // Counters this large cannot come from a real cluster (2^63 increments); refusing
        // them keeps every later `+ 1` from overflowing.
        if next_id >= 1 << 63 || cfg.version >= 1 << 63 {
            return Err(DecodeError);
        }
        let servers = cfg.servers.into_iter().map(|s| ServerRec { id: s.id, addr: s.addr, state: s.state }).collect();
        Ok(CoordState {
            cluster: cfg.cluster,
            version: cfg.version,
            next_id,
            servers,
            spaces: cfg.spaces,
            coordinators: cfg.coordinators,
        })
    }
}

/// What the coordinator core is fed.
#[derive(Debug)]
pub enum CoordInput {
    /// A message that arrived on connection `conn`.
    Message { conn: usize, nonce: u64, msg: Msg },
    /// Connection `conn` closed.
    Closed { conn: usize },
    /// Time passed: expire leases.
    Tick,
}

/// What the shell must do after a step, in order: make `persist` durable (the state file),
/// then send `send` in order, then close `close`. `log` lines go to the log.
#[derive(Debug, Default)]
pub struct CoordReady {
    pub persist: Option<Vec<u8>>,
    pub send: Vec<(usize, u64, Msg)>,
    pub close: Vec<usize>,
    pub log: Vec<String>,
}

/// The coordinator's logic without sockets or a clock: the configuration state machine,
/// daemon leases (failure detection), and configuration waits.
pub struct Coordinator {
    pub state: CoordState,
    /// How long a daemon may stay silent before it is declared failed.
    pub lease: Duration,
    /// Per available server, when its lease runs out (it is then declared failed).
    deadline: HashMap<u64, Instant>,
    /// Per server, until when it may serve reads: the read lease granted with the last
    /// acknowledged heartbeat. A server is removed from its chains only after this (else it
    /// could answer a read the new chain has already overwritten).
    granted: HashMap<u64, Instant>,
    /// Servers a peer reported (server → the reporter): their heartbeats renew nothing, and
    /// they are removed once their read lease has run out.
    suspects: HashMap<u64, u64>,
    /// Per server, the configuration that last made it available: a heartbeat earns a read
    /// lease only from a daemon that has that configuration (one that registered again
    /// must not serve from the configuration it had before it was removed).
    avail_since: HashMap<u64, u64>,
    /// The server that registered on each connection.
    conn_server: HashMap<usize, u64>,
    /// (connection, nonce, version the waiter has): one standing wait per connection.
    waiters: Vec<(usize, u64, u64)>,
    config_bytes: Vec<u8>,
    /// The version last handed out by `ready`.
    published: u64,
    replies: Vec<(usize, u64, Msg)>,
    /// Connections sent a configuration in this step (they go first).
    configs: Vec<(usize, u64, Msg)>,
    close: Vec<usize>,
    log: Vec<String>,
}

/// How long a daemon whose coordinator connection closed has to come back before it is
/// declared failed (a fraction of the lease: a killed daemon is noticed fast).
fn close_grace(lease: Duration) -> Duration {
    (lease / 4).max(Duration::from_millis(20))
}

/// The read lease a heartbeat earns: half the failure-detection lease, so a daemon that
/// heartbeats every 100 ms keeps it, and a failed one is removed at most this long after
/// its last heartbeat arrived (a report makes removal no earlier than that).
pub fn read_lease(lease: Duration) -> Duration {
    lease / 2
}

impl Coordinator {
    /// A core over `state`. Every available server gets a fresh lease from `now`.
    pub fn new(state: CoordState, lease: Duration, now: Instant) -> Coordinator {
        let mut config_bytes = Vec::new();
        state.config().encode(&mut config_bytes);
        let deadline = state.available().into_iter().map(|s| (s, now + lease)).collect();
        // A coordinator that restarted does not know what its predecessor granted: every
        // available server may hold a read lease until one full grant from now.
        let granted = state.available().into_iter().map(|s| (s, now + read_lease(lease))).collect();
        let avail_since = state.available().into_iter().map(|s| (s, state.version)).collect();
        Coordinator {
            published: state.version,
            state,
            lease,
            deadline,
            granted,
            suspects: HashMap::new(),
            avail_since,
            conn_server: HashMap::new(),
            waiters: Vec::new(),
            config_bytes,
            replies: Vec::new(),
            configs: Vec::new(),
            close: Vec::new(),
            log: Vec::new(),
        }
    }

    /// Feeds one input at time `now`; effects come out of [`Coordinator::ready`].
    pub fn step(&mut self, now: Instant, input: CoordInput) {
        match input {
            CoordInput::Message { conn, nonce, msg } => self.handle(now, conn, nonce, msg),
            CoordInput::Closed { conn } => {
                self.waiters.retain(|w| w.0 != conn);
                if let Some(s) = self.conn_server.remove(&conn) {
                    // Unless it comes back at once (a new connection), it is gone.
                    let leased = self.granted.get(&s).copied().unwrap_or(now);
                    if let Some(d) = self.deadline.get_mut(&s) {
                        *d = (*d).min(now + close_grace(self.lease)).max(leased);
                    }
                }
            }
            CoordInput::Tick => {
                let mut late: Vec<u64> = self.deadline.iter().filter(|(_, d)| **d <= now).map(|(s, _)| *s).collect();
                // In a fixed order: the same inputs make the same configurations.
                late.sort_unstable();
                for s in late {
                    self.deadline.remove(&s);
                    self.granted.remove(&s);
                    let why = if let Some(by) = self.suspects.remove(&s) {
                        format!("server {by} lost its link to it")
                    } else if self.conn_server.values().any(|v| *v == s) {
                        format!("silent for its lease of {} ms", self.lease.as_millis())
                    } else {
                        "its connection closed and it did not come back".to_string()
                    };
                    if self.state.remove_server(s, ServerState::NotAvailable) {
                        self.log.push(format!("server {s} failed ({why}); configuration {}", self.state.version));
                    }
                }
            }
        }
        if self.state.version != self.published {
            self.config_bytes.clear();
            self.state.config().encode(&mut self.config_bytes);
        }
    }

    fn handle(&mut self, now: Instant, conn: usize, nonce: u64, msg: Msg) {
        let from = self.conn_server.get(&conn).copied();
        let reply = match msg {
            Msg::ConfigWait { have } => {
                if have < self.state.version {
                    self.configs.push((conn, nonce, Msg::Config { config: self.config_bytes.clone() }));
                } else {
                    // A newer wait replaces the connection's old one (no unbounded list).
                    self.waiters.retain(|w| w.0 != conn);
                    self.waiters.push((conn, nonce, have));
                }
                None
            }
            Msg::AddSpace { description, .. } => Some(Msg::CoordReply { code: self.state.add_space(&description) }),
            Msg::RmSpace { name, .. } => Some(Msg::CoordReply { code: self.state.rm_space(&name) }),
            Msg::Register { server, addr, cluster, fresh } => {
                let code = match from {
                    // One server per connection.
                    Some(s) if s != server => CoordCode::Malformed,
                    _ => self.state.register_in(server, &addr, cluster, fresh),
                };
                if code == CoordCode::Success {
                    self.suspects.remove(&server);
                    self.avail_since.insert(server, self.state.version);
                    if fresh {
                        // A new process: the one before it serves nothing any more.
                        self.granted.remove(&server);
                    }
                    // Another connection that claimed this server is no longer it.
                    self.conn_server.retain(|_, s| *s != server);
                    self.conn_server.insert(conn, server);
                    self.deadline.insert(server, now + self.lease);
                    self.log
                        .push(format!("server {server} registered at {addr}; configuration {}", self.state.version));
                } else if cluster != 0 && cluster != self.state.cluster {
                    self.log.push(format!(
                        "refused server {server} at {addr}: its data belongs to cluster {cluster}, not {}",
                        self.state.cluster
                    ));
                }
                Some(Msg::CoordReply { code })
            }
            Msg::Heartbeat { server, version } => {
                // Only the connection the server registered on renews its leases; a server
                // declared failed must register again, and a reported one gets nothing more.
                if from == Some(server) && self.state.is_available(server) && !self.suspects.contains_key(&server) {
                    self.deadline.insert(server, now + self.lease);
                    // A read lease only once it runs the configuration that made it available.
                    if version >= self.avail_since.get(&server).copied().unwrap_or(0) {
                        let grant = read_lease(self.lease);
                        self.granted.insert(server, now + grant);
                        Some(Msg::HeartbeatAck { lease_ms: grant.as_millis() as u64 })
                    } else {
                        None
                    }
                } else {
                    None
                }
            }
            Msg::Report { server, suspect, version } => {
                if from == Some(server)
                    && server != suspect
                    && version >= self.state.version
                    && self.state.is_available(server)
                    && self.state.is_available(suspect)
                    && !self.suspects.contains_key(&suspect)
                {
                    // Removed once the read lease it may hold has run out (at once if none).
                    let leased = self.granted.get(&suspect).copied().unwrap_or(now);
                    if leased <= now {
                        if self.state.remove_server(suspect, ServerState::NotAvailable) {
                            self.deadline.remove(&suspect);
                            self.granted.remove(&suspect);
                            self.log.push(format!(
                                "server {suspect} failed (server {server} lost its link to it); configuration {}",
                                self.state.version
                            ));
                        }
                    } else {
                        self.suspects.insert(suspect, server);
                        self.deadline.insert(suspect, leased);
                    }
                }
                None
            }
            Msg::Shutdown { server } => {
                if from != Some(server) {
                    Some(Msg::CoordReply { code: CoordCode::Malformed })
                } else {
                    if self.state.remove_server(server, ServerState::Shutdown) {
                        self.log.push(format!("server {server} shut down; configuration {}", self.state.version));
                    }
                    self.deadline.remove(&server);
                    self.granted.remove(&server);
                    self.suspects.remove(&server);
                    Some(Msg::CoordReply { code: CoordCode::Success })
                }
            }
            Msg::TransferDone { server, region, target, vid } => {
                if from == Some(server) && self.state.transfer_done(server, region, target, vid) == CoordCode::Success {
                    self.log.push(format!(
                        "server {target} joined region {region} (copied from server {server}); configuration {}",
                        self.state.version
                    ));
                }
                None
            }
            // Anything else is not for a coordinator: drop that peer.
            _ => {
                self.close.push(conn);
                None
            }
        };
        if let Some(m) = reply {
            self.replies.push((conn, nonce, m));
        }
    }

    /// The effects of the steps since the last call. A new configuration is persisted
    /// before anything leaves, and reaches every waiter before the answers of this pass (so
    /// once add_space returns, every follower already has the news in its socket).
    pub fn ready(&mut self) -> CoordReady {
        let mut out = CoordReady::default();
        if self.state.version != self.published {
            self.published = self.state.version;
            out.persist = Some(self.state.encode());
            let v = self.state.version;
            let bytes = &self.config_bytes;
            let mut notify = Vec::new();
            self.waiters.retain(|(c, nonce, have)| {
                if *have >= v {
                    return true;
                }
                notify.push((*c, *nonce, Msg::Config { config: bytes.clone() }));
                false
            });
            out.send = notify;
            // A configuration answered earlier in this pass may be stale now.
            for (_, _, m) in &mut self.configs {
                *m = Msg::Config { config: bytes.clone() };
            }
        }
        out.send.append(&mut self.configs);
        out.send.append(&mut self.replies);
        out.close = std::mem::take(&mut self.close);
        for c in &out.close {
            self.waiters.retain(|w| w.0 != *c);
            self.conn_server.remove(c);
        }
        out.log = std::mem::take(&mut self.log);
        out
    }
}

/// Writes `data` to `path` atomically and durably (temp file, fsync, rename, fsync dir).
pub fn write_atomic(path: &Path, data: &[u8]) -> io::Result<()> {
    use std::io::Write;
    let tmp = path.with_extension("tmp");
    {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(data)?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, path)?;
    if let Some(dir) = path.parent() {
        if let Ok(d) = std::fs::File::open(dir) {
            let _ = d.sync_all();
        }
    }
    Ok(())
}

fn random_u64() -> u64 {
    let mut b = [0u8; 8];
    if let Ok(mut f) = std::fs::File::open("/dev/urandom") {
        use std::io::Read;
        if f.read_exact(&mut b).is_ok() {
            return u64::from_le_bytes(b) | 1;
        }
    }
    let t = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    (t.as_nanos() as u64 ^ (std::process::id() as u64) << 32) | 1
}

/// Loads the state from `dir`, or starts a new cluster there.
pub fn load_or_init(dir: &Path) -> io::Result<(CoordState, PathBuf)> {
    let path = dir.join("hyperdex-coordinator.state");
    match std::fs::read(&path) {
        Ok(buf) => {
            let st = CoordState::decode(&buf)
                .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, format!("{} is corrupt", path.display())))?;
            Ok((st, path))
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            let st = CoordState::new(random_u64());
            write_atomic(&path, &st.encode())?;
            Ok((st, path))
        }
        Err(e) => Err(e),
    }
}

const LISTENER: Token = Token(0);

/// Runs the coordinator until a SIGINT/SIGTERM: the mio shell around [`Coordinator`].
pub fn run(listen: SocketAddr, dir: &Path, lease: Duration) -> io::Result<()> {
    let (state, path) = load_or_init(dir)?;
    let mut poll = Poll::new()?;
    let mut listener = TcpListener::bind(listen)?;
    poll.registry().register(&mut listener, LISTENER, Interest::READABLE)?;
    eprintln!(
        "hyperdex coordinator: cluster {} version {} listening on {} (state in {}, daemon lease {} ms)",
        state.cluster,
        state.version,
        listener.local_addr()?,
        path.display(),
        lease.as_millis()
    );
    crate::signals::install();
    crate::signals::ready(Ok(()));
    let mut core = Coordinator::new(state, lease, Instant::now());
    let mut conns: HashMap<usize, Conn> = HashMap::new();
    let mut next_token = 1usize;
    let mut events = Events::with_capacity(256);
    let tick = (lease / 10).clamp(Duration::from_millis(5), Duration::from_millis(100));
    while !crate::signals::stopping() {
        match poll.poll(&mut events, Some(tick)) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
        let now = Instant::now();
        let mut touched: Vec<usize> = Vec::new();
        for ev in events.iter() {
            if ev.token() == LISTENER {
                loop {
                    match listener.accept() {
                        Ok((mut s, _)) => {
                            let t = next_token;
                            next_token += 1;
                            if poll.registry().register(&mut s, Token(t), Interest::READABLE).is_ok() {
                                conns.insert(t, Conn::new(s));
                            }
                        }
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                        Err(_) => break,
                    }
                }
                continue;
            }
            let t = ev.token().0;
            let Some(c) = conns.get_mut(&t) else { continue };
            if ev.is_readable() {
                c.fill();
                loop {
                    let (ty, nonce, body) = match c.next_owned(MAX_FRAME) {
                        Ok(Some(f)) => f,
                        Ok(None) => break,
                        Err(_) => break,
                    };
                    match Msg::decode(ty, &body) {
                        Ok(msg) => core.step(now, CoordInput::Message { conn: t, nonce, msg }),
                        Err(_) => {
                            c.dead = true;
                            break;
                        }
                    }
                }
            }
            touched.push(t);
        }
        core.step(now, CoordInput::Tick);
        let ready = core.ready();
        for line in &ready.log {
            eprintln!("hyperdex coordinator: {line}");
        }
        if let Some(bytes) = &ready.persist {
            // Durable before anyone hears of the new version.
            write_atomic(&path, bytes)?;
        }
        // Connections in the order their first message was queued: configurations first.
        let mut order: Vec<usize> = Vec::new();
        for (t, nonce, m) in ready.send {
            if let Some(c) = conns.get_mut(&t) {
                m.encode(nonce, &mut c.wbuf);
                order.push(t);
            }
        }
        for t in ready.close {
            if let Some(c) = conns.get_mut(&t) {
                c.dead = true;
            }
            order.push(t);
        }
        order.extend(touched);
        let mut seen = std::collections::HashSet::new();
        order.retain(|t| seen.insert(*t));
        for t in order {
            let Some(c) = conns.get_mut(&t) else { continue };
            if !c.dead {
                c.flush();
            }
            if c.dead {
                let mut c = conns.remove(&t).unwrap();
                let _ = poll.registry().deregister(&mut c.stream);
                core.step(now, CoordInput::Closed { conn: t });
                continue;
            }
            let want = c.has_output();
            if want != c.want_write {
                c.want_write = want;
                let interest = if want { Interest::READABLE | Interest::WRITABLE } else { Interest::READABLE };
                let _ = poll.registry().reregister(&mut c.stream, Token(t), interest);
            }
        }
    }
    eprintln!("hyperdex coordinator: stopping");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_round_trips_and_versions_grow() {
        let mut st = CoordState::new(42);
        assert_eq!(st.register(7, "127.0.0.1:2012"), CoordCode::Success);
        assert_eq!(st.register(8, "127.0.0.1:2012"), CoordCode::Duplicate);
        assert_eq!(st.register(9, "not an address"), CoordCode::Malformed);
        let v = st.version;
        assert_eq!(
            st.add_space("space kv key k attributes v create 4 partitions tolerate 1 failure"),
            CoordCode::Success
        );
        assert!(st.version > v);
        assert_eq!(st.add_space("space kv key k"), CoordCode::Duplicate);
        assert_eq!(st.add_space("space"), CoordCode::Malformed);
        // One server: every region has one replica.
        for r in &st.spaces[0].subspaces[0].regions {
            assert_eq!(r.replicas.len(), 1);
        }
        // A second server joins every region (a transfer from its tail); once the tail
        // reports the copy done, it is the chain's new tail.
        assert_eq!(st.register(8, "127.0.0.1:2013"), CoordCode::Success);
        let regions: Vec<(u64, u64)> =
            st.spaces[0].subspaces[0].regions.iter().map(|r| (r.id, r.joining[0].vid)).collect();
        for r in &st.spaces[0].subspaces[0].regions {
            assert_eq!((r.replicas.len(), r.joining.len()), (1, 1));
            assert_eq!(r.joining[0].server, 8);
        }
        // Only the tail may report, and only the transfer the configuration has.
        let (rid, vid) = regions[0];
        assert_eq!(st.transfer_done(8, rid, 8, vid), CoordCode::NotFound);
        assert_eq!(st.transfer_done(7, rid, 8, vid + 1000), CoordCode::NotFound);
        for (rid, vid) in regions {
            assert_eq!(st.transfer_done(7, rid, 8, vid), CoordCode::Success);
        }
        for r in &st.spaces[0].subspaces[0].regions {
            assert_eq!(r.replicas.iter().map(|p| p.server).collect::<Vec<_>>(), vec![7, 8]);
            assert!(r.joining.is_empty());
        }
        assert!(st.config().stable());
        let back = CoordState::decode(&st.encode()).unwrap();
        assert_eq!(back, st);
        assert_eq!(st.rm_space("kv"), CoordCode::Success);
        assert_eq!(st.rm_space("kv"), CoordCode::NotFound);
    }

    #[test]
    fn space_added_before_daemons_gets_replicas_as_they_arrive() {
        let mut st = CoordState::new(1);
        assert_eq!(st.add_space("space a key k create 8 partitions tolerate 2 failures"), CoordCode::Success);
        assert!(st.spaces[0].subspaces[0].regions.iter().all(|r| r.replicas.is_empty()));
        for (i, port) in [2012, 2013, 2014, 2015].iter().enumerate() {
            assert_eq!(st.register(10 + i as u64, &format!("127.0.0.1:{port}")), CoordCode::Success);
        }
        // The first server got every region directly (nothing to copy); the others join
        // one at a time by transfer.
        for _ in 0..3 {
            let done: Vec<(u64, u64, u64, u64)> = st.spaces[0].subspaces[0]
                .regions
                .iter()
                .filter_map(|r| r.joining.first().map(|j| (r.replicas.last().unwrap().server, r.id, j.server, j.vid)))
                .collect();
            for (src, rid, dst, vid) in done {
                assert_eq!(st.transfer_done(src, rid, dst, vid), CoordCode::Success);
            }
        }
        for r in &st.spaces[0].subspaces[0].regions {
            assert_eq!(r.replicas.len(), 3);
        }
        assert!(st.config().stable());
    }

    fn three_servers(f: u32) -> CoordState {
        let mut st = CoordState::new(77);
        for (i, port) in [2012, 2013, 2014].iter().enumerate() {
            assert_eq!(st.register(1 + i as u64, &format!("127.0.0.1:{port}")), CoordCode::Success);
        }
        let d = format!("space s key k attributes v create 4 partitions tolerate {f} failures");
        assert_eq!(st.add_space(&d), CoordCode::Success);
        st
    }

    fn chains(st: &CoordState) -> Vec<Vec<u64>> {
        st.spaces[0].subspaces[0].regions.iter().map(|r| r.replicas.iter().map(|p| p.server).collect()).collect()
    }

    #[test]
    fn a_failed_server_leaves_every_chain_and_survivors_keep_their_order() {
        let mut st = three_servers(2);
        let before = chains(&st);
        assert!(st.remove_server(2, ServerState::NotAvailable));
        assert!(!st.remove_server(2, ServerState::NotAvailable), "already out");
        for (b, a) in before.iter().zip(chains(&st)) {
            let want: Vec<u64> = b.iter().copied().filter(|s| *s != 2).collect();
            assert_eq!(a, want);
        }
        // Down to one server: a region never loses its last replica (it waits, offline,
        // for that server to return).
        assert!(st.remove_server(1, ServerState::Shutdown));
        assert!(st.remove_server(3, ServerState::NotAvailable));
        assert!(chains(&st).iter().all(|c| c.len() == 1));
        let cfg = st.config();
        assert!(cfg.spaces[0].subspaces[0].regions.iter().all(|r| !cfg.available(r.replicas[0].server)));
        // The last one back: its regions are online again, without a transfer.
        let last = st.spaces[0].subspaces[0].regions[0].replicas[0].server;
        let addr = st.servers.iter().find(|s| s.id == last).unwrap().addr.clone();
        assert_eq!(st.register(last, &addr), CoordCode::Success);
        let r = &st.spaces[0].subspaces[0].regions[0];
        assert_eq!(r.replicas[0].server, last);
        assert!(st.config().available(last));
    }

    #[test]
    fn a_region_short_of_replicas_gets_one_joining_server_and_a_new_transfer_if_its_tail_dies() {
        let mut st = CoordState::new(5);
        for (i, port) in [2012, 2013, 2014, 2015].iter().enumerate() {
            assert_eq!(st.register(1 + i as u64, &format!("127.0.0.1:{port}")), CoordCode::Success);
        }
        assert_eq!(st.add_space("space s key k create 1 partitions tolerate 1 failures"), CoordCode::Success);
        let r = &st.spaces[0].subspaces[0].regions[0];
        let (head, tail) = (r.replicas[0].server, r.replicas[1].server);
        assert!(st.remove_server(head, ServerState::NotAvailable));
        let r = &st.spaces[0].subspaces[0].regions[0];
        assert_eq!(r.replicas.iter().map(|p| p.server).collect::<Vec<_>>(), vec![tail]);
        assert_eq!(r.joining.len(), 1);
        let j = r.joining[0];
        assert!(j.server != head && j.server != tail);
        // The joining server fails: another one is picked.
        assert!(st.remove_server(j.server, ServerState::NotAvailable));
        let r = &st.spaces[0].subspaces[0].regions[0];
        assert_eq!(r.joining.len(), 1);
        assert!(![head, tail, j.server].contains(&r.joining[0].server));
        assert!(!st.config().stable());
    }

    #[test]
    fn another_clusters_daemon_cannot_register() {
        let mut st = CoordState::new(5);
        assert_eq!(st.register_in(1, "127.0.0.1:2012", 6, true), CoordCode::Malformed);
        assert_eq!(st.register_in(1, "127.0.0.1:2012", 5, true), CoordCode::Success);
        assert_eq!(st.register_in(2, "127.0.0.1:2013", 0, true), CoordCode::Success);
    }

    fn reg(core: &mut Coordinator, now: Instant, conn: usize, server: u64) {
        let addr = format!("127.0.0.1:{}", 2000 + server);
        core.step(
            now,
            CoordInput::Message { conn, nonce: 1, msg: Msg::Register { server, addr, cluster: 0, fresh: true } },
        );
    }

    #[test]
    fn leases_expire_silent_servers_only() {
        let t0 = Instant::now();
        let lease = Duration::from_millis(1000);
        let mut core = Coordinator::new(CoordState::new(9), lease, t0);
        for s in 1..=3 {
            reg(&mut core, t0, s as usize, s);
        }
        core.step(
            t0,
            CoordInput::Message {
                conn: 9,
                nonce: 1,
                msg: Msg::AddSpace { description: "space s key k tolerate 2 failures".into(), token: 0 },
            },
        );
        let r = core.ready();
        assert!(r.persist.is_some());
        let v = core.state.version;
        // Servers 1 and 2 heartbeat; a heartbeat for 3 from another connection counts for
        // nothing.
        let mut t = t0;
        for _ in 0..15 {
            t += Duration::from_millis(100);
            for s in 1..=2u64 {
                core.step(
                    t,
                    CoordInput::Message { conn: s as usize, nonce: 0, msg: Msg::Heartbeat { server: s, version: v } },
                );
            }
            core.step(t, CoordInput::Message { conn: 1, nonce: 0, msg: Msg::Heartbeat { server: 3, version: v } });
            core.step(t, CoordInput::Tick);
        }
        let cfg = core.state.config();
        assert!(cfg.available(1) && cfg.available(2));
        assert_eq!(cfg.server_state(3), Some(ServerState::NotAvailable));
        assert!(core.ready().log.iter().any(|l| l.contains("server 3 failed (silent for its lease")));
        // A closed connection: declared failed within a quarter lease unless it registers,
        // but not before the read lease of its last heartbeat (half the lease) ran out.
        core.step(t, CoordInput::Closed { conn: 2 });
        core.step(t + Duration::from_millis(300), CoordInput::Tick);
        assert!(core.state.config().available(2));
        core.step(t + Duration::from_millis(500), CoordInput::Tick);
        assert_eq!(core.state.config().server_state(2), Some(ServerState::NotAvailable));
        assert!(core.ready().log.iter().any(|l| l.contains("server 2 failed (its connection closed")));
        // It registers again: available, with a fresh lease.
        reg(&mut core, t + Duration::from_millis(400), 12, 2);
        assert!(core.state.config().available(2));
    }

    #[test]
    fn reports_under_an_old_configuration_or_from_strangers_are_ignored() {
        let t0 = Instant::now();
        let mut core = Coordinator::new(CoordState::new(9), Duration::from_secs(1), t0);
        for s in 1..=3 {
            reg(&mut core, t0, s as usize, s);
        }
        let v = core.state.version;
        let report = |server, suspect, version| Msg::Report { server, suspect, version };
        core.step(t0, CoordInput::Message { conn: 1, nonce: 0, msg: report(1, 2, v - 1) });
        core.step(t0, CoordInput::Message { conn: 7, nonce: 0, msg: report(1, 2, v) });
        core.step(t0, CoordInput::Message { conn: 1, nonce: 0, msg: report(1, 1, v) });
        core.step(t0, CoordInput::Message { conn: 1, nonce: 0, msg: report(1, 99, v) });
        assert_eq!(core.state.version, v, "no configuration change");
        core.step(t0, CoordInput::Message { conn: 1, nonce: 0, msg: report(1, 2, v) });
        assert_eq!(core.state.config().server_state(2), Some(ServerState::NotAvailable));
        // Repeated: nothing more.
        let v2 = core.state.version;
        core.step(t0, CoordInput::Message { conn: 1, nonce: 0, msg: report(1, 2, v2) });
        assert_eq!(core.state.version, v2);
        // A clean shutdown is answered and recorded; a stranger's is refused.
        core.step(t0, CoordInput::Message { conn: 7, nonce: 3, msg: Msg::Shutdown { server: 3 } });
        core.step(t0, CoordInput::Message { conn: 3, nonce: 3, msg: Msg::Shutdown { server: 3 } });
        let r = core.ready();
        assert_eq!(r.send.iter().filter(|m| matches!(m.2, Msg::CoordReply { code: CoordCode::Malformed })).count(), 1);
        assert_eq!(core.state.config().server_state(3), Some(ServerState::Shutdown));
    }

    #[test]
    fn a_reported_server_is_removed_only_once_its_read_lease_has_run_out() {
        let t0 = Instant::now();
        let mut core = Coordinator::new(CoordState::new(9), Duration::from_secs(1), t0);
        for s in 1..=3 {
            reg(&mut core, t0, s as usize, s);
        }
        let v = core.state.version;
        let _ = core.ready();
        // A heartbeat earns a read lease of half the lease, answered with its own nonce.
        let hb = |s: u64| CoordInput::Message {
            conn: s as usize,
            nonce: 40 + s,
            msg: Msg::Heartbeat { server: s, version: v },
        };
        core.step(t0, hb(3));
        let r = core.ready();
        assert_eq!(r.send, vec![(3, 43, Msg::HeartbeatAck { lease_ms: 500 })]);
        // Reported 100 ms later: it may still be answering reads, so it stays until t0 + 500 ms,
        // and its heartbeats earn nothing more meanwhile.
        let t = t0 + Duration::from_millis(100);
        core.step(t, CoordInput::Message { conn: 1, nonce: 0, msg: Msg::Report { server: 1, suspect: 3, version: v } });
        core.step(t, hb(3));
        assert!(core.ready().send.is_empty(), "no lease for a suspect");
        core.step(t0 + Duration::from_millis(499), CoordInput::Tick);
        assert!(core.state.config().available(3));
        core.step(t0 + Duration::from_millis(500), CoordInput::Tick);
        assert_eq!(core.state.config().server_state(3), Some(ServerState::NotAvailable));
        assert!(core.ready().log.iter().any(|l| l.contains("server 3 failed (server 1 lost its link to it)")));
        // A server that holds no lease is removed at once.
        let v = core.state.version;
        core.step(t, CoordInput::Message { conn: 1, nonce: 0, msg: Msg::Report { server: 1, suspect: 2, version: v } });
        assert_eq!(core.state.config().server_state(2), Some(ServerState::NotAvailable));
        // A server that registered again gets no read lease before it has the configuration
        // that made it available (it may still route by the one that removed it).
        reg(&mut core, t0, 12, 2);
        let since = core.state.version;
        let _ = core.ready();
        let old = CoordInput::Message { conn: 12, nonce: 7, msg: Msg::Heartbeat { server: 2, version: since - 1 } };
        core.step(t0, old);
        assert!(core.ready().send.is_empty(), "no lease under an older configuration");
        let cur = CoordInput::Message { conn: 12, nonce: 8, msg: Msg::Heartbeat { server: 2, version: since } };
        core.step(t0, cur);
        assert_eq!(core.ready().send, vec![(12, 8, Msg::HeartbeatAck { lease_ms: 500 })]);
        // A restarted coordinator assumes every available server may hold a full grant.
        let mut again = Coordinator::new(core.state.clone(), Duration::from_secs(1), t0);
        let v = again.state.version;
        again.step(
            t0,
            CoordInput::Message {
                conn: 5,
                nonce: 1,
                msg: Msg::Register { server: 1, addr: "127.0.0.1:2001".into(), cluster: 0, fresh: false },
            },
        );
        again.step(
            t0,
            CoordInput::Message {
                conn: 6,
                nonce: 1,
                msg: Msg::Register { server: 2, addr: "127.0.0.1:2002".into(), cluster: 0, fresh: false },
            },
        );
        let v2 = again.state.version;
        assert!(v2 > v);
        again.step(
            t0,
            CoordInput::Message { conn: 6, nonce: 0, msg: Msg::Report { server: 2, suspect: 1, version: v2 } },
        );
        assert!(again.state.config().available(1), "server 1 may hold a lease from before the restart");
        again.step(t0 + Duration::from_millis(500), CoordInput::Tick);
        assert!(!again.state.config().available(1));
    }

    #[test]
    fn a_state_file_with_exhausted_counters_is_refused() {
        let mut st = CoordState::new(3);
        st.next_id = u64::MAX - 1;
        assert!(CoordState::decode(&st.encode()).is_err());
        let mut st = CoordState::new(3);
        st.version = u64::MAX;
        assert!(CoordState::decode(&st.encode()).is_err());
        assert!(CoordState::decode(&CoordState::new(3).encode()).is_ok());
    }

    #[test]
    fn ids_are_unique() {
        let mut st = CoordState::new(5);
        assert_eq!(st.register(3, "127.0.0.1:1"), CoordCode::Success);
        st.add_space("space x key k attributes a, b subspace a, b create 8 partitions");
        let mut ids = vec![st.spaces[0].id];
        for ss in &st.spaces[0].subspaces {
            ids.push(ss.id);
            for r in &ss.regions {
                ids.push(r.id);
                ids.extend(r.replicas.iter().map(|p| p.vid));
            }
        }
        let n = ids.len();
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), n);
    }
}
