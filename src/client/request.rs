//! Building key-operation requests: the argument views, the table of operations, validation
//! against the cached schema (with the negative offsets of spec/client-api.md §3.6), and the
//! request encodings.
//!
//! Validation reuses the client's scratch `Check`/`Func` values, so a request costs no
//! allocation once the client is warm; frames are encoded straight into the connection's
//! write buffer.

use hyperdex_core::codes::{DataType, Predicate, ReturnCode};
use hyperdex_core::ops::{encode_check, encode_func, validate_check, validate_func, Check, Func, FuncOp};
use hyperdex_core::proto::{flags, msg};
use hyperdex_core::wire::{begin_frame, end_frame, Writer};

use super::routing::SpaceInfo;

/// A request refused before it was sent: the (negative) value the C call returns and the
/// status it reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OpError {
    pub offset: i64,
    pub status: ReturnCode,
}

impl OpError {
    pub(crate) fn new(offset: i64, status: ReturnCode) -> OpError {
        OpError { offset, status }
    }
    /// A failure that names no argument (-1).
    pub(crate) fn whole(status: ReturnCode) -> OpError {
        OpError { offset: -1, status }
    }
}

/// A view of one `(name, value, datatype)` argument. `None` stands for a NULL pointer
/// where bytes were required (the call is then refused).
pub trait AttrInput {
    fn name(&self) -> Option<&[u8]>;
    fn value(&self) -> Option<&[u8]>;
    /// The raw `enum hyperdatatype` number (unknown numbers are refused with WRONGTYPE).
    fn datatype(&self) -> u32;
}

/// A view of one condition of a `cond_*` operation.
pub trait CheckInput: AttrInput {
    /// The raw `enum hyperpredicate` number.
    fn predicate(&self) -> u32;
}

/// A view of one `(name, map key, value)` argument of a map operation.
pub trait MapAttrInput {
    fn name(&self) -> Option<&[u8]>;
    fn map_key(&self) -> Option<&[u8]>;
    fn map_key_datatype(&self) -> u32;
    fn value(&self) -> Option<&[u8]>;
    fn value_datatype(&self) -> u32;
}

/// An attribute argument from Rust.
#[derive(Clone, Copy, Debug)]
pub struct Attribute<'a> {
    pub name: &'a [u8],
    pub value: &'a [u8],
    pub datatype: DataType,
}

impl AttrInput for Attribute<'_> {
    fn name(&self) -> Option<&[u8]> {
        Some(self.name)
    }
    fn value(&self) -> Option<&[u8]> {
        Some(self.value)
    }
    fn datatype(&self) -> u32 {
        self.datatype as u32
    }
}

/// A condition from Rust.
#[derive(Clone, Copy, Debug)]
pub struct AttributeCheck<'a> {
    pub name: &'a [u8],
    pub value: &'a [u8],
    pub datatype: DataType,
    pub predicate: Predicate,
}

impl AttrInput for AttributeCheck<'_> {
    fn name(&self) -> Option<&[u8]> {
        Some(self.name)
    }
    fn value(&self) -> Option<&[u8]> {
        Some(self.value)
    }
    fn datatype(&self) -> u32 {
        self.datatype as u32
    }
}

impl CheckInput for AttributeCheck<'_> {
    fn predicate(&self) -> u32 {
        self.predicate as u32
    }
}

/// A map-entry argument from Rust.
#[derive(Clone, Copy, Debug)]
pub struct MapAttribute<'a> {
    pub name: &'a [u8],
    pub map_key: &'a [u8],
    pub map_key_datatype: DataType,
    pub value: &'a [u8],
    pub value_datatype: DataType,
}

impl MapAttrInput for MapAttribute<'_> {
    fn name(&self) -> Option<&[u8]> {
        Some(self.name)
    }
    fn map_key(&self) -> Option<&[u8]> {
        Some(self.map_key)
    }
    fn map_key_datatype(&self) -> u32 {
        self.map_key_datatype as u32
    }
    fn value(&self) -> Option<&[u8]> {
        Some(self.value)
    }
    fn value_datatype(&self) -> u32 {
        self.value_datatype as u32
    }
}

