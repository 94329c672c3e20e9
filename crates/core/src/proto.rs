//! Every message of the wire protocol, with its encoder and decoder. Frame layout in
//! [`crate::wire`]; byte-by-byte bodies in docs/protocol.md.

use crate::codes::{CoordCode, ReturnCode};
use crate::ops::{decode_check, decode_func, decode_func_into, encode_check, encode_func, Check, Func};
use crate::wire::{begin_frame, end_frame, DResult, DecodeError, Reader, Writer};

pub mod msg {
    pub const CONFIG_WAIT: u8 = 1;
    pub const CONFIG: u8 = 2;
    pub const ADD_SPACE: u8 = 3;
    pub const COORD_REPLY: u8 = 4;
    pub const RM_SPACE: u8 = 5;
    pub const REGISTER: u8 = 6;
    pub const HEARTBEAT: u8 = 7;
    pub const REPORT: u8 = 8;
    pub const SHUTDOWN: u8 = 9;
    pub const TRANSFER_DONE: u8 = 10;
    pub const HEARTBEAT_ACK: u8 = 11;
    pub const REDIRECT: u8 = 12;
    pub const JOIN: u8 = 13;
    pub const JOINED: u8 = 14;
    pub const RAFT: u8 = 15;
    pub const GET: u8 = 16;
    pub const GET_REPLY: u8 = 17;
    pub const ATOMIC: u8 = 18;
    pub const ATOMIC_REPLY: u8 = 19;
    pub const CHAIN_OP: u8 = 32;
    pub const CHAIN_ACK: u8 = 33;
    pub const CHAIN_FAIL: u8 = 34;
    pub const HELLO: u8 = 35;
    pub const TRANSFER_DATA: u8 = 36;
    pub const TRANSFER_ACK: u8 = 37;
    pub const TRANSFER_SUMMARY: u8 = 38;
    pub const TRANSFER_WANT: u8 = 39;
    pub const SEARCH_START: u8 = 20;
    pub const SEARCH_MORE: u8 = 21;
    pub const SEARCH_STOP: u8 = 22;
    pub const SEARCH_REPLY: u8 = 23;
}

/// What a [`Msg::SearchStart`] asks of a region.
pub mod search_mode {
    /// Stream every matching object, a batch per [`super::Msg::SearchMore`].
    pub const SEARCH: u8 = 0;
    /// The region's best `limit` matches by `sort_attr`, streamed in sorted order.
    pub const SORTED: u8 = 1;
    /// Only the number of matches.
    pub const COUNT: u8 = 2;
}

/// Flag bits of [`Msg::Atomic`].
pub mod flags {
    /// NOTFOUND when the object does not exist.
    pub const FAIL_IF_NOT_FOUND: u8 = 1;
    /// CMPFAIL when the object exists.
    pub const FAIL_IF_FOUND: u8 = 2;
    /// Delete the object (after the checks pass).
    pub const ERASE: u8 = 4;
}

/// Most hops one chain may have: (2 regions per subspace) x (replicas per region) stays far
/// below this for any real space; a bound keeps a hostile frame from making a daemon walk
/// (and recurse through) millions of hops.
pub const MAX_HOPS: usize = 1024;

/// Most objects one TRANSFER_DATA frame may carry.
pub const MAX_TRANSFER_OBJECTS: usize = 4096;
/// Most keys one TRANSFER_SUMMARY or TRANSFER_WANT frame may carry.
pub const MAX_SUMMARY_ENTRIES: usize = 65536;

/// An object's non-key values in schema order, in one shared, immutable buffer laid out as
/// a stored record: an 8-byte header (the object's version, little-endian, where it is
/// known; zero otherwise), then the values' wire encoding: a `u32 LE` count, then each
/// value as a `u32 LE` length and its bytes. A daemon's object cache, its bookkeeping of
/// writes in flight, the record it hands the storage engine and the messages that carry
/// the object thus share one allocation (cloning is a reference count), a GET is answered
/// by copying the encoding as it is, and a record read from storage is used as it is.
///
/// The encoding is checked when a `Values` is made: every accessor relies on it.
#[derive(Clone)]
pub struct Values(byteview::ByteView);

/// Bytes of the header before the encoded values.
const VALUES_HEAD: usize = 8;

/// The values of a [`Values`], in order.
#[derive(Clone)]
pub struct ValuesIter<'a> {
    rest: &'a [u8],
    left: usize,
}

impl<'a> Iterator for ValuesIter<'a> {
    type Item = &'a [u8];
    fn next(&mut self) -> Option<&'a [u8]> {
        if self.left == 0 {
            return None;
        }
        self.left -= 1;
        // Checked when the Values was made: a length and that many bytes follow.
        let (len, rest) = self.rest.split_first_chunk::<4>()?;
        let (v, rest) = rest.split_at_checked(u32::from_le_bytes(*len) as usize)?;
        self.rest = rest;
        Some(v)
    }
    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.left, Some(self.left))
    }
}

impl ExactSizeIterator for ValuesIter<'_> {}

/// Checks that `buf` is exactly a count and that many values.
fn check_values(buf: &[u8]) -> DResult<()> {
    let mut r = Reader::new(buf);
    let n = r.count(4)?;
    for _ in 0..n {
        r.bytes()?;
    }
    r.finish()
}

impl Values {
    /// The values of `vals` in a new buffer (header zero).
    pub fn new<V: AsRef<[u8]>>(vals: &[V]) -> Values {
        Values::with_version(0, vals)
    }

    /// The values of `vals` in a new buffer headed by `version`: a stored record of an
    /// object at that version (one allocation).
    pub fn with_version<V: AsRef<[u8]>>(version: u64, vals: &[V]) -> Values {
        Values::with_version_iter(version, vals.iter().map(AsRef::as_ref))
    }

    /// [`Values::with_version`] from an iterator (walked twice: to size the buffer, then to
    /// fill it).
    pub fn with_version_iter<'a, I>(version: u64, vals: I) -> Values
    where
        I: Iterator<Item = &'a [u8]> + Clone,
    {
        let (n, bytes) = vals.clone().fold((0usize, 0usize), |(n, b), v| (n + 1, b + 4 + v.len()));
        let mut buf = byteview::ByteView::with_size(VALUES_HEAD + 4 + bytes);
        if let Some(mut m) = buf.get_mut() {
            // A buffer just made is not shared: this always runs.
            let out: &mut [u8] = &mut m;
            let mut at = 0;
            let mut put = |b: &[u8]| {
                out[at..at + b.len()].copy_from_slice(b);
                at += b.len();
            };
            put(&version.to_le_bytes());
            put(&(n as u32).to_le_bytes());
            for v in vals {
                put(&(v.len() as u32).to_le_bytes());
                put(v);
            }
        }
        Values(buf)
    }

