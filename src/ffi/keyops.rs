//! The key operations of the C ABI: get and the 61 writes. Each export is one call of
//! [`attrs_op`] or [`maps_op`] with the operation's [`KeyOp`]; the `cond_` form of an
//! operation passes its checks, the plain form none.

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
                c.client.get(space, key, Outputs { attrs, attrs_sz, ..Outputs::status_only(status) })
            })()
        };
        // SAFETY: status checked non-NULL above.
        unsafe { finish(r, status) }
    })
}

/// Stores the given attributes under `key`, creating the object if it does not exist
/// (attributes not named are then empty) and changing only the named attributes if it does.
#[no_mangle]
#[must_use]
pub unsafe extern "C" fn hyperclient_put(
    client: *mut hyperclient,
    space: *const c_char,
    key: *const c_char,
    key_sz: usize,
    attrs: *const hyperclient_attribute,
    attrs_sz: usize,
    status: *mut HyperclientReturncode,
) -> i64 {
    // SAFETY: the caller's contract, forwarded.
    unsafe { attrs_op(client, KeyOp::PUT, space, key, key_sz, ptr::null(), 0, attrs, attrs_sz, status) }
}

/// Like put, but only creates: if an object exists under `key` the operation finishes with
/// CMPFAIL and nothing changes.
#[no_mangle]
#[must_use]
pub unsafe extern "C" fn hyperclient_put_if_not_exist(
    client: *mut hyperclient,
    space: *const c_char,
    key: *const c_char,
    key_sz: usize,
    attrs: *const hyperclient_attribute,
    attrs_sz: usize,
    status: *mut HyperclientReturncode,
) -> i64 {
    // SAFETY: the caller's contract, forwarded.
    unsafe { attrs_op(client, KeyOp::PUT_IF_NOT_EXIST, space, key, key_sz, ptr::null(), 0, attrs, attrs_sz, status) }
}

/// Updates the object under `key` if every check passes against its current value, all in
/// one atomic step. NOTFOUND if there is no object; CMPFAIL if a check fails.
#[no_mangle]
#[must_use]
pub unsafe extern "C" fn hyperclient_cond_put(
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
    unsafe { attrs_op(client, KeyOp::COND_PUT, space, key, key_sz, checks, checks_sz, attrs, attrs_sz, status) }
}

/// Deletes the object under `key`. NOTFOUND if there is none.
#[no_mangle]
#[must_use]
pub unsafe extern "C" fn hyperclient_del(
    client: *mut hyperclient,
    space: *const c_char,
    key: *const c_char,
    key_sz: usize,
    status: *mut HyperclientReturncode,
) -> i64 {
    // SAFETY: the caller's contract, forwarded.
    unsafe { attrs_op(client, KeyOp::DEL, space, key, key_sz, ptr::null(), 0, ptr::null(), 0, status) }
}

/// Deletes the object under `key` if every check passes against it. NOTFOUND if there is
/// none; CMPFAIL if a check fails.
#[no_mangle]
#[must_use]
pub unsafe extern "C" fn hyperclient_cond_del(
    client: *mut hyperclient,
    space: *const c_char,
    key: *const c_char,
    key_sz: usize,
    checks: *const hyperclient_attribute_check,
    checks_sz: usize,
    status: *mut HyperclientReturncode,
) -> i64 {
    // SAFETY: the caller's contract, forwarded.
    unsafe { attrs_op(client, KeyOp::DEL, space, key, key_sz, checks, checks_sz, ptr::null(), 0, status) }
}

/// Adds each given number to its int64 or float attribute. NOTFOUND if there is no object (it
/// is not created). All attributes of one call are applied atomically, or none is (OVERFLOW on
/// int64 overflow or division by zero).
#[no_mangle]
#[must_use]
pub unsafe extern "C" fn hyperclient_atomic_add(
    client: *mut hyperclient,
    space: *const c_char,
    key: *const c_char,
    key_sz: usize,
    attrs: *const hyperclient_attribute,
    attrs_sz: usize,
    status: *mut HyperclientReturncode,
) -> i64 {
    // SAFETY: the caller's contract, forwarded.
    unsafe { attrs_op(client, KeyOp::ATOMIC_ADD, space, key, key_sz, ptr::null(), 0, attrs, attrs_sz, status) }
}

/// Like `hyperclient_atomic_add`, but only if every check passes against the object (CMPFAIL
/// otherwise), in the same atomic step.
#[no_mangle]
#[must_use]
pub unsafe extern "C" fn hyperclient_cond_atomic_add(
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
    unsafe { attrs_op(client, KeyOp::ATOMIC_ADD, space, key, key_sz, checks, checks_sz, attrs, attrs_sz, status) }
}

