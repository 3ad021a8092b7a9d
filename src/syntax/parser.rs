//! Source text in, pest pairs out: the grammar, one top-level item at a time, and what the
//! item loop of `file.rs` needs to recover after an error (where items start, where to
//! resume, how deep brackets nest). Syntax errors become [`Diagnostic`]s here.

use pest::error::{ErrorVariant, InputLocation};
use pest::iterators::Pairs;
use pest::Parser as _;

use super::{ast, Span};
use crate::diagnostic::{Code, Diagnostic, FileId};

#[derive(pest_derive::Parser)]
#[grammar = "../grammar/scenario.pest"]
pub(super) struct ScenarioParser;

/// Deepest bracket nesting accepted; deeper input is reported instead of parsed (the parser
/// and everything after it recurse once per level).
const MAX_NESTING: usize = 64;

/// Words that start a top-level item at the beginning of a line: where parsing resumes.
const ITEM_STARTS: [&str; 5] = ["block", "on", "user", "global", "scenario"];

/// Skips blank lines, spaces, comments, `;` and `\` line continuations: all that the
/// grammar's `lead` accepts. (Stopping short of a continuation would hand pest a window
/// holding nothing but blanks, which it reads as the end of the file.)
pub(super) fn skip_lead(text: &str, mut k: usize) -> usize {
    let bytes = text.as_bytes();
    while k < bytes.len() {
        match bytes[k] {
            b' ' | b'\t' | b'\n' | b'\r' | b';' => k += 1,
            b'\\' if matches!(bytes.get(k + 1), Some(b'\n' | b'\r')) => k += 2,
            b'#' => k = memchr_from(bytes, b'\n', k),
            _ => break,
        }
    }
    k
}

fn memchr_from(bytes: &[u8], needle: u8, from: usize) -> usize {
    bytes[from..]
        .iter()
        .position(|b| *b == needle)
        .map_or(bytes.len(), |p| from + p)
}

/// Parses the item at `k`, first on a window ending a few top-level lines later, widening the
/// window (doubling the number of lines) only while the parse runs into its end. pest's error
/// reporting scans from the end of its input back to the error, so a window that ends near the
/// item keeps many errors in a large file from costing quadratic time.
pub(super) fn parse_item<'t>(
    text: &'t str,
    k: usize,
    limit: usize,
    item_lines: &[usize],
) -> Result<Pairs<'t, Rule>, (usize, ErrorVariant<Rule>)> {
    let mut lines = 1;
    loop {
        let bound = window_end(item_lines, k, lines, limit);
        match ScenarioParser::parse(Rule::item_step, &text[k..bound]) {
            Ok(pairs) => return Ok(pairs),
            Err(e) => {
                let at = k + match e.location {
                    InputLocation::Pos(p) => p,
                    InputLocation::Span((p, _)) => p,
                };
                if at < bound || bound >= limit {
                    return Err((at, e.variant));
                }
            }
        }
        lines *= 2;
    }
}

/// The end of the text pest is given for the item at `k`: `lines` item lines further on, at
/// most `limit`.
pub(super) fn window_end(item_lines: &[usize], k: usize, lines: usize, limit: usize) -> usize {
    let first = item_lines.partition_point(|&l| l <= k);
    item_lines
        .get(first + lines - 1)
        .copied()
        .unwrap_or(limit)
        .min(limit)
}

/// Parses the inside of a `{{ … }}` hole at absolute offset `at`.
pub(super) fn parse_template_expr(
    src: &str,
) -> Result<Pairs<'_, Rule>, (usize, Box<ErrorVariant<Rule>>)> {
    if let Some(p) = prescan(src).deep.first() {
        return Err((
            *p,
            Box::new(ErrorVariant::CustomError {
                message: "nested too deeply".into(),
            }),
        ));
    }
    ScenarioParser::parse(Rule::template_expr, src).map_err(|e| {
        let at = match e.location {
            InputLocation::Pos(p) => p,
            InputLocation::Span((p, _)) => p,
        };
        (at, Box::new(e.variant))
    })
}

/// A syntax error in the text of a `{{ }}` hole. Where the hole's text ends too early, that
/// is the end of the `{{ }}`, not of the file: say what was expected before it.
pub(super) fn hole_syntax_error(
    file: FileId,
    src: &str,
    at: usize,
    variant: &ErrorVariant<Rule>,
) -> Diagnostic {
    if skip_lead(src, at) < src.len() {
        return syntax_error(file, src, at, variant);
    }
    const FOUND: &str = "the end of the `{{ }}`";
    if let Some(d) = inside_brackets(file, src, at, Some(FOUND)) {
        return d;
    }
    let expected = match variant {
        ErrorVariant::ParsingError { positives, .. } => describe_expected(positives),
        ErrorVariant::CustomError { .. } => String::new(),
    };
    let expected = if expected.is_empty() || positives_are_after_value(variant) {
        "more of the expression".to_string()
    } else {
        expected
    };
    let at = at.min(src.len());
    Diagnostic::new(
        Code::Syntax,
        file,
        Span::new(at, at),
        format!("expected {expected}, found {FOUND}"),
    )
    .with_label(format!("expected {expected}"))
    .with_help("finish the expression before `}}`, e.g. `{{ %n% + 1 }}`")
}

