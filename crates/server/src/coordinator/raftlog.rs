//! The coordinator's raft log: an in-memory [`Storage`] for raft-rs, and the record format
//! that makes it durable in the data directory (file `raft.log`).
//!
//! The file is a sequence of records, each `u32 LE length | u64 LE checksum | kind | body`.
//! A snapshot record (the state machine's encoding at an index, with the group membership)
//! starts a rewritten file; entry and hard-state records are appended after it. Replaying the
//! records in order rebuilds the store; a torn last record (a crash mid-write) ends the replay
//! and is cut off.

use protobuf::Message as _;
use raft::eraftpb::{ConfState, Entry, HardState, Snapshot};
use raft::{GetEntriesContext, RaftState, Storage, StorageError};

const SNAPSHOT: u8 = 1;
const ENTRIES: u8 = 2;
const HARD_STATE: u8 = 3;

/// Largest record accepted when reading the file back (a snapshot of a big cluster fits).
const MAX_RECORD: usize = 1 << 30;

/// The raft log of one coordinator: the last snapshot, the entries after it, and the hard
/// state (term, vote, commit).
#[derive(Default, Clone)]
pub struct LogStore {
    hard: HardState,
    snap: Snapshot,
    entries: Vec<Entry>,
}

fn checksum(data: &[u8]) -> u64 {
    // FNV-1a: catches torn and garbled records, not an adversary (the file is ours).
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in data {
        h ^= *b as u64;
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

fn record(out: &mut Vec<u8>, kind: u8, body: &[u8]) {
    let mut payload = Vec::with_capacity(body.len() + 1);
    payload.push(kind);
    payload.extend_from_slice(body);
    out.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    out.extend_from_slice(&checksum(&payload).to_le_bytes());
    out.extend_from_slice(&payload);
}

/// Appends the record of `entries` (appended to the log, replacing any it conflicts with).
pub fn entries_record(out: &mut Vec<u8>, entries: &[Entry]) {
    let mut body = Vec::new();
    for e in entries {
        let b = e.write_to_bytes().expect("an entry encodes");
        body.extend_from_slice(&(b.len() as u32).to_le_bytes());
        body.extend_from_slice(&b);
    }
    record(out, ENTRIES, &body);
}

/// Appends the record of a hard state.
pub fn hard_state_record(out: &mut Vec<u8>, hs: &HardState) {
    record(out, HARD_STATE, &hs.write_to_bytes().expect("a hard state encodes"));
}

fn snapshot_record(out: &mut Vec<u8>, snap: &Snapshot) {
    record(out, SNAPSHOT, &snap.write_to_bytes().expect("a snapshot encodes"));
}

impl LogStore {
    /// The log of the first coordinator of a new group: a snapshot at index 1 holding
    /// `data`, with `id` its only voter.
    pub fn bootstrap(id: u64, data: Vec<u8>) -> LogStore {
        LogStore::bootstrap_group(vec![id], data)
    }

    /// A log whose snapshot at index 1 already has these voters (tests of a whole group).
    pub fn bootstrap_group(voters: Vec<u64>, data: Vec<u8>) -> LogStore {
        let mut snap = Snapshot::default();
        snap.mut_metadata().index = 1;
        snap.mut_metadata().term = 1;
        snap.mut_metadata().mut_conf_state().voters = voters;
        snap.data = data.into();
        let hard = HardState { term: 1, commit: 1, ..Default::default() };
        LogStore { hard, snap, entries: Vec::new() }
    }

    pub fn snapshot_ref(&self) -> &Snapshot {
        &self.snap
    }

    pub fn hard_state(&self) -> &HardState {
        &self.hard
    }

    /// No snapshot yet: a coordinator waiting to receive the group's state.
    pub fn is_empty(&self) -> bool {
        self.snap.get_metadata().index == 0 && self.entries.is_empty()
    }

    fn first(&self) -> u64 {
        self.snap.get_metadata().index + 1
    }

    fn last(&self) -> u64 {
        self.entries.last().map(|e| e.index).unwrap_or(self.snap.get_metadata().index)
    }

    /// Appends entries from raft, dropping the suffix they replace. False (nothing changed)
    /// when they would leave a gap or overwrite the snapshot: a corrupt file, never raft.
    pub fn append(&mut self, ents: &[Entry]) -> bool {
        let Some(first) = ents.first() else { return true };
        if first.index < self.first() || first.index > self.last() + 1 {
            return false;
        }
        let keep = (first.index - self.first()) as usize;
        self.entries.truncate(keep);
        self.entries.extend_from_slice(ents);
        true
    }

    pub fn set_hard_state(&mut self, hs: HardState) {
        self.hard = hs;
    }

    pub fn set_commit(&mut self, commit: u64) {
        self.hard.commit = commit;
    }

    /// Replaces everything with a snapshot received from the leader.
    pub fn apply_snapshot(&mut self, snap: Snapshot) {
        let m = snap.get_metadata();
        self.hard.term = self.hard.term.max(m.term);
        self.hard.commit = self.hard.commit.max(m.index);
        // Whatever the log held is replaced: raft sends the entries after the snapshot again.
        self.entries.clear();
        self.snap = snap;
    }

    /// Takes a snapshot at `index` (applied, so present in the log or the snapshot itself):
    /// `data` is the state machine there, `conf` the membership. Earlier entries are dropped.
    pub fn compact(&mut self, index: u64, conf: ConfState, data: Vec<u8>) {
        if index < self.snap.get_metadata().index {
            return;
        }
        let term = self.term(index).unwrap_or(self.snap.get_metadata().term);
        self.entries.retain(|e| e.index > index);
        let mut snap = Snapshot::default();
        snap.mut_metadata().index = index;
        snap.mut_metadata().term = term;
        snap.mut_metadata().set_conf_state(conf);
        snap.data = data.into();
        self.snap = snap;
    }

    /// The whole store as a new file: its snapshot, its entries, its hard state.
    pub fn encode_all(&self) -> Vec<u8> {
        let mut out = Vec::new();
        snapshot_record(&mut out, &self.snap);
        if !self.entries.is_empty() {
            entries_record(&mut out, &self.entries);
        }
        hard_state_record(&mut out, &self.hard);
        out
    }

    /// Rebuilds a store from a file's bytes. Returns it and how many leading bytes hold
    /// whole, valid records (anything after is a torn write to cut off). Err: a valid record
    /// that cannot be applied (the file is not a log this code wrote).
    pub fn recover(buf: &[u8]) -> Result<(LogStore, usize), String> {
        let mut st = LogStore::default();
        let mut at = 0;
        while buf.len() - at >= 12 {
            let len = u32::from_le_bytes(buf[at..at + 4].try_into().unwrap()) as usize;
            let sum = u64::from_le_bytes(buf[at + 4..at + 12].try_into().unwrap());
            if len == 0 || len > MAX_RECORD || buf.len() - at - 12 < len {
                break;
            }
            let payload = &buf[at + 12..at + 12 + len];
            if checksum(payload) != sum {
                break;
            }
            let (kind, body) = (payload[0], &payload[1..]);
            match kind {
                SNAPSHOT => {
                    let snap = Snapshot::parse_from_bytes(body).map_err(|e| format!("bad snapshot record: {e}"))?;
                    st.snap = snap;
                    st.entries.clear();
                }
                ENTRIES => {
                    let mut ents = Vec::new();
                    let mut r = body;
                    while r.len() >= 4 {
                        let n = u32::from_le_bytes(r[..4].try_into().unwrap()) as usize;
                        if r.len() - 4 < n {
                            return Err("bad entries record".into());
                        }
                        ents.push(Entry::parse_from_bytes(&r[4..4 + n]).map_err(|e| format!("bad entry: {e}"))?);
                        r = &r[4 + n..];
                    }
                    if !r.is_empty() || !st.append(&ents) {
                        return Err("entries record does not continue the log".into());
                    }
                }
                HARD_STATE => {
                    st.hard = HardState::parse_from_bytes(body).map_err(|e| format!("bad hard state record: {e}"))?;
                }
                _ => return Err(format!("unknown record kind {kind}")),
            }
            at += 12 + len;
        }
        Ok((st, at))
    }
}

impl Storage for LogStore {
    fn initial_state(&self) -> raft::Result<RaftState> {
        Ok(RaftState::new(self.hard.clone(), self.snap.get_metadata().get_conf_state().clone()))
    }

    fn entries(
        &self,
        low: u64,
        high: u64,
        max_size: impl Into<Option<u64>>,
        _context: GetEntriesContext,
    ) -> raft::Result<Vec<Entry>> {
        if low < self.first() {
            return Err(raft::Error::Store(StorageError::Compacted));
        }
        if high > self.last() + 1 {
            return Err(raft::Error::Store(StorageError::Unavailable));
        }
        let lo = (low - self.first()) as usize;
        let hi = (high - self.first()) as usize;
        let mut ents = self.entries[lo..hi].to_vec();
        raft::util::limit_size(&mut ents, max_size.into());
        Ok(ents)
    }

    fn term(&self, idx: u64) -> raft::Result<u64> {
        let m = self.snap.get_metadata();
        if idx == m.index {
            return Ok(m.term);
        }
        if idx < self.first() {
            return Err(raft::Error::Store(StorageError::Compacted));
        }
        if idx > self.last() {
            return Err(raft::Error::Store(StorageError::Unavailable));
        }
        Ok(self.entries[(idx - self.first()) as usize].term)
    }

    fn first_index(&self) -> raft::Result<u64> {
        Ok(self.first())
    }

    fn last_index(&self) -> raft::Result<u64> {
        Ok(self.last())
    }

    fn snapshot(&self, _request_index: u64, _to: u64) -> raft::Result<Snapshot> {
        if self.snap.get_metadata().index == 0 {
            return Err(raft::Error::Store(StorageError::SnapshotTemporarilyUnavailable));
        }
        Ok(self.snap.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(index: u64, term: u64, data: &[u8]) -> Entry {
        Entry { index, term, data: data.to_vec().into(), ..Default::default() }
    }

    #[test]
    fn a_log_rebuilds_from_its_records_and_a_torn_tail_is_cut_off() {
        let mut st = LogStore::bootstrap(1, b"state".to_vec());
        let mut file = st.encode_all();
        let e1 = [entry(2, 1, b"a"), entry(3, 1, b"b"), entry(4, 1, b"c")];
        assert!(st.append(&e1));
        entries_record(&mut file, &e1);
        // A new leader's entries replace index 3 onwards.
        let e2 = [entry(3, 2, b"x")];
        assert!(st.append(&e2));
        entries_record(&mut file, &e2);
        let hs = HardState { term: 2, vote: 1, commit: 3, ..Default::default() };
        st.set_hard_state(hs.clone());
        hard_state_record(&mut file, &hs);
        let good = file.len();
        // Half of another record: a crash in the middle of a write.
        let mut torn = Vec::new();
        entries_record(&mut torn, &[entry(4, 2, b"y")]);
        file.extend_from_slice(&torn[..torn.len() - 3]);

        let (back, valid) = LogStore::recover(&file).unwrap();
        assert_eq!(valid, good);
        assert_eq!(back.last(), 3);
        assert_eq!(back.term(3).unwrap(), 2);
        assert_eq!(&back.entries(2, 4, None, GetEntriesContext::empty(false)).unwrap()[1].data[..], b"x");
        assert_eq!(back.hard_state(), &hs);
        assert_eq!(&back.snapshot_ref().data[..], b"state");

        // A flipped byte inside a record ends the replay there too.
        let mut bad = file[..good].to_vec();
        let n = bad.len();
        bad[n - 2] ^= 0x40;
        let (_, valid) = LogStore::recover(&bad).unwrap();
        assert!(valid < good);
    }

    #[test]
    fn compaction_keeps_later_entries_and_the_membership() {
        let mut st = LogStore::bootstrap(1, b"s0".to_vec());
        assert!(st.append(&[entry(2, 1, b"a"), entry(3, 1, b"b"), entry(4, 2, b"c")]));
        let conf = ConfState { voters: vec![1, 2, 3], ..Default::default() };
        st.compact(3, conf.clone(), b"s3".to_vec());
        assert_eq!(st.first_index().unwrap(), 4);
        assert_eq!(st.term(3).unwrap(), 1);
        assert!(st.term(2).is_err());
        let (back, _) = LogStore::recover(&st.encode_all()).unwrap();
        assert_eq!(back.initial_state().unwrap().conf_state, conf);
        assert_eq!(back.last_index().unwrap(), 4);
        assert_eq!(&back.snapshot(0, 2).unwrap().data[..], b"s3");
        // Entries that would leave a gap are refused.
        let mut g = back.clone();
        assert!(!g.append(&[entry(9, 2, b"z")]));
        assert_eq!(g.last_index().unwrap(), 4);
    }
}
