//! One test file against a compiled bot: the conversations replayed through the stub transport,
//! what happened turned into the file's items, compared in canonical form, and — for
//! `--bless` — the file's new text. Produces data; `report` renders it.

use super::format::{Body, Conversation, Exchange, InputKind, Item, Output, RequestSpec, TestFile};
use super::render;
use super::stub::{Stubs, NO_STUB};
use crate::eval::{
    Attachment, ButtonEvent, Event, Globals, Input, Location, Redactor, Runtime, TimerKind,
};
use crate::http::Request;

/// The default clock of a test: 2026-01-15T12:00:00Z (change it with `now`).
pub const DEFAULT_NOW_MS: i64 = 1_768_478_400_000;
/// The default user, as for `scenarist run`.
pub const DEFAULT_USER_ID: &str = "local";
pub const DEFAULT_USER_NAME: &str = "User";

/// What happened in one conversation, and whether it is what the file says.
#[derive(Clone, Debug)]
pub struct ConversationReport {
    pub title: Option<String>,
    /// 1-based line of the conversation's start.
    pub line: usize,
    /// The file's transcript in canonical form, each line with its 1-based line in the file.
    pub expected: Vec<(usize, String)>,
    /// What actually happened, in the same form.
    pub actual: Vec<String>,
    /// Failures that are not (only) a difference of lines: a missing or unused stub, a
    /// request unlike the expected one, a button that was not there. 1-based lines.
    pub problems: Vec<(usize, String)>,
    /// Stubs and requests did not pair up: `--bless` cannot rewrite the file.
    pub stubs_mismatch: bool,
}

impl ConversationReport {
    pub fn passed(&self) -> bool {
        self.problems.is_empty()
            && self.expected.len() == self.actual.len()
            && self
                .expected
                .iter()
                .zip(&self.actual)
                .all(|((_, e), a)| e == a)
    }
}

/// Something the bot did in a turn, as the file would show it.
#[derive(Clone, Debug)]
enum Actual {
    Output(Output),
    /// The `k`-th request of the conversation, as the file lists it (see [`project`]).
    Exchange {
        k: usize,
        request: RequestSpec,
    },
}

/// One conversation replayed.
struct Replay<'f> {
    conversation: &'f Conversation,
    exchanges: Vec<&'f Exchange>,
    turns: Vec<Vec<Actual>>,
    report: ConversationReport,
}

/// The result of running a file.
#[derive(Debug)]
pub struct FileRun {
    pub conversations: Vec<ConversationReport>,
    /// With `--bless`, the file's new text when it differs from the old one.
    pub blessed: Option<String>,
}

impl FileRun {
    pub fn passed(&self) -> bool {
        self.conversations.iter().all(ConversationReport::passed)
    }
}

/// Runs every conversation of the file. The conversations of a file share the bot's globals
/// (they are users of one bot); each has its own session.
pub fn run_file(
    file: &TestFile,
    rt: &Runtime,
    tokio: &tokio::runtime::Runtime,
    mut visited: Option<&mut [bool]>,
    bless: bool,
    max_response_bytes: u64,
) -> FileRun {
    let mut globals = rt.new_globals();
    let replays: Vec<Replay<'_>> = file
        .conversations
        .iter()
        .map(|c| {
            let stubs = Stubs::new(c, max_response_bytes);
            replay(c, rt, &mut globals, tokio, visited.as_deref_mut(), &stubs)
        })
        .collect();
    let passed = replays.iter().all(|r| r.report.passed());
    let blessed = if bless && !passed && !replays.iter().any(|r| r.report.stubs_mismatch) {
        let text = bless_text(file, &replays);
        (text != file.lines.join("\n") + "\n").then_some(text)
    } else {
        None
    };
    FileRun {
        conversations: replays.into_iter().map(|r| r.report).collect(),
        blessed,
    }
}

