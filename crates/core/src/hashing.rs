//! Hyperspace hashing: the 64-bit coordinate of every value (spec/search.md §4.1) and the
//! region layout of a subspace (spec/cluster.md §3).

use crate::codes::DataType;

/// The coordinate of a value of type `dtype` on its subspace axis.
pub fn coordinate(dtype: DataType, value: &[u8]) -> u64 {
    let _ = (dtype, value);
    todo!("coordinate")
}

/// The regions of a `dims`-dimensional subspace split into about `partitions` boxes:
/// `(lower, upper)` inclusive bounds per dimension, in odometer order. Covers
/// `[0, 2^64)^dims` completely with disjoint boxes.
pub fn partition(dims: usize, partitions: u32) -> Vec<(Vec<u64>, Vec<u64>)> {
    let _ = (dims, partitions);
    todo!("partition")
}
