//! Model-based test of the key operations: random sequences of operations (every datatype,
//! every op family, conditions with every predicate, and the call-time errors) run both
//! against a live cluster (3 daemons, `tolerate 2 failures`, two extra subspaces so puts move
//! objects between regions) and against an in-memory model. After every step the status (or
//! the refused call's offset and status) and a `get` of the touched key must match the model;
//! at the end of a case every key is read back. Some steps are pipelined: several operations
//! on different keys are started before the client's loop is called.
//!
//! The model is written here from spec/datatypes.md and spec/client-api.md §3.3/§5.1-5.4 and
//! deliberately shares no code with `hyperdex_core::ops`: typed values, its own encoder, floor
//! division via i128, a backtracking regex matcher. Where the spec leaves the outcome open,
//! the generator avoids the input: no NaN or -0.0 as a set element or map key (which equal
//! element an op touches is not defined for them).
//!
//! Cases are proptest inputs, so a failure shrinks to a short sequence, which is printed one
//! step per line. `MODEL_CASES` (default 160) and `MODEL_STEPS` (default 40) size the run;
//! `MODEL_SEED` replays one (the seed is printed). One cluster serves the whole test; each
//! case uses fresh keys.

mod common;

use std::cell::RefCell;
use std::cmp::Ordering;
use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use common::Cluster;
use hyperclient::client::{Attribute, AttributeCheck, KeyOp, MapAttribute};
use hyperclient::{Client, DataType, Predicate, ReturnCode};
use proptest::prelude::*;
use proptest::strategy::Union;
use proptest::test_runner::{Config, RngSeed, TestCaseError, TestError, TestRunner};

// ---------------------------------------------------------------------------------------
// Types and values of the model
// ---------------------------------------------------------------------------------------

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Prim {
    S,
    I,
    F,
}

/// An attribute type: primitive, list, set or map.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Ty {
    P(Prim),
    L(Prim),
    St(Prim),
    M(Prim, Prim),
}

/// The bare container classes (GENERIC, LIST_GENERIC, SET_GENERIC, MAP_GENERIC).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Class {
    Generic,
    List,
    Set,
    Map,
}

use Prim::{F, I, S};

impl Ty {
    fn class(self) -> Class {
        match self {
            Ty::P(_) => Class::Generic,
            Ty::L(_) => Class::List,
            Ty::St(_) => Class::Set,
            Ty::M(..) => Class::Map,
        }
    }

    /// The ABI datatype number (client-api.md §1.2).
    fn datatype(self) -> DataType {
        use DataType as D;
        match self {
            Ty::P(S) => D::String,
            Ty::P(I) => D::Int64,
            Ty::P(F) => D::Float,
            Ty::L(S) => D::ListString,
            Ty::L(I) => D::ListInt64,
            Ty::L(F) => D::ListFloat,
            Ty::St(S) => D::SetString,
            Ty::St(I) => D::SetInt64,
            Ty::St(F) => D::SetFloat,
            Ty::M(S, S) => D::MapStringString,
            Ty::M(S, I) => D::MapStringInt64,
            Ty::M(S, F) => D::MapStringFloat,
            Ty::M(I, S) => D::MapInt64String,
            Ty::M(I, I) => D::MapInt64Int64,
            Ty::M(I, F) => D::MapInt64Float,
            Ty::M(F, S) => D::MapFloatString,
            Ty::M(F, I) => D::MapFloatInt64,
            Ty::M(F, F) => D::MapFloatFloat,
        }
    }
}

impl Class {
    fn datatype(self) -> DataType {
        match self {
            Class::Generic => DataType::Generic,
            Class::List => DataType::ListGeneric,
            Class::Set => DataType::SetGeneric,
            Class::Map => DataType::MapGeneric,
        }
    }
}

const ALL_TYS: [Ty; 18] = [
    Ty::P(S),
    Ty::P(I),
    Ty::P(F),
    Ty::L(S),
    Ty::L(I),
    Ty::L(F),
    Ty::St(S),
    Ty::St(I),
    Ty::St(F),
    Ty::M(S, S),
    Ty::M(S, I),
    Ty::M(S, F),
    Ty::M(I, S),
    Ty::M(I, I),
    Ty::M(I, F),
    Ty::M(F, S),
    Ty::M(F, I),
    Ty::M(F, F),
];

/// The non-key attributes of every space used here, in schema order.
const SCHEMA: [(&str, Ty); 14] = [
    ("s", Ty::P(S)),
    ("i", Ty::P(I)),
    ("f", Ty::P(F)),
    ("ls", Ty::L(S)),
    ("li", Ty::L(I)),
    ("lf", Ty::L(F)),
    ("ss", Ty::St(S)),
    ("si", Ty::St(I)),
    ("sf", Ty::St(F)),
    ("mss", Ty::M(S, S)),
    ("msi", Ty::M(S, I)),
    ("msf", Ty::M(S, F)),
    ("mif", Ty::M(I, F)),
    ("mfs", Ty::M(F, S)),
];

/// Three spaces with the same attributes, one per key type.
const SPACES: [(&str, Prim); 3] = [("model_s", S), ("model_i", I), ("model_f", F)];

fn space_description(name: &str, key: Prim) -> String {
    let kt = match key {
        S => "string",
        I => "int",
        F => "float",
    };
    format!(
        "space {name} key {kt} k attributes string s, int i, float f, list(string) ls, list(int) li, \
         list(float) lf, set(string) ss, set(int) si, set(float) sf, map(string, string) mss, \
         map(string, int) msi, map(string, float) msf, map(int, float) mif, map(float, string) mfs \
         subspace s, i subspace f create 4 partitions tolerate 2 failures"
    )
}

/// One primitive inside a container (numbers are never "unset" there).
#[derive(Clone)]
enum Sc {
    S(Vec<u8>),
    I(i64),
    F(f64),
}

/// A typed value. `I(None)` / `F(None)` are the empty (0-byte) encodings of int64 / float.
/// Sets are kept sorted without duplicates, maps sorted by key (the canonical forms).
#[derive(Clone)]
enum Val {
    S(Vec<u8>),
    I(Option<i64>),
    F(Option<f64>),
    L(Prim, Vec<Sc>),
    St(Prim, Vec<Sc>),
    M(Prim, Prim, Vec<(Sc, Sc)>),
}

/// The order of datatypes.md §2: strings bytewise then shorter first, int64 signed, floats
/// numeric with NaN "equal" to everything.
fn order(a: &Sc, b: &Sc) -> Ordering {
    match (a, b) {
        (Sc::S(x), Sc::S(y)) => x.cmp(y),
        (Sc::I(x), Sc::I(y)) => x.cmp(y),
        (Sc::F(x), Sc::F(y)) => {
            if x < y {
                Ordering::Less
            } else if x > y {
                Ordering::Greater
            } else {
                Ordering::Equal
            }
        }
        _ => panic!("model bug: comparing different primitive types"),
    }
}

impl Sc {
    /// In-container encoding: string = u32 LE length + bytes; numbers = 8 bytes LE.
    fn encode(&self, out: &mut Vec<u8>) {
        match self {
            Sc::S(b) => {
                out.extend_from_slice(&(b.len() as u32).to_le_bytes());
                out.extend_from_slice(b);
            }
            Sc::I(x) => out.extend_from_slice(&x.to_le_bytes()),
            Sc::F(x) => out.extend_from_slice(&x.to_le_bytes()),
        }
    }

    fn bytes(&self) -> Vec<u8> {
        let mut v = Vec::new();
        self.encode(&mut v);
        v
    }

    fn zero(p: Prim) -> Sc {
        match p {
            S => Sc::S(Vec::new()),
            I => Sc::I(0),
            F => Sc::F(0.0),
        }
    }
}

impl Val {
    fn ty(&self) -> Ty {
        match self {
            Val::S(_) => Ty::P(S),
            Val::I(_) => Ty::P(I),
            Val::F(_) => Ty::P(F),
            Val::L(p, _) => Ty::L(*p),
            Val::St(p, _) => Ty::St(*p),
            Val::M(k, v, _) => Ty::M(*k, *v),
        }
    }

