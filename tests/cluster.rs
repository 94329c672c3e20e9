//! The cluster end to end, over real TCP with real processes: value-dependent chaining puts
//! every acknowledged write on every replica of its chain; data and spaces survive restarts
//! of daemons and of the coordinator; the admin tools report errors by name.

mod common;

use common::*;
use hyperdex_core::config::Configuration;
use hyperdex_core::ops::{Func, FuncOp};
use hyperdex_core::proto::{flags, Msg};
use hyperdex_core::{DataType, ReturnCode};
use hyperdex_server::daemon::storage::{storage_key, Store};
use std::collections::HashMap;
use std::time::Duration;

/// Sends a key op straight to the key's point leader, as the client library does.
fn atomic(cfg: &Configuration, space: &str, key: &[u8], fl: u8, funcs: Vec<Func>) -> Option<ReturnCode> {
    let sp = cfg.space(space.as_bytes()).unwrap();
    let r = sp.key_region(key).unwrap();
    let addr = cfg.server_addr(r.replicas[0].server).unwrap();
    let port: u16 = addr.rsplit(':').next().unwrap().parse().unwrap();
    let m = Msg::Atomic { version: cfg.version, region: r.id, key: key.to_vec(), flags: fl, checks: vec![], funcs };
    match RawConn::connect(port)?.call(&m)? {
        Msg::AtomicReply { rc } => Some(rc),
        other => panic!("unexpected reply {other:?}"),
    }
}

fn get(cfg: &Configuration, space: &str, key: &[u8]) -> Option<(ReturnCode, Vec<Vec<u8>>)> {
    let sp = cfg.space(space.as_bytes()).unwrap();
    let r = sp.key_region(key).unwrap();
    let addr = cfg.server_addr(r.replicas[0].server).unwrap();
    let port: u16 = addr.rsplit(':').next().unwrap().parse().unwrap();
    match RawConn::connect(port)?.call(&Msg::Get { version: cfg.version, region: r.id, key: key.to_vec() })? {
        Msg::GetReply { rc, values } => Some((rc, values.to_vecs())),
        other => panic!("unexpected reply {other:?}"),
    }
}

fn set_funcs(name: &[u8], n: i64) -> Vec<Func> {
    vec![
        Func { attr: 1, op: FuncOp::Set, arg_type: DataType::String, arg: name.to_vec(), map_key: None },
        Func { attr: 2, op: FuncOp::Set, arg_type: DataType::Int64, arg: n.to_le_bytes().to_vec(), map_key: None },
    ]
}

/// Which server holds which object in which region: every replica of the key region, and of
/// the object's region in the `n` subspace.
fn expected_placements(cfg: &Configuration, key: &[u8], vals: &[Vec<u8>]) -> Vec<(u64, u64)> {
    let sp = cfg.space(b"rep").unwrap();
    let mut out = Vec::new();
    let kr = sp.key_region(key).unwrap();
    out.extend(kr.replicas.iter().map(|p| (kr.id, p.server)));
    let r1 = sp.region_of(1, &|a| if a == 0 { key } else { vals[a - 1].as_slice() }).unwrap();
    out.extend(r1.replicas.iter().map(|p| (r1.id, p.server)));
    out
}

