//! `scenarist graph`: golden outputs (Mermaid and DOT) of every example bot in `scenarios/` and
//! of every case under `tests/fixtures/graph/`; every DOT output fed to the real Graphviz `dot`;
//! every block and edge of the syntax trees found in both outputs (computed here from the AST,
//! not from the graph module's edge list); the command line's contract.
//!
//! Goldens are `tests/fixtures/graph/<case>.mmd` and `<case>.dot`, the case being an example's
//! directory name or a fixture's file or directory name. Bless them with
//!
//! ```text
//! BLESS=1 cargo test --test graph
//! ```
//!
//! and read the diff before committing it. The Graphviz tests need `dot` (`.ci/run` installs it).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use regex::Regex;
use scenarist::syntax::ast::{ButtonKind, SayItem, Stmt, StmtKind, Target};
use scenarist::{Code, Program, Sources};

/// Goldens and the graph-only cases, relative to the crate root.
const DIR: &str = "tests/fixtures/graph";

struct Case {
    name: String,
    /// A `.scn` file or a directory, relative to the crate root.
    input: PathBuf,
}

/// The crate root, made the working directory so relative paths mean the same everywhere.
fn root() -> &'static Path {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    std::env::set_current_dir(root).expect("cannot enter the crate root");
    root
}

/// The `.scn` files and directories of `dir`, sorted, named by file stem or directory name.
fn cases_in(dir: &str, keep: impl Fn(&str) -> bool) -> Vec<Case> {
    let mut cases = Vec::new();
    for entry in std::fs::read_dir(root().join(dir)).unwrap_or_else(|e| panic!("{dir}: {e}")) {
        let path = entry.expect("cannot read a directory entry").path();
        let Some(file_name) = path.file_name().and_then(|n| n.to_str()) else {
            continue;
        };
        let name = if path.is_dir() {
            file_name.to_string()
        } else if let Some(stem) = file_name.strip_suffix(".scn") {
            stem.to_string()
        } else {
            continue;
        };
        if keep(&name) {
            cases.push(Case {
                input: Path::new(dir).join(file_name),
                name,
            });
        }
    }
    cases.sort_by(|a, b| a.name.cmp(&b.name));
    cases
}

/// Every example bot and every graph fixture: the cases with goldens.
fn golden_cases() -> Vec<Case> {
    let mut cases = cases_in("scenarios", |_| true);
    cases.extend(cases_in(DIR, |_| true));
    assert!(
        cases.len() >= 7,
        "expected the 5 example bots and the graph fixtures"
    );
    cases
}

/// The golden cases plus every `check` fixture that compiles: more shapes for the tests that
/// need no golden file.
fn all_cases() -> Vec<Case> {
    let mut cases = golden_cases();
    for mut case in cases_in("tests/fixtures/check", |n| {
        n.starts_with("ok_") || n.starts_with("warn_")
    }) {
        case.name = format!("check/{}", case.name);
        cases.push(case);
    }
    cases
}

fn compile(case: &Case) -> (Sources, Program) {
    let sources = Sources::load(std::slice::from_ref(&case.input))
        .unwrap_or_else(|e| panic!("{}: {e}", case.name));
    match scenarist::compile(&sources) {
        Ok(program) => (sources, program),
        Err(diagnostics) => panic!("{}: does not compile: {diagnostics:?}", case.name),
    }
}

fn graph_of(case: &Case) -> (Sources, Program, scenarist::graph::Graph) {
    let (sources, program) = compile(case);
    let graph = scenarist::graph::build(&program, &sources);
    (sources, program, graph)
}

fn bless() -> bool {
    std::env::var_os("BLESS").is_some_and(|v| !v.is_empty() && v != "0")
}

fn diff(expected: &str, actual: &str) -> String {
    similar::TextDiff::from_lines(expected, actual)
        .unified_diff()
        .context_radius(3)
        .header("expected", "actual")
        .to_string()
}

// ---------------------------------------------------------------------------------- goldens

