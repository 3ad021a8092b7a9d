//! Text in, AST out, in one direction: the pest grammar (`grammar/scenario.pest`) turns an item
//! of text into pairs (`parser`), the lowering turns pairs into the typed AST of [`ast`]
//! (`lower`, with `template` for the insides of strings), and `file` runs that item by item
//! over a whole file. pest types never leave this module.

pub mod ast;
mod file;
mod lower;
mod parser;
mod span;
mod template;

pub use lower::{duration_ms, duration_text};
pub use span::Span;

use crate::diagnostic::{Diagnostic, FileId};

/// Whether `name` can be written as a block name, scenario id or lambda parameter.
pub fn is_identifier(name: &str) -> bool {
    template::is_ident(name)
}

/// Parses one scenario file. Always returns an AST (of what could be parsed) and the syntax
/// diagnostics found; many at once, recovering at the next top-level item after an error.
pub fn parse(file: FileId, text: &str) -> (ast::File, Vec<Diagnostic>) {
    file::parse_file(file, text, false)
}

/// [`parse`], also collecting [`ast::File::tokens`] (what the formatter needs to space a line).
pub fn parse_with_tokens(file: FileId, text: &str) -> (ast::File, Vec<Diagnostic>) {
    file::parse_file(file, text, true)
}
