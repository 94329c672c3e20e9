//! Search, sorted_search, count, group_del and search_describe against real coordinator and
//! daemon processes (3 daemons, spaces with subspaces), through the client's Rust API (which
//! the C functions wrap one to one).
//!
//! * the regions a search contacts, for equality, range and unconstrained predicates;
//! * a property test: random objects and random predicates, every answer compared with an
//!   in-memory model written here (typed values, its own regex matcher), shrinking on failure
//!   (`SEARCH_CASES`, default 24);
//! * sorted_search's top-k when one region holds far more matches than `limit`;
//! * a search during puts that move objects between regions: each key at most once, each in
//!   a version that existed;
//! * group_del; streaming many objects with bounded batches; call-time refusals.

mod common;

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::time::Duration;

use common::Cluster;
use hyperclient::client::{Attribute, KeyOp, MapAttribute};
use hyperclient::client::{AttributeCheck, Extra, OpError, SearchKind};
use hyperclient::{Client, DataType, Predicate, ReturnCode};
use hyperdex_core::values::{encode_float, encode_int64, encode_set};
use proptest::prelude::*;

type C = Client<u32>;

const NO_CHECKS: &[AttributeCheck<'static>] = &[];
const NO_MAPS: &[MapAttribute<'static>] = &[];

/// Every event of one search-type operation: the objects (values, key first), the last
/// event's status and extra, and the non-final error statuses.
struct Outcome {
    objects: Vec<Vec<Vec<u8>>>,
    errors: Vec<ReturnCode>,
    status: ReturnCode,
    extra: Extra,
}

fn run(c: &mut C, kind: SearchKind<'_>, space: &str, checks: &[AttributeCheck<'_>]) -> Result<Outcome, OpError> {
    let id = c.search(kind, space.as_bytes(), checks, 0)?;
    let mut out = Outcome { objects: Vec::new(), errors: Vec::new(), status: ReturnCode::Garbage, extra: Extra::None };
    loop {
        let ev = c.loop_once(30_000).expect("loop_once");
        assert_eq!(ev.id, id);
        if ev.last {
            out.status = ev.status;
            out.extra = ev.extra;
            assert!(ev.values.is_none());
            return Ok(out);
        }
        match ev.values {
            Some(v) => {
                assert_eq!(ev.status, ReturnCode::Success);
                out.objects.push(v.iter().map(|(_, _, x)| x.to_vec()).collect());
            }
            None => out.errors.push(ev.status),
        }
    }
}

fn put(c: &mut C, space: &str, key: &[u8], attrs: &[Attribute<'_>]) {
    let id = c.key_op(KeyOp::PUT, space.as_bytes(), key, NO_CHECKS, attrs, NO_MAPS, 0).expect("put accepted");
    let ev = c.loop_once(30_000).expect("loop");
    assert_eq!((ev.id, ev.status), (id, ReturnCode::Success));
}

fn del(c: &mut C, space: &str, key: &[u8]) -> ReturnCode {
    let none: &[Attribute<'static>] = &[];
    let id = c.key_op(KeyOp::DEL, space.as_bytes(), key, NO_CHECKS, none, NO_MAPS, 0).expect("del accepted");
    let ev = c.loop_once(30_000).expect("loop");
    assert_eq!(ev.id, id);
    ev.status
}

fn chk<'a>(name: &'a str, p: Predicate, t: DataType, v: &'a [u8]) -> AttributeCheck<'a> {
    AttributeCheck { name: name.as_bytes(), value: v, datatype: t, predicate: p }
}

/// The number of regions a search_describe reports, and the subspace.
fn described(c: &mut C, space: &str, checks: &[AttributeCheck<'_>]) -> (usize, usize) {
    let o = run(c, SearchKind::Describe, space, checks).expect("describe accepted");
    assert_eq!(o.status, ReturnCode::Success);
    let Extra::Text(t) = o.extra else { panic!("no text") };
    let regions = t.lines().filter(|l| l.starts_with("region(")).count();
    let ss = t.split("subspace ").nth(1).and_then(|r| r.split(' ').next()).and_then(|n| n.parse().ok()).unwrap();
    (ss, regions)
}

#[test]
fn phonebook_searches_contact_few_regions() {
    let cl = Cluster::start("search-regions", 3);
    let mut c = C::new("127.0.0.1", cl.coord_port).unwrap();
    let sp = "phonebook";
    let desc = "space phonebook key username attributes first, last, int phone \
                subspace first, last, phone create 8 partitions tolerate 2 failures";
    assert_eq!(c.add_space(desc.as_bytes()), ReturnCode::Success);
    let people: [(&str, &str, &str, i64); 4] = [
        ("jsmith1", "John", "Smith", 6075551024),
        ("jd", "John", "Doe", 6075557878),
        ("bsmith", "Bob", "Smith", 5855552048),
        ("jack", "Jack", "Jones", 42),
    ];
    let phones: Vec<[u8; 8]> = people.iter().map(|p| p.3.to_le_bytes()).collect();
    for (p, ph) in people.iter().zip(&phones) {
        let a = [
            Attribute { name: b"first", value: p.1.as_bytes(), datatype: DataType::String },
            Attribute { name: b"last", value: p.2.as_bytes(), datatype: DataType::String },
            Attribute { name: b"phone", value: ph, datatype: DataType::Int64 },
        ];
        put(&mut c, sp, p.0.as_bytes(), &a);
    }
    let s = DataType::String;
    let i = DataType::Int64;
    let ph = 6075551024i64.to_le_bytes();
    let lo = 0i64.to_le_bytes();
    // (checks, subspace, regions, matching keys)
    let cases: Vec<(Vec<AttributeCheck<'_>>, usize, usize, Vec<&str>)> = vec![
        (vec![], 0, 8, vec!["bsmith", "jack", "jd", "jsmith1"]),
        (vec![chk("username", Predicate::Equals, s, b"jd")], 0, 1, vec!["jd"]),
        (vec![chk("first", Predicate::Equals, s, b"John")], 1, 4, vec!["jd", "jsmith1"]),
        (
            vec![chk("first", Predicate::Equals, s, b"John"), chk("last", Predicate::Equals, s, b"Smith")],
            1,
            2,
            vec!["jsmith1"],
        ),
        (
            vec![
                chk("first", Predicate::Equals, s, b"John"),
                chk("last", Predicate::Equals, s, b"Smith"),
                chk("phone", Predicate::Equals, i, &ph),
            ],
            1,
            1,
            vec!["jsmith1"],
        ),
        // A phone range over the positive numbers: half of the phone axis.
        (
            vec![chk("phone", Predicate::GreaterEqual, i, &lo), chk("phone", Predicate::LessEqual, i, &ph)],
            1,
            6,
            vec!["bsmith", "jack", "jsmith1"],
        ),
        // A string range cannot use the hash: every key region.
        (
            vec![chk("first", Predicate::GreaterEqual, s, b"Jack"), chk("first", Predicate::LessEqual, s, b"Joseph")],
            0,
            8,
            vec!["jack", "jd", "jsmith1"],
        ),
        (vec![chk("last", Predicate::Regex, s, b"^S")], 0, 8, vec!["bsmith", "jsmith1"]),
    ];
    for (checks, ss, regions, keys) in cases {
        assert_eq!(described(&mut c, sp, &checks), (ss, regions), "{checks:?}");
        let o = run(&mut c, SearchKind::Search, sp, &checks).unwrap();
        assert_eq!((o.status, o.errors.len()), (ReturnCode::SearchDone, 0));
        let mut got: Vec<String> = o.objects.iter().map(|v| String::from_utf8(v[0].clone()).unwrap()).collect();
        got.sort();
        assert_eq!(got, keys, "{checks:?}");
        // Every result carries the key and every attribute.
        assert!(o.objects.iter().all(|v| v.len() == 4));
        let n = run(&mut c, SearchKind::Count, sp, &checks).unwrap();
        assert_eq!((n.status, n.extra), (ReturnCode::Success, Extra::Count(keys.len() as u64)));
    }
    // A partial put moves jsmith1 in the subspace: found by the new phone, not the old one.
    let newph = 1234i64.to_le_bytes();
    put(&mut c, sp, b"jsmith1", &[Attribute { name: b"phone", value: &newph, datatype: i }]);
    let by = |c: &mut C, v: &[u8]| {
        run(c, SearchKind::Search, sp, &[chk("phone", Predicate::Equals, i, v)]).unwrap().objects.len()
    };
    assert_eq!((by(&mut c, &ph), by(&mut c, &newph)), (0, 1));
    assert_eq!(del(&mut c, sp, b"jsmith1"), ReturnCode::Success);
    assert_eq!(by(&mut c, &newph), 0);
    assert_eq!(c.rm_space(sp.as_bytes()), ReturnCode::Success);
}

#[test]
fn call_time_refusals_send_nothing() {
    let cl = Cluster::start("search-refusals", 1);
    let mut c = C::new("127.0.0.1", cl.coord_port).unwrap();
    let desc = "space r key k attributes string s, int n, set(string) t subspace n create 4 partitions";
    assert_eq!(c.add_space(desc.as_bytes()), ReturnCode::Success);
    // One operation through loop: the client's link to the coordinator is up and current, so
    // an unknown space below is refused at call time (not looked up through loop).
    assert_eq!(run(&mut c, SearchKind::Count, "r", NO_CHECKS).unwrap().extra, Extra::Count(0));
    let (s, i) = (DataType::String, DataType::Int64);
    let one = 1i64.to_le_bytes();
    let two = 2i64.to_le_bytes();
    let err = |c: &mut C, kind: SearchKind<'_>, checks: &[AttributeCheck<'_>]| {
        run(c, kind, "r", checks).err().map(|e| (e.offset, e.status))
    };
    let search = SearchKind::Search;
    assert_eq!(
        err(&mut c, search, &[chk("s", Predicate::Equals, s, b"x"), chk("nope", Predicate::Equals, s, b"x")]),
        Some((-2, ReturnCode::UnknownAttr))
    );
    assert_eq!(err(&mut c, search, &[chk("n", Predicate::Equals, s, b"x")]), Some((-1, ReturnCode::WrongType)));
    assert_eq!(err(&mut c, search, &[chk("t", Predicate::LessEqual, s, b"x")]), Some((-1, ReturnCode::WrongType)));
    assert_eq!(err(&mut c, search, &[chk("s", Predicate::Regex, i, &one)]), Some((-1, ReturnCode::WrongType)));
    assert_eq!(
        err(
            &mut c,
            SearchKind::Count,
            &[chk("n", Predicate::GreaterEqual, i, &two), chk("n", Predicate::LessEqual, i, &one)]
        ),
        Some((-1, ReturnCode::Internal))
    );
    let sorted = |by: &'static str| SearchKind::Sorted { sort_by: by.as_bytes(), limit: 3, maximize: true };
    assert_eq!(err(&mut c, sorted("t"), &[chk("s", Predicate::Equals, s, b"x")]), Some((-2, ReturnCode::WrongType)));
    assert_eq!(err(&mut c, sorted("zz"), &[]), Some((-1, ReturnCode::UnknownAttr)));
    let e = c.search(SearchKind::Search, b"no-such-space", NO_CHECKS, 0).unwrap_err();
    assert_eq!((e.offset, e.status), (-1, ReturnCode::UnknownSpace));
    assert_eq!(c.loop_once(0).err(), Some(ReturnCode::NonePending), "nothing was started");
    // limit 0: no object, just the end.
    let o = run(&mut c, SearchKind::Sorted { sort_by: b"n", limit: 0, maximize: false }, "r", NO_CHECKS).unwrap();
    assert_eq!((o.objects.len(), o.status), (0, ReturnCode::SearchDone));
}

#[test]
fn sorted_search_finds_the_true_top_k_when_one_region_holds_most_matches() {
    let cl = Cluster::start("search-topk", 3);
    let mut c = C::new("127.0.0.1", cl.coord_port).unwrap();
    // Every age below 2^62 sits in the same one of the 2 age intervals.
    let desc = "space topk key k attributes int age, float score subspace age create 2 partitions tolerate 1 failures";
    assert_eq!(c.add_space(desc.as_bytes()), ReturnCode::Success);
    let mut model = Vec::new();
    for n in 0..400i64 {
        let age = (n * 7919) % 1000;
        let score = ((n * 104_729) % 997) as f64 / 10.0;
        let (a, s) = (age.to_le_bytes(), score.to_le_bytes());
        let attrs = [
            Attribute { name: b"age", value: &a, datatype: DataType::Int64 },
            Attribute { name: b"score", value: &s, datatype: DataType::Float },
        ];
        put(&mut c, "topk", format!("k{n:03}").as_bytes(), &attrs);
        model.push((age, score));
    }
    let zero = 0i64.to_le_bytes();
    let pos = [chk("age", Predicate::GreaterEqual, DataType::Int64, &zero)];
    assert_eq!(described(&mut c, "topk", &pos), (1, 1), "one region holds every match");
    for (by, maximize, limit) in
        [("age", true, 10u64), ("age", false, 7), ("score", true, 25), ("score", false, 1), ("age", true, 1000)]
    {
        let o = run(&mut c, SearchKind::Sorted { sort_by: by.as_bytes(), limit, maximize }, "topk", &pos).unwrap();
        assert_eq!(o.status, ReturnCode::SearchDone);
        let col = if by == "age" { 1 } else { 2 };
        let got: Vec<f64> = o
            .objects
            .iter()
            .map(|v| {
                let b: [u8; 8] = v[col].as_slice().try_into().unwrap();
                if col == 1 {
                    i64::from_le_bytes(b) as f64
                } else {
                    f64::from_le_bytes(b)
                }
            })
            .collect();
        let mut want: Vec<f64> = model.iter().map(|m| if col == 1 { m.0 as f64 } else { m.1 }).collect();
        want.sort_by(|a, b| a.partial_cmp(b).unwrap());
        if maximize {
            want.reverse();
        }
        want.truncate(limit as usize);
        assert_eq!(got, want, "sort by {by} max={maximize} limit {limit}");
    }
}

#[test]
fn a_search_during_moving_puts_returns_each_key_once_in_a_version_that_existed() {
    let cl = Cluster::start("search-moves", 3);
    let mut c = C::new("127.0.0.1", cl.coord_port).unwrap();
    // n decides the region of subspace (n); each put moves the object across the axis.
    let desc = "space mv key k attributes int n, int twin subspace n create 8 partitions tolerate 1 failures";
    assert_eq!(c.add_space(desc.as_bytes()), ReturnCode::Success);
    let keys: Vec<String> = (0..300).map(|i| format!("obj{i}")).collect();
    let write = |c: &mut C, key: &str, v: i64| {
        // twin always equals n: a result with twin != n would be a version never written.
        let (a, b) = (v.to_le_bytes(), v.to_le_bytes());
        let attrs = [
            Attribute { name: b"n", value: &a, datatype: DataType::Int64 },
            Attribute { name: b"twin", value: &b, datatype: DataType::Int64 },
        ];
        c.key_op(KeyOp::PUT, b"mv", key.as_bytes(), NO_CHECKS, &attrs, NO_MAPS, 1).expect("put")
    };
    for k in &keys {
        write(&mut c, k, 0);
        assert_eq!(c.loop_once(30_000).unwrap().status, ReturnCode::Success);
    }
    // A writer thread moves objects back and forth across the regions while searches run.
    let port = cl.coord_port;
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let stop2 = stop.clone();
    let keys2 = keys.clone();
    let writer = std::thread::spawn(move || {
        let mut w = C::new("127.0.0.1", port).unwrap();
        let mut round = 0i64;
        let mut moves = 0u64;
        while !stop2.load(std::sync::atomic::Ordering::Relaxed) {
            round += 1;
            // Values spread over the whole i64 axis: every put changes region.
            let v = if round % 2 == 0 { i64::MIN / 3 * (round % 3) } else { i64::MAX / 4 * (round % 4) };
            for k in &keys2 {
                write(&mut w, k, v + 1);
            }
            for _ in &keys2 {
                let ev = w.loop_once(30_000).unwrap();
                assert_eq!(ev.status, ReturnCode::Success);
                moves += 1;
            }
        }
        moves
    });
    // n >= 0 keeps the 4 upper regions of n's subspace (fewer than the key subspace's 8), so
    // the searches read exactly the regions the writer moves objects between.
    let zero = 0i64.to_le_bytes();
    let upper = [chk("n", Predicate::GreaterEqual, DataType::Int64, &zero)];
    assert_eq!(described(&mut c, "mv", &upper), (1, 4));
    let mut searches = 0;
    let deadline = std::time::Instant::now() + Duration::from_secs(3);
    while std::time::Instant::now() < deadline || searches < 5 {
        let sorted = SearchKind::Sorted { sort_by: b"n", limit: 1000, maximize: true };
        for kind in [SearchKind::Search, sorted] {
            let o = run(&mut c, kind, "mv", &upper).unwrap();
            assert_eq!((o.status, &o.errors[..]), (ReturnCode::SearchDone, &[][..]));
            let mut seen = HashSet::new();
            for v in &o.objects {
                assert!(
                    seen.insert(v[0].clone()),
                    "key {:?} returned twice ({kind:?})",
                    String::from_utf8_lossy(&v[0])
                );
                assert_eq!(v[1], v[2], "a version that was never written");
                assert!(i64::from_le_bytes(v[1].as_slice().try_into().unwrap()) >= 0, "a version that does not match");
            }
            assert!(seen.len() <= keys.len());
        }
        searches += 1;
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let moves = writer.join().unwrap();
    assert!(moves > 0, "the writer moved objects during the searches");
    // Once writes stop, a search sees every object exactly once.
    let o = run(&mut c, SearchKind::Search, "mv", NO_CHECKS).unwrap();
    assert_eq!(o.objects.len(), keys.len());
    assert!(searches >= 5);
}

#[test]
fn group_del_deletes_every_match_and_nothing_else() {
    let cl = Cluster::start("search-groupdel", 3);
    let mut c = C::new("127.0.0.1", cl.coord_port).unwrap();
    let desc = "space gd key k attributes string color, int n subspace color create 4 partitions tolerate 2 failures";
    assert_eq!(c.add_space(desc.as_bytes()), ReturnCode::Success);
    let colors = ["red", "green", "blue"];
    for n in 0..3000i64 {
        let nb = n.to_le_bytes();
        let color = colors[(n % 3) as usize];
        let attrs = [
            Attribute { name: b"color", value: color.as_bytes(), datatype: DataType::String },
            Attribute { name: b"n", value: &nb, datatype: DataType::Int64 },
        ];
        let id = c.key_op(KeyOp::PUT, b"gd", format!("k{n}").as_bytes(), NO_CHECKS, &attrs, NO_MAPS, 0).unwrap();
        assert!(id > 0);
        if n % 256 == 255 || n == 2999 {
            while let Ok(ev) = c.loop_once(30_000) {
                assert_eq!(ev.status, ReturnCode::Success);
            }
        }
    }
    let red = [chk("color", Predicate::Equals, DataType::String, b"red")];
    let count = |c: &mut C, checks: &[AttributeCheck<'_>]| match run(c, SearchKind::Count, "gd", checks).unwrap().extra
    {
        Extra::Count(n) => n,
        e => panic!("{e:?}"),
    };
    assert_eq!(count(&mut c, &red), 1000);
    let o = run(&mut c, SearchKind::GroupDel, "gd", &red).unwrap();
    assert_eq!(o.status, ReturnCode::Success);
    // Every delete was acknowledged before group_del finished: nothing red is left anywhere.
    assert_eq!(count(&mut c, &red), 0);
    assert_eq!(count(&mut c, NO_CHECKS), 2000);
    let key_sub =
        run(&mut c, SearchKind::Search, "gd", &[chk("k", Predicate::Regex, DataType::String, b"^k")]).unwrap();
    assert_eq!(key_sub.objects.len(), 2000, "the key subspace agrees (every replica of every subspace)");
    assert!(key_sub.objects.iter().all(|v| v[1] != b"red"));
    // Streaming 2000 objects, in batches, from every region.
    let all = run(&mut c, SearchKind::Search, "gd", NO_CHECKS).unwrap();
    let distinct: BTreeSet<Vec<u8>> = all.objects.iter().map(|v| v[0].clone()).collect();
    assert_eq!(distinct.len(), 2000);
}

// ---------------------------------------------------------------------------------------
// The property test: a typed in-memory model.

#[derive(Clone, Debug, PartialEq)]
struct Obj {
    name: String,
    age: i64,
    score: f64,
    tags: BTreeSet<String>,
}

const NAMES: [&str; 6] = ["Ada", "Bob", "Cy", "Dee", "", "Abba"];
const AGES: [i64; 7] = [-5, 0, 17, 36, 52, i64::MAX, i64::MIN];
const SCORES: [f64; 5] = [-1.5, 0.0, 2.25, 9.5, 1e300];
const TAGS: [&str; 3] = ["a", "b", "cc"];
const REGEXES: [&str; 9] = ["^A", "e$", ".*", "^$", "d", "b.*a", "^.b", "^Ab*a$", "\\.x"];

fn arb_obj() -> impl Strategy<Value = Obj> {
    (0..NAMES.len(), 0..AGES.len(), 0..SCORES.len(), proptest::collection::btree_set(0..TAGS.len(), 0..3)).prop_map(
        |(n, a, s, t)| Obj {
            name: NAMES[n].into(),
            age: AGES[a],
            score: SCORES[s],
            tags: t.into_iter().map(|i| TAGS[i].to_string()).collect(),
        },
    )
}

/// One check of the model: attribute, predicate, value.
#[derive(Clone, Debug)]
enum Q {
    Key(Predicate, String),
    Name(Predicate, String),
    NameLen(Predicate, i64),
    Age(Predicate, i64),
    Score(Predicate, f64),
    TagsContain(String),
    TagsLen(Predicate, i64),
}

fn arb_q() -> impl Strategy<Value = Q> {
    let ord = prop_oneof![Just(Predicate::Equals), Just(Predicate::LessEqual), Just(Predicate::GreaterEqual)];
    let len = prop_oneof![
        Just(Predicate::LengthEquals),
        Just(Predicate::LengthLessEqual),
        Just(Predicate::LengthGreaterEqual)
    ];
    prop_oneof![
        (ord.clone(), 0..12usize).prop_map(|(p, k)| Q::Key(p, format!("k{k}"))),
        (0..REGEXES.len()).prop_map(|r| Q::Key(Predicate::Regex, REGEXES[r].replace('A', "k"))),
        (ord.clone(), 0..NAMES.len()).prop_map(|(p, n)| Q::Name(p, NAMES[n].into())),
        (0..REGEXES.len()).prop_map(|r| Q::Name(Predicate::Regex, REGEXES[r].into())),
        (len.clone(), 0..5i64).prop_map(|(p, n)| Q::NameLen(p, n)),
        (ord.clone(), 0..AGES.len(), -1..2i64).prop_map(|(p, a, d)| Q::Age(p, AGES[a].saturating_add(d))),
        (ord, 0..SCORES.len()).prop_map(|(p, s)| Q::Score(p, SCORES[s])),
        (0..TAGS.len()).prop_map(|t| Q::TagsContain(TAGS[t].into())),
        (len, 0..4i64).prop_map(|(p, n)| Q::TagsLen(p, n)),
    ]
}

/// HyperDex's tiny regex dialect, written independently of the server's (backtracking; the
/// model's inputs are a few bytes long).
fn model_regex(p: &[u8], t: &[u8]) -> bool {
    fn here(p: &[u8], t: &[u8]) -> bool {
        if p.is_empty() {
            return true;
        }
        if p == b"$" {
            return t.is_empty();
        }
        let (atom, rest): (Option<u8>, &[u8]) = match p[0] {
            b'\\' if p.len() > 1 => (Some(p[1]), &p[2..]),
            b'\\' => return false,
            b'.' => (None, &p[1..]),
            c => (Some(c), &p[1..]),
        };
        let ok = |c: u8| atom.is_none_or(|a| a == c);
        if rest.first() == Some(&b'*') {
            let mut i = 0;
            loop {
                if here(&rest[1..], &t[i..]) {
                    return true;
                }
                if i < t.len() && ok(t[i]) {
                    i += 1;
                } else {
                    return false;
                }
            }
        }
        !t.is_empty() && ok(t[0]) && here(rest, &t[1..])
    }
    if let Some(rest) = p.strip_prefix(b"^") {
        return here(rest, t);
    }
    (0..=t.len()).any(|i| here(p, &t[i..]))
}

fn cmp_ok<T: PartialOrd>(p: Predicate, v: T, c: T) -> bool {
    match p {
        Predicate::Equals => v == c,
        Predicate::LessEqual => v <= c,
        Predicate::GreaterEqual => v >= c,
        _ => unreachable!(),
    }
}

fn len_ok(p: Predicate, len: i64, n: i64) -> bool {
    match p {
        Predicate::LengthEquals => len == n,
        Predicate::LengthLessEqual => len <= n,
        Predicate::LengthGreaterEqual => len >= n,
        _ => unreachable!(),
    }
}

fn model_matches(key: &str, o: &Obj, q: &Q) -> bool {
    match q {
        Q::Key(Predicate::Regex, r) => model_regex(r.as_bytes(), key.as_bytes()),
        Q::Key(p, v) => cmp_ok(*p, key.as_bytes(), v.as_bytes()),
        Q::Name(Predicate::Regex, r) => model_regex(r.as_bytes(), o.name.as_bytes()),
        Q::Name(p, v) => cmp_ok(*p, o.name.as_bytes(), v.as_bytes()),
        Q::NameLen(p, n) => len_ok(*p, o.name.len() as i64, *n),
        Q::Age(p, v) => cmp_ok(*p, o.age, *v),
        Q::Score(p, v) => cmp_ok(*p, o.score, *v),
        Q::TagsContain(t) => o.tags.contains(t),
        Q::TagsLen(p, n) => len_ok(*p, o.tags.len() as i64, *n),
    }
}

/// Whether the checks leave some attribute an empty range (the planner refuses: INTERNAL).
fn model_empty_range(qs: &[Q]) -> bool {
    fn empty<T: PartialOrd + Clone>(vals: impl Iterator<Item = (Predicate, T)>) -> bool {
        let (mut lo, mut hi): (Option<T>, Option<T>) = (None, None);
        for (p, v) in vals {
            if matches!(p, Predicate::Equals | Predicate::GreaterEqual) && lo.as_ref().is_none_or(|l| v > *l) {
                lo = Some(v.clone());
            }
            if matches!(p, Predicate::Equals | Predicate::LessEqual) && hi.as_ref().is_none_or(|h| v < *h) {
                hi = Some(v);
            }
        }
        matches!((lo, hi), (Some(l), Some(h)) if l > h)
    }
    let keys = qs.iter().filter_map(|q| match q {
        Q::Key(p, v) if *p != Predicate::Regex => Some((*p, v.clone().into_bytes())),
        _ => None,
    });
    let names = qs.iter().filter_map(|q| match q {
        Q::Name(p, v) if *p != Predicate::Regex => Some((*p, v.clone().into_bytes())),
        _ => None,
    });
    let ages = qs.iter().filter_map(|q| match q {
        Q::Age(p, v) => Some((*p, *v)),
        _ => None,
    });
    let scores = qs.iter().filter_map(|q| match q {
        Q::Score(p, v) => Some((*p, *v)),
        _ => None,
    });
    empty(keys) || empty(names) || empty(ages) || empty(scores)
}

/// The checks of a query, as the client takes them (values kept alive by `store`).
fn checks_of<'a>(qs: &'a [Q], store: &'a [Vec<u8>]) -> Vec<AttributeCheck<'a>> {
    qs.iter()
        .zip(store)
        .map(|(q, v)| {
            let (name, p, t) = match q {
                Q::Key(p, _) => ("k", *p, DataType::String),
                Q::Name(p, _) => ("name", *p, DataType::String),
                Q::NameLen(p, _) => ("name", *p, DataType::Int64),
                Q::Age(p, _) => ("age", *p, DataType::Int64),
                Q::Score(p, _) => ("score", *p, DataType::Float),
                Q::TagsContain(_) => ("tags", Predicate::Contains, DataType::String),
                Q::TagsLen(p, _) => ("tags", *p, DataType::Int64),
            };
            chk(name, p, t, v)
        })
        .collect()
}

fn value_of(q: &Q) -> Vec<u8> {
    match q {
        Q::Key(_, s) | Q::Name(_, s) | Q::TagsContain(s) => s.clone().into_bytes(),
        Q::NameLen(_, n) | Q::TagsLen(_, n) | Q::Age(_, n) => encode_int64(*n),
        Q::Score(_, f) => encode_float(*f),
    }
}

fn decode_obj(v: &[Vec<u8>]) -> (String, Obj) {
    let i8b = |b: &[u8]| -> [u8; 8] {
        if b.is_empty() {
            [0; 8]
        } else {
            b.try_into().unwrap()
        }
    };
    let mut tags = BTreeSet::new();
    let mut rest = v[4].as_slice();
    while rest.len() >= 4 {
        let n = u32::from_le_bytes(rest[..4].try_into().unwrap()) as usize;
        tags.insert(String::from_utf8(rest[4..4 + n].to_vec()).unwrap());
        rest = &rest[4 + n..];
    }
    let key = String::from_utf8(v[0].clone()).unwrap();
    let o = Obj {
        name: String::from_utf8(v[1].clone()).unwrap(),
        age: i64::from_le_bytes(i8b(&v[2])),
        score: f64::from_le_bytes(i8b(&v[3])),
        tags,
    };
    (key, o)
}

/// The cluster and client every case of the property test uses (one space per case).
struct Live {
    c: C,
    n: u32,
}

type Queries = Vec<(Vec<Q>, usize, bool, u64)>;

fn check_case(live: &mut Live, objs: BTreeMap<usize, Option<Obj>>, queries: Queries) -> Result<(), TestCaseError> {
    live.n += 1;
    let space = format!("m{}", live.n);
    let c = &mut live.c;
    let desc = format!(
        "space {space} key k attributes string name, int age, float score, set(string) tags \
         subspace name subspace age, score create 4 partitions tolerate 1 failures"
    );
    prop_assert_eq!(c.add_space(desc.as_bytes()), ReturnCode::Success);
    let mut model: BTreeMap<String, Obj> = BTreeMap::new();
    // Objects are written twice when the case says so (None: put then delete), so later
    // writes move objects between regions.
    for (k, o) in &objs {
        let key = format!("k{k}");
        let o2 = o.clone().unwrap_or(Obj { name: "Zed".into(), age: 1, score: 1.0, tags: BTreeSet::new() });
        let (a, s) = (o2.age.to_le_bytes(), o2.score.to_le_bytes());
        let tags: Vec<&[u8]> = o2.tags.iter().map(|t| t.as_bytes()).collect();
        let tb = encode_set(DataType::String, &tags).unwrap();
        let attrs = [
            Attribute { name: b"name", value: o2.name.as_bytes(), datatype: DataType::String },
            Attribute { name: b"age", value: &a, datatype: DataType::Int64 },
            Attribute { name: b"score", value: &s, datatype: DataType::Float },
            Attribute { name: b"tags", value: &tb, datatype: DataType::SetString },
        ];
        put(c, &space, key.as_bytes(), &attrs);
        match o {
            Some(o) => {
                model.insert(key, o.clone());
            }
            None => prop_assert_eq!(del(c, &space, key.as_bytes()), ReturnCode::Success),
        }
    }
    for (qs, sort_col, maximize, limit) in queries {
        let store: Vec<Vec<u8>> = qs.iter().map(value_of).collect();
        let checks = checks_of(&qs, &store);
        let want: BTreeMap<&String, &Obj> =
            model.iter().filter(|(k, o)| qs.iter().all(|q| model_matches(k, o, q))).collect();
        let r = run(c, SearchKind::Search, &space, &checks);
        if model_empty_range(&qs) {
            prop_assert_eq!(r.err().map(|e| e.status), Some(ReturnCode::Internal), "{:?}", qs);
            continue;
        }
        let o = r.map_err(|e| TestCaseError::fail(format!("{qs:?}: refused {e:?}")))?;
        prop_assert_eq!(o.status, ReturnCode::SearchDone);
        prop_assert!(o.errors.is_empty());
        let got: BTreeMap<String, Obj> = o.objects.iter().map(|v| decode_obj(v)).collect();
        prop_assert_eq!(got.len(), o.objects.len(), "a key twice");
        let got_ref: BTreeMap<&String, &Obj> = got.iter().collect();
        prop_assert_eq!(&got_ref, &want, "search {:?}", qs);
        let n = run(c, SearchKind::Count, &space, &checks).unwrap();
        prop_assert_eq!(n.extra, Extra::Count(want.len() as u64), "count {:?}", qs);
        // sorted_search: the sequence of sort values is the model's.
        let by = ["k", "name", "age", "score"][sort_col];
        let kind = SearchKind::Sorted { sort_by: by.as_bytes(), limit, maximize };
        let s = run(c, kind, &space, &checks).unwrap();
        prop_assert_eq!(s.status, ReturnCode::SearchDone);
        let key_of = |k: &String, o: &Obj| -> (Vec<u8>, i64, f64) {
            match sort_col {
                0 => (k.clone().into_bytes(), 0, 0.0),
                1 => (o.name.clone().into_bytes(), 0, 0.0),
                2 => (vec![], o.age, 0.0),
                _ => (vec![], 0, o.score),
            }
        };
        let ord = |a: &(Vec<u8>, i64, f64), b: &(Vec<u8>, i64, f64)| {
            a.0.cmp(&b.0).then(a.1.cmp(&b.1)).then(a.2.partial_cmp(&b.2).unwrap())
        };
        let mut w: Vec<(Vec<u8>, i64, f64)> = want.iter().map(|(k, o)| key_of(k, o)).collect();
        w.sort_by(ord);
        if maximize {
            w.reverse();
        }
        w.truncate(limit as usize);
        let g: Vec<(Vec<u8>, i64, f64)> =
            s.objects.iter().map(|v| decode_obj(v)).map(|(k, o)| key_of(&k, &o)).collect();
        prop_assert_eq!(&g, &w, "sorted by {} max={} limit {} {:?}", by, maximize, limit, qs);
        for v in &s.objects {
            let (k, o) = decode_obj(v);
            prop_assert_eq!(want.get(&k).copied(), Some(&o));
        }
    }
    prop_assert_eq!(c.rm_space(space.as_bytes()), ReturnCode::Success);
    Ok(())
}

fn cases() -> u32 {
    std::env::var("SEARCH_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(24)
}

/// Random objects and random predicates; search, count and sorted_search against the model.
/// One cluster for every case (stopped when the test ends, pass or fail), a space per case;
/// proptest shrinks a failure to a small case. `SEARCH_SEED` replays a run.
#[test]
fn search_count_and_sorted_search_agree_with_a_model() {
    use proptest::test_runner::{Config, RngSeed, TestError, TestRunner};
    let seed = std::env::var("SEARCH_SEED").ok().and_then(|v| v.parse().ok()).unwrap_or_else(|| {
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as u64
    });
    let cl = Cluster::start("search-model", 3);
    let live = std::cell::RefCell::new(Live { c: C::new("127.0.0.1", cl.coord_port).unwrap(), n: 0 });
    let config = Config {
        cases: cases(),
        failure_persistence: None,
        rng_seed: RngSeed::Fixed(seed),
        max_shrink_iters: 200,
        ..Config::default()
    };
    let strategy = (
        proptest::collection::btree_map(0..12usize, proptest::option::weighted(0.85, arb_obj()), 0..12),
        proptest::collection::vec(
            (
                proptest::collection::vec(arb_q(), 0..4),
                0..4usize,
                any::<bool>(),
                prop_oneof![Just(0u64), Just(1), Just(3), Just(100)],
            ),
            1..6,
        ),
    );
    let result =
        TestRunner::new(config).run(&strategy, |(objs, queries)| check_case(&mut live.borrow_mut(), objs, queries));
    match result {
        Ok(()) => {}
        Err(TestError::Fail(reason, input)) => {
            panic!("search disagrees with the model (SEARCH_SEED={seed}).\n{reason}\nshrunk case:\n{input:?}")
        }
        Err(e) => panic!("{e}"),
    }
}
