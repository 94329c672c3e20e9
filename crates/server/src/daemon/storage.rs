//! Object storage behind a small trait, so the engine can be swapped. The implementation is
//! fjall (an LSM tree). Layout (docs/storage-format.md, format 2): one keyspace `objects`;
//! key = region id (u32 big-endian) ++ object key bytes; value = object version (u64 LE) ++
//! value count (u32 LE) ++ per non-key attribute: u32 LE length ++ encoded value. A deleted
//! object leaves a tombstone: its version, the count `u32::MAX`, and when it was deleted
//! (wall clock, u64 LE nanoseconds).

pub use byteview::ByteView;
use hyperdex_core::proto::Values;
use hyperdex_core::wire::{DResult, DecodeError, Reader, Writer};
use std::io;
use std::path::Path;

/// A stored object: its version and its non-key values in schema order; or, `deleted`, the
/// tombstone a delete leaves at its version (no values), which keeps a late older write of
/// the object from bringing it back.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Record {
    pub version: u64,
    pub values: Vec<Vec<u8>>,
    pub deleted: bool,
    /// A tombstone's deletion time (wall clock, nanoseconds; 0 for an object).
    pub deleted_at: u64,
}

/// The bytes of a storage write: fjall's own shared, immutable buffer, so a write reaches
/// the engine's journal and memtable without another allocation or copy, and one key is
/// shared by the object cache and the write (cloning it is a reference count).
pub type Bytes = fjall::Slice;

/// One storage write: storage key, and the record (None: delete).
pub type Write = (Bytes, Option<Bytes>);

/// The value count that marks a tombstone.
const TOMBSTONE: u32 = u32::MAX;

/// Bytes of the region id that starts every storage key (u32 big-endian). Four, not eight:
/// an object key of up to 16 bytes then makes a storage key of at most 20, which fjall's
/// key type (and the object cache's) holds inline, without an allocation of its own, and
/// which the memtable's skiplist compares without following a pointer (measured: a tenth
/// less CPU on the storage thread per write; docs/benchmarks.md).
pub const REGION_BYTES: usize = 4;

/// The largest region id a storage key can hold: ids at or above 2^31 would meet the index
/// entries' ids (the coordinator never issues them, and a daemon refuses a configuration
/// that has one).
pub const MAX_REGION: u64 = (1 << 31) - 1;

/// The storage layout this code reads and writes, kept under [`FORMAT_KEY`]. Format 1 (the
/// builds before it) began keys with 8-byte region ids; its directories are refused, not
/// misread.
pub const STORAGE_FORMAT: u32 = 2;

/// Metadata lives under region id 0, which no region ever has. This key holds a u64 LE
/// bound above every object version this daemon has issued (see node.rs).
pub const VERSION_FLOOR_KEY: &[u8] = b"\0\0\0\0version-floor";

/// The metadata key holding [`STORAGE_FORMAT`] (u32 LE), written when the store is created.
pub const FORMAT_KEY: &[u8] = b"\0\0\0\0storage-format";

/// Index entries of a region live under its id with the top bit set (region ids stay below
/// it, so these never meet object keys or metadata).
const INDEX_BIT: u64 = 1 << 31;

/// The bytes that start every storage key of `region` (which is at most [`MAX_REGION`],
/// or an index id: a region with [`INDEX_BIT`] set).
pub fn region_prefix(region: u64) -> [u8; REGION_BYTES] {
    // Every region id reaching storage comes from an installed configuration, whose ids
    // are at most MAX_REGION (`Node::install_config` refuses others).
    debug_assert!(region <= u64::from(u32::MAX), "region id {region} beyond storage keys");
    (region as u32).to_be_bytes()
}

/// The region id a storage key starts with (the inverse of [`region_prefix`]); None for a
/// key too short to hold one.
pub fn key_region(skey: &[u8]) -> Option<u32> {
    skey.first_chunk::<REGION_BYTES>().map(|r| u32::from_be_bytes(*r))
}

/// The bytes that start every index entry of `region`.
pub fn index_region_prefix(region: u64) -> [u8; REGION_BYTES] {
    region_prefix(region | INDEX_BIT)
}