/// An owned copy of an attribute argument (kept while an operation waits for a
/// configuration).
#[derive(Clone, Debug)]
pub(crate) struct OwnedAttr {
    name: Option<Vec<u8>>,
    value: Option<Vec<u8>>,
    datatype: u32,
}

impl OwnedAttr {
    pub(crate) fn of<A: AttrInput>(a: &A) -> OwnedAttr {
        OwnedAttr { name: a.name().map(<[u8]>::to_vec), value: a.value().map(<[u8]>::to_vec), datatype: a.datatype() }
    }
}

impl AttrInput for OwnedAttr {
    fn name(&self) -> Option<&[u8]> {
        self.name.as_deref()
    }
    fn value(&self) -> Option<&[u8]> {
        self.value.as_deref()
    }
    fn datatype(&self) -> u32 {
        self.datatype
    }
}

/// An owned copy of a check.
#[derive(Clone, Debug)]
pub(crate) struct OwnedCheck {
    attr: OwnedAttr,
    predicate: u32,
}

impl OwnedCheck {
    pub(crate) fn of<C: CheckInput>(c: &C) -> OwnedCheck {
        OwnedCheck { attr: OwnedAttr::of(c), predicate: c.predicate() }
    }
}

impl AttrInput for OwnedCheck {
    fn name(&self) -> Option<&[u8]> {
        self.attr.name()
    }
    fn value(&self) -> Option<&[u8]> {
        self.attr.value()
    }
    fn datatype(&self) -> u32 {
        self.attr.datatype
    }
}

impl CheckInput for OwnedCheck {
    fn predicate(&self) -> u32 {
        self.predicate
    }
}

/// An owned copy of a map-entry argument.
#[derive(Clone, Debug)]
pub(crate) struct OwnedMap {
    name: Option<Vec<u8>>,
    map_key: Option<Vec<u8>>,
    map_key_datatype: u32,
    value: Option<Vec<u8>>,
    value_datatype: u32,
}

impl OwnedMap {
    pub(crate) fn of<M: MapAttrInput>(m: &M) -> OwnedMap {
        OwnedMap {
            name: m.name().map(<[u8]>::to_vec),
            map_key: m.map_key().map(<[u8]>::to_vec),
            map_key_datatype: m.map_key_datatype(),
            value: m.value().map(<[u8]>::to_vec),
            value_datatype: m.value_datatype(),
        }
    }
}

impl MapAttrInput for OwnedMap {
    fn name(&self) -> Option<&[u8]> {
        self.name.as_deref()
    }
    fn map_key(&self) -> Option<&[u8]> {
        self.map_key.as_deref()
    }
    fn map_key_datatype(&self) -> u32 {
        self.map_key_datatype
    }
    fn value(&self) -> Option<&[u8]> {
        self.value.as_deref()
    }
    fn value_datatype(&self) -> u32 {
        self.value_datatype
    }
}

/// What a key operation asks of the point leader: its flags, the function applied to each
/// plain attribute argument, and the one applied to each map-entry argument. The `cond_`
/// form of an operation is the same `KeyOp` called with a non-empty list of checks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KeyOp {
    pub(crate) flags: u8,
    pub(crate) attr_op: Option<FuncOp>,
    pub(crate) map_op: Option<FuncOp>,
}

const NF: u8 = flags::FAIL_IF_NOT_FOUND;

const fn attrs(op: FuncOp) -> KeyOp {
    KeyOp { flags: NF, attr_op: Some(op), map_op: None }
}

const fn map(op: FuncOp) -> KeyOp {
    KeyOp { flags: NF, attr_op: None, map_op: Some(op) }
}

