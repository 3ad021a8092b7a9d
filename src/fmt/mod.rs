//! Scenario text in, the same scenario in the canonical layout out (`scenarist fmt`).
//!
//! The layout is computed from the parser's tree, in two passes. First the spacing inside
//! lines (`respace`): from the tree's tokens (words, literals, and the punctuation whose role
//! the text does not tell: a dictionary's braces, an index's brackets, a slice's colons, a
//! negation's `-`, a call's name) one canonical space or none goes between neighbours; line
//! breaks and comments stay where they are. Then the lines (`relayout`): the literals
//! (strings, regexes) are left exactly as written, and everything outside them is re-laid:
//! indentation of two spaces per open bracket, no trailing spaces, no tabs for indentation, at
//! most one blank line in a row and none just inside a `{ … }`, one blank line between
//! top-level blocks, LF line ends, a final newline. Comments stay on their lines, re-indented with the code around them.
//! Quote style and the insides of literals are kept as written. Last, lines longer than 100
//! columns are broken at their brackets (`wrap`), one element per line.
//!
//! The result is parsed again and must give the same tree (spans aside) as the input: the
//! formatter never changes what a bot does. Should the re-spaced text not give it (a bug of
//! the spacing rules), the lines alone are re-laid; should that fail too, the file is refused.

mod respace;
mod wrap;

use crate::diagnostic::Diagnostic;
use crate::syntax::{self, Span};

/// Why a file was not formatted.
#[derive(Debug)]
pub enum FmtError {
    /// The file has syntax errors: formatting it could change what it means.
    Syntax(Vec<Diagnostic>),
    /// The re-laid text would not parse to the same tree (a bug of the formatter); the file is
    /// left alone.
    Changed,
}

/// Formats one file's text.
pub fn format(text: &str) -> Result<String, FmtError> {
    format_how(text).map(|(out, _)| out)
}

/// How a file was formatted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pass {
    /// Spacing inside lines and the layout of lines: the normal case.
    Full,
    /// Only the layout of lines: the re-spaced text did not give the same tree (a bug of the
    /// spacing rules; tests require [`Pass::Full`] of every file they format).
    LayoutOnly,
}

/// [`format`], also telling which pass gave the result.
pub fn format_how(text: &str) -> Result<(String, Pass), FmtError> {
    let (before, diags) = syntax::parse_with_tokens(0, text);
    if !diags.is_empty() {
        return Err(FmtError::Syntax(diags));
    }
    let (spaced, literals) = respace::respace(text, &before.tokens);
    let out = relayout(&spaced, &literals);
    if keeps_tree(&before, &out) {
        return Ok((wrap_long_lines(&before, out), Pass::Full));
    }
    let out = relayout(text, &before.literals);
    if keeps_tree(&before, &out) {
        return Ok((wrap_long_lines(&before, out), Pass::LayoutOnly));
    }
    Err(FmtError::Changed)
}

/// `out` (formatted, with the tree of `before`) with its long lines broken at their brackets,
/// a level of brackets per round, as long as the tree stays the same.
fn wrap_long_lines(before: &syntax::ast::File, mut out: String) -> String {
    // Each round breaks one level of brackets; values nest at most 100 deep.
    for _ in 0..100 {
        if !out.lines().any(|l| l.chars().count() > wrap::WIDTH) {
            break;
        }
        let (now, _) = syntax::parse_with_tokens(0, &out);
        let Some(broken) = wrap::break_long_lines(&out, &now.literals, &now.tokens) else {
            break;
        };
        let (after, _) = syntax::parse(0, &broken);
        let relaid = relayout(&broken, &after.literals);
        if !keeps_tree(before, &relaid) {
            break;
        }
        out = relaid;
    }
    out
}

/// Whether `out` parses, without errors, to the tree of `before`.
fn keeps_tree(before: &syntax::ast::File, out: &str) -> bool {
    let (after, diags) = syntax::parse(0, out);
    diags.is_empty() && same_tree(before, &after)
}

/// Trees equal apart from spans (and the literal positions, which move with the layout).
fn same_tree(a: &syntax::ast::File, b: &syntax::ast::File) -> bool {
    a.display_name.as_ref().map(|d| &d.0) == b.display_name.as_ref().map(|d| &d.0)
        && a.declarations == b.declarations
        && a.triggers == b.triggers
        && a.blocks == b.blocks
        && a.broken_blocks == b.broken_blocks
}

