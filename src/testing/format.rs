//! Test files (`*.test`): text in, a [`TestFile`] out — or [`Problem`]s, each with its line.
//! The format is documented for users in `docs/TESTING.md`; in short, every line says what it
//! is by how it starts:
//!
//! ```text
//! # a comment                           bot ../other_bot     var name = "JSON or text"
//! === A conversation title              user-id 42           secret token = abc
//! > what the user sends                 user-name Ann        now 2026-03-01T10:00:00Z
//! > [Button label]                      seed 7               max-steps 500
//! < what the bot says
//! | …its next line
//!   [Text] [Go -> block] [Site ↗ https://…]
//! notify: …   log: …   warning: file:line: …   error: file:line: …
//! http GET https://api.example.com/x    (then indented `Header: value` lines and a body)
//! → 200                                 (or `→ error: connection refused`; then headers, body)
//! ```
//!
//! Every item keeps the range of lines it came from, so `--bless` can rewrite the expected
//! parts and copy everything else (inputs, stubs, comments) byte for byte.

use std::ops::Range;

use crate::eval::functions::days_from_civil;
use crate::eval::{Attachment, ButtonEvent};
use crate::http::Response;
use crate::value::Value;

/// A test file, parsed.
#[derive(Clone, Debug)]
pub struct TestFile {
    /// The file's lines, without their line breaks.
    pub lines: Vec<String>,
    /// The settings of the file header (before the first conversation).
    pub settings: Settings,
    pub conversations: Vec<Conversation>,
}

/// Presets and options of a file or of one conversation.
#[derive(Clone, Debug, Default)]
pub struct Settings {
    /// `bot PATH`, relative to the test file's directory.
    pub bot: Option<String>,
    pub user_id: Option<String>,
    pub user_name: Option<String>,
    /// `var` and `secret` presets in the order written.
    pub vars: Vec<(String, Value)>,
    /// The names of the `secret` presets, whose values are shown as `***`.
    pub secrets: Vec<String>,
    /// `now …`: the fixed clock, Unix milliseconds.
    pub now_ms: Option<i64>,
    /// `seed N`: the random state of the session.
    pub seed: Option<u64>,
    /// `max-steps N`: statements one turn may run.
    pub max_steps: Option<u64>,
}

/// One conversation: a new session, the user's messages and what each should produce.
#[derive(Clone, Debug)]
pub struct Conversation {
    /// The text after `===`, if any.
    pub title: Option<String>,
    /// 0-based index of its first line (`===`, or its first message).
    pub line: usize,
    pub settings: Settings,
    pub turns: Vec<Turn>,
}

/// A user's message and what the bot is expected to do with it.
#[derive(Clone, Debug)]
pub struct Turn {
    pub input: Input,
    /// The lines of the `>` item.
    pub at: Range<usize>,
    pub outputs: Vec<Expected>,
}

/// What the user sends, or what else happens between turns.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Input {
    /// The message; for `sleep`, the duration as written; for `webhook`, its name.
    pub text: String,
    /// Written `> [Label]`: a button press; the runner checks the button is there.
    pub press: bool,
    pub kind: InputKind,
}

/// What an input line is.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum InputKind {
    /// `> text`: the user's message.
    #[default]
    Message,
    /// `sleep 30m`: virtual time passes (milliseconds); every timer due in it fires, in order.
    Sleep(u64),
    /// `webhook NAME JSON`: an external event arrives, with its payload as written (JSON
    /// text; empty for none, which is null).
    Webhook(String),
}

/// One expected item of a turn, with the lines it was written on.
#[derive(Clone, Debug)]
pub struct Expected {
    pub item: Item,
    pub at: Range<usize>,
}

#[derive(Clone, Debug)]
pub enum Item {
    Output(Output),
    Exchange(Box<Exchange>),
}

/// Something the bot produced, other than an HTTP request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Output {
    Message {
        text: String,
        buttons: Vec<ButtonEvent>,
        attachments: Vec<Attachment>,
    },
    /// `timer: "cart" -> follow_up`: a timer came due (the text after `timer:`).
    Timer(String),
    Notify(String),
    Log(String),
    /// `file:line: message`, or the message alone when it has no place.
    Warning(String),
    Error(String),
}

/// A request the bot is expected to make and the stub that answers it.
#[derive(Clone, Debug)]
pub struct Exchange {
    pub request: RequestSpec,
    /// The `http` line and its indented lines.
    pub request_at: Range<usize>,
    pub stub: Stub,
    /// From the end of the request to the end of the response: copied as it is by `--bless`.
    pub stub_at: Range<usize>,
    /// The response as compared and shown in diffs: its lines without comments and blanks,
    /// with their 0-based line indexes.
    pub stub_lines: Vec<(usize, String)>,
}

/// The request as the file lists it: method and URL always; only the headers listed; the
/// body when one is listed.
#[derive(Clone, Debug, PartialEq)]
pub struct RequestSpec {
    pub method: String,
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub body: Option<Body>,
}

