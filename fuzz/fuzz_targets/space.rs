//! Space descriptions (`Msg::AddSpace`, `hyperdex add-space`) as the coordinator parses
//! them. A description that parses must render to text that parses to the same description,
//! and rendering must be stable.
#![no_main]

use hyperdex_core::space::{is_valid_name, parse_space, render_space, MAX_PARTITIONS};
use libfuzzer_sys::fuzz_target;

#[global_allocator]
static ALLOC: hyperdex_fuzz::BudgetAlloc = hyperdex_fuzz::BudgetAlloc;

fuzz_target!(|data: &[u8]| {
    let _budget = hyperdex_fuzz::alloc_budget(data.len());
    let Ok(text) = std::str::from_utf8(data) else { return };
    let d = match parse_space(text) {
        Ok(d) => d,
        Err(e) => {
            assert!(!e.message.is_empty());
            return;
        }
    };
    assert!(is_valid_name(&d.name), "{:?}", d.name);
    assert!(!d.attrs.is_empty() && d.attrs[0].dtype.is_primitive());
    for (i, a) in d.attrs.iter().enumerate() {
        assert!(is_valid_name(&a.name) && a.dtype.is_attribute_type(), "{a:?}");
        assert!(d.attrs[..i].iter().all(|b| b.name != a.name), "duplicate {:?}", a.name);
    }
    for ss in &d.subspaces {
        assert!(!ss.is_empty() && ss.iter().all(|&i| i < d.attrs.len()), "{ss:?}");
    }
    assert!((1..=MAX_PARTITIONS).contains(&d.partitions));
    let text2 = render_space(&d);
    let back = parse_space(&text2).unwrap_or_else(|e| panic!("{text2:?} does not parse: {e}"));
    assert_eq!(back, d, "{text2:?}");
    assert_eq!(render_space(&back), text2);
});
