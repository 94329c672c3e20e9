//! The object cache's table with a count of its entries per group of regions, so that a
//! lookup of a key in a region it holds nothing of costs no probe of the table.
//!
//! A write reaches every server of its chain, but only the head of its region caches it
//! (see `Node::remember_unserved`); the others still look it up, to update an entry the
//! cache may hold from a read or from when this server was the head. In a large table
//! that lookup of an absent key is a cache miss or more per write, at every server after
//! the head. The counts answer it from one small array instead.
//!
//! The counts are exact: every insert and removal goes through this type. A key's group
//! is its region id (`storage::key_region`) modulo [`GROUPS`];
//! regions sharing a group only make a lookup probe when it need not.

use super::storage::key_region;
use super::table::Table;

/// Groups of regions counted apart. Region ids are issued in sequence, so a daemon's
/// regions spread over them.
const GROUPS: usize = 256;

pub struct ObjectCache<K, V> {
    table: Table<K, V>,
    /// Entries per group of regions.
    counts: Box<[usize; GROUPS]>,
}

impl<K, V> Default for ObjectCache<K, V> {
    fn default() -> Self {
        ObjectCache { table: Table::default(), counts: Box::new([0; GROUPS]) }
    }
}

/// The group of a storage key (a key too short to hold a region id has group 0).
fn group(key: &[u8]) -> usize {
    key_region(key).map_or(0, |r| r as usize % GROUPS)
}

impl<K: AsRef<[u8]>, V> ObjectCache<K, V> {
    /// A cache whose table holds at most `max` entries (tests).
    #[cfg(test)]
    pub fn with_max(max: usize) -> Self {
        ObjectCache { table: Table::with_max(max), counts: Box::new([0; GROUPS]) }
    }

    pub fn len(&self) -> usize {
        self.table.len()
    }

    /// See [`Table::hash`].
    pub fn hash(&self, key: &[u8]) -> u64 {
        self.table.hash(key)
    }

    /// See [`Table::prefetch`].
    pub fn prefetch(&self, key: &[u8]) {
        self.table.prefetch(key);
    }

    pub fn get(&self, key: &[u8]) -> Option<&V> {
        if self.counts[group(key)] == 0 {
            return None;
        }
        self.table.get(key)
    }

    pub fn get_mut(&mut self, key: &[u8]) -> Option<&mut V> {
        if self.counts[group(key)] == 0 {
            return None;
        }
        self.table.get_mut(key)
    }

    pub fn get_index(&self, pos: usize) -> Option<(&K, &V)> {
        self.table.get_index(pos)
    }

    /// See [`Table::insert`].
    pub fn insert(&mut self, key: K, value: V) -> Result<Option<V>, (K, V)> {
        let g = group(key.as_ref());
        let out = self.table.insert(key, value);
        if matches!(out, Ok(None)) {
            self.counts[g] += 1;
        }
        out
    }

    pub fn swap_remove_index(&mut self, pos: usize) -> Option<(K, V)> {
        let out = self.table.swap_remove_index(pos);
        if let Some((k, _)) = &out {
            self.counts[group(k.as_ref())] -= 1;
        }
        out
    }

    pub fn swap_remove(&mut self, key: &[u8]) -> Option<V> {
        let out = self.table.swap_remove(key);
        if out.is_some() {
            self.counts[group(key)] -= 1;
        }
        out
    }

    pub fn retain(&mut self, mut keep: impl FnMut(&K, &mut V) -> bool) {
        let counts = &mut self.counts;
        self.table.retain(|k, v| {
            let kept = keep(k, v);
            if !kept {
                counts[group(k.as_ref())] -= 1;
            }
            kept
        });
    }

    /// Whether the counts match the table (tests).
    #[cfg(test)]
    pub fn counts_hold(&self) -> bool {
        let mut want = [0usize; GROUPS];
        for pos in 0..self.table.len() {
            if let Some((k, _)) = self.table.get_index(pos) {
                want[group(k.as_ref())] += 1;
            }
        }
        want == *self.counts
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use byteview::ByteView;
    use proptest::prelude::*;
    use std::collections::HashMap;

    #[derive(Clone, Debug)]
    enum Op {
        Insert(u32, u8, u32),
        Remove(u32, u8),
        RemoveAt(usize),
        Retain(u32),
    }

    fn key(region: u32, k: u8) -> Vec<u8> {
        let mut v = region.to_be_bytes().to_vec();
        v.push(k);
        v
    }

    fn op() -> impl Strategy<Value = Op> {
        // Regions 0-3 and 256-259 (sharing groups), a few keys each.
        let region = prop_oneof![0u32..4, 256u32..260];
        prop_oneof![
            (region.clone(), 0u8..6, any::<u32>()).prop_map(|(r, k, v)| Op::Insert(r, k, v)),
            (region, 0u8..6).prop_map(|(r, k)| Op::Remove(r, k)),
            (0usize..40).prop_map(Op::RemoveAt),
            (0u32..8).prop_map(Op::Retain),
        ]
    }

    proptest! {
        /// Against a map: the same answers for every key after every operation, and the
        /// counts always those of the table (so a lookup skipped for a zero count is never
        /// a miss of an entry that is there).
        #[test]
        fn behaves_as_the_table_and_keeps_exact_counts(ops in proptest::collection::vec(op(), 1..200)) {
            let mut c: ObjectCache<ByteView, u32> = ObjectCache::default();
            let mut model: HashMap<Vec<u8>, u32> = HashMap::new();
            for op in ops {
                match op {
                    Op::Insert(r, k, v) => {
                        let old = c.insert(ByteView::from(key(r, k)), v).unwrap();
                        prop_assert_eq!(old, model.insert(key(r, k), v));
                    }
                    Op::Remove(r, k) => prop_assert_eq!(c.swap_remove(&key(r, k)), model.remove(&key(r, k))),
                    Op::RemoveAt(pos) => match c.swap_remove_index(pos) {
                        Some((k, v)) => prop_assert_eq!(model.remove(&*k), Some(v)),
                        None => prop_assert!(pos >= model.len()),
                    },
                    Op::Retain(m) => {
                        c.retain(|_, v| *v % 8 != m);
                        model.retain(|_, v| *v % 8 != m);
                    }
                }
                prop_assert!(c.counts_hold());
                prop_assert_eq!(c.len(), model.len());
                for r in (0..4).chain(256..260) {
                    for k in 0..6 {
                        let want = model.get(&key(r, k));
                        prop_assert_eq!(c.get(&key(r, k)), want);
                        prop_assert_eq!(c.get_mut(&key(r, k)).map(|v| *v), want.copied());
                    }
                }
            }
        }
    }

    #[test]
    fn a_full_table_counts_only_what_it_took() {
        let mut c: ObjectCache<ByteView, u32> = ObjectCache::with_max(2);
        assert!(c.insert(ByteView::from(key(1, 0)), 0).is_ok());
        assert!(c.insert(ByteView::from(key(1, 1)), 1).is_ok());
        assert!(c.insert(ByteView::from(key(2, 0)), 2).is_err());
        assert!(c.counts_hold());
        assert_eq!(c.get(&key(2, 0)), None);
        assert_eq!(c.get(&key(1, 1)), Some(&1));
        // A short key has a group too.
        assert_eq!(c.swap_remove(&key(1, 0)), Some(0));
        assert!(c.insert(ByteView::from(&b"ab"[..]), 9).is_ok());
        assert_eq!(c.get(b"ab"), Some(&9));
        assert!(c.counts_hold());
    }
}
