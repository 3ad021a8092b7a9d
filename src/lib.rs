//! scenarist: chatbot scenarios written as text — parsed, checked, run and tested headless.
//!
//! The pipeline: [`source`] (files in) → [`syntax`] (text → AST with spans) → [`check`]
//! (names resolved, static checks → [`Program`]) → `report` (diagnostics rendered) → `cli`.

pub mod check;
pub mod cli;
pub mod diagnostic;
pub mod report;
pub mod source;
pub mod syntax;

pub use check::Program;
pub use diagnostic::{Code, Diagnostic, Diagnostics, Severity};
pub use source::{SourceFile, Sources};

/// Parses and checks a whole bot. On success the program carries the warnings; on failure every
/// diagnostic found (errors and warnings) comes back, sorted by file and position.
pub fn compile(sources: &Sources) -> Result<Program, Diagnostics> {
    let mut diagnostics = Diagnostics::default();
    let mut files = Vec::with_capacity(sources.files.len());
    for (id, file) in sources.files.iter().enumerate() {
        if let Some(at) = file.utf8_error {
            diagnostics.push(
                Diagnostic::new(Code::InvalidUtf8, id, syntax::Span::new(at, at + 1), "the file is not valid UTF-8")
                    .with_label("invalid byte sequence here")
                    .with_help("save the file as UTF-8"),
            );
        }
        let (ast, found) = syntax::parse(id, &file.text);
        diagnostics.extend(found);
        files.push(ast);
    }
    let syntax_failed = diagnostics.has_errors();
    let mut program = check::check(sources, files, syntax_failed, &mut diagnostics);
    diagnostics.sort();
    if diagnostics.has_errors() {
        Err(diagnostics)
    } else {
        program.warnings = diagnostics;
        Ok(program)
    }
}
