//! Golden tests for `check`: every case under `tests/fixtures/check/` — a `.scn` file, or a
//! directory of them forming one bot — is compiled, and its report (the human form without
//! colour, then the JSON form) must equal `<case>.out` beside it byte for byte.
//!
//! Cases are named for what they must produce: `err_*` at least one error, `warn_*` warnings
//! only, `ok_*` nothing at all. Bless (rewrite the `.out` files) with
//!
//! ```text
//! BLESS=1 cargo test --test check_fixtures
//! ```
//!
//! and read the diff before committing it.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use scenarist::report::{self, Summary};
use scenarist::{Code, Diagnostics, Sources};

/// Where the cases live, relative to the crate root (also how file names appear in reports).
const DIR: &str = "tests/fixtures/check";

struct Case {
    name: String,
    /// The `.scn` file or the directory, relative to the crate root.
    input: PathBuf,
}

impl Case {
    fn expected_path(&self) -> PathBuf {
        root().join(DIR).join(format!("{}.out", self.name))
    }
}

/// The crate root, made the working directory so that the relative file names shown in reports
/// do not depend on where `cargo test` was started.
fn root() -> &'static Path {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    std::env::set_current_dir(root).expect("cannot enter the crate root");
    root
}

fn cases() -> Vec<Case> {
    let dir = root().join(DIR);
    let mut cases = Vec::new();
    for entry in std::fs::read_dir(&dir).expect("cannot read tests/fixtures/check") {
        let path = entry.expect("cannot read a fixture entry").path();
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
        cases.push(Case {
            input: Path::new(DIR).join(file_name),
            name,
        });
    }
    cases.sort_by(|a, b| a.name.cmp(&b.name));
    cases
}

/// What compiling a case gave.
struct Compiled {
    sources: Sources,
    diagnostics: Diagnostics,
    /// Blocks in each file's syntax tree, when the bot compiled.
    blocks: Option<Vec<usize>>,
}

/// Compiles like `scenarist check` does, on a thread with a big stack.
fn compile(case: &Case) -> Compiled {
    let sources = Sources::load(std::slice::from_ref(&case.input))
        .unwrap_or_else(|e| panic!("{}: {e}", case.name));
    let result = std::thread::scope(|scope| {
        std::thread::Builder::new()
            .stack_size(256 << 20)
            .spawn_scoped(scope, || scenarist::compile(&sources))
            .expect("cannot spawn the compiler thread")
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
    });
    let (diagnostics, blocks) = match result {
        Ok(program) => {
            let blocks = program.files.iter().map(|f| f.blocks.len()).collect();
            (program.warnings, Some(blocks))
        }
        Err(diagnostics) => (diagnostics, None),
    };
    Compiled {
        sources,
        diagnostics,
        blocks,
    }
}

/// A clean report proves nothing if the parser skipped part of the file: in `ok_` cases, every
/// line that starts with `block ` must have become a block.
fn lost_blocks(compiled: &Compiled) -> Option<String> {
    let parsed = compiled.blocks.as_ref()?;
    let written: Vec<usize> = compiled
        .sources
        .files
        .iter()
        .map(|f| f.text.lines().filter(|l| l.starts_with("block ")).count())
        .collect();
    (parsed != &written).then(|| {
        format!("the files declare {written:?} blocks, but the syntax trees hold {parsed:?}")
    })
}

/// The golden text: exactly what `check` prints for people, then what `--format json` prints.
fn render(sources: &Sources, diagnostics: &Diagnostics) -> String {
    let summary = Summary::new(sources.files.len(), diagnostics, false);
    let mut out = report::render_check(sources, diagnostics, &summary, false);
    out.push('\n');
    out.push_str(&report::render_json(sources, diagnostics));
    out
}

/// What the case's name promises, checked before any comparison (blessing cannot make a
/// wrong result right).
fn kind_problem(case: &Case, diagnostics: &Diagnostics) -> Option<String> {
    let errors = diagnostics.error_count();
    let warnings = diagnostics.warning_count();
    let problem = if case.name.starts_with("err_") {
        (errors == 0).then_some("an `err_` case must report at least one error")
    } else if case.name.starts_with("warn_") {
        (errors > 0 || warnings == 0).then_some("a `warn_` case must report warnings and no error")
    } else if case.name.starts_with("ok_") {
        (errors + warnings > 0).then_some("an `ok_` case must report nothing")
    } else {
        Some("a case name starts with `err_`, `warn_` or `ok_`")
    };
    problem.map(|p| format!("{p} (got {errors} errors, {warnings} warnings)"))
}

fn diff(expected: &str, actual: &str) -> String {
    similar::TextDiff::from_lines(expected, actual)
        .unified_diff()
        .context_radius(4)
        .header("expected", "actual")
        .to_string()
}

#[test]
fn check_fixtures() {
    let bless = std::env::var_os("BLESS").is_some_and(|v| !v.is_empty() && v != "0");
    let cases = cases();
    assert!(!cases.is_empty(), "no cases under {DIR}");
    let mut failures = String::new();
    for case in &cases {
        let compiled = compile(case);
        let actual = render(&compiled.sources, &compiled.diagnostics);
        let problem = kind_problem(case, &compiled.diagnostics).or_else(|| {
            case.name
                .starts_with("ok_")
                .then(|| lost_blocks(&compiled))
                .flatten()
        });
        if let Some(problem) = problem {
            let _ = writeln!(failures, "── {}: {problem}\n{actual}", case.name);
            continue;
        }
        let path = case.expected_path();
        let expected = std::fs::read_to_string(&path).ok();
        if expected.as_deref() == Some(actual.as_str()) {
            continue;
        }
        if bless {
            std::fs::write(&path, &actual).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            eprintln!("blessed {}", path.display());
        } else if let Some(expected) = expected {
            let _ = writeln!(
                failures,
                "── {}: output differs\n{}",
                case.name,
                diff(&expected, &actual)
            );
        } else {
            let _ = writeln!(
                failures,
                "── {}: no {}.out yet; got:\n{actual}",
                case.name, case.name
            );
        }
    }
    // A golden file whose case is gone would silently keep a code "covered".
    for entry in std::fs::read_dir(root().join(DIR)).expect("cannot read tests/fixtures/check") {
        let path = entry.expect("cannot read a fixture entry").path();
        let Some(stem) = path
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(|n| n.strip_suffix(".out"))
        else {
            continue;
        };
        if !cases.iter().any(|c| c.name == stem) {
            let _ = writeln!(failures, "── {stem}.out has no case {stem}.scn or {stem}/");
        }
    }
    assert!(
        failures.is_empty(),
        "{failures}\ncheck fixtures failed; if the new output is right: BLESS=1 cargo test --test check_fixtures"
    );
}

/// Adding a diagnostic code without a fixture that produces it fails here.
#[test]
fn every_code_has_a_fixture() {
    let mut seen = std::collections::HashSet::new();
    for case in cases() {
        if case.name.starts_with("err_") || case.name.starts_with("warn_") {
            seen.extend(compile(&case).diagnostics.iter().map(|d| d.code));
        }
    }
    let missing: Vec<&str> = Code::ALL
        .iter()
        .filter(|code| !seen.contains(code))
        .map(|code| code.as_str())
        .collect();
    assert!(
        missing.is_empty(),
        "no err_/warn_ fixture in {DIR} produces these codes: {}",
        missing.join(", ")
    );
}
