//! The space description language (spec/cluster.md §1): `space NAME key [TYPE] NAME
//! [attributes ...] [subspace ...]* [create N partitions] [tolerate F failures]`.

use crate::codes::DataType;

/// One attribute of a schema.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Attribute {
    pub name: String,
    pub dtype: DataType,
}

/// A parsed and validated space description.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SpaceDesc {
    pub name: String,
    /// The schema: the key first, then the attributes in the order written.
    pub attrs: Vec<Attribute>,
    /// The `subspace` lines (subspace 0, the key alone, is implied and not listed here):
    /// attribute indexes into `attrs`, in the order written.
    pub subspaces: Vec<Vec<usize>>,
    /// `create N partitions` (default 256).
    pub partitions: u32,
    /// `tolerate F failures` (default 2).
    pub fault_tolerance: u32,
}

/// Why a description was refused (reported as BADSPACE).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SpaceError {
    pub message: String,
}

impl std::fmt::Display for SpaceError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}
impl std::error::Error for SpaceError {}

/// The largest `create N partitions` accepted (every region costs memory in every
/// configuration copy).
pub const MAX_PARTITIONS: u32 = 65536;

/// `create N partitions` when the clause is absent.
pub const DEFAULT_PARTITIONS: u32 = 256;
/// `tolerate F failures` when the clause is absent.
pub const DEFAULT_FAULT_TOLERANCE: u32 = 2;

/// The reserved words, after folding singular/plural and `int`/`int64` synonyms.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kw {
    Space,
    Key,
    Attributes,
    Tolerate,
    Failures,
    Create,
    Partitions,
    Subspace,
    String,
    Int,
    Float,
    List,
    Set,
    Map,
}

impl Kw {
    fn from_word(w: &str) -> Option<Kw> {
        Some(match w {
            "space" => Kw::Space,
            "key" => Kw::Key,
            "attributes" | "attribute" => Kw::Attributes,
            "tolerate" => Kw::Tolerate,
            "failures" | "failure" => Kw::Failures,
            "create" => Kw::Create,
            "partitions" | "partition" => Kw::Partitions,
            "subspace" => Kw::Subspace,
            "string" => Kw::String,
            "int" | "int64" => Kw::Int,
            "float" => Kw::Float,
            "list" => Kw::List,
            "set" => Kw::Set,
            "map" => Kw::Map,
            _ => return None,
        })
    }
    fn primitive(self) -> Option<DataType> {
        match self {
            Kw::String => Some(DataType::String),
            Kw::Int => Some(DataType::Int64),
            Kw::Float => Some(DataType::Float),
            _ => None,
        }
    }
    fn is_type(self) -> bool {
        self.primitive().is_some() || matches!(self, Kw::List | Kw::Set | Kw::Map)
    }
}

/// True when `word` is reserved by the language (so it cannot name a space or attribute).
pub fn is_keyword(word: &str) -> bool {
    Kw::from_word(word).is_some()
}

