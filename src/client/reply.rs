//! Daemon replies, decoded in place from the read buffer, and the events `loop` hands out.

use std::sync::Arc;

use hyperdex_core::codes::{DataType, ReturnCode};
use hyperdex_core::proto::msg;
use hyperdex_core::wire::{DResult, DecodeError, Reader};

use super::routing::{SchemaAttr, SpaceInfo};

/// What a pending operation waits for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    Get,
    Atomic,
}

/// A decoded reply. For a successful get, `values` is the byte range (relative to the frame
/// body) holding `n` length-prefixed values.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Reply {
    pub(crate) rc: ReturnCode,
    pub(crate) values: Option<(usize, usize, usize)>,
}

/// Decodes the body of a reply frame to an operation of kind `kind` on a space with
/// `nonkey` non-key attributes. The layouts are those of `Msg::GetReply` and
/// `Msg::AtomicReply` (tests check them against `Msg::encode`). A reply of the wrong type, a
/// body that does not parse exactly, or a successful get with the wrong number of values is
/// an error.
pub(crate) fn parse_reply(kind: Kind, msg_type: u8, body: &[u8], nonkey: usize) -> DResult<Reply> {
    let mut r = Reader::new(body);
    let rc = ReturnCode::from_raw(r.u32()?).ok_or(DecodeError)?;
    match (kind, msg_type) {
        (Kind::Atomic, msg::ATOMIC_REPLY) => {
            r.finish()?;
            Ok(Reply { rc, values: None })
        }
        (Kind::Get, msg::GET_REPLY) => {
            let n = r.count(4)?;
            let start = body.len() - r.remaining();
            for _ in 0..n {
                r.bytes()?;
            }
            r.finish()?;
            if rc != ReturnCode::Success {
                return Ok(Reply { rc, values: None });
            }
            if n != nonkey {
                return Err(DecodeError);
            }
            Ok(Reply { rc, values: Some((start, body.len(), n)) })
        }
        _ => Err(DecodeError),
    }
}

/// Fuzzing entry point (fuzz/fuzz_targets/client_reply.rs), not part of the API: parses
/// `body` as the reply of type `msg_type` to a get (`get`) or an atomic operation on a space
/// with `nonkey` non-key attributes, and reads a get's values the way [`Values::iter`] does.
#[doc(hidden)]
pub fn fuzz_parse_reply(
    get: bool,
    msg_type: u8,
    body: &[u8],
    nonkey: usize,
) -> DResult<(ReturnCode, Option<Vec<Vec<u8>>>)> {
    let reply = parse_reply(if get { Kind::Get } else { Kind::Atomic }, msg_type, body, nonkey)?;
    let values = reply.values.map(|(s, e, n)| {
        let attrs = (0..=n).map(|_| SchemaAttr { name: Box::default(), dtype: DataType::String }).collect();
        let space = SpaceInfo { attrs, ..SpaceInfo::empty() };
        ValuesIter { space: &space, rest: &body[s..e], idx: 1, left: n }.map(|(_, _, v)| v.to_vec()).collect()
    });
    Ok((reply.rc, values))
}

/// The attributes of a successful get (one per non-key attribute, in schema order) or of a
/// search result (the key first, then the same), borrowed from the client's buffers (valid
/// until the next call on the client).
pub struct Values<'a> {
    pub(crate) space: Arc<SpaceInfo>,
    /// `n` values, each a `u32 LE` length then the bytes (already checked to parse).
    pub(crate) body: &'a [u8],
    pub(crate) n: usize,
    /// Schema index of the first value: 1 for a get, 0 (the key) for a search result.
    pub(crate) first: usize,
}

impl<'a> Values<'a> {
    /// Number of attributes (the space's non-key attributes; plus the key for a search).
    pub fn len(&self) -> usize {
        self.n
    }

    pub fn is_empty(&self) -> bool {
        self.n == 0
    }

    /// Sum of every value's length.
    pub fn value_bytes(&self) -> usize {
        self.body.len().saturating_sub(4 * self.n)
    }

    /// `(name, declared type, encoded value)` for every non-key attribute, in schema order.
    pub fn iter(&self) -> ValuesIter<'_> {
        ValuesIter { space: &self.space, rest: self.body, idx: self.first, left: self.n }
    }
}

