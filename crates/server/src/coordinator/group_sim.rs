//! A deterministic simulation of the coordinator group: three or five [`Coordinator`] cores
//! (raft and the configuration state machine) wired by an in-memory network that delays,
//! reorders and drops messages and partitions the group, with coordinators that crash (their
//! last write possibly torn) and restart from what their disks hold. One seeded generator
//! drives everything on a simulated clock, so a seed replays exactly.
//!
//! A group starts as one coordinator; the others join it the way `-c/-P` does (JOIN,
//! following redirects). An admin adds spaces with a retry token, following redirects and
//! resending (same token) when its coordinator fails or stays silent; watchers keep a
//! configuration wait at some coordinator, moving when it redirects or fails.
//!
//! # What is checked
//! 1. **One growing sequence**: every configuration any coordinator reaches is the only one
//!    with its version (same version, same bytes, on every coordinator and every watcher);
//!    a coordinator's version never goes back while it runs; a watcher's only grows.
//! 2. **Nothing committed is lost, nothing done twice**: every space whose addition was
//!    answered SUCCESS is in the final configuration, once; a retried request never
//!    answers DUPLICATE (the token makes it the same request).
//! 3. **Liveness**: once faults end and everyone is back, the group elects a leader, every
//!    request is answered, and all coordinators converge on one configuration.
//!
//! `cargo test --release -p hyperdex-server group_sim` runs `GROUP_SIM_CASES` seeds (300 by
//! default); `GROUP_SIM_SEED=n` replays one, `GROUP_SIM_TRACE=1` prints its events.

use super::raftlog::LogStore;
use super::*;
use std::collections::{BTreeMap, BinaryHeap};

use super::Rng;

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
    fn chance(&mut self, p: f64) -> bool {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64 <= p
    }
}

const STEP: Duration = Duration::from_millis(5);
const LEASE: Duration = Duration::from_secs(1);
/// An admin or watcher request unanswered this long is sent elsewhere.
const REQUEST_TIMEOUT: Duration = Duration::from_millis(600);

fn addr_of(i: usize) -> String {
    format!("127.0.0.{}:1982", i + 1)
}

fn index_of(addr: &str) -> Option<usize> {
    let ip = addr.strip_suffix(":1982")?.strip_prefix("127.0.0.")?;
    ip.parse::<usize>().ok()?.checked_sub(1)
}

struct Node {
    core: Option<Coordinator>,
    disk: Vec<u8>,
    /// Set once it is a member (it joined, or it founded the group).
    member: Option<Member>,
    /// Down until then.
    down_until: Option<Duration>,
    /// The version it had when last looked at (in this life).
    version: u64,
}

/// Who is at the other end of a client connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum End {
    Admin,
    Watcher(usize),
    Joiner(usize),
}

/// A request in flight: where it went and when.
struct Out {
    node: usize,
    conn: usize,
    sent: Duration,
}

enum Ev {
    /// A raft message to node `to` (by index), unless the link was cut meanwhile.
    Raft { from: usize, to: usize, msg: Msg },
    /// A request on client connection `conn` to node `node`.
    Request { node: usize, conn: usize, msg: Msg },
    /// An answer on client connection `conn`.
    Answer { conn: usize, msg: Msg },
    /// Connection `conn` closed (by the coordinator, or the coordinator died).
    Closed { conn: usize },
}

struct Sim {
    rng: Rng,
    base: Instant,
    t: Duration,
    trace: bool,
    nodes: Vec<Node>,
    queue: BinaryHeap<std::cmp::Reverse<(Duration, u64)>>,
    events: HashMap<u64, Ev>,
    seq: u64,
    drop_p: f64,
    slow_p: f64,
    /// Nodes on the far side of a partition, and until when.
    cut: Option<(Vec<bool>, Duration)>,
    conn_end: HashMap<usize, End>,
    /// Node a client connection is open to.
    conn_node: HashMap<usize, usize>,
    next_conn: usize,
    cluster: u64,
    /// Every configuration seen, by version.
    history: BTreeMap<u64, Vec<u8>>,
    // The admin.
    ops: u64,
    next_op: u64,
    admin_out: Option<Out>,
    admin_target: usize,
    admin_wait_until: Duration,
    succeeded: Vec<String>,
    // Watchers: their version and request.
    watchers: Vec<(u64, Option<Out>, usize)>,
    // Joiners: node index → its request, and its next target.
    joiners: Vec<(usize, Option<Out>, usize, Duration)>,
    log: Vec<String>,
}

