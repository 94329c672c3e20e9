//! The C functions of libhyperclient, called as a C program calls them, against real
//! coordinator and daemon processes: NULL arguments, the attribute block of get, the poll
//! descriptor, and every key function's effect on the stored object (plain form, `cond_`
//! form with a failing and a passing check, and on a missing object).

mod common;

use std::ffi::{c_char, CStr};
use std::ptr;

use ::hyperclient::ffi::*;
use ::hyperclient::{DataType, Predicate, ReturnCode};
use common::Cluster;

const KV: &str = "space kv key k attributes string v, int n, set(string) s, float f, list(int) l, \
                  map(string, int) m, map(string, string) ms create 4 partitions tolerate 0 failures";

const SUCCESS: u32 = ReturnCode::Success as u32;
const NOTFOUND: u32 = ReturnCode::NotFound as u32;
const CMPFAIL: u32 = ReturnCode::CmpFail as u32;

fn cluster(tag: &str) -> Cluster {
    let cl = Cluster::start(tag, 1);
    cl.add_space(KV);
    cl
}

fn new_client(cl: &Cluster) -> *mut hyperclient {
    // SAFETY: a NUL-terminated literal.
    let c = unsafe { hyperclient_create(c"127.0.0.1".as_ptr(), cl.coord_port) };
    assert!(!c.is_null());
    c
}

fn attr(name: &CStr, value: &[u8], dtype: DataType) -> hyperclient_attribute {
    hyperclient_attribute {
        attr: name.as_ptr(),
        value: value.as_ptr().cast(),
        value_sz: value.len(),
        datatype: dtype as u32,
    }
}

/// Loops (bounded) until an id comes back.
///
/// # Safety
/// `c` is a live client.
unsafe fn loop_one(c: *mut hyperclient, status: &mut u32) -> i64 {
    // SAFETY: forwarded.
    unsafe { hyperclient_loop(c, 30_000, status) }
}

/// Starts one operation, waits for it and returns its outcome.
///
/// # Safety
/// `c` is a live client; `start` starts one operation with pointers valid until it ends.
unsafe fn run(c: *mut hyperclient, start: impl FnOnce(*mut u32) -> i64) -> u32 {
    let mut op_st: u32 = 0;
    let mut st: u32 = 0;
    let id = start(&mut op_st);
    assert!(id > 0, "refused: {id} status {op_st}");
    // SAFETY: forwarded.
    assert_eq!(unsafe { loop_one(c, &mut st) }, id);
    assert_eq!(st, SUCCESS, "loop's own status");
    op_st
}

/// The values of the object under `key` (one per non-key attribute), or None for NOTFOUND.
///
/// # Safety
/// `c` is a live client with nothing outstanding.
unsafe fn get(c: *mut hyperclient, key: &[u8]) -> Option<Vec<Vec<u8>>> {
    let mut out: *mut hyperclient_attribute = ptr::null_mut();
    let mut out_sz: usize = 0;
    // SAFETY: valid pointers that outlive the operation.
    unsafe {
        let st =
            run(c, |st| hyperclient_get(c, c"kv".as_ptr(), key.as_ptr().cast(), key.len(), st, &mut out, &mut out_sz));
        if st == NOTFOUND {
            return None;
        }
        assert_eq!(st, SUCCESS);
        let values = std::slice::from_raw_parts(out, out_sz)
            .iter()
            .map(|a| std::slice::from_raw_parts(a.value.cast::<u8>(), a.value_sz).to_vec())
            .collect();
        hyperclient_destroy_attrs(out, out_sz);
        Some(values)
    }
}

