//! Diagnostics in, text out: rustc-style reports (rendered by miette) for people, and a JSON
//! array for tools. Output without colour is byte-stable: fixed width, no terminal probing.

use std::fmt;
use std::sync::Arc;

use miette::{GraphicalReportHandler, GraphicalTheme, LabeledSpan, SourceCode};
use owo_colors::OwoColorize;
use serde_json::{json, Value};

use crate::diagnostic::{Diagnostic, Diagnostics, FileId, Severity};
use crate::source::Sources;
use crate::syntax::Span;

/// Width at which messages and help lines wrap. Fixed (not the terminal's) so that the same
/// input always renders to the same bytes.
pub const WIDTH: usize = 100;

/// At most this many diagnostics are rendered for people; the JSON form has them all.
pub const MAX_RENDERED: usize = crate::diagnostic::MAX_DIAGNOSTICS;

/// A file's text with its line index, so that showing a span costs time in proportion to the
/// lines shown, not to the size of the file (miette's own `str` source scans from the start).
#[derive(Debug, Clone)]
struct Indexed {
    name: String,
    text: Arc<str>,
    /// Byte offset of the start of every line.
    lines: Arc<Vec<usize>>,
}

impl Indexed {
    fn new(name: &str, text: Arc<str>) -> Indexed {
        let lines = std::iter::once(0)
            .chain(memchr::memchr_iter(b'\n', text.as_bytes()).map(|i| i + 1))
            .collect();
        Indexed {
            name: name.to_string(),
            text,
            lines: Arc::new(lines),
        }
    }

    fn line_of(&self, offset: usize) -> usize {
        self.lines
            .partition_point(|&s| s <= offset)
            .saturating_sub(1)
    }
}

impl SourceCode for Indexed {
    fn read_span<'a>(
        &'a self,
        span: &miette::SourceSpan,
        before: usize,
        after: usize,
    ) -> Result<Box<dyn miette::SpanContents<'a> + 'a>, miette::MietteError> {
        let (start, len) = (span.offset(), span.len());
        if start + len > self.text.len() {
            return Err(miette::MietteError::OutOfBounds);
        }
        // miette's algorithm, run on whole lines around the span (with a line to spare on
        // each side), then moved back to file coordinates.
        let first = self.line_of(start).saturating_sub(before + 1);
        let last = self.line_of(start + len) + after + 2;
        let from = self.lines[first];
        let to = self.lines.get(last).copied().unwrap_or(self.text.len());
        let window = &self.text.as_bytes()[from..to];
        let local = miette::SourceSpan::new((start - from).into(), len);
        let c = window.read_span(&local, before, after)?;
        Ok(Box::new(miette::MietteSpanContents::new_named(
            self.name.clone(),
            c.data(),
            (c.span().offset() + from, c.span().len()).into(),
            c.line() + first,
            c.column(),
            c.line_count() + first,
        )))
    }
}

/// Renders every diagnostic the way rustc would (code, message, the source line with the span
/// underlined, related places, help), one after another, separated by blank lines.
///
/// With `color`, ANSI colours are used; without, the output is plain Unicode text.
pub fn render_human(sources: &Sources, diagnostics: &Diagnostics, color: bool) -> String {
    let theme = if color {
        GraphicalTheme::unicode()
    } else {
        GraphicalTheme::unicode_nocolor()
    };
    let handler = GraphicalReportHandler::new_themed(theme)
        .with_width(WIDTH)
        .with_links(false)
        .without_syntax_highlighting();
    // One shared copy of each file's text, however many diagnostics point into it. miette cannot
    // underline the end of a last line that has no line break, so it gets one.
    let texts: Vec<Indexed> = sources
        .files
        .iter()
        .map(|f| {
            let shown = printable(&f.text);
            let text: Arc<str> = if shown.ends_with('\n') {
                Arc::from(&*shown)
            } else {
                Arc::from(format!("{shown}\n"))
            };
            Indexed::new(&f.name, text)
        })
        .collect();
    let mut out = String::new();
    let rest = diagnostics.0.len().saturating_sub(MAX_RENDERED) + diagnostics.omitted().total();
    for (i, diagnostic) in diagnostics.iter().enumerate() {
        if i == MAX_RENDERED {
            break;
        }
        if i > 0 {
            out.push('\n');
        }
        let mut rendered = String::new();
        for part in Report::parts(sources, &texts, diagnostic) {
            if handler.render_report(&mut rendered, &part).is_err() {
                // miette gives up on spans it cannot read; the message must still reach the user.
                rendered = fallback(sources, diagnostic);
                break;
            }
        }
        out.push_str(&rendered);
    }
    if rest > 0 {
        out.push_str(&format!("\n{}\n", more_line(rest, diagnostics.omitted())));
    }
    out
}

