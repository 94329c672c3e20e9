//! Test doubles of the servers: a coordinator and a daemon that speak the real wire
//! protocol over loopback TCP (threads and blocking sockets), with switches to misbehave.
//! They let the client's I/O be tested without the real cluster.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread;

use hyperdex_core::codes::{CoordCode, DataType, ReturnCode};
use hyperdex_core::config::{Configuration, Region, Replica, Server, Space, Subspace};
use hyperdex_core::hashing::partition;
use hyperdex_core::ops::FuncOp;
use hyperdex_core::proto::{flags, Msg};
use hyperdex_core::space::Attribute;
use hyperdex_core::wire::{parse_frame, MAX_FRAME};

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Reads frames from `s` and hands each to `handle`, which appends replies to `out`;
/// `handle` returns false to close the connection. Replies are written after each read.
fn serve(mut s: TcpStream, mut handle: impl FnMut(u64, Msg, &mut Vec<u8>) -> bool) {
    let _ = s.set_nodelay(true);
    let mut buf = Vec::new();
    let mut chunk = vec![0u8; 64 * 1024];
    loop {
        let n = match s.read(&mut chunk) {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        buf.extend_from_slice(&chunk[..n]);
        let mut out = Vec::new();
        let mut used = 0;
        let mut keep = true;
        while let Ok(Some(f)) = parse_frame(&buf[used..], MAX_FRAME) {
            used += f.size;
            let Ok(m) = Msg::decode(f.msg_type, f.body) else {
                return;
            };
            if !handle(f.nonce, m, &mut out) {
                keep = false;
                break;
            }
        }
        buf.drain(..used);
        if !out.is_empty() && s.write_all(&out).is_err() {
            return;
        }
        if !keep {
            let _ = s.shutdown(Shutdown::Both);
            return;
        }
    }
}

/// Key -> non-key values.
type Objects = HashMap<Vec<u8>, Vec<Vec<u8>>>;

/// How the fake daemon treats requests.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum DaemonMode {
    /// Answer like a (single-replica) point leader.
    Normal,
    /// Read requests, never answer.
    Silent,
    /// Close the connection on the next request, answering nothing.
    Close,
    /// Answer the next request with a frame whose length field is absurd.
    BadFrame,
    /// Answer the next request with a reply body that does not parse.
    BadReply,
}

pub(crate) struct FakeDaemon {
    pub(crate) addr: String,
    pub(crate) mode: Arc<Mutex<DaemonMode>>,
    /// Requests received.
    pub(crate) received: Arc<AtomicUsize>,
    /// Connections accepted.
    pub(crate) accepted: Arc<AtomicUsize>,
    /// Every request, in arrival order.
    pub(crate) requests: Arc<Mutex<Vec<Msg>>>,
}

impl FakeDaemon {
    /// A daemon for spaces whose objects have `nonkey` non-key attributes.
    pub(crate) fn start(nonkey: usize) -> FakeDaemon {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("addr").to_string();
        let mode = Arc::new(Mutex::new(DaemonMode::Normal));
        let received = Arc::new(AtomicUsize::new(0));
        let accepted = Arc::new(AtomicUsize::new(0));
        let objects: Arc<Mutex<Objects>> = Arc::default();
        let requests: Arc<Mutex<Vec<Msg>>> = Arc::default();
        let (m, r, a, reqs) = (mode.clone(), received.clone(), accepted.clone(), requests.clone());
        thread::spawn(move || {
            for s in listener.incoming().flatten() {
                a.fetch_add(1, Ordering::SeqCst);
                let (m, r, objects, reqs) = (m.clone(), r.clone(), objects.clone(), reqs.clone());
                thread::spawn(move || {
                    serve(s, |nonce, msg, out| {
                        r.fetch_add(1, Ordering::SeqCst);
                        lock(&reqs).push(msg.clone());
                        let mode = *lock(&m);
                        match mode {
                            DaemonMode::Silent => return true,
                            DaemonMode::Close => return false,
                            DaemonMode::BadFrame => {
                                out.extend_from_slice(&u32::MAX.to_le_bytes());
                                out.extend_from_slice(&[0; 9]);
                                return true;
                            }
                            DaemonMode::BadReply => {
                                // A reply of the right type whose return code is no code.
                                let start = out.len();
                                Msg::AtomicReply { rc: ReturnCode::Success }.encode(nonce, out);
                                let t = match msg {
                                    Msg::Get { .. } => hyperdex_core::proto::msg::GET_REPLY,
                                    _ => hyperdex_core::proto::msg::ATOMIC_REPLY,
                                };
                                out[start + 4] = t;
                                out[start + 13..start + 17].copy_from_slice(&8518u32.to_le_bytes());
                                return true;
                            }
                            DaemonMode::Normal => {}
                        }
                        let reply = match msg {
                            Msg::Get { key, .. } => match lock(&objects).get(&key) {
                                Some(v) => Msg::GetReply { rc: ReturnCode::Success, values: v.clone() },
                                None => Msg::GetReply { rc: ReturnCode::NotFound, values: vec![] },
                            },
                            Msg::Atomic { key, flags: fl, funcs, .. } => {
                                let mut objs = lock(&objects);
                                let rc = match objs.get(&key) {
                                    None if fl & flags::FAIL_IF_NOT_FOUND != 0 => ReturnCode::NotFound,
                                    Some(_) if fl & flags::FAIL_IF_FOUND != 0 => ReturnCode::CmpFail,
                                    Some(_) if fl & flags::ERASE != 0 => {
                                        objs.remove(&key);
                                        ReturnCode::Success
                                    }
                                    _ => {
                                        let obj = objs.entry(key).or_insert_with(|| vec![Vec::new(); nonkey]);
                                        for f in funcs {
                                            if let (FuncOp::Set, Some(slot)) = (f.op, obj.get_mut(f.attr as usize - 1))
                                            {
                                                *slot = f.arg;
                                            }
                                        }
                                        ReturnCode::Success
                                    }
                                };
                                Msg::AtomicReply { rc }
                            }
                            _ => return false,
                        };
                        reply.encode(nonce, out);
                        true
                    })
                });
            }
        });
        FakeDaemon { addr, mode, received, accepted, requests }
    }

