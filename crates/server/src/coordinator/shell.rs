//! The coordinator's mio shell: accepts connections, moves frames between them and the
//! [`Coordinator`] core, keeps connections to the other coordinators of the group, and makes
//! the raft log durable (`raft.log` in the data directory) before anything that depends on
//! it leaves.

use super::raftlog::LogStore;
use super::{random_u64, write_atomic, CoordInput, CoordState, Coordinator, DiskWrite, Member, RAFT_TICK};
use crate::net::Conn;
use hyperdex_core::config::CoordinatorAddr;
use hyperdex_core::proto::Msg;
use hyperdex_core::wire::MAX_FRAME;
use mio::net::{TcpListener, TcpStream};
use mio::{Events, Interest, Poll, Token};
use std::collections::{HashMap, HashSet};
use std::io::{self, Write};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::{Duration, Instant};

const LISTENER: Token = Token(0);
const LOG_FILE: &str = "raft.log";
const ID_FILE: &str = "coordinator.id";
/// The single coordinator's state file before the group: read once to upgrade.
const OLD_STATE_FILE: &str = "hyperdex-coordinator.state";
/// How soon a lost connection to another coordinator is tried again.
const PEER_RETRY: Duration = Duration::from_millis(100);
/// How long joining an existing group may take.
const JOIN_TIMEOUT: Duration = Duration::from_secs(30);

/// How a coordinator starts.
pub struct Options {
    pub listen: SocketAddr,
    /// The address the others reach this coordinator at (the listen address, unless that is
    /// unspecified).
    pub advertise: String,
    pub dir: PathBuf,
    pub lease: Duration,
    /// `-c HOST -P PORT`: a member of the group to join.
    pub join: Option<(String, u16)>,
}

/// Who this coordinator is: its raft id and the cluster it belongs to (file `coordinator.id`).
#[derive(Debug, PartialEq, Eq)]
struct Identity {
    id: u64,
    cluster: u64,
}

impl Identity {
    fn to_text(&self) -> String {
        format!("id={}\ncluster={}\n", self.id, self.cluster)
    }

    fn parse(text: &str) -> Option<Identity> {
        let (mut id, mut cluster) = (None, None);
        for line in text.lines() {
            match line.split_once('=') {
                Some(("id", v)) => id = v.trim().parse().ok(),
                Some(("cluster", v)) => cluster = v.trim().parse().ok(),
                _ => {}
            }
        }
        Some(Identity { id: id.filter(|i| *i != 0)?, cluster: cluster? })
    }
}

fn invalid(msg: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg)
}

/// The append-only raft log file.
struct Disk {
    path: PathBuf,
    file: std::fs::File,
}

impl Disk {
    fn open(path: PathBuf, valid: usize) -> io::Result<Disk> {
        let file = std::fs::OpenOptions::new().read(true).append(true).create(true).open(&path)?;
        // Whatever follows the last whole record is a write that a crash interrupted.
        if file.metadata()?.len() > valid as u64 {
            file.set_len(valid as u64)?;
            file.sync_all()?;
        }
        Ok(Disk { path, file })
    }

    fn write(&mut self, w: &DiskWrite) -> io::Result<()> {
        if let Some(all) = &w.rewrite {
            write_atomic(&self.path, all)?;
            self.file = std::fs::OpenOptions::new().append(true).open(&self.path)?;
        }
        if !w.append.is_empty() {
            self.file.write_all(&w.append)?;
        }
        self.file.sync_data()
    }
}

/// Asks the group (through `host:port`, following redirects to its leader) to let this
/// coordinator join; its identity (raft id, cluster) once it is a member.
fn join_group(host: &str, port: u16, me: &Identity, addr: &str) -> io::Result<Identity> {
    let deadline = Instant::now() + JOIN_TIMEOUT;
    let mut last = String::new();
    while Instant::now() < deadline {
        // The tools' request follows redirects to the leader (and waits out an election or
        // another membership change: the leader then redirects to itself).
        let req = Msg::Join { id: me.id, addr: addr.to_string(), cluster: me.cluster };
        match crate::tools::rpc(host, port, &req) {
            Ok(Msg::Joined { cluster, id }) if id != 0 && (me.id == 0 || me.id == id) => {
                return Ok(Identity { id, cluster })
            }
            Ok(Msg::CoordReply { code }) => {
                return Err(invalid(format!(
                    "the group of the coordinator at {host}:{port} refused to let this one join ({}): {}",
                    code.message(),
                    if me.cluster != 0 {
                        format!("is cluster {} its cluster? see its leader's log", me.cluster)
                    } else {
                        "see its leader's log".to_string()
                    }
                )))
            }
            Ok(other) => last = format!("unexpected answer {other:?}"),
            Err(e) => last = e.to_string(),
        }
        // No coordinator answered: ask again shortly.
        std::thread::sleep(Duration::from_millis(100));
    }
    Err(io::Error::new(io::ErrorKind::TimedOut, format!("could not join the group at {host}:{port}: {last}")))
}

