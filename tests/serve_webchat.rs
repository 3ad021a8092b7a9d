//! The web chat of `scenarist serve --web-chat` (SERVER.md §4) against the real binary over
//! real HTTP on 127.0.0.1: the per-browser keys and what they may reach, the page's API with
//! the API's limits, the outbox stream resumed after a restart, and, end to end, the page and
//! the widget in a real headless Chromium driven by tests/webchat/e2e.mjs.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::serve::{assert_error, try_http, EventStream, Response, Server, TempDir};
use serde_json::{json, Value};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The test bot: echoes, a reminder a second later, attachments, a webhook.
fn assistant() -> PathBuf {
    root().join("tests/webchat/assistant.scn")
}

fn quiz() -> PathBuf {
    root().join("scenarios/quiz")
}

/// A new key from the server: (key, user id).
fn new_key(server: &Server) -> (String, String) {
    let r = try_http(&server.addr(), "POST", "/chat/api/session", &[], b"").expect("session");
    assert_eq!(r.status, 200, "{r:?}");
    let body = r.json();
    let key = body["key"].as_str().expect("a key").to_string();
    let user = body["user_id"].as_str().expect("a user id").to_string();
    (key, user)
}

/// A request of the chat page: with `Authorization: Key KEY` when a key is given.
fn chat(server: &Server, method: &str, path: &str, key: Option<&str>, body: &[u8]) -> Response {
    let auth = key.map(|k| format!("Key {k}"));
    let headers: Vec<(&str, &str)> = auth.iter().map(|a| ("Authorization", a.as_str())).collect();
    try_http(&server.addr(), method, path, &headers, body)
        .unwrap_or_else(|e| panic!("{method} {path}: {e}\n{}", server.log()))
}

/// One message from the chat page; the answer.
fn say(server: &Server, key: &str, text: &str, id: &str) -> Response {
    let body = json!({ "text": text, "message_id": id }).to_string();
    chat(
        server,
        "POST",
        "/chat/api/messages",
        Some(key),
        body.as_bytes(),
    )
}

/// The texts of the `message` events of an answer.
fn texts(answer: &Value) -> Vec<String> {
    common::serve::said(&answer["events"])
}

/// The user's session through the (token-guarded) API.
fn session(server: &Server, user: &str) -> Value {
    let r = server.get(&format!("/v1/sessions/{user}"));
    assert_eq!(r.status, 200, "{r:?}");
    r.json()
}

#[test]
fn without_the_flag_there_is_no_web_chat() {
    let dir = TempDir::new("webchat-off");
    let server = Server::in_memory(&dir, &assistant());
    for (method, path) in [
        ("GET", "/chat"),
        ("GET", "/widget.js"),
        ("POST", "/chat/api/session"),
        ("POST", "/chat/api/messages"),
        ("GET", "/chat/api/events"),
    ] {
        let r = try_http(&server.addr(), method, path, &[], b"").expect("an answer");
        assert_error(&r, 404, "not_found");
    }
}

#[test]
fn the_page_and_the_widget_are_self_contained_and_locked_down() {
    let dir = TempDir::new("webchat-assets");
    let server = Server::start_with(&dir, &assistant(), "memory:", &[], &["--web-chat"]);
    let r = try_http(&server.addr(), "GET", "/chat", &[], b"").expect("the page");
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.header("content-type"), Some("text/html; charset=utf-8"));
    let csp = r.header("content-security-policy").expect("a CSP");
    assert!(
        csp.starts_with("default-src 'none'; script-src 'sha256-"),
        "{csp}"
    );
    assert!(csp.contains("connect-src 'self'"), "{csp}");
    assert!(
        !csp.contains("unsafe-inline") && !csp.contains("unsafe-eval"),
        "{csp}"
    );
    assert_eq!(r.header("x-content-type-options"), Some("nosniff"));
    assert!(r.body.starts_with("<!doctype html>"), "{}", &r.body[..40]);
    for external in [
        "src=\"http",
        "href=\"http",
        "@import",
        "url(http",
        "innerHTML",
    ] {
        assert!(!r.body.contains(external), "the page has {external}");
    }
    let r = try_http(&server.addr(), "GET", "/widget.js", &[], b"").expect("the widget");
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(
        r.header("content-type"),
        Some("text/javascript; charset=utf-8")
    );
    assert!(r.body.contains("document.currentScript"), "{}", r.body);
    let r = try_http(&server.addr(), "GET", "/chat/api/session", &[], b"").expect("405");
    assert_error(&r, 405, "method_not_allowed");
}

