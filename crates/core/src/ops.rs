//! Key operations: the checks (conditions) and functions (attribute updates) a client sends,
//! their validation against a schema, and their application to an object. Pure: the client
//! validates with these before sending; the point leader validates again and applies them.

use crate::codes::{DataType, Predicate, ReturnCode};
use crate::space::Attribute;
use crate::values::{
    canonical_primitive, compare, container_members, elements, encode_float, encode_int64,
    encode_list, float_of, int64_of, length_of, map_entries, push_element, validate,
};
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

/// True for the bare container classes GENERIC, LIST_GENERIC, SET_GENERIC and MAP_GENERIC.
fn is_bare_class(t: DataType) -> bool {
    matches!(
        t,
        DataType::Generic | DataType::ListGeneric | DataType::SetGeneric | DataType::MapGeneric
    )
}

/// The empty-GENERIC rule (spec/client-api.md §5.2): a bare container class equal to the
/// class of `declared`, with an empty value, means "an empty value of type `declared`".
/// Returns the datatype to use.
pub fn empty_generic(declared: DataType, supplied: DataType, value: &[u8]) -> DataType {
    if is_bare_class(supplied) && supplied == declared.container() && value.is_empty() {
        declared
    } else {
        supplied
    }
}

/// The effective (argument type, map key type) of `func` after the empty-GENERIC rule, when
/// the function is valid for an attribute of type `attr_type`.
///
/// For plain functions the rule uses the attribute's type; for the map-entry functions
/// (map_key present) the key half uses the map's key type and the value half the map's value
/// type.
fn func_types(
    attr_type: DataType,
    func: &Func,
) -> Result<(DataType, Option<DataType>), ReturnCode> {
    use DataType as T;
    use FuncOp::*;
    if !attr_type.is_attribute_type() {
        return Err(ReturnCode::WrongType);
    }
    let class = attr_type.container();
    let elem = attr_type.elem();
    let key = attr_type.map_key();
    match &func.map_key {
        None => {
            let at = empty_generic(attr_type, func.arg_type, &func.arg);
            let arg_ok = |t: DataType| at == t && validate(t, &func.arg);
            let ok = match func.op {
                Set => {
                    (at == attr_type || (at == class && class != T::Generic))
                        && validate(attr_type, &func.arg)
                }
                StringAppend | StringPrepend => attr_type == T::String && arg_ok(T::String),
                NumAdd | NumSub | NumMul | NumDiv => {
                    matches!(attr_type, T::Int64 | T::Float) && arg_ok(attr_type)
                }
                NumMod | NumAnd | NumOr | NumXor => attr_type == T::Int64 && arg_ok(T::Int64),
                ListLpush | ListRpush => class == T::ListGeneric && arg_ok(elem),
                SetAdd | SetRemove => class == T::SetGeneric && arg_ok(elem),
                SetUnion | SetIntersect => {
                    class == T::SetGeneric
                        && (at == attr_type || at == T::SetGeneric)
                        && validate(attr_type, &func.arg)
                }
                MapRemove => class == T::MapGeneric && arg_ok(key),
                MapAdd => false,
            };
            if ok {
                Ok((at, None))
            } else {
                Err(ReturnCode::WrongType)
            }
        }
        Some((kt, kv)) => {
            if class != T::MapGeneric {
                return Err(ReturnCode::WrongType);
            }
            let kt = empty_generic(key, *kt, kv);
            let at = empty_generic(elem, func.arg_type, &func.arg);
            let op_ok = match func.op {
                MapAdd => true,
                StringAppend | StringPrepend => elem == T::String,
                NumAdd | NumSub | NumMul | NumDiv => matches!(elem, T::Int64 | T::Float),
                NumMod | NumAnd | NumOr | NumXor => elem == T::Int64,
                _ => false,
            };
            if op_ok && kt == key && validate(key, kv) && at == elem && validate(elem, &func.arg)
            {
                Ok((at, Some(kt)))
            } else {
                Err(ReturnCode::WrongType)
            }
        }
    }
}

