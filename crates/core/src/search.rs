//! Search planning (spec/search.md §4.3) and the per-object filter a daemon applies, without
//! I/O: predicates → an interval per attribute → per subspace, the regions whose boxes can
//! hold a match → the subspace that needs the fewest regions.
//!
//! Intervals come from EQUALS, LESS_EQUAL and GREATER_EQUAL checks on string, int64 and float
//! attributes (the key included); every other predicate narrows nothing here (the daemons
//! still apply it). A region is excluded when one of its dimensions cannot hold a match:
//!
//! * int64 / float: the interval's coordinates (order preserving) miss the region's bounds;
//! * string: the interval is one value (equality) whose hash is outside the region's bounds
//!   (a string range never excludes, hashing does not keep order).

use std::cmp::Ordering;

use crate::codes::{DataType, Predicate, ReturnCode};
use crate::config::{Region, Space};
use crate::hashing::coordinate;
use crate::ops::{check_passes, Check};
use crate::values::compare;

/// The bounds the checks put on one attribute's value (inclusive; None = unbounded).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Interval {
    pub lower: Option<Vec<u8>>,
    pub upper: Option<Vec<u8>>,
}

impl Interval {
    /// A single value (the interval of an equality, or of a range whose ends meet).
    pub fn point(&self, dtype: DataType) -> Option<&[u8]> {
        match (&self.lower, &self.upper) {
            (Some(l), Some(u)) if compare(dtype, l, u) == Ordering::Equal => Some(l),
            _ => None,
        }
    }
}

/// What a search contacts: one subspace, and the regions of it that can hold a match.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Plan {
    /// Index into `space.subspaces`.
    pub subspace: usize,
    /// Indexes into that subspace's regions, in configuration order.
    pub regions: Vec<usize>,
    /// Regions the subspace has in all (for reports).
    pub total_regions: usize,
}

fn orderable(t: DataType) -> bool {
    matches!(t, DataType::String | DataType::Int64 | DataType::Float)
}

/// Per-attribute intervals of validated `checks` (index = schema index). Err(INTERNAL) when
/// one of them is empty (lower > upper), as HyperDex 1.0 reports (spec/search.md §4.3).
pub fn intervals(space: &Space, checks: &[Check]) -> Result<Vec<Interval>, ReturnCode> {
    let mut iv = vec![Interval::default(); space.attrs.len()];
    for c in checks {
        let Some(attr) = space.attrs.get(c.attr as usize) else { return Err(ReturnCode::UnknownAttr) };
        let t = attr.dtype;
        if !orderable(t) {
            continue;
        }
        let i = &mut iv[c.attr as usize];
        let (lo, hi) = match c.predicate {
            Predicate::Equals => (true, true),
            Predicate::GreaterEqual => (true, false),
            Predicate::LessEqual => (false, true),
            _ => (false, false),
        };
        if lo && i.lower.as_ref().is_none_or(|l| compare(t, &c.value, l) == Ordering::Greater) {
            i.lower = Some(c.value.clone());
        }
        if hi && i.upper.as_ref().is_none_or(|u| compare(t, &c.value, u) == Ordering::Less) {
            i.upper = Some(c.value.clone());
        }
        if let (Some(l), Some(u)) = (&i.lower, &i.upper) {
            if compare(t, l, u) == Ordering::Greater {
                return Err(ReturnCode::Internal);
            }
        }
    }
    Ok(iv)
}

