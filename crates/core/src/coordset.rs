//! Which coordinator to talk to next, for everything that talks to a replicated coordinator
//! group (the client library, the daemons, the admin tools). Only the group's leader
//! answers; the others answer REDIRECT with the leader's address (empty while an election
//! runs). No I/O here (but for the socket options of [`detect_dead_peer`]): callers connect
//! and report what happened.
//!
//! * The known addresses are the ones the caller started with (seeds), then every
//!   coordinator of the newest configuration, deduplicated and bounded.
//! * A redirect naming a leader is followed at once, a few hops in a row at most (two
//!   coordinators that disagree must not make a caller spin); anything else (a close, an
//!   error, an empty redirect) moves to the next known address after the caller's retry
//!   delay.

use std::net::SocketAddr;

use crate::config::CoordinatorAddr;

/// Most addresses kept (a configuration from a confused peer cannot make us hold many).
pub const MAX_KNOWN: usize = 16;
/// Redirects followed at once in a row; the next one is followed after the retry delay.
pub const MAX_HOPS: u32 = 8;

/// When to make the next attempt (at [`CoordinatorSet::target`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Next {
    /// Right away: a coordinator named its leader.
    Now,
    /// After the retry delay.
    Later,
}

/// The known coordinators and where the next connection goes.
#[derive(Clone, Debug, Default)]
pub struct CoordinatorSet {
    seeds: Vec<SocketAddr>,
    addrs: Vec<SocketAddr>,
    /// Index into `addrs` of the next address to try (when no redirect is pending).
    cursor: usize,
    /// The leader a coordinator just named: the next attempt goes there.
    redirect: Option<SocketAddr>,
    /// Redirects followed in a row without a real answer or a pause.
    hops: u32,
    /// Addresses that failed (refused, closed, errored) since the last real answer.
    down: Vec<SocketAddr>,
}

impl CoordinatorSet {
    /// A set of the addresses the caller was given (its `host:port`, resolved).
    pub fn new(seeds: Vec<SocketAddr>) -> CoordinatorSet {
        let mut s = CoordinatorSet::default();
        for a in seeds {
            if !s.seeds.contains(&a) && s.seeds.len() < MAX_KNOWN {
                s.seeds.push(a);
            }
        }
        s.addrs = s.seeds.clone();
        s
    }

    pub fn is_empty(&self) -> bool {
        self.addrs.is_empty()
    }

    /// Every known address: the seeds first.
    pub fn addrs(&self) -> &[SocketAddr] {
        &self.addrs
    }

    /// Takes the coordinator group of a newer configuration: the known addresses become the
    /// seeds plus its members (unparsable addresses are skipped). Coordinators that left the
    /// group are forgotten.
    pub fn learn(&mut self, coordinators: &[CoordinatorAddr]) {
        let current = self.addrs.get(self.cursor).copied();
        let mut addrs = self.seeds.clone();
        for c in coordinators {
            let Ok(a) = c.addr.parse::<SocketAddr>() else { continue };
            if addrs.len() >= MAX_KNOWN {
                break;
            }
            if !addrs.contains(&a) {
                addrs.push(a);
            }
        }
        self.addrs = addrs;
        self.down.retain(|a| self.addrs.contains(a));
        self.cursor = current.and_then(|c| self.position(c)).unwrap_or(0);
    }

    /// Where the next attempt goes: the leader last named, else the next known address.
    pub fn target(&self) -> Option<SocketAddr> {
        self.redirect.or_else(|| self.addrs.get(self.cursor % self.addrs.len().max(1)).copied())
    }

    /// `from` answered (not with a redirect): it is the leader, tried first from now on.
    pub fn answered(&mut self, from: SocketAddr) {
        self.redirect = None;
        self.hops = 0;
        self.down.clear();
        if let Some(i) = self.position(from) {
            self.cursor = i;
        }
    }

