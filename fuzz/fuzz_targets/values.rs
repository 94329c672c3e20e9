//! Value encodings of every datatype (docs: spec/datatypes.md), as they arrive in requests,
//! replies and stored records: `values::validate` and the parsers behind it.
//!
//! Properties: nothing panics; a valid container re-encodes to exactly its bytes through the
//! public encoders (`encode_list`, `encode_set`, `encode_map`); any parsed set or map put in
//! canonical form by those encoders validates; `length_of` counts what the parsers find; and
//! `compare` is antisymmetric.
#![no_main]

use hyperdex_core::codes::DataType;
use hyperdex_core::values::{
    compare, container_members, elements, encode_list, encode_map, encode_set, float_of, int64_of, length_of,
    map_entries, validate,
};
use hyperdex_fuzz::values_input;
use libfuzzer_sys::fuzz_target;

#[global_allocator]
static ALLOC: hyperdex_fuzz::BudgetAlloc = hyperdex_fuzz::BudgetAlloc;

fuzz_target!(|data: &[u8]| {
    let _budget = hyperdex_fuzz::alloc_budget(data.len());
    let Some((t, v)) = values_input::split(data) else { return };
    let valid = validate(t, v);
    let members = container_members(t, v);
    let len = length_of(t, v);
    let _ = map_entries(t, v);
    let _ = elements(t, v);

    // compare is antisymmetric on any bytes (malformed numbers fall back to bytewise order).
    let (a, b) = v.split_at(v.len() / 2);
    assert_eq!(compare(t, a, b), compare(t, b, a).reverse());
    assert_eq!(compare(t.elem(), a, b), compare(t.elem(), b, a).reverse());

    use DataType::*;
    match t {
        String => assert!(valid),
        Int64 => assert_eq!(valid, int64_of(v).is_some()),
        Float => assert_eq!(valid, float_of(v).is_some()),
        Generic | ListGeneric | SetGeneric | MapGeneric => assert_eq!(valid, v.is_empty()),
        Garbage => assert!(!valid),
        _ => {}
    }
    if let (Some(m), Some(n)) = (&members, len) {
        assert_eq!(m.len() as u64, n);
    }

    let elem = t.elem();
    match t.container() {
        ListGeneric if t != ListGeneric => {
            let items = elements(elem, v);
            assert_eq!(valid, items.is_some());
            if let Some(items) = items {
                assert_eq!(encode_list(elem, &items).as_deref(), Some(v), "list re-encodes differently");
                assert_eq!(len, Some(items.len() as u64));
            }
        }
        SetGeneric if t != SetGeneric => {
            let Some(items) = elements(elem, v) else {
                assert!(!valid);
                return;
            };
            // None only when no valid encoding exists (NaN beside other elements).
            let Some(canonical) = encode_set(elem, &items) else {
                assert!(!valid, "a valid set must encode");
                return;
            };
            assert!(validate(t, &canonical), "encode_set gave an invalid {t:?}: {canonical:?}");
            if valid {
                assert_eq!(canonical, v, "a valid set is not in canonical form");
            }
            // Canonical form is a fixed point.
            let again = elements(elem, &canonical).unwrap();
            assert_eq!(encode_set(elem, &again).as_deref(), Some(&canonical[..]));
        }
        MapGeneric if t != MapGeneric => {
            let Some(entries) = map_entries(t, v) else {
                assert!(!valid);
                return;
            };
            let keys: Vec<&[u8]> = entries.iter().map(|e| e.0).collect();
            if elem == Generic {
                // KEYONLY maps: keys back to back, no values.
                assert!(entries.iter().all(|e| e.1.is_empty()));
                assert_eq!(encode_list(t.map_key(), &keys).as_deref(), Some(v));
                return;
            }
            // None only when no valid encoding exists (a NaN key beside other keys; the bug
            // corpus/values/regression-encode_map-nan-key returned invalid bytes instead).
            let Some(canonical) = encode_map(t, &entries) else {
                assert!(!valid, "a valid map must encode");
                return;
            };
            assert!(validate(t, &canonical), "encode_map gave an invalid {t:?}: {canonical:?}");
            if valid {
                assert_eq!(canonical, v, "a valid map is not in canonical form");
            }
        }
        _ => {}
    }
});
