//! Object storage behind a small trait, so the engine can be swapped. The implementation is
//! fjall (an LSM tree). Layout (docs/storage-format.md): one keyspace `objects`;
//! key = region id (u64 big-endian) ++ object key bytes; value = object version (u64 LE) ++
//! value count (u32 LE) ++ per non-key attribute: u32 LE length ++ encoded value.

use hyperdex_core::wire::{DResult, Reader, Writer};
use std::io;
use std::path::Path;

/// A stored object: its version and its non-key values in schema order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Record {
    pub version: u64,
    pub values: Vec<Vec<u8>>,
}

/// Metadata lives under region id 0, which no region ever has. This key holds a u64 LE
/// bound above every object version this daemon has issued (see node.rs).
pub const VERSION_FLOOR_KEY: &[u8] = b"\0\0\0\0\0\0\0\0version-floor";

pub fn storage_key(region: u64, key: &[u8]) -> Vec<u8> {
    let mut k = Vec::with_capacity(8 + key.len());
    k.extend_from_slice(&region.to_be_bytes());
    k.extend_from_slice(key);
    k
}

pub fn encode_record(version: u64, values: &[Vec<u8>]) -> Vec<u8> {
    let mut out = Vec::with_capacity(12 + values.iter().map(|v| v.len() + 4).sum::<usize>());
    let mut w = Writer::new(&mut out);
    w.u64(version).count(values.len());
    for v in values {
        w.bytes(v);
    }
    out
}

/// Decodes a stored record; a corrupt record is an error, never a panic.
pub fn decode_record(buf: &[u8]) -> DResult<Record> {
    let mut r = Reader::new(buf);
    let version = r.u64()?;
    let n = r.count(4)?;
    let mut values = Vec::with_capacity(n);
    for _ in 0..n {
        values.push(r.bytes()?.to_vec());
    }
    r.finish()?;
    Ok(Record { version, values })
}

/// What the daemon needs from a storage engine.
pub trait Store {
    fn get(&self, skey: &[u8]) -> io::Result<Option<Record>>;
    /// The raw stored bytes of a key (for metadata such as [`VERSION_FLOOR_KEY`]).
    fn get_raw(&self, skey: &[u8]) -> io::Result<Option<Vec<u8>>>;
    /// Applies a group of writes (Some = put, None = delete) atomically and makes them
    /// survive a crash of this process before returning.
    fn commit(&mut self, writes: Vec<(Vec<u8>, Option<Vec<u8>>)>) -> io::Result<()>;
    /// Every object of a region, in key order: (object key, record).
    fn scan_region(&self, region: u64) -> io::Result<Vec<(Vec<u8>, Record)>>;
    /// Deletes every object of a region.
    fn drop_region(&mut self, region: u64) -> io::Result<()>;
    /// A point-in-time snapshot of a region's committed objects, read lazily in key order:
    /// (storage key, record bytes).
    fn snapshot_region(&self, region: u64) -> Self::Cursor;
    type Bytes: AsRef<[u8]>;
    type Cursor: Iterator<Item = io::Result<(Self::Bytes, Self::Bytes)>>;
}

/// A fjall snapshot iterator over one region.
pub struct FjallCursor(fjall::Iter);

impl Iterator for FjallCursor {
    type Item = io::Result<(fjall::Slice, fjall::Slice)>;
    fn next(&mut self) -> Option<Self::Item> {
        self.0.next().map(|g| g.into_inner().map_err(to_io))
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
        let objects = db
            .keyspace("objects", || fjall::KeyspaceCreateOptions::default().max_memtable_size(64 << 20))
            .map_err(to_io)?;
        Ok(FjallStore { db, objects, sync })
    }
}

impl Store for FjallStore {
    type Bytes = fjall::Slice;
    type Cursor = FjallCursor;

    fn snapshot_region(&self, region: u64) -> FjallCursor {
        use fjall::Readable;
        FjallCursor(self.db.snapshot().prefix(&self.objects, region.to_be_bytes()))
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

    fn commit(&mut self, writes: Vec<(Vec<u8>, Option<Vec<u8>>)>) -> io::Result<()> {
        if writes.is_empty() {
            return Ok(());
        }
        let mode = if self.sync { fjall::PersistMode::SyncData } else { fjall::PersistMode::Buffer };
        let mut batch = self.db.batch().durability(Some(mode));
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
        for g in self.objects.prefix(region.to_be_bytes()) {
            let (k, v) = g.into_inner().map_err(to_io)?;
            if let Ok(rec) = decode_record(&v) {
                out.push((k[8..].to_vec(), rec));
            }
        }
        Ok(out)
    }

    fn drop_region(&mut self, region: u64) -> io::Result<()> {
        let keys: Vec<Vec<u8>> =
            self.objects.prefix(region.to_be_bytes()).filter_map(|g| g.key().ok().map(|k| k.to_vec())).collect();
        self.commit(keys.into_iter().map(|k| (k, None)).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_round_trip_and_corruption() {
        let vals = vec![b"a".to_vec(), vec![], 7i64.to_le_bytes().to_vec()];
        let enc = encode_record(9, &vals);
        assert_eq!(decode_record(&enc).unwrap(), Record { version: 9, values: vals });
        for n in 0..enc.len() {
            assert!(decode_record(&enc[..n]).is_err());
        }
    }

    #[test]
    fn fjall_store_persists_across_reopen() {
        let dir = std::env::temp_dir().join(format!("hdx-store-test-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        {
            let mut s = FjallStore::open(&dir, false).unwrap();
            s.commit(vec![
                (storage_key(1, b"x"), Some(encode_record(3, &[b"v".to_vec()]))),
                (storage_key(2, b"y"), Some(encode_record(4, &[]))),
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
}