/// Subtracts each given number from its int64 or float attribute. NOTFOUND if there is no
/// object (it is not created). All attributes of one call are applied atomically, or none is
/// (OVERFLOW on int64 overflow or division by zero).
#[no_mangle]
#[must_use]
pub unsafe extern "C" fn hyperclient_atomic_sub(
    client: *mut hyperclient,
    space: *const c_char,
    key: *const c_char,
    key_sz: usize,
    attrs: *const hyperclient_attribute,
    attrs_sz: usize,
    status: *mut HyperclientReturncode,
) -> i64 {
    // SAFETY: the caller's contract, forwarded.
    unsafe { attrs_op(client, KeyOp::ATOMIC_SUB, space, key, key_sz, ptr::null(), 0, attrs, attrs_sz, status) }
}

/// Like `hyperclient_atomic_sub`, but only if every check passes against the object (CMPFAIL
/// otherwise), in the same atomic step.
#[no_mangle]
#[must_use]
pub unsafe extern "C" fn hyperclient_cond_atomic_sub(
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
    unsafe { attrs_op(client, KeyOp::ATOMIC_SUB, space, key, key_sz, checks, checks_sz, attrs, attrs_sz, status) }
}

/// Multiplies each int64 or float attribute by the given number. NOTFOUND if there is no object
/// (it is not created). All attributes of one call are applied atomically, or none is (OVERFLOW
/// on int64 overflow or division by zero).
#[no_mangle]
#[must_use]
pub unsafe extern "C" fn hyperclient_atomic_mul(
    client: *mut hyperclient,
    space: *const c_char,
    key: *const c_char,
    key_sz: usize,
    attrs: *const hyperclient_attribute,
    attrs_sz: usize,
    status: *mut HyperclientReturncode,
) -> i64 {
    // SAFETY: the caller's contract, forwarded.
    unsafe { attrs_op(client, KeyOp::ATOMIC_MUL, space, key, key_sz, ptr::null(), 0, attrs, attrs_sz, status) }
}

/// Like `hyperclient_atomic_mul`, but only if every check passes against the object (CMPFAIL
/// otherwise), in the same atomic step.
#[no_mangle]
#[must_use]
pub unsafe extern "C" fn hyperclient_cond_atomic_mul(
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
    unsafe { attrs_op(client, KeyOp::ATOMIC_MUL, space, key, key_sz, checks, checks_sz, attrs, attrs_sz, status) }
}

/// Divides each int64 attribute by the given number, rounding toward negative infinity (or each
/// float attribute, IEEE division). NOTFOUND if there is no object (it is not created). All
/// attributes of one call are applied atomically, or none is (OVERFLOW on int64 overflow or
/// division by zero).
#[no_mangle]
#[must_use]
pub unsafe extern "C" fn hyperclient_atomic_div(
    client: *mut hyperclient,
    space: *const c_char,
    key: *const c_char,
    key_sz: usize,
    attrs: *const hyperclient_attribute,
    attrs_sz: usize,
    status: *mut HyperclientReturncode,
) -> i64 {
    // SAFETY: the caller's contract, forwarded.
    unsafe { attrs_op(client, KeyOp::ATOMIC_DIV, space, key, key_sz, ptr::null(), 0, attrs, attrs_sz, status) }
}

/// Like `hyperclient_atomic_div`, but only if every check passes against the object (CMPFAIL
/// otherwise), in the same atomic step.
#[no_mangle]
#[must_use]
pub unsafe extern "C" fn hyperclient_cond_atomic_div(
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
    unsafe { attrs_op(client, KeyOp::ATOMIC_DIV, space, key, key_sz, checks, checks_sz, attrs, attrs_sz, status) }
}

/// Replaces each int64 attribute by its floor modulo the given number (the result has the
/// divisor's sign). NOTFOUND if there is no object (it is not created). All attributes of one
/// call are applied atomically, or none is (OVERFLOW on int64 overflow or division by zero).
#[no_mangle]
#[must_use]
pub unsafe extern "C" fn hyperclient_atomic_mod(
    client: *mut hyperclient,
    space: *const c_char,
    key: *const c_char,
    key_sz: usize,
    attrs: *const hyperclient_attribute,
    attrs_sz: usize,
    status: *mut HyperclientReturncode,
) -> i64 {
    // SAFETY: the caller's contract, forwarded.
    unsafe { attrs_op(client, KeyOp::ATOMIC_MOD, space, key, key_sz, ptr::null(), 0, attrs, attrs_sz, status) }
}