    /// The stored / sent encoding (datatypes.md §2).
    fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        match self {
            Val::S(b) => out.extend_from_slice(b),
            Val::I(x) => out.extend(x.map(|x| x.to_le_bytes()).into_iter().flatten()),
            Val::F(x) => out.extend(x.map(|x| x.to_le_bytes()).into_iter().flatten()),
            Val::L(_, xs) | Val::St(_, xs) => xs.iter().for_each(|x| x.encode(&mut out)),
            Val::M(_, _, es) => {
                for (k, v) in es {
                    k.encode(&mut out);
                    v.encode(&mut out);
                }
            }
        }
        out
    }

    /// A primitive value as a container element (empty numbers are 0).
    fn sc(&self) -> Sc {
        match self {
            Val::S(b) => Sc::S(b.clone()),
            Val::I(x) => Sc::I(x.unwrap_or(0)),
            Val::F(x) => Sc::F(x.unwrap_or(0.0)),
            _ => panic!("model bug: container used as an element"),
        }
    }

    /// The value of a never-set attribute: "", empty int/float, [], set(), {}.
    fn empty(t: Ty) -> Val {
        match t {
            Ty::P(S) => Val::S(Vec::new()),
            Ty::P(I) => Val::I(None),
            Ty::P(F) => Val::F(None),
            Ty::L(p) => Val::L(p, Vec::new()),
            Ty::St(p) => Val::St(p, Vec::new()),
            Ty::M(k, v) => Val::M(k, v, Vec::new()),
        }
    }
}

fn canon_set(mut xs: Vec<Sc>) -> Vec<Sc> {
    xs.sort_by(order);
    xs.dedup_by(|a, b| order(a, b) == Ordering::Equal);
    xs
}

fn canon_map(es: Vec<(Sc, Sc)>) -> Vec<(Sc, Sc)> {
    let mut out: Vec<(Sc, Sc)> = Vec::new();
    for (k, v) in es {
        match out.iter().position(|(k2, _)| order(k2, &k) == Ordering::Equal) {
            Some(p) => out[p].1 = v,
            None => out.push((k, v)),
        }
    }
    out.sort_by(|a, b| order(&a.0, &b.0));
    out
}

// ---------------------------------------------------------------------------------------
// Operations (the generated input)
// ---------------------------------------------------------------------------------------

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum NumOp {
    Add,
    Sub,
    Mul,
    Div,
    Mod,
    And,
    Or,
    Xor,
}

impl NumOp {
    fn float_ok(self) -> bool {
        matches!(self, NumOp::Add | NumOp::Sub | NumOp::Mul | NumOp::Div)
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Op {
    Get,
    Put,
    PutIfNotExist,
    CondPut,
    Del,
    Num(NumOp),
    StrPrepend,
    StrAppend,
    LPush,
    RPush,
    SetAdd,
    SetRemove,
    SetUnion,
    SetIntersect,
    MapRemove,
    MapAdd,
    MapNum(NumOp),
    MapStrPrepend,
    MapStrAppend,
}

impl Op {
    fn key_op(self) -> KeyOp {
        use NumOp::*;
        match self {
            Op::Get => unreachable!("get is not a KeyOp"),
            Op::Put => KeyOp::PUT,
            Op::PutIfNotExist => KeyOp::PUT_IF_NOT_EXIST,
            Op::CondPut => KeyOp::COND_PUT,
            Op::Del => KeyOp::DEL,
            Op::Num(n) => match n {
                Add => KeyOp::ATOMIC_ADD,
                Sub => KeyOp::ATOMIC_SUB,
                Mul => KeyOp::ATOMIC_MUL,
                Div => KeyOp::ATOMIC_DIV,
                Mod => KeyOp::ATOMIC_MOD,
                And => KeyOp::ATOMIC_AND,
                Or => KeyOp::ATOMIC_OR,
                Xor => KeyOp::ATOMIC_XOR,
            },
            Op::StrPrepend => KeyOp::STRING_PREPEND,
            Op::StrAppend => KeyOp::STRING_APPEND,
            Op::LPush => KeyOp::LIST_LPUSH,
            Op::RPush => KeyOp::LIST_RPUSH,
            Op::SetAdd => KeyOp::SET_ADD,
            Op::SetRemove => KeyOp::SET_REMOVE,
            Op::SetUnion => KeyOp::SET_UNION,
            Op::SetIntersect => KeyOp::SET_INTERSECT,
            Op::MapRemove => KeyOp::MAP_REMOVE,
            Op::MapAdd => KeyOp::MAP_ADD,
            Op::MapNum(n) => match n {
                Add => KeyOp::MAP_ATOMIC_ADD,
                Sub => KeyOp::MAP_ATOMIC_SUB,
                Mul => KeyOp::MAP_ATOMIC_MUL,
                Div => KeyOp::MAP_ATOMIC_DIV,
                Mod => KeyOp::MAP_ATOMIC_MOD,
                And => KeyOp::MAP_ATOMIC_AND,
                Or => KeyOp::MAP_ATOMIC_OR,
                Xor => KeyOp::MAP_ATOMIC_XOR,
            },
            Op::MapStrPrepend => KeyOp::MAP_STRING_PREPEND,
            Op::MapStrAppend => KeyOp::MAP_STRING_APPEND,
        }
    }

    /// (fails if absent, fails if present, erases) — keyop_info of client-api.md §3.3.
    fn flags(self) -> (bool, bool, bool) {
        match self {
            Op::Put => (false, false, false),
            Op::PutIfNotExist => (false, true, false),
            Op::Del => (true, false, true),
            _ => (true, false, false),
        }
    }

    fn is_map_entry_op(self) -> bool {
        matches!(self, Op::MapAdd | Op::MapNum(_) | Op::MapStrPrepend | Op::MapStrAppend)
    }

    /// The argument type a plain attribute of type `t` needs for this op, if the op applies.
    fn need(self, t: Ty) -> Option<Ty> {
        match (self, t) {
            (Op::Put | Op::PutIfNotExist | Op::CondPut, _) => Some(t),
            (Op::Num(_), Ty::P(I)) => Some(t),
            (Op::Num(n), Ty::P(F)) if n.float_ok() => Some(t),
            (Op::StrPrepend | Op::StrAppend, Ty::P(S)) => Some(t),
            (Op::LPush | Op::RPush, Ty::L(p)) => Some(Ty::P(p)),
            (Op::SetAdd | Op::SetRemove, Ty::St(p)) => Some(Ty::P(p)),
            (Op::SetUnion | Op::SetIntersect, Ty::St(_)) => Some(t),
            (Op::MapRemove, Ty::M(k, _)) => Some(Ty::P(k)),
            _ => None,
        }
    }

    /// Whether a map-entry op suits a map whose values are `v` (datatypes.md §4.6).
    fn map_value_ok(self, v: Prim) -> bool {
        match self {
            Op::MapAdd => true,
            Op::MapNum(n) => v == I || (v == F && n.float_ok()),
            Op::MapStrPrepend | Op::MapStrAppend => v == S,
            _ => false,
        }
    }
}

/// An attribute name in an argument: a schema attribute, the key, or an unknown name.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Name {
    A(usize),
    Key,
    Unknown,
}

impl Name {
    fn bytes(self) -> &'static [u8] {
        match self {
            Name::A(i) => SCHEMA[i].0.as_bytes(),
            Name::Key => b"k",
            Name::Unknown => b"nope",
        }
    }
}

/// An argument value as sent: a well-formed typed value, a malformed encoding of a type, an
/// empty value of a bare class (the empty-GENERIC rule), or a non-empty value sent with its
/// bare class as datatype.
#[derive(Clone)]
enum Arg {
    V(Val),
    Raw(Ty, Vec<u8>),
    Empty(Class),
    Gen(Val),
}

impl Arg {
    fn datatype(&self) -> DataType {
        match self {
            Arg::V(v) => v.ty().datatype(),
            Arg::Raw(t, _) => t.datatype(),
            Arg::Empty(c) => c.datatype(),
            Arg::Gen(v) => v.ty().class().datatype(),
        }
    }

    fn bytes(&self) -> Vec<u8> {
        match self {
            Arg::V(v) | Arg::Gen(v) => v.encode(),
            Arg::Raw(_, b) => b.clone(),
            Arg::Empty(_) => Vec::new(),
        }
    }
}

#[derive(Clone)]
struct CheckArg {
    name: Name,
    pred: Predicate,
    arg: Arg,
}

#[derive(Clone)]
struct AttrArg {
    name: Name,
    arg: Arg,
}

#[derive(Clone)]
struct MapArg {
    name: Name,
    key: Arg,
    val: Arg,
}

#[derive(Clone)]
struct Call {
    op: Op,
    checks: Vec<CheckArg>,
    attrs: Vec<AttrArg>,
    maps: Vec<MapArg>,
}

impl Call {
    fn get() -> Call {
        Call { op: Op::Get, checks: Vec::new(), attrs: Vec::new(), maps: Vec::new() }
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Hash)]
enum Target {
    /// Key number `.1` of space `.0` (fresh keys in every case).
    Key(u8, u8),
    /// A key whose bytes are invalid for the space's key type (3 bytes for int64/float).
    BadKey(u8),
    /// A space that does not exist.
    NoSpace,
}