/// A body as written in a test file.
#[derive(Clone, Debug, PartialEq)]
pub enum Body {
    /// `{…}` or `[…]`: compared as JSON (key order and layout do not matter).
    Json(serde_json::Value),
    /// `& name=value` lines: a form, compared pair by pair (decoded).
    Form(Vec<(String, String)>),
    /// `| text` lines: compared as text.
    Text(String),
}

/// What the test transport answers.
#[derive(Clone, Debug)]
pub enum Stub {
    Response(Response),
    /// `→ error: …`: a transport failure (the bot takes `on error`).
    Failure(String),
}

/// A malformed line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    /// 1-based.
    pub line: usize,
    pub message: String,
    /// The text of that line.
    pub source: String,
}

/// The settings that only the file header may hold (they pick and configure the bot).
const FILE_ONLY: &[&str] = &["bot", "now", "max-steps"];
const DIRECTIVES: &[&str] = &[
    "bot",
    "user-id",
    "user-name",
    "var",
    "secret",
    "now",
    "seed",
    "max-steps",
];
const OUTPUT_PREFIXES: &[&str] = &["notify:", "log:", "warning:", "error:", "timer:"];

/// Parses a test file. Every malformed line is reported (not just the first).
pub fn parse(bytes: &[u8]) -> Result<TestFile, Vec<Problem>> {
    let text = match std::str::from_utf8(bytes) {
        Ok(t) => t,
        Err(e) => {
            let line = bytes[..e.valid_up_to()]
                .iter()
                .filter(|&&b| b == b'\n')
                .count();
            return Err(vec![Problem {
                line: line + 1,
                message: "the file is not valid UTF-8; save it as UTF-8".into(),
                source: String::new(),
            }]);
        }
    };
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let lines: Vec<String> = text.lines().map(str::to_string).collect();
    let mut p = Parser {
        lines: &lines,
        i: 0,
        problems: Vec::new(),
    };
    let (settings, conversations) = p.file();
    if conversations.iter().all(|c| c.turns.is_empty()) {
        let at = conversations.first().map_or(0, |c| c.line);
        p.problem(
            at,
            "there is no conversation to replay: write the user's first message, e.g. `> hi`, \
             then run `scenarist test --bless` to fill in the bot's answers",
        );
    }
    if p.problems.is_empty() {
        Ok(TestFile {
            lines,
            settings,
            conversations,
        })
    } else {
        Err(p.problems)
    }
}

struct Parser<'a> {
    lines: &'a [String],
    i: usize,
    problems: Vec<Problem>,
}

fn is_trivia(line: &str) -> bool {
    let t = line.trim_start();
    t.is_empty() || t.starts_with('#')
}

fn is_indented(line: &str) -> bool {
    line.starts_with([' ', '\t']) && !line.trim().is_empty()
}

/// The text after a one-character marker (`>`, `<`, `|`) or a prefix, without the one space
/// that usually follows it; trailing whitespace is never significant.
fn after(line: &str, prefix: &str) -> String {
    let rest = &line[prefix.len()..];
    rest.strip_prefix(' ')
        .unwrap_or(rest)
        .trim_end()
        .to_string()
}

fn first_word(line: &str) -> &str {
    line.split_whitespace().next().unwrap_or("")
}

/// The arrow of a response line: `→` (as written by `--bless`) or `->`.
pub fn strip_arrow(line: &str) -> Option<&str> {
    line.strip_prefix('→').or_else(|| line.strip_prefix("->"))
}

