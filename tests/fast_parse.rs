//! The hand-written fast parser (`src/syntax/fast.rs`) builds exactly what pest and its
//! lowering build, spans included, or leaves the item to pest: compared on every bot file of
//! the repository, on CRLF and commented variants of them, and on thousands of mutated files.
//! On files without syntax errors, every item must come from the fast parser.

use proptest::prelude::*;
use scenarist::syntax::{parse_with, Engine, ParseStats};

/// Every `.scn` file of the repository: the examples, the fixtures and the benchmark bots.
fn corpus() -> Vec<(String, String)> {
    let root = env!("CARGO_MANIFEST_DIR");
    let mut out = Vec::new();
    for dir in ["scenarios", "tests/fixtures", "bench"] {
        for entry in walkdir::WalkDir::new(format!("{root}/{dir}")).sort_by_file_name() {
            let entry = entry.expect("readable directory");
            if entry.path().extension().is_some_and(|x| x == "scn") {
                // Some fixtures are invalid UTF-8 on purpose; the parser never sees those.
                if let Ok(text) = std::fs::read_to_string(entry.path()) {
                    out.push((entry.path().display().to_string(), text));
                }
            }
        }
    }
    assert!(out.len() >= 40, "the corpus is missing files");
    out
}

/// The tree and diagnostics, with every span, as text.
fn parsed(text: &str, engine: Engine) -> (String, bool, ParseStats) {
    let (file, diags, stats) = parse_with(0, text, engine);
    (format!("{file:#?}\n{diags:#?}"), diags.is_empty(), stats)
}

/// Fails with the first line where the two parsers differ.
fn assert_same(name: &str, text: &str) -> (bool, ParseStats) {
    let (fast, clean, stats) = parsed(text, Engine::Fast);
    let (reference, _, _) = parsed(text, Engine::Reference);
    if fast != reference {
        let line = fast
            .lines()
            .zip(reference.lines())
            .position(|(a, b)| a != b)
            .unwrap_or(0);
        let around = |s: &str| {
            s.lines()
                .skip(line.saturating_sub(12))
                .take(16)
                .collect::<Vec<_>>()
                .join("\n")
        };
        panic!(
            "{name}: the fast parser differs from pest at line {line} of the dump\n--- fast\n{}\n--- pest\n{}\n--- input\n{text:?}",
            around(&fast),
            around(&reference)
        );
    }
    (clean, stats)
}

#[test]
fn same_trees_on_every_file_and_all_fast_when_clean() {
    let mut fast_items = 0;
    for (name, text) in corpus() {
        let variants = [
            text.clone(),
            text.replace('\n', "\r\n"),
            text.replace('\n', "  # trailing comment\n"),
            text.replace('\n', " \\\n"),
            text.replace("  ", "\t"),
            format!("\u{FEFF}{text}"),
        ];
        for (i, variant) in variants.iter().enumerate() {
            let (clean, stats) = assert_same(&format!("{name} (variant {i})"), variant);
            // Variant 3 joins all lines into one: pest accepts it only because it parses each
            // item in a window that ends at the next item's line (see `parser::parse_item`).
            if clean && i != 3 {
                assert_eq!(
                    stats.pest_items, 0,
                    "{name} (variant {i}) has no syntax error, yet pest built {} of its items",
                    stats.pest_items
                );
            }
            if i == 0 {
                fast_items += stats.fast_items;
            }
        }
    }
    assert!(
        fast_items > 300,
        "only {fast_items} items went the fast way"
    );
}

#[test]
fn the_tricky_fixture_and_the_generated_bot_are_fast_and_clean() {
    for name in ["tricky.scn", "generated.scn"] {
        let path = format!("{}/tests/fixtures/parse/{name}", env!("CARGO_MANIFEST_DIR"));
        let text = std::fs::read_to_string(&path).expect("fixture");
        let (clean, stats) = assert_same(name, &text);
        assert!(clean, "{name} has syntax errors");
        assert_eq!(stats.pest_items, 0, "{name}");
        assert!(stats.fast_items >= 10, "{name}: {stats:?}");
    }
}

#[test]
fn problems_the_lowering_reports_leave_the_item_to_pest() {
    let cases = [
        "block a {\n  say \"bad \\q escape\"\n}\n",
        "block a {\n  http FETCH \"https://x.example.com\"\n}\n",
        "block a {\n  http GET \"https://x.example.com\" { timeout 5 }\n}\n",
        "block a {\n  http GET \"https://x.example.com\" { timeout 5s; timeout 6s }\n}\n",
        "block a {\n  http GET \"https://x.example.com\" { json 1\n form 2 }\n}\n",
        "block a {\n  http GET \"https://x.example.com\" { redirects 101 }\n}\n",
        "block a {\n  extract colour from %m% -> %c% else goto a\n}\n",
        "block a {\n  wait timeout 5s goto a\n}\n",
        "block a {\n  schedule 5s goto a\n}\n",
        "block a {\n  match %x% { else => end\n else => end }\n}\n",
        "block a {\n  say \"{{ 1 + }}\"\n}\n",
        "block a {\n  say \"{{ unclosed\"\n}\n",
        "on message \"hi %name%\" goto a\nblock a { end }\n",
        "user %a.b% = 1\n",
        "block a { end }\nscenario \"late\"\n",
        &format!("block a {{\n  set %x% = {}1\n}}\n", "-".repeat(120)),
        &format!("block a {{\n  set %x% = 1{}\n}}\n", " + 1".repeat(120)),
        &format!("block a {{\n  set %x% = %y%{}\n}}\n", ".k".repeat(120)),
        &format!("block a {{\n  set %x% = %y%{}\n}}\n", " | f".repeat(120)),
        &format!(
            "block a {{\n  set %x% = {}1{}\n}}\n",
            "[".repeat(70),
            "]".repeat(70)
        ),
        &format!(
            "block a {{\n  say \"{{{{ {}1{} }}}}\"\n}}\n",
            "(".repeat(70),
            ")".repeat(70)
        ),
    ];
    for text in cases {
        let (clean, stats) = assert_same(text, text);
        assert!(!clean, "expected a diagnostic for {text:?}");
        // The item with the problem went to pest (or, nested too deeply, to neither).
        assert!(
            stats.pest_items >= 1 || stats.fast_items == 0,
            "{text:?}: {stats:?}"
        );
    }
}

