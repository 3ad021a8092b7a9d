//! Every example bot in `scenarios/` compiles with no error and no warning.

use scenarist::{compile, Sources};

#[test]
fn every_example_bot_checks_clean() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios");
    let mut bots = 0;
    for entry in std::fs::read_dir(&root).expect("scenarios/ exists") {
        let path = entry.expect("readable entry").path();
        let sources = Sources::load(std::slice::from_ref(&path)).expect("bot loads");
        match compile(&sources) {
            Ok(program) => assert!(
                program.warnings.is_empty(),
                "{}: warnings {:#?}",
                path.display(),
                program.warnings
            ),
            Err(diagnostics) => panic!("{}: {:#?}", path.display(), diagnostics),
        }
        bots += 1;
    }
    assert!(
        bots >= 5,
        "expected at least five example bots, found {bots}"
    );
}