#[test]
fn a_key_is_issued_and_reaches_a_session_of_its_own() {
    let dir = TempDir::new("webchat-keys");
    let server = Server::start_with(
        &dir,
        &quiz(),
        "memory:",
        &[("SCENARIST_TOKEN", "t0ken")],
        &["--web-chat"],
    );
    let (key, user) = new_key(&server);
    assert_eq!(key.len(), 43, "32 bytes in unpadded base64url: {key}");
    assert!(
        key.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'),
        "{key}"
    );
    let hex = user.strip_prefix("web:").expect("a web: user id");
    assert!(
        hex.len() == 32 && hex.bytes().all(|b| b.is_ascii_hexdigit()),
        "{user}"
    );
    let (other_key, other_user) = new_key(&server);
    assert_ne!(key, other_key);
    assert_ne!(user, other_user);

    // No API token needed: the key is enough, and it names the user.
    let r = say(&server, &key, "hi", "1");
    assert_eq!(r.status, 200, "{r:?}");
    let answer = r.json();
    assert_eq!(
        texts(&answer),
        [
            "Welcome to the Space Quiz, ! 🚀 Five questions, one point each.",
            "Shall we start?"
        ]
    );
    assert_eq!(answer["state"], "idle");
    // Only what the user sees: no `input`, `end`, `log`; a transition button without its block.
    let types: Vec<&str> = answer["events"]
        .as_array()
        .expect("events")
        .iter()
        .map(|e| e["type"].as_str().expect("a type"))
        .collect();
    assert_eq!(types, ["message", "message"], "{answer}");
    assert_eq!(
        answer["events"][1]["buttons"][0],
        json!({"kind": "goto", "label": "Let's go!"})
    );
    assert_eq!(session(&server, &user)["messages"], 1);

    // The same message_id again: the stored answer, no second turn.
    let again = say(&server, &key, "hi", "1");
    assert_eq!(again.status, 200, "{again:?}");
    assert_eq!(again.json(), answer);
    assert_eq!(session(&server, &user)["messages"], 1);

    // A user name is taken, as by the API.
    let body = json!({"text": "/quiz", "message_id": "2", "user_name": "Ann"}).to_string();
    let r = chat(
        &server,
        "POST",
        "/chat/api/messages",
        Some(&key),
        body.as_bytes(),
    );
    assert_eq!(r.status, 200, "{r:?}");
    assert!(
        texts(&r.json())[0].starts_with("Welcome to the Space Quiz, Ann!"),
        "{r:?}"
    );
    assert_eq!(session(&server, &user)["user_name"], "Ann");
}