/// Defines the `KeyOp` of every row of the key-operation table (client/optable.rs).
macro_rules! key_op_consts {
    ($( $name:ident : $op:ident = $def:expr, $shape:ident, $doc:literal
        $(, cond $cname:ident $( $cop:ident $(= $cdef:expr)?, $cdoc:literal )? )? ; )*) => {
        impl KeyOp {
            $(
                #[doc = $doc]
                pub const $op: KeyOp = $def;
                $($($(
                    #[doc = $cdoc]
                    pub const $cop: KeyOp = $cdef;
                )?)?)?
            )*
        }
    };
}

crate::with_key_ops!(key_op_consts);

impl KeyOp {
    /// The flag bits sent with the request (`proto::flags`).
    pub fn flags(self) -> u8 {
        self.flags
    }
}

/// The return value naming argument `idx` after `base` earlier arguments (§3.6: check i is
/// `-2 - i`, attribute j is `-2 - checks_sz - j`, ...), saturating for absurd sizes.
pub(crate) fn offset(base: usize, idx: usize) -> i64 {
    let n = i64::try_from(base.saturating_add(idx)).unwrap_or(i64::MAX - 2);
    (-2i64).saturating_sub(n)
}

/// Validated checks and functions of the request being built, kept between calls so their
/// buffers are reused.
#[derive(Default)]
pub(crate) struct Scratch {
    checks: Vec<Check>,
    n_checks: usize,
    funcs: Vec<Func>,
    n_funcs: usize,
}

/// Scratch vectors longer than this are trimmed after a request (bounds idle memory).
const SCRATCH_KEEP: usize = 64;

impl Scratch {
    pub(crate) fn checks(&self) -> &[Check] {
        &self.checks[..self.n_checks]
    }

    pub(crate) fn funcs(&self) -> &[Func] {
        &self.funcs[..self.n_funcs]
    }

    pub(crate) fn trim(&mut self) {
        self.checks.truncate(SCRATCH_KEEP);
        self.funcs.truncate(SCRATCH_KEEP);
    }

    fn next_check(&mut self) -> &mut Check {
        if self.n_checks == self.checks.len() {
            self.checks.push(Check {
                attr: 0,
                predicate: Predicate::Fail,
                dtype: DataType::Generic,
                value: Vec::new(),
            });
        }
        self.n_checks += 1;
        &mut self.checks[self.n_checks - 1]
    }

    fn next_func(&mut self) -> &mut Func {
        if self.n_funcs == self.funcs.len() {
            self.funcs.push(Func {
                attr: 0,
                op: FuncOp::Set,
                arg_type: DataType::Generic,
                arg: Vec::new(),
                map_key: None,
            });
        }
        self.n_funcs += 1;
        &mut self.funcs[self.n_funcs - 1]
    }
}

/// int64 and float keys are 8 bytes, or 0 (the empty value); string keys are any bytes.
pub(crate) fn validate_key(key_type: DataType, key: &[u8]) -> Result<(), OpError> {
    match key_type {
        DataType::Int64 | DataType::Float if !(key.is_empty() || key.len() == 8) => {
            Err(OpError::whole(ReturnCode::WrongType))
        }
        _ => Ok(()),
    }
}

/// Schema index of an argument's attribute, or UNKNOWNATTR at `off`.
fn lookup(space: &SpaceInfo, name: Option<&[u8]>, off: i64) -> Result<(u16, DataType), OpError> {
    let unknown = OpError::new(off, ReturnCode::UnknownAttr);
    let idx = space.attr_index(name.ok_or(unknown)?).ok_or(unknown)?;
    let idx16 = u16::try_from(idx).map_err(|_| unknown)?;
    Ok((idx16, space.attr_type(idx).ok_or(unknown)?))
}

fn dtype(raw: u32, off: i64) -> Result<DataType, OpError> {
    DataType::from_raw(raw).ok_or(OpError::new(off, ReturnCode::WrongType))
}

fn set_bytes(dst: &mut Vec<u8>, src: &[u8]) {
    dst.clear();
    dst.extend_from_slice(src);
}

