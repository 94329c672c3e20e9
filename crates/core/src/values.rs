//! Value encodings of every datatype (spec/datatypes.md §2): validation, ordering, and
//! conversions used by checks and functions.
//!
//! Encodings, in short: string = raw bytes; int64 / float = 8 bytes little-endian, or 0 bytes
//! meaning 0 / 0.0; a list = its elements back to back (a string element is a u32 LE length
//! then the bytes, a number is 8 bytes LE); a set = a list whose elements are strictly
//! increasing; a map = key, value, key, value, ... with strictly increasing keys.
//!
//! Nothing here panics on malformed input: parsers return `None` and predicates `false`.

use crate::codes::DataType;
use std::cmp::Ordering;

/// True when `value` is a well-formed encoding of `dtype` (int64/float: 0 or 8 bytes; lists
/// parse exactly; sets and maps strictly increasing). GENERIC container types validate as
/// their empty encoding only.
pub fn validate(dtype: DataType, value: &[u8]) -> bool {
    use DataType::*;
    match dtype {
        String => true,
        Int64 | Float => value.is_empty() || value.len() == 8,
        Generic | ListGeneric | SetGeneric | MapGeneric => value.is_empty(),
        Garbage => false,
        _ => match dtype.container() {
            ListGeneric => elements(dtype.elem(), value).is_some(),
            SetGeneric => match elements(dtype.elem(), value) {
                Some(items) => strictly_increasing(dtype.elem(), &items),
                None => false,
            },
            MapGeneric => match map_entries(dtype, value) {
                Some(entries) => {
                    let keys: Vec<&[u8]> = entries.iter().map(|e| e.0).collect();
                    strictly_increasing(dtype.map_key(), &keys)
                }
                None => false,
            },
            _ => false,
        },
    }
}

/// True when every element is strictly smaller than the next one in `elem`'s order.
fn strictly_increasing(elem: DataType, items: &[&[u8]]) -> bool {
    items.windows(2).all(|w| compare(elem, w[0], w[1]) == Ordering::Less)
}

/// The int64 read from an encoding: 8 bytes LE, or 0 for the empty value. `None` for any
/// other length.
pub fn int64_of(value: &[u8]) -> Option<i64> {
    match value.len() {
        0 => Some(0),
        8 => Some(i64::from_le_bytes(value.try_into().ok()?)),
        _ => None,
    }
}

/// The double read from an encoding: 8 bytes LE, or 0.0 for the empty value. `None` for any
/// other length.
pub fn float_of(value: &[u8]) -> Option<f64> {
    match value.len() {
        0 => Some(0.0),
        8 => Some(f64::from_le_bytes(value.try_into().ok()?)),
        _ => None,
    }
}

/// The 8-byte encoding of an int64.
pub fn encode_int64(x: i64) -> Vec<u8> {
    x.to_le_bytes().to_vec()
}

/// The 8-byte encoding of a double.
pub fn encode_float(x: f64) -> Vec<u8> {
    x.to_le_bytes().to_vec()
}

/// The canonical bytes of a primitive value: an empty int64 / float becomes its 8-byte
/// zero; everything else is returned unchanged. This is the form used inside containers and
/// for EQUALS.
pub fn canonical_primitive(dtype: DataType, value: &[u8]) -> Vec<u8> {
    match dtype {
        DataType::Int64 | DataType::Float if value.is_empty() => vec![0u8; 8],
        _ => value.to_vec(),
    }
}

/// Orders two primitive values of type `dtype`: string = bytewise (memcmp on the common
/// prefix, then the shorter first); int64 = signed; float = numeric, where -0.0 == 0.0 and NaN
/// compares equal to everything. Empty numbers count as 0. Malformed numbers (not 0 or 8
/// bytes) and non-primitive types fall back to bytewise order (never a panic).
pub fn compare(dtype: DataType, a: &[u8], b: &[u8]) -> Ordering {
    match dtype {
        DataType::Int64 => match (int64_of(a), int64_of(b)) {
            (Some(x), Some(y)) => x.cmp(&y),
            _ => a.cmp(b),
        },
        DataType::Float => match (float_of(a), float_of(b)) {
            (Some(x), Some(y)) => compare_f64(x, y),
            _ => a.cmp(b),
        },
        // Slice ordering is exactly memcmp-then-length.
        _ => a.cmp(b),
    }
}