impl Target {
    fn key_prim(self) -> Prim {
        match self {
            Target::Key(s, _) | Target::BadKey(s) => SPACES[s as usize].1,
            Target::NoSpace => S,
        }
    }

    /// (space name, key bytes, key value) in case `case`.
    fn resolve(self, case: u64) -> (&'static str, Vec<u8>, Option<Val>) {
        match self {
            Target::Key(s, k) => {
                let (space, prim) = SPACES[s as usize];
                let n = case * 4 + u64::from(k);
                let odd = k % 2 == 1;
                let key = match prim {
                    S => Val::S(format!("c{case}k{k}").into_bytes()),
                    I => Val::I(Some(if odd { -(n as i64) - 1 } else { n as i64 })),
                    F => Val::F(Some(if odd { -(n as f64) - 0.5 } else { n as f64 + 0.5 })),
                };
                (space, key.encode(), Some(key))
            }
            Target::BadKey(s) => (SPACES[s as usize].0, vec![1, 2, 3], None),
            Target::NoSpace => ("nosuch", b"x".to_vec(), None),
        }
    }
}

/// One operation. With `with_next`, it is started together with the next step (when that
/// one is on another key) and the client's loop is called only after both were issued: runs
/// of such steps exercise pipelining.
#[derive(Clone)]
struct Step {
    target: Target,
    call: CallSpec,
    with_next: bool,
}

// ---- readable printing of the failing sequence ----

fn quoted(b: &[u8]) -> String {
    format!("\"{}\"", b.escape_ascii())
}

impl fmt::Debug for Sc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Sc::S(b) => write!(f, "{}", quoted(b)),
            Sc::I(x) => write!(f, "{x}"),
            Sc::F(x) => write!(f, "{x:?}f"),
        }
    }
}

impl fmt::Debug for Val {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Val::S(b) => write!(f, "{}", quoted(b)),
            Val::I(Some(x)) => write!(f, "{x}"),
            Val::I(None) => write!(f, "int()"),
            Val::F(Some(x)) => write!(f, "{x:?}f"),
            Val::F(None) => write!(f, "float()"),
            Val::L(p, xs) => write!(f, "list<{p:?}>{xs:?}"),
            Val::St(p, xs) => write!(f, "set<{p:?}>{xs:?}"),
            Val::M(k, v, es) => {
                write!(f, "map<{k:?},{v:?}>{{")?;
                for (n, (a, b)) in es.iter().enumerate() {
                    write!(f, "{}{a:?}: {b:?}", if n > 0 { ", " } else { "" })?;
                }
                write!(f, "}}")
            }
        }
    }
}

impl fmt::Debug for Arg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Arg::V(v) => write!(f, "{v:?}"),
            Arg::Raw(t, b) => write!(f, "raw {t:?} {}", quoted(b)),
            Arg::Empty(c) => write!(f, "empty {c:?}"),
            Arg::Gen(v) => write!(f, "as-generic {v:?}"),
        }
    }
}

impl fmt::Debug for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(std::str::from_utf8(self.bytes()).unwrap())
    }
}

impl fmt::Debug for CheckArg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?} {:?} {:?}", self.name, self.pred, self.arg)
    }
}

impl fmt::Debug for AttrArg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}={:?}", self.name, self.arg)
    }
}

impl fmt::Debug for MapArg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}[{:?}]={:?}", self.name, self.key, self.val)
    }
}

impl fmt::Debug for Call {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.op)?;
        if !self.checks.is_empty() {
            write!(f, " if {:?}", self.checks)?;
        }
        if !self.attrs.is_empty() {
            write!(f, " {:?}", self.attrs)?;
        }
        if !self.maps.is_empty() {
            write!(f, " {:?}", self.maps)?;
        }
        Ok(())
    }
}

impl fmt::Debug for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Target::Key(s, k) => write!(f, "{}#{k}", SPACES[*s as usize].0),
            Target::BadKey(s) => write!(f, "{}#badkey", SPACES[*s as usize].0),
            Target::NoSpace => write!(f, "nosuch#x"),
        }
    }
}

