//! Garbage, truncated and oversized frames sent to every server port close that connection
//! only: the servers keep serving everyone else and never crash.

mod common;

use common::*;
use hyperdex_core::proto::Msg;
use hyperdex_core::wire::MAX_FRAME;
use std::io::{Read, Write};
use std::time::Duration;

/// Writes `bytes` and expects the server to close the connection.
fn expect_closed(port: u16, bytes: &[u8]) {
    let mut c = RawConn::connect(port).unwrap();
    let _ = c.stream.write_all(bytes);
    c.stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut buf = [0u8; 64];
    match c.stream.read(&mut buf) {
        Ok(0) => {}
        Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {}
        other => panic!("connection to {port} stayed open after garbage ({other:?})"),
    }
}

fn hostile_inputs() -> Vec<Vec<u8>> {
    let mut v = Vec::new();
    // Oversized length.
    v.push(((MAX_FRAME + 1) as u32).to_le_bytes().to_vec());
    // A length too small to hold a header.
    v.push(vec![2, 0, 0, 0, 0, 0]);
    // Unknown message type.
    let mut f = Vec::new();
    f.extend_from_slice(&9u32.to_le_bytes());
    f.push(200);
    f.extend_from_slice(&1u64.to_le_bytes());
    v.push(f);
    // A known type whose body is truncated (GET with a key length past the end).
    let mut f = Vec::new();
    let body: Vec<u8> = [1u64.to_le_bytes().as_slice(), 2u64.to_le_bytes().as_slice(), &1000u32.to_le_bytes()].concat();
    f.extend_from_slice(&((9 + body.len()) as u32).to_le_bytes());
    f.push(hyperdex_core::proto::msg::GET);
    f.extend_from_slice(&1u64.to_le_bytes());
    f.extend_from_slice(&body);
    v.push(f);
    // An ATOMIC with a huge element count.
    let mut f = Vec::new();
    let body: Vec<u8> = [
        1u64.to_le_bytes().as_slice(),
        2u64.to_le_bytes().as_slice(),
        &0u32.to_le_bytes(),
        &[0],
        &u32::MAX.to_le_bytes(),
    ]
    .concat();
    f.extend_from_slice(&((9 + body.len()) as u32).to_le_bytes());
    f.push(hyperdex_core::proto::msg::ATOMIC);
    f.extend_from_slice(&1u64.to_le_bytes());
    f.extend_from_slice(&body);
    v.push(f);
    // A message meant for the other kind of server.
    let mut f = Vec::new();
    Msg::ConfigWait { have: 0 }.encode(1, &mut f);
    v.push(f);
    v
}

#[test]
fn garbage_closes_one_connection_and_servers_keep_serving() {
    let mut cl = Cluster::start("garbage", 1);
    cl.add_space("space g key k attributes v tolerate 0 failures");
    let cfg = cl.config().unwrap();
    let daemon_port = cl.daemon_ports[0];
    // A healthy client connected before the garbage keeps working after it.
    let mut healthy = RawConn::connect(cl.coord_port).unwrap();
    for bytes in hostile_inputs() {
        // The coordinator does not accept daemon-only messages and vice versa.
        let is_config_wait = bytes.len() > 4 && bytes[4] == hyperdex_core::proto::msg::CONFIG_WAIT;
        if !is_config_wait {
            expect_closed(cl.coord_port, &bytes);
        }
        expect_closed(daemon_port, &bytes);
    }
    // Random bytes.
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    for _ in 0..20 {
        let mut bytes = Vec::new();
        for _ in 0..64 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            bytes.push(x as u8);
        }
        // Make the length field large but legal so the server waits, then close ourselves.
        let mut c = RawConn::connect(daemon_port).unwrap();
        let _ = c.stream.write_all(&bytes);
        drop(c);
    }
    assert!(matches!(healthy.call(&Msg::ConfigWait { have: 0 }), Some(Msg::Config { .. })));
    assert!(cl.daemon_alive(0));
    // The daemon still answers real requests.
    let sp = cfg.space(b"g").unwrap();
    let r = sp.key_region(b"k").unwrap();
    let reply = RawConn::connect(daemon_port)
        .unwrap()
        .call(&Msg::Get { version: cfg.version, region: r.id, key: b"k".to_vec() })
        .unwrap();
    assert!(matches!(reply, Msg::GetReply { rc: hyperdex_core::ReturnCode::NotFound, .. }), "{reply:?}");
    // A request for a region this daemon does not hold is refused, not crashed on.
    let reply = RawConn::connect(daemon_port)
        .unwrap()
        .call(&Msg::Get { version: cfg.version, region: 999_999, key: b"k".to_vec() })
        .unwrap();
    assert!(matches!(reply, Msg::GetReply { rc: hyperdex_core::ReturnCode::Reconfigure, .. }), "{reply:?}");
}