/// What `check` prints for people: every diagnostic, then the summary line.
pub fn render_check(
    sources: &Sources,
    diagnostics: &Diagnostics,
    summary: &Summary,
    color: bool,
) -> String {
    let mut text = render_human(sources, diagnostics, color);
    if !text.is_empty() {
        text.push('\n');
    }
    text.push_str(&summary.render(color));
    text.push('\n');
    text
}

/// The JSON form for `check --format json`: an array of objects with the keys `severity`,
/// `code`, `message`, `file`, `line`, `column` (1-based; the column counts characters), then
/// `end_line` and `end_column` (just past the span's end) and `help` when there is one.
pub fn to_json(sources: &Sources, diagnostics: &Diagnostics) -> Value {
    let mut list: Vec<Value> = diagnostics
        .iter()
        .map(|d| diagnostic_json(sources, d))
        .collect();
    let omitted = diagnostics.omitted();
    if omitted.total() > 0 {
        // Past the limit diagnostics are only counted; the last entry says how many.
        list.push(json!({
            "severity": "note",
            "code": "scn::more-diagnostics",
            "message": more_line(omitted.total(), omitted),
            "omitted_errors": omitted.errors,
            "omitted_warnings": omitted.warnings,
        }));
    }
    Value::Array(list)
}

/// `… and 12 more diagnostics (10 errors, 2 warnings), not listed`.
fn more_line(rest: usize, omitted: crate::diagnostic::Omitted) -> String {
    let noun = if rest == 1 {
        "diagnostic"
    } else {
        "diagnostics"
    };
    let counted = if omitted.total() > 0 {
        format!(
            "; only the first {} found are kept",
            crate::diagnostic::MAX_DIAGNOSTICS
        )
    } else {
        String::new()
    };
    format!("… and {rest} more {noun}, not listed{counted}")
}

/// [`to_json`], pretty-printed, with a final newline.
pub fn render_json(sources: &Sources, diagnostics: &Diagnostics) -> String {
    let mut text = serde_json::to_string_pretty(&to_json(sources, diagnostics))
        .unwrap_or_else(|_| String::from("[]"));
    text.push('\n');
    text
}

fn diagnostic_json(sources: &Sources, d: &Diagnostic) -> Value {
    let (file, (line, column), (end_line, end_column)) = match sources.files.get(d.file) {
        Some(f) => {
            let (start, end) = normalize(&f.text, d.span);
            (f.name.as_str(), f.line_col(start), f.line_col(end))
        }
        None => ("", (1, 1), (1, 1)),
    };
    let mut object = json!({
        "severity": d.severity.as_str(),
        "code": d.code.as_str(),
        "message": d.message,
        "file": file,
        "line": line,
        "column": column,
        "end_line": end_line,
        "end_column": end_column,
    });
    if let (Some(help), Some(map)) = (&d.help, object.as_object_mut()) {
        map.insert("help".into(), Value::String(help.clone()));
    }
    object
}

/// The line that ends a `check`: what was checked and whether it passed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Summary {
    pub files: usize,
    pub errors: usize,
    pub warnings: usize,
    /// Warnings count as failure (`--deny-warnings`).
    pub deny_warnings: bool,
}

impl Summary {
    pub fn new(files: usize, diagnostics: &Diagnostics, deny_warnings: bool) -> Summary {
        Summary {
            files,
            errors: diagnostics.error_count(),
            warnings: diagnostics.warning_count(),
            deny_warnings,
        }
    }

    /// Whether the bot failed the check (exit status 1).
    pub fn failed(&self) -> bool {
        self.errors > 0 || (self.deny_warnings && self.warnings > 0)
    }