/// Like `hyperclient_atomic_mod`, but only if every check passes against the object (CMPFAIL
/// otherwise), in the same atomic step.
#[no_mangle]
#[must_use]
pub unsafe extern "C" fn hyperclient_cond_atomic_mod(
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
    unsafe { attrs_op(client, KeyOp::ATOMIC_MOD, space, key, key_sz, checks, checks_sz, attrs, attrs_sz, status) }
}

/// Bitwise AND of each int64 attribute with the given number. NOTFOUND if there is no object
/// (it is not created).
#[no_mangle]
#[must_use]
pub unsafe extern "C" fn hyperclient_atomic_and(
    client: *mut hyperclient,
    space: *const c_char,
    key: *const c_char,
    key_sz: usize,
    attrs: *const hyperclient_attribute,
    attrs_sz: usize,
    status: *mut HyperclientReturncode,
) -> i64 {
    // SAFETY: the caller's contract, forwarded.
    unsafe { attrs_op(client, KeyOp::ATOMIC_AND, space, key, key_sz, ptr::null(), 0, attrs, attrs_sz, status) }
}

/// Like `hyperclient_atomic_and`, but only if every check passes against the object (CMPFAIL
/// otherwise), in the same atomic step.
#[no_mangle]
#[must_use]
pub unsafe extern "C" fn hyperclient_cond_atomic_and(
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
    unsafe { attrs_op(client, KeyOp::ATOMIC_AND, space, key, key_sz, checks, checks_sz, attrs, attrs_sz, status) }
}

/// Bitwise OR of each int64 attribute with the given number. NOTFOUND if there is no object (it
/// is not created).
#[no_mangle]
#[must_use]
pub unsafe extern "C" fn hyperclient_atomic_or(
    client: *mut hyperclient,
    space: *const c_char,
    key: *const c_char,
    key_sz: usize,
    attrs: *const hyperclient_attribute,
    attrs_sz: usize,
    status: *mut HyperclientReturncode,
) -> i64 {
    // SAFETY: the caller's contract, forwarded.
    unsafe { attrs_op(client, KeyOp::ATOMIC_OR, space, key, key_sz, ptr::null(), 0, attrs, attrs_sz, status) }
}

/// Like `hyperclient_atomic_or`, but only if every check passes against the object (CMPFAIL
/// otherwise), in the same atomic step.
#[no_mangle]
#[must_use]
pub unsafe extern "C" fn hyperclient_cond_atomic_or(
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
    unsafe { attrs_op(client, KeyOp::ATOMIC_OR, space, key, key_sz, checks, checks_sz, attrs, attrs_sz, status) }
}

/// Bitwise XOR of each int64 attribute with the given number. NOTFOUND if there is no object
/// (it is not created).
#[no_mangle]
#[must_use]
pub unsafe extern "C" fn hyperclient_atomic_xor(
    client: *mut hyperclient,
    space: *const c_char,
    key: *const c_char,
    key_sz: usize,
    attrs: *const hyperclient_attribute,
    attrs_sz: usize,
    status: *mut HyperclientReturncode,
) -> i64 {
    // SAFETY: the caller's contract, forwarded.
    unsafe { attrs_op(client, KeyOp::ATOMIC_XOR, space, key, key_sz, ptr::null(), 0, attrs, attrs_sz, status) }
}

/// Like `hyperclient_atomic_xor`, but only if every check passes against the object (CMPFAIL
/// otherwise), in the same atomic step.
#[no_mangle]
#[must_use]
pub unsafe extern "C" fn hyperclient_cond_atomic_xor(
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
    unsafe { attrs_op(client, KeyOp::ATOMIC_XOR, space, key, key_sz, checks, checks_sz, attrs, attrs_sz, status) }
}

/// Prepends the given bytes to each string attribute. NOTFOUND if there is no object (it is not
/// created).
#[no_mangle]
#[must_use]
pub unsafe extern "C" fn hyperclient_string_prepend(
    client: *mut hyperclient,
    space: *const c_char,
    key: *const c_char,
    key_sz: usize,
    attrs: *const hyperclient_attribute,
    attrs_sz: usize,
    status: *mut HyperclientReturncode,
) -> i64 {
    // SAFETY: the caller's contract, forwarded.
    unsafe { attrs_op(client, KeyOp::STRING_PREPEND, space, key, key_sz, ptr::null(), 0, attrs, attrs_sz, status) }
}

