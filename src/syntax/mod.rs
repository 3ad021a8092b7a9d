//! Text in, AST out: the pest grammar (`grammar/scenario.pest`), lowering of pest pairs into
//! the typed AST of [`ast`], and template parsing. pest types never leave this module.
//!
//! Each top-level item is first given to the hand-written parser of `fast.rs`, which builds the
//! same tree for valid input at a fraction of the cost; an item it is not sure of (a syntax
//! error, or any problem the lowering reports) is parsed again by pest, so every diagnostic
//! comes from the grammar.

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
    let (ast, diags, _) = parser::parse_file(file, text, Engine::Fast);
    (ast, diags)
}

/// Which parser builds the items of a file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Engine {
    /// The hand-written parser (`fast.rs`) for each item it is sure of, pest for the others:
    /// what [`parse`] does.
    Fast,
    /// pest alone: the reference the fast parser is tested against.
    Reference,
}

/// How many top-level items each parser built.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ParseStats {
    pub fast_items: usize,
    pub pest_items: usize,
}

/// [`parse`] with a choice of parser, and how many items each one built: for the tests that
/// compare the two parsers, and for benchmarks.
pub fn parse_with(
    file: FileId,
    text: &str,
    engine: Engine,
) -> (ast::File, Vec<Diagnostic>, ParseStats) {
    parser::parse_file(file, text, engine)
}