    /// `error: could not compile the bot: 2 errors, 1 warning` or
    /// `ok: 3 files checked, 1 warning`; no final newline.
    pub fn render(&self, color: bool) -> String {
        let warnings = plural(self.warnings, "warning");
        if self.failed() {
            let mut counts = Vec::new();
            if self.errors > 0 {
                counts.push(plural(self.errors, "error"));
            }
            if self.warnings > 0 {
                counts.push(warnings);
            }
            let denied = if self.errors == 0 {
                " (warnings are denied)"
            } else {
                ""
            };
            let head = if color {
                "error".red().bold().to_string()
            } else {
                "error".into()
            };
            format!(
                "{head}: could not compile the bot: {}{denied}",
                counts.join(", ")
            )
        } else {
            let head = if color {
                "ok".green().bold().to_string()
            } else {
                "ok".into()
            };
            let files = plural(self.files, "file");
            if self.warnings > 0 {
                format!("{head}: {files} checked, {warnings}")
            } else {
                format!("{head}: {files} checked")
            }
        }
    }
}

fn plural(n: usize, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
}

/// One part of a diagnostic as miette sees it: the diagnostic itself, with related places in
/// its own file as extra labels, or a note pointing into another file. Notes follow the
/// diagnostic, and the help moves to the last of them, as rustc orders them.
#[derive(Debug)]
struct Report {
    code: Option<&'static str>,
    severity: miette::Severity,
    message: String,
    source: Option<Indexed>,
    labels: Vec<LabeledSpan>,
    help: Option<String>,
}

impl Report {
    fn parts(sources: &Sources, texts: &[Indexed], d: &Diagnostic) -> Vec<Report> {
        let mut labels = Vec::new();
        let mut notes = Vec::new();
        let file = sources.files.get(d.file);
        if let Some(f) = file {
            labels.push(LabeledSpan::new_primary_with_span(
                non_empty(&d.label),
                miette_span(&f.text, d.span),
            ));
        }
        for r in &d.related {
            match sources.files.get(r.file) {
                Some(other) if r.file == d.file => {
                    labels.push(LabeledSpan::new_with_span(
                        non_empty(&r.label),
                        miette_span(&other.text, r.span),
                    ));
                }
                Some(other) => notes.push(Report {
                    code: None,
                    severity: miette::Severity::Advice,
                    message: if r.label.is_empty() {
                        "see also".into()
                    } else {
                        r.label.clone()
                    },
                    source: named_source(sources, texts, r.file),
                    labels: vec![LabeledSpan::new_primary_with_span(
                        None,
                        miette_span(&other.text, r.span),
                    )],
                    help: None,
                }),
                None => {}
            }
        }
        let mut parts = vec![Report {
            code: Some(d.code.as_str()),
            severity: match d.severity {
                Severity::Error => miette::Severity::Error,
                Severity::Warning => miette::Severity::Warning,
            },
            message: d.message.clone(),
            source: file.and(named_source(sources, texts, d.file)),
            labels,
            help: None,
        }];
        parts.extend(notes);
        if let Some(last) = parts.last_mut() {
            last.help = d.help.clone();
        }
        parts
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Report {}

impl miette::Diagnostic for Report {
    fn code<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        self.code.map(|c| Box::new(c) as Box<dyn fmt::Display>)
    }

    fn severity(&self) -> Option<miette::Severity> {
        Some(self.severity)
    }

    fn help<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        self.help
            .as_ref()
            .map(|h| Box::new(h) as Box<dyn fmt::Display>)
    }

    fn source_code(&self) -> Option<&dyn SourceCode> {
        self.source.as_ref().map(|s| s as &dyn SourceCode)
    }

    fn labels(&self) -> Option<Box<dyn Iterator<Item = LabeledSpan> + '_>> {
        if self.labels.is_empty() {
            None
        } else {
            Some(Box::new(self.labels.iter().cloned()))
        }
    }
}

fn named_source(sources: &Sources, texts: &[Indexed], id: FileId) -> Option<Indexed> {
    sources.files.get(id)?;
    texts.get(id).cloned()
}

fn non_empty(label: &str) -> Option<String> {
    (!label.is_empty()).then(|| label.to_string())
}

fn miette_span(text: &str, span: Span) -> miette::SourceSpan {
    let (start, end) = normalize(text, span);
    (start, end - start).into()
}

