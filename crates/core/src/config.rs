//! The cluster configuration: servers, spaces, subspaces, regions and their replica chains,
//! under a version that only grows. The coordinator owns it; daemons and clients hold copies.

use crate::codes::DataType;
use crate::hashing::coordinate;
use crate::space::Attribute;
use crate::wire::{DResult, DecodeError, Reader, Writer};

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Server {
    pub id: u64,
    /// `ip:port` the daemon listens on.
    pub addr: String,
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
    /// The chain, head first.
    pub replicas: Vec<Replica>,
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
    /// The servers that are available (registered and not shut down).
    pub servers: Vec<Server>,
    pub spaces: Vec<Space>,
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
    /// value of attribute `i` (index 0 = key).
    pub fn region_of<'a>(&'a self, ss: usize, values: &dyn Fn(usize) -> &'a [u8]) -> Option<&'a Region> {
        let sub = self.subspaces.get(ss)?;
        let coords: Vec<u64> = sub.attrs.iter().map(|&a| coordinate(self.attrs[a].dtype, values(a))).collect();
        find_region(&sub.regions, &coords)
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
    pub fn server_addr(&self, id: u64) -> Option<&str> {
        self.servers.iter().find(|s| s.id == id).map(|s| s.addr.as_str())
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
            w.u64(s.id).bytes(s.addr.as_bytes());
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
                }
            }
        }
    }

    /// Decodes and validates a configuration (every attribute index in range, every type a
    /// valid attribute type, every region with one bound pair per dimension).
    pub fn decode(buf: &[u8]) -> DResult<Configuration> {
        let mut r = Reader::new(buf);
        let cluster = r.u64()?;
        let version = r.u64()?;
        let n = r.count(12)?;
        let mut servers = Vec::with_capacity(n);
        for _ in 0..n {
            let id = r.u64()?;
            let addr = r.string()?.to_string();
            servers.push(Server { id, addr });
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
                    regions.push(Region { id: rid, lower, upper, replicas });
                }
                subspaces.push(Subspace { id: sid, attrs: sattrs, regions });
            }
            if subspaces.is_empty() || subspaces[0].attrs != [0] {
                return Err(DecodeError);
            }
            spaces.push(Space { id, name, fault_tolerance, attrs, subspaces });
        }
        r.finish()?;
        Ok(Configuration { cluster, version, servers, spaces })
    }

    /// The text `hyperdex show-config` prints (spec/cluster.md §7.1).
    pub fn to_text(&self) -> String {
        use std::fmt::Write;
        let mut s = String::new();
        let _ = writeln!(s, "configuration cluster={} version={}", self.cluster, self.version);
        for srv in &self.servers {
            let _ = writeln!(s, "server id=server({}) address={}", srv.id, srv.addr);
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
            servers: vec![Server { id: 11, addr: "127.0.0.1:2012".into() }],
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
    fn key_region_matches_a_linear_scan() {
        let regions: Vec<Region> = crate::hashing::partition(1, 37)
            .into_iter()
            .enumerate()
            .map(|(i, (lower, upper))| Region { id: i as u64, lower, upper, replicas: vec![] })
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
        assert!(c.to_text().contains("server id=server(11) address=127.0.0.1:2012"));
    }
}