/// True when `word` can name a space or an attribute: `[A-Za-z_][A-Za-z0-9_]*` and not a
/// keyword.
pub fn is_valid_name(word: &str) -> bool {
    let mut bytes = word.bytes();
    match bytes.next() {
        Some(b) if b.is_ascii_alphabetic() || b == b'_' => {}
        _ => return false,
    }
    bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_') && !is_keyword(word)
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Tok {
    Kw(Kw),
    Ident(String),
    Number(u64),
    Comma,
    LParen,
    RParen,
    Colon,
}

#[derive(Clone, Debug)]
struct Token {
    tok: Tok,
    /// The source text of the token (for messages).
    text: String,
    line: usize,
    col: usize,
}

fn err(message: String) -> SpaceError {
    SpaceError { message }
}

/// Splits the description into tokens; anything that is not whitespace, punctuation, a
/// number or an identifier is a syntax error.
fn lex(text: &str) -> Result<Vec<Token>, SpaceError> {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let (mut i, mut line, mut line_start) = (0usize, 1usize, 0usize);
    while i < bytes.len() {
        let b = bytes[i];
        let col = i - line_start + 1;
        let start = i;
        let tok = match b {
            b'\n' => {
                i += 1;
                line += 1;
                line_start = i;
                continue;
            }
            b' ' | b'\t' | b'\r' => {
                i += 1;
                continue;
            }
            b',' => {
                i += 1;
                Tok::Comma
            }
            b'(' => {
                i += 1;
                Tok::LParen
            }
            b')' => {
                i += 1;
                Tok::RParen
            }
            b':' => {
                i += 1;
                Tok::Colon
            }
            b'0'..=b'9' => {
                while i < bytes.len() && bytes[i].is_ascii_digit() {
                    i += 1;
                }
                let digits = &text[start..i];
                match digits.parse::<u64>() {
                    Ok(n) => Tok::Number(n),
                    Err(_) => return Err(err(format!("line {line}, column {col}: number '{digits}' is too large"))),
                }
            }
            b'A'..=b'Z' | b'a'..=b'z' | b'_' => {
                while i < bytes.len() && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'_') {
                    i += 1;
                }
                let word = &text[start..i];
                match Kw::from_word(word) {
                    Some(k) => Tok::Kw(k),
                    None => Tok::Ident(word.to_string()),
                }
            }
            _ => {
                let ch = text[start..].chars().next().unwrap_or('?');
                return Err(err(format!("line {line}, column {col}: unexpected character {ch:?}")));
            }
        };
        out.push(Token { tok, text: text[start..i].to_string(), line, col });
    }
    Ok(out)
}

