//! The cluster configuration: servers, spaces, subspaces, regions and their replica chains,
//! under a version that only grows. The coordinator owns it; daemons and clients hold copies.

use crate::codes::DataType;
use crate::hashing::coordinate;
use crate::space::Attribute;
use crate::wire::{DResult, DecodeError, Reader, Writer};

/// A registered daemon's state (spec/cluster.md §5.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ServerState {
    /// Serving: it may head, be part of, and receive regions.
    Available = 1,
    /// Declared failed (its lease ran out or a peer lost it); it is back once it registers.
    NotAvailable = 2,
    /// Stopped cleanly; back once it registers.
    Shutdown = 3,
}

impl ServerState {
    pub fn from_raw(v: u8) -> Option<ServerState> {
        match v {
            1 => Some(ServerState::Available),
            2 => Some(ServerState::NotAvailable),
            3 => Some(ServerState::Shutdown),
            _ => None,
        }
    }
    pub fn name(self) -> &'static str {
        match self {
            ServerState::Available => "AVAILABLE",
            ServerState::NotAvailable => "NOT_AVAILABLE",
            ServerState::Shutdown => "SHUTDOWN",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Server {
    pub id: u64,
    /// `ip:port` the daemon listens on.
    pub addr: String,
    pub state: ServerState,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Replica {
    pub server: u64,
    pub vid: u64,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Region {
    pub id: u64,
    /// Inclusive bounds, one per dimension of the subspace.
    pub lower: Vec<u64>,
    pub upper: Vec<u64>,
    /// The chain, head first. A server that failed stays in the chain only when it was the
    /// region's last replica: the region is then offline until it comes back.
    pub replicas: Vec<Replica>,
    /// A server receiving a copy of the region from its tail (state transfer); it joins the
    /// chain as the new tail once caught up. At most one.
    pub joining: Vec<Replica>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Subspace {
    pub id: u64,
    /// Attribute indexes (0 = key) that are this subspace's dimensions.
    pub attrs: Vec<usize>,
    pub regions: Vec<Region>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Space {
    pub id: u64,
    pub name: String,
    pub fault_tolerance: u32,
    /// Key first.
    pub attrs: Vec<Attribute>,
    /// Subspace 0 is the key subspace.
    pub subspaces: Vec<Subspace>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Configuration {
    pub cluster: u64,
    pub version: u64,
    /// Every registered server, with its state. Only AVAILABLE ones serve.
    pub servers: Vec<Server>,
    pub spaces: Vec<Space>,
    /// The coordinators of the cluster's group (raft id and address), in id order.
    pub coordinators: Vec<CoordinatorAddr>,
}

/// One member of the coordinator group.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CoordinatorAddr {
    pub id: u64,
    pub addr: String,
}

impl Space {
    /// The schema index of an attribute name.
    pub fn attr_index(&self, name: &[u8]) -> Option<usize> {
        self.attrs.iter().position(|a| a.name.as_bytes() == name)
    }
    pub fn key_type(&self) -> DataType {
        self.attrs[0].dtype
    }
    /// The region of subspace `ss` that holds an object with these values. `values[i]` is the
    /// value of attribute `i` (index 0 = key). Scans the regions; see [`Space::region_in`].
    pub fn region_of<'s, 'v>(&'s self, ss: usize, values: &dyn Fn(usize) -> &'v [u8]) -> Option<&'s Region> {
        self.region_in(ss, None, values)
    }

    /// [`Space::region_of`], through `index` (built by [`RegionIndex::new`] for that subspace)
    /// when there is one: a binary search per dimension instead of a scan.
    pub fn region_in<'s, 'v>(
        &'s self,
        ss: usize,
        index: Option<&RegionIndex>,
        values: &dyn Fn(usize) -> &'v [u8],
    ) -> Option<&'s Region> {
        let sub = self.subspaces.get(ss)?;
        let mut coords = [0u64; 8];
        let mut heap = Vec::new();
        let coords: &mut [u64] = if sub.attrs.len() <= coords.len() {
            &mut coords[..sub.attrs.len()]
        } else {
            heap.resize(sub.attrs.len(), 0);
            &mut heap
        };
        for (c, &a) in coords.iter_mut().zip(&sub.attrs) {
            *c = coordinate(self.attrs[a].dtype, values(a));
        }
        match index.and_then(|ix| ix.find(coords)) {
            Some(i) => sub.regions.get(i),
            None => find_region(&sub.regions, coords),
        }
    }
    /// The key-subspace region of `key`.
    pub fn key_region(&self, key: &[u8]) -> Option<&Region> {
        let sub = self.subspaces.first()?;
        let c = coordinate(self.attrs[0].dtype, key);
        // One dimension: the regions are sorted by their lower bound, so binary search.
        let i = sub.regions.partition_point(|r| r.lower.first().is_some_and(|l| *l <= c));
        match i.checked_sub(1).map(|i| &sub.regions[i]) {
            Some(r) if r.lower.len() == 1 && r.lower[0] <= c && c <= r.upper[0] => Some(r),
            _ => find_region(&sub.regions, &[c]),
        }
    }
}

/// Finds the region of a point in O(dimensions × log regions) when a subspace's regions form
/// a grid, as [`crate::hashing::partition`] lays them out: along each dimension the same
/// intervals, every combination of them exactly once. `None` from [`RegionIndex::new`] for
/// any other layout (callers then scan).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RegionIndex {
    /// Per dimension, the sorted lower bounds of its intervals.
    axes: Vec<Vec<u64>>,
    /// Region position (in the subspace's list) of every grid cell, the last dimension
    /// varying fastest.
    cells: Vec<usize>,
}

impl RegionIndex {
    pub fn new(regions: &[Region]) -> Option<RegionIndex> {
        let dims = regions.first()?.lower.len();
        if dims == 0 || regions.iter().any(|r| r.lower.len() != dims || r.upper.len() != dims) {
            return None;
        }
        let mut axes: Vec<Vec<u64>> = (0..dims)
            .map(|d| {
                let mut v: Vec<u64> = regions.iter().map(|r| r.lower[d]).collect();
                v.sort_unstable();
                v.dedup();
                v
            })
            .collect();
        let total = axes.iter().try_fold(1usize, |n, a| n.checked_mul(a.len()))?;
        if total != regions.len() || axes.iter().any(|a| a[0] != 0) {
            return None;
        }
        let mut cells = vec![usize::MAX; total];
        for (i, r) in regions.iter().enumerate() {
            let mut cell = 0usize;
            for (d, axis) in axes.iter().enumerate() {
                let k = axis.binary_search(&r.lower[d]).ok()?;
                // The interval must end right before the next one starts (or at the top).
                let end = axis.get(k + 1).map_or(u64::MAX, |next| next - 1);
                if r.upper[d] != end {
                    return None;
                }
                cell = cell * axis.len() + k;
            }
            if cells[cell] != usize::MAX {
                return None;
            }
            cells[cell] = i;
        }
        axes.shrink_to_fit();
        Some(RegionIndex { axes, cells })
    }

    /// The position of the region holding `coords` (one per dimension).
    pub fn find(&self, coords: &[u64]) -> Option<usize> {
        if coords.len() != self.axes.len() {
            return None;
        }
        let mut cell = 0usize;
        for (axis, c) in self.axes.iter().zip(coords) {
            let k = axis.partition_point(|l| l <= c).checked_sub(1)?;
            cell = cell * axis.len() + k;
        }
        self.cells.get(cell).copied()
    }
}

fn find_region<'a>(regions: &'a [Region], coords: &[u64]) -> Option<&'a Region> {
    regions.iter().find(|r| {
        r.lower.len() == coords.len() && coords.iter().enumerate().all(|(i, c)| r.lower[i] <= *c && *c <= r.upper[i])
    })
}

impl Configuration {
    pub fn space(&self, name: &[u8]) -> Option<&Space> {
        self.spaces.iter().find(|s| s.name.as_bytes() == name)
    }
    pub fn space_by_id(&self, id: u64) -> Option<&Space> {
        self.spaces.iter().find(|s| s.id == id)
    }
    /// The address of an AVAILABLE server.
    pub fn server_addr(&self, id: u64) -> Option<&str> {
        self.servers.iter().find(|s| s.id == id && s.state == ServerState::Available).map(|s| s.addr.as_str())
    }
    /// Whether server `id` is AVAILABLE.
    pub fn available(&self, id: u64) -> bool {
        self.servers.iter().any(|s| s.id == id && s.state == ServerState::Available)
    }
    /// A server's state (None: never registered).
    pub fn server_state(&self, id: u64) -> Option<ServerState> {
        self.servers.iter().find(|s| s.id == id).map(|s| s.state)
    }
    /// Whether every region of every space has f+1 replicas, all available, and no region
    /// is receiving a transfer (what `hyperdex wait-until-stable` waits for).
    pub fn stable(&self) -> bool {
        self.spaces.iter().all(|sp| {
            sp.subspaces.iter().all(|ss| {
                ss.regions.iter().all(|r| {
                    r.joining.is_empty()
                        && r.replicas.len() > sp.fault_tolerance as usize
                        && r.replicas.iter().all(|p| self.available(p.server))
                })
            })
        })
    }
    /// Finds a region by id: (space, subspace index, region).
    pub fn region(&self, id: u64) -> Option<(&Space, usize, &Region)> {
        for sp in &self.spaces {
            for (i, ss) in sp.subspaces.iter().enumerate() {
                if let Some(r) = ss.regions.iter().find(|r| r.id == id) {
                    return Some((sp, i, r));
                }
            }
        }
        None
    }