/// A peer that sends a request and closes its side at once: the server must notice the end
/// of the stream (it arrives with the data) and close, not hold the socket forever.
#[test]
fn a_request_followed_by_an_immediate_close_is_not_held_forever() {
    let cl = Cluster::start("halfclose", 1);
    cl.add_space("space h key k tolerate 0 failures");
    let cfg = cl.config().unwrap();
    let r = cfg.space(b"h").unwrap().key_region(b"k").unwrap().id;
    let daemon = cl.daemon_ports[0];
    for (port, msg) in [
        (cl.coord_port, Msg::ConfigWait { have: u64::MAX - 1 }),
        (daemon, Msg::Get { version: u64::MAX - 1, region: r, key: b"k".to_vec() }),
    ] {
        let mut c = RawConn::connect(port).unwrap();
        c.send(&msg);
        c.stream.shutdown(std::net::Shutdown::Write).unwrap();
        c.stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let mut buf = [0u8; 64];
        match c.stream.read(&mut buf) {
            Ok(0) => {}
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {}
            other => panic!("port {port} kept a half-closed peer ({other:?})"),
        }
    }
}

/// Urgent (out-of-band) data in the middle of a request: a read stops short at TCP's urgent
/// mark with the rest of the request behind it, and no readiness event follows. The daemon
/// asks to hear of urgent data and then reads on, so the request is still answered. (The
/// daemon is paused while the request's halves and the urgent byte are sent, so its first
/// read meets them all, and the mark between them.)
#[test]
fn a_request_split_by_urgent_data_is_still_answered() {
    use std::os::fd::AsRawFd;
    let mut cl = Cluster::start("urgent", 1);
    cl.add_space("space u key k tolerate 0 failures");
    let cfg = cl.config().unwrap();
    let r = cfg.space(b"u").unwrap().key_region(b"k").unwrap().id;
    let get = Msg::Get { version: cfg.version, region: r, key: b"k".to_vec() };
    let mut c = RawConn::connect(cl.daemon_ports[0]).unwrap();
    // A first GET, so that the daemon has taken the connection in.
    assert!(matches!(c.call(&get), Some(Msg::GetReply { .. })));
    let mut out = Vec::new();
    get.encode(7, &mut out);
    let (first, rest) = out.split_at(out.len() / 2);
    cl.pause_daemon(0);
    c.stream.write_all(first).unwrap();
    // SAFETY: one byte from a live buffer, on an open socket.
    let sent = unsafe { libc::send(c.stream.as_raw_fd(), b"X".as_ptr().cast(), 1, libc::MSG_OOB) };
    assert_eq!(sent, 1);
    c.stream.write_all(rest).unwrap();
    cl.resume_daemon(0);
    c.stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    match c.recv() {
        Some((7, Msg::GetReply { rc: hyperdex_core::ReturnCode::NotFound, .. })) => {}
        other => panic!("a GET split by urgent data was not answered: {other:?}"),
    }
}

