//! Bad input from peers, which the real servers never send: reply frames that are malformed or
//! answer nothing that was asked, configurations that do not decode, answers of the wrong
//! kind from the coordinator. Each test points a client at hostile peers defined here: a
//! loopback listener that reads request frames and writes back exactly the bytes the test
//! gives for each one, and nothing else. (Everything the real servers can do is tested
//! against real processes in client_core.rs, client_e2e.rs and c_abi.rs.)

mod common;

use std::collections::HashSet;
use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::wait_for;
use hyperclient::client::{Attribute, AttributeCheck, KeyOp, MapAttribute};
use hyperclient::{Client, ReturnCode};
use hyperdex_core::codes::CoordCode;
use hyperdex_core::config::Configuration;
use hyperdex_core::proto::Msg;
use hyperdex_core::wire::{parse_frame, MAX_FRAME};
use hyperdex_server::coordinator::CoordState;

type C = Client<u32>;

const NO_CHECKS: &[AttributeCheck<'static>] = &[];
const NO_ATTRS: &[Attribute<'static>] = &[];
const NO_MAPS: &[MapAttribute<'static>] = &[];
const WAIT_MS: i32 = 30_000;

/// What a hostile peer writes in answer to one request frame, and whether it then closes.
struct Answer {
    bytes: Vec<u8>,
    close: bool,
}

fn write(bytes: Vec<u8>) -> Answer {
    Answer { bytes, close: false }
}
fn nothing() -> Answer {
    write(Vec::new())
}
fn close() -> Answer {
    Answer { bytes: Vec::new(), close: true }
}

type AnswerFn = dyn Fn(usize, &Msg, u64) -> Answer + Send + Sync;

/// A loopback listener that is none of our servers: for the i-th request frame it reads
/// (counted over all its connections) it writes `answer(i, &request, nonce)`.
struct HostilePeer {
    port: u16,
    accepted: Arc<AtomicUsize>,
    requests: Arc<Mutex<Vec<Msg>>>,
    stop: Arc<AtomicBool>,
}

impl HostilePeer {
    fn start(answer: impl Fn(usize, &Msg, u64) -> Answer + Send + Sync + 'static) -> HostilePeer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let accepted = Arc::new(AtomicUsize::new(0));
        let requests: Arc<Mutex<Vec<Msg>>> = Arc::default();
        let stop = Arc::new(AtomicBool::new(false));
        let answer: Arc<AnswerFn> = Arc::new(answer);
        let (acc, reqs, st) = (accepted.clone(), requests.clone(), stop.clone());
        std::thread::spawn(move || {
            for s in listener.incoming() {
                if st.load(Ordering::SeqCst) {
                    return;
                }
                let Ok(s) = s else { continue };
                acc.fetch_add(1, Ordering::SeqCst);
                let (answer, reqs) = (answer.clone(), reqs.clone());
                std::thread::spawn(move || serve(s, &*answer, &reqs));
            }
        });
        HostilePeer { port, accepted, requests, stop }
    }

    fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    fn accepted(&self) -> usize {
        self.accepted.load(Ordering::SeqCst)
    }

    fn requests(&self) -> Vec<Msg> {
        self.requests.lock().unwrap().clone()
    }
}

impl Drop for HostilePeer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the accept so the listener thread sees the flag.
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
            let msg = Msg::decode(f.msg_type, f.body).expect("the client sent a frame that does not decode");
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
                // End the stream (FIN), then read whatever still comes until the client
                // closes, so that the close is never turned into a reset.
                let _ = s.shutdown(Shutdown::Write);
                while matches!(s.read(&mut chunk), Ok(n) if n > 0) {}
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

/// A frame of type `msg_type` with this exact body (its length field made to match).
fn raw_frame(msg_type: u8, nonce: u64, body: &[u8]) -> Vec<u8> {
    let mut out = ((9 + body.len()) as u32).to_le_bytes().to_vec();
    out.push(msg_type);
    out.extend_from_slice(&nonce.to_le_bytes());
    out.extend_from_slice(body);
    out
}

/// A configuration with one space, `kv` (key `k`, attribute `v`), all of it on the server at
/// `daemon`. Built by the coordinator's own state machine.
fn config_naming(daemon: &str) -> Configuration {
    let mut st = CoordState::new(7);
    assert_eq!(st.register(1, daemon), CoordCode::Success);
    assert_eq!(st.add_space("space kv key k attributes v create 4 partitions tolerate 0 failures"), CoordCode::Success);
    st.config()
}

fn config_frame(cfg: &Configuration, nonce: u64) -> Vec<u8> {
    let mut bytes = Vec::new();
    cfg.encode(&mut bytes);
    frame(&Msg::Config { config: bytes }, nonce)
}

/// A coordinator peer: every configuration fetch gets `cfg`; the standing wait for a newer
/// one is never answered.
fn coordinator_serving(cfg: Configuration) -> HostilePeer {
    HostilePeer::start(move |_, m, nonce| match m {
        Msg::ConfigWait { have: 0 } => write(config_frame(&cfg, nonce)),
        _ => nothing(),
    })
}

fn client(coord: &HostilePeer) -> C {
    Client::new("127.0.0.1", coord.port).expect("client")
}

fn put(c: &mut C, key: &[u8], tag: u32) -> i64 {
    c.key_op(KeyOp::PUT, b"kv", key, NO_CHECKS, NO_ATTRS, NO_MAPS, tag).expect("put accepted")
}

fn atomic_reply(rc: ReturnCode, nonce: u64) -> Vec<u8> {
    frame(&Msg::AtomicReply { rc }, nonce)
}

/// Every outstanding operation's outcome, in the order loop hands them out.
fn drain(c: &mut C) -> Vec<(i64, ReturnCode)> {
    let mut out = Vec::new();
    while c.pending() > 0 {
        let ev = c.loop_once(WAIT_MS).expect("loop_once");
        out.push((ev.id, ev.status));
    }
    assert_eq!(c.loop_once(0).err(), Some(ReturnCode::NonePending));
    out
}

#[test]
fn bad_input_a_frame_length_out_of_bounds_fails_every_operation_on_its_connection() {
    let header = |len: u32| [&len.to_le_bytes()[..], &[0u8; 9]].concat();
    let cases: Vec<(&str, Vec<u8>, bool)> = vec![
        ("a length of 4 GiB", header(u32::MAX), false),
        ("a length past the largest frame", header(MAX_FRAME as u32 + 1), false),
        ("a length shorter than the header", header(8), false),
        ("a length of zero", header(0), false),
        ("a frame cut short by the close", [&100u32.to_le_bytes()[..], &[0u8; 20]].concat(), true),
    ];
    for (what, bad, then_close) in cases {
        // The first request gets the bad bytes, the other two nothing, and a later one for the
        // key "k" a good reply.
        let daemon = HostilePeer::start(move |i, m, nonce| match (i, m) {
            (0, _) => Answer { bytes: bad.clone(), close: then_close },
            (_, Msg::Atomic { key, .. }) if key == b"k" => write(atomic_reply(ReturnCode::Success, nonce)),
            _ => nothing(),
        });
        let coord = coordinator_serving(config_naming(&daemon.addr()));
        let mut c = client(&coord);
        let ids: HashSet<i64> = (0..3).map(|i| put(&mut c, format!("k{i}").as_bytes(), i)).collect();
        let outcomes = drain(&mut c);
        assert_eq!(outcomes.iter().map(|o| o.0).collect::<HashSet<_>>(), ids, "{what}: each id once");
        assert!(outcomes.iter().all(|o| o.1 == ReturnCode::Reconfigure), "{what}: {outcomes:?}");
        // The next operation opens a new connection.
        let id = put(&mut c, b"k", 9);
        assert_eq!(drain(&mut c), [(id, ReturnCode::Success)], "{what}");
        assert_eq!(daemon.accepted(), 2, "{what}");
    }
}

#[test]
fn bad_input_a_close_right_behind_a_reply_fails_the_rest_of_its_connection() {
    // The peer answers the first of three requests and ends the stream at once, so the reply
    // and the end of the stream reach the client together.
    let daemon = HostilePeer::start(|i, _, nonce| {
        if i == 0 {
            Answer { bytes: atomic_reply(ReturnCode::Success, nonce), close: true }
        } else {
            nothing()
        }
    });
    let coord = coordinator_serving(config_naming(&daemon.addr()));
    let mut c = client(&coord);
    let ids: Vec<i64> = (0..3).map(|i| put(&mut c, format!("k{i}").as_bytes(), i)).collect();
    let mut outcomes = drain(&mut c);
    outcomes.sort();
    assert_eq!(
        outcomes,
        [(ids[0], ReturnCode::Success), (ids[1], ReturnCode::Reconfigure), (ids[2], ReturnCode::Reconfigure)]
    );
}

#[test]
fn bad_input_a_reply_that_does_not_parse_is_servererror_and_the_rest_of_its_connection_reconfigure() {
    let unknown_code = |nonce| {
        let mut f = atomic_reply(ReturnCode::Success, nonce);
        f[13..17].copy_from_slice(&8518u32.to_le_bytes());
        f
    };
    let trailing = |nonce| {
        let mut body = (ReturnCode::Success as u32).to_le_bytes().to_vec();
        body.push(0);
        raw_frame(hyperdex_core::proto::msg::ATOMIC_REPLY, nonce, &body)
    };
    let truncated = |nonce| raw_frame(hyperdex_core::proto::msg::ATOMIC_REPLY, nonce, &[0, 0]);
    let get_reply_to_a_write =
        |nonce| frame(&Msg::GetReply { rc: ReturnCode::NotFound, values: Vec::new().into() }, nonce);
    let atomic_reply_to_a_get = |nonce| atomic_reply(ReturnCode::Success, nonce);
    let two_values_for_one_attribute = |nonce| {
        frame(&Msg::GetReply { rc: ReturnCode::Success, values: vec![b"a".to_vec(), b"b".to_vec()].into() }, nonce)
    };
    type Case = (&'static str, bool, fn(u64) -> Vec<u8>);
    let cases: Vec<Case> = vec![
        ("a return code that is no code", false, unknown_code),
        ("a body with a byte left over", false, trailing),
        ("a body cut short", false, truncated),
        ("a get's reply to a write", false, get_reply_to_a_write),
        ("a write's reply to a get", true, atomic_reply_to_a_get),
        ("a get reply with two values for one attribute", true, two_values_for_one_attribute),
    ];
    for (what, gets, bad) in cases {
        let daemon = HostilePeer::start(move |i, _, nonce| if i == 0 { write(bad(nonce)) } else { nothing() });
        let coord = coordinator_serving(config_naming(&daemon.addr()));
        let mut c = client(&coord);
        let ids: Vec<i64> = (0..4)
            .map(|i| {
                let key = format!("k{i}");
                if gets {
                    c.get(b"kv", key.as_bytes(), i).expect("get accepted")
                } else {
                    put(&mut c, key.as_bytes(), i)
                }
            })
            .collect();
        let mut outcomes = drain(&mut c);
        outcomes.sort();
        let want: Vec<(i64, ReturnCode)> = ids
            .iter()
            .enumerate()
            .map(|(i, id)| (*id, if i == 0 { ReturnCode::ServerError } else { ReturnCode::Reconfigure }))
            .collect();
        assert_eq!(outcomes, want, "{what}");
    }
}

#[test]
fn bad_input_replies_to_requests_never_made_are_dropped() {
    // Each request gets three replies: two with ids the client never handed out (one with the
    // request's slot but a later call number, one with no slot in use), then the real one.
    let daemon = HostilePeer::start(|_, _, nonce| {
        let mut out = atomic_reply(ReturnCode::Success, nonce + (1000 << 20));
        out.extend(atomic_reply(ReturnCode::Success, (nonce | 0xf_ffff) + (7 << 20)));
        out.extend(atomic_reply(ReturnCode::Success, 0));
        out.extend(atomic_reply(ReturnCode::CmpFail, nonce));
        write(out)
    });
    let coord = coordinator_serving(config_naming(&daemon.addr()));
    let mut c = client(&coord);
    for round in 0..3 {
        let id = put(&mut c, b"k", round);
        assert_eq!(drain(&mut c), [(id, ReturnCode::CmpFail)]);
    }
    assert_eq!(daemon.accepted(), 1, "the connection stays");
}

#[test]
fn bad_input_answers_to_a_configuration_fetch_that_are_no_configuration() {
    let silent = HostilePeer::start(|_, _, _| nothing());
    let cfg = config_naming(&silent.addr());
    let mut good = Vec::new();
    cfg.encode(&mut good);
    let config_type = hyperdex_core::proto::msg::CONFIG;
    let cfg_version = cfg.version;
    type Case = (&'static str, Box<dyn Fn(u64) -> Answer + Send + Sync>, ReturnCode);
    let half = good[..good.len() / 2].to_vec();
    let cases: Vec<Case> = vec![
        (
            "a configuration cut in half",
            Box::new(move |n| write(frame(&Msg::Config { config: half.clone() }, n))),
            ReturnCode::BadConfig,
        ),
        (
            "a configuration of random bytes",
            Box::new(|n| write(frame(&Msg::Config { config: vec![0xa5; 64] }, n))),
            ReturnCode::BadConfig,
        ),
        (
            "a configuration with a byte left over",
            Box::new({
                let mut long = good.clone();
                long.push(0);
                move |n| write(frame(&Msg::Config { config: long.clone() }, n))
            }),
            ReturnCode::BadConfig,
        ),
        (
            "a reply of another kind",
            Box::new(|n| write(frame(&Msg::CoordReply { code: CoordCode::Success }, n))),
            ReturnCode::CoordFail,
        ),
        (
            "a config frame whose body does not parse",
            Box::new(move |n| write(raw_frame(config_type, n, &[1, 2]))),
            ReturnCode::CoordFail,
        ),
        (
            "a length past the largest frame",
            Box::new(|_| write([&(MAX_FRAME as u32 + 1).to_le_bytes()[..], &[0u8; 9]].concat())),
            ReturnCode::CoordFail,
        ),
        ("the connection closed without an answer", Box::new(|_| close()), ReturnCode::CoordFail),
    ];
    for (what, bad, status) in cases {
        // The first fetch gets the bad answer, later fetches the good configuration.
        let cfg = cfg.clone();
        let coord = HostilePeer::start(move |i, m, nonce| match (i, m) {
            (0, _) => bad(nonce),
            (_, Msg::ConfigWait { have: 0 }) => write(config_frame(&cfg, nonce)),
            _ => nothing(),
        });
        let mut c = client(&coord);
        let t0 = Instant::now();
        // The call never blocks: it waits for the configuration inside loop, and fails there.
        let id = c.get(b"kv", b"k", 0).expect("accepted");
        assert_eq!(drain(&mut c), [(id, status)], "{what}");
        assert!(t0.elapsed() < Duration::from_secs(5), "{what}: took {:?}", t0.elapsed());
        assert_eq!(c.config_version(), 0, "{what}: nothing installed");
        assert_eq!(c.pending(), 0);
        // The next call fetches again and gets a usable configuration (its get then waits
        // on the silent daemon).
        assert!(c.get(b"kv", b"k", 0).is_ok(), "{what}");
        wait_for("the configuration", Duration::from_secs(10), || {
            assert_eq!(c.loop_once(20).err(), Some(ReturnCode::Timeout));
            (c.config_version() == cfg_version).then_some(())
        });
    }
}

#[test]
fn bad_input_on_the_standing_configuration_wait_keeps_the_cached_configuration() {
    let garbage = |_: &Configuration| vec![0xff; 40];
    let undecodable = |cfg: &Configuration| {
        let mut newer = cfg.clone();
        newer.version += 1;
        let mut bytes = Vec::new();
        newer.encode(&mut bytes);
        bytes.truncate(bytes.len() - 3);
        frame(&Msg::Config { config: bytes }, 0)
    };
    type Case = (&'static str, fn(&Configuration) -> Vec<u8>);
    let cases: Vec<Case> = vec![("garbage", garbage), ("a newer configuration that does not decode", undecodable)];
    for (what, bad) in cases {
        let daemon = HostilePeer::start(|_, _, nonce| {
            write(frame(&Msg::GetReply { rc: ReturnCode::NotFound, values: vec![].into() }, nonce))
        });
        let cfg = config_naming(&daemon.addr());
        let (bad, fetch, waits) = (bad(&cfg), cfg.clone(), Arc::new(AtomicUsize::new(0)));
        let w = waits.clone();
        let coord = HostilePeer::start(move |_, m, nonce| match m {
            Msg::ConfigWait { have: 0 } => write(config_frame(&fetch, nonce)),
            // The first standing wait gets the bad bytes, later ones nothing.
            _ if w.fetch_add(1, Ordering::SeqCst) == 0 => write(bad.clone()),
            _ => nothing(),
        });
        let mut c = client(&coord);
        // The client drops that connection and opens a new one after its retry interval,
        // while it keeps serving operations with the configuration it has.
        wait_for("the client to ask again", Duration::from_secs(30), || {
            let id = c.get(b"kv", b"k", 0).expect("get accepted");
            assert_eq!(drain(&mut c), [(id, ReturnCode::NotFound)], "{what}");
            (waits.load(Ordering::SeqCst) >= 2).then_some(())
        });
        assert_eq!(c.config_version(), cfg.version, "{what}");
        let standing: Vec<Msg> = coord.requests().into_iter().filter(|m| *m != Msg::ConfigWait { have: 0 }).collect();
        assert_eq!(standing, [Msg::ConfigWait { have: cfg.version }, Msg::ConfigWait { have: cfg.version }], "{what}");
        assert_eq!(daemon.accepted(), 1, "{what}: the daemon connection is not disturbed");
    }
}

#[test]
fn bad_input_a_close_right_behind_a_new_configuration_is_noticed() {
    let daemon = HostilePeer::start(|_, _, nonce| {
        write(frame(&Msg::GetReply { rc: ReturnCode::NotFound, values: vec![].into() }, nonce))
    });
    let cfg = config_naming(&daemon.addr());
    let mut newer = cfg.clone();
    newer.version += 1;
    let (fetch, waits) = (cfg.clone(), Arc::new(AtomicUsize::new(0)));
    let w = waits.clone();
    // The first standing wait gets a newer configuration and the end of the stream together.
    let coord = HostilePeer::start(move |_, m, nonce| match m {
        Msg::ConfigWait { have: 0 } => write(config_frame(&fetch, nonce)),
        _ if w.fetch_add(1, Ordering::SeqCst) == 0 => Answer { bytes: config_frame(&newer, nonce), close: true },
        _ => nothing(),
    });
    let mut c = client(&coord);
    wait_for("the client to ask again", Duration::from_secs(30), || {
        let id = c.get(b"kv", b"k", 0).expect("get accepted");
        assert_eq!(drain(&mut c), [(id, ReturnCode::NotFound)]);
        (waits.load(Ordering::SeqCst) >= 2).then_some(())
    });
    assert_eq!(c.config_version(), cfg.version + 1);
    let standing: Vec<Msg> = coord.requests().into_iter().filter(|m| *m != Msg::ConfigWait { have: 0 }).collect();
    assert_eq!(standing, [Msg::ConfigWait { have: cfg.version }, Msg::ConfigWait { have: cfg.version + 1 }]);
}

#[test]
fn bad_input_answers_to_add_space_and_rm_space_of_the_wrong_kind() {
    let coord = HostilePeer::start(|i, _, nonce| match i {
        0 => write(config_frame(&Configuration::default(), nonce)),
        1 => write(vec![0xff; 16]),
        2 => close(),
        3 => write(frame(&Msg::CoordReply { code: CoordCode::Malformed }, nonce)),
        4 => write(frame(&Msg::CoordReply { code: CoordCode::Uninitialized }, nonce)),
        _ => write(frame(&Msg::CoordReply { code: CoordCode::NotFound }, nonce)),
    });
    let mut c = client(&coord);
    let desc = b"space x key k attributes v";
    assert_eq!(c.add_space(desc), ReturnCode::CoordFail, "a configuration in answer");
    assert_eq!(c.add_space(desc), ReturnCode::CoordFail, "garbage in answer");
    assert_eq!(c.add_space(desc), ReturnCode::CoordFail, "no answer");
    assert_eq!(c.add_space(desc), ReturnCode::Internal, "MALFORMED");
    assert_eq!(c.rm_space(b"x"), ReturnCode::CoordFail, "UNINITIALIZED");
    assert_eq!(c.rm_space(b"x"), ReturnCode::NotFound);
    let reqs = coord.requests();
    assert_eq!(reqs.len(), 6);
    let Msg::AddSpace { description, token: first } = &reqs[0] else { panic!("{reqs:?}") };
    assert_eq!(description, "space x key k attributes v");
    let Msg::RmSpace { name, token: last } = &reqs[5] else { panic!("{reqs:?}") };
    assert_eq!(name, "x");
    // Each call has a token of its own (0 would be none).
    assert!(*first != 0 && *last != 0 && first != last, "{reqs:?}");
}

#[test]
fn bad_input_search_replies_that_do_not_fit_fail_their_region_only() {
    use hyperclient::client::{Extra, SearchKind};
    use hyperdex_core::proto::{msg, push_object};
    fn events(c: &mut C, id: i64) -> (Vec<Vec<Vec<u8>>>, Vec<ReturnCode>) {
        let (mut objects, mut errors) = (Vec::new(), Vec::new());
        loop {
            let ev = c.loop_once(WAIT_MS).expect("loop_once");
            assert_eq!(ev.id, id);
            if ev.last {
                assert_eq!(ev.status, ReturnCode::SearchDone);
                return (objects, errors);
            }
            match ev.values {
                Some(v) => objects.push(v.iter().map(|(_, _, x)| x.to_vec()).collect()),
                None => errors.push(ev.status),
            }
        }
    }
    // Odd regions answer with an object of the wrong shape (no value for `v`), after a
    // reply naming a region nobody asked for (ignored); even ones with a good object.
    let daemon = HostilePeer::start(|_, m, nonce| match m {
        Msg::SearchStart { region, .. } => {
            let reply = |n: u32, objects: Vec<u8>| Msg::SearchReply {
                region: *region,
                rc: ReturnCode::Success,
                done: true,
                count: 0,
                n,
                objects,
            };
            let mut objects = Vec::new();
            if region % 2 == 1 {
                push_object(&mut objects, b"short", 0, &[]);
                let stray = Msg::SearchReply {
                    region: 999,
                    rc: ReturnCode::Success,
                    done: true,
                    count: 0,
                    n: 0,
                    objects: vec![],
                };
                let mut out = frame(&stray, nonce);
                out.extend(frame(&reply(1, objects), nonce));
                write(out)
            } else {
                push_object(&mut objects, format!("k{region}").as_bytes(), 1, &[1, 0, 0, 0, b'v']);
                write(frame(&reply(1, objects), nonce))
            }
        }
        _ => nothing(),
    });
    let cfg = config_naming(&daemon.addr());
    let coord = coordinator_serving(cfg.clone());
    let mut c = client(&coord);
    assert!(c.space_info(b"kv").is_ok());
    let regions: Vec<u64> = cfg.space(b"kv").unwrap().subspaces[0].regions.iter().map(|r| r.id).collect();
    let odd = regions.iter().filter(|r| *r % 2 == 1).count();
    let id = c.search(SearchKind::Search, b"kv", NO_CHECKS, 0).expect("search accepted");
    let (objects, errors) = events(&mut c, id);
    assert_eq!(errors, vec![ReturnCode::ServerError; odd], "{regions:?}");
    assert_eq!(objects.len(), regions.len() - odd);
    assert!(objects.iter().all(|o| o.len() == 2 && o[1] == b"v"));
    assert_eq!(daemon.accepted(), 1, "a well-framed but wrong answer keeps the connection");

    // A body that does not parse: the connection is not trusted any more, and every region
    // it serves fails (one SERVERERROR each), then the search ends.
    let garbage = HostilePeer::start(|_, m, nonce| match m {
        Msg::SearchStart { .. } => write(raw_frame(msg::SEARCH_REPLY, nonce, &[1, 2, 3])),
        _ => nothing(),
    });
    let coord = coordinator_serving(config_naming(&garbage.addr()));
    let mut c = client(&coord);
    assert!(c.space_info(b"kv").is_ok());
    let id = c.search(SearchKind::Search, b"kv", NO_CHECKS, 0).expect("search accepted");
    let (objects, errors) = events(&mut c, id);
    assert!(objects.is_empty());
    assert_eq!(errors, vec![ReturnCode::ServerError; regions.len()]);
    // count reports the failure (the total is then a lower bound).
    let id = c.search(SearchKind::Count, b"kv", NO_CHECKS, 0).expect("count accepted");
    let ev = c.loop_once(WAIT_MS).expect("loop_once");
    assert_eq!((ev.id, ev.status), (id, ReturnCode::ServerError));
    assert_eq!(ev.extra, Extra::Count(0));
}

// ---- a coordinator group: redirects and failover ----

/// `cfg` naming `coordinators` (host:port) as the coordinator group.
fn with_group(mut cfg: Configuration, coordinators: &[String]) -> Configuration {
    cfg.coordinators = coordinators
        .iter()
        .enumerate()
        .map(|(i, a)| hyperdex_core::config::CoordinatorAddr { id: i as u64 + 1, addr: a.clone() })
        .collect();
    cfg
}

fn redirect(leader: &str, nonce: u64) -> Answer {
    write(frame(&Msg::Redirect { leader: leader.to_string() }, nonce))
}

/// A port nothing listens on.
fn closed_port() -> String {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind");
    let a = l.local_addr().expect("addr").to_string();
    drop(l);
    a
}

#[test]
fn group_the_first_fetch_follows_redirects_and_skips_leaders_it_cannot_use() {
    let daemon = HostilePeer::start(|_, _, nonce| {
        write(frame(&Msg::GetReply { rc: ReturnCode::NotFound, values: vec![].into() }, nonce))
    });
    let cfg = config_naming(&daemon.addr());
    let leader = coordinator_serving(cfg.clone());
    let unreachable = closed_port();
    let cases: Vec<(&str, String, usize)> = vec![
        ("a leader that answers", leader.addr(), 1),
        ("an empty leader (an election runs)", String::new(), 0),
        ("a leader that is no address", "no address at all".into(), 0),
        ("a leader nothing listens at", unreachable, 0),
    ];
    for (what, named, at_leader) in cases {
        // The first request is redirected; later ones get the configuration from here.
        let fetch = cfg.clone();
        let first = HostilePeer::start(move |i, m, nonce| match (i, m) {
            (0, _) => redirect(&named, nonce),
            (_, Msg::ConfigWait { have: 0 }) => write(config_frame(&fetch, nonce)),
            _ => nothing(),
        });
        let fetches = || leader.requests().iter().filter(|m| **m == Msg::ConfigWait { have: 0 }).count();
        let before = fetches();
        let mut c = client(&first);
        let t0 = Instant::now();
        let id = c.get(b"kv", b"k", 0).expect("accepted");
        assert_eq!(drain(&mut c), [(id, ReturnCode::NotFound)], "{what}");
        assert!(t0.elapsed() < Duration::from_secs(5), "{what}: took {:?}", t0.elapsed());
        assert_eq!(c.config_version(), cfg.version, "{what}");
        assert_eq!(fetches() - before, at_leader, "{what}: fetches at the leader");
        // The space is known: the synchronous lookup needs no coordinator.
        assert!(c.space_info(b"kv").is_ok(), "{what}");
    }
}

#[test]
fn group_the_standing_wait_moves_to_another_coordinator_of_the_configuration() {
    let daemon = HostilePeer::start(|_, _, nonce| {
        write(frame(&Msg::GetReply { rc: ReturnCode::NotFound, values: vec![].into() }, nonce))
    });
    type Case = (&'static str, fn(&str, u64) -> Answer);
    let cases: Vec<Case> = vec![
        ("the first coordinator closes", |_, _| close()),
        ("the first coordinator names the other as leader", |other, nonce| redirect(other, nonce)),
        ("the first coordinator knows no leader", |_, nonce| redirect("", nonce)),
    ];
    for (what, standing) in cases {
        let base = config_naming(&daemon.addr());
        // The second coordinator holds a newer configuration, for anyone who waits.
        let newer = Arc::new(Mutex::new(None::<Configuration>));
        let n = newer.clone();
        let second = HostilePeer::start(move |_, m, nonce| match (m, n.lock().unwrap().clone()) {
            (Msg::ConfigWait { have }, Some(cfg)) if *have < cfg.version => write(config_frame(&cfg, nonce)),
            _ => nothing(),
        });
        let other = second.addr();
        let o = other.clone();
        let first_cfg = Arc::new(Mutex::new(None::<Configuration>));
        let f = first_cfg.clone();
        let first = HostilePeer::start(move |_, m, nonce| match m {
            Msg::ConfigWait { have: 0 } => write(config_frame(f.lock().unwrap().as_ref().unwrap(), nonce)),
            _ => standing(&o, nonce),
        });
        let group = [first.addr(), other.clone()];
        *first_cfg.lock().unwrap() = Some(with_group(base.clone(), &group));
        let mut v2 = with_group(base.clone(), &group);
        v2.version += 1;
        *newer.lock().unwrap() = Some(v2.clone());

        let mut c = client(&first);
        let id = c.get(b"kv", b"k", 0).expect("accepted");
        assert_eq!(drain(&mut c), [(id, ReturnCode::NotFound)], "{what}");
        wait_for(what, Duration::from_secs(10), || {
            let id = c.get(b"kv", b"k", 0).expect("get accepted");
            assert_eq!(drain(&mut c), [(id, ReturnCode::NotFound)], "{what}");
            (c.config_version() == v2.version).then_some(())
        });
        assert!(second.requests().iter().all(|m| matches!(m, Msg::ConfigWait { have } if *have >= base.version)));
    }
}

#[test]
fn group_a_configuration_older_than_the_one_held_is_ignored() {
    let daemon = HostilePeer::start(|_, _, nonce| {
        write(frame(&Msg::GetReply { rc: ReturnCode::NotFound, values: vec![].into() }, nonce))
    });
    let elsewhere = HostilePeer::start(|_, _, _| nothing());
    let mut current = config_naming(&daemon.addr());
    current.version += 5;
    // An older one that moves everything to a server that never answers.
    let older = config_naming(&elsewhere.addr());
    assert!(older.version < current.version);
    let (fetch, waits) = (current.clone(), Arc::new(AtomicUsize::new(0)));
    let w = waits.clone();
    let coord = HostilePeer::start(move |_, m, nonce| match m {
        Msg::ConfigWait { have: 0 } => write(config_frame(&fetch, nonce)),
        _ if w.fetch_add(1, Ordering::SeqCst) == 0 => write(config_frame(&older, nonce)),
        _ => nothing(),
    });
    let mut c = client(&coord);
    // The client waits again after the old configuration: then it was handled.
    wait_for("the second standing wait", Duration::from_secs(10), || {
        let id = c.get(b"kv", b"k", 0).expect("get accepted");
        assert_eq!(drain(&mut c), [(id, ReturnCode::NotFound)]);
        (waits.load(Ordering::SeqCst) >= 2).then_some(())
    });
    assert_eq!(c.config_version(), current.version);
    let id = c.get(b"kv", b"k", 0).expect("get accepted");
    assert_eq!(drain(&mut c), [(id, ReturnCode::NotFound)]);
    assert_eq!(elsewhere.accepted(), 0);
    let standing: Vec<Msg> = coord.requests().into_iter().filter(|m| *m != Msg::ConfigWait { have: 0 }).collect();
    assert_eq!(standing, [Msg::ConfigWait { have: current.version }, Msg::ConfigWait { have: current.version }]);
}

#[test]
fn group_an_endless_redirect_loop_ends_in_coordfail_within_the_timeout() {
    // Two coordinators that name each other forever.
    let other = Arc::new(Mutex::new(String::new()));
    let o = other.clone();
    let a = HostilePeer::start(move |_, _, nonce| redirect(&o.lock().unwrap(), nonce));
    let a_addr = a.addr();
    let b = HostilePeer::start(move |_, _, nonce| redirect(&a_addr, nonce));
    *other.lock().unwrap() = b.addr();
    // A parked operation (on the persistent connection) and a synchronous call.
    let mut c = client(&a);
    let t0 = Instant::now();
    let id = c.get(b"kv", b"k", 0).expect("accepted");
    assert_eq!(drain(&mut c), [(id, ReturnCode::CoordFail)]);
    let parked = t0.elapsed();
    let t0 = Instant::now();
    assert_eq!(c.add_space(b"space x key k"), ReturnCode::CoordFail);
    let sync = t0.elapsed();
    for (what, took) in [("the parked get", parked), ("add_space", sync)] {
        assert!(took >= Duration::from_secs(9) && took < Duration::from_secs(15), "{what}: {took:?}");
    }
    // It went back and forth, but with pauses, not flat out.
    let asked = a.requests().len() + b.requests().len();
    assert!(asked > 10 && asked < 20 * 2 * 9 * 20, "{asked} requests");
}

#[test]
fn group_add_space_is_sent_again_with_the_same_token_when_its_coordinator_fails() {
    type Case = (&'static str, fn(&str, u64) -> Answer);
    let cases: Vec<Case> = vec![
        ("the coordinator closes after the request", |_, _| close()),
        ("the coordinator names another leader", |other, nonce| redirect(other, nonce)),
        ("the coordinator knows no leader", |_, nonce| redirect("", nonce)),
    ];
    for (what, first_answer) in cases {
        let second = HostilePeer::start(|_, m, nonce| match m {
            Msg::AddSpace { .. } | Msg::RmSpace { .. } => {
                write(frame(&Msg::CoordReply { code: CoordCode::Success }, nonce))
            }
            Msg::ConfigWait { have: 0 } => write(config_frame(&Configuration::default(), nonce)),
            _ => nothing(),
        });
        let other = second.addr();
        let o = other.clone();
        let group_cfg = Arc::new(Mutex::new(Configuration::default()));
        let g = group_cfg.clone();
        let first = HostilePeer::start(move |_, m, nonce| match m {
            Msg::ConfigWait { have: 0 } => write(config_frame(&g.lock().unwrap(), nonce)),
            Msg::AddSpace { .. } | Msg::RmSpace { .. } => first_answer(&o, nonce),
            _ => nothing(),
        });
        let mut cfg = with_group(Configuration::default(), &[first.addr(), other]);
        cfg.cluster = 7;
        cfg.version = 1;
        *group_cfg.lock().unwrap() = cfg;
        let mut c = client(&first);
        // The client learns the group from its first configuration.
        assert_eq!(c.space_info(b"nothing").err(), Some(ReturnCode::UnknownSpace), "{what}");
        assert_eq!(c.add_space(b"space x key k"), ReturnCode::Success, "{what}");
        assert_eq!(c.rm_space(b"x"), ReturnCode::Success, "{what}");
        let token = |m: &Msg| match m {
            Msg::AddSpace { token, .. } | Msg::RmSpace { token, .. } => Some(*token),
            _ => None,
        };
        let at_first: Vec<u64> = first.requests().iter().filter_map(token).collect();
        let at_second: Vec<u64> = second.requests().iter().filter_map(token).collect();
        assert_eq!(at_second.len(), 2, "{what}: {at_second:?}");
        // rm_space went to the leader found by add_space: only add_space met the first one.
        assert_eq!(at_first, at_second[..1], "{what}: the same token");
        assert!(at_second[0] != 0 && at_second[0] != at_second[1], "{what}");
    }
}