#[test]
fn null_arguments_of_a_live_client_are_errors_not_crashes() {
    let cl = cluster("cabi-null");
    let v = attr(c"v", b"x", DataType::String);
    let mut st: u32 = 0;
    // SAFETY: every pointer is NULL or valid; that is the point of the test.
    unsafe {
        let c = new_client(&cl);
        assert_eq!(hyperclient_add_space(c, ptr::null()), ReturnCode::BadSpace as u32);
        assert_eq!(hyperclient_rm_space(c, ptr::null()), ReturnCode::NotFound as u32);
        // A NULL status: -1 and nothing else happens.
        assert_eq!(hyperclient_put(c, c"kv".as_ptr(), c"k".as_ptr(), 1, &v, 1, ptr::null_mut()), -1);
        assert_eq!(hyperclient_loop(c, 0, ptr::null_mut()), -1);
        assert_eq!(
            hyperclient_attribute_type(c, c"kv".as_ptr(), c"v".as_ptr(), ptr::null_mut()),
            DataType::Garbage as u32
        );

        let expect = |r: i64, st: u32, off: i64, rc: ReturnCode| assert_eq!((r, st), (off, rc as u32));
        // A client validates against the schema it has: fetch it (attribute_type is
        // synchronous), so that every refusal below is immediate.
        let t = hyperclient_attribute_type(c, c"kv".as_ptr(), c"v".as_ptr(), &mut st);
        assert_eq!((t, st), (DataType::String as u32, SUCCESS));
        let r = hyperclient_put(c, ptr::null(), c"k".as_ptr(), 1, &v, 1, &mut st);
        expect(r, st, -1, ReturnCode::UnknownSpace);
        let r = hyperclient_put(c, c"kv".as_ptr(), ptr::null(), 1, &v, 1, &mut st);
        expect(r, st, -1, ReturnCode::WrongType);
        let r = hyperclient_put(c, c"kv".as_ptr(), c"k".as_ptr(), 1, ptr::null(), 2, &mut st);
        expect(r, st, -2, ReturnCode::UnknownAttr);
        let chk = hyperclient_attribute_check {
            attr: c"v".as_ptr(),
            value: c"x".as_ptr(),
            value_sz: 1,
            datatype: DataType::String as u32,
            predicate: Predicate::Equals as u32,
        };
        let r = hyperclient_cond_put(c, c"kv".as_ptr(), c"k".as_ptr(), 1, ptr::null(), 1, &v, 1, &mut st);
        expect(r, st, -2, ReturnCode::UnknownAttr);
        let checks = [chk, hyperclient_attribute_check { ..chk }];
        let r = hyperclient_cond_put(c, c"kv".as_ptr(), c"k".as_ptr(), 1, checks.as_ptr(), 2, ptr::null(), 1, &mut st);
        expect(r, st, -4, ReturnCode::UnknownAttr);
        // A NULL attribute name or value inside the array.
        let no_name = hyperclient_attribute { attr: ptr::null(), ..v };
        let r = hyperclient_put(c, c"kv".as_ptr(), c"k".as_ptr(), 1, [v, no_name].as_ptr(), 2, &mut st);
        expect(r, st, -3, ReturnCode::UnknownAttr);
        let no_value = hyperclient_attribute { value: ptr::null(), ..v };
        let r = hyperclient_put(c, c"kv".as_ptr(), c"k".as_ptr(), 1, &no_value, 1, &mut st);
        expect(r, st, -2, ReturnCode::WrongType);
        // get needs both output pointers.
        let mut out: *mut hyperclient_attribute = ptr::null_mut();
        let r = hyperclient_get(c, c"kv".as_ptr(), c"k".as_ptr(), 1, &mut st, &mut out, ptr::null_mut());
        expect(r, st, -1, ReturnCode::Garbage);
        let mut out_sz = 0usize;
        let r = hyperclient_get(c, c"kv".as_ptr(), c"k".as_ptr(), 1, &mut st, ptr::null_mut(), &mut out_sz);
        expect(r, st, -1, ReturnCode::Garbage);
        // None of that reached the daemon.
        assert_eq!(hyperclient_loop(c, 0, &mut st), -1);
        assert_eq!(st, ReturnCode::NonePending as u32);
        assert_eq!(get(c, b"k"), None);

        // A NULL key of size 0 is the empty key.
        assert!(hyperclient_del(c, c"kv".as_ptr(), ptr::null(), 0, &mut st) > 0);
        assert!(loop_one(c, &mut st) > 0);
        assert_eq!(st, NOTFOUND);
        assert_eq!(run(c, |st| hyperclient_put(c, c"kv".as_ptr(), ptr::null(), 0, &v, 1, st)), SUCCESS);
        assert_eq!(get(c, b""), Some(vec![b"x".to_vec(), vec![], vec![], vec![], vec![], vec![], vec![]]));

        let t = hyperclient_attribute_type(c, c"kv".as_ptr(), c"s".as_ptr(), &mut st);
        assert_eq!((t, st), (DataType::SetString as u32, SUCCESS));
        let t = hyperclient_attribute_type(c, c"kv".as_ptr(), ptr::null(), &mut st);
        assert_eq!((t, st), (DataType::Garbage as u32, ReturnCode::UnknownAttr as u32));
        let t = hyperclient_attribute_type(c, ptr::null(), c"s".as_ptr(), &mut st);
        assert_eq!((t, st), (DataType::Garbage as u32, ReturnCode::UnknownSpace as u32));
        hyperclient_destroy(c);
    }
}

