//! The coordinator's state machine as a raft snapshot holds it (docs/storage-format.md),
//! and the commands raft log entries carry.
//! A state that decodes must survive encode -> decode unchanged, and encode to the same
//! bytes again (the configuration inside is rebuilt from the state, so the first encoding
//! may differ from the input in how it is laid out).
#![no_main]

use hyperdex_server::coordinator::{Command, CoordState};
use libfuzzer_sys::fuzz_target;

#[global_allocator]
static ALLOC: hyperdex_fuzz::BudgetAlloc = hyperdex_fuzz::BudgetAlloc;

fuzz_target!(|data: &[u8]| {
    let _budget = hyperdex_fuzz::alloc_budget(data.len());
    if let Ok(cmd) = Command::decode(data) {
        assert_eq!(Command::decode(&cmd.encode()), Ok(cmd));
    }
    let Ok(st) = CoordState::decode(data) else { return };
    let enc = st.encode();
    let back = CoordState::decode(&enc).expect("an encoded state decodes");
    assert_eq!(back, st);
    assert_eq!(back.encode(), enc);
    let cfg = st.config();
    assert!(cfg.servers.len() <= st.servers.len());
    let _ = cfg.to_text();
});
