//! The object cache's table: its entries in one vector (the eviction sweep walks them by
//! position, and removing one moves the last into its place), found through an index of
//! open-addressing slots that each pack a 32-bit tag of the key's hash and the entry's
//! position. A lookup in a large table reads one line of the index, then the entry; in a
//! `hashbrown` table the control bytes and the slot it leads to are two lines, so an
//! `IndexMap` costs a cache miss more per lookup and insert once it outgrows the CPU's
//! caches.
//!
//! Linear probing with at most 3 slots used in 4 (a key that is not there is looked for
//! over about (1 + 1/(1 - load)^2) / 2 slots: 8.5 at that load); a removal shifts the
//! slots after it back (no tombstones). A slot's home is derived from its tag alone (each
//! entry keeps its tag), so growing and shifting never hash a key again.

use crate::fasthash::FastState;
use std::hash::BuildHasher;

/// An empty slot. A used one holds `tag << 32 | (position + 1)`.
const EMPTY: u64 = 0;

/// The most entries a table holds (a position must fit the slot's 32 bits): about 900 GB
/// of cached objects, but the object cache must not count on never reaching it.
pub const MAX_ENTRIES: usize = u32::MAX as usize - 1;
// A position + 1 must stay below the tag's bits.
const _: () = assert!(MAX_ENTRIES < u32::MAX as usize);

struct Entry<K, V> {
    tag: u32,
    key: K,
    value: V,
}

pub struct Table<K, V> {
    entries: Vec<Entry<K, V>>,
    slots: Vec<u64>,
    /// log2 of `slots.len()` (0 while there are no slots).
    bits: u32,
    hasher: FastState,
    /// [`MAX_ENTRIES`], or less in tests.
    max: usize,
    /// Which bits of a tag are kept: all, or a few in tests (to make tags collide).
    tag_mask: u32,
}

impl<K, V> Default for Table<K, V> {
    fn default() -> Self {
        Table {
            entries: Vec::new(),
            slots: Vec::new(),
            bits: 0,
            hasher: FastState::default(),
            max: MAX_ENTRIES,
            tag_mask: u32::MAX,
        }
    }
}

/// The home of tag `tag` among `1 << bits` slots.
fn home_at(tag: u32, bits: u32) -> usize {
    if bits == 0 {
        return 0;
    }
    (u64::from(tag).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> (64 - bits)) as usize
}

fn pack(tag: u32, pos: usize) -> u64 {
    (u64::from(tag) << 32) | (pos as u64 + 1)
}

fn slot_tag(s: u64) -> u32 {
    (s >> 32) as u32
}

fn slot_pos(s: u64) -> usize {
    (s as u32) as usize - 1
}

impl<K: AsRef<[u8]>, V> Table<K, V> {
    /// The hash the table files `key` under (also for other tables that want the same).
    pub fn hash(&self, key: &[u8]) -> u64 {
        self.hasher.hash_one(key)
    }

    fn tag_of(&self, key: &[u8]) -> u32 {
        (self.hash(key) >> 32) as u32 & self.tag_mask
    }

    /// Where a slot of tag `tag` belongs: the top bits of the tag, mixed (so that the tag
    /// still tells keys of one home apart).
    fn home(&self, tag: u32) -> usize {
        home_at(tag, self.bits)
    }