/// Like `hyperclient_string_prepend`, but only if every check passes against the object
/// (CMPFAIL otherwise), in the same atomic step.
#[no_mangle]
#[must_use]
pub unsafe extern "C" fn hyperclient_cond_string_prepend(
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
    unsafe { attrs_op(client, KeyOp::STRING_PREPEND, space, key, key_sz, checks, checks_sz, attrs, attrs_sz, status) }
}

/// Appends the given bytes to each string attribute. NOTFOUND if there is no object (it is not
/// created).
#[no_mangle]
#[must_use]
pub unsafe extern "C" fn hyperclient_string_append(
    client: *mut hyperclient,
    space: *const c_char,
    key: *const c_char,
    key_sz: usize,
    attrs: *const hyperclient_attribute,
    attrs_sz: usize,
    status: *mut HyperclientReturncode,
) -> i64 {
    // SAFETY: the caller's contract, forwarded.
    unsafe { attrs_op(client, KeyOp::STRING_APPEND, space, key, key_sz, ptr::null(), 0, attrs, attrs_sz, status) }
}

/// Like `hyperclient_string_append`, but only if every check passes against the object (CMPFAIL
/// otherwise), in the same atomic step.
#[no_mangle]
#[must_use]
pub unsafe extern "C" fn hyperclient_cond_string_append(
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
    unsafe { attrs_op(client, KeyOp::STRING_APPEND, space, key, key_sz, checks, checks_sz, attrs, attrs_sz, status) }
}

/// Inserts the given element (of the list's element type) at the head of each list attribute.
/// NOTFOUND if there is no object (it is not created).
#[no_mangle]
#[must_use]
pub unsafe extern "C" fn hyperclient_list_lpush(
    client: *mut hyperclient,
    space: *const c_char,
    key: *const c_char,
    key_sz: usize,
    attrs: *const hyperclient_attribute,
    attrs_sz: usize,
    status: *mut HyperclientReturncode,
) -> i64 {
    // SAFETY: the caller's contract, forwarded.
    unsafe { attrs_op(client, KeyOp::LIST_LPUSH, space, key, key_sz, ptr::null(), 0, attrs, attrs_sz, status) }
}

/// Like `hyperclient_list_lpush`, but only if every check passes against the object (CMPFAIL
/// otherwise), in the same atomic step.
#[no_mangle]
#[must_use]
pub unsafe extern "C" fn hyperclient_cond_list_lpush(
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
    unsafe { attrs_op(client, KeyOp::LIST_LPUSH, space, key, key_sz, checks, checks_sz, attrs, attrs_sz, status) }
}

/// Appends the given element (of the list's element type) at the tail of each list attribute.
/// NOTFOUND if there is no object (it is not created).
#[no_mangle]
#[must_use]
pub unsafe extern "C" fn hyperclient_list_rpush(
    client: *mut hyperclient,
    space: *const c_char,
    key: *const c_char,
    key_sz: usize,
    attrs: *const hyperclient_attribute,
    attrs_sz: usize,
    status: *mut HyperclientReturncode,
) -> i64 {
    // SAFETY: the caller's contract, forwarded.
    unsafe { attrs_op(client, KeyOp::LIST_RPUSH, space, key, key_sz, ptr::null(), 0, attrs, attrs_sz, status) }
}

/// Like `hyperclient_list_rpush`, but only if every check passes against the object (CMPFAIL
/// otherwise), in the same atomic step.
#[no_mangle]
#[must_use]
pub unsafe extern "C" fn hyperclient_cond_list_rpush(
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
    unsafe { attrs_op(client, KeyOp::LIST_RPUSH, space, key, key_sz, checks, checks_sz, attrs, attrs_sz, status) }
}

/// Adds each given element (of the set's element type) to its set attribute. NOTFOUND if there
/// is no object (it is not created).
#[no_mangle]
#[must_use]
pub unsafe extern "C" fn hyperclient_set_add(
    client: *mut hyperclient,
    space: *const c_char,
    key: *const c_char,
    key_sz: usize,
    attrs: *const hyperclient_attribute,
    attrs_sz: usize,
    status: *mut HyperclientReturncode,
) -> i64 {
    // SAFETY: the caller's contract, forwarded.
    unsafe { attrs_op(client, KeyOp::SET_ADD, space, key, key_sz, ptr::null(), 0, attrs, attrs_sz, status) }
}

/// Like `hyperclient_set_add`, but only if every check passes against the object (CMPFAIL
/// otherwise), in the same atomic step.
#[no_mangle]
#[must_use]
pub unsafe extern "C" fn hyperclient_cond_set_add(
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
    unsafe { attrs_op(client, KeyOp::SET_ADD, space, key, key_sz, checks, checks_sz, attrs, attrs_sz, status) }
}