#[test]
fn acknowledged_write_is_on_every_replica_and_survives_restarting_every_daemon() {
    let mut cl = Cluster::start("chain", 3);
    cl.add_space("space rep key k attributes name, int n subspace n create 4 partitions tolerate 2 failures");
    let cfg = cl.config().unwrap();
    let sp = cfg.space(b"rep").unwrap();
    for ss in &sp.subspaces {
        for r in &ss.regions {
            assert_eq!(r.replicas.len(), 3, "every region needs f+1 = 3 replicas");
        }
    }
    let mut objects: HashMap<Vec<u8>, Vec<Vec<u8>>> = HashMap::new();
    for i in 0..40i64 {
        let key = format!("key{i}").into_bytes();
        assert_eq!(atomic(&cfg, "rep", &key, 0, set_funcs(b"first", i)), Some(ReturnCode::Success));
        // Move every other object to another region of the `n` subspace.
        let n = if i % 2 == 0 { i.wrapping_mul(0x1234_5678_9abc) } else { i };
        assert_eq!(atomic(&cfg, "rep", &key, 0, set_funcs(b"second", n)), Some(ReturnCode::Success));
        objects.insert(key, vec![b"second".to_vec(), n.to_le_bytes().to_vec()]);
    }
    // Deleted objects must vanish everywhere.
    assert_eq!(atomic(&cfg, "rep", b"gone", 0, set_funcs(b"x", 1)), Some(ReturnCode::Success));
    assert_eq!(
        atomic(&cfg, "rep", b"gone", flags::FAIL_IF_NOT_FOUND | flags::ERASE, vec![]),
        Some(ReturnCode::Success)
    );

    // Crash every daemon (no clean shutdown), then read each one's storage directly.
    let ids: Vec<u64> = (0..3).map(|i| cl.server_id(i)).collect();
    for i in 0..3 {
        cl.kill_daemon(i);
    }
    for (i, id) in ids.iter().enumerate() {
        let store = open_store(&cl.daemon_dir(i));
        for (key, vals) in &objects {
            let places = expected_placements(&cfg, key, vals);
            for (region, server) in &places {
                if server == id {
                    let rec = store.get_live(&storage_key(*region, key)).unwrap();
                    let rec = rec.unwrap_or_else(|| panic!("server {id} lacks {key:?} in region {region}"));
                    assert_eq!(&rec.values, vals);
                }
            }
            // The subspace-1 region the object moved out of holds no copy.
            let sp = cfg.space(b"rep").unwrap();
            for r in &sp.subspaces[1].regions {
                if !places.iter().any(|(rid, _)| *rid == r.id) {
                    assert!(
                        store.get_live(&storage_key(r.id, key)).unwrap().is_none(),
                        "stale copy of {key:?} in {}",
                        r.id
                    );
                }
            }
        }
        for ss in &cfg.space(b"rep").unwrap().subspaces {
            for r in &ss.regions {
                assert!(store.get_live(&storage_key(r.id, b"gone")).unwrap().is_none());
            }
        }
    }

    for i in 0..3 {
        cl.start_daemon(i);
    }
    for (key, vals) in &objects {
        // The chains were repaired as the daemons died (the last one of each region kept
        // it): ask the current configuration's heads.
        let got =
            wait_for("a restarted daemon to serve", Duration::from_secs(20), || match get(&cl.config()?, "rep", key) {
                Some((ReturnCode::Success, v)) => Some(v),
                _ => None,
            });
        assert_eq!(&got, vals);
    }
    assert_eq!(get(&cl.config().unwrap(), "rep", b"gone").unwrap().0, ReturnCode::NotFound);
}

#[test]
fn coordinator_restart_keeps_spaces_and_servers() {
    let mut cl = Cluster::start("coordrestart", 1);
    cl.add_space("space kept key k attributes int v tolerate 0 failures");
    let before = cl.config().unwrap();
    cl.stop_coordinator();
    cl.start_coordinator();
    let after = cl.config().unwrap();
    assert_eq!(after.cluster, before.cluster);
    assert!(after.version >= before.version);
    assert_eq!(after.spaces, before.spaces);
    assert_eq!(after.servers, before.servers);
    // The daemon reconnects on its own and keeps serving.
    let v = 5i64.to_le_bytes().to_vec();
    let f = vec![Func { attr: 1, op: FuncOp::Set, arg_type: DataType::Int64, arg: v.clone(), map_key: None }];
    let rc = wait_for("a put after the coordinator restart", Duration::from_secs(20), || {
        atomic(&after, "kept", b"a", 0, f.clone()).filter(|rc| *rc == ReturnCode::Success)
    });
    assert_eq!(rc, ReturnCode::Success);
    assert_eq!(get(&after, "kept", b"a").unwrap(), (ReturnCode::Success, vec![v]));
}

