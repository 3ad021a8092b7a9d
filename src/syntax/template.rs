//! String literals in, [`Template`]s out: quotes and escapes, triple-quote indentation
//! stripping, `%var.path%` holes, `%%`, and `{{ expr }}` holes (whose expressions are handed
//! back to the lowering through a callback).

use super::ast::{Ident, Template, TemplatePart, VarPath};
use super::Span;
use crate::diagnostic::Code;

/// A problem found inside a literal, with an absolute span.
pub(super) struct Problem {
    pub code: Code,
    pub span: Span,
    pub message: String,
    pub help: Option<&'static str>,
}

/// The parts of a string literal, before the `{{ }}` expressions are parsed.
pub(super) enum RawPart {
    Text(String),
    Var(VarPath),
    /// The expression source and its absolute offset.
    Expr(usize, usize),
}

/// Splits a raw string literal (quotes included) starting at absolute offset `at` into parts.
pub(super) fn scan(raw: &str, at: usize, problems: &mut Vec<Problem>) -> Vec<RawPart> {
    // `r"…"`: the same literal without its escapes.
    if let Some(rest) = raw.strip_prefix('r') {
        let mut scanner = Scanner {
            src: rest,
            at: at + 1,
            quote: rest.as_bytes().first().copied().unwrap_or(b'"'),
            triple: false,
            raw: true,
            indent: 0,
            parts: Vec::new(),
            text: String::new(),
            problems,
        };
        scanner.run(1, rest.len().saturating_sub(1).max(1), false);
        return scanner.parts;
    }
    let (content_start, content_end, indent, first_line_indented) = if raw.starts_with("\"\"\"") {
        triple_layout(raw)
    } else {
        (1, raw.len().saturating_sub(1).max(1), 0, false)
    };
    let mut scanner = Scanner {
        src: raw,
        at,
        quote: raw.as_bytes().first().copied().unwrap_or(b'"'),
        triple: raw.starts_with("\"\"\""),
        raw: false,
        indent,
        parts: Vec::new(),
        text: String::new(),
        problems,
    };
    scanner.run(content_start, content_end, first_line_indented);
    scanner.parts
}

/// For `"""…"""`: where the content starts and ends once the first and last line breaks are
/// removed, the common indentation, and whether the first content line carries indentation.
fn triple_layout(raw: &str) -> (usize, usize, usize, bool) {
    let inner_start = 3;
    let inner_end = raw.len().saturating_sub(3).max(inner_start);
    let inner = &raw[inner_start..inner_end];
    let (mut start, first_line_indented) = if inner.starts_with("\r\n") {
        (inner_start + 2, true)
    } else if inner.starts_with('\n') {
        (inner_start + 1, true)
    } else {
        (inner_start, false)
    };
    let mut end = inner_end;
    if let Some(nl) = raw[start..end].rfind('\n') {
        let last = &raw[start + nl + 1..end];
        if last.chars().all(|c| c == ' ' || c == '\t') {
            end = start + nl;
            if raw[..end].ends_with('\r') && end > start {
                end -= 1;
            }
        }
    }
    if start > end {
        start = end;
    }
    let body = &raw[start..end];
    let indent = body
        .split('\n')
        .enumerate()
        .filter(|(i, _)| *i > 0 || first_line_indented)
        .map(|(_, line)| line.trim_end_matches('\r'))
        .filter(|line| !line.trim().is_empty())
        .map(|line| line.chars().take_while(|c| *c == ' ' || *c == '\t').count())
        .min()
        .unwrap_or(0);
    (start, end, indent, first_line_indented)
}

struct Scanner<'a, 'p> {
    src: &'a str,
    at: usize,
    quote: u8,
    triple: bool,
    /// `r"…"`: a backslash is text, and keeps the character after it as text too.
    raw: bool,
    indent: usize,
    parts: Vec<RawPart>,
    text: String,
    problems: &'p mut Vec<Problem>,
}