/// Where a span is shown (in both forms): inside the text, on character boundaries, never
/// ending with a line break — a span that covers the end of a line, or the end of the file,
/// points just past the last character of that line instead, as rustc does.
fn normalize(text: &str, span: Span) -> (usize, usize) {
    let (mut start, mut end) = clamp(text, span);
    while end > start && text[..end].ends_with(['\n', '\r']) {
        end -= 1;
    }
    if start == text.len() {
        start = text.trim_end_matches(['\n', '\r']).len();
        end = start;
    }
    (start, end)
}

/// `span` moved inside `text` and onto character boundaries (spans come from the compiler, but
/// a wrong one must degrade the report, not crash it).
fn clamp(text: &str, span: Span) -> (usize, usize) {
    let mut start = span.start.min(text.len());
    while !text.is_char_boundary(start) {
        start -= 1;
    }
    let mut end = span.end.clamp(start, text.len());
    while !text.is_char_boundary(end) {
        end += 1;
    }
    (start, end)
}

/// A plain report for the (unexpected) case where miette cannot render one.
fn fallback(sources: &Sources, d: &Diagnostic) -> String {
    let place = match sources.files.get(d.file) {
        Some(f) => {
            let (line, column) = f.line_col(normalize(&f.text, d.span).0);
            format!("{}:{line}:{column}", f.name)
        }
        None => String::from("<unknown file>"),
    };
    let mut out = format!(
        "{}[{}]: {}\n  --> {place}\n",
        d.severity.as_str(),
        d.code.as_str(),
        d.message
    );
    if let Some(help) = &d.help {
        out.push_str(&format!("  help: {help}\n"));
    }
    out
}