/// Whether pest stopped after a complete value (only an operator or `if` could go on).
fn positives_are_after_value(variant: &ErrorVariant<Rule>) -> bool {
    match variant {
        ErrorVariant::ParsingError { positives, .. } => {
            positives.contains(&Rule::kw_if)
                && positives
                    .iter()
                    .all(|r| matches!(r, Rule::kw_if | Rule::slice_rest) || is_operator(*r))
        }
        ErrorVariant::CustomError { .. } => false,
    }
}

pub(super) fn too_deep(file: FileId, at: usize) -> Diagnostic {
    Diagnostic::new(
        Code::TooDeep,
        file,
        Span::new(at, at + 1),
        format!("brackets are nested more than {MAX_NESTING} levels deep"),
    )
    .with_label("too deep")
    .with_help("split the expression or the block into smaller pieces")
}

/// The largest top-level item (a block, a trigger…) the parser takes: parsing needs memory
/// proportional to the text of one item, so a runaway one is refused up front.
pub(super) const MAX_ITEM_BYTES: usize = 1 << 20;

pub(super) fn too_large_item(file: FileId, at: usize, len: usize) -> Diagnostic {
    let line_end = at + 1;
    Diagnostic::new(
        Code::TooLarge,
        file,
        Span::new(at, line_end),
        format!(
            "this item is {} KiB long; a block (or any top-level item) may be at most {} KiB",
            len.div_ceil(1024),
            MAX_ITEM_BYTES >> 10
        ),
    )
    .with_label("starts here")
    .with_help("split it into several blocks (`goto next_part`)")
}

/// What one lexing pass over a file finds before parsing.
pub(super) struct Prescan {
    /// Where bracket nesting first exceeds [`MAX_NESTING`], once per excursion.
    pub deep: Vec<usize>,
    /// Starts of the lines that begin with a top-level keyword.
    pub item_lines: Vec<usize>,
}

/// The bytes [`prescan`] looks at; it passes over all others.
const PRESCAN_STOPS: [bool; 256] = {
    let mut stops = [false; 256];
    let special = b"#\"'()[]{}\n";
    let mut i = 0;
    while i < special.len() {
        stops[special[i] as usize] = true;
        i += 1;
    }
    stops
};

/// Lexes just enough to skip comments and strings the way the grammar does (triple-quoted
/// strings are the only tokens that span lines), counting brackets and noting item lines.
pub(super) fn prescan(text: &str) -> Prescan {
    let bytes = text.as_bytes();
    let mut found = Prescan {
        deep: Vec::new(),
        item_lines: Vec::new(),
    };
    let mut depth = 0usize;
    let mut reported = false;
    let mut i = 0;
    while i < bytes.len() {
        // Most bytes are none of the ones below: pass over them in a tight loop.
        if !PRESCAN_STOPS[usize::from(bytes[i])] {
            i += 1;
            continue;
        }
        match bytes[i] {
            b'#' => {
                i = memchr_from(bytes, b'\n', i);
                continue;
            }
            b'"' if bytes[i..].starts_with(b"\"\"\"") => {
                i = text[i + 3..]
                    .find("\"\"\"")
                    .map_or(bytes.len(), |e| i + 3 + e + 3);
                continue;
            }
            q @ (b'"' | b'\'') => {
                i += 1;
                while i < bytes.len() && bytes[i] != q && bytes[i] != b'\n' {
                    i += if bytes[i] == b'\\' { 2 } else { 1 };
                }
                if bytes.get(i) == Some(&q) {
                    i += 1;
                }
                continue;
            }
            b'(' | b'[' | b'{' => {
                depth += 1;
                if depth > MAX_NESTING && !reported {
                    found.deep.push(i);
                    reported = true;
                }
            }
            b')' | b']' | b'}' => {
                depth = depth.saturating_sub(1);
                if depth <= MAX_NESTING {
                    reported = false;
                }
            }
            b'\n' if starts_item(&text[i + 1..]) => found.item_lines.push(i + 1),
            _ => {}
        }
        i += 1;
    }
    found
}

/// Where to resume after an error at `at` in the item that started at `start`: the first line
/// after `start` that begins (in column 1) with a top-level keyword, at or after `at`'s line.
pub(super) fn resync(text: &str, start: usize, at: usize) -> usize {
    let at = at.min(text.len());
    let mut line = text[..at].rfind('\n').map_or(0, |p| p + 1);
    loop {
        if line > start && starts_item(&text[line..]) {
            return line;
        }
        match text[line..].find('\n') {
            Some(nl) => line += nl + 1,
            None => return text.len(),
        }
    }
}

fn starts_item(line: &str) -> bool {
    ITEM_STARTS.iter().any(|kw| {
        line.strip_prefix(kw)
            .is_some_and(|rest| rest.starts_with([' ', '\t']))
    })
}

/// `block NAME` at `start`: the name of a block whose body failed to parse.
pub(super) fn broken_block_name(text: &str, start: usize) -> Option<ast::Ident> {
    let rest = text[start..].trim_start_matches(|c: char| c.is_whitespace() || c == ';');
    let offset = text.len() - rest.len();
    let after = rest.strip_prefix("block")?;
    let name_start = after.len() - after.trim_start_matches([' ', '\t']).len();
    if name_start == 0 {
        return None;
    }
    let name: String = after[name_start..]
        .chars()
        .take_while(|c| c.is_alphanumeric() || *c == '_')
        .collect();
    if !super::template::is_ident(&name) {
        return None;
    }
    let s = offset + 5 + name_start;
    Some(ast::Ident {
        span: Span::new(s, s + name.len()),
        name,
    })
}

