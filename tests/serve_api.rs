//! The HTTP surface of `scenarist serve` (SERVER.md §1–§2) against the real binary over real
//! HTTP on 127.0.0.1: bad input, auth, the happy path (events exactly as `run --json` prints
//! them), webhooks and the outbox, the admin endpoints, secrets, `/metrics`, SSE, delivery to a
//! peer, reload and graceful shutdown. Every peer is a server this test starts on loopback.

mod common;

use std::io::{Read, Write};
use std::net::{Shutdown, TcpStream};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::serve::{
    assert_error, find, free_port, parse_response, said, try_http, EventStream, Receiver, Response,
    Server, TempDir, BIN,
};
use serde_json::{json, Value};

/// The events `scenarist run BOT --json` prints for these lines of input.
fn run_json(bot: &Path, input: &str) -> Vec<Value> {
    let mut child = Command::new(BIN)
        .arg("run")
        .arg(bot)
        .arg("--json")
        .env("NO_COLOR", "1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("scenarist run starts");
    child
        .stdin
        .take()
        .expect("stdin is piped")
        .write_all(input.as_bytes())
        .expect("stdin takes the input");
    let output = child.wait_with_output().expect("scenarist run finishes");
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout)
        .expect("UTF-8 output")
        .lines()
        .map(|l| serde_json::from_str(l).expect("each line of run --json is JSON"))
        .collect()
}

const ECHO: &str = "on message goto e\nblock e {\n  say \"%message%\"\n}\n";

// ---------------------------------------------------------------------------------------------
// Bad input.
// ---------------------------------------------------------------------------------------------

#[test]
fn malformed_json_and_non_object_bodies_are_400_and_create_no_session() {
    let dir = TempDir::new("malformed");
    let bot = dir.write("echo.scn", ECHO);
    let server = Server::in_memory(&dir, &bot);

    let r = server.post("/v1/messages", "{\"user_id\":\"mal\",\"text\":");
    let message = assert_error(&r, 400, "malformed_json");
    assert!(message.contains("line 1"), "{message}");
    server.assert_serving();
    server.assert_no_session("mal");

    for body in ["[\"user_id\",\"arr\"]", "\"arr\"", "42", "null"] {
        let r = server.post("/v1/messages", body);
        assert_error(&r, 400, "malformed_body");
        server.assert_serving();
    }
    server.assert_no_session("arr");

    // An empty body is not JSON either, and a webhook's body is checked the same way.
    let r = server.post("/v1/messages", "");
    assert_error(&r, 400, "malformed_json");
    let r = server.request(
        "POST",
        "/v1/messages",
        &[],
        b"{\"user_id\":\"bin\",\"text\":\"\xff\"}",
    );
    assert_error(&r, 400, "malformed_json");
    server.assert_no_session("bin");
    server.assert_serving();
}