/// A connection that said HELLO is a daemon's: it is never paused or parked for the answers
/// it does not read, so a client's request on it closes it. Without the HELLO the same
/// request is answered.
#[test]
fn a_connection_that_said_hello_may_not_send_client_requests() {
    let cl = Cluster::start("hellothenget", 1);
    cl.add_space("space hg key k tolerate 0 failures");
    let cfg = cl.config().unwrap();
    let r = cfg.space(b"hg").unwrap().key_region(b"k").unwrap().id;
    let port = cl.daemon_ports[0];
    let get = Msg::Get { version: cfg.version, region: r, key: b"k".to_vec() };
    let answered = || {
        let reply = RawConn::connect(port).unwrap().call(&get);
        assert!(matches!(reply, Some(Msg::GetReply { rc: hyperdex_core::ReturnCode::NotFound, .. })), "{reply:?}");
    };
    answered();
    let requests = [
        get.clone(),
        Msg::Atomic { version: cfg.version, region: r, key: b"k".to_vec(), flags: 0, checks: vec![], funcs: vec![] },
        Msg::SearchStart {
            version: cfg.version,
            region: r,
            mode: 0,
            checks: vec![],
            sort_attr: 0,
            limit: 0,
            maximize: 0,
        },
        Msg::SearchMore { region: r },
        Msg::SearchStop { region: r },
    ];
    for req in requests {
        let mut out = Vec::new();
        Msg::Hello { cluster: cfg.cluster, server: 4242 }.encode(0, &mut out);
        req.encode(1, &mut out);
        expect_closed(port, &out);
    }
    // The daemon goes on serving.
    answered();
}

/// A chain message naming this daemon for every hop (the most a frame may carry) is walked
/// without exhausting the stack; one naming more hops than allowed is refused. The daemon
/// keeps serving either way.
#[test]
fn a_chain_of_many_local_hops_does_not_crash_a_daemon() {
    use hyperdex_core::proto::{Hop, MAX_HOPS};
    let cl = Cluster::start("hops", 1);
    cl.add_space("space hb key k attributes v tolerate 0 failures");
    let cfg = cl.config().unwrap();
    let r = cfg.space(b"hb").unwrap().key_region(b"k").unwrap().clone();
    let me = r.replicas[0].server;
    let port = cl.daemon_ports[0];
    // From a connection that did not say which server it is: closed at once.
    let chain0 = Msg::ChainOp {
        version: cfg.version,
        leader: 77,
        op: 1,
        hop: 0,
        space: cfg.space(b"hb").unwrap().id,
        key: b"k".as_slice().into(),
        obj_version: 1,
        hops: vec![Hop { region: r.id, server: me, store: true }; 2].into(),
        values: Some(vec![b"x".to_vec()].into()),
    };
    let mut out = Vec::new();
    chain0.encode(1, &mut out);
    expect_closed(port, &out);
    // A server of the configuration (registered with the coordinator, which keeps its
    // lease while this test runs) may send chain messages once it said HELLO.
    let (mut coord, peer, cfg) = common::fake_peer(&cl, "127.0.0.1:9");
    let mut c = RawConn::connect(port).unwrap();
    c.send(&Msg::Hello { cluster: cfg.cluster, server: peer });
    coord.send(&Msg::Heartbeat { server: peer, version: cfg.version });
    // Hops 0 to n-2 are ours (the peer's), the last the daemon's.
    let chain = |n: usize| {
        let mut hops = vec![Hop { region: r.id, server: peer, store: true }; n - 1];
        hops.push(Hop { region: r.id, server: me, store: true });
        Msg::ChainOp {
            version: cfg.version,
            leader: 77,
            op: 1,
            hop: (n - 1) as u16,
            space: cfg.space(b"hb").unwrap().id,
            key: b"k".as_slice().into(),
            obj_version: 1,
            hops: hops.into(),
            values: Some(vec![b"x".to_vec()].into()),
        }
    };
    // Allowed length: applied at its end and acknowledged back to us (the hop before it).
    c.send(&chain(MAX_HOPS));
    let ack = c.recv().map(|(_, m)| m);
    let back = (MAX_HOPS - 2) as u16;
    assert!(
        matches!(ack, Some(Msg::ChainAck { leader: 77, op: 1, region, hop }) if region == r.id && hop == back),
        "{ack:?}"
    );
    // Too long: the frame is refused and the connection closed.
    let mut out = Vec::new();
    chain(MAX_HOPS + 1).encode(1, &mut out);
    expect_closed(port, &out);
    let reply =
        RawConn::connect(port).unwrap().call(&Msg::Get { version: cfg.version, region: r.id, key: b"zz".to_vec() });
    assert!(reply.is_some());
    let mut cl = cl;
    assert!(cl.daemon_alive(0));
}

