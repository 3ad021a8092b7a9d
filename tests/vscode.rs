//! The VS Code extension in `editors/vscode/`: its manifest and language configuration are
//! valid JSON that name the grammar and the language server, and the TextMate grammar gives
//! the expected scopes on the sample files in `editors/vscode/tests/` (checked by
//! `vscode-tmgrammar-test`, installed from npm with `npm ci` on the first run).

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

#[test]
fn the_grammar_gives_the_expected_scopes() {
    let dir = extension();
    let tool = dir.join("node_modules/.bin/vscode-tmgrammar-test");
    if !tool.exists() {
        let installed = Command::new("npm")
            .args(["ci", "--no-audit", "--no-fund"])
            .current_dir(&dir)
            .status()
            .unwrap_or_else(|e| {
                panic!(
                    "the grammar test needs Node.js and npm (apt-get install -y nodejs npm): {e}"
                )
            });
        assert!(installed.success(), "npm ci failed in editors/vscode");
    }
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