/// A line holding only a `\` continuation between two items once ended the file there,
/// silently: the blank window pest was given read as the end of the input.
#[test]
fn a_lone_line_continuation_between_items_does_not_end_the_file() {
    for text in [
        "block a { end }\n \\\nblock b { end }\n",
        "block a { end }\n\\\r\nblock b { end }\n",
    ] {
        for engine in [Engine::Fast, Engine::Reference] {
            let (file, diags, _) = parse_with(0, text, engine);
            assert!(diags.is_empty(), "{text:?}: {diags:?}");
            assert_eq!(file.blocks.len(), 2, "{text:?} with {engine:?}");
        }
    }
}

/// Tokens of the language and the characters that trip lexers.
const PIECES: &[&str] = &[
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
    ",",
    ":",
    ".",
    " ",
    "\t",
    "\r\n",
    "\\\n",
    " if ",
    " else ",
    "elif ",
    "not ",
    " in ",
    " not in ",
    "like ",
    "matches ",
    " | f()",
    " | g",
    "x => x",
    "(a, b) => a",
    "%a.b.0%",
    "{{ %x% }}",
    "1",
    "-1",
    "2.5",
    "1e3",
    "true",
    "null",
    "\u{FEFF}",
    "block ",
    "on ",
    "goto ",
    "say ",
    "set ",
    "= ",
    "+= ",
    "wait",
    "wait -> %w%",
    "http GET ",
    "header A: \"b\"",
    "query q: 1",
    "json {}",
    "form {}",
    "text \"t\"",
    "timeout 5s",
    "redirects 2",
    "body -> %b%",
    "on error goto x",
    "match ",
    "else => ",
    "end",
    "return",
    "extract number from ",
    "button \"b\"",
    "link \"l\" \"u\"",
    "é",
    "ё",
    "😀",
    "\0",
];

#[derive(Debug, Clone)]
enum Mutation {
    Delete(usize, usize),
    Insert(usize, usize),
    Duplicate(usize, usize, usize),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<usize>(), 1usize..24).prop_map(|(a, n)| Mutation::Delete(a, n)),
        (any::<usize>(), 0..PIECES.len()).prop_map(|(a, i)| Mutation::Insert(a, i)),
        (any::<usize>(), 1usize..120, any::<usize>())
            .prop_map(|(a, n, b)| Mutation::Duplicate(a, n, b)),
    ]
}

/// Applies the mutations at character boundaries, so the text stays UTF-8.
fn apply(text: &str, mutations: &[Mutation]) -> String {
    let mut s = text.to_string();
    let boundary = |s: &str, at: usize| {
        let mut at = at % (s.len() + 1);
        while !s.is_char_boundary(at) {
            at -= 1;
        }
        at
    };
    for m in mutations {
        match m {
            Mutation::Delete(a, n) => {
                let a = boundary(&s, *a);
                let b = boundary(&s, (a + n).min(s.len()));
                s.replace_range(a..b.max(a), "");
            }
            Mutation::Insert(a, i) => {
                let a = boundary(&s, *a);
                s.insert_str(a, PIECES[*i]);
            }
            Mutation::Duplicate(a, n, to) => {
                let a = boundary(&s, *a);
                let b = boundary(&s, (a + n).min(s.len())).max(a);
                let piece = s[a..b].to_string();
                let to = boundary(&s, *to);
                s.insert_str(to, &piece);
            }
        }
    }
    s
}

proptest! {
    // FAST_PARSE_CASES=50000 for a longer hunt than CI's. Seeds are not saved: they pick a
    // file by its index in the corpus, which changes as files are added; a difference found
    // becomes a file in tests/fixtures/parse/ instead (prescan_desync.scn is one).
    #![proptest_config(ProptestConfig {
        cases: std::env::var("FAST_PARSE_CASES").ok().and_then(|n| n.parse().ok()).unwrap_or(1500),
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn same_trees_on_mutated_files(
        which in any::<usize>(),
        mutations in proptest::collection::vec(mutation(), 1..6),
    ) {
        let files = corpus();
        let (name, text) = &files[which % files.len()];
        let mutated = apply(text, &mutations);
        assert_same(name, &mutated);
    }
}
