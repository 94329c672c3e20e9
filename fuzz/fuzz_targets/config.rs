//! The cluster configuration as the coordinator sends it (`Msg::Config`), decoded by every
//! client and daemon. A configuration that decodes must encode back to the same bytes, and
//! everything a client or daemon then asks of it must answer without panicking.
#![no_main]

use hyperdex_core::config::Configuration;
use libfuzzer_sys::fuzz_target;

#[global_allocator]
static ALLOC: hyperdex_fuzz::BudgetAlloc = hyperdex_fuzz::BudgetAlloc;

fuzz_target!(|data: &[u8]| {
    let _budget = hyperdex_fuzz::alloc_budget(data.len());
    let Ok(c) = Configuration::decode(data) else { return };
    let mut out = Vec::new();
    c.encode(&mut out);
    assert_eq!(out, data, "the configuration re-encodes differently");
    assert_eq!(Configuration::decode(&out).as_ref(), Ok(&c));

    // What clients and daemons do with a configuration they accepted.
    let _ = c.to_text();
    for sp in &c.spaces {
        assert!(c.space(sp.name.as_bytes()).is_some());
        assert!(c.space_by_id(sp.id).is_some());
        let _ = sp.key_type();
        for (i, a) in sp.attrs.iter().enumerate() {
            assert!(sp.attr_index(a.name.as_bytes()).is_some_and(|j| j <= i));
        }
        for key in [&b""[..], b"key", &7i64.to_le_bytes(), &1.5f64.to_le_bytes(), data.get(..9).unwrap_or(data)] {
            let _ = sp.key_region(key);
            for ss in 0..sp.subspaces.len() {
                let _ = sp.region_of(ss, &|_| key);
            }
        }
        for ss in &sp.subspaces {
            for r in &ss.regions {
                assert!(c.region(r.id).is_some());
                for rep in &r.replicas {
                    let _ = c.server_addr(rep.server);
                }
            }
        }
    }
});