/// Set when `-c/-P` names a coordinator of another cluster: why this one must stop.
static WRONG_GROUP: std::sync::Mutex<Option<String>> = std::sync::Mutex::new(None);

/// Asks the group at `host:port` for its configuration until one answers; records an error
/// if it is not cluster `cluster`'s.
fn check_cluster(host: String, port: u16, cluster: u64) {
    std::thread::spawn(move || {
        let deadline = Instant::now() + Duration::from_secs(120);
        while Instant::now() < deadline {
            if let Ok(Msg::Config { config }) = crate::tools::rpc(&host, port, &Msg::ConfigWait { have: 0 }) {
                if let Ok(cfg) = hyperdex_core::config::Configuration::decode(&config) {
                    if cfg.cluster != cluster {
                        *WRONG_GROUP.lock().unwrap() = Some(format!(
                            "this data directory belongs to cluster {cluster}, but the coordinator at {host}:{port} runs cluster {}",
                            cfg.cluster
                        ));
                    }
                    return;
                }
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    });
}

/// Loads (or creates) this coordinator's identity and raft log.
fn start(opts: &Options) -> io::Result<(Member, LogStore, Disk)> {
    let id_path = opts.dir.join(ID_FILE);
    let log_path = opts.dir.join(LOG_FILE);
    let identity = match std::fs::read_to_string(&id_path) {
        Ok(t) => Some(Identity::parse(&t).ok_or_else(|| invalid(format!("{} is corrupt", id_path.display())))?),
        Err(e) if e.kind() == io::ErrorKind::NotFound => None,
        Err(e) => return Err(e),
    };
    let member =
        |me: &Identity| Member { id: me.id, addr: opts.advertise.clone(), cluster: me.cluster, election_ticks: None };
    if let Some(me) = identity {
        // A member without its log must not take part as itself: it could vote twice in a
        // term, or forget entries it helped commit.
        let buf = match std::fs::read(&log_path) {
            Ok(b) => b,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Err(invalid(format!(
                    "{} is missing: member {} lost its raft log and cannot rejoin as itself (start a new member with another address and data directory)",
                    log_path.display(),
                    me.id
                )))
            }
            Err(e) => return Err(e),
        };
        let (store, valid) = LogStore::recover(&buf).map_err(|e| invalid(format!("{}: {e}", log_path.display())))?;
        if valid == 0 && !buf.is_empty() {
            return Err(invalid(format!("{} is corrupt from its first record", log_path.display())));
        }
        if valid < buf.len() {
            eprintln!(
                "hyperdex coordinator: {}: cut off {} bytes after the last whole record (a write the crash interrupted)",
                log_path.display(),
                buf.len() - valid
            );
        }
        if let Some((h, p)) = &opts.join {
            // Already a member: -c/-P only has to name a coordinator of the same cluster,
            // checked in the background (the group may be restarting with us).
            check_cluster(h.clone(), *p, me.cluster);
        }
        let disk = Disk::open(log_path, valid)?;
        return Ok((member(&me), store, disk));
    }
    if let Some((h, p)) = &opts.join {
        // The leader gives it an id; until it has one, nothing is written here.
        let me = join_group(h, *p, &Identity { id: 0, cluster: 0 }, &opts.advertise)?;
        // The (empty) log exists before the identity does: an identity without a log is a
        // member that lost it.
        let disk = Disk::open(log_path, 0)?;
        disk.file.sync_all()?;
        write_atomic(&id_path, me.to_text().as_bytes())?;
        return Ok((member(&me), LogStore::default(), disk));
    }
    // The first coordinator of a new cluster (or of one a single coordinator ran before).
    let old = opts.dir.join(OLD_STATE_FILE);
    let mut state = match std::fs::read(&old) {
        Ok(buf) => CoordState::decode(&buf).map_err(|_| invalid(format!("{} is corrupt", old.display())))?,
        Err(e) if e.kind() == io::ErrorKind::NotFound => CoordState::new(random_u64()),
        Err(e) => return Err(e),
    };
    state.coordinators = vec![CoordinatorAddr { id: 1, addr: opts.advertise.clone() }];
    let me = Identity { id: 1, cluster: state.cluster };
    let store = LogStore::bootstrap(1, state.encode());
    write_atomic(&log_path, &store.encode_all())?;
    write_atomic(&id_path, me.to_text().as_bytes())?;
    let disk = Disk::open(log_path, store.encode_all().len())?;
    Ok((member(&me), store, disk))
}

/// Connections to the other coordinators, by raft id (outbound only: what they send us
/// arrives on connections they opened).
struct Peers {
    conns: HashMap<u64, (Token, Conn)>,
    retry: HashMap<u64, Instant>,
}

/// Runs the coordinator until a SIGINT/SIGTERM.
pub fn run(opts: Options) -> io::Result<()> {
    let mut poll = Poll::new()?;
    // Listening before joining: the leader starts sending as soon as we are a member.
    let mut listener = TcpListener::bind(opts.listen)?;
    let (member, store, mut disk) = start(&opts)?;
    poll.registry().register(&mut listener, LISTENER, Interest::READABLE)?;
    let now = Instant::now();
    let mut core = Coordinator::open(member, store, opts.lease, now).map_err(invalid)?;
    eprintln!(
        "hyperdex coordinator: member {} of cluster {} (configuration {}) listening on {} as {} (raft log in {}, daemon lease {} ms)",
        core.id(),
        core.state.cluster,
        core.state.version,
        listener.local_addr()?,
        opts.advertise,
        opts.dir.display(),
        opts.lease.as_millis()
    );
    crate::signals::install();
    crate::signals::ready(Ok(()));
    let mut conns: HashMap<usize, Conn> = HashMap::new();
    let mut peers = Peers { conns: HashMap::new(), retry: HashMap::new() };
    let mut next_token = 1usize;
    let mut events = Events::with_capacity(256);
    let tick = (opts.lease / 10).clamp(Duration::from_millis(5), RAFT_TICK);
    while !crate::signals::stopping() {
        if let Some(why) = WRONG_GROUP.lock().unwrap().take() {
            return Err(invalid(why));
        }
        match poll.poll(&mut events, Some(tick)) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
        let now = Instant::now();
        let mut touched: Vec<usize> = Vec::new();
        for ev in events.iter() {
            if ev.token() == LISTENER {
                while let Ok((mut s, _)) = listener.accept() {
                    let t = next_token;
                    next_token += 1;
                    if poll.registry().register(&mut s, Token(t), Interest::READABLE).is_ok() {
                        conns.insert(t, Conn::new(s));
                    }
                }
                continue;
            }
            let t = ev.token().0;
            if let Some((_, c)) = peers.conns.values_mut().find(|(tk, _)| tk.0 == t) {
                // Outbound to a coordinator: nothing is expected back but the close.
                if ev.is_readable() && !c.fill() {
                    c.dead = true;
                }
                if ev.is_writable() {
                    c.flush();
                }
                continue;
            }
            let Some(c) = conns.get_mut(&t) else { continue };
            if ev.is_readable() {
                c.fill();
                loop {
                    let (ty, nonce, body) = match c.next_owned(MAX_FRAME) {
                        Ok(Some(f)) => f,
                        Ok(None) => break,
                        Err(_) => {
                            c.dead = true;
                            break;
                        }
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
        if let Some(why) = ready.fatal {
            return Err(invalid(why));
        }
        if let Some(w) = &ready.disk {
            // Durable before anyone hears of what depends on it.
            disk.write(w)?;
        }
        send_to_peers(&poll, &core, &mut peers, &mut next_token, ready.raft, now);
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
        let mut seen = HashSet::new();
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
            update_interest(&poll, c, Token(t));
        }
    }
    Ok(())
}

fn update_interest(poll: &Poll, c: &mut Conn, t: Token) {
    let want = c.has_output();
    if want != c.want_write {
        c.want_write = want;
        let interest = if want { Interest::READABLE | Interest::WRITABLE } else { Interest::READABLE };
        let _ = poll.registry().reregister(&mut c.stream, t, interest);
    }
}

/// Sends raft messages on the outbound connection to each coordinator, opening it when
/// needed. A message to a coordinator that cannot be reached is dropped: raft sends again.
fn send_to_peers(
    poll: &Poll,
    core: &Coordinator,
    peers: &mut Peers,
    next_token: &mut usize,
    msgs: Vec<(u64, Msg)>,
    now: Instant,
) {
    let mut used = Vec::new();
    for (to, m) in msgs {
        if !peers.conns.contains_key(&to) {
            if peers.retry.get(&to).is_some_and(|r| now < *r) {
                continue;
            }
            let Some(addr) = core.peer_addr(to).and_then(|a| a.parse::<SocketAddr>().ok()) else { continue };
            peers.retry.insert(to, now + PEER_RETRY);
            let Ok(mut s) = TcpStream::connect(addr) else { continue };
            let t = Token(*next_token);
            *next_token += 1;
            if poll.registry().register(&mut s, t, Interest::READABLE | Interest::WRITABLE).is_err() {
                continue;
            }
            let mut c = Conn::new(s);
            c.want_write = true;
            peers.conns.insert(to, (t, c));
        }
        let (_, c) = peers.conns.get_mut(&to).unwrap();
        // A peer that stopped reading: drop rather than buffer without bound.
        if c.unsent() < 64 << 20 {
            m.encode(0, &mut c.wbuf);
        }
        used.push(to);
    }
    used.sort_unstable();
    used.dedup();
    for to in used {
        if let Some((t, c)) = peers.conns.get_mut(&to) {
            c.flush();
            if !c.dead {
                update_interest(poll, c, *t);
            }
        }
    }
    let dead: Vec<u64> = peers.conns.iter().filter(|(_, (_, c))| c.dead).map(|(id, _)| *id).collect();
    for id in dead {
        if let Some((_, mut c)) = peers.conns.remove(&id) {
            let _ = poll.registry().deregister(&mut c.stream);
        }
    }
}

/// The address to advertise when listening on `listen`: itself, unless unspecified (then
/// the local address that reaches `toward`, the coordinator it joins; for the first one,
/// the address of the default route, so that coordinators and daemons on other hosts can
/// use it; loopback when there is none).
pub fn advertise(listen: SocketAddr, toward: Option<SocketAddr>) -> String {
    if !listen.ip().is_unspecified() {
        return listen.to_string();
    }
    // A documentation address (TEST-NET-1): connecting a UDP socket sends nothing, it
    // only picks the source address of the route there.
    let default_route = SocketAddr::from(([192, 0, 2, 1], 9));
    let ip = Some(toward.unwrap_or(default_route))
        .and_then(|t| {
            let s = std::net::UdpSocket::bind(("0.0.0.0", 0)).ok()?;
            s.connect(t).ok()?;
            s.local_addr().ok().map(|a| a.ip())
        })
        .unwrap_or(std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST));
    SocketAddr::new(ip, listen.port()).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identity_files_round_trip_and_bad_ones_are_refused() {
        let me = Identity { id: 77, cluster: 9 };
        assert_eq!(Identity::parse(&me.to_text()), Some(me));
        assert_eq!(Identity::parse("id=0\ncluster=9\n"), None);
        assert_eq!(Identity::parse("cluster=9\n"), None);
        assert_eq!(Identity::parse("id=x\ncluster=9\n"), None);
    }

    #[test]
    fn a_torn_log_tail_is_cut_off_when_the_file_is_opened() {
        let dir = std::env::temp_dir().join(format!("hdx-disk-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(LOG_FILE);
        let store = LogStore::bootstrap(1, b"x".to_vec());
        let mut bytes = store.encode_all();
        let good = bytes.len();
        bytes.extend_from_slice(&[1, 2, 3]);
        std::fs::write(&path, &bytes).unwrap();
        let (_, valid) = LogStore::recover(&bytes).unwrap();
        assert_eq!(valid, good);
        let mut d = Disk::open(path.clone(), valid).unwrap();
        assert_eq!(std::fs::metadata(&path).unwrap().len() as usize, good);
        let mut w = DiskWrite::default();
        super::super::raftlog::hard_state_record(&mut w.append, store.hard_state());
        d.write(&w).unwrap();
        let (back, valid) = LogStore::recover(&std::fs::read(&path).unwrap()).unwrap();
        assert_eq!(valid, std::fs::metadata(&path).unwrap().len() as usize);
        assert_eq!(back.hard_state(), store.hard_state());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
