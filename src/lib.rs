//! scenarist: chatbot scenarios written as text — parsed, checked, run and tested headless.
//!
//! The pipeline: [`source`] (files in) → [`syntax`] (text → AST with spans) → [`check`]
//! (names resolved, static checks → [`Program`]) → `report` (diagnostics rendered) → `cli`.

pub mod check;
pub mod cli;
pub mod diagnostic;
pub mod eval;
pub mod fmt;
pub mod graph;
pub mod http;
pub mod lsp;
pub mod report;
pub mod serve;
pub mod source;
pub mod syntax;
pub mod testing;
pub mod value;

pub use check::Program;
pub use diagnostic::{Code, Diagnostic, Diagnostics, Severity};
pub use source::{SourceFile, Sources};

/// Parses and checks a whole bot. On success the program carries the warnings; on failure every
/// diagnostic found (errors and warnings) comes back, sorted by file and position.
pub fn compile(sources: &Sources) -> Result<Program, Diagnostics> {
    let (mut program, diagnostics) = analyze(sources);
    if diagnostics.has_errors() {
        Err(diagnostics)
    } else {
        program.warnings = diagnostics;
        Ok(program)
    }
}

/// Parses and checks a whole bot, keeping what could be resolved even when there are errors
/// (editor support answers "go to definition" in a file that does not compile yet). Every
/// diagnostic comes back, sorted by file and position; the program's own `warnings` is empty.
pub fn analyze(sources: &Sources) -> (Program, Diagnostics) {
    let mut diagnostics = Diagnostics::default();
    let mut files = Vec::with_capacity(sources.files.len());
    for (id, (ast, found)) in parse_all(sources).into_iter().enumerate() {
        if let Some(at) = sources.files[id].utf8_error {
            diagnostics.push(
                Diagnostic::new(
                    Code::InvalidUtf8,
                    id,
                    syntax::Span::new(at, at + 1),
                    "the file is not valid UTF-8",
                )
                .with_label("invalid byte sequence here")
                .with_help("save the file as UTF-8"),
            );
        }
        diagnostics.extend(found);
        diagnostics.omit_errors(ast.omitted_errors);
        files.push(ast);
    }
    let syntax_failed = diagnostics.has_errors();
    let program = check::check(sources, files, syntax_failed, &mut diagnostics);
    diagnostics.sort();
    (program, diagnostics)
}

/// Parses every file, several at a time when the bot has many (a large single file is split
/// by the parser itself).
fn parse_all(sources: &Sources) -> Vec<(syntax::ast::File, Vec<Diagnostic>)> {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let files = &sources.files;
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(files.len());
    let total: usize = files.iter().map(|f| f.text.len()).sum();
    if threads < 2 || total < 256 * 1024 {
        return files
            .iter()
            .enumerate()
            .map(|(id, f)| syntax::parse(id, &f.text))
            .collect();
    }
    let next = AtomicUsize::new(0);
    let mut parsed: Vec<(usize, (syntax::ast::File, Vec<Diagnostic>))> =
        std::thread::scope(|scope| {
            let workers: Vec<_> = (0..threads)
                .map(|_| {
                    scope.spawn(|| {
                        let mut mine = Vec::new();
                        loop {
                            let id = next.fetch_add(1, Ordering::Relaxed);
                            let Some(f) = files.get(id) else { break mine };
                            mine.push((id, syntax::parse(id, &f.text)));
                        }
                    })
                })
                .collect();
            workers
                .into_iter()
                .flat_map(|w| {
                    w.join()
                        .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
                })
                .collect()
        });
    parsed.sort_by_key(|(id, _)| *id);
    parsed.into_iter().map(|(_, p)| p).collect()
}