impl fmt::Debug for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?} {:?}", self.target, self.call.resolve(self.target.key_prim()))?;
        if self.with_next {
            write!(f, "   (+ pipelined with the next step)")?;
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------
// Generation: every step is a plain value (no strategy depends on another, so shrinking is
// fast and thorough); its arguments are "recipes" resolved against the attribute types.
// ---------------------------------------------------------------------------------------

const EDGE_I: [i64; 16] =
    [0, 1, -1, 2, -2, 3, -3, 7, -7, i64::MAX, i64::MIN, i64::MAX - 1, i64::MIN + 1, 1 << 62, -(1 << 62), 1 << 32];
const POOL_F: [f64; 14] = [
    0.0,
    1.0,
    -1.0,
    0.5,
    -2.5,
    3.25,
    1e300,
    -1e300,
    f64::INFINITY,
    f64::NEG_INFINITY,
    f64::MIN_POSITIVE,
    f64::MAX,
    -0.0,
    f64::NAN,
];

/// A float usable as a set element or map key: NaN and -0.0 become 0.0 (which equal element
/// an op would touch is not defined for them).
fn tame(x: f64) -> f64 {
    if x.is_nan() || x == 0.0 {
        0.0
    } else {
        x
    }
}

/// What kind of argument a recipe gives.
#[derive(Clone, Copy, Debug)]
enum Kind {
    /// A well-formed value of the type the slot needs.
    Good,
    /// A well-formed value of the recipe's own type `ty` (usually the wrong one).
    Other,
    /// A malformed encoding of the needed type.
    Raw,
    /// An empty value sent as the bare class `class`.
    Empty,
    /// A container sent with its bare class as datatype (put, set union/intersect).
    Generic,
}

/// The ingredients of one argument value. Primitives use `int` / `float` / `str` (None =
/// the empty encoding); containers use the pools.
#[derive(Clone, Debug)]
struct Recipe {
    kind: Kind,
    ty: Ty,
    class: Class,
    int: Option<i64>,
    float: Option<f64>,
    str: Vec<u8>,
    ints: Vec<i64>,
    floats: Vec<f64>,
    strs: Vec<Vec<u8>>,
}

impl Recipe {
    fn pool(&self, p: Prim) -> Vec<Sc> {
        match p {
            S => self.strs.iter().cloned().map(Sc::S).collect(),
            I => self.ints.iter().copied().map(Sc::I).collect(),
            F => self.floats.iter().map(|&x| Sc::F(tame(x))).collect(),
        }
    }

    /// A well-formed value of type `t`; `elem`: a set element or map key (tamed floats).
    fn build(&self, t: Ty, elem: bool) -> Val {
        match t {
            Ty::P(S) => Val::S(self.str.clone()),
            Ty::P(I) => Val::I(self.int),
            Ty::P(F) => Val::F(if elem { self.float.map(tame) } else { self.float }),
            Ty::L(p) => Val::L(p, self.pool(p)),
            Ty::St(p) => Val::St(p, canon_set(self.pool(p))),
            Ty::M(k, v) => {
                let vals = match v {
                    F => self.floats.iter().map(|&x| Sc::F(x)).collect(),
                    _ => self.pool(v),
                };
                Val::M(k, v, canon_map(self.pool(k).into_iter().zip(vals.into_iter().rev()).collect()))
            }
        }
    }

    /// The argument for a slot that needs type `need` (None: the op does not apply there).
    fn arg(&self, need: Option<Ty>, gen_ok: bool, elem: bool) -> Arg {
        let t = need.unwrap_or(self.ty);
        match self.kind {
            Kind::Good => Arg::V(self.build(t, elem)),
            Kind::Other => Arg::V(self.build(self.ty, elem)),
            Kind::Raw => raw(t, self.strs.len()),
            Kind::Empty => Arg::Empty(self.class),
            Kind::Generic if gen_ok && t.class() != Class::Generic => Arg::Gen(self.build(t, elem)),
            Kind::Generic => Arg::V(self.build(t, elem)),
        }
    }
}

/// Two distinct elements, the smaller first.
fn two(p: Prim) -> (Sc, Sc) {
    match p {
        S => (Sc::S(b"a".to_vec()), Sc::S(b"b".to_vec())),
        I => (Sc::I(1), Sc::I(2)),
        F => (Sc::F(0.5), Sc::F(1.0)),
    }
}

fn cat(items: &[&Sc]) -> Vec<u8> {
    let mut out = Vec::new();
    items.iter().for_each(|x| x.encode(&mut out));
    out
}

/// Malformed encoding number `variant` of `t` (datatypes.md §2 "Validation"), sent as `t`.
fn raw(t: Ty, variant: usize) -> Arg {
    let pick = |options: Vec<Vec<u8>>| options[variant % options.len()].clone();
    match t {
        Ty::P(I) | Ty::P(F) => Arg::Raw(t, pick(vec![vec![1, 2, 3], vec![7; 9], vec![0; 1]])),
        // Every byte string is a valid string: send a malformed int64 instead.
        Ty::P(S) => Arg::Raw(Ty::P(I), vec![1, 2, 3]),
        Ty::L(S) => Arg::Raw(t, pick(vec![vec![5, 0, 0, 0, b'a'], vec![1, 0, 0]])),
        Ty::L(_) => Arg::Raw(t, pick(vec![vec![0; 12], vec![0; 3]])),
        Ty::St(p) => {
            let (a, b) = two(p);
            Arg::Raw(t, pick(vec![cat(&[&b, &a]), cat(&[&a, &a])]))
        }
        Ty::M(k, v) => {
            let (a, b) = two(k);
            let z = Sc::zero(v);
            Arg::Raw(t, pick(vec![cat(&[&b, &z, &a, &z]), cat(&[&a, &z, &a, &z]), cat(&[&a])]))
        }
    }
}

/// Which attribute an argument names: `Fit(n)` = the n-th (modulo) attribute the op applies
/// to, `Any(n)` = the n-th attribute of the schema, the key, or an unknown name.
#[derive(Clone, Copy, Debug)]
enum Pick {
    Fit(usize),
    Any(usize),
    Key,
    Unknown,
}

impl Pick {
    fn name(self, fit: &[usize]) -> Name {
        match self {
            Pick::Fit(n) if !fit.is_empty() => Name::A(fit[n % fit.len()]),
            Pick::Fit(n) | Pick::Any(n) => Name::A(n % SCHEMA.len()),
            Pick::Key => Name::Key,
            Pick::Unknown => Name::Unknown,
        }
    }
}

/// A regex: leading `^`, atoms (index into `ATOMS`, starred), trailing `$`.
type Pattern = (bool, Vec<(usize, bool)>, bool);

/// Regex atoms: None = `.`; specials are escaped when used as literals.
const ATOMS: [Option<u8>; 10] =
    [Some(b'a'), Some(b'b'), Some(b'c'), Some(b'-'), Some(b'1'), None, Some(b'.'), Some(b'*'), Some(b'^'), Some(b'$')];

fn render(p: &Pattern) -> Vec<u8> {
    let mut out = Vec::new();
    if p.0 {
        out.push(b'^');
    }
    for &(a, star) in &p.1 {
        match ATOMS[a % ATOMS.len()] {
            None => out.push(b'.'),
            Some(c) if b".*^$\\".contains(&c) => out.extend_from_slice(&[b'\\', c]),
            Some(c) => out.push(c),
        }
        if star {
            out.push(b'*');
        }
    }
    if p.2 {
        out.push(b'$');
    }
    out
}

#[derive(Clone, Debug)]
struct CheckSpec {
    name: Pick,
    /// A predicate regardless of the type (None: `pick` chooses one that suits the type).
    pred: Option<Predicate>,
    pick: usize,
    recipe: Recipe,
    pattern: Pattern,
    len: i64,
}

/// An attribute argument, or for map-entry ops a map attribute (`a` = key, `b` = value).
#[derive(Clone, Debug)]
struct ArgSpec {
    name: Pick,
    a: Recipe,
    b: Recipe,
}

#[derive(Clone, Debug)]
struct CallSpec {
    op: Op,
    checks: Vec<CheckSpec>,
    args: Vec<ArgSpec>,
}

/// Predicates that suit an attribute of type `t` (client-api.md §5.4), repeated by weight.
fn preds_for(t: Option<Ty>) -> Vec<Predicate> {
    use Predicate as P;
    let length = [P::LengthEquals, P::LengthLessEqual, P::LengthGreaterEqual, P::ContainsLessThan];
    match t {
        Some(Ty::P(S)) => [&[P::Equals, P::LessEqual, P::GreaterEqual, P::Regex, P::Regex][..], &length[..]].concat(),
        Some(Ty::P(_)) => vec![P::Equals, P::LessEqual, P::GreaterEqual],
        Some(_) => [&[P::Equals, P::Contains, P::Contains][..], &length[..]].concat(),
        None => vec![P::Equals],
    }
}

impl CheckSpec {
    fn resolve(&self, key: Prim) -> CheckArg {
        use Predicate as P;
        let name = self.name.name(&[]);
        let aty = match name {
            Name::A(i) => Some(SCHEMA[i].1),
            Name::Key => Some(Ty::P(key)),
            Name::Unknown => None,
        };
        let pred = self.pred.unwrap_or_else(|| {
            let ps = preds_for(aty);
            ps[self.pick % ps.len()]
        });
        let r = &self.recipe;
        let arg = match (pred, r.kind) {
            (P::Regex, Kind::Good) => Arg::V(Val::S(render(&self.pattern))),
            // A trailing lone backslash never matches.
            (P::Regex, Kind::Raw) => Arg::V(Val::S(b"a\\".to_vec())),
            (P::Regex, _) => r.arg(Some(Ty::P(S)), false, false),
            (P::LengthEquals | P::LengthLessEqual | P::LengthGreaterEqual | P::ContainsLessThan, Kind::Good) => {
                Arg::V(Val::I(Some(self.len)))
            }
            (P::LengthEquals | P::LengthLessEqual | P::LengthGreaterEqual | P::ContainsLessThan, _) => {
                r.arg(Some(Ty::P(I)), false, false)
            }
            (P::Contains, _) => {
                let need = match aty {
                    Some(Ty::L(p) | Ty::St(p) | Ty::M(p, _)) => Some(Ty::P(p)),
                    _ => None,
                };
                r.arg(need, false, false)
            }
            _ => r.arg(aty, false, false),
        };
        CheckArg { name, pred, arg }
    }
}

impl CallSpec {
    /// The concrete call on a space whose key type is `key`.
    fn resolve(&self, key: Prim) -> Call {
        let op = self.op;
        let checks = match op {
            // put and put_if_not_exist take no checks; get and del are plain here too
            // unless `checks` says cond_del.
            Op::Get | Op::Put | Op::PutIfNotExist => Vec::new(),
            _ => self.checks.iter().map(|c| c.resolve(key)).collect(),
        };
        let mut call = Call { op, checks, attrs: Vec::new(), maps: Vec::new() };
        match op {
            Op::Get | Op::Del => {}
            _ if op.is_map_entry_op() => {
                let fit: Vec<usize> =
                    (0..SCHEMA.len()).filter(|&i| matches!(SCHEMA[i].1, Ty::M(_, v) if op.map_value_ok(v))).collect();
                for a in &self.args {
                    let name = a.name.name(&fit);
                    let (kn, vn) = match name {
                        Name::A(i) => match SCHEMA[i].1 {
                            Ty::M(k, v) => (Some(Ty::P(k)), op.map_value_ok(v).then_some(Ty::P(v))),
                            _ => (None, None),
                        },
                        _ => (None, None),
                    };
                    call.maps.push(MapArg { name, key: a.a.arg(kn, false, true), val: a.b.arg(vn, false, false) });
                }
            }
            _ => {
                let fit: Vec<usize> = (0..SCHEMA.len()).filter(|&i| op.need(SCHEMA[i].1).is_some()).collect();
                let gen_ok = matches!(op, Op::Put | Op::PutIfNotExist | Op::CondPut | Op::SetUnion | Op::SetIntersect);
                let elem = matches!(op, Op::SetAdd | Op::SetRemove | Op::MapRemove);
                for a in &self.args {
                    let name = a.name.name(&fit);
                    let need = match name {
                        Name::A(i) => op.need(SCHEMA[i].1),
                        _ => None,
                    };
                    call.attrs.push(AttrArg { name, arg: a.a.arg(need, gen_ok, elem) });
                }
            }
        }
        call
    }
}

fn str_s() -> BoxedStrategy<Vec<u8>> {
    prop_oneof![
        5 => prop::collection::vec(prop::sample::select(b"abc-1".to_vec()), 0..4),
        1 => prop::collection::vec(any::<u8>(), 0..3),
    ]
    .boxed()
}

fn int_s() -> BoxedStrategy<i64> {
    prop_oneof![3 => -8i64..8, 4 => prop::sample::select(EDGE_I.to_vec()), 1 => any::<i64>()].boxed()
}

fn float_s() -> BoxedStrategy<f64> {
    prop_oneof![
        4 => (-8i32..8).prop_map(|x| f64::from(x) / 2.0),
        4 => prop::sample::select(POOL_F.to_vec()),
        1 => any::<f64>(),
    ]
    .boxed()
}

fn recipe_s() -> BoxedStrategy<Recipe> {
    let kind = Union::new_weighted(vec![
        (40, Just(Kind::Good)),
        (1, Just(Kind::Other)),
        (1, Just(Kind::Raw)),
        (1, Just(Kind::Empty)),
        (2, Just(Kind::Generic)),
    ]);
    let class = prop::sample::select(vec![Class::Generic, Class::List, Class::Set, Class::Map]);
    let pools = (
        prop::collection::vec(int_s(), 0..4),
        prop::collection::vec(float_s(), 0..4),
        prop::collection::vec(str_s(), 0..4),
    );
    (
        kind,
        prop::sample::select(ALL_TYS.to_vec()),
        class,
        prop::option::weighted(0.9, int_s()),
        prop::option::weighted(0.9, float_s()),
        str_s(),
        pools,
    )
        .prop_map(|(kind, ty, class, int, float, str, (ints, floats, strs))| Recipe {
            kind,
            ty,
            class,
            int,
            float,
            str,
            ints,
            floats,
            strs,
        })
        .boxed()
}

fn pick_s(key_weight: u32) -> BoxedStrategy<Pick> {
    Union::new_weighted(vec![
        (50, (0..16usize).prop_map(Pick::Fit).boxed()),
        (2, (0..SCHEMA.len()).prop_map(Pick::Any).boxed()),
        (key_weight, Just(Pick::Key).boxed()),
        (1, Just(Pick::Unknown).boxed()),
    ])
    .boxed()
}

fn pattern_s() -> BoxedStrategy<Pattern> {
    (any::<bool>(), prop::collection::vec((0..ATOMS.len(), any::<bool>()), 0..4), prop::bool::weighted(0.3)).boxed()
}

fn check_s() -> BoxedStrategy<CheckSpec> {
    let pred = prop_oneof![12 => Just(None), 1 => prop::sample::select(Predicate::ALL.to_vec()).prop_map(Some)];
    (pick_s(12), pred, 0..16usize, recipe_s(), pattern_s(), -1i64..6)
        .prop_map(|(name, pred, pick, recipe, pattern, len)| CheckSpec { name, pred, pick, recipe, pattern, len })
        .boxed()
}

fn op_s() -> BoxedStrategy<Op> {
    let num = prop::sample::select(vec![
        NumOp::Add,
        NumOp::Sub,
        NumOp::Mul,
        NumOp::Div,
        NumOp::Mod,
        NumOp::And,
        NumOp::Or,
        NumOp::Xor,
    ]);
    Union::new_weighted(vec![
        (10, Just(Op::Put).boxed()),
        (2, Just(Op::Get).boxed()),
        (3, Just(Op::PutIfNotExist).boxed()),
        (3, Just(Op::CondPut).boxed()),
        (2, Just(Op::Del).boxed()),
        (8, num.clone().prop_map(Op::Num).boxed()),
        (1, Just(Op::StrPrepend).boxed()),
        (1, Just(Op::StrAppend).boxed()),
        (1, Just(Op::LPush).boxed()),
        (1, Just(Op::RPush).boxed()),
        (1, Just(Op::SetAdd).boxed()),
        (1, Just(Op::SetRemove).boxed()),
        (1, Just(Op::SetUnion).boxed()),
        (1, Just(Op::SetIntersect).boxed()),
        (1, Just(Op::MapRemove).boxed()),
        (2, Just(Op::MapAdd).boxed()),
        (5, num.prop_map(Op::MapNum).boxed()),
        (1, Just(Op::MapStrPrepend).boxed()),
        (1, Just(Op::MapStrAppend).boxed()),
    ])
    .boxed()
}

fn call_s() -> BoxedStrategy<CallSpec> {
    let checks = prop_oneof![3 => Just(Vec::new()), 1 => prop::collection::vec(check_s(), 1..3)];
    let arg = (pick_s(1), recipe_s(), recipe_s()).prop_map(|(name, a, b)| ArgSpec { name, a, b });
    (op_s(), checks, prop::collection::vec(arg, 0..4))
        .prop_map(|(op, checks, args)| CallSpec { op, checks, args })
        .boxed()
}

fn target_s() -> BoxedStrategy<Target> {
    // Few keys, so that objects build up long histories.
    prop_oneof![
        20 => Just(Target::Key(0, 0)),
        10 => Just(Target::Key(0, 1)),
        5 => Just(Target::Key(1, 0)),
        3 => Just(Target::Key(1, 1)),
        5 => Just(Target::Key(2, 0)),
        1 => (1u8..3).prop_map(Target::BadKey),
        1 => Just(Target::NoSpace),
    ]
    .boxed()
}

/// Every key a case uses.
const ALL_KEYS: [Target; 5] =
    [Target::Key(0, 0), Target::Key(0, 1), Target::Key(1, 0), Target::Key(1, 1), Target::Key(2, 0)];

/// One case: which keys are created (`put {}`) before the steps, and the steps.
#[derive(Clone)]
struct Case {
    created: Vec<bool>,
    steps: Vec<Step>,
}

impl fmt::Debug for Case {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let created: Vec<Target> = ALL_KEYS.iter().zip(&self.created).filter(|(_, &c)| c).map(|(t, _)| *t).collect();
        writeln!(f, "  first, put {{}} on {created:?}")?;
        for (n, s) in self.steps.iter().enumerate() {
            writeln!(f, "  {n:2}: {s:?}")?;
        }
        Ok(())
    }
}

