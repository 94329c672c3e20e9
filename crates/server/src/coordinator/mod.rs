//! The coordinator: owns the cluster configuration (servers, spaces, regions and their
//! chains) under a version that only grows, persists it in its data directory, and answers
//! configuration waits, space changes and daemon registrations.
//!
//! [`CoordState`] is the replicated state machine (commands in, a new configuration out);
//! [`Coordinator`] is one member of the coordinator group, without sockets or a clock: raft
//! (tikv's raft-rs) orders the commands, and while it leads it also runs daemon leases and
//! answers clients; [`raftlog`] makes the raft log durable; [`shell`] is the mio loop.

pub mod raftlog;
pub mod shell;

#[cfg(test)]
mod group_sim;

use hyperdex_core::config::{Configuration, CoordinatorAddr, Region, Replica, Server, ServerState, Space, Subspace};
use hyperdex_core::hashing::partition;
use hyperdex_core::proto::Msg;
use hyperdex_core::space::parse_space;
use hyperdex_core::wire::{DResult, DecodeError, Reader, Writer};
use hyperdex_core::CoordCode;
use raft::eraftpb::{ConfChangeType, EntryType, MessageType};
use raft::{RawNode, SnapshotStatus, StateRole};
use raftlog::LogStore;
use std::collections::{HashMap, HashSet, VecDeque};
use std::io;
use std::net::SocketAddr;
use std::path::Path;
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
    /// The outcomes of the last [`RECENT_TOKENS`] add-space and rm-space requests that carried
    /// a token: one sent again (its coordinator failed before answering) gets this answer.
    pub recent: VecDeque<(u64, CoordCode)>,
}

/// How many request tokens the state remembers.
pub const RECENT_TOKENS: usize = 1024;

/// A change to the replicated state: the payload of one raft log entry. Every coordinator
/// applies the same commands in the same order, so each holds the same configurations.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Command {
    Register {
        server: u64,
        addr: String,
        cluster: u64,
        fresh: bool,
    },
    /// The leader declared `server` failed (NOT_AVAILABLE) or it shut down (SHUTDOWN).
    Remove {
        server: u64,
        state: ServerState,
        why: String,
    },
    TransferDone {
        server: u64,
        region: u64,
        target: u64,
        vid: u64,
    },
    AddSpace {
        description: String,
        token: u64,
    },
    RmSpace {
        name: String,
        token: u64,
    },
}

impl Command {
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        let mut w = Writer::new(&mut out);
        match self {
            Command::Register { server, addr, cluster, fresh } => {
                w.u8(1).u64(*server).bytes(addr.as_bytes()).u64(*cluster).u8(*fresh as u8);
            }
            Command::Remove { server, state, why } => {
                w.u8(2).u64(*server).u8(*state as u8).bytes(why.as_bytes());
            }
            Command::TransferDone { server, region, target, vid } => {
                w.u8(3).u64(*server).u64(*region).u64(*target).u64(*vid);
            }
            Command::AddSpace { description, token } => {
                w.u8(4).bytes(description.as_bytes()).u64(*token);
            }
            Command::RmSpace { name, token } => {
                w.u8(5).bytes(name.as_bytes()).u64(*token);
            }
        }
        out
    }

    pub fn decode(buf: &[u8]) -> DResult<Command> {
        let mut r = Reader::new(buf);
        let c = match r.u8()? {
            1 => Command::Register {
                server: r.u64()?,
                addr: r.string()?.to_string(),
                cluster: r.u64()?,
                fresh: r.u8()? != 0,
            },
            2 => Command::Remove {
                server: r.u64()?,
                state: ServerState::from_raw(r.u8()?).ok_or(DecodeError)?,
                why: r.string()?.to_string(),
            },
            3 => Command::TransferDone { server: r.u64()?, region: r.u64()?, target: r.u64()?, vid: r.u64()? },
            4 => Command::AddSpace { description: r.string()?.to_string(), token: r.u64()? },
            5 => Command::RmSpace { name: r.string()?.to_string(), token: r.u64()? },
            _ => return Err(DecodeError),
        };
        r.finish()?;
        Ok(c)
    }
}

