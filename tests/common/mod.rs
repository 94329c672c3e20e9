//! Test harness: real coordinator and daemon processes on 127.0.0.1, free ports, temporary
//! data directories, and a raw protocol client for talking to them byte by byte.
#![allow(dead_code)]

pub mod linearizability;

use hyperdex_core::config::Configuration;
use hyperdex_core::proto::Msg;
use hyperdex_core::wire::{parse_frame, MAX_FRAME};
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The `hyperdex` binary: $HYPERDEX_BIN, or the one cargo built next to this test.
pub fn hyperdex_bin() -> PathBuf {
    if let Ok(p) = std::env::var("HYPERDEX_BIN") {
        return PathBuf::from(p);
    }
    let exe = std::env::current_exe().unwrap();
    let dir = exe.parent().unwrap().parent().unwrap();
    let p = dir.join("hyperdex");
    assert!(p.exists(), "{} not built: run cargo build --workspace first", p.display());
    p
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

pub fn temp_dir(tag: &str) -> PathBuf {
    let base = std::env::var("CARGO_TARGET_TMPDIR").map(PathBuf::from).unwrap_or_else(|_| std::env::temp_dir());
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();
    let d = base.join(format!("hdx-{tag}-{}-{nanos}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Waits for `cond` with a deadline (no fixed sleeps): polls every few milliseconds.
pub fn wait_for<T>(what: &str, timeout: Duration, mut cond: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = cond() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn signal(child: &Child, sig: i32) {
    // SAFETY: sending a signal to our own child process.
    unsafe {
        libc::kill(child.id() as i32, sig);
    }
}

/// `hyperdex coordinator` in the foreground on 127.0.0.1:`port` with data in `dir`.
pub fn coordinator_command(port: u16, dir: &Path) -> Command {
    let mut c = Command::new(hyperdex_bin());
    c.args(["coordinator", "-f", "-l", "127.0.0.1", "-p", &port.to_string(), "-D"]).arg(dir);
    c
}

/// `hyperdex daemon` in the foreground on 127.0.0.1:`port`, data in `dir`, registering
/// with the coordinator on 127.0.0.1:`coord_port`.
pub fn daemon_command(port: u16, coord_port: u16, dir: &Path) -> Command {
    let mut c = Command::new(hyperdex_bin());
    c.args(["daemon", "-f", "--listen=127.0.0.1"])
        .arg(format!("--listen-port={port}"))
        .arg("--coordinator=127.0.0.1")
        .arg(format!("--coordinator-port={coord_port}"))
        .arg(format!("--data={}", dir.display()));
    c
}

/// A log file in append mode (a restarted server adds to its log).
pub fn append_log(path: &Path) -> std::fs::File {
    std::fs::OpenOptions::new().create(true).append(true).open(path).unwrap()
}

pub struct Cluster {
    pub dir: PathBuf,
    pub coord_port: u16,
    coord: Option<Child>,
    pub daemon_ports: Vec<u16>,
    daemons: Vec<Option<Child>>,
    /// Flags every daemon started from here on gets too.
    pub daemon_args: Vec<String>,
}

impl Cluster {
    /// A coordinator and `n` daemons, all registered.
    pub fn start(tag: &str, n: usize) -> Cluster {
        let mut c = Cluster::coordinator_only(tag);
        for _ in 0..n {
            c.add_daemon();
        }
        c.wait_servers(n);
        c
    }

    pub fn coordinator_only(tag: &str) -> Cluster {
        let dir = temp_dir(tag);
        let mut c = Cluster {
            dir,
            coord_port: free_port(),
            coord: None,
            daemon_ports: Vec::new(),
            daemons: Vec::new(),
            daemon_args: Vec::new(),
        };
        c.start_coordinator();
        c
    }

    pub fn start_coordinator(&mut self) {
        let d = self.coord_dir();
        std::fs::create_dir_all(&d).unwrap();
        let log = std::fs::File::create(self.dir.join("coord.log")).unwrap();
        let child = coordinator_command(self.coord_port, &d).stdout(Stdio::null()).stderr(log).spawn().unwrap();
        self.coord = Some(child);
        wait_for("the coordinator", Duration::from_secs(20), || {
            let exited = self.coord.as_mut().is_some_and(|c| matches!(c.try_wait(), Ok(Some(_))));
            if exited && self.daemons.is_empty() {
                // Its free port was taken meanwhile (ports are picked by binding port 0 and
                // letting go): a new cluster can move to another one.
                let log = std::fs::read_to_string(self.dir.join("coord.log")).unwrap_or_default();
                assert!(log.contains("Address already in use"), "the coordinator exited:\n{log}");
                self.coord_port = free_port();
                let _ = std::fs::remove_dir_all(&d);
                std::fs::create_dir_all(&d).unwrap();
                let log = std::fs::File::create(self.dir.join("coord.log")).unwrap();
                let child = coordinator_command(self.coord_port, &d).stdout(Stdio::null()).stderr(log).spawn().unwrap();
                self.coord = Some(child);
                return None;
            }
            // Only our own coordinator counts (another process may hold the port meanwhile).
            if exited {
                return None;
            }
            self.config()
        });
    }

    pub fn stop_coordinator(&mut self) {
        if let Some(mut c) = self.coord.take() {
            signal(&c, libc::SIGTERM);
            c.wait().unwrap();
        }
    }

    pub fn daemon_dir(&self, i: usize) -> PathBuf {
        self.dir.join(format!("daemon{i}"))
    }

    /// Starts one more daemon; returns its index.
    pub fn add_daemon(&mut self) -> usize {
        let i = self.daemons.len();
        self.daemon_ports.push(free_port());
        self.daemons.push(None);
        self.start_daemon(i);
        i
    }

    pub fn start_daemon(&mut self, i: usize) {
        let d = self.daemon_dir(i);
        std::fs::create_dir_all(&d).unwrap();
        let log = append_log(&self.dir.join(format!("daemon{i}.log")));
        let child = daemon_command(self.daemon_ports[i], self.coord_port, &d)
            .args(&self.daemon_args)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        self.daemons[i] = Some(child);
    }

    pub fn kill_daemon(&mut self, i: usize) {
        if let Some(mut c) = self.daemons[i].take() {
            c.kill().unwrap();
            c.wait().unwrap();
        }
    }

    pub fn stop_daemon(&mut self, i: usize) {
        if let Some(mut c) = self.daemons[i].take() {
            signal(&c, libc::SIGTERM);
            c.wait().unwrap();
        }
    }

    /// Freezes a daemon (SIGSTOP): its sockets stay open and the kernel still accepts bytes
    /// for it, but it answers nothing until `resume_daemon` (or `kill_daemon`, which works on
    /// a frozen process; `stop_daemon` would wait for it forever).
    pub fn pause_daemon(&mut self, i: usize) {
        if let Some(c) = self.daemons[i].as_ref() {
            signal(c, libc::SIGSTOP);
        }
    }

    pub fn resume_daemon(&mut self, i: usize) {
        if let Some(c) = self.daemons[i].as_ref() {
            signal(c, libc::SIGCONT);
        }
    }

    /// The coordinator's data directory.
    pub fn coord_dir(&self) -> PathBuf {
        self.dir.join("coord")
    }

    pub fn daemon_alive(&mut self, i: usize) -> bool {
        match self.daemons[i].as_mut() {
            Some(c) => c.try_wait().unwrap().is_none(),
            None => false,
        }
    }

    /// The server id a daemon keeps in its data directory.
    pub fn server_id(&self, i: usize) -> u64 {
        let text = std::fs::read_to_string(self.daemon_dir(i).join("hyperdex-daemon.id")).unwrap();
        text.lines().find_map(|l| l.strip_prefix("server=")).unwrap().parse().unwrap()
    }

    pub fn config(&self) -> Option<Configuration> {
        match rpc(self.coord_port, &Msg::ConfigWait { have: 0 }) {
            Some(Msg::Config { config }) => Configuration::decode(&config).ok(),
            _ => None,
        }
    }

    pub fn wait_servers(&mut self, n: usize) -> Configuration {
        wait_for("daemons to register", Duration::from_secs(20), || {
            self.restart_port_losers();
            self.config().filter(|c| c.servers.len() >= n)
        })
    }

    /// A new daemon whose free port was taken by someone else between `free_port` and its
    /// bind exits with "Address already in use": start it again on another port (with a
    /// fresh data directory, which holds the address it was given).
    fn restart_port_losers(&mut self) {
        for i in 0..self.daemons.len() {
            let exited = self.daemons[i].as_mut().is_some_and(|c| matches!(c.try_wait(), Ok(Some(_))));
            if !exited {
                continue;
            }
            let log = std::fs::read_to_string(self.dir.join(format!("daemon{i}.log"))).unwrap_or_default();
            if log.lines().last().is_some_and(|l| l.contains("Address already in use")) {
                let _ = std::fs::remove_dir_all(self.daemon_dir(i));
                self.daemon_ports[i] = free_port();
                self.start_daemon(i);
            }
        }
    }

    pub fn hyperdex(&self, args: &[&str], stdin: &str) -> (i32, String, String) {
        let mut child = Command::new(hyperdex_bin())
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child.stdin.take().unwrap().write_all(stdin.as_bytes()).unwrap();
        let out = child.wait_with_output().unwrap();
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    pub fn add_space(&self, desc: &str) {
        let port = self.coord_port.to_string();
        let (code, _, err) = self.hyperdex(&["add-space", "-h", "127.0.0.1", "-p", &port], desc);
        assert_eq!(code, 0, "add-space failed: {err}");
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for d in self.daemons.iter_mut().flatten() {
            let _ = d.kill();
            let _ = d.wait();
        }
        if let Some(c) = self.coord.as_mut() {
            let _ = c.kill();
            let _ = c.wait();
        }
        if !std::thread::panicking() {
            let _ = std::fs::remove_dir_all(&self.dir);
        } else {
            eprintln!("cluster logs kept in {}", self.dir.display());
        }
    }
}

/// One key operation on space `kv`, synchronously: a get (`attrs` unused) or a put of
/// `attrs`. Its status, and the first attribute's value it read (gets).
pub fn sync_op(
    c: &mut hyperclient::Client<u32>,
    get: bool,
    key: &[u8],
    attrs: &[hyperclient::client::Attribute<'_>],
) -> (hyperclient::ReturnCode, Option<Vec<u8>>) {
    use hyperclient::client::{AttributeCheck, KeyOp, MapAttribute};
    const NO_CHECKS: &[AttributeCheck<'static>] = &[];
    const NO_MAPS: &[MapAttribute<'static>] = &[];
    let id = if get { c.get(b"kv", key, 0) } else { c.key_op(KeyOp::PUT, b"kv", key, NO_CHECKS, attrs, NO_MAPS, 0) };
    let id = match id {
        Ok(id) => id,
        // Refused at the call (not sent): OFFLINE, or a server that cannot be reached.
        Err(e) => return (e.status, None),
    };
    match c.loop_once(30_000) {
        Ok(ev) => {
            assert_eq!(ev.id, id);
            let value = ev.values.and_then(|vals| vals.iter().next().map(|(_, _, x)| x.to_vec()));
            (ev.status, value)
        }
        Err(rc) => (rc, None),
    }
}

/// One blocking request/answer exchange on a fresh connection.
/// Registers a made-up server at `addr` with the coordinator (so daemons accept it as a
/// peer once they have the new configuration): the coordinator link (heartbeat on it to
/// keep the server's lease), its id, and a configuration that has it, as the daemons of
/// `cl` have it too.
pub fn fake_peer(cl: &Cluster, addr: &str) -> (RawConn, u64, Configuration) {
    let mut coord = RawConn::connect(cl.coord_port).unwrap();
    let id = 0x5eed_0000_0000_0001u64 ^ u64::from(cl.coord_port);
    let reply = coord.call(&Msg::Register { server: id, addr: addr.to_string(), cluster: 0, fresh: true });
    assert!(matches!(reply, Some(Msg::CoordReply { code: hyperdex_core::CoordCode::Success })), "{reply:?}");
    let cfg = wait_for("the fake peer in the configuration", Duration::from_secs(10), || {
        cl.config().filter(|c| c.available(id))
    });
    (coord, id, cfg)
}

pub fn rpc(port: u16, msg: &Msg) -> Option<Msg> {
    let mut c = RawConn::connect(port)?;
    c.call(msg)
}

/// A raw protocol connection (blocking, one request at a time).
pub struct RawConn {
    pub stream: TcpStream,
    buf: Vec<u8>,
    nonce: u64,
}

impl RawConn {
    pub fn connect(port: u16) -> Option<RawConn> {
        let stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
        stream.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        stream.set_nodelay(true).unwrap();
        Some(RawConn { stream, buf: Vec::new(), nonce: 0 })
    }

    pub fn send(&mut self, msg: &Msg) -> u64 {
        self.nonce += 1;
        let mut out = Vec::new();
        msg.encode(self.nonce, &mut out);
        // A peer that closed or reset shows as the end of the stream at the next recv.
        let _ = self.stream.write_all(&out);
        self.nonce
    }

    /// The next frame, or None when the peer closed the connection.
    pub fn recv(&mut self) -> Option<(u64, Msg)> {
        loop {
            if let Ok(Some(f)) = parse_frame(&self.buf, MAX_FRAME) {
                let m = Msg::decode(f.msg_type, f.body).ok()?;
                let n = f.nonce;
                let size = f.size;
                self.buf.drain(..size);
                return Some((n, m));
            }
            let mut chunk = [0u8; 65536];
            match self.stream.read(&mut chunk) {
                Ok(0) | Err(_) => return None,
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
            }
        }
    }

    pub fn call(&mut self, msg: &Msg) -> Option<Msg> {
        let n = self.send(msg);
        let (rn, m) = self.recv()?;
        assert_eq!(rn, n, "reply to the wrong request");
        Some(m)
    }
}

/// Reads a daemon's store directly (the daemon must be stopped).
pub fn open_store(dir: &Path) -> hyperdex_server::daemon::storage::FjallStore {
    hyperdex_server::daemon::storage::FjallStore::open(dir, false).unwrap()
}