/// Validates a function against the declared type of its attribute, after applying the
/// empty-GENERIC rule (which may rewrite `arg_type` / the map key type). WRONGTYPE when the
/// op does not apply to the type or a value's encoding is malformed.
///
/// Map-entry functions (map_add, map_atomic_*, map_string_*) carry `map_key`; every other
/// function must not. `func.attr` is not looked at (see [`apply_funcs`]).
pub fn validate_func(attr_type: DataType, func: &mut Func) -> Result<(), ReturnCode> {
    let (at, kt) = func_types(attr_type, func)?;
    func.arg_type = at;
    if let (Some(kt), Some((t, _))) = (kt, func.map_key.as_mut()) {
        *t = kt;
    }
    Ok(())
}

/// Validates a check against the declared type of its attribute (spec/client-api.md §5.4),
/// after the empty-GENERIC rule. WRONGTYPE when invalid.
pub fn validate_check(attr_type: DataType, check: &mut Check) -> Result<(), ReturnCode> {
    use DataType as T;
    if !attr_type.is_attribute_type() {
        return Err(ReturnCode::WrongType);
    }
    let dt = empty_generic(attr_type, check.dtype, &check.value);
    if !validate(dt, &check.value) {
        return Err(ReturnCode::WrongType);
    }
    let has_length = attr_type == T::String || attr_type.container() != T::Generic;
    let ok = match check.predicate {
        Predicate::Fail => true,
        Predicate::Equals => dt == attr_type,
        Predicate::LessEqual | Predicate::GreaterEqual => {
            dt == attr_type && attr_type.is_primitive()
        }
        Predicate::Regex => dt == T::String && attr_type == T::String,
        Predicate::LengthEquals
        | Predicate::LengthLessEqual
        | Predicate::LengthGreaterEqual
        | Predicate::ContainsLessThan => dt == T::Int64 && has_length,
        Predicate::Contains => match attr_type.container() {
            T::ListGeneric | T::SetGeneric => dt == attr_type.elem(),
            T::MapGeneric => dt == attr_type.map_key(),
            _ => false,
        },
    };
    if ok {
        check.dtype = dt;
        Ok(())
    } else {
        Err(ReturnCode::WrongType)
    }
}

/// Whether the stored `value` of an attribute of type `attr_type` passes `check`
/// (an already validated check). Empty int64/float values count as 0.
///
/// EQUALS compares the bytes exactly (an empty int64/float equals an encoded 0);
/// LESS_EQUAL / GREATER_EQUAL mean value ≤ check / value ≥ check in the type's order; REGEX
/// uses [`regex_match`]; LENGTH_* (and CONTAINS_LESS_THAN = LENGTH_LESS_EQUAL) compare
/// [`length_of`]; CONTAINS looks for an element (map: a key) with exactly the check's bytes;
/// FAIL never passes. Malformed stored values fail every predicate that must parse them.
pub fn check_passes(attr_type: DataType, value: &[u8], check: &Check) -> bool {
    use std::cmp::Ordering;
    match check.predicate {
        Predicate::Fail => false,
        Predicate::Equals => {
            if matches!(attr_type, DataType::Int64 | DataType::Float) {
                canonical_primitive(attr_type, value) == canonical_primitive(attr_type, &check.value)
            } else {
                value == check.value.as_slice()
            }
        }
        Predicate::LessEqual => compare(attr_type, value, &check.value) != Ordering::Greater,
        Predicate::GreaterEqual => compare(attr_type, value, &check.value) != Ordering::Less,
        Predicate::Regex => regex_match(&check.value, value),
        Predicate::LengthEquals
        | Predicate::LengthLessEqual
        | Predicate::LengthGreaterEqual
        | Predicate::ContainsLessThan => {
            let (len, n) = match (length_of(attr_type, value), int64_of(&check.value)) {
                (Some(l), Some(n)) => (l as i128, n as i128),
                _ => return false,
            };
            match check.predicate {
                Predicate::LengthEquals => len == n,
                Predicate::LengthGreaterEqual => len >= n,
                _ => len <= n,
            }
        }
        Predicate::Contains => {
            let member_type = if attr_type.container() == DataType::MapGeneric {
                attr_type.map_key()
            } else {
                attr_type.elem()
            };
            let needle = canonical_primitive(member_type, &check.value);
            match container_members(attr_type, value) {
                Some(members) => members.iter().any(|m| *m == needle.as_slice()),
                None => false,
            }
        }
    }
}