/// The key of an index entry: `(region | 2^31)` (u32 BE), the attribute's schema index (u16 BE),
/// the value's coordinate (u64 BE; `hashing::coordinate`), then the object's key. The entry's
/// value is empty. An equality search reads the entries of one (attribute, coordinate) and
/// then each object they name.
pub fn index_key(region: u64, attr: u16, coord: u64, key: &[u8]) -> Vec<u8> {
    let mut k = index_prefix(region, attr, coord);
    k.extend_from_slice(key);
    k
}

/// The prefix of every entry of `region` for `attr` = a value of coordinate `coord`.
pub fn index_prefix(region: u64, attr: u16, coord: u64) -> Vec<u8> {
    let mut k = Vec::with_capacity(INDEX_KEY_HEAD + 16);
    k.extend_from_slice(&index_region_prefix(region));
    k.extend_from_slice(&attr.to_be_bytes());
    k.extend_from_slice(&coord.to_be_bytes());
    k
}

/// Bytes of an index key before the object's key.
pub const INDEX_KEY_HEAD: usize = REGION_BYTES + 2 + 8;

/// The metadata key that says a region's index is complete on this daemon (written when the
/// region was first installed here, after indexing what it already held).
pub fn indexed_marker(region: u64) -> Vec<u8> {
    let mut k = region_prefix(0).to_vec();
    k.extend_from_slice(b"indexed");
    k.extend_from_slice(&region_prefix(region));
    k
}

/// How a search reads a region's snapshot.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ScanPlan {
    /// Every object of the region, in key order.
    All,
    /// The one object with this key, if present.
    Key(Vec<u8>),
    /// The objects whose index entries for `attr` have coordinate `coord` (a superset of
    /// those whose value equals the searched one: the caller checks every object).
    Index { attr: u16, coord: u64 },
    /// The objects with keys in (`after`, `upto`], in key order (None: no bound).
    Range { after: Option<Vec<u8>>, upto: Option<Vec<u8>> },
}

/// The storage-key bounds of the object keys in (`after`, `upto`] of `region`.
pub fn range_bounds(
    region: u64,
    after: &Option<Vec<u8>>,
    upto: &Option<Vec<u8>>,
) -> (std::ops::Bound<Vec<u8>>, std::ops::Bound<Vec<u8>>) {
    use std::ops::Bound;
    let start = match after {
        Some(k) => Bound::Excluded(storage_key(region, k)),
        None => Bound::Included(region_prefix(region).to_vec()),
    };
    let end = match upto {
        Some(k) => Bound::Included(storage_key(region, k)),
        // Object regions are numbered below 2^31 (index entries live above it).
        None => Bound::Excluded(region_prefix(region + 1).to_vec()),
    };
    (start, end)
}

pub fn storage_key(region: u64, key: &[u8]) -> Vec<u8> {
    let mut k = Vec::with_capacity(REGION_BYTES + key.len());
    storage_key_into(&mut k, region, key);
    k
}

/// Appends the storage key of `key` in `region` to `out`.
pub fn storage_key_into(out: &mut Vec<u8>, region: u64, key: &[u8]) {
    out.extend_from_slice(&region_prefix(region));
    out.extend_from_slice(key);
}

pub fn encode_record(version: u64, values: &[Vec<u8>]) -> Vec<u8> {
    let mut out = Vec::with_capacity(12 + values.iter().map(|v| v.len() + 4).sum::<usize>());
    encode_record_into(&mut out, version, values);
    out
}

/// Appends the record of an object to `out`.
pub fn encode_record_into(out: &mut Vec<u8>, version: u64, values: &[Vec<u8>]) {
    let mut w = Writer::new(out);
    w.u64(version).count(values.len());
    for v in values {
        w.bytes(v);
    }
}

/// The tombstone of an object deleted at `version`, at wall-clock time `deleted_at` (ns).
pub fn encode_tombstone(version: u64, deleted_at: u64) -> Vec<u8> {
    let mut out = Vec::with_capacity(20);
    out.extend_from_slice(&version.to_le_bytes());
    out.extend_from_slice(&TOMBSTONE.to_le_bytes());
    out.extend_from_slice(&deleted_at.to_le_bytes());
    out
}

/// A stored record (or tombstone) used in place: its version, and its values (None: a
/// tombstone), which share the record's buffer. A corrupt record is an error.
pub fn record_values(record: ByteView) -> DResult<(u64, Option<Values>)> {
    let version = record_version(&record).ok_or(DecodeError)?;
    if record.get(8..12) == Some(&TOMBSTONE.to_le_bytes()[..]) {
        return if record.len() == 20 { Ok((version, None)) } else { Err(DecodeError) };
    }
    Ok((version, Some(Values::from_record(record)?)))
}

