//! The daemon's request and chain logic, without sockets and without a clock, in the manner
//! of raft-rs's `RawNode`/`Ready`: the shell feeds [`Node::step`] one input at a time (a
//! message, a configuration, a committed round, a closed connection, a tick) with the time,
//! then takes a [`Ready`]: the round of writes to commit, storage work ordered with the
//! rounds, and the messages it may send now. The rule "nothing leaves this server that
//! depends on a write not yet durable" lives here: a message produced with writes is held
//! until the shell reports their round committed. The node reads storage (gets, snapshots,
//! region scans); every storage write is an effect the shell executes.
//!
//! Value-dependent chaining (docs/architecture.md): the point leader validates the op against
//! the newest version of the object (including writes in flight), computes the new object and
//! its version, and sends it down the chain of hops (key region's replicas, then per subspace
//! the old region's and the new region's replicas). The last hop applies it and acks
//! backwards; every hop applies when the ack reaches it; the leader answers the client.

use super::search::{Schema, Searches};
use super::storage::{
    decode_record, encode_tombstone, index_key, indexed_marker, record_values, record_version, region_prefix,
    storage_key, storage_key_into, Bytes, Record, ScanPlan, Store, MAX_REGION, REGION_BYTES, VERSION_FLOOR_KEY,
};
use crate::fasthash::FastMap;
use byteview::ByteView;
use hyperdex_core::config::{Configuration, Region, RegionIndex, Space};
use hyperdex_core::hashing::coordinate;
use hyperdex_core::ops::{apply_funcs, check_passes, validate_check, validate_func, Check, Func, FuncOp};
use hyperdex_core::proto::{flags, no_values, search_mode, AtomicHead, ChainOpHead, Hop, Msg, TransferObject};
use hyperdex_core::{DataType, Predicate, ReturnCode};
use std::io;
use std::sync::Arc;
use std::time::{Duration, Instant};

pub use super::storage::Write;
/// A message to send: where, its nonce, the message.
pub type Outgoing = (Dest, u64, Msg);

/// What the node gets from outside.
#[derive(Debug)]
pub enum Input {
    /// A message that arrived on connection `conn`; `from`: the daemon at the other end, if
    /// it identified itself (HELLO) or is one we called.
    Message { conn: usize, from: Option<u64>, nonce: u64, msg: Msg },
    /// A configuration from the coordinator.
    Config(Configuration),
    /// Storage holds every round up to this one.
    Committed(u64),
    /// Connection `conn` closed; `peer` when it was our connection to that server.
    Closed { conn: usize, peer: Option<u64> },
    /// Messages for this server could not be sent (no connection).
    Unreachable(u64),
    /// Time passed: give up on what waited too long, heartbeat the coordinator.
    Tick,
    /// The coordinator acknowledged the heartbeat sent with `nonce`: reads may be served
    /// for `lease` from when that heartbeat was sent.
    HeartbeatAck { nonce: u64, lease: Duration },
    /// The process is stopping: no more heartbeats, and no more requests served from here
    /// on (the coordinator removes this server from its chains at once).
    Stopping,
    /// Reads asked for in [`Ready::reads`], done: each job, and what storage held.
    Loaded(Vec<(ReadJob, Loaded)>),
}

/// A storage read for a GET that missed the object cache, done off the event loop (see
/// [`Node::read_elsewhere`]): the shell runs [`load`] on `skey` and feeds the result back
/// with [`Input::Loaded`], in any order and at any later time.
#[derive(Debug)]
pub struct ReadJob {
    pub skey: Bytes,
    /// The GET waiting for it.
    get: WaitingGet,
}

/// What storage holds for a key.
#[derive(Debug)]
pub enum Loaded {
    /// The object's version and values; None: absent (version 0) or deleted at that version.
    Object(u64, Option<Vals>),
    /// A stored record that does not decode.
    Corrupt,
    /// The storage engine failed.
    Failed(io::Error),
}

/// Reads `skey` from `store` (for the event loop, or a reader thread with its own handle).
pub fn load<S: Store>(store: &S, skey: &[u8]) -> Loaded {
    match store.get_record(skey) {
        // The values are the record itself (copied out of the engine's block once).
        Ok(Some(rec)) => match record_values(rec) {
            Ok((version, values)) => Loaded::Object(version, values),
            Err(_) => Loaded::Corrupt,
        },
        Ok(None) => Loaded::Object(0, None),
        Err(e) if e.kind() == io::ErrorKind::InvalidData => Loaded::Corrupt,
        Err(e) => Loaded::Failed(e),
    }
}

/// Storage work that must run in order with the rounds of writes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StorageTask {
    /// Delete a region's objects, index entries and marker (its space was removed).
    DropRegion(u64),
}

/// Storage work, in the order it must run.
#[derive(Debug, PartialEq, Eq)]
pub enum Job {
    /// A numbered round of writes; the shell reports it with [`Input::Committed`] once
    /// storage holds it (and every round before it).
    Round(u64, Vec<Write>),
    Task(StorageTask),
}

/// What the shell must do after stepping the node, in this order: commit `floor` at once
/// (before sending anything), queue `jobs` to storage in order, send `send`, then close
/// the connections in `close`.
#[derive(Debug, Default)]
pub struct Ready {
    /// A raised version floor: the new versions may leave in `send`, so it must be durable
    /// before they do.
    pub floor: Option<Write>,
    pub jobs: Vec<Job>,
    /// Storage reads to run elsewhere, in any order (see [`ReadJob`]).
    pub reads: Vec<ReadJob>,
    /// Messages that may leave now: those that depend on no uncommitted write, and those
    /// of rounds already committed.
    pub send: Vec<Outgoing>,
    /// Connections that sent server-to-server messages without being a server of the
    /// current configuration.
    pub close: Vec<usize>,
    /// Lines for the daemon's log.
    pub log: Vec<String>,
}

impl Ready {
    pub fn is_empty(&self) -> bool {
        self.floor.is_none()
            && self.jobs.is_empty()
            && self.reads.is_empty()
            && self.send.is_empty()
            && self.close.is_empty()
            && self.log.is_empty()
    }
}

/// Where a message goes: back on a connection, to a server by id, or to the coordinator.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Dest {
    Conn(usize),
    Server(u64),
    Coordinator,
}

/// Who is waiting for a hop's acknowledgement.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Origin {
    /// The client that sent the op (hop 0 at the point leader).
    Client { conn: usize, nonce: u64 },
    /// The previous hop, reached back over the connection the op arrived on; `send`: the
    /// nonce of the frame it came in (answers carry it back: a hop counts only the answer to
    /// its latest send).
    Peer { conn: usize, send: u64 },
    /// The previous hop is this same server.
    Local { send: u64 },
}

impl Origin {
    /// The same upstream, whichever send of it (a later send replaces an earlier one).
    fn same_sender(&self, other: &Origin) -> bool {
        match (self, other) {
            (Origin::Peer { conn: a, .. }, Origin::Peer { conn: b, .. }) => a == b,
            (Origin::Local { .. }, Origin::Local { .. }) => true,
            (a, b) => a == b,
        }
    }
}

/// One way a write reached this hop: who to answer, and what that hop is (its index in
/// the path it sent, and its region; 0 for the client's).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Upstream {
    origin: Origin,
    hop: u16,
    prev_region: u64,
}

/// A write this server passed on and whose acknowledgement it awaits, one per write and
/// region (keyed by leader, op and region). The same write may arrive again along another
/// path (re-sent by a repaired chain, perhaps from another server): it joins this entry,
/// goes on along the newest path, and every way it came is answered.
struct PendingHop {
    /// When this hop first sent the write on (for [`Node::expire`]).
    since: Instant,
    up: Upstream,
    /// Other ways the same write came here (usually none).
    also: Vec<Upstream>,
    /// This hop's index in `hops`.
    hop: u16,
    /// The nonce of the latest send to `next`: only answers carrying it count.
    sent: u64,
    region: u64,
    /// Shared with the CHAIN_OP sent (and with any sent again); inline up to 20 bytes.
    key: ByteView,
    obj_version: u64,
    store: bool,
    values: Option<Vals>,
    /// The server of the next hop.
    next: u64,
    /// Region of hop 0 (the key region), for the leader's in-flight table.
    key_region: u64,
    /// The whole path as last sent, and the space (to send it again along a repaired chain).
    hops: Arc<[Hop]>,
    space: u64,
    /// The link to `next` broke after the write was sent: send it again (to `next` if it is
    /// still in the chain, else along the new chain).
    stalled: bool,
}

/// What [`Node::apply_and_answer`] needs of a write besides its key, values and upstreams.
#[derive(Clone, Copy)]
struct Done {
    region: u64,
    obj_version: u64,
    store: bool,
    leader: u64,
    op: u64,
}

/// The newest state of a key at its point leader while writes are in flight.
struct InFlight {
    version: u64,
    /// The newest version stored or applied here (at the leader's hop) so far; None: not
    /// known yet (a blind put did not read the stored object).
    applied: Option<u64>,
    values: Option<Vals>,
    count: u32,
    /// Answers of ops refused against this in-flight state (NOTFOUND, CMPFAIL): they leave
    /// once the writes they saw are done, RECONFIGURE if one of those failed.
    deferred: Vec<(usize, u64, ReturnCode)>,
    failed: bool,
}

/// An object's non-key values in schema order, shared between the cache, the in-flight
/// table, pending hops and the messages that carry them, without copying.
type Vals = hyperdex_core::proto::Values;

/// A write's path as `chain_hop` gets it: borrowed (from a request or frame being handled),
/// or already shared with a pending hop. Forwarding shares it between the pending hop and
/// the CHAIN_OP it sends (a borrowed path becomes this server's buffer for that path, see
/// [`Node::intern_path`]).
enum PathRef<'a> {
    Borrowed(&'a [Hop]),
    Owned(Arc<[Hop]>),
}

impl PathRef<'_> {
    fn get(&self) -> &[Hop] {
        match self {
            PathRef::Borrowed(b) => b,
            PathRef::Owned(a) => a,
        }
    }
}

/// A write's key as [`Node::chain_hop`] gets it: borrowed from a frame or request, or the
/// pending entry's own (when sent again).
enum KeyRef<'a> {
    Borrowed(&'a [u8]),
    Owned(ByteView),
}

impl KeyRef<'_> {
    fn get(&self) -> &[u8] {
        match self {
            KeyRef::Borrowed(b) => b,
            KeyRef::Owned(k) => k,
        }
    }

    /// The key in a buffer of its own (a copy held inline, not allocated, up to 20 bytes),
    /// which the pending hop and the CHAIN_OP then share.
    fn into_owned(self) -> ByteView {
        match self {
            KeyRef::Borrowed(b) => ByteView::from(b),
            KeyRef::Owned(k) => k,
        }
    }
}

/// A cached object: its version, and its values (None: deleted at that version).
#[derive(Clone)]
struct Cached {
    version: u64,
    values: Option<Vals>,
    /// The commit round that wrote it (0: read from storage). Entries of rounds not yet
    /// committed are never evicted: storage does not have them yet.
    round: u64,
}

/// The answer to a GET, for an object of a space with `n` values: what is known of it, or
/// why it fails.
fn get_reply(n: usize, found: Result<(u64, Option<Vals>), ReturnCode>) -> Msg {
    let fail = |rc| Msg::GetReply { rc, values: no_values() };
    match found {
        // The cached values themselves, shared: nothing is copied until the reply is encoded.
        Ok((_, Some(vals))) if vals.len() == n => Msg::GetReply { rc: ReturnCode::Success, values: vals },
        Ok((_, Some(_))) => fail(ReturnCode::ServerError),
        Ok((_, None)) => fail(ReturnCode::NotFound),
        Err(rc) => fail(rc),
    }
}

/// Slots of [`Node::written`]: keys sharing a slot only cache fewer reads.
const WRITTEN_SLOTS: usize = 4096;

/// A GET waiting for a storage read (see [`Node::read_elsewhere`]): who asked, and what.
#[derive(Debug)]
struct WaitingGet {
    conn: usize,
    from: Option<u64>,
    nonce: u64,
    /// The configuration version the client sent.
    version: u64,
    region: u64,
    /// The number of values of the space's objects.
    n: usize,
    /// This server's configuration version when the read was asked for.
    config: u64,
    /// `write_mark` then.
    mark: u64,
}

fn cached_size(skey: &[u8], values: &Option<Vals>) -> usize {
    values_size(skey.len(), values)
}

/// What an entry of the object cache is counted for: its key's length and its values (one
/// buffer, the object's record, and the allocator's and reference count's overhead).
fn values_size(key_len: usize, values: &Option<Vals>) -> usize {
    64 + key_len + values.as_ref().map_or(0, |v| v.record().len() + 24)
}

/// A state transfer this server sends as a region's tail: a snapshot of the region in
/// acknowledged batches (writes made meanwhile reach the joining server through the chain,
/// which ends with it while it joins; see [`write_chain`]).
struct XferOut<C> {
    region: u64,
    target: u64,
    vid: u64,
    /// The snapshot is taken once storage holds this round (every write applied here before
    /// the transfer began, which may not have passed through the joining server).
    wait_round: u64,
    cursor: Option<C>,
    /// The snapshot has been read to its end.
    scanned: bool,
    next_seq: u64,
    /// Batches sent and not acknowledged, in the order sent.
    unacked: std::collections::VecDeque<Unacked>,
    /// When the coordinator was told the copy is complete (told again if nothing happens).
    reported: Option<Instant>,
    /// After a lost link: nothing is sent before this time (no busy retries).
    not_before: Option<Instant>,
    /// The last key of the snapshot the target has acknowledged, every key before it
    /// included: a copy restarted after a lost link resumes after it (later writes to
    /// those keys reach the target through the chain, which ends with it).
    acked_to: Option<Vec<u8>>,
    /// The target holds nothing of the region: the snapshot goes in plain batches. Until
    /// it says so, the snapshot goes as summaries (keys and versions), and only the
    /// objects the target lacks or holds at another version follow (catch-up).
    full: bool,
    /// Keys the target asked for, to send next.
    want: std::collections::VecDeque<Vec<u8>>,
}

/// What a transfer batch carries.
enum Batch {
    /// Objects of the snapshot, in key order.
    Data(Vec<TransferObject>),
    /// Objects the target asked for.
    Wanted(Vec<TransferObject>),
    /// The keys and versions of the snapshot in (after, upto].
    Summary { after: Option<Vec<u8>>, upto: Option<Vec<u8>>, entries: Vec<(Vec<u8>, u64)> },
}

/// A transfer batch sent and not acknowledged yet.
struct Unacked {
    seq: u64,
    sent: Instant,
    batch: Batch,
}

/// A region this server is joining, as the target of a state transfer. Its store may hold
/// an older copy of the region (it held it before a restart): such objects are not trusted
/// until a summary from the source has confirmed them. Trusted: keys the chain or the
/// source wrote during this join, and every key up to the last summary that the source
/// does not still have to send.
struct JoinIn {
    vid: u64,
    /// The store held nothing of the region that was not written during this join.
    all_trusted: bool,
    /// Summaries confirmed keys up to this one (`verified_all`: every key).
    verified_to: Option<Vec<u8>>,
    verified_all: bool,
    /// Keys within the confirmed range whose objects the source has yet to send.
    wanted: std::collections::HashSet<Vec<u8>>,
    /// Keys written during this join beyond the confirmed range.
    touched: std::collections::HashSet<Vec<u8>>,
    /// For the log: keys compared with the source's, objects received, objects removed.
    compared: u64,
    received: u64,
    removed: u64,
}