const STATE_MAGIC: &[u8; 8] = b"HDXCRD03";
/// The single coordinator's state file before the group (read once, to upgrade).
const STATE_MAGIC_V2: &[u8; 8] = b"HDXCRD02";

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
            recent: VecDeque::new(),
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
        let unchanged = self.servers.iter().any(|s| s.id == id && s.addr == addr && s.state == ServerState::Available);
        if unchanged && !fresh {
            // The same process again (it moved to another coordinator): nothing changes.
            return CoordCode::Success;
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
        // Per available server, how many regions it heads and how many replicas (and joining
        // copies) it holds: a region's head goes to a candidate heading fewest (the point
        // leader takes every client write of its region), every other replica to one
        // holding fewest, ties broken as below and then at random; so both spread evenly. A
        // uniform random pick put all eight regions of a new space on one of two servers
        // (one space in 128).
        let mut load: std::collections::HashMap<u64, (usize, usize)> = avail.iter().map(|&s| (s, (0, 0))).collect();
        for r in self.spaces.iter().flat_map(|sp| &sp.subspaces).flat_map(|ss| &ss.regions) {
            for (i, p) in r.replicas.iter().chain(&r.joining).enumerate() {
                if let Some((heads, held)) = load.get_mut(&p.server) {
                    *heads += usize::from(i == 0);
                    *held += 1;
                }
            }
        }
        for sp in &mut self.spaces {
            let want = sp.fault_tolerance as usize + 1;
            for ss in &mut sp.subspaces {
                for r in &mut ss.regions {
                    let fresh = r.replicas.is_empty();
                    if !fresh && (!r.joining.is_empty() || !r.replicas.iter().all(|p| is_avail(p.server))) {
                        continue;
                    }
                    while r.replicas.len() + r.joining.len() < want {
                        let free = |s: &u64| r.replicas.iter().chain(&r.joining).all(|p| p.server != *s);
                        let head = r.replicas.is_empty();
                        // Another replica goes, among those holding fewest, to one heading
                        // most: the servers heading fewest take the next heads, and would
                        // otherwise end up holding the most.
                        let rank = |s: &u64| {
                            let (heads, held) = load[s];
                            if head {
                                (heads, held)
                            } else {
                                (held, usize::MAX - heads)
                            }
                        };
                        let Some(least) = avail.iter().filter(|s| free(s)).map(rank).min() else {
                            break;
                        };
                        let candidates: Vec<u64> =
                            avail.iter().copied().filter(|s| free(s) && rank(s) == least).collect();
                        let pick = candidates[(rng.next() % candidates.len() as u64) as usize];
                        if let Some((heads, held)) = load.get_mut(&pick) {
                            *heads += usize::from(head);
                            *held += 1;
                        }
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
        // Each subspace's boxes and attributes (the key's subspace first).
        let dims = std::iter::once(vec![0]).chain(desc.subspaces.iter().cloned());
        let cuts: Vec<_> = dims.map(|a| (partition(a.len(), desc.partitions), a)).collect();
        // Daemons key stored objects by region id in 4 bytes: every id this space takes
        // (space, subspaces, regions) must stay at or below the largest one storage holds.
        let ids = 1 + cuts.iter().map(|(boxes, _)| 1 + boxes.len() as u64).sum::<u64>();
        if self.next_id.saturating_add(ids - 1) > crate::daemon::storage::MAX_REGION {
            return CoordCode::Malformed;
        }
        let space_id = self.id();
        let mut subspaces = Vec::with_capacity(cuts.len());
        for (boxes, attrs) in cuts {
            let sid = self.id();
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

    /// Applies one replicated command; the answer for whoever asked, and a line for the log.
    pub fn apply(&mut self, cmd: &Command) -> (CoordCode, Option<String>) {
        match cmd {
            Command::Register { server, addr, cluster, fresh } => {
                let before = self.version;
                let code = self.register_in(*server, addr, *cluster, *fresh);
                let line = if code == CoordCode::Success && self.version != before {
                    Some(format!("server {server} registered at {addr}; configuration {}", self.version))
                } else if code == CoordCode::Malformed && *cluster != 0 && *cluster != self.cluster {
                    Some(format!(
                        "refused server {server} at {addr}: its data belongs to cluster {cluster}, not {}",
                        self.cluster
                    ))
                } else {
                    None
                };
                (code, line)
            }
            Command::Remove { server, state, why } => {
                if self.remove_server(*server, *state) {
                    let what = if *state == ServerState::Shutdown {
                        "shut down".to_string()
                    } else {
                        format!("failed ({why})")
                    };
                    (CoordCode::Success, Some(format!("server {server} {what}; configuration {}", self.version)))
                } else {
                    (CoordCode::Success, None)
                }
            }
            Command::TransferDone { server, region, target, vid } => {
                let code = self.transfer_done(*server, *region, *target, *vid);
                let line = (code == CoordCode::Success).then(|| {
                    format!(
                        "server {target} joined region {region} (copied from server {server}); configuration {}",
                        self.version
                    )
                });
                (code, line)
            }
            Command::AddSpace { description, token } => {
                let code = self.once(*token, |st| st.add_space(description));
                (code, None)
            }
            Command::RmSpace { name, token } => (self.once(*token, |st| st.rm_space(name)), None),
        }
    }

    /// Runs `f` unless a request with this token already ran (then its answer again).
    fn once(&mut self, token: u64, f: impl FnOnce(&mut CoordState) -> CoordCode) -> CoordCode {
        if token != 0 {
            if let Some((_, code)) = self.recent.iter().find(|(t, _)| *t == token) {
                return *code;
            }
        }
        let code = f(self);
        if token != 0 {
            if self.recent.len() >= RECENT_TOKENS {
                self.recent.pop_front();
            }
            self.recent.push_back((token, code));
        }
        code
    }

    /// Coordinator `id` (at `addr`) joined the group.
    pub fn add_coordinator(&mut self, id: u64, addr: &str) {
        self.coordinators.retain(|c| c.id != id);
        self.coordinators.push(CoordinatorAddr { id, addr: addr.to_string() });
        self.coordinators.sort_by_key(|c| c.id);
        self.version += 1;
    }

    /// Coordinator `id` left the group.
    pub fn remove_coordinator(&mut self, id: u64) {
        self.coordinators.retain(|c| c.id != id);
        self.version += 1;
    }

    pub fn encode(&self) -> Vec<u8> {
        let mut out = STATE_MAGIC.to_vec();
        let mut cfg = Vec::new();
        self.config().encode(&mut cfg);
        let mut w = Writer::new(&mut out);
        w.u64(self.next_id);
        w.bytes(&cfg);
        w.count(self.recent.len());
        for (t, c) in &self.recent {
            w.u64(*t).u16(*c as u16);
        }
        out
    }

    pub fn decode(buf: &[u8]) -> DResult<CoordState> {
        if buf.len() < 8 || (&buf[..8] != STATE_MAGIC && &buf[..8] != STATE_MAGIC_V2) {
            return Err(DecodeError);
        }
        let v2 = &buf[..8] == STATE_MAGIC_V2;
        let mut r = Reader::new(&buf[8..]);
        let next_id = r.u64()?;
        let cfg = if v2 {
            // Written before configurations listed coordinators: an empty list.
            let mut b = r.bytes()?.to_vec();
            b.extend_from_slice(&0u32.to_le_bytes());
            Configuration::decode(&b)?
        } else {
            Configuration::decode(r.bytes()?)?
        };
        let mut recent = VecDeque::new();
        if !v2 {
            let n = r.count(10)?;
            if n > RECENT_TOKENS {
                return Err(DecodeError);
            }
            for _ in 0..n {
                let t = r.u64()?;
                recent.push_back((t, CoordCode::from_raw(r.u16()?).ok_or(DecodeError)?));
            }
        }
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
            recent,
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
    /// Time passed: raft ticks, lease expiry.
    Tick,
}

/// What must reach the disk before anything of the same [`CoordReady`] is sent: first
/// `rewrite` (the whole raft log file, replacing it), then `append` at its end; fsynced.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct DiskWrite {
    pub rewrite: Option<Vec<u8>>,
    pub append: Vec<u8>,
}

/// What the shell must do after a step, in order: make `disk` durable, then send `raft` to
/// the other coordinators (by raft id) and `send` on connections, then close `close`.
/// `log` lines go to the log.
#[derive(Debug, Default)]
pub struct CoordReady {
    pub disk: Option<DiskWrite>,
    pub raft: Vec<(u64, Msg)>,
    pub send: Vec<(usize, u64, Msg)>,
    pub close: Vec<usize>,
    pub log: Vec<String>,
    /// Set once the coordinator cannot go on: its raft state and stored log disagree. The
    /// shell stops it (after the log lines); a restart recovers from the disk.
    pub fatal: Option<String>,
}

/// How often raft's logical clock ticks.
pub const RAFT_TICK: Duration = Duration::from_millis(50);
/// Ticks without a leader's heartbeat before a follower stands for election (randomised up to
/// twice this): 0.5 to 1 s.
pub const ELECTION_TICKS: usize = 10;
/// The leader's heartbeat, in ticks (100 ms).
const HEARTBEAT_TICKS: usize = 2;
/// How long clients and daemons may take to find a new leader: a new leader's leases start
/// this much longer, so an election never evicts healthy daemons.
pub const FAILOVER_GRACE: Duration = Duration::from_secs(2);
/// The raft log is compacted into a snapshot after this many applied entries.
const SNAPSHOT_EVERY: u64 = 512;

/// Who this coordinator is in its group.
#[derive(Clone, Debug)]
pub struct Member {
    /// Raft id (nonzero).
    pub id: u64,
    /// Where it listens, as other coordinators, daemons and clients reach it.
    pub addr: String,
    /// The cluster it belongs to (known before it has the group's state).
    pub cluster: u64,
    /// Election timeout in ticks, or None for raft's randomised default. A simulation fixes
    /// it per coordinator so that a seed replays exactly.
    pub election_ticks: Option<usize>,
}

/// An answer owed once a proposal is applied: on connection `conn`, with `nonce`.
#[derive(Debug)]
struct Pending {
    conn: usize,
    nonce: u64,
}

/// The coordinator's logic without sockets or a clock: a raft group member whose state
/// machine is [`CoordState`]; while it leads, also daemon leases (failure detection) and
/// the configuration waits of clients and daemons.
pub struct Coordinator {
    pub state: CoordState,
    /// How long a daemon may stay silent before it is declared failed.
    pub lease: Duration,
    member: Member,
    raft: RawNode<LogStore>,
    /// Leading since the last step (leader-only state below is valid).
    leading: bool,
    /// The index up to which committed entries are applied to `state`.
    applied: u64,
    /// Answers owed, by the (term, index) of the entry proposed.
    pending: HashMap<(u64, u64), Pending>,
    /// Coordinators waiting to hear they joined: (connection, nonce, raft id).
    joining: Vec<(usize, u64, u64)>,
    /// While leading: until when servers new to this leader get the failover grace added to
    /// their lease, and until when they may hold a read lease of the previous leader.
    first_leases: (Instant, Instant),
    /// Why this coordinator must stop (its raft state and its log disagree).
    fatal: Option<String>,
    /// Servers whose removal was proposed and not yet applied.
    removing: HashSet<u64>,
    /// Addresses of coordinators not yet in the applied state, from their messages.
    learned: HashMap<u64, String>,
    /// Connections of clients and daemons (closed when this coordinator stops leading).
    clients: HashSet<usize>,
    /// Raft messages to send.
    outbox: Vec<raft::eraftpb::Message>,
    disk: DiskWrite,
    /// The last raft tick.
    ticked: Instant,
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
    /// The version `config_bytes` (and, while leading, the leases) were last brought up to.
    refreshed: u64,
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

fn discard_logger() -> slog::Logger {
    slog::Logger::root(slog::Discard, slog::o!())
}

fn raft_config(member: &Member, applied: u64) -> raft::Config {
    let mut c = raft::Config {
        id: member.id,
        election_tick: ELECTION_TICKS,
        heartbeat_tick: HEARTBEAT_TICKS,
        applied,
        max_size_per_msg: 1 << 20,
        max_inflight_msgs: 256,
        check_quorum: true,
        pre_vote: true,
        ..Default::default()
    };
    if let Some(t) = member.election_ticks {
        c.election_tick = t;
        c.min_election_tick = t;
        c.max_election_tick = t + 1;
    }
    c
}

impl Coordinator {
    /// A group of one over `state` (its only member, id 1, leading at once): how a single
    /// coordinator runs, and what unit tests drive.
    pub fn new(state: CoordState, lease: Duration, now: Instant) -> Coordinator {
        let addr = state.coordinators.first().map(|c| c.addr.clone()).unwrap_or_default();
        let member = Member { id: 1, addr, cluster: state.cluster, election_ticks: Some(ELECTION_TICKS) };
        let store = LogStore::bootstrap(1, state.encode());
        Coordinator::open(member, store, lease, now).expect("a bootstrapped log opens")
    }

    /// A member over its recovered raft log (an empty one: a coordinator that joined and
    /// waits for the group's state). Err: the log's snapshot does not decode.
    pub fn open(member: Member, store: LogStore, lease: Duration, now: Instant) -> Result<Coordinator, String> {
        let snap = store.snapshot_ref();
        let state = if snap.get_metadata().index == 0 {
            // A placeholder until the leader's snapshot arrives: version 0 is no
            // configuration any member ever had.
            CoordState { version: 0, ..CoordState::new(member.cluster) }
        } else {
            CoordState::decode(&snap.data).map_err(|_| "the raft log's snapshot is corrupt".to_string())?
        };
        if member.cluster != 0 && state.cluster != member.cluster {
            return Err(format!("the raft log belongs to cluster {}, not {}", state.cluster, member.cluster));
        }
        let applied = snap.get_metadata().index;
        let raft = RawNode::new(&raft_config(&member, applied), store, &discard_logger())
            .map_err(|e| format!("raft refused the log: {e}"))?;
        let mut config_bytes = Vec::new();
        state.config().encode(&mut config_bytes);
        let mut c = Coordinator {
            published: state.version,
            refreshed: state.version,
            state,
            lease,
            member,
            raft,
            leading: false,
            applied,
            pending: HashMap::new(),
            joining: Vec::new(),
            first_leases: (now, now),
            fatal: None,
            removing: HashSet::new(),
            learned: HashMap::new(),
            clients: HashSet::new(),
            outbox: Vec::new(),
            disk: DiskWrite::default(),
            ticked: now,
            deadline: HashMap::new(),
            granted: HashMap::new(),
            suspects: HashMap::new(),
            avail_since: HashMap::new(),
            conn_server: HashMap::new(),
            waiters: Vec::new(),
            config_bytes,
            replies: Vec::new(),
            configs: Vec::new(),
            close: Vec::new(),
            log: Vec::new(),
        };
        c.lead_if_alone();
        c.pump(now);
        Ok(c)
    }

    pub fn id(&self) -> u64 {
        self.member.id
    }

    pub fn is_leader(&self) -> bool {
        self.leading
    }

    /// The group's voting members, as this coordinator knows them.
    pub fn voters(&self) -> Vec<u64> {
        let mut v: Vec<u64> = self.raft.raft.prs().conf().voters().ids().iter().collect();
        v.sort_unstable();
        v
    }

    /// The raft term (for tests and logs).
    pub fn term(&self) -> u64 {
        self.raft.raft.term
    }

    /// Where coordinator `id` listens, if known.
    pub fn peer_addr(&self, id: u64) -> Option<&str> {
        self.state
            .coordinators
            .iter()
            .find(|c| c.id == id)
            .map(|c| c.addr.as_str())
            .or_else(|| self.learned.get(&id).map(|a| a.as_str()))
    }

    /// The leader's address as far as this coordinator knows (empty: none known).
    pub fn leader_addr(&self) -> String {
        let l = self.raft.raft.leader_id;
        if l == 0 {
            return String::new();
        }
        self.peer_addr(l).unwrap_or_default().to_string()
    }

    fn members(&self) -> usize {
        self.raft.raft.prs().iter().len()
    }

    /// Feeds one input at time `now`; effects come out of [`Coordinator::ready`].
    pub fn step(&mut self, now: Instant, input: CoordInput) {
        match input {
            CoordInput::Message { conn, nonce, msg } => self.handle(now, conn, nonce, msg),
            CoordInput::Closed { conn } => {
                self.clients.remove(&conn);
                self.waiters.retain(|w| w.0 != conn);
                self.joining.retain(|w| w.0 != conn);
                if let Some(s) = self.conn_server.remove(&conn) {
                    // Unless it comes back at once (a new connection), it is gone.
                    let leased = self.granted.get(&s).copied().unwrap_or(now);
                    if let Some(d) = self.deadline.get_mut(&s) {
                        *d = (*d).min(now + close_grace(self.lease)).max(leased);
                    }
                }
            }
            CoordInput::Tick => {
                let mut n = 0;
                while now.saturating_duration_since(self.ticked) >= RAFT_TICK {
                    self.raft.tick();
                    self.ticked += RAFT_TICK;
                    n += 1;
                    if n > 4 * ELECTION_TICKS {
                        // A long pause (a stopped process): no burst of ticks.
                        self.ticked = now;
                        break;
                    }
                }
                if self.leading {
                    self.expire(now);
                }
            }
        }
        self.pump(now);
    }

    /// Leases that ran out: propose their servers' removal.
    fn expire(&mut self, now: Instant) {
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
            self.propose_remove(s, ServerState::NotAvailable, why, None);
        }
    }

    fn propose_remove(&mut self, server: u64, state: ServerState, why: String, reply: Option<(usize, u64)>) {
        if reply.is_none() && !self.removing.insert(server) {
            return;
        }
        self.propose(Command::Remove { server, state, why }, reply);
    }

    /// Appends `cmd` to the log; once applied, answers (conn, nonce) if given.
    fn propose(&mut self, cmd: Command, reply: Option<(usize, u64)>) {
        match self.raft.propose(Vec::new(), cmd.encode()) {
            Ok(()) => {
                // The leader appended it at once: (term, index) names this entry for good
                // (an entry of another term or process at that index is another request).
                let at = (self.raft.raft.term, self.raft.raft.raft_log.last_index());
                if let Some((conn, nonce)) = reply {
                    self.pending.insert(at, Pending { conn, nonce });
                }
            }
            Err(_) => {
                // Not leading after all (an election began): the asker tries elsewhere.
                if let Some((conn, nonce)) = reply {
                    self.replies.push((conn, nonce, Msg::Redirect { leader: self.leader_addr() }));
                }
            }
        }
    }

    fn handle(&mut self, now: Instant, conn: usize, nonce: u64, msg: Msg) {
        match msg {
            Msg::Raft { cluster, from_addr, body } => return self.handle_raft(conn, cluster, from_addr, &body),
            Msg::Join { id, addr, cluster } => return self.handle_join(conn, nonce, id, addr, cluster),
            _ => {}
        }
        self.clients.insert(conn);
        if !self.leading {
            // Heartbeats and reports are not answered by a follower (the daemon moves on once
            // it sees the redirect for its registration or wait).
            let leader = self.leader_addr();
            self.replies.push((conn, nonce, Msg::Redirect { leader }));
            return;
        }
        let from = self.conn_server.get(&conn).copied();
        match msg {
            Msg::ConfigWait { have } => {
                if have < self.state.version {
                    self.configs.push((conn, nonce, Msg::Config { config: self.config_bytes.clone() }));
                } else {
                    // A newer wait replaces the connection's old one (no unbounded list).
                    self.waiters.retain(|w| w.0 != conn);
                    self.waiters.push((conn, nonce, have));
                }
            }
            Msg::AddSpace { description, token } => {
                self.propose(Command::AddSpace { description, token }, Some((conn, nonce)))
            }
            Msg::RmSpace { name, token } => self.propose(Command::RmSpace { name, token }, Some((conn, nonce))),
            Msg::Register { server, addr, cluster, fresh } => {
                if matches!(from, Some(s) if s != server) {
                    // One server per connection.
                    self.replies.push((conn, nonce, Msg::CoordReply { code: CoordCode::Malformed }));
                } else {
                    self.propose(Command::Register { server, addr, cluster, fresh }, Some((conn, nonce)));
                }
            }
            Msg::Heartbeat { server, version } => {
                // Only the connection the server registered on renews its leases; a server
                // declared failed must register again, and a reported one gets nothing more.
                if from == Some(server) && self.state.is_available(server) && !self.suspects.contains_key(&server) {
                    self.deadline.insert(server, now + self.lease);
                    // A read lease only once it runs the configuration that made it available.
                    if version >= self.avail_since.get(&server).copied().unwrap_or(u64::MAX) {
                        let grant = read_lease(self.lease);
                        self.granted.insert(server, now + grant);
                        self.replies.push((conn, nonce, Msg::HeartbeatAck { lease_ms: grant.as_millis() as u64 }));
                    }
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
                        self.deadline.remove(&suspect);
                        self.granted.remove(&suspect);
                        let why = format!("server {server} lost its link to it");
                        self.propose_remove(suspect, ServerState::NotAvailable, why, None);
                    } else {
                        self.suspects.insert(suspect, server);
                        self.deadline.insert(suspect, leased);
                    }
                }
            }
            Msg::Shutdown { server } => {
                if from != Some(server) {
                    self.replies.push((conn, nonce, Msg::CoordReply { code: CoordCode::Malformed }));
                } else {
                    self.deadline.remove(&server);
                    self.granted.remove(&server);
                    self.suspects.remove(&server);
                    self.propose_remove(server, ServerState::Shutdown, String::new(), Some((conn, nonce)));
                }
            }
            Msg::TransferDone { server, region, target, vid } => {
                if from == Some(server) {
                    self.propose(Command::TransferDone { server, region, target, vid }, None);
                }
            }
            // Anything else is not for a coordinator: drop that peer.
            _ => self.close.push(conn),
        }
    }

    /// A raft message from another coordinator. One from another cluster, from outside the
    /// group, or not for this coordinator is refused (the connection is closed).
    fn handle_raft(&mut self, conn: usize, cluster: u64, from_addr: String, body: &[u8]) {
        use protobuf::Message as _;
        let refuse = |c: &mut Coordinator, why: String| {
            c.log.push(format!("refused a raft message from {from_addr}: {why}"));
            c.close.push(conn);
        };
        if cluster != self.state.cluster || cluster == 0 {
            return refuse(self, format!("it is for cluster {cluster}, this is cluster {}", self.state.cluster));
        }
        let m = match raft::eraftpb::Message::parse_from_bytes(body) {
            Ok(m) => m,
            Err(_) => return refuse(self, "malformed".into()),
        };
        if m.to != self.member.id || m.from == self.member.id || m.from == 0 {
            return refuse(self, format!("it is from {} to {}, this is {}", m.from, m.to, self.member.id));
        }
        // A coordinator this one does not know as a member may still be one (it joined
        // after this one fell behind, and leads now); but it may not stand for election here.
        let stranger = self.members() > 0 && self.raft.raft.prs().get(m.from).is_none();
        let vote = matches!(m.get_msg_type(), MessageType::MsgRequestVote | MessageType::MsgRequestPreVote);
        if stranger && vote {
            return refuse(self, format!("coordinator {} is not a member of the group", m.from));
        }
        if self.peer_addr(m.from).is_none() && from_addr.parse::<SocketAddr>().is_ok() {
            self.learned.insert(m.from, from_addr.clone());
        }
        // Raft ignores messages of old terms; local message types are refused by step. A
        // message that breaks raft's invariants (a commit index past the log, an append
        // that contradicts committed entries) makes raft-rs panic: only a faulty or hostile
        // member sends one. The coordinator survives it: raft starts over from the log as
        // stored (its durable state), a follower until the next election.
        let from = m.from;
        let stepped = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| self.raft.step(m)));
        if stepped.is_err() {
            self.log.push(format!(
                "a raft message from coordinator {from} ({from_addr}) broke raft's invariants; raft restarted from the stored log"
            ));
            self.close.push(conn);
            self.restart_raft();
        }
    }

    /// A new raft node over the stored log (what a restart of the process would do).
    fn restart_raft(&mut self) {
        let store = self.raft.store().clone();
        let config = raft_config(&self.member, self.applied);
        match RawNode::new(&config, store, &discard_logger()) {
            Ok(r) => {
                self.raft = r;
                self.lead_if_alone();
            }
            Err(e) => self.fail(format!("raft could not restart from the stored log: {e}")),
        }
    }

    /// Alone in its group, a coordinator leads at once: there is no one to wait for.
    fn lead_if_alone(&mut self) {
        let voters = self.raft.raft.prs().conf().voters().ids();
        if voters.len() == 1 && voters.contains(self.member.id) {
            let _ = self.raft.campaign();
        }
    }

    /// Raft's view and the stored log can no longer agree: the coordinator must stop (and
    /// start again from its disk).
    fn fail(&mut self, why: String) {
        if self.fatal.is_none() {
            self.fatal = Some(why);
        }
    }

    /// A coordinator asks to join: the leader adds it to the group (one change at a time)
    /// and answers once that change is applied.
    fn handle_join(&mut self, conn: usize, nonce: u64, id: u64, addr: String, cluster: u64) {
        self.clients.insert(conn);
        if !self.leading {
            let leader = self.leader_addr();
            self.replies.push((conn, nonce, Msg::Redirect { leader }));
            return;
        }
        let refuse = |c: &mut Coordinator, code: CoordCode, why: String| {
            c.log.push(format!("refused coordinator {id} at {addr}: {why}"));
            c.replies.push((conn, nonce, Msg::CoordReply { code }));
        };
        if cluster != 0 && cluster != self.state.cluster {
            let why = format!("its data belongs to cluster {cluster}, not {}", self.state.cluster);
            return refuse(self, CoordCode::Malformed, why);
        }
        if id >= 1 << 63 || addr.parse::<SocketAddr>().is_err() {
            return refuse(self, CoordCode::Malformed, "bad id or address".into());
        }
        if let Some(c) = self.state.coordinators.iter().find(|c| c.id == id || c.addr == addr) {
            let learner = self.raft.raft.prs().conf().learners().contains(&c.id);
            if (c.id == id || (id == 0 && learner)) && c.addr == addr {
                // It joined and did not hear back (a learner never voted nor counted for a
                // commit, so it may start over empty). A voter that lost its data may
                // not: it could vote again, or forget entries it helped commit.
                let (cluster, id) = (self.state.cluster, c.id);
                self.replies.push((conn, nonce, Msg::Joined { cluster, id }));
            } else {
                let why = format!("coordinator {} at {} is already a member", c.id, c.addr);
                refuse(self, CoordCode::Duplicate, why);
            }
            return;
        }
        if self.raft.raft.has_pending_conf() {
            // One membership change at a time: ask again shortly.
            let me = self.member.addr.clone();
            self.replies.push((conn, nonce, Msg::Redirect { leader: me }));
            return;
        }
        // Ids in joining order: the next after every member's.
        let id = if id != 0 { id } else { self.state.coordinators.iter().map(|c| c.id).max().unwrap_or(1) + 1 };
        // A learner first: it votes only once it has caught up, so a group never waits for
        // a member that is not running yet (a leader that fails right after adding it
        // still has its majority).
        let mut cc = raft::eraftpb::ConfChange::default();
        cc.set_change_type(ConfChangeType::AddLearnerNode);
        cc.node_id = id;
        match self.raft.propose_conf_change(addr.as_bytes().to_vec(), cc) {
            Ok(()) => self.joining.push((conn, nonce, id)),
            Err(_) => self.replies.push((conn, nonce, Msg::Redirect { leader: String::new() })),
        }
    }

    /// Runs raft's ready cycle until it has nothing more: stores what must become durable,
    /// queues messages, applies committed entries.
    fn pump(&mut self, now: Instant) {
        loop {
            self.pump_once(now);
            if !self.promote_learners() {
                break;
            }
        }
    }

    fn pump_once(&mut self, now: Instant) {
        let mut conf_changed = false;
        let sent = self.outbox.len();
        self.pump_ready(now, &mut conf_changed);
        // A snapshot counts as delivered once handed to the network: if it was lost, the
        // follower's answer to the next append tells the leader to send it again (raft
        // would otherwise wait for this report forever).
        let snaps: Vec<u64> =
            self.outbox[sent..].iter().filter(|m| m.get_msg_type() == MessageType::MsgSnapshot).map(|m| m.to).collect();
        if !snaps.is_empty() {
            for to in snaps {
                self.raft.report_snapshot(to, SnapshotStatus::Finish);
            }
            self.pump_ready(now, &mut conf_changed);
        }
        self.after_pump(now, conf_changed);
    }

    fn pump_ready(&mut self, now: Instant, conf_changed: &mut bool) {
        while self.raft.has_ready() {
            let mut rd = self.raft.ready();
            self.outbox.extend(rd.take_messages());
            if !rd.snapshot().is_empty() {
                let snap = rd.snapshot().clone();
                self.install_snapshot(snap);
            }
            *conf_changed |= self.apply_entries(now, rd.take_committed_entries());
            if !rd.entries().is_empty() {
                let ents = rd.take_entries();
                if self.raft.mut_store().append(&ents) {
                    raftlog::entries_record(&mut self.disk.append, &ents);
                } else {
                    self.fail(format!(
                        "raft appended entries from index {} that do not continue the log",
                        ents[0].index
                    ));
                }
            }
            if let Some(hs) = rd.hs() {
                self.raft.mut_store().set_hard_state(hs.clone());
                raftlog::hard_state_record(&mut self.disk.append, hs);
            }
            self.outbox.extend(rd.take_persisted_messages());
            let mut light = self.raft.advance(rd);
            if let Some(commit) = light.commit_index() {
                self.raft.mut_store().set_commit(commit);
                let hs = self.raft.store().hard_state().clone();
                raftlog::hard_state_record(&mut self.disk.append, &hs);
            }
            self.outbox.extend(light.take_messages());
            *conf_changed |= self.apply_entries(now, light.take_committed_entries());
            self.raft.advance_apply();
        }
    }

    /// After raft's cycle: compaction, leadership changes, leases, the encoded configuration.
    fn after_pump(&mut self, now: Instant, conf_changed: bool) {
        let snap_index = self.raft.store().snapshot_ref().get_metadata().index;
        if conf_changed || self.applied >= snap_index + SNAPSHOT_EVERY {
            // The snapshot carries the membership as applied: a restart never replays a
            // membership change against a log that already holds it.
            let conf = self.raft.raft.prs().conf().to_conf_state();
            let data = self.state.encode();
            let applied = self.applied;
            self.raft.mut_store().compact(applied, conf, data);
            self.disk.rewrite = Some(self.raft.store().encode_all());
            self.disk.append.clear();
        }
        let leading = self.raft.raft.state == StateRole::Leader;
        if leading != self.leading {
            self.leading = leading;
            if leading {
                self.start_leading(now);
            } else {
                self.stop_leading();
            }
        }
        // What follows from the configuration is redone when it changes, not per message
        // (a heartbeat steps the core too).
        if self.state.version != self.refreshed {
            self.refreshed = self.state.version;
            self.config_bytes.clear();
            self.state.config().encode(&mut self.config_bytes);
            if self.leading {
                self.sync_leases(now);
            }
        }
    }

    fn install_snapshot(&mut self, snap: raft::eraftpb::Snapshot) {
        match CoordState::decode(&snap.data) {
            Ok(st) if st.cluster == self.state.cluster || self.state.cluster == 0 => {
                let index = snap.get_metadata().index;
                self.state = st;
                self.applied = index;
                self.raft.mut_store().apply_snapshot(snap);
                self.disk.rewrite = Some(self.raft.store().encode_all());
                self.disk.append.clear();
                self.log.push(format!(
                    "installed the group's state at index {index}: configuration {}",
                    self.state.version
                ));
            }
            // Raft has taken it already: its view and the stored log would disagree.
            _ => self.fail("the leader sent a snapshot that does not decode as this cluster's state".into()),
        }
    }

    /// Applies committed entries to the state machine; true when the membership changed.
    fn apply_entries(&mut self, now: Instant, entries: Vec<raft::eraftpb::Entry>) -> bool {
        use protobuf::Message as _;
        let mut conf_changed = false;
        for e in entries {
            if e.index <= self.applied {
                continue;
            }
            self.applied = e.index;
            match e.get_entry_type() {
                EntryType::EntryConfChange => {
                    let Ok(cc) = raft::eraftpb::ConfChange::parse_from_bytes(&e.data) else { continue };
                    if self.raft.apply_conf_change(&cc).is_err() {
                        continue;
                    }
                    conf_changed = true;
                    let addr = String::from_utf8_lossy(&e.context).to_string();
                    match cc.get_change_type() {
                        ConfChangeType::RemoveNode => self.state.remove_coordinator(cc.node_id),
                        ConfChangeType::AddLearnerNode => {
                            self.state.add_coordinator(cc.node_id, &addr);
                            self.log.push(format!(
                                "coordinator {} at {addr} joined the group (catching up before it votes); configuration {}",
                                cc.node_id, self.state.version
                            ));
                        }
                        ConfChangeType::AddNode => {
                            if !self.state.coordinators.iter().any(|c| c.id == cc.node_id) {
                                self.state.add_coordinator(cc.node_id, &addr);
                            }
                            self.log.push(format!("coordinator {} at {addr} votes in the group", cc.node_id));
                        }
                    }
                    let cluster = self.state.cluster;
                    let mut done = Vec::new();
                    self.joining.retain(|(c, n, id)| {
                        if *id == cc.node_id {
                            done.push((*c, *n));
                        }
                        *id != cc.node_id
                    });
                    for (c, n) in done {
                        self.replies.push((c, n, Msg::Joined { cluster, id: cc.node_id }));
                    }
                }
                EntryType::EntryNormal if !e.data.is_empty() => {
                    let Ok(cmd) = Command::decode(&e.data) else {
                        self.log.push(format!("skipped log entry {}: it does not decode", e.index));
                        continue;
                    };
                    if let Command::Remove { server, .. } = &cmd {
                        self.removing.remove(server);
                    }
                    let (code, line) = self.state.apply(&cmd);
                    if let Some(l) = line {
                        self.log.push(l);
                    }
                    if let Some(p) = self.pending.remove(&(e.term, e.index)) {
                        self.answer(now, p, &cmd, code);
                    }
                }
                _ => {}
            }
        }
        conf_changed
    }

    /// The answer to an applied proposal of this leader, with its lease bookkeeping.
    fn answer(&mut self, now: Instant, p: Pending, cmd: &Command, code: CoordCode) {
        if let (Command::Register { server, fresh, .. }, CoordCode::Success) = (cmd, code) {
            let (server, fresh) = (*server, *fresh);
            self.suspects.remove(&server);
            self.avail_since.insert(server, self.state.version);
            if fresh {
                // A new process: the one before it serves nothing any more.
                self.granted.remove(&server);
            }
            // Another connection that claimed this server is no longer it.
            self.conn_server.retain(|_, s| *s != server);
            self.conn_server.insert(p.conn, server);
            self.deadline.insert(server, now + self.lease);
        }
        if let Command::Remove { server, state: ServerState::Shutdown, .. } = cmd {
            self.deadline.remove(server);
            self.granted.remove(server);
            self.suspects.remove(server);
        }
        self.replies.push((p.conn, p.nonce, Msg::CoordReply { code }));
    }

    /// This coordinator was elected: every available server gets a fresh lease before any
    /// may be declared failed (their daemons need time to find the new leader), and may
    /// hold a read lease granted by the previous leader until it certainly ran out.
    fn start_leading(&mut self, now: Instant) {
        let single = self.members() <= 1;
        self.first_leases = if single {
            (now, now)
        } else {
            // Daemons get FAILOVER_GRACE to find this leader. A deposed leader may grant
            // read leases until check-quorum makes it step down: within two election
            // timeouts (of up to 1 s each) of the last time a majority heard from it.
            (now + FAILOVER_GRACE, now + RAFT_TICK * (4 * ELECTION_TICKS) as u32)
        };
        self.deadline.clear();
        self.granted.clear();
        self.avail_since.clear();
        self.suspects.clear();
        self.sync_leases(now);
        if !single {
            self.log.push(format!("leading the coordinator group (term {})", self.raft.raft.term));
        }
    }

    /// Another coordinator leads now: the clients and daemons connected here must find it.
    fn stop_leading(&mut self) {
        self.log.push(format!("no longer leading (term {})", self.raft.raft.term));
        let mut conns: Vec<usize> = self.clients.drain().collect();
        conns.sort_unstable();
        self.close.extend(conns);
        self.pending.clear();
        self.joining.clear();
        self.removing.clear();
        self.waiters.clear();
        self.conn_server.clear();
        self.deadline.clear();
        self.granted.clear();
        self.suspects.clear();
        self.avail_since.clear();
    }

    /// A learner that has caught up with the log becomes a voter (one change at a time).
    /// True when it proposed one.
    fn promote_learners(&mut self) -> bool {
        if !self.leading || self.raft.raft.has_pending_conf() {
            return false;
        }
        let committed = self.raft.raft.raft_log.committed;
        let prs = self.raft.raft.prs();
        let mut ready: Vec<u64> = prs
            .conf()
            .learners()
            .iter()
            .copied()
            .filter(|id| prs.get(*id).is_some_and(|p| p.matched >= committed))
            .collect();
        ready.sort_unstable();
        let Some(id) = ready.first().copied() else { return false };
        let addr = self.peer_addr(id).unwrap_or_default().as_bytes().to_vec();
        let mut cc = raft::eraftpb::ConfChange::default();
        cc.set_change_type(ConfChangeType::AddNode);
        cc.node_id = id;
        self.raft.propose_conf_change(addr, cc).is_ok()
    }

    /// Servers that became available through entries applied here (e.g. registered with the
    /// previous leader) get a lease; servers no longer available lose theirs.
    fn sync_leases(&mut self, now: Instant) {
        // Early in a term, what the previous leader granted still counts: a server made
        // available by its entries (applied here only now) gets the same allowance as the
        // ones known at the election.
        let (grace_until, margin_until) = self.first_leases;
        for s in self.state.available() {
            if !self.deadline.contains_key(&s) && !self.removing.contains(&s) {
                self.deadline.insert(s, (now + self.lease).max(grace_until + self.lease));
                let read = (now + read_lease(self.lease)).max(margin_until + read_lease(self.lease));
                self.granted.entry(s).or_insert(read);
                self.avail_since.entry(s).or_insert(self.state.version);
            }
        }
        let state = &self.state;
        self.deadline.retain(|s, _| state.is_available(*s));
    }

    /// The effects of the steps since the last call. What must be durable comes first; a
    /// new configuration reaches every waiter before the answers of this pass (so once
    /// add_space returns, every follower already has the news in its socket).
    pub fn ready(&mut self) -> CoordReady {
        let mut out = CoordReady::default();
        if self.disk.rewrite.is_some() || !self.disk.append.is_empty() {
            out.disk = Some(std::mem::take(&mut self.disk));
        }
        if self.state.version != self.published {
            self.published = self.state.version;
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
        for m in self.outbox.drain(..) {
            use protobuf::Message as _;
            let to = m.to;
            let body = m.write_to_bytes().unwrap_or_default();
            let msg = Msg::Raft { cluster: self.state.cluster, from_addr: self.member.addr.clone(), body };
            out.raft.push((to, msg));
        }
        out.close = std::mem::take(&mut self.close);
        for c in &out.close {
            self.waiters.retain(|w| w.0 != *c);
            self.conn_server.remove(c);
            self.clients.remove(c);
        }
        out.log = std::mem::take(&mut self.log);
        out.fatal = self.fatal.clone();
        out
    }

    /// The raft store (for the shell's first write of a new log).
    pub fn store(&self) -> &LogStore {
        self.raft.store()
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

    /// A new space's replicas spread evenly: every server holds as many as any other, give
    /// or take one, whatever the cluster's random seed (a uniform random pick put all the
    /// regions of a space on one of two servers about once in 128 clusters).
    #[test]
    fn a_new_space_spreads_its_replicas_evenly() {
        let shapes = (2usize..=8).flat_map(|n| (0..n as u32).map(move |f| (n, f)));
        for (servers, f) in shapes {
            for (seed, partitions) in (0..40u64).zip([1u32, 2, 3, 5, 8, 13, 16].into_iter().cycle()) {
                let mut st = CoordState::new(seed);
                for i in 0..servers as u64 {
                    assert_eq!(st.register(1 + i, &format!("127.0.0.1:{}", 3000 + i)), CoordCode::Success);
                }
                let d = format!("space s key k attributes v create {partitions} partitions tolerate {f} failures");
                assert_eq!(st.add_space(&d), CoordCode::Success);
                let mut held = vec![0usize; servers];
                let mut heads = vec![0usize; servers];
                for r in &st.spaces[0].subspaces[0].regions {
                    assert_eq!(r.replicas.len(), f as usize + 1);
                    heads[r.replicas[0].server as usize - 1] += 1;
                    for p in &r.replicas {
                        held[p.server as usize - 1] += 1;
                    }
                }
                let spread = |v: &[usize]| v.iter().max().unwrap() - v.iter().min().unwrap();
                let shape = format!("seed {seed}, {servers} servers, f={f}, {partitions} partitions");
                assert!(spread(&held) <= 1, "{shape}: replicas held {held:?}");
                assert!(spread(&heads) <= 1, "{shape}: regions headed {heads:?}");
            }
        }
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
        assert!(r.disk.is_some());
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
        assert_eq!(v2, v, "the same processes registering again (another coordinator) change nothing");
        again.step(
            t0,
            CoordInput::Message { conn: 6, nonce: 0, msg: Msg::Report { server: 2, suspect: 1, version: v2 } },
        );
        assert!(again.state.config().available(1), "server 1 may hold a lease from before the restart");
        again.step(t0 + Duration::from_millis(500), CoordInput::Tick);
        assert!(!again.state.config().available(1));
    }

    /// Region ids must fit the daemons' 4-byte storage keys: a space whose ids would pass
    /// the largest is refused and changes nothing; one that fits exactly is added.
    #[test]
    fn a_space_whose_region_ids_would_not_fit_storage_keys_is_refused() {
        let max = crate::daemon::storage::MAX_REGION;
        let d = "space s key k attributes v create 4 partitions tolerate 0 failures";
        // Space, key subspace and its 4 regions: 6 ids.
        let mut st = CoordState::new(3);
        st.next_id = max - 4;
        let before = st.encode();
        assert_eq!(st.add_space(d), CoordCode::Malformed);
        assert_eq!(st.encode(), before, "nothing changed");
        let mut st = CoordState::new(3);
        st.next_id = max - 5;
        assert_eq!(st.add_space(d), CoordCode::Success);
        let top = st.spaces[0].subspaces[0].regions.iter().map(|r| r.id).max().unwrap();
        assert_eq!(top, max);
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

    /// Three cores wired directly: raft messages delivered at once, in order.
    struct Trio {
        cores: Vec<Option<Coordinator>>,
        now: Instant,
    }

    impl Trio {
        fn new(lease: Duration) -> Trio {
            let now = Instant::now();
            let mut st = CoordState::new(42);
            st.coordinators =
                (1..=3).map(|i| CoordinatorAddr { id: i, addr: format!("127.0.0.1:{}", 1981 + i) }).collect();
            let cores = (1..=3u64)
                .map(|id| {
                    let m = Member {
                        id,
                        addr: format!("127.0.0.1:{}", 1981 + id),
                        cluster: 42,
                        election_ticks: Some(8 + 2 * id as usize),
                    };
                    Some(
                        Coordinator::open(
                            m,
                            raftlog::LogStore::bootstrap_group(vec![1, 2, 3], st.encode()),
                            lease,
                            now,
                        )
                        .unwrap(),
                    )
                })
                .collect();
            Trio { cores, now }
        }

        /// Delivers every raft message until none is left; client answers are returned.
        fn settle(&mut self) -> Vec<(u64, usize, u64, Msg)> {
            let mut answers = Vec::new();
            loop {
                let mut msgs = Vec::new();
                for c in self.cores.iter_mut().flatten() {
                    let id = c.id();
                    let r = c.ready();
                    msgs.extend(r.raft);
                    answers.extend(r.send.into_iter().map(|(conn, n, m)| (id, conn, n, m)));
                }
                if msgs.is_empty() {
                    return answers;
                }
                for (to, m) in msgs {
                    if let Some(c) = self.cores[(to - 1) as usize].as_mut() {
                        c.step(self.now, CoordInput::Message { conn: 0, nonce: 0, msg: m });
                    }
                }
            }
        }

        /// Moves time on by `d` in ticks.
        fn advance(&mut self, d: Duration) {
            let end = self.now + d;
            while self.now < end {
                self.now += Duration::from_millis(10);
                for c in self.cores.iter_mut().flatten() {
                    c.step(self.now, CoordInput::Tick);
                }
                self.settle();
            }
        }

        fn leader(&mut self) -> usize {
            (0..3).find(|i| self.cores[*i].as_ref().is_some_and(|c| c.is_leader())).expect("a leader")
        }

        fn to(&mut self, i: usize, conn: usize, msg: Msg) {
            let now = self.now;
            self.cores[i].as_mut().unwrap().step(now, CoordInput::Message { conn, nonce: 1, msg });
        }
    }

    #[test]
    fn a_new_leader_gives_every_daemon_a_fresh_lease_before_declaring_any_failed() {
        let lease = Duration::from_secs(1);
        let mut g = Trio::new(lease);
        g.advance(Duration::from_secs(3));
        let l = g.leader();
        for s in 1..=2u64 {
            let addr = format!("127.0.0.1:{}", 2000 + s);
            g.to(l, s as usize, Msg::Register { server: s, addr, cluster: 0, fresh: true });
        }
        g.settle();
        g.advance(Duration::from_millis(100));
        let v = g.cores[l].as_ref().unwrap().state.version;
        for s in 1..=2u64 {
            g.to(l, s as usize, Msg::Heartbeat { server: s, version: v });
        }
        g.settle();
        // The leader dies; its successor is elected within a few election timeouts.
        g.cores[l] = None;
        let elected = {
            let mut waited = Duration::ZERO;
            loop {
                g.advance(Duration::from_millis(50));
                waited += Duration::from_millis(50);
                if (0..3).any(|i| g.cores[i].as_ref().is_some_and(|c| c.is_leader())) {
                    break waited;
                }
                assert!(waited < Duration::from_secs(5), "no new leader");
            }
        };
        let n = g.leader();
        assert_ne!(n, l);
        assert!(elected <= Duration::from_secs(2), "elected after {elected:?}");
        // Daemon 1 finds the new leader late, but within the grace; daemon 2 never does.
        // (Daemons may take up to 2 s to find the new leader, on top of their lease.)
        g.advance(lease + Duration::from_millis(1900));
        let st = &g.cores[n].as_ref().unwrap().state;
        assert!(st.is_available(1) && st.is_available(2), "an election evicted a daemon");
        let v = st.version;
        g.to(n, 11, Msg::Register { server: 1, addr: "127.0.0.1:2001".into(), cluster: 0, fresh: false });
        g.settle();
        g.to(n, 11, Msg::Heartbeat { server: 1, version: v });
        g.settle();
        g.advance(Duration::from_millis(300));
        let st = &g.cores[n].as_ref().unwrap().state;
        assert!(st.is_available(1), "the daemon that came back keeps its place");
        assert!(!st.is_available(2), "the silent one is declared failed once the grace is over");
        // Every coordinator applied the same changes.
        let other = (0..3).find(|i| *i != n && *i != l).unwrap();
        assert_eq!(g.cores[other].as_ref().unwrap().state.servers, g.cores[n].as_ref().unwrap().state.servers);
    }

    #[test]
    fn a_raft_message_that_breaks_raft_invariants_does_not_bring_the_coordinator_down() {
        use protobuf::Message as _;
        let t0 = Instant::now();
        let mut core = Coordinator::new(CoordState::new(9), Duration::from_secs(1), t0);
        reg(&mut core, t0, 1, 1);
        let v = core.state.version;
        assert!(core.is_leader());
        // A heartbeat of a later term whose commit index is far past the log.
        let mut m = raft::eraftpb::Message::default();
        m.set_msg_type(MessageType::MsgHeartbeat);
        m.from = 77;
        m.to = 1;
        m.term = 1000;
        m.commit = 1_000_000;
        let body = m.write_to_bytes().unwrap();
        let msg = Msg::Raft { cluster: 9, from_addr: "127.0.0.1:9".into(), body };
        core.step(t0, CoordInput::Message { conn: 5, nonce: 0, msg });
        let r = core.ready();
        assert!(r.close.contains(&5));
        assert!(r.log.iter().any(|l| l.contains("broke raft's invariants")), "{:?}", r.log);
        // Nothing applied; alone in its group it leads again and serves.
        assert_eq!(core.state.version, v);
        core.step(t0, CoordInput::Tick);
        assert!(core.is_leader());
        reg(&mut core, t0, 2, 2);
        assert!(core.state.version > v);
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