/// Words an expression gives a meaning of its own: they cannot name a lambda parameter.
pub(super) const RESERVED: &[&str] = &[
    "if", "elif", "else", "and", "or", "not", "in", "like", "matches", "true", "false", "null",
    "True", "False", "None",
];

/// `map(%l%, if => if)`: a keyword used as a lambda parameter.
fn keyword_parameter(file: FileId, text: &str, at: usize, end: usize) -> Option<Diagnostic> {
    let word = text.get(at..end)?;
    if !RESERVED.contains(&word) {
        return None;
    }
    let (_, line) = line_around(text, at);
    let line_start = text[..at].rfind('\n').map_or(0, |p| p + 1);
    let param = [
        format!("{word} =>"),
        format!("({word},"),
        format!(", {word})"),
    ]
    .iter()
    .find_map(|pattern| {
        let p = line.find(pattern.as_str())?;
        let skip = usize::from(pattern.starts_with(['(', ',']))
            * (1 + usize::from(pattern.starts_with(',')));
        Some(line_start + p + skip)
    })?;
    Some({
        Diagnostic::new(
            Code::Syntax,
            file,
            Span::new(param, param + word.len()),
            format!("`{word}` is a keyword: it cannot name a lambda parameter"),
        )
        .with_label("a keyword")
        .with_help("pick another name: `x => x * 2`")
    })
}

/// A pest failure rendered as "expected …, found …".
pub(super) fn syntax_error(
    file: FileId,
    text: &str,
    at: usize,
    variant: &ErrorVariant<Rule>,
) -> Diagnostic {
    let found = describe_found(text, at);
    let end = at + word_len(text.get(at..).unwrap_or(""));
    if let Some(d) = unclosed_string(file, text, at) {
        return d;
    }
    if let Some(d) = keyword_parameter(file, text, at, end) {
        return d;
    }
    if let Some(d) = unclosed_variable(file, text, at) {
        return d;
    }
    if let Some(d) = quote_inside_hole(file, text, at) {
        return d;
    }
    let at_item = text[at.min(text.len())..].starts_with("block")
        && (at == 0 || text.as_bytes()[at - 1] == b'\n');
    if (skip_lead(text, at) >= text.len() && !text.is_empty()) || at_item {
        if let Some(open) = unclosed_brace(text, at) {
            let (line, opener) = line_around(text, open);
            let shown: String = opener.trim().chars().take(60).collect();
            let what = if skip_lead(text, at) >= text.len() {
                "the file ends"
            } else {
                "the next block starts"
            };
            return Diagnostic::new(
                Code::Syntax,
                file,
                Span::new(at, end.max(at + 1).min(text.len().max(at))),
                format!("`{shown}` (line {line}) is not closed: {what} before its `}}`"),
            )
            .with_label(format!("expected `}}` before this ({what} here)"))
            .with_related(file, Span::new(open, open + 1), "this `{` is not closed")
            .with_help("add the missing `}`; every block, `if`, `match`, buttons and http options end with `}`");
        }
    }
    if skip_lead(text, at) >= text.len() && !text.is_empty() {
        return Diagnostic::new(Code::Syntax, file, Span::new(at, end), "unexpected end of file")
            .with_label("the file ends here")
            .with_help("a `{` is not closed: every block, `if`, `match`, buttons and http options end with `}`");
    }
    // After a complete value (where an operator, `a if cond else b` and, in an index, a slice
    // could go on).
    if positives_are_after_value(variant) {
        if let Some(d) = inside_brackets(file, text, at, None) {
            return d;
        }
    }
    if let Some(d) = match_arm_error(file, text, at, variant) {
        return d;
    }
    let (message, label) = match variant {
        ErrorVariant::ParsingError { positives, .. } => {
            let expected = describe_expected(positives);
            if expected.is_empty() {
                (format!("unexpected {found}"), "unexpected here".to_string())
            } else {
                (
                    format!("expected {expected}, found {found}"),
                    format!("expected {expected}"),
                )
            }
        }
        ErrorVariant::CustomError { message } => (message.clone(), message.clone()),
    };
    let mut d = Diagnostic::new(Code::Syntax, file, Span::new(at, end), message).with_label(label);
    if let Some(help) = help_for(text, at) {
        d = d.with_help(help);
    } else if let Some(word) = misspelt_keyword(text, at, variant) {
        d = d.with_help(format!("did you mean `{word}`?"));
    }
    d
}