fn replay<'f>(
    c: &'f Conversation,
    rt: &Runtime,
    globals: &mut Globals,
    tokio: &tokio::runtime::Runtime,
    mut visited: Option<&mut [bool]>,
    stubs: &dyn Logged,
) -> Replay<'f> {
    let s = &c.settings;
    let mut session = rt.new_session(
        s.user_id.as_deref().unwrap_or(DEFAULT_USER_ID),
        s.user_name.as_deref().unwrap_or(DEFAULT_USER_NAME),
    );
    if let Some(seed) = s.seed {
        session.rng = seed;
    }
    for (name, value) in &s.vars {
        // The format refuses special names, so this cannot fail.
        let _ = rt.preset(&mut session, name, value.clone(), s.secrets.contains(name));
    }
    let redact = session.redactor.clone();
    let exchanges: Vec<&Exchange> = c
        .turns
        .iter()
        .flat_map(|t| &t.outputs)
        .filter_map(|e| match &e.item {
            Item::Exchange(x) => Some(&**x),
            Item::Output(_) => None,
        })
        .collect();
    let mut problems = Vec::new();
    let mut turns = Vec::with_capacity(c.turns.len());
    let mut latest_buttons: Vec<ButtonEvent> = Vec::new();
    let mut requests = 0;
    // Virtual time: it starts at the file's `now` and moves only by `sleep`.
    let mut clock = rt.options().now_ms.unwrap_or(DEFAULT_NOW_MS);
    for turn in &c.turns {
        let line = turn.at.start + 1;
        if turn.input.press {
            let there = latest_buttons.iter().any(|b| {
                !matches!(b, ButtonEvent::Link { .. }) && b.label().trim() == turn.input.text.trim()
            });
            if !there {
                let shown: Vec<String> = latest_buttons.iter().map(render::button).collect();
                let latest = if shown.is_empty() {
                    "the bot has shown no buttons yet".to_string()
                } else {
                    format!("the latest buttons are {}", shown.join(" "))
                };
                problems.push((
                    line,
                    format!(
                        "there is no button [{}] to press: {latest}",
                        turn.input.text
                    ),
                ));
            }
        }
        let mut events = Vec::new();
        let mut step = |input: &Input, now: i64, session: &mut crate::eval::Session| {
            let turn = rt.input(
                session,
                globals,
                input,
                Some(now),
                stubs,
                visited.as_deref_mut(),
            );
            events.extend(tokio.block_on(turn));
        };
        match &turn.input.kind {
            InputKind::Message => {
                step(
                    &Input::Message(turn.input.text.clone()),
                    clock,
                    &mut session,
                );
            }
            InputKind::Webhook(payload) => {
                let payload = serde_json::from_str::<serde_json::Value>(payload)
                    .map(crate::value::Value::from_json_owned)
                    .unwrap_or(crate::value::Value::Null);
                let input = Input::Webhook {
                    name: turn.input.text.clone(),
                    payload,
                };
                step(&input, clock, &mut session);
            }
            InputKind::Sleep(ms) => {
                let until = clock.saturating_add(*ms as i64);
                let mut fired = 0;
                while let Some(due) = session.next_due().filter(|&d| d <= until) {
                    fired += 1;
                    if fired > crate::eval::MAX_TIMER_TURNS {
                        problems.push((
                            line,
                            format!(
                                "more than {} timers came due in this `sleep`; the rest were \
                                 not fired",
                                crate::eval::MAX_TIMER_TURNS
                            ),
                        ));
                        break;
                    }
                    step(&Input::Timer, due.max(clock), &mut session);
                }
                clock = until;
            }
        }
        let sent = stubs.requests_since(requests);
        let mut sent = sent.iter();
        let mut outputs = Vec::with_capacity(events.len());
        for event in events {
            let output = match event {
                Event::Input { .. } | Event::Webhook { .. } | Event::Wait | Event::End => continue,
                Event::Timer { name, block, kind } => Output::Timer(match (kind, name) {
                    (TimerKind::Timeout, _) => format!("timeout -> {block}"),
                    (TimerKind::Schedule, Some(name)) => format!("{name:?} -> {block}"),
                    (TimerKind::Schedule, None) => format!("schedule -> {block}"),
                }),
                Event::Http { .. } => {
                    let k = requests;
                    requests += 1;
                    let Some(request) = sent.next() else { continue };
                    let spec = exchanges.get(k).map(|x| &x.request);
                    let request = project(request, spec, &redact);
                    match exchanges.get(k) {
                        None => problems.push((
                            line,
                            format!(
                                "unexpected request {} {}: the test has no stub for it (add one \
                                 after it in the file, e.g. `→ 200`)",
                                request.method, request.url
                            ),
                        )),
                        Some(x) if render::request(&x.request) != render::request(&request) => {
                            problems.push((
                                x.request_at.start + 1,
                                format!(
                                    "the request does not match the one expected here ({}): it \
                                     was {} {}",
                                    differences(&x.request, &request),
                                    request.method,
                                    request.url
                                ),
                            ))
                        }
                        Some(_) => {}
                    }
                    outputs.push(Actual::Exchange { k, request });
                    continue;
                }
                Event::Message {
                    text,
                    buttons,
                    attachments,
                } => {
                    let buttons: Vec<ButtonEvent> = buttons
                        .into_iter()
                        .map(|b| match b {
                            ButtonEvent::Text { label } => ButtonEvent::Text {
                                label: redact.apply(&label),
                            },
                            ButtonEvent::Goto { label, target } => ButtonEvent::Goto {
                                label: redact.apply(&label),
                                target,
                            },
                            ButtonEvent::Link { label, url } => ButtonEvent::Link {
                                label: redact.apply(&label),
                                url: redact.apply(&url),
                            },
                        })
                        .collect();
                    if !buttons.is_empty() {
                        latest_buttons.clone_from(&buttons);
                    }
                    let attachments = attachments
                        .into_iter()
                        .map(|a| match a {
                            Attachment::Image { url } => Attachment::Image {
                                url: redact.apply(&url),
                            },
                            Attachment::File { url, name } => Attachment::File {
                                url: redact.apply(&url),
                                name: redact.apply(&name),
                            },
                        })
                        .collect();
                    Output::Message {
                        text: redact.apply(&text),
                        buttons,
                        attachments,
                    }
                }
                Event::Notify { text } => Output::Notify(redact.apply(&text)),
                Event::Log { text } => Output::Log(redact.apply(&text)),
                Event::Warning { message, at } => Output::Warning(placed(&redact, &message, &at)),
                Event::Error { message, at } => Output::Error(placed(&redact, &message, &at)),
            };
            outputs.push(Actual::Output(output));
        }
        turns.push(outputs);
    }
    let mut stubs_mismatch = requests > exchanges.len();
    for x in exchanges.iter().skip(requests) {
        stubs_mismatch = true;
        problems.push((
            x.request_at.start + 1,
            format!(
                "stub not used: the bot made no request {} {} here (remove the exchange, or \
                 check why the bot did not call)",
                x.request.method, x.request.url
            ),
        ));
    }
    let report = ConversationReport {
        title: c.title.clone(),
        line: c.line + 1,
        expected: expected_lines(c),
        actual: actual_lines(c, &exchanges, &turns),
        problems,
        stubs_mismatch,
    };
    Replay {
        conversation: c,
        exchanges,
        turns,
        report,
    }
}