impl JoinIn {
    fn new(vid: u64) -> JoinIn {
        JoinIn {
            vid,
            all_trusted: false,
            verified_to: None,
            verified_all: false,
            wanted: Default::default(),
            touched: Default::default(),
            compared: 0,
            received: 0,
            removed: 0,
        }
    }

    fn trusted(&self, key: &[u8]) -> bool {
        if self.all_trusted || self.touched.contains(key) {
            return true;
        }
        let confirmed = self.verified_all || self.verified_to.as_deref().is_some_and(|v| key <= v);
        confirmed && !self.wanted.contains(key)
    }

    /// `key` now holds what the chain or the source wrote: trusted from here on.
    fn trust(&mut self, key: &[u8]) {
        if !self.all_trusted {
            self.wanted.remove(key);
            self.touched.insert(key.to_vec());
        }
    }
}

impl<B: AsRef<[u8]>, C: Iterator<Item = io::Result<(B, B)>>> XferOut<C> {
    /// The next record of the snapshot: its object key and stored bytes; None once the
    /// snapshot is read to its end.
    fn next_record(&mut self) -> io::Result<Option<(Vec<u8>, B)>> {
        loop {
            let Some(item) = self.cursor.as_mut().and_then(|c| c.next()) else {
                self.scanned = true;
                self.cursor = None;
                return Ok(None);
            };
            let (skey, rec) = item?;
            if let Some(key) = skey.as_ref().get(REGION_BYTES..) {
                return Ok(Some((key.to_vec(), rec)));
            }
        }
    }

    /// The next batch to send (None: nothing for now): the objects the target asked for,
    /// as storage has them now (a newer write reached the target through the chain first:
    /// it keeps that one); else, once summarised, plain batches of the snapshot for a
    /// target that holds nothing; else a summary of the snapshot's next stretch, every key
    /// with its version (the first one is sent even for an empty region: its answer says
    /// whether the target holds anything).
    fn next_batch(&mut self, get: impl Fn(&[u8]) -> io::Result<Option<Record>>) -> io::Result<Option<Batch>> {
        if !self.want.is_empty() {
            let mut objects = Vec::new();
            let mut bytes = 0usize;
            while objects.len() < XFER_BATCH_OBJECTS && bytes < XFER_BATCH_BYTES {
                let Some(key) = self.want.pop_front() else { break };
                let o = match get(&storage_key(self.region, &key)) {
                    Ok(Some(rec)) => {
                        let values = (!rec.deleted).then_some(rec.values);
                        TransferObject { key, version: rec.version, values }
                    }
                    // Gone since the summary: nothing to keep there either.
                    Ok(None) | Err(_) => TransferObject { key, version: 0, values: None },
                };
                bytes += transfer_bytes(&o);
                objects.push(o);
            }
            return Ok(Some(Batch::Wanted(objects)));
        }
        if self.scanned {
            return Ok(None);
        }
        if self.full {
            let mut objects = Vec::new();
            let mut bytes = 0usize;
            while objects.len() < XFER_BATCH_OBJECTS && bytes < XFER_BATCH_BYTES {
                let Some((key, rec)) = self.next_record()? else { break };
                // A record that does not decode is not copied (reads of it fail too).
                let Ok(rec) = decode_record(rec.as_ref()) else { continue };
                let values = (!rec.deleted).then_some(rec.values);
                let o = TransferObject { key, version: rec.version, values };
                bytes += transfer_bytes(&o);
                objects.push(o);
            }
            return Ok((!objects.is_empty()).then_some(Batch::Data(objects)));
        }
        let mut entries = Vec::new();
        let mut bytes = 0usize;
        while entries.len() < XFER_SUMMARY_KEYS && bytes < XFER_SUMMARY_BYTES {
            let Some((key, rec)) = self.next_record()? else { break };
            let Some(version) = record_version(rec.as_ref()) else { continue };
            bytes += key.len() + 16;
            entries.push((key, version));
        }
        let upto = if self.scanned { None } else { entries.last().map(|e| e.0.clone()) };
        Ok(Some(Batch::Summary { after: self.acked_to.clone(), upto, entries }))
    }
}

/// About how many bytes a transfer object takes in a batch (for the batch size limit).
fn transfer_bytes(o: &TransferObject) -> usize {
    o.key.len() + o.values.iter().flatten().map(|v| v.len() + 4).sum::<usize>() + 16
}

/// The message that carries transfer batch `u` of `x`.
fn batch_msg<C>(version: u64, x: &XferOut<C>, u: &Unacked) -> Msg {
    let (region, vid, seq) = (x.region, x.vid, u.seq);
    match &u.batch {
        Batch::Data(objects) | Batch::Wanted(objects) => {
            Msg::TransferData { version, region, vid, seq, objects: objects.clone() }
        }
        Batch::Summary { after, upto, entries } => Msg::TransferSummary {
            version,
            region,
            vid,
            seq,
            after: after.clone(),
            upto: upto.clone(),
            entries: entries.clone(),
        },
    }
}

/// What a transfer summary means to the joining server (see `Node::summary_diff`).
struct SummaryDiff {
    /// Keys whose objects to ask the source for.
    want: Vec<Vec<u8>>,
    /// Objects held here that the source does not have, with what they held.
    gone: Vec<(Vec<u8>, Option<super::storage::Record>)>,
    /// This server holds nothing of the region it cannot trust.
    all: bool,
}

/// At most this many keys, or this many bytes of keys, per transfer summary.
const XFER_SUMMARY_KEYS: usize = 1024;
const XFER_SUMMARY_BYTES: usize = 64 << 10;

/// A tombstone older than this is dropped: by then no older write of its object can still
/// arrive (a write is given up 10 s after a hop first sent it, a held request after 10 s,
/// so a write lives at most tens of seconds times the hops of its path).
const TOMBSTONE_AGE: Duration = Duration::from_secs(3600);
/// How often the regions held here are swept for old tombstones, and how many records one
/// tick of a sweep reads.
const TOMBSTONE_SWEEP_EVERY: Duration = Duration::from_secs(600);
const TOMBSTONE_SWEEP_BUDGET: usize = 4096;

/// A sweep for old tombstones: the regions left to read, and the snapshot being read.
struct Sweep<C> {
    regions: Vec<u64>,
    cursor: Option<(u64, C)>,
}

/// How long a request may wait for a configuration newer than ours, or for a read lease.
const HELD_TIMEOUT: Duration = Duration::from_secs(10);
/// How often this server heartbeats the coordinator (on the tick that follows).
pub const HEARTBEAT_EVERY: Duration = Duration::from_millis(100);
/// How long a hop waits for the rest of its chain (across repairs and resends) before
/// failing the write.
const PENDING_TIMEOUT: Duration = Duration::from_secs(10);
/// Largest object (key and encoded values) a write may produce: well inside one frame.
const MAX_OBJECT_BYTES: usize = 32 << 20;
/// A state transfer's batches: at most this many objects or bytes, and this many batches
/// unacknowledged at once. Small batches are the throttle that keeps client traffic
/// flowing: each one is a short turn of both event loops between client requests
/// (measured with `make bench-faults`, N=1000000: batches of 128 objects kept clients at
/// 0.05x of their rate during the copy, 32 at 0.27x, 8 at 0.44x, 4 at 0.53x; docs/benchmarks.md).
const XFER_BATCH_OBJECTS: usize = 4;
const XFER_BATCH_BYTES: usize = 64 << 10;
const XFER_WINDOW: usize = 1;
/// An unacknowledged batch (or an unanswered completion report) is sent again after this.
const XFER_RETRY: Duration = Duration::from_secs(1);

/// Where to find a region in the configuration.
#[derive(Clone, Copy)]
struct RegionIdx {
    space: usize,
    subspace: usize,
    region: usize,
}

/// The largest value buffer `Node::update_vals` keeps for the next update.
const UPDATE_ROOM: usize = 64 << 10;

pub struct Node<S: Store> {
    pub id: u64,
    pub store: S,
    /// Shared so a request can hold the space it works on while the node changes.
    pub config: Arc<Configuration>,
    index: FastMap<u64, RegionIdx>,
    /// Per space and subspace of `config`, the grid index of its regions (None: scan).
    grids: Vec<Vec<Option<RegionIndex>>>,
    /// This round's writes: storage key → (version, record bytes or None for a delete).
    writes: Vec<Write>,
    /// Write-through cache of objects (and of recent deletes, which keeps a late older
    /// write from resurrecting an object), bounded by `cache_limit` bytes, in insertion
    /// order (see `remember` for how it is evicted), with its entries counted per region.
    cache: super::cache::ObjectCache<Bytes, Cached>,
    /// Where the cache's eviction sweep stands.
    cache_hand: usize,
    cache_bytes: usize,
    cache_limit: usize,
    /// Writes this server stores but does not serve GETs for (a region of the key subspace
    /// that it is not the head of), while their round is not committed: reads here must
    /// still see them, and storage does not have them yet. They stay out of the object
    /// cache, which keeps its room for what GETs here read (see `remember_unserved`).
    fresh: FastMap<Bytes, Cached>,
    /// The keys put in `fresh`, with their rounds, oldest first (to drop them once committed).
    fresh_order: std::collections::VecDeque<(u64, Bytes)>,
    /// The values of the last object updated by functions, as lists (their buffers are
    /// reused; see `atomic`).
    update_vals: Vec<Vec<u8>>,
    /// The round this node's writes currently go to, and the newest round storage holds.
    round: u64,
    committed_round: u64,
    /// Messages of rounds not yet committed, oldest first: per round, the messages that
    /// wait for it, as one list (moved here whole from `outbox.held`, and appended to a
    /// `Ready::send` whole once the round is committed).
    held_out: std::collections::VecDeque<(u64, Vec<Outgoing>)>,
    /// Emptied lists with room, from `held_out`: `outbox.held` takes one when it moves there,
    /// so a busy server does not allocate a list per round.
    spare_lists: Vec<Vec<Outgoing>>,
    /// An empty list with room, handed back by the shell (see [`Node::recycle`]): the next
    /// `Ready::send`.
    send_spare: Vec<Outgoing>,
    /// A raised version floor not yet handed to the shell.
    floor_write: Option<Write>,
    /// The time of the input being handled.
    now: Instant,
    /// Keyed by storage key (the key region's id, then the object key): the same buffer
    /// the write's storage key and cache entry share (see `owned_key`).
    inflight: FastMap<Bytes, InFlight>,
    /// GETs that miss the object cache read storage elsewhere ([`Ready::reads`]) instead
    /// of on the event loop (see [`Node::read_elsewhere`]).
    read_elsewhere: bool,
    /// Reads asked for and not yet handed to the shell.
    reads: Vec<ReadJob>,
    /// Reads asked for and not done yet.
    reads_out: usize,
    /// Counts the writes applied while reads are out.
    write_mark: u64,
    /// Per slot of storage keys (by hash), the `write_mark` of the last write applied to
    /// a key of the slot while reads were out (see [`Node::read_done`]).
    written: Vec<u64>,
    /// Per region, a bound above the version of every object of the region stored or
    /// applied here: the highest version applied to it since this process started, and
    /// `stored_high` for what storage held before. A write above it is newer than whatever
    /// its key holds here, and needs no storage read to know (see `apply`).
    applied_high: FastMap<u64, u64>,
    /// A bound above every version in storage when the process started: the persisted
    /// version floor (every version stored here was first issued or seen here, and the
    /// floor is committed above it before it is), 0 for an empty store, u64::MAX (no
    /// bound: always read) for a store with data but no floor.
    stored_high: u64,
    /// The path of the write being started (kept for the next, see `atomic`).
    hops_buf: Vec<Hop>,
    /// The paths of the writes sent down chains from here, one shared buffer per path
    /// (see [`Node::intern_path`]).
    paths: std::collections::HashSet<Arc<[Hop]>, crate::fasthash::FastState>,
    /// Scratch buffers for building a storage key or record before it is looked up or
    /// copied into its own buffer (a few, as a key is built while another is in use).
    bufs: Vec<Vec<u8>>,
    /// Keyed by leader, op and region (see [`PendingHop`]).
    pending: FastMap<(u64, u64, u64), PendingHop>,
    next_op: u64,
    /// Per-key versions come from this counter, so a version is never reused, even across
    /// deletes and restarts: it starts above both the clock and the stored floor.
    version_clock: u64,
    /// A persisted bound above every version issued: raised (in the same commit as the
    /// writes that need it) whenever the counter reaches it.
    version_floor: u64,
    /// Requests for a configuration newer than ours, replayed when it arrives.
    held: Vec<(usize, Option<u64>, u64, Msg, Instant)>,
    /// Messages made since the last `Ready` (see [`Outbox`]).
    outbox: Outbox,
    /// Storage jobs not yet handed to the shell (rounds sealed early, tasks), in order.
    jobs: Vec<Job>,
    /// Connections to close (see [`Ready::close`]).
    close: Vec<usize>,
    /// Transfers this server sends (it is the region's tail).
    xfers_out: Vec<XferOut<S::Cursor>>,
    /// The regions this server is joining (with the transfer's virtual id), and what it
    /// trusts of each (see [`JoinIn`]).
    joins: FastMap<u64, JoinIn>,
    /// Peers reported to the coordinator, with the configuration version of the report.
    reported: FastMap<u64, u64>,
    /// Storage failures (fatal for the process: better to stop than to ack a lost write).
    pub storage_error: Option<io::Error>,
    /// Regions whose DropRegion task is queued before round `.1`: until that round is
    /// committed, storage still holds their old objects, which must read as absent.
    dropping: Vec<(u64, u64)>,
    /// Open searches of the regions this server heads.
    pub searches: Searches<S::Cursor>,
    /// The wall clock (ns) at `started`: `wall()` is the wall clock now, from the inputs'
    /// monotonic time (tombstones record when they were made).
    wall_start: u64,
    started: Instant,
    /// The sweep for old tombstones under way, and when the next one starts.
    sweep: Option<Sweep<S::Cursor>>,
    next_sweep: Instant,
    /// Until when this server may answer clients: a read lease from the coordinator, which
    /// removes this server from its chains only after the lease has run out. Without one
    /// (partitioned away, or stopping) client requests wait.
    lease_until: Option<Instant>,
    /// Heartbeats sent and not acknowledged: (nonce, when sent), oldest first.
    heartbeats: std::collections::VecDeque<(u64, Instant)>,
    next_heartbeat: Instant,
    stopping: bool,
    /// Lines for the daemon's log (see [`Ready::log`]).
    log: Vec<String>,
}

const MAX_HELD: usize = 100_000;

/// The most write paths [`Node::intern_path`] keeps.
pub(super) const MAX_PATHS: usize = 4096;

