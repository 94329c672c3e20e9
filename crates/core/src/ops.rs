//! Key operations: the checks (conditions) and functions (attribute updates) a client sends,
//! their validation against a schema, and their application to an object. Pure: the client
//! validates with these before sending; the point leader validates again and applies them.

use crate::codes::{DataType, Predicate, ReturnCode};
use crate::space::Attribute;
use crate::wire::{DResult, DecodeError, Reader, Writer};

/// What a function does to its attribute (wire value = discriminant).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum FuncOp {
    Set = 0,
    StringAppend = 1,
    StringPrepend = 2,
    NumAdd = 3,
    NumSub = 4,
    NumMul = 5,
    NumDiv = 6,
    NumMod = 7,
    NumAnd = 8,
    NumOr = 9,
    NumXor = 10,
    ListLpush = 11,
    ListRpush = 12,
    SetAdd = 13,
    SetRemove = 14,
    SetIntersect = 15,
    SetUnion = 16,
    MapAdd = 17,
    MapRemove = 18,
}

impl FuncOp {
    pub fn from_raw(v: u8) -> Option<FuncOp> {
        use FuncOp::*;
        Some(match v {
            0 => Set,
            1 => StringAppend,
            2 => StringPrepend,
            3 => NumAdd,
            4 => NumSub,
            5 => NumMul,
            6 => NumDiv,
            7 => NumMod,
            8 => NumAnd,
            9 => NumOr,
            10 => NumXor,
            11 => ListLpush,
            12 => ListRpush,
            13 => SetAdd,
            14 => SetRemove,
            15 => SetIntersect,
            16 => SetUnion,
            17 => MapAdd,
            18 => MapRemove,
            _ => return None,
        })
    }
}

/// One attribute update. For map operations on one entry (map_add, map_atomic_*,
/// map_string_*), `map_key` selects the entry and `arg` is the value operand. For
/// map_remove, `arg` is the map key to remove and `map_key` is None.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Func {
    /// Schema index (never 0: the key cannot be updated).
    pub attr: u16,
    pub op: FuncOp,
    pub arg_type: DataType,
    pub arg: Vec<u8>,
    pub map_key: Option<(DataType, Vec<u8>)>,
}

/// One condition: `attr` (schema index; 0 = the key) must satisfy `predicate` against `value`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Check {
    pub attr: u16,
    pub predicate: Predicate,
    pub dtype: DataType,
    pub value: Vec<u8>,
}

/// Validates a function against the declared type of its attribute, after applying the
/// empty-GENERIC rule (which may rewrite `arg_type` / the map key type). WRONGTYPE when the
/// op does not apply to the type or a value's encoding is malformed.
pub fn validate_func(attr_type: DataType, func: &mut Func) -> Result<(), ReturnCode> {
    let _ = (attr_type, func);
    todo!("validate_func")
}

/// Validates a check against the declared type of its attribute (spec/client-api.md §5.4),
/// after the empty-GENERIC rule. WRONGTYPE when invalid.
pub fn validate_check(attr_type: DataType, check: &mut Check) -> Result<(), ReturnCode> {
    let _ = (attr_type, check);
    todo!("validate_check")
}

/// Whether the stored `value` of an attribute of type `attr_type` passes `check`
/// (an already validated check). Empty int64/float values count as 0.
pub fn check_passes(attr_type: DataType, value: &[u8], check: &Check) -> bool {
    let _ = (attr_type, value, check);
    todo!("check_passes")
}

/// Applies validated functions, in order, to `values` (one encoded value per NON-key
/// attribute: `values[i - 1]` is attribute `i`). All or nothing: on error `values` is left as
/// it was and the code says why (OVERFLOW, WRONGTYPE).
pub fn apply_funcs(schema: &[Attribute], values: &mut [Vec<u8>], funcs: &[Func]) -> Result<(), ReturnCode> {
    let _ = (schema, values, funcs);
    todo!("apply_funcs")
}

// ---- wire encodings of checks and functions (docs/protocol.md) ----

pub fn encode_check(w: &mut Writer<'_>, c: &Check) {
    w.u16(c.attr).u32(c.predicate as u32).u32(c.dtype as u32).bytes(&c.value);
}

pub fn decode_check(r: &mut Reader<'_>) -> DResult<Check> {
    let attr = r.u16()?;
    let predicate = Predicate::from_raw(r.u32()?).ok_or(DecodeError)?;
    let dtype = DataType::from_raw(r.u32()?).ok_or(DecodeError)?;
    let value = r.bytes()?.to_vec();
    Ok(Check { attr, predicate, dtype, value })
}

pub fn encode_func(w: &mut Writer<'_>, f: &Func) {
    w.u16(f.attr).u8(f.op as u8).u32(f.arg_type as u32).bytes(&f.arg);
    match &f.map_key {
        None => {
            w.u8(0);
        }
        Some((t, k)) => {
            w.u8(1).u32(*t as u32).bytes(k);
        }
    }
}

pub fn decode_func(r: &mut Reader<'_>) -> DResult<Func> {
    let attr = r.u16()?;
    let op = FuncOp::from_raw(r.u8()?).ok_or(DecodeError)?;
    let arg_type = DataType::from_raw(r.u32()?).ok_or(DecodeError)?;
    let arg = r.bytes()?.to_vec();
    let map_key = match r.u8()? {
        0 => None,
        1 => {
            let t = DataType::from_raw(r.u32()?).ok_or(DecodeError)?;
            Some((t, r.bytes()?.to_vec()))
        }
        _ => return Err(DecodeError),
    };
    Ok(Func { attr, op, arg_type, arg, map_key })
}
