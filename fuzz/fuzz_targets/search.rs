//! Search planning and filtering (crates/core/src/search.rs) on a SEARCH_START request
//! (`Msg::decode`) against a space and one object of it, both given in the input
//! (`hyperdex_fuzz::search_input`). Checks are validated against the schema with
//! `ops::validate_check` first; invalid ones are dropped (a daemon refuses them).
//!
//! Properties: nothing panics; `plan` succeeds or answers INTERNAL or OFFLINE, and a plan
//! names distinct regions of its subspace that all have a replica; SOUNDNESS: when the
//! object passes `object_matches`, every subspace's `region_can_match` keeps the region the
//! object lives in (`Space::region_of`), so a successful plan contacts it; when `intervals`
//! finds an empty range (INTERNAL), the object does not match. The daemon's search session
//! (`daemon::search::Searches`) over a snapshot holding the object (and a record cut short,
//! which it must skip) returns the object exactly when it matches, counts it likewise, and
//! its reply decodes back to what it encoded.
#![no_main]

use std::time::Instant;

use hyperdex_core::codes::{DataType, ReturnCode};
use hyperdex_core::ops::validate_check;
use hyperdex_core::proto::{msg, next_object, search_mode, Msg};
use hyperdex_core::search::{intervals, object_matches, plan, region_can_match};
use hyperdex_core::values::validate;
use hyperdex_core::wire::{parse_frame, Reader, MAX_FRAME};
use hyperdex_fuzz::search_input;
use hyperdex_server::daemon::node::Dest;
use hyperdex_server::daemon::search::{Item, Schema, Searches};
use hyperdex_server::daemon::storage::{encode_record, storage_key};
use libfuzzer_sys::fuzz_target;

#[global_allocator]
static ALLOC: hyperdex_fuzz::BudgetAlloc = hyperdex_fuzz::BudgetAlloc;

type Cursor = std::vec::IntoIter<Item<Vec<u8>>>;

