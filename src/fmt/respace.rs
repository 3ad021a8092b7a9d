//! Spacing inside a line: the tokens of the parser's tree (words, literals, and the
//! punctuation whose role the text does not tell) and the punctuation read from the text
//! between them are written out again with one canonical space (or none) between neighbours
//! on a line. Line breaks, comments and `\` continuations stay where they are; indentation is
//! left to the layout pass.
//!
//! The rules, from the first that applies:
//! - no space before `,` or `;`, one after;
//! - none around `.` (a member or a method), but a number keeps a space before one (`1 .5`
//!   is not `1.5`);
//! - none around the `:` of a slice; other `:` (a dictionary pair, `header X:`, `query q:`)
//!   take none before and one after;
//! - a `{` of statements, buttons or http options takes a space before and after, its `}` one
//!   before (`{ end }`, `{}`); a dictionary's braces hold their content tight (`{"a": 1}`);
//! - none just inside `(`, `[` and before `)`, `]`; none before the `[` of an index or the
//!   `(` of a call; none after a negation's `-`;
//! - one around binary operators, `=` and the assignments, `->`, `=>` and `|`;
//! - one between any other two tokens.

use std::fmt::Write as _;

use crate::syntax::ast::{Token, TokenKind};
use crate::syntax::Span;

/// What a token is, for the spacing rules.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Role {
    Word,
    Number,
    Callee,
    Neg,
    Binary,
    Comma,
    Semi,
    Dot,
    Colon,
    SliceColon,
    BlockOpen,
    BlockClose,
    DictOpen,
    DictClose,
    /// `(`, `[` of a list, `[` of an index.
    Open,
    IndexOpen,
    /// `)`, `]`.
    Close,
}

/// Punctuation of two characters, tried before one.
const PAIRS: [&str; 12] = [
    "->", "=>", "==", "!=", "<=", ">=", "+=", "-=", "*=", "/=", "**", "//",
];

/// Whether one space (else none) goes between neighbours `a` and `b` on one line; `written`
/// is whether the text had blanks between them.
fn spaced(a: Role, b: Role, written: bool) -> bool {
    use Role::*;
    match (a, b) {
        (BlockOpen, BlockClose) => false,
        (BlockOpen, _) => true,
        (Comma, Close | DictClose) => false,
        (_, Comma | Semi) => false,
        (Comma | Semi, _) => true,
        (Number, Dot) => written,
        (Dot, _) | (_, Dot) => false,
        (SliceColon, _) | (_, SliceColon) => false,
        (_, Colon) => false,
        (Colon, _) => true,
        (_, BlockOpen) | (_, BlockClose) | (BlockClose, _) => true,
        (DictOpen, _) | (_, DictClose) => false,
        (Open | IndexOpen, _) | (_, Close) => false,
        (_, IndexOpen) => false,
        (Callee, Open) => false,
        (Neg, Neg) => true,
        (Neg, _) => false,
        _ => true,
    }
}

/// Re-spaces `text` (a file without syntax errors, whose tokens are `tokens`); returns the new
/// text and where its string and regex literals now are.
pub(super) fn respace(text: &str, tokens: &[Token]) -> (String, Vec<Span>) {
    respace_by(text, tokens, spaced)
}

