//! A deterministic simulation of a whole cluster under failures: several daemon state
//! machines ([`Node`]) and the coordinator state machine ([`Coordinator`]) wired together by
//! an in-memory network, with simulated clients writing and reading a few keys while links
//! break, daemons are cut off from everyone, and daemons crash and come back.
//!
//! Everything is driven by one seeded generator, in one thread, on a simulated clock, so a
//! seed is a complete recipe for a run and a failing one can be replayed exactly. Each step
//! picks at random among the messages that are due, the daemons with storage work queued,
//! the faults whose time has come, and moving the clock to the next moment something is due
//! (a tick, a heartbeat, a retry, a delayed message); so messages race storage, timers and
//! each other in every order the seed comes up with. The seed also draws the run's shape:
//! f = 1 or 2, two to four clients, a few keys, an object cache that holds every object, a few or about one (so reads go to storage), how
//! fast clients go, how often messages are held back, and when the daemons start and the
//! space is added (before some daemons exist, so its regions are filled by state transfer).
//!
//! # What is modelled
//!
//! * **Connections** behave like TCP: each is a pair of FIFO byte streams between two
//!   endpoints (coordinator, a daemon, a client, the admin). A message is due after a random
//!   delay but never overtakes the messages queued before it on its stream; streams of
//!   different connections are independent, so messages between the same two daemons may
//!   be reordered when they travel on different connections (a daemon's own outbound
//!   connection versus the peer's). Nothing is lost on an open connection: a loss is always
//!   the whole connection breaking, which discards what it carried in both directions and
//!   tells both ends, the way the real shells learn it (a daemon gets `Input::Closed` with
//!   `peer: Some(..)` for its outbound connection to that peer, `peer: None` otherwise; the
//!   coordinator gets `CoordInput::Closed`; a client loses the operation it had on it).
//! * **The daemon shell** (`daemon/mod.rs`) is reproduced around each [`Node`]: it commits
//!   `Ready::floor` at once, queues `Ready::jobs` to a per-daemon storage queue that runs
//!   later, one job at a time at random moments (feeding `Input::Committed` after a round),
//!   runs `Ready::reads` (in most runs gets that miss the object cache read storage
//!   elsewhere, see `Node::read_elsewhere`) one at a time, in random order, at random
//!   moments (in some runs lagging far behind everything else), on the store as it is
//!   then, and feeds each back (`Input::Loaded`) at another random moment,
//!   sends `Ready::send` (opening an outbound connection per peer on demand; a peer that
//!   cannot be reached is fed as `Input::Unreachable`), closes `Ready::close`. It registers
//!   with the coordinator when it starts and whenever its coordinator connection was lost
//!   (retrying every 50 ms), keeps a `ConfigWait` outstanding, heartbeats every 100 ms,
//!   ticks the node every 100 ms, and registers again (once per version) when a
//!   configuration says it is not available.
//! * **The coordinator shell** ticks every 50 ms with a 1 s lease, delivers `send`, closes
//!   `close`, and every persisted configuration is checked as it is issued.
//! * **Clients** learn configurations from the coordinator (they keep a `ConfigWait` too),
//!   send one operation at a time to the point leader of the key under their newest
//!   configuration (when it is available there), and record a history: puts of unique
//!   values, deletes (`ERASE`; NOTFOUND means the delete observed an absent key) and gets.
//!   RECONFIGURE, OFFLINE or a lost connection make a write's outcome unknown and a read
//!   void.
//! * **Faults**, at random moments of a fault window, at most a handful per run (besides
//!   messages held back for up to 1.5 s, which may let a live daemon's lease lapse): a random
//!   connection breaks; a daemon is partitioned from everyone for a while (its connections
//!   break and no connection to or from it can be made until it heals); a daemon crashes
//!   (its node, its storage jobs not yet run and its connections are lost; its store keeps
//!   what was committed and the version floors) and restarts later from its store with a
//!   fresh node, a different wall clock, and registers again with the same id. At most f
//!   daemons are crashed or partitioned at once (f = 1 with 3 daemons, f = 2 with 4), so
//!   the cluster can always recover. The coordinator never fails.
//!
//! After the fault window everything heals, clients finish their operations, and the run
//! goes on until the cluster is quiet: the configuration is stable with every server
//! available and installed everywhere, nothing is queued on any connection or in storage
//! (heartbeats aside), and nothing happened for half a second of simulated time (several
//! ticks, so retries that were due would have shown up). A last client then reads every key
//! at its point leader, and the run waits for quiet again.
//!
//! # What is checked
//!
//! 1. **Linearizability** of every key's history (Wing & Gong's search, memoised on the set
//!    of operations placed and the register's value): acknowledged writes happened between
//!    invocation and answer, writes of unknown outcome happened at some point after their
//!    invocation or never, reads saw the latest write. Time is the simulation's event
//!    counter, so "returned before invoked" is exact.
//! 2. **Acknowledged writes survive**: the final read of each key returns a value that no
//!    acknowledged write came strictly after (a clearer message for the most important
//!    case of 1).
//! 3. **Convergence**: every replica of every region of the final configuration holds the
//!    same objects with the same versions and values; the final read equals what the head
//!    stores; an object is stored in exactly the region of subspace `n` its current value
//!    maps to (with the same version), and nowhere once deleted. Checked in every run that
//!    stayed within the failures the space tolerates, that is unless at some moment every
//!    replica of a region had lost its memory of the writes in flight (each crashed, or
//!    was removed from the chain, since it last joined the region by a transfer). At most
//!    f daemons are down at once, but a daemon removed while alive (its lease lapsed, or a
//!    peer reported it) counts as failed too, so a few percent of runs go beyond.
//! 4. **Configurations**: versions strictly grow; a region's chain is never left empty,
//!    always keeps a replica of the previous chain, and a server only enters a chain after
//!    joining it (state transfer).
//! 5. Every operation is answered at most once and only with the codes the model expects;
//!    the cluster becomes quiet within 90 simulated seconds of healing.
//!
//! # Running
//!
//! `cargo test --release -p hyperdex-server joint_sim` runs `JOINT_SIM_CASES` seeds (5000 by
//! default in release builds, a few seconds; 40 in debug builds). `JOINT_SIM_SEED=<n>` runs
//! that seed only; `JOINT_SIM_TRACE=1` prints every event (and the coordinator's log) as it
//! happens. Every failed seed prints one line; the test then fails with the first one in
//! full: what went wrong, the command that replays it, the run's parameters, the final
//! configuration, the coordinator's log and the last events.

use super::node::{load, Dest, Input, Job, Loaded, Node, ReadJob, StorageTask};
use super::sim_tests::MemStore;
use super::storage::{storage_key, Record, Store};
use crate::coordinator::{CoordInput, CoordState, Coordinator};
use hyperdex_core::config::{Configuration, Region, ServerState};
use hyperdex_core::ops::{Func, FuncOp};
use hyperdex_core::proto::{flags, Msg};
use hyperdex_core::{CoordCode, DataType, ReturnCode};
use std::collections::{BTreeMap, BTreeSet, HashSet, VecDeque};
use std::fmt::Write as _;
use std::time::{Duration, Instant};

/// xorshift64*.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        let mut r = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
        for _ in 0..4 {
            r.next();
        }
        r
    }
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
    /// A duration between `lo` and `hi` milliseconds, in microsecond steps.
    fn ms(&mut self, lo: u64, hi: u64) -> Duration {
        Duration::from_micros(lo * 1000 + self.below((hi - lo) * 1000 + 1))
    }
}

const TICK: Duration = Duration::from_millis(100);
const COORD_TICK: Duration = Duration::from_millis(50);
const COORD_RETRY: Duration = Duration::from_millis(50);
const LEASE: Duration = Duration::from_secs(1);
/// How long nothing may happen before the cluster counts as quiet.
const QUIET: Duration = Duration::from_millis(500);
/// How long after healing the cluster has to become quiet.
const SETTLE_LIMIT: Duration = Duration::from_secs(90);
/// Daemons' wall clocks start about here (nanoseconds), each skewed by a few seconds.
const CLOCK_BASE: u64 = 1_700_000_000_000_000_000;
const TRACE_KEPT: usize = 120;

/// One end of a connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum End {
    Coord,
    Daemon(u64),
    Client(usize),
    Admin,
}

struct Packet {
    at: Duration,
    nonce: u64,
    msg: Msg,
}

/// A connection: `q[i]` carries what `ends[i]` sends, in order. `ends[0]` opened it.
struct Conn {
    ends: [End; 2],
    q: [VecDeque<Packet>; 2],
}

struct Daemon {
    id: u64,
    /// None while crashed.
    node: Option<Node<MemStore>>,
    /// The store while crashed.
    disk: Option<MemStore>,
    /// Storage jobs handed out and not yet run, oldest first.
    jobs: VecDeque<Job>,
    /// Storage reads handed out and not yet run (they run in any order).
    reads: Vec<ReadJob>,
    /// Storage reads run and not yet fed back (fed in any order, and other work may come
    /// between a read and its feeding, as between a reader thread and the event loop).
    loaded: Vec<(ReadJob, Loaded)>,
    coord: Option<usize>,
    coord_retry: Duration,
    /// Outbound connections to peers.
    peers: BTreeMap<u64, usize>,
    /// The cluster its data belongs to (kept across restarts, like the identity file).
    cluster: u64,
    reregistered: u64,
    /// This process has registered once (its next registrations are not `fresh`).
    registered: bool,
    next_tick: Duration,
    restart_at: Option<Duration>,
    partitioned_until: Option<Duration>,
}