#[test]
fn a_fresh_client_never_blocks_and_reports_through_loop() {
    let cl = cluster("cabi-fresh");
    let v = attr(c"v", b"x", DataType::String);
    let mut st: u32 = 0;
    let mut lst: u32 = 0;
    // SAFETY: valid pointers that outlive the operations.
    unsafe {
        // Without a configuration, calls return ids at once; what the schema would have
        // refused at call time is the operation's outcome instead.
        let c = new_client(&cl);
        let no_name = hyperclient_attribute { attr: ptr::null(), ..v };
        let bad = hyperclient_put(c, c"kv".as_ptr(), c"k".as_ptr(), 1, [v, no_name].as_ptr(), 2, &mut st);
        assert!(bad > 0);
        assert_eq!(hyperclient_loop(c, 10_000, &mut lst), bad);
        assert_eq!(st, ReturnCode::UnknownAttr as u32);
        hyperclient_destroy(c);

        let c = new_client(&cl);
        let mut st2: u32 = 0;
        let nowhere = hyperclient_put(c, c"no_such_space".as_ptr(), c"k".as_ptr(), 1, &v, 1, &mut st);
        let good = hyperclient_put(c, c"kv".as_ptr(), c"fresh".as_ptr(), 5, &v, 1, &mut st2);
        assert!(nowhere > 0 && good > nowhere);
        let first = hyperclient_loop(c, 10_000, &mut lst);
        let second = hyperclient_loop(c, 10_000, &mut lst);
        let mut got = [first, second];
        got.sort();
        assert_eq!(got, [nowhere, good]);
        assert_eq!((st, st2), (ReturnCode::UnknownSpace as u32, SUCCESS));
        // With the configuration now current, an unknown space is refused at once.
        assert_eq!(hyperclient_put(c, c"no_such_space".as_ptr(), c"k".as_ptr(), 1, &v, 1, &mut st), -1);
        assert_eq!(st, ReturnCode::UnknownSpace as u32);
        hyperclient_destroy(c);

        // No coordinator: the call still returns at once; loop reports COORDFAIL.
        let port = common::free_port();
        let c = hyperclient_create(c"127.0.0.1".as_ptr(), port);
        let t0 = std::time::Instant::now();
        let id = hyperclient_put(c, c"kv".as_ptr(), c"k".as_ptr(), 1, &v, 1, &mut st);
        assert!(id > 0);
        assert!(t0.elapsed() < std::time::Duration::from_secs(1), "the call blocked");
        assert_eq!(hyperclient_loop(c, 15_000, &mut lst), id);
        assert_eq!(st, ReturnCode::CoordFail as u32);
        hyperclient_destroy(c);
    }
}