/// The version of a stored record (or tombstone), without decoding its values.
pub fn record_version(buf: &[u8]) -> Option<u64> {
    Some(u64::from_le_bytes(buf.get(..8)?.try_into().ok()?))
}

/// Decodes a stored record (or tombstone); a corrupt record is an error, never a panic.
pub fn decode_record(buf: &[u8]) -> DResult<Record> {
    let mut r = Reader::new(buf);
    let version = r.u64()?;
    if buf.get(8..12) == Some(&TOMBSTONE.to_le_bytes()[..]) {
        r.u32()?;
        let deleted_at = r.u64()?;
        r.finish()?;
        return Ok(Record { version, values: Vec::new(), deleted: true, deleted_at });
    }
    let n = r.count(4)?;
    let mut values = Vec::with_capacity(n);
    for _ in 0..n {
        values.push(r.bytes()?.to_vec());
    }
    r.finish()?;
    Ok(Record { version, values, deleted: false, deleted_at: 0 })
}

/// What the daemon needs from a storage engine.
pub trait Store {
    /// The object or tombstone stored under a key.
    fn get(&self, skey: &[u8]) -> io::Result<Option<Record>>;
    /// The object stored under a key (a tombstone reads as nothing).
    fn get_live(&self, skey: &[u8]) -> io::Result<Option<Record>> {
        Ok(self.get(skey)?.filter(|r| !r.deleted))
    }
    /// The raw stored bytes of a key (for metadata such as [`VERSION_FLOOR_KEY`]).
    fn get_raw(&self, skey: &[u8]) -> io::Result<Option<Vec<u8>>>;
    /// The record stored under a key, in a buffer of its own (one allocation of its size,
    /// which the object cache may keep).
    fn get_record(&self, skey: &[u8]) -> io::Result<Option<ByteView>>;
    /// Whether nothing at all is stored (no object, no metadata but the format marker).
    fn is_empty(&self) -> io::Result<bool>;
    /// Applies a group of writes (Some = put, None = delete) atomically and makes them
    /// survive a crash of this process before returning.
    fn commit(&mut self, writes: Vec<Write>) -> io::Result<()>;
    /// Every object of a region (tombstones left out), in key order: (object key, record).
    fn scan_region(&self, region: u64) -> io::Result<Vec<(Vec<u8>, Record)>>;
    /// Deletes every object of a region, its index entries and its index marker.
    fn drop_region(&mut self, region: u64) -> io::Result<()>;
    /// A point-in-time snapshot of a region's committed objects, read lazily: (storage key,
    /// record bytes), the objects `plan` selects.
    fn snapshot_region(&self, region: u64, plan: &ScanPlan) -> Self::Cursor;
    type Bytes: AsRef<[u8]>;
    type Cursor: Iterator<Item = io::Result<(Self::Bytes, Self::Bytes)>>;
}

/// Reads one region of a fjall snapshot (see [`ScanPlan`]).
pub enum FjallCursor {
    All(fjall::Iter),
    One(Option<io::Result<(fjall::Slice, fjall::Slice)>>),
    Index { snapshot: fjall::Snapshot, objects: fjall::Keyspace, region: u64, entries: fjall::Iter },
}

impl Iterator for FjallCursor {
    type Item = io::Result<(fjall::Slice, fjall::Slice)>;
    fn next(&mut self) -> Option<Self::Item> {
        use fjall::Readable;
        match self {
            FjallCursor::All(it) => it.next().map(|g| g.into_inner().map_err(to_io)),
            FjallCursor::One(item) => item.take(),
            FjallCursor::Index { snapshot, objects, region, entries } => loop {
                let entry = match entries.next()?.key() {
                    Ok(k) => k,
                    Err(e) => return Some(Err(to_io(e))),
                };
                let Some(key) = entry.get(INDEX_KEY_HEAD..) else { continue };
                let skey = storage_key(*region, key);
                match snapshot.get(&*objects, &skey) {
                    Ok(Some(v)) => return Some(Ok((fjall::Slice::from(skey.as_slice()), v))),
                    // An entry whose object is gone (cannot happen when index and objects
                    // are written together; harmless): skip it.
                    Ok(None) => continue,
                    Err(e) => return Some(Err(to_io(e))),
                }
            },
        }
    }
}

