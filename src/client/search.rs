//! Operations over many objects: search, sorted_search, count, group_del, search_describe.
//!
//! One call becomes one pending operation with a sub-request per region the planner chose
//! (`hyperdex_core::search::plan`), all sent at once to the regions' heads. Replies come back
//! as batches; the operation hands out one event per object (then SEARCHDONE), or one event
//! for the whole (count, group_del, describe).
//!
//! Flow control: a region's next batch is asked for only while fewer than [`MAX_QUEUED`] of
//! its batches wait to be handed out, so memory stays bounded however many objects match.
//! Sorted searches keep at most `limit` candidates per region (the daemons send no more) and
//! merge them. group_del deletes every match through the normal write path (a `cond_del`
//! with the search's checks, so an object changed meanwhile to no longer match is kept) and
//! finishes when every delete is answered, with at most [`MAX_DELETES`] in flight.
//!
//! Duplicates: an object moving between two regions of the searched subspace while the
//! search runs could be read in both (the regions are read at different instants). When the
//! chosen subspace is not the key subspace and more than one region is read, the operation
//! remembers a 128-bit keyed hash of every key it handed out and skips repeats.

use std::collections::hash_map::RandomState;
use std::collections::{HashSet, VecDeque};
use std::hash::BuildHasher;
use std::sync::Arc;

use hyperdex_core::codes::{DataType, ReturnCode};
use hyperdex_core::ops::Check;
use hyperdex_core::proto::{flags, msg, next_object, search_mode, search_reply_head, Msg};
use hyperdex_core::search::{plan, sort_order};
use hyperdex_core::wire::{DResult, Reader, MAX_FRAME};

use super::request::{encode_atomic, OpError, OwnedCheck};
use super::routing::SpaceInfo;
use super::{Client, Op, Parked, Pending, FLUSH_THRESHOLD, MAX_PENDING};

/// Batches of one region waiting to be handed out before its next batch is asked for.
pub(crate) const MAX_QUEUED: usize = 2;
/// group_del: deletes in flight before more matches are fetched.
pub(crate) const MAX_DELETES: usize = 2048;

/// What a search-type call asks for.
#[derive(Clone, Copy, Debug)]
pub enum SearchKind<'a> {
    /// Every matching object.
    Search,
    /// The `limit` best matches by attribute `sort_by`, largest first if `maximize`.
    Sorted { sort_by: &'a [u8], limit: u64, maximize: bool },
    /// The number of matches.
    Count,
    /// Delete every match.
    GroupDel,
    /// A text report of the regions and servers a search would read (each region counts).
    Describe,
}

/// An owned [`SearchKind`] (kept while an operation waits for a configuration).
#[derive(Clone, Debug)]
pub(crate) enum OwnedKind {
    Search,
    Sorted { sort_by: Vec<u8>, limit: u64, maximize: bool },
    Count,
    GroupDel,
    Describe,
}

impl OwnedKind {
    pub(crate) fn of(k: SearchKind<'_>) -> OwnedKind {
        match k {
            SearchKind::Search => OwnedKind::Search,
            SearchKind::Sorted { sort_by, limit, maximize } => {
                OwnedKind::Sorted { sort_by: sort_by.to_vec(), limit, maximize }
            }
            SearchKind::Count => OwnedKind::Count,
            SearchKind::GroupDel => OwnedKind::GroupDel,
            SearchKind::Describe => OwnedKind::Describe,
        }
    }