fn placed(redact: &Redactor, message: &str, at: &Option<Location>) -> String {
    let message = redact.apply(message);
    match at {
        Some(l) => format!("{}:{}: {message}", l.file, l.line),
        None => message,
    }
}

/// Which parts of two requests differ, for a failure message.
fn differences(expected: &RequestSpec, actual: &RequestSpec) -> String {
    let mut parts = Vec::new();
    if expected.method != actual.method {
        parts.push("method".to_string());
    }
    if expected.url != actual.url {
        parts.push("URL".to_string());
    }
    for (name, value) in &expected.headers {
        let got = actual
            .headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name));
        match got {
            None => parts.push(format!("no header {name}")),
            Some((_, v)) if v != value => parts.push(format!("header {name}")),
            Some(_) => {}
        }
    }
    if expected.body != actual.body {
        parts.push("body".to_string());
    }
    if parts.is_empty() {
        parts.push("headers".to_string());
    }
    parts.join(", ")
}

/// The request as the file lists it: method and URL; the headers the expected request lists
/// (by name, in its order); the body when it lists one, read the way it is written there.
/// Without an expected request (an unexpected one), everything. Secrets become `***`.
fn project(r: &Request, spec: Option<&RequestSpec>, redact: &Redactor) -> RequestSpec {
    // Every header that goes on the wire: Host and Content-Length as the client adds them,
    // User-Agent and Accept as the runtime does (`Request::headers`).
    let host = url::Url::parse(&r.url).ok().and_then(|u| {
        let host = u.host_str()?.to_string();
        Some(match u.port() {
            Some(p) => format!("{host}:{p}"),
            None => host,
        })
    });
    let mut wire: Vec<(String, String)> = Vec::with_capacity(r.headers.len() + 2);
    if let Some(host) = host {
        wire.push(("Host".into(), host));
    }
    wire.extend(r.headers.iter().cloned());
    if let Some(body) = &r.body {
        wire.push(("Content-Length".into(), body.len().to_string()));
    }
    let headers = match spec {
        Some(spec) => {
            let mut used = vec![false; wire.len()];
            let mut out = Vec::new();
            for (name, _) in &spec.headers {
                let found = wire
                    .iter()
                    .enumerate()
                    .find(|(k, (n, _))| !used[*k] && n.eq_ignore_ascii_case(name));
                if let Some((k, (_, value))) = found {
                    used[k] = true;
                    out.push((name.clone(), redact.apply(value)));
                }
            }
            out
        }
        // What `--bless` writes for a new request: the headers the scenario set (and the
        // body's type), not those every request has.
        None => wire
            .iter()
            .filter(|(n, v)| !is_routine(n, v))
            .map(|(n, v)| (n.clone(), redact.apply(v)))
            .collect(),
    };
    let content_type = r.header("content-type").map(str::to_string);
    let body = match (spec, &r.body) {
        (_, None) => None,
        (Some(spec), Some(bytes)) => spec
            .body
            .as_ref()
            .map(|kind| read_body(kind, bytes, content_type.as_deref(), redact)),
        (None, Some(bytes)) => {
            let natural = match r.header("content-type").map(str::to_ascii_lowercase) {
                Some(t) if t.contains("json") => Body::Json(serde_json::Value::Null),
                Some(t) if t.contains("x-www-form-urlencoded") => Body::Form(Vec::new()),
                _ => Body::Text(String::new()),
            };
            Some(read_body(&natural, bytes, content_type.as_deref(), redact))
        }
    };
    RequestSpec {
        method: r.method.to_string(),
        url: redact.apply(&r.url),
        headers,
        body,
    }
}