/// Numeric order of doubles with NaN equal to everything (the datatype order of floats).
pub fn compare_f64(x: f64, y: f64) -> Ordering {
    if x < y {
        Ordering::Less
    } else if x > y {
        Ordering::Greater
    } else {
        Ordering::Equal
    }
}

/// A total order consistent with [`compare`] wherever `compare` is itself consistent: floats
/// order numerically with -0.0 == 0.0 and every NaN after every number. Used for sorting (a
/// sort needs a total order; NaN-equal-to-everything is not one).
fn sort_order(dtype: DataType, a: &[u8], b: &[u8]) -> Ordering {
    if dtype == DataType::Float {
        if let (Some(x), Some(y)) = (float_of(a), float_of(b)) {
            return match (x.is_nan(), y.is_nan()) {
                (true, true) => Ordering::Equal,
                (true, false) => Ordering::Greater,
                (false, true) => Ordering::Less,
                // Adding 0.0 turns -0.0 into 0.0.
                (false, false) => (x + 0.0).total_cmp(&(y + 0.0)),
            };
        }
    }
    compare(dtype, a, b)
}

/// Splits `bytes` into one element encoding at the front and the rest. For a string element
/// the returned slice is the string's bytes (without the length prefix).
fn split_element(elem: DataType, bytes: &[u8]) -> Option<(&[u8], &[u8])> {
    match elem {
        DataType::String => {
            if bytes.len() < 4 {
                return None;
            }
            let (len, rest) = bytes.split_at(4);
            let n = u32::from_le_bytes(len.try_into().ok()?) as usize;
            if n > rest.len() {
                return None;
            }
            Some(rest.split_at(n))
        }
        DataType::Int64 | DataType::Float => {
            if bytes.len() < 8 {
                return None;
            }
            Some(bytes.split_at(8))
        }
        _ => None,
    }
}

/// The elements of a list or set body whose element type is `elem` (string, int64 or float):
/// string elements without their length prefix, numbers as their 8 bytes. `None` when the
/// bytes do not parse exactly (bad length prefix, trailing bytes, non-primitive `elem`).
/// Order is not checked.
pub fn elements(elem: DataType, bytes: &[u8]) -> Option<Vec<&[u8]>> {
    if !elem.is_primitive() {
        return None;
    }
    let mut out = Vec::new();
    let mut rest = bytes;
    while !rest.is_empty() {
        let (item, tail) = split_element(elem, rest)?;
        out.push(item);
        rest = tail;
    }
    Some(out)
}

/// The `(key, value)` entries of a map value of type `map_type` (a MAP_K_V type; for the
/// KEYONLY map types every value is empty). Strings come without their length prefixes.
/// `None` when the bytes do not parse exactly. Key order is not checked.
pub fn map_entries(map_type: DataType, bytes: &[u8]) -> Option<Vec<(&[u8], &[u8])>> {
    if map_type.container() != DataType::MapGeneric {
        return None;
    }
    let (kt, vt) = (map_type.map_key(), map_type.elem());
    if !kt.is_primitive() || !(vt.is_primitive() || vt == DataType::Generic) {
        return None;
    }
    let mut out = Vec::new();
    let mut rest = bytes;
    while !rest.is_empty() {
        let (k, tail) = split_element(kt, rest)?;
        let (v, tail) = if vt == DataType::Generic { (&tail[..0], tail) } else { split_element(vt, tail)? };
        out.push((k, v));
        rest = tail;
    }
    Some(out)
}

/// The members of any container value: list and set elements, or map keys. `None` for a
/// primitive type or malformed bytes.
pub fn container_members(dtype: DataType, bytes: &[u8]) -> Option<Vec<&[u8]>> {
    match dtype.container() {
        DataType::ListGeneric | DataType::SetGeneric => elements(dtype.elem(), bytes),
        DataType::MapGeneric => Some(map_entries(dtype, bytes)?.into_iter().map(|e| e.0).collect()),
        _ => None,
    }
}