/// A client that sends far more requests than it reads answers: the daemon stops serving it
/// once 8 MiB of answers wait (instead of buffering without bound), and serves the rest as
/// the client reads; every answer arrives, in order.
#[test]
fn a_client_that_reads_slowly_gets_every_answer_in_order() {
    let cl = Cluster::start("slowreader", 1);
    cl.add_space("space sr key k attributes v tolerate 0 failures");
    let cfg = cl.config().unwrap();
    let r = cfg.space(b"sr").unwrap().key_region(b"big").unwrap().clone();
    let port = cl.daemon_ports[0];
    let big = vec![7u8; 100_000];
    let put = Msg::Atomic {
        version: cfg.version,
        region: r.id,
        key: b"big".to_vec(),
        flags: 0,
        checks: vec![],
        funcs: vec![hyperdex_core::ops::Func {
            attr: 1,
            op: hyperdex_core::ops::FuncOp::Set,
            arg_type: hyperdex_core::DataType::String,
            arg: big.clone(),
            map_key: None,
        }],
    };
    let mut c = RawConn::connect(port).unwrap();
    assert!(matches!(c.call(&put), Some(Msg::AtomicReply { rc: hyperdex_core::ReturnCode::Success })));
    // 600 gets of a 100 kB object: 60 MB of answers, all requested before reading any.
    const N: u64 = 600;
    let mut out = Vec::new();
    for i in 0..N {
        Msg::Get { version: cfg.version, region: r.id, key: b"big".to_vec() }.encode(1000 + i, &mut out);
    }
    let mut writer = c.stream.try_clone().unwrap();
    let t = std::thread::spawn(move || writer.write_all(&out));
    for i in 0..N {
        let (nonce, m) = c.recv().expect("an answer");
        assert_eq!(nonce, 1000 + i);
        match m {
            Msg::GetReply { rc: hyperdex_core::ReturnCode::Success, values } => {
                assert_eq!(values.to_vecs(), vec![big.clone()])
            }
            other => panic!("{other:?}"),
        }
    }
    t.join().unwrap().unwrap();
}

