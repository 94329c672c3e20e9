//! What the fuzz targets and the seed generator (`examples/gen_seeds.rs`) share: the input
//! layouts of the targets that feed more than one decoder's bytes. A target that takes one
//! decoder's bytes as they are (wire, config, record, space, coord_state) needs only the
//! allocation budget at the end of this file, which every target uses.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::Relaxed};

use hyperdex_core::codes::DataType;
use hyperdex_core::space::Attribute;
use hyperdex_core::wire::Reader;

/// The types an attribute may be declared with, in `DataType::ALL` order.
pub fn attribute_types() -> Vec<DataType> {
    DataType::ALL.iter().copied().filter(|t| t.is_attribute_type()).collect()
}

/// The types a key may have.
pub const KEY_TYPES: [DataType; 3] = [DataType::String, DataType::Int64, DataType::Float];

/// Input of the `values` target: byte 0 picks `DataType::ALL[byte % len]` (every datatype,
/// GENERIC and GARBAGE included); the rest is the value.
pub mod values_input {
    use super::*;

    pub fn split(data: &[u8]) -> Option<(DataType, &[u8])> {
        let (&b, value) = data.split_first()?;
        Some((DataType::ALL[b as usize % DataType::ALL.len()], value))
    }

    pub fn make(t: DataType, value: &[u8]) -> Vec<u8> {
        let i = DataType::ALL.iter().position(|x| *x == t).expect("a datatype");
        let mut out = vec![i as u8];
        out.extend_from_slice(value);
        out
    }
}

/// Input of the `ops` target: an object of some schema as a daemon stores it, and an ATOMIC
/// request for it.
///
/// byte 0: number of non-key attributes (`byte % 8`); then one byte per attribute, key first,
/// picking its type (`KEY_TYPES[byte % 3]` for the key, `attribute_types()[byte % len]` for
/// the others); then each non-key attribute's stored value as `bytes` (u32 LE length, then
/// the bytes); the rest is the body of an ATOMIC message (docs/protocol.md).
pub mod ops_input {
    use super::*;

    pub struct OpsInput<'a> {
        /// Key first; attribute i is named `a{i}`.
        pub schema: Vec<Attribute>,
        /// One per non-key attribute.
        pub values: Vec<Vec<u8>>,
        pub atomic_body: &'a [u8],
    }

    pub fn split(data: &[u8]) -> Option<OpsInput<'_>> {
        let mut r = Reader::new(data);
        let nonkey = r.u8().ok()? as usize % 8;
        let types = attribute_types();
        let mut schema = Vec::with_capacity(nonkey + 1);
        for i in 0..=nonkey {
            let b = r.u8().ok()? as usize;
            let dtype = if i == 0 { KEY_TYPES[b % KEY_TYPES.len()] } else { types[b % types.len()] };
            schema.push(Attribute { name: format!("a{i}"), dtype });
        }
        let mut values = Vec::with_capacity(nonkey);
        for _ in 0..nonkey {
            values.push(r.bytes().ok()?.to_vec());
        }
        let atomic_body = r.take(r.remaining()).ok()?;
        Some(OpsInput { schema, values, atomic_body })
    }

    /// `schema` key first; `values` one per non-key attribute; `atomic_body` the body of an
    /// encoded `Msg::Atomic` (frame header removed).
    pub fn make(schema: &[DataType], values: &[Vec<u8>], atomic_body: &[u8]) -> Vec<u8> {
        assert!(!schema.is_empty() && schema.len() <= 8 && values.len() == schema.len() - 1);
        let types = attribute_types();
        let mut out = vec![(schema.len() - 1) as u8];
        for (i, t) in schema.iter().enumerate() {
            let list: &[DataType] = if i == 0 { &KEY_TYPES } else { &types };
            out.push(list.iter().position(|x| x == t).expect("a key or attribute type") as u8);
        }
        for v in values {
            out.extend_from_slice(&(v.len() as u32).to_le_bytes());
            out.extend_from_slice(v);
        }
        out.extend_from_slice(atomic_body);
        out
    }
}