/// Iterator of [`Values::iter`].
#[derive(Clone)]
pub struct ValuesIter<'v> {
    space: &'v SpaceInfo,
    rest: &'v [u8],
    idx: usize,
    left: usize,
}

impl<'v> Iterator for ValuesIter<'v> {
    type Item = (&'v [u8], DataType, &'v [u8]);

    fn next(&mut self) -> Option<Self::Item> {
        if self.left == 0 {
            return None;
        }
        self.left -= 1;
        let mut r = Reader::new(self.rest);
        let value = r.bytes().ok()?;
        self.rest = &self.rest[self.rest.len() - r.remaining()..];
        let attr = self.space.attrs.get(self.idx)?;
        self.idx += 1;
        Some((&attr.name, attr.dtype, value))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.left, Some(self.left))
    }
}

/// One completion handed out by [`super::Client::loop_once`].
pub struct Event<'a, T> {
    /// The id the operation's call returned.
    pub id: i64,
    /// The data given with the call.
    pub user: T,
    /// The operation's outcome.
    pub status: ReturnCode,
    /// For a get that succeeded, and for each object of a search: the object's attributes.
    pub values: Option<Values<'a>>,
    /// count: the number of matches; search_describe: its report.
    pub extra: Extra,
    /// False for an event of a search-type operation that will deliver more events (an
    /// object, or a failed region); true for the operation's last event.
    pub last: bool,
}

/// The result of a count or search_describe, with its (last) event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Extra {
    None,
    Count(u64),
    Text(String),
}

#[cfg(test)]
mod tests {
    use super::*;
    use hyperdex_core::proto::Msg;
    use hyperdex_core::wire::{parse_frame, MAX_FRAME};

    fn frame(m: Msg) -> (u8, Vec<u8>) {
        let mut out = Vec::new();
        m.encode(1, &mut out);
        let f = parse_frame(&out, MAX_FRAME).unwrap().unwrap();
        (f.msg_type, f.body.to_vec())
    }

    #[test]
    fn get_reply_is_found_in_place() {
        let (t, body) = frame(Msg::GetReply { rc: ReturnCode::Success, values: vec![b"ab".to_vec(), vec![]].into() });
        let r = parse_reply(Kind::Get, t, &body, 2).unwrap();
        assert_eq!(r.rc, ReturnCode::Success);
        let (s, e, n) = r.values.unwrap();
        assert_eq!((e, n), (body.len(), 2));
        let mut rd = Reader::new(&body[s..e]);
        assert_eq!(rd.bytes().unwrap(), b"ab");
        assert_eq!(rd.bytes().unwrap(), b"");
        // Wrong number of values for the schema.
        assert!(parse_reply(Kind::Get, t, &body, 3).is_err());
        // Truncations.
        for n in 0..body.len() {
            assert!(parse_reply(Kind::Get, t, &body[..n], 2).is_err());
        }
    }

    #[test]
    fn failed_get_and_atomic_replies() {
        let (t, body) = frame(Msg::GetReply { rc: ReturnCode::NotFound, values: vec![].into() });
        assert_eq!(parse_reply(Kind::Get, t, &body, 4).unwrap(), Reply { rc: ReturnCode::NotFound, values: None });
        let (t, body) = frame(Msg::AtomicReply { rc: ReturnCode::CmpFail });
        assert_eq!(parse_reply(Kind::Atomic, t, &body, 4).unwrap(), Reply { rc: ReturnCode::CmpFail, values: None });
        // A reply of the other kind, or an unknown code, is malformed.
        assert!(parse_reply(Kind::Get, t, &body, 4).is_err());
        assert!(parse_reply(Kind::Atomic, t, &8518u32.to_le_bytes(), 0).is_err());
    }

    proptest::proptest! {
        #[test]
        fn any_bytes_parse_or_fail_without_panicking(
            t in proptest::prelude::any::<u8>(),
            body in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..64),
            nonkey in 0usize..4,
        ) {
            for kind in [Kind::Get, Kind::Atomic] {
                if let Ok(Reply { values: Some((s, e, n)), .. }) = parse_reply(kind, t, &body, nonkey) {
                    // Whatever is accepted iterates cleanly.
                    let mut r = Reader::new(&body[s..e]);
                    for _ in 0..n {
                        proptest::prop_assert!(r.bytes().is_ok());
                    }
                    proptest::prop_assert!(r.finish().is_ok());
                }
            }
        }
    }
}