impl Sim {
    fn new(seed: u64) -> Sim {
        let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
        let n = if rng.chance(0.5) { 3 } else { 5 };
        let drop_p = [0.0, 0.02, 0.1][rng.below(3) as usize];
        let slow_p = [0.0, 0.05][rng.below(2) as usize];
        let cluster = 1000 + seed;
        let mut nodes = Vec::new();
        for _ in 0..n {
            nodes.push(Node { core: None, disk: Vec::new(), member: None, down_until: None, version: 0 });
        }
        let mut sim = Sim {
            rng,
            base: Instant::now(),
            t: Duration::ZERO,
            trace: std::env::var("GROUP_SIM_TRACE").is_ok(),
            nodes,
            queue: BinaryHeap::new(),
            events: HashMap::new(),
            seq: 0,
            drop_p,
            slow_p,
            cut: None,
            conn_end: HashMap::new(),
            conn_node: HashMap::new(),
            next_conn: 1,
            cluster,
            history: BTreeMap::new(),
            ops: 0,
            next_op: 1,
            admin_out: None,
            admin_target: 0,
            admin_wait_until: Duration::ZERO,
            succeeded: Vec::new(),
            watchers: Vec::new(),
            joiners: Vec::new(),
            log: Vec::new(),
        };
        sim.ops = 8 + sim.rng.below(16);
        // The founder.
        let mut st = CoordState::new(cluster);
        st.coordinators = vec![CoordinatorAddr { id: 1, addr: addr_of(0) }];
        let store = LogStore::bootstrap(1, st.encode());
        sim.nodes[0].disk = store.encode_all();
        let m = sim.member(0, 1);
        sim.nodes[0].member = Some(m.clone());
        sim.nodes[0].core = Some(Coordinator::open(m, store, LEASE, sim.base).unwrap());
        for i in 1..n {
            let at = Duration::from_millis(sim.rng.below(1500));
            sim.joiners.push((i, None, 0, at));
        }
        for _ in 0..2 {
            let target = sim.rng.below(n as u64) as usize;
            sim.watchers.push((0, None, target));
        }
        sim
    }

    fn member(&mut self, i: usize, id: u64) -> Member {
        let ticks = ELECTION_TICKS + self.rng.below(ELECTION_TICKS as u64) as usize;
        Member { id, addr: addr_of(i), cluster: self.cluster, election_ticks: Some(ticks) }
    }

    fn now(&self) -> Instant {
        self.base + self.t
    }

    fn trace(&mut self, line: String) {
        if self.trace {
            eprintln!("{:>9.3} s  {line}", self.t.as_secs_f64());
        }
        if self.log.len() >= 60 {
            self.log.remove(0);
        }
        self.log.push(format!("{:.3} s {line}", self.t.as_secs_f64()));
    }

    fn up(&self, i: usize) -> bool {
        self.nodes[i].core.is_some()
    }

    fn linked(&self, a: usize, b: usize) -> bool {
        match &self.cut {
            Some((side, _)) => side[a] == side[b],
            None => true,
        }
    }

    fn push(&mut self, delay: Duration, ev: Ev) {
        self.seq += 1;
        self.queue.push(std::cmp::Reverse((self.t + delay, self.seq)));
        self.events.insert(self.seq, ev);
    }

    fn delay(&mut self) -> Duration {
        if self.rng.chance(self.slow_p) {
            Duration::from_millis(100 + self.rng.below(400))
        } else {
            Duration::from_millis(1 + self.rng.below(15))
        }
    }

    /// A request from a client to node `node` on a new connection.
    fn request(&mut self, end: End, node: usize, msg: Msg) -> Out {
        let conn = self.next_conn;
        self.next_conn += 1;
        self.conn_end.insert(conn, end);
        self.conn_node.insert(conn, node);
        let d = self.delay();
        self.push(d, Ev::Request { node, conn, msg });
        Out { node, conn, sent: self.t }
    }

    fn fail(&self, why: String) -> String {
        format!("{why}\nlast events:\n  {}", self.log.join("\n  "))
    }