/// A match arm that does not parse. pest stops at the arm's start (its `=>` is a silent
/// rule), so when its patterns do parse, say what is missing after them; otherwise say
/// what an arm starts with.
fn match_arm_error(
    file: FileId,
    text: &str,
    at: usize,
    variant: &ErrorVariant<Rule>,
) -> Option<Diagnostic> {
    let ErrorVariant::ParsingError { positives, .. } = variant else {
        return None;
    };
    let arm_start = if positives
        .iter()
        .any(|r| matches!(r, Rule::arm | Rule::arm_else))
    {
        at
    } else {
        // Stopped inside an arm's patterns (after a `,`): the arm starts its line.
        let line = text[..at.min(text.len())].rfind('\n').map_or(0, |p| p + 1);
        let start = skip_lead(text, line);
        if start >= at || !in_match(text, start) {
            return None;
        }
        start
    };
    let at = arm_start;
    const HELP: &str = "an arm is `PATTERNS => ACTION`, e.g. `\"yes\", \"y\" => goto confirm` \
        or `else => say \"Sorry?\"`";
    let rest = text.get(at..)?;
    let after = match ScenarioParser::parse(Rule::patterns, rest) {
        Ok(pairs) => at + pairs.last().map_or(0, |p| p.as_span().end()),
        Err(_) => {
            let found = describe_found(text, at);
            let end = at + word_len(rest);
            return Some(
                Diagnostic::new(
                    Code::Syntax,
                    file,
                    Span::new(at, end),
                    format!("expected a match arm, found {found}"),
                )
                .with_label("an arm starts with a text, a number, a regex, `like \"…\"` or `else`")
                .with_help(HELP),
            );
        }
    };
    let next = after + text[after..].len() - text[after..].trim_start_matches([' ', '\t']).len();
    if text[next..].starts_with("=>") {
        return None;
    }
    let found = describe_found(text, next);
    let end = next + word_len(&text[next..]);
    Some(
        Diagnostic::new(
            Code::Syntax,
            file,
            Span::new(next, end.max(next)),
            format!("expected `=>` or `,` after the arm's pattern, found {found}"),
        )
        .with_label("expected `=>` here")
        .with_related(file, Span::new(at, after), "this arm's pattern")
        .with_help(
            if text[next..].starts_with(['<', '>', '=', '!', '+', '-', '*', '/']) {
                "an arm's pattern is a value to compare with, not a condition: for a condition \
             write `if %n% > 3 { … } elif … { … }`"
            } else {
                HELP
            },
        ),
    )
}

/// Whether the `{` open at `at` is a `match`'s.
fn in_match(text: &str, at: usize) -> bool {
    unclosed_brace(text, at)
        .is_some_and(|o| line_around(text, o).1.trim_start().starts_with("match "))
}

/// The length of the word `rest` starts with (or of its first character): what a
/// diagnostic underlines where parsing stopped.
fn word_len(rest: &str) -> usize {
    let word = rest.len()
        - rest
            .trim_start_matches(|c: char| c.is_alphanumeric() || c == '_')
            .len();
    if word > 0 {
        word
    } else {
        rest.chars().next().map_or(0, char::len_utf8)
    }
}

/// The 1-based line number of a byte offset, and that line's text.
fn line_around(text: &str, at: usize) -> (usize, &str) {
    let start = text[..at].rfind('\n').map_or(0, |p| p + 1);
    let end = text[at..].find('\n').map_or(text.len(), |p| at + p);
    let line = text[..start].matches('\n').count() + 1;
    (line, text[start..end].trim_end_matches('\r'))
}

/// Which `{` is not closed at `at`, counted from the start of the item (the last `block` line
/// before `at`), skipping strings and comments. Indentation tells which one: a `}` that starts
/// its line closes the `{` of the line indented as much, so in a block whose inner `if` lacks
/// its `}` the block's own `}` does not hide the `if`'s — the `if` is the one reported.
fn unclosed_brace(text: &str, at: usize) -> Option<usize> {
    let at = at.min(text.len());
    let before = &text[..at];
    let item = before
        .trim_end_matches(['\n', '\r', ' ', '\t'])
        .rfind("\nblock ")
        .map_or(0, |p| p + 1);
    let bytes = text.as_bytes();
    let mut open = Vec::new();
    let mut unclosed = None;
    let mut i = item;
    while i < at {
        match bytes[i] {
            b'#' | b'"' | b'\'' => i = skip_comment_or_string(bytes, i, at),
            b'{' => open.push(i),
            b'}' => {
                // A `}` that starts its line closes the open `{` whose line is indented as
                // much: the ones opened after it (deeper) are the unclosed ones.
                let matched = if line_starts_with(text, i) {
                    let indent = indentation(text, i);
                    open.iter().rposition(|&o| indentation(text, o) == indent)
                } else {
                    None
                };
                match matched {
                    Some(m) if m + 1 < open.len() => {
                        unclosed.get_or_insert(open[m + 1]);
                        open.truncate(m);
                    }
                    _ => {
                        open.pop();
                    }
                }
            }
            _ => {}
        }
        i += 1;
    }
    unclosed.or_else(|| open.pop())
}

/// From the `#`, `"` or `'` at `i`, the offset of the last byte of that comment or string
/// (scanning no further than `at`): bracket counters skip what it holds.
fn skip_comment_or_string(bytes: &[u8], mut i: usize, at: usize) -> usize {
    match bytes[i] {
        b'#' => {
            while i < at && bytes[i] != b'\n' {
                i += 1;
            }
        }
        b'"' if bytes[i..].starts_with(b"\"\"\"") => {
            i += 3;
            while i < at && !bytes[i..].starts_with(b"\"\"\"") {
                i += 1;
            }
            i += 2;
        }
        q => {
            i += 1;
            while i < at && bytes[i] != q && bytes[i] != b'\n' {
                i += if bytes[i] == b'\\' { 2 } else { 1 };
            }
        }
    }
    i
}

