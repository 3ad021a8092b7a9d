//! Events in, text for people out: the bot's messages (with their buttons) on stdout, and what
//! only the author cares about — notify, log, http, warnings, errors — on stderr.

use owo_colors::OwoColorize;

use crate::eval::{ButtonEvent, Event, Location};

/// Rendered events, split by stream.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Rendered {
    pub stdout: String,
    pub stderr: String,
}

/// Renders one turn's events. With `echo`, the user's message is shown too (`> text`), as when
/// input comes from a file rather than from someone typing at a prompt.
pub fn render_events(events: &[Event], echo: bool, color: bool) -> Rendered {
    let mut r = Rendered::default();
    let paint = |text: String, f: fn(&str) -> String| if color { f(&text) } else { text };
    for e in events {
        match e {
            Event::Input { text } => {
                if echo {
                    r.stdout.push_str(&format!("> {text}\n"));
                }
            }
            Event::Message { text, buttons } => {
                r.stdout.push_str(text);
                r.stdout.push('\n');
                if !buttons.is_empty() {
                    let line: Vec<String> = buttons.iter().map(button).collect();
                    r.stdout.push_str(&line.join(" "));
                    r.stdout.push('\n');
                }
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
                r.stderr.push_str(&paint(line, |s| s.dimmed().to_string()));
                r.stderr.push('\n');
            }
            Event::Notify { text } => {
                r.stderr
                    .push_str(&paint(format!("notify: {text}"), |s| s.cyan().to_string()));
                r.stderr.push('\n');
            }
            Event::Log { text } => {
                r.stderr
                    .push_str(&paint(format!("log: {text}"), |s| s.dimmed().to_string()));
                r.stderr.push('\n');
            }
            Event::Warning { message, at } => {
                let head = paint("warning".into(), |s| s.yellow().bold().to_string());
                r.stderr
                    .push_str(&format!("{head}: {}{message}\n", place(at)));
            }
            Event::Error { message, at } => {
                let head = paint("error".into(), |s| s.red().bold().to_string());
                r.stderr
                    .push_str(&format!("{head}: {}{message}\n", place(at)));
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
        assert_eq!(r.stdout, "> hi\nPick a size\n[S] [Cancel] [Size chart ↗]\n");
        assert_eq!(
            r.stderr,
            "notify: lead\nerror: a.scn:3:5: division by zero\n"
        );
        assert!(!render_events(&events, false, false).stdout.contains("> hi"));
    }
}