    pub(crate) fn set_mode(&self, m: DaemonMode) {
        *lock(&self.mode) = m;
    }
}

struct CoordState {
    config: Configuration,
    /// Answer standing ConfigWaits (have > 0) when the version passes them.
    push: bool,
    /// Send a configuration that does not decode.
    bad_config: bool,
    reply: CoordCode,
    requests: Vec<Msg>,
}

pub(crate) struct FakeCoord {
    pub(crate) port: u16,
    state: Arc<(Mutex<CoordState>, Condvar)>,
}

impl FakeCoord {
    pub(crate) fn start(config: Configuration) -> FakeCoord {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let state = Arc::new((
            Mutex::new(CoordState {
                config,
                push: true,
                bad_config: false,
                reply: CoordCode::Success,
                requests: Vec::new(),
            }),
            Condvar::new(),
        ));
        let st = state.clone();
        thread::spawn(move || {
            for s in listener.incoming().flatten() {
                let st = st.clone();
                thread::spawn(move || {
                    serve(s, |nonce, msg, out| {
                        let (m, cv) = &*st;
                        let mut g = lock(m);
                        g.requests.push(msg.clone());
                        match msg {
                            Msg::ConfigWait { have } => {
                                while !(g.config.version > have && (have == 0 || g.push)) {
                                    g = cv.wait(g).unwrap_or_else(|e| e.into_inner());
                                }
                                let mut bytes = Vec::new();
                                g.config.encode(&mut bytes);
                                if g.bad_config {
                                    bytes.truncate(bytes.len() / 2);
                                }
                                Msg::Config { config: bytes }.encode(nonce, out);
                            }
                            Msg::AddSpace { .. } | Msg::RmSpace { .. } => {
                                Msg::CoordReply { code: g.reply }.encode(nonce, out);
                            }
                            _ => return false,
                        }
                        true
                    })
                });
            }
        });
        FakeCoord { port, state }
    }

    /// Replaces the configuration (the caller bumps the version).
    pub(crate) fn set_config(&self, config: Configuration) {
        let (m, cv) = &*self.state;
        lock(m).config = config;
        cv.notify_all();
    }

    pub(crate) fn config(&self) -> Configuration {
        lock(&self.state.0).config.clone()
    }

    pub(crate) fn set_push(&self, push: bool) {
        let (m, cv) = &*self.state;
        lock(m).push = push;
        cv.notify_all();
    }

    pub(crate) fn set_bad_config(&self, bad: bool) {
        lock(&self.state.0).bad_config = bad;
    }

    pub(crate) fn set_reply(&self, code: CoordCode) {
        lock(&self.state.0).reply = code;
    }

    pub(crate) fn requests(&self) -> Vec<Msg> {
        lock(&self.state.0).requests.clone()
    }
}

/// A space whose key regions (`partitions` of them) all lead at `head` (None: no replica).
pub(crate) fn space(id: u64, name: &str, attrs: &[(&str, DataType)], partitions: u32, head: Option<u64>) -> Space {
    let regions = partition(1, partitions)
        .into_iter()
        .enumerate()
        .map(|(i, (lower, upper))| Region {
            id: id * 1000 + i as u64,
            lower,
            upper,
            replicas: head.map(|server| Replica { server, vid: 1 }).into_iter().collect(),
        })
        .collect();
    Space {
        id,
        name: name.to_string(),
        fault_tolerance: 0,
        attrs: attrs.iter().map(|(n, t)| Attribute { name: n.to_string(), dtype: *t }).collect(),
        subspaces: vec![Subspace { id: id * 1000 + 999, attrs: vec![0], regions }],
    }
}

/// The schema most tests use: `kv` with key `k` (string) and one attribute of each kind.
pub(crate) const KV: &[(&str, DataType)] = &[
    ("k", DataType::String),
    ("v", DataType::String),
    ("n", DataType::Int64),
    ("s", DataType::SetString),
    ("f", DataType::Float),
    ("l", DataType::ListInt64),
    ("m", DataType::MapStringInt64),
    ("ms", DataType::MapStringString),
];

/// One daemon (server id 1) and a coordinator serving `kv` on it.
pub(crate) fn cluster() -> (FakeCoord, FakeDaemon) {
    let d = FakeDaemon::start(KV.len() - 1);
    let cfg = Configuration {
        cluster: 7,
        version: 1,
        servers: vec![Server { id: 1, addr: d.addr.clone() }],
        spaces: vec![space(1, "kv", KV, 4, Some(1))],
    };
    (FakeCoord::start(cfg), d)
}

/// A port nothing listens on (bound, then closed).
pub(crate) fn dead_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).unwrap_or(1)
}
