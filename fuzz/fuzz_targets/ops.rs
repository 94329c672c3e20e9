//! An ATOMIC request (`Msg::decode`) applied to a stored object the way the point leader does
//! (crates/server/src/daemon/node.rs): `ops::validate_check` / `validate_func` against the
//! schema, `check_passes`, then `apply_funcs`.
//!
//! Properties: nothing panics; validation is idempotent (the client validates, the daemon
//! validates again); `apply_funcs` gives the same outcome on the raw and the validated
//! functions; on success every attribute still validates against its type, and on failure
//! nothing changed.
#![no_main]

use hyperdex_core::ops::{apply_funcs, check_passes, validate_check, validate_func};
use hyperdex_core::proto::{msg, Msg};
use hyperdex_core::values::validate;
use hyperdex_fuzz::ops_input;
use libfuzzer_sys::fuzz_target;

#[global_allocator]
static ALLOC: hyperdex_fuzz::BudgetAlloc = hyperdex_fuzz::BudgetAlloc;

fuzz_target!(|data: &[u8]| {
    let _budget = hyperdex_fuzz::alloc_budget(data.len());
    let Some(input) = ops_input::split(data) else { return };
    let schema = input.schema;
    // A daemon only stores valid values; an invalid one stands for "absent" (empty).
    let stored: Vec<Vec<u8>> = input
        .values
        .into_iter()
        .zip(&schema[1..])
        .map(|(v, a)| if validate(a.dtype, &v) { v } else { Vec::new() })
        .collect();
    let Ok(Msg::Atomic { key, checks, funcs, .. }) = Msg::decode(msg::ATOMIC, input.atomic_body) else { return };

    for c in &checks {
        let Some(a) = schema.get(c.attr as usize) else { continue };
        let mut vc = c.clone();
        if validate_check(a.dtype, &mut vc).is_err() {
            continue;
        }
        let mut again = vc.clone();
        assert_eq!(validate_check(a.dtype, &mut again), Ok(()), "revalidating {vc:?} for {:?}", a.dtype);
        assert_eq!(again, vc);
        let value = if c.attr == 0 { &key[..] } else { &stored[c.attr as usize - 1][..] };
        let _ = check_passes(a.dtype, value, &vc);
    }

    let mut validated = funcs.clone();
    let mut all_valid = true;
    for f in &mut validated {
        let Some(a) = schema.get(f.attr as usize).filter(|_| f.attr != 0) else {
            all_valid = false;
            continue;
        };
        if validate_func(a.dtype, f).is_err() {
            all_valid = false;
            continue;
        }
        let mut again = f.clone();
        assert_eq!(validate_func(a.dtype, &mut again), Ok(()), "revalidating {f:?} for {:?}", a.dtype);
        assert_eq!(&again, f);
    }

    let mut raw_vals = stored.clone();
    let raw = apply_funcs(&schema, &mut raw_vals, &funcs);
    if !all_valid {
        assert!(raw.is_err(), "apply_funcs accepted a function validate_func refuses");
    }
    let mut vals = stored.clone();
    let res = apply_funcs(&schema, &mut vals, &validated);
    assert_eq!(res, raw, "raw and validated functions differ");
    match res {
        Ok(()) => {
            assert_eq!(vals, raw_vals);
            for (v, a) in vals.iter().zip(&schema[1..]) {
                assert!(validate(a.dtype, v), "{:?} = {v:?} does not validate after {funcs:?}", a.dtype);
            }
        }
        Err(_) => {
            assert_eq!(vals, stored, "a failed apply_funcs changed the object");
            assert_eq!(raw_vals, stored, "a failed apply_funcs changed the object");
        }
    }
});
