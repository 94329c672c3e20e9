//! SIGINT/SIGTERM/SIGHUP set a flag that the event loops check; the processes then stop
//! cleanly (flushing storage) instead of dying mid-write.

use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};

static STOP: AtomicBool = AtomicBool::new(false);

extern "C" fn on_signal(_: libc::c_int) {
    STOP.store(true, Ordering::SeqCst);
}

/// Installs the handlers (idempotent).
pub fn install() {
    let handler = on_signal as extern "C" fn(libc::c_int) as libc::sighandler_t;
    // SAFETY: the handler only stores to an atomic, which is async-signal-safe.
    unsafe {
        libc::signal(libc::SIGINT, handler);
        libc::signal(libc::SIGTERM, handler);
        libc::signal(libc::SIGHUP, handler);
        libc::signal(libc::SIGPIPE, libc::SIG_IGN);
    }
}

pub fn stopping() -> bool {
    STOP.load(Ordering::SeqCst)
}

/// The write end of the pipe a backgrounded server reports start-up on (-1: foreground).
static READY_FD: AtomicI32 = AtomicI32::new(-1);

pub fn set_ready_fd(fd: i32) {
    READY_FD.store(fd, Ordering::SeqCst);
}

/// Tells the waiting parent (if any) that start-up succeeded (`Ok`) or why it failed.
/// Only the first call counts.
pub fn ready(result: Result<(), &str>) {
    let fd = READY_FD.swap(-1, Ordering::SeqCst);
    if fd < 0 {
        return;
    }
    let msg: &[u8] = match result {
        Ok(()) => b"ok",
        Err(m) => m.as_bytes(),
    };
    // SAFETY: fd is the pipe's write end, owned by this process; msg is valid for its length.
    unsafe {
        libc::write(fd, msg.as_ptr().cast(), msg.len());
        libc::close(fd);
    }
}