fn case_s(max_steps: usize) -> BoxedStrategy<Case> {
    let step = (target_s(), call_s(), prop::bool::weighted(0.2)).prop_map(|(target, call, with_next)| Step {
        target,
        call,
        with_next,
    });
    (prop::collection::vec(prop::bool::weighted(0.75), ALL_KEYS.len()), prop::collection::vec(step, 1..=max_steps))
        .prop_map(|(created, steps)| Case { created, steps })
        .boxed()
}

// ---------------------------------------------------------------------------------------
// The model
// ---------------------------------------------------------------------------------------

/// What a call gives: refused at call time (offset, status), or completed by loop (status,
/// and for a successful get the encoded values in schema order).
#[derive(Clone, PartialEq, Eq)]
enum Outcome {
    Refused(i64, ReturnCode),
    Done(ReturnCode, Option<Vec<Vec<u8>>>),
}

impl fmt::Debug for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Outcome::Refused(off, rc) => write!(f, "refused {off} {rc:?}"),
            Outcome::Done(rc, None) => write!(f, "{rc:?}"),
            Outcome::Done(rc, Some(vals)) => {
                write!(f, "{rc:?} {{")?;
                for (n, v) in vals.iter().enumerate() {
                    write!(f, "{}{}={}", if n > 0 { ", " } else { "" }, SCHEMA[n].0, quoted(v))?;
                }
                write!(f, "}}")
            }
        }
    }
}

/// The datatype an argument has after the empty-GENERIC rule (client-api.md §5.2).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Dt {
    T(Ty),
    Bare(Class),
}

/// The effective datatype and value of `arg` for a slot declared `declared`; None when the
/// bytes do not validate (WRONGTYPE whatever the op).
fn effective(arg: &Arg, declared: Ty) -> Option<(Dt, Option<Val>)> {
    match arg {
        Arg::V(v) => Some((Dt::T(v.ty()), Some(v.clone()))),
        Arg::Raw(..) => None,
        Arg::Empty(c) => {
            if *c == declared.class() {
                Some((Dt::T(declared), Some(Val::empty(declared))))
            } else {
                Some((Dt::Bare(*c), None))
            }
        }
        Arg::Gen(v) => {
            if v.encode().is_empty() {
                effective(&Arg::Empty(v.ty().class()), declared)
            } else {
                Some((Dt::Bare(v.ty().class()), Some(v.clone())))
            }
        }
    }
}

/// Check validity (client-api.md §5.4).
fn check_valid(pred: Predicate, aty: Ty, dt: Dt) -> bool {
    use Predicate as P;
    match pred {
        P::Fail => true,
        P::Equals => dt == Dt::T(aty),
        P::LessEqual | P::GreaterEqual => dt == Dt::T(aty) && matches!(aty, Ty::P(_)),
        P::Regex => dt == Dt::T(Ty::P(S)) && aty == Ty::P(S),
        P::LengthEquals | P::LengthLessEqual | P::LengthGreaterEqual | P::ContainsLessThan => {
            dt == Dt::T(Ty::P(I)) && (aty == Ty::P(S) || aty.class() != Class::Generic)
        }
        P::Contains => match aty {
            Ty::L(p) | Ty::St(p) | Ty::M(p, _) => dt == Dt::T(Ty::P(p)),
            Ty::P(_) => false,
        },
    }
}

