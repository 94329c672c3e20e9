//! Hyperspace hashing: the 64-bit coordinate of every value (spec/search.md §4.1) and the
//! region layout of a subspace (spec/cluster.md §3).

use crate::codes::DataType;

/// The coordinate of a value of type `dtype` on its subspace axis.
///
/// * string: a 64-bit hash of the bytes ([`hash_bytes`]).
/// * int64: the two's-complement bits with the sign bit flipped (order preserving); an empty
///   value counts as 0.
/// * float: [`float_encode`] (order preserving); an empty value counts as 0.0.
/// * every other type (containers, GENERIC, GARBAGE): 0.
///
/// Malformed numbers (neither 0 nor 8 bytes) never panic: they are zero-padded or truncated
/// to 8 bytes.
pub fn coordinate(dtype: DataType, value: &[u8]) -> u64 {
    match dtype {
        DataType::String => hash_bytes(value),
        DataType::Int64 => int64_coordinate(i64::from_le_bytes(le8(value))),
        DataType::Float => float_encode(f64::from_le_bytes(le8(value))),
        _ => 0,
    }
}

/// The first 8 bytes of `value`, zero-padded.
fn le8(value: &[u8]) -> [u8; 8] {
    let mut b = [0u8; 8];
    let n = value.len().min(8);
    b[..n].copy_from_slice(&value[..n]);
    b
}

/// The coordinate of an int64: `x + 2^63` modulo 2^64 (monotone in `x`).
pub fn int64_coordinate(x: i64) -> u64 {
    (x as u64) ^ (1u64 << 63)
}

/// The order-preserving encoding of a double into a u64 (monotone in `x`, NaN above +inf):
/// -inf → 0; negative finite → sign cleared, exponent and fraction inverted, plus 1;
/// ±0 → 2^63 + 1; positive finite → sign set, plus 2; +inf → 0xFFF0000000000002;
/// NaN → 0xFFF0000000000003.
pub fn float_encode(x: f64) -> u64 {
    const SIGN: u64 = 1u64 << 63;
    const INF_BITS: u64 = 0xFFF0_0000_0000_0000;
    if x.is_nan() {
        INF_BITS + 3
    } else if x == f64::NEG_INFINITY {
        0
    } else if x == f64::INFINITY {
        INF_BITS + 2
    } else if x == 0.0 {
        SIGN + 1
    } else if x < 0.0 {
        ((!x.to_bits()) & !SIGN) + 1
    } else {
        (x.to_bits() | SIGN) + 2
    }
}

