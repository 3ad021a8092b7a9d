//! Long lines broken at their brackets: a line longer than [`WIDTH`] columns whose list,
//! dictionary, or `{ }` of buttons, statements or http options opens and closes on it gets
//! one element per line (the outermost such bracket first, then, should a piece still be too
//! long, the next one inside it). Lines the author broke stay broken; nothing is joined.

use super::outer_literals;
use crate::syntax::ast::{Token, TokenKind};
use crate::syntax::Span;

/// The widest line `fmt` leaves alone when it can break it, in characters.
pub(super) const WIDTH: usize = 100;

/// Which bracket pair a break goes into.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// A list's `[ ]` or a dictionary's `{ }`: elements end at a `,`, which stays.
    Values,
    /// A `{ }` of buttons, statements or http options: elements end at a `;`, which goes.
    Body,
}

/// `text` with every too-long line broken at its outermost bracket pair that opens and
/// closes on it, or `None` when no line can be broken.
pub(super) fn break_long_lines(text: &str, literals: &[Span], tokens: &[Token]) -> Option<String> {
    let literals = outer_literals(literals);
    // Where a `[` opens an index and a `{` a dictionary, sorted.
    let mut marks: Vec<(usize, TokenKind)> = tokens
        .iter()
        .filter(|t| matches!(t.kind, TokenKind::IndexOpen | TokenKind::DictOpen))
        .map(|t| (t.span.start, t.kind))
        .collect();
    marks.sort_unstable_by_key(|m| m.0);
    let mut out = String::with_capacity(text.len() + text.len() / 8);
    let mut changed = false;
    let mut start = 0;
    while start < text.len() {
        let end = text[start..].find('\n').map_or(text.len(), |p| start + p);
        let line = &text[start..end];
        match (line.chars().count() > WIDTH)
            .then(|| outermost_pair(text, start, end, &literals, &marks))
            .flatten()
        {
            Some((open, close, kind)) => {
                split_pair(text, start, end, open, close, kind, &literals, &mut out);
                changed = true;
            }
            None => out.push_str(line),
        }
        if end < text.len() {
            out.push('\n');
        }
        start = end + 1;
    }
    changed.then_some(out)
}

/// The offset just past the literal starting at `at`, if one does.
fn literal_end(literals: &[Span], at: usize) -> Option<usize> {
    let i = literals.partition_point(|s| s.start < at);
    literals.get(i).filter(|s| s.start == at).map(|s| s.end)
}

/// Calls `visit(offset, byte)` for each byte of `text[from..to]` outside literals and
/// comments, stopping where `visit` returns false.
fn scan_code(
    text: &str,
    from: usize,
    to: usize,
    literals: &[Span],
    mut visit: impl FnMut(usize, u8) -> bool,
) {
    let bytes = text.as_bytes();
    let mut i = from;
    while i < to {
        if let Some(end) = literal_end(literals, i) {
            i = end;
            continue;
        }
        if bytes[i] == b'#' || !visit(i, bytes[i]) {
            return;
        }
        i += 1;
    }
}

/// The outermost bracket pair of the line `text[start..end]` that opens and closes on it and
/// holds something: its `[`/`{`, its `]`/`}`, and what it holds.
fn outermost_pair(
    text: &str,
    start: usize,
    end: usize,
    literals: &[Span],
    marks: &[(usize, TokenKind)],
) -> Option<(usize, usize, Kind)> {
    let kind_at = |at: usize| {
        let i = marks.partition_point(|m| m.0 < at);
        marks.get(i).filter(|m| m.0 == at).map(|m| m.1)
    };
    let mut open: Vec<(usize, Option<Kind>)> = Vec::new();
    let mut best: Option<(usize, usize, Kind)> = None;
    scan_code(text, start, end, literals, |i, b| {
        match b {
            b'(' => open.push((i, None)),
            b'[' if kind_at(i) == Some(TokenKind::IndexOpen) => open.push((i, None)),
            b'[' => open.push((i, Some(Kind::Values))),
            b'{' if kind_at(i) == Some(TokenKind::DictOpen) => open.push((i, Some(Kind::Values))),
            b'{' => open.push((i, Some(Kind::Body))),
            b')' | b']' | b'}' => {
                if let Some((o, kind)) = open.pop() {
                    let holds = !text[o + 1..i].trim().is_empty();
                    if let Some(kind) = kind.filter(|_| holds) {
                        if best.is_none_or(|(b, _, _)| o < b) {
                            best = Some((o, i, kind));
                        }
                    }
                }
            }
            _ => {}
        }
        true
    });
    best
}

/// Writes the line `text[start..end]` into `out` with the pair `open`..`close` broken: a line
/// break after the opener, after each of its elements, and before the closer.
#[allow(clippy::too_many_arguments)]
fn split_pair(
    text: &str,
    start: usize,
    end: usize,
    open: usize,
    close: usize,
    kind: Kind,
    literals: &[Span],
    out: &mut String,
) {
    let mut cuts: Vec<usize> = Vec::new();
    let mut depth = 0usize;
    scan_code(text, open + 1, close, literals, |i, b| {
        match b {
            b'(' | b'[' | b'{' => depth += 1,
            b')' | b']' | b'}' => depth = depth.saturating_sub(1),
            b',' if depth == 0 && kind == Kind::Values => cuts.push(i + 1),
            b';' if depth == 0 && kind == Kind::Body => cuts.push(i),
            _ => {}
        }
        true
    });
    out.push_str(text[start..=open].trim_end());
    let mut from = open + 1;
    for cut in cuts.into_iter().chain([close]) {
        let piece = text[from..cut].trim();
        if !piece.is_empty() {
            out.push('\n');
            out.push_str(piece);
        }
        from = if text.as_bytes().get(cut) == Some(&b';') {
            cut + 1
        } else {
            cut
        };
    }
    out.push('\n');
    out.push_str(&text[close..end]);
}