/// Input of the `search` target: a space, one object stored in it, and a SEARCH_START body.
///
/// byte 0: number of non-key attributes (`byte % 8`); then one byte per attribute, key first,
/// picking its type as in [`ops_input`]; then the layout: one byte P (`1 + P % 32`
/// partitions per subspace), one byte S (`1 + S % 2` subspaces besides the key's), then one
/// byte per such subspace, a bit mask of its attributes (bit i = attribute i, the key being 0;
/// no bit of an existing attribute = the last attribute alone), then one byte M: when bit 7
/// is set, region `(M & 31) % regions` of subspace `(M >> 5) & 3` (modulo the number of
/// subspaces; 3 = of every subspace) has no replica. Then the object: its key and each
/// non-key value as `bytes` (u32 LE length, then the bytes). The rest is the body of a
/// SEARCH_START message (docs/protocol.md).
pub mod search_input {
    use super::*;
    use hyperdex_core::config::{Region, Replica, Space, Subspace};
    use hyperdex_core::hashing::partition;

    pub struct SearchInput<'a> {
        /// Attribute i is named `a{i}`; every region has one replica (server 1) except the
        /// one M names.
        pub space: Space,
        pub key: &'a [u8],
        /// One per non-key attribute, as given (not validated).
        pub values: Vec<&'a [u8]>,
        pub body: &'a [u8],
    }

    /// How [`make`] lays the space out.
    pub struct Layout {
        /// 1..=32.
        pub partitions: u32,
        /// One or two lists of attribute indexes (0 = key), no index twice.
        pub subspaces: Vec<Vec<usize>>,
        /// (subspace, region) left without a replica; subspace 0 is the key's, 3 = region
        /// `region` of every subspace (`region` modulo each one's number of regions).
        pub missing: Option<(usize, usize)>,
    }

    /// The space `split` builds: subspace 0 = the key, then `subspaces`, each cut by
    /// `hashing::partition` like the coordinator does.
    pub fn build(schema: Vec<Attribute>, partitions: u32, subspaces: &[Vec<usize>], missing: u8) -> Space {
        let mut dims = vec![vec![0]];
        dims.extend(subspaces.iter().cloned());
        let mut id = 100;
        let mut subs: Vec<Subspace> = dims
            .into_iter()
            .enumerate()
            .map(|(n, attrs)| {
                let regions = partition(attrs.len(), partitions)
                    .into_iter()
                    .map(|(lower, upper)| {
                        id += 1;
                        Region { id, lower, upper, replicas: vec![Replica { server: 1, vid: id }], joining: vec![] }
                    })
                    .collect();
                Subspace { id: n as u64 + 10, attrs, regions }
            })
            .collect();
        if missing & 0x80 != 0 {
            let (which, n) = (((missing >> 5) & 3) as usize, subs.len());
            for (si, ss) in subs.iter_mut().enumerate() {
                if which == 3 || which % n == si {
                    let n = ss.regions.len();
                    ss.regions[(missing & 31) as usize % n].replicas.clear();
                }
            }
        }
        Space { id: 1, name: "fuzz".into(), fault_tolerance: 0, attrs: schema, subspaces: subs }
    }

    pub fn split(data: &[u8]) -> Option<SearchInput<'_>> {
        let mut r = Reader::new(data);
        let nonkey = r.u8().ok()? as usize % 8;
        let types = attribute_types();
        let mut schema = Vec::with_capacity(nonkey + 1);
        for i in 0..=nonkey {
            let b = r.u8().ok()? as usize;
            let dtype = if i == 0 { KEY_TYPES[b % KEY_TYPES.len()] } else { types[b % types.len()] };
            schema.push(Attribute { name: format!("a{i}"), dtype });
        }
        let partitions = 1 + r.u8().ok()? as u32 % 32;
        let extra = 1 + r.u8().ok()? as usize % 2;
        let mut subspaces = Vec::with_capacity(extra);
        for _ in 0..extra {
            let mask = r.u8().ok()?;
            let mut attrs: Vec<usize> = (0..=nonkey).filter(|i| mask & (1 << i) != 0).collect();
            if attrs.is_empty() {
                attrs.push(nonkey);
            }
            subspaces.push(attrs);
        }
        let missing = r.u8().ok()?;
        let key = r.bytes().ok()?;
        let mut values = Vec::with_capacity(nonkey);
        for _ in 0..nonkey {
            values.push(r.bytes().ok()?);
        }
        let body = r.take(r.remaining()).ok()?;
        let space = build(schema, partitions, &subspaces, missing);
        Some(SearchInput { space, key, values, body })
    }

    /// `schema` key first (at most 8 attributes); `values` one per non-key attribute; `body`
    /// the body of an encoded `Msg::SearchStart` (frame header removed).
    pub fn make(schema: &[DataType], layout: &Layout, key: &[u8], values: &[Vec<u8>], body: &[u8]) -> Vec<u8> {
        assert!(!schema.is_empty() && schema.len() <= 8 && values.len() == schema.len() - 1);
        assert!((1..=32).contains(&layout.partitions) && (1..=2).contains(&layout.subspaces.len()));
        let types = attribute_types();
        let mut out = vec![(schema.len() - 1) as u8];
        for (i, t) in schema.iter().enumerate() {
            let list: &[DataType] = if i == 0 { &KEY_TYPES } else { &types };
            out.push(list.iter().position(|x| x == t).expect("a key or attribute type") as u8);
        }
        out.push((layout.partitions - 1) as u8);
        out.push((layout.subspaces.len() - 1) as u8);
        for ss in &layout.subspaces {
            assert!(!ss.is_empty() && ss.iter().all(|&a| a < schema.len()));
            out.push(ss.iter().fold(0u8, |m, &a| m | 1 << a));
        }
        out.push(match layout.missing {
            None => 0,
            Some((ss, r)) => {
                assert!((ss <= layout.subspaces.len() || ss == 3) && r < 32);
                0x80 | (ss as u8) << 5 | r as u8
            }
        });
        for v in std::iter::once(key).chain(values.iter().map(|v| &v[..])) {
            out.extend_from_slice(&(v.len() as u32).to_le_bytes());
            out.extend_from_slice(v);
        }
        out.extend_from_slice(body);
        out
    }
}