struct Parser {
    toks: Vec<Token>,
    pos: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.pos).map(|t| &t.tok)
    }

    /// An error at the current token: "line L, column C, at 'X': expected WHAT".
    fn expected(&self, what: &str) -> SpaceError {
        match self.toks.get(self.pos) {
            Some(t) => {
                let kind = match t.tok {
                    Tok::Kw(_) => "keyword ",
                    _ => "",
                };
                err(format!("line {}, column {}, at {}'{}': expected {}", t.line, t.col, kind, t.text, what))
            }
            None => err(format!("unexpected end of description: expected {what}")),
        }
    }

    fn accept_kw(&mut self, k: Kw) -> bool {
        if self.peek() == Some(&Tok::Kw(k)) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    fn expect_kw(&mut self, k: Kw, what: &str) -> Result<(), SpaceError> {
        if self.accept_kw(k) {
            Ok(())
        } else {
            Err(self.expected(what))
        }
    }

    fn accept(&mut self, t: &Tok) -> bool {
        if self.peek() == Some(t) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    fn expect(&mut self, t: &Tok, what: &str) -> Result<(), SpaceError> {
        if self.accept(t) {
            Ok(())
        } else {
            Err(self.expected(what))
        }
    }

    /// IDENT, with the position of the token for later messages.
    fn ident(&mut self, what: &str) -> Result<(String, usize), SpaceError> {
        if let Some(Tok::Ident(name)) = self.peek() {
            let name = name.clone();
            self.pos += 1;
            Ok((name, self.pos - 1))
        } else {
            Err(self.expected(what))
        }
    }

    fn number(&mut self, what: &str) -> Result<(u64, usize), SpaceError> {
        if let Some(Tok::Number(n)) = self.peek() {
            let n = *n;
            self.pos += 1;
            Ok((n, self.pos - 1))
        } else {
            Err(self.expected(what))
        }
    }

    fn prim(&mut self) -> Result<DataType, SpaceError> {
        if let Some(Tok::Kw(k)) = self.peek() {
            if let Some(t) = k.primitive() {
                self.pos += 1;
                return Ok(t);
            }
        }
        Err(self.expected("an element type (string, int, int64 or float)"))
    }

    /// `attr := IDENT | type IDENT`; the type defaults to string.
    fn attr(&mut self) -> Result<(String, DataType, usize), SpaceError> {
        let dtype = match self.peek() {
            Some(Tok::Kw(k)) if k.is_type() => {
                let k = *k;
                self.pos += 1;
                match k {
                    Kw::List | Kw::Set => {
                        self.expect(&Tok::LParen, "'(' after the container type")?;
                        let e = self.prim()?;
                        self.expect(&Tok::RParen, "')'")?;
                        if k == Kw::List {
                            DataType::list_of(e)
                        } else {
                            DataType::set_of(e)
                        }
                    }
                    Kw::Map => {
                        self.expect(&Tok::LParen, "'(' after map")?;
                        let kt = self.prim()?;
                        self.expect(&Tok::Comma, "',' between the map's key and value types")?;
                        let vt = self.prim()?;
                        self.expect(&Tok::RParen, "')'")?;
                        DataType::map_of(kt, vt)
                    }
                    _ => k.primitive().unwrap_or(DataType::String),
                }
            }
            _ => DataType::String,
        };
        let (name, at) = self.ident("an attribute name (not a keyword)")?;
        Ok((name, dtype, at))
    }

    fn message_at(&self, at: usize, msg: &str) -> SpaceError {
        match self.toks.get(at) {
            Some(t) => err(format!("line {}, column {}, at '{}': {}", t.line, t.col, t.text, msg)),
            None => err(msg.to_string()),
        }
    }
}

/// Parses and validates a space description.
pub fn parse_space(text: &str) -> Result<SpaceDesc, SpaceError> {
    let mut p = Parser { toks: lex(text)?, pos: 0 };
    p.expect_kw(Kw::Space, "'space'")?;
    let (name, _) = p.ident("a space name (not a keyword)")?;
    p.expect_kw(Kw::Key, "'key'")?;

    let mut attrs: Vec<Attribute> = Vec::new();
    let mut add_attr = |p: &Parser, (name, dtype, at): (String, DataType, usize)| {
        if attrs.iter().any(|a| a.name == name) {
            return Err(p.message_at(at, &format!("duplicate attribute name '{name}'")));
        }
        attrs.push(Attribute { name, dtype });
        Ok(())
    };

    let key = p.attr()?;
    if !key.1.is_primitive() {
        return Err(p.message_at(
            key.2,
            &format!("the key '{}' must be a string, int64 or float (not {})", key.0, key.1.message()),
        ));
    }
    add_attr(&p, key)?;

    let mut raw_subspaces: Vec<Vec<(String, usize)>> = Vec::new();
    if p.accept_kw(Kw::Attributes) {
        let a = p.attr()?;
        add_attr(&p, a)?;
        while p.accept(&Tok::Comma) {
            let a = p.attr()?;
            add_attr(&p, a)?;
        }
        while p.accept_kw(Kw::Subspace) {
            let mut names = vec![p.ident("an attribute name after 'subspace'")?];
            while p.accept(&Tok::Comma) {
                names.push(p.ident("an attribute name after ','")?);
            }
            raw_subspaces.push(names);
        }
    }

    let mut partitions = DEFAULT_PARTITIONS;
    if p.accept_kw(Kw::Create) {
        let (n, at) = p.number("the number of partitions after 'create'")?;
        p.expect_kw(Kw::Partitions, "'partitions'")?;
        partitions = match u32::try_from(n) {
            Ok(0) => return Err(p.message_at(at, "the number of partitions must be at least 1")),
            Ok(n) if n > MAX_PARTITIONS => {
                return Err(p.message_at(at, &format!("too many partitions (at most {MAX_PARTITIONS})")))
            }
            Ok(n) => n,
            Err(_) => return Err(p.message_at(at, "too many partitions")),
        };
    }

    let mut fault_tolerance = DEFAULT_FAULT_TOLERANCE;
    if p.accept_kw(Kw::Tolerate) {
        let (n, at) = p.number("the number of failures after 'tolerate'")?;
        p.expect_kw(Kw::Failures, "'failures'")?;
        fault_tolerance = u32::try_from(n).map_err(|_| p.message_at(at, "the number of failures is too large"))?;
    }

    if p.pos < p.toks.len() {
        let what = if attrs.len() == 1 && p.peek() == Some(&Tok::Kw(Kw::Subspace)) {
            "end of description (a subspace needs an attributes list first)"
        } else {
            "end of description (the clause order is: attributes, subspace, create, tolerate)"
        };
        return Err(p.expected(what));
    }

    let mut subspaces = Vec::with_capacity(raw_subspaces.len());
    for names in raw_subspaces {
        let mut idxs: Vec<usize> = Vec::with_capacity(names.len());
        for (n, at) in names {
            let idx = attrs
                .iter()
                .position(|a| a.name == n)
                .ok_or_else(|| p.message_at(at, &format!("subspace names unknown attribute '{n}'")))?;
            if idxs.contains(&idx) {
                return Err(p.message_at(at, &format!("subspace names attribute '{n}' twice")));
            }
            idxs.push(idx);
        }
        subspaces.push(idxs);
    }

    Ok(SpaceDesc { name, attrs, subspaces, partitions, fault_tolerance })
}

/// Renders a description as text that [`parse_space`] reads back to an equal `SpaceDesc`
/// (every clause written out, types in their canonical spelling, e.g. `map(string, int64)`).
pub fn render_space(desc: &SpaceDesc) -> String {
    let attr = |a: &Attribute| format!("{} {}", a.dtype.message(), a.name);
    let mut out = format!("space {} key ", desc.name);
    if let Some(k) = desc.attrs.first() {
        out.push_str(&attr(k));
    }
    if desc.attrs.len() > 1 {
        out.push_str(" attributes ");
        let rest: Vec<String> = desc.attrs[1..].iter().map(attr).collect();
        out.push_str(&rest.join(", "));
        for ss in &desc.subspaces {
            let names: Vec<&str> =
                ss.iter().map(|&i| desc.attrs.get(i).map(|a| a.name.as_str()).unwrap_or("?")).collect();
            out.push_str(" subspace ");
            out.push_str(&names.join(", "));
        }
    }
    out.push_str(&format!(" create {} partitions tolerate {} failures", desc.partitions, desc.fault_tolerance));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use DataType::*;

    fn a(name: &str, dtype: DataType) -> Attribute {
        Attribute { name: name.to_string(), dtype }
    }

    fn bad(text: &str, needle: &str) {
        match parse_space(text) {
            Ok(d) => panic!("{text:?} parsed as {d:?}"),
            Err(e) => assert!(e.message.contains(needle), "{text:?}: message {:?} lacks {needle:?}", e.message),
        }
    }

    #[test]
    fn phonebook() {
        let d = parse_space(
            "space phonebook key username attributes first, last, int phone\n      subspace first, last, phone create 8 partitions tolerate 2 failures",
        )
        .unwrap();
        assert_eq!(d.name, "phonebook");
        assert_eq!(d.attrs, vec![a("username", String), a("first", String), a("last", String), a("phone", Int64)]);
        assert_eq!(d.subspaces, vec![vec![1, 2, 3]]);
        assert_eq!(d.partitions, 8);
        assert_eq!(d.fault_tolerance, 2);
    }

    #[test]
    fn profiles() {
        let d = parse_space(
            "space profiles key username attributes string first, string last, int profile_views,
      list(string) pending_requests, set(string) hobbies,
      map(string, string) unread_messages, map(string, int) upvotes
      subspace first, last subspace profile_views",
        )
        .unwrap();
        assert_eq!(
            d.attrs,
            vec![
                a("username", String),
                a("first", String),
                a("last", String),
                a("profile_views", Int64),
                a("pending_requests", ListString),
                a("hobbies", SetString),
                a("unread_messages", MapStringString),
                a("upvotes", MapStringInt64),
            ]
        );
        assert_eq!(d.subspaces, vec![vec![1, 2], vec![3]]);
        assert_eq!(d.partitions, 256);
        assert_eq!(d.fault_tolerance, 2);
    }

    #[test]
    fn small_examples() {
        let d = parse_space("space friendlists key username attributes string first, string last, set(string) friends")
            .unwrap();
        assert_eq!(d.attrs.len(), 4);
        assert_eq!(d.attrs[3], a("friends", SetString));
        assert!(d.subspaces.is_empty());

        let d = parse_space("space userlocks key username").unwrap();
        assert_eq!(
            d,
            SpaceDesc {
                name: "userlocks".into(),
                attrs: vec![a("username", String)],
                subspaces: vec![],
                partitions: 256,
                fault_tolerance: 2
            }
        );
        let d = parse_space("space rt key x").unwrap();
        assert_eq!(d.attrs, vec![a("x", String)]);

        let d = parse_space(
            "space alldatatypes key k attributes string s, int i, float f, list(string) ls, set(string) ss,\n      map(string, string) mss, map(string, int) msi",
        )
        .unwrap();
        let types: Vec<DataType> = d.attrs.iter().map(|x| x.dtype).collect();
        assert_eq!(types, vec![String, String, Int64, Float, ListString, SetString, MapStringString, MapStringInt64]);

        let d = parse_space("space kv key int k attribute int v").unwrap();
        assert_eq!(d.attrs, vec![a("k", Int64), a("v", Int64)]);
    }

    #[test]
    fn synonyms_types_and_whitespace() {
        let d = parse_space(
            "\n\tspace\r\nkv key float k attribute int64 v,list(float)lf,set (int) si,map(float,int64)m create 1 partition tolerate 1 failure\n",
        )
        .unwrap();
        assert_eq!(
            d.attrs,
            vec![a("k", Float), a("v", Int64), a("lf", ListFloat), a("si", SetInt64), a("m", MapFloatInt64)]
        );
        assert_eq!((d.partitions, d.fault_tolerance), (1, 1));
        let d = parse_space("space s key string k attributes a subspace k, a tolerate 0 failures").unwrap();
        assert_eq!(d.subspaces, vec![vec![0, 1]]);
        assert_eq!(d.fault_tolerance, 0);
        assert_eq!(d.partitions, 256);
        let d = parse_space("space s key k attributes a, b create 3 partitions").unwrap();
        assert_eq!((d.partitions, d.fault_tolerance), (3, 2));
        let d = parse_space("space s key k attributes a, b subspace b subspace a, b subspace b").unwrap();
        assert_eq!(d.subspaces, vec![vec![2], vec![1, 2], vec![2]]);
    }

    #[test]
    fn errors() {
        bad("", "expected 'space'");
        bad("space", "expected a space name");
        bad("space kv", "expected 'key'");
        bad("space kv key", "expected");
        bad("spaces kv key k", "expected 'space'");
        bad("Space kv key k", "expected 'space'");
        bad("space kv key k attributes", "expected");
        bad("space kv key k attributes a,", "expected");
        bad("space kv key k attributes a b", "end of description");
        bad("space kv key k attributes a, a", "duplicate attribute name 'a'");
        bad("space kv key k attributes a, int k", "duplicate attribute name 'k'");
        bad("space kv key k attributes a subspace b", "unknown attribute 'b'");
        bad("space kv key k attributes a subspace a, a", "attribute 'a' twice");
        bad("space kv key k attributes a subspace", "expected an attribute name");
        bad("space kv key k subspace k", "subspace needs an attributes list");
        bad("space kv key list(string) k", "must be a string, int64 or float");
        bad("space kv key map(string, int) k", "must be a string, int64 or float");
        bad("space kv key k create 0 partitions", "at least 1");
        bad("space kv key k create 4294967296 partitions", "too many partitions");
        bad("space kv key k tolerate 4294967296 failures", "too large");
        bad("space kv key k create 99999999999999999999 partitions", "too large");
        bad("space kv key k create partitions", "number of partitions");
        bad("space kv key k create 8", "'partitions'");
        bad("space kv key k tolerate 2", "'failures'");
        bad("space kv key k tolerate 2 failures create 8 partitions", "clause order");
        bad("space kv key k create 8 partitions attributes a", "clause order");
        bad("space kv key k attributes a create 8 partitions subspace a", "clause order");
        bad("space kv key k tolerate 1 failures tolerate 1 failures", "end of description");
        // Keywords used as names.
        bad("space space key k", "a space name");
        bad("space kv key key", "attribute name");
        bad("space kv key int int", "attribute name");
        bad("space kv key k attributes map", "'('");
        bad("space kv key k attributes string set", "attribute name");
        bad("space kv key k attributes int64 partitions", "keyword 'partitions'");
        bad("space kv key k attributes failure", "attribute name");
        // Types.
        bad("space kv key k attributes list(list(string)) a", "element type");
        bad("space kv key k attributes list a", "'('");
        bad("space kv key k attributes list(string a", "')'");
        bad("space kv key k attributes map(string) a", "','");
        bad("space kv key k attributes map(string, int, int) a", "')'");
        bad("space kv key k attributes set() a", "element type");
        // Characters and tokens that no rule uses.
        bad("space kv key k attributes a: int", "end of description");
        bad("space kv-2 key k", "unexpected character '-'");
        bad("space kv key k attributes é", "unexpected character 'é'");
        bad("space kv key k attributes a;", "unexpected character ';'");
        bad("space kv key 9k", "attribute name");
        bad("space kv key k create -1 partitions", "unexpected character '-'");
    }

    #[test]
    fn error_names_line_and_column() {
        let e = parse_space("space kv\nkey k\n  attributes a, a").unwrap_err();
        assert!(e.message.starts_with("line 3, column 17"), "{}", e.message);
        let e = parse_space("space kv key\n  k subspace k").unwrap_err();
        assert!(e.message.starts_with("line 2, column 5"), "{}", e.message);
    }

    #[test]
    fn names() {
        assert!(is_valid_name("_a1"));
        assert!(is_valid_name("Key"));
        assert!(!is_valid_name("key"));
        assert!(!is_valid_name("int64"));
        assert!(!is_valid_name("1a"));
        assert!(!is_valid_name(""));
        assert!(!is_valid_name("a-b"));
    }

    fn attr_type() -> impl Strategy<Value = DataType> {
        proptest::sample::select(DataType::ALL.iter().copied().filter(|t| t.is_attribute_type()).collect::<Vec<_>>())
    }

    fn name() -> impl Strategy<Value = std::string::String> {
        "[A-Za-z_][A-Za-z0-9_]{0,7}".prop_filter("keyword", |s| !is_keyword(s))
    }

    fn desc() -> impl Strategy<Value = SpaceDesc> {
        (
            name(),
            proptest::collection::vec((name(), attr_type()), 1..8),
            prop_oneof![Just(String), Just(Int64), Just(Float)],
            1u32..=MAX_PARTITIONS,
            any::<u32>(),
            proptest::collection::vec(proptest::collection::vec(any::<prop::sample::Index>(), 1..5), 0..4),
        )
            .prop_map(|(space, raw, key_type, partitions, ft, subs)| {
                let mut attrs: Vec<Attribute> = Vec::new();
                for (i, (n, t)) in raw.into_iter().enumerate() {
                    if attrs.iter().any(|x| x.name == n) {
                        continue;
                    }
                    let dtype = if i == 0 { key_type } else { t };
                    attrs.push(Attribute { name: n, dtype });
                }
                let subspaces = if attrs.len() > 1 {
                    subs.into_iter()
                        .map(|picks| {
                            let mut v: Vec<usize> = Vec::new();
                            for p in picks {
                                let idx = p.index(attrs.len());
                                if !v.contains(&idx) {
                                    v.push(idx);
                                }
                            }
                            v
                        })
                        .collect()
                } else {
                    vec![]
                };
                SpaceDesc { name: space, attrs, subspaces, partitions, fault_tolerance: ft }
            })
    }

    proptest! {
        #[test]
        fn render_parse_round_trip(d in desc(), sep in proptest::sample::select(vec![" ", "\n", "\t", " \r\n  "])) {
            let text = render_space(&d).replace(' ', sep);
            let back = parse_space(&text);
            prop_assert_eq!(back.as_ref(), Ok(&d), "{}", text);
        }

        #[test]
        fn defaults_when_clauses_are_left_out(d in desc()) {
            let text = render_space(&d);
            let cut = text.find(" create ").unwrap();
            let back = parse_space(&text[..cut]).unwrap();
            prop_assert_eq!(back.partitions, 256);
            prop_assert_eq!(back.fault_tolerance, 2);
            prop_assert_eq!(back.attrs, d.attrs);
        }

        #[test]
        fn token_soup_never_panics(words in proptest::collection::vec(
            proptest::sample::select(vec![
                "space", "key", "attributes", "attribute", "subspace", "create", "partitions",
                "partition", "tolerate", "failures", "failure", "string", "int", "int64", "float",
                "list", "set", "map", "(", ")", ",", ":", "0", "1", "8", "18446744073709551616",
                "a", "b", "k", "\n", "é", "-", "",
            ]), 0..20)) {
            let _ = parse_space(&words.join(" "));
            let _ = parse_space(&words.concat());
        }

        #[test]
        fn random_text_never_panics(s in ".{0,60}") {
            let _ = parse_space(&s);
        }
    }
}
