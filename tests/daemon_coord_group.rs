//! A real daemon process against fake coordinators of a group: a REDIRECT in answer to its
//! requests (a leader named, or none yet) moves it on without being taken for a refusal,
//! and a lost coordinator makes it register again elsewhere. (The raft coordinator group
//! itself is tested against real processes elsewhere.)

mod common;

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{free_port, hyperdex_bin, temp_dir, wait_for};
use hyperdex_core::codes::CoordCode;
use hyperdex_core::proto::Msg;
use hyperdex_core::wire::{parse_frame, MAX_FRAME};

/// What a fake coordinator does with one request: write these bytes, then maybe close.
struct Answer {
    bytes: Vec<u8>,
    close: bool,
}

type AnswerFn = dyn Fn(usize, &Msg, u64) -> Answer + Send + Sync;

/// A loopback listener answering the i-th request it reads (over all its connections).
struct FakeCoordinator {
    port: u16,
    requests: Arc<Mutex<Vec<Msg>>>,
    stop: Arc<AtomicBool>,
}

impl FakeCoordinator {
    fn start(answer: impl Fn(usize, &Msg, u64) -> Answer + Send + Sync + 'static) -> FakeCoordinator {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let requests: Arc<Mutex<Vec<Msg>>> = Arc::default();
        let stop = Arc::new(AtomicBool::new(false));
        let answer: Arc<AnswerFn> = Arc::new(answer);
        let (reqs, st) = (requests.clone(), stop.clone());
        std::thread::spawn(move || {
            for s in listener.incoming() {
                if st.load(Ordering::SeqCst) {
                    return;
                }
                let Ok(s) = s else { continue };
                let (answer, reqs) = (answer.clone(), reqs.clone());
                std::thread::spawn(move || serve(s, &*answer, &reqs));
            }
        });
        FakeCoordinator { port, requests, stop }
    }

    fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Its requests other than heartbeats.
    fn requests(&self) -> Vec<Msg> {
        self.requests.lock().unwrap().iter().filter(|m| !matches!(m, Msg::Heartbeat { .. })).cloned().collect()
    }
}

impl Drop for FakeCoordinator {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}

fn serve(mut s: TcpStream, answer: &AnswerFn, requests: &Mutex<Vec<Msg>>) {
    let mut buf = Vec::new();
    let mut chunk = vec![0u8; 64 * 1024];
    loop {
        match s.read(&mut chunk) {
            Ok(0) | Err(_) => return,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
        while let Ok(Some(f)) = parse_frame(&buf, MAX_FRAME) {
            let (size, nonce) = (f.size, f.nonce);
            let msg = Msg::decode(f.msg_type, f.body).expect("the daemon sent a frame that does not decode");
            buf.drain(..size);
            let i = {
                let mut r = requests.lock().unwrap();
                r.push(msg.clone());
                r.len() - 1
            };
            let a = answer(i, &msg, nonce);
            if !a.bytes.is_empty() && s.write_all(&a.bytes).is_err() {
                return;
            }
            if a.close {
                let _ = s.shutdown(Shutdown::Both);
                return;
            }
        }
    }
}

fn frame(m: &Msg, nonce: u64) -> Vec<u8> {
    let mut out = Vec::new();
    m.encode(nonce, &mut out);
    out
}

fn write(m: Msg, nonce: u64) -> Answer {
    Answer { bytes: frame(&m, nonce), close: false }
}

fn nothing() -> Answer {
    Answer { bytes: Vec::new(), close: false }
}

/// A daemon process pointed at the coordinator on `coord_port`; killed when dropped.
struct Daemon(Child);

impl Daemon {
    fn start(tag: &str, coord_port: u16) -> Daemon {
        let dir = temp_dir(tag);
        let log = std::fs::File::create(dir.join("daemon.log")).unwrap();
        let child = Command::new(hyperdex_bin())
            .arg("daemon")
            .arg("-f")
            .arg("--listen=127.0.0.1")
            .arg(format!("--listen-port={}", free_port()))
            .arg("--coordinator=127.0.0.1")
            .arg(format!("--coordinator-port={coord_port}"))
            .arg(format!("--data={}", dir.join("data").display()))
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        Daemon(child)
    }

    fn alive(&mut self) -> bool {
        matches!(self.0.try_wait(), Ok(None))
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn is_register(m: &Msg, want_fresh: bool) -> bool {
    matches!(m, Msg::Register { fresh, .. } if *fresh == want_fresh)
}

#[test]
fn group_a_daemon_registers_with_the_leader_it_is_redirected_to_and_again_after_losing_it() {
    // The leader accepts the registration and holds the configuration wait; the first time
    // it closes the connection right after the wait arrives (a lost leader).
    let closed = AtomicBool::new(false);
    let leader = FakeCoordinator::start(move |_, m, nonce| match m {
        Msg::Register { .. } => write(Msg::CoordReply { code: CoordCode::Success }, nonce),
        Msg::ConfigWait { .. } if !closed.swap(true, Ordering::SeqCst) => Answer { bytes: Vec::new(), close: true },
        _ => nothing(),
    });
    let to = leader.addr();
    // The coordinator the daemon is given is a follower: it redirects everything.
    let follower = FakeCoordinator::start(move |_, _, nonce| write(Msg::Redirect { leader: to.clone() }, nonce));
    let mut d = Daemon::start("group-redirect", follower.port);
    wait_for("the daemon to register twice with the leader", Duration::from_secs(20), || {
        assert!(d.alive(), "the daemon took a redirect for a refusal");
        (leader.requests().len() >= 4).then_some(())
    });
    let at_leader = leader.requests();
    assert!(is_register(&at_leader[0], true), "{at_leader:?}");
    assert!(matches!(at_leader[1], Msg::ConfigWait { .. }), "{at_leader:?}");
    // After the loss: back through the follower (the only coordinator it knows), then a
    // registration that is not the process's first.
    assert!(is_register(&at_leader[2], false), "{at_leader:?}");
    assert!(matches!(at_leader[3], Msg::ConfigWait { .. }), "{at_leader:?}");
    let at_follower = follower.requests();
    assert_eq!(at_follower.len(), 2, "{at_follower:?}");
    assert!(is_register(&at_follower[0], true) && is_register(&at_follower[1], false), "{at_follower:?}");
    assert!(d.alive());
}

#[test]
fn group_a_daemon_told_that_no_leader_is_known_tries_again() {
    // The first registration meets an election (no leader yet), the second a leader.
    let coord = FakeCoordinator::start(|i, m, nonce| match m {
        Msg::Register { .. } if i == 0 => write(Msg::Redirect { leader: String::new() }, nonce),
        Msg::Register { .. } => write(Msg::CoordReply { code: CoordCode::Success }, nonce),
        _ => nothing(),
    });
    let mut d = Daemon::start("group-election", coord.port);
    wait_for("the daemon to register and wait for a configuration", Duration::from_secs(20), || {
        assert!(d.alive(), "the daemon took a redirect for a refusal");
        (coord.requests().len() >= 3).then_some(())
    });
    let reqs = coord.requests();
    assert!(is_register(&reqs[0], true) && is_register(&reqs[1], true), "{reqs:?}");
    assert!(matches!(reqs[2], Msg::ConfigWait { have: 0 }), "{reqs:?}");
}