/// Input of the `regex` target: byte 0 = the pattern's length (`byte % 65`, at most 64; fewer
/// when the input ends first), then the pattern, then the text (at most [`regex_input::MAX_TEXT`]
/// bytes; longer inputs are skipped).
pub mod regex_input {
    pub const MAX_PATTERN: usize = 64;
    pub const MAX_TEXT: usize = 4096;

    pub fn split(data: &[u8]) -> Option<(&[u8], &[u8])> {
        let (&n, rest) = data.split_first()?;
        let (pattern, text) = rest.split_at((n as usize % (MAX_PATTERN + 1)).min(rest.len()));
        (text.len() <= MAX_TEXT).then_some((pattern, text))
    }

    pub fn make(pattern: &[u8], text: &[u8]) -> Vec<u8> {
        assert!(pattern.len() <= MAX_PATTERN && text.len() <= MAX_TEXT);
        [&[pattern.len() as u8][..], pattern, text].concat()
    }
}

/// Input of the `client_reply` target: byte 0: bit 7 set = the reply to a get (else to an
/// atomic operation), bits 0-6 = the space's number of non-key attributes; byte 1: the frame's
/// message type; the rest: the frame's body.
pub mod reply_input {
    pub struct ReplyInput<'a> {
        pub get: bool,
        pub nonkey: usize,
        pub msg_type: u8,
        pub body: &'a [u8],
    }

    pub fn split(data: &[u8]) -> Option<ReplyInput<'_>> {
        match data {
            [a, t, body @ ..] => {
                Some(ReplyInput { get: a & 0x80 != 0, nonkey: (a & 0x7f) as usize, msg_type: *t, body })
            }
            _ => None,
        }
    }

    pub fn make(get: bool, nonkey: usize, msg_type: u8, body: &[u8]) -> Vec<u8> {
        assert!(nonkey < 0x80);
        let mut out = vec![(get as u8) << 7 | nonkey as u8, msg_type];
        out.extend_from_slice(body);
        out
    }
}

/// Splits an encoded frame (`Msg::encode`) into its type and body.
pub fn frame_parts(frame: &[u8]) -> (u8, &[u8]) {
    (frame[4], &frame[hyperdex_core::wire::HEADER_SIZE..])
}

/// The global allocator of every target: the system allocator, plus a heap budget while an
/// [`AllocBudget`] is alive. An allocation that would take the bytes live since the budget
/// started past its limit fails, which aborts with "memory allocation of N bytes failed": a
/// decoder that trusts a length or count from its input, or allocates out of proportion to
/// it, is a crash even when the machine could afford the memory. (libFuzzer's own
/// -malloc_limit_mb needs a sanitizer; the targets are built without one, see
/// scripts/fuzz-ci.sh.)
pub struct BudgetAlloc;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static ARMED: AtomicBool = AtomicBool::new(false);
static BASE: AtomicUsize = AtomicUsize::new(0);
static LIMIT: AtomicUsize = AtomicUsize::new(usize::MAX);

