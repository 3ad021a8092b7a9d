//! The language reference (docs/REFERENCE.md) documents every built-in function and every
//! diagnostic code: a function added to `FUNCTIONS` or a code added to `Code::ALL` without its
//! entry in the reference fails this test.

use scenarist::check::FUNCTIONS;
use scenarist::Code;

fn reference() -> String {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/REFERENCE.md");
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("cannot read {path}: {e}"))
}

#[test]
fn every_function_is_documented() {
    let text = reference();
    let missing: Vec<&str> = FUNCTIONS
        .iter()
        .map(|f| f.name)
        .filter(|name| !text.contains(&format!("`{name}(")))
        .collect();
    assert!(
        missing.is_empty(),
        "docs/REFERENCE.md does not document these functions (as `name(…)`): {}",
        missing.join(", ")
    );
}

#[test]
fn every_diagnostic_code_is_documented() {
    let text = reference();
    let missing: Vec<&str> = Code::ALL
        .iter()
        .map(|code| code.as_str())
        .filter(|code| !text.contains(code))
        .collect();
    assert!(
        missing.is_empty(),
        "docs/REFERENCE.md does not document these diagnostic codes: {}",
        missing.join(", ")
    );
}

#[test]
fn every_signature_is_shown_as_declared() {
    let text = reference();
    let missing: Vec<&str> = FUNCTIONS
        .iter()
        .map(|f| f.signature)
        .filter(|signature| !text.contains(signature))
        .collect();
    assert!(
        missing.is_empty(),
        "docs/REFERENCE.md does not show these signatures exactly as in FUNCTIONS: {}",
        missing.join(" | ")
    );
}