impl Daemon {
    fn addr(&self) -> String {
        format!("127.0.0.1:{}", 2000 + self.id)
    }
    fn up(&self) -> bool {
        self.node.is_some()
    }
    fn impaired(&self) -> bool {
        self.node.is_none() || self.partitioned_until.is_some()
    }
}

struct Pending {
    conn: usize,
    nonce: u64,
    hist: usize,
}

struct Client {
    cfg: Option<Configuration>,
    /// Learns configurations from the coordinator (the final reader is handed one).
    follows: bool,
    coord: Option<usize>,
    coord_retry: Duration,
    conns: BTreeMap<u64, usize>,
    pending: Option<Pending>,
    left: usize,
    next_op: Duration,
    /// Keys to read, in order (the final reader).
    script: VecDeque<u8>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Outcome {
    Pending,
    Ok(u64),
    Unknown,
    Failed,
}

/// One operation of the history. `val`: the value written (None: delete) or read (None:
/// absent).
#[derive(Clone, Debug)]
struct HOp {
    client: usize,
    key: u8,
    write: bool,
    val: Option<i64>,
    inv: u64,
    outcome: Outcome,
    /// A delete answered NOTFOUND: it observed the key absent (checked as a read).
    found_nothing: bool,
}

impl HOp {
    fn resp(&self) -> u64 {
        match self.outcome {
            Outcome::Ok(t) => t,
            _ => u64::MAX,
        }
    }
    fn describe(&self) -> String {
        let what = match (self.write, self.val) {
            (true, Some(v)) => format!("put {v}"),
            (true, None) => "del".to_string(),
            (false, Some(v)) => format!("read {v}"),
            (false, None) if self.found_nothing => "del -> NOTFOUND (saw <absent>)".to_string(),
            (false, None) => "read <absent>".to_string(),
        };
        let end = match self.outcome {
            Outcome::Ok(t) => format!("#{t}"),
            o => format!("{o:?}"),
        };
        format!("client {} {what} [#{} .. {end}]", self.client, self.inv)
    }
}

#[derive(Clone, Copy, Debug)]
enum Detail {
    None,
    N(u64),
    Nn(u64, u64),
    Rc(ReturnCode),
    Code(CoordCode),
    Chain {
        key: u8,
        op: u64,
        hop: u16,
    },
    /// A chain write: its version's last digits and its path (server ids; a region's first
    /// hop is marked with 0x80).
    ChainOp {
        key: u8,
        op: u64,
        hop: u16,
        v: u32,
        path: [u8; 16],
    },
}

#[derive(Clone, Copy, Debug)]
enum EvKind {
    Deliver { conn: usize, from: End, to: End, msg: &'static str, d: Detail },
    Job { server: u64, round: u64 },
    Closed { conn: usize, a: End, b: End },
    Crash(u64),
    Restart(u64),
    Partition(u64),
    Heal(u64),
    Config(u64),
    Invoke { client: usize, hist: usize, key: u8, write: bool, val: Option<i64> },
    Done { client: usize, hist: usize, outcome: Outcome },
    FinalReads,
}

#[derive(Clone, Copy)]
struct Ev {
    at: Duration,
    seq: u64,
    kind: EvKind,
}

impl std::fmt::Display for End {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            End::Coord => write!(f, "coordinator"),
            End::Daemon(s) => write!(f, "server {s}"),
            End::Client(c) => write!(f, "client {c}"),
            End::Admin => write!(f, "admin"),
        }
    }
}

impl std::fmt::Display for Detail {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Detail::None => Ok(()),
            Detail::N(a) => write!(f, " {a}"),
            Detail::Nn(a, b) => write!(f, " {a} {b}"),
            Detail::Rc(rc) => write!(f, " {rc:?}"),
            Detail::Code(c) => write!(f, " {c:?}"),
            Detail::Chain { key, op, hop } => write!(f, " key {key} op ..{op} hop {hop}"),
            Detail::ChainOp { key, op, hop, v, path } => {
                write!(f, " key {key} op ..{op} hop {hop} version ..{v:04} path")?;
                for (i, s) in path.iter().take_while(|s| **s != 0).enumerate() {
                    let sep = if i == 0 {
                        " "
                    } else if s & 0x80 != 0 {
                        " | "
                    } else {
                        ","
                    };
                    write!(f, "{sep}{}", s & 0x7f)?;
                }
                Ok(())
            }
        }
    }
}

impl std::fmt::Display for Ev {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:>10.3} ms  #{:<6} ", self.at.as_secs_f64() * 1000.0, self.seq)?;
        match self.kind {
            EvKind::Deliver { conn, from, to, msg, d } => write!(f, "{from} -> {to} (conn {conn}): {msg}{d}"),
            EvKind::Job { server, round: 0 } => write!(f, "server {server} storage: task"),
            EvKind::Job { server, round } => write!(f, "server {server} storage: round {round}"),
            EvKind::Closed { conn, a, b } => write!(f, "conn {conn} ({a} -> {b}) broke"),
            EvKind::Crash(s) => write!(f, "server {s} CRASHES"),
            EvKind::Restart(s) => write!(f, "server {s} starts"),
            EvKind::Partition(s) => write!(f, "server {s} PARTITIONED"),
            EvKind::Heal(s) => write!(f, "server {s} partition healed"),
            EvKind::Config(v) => write!(f, "coordinator issues configuration {v}"),
            EvKind::Invoke { client, hist, key, write, val } => {
                let what = match (write, val) {
                    (true, Some(v)) => format!("put {v}"),
                    (true, None) => "del".into(),
                    _ => "get".into(),
                };
                write!(f, "client {client} invokes op {hist}: key {key} {what}")
            }
            EvKind::Done { client, hist, outcome } => write!(f, "client {client} op {hist} ends {outcome:?}"),
            EvKind::FinalReads => write!(f, "quiet: final reads"),
        }
    }
}

fn msg_info(m: &Msg) -> (&'static str, Detail) {
    let key0 = |k: &[u8]| k.get(1).copied().unwrap_or(0) as u64;
    match m {
        Msg::ConfigWait { have } => ("ConfigWait", Detail::N(*have)),
        Msg::Config { config } => ("Config", Detail::N(Configuration::decode(config).map(|c| c.version).unwrap_or(0))),
        Msg::AddSpace { .. } => ("AddSpace", Detail::None),
        Msg::Register { server, .. } => ("Register", Detail::N(*server)),
        Msg::Heartbeat { version, .. } => ("Heartbeat", Detail::N(*version)),
        Msg::HeartbeatAck { lease_ms } => ("HeartbeatAck", Detail::N(*lease_ms)),
        Msg::Report { suspect, version, .. } => ("Report(suspect, version)", Detail::Nn(*suspect, *version)),
        Msg::TransferDone { region, target, .. } => ("TransferDone(region, target)", Detail::Nn(*region, *target)),
        Msg::TransferData { region, seq, .. } => ("TransferData(region, seq)", Detail::Nn(*region, *seq)),
        Msg::TransferAck { region, seq, .. } => ("TransferAck(region, seq)", Detail::Nn(*region, *seq)),
        Msg::TransferSummary { region, entries, .. } => {
            ("TransferSummary(region, keys)", Detail::Nn(*region, entries.len() as u64))
        }
        Msg::TransferWant { region, keys, .. } => {
            ("TransferWant(region, keys)", Detail::Nn(*region, keys.len() as u64))
        }
        Msg::CoordReply { code } => ("CoordReply", Detail::Code(*code)),
        Msg::Get { key, .. } => ("Get(key)", Detail::N(key0(key))),
        Msg::GetReply { rc, .. } => ("GetReply", Detail::Rc(*rc)),
        Msg::Atomic { key, .. } => ("Atomic(key)", Detail::N(key0(key))),
        Msg::AtomicReply { rc } => ("AtomicReply", Detail::Rc(*rc)),
        Msg::ChainOp { key, op, hop, obj_version, hops, .. } => {
            let mut path = [0u8; 16];
            for (i, h) in hops.iter().take(16).enumerate() {
                let first = i == 0 || hops[i - 1].region != h.region;
                path[i] = (h.server as u8 & 0x7f) | if first { 0x80 } else { 0 };
            }
            let v = (obj_version % 10_000) as u32;
            ("ChainOp", Detail::ChainOp { key: key0(key) as u8, op: op % 1_000_000_000, hop: *hop, v, path })
        }
        Msg::ChainAck { op, hop, .. } => ("ChainAck", Detail::Chain { key: 0, op: op % 1_000_000_000, hop: *hop }),
        Msg::ChainFail { op, hop, .. } => ("ChainFail", Detail::Chain { key: 0, op: op % 1_000_000_000, hop: *hop }),
        _ => ("other", Detail::None),
    }
}

/// The shape of one run, drawn from its seed.
#[derive(Clone, Debug)]
struct Params {
    f: u32,
    daemons: usize,
    clients: usize,
    ops_per_client: usize,
    keys: u8,
    cache: usize,
    think_ms: u64,
    /// Per mille of messages held back 20-300 ms, and per ten thousand held back 0.3-1.5 s.
    slow: u64,
    very_slow: u64,
    admin_at: Duration,
    fault_end: Duration,
    /// When faults strike.
    faults: Vec<Duration>,
    /// Gets that miss the object cache read storage later ([`Node::read_elsewhere`]).
    read_elsewhere: bool,
    /// Per cent of steps in which reads may not run (so that they lag behind writes).
    read_lag: u64,
}