/// Headers every request carries unless the scenario sets them otherwise.
fn is_routine(name: &str, value: &str) -> bool {
    name.eq_ignore_ascii_case("host")
        || name.eq_ignore_ascii_case("content-length")
        || (name.eq_ignore_ascii_case("user-agent") && value == crate::http::USER_AGENT)
        || (name.eq_ignore_ascii_case("accept") && value == "*/*")
}

/// The bytes sent, read like the expected body: as JSON (equal values keep the expected
/// form, so key order and layout do not matter), as form fields, or as text.
fn read_body(expected: &Body, bytes: &[u8], content_type: Option<&str>, redact: &Redactor) -> Body {
    // A `form` or `text` body goes out in the charset its Content-Type names: read it back
    // in that charset.
    let encoding = crate::http::body::request_encoding(content_type)
        .ok()
        .flatten()
        .unwrap_or(encoding_rs::UTF_8);
    let decode = |b: &[u8]| encoding.decode_without_bom_handling(b).0.into_owned();
    match expected {
        Body::Json(want) => {
            let text = redact.apply(&String::from_utf8_lossy(bytes));
            match serde_json::from_str::<serde_json::Value>(&text) {
                Ok(got) => Body::Json(super::json_diff::align(got, want)),
                Err(_) => Body::Text(text),
            }
        }
        Body::Form(_) => Body::Form(
            bytes
                .split(|&b| b == b'&')
                .filter(|pair| !pair.is_empty())
                .map(|pair| {
                    let (n, v) = match pair.iter().position(|&b| b == b'=') {
                        Some(i) => (&pair[..i], &pair[i + 1..]),
                        None => (pair, &pair[pair.len()..]),
                    };
                    let unplus = |p: &[u8]| -> Vec<u8> {
                        let spaced: Vec<u8> = p
                            .iter()
                            .map(|&b| if b == b'+' { b' ' } else { b })
                            .collect();
                        percent_encoding::percent_decode(&spaced).collect()
                    };
                    (
                        redact.apply(&decode(&unplus(n))),
                        redact.apply(&decode(&unplus(v))),
                    )
                })
                .collect(),
        ),
        Body::Text(_) => Body::Text(redact.apply(&decode(bytes))),
    }
}

/// A transport whose requests can be read back, in order.
pub trait Logged: crate::http::Transport {
    /// The requests made so far, from the `from`-th on.
    fn requests_since(&self, from: usize) -> Vec<Request>;
}

impl Logged for Stubs<'_> {
    fn requests_since(&self, from: usize) -> Vec<Request> {
        Stubs::requests_since(self, from)
    }
}