/// Validity of a plain attribute argument for `op` on an attribute of type `t` (datatypes.md
/// §4 tables, with the bare-class forms accepted by put and set union/intersect).
fn func_valid(op: Op, t: Ty, dt: Dt, v: &Option<Val>) -> bool {
    let bare_of_t = dt == Dt::Bare(t.class()) && t.class() != Class::Generic && v.as_ref().is_some_and(|v| v.ty() == t);
    match (op, t) {
        (Op::Put | Op::PutIfNotExist | Op::CondPut, _) => dt == Dt::T(t) || bare_of_t,
        (Op::SetUnion | Op::SetIntersect, Ty::St(_)) => dt == Dt::T(t) || bare_of_t,
        _ => op.need(t).is_some_and(|n| dt == Dt::T(n)),
    }
}

enum Func {
    Attr(usize, Op, Val),
    Entry(usize, Op, Sc, Val),
}

/// A validated call: the checks (None = the key attribute) and the functions.
struct Plan {
    checks: Vec<(Option<usize>, Predicate, Val)>,
    funcs: Vec<Func>,
}

/// Client-side validation in the order of client-api.md §5.1 (space and key are done by the
/// caller), with the offsets of §3.6.
fn validate(key: Prim, call: &Call) -> Result<Plan, (i64, ReturnCode)> {
    let mut plan = Plan { checks: Vec::new(), funcs: Vec::new() };
    let nc = call.checks.len() as i64;
    let na = call.attrs.len() as i64;
    for (i, c) in call.checks.iter().enumerate() {
        let off = -2 - i as i64;
        let (attr, aty) = match c.name {
            Name::A(a) => (Some(a), SCHEMA[a].1),
            Name::Key => (None, Ty::P(key)),
            Name::Unknown => return Err((off, ReturnCode::UnknownAttr)),
        };
        match effective(&c.arg, aty) {
            Some((dt, v)) if check_valid(c.pred, aty, dt) => {
                plan.checks.push((attr, c.pred, v.unwrap_or_else(|| Val::empty(aty))))
            }
            _ => return Err((off, ReturnCode::WrongType)),
        }
    }
    for (j, a) in call.attrs.iter().enumerate() {
        let off = -2 - nc - j as i64;
        let idx = match a.name {
            Name::A(x) => x,
            Name::Key => return Err((off, ReturnCode::DontUseKey)),
            Name::Unknown => return Err((off, ReturnCode::UnknownAttr)),
        };
        let t = SCHEMA[idx].1;
        match effective(&a.arg, t) {
            Some((dt, Some(v))) if func_valid(call.op, t, dt, &Some(v.clone())) => {
                plan.funcs.push(Func::Attr(idx, call.op, v))
            }
            _ => return Err((off, ReturnCode::WrongType)),
        }
    }
    for (k, m) in call.maps.iter().enumerate() {
        let off = -2 - nc - na - k as i64;
        let idx = match m.name {
            Name::A(x) => x,
            Name::Key => return Err((off, ReturnCode::DontUseKey)),
            Name::Unknown => return Err((off, ReturnCode::UnknownAttr)),
        };
        let wrong = Err((off, ReturnCode::WrongType));
        let Ty::M(kp, vp) = SCHEMA[idx].1 else { return wrong };
        if !call.op.map_value_ok(vp) {
            return wrong;
        }
        match (effective(&m.key, Ty::P(kp)), effective(&m.val, Ty::P(vp))) {
            (Some((kd, Some(kv))), Some((vd, Some(vv)))) if kd == Dt::T(Ty::P(kp)) && vd == Dt::T(Ty::P(vp)) => {
                plan.funcs.push(Func::Entry(idx, call.op, kv.sc(), vv))
            }
            _ => return wrong,
        }
    }
    Ok(plan)
}

/// Floor modulo (the sign of the divisor), computed in i128.
fn floor_mod(a: i64, b: i64) -> i128 {
    let (a, b) = (i128::from(a), i128::from(b));
    ((a % b) + b) % b
}

fn int_op(n: NumOp, a: i64, b: i64) -> Option<i64> {
    match n {
        NumOp::Add => a.checked_add(b),
        NumOp::Sub => a.checked_sub(b),
        NumOp::Mul => a.checked_mul(b),
        // floor(a / b) = (a - floor_mod(a, b)) / b exactly; INT64_MIN / -1 does not fit.
        NumOp::Div if b != 0 => i64::try_from((i128::from(a) - floor_mod(a, b)) / i128::from(b)).ok(),
        // INT64_MIN mod -1 is OVERFLOW too (datatypes.md §4.2).
        NumOp::Mod if b != 0 && !(a == i64::MIN && b == -1) => Some(floor_mod(a, b) as i64),
        NumOp::Div | NumOp::Mod => None,
        NumOp::And => Some(a & b),
        NumOp::Or => Some(a | b),
        NumOp::Xor => Some(a ^ b),
    }
}

fn float_op(n: NumOp, a: f64, b: f64) -> f64 {
    match n {
        NumOp::Add => a + b,
        NumOp::Sub => a - b,
        NumOp::Mul => a * b,
        NumOp::Div => a / b,
        _ => panic!("model bug: {n:?} on a float"),
    }
}

/// One primitive-level op on `cur` (a number op, a string op, or a replacement).
fn prim_op(op: Op, cur: &Sc, arg: &Sc) -> Option<Sc> {
    Some(match (op, cur, arg) {
        (Op::MapAdd, _, _) => arg.clone(),
        (Op::Num(n) | Op::MapNum(n), Sc::I(a), Sc::I(b)) => Sc::I(int_op(n, *a, *b)?),
        (Op::Num(n) | Op::MapNum(n), Sc::F(a), Sc::F(b)) => Sc::F(float_op(n, *a, *b)),
        (Op::StrPrepend | Op::MapStrPrepend, Sc::S(a), Sc::S(b)) => Sc::S([b.as_slice(), a].concat()),
        (Op::StrAppend | Op::MapStrAppend, Sc::S(a), Sc::S(b)) => Sc::S([a.as_slice(), b].concat()),
        _ => panic!("model bug: {op:?} on {cur:?} with {arg:?}"),
    })
}

fn eq(a: &Sc, b: &Sc) -> bool {
    order(a, b) == Ordering::Equal
}

fn set_insert(xs: &mut Vec<Sc>, x: Sc) {
    if !xs.iter().any(|m| eq(m, &x)) {
        let at = xs.iter().position(|m| order(m, &x) == Ordering::Greater).unwrap_or(xs.len());
        xs.insert(at, x);
    }
}

/// Applies one function to the working copy of an object; None means OVERFLOW.
fn apply(obj: &mut [Val], f: &Func) -> Option<()> {
    match f {
        Func::Attr(i, op, arg) => {
            let cur = &mut obj[*i];
            let new = match (op, &*cur) {
                (Op::Put | Op::PutIfNotExist | Op::CondPut, _) => arg.clone(),
                (Op::Num(_), Val::I(_)) | (Op::Num(_), Val::F(_)) | (Op::StrPrepend | Op::StrAppend, _) => {
                    match prim_op(*op, &cur.sc(), &arg.sc())? {
                        Sc::I(x) => Val::I(Some(x)),
                        Sc::F(x) => Val::F(Some(x)),
                        Sc::S(b) => Val::S(b),
                    }
                }
                (Op::LPush, Val::L(p, xs)) => Val::L(*p, [vec![arg.sc()], xs.clone()].concat()),
                (Op::RPush, Val::L(p, xs)) => Val::L(*p, [xs.clone(), vec![arg.sc()]].concat()),
                (Op::SetAdd, Val::St(p, xs)) => {
                    let mut xs = xs.clone();
                    set_insert(&mut xs, arg.sc());
                    Val::St(*p, xs)
                }
                (Op::SetRemove, Val::St(p, xs)) => {
                    Val::St(*p, xs.iter().filter(|m| !eq(m, &arg.sc())).cloned().collect())
                }
                (Op::SetUnion, Val::St(p, xs)) => {
                    let Val::St(_, other) = arg else { panic!("model bug") };
                    let mut xs = xs.clone();
                    other.iter().for_each(|x| set_insert(&mut xs, x.clone()));
                    Val::St(*p, xs)
                }
                (Op::SetIntersect, Val::St(p, xs)) => {
                    let Val::St(_, other) = arg else { panic!("model bug") };
                    Val::St(*p, xs.iter().filter(|m| other.iter().any(|o| eq(o, m))).cloned().collect())
                }
                (Op::MapRemove, Val::M(k, v, es)) => {
                    Val::M(*k, *v, es.iter().filter(|e| !eq(&e.0, &arg.sc())).cloned().collect())
                }
                _ => panic!("model bug: {op:?} on {cur:?}"),
            };
            *cur = new;
        }
        Func::Entry(i, op, key, arg) => {
            let Val::M(_, vp, es) = &mut obj[*i] else { panic!("model bug") };
            let at = es.iter().position(|e| eq(&e.0, key));
            let cur = at.map_or_else(|| Sc::zero(*vp), |p| es[p].1.clone());
            let new = prim_op(*op, &cur, &arg.sc())?;
            match at {
                Some(p) => es[p].1 = new,
                None => {
                    let p = es.iter().position(|e| order(&e.0, key) == Ordering::Greater).unwrap_or(es.len());
                    es.insert(p, (key.clone(), new));
                }
            }
        }
    }
    Some(())
}

