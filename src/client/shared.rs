//! A client that several threads may use at once: [`SharedClient`].
//!
//! Every call takes the client's lock (a parking_lot mutex) for as long as it runs. The
//! poller lives outside that lock: `loop_once` prepares (sends what is queued, computes its
//! timeout) under the lock, releases it, waits in the poller, then takes the lock again to
//! handle what arrived. Meanwhile other threads start operations; the first one queued
//! after the loop thread released the lock wakes the poller (the client's waker), so the
//! loop thread sends it without waiting out its timeout.

use std::io;
use std::os::fd::{AsRawFd, RawFd};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use mio::{Events, Poll, Waker};
use parking_lot::{Mutex, MutexGuard};

use hyperdex_core::codes::ReturnCode;

use super::{poll_error, Client, Event, IoEvent, EVENTS_CAPACITY, WAKER};

pub struct SharedClient<T> {
    state: Mutex<Client<T>>,
    /// The poller and its event buffer; held only while waiting.
    poller: Mutex<(Poll, Events)>,
    /// Threads inside `loop_once` at the poller (waiting for it, or in it).
    at_poller: AtomicUsize,
    fd: RawFd,
}

impl<T: Clone> SharedClient<T> {
    /// A client of the cluster whose coordinator listens on `host:port`. Does no I/O.
    pub fn new(host: &str, port: u16) -> io::Result<SharedClient<T>> {
        let mut c = Client::new(host, port)?;
        let poll = c.poll.take().ok_or_else(|| io::Error::other("a new client owns its poller"))?;
        c.waker = Some(Arc::new(Waker::new(&c.registry, WAKER)?));
        let fd = poll.as_raw_fd();
        Ok(SharedClient {
            state: Mutex::new(c),
            poller: Mutex::new((poll, Events::with_capacity(EVENTS_CAPACITY))),
            at_poller: AtomicUsize::new(0),
            fd,
        })
    }

    /// The client, for starting operations (and every other call but `loop_once`). Hold the
    /// guard only for the call: `loop_once` needs it too.
    pub fn lock(&self) -> MutexGuard<'_, Client<T>> {
        self.state.lock()
    }

    /// The descriptor that becomes readable when the client has work (see `Client::poll_fd`).
    pub fn poll_fd(&self) -> RawFd {
        self.fd
    }

    /// Waits up to `timeout_ms` (negative: forever) for one event, and hands it to `f` while
    /// the client is locked (an event borrows the client's buffers). The wait itself does
    /// not hold the lock.
    pub fn loop_once<R>(&self, timeout_ms: i32, f: impl FnOnce(Event<'_, T>) -> R) -> Result<R, ReturnCode> {
        // Fast path: something already finished (no clock read, no system call).
        {
            let mut c = self.state.lock();
            if let Some(d) = c.next_delivery() {
                return Ok(f(c.deliver(d)));
            }
        }
        let mut now = Instant::now();
        let deadline = u64::try_from(timeout_ms).ok().map(|ms| now + Duration::from_millis(ms));
        let mut polled = false;
        let mut evs: Vec<IoEvent> = Vec::new();
        loop {
            let wait = {
                let mut c = self.state.lock();
                if let Some(d) = c.next_delivery() {
                    return Ok(f(c.deliver(d)));
                }
                match c.before_wait(now, deadline, polled)? {
                    Some(wait) => wait,
                    None => {
                        if let Some(d) = c.next_delivery() {
                            return Ok(f(c.deliver(d)));
                        }
                        continue;
                    }
                }
            };
            {
                // Another thread may be waiting in the poller: wait for it no longer than
                // this call may wait, then look again for an event it left behind before
                // waiting in the poller ourselves.
                self.at_poller.fetch_add(1, Ordering::SeqCst);
                let got = match wait {
                    None => Some(self.poller.lock()),
                    Some(t) => self.poller.try_lock_for(t),
                };
                let Some(mut p) = got else {
                    self.at_poller.fetch_sub(1, Ordering::SeqCst);
                    now = Instant::now();
                    polled = true;
                    continue;
                };
                {
                    let mut c = self.state.lock();
                    if c.has_deliverable() || c.pending() == 0 {
                        drop(p);
                        self.at_poller.fetch_sub(1, Ordering::SeqCst);
                        if let Some(d) = c.next_delivery() {
                            return Ok(f(c.deliver(d)));
                        }
                        continue;
                    }
                }
                let (poll, events) = &mut *p;
                let r = poll.poll(events, wait);
                self.at_poller.fetch_sub(1, Ordering::SeqCst);
                r.map_err(poll_error)?;
                evs.clear();
                evs.extend(events.iter().map(IoEvent::of));
            }
            now = Instant::now();
            polled = true;
            let mut c = self.state.lock();
            c.last_check = now;
            c.dispatch_all(&evs);
            if let Some(d) = c.next_delivery() {
                if self.at_poller.load(Ordering::SeqCst) > 0 && (c.has_deliverable() || c.pending() <= 1) {
                    // Another thread waits at the poller: it must come back for the events
                    // left here (their sockets will not become readable again), or to learn
                    // that nothing is pending any more.
                    c.wake();
                }
                return Ok(f(c.deliver(d)));
            }
        }
    }
}