/// [`respace`] with the spacing rule `spaced` (the tests spoil files with other rules).
fn respace_by(
    text: &str,
    tokens: &[Token],
    spaced: fn(Role, Role, bool) -> bool,
) -> (String, Vec<Span>) {
    let mut tokens: Vec<Token> = tokens.to_vec();
    tokens.sort_by_key(|t| (t.span.start, std::cmp::Reverse(t.span.end)));
    let mut out = String::with_capacity(text.len() + text.len() / 8);
    let mut literals = Vec::new();
    // The previous token's role, when it is on the line being written.
    let mut prev: Option<Role> = None;
    // Whether blanks were skipped since the previous token.
    let mut blanks = false;
    let mut at = 0usize;
    if text.starts_with('\u{FEFF}') {
        out.push('\u{FEFF}');
        at = '\u{FEFF}'.len_utf8();
    }
    let mut next_token = 0usize;
    while at < text.len() {
        // A token of the tree that starts here (marks are one character of punctuation).
        while next_token < tokens.len() && tokens[next_token].span.start < at {
            next_token += 1;
        }
        let token = tokens
            .get(next_token)
            .filter(|t| t.span.start == at)
            .copied();
        let (role, len) = match token {
            Some(t) => (role_of(t.kind), t.span.end - t.span.start),
            None => {
                let rest = &text[at..];
                let c = rest.chars().next().unwrap_or(' ');
                match c {
                    ' ' | '\t' => {
                        blanks = true;
                        at += c.len_utf8();
                        continue;
                    }
                    '\r' | '\n' | '#' | '\\' => {
                        at = trivia(text, at, &mut out);
                        prev = None;
                        continue;
                    }
                    _ => {}
                }
                if c.is_alphanumeric() || c == '_' {
                    // Not expected (every word is a token of the tree), but a word stays one.
                    let len = rest
                        .find(|c: char| !(c.is_alphanumeric() || c == '_'))
                        .unwrap_or(rest.len());
                    (Role::Word, len)
                } else {
                    match PAIRS.iter().find(|p| rest.starts_with(**p)) {
                        Some(p) => (Role::Binary, p.len()),
                        None => (punctuation(c), c.len_utf8()),
                    }
                }
            }
        };
        if prev.is_some_and(|before| spaced(before, role, blanks)) {
            out.push(' ');
        }
        blanks = false;
        let piece = &text[at..at + len];
        match token.map(|t| t.kind) {
            Some(TokenKind::NotIn) if piece.contains([' ', '\t']) => out.push_str("not in"),
            Some(TokenKind::Literal) => {
                literals.push(Span::new(out.len(), out.len() + len));
                out.push_str(piece);
            }
            _ => out.push_str(piece),
        }
        prev = Some(role);
        at += len;
    }
    (out, literals)
}

fn role_of(kind: TokenKind) -> Role {
    match kind {
        TokenKind::Word | TokenKind::Literal | TokenKind::NotIn => Role::Word,
        TokenKind::Number => Role::Number,
        TokenKind::Callee => Role::Callee,
        TokenKind::Neg => Role::Neg,
        TokenKind::DictOpen => Role::DictOpen,
        TokenKind::DictClose => Role::DictClose,
        TokenKind::IndexOpen => Role::IndexOpen,
        TokenKind::IndexClose => Role::Close,
        TokenKind::SliceColon => Role::SliceColon,
    }
}

/// The role of punctuation the tree did not mark.
fn punctuation(c: char) -> Role {
    match c {
        ',' => Role::Comma,
        ';' => Role::Semi,
        '.' => Role::Dot,
        ':' => Role::Colon,
        '{' => Role::BlockOpen,
        '}' => Role::BlockClose,
        '(' | '[' => Role::Open,
        ')' | ']' => Role::Close,
        _ => Role::Binary,
    }
}