/// Removes each given element from its set attribute (absent elements are ignored). NOTFOUND if
/// there is no object (it is not created).
#[no_mangle]
#[must_use]
pub unsafe extern "C" fn hyperclient_set_remove(
    client: *mut hyperclient,
    space: *const c_char,
    key: *const c_char,
    key_sz: usize,
    attrs: *const hyperclient_attribute,
    attrs_sz: usize,
    status: *mut HyperclientReturncode,
) -> i64 {
    // SAFETY: the caller's contract, forwarded.
    unsafe { attrs_op(client, KeyOp::SET_REMOVE, space, key, key_sz, ptr::null(), 0, attrs, attrs_sz, status) }
}

/// Like `hyperclient_set_remove`, but only if every check passes against the object (CMPFAIL
/// otherwise), in the same atomic step.
#[no_mangle]
#[must_use]
pub unsafe extern "C" fn hyperclient_cond_set_remove(
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
    unsafe { attrs_op(client, KeyOp::SET_REMOVE, space, key, key_sz, checks, checks_sz, attrs, attrs_sz, status) }
}

/// Intersects each set attribute with the given set. NOTFOUND if there is no object (it is not
/// created).
#[no_mangle]
#[must_use]
pub unsafe extern "C" fn hyperclient_set_intersect(
    client: *mut hyperclient,
    space: *const c_char,
    key: *const c_char,
    key_sz: usize,
    attrs: *const hyperclient_attribute,
    attrs_sz: usize,
    status: *mut HyperclientReturncode,
) -> i64 {
    // SAFETY: the caller's contract, forwarded.
    unsafe { attrs_op(client, KeyOp::SET_INTERSECT, space, key, key_sz, ptr::null(), 0, attrs, attrs_sz, status) }
}

/// Like `hyperclient_set_intersect`, but only if every check passes against the object (CMPFAIL
/// otherwise), in the same atomic step.
#[no_mangle]
#[must_use]
pub unsafe extern "C" fn hyperclient_cond_set_intersect(
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
    unsafe { attrs_op(client, KeyOp::SET_INTERSECT, space, key, key_sz, checks, checks_sz, attrs, attrs_sz, status) }
}

/// Adds every element of the given set to each set attribute. NOTFOUND if there is no object
/// (it is not created).
#[no_mangle]
#[must_use]
pub unsafe extern "C" fn hyperclient_set_union(
    client: *mut hyperclient,
    space: *const c_char,
    key: *const c_char,
    key_sz: usize,
    attrs: *const hyperclient_attribute,
    attrs_sz: usize,
    status: *mut HyperclientReturncode,
) -> i64 {
    // SAFETY: the caller's contract, forwarded.
    unsafe { attrs_op(client, KeyOp::SET_UNION, space, key, key_sz, ptr::null(), 0, attrs, attrs_sz, status) }
}

/// Like `hyperclient_set_union`, but only if every check passes against the object (CMPFAIL
/// otherwise), in the same atomic step.
#[no_mangle]
#[must_use]
pub unsafe extern "C" fn hyperclient_cond_set_union(
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
    unsafe { attrs_op(client, KeyOp::SET_UNION, space, key, key_sz, checks, checks_sz, attrs, attrs_sz, status) }
}

/// Removes a key from each map attribute: `value` and `datatype` of the (plain) attribute are
/// the map key, encoded with the map's key type; an absent key is not an error. NOTFOUND if
/// there is no object (it is not created).
#[no_mangle]
#[must_use]
pub unsafe extern "C" fn hyperclient_map_remove(
    client: *mut hyperclient,
    space: *const c_char,
    key: *const c_char,
    key_sz: usize,
    attrs: *const hyperclient_attribute,
    attrs_sz: usize,
    status: *mut HyperclientReturncode,
) -> i64 {
    // SAFETY: the caller's contract, forwarded.
    unsafe { attrs_op(client, KeyOp::MAP_REMOVE, space, key, key_sz, ptr::null(), 0, attrs, attrs_sz, status) }
}

/// Like `hyperclient_map_remove`, but only if every check passes against the object (CMPFAIL
/// otherwise), in the same atomic step.
#[no_mangle]
#[must_use]
pub unsafe extern "C" fn hyperclient_cond_map_remove(
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
    unsafe { attrs_op(client, KeyOp::MAP_REMOVE, space, key, key_sz, checks, checks_sz, attrs, attrs_sz, status) }
}