/// The literals as sorted, non-overlapping spans (those nested in `{{ }}` holes dropped).
fn outer_literals(literals: &[Span]) -> Vec<Span> {
    let mut spans: Vec<Span> = literals.to_vec();
    spans.sort_by_key(|s| (s.start, std::cmp::Reverse(s.end)));
    let mut out: Vec<Span> = Vec::with_capacity(spans.len());
    for s in spans {
        match out.last() {
            Some(last) if s.start < last.end => {}
            _ => out.push(s),
        }
    }
    out
}

const INDENT: &str = "  ";

/// One source line as the layout sees it.
struct Line<'t> {
    /// The line's text without its line end.
    text: &'t str,
    /// The line starts inside a literal that began on an earlier line: kept byte for byte.
    verbatim: bool,
    /// Its line end lies inside a literal (a multi-line string goes on): no trimming at the end.
    open_end: bool,
    /// Indentation level: brackets open at its start, less the closers it starts with, plus
    /// one when it continues the statement of the line before.
    level: usize,
    /// Where a comment starts in `text`, if the line has one.
    comment_at: Option<usize>,
}

/// Whether a line whose code ends in `tail` leaves its statement open (the grammar allows a
/// line break after these), so the next line is a continuation.
fn leaves_statement_open(tail: &str) -> bool {
    let tail = tail.trim_end();
    if tail.ends_with("::") {
        return false;
    }
    if tail.ends_with(['=', ':', '|', '+', '-', '*', '/', '<', '>', '\\']) {
        // `->` ends with `>` but is followed by a variable on the same line.
        return !tail.ends_with("->");
    }
    let word = tail
        .rsplit(|c: char| !c.is_alphanumeric() && c != '_')
        .next()
        .unwrap_or("");
    matches!(word, "and" | "or" | "not" | "in" | "like" | "matches")
        && tail.len() > word.len()
        && tail[..tail.len() - word.len()].ends_with([' ', '\t'])
}

fn relayout(text: &str, literals: &[Span]) -> String {
    let (bom, body) = match text.strip_prefix('\u{FEFF}') {
        Some(rest) => ("\u{FEFF}", rest),
        None => ("", text),
    };
    let shift = bom.len();
    let literals = outer_literals(literals);
    // The literal covering `at` (an offset into `body`), if any.
    let in_literal = |at: usize| -> Option<(usize, usize)> {
        let abs = at + shift;
        let i = literals.partition_point(|s| s.end <= abs);
        literals
            .get(i)
            .filter(|s| s.start <= abs)
            .map(|s| (s.start - shift, s.end - shift))
    };
    let mut lines: Vec<Line<'_>> = Vec::new();
    let mut depth = 0usize;
    // Whether the last line with code left its statement open, and the depth it was at.
    let mut open_statement: Option<usize> = None;
    let mut start = 0usize;
    loop {
        let end = body[start..].find('\n').map_or(body.len(), |p| start + p);
        let raw = &body[start..end];
        let verbatim = in_literal(start).is_some_and(|(s, _)| s < start);
        let open_end = end < body.len() && in_literal(end).is_some();
        let depth_before = depth;
        let mut leading_closers = 0;
        let mut seen_code = false;
        let mut last_code: Option<char> = None;
        let mut comment_at = None;
        let mut code_end = 0;
        let mut i = 0;
        while i < raw.len() {
            if let Some((_, lit_end)) = in_literal(start + i) {
                seen_code = true;
                last_code = Some('"');
                i = lit_end.min(end) - start;
                code_end = i;
                continue;
            }
            let Some(c) = raw[i..].chars().next() else {
                break;
            };
            match c {
                '#' => {
                    comment_at = Some(i);
                    break;
                }
                '{' | '(' | '[' => depth += 1,
                '}' | ')' | ']' => {
                    depth = depth.saturating_sub(1);
                    if !seen_code {
                        leading_closers += 1;
                    }
                }
                _ => {}
            }
            if !c.is_whitespace() {
                if !matches!(c, '}' | ')' | ']') {
                    seen_code = true;
                }
                last_code = Some(c);
                code_end = i + c.len_utf8();
            }
            i += c.len_utf8();
        }
        let code = raw[..code_end].trim_start();
        let starts_pipe = code.starts_with('|') && !code.starts_with("||");
        let continued =
            !verbatim && !code.is_empty() && (open_statement == Some(depth_before) || starts_pipe);
        let tail = if last_code == Some('"') {
            ""
        } else {
            &raw[..code_end]
        };
        lines.push(Line {
            text: raw,
            verbatim,
            open_end,
            level: depth_before.saturating_sub(leading_closers) + usize::from(continued),
            comment_at,
        });
        if !code.is_empty() && !verbatim {
            open_statement = (!open_end && depth == depth_before && leaves_statement_open(tail))
                .then_some(depth);
        }
        if end >= body.len() {
            break;
        }
        start = end + 1;
    }
    emit(bom, &lines)
}