    /// Applies a node's effects: its disk write (maybe torn by a crash), then its messages.
    fn drain(&mut self, i: usize, crash_p: f64) -> Result<(), String> {
        let last = self.nodes[i].version;
        let Some(core) = self.nodes[i].core.as_mut() else { return Ok(()) };
        let r = core.ready();
        if let Some(why) = &r.fatal {
            return Err(self.fail(format!("node {i} must stop: {why}")));
        }
        let version = core.state.version;
        let mut bytes = Vec::new();
        if version != last {
            core.state.config().encode(&mut bytes);
        }
        for l in r.log {
            self.trace(format!("node {i}: {l}"));
        }
        if let Some(w) = &r.disk {
            if crash_p > 0.0 && self.rng.chance(crash_p) {
                // It dies in the middle of the write: part of it reaches the disk, nothing
                // that depends on it leaves.
                if let Some(all) = &w.rewrite {
                    // write_atomic: all or nothing.
                    if self.rng.chance(0.5) {
                        self.nodes[i].disk = all.clone();
                    }
                } else {
                    let keep = self.rng.below(w.append.len() as u64 + 1) as usize;
                    self.nodes[i].disk.extend_from_slice(&w.append[..keep]);
                }
                self.crash(i, "crashed while writing its log");
                return Ok(());
            }
            if let Some(all) = &w.rewrite {
                self.nodes[i].disk = all.clone();
            }
            self.nodes[i].disk.extend_from_slice(&w.append);
        }
        // Property 1, as seen by this coordinator.
        if version < self.nodes[i].version {
            return Err(self.fail(format!("node {i} went back from {} to {version}", self.nodes[i].version)));
        }
        let changed = version != self.nodes[i].version;
        self.nodes[i].version = version;
        if changed && version > 0 {
            self.record(version, bytes, &format!("node {i}"))?;
        }
        for (to_id, msg) in r.raft {
            let Some(to) = self.nodes.iter().position(|n| n.member.as_ref().is_some_and(|m| m.id == to_id)) else {
                continue;
            };
            if !self.linked(i, to) || self.rng.chance(self.drop_p) {
                continue;
            }
            let d = self.delay();
            self.push(d, Ev::Raft { from: i, to, msg });
        }
        for (conn, _, msg) in r.send {
            let d = self.delay();
            self.push(d, Ev::Answer { conn, msg });
        }
        for conn in r.close {
            self.push(Duration::from_millis(1), Ev::Closed { conn });
        }
        Ok(())
    }

    fn record(&mut self, version: u64, bytes: Vec<u8>, who: &str) -> Result<(), String> {
        match self.history.get(&version) {
            Some(b) if *b != bytes => {
                let a = Configuration::decode(b).map(|c| c.to_text()).unwrap_or_default();
                let c = Configuration::decode(&bytes).map(|c| c.to_text()).unwrap_or_default();
                Err(self.fail(format!("{who} has a different configuration {version}:\n{c}\nthan before:\n{a}")))
            }
            Some(_) => Ok(()),
            None => {
                self.history.insert(version, bytes);
                Ok(())
            }
        }
    }

    fn crash(&mut self, i: usize, why: &str) {
        self.nodes[i].core = None;
        let back = self.t + Duration::from_millis(100 + self.rng.below(1500));
        self.nodes[i].down_until = Some(back);
        self.trace(format!("node {i} {why}; back at {:.3} s", back.as_secs_f64()));
        // Its client connections die with it.
        let conns: Vec<usize> = self.conn_node.iter().filter(|(_, n)| **n == i).map(|(c, _)| *c).collect();
        let mut conns = conns;
        conns.sort_unstable();
        for c in conns {
            self.push(Duration::from_millis(1), Ev::Closed { conn: c });
        }
    }

    fn restart(&mut self, i: usize) -> Result<(), String> {
        self.nodes[i].down_until = None;
        let Some(m) = self.nodes[i].member.clone() else { return Ok(()) };
        let (store, valid) = LogStore::recover(&self.nodes[i].disk).map_err(|e| self.fail(e))?;
        self.nodes[i].disk.truncate(valid);
        let core = Coordinator::open(m, store, LEASE, self.now()).map_err(|e| self.fail(e))?;
        self.trace(format!("node {i} restarts at configuration {}", core.state.version));
        self.nodes[i].version = 0;
        self.nodes[i].core = Some(core);
        self.drain(i, 0.0)
    }

