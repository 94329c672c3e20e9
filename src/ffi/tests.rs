//! The C functions themselves, called as a C program would, against the fake servers.

use std::ffi::{c_char, CStr};
use std::ptr;

use hyperdex_core::codes::{DataType, Predicate, ReturnCode};
use hyperdex_core::ops::FuncOp;
use hyperdex_core::proto::{flags, Msg};

use super::keyops::*;
use super::*;
use crate::testing::cluster;

const GARBAGE: u32 = ReturnCode::Garbage as u32;

fn new_client(port: u16) -> *mut hyperclient {
    // SAFETY: a NUL-terminated literal.
    let c = unsafe { hyperclient_create(c"127.0.0.1".as_ptr(), port) };
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
    unsafe { hyperclient_loop(c, 10_000, status) }
}

#[test]
fn every_return_code_has_a_name_and_a_message() {
    for rc in ReturnCode::ALL {
        // SAFETY: the functions return static NUL-terminated strings.
        let (name, msg) = unsafe {
            (
                CStr::from_ptr(hyperclient_returncode_to_string(*rc as u32)),
                CStr::from_ptr(hyperclient_returncode_message(*rc as u32)),
            )
        };
        assert_eq!(name.to_str().unwrap(), rc.symbol());
        assert_eq!(msg.to_str().unwrap(), rc.message());
    }
    // SAFETY: as above.
    unsafe {
        assert_eq!(CStr::from_ptr(hyperclient_returncode_to_string(8518)).to_bytes(), b"BUG");
        assert_eq!(CStr::from_ptr(hyperclient_returncode_message(0)).to_bytes(), b"Unknown Error (file a bug)");
        assert_eq!(CStr::from_ptr(hyperclient_returncode_to_string(8533)).to_bytes(), b"HYPERCLIENT_OFFLINE");
    }
}

#[test]
fn null_arguments_are_errors_not_crashes() {
    let (coord, _d) = cluster();
    let v = attr(c"v", b"x", DataType::String);
    let mut st: u32 = 0;
    // SAFETY: every pointer is NULL or valid; that is the point of the test.
    unsafe {
        assert!(hyperclient_create(ptr::null(), 1).is_null());
        assert_eq!(*libc::__errno_location(), libc::EINVAL);
        hyperclient_destroy(ptr::null_mut());
        hyperclient_destroy_attrs(ptr::null_mut(), 3);
        assert_eq!(hyperclient_poll_fd(ptr::null_mut()), -1);
        assert_eq!(hyperclient_add_space(ptr::null_mut(), c"space x key k".as_ptr()), GARBAGE);
        assert_eq!(hyperclient_put(ptr::null_mut(), c"kv".as_ptr(), c"k".as_ptr(), 1, &v, 1, &mut st), -1);
        assert_eq!(st, GARBAGE);
        assert_eq!(hyperclient_loop(ptr::null_mut(), 0, &mut st), -1);
        assert_eq!(st, GARBAGE);

        let c = new_client(coord.port);
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
        // A NULL key of size 0 is the empty key.
        assert!(hyperclient_del(c, c"kv".as_ptr(), ptr::null(), 0, &mut st) > 0);
        assert!(loop_one(c, &mut st) > 0);
        assert_eq!(st, ReturnCode::NotFound as u32);

        let t = hyperclient_attribute_type(c, c"kv".as_ptr(), c"s".as_ptr(), &mut st);
        assert_eq!((t, st), (DataType::SetString as u32, ReturnCode::Success as u32));
        let t = hyperclient_attribute_type(c, c"kv".as_ptr(), ptr::null(), &mut st);
        assert_eq!((t, st), (DataType::Garbage as u32, ReturnCode::UnknownAttr as u32));
        hyperclient_destroy(c);
    }
}

#[test]
fn get_returns_one_block_and_the_op_status_wins_over_loops() {
    let (coord, _d) = cluster();
    let c = new_client(coord.port);
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
        assert_eq!(st, ReturnCode::Success as u32);

        // The same variable for the op's status and loop's: the op's outcome is what stays.
        let id = hyperclient_get(c, c"kv".as_ptr(), c"nope".as_ptr(), 4, &mut st, &mut out, &mut out_sz);
        assert_eq!(loop_one(c, &mut st), id);
        assert_eq!(st, ReturnCode::NotFound as u32);
        assert!(out.is_null() && out_sz == 99, "outputs untouched unless SUCCESS");

        let mut op_st: u32 = 0;
        let id = hyperclient_get(c, c"kv".as_ptr(), c"k".as_ptr(), 1, &mut op_st, &mut out, &mut out_sz);
        assert_eq!(loop_one(c, &mut st), id);
        assert_eq!((st, op_st), (ReturnCode::Success as u32, ReturnCode::Success as u32));
        assert_eq!(out_sz, 7);
        let got = std::slice::from_raw_parts(out, out_sz);
        let names: Vec<&[u8]> = got.iter().map(|a| CStr::from_ptr(a.attr).to_bytes()).collect();
        assert_eq!(names, [&b"v"[..], b"n", b"s", b"f", b"l", b"m", b"ms"]);
        assert_eq!(std::slice::from_raw_parts(got[0].value.cast::<u8>(), got[0].value_sz), b"hello");
        assert_eq!(std::slice::from_raw_parts(got[1].value.cast::<u8>(), got[1].value_sz), n);
        assert_eq!((got[2].value_sz, got[2].datatype), (0, DataType::SetString as u32));
        assert_eq!((got[3].value_sz, got[3].datatype), (0, DataType::Float as u32));
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
    let (coord, _d) = cluster();
    let c = new_client(coord.port);
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
        assert_eq!(op_st, ReturnCode::Success as u32);
        hyperclient_destroy(c);
    }
}