#[test]
fn get_returns_one_block_and_the_op_status_wins_over_loops() {
    let cl = cluster("cabi-get");
    let c = new_client(&cl);
    let n = 42i64.to_le_bytes();
    let attrs = [attr(c"v", b"hello", DataType::String), attr(c"n", &n, DataType::Int64)];
    let mut st: u32 = 0;
    let mut out: *mut hyperclient_attribute = ptr::null_mut();
    let mut out_sz: usize = 99;
    // SAFETY: valid pointers that outlive the operations.
    unsafe {
        let id = hyperclient_put(c, c"kv".as_ptr(), c"k".as_ptr(), 1, attrs.as_ptr(), 2, &mut st);
        assert!(id > 0);
        assert_eq!(loop_one(c, &mut st), id);
        assert_eq!(st, SUCCESS);

        // The same variable for the op's status and loop's: the op's outcome is what stays.
        let id = hyperclient_get(c, c"kv".as_ptr(), c"nope".as_ptr(), 4, &mut st, &mut out, &mut out_sz);
        assert_eq!(loop_one(c, &mut st), id);
        assert_eq!(st, NOTFOUND);
        assert!(out.is_null() && out_sz == 99, "outputs untouched unless SUCCESS");

        let mut op_st: u32 = 0;
        let id = hyperclient_get(c, c"kv".as_ptr(), c"k".as_ptr(), 1, &mut op_st, &mut out, &mut out_sz);
        assert_eq!(loop_one(c, &mut st), id);
        assert_eq!((st, op_st), (SUCCESS, SUCCESS));
        assert_eq!(out_sz, 7);
        let got = std::slice::from_raw_parts(out, out_sz);
        let names: Vec<&[u8]> = got.iter().map(|a| CStr::from_ptr(a.attr).to_bytes()).collect();
        assert_eq!(names, [&b"v"[..], b"n", b"s", b"f", b"l", b"m", b"ms"]);
        let types: Vec<u32> = got.iter().map(|a| a.datatype).collect();
        let want = [
            DataType::String,
            DataType::Int64,
            DataType::SetString,
            DataType::Float,
            DataType::ListInt64,
            DataType::MapStringInt64,
            DataType::MapStringString,
        ];
        assert_eq!(types, want.map(|t| t as u32));
        assert_eq!(std::slice::from_raw_parts(got[0].value.cast::<u8>(), got[0].value_sz), b"hello");
        assert_eq!(std::slice::from_raw_parts(got[1].value.cast::<u8>(), got[1].value_sz), n);
        assert!(got[2..].iter().all(|a| a.value_sz == 0), "never-set attributes are empty");
        hyperclient_destroy_attrs(out, out_sz);

        assert_eq!(hyperclient_loop(c, 0, &mut st), -1);
        assert_eq!(st, ReturnCode::NonePending as u32);
        hyperclient_destroy(c);
    }
}

fn readable(fd: i32, timeout_ms: i32) -> bool {
    let mut p = libc::pollfd { fd, events: libc::POLLIN, revents: 0 };
    // SAFETY: one valid pollfd.
    unsafe { libc::poll(&mut p, 1, timeout_ms) == 1 }
}

#[test]
fn poll_fd_wakes_the_callers_loop_for_queued_and_answered_requests() {
    let cl = cluster("cabi-pollfd");
    let c = new_client(&cl);
    let v = attr(c"v", b"x", DataType::String);
    let mut st: u32 = 0;
    let mut op_st: u32 = 0;
    // SAFETY: valid pointers that outlive the operations.
    unsafe {
        let fd = hyperclient_poll_fd(c);
        assert!(fd >= 0);
        // Settle: complete operations until no readiness is left over (connecting to the
        // coordinator and the daemon raises events), so the check below means something.
        let mut settled = false;
        for _ in 0..100 {
            let id = hyperclient_put(c, c"kv".as_ptr(), c"k".as_ptr(), 1, &v, 1, &mut op_st);
            assert_eq!(loop_one(c, &mut st), id);
            if !readable(fd, 0) {
                settled = true;
                break;
            }
        }
        assert!(settled);
        let id = hyperclient_put(c, c"kv".as_ptr(), c"k".as_ptr(), 1, &v, 1, &mut op_st);
        assert!(id > 0);
        // The request is only queued; the descriptor must still wake the caller.
        assert!(readable(fd, 10_000), "queued request did not make the fd readable");
        let mut got = -1;
        for _ in 0..1000 {
            if !readable(fd, 10_000) {
                break;
            }
            let r = hyperclient_loop(c, 0, &mut st);
            if r > 0 {
                got = r;
                break;
            }
            assert_eq!(st, ReturnCode::Timeout as u32);
        }
        assert_eq!(got, id);
        assert_eq!(op_st, SUCCESS);
        hyperclient_destroy(c);
    }
}