    fn deliver(&mut self, ev: Ev) -> Result<(), String> {
        let now = self.now();
        match ev {
            Ev::Raft { from, to, msg } => {
                if !self.up(to) || !self.linked(from, to) {
                    return Ok(());
                }
                self.nodes[to].core.as_mut().unwrap().step(now, CoordInput::Message { conn: 0, nonce: 0, msg });
                self.drain(to, 0.002)
            }
            Ev::Request { node, conn, msg } => {
                if !self.up(node) {
                    self.push(Duration::from_millis(1), Ev::Closed { conn });
                    return Ok(());
                }
                self.nodes[node].core.as_mut().unwrap().step(now, CoordInput::Message { conn, nonce: 1, msg });
                self.drain(node, 0.002)
            }
            Ev::Answer { conn, msg } => self.answer(conn, Some(msg)),
            Ev::Closed { conn } => {
                if let Some(n) = self.conn_node.remove(&conn) {
                    if let Some(c) = self.nodes[n].core.as_mut() {
                        c.step(now, CoordInput::Closed { conn });
                    }
                }
                self.answer(conn, None)
            }
        }
    }

    /// Where to go after a redirect: the leader named, or any coordinator.
    fn next_target(&mut self, redirect: Option<&str>) -> usize {
        match redirect.and_then(index_of) {
            Some(i) if i < self.nodes.len() => i,
            _ => self.rng.below(self.nodes.len() as u64) as usize,
        }
    }

    /// A client's answer (None: its connection closed).
    fn answer(&mut self, conn: usize, msg: Option<Msg>) -> Result<(), String> {
        let Some(end) = self.conn_end.get(&conn).copied() else { return Ok(()) };
        match end {
            End::Admin => {
                if self.admin_out.as_ref().map(|o| o.conn) != Some(conn) {
                    return Ok(());
                }
                let op = self.next_op;
                match msg {
                    Some(Msg::CoordReply { code: CoordCode::Success }) => {
                        self.trace(format!("admin: space s{op} added"));
                        self.succeeded.push(format!("s{op}"));
                        self.admin_out = None;
                        self.next_op += 1;
                        self.admin_wait_until = self.t + Duration::from_millis(self.rng.below(200));
                    }
                    Some(Msg::CoordReply { code }) => {
                        return Err(self.fail(format!("adding space s{op} answered {code:?}")));
                    }
                    Some(Msg::Redirect { leader }) => {
                        self.admin_target = self.next_target(Some(&leader));
                        self.admin_out = None;
                        self.admin_wait_until = self.t + Duration::from_millis(20);
                    }
                    _ => {
                        self.admin_target = self.next_target(None);
                        self.admin_out = None;
                    }
                }
            }
            End::Watcher(w) => {
                if self.watchers[w].1.as_ref().map(|o| o.conn) != Some(conn) {
                    return Ok(());
                }
                match msg {
                    Some(Msg::Config { config }) => {
                        let cfg = Configuration::decode(&config).map_err(|_| self.fail("undecodable config".into()))?;
                        let have = self.watchers[w].0;
                        if cfg.version <= have {
                            return Err(self.fail(format!("watcher {w} had {have} and was sent {}", cfg.version)));
                        }
                        self.record(cfg.version, config, &format!("watcher {w}"))?;
                        self.watchers[w].0 = cfg.version;
                        // The wait goes on on the same connection.
                        let node = self.watchers[w].1.as_ref().unwrap().node;
                        let d = self.delay();
                        self.push(d, Ev::Request { node, conn, msg: Msg::ConfigWait { have: cfg.version } });
                        self.watchers[w].1.as_mut().unwrap().sent = self.t;
                    }
                    Some(Msg::Redirect { leader }) => {
                        self.watchers[w].2 = self.next_target(Some(&leader));
                        self.watchers[w].1 = None;
                    }
                    _ => {
                        self.watchers[w].2 = self.next_target(None);
                        self.watchers[w].1 = None;
                    }
                }
            }
            End::Joiner(j) => {
                if self.joiners[j].1.as_ref().map(|o| o.conn) != Some(conn) {
                    return Ok(());
                }
                let i = self.joiners[j].0;
                match msg {
                    Some(Msg::Joined { cluster, id }) => {
                        if cluster != self.cluster {
                            return Err(self.fail(format!("node {i} joined cluster {cluster}")));
                        }
                        self.trace(format!("node {i} joined as coordinator {id}"));
                        let m = self.member(i, id);
                        self.nodes[i].member = Some(m.clone());
                        let core =
                            Coordinator::open(m, LogStore::default(), LEASE, self.now()).map_err(|e| self.fail(e))?;
                        self.nodes[i].core = Some(core);
                        self.joiners[j].1 = None;
                        self.joiners[j].3 = Duration::MAX;
                        self.drain(i, 0.0)?;
                    }
                    Some(Msg::Redirect { leader }) => {
                        self.joiners[j].2 = self.next_target(Some(&leader));
                        self.joiners[j].1 = None;
                        self.joiners[j].3 = self.t + Duration::from_millis(50);
                    }
                    Some(other) => return Err(self.fail(format!("node {i}'s join was answered {other:?}"))),
                    None => {
                        self.joiners[j].2 = self.next_target(None);
                        self.joiners[j].1 = None;
                        self.joiners[j].3 = self.t + Duration::from_millis(50);
                    }
                }
            }
        }
        Ok(())
    }

