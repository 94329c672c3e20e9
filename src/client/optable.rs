//! The one table of key operations: every C function of §3.3 except get, its `KeyOp`, the
//! shape of its arguments and its documentation. The table is a macro so that the same rows
//! generate the `KeyOp` constants (client/request.rs), the C shims (ffi/keyops.rs) and
//! [`KEY_OPS`], from which tools/gen-header writes the C declarations and against which
//! tests/op_table.rs checks the header and the Python module.
//!
//! A row: `c_name: CONST = definition, shape, "doc"` then optionally `, cond c_name` (the
//! conditional form uses the same `KeyOp`), or `, cond c_name CONST [= definition], "doc"`
//! (it uses another one, or its own words). Shapes: `attrs` (an attribute array), `maps` (a
//! map-attribute array), `none` (nothing but the key).

/// Calls macro `$m` with every row of the table.
#[macro_export]
#[doc(hidden)]
macro_rules! with_key_ops {
    ($m:ident) => {
        $m! {
            hyperclient_put: PUT = KeyOp { flags: 0, attr_op: Some(FuncOp::Set), map_op: None }, attrs, "Stores the given attributes under `key`, creating the object if it does not exist (attributes not named are then empty) and changing only the named attributes if it does.",
                cond hyperclient_cond_put COND_PUT = attrs(FuncOp::Set), "Updates the object under `key` if every check passes against its current value, all in one atomic step. NOTFOUND if there is no object; CMPFAIL if a check fails.";
            hyperclient_put_if_not_exist: PUT_IF_NOT_EXIST = KeyOp { flags: flags::FAIL_IF_FOUND, attr_op: Some(FuncOp::Set), map_op: None }, attrs, "Like put, but only creates: if an object exists under `key` the operation finishes with CMPFAIL and nothing changes.";
            hyperclient_del: DEL = KeyOp { flags: NF | flags::ERASE, attr_op: None, map_op: None }, none, "Deletes the object under `key`. NOTFOUND if there is none.",
                cond hyperclient_cond_del DEL, "Deletes the object under `key` if every check passes against it. NOTFOUND if there is none; CMPFAIL if a check fails.";
            hyperclient_atomic_add: ATOMIC_ADD = attrs(FuncOp::NumAdd), attrs, "Adds each given number to its int64 or float attribute. NOTFOUND if there is no object (it is not created). All attributes of one call are applied atomically, or none is (OVERFLOW on int64 overflow or division by zero).",
                cond hyperclient_cond_atomic_add;
            hyperclient_atomic_sub: ATOMIC_SUB = attrs(FuncOp::NumSub), attrs, "Subtracts each given number from its int64 or float attribute. NOTFOUND if there is no object (it is not created). All attributes of one call are applied atomically, or none is (OVERFLOW on int64 overflow or division by zero).",
                cond hyperclient_cond_atomic_sub;
            hyperclient_atomic_mul: ATOMIC_MUL = attrs(FuncOp::NumMul), attrs, "Multiplies each int64 or float attribute by the given number. NOTFOUND if there is no object (it is not created). All attributes of one call are applied atomically, or none is (OVERFLOW on int64 overflow or division by zero).",
                cond hyperclient_cond_atomic_mul;
            hyperclient_atomic_div: ATOMIC_DIV = attrs(FuncOp::NumDiv), attrs, "Divides each int64 attribute by the given number, rounding toward negative infinity (or each float attribute, IEEE division). NOTFOUND if there is no object (it is not created). All attributes of one call are applied atomically, or none is (OVERFLOW on int64 overflow or division by zero).",
                cond hyperclient_cond_atomic_div;
            hyperclient_atomic_mod: ATOMIC_MOD = attrs(FuncOp::NumMod), attrs, "Replaces each int64 attribute by its floor modulo the given number (the result has the divisor's sign). NOTFOUND if there is no object (it is not created). All attributes of one call are applied atomically, or none is (OVERFLOW on int64 overflow or division by zero).",
                cond hyperclient_cond_atomic_mod;
            hyperclient_atomic_and: ATOMIC_AND = attrs(FuncOp::NumAnd), attrs, "Bitwise AND of each int64 attribute with the given number. NOTFOUND if there is no object (it is not created).",
                cond hyperclient_cond_atomic_and;
            hyperclient_atomic_or: ATOMIC_OR = attrs(FuncOp::NumOr), attrs, "Bitwise OR of each int64 attribute with the given number. NOTFOUND if there is no object (it is not created).",
                cond hyperclient_cond_atomic_or;
            hyperclient_atomic_xor: ATOMIC_XOR = attrs(FuncOp::NumXor), attrs, "Bitwise XOR of each int64 attribute with the given number. NOTFOUND if there is no object (it is not created).",
                cond hyperclient_cond_atomic_xor;
            hyperclient_string_prepend: STRING_PREPEND = attrs(FuncOp::StringPrepend), attrs, "Prepends the given bytes to each string attribute. NOTFOUND if there is no object (it is not created).",
                cond hyperclient_cond_string_prepend;
            hyperclient_string_append: STRING_APPEND = attrs(FuncOp::StringAppend), attrs, "Appends the given bytes to each string attribute. NOTFOUND if there is no object (it is not created).",
                cond hyperclient_cond_string_append;
            hyperclient_list_lpush: LIST_LPUSH = attrs(FuncOp::ListLpush), attrs, "Inserts the given element (of the list's element type) at the head of each list attribute. NOTFOUND if there is no object (it is not created).",
                cond hyperclient_cond_list_lpush;
            hyperclient_list_rpush: LIST_RPUSH = attrs(FuncOp::ListRpush), attrs, "Appends the given element (of the list's element type) at the tail of each list attribute. NOTFOUND if there is no object (it is not created).",
                cond hyperclient_cond_list_rpush;
            hyperclient_set_add: SET_ADD = attrs(FuncOp::SetAdd), attrs, "Adds each given element (of the set's element type) to its set attribute. NOTFOUND if there is no object (it is not created).",
                cond hyperclient_cond_set_add;
            hyperclient_set_remove: SET_REMOVE = attrs(FuncOp::SetRemove), attrs, "Removes each given element from its set attribute (absent elements are ignored). NOTFOUND if there is no object (it is not created).",
                cond hyperclient_cond_set_remove;
            hyperclient_set_intersect: SET_INTERSECT = attrs(FuncOp::SetIntersect), attrs, "Intersects each set attribute with the given set. NOTFOUND if there is no object (it is not created).",
                cond hyperclient_cond_set_intersect;
            hyperclient_set_union: SET_UNION = attrs(FuncOp::SetUnion), attrs, "Adds every element of the given set to each set attribute. NOTFOUND if there is no object (it is not created).",
                cond hyperclient_cond_set_union;
            hyperclient_map_remove: MAP_REMOVE = attrs(FuncOp::MapRemove), attrs, "Removes a key from each map attribute: `value` and `datatype` of the (plain) attribute are the map key, encoded with the map's key type; an absent key is not an error. NOTFOUND if there is no object (it is not created).",
                cond hyperclient_cond_map_remove;
            hyperclient_map_add: MAP_ADD = map(FuncOp::MapAdd), maps, "Sets `map[map_key] = value` in each map attribute. NOTFOUND if there is no object (it is not created). All entries of one call are applied atomically, in order.",
                cond hyperclient_cond_map_add;
            hyperclient_map_atomic_add: MAP_ATOMIC_ADD = map(FuncOp::NumAdd), maps, "Applies atomic_add to the map value selected by `map_key` (a missing entry starts from 0 and is created). NOTFOUND if there is no object (it is not created). All entries of one call are applied atomically, or none is (OVERFLOW).",
                cond hyperclient_cond_map_atomic_add;
            hyperclient_map_atomic_sub: MAP_ATOMIC_SUB = map(FuncOp::NumSub), maps, "Applies atomic_sub to the map value selected by `map_key` (a missing entry starts from 0 and is created). NOTFOUND if there is no object (it is not created). All entries of one call are applied atomically, or none is (OVERFLOW).",
                cond hyperclient_cond_map_atomic_sub;
            hyperclient_map_atomic_mul: MAP_ATOMIC_MUL = map(FuncOp::NumMul), maps, "Applies atomic_mul to the map value selected by `map_key` (a missing entry starts from 0 and is created). NOTFOUND if there is no object (it is not created). All entries of one call are applied atomically, or none is (OVERFLOW).",
                cond hyperclient_cond_map_atomic_mul;
            hyperclient_map_atomic_div: MAP_ATOMIC_DIV = map(FuncOp::NumDiv), maps, "Applies atomic_div to the map value selected by `map_key` (a missing entry starts from 0 and is created). NOTFOUND if there is no object (it is not created). All entries of one call are applied atomically, or none is (OVERFLOW).",
                cond hyperclient_cond_map_atomic_div;
            hyperclient_map_atomic_mod: MAP_ATOMIC_MOD = map(FuncOp::NumMod), maps, "Applies atomic_mod to the map value selected by `map_key` (a missing entry starts from 0 and is created). NOTFOUND if there is no object (it is not created). All entries of one call are applied atomically, or none is (OVERFLOW).",
                cond hyperclient_cond_map_atomic_mod;
            hyperclient_map_atomic_and: MAP_ATOMIC_AND = map(FuncOp::NumAnd), maps, "Applies atomic_and to the map value selected by `map_key` (a missing entry starts from 0 and is created). NOTFOUND if there is no object (it is not created). All entries of one call are applied atomically, or none is (OVERFLOW).",
                cond hyperclient_cond_map_atomic_and;
            hyperclient_map_atomic_or: MAP_ATOMIC_OR = map(FuncOp::NumOr), maps, "Applies atomic_or to the map value selected by `map_key` (a missing entry starts from 0 and is created). NOTFOUND if there is no object (it is not created). All entries of one call are applied atomically, or none is (OVERFLOW).",
                cond hyperclient_cond_map_atomic_or;
            hyperclient_map_atomic_xor: MAP_ATOMIC_XOR = map(FuncOp::NumXor), maps, "Applies atomic_xor to the map value selected by `map_key` (a missing entry starts from 0 and is created). NOTFOUND if there is no object (it is not created). All entries of one call are applied atomically, or none is (OVERFLOW).",
                cond hyperclient_cond_map_atomic_xor;
            hyperclient_map_string_prepend: MAP_STRING_PREPEND = map(FuncOp::StringPrepend), maps, "Prepends `value` to the string map value selected by `map_key` (a missing entry starts empty and is created). NOTFOUND if there is no object (it is not created).",
                cond hyperclient_cond_map_string_prepend;
            hyperclient_map_string_append: MAP_STRING_APPEND = map(FuncOp::StringAppend), maps, "Appends `value` to the string map value selected by `map_key` (a missing entry starts empty and is created). NOTFOUND if there is no object (it is not created).",
                cond hyperclient_cond_map_string_append;
        }
    };
}

