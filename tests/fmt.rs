//! `scenarist fmt`: one canonical layout that never changes what a bot does. Every `.scn` file
//! of the repository (and variants of them with the layout spoilt) must format to a tree equal
//! to its own, twice formatting must equal once, the examples must already be formatted, and
//! `tests/fixtures/fmt/*.scn` must format to the `.out` beside it (bless with
//! `BLESS=1 cargo test --test fmt`).

use std::path::Path;
use std::process::Command;

use scenarist::fmt::{format, format_how, FmtError, Pass};

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// Every `.scn` file under `dirs` that parses without errors, as (name, text).
fn clean_files(dirs: &[&str]) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for dir in dirs {
        for entry in walkdir::WalkDir::new(root().join(dir)).sort_by_file_name() {
            let entry = entry.expect("readable directory");
            if entry.path().extension().is_none_or(|x| x != "scn") {
                continue;
            }
            let Ok(text) = std::fs::read_to_string(entry.path()) else {
                continue;
            };
            if scenarist::syntax::parse(0, &text).1.is_empty() {
                out.push((entry.path().display().to_string(), text));
            }
        }
    }
    out
}

/// The formatted text, which must come from the full pass (spacing too): the layout-only
/// fallback is for users, a test taking it means the spacing rules changed a tree.
fn formatted(name: &str, text: &str) -> String {
    match format_how(text) {
        Ok((out, Pass::Full)) => out,
        Ok((_, Pass::LayoutOnly)) => panic!("{name}: re-spacing changed the tree\n{text}"),
        Err(FmtError::Syntax(d)) => panic!("{name}: syntax errors {d:?}"),
        Err(FmtError::Changed) => panic!("{name}: the layout changed the tree\n{text}"),
    }
}

#[test]
fn every_file_keeps_its_tree_and_formatting_is_idempotent() {
    let files = clean_files(&["scenarios", "tests/fixtures", "bench"]);
    assert!(files.len() >= 30, "only {} files", files.len());
    for (name, text) in files {
        let spoilt = [
            text.clone(),
            text.replace('\n', "\r\n"),
            text.replace("  ", "\t"),
            text.replace("\n", "\n\n\n"),
            text.lines()
                .map(str::trim_start)
                .collect::<Vec<_>>()
                .join("\n"),
            text.lines()
                .map(|l| format!("    {l}   "))
                .collect::<Vec<_>>()
                .join("\n"),
        ];
        for (i, variant) in spoilt.iter().enumerate() {
            // Spoiling can break a file (indentation inside a triple-quoted string, say): such
            // a variant must be refused, never formatted into something else.
            if !scenarist::syntax::parse(0, variant).1.is_empty() {
                assert!(matches!(format(variant), Err(FmtError::Syntax(_))));
                continue;
            }
            let once = formatted(&format!("{name} (variant {i})"), variant);
            let twice = formatted(&format!("{name} (variant {i}, twice)"), &once);
            assert_eq!(once, twice, "{name} (variant {i}): not idempotent");
        }
    }
}

#[test]
fn a_large_generated_bot_formats_to_the_same_tree() {
    let mut text = String::from("scenario \"Generated\"\nuser %n% = 0\non start goto b0\n");
    for i in 0..3000 {
        text.push_str(&format!(
            "block b{i} {{\n say \"Step {i} of %n%\" {{\n  button \"Next\" goto b{}\n    button 'Stay'\n}}\n  set %n% = %n% +\n 1\n      if %n% > 10 {{ goto b0 }} else {{\nwait\n}}\n}}\n",
            (i + 1) % 3000
        ));
    }
    let once = formatted("generated", &text);
    assert_eq!(formatted("generated twice", &once), once);
    assert!(once.contains("block b7 {\n  say \"Step 7 of %n%\" {\n    button \"Next\" goto b8\n"));
}

#[test]
fn the_examples_are_formatted() {
    for (name, text) in clean_files(&["scenarios"]) {
        assert_eq!(
            formatted(&name, &text),
            text,
            "{name} is not formatted: run `scenarist fmt scenarios`"
        );
    }
}

#[test]
fn golden_layouts() {
    let dir = root().join("tests/fixtures/fmt");
    let mut cases = 0;
    for entry in std::fs::read_dir(&dir).expect("tests/fixtures/fmt") {
        let path = entry.expect("entry").path();
        if path.extension().is_none_or(|x| x != "scn") {
            continue;
        }
        cases += 1;
        let text = std::fs::read_to_string(&path).expect("fixture");
        let actual = formatted(&path.display().to_string(), &text);
        let expected_path = path.with_extension("out");
        if std::env::var_os("BLESS").is_some() {
            std::fs::write(&expected_path, &actual).expect("bless");
            continue;
        }
        let expected = std::fs::read_to_string(&expected_path).unwrap_or_default();
        assert_eq!(actual, expected, "{}", path.display());
    }
    assert!(cases >= 1);
}

fn scenarist(args: &[&str], dir: &Path) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_scenarist"))
        .args(args)
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .output()
        .expect("run scenarist");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn cli_checks_rewrites_and_refuses_broken_files() {
    let dir = std::env::temp_dir().join(format!("scenarist-fmt-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("bot")).expect("temp dir");
    let messy = "block a {\nsay \"hi\"\n}\n";
    let good = "block b {\n  end\n}\n";
    let broken = "block c {\n  say (\n}\n";
    std::fs::write(dir.join("bot/a.scn"), messy).expect("write");
    std::fs::write(dir.join("bot/b.scn"), good).expect("write");

    let (code, stdout, _) = scenarist(&["fmt", "--check", "bot"], &dir);
    assert_eq!(code, 1);
    assert_eq!(stdout, "bot/a.scn\n", "only the unformatted file is listed");
    assert_eq!(
        std::fs::read_to_string(dir.join("bot/a.scn")).expect("read"),
        messy
    );

    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(
            dir.join("bot/a.scn"),
            std::fs::Permissions::from_mode(0o640),
        )
        .expect("chmod");
    }
    let (code, _, stderr) = scenarist(&["fmt", "bot"], &dir);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(
        std::fs::read_to_string(dir.join("bot/a.scn")).expect("read"),
        "block a {\n  say \"hi\"\n}\n"
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(dir.join("bot/a.scn"))
            .expect("stat")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o640, "the file keeps its permissions");
    }
    let (code, stdout, _) = scenarist(&["fmt", "--check", "bot"], &dir);
    assert_eq!((code, stdout.as_str()), (0, ""));

    std::fs::write(dir.join("bot/c.scn"), broken).expect("write");
    let (code, _, stderr) = scenarist(&["fmt", "bot"], &dir);
    assert_eq!(code, 1);
    assert!(stderr.contains("scn::syntax"), "{stderr}");
    assert!(
        stderr.contains("bot/c.scn: has syntax errors, not formatted"),
        "{stderr}"
    );
    assert_eq!(
        std::fs::read_to_string(dir.join("bot/c.scn")).expect("read"),
        broken
    );
    let leftovers: Vec<_> = std::fs::read_dir(dir.join("bot"))
        .expect("list")
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().starts_with('.'))
        .collect();
    assert!(leftovers.is_empty(), "temporary files left behind");

    let (code, _, stderr) = scenarist(&["fmt", "missing.scn"], &dir);
    assert_eq!(code, 2, "{stderr}");
    let _ = std::fs::remove_dir_all(&dir);
}