impl Params {
    fn draw(rng: &mut Rng) -> Params {
        let f = 1 + rng.below(2) as u32;
        let fault_end = rng.ms(2500, 6000);
        let n = [0, 1, 2, 2, 3, 3, 4, 5, 6, 8][rng.below(10) as usize];
        let mut faults: Vec<Duration> = (0..n).map(|_| rng.ms(150, fault_end.as_millis() as u64)).collect();
        faults.sort();
        Params {
            f,
            daemons: f as usize + 2,
            clients: 2 + rng.below(3) as usize,
            ops_per_client: 6 + rng.below(20) as usize,
            keys: 2 + rng.below(3) as u8,
            cache: [1 << 30, 1 << 30, 2048, 150][rng.below(4) as usize],
            think_ms: [2, 30, 150][rng.below(3) as usize],
            slow: [0, 5, 30][rng.below(3) as usize],
            very_slow: [0, 0, 20][rng.below(3) as usize],
            admin_at: rng.ms(0, 300),
            fault_end,
            faults,
            read_elsewhere: rng.chance(70),
            read_lag: [0, 90, 99][rng.below(3) as usize],
        }
    }
}

enum Notice {
    Coord(usize),
    Daemon(u64, usize, Option<u64>),
}

#[derive(Clone, Copy)]
enum Act {
    Deliver(usize, usize),
    Job(usize),
    Read(usize),
    Feed(usize),
    Fault,
}

#[derive(Default, Clone, Copy)]
struct Stats {
    events: u64,
    sim_time: Duration,
    drops: u64,
    partitions: u64,
    crashes: u64,
    configs: u64,
    ops: u64,
    unknown: u64,
    /// Runs beyond the failures a space tolerates: every replica of some region failed
    /// (crashed, or was removed from the chain) before the region was whole again, so no
    /// replica kept its memory of the writes in flight.
    beyond: u64,
}

struct Sim {
    p: Params,
    rng: Rng,
    t0: Instant,
    now: Duration,
    /// Every event gets the next number: the history's clock.
    seq: u64,
    coord: Coordinator,
    coord_tick: Duration,
    daemons: Vec<Daemon>,
    clients: Vec<Client>,
    conns: BTreeMap<usize, Conn>,
    next_conn: usize,
    next_nonce: u64,
    next_value: i64,
    notices: VecDeque<Notice>,
    hist: Vec<HOp>,
    last_cfg: Option<Configuration>,
    /// Per region, the servers that lost their memory of it (crashed, or left its chain)
    /// and have not joined it again by a transfer since.
    lost: BTreeMap<u64, BTreeSet<u64>>,
    admin_sent: bool,
    admin_done: bool,
    /// Faults of `p.faults` whose time has come (the next to come: `next_fault`).
    next_fault: usize,
    fault_pending: u32,
    healed: bool,
    last_activity: Duration,
    trace: VecDeque<Ev>,
    trace_all: bool,
    log: VecDeque<(Duration, String)>,
    error: Option<String>,
    stats: Stats,
}

fn idx(server: u64) -> usize {
    server as usize - 1
}

fn key_bytes(k: u8) -> Vec<u8> {
    vec![b'k', k]
}

impl Sim {
    fn new(seed: u64) -> Sim {
        let mut rng = Rng::new(seed);
        let p = Params::draw(&mut rng);
        let t0 = Instant::now();
        let cluster = rng.next() | 1;
        let mut sim = Sim {
            rng,
            t0,
            now: Duration::ZERO,
            seq: 0,
            coord: Coordinator::new(CoordState::new(cluster), LEASE, t0),
            coord_tick: COORD_TICK,
            daemons: Vec::new(),
            clients: Vec::new(),
            conns: BTreeMap::new(),
            next_conn: 100,
            next_nonce: 1,
            next_value: 1,
            notices: VecDeque::new(),
            hist: Vec::new(),
            last_cfg: None,
            lost: BTreeMap::new(),
            admin_sent: false,
            admin_done: false,
            next_fault: 0,
            fault_pending: 0,
            healed: false,
            last_activity: Duration::ZERO,
            trace: VecDeque::new(),
            trace_all: std::env::var_os("JOINT_SIM_TRACE").is_some(),
            log: VecDeque::new(),
            error: None,
            stats: Stats::default(),
            p,
        };
        for i in 0..sim.p.daemons {
            let id = i as u64 + 1;
            let start = sim.rng.ms(0, 200);
            sim.daemons.push(Daemon {
                id,
                node: None,
                disk: Some(MemStore::default()),
                jobs: VecDeque::new(),
                reads: Vec::new(),
                loaded: Vec::new(),
                coord: None,
                coord_retry: Duration::ZERO,
                peers: BTreeMap::new(),
                cluster: 0,
                reregistered: 0,
                registered: false,
                next_tick: Duration::ZERO,
                restart_at: Some(start),
                partitioned_until: None,
            });
        }
        for i in 0..=sim.p.clients {
            let reader = i == sim.p.clients;
            sim.clients.push(Client {
                cfg: None,
                follows: !reader,
                coord: None,
                coord_retry: Duration::ZERO,
                conns: BTreeMap::new(),
                pending: None,
                left: if reader { 0 } else { sim.p.ops_per_client },
                next_op: Duration::ZERO,
                script: VecDeque::new(),
            });
        }
        sim
    }

    fn at(&self) -> Instant {
        self.t0 + self.now
    }

    fn fail(&mut self, why: String) {
        if self.error.is_none() {
            self.error = Some(why);
        }
    }

    fn ev(&mut self, kind: EvKind) {
        self.seq += 1;
        let e = Ev { at: self.now, seq: self.seq, kind };
        if self.trace_all {
            eprintln!("{e}");
        }
        // Heartbeats and configuration waits would crowd out everything else.
        if let EvKind::Deliver { msg: "Heartbeat" | "HeartbeatAck" | "ConfigWait", .. } = kind {
            return;
        }
        if self.trace.len() == TRACE_KEPT {
            self.trace.pop_front();
        }
        self.trace.push_back(e);
    }

    // ---- the network ----

    fn reachable(&self, e: End) -> bool {
        match e {
            End::Daemon(s) => {
                let d = &self.daemons[idx(s)];
                d.up() && d.partitioned_until.is_none()
            }
            _ => true,
        }
    }

    fn open_conn(&mut self, a: End, b: End) -> Option<usize> {
        if !self.reachable(a) || !self.reachable(b) {
            return None;
        }
        let id = self.next_conn;
        self.next_conn += 1;
        self.conns.insert(id, Conn { ends: [a, b], q: Default::default() });
        Some(id)
    }

    fn delay(&mut self) -> Duration {
        // Messages held back for long are a fault too (a lease may lapse): not once healed.
        let (very_slow, slow) = if self.healed { (0, 0) } else { (self.p.very_slow, self.p.slow * 10) };
        let r = self.rng.below(10_000);
        if r < very_slow {
            self.rng.ms(300, 1500)
        } else if r < very_slow + slow {
            self.rng.ms(20, 300)
        } else if r < 8000 {
            Duration::from_micros(self.rng.below(2000))
        } else {
            self.rng.ms(2, 20)
        }
    }

    fn push(&mut self, cid: usize, from: End, nonce: u64, msg: Msg) {
        let due = self.now + self.delay();
        let Some(c) = self.conns.get_mut(&cid) else { return };
        let Some(side) = c.ends.iter().position(|e| *e == from) else {
            return self.fail(format!("{from} sent {} on connection {cid}, which is not its own", msg_info(&msg).0));
        };
        let at = c.q[side].back().map_or(due, |p| p.at.max(due));
        c.q[side].push_back(Packet { at, nonce, msg });
    }

    /// Breaks connection `cid`: what it carried is lost, both ends hear of it.
    fn close_conn(&mut self, cid: usize) {
        let Some(c) = self.conns.remove(&cid) else { return };
        self.last_activity = self.now;
        self.ev(EvKind::Closed { conn: cid, a: c.ends[0], b: c.ends[1] });
        for k in 0..2 {
            let other = c.ends[1 - k];
            match c.ends[k] {
                End::Coord => self.notices.push_back(Notice::Coord(cid)),
                End::Admin => self.fail("the admin connection broke".into()),
                End::Daemon(s) => {
                    let now = self.now;
                    let d = &mut self.daemons[idx(s)];
                    if d.coord == Some(cid) {
                        // The shell reconnects and registers again.
                        d.coord = None;
                        d.coord_retry = now + COORD_RETRY;
                    } else if d.up() {
                        let peer = match (k, other) {
                            (0, End::Daemon(o)) => Some(o),
                            _ => None,
                        };
                        if let Some(o) = peer {
                            if d.peers.get(&o) == Some(&cid) {
                                d.peers.remove(&o);
                            }
                        }
                        self.notices.push_back(Notice::Daemon(s, cid, peer));
                    }
                }
                End::Client(ci) => self.client_lost(ci, cid),
            }
        }
    }

    fn process_notices(&mut self) {
        while let Some(n) = self.notices.pop_front() {
            match n {
                Notice::Coord(cid) => {
                    let at = self.at();
                    self.coord.step(at, CoordInput::Closed { conn: cid });
                    self.coord_drain();
                }
                Notice::Daemon(s, cid, peer) => {
                    if self.daemons[idx(s)].up() {
                        self.feed(s, Input::Closed { conn: cid, peer });
                    }
                }
            }
        }
    }