impl Scanner<'_, '_> {
    fn run(&mut self, start: usize, end: usize, first_line_indented: bool) {
        let bytes = self.src.as_bytes();
        let mut i = start;
        if first_line_indented {
            i = self.skip_indent(i, end);
        }
        while i < end {
            match bytes[i] {
                b'\\' if self.raw => {
                    let next = self.src[i + 1..end]
                        .chars()
                        .next()
                        .map_or(0, char::len_utf8);
                    self.text.push_str(&self.src[i..i + 1 + next]);
                    i += 1 + next;
                }
                b'\\' => i = self.escape(i, end),
                b'%' => i = self.percent(i, end),
                b'{' if bytes.get(i + 1) == Some(&b'{') => i = self.hole(i, end),
                b'\r' if self.triple && bytes.get(i + 1) == Some(&b'\n') => i += 1,
                b'\n' => {
                    self.text.push('\n');
                    i = self.skip_indent(i + 1, end);
                }
                _ => {
                    // Copy the whole run of plain text up to the next special byte at once.
                    let run = bytes[i..end]
                        .iter()
                        .position(|b| matches!(b, b'\\' | b'%' | b'{' | b'\r' | b'\n'))
                        .map_or(end, |p| i + p)
                        .max(i + 1);
                    // The special bytes are ASCII, so `run` is a character boundary.
                    self.text.push_str(&self.src[i..run]);
                    i = run;
                }
            }
        }
        self.flush();
    }

    fn skip_indent(&self, mut i: usize, end: usize) -> usize {
        let bytes = self.src.as_bytes();
        let mut n = 0;
        while n < self.indent && i < end && (bytes[i] == b' ' || bytes[i] == b'\t') {
            i += 1;
            n += 1;
        }
        i
    }

    fn flush(&mut self) {
        if !self.text.is_empty() {
            self.parts
                .push(RawPart::Text(std::mem::take(&mut self.text)));
        }
    }

    fn span(&self, start: usize, end: usize) -> Span {
        Span::new(self.at + start, self.at + end)
    }

    fn escape(&mut self, i: usize, end: usize) -> usize {
        let Some(c) = self.src[i + 1..end].chars().next() else {
            self.text.push('\\');
            return i + 1;
        };
        let next = i + 1 + c.len_utf8();
        let simple = match c {
            '\\' => Some('\\'),
            '"' => Some('"'),
            '\'' => Some('\''),
            'n' => Some('\n'),
            't' => Some('\t'),
            'r' => Some('\r'),
            '%' => Some('%'),
            '{' => Some('{'),
            _ => None,
        };
        if let Some(s) = simple {
            self.text.push(s);
            return next;
        }
        if c == 'u' {
            let rest = &self.src[next..end];
            if let Some(body) = rest.strip_prefix('{') {
                if let Some(close) = body.find('}') {
                    let hex = &body[..close];
                    let stop = next + 1 + close + 1;
                    match u32::from_str_radix(hex, 16).ok().and_then(char::from_u32) {
                        Some(ch) if !hex.is_empty() && hex.len() <= 6 => self.text.push(ch),
                        _ => self.problems.push(Problem {
                            code: Code::InvalidEscape,
                            span: self.span(i, stop),
                            message: format!("`\\u{{{hex}}}` is not a Unicode character"),
                            help: Some(
                                "write a hexadecimal code point of 1 to 6 digits, e.g. \\u{1F600}",
                            ),
                        }),
                    }
                    return stop;
                }
            }
            self.problems.push(Problem {
                code: Code::InvalidEscape,
                span: self.span(i, next),
                message: "`\\u` must be followed by a code point in braces".into(),
                help: Some("write e.g. \\u{1F600}"),
            });
            return next;
        }
        self.problems.push(Problem {
            code: Code::InvalidEscape,
            span: self.span(i, next),
            message: format!("unknown escape `\\{c}`"),
            help: Some(
                "escapes are \\\\ \\\" \\' \\n \\t \\r \\u{…}; write `%%` for a literal `%`",
            ),
        });
        self.text.push(c);
        next
    }