/// Sets `map[map_key] = value` in each map attribute. NOTFOUND if there is no object (it is not
/// created). All entries of one call are applied atomically, in order.
#[no_mangle]
#[must_use]
pub unsafe extern "C" fn hyperclient_map_add(
    client: *mut hyperclient,
    space: *const c_char,
    key: *const c_char,
    key_sz: usize,
    mapattrs: *const hyperclient_map_attribute,
    mapattrs_sz: usize,
    status: *mut HyperclientReturncode,
) -> i64 {
    // SAFETY: the caller's contract, forwarded.
    unsafe { maps_op(client, KeyOp::MAP_ADD, space, key, key_sz, ptr::null(), 0, mapattrs, mapattrs_sz, status) }
}

/// Like `hyperclient_map_add`, but only if every check passes against the object (CMPFAIL
/// otherwise), in the same atomic step.
#[no_mangle]
#[must_use]
pub unsafe extern "C" fn hyperclient_cond_map_add(
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
    unsafe { maps_op(client, KeyOp::MAP_ADD, space, key, key_sz, checks, checks_sz, mapattrs, mapattrs_sz, status) }
}

/// Applies atomic_add to the map value selected by `map_key` (a missing entry starts from 0 and
/// is created). NOTFOUND if there is no object (it is not created). All entries of one call are
/// applied atomically, or none is (OVERFLOW).
#[no_mangle]
#[must_use]
pub unsafe extern "C" fn hyperclient_map_atomic_add(
    client: *mut hyperclient,
    space: *const c_char,
    key: *const c_char,
    key_sz: usize,
    mapattrs: *const hyperclient_map_attribute,
    mapattrs_sz: usize,
    status: *mut HyperclientReturncode,
) -> i64 {
    // SAFETY: the caller's contract, forwarded.
    unsafe { maps_op(client, KeyOp::MAP_ATOMIC_ADD, space, key, key_sz, ptr::null(), 0, mapattrs, mapattrs_sz, status) }
}

/// Like `hyperclient_map_atomic_add`, but only if every check passes against the object
/// (CMPFAIL otherwise), in the same atomic step.
#[no_mangle]
#[must_use]
pub unsafe extern "C" fn hyperclient_cond_map_atomic_add(
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
    unsafe {
        maps_op(client, KeyOp::MAP_ATOMIC_ADD, space, key, key_sz, checks, checks_sz, mapattrs, mapattrs_sz, status)
    }
}

/// Applies atomic_sub to the map value selected by `map_key` (a missing entry starts from 0 and
/// is created). NOTFOUND if there is no object (it is not created). All entries of one call are
/// applied atomically, or none is (OVERFLOW).
#[no_mangle]
#[must_use]
pub unsafe extern "C" fn hyperclient_map_atomic_sub(
    client: *mut hyperclient,
    space: *const c_char,
    key: *const c_char,
    key_sz: usize,
    mapattrs: *const hyperclient_map_attribute,
    mapattrs_sz: usize,
    status: *mut HyperclientReturncode,
) -> i64 {
    // SAFETY: the caller's contract, forwarded.
    unsafe { maps_op(client, KeyOp::MAP_ATOMIC_SUB, space, key, key_sz, ptr::null(), 0, mapattrs, mapattrs_sz, status) }
}

/// Like `hyperclient_map_atomic_sub`, but only if every check passes against the object
/// (CMPFAIL otherwise), in the same atomic step.
#[no_mangle]
#[must_use]
pub unsafe extern "C" fn hyperclient_cond_map_atomic_sub(
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
    unsafe {
        maps_op(client, KeyOp::MAP_ATOMIC_SUB, space, key, key_sz, checks, checks_sz, mapattrs, mapattrs_sz, status)
    }
}

/// Applies atomic_mul to the map value selected by `map_key` (a missing entry starts from 0 and
/// is created). NOTFOUND if there is no object (it is not created). All entries of one call are
/// applied atomically, or none is (OVERFLOW).
#[no_mangle]
#[must_use]
pub unsafe extern "C" fn hyperclient_map_atomic_mul(
    client: *mut hyperclient,
    space: *const c_char,
    key: *const c_char,
    key_sz: usize,
    mapattrs: *const hyperclient_map_attribute,
    mapattrs_sz: usize,
    status: *mut HyperclientReturncode,
) -> i64 {
    // SAFETY: the caller's contract, forwarded.
    unsafe { maps_op(client, KeyOp::MAP_ATOMIC_MUL, space, key, key_sz, ptr::null(), 0, mapattrs, mapattrs_sz, status) }
}