    /// Encoded values (count, lengths and bytes) checked, then copied into a new buffer
    /// headed by `version` (one allocation).
    pub fn copy_encoded(version: u64, encoded: &[u8]) -> DResult<Values> {
        check_values(encoded)?;
        Ok(Values(byteview::ByteView::fused(&version.to_le_bytes(), encoded)))
    }

    /// A stored record of an object (its version, then its values), used in place once
    /// checked: nothing is copied.
    pub fn from_record(record: byteview::ByteView) -> DResult<Values> {
        check_values(record.get(VALUES_HEAD..).ok_or(DecodeError)?)?;
        Ok(Values(record))
    }

    /// These values headed by `version`: themselves if they are, else copied into a new
    /// buffer that is.
    pub fn into_version(self, version: u64) -> Values {
        if self.version() == version {
            self
        } else {
            Values(byteview::ByteView::fused(&version.to_le_bytes(), self.encoded()))
        }
    }

    /// The header: the object's version where it was given, else zero.
    pub fn version(&self) -> u64 {
        self.0.first_chunk::<8>().map_or(0, |c| u64::from_le_bytes(*c))
    }

    /// The whole buffer: the header, then the encoded values (a stored record, when the
    /// header is the object's version).
    pub fn record(&self) -> &byteview::ByteView {
        &self.0
    }

    /// The wire encoding: the count, then each value's length and bytes.
    pub fn encoded(&self) -> &[u8] {
        self.0.get(VALUES_HEAD..).unwrap_or_default()
    }

    /// How many values.
    pub fn len(&self) -> usize {
        self.encoded().first_chunk::<4>().map_or(0, |c| u32::from_le_bytes(*c) as usize)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn iter(&self) -> ValuesIter<'_> {
        ValuesIter { rest: self.encoded().get(4..).unwrap_or_default(), left: self.len() }
    }

    /// Value `i`, if there are that many.
    pub fn get(&self, i: usize) -> Option<&[u8]> {
        self.iter().nth(i)
    }

    /// The values, each copied into its own buffer.
    pub fn to_vecs(&self) -> Vec<Vec<u8>> {
        self.iter().map(<[u8]>::to_vec).collect()
    }
}

/// Values are equal when they hold the same values (whatever their headers).
impl PartialEq for Values {
    fn eq(&self, other: &Values) -> bool {
        self.encoded() == other.encoded()
    }
}

impl Eq for Values {}

impl std::fmt::Debug for Values {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

impl std::ops::Index<usize> for Values {
    type Output = [u8];
    fn index(&self, i: usize) -> &[u8] {
        match self.get(i) {
            Some(v) => v,
            None => panic!("value {i} of {}", self.len()),
        }
    }
}

impl From<Vec<Vec<u8>>> for Values {
    fn from(vals: Vec<Vec<u8>>) -> Values {
        Values::new(&vals)
    }
}

impl<V: AsRef<[u8]>> From<&[V]> for Values {
    fn from(vals: &[V]) -> Values {
        Values::new(vals)
    }
}

impl<'a> IntoIterator for &'a Values {
    type Item = &'a [u8];
    type IntoIter = ValuesIter<'a>;
    fn into_iter(self) -> ValuesIter<'a> {
        self.iter()
    }
}

/// The empty list of values (12 bytes, held inline: making one allocates nothing).
pub fn no_values() -> Values {
    Values::new::<&[u8]>(&[])
}

/// One object of a state transfer: its key, version, and values (None: deleted).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TransferObject {
    pub key: Vec<u8>,
    pub version: u64,
    pub values: Option<Vec<Vec<u8>>>,
}

