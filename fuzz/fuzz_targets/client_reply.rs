//! Daemon replies as the client parses them in place (src/client/reply.rs, through the
//! hidden entry point `hyperclient::client::fuzz_parse_reply`).
//!
//! Properties: nothing panics; the client accepts a reply exactly when the protocol decoder
//! (`Msg::decode`) does and the reply fits the request (right type; a successful get holds one
//! value per non-key attribute), and both read the same return code and values.
#![no_main]

use hyperclient::client::fuzz_parse_reply;
use hyperdex_core::proto::{msg, Msg};
use hyperdex_core::ReturnCode;
use hyperdex_fuzz::reply_input;
use libfuzzer_sys::fuzz_target;

#[global_allocator]
static ALLOC: hyperdex_fuzz::BudgetAlloc = hyperdex_fuzz::BudgetAlloc;

fuzz_target!(|data: &[u8]| {
    let _budget = hyperdex_fuzz::alloc_budget(data.len());
    let Some(inp) = reply_input::split(data) else { return };
    let ours = fuzz_parse_reply(inp.get, inp.msg_type, inp.body, inp.nonkey);
    let want_type = if inp.get { msg::GET_REPLY } else { msg::ATOMIC_REPLY };
    let reference = if inp.msg_type == want_type { Msg::decode(inp.msg_type, inp.body).ok() } else { None };
    let expected = match reference {
        Some(Msg::AtomicReply { rc }) => Some((rc, None)),
        Some(Msg::GetReply { rc: ReturnCode::Success, values }) if values.len() == inp.nonkey => {
            Some((ReturnCode::Success, Some(values.to_vecs())))
        }
        Some(Msg::GetReply { rc: ReturnCode::Success, .. }) => None,
        Some(Msg::GetReply { rc, .. }) => Some((rc, None)),
        _ => None,
    };
    match (ours, expected) {
        (Ok(got), Some(want)) => assert_eq!(got, want),
        (Err(_), None) => {}
        (got, want) => panic!("client parser: {got:?}, protocol decoder: {want:?}"),
    }
});