/// One compiled atom of a regex: the byte it matches (None = any byte) and whether it is
/// starred.
type Atom = (Option<u8>, bool);

/// Matches `text` against `pattern` in HyperDex's tiny regex dialect (spec/search.md §1.1):
/// unanchored unless the pattern starts with `^`; `.` is any byte; `x*` is zero or more of
/// the atom x; a final `$` matches only at the end of the text; `\x` is the literal byte x (a
/// trailing lone `\` never matches); every other byte is a literal. An empty pattern matches
/// everything. Runs in O(|pattern| × |text|) time without recursion.
pub fn regex_match(pattern: &[u8], text: &[u8]) -> bool {
    let (anchored, mut p) = match pattern.split_first() {
        Some((b'^', rest)) => (true, rest),
        _ => (false, pattern),
    };
    let mut atoms: Vec<Atom> = Vec::new();
    let mut end_anchor = false;
    while let Some((&c, rest)) = p.split_first() {
        let (m, rest) = match c {
            b'\\' => match rest.split_first() {
                Some((&x, rest)) => (Some(x), rest),
                None => return false,
            },
            b'$' if rest.is_empty() => {
                end_anchor = true;
                (None, rest)
            }
            b'.' => (None, rest),
            _ => (Some(c), rest),
        };
        if end_anchor {
            break;
        }
        let (star, rest) = match rest.split_first() {
            Some((b'*', r)) => (true, r),
            _ => (false, rest),
        };
        atoms.push((m, star));
        p = rest;
    }

    // Simulate the pattern as a set of positions (0..=n) over the atoms.
    let n = atoms.len();
    let close = |set: &mut [bool]| {
        for i in 0..n {
            if set[i] && atoms[i].1 {
                set[i + 1] = true;
            }
        }
    };
    let mut cur = vec![false; n + 1];
    let mut next = vec![false; n + 1];
    cur[0] = true;
    close(&mut cur);
    for pos in 0..=text.len() {
        if cur[n] && (!end_anchor || pos == text.len()) {
            return true;
        }
        let Some(&c) = text.get(pos) else { break };
        next.iter_mut().for_each(|x| *x = false);
        let mut any = false;
        for i in 0..n {
            let (m, star) = atoms[i];
            if cur[i] && m.map_or(true, |x| x == c) {
                next[if star { i } else { i + 1 }] = true;
                any = true;
            }
        }
        if !anchored {
            next[0] = true;
            any = true;
        }
        if !any {
            return false;
        }
        close(&mut next);
        std::mem::swap(&mut cur, &mut next);
    }
    false
}

/// Floor division of int64s (rounds toward −∞). `None` (OVERFLOW) when `b == 0` or for
/// `i64::MIN / -1`.
pub fn floor_div(a: i64, b: i64) -> Option<i64> {
    if b == 0 || (a == i64::MIN && b == -1) {
        return None;
    }
    let q = a / b;
    if a % b != 0 && ((a < 0) != (b < 0)) {
        Some(q - 1)
    } else {
        Some(q)
    }
}

/// Floor modulo of int64s (the result has the sign of the divisor). `None` (OVERFLOW) when
/// `b == 0` or for `i64::MIN % -1` (as HyperDex does, even though 0 would be right).
pub fn floor_mod(a: i64, b: i64) -> Option<i64> {
    if b == 0 || (a == i64::MIN && b == -1) {
        return None;
    }
    let r = a % b;
    if r != 0 && ((r < 0) != (b < 0)) {
        Some(r + b)
    } else {
        Some(r)
    }
}

