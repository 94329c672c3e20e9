//! Key operations: the checks (conditions) and functions (attribute updates) a client sends,
//! their validation against a schema, and their application to an object. Pure: the client
//! validates with these before sending; the point leader validates again and applies them.

use crate::codes::{DataType, Predicate, ReturnCode};
use crate::space::Attribute;
use crate::values::{
    canonical_primitive, compare, container_members, elements, encode_float, encode_int64, encode_list, float_of,
    int64_of, length_of, map_entries, push_element, validate,
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
    matches!(t, DataType::Generic | DataType::ListGeneric | DataType::SetGeneric | DataType::MapGeneric)
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
fn func_types(attr_type: DataType, func: &Func) -> Result<(DataType, Option<DataType>), ReturnCode> {
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
                Set => (at == attr_type || (at == class && class != T::Generic)) && validate(attr_type, &func.arg),
                StringAppend | StringPrepend => attr_type == T::String && arg_ok(T::String),
                NumAdd | NumSub | NumMul | NumDiv => matches!(attr_type, T::Int64 | T::Float) && arg_ok(attr_type),
                NumMod | NumAnd | NumOr | NumXor => attr_type == T::Int64 && arg_ok(T::Int64),
                ListLpush | ListRpush => class == T::ListGeneric && arg_ok(elem),
                SetAdd | SetRemove => class == T::SetGeneric && arg_ok(elem),
                SetUnion | SetIntersect => {
                    class == T::SetGeneric && (at == attr_type || at == T::SetGeneric) && validate(attr_type, &func.arg)
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
            if op_ok && kt == key && validate(key, kv) && at == elem && validate(elem, &func.arg) {
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

/// Longest REGEX pattern a check may have (longer ones are WRONGTYPE).
pub const MAX_REGEX_BYTES: usize = 256;

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
        Predicate::LessEqual | Predicate::GreaterEqual => dt == attr_type && attr_type.is_primitive(),
        // Matching costs pattern × text: patterns are capped so that one check cannot
        // make a daemon spend minutes on one object.
        Predicate::Regex => dt == T::String && attr_type == T::String && check.value.len() <= MAX_REGEX_BYTES,
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
        // A float NaN on either side orders with nothing (IEEE): it passes neither bound. (The
        // set/map ordering treats NaN as equal to every number; a range predicate must not,
        // or no search could route it: a NaN's coordinate is above +inf.)
        Predicate::LessEqual | Predicate::GreaterEqual
            if attr_type == DataType::Float && nan_involved(value, check) =>
        {
            false
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
            let member_type =
                if attr_type.container() == DataType::MapGeneric { attr_type.map_key() } else { attr_type.elem() };
            let needle = canonical_primitive(member_type, &check.value);
            match container_members(attr_type, value) {
                Some(members) => members.contains(&needle.as_slice()),
                None => false,
            }
        }
    }
}

/// Whether a float value or a float check value is NaN (an empty value is 0.0).
fn nan_involved(value: &[u8], check: &Check) -> bool {
    let is_nan = |b: &[u8]| crate::values::float_of(b).is_some_and(f64::is_nan);
    is_nan(value) || is_nan(&check.value)
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
            if cur[i] && (m.is_none() || m == Some(c)) {
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
fn apply_primitive(vtype: DataType, op: FuncOp, old: &[u8], arg: &[u8]) -> Result<Vec<u8>, ReturnCode> {
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
pub fn apply_funcs(schema: &[Attribute], values: &mut [Vec<u8>], funcs: &[Func]) -> Result<(), ReturnCode> {
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
    let mut f = Func { attr: 0, op: FuncOp::Set, arg_type: DataType::String, arg: Vec::new(), map_key: None };
    decode_func_into(r, &mut f)?;
    Ok(f)
}

/// [`decode_func`] into `f`, every field replaced; its argument's buffer is reused (a
/// request decoded into the function list of the one before allocates nothing for it).
/// On an error `f` holds a mix of both.
pub fn decode_func_into(r: &mut Reader<'_>, f: &mut Func) -> DResult<()> {
    f.attr = r.u16()?;
    f.op = FuncOp::from_raw(r.u8()?).ok_or(DecodeError)?;
    f.arg_type = DataType::from_raw(r.u32()?).ok_or(DecodeError)?;
    let arg = r.bytes()?;
    f.arg.clear();
    f.arg.extend_from_slice(arg);
    f.map_key = match r.u8()? {
        0 => None,
        1 => {
            let t = DataType::from_raw(r.u32()?).ok_or(DecodeError)?;
            Some((t, r.bytes()?.to_vec()))
        }
        _ => return Err(DecodeError),
    };
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::values::{encode_map, encode_set};
    use proptest::prelude::*;
    use DataType::*;
    use FuncOp::*;

    fn i(x: i64) -> Vec<u8> {
        x.to_le_bytes().to_vec()
    }
    fn fl(x: f64) -> Vec<u8> {
        x.to_le_bytes().to_vec()
    }
    fn s(x: &str) -> Vec<u8> {
        let mut v = (x.len() as u32).to_le_bytes().to_vec();
        v.extend_from_slice(x.as_bytes());
        v
    }
    fn func(op: FuncOp, t: DataType, arg: Vec<u8>) -> Func {
        Func { attr: 1, op, arg_type: t, arg, map_key: None }
    }
    fn mfunc(op: FuncOp, kt: DataType, k: Vec<u8>, vt: DataType, v: Vec<u8>) -> Func {
        Func { attr: 1, op, arg_type: vt, arg: v, map_key: Some((kt, k)) }
    }
    fn vf(attr: DataType, f: Func) -> Result<Func, ReturnCode> {
        let mut f = f;
        validate_func(attr, &mut f).map(|_| f)
    }
    fn ok(attr: DataType, f: Func) {
        let d = format!("{f:?}");
        assert!(vf(attr, f).is_ok(), "{attr:?} should accept {d}");
    }
    fn wrong(attr: DataType, f: Func) {
        let d = format!("{f:?}");
        assert_eq!(vf(attr, f), Err(ReturnCode::WrongType), "{attr:?} {d}");
    }

    #[test]
    fn validate_func_primitives() {
        ok(String, func(Set, String, b"x".to_vec()));
        ok(String, func(StringAppend, String, b"x".to_vec()));
        ok(String, func(StringPrepend, String, vec![]));
        wrong(String, func(Set, Int64, i(1)));
        wrong(String, func(NumAdd, String, b"1".to_vec()));
        wrong(String, func(ListRpush, String, b"1".to_vec()));
        wrong(String, func(MapAdd, String, b"1".to_vec()));
        wrong(String, func(Set, Generic, b"x".to_vec()));
        wrong(String, func(Set, ListGeneric, vec![]));
        // Empty GENERIC becomes the attribute's type.
        assert_eq!(vf(String, func(Set, Generic, vec![])).unwrap().arg_type, String);
        assert_eq!(vf(Int64, func(Set, Generic, vec![])).unwrap().arg_type, Int64);

        for op in [Set, NumAdd, NumSub, NumMul, NumDiv, NumMod, NumAnd, NumOr, NumXor] {
            ok(Int64, func(op, Int64, i(3)));
            ok(Int64, func(op, Int64, vec![]));
            wrong(Int64, func(op, Int64, vec![1, 2, 3]));
            wrong(Int64, func(op, Float, fl(3.0)));
            wrong(Int64, func(op, String, b"3".to_vec()));
        }
        for op in [Set, NumAdd, NumSub, NumMul, NumDiv] {
            ok(Float, func(op, Float, fl(3.0)));
            wrong(Float, func(op, Int64, i(3)));
        }
        for op in [NumMod, NumAnd, NumOr, NumXor, StringAppend, ListLpush, SetAdd] {
            wrong(Float, func(op, Float, fl(3.0)));
        }
        wrong(Int64, func(StringAppend, Int64, i(1)));
        // A map key on a plain attribute is wrong.
        wrong(Int64, mfunc(NumAdd, String, b"k".to_vec(), Int64, i(1)));
        // Types that cannot be attributes.
        wrong(Generic, func(Set, Generic, vec![]));
        wrong(ListGeneric, func(Set, ListGeneric, vec![]));
        wrong(MapStringKeyonly, func(Set, MapStringKeyonly, vec![]));
        wrong(Garbage, func(Set, Garbage, vec![]));
    }

    #[test]
    fn validate_func_lists_and_sets() {
        let l = [s("b"), s("a")].concat();
        ok(ListString, func(Set, ListString, l.clone()));
        ok(ListString, func(Set, ListGeneric, l.clone()));
        wrong(ListString, func(Set, ListGeneric, vec![1, 0, 0, 0]));
        wrong(ListString, func(Set, ListString, vec![1, 0, 0, 0]));
        wrong(ListString, func(Set, ListInt64, i(1)));
        assert_eq!(vf(ListString, func(Set, ListGeneric, vec![])).unwrap().arg_type, ListString);
        ok(ListString, func(ListLpush, String, b"x".to_vec()));
        ok(ListInt64, func(ListRpush, Int64, i(4)));
        wrong(ListInt64, func(ListRpush, ListInt64, i(4)));
        wrong(ListInt64, func(ListRpush, Float, fl(4.0)));
        wrong(ListString, func(SetAdd, String, b"x".to_vec()));
        wrong(ListString, func(StringAppend, String, b"x".to_vec()));
        // The empty-GENERIC rule only fires for the attribute's own class.
        wrong(ListString, func(ListRpush, ListGeneric, vec![]));

        let st = [i(1), i(5)].concat();
        ok(SetInt64, func(Set, SetInt64, st.clone()));
        ok(SetInt64, func(Set, SetGeneric, st.clone()));
        wrong(SetInt64, func(Set, SetInt64, [i(5), i(1)].concat()));
        wrong(SetInt64, func(Set, SetInt64, [i(5), i(5)].concat()));
        ok(SetInt64, func(SetAdd, Int64, i(2)));
        ok(SetInt64, func(SetRemove, Int64, i(2)));
        wrong(SetInt64, func(SetAdd, SetInt64, i(2)));
        for op in [SetUnion, SetIntersect] {
            ok(SetInt64, func(op, SetInt64, st.clone()));
            ok(SetInt64, func(op, SetGeneric, st.clone()));
            wrong(SetInt64, func(op, SetGeneric, [i(5), i(1)].concat()));
            wrong(SetInt64, func(op, Int64, i(2)));
            wrong(SetInt64, func(op, ListInt64, st.clone()));
            assert_eq!(vf(SetInt64, func(op, SetGeneric, vec![])).unwrap().arg_type, SetInt64);
        }
        wrong(SetString, func(ListRpush, String, b"x".to_vec()));
    }

    #[test]
    fn validate_func_maps() {
        let m = MapStringInt64;
        let k = || b"k".to_vec();
        ok(m, func(Set, MapStringInt64, [s("a"), i(1)].concat()));
        ok(m, func(Set, MapGeneric, [s("a"), i(1)].concat()));
        wrong(m, func(Set, MapGeneric, [s("b"), i(1), s("a"), i(1)].concat()));
        assert_eq!(vf(m, func(Set, MapGeneric, vec![])).unwrap().arg_type, m);
        ok(m, mfunc(MapAdd, String, k(), Int64, i(1)));
        wrong(m, mfunc(MapAdd, Int64, i(1), Int64, i(1)));
        wrong(m, mfunc(MapAdd, String, k(), String, b"1".to_vec()));
        wrong(m, mfunc(MapAdd, String, k(), Int64, vec![9]));
        wrong(m, func(MapAdd, Int64, i(1)));
        for op in [NumAdd, NumSub, NumMul, NumDiv, NumMod, NumAnd, NumOr, NumXor] {
            ok(m, mfunc(op, String, k(), Int64, i(1)));
            wrong(m, func(op, Int64, i(1)));
        }
        wrong(m, mfunc(StringAppend, String, k(), String, b"x".to_vec()));
        wrong(m, mfunc(ListRpush, String, k(), Int64, i(1)));
        wrong(m, mfunc(Set, String, k(), Int64, i(1)));
        ok(m, func(MapRemove, String, k()));
        wrong(m, func(MapRemove, Int64, i(1)));
        wrong(m, mfunc(MapRemove, String, k(), String, k()));

        for op in [NumAdd, NumSub, NumMul, NumDiv] {
            ok(MapStringFloat, mfunc(op, String, k(), Float, fl(1.0)));
        }
        for op in [NumMod, NumAnd, NumOr, NumXor, StringPrepend] {
            wrong(MapStringFloat, mfunc(op, String, k(), Float, fl(1.0)));
        }
        for op in [StringAppend, StringPrepend, MapAdd] {
            ok(MapInt64String, mfunc(op, Int64, i(7), String, b"v".to_vec()));
        }
        wrong(MapInt64String, mfunc(NumAdd, Int64, i(7), String, b"v".to_vec()));
        ok(MapInt64String, func(MapRemove, Int64, i(7)));
        ok(MapFloatFloat, func(MapRemove, Float, fl(7.0)));
        // Empty GENERIC halves of a map entry take the map's key / value types.
        let f = vf(MapInt64String, mfunc(StringAppend, Generic, vec![], Generic, vec![])).unwrap();
        assert_eq!(f.arg_type, String);
        assert_eq!(f.map_key, Some((Int64, vec![])));
        wrong(MapInt64String, mfunc(StringAppend, Generic, b"x".to_vec(), String, vec![]));
    }

    fn chk(p: Predicate, t: DataType, v: Vec<u8>) -> Check {
        Check { attr: 1, predicate: p, dtype: t, value: v }
    }
    fn vc(attr: DataType, c: Check) -> Result<DataType, ReturnCode> {
        let mut c = c;
        validate_check(attr, &mut c).map(|_| c.dtype)
    }

    #[test]
    fn validate_check_table() {
        use Predicate::*;
        let all_attrs: Vec<DataType> = DataType::ALL.iter().copied().filter(|t| t.is_attribute_type()).collect();
        for &a in &all_attrs {
            let empty_ok = vc(a, chk(Equals, a, vec![]));
            assert_eq!(empty_ok, Ok(a));
            assert_eq!(vc(a, chk(Fail, Int64, i(1))), Ok(Int64));
            let cmp = vc(a, chk(LessEqual, a, vec![]));
            assert_eq!(cmp.is_ok(), a.is_primitive(), "{a:?}");
            let cmp = vc(a, chk(GreaterEqual, a, vec![]));
            assert_eq!(cmp.is_ok(), a.is_primitive(), "{a:?}");
            let has_len = a == String || !a.is_primitive();
            for p in [LengthEquals, LengthLessEqual, LengthGreaterEqual, ContainsLessThan] {
                assert_eq!(vc(a, chk(p, Int64, i(2))).is_ok(), has_len, "{a:?} {p:?}");
                assert!(vc(a, chk(p, Float, fl(2.0))).is_err());
            }
            assert_eq!(vc(a, chk(Regex, String, b"^a".to_vec())).is_ok(), a == String);
            // Empty GENERIC of the attribute's class.
            assert_eq!(vc(a, chk(Equals, a.container(), vec![])), Ok(a));
        }
        assert!(vc(Int64, chk(Equals, Float, fl(1.0))).is_err());
        assert!(vc(Int64, chk(Equals, Int64, vec![1])).is_err());
        assert!(vc(String, chk(Equals, Generic, b"x".to_vec())).is_err());
        assert!(vc(ListInt64, chk(Equals, ListInt64, vec![1])).is_err());
        assert!(vc(SetInt64, chk(Equals, SetInt64, [i(2), i(1)].concat())).is_err());
        assert_eq!(vc(ListInt64, chk(Contains, Int64, i(1))), Ok(Int64));
        assert!(vc(ListInt64, chk(Contains, String, b"x".to_vec())).is_err());
        assert_eq!(vc(SetString, chk(Contains, String, b"x".to_vec())), Ok(String));
        assert_eq!(vc(MapFloatString, chk(Contains, Float, fl(1.0))), Ok(Float));
        assert!(vc(MapFloatString, chk(Contains, String, b"x".to_vec())).is_err());
        assert!(vc(String, chk(Contains, String, b"x".to_vec())).is_err());
        assert!(vc(Int64, chk(Regex, String, b"x".to_vec())).is_err());
        assert!(vc(Generic, chk(Fail, Int64, i(1))).is_err());
        assert!(vc(String, chk(Fail, Garbage, vec![])).is_err());
    }

    fn passes(attr: DataType, value: &[u8], p: Predicate, t: DataType, v: Vec<u8>) -> bool {
        let mut c = chk(p, t, v);
        validate_check(attr, &mut c).expect("valid check");
        check_passes(attr, value, &c)
    }

    #[test]
    fn check_semantics() {
        use Predicate::*;
        assert!(passes(String, b"abc", Equals, String, b"abc".to_vec()));
        assert!(!passes(String, b"abc", Equals, String, b"abcd".to_vec()));
        assert!(passes(Int64, b"", Equals, Int64, i(0)));
        assert!(passes(Int64, &i(0), Equals, Int64, vec![]));
        assert!(!passes(Int64, b"", Equals, Int64, i(1)));
        assert!(passes(Float, b"", Equals, Float, fl(0.0)));
        assert!(!passes(Float, &fl(1.0), Equals, Float, fl(2.0)));
        let set = [s("a"), s("b")].concat();
        assert!(passes(SetString, &set, Equals, SetString, set.clone()));
        assert!(!passes(SetString, &set, Equals, SetString, s("a")));
        assert!(passes(SetString, b"", Equals, SetGeneric, vec![]));
        // value <= check.
        assert!(passes(Int64, &i(5), LessEqual, Int64, i(5)));
        assert!(passes(Int64, &i(-5), LessEqual, Int64, i(3)));
        assert!(!passes(Int64, &i(5), LessEqual, Int64, i(3)));
        assert!(passes(Int64, &i(5), GreaterEqual, Int64, i(3)));
        assert!(!passes(Int64, b"", GreaterEqual, Int64, i(3)));
        assert!(passes(Int64, b"", GreaterEqual, Int64, i(-3)));
        for (name, inside) in [
            ("Jack", true),
            ("Jackson", true),
            ("Jim", true),
            ("Joseph", true),
            ("Josephine", false),
            ("Ja", false),
            ("Zed", false),
        ] {
            let v = name.as_bytes();
            let r = passes(String, v, GreaterEqual, String, b"Jack".to_vec())
                && passes(String, v, LessEqual, String, b"Joseph".to_vec());
            assert_eq!(r, inside, "{name}");
        }
        assert!(passes(Float, &fl(-0.5), LessEqual, Float, fl(0.0)));
        assert!(!passes(Float, &fl(0.5), LessEqual, Float, vec![]));
        // Length.
        assert!(passes(String, b"abc", LengthEquals, Int64, i(3)));
        assert!(!passes(String, b"abc", LengthEquals, Int64, i(2)));
        assert!(passes(String, b"abc", LengthLessEqual, Int64, i(3)));
        assert!(passes(String, b"abc", ContainsLessThan, Int64, i(3)));
        assert!(!passes(String, b"abc", ContainsLessThan, Int64, i(2)));
        assert!(passes(String, b"abc", LengthGreaterEqual, Int64, i(-1)));
        assert!(!passes(String, b"abc", LengthLessEqual, Int64, i(-1)));
        assert!(passes(SetString, &set, LengthEquals, Int64, i(2)));
        assert!(passes(ListInt64, b"", LengthEquals, Int64, vec![]));
        let m = [s("a"), i(1), s("b"), i(2), s("c"), i(3)].concat();
        assert!(passes(MapStringInt64, &m, LengthGreaterEqual, Int64, i(3)));
        assert!(!passes(MapStringInt64, &m, LengthGreaterEqual, Int64, i(4)));
        // Contains.
        assert!(passes(SetString, &set, Contains, String, b"b".to_vec()));
        assert!(!passes(SetString, &set, Contains, String, b"c".to_vec()));
        assert!(passes(ListInt64, &[i(4), i(0)].concat(), Contains, Int64, vec![]));
        assert!(passes(MapStringInt64, &m, Contains, String, b"c".to_vec()));
        assert!(!passes(MapStringInt64, &m, Contains, String, b"3".to_vec()));
        assert!(!passes(ListString, b"", Contains, String, b"".to_vec()));
        // Regex and fail.
        assert!(passes(String, b"a/b/foo/c", Regex, String, b"^a.*/foo/.*$".to_vec()));
        assert!(!passes(String, b"foo", Fail, String, b"foo".to_vec()));
        assert!(!passes(String, b"", Fail, Int64, vec![]));
        // Malformed stored values fail rather than panic.
        assert!(!passes(ListString, &[9, 0, 0, 0], Contains, String, b"x".to_vec()));
        assert!(!passes(ListString, &[9, 0, 0, 0], LengthEquals, Int64, i(0)));
    }

    #[test]
    fn regex_patterns_are_capped() {
        let chk =
            |n: usize| Check { attr: 1, predicate: Predicate::Regex, dtype: DataType::String, value: vec![b'a'; n] };
        assert_eq!(validate_check(DataType::String, &mut chk(MAX_REGEX_BYTES)), Ok(()));
        assert_eq!(validate_check(DataType::String, &mut chk(MAX_REGEX_BYTES + 1)), Err(ReturnCode::WrongType));
    }

    #[test]
    fn float_ranges_never_pass_with_a_nan() {
        let nan = f64::NAN.to_le_bytes().to_vec();
        let one = 1.0f64.to_le_bytes().to_vec();
        for (value, bound) in [(&nan, &one), (&one, &nan), (&nan, &nan)] {
            for p in [Predicate::LessEqual, Predicate::GreaterEqual] {
                let c = Check { attr: 1, predicate: p, dtype: DataType::Float, value: bound.clone() };
                assert!(!check_passes(DataType::Float, value, &c), "{p:?}");
            }
        }
        // Equality is by bytes: a NaN equals the same NaN.
        let c = Check { attr: 1, predicate: Predicate::Equals, dtype: DataType::Float, value: nan.clone() };
        assert!(check_passes(DataType::Float, &nan, &c));
        // An empty value is 0.0, not NaN.
        let c = Check { attr: 1, predicate: Predicate::LessEqual, dtype: DataType::Float, value: one };
        assert!(check_passes(DataType::Float, &[], &c));
    }

    #[test]
    fn regex_dialect() {
        let m = |p: &str, t: &str| regex_match(p.as_bytes(), t.as_bytes());
        assert!(m("", ""));
        assert!(m("", "anything"));
        assert!(m("foo", "xfooy"));
        assert!(!m("foo", "fo"));
        assert!(m("^foo", "foobar"));
        assert!(!m("^foo", "xfoo"));
        assert!(m("foo$", "xfoo"));
        assert!(!m("foo$", "foox"));
        assert!(m("^foo$", "foo"));
        assert!(!m("^foo$", "fooo"));
        assert!(m("^b.*/foo/.*$", "b/foo/c"));
        assert!(m("^b.*/foo/.*$", "bar/x/foo/"));
        assert!(!m("^b.*/foo/.*$", "a/b/foo/c"));
        assert!(m("a.c", "abc"));
        assert!(!m("a.c", "ac"));
        assert!(m("^ab*c$", "ac"));
        assert!(m("^ab*c$", "abbbc"));
        assert!(!m("^ab*c$", "abxc"));
        assert!(m("^a.*b.*c$", "axxbyyc"));
        assert!(m("^a\\.c$", "a.c"));
        assert!(!m("^a\\.c$", "abc"));
        assert!(m("^a\\*$", "a*"));
        assert!(m("^a\\$", "a$"));
        assert!(!m("^a\\$", "a"));
        assert!(!m("a\\", "a\\"));
        assert!(!m("\\", ""));
        assert!(m("^[a]+?$", "[a]+?"));
        assert!(m("a$b", "a$b"));
        assert!(m("$", ""));
        assert!(m("$", "abc"));
        assert!(m("^$", ""));
        assert!(!m("^$", "x"));
        assert!(m("^", "x"));
        assert!(m("^*", "*"));
        assert!(m("^x*$", ""));
        assert!(m("^\u{e9}$", "\u{e9}"));
        assert!(regex_match(b"^\xff.\x00$", b"\xff\x01\x00"));
        // Long inputs do not blow the stack or take exponential time.
        let text = vec![b'a'; 20_000];
        let pattern = [b"a*".repeat(200), b"b".to_vec()].concat();
        assert!(!regex_match(&pattern, &text));
    }

    /// The matcher as the spec describes it: recursive backtracking.
    fn reference_match(p: &[u8], t: &[u8]) -> bool {
        fn here(p: &[u8], t: &[u8]) -> bool {
            if p.is_empty() {
                return true;
            }
            if p == b"$" {
                return t.is_empty();
            }
            let (len, lit) = match p[0] {
                b'\\' if p.len() < 2 => return false,
                b'\\' => (2, Some(p[1])),
                b'.' => (1, None),
                c => (1, Some(c)),
            };
            let ok = |c: u8| lit.is_none() || lit == Some(c);
            if p.get(len) == Some(&b'*') {
                let rest = &p[len + 1..];
                let mut k = 0;
                loop {
                    if here(rest, &t[k..]) {
                        return true;
                    }
                    if k < t.len() && ok(t[k]) {
                        k += 1;
                    } else {
                        return false;
                    }
                }
            }
            !t.is_empty() && ok(t[0]) && here(&p[len..], &t[1..])
        }
        if let Some(rest) = p.strip_prefix(b"^") {
            return here(rest, t);
        }
        (0..=t.len()).any(|i| here(p, &t[i..]))
    }

    // ---- application ----

    fn schema(types: &[DataType]) -> Vec<Attribute> {
        let mut v = vec![Attribute { name: "k".into(), dtype: String }];
        for (n, t) in types.iter().enumerate() {
            v.push(Attribute { name: format!("a{n}"), dtype: *t });
        }
        v
    }

    /// Applies one op with an int64 argument to an int64 attribute holding `old`.
    fn int_op(op: FuncOp, old: i64, arg: i64) -> Result<i64, ReturnCode> {
        let sc = schema(&[Int64]);
        let mut vals = vec![i(old)];
        apply_funcs(&sc, &mut vals, &[func(op, Int64, i(arg))])?;
        Ok(i64::from_le_bytes(vals[0].clone().try_into().unwrap()))
    }

    #[test]
    fn int64_worked_values() {
        assert_eq!(int_op(NumMod, 7, 3), Ok(1));
        assert_eq!(int_op(NumMod, 1, 2), Ok(1));
        assert_eq!(int_op(NumMod, 7, -3), Ok(-2));
        assert_eq!(int_op(NumMod, -7, 3), Ok(2));
        assert_eq!(int_op(NumMod, -7, -3), Ok(-1));
        assert_eq!(int_op(NumDiv, 7, -3), Ok(-3));
        assert_eq!(int_op(NumDiv, -7, 3), Ok(-3));
        assert_eq!(int_op(NumDiv, -7, -3), Ok(2));
        assert_eq!(int_op(NumDiv, 7, 3), Ok(2));
        assert_eq!(int_op(NumAdd, i64::MAX, 1), Err(ReturnCode::Overflow));
        assert_eq!(int_op(NumSub, 0, i64::MAX), Ok(-i64::MAX));
        assert_eq!(int_op(NumSub, -i64::MAX, 1), Ok(i64::MIN));
        assert_eq!(int_op(NumSub, i64::MIN, 1), Err(ReturnCode::Overflow));
        assert_eq!(int_op(NumSub, i64::MIN, i64::MIN), Ok(0));
        assert_eq!(int_op(NumMul, i64::MAX, 2), Err(ReturnCode::Overflow));
        assert_eq!(int_op(NumMul, -4, 5), Ok(-20));
        assert_eq!(int_op(NumDiv, 1 << 62, 1 << 56), Ok(64));
        let mut x = 64;
        for want in [32, 16, 8, 4, 2, 1, 0] {
            x = int_op(NumDiv, x, 2).unwrap();
            assert_eq!(x, want);
        }
        assert_eq!(int_op(NumDiv, 5, 0), Err(ReturnCode::Overflow));
        assert_eq!(int_op(NumMod, 5, 0), Err(ReturnCode::Overflow));
        assert_eq!(int_op(NumDiv, i64::MIN, -1), Err(ReturnCode::Overflow));
        assert_eq!(int_op(NumMod, i64::MIN, -1), Err(ReturnCode::Overflow));
        assert_eq!(int_op(NumAnd, -2401053089206453570, -374081424649621491), Ok(-2698572151406022644));
        let aa = i64::from_le_bytes([0xAA; 8]);
        let fives = i64::from_le_bytes([0x55; 8]);
        assert_eq!(int_op(NumOr, aa, fives), Ok(-1));
        assert_eq!(int_op(NumXor, aa, fives), Ok(-1));
        assert_eq!(int_op(Set, 99, -4), Ok(-4));

        // Empty old value counts as 0; an overflow leaves the value unchanged.
        let sc = schema(&[Int64]);
        let mut vals = vec![vec![]];
        apply_funcs(&sc, &mut vals, &[func(NumAdd, Int64, i(5))]).unwrap();
        assert_eq!(vals[0], i(5));
        let mut vals = vec![i(i64::MAX)];
        assert_eq!(apply_funcs(&sc, &mut vals, &[func(NumAdd, Int64, i(1))]), Err(ReturnCode::Overflow));
        assert_eq!(vals[0], i(i64::MAX));
    }

    #[test]
    fn float_ops() {
        let sc = schema(&[Float]);
        let run = |old: Vec<u8>, op: FuncOp, arg: f64| {
            let mut vals = vec![old];
            apply_funcs(&sc, &mut vals, &[func(op, Float, fl(arg))])
                .map(|_| f64::from_le_bytes(vals[0].clone().try_into().unwrap()))
        };
        assert_eq!(run(vec![], NumAdd, 1.5), Ok(1.5));
        assert_eq!(run(fl(1.5), NumSub, 2.0), Ok(-0.5));
        assert_eq!(run(fl(1.5), NumMul, 2.0), Ok(3.0));
        assert_eq!(run(fl(3.0), NumDiv, 2.0), Ok(1.5));
        assert_eq!(run(fl(3.0), NumDiv, 0.0), Ok(f64::INFINITY));
        assert_eq!(run(fl(-3.0), NumDiv, 0.0), Ok(f64::NEG_INFINITY));
        assert!(run(fl(0.0), NumDiv, 0.0).unwrap().is_nan());
        assert_eq!(run(fl(f64::MAX), NumMul, 2.0), Ok(f64::INFINITY));
        assert_eq!(run(fl(1.0), NumMod, 2.0), Err(ReturnCode::WrongType));
        assert_eq!(run(fl(1.0), NumXor, 2.0), Err(ReturnCode::WrongType));
    }

    #[test]
    fn strings_and_lists() {
        let sc = schema(&[String, ListString, ListInt64]);
        let mut vals = vec![b"mid".to_vec(), vec![], vec![]];
        apply_funcs(
            &sc,
            &mut vals,
            &[
                func(StringAppend, String, b"-end".to_vec()),
                func(StringPrepend, String, b"start-".to_vec()),
                Func { attr: 2, ..func(ListRpush, String, b"b".to_vec()) },
                Func { attr: 2, ..func(ListLpush, String, b"a".to_vec()) },
                Func { attr: 2, ..func(ListRpush, String, b"b".to_vec()) },
                Func { attr: 3, ..func(ListRpush, Int64, i(7)) },
                Func { attr: 3, ..func(ListLpush, Int64, vec![]) },
            ],
        )
        .unwrap();
        assert_eq!(vals[0], b"start-mid-end");
        assert_eq!(vals[1], [s("a"), s("b"), s("b")].concat());
        assert_eq!(vals[2], [i(0), i(7)].concat());
        // Set replaces; later entries for the same attribute win.
        apply_funcs(
            &sc,
            &mut vals,
            &[
                func(Set, String, b"one".to_vec()),
                func(Set, String, b"two".to_vec()),
                Func { attr: 2, ..func(Set, ListGeneric, vec![]) },
            ],
        )
        .unwrap();
        assert_eq!(vals[0], b"two");
        assert!(vals[1].is_empty());
    }

    #[test]
    fn sets() {
        let sc = schema(&[SetString]);
        let mut vals = vec![vec![]];
        let add = |x: &str| func(SetAdd, String, x.as_bytes().to_vec());
        apply_funcs(&sc, &mut vals, &[add("c"), add("a"), add("b"), add("a")]).unwrap();
        assert_eq!(vals[0], [s("a"), s("b"), s("c")].concat());
        apply_funcs(&sc, &mut vals, &[func(SetRemove, String, b"b".to_vec()), func(SetRemove, String, b"zz".to_vec())])
            .unwrap();
        assert_eq!(vals[0], [s("a"), s("c")].concat());
        let other = [s("b"), s("c"), s("d")].concat();
        apply_funcs(&sc, &mut vals, &[func(SetUnion, SetString, other.clone())]).unwrap();
        assert_eq!(vals[0], [s("a"), s("b"), s("c"), s("d")].concat());
        apply_funcs(&sc, &mut vals, &[func(SetIntersect, SetGeneric, [s("a"), s("d"), s("e")].concat())]).unwrap();
        assert_eq!(vals[0], [s("a"), s("d")].concat());
        apply_funcs(&sc, &mut vals, &[func(SetIntersect, SetGeneric, vec![])]).unwrap();
        assert!(vals[0].is_empty());

        let sc = schema(&[SetFloat]);
        let mut vals = vec![vec![]];
        apply_funcs(
            &sc,
            &mut vals,
            &[
                func(SetAdd, Float, fl(2.0)),
                func(SetAdd, Float, fl(-1.0)),
                func(SetAdd, Float, fl(-0.0)),
                func(SetAdd, Float, fl(0.0)),
                func(SetUnion, SetFloat, [fl(-3.0), fl(2.0), fl(9.0)].concat()),
            ],
        )
        .unwrap();
        assert_eq!(vals[0], [fl(-3.0), fl(-1.0), fl(-0.0), fl(2.0), fl(9.0)].concat());
        // A NaN never produces an invalid set.
        apply_funcs(&sc, &mut vals, &[func(SetAdd, Float, fl(f64::NAN))]).unwrap();
        assert!(validate(SetFloat, &vals[0]));
        let mut nan = vec![fl(f64::NAN)];
        apply_funcs(&sc, &mut nan, &[func(SetUnion, SetFloat, [fl(1.0), fl(2.0)].concat())]).unwrap();
        assert!(validate(SetFloat, &nan[0]));
    }

    #[test]
    fn maps() {
        let sc = schema(&[MapStringString, MapStringInt64, MapInt64Float]);
        let key = |k: &str| k.as_bytes().to_vec();
        let mut vals = vec![vec![], vec![], vec![]];
        let ms = |op: FuncOp, k: &str, v: &str| mfunc(op, String, key(k), String, v.as_bytes().to_vec());
        apply_funcs(
            &sc,
            &mut vals,
            &[
                ms(StringPrepend, "KEY", "5"),
                ms(StringAppend, "KEY", "67"),
                ms(StringPrepend, "KEY", "1234"),
                ms(StringAppend, "KEY", "890"),
                ms(MapAdd, "A", "x"),
            ],
        )
        .unwrap();
        assert_eq!(vals[0], [s("A"), s("x"), s("KEY"), s("1234567890")].concat());

        let mi = |op: FuncOp, k: &str, v: i64| Func { attr: 2, ..mfunc(op, String, key(k), Int64, i(v)) };
        apply_funcs(
            &sc,
            &mut vals,
            &[
                mi(MapAdd, "mapkey", 32),
                mi(NumSub, "mapkey", -32),
                mi(NumAnd, "and", 4),
                mi(NumAnd, "and", 2),
                mi(NumOr, "or", 5),
                mi(MapAdd, "xor", 5),
                mi(NumXor, "xor", 7),
            ],
        )
        .unwrap();
        let want = encode_map(
            MapStringInt64,
            &[(key("mapkey"), i(64)), (key("and"), i(0)), (key("or"), i(5)), (key("xor"), i(2))],
        )
        .unwrap();
        assert_eq!(vals[1], want);

        // Several entries in one call; an overflow in one discards them all (and the other
        // attributes' changes).
        let before = vals.clone();
        let r = apply_funcs(
            &sc,
            &mut vals,
            &[ms(MapAdd, "B", "y"), mi(NumAdd, "or", -1), mi(MapAdd, "big", i64::MAX), mi(NumAdd, "big", 1)],
        );
        assert_eq!(r, Err(ReturnCode::Overflow));
        assert_eq!(vals, before);
        apply_funcs(&sc, &mut vals, &[mi(NumDiv, "new", 0)]).unwrap_err();
        assert_eq!(vals, before);

        // map_remove: present and absent keys.
        apply_funcs(
            &sc,
            &mut vals,
            &[
                Func { attr: 2, ..func(MapRemove, String, key("and")) },
                Func { attr: 2, ..func(MapRemove, String, key("absent")) },
            ],
        )
        .unwrap();
        assert_eq!(crate::values::length_of(MapStringInt64, &vals[1]), Some(3));

        // Numeric keys stay sorted numerically; float values use float arithmetic.
        let mf = |op: FuncOp, k: i64, v: f64| Func { attr: 3, ..mfunc(op, Int64, i(k), Float, fl(v)) };
        apply_funcs(
            &sc,
            &mut vals,
            &[mf(NumAdd, 5, 1.5), mf(NumMul, -2, 3.0), mf(MapAdd, 0, 0.25), mf(NumDiv, 5, 0.5)],
        )
        .unwrap();
        assert_eq!(vals[2], [i(-2), fl(0.0), i(0), fl(0.25), i(5), fl(3.0)].concat());
        let s2 = schema(&[MapFloatInt64]);
        let mut v2 = vec![vec![]];
        apply_funcs(
            &s2,
            &mut v2,
            &[
                mfunc(MapAdd, Float, fl(2.0), Int64, i(1)),
                mfunc(MapAdd, Float, fl(-1.0), Int64, i(2)),
                mfunc(NumAdd, Float, fl(-0.0), Int64, i(3)),
                mfunc(NumAdd, Float, fl(0.0), Int64, i(3)),
            ],
        )
        .unwrap();
        assert_eq!(v2[0], [fl(-1.0), i(2), fl(-0.0), i(6), fl(2.0), i(1)].concat());
    }

    #[test]
    fn apply_is_defensive() {
        let sc = schema(&[Int64, SetString]);
        let mut vals = vec![i(1), vec![]];
        let before = vals.clone();
        let bad = |f: Func| {
            let mut v = before.clone();
            let r = apply_funcs(&sc, &mut v, &[func(NumAdd, Int64, i(1)), f]);
            assert_eq!(v, before);
            r
        };
        assert_eq!(bad(Func { attr: 0, ..func(Set, String, vec![]) }), Err(ReturnCode::DontUseKey));
        assert_eq!(bad(Func { attr: 3, ..func(Set, Int64, i(1)) }), Err(ReturnCode::UnknownAttr));
        assert_eq!(bad(Func { attr: 999, ..func(Set, Int64, i(1)) }), Err(ReturnCode::UnknownAttr));
        assert_eq!(bad(func(NumAdd, Float, fl(1.0))), Err(ReturnCode::WrongType));
        assert_eq!(bad(Func { attr: 2, ..func(SetAdd, SetString, s("x")) }), Err(ReturnCode::WrongType));
        // values shorter than the schema.
        let mut short = vec![i(1)];
        assert_eq!(
            apply_funcs(&sc, &mut short, &[Func { attr: 2, ..func(SetAdd, String, b"x".to_vec()) }]),
            Err(ReturnCode::UnknownAttr)
        );
        // Malformed stored values.
        let mut corrupt = vec![vec![1, 2, 3], vec![7, 0, 0, 0]];
        assert_eq!(apply_funcs(&sc, &mut corrupt, &[func(NumAdd, Int64, i(1))]), Err(ReturnCode::WrongType));
        assert_eq!(
            apply_funcs(&sc, &mut corrupt, &[Func { attr: 2, ..func(SetAdd, String, b"x".to_vec()) }]),
            Err(ReturnCode::WrongType)
        );
        // Set is allowed to repair a corrupt value.
        apply_funcs(&sc, &mut corrupt, &[func(Set, Int64, i(4))]).unwrap();
        assert_eq!(corrupt[0], i(4));
        assert_eq!(apply_funcs(&sc, &mut vals, &[]), Ok(()));
        assert_eq!(vals, before);
    }

    /// floor(a / b) and a - b * floor(a / b) computed in i128, without the rounding fix-up
    /// used by the implementation.
    fn reference_floor(a: i64, b: i64) -> Option<(i64, i64)> {
        if b == 0 {
            return None;
        }
        let (a, b) = (a as i128, b as i128);
        let q = if b > 0 { a.div_euclid(b) } else { (-a).div_euclid(-b) };
        let r = a - b * q;
        Some((i64::try_from(q).ok()?, i64::try_from(r).ok()?))
    }

    fn any_func() -> impl Strategy<Value = Func> {
        let dt = proptest::sample::select(DataType::ALL.to_vec());
        let op = (0u8..19).prop_map(|x| FuncOp::from_raw(x).unwrap());
        let bytes = prop_oneof![
            proptest::collection::vec(any::<u8>(), 0..20),
            any::<i64>().prop_map(|x| x.to_le_bytes().to_vec()),
            Just(vec![]),
            Just(s("a")),
        ];
        (0u16..5, op, dt.clone(), bytes.clone(), proptest::option::of((dt, bytes)))
            .prop_map(|(attr, op, arg_type, arg, map_key)| Func { attr, op, arg_type, arg, map_key })
    }

    proptest! {
        #[test]
        fn floor_div_mod_match_i128(a in prop_oneof![any::<i64>(), -20i64..20, Just(i64::MIN), Just(i64::MAX)],
                                    b in prop_oneof![any::<i64>(), -20i64..20, Just(i64::MIN), Just(-1i64)]) {
            let want = reference_floor(a, b);
            prop_assert_eq!(floor_div(a, b), want.map(|w| w.0));
            // i64::MIN % -1 is OVERFLOW even though the remainder (0) fits.
            let want_mod = if a == i64::MIN && b == -1 { None } else { want.map(|w| w.1) };
            prop_assert_eq!(floor_mod(a, b), want_mod);
            if let Some(r) = floor_mod(a, b) {
                prop_assert!(r == 0 || (r < 0) == (b < 0));
                prop_assert!((r as i128).abs() < (b as i128).abs());
            }
            prop_assert_eq!(int_op(NumDiv, a, b).ok(), floor_div(a, b));
            prop_assert_eq!(int_op(NumMod, a, b).ok(), floor_mod(a, b));
            prop_assert_eq!(int_op(NumAdd, a, b).ok(), a.checked_add(b));
            prop_assert_eq!(int_op(NumMul, a, b).ok(), a.checked_mul(b));
        }

        #[test]
        fn regex_matches_reference(
            p in proptest::collection::vec(proptest::sample::select(b"ab.*^$\\".to_vec()), 0..8),
            t in proptest::collection::vec(proptest::sample::select(b"ab.*^$\\".to_vec()), 0..10),
        ) {
            prop_assert_eq!(regex_match(&p, &t), reference_match(&p, &t));
        }

        #[test]
        fn set_ops_match_a_model(
            start in proptest::collection::btree_set(-20i64..20, 0..10),
            ops in proptest::collection::vec((0u8..4, proptest::collection::btree_set(-20i64..20, 0..6)), 0..6),
        ) {
            let sc = schema(&[SetInt64]);
            let enc = |xs: &std::collections::BTreeSet<i64>| {
                encode_set(Int64, &xs.iter().map(|&x| i(x)).collect::<Vec<_>>()).unwrap()
            };
            let mut vals = vec![enc(&start)];
            let mut model = start.clone();
            for (kind, arg) in ops {
                let first = arg.iter().next().copied().unwrap_or(0);
                let f = match kind {
                    0 => { model.insert(first); func(SetAdd, Int64, i(first)) }
                    1 => { model.remove(&first); func(SetRemove, Int64, i(first)) }
                    2 => { model = model.union(&arg).copied().collect(); func(SetUnion, SetInt64, enc(&arg)) }
                    _ => { model = model.intersection(&arg).copied().collect(); func(SetIntersect, SetInt64, enc(&arg)) }
                };
                apply_funcs(&sc, &mut vals, &[f]).unwrap();
                prop_assert_eq!(&vals[0], &enc(&model));
            }
        }

        #[test]
        fn map_ops_match_a_model(
            ops in proptest::collection::vec((0u8..3, 0u8..6, -5i64..5), 0..12),
        ) {
            let sc = schema(&[MapStringInt64]);
            let mut vals = vec![vec![]];
            let mut model = std::collections::BTreeMap::<Vec<u8>, i64>::new();
            for (kind, k, v) in ops {
                let key = vec![b'k'; k as usize];
                let f = match kind {
                    0 => { model.insert(key.clone(), v); mfunc(MapAdd, String, key, Int64, i(v)) }
                    1 => { *model.entry(key.clone()).or_insert(0) += v; mfunc(NumAdd, String, key, Int64, i(v)) }
                    _ => { model.remove(&key); func(MapRemove, String, key) }
                };
                apply_funcs(&sc, &mut vals, &[f]).unwrap();
                let want: Vec<(Vec<u8>, Vec<u8>)> = model.iter().map(|(k, v)| (k.clone(), i(*v))).collect();
                prop_assert_eq!(&vals[0], &encode_map(MapStringInt64, &want).unwrap());
            }
        }

        #[test]
        fn unvalidated_input_never_panics(
            funcs in proptest::collection::vec(any_func(), 0..4),
            attr_types in proptest::collection::vec(proptest::sample::select(DataType::ALL.to_vec()), 4),
            stored in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..20), 0..5),
            pred in proptest::sample::select(Predicate::ALL.to_vec()),
        ) {
            let sc: Vec<Attribute> = attr_types.iter().enumerate().map(|(n, t)| Attribute { name: format!("a{n}"), dtype: *t }).collect();
            let mut vals = stored.clone();
            let r = apply_funcs(&sc, &mut vals, &funcs);
            if r.is_err() {
                prop_assert_eq!(&vals, &stored);
            } else {
                // Everything written is a valid encoding of its attribute.
                for f in &funcs {
                    let a = f.attr as usize;
                    prop_assert!(validate(sc[a].dtype, &vals[a - 1]));
                }
            }
            for (t, f) in attr_types.iter().zip(funcs.iter()) {
                let mut f2 = f.clone();
                let _ = validate_func(*t, &mut f2);
                let mut c = Check { attr: f.attr, predicate: pred, dtype: f.arg_type, value: f.arg.clone() };
                let _ = validate_check(*t, &mut c);
                for v in &stored {
                    let _ = check_passes(*t, v, &c);
                }
            }
        }
    }
}