impl Parser<'_> {
    fn problem(&mut self, index: usize, message: impl Into<String>) {
        self.problems.push(Problem {
            line: index + 1,
            message: message.into(),
            source: self.lines.get(index).cloned().unwrap_or_default(),
        });
    }

    fn file(&mut self) -> (Settings, Vec<Conversation>) {
        let mut header = Settings::default();
        let mut conversations: Vec<Conversation> = Vec::new();
        while self.i < self.lines.len() {
            let i = self.i;
            let line = self.lines[i].as_str();
            if is_trivia(line) {
                self.i += 1;
                continue;
            }
            if let Some(title) = line.strip_prefix("===") {
                let title = title.trim().trim_end_matches('=').trim();
                conversations.push(Conversation {
                    title: (!title.is_empty()).then(|| title.to_string()),
                    line: i,
                    settings: header.clone(),
                    turns: Vec::new(),
                });
                self.i += 1;
                continue;
            }
            let word = first_word(line);
            if DIRECTIVES.contains(&word) && !line.starts_with([' ', '\t']) {
                match conversations.last_mut() {
                    None => self.directive(i, &mut header, true),
                    Some(c) if c.turns.is_empty() => {
                        let mut settings = std::mem::take(&mut c.settings);
                        self.directive(i, &mut settings, false);
                        if let Some(c) = conversations.last_mut() {
                            c.settings = settings;
                        }
                    }
                    Some(_) => self.problem(
                        i,
                        format!(
                            "`{word}` must come before the conversation's first message \
                             (or start a new conversation with `===`)"
                        ),
                    ),
                }
                self.i += 1;
                continue;
            }
            let event = (word == "sleep" || word == "webhook") && !line.starts_with([' ', '\t']);
            if line.starts_with('>') || event {
                let (input, end) = if event {
                    self.event(i, word)
                } else {
                    self.input(i)
                };
                if conversations.is_empty() {
                    conversations.push(Conversation {
                        title: None,
                        line: i,
                        settings: header.clone(),
                        turns: Vec::new(),
                    });
                }
                if let Some(c) = conversations.last_mut() {
                    c.turns.push(Turn {
                        input,
                        at: i..end,
                        outputs: Vec::new(),
                    });
                }
                self.i = end;
                continue;
            }
            let parsed = if line.starts_with('<') {
                Some(self.message(i))
            } else if let Some(prefix) = OUTPUT_PREFIXES.iter().find(|p| line.starts_with(**p)) {
                Some(self.output(i, prefix))
            } else if word == "http" && !line.starts_with([' ', '\t']) {
                Some(self.exchange(i))
            } else {
                None
            };
            let Some((item, end)) = parsed else {
                self.unknown_line(i);
                self.i += 1;
                continue;
            };
            match conversations.last_mut().and_then(|c| c.turns.last_mut()) {
                Some(turn) => turn.outputs.push(Expected { item, at: i..end }),
                None => self.problem(
                    i,
                    "the bot answers only after a message: put the user's first message \
                     (`> hi`) before what the bot says",
                ),
            }
            self.i = end.max(i + 1);
        }
        (header, conversations)
    }

    fn unknown_line(&mut self, i: usize) {
        let line = &self.lines[i];
        let message = if line.starts_with('|') {
            "a `|` line continues the text of the line above it (a message, an input, a \
             notify…), but there is none right above it"
                .to_string()
        } else if line.trim_start().starts_with('[') {
            "buttons (`[Label]`) belong right under a bot message (`< …`)".to_string()
        } else if strip_arrow(line).is_some() {
            "a response (`→ 200`) must follow a request (`http GET https://…`)".to_string()
        } else if line.starts_with([' ', '\t']) {
            "unexpected indented line: indented lines belong to a request, a response or the \
             buttons of a message"
                .to_string()
        } else {
            format!(
                "cannot read this line; a line starts with `>` (the user's message), `<` (the \
                 bot's message), `notify:`, `log:`, `warning:`, `error:`, `http` (a request), \
                 `===` (a new conversation), `#` (a comment) or a setting ({})",
                DIRECTIVES.join(", ")
            )
        };
        self.problem(i, message);
    }

    /// `|` lines right after `start`: the rest of a multi-line text.
    fn continuation(&self, start: usize, first: String) -> (String, usize) {
        let mut text = first;
        let mut end = start + 1;
        while let Some(line) = self.lines.get(end).filter(|l| l.starts_with('|')) {
            text.push('\n');
            text.push_str(&after(line, "|"));
            end += 1;
        }
        (text, end)
    }

    fn input(&mut self, i: usize) -> (Input, usize) {
        let (text, end) = self.continuation(i, after(&self.lines[i], ">"));
        let input = if !text.contains('\n') && text.starts_with('[') && text.ends_with(']') {
            let inner: Vec<(char, bool)> = unescape(&text[1..text.len() - 1]);
            if inner.iter().any(|&(c, escaped)| c == ']' && !escaped) {
                self.problem(i, "write `\\]` for a `]` inside a button label");
            }
            Input {
                text: inner.into_iter().map(|(c, _)| c).collect(),
                press: true,
                kind: InputKind::Message,
            }
        } else {
            // `> \[not a button]` sends the text after the backslash as it is.
            let text = text.strip_prefix('\\').map_or(text.clone(), str::to_string);
            Input {
                text,
                press: false,
                kind: InputKind::Message,
            }
        };
        (input, end)
    }

    /// `sleep DURATION` or `webhook NAME [JSON]`.
    fn event(&mut self, i: usize, word: &str) -> (Input, usize) {
        let (rest, end) = self.continuation(i, after(&self.lines[i], word));
        let rest = rest.trim();
        let kind = if word == "sleep" {
            match crate::syntax::duration_ms(rest) {
                Some(ms) if ms > 0 => InputKind::Sleep(ms),
                _ => {
                    self.problem(
                        i,
                        format!(
                            "`sleep` takes a duration, as in `sleep 30m` (ms, s, m, h, d); \
                             {rest:?} is not one"
                        ),
                    );
                    InputKind::Sleep(0)
                }
            }
        } else {
            let (name, payload) = rest.split_once(char::is_whitespace).unwrap_or((rest, ""));
            let payload = payload.trim();
            if name.is_empty() {
                self.problem(
                    i,
                    "`webhook` takes a name and a JSON payload: `webhook paid {\"amount\": 5}`",
                );
            } else if let Err(e) = (!payload.is_empty())
                .then(|| serde_json::from_str::<serde_json::Value>(payload))
                .transpose()
            {
                self.problem(
                    i,
                    format!(
                        "the webhook's payload is not valid JSON: {}",
                        json_reason(&e)
                    ),
                );
            }
            return (
                Input {
                    text: name.to_string(),
                    press: false,
                    kind: InputKind::Webhook(payload.to_string()),
                },
                end,
            );
        };
        let input = Input {
            text: rest.to_string(),
            press: false,
            kind,
        };
        (input, end)
    }

    fn message(&mut self, i: usize) -> (Item, usize) {
        let (text, mut end) = self.continuation(i, after(&self.lines[i], "<"));
        let mut buttons = Vec::new();
        let mut attachments = Vec::new();
        while let Some(line) = self.lines.get(end).filter(|l| is_indented(l)) {
            let line = line.trim();
            if line.starts_with('[') {
                match parse_buttons(line) {
                    Ok(mut b) => buttons.append(&mut b),
                    Err(e) => self.problem(end, e),
                }
            } else if let Some(url) = line.strip_prefix("image ") {
                attachments.push(Attachment::Image {
                    url: url.trim().to_string(),
                });
            } else if let Some(rest) = line.strip_prefix("file ") {
                let rest = rest.trim();
                let (url, name) = rest.split_once(' ').unwrap_or((rest, ""));
                attachments.push(Attachment::File {
                    url: url.to_string(),
                    name: name.trim().to_string(),
                });
            } else {
                break;
            }
            end += 1;
        }
        let message = Output::Message {
            text,
            buttons,
            attachments,
        };
        (Item::Output(message), end)
    }

    fn output(&mut self, i: usize, prefix: &str) -> (Item, usize) {
        let (text, end) = self.continuation(i, after(&self.lines[i], prefix));
        let output = match prefix {
            "notify:" => Output::Notify(text),
            "log:" => Output::Log(text),
            "warning:" => Output::Warning(text),
            "timer:" => Output::Timer(text),
            _ => Output::Error(text),
        };
        (Item::Output(output), end)
    }

    /// The indented lines after `start` (blank lines inside included, trailing ones not).
    fn block(&self, start: usize) -> usize {
        let mut end = start + 1;
        let mut j = start + 1;
        while let Some(line) = self.lines.get(j) {
            if is_indented(line) {
                end = j + 1;
            } else if !line.trim().is_empty() {
                break;
            }
            j += 1;
        }
        end
    }

    fn exchange(&mut self, i: usize) -> (Item, usize) {
        let line = &self.lines[i];
        let rest = line["http".len()..].trim();
        let (method, url) = rest.split_once(char::is_whitespace).unwrap_or((rest, ""));
        let url = url.trim().to_string();
        if method.is_empty() || !method.chars().all(|c| c.is_ascii_alphabetic()) || url.is_empty() {
            self.problem(
                i,
                "a request is written `http METHOD URL`, for example `http GET https://api.example.com/items`",
            );
        }
        let request_end = self.block(i);
        let (headers, body) = self.headers_and_body(i + 1..request_end);
        let request = RequestSpec {
            method: method.to_ascii_uppercase(),
            url,
            headers,
            body,
        };
        // Comments and blank lines may sit between the request and its response.
        let mut j = request_end;
        while self.lines.get(j).is_some_and(|l| is_trivia(l)) {
            j += 1;
        }
        let Some(arrow) = self.lines.get(j).and_then(|l| strip_arrow(l)) else {
            self.problem(
                i,
                "this request has no response: add a line `→ 200` (with headers and a body \
                 below it, indented) or `→ error: connection refused` after it",
            );
            let item = Item::Exchange(Box::new(Exchange {
                request,
                request_at: i..request_end,
                stub: Stub::Failure(String::new()),
                stub_at: request_end..request_end,
                stub_lines: Vec::new(),
            }));
            return (item, request_end);
        };
        let arrow = arrow.trim();
        let response_end = self.block(j);
        let stub = if let Some(reason) = arrow.strip_prefix("error") {
            let reason = reason.trim_start_matches(':').trim();
            if reason.is_empty() {
                self.problem(
                    j,
                    "say what failed: `→ error: connection refused`, `→ error: timed out`…",
                );
            }
            if response_end > j + 1 {
                self.problem(j + 1, "a failed request has no headers or body");
            }
            Stub::Failure(reason.to_string())
        } else {
            let status = first_word(arrow).parse::<u16>().ok();
            let status = match status.filter(|s| (100..=599).contains(s)) {
                Some(s) => s,
                None => {
                    self.problem(
                        j,
                        format!(
                            "expected a status from 100 to 599 (`→ 200`) or `→ error: …`, \
                             found `{arrow}`"
                        ),
                    );
                    0
                }
            };
            let (mut headers, body) = self.headers_and_body(j + 1..response_end);
            let has_type = headers
                .iter()
                .any(|(n, _)| n.eq_ignore_ascii_case("content-type"));
            let (default_type, bytes) = match body {
                None => (None, Vec::new()),
                Some(Body::Json(_)) => (
                    Some("application/json"),
                    self.raw_json(j + 1..response_end).into_bytes(),
                ),
                Some(Body::Form(pairs)) => {
                    let mut s = form_urlencoded::Serializer::new(String::new());
                    s.extend_pairs(pairs);
                    (
                        Some("application/x-www-form-urlencoded"),
                        s.finish().into_bytes(),
                    )
                }
                // A stub that declares a charset (`Content-Type: text/plain;
                // charset=windows-1251`) is served in it, as that API would send it.
                Some(Body::Text(t)) => {
                    let declared = headers
                        .iter()
                        .find(|(n, _)| n.eq_ignore_ascii_case("content-type"))
                        .map(|(_, v)| v.as_str());
                    match crate::http::body::request_encoding(declared) {
                        Ok(Some(e)) => (None, e.encode(&t).0.into_owned()),
                        Ok(None) => (None, t.into_bytes()),
                        Err(why) => {
                            self.problem(j, why);
                            (None, t.into_bytes())
                        }
                    }
                }
            };
            if let (Some(t), false) = (default_type, has_type) {
                headers.push(("Content-Type".into(), t.into()));
            }
            Stub::Response(Response {
                status,
                headers: headers
                    .into_iter()
                    .map(|(n, v)| (n, v.into_bytes()))
                    .collect(),
                body: bytes,
            })
        };
        let stub_lines = (request_end..response_end)
            .filter(|&k| !is_trivia(&self.lines[k]))
            .map(|k| (k, canonical_stub_line(&self.lines[k])))
            .collect();
        let item = Item::Exchange(Box::new(Exchange {
            request,
            request_at: i..request_end,
            stub,
            stub_at: request_end..response_end,
            stub_lines,
        }));
        (item, response_end)
    }

    /// The JSON text of a body, from its first line to the end of the block.
    fn raw_json(&self, range: Range<usize>) -> String {
        let lines = &self.lines[range];
        let start = lines
            .iter()
            .position(|l| l.trim_start().starts_with(['{', '[']))
            .unwrap_or(lines.len());
        lines[start..]
            .iter()
            .filter(|l| !l.trim_start().starts_with('#'))
            .map(String::as_str)
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// `Name: value` lines, then at most one body: `{…}`/`[…]` JSON to the end of the block,
    /// `| text` lines or `& name=value` lines.
    fn headers_and_body(&mut self, range: Range<usize>) -> (Vec<(String, String)>, Option<Body>) {
        let mut headers = Vec::new();
        let mut body: Option<Body> = None;
        let mut k = range.start;
        while k < range.end {
            let line = &self.lines[k];
            let t = line.trim();
            if t.is_empty() || t.starts_with('#') {
                k += 1;
                continue;
            }
            let kind_clash = |body: &Option<Body>, want: &str| match body {
                None => false,
                Some(Body::Text(_)) => want != "text",
                Some(Body::Form(_)) => want != "form",
                Some(Body::Json(_)) => true,
            };
            if t.starts_with(['{', '[']) {
                if body.is_some() {
                    self.problem(k, "only one body per request or response");
                    return (headers, body);
                }
                let text = self.raw_json(k..range.end);
                match serde_json::from_str::<serde_json::Value>(&text) {
                    Ok(v) => body = Some(Body::Json(v)),
                    Err(e) => {
                        // serde_json counts lines from 1 within the body (comments skipped:
                        // the place is approximate when the body has some).
                        let at = k + e.line().saturating_sub(1);
                        self.problem(
                            at.min(range.end.saturating_sub(1)),
                            format!("this JSON body does not parse: {}", json_reason(&e)),
                        );
                    }
                }
                return (headers, body);
            } else if t.starts_with('|') {
                if kind_clash(&body, "text") {
                    self.problem(k, "only one body per request or response");
                }
                let piece = after(line.trim_start(), "|");
                match &mut body {
                    Some(Body::Text(s)) => {
                        s.push('\n');
                        s.push_str(&piece);
                    }
                    _ => body = Some(Body::Text(piece)),
                }
            } else if let Some(rest) = t.strip_prefix('&') {
                if kind_clash(&body, "form") {
                    self.problem(k, "only one body per request or response");
                }
                let rest = rest.trim_start();
                let (name, value) = rest.split_once('=').unwrap_or((rest, ""));
                let pair = (name.trim().to_string(), value.to_string());
                match &mut body {
                    Some(Body::Form(pairs)) => pairs.push(pair),
                    _ => body = Some(Body::Form(vec![pair])),
                }
            } else if let Some((name, value)) = t.split_once(':').filter(|(n, _)| is_token(n)) {
                if body.is_some() {
                    self.problem(k, "headers go before the body");
                }
                headers.push((name.to_string(), value.trim().to_string()));
            } else {
                self.problem(
                    k,
                    "expected a header (`Name: value`) or a body: JSON (`{…}`, `[…]`), text \
                     lines (`| …`) or form fields (`& name=value`)",
                );
            }
            k += 1;
        }
        (headers, body)
    }

    fn directive(&mut self, i: usize, settings: &mut Settings, in_header: bool) {
        let line = self.lines[i].trim();
        let (word, rest) = line.split_once(char::is_whitespace).unwrap_or((line, ""));
        let rest = rest.trim();
        if !in_header && FILE_ONLY.contains(&word) {
            self.problem(
                i,
                format!("`{word}` applies to the whole file: put it in the file header, before the first `===`"),
            );
            return;
        }
        if rest.is_empty() {
            self.problem(i, format!("`{word}` needs a value"));
            return;
        }
        match word {
            "bot" => settings.bot = Some(rest.to_string()),
            "user-id" => settings.user_id = Some(rest.to_string()),
            "user-name" => settings.user_name = Some(rest.to_string()),
            "var" | "secret" => {
                let Some((name, value)) = rest.split_once('=') else {
                    self.problem(i, format!("write `{word} NAME = VALUE`"));
                    return;
                };
                let name = name.trim().trim_matches('%');
                if name.is_empty() || !name.chars().all(|c| c.is_alphanumeric() || c == '_') {
                    self.problem(i, format!("`{name}` is not a variable name"));
                    return;
                }
                if crate::check::is_special(name) {
                    self.problem(
                        i,
                        format!("`%{name}%` is set by the runtime; it cannot be preset"),
                    );
                    return;
                }
                let value = value.trim();
                let value = Value::parse_json(value).unwrap_or_else(|_| Value::from(value));
                if word == "secret" {
                    settings.secrets.push(name.to_string());
                }
                settings.vars.push((name.to_string(), value));
            }
            "now" => match parse_time(rest) {
                Some(ms) => settings.now_ms = Some(ms),
                None => self.problem(
                    i,
                    "write the time as `2026-03-01`, `2026-03-01T10:30:00Z` (UTC) or Unix milliseconds",
                ),
            },
            "seed" => match rest.parse() {
                Ok(n) => settings.seed = Some(n),
                Err(_) => self.problem(i, "`seed` takes a whole number, e.g. `seed 42`"),
            },
            "max-steps" => match rest.parse() {
                Ok(n) if n > 0 => settings.max_steps = Some(n),
                _ => self.problem(i, "`max-steps` takes a positive whole number"),
            },
            _ => {}
        }
    }
}

