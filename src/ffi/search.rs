//! The search-type operations of the C ABI: search, sorted_search, count, group_del and
//! search_describe. Each is one shim around `Client::search` with its `SearchKind`.

use std::ffi::c_char;
use std::ptr;

use hyperdex_core::codes::ReturnCode;

use super::types::{c_str, hyperclient_attribute, hyperclient_attribute_check, CheckView, HyperclientReturncode};
use super::{finish, guard, hyperclient, usable, whole, Outputs};
use crate::client::{OpError, SearchKind};

/// The shared body of the five exports.
///
/// # Safety
/// The export's contract: every pointer NULL or valid for its size; `out`'s pointers valid
/// until the operation's last event.
unsafe fn start(
    client: *mut hyperclient,
    kind: SearchKind<'_>,
    space: *const c_char,
    checks: *const hyperclient_attribute_check,
    checks_sz: usize,
    out: Outputs,
) -> i64 {
    let status = out.status;
    if status.is_null() {
        return -1;
    }
    guard(client, status, -1, || {
        // SAFETY: the export's contract covers every pointer used here.
        let r = unsafe {
            (|| {
                let c = usable(client)?;
                let space = c_str(space).ok_or(whole(ReturnCode::UnknownSpace))?;
                let checks = CheckView::slice(checks, checks_sz)
                    .ok_or(OpError { offset: -1, status: ReturnCode::UnknownAttr })?;
                c.client.lock().search(kind, space, checks, out)
            })()
        };
        // SAFETY: status checked non-NULL above.
        unsafe { finish(r, status) }
    })
}

/// Sets a search's attribute outputs to "none yet"; false (with GARBAGE) if one is NULL.
///
/// # Safety
/// Each pointer is NULL or valid for a write.
unsafe fn clear_attrs(
    status: *mut HyperclientReturncode,
    attrs: *mut *mut hyperclient_attribute,
    attrs_sz: *mut usize,
) -> bool {
    if attrs.is_null() || attrs_sz.is_null() {
        // SAFETY: NULL or valid (contract).
        unsafe { super::set_status(status, ReturnCode::Garbage) };
        return false;
    }
    // SAFETY: checked non-NULL; valid by the contract.
    unsafe {
        attrs.write(ptr::null_mut());
        attrs_sz.write(0);
    }
    true
}

/// Starts a search for every object of `space` that passes every check (an empty array
/// matches every object). `*attrs` and `*attrs_sz` are set to NULL and 0 now.
///
/// `hyperclient_loop` then returns this id once per matching object, with `*status` ==
/// SUCCESS and `*attrs` a NEW array: the key first (named after the key attribute), then
/// every other attribute in schema order; free each with `hyperclient_destroy_attrs`. A
/// region whose server failed gives an event with `*status` == RECONFIGURE, SERVERERROR or
/// OFFLINE (and no array), and the search goes on. The last event has `*status` ==
/// SEARCHDONE. Objects come in no defined order, each at most once.
///
/// Refused at once (negative result, nothing sent): check i invalid: -1 - i with
/// UNKNOWNATTR or WRONGTYPE; ranges that cannot hold a value (lower > upper): -1 with
/// INTERNAL; a region that must be read has no replica: -1 with OFFLINE.
#[no_mangle]
#[must_use]
pub unsafe extern "C" fn hyperclient_search(
    client: *mut hyperclient,
    space: *const c_char,
    checks: *const hyperclient_attribute_check,
    checks_sz: usize,
    status: *mut HyperclientReturncode,
    attrs: *mut *mut hyperclient_attribute,
    attrs_sz: *mut usize,
) -> i64 {
    // SAFETY: the caller's contract.
    if !unsafe { clear_attrs(status, attrs, attrs_sz) } {
        return -1;
    }
    let out = Outputs { status, attrs, attrs_sz, ..Outputs::status_only(status) };
    // SAFETY: the caller's contract, forwarded.
    unsafe { start(client, SearchKind::Search, space, checks, checks_sz, out) }
}

