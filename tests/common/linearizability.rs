//! A linearizability checker for histories recorded by the integration tests.
//!
//! Every key is modelled as an independent register holding `Option<Vec<u8>>` (`None` means
//! the key is absent). A test records, for each operation a client issued, when it was
//! invoked, what it was (a put, a delete, or a read and what the read saw) and how it ended:
//!
//! * [`Outcome::Ok`]: the client got a definite answer at the given time;
//! * [`Outcome::Failed`]: the operation certainly had no effect (refused before anything was
//!   done), so it is simply ignored;
//! * [`Outcome::Unknown`]: the client does not know whether a write happened (timeout,
//!   connection loss, RECONFIGURE, ...). Such a write may take effect at any moment after its
//!   invocation, arbitrarily late, or never. A read with an unknown outcome tells us nothing
//!   and is ignored.
//!
//! [`check`] then decides whether the history is linearizable: whether, for every key, there
//! is one total order of the key's completed operations, plus any subset of its
//! unknown-outcome writes, that respects real time (an operation that returned before another
//! one was invoked comes first) and in which every read returns the value left by the latest
//! write before it (or the key's initial value).
//!
//! # How the search works
//!
//! Keys are checked one at a time. For one key the checker performs the depth-first search of
//! Wing and Gong, organised as Lowe describes: the invocations and responses of the key's
//! operations are put in one time-ordered, doubly linked list. The operations that may be
//! linearized next are exactly those whose invocation comes before the first response still in
//! the list (every operation that finished earlier has already been placed). Placing an
//! operation unlinks its two entries; backtracking links them back in (the links of an
//! unlinked entry are left untouched, so restoring in reverse order is exact). The search is an
//! explicit stack of levels, one per placed operation, so long histories cannot overflow the
//! thread's stack.
//!
//! A configuration of the search is the set of placed operations (a bitset) together with the
//! register's value. Whether a configuration can be completed depends only on these two
//! things, so every configuration reached is remembered in a hash table and never explored
//! twice. This is what keeps the search polynomial on realistic histories. The table stores
//! each placed set compactly: the index below which every completed operation is placed, the
//! few words of bits beyond it, and the bits of the unknown-outcome writes.
//!
//! Further observations cut the search down without losing any linearization:
//!
//! 1. If a read that may go next observes the current value, placing it right now is never
//!    worse than placing it later (it does not change the value, and placing it early only
//!    relaxes real-time constraints). Such a read is placed without trying alternatives.
//! 2. A write whose outcome is unknown is only ever observable through the reads that see its
//!    value before the next write. Any linearization that uses it can therefore be rearranged
//!    so that it sits immediately before the first read that observes it (moving it later is
//!    always allowed, since it has no response time). The search thus places such a write only
//!    together with a read of its value, as one combined step. When several pending
//!    unknown-outcome writes carry that value, any one of them will do, because all of them
//!    stay eligible from then on.
//! 3. The search succeeds as soon as every completed operation is placed: unknown-outcome
//!    writes that were never needed are simply taken to have never happened.
//! 4. Values that no read observes are interchangeable, so the register's value is compared
//!    as "some unobserved value" for all of them, merging configurations that differ only
//!    there.
//! 5. If a read that may go next observes a value that the register does not hold and that
//!    no unplaced write produces, the configuration is a dead end and is abandoned at once.
//!
//! Times are compared so that an operation invoked at exactly the moment another one returned
//! is treated as concurrent with it (the lenient choice; recorders take the invocation time
//! before sending and the response time after receiving, so real histories never tie).
//!
//! When a key's history cannot be linearized, the returned [`Violation`] names the key and
//! explains the failure: the deepest point the search reached, the operations that could have
//! come next, and a dump of the key's history sorted by invocation time.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;
use std::sync::Mutex;
use std::time::Instant;

/// A point in time, in nanoseconds since an arbitrary origin (see [`History`]).
pub type Time = u64;

/// What an operation did to (or saw in) its key's register.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Kind {
    /// An unconditional put (`Some(value)`) or delete (`None`).
    Write(Option<Vec<u8>>),
    /// A read, with the value it observed (`None`: the key was absent). The value is
    /// meaningless unless the outcome is [`Outcome::Ok`].
    Read(Option<Vec<u8>>),
}

/// How an operation ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Completed; the client received the answer at the given time.
    Ok(Time),
    /// Certainly had no effect; ignored by the checker.
    Failed,
    /// May have taken effect at any time after its invocation, or never. Only meaningful for
    /// writes; an unknown read is ignored.
    Unknown,
}

/// One operation of a history.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Op {
    /// The key the operation addressed.
    pub key: Vec<u8>,
    /// What it did.
    pub kind: Kind,
    /// When the client issued it.
    pub invoked: Time,
    /// How it ended.
    pub outcome: Outcome,
    /// Which client issued it; only used to make explanations readable.
    pub client: usize,
}

/// A thread-safe recorder of operations, sharing one time origin between all clients.
///
/// ```ignore
/// let h = History::new();
/// let t = h.invoke();
/// let result = client.put(key, value);
/// h.record(client_id, key, Kind::Write(Some(value.to_vec())), t, match result {
///     Ok(()) => Outcome::Ok(h.now()),
///     Err(e) if e.is_definite_failure() => Outcome::Failed,
///     Err(_) => Outcome::Unknown,
/// });
/// ...
/// h.check(|_| None).unwrap_or_else(|v| panic!("{v}"));
/// ```
#[derive(Debug)]
pub struct History {
    origin: Instant,
    ops: Mutex<Vec<Op>>,
}

impl Default for History {
    fn default() -> Self {
        Self::new()
    }
}

impl History {
    /// An empty history whose time origin is now.
    pub fn new() -> Self {
        History { origin: Instant::now(), ops: Mutex::new(Vec::new()) }
    }