/// serde_json's message without its place (which counts from the body's first line).
pub fn json_reason(e: &serde_json::Error) -> String {
    let text = e.to_string();
    match text.rfind(" at line ") {
        Some(at) => text[..at].to_string(),
        None => text,
    }
}

/// An HTTP header name (RFC 9110 token).
fn is_token(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c))
}

/// How a response line is compared and shown: trailing whitespace dropped, `->` as `→`.
fn canonical_stub_line(line: &str) -> String {
    let line = line.trim_end();
    match line.strip_prefix("->") {
        Some(rest) => format!("→{rest}"),
        None => line.to_string(),
    }
}

/// Characters with a flag telling whether a `\` escaped them.
fn unescape(text: &str) -> Vec<(char, bool)> {
    let mut out = Vec::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            match chars.next() {
                Some(next) => out.push((next, true)),
                None => out.push(('\\', false)),
            }
        } else {
            out.push((c, false));
        }
    }
    out
}

/// Finds `pattern` made of unescaped characters; the first or the last occurrence.
fn find_unescaped(chars: &[(char, bool)], pattern: &str, last: bool) -> Option<usize> {
    let pattern: Vec<char> = pattern.chars().collect();
    let mut hits = (0..chars.len().saturating_sub(pattern.len() - 1)).filter(|&i| {
        pattern
            .iter()
            .enumerate()
            .all(|(k, &p)| chars[i + k] == (p, false))
    });
    if last {
        hits.next_back()
    } else {
        hits.next()
    }
}