#[test]
fn another_key_can_neither_read_nor_write_this_users_conversation() {
    let dir = TempDir::new("webchat-isolation");
    let server = Server::start_with(
        &dir,
        &assistant(),
        "memory:",
        &[("SCENARIST_TOKEN", "t0ken")],
        &["--web-chat"],
    );
    let (alice, alice_id) = new_key(&server);
    let (mallory, mallory_id) = new_key(&server);
    assert_eq!(
        texts(&say(&server, &alice, "remind me", "a1").json()),
        ["I'll remind you in a second."]
    );
    // Alice's reminder reaches her outbox.
    let deadline = Instant::now() + Duration::from_secs(5);
    let entries = loop {
        let r = chat(
            &server,
            "GET",
            "/chat/api/events?after=0",
            Some(&alice),
            b"",
        );
        assert_eq!(r.status, 200, "{r:?}");
        let entries = r.json()["entries"].clone();
        if entries.as_array().is_some_and(|e| !e.is_empty()) || Instant::now() > deadline {
            break entries;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(entries[0]["seq"], 1, "{entries}");
    assert_eq!(
        common::serve::said(&entries[0]["events"]),
        ["⏰ Reminder: stretch your legs!"]
    );
    // The timer event and the log line are the operators' business.
    assert_eq!(entries[0]["events"].as_array().map(Vec::len), Some(1));

    // Mallory's key sees none of it, and the same message id is not Alice's answer.
    let r = chat(
        &server,
        "GET",
        "/chat/api/events?after=0",
        Some(&mallory),
        b"",
    );
    assert_eq!(r.json(), json!({"entries": []}), "{r:?}");
    let mut stream = EventStream::open(
        &server.addr(),
        "/chat/api/events",
        &[("Authorization", &format!("Key {mallory}"))],
    );
    assert!(
        stream
            .next(Instant::now() + Duration::from_millis(500))
            .is_none(),
        "another user's entries are not streamed"
    );
    drop(stream);
    let r = say(&server, &mallory, "hello", "a1");
    assert_eq!(texts(&r.json()), ["You said: hello"]);

    // A user id in the body is refused: the key alone says who the user is.
    let body = json!({"user_id": alice_id, "text": "x", "message_id": "m9"}).to_string();
    let r = chat(
        &server,
        "POST",
        "/chat/api/messages",
        Some(&mallory),
        body.as_bytes(),
    );
    assert!(
        assert_error(&r, 400, "invalid_field").contains("user_id"),
        "{r:?}"
    );
    let r = chat(
        &server,
        "GET",
        &format!("/chat/api/events?user_id={alice_id}"),
        Some(&mallory),
        b"",
    );
    assert_eq!(r.json(), json!({"entries": []}), "{r:?}");

    // Alice's session saw her message only; Mallory's is his own.
    assert_eq!(session(&server, &alice_id)["messages"], 1);
    assert_eq!(session(&server, &mallory_id)["messages"], 1);

    // A chat key opens nothing of the API.
    for (method, path) in [
        ("GET", format!("/v1/sessions/{alice_id}")),
        ("GET", format!("/v1/users/{alice_id}/events")),
        ("GET", "/v1/globals".to_string()),
        ("GET", "/metrics".to_string()),
        ("POST", "/v1/reload".to_string()),
    ] {
        let r = chat(&server, method, &path, Some(&alice), b"");
        assert_error(&r, 401, "unauthorized");
    }
    let body = json!({"user_id": alice_id, "text": "hi"}).to_string();
    let r = chat(
        &server,
        "POST",
        "/v1/messages",
        Some(&alice),
        body.as_bytes(),
    );
    assert_error(&r, 401, "unauthorized");
}

#[test]
fn a_missing_or_bad_key_is_401() {
    let dir = TempDir::new("webchat-401");
    let server = Server::start_with(&dir, &assistant(), "memory:", &[], &["--web-chat"]);
    let (key, _) = new_key(&server);
    let body = br#"{"text":"hi","message_id":"1"}"#;
    let short = &key[..42];
    let bad = [
        None,
        Some(format!("Bearer {key}")),
        Some(format!("Keys {key}")),
        Some("Key ".to_string()),
        Some("Key not*base64!".to_string()),
        Some(format!("Key {short}")),
        Some(format!("Key {key}=")),
        Some(format!("Key {key}AAAA")),
    ];
    for auth in &bad {
        let headers: Vec<(&str, &str)> =
            auth.iter().map(|a| ("Authorization", a.as_str())).collect();
        for (method, path, body) in [
            ("POST", "/chat/api/messages", &body[..]),
            ("GET", "/chat/api/events", &b""[..]),
            ("GET", "/chat/api/events?after=0", &b""[..]),
        ] {
            let r = try_http(&server.addr(), method, path, &headers, body).expect("an answer");
            assert_error(&r, 401, "unauthorized");
            assert_eq!(r.header("www-authenticate"), Some("Key"), "{auth:?} {r:?}");
        }
    }
    // A 401 is checked before the body is read, and ran no turn.
    let r = try_http(
        &server.addr(),
        "POST",
        "/chat/api/messages",
        &[],
        b"not json",
    )
    .expect("an answer");
    assert_error(&r, 401, "unauthorized");
    let r = say(&server, &key, "hi", "1");
    assert_eq!(texts(&r.json()), ["You said: hi"]);
}

#[test]
fn the_chat_has_the_apis_limits_and_error_answers() {
    let dir = TempDir::new("webchat-limits");
    let server = Server::start_with(
        &dir,
        &assistant(),
        "memory:",
        &[],
        &["--web-chat", "--user-rate", "3"],
    );
    let (key, user) = new_key(&server);
    let post = |body: &[u8]| chat(&server, "POST", "/chat/api/messages", Some(&key), body);
    let too_long = "x".repeat(4097);
    let big = json!({"text": "x".repeat(70_000), "message_id": "big"}).to_string();
    let long_id = "i".repeat(257);
    let cases: Vec<(Vec<u8>, u16, &str)> = vec![
        (b"{not json".to_vec(), 400, "malformed_json"),
        (b"[1,2]".to_vec(), 400, "malformed_body"),
        (br#"{"message_id":"1"}"#.to_vec(), 400, "missing_field"),
        (
            br#"{"text":5,"message_id":"1"}"#.to_vec(),
            400,
            "invalid_field",
        ),
        (br#"{"text":"hi"}"#.to_vec(), 400, "missing_field"),
        (
            br#"{"text":"hi","message_id":""}"#.to_vec(),
            400,
            "invalid_field",
        ),
        (
            br#"{"text":"hi","message_id":1.5}"#.to_vec(),
            400,
            "invalid_field",
        ),
        (
            json!({"text": "hi", "message_id": long_id})
                .to_string()
                .into_bytes(),
            400,
            "invalid_field",
        ),
        (
            br#"{"text":"hi","message_id":"1","user_name":7}"#.to_vec(),
            400,
            "invalid_field",
        ),
        (
            json!({"text": too_long, "message_id": "1"})
                .to_string()
                .into_bytes(),
            422,
            "text_too_long",
        ),
        (big.into_bytes(), 413, "body_too_large"),
    ];
    for (body, status, code) in &cases {
        let r = post(body);
        assert_error(&r, *status, code);
    }
    let r = chat(&server, "GET", "/chat/api/events?after=x", Some(&key), b"");
    assert_error(&r, 400, "invalid_field");
    // None of it ran a turn.
    let r = server.get(&format!("/v1/sessions/{user}"));
    assert_error(&r, 404, "no_session");

    // 4,096 characters are taken; beyond the user's rate, 429 with Retry-After.
    let ok = json!({"text": "é".repeat(4096), "message_id": "ok"}).to_string();
    assert_eq!(post(ok.as_bytes()).status, 200);
    let mut statuses = Vec::new();
    let mut retry_after = None;
    for n in 0..6 {
        let r = say(&server, &key, "hi", &format!("burst{n}"));
        if r.status == 429 {
            assert_error(&r, 429, "too_many_requests");
            retry_after = r.header("retry-after").map(str::to_string);
        }
        statuses.push(r.status);
    }
    assert!(statuses.contains(&429), "{statuses:?}");
    assert!(retry_after.is_some_and(|s| s.parse::<u64>().is_ok_and(|s| s >= 1)));
    server.assert_serving();
}

#[test]
fn the_stream_brings_timers_and_webhooks_live_and_resumes_after_a_restart() {
    let dir = TempDir::new("webchat-sse");
    let mut server = Server::start(&dir, &assistant(), &["--web-chat"]);
    let (key, user) = new_key(&server);
    let auth = format!("Key {key}");
    let headers = [("Authorization", auth.as_str())];
    let mut stream = EventStream::open(&server.addr(), "/chat/api/events?after=0", &headers);
    assert_eq!(
        texts(&say(&server, &key, "remind me", "r1").json()),
        ["I'll remind you in a second."]
    );
    let event = stream
        .next(Instant::now() + Duration::from_secs(5))
        .unwrap_or_else(|| panic!("no reminder streamed\n{}", server.log()));
    assert_eq!(event.id.as_deref(), Some("1"), "{event:?}");
    assert_eq!(event.event.as_deref(), Some("events"), "{event:?}");
    let data: Value = serde_json::from_str(&event.data).expect("JSON data");
    assert_eq!(
        data,
        json!({"seq": 1, "events": [{"type": "message",
            "text": "⏰ Reminder: stretch your legs!",
            "buttons": [{"kind": "text", "label": "Done"}]}]})
    );

    // The server stops: the stream ends. A reminder set before it fires after the restart.
    assert_eq!(
        texts(&say(&server, &key, "remind me", "r2").json()),
        ["I'll remind you in a second."]
    );
    server.restart(&["--web-chat"]);
    assert!(
        stream
            .next(Instant::now() + Duration::from_secs(2))
            .is_none(),
        "the old stream ended"
    );
    // The page reconnects after the last seq it showed: the first reminder is not repeated.
    let mut stream = EventStream::open(&server.addr(), "/chat/api/events?after=1", &headers);
    let event = stream
        .next(Instant::now() + Duration::from_secs(5))
        .unwrap_or_else(|| panic!("no reminder after the restart\n{}", server.log()));
    assert_eq!(event.id.as_deref(), Some("2"), "{event:?}");
    // A webhook for the user (sent by the operator's backend) comes the same way.
    let body = json!({"user_id": user, "payload": {"n": 7}}).to_string();
    let r = server.post("/v1/webhooks/ping", &body);
    assert_eq!(r.status, 200, "{r:?}");
    let event = stream
        .next(Instant::now() + Duration::from_secs(5))
        .expect("the webhook's message");
    assert_eq!(event.id.as_deref(), Some("3"), "{event:?}");
    let data: Value = serde_json::from_str(&event.data).expect("JSON data");
    assert_eq!(texts(&data), ["pong: 7"]);
    assert!(
        stream
            .next(Instant::now() + Duration::from_millis(300))
            .is_none(),
        "nothing twice"
    );
    // `Last-Event-ID` (what EventSource sends) resumes too; the list gives the same entries.
    let resumed = [("Authorization", auth.as_str()), ("Last-Event-ID", "2")];
    let mut stream = EventStream::open(&server.addr(), "/chat/api/events", &resumed);
    let event = stream
        .next(Instant::now() + Duration::from_secs(2))
        .expect("entry 3");
    assert_eq!(event.id.as_deref(), Some("3"), "{event:?}");
    let r = chat(&server, "GET", "/chat/api/events?after=1", Some(&key), b"");
    let seqs: Vec<i64> = r.json()["entries"]
        .as_array()
        .expect("entries")
        .iter()
        .filter_map(|e| e["seq"].as_i64())
        .collect();
    assert_eq!(seqs, [2, 3]);
}

// ---------------------------------------------------------------------------------------------
// End to end, in a real browser.
// ---------------------------------------------------------------------------------------------

/// Where the end-to-end script and its npm packages are.
fn e2e_dir() -> PathBuf {
    root().join("tests/webchat")
}

/// The browser: `CHROMIUM`, else Debian's `/usr/bin/chromium`. Missing, the test fails: it
/// is part of the suite, not an extra.
fn chromium() -> PathBuf {
    let path = std::env::var_os("CHROMIUM")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/bin/chromium"));
    assert!(
        path.exists(),
        "the web chat's end-to-end test needs Chromium at {} (apt-get install -y chromium, or \
         set CHROMIUM)",
        path.display()
    );
    path
}

/// `npm ci` in tests/webchat unless playwright-core is there.
fn npm_packages(dir: &Path) {
    if dir
        .join("node_modules/playwright-core/package.json")
        .exists()
    {
        return;
    }
    let status = Command::new("npm")
        .args(["ci", "--no-audit", "--no-fund"])
        .current_dir(dir)
        .status()
        .unwrap_or_else(|e| {
            panic!("the web chat's end-to-end test needs Node.js and npm (apt-get install -y nodejs npm): {e}")
        });
    assert!(status.success(), "npm ci failed in tests/webchat");
}

#[test]
fn the_chat_and_the_widget_work_in_a_real_browser() {
    let browser = chromium();
    let dir = e2e_dir();
    npm_packages(&dir);
    let quiz_dir = TempDir::new("webchat-e2e-quiz");
    let quiz_server = Server::start_with(&quiz_dir, &quiz(), "memory:", &[], &["--web-chat"]);
    let bot_dir = TempDir::new("webchat-e2e-bot");
    // SQLite: the reminder set before a restart fires after it.
    let mut bot_server = Server::start(&bot_dir, &assistant(), &["--web-chat"]);

    let mut node = Command::new("node")
        .arg("e2e.mjs")
        .current_dir(&dir)
        .env("WEBCHAT_QUIZ_URL", format!("http://{}", quiz_server.addr()))
        .env("WEBCHAT_BOT_URL", format!("http://{}", bot_server.addr()))
        .env("CHROMIUM", &browser)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap_or_else(|e| {
            panic!("the web chat's end-to-end test needs Node.js (apt-get install -y nodejs): {e}")
        });
    // A hung browser must not hang the suite.
    let finished = Arc::new(AtomicBool::new(false));
    let watchdog = {
        let finished = finished.clone();
        let pid = node.id();
        std::thread::spawn(move || {
            let deadline = Instant::now() + Duration::from_secs(120);
            while Instant::now() < deadline {
                if finished.load(Ordering::SeqCst) {
                    return false;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
            let _ = Command::new("kill")
                .args(["-KILL", &pid.to_string()])
                .status();
            true
        })
    };
    let mut to_node = node.stdin.take().expect("node's stdin");
    let from_node = BufReader::new(node.stdout.take().expect("node's stdout"));
    let mut transcript = Vec::new();
    // The script asks for what only this side can do: restart the bot's server.
    for line in from_node.lines() {
        let line = line.expect("node's output");
        println!("{line}");
        if line == "@@restart-bot" {
            bot_server.restart(&["--web-chat"]);
            writeln!(to_node, "ok").expect("node reads its stdin");
        }
        transcript.push(line);
    }
    let status = node.wait().expect("node ends");
    finished.store(true, Ordering::SeqCst);
    let killed = watchdog.join().expect("the watchdog");
    assert!(!killed, "the end-to-end test took over 120 s");
    assert!(
        status.success() && transcript.last().is_some_and(|l| l == "@@done"),
        "the end-to-end test failed ({status}):\n{}\n--- quiz server ---\n{}\n--- bot server ---\n{}",
        transcript.join("\n"),
        quiz_server.log(),
        bot_server.log()
    );
    for step in [
        "quiz played to the end",
        "history kept across a reload",
        "keyboard only",
        "phone size",
        "bot text is text",
        "reminders arrive live, also after a restart",
        "widget on a host page",
    ] {
        assert!(
            transcript
                .iter()
                .any(|l| l.starts_with(&format!("ok {step}"))),
            "no `ok {step}` in:\n{}",
            transcript.join("\n")
        );
    }
}
