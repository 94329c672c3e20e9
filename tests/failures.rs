//! Daemon failures against real processes: kill -9 under a load of writers and readers,
//! chain repair, state transfer, a restart on the same data, offline regions, and a full
//! stop and restart. Every client operation is recorded (invocation, answer or unknown
//! outcome) and each key's history must be linearizable, final reads included, so an
//! acknowledged write that was lost fails the test.

mod common;

use common::linearizability::{History, Kind, Outcome};
use common::{wait_for, Cluster};
use hyperclient::client::{Attribute, AttributeCheck, KeyOp, MapAttribute};
use hyperclient::{Client, DataType, ReturnCode};
use hyperdex_core::config::Configuration;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

type C = Client<u32>;
const NO_CHECKS: &[AttributeCheck<'static>] = &[];
const NO_MAPS: &[MapAttribute<'static>] = &[];
/// The bound the issue sets on resuming writes after a kill (default lease of 1 s).
const RESUME_BOUND: Duration = Duration::from_secs(2);

/// Every put changes `n`, so with a subspace on `n` every put moves the object between
/// regions (its chain passes through two regions of that subspace).
fn space(f: u32) -> String {
    format!("space kv key k attributes string v, int n subspace n create 8 partitions tolerate {f} failures")
}

fn client(cl: &Cluster) -> C {
    Client::new("127.0.0.1", cl.coord_port).expect("client")
}

/// One operation, synchronously: its status and the value of `v` it read (gets).
fn run(c: &mut C, get: bool, key: &[u8], v: &[u8], n: i64) -> (ReturnCode, Option<Vec<u8>>) {
    let nb = n.to_le_bytes();
    let attrs = [
        Attribute { name: b"v", value: v, datatype: DataType::String },
        Attribute { name: b"n", value: &nb, datatype: DataType::Int64 },
    ];
    common::sync_op(c, get, key, &attrs)
}

struct Load {
    stop: Arc<AtomicBool>,
    threads: Vec<std::thread::JoinHandle<usize>>,
    history: Arc<History>,
    keys: Vec<Vec<u8>>,
}

/// `writers` clients, each putting unique values (and moving the object) and reading, on
/// a small set of keys so that operations overlap.
fn start_load(cl: &Cluster, writers: usize, keys: usize) -> Load {
    let stop = Arc::new(AtomicBool::new(false));
    let history = Arc::new(History::new());
    let keys: Vec<Vec<u8>> = (0..keys).map(|i| format!("key{i}").into_bytes()).collect();
    let threads = (0..writers)
        .map(|w| {
            let (stop, history, keys) = (Arc::clone(&stop), Arc::clone(&history), keys.clone());
            let mut c = client(cl);
            std::thread::spawn(move || {
                let mut x = 0x9E37_79B9_7F4A_7C15u64 ^ (w as u64 + 1);
                let mut ops = 0usize;
                while !stop.load(Ordering::Relaxed) {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    // Every key in turn (writers start at different keys): each key sees
                    // writes throughout the run.
                    let key = &keys[(ops + w * keys.len() / 4) % keys.len()];
                    let get = x.is_multiple_of(4);
                    let value = format!("w{w}-{ops}").into_bytes();
                    let t = history.invoke();
                    let (rc, read) = run(&mut c, get, key, &value, (x >> 8) as i64);
                    let at = history.now();
                    ops += 1;
                    if std::env::var_os("FAILURES_TRACE").is_some() && at - t > 50_000_000 {
                        eprintln!(
                            "{:.3} w{w} {} {} took {:.3} s -> {rc:?}",
                            at as f64 / 1e9,
                            if get { "get" } else { "put" },
                            String::from_utf8_lossy(key),
                            (at - t) as f64 / 1e9
                        );
                    }
                    if get {
                        match rc {
                            ReturnCode::Success => history.record(w, key, Kind::Read(read), t, Outcome::Ok(at)),
                            ReturnCode::NotFound => history.record(w, key, Kind::Read(None), t, Outcome::Ok(at)),
                            _ => {
                                if std::env::var_os("FAILURES_TRACE").is_some() {
                                    eprintln!(
                                        "{:.3} w{w} get {} -> {rc:?}",
                                        at as f64 / 1e9,
                                        String::from_utf8_lossy(key)
                                    );
                                }
                            }
                        }
                    } else {
                        if std::env::var_os("FAILURES_TRACE").is_some() && rc != ReturnCode::Success {
                            eprintln!("{:.3} w{w} put {} -> {rc:?}", at as f64 / 1e9, String::from_utf8_lossy(key));
                        }
                        let outcome = match rc {
                            ReturnCode::Success => Outcome::Ok(at),
                            // RECONFIGURE, a lost connection, OFFLINE: it may have been
                            // applied somewhere.
                            _ => Outcome::Unknown,
                        };
                        history.record(w, key, Kind::Write(Some(value)), t, outcome);
                    }
                    if rc != ReturnCode::Success && rc != ReturnCode::NotFound {
                        // A new client after an error: no stale state carries over.
                        std::thread::sleep(Duration::from_millis(5));
                    }
                }
                ops
            })
        })
        .collect();
    Load { stop, threads, history, keys }
}

impl Load {
    /// Stops the writers, reads every key once more (retrying until the cluster answers),
    /// and checks every key's history. Returns the history.
    fn finish(self, cl: &Cluster) -> Arc<History> {
        self.stop.store(true, Ordering::Relaxed);
        let counts: Vec<usize> = self.threads.into_iter().map(|t| t.join().unwrap()).collect();
        if std::env::var_os("FAILURES_TRACE").is_some() {
            eprintln!("operations per writer: {counts:?}");
        }
        let total: usize = counts.iter().sum();
        assert!(total > 100, "the load made only {total} operations");
        let mut c = client(cl);
        for key in &self.keys {
            wait_for("a final read", Duration::from_secs(20), || {
                let t = self.history.invoke();
                match run(&mut c, true, key, b"", 0) {
                    (ReturnCode::Success, v) => {
                        self.history.record(99, key, Kind::Read(v), t, Outcome::Ok(self.history.now()));
                        Some(())
                    }
                    (ReturnCode::NotFound, _) => {
                        self.history.record(99, key, Kind::Read(None), t, Outcome::Ok(self.history.now()));
                        Some(())
                    }
                    _ => None,
                }
            });
        }
        if let Err(v) = self.history.check(|_| None) {
            panic!("not linearizable:\n{v}");
        }
        self.history
    }
}

/// How long after `killed_at` (history time) the first successful write of each key whose
/// key region's chain held `victim` (in `before`) came; the longest of them.
fn resume_time(h: &History, before: &Configuration, victim: u64, keys: &[Vec<u8>], killed_at: u64) -> Duration {
    let sp = before.space(b"kv").unwrap();
    let ops = h.ops();
    let mut worst = Duration::ZERO;
    for key in keys {
        let r = sp.key_region(key).unwrap();
        if !r.replicas.iter().any(|p| p.server == victim) {
            continue;
        }
        let first = ops
            .iter()
            .filter(|o| o.key == *key && o.invoked >= killed_at && matches!(o.kind, Kind::Write(_)))
            .filter_map(|o| match o.outcome {
                Outcome::Ok(at) => Some(at),
                _ => None,
            })
            .min()
            .unwrap_or_else(|| {
                let all: Vec<_> = ops.iter().filter(|o| o.key == *key).map(|o| (o.invoked, &o.outcome)).collect();
                panic!(
                    "no write of {} succeeded after the kill at {killed_at}: {} operations on it, the last ones {:?}",
                    String::from_utf8_lossy(key),
                    all.len(),
                    &all[all.len().saturating_sub(5)..]
                )
            });
        worst = worst.max(Duration::from_nanos(first - killed_at));
    }
    worst
}

fn index_of(cl: &Cluster, server: u64) -> usize {
    (0..cl.daemon_ports.len()).find(|&i| cl.server_id(i) == server).expect("a daemon of ours")
}

/// A kill -9: the victim, when (history time), and the configuration before it.
struct Kill {
    victim: u64,
    at: u64,
    before: Configuration,
}

/// Kills the head of the first key's region under `before` and waits until the coordinator
/// removed it; returns the configuration that did.
fn kill_head(cl: &mut Cluster, load: &Load, before: &Configuration) -> (Kill, Configuration) {
    let victim = head_of_first_key(before, &load.keys);
    let at = load.history.now();
    cl.kill_daemon(index_of(cl, victim));
    let after = wait_removed(cl, victim);
    (Kill { victim, at, before: before.clone() }, after)
}

/// Checks that writes resumed within the bound after every kill (prints the times).
fn assert_resumed(h: &History, keys: &[Vec<u8>], kills: &[Kill]) {
    let times: Vec<Duration> = kills.iter().map(|k| resume_time(h, &k.before, k.victim, keys, k.at)).collect();
    eprintln!("writes resumed after each kill: {times:?}");
    assert!(times.iter().all(|t| *t <= RESUME_BOUND), "writes resumed after {times:?}");
}

fn wait_stable(cl: &Cluster) -> Configuration {
    let port = cl.coord_port.to_string();
    let (code, out, err) = cl.hyperdex(&["wait-until-stable", "-h", "127.0.0.1", "-p", &port, "-t", "60"], "");
    assert_eq!(code, 0, "wait-until-stable: {out}{err}");
    cl.config().unwrap()
}

/// The server heading the region of the first key (a victim whose death every key of its
/// regions notices).
fn head_of_first_key(cfg: &Configuration, keys: &[Vec<u8>]) -> u64 {
    cfg.space(b"kv").unwrap().key_region(&keys[0]).unwrap().replicas[0].server
}

/// Waits until the coordinator no longer lists `server` as available.
fn wait_removed(cl: &Cluster, server: u64) -> Configuration {
    wait_for("the failure to be noticed", Duration::from_secs(10), || cl.config().filter(|c| !c.available(server)))
}

#[test]
fn tolerate_two_survives_two_kills_under_load() {
    let mut cl = Cluster::start("fail-t2", 3);
    cl.add_space(&space(2));
    let cfg0 = wait_stable(&cl);
    let load = start_load(&cl, 4, 16);
    std::thread::sleep(Duration::from_millis(700));
    let (first, cfg1) = kill_head(&mut cl, &load, &cfg0);
    // Every region still has a replica on each survivor; none is offline.
    for r in &cfg1.space(b"kv").unwrap().subspaces[0].regions {
        assert_eq!(r.replicas.len(), 2, "region {} after the first kill", r.id);
    }
    std::thread::sleep(Duration::from_millis(1500));
    let (second, _) = kill_head(&mut cl, &load, &cfg1);
    std::thread::sleep(Duration::from_millis(1500));
    let keys = load.keys.clone();
    let h = load.finish(&cl);
    assert_resumed(&h, &keys, &[first, second]);
}

#[test]
fn tolerate_one_rebuilds_the_lost_replica_then_survives_another_kill() {
    let mut cl = Cluster::start("fail-t1", 3);
    cl.add_space(&space(1));
    let cfg0 = wait_stable(&cl);
    let load = start_load(&cl, 4, 16);
    std::thread::sleep(Duration::from_millis(500));
    let (first, _) = kill_head(&mut cl, &load, &cfg0);
    // The regions that lost a replica get one on the third daemon, by state transfer, while
    // the writers go on.
    let cfg1 = wait_stable(&cl);
    for ss in &cfg1.space(b"kv").unwrap().subspaces {
        for r in &ss.regions {
            assert_eq!(r.replicas.len(), 2);
            assert!(r.replicas.iter().all(|p| p.server != first.victim));
        }
    }
    // Any one more failure is survived.
    let (second, _) = kill_head(&mut cl, &load, &cfg1);
    std::thread::sleep(Duration::from_millis(1000));
    let keys = load.keys.clone();
    let h = load.finish(&cl);
    assert_resumed(&h, &keys, &[first, second]);
}

#[test]
fn two_kills_at_once_on_four_daemons() {
    let mut cl = Cluster::start("fail-4", 4);
    cl.add_space(&space(2));
    let cfg0 = wait_stable(&cl);
    let load = start_load(&cl, 4, 16);
    std::thread::sleep(Duration::from_millis(500));
    let a = head_of_first_key(&cfg0, &load.keys);
    let sp = cfg0.space(b"kv").unwrap();
    let b = sp.key_region(&load.keys[0]).unwrap().replicas[1].server;
    let at = load.history.now();
    cl.kill_daemon(index_of(&cl, a));
    cl.kill_daemon(index_of(&cl, b));
    wait_removed(&cl, a);
    wait_removed(&cl, b);
    // Two survivors cannot give regions f+1 = 3 replicas again: every region keeps serving
    // on what it has.
    std::thread::sleep(Duration::from_millis(1500));
    let keys = load.keys.clone();
    let h = load.finish(&cl);
    let kills = [a, b].map(|victim| Kill { victim, at, before: cfg0.clone() });
    assert_resumed(&h, &keys, &kills);
}

#[test]
fn a_daemon_restarted_on_its_data_rejoins_and_can_serve_everything_alone() {
    let mut cl = Cluster::start("fail-rejoin", 3);
    cl.add_space(&space(2));
    let cfg0 = wait_stable(&cl);
    // Objects that do not change while it is down: it catches up without copying them.
    let mut c = client(&cl);
    for i in 0..500 {
        assert_eq!(run(&mut c, false, format!("still{i}").as_bytes(), b"s", i).0, ReturnCode::Success);
    }
    let load = start_load(&cl, 4, 16);
    std::thread::sleep(Duration::from_millis(500));
    let victim = head_of_first_key(&cfg0, &load.keys);
    let vi = index_of(&cl, victim);
    cl.kill_daemon(vi);
    wait_removed(&cl, victim);
    std::thread::sleep(Duration::from_millis(500));
    cl.start_daemon(vi);
    // It registers again and gets its regions back by transfer, under load.
    let cfg1 = wait_stable(&cl);
    assert!(cfg1.available(victim));
    for r in &cfg1.space(b"kv").unwrap().subspaces[0].regions {
        assert!(r.replicas.iter().any(|p| p.server == victim));
    }
    // It compared every object it held with its sources and received only what changed
    // while it was down: the 16 keys written under load, in their key regions and in the
    // regions of subspace n they moved through (objects or tombstones: 1 + 8 per key).
    // (It logs each region as it installs the configuration that makes it a replica.)
    let path = cl.dir.join(format!("daemon{vi}.log"));
    let joined = |log: &str| log.lines().filter(|l| l.contains("hyperdex daemon: joined")).count();
    let log = wait_for("a log line per region joined", Duration::from_secs(10), || {
        let log = std::fs::read_to_string(&path).unwrap();
        (joined(&log) >= 16).then_some(log)
    });
    let (mut compared, mut received) = (0u64, 0u64);
    for line in log.lines().filter(|l| l.contains("joined (caught up) region")) {
        let n = |what: &str| -> u64 {
            let at = line.find(what).unwrap();
            line[..at].trim_end().rsplit(' ').next().unwrap().parse().unwrap()
        };
        compared += n(" keys compared");
        received += n(" objects received");
    }
    assert!(compared >= 2 * 500, "a catch-up compared {compared} keys:\n{log}");
    assert!(received <= 16 * 9, "received {received} objects, more than the load touched:\n{log}");
    std::thread::sleep(Duration::from_millis(300));
    // Every other daemon dies: the restarted one is the last replica of every region.
    for i in (0..3).filter(|&i| i != vi) {
        let id = cl.server_id(i);
        cl.kill_daemon(i);
        wait_removed(&cl, id);
    }
    std::thread::sleep(Duration::from_millis(500));
    let cfg2 = cl.config().unwrap();
    for ss in &cfg2.space(b"kv").unwrap().subspaces {
        for r in &ss.regions {
            assert_eq!(r.replicas.iter().map(|p| p.server).collect::<Vec<_>>(), vec![victim]);
        }
    }
    load.finish(&cl);
}

#[test]
fn a_region_without_replicas_is_offline_at_once_and_back_with_its_daemon() {
    let mut cl = Cluster::start("fail-offline", 2);
    cl.add_space("space kv key k attributes string v, int n create 8 partitions tolerate 0 failures");
    let cfg0 = wait_stable(&cl);
    let mut c = client(&cl);
    let keys: Vec<Vec<u8>> = (0..64).map(|i| format!("key{i}").into_bytes()).collect();
    for k in &keys {
        assert_eq!(run(&mut c, false, k, k, 1).0, ReturnCode::Success);
    }
    let victim = head_of_first_key(&cfg0, &keys);
    let vi = index_of(&cl, victim);
    let sp = cfg0.space(b"kv").unwrap();
    let lost: Vec<&Vec<u8>> = keys.iter().filter(|k| sp.key_region(k).unwrap().replicas[0].server == victim).collect();
    let kept: Vec<&Vec<u8>> = keys.iter().filter(|k| sp.key_region(k).unwrap().replicas[0].server != victim).collect();
    assert!(!lost.is_empty() && !kept.is_empty());
    cl.kill_daemon(vi);
    wait_removed(&cl, victim);
    // Once the client has the configuration: OFFLINE without waiting, for reads and writes;
    // the other daemon's keys work.
    wait_for("OFFLINE", Duration::from_secs(10), || {
        (run(&mut c, true, lost[0], b"", 0).0 == ReturnCode::Offline).then_some(())
    });
    for k in &lost {
        let t = Instant::now();
        assert_eq!(run(&mut c, true, k, b"", 0).0, ReturnCode::Offline);
        assert_eq!(run(&mut c, false, k, b"x", 2).0, ReturnCode::Offline);
        assert!(t.elapsed() < Duration::from_secs(1), "OFFLINE took {:?}", t.elapsed());
    }
    for k in &kept {
        assert_eq!(run(&mut c, true, k, b"", 0), (ReturnCode::Success, Some(k.to_vec())));
    }
    // The daemon comes back with its data: its keys are served again, unchanged.
    cl.start_daemon(vi);
    wait_for("the daemon back", Duration::from_secs(20), || cl.config().filter(|c| c.available(victim)));
    for k in &lost {
        let got = wait_for("a read", Duration::from_secs(10), || {
            let r = run(&mut c, true, k, b"", 0);
            (r.0 != ReturnCode::Offline && r.0 != ReturnCode::Reconfigure).then_some(r)
        });
        assert_eq!(got, (ReturnCode::Success, Some(k.to_vec())));
    }
}

#[test]
fn a_full_stop_and_restart_brings_every_object_back() {
    let mut cl = Cluster::start("fail-restart", 3);
    cl.add_space(&space(1));
    wait_stable(&cl);
    let mut c = client(&cl);
    let keys: Vec<Vec<u8>> = (0..300).map(|i| format!("key{i}").into_bytes()).collect();
    for (i, k) in keys.iter().enumerate() {
        assert_eq!(run(&mut c, false, k, k, i as i64).0, ReturnCode::Success);
    }
    drop(c);
    // Daemons (SIGTERM, one after the other), then the coordinator.
    for i in 0..3 {
        cl.stop_daemon(i);
    }
    cl.stop_coordinator();
    cl.start_coordinator();
    for i in 0..3 {
        cl.start_daemon(i);
    }
    let cfg = wait_for("every daemon back", Duration::from_secs(20), || {
        cl.config().filter(|c| c.servers.iter().all(|s| c.available(s.id)) && c.servers.len() == 3)
    });
    // Every region has a replica that held it at the stop: every object is there at once,
    // before any transfer completes.
    for ss in &cfg.space(b"kv").unwrap().subspaces {
        for r in &ss.regions {
            assert!(!r.replicas.is_empty());
        }
    }
    let mut c = client(&cl);
    for k in &keys {
        assert_eq!(
            run(&mut c, true, k, b"", 0),
            (ReturnCode::Success, Some(k.to_vec())),
            "{}",
            String::from_utf8_lossy(k)
        );
    }
    wait_stable(&cl);
}

/// `make bench-faults` (ignored in `make test`; a benchmark, not a timed test): on 3
/// daemons at tolerate 1 with 100,000 objects, four synchronous writers run for a few
/// seconds, then the head of a region is killed. Prints the time from the kill to the first
/// successful write of each key whose chain held it (the longest), the writers' throughput
/// before the kill and while the cluster repairs and rebuilds the lost replicas (until
/// `wait-until-stable`), and how long that rebuild took.
/// How many objects a benchmark loads: `N` from the environment, or 100,000.
fn bench_objects() -> usize {
    std::env::var("N").ok().and_then(|v| v.parse().ok()).unwrap_or(100_000)
}

/// Puts `objects` objects into space kv, a window of 1024 writes in flight.
fn preload(cl: &Cluster, objects: usize) {
    let mut c = client(cl);
    let value = vec![b'x'; 100];
    let t = Instant::now();
    let mut in_flight = 0;
    for i in 0..objects {
        let key = format!("obj{i}");
        let nb = (i as i64).to_le_bytes();
        let attrs = [
            Attribute { name: b"v", value: &value, datatype: DataType::String },
            Attribute { name: b"n", value: &nb, datatype: DataType::Int64 },
        ];
        c.key_op(KeyOp::PUT, b"kv", key.as_bytes(), NO_CHECKS, &attrs[..], NO_MAPS, 0).expect("put");
        in_flight += 1;
        while in_flight >= 1024 || (i + 1 == objects && in_flight > 0) {
            let ev = c.loop_once(30_000).expect("load");
            assert_eq!(ev.status, ReturnCode::Success);
            in_flight -= 1;
        }
    }
    eprintln!("loaded {objects} objects in {:.2} s", t.elapsed().as_secs_f64());
}

/// `make bench-faults`, second part: a daemon restarted on its data catches up with what
/// changed while it was down instead of copying its regions again. Two daemons, tolerate 1
/// (the restarted one is the second replica of every region), N objects (default 100,000),
/// 4 writers throughout. The same daemon is then killed again and a new, empty daemon
/// takes its place: a full copy, for comparison in the same run.
#[test]
#[ignore]
fn bench_catch_up() {
    let objects = bench_objects();
    let mut cl = Cluster::start("bench-catch-up", 2);
    cl.add_space("space kv key k attributes string v, int n create 8 partitions tolerate 1 failures");
    wait_stable(&cl);
    preload(&cl, objects);
    let load = start_load(&cl, 4, 64);
    std::thread::sleep(Duration::from_millis(500));
    let mut times = Vec::new();
    for fresh in [false, true] {
        let victim = cl.server_id(1);
        cl.kill_daemon(1);
        wait_removed(&cl, victim);
        // Writes go on while it is down.
        let ops = load.history.len();
        std::thread::sleep(Duration::from_secs(1));
        let missed = load.history.len() - ops;
        let t = Instant::now();
        if fresh {
            cl.add_daemon();
        } else {
            cl.start_daemon(1);
        }
        wait_stable(&cl);
        times.push((t.elapsed(), missed));
    }
    let keys = load.keys.clone();
    let _ = load.finish(&cl);
    println!("bench-catch-up: {objects} objects, 2 daemons, tolerate 1, 4 synchronous writers on {} keys", keys.len());
    println!(
        "  restarted on its data ({} writes while it was down): stable {:.0} ms after the restart",
        times[0].1,
        times[0].0.as_secs_f64() * 1e3
    );
    println!(
        "  a new daemon in its place instead (full copy of {objects} objects): stable {:.0} ms after its start ({:.1}x longer)",
        times[1].0.as_secs_f64() * 1e3,
        times[1].0.as_secs_f64() / times[0].0.as_secs_f64()
    );
}

#[test]
#[ignore]
fn bench_faults() {
    let objects = bench_objects();
    let mut cl = Cluster::start("bench-faults", 3);
    cl.add_space("space kv key k attributes string v, int n create 8 partitions tolerate 1 failures");
    let cfg0 = wait_stable(&cl);
    preload(&cl, objects);
    let load = start_load(&cl, 4, 64);
    std::thread::sleep(Duration::from_millis(500));
    let before_ops = load.history.len();
    let before_t = Instant::now();
    std::thread::sleep(Duration::from_secs(3));
    let rate_before = (load.history.len() - before_ops) as f64 / before_t.elapsed().as_secs_f64();
    let victim = head_of_first_key(&cfg0, &load.keys);
    let killed_at = load.history.now();
    let kill_t = Instant::now();
    let ops_at_kill = load.history.len();
    cl.kill_daemon(index_of(&cl, victim));
    wait_removed(&cl, victim);
    let detected = kill_t.elapsed();
    let ops_at_repair = load.history.len();
    let stable = wait_stable(&cl);
    let rebuild = kill_t.elapsed();
    let rate_detect = (ops_at_repair - ops_at_kill) as f64 / detected.as_secs_f64();
    let rate_during = (load.history.len() - ops_at_repair) as f64 / (rebuild - detected).as_secs_f64().max(1e-3);
    // And once everything is rebuilt.
    let ops_after = load.history.len();
    let after_t = Instant::now();
    std::thread::sleep(Duration::from_secs(2));
    let rate_after = (load.history.len() - ops_after) as f64 / after_t.elapsed().as_secs_f64();
    let moved: usize = stable
        .space(b"kv")
        .unwrap()
        .subspaces
        .iter()
        .flat_map(|ss| &ss.regions)
        .filter(|r| cfg0.region(r.id).is_some_and(|(_, _, old)| old.replicas.iter().any(|p| p.server == victim)))
        .count();
    let keys = load.keys.clone();
    let h = load.finish(&cl);
    let resume = resume_time(&h, &cfg0, victim, &keys, killed_at);
    println!("bench-faults: {objects} objects, 3 daemons, tolerate 1, 4 synchronous writers (75% puts)");
    println!(
        "  kill -9 to the first successful write of every key whose chain held the victim: {:.0} ms",
        resume.as_secs_f64() * 1e3
    );
    println!("  writers before the kill: {rate_before:.0} ops/s");
    println!(
        "  from the kill until the coordinator removed the victim ({:.0} ms): {rate_detect:.0} ops/s ({:.2}x)",
        detected.as_secs_f64() * 1e3,
        rate_detect / rate_before
    );
    println!(
        "  during the rebuild ({moved} of 8 regions copied, ~{} objects, {:.0} ms): {rate_during:.0} ops/s ({:.2}x)",
        objects * moved / 8,
        (rebuild - detected).as_secs_f64() * 1e3,
        rate_during / rate_before
    );
    println!(
        "  after (2 daemons, every region with 2 replicas): {rate_after:.0} ops/s ({:.2}x)",
        rate_after / rate_before
    );
    println!("  kill -9 to stable: {:.2} s", rebuild.as_secs_f64());
}