/// Whether `region` of a subspace whose dimensions are `dims` (schema indexes) can hold an
/// object within the intervals.
pub fn region_can_match(space: &Space, dims: &[usize], region: &Region, iv: &[Interval]) -> bool {
    for (d, &a) in dims.iter().enumerate() {
        let (Some(lo_b), Some(hi_b)) = (region.lower.get(d), region.upper.get(d)) else { return false };
        let t = space.attrs[a].dtype;
        let i = &iv[a];
        match t {
            DataType::String => {
                if let Some(v) = i.point(t) {
                    let c = coordinate(t, v);
                    if c < *lo_b || c > *hi_b {
                        return false;
                    }
                }
            }
            DataType::Int64 | DataType::Float => {
                if i.lower.as_ref().is_some_and(|l| coordinate(t, l) > *hi_b) {
                    return false;
                }
                if i.upper.as_ref().is_some_and(|u| coordinate(t, u) < *lo_b) {
                    return false;
                }
            }
            _ => {}
        }
    }
    true
}

/// Chooses the subspace and regions for a search with these (validated) checks.
///
/// Every subspace is a candidate; the one with the fewest regions left wins, ties going to
/// the earlier subspace (HyperDex 1.0 took the later one; the key subspace spreads a scan
/// over the daemons and needs no duplicate filter). A subspace is only a candidate when every
/// region it keeps has a replica: a region with none would silently drop its objects, so if
/// no subspace is complete the search is refused with OFFLINE. Empty intervals: INTERNAL.
pub fn plan(space: &Space, checks: &[Check]) -> Result<Plan, ReturnCode> {
    let iv = intervals(space, checks)?;
    let mut best: Option<Plan> = None;
    for (si, ss) in space.subspaces.iter().enumerate() {
        let mut keep = Vec::new();
        let mut complete = true;
        for (ri, r) in ss.regions.iter().enumerate() {
            if region_can_match(space, &ss.attrs, r, &iv) {
                complete &= !r.replicas.is_empty();
                keep.push(ri);
            }
        }
        if !complete {
            continue;
        }
        // Ties keep the earlier subspace, the key's above all: its regions are spread over
        // the daemons by a hash, and objects never move between them (a search of it needs
        // no duplicate filter).
        if best.as_ref().is_none_or(|b| keep.len() < b.regions.len()) {
            best = Some(Plan { subspace: si, regions: keep, total_regions: ss.regions.len() });
        }
    }
    best.ok_or(ReturnCode::Offline)
}

/// Whether an object passes every check. `key` is the key's bytes; `value(i)` gives the
/// stored value of non-key attribute `i` (schema index ≥ 1), None if the record lacks it.
pub fn object_matches<'a>(
    space_attrs: &[DataType],
    checks: &[Check],
    key: &'a [u8],
    value: impl Fn(usize) -> Option<&'a [u8]>,
) -> bool {
    checks.iter().all(|c| {
        let a = c.attr as usize;
        let Some(&t) = space_attrs.get(a) else { return false };
        let v = if a == 0 { Some(key) } else { value(a) };
        v.is_some_and(|v| check_passes(t, v, c))
    })
}