impl BudgetAlloc {
    fn admit(size: usize) -> bool {
        if !ARMED.load(Relaxed) {
            return true;
        }
        let live = LIVE.load(Relaxed).saturating_sub(BASE.load(Relaxed));
        if live.saturating_add(size) <= LIMIT.load(Relaxed) {
            return true;
        }
        // Refused: say where from before the caller aborts. Disarmed first, since capturing
        // and printing the backtrace allocate (re-entering this allocator is fine).
        ARMED.store(false, Relaxed);
        let limit = LIMIT.load(Relaxed);
        let bt = std::backtrace::Backtrace::force_capture();
        eprintln!(
            "hyperdex-fuzz: allocation budget exceeded: {size} more bytes with {live} live, limit {limit} \
             (1 MiB + 256 x input length)\n{bt}"
        );
        false
    }
}

// SAFETY: every call is passed on unchanged to `System`; only the byte counts are ours.
unsafe impl GlobalAlloc for BudgetAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if !Self::admit(layout.size()) {
            return std::ptr::null_mut();
        }
        let p = System.alloc(layout);
        if !p.is_null() {
            LIVE.fetch_add(layout.size(), Relaxed);
        }
        p
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if !Self::admit(layout.size()) {
            return std::ptr::null_mut();
        }
        let p = System.alloc_zeroed(layout);
        if !p.is_null() {
            LIVE.fetch_add(layout.size(), Relaxed);
        }
        p
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        System.dealloc(ptr, layout);
        LIVE.fetch_sub(layout.size(), Relaxed);
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if new_size > layout.size() && !Self::admit(new_size - layout.size()) {
            return std::ptr::null_mut();
        }
        let p = System.realloc(ptr, layout, new_size);
        if !p.is_null() {
            LIVE.fetch_sub(layout.size(), Relaxed);
            LIVE.fetch_add(new_size, Relaxed);
        }
        p
    }
}

/// While alive, the heap may hold at most 1 MiB + 256 x `input_len` bytes more than when it
/// started. Decoders reserve at most a small multiple of their input (counts are checked
/// against the bytes left), and what the targets build from the result (re-encodings,
/// copies, text) is proportional too.
pub struct AllocBudget(());

pub fn alloc_budget(input_len: usize) -> AllocBudget {
    // A panic disarms the budget: the panic hook's backtrace allocates freely, and
    // refusing it there would deadlock on the backtrace lock instead of reporting the panic.
    static HOOK: std::sync::Once = std::sync::Once::new();
    HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            ARMED.store(false, Relaxed);
            previous(info)
        }));
    });
    BASE.store(LIVE.load(Relaxed), Relaxed);
    LIMIT.store((1 << 20) + 256 * input_len, Relaxed);
    ARMED.store(true, Relaxed);
    AllocBudget(())
}

impl Drop for AllocBudget {
    fn drop(&mut self) {
        ARMED.store(false, Relaxed);
    }
}

#[cfg(test)]
mod tests {
    #[global_allocator]
    static ALLOC: super::BudgetAlloc = super::BudgetAlloc;

    #[test]
    fn the_budget_refuses_what_passes_it_and_only_while_alive() {
        let budget = || super::alloc_budget(1024); // 1 MiB + 256 KiB
        {
            let _b = budget();
            assert!(Vec::<u8>::new().try_reserve_exact(2 << 20).is_err());
        }
        let mut kept: Vec<u8> = Vec::new();
        {
            let _b = budget();
            assert!(kept.try_reserve_exact(1 << 20).is_ok());
            assert!(Vec::<u8>::new().try_reserve_exact(128 << 10).is_ok());
            // What is live counts: another 512 KiB no longer fits.
            assert!(Vec::<u8>::new().try_reserve_exact(512 << 10).is_err());
        }
        // Bytes live before a budget starts do not count against it.
        {
            let _b = budget();
            assert!(Vec::<u8>::new().try_reserve_exact(1 << 20).is_ok());
        }
        assert!(Vec::<u8>::new().try_reserve_exact(64 << 20).is_ok());
        drop(kept);
    }
}
