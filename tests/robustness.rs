//! Bad input never crashes or hangs the front end: mutated example bots (proptest), random
//! bytes, invalid UTF-8, pathological nesting and a 50 MB file all end in diagnostics or a
//! clean pass.

use std::time::{Duration, Instant};

use proptest::prelude::*;
use scenarist::{compile, SourceFile, Sources};

/// Every example bot file, as (name, text).
fn examples() -> Vec<(String, String)> {
    let mut out = Vec::new();
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/scenarios");
    for entry in walkdir::WalkDir::new(root).sort_by_file_name() {
        let entry = entry.expect("readable scenarios/");
        if entry.path().extension().is_some_and(|x| x == "scn") {
            let text = std::fs::read_to_string(entry.path()).expect("UTF-8 example");
            out.push((entry.path().display().to_string(), text));
        }
    }
    assert!(out.len() >= 5, "the examples are missing");
    out
}

/// Compiles `bytes` as a one-file bot; fails the test if it panics or takes too long.
fn survives(bytes: Vec<u8>) {
    let started = Instant::now();
    let sources = Sources {
        files: vec![SourceFile::new("fuzz.scn", bytes)],
    };
    let result = std::panic::catch_unwind(|| {
        let _ = compile(&sources);
    });
    assert!(result.is_ok(), "compile panicked");
    // A guard against hangs and quadratic blow-ups (27 000 errors once took 536 s), not a
    // speed test: a debug build on a shared, loaded 2-core machine takes up to ~40 s here.
    assert!(
        started.elapsed() < Duration::from_secs(120),
        "compile took {:?}",
        started.elapsed()
    );
}

/// Fragments that stress the lexer and the template scanner.
const NASTY: &[&str] = &[
    "%",
    "%%",
    "{{",
    "}}",
    "{",
    "}",
    "(",
    ")",
    "[",
    "]",
    "\"",
    "'",
    "\"\"\"",
    "/",
    "\\",
    "\n",
    ";",
    "#",
    "=>",
    "->",
    "::",
    " if ",
    " else ",
    "not ",
    "%a.b.0%",
    "{{ %x% }}",
    "\u{FEFF}",
    "\r\n",
    "block ",
    "on ",
    "goto ",
    "http GET ",
    "é",
    "ё",
    "😀",
    "\0",
    "\t",
];

#[derive(Debug, Clone)]
enum Mutation {
    Delete(usize, usize),
    Insert(usize, usize),
    Duplicate(usize, usize, usize),
    Bytes(usize, Vec<u8>),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<usize>(), 0usize..64).prop_map(|(a, n)| Mutation::Delete(a, n)),
        (any::<usize>(), 0..NASTY.len()).prop_map(|(a, i)| Mutation::Insert(a, i)),
        (any::<usize>(), 0usize..200, any::<usize>())
            .prop_map(|(a, n, b)| Mutation::Duplicate(a, n, b)),
        (any::<usize>(), proptest::collection::vec(any::<u8>(), 1..8))
            .prop_map(|(a, b)| Mutation::Bytes(a, b)),
    ]
}

fn apply(mut bytes: Vec<u8>, mutations: &[Mutation]) -> Vec<u8> {
    for m in mutations {
        let len = bytes.len().max(1);
        match m {
            Mutation::Delete(a, n) => {
                let a = a % len;
                let b = (a + n).min(bytes.len());
                if a < b {
                    bytes.drain(a..b);
                }
            }
            Mutation::Insert(a, i) => {
                let a = a % (bytes.len() + 1);
                bytes.splice(a..a, NASTY[*i].bytes());
            }
            Mutation::Duplicate(a, n, to) => {
                let a = a % len;
                let b = (a + n).min(bytes.len());
                let piece: Vec<u8> = bytes.get(a..b).map(<[u8]>::to_vec).unwrap_or_default();
                let to = to % (bytes.len() + 1);
                bytes.splice(to..to, piece);
            }
            Mutation::Bytes(a, raw) => {
                let a = a % (bytes.len() + 1);
                bytes.splice(a..a, raw.iter().copied());
            }
        }
    }
    bytes
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    #[test]
    fn mutated_examples_never_crash(
        which in any::<usize>(),
        mutations in proptest::collection::vec(mutation(), 1..12),
    ) {
        let files = examples();
        let (_, text) = &files[which % files.len()];
        survives(apply(text.clone().into_bytes(), &mutations));
    }

    #[test]
    fn random_bytes_never_crash(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
        survives(bytes);
    }

    #[test]
    fn random_token_soup_never_crashes(tokens in proptest::collection::vec(0..NASTY.len(), 0..300)) {
        let text: String = tokens.iter().map(|i| NASTY[*i]).collect();
        survives(format!("block b {{\n  say \"{text}\"\n  set %x% = {text}\n}}\n{text}").into_bytes());
    }
}