    /// `from` answered REDIRECT naming `leader` (empty: no leader known yet).
    pub fn redirected(&mut self, from: SocketAddr, leader: &str) -> Next {
        // It answered, so it is up, whatever it says.
        self.down.retain(|a| *a != from);
        match leader.parse::<SocketAddr>() {
            // A leader that just failed us is not followed again until someone really
            // answers (followers go on naming a dead leader until they elect another); the
            // rotation still reaches it in turn, in case it is back.
            Ok(to) if self.hops < MAX_HOPS && !self.down.contains(&to) => {
                self.hops += 1;
                self.redirect = Some(to);
                Next::Now
            }
            // No leader yet, a name we cannot use, or too many hops in a row: another
            // coordinator, after a pause.
            _ => {
                self.move_on();
                Next::Later
            }
        }
    }

    /// An attempt at `addr` failed: refused, closed, timed out or answered nonsense.
    pub fn failed(&mut self, addr: SocketAddr) -> Next {
        if !self.down.contains(&addr) {
            self.down.push(addr);
        }
        self.move_on();
        Next::Later
    }

    /// Every known address failed since the last real answer (redirects count as alive):
    /// no coordinator is left to try.
    pub fn all_down(&self) -> bool {
        !self.addrs.is_empty() && self.addrs.iter().all(|a| self.down.contains(a))
    }

    fn move_on(&mut self) {
        self.redirect = None;
        self.hops = 0;
        self.cursor = (self.cursor + 1) % self.addrs.len().max(1);
    }

    fn position(&self, a: SocketAddr) -> Option<usize> {
        self.addrs.iter().position(|x| *x == a)
    }
}

/// A token for one add-space or rm-space call (never 0, which means none), reused on
/// every retry so that the coordinator group applies it once. Unique enough without any
/// I/O: std's per-process random hash keys mixed with a counter, the process id and the
/// time.
pub fn retry_token() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    h.write_u32(std::process::id());
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos());
    h.write_u128(nanos);
    h.finish().max(1)
}

/// How long a connection to a coordinator may take to open before the next one is tried
/// (a host that is down answers nothing: without this, a connect waits minutes).
pub const CONNECT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(1);