    pub fn encode(&self, out: &mut Vec<u8>) {
        let mut w = Writer::new(out);
        w.u64(self.cluster).u64(self.version).count(self.servers.len());
        for s in &self.servers {
            w.u64(s.id).bytes(s.addr.as_bytes()).u8(s.state as u8);
        }
        w.count(self.spaces.len());
        for sp in &self.spaces {
            w.u64(sp.id).bytes(sp.name.as_bytes()).u32(sp.fault_tolerance);
            w.count(sp.attrs.len());
            for a in &sp.attrs {
                w.bytes(a.name.as_bytes()).u32(a.dtype as u32);
            }
            w.count(sp.subspaces.len());
            for ss in &sp.subspaces {
                w.u64(ss.id).count(ss.attrs.len());
                for &a in &ss.attrs {
                    w.u32(a as u32);
                }
                w.count(ss.regions.len());
                for r in &ss.regions {
                    w.u64(r.id);
                    for (l, u) in r.lower.iter().zip(&r.upper) {
                        w.u64(*l).u64(*u);
                    }
                    w.count(r.replicas.len());
                    for rep in &r.replicas {
                        w.u64(rep.server).u64(rep.vid);
                    }
                    w.count(r.joining.len());
                    for rep in &r.joining {
                        w.u64(rep.server).u64(rep.vid);
                    }
                }
            }
        }
        w.count(self.coordinators.len());
        for c in &self.coordinators {
            w.u64(c.id).bytes(c.addr.as_bytes());
        }
    }