/// What one hop of a value-dependent chain does with the object.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Hop {
    pub region: u64,
    pub server: u64,
    /// true: store the object in this region; false: drop it from this region.
    pub store: bool,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Msg {
    /// Answer (with [`Msg::Config`]) once the configuration's version is greater than `have`.
    ConfigWait {
        have: u64,
    },
    /// An encoded [`crate::config::Configuration`].
    Config {
        config: Vec<u8>,
    },
    /// `token`: chosen by the client (0: none); a request sent again with the same token
    /// (after its coordinator failed) is answered with the first one's outcome, not done twice.
    AddSpace {
        description: String,
        token: u64,
    },
    RmSpace {
        name: String,
        token: u64,
    },
    /// A coordinator that is not the group's leader answers any request with this (same
    /// nonce): ask `leader` (host:port) instead; empty when it knows of no leader yet.
    Redirect {
        leader: String,
    },
    /// A new coordinator listening on `addr` asks to join the group. `id`: the raft id it
    /// was given before (0: give it one). `cluster`: the cluster its data directory belongs
    /// to (0: none yet). Answered with
    /// [`Msg::Joined`] once the group's membership includes it, a [`Msg::Redirect`], or a
    /// [`Msg::CoordReply`] refusal.
    Join {
        id: u64,
        addr: String,
        cluster: u64,
    },
    /// The joining coordinator is member `id` of cluster `cluster`'s group.
    Joined {
        cluster: u64,
        id: u64,
    },
    /// One raft message between coordinators of cluster `cluster`; `from_addr` is where the
    /// sender listens, `body` the raft message (protobuf).
    Raft {
        cluster: u64,
        from_addr: String,
        body: Vec<u8>,
    },
    /// A daemon announces itself (first start or restart). `cluster`: the cluster its data
    /// directory belongs to (0: none yet, a new server). `fresh`: the first registration of
    /// this process (it lost whatever it held in memory, writes in flight included).
    Register {
        server: u64,
        addr: String,
        cluster: u64,
        fresh: bool,
    },
    /// A daemon is alive and has configuration `version` (renews its lease).
    Heartbeat {
        server: u64,
        version: u64,
    },
    /// The coordinator heard a heartbeat (same nonce): the daemon may serve reads for
    /// `lease_ms` from when it sent that heartbeat. The coordinator removes the daemon from
    /// its chains no earlier than that long after it received the heartbeat.
    HeartbeatAck {
        lease_ms: u64,
    },
    /// Daemon `server`, at configuration `version`, lost its link to daemon `suspect`.
    Report {
        server: u64,
        suspect: u64,
        version: u64,
    },
    /// Daemon `server` is stopping cleanly (answered with [`Msg::CoordReply`]).
    Shutdown {
        server: u64,
    },
    /// Daemon `server`, tail of `region`, has copied the region to `target` (virtual id
    /// `vid`) and forwards every later write: the target may join the chain.
    TransferDone {
        server: u64,
        region: u64,
        target: u64,
        vid: u64,
    },
    /// First message on a connection between daemons: who is calling.
    Hello {
        cluster: u64,
        server: u64,
    },
    /// A batch of a snapshot of `region` from its tail to the joining replica `vid`,
    /// numbered from 1 (`seq`), acknowledged with [`Msg::TransferAck`] once stored.
    TransferData {
        /// The sender's configuration version (a receiver that is behind waits for it).
        version: u64,
        region: u64,
        vid: u64,
        seq: u64,
        objects: Vec<TransferObject>,
    },
    TransferAck {
        region: u64,
        vid: u64,
        seq: u64,
    },
    /// State transfer to a joining server that may hold an older copy: every key (and its
    /// version) the source's snapshot has in the key range (`after`, `upto`] of the region
    /// (None: from the start, to the end). The target answers which objects it needs.
    TransferSummary {
        version: u64,
        region: u64,
        vid: u64,
        seq: u64,
        after: Option<Vec<u8>>,
        upto: Option<Vec<u8>>,
        entries: Vec<(Vec<u8>, u64)>,
    },
    /// The answer to summary `seq`: the keys whose objects the target needs (sent next in
    /// TRANSFER_DATA batches); `all`: it holds nothing of the region, so plain batches of
    /// everything suit it better than summaries.
    TransferWant {
        region: u64,
        vid: u64,
        seq: u64,
        all: bool,
        keys: Vec<Vec<u8>>,
    },
    CoordReply {
        code: CoordCode,
    },
    Get {
        version: u64,
        region: u64,
        key: Vec<u8>,
    },
    /// `values` holds one encoded value per non-key attribute, in schema order (SUCCESS only;
    /// shared with the daemon's cache, so answering copies nothing until it is encoded).
    GetReply {
        rc: ReturnCode,
        values: Values,
    },
    Atomic {
        version: u64,
        region: u64,
        key: Vec<u8>,
        flags: u8,
        checks: Vec<Check>,
        funcs: Vec<Func>,
    },
    AtomicReply {
        rc: ReturnCode,
    },
    /// One write travelling down its chain. `hops[hop]` is the receiver.
    ChainOp {
        version: u64,
        leader: u64,
        op: u64,
        hop: u16,
        space: u64,
        /// Shared with the sender's pending-hop entry, like `hops` and `values`; a key of
        /// up to 20 bytes is held inline (no allocation).
        key: byteview::ByteView,
        obj_version: u64,
        hops: std::sync::Arc<[Hop]>,
        /// None: the object is deleted. Some: its non-key values, in schema order (shared
        /// with the sender's own bookkeeping of the write, so forwarding copies nothing).
        values: Option<Values>,
    },
    /// Every hop after hop `hop` (of region `region`) has the write; sent back to hop `hop`.
    ChainAck {
        leader: u64,
        op: u64,
        region: u64,
        hop: u16,
    },
    /// Starts a search of one region (sent to the region's head). Replies: SearchReply
    /// frames with the same nonce and region.
    SearchStart {
        version: u64,
        region: u64,
        mode: u8,
        checks: Vec<Check>,
        /// SORTED only (0 otherwise): schema index of the sort attribute, how many objects,
        /// and largest first (1) or smallest first (0).
        sort_attr: u16,
        limit: u64,
        maximize: u8,
    },
    /// The client is ready for the next batch of a search of `region`.
    SearchMore {
        region: u64,
    },
    /// The client abandons its search of `region` (the daemon forgets it).
    SearchStop {
        region: u64,
    },
    /// A batch of a search of `region`: `n` objects, each encoded as [`push_object`] does
    /// (the key first, then every non-key attribute in schema order), back to back in
    /// `objects`. `done`: nothing more will come for this region. `count`: the number of
    /// matches (COUNT only). `rc` other than SUCCESS ends the region's search.
    SearchReply {
        region: u64,
        rc: ReturnCode,
        done: bool,
        count: u64,
        n: u32,
        objects: Vec<u8>,
    },
    /// The write could not pass the hop after `hop` (of region `region`): refused, or a
    /// server on the way was lost. Sent back to hop `hop`, which sends the write again.
    ChainFail {
        leader: u64,
        op: u64,
        region: u64,
        hop: u16,
    },
}

/// The fields of a GET body (version, region, key), the key borrowed from `body`: a daemon
/// serves gets without allocating. [`Msg::decode`] uses it for its `Msg::Get`, so the two
/// accept exactly the same bodies.
pub fn decode_get(body: &[u8]) -> DResult<(u64, u64, &[u8])> {
    let mut r = Reader::new(body);
    let out = (r.u64()?, r.u64()?, r.bytes()?);
    r.finish()?;
    Ok(out)
}

/// The fields of an ATOMIC body but its checks and functions, the key borrowed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AtomicHead<'a> {
    pub version: u64,
    pub region: u64,
    pub key: &'a [u8],
    pub flags: u8,
}

/// Decodes an ATOMIC body with its key borrowed from `body`, and its checks and functions
/// into `checks` (cleared first) and `funcs` (decoded over the functions it holds, whose
/// argument buffers are reused, then cut to the request's): a daemon reuses both lists
/// from request to request. [`Msg::decode`] uses it for its `Msg::Atomic`, so the two
/// accept exactly the same bodies. On error the lists hold whatever was decoded before it.
pub fn decode_atomic<'a>(body: &'a [u8], checks: &mut Vec<Check>, funcs: &mut Vec<Func>) -> DResult<AtomicHead<'a>> {
    checks.clear();
    let mut r = Reader::new(body);
    let head = AtomicHead { version: r.u64()?, region: r.u64()?, key: r.bytes()?, flags: r.u8()? };
    let n = r.count(14)?;
    checks.reserve(n);
    for _ in 0..n {
        checks.push(decode_check(&mut r)?);
    }
    // The functions left in the list are decoded over (their buffers reused), the list
    // then cut to this request's.
    let n = r.count(12)?;
    funcs.reserve(n.saturating_sub(funcs.len()));
    for i in 0..n {
        match funcs.get_mut(i) {
            Some(f) => decode_func_into(&mut r, f)?,
            None => funcs.push(decode_func(&mut r)?),
        }
    }
    funcs.truncate(n);
    r.finish()?;
    Ok(head)
}