#[test]
fn pathological_nesting_is_reported_not_crashed() {
    for (open, close) in [("(", ")"), ("[", "]"), ("{", "}"), ("{{ ", " }}")] {
        let n = 200_000;
        let text = format!(
            "block b {{\n  set %x% = {}1{}\n}}\n",
            open.repeat(n),
            close.repeat(n)
        );
        survives(text.into_bytes());
        let text = format!("block b {{\n  say \"{}\"\n}}\n", open.repeat(n));
        survives(text.into_bytes());
    }
    for op in [
        "-",
        "not ",
        "1 ** ",
        "1 + ",
        "x => ",
        "%a% | f() | ",
        "1 if 1 else ",
    ] {
        let text = format!("block b {{\n  set %x% = {}1\n}}\n", op.repeat(100_000));
        survives(text.into_bytes());
    }
    let blocks = "block b {\n  if 1 {\n".repeat(50_000);
    survives(blocks.into_bytes());
    let postfix = format!("block b {{\n  set %x% = %a%{}\n}}\n", ".k".repeat(100_000));
    survives(postfix.into_bytes());
}

#[test]
fn fifty_megabytes_of_noise_is_handled() {
    let piece = "say \"%}{{\" ( ] %x% }} block ";
    let one_line = format!("block b {{ {}", piece.repeat((50 << 20) / piece.len()));
    survives(one_line.into_bytes());
    survives(vec![0xff; 50 << 20]);
    // Dense errors: every line a broken block (hundreds of thousands of diagnostics).
    let line = "block b { say \"%}{{\" ( ] %x% }}\n";
    survives(line.repeat((4 << 20) / line.len()).into_bytes());
}

/// Messages a user might send, buttons included, and some that try to break things.
const MESSAGES: &[&str] = &[
    "hi",
    "/start promo",
    "/help",
    "yes",
    "no",
    "да",
    "Let's go!",
    "Mercury",
    "Jupiter",
    "Track an order",
    "Delivery",
    "Leave a request",
    "Записаться",
    "104233",
    "0",
    "-1",
    "2,5",
    "+7 (900) 123-45-67",
    "ann@example.com",
    "28.11.2026",
    "%token%",
    "{{ 1/0 }}",
    "%%",
    "",
    "   ",
    "😀",
    "stop",
    "/stop",
    "/quiz",
    "/score",
    "Talk to a human",
    "Back to menu",
];

proptest! {
    #![proptest_config(ProptestConfig { cases: 60, ..ProptestConfig::default() })]

    /// Every example bot, any sequence of messages: each turn ends with exactly one `wait` or
    /// `end`, nothing panics, and the session always serializes.
    #[test]
    fn example_bots_survive_any_conversation(
        which in any::<usize>(),
        picks in proptest::collection::vec((0..MESSAGES.len(), any::<u16>()), 1..25),
    ) {
        use scenarist::eval::{Options, Runtime};
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios");
        let mut bots: Vec<_> = std::fs::read_dir(&root).expect("scenarios/").flatten().map(|e| e.path()).collect();
        bots.sort();
        let path = &bots[which % bots.len()];
        let sources = Sources::load(std::slice::from_ref(path)).expect("loads");
        let program = compile(&sources).expect("examples compile");
        let rt = Runtime::new(program, sources, Options::default());
        let mut session = rt.new_session("fuzz", "Fuzz");
        let mut globals = rt.new_globals();
        let tokio = tokio::runtime::Builder::new_current_thread().build().expect("runtime");
        for (i, noise) in picks {
            let mut text = MESSAGES[i].to_string();
            if noise % 7 == 0 {
                text.push_str(&"x".repeat(usize::from(noise % 300)));
            }
            let offline = scenarist::http::Offline("no network in this test".into());
            let events = tokio.block_on(rt.turn(&mut session, &mut globals, &text, &offline));
            prop_assert_eq!(events.iter().filter(|e| e.ends_turn()).count(), 1);
            prop_assert!(events.last().is_some_and(|e| e.ends_turn()));
        }
        prop_assert!(serde_json::to_string(&session).is_ok());
    }
}
