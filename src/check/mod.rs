//! AST in, [`Program`] out: name resolution and the static checks of LANGUAGE.md §10.
//!
//! The work is split by what it needs: `names` builds the tables of scenarios, blocks and
//! declarations; `walk` visits every statement and expression once, reporting errors and
//! collecting the facts the warnings need (jumps between blocks, variables read and assigned);
//! `flow` turns those facts into the graph warnings (unreachable blocks, loops without `wait`).
//! [`functions`] and [`patterns`] hold what the interpreter reuses: the built-in table, regex
//! compilation, URL validation.

mod flow;
pub mod functions;
mod names;
pub mod patterns;
mod walk;

use std::collections::HashMap;
use std::ops::Range;

use crate::diagnostic::{Code, Diagnostic, Diagnostics, FileId};
use crate::source::Sources;
use crate::syntax::{ast, Span};

pub use functions::{Function, FUNCTIONS};
pub use patterns::{build_regex, cached_regex, compile_regex};

/// Variables the runtime sets; scenarios may read them but never assign them.
pub const SPECIAL_VARIABLES: &[&str] = &[
    "message",
    "user_id",
    "user_name",
    "ref",
    "match",
    "error",
    "webhook",
    "scenario",
    "block",
];

/// Whether `name` is one of [`SPECIAL_VARIABLES`].
pub fn is_special(name: &str) -> bool {
    matches!(
        name,
        "message"
            | "user_id"
            | "user_name"
            | "ref"
            | "match"
            | "error"
            | "webhook"
            | "scenario"
            | "block"
    )
}

/// A block of the bot: an index into [`Program::blocks`]. Blocks are numbered scenario by
/// scenario, in source order within each file.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct BlockId(pub u32);

impl BlockId {
    /// The index into [`Program::blocks`].
    pub fn index(self) -> usize {
        self.0 as usize
    }
}

/// One scenario (one file).
#[derive(Clone, Debug)]
pub struct ScenarioInfo {
    /// The id used in `goto id::block`: the file stem.
    pub id: String,
    /// `scenario "…"` when given, else the id.
    pub name: String,
    pub file: FileId,
    /// Block name → the block it resolves to (the first definition when a name repeats).
    pub blocks: HashMap<String, BlockId>,
    /// Every block of the file in source order, duplicates and broken ones included.
    pub block_range: Range<u32>,
}

/// One block as the name tables see it.
#[derive(Clone, Debug)]
pub struct BlockInfo {
    /// Index into [`Program::scenarios`] (and [`Program::files`]).
    pub scenario: usize,
    pub name: String,
    /// The span of the name in `block name { … }`.
    pub span: Span,
    /// Index into that file's `blocks`; `None` for a block that failed to parse.
    pub index: Option<usize>,
}

/// Where a `user`/`global` variable is declared.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DeclarationInfo {
    pub scope: ast::Scope,
    pub file: FileId,
    /// Index into that file's `declarations`.
    pub index: usize,
}

/// A `goto`/`call`/button/trigger target that resolved: where it is written, and the block.
#[derive(Clone, Copy, Debug)]
pub struct Reference {
    pub file: FileId,
    /// The target as written (`name` or `scenario::name`).
    pub span: Span,
    /// The block's name within it (what a rename replaces).
    pub name_span: Span,
    pub block: BlockId,
}

/// A variable written somewhere in the bot (read, assigned or declared): the name's span.
#[derive(Clone, Debug)]
pub struct VariableUse {
    pub file: FileId,
    /// The root name (without `%` and without the path after it).
    pub span: Span,
    pub name: String,
}

/// A checked bot: every block, scenario and function name resolved.
#[derive(Debug, Default)]
pub struct Program {
    /// The ASTs, `files[i]` being the scenario `scenarios[i]`.
    pub files: Vec<ast::File>,
    /// Warnings found while compiling (errors make `compile` fail instead).
    pub warnings: Diagnostics,
    pub scenarios: Vec<ScenarioInfo>,
    pub blocks: Vec<BlockInfo>,
    /// Every `user`/`global` variable of the bot, by name (without `%`).
    pub declarations: HashMap<String, DeclarationInfo>,
    /// Every resolved target, in the order the checker met them (editor support).
    pub references: Vec<Reference>,
    /// Every variable name assigned somewhere in the bot (`set`, `wait ->`, `-> %x%` of an
    /// `http` or `extract`, declarations), sorted: what completion offers inside `%…%`.
    pub assigned: Vec<String>,
    /// Every place a variable is written in the bot, in the order the checker met them.
    pub variable_uses: Vec<VariableUse>,
    scenario_ids: HashMap<String, usize>,
}

impl Program {
    /// The scenario with this id (file stem).
    pub fn scenario_index(&self, id: &str) -> Option<usize> {
        self.scenario_ids.get(id).copied()
    }

    /// The block a `goto`/`call`/button/trigger target written in `scenario` names.
    pub fn resolve(&self, scenario: usize, target: &ast::Target) -> Option<BlockId> {
        let scenario = match &target.scenario {
            Some(id) => self.scenario_index(&id.name)?,
            None => scenario,
        };
        self.scenarios
            .get(scenario)?
            .blocks
            .get(&target.block.name)
            .copied()
    }