/// The longest path [`Node::intern_path`] keeps (a path has f + 1 hops in the key's
/// subspace and at most 2(f + 1) in each other one).
pub(super) const MAX_INTERNED_HOPS: usize = 32;
/// The longest byte string a `ByteView` (and so a storage key, `Bytes`) holds inline,
/// without an allocation of its own (byteview's `INLINE_SIZE` on 64-bit targets; a test
/// checks it).
pub(super) const INLINE_BYTES: usize = 20;

/// Emptied lists of held messages kept for reuse (one per round waiting for its commit is
/// plenty: rounds are committed in order, a few at a time).
const MAX_SPARE_LISTS: usize = 8;

impl<S: Store> Node<S> {
    /// A node for server `id` over `store`. `now` is the monotonic time, `clock_nanos` the
    /// wall clock in nanoseconds (versions and op numbers start above it, so they do not
    /// repeat across restarts).
    pub fn new(id: u64, store: S, cache_limit: usize, now: Instant, clock_nanos: u64) -> Node<S> {
        let floor = match store.get_raw(VERSION_FLOOR_KEY) {
            Ok(Some(b)) if b.len() == 8 => u64::from_le_bytes(b.try_into().unwrap_or([0; 8])),
            _ => 0,
        };
        let mut node = Node {
            id,
            store,
            config: Arc::new(Configuration::default()),
            index: FastMap::default(),
            grids: Vec::new(),
            writes: Vec::new(),
            cache: Default::default(),
            cache_hand: 0,
            cache_bytes: 0,
            cache_limit,
            round: 1,
            committed_round: 0,
            fresh: FastMap::default(),
            fresh_order: std::collections::VecDeque::new(),
            update_vals: Vec::new(),
            held_out: std::collections::VecDeque::new(),
            spare_lists: Vec::new(),
            send_spare: Vec::new(),
            floor_write: None,
            now,
            inflight: FastMap::default(),
            read_elsewhere: false,
            reads: Vec::new(),
            reads_out: 0,
            write_mark: 0,
            written: vec![0; WRITTEN_SLOTS],
            bufs: Vec::new(),
            hops_buf: Vec::new(),
            paths: Default::default(),
            applied_high: FastMap::default(),
            stored_high: u64::MAX,
            pending: FastMap::default(),
            next_op: 1,
            version_clock: 0,
            version_floor: 0,
            held: Vec::new(),
            outbox: Outbox::default(),
            jobs: Vec::new(),
            close: Vec::new(),
            xfers_out: Vec::new(),
            joins: FastMap::default(),
            reported: FastMap::default(),
            storage_error: None,
            dropping: Vec::new(),
            searches: Searches::default(),
            wall_start: clock_nanos,
            started: now,
            sweep: None,
            next_sweep: now + TOMBSTONE_SWEEP_EVERY,
            lease_until: None,
            heartbeats: Default::default(),
            next_heartbeat: now,
            stopping: false,
            log: Vec::new(),
        };
        node.version_clock = clock_nanos.max(floor);
        node.version_floor = floor;
        node.stored_high = match (floor, node.store.is_empty()) {
            (0, Ok(true)) => 0,
            (0, _) | (_, Err(_)) => u64::MAX,
            (f, Ok(_)) => f,
        };
        // Op numbers must not repeat across restarts either (a late ack for an op of the
        // previous run must not match a new one): start from the clock too.
        node.next_op = node.version_clock;
        node
    }

    /// The wall clock now, in nanoseconds.
    fn wall(&self) -> u64 {
        self.wall_start.saturating_add(self.now.saturating_duration_since(self.started).as_nanos() as u64)
    }

    /// One tick's share of the sweep for old tombstones: starts one every
    /// [`TOMBSTONE_SWEEP_EVERY`] over the regions held here, reads at most
    /// [`TOMBSTONE_SWEEP_BUDGET`] records, and deletes each tombstone older than
    /// [`TOMBSTONE_AGE`] that is still the newest state of its object.
    fn sweep_tombstones(&mut self) {
        if self.sweep.is_none() {
            if self.now < self.next_sweep {
                return;
            }
            self.next_sweep = self.now + TOMBSTONE_SWEEP_EVERY;
            let me = self.id;
            let regions = self
                .config
                .spaces
                .iter()
                .flat_map(|sp| sp.subspaces.iter())
                .flat_map(|ss| ss.regions.iter())
                .filter(|r| r.replicas.iter().any(|p| p.server == me))
                .map(|r| r.id)
                .collect();
            self.sweep = Some(Sweep { regions, cursor: None });
        }
        let cutoff = self.wall().saturating_sub(TOMBSTONE_AGE.as_nanos() as u64);
        let mut old = Vec::new();
        let mut budget = TOMBSTONE_SWEEP_BUDGET;
        while budget > 0 {
            let Some(sw) = self.sweep.as_mut() else { break };
            if sw.cursor.is_none() {
                let Some(region) = sw.regions.pop() else {
                    self.sweep = None;
                    break;
                };
                sw.cursor = Some((region, self.store.snapshot_region(region, &ScanPlan::All)));
            }
            let Some((_, cursor)) = sw.cursor.as_mut() else { break };
            match cursor.next() {
                None => sw.cursor = None,
                Some(Err(e)) => {
                    self.storage_error.get_or_insert(e);
                    self.sweep = None;
                    break;
                }
                Some(Ok((skey, rec))) => {
                    budget -= 1;
                    if let Ok(r) = decode_record(rec.as_ref()) {
                        if r.deleted && r.deleted_at < cutoff {
                            old.push((skey.as_ref().to_vec(), r.version));
                        }
                    }
                }
            }
        }
        for (skey, version) in old {
            // Only if nothing newer happened to the object since the snapshot.
            if matches!(self.read(&skey), Ok((v, None)) if v == version) {
                if let Some(c) = self.cache.swap_remove(skey.as_slice()) {
                    self.cache_bytes -= cached_size(&skey, &c.values);
                }
                self.fresh.remove(skey.as_slice());
                self.writes.push((skey.into(), None));
            }
        }
    }

    /// The next object version, above `previous` and every version issued before.
    fn next_version(&mut self, previous: u64) -> u64 {
        self.version_clock = self.version_clock.max(previous) + 1;
        if self.version_clock >= self.version_floor {
            // Rare (once per 2^32 versions, and at start): committed before anything of this
            // step is sent (`Ready::floor`), because the new version may leave this server
            // before this round's writes are committed.
            self.version_floor = self.version_clock + (1 << 32);
            self.floor_write = Some((VERSION_FLOOR_KEY.into(), Some(self.version_floor.to_le_bytes().into())));
        }
        self.version_clock
    }

    fn region(&self, id: u64) -> Option<(&Space, usize, &Region)> {
        let ix = self.index.get(&id)?;
        let sp = &self.config.spaces[ix.space];
        Some((sp, ix.subspace, &sp.subspaces[ix.subspace].regions[ix.region]))
    }

    /// Installs a newer configuration: rebuilds the region index, starts and stops state
    /// transfers, drops the data of regions this server no longer holds, sends writes in
    /// flight again along repaired chains, and replays held requests.
    pub fn install_config(&mut self, config: Configuration) {
        if config.version <= self.config.version && self.config.version != 0 {
            return;
        }
        let regions = config.spaces.iter().flat_map(|sp| &sp.subspaces).flat_map(|ss| &ss.regions);
        if let Some(r) = regions.map(|r| r.id).find(|&id| id > MAX_REGION) {
            // Storage keys hold region ids below 2^31 (the coordinator issues no other):
            // such a configuration cannot be served without mixing regions' data.
            self.log.push(format!(
                "configuration {} has region id {r}, above the largest storage keys hold ({MAX_REGION}); not installed",
                config.version
            ));
            return;
        }
        let old = std::mem::replace(&mut self.config, Arc::new(config));
        self.index.clear();
        self.grids = self
            .config
            .spaces
            .iter()
            .map(|sp| sp.subspaces.iter().map(|ss| RegionIndex::new(&ss.regions)).collect())
            .collect();
        for (si, sp) in self.config.spaces.iter().enumerate() {
            for (ssi, ss) in sp.subspaces.iter().enumerate() {
                for (ri, r) in ss.regions.iter().enumerate() {
                    self.index.insert(r.id, RegionIdx { space: si, subspace: ssi, region: ri });
                }
            }
        }
        let me = self.id;
        let holds = |r: &Region| r.replicas.iter().chain(&r.joining).any(|p| p.server == me);
        let mut held_before: Vec<u64> = Vec::new();
        for sp in &old.spaces {
            for ss in &sp.subspaces {
                held_before.extend(ss.regions.iter().filter(|r| holds(r)).map(|r| r.id));
            }
        }
        // Transfers: as a region's tail, send it to its joining server; as a joining server,
        // trust nothing of what a previous copy or an earlier membership left here until
        // the source's summaries confirm it (it may hold objects changed or deleted since).
        let mut sources: Vec<(u64, u64, u64)> = Vec::new();
        let mut joining: Vec<(u64, u64)> = Vec::new();
        for sp in &self.config.spaces {
            for ss in &sp.subspaces {
                for r in &ss.regions {
                    let Some(j) = r.joining.first() else { continue };
                    if r.replicas.last().map(|p| p.server) == Some(me) {
                        sources.push((r.id, j.server, j.vid));
                    }
                    if j.server == me {
                        joining.push((r.id, j.vid));
                    }
                }
            }
        }
        self.xfers_out.retain(|x| sources.contains(&(x.region, x.target, x.vid)));
        for (region, target, vid) in sources {
            if !self.xfers_out.iter().any(|x| x.region == region && x.vid == vid) {
                let wait_round = if self.writes.is_empty() { self.round - 1 } else { self.round };
                self.xfers_out.push(XferOut {
                    region,
                    target,
                    vid,
                    wait_round,
                    cursor: None,
                    scanned: false,
                    next_seq: 1,
                    unacked: Default::default(),
                    reported: None,
                    not_before: None,
                    acked_to: None,
                    full: false,
                    want: Default::default(),
                });
            }
        }
        let ended: Vec<u64> =
            self.joins.iter().filter(|(r, j)| !joining.contains(&(**r, j.vid))).map(|(r, _)| *r).collect();
        for region in ended {
            let Some(j) = self.joins.remove(&region) else { continue };
            let joined = self
                .region(region)
                .is_some_and(|(_, _, r)| r.replicas.iter().any(|p| p.server == me && p.vid == j.vid));
            let how = if !joined {
                "stopped joining"
            } else if j.all_trusted {
                "joined (a full copy)"
            } else {
                "joined (caught up)"
            };
            self.log.push(format!(
                "{how} region {region}: {} keys compared, {} objects received, {} removed",
                j.compared, j.received, j.removed
            ));
        }
        for (region, vid) in joining {
            self.joins.entry(region).or_insert_with(|| JoinIn::new(vid));
        }
        // Regions this server held and no longer does (removed from their chain, a transfer
        // cancelled, their space removed): their objects go.
        // Not while this server is itself out of the configuration (stopping, or declared
        // failed): what it holds stays until it is given its regions again (then summaries
        // from each region's source reconcile it; see `transfer_summary`).
        let member = self.config.available(me);
        for rid in held_before {
            let region = self.region(rid).map(|(_, _, r)| holds(r));
            let gone = match region {
                None => true,
                Some(still) => member && !still,
            };
            if gone && !self.joins.contains_key(&rid) {
                self.drop_region(rid);
            }
        }
        // Regions of later subspaces held here whose index is not known to be complete (new
        // here, or stored by a daemon without indexes): index what storage holds (what is
        // still on its way to storage was indexed when it was applied), then mark them.
        let mut unindexed = Vec::new();
        for sp in &self.config.spaces {
            for ss in sp.subspaces.iter().skip(1) {
                for r in ss.regions.iter().filter(|r| r.replicas.iter().any(|p| p.server == self.id)) {
                    if !matches!(self.store.get_raw(&indexed_marker(r.id)), Ok(Some(_))) {
                        unindexed.push(r.id);
                    }
                }
            }
        }
        for region in unindexed {
            match self.store.scan_region(region) {
                Ok(objs) => {
                    for (key, rec) in objs {
                        self.update_index(region, &key, None, Some(&Vals::new(&rec.values)));
                    }
                    self.writes.push((indexed_marker(region).into(), Some([1u8].into())));
                }
                Err(e) => {
                    self.storage_error.get_or_insert(e);
                }
            }
        }
        // Writes in flight whose next hop changed (a server left or joined the chain) go on
        // along the new chain; those this server can no longer carry fail.
        let mut keys: Vec<(u64, u64, u64)> = self.pending.keys().copied().collect();
        keys.sort_unstable();
        for k in keys {
            let Some(p) = self.pending.get(&k) else { continue };
            let i = p.hop as usize;
            match self.reroute(&p.hops, i) {
                Ok(h) => {
                    if p.stalled || h.get(i + 1) != p.hops.get(i + 1) {
                        self.resend(k, h);
                    }
                }
                // A region on the way is offline: wait for it (up to PENDING_TIMEOUT).
                Err(ReturnCode::Offline) => {
                    if let Some(p) = self.pending.get_mut(&k) {
                        p.stalled = true;
                    }
                }
                Err(_) => self.fail_hop(k),
            }
        }
        self.replay_held();
    }

    /// Handles the held requests again (a new configuration, or a read lease). One held
    /// again keeps the time it was first held (it still fails after [`HELD_TIMEOUT`]).
    fn replay_held(&mut self) {
        let held = std::mem::take(&mut self.held);
        for (conn, from, nonce, msg, since) in held {
            let before = self.held.len();
            self.handle(conn, from, nonce, msg);
            if self.held.len() > before {
                if let Some(h) = self.held.last_mut() {
                    h.4 = since;
                }
            }
        }
    }

    /// Storage reads asked for in [`Ready::reads`] and not yet fed back.
    pub fn reads_out(&self) -> usize {
        self.reads_out
    }

    /// How many writes wait in `fresh` (see [`Node::remember_unserved`]).
    #[cfg(test)]
    pub fn fresh_len(&self) -> usize {
        self.fresh.len()
    }

    /// How many write paths [`Node::intern_path`] holds.
    #[cfg(test)]
    pub fn paths_len(&self) -> usize {
        self.paths.len()
    }

    /// Makes the object cache's table hold at most `n` entries (a test of a full table).
    #[cfg(test)]
    pub fn limit_cache_entries(&mut self, n: usize) {
        self.cache = super::cache::ObjectCache::with_max(n);
    }

    /// Whether the object cache's counts per region match its entries (see
    /// [`super::cache::ObjectCache`]).
    #[cfg(test)]
    pub fn cache_counts_hold(&self) -> bool {
        self.cache.counts_hold()
    }

    /// How many objects the cache holds.
    #[cfg(test)]
    pub fn cache_len(&self) -> usize {
        self.cache.len()
    }

    /// What the object cache counts itself as holding.
    #[cfg(test)]
    pub fn cache_bytes(&self) -> usize {
        self.cache_bytes
    }

    /// The nonce of the last heartbeat sent (tests answer it as the coordinator would).
    #[cfg(test)]
    pub fn last_heartbeat(&self) -> Option<u64> {
        self.heartbeats.back().map(|h| h.0)
    }

    /// Whether this server may answer clients now (see `lease_until`).
    fn leased(&self) -> bool {
        self.lease_until.is_some_and(|t| self.now < t)
    }