/// Appends the in-container encoding of one primitive value of type `elem` to `out`: a
/// string gets its u32 LE length prefix; a number is written as 8 bytes (an empty number as
/// 8 zero bytes). Returns false (and leaves `out` unchanged) when the value cannot be encoded:
/// a malformed number, a string longer than `u32::MAX` bytes, or a non-primitive `elem`.
pub fn push_element(elem: DataType, value: &[u8], out: &mut Vec<u8>) -> bool {
    match elem {
        DataType::String => match u32::try_from(value.len()) {
            Ok(n) => {
                out.extend_from_slice(&n.to_le_bytes());
                out.extend_from_slice(value);
                true
            }
            Err(_) => false,
        },
        DataType::Int64 | DataType::Float => match value.len() {
            0 => {
                out.extend_from_slice(&[0u8; 8]);
                true
            }
            8 => {
                out.extend_from_slice(value);
                true
            }
            _ => false,
        },
        _ => false,
    }
}

/// Encodes a list of primitive values of type `elem`, in the order given. `None` when an
/// item cannot be encoded (see [`push_element`]).
pub fn encode_list<T: AsRef<[u8]>>(elem: DataType, items: &[T]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    for it in items {
        if !push_element(elem, it.as_ref(), &mut out) {
            return None;
        }
    }
    Some(out)
}

/// Sorts primitive values of type `elem` into the set order and removes duplicates (values
/// that compare equal: for floats -0.0 and 0.0 are one value, and a NaN next to any number is
/// dropped since NaN compares equal to everything). Empty numbers count as 0.
pub fn sort_set_items<T: AsRef<[u8]>>(elem: DataType, items: &mut Vec<T>) {
    items.sort_by(|a, b| sort_order(elem, a.as_ref(), b.as_ref()));
    items.dedup_by(|later, earlier| compare(elem, earlier.as_ref(), later.as_ref()).is_eq());
}

/// Encodes a set of primitive values of type `elem` in canonical form (sorted, duplicates
/// removed as [`sort_set_items`] does), so any input order gives the same bytes. `None` when
/// an item cannot be encoded.
pub fn encode_set<T: AsRef<[u8]>>(elem: DataType, items: &[T]) -> Option<Vec<u8>> {
    let mut refs: Vec<&[u8]> = items.iter().map(|i| i.as_ref()).collect();
    sort_set_items(elem, &mut refs);
    let out = encode_list(elem, &refs)?;
    // As for maps: NaN beside other elements has no valid set encoding.
    validate(DataType::set_of(elem), &out).then_some(out)
}

/// Encodes a map of type `map_type` (MAP_K_V) in canonical form: entries sorted by key, and
/// for keys that compare equal the LAST one given wins (dict semantics). `None` when a key or
/// value cannot be encoded, `map_type` is not a map type with primitive key and value, or no
/// valid encoding exists (a NaN key beside other keys).
pub fn encode_map<K: AsRef<[u8]>, V: AsRef<[u8]>>(map_type: DataType, entries: &[(K, V)]) -> Option<Vec<u8>> {
    if map_type.container() != DataType::MapGeneric {
        return None;
    }
    let (kt, vt) = (map_type.map_key(), map_type.elem());
    if !kt.is_primitive() || !vt.is_primitive() {
        return None;
    }
    let mut refs: Vec<(&[u8], &[u8])> = entries.iter().map(|(k, v)| (k.as_ref(), v.as_ref())).collect();
    // Stable sort: equal keys stay in input order, then keep the last of each run.
    refs.sort_by(|a, b| sort_order(kt, a.0, b.0));
    let mut kept: Vec<(&[u8], &[u8])> = Vec::with_capacity(refs.len());
    for e in refs {
        match kept.last_mut() {
            Some(last) if compare(kt, last.0, e.0).is_eq() => *last = e,
            _ => kept.push(e),
        }
    }
    let mut out = Vec::new();
    for (k, v) in kept {
        if !push_element(kt, k, &mut out) || !push_element(vt, v, &mut out) {
            return None;
        }
    }
    // NaN compares equal to every key, so a map holding NaN beside other keys has no valid
    // encoding (datatypes.md): refuse it rather than return bytes `validate` rejects.
    validate(map_type, &out).then_some(out)
}

