//! One `struct hyperclient` used by several threads at once, through the C ABI: threads
//! start operations while another thread sits in `hyperclient_loop`, which waits without
//! holding the client's lock and is woken when work is queued.

mod common;

use std::ffi::CStr;
use std::ptr;
use std::sync::mpsc;
use std::time::Duration;

use ::hyperclient::ffi::*;
use ::hyperclient::{DataType, ReturnCode};
use common::Cluster;

const SUCCESS: u32 = ReturnCode::Success as u32;

/// A client handle that may cross threads (the library serialises calls on it).
#[derive(Clone, Copy)]
struct Handle(*mut hyperclient);
// SAFETY: libhyperclient's contract: one client may be used from several threads.
unsafe impl Send for Handle {}
unsafe impl Sync for Handle {}

fn attr(name: &CStr, value: &[u8], dtype: DataType) -> hyperclient_attribute {
    hyperclient_attribute {
        attr: name.as_ptr(),
        value: value.as_ptr().cast(),
        value_sz: value.len(),
        datatype: dtype as u32,
    }
}

fn new_client(cl: &Cluster) -> Handle {
    // SAFETY: a NUL-terminated literal.
    let c = unsafe { hyperclient_create(c"127.0.0.1".as_ptr(), cl.coord_port) };
    assert!(!c.is_null());
    // Fetch the configuration now (attribute_type is synchronous).
    let mut st = 0u32;
    // SAFETY: live client, valid pointers.
    let t = unsafe { hyperclient_attribute_type(c, c"kv".as_ptr(), c"v".as_ptr(), &mut st) };
    assert_eq!((t, st), (DataType::String as u32, SUCCESS));
    Handle(c)
}

#[test]
fn threads_issue_operations_while_one_thread_loops() {
    const THREADS: usize = 4;
    const PER_THREAD: usize = 1500;
    let cl = Cluster::start("threads-stress", 2);
    cl.add_space("space kv key k attributes string v, int n create 8 partitions tolerate 1 failures");
    let c = new_client(&cl);
    // Every operation's status slot, boxed so it stays put until its id comes back.
    let statuses: Vec<Box<[u32]>> = (0..THREADS).map(|_| vec![u32::MAX; PER_THREAD].into_boxed_slice()).collect();
    let slots: Vec<usize> = statuses.iter().map(|b| b.as_ptr() as usize).collect();
    let (ids_tx, ids_rx) = mpsc::channel::<i64>();
    let looper = std::thread::spawn(move || {
        let c = c;
        let mut done = Vec::new();
        let mut st = 0u32;
        let mut producers_done = false;
        loop {
            // SAFETY: live client; the status slots outlive every operation.
            let r = unsafe { hyperclient_loop(c.0, 30_000, &mut st) };
            if r > 0 {
                done.push(r);
                continue;
            }
            assert!(st == ReturnCode::NonePending as u32, "loop failed: {st}");
            // Nothing pending: finished once every producer said so and all ids are in.
            while let Ok(id) = ids_rx.try_recv() {
                if id < 0 {
                    producers_done = true;
                }
            }
            if producers_done && done.len() == THREADS * PER_THREAD {
                return done;
            }
            std::thread::yield_now();
        }
    });
    let mut producers = Vec::new();
    for (t, &slot) in slots.iter().enumerate() {
        producers.push(std::thread::spawn(move || {
            let c = c;
            let mut ids = Vec::with_capacity(PER_THREAD);
            for i in 0..PER_THREAD {
                let key = format!("t{t}-{i}");
                let n = (i as i64).to_le_bytes();
                let v = [attr(c"v", key.as_bytes(), DataType::String), attr(c"n", &n, DataType::Int64)];
                let status = (slot as *mut u32).wrapping_add(i);
                // SAFETY: live client; the status slot lives until the test ends.
                let id = unsafe {
                    hyperclient_put(c.0, c"kv".as_ptr(), key.as_ptr().cast(), key.len(), v.as_ptr(), 2, status)
                };
                assert!(id > 0, "thread {t} op {i}: {id}");
                ids.push(id);
            }
            ids
        }));
    }
    let mut started = Vec::new();
    for p in producers {
        started.extend(p.join().unwrap());
    }
    ids_tx.send(-1).unwrap();
    let mut done = looper.join().unwrap();
    started.sort_unstable();
    done.sort_unstable();
    assert_eq!(started.len(), THREADS * PER_THREAD);
    assert_eq!(done, started, "every id comes back exactly once");
    started.dedup();
    assert_eq!(started.len(), THREADS * PER_THREAD, "ids are unique across threads");
    for (t, b) in statuses.iter().enumerate() {
        assert!(b.iter().all(|s| *s == SUCCESS), "thread {t}: {:?}", b.iter().find(|s| **s != SUCCESS));
    }
    // Every write is there, read back by another client.
    let c2 = new_client(&cl);
    let mut st = 0u32;
    let mut lst = 0u32;
    for t in 0..THREADS {
        for i in (0..PER_THREAD).step_by(97) {
            let key = format!("t{t}-{i}");
            let mut out: *mut hyperclient_attribute = ptr::null_mut();
            let mut n = 0usize;
            // SAFETY: live client, valid pointers until the loop returns the id.
            unsafe {
                let id =
                    hyperclient_get(c2.0, c"kv".as_ptr(), key.as_ptr().cast(), key.len(), &mut st, &mut out, &mut n);
                assert_eq!(hyperclient_loop(c2.0, 30_000, &mut lst), id);
                assert_eq!((st, n), (SUCCESS, 2));
                let v = std::slice::from_raw_parts((*out).value.cast::<u8>(), (*out).value_sz);
                assert_eq!(v, key.as_bytes());
                hyperclient_destroy_attrs(out, n);
            }
        }
    }
    // SAFETY: no other thread uses them any more.
    unsafe {
        hyperclient_destroy(c.0);
        hyperclient_destroy(c2.0);
    }
}