    fn deliver(&mut self, cid: usize, side: usize) {
        let c = self.conns.get_mut(&cid).expect("a due connection");
        let p = c.q[side].pop_front().expect("a due message");
        let (from, to) = (c.ends[side], c.ends[1 - side]);
        let (name, d) = msg_info(&p.msg);
        self.ev(EvKind::Deliver { conn: cid, from, to, msg: name, d });
        if !matches!(p.msg, Msg::Heartbeat { .. } | Msg::HeartbeatAck { .. }) {
            self.last_activity = self.now;
        }
        match to {
            End::Coord => {
                let at = self.at();
                self.coord.step(at, CoordInput::Message { conn: cid, nonce: p.nonce, msg: p.msg });
                self.coord_drain();
            }
            End::Daemon(s) if from == End::Coord => self.daemon_from_coord(s, cid, p.nonce, p.msg),
            End::Daemon(s) => {
                let from = match from {
                    End::Daemon(o) => Some(o),
                    _ => None,
                };
                self.feed(s, Input::Message { conn: cid, from, nonce: p.nonce, msg: p.msg });
            }
            End::Client(c) if from == End::Coord => self.client_config(c, p.msg),
            End::Client(c) => self.client_reply(c, cid, p.nonce, p.msg),
            End::Admin => match p.msg {
                Msg::CoordReply { code: CoordCode::Success } => self.admin_done = true,
                m => self.fail(format!("adding the space was answered {m:?}")),
            },
        }
    }

    // ---- the coordinator shell ----

    fn coord_drain(&mut self) {
        let r = self.coord.ready();
        for line in r.log {
            if self.trace_all {
                eprintln!("{:>10.3} ms  coordinator: {line}", self.now.as_secs_f64() * 1000.0);
            }
            if self.log.len() == 40 {
                self.log.pop_front();
            }
            self.log.push_back((self.now, line));
        }
        // A raft write without a new configuration (a commit index) has nothing to check.
        if r.disk.is_some() && self.last_cfg.as_ref().is_none_or(|c| c.version != self.coord.state.version) {
            self.check_config();
        }
        for (cid, nonce, msg) in r.send {
            if self.conns.contains_key(&cid) {
                self.push(cid, End::Coord, nonce, msg);
            }
        }
        for cid in r.close {
            self.close_conn(cid);
        }
    }

    /// Property 4, on every configuration the coordinator persists.
    fn check_config(&mut self) {
        let cfg = self.coord.state.config();
        self.stats.configs += 1;
        self.ev(EvKind::Config(cfg.version));
        if self.trace_all {
            eprintln!("{}", chains(&cfg));
        }
        let offline = cfg
            .spaces
            .iter()
            .flat_map(|sp| &sp.subspaces)
            .flat_map(|ss| &ss.regions)
            .any(|r| !r.replicas.is_empty() && !r.replicas.iter().any(|p| cfg.available(p.server)));
        if offline {
            self.stats.beyond = 1;
        }
        // Who left a chain, and who joined one (with a fresh copy).
        if let Some(last) = &self.last_cfg {
            for sp in &last.spaces {
                let Some(nsp) = cfg.space_by_id(sp.id) else { continue };
                for (ss, nss) in sp.subspaces.iter().zip(&nsp.subspaces) {
                    for (r, nr) in ss.regions.iter().zip(&nss.regions) {
                        let lost = self.lost.entry(r.id).or_default();
                        for p in r.replicas.iter().chain(&r.joining) {
                            if !nr.replicas.contains(p) && !nr.joining.contains(p) {
                                lost.insert(p.server);
                            }
                        }
                        for p in nr.replicas.iter().filter(|p| !r.replicas.contains(p)) {
                            lost.remove(&p.server);
                        }
                    }
                }
            }
        }
        self.check_lost(&cfg);
        if let Some(last) = &self.last_cfg {
            let mut bad = Vec::new();
            if cfg.version <= last.version {
                bad.push(format!("version {} issued after {}", cfg.version, last.version));
            }
            for sp in &last.spaces {
                let Some(nsp) = cfg.space_by_id(sp.id) else { continue };
                for (ss, nss) in sp.subspaces.iter().zip(&nsp.subspaces) {
                    for (r, nr) in ss.regions.iter().zip(&nss.regions) {
                        if r.replicas.is_empty() {
                            continue;
                        }
                        if nr.replicas.is_empty() {
                            bad.push(format!("region {} lost its last replica", r.id));
                        } else if !nr.replicas.iter().any(|p| r.replicas.contains(p)) {
                            bad.push(format!("region {}: chain {:?} replaced by {:?}", r.id, r.replicas, nr.replicas));
                        }
                        for p in nr.replicas.iter().filter(|p| !r.replicas.contains(p)) {
                            if !r.joining.contains(p) {
                                bad.push(format!("region {}: {p:?} entered the chain without a transfer", r.id));
                            }
                        }
                    }
                }
            }
            if !bad.is_empty() {
                self.fail(format!("configuration {} is wrong: {}", cfg.version, bad.join("; ")));
            }
        }
        self.last_cfg = Some(cfg);
    }

    // ---- the daemon shell ----

    /// Steps daemon `s` with `input`, then carries out its Ready.
    fn feed(&mut self, s: u64, input: Input) {
        let at = self.at();
        let Some(node) = self.daemons[idx(s)].node.as_mut() else { return };
        node.step(at, input);
        self.drain(s);
    }

    fn drain(&mut self, s: u64) {
        let i = idx(s);
        loop {
            let Some(node) = self.daemons[i].node.as_mut() else { return };
            let ready = node.ready();
            if ready.is_empty() {
                return;
            }
            if let Some(w) = ready.floor {
                node.store.commit(vec![w]).unwrap();
            }
            self.daemons[i].jobs.extend(ready.jobs);
            self.daemons[i].reads.extend(ready.reads);
            if self.trace_all {
                for line in &ready.log {
                    eprintln!("{:>10.3} ms  server {s}: {line}", self.now.as_secs_f64() * 1e3);
                }
            }
            // Messages for a connection being closed are lost with it.
            for t in ready.close {
                self.close_conn(t);
            }
            let mut lost = Vec::new();
            for (dest, nonce, msg) in ready.send {
                match dest {
                    Dest::Coordinator => {
                        if let Some(c) = self.daemons[i].coord {
                            self.push(c, End::Daemon(s), nonce, msg);
                        }
                    }
                    Dest::Conn(t) => {
                        if self.conns.contains_key(&t) {
                            self.push(t, End::Daemon(s), nonce, msg);
                        }
                    }
                    Dest::Server(to) => match self.peer_conn(s, to) {
                        Some(t) => self.push(t, End::Daemon(s), nonce, msg),
                        None => lost.push(to),
                    },
                }
            }
            lost.sort_unstable();
            lost.dedup();
            let at = self.at();
            if let Some(node) = self.daemons[i].node.as_mut() {
                for to in lost {
                    node.step(at, Input::Unreachable(to));
                }
            }
        }
    }

    /// The outbound connection from daemon `s` to daemon `to`, opened if need be.
    fn peer_conn(&mut self, s: u64, to: u64) -> Option<usize> {
        let d = &self.daemons[idx(s)];
        if let Some(t) = d.peers.get(&to) {
            return Some(*t);
        }
        d.node.as_ref()?.config.server_addr(to)?;
        if to == s || to == 0 || to as usize > self.daemons.len() {
            return None;
        }
        let t = self.open_conn(End::Daemon(s), End::Daemon(to))?;
        self.daemons[idx(s)].peers.insert(to, t);
        Some(t)
    }

    fn daemon_connect(&mut self, s: u64) {
        let i = idx(s);
        self.daemons[i].coord_retry = self.now + COORD_RETRY;
        if let Some(t) = self.open_conn(End::Daemon(s), End::Coord) {
            let d = &mut self.daemons[i];
            d.coord = Some(t);
            let m = Msg::Register { server: s, addr: d.addr(), cluster: d.cluster, fresh: !d.registered };
            self.push(t, End::Daemon(s), 1, m);
        }
    }

    /// What the daemon shell does with a message from the coordinator.
    fn daemon_from_coord(&mut self, s: u64, cid: usize, nonce: u64, msg: Msg) {
        let i = idx(s);
        match msg {
            Msg::HeartbeatAck { lease_ms } => {
                self.feed(s, Input::HeartbeatAck { nonce, lease: Duration::from_millis(lease_ms) })
            }
            Msg::CoordReply { code } => {
                if code != CoordCode::Success {
                    return self.fail(format!("the coordinator refused to register server {s}: {code:?}"));
                }
                self.daemons[i].registered = true;
                let have = self.daemons[i].node.as_ref().map_or(0, |n| n.config.version);
                self.push(cid, End::Daemon(s), 2, Msg::ConfigWait { have });
            }
            Msg::Config { config } => {
                let Ok(cfg) = Configuration::decode(&config) else {
                    return self.fail("a configuration does not decode".into());
                };
                let v = cfg.version;
                let state = cfg.server_state(s);
                if self.daemons[i].cluster == 0 {
                    self.daemons[i].cluster = cfg.cluster;
                }
                self.feed(s, Input::Config(cfg));
                let Some(c) = self.daemons[i].coord else { return };
                self.push(c, End::Daemon(s), 2, Msg::ConfigWait { have: v });
                let d = &mut self.daemons[i];
                if state != Some(ServerState::Available) && d.reregistered < v {
                    d.reregistered = v;
                    let m = Msg::Register { server: s, addr: d.addr(), cluster: d.cluster, fresh: !d.registered };
                    self.push(c, End::Daemon(s), 1, m);
                }
            }
            _ => self.close_conn(cid),
        }
    }