    /// `%%`, a `%var.path%` hole, or a lone `%` kept as text.
    fn percent(&mut self, i: usize, end: usize) -> usize {
        let bytes = self.src.as_bytes();
        if bytes.get(i + 1) == Some(&b'%') && i + 1 < end {
            self.text.push('%');
            return i + 2;
        }
        if let Some(path) = var_path_at(self.src, i, end, self.at) {
            let stop = i + 1 + (path.span.end - path.span.start - 2);
            self.flush();
            self.parts.push(RawPart::Var(path));
            return stop + 1;
        }
        self.text.push('%');
        i + 1
    }

    /// `{{ expr }}`: finds the closing braces, honouring nested brackets and quoted strings.
    fn hole(&mut self, i: usize, end: usize) -> usize {
        let bytes = self.src.as_bytes();
        let mut j = i + 2;
        let mut depth = 0usize;
        while j < end {
            match bytes[j] {
                q @ (b'\'' | b'"') if self.triple || q != self.quote => {
                    j += 1;
                    while j < end && bytes[j] != q {
                        j += if bytes[j] == b'\\' { 2 } else { 1 };
                    }
                }
                b'{' => depth += 1,
                b'}' if depth > 0 => depth -= 1,
                b'}' if bytes.get(j + 1) == Some(&b'}') && j + 1 < end => {
                    self.flush();
                    self.parts.push(RawPart::Expr(self.at + i + 2, self.at + j));
                    return j + 2;
                }
                _ => {}
            }
            j += 1;
        }
        self.problems.push(Problem {
            code: Code::Syntax,
            span: self.span(i, i + 2),
            message: "`{{` is not closed by `}}`".into(),
            help: Some("close the expression with `}}`, or write `\\{{` for literal braces"),
        });
        // Nothing after an unclosed hole can close one either: keep the rest as text rather
        // than searching again from every later `{{`.
        self.text.push_str(&self.src[i..end]);
        end
    }
}

/// A valid `%name.path%` starting at byte `i` (the `%`) of `src`, ending before `end`.
fn var_path_at(src: &str, i: usize, end: usize, at: usize) -> Option<VarPath> {
    let rest = &src[i + 1..end];
    let close = rest.find(|c: char| c == '%' || c.is_whitespace())?;
    if !rest[close..].starts_with('%') {
        return None;
    }
    let inside = &rest[..close];
    let start = at + i + 1;
    let path = parse_var_path(inside, start)?;
    Some(VarPath {
        span: Span::new(at + i, start + close + 1),
        ..path
    })
}

/// Parses `name.seg.0` (the inside of `%…%`) at absolute offset `start`; `None` when it is not
/// a variable path. The returned span covers the inside only.
pub(super) fn parse_var_path(inside: &str, start: usize) -> Option<VarPath> {
    let mut segments = inside.split('.');
    let root = segments.next()?;
    if !is_ident(root) {
        return None;
    }
    let mut offset = start + root.len() + 1;
    let mut path = Vec::new();
    for seg in segments {
        if seg.is_empty() || seg.contains(|c: char| c == '%' || c.is_whitespace()) {
            return None;
        }
        path.push(Ident {
            name: seg.to_string(),
            span: Span::new(offset, offset + seg.len()),
        });
        offset += seg.len() + 1;
    }
    Some(VarPath {
        root: Ident {
            name: root.to_string(),
            span: Span::new(start, start + root.len()),
        },
        path,
        span: Span::new(start, start + inside.len()),
        slot: None,
    })
}

/// An identifier: a Unicode letter or `_`, then letters, digits, `_`.
pub(super) fn is_ident(s: &str) -> bool {
    let mut chars = s.chars();
    match chars.next() {
        Some(c) if c.is_alphabetic() || c == '_' => {}
        _ => return false,
    }
    chars.all(|c| c.is_alphanumeric() || c == '_')
}

