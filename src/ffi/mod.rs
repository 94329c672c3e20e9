//! The C ABI of libhyperclient (`hyperclient.h`). Every `unsafe` block and `extern "C"`
//! function of the library lives in this module.
//!
//! Each export is a short shim: check the pointers, view the C arguments, call one method of
//! the safe client, write the outputs. All of them run inside [`guard`], the one panic
//! boundary: a panic becomes the function's fallback value (-1 with status EXCEPTION, NULL,
//! or EXCEPTION), and the client it happened in refuses further work with EXCEPTION.
//!
//! Safety contract for callers (stated in the header): pointers are NULL or valid for the
//! documented extent; input arrays and strings only need to live for the call; the status
//! and output pointers of an operation must stay valid until `hyperclient_loop` returns its
//! id (written by whichever thread loops); a client may be shared between threads.

#![allow(non_camel_case_types)]
#![allow(clippy::missing_safety_doc)]
#![deny(unsafe_op_in_unsafe_fn)]

mod attrs;
mod keyops;
mod search;
mod types;

use std::ffi::{c_char, c_int, CString};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::ptr;
use std::sync::OnceLock;

use hyperdex_core::codes::{DataType, ReturnCode};

use std::sync::atomic::{AtomicBool, Ordering};

use parking_lot::Mutex;

use crate::client::{arg_offset, Event, Extra, KeyOp, OpError, SharedClient};

pub use keyops::*;
pub use search::*;
use types::{bytes, c_str, AttrView, CheckView, MapAttrView};
pub use types::{
    hyperclient_attribute, hyperclient_attribute_check, hyperclient_map_attribute, HyperclientReturncode,
    Hyperdatatype, Hyperpredicate,
};

/// Where an operation's results go: the caller's pointers, given at call time.
#[derive(Clone, Copy)]
struct Outputs {
    status: *mut HyperclientReturncode,
    attrs: *mut *mut hyperclient_attribute,
    attrs_sz: *mut usize,
    /// count's result.
    count: *mut u64,
    /// search_describe's text.
    description: *mut *const c_char,
}

impl Outputs {
    fn status_only(status: *mut HyperclientReturncode) -> Outputs {
        Outputs {
            status,
            attrs: ptr::null_mut(),
            attrs_sz: ptr::null_mut(),
            count: ptr::null_mut(),
            description: ptr::null_mut(),
        }
    }
}

/// A client handle (opaque to C). Several threads may use one handle at once: every call
/// takes the client's lock, and `hyperclient_loop` waits without holding it.
pub struct hyperclient {
    client: SharedClient<Outputs>,
    /// A panic happened inside this client: its state can no longer be trusted.
    poisoned: AtomicBool,
    /// The last search_describe text handed out (valid until the next loop call).
    description: Mutex<Option<CString>>,
}

/// The panic boundary of every export: runs `body`; if it panics, marks the client (when
/// there is one) unusable, stores EXCEPTION through `status` (when given) and returns
/// `fallback`.
fn guard<R>(client: *mut hyperclient, status: *mut HyperclientReturncode, fallback: R, body: impl FnOnce() -> R) -> R {
    match catch_unwind(AssertUnwindSafe(body)) {
        Ok(r) => r,
        Err(_) => {
            // SAFETY: the pointers are the export's own arguments, NULL or valid (contract).
            unsafe {
                if let Some(c) = client.as_ref() {
                    c.poisoned.store(true, Ordering::Relaxed);
                }
                set_status(status, ReturnCode::Exception);
            }
            fallback
        }
    }
}

/// # Safety
/// `status` is NULL or valid for a write.
unsafe fn set_status(status: *mut HyperclientReturncode, rc: ReturnCode) {
    if !status.is_null() {
        // SAFETY: non-NULL, and valid by the caller's contract.
        unsafe { status.write(rc as u32) };
    }
}

/// The client behind a handle: NULL is refused with GARBAGE ("not initialised"), a
/// poisoned client with EXCEPTION.
///
/// # Safety
/// `p` is NULL or a handle from `hyperclient_create` not yet destroyed.
unsafe fn usable<'a>(p: *mut hyperclient) -> Result<&'a hyperclient, OpError> {
    // SAFETY: by the contract above.
    match unsafe { p.as_ref() } {
        None => Err(OpError { offset: -1, status: ReturnCode::Garbage }),
        Some(c) if c.poisoned.load(Ordering::Relaxed) => Err(OpError { offset: -1, status: ReturnCode::Exception }),
        Some(c) => Ok(c),
    }
}