/// `scenarist test --record`: the real client, and every exchange it had.
struct Recorder {
    client: crate::http::Client,
    log: std::sync::Mutex<Vec<(Request, Result<crate::http::Response, crate::http::Failure>)>>,
}

impl crate::http::Transport for Recorder {
    fn send<'a>(&'a self, request: &'a Request) -> crate::http::Sent<'a> {
        Box::pin(async move {
            let outcome = crate::http::Transport::send(&self.client, request).await;
            self.log
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push((request.clone(), outcome.clone()));
            outcome
        })
    }
}

impl Logged for Recorder {
    fn requests_since(&self, from: usize) -> Vec<Request> {
        let log = self.log.lock().unwrap_or_else(|e| e.into_inner());
        log.get(from..)
            .map(|l| l.iter().map(|(r, _)| r.clone()).collect())
            .unwrap_or_default()
    }
}

/// Headers of a real response worth keeping in a stub: what the bot's reading depends on.
const RECORDED_HEADERS: &[&str] = &["content-type", "location", "retry-after"];

/// A real outcome as stub lines: `→ 200`, the headers that matter, the body (JSON
/// pretty-printed, text as `|` lines), secrets hidden; or `→ error: …`.
fn stub_lines(
    outcome: &Result<crate::http::Response, crate::http::Failure>,
    redact: &Redactor,
) -> Vec<String> {
    let response = match outcome {
        Ok(r) => r,
        Err(f) => return vec![format!("→ error: {}", redact.apply(&f.0))],
    };
    let mut out = vec![format!("→ {}", response.status)];
    for (name, value) in &response.headers {
        if RECORDED_HEADERS.contains(&name.to_ascii_lowercase().as_str()) {
            let value = String::from_utf8_lossy(value);
            out.push(format!("  {}: {}", title_case(name), redact.apply(&value)));
        }
    }
    if response.body.is_empty() {
        return out;
    }
    let content_type = response.header("content-type");
    let decoded = crate::http::body::decode(content_type.as_deref(), &response.body);
    let json = decoded.bad_json.is_none()
        && content_type
            .as_deref()
            .is_some_and(|t| t.to_ascii_lowercase().contains("json"));
    if json {
        let text = decoded.value.to_json_string().unwrap_or_default();
        if let Ok(v) = serde_json::from_str::<serde_json::Value>(&text) {
            let pretty = serde_json::to_string_pretty(&v).unwrap_or(text);
            out.extend(redact.apply(&pretty).lines().map(|l| format!("  {l}")));
            return out;
        }
    }
    let text = redact.apply(&decoded.value.render());
    for line in text.trim_end_matches('\n').split('\n') {
        let line = line.trim_end_matches('\r');
        out.push(if line.is_empty() {
            "  |".to_string()
        } else {
            format!("  | {line}")
        });
    }
    out
}

/// `content-type` → `Content-Type`.
fn title_case(name: &str) -> String {
    name.split('-')
        .map(|part| {
            let mut c = part.chars();
            match c.next() {
                Some(f) => f.to_uppercase().collect::<String>() + &c.as_str().to_ascii_lowercase(),
                None => String::new(),
            }
        })
        .collect::<Vec<_>>()
        .join("-")
}

/// `scenarist test --record`: replays every conversation against the real endpoints and
/// returns the file rewritten with what happened — the bot's outputs, the requests, and the
/// real responses as stubs. Settings, inputs and the comments before each conversation's first
/// message are kept; lines between messages are rewritten.
pub fn record_file(
    file: &TestFile,
    rt: &Runtime,
    tokio: &tokio::runtime::Runtime,
    client: &crate::http::Client,
) -> String {
    let lines = &file.lines;
    let mut globals = rt.new_globals();
    let mut out: Vec<String> = Vec::new();
    let starts: Vec<usize> = file.conversations.iter().map(|c| c.line).collect();
    let header_end = starts.first().copied().unwrap_or(lines.len());
    out.extend(lines[..header_end.min(lines.len())].iter().cloned());
    for (i, c) in file.conversations.iter().enumerate() {
        let recorder = Recorder {
            client: client.clone(),
            log: std::sync::Mutex::new(Vec::new()),
        };
        let replay = replay(c, rt, &mut globals, tokio, None, &recorder);
        let mut redact = Redactor::default();
        for (name, value) in &c.settings.vars {
            if c.settings.secrets.contains(name) {
                redact.add(value);
            }
        }
        let log = recorder.log.lock().unwrap_or_else(|e| e.into_inner());
        let first_turn = c.turns.first().map_or(c.line, |t| t.at.start);
        out.extend(
            lines[c.line.min(lines.len())..first_turn.min(lines.len())]
                .iter()
                .cloned(),
        );
        for (turn, actual) in c.turns.iter().zip(&replay.turns) {
            out.extend(
                lines[turn.at.start..turn.at.end.min(lines.len())]
                    .iter()
                    .cloned(),
            );
            for a in actual {
                match a {
                    Actual::Output(o) => out.extend(render::output(o)),
                    Actual::Exchange { k, request } => {
                        out.extend(render::request(request));
                        if let Some((_, outcome)) = log.get(*k) {
                            out.extend(stub_lines(outcome, &redact));
                        }
                    }
                }
            }
        }
        if i + 1 < file.conversations.len() {
            out.push(String::new());
        }
    }
    let mut text = out.join("\n");
    text.push('\n');
    text
}