type AttrFn = unsafe extern "C" fn(
    *mut hyperclient,
    *const c_char,
    *const c_char,
    usize,
    *const hyperclient_attribute,
    usize,
    *mut HyperclientReturncode,
) -> i64;
type CondAttrFn = unsafe extern "C" fn(
    *mut hyperclient,
    *const c_char,
    *const c_char,
    usize,
    *const hyperclient_attribute_check,
    usize,
    *const hyperclient_attribute,
    usize,
    *mut HyperclientReturncode,
) -> i64;
type MapFn = unsafe extern "C" fn(
    *mut hyperclient,
    *const c_char,
    *const c_char,
    usize,
    *const hyperclient_map_attribute,
    usize,
    *mut HyperclientReturncode,
) -> i64;
type CondMapFn = unsafe extern "C" fn(
    *mut hyperclient,
    *const c_char,
    *const c_char,
    usize,
    *const hyperclient_attribute_check,
    usize,
    *const hyperclient_map_attribute,
    usize,
    *mut HyperclientReturncode,
) -> i64;

// Encodings of the values the key-function test expects (datatypes.md).
fn int(n: i64) -> Vec<u8> {
    n.to_le_bytes().to_vec()
}
fn ints(xs: &[i64]) -> Vec<u8> {
    xs.iter().flat_map(|x| x.to_le_bytes()).collect()
}
fn lp(s: &str) -> Vec<u8> {
    [&(s.len() as u32).to_le_bytes()[..], s.as_bytes()].concat()
}
fn strs(xs: &[&str]) -> Vec<u8> {
    xs.iter().flat_map(|x| lp(x)).collect()
}
fn map_si(xs: &[(&str, i64)]) -> Vec<u8> {
    xs.iter().flat_map(|(k, v)| [lp(k), int(*v)].concat()).collect()
}
fn map_ss(xs: &[(&str, &str)]) -> Vec<u8> {
    xs.iter().flat_map(|(k, v)| [lp(k), lp(v)].concat()).collect()
}

/// Indexes of the non-key attributes of `kv` in a get's result.
const V: usize = 0;
const N: usize = 1;
const S: usize = 2;
const L: usize = 4;
const M: usize = 5;
const MS: usize = 6;

enum Call {
    Attrs(AttrFn, Option<CondAttrFn>, hyperclient_attribute),
    Maps(MapFn, CondMapFn, hyperclient_map_attribute),
}

/// One key function: what it does to a missing object and to the object `initial` stores,
/// and the attribute it changes, after one application and after two.
struct Row {
    name: &'static str,
    call: Call,
    on_missing: u32,
    on_present: u32,
    attr: usize,
    once: Vec<u8>,
    twice: Vec<u8>,
}