    /// Clients act: send what is due, give up on what timed out.
    fn clients(&mut self, admin_active: bool) {
        let t = self.t;
        if admin_active && self.next_op <= self.ops && t >= self.admin_wait_until {
            let timed_out = self.admin_out.as_ref().is_some_and(|o| t >= o.sent + REQUEST_TIMEOUT);
            if timed_out {
                let o = self.admin_out.take().unwrap();
                self.conn_end.remove(&o.conn);
                self.admin_target = self.next_target(None);
            }
            if self.admin_out.is_none() {
                let op = self.next_op;
                // The token is the operation: every retry is the same request.
                let msg = Msg::AddSpace { description: format!("space s{op} key k attributes v"), token: op };
                let target = self.admin_target;
                self.admin_out = Some(self.request(End::Admin, target, msg));
            }
        }
        for w in 0..self.watchers.len() {
            let timed_out = self.watchers[w].1.as_ref().is_some_and(|o| t >= o.sent + Duration::from_secs(5));
            if timed_out {
                let o = self.watchers[w].1.take().unwrap();
                self.conn_end.remove(&o.conn);
                self.watchers[w].2 = self.next_target(None);
            }
            if self.watchers[w].1.is_none() {
                let have = self.watchers[w].0;
                let target = self.watchers[w].2;
                self.watchers[w].1 = Some(self.request(End::Watcher(w), target, Msg::ConfigWait { have }));
            }
        }
        for j in 0..self.joiners.len() {
            if t < self.joiners[j].3 {
                continue;
            }
            let timed_out = self.joiners[j].1.as_ref().is_some_and(|o| t >= o.sent + REQUEST_TIMEOUT);
            if timed_out {
                let o = self.joiners[j].1.take().unwrap();
                self.conn_end.remove(&o.conn);
                self.joiners[j].2 = self.next_target(None);
            }
            if self.joiners[j].1.is_none() {
                let i = self.joiners[j].0;
                let target = self.joiners[j].2;
                if target == i {
                    self.joiners[j].2 = 0;
                    continue;
                }
                let msg = Msg::Join { id: 0, addr: addr_of(i), cluster: 0 };
                self.joiners[j].1 = Some(self.request(End::Joiner(j), target, msg));
            }
        }
    }

    /// A random fault, keeping a majority of members up.
    fn fault(&mut self) {
        let members: Vec<usize> = (0..self.nodes.len()).filter(|i| self.nodes[*i].member.is_some()).collect();
        let down = members.iter().filter(|i| !self.up(**i)).count();
        match self.rng.below(3) {
            0 if (down + 1) * 2 < members.len() => {
                let live: Vec<usize> = members.iter().copied().filter(|i| self.up(*i)).collect();
                if !live.is_empty() {
                    let i = live[self.rng.below(live.len() as u64) as usize];
                    self.crash(i, "crashes");
                }
            }
            1 => {
                if self.cut.is_none() {
                    let side: Vec<bool> = (0..self.nodes.len()).map(|_| self.rng.chance(0.5)).collect();
                    let until = self.t + Duration::from_millis(200 + self.rng.below(2000));
                    self.trace(format!("partition {side:?} until {:.3} s", until.as_secs_f64()));
                    self.cut = Some((side, until));
                }
            }
            _ => {
                // The leader, if any, crashes (when a majority stays up).
                if (down + 1) * 2 < members.len() {
                    if let Some(i) =
                        members.iter().copied().find(|i| self.nodes[*i].core.as_ref().is_some_and(|c| c.is_leader()))
                    {
                        self.crash(i, "(the leader) crashes");
                    }
                }
            }
        }
    }

    fn quiet(&self) -> bool {
        let members: Vec<&Node> = self.nodes.iter().filter(|n| n.member.is_some()).collect();
        members.len() == self.nodes.len()
            && members.iter().all(|n| n.core.is_some())
            && self.next_op > self.ops
            && members.iter().any(|n| {
                let c = n.core.as_ref().unwrap();
                c.is_leader() && c.voters().len() == self.nodes.len()
            })
            && members
                .iter()
                .all(|n| n.core.as_ref().unwrap().state.version == members[0].core.as_ref().unwrap().state.version)
    }