    /// Decodes and validates a configuration (every attribute index in range, every type a
    /// valid attribute type, every region with one bound pair per dimension).
    pub fn decode(buf: &[u8]) -> DResult<Configuration> {
        let mut r = Reader::new(buf);
        let cluster = r.u64()?;
        let version = r.u64()?;
        let n = r.count(13)?;
        let mut servers = Vec::with_capacity(n);
        for _ in 0..n {
            let id = r.u64()?;
            let addr = r.string()?.to_string();
            let state = ServerState::from_raw(r.u8()?).ok_or(DecodeError)?;
            servers.push(Server { id, addr, state });
        }
        let n = r.count(24)?;
        let mut spaces = Vec::with_capacity(n);
        for _ in 0..n {
            let id = r.u64()?;
            let name = r.string()?.to_string();
            let fault_tolerance = r.u32()?;
            let na = r.count(8)?;
            let mut attrs = Vec::with_capacity(na);
            for _ in 0..na {
                let name = r.string()?.to_string();
                let dtype = DataType::from_raw(r.u32()?).ok_or(DecodeError)?;
                if !dtype.is_attribute_type() {
                    return Err(DecodeError);
                }
                attrs.push(Attribute { name, dtype });
            }
            if attrs.is_empty() {
                return Err(DecodeError);
            }
            let ns = r.count(16)?;
            let mut subspaces = Vec::with_capacity(ns);
            for _ in 0..ns {
                let sid = r.u64()?;
                let nd = r.count(4)?;
                let mut sattrs = Vec::with_capacity(nd);
                for _ in 0..nd {
                    let a = r.u32()? as usize;
                    if a >= attrs.len() {
                        return Err(DecodeError);
                    }
                    sattrs.push(a);
                }
                let nr = r.count(12)?;
                let mut regions = Vec::with_capacity(nr);
                for _ in 0..nr {
                    let rid = r.u64()?;
                    let mut lower = Vec::with_capacity(nd);
                    let mut upper = Vec::with_capacity(nd);
                    for _ in 0..nd {
                        lower.push(r.u64()?);
                        upper.push(r.u64()?);
                    }
                    let nrep = r.count(16)?;
                    let mut replicas = Vec::with_capacity(nrep);
                    for _ in 0..nrep {
                        replicas.push(Replica { server: r.u64()?, vid: r.u64()? });
                    }
                    let nj = r.count(16)?;
                    let mut joining = Vec::with_capacity(nj);
                    for _ in 0..nj {
                        joining.push(Replica { server: r.u64()?, vid: r.u64()? });
                    }
                    regions.push(Region { id: rid, lower, upper, replicas, joining });
                }
                subspaces.push(Subspace { id: sid, attrs: sattrs, regions });
            }
            if subspaces.is_empty() || subspaces[0].attrs != [0] {
                return Err(DecodeError);
            }
            spaces.push(Space { id, name, fault_tolerance, attrs, subspaces });
        }
        let n = r.count(12)?;
        let mut coordinators = Vec::with_capacity(n);
        for _ in 0..n {
            coordinators.push(CoordinatorAddr { id: r.u64()?, addr: r.string()?.to_string() });
        }
        r.finish()?;
        Ok(Configuration { cluster, version, servers, spaces, coordinators })
    }

