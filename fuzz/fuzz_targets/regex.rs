//! The REGEX predicate's matcher, `ops::regex_match` (HyperDex's own dialect, spec/search.md
//! §1.1), on a pattern and a text from the input (`hyperdex_fuzz::regex_input`: pattern of at
//! most 64 bytes, text of at most 4096). The matcher must run in O(pattern × text) time:
//! libFuzzer's -timeout catches a stall.
//!
//! Properties: nothing panics; on small inputs (text of at most 64 bytes, at most 4 stars) it
//! agrees with the reference below, the spec read literally as recursive backtracking (given
//! a step budget, so it cannot run away); on any input, an escaped piece of the text is found
//! in it (anchored too, at its start or end), adding `^` never makes a pattern match more,
//! and a pattern anchored at neither end that matches a text matches it with bytes around it.
#![no_main]

use hyperdex_core::ops::regex_match;
use hyperdex_fuzz::regex_input;
use libfuzzer_sys::fuzz_target;

#[global_allocator]
static ALLOC: hyperdex_fuzz::BudgetAlloc = hyperdex_fuzz::BudgetAlloc;

/// Most calls of [`here`] one reference match may make.
const FUEL: u32 = 200_000;

/// Spec §1.1 as recursive backtracking: a leading `^` anchors at the start, else a match may
/// start anywhere (the end included). None when it ran out of fuel.
fn reference(pattern: &[u8], text: &[u8]) -> Option<bool> {
    let mut fuel = FUEL;
    if let Some(rest) = pattern.strip_prefix(b"^") {
        return here(rest, text, &mut fuel);
    }
    for start in 0..=text.len() {
        if here(pattern, &text[start..], &mut fuel)? {
            return Some(true);
        }
    }
    Some(false)
}

/// Whether `p` matches a prefix of `t`.
fn here(p: &[u8], t: &[u8], fuel: &mut u32) -> Option<bool> {
    *fuel = fuel.checked_sub(1)?;
    if p.is_empty() {
        return Some(true);
    }
    // `$` as the pattern's last character: the end of the text only.
    if p == b"$" {
        return Some(t.is_empty());
    }
    // One atom: `\x` (the byte x; a lone `\` at the end never matches), `.` (any byte), or
    // a byte standing for itself.
    let (atom, rest) = match p {
        [b'\\', x, rest @ ..] => (Some(*x), rest),
        [b'\\'] => return Some(false),
        [b'.', rest @ ..] => (None, rest),
        [c, rest @ ..] => (Some(*c), rest),
        [] => unreachable!(),
    };
    let fits = |c: &u8| atom.is_none_or(|a| a == *c);
    if let Some(after) = rest.strip_prefix(b"*") {
        // Zero, one, two ... repetitions, while the text allows.
        let mut i = 0;
        loop {
            if here(after, &t[i..], fuel)? {
                return Some(true);
            }
            if t.get(i).is_some_and(fits) {
                i += 1;
            } else {
                return Some(false);
            }
        }
    }
    match t.split_first() {
        Some((c, t)) if fits(c) => here(rest, t, fuel),
        _ => Some(false),
    }
}

/// A pattern that matches exactly the bytes of `lit`.
fn escaped(lit: &[u8]) -> Vec<u8> {
    lit.iter().flat_map(|&b| [b'\\', b]).collect()
}

fuzz_target!(|data: &[u8]| {
    let _budget = hyperdex_fuzz::alloc_budget(data.len());
    let Some((pattern, text)) = regex_input::split(data) else { return };
    let got = regex_match(pattern, text);

    let stars = pattern.iter().filter(|&&b| b == b'*').count();
    if text.len() <= 64 && stars <= 4 {
        if let Some(want) = reference(pattern, text) {
            assert_eq!(got, want, "regex_match({:?}, {:?})", pattern.escape_ascii(), text.escape_ascii());
        }
    }

    // Pieces of the text, escaped, are found in it.
    let n = text.len().min(16);
    let (head, tail) = (&text[..n], &text[text.len() - n..]);
    assert!(regex_match(&escaped(head), text), "{:?} not found in itself", head.escape_ascii());
    assert!(regex_match(&[&b"^"[..], &escaped(head)].concat(), text), "{:?} not at the start", head.escape_ascii());
    assert!(regex_match(&[&escaped(tail), &b"$"[..]].concat(), text), "{:?} not at the end", tail.escape_ascii());
    if text.len() <= 16 {
        let exact = [&b"^"[..], &escaped(text), b"$"].concat();
        assert!(regex_match(&exact, text));
        let mut longer = text.to_vec();
        longer.push(b'x');
        assert!(!regex_match(&exact, &longer), "{:?} matched a longer text", exact.escape_ascii());
    }

    // Anchoring narrows.
    if pattern.first() != Some(&b'^') && pattern.len() < regex_input::MAX_PATTERN {
        let anchored = [&b"^"[..], pattern].concat();
        assert!(!regex_match(&anchored, text) || got, "{:?} matches but not unanchored", anchored.escape_ascii());
    }
    // Unanchored at both ends: more text around a match still matches.
    if got && pattern.first() != Some(&b'^') && pattern.last() != Some(&b'$') {
        let wider = [&b"\n"[..], text, b"\x00"].concat();
        assert!(regex_match(pattern, &wider), "{:?} stopped matching with bytes around", pattern.escape_ascii());
    }
});