    /// Runs one of daemon `i`'s storage reads, picked at random, on its store as it is now
    /// (it is fed back by a later step: `feed_read`).
    fn run_read(&mut self, i: usize) {
        let n = self.daemons[i].reads.len() as u64;
        if n == 0 {
            return;
        }
        let pick = self.rng.below(n) as usize;
        self.last_activity = self.now;
        let d = &mut self.daemons[i];
        let job = d.reads.swap_remove(pick);
        let Some(node) = d.node.as_ref() else { return };
        let loaded = load(&node.store, &job.skey);
        d.loaded.push((job, loaded));
    }

    /// Feeds one of daemon `i`'s reads that ran, picked at random, back to its node.
    fn feed_read(&mut self, i: usize) {
        let n = self.daemons[i].loaded.len() as u64;
        if n == 0 {
            return;
        }
        let pick = self.rng.below(n) as usize;
        self.last_activity = self.now;
        let s = self.daemons[i].id;
        let done = self.daemons[i].loaded.swap_remove(pick);
        self.feed(s, Input::Loaded(vec![done]));
    }

    fn run_job(&mut self, i: usize) {
        let Some(job) = self.daemons[i].jobs.pop_front() else { return };
        let s = self.daemons[i].id;
        self.last_activity = self.now;
        let round = match &job {
            Job::Round(r, _) => *r,
            Job::Task(_) => 0,
        };
        self.ev(EvKind::Job { server: s, round });
        let Some(node) = self.daemons[i].node.as_mut() else { return };
        match job {
            Job::Round(r, writes) => {
                node.store.commit(writes).unwrap();
                self.feed(s, Input::Committed(r));
            }
            Job::Task(StorageTask::DropRegion(region)) => {
                node.store.drop_region(region).unwrap();
                self.drain(s);
            }
        }
    }

    /// Whether every replica of some region has lost its memory of it (see `Stats::beyond`).
    fn check_lost(&mut self, cfg: &Configuration) {
        let all_lost = cfg.spaces.iter().flat_map(|sp| &sp.subspaces).flat_map(|ss| &ss.regions).any(|r| {
            !r.replicas.is_empty()
                && self.lost.get(&r.id).is_some_and(|l| r.replicas.iter().all(|p| l.contains(&p.server)))
        });
        if all_lost {
            self.stats.beyond = 1;
        }
    }

    fn crash(&mut self, s: u64) {
        let i = idx(s);
        self.ev(EvKind::Crash(s));
        self.stats.crashes += 1;
        let cfg = self.coord.state.config();
        for r in cfg.spaces.iter().flat_map(|sp| &sp.subspaces).flat_map(|ss| &ss.regions) {
            if r.replicas.iter().chain(&r.joining).any(|p| p.server == s) {
                self.lost.entry(r.id).or_default().insert(s);
            }
        }
        self.check_lost(&cfg);
        let restart = self.now + self.rng.ms(100, 1500);
        let d = &mut self.daemons[i];
        let Some(node) = d.node.take() else { return };
        d.disk = Some(node.store);
        d.jobs.clear();
        d.reads.clear();
        d.loaded.clear();
        d.peers.clear();
        d.coord = None;
        d.restart_at = Some(restart);
        self.cut(s);
    }

    /// Breaks every connection of daemon `s`.
    fn cut(&mut self, s: u64) {
        let gone: Vec<usize> =
            self.conns.iter().filter(|(_, c)| c.ends.contains(&End::Daemon(s))).map(|(t, _)| *t).collect();
        for t in gone {
            self.close_conn(t);
        }
    }

    fn restart(&mut self, s: u64) {
        let i = idx(s);
        self.ev(EvKind::Restart(s));
        // Each start reads a wall clock a few seconds off the others (and off its last run).
        let skew = self.rng.below(10_000_000_000);
        let clock = CLOCK_BASE - 5_000_000_000 + skew + self.now.as_nanos() as u64;
        let now = self.now;
        let at = self.at();
        let cache = self.p.cache;
        let d = &mut self.daemons[i];
        let store = d.disk.take().unwrap_or_default();
        let mut node = Node::new(s, store, cache, at, clock);
        node.read_elsewhere(self.p.read_elsewhere);
        d.node = Some(node);
        d.restart_at = None;
        d.reregistered = 0;
        d.registered = false;
        d.jobs.clear();
        d.reads.clear();
        d.loaded.clear();
        d.peers.clear();
        d.next_tick = now;
        self.daemon_connect(s);
    }

    // ---- clients ----

    fn client_connect(&mut self, c: usize) {
        self.clients[c].coord_retry = self.now + COORD_RETRY;
        if let Some(t) = self.open_conn(End::Client(c), End::Coord) {
            self.clients[c].coord = Some(t);
            let have = self.clients[c].cfg.as_ref().map_or(0, |g| g.version);
            self.push(t, End::Client(c), 1, Msg::ConfigWait { have });
        }
    }

    fn client_config(&mut self, c: usize, msg: Msg) {
        let Msg::Config { config } = msg else {
            return self.fail(format!("client {c} got {msg:?} from the coordinator"));
        };
        let Ok(cfg) = Configuration::decode(&config) else {
            return self.fail("a configuration does not decode".into());
        };
        let cl = &mut self.clients[c];
        let v = cfg.version;
        if cl.cfg.as_ref().is_none_or(|g| g.version < v) {
            cl.cfg = Some(cfg);
        }
        let have = cl.cfg.as_ref().map_or(v, |g| g.version);
        if let Some(t) = cl.coord {
            self.push(t, End::Client(c), 1, Msg::ConfigWait { have });
        }
    }

    fn wants_op(&self, c: usize) -> bool {
        let cl = &self.clients[c];
        cl.pending.is_none() && (cl.left > 0 || !cl.script.is_empty())
    }

    /// Client `c` starts its next operation, if it can now (else it tries again soon).
    fn client_issue(&mut self, c: usize) {
        self.clients[c].next_op = self.now + Duration::from_millis(20);
        let scripted = self.clients[c].script.front().copied();
        let key = match scripted {
            Some(k) => k,
            None => self.rng.below(self.p.keys as u64) as u8,
        };
        let kb = key_bytes(key);
        let Some(cfg) = self.clients[c].cfg.as_ref() else { return };
        let Some(region) = cfg.space(b"s").and_then(|sp| sp.key_region(&kb)) else { return };
        let Some(head) = region.replicas.first().map(|p| p.server) else { return };
        if !cfg.available(head) {
            return;
        }
        let (version, rid) = (cfg.version, region.id);
        let conn = match self.clients[c].conns.get(&head) {
            Some(t) => *t,
            None => {
                // A connection that cannot be made: nothing was sent, try again later.
                let Some(t) = self.open_conn(End::Client(c), End::Daemon(head)) else { return };
                self.clients[c].conns.insert(head, t);
                t
            }
        };
        let r = if scripted.is_some() { 99 } else { self.rng.below(100) };
        let (msg, write, val) = if r < 45 {
            let n = self.next_value;
            self.next_value += 1;
            let f = Func {
                attr: 1,
                op: FuncOp::Set,
                arg_type: DataType::Int64,
                arg: n.to_le_bytes().to_vec(),
                map_key: None,
            };
            (Msg::Atomic { version, region: rid, key: kb, flags: 0, checks: vec![], funcs: vec![f] }, true, Some(n))
        } else if r < 60 {
            (
                Msg::Atomic { version, region: rid, key: kb, flags: flags::ERASE, checks: vec![], funcs: vec![] },
                true,
                None,
            )
        } else {
            (Msg::Get { version, region: rid, key: kb }, false, None)
        };
        let nonce = self.next_nonce;
        self.next_nonce += 1;
        let hist = self.hist.len();
        self.ev(EvKind::Invoke { client: c, hist, key, write, val });
        self.hist.push(HOp {
            client: c,
            key,
            write,
            val,
            inv: self.seq,
            outcome: Outcome::Pending,
            found_nothing: false,
        });
        self.stats.ops += 1;
        self.clients[c].pending = Some(Pending { conn, nonce, hist });
        self.push(conn, End::Client(c), nonce, msg);
    }

    fn finish_op(&mut self, c: usize, outcome: Outcome) {
        let Some(p) = self.clients[c].pending.take() else { return };
        let outcome = match outcome {
            Outcome::Ok(_) => Outcome::Ok(self.seq + 1),
            o => o,
        };
        self.ev(EvKind::Done { client: c, hist: p.hist, outcome });
        self.hist[p.hist].outcome = outcome;
        if outcome == Outcome::Unknown {
            self.stats.unknown += 1;
        }
        let think = self.rng.ms(0, self.p.think_ms);
        self.clients[c].next_op = self.now + think;
        if self.clients[c].script.pop_front().is_none() {
            self.clients[c].left -= 1;
        } else if !matches!(outcome, Outcome::Ok(_)) {
            // A final read that met a configuration change (RECONFIGURE, a region offline
            // for a moment) is tried again; one that never succeeds ends the run as stuck.
            // The final reader does not follow the coordinator: it asks for the newest
            // configuration before trying again.
            let key = self.hist[p.hist].key;
            self.clients[c].script.push_front(key);
            self.clients[c].cfg = Some(self.coord.state.config());
        }
    }

