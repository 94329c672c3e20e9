//! The coordinator: owns the cluster configuration (servers, spaces, regions and their
//! chains) under a version that only grows, persists it in its data directory, and answers
//! configuration waits, space changes and daemon registrations.
//!
//! [`CoordState`] is the pure state machine (requests in, answers and a new configuration
//! out); [`run`] is the mio shell that moves bytes and writes the state file.

use crate::net::Conn;
use hyperdex_core::config::{Configuration, Region, Replica, Server, Space, Subspace};
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
use std::time::Duration;

/// A registered daemon.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServerRec {
    pub id: u64,
    pub addr: String,
    pub available: bool,
}

/// The coordinator's whole state. Everything here is persisted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CoordState {
    pub cluster: u64,
    pub version: u64,
    /// Source of every space, subspace, region and virtual-server id.
    pub next_id: u64,
    pub servers: Vec<ServerRec>,
    pub spaces: Vec<Space>,
}

const STATE_MAGIC: &[u8; 8] = b"HDXCRD01";

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
        CoordState { cluster, version: 1, next_id: 1, servers: Vec::new(), spaces: Vec::new() }
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
            servers: self
                .servers
                .iter()
                .filter(|s| s.available)
                .map(|s| Server { id: s.id, addr: s.addr.clone() })
                .collect(),
            spaces: self.spaces.clone(),
        }
    }

    fn available(&self) -> Vec<u64> {
        self.servers.iter().filter(|s| s.available).map(|s| s.id).collect()
    }

    /// A daemon (re-)registers. A known id may come back (with a new address); a new id may
    /// not take the address of another registered server.
    pub fn register(&mut self, id: u64, addr: &str) -> CoordCode {
        if id == 0 || addr.parse::<SocketAddr>().is_err() {
            return CoordCode::Malformed;
        }
        if self.servers.iter().any(|s| s.id != id && s.addr == addr) {
            return CoordCode::Duplicate;
        }
        match self.servers.iter_mut().find(|s| s.id == id) {
            Some(s) => {
                s.addr = addr.to_string();
                s.available = true;
            }
            None => self.servers.push(ServerRec { id, addr: addr.to_string(), available: true }),
        }
        self.fill_regions();
        self.version += 1;
        CoordCode::Success
    }

    /// Appends available servers to every region with fewer than f+1 replicas. The region's
    /// previous tail copies its objects to the newcomer (the daemon's state transfer).
    fn fill_regions(&mut self) {
        let avail = self.available();
        let mut rng = Rng(self.cluster ^ self.version.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
        let mut next_id = self.next_id;
        for sp in &mut self.spaces {
            let want = sp.fault_tolerance as usize + 1;
            for ss in &mut sp.subspaces {
                for r in &mut ss.regions {
                    while r.replicas.len() < want {
                        let candidates: Vec<u64> =
                            avail.iter().copied().filter(|s| r.replicas.iter().all(|p| p.server != *s)).collect();
                        if candidates.is_empty() {
                            break;
                        }
                        let pick = candidates[(rng.next() % candidates.len() as u64) as usize];
                        r.replicas.push(Replica { server: pick, vid: next_id });
                        next_id += 1;
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
                regions.push(Region { id: rid, lower, upper, replicas: Vec::new() });
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
        w.u64(self.next_id).count(self.servers.len());
        for s in &self.servers {
            w.u64(s.id).bytes(s.addr.as_bytes()).u8(s.available as u8);
        }
        w.bytes(&cfg);
        out
    }

    pub fn decode(buf: &[u8]) -> DResult<CoordState> {
        if buf.len() < 8 || &buf[..8] != STATE_MAGIC {
            return Err(DecodeError);
        }
        let mut r = Reader::new(&buf[8..]);
        let next_id = r.u64()?;
        let n = r.count(13)?;
        let mut servers = Vec::with_capacity(n);
        for _ in 0..n {
            let id = r.u64()?;
            let addr = r.string()?.to_string();
            let available = r.u8()? != 0;
            servers.push(ServerRec { id, addr, available });
        }
        let cfg = Configuration::decode(r.bytes()?)?;
        r.finish()?;
        // Counters this large cannot come from a real cluster (2^63 increments); refusing
        // them keeps every later `+ 1` from overflowing.
        if next_id >= 1 << 63 || cfg.version >= 1 << 63 {
            return Err(DecodeError);
        }
        Ok(CoordState { cluster: cfg.cluster, version: cfg.version, next_id, servers, spaces: cfg.spaces })
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

/// Runs the coordinator until a SIGINT/SIGTERM.
pub fn run(listen: SocketAddr, dir: &Path) -> io::Result<()> {
    let (mut state, path) = load_or_init(dir)?;
    let mut poll = Poll::new()?;
    let mut listener = TcpListener::bind(listen)?;
    poll.registry().register(&mut listener, LISTENER, Interest::READABLE)?;
    eprintln!(
        "hyperdex coordinator: cluster {} version {} listening on {} (state in {})",
        state.cluster,
        state.version,
        listener.local_addr()?,
        path.display()
    );
    crate::signals::install();
    crate::signals::ready(Ok(()));
    let mut conns: HashMap<Token, Conn> = HashMap::new();
    let mut next_token = 1usize;
    // (connection, nonce, version the waiter has)
    let mut waiters: Vec<(Token, u64, u64)> = Vec::new();
    let mut events = Events::with_capacity(256);
    let mut config_bytes = Vec::new();
    state.config().encode(&mut config_bytes);
    while !crate::signals::stopping() {
        match poll.poll(&mut events, Some(Duration::from_millis(200))) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
        let before = state.version;
        let mut touched: Vec<Token> = Vec::new();
        // Connections sent a configuration in this pass: flushed before the others too.
        let mut answered_config: Vec<Token> = Vec::new();
        for ev in events.iter() {
            if ev.token() == LISTENER {
                loop {
                    match listener.accept() {
                        Ok((mut s, _)) => {
                            let t = Token(next_token);
                            next_token += 1;
                            if poll.registry().register(&mut s, t, Interest::READABLE).is_ok() {
                                conns.insert(t, Conn::new(s));
                            }
                        }
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                        Err(_) => break,
                    }
                }
                continue;
            }
            let t = ev.token();
            let Some(c) = conns.get_mut(&t) else { continue };
            if ev.is_readable() {
                c.fill();
                loop {
                    let (ty, nonce, body) = match c.next_owned(MAX_FRAME) {
                        Ok(Some(f)) => f,
                        Ok(None) => break,
                        Err(_) => break,
                    };
                    let reply = match Msg::decode(ty, &body) {
                        Ok(Msg::ConfigWait { have }) => {
                            if have < state.version {
                                answered_config.push(t);
                                Some(Msg::Config { config: config_bytes.clone() })
                            } else {
                                // One standing wait per connection is all a client or daemon
                                // needs; a newer one replaces it (no unbounded list).
                                waiters.retain(|w| w.0 != t);
                                waiters.push((t, nonce, have));
                                None
                            }
                        }
                        Ok(Msg::AddSpace { description }) => {
                            Some(Msg::CoordReply { code: state.add_space(&description) })
                        }
                        Ok(Msg::RmSpace { name }) => Some(Msg::CoordReply { code: state.rm_space(&name) }),
                        Ok(Msg::Register { server, addr }) => {
                            let code = state.register(server, &addr);
                            if code == CoordCode::Success {
                                eprintln!("hyperdex coordinator: server {server} registered at {addr}");
                            }
                            Some(Msg::CoordReply { code })
                        }
                        // Anything else is not for a coordinator: drop that peer.
                        _ => {
                            c.dead = true;
                            break;
                        }
                    };
                    if state.version != before {
                        // Persist before anyone hears of the new version.
                        write_atomic(&path, &state.encode())?;
                        config_bytes.clear();
                        state.config().encode(&mut config_bytes);
                    }
                    if let Some(m) = reply {
                        m.encode(nonce, &mut c.wbuf);
                    }
                }
            }
            touched.push(t);
        }
        if state.version != before {
            let v = state.version;
            let mut notified = Vec::new();
            waiters.retain(|(t, nonce, have)| {
                if *have >= v {
                    return true;
                }
                if let Some(c) = conns.get_mut(t) {
                    Msg::Config { config: config_bytes.clone() }.encode(*nonce, &mut c.wbuf);
                    notified.push(*t);
                }
                false
            });
            // The new configuration goes out before the answer to the request that made it:
            // once add_space returns to its caller, every client following the configuration
            // already has the news in its socket.
            notified.append(&mut answered_config);
            notified.append(&mut touched);
            touched = notified;
        }
        for t in touched {
            let Some(c) = conns.get_mut(&t) else { continue };
            if !c.dead {
                c.flush();
            }
            if c.dead {
                let mut c = conns.remove(&t).unwrap();
                let _ = poll.registry().deregister(&mut c.stream);
                waiters.retain(|w| w.0 != t);
                continue;
            }
            let want = c.has_output();
            if want != c.want_write {
                c.want_write = want;
                let interest = if want { Interest::READABLE | Interest::WRITABLE } else { Interest::READABLE };
                let _ = poll.registry().reregister(&mut c.stream, t, interest);
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
        // A second server fills every region to f+1 = 2.
        assert_eq!(st.register(8, "127.0.0.1:2013"), CoordCode::Success);
        for r in &st.spaces[0].subspaces[0].regions {
            assert_eq!(r.replicas.len(), 2);
            assert_ne!(r.replicas[0].server, r.replicas[1].server);
        }
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
        for r in &st.spaces[0].subspaces[0].regions {
            assert_eq!(r.replicas.len(), 3);
        }
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