fn to_io(e: fjall::Error) -> io::Error {
    io::Error::other(e.to_string())
}

/// Cheap to clone: the daemon reads through one handle and commits through another, on its
/// storage thread.
#[derive(Clone)]
pub struct FjallStore {
    db: fjall::Database,
    objects: fjall::Keyspace,
    sync: bool,
}

impl FjallStore {
    pub fn open(dir: &Path, sync: bool) -> io::Result<FjallStore> {
        // One background worker: with more, fjall 3.1's workers bounce compaction requests
        // between each other and burn a core (measured: 40% of the daemon's CPU under load).
        let db = fjall::Database::builder(dir.join("objects.fjall")).worker_threads(1).open().map_err(to_io)?;
        // Every table's filter and index blocks stay in memory (a few bytes per object).
        // By default only the first levels' do; the others' go through the 32 MiB
        // block cache, and right after a large load, while compactions reshape the levels,
        // every point read reloaded them from the files: gets fell from 500k to 3k per
        // second at 10M objects (bench/scale.sh).
        let pin = fjall::config::PinningPolicy::all(true);
        // A get that misses the object cache finds its key in a data block: through a hash
        // index (0.75 slots per key) and with a restart point every 4 keys rather than 16,
        // it cost a fifth to a third less reader time at 10M objects (make bench-reads' method;
        // docs/benchmarks.md, "Reads beyond the object cache"). Creation options: a store
        // made before keeps its own.
        let objects = db
            .keyspace("objects", || {
                fjall::KeyspaceCreateOptions::default()
                    .max_memtable_size(64 << 20)
                    .filter_block_pinning_policy(pin.clone())
                    .index_block_pinning_policy(pin.clone())
                    .data_block_hash_ratio_policy(fjall::config::HashRatioPolicy::all(0.75))
                    .data_block_restart_interval_policy(fjall::config::RestartIntervalPolicy::all(4))
            })
            .map_err(to_io)?;
        let mut store = FjallStore { db, objects, sync };
        let format = store.objects.get(FORMAT_KEY).map_err(to_io)?;
        match format.as_deref() {
            Some(f) if f == STORAGE_FORMAT.to_le_bytes() => {}
            None if store.objects.is_empty().map_err(to_io)? => {
                store.commit(vec![(FORMAT_KEY.into(), Some(STORAGE_FORMAT.to_le_bytes().into()))])?;
            }
            found => {
                let what = match found {
                    Some(f) => match <[u8; 4]>::try_from(f) {
                        Ok(b) => format!("storage format {}", u32::from_le_bytes(b)),
                        Err(_) => "an unreadable storage format marker".to_string(),
                    },
                    None => "storage format 1 (8-byte region ids)".to_string(),
                };
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!(
                        "{} holds {what}; this build reads only storage format {STORAGE_FORMAT} and does not \
                         convert: move the directory away and start the daemon on an empty one (the cluster \
                         copies its regions to it)",
                        dir.join("objects.fjall").display()
                    ),
                ));
            }
        }
        Ok(store)
    }
}

impl Store for FjallStore {
    type Bytes = fjall::Slice;
    type Cursor = FjallCursor;

    fn snapshot_region(&self, region: u64, plan: &ScanPlan) -> FjallCursor {
        use fjall::Readable;
        let snapshot = self.db.snapshot();
        match plan {
            ScanPlan::All => FjallCursor::All(snapshot.prefix(&self.objects, region_prefix(region))),
            ScanPlan::Key(key) => {
                let skey = storage_key(region, key);
                let item = match snapshot.get(&self.objects, &skey) {
                    Ok(Some(v)) => Some(Ok((fjall::Slice::from(skey.as_slice()), v))),
                    Ok(None) => None,
                    Err(e) => Some(Err(to_io(e))),
                };
                FjallCursor::One(item)
            }
            ScanPlan::Index { attr, coord } => {
                let entries = snapshot.prefix(&self.objects, index_prefix(region, *attr, *coord));
                FjallCursor::Index { snapshot, objects: self.objects.clone(), region, entries }
            }
            ScanPlan::Range { after, upto } => {
                FjallCursor::All(snapshot.range(&self.objects, range_bounds(region, after, upto)))
            }
        }
    }

