//! The name tables: scenario ids, the blocks of every scenario and the bot-wide declarations,
//! with the errors about names defined twice.

use std::collections::hash_map::Entry;
use std::collections::HashMap;

use super::{is_special, BlockId, BlockInfo, DeclarationInfo, Program, ScenarioInfo};
use crate::diagnostic::{Code, Diagnostic, Diagnostics};
use crate::source::Sources;
use crate::syntax::{ast, Span};

/// Builds the tables of a [`Program`] (its `files` are filled in by the caller).
pub(super) fn build(
    sources: &Sources,
    files: &[ast::File],
    diagnostics: &mut Diagnostics,
) -> Program {
    let mut program = Program {
        scenarios: Vec::with_capacity(files.len()),
        blocks: Vec::with_capacity(
            files
                .iter()
                .map(|f| f.blocks.len() + f.broken_blocks.len())
                .sum(),
        ),
        ..Program::default()
    };
    for (file_id, file) in files.iter().enumerate() {
        let source = sources.files.get(file_id);
        let id = source.map_or_else(|| format!("file{file_id}"), |s| s.id.clone());
        let scenario = program.scenarios.len();
        match program.scenario_ids.entry(id.clone()) {
            Entry::Vacant(slot) => {
                slot.insert(scenario);
            }
            Entry::Occupied(first) => {
                let first = *first.get();
                let span = file
                    .display_name
                    .as_ref()
                    .map_or(Span::new(0, 0), |(_, span)| *span);
                diagnostics.push(
                    Diagnostic::new(
                        Code::DuplicateScenario,
                        file_id,
                        span,
                        format!("two files are the scenario `{id}`"),
                    )
                    .with_label(format!("this file's scenario id is `{id}`"))
                    .with_related(first, Span::new(0, 0), "and so is this file's")
                    .with_help(
                        "a scenario's id is its file name without `.scn`; rename one of the files",
                    ),
                );
            }
        }
        let start = program.blocks.len() as u32;
        let mut blocks = HashMap::with_capacity(file.blocks.len() + file.broken_blocks.len());
        for (name, index) in in_source_order(file) {
            let id = BlockId(program.blocks.len() as u32);
            match blocks.entry(name.name.clone()) {
                Entry::Vacant(slot) => {
                    slot.insert(id);
                }
                Entry::Occupied(first) => {
                    let first: &BlockInfo = &program.blocks[first.get().index()];
                    diagnostics.push(
                        Diagnostic::new(
                            Code::DuplicateBlock,
                            file_id,
                            name.span,
                            format!("block `{}` is defined twice", name.name),
                        )
                        .with_label("defined again here")
                        .with_related(file_id, first.span, "first defined here")
                        .with_help("block names are unique within a scenario; rename one of them"),
                    );
                }
            }
            program.blocks.push(BlockInfo {
                scenario,
                name: name.name.clone(),
                span: name.span,
                index,
            });
        }
        program.scenarios.push(ScenarioInfo {
            name: file
                .display_name
                .as_ref()
                .map_or_else(|| id.clone(), |(n, _)| n.clone()),
            id,
            file: file_id,
            blocks,
            block_range: start..program.blocks.len() as u32,
        });
        declarations(&mut program.declarations, files, file_id, diagnostics);
    }
    program
}

/// The names of a file's blocks, parsed and broken ones merged by position, with the index of
/// the parsed ones in `file.blocks`.
fn in_source_order(file: &ast::File) -> impl Iterator<Item = (&ast::Ident, Option<usize>)> {
    let mut parsed = file.blocks.iter().enumerate().peekable();
    let mut broken = file.broken_blocks.iter().peekable();
    std::iter::from_fn(move || match (parsed.peek(), broken.peek()) {
        (Some((_, block)), Some(name)) if name.span.start < block.name.span.start => {
            broken.next().map(|name| (name, None))
        }
        (Some(_), _) => parsed.next().map(|(i, block)| (&block.name, Some(i))),
        (None, _) => broken.next().map(|name| (name, None)),
    })
}

fn declarations(
    table: &mut HashMap<String, DeclarationInfo>,
    files: &[ast::File],
    file_id: usize,
    diagnostics: &mut Diagnostics,
) {
    for (index, decl) in files[file_id].declarations.iter().enumerate() {
        let name = &decl.var.name;
        if is_special(name) {
            diagnostics.push(read_only(file_id, decl.var.span, name));
            continue;
        }
        match table.entry(name.clone()) {
            Entry::Vacant(slot) => {
                slot.insert(DeclarationInfo {
                    scope: decl.scope,
                    file: file_id,
                    index,
                });
            }
            Entry::Occupied(first) => {
                let first = *first.get();
                let first_span = files[first.file].declarations[first.index].var.span;
                diagnostics.push(
                    Diagnostic::new(
                        Code::DuplicateDeclaration,
                        file_id,
                        decl.var.span,
                        format!("`%{name}%` is declared twice"),
                    )
                    .with_label("declared again here")
                    .with_related(first.file, first_span, "first declared here")
                    .with_help(
                        "a declaration is bot-wide and appears once; change the value with `set`",
                    ),
                );
            }
        }
    }
}

/// The error for assigning or declaring a variable the runtime owns.
pub(super) fn read_only(file: usize, span: Span, name: &str) -> Diagnostic {
    Diagnostic::new(
        Code::ReadOnlyVariable,
        file,
        span,
        format!("`%{name}%` is read-only"),
    )
    .with_label("set by the runtime")
    .with_help(format!(
        "store a copy in a variable of your own: `set %my_{name}% = %{name}%`"
    ))
}