    /// Sends a heartbeat when one is due (not once stopping).
    fn heartbeat(&mut self) {
        if self.stopping || self.now < self.next_heartbeat {
            return;
        }
        // The tick that sends it may come a little late: aim a little early.
        self.next_heartbeat = self.now + HEARTBEAT_EVERY - HEARTBEAT_EVERY / 10;
        self.next_op += 1;
        let nonce = self.next_op;
        // Acknowledgements come in order; a lost one leaves its entry behind, dropped below.
        while self.heartbeats.len() >= 64 {
            self.heartbeats.pop_front();
        }
        self.heartbeats.push_back((nonce, self.now));
        let m = Msg::Heartbeat { server: self.id, version: self.config.version };
        self.outbox.push((Dest::Coordinator, nonce, m));
    }

    fn heartbeat_ack(&mut self, nonce: u64, lease: Duration) {
        let Some(i) = self.heartbeats.iter().position(|h| h.0 == nonce) else { return };
        let sent = self.heartbeats[i].1;
        self.heartbeats.drain(..=i);
        if self.stopping {
            return;
        }
        let had = self.leased();
        // A tenth kept back: this clock is read once per batch of requests, and clocks
        // drift.
        let until = sent + lease - lease / 10;
        if self.lease_until.is_none_or(|t| t < until) {
            self.lease_until = Some(until);
        }
        if !had && self.leased() && !self.held.is_empty() {
            self.replay_held();
        }
    }

    /// Deletes a region's objects here, in order with the writes before it, and forgets
    /// them in the cache.
    fn drop_region(&mut self, region: u64) {
        // The writes so far go to storage before the region is dropped; the ones after it
        // (a transfer's first objects) land after.
        self.seal_round();
        self.jobs.push(Job::Task(StorageTask::DropRegion(region)));
        self.dropping.push((region, self.round));
        let prefix = region_prefix(region);
        let mut freed = 0;
        self.cache.retain(|k, v| {
            if k.starts_with(&prefix) {
                freed += cached_size(k, &v.values);
                false
            } else {
                true
            }
        });
        self.cache_bytes -= freed;
        self.fresh.retain(|k, _| !k.starts_with(&prefix));
    }

    /// Ends the current round of writes now (numbered, queued in `jobs`).
    fn seal_round(&mut self) {
        if !self.writes.is_empty() {
            let r = self.round;
            self.round += 1;
            // The next round starts with room for about as many writes as this one had
            // (one allocation, instead of a chain of reallocations as it grows).
            let room = self.writes.len().next_power_of_two();
            self.jobs.push(Job::Round(r, std::mem::replace(&mut self.writes, Vec::with_capacity(room))));
        }
    }

    /// The path of a write from hop `i` (this server) on, under the current configuration:
    /// the hops before it unchanged; after it, the current chain of its region past this
    /// server, then the current chain of every later region of the path.
    fn reroute(&self, hops: &[Hop], i: usize) -> Result<Vec<Hop>, ReturnCode> {
        let mine = *hops.get(i).ok_or(ReturnCode::Reconfigure)?;
        let (_, _, r) = self.region(mine.region).ok_or(ReturnCode::Reconfigure)?;
        let pos = write_chain(r).position(|p| p.server == self.id).ok_or(ReturnCode::Reconfigure)?;
        // This server may carry the write on only if the servers now before it have it: each
        // of its region's chain before it was on the way here, and so was the key region's
        // head (a removed server that came back as a joiner, or a replaced point leader, has
        // writes nobody before it applied; sending them on would skip those servers).
        let start = hops[..i].iter().rposition(|h| h.region != mine.region).map_or(0, |j| j + 1);
        if !write_chain(r).take(pos).all(|p| hops[start..i].iter().any(|h| h.server == p.server)) {
            return Err(ReturnCode::Reconfigure);
        }
        let first = hops.first().ok_or(ReturnCode::Reconfigure)?;
        let head = self.region(first.region).and_then(|(_, _, r)| write_chain(r).next().map(|p| p.server));
        if !hops[..=i].iter().any(|h| h.region == first.region && Some(h.server) == head) {
            return Err(ReturnCode::Reconfigure);
        }
        let mut out = hops[..=i].to_vec();
        for p in write_chain(r).skip(pos + 1) {
            if !self.config.available(p.server) {
                return Err(ReturnCode::Offline);
            }
            out.push(Hop { region: mine.region, server: p.server, store: mine.store });
        }
        let mut j = i + 1;
        while j < hops.len() {
            let h = hops[j];
            while j < hops.len() && hops[j].region == h.region {
                j += 1;
            }
            if h.region == mine.region {
                continue;
            }
            let (_, _, r) = self.region(h.region).ok_or(ReturnCode::Reconfigure)?;
            if r.replicas.is_empty() || write_chain(r).any(|p| !self.config.available(p.server)) {
                return Err(ReturnCode::Offline);
            }
            out.extend(write_chain(r).map(|p| Hop { region: h.region, server: p.server, store: h.store }));
        }
        if out.len() > hyperdex_core::proto::MAX_HOPS {
            return Err(ReturnCode::Reconfigure);
        }
        Ok(out)
    }

    /// Whether the hops before `i` (this server) are what the current configuration makes
    /// them: the key region's head first, and this region's chain before this server. A
    /// write sent under an older configuration that did not come that way is refused: its
    /// point leader may not know yet that it was replaced, and the new head must not be
    /// skipped (a later read there would miss an acknowledged write).
    fn came_current_way(&self, hops: &[Hop], i: usize) -> bool {
        if hops.get(i).is_none_or(|h| h.server != self.id) {
            return false;
        }
        // Each region's stretch of the path up to this server, against the current chain of
        // that region: whole for the regions before, up to this server for its own.
        let mut start = 0;
        while start <= i {
            let region = hops[start].region;
            let end = hops[start..].iter().position(|h| h.region != region).map_or(hops.len(), |n| start + n);
            let Some((_, _, r)) = self.region(region) else { return false };
            let chain = write_chain(r).map(|p| p.server);
            let came = hops[start..end.min(i)].iter().map(|h| h.server);
            let same = if end > i { came.eq(chain.take_while(|s| *s != self.id)) } else { came.eq(chain) };
            if !same {
                return false;
            }
            start = end;
        }
        true
    }

    /// Sends the write of pending hop `k` again, along `hops`.
    /// The write keeps its first send time: however often it is sent again, it fails after
    /// [`PENDING_TIMEOUT`] without an acknowledgement.
    fn resend(&mut self, k: (u64, u64, u64), hops: Vec<Hop>) {
        let Some(p) = self.pending.get(&k) else { return };
        let (origin, hop, space, key, obj_version, values) =
            (p.up.origin, p.hop, p.space, p.key.clone(), p.obj_version, p.values.clone());
        // chain_hop finds the entry and carries it on (its first send time, every way the
        // write came here).
        let (key, hops) = (KeyRef::Owned(key), PathRef::Borrowed(&hops));
        self.chain_hop(origin, k.0, k.1, hop, space, key, obj_version, hops, values);
    }

    /// The newest version this server knows for a storage key, and the object if present:
    /// the cache first, then storage (at most one storage read; the result is cached).
    fn read(&mut self, skey: &[u8]) -> Result<(u64, Option<Vals>), ReturnCode> {
        match self.lookup(skey) {
            Some(known) => Ok(known),
            None => self.read_storage(skey),
        }
    }

    /// Reads `skey` from storage here and now, and caches what it finds.
    fn read_storage(&mut self, skey: &[u8]) -> Result<(u64, Option<Vals>), ReturnCode> {
        let found = self.loaded(skey, load(&self.store, skey));
        self.cache_read(|| Bytes::from(skey), &found);
        found
    }

    /// Caches an object read from storage (`skey`: its storage key).
    fn cache_read(&mut self, skey: impl FnOnce() -> Bytes, found: &Result<(u64, Option<Vals>), ReturnCode>) {
        if let Ok((version, Some(values))) = found {
            self.remember(skey(), *version, Some(values.clone()), 0);
        }
    }

    /// The newest write of a storage key this server holds in memory: its cache entry, else
    /// the write waiting for its commit in `fresh` (a key in both has its newer write in the
    /// cache: a cached key's writes update its entry).
    fn applied(&self, skey: &[u8]) -> Option<&Cached> {
        self.cache.get(skey).or_else(|| self.fresh.get(skey))
    }

    /// What this server knows of a storage key without reading storage: the cached entry,
    /// or nothing for a region being dropped. None: storage must be read.
    fn lookup(&self, skey: &[u8]) -> Option<(u64, Option<Vals>)> {
        if let Some(c) = self.applied(skey) {
            return Some((c.version, c.values.clone()));
        }
        if self.dropping.iter().any(|(r, _)| skey.starts_with(&region_prefix(*r))) {
            return Some((0, None));
        }
        None
    }

    /// What a storage read of `skey` found, or why it failed.
    fn loaded(&mut self, skey: &[u8], loaded: Loaded) -> Result<(u64, Option<Vals>), ReturnCode> {
        match loaded {
            Loaded::Object(version, values) => Ok((version, values)),
            // A record that does not decode fails this request only (SERVERERROR); a new
            // write of the object replaces it.
            Loaded::Corrupt => {
                eprintln!("hyperdex daemon: corrupt stored record ({} bytes of key)", skey.len());
                Err(ReturnCode::ServerError)
            }
            // The engine failing is fatal: better to stop than to acknowledge lost writes.
            Loaded::Failed(e) => {
                self.storage_error.get_or_insert(e);
                Err(ReturnCode::ServerError)
            }
        }
    }

    /// From now on, GETs that miss the object cache ask for their read in
    /// [`Ready::reads`] (the shell runs them on other threads, so the event loop keeps
    /// serving, and several cores read at once) instead of reading storage on the spot.
    /// Other reads (a conditional write's, a search's) stay where they are.
    ///
    /// A read finishes at some later time: its answer is sent then, unless this server's
    /// configuration changed or its lease ran out meanwhile (then the GET starts over). Its
    /// object is cached only if no write of the key was applied since it was asked for:
    /// such a write may have been committed and evicted again, and caching the older object
    /// read before it would bring it back.
    pub fn read_elsewhere(&mut self, on: bool) {
        self.read_elsewhere = on;
    }

    /// An empty scratch buffer (hand it back with [`Node::give_buf`]).
    fn take_buf(&mut self) -> Vec<u8> {
        let mut b = self.bufs.pop().unwrap_or_default();
        b.clear();
        b
    }

    fn give_buf(&mut self, b: Vec<u8>) {
        if self.bufs.len() < 4 {
            self.bufs.push(b);
        }
    }

    /// Runs `f` with the storage key of `key` in `region`, built in a scratch buffer.
    fn with_skey<R>(&mut self, region: u64, key: &[u8], f: impl FnOnce(&mut Self, &[u8]) -> R) -> R {
        let mut skey = self.take_buf();
        storage_key_into(&mut skey, region, key);
        let out = f(self, &skey);
        self.give_buf(skey);
        out
    }

    /// A storage key in its own buffer, to store and cache: a key of up to [`INLINE_BYTES`]
    /// is held inline; a longer one shares the buffer the in-flight table already holds for
    /// it if any (not copied), else gets a new one. (The cache is not
    /// asked: a probe of that large table costs more than the copy, and a new key, the
    /// common case when loading, is never there.)
    fn owned_key(&self, skey: &[u8]) -> Bytes {
        if skey.len() <= INLINE_BYTES {
            // Held inline: a copy costs what sharing would, without the lookup.
            return Bytes::from(skey);
        }
        match self.inflight.get_key_value(skey) {
            Some((k, _)) => k.clone(),
            None => Bytes::from(skey),
        }
    }

    /// A write (round > 0) while reads are out: reads of its key asked for before it must
    /// not be cached.
    fn mark_written(&mut self, skey: &[u8], round: u64) {
        if round > 0 && self.reads_out > 0 {
            self.write_mark += 1;
            let slot = self.written_slot(skey);
            self.written[slot] = self.write_mark;
        }
    }

    /// A write applied in a region whose GETs another server answers (this server is not
    /// the head of that region of the key subspace): it updates the object's cache entry
    /// if there is one (from a read, or from when this server was the head), and otherwise
    /// stays out of the cache, whose room goes to the objects GETs here read (with two or
    /// three copies of every object in a cluster, most of what a server stores is served
    /// elsewhere). Until its round is committed it waits in `fresh`, where reads here find
    /// it (storage does not have it yet).
    fn remember_unserved(&mut self, skey: Bytes, version: u64, values: Option<Vals>, round: u64) {
        self.mark_written(&skey, round);
        if let Some(c) = self.cache.get_mut(&skey) {
            self.cache_bytes = self.cache_bytes + values_size(skey.len(), &values) - values_size(skey.len(), &c.values);
            *c = Cached { version, values, round };
            // A larger object may have taken the cache over its size.
            self.evict();
            return;
        }
        self.wait_for_commit(skey, Cached { version, values, round });
    }

    /// Keeps a write in `fresh` until its round is committed (storage has it then).
    fn wait_for_commit(&mut self, skey: Bytes, write: Cached) {
        self.fresh_order.push_back((write.round, skey.clone()));
        self.fresh.insert(skey, write);
    }

    /// Drops from `fresh` the writes of committed rounds (storage has them now), unless a
    /// later write of the same key replaced them there.
    fn retire_fresh(&mut self) {
        while self.fresh_order.front().is_some_and(|(r, _)| *r <= self.committed_round) {
            let Some((round, skey)) = self.fresh_order.pop_front() else { break };
            // One lookup: taken out, and put back in the rare case a later write replaced it.
            if let Some((k, c)) = self.fresh.remove_entry(&*skey) {
                if c.round != round {
                    self.fresh.insert(k, c);
                }
            }
        }
    }

    fn remember(&mut self, skey: Bytes, version: u64, values: Option<Vals>, round: u64) {
        self.mark_written(&skey, round);
        let size = cached_size(&skey, &values);
        let klen = skey.len();
        match self.cache.insert(skey, Cached { version, values, round }) {
            Ok(old) => {
                self.cache_bytes += size;
                if let Some(old) = old {
                    self.cache_bytes -= values_size(klen, &old.values);
                }
            }
            // No room for another entry (a table of billions): a write waits in `fresh`, as
            // one this server does not serve does; what a storage read found is not kept.
            Err((skey, write)) => {
                if write.round > 0 {
                    self.wait_for_commit(skey, write);
                }
            }
        }
        self.evict();
    }

    /// Over its size, the cache evicts committed entries one at a time, sweeping its
    /// entries in order (a new entry, or one moved into the hand's place by an eviction,
    /// waits for the next sweep), so the allocator sees a steady one-for-one churn.
    /// Evicting a quarter of the cache at once, as before, scattered hundreds of
    /// thousands of free chunks over glibc's heap, and at millions of objects the event
    /// loop spent most of its time in malloc.
    fn evict(&mut self) {
        let committed = self.committed_round;
        let mut looked = 0;
        while self.cache_bytes > self.cache_limit && looked < self.cache.len() {
            looked += 1;
            if self.cache_hand >= self.cache.len() {
                self.cache_hand = 0;
            }
            let evictable = self.cache.get_index(self.cache_hand).is_some_and(|(_, v)| v.round <= committed);
            if evictable {
                if let Some((k, v)) = self.cache.swap_remove_index(self.cache_hand) {
                    self.cache_bytes -= cached_size(&k, &v.values);
                }
            }
            self.cache_hand += 1;
        }
    }