/// Writes the lines at their levels, with the blank-line rules of the module's header.
fn emit(bom: &str, lines: &[Line<'_>]) -> String {
    let mut out = String::with_capacity(lines.iter().map(|l| l.text.len() + 4).sum());
    out.push_str(bom);
    // What the last line written was: nothing yet, blank, or code/comment (trimmed text).
    let mut last: Option<String> = None;
    let mut pending_blank = false;
    // The previous line's trailing comment: its column before and after (in characters).
    let mut trailing_comment: Option<(usize, usize)> = None;
    for line in lines {
        if line.verbatim {
            out.push_str(line.text);
            out.push('\n');
            last = Some(String::from("\""));
            trailing_comment = None;
            continue;
        }
        let content = line.text.trim_start_matches([' ', '\t']);
        let lead = line.text.len() - content.len();
        let content = if line.open_end {
            content
        } else {
            content.trim_end_matches([' ', '\t', '\r'])
        };
        if content.is_empty() {
            pending_blank = last.is_some();
            continue;
        }
        let closes = content.starts_with(['}', ')', ']']);
        let after_open = last
            .as_deref()
            .is_some_and(|l| l.ends_with(['{', '(', '[']));
        // A top-level block is set off from what comes before it (a comment above it belongs
        // to it), and so is whatever follows a block's closing `}`.
        let top_level_item = line.level == 0
            && !content.starts_with(['}', '#'])
            && last.as_deref().is_some_and(|l| {
                l == "}"
                    || l.starts_with("} ")
                    || (content.starts_with("block ") && !l.starts_with([' ', '#']))
            });
        if (pending_blank && !closes && !after_open) || top_level_item {
            out.push('\n');
        }
        pending_blank = false;
        let mut indent = line.level * INDENT.len();
        // A comment on a line of its own, in the column of the trailing comment above it,
        // goes on that comment: it stays in that comment's column.
        let mut aligned = None;
        if content.starts_with('#') {
            let column = line.text[..lead].chars().count();
            if let Some((before, after)) = trailing_comment {
                if column == before {
                    indent = after;
                    aligned = Some((before, after));
                }
            }
        }
        trailing_comment = aligned.or_else(|| {
            line.comment_at.filter(|&at| at > lead).map(|at| {
                let before = line.text[..at].chars().count();
                (before, indent + line.text[lead..at].chars().count())
            })
        });
        out.extend(std::iter::repeat_n(' ', indent));
        out.push_str(content);
        out.push('\n');
        last = Some(if line.level == 0 {
            content.to_string()
        } else {
            format!(" {content}")
        });
    }
    if out.len() == bom.len() {
        out.clear();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fmt(text: &str) -> String {
        match format(text) {
            Ok(s) => s,
            Err(e) => panic!("{e:?}"),
        }
    }

    #[test]
    fn reindents_and_trims() {
        let messy = "on start goto a\nblock a {\n\tsay \"hi\"   \n      if 1 {\n say 'x'\n}\n\n\n  end\n}\nblock b { end }\n";
        assert_eq!(
            fmt(messy),
            "on start goto a\n\nblock a {\n  say \"hi\"\n  if 1 {\n    say 'x'\n  }\n\n  end\n}\n\nblock b { end }\n"
        );
    }

    #[test]
    fn multi_line_strings_are_kept_as_written() {
        let text = "block a {\n    say \"\"\"\n   first  \n      second\n  \"\"\"\n}\n";
        assert_eq!(
            fmt(text),
            "block a {\n  say \"\"\"\n   first  \n      second\n  \"\"\"\n}\n"
        );
    }

    #[test]
    fn brackets_in_strings_regexes_and_comments_do_not_count() {
        let text = "block a {\nsay \"{ ( [\" # { not a bracket\nif %m% matches /\\d{3}/ {\nsay '}'\n}\n}\n";
        assert_eq!(
            fmt(text),
            "block a {\n  say \"{ ( [\" # { not a bracket\n  if %m% matches /\\d{3}/ {\n    say '}'\n  }\n}\n"
        );
    }

    #[test]
    fn is_idempotent_and_refuses_syntax_errors() {
        let once = fmt("block a {\nsay \"x\"\n}\n\n\n\nblock b {\n  end\n}");
        assert_eq!(fmt(&once), once);
        assert!(matches!(
            format("block a {\n  say (\n"),
            Err(FmtError::Syntax(_))
        ));
    }
}