/// Applies a primitive-level function (SET, string, or numeric op) to one primitive value
/// of type `vtype`. `old` may be empty (0 / 0.0 / "").
fn apply_primitive(
    vtype: DataType,
    op: FuncOp,
    old: &[u8],
    arg: &[u8],
) -> Result<Vec<u8>, ReturnCode> {
    use FuncOp::*;
    match (vtype, op) {
        (_, Set) | (_, MapAdd) => Ok(arg.to_vec()),
        (DataType::String, StringAppend) => Ok([old, arg].concat()),
        (DataType::String, StringPrepend) => Ok([arg, old].concat()),
        (DataType::Int64, _) => {
            let a = int64_of(old).ok_or(ReturnCode::WrongType)?;
            let b = int64_of(arg).ok_or(ReturnCode::WrongType)?;
            let r = match op {
                NumAdd => a.checked_add(b),
                NumSub => a.checked_sub(b),
                NumMul => a.checked_mul(b),
                NumDiv => floor_div(a, b),
                NumMod => floor_mod(a, b),
                NumAnd => Some(a & b),
                NumOr => Some(a | b),
                NumXor => Some(a ^ b),
                _ => return Err(ReturnCode::WrongType),
            };
            r.map(encode_int64).ok_or(ReturnCode::Overflow)
        }
        (DataType::Float, _) => {
            let a = float_of(old).ok_or(ReturnCode::WrongType)?;
            let b = float_of(arg).ok_or(ReturnCode::WrongType)?;
            let r = match op {
                NumAdd => a + b,
                NumSub => a - b,
                NumMul => a * b,
                NumDiv => a / b,
                _ => return Err(ReturnCode::WrongType),
            };
            Ok(encode_float(r))
        }
        _ => Err(ReturnCode::WrongType),
    }
}

/// Encodes elements (already in container form: strings without prefix, numbers 8 bytes).
fn reencode_list(elem: DataType, items: &[&[u8]]) -> Result<Vec<u8>, ReturnCode> {
    encode_list(elem, items).ok_or(ReturnCode::WrongType)
}

/// Applies one validated function (effective argument type `arg_type`, effective map key type
/// folded in) to the current value `old` of an attribute of type `attr_type`.
fn apply_one(attr_type: DataType, old: &[u8], f: &Func) -> Result<Vec<u8>, ReturnCode> {
    use FuncOp::*;
    let wrong = ReturnCode::WrongType;
    if f.op == Set && f.map_key.is_none() {
        return Ok(f.arg.clone());
    }
    if !validate(attr_type, old) {
        return Err(wrong);
    }
    let elem = attr_type.elem();
    match attr_type.container() {
        DataType::Generic => apply_primitive(attr_type, f.op, old, &f.arg),
        DataType::ListGeneric => {
            let mut out = Vec::with_capacity(old.len() + f.arg.len() + 4);
            match f.op {
                ListLpush => {
                    if !push_element(elem, &f.arg, &mut out) {
                        return Err(wrong);
                    }
                    out.extend_from_slice(old);
                }
                ListRpush => {
                    out.extend_from_slice(old);
                    if !push_element(elem, &f.arg, &mut out) {
                        return Err(wrong);
                    }
                }
                _ => return Err(wrong),
            }
            Ok(out)
        }
        DataType::SetGeneric => {
            let mut items = elements(elem, old).ok_or(wrong)?;
            let cmp = |a: &[u8], b: &[u8]| compare(elem, a, b);
            match f.op {
                SetAdd | SetRemove => {
                    let x = canonical_primitive(elem, &f.arg);
                    match (items.binary_search_by(|m| cmp(m, &x)), f.op) {
                        (Err(i), SetAdd) => items.insert(i, &x),
                        (Ok(i), SetRemove) => {
                            items.remove(i);
                        }
                        _ => {}
                    }
                    reencode_list(elem, &items)
                }
                SetUnion => {
                    let other = elements(elem, &f.arg).ok_or(wrong)?;
                    let merged = set_union(elem, &items, &other);
                    reencode_list(elem, &merged)
                }
                SetIntersect => {
                    let other = elements(elem, &f.arg).ok_or(wrong)?;
                    items.retain(|m| other.binary_search_by(|o| cmp(o, m)).is_ok());
                    reencode_list(elem, &items)
                }
                _ => Err(wrong),
            }
        }
        DataType::MapGeneric => {
            let kt = attr_type.map_key();
            let mut entries = map_entries(attr_type, old).ok_or(wrong)?;
            let (key, operand): (Vec<u8>, Option<&[u8]>) = match (&f.map_key, f.op) {
                (None, MapRemove) => (canonical_primitive(kt, &f.arg), None),
                (Some((_, k)), _) => (canonical_primitive(kt, k), Some(&f.arg)),
                _ => return Err(wrong),
            };
            let found = entries.binary_search_by(|e| compare(kt, e.0, &key));
            let new_value;
            match operand {
                None => {
                    if let Ok(i) = found {
                        entries.remove(i);
                    }
                }
                Some(arg) => {
                    let current: &[u8] = match found {
                        Ok(i) => entries[i].1,
                        Err(_) => &[],
                    };
                    new_value = apply_primitive(elem, f.op, current, arg)?;
                    match found {
                        Ok(i) => entries[i].1 = &new_value,
                        Err(i) => entries.insert(i, (&key, &new_value)),
                    }
                }
            }
            let mut out = Vec::new();
            for (k, v) in entries {
                if !push_element(kt, k, &mut out) || !push_element(elem, v, &mut out) {
                    return Err(wrong);
                }
            }
            Ok(out)
        }
        _ => Err(wrong),
    }
}

