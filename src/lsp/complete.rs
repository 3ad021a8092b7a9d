//! Completion and hover: what an editor offers at a position of a buffer that is being typed
//! (and so often does not parse), from the checker's tables — blocks, declared and assigned
//! variables, the special variables and the built-in functions.

use lsp_types as lsp;

use crate::check::{functions, SPECIAL_VARIABLES};
use crate::syntax::ast::Scope;
use crate::Program;

/// Words that start a statement inside a block.
const STATEMENTS: &[&str] = &[
    "say", "wait", "set", "unset", "if", "elif", "else", "match", "goto", "call", "return", "end",
    "extract", "http", "notify", "log", "for", "schedule", "cancel",
];
/// Words that start a top-level item.
const ITEMS: &[&str] = &["block", "on", "user", "global", "scenario"];

fn is_word_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// Completion items at byte `offset` of `text`, the file `file` of `program`.
pub fn complete(
    program: &Program,
    file: usize,
    text: &str,
    offset: usize,
) -> Vec<lsp::CompletionItem> {
    let line_start = text[..offset].rfind('\n').map_or(0, |p| p + 1);
    let prefix = &text[line_start..offset];
    let after = &text[offset..];
    if let Some(partial) = open_variable(prefix) {
        return variables(program, partial, !after.starts_with('%'));
    }
    if let Some(partial) = after_jump(prefix) {
        return blocks(program, file, partial);
    }
    let word_start = prefix.trim_end_matches(is_word_char);
    if word_start.trim().is_empty() {
        let words = if word_start.is_empty() {
            ITEMS
        } else {
            STATEMENTS
        };
        return words
            .iter()
            .map(|w| lsp::CompletionItem {
                label: (*w).to_string(),
                kind: Some(lsp::CompletionItemKind::KEYWORD),
                ..lsp::CompletionItem::default()
            })
            .collect();
    }
    functions::FUNCTIONS
        .iter()
        .map(|f| lsp::CompletionItem {
            label: f.name.to_string(),
            kind: Some(lsp::CompletionItemKind::FUNCTION),
            detail: Some(f.signature.to_string()),
            insert_text: Some(format!("{}($1)", f.name)),
            insert_text_format: Some(lsp::InsertTextFormat::SNIPPET),
            ..lsp::CompletionItem::default()
        })
        .collect()
}

/// The part of a variable name typed after an opening `%`, if the cursor is inside one.
fn open_variable(prefix: &str) -> Option<&str> {
    let last = prefix.rfind('%')?;
    let partial = &prefix[last + 1..];
    let odd = prefix.matches('%').count() % 2 == 1;
    (odd && partial.chars().all(|c| is_word_char(c) || c == '.')).then_some(partial)
}

/// The part of a block name typed after `goto`/`call` (also in buttons and triggers).
fn after_jump(prefix: &str) -> Option<&str> {
    let partial_start = prefix
        .char_indices()
        .rev()
        .find(|(_, c)| !(is_word_char(*c) || *c == ':'))
        .map_or(0, |(i, c)| i + c.len_utf8());
    let before = prefix[..partial_start].trim_end();
    let ends_with_word = |w: &str| {
        before.ends_with(w)
            && before[..before.len() - w.len()]
                .chars()
                .last()
                .is_none_or(|c| !is_word_char(c))
    };
    (partial_start > before.len() && (ends_with_word("goto") || ends_with_word("call")))
        .then_some(&prefix[partial_start..])
}