#[test]
fn every_key_function_has_its_effect_and_its_cond_form_checks_first() {
    use Call::{Attrs, Maps};
    let cl = cluster("cabi-keyfns");
    let c = new_client(&cl);
    let (space, five) = (c"kv".as_ptr(), 5i64.to_le_bytes());
    let set_x = strs(&["x"]);
    let set_z = strs(&["z"]);
    let n = attr(c"n", &five, DataType::Int64);
    let v = attr(c"v", b"x", DataType::String);
    let l = attr(c"l", &five, DataType::Int64);
    let s_add = attr(c"s", b"y", DataType::String);
    let s_rm = attr(c"s", b"x", DataType::String);
    let s_inter = attr(c"s", &set_x, DataType::SetString);
    let s_union = attr(c"s", &set_z, DataType::SetString);
    let m_rm = attr(c"m", b"k", DataType::String);
    let num = hyperclient_map_attribute {
        attr: c"m".as_ptr(),
        map_key: c"k".as_ptr(),
        map_key_sz: 1,
        map_key_datatype: DataType::String as u32,
        value: five.as_ptr().cast(),
        value_sz: 8,
        value_datatype: DataType::Int64 as u32,
    };
    let text = hyperclient_map_attribute {
        attr: c"ms".as_ptr(),
        value: c"x".as_ptr(),
        value_sz: 1,
        value_datatype: DataType::String as u32,
        ..num
    };
    // The object every row starts from: v "b", n 12, s {m, x}, l [1], m {j: 1, k: 12},
    // ms {k: "b"}.
    let (set_mx, list_1, map_12, map_b) =
        (strs(&["m", "x"]), ints(&[1]), map_si(&[("j", 1), ("k", 12)]), map_ss(&[("k", "b")]));
    let twelve = 12i64.to_le_bytes();
    let initial = [
        attr(c"v", b"b", DataType::String),
        attr(c"n", &twelve, DataType::Int64),
        attr(c"s", &set_mx, DataType::SetString),
        attr(c"l", &list_1, DataType::ListInt64),
        attr(c"m", &map_12, DataType::MapStringInt64),
        attr(c"ms", &map_b, DataType::MapStringString),
    ];
    // (after one application, after two) of the int64 operations with argument 5 on 12.
    let num_row = |name, call, attr, once: i64, twice: i64| Row {
        name,
        call,
        on_missing: NOTFOUND,
        on_present: SUCCESS,
        attr,
        once: if attr == M { map_si(&[("j", 1), ("k", once)]) } else { int(once) },
        twice: if attr == M { map_si(&[("j", 1), ("k", twice)]) } else { int(twice) },
    };
    let row = |name, call, attr, once: Vec<u8>, twice: Vec<u8>| Row {
        name,
        call,
        on_missing: NOTFOUND,
        on_present: SUCCESS,
        attr,
        once,
        twice,
    };
    let rows = vec![
        Row {
            name: "put",
            call: Attrs(hyperclient_put, Some(hyperclient_cond_put), v),
            on_missing: SUCCESS,
            on_present: SUCCESS,
            attr: V,
            once: b"x".to_vec(),
            twice: b"x".to_vec(),
        },
        Row {
            name: "put_if_not_exist",
            call: Attrs(hyperclient_put_if_not_exist, None, v),
            on_missing: SUCCESS,
            on_present: CMPFAIL,
            attr: V,
            once: b"b".to_vec(),
            twice: b"b".to_vec(),
        },
        num_row("atomic_add", Attrs(hyperclient_atomic_add, Some(hyperclient_cond_atomic_add), n), N, 17, 22),
        num_row("atomic_sub", Attrs(hyperclient_atomic_sub, Some(hyperclient_cond_atomic_sub), n), N, 7, 2),
        num_row("atomic_mul", Attrs(hyperclient_atomic_mul, Some(hyperclient_cond_atomic_mul), n), N, 60, 300),
        num_row("atomic_div", Attrs(hyperclient_atomic_div, Some(hyperclient_cond_atomic_div), n), N, 2, 0),
        num_row("atomic_mod", Attrs(hyperclient_atomic_mod, Some(hyperclient_cond_atomic_mod), n), N, 2, 2),
        num_row("atomic_and", Attrs(hyperclient_atomic_and, Some(hyperclient_cond_atomic_and), n), N, 4, 4),
        num_row("atomic_or", Attrs(hyperclient_atomic_or, Some(hyperclient_cond_atomic_or), n), N, 13, 13),
        num_row("atomic_xor", Attrs(hyperclient_atomic_xor, Some(hyperclient_cond_atomic_xor), n), N, 9, 12),
        row(
            "string_prepend",
            Attrs(hyperclient_string_prepend, Some(hyperclient_cond_string_prepend), v),
            V,
            b"xb".to_vec(),
            b"xxb".to_vec(),
        ),
        row(
            "string_append",
            Attrs(hyperclient_string_append, Some(hyperclient_cond_string_append), v),
            V,
            b"bx".to_vec(),
            b"bxx".to_vec(),
        ),
        row(
            "list_lpush",
            Attrs(hyperclient_list_lpush, Some(hyperclient_cond_list_lpush), l),
            L,
            ints(&[5, 1]),
            ints(&[5, 5, 1]),
        ),
        row(
            "list_rpush",
            Attrs(hyperclient_list_rpush, Some(hyperclient_cond_list_rpush), l),
            L,
            ints(&[1, 5]),
            ints(&[1, 5, 5]),
        ),
        row(
            "set_add",
            Attrs(hyperclient_set_add, Some(hyperclient_cond_set_add), s_add),
            S,
            strs(&["m", "x", "y"]),
            strs(&["m", "x", "y"]),
        ),
        row(
            "set_remove",
            Attrs(hyperclient_set_remove, Some(hyperclient_cond_set_remove), s_rm),
            S,
            strs(&["m"]),
            strs(&["m"]),
        ),
        row(
            "set_intersect",
            Attrs(hyperclient_set_intersect, Some(hyperclient_cond_set_intersect), s_inter),
            S,
            strs(&["x"]),
            strs(&["x"]),
        ),
        row(
            "set_union",
            Attrs(hyperclient_set_union, Some(hyperclient_cond_set_union), s_union),
            S,
            strs(&["m", "x", "z"]),
            strs(&["m", "x", "z"]),
        ),
        row(
            "map_remove",
            Attrs(hyperclient_map_remove, Some(hyperclient_cond_map_remove), m_rm),
            M,
            map_si(&[("j", 1)]),
            map_si(&[("j", 1)]),
        ),
        row(
            "map_add",
            Maps(hyperclient_map_add, hyperclient_cond_map_add, num),
            M,
            map_si(&[("j", 1), ("k", 5)]),
            map_si(&[("j", 1), ("k", 5)]),
        ),
        num_row("map_atomic_add", Maps(hyperclient_map_atomic_add, hyperclient_cond_map_atomic_add, num), M, 17, 22),
        num_row("map_atomic_sub", Maps(hyperclient_map_atomic_sub, hyperclient_cond_map_atomic_sub, num), M, 7, 2),
        num_row("map_atomic_mul", Maps(hyperclient_map_atomic_mul, hyperclient_cond_map_atomic_mul, num), M, 60, 300),
        num_row("map_atomic_div", Maps(hyperclient_map_atomic_div, hyperclient_cond_map_atomic_div, num), M, 2, 0),
        num_row("map_atomic_mod", Maps(hyperclient_map_atomic_mod, hyperclient_cond_map_atomic_mod, num), M, 2, 2),
        num_row("map_atomic_and", Maps(hyperclient_map_atomic_and, hyperclient_cond_map_atomic_and, num), M, 4, 4),
        num_row("map_atomic_or", Maps(hyperclient_map_atomic_or, hyperclient_cond_map_atomic_or, num), M, 13, 13),
        num_row("map_atomic_xor", Maps(hyperclient_map_atomic_xor, hyperclient_cond_map_atomic_xor, num), M, 9, 12),
        row(
            "map_string_prepend",
            Maps(hyperclient_map_string_prepend, hyperclient_cond_map_string_prepend, text),
            MS,
            map_ss(&[("k", "xb")]),
            map_ss(&[("k", "xxb")]),
        ),
        row(
            "map_string_append",
            Maps(hyperclient_map_string_append, hyperclient_cond_map_string_append, text),
            MS,
            map_ss(&[("k", "bx")]),
            map_ss(&[("k", "bxx")]),
        ),
    ];

    // SAFETY: every pointer passed is valid for the duration of its operation.
    unsafe {
        let reset = |key: &[u8]| {
            let st = run(c, |st| {
                hyperclient_put(c, space, key.as_ptr().cast(), key.len(), initial.as_ptr(), initial.len(), st)
            });
            assert_eq!(st, SUCCESS);
        };
        for r in &rows {
            let name = r.name;
            let key = name.as_bytes();
            let missing = format!("{name}-missing");
            let missing = missing.as_bytes();
            // The cond_ forms carry one check on the key: equal to itself, or to something else.
            let check = |value: &[u8]| hyperclient_attribute_check {
                attr: c"k".as_ptr(),
                value: value.as_ptr().cast(),
                value_sz: value.len(),
                datatype: DataType::String as u32,
                predicate: Predicate::Equals as u32,
            };
            let (pass, fail) = (check(key), check(b"other"));
            let plain = |key: &[u8]| {
                run(c, |st| match &r.call {
                    Attrs(f, _, a) => f(c, space, key.as_ptr().cast(), key.len(), a, 1, st),
                    Maps(f, _, a) => f(c, space, key.as_ptr().cast(), key.len(), a, 1, st),
                })
            };
            let cond = |key: &[u8], chk: &hyperclient_attribute_check| {
                run(c, |st| match &r.call {
                    Attrs(_, Some(f), a) => f(c, space, key.as_ptr().cast(), key.len(), chk, 1, a, 1, st),
                    Attrs(_, None, _) => unreachable!(),
                    Maps(_, f, a) => f(c, space, key.as_ptr().cast(), key.len(), chk, 1, a, 1, st),
                })
            };
            let value = |key: &[u8]| get(c, key).map(|vals| vals[r.attr].clone());

            assert_eq!(plain(missing), r.on_missing, "{name} on a missing object");
            assert_eq!(get(c, missing).is_some(), r.on_missing == SUCCESS, "{name} created the object or not");
            reset(key);
            assert_eq!(plain(key), r.on_present, "{name}");
            assert_eq!(value(key).as_ref(), Some(&r.once), "{name}: the object after one call");
            let has_cond = !matches!(r.call, Attrs(_, None, _));
            if has_cond {
                let missing = format!("cond_{name}-missing");
                assert_eq!(cond(missing.as_bytes(), &pass), NOTFOUND, "cond_{name} on a missing object");
                assert_eq!(cond(key, &fail), CMPFAIL, "cond_{name} with a failing check");
                assert_eq!(value(key).as_ref(), Some(&r.once), "cond_{name}: a failed check changes nothing");
                assert_eq!(cond(key, &pass), SUCCESS, "cond_{name} with a passing check");
                assert_eq!(value(key).as_ref(), Some(&r.twice), "cond_{name}: the object after a second call");
            }
            // The other attributes are untouched.
            let all = get(c, key).unwrap();
            for (i, a) in initial.iter().enumerate() {
                let at = [V, N, S, L, M, MS][i];
                if at != r.attr {
                    let want = std::slice::from_raw_parts(a.value.cast::<u8>(), a.value_sz);
                    assert_eq!(all[at], want, "{name} changed attribute {at}");
                }
            }
        }

        // del and cond_del.
        let (key, pass, fail) = (
            b"del",
            hyperclient_attribute_check {
                attr: c"k".as_ptr(),
                value: c"del".as_ptr(),
                value_sz: 3,
                datatype: DataType::String as u32,
                predicate: Predicate::Equals as u32,
            },
            hyperclient_attribute_check {
                attr: c"k".as_ptr(),
                value: c"other".as_ptr(),
                value_sz: 5,
                datatype: DataType::String as u32,
                predicate: Predicate::Equals as u32,
            },
        );
        let k = key.as_ptr().cast();
        assert_eq!(run(c, |st| hyperclient_del(c, space, k, 3, st)), NOTFOUND);
        assert_eq!(run(c, |st| hyperclient_cond_del(c, space, k, 3, &pass, 1, st)), NOTFOUND);
        reset(key);
        assert_eq!(run(c, |st| hyperclient_del(c, space, k, 3, st)), SUCCESS);
        assert_eq!(get(c, key), None);
        reset(key);
        assert_eq!(run(c, |st| hyperclient_cond_del(c, space, k, 3, &fail, 1, st)), CMPFAIL);
        assert!(get(c, key).is_some());
        assert_eq!(run(c, |st| hyperclient_cond_del(c, space, k, 3, &pass, 1, st)), SUCCESS);
        assert_eq!(get(c, key), None);

        // A map attribute whose value type does not suit the operation is refused at once.
        let (key, mut st) = (c"k".as_ptr(), 0u32);
        let r = hyperclient_map_string_append(c, space, key, 1, &num, 1, &mut st);
        assert_eq!((r, st), (-2, ReturnCode::WrongType as u32));
        // Map entry 1 (after one check): a string value for a map of int64 values.
        let bad = hyperclient_map_attribute { attr: c"m".as_ptr(), ..text };
        let r = hyperclient_cond_map_add(c, space, key, 1, &pass, 1, [num, bad].as_ptr(), 2, &mut st);
        assert_eq!((r, st), (-4, ReturnCode::WrongType as u32));
        assert_eq!(hyperclient_loop(c, 0, &mut st), -1);
        assert_eq!(st, ReturnCode::NonePending as u32);
        hyperclient_destroy(c);
    }
}
