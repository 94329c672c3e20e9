//! Value encodings of every datatype (spec/datatypes.md §2): validation, ordering, and
//! conversions used by checks and functions.

use crate::codes::DataType;

/// True when `value` is a well-formed encoding of `dtype` (int64/float: 0 or 8 bytes; lists
/// parse exactly; sets and maps strictly increasing). GENERIC container types validate as
/// their empty encoding only.
pub fn validate(dtype: DataType, value: &[u8]) -> bool {
    let _ = (dtype, value);
    todo!("validate")
}