    /// Applies one hop's effect to this round's writes, unless a newer version is already here.
    ///
    /// At the point leader's own hop the in-flight table already knows the newest version
    /// applied (versions are issued there), which spares a storage read per write.
    /// The values are taken (not cloned): the write and the cache keep them.
    fn apply(&mut self, region: u64, key: &[u8], obj_version: u64, store: bool, values: Option<Vals>) {
        self.with_skey(region, key, |n, skey| n.apply_at(region, key, skey, obj_version, store, values));
    }

    /// [`Node::apply`], given the storage key `skey`.
    fn apply_at(&mut self, region: u64, key: &[u8], skey: &[u8], obj_version: u64, store: bool, values: Option<Vals>) {
        let Some(ix) = self.index.get(&region).copied() else {
            // The region left this server (its space was removed) while the write was in
            // flight: storing it now would land after the region was dropped, for good.
            return;
        };
        // Regions of later subspaces keep an index of their dimensions: the values this
        // write replaces are needed to move their entries.
        let indexed = ix.subspace > 0;
        // GETs of a key read its region of the key subspace at the head: elsewhere (and
        // not indexed) the object needs no room in the cache.
        let served = indexed || self.is_head(&self.config.spaces[ix.space].subspaces[ix.subspace].regions[ix.region]);
        // A region being joined: an object not trusted yet (an older copy) is replaced by
        // whatever the chain or the source sends, whatever its version.
        let force = match self.joins.get_mut(&region) {
            Some(j) if !j.trusted(key) => {
                j.trust(key);
                true
            }
            _ => false,
        };
        // At the point leader, its in-flight view of the key knows the newest version
        // applied here (unless a blind put left it unknown: then storage is read once).
        let mut learn = false;
        let known = match self.inflight.get_mut(skey) {
            Some(f) => match f.applied {
                Some(a) => {
                    f.applied = Some(a.max(obj_version));
                    Some(a < obj_version)
                }
                // A blind put did not read what is stored, but its version (the newest
                // issued here for the key) is above it: no need to read it now either.
                None if obj_version >= f.version => {
                    f.applied = Some(obj_version);
                    Some(true)
                }
                None => {
                    learn = true;
                    None
                }
            },
            None => None,
        };
        let mut old = None;
        let high = self.applied_high.get(&region).copied().unwrap_or(self.stored_high);
        let newer = match known {
            Some(n) => n,
            // Above every version of the region here: newer than what the key holds, without
            // reading it (what it held is needed only to move index entries). This spares a
            // storage read per write at every replica after the point leader.
            None if !indexed && obj_version > high => {
                if learn {
                    if let Some(f) = self.inflight.get_mut(skey) {
                        f.applied = Some(obj_version);
                    }
                }
                true
            }
            None => match self.read(skey) {
                Ok((v, vals)) => {
                    old = vals;
                    if learn {
                        if let Some(f) = self.inflight.get_mut(skey) {
                            f.applied = Some(v.max(obj_version));
                        }
                    }
                    force || v < obj_version
                }
                Err(_) => true,
            },
        };
        if !newer {
            return;
        }
        let bound = self.applied_high.entry(region).or_insert(high);
        *bound = (*bound).max(obj_version);
        if indexed {
            let new = if store { values.as_ref() } else { None };
            self.update_index(region, key, old.as_ref(), new);
        }
        let skey = self.owned_key(skey);
        let kept = match (store, values) {
            (true, Some(v)) => {
                // The values are laid out as the record (headed by their version where it
                // was known when they were made): the write and the cache share them.
                let v = v.into_version(obj_version);
                self.writes.push((skey.clone(), Some(Bytes::from(v.record().clone()))));
                Some(v)
            }
            _ => {
                // A tombstone at the delete's version, not a removal: an older write of the
                // object arriving late (a resent hop, a held request) finds it and is dropped.
                self.writes.push((skey.clone(), Some(encode_tombstone(obj_version, self.wall()).into())));
                None
            }
        };
        if served {
            self.remember(skey, obj_version, kept, self.round);
        } else {
            self.remember_unserved(skey, obj_version, kept, self.round);
        }
    }

    /// Moves the index entries of `key` in `region` from the `old` values to the `new` ones
    /// (None: absent), in this round's writes: an entry per string, int or float dimension
    /// of the region's subspace, keyed by the value's coordinate.
    fn update_index(&mut self, region: u64, key: &[u8], old: Option<&Vals>, new: Option<&Vals>) {
        let Some(ix) = self.index.get(&region).copied() else { return };
        let sp = &self.config.spaces[ix.space];
        for &a in &sp.subspaces[ix.subspace].attrs {
            let t = sp.attrs[a].dtype;
            if a == 0 || !matches!(t, DataType::String | DataType::Int64 | DataType::Float) {
                continue;
            }
            let coord = |vals: Option<&Vals>| vals.and_then(|v| v.get(a - 1)).map(|v| coordinate(t, v));
            let (before, after) = (coord(old), coord(new));
            if before == after {
                continue;
            }
            if let Some(c) = before {
                self.writes.push((index_key(region, a as u16, c, key).into(), None));
            }
            if let Some(c) = after {
                self.writes.push((index_key(region, a as u16, c, key).into(), Some(Bytes::default())));
            }
        }
    }

    /// Moves the transfers this server sends along: takes snapshots whose writes are all in
    /// storage, sends batches while the window allows, sends unacknowledged batches again
    /// after [`XFER_RETRY`], and tells the coordinator when a copy is complete.
    fn pump_transfers(&mut self) {
        let now = self.now;
        let version = self.config.version;
        for x in &mut self.xfers_out {
            if x.not_before.is_some_and(|t| now < t) || !self.config.available(x.target) {
                continue;
            }
            if x.cursor.is_none() && !x.scanned {
                if x.wait_round > self.committed_round {
                    continue;
                }
                let plan = ScanPlan::Range { after: x.acked_to.clone(), upto: None };
                x.cursor = Some(self.store.snapshot_region(x.region, &plan));
            }
            // Sent again when unacknowledged for too long (the queue stays in send order:
            // only its due front is looked at).
            while x.unacked.front().is_some_and(|u| now.duration_since(u.sent) >= XFER_RETRY) {
                let Some(mut u) = x.unacked.pop_front() else { break };
                u.sent = now;
                self.outbox.push((Dest::Server(x.target), 0, batch_msg(version, x, &u)));
                x.unacked.push_back(u);
            }
            while x.unacked.len() < XFER_WINDOW {
                let batch = match x.next_batch(|skey| self.store.get(skey)) {
                    Ok(Some(batch)) => batch,
                    Ok(None) => break,
                    Err(e) => {
                        self.storage_error.get_or_insert(e);
                        return;
                    }
                };
                let seq = x.next_seq;
                x.next_seq += 1;
                let u = Unacked { seq, sent: now, batch };
                self.outbox.push((Dest::Server(x.target), 0, batch_msg(version, x, &u)));
                x.unacked.push_back(u);
            }
            if x.scanned
                && x.unacked.is_empty()
                && x.want.is_empty()
                && x.reported.is_none_or(|t| now.duration_since(t) >= XFER_RETRY)
            {
                x.reported = Some(now);
                let m = Msg::TransferDone { server: self.id, region: x.region, target: x.target, vid: x.vid };
                self.outbox.push((Dest::Coordinator, 0, m));
            }
        }
    }

    /// The link to a transfer's target broke: take a new snapshot and go on after the last
    /// key the target acknowledged (what was sent since may be lost).
    fn restart_transfers_to(&mut self, server: u64) {
        let wait_round = if self.writes.is_empty() { self.round - 1 } else { self.round };
        let not_before = Some(self.now + XFER_RETRY);
        for x in self.xfers_out.iter_mut().filter(|x| x.target == server) {
            x.not_before = not_before;
            x.cursor = None;
            x.scanned = false;
            // Objects asked for and maybe lost with the link are sent again.
            for u in x.unacked.drain(..).rev() {
                if let Batch::Wanted(objects) = u.batch {
                    for o in objects.into_iter().rev() {
                        x.want.push_front(o.key);
                    }
                }
            }
            x.reported = None;
            x.wait_round = wait_round;
        }
    }

    /// A batch of a region this server is joining, from the region's tail: applied if newer
    /// (new writes reach this server through the chain meanwhile), acknowledged once stored.
    #[allow(clippy::too_many_arguments)]
    fn transfer_data(&mut self, conn: usize, from: u64, region: u64, vid: u64, seq: u64, objects: Vec<TransferObject>) {
        let Some((_, _, r)) = self.region(region) else { return };
        let tail = r.replicas.last().map(|p| p.server);
        let joining = r.joining.first().is_some_and(|j| j.server == self.id && j.vid == vid);
        if !(joining && tail == Some(from)) {
            // A transfer this configuration no longer has: ignore it.
            return;
        }
        if let Some(j) = self.joins.get_mut(&region) {
            j.received += objects.len() as u64;
        }
        for o in objects {
            let values = o.values.map(|v| Vals::with_version(o.version, &v));
            self.apply(region, &o.key, o.version, values.is_some(), values);
        }
        // Leaves once this round is committed.
        self.outbox.push((Dest::Conn(conn), 0, Msg::TransferAck { region, vid, seq }));
    }

    fn transfer_ack(&mut self, from: u64, region: u64, vid: u64, seq: u64) {
        if let Some(x) = self.xfers_out.iter_mut().find(|x| x.region == region && x.vid == vid && x.target == from) {
            // In order (the oldest batch): everything up to its last key is at the target.
            if let Some(Unacked { seq: s, batch: Batch::Data(objects), .. }) = x.unacked.front() {
                if *s == seq {
                    if let Some(last) = objects.last() {
                        x.acked_to = Some(last.key.clone());
                    }
                }
            }
            x.unacked.retain(|u| u.seq != seq || matches!(u.batch, Batch::Summary { .. }));
        }
        self.pump_transfers();
    }

    /// The target's answer to a summary: it has confirmed every key up to the summary's
    /// end, and needs `keys` (sent next); `all`: it holds nothing, plain batches from here.
    fn transfer_want(&mut self, from: u64, region: u64, vid: u64, seq: u64, all: bool, keys: Vec<Vec<u8>>) {
        let Some(x) = self.xfers_out.iter_mut().find(|x| x.region == region && x.vid == vid && x.target == from) else {
            return;
        };
        let Some(Unacked { seq: s, batch: Batch::Summary { upto, .. }, .. }) = x.unacked.front() else { return };
        if *s != seq {
            return;
        }
        if let Some(u) = upto {
            x.acked_to = Some(u.clone());
        }
        x.unacked.pop_front();
        x.want.extend(keys);
        x.full |= all;
        self.pump_transfers();
    }

    /// What a summary of (`after`, `upto`] means here, read-only: the keys to ask for,
    /// the objects to remove (with what they held, for the index), and whether this server
    /// holds nothing it cannot trust (asked on the first summary only).
    fn summary_diff(
        &self,
        region: u64,
        join: &JoinIn,
        after: Option<Vec<u8>>,
        upto: &Option<Vec<u8>>,
        entries: &[(Vec<u8>, u64)],
    ) -> io::Result<SummaryDiff> {
        // A drop of the region still queued (a cancelled earlier join): storage holds what
        // it will delete, so read it as empty (what came since is in the cache).
        let dropped = self.dropping.iter().any(|(r, _)| *r == region);
        let mut all = false;
        if after.is_none() {
            all = dropped;
            if !dropped {
                let every = ScanPlan::Range { after: None, upto: None };
                let mut stale = false;
                for item in self.store.snapshot_region(region, &every) {
                    let (k, _) = item?;
                    if k.as_ref().get(REGION_BYTES..).is_some_and(|key| !join.trusted(key)) {
                        stale = true;
                        break;
                    }
                }
                all = !stale;
            }
        }
        let trusted = |key: &[u8]| all || join.trusted(key);
        // What storage holds here in the summarised stretch (one sequential read), and the
        // objects of it the source does not have.
        let listed: std::collections::HashSet<&[u8]> = entries.iter().map(|e| e.0.as_slice()).collect();
        let mut mine: FastMap<Vec<u8>, u64> = FastMap::default();
        let mut gone = Vec::new();
        if !dropped {
            for item in self.store.snapshot_region(region, &ScanPlan::Range { after, upto: upto.clone() }) {
                let (k, v) = item?;
                let Some(key) = k.as_ref().get(REGION_BYTES..) else { continue };
                if !listed.contains(key) && !trusted(key) {
                    gone.push((key.to_vec(), decode_record(v.as_ref()).ok()));
                } else if let Some(version) = record_version(v.as_ref()) {
                    mine.insert(key.to_vec(), version);
                }
            }
        }
        let mut want = Vec::new();
        for (key, v) in entries {
            // What was applied here since (cached, or waiting for its commit) is newer
            // than storage.
            let have = match self.applied(&storage_key(region, key)) {
                Some(c) => c.version,
                None => mine.get(key).copied().unwrap_or(0),
            };
            if (trusted(key) && have < *v) || (!trusted(key) && have != *v) {
                want.push(key.clone());
            }
        }
        Ok(SummaryDiff { want, gone, all })
    }

    /// A summary from the source of a region this server is joining: objects here that
    /// are not trusted and that the source does not have go; the keys whose objects differ
    /// from the source's (or are missing here) are asked for.
    #[allow(clippy::too_many_arguments)]
    fn transfer_summary(
        &mut self,
        conn: usize,
        from: u64,
        region: u64,
        vid: u64,
        seq: u64,
        after: Option<Vec<u8>>,
        upto: Option<Vec<u8>>,
        entries: Vec<(Vec<u8>, u64)>,
    ) {
        let Some((_, _, r)) = self.region(region) else { return };
        let tail = r.replicas.last().map(|p| p.server);
        let joining = r.joining.first().is_some_and(|j| j.server == self.id && j.vid == vid);
        if !(joining && tail == Some(from)) || self.joins.get(&region).is_none_or(|j| j.vid != vid) {
            return;
        }
        // Worked on here, put back at the end (a storage error stops the daemon anyway).
        let Some(mut join) = self.joins.remove(&region) else { return };
        let SummaryDiff { want, gone, all } = match self.summary_diff(region, &join, after, &upto, &entries) {
            Ok(d) => d,
            Err(e) => {
                self.storage_error.get_or_insert(e);
                self.joins.insert(region, join);
                return;
            }
        };
        join.all_trusted |= all;
        join.compared += entries.len() as u64;
        join.removed += gone.len() as u64;
        let indexed = self.index.get(&region).is_some_and(|ix| ix.subspace > 0);
        for (key, rec) in gone {
            let skey = Bytes::from(storage_key(region, &key));
            if indexed {
                let old = rec.filter(|r| !r.deleted).map(|r| Vals::new(&r.values));
                self.update_index(region, &key, old.as_ref(), None);
            }
            // Removed, not a tombstone: the source has no version of it to keep writes below.
            self.writes.push((skey.clone(), None));
            self.remember(skey, 0, None, self.round);
            join.trust(&key);
        }
        match &upto {
            None => join.verified_all = true,
            Some(u) if join.verified_to.as_ref().is_none_or(|v| v < u) => join.verified_to = Some(u.clone()),
            Some(_) => {}
        }
        if !join.all_trusted {
            join.wanted.extend(want.iter().cloned());
        }
        self.joins.insert(region, join);
        // Leaves once the removals above are stored.
        self.outbox.push((Dest::Conn(conn), 0, Msg::TransferWant { region, vid, seq, all, keys: want }));
    }