#[test]
fn an_operation_queued_by_another_thread_wakes_a_loop_blocked_forever() {
    let mut cl = Cluster::start("threads-wake", 2);
    cl.add_space("space kv key k attributes string v create 8 partitions tolerate 0 failures");
    let c = new_client(&cl);
    let cfg = cl.config().unwrap();
    let sp = cfg.space(b"kv").unwrap();
    let owner = |key: &str| sp.key_region(key.as_bytes()).unwrap().replicas[0].server;
    // One key led by each daemon.
    let stuck_server = cl.server_id(0);
    let stuck_key = (0..).map(|i| format!("a{i}")).find(|k| owner(k) == stuck_server).unwrap();
    let live_key = (0..).map(|i| format!("b{i}")).find(|k| owner(k) != stuck_server).unwrap();
    let v = attr(c"v", b"x", DataType::String);
    // The connection to the live key's daemon exists before the loop waits (so only the
    // waker, not a new connection's readiness, can end that wait).
    let mut st0 = 0u32;
    let mut lst = 0u32;
    // SAFETY: live client, valid pointers until the id comes back.
    unsafe {
        let id = hyperclient_put(c.0, c"kv".as_ptr(), live_key.as_ptr().cast(), live_key.len(), &v, 1, &mut st0);
        assert_eq!(hyperclient_loop(c.0, 30_000, &mut lst), id);
        assert_eq!(st0, SUCCESS);
    }
    // Daemon 0 stops answering: a write to it stays pending, so the loop below blocks.
    cl.pause_daemon(0);
    // Leaked: if this test fails while the loop thread still runs, the slots stay valid.
    let st_stuck: &'static mut u32 = Box::leak(Box::new(u32::MAX));
    let st_live: &'static mut u32 = Box::leak(Box::new(u32::MAX));
    // SAFETY: live client; the status boxes live until the end of the test.
    let stuck =
        unsafe { hyperclient_put(c.0, c"kv".as_ptr(), stuck_key.as_ptr().cast(), stuck_key.len(), &v, 1, st_stuck) };
    assert!(stuck > 0);
    let (tx, rx) = mpsc::channel();
    let (tid_tx, tid_rx) = mpsc::channel();
    let looper = std::thread::spawn(move || {
        let c = c;
        let mut st = 0u32;
        // SAFETY: gettid has no preconditions.
        tid_tx.send(unsafe { libc::gettid() }).unwrap();
        // Blocks forever unless something finishes: only the other thread's write can.
        // SAFETY: live client.
        let r = unsafe { hyperclient_loop(c.0, -1, &mut st) };
        tx.send((r, st)).unwrap();
    });
    // Wait until the loop thread sits in epoll_wait (what the kernel says it is doing), so
    // that the write below can only be sent if the waker ends that wait.
    let tid = tid_rx.recv().unwrap();
    let in_epoll = || {
        let s = std::fs::read_to_string(format!("/proc/self/task/{tid}/syscall")).unwrap_or_default();
        let nr = s.split_whitespace().next().unwrap_or("");
        // epoll_wait / epoll_pwait (x86-64), epoll_pwait (aarch64).
        (["232", "281"].contains(&nr) && cfg!(target_arch = "x86_64")) || (nr == "22" && cfg!(target_arch = "aarch64"))
    };
    common::wait_for("the loop thread to wait in epoll", Duration::from_secs(20), || in_epoll().then_some(()));
    // SAFETY: as above; the call takes the client's lock, which the waiting loop released.
    let live =
        unsafe { hyperclient_put(c.0, c"kv".as_ptr(), live_key.as_ptr().cast(), live_key.len(), &v, 1, st_live) };
    assert!(live > 0);
    let (r, st) = rx.recv_timeout(Duration::from_secs(20)).expect("the waiting loop was never woken");
    assert_eq!((r, st, *st_live), (live, SUCCESS, SUCCESS));
    looper.join().unwrap();
    cl.resume_daemon(0);
    let mut st = 0u32;
    // SAFETY: live client.
    assert_eq!(unsafe { hyperclient_loop(c.0, 30_000, &mut st) }, stuck);
    assert_eq!(*st_stuck, SUCCESS);
    // SAFETY: no other thread uses it.
    unsafe { hyperclient_destroy(c.0) };
}