/// Whether only spaces and tabs come before byte `at` on its line.
fn line_starts_with(text: &str, at: usize) -> bool {
    let start = text[..at].rfind('\n').map_or(0, |p| p + 1);
    text[start..at].bytes().all(|b| b == b' ' || b == b'\t')
}

/// How many spaces and tabs begin the line of byte `at`.
fn indentation(text: &str, at: usize) -> usize {
    let start = text[..at].rfind('\n').map_or(0, |p| p + 1);
    text[start..]
        .bytes()
        .take_while(|&b| b == b' ' || b == b'\t')
        .count()
}

/// `%name` without its closing `%`.
fn unclosed_variable(file: FileId, text: &str, at: usize) -> Option<Diagnostic> {
    let rest = text.get(at..)?.strip_prefix('%')?;
    let name: String = rest
        .chars()
        .take_while(|c| c.is_alphanumeric() || matches!(c, '_' | '.'))
        .collect();
    if name.is_empty() || rest[name.len()..].starts_with('%') {
        return None;
    }
    Some(
        Diagnostic::new(
            Code::Syntax,
            file,
            Span::new(at, at + 1 + name.len()),
            format!("`%{name}` is not closed: a variable is written between two `%`"),
        )
        .with_label("the closing `%` is missing")
        .with_help(format!("write `%{name}%`")),
    )
}

/// A `"` or `'` that starts a string the line does not close.
fn unclosed_string(file: FileId, text: &str, at: usize) -> Option<Diagnostic> {
    let rest = text.get(at..)?;
    let q = rest.chars().next().filter(|c| matches!(c, '"' | '\''))?;
    // Part of a `"""` (pest read `""` as an empty string before it): not this case.
    if rest.starts_with("\"\"\"") || text[..at].ends_with("\"\"") {
        return None;
    }
    let line = &rest[1..rest.find('\n').unwrap_or(rest.len())];
    let mut escaped = false;
    for c in line.chars() {
        match c {
            _ if escaped => escaped = false,
            '\\' => escaped = true,
            c if c == q => return None,
            _ => {}
        }
    }
    Some(
        Diagnostic::new(
            Code::Syntax,
            file,
            Span::new(at, at + 1),
            format!("this string is not closed: the line ends before a closing `{q}`"),
        )
        .with_label("the string starts here")
        .with_help(format!(
            "close it with `{q}` on the same line; for text over several lines use a \
             triple-quoted string \"\"\"…\"\"\""
        )),
    )
}

/// `"{{ join(%l%, ", ") }}"`: a `"` inside the `{{ }}` of a `"…"` string ends the string there.
fn quote_inside_hole(file: FileId, text: &str, at: usize) -> Option<Diagnostic> {
    let at = at.min(text.len());
    let line_start = text[..at].rfind('\n').map_or(0, |p| p + 1);
    let bytes = text.as_bytes();
    let mut i = line_start;
    while i < at {
        match bytes[i] {
            b'#' => return None,
            q @ (b'"' | b'\'') => {
                let open = i;
                i += 1;
                let mut hole = None;
                while i < at && bytes[i] != q && bytes[i] != b'\n' {
                    if bytes[i..].starts_with(b"{{") {
                        hole = Some(i);
                    } else if bytes[i..].starts_with(b"}}") {
                        hole = None;
                    }
                    i += if bytes[i] == b'\\' { 2 } else { 1 };
                }
                if let (Some(_), true) = (hole, i < at && bytes[i] == q) {
                    let quote = q as char;
                    let other = if quote == '"' { '\'' } else { '"' };
                    debug_assert!(open < i);
                    return Some(
                        Diagnostic::new(
                            Code::Syntax,
                            file,
                            Span::new(i, i + 1),
                            format!("the string ends at this `{quote}`, inside its `{{{{ }}}}`"),
                        )
                        .with_label("this quote ends the string")
                        .with_help(format!(
                            "inside a {quote}…{quote} string, write the strings of a `{{{{ }}}}` \
                             with the other quotes: {other}, {other}"
                        )),
                    );
                }
            }
            _ => {}
        }
        i += 1;
    }
    None
}

fn describe_found(text: &str, at: usize) -> String {
    let rest = text.get(at..).unwrap_or("");
    match rest.chars().next() {
        None => "end of file".into(),
        Some('\n') | Some('\r') => "end of line".into(),
        Some(_) => {
            let word: String = rest
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .take(24)
                .collect();
            if word.is_empty() {
                match rest.chars().next().unwrap_or(' ') {
                    '`' => "a backquote".into(),
                    c => format!("`{c}`"),
                }
            } else {
                format!("`{word}`")
            }
        }
    }
}

