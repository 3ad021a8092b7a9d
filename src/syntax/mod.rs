//! Text in, AST out: the pest grammar (`grammar/scenario.pest`, with its lean twin
//! `grammar/fast.pest` tried first), lowering of pest pairs into the typed AST of [`ast`], and
//! template parsing. pest types never leave this module.

pub mod ast;
mod fast;
mod lower;
mod parser;
mod span;
mod template;

pub use span::Span;

use crate::diagnostic::{Diagnostic, FileId};

/// Parses one scenario file. Always returns an AST (of what could be parsed) and the syntax
/// diagnostics found; many at once, recovering at the next top-level item after an error.
pub fn parse(file: FileId, text: &str) -> (ast::File, Vec<Diagnostic>) {
    let (ast, diags, _) = parser::parse_file(file, text, true);
    (ast, diags)
}

/// [`parse`], with the lean grammar tried first (as [`parse`] does) or with the full grammar
/// only; also returns how many top-level items the lean grammar parsed. For the tests that
/// hold the two paths equal.
#[doc(hidden)]
pub fn parse_paths(file: FileId, text: &str, lean: bool) -> (ast::File, Vec<Diagnostic>, usize) {
    parser::parse_file(file, text, lean)
}