#[test]
fn space_added_before_any_daemon_gets_replicas_as_daemons_join() {
    let mut cl = Cluster::coordinator_only("early");
    cl.add_space("space early key k attributes v create 8 partitions tolerate 1 failure");
    let cfg = cl.config().unwrap();
    assert!(cfg.space(b"early").unwrap().subspaces[0].regions.iter().all(|r| r.replicas.is_empty()));
    cl.add_daemon();
    let cfg = cl.wait_servers(1);
    let f = vec![Func { attr: 1, op: FuncOp::Set, arg_type: DataType::String, arg: b"v1".to_vec(), map_key: None }];
    let rc =
        wait_for("the first daemon to serve", Duration::from_secs(20), || atomic(&cfg, "early", b"x", 0, f.clone()));
    assert_eq!(rc, ReturnCode::Success);
    cl.add_daemon();
    cl.wait_servers(2);
    // The newcomer joins every region by state transfer, then is part of every chain.
    let cfg = wait_for("the second replicas", Duration::from_secs(20), || cl.config().filter(|c| c.stable()));
    for r in &cfg.space(b"early").unwrap().subspaces[0].regions {
        assert_eq!(r.replicas.len(), 2);
    }
    // The head still serves the object; the newcomer must have received it by state
    // transfer, which is checked in its store below (with the daemon stopped).
    let r = cfg.space(b"early").unwrap().key_region(b"x").unwrap().clone();
    let got = wait_for("the object from the head", Duration::from_secs(20), || match get(&cfg, "early", b"x") {
        Some((ReturnCode::Success, v)) => Some(v),
        _ => None,
    });
    assert_eq!(got, vec![b"v1".to_vec()]);
    let second = cl.server_id(1);
    assert!(r.replicas.iter().any(|p| p.server == second));
    // The configuration is stable: the transfer completed (and was acknowledged once stored).
    cl.stop_daemon(1);
    let st = open_store(&cl.daemon_dir(1));
    assert!(st.get_live(&storage_key(r.id, b"x")).unwrap().is_some());
}

#[test]
fn admin_tools_report_errors_by_name() {
    let cl = Cluster::start("tools", 1);
    let port = cl.coord_port.to_string();
    let h = ["-h", "127.0.0.1", "-p", port.as_str()];
    let add = |desc: &str| cl.hyperdex(&[&["add-space"][..], &h[..]].concat(), desc);
    assert_eq!(add("space t\nkey k\nattributes\n  int a,\n  string b\n").0, 0);
    let (code, _, err) = add("space t key k");
    assert_eq!(code, 1);
    assert!(err.contains("could not add space: DUPLICATE"), "{err}");
    let (code, _, err) = add("space bad key");
    assert_eq!(code, 1);
    assert!(err.contains("could not add space: BADSPACE"), "{err}");
    let (code, out, _) = cl.hyperdex(&[&["show-config"][..], &h[..]].concat(), "");
    assert_eq!(code, 0);
    assert!(out.lines().any(|l| l.starts_with("server id=server(") && l.contains("address=127.0.0.1:")), "{out}");
    assert!(out.contains("space id=space(") && out.contains("name=t"), "{out}");
    assert!(out.contains("attribute name=a type=HYPERDATATYPE_INT64"), "{out}");
    let (code, _, err) = cl.hyperdex(&[&["rm-space"][..], &h[..], &["t", "nosuch"][..]].concat(), "");
    assert_eq!(code, 1);
    assert!(err.contains("could not rm space nosuch: NOTFOUND"), "{err}");
    assert!(!err.contains("could not rm space t:"), "{err}");
    assert!(cl.config().unwrap().space(b"t").is_none());
    let (code, _, err) = cl.hyperdex(&["add-space", "-h", "127.0.0.1", "-p", "1"], "space x key k");
    assert_eq!(code, 1);
    assert!(err.contains("COORDFAIL"), "{err}");
}