    /// The link to `server` broke (or could not be made): writes waiting on it are sent
    /// again (to it if it is still in the chain after a new configuration, else along the
    /// repaired chain), its transfers start over, and the coordinator hears of it once per
    /// configuration.
    fn lost_peer(&mut self, server: u64) {
        for p in self.pending.values_mut().filter(|p| p.next == server) {
            p.stalled = true;
        }
        self.restart_transfers_to(server);
        let v = self.config.version;
        if self.config.available(server) && self.reported.get(&server) != Some(&v) {
            self.reported.insert(server, v);
            self.outbox.push((Dest::Coordinator, 0, Msg::Report { server: self.id, suspect: server, version: v }));
        }
    }

    /// Feeds one input, at time `now`. Its effects come out of [`Node::ready`].
    pub fn step(&mut self, now: Instant, input: Input) {
        self.now = now;
        match input {
            Input::Message { conn, from, nonce, msg } => self.handle(conn, from, nonce, msg),
            Input::Config(cfg) => {
                self.install_config(cfg);
                self.pump_transfers();
            }
            Input::Committed(round) => {
                if round > self.committed_round {
                    self.committed_round = round;
                    self.dropping.retain(|(_, r)| *r > round);
                    self.retire_fresh();
                    if !self.xfers_out.is_empty() {
                        self.pump_transfers();
                    }
                }
            }
            Input::Closed { conn, peer } => {
                self.forget_conn(conn);
                if let Some(server) = peer {
                    self.lost_peer(server);
                }
            }
            Input::Unreachable(server) => self.lost_peer(server),
            Input::Tick => {
                self.heartbeat();
                self.expire(now);
                self.sweep_tombstones();
                self.retry_stalled();
                self.pump_transfers();
            }
            Input::HeartbeatAck { nonce, lease } => self.heartbeat_ack(nonce, lease),
            Input::Stopping => {
                self.stopping = true;
                self.lease_until = None;
            }
            Input::Loaded(done) => {
                for (job, loaded) in done {
                    self.read_done(job, loaded);
                }
            }
        }
    }

    /// Ends the current round and returns what the shell must do (see [`Ready`]). A message
    /// travelling down a chain (CHAIN_OP) or a refusal travelling back (CHAIN_FAIL) depends
    /// on nothing stored here and leaves at once; answers and acknowledgements wait for the
    /// round of writes they follow.
    pub fn ready(&mut self) -> Ready {
        self.seal_round();
        let jobs = std::mem::take(&mut self.jobs);
        let last_round = jobs.iter().rev().find_map(|j| match j {
            Job::Round(r, _) => Some(*r),
            Job::Task(_) => None,
        });
        // What the other messages wait for: the round just queued, else the round the last
        // held message waits for (they leave in order), else nothing.
        let wait = last_round.or_else(|| self.held_out.back().map(|h| h.0));
        // The messages that leave whatever storage holds go first, as the list they were
        // made in; the others wait for `wait`, as one list per round.
        let mut send = std::mem::replace(&mut self.outbox.now, std::mem::take(&mut self.send_spare));
        let held = &mut self.outbox.held;
        match wait {
            None => send.append(held),
            Some(_) if held.is_empty() => {}
            Some(r) => match self.held_out.back_mut() {
                Some((last, list)) if *last == r => list.append(held),
                _ => {
                    let list = std::mem::replace(held, self.spare_lists.pop().unwrap_or_default());
                    self.held_out.push_back((r, list));
                }
            },
        }
        while self.held_out.front().is_some_and(|(r, _)| *r <= self.committed_round) {
            if let Some((_, mut list)) = self.held_out.pop_front() {
                send.append(&mut list);
                if self.spare_lists.len() < MAX_SPARE_LISTS {
                    self.spare_lists.push(list);
                }
            }
        }
        if send.is_empty() {
            // Nothing to send: the list stays here with its room, and the Ready carries an
            // empty one that owns nothing (a Ready dropped without `recycle` loses no room).
            self.recycle(std::mem::take(&mut send));
        }
        Ready {
            floor: self.floor_write.take(),
            jobs,
            reads: std::mem::take(&mut self.reads),
            send,
            close: std::mem::take(&mut self.close),
            log: std::mem::take(&mut self.log),
        }
    }

    /// Hands back a `Ready::send` list once its messages are sent (emptied, with its room),
    /// to carry the next one: a busy server then allocates none.
    pub fn recycle(&mut self, mut sent: Vec<Outgoing>) {
        sent.clear();
        if sent.capacity() > self.send_spare.capacity() {
            self.send_spare = sent;
        }
    }

    /// Whether a step left messages or writes that `ready` would hand out.
    pub fn has_output(&self) -> bool {
        !self.outbox.is_empty()
            || !self.writes.is_empty()
            || self.floor_write.is_some()
            || !self.jobs.is_empty()
            || !self.reads.is_empty()
            || !self.close.is_empty()
            || !self.log.is_empty()
    }

    /// Whether a server-to-server message on `conn` comes from an available server of the
    /// current configuration; if not, the connection is closed.
    fn check_peer(&mut self, conn: usize, from: Option<u64>) -> Option<u64> {
        match from {
            Some(s) if s != self.id && self.config.available(s) => Some(s),
            _ => {
                self.close.push(conn);
                None
            }
        }
    }

    /// Handles one message that arrived on connection `conn` (from daemon `from`, if known).
    #[allow(clippy::collapsible_match)]
    pub fn handle(&mut self, conn: usize, from: Option<u64>, nonce: u64, msg: Msg) {
        match msg {
            Msg::Get { version, region, key } => self.get_request(self.now, conn, from, nonce, version, region, &key),
            Msg::Atomic { version, region, key, flags, mut checks, mut funcs } => {
                let head = AtomicHead { version, region, key: &key, flags };
                self.atomic_request(self.now, conn, from, nonce, head, &mut checks, &mut funcs);
            }
            Msg::ChainOp { version, leader, op, hop, space, key, obj_version, hops, values } => {
                let values = values.as_ref().map(|v| v.encoded());
                let head = ChainOpHead { version, leader, op, hop, space, key: &key, obj_version, values };
                self.chain_op_request(self.now, conn, from, nonce, head, &mut hops.to_vec());
            }
            Msg::SearchStart { version, region, mode, checks, sort_attr, limit, maximize } => {
                if version > self.config.version || !self.leased() {
                    let m = Msg::SearchStart { version, region, mode, checks, sort_attr, limit, maximize };
                    return self.hold(conn, from, nonce, m);
                }
                self.search_start(conn, nonce, region, mode, checks, sort_attr, limit, maximize == 1);
            }
            Msg::SearchMore { region } => self.searches.more(self.now, conn, nonce, region, &mut self.outbox.held),
            Msg::SearchStop { region } => self.searches.stop(conn, nonce, region),
            Msg::ChainAck { leader, op, region, hop } => {
                if let Some(s) = self.check_peer(conn, from) {
                    self.chain_ack(leader, op, region, hop, s, nonce);
                }
            }
            Msg::ChainFail { leader, op, region, hop } => {
                if let Some(s) = self.check_peer(conn, from) {
                    // The next hop could not take the write (it left the chain, or its
                    // configuration is not ours): hops after it may have applied it, so it
                    // is not abandoned but sent again along the chain (of the next
                    // configuration, or of ours at the next tick).
                    let latest = |p: &&mut PendingHop| p.next == s && p.hop == hop && p.sent == nonce;
                    if let Some(p) = self.pending.get_mut(&(leader, op, region)).filter(latest) {
                        p.stalled = true;
                    }
                }
            }
            Msg::TransferData { version, region, vid, seq, objects } => {
                if version > self.config.version {
                    let m = Msg::TransferData { version, region, vid, seq, objects };
                    return self.hold(conn, from, nonce, m);
                }
                if let Some(s) = self.check_peer(conn, from) {
                    for o in &objects {
                        if o.version > u64::MAX - (1 << 40) {
                            self.close.push(conn);
                            return;
                        }
                        self.saw_version(o.version);
                    }
                    self.transfer_data(conn, s, region, vid, seq, objects);
                }
            }
            Msg::TransferAck { region, vid, seq } => {
                if let Some(s) = self.check_peer(conn, from) {
                    self.transfer_ack(s, region, vid, seq);
                }
            }
            Msg::TransferSummary { version, region, vid, seq, after, upto, entries } => {
                if version > self.config.version {
                    let m = Msg::TransferSummary { version, region, vid, seq, after, upto, entries };
                    return self.hold(conn, from, nonce, m);
                }
                if let Some(s) = self.check_peer(conn, from) {
                    for (_, v) in &entries {
                        if *v > u64::MAX - (1 << 40) {
                            self.close.push(conn);
                            return;
                        }
                    }
                    self.transfer_summary(conn, s, region, vid, seq, after, upto, entries);
                }
            }
            Msg::TransferWant { region, vid, seq, all, keys } => {
                if let Some(s) = self.check_peer(conn, from) {
                    self.transfer_want(s, region, vid, seq, all, keys);
                }
            }
            // Nothing else is meant for a daemon; the shell closes such peers.
            _ => {}
        }
    }

    /// Raises the version clock above a version seen here (durably, before anything of
    /// this step leaves, like `next_version`).
    fn saw_version(&mut self, v: u64) {
        if v > self.version_clock {
            self.version_clock = v;
            if self.version_clock >= self.version_floor {
                self.version_floor = self.version_clock + (1 << 32);
                self.floor_write = Some((VERSION_FLOOR_KEY.into(), Some(self.version_floor.to_le_bytes().into())));
            }
        }
    }

    fn hold(&mut self, conn: usize, from: Option<u64>, nonce: u64, msg: Msg) {
        if self.held.len() < MAX_HELD {
            self.held.push((conn, from, nonce, msg, self.now));
        } else {
            self.refuse(conn, nonce, msg);
        }
    }

    /// Answers a request this server will not serve: RECONFIGURE for clients, CHAIN_FAIL
    /// back up a chain, nothing for a state-transfer copy.
    fn refuse(&mut self, conn: usize, nonce: u64, msg: Msg) {
        let reply = match msg {
            Msg::Get { .. } => Msg::GetReply { rc: ReturnCode::Reconfigure, values: no_values() },
            Msg::SearchStart { region, .. } => search_fail(region, ReturnCode::Reconfigure),
            Msg::ChainOp { leader, op, hop, hops, .. } => match fail_back(&hops, leader, op, hop) {
                Some(m) => m,
                None => return,
            },
            Msg::TransferData { .. } | Msg::TransferSummary { .. } => return,
            _ => Msg::AtomicReply { rc: ReturnCode::Reconfigure },
        };
        self.outbox.push((Dest::Conn(conn), nonce, reply));
    }

    /// Writes whose link to the next hop broke are sent again (the shell reconnects); those
    /// whose next hop left the chain already went on when the configuration changed.
    fn retry_stalled(&mut self) {
        let mut keys: Vec<(u64, u64, u64)> = self.pending.iter().filter(|(_, p)| p.stalled).map(|(k, _)| *k).collect();
        keys.sort_unstable();
        for k in keys {
            let Some(p) = self.pending.get(&k) else { continue };
            match self.reroute(&p.hops, p.hop as usize) {
                Ok(h) => self.resend(k, h),
                Err(ReturnCode::Offline) => {}
                Err(_) => self.fail_hop(k),
            }
        }
    }

    /// Gives up on what has waited too long: requests held for a configuration that has not
    /// come, and chain hops whose acknowledgement never came (a peer that stopped answering
    /// without closing its connection). Their clients get RECONFIGURE.
    pub fn expire(&mut self, now: Instant) {
        self.searches.expire(now, &mut self.outbox.held);
        if self.held.iter().any(|h| now.duration_since(h.4) > HELD_TIMEOUT) {
            let (old, keep): (Vec<_>, Vec<_>) =
                std::mem::take(&mut self.held).into_iter().partition(|h| now.duration_since(h.4) > HELD_TIMEOUT);
            self.held = keep;
            for (conn, _, nonce, msg, _) in old {
                self.refuse(conn, nonce, msg);
            }
        }
        let mut late: Vec<(u64, u64, u64)> = self
            .pending
            .iter()
            .filter(|(_, p)| now.duration_since(p.since) > PENDING_TIMEOUT)
            .map(|(k, _)| *k)
            .collect();
        late.sort_unstable();
        for k in late {
            self.fail_hop(k);
        }
    }

    fn is_head(&self, region: &Region) -> bool {
        region.replicas.first().map(|p| p.server) == Some(self.id)
    }

    /// A GET from a client at time `now`, its key borrowed (the shell decodes GET frames in
    /// place with [`hyperdex_core::proto::decode_get`]; [`Node::handle`] comes here too).
    #[allow(clippy::too_many_arguments)]
    pub fn get_request(
        &mut self,
        now: Instant,
        conn: usize,
        from: Option<u64>,
        nonce: u64,
        version: u64,
        region: u64,
        key: &[u8],
    ) {
        self.now = now;
        if version > self.config.version || !self.leased() {
            return self.hold(conn, from, nonce, Msg::Get { version, region, key: key.to_vec() });
        }
        let n = match self.get_checks(region, key) {
            Ok(n) => n,
            Err(rc) => return self.outbox.push((Dest::Conn(conn), nonce, get_reply(0, Err(rc)))),
        };
        let found = self.with_skey(region, key, |node, skey| match node.lookup(skey) {
            Some(known) => Some(Ok(known)),
            None if node.read_elsewhere => {
                let (config, mark) = (node.config.version, node.write_mark);
                let get = WaitingGet { conn, from, nonce, version, region, n, config, mark };
                node.reads_out += 1;
                node.reads.push(ReadJob { skey: Bytes::from(skey), get });
                None
            }
            None => Some(node.read_storage(skey)),
        });
        if let Some(found) = found {
            self.outbox.push((Dest::Conn(conn), nonce, get_reply(n, found)));
        }
    }

    /// The slot of [`Node::written`] for a storage key.
    fn written_slot(&self, skey: &[u8]) -> usize {
        (self.cache.hash(skey) % WRITTEN_SLOTS as u64) as usize
    }