fn collect(chars: &[(char, bool)]) -> String {
    chars.iter().map(|&(c, _)| c).collect()
}

/// `[Text] [Go -> block] [Site ↗ https://…]` (a `\` escapes the next character).
pub fn parse_buttons(line: &str) -> Result<Vec<ButtonEvent>, String> {
    let mut buttons = Vec::new();
    let mut rest = line.trim();
    while !rest.is_empty() {
        let Some(inner) = rest.strip_prefix('[') else {
            return Err(format!(
                "expected a button `[Label]`, found `{rest}` (write `\\]` for a `]` inside a label)"
            ));
        };
        let mut close = None;
        let mut escaped = false;
        for (at, c) in inner.char_indices() {
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == ']' {
                close = Some(at);
                break;
            }
        }
        let Some(close) = close else {
            return Err("a button is not closed: `]` is missing".into());
        };
        buttons.push(button(&unescape(&inner[..close])));
        rest = inner[close + 1..].trim_start();
    }
    Ok(buttons)
}

fn button(chars: &[(char, bool)]) -> ButtonEvent {
    if let Some(at) = find_unescaped(chars, " ↗ ", false) {
        return ButtonEvent::Link {
            label: collect(&chars[..at]),
            url: collect(&chars[at + 3..]).trim().to_string(),
        };
    }
    let arrow = find_unescaped(chars, " -> ", true)
        .map(|at| (at, 4))
        .or_else(|| find_unescaped(chars, " → ", true).map(|at| (at, 3)));
    if let Some((at, len)) = arrow {
        let label = collect(&chars[..at]);
        let target = collect(&chars[at + len..]).trim().to_string();
        if target.contains("://") {
            return ButtonEvent::Link { label, url: target };
        }
        return ButtonEvent::Goto { label, target };
    }
    ButtonEvent::Text {
        label: collect(chars),
    }
}