/// A 64-bit hash of a byte string: FNV-1a over the bytes, the length mixed in, then a
/// multiply-xorshift finalizer so that every input bit affects every output bit. Stable
/// across platforms and versions (it decides where objects live).
pub fn hash_bytes(bytes: &[u8]) -> u64 {
    const OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
    const PRIME: u64 = 0x0000_0100_0000_01b3;
    let mut h = OFFSET;
    for &b in bytes {
        h ^= b as u64;
        h = h.wrapping_mul(PRIME);
    }
    h ^= (bytes.len() as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    mix64(h)
}

/// Multiply-xorshift avalanche step.
fn mix64(mut z: u64) -> u64 {
    z ^= z >> 30;
    z = z.wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z ^= z >> 27;
    z = z.wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// The number of intervals per dimension for a `dims`-dimensional subspace asked to have about
/// `partitions` regions (spec/cluster.md §3 steps 1-2, including the quirky `d × k` start of
/// the estimate). `partitions == 0` is treated as 1.
pub fn intervals_per_dim(dims: usize, partitions: u32) -> Vec<u64> {
    if dims == 0 {
        return Vec::new();
    }
    let p = partitions.max(1) as u64;
    let root = (p as f64).powf(1.0 / dims as f64);
    // Truncate, and never go below 1 (P >= 1 always gives k >= 1, but be defensive).
    let k = (root as u64).max(1);
    let mut d = vec![k; dims];
    let mut estimate = (dims as u64).saturating_mul(k);
    for n in d.iter_mut() {
        if estimate >= p {
            break;
        }
        estimate = (estimate / *n).saturating_mul(*n + 1);
        *n += 1;
    }
    d
}

/// The inclusive intervals splitting `[0, 2^64)` into `n` pieces: width `(2^63 / n) × 2`,
/// the last interval ending at `u64::MAX`. `n == 0` is treated as 1.
pub fn intervals(n: u64) -> Vec<(u64, u64)> {
    let n = n.max(1);
    let width = ((1u128 << 63) / n as u128) * 2;
    (0..n)
        .map(|j| {
            let lo = (j as u128 * width).min(u64::MAX as u128) as u64;
            let hi = if j + 1 == n { u64::MAX } else { ((j as u128 + 1) * width - 1).min(u64::MAX as u128) as u64 };
            (lo, hi)
        })
        .collect()
}

/// The regions of a `dims`-dimensional subspace split into about `partitions` boxes:
/// `(lower, upper)` inclusive bounds per dimension, in odometer order. Covers
/// `[0, 2^64)^dims` completely with disjoint boxes.
///
/// `dims == 0` gives one region with empty bounds; `partitions == 0` is treated as 1.
pub fn partition(dims: usize, partitions: u32) -> Vec<(Vec<u64>, Vec<u64>)> {
    let per_dim: Vec<Vec<(u64, u64)>> = intervals_per_dim(dims, partitions).into_iter().map(intervals).collect();
    let total: usize = per_dim.iter().map(|v| v.len()).product();
    let mut out = Vec::with_capacity(total);
    // Odometer: the last dimension changes fastest.
    let mut idx = vec![0usize; dims];
    loop {
        let lower = idx.iter().enumerate().map(|(i, &j)| per_dim[i][j].0).collect();
        let upper = idx.iter().enumerate().map(|(i, &j)| per_dim[i][j].1).collect();
        out.push((lower, upper));
        let mut i = dims;
        loop {
            if i == 0 {
                return out;
            }
            i -= 1;
            idx[i] += 1;
            if idx[i] < per_dim[i].len() {
                break;
            }
            idx[i] = 0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn region_count_table() {
        // spec/cluster.md §3 table: rows P, columns d = 1..4.
        let table: [(u32, [usize; 4]); 6] = [
            (1, [1, 1, 1, 1]),
            (4, [4, 4, 2, 1]),
            (8, [8, 9, 12, 2]),
            (16, [16, 25, 27, 36]),
            (64, [64, 81, 64, 81]),
            (256, [256, 289, 343, 625]),
        ];
        for (p, counts) in table {
            for (i, &want) in counts.iter().enumerate() {
                let d = i + 1;
                assert_eq!(partition(d, p).len(), want, "P={p} d={d}");
            }
        }
        assert_eq!(intervals_per_dim(3, 8), vec![3, 2, 2]);
        assert_eq!(intervals_per_dim(4, 16), vec![3, 3, 2, 2]);
        assert_eq!(intervals_per_dim(2, 8), vec![3, 3]);
    }

    #[test]
    fn interval_bounds() {
        assert_eq!(intervals(1), vec![(0, u64::MAX)]);
        assert_eq!(intervals(2), vec![(0, (1 << 63) - 1), (1 << 63, u64::MAX)]);
        let three = intervals(3);
        let w = ((1u64 << 63) / 3) * 2;
        assert_eq!(three, vec![(0, w - 1), (w, 2 * w - 1), (2 * w, u64::MAX)]);
        assert_eq!(intervals(0), vec![(0, u64::MAX)]);
    }

    #[test]
    fn odometer_order_and_degenerate_inputs() {
        let r = partition(2, 4);
        let half = 1u64 << 63;
        assert_eq!(r[0], (vec![0, 0], vec![half - 1, half - 1]));
        assert_eq!(r[1], (vec![0, half], vec![half - 1, u64::MAX]));
        assert_eq!(r[2], (vec![half, 0], vec![u64::MAX, half - 1]));
        assert_eq!(r[3], (vec![half, half], vec![u64::MAX, u64::MAX]));
        assert_eq!(partition(0, 8), vec![(vec![], vec![])]);
        assert_eq!(partition(1, 0), vec![(vec![0], vec![u64::MAX])]);
        assert_eq!(partition(3, 1).len(), 1);
    }

    #[test]
    fn coordinates_of_numbers() {
        assert_eq!(coordinate(DataType::Int64, &[]), 1 << 63);
        assert_eq!(coordinate(DataType::Int64, &0i64.to_le_bytes()), 1 << 63);
        assert_eq!(coordinate(DataType::Int64, &i64::MIN.to_le_bytes()), 0);
        assert_eq!(coordinate(DataType::Int64, &i64::MAX.to_le_bytes()), u64::MAX);
        assert_eq!(coordinate(DataType::Float, &[]), (1 << 63) + 1);
        assert_eq!(coordinate(DataType::Float, &(-0.0f64).to_le_bytes()), (1 << 63) + 1);
        assert_eq!(float_encode(f64::NEG_INFINITY), 0);
        assert_eq!(float_encode(f64::INFINITY), 0xFFF0_0000_0000_0002);
        assert_eq!(float_encode(f64::NAN), 0xFFF0_0000_0000_0003);
        assert_eq!(float_encode(f64::MAX), 0xFFF0_0000_0000_0001);
        assert_eq!(float_encode(-f64::MAX), 0x0010_0000_0000_0001);
        assert!(float_encode(-f64::MIN_POSITIVE) < float_encode(-0.0));
        assert!(float_encode(-0.0) < float_encode(f64::MIN_POSITIVE));
        assert!(float_encode(-5e-324) < float_encode(0.0));
        assert!(float_encode(0.0) < float_encode(5e-324));
        // Containers and malformed numbers never panic.
        assert_eq!(coordinate(DataType::ListString, b"\x01\0\0\0a"), 0);
        assert_eq!(coordinate(DataType::MapStringInt64, b"junk"), 0);
        let _ = coordinate(DataType::Int64, b"abc");
        let _ = coordinate(DataType::Float, b"0123456789");
    }

    #[test]
    fn string_hash_is_deterministic_and_spreads() {
        assert_eq!(coordinate(DataType::String, b"hello"), hash_bytes(b"hello"));
        assert_ne!(hash_bytes(b"hello"), hash_bytes(b"hellp"));
        assert_ne!(hash_bytes(b""), hash_bytes(b"\0"));
        // 1000 short keys over 16 buckets by the top 4 bits: none empty.
        let mut buckets = [0u32; 16];
        for i in 0..1000u32 {
            buckets[(hash_bytes(format!("key{i}").as_bytes()) >> 60) as usize] += 1;
        }
        assert!(buckets.iter().all(|&b| b > 20), "{buckets:?}");
    }

    proptest! {
        #[test]
        fn every_point_in_exactly_one_box(
            dims in 1usize..5,
            p in 1u32..300,
            raw in proptest::collection::vec(any::<u64>(), 4),
            edge in proptest::collection::vec(0u8..4, 4),
        ) {
            let regions = partition(dims, p);
            // Mix in interval edges, which are where off-by-one errors live.
            let point: Vec<u64> = (0..dims)
                .map(|i| match edge[i] {
                    0 => raw[i],
                    1 => 0,
                    2 => u64::MAX,
                    _ => {
                        let n = intervals_per_dim(dims, p)[i];
                        let iv = intervals(n);
                        iv[(raw[i] % n) as usize].0
                    }
                })
                .collect();
            let hits = regions
                .iter()
                .filter(|(lo, hi)| (0..dims).all(|i| lo[i] <= point[i] && point[i] <= hi[i]))
                .count();
            prop_assert_eq!(hits, 1);
        }

        #[test]
        fn intervals_tile_the_axis(n in 1u64..2000) {
            let iv = intervals(n);
            prop_assert_eq!(iv.len() as u64, n);
            prop_assert_eq!(iv[0].0, 0);
            prop_assert_eq!(iv[iv.len() - 1].1, u64::MAX);
            for w in iv.windows(2) {
                prop_assert!(w[0].0 <= w[0].1);
                prop_assert_eq!(w[0].1 + 1, w[1].0);
            }
        }

        #[test]
        fn int_coordinate_is_monotone(a in any::<i64>(), b in any::<i64>()) {
            let ca = coordinate(DataType::Int64, &a.to_le_bytes());
            let cb = coordinate(DataType::Int64, &b.to_le_bytes());
            prop_assert_eq!(a.cmp(&b), ca.cmp(&cb));
        }

        #[test]
        fn float_coordinate_is_monotone(a in any::<f64>(), b in any::<f64>()) {
            let ca = coordinate(DataType::Float, &a.to_le_bytes());
            let cb = coordinate(DataType::Float, &b.to_le_bytes());
            if a < b {
                prop_assert!(ca < cb);
            } else if a > b {
                prop_assert!(ca > cb);
            } else if a == b {
                prop_assert_eq!(ca, cb);
            } else {
                // NaN sorts above everything but itself.
                prop_assert!(a.is_nan() || b.is_nan());
                if a.is_nan() && b.is_nan() {
                    prop_assert_eq!(ca, cb);
                } else if a.is_nan() {
                    prop_assert!(ca > cb);
                } else {
                    prop_assert!(ca < cb);
                }
            }
        }
    }
}
