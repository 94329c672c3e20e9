//! The client against the fake servers of `crate::testing`: request building, validation
//! offsets, completion rules (each id once, RECONFIGURE on lost connections and new
//! configurations), configuration handling and the coordinator RPCs.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use hyperdex_core::codes::{CoordCode, DataType, Predicate, ReturnCode};
use hyperdex_core::config::Server;
use hyperdex_core::proto::Msg;

use super::*;
use crate::testing::{cluster, dead_port, space, DaemonMode, FakeCoord, FakeDaemon, KV};

type C = Client<u32>;

const NO_CHECKS: &[AttributeCheck<'static>] = &[];
const NO_ATTRS: &[Attribute<'static>] = &[];
const NO_MAPS: &[MapAttribute<'static>] = &[];
/// Upper bound on any single wait in these tests (they normally take microseconds).
const WAIT_MS: i32 = 10_000;

fn client(port: u16) -> C {
    Client::new("127.0.0.1", port).expect("client")
}

fn attr<'a>(name: &'a str, value: &'a [u8], datatype: DataType) -> Attribute<'a> {
    Attribute { name: name.as_bytes(), value, datatype }
}

fn put(c: &mut C, key: &[u8], attrs: &[Attribute<'_>], tag: u32) -> Result<i64, OpError> {
    c.key_op(KeyOp::PUT, b"kv", key, NO_CHECKS, attrs, NO_MAPS, tag)
}

/// An attribute with any datatype number, as C can pass.
struct RawAttr {
    name: &'static [u8],
    value: &'static [u8],
    datatype: u32,
}

impl AttrInput for RawAttr {
    fn name(&self) -> Option<&[u8]> {
        Some(self.name)
    }
    fn value(&self) -> Option<&[u8]> {
        Some(self.value)
    }
    fn datatype(&self) -> u32 {
        self.datatype
    }
}

/// (name, type, value) of each attribute of a get.
type Owned = Vec<(Vec<u8>, DataType, Vec<u8>)>;

#[derive(Debug)]
struct Done {
    id: i64,
    tag: u32,
    status: ReturnCode,
    values: Option<Owned>,
}

fn next(c: &mut C) -> Done {
    let ev = c.loop_once(WAIT_MS).expect("loop_once");
    Done {
        id: ev.id,
        tag: ev.user,
        status: ev.status,
        values: ev.values.map(|v| v.iter().map(|(n, t, x)| (n.to_vec(), t, x.to_vec())).collect()),
    }
}

#[test]
fn put_then_get_returns_every_non_key_attribute_in_schema_order() {
    let (coord, _d) = cluster();
    let mut c = client(coord.port);
    let id = put(
        &mut c,
        b"k1",
        &[attr("v", b"hello", DataType::String), attr("n", &5i64.to_le_bytes(), DataType::Int64)],
        1,
    )
    .expect("put");
    assert!(id > 0);
    let d = next(&mut c);
    assert_eq!((d.id, d.tag, d.status), (id, 1, ReturnCode::Success));
    assert!(d.values.is_none());

    let id = c.get(b"kv", b"k1", 2).expect("get");
    let d = next(&mut c);
    assert_eq!((d.id, d.status), (id, ReturnCode::Success));
    let values = d.values.expect("values");
    let expect: Owned = vec![
        (b"v".to_vec(), DataType::String, b"hello".to_vec()),
        (b"n".to_vec(), DataType::Int64, 5i64.to_le_bytes().to_vec()),
        (b"s".to_vec(), DataType::SetString, vec![]),
        (b"f".to_vec(), DataType::Float, vec![]),
        (b"l".to_vec(), DataType::ListInt64, vec![]),
        (b"m".to_vec(), DataType::MapStringInt64, vec![]),
        (b"ms".to_vec(), DataType::MapStringString, vec![]),
    ];
    assert_eq!(values, expect);

    c.get(b"kv", b"missing", 3).expect("get");
    let d = next(&mut c);
    assert_eq!(d.status, ReturnCode::NotFound);
    assert!(d.values.is_none());
    assert_eq!(c.loop_once(0).err(), Some(ReturnCode::NonePending));
}

#[test]
fn thousands_outstanding_each_come_back_exactly_once() {
    let (coord, d) = cluster();
    let mut c = client(coord.port);
    let value = vec![b'x'; 200];
    let mut ids = Vec::new();
    // 3000 x ~250 bytes passes FLUSH_THRESHOLD, so some batches go out from the calls.
    for i in 0..3000u32 {
        let key = format!("key{i}");
        ids.push(put(&mut c, key.as_bytes(), &[attr("v", &value, DataType::String)], i).expect("put"));
    }
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "ids increase");
    assert_eq!(c.pending(), 3000);
    let mut seen = HashSet::new();
    for _ in 0..3000 {
        let done = next(&mut c);
        assert_eq!(done.status, ReturnCode::Success);
        assert_eq!(ids[done.tag as usize], done.id);
        assert!(seen.insert(done.id), "id {} returned twice", done.id);
    }
    assert_eq!(c.loop_once(0).err(), Some(ReturnCode::NonePending));
    assert_eq!(d.accepted.load(std::sync::atomic::Ordering::SeqCst), 1, "one connection per daemon");
}

#[test]
fn validation_failures_name_the_argument() {
    let (coord, d) = cluster();
    let mut c = client(coord.port);
    let n8 = 1i64.to_le_bytes();
    let err = |rc, offset| Err(OpError { offset, status: rc });

    assert_eq!(
        put(&mut c, b"k", &[attr("v", b"a", DataType::String), attr("nope", b"", DataType::String)], 0),
        err(ReturnCode::UnknownAttr, -3)
    );
    assert_eq!(put(&mut c, b"k", &[attr("k", b"a", DataType::String)], 0), err(ReturnCode::DontUseKey, -2));
    assert_eq!(put(&mut c, b"k", &[attr("n", b"abc", DataType::Int64)], 0), err(ReturnCode::WrongType, -2));
    assert_eq!(put(&mut c, b"k", &[attr("n", &n8, DataType::String)], 0), err(ReturnCode::WrongType, -2));
    assert_eq!(
        put(&mut c, b"k", &[attr("n", &n8, DataType::Int64), attr("s", b"\x01", DataType::SetString)], 0),
        err(ReturnCode::WrongType, -3)
    );
    // A datatype number that is no datatype.
    let bogus = RawAttr { name: b"v", value: b"", datatype: 1 };
    assert_eq!(c.key_op(KeyOp::PUT, b"kv", b"k", NO_CHECKS, &[bogus], NO_MAPS, 0), err(ReturnCode::WrongType, -2));
    // set_add wants one element of the set's type; a string attribute has no set_add.
    assert_eq!(
        c.key_op(KeyOp::SET_ADD, b"kv", b"k", NO_CHECKS, &[attr("v", b"x", DataType::String)], NO_MAPS, 0),
        err(ReturnCode::WrongType, -2)
    );
    assert_eq!(
        c.key_op(KeyOp::ATOMIC_ADD, b"kv", b"k", NO_CHECKS, &[attr("v", b"x", DataType::String)], NO_MAPS, 0),
        err(ReturnCode::WrongType, -2)
    );

    // Checks come first: check i is -2 - i, attribute j is -2 - checks_sz - j.
    let ok_check = AttributeCheck { name: b"v", value: b"a", datatype: DataType::String, predicate: Predicate::Equals };
    let bad_check =
        AttributeCheck { name: b"zz", value: b"a", datatype: DataType::String, predicate: Predicate::Equals };
    let wrong_check =
        AttributeCheck { name: b"n", value: b"a", datatype: DataType::String, predicate: Predicate::Equals };
    let cond = |c: &mut C, checks: &[AttributeCheck<'_>], attrs: &[Attribute<'_>]| {
        c.key_op(KeyOp::COND_PUT, b"kv", b"k", checks, attrs, NO_MAPS, 0)
    };
    assert_eq!(cond(&mut c, &[ok_check, bad_check], &[]), err(ReturnCode::UnknownAttr, -3));
    assert_eq!(cond(&mut c, &[ok_check, wrong_check], &[]), err(ReturnCode::WrongType, -3));
    assert_eq!(
        cond(&mut c, &[ok_check, ok_check], &[attr("nope", b"", DataType::String)]),
        err(ReturnCode::UnknownAttr, -4)
    );
    // The key may be checked.
    let key_check =
        AttributeCheck { name: b"k", value: b"k", datatype: DataType::String, predicate: Predicate::Equals };
    assert!(cond(&mut c, &[key_check], &[attr("v", b"b", DataType::String)]).is_ok());

    // Empty GENERIC values take the attribute's type.
    assert!(put(&mut c, b"k", &[attr("s", b"", DataType::SetGeneric), attr("n", b"", DataType::Generic)], 0).is_ok());

    // Order: the space, then the key, then the arguments.
    assert_eq!(
        c.key_op(KeyOp::PUT, b"nosuch", b"k", NO_CHECKS, &[attr("x", b"", DataType::String)], NO_MAPS, 0),
        err(ReturnCode::UnknownSpace, -1)
    );
    assert_eq!(c.get(b"nosuch", b"k", 0), err(ReturnCode::UnknownSpace, -1));

    // Only the two accepted calls are outstanding, and only they reach the daemon.
    assert_eq!(c.pending(), 2);
    assert_eq!(next(&mut c).status, ReturnCode::NotFound); // cond_put on a missing object
    assert_eq!(next(&mut c).status, ReturnCode::Success);
    assert_eq!(d.received.load(std::sync::atomic::Ordering::SeqCst), 2);
}

#[test]
fn numeric_keys_are_eight_bytes_and_regions_without_replicas_are_offline() {
    let d = FakeDaemon::start(1);
    let cfg = Configuration {
        cluster: 1,
        version: 1,
        servers: vec![Server { id: 1, addr: d.addr.clone() }],
        spaces: vec![
            space(1, "ik", &[("k", DataType::Int64), ("v", DataType::String)], 8, Some(1)),
            space(2, "off", &[("k", DataType::String), ("v", DataType::String)], 8, None),
        ],
    };
    let coord = FakeCoord::start(cfg);
    let mut c = client(coord.port);
    let wrong = Err(OpError { offset: -1, status: ReturnCode::WrongType });
    assert_eq!(c.get(b"ik", b"abc", 0), wrong);
    assert_eq!(c.key_op(KeyOp::DEL, b"ik", &[0; 9], NO_CHECKS, NO_ATTRS, NO_MAPS, 0), wrong);
    assert!(c.get(b"ik", &7i64.to_le_bytes(), 0).is_ok());
    assert!(c.get(b"ik", b"", 0).is_ok());
    assert_eq!(c.get(b"off", b"x", 0), Err(OpError { offset: -1, status: ReturnCode::Offline }));
    assert_eq!(c.attribute_type(b"ik", b"k"), Ok(DataType::Int64));
    assert_eq!(c.attribute_type(b"ik", b"zz"), Err(ReturnCode::UnknownAttr));
    assert_eq!(c.attribute_type(b"zz", b"k"), Err(ReturnCode::UnknownSpace));
}

#[test]
fn a_closed_connection_fails_its_operations_with_reconfigure_one_by_one() {
    let (coord, d) = cluster();
    let mut c = client(coord.port);
    d.set_mode(DaemonMode::Close);
    let ids: HashSet<i64> = (0..5).map(|i| put(&mut c, format!("k{i}").as_bytes(), &[], i).expect("put")).collect();
    let mut seen = HashSet::new();
    for _ in 0..5 {
        let done = next(&mut c);
        assert_eq!(done.status, ReturnCode::Reconfigure);
        assert!(seen.insert(done.id));
    }
    assert_eq!(seen, ids);
    assert_eq!(c.loop_once(0).err(), Some(ReturnCode::NonePending));

    // The next operation opens a new connection.
    d.set_mode(DaemonMode::Normal);
    put(&mut c, b"k", &[], 9).expect("put");
    assert_eq!(next(&mut c).status, ReturnCode::Success);
    assert_eq!(d.accepted.load(std::sync::atomic::Ordering::SeqCst), 2);
}

#[test]
fn a_malformed_frame_fails_everything_pending_on_that_connection() {
    let (coord, d) = cluster();
    let mut c = client(coord.port);
    d.set_mode(DaemonMode::BadFrame);
    for i in 0..3 {
        put(&mut c, format!("k{i}").as_bytes(), &[], i).expect("put");
    }
    for _ in 0..3 {
        assert_eq!(next(&mut c).status, ReturnCode::Reconfigure);
    }
    assert_eq!(c.loop_once(0).err(), Some(ReturnCode::NonePending));
}

#[test]
fn a_malformed_reply_is_a_server_error_and_drops_the_connection() {
    let (coord, d) = cluster();
    let mut c = client(coord.port);
    d.set_mode(DaemonMode::BadReply);
    for i in 0..4 {
        put(&mut c, format!("k{i}").as_bytes(), &[], i).expect("put");
    }
    let statuses: Vec<ReturnCode> = (0..4).map(|_| next(&mut c).status).collect();
    assert_eq!(statuses.iter().filter(|s| **s == ReturnCode::ServerError).count(), 1, "{statuses:?}");
    assert_eq!(statuses.iter().filter(|s| **s == ReturnCode::Reconfigure).count(), 3, "{statuses:?}");
}

#[test]
fn timeout_leaves_operations_pending_and_a_new_leader_fails_them() {
    let (coord, d) = cluster();
    let mut c = client(coord.port);
    d.set_mode(DaemonMode::Silent);
    let id = put(&mut c, b"k", &[], 1).expect("put");
    assert_eq!(c.loop_once(0).err(), Some(ReturnCode::Timeout));
    let t0 = Instant::now();
    assert_eq!(c.loop_once(30).err(), Some(ReturnCode::Timeout));
    assert!(t0.elapsed() >= Duration::from_millis(30));
    assert_eq!(c.pending(), 1);

    // A new configuration moves every region to server 2: the op can no longer complete.
    let d2 = FakeDaemon::start(KV.len() - 1);
    let mut cfg = coord.config();
    cfg.version += 1;
    cfg.servers.push(Server { id: 2, addr: d2.addr.clone() });
    cfg.spaces = vec![space(1, "kv", KV, 4, Some(2))];
    coord.set_config(cfg);
    let done = next(&mut c);
    assert_eq!((done.id, done.status), (id, ReturnCode::Reconfigure));
    assert_eq!(c.config_version(), 2);
    // New operations go to the new leader.
    put(&mut c, b"k", &[], 2).expect("put");
    assert_eq!(next(&mut c).status, ReturnCode::Success);
    assert_eq!(d2.accepted.load(std::sync::atomic::Ordering::SeqCst), 1);
}

#[test]
fn an_unknown_space_triggers_one_synchronous_refresh() {
    let (coord, _d) = cluster();
    coord.set_push(false);
    let mut c = client(coord.port);
    put(&mut c, b"k", &[], 0).expect("put");
    assert_eq!(next(&mut c).status, ReturnCode::Success);
    let mut cfg = coord.config();
    cfg.version += 1;
    cfg.spaces.push(space(2, "other", KV, 4, Some(1)));
    coord.set_config(cfg);
    // The standing ConfigWait is not answered (push is off): only the refresh finds it.
    c.key_op(KeyOp::PUT, b"other", b"k", NO_CHECKS, NO_ATTRS, NO_MAPS, 0).expect("put to the new space");
    assert_eq!(next(&mut c).status, ReturnCode::Success);
    let fetches = coord.requests().iter().filter(|m| matches!(m, Msg::ConfigWait { have: 0 })).count();
    assert_eq!(fetches, 2);
    assert_eq!(c.get(b"nope", b"k", 0), Err(OpError { offset: -1, status: ReturnCode::UnknownSpace }));
    let fetches = coord.requests().iter().filter(|m| matches!(m, Msg::ConfigWait { have: 0 })).count();
    assert_eq!(fetches, 3);
}

#[test]
fn unreachable_coordinator_and_bad_configuration() {
    let mut c = client(dead_port());
    let t0 = Instant::now();
    assert_eq!(c.get(b"kv", b"k", 0), Err(OpError { offset: -1, status: ReturnCode::CoordFail }));
    assert!(t0.elapsed() < Duration::from_secs(5));
    assert_eq!(c.add_space(b"space x key k"), ReturnCode::CoordFail);
    assert_eq!(c.loop_once(0).err(), Some(ReturnCode::NonePending));

    let (coord, _d) = cluster();
    coord.set_bad_config(true);
    let mut c = client(coord.port);
    assert_eq!(c.get(b"kv", b"k", 0), Err(OpError { offset: -1, status: ReturnCode::BadConfig }));
    coord.set_bad_config(false);
    assert!(c.get(b"kv", b"k", 0).is_ok());
}

#[test]
fn another_cluster_is_refused() {
    let (coord, _d) = cluster();
    let mut c = client(coord.port);
    put(&mut c, b"k", &[], 0).expect("put");
    assert_eq!(next(&mut c).status, ReturnCode::Success);
    let mut cfg = coord.config();
    cfg.cluster += 1;
    cfg.version += 1;
    coord.set_config(cfg);
    // The standing ConfigWait brings it in; operations notice within a few polls.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match put(&mut c, b"k", &[], 0) {
            Err(e) => {
                assert_eq!(e, OpError { offset: -1, status: ReturnCode::ClusterJump });
                break;
            }
            Ok(_) => {
                assert!(Instant::now() < deadline, "cluster jump never noticed");
                let _ = c.loop_once(5);
            }
        }
    }
}

#[test]
fn add_space_checks_locally_then_asks_the_coordinator() {
    let (coord, _d) = cluster();
    let mut c = client(coord.port);
    assert_eq!(c.add_space(b"space bad key"), ReturnCode::BadSpace);
    assert_eq!(c.add_space(b"\xff"), ReturnCode::BadSpace);
    assert!(coord.requests().is_empty(), "nothing sent for a bad description");

    assert_eq!(c.add_space(b"space  x\n  key k\tattributes a"), ReturnCode::Success);
    let reqs = coord.requests();
    assert_eq!(reqs[0], Msg::AddSpace { description: "space x key k attributes a".into() });
    // A successful add refreshes the configuration at once.
    assert_eq!(reqs[1], Msg::ConfigWait { have: 0 });

    coord.set_reply(CoordCode::Duplicate);
    assert_eq!(c.add_space(b"space x key k"), ReturnCode::Duplicate);
    coord.set_reply(CoordCode::NotFound);
    assert_eq!(c.rm_space(b"x"), ReturnCode::NotFound);
    coord.set_reply(CoordCode::Malformed);
    assert_eq!(c.rm_space(b"x"), ReturnCode::Internal);
}

#[test]
fn routing_agrees_with_the_configuration() {
    for (dtype, parts) in [(DataType::String, 64), (DataType::Int64, 7), (DataType::Float, 256)] {
        let sp = space(3, "t", &[("k", dtype), ("v", DataType::String)], parts, Some(1));
        let info = SpaceInfo::from_space(&sp);
        for i in 0..2000u64 {
            let key = match dtype {
                DataType::String => format!("key-{i}").into_bytes(),
                DataType::Int64 => (i as i64 * 7919 - 5_000_000).to_le_bytes().to_vec(),
                _ => ((i as f64) * 1.37 - 900.0).to_le_bytes().to_vec(),
            };
            assert_eq!(info.route(&key).map(|r| r.id), sp.key_region(&key).map(|r| r.id));
        }
    }
}

#[test]
fn replies_beyond_the_read_limit_are_all_delivered() {
    let (coord, _d) = cluster();
    let mut c = client(coord.port);
    let big = vec![b'z'; 200_000];
    put(&mut c, b"big", &[attr("v", &big, DataType::String)], 0).expect("put");
    assert_eq!(next(&mut c).status, ReturnCode::Success);
    // 40 x 200 KB of replies: several times the per-connection read limit.
    for tag in 0..40 {
        c.get(b"kv", b"big", tag).expect("get");
    }
    let mut tags = HashSet::new();
    for _ in 0..40 {
        let d = next(&mut c);
        assert_eq!(d.status, ReturnCode::Success);
        assert_eq!(d.values.expect("values")[0].2, big);
        assert!(tags.insert(d.tag));
    }
    assert_eq!(c.loop_once(0).err(), Some(ReturnCode::NonePending));
}