/// Like `hyperclient_map_atomic_mul`, but only if every check passes against the object
/// (CMPFAIL otherwise), in the same atomic step.
#[no_mangle]
#[must_use]
pub unsafe extern "C" fn hyperclient_cond_map_atomic_mul(
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
    unsafe {
        maps_op(client, KeyOp::MAP_ATOMIC_MUL, space, key, key_sz, checks, checks_sz, mapattrs, mapattrs_sz, status)
    }
}

/// Applies atomic_div to the map value selected by `map_key` (a missing entry starts from 0 and
/// is created). NOTFOUND if there is no object (it is not created). All entries of one call are
/// applied atomically, or none is (OVERFLOW).
#[no_mangle]
#[must_use]
pub unsafe extern "C" fn hyperclient_map_atomic_div(
    client: *mut hyperclient,
    space: *const c_char,
    key: *const c_char,
    key_sz: usize,
    mapattrs: *const hyperclient_map_attribute,
    mapattrs_sz: usize,
    status: *mut HyperclientReturncode,
) -> i64 {
    // SAFETY: the caller's contract, forwarded.
    unsafe { maps_op(client, KeyOp::MAP_ATOMIC_DIV, space, key, key_sz, ptr::null(), 0, mapattrs, mapattrs_sz, status) }
}

/// Like `hyperclient_map_atomic_div`, but only if every check passes against the object
/// (CMPFAIL otherwise), in the same atomic step.
#[no_mangle]
#[must_use]
pub unsafe extern "C" fn hyperclient_cond_map_atomic_div(
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
    unsafe {
        maps_op(client, KeyOp::MAP_ATOMIC_DIV, space, key, key_sz, checks, checks_sz, mapattrs, mapattrs_sz, status)
    }
}

/// Applies atomic_mod to the map value selected by `map_key` (a missing entry starts from 0 and
/// is created). NOTFOUND if there is no object (it is not created). All entries of one call are
/// applied atomically, or none is (OVERFLOW).
#[no_mangle]
#[must_use]
pub unsafe extern "C" fn hyperclient_map_atomic_mod(
    client: *mut hyperclient,
    space: *const c_char,
    key: *const c_char,
    key_sz: usize,
    mapattrs: *const hyperclient_map_attribute,
    mapattrs_sz: usize,
    status: *mut HyperclientReturncode,
) -> i64 {
    // SAFETY: the caller's contract, forwarded.
    unsafe { maps_op(client, KeyOp::MAP_ATOMIC_MOD, space, key, key_sz, ptr::null(), 0, mapattrs, mapattrs_sz, status) }
}

/// Like `hyperclient_map_atomic_mod`, but only if every check passes against the object
/// (CMPFAIL otherwise), in the same atomic step.
#[no_mangle]
#[must_use]
pub unsafe extern "C" fn hyperclient_cond_map_atomic_mod(
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
    unsafe {
        maps_op(client, KeyOp::MAP_ATOMIC_MOD, space, key, key_sz, checks, checks_sz, mapattrs, mapattrs_sz, status)
    }
}

/// Applies atomic_and to the map value selected by `map_key` (a missing entry starts from 0 and
/// is created). NOTFOUND if there is no object (it is not created). All entries of one call are
/// applied atomically, or none is (OVERFLOW).
#[no_mangle]
#[must_use]
pub unsafe extern "C" fn hyperclient_map_atomic_and(
    client: *mut hyperclient,
    space: *const c_char,
    key: *const c_char,
    key_sz: usize,
    mapattrs: *const hyperclient_map_attribute,
    mapattrs_sz: usize,
    status: *mut HyperclientReturncode,
) -> i64 {
    // SAFETY: the caller's contract, forwarded.
    unsafe { maps_op(client, KeyOp::MAP_ATOMIC_AND, space, key, key_sz, ptr::null(), 0, mapattrs, mapattrs_sz, status) }
}

/// Like `hyperclient_map_atomic_and`, but only if every check passes against the object
/// (CMPFAIL otherwise), in the same atomic step.
#[no_mangle]
#[must_use]
pub unsafe extern "C" fn hyperclient_cond_map_atomic_and(
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
    unsafe {
        maps_op(client, KeyOp::MAP_ATOMIC_AND, space, key, key_sz, checks, checks_sz, mapattrs, mapattrs_sz, status)
    }
}