/// The regex dialect of search.md §1.1, by backtracking over parsed atoms.
fn regex(pattern: &[u8], text: &[u8]) -> bool {
    let (anchored, p) = match pattern.split_first() {
        Some((b'^', rest)) => (true, rest),
        _ => (false, pattern),
    };
    // (byte or None for any, starred)
    let mut atoms: Vec<(Option<u8>, bool)> = Vec::new();
    let mut end = false;
    let mut i = 0;
    while i < p.len() {
        let atom = match p[i] {
            b'\\' => {
                if i + 1 == p.len() {
                    return false;
                }
                i += 1;
                Some(p[i])
            }
            b'$' if i + 1 == p.len() => {
                end = true;
                break;
            }
            b'.' => None,
            c => Some(c),
        };
        i += 1;
        let star = p.get(i) == Some(&b'*');
        if star {
            i += 1;
        }
        atoms.push((atom, star));
    }
    fn here(atoms: &[(Option<u8>, bool)], text: &[u8], end: bool) -> bool {
        let Some(&(a, star)) = atoms.first() else { return !end || text.is_empty() };
        let fits = |c: u8| a.is_none() || a == Some(c);
        if star {
            let mut t = text;
            loop {
                if here(&atoms[1..], t, end) {
                    return true;
                }
                match t.split_first() {
                    Some((&c, rest)) if fits(c) => t = rest,
                    _ => return false,
                }
            }
        }
        match text.split_first() {
            Some((&c, rest)) if fits(c) => here(&atoms[1..], rest, end),
            _ => false,
        }
    }
    if anchored {
        here(&atoms, text, end)
    } else {
        (0..=text.len()).any(|s| here(&atoms, &text[s..], end))
    }
}

fn length(v: &Val) -> Option<i128> {
    match v {
        Val::S(b) => Some(b.len() as i128),
        Val::L(_, xs) | Val::St(_, xs) => Some(xs.len() as i128),
        Val::M(_, _, es) => Some(es.len() as i128),
        _ => None,
    }
}

fn nan(x: &Sc) -> bool {
    matches!(x, Sc::F(f) if f.is_nan())
}

/// Whether the stored value `cur` passes a validated check (datatypes.md §5, search.md §1).
fn passes(cur: &Val, pred: Predicate, arg: &Val) -> bool {
    use Predicate as P;
    match pred {
        P::Fail => false,
        // Bytes compared exactly; an empty int64/float counts as its 8-byte 0.
        P::Equals => match cur {
            Val::I(_) | Val::F(_) => cur.sc().bytes() == arg.sc().bytes(),
            _ => cur.encode() == arg.encode(),
        },
        // A float NaN on either side passes neither bound (IEEE; docs/search.md).
        P::LessEqual | P::GreaterEqual if nan(&cur.sc()) || nan(&arg.sc()) => false,
        P::LessEqual => order(&cur.sc(), &arg.sc()) != Ordering::Greater,
        P::GreaterEqual => order(&cur.sc(), &arg.sc()) != Ordering::Less,
        P::Regex => match (cur, arg) {
            (Val::S(t), Val::S(p)) => regex(p, t),
            _ => panic!("model bug: regex on {cur:?}"),
        },
        P::LengthEquals | P::LengthLessEqual | P::LengthGreaterEqual | P::ContainsLessThan => {
            let (len, n) = (length(cur).expect("model bug: length"), i128::from(arg.sc().bytes_as_i64()));
            match pred {
                P::LengthEquals => len == n,
                P::LengthGreaterEqual => len >= n,
                _ => len <= n,
            }
        }
        P::Contains => {
            let needle = arg.sc().bytes();
            match cur {
                Val::L(_, xs) | Val::St(_, xs) => xs.iter().any(|x| x.bytes() == needle),
                Val::M(_, _, es) => es.iter().any(|e| e.0.bytes() == needle),
                _ => panic!("model bug: contains on {cur:?}"),
            }
        }
    }
}

impl Sc {
    fn bytes_as_i64(&self) -> i64 {
        match self {
            Sc::I(x) => *x,
            _ => panic!("model bug: not an int"),
        }
    }
}

#[derive(Default)]
struct Model {
    objs: BTreeMap<(u8, u8), Vec<Val>>,
}

impl Model {
    /// What `call` on `target` must give, applying it to the model.
    fn expect(&mut self, case: u64, target: Target, call: &Call) -> Outcome {
        let (s, k) = match target {
            Target::NoSpace => return Outcome::Refused(-1, ReturnCode::UnknownSpace),
            Target::BadKey(_) => return Outcome::Refused(-1, ReturnCode::WrongType),
            Target::Key(s, k) => (s, k),
        };
        let key_prim = SPACES[s as usize].1;
        let key_val = target.resolve(case).2.expect("a key value");
        let plan = match validate(key_prim, call) {
            Ok(p) => p,
            Err((off, rc)) => return Outcome::Refused(off, rc),
        };
        let found = self.objs.get(&(s, k));
        if call.op == Op::Get {
            return match found {
                Some(obj) => Outcome::Done(ReturnCode::Success, Some(obj.iter().map(Val::encode).collect())),
                None => Outcome::Done(ReturnCode::NotFound, None),
            };
        }
        // Server order (client-api.md §3.3): absence, presence, checks, then the functions.
        let (fail_absent, fail_present, erase) = call.op.flags();
        let done = |rc| Outcome::Done(rc, None);
        if found.is_none() && (fail_absent || erase) {
            return done(ReturnCode::NotFound);
        }
        if found.is_some() && fail_present {
            return done(ReturnCode::CmpFail);
        }
        if !plan.checks.is_empty() {
            let Some(obj) = found else { return done(ReturnCode::CmpFail) };
            for (attr, pred, arg) in &plan.checks {
                let cur = attr.map_or(&key_val, |a| &obj[a]);
                if !passes(cur, *pred, arg) {
                    return done(ReturnCode::CmpFail);
                }
            }
        }
        if erase {
            self.objs.remove(&(s, k));
            return done(ReturnCode::Success);
        }
        let mut work: Vec<Val> = match found {
            Some(obj) => obj.clone(),
            None => SCHEMA.iter().map(|a| Val::empty(a.1)).collect(),
        };
        for f in &plan.funcs {
            if apply(&mut work, f).is_none() {
                return done(ReturnCode::Overflow);
            }
        }
        self.objs.insert((s, k), work);
        done(ReturnCode::Success)
    }
}

// ---------------------------------------------------------------------------------------
// Running calls against the cluster
// ---------------------------------------------------------------------------------------

type C = Client<u32>;

const LOOP_TIMEOUT_MS: i32 = 15_000;

/// Starts `call` on `target`; Err is the refused call's (offset, status).
fn issue(c: &mut C, case: u64, target: Target, call: &Call) -> Result<i64, Outcome> {
    let (space, key, _) = target.resolve(case);
    let cv: Vec<(Vec<u8>, DataType)> = call.checks.iter().map(|x| (x.arg.bytes(), x.arg.datatype())).collect();
    let av: Vec<(Vec<u8>, DataType)> = call.attrs.iter().map(|x| (x.arg.bytes(), x.arg.datatype())).collect();
    let mv: Vec<(Vec<u8>, DataType, Vec<u8>, DataType)> =
        call.maps.iter().map(|m| (m.key.bytes(), m.key.datatype(), m.val.bytes(), m.val.datatype())).collect();
    let checks: Vec<AttributeCheck<'_>> = call
        .checks
        .iter()
        .zip(&cv)
        .map(|(x, (v, d))| AttributeCheck { name: x.name.bytes(), value: v, datatype: *d, predicate: x.pred })
        .collect();
    let attrs: Vec<Attribute<'_>> = call
        .attrs
        .iter()
        .zip(&av)
        .map(|(x, (v, d))| Attribute { name: x.name.bytes(), value: v, datatype: *d })
        .collect();
    let maps: Vec<MapAttribute<'_>> = call
        .maps
        .iter()
        .zip(&mv)
        .map(|(x, (k, kd, v, vd))| MapAttribute {
            name: x.name.bytes(),
            map_key: k,
            map_key_datatype: *kd,
            value: v,
            value_datatype: *vd,
        })
        .collect();
    let r = if call.op == Op::Get {
        c.get(space.as_bytes(), &key, 0)
    } else {
        c.key_op(call.op.key_op(), space.as_bytes(), &key, &checks, &attrs, &maps, 0)
    };
    r.map_err(|e| Outcome::Refused(e.offset, e.status))
}

