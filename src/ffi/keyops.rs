//! The key operations of the C ABI: get, written out here, and the 61 writes, generated
//! from the key-operation table (`crate::with_key_ops!`, client/optable.rs). Each write is
//! one call of [`attrs_op`] or [`maps_op`] with the operation's [`KeyOp`]; the `cond_` form
//! of an operation passes its checks, the plain form none.
//!
//! cbindgen does not expand macros: tools/gen-header writes the declarations of the
//! generated functions from `client::optable::KEY_OPS`, the same table.

use std::ffi::c_char;
use std::ptr;

use hyperdex_core::codes::ReturnCode;

use super::types::{
    bytes, c_str, hyperclient_attribute, hyperclient_attribute_check, hyperclient_map_attribute, HyperclientReturncode,
};
use super::{finish, guard, hyperclient, key_op, usable, whole, Outputs};
use crate::client::KeyOp;

/// # Safety
/// The export's contract: every pointer NULL or valid for its size.
#[allow(clippy::too_many_arguments)]
unsafe fn attrs_op(
    client: *mut hyperclient,
    op: KeyOp,
    space: *const c_char,
    key: *const c_char,
    key_sz: usize,
    checks: *const hyperclient_attribute_check,
    checks_sz: usize,
    attrs: *const hyperclient_attribute,
    attrs_sz: usize,
    status: *mut HyperclientReturncode,
) -> i64 {
    // SAFETY: forwarded contract.
    unsafe { key_op(client, op, space, key, key_sz, checks, checks_sz, attrs, attrs_sz, ptr::null(), 0, status) }
}

/// # Safety
/// The export's contract: every pointer NULL or valid for its size.
#[allow(clippy::too_many_arguments)]
unsafe fn maps_op(
    client: *mut hyperclient,
    op: KeyOp,
    space: *const c_char,
    key: *const c_char,
    key_sz: usize,
    checks: *const hyperclient_attribute_check,
    checks_sz: usize,
    mapattrs: *const hyperclient_map_attribute,
    mapattrs_sz: usize,
    status: *mut HyperclientReturncode,
) -> i64 {
    // SAFETY: forwarded contract.
    unsafe { key_op(client, op, space, key, key_sz, checks, checks_sz, ptr::null(), 0, mapattrs, mapattrs_sz, status) }
}

// ---------------------------------------------------------------------------------------

/// Starts reading the object stored under `key`.
///
/// When `hyperclient_loop` returns the id with `*status` == SUCCESS, `*attrs` points at
/// one entry per non-key attribute in schema order (never-set attributes have
/// `value_sz` == 0) and `*attrs_sz` holds their number; free the array with
/// `hyperclient_destroy_attrs`. `*attrs` and `*attrs_sz` are written only on SUCCESS.
/// Other outcomes: NOTFOUND, RECONFIGURE, SERVERERROR, NOMEM, ...
#[no_mangle]
#[must_use]
pub unsafe extern "C" fn hyperclient_get(
    client: *mut hyperclient,
    space: *const c_char,
    key: *const c_char,
    key_sz: usize,
    status: *mut HyperclientReturncode,
    attrs: *mut *mut hyperclient_attribute,
    attrs_sz: *mut usize,
) -> i64 {
    if status.is_null() {
        return -1;
    }
    guard(client, status, -1, || {
        // SAFETY: the pointers are NULL or valid (contract).
        let r = unsafe {
            (|| {
                let c = usable(client)?;
                if attrs.is_null() || attrs_sz.is_null() {
                    return Err(whole(ReturnCode::Garbage));
                }
                let space = c_str(space).ok_or(whole(ReturnCode::UnknownSpace))?;
                let key = bytes(key, key_sz).ok_or(whole(ReturnCode::WrongType))?;
                c.client.lock().get(space, key, Outputs { attrs, attrs_sz, ..Outputs::status_only(status) })
            })()
        };
        // SAFETY: status checked non-NULL above.
        unsafe { finish(r, status) }
    })
}