fn variables(program: &Program, partial: &str, close: bool) -> Vec<lsp::CompletionItem> {
    let item = |name: &str, detail: &str| lsp::CompletionItem {
        label: name.to_string(),
        kind: Some(lsp::CompletionItemKind::VARIABLE),
        detail: Some(detail.to_string()),
        insert_text: Some(if close {
            format!("{name}%")
        } else {
            name.to_string()
        }),
        ..lsp::CompletionItem::default()
    };
    let mut out: Vec<lsp::CompletionItem> = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for name in SPECIAL_VARIABLES {
        seen.insert(name.to_string());
        out.push(item(name, "special (set by the runtime, read-only)"));
    }
    let mut declared: Vec<(&String, Scope)> = program
        .declarations
        .iter()
        .map(|(n, d)| (n, d.scope))
        .collect();
    declared.sort_by(|a, b| a.0.cmp(b.0));
    for (name, scope) in declared {
        if seen.insert(name.clone()) {
            let detail = match scope {
                Scope::User => "user variable (kept per user)",
                Scope::Global => "global variable (one for the whole bot)",
            };
            out.push(item(name, detail));
        }
    }
    for name in &program.assigned {
        if seen.insert(name.clone()) {
            out.push(item(name, "temporary variable (lives until the run ends)"));
        }
    }
    let root = partial.split('.').next().unwrap_or("");
    out.retain(|i| i.label.starts_with(root));
    out
}

fn blocks(program: &Program, file: usize, partial: &str) -> Vec<lsp::CompletionItem> {
    let mut out = Vec::new();
    for b in &program.blocks {
        let scenario = &program.scenarios[b.scenario];
        let label = if scenario.file == file {
            b.name.clone()
        } else {
            format!("{}::{}", scenario.id, b.name)
        };
        if label.starts_with(partial) || b.name.starts_with(partial) {
            out.push(lsp::CompletionItem {
                label,
                kind: Some(lsp::CompletionItemKind::FUNCTION),
                detail: Some(format!("block of {}", scenario.name)),
                ..lsp::CompletionItem::default()
            });
        }
    }
    out
}

/// Hover text at byte `offset`: a built-in function's signature, or a variable's scope.
pub fn hover(program: &Program, text: &str, offset: usize) -> Option<String> {
    let start = text[..offset]
        .char_indices()
        .rev()
        .find(|(_, c)| !is_word_char(*c))
        .map_or(0, |(i, c)| i + c.len_utf8());
    let end = text[offset..]
        .char_indices()
        .find(|(_, c)| !is_word_char(*c))
        .map_or(text.len(), |(i, _)| offset + i);
    let word = &text[start..end];
    if word.is_empty() {
        return None;
    }
    // `%name%` or the root of `%name.path%`.
    if text[..start].ends_with('%') {
        return Some(variable_doc(program, word));
    }
    let f = functions::lookup(word)?;
    if !text[end..].trim_start().starts_with('(') && !text[..start].trim_end().ends_with(['|', '.'])
    {
        return None;
    }
    Some(format!(
        "```\n{}\n```\n{}\n\nbuilt-in function, {} (docs/REFERENCE.md, Functions)",
        f.signature,
        f.doc,
        f.arity_text()
    ))
}

fn variable_doc(program: &Program, name: &str) -> String {
    if SPECIAL_VARIABLES.contains(&name) {
        return format!("`%{name}%`: special variable, set by the runtime (read-only)");
    }
    match program.declarations.get(name) {
        Some(d) => {
            let scope = match d.scope {
                Scope::User => "user variable: kept per user, across runs and scenarios",
                Scope::Global => "global variable: one value shared by every user of the bot",
            };
            let file = program.scenarios.get(d.file).map_or("", |s| s.id.as_str());
            format!("`%{name}%`: {scope} (declared in `{file}`)")
        }
        None if program.assigned.iter().any(|a| a == name) => {
            format!("`%{name}%`: temporary variable, from its first assignment until the run ends")
        }
        None => format!("`%{name}%`: never assigned or declared in this bot (reads give null)"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn contexts() {
        assert_eq!(open_variable("  say \"Hi %us"), Some("us"));
        assert_eq!(open_variable("  say \"%a% and %"), Some(""));
        assert_eq!(open_variable("  say \"%a% "), None);
        assert_eq!(after_jump("  goto me"), Some("me"));
        assert_eq!(after_jump("  button \"x\" goto other::h"), Some("other::h"));
        assert_eq!(after_jump("  call "), Some(""));
        assert_eq!(after_jump("  say \"goto"), None);
        assert_eq!(after_jump("  nogoto x"), None);
    }
}