/// Joins scanned parts into a [`Template`], parsing each expression hole with `parse_expr`.
pub(super) fn build(
    parts: Vec<RawPart>,
    span: Span,
    mut parse_expr: impl FnMut(usize, usize) -> super::ast::Expr,
) -> Template {
    let parts = parts
        .into_iter()
        .map(|p| match p {
            RawPart::Text(t) => TemplatePart::Text(t),
            RawPart::Var(v) => TemplatePart::Var(v),
            RawPart::Expr(s, e) => TemplatePart::Expr(Box::new(parse_expr(s, e))),
        })
        .collect();
    Template { parts, span }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(raw: &str) -> (Vec<String>, usize) {
        let mut problems = Vec::new();
        let parts = scan(raw, 0, &mut problems);
        let shown = parts
            .iter()
            .map(|p| match p {
                RawPart::Text(t) => format!("T:{t}"),
                RawPart::Var(v) => {
                    let mut s = format!("V:{}", v.root.name);
                    for seg in &v.path {
                        s.push('.');
                        s.push_str(&seg.name);
                    }
                    s
                }
                RawPart::Expr(s, e) => format!("E:{}", &raw[*s..*e]),
            })
            .collect();
        (shown, problems.len())
    }

    #[test]
    fn variables_and_percent_signs() {
        assert_eq!(
            texts(r#""Hi %user_name%!""#).0,
            ["T:Hi ", "V:user_name", "T:!"]
        );
        assert_eq!(texts(r#""%body.items.0.name%""#).0, ["V:body.items.0.name"]);
        assert_eq!(
            texts(r#""%headers.content-type%""#).0,
            ["V:headers.content-type"]
        );
        assert_eq!(texts(r#""50% off, 20% more""#).0, ["T:50% off, 20% more"]);
        assert_eq!(texts(r#""100%%""#).0, ["T:100%"]);
        assert_eq!(texts(r#""%""#).0, ["T:%"]);
        assert_eq!(texts(r#""%1abc%""#).0, ["T:%1abc%"]);
        assert_eq!(texts(r#""%имя%""#).0, ["V:имя"]);
    }

    #[test]
    fn expression_holes_nest_brackets() {
        assert_eq!(
            texts(r#""a {{ 1 + 2 }} b""#).0,
            ["T:a ", "E: 1 + 2 ", "T: b"]
        );
        assert_eq!(
            texts(r#""{{ {'a': {'b': 1}} }}""#).0,
            ["E: {'a': {'b': 1}} "]
        );
        assert_eq!(texts(r#""{{ '}}' }}""#).0, ["E: '}}' "]);
        let (parts, problems) = texts(r#""{{ 1 + ""#);
        assert_eq!(problems, 1);
        assert_eq!(parts, ["T:{{ 1 + "]);
    }

    #[test]
    fn escapes() {
        assert_eq!(texts(r#""a\"b\n\u{1F600}""#).0, ["T:a\"b\n😀"]);
        assert_eq!(texts(r#"'it\'s'"#).0, ["T:it's"]);
        assert_eq!(texts(r#""bad \q""#).1, 1);
        assert_eq!(texts(r#""bad \u{110000}""#).1, 1);
    }

    #[test]
    fn triple_quoted_strips_indentation() {
        let raw = "\"\"\"\n    Hello, %name%!\n      indented\n\n    end\n    \"\"\"";
        assert_eq!(
            texts(raw).0,
            ["T:Hello, ", "V:name", "T:!\n  indented\n\nend"]
        );
        assert_eq!(texts("\"\"\"one line\"\"\"").0, ["T:one line"]);
        assert_eq!(texts("\"\"\"\"\"\"").0, Vec::<String>::new());
        assert_eq!(
            texts("\"\"\"say \"hi\" and 'bye'\"\"\"").0,
            ["T:say \"hi\" and 'bye'"]
        );
    }
}
