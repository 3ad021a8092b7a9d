//! Results in, text out: failures with a diff of expected and actual transcripts (file and
//! line on every hunk), malformed-file diagnostics, the coverage report, the summary line and
//! JUnit XML. Nothing here runs anything.

use std::fmt::Write as _;
use std::time::Duration;

use owo_colors::OwoColorize;
use similar::{Algorithm, ChangeTag, DiffTag};

use super::{Bot, BotState, ConversationReport, FileResult, Outcome, Problem, Run};

fn paint(text: &str, color: bool, f: fn(&str) -> String) -> String {
    if color {
        f(text)
    } else {
        text.to_string()
    }
}

/// The report of one file: nothing for a pass (unless `verbose`), else `FAIL path` and why.
pub fn file_result(r: &FileResult, color: bool, verbose: bool) -> String {
    let path = r.path.display().to_string();
    let mut out = String::new();
    match &r.outcome {
        Outcome::Passed => {
            if verbose {
                let _ = writeln!(
                    out,
                    "{} {path}",
                    paint("ok  ", color, |s| s.green().to_string())
                );
            }
        }
        Outcome::Blessed => {
            let _ = writeln!(
                out,
                "{} {path}",
                paint("blessed", color, |s| s.cyan().to_string())
            );
        }
        Outcome::Recorded => {
            let _ = writeln!(
                out,
                "{} {path}",
                paint("recorded", color, |s| s.cyan().to_string())
            );
        }
        Outcome::Failed {
            conversations,
            note,
        } => {
            let _ = writeln!(out, "{} {path}", fail(color));
            for c in conversations.iter().filter(|c| !c.passed()) {
                out.push_str(&conversation(&path, c, color));
            }
            if let Some(note) = note {
                let _ = writeln!(out, "  {note}");
            }
        }
        Outcome::Malformed(problems) => {
            let _ = writeln!(
                out,
                "{} {path}: not a valid test file ({} problem{})",
                fail(color),
                problems.len(),
                if problems.len() == 1 { "" } else { "s" }
            );
        }
        Outcome::Error(message) => {
            let _ = writeln!(out, "{} {path}: {message}", fail(color));
        }
    }
    out
}

fn fail(color: bool) -> String {
    paint("FAIL", color, |s| s.red().bold().to_string())
}

/// The diagnostics of a malformed test file, each with its line.
pub fn problems(path: &str, problems: &[Problem], color: bool) -> String {
    let mut out = String::new();
    for p in problems {
        let head = paint("error", color, |s| s.red().bold().to_string());
        let _ = writeln!(out, "{head}: {path}:{}: {}", p.line, p.message);
        if !p.source.trim().is_empty() {
            let width = p.line.to_string().len();
            let gutter = paint("|", color, |s| s.blue().to_string());
            let _ = writeln!(out, "{:width$} {gutter}", "");
            let _ = writeln!(out, "{} {gutter} {}", p.line, p.source);
            let _ = writeln!(out, "{:width$} {gutter}", "");
        }
    }
    out
}

/// A failing conversation: the diff of its transcript, then the other problems.
pub fn conversation(path: &str, c: &ConversationReport, color: bool) -> String {
    let mut out = String::new();
    let title = c
        .title
        .as_ref()
        .map(|t| format!(" ({t})"))
        .unwrap_or_default();
    let old: Vec<&str> = c.expected.iter().map(|(_, l)| l.as_str()).collect();
    let new: Vec<&str> = c.actual.iter().map(String::as_str).collect();
    if old != new {
        let _ = writeln!(
            out,
            "  conversation at line {}{title}: the transcript differs ({}, {})",
            c.line,
            paint("- expected", color, |s| s.red().to_string()),
            paint("+ actual", color, |s| s.green().to_string()),
        );
        let deadline = std::time::Instant::now() + Duration::from_secs(1);
        let ops =
            similar::capture_diff_slices_deadline(Algorithm::Myers, &old, &new, Some(deadline));
        let line_of = |index: usize| -> usize {
            match c.expected.get(index) {
                Some((line, _)) => *line,
                None => c.expected.last().map_or(c.line, |(l, _)| l + 1),
            }
        };
        let width = c
            .expected
            .last()
            .map_or(1, |(l, _)| (l + 1).to_string().len());
        for group in similar::group_diff_ops(ops, 3) {
            let first = group
                .iter()
                .find(|op| op.tag() != DiffTag::Equal)
                .map_or(0, |op| op.old_range().start);
            let _ = writeln!(
                out,
                "  {} {path}:{}",
                paint("-->", color, |s| s.blue().to_string()),
                line_of(first)
            );
            // A file line rendered as several lines (a JSON body) is numbered once.
            let mut shown = None;
            for op in &group {
                for change in op.iter_changes(&old, &new) {
                    let number = change.old_index().map(line_of);
                    let number = match number {
                        Some(n) if shown != Some(n) => {
                            shown = Some(n);
                            n.to_string()
                        }
                        _ => String::new(),
                    };
                    let text = change.value();
                    let line = match change.tag() {
                        ChangeTag::Equal => {
                            paint(&format!("  {number:>width$}   {text}"), color, |s| {
                                s.dimmed().to_string()
                            })
                        }
                        ChangeTag::Delete => {
                            paint(&format!("  {number:>width$} - {text}"), color, |s| {
                                s.red().to_string()
                            })
                        }
                        ChangeTag::Insert => {
                            paint(&format!("  {number:>width$} + {text}"), color, |s| {
                                s.green().to_string()
                            })
                        }
                    };
                    let _ = writeln!(out, "{line}");
                }
            }
        }
    }
    for (line, problem) in &c.problems {
        let _ = writeln!(out, "  {path}:{line}: {problem}");
    }
    out
}