/// Validates one check into `chk` (refusals name `off`).
fn check_into<C: CheckInput>(space: &SpaceInfo, c: &C, off: i64, chk: &mut Check) -> Result<(), OpError> {
    let (idx, attr_type) = lookup(space, c.name(), off)?;
    let wrong = OpError::new(off, ReturnCode::WrongType);
    let predicate = Predicate::from_raw(c.predicate()).ok_or(wrong)?;
    let dt = dtype(c.datatype(), off)?;
    let value = c.value().ok_or(wrong)?;
    chk.attr = idx;
    chk.predicate = predicate;
    chk.dtype = dt;
    set_bytes(&mut chk.value, value);
    validate_check(attr_type, chk).map_err(|rc| OpError::new(off, rc))
}

/// Validates the checks of a search-type call; check `i` is refused with `off(i)`.
pub(crate) fn validate_checks<C: CheckInput>(
    space: &SpaceInfo,
    checks: &[C],
    off: impl Fn(usize) -> i64,
) -> Result<Vec<Check>, OpError> {
    let mut out = Vec::with_capacity(checks.len());
    for (i, c) in checks.iter().enumerate() {
        let mut chk = Check { attr: 0, predicate: Predicate::Fail, dtype: DataType::Generic, value: Vec::new() };
        check_into(space, c, off(i), &mut chk)?;
        out.push(chk);
    }
    Ok(out)
}

/// Validates every check, attribute and map attribute of a key operation, in that order
/// (spec/client-api.md §5.1), leaving the checks and functions to send in `s`.
pub(crate) fn prepare<C: CheckInput, A: AttrInput, M: MapAttrInput>(
    s: &mut Scratch,
    space: &SpaceInfo,
    op: KeyOp,
    checks: &[C],
    attrs: &[A],
    mapattrs: &[M],
) -> Result<(), OpError> {
    s.n_checks = 0;
    s.n_funcs = 0;
    for (i, c) in checks.iter().enumerate() {
        let chk = s.next_check();
        check_into(space, c, offset(0, i), chk)?;
    }
    for (j, a) in attrs.iter().enumerate() {
        let off = offset(checks.len(), j);
        let (idx, attr_type) = lookup(space, a.name(), off)?;
        if idx == 0 {
            return Err(OpError::new(off, ReturnCode::DontUseKey));
        }
        let wrong = OpError::new(off, ReturnCode::WrongType);
        let func_op = op.attr_op.ok_or(wrong)?;
        let dt = dtype(a.datatype(), off)?;
        let value = a.value().ok_or(wrong)?;
        let f = s.next_func();
        f.attr = idx;
        f.op = func_op;
        f.arg_type = dt;
        set_bytes(&mut f.arg, value);
        f.map_key = None;
        validate_func(attr_type, f).map_err(|rc| OpError::new(off, rc))?;
    }
    for (k, m) in mapattrs.iter().enumerate() {
        let off = offset(checks.len().saturating_add(attrs.len()), k);
        let (idx, attr_type) = lookup(space, m.name(), off)?;
        if idx == 0 {
            return Err(OpError::new(off, ReturnCode::DontUseKey));
        }
        let wrong = OpError::new(off, ReturnCode::WrongType);
        let func_op = op.map_op.ok_or(wrong)?;
        let kt = dtype(m.map_key_datatype(), off)?;
        let vt = dtype(m.value_datatype(), off)?;
        let key = m.map_key().ok_or(wrong)?;
        let value = m.value().ok_or(wrong)?;
        let f = s.next_func();
        f.attr = idx;
        f.op = func_op;
        f.arg_type = vt;
        set_bytes(&mut f.arg, value);
        match &mut f.map_key {
            Some((t, k)) => {
                *t = kt;
                set_bytes(k, key);
            }
            None => f.map_key = Some((kt, key.to_vec())),
        }
        validate_func(attr_type, f).map_err(|rc| OpError::new(off, rc))?;
    }
    Ok(())
}

/// Appends a `Msg::Get` frame (same bytes as `Msg::encode`; checked by a test).
pub(crate) fn encode_get(out: &mut Vec<u8>, nonce: u64, version: u64, region: u64, key: &[u8]) {
    let start = begin_frame(out, msg::GET, nonce);
    Writer::new(out).u64(version).u64(region).bytes(key);
    end_frame(out, start);
}