#[test]
fn missing_and_mistyped_fields_are_400_naming_the_field() {
    let dir = TempDir::new("fields");
    let bot = dir.write("echo.scn", ECHO);
    let server = Server::in_memory(&dir, &bot);

    let cases: [(&str, &str, &str, &str); 10] = [
        (r#"{"text":"hi"}"#, "missing_field", "user_id", ""),
        (
            r#"{"user_id":null,"text":"hi"}"#,
            "missing_field",
            "user_id",
            "",
        ),
        (r#"{"user_id":"nt"}"#, "missing_field", "text", "nt"),
        (
            r#"{"user_id":42,"text":"hi"}"#,
            "invalid_field",
            "user_id",
            "42",
        ),
        (
            r#"{"user_id":"tl","text":["hi"]}"#,
            "invalid_field",
            "text",
            "tl",
        ),
        (
            r#"{"user_id":"mf","text":"hi","message_id":1.5}"#,
            "invalid_field",
            "message_id",
            "mf",
        ),
        (
            r#"{"user_id":"","text":"hi"}"#,
            "invalid_field",
            "user_id",
            "",
        ),
        (
            r#"{"user_id":"nul\u0000","text":"hi"}"#,
            "invalid_field",
            "user_id",
            "",
        ),
        (
            r#"{"user_id":"mn","text":"hi","message_id":"a\nb"}"#,
            "invalid_field",
            "message_id",
            "mn",
        ),
        (
            r#"{"user_id":"un","text":"hi","user_name":5}"#,
            "invalid_field",
            "user_name",
            "un",
        ),
    ];
    for (body, code, field, user) in cases {
        let r = server.post("/v1/messages", body);
        let message = assert_error(&r, 400, code);
        assert!(
            message.contains(&format!("`{field}`")),
            "{body}: {message:?} should name `{field}`"
        );
        server.assert_serving();
        if !user.is_empty() {
            server.assert_no_session(user);
        }
    }

    // The same checks on a webhook's body.
    let dir2 = TempDir::new("fields-webhook");
    let bot = dir2.write(
        "hook.scn",
        "on webhook \"paid\" goto t\nblock t {\n  say \"paid\"\n}\n",
    );
    let hooks = Server::in_memory(&dir2, &bot);
    let r = hooks.post("/v1/webhooks/paid", r#"{"payload":{}}"#);
    let message = assert_error(&r, 400, "missing_field");
    assert!(message.contains("`user_id`"), "{message}");
    let r = hooks.post("/v1/webhooks/paid", r#"{"user_id":"wh","event_id":[1]}"#);
    let message = assert_error(&r, 400, "invalid_field");
    assert!(message.contains("`event_id`"), "{message}");
    hooks.assert_no_session("wh");
    let r = hooks.post("/v1/webhooks/paid", r#"{"user_id":"wh2"}"#);
    assert_eq!(r.status, 200, "{r:?}");
}

/// POSTs to `path` with this framing header (a `Content-Length` or `Transfer-Encoding`), the
/// body written by `body` from a thread of its own (up to the first write that fails) while the
/// answer is read: the answer, or `None` if the server closed without one.
fn post_streaming(
    addr: &str,
    path: &str,
    framing: &str,
    body: impl FnOnce(&mut TcpStream) -> std::io::Result<()> + Send + 'static,
) -> Option<Response> {
    let mut stream = TcpStream::connect(addr).expect("the server accepts");
    stream
        .set_read_timeout(Some(Duration::from_secs(15)))
        .expect("a read timeout");
    let mut writer = stream.try_clone().expect("a second handle");
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\
         Content-Type: application/json\r\n{framing}\r\n\r\n"
    );
    let sender = std::thread::spawn(move || {
        if writer.write_all(head.as_bytes()).is_ok() {
            let _ = body(&mut writer);
        }
    });
    let mut raw = Vec::new();
    let mut buf = [0u8; 4096];
    // A reset after the answer is fine: what came before it counts.
    while let Ok(n) = stream.read(&mut buf) {
        if n == 0 {
            break;
        }
        raw.extend_from_slice(&buf[..n]);
    }
    let _ = stream.shutdown(Shutdown::Both);
    let _ = sender.join();
    (find(&raw, b"\r\n\r\n").is_some()).then(|| parse_response(&raw))
}

/// Sends a POST of `len` bytes (a JSON message to user `big` padded with `a`s) while reading the
/// answer: the answer, or `None` if the server closed without one.
fn post_huge(addr: &str, path: &str, len: usize) -> Option<Response> {
    let prefix = b"{\"user_id\":\"big\",\"text\":\"";
    let suffix = b"\"}";
    let filler = len - prefix.len() - suffix.len();
    post_streaming(
        addr,
        path,
        &format!("Content-Length: {len}"),
        move |writer| {
            let chunk = vec![b'a'; 64 << 10];
            let mut left = filler;
            writer.write_all(prefix)?;
            while left > 0 {
                let n = left.min(chunk.len());
                writer.write_all(&chunk[..n])?;
                left -= n;
            }
            writer.write_all(suffix)
        },
    )
}

#[test]
fn a_10_mb_body_is_413_or_closed_and_the_server_goes_on() {
    let dir = TempDir::new("huge");
    let bot = dir.write("echo.scn", ECHO);
    let server = Server::in_memory(&dir, &bot);
    let started = Instant::now();
    // Closed without an answer is allowed too.
    let huge = post_huge(&server.addr(), "/v1/messages", 10 << 20);
    if let Some(r) = huge {
        let message = assert_error(&r, 413, "body_too_large");
        assert!(message.contains("64 KiB"), "{message}");
    }
    assert!(started.elapsed() < Duration::from_secs(10));
    server.assert_serving();
    server.assert_no_session("big");
    // Just over the limit, too, and on a webhook.
    if let Some(r) = post_huge(&server.addr(), "/v1/messages", (64 << 10) + 1) {
        assert_error(&r, 413, "body_too_large");
    }
    server.assert_serving();
    if let Some(r) = post_huge(&server.addr(), "/v1/webhooks/paid", 10 << 20) {
        assert_error(&r, 413, "body_too_large");
    }
    server.assert_serving();
    server.assert_no_session("big");
}

#[test]
fn a_10_mb_chunked_body_without_a_length_is_413_or_closed() {
    let dir = TempDir::new("huge-chunked");
    let bot = dir.write("echo.scn", ECHO);
    let server = Server::in_memory(&dir, &bot);
    let answer = post_streaming(
        &server.addr(),
        "/v1/messages",
        "Transfer-Encoding: chunked",
        |writer| {
            let mut chunk = b"10000\r\n".to_vec();
            chunk.extend(std::iter::repeat_n(b'a', 0x10000));
            chunk.extend_from_slice(b"\r\n");
            for _ in 0..160 {
                writer.write_all(&chunk)?;
            }
            writer.write_all(b"0\r\n\r\n")
        },
    );
    if let Some(r) = answer {
        assert_error(&r, 413, "body_too_large");
    }
    server.assert_serving();
}

#[test]
fn text_length_is_counted_in_characters_4096_taken_4097_refused() {
    let dir = TempDir::new("length");
    let bot = dir.write("echo.scn", ECHO);
    let server = Server::in_memory(&dir, &bot);

    // 2 and 4 bytes a character: 4,097 characters are far fewer than 64 KiB.
    let long = "é".repeat(4000) + &"😀".repeat(97);
    assert_eq!(long.chars().count(), 4097);
    let r = server.message("long", &long);
    let message = assert_error(&r, 422, "text_too_long");
    assert!(message.contains("4097"), "{message}");
    server.assert_no_session("long");
    server.assert_serving();

    let just = "é".repeat(3999) + &"😀".repeat(97);
    assert_eq!(just.chars().count(), 4096);
    let events = server.turn("just", &just);
    assert_eq!(said(&events["events"]), [just]);
}

#[test]
fn unknown_routes_are_404_and_wrong_methods_405_in_json() {
    let dir = TempDir::new("routes");
    let bot = dir.write("echo.scn", ECHO);
    let server = Server::in_memory(&dir, &bot);
    for path in [
        "/",
        "/v1",
        "/v1/message",
        "/v2/messages",
        "/v1/users/u/eventz",
    ] {
        let r = server.get(path);
        assert_error(&r, 404, "not_found");
    }
    let r = server.post("/nope", r#"{"user_id":"n","text":"hi"}"#);
    assert_error(&r, 404, "not_found");
    for (method, path) in [
        ("GET", "/v1/messages"),
        ("PUT", "/v1/messages"),
        ("DELETE", "/v1/globals"),
        ("POST", "/v1/sessions/u"),
        ("GET", "/v1/reload"),
        ("GET", "/v1/webhooks/paid"),
        ("POST", "/healthz"),
        ("DELETE", "/metrics"),
    ] {
        let r = server.request(method, path, &[], b"");
        assert_error(&r, 405, "method_not_allowed");
    }
    server.assert_serving();
}

#[test]
fn a_slowloris_client_is_closed_while_others_are_served() {
    let dir = TempDir::new("slowloris");
    let bot = dir.write("echo.scn", ECHO);
    let server = Server::in_memory(&dir, &bot);
    let mut slow = TcpStream::connect(server.addr()).expect("the server accepts");
    slow.write_all(b"POST /v1/messages HTTP/1.1\r\nHost: slo")
        .expect("a partial header line");
    slow.set_read_timeout(Some(Duration::from_millis(500)))
        .expect("a read timeout");
    let started = Instant::now();
    let mut served = 0;
    let closed_after = loop {
        let mut buf = [0u8; 1024];
        match slow.read(&mut buf) {
            // Whatever it answers (nothing, or an error status), then it closes.
            Ok(0) => break started.elapsed(),
            Ok(_) => continue,
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(_) => break started.elapsed(),
        }
        assert!(
            started.elapsed() < Duration::from_secs(13),
            "the slow client is still connected after {:?}",
            started.elapsed()
        );
        // Meanwhile everybody else is served.
        server.assert_serving();
        served += 1;
    };
    assert!(closed_after < Duration::from_secs(13), "{closed_after:?}");
    assert!(served >= 5, "only {served} requests were served meanwhile");
    server.assert_serving();
    server.assert_no_session("slo");
}

// ---------------------------------------------------------------------------------------------
// Auth.
// ---------------------------------------------------------------------------------------------

#[test]
fn the_api_needs_the_token_the_health_checks_do_not_and_the_log_never_shows_it() {
    let dir = TempDir::new("auth");
    let bot = dir.write("echo.scn", ECHO);
    let mut server = Server::start_with(
        &dir,
        &bot,
        "memory:",
        &[("SCENARIST_TOKEN", "secret-token")],
        &[],
    );
    let body = br#"{"user_id":"a","text":"hi"}"#;

    let expect_401 = |r: &Response| {
        assert_error(r, 401, "unauthorized");
        assert!(
            r.header("www-authenticate")
                .is_some_and(|v| v.starts_with("Bearer")),
            "{r:?}"
        );
    };
    let none: [(&str, &str); 1] = [("Authorization", "")];
    // No Authorization at all (bypassing the server's default header).
    let r = try_http(&server.addr(), "POST", "/v1/messages", &[], body).expect("an answer");
    expect_401(&r);
    for auth in [
        "Bearer wrong-token",
        "Bearer secret-token-and-more",
        "Bearer secret-toke",
        "Basic secret-token",
        "secret-token",
        "Bearer ",
    ] {
        let r = server.request("POST", "/v1/messages", &[("Authorization", auth)], body);
        expect_401(&r);
    }
    let r = server.request("POST", "/v1/messages", &none, body);
    expect_401(&r);
    for path in [
        "/v1/globals",
        "/v1/sessions/a",
        "/metrics",
        "/v1/users/a/events",
    ] {
        let r = try_http(&server.addr(), "GET", path, &[], b"").expect("an answer");
        expect_401(&r);
    }
    // None of them ran a turn.
    server.assert_no_session("a");

    let r = server.request(
        "POST",
        "/v1/messages",
        &[("Authorization", "Bearer secret-token")],
        body,
    );
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(said(&r.json()["events"]), ["hi"]);
    for path in ["/healthz", "/readyz"] {
        let r = try_http(&server.addr(), "GET", path, &[], b"").expect("an answer");
        assert_eq!(r.status, 200, "{path}: {r:?}");
    }
    server.assert_serving();

    let (status, log) = server.stop();
    assert!(status.success(), "{status:?}\n{log}");
    assert!(!log.is_empty());
    assert!(!log.contains("secret-token"), "{log}");
    assert!(!log.contains("secret-toke"), "{log}");
}

#[test]
fn without_a_token_the_server_refuses_a_non_loopback_address() {
    let dir = TempDir::new("no-token");
    let bot = dir.write("echo.scn", ECHO);
    for token in [None, Some("")] {
        let mut command = Command::new(BIN);
        command
            .arg("serve")
            .arg(&bot)
            .args(["--listen", &format!("0.0.0.0:{}", free_port())])
            .args(["--store", "memory:"])
            .env_remove("SCENARIST_TOKEN")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        if let Some(token) = token {
            command.env("SCENARIST_TOKEN", token);
        }
        let mut child = command.spawn().expect("the binary starts");
        let deadline = Instant::now() + Duration::from_secs(10);
        let status = loop {
            if let Some(status) = child.try_wait().expect("waitable") {
                break status;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!("the server started on 0.0.0.0 without a token");
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        let mut stderr = String::new();
        child
            .stderr
            .take()
            .expect("stderr is piped")
            .read_to_string(&mut stderr)
            .expect("stderr is readable");
        assert_eq!(status.code(), Some(2), "{stderr}");
        assert!(stderr.contains("SCENARIST_TOKEN"), "{stderr}");
        assert!(stderr.contains("loopback"), "{stderr}");
    }
}

// ---------------------------------------------------------------------------------------------
// The happy path.
// ---------------------------------------------------------------------------------------------

const ASK: &str = r#"on message "hi" goto ask
on fallback goto echo
block ask {
  say "What is your name?" {
    button "Ann"
  }
  wait -> %name%
  say "Hello, %name%!"
}
block echo {
  say "You said: %message%"
}
"#;

#[test]
fn a_message_answers_the_events_run_json_prints_and_the_state() {
    let dir = TempDir::new("happy");
    let bot = dir.write("ask.scn", ASK);
    let server = Server::start(&dir, &bot, &[]);
    let inputs = ["hi", "Bob", "what?"];
    let states = ["waiting", "idle", "idle"];
    let mut events = Vec::new();
    for (text, state) in inputs.iter().zip(states) {
        let r = server.message("happy", text);
        assert_eq!(r.status, 200, "{r:?}");
        assert!(
            r.header("content-type")
                .is_some_and(|v| v.starts_with("application/json")),
            "{r:?}"
        );
        let body = r.json();
        let keys: Vec<&String> = body.as_object().expect("an object").keys().collect();
        assert_eq!(keys, ["events", "state"], "{body}");
        assert_eq!(body["state"], state, "after {text:?}: {body}");
        events.extend(body["events"].as_array().expect("a list").iter().cloned());
    }
    let expected = run_json(&bot, &(inputs.join("\n") + "\n"));
    assert_eq!(
        Value::Array(events.clone()),
        Value::Array(expected),
        "serve and run --json differ"
    );
    assert_eq!(
        said(&Value::Array(events)),
        ["What is your name?", "Hello, Bob!", "You said: what?"]
    );
}

// ---------------------------------------------------------------------------------------------
// Webhooks and the outbox.
// ---------------------------------------------------------------------------------------------

const SHOP: &str = r#"on message goto e
on webhook "paid" goto thanks
block e {
  say "%message%"
}
block thanks {
  say "Thanks for %webhook.amount% %webhook.currency%!"
}
"#;

#[test]
fn a_webhook_runs_its_trigger_with_the_payload_and_lands_in_the_outbox() {
    let dir = TempDir::new("webhook");
    let bot = dir.write("shop.scn", SHOP);
    let server = Server::in_memory(&dir, &bot);

    let r = server.post(
        "/v1/webhooks/paid",
        r#"{"user_id":"w","payload":{"amount":5,"currency":"EUR"}}"#,
    );
    assert_eq!(r.status, 200, "{r:?}");
    let first = r.json();
    assert_eq!(first["state"], "idle");
    assert_eq!(said(&first["events"]), ["Thanks for 5 EUR!"]);
    assert_eq!(
        first["events"][0],
        json!({"type":"webhook","name":"paid","payload":{"amount":5,"currency":"EUR"}})
    );

    // An unknown webhook: 404, and no session for its user.
    let r = server.post(
        "/v1/webhooks/refund",
        r#"{"user_id":"nobody","payload":{}}"#,
    );
    let message = assert_error(&r, 404, "unknown_webhook");
    assert!(message.contains("refund"), "{message}");
    server.assert_no_session("nobody");
    server.assert_serving();

    // A message's answer goes back in its response, not into the outbox.
    assert_eq!(said(&server.turn("w", "hello")["events"]), ["hello"]);
    let second = server
        .post(
            "/v1/webhooks/paid",
            r#"{"user_id":"w","payload":{"amount":7,"currency":"USD"}}"#,
        )
        .json();
    assert_eq!(said(&second["events"]), ["Thanks for 7 USD!"]);

    let r = server.get("/v1/users/w/events");
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(
        r.json(),
        json!({"entries": [
            {"seq": 1, "events": first["events"]},
            {"seq": 2, "events": second["events"]},
        ]})
    );
    let after1 = server.get("/v1/users/w/events?after=1").json();
    assert_eq!(
        after1,
        json!({"entries": [{"seq": 2, "events": second["events"]}]})
    );
    assert_eq!(
        server.get("/v1/users/w/events?after=2").json(),
        json!({"entries": []})
    );
    assert_eq!(
        server.get("/v1/users/nobody/events").json(),
        json!({"entries": []})
    );
    let r = server.get("/v1/users/w/events?after=one");
    let message = assert_error(&r, 400, "invalid_field");
    assert!(message.contains("`after`"), "{message}");
}

// ---------------------------------------------------------------------------------------------
// Admin: sessions, globals, secrets.
// ---------------------------------------------------------------------------------------------

const COUNTER: &str = r#"global %n% = 0
on message goto count
block count {
  set %n% += 1
  say "n is %n%"
}
"#;

#[test]
fn sessions_can_be_read_and_deleted_and_globals_read() {
    let dir = TempDir::new("admin");
    let bot = dir.write("counter.scn", COUNTER);
    let server = Server::start(&dir, &bot, &[]);

    assert_eq!(server.get("/v1/globals").json(), json!({"n": 0}));
    assert_eq!(said(&server.turn("a", "x")["events"]), ["n is 1"]);
    assert_eq!(said(&server.turn("b", "y")["events"]), ["n is 2"]);
    let r = server.get("/v1/globals");
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.json(), json!({"n": 2}));

    let r = server.get("/v1/sessions/a");
    assert_eq!(r.status, 200, "{r:?}");
    let session = r.json();
    assert_eq!(session["user_id"], "a", "{session}");

    let r = server.delete("/v1/sessions/a");
    assert_eq!(r.status, 200, "{r:?}");
    server.assert_no_session("a");
    let r = server.delete("/v1/sessions/a");
    assert_error(&r, 404, "no_session");
    let r = server.delete("/v1/sessions/never-seen");
    assert_error(&r, 404, "no_session");
    // The other user and the globals stay.
    assert_eq!(server.get("/v1/sessions/b").status, 200);
    assert_eq!(server.get("/v1/globals").json(), json!({"n": 2}));
    assert_eq!(said(&server.turn("a", "again")["events"]), ["n is 3"]);
}

const SECRET: &str = r#"user %token% = ""
user %copy% = ""
global %shared% = ""
on message goto show
on webhook "remind" goto remind
block remind {
  say "remind %token%"
}
block show {
  set %copy% = "Bearer %token%"
  set %shared% = "global %token%"
  set %temp% = "temp %token%"
  say "%copy% / %temp%"
  wait -> %answer%
  say "again %copy% %answer%"
}
"#;

#[test]
fn a_secret_never_shows_in_answers_sessions_the_store_or_the_log() {
    let dir = TempDir::new("secret");
    let bot = dir.write("secret.scn", SECRET);
    let mut server = Server::start(&dir, &bot, &["--secret", "token=abc123"]);

    // With a message id: the response is kept for a repeat (the processed table).
    let first = json!({"user_id": "s", "text": "show me", "message_id": "m1"}).to_string();
    let r = server.post("/v1/messages", &first);
    assert_eq!(r.status, 200, "{r:?}");
    assert!(!r.body.contains("abc123"), "{}", r.body);
    assert_eq!(said(&r.json()["events"]), ["Bearer *** / temp ***"]);
    let repeat = server.post("/v1/messages", &first);
    assert_eq!(repeat.body, r.body);
    let session = server.get("/v1/sessions/s");
    assert_eq!(session.status, 200);
    assert!(!session.body.contains("abc123"), "{}", session.body);
    let r = server.message("s", "ok");
    assert!(!r.body.contains("abc123"), "{}", r.body);
    assert_eq!(said(&r.json()["events"]), ["again Bearer *** ok"]);
    // A webhook's events go to the outbox too.
    let r = server.post("/v1/webhooks/remind", r#"{"user_id":"s"}"#);
    assert_eq!(said(&r.json()["events"]), ["remind ***"]);
    let session = server.get("/v1/sessions/s");
    assert!(!session.body.contains("abc123"), "{}", session.body);
    for path in ["/v1/globals", "/v1/users/s/events", "/metrics"] {
        let r = server.get(path);
        assert!(!r.body.contains("abc123"), "{path}: {}", r.body);
    }
    assert_eq!(
        server.get("/v1/globals").json(),
        json!({"shared": "global ***"})
    );

    let stored = |when: &str| {
        for entry in std::fs::read_dir(dir.path()).expect("the temp dir") {
            let path = entry.expect("an entry").path();
            if path.extension().is_some_and(|e| e == "scn") {
                continue;
            }
            let bytes = std::fs::read(&path).expect("a store file");
            assert!(
                find(&bytes, b"abc123").is_none(),
                "{when}: {} holds the secret",
                path.display()
            );
        }
    };
    stored("while running");
    let (status, log) = server.stop();
    assert!(status.success(), "{log}");
    assert!(!log.contains("abc123"), "{log}");
    stored("after the stop");
}

// ---------------------------------------------------------------------------------------------
// /metrics.
// ---------------------------------------------------------------------------------------------

/// One sample of the Prometheus text format.
#[derive(Debug)]
struct Sample {
    name: String,
    labels: Vec<(String, String)>,
    value: f64,
}

fn is_metric_name(s: &str) -> bool {
    let mut chars = s.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

fn parse_value(s: &str) -> Option<f64> {
    match s {
        "+Inf" => Some(f64::INFINITY),
        "-Inf" => Some(f64::NEG_INFINITY),
        "NaN" => Some(f64::NAN),
        _ => s.parse().ok(),
    }
}

/// Parses (and checks) the whole exposition: the samples.
fn parse_metrics(text: &str) -> Vec<Sample> {
    let mut types: std::collections::HashMap<String, String> = Default::default();
    let mut samples = Vec::new();
    for line in text.lines() {
        if line.is_empty() {
            continue;
        }
        if let Some(rest) = line.strip_prefix("# HELP ") {
            let (name, help) = rest.split_once(' ').unwrap_or((rest, ""));
            assert!(is_metric_name(name), "HELP of {name:?}: {line}");
            assert!(!help.trim().is_empty(), "an empty HELP: {line}");
            continue;
        }
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let parts: Vec<&str> = rest.split(' ').collect();
            assert_eq!(parts.len(), 2, "{line}");
            assert!(is_metric_name(parts[0]), "{line}");
            assert!(
                ["counter", "gauge", "histogram", "summary", "untyped"].contains(&parts[1]),
                "{line}"
            );
            assert!(
                types
                    .insert(parts[0].to_string(), parts[1].to_string())
                    .is_none(),
                "a second TYPE: {line}"
            );
            continue;
        }
        assert!(!line.starts_with('#'), "a comment that is neither: {line}");
        let name_end = line
            .find(['{', ' '])
            .unwrap_or_else(|| panic!("a value in {line:?}"));
        let name = &line[..name_end];
        assert!(is_metric_name(name), "{line}");
        let mut rest = &line[name_end..];
        let mut labels = Vec::new();
        if let Some(inner) = rest.strip_prefix('{') {
            let close = inner
                .find('}')
                .unwrap_or_else(|| panic!("unclosed labels: {line}"));
            for pair in inner[..close].split(',').filter(|p| !p.is_empty()) {
                let (key, value) = pair
                    .split_once('=')
                    .unwrap_or_else(|| panic!("a label without `=`: {line}"));
                assert!(is_metric_name(key) && !key.contains(':'), "{line}");
                let value = value
                    .strip_prefix('"')
                    .and_then(|v| v.strip_suffix('"'))
                    .unwrap_or_else(|| panic!("an unquoted label value: {line}"));
                labels.push((key.to_string(), value.to_string()));
            }
            rest = &inner[close + 1..];
        }
        let fields: Vec<&str> = rest
            .strip_prefix(' ')
            .unwrap_or_else(|| panic!("a space before the value: {line}"))
            .split(' ')
            .collect();
        assert!((1..=2).contains(&fields.len()), "{line}");
        let value = parse_value(fields[0]).unwrap_or_else(|| panic!("a numeric value: {line}"));
        let family = [("_bucket", "histogram"), ("_sum", ""), ("_count", "")]
            .iter()
            .find_map(|(suffix, _)| {
                name.strip_suffix(suffix).filter(|f| {
                    types
                        .get(*f)
                        .is_some_and(|t| t == "histogram" || t == "summary")
                })
            })
            .unwrap_or(name);
        assert!(
            types.contains_key(family),
            "{name} has no TYPE line before it"
        );
        samples.push(Sample {
            name: name.to_string(),
            labels,
            value,
        });
    }
    samples
}

fn metric(samples: &[Sample], name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    samples
        .iter()
        .find(|s| {
            s.name == name
                && s.labels.len() == labels.len()
                && labels
                    .iter()
                    .all(|(k, v)| s.labels.iter().any(|(sk, sv)| sk == k && sv == v))
        })
        .map(|s| s.value)
}

#[test]
fn message_texts_reach_the_log_only_with_log_content_and_never_a_secret() {
    let dir = TempDir::new("log-content");
    let bot = dir.write("echo.scn", ECHO);
    let quiet = Server::start_with(&dir, &bot, "memory:", &[], &["--secret", "pin=4321"]);
    assert_eq!(quiet.message("q", "a private remark").status, 200);
    let loud = Server::start_with(
        &dir,
        &bot,
        "memory:",
        &[],
        &["--log-content", "--secret", "pin=4321"],
    );
    assert_eq!(loud.message("l", "a logged remark, pin 4321").status, 200);
    // The turn's line is written after the message's would be.
    let quiet_log = quiet.log_containing(r#""user":"q""#);
    let loud_log = loud.log_containing("a logged remark, pin ***");
    assert!(!quiet_log.contains("private remark"), "{quiet_log}");
    assert!(!loud_log.contains("4321"), "{loud_log}");
}

#[test]
fn metrics_are_prometheus_text_and_count_the_turns() {
    let dir = TempDir::new("metrics");
    let bot = dir.write("echo.scn", ECHO);
    let server = Server::in_memory(&dir, &bot);
    // Refused requests are not turns.
    assert_eq!(server.post("/v1/messages", "{").status, 400);
    assert_eq!(
        server.message("m", &"x".repeat(4097)).status,
        422,
        "a too long text"
    );
    for i in 0..3 {
        server.turn(&format!("m{i}"), "hi");
    }
    let r = server.get("/metrics");
    assert_eq!(r.status, 200, "{r:?}");
    assert!(
        r.header("content-type")
            .is_some_and(|v| v.starts_with("text/plain")),
        "{r:?}"
    );
    let samples = parse_metrics(&r.body);
    assert_eq!(
        metric(&samples, "scenarist_turns_total", &[("outcome", "ok")]),
        Some(3.0),
        "{}",
        r.body
    );
    assert_eq!(
        metric(&samples, "scenarist_turns_total", &[("outcome", "error")]),
        Some(0.0)
    );
    assert_eq!(
        metric(&samples, "scenarist_turn_duration_seconds_count", &[]),
        Some(3.0),
        "{}",
        r.body
    );
    // The histogram's buckets are cumulative and end at the count.
    let buckets: Vec<f64> = samples
        .iter()
        .filter(|s| s.name == "scenarist_turn_duration_seconds_bucket")
        .map(|s| s.value)
        .collect();
    assert!(buckets.windows(2).all(|w| w[0] <= w[1]), "{buckets:?}");
    assert_eq!(buckets.last(), Some(&3.0));
    assert_eq!(
        metric(
            &samples,
            "scenarist_turn_duration_seconds_bucket",
            &[("le", "+Inf")]
        ),
        Some(3.0)
    );
    assert_eq!(metric(&samples, "scenarist_sessions", &[]), Some(3.0));
    let one_more = server.turn("m0", "again");
    assert_eq!(said(&one_more["events"]), ["again"]);
    let samples = parse_metrics(&server.get("/metrics").body);
    assert_eq!(
        metric(&samples, "scenarist_turns_total", &[("outcome", "ok")]),
        Some(4.0)
    );
}

// ---------------------------------------------------------------------------------------------
// SSE.
// ---------------------------------------------------------------------------------------------

const TIMER: &str = r#"on message goto e
on webhook "ping" goto pong
block e {
  say "soon"
  schedule 1s goto later
}
block later {
  say "later"
}
block pong {
  say "pong"
}
"#;

/// The event stream of `path`, with the server's token.
fn sse(server: &Server, path: &str, headers: &[(&str, &str)]) -> EventStream {
    let bearer = server.token().map(|t| format!("Bearer {t}"));
    let mut all: Vec<(&str, &str)> = bearer
        .as_deref()
        .map(|b| ("Authorization", b))
        .into_iter()
        .collect();
    all.extend_from_slice(headers);
    EventStream::open(&server.addr(), path, &all)
}

#[test]
fn sse_streams_a_timers_message_and_a_reconnect_does_not_repeat_it() {
    let dir = TempDir::new("sse");
    let bot = dir.write("timer.scn", TIMER);
    let server = Server::in_memory(&dir, &bot);

    let mut stream = sse(&server, "/v1/users/s/events", &[]);
    assert_eq!(said(&server.turn("s", "go")["events"]), ["soon"]);
    let asked = Instant::now();
    let event = stream
        .next(asked + Duration::from_millis(2500))
        .unwrap_or_else(|| panic!("no SSE event within 2.5 s\n{}", server.log()));
    assert_eq!(event.id.as_deref(), Some("1"), "{event:?}");
    assert_eq!(event.event.as_deref(), Some("events"), "{event:?}");
    let data: Value = serde_json::from_str(&event.data).expect("the data is JSON");
    assert_eq!(data["seq"], 1, "{data}");
    assert_eq!(said(&data["events"]), ["later"], "{data}");
    assert_eq!(
        data["events"][0],
        json!({"type":"timer","name":null,"block":"later","kind":"schedule"})
    );
    drop(stream);

    // Reconnecting after event 1: the next event is the webhook's, not the timer's again.
    let mut stream = sse(&server, "/v1/users/s/events", &[("Last-Event-ID", "1")]);
    let r = server.post("/v1/webhooks/ping", r#"{"user_id":"s"}"#);
    assert_eq!(r.status, 200, "{r:?}");
    let event = stream
        .next(Instant::now() + Duration::from_secs(2))
        .expect("the webhook's entry is streamed");
    assert_eq!(event.id.as_deref(), Some("2"), "{event:?}");
    let data: Value = serde_json::from_str(&event.data).expect("the data is JSON");
    assert_eq!(said(&data["events"]), ["pong"], "{data}");
    assert!(
        stream
            .next(Instant::now() + Duration::from_millis(300))
            .is_none(),
        "nothing more"
    );
    drop(stream);

    // A fresh subscriber with `after=` gets what came after it, from the store.
    let mut stream = sse(&server, "/v1/users/s/events?after=1", &[]);
    let event = stream
        .next(Instant::now() + Duration::from_secs(2))
        .expect("the stored entry");
    assert_eq!(event.id.as_deref(), Some("2"), "{event:?}");
    drop(stream);
    server.assert_serving();
}

// ---------------------------------------------------------------------------------------------
// Delivery to --deliver-url.
// ---------------------------------------------------------------------------------------------

#[test]
fn a_slow_receiver_for_one_user_does_not_hold_up_other_users_deliveries() {
    let dir = TempDir::new("deliver-slow");
    let bot = dir.write("timer.scn", TIMER);
    let peer = Receiver::start_with(0, |d| {
        if d.user_id == "slow" {
            Duration::from_secs(4)
        } else {
            Duration::ZERO
        }
    });
    let server = Server::start(&dir, &bot, &["--deliver-url", &peer.url()]);
    let ping = |user: &str| {
        let r = server.post("/v1/webhooks/ping", &format!(r#"{{"user_id":"{user}"}}"#));
        assert_eq!(r.status, 200, "{r:?}");
    };
    ping("slow");
    let deadline = Instant::now() + Duration::from_secs(3);
    while peer.received().is_empty() {
        assert!(
            Instant::now() < deadline,
            "the slow user's entry never went"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    // While the receiver sits on the slow user's entry, another user's entries go one after
    // another.
    let started = Instant::now();
    for _ in 0..3 {
        ping("fast");
    }
    while peer
        .received()
        .iter()
        .filter(|d| d.user_id == "fast")
        .count()
        < 3
    {
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "the fast user's entries waited: {:?}",
            peer.received()
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    let fast: Vec<i64> = peer
        .received()
        .iter()
        .filter(|d| d.user_id == "fast")
        .map(|d| d.seq)
        .collect();
    assert_eq!(fast, [1, 2, 3], "in order");
    server.assert_serving();
}

/// Checks `sha256=HEX` against the HMAC-SHA256 of the body keyed with the token.
fn verify_signature(token: &str, body: &[u8], header: &str) -> bool {
    use hmac::{KeyInit, Mac};
    let Some(hex) = header.strip_prefix("sha256=") else {
        return false;
    };
    if hex.len() != 64 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return false;
    }
    let bytes: Vec<u8> = (0..32)
        .map(|i| u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).unwrap_or(0))
        .collect();
    let mut mac = <hmac::Hmac<sha2::Sha256> as KeyInit>::new_from_slice(token.as_bytes())
        .expect("HMAC takes any key");
    mac.update(body);
    mac.verify_slice(&bytes).is_ok()
}

#[test]
fn timer_and_webhook_events_are_delivered_signed_retried_and_in_order() {
    let dir = TempDir::new("deliver");
    let bot = dir.write("timer.scn", TIMER);
    let peer = Receiver::start_with(2, |_| Duration::ZERO);
    let url = format!("http://{}/hook", peer.addr);
    let server = Server::start_with(
        &dir,
        &bot,
        &dir.store(),
        &[("SCENARIST_TOKEN", "deliver-token")],
        &["--deliver-url", &url],
    );

    // The message's answer is in its response (not delivered); its timer's is, one second on.
    assert_eq!(said(&server.turn("d", "go")["events"]), ["soon"]);
    // The webhook's entry (seq 1) fails twice; the timer's (seq 2) comes due meanwhile and must
    // wait for it.
    let r = server.post("/v1/webhooks/ping", r#"{"user_id":"d"}"#);
    assert_eq!(r.status, 200, "{r:?}");

    let deadline = Instant::now() + Duration::from_secs(8);
    while peer.received().len() < 4 {
        assert!(
            Instant::now() < deadline,
            "only {:?} arrived\n{}",
            peer.received(),
            server.log()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    // Nothing more comes once both are delivered.
    std::thread::sleep(Duration::from_millis(300));
    let received = peer.received();
    assert_eq!(received.len(), 4, "{received:?}");
    let mut seqs = Vec::new();
    for r in received.iter() {
        assert_eq!(r.request_line, "POST /hook HTTP/1.1", "{r:?}");
        let signature = r
            .headers
            .iter()
            .find(|(n, _)| n == "x-scenarist-signature")
            .map(|(_, v)| v.as_str())
            .unwrap_or_else(|| panic!("a signature on {r:?}"));
        assert!(
            verify_signature("deliver-token", &r.body, signature),
            "a bad signature {signature} on {}",
            String::from_utf8_lossy(&r.body)
        );
        assert!(!verify_signature("other-token", &r.body, signature));
        let body: Value = serde_json::from_slice(&r.body).expect("a JSON body");
        let keys: Vec<&String> = body.as_object().expect("an object").keys().collect();
        assert_eq!(keys, ["user_id", "events", "seq"], "{body}");
        assert_eq!(body["user_id"], "d");
        seqs.push(body["seq"].as_i64().expect("an integer seq"));
        let texts = said(&body["events"]);
        let expected = if seqs.last() == Some(&1) {
            "pong"
        } else {
            "later"
        };
        assert_eq!(texts, [expected], "{body}");
    }
    assert_eq!(seqs, [1, 1, 1, 2], "{received:?}");
    let answered: Vec<u16> = received.iter().map(|r| r.answered).collect();
    assert_eq!(answered, [500, 500, 200, 200]);
    // Backoff: the second retry waits longer than the first.
    let first_gap = received[1].at - received[0].at;
    let second_gap = received[2].at - received[1].at;
    assert!(first_gap >= Duration::from_millis(300), "{first_gap:?}");
    assert!(second_gap > first_gap, "{first_gap:?} then {second_gap:?}");
    drop(received);

    // The outbox still has both; the backlog is empty.
    let entries = server.get("/v1/users/d/events").json();
    assert_eq!(entries["entries"].as_array().map(Vec::len), Some(2));
    let samples = parse_metrics(&server.get("/metrics").body);
    assert_eq!(
        metric(
            &samples,
            "scenarist_deliveries_total",
            &[("result", "failed")]
        ),
        Some(2.0)
    );
    assert_eq!(
        metric(&samples, "scenarist_deliveries_total", &[("result", "ok")]),
        Some(2.0)
    );
    assert_eq!(metric(&samples, "scenarist_outbox_backlog", &[]), Some(0.0));
    assert!(!server.log_settled().contains("deliver-token"));
}

// ---------------------------------------------------------------------------------------------
// Reload and shutdown.
// ---------------------------------------------------------------------------------------------

fn says(word: &str) -> String {
    format!("on message goto e\nblock e {{\n  say \"{word}\"\n}}\n")
}

#[test]
fn reload_by_request_and_by_sighup_and_a_broken_bot_keeps_the_old_one() {
    let dir = TempDir::new("reload");
    let bot = dir.write("bot.scn", &says("one"));
    let server = Server::in_memory(&dir, &bot);
    assert_eq!(said(&server.turn("r1", "hi")["events"]), ["one"]);

    dir.write("bot.scn", &says("two"));
    let r = server.post("/v1/reload", "");
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.json()["reloaded"], true, "{r:?}");
    assert_eq!(said(&server.turn("r2", "hi")["events"]), ["two"]);

    dir.write("bot.scn", "on message goto e\nblock e {\n  say \"three\n");
    let r = server.post("/v1/reload", "");
    assert_error(&r, 422, "bot_has_errors");
    let diagnostics = &r.json()["error"]["diagnostics"];
    assert!(
        diagnostics.as_array().is_some_and(|d| !d.is_empty()),
        "{r:?}"
    );
    assert!(diagnostics.to_string().contains("bot.scn"), "{diagnostics}");
    assert_eq!(said(&server.turn("r3", "hi")["events"]), ["two"]);
    assert_eq!(said(&server.turn("r1", "hi")["events"]), ["two"]);

    dir.write("bot.scn", &says("three"));
    server.signal("HUP");
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut i = 0;
    loop {
        i += 1;
        let texts = said(&server.turn(&format!("hup{i}"), "hi")["events"]);
        if texts == ["three"] {
            break;
        }
        assert_eq!(texts, ["two"]);
        assert!(
            Instant::now() < deadline,
            "SIGHUP did not reload\n{}",
            server.log()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    // A broken bot by SIGHUP: the running one stays, the log says why.
    dir.write("bot.scn", "blok e {\n");
    server.signal("HUP");
    let deadline = Instant::now() + Duration::from_secs(5);
    while !server.log().contains("the new bot has errors") {
        assert!(Instant::now() < deadline, "{}", server.log());
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(said(&server.turn("r4", "hi")["events"]), ["three"]);
}

#[test]
fn sigterm_finishes_the_turn_in_progress_and_exits_0() {
    let dir = TempDir::new("term");
    let peer = Receiver::start_with(0, |_| Duration::from_millis(800));
    let bot = dir.write(
        "slow.scn",
        &format!(
            "on message goto e\nblock e {{\n  http GET \"http://{}/slow\" {{ on error goto failed }}\n  \
             say \"status %status%\"\n}}\nblock failed {{\n  say \"failed: %error%\"\n}}\n",
            peer.addr
        ),
    );
    let mut server = Server::start(&dir, &bot, &["--allow-host", &peer.addr]);
    let mut stream = sse(&server, "/v1/users/t/events", &[]);
    let addr = server.addr();
    let client = std::thread::spawn(move || {
        try_http(
            &addr,
            "POST",
            "/v1/messages",
            &[],
            br#"{"user_id":"t","text":"hi"}"#,
        )
    });
    // SIGTERM while the turn waits on the peer.
    let deadline = Instant::now() + Duration::from_secs(5);
    while peer.received().is_empty() {
        assert!(Instant::now() < deadline, "the turn never called the peer");
        std::thread::sleep(Duration::from_millis(10));
    }
    let stopping = Instant::now();
    let (status, log) = server.stop();
    assert_eq!(status.code(), Some(0), "{log}");
    assert!(stopping.elapsed() < Duration::from_secs(5), "{log}");
    let r = client
        .join()
        .expect("the client thread")
        .expect("the turn in progress is answered");
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(said(&r.json()["events"]), ["status 200"], "{r:?}");
    // The event stream ends with the server.
    assert!(stream
        .next(Instant::now() + Duration::from_secs(2))
        .is_none());

    let lines: Vec<Value> = log
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: a JSON log line {l:?}")))
        .collect();
    let messages: Vec<&str> = lines.iter().filter_map(|l| l["message"].as_str()).collect();
    let stopped = messages
        .iter()
        .position(|m| *m == "stopped")
        .unwrap_or_else(|| panic!("no \"stopped\" in {log}"));
    let turn = lines
        .iter()
        .position(|l| l["message"] == "turn" && l["outcome"] == "ok")
        .unwrap_or_else(|| panic!("the turn is not in {log}"));
    assert!(turn < stopped, "{log}");
    // No message text is logged.
    assert!(!log.contains("\"hi\""), "{log}");
    assert!(
        TcpStream::connect(server.addr()).is_err(),
        "still listening"
    );
    // The turn was committed before the exit: a new server on the store has the session.
    let server = Server::start(&dir, &bot, &["--allow-host", &peer.addr]);
    assert_eq!(server.get("/v1/sessions/t").status, 200);
}