/// Applies atomic_or to the map value selected by `map_key` (a missing entry starts from 0 and
/// is created). NOTFOUND if there is no object (it is not created). All entries of one call are
/// applied atomically, or none is (OVERFLOW).
#[no_mangle]
#[must_use]
pub unsafe extern "C" fn hyperclient_map_atomic_or(
    client: *mut hyperclient,
    space: *const c_char,
    key: *const c_char,
    key_sz: usize,
    mapattrs: *const hyperclient_map_attribute,
    mapattrs_sz: usize,
    status: *mut HyperclientReturncode,
) -> i64 {
    // SAFETY: the caller's contract, forwarded.
    unsafe { maps_op(client, KeyOp::MAP_ATOMIC_OR, space, key, key_sz, ptr::null(), 0, mapattrs, mapattrs_sz, status) }
}

/// Like `hyperclient_map_atomic_or`, but only if every check passes against the object (CMPFAIL
/// otherwise), in the same atomic step.
#[no_mangle]
#[must_use]
pub unsafe extern "C" fn hyperclient_cond_map_atomic_or(
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
    unsafe {
        maps_op(client, KeyOp::MAP_ATOMIC_OR, space, key, key_sz, checks, checks_sz, mapattrs, mapattrs_sz, status)
    }
}

/// Applies atomic_xor to the map value selected by `map_key` (a missing entry starts from 0 and
/// is created). NOTFOUND if there is no object (it is not created). All entries of one call are
/// applied atomically, or none is (OVERFLOW).
#[no_mangle]
#[must_use]
pub unsafe extern "C" fn hyperclient_map_atomic_xor(
    client: *mut hyperclient,
    space: *const c_char,
    key: *const c_char,
    key_sz: usize,
    mapattrs: *const hyperclient_map_attribute,
    mapattrs_sz: usize,
    status: *mut HyperclientReturncode,
) -> i64 {
    // SAFETY: the caller's contract, forwarded.
    unsafe { maps_op(client, KeyOp::MAP_ATOMIC_XOR, space, key, key_sz, ptr::null(), 0, mapattrs, mapattrs_sz, status) }
}

/// Like `hyperclient_map_atomic_xor`, but only if every check passes against the object
/// (CMPFAIL otherwise), in the same atomic step.
#[no_mangle]
#[must_use]
pub unsafe extern "C" fn hyperclient_cond_map_atomic_xor(
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
    unsafe {
        maps_op(client, KeyOp::MAP_ATOMIC_XOR, space, key, key_sz, checks, checks_sz, mapattrs, mapattrs_sz, status)
    }
}

/// Prepends `value` to the string map value selected by `map_key` (a missing entry starts empty
/// and is created). NOTFOUND if there is no object (it is not created).
#[no_mangle]
#[must_use]
pub unsafe extern "C" fn hyperclient_map_string_prepend(
    client: *mut hyperclient,
    space: *const c_char,
    key: *const c_char,
    key_sz: usize,
    mapattrs: *const hyperclient_map_attribute,
    mapattrs_sz: usize,
    status: *mut HyperclientReturncode,
) -> i64 {
    // SAFETY: the caller's contract, forwarded.
    unsafe {
        maps_op(client, KeyOp::MAP_STRING_PREPEND, space, key, key_sz, ptr::null(), 0, mapattrs, mapattrs_sz, status)
    }
}

/// Like `hyperclient_map_string_prepend`, but only if every check passes against the object
/// (CMPFAIL otherwise), in the same atomic step.
#[no_mangle]
#[must_use]
pub unsafe extern "C" fn hyperclient_cond_map_string_prepend(
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
    unsafe {
        maps_op(client, KeyOp::MAP_STRING_PREPEND, space, key, key_sz, checks, checks_sz, mapattrs, mapattrs_sz, status)
    }
}

/// Appends `value` to the string map value selected by `map_key` (a missing entry starts empty
/// and is created). NOTFOUND if there is no object (it is not created).
#[no_mangle]
#[must_use]
pub unsafe extern "C" fn hyperclient_map_string_append(
    client: *mut hyperclient,
    space: *const c_char,
    key: *const c_char,
    key_sz: usize,
    mapattrs: *const hyperclient_map_attribute,
    mapattrs_sz: usize,
    status: *mut HyperclientReturncode,
) -> i64 {
    // SAFETY: the caller's contract, forwarded.
    unsafe {
        maps_op(client, KeyOp::MAP_STRING_APPEND, space, key, key_sz, ptr::null(), 0, mapattrs, mapattrs_sz, status)
    }
}

/// Like `hyperclient_map_string_append`, but only if every check passes against the object
/// (CMPFAIL otherwise), in the same atomic step.
#[no_mangle]
#[must_use]
pub unsafe extern "C" fn hyperclient_cond_map_string_append(
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
    unsafe {
        maps_op(client, KeyOp::MAP_STRING_APPEND, space, key, key_sz, checks, checks_sz, mapattrs, mapattrs_sz, status)
    }
}