    /// A read asked for in [`Node::get_request`] is done: answers its GET, or starts the
    /// GET over if this server's configuration changed or its lease ran out meanwhile.
    fn read_done(&mut self, job: ReadJob, loaded: Loaded) {
        let ReadJob { skey, get: w } = job;
        self.reads_out = self.reads_out.saturating_sub(1);
        let key = &skey[REGION_BYTES.min(skey.len())..];
        if w.config != self.config.version || !self.leased() {
            // The engine failing stays fatal, whatever becomes of the GET.
            if let Loaded::Failed(e) = loaded {
                self.storage_error.get_or_insert(e);
            }
            let now = self.now;
            return self.get_request(now, w.conn, w.from, w.nonce, w.version, w.region, key);
        }
        let found = self.loaded(&skey, loaded);
        // A write of the key applied since the read was asked for may have been committed
        // and evicted from the cache again: the object read may be older than what storage
        // holds now. It still answers this GET (which came before that write was
        // acknowledged), but is not cached. (Nor is it when such a write is still in
        // flight: caching the read would replace that write's entry with an older object.)
        if self.written[self.written_slot(&skey)] <= w.mark {
            self.cache_read(|| skey, &found);
        }
        self.outbox.push((Dest::Conn(w.conn), w.nonce, get_reply(w.n, found)));
    }

    /// An ATOMIC from a client, its key borrowed and its checks and functions in lists the
    /// caller reuses (the shell decodes ATOMIC frames in place with
    /// [`hyperdex_core::proto::decode_atomic`]; [`Node::handle`] comes here too). The
    /// functions may be taken out of `funcs`.
    #[allow(clippy::too_many_arguments)]
    pub fn atomic_request(
        &mut self,
        now: Instant,
        conn: usize,
        from: Option<u64>,
        nonce: u64,
        head: AtomicHead<'_>,
        checks: &mut Vec<Check>,
        funcs: &mut Vec<Func>,
    ) {
        self.now = now;
        let AtomicHead { version, region, key, flags } = head;
        if version > self.config.version || !self.leased() {
            let (checks, funcs) = (std::mem::take(checks), std::mem::take(funcs));
            return self.hold(
                conn,
                from,
                nonce,
                Msg::Atomic { version, region, key: key.to_vec(), flags, checks, funcs },
            );
        }
        let started =
            self.with_skey(region, key, |n, skey| n.atomic(conn, nonce, region, key, skey, flags, checks, funcs));
        if let Err(rc) = started {
            self.outbox.push((Dest::Conn(conn), nonce, Msg::AtomicReply { rc }));
        }
    }

    /// A CHAIN_OP from a peer, its key borrowed and its hops in a list the caller reuses
    /// (the shell decodes CHAIN_OP frames in place with
    /// [`hyperdex_core::proto::decode_chain_op`]; [`Node::handle`] comes here too). The hops
    /// may be taken out of `hops`.
    #[allow(clippy::too_many_arguments)]
    pub fn chain_op_request(
        &mut self,
        now: Instant,
        conn: usize,
        from: Option<u64>,
        nonce: u64,
        head: ChainOpHead<'_>,
        hops: &mut Vec<Hop>,
    ) {
        self.now = now;
        let ChainOpHead { version, leader, op, hop, space, key, obj_version, values: encoded } = head;
        // The values, copied from the frame into the record that stores them here (one
        // allocation, which the cache, the next hop's message and the pending entry share),
        // once the message is not refused for cheaper reasons. A malformed encoding closes
        // the connection.
        let copy = |node: &mut Self| {
            let copied = encoded.map(|v| Vals::copy_encoded(obj_version, v)).transpose();
            if copied.is_err() {
                node.close.push(conn);
            }
            copied.ok()
        };
        if version > self.config.version {
            let Some(values) = copy(self) else { return };
            let (key, hops) = (ByteView::from(key), Arc::from(std::mem::take(hops)));
            let m = Msg::ChainOp { version, leader, op, hop, space, key, obj_version, hops, values };
            return self.hold(conn, from, nonce, m);
        }
        // Only servers of this configuration take part in chains: a removed server's
        // late messages (it may not know yet) must not reach storage.
        if self.check_peer(conn, from).is_none() || leader == 0 {
            return;
        }
        if hop == 0 || hop as usize >= hops.len() {
            // Hop 0 is the point leader's own: no peer sends it.
            self.close.push(conn);
            return;
        }
        // Every version this server has seen, applied or still in flight through it,
        // stays below the versions it issues if it becomes a point leader: a new head
        // must never write below what its successors hold.
        if obj_version > u64::MAX - (1 << 40) {
            // No real version gets near the top of the range: a corrupt or hostile
            // peer. Refuse it (versions above it could no longer be issued).
            let Some(values) = copy(self) else { return };
            let (key, hops) = (ByteView::from(key), Arc::from(std::mem::take(hops)));
            let m = Msg::ChainOp { version, leader, op, hop, space, key, obj_version, hops, values };
            return self.refuse(conn, nonce, m);
        }
        self.saw_version(obj_version);
        if version < self.config.version {
            // Sent under an older configuration: refused unless it came the way a
            // write comes now; then the rest of the path follows the chains as they
            // are now (a server removed, or one joining as tail).
            let rerouted = if self.came_current_way(hops, hop as usize) {
                self.reroute(hops, hop as usize)
            } else {
                Err(ReturnCode::Reconfigure)
            };
            match rerouted {
                Ok(h) => *hops = h,
                Err(_) => {
                    if let Some(m) = fail_back(hops, leader, op, hop) {
                        self.outbox.push((Dest::Conn(conn), nonce, m));
                    }
                    return;
                }
            }
        }
        let Some(values) = copy(self) else { return };
        let origin = Origin::Peer { conn, send: nonce };
        self.chain_hop(
            origin,
            leader,
            op,
            hop,
            space,
            KeyRef::Borrowed(key),
            obj_version,
            PathRef::Borrowed(hops),
            values,
        );
    }

    /// Whether this server answers a GET of `key` in `region` (its head, in the key's own
    /// subspace, with a key of the space's type), and if so how many values an object of
    /// the space has.
    fn get_checks(&self, region: u64, key: &[u8]) -> Result<usize, ReturnCode> {
        let Some((sp, ss, r)) = self.region(region) else { return Err(ReturnCode::Reconfigure) };
        if ss != 0 || !self.is_head(r) || sp.key_region(key).map(|k| k.id) != Some(region) {
            return Err(ReturnCode::Reconfigure);
        }
        if !key_ok(sp.key_type(), key) {
            return Err(ReturnCode::WrongType);
        }
        Ok(sp.attrs.len() - 1)
    }

    /// Starts a client's write (`skey`: the key's storage key): validates it against the
    /// space and the object's newest state, gives it a version and sends it down its chain.
    #[allow(clippy::too_many_arguments)]
    fn atomic(
        &mut self,
        conn: usize,
        nonce: u64,
        region: u64,
        key: &[u8],
        skey: &[u8],
        fl: u8,
        checks: &mut [Check],
        funcs: &mut [Func],
    ) -> Result<(), ReturnCode> {
        let cfg = Arc::clone(&self.config);
        let Some(ix) = self.index.get(&region).copied() else { return Err(ReturnCode::Reconfigure) };
        let space = &cfg.spaces[ix.space];
        let r = &space.subspaces[ix.subspace].regions[ix.region];
        if ix.subspace != 0 || !self.is_head(r) || space.key_region(key).map(|k| k.id) != Some(region) {
            return Err(ReturnCode::Reconfigure);
        }
        if !key_ok(space.key_type(), key) {
            return Err(ReturnCode::WrongType);
        }
        for c in checks.iter_mut() {
            let Some(a) = space.attrs.get(c.attr as usize) else { return Err(ReturnCode::UnknownAttr) };
            validate_check(a.dtype, c)?;
        }
        for f in funcs.iter_mut() {
            if f.attr == 0 {
                return Err(ReturnCode::DontUseKey);
            }
            let Some(a) = space.attrs.get(f.attr as usize) else { return Err(ReturnCode::UnknownAttr) };
            validate_func(a.dtype, f)?;
        }
        // A put that sets every attribute of a space without other subspaces computes the
        // same object whatever was stored: skip reading it (the version floor keeps the new
        // version above any stored one).
        let n = space.attrs.len() - 1;
        let blind = fl == 0
            && checks.is_empty()
            && space.subspaces.len() == 1
            && funcs.iter().all(|f| f.op == FuncOp::Set)
            && (1..=n).all(|a| funcs.iter().any(|f| f.attr as usize == a));
        let in_flight = self.inflight.get(skey).map(|f| (f.version, f.values.clone()));
        let was_in_flight = in_flight.is_some();
        let (cur_version, current) = match in_flight {
            Some(known) => known,
            None if blind => (0, None),
            None => self.read(skey)?,
        };
        if let Some(v) = &current {
            if v.len() != n {
                return Err(ReturnCode::ServerError);
            }
        }
        if let Err(rc) = refusal(space, key, fl, checks, current.as_ref()) {
            // Decided against writes still in flight: the answer must not leave before
            // they are acknowledged (a get would still read the value before them).
            if let Some(f) = self.inflight.get_mut(skey) {
                f.deferred.push((conn, nonce, rc));
                return Ok(());
            }
            return Err(rc);
        }
        // The version first: the new object is made as its record (the version, then the
        // values), one allocation that the write, the cache and the chain's messages share.
        let obj_version = self.next_version(cur_version);
        let new = if fl & flags::ERASE != 0 {
            None
        } else {
            let vals = if blind {
                // Every attribute is set whole (each value validated above): the record is
                // made from the request's values. The last set of an attribute wins, as in
                // apply_funcs.
                let in_order = funcs.len() == n && funcs.iter().enumerate().all(|(i, f)| f.attr as usize == i + 1);
                if in_order {
                    Vals::with_version_iter(obj_version, funcs.iter().map(|f| f.arg.as_slice()))
                } else {
                    let last =
                        |a: usize| funcs.iter().rev().find(|f| f.attr as usize == a).map_or(&[][..], |f| &f.arg[..]);
                    Vals::with_version_iter(obj_version, (1..=n).map(last))
                }
            } else {
                // The functions work on the values as lists, whose buffers are kept for the
                // next update (one copy of the object in, one into its record).
                let mut vals = std::mem::take(&mut self.update_vals);
                vals.resize_with(n, Vec::new);
                match &current {
                    Some(c) => vals.iter_mut().zip(c.iter()).for_each(|(to, from)| {
                        to.clear();
                        to.extend_from_slice(from);
                    }),
                    None => vals.iter_mut().for_each(Vec::clear),
                }
                let made = apply_funcs(&space.attrs, &mut vals, funcs).map(|()| Vals::with_version(obj_version, &vals));
                // A large value's buffer is not kept.
                vals.iter_mut().filter(|v| v.capacity() > UPDATE_ROOM).for_each(|v| *v = Vec::new());
                self.update_vals = vals;
                made?
            };
            if key.len() + vals.encoded().len() - 4 > MAX_OBJECT_BYTES {
                // It could no longer be replicated or read in one frame.
                return Err(ReturnCode::NoMem);
            }
            Some(vals)
        };
        let grids = self.grids.get(ix.space).map_or(&[][..], |g| g.as_slice());
        // The path is built in a list kept from one write to the next: a write whose chain
        // ends here copies it nowhere.
        let mut hops = std::mem::take(&mut self.hops_buf);
        hops.clear();
        chain_path_into(&mut hops, space, grids, r, key, current.as_ref(), new.as_ref());
        if hops.is_empty() || hops[0].server != self.id {
            self.hops_buf = hops;
            return Err(ReturnCode::Reconfigure);
        }
        if hops.iter().any(|h| !cfg.available(h.server)) {
            // A region on the way has no available replica: the write cannot complete.
            self.hops_buf = hops;
            return Err(ReturnCode::Offline);
        }
        // A chain of this server alone applies and answers the write in this call (below):
        // it is never in flight, and the cache holds it from then on. Longer chains keep the
        // key's newest state here until their acknowledgement comes back; so does a short
        // chain while earlier writes of the key are still in flight (the chain shrank
        // meanwhile): its answer must count in that entry, which it releases.
        // (Nothing since the first lookup adds or removes in-flight entries: the key has
        // one here only if it had one then.)
        let entry = if was_in_flight { self.inflight.get_mut(skey) } else { None };
        match entry {
            Some(entry) => {
                entry.version = obj_version;
                entry.values = new.clone();
                entry.count += 1;
            }
            None if hops.len() > 1 => {
                // What is stored is known unless this was a blind put (then apply reads it).
                // The key's buffer is the one its write and cache entry will share.
                let applied = if blind { None } else { Some(cur_version) };
                let entry = InFlight {
                    version: obj_version,
                    applied,
                    values: new.clone(),
                    count: 1,
                    deferred: Vec::new(),
                    failed: false,
                };
                self.inflight.insert(Bytes::from(skey), entry);
            }
            None => {}
        }
        if hops.len() > 1 {
            // The write enters the cache when its acknowledgement comes back: ask for the
            // line of the table where it will go now, so that the insert then is less likely
            // to wait for memory (`make bench-node`, chain of 2: 4-6% less per put).
            self.cache.prefetch(skey);
        }
        let op = self.next_op;
        self.next_op += 1;
        self.chain_hop(
            Origin::Client { conn, nonce },
            self.id,
            op,
            0,
            space.id,
            KeyRef::Borrowed(key),
            obj_version,
            PathRef::Borrowed(&hops),
            new,
        );
        self.hops_buf = hops;
        Ok(())
    }

    /// This server is `hops[hop]`: remember who to ack, then forward, or apply if last.
    #[allow(clippy::too_many_arguments)]
    fn chain_hop(
        &mut self,
        origin: Origin,
        leader: u64,
        op: u64,
        hop: u16,
        space: u64,
        key: KeyRef<'_>,
        obj_version: u64,
        hops: PathRef<'_>,
        values: Option<Vals>,
    ) {
        let path = hops.get();
        let Some(&h) = path.get(hop as usize) else { return };
        let prev_region = hop.checked_sub(1).and_then(|j| path.get(j as usize)).map_or(0, |p| p.region);
        let up = Upstream { origin, hop, prev_region };
        if h.server != self.id || !self.index.contains_key(&h.region) {
            // Not ours under our configuration: refuse (the leader answers RECONFIGURE).
            if let (Origin::Peer { conn, send }, Some(m)) = (origin, fail_back(path, leader, op, hop)) {
                self.outbox.push((Dest::Conn(conn), send, m));
            }
            return;
        }
        let k = (leader, op, h.region);
        // The same write already waiting here (it came another way, or is sent again): it
        // goes on as one entry that answers every way it came, and keeps its first send
        // time. Otherwise an upstream whose way was superseded would never hear of it, and
        // the hops before it would never apply a write the hops after it applied.
        let (since, mut also) = match self.pending.remove(&k) {
            Some(old) => {
                let mut also = old.also;
                also.push(old.up);
                (old.since, also)
            }
            None => (self.now, Vec::new()),
        };
        // One answer per upstream hop: the one to its latest send.
        also.retain(|u| !(u.hop == up.hop && u.prev_region == up.prev_region && u.origin.same_sender(&up.origin)));
        let last = hop as usize + 1 == path.len();
        if last {
            let done = Done { region: h.region, obj_version, store: h.store, leader, op };
            self.apply_and_answer(done, key.get(), values, up, also);
            return;
        }
        let (Some(&next), Some(next_hop)) = (path.get(hop as usize + 1), hop.checked_add(1)) else { return };
        let key_region = path[0].region;
        let hops = match hops {
            PathRef::Owned(a) => a,
            PathRef::Borrowed(p) => self.intern_path(p),
        };
        let key = key.into_owned();
        let sent = self.next_op;
        self.next_op += 1;
        self.pending.insert(
            k,
            PendingHop {
                since,
                up,
                also,
                hop,
                sent,
                region: h.region,
                key: key.clone(),
                obj_version,
                store: h.store,
                values: values.clone(),
                next: next.server,
                key_region,
                hops: Arc::clone(&hops),
                space,
                stalled: false,
            },
        );
        if next.server == self.id {
            let (key, hops) = (KeyRef::Owned(key), PathRef::Owned(hops));
            self.chain_hop(Origin::Local { send: sent }, leader, op, next_hop, space, key, obj_version, hops, values);
        } else {
            let m = Msg::ChainOp {
                version: self.config.version,
                leader,
                op,
                hop: next_hop,
                space,
                key,
                obj_version,
                hops,
                values,
            };
            self.outbox.push((Dest::Server(next.server), sent, m));
        }
    }