/// A keyword close to the word found where a statement, an http option or an item was
/// expected.
fn misspelt_keyword(text: &str, at: usize, variant: &ErrorVariant<Rule>) -> Option<&'static str> {
    const STATEMENTS: [&str; 14] = [
        "say", "wait", "set", "unset", "if", "match", "goto", "call", "return", "end", "extract",
        "http", "notify", "log",
    ];
    const OPTIONS: [&str; 11] = [
        "header",
        "query",
        "form",
        "json",
        "text",
        "timeout",
        "redirects",
        "body",
        "status",
        "headers",
        "on",
    ];
    const ITEMS: [&str; 5] = ["block", "on", "user", "global", "scenario"];
    let ErrorVariant::ParsingError { positives, .. } = variant else {
        return None;
    };
    let candidates: &[&'static str] = if positives.contains(&Rule::a_statement) {
        &STATEMENTS
    } else if positives.contains(&Rule::an_http_option) {
        &OPTIONS
    } else if positives.iter().any(|r| {
        matches!(
            r,
            Rule::item_step
                | Rule::kw_block
                | Rule::block
                | Rule::trigger
                | Rule::declaration
                | Rule::header
                | Rule::kw_on
        )
    }) {
        &ITEMS
    } else {
        return None;
    };
    let word: String = text[at..]
        .chars()
        .take_while(|c| c.is_alphanumeric() || *c == '_')
        .collect();
    if word.len() < 2 {
        return None;
    }
    crate::diagnostic::did_you_mean(&word, candidates.iter().copied())
}

/// Friendly hints for the most common slips.
fn help_for(text: &str, at: usize) -> Option<&'static str> {
    let line_start = text[..at.min(text.len())].rfind('\n').map_or(0, |p| p + 1);
    let line = &text[line_start..];
    let line = &line[..line.find('\n').unwrap_or(line.len())];
    let trimmed = line.trim_start();
    if trimmed.starts_with("set ") && !line.contains('=') {
        return Some("assignments are written `set %name% = value`");
    }
    if trimmed.starts_with("set ") && !trimmed[4..].trim_start().starts_with('%') {
        return Some("variables are written between percent signs: `set %name% = value`");
    }
    if trimmed.starts_with("say ") && !trimmed[4..].trim_start().starts_with(['"', '\'', '%']) {
        return Some("`say` takes a string: `say \"Hello, %user_name%!\"`");
    }
    if trimmed.starts_with("else if") {
        return Some("write `elif` for another condition");
    }
    let rest = &text[at.min(text.len())..];
    if rest.starts_with('=') && !rest.starts_with("==") && !rest.starts_with("=>") {
        return Some("to compare, write `==`; to assign, write `set %name% = value`");
    }
    None
}

fn describe_expected(positives: &[Rule]) -> String {
    let mut names: Vec<&'static str> = Vec::new();
    // Where a statement or an http option may start, name that rather than the keywords tried.
    if positives.contains(&Rule::a_statement) || positives.contains(&Rule::an_http_option) {
        names.extend(positives.iter().filter_map(|r| match r {
            Rule::a_statement => Some("a statement"),
            Rule::an_http_option => Some("an http option (header, query, form, json, text, timeout, redirects, body ->, status ->, headers ->, on error goto)"),
            _ if is_statement_start(*r) || is_http_option(*r) => None,
            _ => human_name(*r),
        }));
        names.dedup();
        return match names.len() {
            1 => names[0].to_string(),
            n => format!("{} or {}", names[..n - 1].join(", "), names[n - 1]),
        };
    }
    // After a complete value pest only remembers that `a if cond else b` could go on: a
    // person would write an operator there, or end the statement.
    if positives == [Rule::kw_if] {
        return "an operator or the end of the statement".to_string();
    }
    let statements = positives.iter().filter(|r| is_statement_start(**r)).count();
    let operators = positives.iter().filter(|r| is_operator(**r)).count();
    let options = positives.iter().filter(|r| is_http_option(**r)).count();
    let values = positives.iter().filter(|r| is_value_start(**r)).count();
    for rule in positives {
        // After a value, `if` would start `a if cond else b`: naming it only confuses.
        if operators >= 3 && *rule == Rule::kw_if {
            continue;
        }
        let name = if *rule == Rule::kw_if && operators == 0 {
            // Only `a if cond else b` remembered after a value: an operator would go there.
            Some("an operator")
        } else if statements >= 3 && is_statement_start(*rule) {
            Some("a statement")
        } else if operators >= 3 && is_operator(*rule) {
            Some("an operator")
        } else if options >= 3 && is_http_option(*rule) {
            Some("an http option (header, query, form, json, text, timeout, redirects, body ->, status ->, headers ->, on error goto)")
        } else if values >= 3 && is_value_start(*rule) {
            Some("a value")
        } else {
            human_name(*rule)
        };
        if let Some(n) = name {
            if !names.contains(&n) {
                names.push(n);
            }
        }
    }
    match names.len() {
        0 => String::new(),
        1 => names[0].to_string(),
        n => format!("{} or {}", names[..n - 1].join(", "), names[n - 1]),
    }
}

fn is_statement_start(rule: Rule) -> bool {
    use Rule::*;
    matches!(
        rule,
        kw_say
            | kw_wait
            | kw_set
            | kw_unset
            | kw_if
            | kw_match
            | kw_goto
            | kw_call
            | kw_return
            | kw_end
            | kw_extract
            | kw_http
            | kw_notify
            | kw_log
            | kw_schedule
            | kw_cancel
    )
}