#[test]
fn goldens() {
    let bless = bless();
    let cases = golden_cases();
    let mut failures = String::new();
    for case in &cases {
        let (_, _, graph) = graph_of(case);
        for (ext, actual) in [
            ("mmd", scenarist::graph::mermaid(&graph)),
            ("dot", scenarist::graph::dot(&graph)),
        ] {
            let path = root().join(DIR).join(format!("{}.{ext}", case.name));
            let expected = std::fs::read_to_string(&path).ok();
            if expected.as_deref() == Some(actual.as_str()) {
                continue;
            }
            if bless {
                std::fs::write(&path, &actual)
                    .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
                eprintln!("blessed {}", path.display());
            } else if let Some(expected) = expected {
                let _ = writeln!(
                    failures,
                    "── {}.{ext}: output differs\n{}",
                    case.name,
                    diff(&expected, &actual)
                );
            } else {
                let _ = writeln!(
                    failures,
                    "── {}: no {}.{ext} yet; got:\n{actual}",
                    case.name, case.name
                );
            }
        }
    }
    // A golden whose case is gone would go on passing unnoticed.
    for entry in std::fs::read_dir(root().join(DIR)).expect("cannot read the graph fixtures") {
        let path = entry.expect("cannot read a fixture entry").path();
        let Some(file_name) = path.file_name().and_then(|n| n.to_str()) else {
            continue;
        };
        let stem = file_name
            .strip_suffix(".mmd")
            .or_else(|| file_name.strip_suffix(".dot"));
        if let Some(stem) = stem {
            if !cases.iter().any(|c| c.name == stem) {
                let _ = writeln!(failures, "── {file_name} has no example bot or fixture");
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{failures}\ngraph goldens failed; if the new output is right: BLESS=1 cargo test --test graph"
    );
}

#[test]
fn output_is_deterministic() {
    for case in golden_cases() {
        let (_, _, first) = graph_of(&case);
        let (_, _, second) = graph_of(&case);
        assert_eq!(first, second, "{}", case.name);
    }
}

// ---------------------------------------------------------------------------------- Graphviz

/// Runs Graphviz `dot` on `input`; a missing Graphviz fails the test with how to get it.
fn graphviz(args: &[&str], input: &str) -> Output {
    use std::io::Write;
    let mut child = Command::new("dot")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| {
            panic!(
                "cannot run Graphviz `dot` ({e}); these tests need it: \
                 `apt-get install graphviz` or `brew install graphviz` (.ci/run installs it)"
            )
        });
    let mut stdin = child.stdin.take().expect("stdin is piped");
    let input = input.to_string();
    let writer = std::thread::spawn(move || stdin.write_all(input.as_bytes()));
    let output = child
        .wait_with_output()
        .expect("Graphviz `dot` did not finish");
    writer
        .join()
        .expect("the writer thread panicked")
        .expect("cannot write to Graphviz `dot`");
    output
}

#[test]
fn graphviz_accepts_every_dot_output() {
    let mut failures = String::new();
    for case in all_cases() {
        let (_, _, graph) = graph_of(&case);
        let dot = scenarist::graph::dot(&graph);
        let output = graphviz(&["-Tsvg"], &dot);
        let stderr = String::from_utf8_lossy(&output.stderr);
        // Graphviz recovers from some mistakes with only a warning: any message fails too,
        // except those about the machine's fonts.
        let complaints = stderr
            .lines()
            .filter(|l| !l.trim().is_empty() && !l.to_lowercase().contains("font"))
            .filter(|l| !l.contains("width of non-ASCII character"))
            .count();
        if !output.status.success() || complaints > 0 || output.stdout.is_empty() {
            let _ = writeln!(
                failures,
                "── {}: dot {} said:\n{stderr}\n{dot}",
                case.name, output.status
            );
        }
    }
    assert!(failures.is_empty(), "{failures}");
}

/// Every text Graphviz draws, read back from its SVG, is exactly a label of the graph: the
/// escaping survives quotes, backslashes, entities, markup, pipes and Cyrillic.
#[test]
fn graphviz_draws_labels_as_written() {
    for name in ["nasty_labels", "cross_files", "booking"] {
        let case = golden_cases()
            .into_iter()
            .find(|c| c.name == name)
            .unwrap_or_else(|| panic!("no case {name}"));
        let (_, _, graph) = graph_of(&case);
        let output = graphviz(&["-Tsvg"], &scenarist::graph::dot(&graph));
        assert!(output.status.success(), "{name}: dot failed");
        let svg = String::from_utf8(output.stdout).expect("SVG is UTF-8");
        assert_eq!(
            drawn_texts(&svg),
            labels(&graph),
            "{name}: what Graphviz drew ≠ the labels"
        );
    }
}

/// The picture in the README shows what the tool draws today (compared by its texts: the
/// layout itself depends on the Graphviz version). After a change, regenerate it with
/// `scenarist graph --format svg -o docs/img/quiz.svg scenarios/quiz`.
#[test]
fn readme_picture_is_current() {
    let case = golden_cases()
        .into_iter()
        .find(|c| c.name == "quiz")
        .expect("the quiz example");
    let (_, _, graph) = graph_of(&case);
    let svg = std::fs::read_to_string(root().join("docs/img/quiz.svg")).expect("docs/img/quiz.svg");
    assert_eq!(
        drawn_texts(&svg),
        labels(&graph),
        "docs/img/quiz.svg is stale: scenarist graph --format svg -o docs/img/quiz.svg scenarios/quiz"
    );
}

/// The texts of an SVG written by Graphviz, unescaped.
fn drawn_texts(svg: &str) -> BTreeSet<String> {
    let text_element = Regex::new(r"<text[^>]*>([^<]*)</text>").expect("valid regex");
    text_element
        .captures_iter(svg)
        .map(|c| xml_unescape(&c[1]))
        .collect()
}

/// Every line of text the graph asks to draw.
fn labels(graph: &scenarist::graph::Graph) -> BTreeSet<String> {
    let mut labels = BTreeSet::new();
    for cluster in &graph.clusters {
        labels.insert(cluster.label());
        labels.extend(cluster.entries.iter().map(|e| e.label.clone()));
        for node in &cluster.blocks {
            let mark = if node.unreachable {
                " (unreachable)"
            } else {
                ""
            };
            labels.insert(format!("{}{mark}", node.name));
            labels.extend(node.summary.clone());
        }
    }
    labels.extend(
        graph
            .edges
            .iter()
            .filter(|e| !e.label.is_empty())
            .map(|e| e.label.clone()),
    );
    labels
}

/// Undoes XML escaping: the five named entities and numeric references, in one pass.
fn xml_unescape(text: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(at) = rest.find('&') {
        out.push_str(&rest[..at]);
        rest = &rest[at..];
        let end = rest.find(';').expect("an entity ends with `;`");
        let entity = &rest[1..end];
        let c = match entity {
            "lt" => '<',
            "gt" => '>',
            "amp" => '&',
            "quot" => '"',
            "apos" => '\'',
            _ => {
                let code = match entity.strip_prefix("#x") {
                    Some(hex) => u32::from_str_radix(hex, 16),
                    None => entity
                        .strip_prefix('#')
                        .expect("a numeric entity")
                        .parse::<u32>(),
                }
                .expect("a valid character reference");
                char::from_u32(code).expect("a valid character")
            }
        };
        out.push(c);
        rest = &rest[end + 1..];
    }
    out.push_str(rest);
    out
}

// ---------------------------------------------------------------------------------- coverage

/// A node as both sides can name it: `(file name, "block", name)` or `(file name, "trigger",
/// its position among the file's triggers)`.
type Key = (String, &'static str, String);

/// What the syntax trees say the graph must hold.
struct Expected {
    blocks: BTreeSet<Key>,
    /// `(from, to, kind)`, kinds named as the DOT `class` of an edge.
    edges: BTreeSet<(Key, Key, &'static str)>,
    /// Button edges and the label each must show.
    button_labels: Vec<(Key, Key, String)>,
    /// The blocks `check` warns are never reached.
    unreachable: BTreeSet<Key>,
}

fn file_name(path: &str) -> String {
    Path::new(path)
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

fn expected(sources: &Sources, program: &Program) -> Expected {
    let files: Vec<String> = sources.files.iter().map(|f| file_name(&f.name)).collect();
    let unique: BTreeSet<&String> = files.iter().collect();
    assert_eq!(
        unique.len(),
        files.len(),
        "file names must differ: {files:?}"
    );
    let by_id: HashMap<&str, &String> = sources
        .files
        .iter()
        .zip(&files)
        .map(|(f, name)| (f.id.as_str(), name))
        .collect();
    let block = |file: &str, name: &str| (file.to_string(), "block", name.to_string());
    let resolve = |file: &str, target: &Target| -> Key {
        let file = match &target.scenario {
            Some(id) => by_id[id.name.as_str()].as_str(),
            None => file,
        };
        block(file, &target.block.name)
    };
    let mut out = Expected {
        blocks: BTreeSet::new(),
        edges: BTreeSet::new(),
        button_labels: Vec::new(),
        unreachable: BTreeSet::new(),
    };
    for (file, ast) in files.iter().zip(&program.files) {
        for (k, trigger) in ast.triggers.iter().enumerate() {
            let from = (file.clone(), "trigger", k.to_string());
            out.edges
                .insert((from, resolve(file, &trigger.target), "trigger"));
        }
        for b in &ast.blocks {
            let from = block(file, &b.name.name);
            out.blocks.insert(from.clone());
            let mut jumps = Vec::new();
            jumps_of(&b.body, &mut jumps);
            for (kind, target, label) in jumps {
                let to = resolve(file, target);
                if let Some(label) = label {
                    out.button_labels.push((from.clone(), to.clone(), label));
                }
                out.edges.insert((from.clone(), to, kind));
            }
        }
    }
    for d in program.warnings.iter() {
        if d.code != Code::UnreachableBlock {
            continue;
        }
        let b = program.files[d.file]
            .blocks
            .iter()
            .find(|b| b.name.span.same(d.span))
            .expect("the warning points at a block name");
        out.unreachable.insert(block(&files[d.file], &b.name.name));
    }
    out
}

/// Every jump written in `body`: its kind, target and, for a button, its label. The match is
/// exhaustive on purpose: a new statement that jumps must be added here.
fn jumps_of<'a>(body: &'a [Stmt], out: &mut Vec<(&'static str, &'a Target, Option<String>)>) {
    for stmt in body {
        match &stmt.kind {
            StmtKind::Say { buttons, .. } => say_jumps(buttons, out),
            StmtKind::For { body, .. } => jumps_of(body, out),
            StmtKind::Wait {
                timeout: Some(t), ..
            } => out.push(("timer", &t.target, None)),
            StmtKind::Schedule(s) => out.push(("timer", &s.target, None)),
            StmtKind::If {
                branches,
                otherwise,
            } => {
                for (_, branch) in branches {
                    jumps_of(branch, out);
                }
                jumps_of(otherwise.as_deref().unwrap_or_default(), out);
            }
            StmtKind::Match {
                arms, otherwise, ..
            } => {
                for arm in arms {
                    jumps_of(&arm.body, out);
                }
                jumps_of(otherwise.as_deref().unwrap_or_default(), out);
            }
            StmtKind::Goto(target) => out.push(("goto", target, None)),
            StmtKind::Call(target) => out.push(("call", target, None)),
            StmtKind::Extract { otherwise, .. } => out.push(("extract-else", otherwise, None)),
            StmtKind::Http(http) => {
                if let Some(target) = &http.on_error {
                    out.push(("on-error", target, None));
                }
            }
            StmtKind::Wait { .. }
            | StmtKind::Cancel(..)
            | StmtKind::Set { .. }
            | StmtKind::Unset { .. }
            | StmtKind::Return
            | StmtKind::End
            | StmtKind::Notify(_)
            | StmtKind::Log(_) => {}
        }
    }
}

/// The transition buttons of a `say` body, those of its `for` loops included.
fn say_jumps<'a>(items: &'a [SayItem], out: &mut Vec<(&'static str, &'a Target, Option<String>)>) {
    for item in items {
        match item {
            SayItem::Button(button) => {
                if let ButtonKind::Goto(target) = &button.kind {
                    out.push(("button", target, button.label.as_constant()));
                }
            }
            SayItem::For { items, .. } => say_jumps(items, out),
            SayItem::Image(..) | SayItem::File(..) => {}
        }
    }
}

/// What an output shows, read back from its text.
#[derive(Default)]
struct Shown {
    blocks: BTreeSet<Key>,
    /// `(from, to, kind-or-arrow, label)`.
    edges: Vec<(Key, Key, String, String)>,
    unreachable: BTreeSet<Key>,
}

/// Reads the DOT text `scenarist graph --format dot` writes (one statement per line).
fn parse_dot(text: &str) -> Shown {
    let cluster = Regex::new(r#"^  subgraph cluster_\d+ \{$"#).expect("regex");
    let cluster_label = Regex::new(r#"^    label="(.*)";$"#).expect("regex");
    let node = Regex::new(r#"^    ([tb])(\d+) \[label="((?:[^"\\]|\\.)*)""#).expect("regex");
    let edge =
        Regex::new(r#"^  ([tb]\d+) -> (b\d+) \[(?:label="((?:[^"\\]|\\.)*)", )?class="([a-z-]+)""#)
            .expect("regex");
    parse_lines(text, |line, state| {
        if cluster.is_match(line) {
            state.expect_cluster_label = true;
        } else if let Some(c) = cluster_label
            .captures(line)
            .filter(|_| state.expect_cluster_label)
        {
            state.expect_cluster_label = false;
            state.file = c[1].split(" — ").next().unwrap_or_default().to_string();
            state.triggers = 0;
        } else if let Some(c) = node.captures(line) {
            let label = &c[3];
            let first_line = label.split("\\n").next().unwrap_or_default();
            state.node(&c[1], &c[2], first_line);
        } else if let Some(c) = edge.captures(line) {
            let label = c.get(3).map_or("", |m| m.as_str());
            state.edge(&c[1], &c[2], &c[4], &dot_unescape(label));
        }
    })
}

fn dot_unescape(text: &str) -> String {
    let mut out = String::new();
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            out.extend(chars.next());
        } else {
            out.push(c);
        }
    }
    out.replace("&amp;", "&")
}

/// Reads the Mermaid text `scenarist graph` writes (one statement per line).
fn parse_mermaid(text: &str) -> Shown {
    let cluster = Regex::new(r#"^  subgraph s\d+\["(.*)"\]$"#).expect("regex");
    let node = Regex::new(r#"^    ([tb])(\d+)(?:\(\["(.*)"\]\)|\["(.*)"\])$"#).expect("regex");
    let edge = Regex::new(r#"^  ([tb]\d+) (-->|-\.->)(?:\|"(.*)"\|)? (b\d+)$"#).expect("regex");
    parse_lines(text, |line, state| {
        if let Some(c) = cluster.captures(line) {
            state.file = c[1].split(" — ").next().unwrap_or_default().to_string();
            state.triggers = 0;
        } else if let Some(c) = node.captures(line) {
            let label = c.get(3).or(c.get(4)).map_or("", |m| m.as_str());
            let first_line = label.split("<br/>").next().unwrap_or_default();
            state.node(&c[1], &c[2], first_line);
        } else if let Some(c) = edge.captures(line) {
            let label = c.get(3).map_or("", |m| m.as_str());
            state.edge(&c[1], &c[4], &c[2], label);
        }
    })
}

#[derive(Default)]
struct ParseState {
    file: String,
    expect_cluster_label: bool,
    triggers: usize,
    keys: HashMap<String, Key>,
    shown: Shown,
}

impl ParseState {
    fn node(&mut self, kind: &str, number: &str, first_line: &str) {
        let key = if kind == "t" {
            self.triggers += 1;
            (
                self.file.clone(),
                "trigger",
                (self.triggers - 1).to_string(),
            )
        } else {
            let (name, unreachable) = match first_line.strip_suffix(" (unreachable)") {
                Some(name) => (name, true),
                None => (first_line, false),
            };
            let key = (self.file.clone(), "block", name.to_string());
            if unreachable {
                self.shown.unreachable.insert(key.clone());
            }
            self.shown.blocks.insert(key.clone());
            key
        };
        self.keys.insert(format!("{kind}{number}"), key);
    }

    fn edge(&mut self, from: &str, to: &str, kind: &str, label: &str) {
        let find = |id: &str| {
            self.keys
                .get(id)
                .unwrap_or_else(|| panic!("edge to or from undeclared node {id}"))
                .clone()
        };
        let edge = (find(from), find(to), kind.to_string(), label.to_string());
        self.shown.edges.push(edge);
    }
}

fn parse_lines(text: &str, mut line: impl FnMut(&str, &mut ParseState)) -> Shown {
    let mut state = ParseState::default();
    for l in text.lines() {
        line(l, &mut state);
    }
    state.shown
}

#[test]
fn every_block_and_edge_appears() {
    let mut failures = String::new();
    let mut checked_edges = 0;
    for case in all_cases() {
        let (sources, program, graph) = graph_of(&case);
        let expected = expected(&sources, &program);
        checked_edges += expected.edges.len();
        let mut report = |what: &str, missing: Vec<String>| {
            if !missing.is_empty() {
                let _ = writeln!(
                    failures,
                    "── {}: {what}:\n  {}",
                    case.name,
                    missing.join("\n  ")
                );
            }
        };

        let dot = parse_dot(&scenarist::graph::dot(&graph));
        let dot_edges: BTreeSet<(Key, Key, &str)> = dot
            .edges
            .iter()
            .map(|(f, t, k, _)| (f.clone(), t.clone(), k.as_str()))
            .collect();
        report("DOT blocks differ", set_diff(&expected.blocks, &dot.blocks));
        report("DOT edges differ", set_diff(&expected.edges, &dot_edges));
        report(
            "DOT unreachable marks differ",
            set_diff(&expected.unreachable, &dot.unreachable),
        );
        for (from, to, label) in &expected.button_labels {
            let prefix: String = format!("[{label}").chars().take(20).collect();
            let shown = dot.edges.iter().any(|(f, t, k, l)| {
                f == from && t == to && k == "button" && l.starts_with(&prefix)
            });
            if !shown {
                report(
                    "button label missing",
                    vec![format!("{from:?} → {to:?} {prefix}…")],
                );
            }
        }

        let mermaid = parse_mermaid(&scenarist::graph::mermaid(&graph));
        let arrow = |kind: &str| match kind {
            "trigger" | "goto" | "button" => "-->",
            _ => "-.->",
        };
        let expected_arrows: BTreeSet<(Key, Key, &str)> = expected
            .edges
            .iter()
            .map(|(f, t, k)| (f.clone(), t.clone(), arrow(k)))
            .collect();
        let mermaid_edges: BTreeSet<(Key, Key, &str)> = mermaid
            .edges
            .iter()
            .map(|(f, t, a, _)| (f.clone(), t.clone(), a.as_str()))
            .collect();
        report(
            "Mermaid blocks differ",
            set_diff(&expected.blocks, &mermaid.blocks),
        );
        report(
            "Mermaid edges differ",
            set_diff(&expected_arrows, &mermaid_edges),
        );
        report(
            "Mermaid unreachable marks differ",
            set_diff(&expected.unreachable, &mermaid.unreachable),
        );
    }
    assert!(failures.is_empty(), "{failures}");
    assert!(checked_edges > 100, "only {checked_edges} edges checked");
}

/// `- item` for what only the expectation has, `+ item` for what only the output has.
fn set_diff<T: Ord + std::fmt::Debug>(expected: &BTreeSet<T>, shown: &BTreeSet<T>) -> Vec<String> {
    let missing = expected.difference(shown).map(|x| format!("- {x:?}"));
    let extra = shown.difference(expected).map(|x| format!("+ {x:?}"));
    missing.chain(extra).collect()
}

#[test]
fn unreachable_blocks_are_shown() {
    let case = golden_cases()
        .into_iter()
        .find(|c| c.name == "cross_files")
        .expect("the cross_files fixture");
    let (sources, program, graph) = graph_of(&case);
    let marked: BTreeMap<String, bool> = graph
        .clusters
        .iter()
        .flat_map(|c| &c.blocks)
        .map(|n| (n.name.clone(), n.unreachable))
        .collect();
    for name in ["old_menu", "orphan_a", "orphan_b"] {
        assert_eq!(marked.get(name), Some(&true), "{name}");
    }
    assert_eq!(expected(&sources, &program).unreachable.len(), 3);
    assert!(scenarist::graph::mermaid(&graph).contains("class b3,b4,b7 unreachable"));
}

// ---------------------------------------------------------------------------------- CLI

fn scenarist(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_scenarist"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("cannot run scenarist")
}

fn status(output: &Output) -> i32 {
    output
        .status
        .code()
        .expect("scenarist was killed by a signal")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// A fresh, empty directory for one test.
fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("graph")
        .join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("cannot create a scratch directory");
    dir
}

#[test]
fn cli_prints_mermaid_by_default_and_dot_on_request() {
    let output = scenarist(&["graph", "scenarios/quiz"]);
    assert_eq!(status(&output), 0, "{}", text(&output.stderr));
    let golden = std::fs::read_to_string(root().join(DIR).join("quiz.mmd")).expect("quiz.mmd");
    assert_eq!(text(&output.stdout), golden);
    assert!(output.stderr.is_empty(), "{}", text(&output.stderr));

    let output = scenarist(&["graph", "--format", "dot", "scenarios/quiz"]);
    assert_eq!(status(&output), 0, "{}", text(&output.stderr));
    let golden = std::fs::read_to_string(root().join(DIR).join("quiz.dot")).expect("quiz.dot");
    assert_eq!(text(&output.stdout), golden);
}

#[test]
fn cli_writes_svg_and_files() {
    let dir = scratch("svg");
    let file = dir.join("quiz.svg");
    let file_arg = file.to_str().expect("a UTF-8 path");
    let output = scenarist(&["graph", "--format", "svg", "-o", file_arg, "scenarios/quiz"]);
    assert_eq!(status(&output), 0, "{}", text(&output.stderr));
    assert!(output.stdout.is_empty());
    let svg = std::fs::read_to_string(&file).expect("the SVG was written");
    assert!(svg.contains("<svg") && svg.contains("start_quiz"), "{svg}");

    let file = dir.join("bot.mmd");
    let output = scenarist(&[
        "graph",
        "--output",
        file.to_str().expect("a UTF-8 path"),
        "scenarios/quiz",
    ]);
    assert_eq!(status(&output), 0, "{}", text(&output.stderr));
    let written = std::fs::read_to_string(&file).expect("the graph was written");
    assert!(written.starts_with("flowchart TD\n"), "{written}");
}

#[test]
fn cli_svg_without_graphviz_says_how_to_get_it() {
    let empty = scratch("no-graphviz");
    let output = Command::new(env!("CARGO_BIN_EXE_scenarist"))
        .args(["graph", "--format", "svg", "scenarios/quiz"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("PATH", &empty)
        .output()
        .expect("cannot run scenarist");
    assert_eq!(status(&output), 2);
    assert!(output.stdout.is_empty());
    let stderr = text(&output.stderr);
    for hint in [
        "Graphviz",
        "apt-get install graphviz",
        "brew install graphviz",
        "--format dot",
    ] {
        assert!(stderr.contains(hint), "no `{hint}` in:\n{stderr}");
    }
}

#[test]
fn cli_bot_with_errors_prints_diagnostics_and_exits_1() {
    let output = scenarist(&["graph", "tests/fixtures/check/err_unknown_block.scn"]);
    assert_eq!(status(&output), 1);
    assert!(output.stdout.is_empty());
    let stderr = text(&output.stderr);
    assert!(stderr.contains("scn::unknown-block"), "{stderr}");
    assert!(
        stderr.contains("error: could not compile the bot"),
        "{stderr}"
    );
}

#[test]
fn cli_usage_errors_exit_2() {
    let output = scenarist(&["graph", "no/such/bot"]);
    assert_eq!(status(&output), 2);
    assert!(text(&output.stderr).contains("no/such/bot"));
    let output = scenarist(&["graph", "--format", "png", "scenarios/quiz"]);
    assert_eq!(status(&output), 2);
}
