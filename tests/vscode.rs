//! The VS Code extension in `editors/vscode/`: its manifest and language configuration are
//! valid JSON that name the grammar and the language server, and the TextMate grammar gives
//! the expected scopes on the sample files in `editors/vscode/tests/` (checked by
//! `vscode-tmgrammar-test`), and `vsce package` builds an installable `.vsix` from it (both
//! tools installed from npm with `npm ci` on the first run).

use std::path::{Path, PathBuf};
use std::process::Command;

fn extension() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("editors/vscode")
}

fn json(path: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn the_manifest_names_the_language_the_grammar_and_the_server() {
    let manifest = json(&extension().join("package.json"));
    let language = &manifest["contributes"]["languages"][0];
    assert_eq!(language["id"], "scenarist");
    assert_eq!(language["extensions"][0], ".scn");
    let grammar = &manifest["contributes"]["grammars"][0];
    assert_eq!(grammar["scopeName"], "source.scenarist");
    let grammar_path = extension().join(grammar["path"].as_str().expect("grammar path"));
    assert_eq!(json(&grammar_path)["scopeName"], "source.scenarist");
    let config = json(&extension().join(language["configuration"].as_str().expect("config")));
    assert_eq!(config["comments"]["lineComment"], "#");
    let client = std::fs::read_to_string(extension().join("extension.js")).expect("extension.js");
    assert!(
        client.contains("args: [\"lsp\"]"),
        "the client starts `scenarist lsp`"
    );
}

/// The extension's npm packages (`npm ci`, once per test run, whichever test needs them first).
fn npm_tools() -> PathBuf {
    static INSTALLED: std::sync::Mutex<bool> = std::sync::Mutex::new(false);
    let dir = extension();
    let mut installed = INSTALLED.lock().unwrap_or_else(|e| e.into_inner());
    let bin = dir.join("node_modules/.bin");
    let present = bin.join("vscode-tmgrammar-test").exists() && bin.join("vsce").exists();
    if !*installed && !present {
        let status = Command::new("npm")
            .args(["ci", "--no-audit", "--no-fund"])
            .current_dir(&dir)
            .status()
            .unwrap_or_else(|e| {
                panic!("the extension's tests need Node.js and npm (apt-get install -y nodejs npm): {e}")
            });
        assert!(status.success(), "npm ci failed in editors/vscode");
    }
    *installed = true;
    bin
}

#[test]
fn the_grammar_gives_the_expected_scopes() {
    let dir = extension();
    let tool = npm_tools().join("vscode-tmgrammar-test");
    let out = Command::new(&tool)
        .args([
            "-g",
            "syntaxes/scenarist.tmLanguage.json",
            "tests/highlight.scn",
        ])
        .current_dir(&dir)
        .output()
        .expect("run vscode-tmgrammar-test");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("run successfuly"),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn vsce_packages_the_extension() {
    let dir = extension();
    let vsce = npm_tools().join("vsce");
    let out_dir = std::env::temp_dir().join(format!("scenarist-vsix-{}", std::process::id()));
    std::fs::create_dir_all(&out_dir).expect("temp dir");
    let vsix = out_dir.join("scenarist.vsix");
    let out = Command::new(&vsce)
        .args(["package", "--allow-missing-repository", "--out"])
        .arg(&vsix)
        .current_dir(&dir)
        .output()
        .expect("run vsce");
    assert!(
        out.status.success(),
        "vsce package failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let bytes = std::fs::read(&vsix).expect("the .vsix was written");
    std::fs::remove_dir_all(&out_dir).ok();
    assert!(bytes.starts_with(b"PK\x03\x04"), "a .vsix is a zip archive");
    // A zip stores each member's name in clear in its local header.
    let has = |name: &str| bytes.windows(name.len()).any(|w| w == name.as_bytes());
    for member in [
        "extension/package.json",
        "extension/extension.js",
        "extension/language-configuration.json",
        "extension/syntaxes/scenarist.tmLanguage.json",
        "extension/LICENSE",
        "extension/readme.md",
        "extension/node_modules/vscode-languageclient/package.json",
    ] {
        assert!(has(member), "the .vsix lacks {member}");
    }
    for left_out in [
        "extension/tests/",
        "node_modules/vsce",
        "vscode-tmgrammar-test",
    ] {
        assert!(!has(left_out), "the .vsix carries {left_out}");
    }
}
