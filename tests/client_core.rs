//! The client library's own rules (its safe Rust API), against real coordinator and daemon
//! processes: what a get hands back, the completion rules (every id exactly once, TIMEOUT
//! leaves operations pending, RECONFIGURE when a connection is lost or a configuration takes
//! an operation's region away), validation before anything is sent, and how the client
//! follows the coordinator (a space added by another client, an unreachable coordinator, a
//! new cluster behind the same address).
//!
//! tests/client_e2e.rs covers the operations themselves; tests/c_abi.rs the C functions;
//! tests/client_bad_input.rs what the client does with bytes no real server sends.

mod common;

use std::collections::HashSet;
use std::time::{Duration, Instant};

use common::{wait_for, Cluster};
use hyperclient::client::{AttrInput, Attribute, AttributeCheck, KeyOp, MapAttribute, OpError};
use hyperclient::{Client, DataType, Predicate, ReturnCode};

type C = Client<u32>;

const NO_CHECKS: &[AttributeCheck<'static>] = &[];
const NO_ATTRS: &[Attribute<'static>] = &[];
const NO_MAPS: &[MapAttribute<'static>] = &[];
/// Upper bound on any single wait for a completion (they normally take microseconds).
const WAIT_MS: i32 = 30_000;
const DEADLINE: Duration = Duration::from_secs(30);

/// The space most tests use: one attribute of each kind.
const KV: &str = "space kv key k attributes string v, int n, set(string) s, float f, list(int) l, \
                  map(string, int) m, map(string, string) ms create 4 partitions tolerate 0 failures";

fn client(cl: &Cluster) -> C {
    Client::new("127.0.0.1", cl.coord_port).expect("client")
}

fn attr<'a>(name: &'a str, value: &'a [u8], datatype: DataType) -> Attribute<'a> {
    Attribute { name: name.as_bytes(), value, datatype }
}

fn put(c: &mut C, key: &[u8], attrs: &[Attribute<'_>], tag: u32) -> Result<i64, OpError> {
    c.key_op(KeyOp::PUT, b"kv", key, NO_CHECKS, attrs, NO_MAPS, tag)
}

fn whole(status: ReturnCode) -> Result<i64, OpError> {
    Err(OpError { offset: -1, status })
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

/// The next completion (bounded wait).
fn next(c: &mut C) -> Done {
    let ev = c.loop_once(WAIT_MS).expect("loop_once");
    Done {
        id: ev.id,
        tag: ev.user,
        status: ev.status,
        values: ev.values.map(|v| v.iter().map(|(n, t, x)| (n.to_vec(), t, x.to_vec())).collect()),
    }
}

/// Runs one put synchronously: its status.
fn put_sync(c: &mut C, key: &[u8], attrs: &[Attribute<'_>]) -> ReturnCode {
    let id = put(c, key, attrs, 0).expect("put accepted");
    let d = next(c);
    assert_eq!(d.id, id);
    d.status
}

/// Runs one get synchronously: its status and values.
fn get_sync(c: &mut C, space: &[u8], key: &[u8]) -> (ReturnCode, Option<Owned>) {
    let id = c.get(space, key, 0).expect("get accepted");
    let d = next(c);
    assert_eq!(d.id, id);
    (d.status, d.values)
}

/// Established TCP connections from this process to 127.0.0.1:`port`: the sockets among our
/// descriptors whose remote end is that port (read from /proc).
fn connections_to(port: u16) -> usize {
    let mut ours = HashSet::new();
    for entry in std::fs::read_dir("/proc/self/fd").expect("/proc/self/fd").flatten() {
        if let Ok(target) = std::fs::read_link(entry.path()) {
            let target = target.to_string_lossy().into_owned();
            if let Some(inode) = target.strip_prefix("socket:[").and_then(|t| t.strip_suffix(']')) {
                ours.insert(inode.to_string());
            }
        }
    }
    let table = std::fs::read_to_string("/proc/self/net/tcp").expect("/proc/self/net/tcp");
    let remote = format!("0100007F:{port:04X}");
    table
        .lines()
        .skip(1)
        .filter(|line| {
            let f: Vec<&str> = line.split_whitespace().collect();
            // sl local rem st tx:rx tr:when retrnsmt uid timeout inode; 01 = ESTABLISHED.
            f.len() > 9 && f[2] == remote && f[3] == "01" && ours.contains(f[9])
        })
        .count()
}

#[test]
fn get_returns_every_non_key_attribute_in_schema_order() {
    let cl = Cluster::start("core-get", 1);
    cl.add_space(KV);
    let mut c = client(&cl);
    let five = 5i64.to_le_bytes();
    let id = put(&mut c, b"k1", &[attr("v", b"hello", DataType::String), attr("n", &five, DataType::Int64)], 1)
        .expect("put");
    assert!(id > 0);
    let d = next(&mut c);
    assert_eq!((d.id, d.tag, d.status), (id, 1, ReturnCode::Success));
    assert!(d.values.is_none(), "a write carries no values");

    let id = c.get(b"kv", b"k1", 2).expect("get");
    let d = next(&mut c);
    assert_eq!((d.id, d.tag, d.status), (id, 2, ReturnCode::Success));
    // Attributes never set come back empty (0 bytes), numbers included.
    let expect: Owned = vec![
        (b"v".to_vec(), DataType::String, b"hello".to_vec()),
        (b"n".to_vec(), DataType::Int64, five.to_vec()),
        (b"s".to_vec(), DataType::SetString, vec![]),
        (b"f".to_vec(), DataType::Float, vec![]),
        (b"l".to_vec(), DataType::ListInt64, vec![]),
        (b"m".to_vec(), DataType::MapStringInt64, vec![]),
        (b"ms".to_vec(), DataType::MapStringString, vec![]),
    ];
    assert_eq!(d.values.expect("values"), expect);

    c.get(b"kv", b"missing", 3).expect("get");
    let d = next(&mut c);
    assert_eq!((d.tag, d.status), (3, ReturnCode::NotFound));
    assert!(d.values.is_none());
    assert_eq!(c.loop_once(0).err(), Some(ReturnCode::NonePending));
}

#[test]
fn thousands_outstanding_each_come_back_exactly_once_over_one_connection() {
    let cl = Cluster::start("core-many", 1);
    cl.add_space(KV);
    let mut c = client(&cl);
    let value = vec![b'x'; 200];
    let mut ids = Vec::new();
    // 3000 x ~250 bytes passes the flush threshold, so some batches go out from the calls.
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
        assert_eq!(ids[done.tag as usize], done.id, "the id comes back with its own tag");
        assert!(seen.insert(done.id), "id {} returned twice", done.id);
    }
    assert_eq!(c.loop_once(0).err(), Some(ReturnCode::NonePending));
    assert_eq!(connections_to(cl.daemon_ports[0]), 1, "one connection per daemon");
    let (st, values) = get_sync(&mut c, b"kv", b"key2999");
    assert_eq!(st, ReturnCode::Success);
    assert_eq!(values.unwrap()[0].2, value);
}

#[test]
fn validation_failures_name_the_argument_and_send_nothing() {
    let cl = Cluster::start("core-validate", 1);
    cl.add_space(KV);
    let mut c = client(&cl);
    // A client refuses at call time what the configuration it holds refuses: get one first
    // (a fresh client's first call waits for it in loop instead).
    assert_eq!(put_sync(&mut c, b"warm", &[]), ReturnCode::Success);
    let n8 = 1i64.to_le_bytes();
    let err = |status, offset| Err(OpError { offset, status });

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

    // Order: the space, then the key, then the arguments.
    assert_eq!(
        c.key_op(KeyOp::PUT, b"nosuch", b"k", NO_CHECKS, &[attr("x", b"", DataType::String)], NO_MAPS, 0),
        whole(ReturnCode::UnknownSpace)
    );
    assert_eq!(c.get(b"nosuch", b"k", 0), whole(ReturnCode::UnknownSpace));
    assert_eq!(c.pending(), 0);
    assert_eq!(c.loop_once(0).err(), Some(ReturnCode::NonePending));
    // None of the refused writes reached the daemon: the object does not exist.
    assert_eq!(get_sync(&mut c, b"kv", b"k"), (ReturnCode::NotFound, None));

    // The key may be checked (cond_put on a missing object: NOTFOUND from the daemon).
    let key_check =
        AttributeCheck { name: b"k", value: b"k", datatype: DataType::String, predicate: Predicate::Equals };
    let cond_id = cond(&mut c, &[key_check], &[attr("v", b"b", DataType::String)]).expect("accepted");
    // Empty GENERIC values take the attribute's type.
    let put_id = put(&mut c, b"k", &[attr("s", b"", DataType::SetGeneric), attr("n", b"", DataType::Generic)], 0)
        .expect("accepted");
    assert_eq!(c.pending(), 2);
    let mut outcomes = [next(&mut c), next(&mut c)];
    outcomes.sort_by_key(|d| d.id);
    assert_eq!(
        outcomes.iter().map(|d| (d.id, d.status)).collect::<Vec<_>>(),
        [(cond_id, ReturnCode::NotFound), (put_id, ReturnCode::Success)]
    );
    assert_eq!(c.loop_once(0).err(), Some(ReturnCode::NonePending));
}

#[test]
fn numeric_keys_are_eight_bytes_and_regions_without_replicas_are_offline_until_a_daemon_joins() {
    let mut cl = Cluster::coordinator_only("core-offline");
    cl.add_space("space ik key int k attributes v create 8 partitions tolerate 0 failures");
    let mut c = client(&cl);
    let seven = 7i64.to_le_bytes();
    assert_eq!(c.attribute_type(b"ik", b"k"), Ok(DataType::Int64));
    // No daemon yet: no region has a replica. The key is checked first.
    assert_eq!(c.get(b"ik", b"abc", 0), whole(ReturnCode::WrongType));
    assert_eq!(c.key_op(KeyOp::DEL, b"ik", &[0; 9], NO_CHECKS, NO_ATTRS, NO_MAPS, 0), whole(ReturnCode::WrongType));
    assert_eq!(c.get(b"ik", &seven, 0), whole(ReturnCode::Offline));
    assert_eq!(c.get(b"ik", b"", 0), whole(ReturnCode::Offline), "an empty number is a valid key");
    assert_eq!(c.pending(), 0);
    assert_eq!(c.attribute_type(b"ik", b"k"), Ok(DataType::Int64));
    assert_eq!(c.attribute_type(b"ik", b"v"), Ok(DataType::String));
    assert_eq!(c.attribute_type(b"ik", b"zz"), Err(ReturnCode::UnknownAttr));
    assert_eq!(c.attribute_type(b"zz", b"k"), Err(ReturnCode::UnknownSpace));

    // A daemon joins and gets every region; the client learns it from the coordinator while
    // the application keeps retrying.
    cl.add_daemon();
    cl.wait_servers(1);
    let id = wait_for("the client to see the new replicas", DEADLINE, || match c.get(b"ik", &seven, 0) {
        Ok(id) => Some(id),
        Err(e) => {
            assert_eq!(e, OpError { offset: -1, status: ReturnCode::Offline });
            None
        }
    });
    let d = next(&mut c);
    assert_eq!((d.id, d.status), (id, ReturnCode::NotFound));
    let id = c
        .key_op(KeyOp::PUT, b"ik", &seven, NO_CHECKS, &[attr("v", b"seven", DataType::String)], NO_MAPS, 0)
        .expect("put");
    let d = next(&mut c);
    assert_eq!((d.id, d.status), (id, ReturnCode::Success));
    let (st, values) = get_sync(&mut c, b"ik", &seven);
    assert_eq!(st, ReturnCode::Success);
    assert_eq!(values.unwrap()[0].2, b"seven");
}

#[test]
fn a_lost_connection_fails_its_outstanding_operations_with_reconfigure_one_by_one() {
    let mut cl = Cluster::start("core-lost", 1);
    cl.add_space(KV);
    let mut c = client(&cl);
    assert_eq!(put_sync(&mut c, b"k", &[]), ReturnCode::Success);

    // The daemon stops answering; the requests are sent and stay outstanding.
    cl.pause_daemon(0);
    let ids: HashSet<i64> = (0..5).map(|i| put(&mut c, format!("k{i}").as_bytes(), &[], i).expect("put")).collect();
    assert_eq!(c.loop_once(50).err(), Some(ReturnCode::Timeout));
    assert_eq!(c.pending(), 5);

    // Its process dies: the connection closes under five operations.
    cl.kill_daemon(0);
    let mut seen = HashSet::new();
    for _ in 0..5 {
        let done = next(&mut c);
        assert_eq!(done.status, ReturnCode::Reconfigure);
        assert!(seen.insert(done.id), "id {} returned twice", done.id);
    }
    assert_eq!(seen, ids);
    assert_eq!(c.loop_once(0).err(), Some(ReturnCode::NonePending));

    // Restarted, it serves again over a new connection (the application retries).
    cl.start_daemon(0);
    wait_for("the daemon to serve again", DEADLINE, || match put(&mut c, b"k", &[], 9) {
        Ok(id) => {
            let d = next(&mut c);
            assert_eq!(d.id, id);
            match d.status {
                ReturnCode::Success => Some(()),
                st => {
                    assert_eq!(st, ReturnCode::Reconfigure);
                    None
                }
            }
        }
        Err(e) => {
            assert_eq!(e, OpError { offset: -1, status: ReturnCode::Reconfigure });
            None
        }
    });
    assert_eq!(connections_to(cl.daemon_ports[0]), 1);
}

#[test]
fn timeout_leaves_operations_pending_until_a_new_configuration_fails_them() {
    let mut cl = Cluster::start("core-timeout", 1);
    cl.add_space(KV);
    let mut c = client(&cl);
    assert_eq!(put_sync(&mut c, b"k", &[attr("v", b"old", DataType::String)]), ReturnCode::Success);
    let version = c.config_version();

    cl.pause_daemon(0);
    let id = put(&mut c, b"k", &[attr("v", b"lost", DataType::String)], 1).expect("put");
    assert_eq!(c.loop_once(0).err(), Some(ReturnCode::Timeout));
    let t0 = Instant::now();
    assert_eq!(c.loop_once(30).err(), Some(ReturnCode::Timeout));
    assert!(t0.elapsed() >= Duration::from_millis(30), "returned after {:?}", t0.elapsed());
    assert_eq!(c.pending(), 1, "a timeout fails nothing");

    // Another client removes the space: the operation's region no longer exists.
    let mut other = client(&cl);
    assert_eq!(other.rm_space(b"kv"), ReturnCode::Success);
    let done = next(&mut c);
    assert_eq!((done.id, done.status), (id, ReturnCode::Reconfigure));
    assert!(c.config_version() > version);
    assert_eq!(c.loop_once(0).err(), Some(ReturnCode::NonePending));

    // The daemon wakes up and answers the old request late: the answer is dropped, and the
    // same connection serves the space created again.
    cl.resume_daemon(0);
    assert_eq!(other.add_space(KV.as_bytes()), ReturnCode::Success);
    assert_eq!(put_sync(&mut c, b"k", &[attr("v", b"new", DataType::String)]), ReturnCode::Success);
    let (st, values) = get_sync(&mut c, b"kv", b"k");
    assert_eq!(st, ReturnCode::Success);
    assert_eq!(values.unwrap()[0].2, b"new");
    assert_eq!(c.loop_once(0).err(), Some(ReturnCode::NonePending));
    assert_eq!(connections_to(cl.daemon_ports[0]), 1);
}

#[test]
fn a_space_added_by_another_client_is_found_by_the_next_call() {
    let cl = Cluster::start("core-unknown", 1);
    cl.add_space(KV);
    let mut c = client(&cl);
    assert_eq!(put_sync(&mut c, b"k", &[]), ReturnCode::Success);
    let version = c.config_version();

    let mut other = client(&cl);
    let desc = b"space other key k attributes v create 4 partitions tolerate 0 failures";
    assert_eq!(other.add_space(desc), ReturnCode::Success);
    // No loop in between: the call itself asks the coordinator about the name it lacks.
    let id = c
        .key_op(KeyOp::PUT, b"other", b"k", NO_CHECKS, &[attr("v", b"1", DataType::String)], NO_MAPS, 0)
        .expect("the new space is found");
    assert!(c.config_version() > version);
    let d = next(&mut c);
    assert_eq!((d.id, d.status), (id, ReturnCode::Success));
    let (st, values) = get_sync(&mut c, b"other", b"k");
    assert_eq!(st, ReturnCode::Success);
    assert_eq!(values.unwrap()[0].2, b"1");

    // A name the coordinator does not know either: the link to the coordinator is up and
    // current, so UNKNOWNSPACE at once.
    assert_eq!(c.get(b"nope", b"k", 0), whole(ReturnCode::UnknownSpace));
    // The other space still works.
    assert_eq!(put_sync(&mut c, b"k2", &[]), ReturnCode::Success);
}

#[test]
fn an_unreachable_coordinator_is_coordfail_and_a_cached_configuration_keeps_working() {
    let mut cl = Cluster::start("core-coordfail", 1);
    cl.add_space(KV);
    let mut cached = client(&cl);
    assert_eq!(put_sync(&mut cached, b"k", &[attr("v", b"1", DataType::String)]), ReturnCode::Success);

    cl.stop_coordinator();
    let mut c = client(&cl);
    let t0 = Instant::now();
    let id = c.get(b"kv", b"k", 0).expect("accepted");
    assert!(t0.elapsed() < Duration::from_millis(500), "the call blocked");
    let d = next(&mut c);
    assert_eq!((d.id, d.status), (id, ReturnCode::CoordFail));
    assert!(t0.elapsed() < Duration::from_secs(5), "took {:?}", t0.elapsed());
    assert_eq!(c.attribute_type(b"kv", b"v"), Err(ReturnCode::CoordFail));
    assert_eq!(c.add_space(b"space x key k"), ReturnCode::CoordFail);
    assert_eq!(c.rm_space(b"kv"), ReturnCode::CoordFail);
    // A description that does not parse is refused before anyone is asked.
    assert_eq!(c.add_space(b"space bad key"), ReturnCode::BadSpace);
    assert_eq!(c.add_space(b"\xff"), ReturnCode::BadSpace);
    assert_eq!(c.loop_once(0).err(), Some(ReturnCode::NonePending));

    // A client that has a configuration talks to the daemons without the coordinator.
    assert_eq!(put_sync(&mut cached, b"k", &[attr("v", b"2", DataType::String)]), ReturnCode::Success);
    let (st, values) = get_sync(&mut cached, b"kv", b"k");
    assert_eq!(st, ReturnCode::Success);
    assert_eq!(values.unwrap()[0].2, b"2");

    // The coordinator comes back: the failed client fetches the configuration at its next call.
    cl.start_coordinator();
    let (st, values) = get_sync(&mut c, b"kv", b"k");
    assert_eq!(st, ReturnCode::Success);
    assert_eq!(values.unwrap()[0].2, b"2");
}

#[test]
fn a_new_cluster_behind_the_coordinators_address_is_cluster_jump() {
    let mut cl = Cluster::start("core-jump", 1);
    cl.add_space(KV);
    let mut following = client(&cl);
    assert_eq!(put_sync(&mut following, b"k", &[]), ReturnCode::Success);
    let mut asking = client(&cl);
    assert_eq!(put_sync(&mut asking, b"k", &[]), ReturnCode::Success);
    let old = cl.config().unwrap().cluster;

    // The coordinator restarts on the same address with an empty data directory.
    cl.stop_coordinator();
    std::fs::remove_dir_all(cl.coord_dir()).unwrap();
    cl.start_coordinator();
    assert_ne!(cl.config().unwrap().cluster, old);

    // A call that asks the coordinator notices at once, and from then on the client refuses
    // everything.
    let id = asking.get(b"nope", b"k", 0).expect("accepted");
    let d = next(&mut asking);
    assert_eq!((d.id, d.status), (id, ReturnCode::ClusterJump));
    assert_eq!(asking.get(b"kv", b"k", 0), whole(ReturnCode::ClusterJump));
    assert_eq!(put(&mut asking, b"k", &[], 0), whole(ReturnCode::ClusterJump));
    assert_eq!(asking.attribute_type(b"kv", b"v"), Err(ReturnCode::ClusterJump));

    // A client following the configuration notices once the new cluster's version passes the
    // one it holds.
    let have = following.config_version();
    let mut n = 0;
    while cl.config().unwrap().version <= have {
        cl.add_space(&format!("space s{n} key k create 1 partition tolerate 0 failures"));
        n += 1;
    }
    wait_for("the client to notice the new cluster", DEADLINE, || match put(&mut following, b"k", &[], 0) {
        Err(e) if e.status == ReturnCode::ClusterJump => {
            assert_eq!(e.offset, -1);
            Some(())
        }
        // The old cluster's daemon may answer meanwhile, or be gone.
        Err(e) => {
            assert_eq!(e.status, ReturnCode::Reconfigure);
            None
        }
        Ok(_) => {
            let _ = next(&mut following);
            None
        }
    });
    assert_eq!(following.get(b"kv", b"k", 0), whole(ReturnCode::ClusterJump));
}

#[test]
fn add_space_joins_the_words_and_the_space_is_usable_at_once() {
    let cl = Cluster::start("core-addspace", 1);
    let mut c = client(&cl);
    assert_eq!(c.add_space(b"space  x\n  key k\tattributes a, int b"), ReturnCode::Success);
    // add_space refreshed the configuration: no other call needed.
    assert_eq!(c.attribute_type(b"x", b"b"), Ok(DataType::Int64));
    let cfg = cl.config().unwrap();
    let names: Vec<&str> = cfg.space(b"x").unwrap().attrs.iter().map(|a| a.name.as_str()).collect();
    assert_eq!(names, ["k", "a", "b"]);
    let id =
        c.key_op(KeyOp::PUT, b"x", b"1", NO_CHECKS, &[attr("a", b"z", DataType::String)], NO_MAPS, 0).expect("put");
    let d = next(&mut c);
    assert_eq!((d.id, d.status), (id, ReturnCode::Success));

    assert_eq!(c.add_space(b"space x key k"), ReturnCode::Duplicate);
    assert_eq!(c.rm_space(b"x"), ReturnCode::Success);
    // rm_space refreshed it too.
    assert_eq!(c.attribute_type(b"x", b"b"), Err(ReturnCode::UnknownSpace));
    assert_eq!(c.rm_space(b"x"), ReturnCode::NotFound);
    assert_eq!(c.rm_space(b"\xff"), ReturnCode::NotFound);
}

#[test]
fn replies_larger_than_the_read_buffer_are_all_delivered() {
    let cl = Cluster::start("core-big", 1);
    cl.add_space(KV);
    let mut c = client(&cl);
    let big = vec![b'z'; 200_000];
    assert_eq!(put_sync(&mut c, b"big", &[attr("v", &big, DataType::String)]), ReturnCode::Success);
    // 40 x 200 KB of replies: several times the client's per-connection read limit (1 MB).
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

    // One reply three times that limit.
    let huge: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8).collect();
    assert_eq!(put_sync(&mut c, b"huge", &[attr("v", &huge, DataType::String)]), ReturnCode::Success);
    let (st, values) = get_sync(&mut c, b"kv", b"huge");
    assert_eq!(st, ReturnCode::Success);
    assert!(values.unwrap()[0].2 == huge, "the 3 MB value came back changed");
}
