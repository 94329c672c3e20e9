//! Searches at a daemon (docs/search.md): each region a client searches gets a session that
//! reads a point-in-time snapshot of the region's stored objects, filters them with every
//! check, and sends matches in batches: one batch per request of the client (flow control),
//! so neither side ever holds more than a batch or two per region, however many objects
//! match. Counting and sorted searches read the whole snapshot first, a slice at a time
//! between other work ([`Searches::work`]), so a large region never stalls the event loop.
//!
//! No I/O here but the storage cursor; time comes in as an argument.

use std::collections::VecDeque;
use std::io;
use std::time::{Duration, Instant};

use hyperdex_core::ops::Check;
use hyperdex_core::proto::{push_object, search_mode, Msg};
use hyperdex_core::search::{object_matches, sort_order};
use hyperdex_core::{DataType, Predicate, ReturnCode};

use super::node::Dest;
use crate::fasthash::FastMap;

/// Most objects in one batch.
pub const BATCH_OBJECTS: usize = 512;
/// Most bytes of objects in one batch (a batch may pass it by one object).
pub const BATCH_BYTES: usize = 256 << 10;
/// Most stored objects examined per batch or per slice of background work: a selective
/// search answers (possibly with an empty batch) instead of reading a whole region at once.
pub const EXAMINE_PER_STEP: usize = 16_384;
/// Bytes of records examined per slice, each counted as many times as the searched regex
/// patterns are long (plus once): bounds the time a slice takes.
pub const WORK_PER_STEP: usize = 64 << 20;
/// Open searches one client connection may have (more are refused with NOMEM).
pub const MAX_SESSIONS_PER_CONN: usize = 4096;
/// A search whose client has not asked for more for this long is forgotten.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(60);

/// A search session's identity: (connection, nonce, region).
type SessionKey = (usize, u64, u64);

/// The part of a space a session needs.
pub struct Schema {
    /// Declared types, key first.
    pub types: Vec<DataType>,
}

struct Session<C> {
    types: Vec<DataType>,
    checks: Vec<Check>,
    /// None once the snapshot is exhausted.
    cursor: Option<C>,
    mode: u8,
    sort_attr: usize,
    limit: usize,
    maximize: bool,
    /// SORTED: candidates (sort value, encoded object) while scanning; then the results in
    /// order, front first.
    best: Vec<(Vec<u8>, Vec<u8>)>,
    sorted: VecDeque<Vec<u8>>,
    count: u64,
    /// When the client last started or continued it (for [`Searches::expire`]).
    last_active: Instant,
}

/// Every open search of this daemon.
pub struct Searches<C> {
    sessions: FastMap<SessionKey, Session<C>>,
    per_conn: FastMap<usize, usize>,
    /// Sessions still scanning their snapshot (COUNT and SORTED), served in turn.
    scanning: VecDeque<SessionKey>,
    /// Value offsets of the record being examined (reused).
    offsets: Vec<(usize, usize)>,
}

impl<C> Default for Searches<C> {
    fn default() -> Self {
        Searches {
            sessions: FastMap::default(),
            per_conn: FastMap::default(),
            scanning: VecDeque::new(),
            offsets: Vec::new(),
        }
    }
}

/// Splits a stored record (`u64 version | u32 n | n × (u32 len | bytes)`) into the offsets of
/// its values. False when it does not parse or does not have `n` values.
fn split_record(rec: &[u8], n: usize, out: &mut Vec<(usize, usize)>) -> bool {
    out.clear();
    if rec.len() < 12 {
        return false;
    }
    let count = u32::from_le_bytes(rec[8..12].try_into().unwrap_or([0; 4])) as usize;
    if count != n {
        return false;
    }
    let mut at = 12usize;
    for _ in 0..count {
        let Some(len) = rec.get(at..at + 4) else { return false };
        let len = u32::from_le_bytes(len.try_into().unwrap_or([0; 4])) as usize;
        let Some(end) = (at + 4).checked_add(len) else { return false };
        if end > rec.len() {
            return false;
        }
        out.push((at + 4, end));
        at = end;
    }
    at == rec.len()
}

fn reply(region: u64, rc: ReturnCode, done: bool, count: u64, n: u32, objects: Vec<u8>) -> Msg {
    Msg::SearchReply { region, rc, done, count, n, objects }
}

/// How a [`scan`] stopped.
enum ScanEnd {
    /// The snapshot has nothing more.
    Exhausted,
    /// The examination budget ran out, or the caller asked to stop.
    Paused,
    /// The storage engine failed.
    Failed,
}