    fn client_lost(&mut self, c: usize, cid: usize) {
        let cl = &mut self.clients[c];
        if cl.coord == Some(cid) {
            cl.coord = None;
            cl.coord_retry = self.now + COORD_RETRY;
            return;
        }
        cl.conns.retain(|_, t| *t != cid);
        if cl.pending.as_ref().is_some_and(|p| p.conn == cid) {
            let write = self.hist[cl.pending.as_ref().unwrap().hist].write;
            self.finish_op(c, if write { Outcome::Unknown } else { Outcome::Failed });
        }
    }

    fn client_reply(&mut self, c: usize, cid: usize, nonce: u64, msg: Msg) {
        let Some(p) = &self.clients[c].pending else {
            return self.fail(format!("client {c} got an answer to nothing: {msg:?} (nonce {nonce})"));
        };
        if p.nonce != nonce || p.conn != cid {
            return self.fail(format!("client {c} got an answer to another request: {msg:?} (nonce {nonce})"));
        }
        let h = p.hist;
        let (write, val) = (self.hist[h].write, self.hist[h].val);
        let ok = Outcome::Ok(0);
        let outcome = match (&msg, write) {
            (Msg::AtomicReply { rc: ReturnCode::Success }, true) => ok,
            (Msg::AtomicReply { rc: ReturnCode::NotFound }, true) if val.is_none() => {
                // The delete found nothing: it observed the key absent.
                self.hist[h].write = false;
                self.hist[h].found_nothing = true;
                ok
            }
            (Msg::AtomicReply { rc: ReturnCode::Reconfigure | ReturnCode::Offline }, true) => Outcome::Unknown,
            (Msg::GetReply { rc: ReturnCode::Success, values }, false) => {
                let v = values.get(0).filter(|v| v.len() == 8).map(|v| i64::from_le_bytes(v[..8].try_into().unwrap()));
                if v.is_none() || values.len() != 1 {
                    return self.fail(format!("client {c} read malformed values {values:?}"));
                }
                self.hist[h].val = v;
                ok
            }
            (Msg::GetReply { rc: ReturnCode::NotFound, .. }, false) => ok,
            (Msg::GetReply { rc: ReturnCode::Reconfigure | ReturnCode::Offline, .. }, false) => Outcome::Failed,
            _ => return self.fail(format!("client {c}: unexpected answer {msg:?} to {}", self.hist[h].describe())),
        };
        self.finish_op(c, outcome);
    }

    // ---- faults ----

    fn fault(&mut self) {
        self.fault_pending -= 1;
        let impaired = self.daemons.iter().filter(|d| d.impaired()).count();
        let room = impaired < self.p.f as usize;
        let kind = self.rng.below(100);
        if kind < 40 {
            let ids: Vec<usize> =
                self.conns.iter().filter(|(_, c)| !c.ends.contains(&End::Admin)).map(|(t, _)| *t).collect();
            if !ids.is_empty() {
                let t = ids[self.rng.below(ids.len() as u64) as usize];
                self.stats.drops += 1;
                self.close_conn(t);
            }
        } else if kind < 65 {
            let ids: Vec<u64> = self.daemons.iter().filter(|d| !d.impaired()).map(|d| d.id).collect();
            if room && !ids.is_empty() {
                let s = ids[self.rng.below(ids.len() as u64) as usize];
                self.stats.partitions += 1;
                self.ev(EvKind::Partition(s));
                let until = self.now + self.rng.ms(200, 1500);
                self.daemons[idx(s)].partitioned_until = Some(until);
                self.cut(s);
            }
        } else {
            let ids: Vec<u64> = self
                .daemons
                .iter()
                .filter(|d| d.up() && (room || d.partitioned_until.is_some()))
                .map(|d| d.id)
                .collect();
            if !ids.is_empty() {
                let s = ids[self.rng.below(ids.len() as u64) as usize];
                self.crash(s);
            }
        }
    }

    fn heal_all(&mut self) {
        self.healed = true;
        self.fault_pending = 0;
        self.next_fault = self.p.faults.len();
        for i in 0..self.daemons.len() {
            let s = self.daemons[i].id;
            if self.daemons[i].partitioned_until.take().is_some() {
                self.ev(EvKind::Heal(s));
            }
            if !self.daemons[i].up() {
                self.restart(s);
            }
        }
    }

    // ---- time ----

    fn next_time(&self) -> Duration {
        let mut t = self.coord_tick;
        let mut at = |x: Duration| t = t.min(x);
        if !self.healed {
            at(self.p.fault_end);
        }
        if let Some(f) = self.p.faults.get(self.next_fault) {
            at(*f);
        }
        if !self.admin_sent {
            at(self.p.admin_at);
        }
        for d in &self.daemons {
            if let Some(r) = d.restart_at {
                at(r);
            }
            if let Some(u) = d.partitioned_until {
                at(u);
            }
            if d.up() {
                at(d.next_tick);
                if d.coord.is_none() {
                    at(d.coord_retry);
                }
            }
        }
        for (c, cl) in self.clients.iter().enumerate() {
            if cl.follows && cl.coord.is_none() {
                at(cl.coord_retry);
            }
            if self.wants_op(c) {
                at(cl.next_op);
            }
        }
        for c in self.conns.values() {
            for q in &c.q {
                if let Some(p) = q.front() {
                    if p.at > self.now {
                        at(p.at);
                    }
                }
            }
        }
        t
    }

    /// Moves the clock to the next moment something is due, and fires what is due then.
    fn advance(&mut self) {
        self.now = self.next_time().max(self.now + Duration::from_micros(1));
        let now = self.now;
        if !self.healed && now >= self.p.fault_end {
            self.heal_all();
        }
        while self.p.faults.get(self.next_fault).is_some_and(|f| *f <= now) {
            self.next_fault += 1;
            // Fires at a random later step, between deliveries.
            self.fault_pending += 1;
        }
        if now >= self.coord_tick {
            self.coord_tick = now + COORD_TICK;
            let at = self.at();
            self.coord.step(at, CoordInput::Tick);
            self.coord_drain();
        }
        if !self.admin_sent && now >= self.p.admin_at {
            self.admin_sent = true;
            let t = self.open_conn(End::Admin, End::Coord).expect("the coordinator is always reachable");
            let f = self.p.f;
            let description =
                format!("space s key k attributes int n subspace n create 4 partitions tolerate {f} failures");
            self.push(t, End::Admin, 1, Msg::AddSpace { description, token: 0 });
        }
        for i in 0..self.daemons.len() {
            let s = self.daemons[i].id;
            if self.daemons[i].restart_at.is_some_and(|r| r <= now) {
                self.restart(s);
            }
            if self.daemons[i].partitioned_until.is_some_and(|u| u <= now) {
                self.daemons[i].partitioned_until = None;
                self.ev(EvKind::Heal(s));
            }
            if !self.daemons[i].up() {
                continue;
            }
            if self.daemons[i].coord.is_none() && self.daemons[i].coord_retry <= now {
                self.daemon_connect(s);
            }
            if self.daemons[i].next_tick <= now {
                self.daemons[i].next_tick = now + TICK;
                self.feed(s, Input::Tick);
            }
            self.process_notices();
        }
        for c in 0..self.clients.len() {
            if self.clients[c].follows && self.clients[c].coord.is_none() && self.clients[c].coord_retry <= now {
                self.client_connect(c);
            }
            if self.wants_op(c) && self.clients[c].next_op <= now {
                self.client_issue(c);
            }
        }
        self.process_notices();
    }

    // ---- the run ----

    fn quiet(&self) -> bool {
        if !self.healed || !self.admin_done {
            return false;
        }
        let v = self.coord.state.version;
        let daemons_ok = self.daemons.iter().all(|d| {
            d.partitioned_until.is_none()
                && d.jobs.is_empty()
                && d.reads.is_empty()
                && d.loaded.is_empty()
                && d.coord.is_some()
                && d.node.as_ref().is_some_and(|n| n.config.version == v)
        });
        let clients_ok = (0..self.clients.len()).all(|c| !self.wants_op(c) && self.clients[c].pending.is_none());
        let links_ok = self.conns.values().all(|c| {
            c.q.iter().all(|q| q.iter().all(|p| matches!(p.msg, Msg::Heartbeat { .. } | Msg::HeartbeatAck { .. })))
        });
        daemons_ok
            && clients_ok
            && links_ok
            && self.coord.state.servers.iter().all(|s| s.state == ServerState::Available)
            && self.coord.state.config().stable()
    }