/// Blocks that no test entered, per bot.
pub fn coverage(run: &Run) -> String {
    let mut out = String::new();
    for (b, bot) in run.bots.iter().enumerate() {
        let BotState::Ready { blocks } = &bot.state else {
            continue;
        };
        let ran = run
            .files
            .iter()
            .any(|f| f.bot == Some(b) && !matches!(f.outcome, Outcome::Malformed(_)));
        if !ran {
            continue;
        }
        out.push_str(&bot_coverage(bot, blocks));
    }
    out
}

fn bot_coverage(bot: &Bot, blocks: &[(String, String)]) -> String {
    let mut out = String::new();
    let missed: Vec<&(String, String)> = blocks
        .iter()
        .zip(&bot.reached)
        .filter(|(_, &seen)| !seen)
        .map(|(b, _)| b)
        .collect();
    if missed.is_empty() {
        let _ = writeln!(
            out,
            "coverage of {}: all {} blocks reached",
            bot.shown,
            blocks.len()
        );
        return out;
    }
    let _ = writeln!(
        out,
        "coverage of {}: {} of {} blocks reached; not reached:",
        bot.shown,
        blocks.len() - missed.len(),
        blocks.len()
    );
    let width = missed
        .iter()
        .map(|(name, _)| name.chars().count())
        .max()
        .unwrap_or(0);
    for (name, place) in missed {
        let _ = writeln!(out, "  {name:<width$}  {place}");
    }
    out
}

/// `N passed, M failed`: the last line of the output.
pub fn summary(run: &Run) -> String {
    let passed = run.files.iter().filter(|f| f.outcome.passed()).count();
    let failed = run.files.len() - passed;
    format!("{passed} passed, {failed} failed")
}

/// A JUnit XML report: one test suite per bot, one test case per file.
pub fn junit(run: &Run) -> String {
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let total_time: Duration = run.files.iter().map(|f| f.duration).sum();
    let failures = run.files.iter().filter(|f| !f.outcome.passed()).count();
    let _ = writeln!(
        out,
        "<testsuites name=\"scenarist\" tests=\"{}\" failures=\"{failures}\" errors=\"0\" time=\"{:.3}\">",
        run.files.len(),
        total_time.as_secs_f64()
    );
    let mut suites: Vec<usize> = run.files.iter().filter_map(|f| f.bot).collect();
    suites.sort_unstable();
    suites.dedup();
    for b in suites {
        let files: Vec<&FileResult> = run.files.iter().filter(|f| f.bot == Some(b)).collect();
        let name = run.bots.get(b).map_or("", |bot| bot.shown.as_str());
        let time: Duration = files.iter().map(|f| f.duration).sum();
        let failed = files.iter().filter(|f| !f.outcome.passed()).count();
        let _ = writeln!(
            out,
            "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{failed}\" errors=\"0\" time=\"{:.3}\">",
            xml(name),
            files.len(),
            time.as_secs_f64()
        );
        for f in files {
            let path = f.path.display().to_string();
            let _ = write!(
                out,
                "    <testcase name=\"{}\" classname=\"{}\" time=\"{:.3}\"",
                xml(&path),
                xml(name),
                f.duration.as_secs_f64()
            );
            let detail = match &f.outcome {
                Outcome::Passed | Outcome::Blessed | Outcome::Recorded => None,
                Outcome::Malformed(p) => Some((
                    "not a valid test file".to_string(),
                    problems(&path, p, false),
                )),
                Outcome::Error(m) => Some((m.clone(), m.clone())),
                Outcome::Failed { .. } => Some((
                    "the transcript differs from the test file".to_string(),
                    file_result(f, false, false),
                )),
            };
            match detail {
                None => out.push_str("/>\n"),
                Some((message, text)) => {
                    let _ = writeln!(
                        out,
                        ">\n      <failure message=\"{}\">{}</failure>\n    </testcase>",
                        xml(&message),
                        xml(&text)
                    );
                }
            }
        }
        out.push_str("  </testsuite>\n");
    }
    out.push_str("</testsuites>\n");
    out
}

/// Escapes text for XML; characters XML 1.0 cannot hold become U+FFFD.
fn xml(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\t' | '\n' | '\r' => out.push(c),
            c if (c as u32) < 0x20 || c == '\u{FFFE}' || c == '\u{FFFF}' => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xml_escapes_everything_it_must() {
        assert_eq!(
            xml("a<b>&\"c'\u{1b}[31m"),
            "a&lt;b&gt;&amp;&quot;c&apos;\u{FFFD}[31m"
        );
    }
}