#[test]
fn string_helpers_return_static_strings() {
    // Stable pointers: the same code gives the same pointer each time.
    let a = hyperclient_returncode_to_string(ReturnCode::Success as u32);
    let b = hyperclient_returncode_to_string(ReturnCode::Success as u32);
    assert_eq!(a, b);
    // SAFETY: a static NUL-terminated string.
    let s = unsafe { CStr::from_ptr(a as *const c_char) };
    assert_eq!(s.to_bytes(), b"HYPERCLIENT_SUCCESS");
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

/// Starts one operation, waits for it (whatever its outcome), and returns the request the
/// daemon received.
///
/// # Safety
/// `c` is a live client; `start` starts one operation with valid pointers.
unsafe fn sent(c: *mut hyperclient, d: &crate::testing::FakeDaemon, start: impl FnOnce(*mut u32) -> i64) -> Msg {
    let mut op_st: u32 = 0;
    let mut st: u32 = 0;
    let id = start(&mut op_st);
    assert!(id > 0, "refused: {id} status {op_st}");
    // SAFETY: forwarded.
    assert_eq!(unsafe { loop_one(c, &mut st) }, id);
    d.requests.lock().unwrap().last().cloned().expect("a request")
}

fn atomic_parts(m: &Msg) -> (u8, usize, Vec<FuncOp>) {
    match m {
        Msg::Atomic { flags, checks, funcs, .. } => (*flags, checks.len(), funcs.iter().map(|f| f.op).collect()),
        other => panic!("not an atomic request: {other:?}"),
    }
}

#[test]
fn every_key_function_sends_its_flags_and_function() {
    use hyperdex_core::ops::FuncOp::*;
    let (coord, d) = cluster();
    let c = new_client(coord.port);
    let nf = flags::FAIL_IF_NOT_FOUND;
    let eight = 3i64.to_le_bytes();
    let one_set = b"\x01\0\0\0x";
    // The check every cond_ form carries: the key equals itself.
    let check = hyperclient_attribute_check {
        attr: c"k".as_ptr(),
        value: c"k".as_ptr(),
        value_sz: 1,
        datatype: DataType::String as u32,
        predicate: Predicate::Equals as u32,
    };
    let (space, key) = (c"kv".as_ptr(), c"k".as_ptr());
    let n = attr(c"n", &eight, DataType::Int64);
    let v = attr(c"v", b"x", DataType::String);
    let l = attr(c"l", &eight, DataType::Int64);
    let s = attr(c"s", b"x", DataType::String);
    let ss = attr(c"s", one_set, DataType::SetString);
    let mkey = attr(c"m", b"k", DataType::String);
    type Row<'a> = (&'a str, AttrFn, Option<CondAttrFn>, hyperclient_attribute, u8, FuncOp);
    let plain: Vec<Row<'_>> = vec![
        ("put", hyperclient_put, Some(hyperclient_cond_put), v, 0, Set),
        ("put_if_not_exist", hyperclient_put_if_not_exist, None, v, flags::FAIL_IF_FOUND, Set),
        ("atomic_add", hyperclient_atomic_add, Some(hyperclient_cond_atomic_add), n, nf, NumAdd),
        ("atomic_sub", hyperclient_atomic_sub, Some(hyperclient_cond_atomic_sub), n, nf, NumSub),
        ("atomic_mul", hyperclient_atomic_mul, Some(hyperclient_cond_atomic_mul), n, nf, NumMul),
        ("atomic_div", hyperclient_atomic_div, Some(hyperclient_cond_atomic_div), n, nf, NumDiv),
        ("atomic_mod", hyperclient_atomic_mod, Some(hyperclient_cond_atomic_mod), n, nf, NumMod),
        ("atomic_and", hyperclient_atomic_and, Some(hyperclient_cond_atomic_and), n, nf, NumAnd),
        ("atomic_or", hyperclient_atomic_or, Some(hyperclient_cond_atomic_or), n, nf, NumOr),
        ("atomic_xor", hyperclient_atomic_xor, Some(hyperclient_cond_atomic_xor), n, nf, NumXor),
        ("string_prepend", hyperclient_string_prepend, Some(hyperclient_cond_string_prepend), v, nf, StringPrepend),
        ("string_append", hyperclient_string_append, Some(hyperclient_cond_string_append), v, nf, StringAppend),
        ("list_lpush", hyperclient_list_lpush, Some(hyperclient_cond_list_lpush), l, nf, ListLpush),
        ("list_rpush", hyperclient_list_rpush, Some(hyperclient_cond_list_rpush), l, nf, ListRpush),
        ("set_add", hyperclient_set_add, Some(hyperclient_cond_set_add), s, nf, SetAdd),
        ("set_remove", hyperclient_set_remove, Some(hyperclient_cond_set_remove), s, nf, SetRemove),
        ("set_intersect", hyperclient_set_intersect, Some(hyperclient_cond_set_intersect), ss, nf, SetIntersect),
        ("set_union", hyperclient_set_union, Some(hyperclient_cond_set_union), ss, nf, SetUnion),
        ("map_remove", hyperclient_map_remove, Some(hyperclient_cond_map_remove), mkey, nf, MapRemove),
    ];
    // SAFETY: every pointer passed is valid for the duration of its operation.
    unsafe {
        for (name, f, cond, a, fl, op) in plain {
            let m = sent(c, &d, |st| f(c, space, key, 1, &a, 1, st));
            assert_eq!(atomic_parts(&m), (fl, 0, vec![op]), "{name}");
            if let Some(cf) = cond {
                let m = sent(c, &d, |st| cf(c, space, key, 1, &check, 1, &a, 1, st));
                // cond_put fails if the object is absent, unlike put.
                assert_eq!(atomic_parts(&m), (nf, 1, vec![op]), "cond_{name}");
            }
        }
        let m = sent(c, &d, |st| hyperclient_del(c, space, key, 1, st));
        assert_eq!(atomic_parts(&m), (nf | flags::ERASE, 0, vec![]));
        let m = sent(c, &d, |st| hyperclient_cond_del(c, space, key, 1, &check, 1, st));
        assert_eq!(atomic_parts(&m), (nf | flags::ERASE, 1, vec![]));
    }

    let num = hyperclient_map_attribute {
        attr: c"m".as_ptr(),
        map_key: c"k".as_ptr(),
        map_key_sz: 1,
        map_key_datatype: DataType::String as u32,
        value: eight.as_ptr().cast(),
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
    let maps: Vec<(&str, MapFn, CondMapFn, hyperclient_map_attribute, FuncOp)> = vec![
        ("map_add", hyperclient_map_add, hyperclient_cond_map_add, num, MapAdd),
        ("map_atomic_add", hyperclient_map_atomic_add, hyperclient_cond_map_atomic_add, num, NumAdd),
        ("map_atomic_sub", hyperclient_map_atomic_sub, hyperclient_cond_map_atomic_sub, num, NumSub),
        ("map_atomic_mul", hyperclient_map_atomic_mul, hyperclient_cond_map_atomic_mul, num, NumMul),
        ("map_atomic_div", hyperclient_map_atomic_div, hyperclient_cond_map_atomic_div, num, NumDiv),
        ("map_atomic_mod", hyperclient_map_atomic_mod, hyperclient_cond_map_atomic_mod, num, NumMod),
        ("map_atomic_and", hyperclient_map_atomic_and, hyperclient_cond_map_atomic_and, num, NumAnd),
        ("map_atomic_or", hyperclient_map_atomic_or, hyperclient_cond_map_atomic_or, num, NumOr),
        ("map_atomic_xor", hyperclient_map_atomic_xor, hyperclient_cond_map_atomic_xor, num, NumXor),
        (
            "map_string_prepend",
            hyperclient_map_string_prepend,
            hyperclient_cond_map_string_prepend,
            text,
            StringPrepend,
        ),
        ("map_string_append", hyperclient_map_string_append, hyperclient_cond_map_string_append, text, StringAppend),
    ];
    // SAFETY: as above.
    unsafe {
        for (name, f, cf, a, op) in maps {
            let m = sent(c, &d, |st| f(c, space, key, 1, &a, 1, st));
            assert_eq!(atomic_parts(&m), (nf, 0, vec![op]), "{name}");
            if let Msg::Atomic { funcs, .. } = &m {
                assert_eq!(funcs[0].map_key, Some((DataType::String, b"k".to_vec())), "{name}");
            }
            let m = sent(c, &d, |st| cf(c, space, key, 1, &check, 1, &a, 1, st));
            assert_eq!(atomic_parts(&m), (nf, 1, vec![op]), "cond_{name}");
        }
        // A map attribute whose value type does not suit the operation is refused at once.
        let mut st: u32 = 0;
        let r = hyperclient_map_string_append(c, space, key, 1, &num, 1, &mut st);
        assert_eq!((r, st), (-2, ReturnCode::WrongType as u32));
        let r = hyperclient_cond_map_add(c, space, key, 1, &check, 1, [num, num].as_ptr(), 2, &mut st);
        assert!(r > 0);
        assert_eq!(loop_one(c, &mut st), r);
        // Map entry 1 (after one check): a string value for a map of int64 values.
        let bad = hyperclient_map_attribute { attr: c"m".as_ptr(), ..text };
        let r = hyperclient_cond_map_add(c, space, key, 1, &check, 1, [num, bad].as_ptr(), 2, &mut st);
        assert_eq!((r, st), (-4, ReturnCode::WrongType as u32));
        hyperclient_destroy(c);
    }
}