fn is_operator(rule: Rule) -> bool {
    use Rule::*;
    matches!(
        rule,
        or | and
            | eq
            | ne
            | le
            | ge
            | lt
            | gt
            | not_in
            | in_op
            | like
            | matches
            | add
            | sub
            | pow
            | mul
            | floor_div
            | div
    )
}

fn is_http_option(rule: Rule) -> bool {
    use Rule::*;
    matches!(
        rule,
        kw_header
            | kw_query
            | kw_form
            | kw_json
            | kw_text
            | kw_timeout
            | kw_redirects
            | kw_body
            | kw_status
            | kw_headers
            | kw_on
    )
}

fn is_value_start(rule: Rule) -> bool {
    use Rule::*;
    matches!(
        rule,
        literal
            | number
            | string
            | regex
            | var
            | list
            | dict
            | paren
            | call_expr
            | name
            | neg
            | not
    )
}

/// The name a user sees for a grammar rule; `None` for rules never worth mentioning.
pub(super) fn human_name(rule: Rule) -> Option<&'static str> {
    use Rule::*;
    Some(match rule {
        ident | name | target => "a name",
        member_name => "a key",
        var | var_path => "a variable like `%name%`",
        var_seg => "a path segment",
        string | dq_str | sq_str | triple_str | text => "a string",
        number | signed_number => "a number",
        integer => "a whole number",
        duration => "a duration like `5s`",
        regex => "a regex like `/pattern/`",
        regex_body => "a regex pattern",
        literal => "`true`, `false` or `null`",
        list => "a list",
        dict => "a dictionary",
        paren => "`(`",
        call_expr => "a function call",
        lambda => "a lambda like `x => …`",
        expr | cond_expr | op_expr | postfix_expr | template_expr => "an expression",
        method_call | member => "`.`",
        index => "`[`",
        neg => "`-`",
        not => "`not`",
        assign_op => "`=` (or `+=`, `-=`, `*=`, `/=`)",
        header_name => "a header name",
        query_name | param_name => "a parameter name",
        method => "an HTTP method (GET, POST, …)",
        extract_kind => "what to extract (number, integer, email, phone, url, date or a regex)",
        event => "an event (start, message, webhook, fallback)",
        body => "`{`",
        buttons => "a line break, `;` or `{` (buttons)",
        http_block => "a line break, `;` or `{` (http options)",
        item_step | header | declaration | trigger | block => "`block`, `on`, `user` or `global`",
        EOI => "end of file",
        pattern | patterns | like_pattern => "a pattern (a string, number, regex or `like \"…\"`)",
        arm | arm_else => "a match arm",
        kw_block => "`block`",
        kw_scenario => "`scenario`",
        kw_user => "`user`",
        kw_global => "`global`",
        kw_on => "`on`",
        kw_anytime => "`anytime`",
        kw_start => "`start`",
        kw_message => "`message`",
        kw_webhook => "`webhook`",
        kw_fallback => "`fallback`",
        kw_contains => "`contains`",
        kw_say => "`say`",
        kw_button => "`button`",
        kw_link => "`link`",
        kw_wait => "`wait`",
        kw_timeout => "`timeout`",
        kw_set => "`set`",
        kw_unset => "`unset`",
        kw_elif => "`elif`",
        kw_match => "`match`",
        kw_goto => "`goto`",
        kw_call => "`call`",
        kw_return => "`return`",
        kw_end => "`end`",
        kw_extract => "`extract`",
        kw_from => "`from`",
        kw_http => "`http`",
        kw_notify => "`notify`",
        kw_log => "`log`",
        kw_schedule => "`schedule`",
        kw_cancel => "`cancel`",
        kw_as => "`as`",
        kw_header => "`header`",
        kw_query => "`query`",
        kw_form => "`form`",
        kw_json => "`json`",
        kw_text => "`text`",
        kw_redirects => "`redirects`",
        kw_body => "`body`",
        kw_status => "`status`",
        kw_headers => "`headers`",
        kw_error => "`error`",
        kw_if => "`if`",
        kw_else => "`else`",
        kw_like => "`like`",
        kw_matches => "`matches`",
        or => "`or`",
        and => "`and`",
        eq => "`==`",
        ne => "`!=`",
        le => "`<=`",
        ge => "`>=`",
        lt => "`<`",
        gt => "`>`",
        not_in => "`not in`",
        in_op => "`in`",
        like => "`like`",
        matches => "`matches`",
        add => "`+`",
        sub => "`-`",
        pow => "`**`",
        mul => "`*`",
        floor_div => "`//`",
        div => "`/`",
        _ => return None,
    })
}