/// Appends a `Msg::Atomic` frame (same bytes as `Msg::encode`; checked by a test).
#[allow(clippy::too_many_arguments)]
pub(crate) fn encode_atomic(
    out: &mut Vec<u8>,
    nonce: u64,
    version: u64,
    region: u64,
    key: &[u8],
    flags: u8,
    checks: &[Check],
    funcs: &[Func],
) {
    let start = begin_frame(out, msg::ATOMIC, nonce);
    let mut w = Writer::new(out);
    w.u64(version).u64(region).bytes(key).u8(flags).count(checks.len());
    for c in checks {
        encode_check(&mut w, c);
    }
    w.count(funcs.len());
    for f in funcs {
        encode_func(&mut w, f);
    }
    end_frame(out, start);
}

#[cfg(test)]
mod tests {
    use super::*;
    use hyperdex_core::proto::Msg;

    #[test]
    fn direct_encodings_match_the_protocol_encoder() {
        let checks =
            vec![Check { attr: 1, predicate: Predicate::Equals, dtype: DataType::String, value: b"a".to_vec() }];
        let funcs = vec![
            Func {
                attr: 2,
                op: FuncOp::Set,
                arg_type: DataType::Int64,
                arg: 5i64.to_le_bytes().to_vec(),
                map_key: None,
            },
            Func {
                attr: 3,
                op: FuncOp::MapAdd,
                arg_type: DataType::String,
                arg: b"v".to_vec(),
                map_key: Some((DataType::String, b"k".to_vec())),
            },
        ];
        let mut mine = Vec::new();
        encode_atomic(&mut mine, 77, 3, 9, b"key", flags::FAIL_IF_NOT_FOUND, &checks, &funcs);
        let mut theirs = Vec::new();
        Msg::Atomic { version: 3, region: 9, key: b"key".to_vec(), flags: flags::FAIL_IF_NOT_FOUND, checks, funcs }
            .encode(77, &mut theirs);
        assert_eq!(mine, theirs);

        let mut mine = Vec::new();
        encode_get(&mut mine, 5, 1, 2, b"k");
        let mut theirs = Vec::new();
        Msg::Get { version: 1, region: 2, key: b"k".to_vec() }.encode(5, &mut theirs);
        assert_eq!(mine, theirs);
    }

    #[test]
    fn offsets_follow_the_spec() {
        assert_eq!(offset(0, 0), -2);
        assert_eq!(offset(3, 1), -6);
        assert!(offset(usize::MAX, usize::MAX) < -(1i64 << 62));
    }

    #[test]
    fn flags_of_the_operations() {
        assert_eq!(KeyOp::PUT.flags(), 0);
        assert_eq!(KeyOp::PUT_IF_NOT_EXIST.flags(), flags::FAIL_IF_FOUND);
        assert_eq!(KeyOp::COND_PUT.flags(), flags::FAIL_IF_NOT_FOUND);
        assert_eq!(KeyOp::DEL.flags(), flags::FAIL_IF_NOT_FOUND | flags::ERASE);
        assert_eq!(KeyOp::SET_ADD.flags(), flags::FAIL_IF_NOT_FOUND);
        assert_eq!(KeyOp::MAP_ATOMIC_XOR.map_op, Some(FuncOp::NumXor));
        assert_eq!(KeyOp::MAP_REMOVE.attr_op, Some(FuncOp::MapRemove));
    }

    #[test]
    fn keys_of_numeric_spaces_are_eight_bytes_or_empty() {
        assert!(validate_key(DataType::Int64, &[0; 8]).is_ok());
        assert!(validate_key(DataType::Float, &[]).is_ok());
        assert_eq!(validate_key(DataType::Int64, &[0; 4]), Err(OpError::whole(ReturnCode::WrongType)));
        assert!(validate_key(DataType::String, &[1, 2, 3]).is_ok());
    }
}