    pub(crate) fn borrow(&self) -> SearchKind<'_> {
        match self {
            OwnedKind::Search => SearchKind::Search,
            OwnedKind::Sorted { sort_by, limit, maximize } => {
                SearchKind::Sorted { sort_by, limit: *limit, maximize: *maximize }
            }
            OwnedKind::Count => SearchKind::Count,
            OwnedKind::GroupDel => SearchKind::GroupDel,
            OwnedKind::Describe => SearchKind::Describe,
        }
    }

    /// The mode whose events report a refusal the way this kind reports failures.
    pub(crate) fn refusal_mode(&self) -> Mode {
        match self {
            OwnedKind::Search => Mode::Search,
            OwnedKind::Sorted { .. } => Mode::Sorted { attr: 0, dtype: DataType::String, limit: 0, maximize: false },
            OwnedKind::Count => Mode::Count,
            OwnedKind::GroupDel => Mode::GroupDel,
            OwnedKind::Describe => Mode::Describe,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Mode {
    Search,
    Sorted { attr: usize, dtype: DataType, limit: usize, maximize: bool },
    Count,
    GroupDel,
    Describe,
}

/// One region's part of a search.
pub(crate) struct Sub {
    pub(crate) region: u64,
    pub(crate) server: u64,
    pub(crate) conn: usize,
    pub(crate) done: bool,
    /// A SEARCH_MORE (or the start) is outstanding.
    requested: bool,
    /// Its batches waiting in `SearchOp::batches`.
    queued: usize,
    /// describe: the region's count, once known.
    count: Option<u64>,
    failed: Option<ReturnCode>,
}

/// A batch of objects being handed out.
struct Batch {
    sub: usize,
    buf: Vec<u8>,
    pos: usize,
    left: u32,
}

pub(crate) struct SearchOp {
    pub(crate) mode: Mode,
    pub(crate) subs: Vec<Sub>,
    subspace: usize,
    /// The validated checks (group_del sends them with each delete).
    checks: Vec<Check>,
    batches: VecDeque<Batch>,
    /// Error events not yet handed out (search and sorted_search).
    errors: VecDeque<ReturnCode>,
    first_error: Option<ReturnCode>,
    count: u64,
    seen: Seen,
    /// Sorted: candidates (sort value, object) while regions answer; then the answer.
    candidates: Vec<(Vec<u8>, Vec<u8>)>,
    results: VecDeque<Vec<u8>>,
    /// The object handed out last (sorted), kept until the next event.
    current: Vec<u8>,
    /// group_del: deletes sent and not yet answered, per connection.
    deletes: Vec<(usize, usize)>,
    /// In the client's ready queue.
    pub(crate) queued: bool,
}

/// The next thing a search operation hands out.
pub(crate) enum SearchEvent {
    /// An object: absolute range of its values in the batch buffer (or in `current`), and
    /// how many values (the key first).
    Object { start: usize, end: usize, n: usize, in_current: bool },
    /// A non-final event with this status (a failed region).
    Error(ReturnCode),
    /// The last event.
    Done { status: ReturnCode, count: Option<u64>, text: Option<String> },
}

fn subs_remaining(op: &SearchOp) -> bool {
    op.subs.iter().any(|s| !s.done)
}

impl SearchOp {
    /// An operation that could not start (it waited for a configuration that did not
    /// allow it): it hands out `rc` the way a failed region is reported.
    pub(crate) fn refused(mode: Mode, rc: ReturnCode) -> SearchOp {
        let mut op = SearchOp {
            mode,
            subs: Vec::new(),
            subspace: 0,
            checks: Vec::new(),
            batches: VecDeque::new(),
            errors: VecDeque::new(),
            first_error: None,
            count: 0,
            seen: None,
            candidates: Vec::new(),
            results: VecDeque::new(),
            current: Vec::new(),
            deletes: Vec::new(),
            queued: false,
        };
        op.fail(rc);
        op
    }

    fn deletes_in_flight(&self) -> usize {
        self.deletes.iter().map(|d| d.1).sum()
    }

    fn fail(&mut self, rc: ReturnCode) {
        self.first_error.get_or_insert(rc);
        if matches!(self.mode, Mode::Search | Mode::Sorted { .. }) {
            self.errors.push_back(rc);
        }
    }

    /// Every region still read over connection `ci` fails with `rc` (an event each).
    fn fail_conn(&mut self, ci: usize, rc: ReturnCode) {
        let mut failed = 0;
        for s in self.subs.iter_mut().filter(|s| s.conn == ci && !s.done) {
            s.done = true;
            s.failed = Some(rc);
            failed += 1;
        }
        for _ in 0..failed {
            self.fail(rc);
        }
    }

    /// Whether an event can be handed out now.
    pub(crate) fn deliverable(&self) -> bool {
        if !self.errors.is_empty() {
            return true;
        }
        match self.mode {
            Mode::Search => !self.batches.is_empty() || !subs_remaining(self),
            Mode::Sorted { .. } => !subs_remaining(self),
            Mode::GroupDel => !subs_remaining(self) && self.deletes_in_flight() == 0,
            Mode::Count | Mode::Describe => !subs_remaining(self),
        }
    }

    /// Sorted: keeps the best `limit` candidates (ties: smaller key first, so the answer
    /// does not depend on which region replied first).
    /// One key can come from two regions (an object moving while the search runs): only its
    /// better-ranked version stays, so the answer has each key once.
    fn prune(&mut self) {
        if let Mode::Sorted { dtype, limit, maximize, .. } = self.mode {
            self.candidates.sort_by(|a, b| {
                let o = sort_order(dtype, &a.0, &b.0);
                let o = if maximize { o.reverse() } else { o };
                o.then_with(|| object_key(&a.1).cmp(object_key(&b.1)))
            });
            let mut keys = HashSet::new();
            self.candidates.retain(|c| keys.len() < limit && keys.insert(object_key(&c.1).to_vec()));
        }
    }

    /// The next event (None: nothing yet). Object events borrow the batch at the front of
    /// `batches` (or `current`), which stays in place until the next call.
    pub(crate) fn next_event(&mut self) -> Option<SearchEvent> {
        if let Some(rc) = self.errors.pop_front() {
            return Some(SearchEvent::Error(rc));
        }
        match self.mode {
            Mode::Search => loop {
                // Drop the front batch once everything in it was handed out (its last object
                // was borrowed by the previous event, which has ended by now).
                while self.batches.front().is_some_and(|b| b.left == 0) {
                    self.batches.pop_front();
                }
                let Some(b) = self.batches.front_mut() else { break };
                let mut r = Reader::new(&b.buf[b.pos..]);
                let start = b.pos;
                let Ok(vals) = next_object(&mut r) else {
                    // Checked when the batch arrived; cannot happen.
                    b.left = 0;
                    continue;
                };
                let n = vals.len();
                let end = b.buf.len() - r.remaining();
                let repeat = repeat(&mut self.seen, vals[0]);
                b.pos = end;
                b.left -= 1;
                if b.left == 0 {
                    // Handed out (its memory goes at the next call): room for the next batch.
                    let si = b.sub;
                    if let Some(s) = self.subs.get_mut(si) {
                        s.queued = s.queued.saturating_sub(1);
                    }
                }
                if repeat {
                    continue;
                }
                return Some(SearchEvent::Object { start: start + 4, end, n, in_current: false });
            },
            Mode::Sorted { .. } => {
                if subs_remaining(self) {
                    return None;
                }
                if !self.candidates.is_empty() {
                    self.prune();
                    self.results = std::mem::take(&mut self.candidates).into_iter().map(|(_, o)| o).collect();
                }
                if let Some(o) = self.results.pop_front() {
                    self.current = o;
                    let mut r = Reader::new(&self.current);
                    let n = next_object(&mut r).map(|v| v.len()).unwrap_or(0);
                    return Some(SearchEvent::Object { start: 4, end: self.current.len(), n, in_current: true });
                }
            }
            Mode::GroupDel if self.deletes_in_flight() > 0 => return None,
            _ => {}
        }
        if subs_remaining(self) {
            return None;
        }
        let status = match self.mode {
            Mode::Search | Mode::Sorted { .. } => ReturnCode::SearchDone,
            _ => self.first_error.unwrap_or(ReturnCode::Success),
        };
        let count = matches!(self.mode, Mode::Count).then_some(self.count);
        let text = matches!(self.mode, Mode::Describe).then(|| self.describe());
        Some(SearchEvent::Done { status, count, text })
    }

    fn describe(&self) -> String {
        use std::fmt::Write;
        let mut s = String::new();
        let _ = writeln!(s, "search of subspace {} over {} region(s)", self.subspace, self.subs.len());
        for sub in &self.subs {
            let what = match (sub.failed, sub.count) {
                (Some(rc), _) => format!("failed: {}", rc.symbol()),
                (None, Some(n)) => format!("touched by search: {n} matching object(s)"),
                (None, None) => "touched by search".to_string(),
            };
            let _ = writeln!(s, "region({}) server({}) {}", sub.region, sub.server, what);
        }
        s
    }

    pub(crate) fn object_bytes(&self, in_current: bool) -> &[u8] {
        if in_current {
            &self.current
        } else {
            self.batches.front().map_or(&[], |b| &b.buf)
        }
    }
}

/// Keys handed out by one search (a 128-bit keyed hash each), when duplicates can happen.
type Seen = Option<(HashSet<u128>, RandomState, RandomState)>;

/// Whether this key was handed out already (never, when nothing is tracked).
fn repeat(seen: &mut Seen, key: &[u8]) -> bool {
    let Some((seen, a, b)) = seen.as_mut() else { return false };
    let h = (u128::from(a.hash_one(key)) << 64) | u128::from(b.hash_one(key));
    !seen.insert(h)
}

/// The key of an encoded object.
fn object_key(obj: &[u8]) -> &[u8] {
    let mut r = Reader::new(obj);
    next_object(&mut r).ok().and_then(|v| v.first().copied()).unwrap_or(&[])
}

/// A SEARCH_REPLY body (the layout of `Msg::SearchReply`, checked against its decoder by a
/// test): (region, rc, done, count, n, objects). The objects are the body's own bytes after
/// the 25-byte head (no second copy).
fn parse_search_reply(mut body: Vec<u8>) -> DResult<(u64, ReturnCode, bool, u64, u32, Vec<u8>)> {
    let mut r = Reader::new(&body);
    let h = search_reply_head(&mut r)?;
    let head = body.len() - r.remaining();
    body.drain(..head);
    Ok((h.region, h.rc, h.done, h.count, h.n, body))
}

impl<T: Clone> Client<T> {
    /// Starts a search-type operation. Checks are validated first (a bad check `i` is
    /// refused with `-1 - i`), then `sort_by` (`-1 - checks.len()`); empty ranges give -1
    /// with INTERNAL, a needed region without replicas -1 with OFFLINE.
    pub fn search<C: super::CheckInput>(
        &mut self,
        kind: SearchKind<'_>,
        space: &[u8],
        checks: &[C],
        user: T,
    ) -> Result<i64, OpError> {
        self.ensure_config().map_err(OpError::whole)?;
        let Some(sp) = self.space(space)? else {
            let checks = checks.iter().map(OwnedCheck::of).collect();
            let req = Parked::Search { kind: OwnedKind::of(kind), space: space.to_vec(), checks };
            return self.park(req, user);
        };
        let checks = super::request::validate_checks(&sp, checks, |i| -1i64 - i as i64)?;
        let mode = match kind {
            SearchKind::Search => Mode::Search,
            SearchKind::Count => Mode::Count,
            SearchKind::GroupDel => Mode::GroupDel,
            SearchKind::Describe => Mode::Describe,
            SearchKind::Sorted { sort_by, limit, maximize } => {
                let off = -1i64 - checks.len() as i64;
                let attr = sp.attr_index(sort_by).ok_or(OpError::new(off, ReturnCode::UnknownAttr))?;
                let dtype = sp.attr_type(attr).unwrap_or(DataType::Garbage);
                if !matches!(dtype, DataType::String | DataType::Int64 | DataType::Float) {
                    return Err(OpError::new(off, ReturnCode::WrongType));
                }
                Mode::Sorted { attr, dtype, limit: usize::try_from(limit).unwrap_or(usize::MAX), maximize }
            }
        };
        let mut p = plan(&sp.full, &checks).map_err(OpError::whole)?;
        if matches!(mode, Mode::Sorted { limit: 0, .. }) {
            // Nothing can come back: no region is asked, the answer (SEARCHDONE) is ready.
            p.regions.clear();
        }
        if self.pending.len() >= MAX_PENDING {
            return Err(OpError::whole(ReturnCode::NoMem));
        }
        let regions: Vec<(u64, u64)> = p
            .regions
            .iter()
            .map(|&ri| {
                let r = &sp.full.subspaces[p.subspace].regions[ri];
                (r.id, r.replicas.first().map_or(0, |x| x.server))
            })
            .collect();
        let mut conns = Vec::with_capacity(regions.len());
        for &(_, server) in &regions {
            conns.push(self.conn_for(server)?);
        }
        let (slot, id) = self.next_slot();
        let version = self.config_version();
        let (wire_mode, sort_attr, limit, maximize) = match mode {
            Mode::Search | Mode::GroupDel => (search_mode::SEARCH, 0, 0, 0),
            Mode::Count | Mode::Describe => (search_mode::COUNT, 0, 0, 0),
            Mode::Sorted { attr, limit, maximize, .. } => {
                (search_mode::SORTED, attr as u16, limit as u64, maximize as u8)
            }
        };
        let mut subs = Vec::with_capacity(regions.len());
        for (&(region, server), &ci) in regions.iter().zip(&conns) {
            let m = Msg::SearchStart {
                version,
                region,
                mode: wire_mode,
                checks: checks.clone(),
                sort_attr,
                limit,
                maximize,
            };
            let out = self.conns[ci].wbuf.vec();
            let before = out.len();
            m.encode(id, out);
            if out.len() - before - 4 > MAX_FRAME {
                self.conns[ci].wbuf.truncate(before);
                return Err(OpError::whole(ReturnCode::NoMem));
            }
            self.mark_dirty(ci);
            subs.push(Sub {
                region,
                server,
                conn: ci,
                done: false,
                requested: true,
                queued: 0,
                count: None,
                failed: None,
            });
        }
        let dedup = p.subspace != 0 && subs.len() > 1 && matches!(mode, Mode::Search | Mode::GroupDel);
        let op = SearchOp {
            mode,
            subs,
            subspace: p.subspace,
            checks,
            batches: VecDeque::new(),
            errors: VecDeque::new(),
            first_error: None,
            count: 0,
            seen: dedup.then(|| (HashSet::new(), RandomState::new(), RandomState::new())),
            candidates: Vec::new(),
            results: VecDeque::new(),
            current: Vec::new(),
            deletes: Vec::new(),
            queued: false,
        };
        let at = self.pending.insert(Pending { id, user, space: sp, op: Op::Search(Box::new(op)) });
        debug_assert_eq!(at, slot);
        // No region at all (limit 0, or a space without regions): the answer is already
        // complete; a thread waiting in the poller must come back for it.
        self.search_ready(slot);
        if regions.is_empty() {
            self.wake();
        }
        for ci in conns {
            if self.conns.get(ci).is_some_and(|c| c.wbuf.unsent() >= FLUSH_THRESHOLD) {
                self.flush_conn(ci);
            }
        }
        Ok(id as i64)
    }

    /// Queues a search operation for delivery if it has something to hand out.
    pub(crate) fn search_ready(&mut self, slot: usize) {
        if let Some(Pending { op: Op::Search(op), .. }) = self.pending.get_mut(slot) {
            if !op.queued && op.deliverable() {
                op.queued = true;
                self.ready.push_back(slot);
            }
        }
    }

    /// A frame for search operation `slot` arrived on connection `ci`. False: the frame did
    /// not parse, and the connection is no longer trusted (the caller closes it).
    pub(crate) fn search_frame(&mut self, slot: usize, ci: usize, msg_type: u8, body: Vec<u8>) -> bool {
        let version = self.config_version();
        let Some(Pending { op: Op::Search(op), space, id, .. }) = self.pending.get_mut(slot) else { return true };
        let id = *id;
        match msg_type {
            msg::SEARCH_REPLY => {
                let parsed = parse_search_reply(body);
                let Ok((region, rc, done, count, n, objects)) = parsed else {
                    // A malformed reply: every region this connection serves fails with
                    // SERVERERROR; the caller closes the connection.
                    op.fail_conn(ci, ReturnCode::ServerError);
                    self.search_ready(slot);
                    return false;
                };
                let Some(si) = op.subs.iter().position(|s| s.region == region && s.conn == ci && !s.done) else {
                    // A region this search is not reading (or no longer): ignored.
                    return true;
                };
                let nonkey = space.attr_count().saturating_sub(1);
                // Every object must have the space's shape (key + non-key attributes).
                let shaped = {
                    let mut r = Reader::new(&objects);
                    (0..n).all(|_| next_object(&mut r).is_ok_and(|v| v.len() == nonkey + 1))
                };
                let sub = &mut op.subs[si];
                sub.requested = false;
                if rc != ReturnCode::Success || !shaped {
                    let rc = if shaped { rc } else { ReturnCode::ServerError };
                    sub.done = true;
                    sub.failed = Some(rc);
                    op.fail(rc);
                    self.search_ready(slot);
                    return true;
                }
                sub.done = done;
                sub.count = Some(sub.count.unwrap_or(0) + count);
                op.count += count;
                match op.mode {
                    Mode::Search => {
                        if n > 0 {
                            op.subs[si].queued += 1;
                            op.batches.push_back(Batch { sub: si, buf: objects, pos: 0, left: n });
                        }
                    }
                    Mode::Sorted { attr, limit, .. } => {
                        let mut r = Reader::new(&objects);
                        for _ in 0..n {
                            let start = objects.len() - r.remaining();
                            let Ok(v) = next_object(&mut r) else { break };
                            let sv = v.get(attr).map(|x| x.to_vec()).unwrap_or_default();
                            let end = objects.len() - r.remaining();
                            op.candidates.push((sv, objects[start..end].to_vec()));
                        }
                        if op.candidates.len() > limit.saturating_mul(2).max(1024) {
                            op.prune();
                        }
                    }
                    Mode::GroupDel => {
                        // The keys to delete, each once (the search's duplicate filter).
                        let mut r = Reader::new(&objects);
                        let keys: Vec<Vec<u8>> = (0..n)
                            .filter_map(|_| next_object(&mut r).ok().map(|v| v[0]))
                            .filter(|k| !repeat(&mut op.seen, k))
                            .map(<[u8]>::to_vec)
                            .collect();
                        let checks = op.checks.clone();
                        let sp = Arc::clone(space);
                        for key in keys {
                            self.group_delete(slot, &sp, &key, &checks, id, version);
                        }
                    }
                    Mode::Count | Mode::Describe => {}
                }
                self.search_refill(slot);
                self.search_ready(slot);
                true
            }
            msg::ATOMIC_REPLY => {
                // A group_del delete: SUCCESS, NOTFOUND (already gone) and CMPFAIL (changed
                // and no longer matching) all leave no match behind.
                let Ok(rc) = super::reply::parse_reply(super::reply::Kind::Atomic, msg_type, &body, 0).map(|r| r.rc)
                else {
                    // The caller closes the connection; its deletes count as failed then.
                    return false;
                };
                if let Some(d) = op.deletes.iter_mut().find(|d| d.0 == ci && d.1 > 0) {
                    d.1 -= 1;
                    if !matches!(rc, ReturnCode::Success | ReturnCode::NotFound | ReturnCode::CmpFail) {
                        op.first_error.get_or_insert(rc);
                    }
                }
                self.search_refill(slot);
                self.search_ready(slot);
                true
            }
            // A reply of another kind under this operation's id: not to be trusted.
            _ => false,
        }
    }

    /// Sends one group_del delete.
    fn group_delete(&mut self, slot: usize, sp: &SpaceInfo, key: &[u8], checks: &[Check], id: u64, version: u64) {
        let target = sp.route(key).and_then(|r| r.head.map(|h| (r.id, h)));
        let conn = target.map(|(_, h)| self.conn_for(h));
        let Some(Pending { op: Op::Search(op), .. }) = self.pending.get_mut(slot) else { return };
        let (Some((region, _)), Some(Ok(ci))) = (target, conn) else {
            op.first_error.get_or_insert(ReturnCode::Offline);
            return;
        };
        match op.deletes.iter_mut().find(|d| d.0 == ci) {
            Some(d) => d.1 += 1,
            None => op.deletes.push((ci, 1)),
        }
        let out = self.conns[ci].wbuf.vec();
        encode_atomic(out, id, version, region, key, flags::FAIL_IF_NOT_FOUND | flags::ERASE, checks, &[]);
        self.mark_dirty(ci);
    }

    /// Asks regions for their next batch where the flow-control rules allow it.
    pub(crate) fn search_refill(&mut self, slot: usize) {
        let Some(Pending { op: Op::Search(op), id, .. }) = self.pending.get_mut(slot) else { return };
        let id = *id;
        let room = match op.mode {
            Mode::GroupDel => op.deletes_in_flight() < MAX_DELETES,
            _ => true,
        };
        let mut asks = Vec::new();
        for s in op.subs.iter_mut() {
            let limit = if matches!(op.mode, Mode::Search) { MAX_QUEUED } else { 1 };
            if !s.done && !s.requested && s.queued < limit && room {
                s.requested = true;
                asks.push((s.conn, s.region));
            }
        }
        for (ci, region) in asks {
            if let Some(c) = self.conns.get_mut(ci) {
                Msg::SearchMore { region }.encode(id, c.wbuf.vec());
                self.mark_dirty(ci);
            }
        }
    }

    /// Connection `ci` was lost: the regions it served fail (RECONFIGURE), and so do the
    /// group_del deletes sent on it.
    pub(crate) fn search_conn_lost(&mut self, slot: usize, ci: usize) {
        let Some(Pending { op: Op::Search(op), .. }) = self.pending.get_mut(slot) else { return };
        op.fail_conn(ci, ReturnCode::Reconfigure);
        if let Some(d) = op.deletes.iter_mut().find(|d| d.0 == ci) {
            if d.1 > 0 {
                d.1 = 0;
                op.first_error.get_or_insert(ReturnCode::Reconfigure);
            }
        }
        self.search_ready(slot);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hyperdex_core::proto::push_object;
    use hyperdex_core::wire::{parse_frame, MAX_FRAME};

    #[test]
    fn search_replies_parse_like_the_protocol_decoder() {
        let mut objects = Vec::new();
        push_object(&mut objects, b"k1", 1, &[2, 0, 0, 0, b'a', b'b']);
        push_object(&mut objects, b"", 1, &[0, 0, 0, 0]);
        let n = 2;
        let m =
            Msg::SearchReply { region: 9, rc: ReturnCode::Success, done: true, count: 3, n, objects: objects.clone() };
        let mut out = Vec::new();
        m.encode(1, &mut out);
        let f = parse_frame(&out, MAX_FRAME).unwrap().unwrap();
        let body = f.body.to_vec();
        assert_eq!(parse_search_reply(body.clone()).unwrap(), (9, ReturnCode::Success, true, 3, 2, objects));
        for cut in 0..body.len() {
            let prefix = body[..cut].to_vec();
            assert!(parse_search_reply(prefix.clone()).is_err(), "a {cut}-byte prefix");
            assert!(Msg::decode(msg::SEARCH_REPLY, &prefix).is_err());
        }
        let mut long = body;
        long.push(0);
        assert!(parse_search_reply(long).is_err());
    }
}
