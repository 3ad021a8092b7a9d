//! Text in, AST out: the pest grammar (`grammar/scenario.pest`), lowering of pest pairs into
//! the typed AST of [`ast`], and template parsing. pest types never leave this module.

pub mod ast;
mod lower;
mod parser;
mod span;
mod template;

pub use span::Span;

use crate::diagnostic::{Diagnostic, FileId};

/// Parses one scenario file. Always returns an AST (of what could be parsed) and the syntax
/// diagnostics found; many at once, recovering at the next top-level item after an error.
pub fn parse(file: FileId, text: &str) -> (ast::File, Vec<Diagnostic>) {
    parser::parse_file(file, text)
}