    fn run(&mut self) -> Result<(), String> {
        let mut final_reads = false;
        let mut acts: Vec<Act> = Vec::new();
        loop {
            if let Some(e) = self.error.take() {
                return Err(e);
            }
            if self.now > self.p.fault_end + SETTLE_LIMIT {
                return Err(self.stuck());
            }
            acts.clear();
            for (cid, c) in &self.conns {
                for (side, q) in c.q.iter().enumerate() {
                    if q.front().is_some_and(|p| p.at <= self.now) {
                        acts.push(Act::Deliver(*cid, side));
                    }
                }
            }
            let reads_wait = self.rng.chance(self.p.read_lag);
            for (i, d) in self.daemons.iter().enumerate() {
                if !d.jobs.is_empty() {
                    acts.push(Act::Job(i));
                }
                if !d.reads.is_empty() && !reads_wait {
                    acts.push(Act::Read(i));
                }
                if !d.loaded.is_empty() {
                    acts.push(Act::Feed(i));
                }
            }
            if self.fault_pending > 0 {
                acts.push(Act::Fault);
            }
            self.stats.events += 1;
            let k = self.rng.below(acts.len() as u64 + 1) as usize;
            match acts.get(k) {
                None => {
                    if acts.is_empty() && self.now >= self.last_activity + QUIET && self.quiet() {
                        if final_reads {
                            self.stats.sim_time = self.now;
                            return self.check();
                        }
                        final_reads = true;
                        self.start_final_reads();
                        continue;
                    }
                    self.advance();
                }
                Some(Act::Deliver(cid, side)) => self.deliver(*cid, *side),
                Some(Act::Job(i)) => self.run_job(*i),
                Some(Act::Read(i)) => self.run_read(*i),
                Some(Act::Feed(i)) => self.feed_read(*i),
                Some(Act::Fault) => self.fault(),
            }
            self.process_notices();
        }
    }

    fn start_final_reads(&mut self) {
        self.ev(EvKind::FinalReads);
        let cfg = self.coord.state.config();
        let r = self.p.clients;
        self.clients[r].cfg = Some(cfg);
        self.clients[r].script = (0..self.p.keys).collect();
        self.clients[r].next_op = self.now;
        self.last_activity = self.now;
    }

    /// Why the cluster did not become quiet.
    fn stuck(&self) -> String {
        let mut s = format!("the cluster did not become quiet within {SETTLE_LIMIT:?} of healing:\n");
        let v = self.coord.state.version;
        for d in &self.daemons {
            let _ = writeln!(
                s,
                "  server {}: up {}, config {:?} (coordinator {v}), {} storage jobs, {} reads, coordinator link {:?}",
                d.id,
                d.up(),
                d.node.as_ref().map(|n| n.config.version),
                d.jobs.len(),
                d.reads.len() + d.loaded.len(),
                d.coord
            );
        }
        for (c, cl) in self.clients.iter().enumerate() {
            if let Some(p) = &cl.pending {
                let _ = writeln!(s, "  client {c} waits on {}", self.hist[p.hist].describe());
            } else if self.wants_op(c) {
                let _ = writeln!(
                    s,
                    "  client {c} has {} ops left (config {:?})",
                    cl.left,
                    cl.cfg.as_ref().map(|g| g.version)
                );
            }
        }
        let busy = self.conns.iter().filter(|(_, c)| c.q.iter().any(|q| !q.is_empty())).count();
        let _ = writeln!(s, "  {busy} connections carry messages");
        let _ = writeln!(s, "  {}", chains(&self.coord.state.config()).replace('\n', "\n  "));
        s
    }

    // ---- the checks ----

    fn check(&self) -> Result<(), String> {
        let mut errors = Vec::new();
        for d in &self.daemons {
            if d.node.as_ref().is_some_and(|n| !n.cache_counts_hold()) {
                errors.push(format!("server {}: the object cache's counts per region differ from its entries", d.id));
            }
        }
        let reader = self.p.clients;
        for k in 0..self.p.keys {
            let ops: Vec<&HOp> = self.hist.iter().filter(|h| h.key == k && h.outcome != Outcome::Failed).collect();
            if let Some(h) = ops.iter().find(|h| h.outcome == Outcome::Pending) {
                errors.push(format!("key {k}: {} never finished", h.describe()));
                continue;
            }
            let Some(fin) = ops.iter().rev().find(|h| h.client == reader) else {
                errors.push(format!("key {k}: no final read"));
                continue;
            };
            if let Err(e) = final_value_ok(&ops, fin) {
                errors.push(format!("key {k}: {e}"));
            }
            if let Err(e) = linearizable(&ops) {
                errors.push(format!("key {k}: {e}"));
            }
        }
        // Convergence is promised within the failures a space tolerates. Beyond them (every
        // replica of a region lost its memory of the writes in flight), a write whose
        // outcome its client never learnt may stay applied in some regions only: the last
        // replica comes back with what it stored, which can lack a write the hops after it
        // had applied.
        if self.stats.beyond == 0 {
            if let Err(e) = self.converged() {
                errors.push(e);
            }
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors.join("\n"))
        }
    }

    fn store_of(&self, server: u64) -> &MemStore {
        &self.daemons[idx(server)].node.as_ref().expect("every daemon is up at the end").store
    }

    /// Property 3 on the final stores.
    fn converged(&self) -> Result<(), String> {
        let cfg = self.coord.state.config();
        let sp = cfg.space(b"s").ok_or("no space at the end")?;
        let mut bad = Vec::new();
        for ss in &sp.subspaces {
            for r in &ss.regions {
                let Some(first) = r.replicas.first() else {
                    bad.push(format!("region {} has no replica", r.id));
                    continue;
                };
                let want = self.store_of(first.server).scan_region(r.id).unwrap();
                for p in &r.replicas[1..] {
                    let got = self.store_of(p.server).scan_region(r.id).unwrap();
                    if got != want {
                        bad.push(format!(
                            "region {}: server {} holds {} but server {} holds {}",
                            r.id,
                            first.server,
                            fmt_objects(&want),
                            p.server,
                            fmt_objects(&got)
                        ));
                    }
                }
            }
        }
        let reader = self.p.clients;
        for k in 0..self.p.keys {
            let kb = key_bytes(k);
            let kr = sp.key_region(&kb).ok_or("no key region")?;
            let rec = self.store_of(kr.replicas[0].server).get_live(&storage_key(kr.id, &kb)).unwrap();
            let stored = rec.as_ref().map(|r| i64::from_le_bytes(r.values[0][..8].try_into().unwrap()));
            let read = self.hist.iter().rev().find(|h| h.client == reader && h.key == k).map(|h| h.val);
            if read != Some(stored) {
                bad.push(format!("key {k}: the head stores {stored:?} but the final read returned {read:?}"));
            }
            // The object lives in exactly the region of subspace n its value maps to.
            let home: Option<&Region> = stored.map(|n| {
                let nb = n.to_le_bytes();
                sp.region_of(1, &|a| if a == 0 { kb.as_slice() } else { nb.as_slice() }).expect("a region")
            });
            for r in &sp.subspaces[1].regions {
                let there = self.store_of(r.replicas[0].server).get_live(&storage_key(r.id, &kb)).unwrap();
                let expected = home.is_some_and(|h| h.id == r.id);
                match (&there, expected) {
                    (None, false) => {}
                    (Some(t), true) if Some(t) == rec.as_ref() => {}
                    _ => bad.push(format!(
                        "key {k} (value {stored:?}, version {:?}): subspace region {} holds {:?}, expected {}",
                        rec.as_ref().map(|r| r.version),
                        r.id,
                        there.as_ref().map(|t| (t.version, fmt_values(&t.values))),
                        if expected { "the object" } else { "nothing" }
                    )),
                }
            }
        }
        if bad.is_empty() {
            Ok(())
        } else {
            Err(format!("replicas did not converge:\n  {}", bad.join("\n  ")))
        }
    }

    /// The message of a failed run.
    fn report(&self, seed: u64, why: &str) -> String {
        let mut s = format!(
            "joint_sim: seed {seed} failed at {:.3} ms (event #{}):\n{why}\n\nreplay: JOINT_SIM_SEED={seed} cargo test --release -p hyperdex-server joint_sim -- --nocapture (add JOINT_SIM_TRACE=1 for every event)\nparams: {:?}\n",
            self.now.as_secs_f64() * 1000.0,
            self.seq,
            self.p
        );
        let _ = writeln!(s, "\n{}", chains(&self.coord.state.config()));
        let _ = writeln!(s, "\ncoordinator log (last {}):", self.log.len());
        for (t, l) in &self.log {
            let _ = writeln!(s, "{:>10.3} ms  {l}", t.as_secs_f64() * 1000.0);
        }
        let _ = writeln!(s, "\nlast {} events (heartbeats and configuration waits left out):", self.trace.len());
        for e in &self.trace {
            let _ = writeln!(s, "{e}");
        }
        s
    }
}

/// A configuration in a few lines: servers and their states, each region's chain.
fn chains(cfg: &Configuration) -> String {
    let mut s = format!("configuration {}:", cfg.version);
    for srv in &cfg.servers {
        let _ = write!(s, " server {} {};", srv.id, srv.state.name());
    }
    for sp in &cfg.spaces {
        for (i, ss) in sp.subspaces.iter().enumerate() {
            let _ = write!(s, "\n  subspace {i}:");
            for r in &ss.regions {
                let ids =
                    |v: &[hyperdex_core::config::Replica]| v.iter().map(|p| p.server.to_string()).collect::<Vec<_>>();
                let _ = write!(s, " region {} [{}]", r.id, ids(&r.replicas).join(" "));
                if !r.joining.is_empty() {
                    let _ = write!(s, "+joining [{}]", ids(&r.joining).join(" "));
                }
            }
        }
    }
    s
}

fn fmt_values(v: &[Vec<u8>]) -> String {
    match v.first() {
        Some(b) if b.len() == 8 && v.len() == 1 => i64::from_le_bytes(b[..8].try_into().unwrap()).to_string(),
        _ => format!("{v:?}"),
    }
}