    /// Nanoseconds elapsed since the history was created.
    pub fn now(&self) -> Time {
        Time::try_from(self.origin.elapsed().as_nanos()).unwrap_or(Time::MAX)
    }

    /// The time to use as an operation's invocation: call it just before sending the request.
    pub fn invoke(&self) -> Time {
        self.now()
    }

    /// Records a finished operation. For [`Outcome::Ok`], take the time with [`History::now`]
    /// just after the answer arrived.
    pub fn record(&self, client: usize, key: &[u8], kind: Kind, invoked: Time, outcome: Outcome) {
        self.push(Op { key: key.to_vec(), kind, invoked, outcome, client });
    }

    /// Records an operation that completed successfully just now.
    pub fn record_ok(&self, client: usize, key: &[u8], kind: Kind, invoked: Time) {
        let at = self.now();
        self.record(client, key, kind, invoked, Outcome::Ok(at));
    }

    /// Records an already built operation.
    pub fn push(&self, op: Op) {
        self.lock().push(op);
    }

    /// A copy of the operations recorded so far, in recording order.
    pub fn ops(&self) -> Vec<Op> {
        self.lock().clone()
    }

    /// How many operations were recorded.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether nothing was recorded yet.
    pub fn is_empty(&self) -> bool {
        self.lock().is_empty()
    }

    /// Checks the recorded history; see [`check`].
    pub fn check(&self, initial: impl Fn(&[u8]) -> Option<Vec<u8>>) -> Result<(), Violation> {
        check(&self.lock(), initial)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Op>> {
        // A test thread that panicked while holding the lock cannot have left the vector half
        // updated (a push either happened or not), so a poisoned lock is still usable.
        self.ops.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// A key whose history has no linearization.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Violation {
    /// The offending key.
    pub key: Vec<u8>,
    /// What could not be linearized, followed by the key's history sorted by invocation time
    /// (times relative to the first invocation).
    pub explanation: String,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.explanation)
    }
}

impl std::error::Error for Violation {}

/// Checks that `ops` is linearizable, key by key. `initial` gives each key's value before the
/// history started (usually `|_| None`). Keys are checked in byte order and the first key
/// without a linearization is reported.
pub fn check(ops: &[Op], initial: impl Fn(&[u8]) -> Option<Vec<u8>>) -> Result<(), Violation> {
    let mut by_key: BTreeMap<&[u8], Vec<&Op>> = BTreeMap::new();
    for op in ops {
        by_key.entry(&op.key).or_default().push(op);
    }
    for (key, key_ops) in by_key {
        let init = initial(key);
        check_key(key, &key_ops, init.as_deref()).0?;
    }
    Ok(())
}

/// Counters describing one key's search, for tests and tuning.
#[derive(Clone, Copy, Debug, Default)]
struct Stats {
    /// Distinct configurations (placed set, value) visited.
    configs: usize,
}

/// "No unknown-outcome write" in a [`Step`].
const NONE: usize = usize::MAX;

/// The model value standing for every value that no read ever observes: such values are
/// interchangeable as far as the search is concerned, so configurations that differ only in
/// which of them the register holds are merged.
const UNOBSERVED: u32 = u32::MAX;

/// One move of the search: place `op` (a completed operation), preceded by the
/// unknown-outcome write `unknown` if that is not [`NONE`].
#[derive(Clone, Copy, Debug)]
struct Step {
    op: usize,
    unknown: usize,
}

/// One level of the explicit search stack: the moves still to try from one configuration,
/// stored as `steps[next..end]` of a shared arena that is truncated to `start` on exit.
struct Level {
    start: usize,
    next: usize,
    end: usize,
}

/// The deepest point the search reached, kept for the explanation.
struct Deepest {
    placed_ok: usize,
    /// The value the register held there (an index into the value names).
    value: u32,
    /// The last few moves leading there, oldest first.
    tail: Vec<Step>,
    /// Operations that could have been placed next.
    window: Vec<usize>,
    /// The pending completed operation that returned first: nothing invoked after its
    /// response can be placed before it.
    blocking: Option<usize>,
}

/// How many of the moves leading to the deepest point are shown.
const TAIL_SHOWN: usize = 12;

/// One key's operations as the search sees them. Completed operations come first (indices
/// `0..n_ok`, by invocation time), then the unknown-outcome writes (`n_ok..`).
struct Model {
    n_ok: usize,
    /// Index of each operation in the key's history sorted by invocation (as shown to users).
    src: Vec<usize>,
    is_write: Vec<bool>,
    /// The value written or read, as an index into `names`.
    value: Vec<u32>,
    /// The value as the search compares it: `value`, or [`UNOBSERVED`].
    model: Vec<u32>,
    names: Vec<Option<Vec<u8>>>,
    /// For the explanation: response times of the completed operations.
    response: Vec<Option<Time>>,
}

/// The mutable part of the search: which operations are placed and what the register holds.
struct State {
    /// The event list: entry `2i` is operation `i`'s invocation, `2i + 1` its response;
    /// `head` and `tail` are sentinels.
    next: Vec<usize>,
    prev: Vec<usize>,
    head: usize,
    tail: usize,
    /// Placed completed operations, and placed unknown-outcome writes (offset by `n_ok`).
    ok_bits: Vec<u64>,
    unknown_bits: Vec<u64>,
    /// Every completed operation below this index is placed.
    frontier: usize,
    placed_ok: usize,
    /// Register contents as compared by the search, and the real contents.
    model: u32,
    value: u32,
    /// For each observed value, how many writes of it are not placed yet.
    writers_left: Vec<u32>,
}

