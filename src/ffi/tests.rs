//! The C functions that need no server, called as a C program would. Everything that needs a
//! cluster is in tests/c_abi.rs (real coordinator and daemons).

use std::ffi::{c_char, CStr};
use std::ptr;

use hyperdex_core::codes::{DataType, ReturnCode};

use super::*;

const GARBAGE: u32 = ReturnCode::Garbage as u32;

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
fn a_null_client_is_an_error_not_a_crash() {
    let v = hyperclient_attribute {
        attr: c"v".as_ptr(),
        value: c"x".as_ptr(),
        value_sz: 1,
        datatype: DataType::String as u32,
    };
    let mut st: u32 = 0;
    // SAFETY: every pointer is NULL or valid; that is the point of the test.
    unsafe {
        assert!(hyperclient_create(ptr::null(), 1).is_null());
        assert_eq!(*libc::__errno_location(), libc::EINVAL);
        assert!(hyperclient_create(c"\xff".as_ptr(), 1).is_null());
        assert_eq!(*libc::__errno_location(), libc::EINVAL);
        hyperclient_destroy(ptr::null_mut());
        hyperclient_destroy_attrs(ptr::null_mut(), 3);
        assert_eq!(hyperclient_poll_fd(ptr::null_mut()), -1);
        assert_eq!(hyperclient_add_space(ptr::null_mut(), c"space x key k".as_ptr()), GARBAGE);
        assert_eq!(hyperclient_rm_space(ptr::null_mut(), c"x".as_ptr()), GARBAGE);
        assert_eq!(hyperclient_put(ptr::null_mut(), c"kv".as_ptr(), c"k".as_ptr(), 1, &v, 1, &mut st), -1);
        assert_eq!(st, GARBAGE);
        let mut out: *mut hyperclient_attribute = ptr::null_mut();
        let mut out_sz = 0usize;
        st = 0;
        let r = hyperclient_get(ptr::null_mut(), c"kv".as_ptr(), c"k".as_ptr(), 1, &mut st, &mut out, &mut out_sz);
        assert_eq!((r, st), (-1, GARBAGE));
        st = 0;
        let t = hyperclient_attribute_type(ptr::null_mut(), c"kv".as_ptr(), c"v".as_ptr(), &mut st);
        assert_eq!((t, st), (DataType::Garbage as u32, GARBAGE));
        st = 0;
        assert_eq!(hyperclient_loop(ptr::null_mut(), 0, &mut st), -1);
        assert_eq!(st, GARBAGE);
        // A NULL status as well: -1 and nothing else.
        assert_eq!(hyperclient_loop(ptr::null_mut(), 0, ptr::null_mut()), -1);
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