    fn run(&mut self) -> Result<(), String> {
        let fault_end = Duration::from_millis(1500 + self.rng.below(5000));
        let nfaults = self.rng.below(8);
        let mut faults: Vec<Duration> =
            (0..nfaults).map(|_| Duration::from_millis(self.rng.below(fault_end.as_millis() as u64))).collect();
        faults.sort();
        let limit = fault_end + Duration::from_secs(30);
        loop {
            self.t += STEP;
            if self.t > limit {
                let states: Vec<String> = self
                    .nodes
                    .iter()
                    .enumerate()
                    .map(|(i, n)| match &n.core {
                        Some(c) => {
                            format!("node {i}: version {} leader {} term {}", c.state.version, c.is_leader(), c.term())
                        }
                        None => format!("node {i}: down or not joined"),
                    })
                    .collect();
                return Err(self.fail(format!(
                    "no progress 30 s after the faults ended: op {} of {}; {}",
                    self.next_op,
                    self.ops,
                    states.join("; ")
                )));
            }
            while faults.first().is_some_and(|f| *f <= self.t) {
                faults.remove(0);
                self.fault();
            }
            if self.cut.as_ref().is_some_and(|(_, until)| *until <= self.t) {
                self.trace("partition healed".into());
                self.cut = None;
            }
            for i in 0..self.nodes.len() {
                if self.nodes[i].down_until.is_some_and(|u| u <= self.t) {
                    self.restart(i)?;
                }
            }
            while let Some(std::cmp::Reverse((at, id))) = self.queue.peek().copied() {
                if at > self.t {
                    break;
                }
                self.queue.pop();
                let ev = self.events.remove(&id).unwrap();
                self.deliver(ev)?;
            }
            let now = self.now();
            for i in 0..self.nodes.len() {
                if let Some(c) = self.nodes[i].core.as_mut() {
                    c.step(now, CoordInput::Tick);
                    self.drain(i, 0.0)?;
                }
            }
            self.clients(true);
            if self.t > fault_end && self.cut.is_none() && self.quiet() {
                break;
            }
        }
        // Property 2: every acknowledged space is there once, on every coordinator.
        for (i, n) in self.nodes.iter().enumerate() {
            let st = &n.core.as_ref().unwrap().state;
            for name in &self.succeeded {
                let count = st.spaces.iter().filter(|s| &s.name == name).count();
                if count != 1 {
                    return Err(self.fail(format!("node {i} has space {name} {count} times after it was acknowledged")));
                }
            }
            if st.coordinators.len() != self.nodes.len() {
                return Err(self.fail(format!("node {i} lists {} coordinators", st.coordinators.len())));
            }
            let voters = n.core.as_ref().unwrap().voters();
            if n.core.as_ref().unwrap().is_leader() && voters.len() != self.nodes.len() {
                return Err(self.fail(format!("the leader (node {i}) has voters {voters:?}")));
            }
        }
        Ok(())
    }
}

fn env(name: &str) -> Option<u64> {
    std::env::var(name).ok()?.parse().ok()
}

#[test]
fn group_simulation_keeps_one_growing_sequence_of_configurations() {
    let seeds: Vec<u64> = match env("GROUP_SIM_SEED") {
        Some(s) => vec![s],
        None => (1..=env("GROUP_SIM_CASES").unwrap_or(if cfg!(debug_assertions) { 20 } else { 300 })).collect(),
    };
    let mut failed = Vec::new();
    let mut versions = 0;
    for seed in &seeds {
        let mut sim = Sim::new(*seed);
        match sim.run() {
            Ok(()) => versions += sim.history.len(),
            Err(e) => {
                eprintln!("group_sim: seed {seed} failed: {}", e.lines().next().unwrap_or(""));
                failed.push((*seed, e));
            }
        }
    }
    eprintln!("group_sim: {} runs, {} failed, {versions} configurations checked", seeds.len(), failed.len());
    if let Some((seed, e)) = failed.first() {
        panic!("group_sim: seed {seed} failed:\n{e}\nreplay: GROUP_SIM_SEED={seed} GROUP_SIM_TRACE=1 cargo test --release -p hyperdex-server group_sim -- --nocapture");
    }
}