/// The fields of a CHAIN_OP body but its hops, the key borrowed.
#[derive(Clone, Debug, PartialEq)]
pub struct ChainOpHead<'a> {
    pub version: u64,
    pub leader: u64,
    pub op: u64,
    pub hop: u16,
    pub space: u64,
    pub key: &'a [u8],
    pub obj_version: u64,
    /// The object's values as encoded in the frame (checked), borrowed; None: deleted.
    pub values: Option<&'a [u8]>,
}

/// Decodes a CHAIN_OP body with its key borrowed from `body` and its hops into `hops`
/// (cleared first), which a daemon reuses from message to message. [`Msg::decode`] uses it
/// for its `Msg::ChainOp`, so the two accept exactly the same bodies.
pub fn decode_chain_op<'a>(body: &'a [u8], hops: &mut Vec<Hop>) -> DResult<ChainOpHead<'a>> {
    hops.clear();
    let mut r = Reader::new(body);
    let version = r.u64()?;
    let leader = r.u64()?;
    let op = r.u64()?;
    let hop = r.u16()?;
    let space = r.u64()?;
    let key = r.bytes()?;
    let obj_version = r.u64()?;
    let n = r.count(17)?;
    if n > MAX_HOPS {
        return Err(DecodeError);
    }
    hops.reserve(n);
    for _ in 0..n {
        let region = r.u64()?;
        let server = r.u64()?;
        let store = match r.u8()? {
            0 => false,
            1 => true,
            _ => return Err(DecodeError),
        };
        hops.push(Hop { region, server, store });
    }
    if hop as usize >= hops.len() {
        return Err(DecodeError);
    }
    let values = match r.u8()? {
        0 => None,
        1 => Some(read_encoded_values(&mut r)?),
        _ => return Err(DecodeError),
    };
    r.finish()?;
    Ok(ChainOpHead { version, leader, op, hop, space, key, obj_version, values })
}

fn rc_from(v: u32) -> DResult<ReturnCode> {
    ReturnCode::from_raw(v).ok_or(DecodeError)
}

fn write_values(w: &mut Writer<'_>, values: &[Vec<u8>]) {
    w.count(values.len());
    for v in values {
        w.bytes(v);
    }
}

/// The encoded values at the reader's position (count, then lengths and bytes), checked
/// and borrowed.
fn read_encoded_values<'a>(r: &mut Reader<'a>) -> DResult<&'a [u8]> {
    let start = r.clone();
    let n = r.count(4)?;
    for _ in 0..n {
        r.bytes()?;
    }
    Ok(&start.rest()[..start.remaining() - r.remaining()])
}

/// [`read_encoded_values`], copied into a buffer of their own (one allocation).
fn read_shared_values(r: &mut Reader<'_>) -> DResult<Values> {
    Values::copy_encoded(0, read_encoded_values(r)?)
}

fn read_values(r: &mut Reader<'_>) -> DResult<Vec<Vec<u8>>> {
    let n = r.count(4)?;
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        out.push(r.bytes()?.to_vec());
    }
    Ok(out)
}

/// Appends one search result object: `u32 LE (1 + nvals)`, the key as `u32 LE length` and
/// bytes, then `values`: `nvals` values already encoded as `u32 LE length` and bytes (the
/// layout a stored record has after its header, so a daemon copies it unchanged).
pub fn push_object(out: &mut Vec<u8>, key: &[u8], nvals: u32, values: &[u8]) {
    out.extend_from_slice(&(nvals.saturating_add(1)).to_le_bytes());
    out.extend_from_slice(&(key.len() as u32).to_le_bytes());
    out.extend_from_slice(key);
    out.extend_from_slice(values);
}

/// Splits the next object off `r`: its values (the key first), as in [`push_object`].
pub fn next_object<'a>(r: &mut Reader<'a>) -> DResult<Vec<&'a [u8]>> {
    let n = r.count(4)?;
    if n == 0 {
        return Err(DecodeError);
    }
    (0..n).map(|_| r.bytes()).collect()
}

/// The fields of a SEARCH_REPLY before its objects.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SearchReplyHead {
    pub region: u64,
    pub rc: ReturnCode,
    pub done: bool,
    pub count: u64,
    pub n: u32,
}

/// Reads a SEARCH_REPLY's head and checks that exactly `n` well-formed objects fill the
/// rest of the body (left unread in `r`).
pub fn search_reply_head(r: &mut Reader<'_>) -> DResult<SearchReplyHead> {
    let region = r.u64()?;
    let rc = rc_from(r.u32()?)?;
    let done = match r.u8()? {
        0 => false,
        1 => true,
        _ => return Err(DecodeError),
    };
    let count = r.u64()?;
    let n = r.u32()?;
    check_objects(r.rest(), n)?;
    Ok(SearchReplyHead { region, rc, done, count, n })
}

/// Checks that `objects` holds exactly `n` well-formed objects.
pub fn check_objects(objects: &[u8], n: u32) -> DResult<()> {
    let mut r = Reader::new(objects);
    for _ in 0..n {
        let k = r.count(4)?;
        if k == 0 {
            return Err(DecodeError);
        }
        for _ in 0..k {
            r.bytes()?;
        }
    }
    r.finish()
}

impl Msg {
    pub fn msg_type(&self) -> u8 {
        match self {
            Msg::ConfigWait { .. } => msg::CONFIG_WAIT,
            Msg::Config { .. } => msg::CONFIG,
            Msg::AddSpace { .. } => msg::ADD_SPACE,
            Msg::RmSpace { .. } => msg::RM_SPACE,
            Msg::Register { .. } => msg::REGISTER,
            Msg::Heartbeat { .. } => msg::HEARTBEAT,
            Msg::HeartbeatAck { .. } => msg::HEARTBEAT_ACK,
            Msg::Redirect { .. } => msg::REDIRECT,
            Msg::Join { .. } => msg::JOIN,
            Msg::Joined { .. } => msg::JOINED,
            Msg::Raft { .. } => msg::RAFT,
            Msg::Report { .. } => msg::REPORT,
            Msg::Shutdown { .. } => msg::SHUTDOWN,
            Msg::TransferDone { .. } => msg::TRANSFER_DONE,
            Msg::Hello { .. } => msg::HELLO,
            Msg::TransferData { .. } => msg::TRANSFER_DATA,
            Msg::TransferAck { .. } => msg::TRANSFER_ACK,
            Msg::TransferSummary { .. } => msg::TRANSFER_SUMMARY,
            Msg::TransferWant { .. } => msg::TRANSFER_WANT,
            Msg::CoordReply { .. } => msg::COORD_REPLY,
            Msg::Get { .. } => msg::GET,
            Msg::GetReply { .. } => msg::GET_REPLY,
            Msg::Atomic { .. } => msg::ATOMIC,
            Msg::AtomicReply { .. } => msg::ATOMIC_REPLY,
            Msg::ChainOp { .. } => msg::CHAIN_OP,
            Msg::ChainAck { .. } => msg::CHAIN_ACK,
            Msg::ChainFail { .. } => msg::CHAIN_FAIL,
            Msg::SearchStart { .. } => msg::SEARCH_START,
            Msg::SearchMore { .. } => msg::SEARCH_MORE,
            Msg::SearchStop { .. } => msg::SEARCH_STOP,
            Msg::SearchReply { .. } => msg::SEARCH_REPLY,
        }
    }