#[test]
fn a_write_through_a_dead_replica_completes_on_the_repaired_chain() {
    let mut cl = Cluster::start("deadhop", 3);
    cl.add_space("space dh key k attributes v create 4 partitions tolerate 2 failures");
    let cfg = cl.config().unwrap();
    let f =
        |v: &[u8]| vec![Func { attr: 1, op: FuncOp::Set, arg_type: DataType::String, arg: v.to_vec(), map_key: None }];
    assert_eq!(atomic(&cfg, "dh", b"before", 0, f(b"v")), Some(ReturnCode::Success));
    // Kill the tail of the key's chain; the head and the middle stay up.
    let r = cfg.space(b"dh").unwrap().key_region(b"k1").unwrap().clone();
    let tail = r.replicas[2].server;
    let victim = (0..3).find(|i| cl.server_id(*i) == tail).unwrap();
    cl.kill_daemon(victim);
    // A write sent now waits for the repair (its hop to the dead tail is sent again along
    // the new chain) or fails with RECONFIGURE; it never hangs.
    let rc = atomic(&cfg, "dh", b"k1", 0, f(b"v1"));
    assert!(matches!(rc, Some(ReturnCode::Success | ReturnCode::Reconfigure)), "{rc:?}");
    let cfg2 = wait_for("the repair", Duration::from_secs(10), || cl.config().filter(|c| !c.available(tail)));
    let chain: Vec<u64> =
        cfg2.space(b"dh").unwrap().key_region(b"k1").unwrap().replicas.iter().map(|p| p.server).collect();
    assert_eq!(chain, vec![r.replicas[0].server, r.replicas[1].server], "the survivors keep their order");
    assert_eq!(atomic(&cfg2, "dh", b"k1", 0, f(b"v2")), Some(ReturnCode::Success));
    assert_eq!(get(&cfg2, "dh", b"k1").unwrap(), (ReturnCode::Success, vec![b"v2".to_vec()]));
    // Back with its data: it rejoins (by a transfer) and the region has f+1 replicas again.
    cl.start_daemon(victim);
    let cfg3 = wait_for("the region rebuilt", Duration::from_secs(30), || {
        cl.config().filter(|c| c.stable() && c.available(tail))
    });
    assert_eq!(cfg3.space(b"dh").unwrap().key_region(b"k1").unwrap().replicas.len(), 3);
    assert_eq!(get(&cfg3, "dh", b"k1").unwrap(), (ReturnCode::Success, vec![b"v2".to_vec()]));
}

#[test]
fn a_background_server_reports_start_up_failures_and_success() {
    let cl = Cluster::start("background", 0);
    let dir = temp_dir("bgcoord");
    let port = cl.coord_port.to_string();
    // The port is taken by the cluster's coordinator: the backgrounded one must say so.
    let (code, _, err) = cl.hyperdex(&["coordinator", "-l", "127.0.0.1", "-p", &port, "-D", dir.to_str().unwrap()], "");
    assert_eq!(code, 1);
    assert!(err.contains("Address already in use"), "{err}");
    // On a free port it detaches, and the coordinator is serving when the command returns.
    let free = free_port();
    let (code, _, err) =
        cl.hyperdex(&["coordinator", "-l", "127.0.0.1", "-p", &free.to_string(), "-D", dir.to_str().unwrap()], "");
    assert_eq!(code, 0, "{err}");
    let reply = rpc(free, &Msg::ConfigWait { have: 0 });
    assert!(matches!(reply, Some(Msg::Config { .. })), "{reply:?}");
    // Stop it (it is not our child any more): find it by its listening port.
    let out = std::process::Command::new("ss").args(["-ltnpH", &format!("sport = :{free}")]).output();
    let text = out.map(|o| String::from_utf8_lossy(&o.stdout).into_owned()).unwrap_or_default();
    let pid: Option<i32> = text.split("pid=").nth(1).and_then(|s| s.split(',').next()).and_then(|s| s.parse().ok());
    if let Some(pid) = pid {
        // SAFETY: signalling the coordinator this test started.
        unsafe {
            libc::kill(pid, libc::SIGTERM);
        }
    }
    let _ = std::fs::remove_dir_all(dir);
}