/// The id, or the negative offset with its status written.
///
/// # Safety
/// `status` is valid for a write.
unsafe fn finish(r: Result<i64, OpError>, status: *mut HyperclientReturncode) -> i64 {
    match r {
        Ok(id) => id,
        Err(e) => {
            // SAFETY: forwarded.
            unsafe { set_status(status, e.status) };
            e.offset
        }
    }
}

fn whole(rc: ReturnCode) -> OpError {
    OpError { offset: -1, status: rc }
}

/// The shared body of every write: views the C arrays and calls `Client::key_op`.
///
/// # Safety
/// The export's contract: every pointer NULL or valid for its size.
#[allow(clippy::too_many_arguments)]
unsafe fn key_op(
    client: *mut hyperclient,
    op: KeyOp,
    space: *const c_char,
    key: *const c_char,
    key_sz: usize,
    checks: *const hyperclient_attribute_check,
    checks_sz: usize,
    attrs: *const hyperclient_attribute,
    attrs_sz: usize,
    mapattrs: *const hyperclient_map_attribute,
    mapattrs_sz: usize,
    status: *mut HyperclientReturncode,
) -> i64 {
    if status.is_null() {
        return -1;
    }
    guard(client, status, -1, || {
        // SAFETY: the export's contract covers every pointer used here.
        let r = unsafe {
            (|| {
                let c = usable(client)?;
                let space = c_str(space).ok_or(whole(ReturnCode::UnknownSpace))?;
                let key = bytes(key, key_sz).ok_or(whole(ReturnCode::WrongType))?;
                let unknown = |at| OpError { offset: at, status: ReturnCode::UnknownAttr };
                let checks = CheckView::slice(checks, checks_sz).ok_or(unknown(arg_offset(0, 0)))?;
                let attrs = AttrView::slice(attrs, attrs_sz).ok_or(unknown(arg_offset(checks_sz, 0)))?;
                let maps = MapAttrView::slice(mapattrs, mapattrs_sz)
                    .ok_or(unknown(arg_offset(checks_sz.saturating_add(attrs_sz), 0)))?;
                c.client.lock().key_op(op, space, key, checks, attrs, maps, Outputs::status_only(status))
            })()
        };
        // SAFETY: status checked non-NULL above.
        unsafe { finish(r, status) }
    })
}

/// Writes an operation's results through the pointers given when it started. A get that
/// succeeded gets its attribute block (or NOMEM if it cannot be allocated).
///
/// # Safety
/// The pointers in `ev.user` are valid (the caller's contract until this id is returned).
unsafe fn complete(ev: Event<'_, Outputs>, description: &Mutex<Option<CString>>) -> i64 {
    let out = ev.user;
    let mut rc = ev.status;
    match &ev.extra {
        Extra::None => {}
        Extra::Count(n) => {
            if !out.count.is_null() {
                // SAFETY: checked non-NULL when the count was started; valid until now.
                unsafe { out.count.write(*n) };
            }
        }
        Extra::Text(t) => {
            let text = CString::new(t.replace('\0', " ")).unwrap_or_default();
            if !out.description.is_null() {
                // SAFETY: as above; the text lives in the handle until the next loop call.
                unsafe { out.description.write(text.as_ptr()) };
            }
            *description.lock() = Some(text);
        }
    }
    if let (ReturnCode::Success, Some(values)) = (rc, &ev.values) {
        match attrs::build(values.iter()) {
            // SAFETY: checked non-NULL when the get was started; valid until now.
            Some((block, n)) => unsafe {
                out.attrs.write(block);
                out.attrs_sz.write(n);
            },
            None => rc = ReturnCode::NoMem,
        }
    }
    // SAFETY: as above.
    unsafe { set_status(out.status, rc) };
    ev.id
}

#[cfg(target_os = "linux")]
fn set_errno(v: c_int) {
    // SAFETY: __errno_location returns this thread's errno slot.
    unsafe { *libc::__errno_location() = v };
}

#[cfg(not(target_os = "linux"))]
fn set_errno(_v: c_int) {}

// ---------------------------------------------------------------------------------------
// Lifecycle and administration
// ---------------------------------------------------------------------------------------

/// Creates a client of the cluster whose coordinator listens on `coordinator:port` (a host
/// name or an IP address). Does no network I/O: the first operation returns at once, and
/// `hyperclient_loop` fetches the cluster configuration before sending it.
///
/// Returns NULL on failure with errno set (EINVAL for a NULL or non-UTF-8 host).
#[no_mangle]
pub unsafe extern "C" fn hyperclient_create(coordinator: *const c_char, port: u16) -> *mut hyperclient {
    guard(ptr::null_mut(), ptr::null_mut(), ptr::null_mut(), || {
        // SAFETY: NULL or a NUL-terminated string (contract).
        let host = unsafe { c_str(coordinator) }.and_then(|b| std::str::from_utf8(b).ok());
        let Some(host) = host else {
            set_errno(libc::EINVAL);
            return ptr::null_mut();
        };
        match SharedClient::new(host, port) {
            Ok(client) => Box::into_raw(Box::new(hyperclient {
                client,
                poisoned: AtomicBool::new(false),
                description: Mutex::new(None),
            })),
            Err(e) => {
                set_errno(e.raw_os_error().unwrap_or(libc::ENOMEM));
                ptr::null_mut()
            }
        }
    })
}