/// A file's text as a snippet shows it: every control character but a line break, a tab and
/// the CR of a CRLF replaced by `?` (or `¿` for the two-byte C1 controls), byte for byte, so
/// spans still point at the same places and no escape sequence reaches the terminal.
fn printable(text: &str) -> std::borrow::Cow<'_, str> {
    let unsafe_at = |i: usize, c: char| {
        c.is_control()
            && c != '\n'
            && c != '\t'
            && !(c == '\r' && text.as_bytes().get(i + 1) == Some(&b'\n'))
    };
    if !text.char_indices().any(|(i, c)| unsafe_at(i, c)) {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len());
    for (i, c) in text.char_indices() {
        if unsafe_at(i, c) {
            out.push(if c.len_utf8() == 1 { '?' } else { '¿' });
        } else {
            out.push(c);
        }
    }
    debug_assert_eq!(out.len(), text.len());
    std::borrow::Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diagnostic::Code;

    fn one(text: &str, span: Span) -> (Sources, Diagnostics) {
        let sources = Sources::from_texts([("bot.scn", text)]);
        let d = Diagnostic::new(Code::UnknownBlock, 0, span, "no block `x`").with_label("here");
        (sources, Diagnostics::from(vec![d]))
    }

    #[test]
    fn renders_code_message_place_label_and_help() {
        let text = "block a {\n  goto gret\n}\n";
        let start = text.find("gret").unwrap_or(0);
        let sources = Sources::from_texts([("bot.scn", text)]);
        let d = Diagnostic::new(
            Code::UnknownBlock,
            0,
            Span::new(start, start + 4),
            "no block `gret`",
        )
        .with_label("not a block of this scenario")
        .with_help("did you mean `greet`?");
        let out = render_human(&sources, &Diagnostics::from(vec![d]), false);
        assert!(out.starts_with("scn::unknown-block\n"), "{out}");
        assert!(out.contains("× no block `gret`"), "{out}");
        assert!(out.contains("[bot.scn:2:8]"), "{out}");
        assert!(out.contains("not a block of this scenario"), "{out}");
        assert!(out.contains("help: did you mean `greet`?"), "{out}");
        assert!(!out.contains('\u{1b}'), "{out}");
    }

    #[test]
    fn long_reports_stop_after_the_limit() {
        let text = "x\n".repeat(MAX_RENDERED + 5);
        let sources = Sources::from_texts([("bot.scn", text.as_str())]);
        let all: Vec<Diagnostic> = (0..MAX_RENDERED + 5)
            .map(|i| Diagnostic::new(Code::Syntax, 0, Span::new(2 * i, 2 * i + 1), "bad"))
            .collect();
        let out = render_human(&sources, &Diagnostics::from(all), false);
        assert_eq!(out.matches("× bad").count(), MAX_RENDERED);
        assert!(
            out.contains("… and 5 more diagnostics"),
            "{}",
            &out[out.len() - 200..]
        );
        // Line numbers far into the file come from the index, not from miette's scan.
        assert!(
            out.contains(&format!("[bot.scn:{}:1]", MAX_RENDERED)),
            "missing last line"
        );
    }

    #[test]
    fn colour_only_when_asked() {
        let (sources, diagnostics) = one("block a {}\n", Span::new(6, 7));
        assert!(render_human(&sources, &diagnostics, true).contains('\u{1b}'));
        assert!(!render_human(&sources, &diagnostics, false).contains('\u{1b}'));
    }

    #[test]
    fn every_span_renders_without_panicking() {
        // Multi-byte characters, CRLF, a tab, no final newline: every span, even inverted or
        // out of range ones, must render.
        for text in ["", "\n", "ab\nпривет 🎉\r\n\tx", "block a {\n}\n", "x"] {
            for start in 0..=text.len() + 2 {
                for end in 0..=text.len() + 2 {
                    let (sources, diagnostics) = one(text, Span { start, end });
                    let out = render_human(&sources, &diagnostics, false);
                    assert!(
                        out.contains("no block `x`"),
                        "{text:?} {start}..{end}: {out}"
                    );
                    assert!(
                        out.contains("── here"),
                        "label lost: {text:?} {start}..{end}:\n{out}"
                    );
                    let json = to_json(&sources, &diagnostics);
                    assert!(json[0]["line"].as_u64().is_some_and(|l| l >= 1));
                }
            }
        }
    }

    #[test]
    fn related_places_in_this_and_other_files() {
        let sources = Sources::from_texts([
            ("a.scn", "user %x% = 0\nuser %x% = 1\n"),
            ("b.scn", "user %x% = 2\n"),
        ]);
        let d = Diagnostic::new(
            Code::DuplicateDeclaration,
            0,
            Span::new(18, 21),
            "`%x%` is declared twice",
        )
        .with_label("declared again here")
        .with_related(0, Span::new(5, 8), "first declared here")
        .with_related(1, Span::new(5, 8), "also declared here");
        let out = render_human(&sources, &Diagnostics::from(vec![d]), false);
        assert!(out.contains("first declared here"), "{out}");
        assert!(out.contains("also declared here"), "{out}");
        assert!(out.contains("[b.scn:1:6]"), "{out}");
    }

    #[test]
    fn json_has_the_contract_keys_with_one_based_positions() {
        let text = "ab\nпривет x\n";
        let x = text.find('x').unwrap_or(0);
        let (sources, diagnostics) = one(text, Span::new(x, x + 1));
        let json = to_json(&sources, &diagnostics);
        let object = &json[0];
        assert_eq!(object["severity"], "error");
        assert_eq!(object["code"], "scn::unknown-block");
        assert_eq!(object["message"], "no block `x`");
        assert_eq!(object["file"], "bot.scn");
        assert_eq!(object["line"], 2);
        assert_eq!(object["column"], 8);
        assert_eq!(object["end_column"], 9);
        assert!(object.get("help").is_none());
    }

    #[test]
    fn summary_wording() {
        let s = |errors, warnings, deny| Summary {
            files: 3,
            errors,
            warnings,
            deny_warnings: deny,
        };
        assert_eq!(
            s(2, 1, false).render(false),
            "error: could not compile the bot: 2 errors, 1 warning"
        );
        assert_eq!(
            s(1, 0, false).render(false),
            "error: could not compile the bot: 1 error"
        );
        assert_eq!(
            s(0, 1, false).render(false),
            "ok: 3 files checked, 1 warning"
        );
        assert_eq!(s(0, 0, true).render(false), "ok: 3 files checked");
        assert_eq!(
            s(0, 2, true).render(false),
            "error: could not compile the bot: 2 warnings (warnings are denied)"
        );
        assert!(!s(0, 2, false).failed());
        assert!(s(0, 2, true).failed());
    }
}
