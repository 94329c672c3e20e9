//! The client library (its safe Rust API, which the C functions wrap one to one) against
//! real coordinator and daemon processes.

mod common;

use std::collections::HashSet;
use std::time::{Duration, Instant};

use common::{wait_for, Cluster};
use hyperclient::client::{Attribute, AttributeCheck, KeyOp, MapAttribute, OpError};
use hyperclient::{Client, DataType, Predicate, ReturnCode};

type C = Client<u32>;

const NO_CHECKS: &[AttributeCheck<'static>] = &[];
const NO_ATTRS: &[Attribute<'static>] = &[];
const NO_MAPS: &[MapAttribute<'static>] = &[];

fn client(cl: &Cluster) -> C {
    Client::new("127.0.0.1", cl.coord_port).expect("client")
}

fn s<'a>(name: &'a str, v: &'a [u8]) -> Attribute<'a> {
    Attribute { name: name.as_bytes(), value: v, datatype: DataType::String }
}

fn i<'a>(name: &'a str, v: &'a [u8; 8]) -> Attribute<'a> {
    Attribute { name: name.as_bytes(), value: v, datatype: DataType::Int64 }
}

/// Waits (bounded) for the next completion: (id, tag, status, values).
fn next(c: &mut C) -> (i64, u32, ReturnCode, Option<Vec<Vec<u8>>>) {
    let ev = c.loop_once(30_000).expect("loop_once");
    let values = ev.values.map(|v| v.iter().map(|(_, _, x)| x.to_vec()).collect());
    (ev.id, ev.user, ev.status, values)
}

/// Runs one write synchronously and returns its status.
fn write(
    c: &mut C,
    op: KeyOp,
    space: &str,
    key: &[u8],
    checks: &[AttributeCheck<'_>],
    attrs: &[Attribute<'_>],
) -> ReturnCode {
    let id = c.key_op(op, space.as_bytes(), key, checks, attrs, NO_MAPS, 0).expect("call accepted");
    let (got, _, status, _) = next(c);
    assert_eq!(got, id);
    status
}

fn get(c: &mut C, space: &str, key: &[u8]) -> (ReturnCode, Option<Vec<Vec<u8>>>) {
    let id = c.get(space.as_bytes(), key, 0).expect("call accepted");
    let (got, _, status, values) = next(c);
    assert_eq!(got, id);
    (status, values)
}

#[test]
fn key_operations_against_a_real_cluster() {
    let cl = Cluster::start("client-ops", 3);
    let mut c = client(&cl);
    let desc = "space kv key k attributes string v, int n, set(string) s create 8 partitions tolerate 1 failure";
    assert_eq!(c.add_space(desc.as_bytes()), ReturnCode::Success);
    assert_eq!(c.add_space(desc.as_bytes()), ReturnCode::Duplicate);
    assert_eq!(c.add_space(b"space broken key"), ReturnCode::BadSpace);

    // The space is usable at once after add_space returns.
    let five = 5i64.to_le_bytes();
    assert_eq!(
        write(&mut c, KeyOp::PUT, "kv", b"a", NO_CHECKS, &[s("v", b"hello"), i("n", &five)]),
        ReturnCode::Success
    );
    let (st, values) = get(&mut c, "kv", b"a");
    assert_eq!(st, ReturnCode::Success);
    assert_eq!(values.unwrap(), vec![b"hello".to_vec(), five.to_vec(), vec![]]);
    assert_eq!(get(&mut c, "kv", b"missing"), (ReturnCode::NotFound, None));

    assert_eq!(write(&mut c, KeyOp::PUT_IF_NOT_EXIST, "kv", b"a", NO_CHECKS, &[]), ReturnCode::CmpFail);
    let stale = AttributeCheck { name: b"v", value: b"bye", datatype: DataType::String, predicate: Predicate::Equals };
    let fresh =
        AttributeCheck { name: b"v", value: b"hello", datatype: DataType::String, predicate: Predicate::Equals };
    assert_eq!(write(&mut c, KeyOp::COND_PUT, "kv", b"a", &[stale], &[s("v", b"x")]), ReturnCode::CmpFail);
    assert_eq!(write(&mut c, KeyOp::COND_PUT, "kv", b"a", &[fresh], &[s("v", b"x")]), ReturnCode::Success);
    assert_eq!(write(&mut c, KeyOp::COND_PUT, "kv", b"zz", &[fresh], &[s("v", b"x")]), ReturnCode::NotFound);

    let max = i64::MAX.to_le_bytes();
    assert_eq!(write(&mut c, KeyOp::ATOMIC_ADD, "kv", b"a", NO_CHECKS, &[i("n", &max)]), ReturnCode::Overflow);
    assert_eq!(write(&mut c, KeyOp::ATOMIC_ADD, "kv", b"a", NO_CHECKS, &[i("n", &five)]), ReturnCode::Success);
    assert_eq!(write(&mut c, KeyOp::SET_ADD, "kv", b"a", NO_CHECKS, &[s("s", b"m")]), ReturnCode::Success);
    assert_eq!(write(&mut c, KeyOp::SET_ADD, "kv", b"nobody", NO_CHECKS, &[s("s", b"m")]), ReturnCode::NotFound);
    let (_, values) = get(&mut c, "kv", b"a");
    let values = values.unwrap();
    assert_eq!(values[1], 10i64.to_le_bytes().to_vec());
    assert_eq!(values[2], b"\x01\0\0\0m".to_vec());

    assert_eq!(write(&mut c, KeyOp::DEL, "kv", b"a", NO_CHECKS, NO_ATTRS), ReturnCode::Success);
    assert_eq!(write(&mut c, KeyOp::DEL, "kv", b"a", NO_CHECKS, NO_ATTRS), ReturnCode::NotFound);
    assert_eq!(c.loop_once(0).err(), Some(ReturnCode::NonePending));

    // A thousand outstanding at once, every id back exactly once.
    let mut ids = HashSet::new();
    for n in 0..1000u32 {
        let key = format!("key{n}");
        ids.insert(
            c.key_op(KeyOp::PUT, b"kv", key.as_bytes(), NO_CHECKS, &[s("v", key.as_bytes())], NO_MAPS, n).unwrap(),
        );
    }
    for _ in 0..1000 {
        let (id, _, status, _) = next(&mut c);
        assert_eq!(status, ReturnCode::Success);
        assert!(ids.remove(&id));
    }
    assert!(ids.is_empty());

    // Another client removes the space: this one learns it from the coordinator.
    let mut other = client(&cl);
    assert_eq!(other.rm_space(b"kv"), ReturnCode::Success);
    assert_eq!(other.rm_space(b"kv"), ReturnCode::NotFound);
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        match c.get(b"kv", b"a", 0) {
            Err(e) => {
                assert_eq!(e, OpError { offset: -1, status: ReturnCode::UnknownSpace });
                break;
            }
            Ok(_) => {
                assert!(Instant::now() < deadline, "the removal never reached the client");
                let _ = next(&mut c);
            }
        }
    }
}

#[test]
fn a_space_added_elsewhere_is_found_and_a_dead_daemon_gives_reconfigure() {
    let mut cl = Cluster::start("client-reconf", 2);
    let mut c = client(&cl);
    // A fresh client's first call waits (in loop) for the configuration: it has no such
    // space, so that is the call's outcome...
    let id = c.get(b"later", b"k", 0).expect("accepted");
    assert_eq!(next(&mut c), (id, 0, ReturnCode::UnknownSpace, None));
    // ...and, the configuration now current, the next such call is refused at once.
    assert_eq!(c.get(b"later", b"k", 0), Err(OpError { offset: -1, status: ReturnCode::UnknownSpace }));
    // ...which another process then adds.
    cl.add_space("space later key k attributes v create 4 partitions tolerate 0 failures");
    assert_eq!(write(&mut c, KeyOp::PUT, "later", b"k", NO_CHECKS, &[s("v", b"1")]), ReturnCode::Success);

    // Keys whose point leader is the daemon that leads "k0".
    let cfg = cl.config().unwrap();
    let sp = cfg.space(b"later").unwrap();
    let victim = sp.key_region(b"k0").unwrap().replicas[0].server;
    let index = (0..2).find(|&i| cl.server_id(i) == victim).expect("the leader is one of ours");
    let keys: Vec<Vec<u8>> = (0..200)
        .map(|n| format!("k{n}").into_bytes())
        .filter(|k| sp.key_region(k).unwrap().replicas[0].server == victim)
        .take(10)
        .collect();
    for k in &keys {
        assert_eq!(write(&mut c, KeyOp::PUT, "later", k, NO_CHECKS, &[s("v", b"1")]), ReturnCode::Success);
    }

    // Kill it: operations sent to it now come back RECONFIGURE, one event each.
    cl.kill_daemon(index);
    let ids: HashSet<i64> = keys
        .iter()
        .map(|k| c.key_op(KeyOp::PUT, b"later", k, NO_CHECKS, &[s("v", b"2")], NO_MAPS, 0).unwrap())
        .collect();
    let mut seen = HashSet::new();
    for _ in 0..ids.len() {
        let (id, _, status, _) = next(&mut c);
        assert_eq!(status, ReturnCode::Reconfigure);
        assert!(seen.insert(id));
    }
    assert_eq!(seen, ids);
    assert_eq!(c.loop_once(0).err(), Some(ReturnCode::NonePending));

    // Restarted, it serves again; the application retries (the library never does).
    cl.start_daemon(index);
    wait_for("the daemon to serve again", Duration::from_secs(30), || {
        match write(&mut c, KeyOp::PUT, "later", &keys[0], NO_CHECKS, &[s("v", b"3")]) {
            ReturnCode::Success => Some(()),
            st => {
                assert_eq!(st, ReturnCode::Reconfigure);
                None
            }
        }
    });
    assert_eq!(get(&mut c, "later", &keys[0]).1.unwrap(), vec![b"3".to_vec()]);
}