/// Gets that miss the object cache read storage on the daemon's reader threads: with a
/// 1 MiB cache and one reader thread, each of 20k objects (about 2.5 MiB of them) reads
/// back with its own value, and a key never written reads NOTFOUND. A `--threads` out of
/// range is refused at start with a message naming it.
#[test]
fn gets_beyond_the_object_cache_read_back_every_object_on_reader_threads() {
    use hyperclient::client::{Attribute, AttributeCheck, KeyOp, MapAttribute};
    const NO_CHECKS: &[AttributeCheck<'static>] = &[];
    const NO_MAPS: &[MapAttribute<'static>] = &[];
    let mut cl = Cluster::coordinator_only("readers");
    for bad in ["--threads=513", "--threads=many"] {
        let dir = cl.dir.join("bad");
        std::fs::create_dir_all(&dir).unwrap();
        let out = daemon_command(free_port(), cl.coord_port, &dir).arg(bad).output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success() && err.contains("--threads"), "{bad}: {:?} {err}", out.status);
    }
    cl.daemon_args = vec!["--cache-mb=1".into(), "--threads=1".into()];
    cl.add_daemon();
    cl.wait_servers(1);
    cl.add_space("space kv key k attributes v create 4 partitions tolerate 0 failures");
    let mut c = hyperclient::Client::<u32>::new("127.0.0.1", cl.coord_port).expect("client");
    let n = 20_000u32;
    let value = |i: u32| format!("{i:>8}{}", "v".repeat(92)).into_bytes();
    let key = |i: u32| format!("key{i}").into_bytes();
    // In windows of 500: the window's ids, then one answer each.
    let mut expect: HashMap<i64, u32> = HashMap::new();
    for get in [false, true] {
        for start in (0..n).step_by(500) {
            for i in start..(start + 500).min(n) {
                let v = value(i);
                let attrs = [Attribute { name: b"v", value: &v, datatype: hyperclient::DataType::String }];
                // Gets in another order than the puts, so neighbours were written far apart.
                let k = if get { key((i * 7919) % n) } else { key(i) };
                let id = if get {
                    c.get(b"kv", &k, 0)
                } else {
                    c.key_op(KeyOp::PUT, b"kv", &k, NO_CHECKS, &attrs, NO_MAPS, 0)
                };
                let want = if get { (i * 7919) % n } else { i };
                expect.insert(id.expect("sent"), want);
            }
            while !expect.is_empty() {
                let ev = c.loop_once(30_000).expect("an answer");
                let i = expect.remove(&ev.id).expect("an id sent");
                assert_eq!(ev.status, hyperclient::ReturnCode::Success, "object {i}");
                if get {
                    let got = ev.values.and_then(|vals| vals.iter().next().map(|(_, _, x)| x.to_vec()));
                    assert_eq!(got, Some(value(i)), "object {i}");
                }
            }
        }
    }
    // All gets at once: more misses than the daemon lets out to its readers (4096), so it
    // stops reading this client until they come back, and must resume it every time.
    for i in 0..n {
        let want = (i * 7907) % n;
        expect.insert(c.get(b"kv", &key(want), 0).expect("sent"), want);
    }
    while !expect.is_empty() {
        let ev = c.loop_once(30_000).expect("an answer");
        let i = expect.remove(&ev.id).expect("an id sent");
        assert_eq!(ev.status, hyperclient::ReturnCode::Success, "object {i}");
        let got = ev.values.and_then(|vals| vals.iter().next().map(|(_, _, x)| x.to_vec()));
        assert_eq!(got, Some(value(i)), "object {i}");
    }
    let absent = c.get(b"kv", b"never-written", 0).expect("sent");
    let ev = c.loop_once(30_000).expect("an answer");
    assert_eq!((ev.id, ev.status), (absent, hyperclient::ReturnCode::NotFound));
    // More than the 4 MiB a connection buffers, all at once, of keys never written (each a
    // storage read): the parked client's full buffer must not keep the daemon busy, and every
    // get is answered.
    let mut ids = std::collections::HashSet::new();
    for i in 0..120_000u32 {
        let k = format!("never-written-{i:>40}");
        ids.insert(c.get(b"kv", k.as_bytes(), 0).expect("sent"));
    }
    while !ids.is_empty() {
        let ev = c.loop_once(30_000).expect("an answer");
        assert!(ids.remove(&ev.id), "an id sent");
        assert_eq!(ev.status, hyperclient::ReturnCode::NotFound);
    }
    drop(c);
    // The daemon says at stop that clients waited for its readers (they did: above).
    cl.stop_daemon(0);
    let log = std::fs::read_to_string(cl.dir.join("daemon0.log")).unwrap();
    let waits = log
        .lines()
        .find_map(|l| l.strip_prefix("hyperdex daemon: clients waited for storage reads "))
        .and_then(|rest| rest.split(' ').next()?.parse::<u64>().ok());
    assert!(waits.is_some_and(|n| n >= 1), "{log}");
}
