//! Frames and messages as a peer sends them: `wire::parse_frame` over a stream of frames and
//! `proto::Msg::decode` of each body. A body that decodes must encode back to exactly the
//! bytes of its frame (the encoding is canonical), and decode again to the same message.
#![no_main]

use hyperdex_core::proto::Msg;
use hyperdex_core::wire::{parse_frame, HEADER_SIZE, MAX_FRAME};
use libfuzzer_sys::fuzz_target;

#[global_allocator]
static ALLOC: hyperdex_fuzz::BudgetAlloc = hyperdex_fuzz::BudgetAlloc;

fuzz_target!(|data: &[u8]| {
    let _budget = hyperdex_fuzz::alloc_budget(data.len());
    let mut rest = data;
    // Stops at "need more bytes" or at a length a receiver refuses (it closes the connection).
    while let Ok(Some(f)) = parse_frame(rest, MAX_FRAME) {
        assert!(f.size >= HEADER_SIZE && f.size <= rest.len() && f.size - 4 <= MAX_FRAME);
        assert_eq!(f.body.len(), f.size - HEADER_SIZE);
        assert_eq!(u32::from_le_bytes(rest[..4].try_into().unwrap()) as usize, f.size - 4);
        // A smaller limit refuses the frame or finds the same one.
        if let Ok(Some(g)) = parse_frame(rest, 256) {
            assert_eq!((g.msg_type, g.nonce, g.body, g.size), (f.msg_type, f.nonce, f.body, f.size));
        }
        // Every strict prefix of a frame is "need more bytes".
        assert!(matches!(parse_frame(&rest[..f.size - 1], MAX_FRAME), Ok(None)));

        if let Ok(m) = Msg::decode(f.msg_type, f.body) {
            assert_eq!(m.msg_type(), f.msg_type);
            let mut out = Vec::new();
            m.encode(f.nonce, &mut out);
            assert_eq!(out, &rest[..f.size], "{m:?} re-encodes differently");
            let g = parse_frame(&out, MAX_FRAME).unwrap().unwrap();
            assert_eq!(Msg::decode(g.msg_type, g.body).unwrap(), m);
            // Trailing bytes are refused.
            let mut long = f.body.to_vec();
            long.push(0);
            assert!(Msg::decode(f.msg_type, &long).is_err(), "{m:?} accepted a trailing byte");
        }
        rest = &rest[f.size..];
    }
});
