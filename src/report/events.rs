//! Events in, text for people out: the bot's messages (with their buttons) on stdout, and what
//! only the author cares about — notify, log, http, warnings, errors — on stderr, in the order
//! the bot produced them; control characters from outside are escaped.

use owo_colors::OwoColorize;

use crate::eval::{Attachment, ButtonEvent, Event, Location, TimerKind};

/// Which stream a line goes to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stream {
    /// The bot's messages and buttons.
    Stdout,
    /// What only the author cares about.
    Stderr,
}

/// Rendered events: lines in the order the bot produced them, each with its stream, so a
/// terminal that shows both streams shows them in that order.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Rendered {
    pub lines: Vec<(Stream, String)>,
}

impl Rendered {
    /// The text of one stream.
    pub fn text(&self, stream: Stream) -> String {
        self.lines
            .iter()
            .filter(|(s, _)| *s == stream)
            .map(|(_, t)| t.as_str())
            .collect()
    }
}

/// Text that came from outside (the user, an HTTP body, a bot string) made safe for a
/// terminal: control characters other than a line break or a tab are shown escaped
/// (`\u{1b}`, `\r`), so no escape sequence (OSC 52 clipboard writes, title changes) and no
/// carriage return reaches the terminal.
pub fn terminal_safe(text: &str) -> std::borrow::Cow<'_, str> {
    if !text
        .chars()
        .any(|c| c.is_control() && c != '\n' && c != '\t')
    {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            '\n' | '\t' => out.push(c),
            '\r' => out.push_str("\\r"),
            c if c.is_control() => out.push_str(&format!("\\u{{{:x}}}", c as u32)),
            c => out.push(c),
        }
    }
    std::borrow::Cow::Owned(out)
}

/// Renders one turn's events. With `echo`, the user's message is shown too (`> text`), as when
/// input comes from a file rather than from someone typing at a prompt.
pub fn render_events(events: &[Event], echo: bool, color: bool) -> Rendered {
    let mut r = Rendered::default();
    let paint = |text: String, f: fn(&str) -> String| if color { f(&text) } else { text };
    let mut out = |stream: Stream, text: String| r.lines.push((stream, text + "\n"));
    for e in events {
        match e {
            Event::Input { text } => {
                if echo {
                    out(Stream::Stdout, format!("> {}", terminal_safe(text)));
                }
            }
            Event::Webhook { name, payload } => {
                let line = format!("webhook: {name} {payload}");
                let line = terminal_safe(&line).into_owned();
                out(Stream::Stderr, paint(line, |s| s.dimmed().to_string()));
            }
            Event::Timer { name, block, kind } => {
                let what = match (kind, name) {
                    (TimerKind::Timeout, _) => "timeout".to_string(),
                    (TimerKind::Schedule, Some(name)) => format!("{name:?}"),
                    (TimerKind::Schedule, None) => "schedule".to_string(),
                };
                let line = format!("timer: {what} → {block}");
                let line = terminal_safe(&line).into_owned();
                out(Stream::Stderr, paint(line, |s| s.dimmed().to_string()));
            }
            Event::Message {
                text,
                buttons,
                attachments,
            } => {
                let mut shown = terminal_safe(text).into_owned();
                for a in attachments {
                    shown.push('\n');
                    shown.push_str(&terminal_safe(&attachment(a)));
                }
                if !buttons.is_empty() {
                    let line: Vec<String> = buttons.iter().map(button).collect();
                    shown.push('\n');
                    shown.push_str(&terminal_safe(&line.join(" ")));
                }
                out(Stream::Stdout, shown);
            }
            Event::Http {
                method,
                url,
                status,
                error,
                duration_ms,
            } => {
                let outcome = match (status, error) {
                    (Some(s), _) => s.to_string(),
                    (None, Some(e)) => format!("failed: {e}"),
                    (None, None) => "failed".into(),
                };
                let line = format!("http: {method} {url} → {outcome} ({duration_ms} ms)");
                let line = terminal_safe(&line).into_owned();
                out(Stream::Stderr, paint(line, |s| s.dimmed().to_string()));
            }
            Event::Notify { text } => {
                let line = format!("notify: {}", terminal_safe(text));
                out(Stream::Stderr, paint(line, |s| s.cyan().to_string()));
            }
            Event::Log { text } => {
                let line = format!("log: {}", terminal_safe(text));
                out(Stream::Stderr, paint(line, |s| s.dimmed().to_string()));
            }
            Event::Warning { message, at } => {
                let head = paint("warning".into(), |s| s.yellow().bold().to_string());
                let line = format!("{}{}", place(at), message);
                out(Stream::Stderr, format!("{head}: {}", terminal_safe(&line)));
            }
            Event::Error { message, at } => {
                let head = paint("error".into(), |s| s.red().bold().to_string());
                let line = format!("{}{}", place(at), message);
                out(Stream::Stderr, format!("{head}: {}", terminal_safe(&line)));
            }
            Event::Wait => {}
            Event::End => {}
        }
    }
    r
}

fn place(at: &Option<Location>) -> String {
    match at {
        Some(l) => format!("{}:{}:{}: ", l.file, l.line, l.column),
        None => String::new(),
    }
}

/// `(image: https://…/photo.jpg)`, `(file: Invoice.pdf, https://…/invoice.pdf)`.
pub fn attachment(a: &Attachment) -> String {
    match a {
        Attachment::Image { url } => format!("(image: {url})"),
        Attachment::File { url, name } => format!("(file: {name}, {url})"),
    }
}

/// `[S]`, `[Cancel]`, `[Size chart ↗]`.
fn button(b: &ButtonEvent) -> String {
    match b {
        ButtonEvent::Link { label, .. } => format!("[{label} ↗]"),
        other => format!("[{}]", other.label()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_and_buttons_read_like_a_chat() {
        let events = vec![
            Event::Input { text: "hi".into() },
            Event::Message {
                text: "Pick a size".into(),
                buttons: vec![
                    ButtonEvent::Text { label: "S".into() },
                    ButtonEvent::Goto {
                        label: "Cancel".into(),
                        target: "cancelled".into(),
                    },
                    ButtonEvent::Link {
                        label: "Size chart".into(),
                        url: "https://x.example".into(),
                    },
                ],
                attachments: vec![],
            },
            Event::Notify {
                text: "lead".into(),
            },
            Event::Error {
                message: "division by zero".into(),
                at: Some(Location {
                    file: "a.scn".into(),
                    line: 3,
                    column: 5,
                }),
            },
            Event::End,
        ];
        let r = render_events(&events, true, false);
        assert_eq!(
            r.text(Stream::Stdout),
            "> hi\nPick a size\n[S] [Cancel] [Size chart ↗]\n"
        );
        assert_eq!(
            r.text(Stream::Stderr),
            "notify: lead\nerror: a.scn:3:5: division by zero\n"
        );
        assert!(!render_events(&events, false, false)
            .text(Stream::Stdout)
            .contains("> hi"));
    }
}