    fn get(&self, skey: &[u8]) -> io::Result<Option<Record>> {
        match self.objects.get(skey).map_err(to_io)? {
            None => Ok(None),
            Some(v) => decode_record(&v)
                .map(Some)
                .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "corrupt stored record")),
        }
    }

    fn get_raw(&self, skey: &[u8]) -> io::Result<Option<Vec<u8>>> {
        Ok(self.objects.get(skey).map_err(to_io)?.map(|v| v.to_vec()))
    }

    fn get_record(&self, skey: &[u8]) -> io::Result<Option<ByteView>> {
        // Copied: fjall hands out a point read's value as a slice of the whole data block it
        // loaded, which a cached object would keep alive (measured: a 4 KiB block pinned
        // per cached read, readers slowed by the memory they kept taking).
        Ok(self.objects.get(skey).map_err(to_io)?.map(|v| ByteView::new(&v)))
    }

    fn is_empty(&self) -> io::Result<bool> {
        // The format marker alone is an empty store.
        let mut keys = self.objects.iter().map(|g| g.key().map_err(to_io));
        match keys.next().transpose()? {
            None => Ok(true),
            Some(k) if &*k == FORMAT_KEY => Ok(keys.next().transpose()?.is_none()),
            Some(_) => Ok(false),
        }
    }

    fn commit(&mut self, mut writes: Vec<Write>) -> io::Result<()> {
        if writes.is_empty() {
            return Ok(());
        }
        // In key order, so that the memtable's nodes are allocated close to their neighbours
        // in the skip list: flushing walks the list in key order, and with a round's writes
        // in arrival order (keys of 16 regions, or of 8 clients, interleaved) that walk
        // missed the CPU cache at every node. Sorted, fjall's worker spent a fifth to a
        // quarter less CPU on the same puts (docs/benchmarks.md, "Replication"). The sort
        // is stable: two writes of one key in a round keep their order, and the later wins.
        writes.sort_by(|a, b| a.0.cmp(&b.0));
        let mode = if self.sync { fjall::PersistMode::SyncData } else { fjall::PersistMode::Buffer };
        // Room for the round's writes at once (fjall's `batch()` grows its list as it goes).
        let mut batch = fjall::OwnedWriteBatch::with_capacity(self.db.clone(), writes.len()).durability(Some(mode));
        for (k, v) in writes {
            match v {
                Some(v) => batch.insert(&self.objects, k, v),
                None => batch.remove(&self.objects, k),
            }
        }
        batch.commit().map_err(to_io)
    }

    fn scan_region(&self, region: u64) -> io::Result<Vec<(Vec<u8>, Record)>> {
        let mut out = Vec::new();
        for g in self.objects.prefix(region_prefix(region)) {
            let (k, v) = g.into_inner().map_err(to_io)?;
            match decode_record(&v) {
                Ok(rec) if !rec.deleted => out.push((k[REGION_BYTES..].to_vec(), rec)),
                _ => {}
            }
        }
        Ok(out)
    }

    fn drop_region(&mut self, region: u64) -> io::Result<()> {
        let mut keys: Vec<Vec<u8>> = Vec::new();
        for prefix in [region_prefix(region), index_region_prefix(region)] {
            keys.extend(self.objects.prefix(prefix).filter_map(|g| g.key().ok().map(|k| k.to_vec())));
        }
        keys.push(indexed_marker(region));
        self.commit(keys.into_iter().map(|k| (k.into(), None)).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_round_trip_and_corruption() {
        let vals = vec![b"a".to_vec(), vec![], 7i64.to_le_bytes().to_vec()];
        let enc = encode_record(9, &vals);
        assert_eq!(
            decode_record(&enc).unwrap(),
            Record { version: 9, values: vals.clone(), deleted: false, deleted_at: 0 }
        );
        let t = encode_tombstone(12, 345);
        assert_eq!(decode_record(&t).unwrap(), Record { version: 12, values: vec![], deleted: true, deleted_at: 345 });
        for n in 0..t.len() {
            assert!(decode_record(&t[..n]).is_err());
        }
        for n in 0..enc.len() {
            assert!(decode_record(&enc[..n]).is_err());
        }
        // Used in place: the same values, sharing the record; a tombstone has none.
        let (v, values) = record_values(ByteView::new(&enc)).unwrap();
        assert_eq!((v, values.as_ref().map(Values::to_vecs)), (9, Some(vals.clone())));
        assert_eq!(values.unwrap().record().as_ref(), &enc[..]);
        assert_eq!(record_values(ByteView::new(&t)).unwrap(), (12, None));
        assert_eq!(Values::with_version(9, &vals).record().as_ref(), &enc[..]);
        for n in 0..enc.len() {
            assert!(record_values(ByteView::new(&enc[..n])).is_err());
        }
        for n in 0..t.len() {
            assert!(record_values(ByteView::new(&t[..n])).is_err(), "{n}");
        }
        let mut longer = t.clone();
        longer.push(0);
        assert!(record_values(ByteView::new(&longer)).is_err());
    }

    /// A record read back from a table (not the memtable) is a buffer of its own: fjall
    /// returns values as slices of their whole data block, which the object cache would
    /// otherwise keep alive.
    #[test]
    fn records_read_from_tables_do_not_keep_their_data_block() {
        let dir = std::env::temp_dir().join(format!("hdx-store-block-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let mut s = FjallStore::open(&dir, false).unwrap();
        let rec = |i: u32| encode_record(7, &[vec![i as u8; 100]]);
        let writes = (0..200u32).map(|i| (storage_key(1, &i.to_be_bytes()).into(), Some(rec(i).into()))).collect();
        s.commit(writes).unwrap();
        s.objects.rotate_memtable_and_wait().unwrap();
        for i in [0u32, 99, 199] {
            let got = s.get_record(&storage_key(1, &i.to_be_bytes())).unwrap().unwrap();
            assert_eq!(&got[..], &rec(i)[..]);
            // Its own: nothing else holds the buffer, and it is no larger than the record.
            assert_eq!(got.ref_count(), 1, "object {i} shares its buffer");
        }
        drop(s);
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// A round's writes are stored sorted by key; two writes of one key keep their order
    /// (the later wins) in the memtable, in the tables a flush writes, and after a reopen
    /// replays the journal.
    #[test]
    fn a_rounds_later_write_of_a_key_wins_whatever_the_order_of_the_others() {
        let dir = std::env::temp_dir().join(format!("hdx-store-order-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let key = |i: u32| storage_key(u64::from(1 + i % 3), &i.to_be_bytes());
        let rec = |v: u64| Some(encode_record(v, &[v.to_le_bytes().to_vec()]).into());
        // Keys in descending order, then every third key written again, last in the round:
        // deleted (one in three of them) or put at a newer version.
        let mut writes: Vec<Write> = (0..300u32).rev().map(|i| (key(i).into(), rec(i as u64))).collect();
        for i in (0..300u32).step_by(3) {
            writes.push((key(i).into(), if i % 9 == 0 { None } else { rec(1000 + i as u64) }));
        }
        let expect = |s: &FjallStore| {
            for i in 0..300u32 {
                let got = s.get(&key(i)).unwrap().map(|r| r.version);
                let want = match (i % 3, i % 9) {
                    (0, 0) => None,
                    (0, _) => Some(1000 + i as u64),
                    _ => Some(i as u64),
                };
                assert_eq!(got, want, "object {i}");
            }
        };
        {
            let mut s = FjallStore::open(&dir, false).unwrap();
            s.commit(writes).unwrap();
            expect(&s);
        }
        // From the journal.
        let s = FjallStore::open(&dir, false).unwrap();
        expect(&s);
        // From a table.
        s.objects.rotate_memtable_and_wait().unwrap();
        expect(&s);
        drop(s);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn fjall_store_persists_across_reopen() {
        let dir = std::env::temp_dir().join(format!("hdx-store-test-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        {
            let mut s = FjallStore::open(&dir, false).unwrap();
            s.commit(vec![
                (storage_key(1, b"x").into(), Some(encode_record(3, &[b"v".to_vec()]).into())),
                (storage_key(2, b"y").into(), Some(encode_record(4, &[]).into())),
            ])
            .unwrap();
            s.drop_region(2).unwrap();
        }
        let s = FjallStore::open(&dir, false).unwrap();
        assert_eq!(s.get(&storage_key(1, b"x")).unwrap().unwrap().version, 3);
        assert!(s.get(&storage_key(2, b"y")).unwrap().is_none());
        assert_eq!(s.scan_region(1).unwrap().len(), 1);
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// A new store is marked with its format and still counts as empty; a directory of
    /// another format (format 1 had no marker and 8-byte region ids) is refused with an
    /// error that says so, and left as it was.
    #[test]
    fn a_store_of_another_format_is_refused_not_misread() {
        let dir = std::env::temp_dir().join(format!("hdx-store-format-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        {
            let s = FjallStore::open(&dir, false).unwrap();
            assert!(s.is_empty().unwrap(), "the marker alone is an empty store");
            assert_eq!(s.get_raw(FORMAT_KEY).unwrap(), Some(STORAGE_FORMAT.to_le_bytes().to_vec()));
        }
        {
            let mut s = FjallStore::open(&dir, false).unwrap();
            s.commit(vec![(storage_key(1, b"x").into(), Some(encode_record(3, &[b"v".to_vec()]).into()))]).unwrap();
            assert!(!s.is_empty().unwrap());
        }
        assert!(FjallStore::open(&dir, false).is_ok(), "its own format reopens");
        let _ = std::fs::remove_dir_all(&dir);

        // What a format-1 daemon left: an object under an 8-byte region id, its floor, and
        // no marker.
        let old = |marker: Option<&[u8]>| {
            let _ = std::fs::remove_dir_all(&dir);
            let db = fjall::Database::builder(dir.join("objects.fjall")).open().unwrap();
            let ks = db.keyspace("objects", fjall::KeyspaceCreateOptions::default).unwrap();
            ks.insert(b"\0\0\0\0\0\0\0\x05key", encode_record(3, &[b"v".to_vec()])).unwrap();
            ks.insert(b"\0\0\0\0\0\0\0\0version-floor", 7u64.to_le_bytes()).unwrap();
            if let Some(m) = marker {
                ks.insert(FORMAT_KEY, m).unwrap();
            }
            db.persist(fjall::PersistMode::SyncAll).unwrap();
        };
        old(None);
        let e = FjallStore::open(&dir, false).err().expect("a format-1 directory is refused");
        assert_eq!(e.kind(), io::ErrorKind::InvalidData);
        assert!(e.to_string().contains("storage format 1"), "{e}");
        {
            // ... and is left without a marker: refused again, not taken for format 2.
            let db = fjall::Database::builder(dir.join("objects.fjall")).open().unwrap();
            let ks = db.keyspace("objects", fjall::KeyspaceCreateOptions::default).unwrap();
            assert!(ks.get(FORMAT_KEY).unwrap().is_none());
        }
        assert!(FjallStore::open(&dir, false).is_err());
        old(Some(&3u32.to_le_bytes()));
        let e = FjallStore::open(&dir, false).err().expect("a newer format is refused");
        assert!(e.to_string().contains("storage format 3"), "{e}");
        // Refusing wrote nothing: the old objects are still there, as they were.
        let db = fjall::Database::builder(dir.join("objects.fjall")).open().unwrap();
        let ks = db.keyspace("objects", fjall::KeyspaceCreateOptions::default).unwrap();
        assert!(ks.get(b"\0\0\0\0\0\0\0\x05key").unwrap().is_some());
        assert_eq!(ks.get(FORMAT_KEY).unwrap().as_deref(), Some(&3u32.to_le_bytes()[..]));
        drop((ks, db));
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// Object keys of up to 16 bytes make storage keys that fjall holds inline; every
    /// prefix of a region is distinct from its index entries' and from metadata's.
    #[test]
    fn region_prefixes_are_short_and_disjoint() {
        assert_eq!(storage_key(MAX_REGION, &[7; 16]).len(), 20);
        assert_eq!(&storage_key(5, b"k")[..REGION_BYTES], &region_prefix(5));
        assert_eq!(key_region(&storage_key(5, b"k")), Some(5));
        assert_eq!(key_region(&storage_key(MAX_REGION, b"")), Some(MAX_REGION as u32));
        assert_eq!(key_region(&[0, 0, 1]), None);
        for r in [1, 2, 1000, MAX_REGION] {
            assert_ne!(region_prefix(r), index_region_prefix(r));
            assert_ne!(region_prefix(r), VERSION_FLOOR_KEY[..REGION_BYTES]);
            assert_ne!(index_region_prefix(r), VERSION_FLOOR_KEY[..REGION_BYTES]);
            assert!(index_key(r, 1, 2, b"k").starts_with(&index_region_prefix(r)));
            assert_eq!(index_key(r, 1, 2, b"k").len(), INDEX_KEY_HEAD + 1);
        }
        assert_eq!(FORMAT_KEY[..REGION_BYTES], [0; REGION_BYTES]);
    }
}