fn fmt_objects(objs: &[(Vec<u8>, Record)]) -> String {
    let items: Vec<String> = objs
        .iter()
        .map(|(k, r)| format!("{:?}=({}, v{})", String::from_utf8_lossy(k), fmt_values(&r.values), r.version))
        .collect();
    format!("[{}]", items.join(", "))
}

fn dump(ops: &[&HOp]) -> String {
    let mut sorted: Vec<&&HOp> = ops.iter().collect();
    sorted.sort_by_key(|h| h.inv);
    sorted.iter().map(|h| format!("\n    {}", h.describe())).collect()
}

/// Property 2: the final read's value comes from a write (or the initial absence) that no
/// acknowledged write followed in real time.
fn final_value_ok(ops: &[&HOp], fin: &HOp) -> Result<(), String> {
    let v = fin.val;
    let acked: Vec<&HOp> = ops.iter().copied().filter(|h| h.write && matches!(h.outcome, Outcome::Ok(_))).collect();
    let overtaken = |w: Option<&HOp>| {
        let resp = w.map_or(0, |w| w.resp());
        acked.iter().find(|a| a.inv > resp && !w.is_some_and(|w| std::ptr::eq::<HOp>(**a, w))).copied()
    };
    let mut sources: Vec<Option<&HOp>> = ops.iter().copied().filter(|h| h.write && h.val == v).map(Some).collect();
    if v.is_none() {
        sources.push(None);
    }
    if sources.is_empty() {
        return Err(format!("the final read returned {v:?}, which nobody wrote{}", dump(ops)));
    }
    // Name the acknowledged write that overtook the latest possible source.
    sources.sort_by_key(|s| std::cmp::Reverse(s.map_or(0, |w| w.resp())));
    let mut later = None;
    for s in &sources {
        match overtaken(*s) {
            None => return Ok(()),
            Some(a) => {
                later.get_or_insert(a);
            }
        }
    }
    Err(format!(
        "an acknowledged write was lost: the final read returned {v:?}, but {} came after every write of that value{}",
        later.map_or(String::new(), |a| a.describe()),
        dump(ops)
    ))
}

/// Property 1 for one key: Wing & Gong's search for a linearization, memoised on (ops
/// placed, value). Writes of unknown outcome may be placed anywhere after their invocation
/// or left out; one is only worth placing if a read still to place observes its value.
fn linearizable(ops: &[&HOp]) -> Result<(), String> {
    let n = ops.len();
    if n > 128 {
        return Err(format!("{n} operations on one key: too many for the checker"));
    }
    let bit = |i: usize| 1u128 << i;
    let done: u128 = (0..n).filter(|&i| matches!(ops[i].outcome, Outcome::Ok(_))).fold(0, |m, i| m | bit(i));
    struct Search<'a> {
        ops: &'a [&'a HOp],
        done: u128,
        seen: HashSet<(u128, Option<i64>)>,
        deepest: (u32, u128),
    }
    fn go(s: &mut Search, placed: u128, val: Option<i64>) -> bool {
        if placed & s.done == s.done {
            return true;
        }
        if !s.seen.insert((placed, val)) {
            return false;
        }
        let depth = (placed & s.done).count_ones();
        if depth >= s.deepest.0 {
            s.deepest = (depth, placed);
        }
        let n = s.ops.len();
        let open = |i: usize| placed & (1u128 << i) == 0;
        // Nothing invoked after the earliest answer still to place can go before it.
        let horizon = (0..n).filter(|&i| open(i) && s.done & (1u128 << i) != 0).map(|i| s.ops[i].resp()).min();
        let horizon = horizon.unwrap_or(u64::MAX);
        let next: Vec<usize> = (0..n).filter(|&i| open(i) && s.ops[i].inv < horizon).collect();
        // A read of the current value may as well go now.
        if let Some(&i) = next.iter().find(|&&i| !s.ops[i].write && s.ops[i].val == val) {
            return go(s, placed | (1u128 << i), val);
        }
        for &i in &next {
            let o = s.ops[i];
            if !o.write {
                continue;
            }
            if o.outcome == Outcome::Unknown && !(0..n).any(|j| open(j) && !s.ops[j].write && s.ops[j].val == o.val) {
                continue;
            }
            if go(s, placed | (1u128 << i), o.val) {
                return true;
            }
        }
        false
    }
    let mut s = Search { ops, done, seen: HashSet::new(), deepest: (0, 0) };
    if go(&mut s, 0, None) {
        return Ok(());
    }
    let stuck: Vec<String> =
        (0..n).filter(|&i| s.deepest.1 & bit(i) == 0 && done & bit(i) != 0).map(|i| ops[i].describe()).collect();
    Err(format!(
        "not linearizable: at best {} of {} completed operations can be ordered; left over: {}\n  history:{}",
        s.deepest.0,
        done.count_ones(),
        stuck.join("; "),
        dump(ops)
    ))
}

fn run_seed(seed: u64) -> Result<Stats, String> {
    let mut sim = Sim::new(seed);
    match sim.run() {
        Ok(()) => Ok(sim.stats),
        Err(why) => Err(sim.report(seed, &why)),
    }
}

/// Runs the seeds `JOINT_SIM_SEED` (one) or 1..=`JOINT_SIM_CASES` (5000 in release builds,
/// 40 in debug ones) and panics with the first failure's report.
fn run_seeds() {
    let env = |k: &str| std::env::var(k).ok().and_then(|v| v.parse::<u64>().ok());
    let seeds: Vec<u64> = match env("JOINT_SIM_SEED") {
        Some(s) => vec![s],
        None => {
            let n = env("JOINT_SIM_CASES").unwrap_or(if cfg!(debug_assertions) { 40 } else { 5000 });
            (1..=n).collect()
        }
    };
    let started = Instant::now();
    let mut total = Stats::default();
    let mut failed: Vec<(u64, String)> = Vec::new();
    for &seed in &seeds {
        match run_seed(seed) {
            Ok(st) => {
                total.events += st.events;
                total.sim_time += st.sim_time;
                total.drops += st.drops;
                total.partitions += st.partitions;
                total.crashes += st.crashes;
                total.configs += st.configs;
                total.ops += st.ops;
                total.unknown += st.unknown;
                total.beyond += st.beyond;
            }
            Err(report) => {
                // One line per failed seed (the first line of what went wrong), to sort them.
                let what = report.lines().nth(1).unwrap_or("").chars().take(160).collect::<String>();
                eprintln!("joint_sim: seed {seed} failed: {what}");
                failed.push((seed, report));
            }
        }
    }
    eprintln!(
        "joint_sim: {} runs in {:.2?} ({} failed): {} steps, {:.0} s simulated, {} client ops ({} unknown), {} configurations, faults: {} links broken, {} partitions, {} crashes; {} runs beyond the tolerated failures (convergence not checked)",
        seeds.len(),
        started.elapsed(),
        failed.len(),
        total.events,
        total.sim_time.as_secs_f64(),
        total.ops,
        total.unknown,
        total.configs,
        total.drops,
        total.partitions,
        total.crashes,
        total.beyond
    );
    if let Some((_, report)) = failed.first() {
        let list: Vec<u64> = failed.iter().map(|f| f.0).take(40).collect();
        panic!("{report}\n{} of {} seeds failed; the first ones: {list:?}", failed.len(), seeds.len());
    }
}

/// Under every schedule: each key's history is linearizable, no acknowledged write is
/// lost, every operation is answered once, configurations only grow, the cluster becomes
/// quiet after healing (final reads succeed), and, within the failures the space
/// tolerates, every replica of every region ends holding the same objects, each object in
/// the region of every subspace its value maps to and nowhere else.
#[test]
fn joint_simulation_keeps_histories_linearizable_and_replicas_converged() {
    run_seeds();
}

#[test]
fn the_checker_rejects_what_it_must() {
    let op = |client, write, val, inv, outcome| HOp { client, key: 0, write, val, inv, outcome, found_nothing: false };
    // A stale read after an acknowledged overwrite.
    let h = [
        op(0, true, Some(1), 1, Outcome::Ok(2)),
        op(0, true, Some(2), 3, Outcome::Ok(4)),
        op(1, false, Some(1), 5, Outcome::Ok(6)),
    ];
    let r: Vec<&HOp> = h.iter().collect();
    assert!(linearizable(&r).is_err());
    assert!(final_value_ok(&r, &h[2]).is_err());
    // A read of absent after an acknowledged put completed.
    let h = [
        op(0, true, Some(1), 1, Outcome::Ok(4)),
        op(1, false, Some(1), 2, Outcome::Ok(3)),
        op(1, false, None, 5, Outcome::Ok(6)),
    ];
    let r: Vec<&HOp> = h.iter().collect();
    assert!(linearizable(&r).is_err(), "absent after an acknowledged put");
    // An unknown write may land late, or never.
    let h = [
        op(0, true, Some(1), 1, Outcome::Ok(2)),
        op(1, true, Some(2), 3, Outcome::Unknown),
        op(0, false, Some(1), 4, Outcome::Ok(5)),
        op(0, false, Some(2), 6, Outcome::Ok(7)),
    ];
    let r: Vec<&HOp> = h.iter().collect();
    assert!(linearizable(&r).is_ok());
    assert!(final_value_ok(&r, &h[3]).is_ok());
    // But not before its invocation.
    let h = [op(0, false, Some(2), 1, Outcome::Ok(2)), op(1, true, Some(2), 3, Outcome::Unknown)];
    let r: Vec<&HOp> = h.iter().collect();
    assert!(linearizable(&r).is_err());
}