/// Makes a coordinator connection notice a peer host that died without closing it (power
/// loss, a partition): TCP keepalive probes after 1 s of silence, every second, given up
/// after 2 unanswered, and unacknowledged data given up after 3 s. Without it, a standing
/// configuration wait on such a connection would wait for as long as TCP retries (minutes).
pub fn detect_dead_peer(fd: std::os::fd::RawFd) {
    let set = |level: libc::c_int, name: libc::c_int, v: libc::c_int| {
        // SAFETY: setsockopt on a descriptor the caller owns, with a c_int option value.
        unsafe {
            libc::setsockopt(
                fd,
                level,
                name,
                &v as *const libc::c_int as *const libc::c_void,
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            );
        }
    };
    set(libc::SOL_SOCKET, libc::SO_KEEPALIVE, 1);
    set(libc::IPPROTO_TCP, libc::TCP_KEEPIDLE, 1);
    set(libc::IPPROTO_TCP, libc::TCP_KEEPINTVL, 1);
    set(libc::IPPROTO_TCP, libc::TCP_KEEPCNT, 2);
    set(libc::IPPROTO_TCP, libc::TCP_USER_TIMEOUT, 3000);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn a(port: u16) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], port))
    }

    fn group(ports: &[u16]) -> Vec<CoordinatorAddr> {
        ports.iter().enumerate().map(|(i, p)| CoordinatorAddr { id: i as u64 + 1, addr: a(*p).to_string() }).collect()
    }

    #[test]
    fn learning_keeps_the_seeds_first_deduplicates_and_skips_bad_addresses() {
        let mut s = CoordinatorSet::new(vec![a(1), a(1), a(2)]);
        assert_eq!(s.addrs(), [a(1), a(2)]);
        let mut g = group(&[2, 3, 4]);
        g.push(CoordinatorAddr { id: 9, addr: "not an address".into() });
        g.push(CoordinatorAddr { id: 10, addr: "localhost:1982".into() });
        s.learn(&g);
        assert_eq!(s.addrs(), [a(1), a(2), a(3), a(4)]);
        // A newer group without 4: it is forgotten (the seeds never are).
        s.learn(&group(&[3]));
        assert_eq!(s.addrs(), [a(1), a(2), a(3)]);
    }

    #[test]
    fn the_list_is_bounded() {
        let mut s = CoordinatorSet::new(vec![a(1)]);
        s.learn(&group(&(100..200).collect::<Vec<_>>()));
        assert_eq!(s.addrs().len(), MAX_KNOWN);
        assert_eq!(s.addrs()[0], a(1));
    }

    #[test]
    fn failures_go_round_the_list_and_all_down_needs_every_address() {
        let mut s = CoordinatorSet::new(vec![a(1)]);
        s.learn(&group(&[1, 2, 3]));
        assert_eq!(s.target(), Some(a(1)));
        assert_eq!(s.failed(a(1)), Next::Later);
        assert_eq!(s.target(), Some(a(2)));
        assert!(!s.all_down());
        s.failed(a(2));
        assert_eq!(s.target(), Some(a(3)));
        s.failed(a(3));
        assert!(s.all_down());
        assert_eq!(s.target(), Some(a(1)));
        // An answer brings them all back.
        s.answered(a(1));
        assert!(!s.all_down());
    }

    #[test]
    fn a_single_coordinator_that_fails_is_all_down() {
        let mut s = CoordinatorSet::new(vec![a(1)]);
        s.failed(a(1));
        assert!(s.all_down());
        assert_eq!(s.target(), Some(a(1)));
    }

    #[test]
    fn a_named_leader_is_followed_at_once_and_becomes_the_first_choice() {
        let mut s = CoordinatorSet::new(vec![a(1)]);
        s.learn(&group(&[1, 2, 3]));
        assert_eq!(s.redirected(a(1), &a(3).to_string()), Next::Now);
        assert_eq!(s.target(), Some(a(3)));
        s.answered(a(3));
        assert_eq!(s.target(), Some(a(3)));
        // The leader dies: the next one after it.
        s.failed(a(3));
        assert_eq!(s.target(), Some(a(1)));
    }

    #[test]
    fn a_dead_leader_named_by_everyone_does_not_trap_us_between_two_coordinators() {
        let mut s = CoordinatorSet::new(vec![a(1)]);
        s.learn(&group(&[1, 2, 3]));
        let mut tried = Vec::new();
        for _ in 0..6 {
            let t = s.target().unwrap();
            tried.push(t);
            if t == a(1) {
                s.failed(t);
            } else {
                // It failed us already: the redirect to it is not followed.
                assert_eq!(s.redirected(t, &a(1).to_string()), Next::Later);
            }
        }
        assert_eq!(tried, [a(1), a(2), a(3), a(1), a(2), a(3)]);
        // 2 and 3 answer: not all down, so waiting operations keep waiting.
        assert!(!s.all_down());
    }

    #[test]
    fn an_empty_or_unusable_redirect_moves_on_after_a_pause() {
        for leader in ["", "garbage", "host.example:1982"] {
            let mut s = CoordinatorSet::new(vec![a(1), a(2)]);
            assert_eq!(s.redirected(a(1), leader), Next::Later, "{leader:?}");
            assert_eq!(s.target(), Some(a(2)), "{leader:?}");
            assert!(!s.all_down());
        }
    }

    #[test]
    fn an_endless_redirect_loop_pauses_after_max_hops() {
        let mut s = CoordinatorSet::new(vec![a(1)]);
        let mut nows = 0;
        for _ in 0..(3 * MAX_HOPS) {
            let t = s.target().unwrap();
            if s.redirected(t, &t.to_string()) == Next::Now {
                nows += 1;
            } else {
                assert_eq!(nows, MAX_HOPS, "a pause after each run of MAX_HOPS");
                nows = 0;
            }
        }
        assert!(!s.all_down(), "a peer that redirects is up");
    }

    #[test]
    fn retry_tokens_are_nonzero_and_differ() {
        let t: Vec<u64> = (0..100).map(|_| retry_token()).collect();
        assert!(t.iter().all(|x| *x != 0));
        let mut d = t.clone();
        d.sort_unstable();
        d.dedup();
        assert_eq!(d.len(), t.len());
    }
}