/// Examines up to [`EXAMINE_PER_STEP`] objects of a snapshot, calling `on_match(key, record,
/// value)` for each one that passes every check (`value(i)`: the stored value of attribute
/// `i` ≥ 1); `on_match` returns false to stop. Records that do not parse are skipped.
fn scan<C, B>(
    cursor: &mut C,
    types: &[DataType],
    checks: &[Check],
    offsets: &mut Vec<(usize, usize)>,
    mut on_match: impl for<'r> FnMut(&'r [u8], &'r [u8], &dyn Fn(usize) -> Option<&'r [u8]>) -> bool,
) -> ScanEnd
where
    C: Iterator<Item = Item<B>>,
    B: AsRef<[u8]>,
{
    let nonkey = types.len() - 1;
    // Work is counted in objects, and in bytes times the regex patterns' lengths (matching
    // costs pattern × text): a slice stops at whichever budget runs out first.
    let regex_cost: usize =
        1 + checks.iter().filter(|c| c.predicate == Predicate::Regex).map(|c| c.value.len()).sum::<usize>();
    let mut work = 0usize;
    for _ in 0..EXAMINE_PER_STEP {
        if work > WORK_PER_STEP {
            return ScanEnd::Paused;
        }
        let Some(item) = cursor.next() else { return ScanEnd::Exhausted };
        let Ok((skey, rec)) = item else { return ScanEnd::Failed };
        let (skey, rec) = (skey.as_ref(), rec.as_ref());
        work = work.saturating_add(rec.len().saturating_mul(regex_cost));
        let Some(k) = skey.get(super::storage::REGION_BYTES..) else { continue };
        if !split_record(rec, nonkey, offsets) {
            continue;
        }
        let offs = &*offsets;
        let value = |a: usize| offs.get(a.wrapping_sub(1)).map(|&(x, y)| &rec[x..y]);
        if object_matches(types, checks, k, value) && !on_match(k, rec, &value) {
            return ScanEnd::Paused;
        }
    }
    ScanEnd::Paused
}

/// One stored object as the cursor gives it: the storage key (region prefix included) and
/// the record bytes.
pub type Item<B> = io::Result<(B, B)>;