impl State {
    /// Unlinks operation `i`'s two entries from the event list.
    fn lift(&mut self, i: usize) {
        for e in [2 * i, 2 * i + 1] {
            let (p, q) = (self.prev[e], self.next[e]);
            self.next[p] = q;
            self.prev[q] = p;
        }
    }

    /// Undoes [`State::lift`]: an unlinked entry still points at its old neighbours, so
    /// relinking in the reverse order of unlinking restores the list exactly.
    fn unlift(&mut self, i: usize) {
        for e in [2 * i + 1, 2 * i] {
            let (p, q) = (self.prev[e], self.next[e]);
            self.next[p] = e;
            self.prev[q] = e;
        }
    }

    fn place(&mut self, m: &Model, i: usize) {
        self.lift(i);
        if i < m.n_ok {
            self.ok_bits[i / 64] |= 1 << (i % 64);
            self.placed_ok += 1;
            while self.frontier < m.n_ok && self.ok_bits[self.frontier / 64] & (1 << (self.frontier % 64)) != 0 {
                self.frontier += 1;
            }
        } else {
            let u = i - m.n_ok;
            self.unknown_bits[u / 64] |= 1 << (u % 64);
        }
        if m.is_write[i] {
            self.model = m.model[i];
            self.value = m.value[i];
            if let Some(left) = self.writers_left.get_mut(m.model[i] as usize) {
                *left -= 1;
            }
        }
    }

    /// Undoes [`State::place`]; the caller restores the register contents.
    fn unplace(&mut self, m: &Model, i: usize) {
        self.unlift(i);
        if i < m.n_ok {
            self.ok_bits[i / 64] &= !(1 << (i % 64));
            self.placed_ok -= 1;
            self.frontier = self.frontier.min(i);
        } else {
            let u = i - m.n_ok;
            self.unknown_bits[u / 64] &= !(1 << (u % 64));
        }
        if m.is_write[i] {
            if let Some(left) = self.writers_left.get_mut(m.model[i] as usize) {
                *left += 1;
            }
        }
    }

    fn apply(&mut self, m: &Model, s: Step) {
        if s.unknown != NONE {
            self.place(m, s.unknown);
        }
        self.place(m, s.op);
    }

    fn undo(&mut self, m: &Model, s: Step, (model, value): (u32, u32)) {
        self.unplace(m, s.op);
        if s.unknown != NONE {
            self.unplace(m, s.unknown);
        }
        self.model = model;
        self.value = value;
    }

    /// A compact, exact encoding of the configuration: the register's model value, the
    /// frontier, the placed completed operations beyond the frontier (those below are all
    /// placed), and the placed unknown-outcome writes.
    fn encode(&self, key: &mut Vec<u64>) {
        key.clear();
        let from = self.frontier / 64;
        let mut to = self.ok_bits.len();
        while to > from && self.ok_bits[to - 1] == 0 {
            to -= 1;
        }
        key.push(u64::from(self.model));
        key.push(self.frontier as u64);
        key.push((to - from) as u64);
        key.extend_from_slice(&self.ok_bits[from..to]);
        key.extend_from_slice(&self.unknown_bits);
    }
}