    /// Appends this message as one complete frame.
    pub fn encode(&self, nonce: u64, out: &mut Vec<u8>) {
        let start = begin_frame(out, self.msg_type(), nonce);
        let mut w = Writer::new(out);
        match self {
            Msg::ConfigWait { have } => {
                w.u64(*have);
            }
            Msg::Config { config } => {
                w.bytes(config);
            }
            Msg::AddSpace { description, token } => {
                w.bytes(description.as_bytes()).u64(*token);
            }
            Msg::RmSpace { name, token } => {
                w.bytes(name.as_bytes()).u64(*token);
            }
            Msg::Redirect { leader } => {
                w.bytes(leader.as_bytes());
            }
            Msg::Join { id, addr, cluster } => {
                w.u64(*id).bytes(addr.as_bytes()).u64(*cluster);
            }
            Msg::Joined { cluster, id } => {
                w.u64(*cluster).u64(*id);
            }
            Msg::Raft { cluster, from_addr, body } => {
                w.u64(*cluster).bytes(from_addr.as_bytes()).bytes(body);
            }
            Msg::Register { server, addr, cluster, fresh } => {
                w.u64(*server).bytes(addr.as_bytes()).u64(*cluster).u8(*fresh as u8);
            }
            Msg::Heartbeat { server, version } => {
                w.u64(*server).u64(*version);
            }
            Msg::HeartbeatAck { lease_ms } => {
                w.u64(*lease_ms);
            }
            Msg::Report { server, suspect, version } => {
                w.u64(*server).u64(*suspect).u64(*version);
            }
            Msg::Shutdown { server } => {
                w.u64(*server);
            }
            Msg::TransferDone { server, region, target, vid } => {
                w.u64(*server).u64(*region).u64(*target).u64(*vid);
            }
            Msg::Hello { cluster, server } => {
                w.u64(*cluster).u64(*server);
            }
            Msg::TransferData { version, region, vid, seq, objects } => {
                w.u64(*version).u64(*region).u64(*vid).u64(*seq).count(objects.len());
                for o in objects {
                    w.bytes(&o.key).u64(o.version);
                    match &o.values {
                        None => {
                            w.u8(0);
                        }
                        Some(v) => {
                            w.u8(1);
                            write_values(&mut w, v);
                        }
                    }
                }
            }
            Msg::TransferAck { region, vid, seq } => {
                w.u64(*region).u64(*vid).u64(*seq);
            }
            Msg::TransferSummary { version, region, vid, seq, after, upto, entries } => {
                w.u64(*version).u64(*region).u64(*vid).u64(*seq);
                for bound in [after, upto] {
                    match bound {
                        None => {
                            w.u8(0);
                        }
                        Some(k) => {
                            w.u8(1).bytes(k);
                        }
                    }
                }
                w.count(entries.len());
                for (k, v) in entries {
                    w.bytes(k).u64(*v);
                }
            }
            Msg::TransferWant { region, vid, seq, all, keys } => {
                w.u64(*region).u64(*vid).u64(*seq).u8(*all as u8).count(keys.len());
                for k in keys {
                    w.bytes(k);
                }
            }
            Msg::CoordReply { code } => {
                w.u16(*code as u16);
            }
            Msg::Get { version, region, key } => {
                w.u64(*version).u64(*region).bytes(key);
            }
            Msg::GetReply { rc, values } => {
                w.u32(*rc as u32).raw(values.encoded());
            }
            Msg::Atomic { version, region, key, flags, checks, funcs } => {
                w.u64(*version).u64(*region).bytes(key).u8(*flags).count(checks.len());
                for c in checks {
                    encode_check(&mut w, c);
                }
                w.count(funcs.len());
                for f in funcs {
                    encode_func(&mut w, f);
                }
            }
            Msg::AtomicReply { rc } => {
                w.u32(*rc as u32);
            }
            Msg::ChainOp { version, leader, op, hop, space, key, obj_version, hops, values } => {
                w.u64(*version).u64(*leader).u64(*op).u16(*hop).u64(*space).bytes(key).u64(*obj_version);
                w.count(hops.len());
                for h in hops.iter() {
                    w.u64(h.region).u64(h.server).u8(h.store as u8);
                }
                match values {
                    None => {
                        w.u8(0);
                    }
                    Some(v) => {
                        w.u8(1).raw(v.encoded());
                    }
                }
            }
            Msg::ChainAck { leader, op, region, hop } | Msg::ChainFail { leader, op, region, hop } => {
                w.u64(*leader).u64(*op).u64(*region).u16(*hop);
            }
            Msg::SearchStart { version, region, mode, checks, sort_attr, limit, maximize } => {
                w.u64(*version).u64(*region).u8(*mode).count(checks.len());
                for c in checks {
                    encode_check(&mut w, c);
                }
                w.u16(*sort_attr).u64(*limit).u8(*maximize);
            }
            Msg::SearchMore { region } | Msg::SearchStop { region } => {
                w.u64(*region);
            }
            Msg::SearchReply { region, rc, done, count, n, objects } => {
                w.u64(*region).u32(*rc as u32).u8(*done as u8).u64(*count).u32(*n).raw(objects);
            }
        }
        end_frame(out, start);
    }