impl<C, B> Searches<C>
where
    C: Iterator<Item = Item<B>>,
    B: AsRef<[u8]>,
{
    pub fn open(&self) -> usize {
        self.sessions.len()
    }

    pub fn has_work(&self) -> bool {
        !self.scanning.is_empty()
    }

    /// Starts a search of `region` (already checked to be ours) on a fresh snapshot.
    /// Checks must already be validated against `schema`. Returns the replies to send.
    #[allow(clippy::too_many_arguments)]
    pub fn start(
        &mut self,
        now: Instant,
        conn: usize,
        nonce: u64,
        region: u64,
        schema: Schema,
        mode: u8,
        checks: Vec<Check>,
        sort: (usize, u64, bool),
        cursor: C,
        out: &mut Vec<(Dest, u64, Msg)>,
    ) {
        let key = (conn, nonce, region);
        let n = self.per_conn.entry(conn).or_insert(0);
        if *n >= MAX_SESSIONS_PER_CONN || self.sessions.contains_key(&key) {
            out.push((Dest::Conn(conn), nonce, reply(region, ReturnCode::NoMem, true, 0, 0, Vec::new())));
            return;
        }
        *n += 1;
        let limit = usize::try_from(sort.1).unwrap_or(usize::MAX);
        let s = Session {
            types: schema.types,
            checks,
            cursor: Some(cursor),
            mode,
            sort_attr: sort.0,
            limit,
            maximize: sort.2,
            best: Vec::new(),
            sorted: VecDeque::new(),
            count: 0,
            last_active: now,
        };
        self.sessions.insert(key, s);
        if mode == search_mode::SEARCH {
            self.batch(key, out);
        } else if mode == search_mode::SORTED && limit == 0 {
            self.finish(key, ReturnCode::Success, out);
        } else {
            self.scanning.push_back(key);
        }
    }

    /// The client wants the next batch.
    pub fn more(&mut self, now: Instant, conn: usize, nonce: u64, region: u64, out: &mut Vec<(Dest, u64, Msg)>) {
        let key = (conn, nonce, region);
        let Some(s) = self.sessions.get_mut(&key) else {
            // Unknown (finished, expired or never started): say so, once.
            out.push((Dest::Conn(conn), nonce, reply(region, ReturnCode::Reconfigure, true, 0, 0, Vec::new())));
            return;
        };
        s.last_active = now;
        if s.mode == search_mode::COUNT || (s.mode == search_mode::SORTED && s.cursor.is_some()) {
            // Nothing is owed before the scan ends (a confused client): ignore.
            return;
        }
        self.batch(key, out);
    }

    pub fn stop(&mut self, conn: usize, nonce: u64, region: u64) {
        self.remove((conn, nonce, region));
    }

    fn remove(&mut self, key: SessionKey) {
        if self.sessions.remove(&key).is_some() {
            if let Some(n) = self.per_conn.get_mut(&key.0) {
                *n -= 1;
                if *n == 0 {
                    self.per_conn.remove(&key.0);
                }
            }
        }
    }

    /// Connection `conn` closed: forget its searches.
    pub fn forget_conn(&mut self, conn: usize) {
        let keys: Vec<SessionKey> = self.sessions.keys().filter(|k| k.0 == conn).copied().collect();
        for k in keys {
            self.remove(k);
        }
    }

    /// Drops sessions whose client went quiet (a session still scanning is not idle), each
    /// with a last RECONFIGURE reply, so a client that is still there is not left waiting.
    pub fn expire(&mut self, now: Instant, out: &mut Vec<(Dest, u64, Msg)>) {
        let keys: Vec<SessionKey> = self
            .sessions
            .iter()
            .filter(|(k, s)| now.duration_since(s.last_active) > IDLE_TIMEOUT && !self.scanning.contains(k))
            .map(|(k, _)| *k)
            .collect();
        for k in keys {
            self.finish(k, ReturnCode::Reconfigure, out);
        }
    }

    /// Background scanning: one slice of the oldest scanning session, then it goes to the
    /// back of the line. Returns whether work remains.
    pub fn work(&mut self, out: &mut Vec<(Dest, u64, Msg)>) -> bool {
        let Some(key) = self.scanning.pop_front() else { return false };
        let Some(s) = self.sessions.get_mut(&key) else { return self.has_work() };
        let mut taken = s.cursor.take();
        let end = match taken.as_mut() {
            None => ScanEnd::Exhausted,
            Some(cursor) => {
                let (types, checks) = (&s.types, &s.checks);
                let (mode, sort_attr, limit, maximize) = (s.mode, s.sort_attr, s.limit, s.maximize);
                let dtype = types.get(sort_attr).copied().unwrap_or(DataType::String);
                let (count, best) = (&mut s.count, &mut s.best);
                // Candidates are pruned to the best `limit` as soon as twice that many (at
                // least 64) are held: memory stays within a few times `limit` objects.
                let keep = limit.saturating_mul(2).max(64);
                scan(cursor, types, checks, &mut self.offsets, |k, rec, value| {
                    *count += 1;
                    if mode == search_mode::SORTED {
                        let sv = if sort_attr == 0 { k } else { value(sort_attr).unwrap_or(&[]) };
                        let mut obj = Vec::with_capacity(rec.len() + k.len() - 4);
                        push_object(&mut obj, k, (types.len() - 1) as u32, &rec[12..]);
                        best.push((sv.to_vec(), obj));
                        if best.len() >= keep {
                            prune(best, dtype, maximize, limit);
                        }
                    }
                    true
                })
            }
        };
        s.cursor = taken;
        match end {
            ScanEnd::Failed => self.finish(key, ReturnCode::ServerError, out),
            ScanEnd::Exhausted => {
                s.cursor = None;
                if s.mode == search_mode::SORTED {
                    let dtype = s.types.get(s.sort_attr).copied().unwrap_or(DataType::String);
                    prune(&mut s.best, dtype, s.maximize, s.limit);
                    let best = std::mem::take(&mut s.best);
                    s.sorted = best.into_iter().map(|(_, o)| o).collect();
                    self.batch(key, out);
                } else {
                    self.finish(key, ReturnCode::Success, out);
                }
            }
            ScanEnd::Paused => self.scanning.push_back(key),
        }
        self.has_work()
    }

    /// Ends a session with one last reply.
    fn finish(&mut self, key: SessionKey, rc: ReturnCode, out: &mut Vec<(Dest, u64, Msg)>) {
        let count = self.sessions.get(&key).map_or(0, |s| s.count);
        self.remove(key);
        out.push((Dest::Conn(key.0), key.1, reply(key.2, rc, true, count, 0, Vec::new())));
    }

    /// Sends the next batch of a SEARCH session (from its snapshot) or of a finished SORTED
    /// session (from its sorted results); the last batch ends the session.
    fn batch(&mut self, key: SessionKey, out: &mut Vec<(Dest, u64, Msg)>) {
        let Some(s) = self.sessions.get_mut(&key) else { return };
        let mut objects = Vec::new();
        let mut n = 0u32;
        let mut done = false;
        let mut error = None;
        if s.mode == search_mode::SORTED {
            while (n as usize) < BATCH_OBJECTS && objects.len() < BATCH_BYTES {
                let Some(o) = s.sorted.pop_front() else { break };
                objects.extend_from_slice(&o);
                n += 1;
            }
            done = s.sorted.is_empty();
        } else if let Some(cursor) = s.cursor.as_mut() {
            let nonkey = s.types.len() - 1;
            let end = scan(cursor, &s.types, &s.checks, &mut self.offsets, |k, rec, _| {
                push_object(&mut objects, k, nonkey as u32, &rec[12..]);
                n += 1;
                (n as usize) < BATCH_OBJECTS && objects.len() < BATCH_BYTES
            });
            match end {
                ScanEnd::Exhausted => done = true,
                ScanEnd::Failed => error = Some(ReturnCode::ServerError),
                ScanEnd::Paused => {}
            }
        } else {
            done = true;
        }
        if let Some(rc) = error {
            return self.finish(key, rc, out);
        }
        out.push((Dest::Conn(key.0), key.1, reply(key.2, ReturnCode::Success, done, 0, n, objects)));
        if done {
            self.remove(key);
        }
    }
}