    /// The text `hyperdex show-config` prints (spec/cluster.md §7.1).
    pub fn to_text(&self) -> String {
        use std::fmt::Write;
        let mut s = String::new();
        let _ = writeln!(s, "configuration cluster={} version={}", self.cluster, self.version);
        for c in &self.coordinators {
            let _ = writeln!(s, "coordinator id={} address={}", c.id, c.addr);
        }
        for srv in &self.servers {
            let _ = writeln!(s, "server id=server({}) address={} state={}", srv.id, srv.addr, srv.state.name());
        }
        for sp in &self.spaces {
            let _ = writeln!(s, "space id=space({}) name={}", sp.id, sp.name);
            let _ = writeln!(s, "  fault_tolerance={}", sp.fault_tolerance);
            let _ = writeln!(s, "  schema");
            for a in &sp.attrs {
                let _ = writeln!(s, "    attribute name={} type={}", a.name, a.dtype.symbol());
            }
            for ss in &sp.subspaces {
                let _ = writeln!(s, "  subspace id=subspace({})", ss.id);
                let names: Vec<&str> = ss.attrs.iter().map(|&a| sp.attrs[a].name.as_str()).collect();
                let _ = writeln!(s, "    attributes {}", names.join(" "));
                for r in &ss.regions {
                    let join = |v: &[u64]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>().join(", ");
                    let reps: Vec<String> = r
                        .replicas
                        .iter()
                        .map(|p| format!("(id=server({}) vid=virtual_server({}))", p.server, p.vid))
                        .collect();
                    let _ = writeln!(
                        s,
                        "    region id=region({}) lower=<{}> upper=<{}> replicas=[{}]",
                        r.id,
                        join(&r.lower),
                        join(&r.upper),
                        reps.join(", ")
                    );
                    if let (Some(src), Some(dst)) = (r.replicas.last(), r.joining.first()) {
                        let _ = writeln!(
                            s,
                            "    transfer region=region({}) src=server({}) vsrc=virtual_server({}) dst=server({}) vdst=virtual_server({})",
                            r.id, src.server, src.vid, dst.server, dst.vid
                        );
                    }
                }
            }
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Configuration {
        Configuration {
            cluster: 7,
            version: 3,
            servers: vec![Server { id: 11, addr: "127.0.0.1:2012".into(), state: ServerState::Available }],
            coordinators: vec![CoordinatorAddr { id: 1, addr: "127.0.0.1:1982".into() }],
            spaces: vec![Space {
                id: 1,
                name: "kv".into(),
                fault_tolerance: 0,
                attrs: vec![
                    Attribute { name: "k".into(), dtype: DataType::String },
                    Attribute { name: "v".into(), dtype: DataType::Int64 },
                ],
                subspaces: vec![Subspace {
                    id: 2,
                    attrs: vec![0],
                    regions: vec![Region {
                        id: 3,
                        lower: vec![0],
                        upper: vec![u64::MAX],
                        replicas: vec![Replica { server: 11, vid: 4 }],
                        joining: vec![Replica { server: 12, vid: 5 }],
                    }],
                }],
            }],
        }
    }

    #[test]
    fn round_trip_and_truncation() {
        let c = sample();
        let mut buf = Vec::new();
        c.encode(&mut buf);
        assert_eq!(Configuration::decode(&buf).unwrap(), c);
        for n in 0..buf.len() {
            assert!(Configuration::decode(&buf[..n]).is_err(), "prefix {n} accepted");
        }
        assert_eq!(c.space(b"kv").unwrap().key_region(b"x").unwrap().id, 3);
    }

    #[test]
    fn the_region_index_agrees_with_a_scan() {
        use crate::hashing::partition;
        for (dims, p) in [(1, 1), (1, 8), (2, 8), (3, 8), (3, 64), (4, 16), (2, 256)] {
            let regions: Vec<Region> = partition(dims, p)
                .into_iter()
                .enumerate()
                .map(|(i, (lower, upper))| Region {
                    id: 100 + i as u64,
                    lower,
                    upper,
                    replicas: vec![],
                    joining: vec![],
                })
                .collect();
            let ix = RegionIndex::new(&regions).expect("a partition is a grid");
            let mut x = 0x9e37_79b9_7f4a_7c15u64;
            for n in 0..3000 {
                let coords: Vec<u64> = (0..dims)
                    .map(|d| {
                        x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                        match (n + d) % 5 {
                            0 => 0,
                            1 => u64::MAX,
                            2 => regions[(x as usize) % regions.len()].lower[d],
                            3 => regions[(x as usize) % regions.len()].upper[d],
                            _ => x,
                        }
                    })
                    .collect();
                let want = find_region(&regions, &coords).map(|r| r.id);
                assert_eq!(ix.find(&coords).map(|i| regions[i].id), want, "{dims} dims, P={p}, {coords:?}");
            }
        }
        // Layouts that are not a full grid are refused (callers scan).
        let r =
            |lo: u64, hi: u64| Region { id: 1, lower: vec![lo], upper: vec![hi], replicas: vec![], joining: vec![] };
        assert!(RegionIndex::new(&[r(0, 10)]).is_none(), "does not reach the top");
        assert!(RegionIndex::new(&[r(0, 10), r(12, u64::MAX)]).is_none(), "a gap");
        assert!(RegionIndex::new(&[r(0, 10), r(0, 10), r(11, u64::MAX)]).is_none(), "a duplicate");
        assert!(RegionIndex::new(&[]).is_none());
    }

    #[test]
    fn key_region_matches_a_linear_scan() {
        let regions: Vec<Region> = crate::hashing::partition(1, 37)
            .into_iter()
            .enumerate()
            .map(|(i, (lower, upper))| Region { id: i as u64, lower, upper, replicas: vec![], joining: vec![] })
            .collect();
        let mut c = sample();
        c.spaces[0].subspaces[0].regions = regions.clone();
        let sp = &c.spaces[0];
        for i in 0..2000u32 {
            let key = i.to_le_bytes();
            let coord = coordinate(DataType::String, &key);
            let want = regions.iter().find(|r| r.lower[0] <= coord && coord <= r.upper[0]).unwrap();
            assert_eq!(sp.key_region(&key).unwrap().id, want.id);
        }
        assert!(c.to_text().contains("server id=server(11) address=127.0.0.1:2012 state=AVAILABLE"));
    }
}