/// Checks one key; `ops` are the key's operations in any order.
fn check_key(key: &[u8], ops: &[&Op], initial: Option<&[u8]>) -> (Result<(), Violation>, Stats) {
    // The key's operations sorted by invocation: their positions are the numbers used in the
    // explanation.
    let mut all: Vec<&Op> = ops.to_vec();
    all.sort_by_key(|op| op.invoked);

    for (n, op) in all.iter().enumerate() {
        if let Outcome::Ok(at) = op.outcome {
            if at < op.invoked {
                let why = format!("Operation #{n} completed at {at}, before it was invoked at {}.", op.invoked);
                return (Err(violation(key, &all, initial, &why, &[])), Stats::default());
            }
        }
    }

    // Values are interned: equal byte strings share one index into `names`.
    let mut ids: HashMap<Option<&[u8]>, u32> = HashMap::new();
    let mut names: Vec<Option<Vec<u8>>> = Vec::new();
    let initial_value = intern(&mut ids, &mut names, initial);

    // The operations the search deals with: completed ones, then unknown-outcome writes;
    // failed operations and unknown-outcome reads are dropped.
    let mut m = Model {
        n_ok: 0,
        src: Vec::new(),
        is_write: Vec::new(),
        value: Vec::new(),
        model: Vec::new(),
        names: Vec::new(),
        response: Vec::new(),
    };
    for unknown in [false, true] {
        for (n, op) in all.iter().enumerate() {
            let (write, v) = match &op.kind {
                Kind::Write(v) => (true, v.as_deref()),
                Kind::Read(v) => (false, v.as_deref()),
            };
            let response = match (op.outcome, unknown) {
                (Outcome::Ok(at), false) => Some(at),
                (Outcome::Unknown, true) if write => None,
                _ => continue,
            };
            m.src.push(n);
            m.is_write.push(write);
            m.value.push(intern(&mut ids, &mut names, v));
            m.response.push(response);
        }
        if !unknown {
            m.n_ok = m.src.len();
        }
    }
    m.names = names;
    let n = m.src.len();
    let observed: HashSet<u32> = (0..m.n_ok).filter(|&i| !m.is_write[i]).map(|i| m.value[i]).collect();
    let model_of = |v: u32| if observed.contains(&v) { v } else { UNOBSERVED };
    m.model = m.value.iter().map(|&v| model_of(v)).collect();

    // The event list, in time order. At equal times invocations come first, so that touching
    // intervals count as concurrent; unknown outcomes respond at +infinity.
    let mut order: Vec<usize> = (0..2 * n).collect();
    order.sort_by_key(|&e| {
        let i = e / 2;
        if e.is_multiple_of(2) {
            (u128::from(all[m.src[i]].invoked), 0u8, i)
        } else {
            (m.response[i].map_or(u128::MAX, u128::from), 1u8, i)
        }
    });
    let (head, tail) = (2 * n, 2 * n + 1);
    let mut st = State {
        next: vec![tail; 2 * n + 2],
        prev: vec![head; 2 * n + 2],
        head,
        tail,
        ok_bits: vec![0; m.n_ok.div_ceil(64)],
        unknown_bits: vec![0; (n - m.n_ok).div_ceil(64)],
        frontier: 0,
        placed_ok: 0,
        writers_left: vec![0; m.names.len()],
        model: model_of(initial_value),
        value: initial_value,
    };
    for i in (0..n).filter(|&i| m.is_write[i]) {
        if let Some(left) = st.writers_left.get_mut(m.model[i] as usize) {
            *left += 1;
        }
    }
    let mut last = head;
    for &e in &order {
        st.next[last] = e;
        st.prev[e] = last;
        last = e;
    }
    st.next[last] = tail;
    st.prev[tail] = last;

    let mut seen: HashSet<Box<[u64]>, BuildFastHasher> = HashSet::default();
    let mut key_buf: Vec<u64> = Vec::new();
    let mut levels: Vec<Level> = Vec::new();
    let mut steps: Vec<Step> = Vec::new();
    // The moves taken, with the register contents before each: one fewer than the levels.
    let mut path: Vec<(Step, (u32, u32))> = Vec::new();
    let mut window: Vec<usize> = Vec::new();
    let mut unknowns: Vec<(u32, usize)> = Vec::new();
    let mut deepest: Option<Deepest> = None;

    loop {
        // We are at a configuration not visited before.
        if st.placed_ok == m.n_ok {
            return (Ok(()), Stats { configs: seen.len() });
        }

        // The operations that may go next: invocations before the first response. Since a
        // completed operation is pending, the scan stops at a response, not at `tail`.
        window.clear();
        let mut e = st.next[st.head];
        while e != st.tail && e.is_multiple_of(2) {
            window.push(e / 2);
            e = st.next[e];
        }
        let blocking = (e != st.tail).then_some(e / 2);

        if deepest.as_ref().is_none_or(|d| st.placed_ok > d.placed_ok) {
            let from = path.len().saturating_sub(TAIL_SHOWN);
            deepest = Some(Deepest {
                placed_ok: st.placed_ok,
                value: st.value,
                tail: path[from..].iter().map(|(s, _)| *s).collect(),
                window: window.clone(),
                blocking,
            });
        }

        // The moves to try from here.
        let start = steps.len();
        let doomed = window
            .iter()
            .any(|&i| !m.is_write[i] && m.model[i] != st.model && st.writers_left[m.model[i] as usize] == 0);
        let ready_read = window.iter().copied().find(|&i| !m.is_write[i] && m.model[i] == st.model);
        if doomed {
            // A read that may go next observes a value the register no longer holds and that no
            // remaining write produces: a dead end.
        } else if let Some(i) = ready_read {
            // A read of the current value goes first, with no alternative (see the module doc).
            steps.push(Step { op: i, unknown: NONE });
        } else {
            unknowns.clear();
            unknowns.extend(window.iter().filter(|&&i| i >= m.n_ok).map(|&i| (m.model[i], i)));
            for &i in &window {
                if i >= m.n_ok {
                    continue;
                }
                if m.is_write[i] {
                    steps.push(Step { op: i, unknown: NONE });
                } else if let Some(&(_, u)) = unknowns.iter().find(|(v, _)| *v == m.model[i]) {
                    steps.push(Step { op: i, unknown: u });
                }
            }
        }
        levels.push(Level { start, next: start, end: steps.len() });

        // Take the next move leading to an unvisited configuration, backtracking as needed.
        loop {
            let Some(level) = levels.last_mut() else {
                // Every configuration reachable from the start failed.
                let why = explain_deepest(&all, &m, deepest.as_ref());
                let focus: Vec<usize> =
                    deepest.as_ref().and_then(|d| d.blocking).map(|i| m.src[i]).into_iter().collect();
                return (Err(violation(key, &all, initial, &why, &focus)), Stats { configs: seen.len() });
            };
            if level.next == level.end {
                steps.truncate(level.start);
                levels.pop();
                if let Some((step, before)) = path.pop() {
                    st.undo(&m, step, before);
                }
                continue;
            }
            let step = steps[level.next];
            level.next += 1;

            let before = (st.model, st.value);
            st.apply(&m, step);
            st.encode(&mut key_buf);
            if seen.contains(key_buf.as_slice()) {
                // Already explored from here: undo and try the next move.
                st.undo(&m, step, before);
                continue;
            }
            seen.insert(key_buf.as_slice().into());
            path.push((step, before));
            break;
        }
    }
}

/// The index of value `v` in `names`, adding it if it is new.
fn intern<'a>(ids: &mut HashMap<Option<&'a [u8]>, u32>, names: &mut Vec<Option<Vec<u8>>>, v: Option<&'a [u8]>) -> u32 {
    let next = names.len() as u32;
    let id = *ids.entry(v).or_insert(next);
    if id == next {
        names.push(v.map(<[u8]>::to_vec));
    }
    id
}

/// A quick hasher for the visited-configuration table (its keys are short word arrays; the
/// default SipHash is needlessly slow for them).
#[derive(Clone, Copy, Default)]
struct BuildFastHasher;

impl std::hash::BuildHasher for BuildFastHasher {
    type Hasher = FastHasher;
    fn build_hasher(&self) -> FastHasher {
        FastHasher(0)
    }
}

struct FastHasher(u64);

impl FastHasher {
    fn mix(&mut self, word: u64) {
        self.0 = (self.0.rotate_left(5) ^ word).wrapping_mul(0x517c_c1b7_2722_0a95);
    }
}