/// One plain (unconditional) write of shape `attrs`, `maps` or `none`.
macro_rules! plain_shim {
    (attrs, $name:ident, $op:ident, $doc:expr) => {
        #[doc = $doc]
        #[no_mangle]
        #[must_use]
        pub unsafe extern "C" fn $name(
            client: *mut hyperclient,
            space: *const c_char,
            key: *const c_char,
            key_sz: usize,
            attrs: *const hyperclient_attribute,
            attrs_sz: usize,
            status: *mut HyperclientReturncode,
        ) -> i64 {
            // SAFETY: the caller's contract, forwarded.
            unsafe { attrs_op(client, KeyOp::$op, space, key, key_sz, ptr::null(), 0, attrs, attrs_sz, status) }
        }
    };
    (maps, $name:ident, $op:ident, $doc:expr) => {
        #[doc = $doc]
        #[no_mangle]
        #[must_use]
        pub unsafe extern "C" fn $name(
            client: *mut hyperclient,
            space: *const c_char,
            key: *const c_char,
            key_sz: usize,
            mapattrs: *const hyperclient_map_attribute,
            mapattrs_sz: usize,
            status: *mut HyperclientReturncode,
        ) -> i64 {
            // SAFETY: the caller's contract, forwarded.
            unsafe { maps_op(client, KeyOp::$op, space, key, key_sz, ptr::null(), 0, mapattrs, mapattrs_sz, status) }
        }
    };
    (none, $name:ident, $op:ident, $doc:expr) => {
        #[doc = $doc]
        #[no_mangle]
        #[must_use]
        pub unsafe extern "C" fn $name(
            client: *mut hyperclient,
            space: *const c_char,
            key: *const c_char,
            key_sz: usize,
            status: *mut HyperclientReturncode,
        ) -> i64 {
            // SAFETY: the caller's contract, forwarded.
            unsafe { attrs_op(client, KeyOp::$op, space, key, key_sz, ptr::null(), 0, ptr::null(), 0, status) }
        }
    };
}

/// One conditional write: the checks come before the shape's arguments.
macro_rules! cond_shim_def {
    (attrs, $name:ident, $op:ident, $doc:expr) => {
        #[doc = $doc]
        #[no_mangle]
        #[must_use]
        pub unsafe extern "C" fn $name(
            client: *mut hyperclient,
            space: *const c_char,
            key: *const c_char,
            key_sz: usize,
            checks: *const hyperclient_attribute_check,
            checks_sz: usize,
            attrs: *const hyperclient_attribute,
            attrs_sz: usize,
            status: *mut HyperclientReturncode,
        ) -> i64 {
            // SAFETY: the caller's contract, forwarded.
            unsafe { attrs_op(client, KeyOp::$op, space, key, key_sz, checks, checks_sz, attrs, attrs_sz, status) }
        }
    };
    (maps, $name:ident, $op:ident, $doc:expr) => {
        #[doc = $doc]
        #[no_mangle]
        #[must_use]
        pub unsafe extern "C" fn $name(
            client: *mut hyperclient,
            space: *const c_char,
            key: *const c_char,
            key_sz: usize,
            checks: *const hyperclient_attribute_check,
            checks_sz: usize,
            mapattrs: *const hyperclient_map_attribute,
            mapattrs_sz: usize,
            status: *mut HyperclientReturncode,
        ) -> i64 {
            // SAFETY: the caller's contract, forwarded.
            unsafe { maps_op(client, KeyOp::$op, space, key, key_sz, checks, checks_sz, mapattrs, mapattrs_sz, status) }
        }
    };
    (none, $name:ident, $op:ident, $doc:expr) => {
        #[doc = $doc]
        #[no_mangle]
        #[must_use]
        pub unsafe extern "C" fn $name(
            client: *mut hyperclient,
            space: *const c_char,
            key: *const c_char,
            key_sz: usize,
            checks: *const hyperclient_attribute_check,
            checks_sz: usize,
            status: *mut HyperclientReturncode,
        ) -> i64 {
            // SAFETY: the caller's contract, forwarded.
            unsafe { attrs_op(client, KeyOp::$op, space, key, key_sz, checks, checks_sz, ptr::null(), 0, status) }
        }
    };
}

/// The conditional form of a row: the plain form's `KeyOp` and a sentence naming it, or the
/// row's own.
macro_rules! cond_shim {
    ($shape:ident, $name:ident, $cname:ident, $op:ident) => {
        cond_shim_def!(
            $shape,
            $cname,
            $op,
            concat!(
                "Like `",
                stringify!($name),
                "`, but only if every check passes against the object (CMPFAIL otherwise), in the same atomic step."
            )
        );
    };
    ($shape:ident, $name:ident, $cname:ident, $op:ident, $cop:ident, $cdoc:literal) => {
        cond_shim_def!($shape, $cname, $cop, $cdoc);
    };
}

/// Every row of the table: its plain shim and, if it has one, its conditional shim.
macro_rules! shims {
    ($( $name:ident : $op:ident = $def:expr, $shape:ident, $doc:literal
        $(, cond $cname:ident $( $cop:ident $(= $cdef:expr)?, $cdoc:literal )? )? ; )*) => {
        $(
            plain_shim!($shape, $name, $op, $doc);
            $( cond_shim!($shape, $name, $cname, $op $(, $cop, $cdoc)?); )?
        )*
    };
}

crate::with_key_ops!(shims);
