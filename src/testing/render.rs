//! Items in, test-file lines out: how `--bless` writes what happened, and the canonical form
//! in which expected and actual transcripts are compared (trailing whitespace dropped, one
//! spelling per construct). Parsing these lines gives the items back.

use super::format::{Body, Input, InputKind, Output, RequestSpec};
use crate::eval::{Attachment, ButtonEvent};

/// `PREFIX first line` then `| next line`s; an empty line is the marker alone.
fn text_lines(prefix: &str, text: &str, out: &mut Vec<String>) {
    for (k, line) in text.split('\n').enumerate() {
        let marker = if k == 0 { prefix } else { "|" };
        let line = line.trim_end();
        out.push(if line.is_empty() {
            marker.to_string()
        } else {
            format!("{marker} {line}")
        });
    }
}

pub fn input(i: &Input) -> Vec<String> {
    let mut out = Vec::new();
    match &i.kind {
        InputKind::Message => {}
        InputKind::Sleep(ms) => {
            return vec![format!("sleep {}", crate::syntax::duration_text(*ms))]
        }
        InputKind::Webhook(payload) => {
            // A payload spread over `|` lines keeps them: the diff shows what the file says.
            let head = format!("webhook {}", i.text);
            if payload.is_empty() {
                return vec![head];
            }
            text_lines(&head, payload, &mut out);
            return out;
        }
    }
    if i.press {
        out.push(format!("> [{}]", escape_label(&i.text)));
    } else {
        let looks_pressed =
            !i.text.contains('\n') && i.text.starts_with('[') && i.text.ends_with(']');
        let text = if looks_pressed || i.text.starts_with('\\') {
            format!("\\{}", i.text)
        } else {
            i.text.clone()
        };
        text_lines(">", &text, &mut out);
    }
    out
}

pub fn output(o: &Output) -> Vec<String> {
    let mut out = Vec::new();
    match o {
        Output::Message {
            text,
            buttons,
            attachments,
        } => {
            text_lines("<", text, &mut out);
            for a in attachments {
                out.push(match a {
                    Attachment::Image { url } => format!("  image {url}"),
                    Attachment::File { url, name } => format!("  file {url} {name}"),
                });
            }
            if !buttons.is_empty() {
                let shown: Vec<String> = buttons.iter().map(button).collect();
                out.push(format!("  {}", shown.join(" ")));
            }
        }
        Output::Notify(t) => text_lines("notify:", t, &mut out),
        Output::Log(t) => text_lines("log:", t, &mut out),
        Output::Warning(t) => text_lines("warning:", t, &mut out),
        Output::Error(t) => text_lines("error:", t, &mut out),
        Output::Timer(t) => text_lines("timer:", t, &mut out),
    }
    out
}

/// `[Label]`, `[Label -> target]`, `[Label ↗ url]`.
pub fn button(b: &ButtonEvent) -> String {
    match b {
        ButtonEvent::Text { label } => format!("[{}]", escape_label(label)),
        ButtonEvent::Goto { label, target } => {
            format!("[{} -> {}]", escape_label(label), escape_label(target))
        }
        ButtonEvent::Link { label, url } => {
            format!("[{} ↗ {}]", escape_label(label), escape_label(url))
        }
    }
}

/// `\` before `\`, `]`, and the arrow of a ` -> `, ` → ` or ` ↗ ` inside a label.
fn escape_label(label: &str) -> String {
    let chars: Vec<char> = label.chars().collect();
    let mut out = String::with_capacity(label.len());
    for (k, &c) in chars.iter().enumerate() {
        let before = |n: usize| k.checked_sub(n).and_then(|i| chars.get(i)).copied();
        let next = chars.get(k + 1).copied();
        let separator = match c {
            '>' => before(1) == Some('-') && before(2) == Some(' ') && next == Some(' '),
            '→' | '↗' => before(1) == Some(' ') && next == Some(' '),
            _ => false,
        };
        if c == '\\' || c == ']' || separator {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

pub fn request(r: &RequestSpec) -> Vec<String> {
    let mut out = vec![format!("http {} {}", r.method, r.url)
        .trim_end()
        .to_string()];
    for (name, value) in &r.headers {
        out.push(format!("  {name}: {value}").trim_end().to_string());
    }
    match &r.body {
        None => {}
        Some(Body::Json(v)) => {
            let text = serde_json::to_string_pretty(v).unwrap_or_default();
            out.extend(text.lines().map(|l| format!("  {l}")));
        }
        Some(Body::Form(pairs)) => {
            for (name, value) in pairs {
                out.push(format!("  & {name}={value}").trim_end().to_string());
            }
        }
        Some(Body::Text(t)) => {
            for line in t.split('\n') {
                let line = line.trim_end();
                out.push(if line.is_empty() {
                    "  |".to_string()
                } else {
                    format!("  | {line}")
                });
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::super::format::{parse, Item};
    use super::*;

    /// Rendering, parsing and rendering again gives the same lines.
    #[test]
    fn round_trips() {
        let outputs = [
            Output::Message {
                text: "a\n\n  b  \n".into(),
                buttons: vec![
                    ButtonEvent::Text {
                        label: "x ] y \\ z".into(),
                    },
                    ButtonEvent::Goto {
                        label: "go -> there".into(),
                        target: "s::b".into(),
                    },
                    ButtonEvent::Link {
                        label: "see ↗ this".into(),
                        url: "https://e.x/a]".into(),
                    },
                    ButtonEvent::Text {
                        label: String::new(),
                    },
                ],
                attachments: vec![
                    Attachment::Image {
                        url: "https://e.x/p.jpg".into(),
                    },
                    Attachment::File {
                        url: "https://e.x/i.pdf".into(),
                        name: "Invoice 7.pdf".into(),
                    },
                ],
            },
            Output::Timer("\"cart\" -> follow_up".into()),
            Output::Message {
                text: String::new(),
                buttons: vec![],
                attachments: vec![],
            },
            Output::Notify("n\nm".into()),
            Output::Error("f.scn:3: boom".into()),
        ];
        let inputs = [
            Input {
                text: "[b]".into(),
                press: true,
                kind: InputKind::Message,
            },
            Input {
                text: "[not]".into(),
                press: false,
                kind: InputKind::Message,
            },
            Input {
                text: "\\x".into(),
                press: false,
                kind: InputKind::Message,
            },
            Input {
                text: "one\ntwo".into(),
                press: false,
                kind: InputKind::Message,
            },
            Input {
                text: "30m".into(),
                press: false,
                kind: InputKind::Sleep(1_800_000),
            },
            Input {
                text: "paid".into(),
                press: false,
                kind: InputKind::Webhook("{\"amount\": 5}".into()),
            },
            Input {
                text: "ping".into(),
                press: false,
                kind: InputKind::Webhook(String::new()),
            },
            Input {
                text: "shipped".into(),
                press: false,
                kind: InputKind::Webhook("{\n  \"order\": 7\n}".into()),
            },
        ];
        let mut text = String::new();
        for i in &inputs {
            text += &(input(i).join("\n") + "\n");
            for o in &outputs {
                text += &(output(o).join("\n") + "\n");
            }
        }
        let parsed = parse(text.as_bytes()).unwrap_or_else(|e| panic!("{e:?}\n{text}"));
        let turns = &parsed.conversations[0].turns;
        assert_eq!(turns.len(), inputs.len());
        for (t, i) in turns.iter().zip(&inputs) {
            assert_eq!(&t.input, i);
            for (e, o) in t.outputs.iter().zip(&outputs) {
                let Item::Output(got) = &e.item else { panic!() };
                assert_eq!(output(got), output(o));
            }
        }
    }
}