/// Search messages a daemon must survive: malformed frames close that connection only;
/// well-formed but wrong ones (a region it does not head or does not know, a sort attribute
/// out of range, checks that do not validate, continuing a search that does not exist) get
/// an error reply for that region and the daemon keeps serving. A regex built to make a
/// backtracking matcher explode runs against a 1 MiB value in linear time.
#[test]
fn bad_input_search_messages_and_hostile_regexes() {
    use hyperdex_core::codes::{DataType, Predicate, ReturnCode};
    use hyperdex_core::ops::Check;
    use hyperdex_core::proto::{msg, search_mode};
    let cl = Cluster::start("bad-search", 1);
    cl.add_space("space s key k attributes v, int n subspace n create 2 partitions tolerate 0 failures");
    let cfg = cl.config().unwrap();
    let sp = cfg.space(b"s").unwrap();
    let port = cl.daemon_ports[0];
    let region = sp.subspaces[1].regions[0].id;
    let frame = |ty: u8, body: &[u8]| {
        let mut f = ((9 + body.len()) as u32).to_le_bytes().to_vec();
        f.push(ty);
        f.extend_from_slice(&7u64.to_le_bytes());
        f.extend_from_slice(body);
        f
    };
    // Malformed: truncated, an unknown mode, a check count past the end, a stray byte.
    let start = |mode: u8| {
        let mut b = Vec::new();
        Msg::SearchStart { version: cfg.version, region, mode, checks: vec![], sort_attr: 0, limit: 0, maximize: 0 }
            .encode(1, &mut b);
        b[13..].to_vec()
    };
    let mut unknown_mode = start(search_mode::SEARCH);
    unknown_mode[16] = 9;
    let mut huge_count = start(search_mode::SEARCH);
    huge_count[17..21].copy_from_slice(&u32::MAX.to_le_bytes());
    let mut long = start(search_mode::COUNT);
    long.push(0);
    for body in [start(search_mode::SEARCH)[..10].to_vec(), unknown_mode, huge_count, long] {
        expect_closed(port, &frame(msg::SEARCH_START, &body));
    }
    expect_closed(port, &frame(msg::SEARCH_MORE, &[1, 2, 3]));
    // Well-formed but wrong: an error for that region, and the connection stays usable.
    let mut c = RawConn::connect(port).unwrap();
    let bad_check = Check { attr: 9, predicate: Predicate::Equals, dtype: DataType::String, value: vec![] };
    let wrong_type = Check { attr: 2, predicate: Predicate::Regex, dtype: DataType::String, value: b"x".to_vec() };
    let cases = [
        (
            Msg::SearchStart {
                version: cfg.version,
                region: 999_999,
                mode: 0,
                checks: vec![],
                sort_attr: 0,
                limit: 0,
                maximize: 0,
            },
            ReturnCode::Reconfigure,
        ),
        (
            Msg::SearchStart {
                version: cfg.version,
                region,
                mode: 0,
                checks: vec![bad_check],
                sort_attr: 0,
                limit: 0,
                maximize: 0,
            },
            ReturnCode::UnknownAttr,
        ),
        (
            Msg::SearchStart {
                version: cfg.version,
                region,
                mode: 0,
                checks: vec![wrong_type],
                sort_attr: 0,
                limit: 0,
                maximize: 0,
            },
            ReturnCode::WrongType,
        ),
        (
            Msg::SearchStart {
                version: cfg.version,
                region,
                mode: 1,
                checks: vec![],
                sort_attr: 77,
                limit: 3,
                maximize: 1,
            },
            ReturnCode::UnknownAttr,
        ),
        (Msg::SearchMore { region }, ReturnCode::Reconfigure),
    ];
    for (m, want) in cases {
        match c.call(&m) {
            Some(Msg::SearchReply { rc, done: true, n: 0, .. }) => assert_eq!(rc, want, "{m:?}"),
            other => panic!("{m:?}: {other:?}"),
        }
    }
    // A 1 MiB value and a pattern that is exponential for a backtracking matcher.
    let key_region = sp.key_region(b"big").unwrap().id;
    let big = vec![b'a'; 1 << 20];
    let put = Msg::Atomic {
        version: cfg.version,
        region: key_region,
        key: b"big".to_vec(),
        flags: 0,
        checks: vec![],
        funcs: vec![hyperdex_core::ops::Func {
            attr: 1,
            op: hyperdex_core::ops::FuncOp::Set,
            arg_type: DataType::String,
            arg: big,
            map_key: None,
        }],
    };
    assert_eq!(c.call(&put), Some(Msg::AtomicReply { rc: ReturnCode::Success }));
    let evil =
        Check { attr: 1, predicate: Predicate::Regex, dtype: DataType::String, value: b".*.*.*.*.*.*x".to_vec() };
    let key_sub = sp.subspaces[0].regions.iter().find(|r| r.id == key_region).unwrap().id;
    let m = Msg::SearchStart {
        version: cfg.version,
        region: key_sub,
        mode: search_mode::COUNT,
        checks: vec![evil],
        sort_attr: 0,
        limit: 0,
        maximize: 0,
    };
    c.stream.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    match c.call(&m) {
        Some(Msg::SearchReply { rc: ReturnCode::Success, done: true, count: 0, .. }) => {}
        other => panic!("{other:?}"),
    }
    // Still serving.
    let get = Msg::Get { version: cfg.version, region: key_region, key: b"big".to_vec() };
    assert!(matches!(c.call(&get), Some(Msg::GetReply { rc: ReturnCode::Success, .. })));
}