    /// `path` in a shared buffer: the one this server already made for the same path if
    /// any. The writes of a region go down the same few paths (in a space of one subspace,
    /// one per region), so a write forwarded costs no allocation for its path. The set is
    /// emptied when it reaches [`MAX_PATHS`] (paths through later subspaces depend on the
    /// object's values, so there may be many), and a path longer than
    /// [`MAX_INTERNED_HOPS`] (no configuration makes one; a peer may send one) gets a
    /// buffer of its own and is not kept: the set holds at most a few MiB.
    pub(super) fn intern_path(&mut self, path: &[Hop]) -> Arc<[Hop]> {
        if path.len() > MAX_INTERNED_HOPS {
            return Arc::from(path);
        }
        if let Some(a) = self.paths.get(path) {
            return Arc::clone(a);
        }
        if self.paths.len() >= MAX_PATHS {
            self.paths.clear();
        }
        let a: Arc<[Hop]> = Arc::from(path);
        self.paths.insert(Arc::clone(&a));
        a
    }

    /// The hop after hop `hop` of `region` (on server `from`) acknowledged: apply and pass
    /// the ack backwards. Only the server and hop the write was last sent to count: after a
    /// repair the write may have gone elsewhere first, along a path that is no longer whole.
    fn chain_ack(&mut self, leader: u64, op: u64, region: u64, hop: u16, from: u64, send: u64) {
        let std::collections::hash_map::Entry::Occupied(e) = self.pending.entry((leader, op, region)) else { return };
        let p = e.get();
        if p.next != from || p.hop != hop || p.sent != send {
            return;
        }
        let p = e.remove();
        let done = Done { region: p.region, obj_version: p.obj_version, store: p.store, leader, op };
        self.apply_and_answer(done, &p.key, p.values, p.up, p.also);
    }

    /// A hop whose writes after it are all done: applies the write here and answers every
    /// way it came, with the one storage key (the client's answer, at the point leader's
    /// own hop, ends one in-flight write of the key, filed under that key).
    fn apply_and_answer(&mut self, d: Done, key: &[u8], values: Option<Vals>, up: Upstream, also: Vec<Upstream>) {
        self.with_skey(d.region, key, |n, skey| {
            n.apply_at(d.region, key, skey, d.obj_version, d.store, values);
            for u in std::iter::once(up).chain(also) {
                n.ack_origin(u, d.leader, d.op, skey);
            }
        });
    }

    /// Answers one way a write came, now that this hop and every one after it have it.
    /// `skey`: the write's storage key at this hop. A client waits only at the point
    /// leader's own hop (hop 0), which is in the key's region, so there it is the key its
    /// in-flight entry is filed under.
    fn ack_origin(&mut self, up: Upstream, leader: u64, op: u64, skey: &[u8]) {
        let Some(hop) = up.hop.checked_sub(1) else {
            if let Origin::Client { conn, nonce } = up.origin {
                self.finish_inflight_at(skey, false);
                self.outbox.push((Dest::Conn(conn), nonce, Msg::AtomicReply { rc: ReturnCode::Success }));
            }
            return;
        };
        let region = up.prev_region;
        match up.origin {
            // Hop 0 is the leader's own (handled above).
            Origin::Client { .. } => {}
            Origin::Peer { conn, send } => {
                self.outbox.push((Dest::Conn(conn), send, Msg::ChainAck { leader, op, region, hop }));
            }
            Origin::Local { send } => self.chain_ack(leader, op, region, hop, self.id, send),
        }
    }

    /// One write of the key is done at its point leader (`failed`: it failed); the last
    /// one ends the key's in-flight view and releases the answers deferred behind it.
    fn finish_inflight(&mut self, region: u64, key: &[u8], failed: bool) {
        self.with_skey(region, key, |n, skey| n.finish_inflight_at(skey, failed));
    }

    /// [`Node::finish_inflight`], given the key's storage key.
    fn finish_inflight_at(&mut self, skey: &[u8], failed: bool) {
        // Taken out and put back if writes remain: the last write of a key in flight (the
        // common case) costs one lookup.
        let Some((k, mut f)) = self.inflight.remove_entry(skey) else { return };
        f.failed |= failed;
        f.count -= 1;
        if f.count > 0 {
            self.inflight.insert(k, f);
            return;
        }
        for (conn, nonce, rc) in f.deferred {
            let rc = if f.failed { ReturnCode::Reconfigure } else { rc };
            self.outbox.push((Dest::Conn(conn), nonce, Msg::AtomicReply { rc }));
        }
    }

    /// Gives up the pending write `k` here: every way it came hears of it.
    fn fail_hop(&mut self, k: (u64, u64, u64)) {
        let Some(p) = self.pending.remove(&k) else { return };
        let (leader, op, _) = k;
        for u in std::iter::once(p.up).chain(p.also) {
            let Some(hop) = u.hop.checked_sub(1) else {
                if let Origin::Client { conn, nonce } = u.origin {
                    // The write may or may not have reached some replicas (RECONFIGURE
                    // says its effect is unknown). Other writes of the key may still be in
                    // flight and acknowledged later: keep the in-flight view until all of
                    // them are done.
                    self.finish_inflight(p.key_region, &p.key, true);
                    self.outbox.push((Dest::Conn(conn), nonce, Msg::AtomicReply { rc: ReturnCode::Reconfigure }));
                }
                continue;
            };
            let region = u.prev_region;
            match u.origin {
                Origin::Client { .. } => {}
                Origin::Peer { conn, send } => {
                    self.outbox.push((Dest::Conn(conn), send, Msg::ChainFail { leader, op, region, hop }));
                }
                // The hop before is this server's own entry of the previous region: like a
                // peer's on CHAIN_FAIL, it sends the write again (next tick, along the chains
                // as they are then) rather than giving up, since hops after it may have it.
                Origin::Local { send } => {
                    let latest = |q: &&mut PendingHop| q.next == self.id && q.hop == hop && q.sent == send;
                    if let Some(q) = self.pending.get_mut(&(leader, op, region)).filter(latest) {
                        q.stalled = true;
                    }
                }
            }
        }
    }

    /// Client connection `conn` closed: forget where to answer it (the writes go on).
    pub fn forget_conn(&mut self, conn: usize) {
        self.held.retain(|(c, _, _, _, _)| *c != conn);
        self.searches.forget_conn(conn);
    }

    /// One slice of the background scans of counting and sorted searches. True while more
    /// remains (the shell then polls without waiting).
    pub fn search_work(&mut self) -> bool {
        self.searches.work(&mut self.outbox.held)
    }

    /// How to read `region` for these checks: one object for a string key's equality, the
    /// index for an equality on a string, int or float dimension of a later subspace (once
    /// the region's index is complete here), else every object. The checks are applied to
    /// whatever is read, so a plan only has to cover every match.
    fn search_plan(&self, region: u64, types: &[DataType], checks: &[Check]) -> ScanPlan {
        let Some(ix) = self.index.get(&region).copied() else { return ScanPlan::All };
        let dims = &self.config.spaces[ix.space].subspaces[ix.subspace].attrs;
        let eq = |a: usize| checks.iter().find(|c| c.predicate == Predicate::Equals && c.attr as usize == a);
        if ix.subspace == 0 {
            return match (types.first(), eq(0)) {
                (Some(DataType::String), Some(c)) => ScanPlan::Key(c.value.clone()),
                _ => ScanPlan::All,
            };
        }
        if !matches!(self.store.get_raw(&indexed_marker(region)), Ok(Some(_))) {
            return ScanPlan::All;
        }
        for &a in dims {
            let t = types.get(a).copied().unwrap_or(DataType::Garbage);
            if a == 0 || !matches!(t, DataType::String | DataType::Int64 | DataType::Float) {
                continue;
            }
            if let Some(c) = eq(a) {
                return ScanPlan::Index { attr: a as u16, coord: coordinate(t, &c.value) };
            }
        }
        ScanPlan::All
    }

    /// A client starts searching one region this server should head.
    #[allow(clippy::too_many_arguments)]
    fn search_start(
        &mut self,
        conn: usize,
        nonce: u64,
        region: u64,
        mode: u8,
        mut checks: Vec<Check>,
        sort_attr: u16,
        limit: u64,
        maximize: bool,
    ) {
        let Some((sp, _, r)) = self.region(region) else {
            return self.outbox.push((Dest::Conn(conn), nonce, search_fail(region, ReturnCode::Reconfigure)));
        };
        if !self.is_head(r) {
            return self.outbox.push((Dest::Conn(conn), nonce, search_fail(region, ReturnCode::Reconfigure)));
        }
        let types: Vec<DataType> = sp.attrs.iter().map(|a| a.dtype).collect();
        let mut bad = None;
        for c in &mut checks {
            match types.get(c.attr as usize) {
                None => bad = Some(ReturnCode::UnknownAttr),
                Some(t) => {
                    if let Err(rc) = validate_check(*t, c) {
                        bad = Some(rc);
                    }
                }
            }
        }
        if mode == search_mode::SORTED {
            match types.get(sort_attr as usize) {
                Some(DataType::String | DataType::Int64 | DataType::Float) => {}
                Some(_) => bad = Some(ReturnCode::WrongType),
                None => bad = Some(ReturnCode::UnknownAttr),
            }
        }
        if let Some(rc) = bad {
            return self.outbox.push((Dest::Conn(conn), nonce, search_fail(region, rc)));
        }
        let plan = self.search_plan(region, &types, &checks);
        let cursor = self.store.snapshot_region(region, &plan);
        self.searches.start(
            self.now,
            conn,
            nonce,
            region,
            Schema { types },
            mode,
            checks,
            (sort_attr as usize, limit, maximize),
            cursor,
            &mut self.outbox.held,
        );
    }
}

/// Why an op is refused against the object as it is (None: absent), if it is.
fn refusal(space: &Space, key: &[u8], fl: u8, checks: &[Check], current: Option<&Vals>) -> Result<(), ReturnCode> {
    if current.is_none() && fl & (flags::FAIL_IF_NOT_FOUND | flags::ERASE) != 0 {
        return Err(ReturnCode::NotFound);
    }
    if current.is_some() && fl & flags::FAIL_IF_FOUND != 0 {
        return Err(ReturnCode::CmpFail);
    }
    if !checks.is_empty() {
        let Some(vals) = current else { return Err(ReturnCode::NotFound) };
        for c in checks {
            let (t, v) = if c.attr == 0 {
                (space.attrs[0].dtype, key)
            } else {
                (space.attrs[c.attr as usize].dtype, &vals[c.attr as usize - 1])
            };
            if !check_passes(t, v, c) {
                return Err(ReturnCode::CmpFail);
            }
        }
    }
    Ok(())
}

/// The messages a node made since its last `Ready`, filed as they are made: those that carry
/// no promise about this server's storage leave with the next `Ready` (`now`: writes going
/// down a chain, since the hop after applies nothing before its own commit; refusals;
/// copies for a joining server, which acknowledges what it stored; reports). The others
/// (`held`: answers, acknowledgements) wait until the round they were made in is committed.
#[derive(Default)]
struct Outbox {
    held: Vec<Outgoing>,
    now: Vec<Outgoing>,
}

impl Outbox {
    fn push(&mut self, o: Outgoing) {
        let at_once = matches!(
            o.2,
            Msg::ChainOp { .. }
                | Msg::ChainFail { .. }
                | Msg::TransferData { .. }
                | Msg::TransferSummary { .. }
                | Msg::TransferDone { .. }
                | Msg::Report { .. }
                | Msg::Heartbeat { .. }
        );
        if at_once {
            self.now.push(o);
        } else {
            self.held.push(o);
        }
    }

    fn is_empty(&self) -> bool {
        self.held.is_empty() && self.now.is_empty()
    }
}

/// The reply that ends a region's search with `rc`.
fn search_fail(region: u64, rc: ReturnCode) -> Msg {
    Msg::SearchReply { region, rc, done: true, count: 0, n: 0, objects: Vec::new() }
}

fn key_ok(t: DataType, key: &[u8]) -> bool {
    match t {
        DataType::Int64 | DataType::Float => key.is_empty() || key.len() == 8,
        _ => true,
    }
}

/// The servers a write of region `r` passes through, in order: its chain, then the server
/// joining it (which takes every new write as the last hop while the tail copies it what
/// came before; when the copy is done it becomes the tail, and the path does not change).
fn write_chain(r: &Region) -> impl Iterator<Item = &hyperdex_core::config::Replica> {
    r.replicas.iter().chain(&r.joining)
}

/// The CHAIN_FAIL that refuses hop `hop` of `hops` to the hop before it (none for hop 0).
fn fail_back(hops: &[Hop], leader: u64, op: u64, hop: u16) -> Option<Msg> {
    let prev = hop.checked_sub(1)?;
    let region = hops.get(prev as usize)?.region;
    Some(Msg::ChainFail { leader, op, region, hop: prev })
}

/// The hops of a write (value-dependent chaining): the key region's replicas, then for each
/// later subspace the old region (dropping the object) and/or the new region (storing it).
/// `kr` is the key's region (the caller has already looked it up and checked it); `grids`
/// the space's region indexes by subspace (missing ones: scan). Appended to `hops`.
pub fn chain_path_into(
    hops: &mut Vec<Hop>,
    space: &Space,
    grids: &[Option<RegionIndex>],
    kr: &Region,
    key: &[u8],
    old: Option<&Vals>,
    new: Option<&Vals>,
) {
    for p in write_chain(kr) {
        hops.push(Hop { region: kr.id, server: p.server, store: new.is_some() });
    }
    for ss in 1..space.subspaces.len() {
        let grid = grids.get(ss).and_then(Option::as_ref);
        let at = |vals: &Vals| -> Option<&Region> {
            space.region_in(ss, grid, &|a| if a == 0 { key } else { &vals[a - 1] })
        };
        let o = old.and_then(at);
        let n = new.and_then(at);
        let mut push = |r: &Region, store: bool| {
            for p in write_chain(r) {
                hops.push(Hop { region: r.id, server: p.server, store });
            }
        };
        match (o, n) {
            (Some(a), Some(b)) if a.id == b.id => push(a, true),
            (Some(a), Some(b)) => {
                push(a, false);
                push(b, true);
            }
            (Some(a), None) => push(a, false),
            (None, Some(b)) => push(b, true),
            (None, None) => {}
        }
    }
}