/// What a key operation takes after `(client, space, key, key_sz)` (and, in its `cond_` form,
/// `checks, checks_sz`), before `status`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Shape {
    /// `const struct hyperclient_attribute* attrs, size_t attrs_sz`
    Attrs,
    /// `const struct hyperclient_map_attribute* mapattrs, size_t mapattrs_sz`
    Maps,
    /// nothing
    None,
}

/// One row of the table.
#[derive(Clone, Copy, Debug)]
pub struct KeyOpInfo {
    /// The C function, e.g. `hyperclient_atomic_add`.
    pub name: &'static str,
    pub op: super::KeyOp,
    pub shape: Shape,
    pub doc: &'static str,
    /// The conditional form: its C name, its `KeyOp` and its documentation.
    pub cond: Option<(&'static str, super::KeyOp, &'static str)>,
}

macro_rules! shape_of {
    (attrs) => {
        Shape::Attrs
    };
    (maps) => {
        Shape::Maps
    };
    (none) => {
        Shape::None
    };
}

/// The conditional form's `KeyOp` and words: its own when the row gives them, else the plain
/// form's operation and a sentence naming it.
macro_rules! cond_info {
    ($name:ident, $op:ident) => {
        None
    };
    ($name:ident, $op:ident, $cname:ident) => {
        Some((
            stringify!($cname),
            super::KeyOp::$op,
            concat!(
                "Like `",
                stringify!($name),
                "`, but only if every check passes against the object (CMPFAIL otherwise), in the same atomic step."
            ),
        ))
    };
    ($name:ident, $op:ident, $cname:ident, $cop:ident, $cdoc:literal) => {
        Some((stringify!($cname), super::KeyOp::$cop, $cdoc))
    };
}