/// Like `hyperclient_search`, but delivers at most `limit` matches, sorted by attribute
/// `sort_by` (string, int or float; the key is allowed): largest first when `maximize` is
/// non-zero, else smallest first. Equal sort values come in no defined order. Then
/// SEARCHDONE. `limit` 0 gives only SEARCHDONE. A bad `sort_by` is refused with
/// -1 - checks_sz and UNKNOWNATTR (no such attribute) or WRONGTYPE (not sortable).
#[no_mangle]
#[must_use]
#[allow(clippy::too_many_arguments)]
pub unsafe extern "C" fn hyperclient_sorted_search(
    client: *mut hyperclient,
    space: *const c_char,
    checks: *const hyperclient_attribute_check,
    checks_sz: usize,
    sort_by: *const c_char,
    limit: u64,
    maximize: std::ffi::c_int,
    status: *mut HyperclientReturncode,
    attrs: *mut *mut hyperclient_attribute,
    attrs_sz: *mut usize,
) -> i64 {
    // SAFETY: the caller's contract.
    if !unsafe { clear_attrs(status, attrs, attrs_sz) } {
        return -1;
    }
    // SAFETY: NULL or a NUL-terminated string (contract). NULL names no attribute.
    let sort_by = unsafe { c_str(sort_by) }.unwrap_or(b"");
    let out = Outputs { status, attrs, attrs_sz, ..Outputs::status_only(status) };
    let kind = SearchKind::Sorted { sort_by, limit, maximize: maximize != 0 };
    // SAFETY: the caller's contract, forwarded.
    unsafe { start(client, kind, space, checks, checks_sz, out) }
}

/// Counts the objects that pass every check. One event: `*result` holds the number (set to
/// 0 now). If a region's server failed, `*status` says how (RECONFIGURE, SERVERERROR,
/// OFFLINE) and `*result` is a lower bound.
#[no_mangle]
#[must_use]
pub unsafe extern "C" fn hyperclient_count(
    client: *mut hyperclient,
    space: *const c_char,
    checks: *const hyperclient_attribute_check,
    checks_sz: usize,
    status: *mut HyperclientReturncode,
    result: *mut u64,
) -> i64 {
    if result.is_null() {
        // SAFETY: NULL or valid (contract).
        unsafe { super::set_status(status, ReturnCode::Garbage) };
        return -1;
    }
    // SAFETY: checked non-NULL; valid by the contract.
    unsafe { result.write(0) };
    let out = Outputs { count: result, ..Outputs::status_only(status) };
    // SAFETY: the caller's contract, forwarded.
    unsafe { start(client, SearchKind::Count, space, checks, checks_sz, out) }
}

/// Deletes every object that passes every check, each through the normal write path (every
/// replica of every subspace), as a conditional delete with the same checks: an object
/// changed meanwhile so that it no longer matches is kept. One event, once every delete is
/// answered: SUCCESS, or the first failure (RECONFIGURE, SERVERERROR, OFFLINE), in which
/// case some matches may remain (each one either deleted or untouched).
#[no_mangle]
#[must_use]
pub unsafe extern "C" fn hyperclient_group_del(
    client: *mut hyperclient,
    space: *const c_char,
    checks: *const hyperclient_attribute_check,
    checks_sz: usize,
    status: *mut HyperclientReturncode,
) -> i64 {
    // SAFETY: the caller's contract, forwarded.
    unsafe { start(client, SearchKind::GroupDel, space, checks, checks_sz, Outputs::status_only(status)) }
}

/// Describes how a search with these checks is routed: the subspace chosen and one line per
/// region read (`region(R) server(S) touched by search: N matching object(s)`, or
/// `failed: ...`). One event; `*description` then points at the text, owned by the client
/// and valid until the next `hyperclient_loop` call or `hyperclient_destroy`.
#[no_mangle]
#[must_use]
pub unsafe extern "C" fn hyperclient_search_describe(
    client: *mut hyperclient,
    space: *const c_char,
    checks: *const hyperclient_attribute_check,
    checks_sz: usize,
    status: *mut HyperclientReturncode,
    description: *mut *const c_char,
) -> i64 {
    if description.is_null() {
        // SAFETY: NULL or valid (contract).
        unsafe { super::set_status(status, ReturnCode::Garbage) };
        return -1;
    }
    // SAFETY: checked non-NULL; valid by the contract.
    unsafe { description.write(ptr::null()) };
    let out = Outputs { description, ..Outputs::status_only(status) };
    // SAFETY: the caller's contract, forwarded.
    unsafe { start(client, SearchKind::Describe, space, checks, checks_sz, out) }
}