/// The length used by the LENGTH_* predicates: a string's byte count, or the element count of
/// a list, set or map. `None` for int64/float, other types, or malformed container bytes.
pub fn length_of(dtype: DataType, value: &[u8]) -> Option<u64> {
    match dtype {
        DataType::String => Some(value.len() as u64),
        _ => match dtype.container() {
            DataType::ListGeneric | DataType::SetGeneric | DataType::MapGeneric => {
                container_members(dtype, value).map(|m| m.len() as u64)
            }
            _ => None,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use DataType::*;

    fn s(x: &str) -> Vec<u8> {
        let mut v = (x.len() as u32).to_le_bytes().to_vec();
        v.extend_from_slice(x.as_bytes());
        v
    }
    fn i(x: i64) -> Vec<u8> {
        x.to_le_bytes().to_vec()
    }
    fn f(x: f64) -> Vec<u8> {
        x.to_le_bytes().to_vec()
    }
    fn cat(parts: &[Vec<u8>]) -> Vec<u8> {
        parts.concat()
    }

    #[test]
    fn primitives() {
        assert!(validate(String, b""));
        assert!(validate(String, b"\xff\x00anything"));
        for t in [Int64, Float] {
            assert!(validate(t, b""));
            assert!(validate(t, &[0u8; 8]));
            for n in [1, 4, 7, 9, 16] {
                assert!(!validate(t, &vec![0u8; n]), "{t:?} {n}");
            }
        }
        assert!(validate(Generic, b""));
        assert!(!validate(Generic, b"x"));
        assert!(!validate(Garbage, b""));
        for t in [ListGeneric, SetGeneric, MapGeneric] {
            assert!(validate(t, b""));
            assert!(!validate(t, &i(1)));
        }
    }

    #[test]
    fn lists() {
        assert!(validate(ListString, b""));
        assert!(validate(ListString, &cat(&[s("b"), s("a"), s("a"), s("")])));
        assert!(!validate(ListString, &[1, 0, 0]));
        assert!(!validate(ListString, &[2, 0, 0, 0, b'a']));
        assert!(!validate(ListString, &cat(&[s("ab"), vec![0]])));
        assert!(validate(ListInt64, &cat(&[i(3), i(-1), i(3)])));
        assert!(!validate(ListInt64, &cat(&[i(3), vec![1, 2]])));
        assert!(validate(ListFloat, &cat(&[f(f64::NAN), f(1.0)])));
        assert_eq!(elements(String, &cat(&[s("x"), s("yz")])), Some(vec![&b"x"[..], &b"yz"[..]]));
        assert_eq!(length_of(ListInt64, &cat(&[i(1), i(2)])), Some(2));
        assert_eq!(length_of(ListInt64, &[1, 2]), None);
    }

    #[test]
    fn sets() {
        assert!(validate(SetString, &cat(&[s(""), s("a"), s("ab"), s("b")])));
        assert!(!validate(SetString, &cat(&[s("b"), s("a")])));
        assert!(!validate(SetString, &cat(&[s("a"), s("a")])));
        assert!(validate(SetInt64, &cat(&[i(-5), i(0), i(7)])));
        assert!(!validate(SetInt64, &cat(&[i(7), i(-5)])));
        assert!(validate(SetFloat, &cat(&[f(-1.5), f(0.0), f(2.0)])));
        assert!(!validate(SetFloat, &cat(&[f(-0.0), f(0.0)])));
        assert!(validate(SetFloat, &f(f64::NAN)));
        assert!(!validate(SetFloat, &cat(&[f(1.0), f(f64::NAN)])));
        assert!(!validate(SetFloat, &cat(&[f(f64::NAN), f(1.0)])));
        assert_eq!(encode_set(Int64, &[i(3), i(-2), i(3), i(0)]), Some(cat(&[i(-2), i(0), i(3)])));
        assert_eq!(
            encode_set(String, &[b"b".to_vec(), b"ab".to_vec(), b"a".to_vec()]),
            Some(cat(&[s("a"), s("ab"), s("b")]))
        );
        assert_eq!(encode_set(Float, &[f(0.0), f(-0.0)]).map(|v| v.len()), Some(8));
        // Empty numbers are 0.
        assert_eq!(encode_set(Int64, &[vec![], i(0)]), Some(i(0)));
        assert_eq!(encode_set(Int64, &[vec![1u8, 2]]), None);
        let nan_set = encode_set(Float, &[f(1.0), f(f64::NAN), f(2.0)]).unwrap();
        assert!(validate(SetFloat, &nan_set));
    }

    #[test]
    fn maps() {
        let m = cat(&[s("a"), i(1), s("b"), i(-2)]);
        assert!(validate(MapStringInt64, &m));
        assert_eq!(length_of(MapStringInt64, &m), Some(2));
        assert!(!validate(MapStringInt64, &cat(&[s("b"), i(1), s("a"), i(-2)])));
        assert!(!validate(MapStringInt64, &cat(&[s("a"), i(1), s("a"), i(-2)])));
        assert!(!validate(MapStringInt64, &cat(&[s("a"), vec![1, 2, 3]])));
        assert!(!validate(MapStringInt64, &s("a")));
        assert!(validate(MapInt64String, &cat(&[i(-1), s("x"), i(4), s("")])));
        assert!(validate(MapFloatFloat, &cat(&[f(-1.0), f(f64::NAN)])));
        assert!(validate(MapStringKeyonly, &cat(&[s("a"), s("b")])));
        assert_eq!(
            encode_map(
                MapStringString,
                &[(b"z".to_vec(), b"1".to_vec()), (b"a".to_vec(), b"2".to_vec()), (b"z".to_vec(), b"3".to_vec())]
            ),
            Some(cat(&[s("a"), s("2"), s("z"), s("3")]))
        );
        assert_eq!(
            container_members(MapInt64Float, &cat(&[i(1), f(1.0), i(2), f(2.0)])),
            Some(vec![&i(1)[..], &i(2)[..]])
        );
        assert_eq!(encode_map(SetString, &[(b"a", b"b")]), None);
    }

    #[test]
    fn ordering() {
        assert_eq!(compare(String, b"ab", b"abc"), Ordering::Less);
        assert_eq!(compare(String, b"b", b"abc"), Ordering::Greater);
        assert_eq!(compare(String, b"\xff", b"\x01"), Ordering::Greater);
        assert_eq!(compare(Int64, &i(-1), &i(1)), Ordering::Less);
        assert_eq!(compare(Int64, b"", &i(0)), Ordering::Equal);
        assert_eq!(compare(Int64, b"", &i(-3)), Ordering::Greater);
        assert_eq!(compare(Float, &f(-0.0), &f(0.0)), Ordering::Equal);
        assert_eq!(compare(Float, &f(f64::NAN), &f(1.0)), Ordering::Equal);
        assert_eq!(compare(Float, &f(-2.5), b""), Ordering::Less);
        assert_eq!(length_of(String, b"abc"), Some(3));
        assert_eq!(length_of(Int64, &i(3)), None);
        assert_eq!(int64_of(&[1, 2]), None);
        assert_eq!(float_of(b""), Some(0.0));
    }

    fn prim() -> impl Strategy<Value = DataType> {
        prop_oneof![Just(String), Just(Int64), Just(Float)]
    }

    fn item(t: DataType) -> BoxedStrategy<Vec<u8>> {
        match t {
            String => proptest::collection::vec(any::<u8>(), 0..6).boxed(),
            Int64 => prop_oneof![any::<i64>(), -3i64..3].prop_map(i).boxed(),
            _ => prop_oneof![any::<f64>(), (-3i32..3).prop_map(|x| x as f64 / 2.0)].prop_map(f).boxed(),
        }
    }

    fn items(t: DataType) -> BoxedStrategy<Vec<Vec<u8>>> {
        proptest::collection::vec(item(t), 0..8).boxed()
    }

    proptest! {
        #[test]
        fn list_round_trip((t, xs) in prim().prop_flat_map(|t| (Just(t), items(t)))) {
            let enc = encode_list(t, &xs).unwrap();
            prop_assert!(validate(DataType::list_of(t), &enc));
            let back: Vec<Vec<u8>> = elements(t, &enc).unwrap().into_iter().map(|x| x.to_vec()).collect();
            prop_assert_eq!(&back, &xs);
            prop_assert_eq!(length_of(DataType::list_of(t), &enc), Some(xs.len() as u64));
            // Any strict prefix that cuts an element is rejected.
            for cut in 1..enc.len() {
                let prefix = &enc[..cut];
                let boundary = {
                    let mut at = 0usize;
                    let mut ok = false;
                    for x in &xs {
                        at += if t == String { 4 + x.len() } else { 8 };
                        if at == cut { ok = true; }
                    }
                    ok
                };
                prop_assert_eq!(validate(DataType::list_of(t), prefix), boundary);
            }
        }

        #[test]
        fn set_round_trip((t, xs) in prim().prop_flat_map(|t| (Just(t), items(t)))) {
            let enc = encode_set(t, &xs).unwrap();
            let st = DataType::set_of(t);
            prop_assert!(validate(st, &enc));
            let members = elements(t, &enc).unwrap();
            // Every input item is represented (equal to some member), none is invented.
            for x in &xs {
                prop_assert!(members.iter().any(|m| compare(t, m, x).is_eq()));
            }
            for m in &members {
                prop_assert!(xs.iter().any(|x| x.as_slice() == *m));
            }
            // Order of input does not matter.
            let mut rev = xs.clone();
            rev.reverse();
            let no_nan = xs.iter().all(|x| t != Float || !float_of(x).unwrap().is_nan());
            if no_nan {
                prop_assert_eq!(length_of(st, &encode_set(t, &rev).unwrap()), length_of(st, &enc));
            }
            // Swapping two members breaks validation.
            if members.len() >= 2 {
                let mut swapped: Vec<&[u8]> = members.clone();
                swapped.swap(0, 1);
                prop_assert!(!validate(st, &encode_list(t, &swapped).unwrap()));
                let mut dup: Vec<&[u8]> = members.clone();
                dup.insert(1, members[0]);
                prop_assert!(!validate(st, &encode_list(t, &dup).unwrap()));
            }
            // Truncation by one byte is always rejected.
            if !enc.is_empty() {
                prop_assert!(!validate(st, &enc[..enc.len() - 1]));
            }
        }

        #[test]
        fn map_round_trip(
            (kt, vt, kvs) in (prim(), prim()).prop_flat_map(|(k, v)| {
                (Just(k), Just(v), proptest::collection::vec((item(k), item(v)), 0..8))
            })
        ) {
            let mt = DataType::map_of(kt, vt);
            let enc = encode_map(mt, &kvs).unwrap();
            prop_assert!(validate(mt, &enc));
            let entries = map_entries(mt, &enc).unwrap();
            let has_nan = kt == Float && kvs.iter().any(|(k, _)| float_of(k).unwrap().is_nan());
            for (k, v) in entries.iter().filter(|_| !has_nan) {
                // Each kept entry is the last input entry with an equal key.
                let last = kvs.iter().rev().find(|(k2, _)| compare(kt, k, k2).is_eq()).unwrap();
                prop_assert_eq!(*v, last.1.as_slice());
            }
            if !enc.is_empty() {
                prop_assert!(!validate(mt, &enc[..enc.len() - 1]));
                let mut extra = enc.clone();
                extra.push(0);
                prop_assert!(!validate(mt, &extra));
            }
        }

        #[test]
        fn garbage_never_panics(t in proptest::sample::select(DataType::ALL.to_vec()),
                                bytes in proptest::collection::vec(any::<u8>(), 0..40)) {
            let _ = validate(t, &bytes);
            let _ = length_of(t, &bytes);
            let _ = container_members(t, &bytes);
            let _ = map_entries(t, &bytes);
            let _ = elements(t, &bytes);
            let _ = compare(t, &bytes, &bytes[bytes.len() / 2..]);
        }
    }
}