/// The file's transcript in canonical form, with the line each comes from.
fn expected_lines(c: &Conversation) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    let mut push = |lines: Vec<String>, at: &std::ops::Range<usize>| {
        let last = at.end.saturating_sub(1).max(at.start);
        for (k, l) in lines.into_iter().enumerate() {
            out.push(((at.start + k).min(last) + 1, l));
        }
    };
    for t in &c.turns {
        push(render::input(&t.input), &t.at);
        for e in &t.outputs {
            match &e.item {
                Item::Output(o) => push(render::output(o), &e.at),
                Item::Exchange(x) => {
                    push(render::request(&x.request), &x.request_at);
                    for (k, l) in &x.stub_lines {
                        push(vec![l.clone()], &(*k..*k + 1));
                    }
                }
            }
        }
    }
    out
}

fn actual_lines(c: &Conversation, exchanges: &[&Exchange], turns: &[Vec<Actual>]) -> Vec<String> {
    let mut out = Vec::new();
    for (t, actual) in c.turns.iter().zip(turns) {
        out.extend(render::input(&t.input));
        for a in actual {
            match a {
                Actual::Output(o) => out.extend(render::output(o)),
                Actual::Exchange { k, request } => {
                    out.extend(render::request(request));
                    match exchanges.get(*k) {
                        Some(x) => out.extend(x.stub_lines.iter().map(|(_, l)| l.clone())),
                        None => out.push(format!("→ error: {NO_STUB}")),
                    }
                }
            }
        }
    }
    out
}

/// The file with every expected part replaced by what happened. Inputs, stubs, settings and
/// comments are copied as they are; an expected item equal to the actual one keeps its
/// original spelling. Only called when every request had its stub.
fn bless_text(file: &TestFile, replays: &[Replay<'_>]) -> String {
    let lines = &file.lines;
    let mut out: Vec<String> = Vec::with_capacity(lines.len());
    let mut cursor = 0;
    let copy = |out: &mut Vec<String>, from: usize, to: usize| {
        if from < to {
            out.extend(lines[from..to.min(lines.len())].iter().cloned());
        }
    };
    for r in replays {
        for (turn, actual) in r.conversation.turns.iter().zip(&r.turns) {
            copy(&mut out, cursor, turn.at.end);
            cursor = cursor.max(turn.at.end);
            let expected = &turn.outputs;
            for j in 0..expected.len().max(actual.len()) {
                let old = expected.get(j);
                if let Some(e) = old {
                    copy(&mut out, cursor, e.at.start);
                    cursor = cursor.max(e.at.end);
                }
                match actual.get(j) {
                    None => {}
                    Some(Actual::Output(o)) => {
                        let lines_now = render::output(o);
                        match old {
                            Some(e) if matches!(&e.item, Item::Output(w) if render::output(w) == lines_now) => {
                                copy(&mut out, e.at.start, e.at.end)
                            }
                            _ => out.extend(lines_now),
                        }
                    }
                    Some(Actual::Exchange { k, request }) => {
                        let Some(x) = r.exchanges.get(*k) else {
                            continue;
                        };
                        let lines_now = render::request(request);
                        if render::request(&x.request) == lines_now {
                            copy(&mut out, x.request_at.start, x.request_at.end);
                        } else {
                            out.extend(lines_now);
                        }
                        copy(&mut out, x.stub_at.start, x.stub_at.end);
                    }
                }
            }
        }
    }
    copy(&mut out, cursor, lines.len());
    out.join("\n") + "\n"
}