#[test]
fn two_threads_looping_forever_share_the_events_and_both_return() {
    const OPS: usize = 3000;
    let cl = Cluster::start("threads-two-loops", 1);
    cl.add_space("space kv key k attributes string v create 4 partitions tolerate 0 failures");
    let c = new_client(&cl);
    let statuses: &'static mut [u32] = Box::leak(vec![u32::MAX; OPS].into_boxed_slice());
    let slots = statuses.as_mut_ptr() as usize;
    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let (tx, rx) = mpsc::channel();
    for _ in 0..2 {
        let (tx, done) = (tx.clone(), done.clone());
        std::thread::spawn(move || {
            let c = c;
            let mut got = Vec::new();
            let mut st = 0u32;
            loop {
                // Blocks for as long as it takes: only events or "nothing pending" end it.
                // SAFETY: live client; the status slots are leaked, so always valid.
                let r = unsafe { hyperclient_loop(c.0, -1, &mut st) };
                if r > 0 {
                    got.push(r);
                } else if done.load(std::sync::atomic::Ordering::SeqCst) {
                    break;
                } else {
                    std::thread::yield_now();
                }
            }
            tx.send(got).unwrap();
        });
    }
    let v = attr(c"v", b"x", DataType::String);
    let mut ids = Vec::new();
    for i in 0..OPS {
        let key = format!("k{i}");
        let status = (slots as *mut u32).wrapping_add(i);
        // SAFETY: live client; leaked status slots.
        let id = unsafe { hyperclient_put(c.0, c"kv".as_ptr(), key.as_ptr().cast(), key.len(), &v, 1, status) };
        assert!(id > 0);
        ids.push(id);
    }
    // Every operation finishes (whichever thread hands it out), then both loops see
    // "nothing pending" and return.
    common::wait_for("every put to finish", Duration::from_secs(30), || {
        (0..OPS).all(|i| unsafe { std::ptr::read_volatile((slots as *const u32).add(i)) } == SUCCESS).then_some(())
    });
    done.store(true, std::sync::atomic::Ordering::SeqCst);
    let a = rx.recv_timeout(Duration::from_secs(20)).expect("a looping thread never returned");
    let b = rx.recv_timeout(Duration::from_secs(20)).expect("a looping thread never returned");
    let mut all: Vec<i64> = a.into_iter().chain(b).collect();
    all.sort_unstable();
    ids.sort_unstable();
    assert_eq!(all, ids, "each id handed out once, by one of the threads");
}