/// Keeps a sorted session's best `limit` candidates, best first (ties: smaller key first,
/// so a region's answer does not depend on storage order).
fn prune(best: &mut Vec<(Vec<u8>, Vec<u8>)>, t: DataType, maximize: bool, limit: usize) {
    best.sort_by(|a, b| {
        let o = sort_order(t, &a.0, &b.0);
        let o = if maximize { o.reverse() } else { o };
        o.then_with(|| object_key(&a.1).cmp(object_key(&b.1)))
    });
    best.truncate(limit);
}

/// The key of an object encoded by `push_object`.
fn object_key(obj: &[u8]) -> &[u8] {
    let len = obj.get(4..8).map_or(0, |b| u32::from_le_bytes(b.try_into().unwrap_or([0; 4])) as usize);
    obj.get(8..8 + len).unwrap_or(&[])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::daemon::storage::{encode_record, storage_key};
    use hyperdex_core::codes::Predicate;
    use hyperdex_core::proto::next_object;
    use hyperdex_core::values::encode_int64;
    use hyperdex_core::wire::Reader;

    type Cur = std::vec::IntoIter<Item<Vec<u8>>>;

    fn snapshot(n: i64) -> Cur {
        let mut v: Vec<Item<Vec<u8>>> = (0..n)
            .map(|i| Ok((storage_key(9, format!("k{i:05}").as_bytes()), encode_record(1, &[encode_int64(i % 100)]))))
            .collect();
        v.sort_by(|a, b| a.as_ref().unwrap().0.cmp(&b.as_ref().unwrap().0));
        v.into_iter()
    }

    fn schema() -> Schema {
        Schema { types: vec![DataType::String, DataType::Int64] }
    }

    fn objs(m: &Msg) -> (bool, Vec<(String, i64)>) {
        let Msg::SearchReply { done, n, objects, rc, .. } = m else { panic!("{m:?}") };
        assert_eq!(*rc, ReturnCode::Success);
        let mut r = Reader::new(objects);
        let v = (0..*n)
            .map(|_| {
                let o = next_object(&mut r).unwrap();
                (String::from_utf8(o[0].to_vec()).unwrap(), i64::from_le_bytes(o[1].try_into().unwrap()))
            })
            .collect();
        (*done, v)
    }

    #[test]
    fn search_streams_in_batches_on_request() {
        let mut s: Searches<Cur> = Searches::default();
        let now = Instant::now();
        let mut out = Vec::new();
        let chk = Check { attr: 1, predicate: Predicate::LessEqual, dtype: DataType::Int64, value: encode_int64(9) };
        s.start(now, 1, 7, 9, schema(), search_mode::SEARCH, vec![chk], (0, 0, false), snapshot(5000), &mut out);
        let mut seen = Vec::new();
        loop {
            assert_eq!(out.len(), 1, "one batch per request");
            let (dest, nonce, m) = out.pop().unwrap();
            assert_eq!((dest, nonce), (Dest::Conn(1), 7));
            let (done, v) = objs(&m);
            assert!(v.len() <= BATCH_OBJECTS);
            seen.extend(v);
            if done {
                break;
            }
            s.more(now, 1, 7, 9, &mut out);
        }
        // 10% of 5000 match, each once, in key order.
        assert_eq!(seen.len(), 500);
        assert!(seen.iter().all(|(_, x)| *x <= 9));
        assert!(seen.windows(2).all(|w| w[0].0 < w[1].0));
        assert_eq!(s.open(), 0, "a finished search is forgotten");
        // Asking again gets one RECONFIGURE, not a crash.
        s.more(now, 1, 7, 9, &mut out);
        assert!(matches!(out[0].2, Msg::SearchReply { rc: ReturnCode::Reconfigure, done: true, .. }));
    }

    #[test]
    fn count_and_sorted_scan_in_slices() {
        let mut s: Searches<Cur> = Searches::default();
        let now = Instant::now();
        let mut out = Vec::new();
        s.start(now, 1, 1, 9, schema(), search_mode::COUNT, vec![], (0, 0, false), snapshot(40_000), &mut out);
        s.start(now, 1, 2, 9, schema(), search_mode::SORTED, vec![], (1, 3, true), snapshot(40_000), &mut out);
        assert!(out.is_empty());
        let mut slices = 0;
        while s.work(&mut out) {
            slices += 1;
            assert!(slices < 100);
        }
        assert!(slices >= 4, "40,000 objects take several slices each");
        assert!(out.iter().any(|(_, n, m)| *n == 1 && matches!(m, Msg::SearchReply { count: 40_000, done: true, .. })));
        let sorted = out.iter().find(|(_, n, _)| *n == 2).unwrap();
        let (done, v) = objs(&sorted.2);
        assert!(done);
        // The three largest values (99), smallest keys first among ties.
        assert_eq!(v, vec![("k00099".into(), 99), ("k00199".into(), 99), ("k00299".into(), 99)]);
        assert_eq!(s.open(), 0);
    }

    #[test]
    fn sessions_end_with_their_connection_or_idleness() {
        let mut s: Searches<Cur> = Searches::default();
        let now = Instant::now();
        let mut out = Vec::new();
        s.start(now, 1, 1, 9, schema(), search_mode::SEARCH, vec![], (0, 0, false), snapshot(2000), &mut out);
        s.start(now, 2, 1, 9, schema(), search_mode::SEARCH, vec![], (0, 0, false), snapshot(2000), &mut out);
        assert_eq!(s.open(), 2);
        s.forget_conn(1);
        assert_eq!(s.open(), 1);
        // A count still scanning is busy, not idle: it survives the idle timeout.
        s.start(now, 3, 1, 9, schema(), search_mode::COUNT, vec![], (0, 0, false), snapshot(40_000), &mut out);
        out.clear();
        s.expire(now + IDLE_TIMEOUT + Duration::from_secs(1), &mut out);
        assert_eq!(s.open(), 1, "only the idle search went");
        // ... and the idle one got a last reply saying so.
        assert!(matches!(
            out[..],
            [(Dest::Conn(2), 1, Msg::SearchReply { rc: ReturnCode::Reconfigure, done: true, .. })]
        ));
        while s.work(&mut out) {}
        assert_eq!(s.open(), 0);
    }

    #[test]
    fn a_sorted_scan_holds_few_candidates_and_a_regex_bounds_each_slice() {
        let mut s: Searches<Cur> = Searches::default();
        let now = Instant::now();
        let mut out = Vec::new();
        s.start(now, 1, 1, 9, schema(), search_mode::SORTED, vec![], (1, 3, true), snapshot(20_000), &mut out);
        // One slice examines 16,384 objects but holds at most 64 candidates at a time.
        s.work(&mut out);
        let held = s.sessions.values().map(|x| x.best.len()).max().unwrap();
        assert!(held < 64, "{held} candidates held");
        // A long pattern makes a slice examine fewer objects (pattern × text is the cost).
        let long = Check { attr: 0, predicate: Predicate::Regex, dtype: DataType::String, value: vec![b'.'; 4096] };
        let mut offsets = Vec::new();
        let mut cur = snapshot(20_000);
        let end = scan(&mut cur, &[DataType::String, DataType::Int64], &[long], &mut offsets, |_, _, _| true);
        assert!(matches!(end, ScanEnd::Paused));
        let examined = 20_000 - cur.len();
        assert!(examined > 0 && examined < EXAMINE_PER_STEP / 4, "{examined} objects in one slice");
    }

    #[test]
    fn records_that_do_not_parse_are_skipped() {
        let mut offs = Vec::new();
        let good = encode_record(3, &[b"ab".to_vec(), vec![]]);
        assert!(split_record(&good, 2, &mut offs));
        assert_eq!(offs, vec![(16, 18), (22, 22)]);
        assert!(!split_record(&good, 3, &mut offs));
        for n in 0..good.len() {
            assert!(!split_record(&good[..n], 2, &mut offs));
        }
    }
}