/// Destroys a client and closes its connections. Operations still outstanding are
/// abandoned: their results are never written. NULL is ignored.
#[no_mangle]
pub unsafe extern "C" fn hyperclient_destroy(client: *mut hyperclient) {
    guard(ptr::null_mut(), ptr::null_mut(), (), || {
        if !client.is_null() {
            // SAFETY: a handle from hyperclient_create, destroyed once (contract).
            drop(unsafe { Box::from_raw(client) });
        }
    })
}

/// Adds a space described in the space description language; whitespace (newlines
/// included) separates words. Blocks until the coordinator answers.
///
/// Returns SUCCESS; BADSPACE (the description does not parse or is invalid; nothing is
/// sent); DUPLICATE (a space of that name exists); COORDFAIL (coordinator unreachable or
/// not initialised); INTERNAL (the coordinator refused it). GARBAGE for a NULL client.
#[no_mangle]
#[must_use]
pub unsafe extern "C" fn hyperclient_add_space(
    client: *mut hyperclient,
    description: *const c_char,
) -> HyperclientReturncode {
    guard(client, ptr::null_mut(), ReturnCode::Exception as u32, || {
        // SAFETY: the pointers are NULL or valid (contract).
        let c = match unsafe { usable(client) } {
            Ok(c) => c,
            Err(e) => return e.status as u32,
        };
        // SAFETY: as above.
        let Some(desc) = (unsafe { c_str(description) }) else {
            return ReturnCode::BadSpace as u32;
        };
        c.client.lock().add_space(desc) as u32
    })
}

/// Removes a space and all its objects. Blocks until the coordinator answers.
///
/// Returns SUCCESS; NOTFOUND (no such space, or `space` is NULL); COORDFAIL; INTERNAL.
/// GARBAGE for a NULL client.
#[no_mangle]
#[must_use]
pub unsafe extern "C" fn hyperclient_rm_space(client: *mut hyperclient, space: *const c_char) -> HyperclientReturncode {
    guard(client, ptr::null_mut(), ReturnCode::Exception as u32, || {
        // SAFETY: the pointers are NULL or valid (contract).
        let c = match unsafe { usable(client) } {
            Ok(c) => c,
            Err(e) => return e.status as u32,
        };
        // SAFETY: as above.
        let Some(name) = (unsafe { c_str(space) }) else {
            return ReturnCode::NotFound as u32;
        };
        c.client.lock().rm_space(name) as u32
    })
}

/// The declared type of attribute `name` of `space`. On failure returns
/// HYPERDATATYPE_GARBAGE with `*status` = UNKNOWNSPACE, UNKNOWNATTR, COORDFAIL, ...
/// `*status` is SUCCESS otherwise. A NULL `status` gives GARBAGE and nothing is done.
#[no_mangle]
#[must_use]
pub unsafe extern "C" fn hyperclient_attribute_type(
    client: *mut hyperclient,
    space: *const c_char,
    name: *const c_char,
    status: *mut HyperclientReturncode,
) -> Hyperdatatype {
    let garbage = DataType::Garbage as u32;
    if status.is_null() {
        return garbage;
    }
    guard(client, status, garbage, || {
        // SAFETY: the pointers are NULL or valid (contract).
        let r = unsafe {
            (|| {
                let c = usable(client).map_err(|e| e.status)?;
                let space = c_str(space).ok_or(ReturnCode::UnknownSpace)?;
                let name = c_str(name).ok_or(ReturnCode::UnknownAttr)?;
                c.client.lock().attribute_type(space, name)
            })()
        };
        let (rc, t) = match r {
            Ok(t) => (ReturnCode::Success, t as u32),
            Err(rc) => (rc, garbage),
        };
        // SAFETY: checked non-NULL above.
        unsafe { set_status(status, rc) };
        t
    })
}