/// `2026-03-01`, `2026-03-01T10:30`, `2026-03-01T10:30:00Z` (UTC), or Unix milliseconds.
pub fn parse_time(text: &str) -> Option<i64> {
    let text = text.trim();
    if let Ok(ms) = text.parse::<i64>() {
        return Some(ms);
    }
    let text = text.strip_suffix(['Z', 'z']).unwrap_or(text);
    let (date, time) = match text.split_once(['T', 't', ' ']) {
        Some((d, t)) => (d, Some(t)),
        None => (text, None),
    };
    let mut d = date.splitn(3, '-');
    let year: i64 = d.next()?.parse().ok()?;
    let month: u32 = d.next()?.parse().ok()?;
    let day: u32 = d.next()?.parse().ok()?;
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) || !(1..=9999).contains(&year) {
        return None;
    }
    let mut seconds = 0i64;
    if let Some(time) = time {
        let parts: Vec<&str> = time.split(':').collect();
        if !(2..=3).contains(&parts.len()) {
            return None;
        }
        let limits = [23, 59, 59];
        for (k, part) in parts.iter().enumerate() {
            let n: i64 = part.parse().ok()?;
            if !(0..=limits[k]).contains(&n) || part.len() != 2 {
                return None;
            }
            seconds += n * [3600, 60, 1][k];
        }
    }
    Some((days_from_civil(year, month, day) * 86_400 + seconds) * 1000)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(text: &str) -> TestFile {
        match parse(text.as_bytes()) {
            Ok(f) => f,
            Err(p) => panic!("{p:?}"),
        }
    }

    fn errors(text: &str) -> Vec<Problem> {
        parse(text.as_bytes()).err().unwrap_or_default()
    }

    #[test]
    fn a_conversation_with_every_kind_of_line() {
        let f = ok(r#"# header
bot ..
var n = 3
secret token = abc

> hi
< Hello
| second line
|
  [A] [Go -> other::b] [Site ↗ https://x.example]
notify: ping
log: trace
http POST https://api.example.com/x?a=1
  Authorization: Bearer ***
  {"a": 1,
   "b": [true]}
# between
→ 201 Created
  X-Id: 7
  {
    "id": 7
  }
> [A]
http GET https://api.example.com/y
-> error: connection refused
warning: bot.scn:3: careful
error: bot.scn:4: boom
"#);
        assert_eq!(f.settings.bot.as_deref(), Some(".."));
        assert_eq!(f.settings.secrets, vec!["token".to_string()]);
        assert_eq!(f.settings.vars.len(), 2);
        let c = &f.conversations[0];
        assert_eq!(c.turns.len(), 2);
        assert_eq!(c.turns[0].input.text, "hi");
        assert_eq!(
            c.turns[1].input,
            Input {
                text: "A".into(),
                press: true,
                kind: InputKind::Message,
            }
        );
        let outputs = &c.turns[0].outputs;
        match &outputs[0].item {
            Item::Output(Output::Message { text, buttons, .. }) => {
                assert_eq!(text, "Hello\nsecond line\n");
                assert_eq!(buttons.len(), 3);
                assert_eq!(
                    buttons[1],
                    ButtonEvent::Goto {
                        label: "Go".into(),
                        target: "other::b".into()
                    }
                );
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(outputs[0].at, 6..10);
        let Item::Exchange(x) = &outputs[3].item else {
            panic!()
        };
        assert_eq!(x.request.method, "POST");
        assert_eq!(x.request.headers.len(), 1);
        assert_eq!(
            x.request.body,
            Some(Body::Json(serde_json::json!({"a": 1, "b": [true]})))
        );
        let Stub::Response(r) = &x.stub else { panic!() };
        assert_eq!(r.status, 201);
        assert_eq!(
            r.header("content-type").as_deref(),
            Some("application/json")
        );
        assert_eq!(x.stub_lines[0].1, "→ 201 Created");
        let Item::Exchange(y) = &c.turns[1].outputs[0].item else {
            panic!()
        };
        assert!(matches!(&y.stub, Stub::Failure(e) if e == "connection refused"));
    }

    #[test]
    fn several_conversations_each_with_settings() {
        let f = ok("user-name Ann\n=== one\nuser-id 1\n> a\n=== two\n> b\n< c\n");
        assert_eq!(f.conversations.len(), 2);
        assert_eq!(f.conversations[0].title.as_deref(), Some("one"));
        assert_eq!(f.conversations[0].settings.user_id.as_deref(), Some("1"));
        assert_eq!(f.conversations[1].settings.user_id, None);
        assert_eq!(
            f.conversations[1].settings.user_name.as_deref(),
            Some("Ann")
        );
    }

    #[test]
    fn malformed_lines_are_reported_with_their_line() {
        let e = errors(
            "> hi\nwhat is this\n< ok\n  [unclosed\nhttp GET https://x\n> next\nhttp GET\n→ 999\n",
        );
        let lines: Vec<usize> = e.iter().map(|p| p.line).collect();
        assert_eq!(lines, vec![2, 4, 5, 7, 8], "{e:?}");
        assert!(errors("< before any input\n")[0]
            .message
            .contains("only after a message"));
        assert_eq!(errors("> a\nhttp GET x\n→ 200\n  {\"a\": \n")[0].line, 4);
        let utf8 = parse(b"> a\n\xff\n").err().unwrap_or_default();
        assert_eq!(utf8[0].line, 2);
        assert_eq!(errors("> a\nbot x\n")[0].line, 2);
        assert_eq!(errors("=== t\nbot x\n> a\n")[0].line, 2);
        assert_eq!(errors("# nothing\n")[0].line, 1);
        assert_eq!(errors("")[0].line, 1);
    }

    #[test]
    fn sleeps_webhooks_timers_and_attachments() {
        let f = ok("> hi\n< x\n  image https://e.x/p.jpg\n  file https://e.x/i.pdf Invoice 7.pdf\n  [a]\nsleep 90m\ntimer: \"cart\" -> b\nwebhook paid {\"amount\": 5}\nwebhook ping\n");
        let turns = &f.conversations[0].turns;
        assert_eq!(turns.len(), 4);
        assert_eq!(turns[1].input.kind, InputKind::Sleep(5_400_000));
        assert_eq!(
            turns[2].input.kind,
            InputKind::Webhook("{\"amount\": 5}".into())
        );
        assert_eq!(turns[2].input.text, "paid");
        assert_eq!(turns[3].input.kind, InputKind::Webhook(String::new()));
        let Item::Output(Output::Message {
            attachments,
            buttons,
            ..
        }) = &turns[0].outputs[0].item
        else {
            panic!("{:?}", turns[0].outputs)
        };
        assert_eq!(buttons.len(), 1);
        assert_eq!(
            attachments[1],
            Attachment::File {
                url: "https://e.x/i.pdf".into(),
                name: "Invoice 7.pdf".into()
            }
        );
        assert!(
            matches!(&turns[1].outputs[0].item, Item::Output(Output::Timer(t)) if t == "\"cart\" -> b")
        );
        for bad in [
            "> a\nsleep soon\n",
            "> a\nsleep 0s\n",
            "> a\nwebhook paid {oops\n",
            "> a\nwebhook\n",
        ] {
            assert_eq!(errors(bad)[0].line, 2, "{bad}");
        }
    }

    #[test]
    fn escapes_in_inputs_and_buttons() {
        let f = ok("> \\[not a press]\n< x\n  [a \\] b] [c -\\> d] [e -> f]\n");
        let t = &f.conversations[0].turns[0];
        assert_eq!(
            t.input,
            Input {
                text: "[not a press]".into(),
                press: false,
                kind: InputKind::Message,
            }
        );
        let Item::Output(Output::Message { buttons, .. }) = &t.outputs[0].item else {
            panic!()
        };
        assert_eq!(
            buttons[0],
            ButtonEvent::Text {
                label: "a ] b".into()
            }
        );
        assert_eq!(
            buttons[1],
            ButtonEvent::Text {
                label: "c -> d".into()
            }
        );
        assert_eq!(
            buttons[2],
            ButtonEvent::Goto {
                label: "e".into(),
                target: "f".into()
            }
        );
    }

    #[test]
    fn times() {
        assert_eq!(parse_time("1970-01-01"), Some(0));
        assert_eq!(parse_time("1970-01-02T00:00:01Z"), Some(86_401_000));
        assert_eq!(parse_time("2026-01-15T12:00"), Some(1_768_478_400_000));
        assert_eq!(parse_time("2026-13-01"), None);
        assert_eq!(parse_time("soon"), None);
    }
}