/// Orders two sort values of type `t` (string: bytewise; numbers: numerically; an empty
/// number is 0), for sorted_search.
pub fn sort_order(t: DataType, a: &[u8], b: &[u8]) -> Ordering {
    compare(t, a, b)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Replica, Subspace};
    use crate::hashing::{hash_bytes, partition};
    use crate::space::Attribute;
    use crate::values::{encode_float, encode_int64};

    /// `space phonebook key username attributes first, last, int phone
    ///  subspace first, last, phone create 8 partitions`, every region with one replica.
    fn phonebook(replicas: bool) -> Space {
        let attrs = vec![
            Attribute { name: "username".into(), dtype: DataType::String },
            Attribute { name: "first".into(), dtype: DataType::String },
            Attribute { name: "last".into(), dtype: DataType::String },
            Attribute { name: "phone".into(), dtype: DataType::Int64 },
        ];
        let mut id = 10;
        let mut sub = |dims: Vec<usize>| {
            let regions = partition(dims.len(), 8)
                .into_iter()
                .map(|(lower, upper)| {
                    id += 1;
                    let replicas = if replicas { vec![Replica { server: 1, vid: id }] } else { vec![] };
                    Region { id, lower, upper, replicas, joining: vec![] }
                })
                .collect();
            Subspace { id: 0, attrs: dims, regions }
        };
        let subspaces = vec![sub(vec![0]), sub(vec![1, 2, 3])];
        Space { id: 1, name: "phonebook".into(), fault_tolerance: 0, attrs, subspaces }
    }

    fn chk(attr: u16, predicate: Predicate, dtype: DataType, value: Vec<u8>) -> Check {
        Check { attr, predicate, dtype, value }
    }
    fn s(attr: u16, p: Predicate, v: &str) -> Check {
        chk(attr, p, DataType::String, v.as_bytes().to_vec())
    }
    fn i(attr: u16, p: Predicate, v: i64) -> Check {
        chk(attr, p, DataType::Int64, encode_int64(v))
    }

    #[test]
    fn region_counts_per_predicate() {
        use Predicate::*;
        let sp = phonebook(true);
        // partition(3, 8) = 12 regions: 3 x 2 x 2 over (first, last, phone).
        assert_eq!(sp.subspaces[1].regions.len(), 12);
        let table: Vec<(Vec<Check>, usize, usize)> = vec![
            // (checks, subspace chosen, regions contacted)
            (vec![], 0, 8),
            (vec![s(0, Equals, "jsmith1")], 0, 1),
            // first alone fixes one of 3 intervals: 4 regions, fewer than 8 key regions.
            (vec![s(1, Equals, "John")], 1, 4),
            (vec![s(1, Equals, "John"), s(2, Equals, "Smith")], 1, 2),
            (vec![s(1, Equals, "John"), s(2, Equals, "Smith"), i(3, Equals, 6075551024)], 1, 1),
            // A string range narrows nothing: all 12 > 8 key regions.
            (vec![s(1, GreaterEqual, "Jack"), s(1, LessEqual, "Joseph")], 0, 8),
            // phone >= 0 is the upper half of the phone axis: 6 regions.
            (vec![i(3, GreaterEqual, 0)], 1, 6),
            (vec![i(3, GreaterEqual, 6075551024), i(3, LessEqual, 6075551025)], 1, 6),
            (vec![i(3, LessEqual, -1)], 1, 6),
            // Other predicates never narrow.
            (vec![s(1, Regex, "^J")], 0, 8),
            (vec![chk(1, LengthEquals, DataType::Int64, encode_int64(4))], 0, 8),
        ];
        for (checks, ss, n) in table {
            let p = plan(&sp, &checks).unwrap();
            assert_eq!((p.subspace, p.regions.len()), (ss, n), "{checks:?}");
        }
    }

    #[test]
    fn the_chosen_regions_hold_every_match() {
        let sp = phonebook(true);
        let first = "John";
        let phone = 6075551024i64;
        let checks = vec![s(1, Predicate::Equals, first), i(3, Predicate::Equals, phone)];
        let p = plan(&sp, &checks).unwrap();
        for last in ["Smith", "Doe", "", "Zed"] {
            let vals = [b"u".to_vec(), first.as_bytes().to_vec(), last.as_bytes().to_vec(), encode_int64(phone)];
            let home = sp.region_of(p.subspace, &|a| vals[a].as_slice()).unwrap().id;
            let regions = &sp.subspaces[p.subspace].regions;
            assert!(p.regions.iter().any(|&r| regions[r].id == home), "{last}");
        }
        // The coordinate the planner used is the one placement uses.
        assert!(region_can_match(
            &sp,
            &[1],
            &Region {
                id: 0,
                lower: vec![hash_bytes(b"John")],
                upper: vec![hash_bytes(b"John")],
                replicas: vec![],
                joining: vec![]
            },
            &intervals(&sp, &checks).unwrap()
        ));
    }

    #[test]
    fn empty_ranges_and_missing_replicas() {
        use Predicate::*;
        let sp = phonebook(true);
        for checks in [
            vec![i(3, GreaterEqual, 5), i(3, LessEqual, 4)],
            vec![i(3, Equals, 5), i(3, Equals, 6)],
            vec![s(1, GreaterEqual, "b"), s(1, LessEqual, "a")],
            vec![s(0, Equals, "x"), s(0, Equals, "y")],
        ] {
            assert_eq!(plan(&sp, &checks), Err(ReturnCode::Internal), "{checks:?}");
        }
        // A range whose ends meet is fine (it is an equality).
        assert!(plan(&sp, &[i(3, GreaterEqual, 5), i(3, LessEqual, 5)]).is_ok());
        // No region with a replica anywhere: OFFLINE rather than a silently partial search.
        assert_eq!(plan(&phonebook(false), &[]), Err(ReturnCode::Offline));
        // One key region lost: a search that needs it goes to the other subspace.
        let mut sp = phonebook(true);
        sp.subspaces[0].regions[3].replicas.clear();
        let p = plan(&sp, &[]).unwrap();
        assert_eq!((p.subspace, p.regions.len()), (1, 12));
        let key_in_3 = (0..)
            .map(|n| format!("k{n}"))
            .find(|k| sp.key_region(k.as_bytes()).unwrap().id == sp.subspaces[0].regions[3].id)
            .unwrap();
        let p = plan(&sp, &[s(0, Equals, &key_in_3)]).unwrap();
        assert_eq!(p.subspace, 1);
    }

    #[test]
    fn float_ranges_prune_by_order() {
        let attrs = vec![
            Attribute { name: "k".into(), dtype: DataType::String },
            Attribute { name: "x".into(), dtype: DataType::Float },
        ];
        let regions = partition(1, 4)
            .into_iter()
            .enumerate()
            .map(|(n, (lower, upper))| Region {
                id: n as u64,
                lower,
                upper,
                replicas: vec![Replica { server: 1, vid: 1 }],
                joining: vec![],
            })
            .collect::<Vec<_>>();
        let key = Subspace { id: 0, attrs: vec![0], regions: regions.clone() };
        let xs = Subspace { id: 1, attrs: vec![1], regions };
        let sp = Space { id: 1, name: "f".into(), fault_tolerance: 0, attrs, subspaces: vec![key, xs] };
        let f = |p, v: f64| chk(1, p, DataType::Float, encode_float(v));
        // Non-negative floats live in the upper half of the axis: 2 of 4 regions.
        let p = plan(&sp, &[f(Predicate::GreaterEqual, 0.0)]).unwrap();
        assert_eq!((p.subspace, p.regions.len()), (1, 2));
        let p = plan(&sp, &[f(Predicate::LessEqual, -1.5)]).unwrap();
        assert_eq!((p.subspace, p.regions.len()), (1, 2));
        assert_eq!(
            plan(&sp, &[f(Predicate::GreaterEqual, 2.0), f(Predicate::LessEqual, 1.0)]),
            Err(ReturnCode::Internal)
        );
    }

    #[test]
    fn objects_match_conjunctions() {
        let types = [DataType::String, DataType::String, DataType::String, DataType::Int64];
        let vals: [Vec<u8>; 4] = [b"u1".to_vec(), b"John".to_vec(), b"Smith".to_vec(), encode_int64(7)];
        let get = |a: usize| Some(vals[a].as_slice());
        let m = |checks: &[Check]| object_matches(&types, checks, b"u1", get);
        assert!(m(&[]));
        assert!(m(&[s(1, Predicate::Equals, "John"), i(3, Predicate::LessEqual, 7)]));
        assert!(!m(&[s(1, Predicate::Equals, "John"), i(3, Predicate::LessEqual, 6)]));
        assert!(m(&[s(0, Predicate::Regex, "^u")]));
        assert!(!m(&[s(0, Predicate::Regex, "^x")]));
        // A record missing the attribute matches nothing that names it.
        assert!(!object_matches(&types, &[i(3, Predicate::GreaterEqual, 0)], b"u1", |_| None));
    }
}
