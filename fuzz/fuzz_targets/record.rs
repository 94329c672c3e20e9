//! Stored records (docs/storage-format.md) as a daemon reads them back from disk. A record
//! that decodes must encode back to the same bytes.
#![no_main]

use hyperdex_server::daemon::storage::{decode_record, encode_record, encode_tombstone};
use libfuzzer_sys::fuzz_target;

#[global_allocator]
static ALLOC: hyperdex_fuzz::BudgetAlloc = hyperdex_fuzz::BudgetAlloc;

fuzz_target!(|data: &[u8]| {
    let _budget = hyperdex_fuzz::alloc_budget(data.len());
    let Ok(rec) = decode_record(data) else { return };
    let out = if rec.deleted {
        encode_tombstone(rec.version, rec.deleted_at)
    } else {
        encode_record(rec.version, &rec.values)
    };
    assert_eq!(out, data, "the record re-encodes differently");
    assert_eq!(decode_record(&out).as_ref(), Ok(&rec));
});