/// Copies the line breaks, comments and `\` continuations starting at `at` (with the blanks
/// between them) up to the next token; returns where it stopped. A trailing comment keeps its
/// column when the code before it left room (so aligned comments stay aligned), else the gap
/// it was written with (at least one space); a `\` continuation gets one space before it.
fn trivia(text: &str, mut at: usize, out: &mut String) -> usize {
    let bytes = text.as_bytes();
    // Whether this follows code on the line being written.
    let mut first = !(out.is_empty() || out.ends_with('\n') || out == "\u{FEFF}");
    loop {
        match bytes.get(at) {
            Some(b'#') => {
                if first {
                    let line_start = text[..at].rfind('\n').map_or(0, |p| p + 1);
                    let column = text[line_start..at].chars().count();
                    let out_start = out.rfind('\n').map_or(0, |p| p + 1);
                    let written = out[out_start..].chars().count();
                    let blanks = text[line_start..at].len()
                        - text[line_start..at].trim_end_matches([' ', '\t']).len();
                    let gap = if column > written {
                        column - written
                    } else {
                        blanks.max(1)
                    };
                    let _ = write!(out, "{:gap$}", "");
                }
                let end = text[at..].find('\n').map_or(text.len(), |p| at + p);
                out.push_str(text[at..end].trim_end_matches('\r'));
                at = end;
            }
            Some(b'\\') if matches!(bytes.get(at + 1), Some(b'\n' | b'\r')) => {
                if first {
                    out.push(' ');
                }
                out.push('\\');
                at += 1;
            }
            Some(b'\r') if bytes.get(at + 1) == Some(&b'\n') => at += 1,
            Some(b'\r' | b'\n') => {
                out.push('\n');
                at += 1;
                // The indentation of the next line, as written (the layout pass redoes it).
                let blank = text[at..]
                    .find(|c: char| c != ' ' && c != '\t')
                    .map_or(text.len(), |p| at + p);
                out.push_str(&text[at..blank]);
                at = blank;
            }
            Some(b' ' | b'\t') => at += 1,
            _ => return at,
        }
        first = false;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fmt(text: &str) -> String {
        match super::super::format_how(text) {
            Ok((out, super::super::Pass::Full)) => out,
            other => panic!("{other:?} for\n{text}"),
        }
    }

    #[test]
    fn spaces_inside_a_line() {
        let cases = [
            ("set %a%=%b%+1", "set %a% = %b% + 1"),
            ("set %a% +=  2*-%b%", "set %a% += 2 * -%b%"),
            ("set %a% = - -3", "set %a% = - -3"),
            ("set %a% = f( %x% ,%y% )", "set %a% = f(%x%, %y%)"),
            ("set %a% = %x% . upper ( )", "set %a% = %x%.upper()"),
            (
                "set %a% = %x% [ 0 ] [1:2] [ :: -1]",
                "set %a% = %x%[0][1:2][::-1]",
            ),
            (
                "set %a% = %x%[ 1 : %n% + 1 : 2 ]",
                "set %a% = %x%[1:%n% + 1:2]",
            ),
            ("set %a% = [1,2 , 3,]", "set %a% = [1, 2, 3,]"),
            (
                "set %a% = { \"k\" :1,'j':[ ] }",
                "set %a% = {\"k\": 1, 'j': []}",
            ),
            ("set %a% = {}", "set %a% = {}"),
            ("set %a% = %x%   not   in %y%", "set %a% = %x% not in %y%"),
            ("set %a% = %x% not_in %y%", "set %a% = %x% not_in %y%"),
            ("set %a% = not(%x%)or%y%", "set %a% = not (%x%) or %y%"),
            (
                "set %a% = %x%|split( \",\" )|len",
                "set %a% = %x% | split(\",\") | len",
            ),
            (
                "set %a% = map(%x%,(a,b)=>a+b)",
                "set %a% = map(%x%, (a, b) => a + b)",
            ),
            (
                "set %a% = 1.x + 1 .5 + 2 .abs()",
                "set %a% = 1.x + 1 .5 + 2 .abs()",
            ),
            ("set %a% = 1 if%b%else 2", "set %a% = 1 if %b% else 2"),
            (
                "set %a% = %b%<=1 or %b%!=2 ** 3 // 4",
                "set %a% = %b% <= 1 or %b% != 2 ** 3 // 4",
            ),
            ("wait->%x%", "wait -> %x%"),
            (
                "say \"Pick\"{button \"A\" goto b;button 'B'}",
                "say \"Pick\" { button \"A\" goto b; button 'B' }",
            ),
            (
                "if %a%{say \"x\"}else{end}",
                "if %a% { say \"x\" } else { end }",
            ),
            (
                "match %a%{\"x\",\"y\"=>end ; -1=>end}",
                "match %a% { \"x\", \"y\" => end; -1 => end }",
            ),
            (
                "http GET \"https://a.example\"{header X-Key :\"k\";query  q:1;body->%b%}",
                "http GET \"https://a.example\" { header X-Key: \"k\"; query q: 1; body -> %b% }",
            ),
            (
                "http HEAD \"https://a.example\" {  }",
                "http HEAD \"https://a.example\" {}",
            ),
            ("goto   other::start", "goto other::start"),
            ("say  \"  spaces   kept  \"", "say \"  spaces   kept  \""),
            ("set %a% = %b% \\\n    + 1", "set %a% = %b% \\\n    + 1"),
        ];
        for (line, want) in cases {
            let got = fmt(&format!("block a {{\n  {line}\n}}\n"));
            assert_eq!(got, format!("block a {{\n  {want}\n}}\n"), "for {line:?}");
        }
    }

    #[test]
    fn trailing_comments_keep_their_column() {
        let text = "block a {\n  set %a%=1        # one\n  set %bb%  =  2   # two\n  set %c% = [1,2,3,4,5,6,7,8] # three\n}\n";
        assert_eq!(
            fmt(text),
            "block a {\n  set %a% = 1      # one\n  set %bb% = 2     # two\n  set %c% = [1, 2, 3, 4, 5, 6, 7, 8] # three\n}\n"
        );
    }

    /// Every clean `.scn` file of the repository.
    fn repository_files() -> Vec<(String, String)> {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        let mut out = Vec::new();
        for dir in ["scenarios", "tests/fixtures", "bench"] {
            for entry in walkdir::WalkDir::new(root.join(dir)).sort_by_file_name() {
                let Ok(entry) = entry else { continue };
                if entry.path().extension().is_none_or(|x| x != "scn") {
                    continue;
                }
                let Ok(text) = std::fs::read_to_string(entry.path()) else {
                    continue;
                };
                if crate::syntax::parse(0, &text).1.is_empty() {
                    out.push((entry.path().display().to_string(), text));
                }
            }
        }
        out
    }

    /// A space between every two tokens on a line.
    fn loose(a: Role, b: Role, written: bool) -> bool {
        !matches!((a, b), (Role::Number, Role::Dot)) || written
    }

    /// No space around punctuation other than operators (words keep theirs, and a word keeps
    /// one before `(`: `if (` is not a call).
    fn tight(a: Role, b: Role, written: bool) -> bool {
        use Role::*;
        let word = |r| matches!(r, Word | Number | Callee);
        match (a, b) {
            (Number, Dot) => written,
            (Word | Number, Open) => true,
            _ if word(a) && word(b) => true,
            (Binary | Neg, _) | (_, Binary | Neg) => true,
            _ => false,
        }
    }

    /// The text with one space before every `#`: a trailing comment keeps the column it was
    /// given, so re-spacing the code before it moves it.
    fn comments_apart(text: &str) -> String {
        let mut out = String::new();
        for (i, piece) in text.split('#').enumerate() {
            if i > 0 {
                out.push_str(" #");
            }
            out.push_str(piece.trim_end_matches(' '));
        }
        out
    }

    #[test]
    fn respoilt_spacing_formats_to_the_same_text() {
        let files = repository_files();
        assert!(files.len() >= 30, "only {} files", files.len());
        for (name, text) in files {
            let want = fmt(&text);
            for (how, rule) in [
                ("loose", loose as fn(Role, Role, bool) -> bool),
                ("tight", tight),
            ] {
                let (file, _) = crate::syntax::parse_with_tokens(0, &text);
                let (spoilt, _) = respace_by(&text, &file.tokens, rule);
                assert_eq!(
                    comments_apart(&fmt(&spoilt)),
                    comments_apart(&want),
                    "{name}, spaced {how}:\n{spoilt}"
                );
            }
        }
    }
}