/// The next completion: (id, outcome). A get's values must carry the schema's names and
/// declared types.
fn next(c: &mut C) -> Result<(i64, Outcome), String> {
    let ev = c.loop_once(LOOP_TIMEOUT_MS).map_err(|rc| format!("loop_once failed: {rc:?}"))?;
    let values = match &ev.values {
        None => None,
        Some(vals) => {
            let mut out = Vec::new();
            for (n, (name, dt, v)) in vals.iter().enumerate() {
                let want = SCHEMA.get(n).map(|a| (a.0.as_bytes(), a.1.datatype()));
                if want != Some((name, dt)) {
                    return Err(format!("get returned attribute {n} as {} {dt:?}", quoted(name)));
                }
                out.push(v.to_vec());
            }
            Some(out)
        }
    };
    Ok((ev.id, Outcome::Done(ev.status, values)))
}

fn run_one(c: &mut C, case: u64, target: Target, call: &Call) -> Result<Outcome, String> {
    match issue(c, case, target, call) {
        Err(refused) => Ok(refused),
        Ok(id) => {
            let (got, out) = next(c)?;
            if got != id {
                return Err(format!("loop returned id {got}, expected {id}"));
            }
            Ok(out)
        }
    }
}

/// Completes everything a failed case left outstanding.
fn drain(c: &mut C) {
    while c.pending() > 0 {
        if c.loop_once(LOOP_TIMEOUT_MS).is_err() {
            break;
        }
    }
}

#[derive(Default)]
struct Stats {
    cases: u64,
    steps: u64,
    /// "op → outcome" counts, to see what the generated cases covered.
    outcomes: BTreeMap<String, u64>,
}

impl Stats {
    fn note(&mut self, call: &Call, out: &Outcome) {
        let op = match call.op {
            Op::Num(_) => "Num".to_string(),
            Op::MapNum(_) => "MapNum".to_string(),
            op => format!("{op:?}"),
        };
        let cond = if call.checks.is_empty() { "" } else { "(cond)" };
        let out = match out {
            Outcome::Refused(_, rc) => format!("refused {rc:?}"),
            Outcome::Done(rc, _) => format!("{rc:?}"),
        };
        *self.outcomes.entry(format!("{op}{cond} -> {out}")).or_default() += 1;
    }
}

struct Harness {
    client: C,
    case: u64,
    stats: Stats,
}

fn fail(msg: String) -> TestCaseError {
    TestCaseError::fail(msg)
}

fn compare(
    h: &mut Harness,
    what: &dyn Fn() -> String,
    call: &Call,
    got: Outcome,
    want: Outcome,
) -> Result<(), TestCaseError> {
    h.stats.note(call, &want);
    if got != want {
        return Err(fail(format!("{}\n  cluster: {got:?}\n  model:   {want:?}", what())));
    }
    Ok(())
}

fn check_get(h: &mut Harness, model: &mut Model, n: usize, target: Target) -> Result<(), TestCaseError> {
    let case = h.case;
    let get = Call::get();
    let want = model.expect(case, target, &get);
    let got = run_one(&mut h.client, case, target, &get).map_err(fail)?;
    let typed = match target {
        Target::Key(s, k) => model.objs.get(&(s, k)).map(|obj| {
            let fields: Vec<String> = SCHEMA.iter().zip(obj).map(|(a, v)| format!("{}: {v:?}", a.0)).collect();
            fields.join(", ")
        }),
        _ => None,
    };
    let what = || match &typed {
        Some(t) => format!("step {n}: get {target:?} afterwards (the model's object: {{{t}}})"),
        None => format!("step {n}: get {target:?} afterwards"),
    };
    compare(h, &what, &get, got, want)
}

fn run_case(h: &mut Harness, input: &Case) -> Result<(), TestCaseError> {
    drain(&mut h.client);
    h.case += 1;
    h.stats.cases += 1;
    let case = h.case;
    let mut model = Model::default();
    let create = Call { op: Op::Put, checks: Vec::new(), attrs: Vec::new(), maps: Vec::new() };
    for (t, _) in ALL_KEYS.iter().zip(&input.created).filter(|(_, &c)| c) {
        let want = model.expect(case, *t, &create);
        let got = run_one(&mut h.client, case, *t, &create).map_err(fail)?;
        compare(h, &|| format!("creating {t:?}"), &create, got, want)?;
    }
    let steps = &input.steps;
    let mut n = 0;
    while n < steps.len() {
        // A group: this step and, while `with_next` says so, the following ones on other keys
        // (operations on one key are not pipelined: their order of completion is not defined).
        let mut group = vec![n];
        while steps[*group.last().unwrap()].with_next
            && group.last().unwrap() + 1 < steps.len()
            && !group.iter().any(|&g| steps[g].target == steps[group.last().unwrap() + 1].target)
        {
            group.push(group.last().unwrap() + 1);
        }
        h.stats.steps += group.len() as u64;
        let calls: Vec<(usize, Target, Call)> =
            group.iter().map(|&g| (g, steps[g].target, steps[g].call.resolve(steps[g].target.key_prim()))).collect();
        if let [(n, t, call)] = &calls[..] {
            let want = model.expect(case, *t, call);
            let got = run_one(&mut h.client, case, *t, call).map_err(fail)?;
            compare(h, &|| format!("step {n}: {t:?} {call:?}"), call, got, want)?;
        } else {
            let mut pending: HashMap<i64, (usize, Outcome)> = HashMap::new();
            for (j, (n, t, call)) in calls.iter().enumerate() {
                let want = model.expect(case, *t, call);
                match issue(&mut h.client, case, *t, call) {
                    Ok(id) => {
                        pending.insert(id, (j, want));
                    }
                    Err(got) => compare(h, &|| format!("step {n}: {t:?} {call:?}"), call, got, want)?,
                }
            }
            while !pending.is_empty() {
                let (id, got) = next(&mut h.client).map_err(fail)?;
                let Some((j, want)) = pending.remove(&id) else {
                    return Err(fail(format!("step {n}: loop returned an unknown id {id}")));
                };
                let (n, t, call) = &calls[j];
                compare(h, &|| format!("step {n} (pipelined): {t:?} {call:?}"), call, got, want)?;
            }
        }
        for (n, t, _) in &calls {
            check_get(h, &mut model, *n, *t)?;
        }
        n += group.len();
    }
    // Every key of the case, touched or not, holds what the model says.
    for t in ALL_KEYS {
        check_get(h, &mut model, steps.len(), t)?;
    }
    Ok(())
}

fn env_u64(name: &str) -> Option<u64> {
    std::env::var(name).ok().map(|v| v.parse().unwrap_or_else(|_| panic!("{name} must be a number")))
}

#[test]
fn key_operations_match_the_model() {
    let started = Instant::now();
    let cases = env_u64("MODEL_CASES").unwrap_or(160) as u32;
    let max_steps = env_u64("MODEL_STEPS").unwrap_or(40) as usize;
    let seed = env_u64("MODEL_SEED")
        .unwrap_or_else(|| SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_nanos() as u64);
    eprintln!("model: {cases} cases of up to {max_steps} steps, MODEL_SEED={seed}");

    let cl = Cluster::start("model", 3);
    let mut client: C = Client::new("127.0.0.1", cl.coord_port).expect("client");
    for (name, key) in SPACES {
        assert_eq!(client.add_space(space_description(name, key).as_bytes()), ReturnCode::Success);
    }
    eprintln!("model: cluster ready in {:?}", started.elapsed());

    let config = Config {
        cases,
        failure_persistence: None,
        rng_seed: RngSeed::Fixed(seed),
        max_shrink_iters: 4096,
        max_shrink_time: 180_000,
        ..Config::default()
    };
    let harness = RefCell::new(Harness { client, case: 0, stats: Stats::default() });
    let mut runner = TestRunner::new(config);
    let result = runner.run(&case_s(max_steps), |input| run_case(&mut harness.borrow_mut(), &input));

    let h = harness.into_inner();
    eprintln!("model: {} cases, {} steps in {:?}; outcomes:", h.stats.cases, h.stats.steps, started.elapsed());
    for (k, v) in &h.stats.outcomes {
        eprintln!("  {v:6}  {k}");
    }
    match result {
        Ok(()) => {}
        Err(TestError::Fail(reason, input)) => {
            panic!("the cluster disagrees with the model (MODEL_SEED={seed}).\n{reason}\nshrunk case:\n{input:?}");
        }
        Err(e) => panic!("{e}"),
    }
}