impl std::hash::Hasher for FastHasher {
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            let mut w = [0u8; 8];
            w.copy_from_slice(c);
            self.mix(u64::from_le_bytes(w));
        }
        for &b in chunks.remainder() {
            self.mix(u64::from(b));
        }
    }

    fn write_u64(&mut self, word: u64) {
        self.mix(word);
    }

    fn write_usize(&mut self, word: usize) {
        self.mix(word as u64);
    }

    fn finish(&self) -> u64 {
        // A final avalanche so that the table's low bits depend on every input word.
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}

/// Describes where the search got stuck.
fn explain_deepest(all: &[&Op], m: &Model, deepest: Option<&Deepest>) -> String {
    use std::fmt::Write as _;
    let name = |id: u32| fmt_value(m.names[id as usize].as_deref());
    let describe = |i: usize| {
        let op = all[m.src[i]];
        let what = match (m.is_write[i], &m.names[m.value[i] as usize]) {
            (true, Some(_)) => format!("put {}", name(m.value[i])),
            (true, None) => "delete".to_string(),
            (false, _) => format!("read -> {}", name(m.value[i])),
        };
        match m.response[i] {
            Some(_) => format!("#{} (client {}, {what})", m.src[i], op.client),
            None => format!("#{} (client {}, {what}, unknown outcome)", m.src[i], op.client),
        }
    };
    let Some(d) = deepest else {
        return "The search did not start.\n".to_string();
    };
    let mut s = String::new();
    let _ = writeln!(
        s,
        "The longest partial linearization places {} of the {} completed operations, leaving the key at {}.",
        d.placed_ok,
        m.n_ok,
        name(d.value)
    );
    if !d.tail.is_empty() {
        let _ = writeln!(s, "It ends with:");
        for step in &d.tail {
            if step.unknown != NONE {
                let _ = writeln!(s, "  {}", describe(step.unknown));
            }
            let _ = writeln!(s, "  {}", describe(step.op));
        }
    }
    let candidates: Vec<usize> = d.window.iter().copied().filter(|&i| i < m.n_ok).collect();
    if candidates.is_empty() {
        let _ = writeln!(s, "No completed operation may come next.");
    } else {
        let _ =
            writeln!(s, "No choice among the completed operations that may come next leads to a full linearization:");
        for i in candidates {
            let _ = writeln!(s, "  {}", describe(i));
        }
    }
    let pending: Vec<usize> = d.window.iter().copied().filter(|&i| i >= m.n_ok).collect();
    if !pending.is_empty() {
        const SHOWN: usize = 8;
        let mut shown: Vec<String> = pending.iter().take(SHOWN).map(|&i| describe(i)).collect();
        if pending.len() > SHOWN {
            shown.push(format!("and {} more", pending.len() - SHOWN));
        }
        let _ = writeln!(s, "Unknown-outcome writes that could still take effect: {}.", shown.join(", "));
    }
    if let Some(b) = d.blocking {
        let _ = writeln!(s, "So the search cannot get past the response of {}.", describe(b));
    }
    s
}

/// The full explanation: the reason, then the key's history. `focus` marks operations to
/// point at; long histories are cut down to the neighbourhood of the first of them.
fn violation(key: &[u8], all: &[&Op], initial: Option<&[u8]>, why: &str, focus: &[usize]) -> Violation {
    use std::fmt::Write as _;
    let mut s = String::new();
    let _ = writeln!(
        s,
        "key {}: history is not linearizable (initial value {}).",
        fmt_value(Some(key)),
        fmt_value(initial)
    );
    s.push_str(why);
    if !s.ends_with('\n') {
        s.push('\n');
    }

    const FULL: usize = 400;
    const AROUND: usize = 60;
    let (from, to) = match focus.first() {
        Some(&f) if all.len() > FULL => (f.saturating_sub(AROUND), (f + AROUND + 1).min(all.len())),
        _ => (0, all.len()),
    };
    let origin = all.first().map_or(0, |op| op.invoked);
    let _ = writeln!(
        s,
        "History of the key ({} operations, sorted by invocation, times relative to the first):",
        all.len()
    );
    if from > 0 {
        let _ = writeln!(s, "  ... {from} earlier operations omitted ...");
    }
    for (n, op) in all.iter().enumerate().take(to).skip(from) {
        let end = match op.outcome {
            Outcome::Ok(at) => fmt_time(at.saturating_sub(origin)),
            Outcome::Failed | Outcome::Unknown => "?".to_string(),
        };
        let what = match &op.kind {
            Kind::Write(Some(v)) => format!("put {}", fmt_value(Some(v))),
            Kind::Write(None) => "delete".to_string(),
            Kind::Read(v) => match op.outcome {
                Outcome::Ok(_) => format!("read -> {}", fmt_value(v.as_deref())),
                _ => "read".to_string(),
            },
        };
        let note = match (op.outcome, &op.kind) {
            (Outcome::Ok(_), _) => "",
            (Outcome::Failed, _) => "  [failed: ignored]",
            (Outcome::Unknown, Kind::Write(_)) => "  [unknown outcome]",
            (Outcome::Unknown, Kind::Read(_)) => "  [unknown outcome: ignored]",
        };
        let mark = if focus.contains(&n) { "  <== search stuck here" } else { "" };
        let _ = writeln!(
            s,
            "  #{n:<5} client {:<3} [{:>12}, {:>12}]  {what}{note}{mark}",
            op.client,
            fmt_time(op.invoked.saturating_sub(origin)),
            end
        );
    }
    if to < all.len() {
        let _ = writeln!(s, "  ... {} later operations omitted ...", all.len() - to);
    }
    Violation { key: key.to_vec(), explanation: s }
}