    /// Decodes the body of a frame of type `msg_type`. Every byte must be used.
    /// (GET, ATOMIC and CHAIN_OP bodies have borrowing decoders too, which this one uses:
    /// [`decode_get`], [`decode_atomic`], [`decode_chain_op`].)
    pub fn decode(msg_type: u8, body: &[u8]) -> DResult<Msg> {
        let mut r = Reader::new(body);
        let m = match msg_type {
            msg::CONFIG_WAIT => Msg::ConfigWait { have: r.u64()? },
            msg::CONFIG => Msg::Config { config: r.bytes()?.to_vec() },
            msg::ADD_SPACE => Msg::AddSpace { description: r.string()?.to_string(), token: r.u64()? },
            msg::RM_SPACE => Msg::RmSpace { name: r.string()?.to_string(), token: r.u64()? },
            msg::REDIRECT => Msg::Redirect { leader: r.string()?.to_string() },
            msg::JOIN => Msg::Join { id: r.u64()?, addr: r.string()?.to_string(), cluster: r.u64()? },
            msg::JOINED => Msg::Joined { cluster: r.u64()?, id: r.u64()? },
            msg::RAFT => Msg::Raft { cluster: r.u64()?, from_addr: r.string()?.to_string(), body: r.bytes()?.to_vec() },
            msg::REGISTER => Msg::Register {
                server: r.u64()?,
                addr: r.string()?.to_string(),
                cluster: r.u64()?,
                fresh: match r.u8()? {
                    0 => false,
                    1 => true,
                    _ => return Err(DecodeError),
                },
            },
            msg::HEARTBEAT => Msg::Heartbeat { server: r.u64()?, version: r.u64()? },
            msg::HEARTBEAT_ACK => Msg::HeartbeatAck { lease_ms: r.u64()? },
            msg::REPORT => Msg::Report { server: r.u64()?, suspect: r.u64()?, version: r.u64()? },
            msg::SHUTDOWN => Msg::Shutdown { server: r.u64()? },
            msg::TRANSFER_DONE => {
                Msg::TransferDone { server: r.u64()?, region: r.u64()?, target: r.u64()?, vid: r.u64()? }
            }
            msg::HELLO => Msg::Hello { cluster: r.u64()?, server: r.u64()? },
            msg::TRANSFER_DATA => {
                let version = r.u64()?;
                let region = r.u64()?;
                let vid = r.u64()?;
                let seq = r.u64()?;
                let n = r.count(13)?;
                if n > MAX_TRANSFER_OBJECTS {
                    return Err(DecodeError);
                }
                let mut objects = Vec::with_capacity(n);
                for _ in 0..n {
                    let key = r.bytes()?.to_vec();
                    let version = r.u64()?;
                    let values = match r.u8()? {
                        0 => None,
                        1 => Some(read_values(&mut r)?),
                        _ => return Err(DecodeError),
                    };
                    objects.push(TransferObject { key, version, values });
                }
                Msg::TransferData { version, region, vid, seq, objects }
            }
            msg::TRANSFER_ACK => Msg::TransferAck { region: r.u64()?, vid: r.u64()?, seq: r.u64()? },
            msg::TRANSFER_SUMMARY => {
                let (version, region, vid, seq) = (r.u64()?, r.u64()?, r.u64()?, r.u64()?);
                let mut bound = || -> DResult<Option<Vec<u8>>> {
                    match r.u8()? {
                        0 => Ok(None),
                        1 => Ok(Some(r.bytes()?.to_vec())),
                        _ => Err(DecodeError),
                    }
                };
                let after = bound()?;
                let upto = bound()?;
                let n = r.count(12)?;
                if n > MAX_SUMMARY_ENTRIES {
                    return Err(DecodeError);
                }
                let mut entries = Vec::with_capacity(n);
                for _ in 0..n {
                    entries.push((r.bytes()?.to_vec(), r.u64()?));
                }
                Msg::TransferSummary { version, region, vid, seq, after, upto, entries }
            }
            msg::TRANSFER_WANT => {
                let (region, vid, seq) = (r.u64()?, r.u64()?, r.u64()?);
                let all = match r.u8()? {
                    0 => false,
                    1 => true,
                    _ => return Err(DecodeError),
                };
                let n = r.count(4)?;
                if n > MAX_SUMMARY_ENTRIES {
                    return Err(DecodeError);
                }
                let mut keys = Vec::with_capacity(n);
                for _ in 0..n {
                    keys.push(r.bytes()?.to_vec());
                }
                Msg::TransferWant { region, vid, seq, all, keys }
            }
            msg::COORD_REPLY => Msg::CoordReply { code: CoordCode::from_raw(r.u16()?).ok_or(DecodeError)? },
            msg::GET => {
                let (version, region, key) = decode_get(body)?;
                return Ok(Msg::Get { version, region, key: key.to_vec() });
            }
            msg::GET_REPLY => Msg::GetReply { rc: rc_from(r.u32()?)?, values: read_shared_values(&mut r)? },
            msg::ATOMIC => {
                let (mut checks, mut funcs) = (Vec::new(), Vec::new());
                let a = decode_atomic(body, &mut checks, &mut funcs)?;
                return Ok(Msg::Atomic {
                    version: a.version,
                    region: a.region,
                    key: a.key.to_vec(),
                    flags: a.flags,
                    checks,
                    funcs,
                });
            }
            msg::ATOMIC_REPLY => Msg::AtomicReply { rc: rc_from(r.u32()?)? },
            msg::CHAIN_OP => {
                let mut hops = Vec::new();
                let c = decode_chain_op(body, &mut hops)?;
                return Ok(Msg::ChainOp {
                    version: c.version,
                    leader: c.leader,
                    op: c.op,
                    hop: c.hop,
                    space: c.space,
                    key: c.key.into(),
                    obj_version: c.obj_version,
                    hops: hops.into(),
                    values: c.values.map(|v| Values::copy_encoded(c.obj_version, v)).transpose()?,
                });
            }
            msg::CHAIN_ACK => Msg::ChainAck { leader: r.u64()?, op: r.u64()?, region: r.u64()?, hop: r.u16()? },
            msg::CHAIN_FAIL => Msg::ChainFail { leader: r.u64()?, op: r.u64()?, region: r.u64()?, hop: r.u16()? },
            msg::SEARCH_START => {
                let version = r.u64()?;
                let region = r.u64()?;
                let mode = r.u8()?;
                if mode > search_mode::COUNT {
                    return Err(DecodeError);
                }
                let n = r.count(14)?;
                let mut checks = Vec::with_capacity(n);
                for _ in 0..n {
                    checks.push(decode_check(&mut r)?);
                }
                let sort_attr = r.u16()?;
                let limit = r.u64()?;
                let maximize = r.u8()?;
                if maximize > 1 {
                    return Err(DecodeError);
                }
                Msg::SearchStart { version, region, mode, checks, sort_attr, limit, maximize }
            }
            msg::SEARCH_MORE => Msg::SearchMore { region: r.u64()? },
            msg::SEARCH_STOP => Msg::SearchStop { region: r.u64()? },
            msg::SEARCH_REPLY => {
                let head = search_reply_head(&mut r)?;
                let objects = r.take(r.remaining())?;
                Msg::SearchReply {
                    region: head.region,
                    rc: head.rc,
                    done: head.done,
                    count: head.count,
                    n: head.n,
                    objects: objects.to_vec(),
                }
            }
            _ => return Err(DecodeError),
        };
        r.finish()?;
        Ok(m)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codes::{DataType, Predicate};
    use crate::ops::FuncOp;
    use crate::wire::{parse_frame, MAX_FRAME};
    use proptest::prelude::*;

    fn samples() -> Vec<Msg> {
        vec![
            Msg::ConfigWait { have: 9 },
            Msg::Config { config: vec![1, 2, 3] },
            Msg::AddSpace { description: "space kv key k".into(), token: 77 },
            Msg::RmSpace { name: "kv".into(), token: 0 },
            Msg::Redirect { leader: "127.0.0.1:1983".into() },
            Msg::Redirect { leader: String::new() },
            Msg::Join { id: 12, addr: "127.0.0.1:1984".into(), cluster: 0 },
            Msg::Joined { cluster: 99, id: 4 },
            Msg::Raft { cluster: 99, from_addr: "127.0.0.1:1982".into(), body: vec![8, 1, 16, 2] },
            Msg::Register { server: 5, addr: "127.0.0.1:2012".into(), cluster: 9, fresh: true },
            Msg::Heartbeat { server: 5, version: 7 },
            Msg::HeartbeatAck { lease_ms: 500 },
            Msg::Report { server: 5, suspect: 6, version: 7 },
            Msg::Shutdown { server: 5 },
            Msg::TransferDone { server: 5, region: 6, target: 7, vid: 8 },
            Msg::Hello { cluster: 9, server: 5 },
            Msg::TransferSummary {
                version: 3,
                region: 6,
                vid: 8,
                seq: 2,
                after: None,
                upto: Some(b"m".to_vec()),
                entries: vec![(b"a".to_vec(), 4), (b"m".to_vec(), 9)],
            },
            Msg::TransferSummary {
                version: 3,
                region: 6,
                vid: 8,
                seq: 3,
                after: Some(b"m".to_vec()),
                upto: None,
                entries: vec![],
            },
            Msg::TransferWant { region: 6, vid: 8, seq: 2, all: false, keys: vec![b"a".to_vec()] },
            Msg::TransferWant { region: 6, vid: 8, seq: 3, all: true, keys: vec![] },
            Msg::TransferData {
                version: 3,
                region: 6,
                vid: 8,
                seq: 1,
                objects: vec![
                    TransferObject { key: b"k".to_vec(), version: 3, values: Some(vec![b"v".to_vec()]) },
                    TransferObject { key: b"gone".to_vec(), version: 4, values: None },
                ],
            },
            Msg::TransferAck { region: 6, vid: 8, seq: 1 },
            Msg::CoordReply { code: CoordCode::Duplicate },
            Msg::Get { version: 1, region: 2, key: b"k".to_vec() },
            Msg::GetReply { rc: ReturnCode::Success, values: Values::from(vec![vec![], b"x".to_vec()]) },
            Msg::Atomic {
                version: 1,
                region: 2,
                key: b"key".to_vec(),
                flags: flags::FAIL_IF_FOUND,
                checks: vec![Check {
                    attr: 1,
                    predicate: Predicate::Equals,
                    dtype: DataType::String,
                    value: b"a".to_vec(),
                }],
                funcs: vec![Func {
                    attr: 2,
                    op: FuncOp::MapAdd,
                    arg_type: DataType::Int64,
                    arg: 5i64.to_le_bytes().to_vec(),
                    map_key: Some((DataType::String, b"m".to_vec())),
                }],
            },
            // Decoded over the one before (the reused list): more functions, shorter and
            // longer arguments, no map key; then fewer again.
            Msg::Atomic {
                version: 1,
                region: 2,
                key: b"key2".to_vec(),
                flags: 0,
                checks: vec![],
                funcs: vec![
                    Func { attr: 1, op: FuncOp::Set, arg_type: DataType::String, arg: b"v".to_vec(), map_key: None },
                    Func { attr: 2, op: FuncOp::Set, arg_type: DataType::String, arg: vec![7; 300], map_key: None },
                ],
            },
            Msg::Atomic {
                version: 1,
                region: 2,
                key: b"key3".to_vec(),
                flags: 0,
                checks: vec![],
                funcs: vec![Func { attr: 3, op: FuncOp::Set, arg_type: DataType::Int64, arg: vec![], map_key: None }],
            },
            Msg::AtomicReply { rc: ReturnCode::CmpFail },
            Msg::ChainOp {
                version: 4,
                leader: 1,
                op: 2,
                hop: 1,
                space: 3,
                key: b"k".as_slice().into(),
                obj_version: 10,
                hops: vec![Hop { region: 1, server: 2, store: true }, Hop { region: 5, server: 6, store: false }]
                    .into(),
                values: Some(Values::from(vec![b"v".to_vec()])),
            },
            Msg::ChainAck { leader: 1, op: 2, region: 7, hop: 0 },
            Msg::ChainFail { leader: 1, op: 2, region: 7, hop: 3 },
            Msg::SearchStart {
                version: 3,
                region: 4,
                mode: search_mode::SORTED,
                checks: vec![Check {
                    attr: 0,
                    predicate: Predicate::Regex,
                    dtype: DataType::String,
                    value: b"^a".to_vec(),
                }],
                sort_attr: 2,
                limit: 10,
                maximize: 1,
            },
            Msg::SearchMore { region: 4 },
            Msg::SearchStop { region: 4 },
            Msg::SearchReply {
                region: 4,
                rc: ReturnCode::Success,
                done: true,
                count: 0,
                n: 2,
                objects: {
                    let mut o = Vec::new();
                    push_object(&mut o, b"k", 1, &[0, 0, 0, 0]);
                    push_object(&mut o, b"j", 0, &[]);
                    o
                },
            },
        ]
    }

    #[test]
    fn every_message_round_trips_and_rejects_truncation() {
        for m in samples() {
            let mut out = Vec::new();
            m.encode(42, &mut out);
            let f = parse_frame(&out, MAX_FRAME).unwrap().unwrap();
            assert_eq!(f.nonce, 42);
            assert_eq!(Msg::decode(f.msg_type, f.body).unwrap(), m);
            for n in 0..f.body.len() {
                assert!(Msg::decode(f.msg_type, &f.body[..n]).is_err(), "{m:?} accepted a {n}-byte prefix");
            }
            let mut long = f.body.to_vec();
            long.push(0);
            assert!(Msg::decode(f.msg_type, &long).is_err());
        }
    }

    #[test]
    fn borrowing_decoders_agree_with_decode_and_reuse_their_lists() {
        let mut checks = Vec::new();
        let mut funcs = Vec::new();
        let mut hops = Vec::new();
        for m in samples() {
            let mut out = Vec::new();
            m.encode(7, &mut out);
            let f = parse_frame(&out, MAX_FRAME).unwrap().unwrap();
            match &m {
                Msg::Get { version, region, key } => {
                    assert_eq!(decode_get(f.body).unwrap(), (*version, *region, key.as_slice()));
                    assert!(decode_get(&f.body[..f.body.len() - 1]).is_err());
                }
                Msg::Atomic { version, region, key, flags, checks: c, funcs: fs } => {
                    // Left over from a request before: replaced, not appended to.
                    checks.push(c.first().cloned().unwrap_or_else(|| Check {
                        attr: 9,
                        predicate: Predicate::Equals,
                        dtype: DataType::String,
                        value: b"old".to_vec(),
                    }));
                    let head = decode_atomic(f.body, &mut checks, &mut funcs).unwrap();
                    let want = AtomicHead { version: *version, region: *region, key, flags: *flags };
                    assert_eq!(head, want);
                    assert_eq!((&checks, &funcs), (c, fs));
                    assert!(decode_atomic(&f.body[..f.body.len() - 1], &mut checks, &mut funcs).is_err());
                    let mut longer = f.body.to_vec();
                    longer.push(0);
                    assert!(decode_atomic(&longer, &mut checks, &mut funcs).is_err());
                }
                Msg::ChainOp { version, leader, op, hop, space, key, obj_version, hops: h, values } => {
                    hops.push(Hop { region: 99, server: 99, store: false });
                    let head = decode_chain_op(f.body, &mut hops).unwrap();
                    let want = ChainOpHead {
                        version: *version,
                        leader: *leader,
                        op: *op,
                        hop: *hop,
                        space: *space,
                        key,
                        obj_version: *obj_version,
                        values: values.as_ref().map(|v| v.encoded()),
                    };
                    assert_eq!((head, hops.as_slice()), (want, &h[..]));
                    assert!(decode_chain_op(&f.body[..f.body.len() - 1], &mut hops).is_err());
                }
                _ => {}
            }
        }
    }

    #[test]
    fn a_chain_longer_than_max_hops_is_refused() {
        let hop = Hop { region: 1, server: 2, store: true };
        let m = |n| Msg::ChainOp {
            version: 1,
            leader: 1,
            op: 1,
            hop: 0,
            space: 1,
            key: vec![].into(),
            obj_version: 1,
            hops: vec![hop; n].into(),
            values: None,
        };
        for (n, ok) in [(MAX_HOPS, true), (MAX_HOPS + 1, false)] {
            let mut out = Vec::new();
            m(n).encode(0, &mut out);
            let f = parse_frame(&out, MAX_FRAME).unwrap().unwrap();
            assert_eq!(Msg::decode(f.msg_type, f.body).is_ok(), ok, "{n} hops");
        }
    }

    proptest! {
        /// A `Values` is its values' wire encoding after an 8-byte header, in one buffer:
        /// made from a list, read from a stored record in place, or copied from a frame, it
        /// gives back the same values, and no truncated or padded encoding is accepted.
        #[test]
        fn values_are_one_buffer_laid_out_as_a_record(
            vals in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..40), 0..6),
            version in any::<u64>(),
        ) {
            let v = Values::with_version(version, &vals);
            prop_assert_eq!(v.to_vecs(), vals.clone());
            prop_assert_eq!(v.len(), vals.len());
            prop_assert_eq!(v.iter().len(), vals.len());
            prop_assert_eq!(v.version(), version);
            prop_assert_eq!(v.get(vals.len()), None);
            for (i, x) in vals.iter().enumerate() {
                prop_assert_eq!(&v[i], &x[..]);
            }
            let mut wire = Vec::new();
            write_values(&mut Writer::new(&mut wire), &vals);
            prop_assert_eq!(v.encoded(), &wire[..]);
            prop_assert_eq!(&v.record()[..8], &version.to_le_bytes()[..]);
            prop_assert_eq!(&v.record()[8..], &wire[..]);
            // In place from a record; copied from an encoding; equal whatever the header.
            let r = Values::from_record(v.record().clone()).unwrap();
            prop_assert_eq!(r.record(), v.record());
            let c = Values::copy_encoded(version, &wire).unwrap();
            prop_assert_eq!(c.record(), v.record());
            prop_assert_eq!(Values::new(&vals), v.clone());
            let restamped = Values::new(&vals).into_version(version);
            prop_assert_eq!(restamped.record(), v.record());
            // Taken: the same buffer when the header is already the version, else restamped.
            // (A record of up to 20 bytes is held inline: each holder has its own copy.)
            let same = v.clone().into_version(version);
            prop_assert_eq!(same.record(), v.record());
            if v.record().len() > 20 {
                prop_assert_eq!(same.record().as_ptr(), v.record().as_ptr());
            }
            let other = v.clone().into_version(version ^ 1);
            prop_assert_eq!(other.version(), version ^ 1);
            prop_assert_eq!(other.encoded(), v.encoded());
            let it = Values::with_version_iter(version, vals.iter().map(|x| x.as_slice()));
            prop_assert_eq!(it.record(), v.record());
            for cut in 0..wire.len() {
                prop_assert!(Values::copy_encoded(0, &wire[..cut]).is_err());
            }
            let mut padded = wire.clone();
            padded.push(0);
            prop_assert!(Values::copy_encoded(0, &padded).is_err());
            prop_assert!(Values::from_record(byteview::ByteView::new(&v.record()[..7])).is_err());
        }
    }

    proptest! {
        #[test]
        fn garbage_never_panics(t in any::<u8>(), body in proptest::collection::vec(any::<u8>(), 0..200)) {
            let _ = Msg::decode(t, &body);
        }
    }
}