/// The union of two valid sets (each strictly increasing), as a valid set.
fn set_union<'a>(elem: DataType, a: &[&'a [u8]], b: &[&'a [u8]]) -> Vec<&'a [u8]> {
    use std::cmp::Ordering;
    // A one-element float set may hold a NaN, which compares equal to everything: insert such
    // a lone element by binary search instead of merging (keeps the result a valid set).
    let (big, small) = if a.len() >= b.len() { (a, b) } else { (b, a) };
    if small.len() <= 1 {
        let mut out = big.to_vec();
        if let Some(x) = small.first() {
            if let Err(i) = out.binary_search_by(|m| compare(elem, m, x)) {
                out.insert(i, x);
            }
        }
        return out;
    }
    let mut out = Vec::with_capacity(a.len() + b.len());
    let (mut i, mut j) = (0, 0);
    while i < a.len() && j < b.len() {
        match compare(elem, a[i], b[j]) {
            Ordering::Less => {
                out.push(a[i]);
                i += 1;
            }
            Ordering::Greater => {
                out.push(b[j]);
                j += 1;
            }
            Ordering::Equal => {
                out.push(a[i]);
                i += 1;
                j += 1;
            }
        }
    }
    out.extend_from_slice(&a[i..]);
    out.extend_from_slice(&b[j..]);
    out
}

/// Applies validated functions, in order, to `values` (one encoded value per NON-key
/// attribute: `values[i - 1]` is attribute `i`). All or nothing: on error `values` is left as
/// it was and the code says why (OVERFLOW, WRONGTYPE).
///
/// Each function is validated again (so unvalidated input never panics): attribute 0 gives
/// DONTUSEKEY, an attribute outside the schema or `values` gives UNKNOWNATTR, a function
/// unsuitable for its attribute or a malformed stored value gives WRONGTYPE.
pub fn apply_funcs(
    schema: &[Attribute],
    values: &mut [Vec<u8>],
    funcs: &[Func],
) -> Result<(), ReturnCode> {
    // Copies of the attributes touched so far; written back only if every function succeeds.
    let mut work: Vec<Option<Vec<u8>>> = vec![None; values.len()];
    for f in funcs {
        let idx = f.attr as usize;
        if idx == 0 {
            return Err(ReturnCode::DontUseKey);
        }
        let (attr, slot) = match (schema.get(idx), work.get_mut(idx - 1)) {
            (Some(a), Some(s)) => (a, s),
            _ => return Err(ReturnCode::UnknownAttr),
        };
        func_types(attr.dtype, f)?;
        let current = slot.get_or_insert_with(|| values[idx - 1].clone());
        let new = apply_one(attr.dtype, current, f)?;
        *current = new;
    }
    for (v, w) in values.iter_mut().zip(work) {
        if let Some(w) = w {
            *v = w;
        }
    }
    Ok(())
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