/// A relative time for humans.
fn fmt_time(ns: Time) -> String {
    if ns < 10_000 {
        format!("+{ns}ns")
    } else if ns < 10_000_000 {
        format!("+{:.3}us", ns as f64 / 1e3)
    } else {
        format!("+{:.3}ms", ns as f64 / 1e6)
    }
}

/// A value for humans: quoted text when printable, hex otherwise, shortened when long.
fn fmt_value(v: Option<&[u8]>) -> String {
    const LONG: usize = 48;
    let Some(v) = v else {
        return "<absent>".to_string();
    };
    let shown = &v[..v.len().min(LONG)];
    let mut s = if shown.iter().all(|b| b.is_ascii_graphic() || *b == b' ') {
        format!("{:?}", String::from_utf8_lossy(shown))
    } else {
        let hex: String = shown.iter().map(|b| format!("{b:02x}")).collect();
        format!("0x{hex}")
    };
    if v.len() > LONG {
        s.push_str(&format!("...({} bytes)", v.len()));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    const K: &[u8] = b"k";

    fn v(s: &str) -> Option<Vec<u8>> {
        Some(s.as_bytes().to_vec())
    }

    fn op(client: usize, kind: Kind, invoked: Time, outcome: Outcome) -> Op {
        Op { key: K.to_vec(), kind, invoked, outcome, client }
    }

    /// A completed put, delete or read on `K` over `[from, to]`.
    fn put(c: usize, x: &str, from: Time, to: Time) -> Op {
        op(c, Kind::Write(v(x)), from, Outcome::Ok(to))
    }
    fn del(c: usize, from: Time, to: Time) -> Op {
        op(c, Kind::Write(None), from, Outcome::Ok(to))
    }
    fn get(c: usize, x: Option<&str>, from: Time, to: Time) -> Op {
        op(c, Kind::Read(x.and_then(v)), from, Outcome::Ok(to))
    }

    fn absent(_: &[u8]) -> Option<Vec<u8>> {
        None
    }

    fn ok(ops: &[Op]) {
        if let Err(e) = check(ops, absent) {
            panic!("expected linearizable, got:\n{e}");
        }
    }

    fn bad(ops: &[Op]) -> Violation {
        match check(ops, absent) {
            Ok(()) => panic!("expected a violation for {ops:#?}"),
            Err(e) => e,
        }
    }

    #[test]
    fn sequential_history() {
        let h = vec![
            get(0, None, 0, 1),
            put(0, "a", 2, 3),
            get(1, Some("a"), 4, 5),
            put(1, "b", 6, 7),
            get(0, Some("b"), 8, 9),
            del(0, 10, 11),
            get(1, None, 12, 13),
            put(1, "c", 14, 15),
            get(0, Some("c"), 16, 17),
        ];
        ok(&h);

        // The read at 8 sees "a" although "b" was written (and acknowledged) at 6..7.
        let mut stale = h.clone();
        stale[4] = get(0, Some("a"), 8, 9);
        let e = bad(&stale);
        assert_eq!(e.key, K);
        assert!(e.explanation.contains("key \"k\""), "{e}");
        assert!(e.explanation.contains("read -> \"a\""), "{e}");

        // A read of an absent key after a delete must not see the old value.
        let mut resurrected = h.clone();
        resurrected[6] = get(1, Some("b"), 12, 13);
        bad(&resurrected);

        // The initial value is honoured.
        let h2 = vec![get(0, Some("init"), 0, 1), put(0, "a", 2, 3), get(0, Some("a"), 4, 5)];
        assert!(check(&h2, |_| v("init")).is_ok());
        assert!(check(&h2, absent).is_err());
    }

    #[test]
    fn concurrent_writes() {
        // W(a) and W(b) overlap; all reads start after both completed.
        let w = [put(0, "a", 0, 10), put(1, "b", 1, 11)];
        let seq = |x: &str, y: &str| {
            let mut h = w.to_vec();
            h.push(get(2, Some(x), 12, 13));
            h.push(get(2, Some(y), 14, 15));
            h
        };
        ok(&seq("a", "a"));
        ok(&seq("b", "b"));
        // The register cannot change without a write.
        bad(&seq("a", "b"));
        bad(&seq("b", "a"));

        // Reads concurrent with the writes may see the first value, then the second.
        ok(&[put(0, "a", 0, 10), put(1, "b", 1, 11), get(2, Some("a"), 2, 3), get(2, Some("b"), 4, 5)]);
        // ... or start with the initial value.
        ok(&[put(0, "a", 0, 10), put(1, "b", 1, 11), get(2, None, 2, 3), get(2, Some("b"), 4, 5)]);
        // But once the first read saw "b" then "a", "b" cannot come back.
        bad(&[
            put(0, "a", 0, 10),
            put(1, "b", 1, 11),
            get(2, Some("b"), 2, 3),
            get(2, Some("a"), 4, 5),
            get(2, Some("b"), 6, 7),
        ]);
        // Two clients reading concurrently may see the two orders only if the reads overlap
        // the writes: here the second client's reads are after everything.
        bad(&[
            put(0, "a", 0, 10),
            put(1, "b", 1, 11),
            get(2, Some("a"), 2, 3),
            get(2, Some("b"), 4, 5),
            get(3, Some("a"), 20, 21),
        ]);
    }

    #[test]
    fn unknown_writes() {
        let unknown = |c: usize, x: &str, at: Time| op(c, Kind::Write(v(x)), at, Outcome::Unknown);
        // Took effect: later reads see it.
        ok(&[put(0, "a", 0, 1), unknown(1, "x", 2), get(0, Some("x"), 10, 11), get(0, Some("x"), 12, 13)]);
        // Never took effect.
        ok(&[put(0, "a", 0, 1), unknown(1, "x", 2), get(0, Some("a"), 10, 11), get(0, Some("a"), 12, 13)]);
        // Took effect late, after a later acknowledged write.
        ok(&[unknown(1, "x", 0), put(0, "y", 5, 6), get(0, Some("y"), 7, 8), get(0, Some("x"), 9, 10)]);
        // Deletes may be unknown too.
        ok(&[put(0, "a", 0, 1), op(1, Kind::Write(None), 2, Outcome::Unknown), get(0, None, 10, 11)]);
        // x, then the old value, then x again: needs the old value written again, and x too,
        // since an unknown write happens at most once.
        let once = [
            put(0, "a", 0, 1),
            unknown(1, "x", 2),
            get(0, Some("x"), 10, 11),
            get(0, Some("a"), 12, 13),
            get(0, Some("x"), 14, 15),
        ];
        bad(&once);
        let mut rewritten = once.to_vec();
        rewritten.insert(3, put(2, "a", 11, 12));
        bad(&rewritten);
        // ... unless there are two unknown writes of x.
        rewritten.push(unknown(3, "x", 5));
        ok(&rewritten);
        // A value nobody wrote.
        let e = bad(&[put(0, "a", 0, 1), unknown(1, "x", 2), get(0, Some("z"), 10, 11)]);
        assert!(e.explanation.contains("\"z\""), "{e}");
        // An unknown write cannot take effect before it was invoked.
        bad(&[put(0, "a", 0, 1), get(0, Some("x"), 2, 3), unknown(1, "x", 10)]);
        // Unknown reads are ignored whatever they carry.
        ok(&[put(0, "a", 0, 1), op(1, Kind::Read(v("junk")), 2, Outcome::Unknown), get(0, Some("a"), 3, 4)]);
    }

    #[test]
    fn read_before_write_invoked() {
        bad(&[get(0, Some("a"), 0, 5), put(1, "a", 10, 20)]);
        // Touching intervals count as concurrent.
        ok(&[get(0, Some("a"), 0, 10), put(1, "a", 10, 20)]);
        // Overlapping is fine.
        ok(&[get(0, Some("a"), 0, 15), put(1, "a", 10, 20)]);
    }

    #[test]
    fn failed_ops_are_ignored() {
        let failed_put = op(1, Kind::Write(v("z")), 2, Outcome::Failed);
        ok(&[put(0, "a", 0, 1), failed_put.clone(), get(0, Some("a"), 10, 11)]);
        // A failed write cannot explain a read of its value.
        bad(&[put(0, "a", 0, 1), failed_put, get(0, Some("z"), 10, 11)]);
        // A failed read's value is irrelevant.
        ok(&[put(0, "a", 0, 1), op(1, Kind::Read(v("junk")), 2, Outcome::Failed), get(0, Some("a"), 10, 11)]);
    }

    #[test]
    fn keys_are_independent() {
        let on = |key: &[u8], mut o: Op| {
            o.key = key.to_vec();
            o
        };
        let h = vec![
            on(b"a", put(0, "1", 0, 1)),
            on(b"b", put(1, "2", 0, 1)),
            on(b"a", get(0, Some("1"), 2, 3)),
            on(b"b", get(1, Some("2"), 2, 3)),
        ];
        ok(&h);
        let mut wrong = h.clone();
        // "1" was written, but to the other key.
        wrong[3] = on(b"b", get(1, Some("1"), 2, 3));
        assert_eq!(bad(&wrong).key, b"b");
    }

    #[test]
    fn malformed_and_empty() {
        ok(&[]);
        let e = bad(&[get(0, None, 10, 5)]);
        assert!(e.explanation.contains("before it was invoked"), "{e}");
    }

    #[test]
    fn recorder() {
        let h = History::new();
        assert!(h.is_empty());
        std::thread::scope(|s| {
            for c in 0..4 {
                let h = &h;
                s.spawn(move || {
                    let key = format!("key{c}").into_bytes();
                    let t = h.invoke();
                    h.record_ok(c, &key, Kind::Write(v("x")), t);
                    let t = h.invoke();
                    h.record_ok(c, &key, Kind::Read(v("x")), t);
                    let t = h.invoke();
                    h.record(c, &key, Kind::Write(v("y")), t, Outcome::Unknown);
                });
            }
        });
        assert_eq!(h.len(), 12);
        assert!(h.check(absent).is_ok());
        let t = h.invoke();
        h.record_ok(9, b"key0", Kind::Read(v("never")), t);
        assert_eq!(h.check(absent).map_err(|e| e.key), Err(b"key0".to_vec()));
    }

    /// xorshift64*: a small deterministic generator for test histories.
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
        }
        fn below(&mut self, n: u64) -> u64 {
            self.next() % n
        }
    }

    /// A history of one key produced by simulating a real register: `clients` clients each run
    /// `per_client` operations back to back, every operation takes effect at a random point
    /// inside its interval, and `unknown_pct` percent of writes end with an unknown outcome
    /// (half of those take effect, possibly long after the client gave up on them). A final
    /// read after everything else is appended. The result is sorted by invocation time.
    fn simulated(seed: u64, clients: usize, per_client: usize, unknown_pct: u64) -> Vec<Op> {
        let mut rng = Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1);
        for _ in 0..8 {
            rng.next();
        }
        // (op, point at which it takes effect, if it does)
        let mut ops: Vec<(Op, Option<Time>)> = Vec::new();
        let mut latest = 0;
        for c in 0..clients {
            let mut t = rng.below(10);
            for _ in 0..per_client {
                let invoked = t + rng.below(5);
                let point = invoked + 1 + rng.below(20);
                let returned = point + 1 + rng.below(20);
                t = returned + 1;
                let r = rng.below(100);
                let n = ops.len();
                let (kind, effect, outcome) = if r < 50 {
                    (Kind::Read(None), Some(point), Outcome::Ok(returned))
                } else {
                    let value = if r < 90 { Some(format!("v{n}").into_bytes()) } else { None };
                    if rng.below(100) < unknown_pct {
                        let applied = rng.below(2) == 0;
                        let late = invoked + 1 + rng.below(400);
                        (Kind::Write(value), applied.then_some(late), Outcome::Unknown)
                    } else {
                        (Kind::Write(value), Some(point), Outcome::Ok(returned))
                    }
                };
                latest = latest.max(returned).max(effect.unwrap_or(0));
                ops.push((Op { key: K.to_vec(), kind, invoked, outcome, client: c }, effect));
            }
        }
        // Replay the effects in order of their points to fill in what the reads saw.
        let mut by_point: Vec<usize> = (0..ops.len()).filter(|&i| ops[i].1.is_some()).collect();
        by_point.sort_by_key(|&i| (ops[i].1, i));
        let mut state: Option<Vec<u8>> = None;
        for i in by_point {
            match &mut ops[i].0.kind {
                Kind::Write(w) => state = w.clone(),
                Kind::Read(r) => *r = state.clone(),
            }
        }
        let mut out: Vec<Op> = ops.into_iter().map(|(o, _)| o).collect();
        out.sort_by_key(|o| o.invoked);
        out.push(Op {
            key: K.to_vec(),
            kind: Kind::Read(state),
            invoked: latest + 1,
            outcome: Outcome::Ok(latest + 2),
            client: clients,
        });
        out
    }

    fn refs(ops: &[Op]) -> Vec<&Op> {
        ops.iter().collect()
    }

    /// How many random histories each randomized test checks: fewer in unoptimised builds,
    /// where the test binaries that include this module would otherwise spend seconds here.
    const SEEDS: u64 = if cfg!(debug_assertions) { 1 } else { 4 };

    #[test]
    fn random_valid_histories_are_accepted_quickly() {
        let started = Instant::now();
        let mut configs = 0;
        for seed in 0..SEEDS {
            let h = simulated(seed, 8, 375, 5);
            assert!(h.len() > 3000);
            let unknown = h.iter().filter(|o| o.outcome == Outcome::Unknown).count();
            assert!(unknown >= 20, "only {unknown} unknown writes");
            let (r, stats) = check_key(K, &refs(&h), None);
            if let Err(e) = r {
                panic!("seed {seed}: valid history rejected:\n{e}");
            }
            configs += stats.configs;
        }
        eprintln!("{SEEDS} valid histories of 3001 ops: {configs} configurations in {:?}", started.elapsed());
    }

    #[test]
    fn random_histories_with_one_bad_read_are_rejected() {
        let started = Instant::now();
        for seed in 10..10 + SEEDS {
            let h = simulated(seed, 8, 375, 5);
            let ok_read = |o: &Op| matches!(o.kind, Kind::Read(_)) && matches!(o.outcome, Outcome::Ok(_));

            // A read halfway through sees a value nobody wrote.
            let mut bogus = h.clone();
            let i = (bogus.len() / 2..bogus.len()).find(|&i| ok_read(&bogus[i])).expect("a read");
            bogus[i].kind = Kind::Read(v("bogus"));
            let e = check(&bogus, absent).expect_err("bogus read accepted");
            assert_eq!(e.key, K);
            assert!(e.explanation.contains("\"bogus\""), "{e}");

            // A read a third of the way through sees a value overwritten before it started: a
            // completed put W, a completed put W2 invoked after W returned, and a read invoked
            // after W2 returned. Values are unique, so W's value cannot come back.
            let mut stale = h.clone();
            let end = |o: &Op| match o.outcome {
                Outcome::Ok(at) => at,
                _ => Time::MAX,
            };
            let completed_put = |o: &Op| matches!(&o.kind, Kind::Write(Some(_))) && matches!(o.outcome, Outcome::Ok(_));
            let w = (stale.len() / 3..stale.len()).find(|&i| completed_put(&stale[i])).expect("a put");
            let w2 = (0..stale.len())
                .filter(|&j| completed_put(&stale[j]) && stale[j].invoked > end(&stale[w]))
                .min_by_key(|&j| end(&stale[j]))
                .expect("a later put");
            let r = (0..stale.len())
                .filter(|&j| ok_read(&stale[j]) && stale[j].invoked > end(&stale[w2]))
                .min_by_key(|&j| stale[j].invoked)
                .expect("a later read");
            let Kind::Write(old) = stale[w].kind.clone() else { unreachable!() };
            stale[r].kind = Kind::Read(old);
            let e = check(&stale, absent).expect_err("stale read accepted");
            assert_eq!(e.key, K);
        }
        eprintln!("{} corrupted histories rejected in {:?}", 2 * SEEDS, started.elapsed());
    }

    #[test]
    fn many_unknown_writes() {
        // A quarter of the writes have an unknown outcome.
        let started = Instant::now();
        let h = simulated(99, 8, 250, 25);
        let unknown = h.iter().filter(|o| o.outcome == Outcome::Unknown).count();
        assert!(unknown > 100, "{unknown}");
        ok(&h);
        eprintln!("{} ops with {unknown} unknown writes checked in {:?}", h.len(), started.elapsed());
    }

    #[test]
    fn explanation_is_readable() {
        let e = bad(&[put(0, "a", 1000, 2000), put(1, "b", 3000, 4000), get(2, Some("a"), 5000, 6000)]);
        let text = e.to_string();
        assert!(text.contains("not linearizable"), "{text}");
        assert!(text.contains("#2"), "{text}");
        assert!(text.contains("<== search stuck here"), "{text}");
        assert!(text.contains("+0ns"), "{text}");
        assert_eq!(fmt_value(Some(&[0, 1, 255])), "0x0001ff");
        assert_eq!(fmt_value(None), "<absent>");
    }
}
