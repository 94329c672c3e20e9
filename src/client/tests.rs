//! Client logic that needs no server. Everything that talks to a coordinator or a daemon is
//! tested against real processes in tests/client_core.rs, tests/client_e2e.rs and
//! tests/c_abi.rs; bad input from peers in tests/client_bad_input.rs.

use hyperdex_core::codes::DataType;
use hyperdex_core::config::{Region, Replica, Space, Subspace};
use hyperdex_core::hashing::partition;
use hyperdex_core::space::Attribute;

use super::*;

/// A space whose key subspace has `partitions` regions, all led by server 1.
fn space(attrs: &[(&str, DataType)], partitions: u32) -> Space {
    let regions = partition(1, partitions)
        .into_iter()
        .enumerate()
        .map(|(i, (lower, upper))| Region {
            id: 3000 + i as u64,
            lower,
            upper,
            replicas: vec![Replica { server: 1, vid: 1 }],
            joining: vec![],
        })
        .collect();
    Space {
        id: 3,
        name: "t".to_string(),
        fault_tolerance: 0,
        attrs: attrs.iter().map(|(n, t)| Attribute { name: n.to_string(), dtype: *t }).collect(),
        subspaces: vec![Subspace { id: 3999, attrs: vec![0], regions }],
    }
}

#[test]
fn routing_agrees_with_the_configuration() {
    for (dtype, parts) in [(DataType::String, 64), (DataType::Int64, 7), (DataType::Float, 256)] {
        let sp = space(&[("k", dtype), ("v", DataType::String)], parts);
        let info = SpaceInfo::from_space(&sp);
        for i in 0..2000u64 {
            let key = match dtype {
                DataType::String => format!("key-{i}").into_bytes(),
                DataType::Int64 => (i as i64 * 7919 - 5_000_000).to_le_bytes().to_vec(),
                _ => ((i as f64) * 1.37 - 900.0).to_le_bytes().to_vec(),
            };
            assert_eq!(info.route(&key).map(|r| r.id), sp.key_region(&key).map(|r| r.id));
        }
    }
}
