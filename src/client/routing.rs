//! The client's view of one configuration, built once when it is installed: per space, what
//! a key operation needs to validate and route a request without scanning the configuration.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::Arc;

use hyperdex_core::codes::DataType;
use hyperdex_core::config::{Configuration, ServerState, Space};
use hyperdex_core::hashing::coordinate;

/// Hasher for maps keyed by server or region ids (small integers chosen by the coordinator).
#[derive(Default)]
pub(crate) struct IdHasher(u64);

impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0.rotate_left(8) ^ u64::from(b)).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        }
    }
    fn write_u64(&mut self, v: u64) {
        self.0 = (v ^ (v >> 29)).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    }
}

pub(crate) type IdMap<V> = HashMap<u64, V, BuildHasherDefault<IdHasher>>;

/// One attribute of a schema.
#[derive(Debug)]
pub(crate) struct SchemaAttr {
    pub(crate) name: Box<[u8]>,
    pub(crate) dtype: DataType,
}

/// A region of the key subspace: inclusive bounds on the key's coordinate, and its head.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct KeyRegion {
    pub(crate) lower: u64,
    pub(crate) upper: u64,
    pub(crate) id: u64,
    /// The point leader (chain head); None when the region has no replica.
    pub(crate) head: Option<u64>,
}

/// A space as the client needs it.
#[derive(Debug)]
pub struct SpaceInfo {
    pub(crate) name: Box<[u8]>,
    /// The schema, key first.
    pub(crate) attrs: Vec<SchemaAttr>,
    /// Key-subspace regions sorted by lower bound.
    pub(crate) key_regions: Vec<KeyRegion>,
    /// The space as the configuration describes it (for planning searches).
    pub(crate) full: Space,
}

impl SpaceInfo {
    pub(crate) fn from_space(sp: &Space) -> SpaceInfo {
        let attrs = sp.attrs.iter().map(|a| SchemaAttr { name: a.name.as_bytes().into(), dtype: a.dtype }).collect();
        let mut key_regions: Vec<KeyRegion> = sp
            .subspaces
            .first()
            .map(|ss| {
                ss.regions
                    .iter()
                    .filter(|r| r.lower.len() == 1 && r.upper.len() == 1)
                    .map(|r| KeyRegion {
                        lower: r.lower[0],
                        upper: r.upper[0],
                        id: r.id,
                        head: r.replicas.first().map(|rep| rep.server),
                    })
                    .collect()
            })
            .unwrap_or_default();
        key_regions.sort_by_key(|r| (r.lower, r.upper));
        SpaceInfo { name: sp.name.as_bytes().into(), attrs, key_regions, full: sp.clone() }
    }

    /// A placeholder for operations not bound to a space yet.
    pub(crate) fn empty() -> SpaceInfo {
        let full = Space { id: 0, name: String::new(), fault_tolerance: 0, attrs: Vec::new(), subspaces: Vec::new() };
        SpaceInfo { name: Box::default(), attrs: Vec::new(), key_regions: Vec::new(), full }
    }

    /// The space's name.
    pub fn name(&self) -> &[u8] {
        &self.name
    }

    /// Schema index of an attribute (0 = the key).
    pub fn attr_index(&self, name: &[u8]) -> Option<usize> {
        self.attrs.iter().position(|a| &*a.name == name)
    }

    /// Declared type of attribute `idx`.
    pub fn attr_type(&self, idx: usize) -> Option<DataType> {
        self.attrs.get(idx).map(|a| a.dtype)
    }

    /// Name of attribute `idx`.
    pub fn attr_name(&self, idx: usize) -> Option<&[u8]> {
        self.attrs.get(idx).map(|a| &*a.name)
    }

    /// Number of attributes, key included.
    pub fn attr_count(&self) -> usize {
        self.attrs.len()
    }

    pub(crate) fn key_type(&self) -> DataType {
        self.attrs.first().map_or(DataType::Garbage, |a| a.dtype)
    }

    /// The key-subspace region holding `key` (same answer as `Space::key_region`).
    pub(crate) fn route(&self, key: &[u8]) -> Option<&KeyRegion> {
        let c = coordinate(self.key_type(), key);
        let i = self.key_regions.partition_point(|r| r.lower <= c);
        let r = self.key_regions.get(i.checked_sub(1)?)?;
        (c <= r.upper).then_some(r)
    }
}

/// Everything derived from one configuration.
pub(crate) struct Routing {
    pub(crate) cluster: u64,
    pub(crate) version: u64,
    pub(crate) spaces: HashMap<Box<[u8]>, Arc<SpaceInfo>>,
    /// Server id -> `ip:port`.
    pub(crate) servers: IdMap<String>,
    /// Key-region id -> its head.
    pub(crate) heads: IdMap<Option<u64>>,
}

impl Routing {
    pub(crate) fn new(cfg: &Configuration) -> Routing {
        let mut spaces = HashMap::with_capacity(cfg.spaces.len());
        let mut heads = IdMap::default();
        for sp in &cfg.spaces {
            // Replicas on servers that are not AVAILABLE do not serve: a region left with
            // none is offline (its keys answer OFFLINE, searches needing it are refused).
            let mut sp = sp.clone();
            for ss in &mut sp.subspaces {
                for r in &mut ss.regions {
                    r.replicas.retain(|p| cfg.available(p.server));
                }
            }
            let info = SpaceInfo::from_space(&sp);
            for r in &info.key_regions {
                heads.insert(r.id, r.head);
            }
            spaces.insert(info.name.clone(), Arc::new(info));
        }
        let servers =
            cfg.servers.iter().filter(|s| s.state == ServerState::Available).map(|s| (s.id, s.addr.clone())).collect();
        Routing { cluster: cfg.cluster, version: cfg.version, spaces, servers, heads }
    }
}