/// Frees an attribute array returned by get. The array is ONE allocation holding the
/// structs, names and values, so this is `free(attrs)`; `attrs_sz` is ignored and NULL is
/// fine.
#[no_mangle]
pub unsafe extern "C" fn hyperclient_destroy_attrs(attrs: *mut hyperclient_attribute, attrs_sz: usize) {
    let _ = attrs_sz;
    // SAFETY: NULL or a block this library allocated with malloc (contract).
    guard(ptr::null_mut(), ptr::null_mut(), (), || unsafe { libc::free(attrs.cast()) })
}

// ---------------------------------------------------------------------------------------
// The event loop
// ---------------------------------------------------------------------------------------

/// Waits up to `timeout` milliseconds (-1: forever, 0: do not block) for one event of an
/// operation, and returns its id after writing its outcome into the status (and output)
/// pointers given when it started; `*status` (this call's own) is then SUCCESS. A key
/// operation, count, group_del and search_describe have one event; search and
/// sorted_search one per object or failed region, then a last one with SEARCHDONE.
///
/// Returns -1 with `*status` = NONEPENDING (nothing outstanding), TIMEOUT (nothing
/// finished in time; everything stays pending), INTERRUPTED (a signal), POLLFAILED, or
/// GARBAGE for a NULL client. A NULL `status` returns -1 and does nothing.
#[no_mangle]
#[must_use]
pub unsafe extern "C" fn hyperclient_loop(
    client: *mut hyperclient,
    timeout: c_int,
    status: *mut HyperclientReturncode,
) -> i64 {
    if status.is_null() {
        return -1;
    }
    guard(client, status, -1, || {
        // SAFETY: NULL or a live handle (contract).
        let c = match unsafe { usable(client) } {
            Ok(c) => c,
            Err(e) => {
                // SAFETY: status checked non-NULL above.
                unsafe { set_status(status, e.status) };
                return -1;
            }
        };
        *c.description.lock() = None;
        let delivered = c.client.loop_once(timeout, |ev| {
            // The loop's own status first: when the caller passes the same variable as the
            // operation's status, the operation's outcome is what it reads.
            // SAFETY: status checked non-NULL; the op's pointers are valid until now.
            unsafe {
                set_status(status, ReturnCode::Success);
                complete(ev, &c.description)
            }
        });
        match delivered {
            Ok(id) => id,
            Err(rc) => {
                // SAFETY: status checked non-NULL above.
                unsafe { set_status(status, rc) };
                -1
            }
        }
    })
}

/// The descriptor to watch for readability when the client is driven from the caller's
/// own event loop (poll, epoll, libuv, ...). Whenever it is readable, and after starting
/// operations, call `hyperclient_loop(client, 0, &status)` until it returns -1 with
/// TIMEOUT or NONEPENDING. Returns -1 for a NULL client or on failure.
#[no_mangle]
#[must_use]
pub unsafe extern "C" fn hyperclient_poll_fd(client: *mut hyperclient) -> c_int {
    guard(client, ptr::null_mut(), -1, || {
        // SAFETY: NULL or a live handle (contract).
        match unsafe { usable(client) } {
            Ok(c) => c.client.poll_fd(),
            Err(_) => -1,
        }
    })
}

struct CodeName {
    code: u32,
    symbol: CString,
    message: CString,
}

fn code_names() -> &'static [CodeName] {
    static NAMES: OnceLock<Vec<CodeName>> = OnceLock::new();
    NAMES.get_or_init(|| {
        ReturnCode::ALL
            .iter()
            .filter_map(|rc| {
                Some(CodeName {
                    code: *rc as u32,
                    symbol: CString::new(rc.symbol()).ok()?,
                    message: CString::new(rc.message()).ok()?,
                })
            })
            .collect()
    })
}

/// The name of a return code, e.g. "HYPERCLIENT_NOTFOUND" (a static string; never NULL).
/// A number that is no return code gives "BUG".
#[no_mangle]
#[must_use]
pub extern "C" fn hyperclient_returncode_to_string(code: HyperclientReturncode) -> *const c_char {
    guard(ptr::null_mut(), ptr::null_mut(), c"BUG".as_ptr(), || {
        code_names().iter().find(|n| n.code == code).map_or(c"BUG".as_ptr(), |n| n.symbol.as_ptr())
    })
}

/// A short English description of a return code, e.g. "Not Found" (a static string;
/// never NULL). A number that is no return code gives "Unknown Error (file a bug)".
#[no_mangle]
#[must_use]
pub extern "C" fn hyperclient_returncode_message(code: HyperclientReturncode) -> *const c_char {
    let unknown = c"Unknown Error (file a bug)".as_ptr();
    guard(ptr::null_mut(), ptr::null_mut(), unknown, || {
        code_names().iter().find(|n| n.code == code).map_or(unknown, |n| n.message.as_ptr())
    })
}

#[cfg(test)]
mod tests;