macro_rules! table {
    ($( $name:ident : $op:ident = $def:expr, $shape:ident, $doc:literal
        $(, cond $cname:ident $( $cop:ident $(= $cdef:expr)?, $cdoc:literal )? )? ; )*) => {
        /// Every key operation but get, in header order.
        pub const KEY_OPS: &[KeyOpInfo] = &[
            $( KeyOpInfo {
                name: stringify!($name),
                op: super::KeyOp::$op,
                shape: shape_of!($shape),
                doc: $doc,
                cond: cond_info!($name, $op $(, $cname $(, $cop, $cdoc)?)?),
            }, )*
        ];
    };
}

with_key_ops!(table);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sixty_one_functions_and_unique_names() {
        let mut names: Vec<&str> = KEY_OPS.iter().map(|o| o.name).collect();
        names.extend(KEY_OPS.iter().filter_map(|o| o.cond.map(|c| c.0)));
        assert_eq!(names.len(), 61, "62 key functions with get (client-api.md §3.3)");
        let n = names.len();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), n);
        assert!(names.iter().all(|n| n.starts_with("hyperclient_")));
        let put = KEY_OPS.iter().find(|o| o.name == "hyperclient_put_if_not_exist").unwrap();
        assert!(put.cond.is_none(), "put_if_not_exist has no cond_ form");
        assert_eq!(
            KEY_OPS.iter().find(|o| o.name == "hyperclient_put").unwrap().cond.unwrap().1,
            super::super::KeyOp::COND_PUT
        );
    }
}