fuzz_target!(|data: &[u8]| {
    let _budget = hyperdex_fuzz::alloc_budget(data.len());
    let Some(input) = search_input::split(data) else { return };
    let space = &input.space;
    let types: Vec<DataType> = space.attrs.iter().map(|a| a.dtype).collect();
    let Ok(Msg::SearchStart { mode, checks, sort_attr, limit, maximize, .. }) =
        Msg::decode(msg::SEARCH_START, input.body)
    else {
        return;
    };
    let checks: Vec<_> = checks
        .into_iter()
        .filter_map(|mut c| {
            let t = *types.get(c.attr as usize)?;
            validate_check(t, &mut c).ok().map(|()| c)
        })
        .collect();

    let iv = intervals(space, &checks);
    let planned = plan(space, &checks);
    match (&iv, &planned) {
        (Err(rc), _) => {
            assert_eq!(*rc, ReturnCode::Internal, "intervals of validated checks {checks:?}");
            assert_eq!(planned, Err(ReturnCode::Internal));
        }
        (Ok(_), Err(rc)) => assert_eq!(*rc, ReturnCode::Offline, "plan of {checks:?}"),
        (Ok(_), Ok(p)) => {
            let ss = &space.subspaces[p.subspace];
            assert_eq!(p.total_regions, ss.regions.len());
            assert!(p.regions.windows(2).all(|w| w[0] < w[1]), "{p:?}");
            for &r in &p.regions {
                assert!(!ss.regions[r].replicas.is_empty(), "{p:?} contacts region {r}, which has no replica");
            }
        }
    }

    // The object as a daemon stores it: a valid key (others are refused), and valid values
    // (an invalid one stands for "absent", the empty value).
    let key = input.key;
    if !validate(types[0], key) {
        return;
    }
    let stored: Vec<Vec<u8>> = input
        .values
        .iter()
        .zip(&types[1..])
        .map(|(v, t)| if validate(*t, v) { v.to_vec() } else { Vec::new() })
        .collect();
    let value_of = |a: usize| if a == 0 { key } else { &stored[a - 1][..] };
    let matches =
        object_matches(&types, &checks, key, |a| a.checked_sub(1).and_then(|i| stored.get(i)).map(|v| &v[..]));

    // Where the object lives: one region per subspace.
    let homes: Vec<usize> = space
        .subspaces
        .iter()
        .enumerate()
        .map(|(si, ss)| {
            let home = space.region_of(si, &value_of).expect("the regions of a subspace cover it");
            ss.regions.iter().position(|r| r.id == home.id).expect("region_of gives a region of its subspace")
        })
        .collect();
    assert_eq!(space.key_region(key).map(|r| r.id), Some(space.subspaces[0].regions[homes[0]].id));

    if matches {
        let vals: Vec<&[u8]> = (0..types.len()).map(value_of).collect();
        match &iv {
            Err(_) => panic!("intervals found an empty range for {checks:?}, but {vals:?} matches them"),
            Ok(iv) => {
                for (si, ss) in space.subspaces.iter().enumerate() {
                    assert!(
                        region_can_match(space, &ss.attrs, &ss.regions[homes[si]], iv),
                        "subspace {si} ({:?}) excludes region {} holding {vals:?}, which matches {checks:?}",
                        ss.attrs,
                        homes[si]
                    );
                }
            }
        }
        if let Ok(p) = &planned {
            assert!(
                p.regions.contains(&homes[p.subspace]),
                "{p:?} misses region {} holding {vals:?}, which matches {checks:?}",
                homes[p.subspace]
            );
        }
    }

    // The daemon's session over a snapshot of the object's region, with the request's mode.
    // A daemon refuses a sorted search by a non-primitive attribute.
    if mode == search_mode::SORTED
        && !matches!(types.get(sort_attr as usize), Some(DataType::String | DataType::Int64 | DataType::Float))
    {
        return;
    }
    let region = space.subspaces[0].regions[homes[0]].id;
    let record = encode_record(3, &stored);
    let mut cut = record.clone();
    cut.pop();
    let items: Vec<Item<Vec<u8>>> =
        vec![Ok((storage_key(region, key), record)), Ok((storage_key(region, b"\xffcut"), cut))];
    let mut searches: Searches<Cursor> = Searches::default();
    let mut out = Vec::new();
    let sort = (sort_attr as usize, limit, maximize == 1);
    let schema = Schema { types: types.clone() };
    searches.start(Instant::now(), 1, 7, region, schema, mode, checks.clone(), sort, items.into_iter(), &mut out);
    let mut slices = 0;
    while searches.work(&mut out) {
        slices += 1;
        assert!(slices < 10, "two objects take one slice");
    }
    assert_eq!(searches.open(), 0, "the session ends once its two objects are read");
    assert_eq!(out.len(), 1, "{out:?}");
    let (dest, nonce, reply) = out.pop().unwrap();
    assert!(matches!(dest, Dest::Conn(1)) && nonce == 7);
    let Msg::SearchReply { region: r, rc, done, count, n, ref objects } = reply else { panic!("{reply:?}") };
    assert_eq!((r, rc, done), (region, ReturnCode::Success, true));
    let returned = match mode {
        search_mode::COUNT => {
            assert_eq!(count, matches as u64, "count of {checks:?}");
            false
        }
        search_mode::SORTED => matches && limit > 0,
        _ => matches,
    };
    assert_eq!(n, returned as u32, "{checks:?}, mode {mode}, limit {limit}: matches = {matches}");
    let mut rd = Reader::new(objects);
    if returned {
        let o = next_object(&mut rd).expect("the object returned decodes");
        let want: Vec<&[u8]> = (0..types.len()).map(value_of).collect();
        assert_eq!(o, want);
    }
    assert!(rd.finish().is_ok());
    let mut frame = Vec::new();
    reply.encode(nonce, &mut frame);
    let f = parse_frame(&frame, MAX_FRAME).unwrap().unwrap();
    assert_eq!(Msg::decode(f.msg_type, f.body).as_ref(), Ok(&reply));
});
