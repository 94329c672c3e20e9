//! The key-operation table (src/client/optable.rs) is the one list of key operations: the C
//! shims and the `KeyOp` constants are generated from it. This test checks the other places
//! that must agree with it: the committed header declares every row with the parameters of
//! its shape, the shared library exports it, and the Python module binds it (a ctypes
//! signature with that many parameters) and offers `name` and `async_name` methods.

use std::path::Path;
use std::process::Command;

use hyperclient::client::optable::{Shape, KEY_OPS};

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// Every (C name, parameter types) the table defines, plain and conditional forms.
fn functions() -> Vec<(String, Vec<&'static str>)> {
    let mut out = Vec::new();
    for op in KEY_OPS {
        let head = vec!["struct hyperclient *", "const char *", "const char *", "size_t"];
        let shape: Vec<&str> = match op.shape {
            Shape::Attrs => vec!["const struct hyperclient_attribute *", "size_t"],
            Shape::Maps => vec!["const struct hyperclient_map_attribute *", "size_t"],
            Shape::None => vec![],
        };
        let status = "enum hyperclient_returncode *";
        let mut plain = head.clone();
        plain.extend(&shape);
        plain.push(status);
        out.push((op.name.to_string(), plain));
        if let Some((cname, _, _)) = op.cond {
            let mut cond = head;
            cond.extend(["const struct hyperclient_attribute_check *", "size_t"]);
            cond.extend(&shape);
            cond.push(status);
            out.push((cname.to_string(), cond));
        }
    }
    out
}

/// The parameter types of `name`'s declaration in the header (names dropped).
fn declared(header: &str, name: &str) -> Option<Vec<String>> {
    let start = header.find(&format!("int64_t {name}("))?;
    let rest = &header[start + name.len() + 9..];
    let params = &rest[..rest.find(");")?];
    Some(
        params
            .split(',')
            .map(|p| {
                let p = p.split_whitespace().collect::<Vec<_>>().join(" ");
                // Drop the parameter name, keep the type (and its `*`).
                let cut = p.rfind(['*', ' ']).unwrap_or(p.len());
                let ty = if p.as_bytes().get(cut) == Some(&b'*') { &p[..=cut] } else { &p[..cut] };
                ty.trim().to_string()
            })
            .collect(),
    )
}

#[test]
fn the_header_declares_every_row_with_its_shape() {
    let header = std::fs::read_to_string(root().join("include/hyperclient.h")).unwrap();
    let fns = functions();
    assert_eq!(fns.len(), 61);
    for (name, params) in &fns {
        let got = declared(&header, name).unwrap_or_else(|| panic!("{name} is not declared"));
        assert_eq!(got, *params, "{name}");
    }
    // And nothing else of that kind: every int64_t function is a row, get, loop or a search.
    let others = ["hyperclient_get", "hyperclient_loop", "hyperclient_search", "hyperclient_sorted_search"];
    let others = [&others[..], &["hyperclient_count", "hyperclient_group_del", "hyperclient_search_describe"]].concat();
    for line in header.lines().filter(|l| l.starts_with("int64_t hyperclient_")) {
        let name = &line[8..line.find('(').unwrap()];
        assert!(fns.iter().any(|f| f.0 == name) || others.contains(&name), "{name} is not in the table");
    }
}

#[test]
fn the_library_exports_every_row() {
    let lib = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("target")
        .join(if cfg!(debug_assertions) { "debug" } else { "release" })
        .join("libhyperclient.so");
    let lib = std::env::var("HYPERCLIENT_SO").map(std::path::PathBuf::from).unwrap_or(lib);
    if !lib.exists() {
        // The integration script checks the installed library's symbols; cargo test builds
        // the .so next to this test only for the profile it runs.
        eprintln!("skipping: {} not built", lib.display());
        return;
    }
    let out = Command::new("nm").args(["-D", "--defined-only"]).arg(&lib).output().expect("nm");
    let syms = String::from_utf8_lossy(&out.stdout);
    for (name, _) in functions() {
        assert!(syms.lines().any(|l| l.ends_with(&format!(" T {name}"))), "{name} not exported");
    }
}

#[test]
fn the_python_module_binds_every_row() {
    let script = r#"
import sys, hyperclient, hyperclient._lib as L
for name in sys.stdin.read().split():
    c, n = name.split(':')
    sig = L.SIGNATURES.get(c)
    if sig is None:
        print('no ctypes signature for', c); continue
    if len(sig[1]) != int(n):
        print(c, 'takes', len(sig[1]), 'arguments in Python, not', n)
    py = c[len('hyperclient_'):].replace('cond_del', 'cond_delete')
    py = 'delete' if py == 'del' else py
    for m in (py, 'async_' + py):
        if not callable(getattr(hyperclient.Client, m, None)):
            print('hyperclient.Client has no method', m)
"#;
    let input: String = functions().iter().map(|(n, p)| format!("{n}:{} ", p.len())).collect();
    let mut child = Command::new("python3")
        .arg("-c")
        .arg(script)
        .env("PYTHONPATH", root().join("python"))
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("python3");
    use std::io::Write;
    child.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let problems = String::from_utf8_lossy(&out.stdout);
    assert!(problems.trim().is_empty(), "the Python module disagrees with the table:\n{problems}");
}