/// After a complete value pest only remembers that `a if cond else b` could go on. Inside an
/// open `(`, `[` or a dictionary's `{` a person would write what closes or continues it: say
/// that, and point at the bracket. `found` names what was found instead of the text at `at`.
fn inside_brackets(file: FileId, text: &str, at: usize, found: Option<&str>) -> Option<Diagnostic> {
    let (open, key) = innermost_open(text, at)?;
    // A line break does not end anything inside brackets: what is wrong is what comes next.
    let at = match skip_lead(text, at) {
        next if next < text.len()
            && text[at..next].contains('\n')
            && !text[at..next].contains(';') =>
        {
            next
        }
        _ => at,
    };
    let described = describe_found(text, at);
    let found = found.unwrap_or(&described);
    let end = at + word_len(&text[at..]);
    let bytes = text.as_bytes();
    let before = text[..open].trim_end_matches([' ', '\t']);
    let word = last_word(before);
    const WORDS_BEFORE_A_VALUE: [&str; 10] = [
        "in", "and", "or", "not", "if", "else", "json", "form", "like", "matches",
    ];
    let after_value = !word.is_empty() && !WORDS_BEFORE_A_VALUE.contains(&word)
        || before.ends_with(['%', ')', ']', '"', '\'', '}']);
    let (expected, what) = match bytes[open] {
        b'(' if !word.is_empty() && !WORDS_BEFORE_A_VALUE.contains(&word) => {
            ("`,`, `)` or an operator", "the call's `(`")
        }
        b'(' => ("`)` or an operator", "this `(`"),
        b'[' if after_value => ("`]`, `:` or an operator", "the index's `[`"),
        b'[' => ("`,`, `]` or an operator", "the list's `[`"),
        _ if key => ("`:` or an operator", "the dictionary's `{`"),
        _ => ("`,`, `}` or an operator", "the dictionary's `{`"),
    };
    let (line, _) = line_around(text, open);
    let where_ = if line == line_around(text, at.min(text.len())).0 {
        String::new()
    } else {
        format!(" (line {line})")
    };
    let mut d = Diagnostic::new(
        Code::Syntax,
        file,
        Span::new(at, end),
        format!("expected {expected}, found {found}"),
    )
    .with_label(format!("expected {expected}"))
    .with_related(
        file,
        Span::new(open, open + 1),
        format!("{what}{where_} is still open"),
    );
    if matches!(found, "end of line" | "end of file") {
        let close = match bytes[open] {
            b'(' => ')',
            b'[' => ']',
            _ => '}',
        };
        d = d.with_help(format!(
            "close {what} with `{close}`, or go on after a `,` or an operator: a line break \
             inside brackets does not end the statement"
        ));
    }
    Some(d)
}

/// The innermost bracket open at `at` that holds values (a `(`, a `[`, or a dictionary's
/// `{`; `None` when that is a `{` of statements, buttons or http options, or nothing is
/// open), and for a dictionary whether `at` is where a key goes (no `:` since its last `,`).
/// Counted from the start of the item, skipping strings and comments.
fn innermost_open(text: &str, at: usize) -> Option<(usize, bool)> {
    let at = at.min(text.len());
    let item = text[..at].rfind("\nblock ").map_or(0, |p| p + 1);
    let bytes = text.as_bytes();
    // Each open bracket, with (for a `{`) whether it is a dictionary and has its `:`.
    let mut open: Vec<(usize, bool, bool)> = Vec::new();
    let mut i = item;
    while i < at {
        match bytes[i] {
            b'#' | b'"' | b'\'' => i = skip_comment_or_string(bytes, i, at),
            b'(' | b'[' => open.push((i, false, false)),
            b'{' => open.push((i, opens_dictionary(&text[item..i]), false)),
            b')' | b']' | b'}' => {
                open.pop();
            }
            b':' if !bytes[i..].starts_with(b"::") && (i == 0 || bytes[i - 1] != b':') => {
                if let Some(top) = open.last_mut() {
                    top.2 = true;
                }
            }
            b',' => {
                if let Some(top) = open.last_mut() {
                    top.2 = false;
                }
            }
            _ => {}
        }
        i += 1;
    }
    let &(pos, dict, has_colon) = open.last()?;
    match bytes[pos] {
        b'{' if !dict => None,
        b'{' => Some((pos, !has_colon)),
        _ => Some((pos, false)),
    }
}

/// The word (letters, digits, `_`) `text` ends with; empty when it ends with anything else.
fn last_word(text: &str) -> &str {
    let start = text
        .trim_end_matches(|c: char| c.is_alphanumeric() || c == '_')
        .len();
    &text[start..]
}

/// Whether a `{` that follows `before` opens a dictionary (it comes where a value goes) rather
/// than statements, buttons or http options (after a condition, a string, `=>`, `else`, …).
fn opens_dictionary(before: &str) -> bool {
    let before = before.trim_end_matches([' ', '\t', '\n', '\r']);
    if before.ends_with("=>") {
        return false;
    }
    if before.ends_with([
        '=', ':', ',', '(', '[', '{', '+', '-', '*', '/', '<', '>', '|',
    ]) {
        return true;
    }
    matches!(
        last_word(before),
        "json" | "form" | "in" | "and" | "or" | "not" | "return"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resync_finds_next_item() {
        let text = "block a {\n  say (\n}\nblock b {\n}\n";
        let b = text.find("block b").unwrap_or(0);
        assert_eq!(resync(text, 0, 14), b);
        assert_eq!(resync(text, b, b + 3), text.len());
    }

    #[test]
    fn nesting_is_bounded() {
        let deep = "(".repeat(MAX_NESTING + 5);
        assert_eq!(prescan(&deep).deep, vec![MAX_NESTING]);
        let quoted = format!("\"{deep}\"");
        assert!(prescan(&quoted).deep.is_empty());
        let commented = format!("# {deep}\n");
        assert!(prescan(&commented).deep.is_empty());
    }
}