    fn mask(&self) -> usize {
        self.slots.len().wrapping_sub(1)
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether a new key would be refused (see [`Table::insert`]).
    fn is_full(&self) -> bool {
        self.entries.len() >= self.max
    }

    /// A table that holds at most `max` entries (tests of what happens when it is full).
    #[cfg(test)]
    pub fn with_max(max: usize) -> Self {
        Table { max: max.min(MAX_ENTRIES), ..Table::default() }
    }

    /// A table whose tags keep only their low `bits` bits: keys collide on tags and share
    /// homes, runs are long and wrap around (tests).
    #[cfg(test)]
    pub fn with_tag_bits(bits: u32) -> Self {
        Table { tag_mask: (1u32 << bits) - 1, ..Table::default() }
    }

    /// Walks the run of `key` (whose tag is `tag`): `Ok` with the slot index and entry
    /// position of the key, or `Err` with the first empty slot, where it would go. The
    /// table must have slots.
    fn probe(&self, tag: u32, key: &[u8]) -> Result<(usize, usize), usize> {
        let mask = self.mask();
        let mut i = self.home(tag);
        loop {
            let s = self.slots[i];
            if s == EMPTY {
                return Err(i);
            }
            if slot_tag(s) == tag {
                let pos = slot_pos(s);
                if self.entries[pos].key.as_ref() == key {
                    return Ok((i, pos));
                }
            }
            i = (i + 1) & mask;
        }
    }

    /// Asks the CPU to bring in the line of slots where a lookup or insert of `key` starts,
    /// so that one a little later does not wait for memory.
    pub fn prefetch(&self, key: &[u8]) {
        #[cfg(target_arch = "x86_64")]
        if let Some(slot) = self.slots.get(self.home(self.tag_of(key))) {
            let slot: *const u64 = slot;
            // SAFETY: the intrinsic needs SSE, which every x86_64 CPU has; a prefetch reads
            // nothing the program sees and does not fault.
            unsafe {
                std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(slot.cast());
            }
        }
        #[cfg(not(target_arch = "x86_64"))]
        let _ = key;
    }

    /// The slot index and entry position of `key`, if present.
    fn find(&self, key: &[u8]) -> Option<(usize, usize)> {
        if self.entries.is_empty() {
            return None;
        }
        self.probe(self.tag_of(key), key).ok()
    }

    /// The slot index that holds position `pos` (which must be present).
    fn slot_of(&self, pos: usize) -> usize {
        let want = pack(self.entries[pos].tag, pos);
        let mask = self.mask();
        let mut i = self.home(self.entries[pos].tag);
        while self.slots[i] != want {
            i = (i + 1) & mask;
        }
        i
    }

    pub fn get(&self, key: &[u8]) -> Option<&V> {
        self.find(key).map(|(_, pos)| &self.entries[pos].value)
    }

    pub fn get_mut(&mut self, key: &[u8]) -> Option<&mut V> {
        self.find(key).map(|(_, pos)| &mut self.entries[pos].value)
    }

    pub fn get_index(&self, pos: usize) -> Option<(&K, &V)> {
        self.entries.get(pos).map(|e| (&e.key, &e.value))
    }

    /// Inserts or replaces: `Ok` with the value replaced, if any. A full table (see
    /// [`Table::is_full`]) takes no new key: `Err` gives it back with its value.
    pub fn insert(&mut self, key: K, value: V) -> Result<Option<V>, (K, V)> {
        // At most 3 slots used in 4, counting this key as new (if it is there, the table
        // grows a little early).
        if (self.entries.len() + 1) * 4 > self.slots.len() * 3 {
            self.grow();
        }
        // One pass: the key's slot, or the first empty one of its run, where it goes.
        let tag = self.tag_of(key.as_ref());
        let i = match self.probe(tag, key.as_ref()) {
            Ok((_, pos)) => return Ok(Some(std::mem::replace(&mut self.entries[pos].value, value))),
            Err(i) => i,
        };
        if self.is_full() {
            return Err((key, value));
        }
        let pos = self.entries.len();
        self.entries.push(Entry { tag, key, value });
        self.slots[i] = pack(tag, pos);
        Ok(None)
    }

    /// Puts a used slot at the first empty slot from its home on.
    fn place(&mut self, s: u64) {
        let mask = self.mask();
        let mut i = self.home(slot_tag(s));
        while self.slots[i] != EMPTY {
            i = (i + 1) & mask;
        }
        self.slots[i] = s;
    }

    fn grow(&mut self) {
        let bits = (self.bits + 1).max(4);
        self.bits = bits;
        self.slots = vec![EMPTY; 1 << bits];
        for pos in 0..self.entries.len() {
            self.place(pack(self.entries[pos].tag, pos));
        }
    }

    /// Empties slot `i`, moving back the slots after it that may take its place.
    fn clear_slot(&mut self, mut hole: usize) {
        let mask = self.mask();
        self.slots[hole] = EMPTY;
        let mut j = hole;
        loop {
            j = (j + 1) & mask;
            let s = self.slots[j];
            if s == EMPTY {
                return;
            }
            let home = self.home(slot_tag(s));
            // The slot at j may move to the hole if its home is not in (hole, j], cyclically.
            let stays = if hole <= j { hole < home && home <= j } else { hole < home || home <= j };
            if !stays {
                self.slots[hole] = s;
                self.slots[j] = EMPTY;
                hole = j;
            }
        }
    }

    /// Removes the entry at `pos`; the last entry takes its position.
    pub fn swap_remove_index(&mut self, pos: usize) -> Option<(K, V)> {
        if pos >= self.entries.len() {
            return None;
        }
        Some(self.remove(self.slot_of(pos), pos))
    }

    pub fn swap_remove(&mut self, key: &[u8]) -> Option<V> {
        let (i, pos) = self.find(key)?;
        Some(self.remove(i, pos).1)
    }

    /// Removes the entry at `pos`, found in slot `i`; the last entry takes its position.
    fn remove(&mut self, i: usize, pos: usize) -> (K, V) {
        self.clear_slot(i);
        let last = self.entries.len() - 1;
        if pos != last {
            let j = self.slot_of(last);
            self.slots[j] = pack(self.entries[last].tag, pos);
        }
        let e = self.entries.swap_remove(pos);
        (e.key, e.value)
    }

    /// Keeps the entries `keep` says to, in their order; the index is rebuilt.
    pub fn retain(&mut self, mut keep: impl FnMut(&K, &mut V) -> bool) {
        self.entries.retain_mut(|e| keep(&e.key, &mut e.value));
        self.slots.iter_mut().for_each(|s| *s = EMPTY);
        for pos in 0..self.entries.len() {
            self.place(pack(self.entries[pos].tag, pos));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::HashMap;

    #[derive(Clone, Debug)]
    enum Op {
        Insert(u16, u32),
        Remove(u16),
        RemoveAt(u16),
        Retain(u8),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            4 => (any::<u16>(), any::<u32>()).prop_map(|(k, v)| Op::Insert(k % 600, v)),
            2 => any::<u16>().prop_map(|k| Op::Remove(k % 600)),
            2 => any::<u16>().prop_map(Op::RemoveAt),
            1 => any::<u8>().prop_map(Op::Retain),
        ]
    }

    fn key(k: u16) -> Vec<u8> {
        // Some keys of the same length and prefix, some not.
        if k.is_multiple_of(3) {
            format!("k{k}").into_bytes()
        } else {
            format!("\0\0\0\x05key-{k:08}").into_bytes()
        }
    }

    /// Every entry is found at its position, and nothing else is found.
    fn check(t: &Table<Vec<u8>, u32>, model: &HashMap<Vec<u8>, u32>) {
        assert_eq!(t.len(), model.len());
        for (k, v) in model {
            assert_eq!(t.get(k), Some(v), "{k:?}");
        }
        for pos in 0..t.len() {
            let (k, v) = t.get_index(pos).unwrap();
            assert_eq!(model.get(k), Some(v));
            assert_eq!(t.find(k).map(|(_, p)| p), Some(pos));
        }
        assert!(t.get_index(t.len()).is_none());
        let used = t.slots.iter().filter(|s| **s != EMPTY).count();
        assert_eq!(used, t.len(), "one slot per entry");
        for k in 600..620 {
            assert_eq!(t.get(&key(k)), None);
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(200))]
        /// The table against a HashMap: inserts, replacements, removals by key and by
        /// position (the last entry moves), and retain, through growth.
        #[test]
        fn behaves_as_a_map_with_positions(
            ops in proptest::collection::vec(op(), 1..1500),
            tag_bits in prop_oneof![Just(32u32), 1u32..4],
        ) {
            // Full tags, or tags of 1-3 bits: keys then collide on tags (the key decides)
            // and crowd a few homes (runs wrap around the end of the slots).
            let mut t: Table<Vec<u8>, u32> =
                if tag_bits == 32 { Table::default() } else { Table::with_tag_bits(tag_bits) };
            let mut model = HashMap::new();
            for op in ops {
                match op {
                    Op::Insert(k, v) => {
                        prop_assert_eq!(t.insert(key(k), v).ok(), Some(model.insert(key(k), v)));
                    }
                    Op::Remove(k) => {
                        prop_assert_eq!(t.swap_remove(&key(k)), model.remove(&key(k)));
                    }
                    Op::RemoveAt(p) => {
                        let pos = p as usize % (t.len() + 1);
                        let last = t.len().checked_sub(1).and_then(|l| t.get_index(l)).map(|(k, _)| k.clone());
                        let got = t.swap_remove_index(pos);
                        match got {
                            Some((k, v)) => {
                                prop_assert_eq!(model.remove(&k), Some(v));
                                // The last entry took the removed one's place.
                                if pos < t.len() {
                                    prop_assert_eq!(t.get_index(pos).map(|(k, _)| k.clone()), last);
                                }
                            }
                            None => prop_assert_eq!(pos, model.len()),
                        }
                    }
                    Op::Retain(m) => {
                        let m = u32::from(m % 5) + 2;
                        t.retain(|_, v| *v % m != 0);
                        model.retain(|_, v| *v % m != 0);
                    }
                }
                check(&t, &model);
            }
        }
    }

    /// A full smallest table (12 entries in 16 slots, runs wrapping around the end): each
    /// key removed and put back in turn, by key and by position, leaves every other key
    /// reachable.
    #[test]
    fn removals_in_a_full_table_keep_every_key_reachable() {
        // Tags of 2 bits (4 homes): first 7 keys whose home is one of the last 4 of the 16
        // slots, so that their run wraps past the end, then 5 others.
        let mut t: Table<Vec<u8>, u32> = Table::with_tag_bits(2);
        let late = |t: &Table<Vec<u8>, u32>, k: u32| home_at(t.tag_of(&k.to_le_bytes()), 4) >= 12;
        let mut keys: Vec<u32> = (0..1000).filter(|&k| late(&t, k)).take(7).collect();
        keys.extend((0..1000).filter(|&k| !late(&t, k)).take(5));
        assert_eq!(keys.len(), 12, "every home is reached by some key");
        let mut model = HashMap::new();
        for &i in &keys {
            t.insert(i.to_le_bytes().to_vec(), i).unwrap();
            model.insert(i.to_le_bytes().to_vec(), i);
        }
        assert_eq!(t.slots.len(), 16);
        // The run wrapped: the first slot holds an entry whose home is at the end.
        assert!(t.slots[0] != EMPTY && t.home(slot_tag(t.slots[0])) >= 12);
        for round in 0..3u32 {
            for &i in &keys {
                let k = i.to_le_bytes().to_vec();
                if round == 1 {
                    let pos = t.find(&k).unwrap().1;
                    assert_eq!(t.swap_remove_index(pos), Some((k.clone(), model[&k])));
                } else {
                    assert_eq!(t.swap_remove(&k), Some(model[&k]));
                }
                let v = model.remove(&k).unwrap();
                check_u32(&t, &model);
                t.insert(k.clone(), v + 1).unwrap();
                model.insert(k, v + 1);
                check_u32(&t, &model);
            }
        }
        assert_eq!(t.slots.len(), 16, "never grew");
    }

    /// A full table replaces the values of its keys and refuses new ones; after a removal it
    /// takes one again.
    #[test]
    fn a_full_table_refuses_new_keys_only() {
        let mut t: Table<Vec<u8>, u32> = Table::with_max(3);
        for i in 0..3u32 {
            assert!(!t.is_full());
            assert_eq!(t.insert(vec![i as u8], i), Ok(None));
        }
        assert!(t.is_full());
        assert_eq!(t.insert(vec![9], 9), Err((vec![9], 9)));
        assert_eq!(t.get(&[9]), None);
        assert_eq!(t.len(), 3);
        assert_eq!(t.insert(vec![1], 10), Ok(Some(1)));
        assert_eq!(t.get(&[1]), Some(&10));
        assert_eq!(t.swap_remove(&[0]), Some(0));
        assert!(!t.is_full());
        assert_eq!(t.insert(vec![9], 9), Ok(None));
        assert_eq!(t.get(&[9]), Some(&9));
    }

    /// A prefetch only reads: on a table with no slots yet, and for keys whose home is
    /// anywhere in a grown one, it must not index out of bounds (it looks its slot up
    /// with `get`). That it changes nothing, `&self` already says.
    #[test]
    fn a_prefetch_never_indexes_out_of_bounds() {
        let mut t: Table<Vec<u8>, u32> = Table::default();
        t.prefetch(b"no slots yet");
        for i in 0..1000u32 {
            assert_eq!(t.insert(i.to_le_bytes().to_vec(), i), Ok(None));
        }
        for i in 0..100_000u32 {
            t.prefetch(&i.to_le_bytes());
        }
    }

    fn check_u32(t: &Table<Vec<u8>, u32>, model: &HashMap<Vec<u8>, u32>) {
        assert_eq!(t.len(), model.len());
        for (k, v) in model {
            assert_eq!(t.get(k), Some(v));
        }
        assert_eq!(t.slots.iter().filter(|s| **s != EMPTY).count(), t.len());
    }

    /// Insert and lookup cost against `IndexMap` (what the cache used before), on keys like
    /// the daemon's (20-byte storage keys) and entries of the cache's size:
    /// `cargo test --release -p hyperdex-server --lib table_cost -- --ignored --nocapture`.
    #[test]
    #[ignore]
    fn table_cost() {
        let n: usize = std::env::var("N").ok().and_then(|v| v.parse().ok()).unwrap_or(1_000_000);
        type Val = (u64, Option<byteview::ByteView>, u64);
        // Storage keys of 20 bytes: a region prefix, then 16 digits; `region` 8 for keys
        // never inserted.
        let keys_of = |region: u8| -> Vec<fjall::Slice> {
            (0..n as u64)
                .map(|i| {
                    let x = i.wrapping_mul(0x9E37_79B9_7F4A_7C15);
                    fjall::Slice::from(format!("\0\0\0{}{x:016}", region as char).as_bytes())
                })
                .collect()
        };
        let (keys, absent) = (keys_of(7), keys_of(8));
        let vals = || Some(byteview::ByteView::from(vec![7u8; 116]));
        // Nanoseconds per key of `f`, and what it counted.
        let per_key = |f: &mut dyn FnMut() -> usize| {
            let t0 = std::time::Instant::now();
            let found = f();
            (t0.elapsed().as_nanos() as f64 / n as f64, found)
        };
        for round in 0..2 {
            // One table at a time, each dropped before the other is built.
            let (ins_m, get_m, miss_m) = {
                let mut m: indexmap::IndexMap<fjall::Slice, Val, FastState> = indexmap::IndexMap::default();
                let ins =
                    per_key(&mut || keys.iter().map(|k| m.insert(k.clone(), (1, vals(), 1)).is_none() as usize).sum());
                let get = per_key(&mut || keys.iter().rev().filter(|k| m.get(k.as_ref()).is_some()).count());
                let miss = per_key(&mut || absent.iter().filter(|k| m.get(k.as_ref()).is_some()).count());
                (ins, get, miss)
            };
            let (ins_t, get_t, miss_t) = {
                let mut t: Table<fjall::Slice, Val> = Table::default();
                let ins =
                    per_key(&mut || keys.iter().map(|k| t.insert(k.clone(), (1, vals(), 1)).is_ok() as usize).sum());
                let get = per_key(&mut || keys.iter().rev().filter(|k| t.get(k.as_ref()).is_some()).count());
                let miss = per_key(&mut || absent.iter().filter(|k| t.get(k.as_ref()).is_some()).count());
                (ins, get, miss)
            };
            assert_eq!([ins_m.1, ins_t.1, get_m.1, get_t.1, miss_m.1, miss_t.1], [n, n, n, n, 0, 0]);
            println!(
                "table_cost round {round}: {n} keys: insert {:.0} ns (IndexMap) vs {:.0} ns; \
                 get {:.0} vs {:.0} ns; get of an absent key {:.0} vs {:.0} ns",
                ins_m.0, ins_t.0, get_m.0, get_t.0, miss_m.0, miss_t.0
            );
        }
    }
}