    /// What the name tables know about a block.
    pub fn block(&self, id: BlockId) -> &BlockInfo {
        &self.blocks[id.index()]
    }

    /// The AST of a block; `None` for a block that failed to parse.
    pub fn block_ast(&self, id: BlockId) -> Option<&ast::Block> {
        self.block_ast_in(&self.files, id)
    }

    /// [`Program::block_ast`] while the files are not yet moved into the program.
    fn block_ast_in<'f>(&self, files: &'f [ast::File], id: BlockId) -> Option<&'f ast::Block> {
        let info = self.block(id);
        files
            .get(self.scenarios[info.scenario].file)?
            .blocks
            .get(info.index?)
    }

    /// `name` within its own scenario, `scenario::name` when seen from another one.
    pub fn block_display(&self, id: BlockId, from_scenario: usize) -> String {
        let info = self.block(id);
        if info.scenario == from_scenario {
            info.name.clone()
        } else {
            format!("{}::{}", self.scenarios[info.scenario].id, info.name)
        }
    }
}

/// The blocks `check` warns about as never reached (`scn::unreachable-block`), in block order,
/// found by the same walk and the same analysis. Empty when some target does not resolve, as
/// the warning is then not given either.
pub(crate) fn unreachable_blocks(program: &Program) -> Vec<BlockId> {
    // Errors were reported when the program was compiled; this walk only wants the edges.
    let mut ignored = Diagnostics::default();
    let facts = walk::walk(program, &program.files, false, &mut ignored);
    if facts.unresolved_targets {
        return Vec::new();
    }
    flow::unreachable(program, &facts.graph)
}

/// Resolves names and runs every static check, pushing what it finds into `diagnostics`.
/// With `syntax_failed`, the warnings about the whole bot (unassigned variables, unreachable
/// blocks, loops without a wait) are left out: the part that did not parse may hold the answer.
pub fn check(
    sources: &Sources,
    files: Vec<ast::File>,
    syntax_failed: bool,
    diagnostics: &mut Diagnostics,
) -> Program {
    let mut program = names::build(sources, &files, diagnostics);
    // Everything is reported in one pass: a syntax error in one item hides only the warnings
    // that need the whole bot (a variable assigned, a block reached, a loop that waits could
    // be in the part that did not parse).
    let mut facts = walk::walk(&program, &files, true, diagnostics);
    shadowed_triggers(&program, &files, diagnostics);
    if !syntax_failed {
        walk::unassigned_variables(&facts, diagnostics);
        walk::unknown_cancels(&facts, diagnostics);
        flow::graph_warnings(
            &program,
            &facts.graph,
            !facts.unresolved_targets,
            diagnostics,
        );
    }
    program.references = std::mem::take(&mut facts.references);
    program.assigned = facts.assigned_names();
    program.variable_uses = std::mem::take(&mut facts.uses);
    // The facts borrow `files`, which the program now takes over.
    drop(facts);
    program.files = files;
    program
}

/// `scn::shadowed-trigger`: a trigger with the same event as an earlier one (in trigger order:
/// files by path, then source order) can never fire — two `on start`, the same
/// `on message "…"` (ignoring case and spaces, as matched), `contains`, `like`, `matches`
/// with the same text, two `on fallback`.
fn shadowed_triggers(program: &Program, files: &[ast::File], diagnostics: &mut Diagnostics) {
    use ast::Event;
    let mut first: std::collections::HashMap<(u8, bool, String), (FileId, Span)> =
        std::collections::HashMap::new();
    for (scenario, file) in files.iter().enumerate() {
        let file_id = program.scenarios.get(scenario).map_or(scenario, |s| s.file);
        for t in &file.triggers {
            let normal = |s: &str| {
                s.split_whitespace()
                    .collect::<Vec<_>>()
                    .join(" ")
                    .to_lowercase()
            };
            let (kind, text, shown) = match &t.event {
                Event::Start => (0, String::new(), "on start".to_string()),
                Event::Message(m) => (1, normal(m), format!("on message {m:?}")),
                Event::MessageLike(m) => (2, normal(m), format!("on message like {m:?}")),
                Event::MessageContains(m) => {
                    (3, m.to_lowercase(), format!("on message contains {m:?}"))
                }
                Event::MessageMatches(r) => (
                    4,
                    format!("{}/{}", r.pattern, r.flags),
                    format!("on message matches /{}/{}", r.pattern, r.flags),
                ),
                Event::Webhook(name) => (5, name.clone(), format!("on webhook {name:?}")),
                Event::Fallback => (6, String::new(), "on fallback".to_string()),
            };
            match first.entry((kind, t.anytime, text)) {
                std::collections::hash_map::Entry::Vacant(e) => {
                    e.insert((file_id, t.span));
                }
                std::collections::hash_map::Entry::Occupied(e) => {
                    let (at_file, at_span) = *e.get();
                    diagnostics.push(
                        Diagnostic::new(
                            Code::ShadowedTrigger,
                            file_id,
                            t.span,
                            format!("this `{shown}` trigger can never fire: an earlier one has the same event"),
                        )
                        .with_label("never fires")
                        .with_related(at_file, at_span, "this one comes first and always wins")
                        .with_help("remove one of them, or give them different texts"),
                    );
                }
            }
        }
    }
}

#[cfg(test)]
mod tests;
