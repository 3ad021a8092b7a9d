//! The Telegram channel of `scenarist serve` (SERVER.md §4) against the real binary and a fake
//! Bot API of this test's own on 127.0.0.1: long polling (offset, exactly once across a
//! restart), webhook mode (secret_token), the events as Bot API calls (texts, inline keyboards,
//! photos, documents, long texts split), button presses, deep links, `429` and `5xx` answers,
//! timers delivered unasked, bad updates, and the bot token kept out of the log and the store.

mod common;

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use axum::Router;
use common::serve::{assert_error, try_http, Server, TempDir};
use serde_json::{json, Value};

const TOKEN: &str = "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw-_x";

// ---------------------------------------------------------------------------------------------
// A fake Bot API.
// ---------------------------------------------------------------------------------------------

/// One request the fake Bot API got: its method, JSON body, when, and the status it answered.
#[derive(Clone, Debug)]
struct Call {
    method: String,
    body: Value,
    at: Instant,
    status: u16,
}

/// A planned error answer: for the `nth` call (1-based, counted per method) of `method`.
struct Failure {
    method: String,
    nth: usize,
    status: u16,
    retry_after: Option<u64>,
}

#[derive(Default)]
struct Inner {
    /// Updates not yet confirmed (an offset above their id confirms them).
    updates: Vec<Value>,
    /// Updates handed out once more on the next `getUpdates`, whatever the offset (Telegram
    /// sending an update again, as after a lost answer).
    again: VecDeque<Value>,
    confirmed: i64,
    calls: Vec<Call>,
    counts: std::collections::HashMap<String, usize>,
    failures: Vec<Failure>,
    next_update: i64,
    next_message: i64,
}

struct FakeState {
    token: String,
    inner: Mutex<Inner>,
    changed: tokio::sync::Notify,
}

/// A Bot API on 127.0.0.1 for the bot [`TOKEN`]: `getUpdates` hands out queued updates
/// honouring `offset`, `limit` and the long-poll `timeout`; every other call is recorded and
/// answered as Telegram does (`{"ok":true,"result":…}`), or with a planned error.
struct FakeApi {
    port: u16,
    state: Arc<FakeState>,
    _runtime: tokio::runtime::Runtime,
}

fn lock(state: &FakeState) -> std::sync::MutexGuard<'_, Inner> {
    state.inner.lock().expect("the fake's lock")
}

fn ok(result: Value) -> Response {
    axum::Json(json!({ "ok": true, "result": result })).into_response()
}

fn error(status: u16, description: &str, retry_after: Option<u64>) -> Response {
    let mut body = json!({ "ok": false, "error_code": status, "description": description });
    if let Some(secs) = retry_after {
        body["parameters"] = json!({ "retry_after": secs });
    }
    let status = StatusCode::from_u16(status).expect("a status");
    (status, axum::Json(body)).into_response()
}

async fn bot_api(
    State(state): State<Arc<FakeState>>,
    Path((bot, method)): Path<(String, String)>,
    body: Bytes,
) -> Response {
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let record = |status: u16| {
        lock(&state).calls.push(Call {
            method: method.clone(),
            body: body.clone(),
            at: Instant::now(),
            status,
        })
    };
    if bot != format!("bot{}", state.token) {
        record(401);
        return error(401, "Unauthorized", None);
    }
    let planned = {
        let mut inner = lock(&state);
        let n = {
            let count = inner.counts.entry(method.clone()).or_default();
            *count += 1;
            *count
        };
        inner
            .failures
            .iter()
            .position(|f| f.method == method && f.nth == n)
            .map(|i| inner.failures.remove(i))
    };
    if let Some(f) = planned {
        record(f.status);
        let description = match f.status {
            429 => format!(
                "Too Many Requests: retry after {}",
                f.retry_after.unwrap_or(1)
            ),
            _ => "Internal Server Error".to_string(),
        };
        return error(f.status, &description, f.retry_after);
    }
    record(200);
    match method.as_str() {
        "getUpdates" => get_updates(&state, &body).await,
        "sendMessage" | "sendPhoto" | "sendDocument" => {
            let mut inner = lock(&state);
            inner.next_message += 1;
            let mut message = json!({
                "message_id": inner.next_message,
                "date": 1_700_000_000,
                "chat": { "id": body["chat_id"], "type": "private" },
            });
            if let Some(text) = body.get("text") {
                message["text"] = text.clone();
            }
            if let Some(markup) = body.get("reply_markup") {
                message["reply_markup"] = markup.clone();
            }
            ok(message)
        }
        "setWebhook" | "deleteWebhook" | "answerCallbackQuery" => ok(json!(true)),
        _ => error(404, "Not Found: method not found", None),
    }
}

async fn get_updates(state: &FakeState, body: &Value) -> Response {
    let timeout = Duration::from_secs(body["timeout"].as_u64().unwrap_or(0));
    let limit = body["limit"].as_u64().unwrap_or(100) as usize;
    let deadline = tokio::time::Instant::now() + timeout;
    if let Some(offset) = body["offset"].as_i64() {
        let mut inner = lock(state);
        inner.confirmed = inner.confirmed.max(offset);
        let confirmed = inner.confirmed;
        inner
            .updates
            .retain(|u| u["update_id"].as_i64().is_some_and(|id| id >= confirmed));
    }
    loop {
        let changed = state.changed.notified();
        tokio::pin!(changed);
        changed.as_mut().enable();
        {
            let mut inner = lock(state);
            let mut out: Vec<Value> = inner.again.drain(..).collect();
            out.extend(inner.updates.iter().take(limit).cloned());
            if !out.is_empty() {
                return ok(Value::Array(out));
            }
        }
        tokio::select! {
            _ = changed => {}
            _ = tokio::time::sleep_until(deadline) => return ok(json!([])),
        }
    }
}

impl FakeApi {
    fn start() -> FakeApi {
        FakeApi::start_for(TOKEN)
    }

    /// A Bot API whose bot has this token.
    fn start_for(token: &str) -> FakeApi {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("a runtime");
        let state = Arc::new(FakeState {
            token: token.to_string(),
            inner: Mutex::new(Inner {
                next_update: 1000,
                ..Inner::default()
            }),
            changed: tokio::sync::Notify::new(),
        });
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("the fake binds");
        let port = listener.local_addr().expect("its address").port();
        listener.set_nonblocking(true).expect("non-blocking");
        let app = Router::new()
            .route("/{bot}/{method}", any(bot_api))
            .with_state(state.clone());
        runtime.spawn(async move {
            let listener = tokio::net::TcpListener::from_std(listener).expect("a tokio listener");
            let _ = axum::serve(listener, app).await;
        });
        FakeApi {
            port,
            state,
            _runtime: runtime,
        }
    }

    /// The URL to give `--telegram-api`.
    fn api(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn next_update_id(&self) -> i64 {
        let mut inner = lock(&self.state);
        inner.next_update += 1;
        inner.next_update
    }

    /// Queues an update as it is: its id.
    fn push(&self, update: Value) -> i64 {
        let id = update["update_id"].as_i64().unwrap_or(-1);
        lock(&self.state).updates.push(update);
        self.state.changed.notify_waiters();
        id
    }

    /// Hands this update out once more, offset or not.
    fn again(&self, update: Value) {
        lock(&self.state).again.push_back(update);
        self.state.changed.notify_waiters();
    }

    /// An update with a text message from a user in a private chat.
    fn text_update(&self, chat: i64, first_name: &str, text: &str) -> Value {
        let id = self.next_update_id();
        json!({
            "update_id": id,
            "message": {
                "message_id": id,
                "date": 1_700_000_000,
                "chat": { "id": chat, "type": "private", "first_name": first_name },
                "from": { "id": chat, "is_bot": false, "first_name": first_name },
                "text": text,
            }
        })
    }

    /// Queues a text message from a user: the update.
    fn say(&self, chat: i64, first_name: &str, text: &str) -> Value {
        let update = self.text_update(chat, first_name, text);
        self.push(update.clone());
        update
    }

    /// Queues a press of the button labelled `label` under a message the bot sent (as
    /// recorded): the callback query's id.
    fn press(&self, chat: i64, first_name: &str, sent: &Call, label: &str) -> String {
        let markup = sent.body["reply_markup"].clone();
        let data = markup["inline_keyboard"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_array)
            .flatten()
            .find(|b| b["text"] == label)
            .and_then(|b| b["callback_data"].as_str())
            .unwrap_or_else(|| panic!("a callback button {label:?} in {markup}"))
            .to_string();
        let id = self.next_update_id();
        let query = format!("q{id}");
        self.push(json!({
            "update_id": id,
            "callback_query": {
                "id": query,
                "from": { "id": chat, "is_bot": false, "first_name": first_name },
                "chat_instance": "-1234",
                "data": data,
                "message": {
                    "message_id": 1,
                    "date": 1_700_000_000,
                    "chat": { "id": chat, "type": "private" },
                    "from": { "id": 1, "is_bot": true, "first_name": "Bot" },
                    "text": sent.body["text"],
                    "reply_markup": markup,
                }
            }
        }));
        query
    }

    /// The `nth` call of `method` (1-based, from the start) is answered with this error.
    fn fail(&self, method: &str, nth: usize, status: u16, retry_after: Option<u64>) {
        lock(&self.state).failures.push(Failure {
            method: method.to_string(),
            nth,
            status,
            retry_after,
        });
    }

    fn calls(&self) -> Vec<Call> {
        lock(&self.state).calls.clone()
    }

    fn calls_of(&self, method: &str) -> Vec<Call> {
        self.calls()
            .into_iter()
            .filter(|c| c.method == method)
            .collect()
    }

    /// The messages, photos and documents sent to a chat that Telegram took, in order.
    fn sent(&self, chat: i64) -> Vec<Call> {
        self.calls()
            .into_iter()
            .filter(|c| c.status == 200 && c.method.starts_with("send"))
            .filter(|c| c.body["chat_id"] == chat)
            .collect()
    }

    /// The texts of the messages sent to a chat.
    fn texts(&self, chat: i64) -> Vec<String> {
        self.sent(chat)
            .iter()
            .filter(|c| c.method == "sendMessage")
            .map(|c| c.body["text"].as_str().unwrap_or_default().to_string())
            .collect()
    }

    /// Waits until `done` holds for the calls so far (at most 15 s): the calls.
    #[track_caller]
    fn wait_for(&self, what: &str, server: &Server, done: impl Fn(&[Call]) -> bool) -> Vec<Call> {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let calls = self.calls();
            if done(&calls) {
                return calls;
            }
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {what}; calls: {:#?}\nserver log:\n{}",
                calls
                    .iter()
                    .map(|c| format!("{} {} {}", c.status, c.method, c.body))
                    .collect::<Vec<_>>(),
                server.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Waits until this many messages went to the chat: their texts.
    #[track_caller]
    fn wait_texts(&self, chat: i64, n: usize, server: &Server) -> Vec<String> {
        self.wait_for(&format!("{n} messages to {chat}"), server, |_| {
            self.texts(chat).len() >= n
        });
        self.texts(chat)
    }
}

/// `scenarist serve BOT --telegram` against the fake, with a SQLite store in `dir`.
fn start(dir: &TempDir, bot: &std::path::Path, fake: &FakeApi, extra: &[&str]) -> Server {
    let api = fake.api();
    let mut args = vec!["--telegram", "--telegram-api", api.as_str()];
    args.extend_from_slice(extra);
    Server::start_with(
        dir,
        bot,
        &dir.store(),
        &[("TELEGRAM_BOT_TOKEN", TOKEN)],
        &args,
    )
}

/// The bot token appears neither in the server's log nor in any file of the store.
#[track_caller]
fn assert_token_hidden(server: &Server, dir: &TempDir) {
    let log = server.log_settled();
    assert!(!log.is_empty(), "the server logged nothing");
    let secret = TOKEN.split(':').nth(1).expect("a token's secret half");
    assert!(!log.contains(secret), "the token is in the log:\n{log}");
    for entry in std::fs::read_dir(dir.path()).expect("the test's directory") {
        let path = entry.expect("an entry").path();
        if path.to_string_lossy().contains("store.db") {
            let bytes = std::fs::read(&path).expect("a store file");
            assert!(
                !bytes.windows(secret.len()).any(|w| w == secret.as_bytes()),
                "the token is in {}",
                path.display()
            );
        }
    }
}

// ---------------------------------------------------------------------------------------------
// A conversation.
// ---------------------------------------------------------------------------------------------

const LONG_LABEL: &str =
    "Ünïcödé ✓ a label much longer than the sixty-four bytes Telegram's callback_data takes";

#[test]
fn a_conversation_with_buttons_an_image_and_a_file() {
    assert!(LONG_LABEL.len() > 64);
    let dir = TempDir::new("tg-conversation");
    let bot = dir.write(
        "bot.scn",
        &format!(
            r#"on start goto hello

block hello {{
  say "Hello, %user_name%! Pick one." {{
    button "Small"
    button "Cancel" goto cancelled
    button "{LONG_LABEL}" goto long
    link "Docs" "https://example.com/docs"
  }}
  wait -> %size%
  say "You picked %size%." {{
    image "https://example.com/p.png"
    file "https://example.com/i.pdf" "Invoice.pdf"
  }}
}}

block cancelled {{
  say "Cancelled."
}}

block long {{
  say "Long: %message%"
}}
"#
        ),
    );
    let fake = FakeApi::start();
    let server = start(&dir, &bot, &fake, &[]);

    fake.say(42, "Ann", "hi");
    fake.wait_texts(42, 1, &server);
    let hello = fake.sent(42)[0].clone();
    assert_eq!(hello.method, "sendMessage");
    assert_eq!(hello.body["text"], "Hello, Ann! Pick one.");
    // Plain text: nothing to escape.
    assert!(hello.body.get("parse_mode").is_none(), "{}", hello.body);
    let keyboard = hello.body["reply_markup"]["inline_keyboard"]
        .as_array()
        .unwrap_or_else(|| panic!("an inline keyboard in {}", hello.body))
        .iter()
        .flat_map(|row| row.as_array().cloned().unwrap_or_default())
        .collect::<Vec<_>>();
    let labels: Vec<&str> = keyboard.iter().filter_map(|b| b["text"].as_str()).collect();
    assert_eq!(labels, vec!["Small", "Cancel", LONG_LABEL, "Docs"]);
    for button in &keyboard[..3] {
        let data = button["callback_data"].as_str().expect("callback_data");
        assert!(!data.is_empty() && data.len() <= 64, "{button}");
    }
    assert_eq!(keyboard[3]["url"], "https://example.com/docs");
    assert!(keyboard[3].get("callback_data").is_none());

    // A press arrives as the label and is answered.
    let query = fake.press(42, "Ann", &hello, "Small");
    let calls = fake.wait_for("the answer to the press", &server, |_| {
        fake.sent(42).len() >= 4
    });
    let answered: Vec<&Call> = calls
        .iter()
        .filter(|c| c.method == "answerCallbackQuery")
        .collect();
    assert_eq!(answered.len(), 1, "{answered:?}");
    assert_eq!(answered[0].body["callback_query_id"], query.as_str());
    let sent = fake.sent(42);
    let shown: Vec<(&str, &Value)> = sent[1..]
        .iter()
        .map(|c| (c.method.as_str(), &c.body))
        .collect();
    assert_eq!(shown[0].0, "sendMessage");
    assert_eq!(shown[0].1["text"], "You picked Small.");
    assert_eq!(shown[1].0, "sendPhoto");
    assert_eq!(shown[1].1["photo"], "https://example.com/p.png");
    assert_eq!(shown[2].0, "sendDocument");
    assert_eq!(shown[2].1["document"], "https://example.com/i.pdf");
    assert_eq!(shown[2].1["caption"], "Invoice.pdf");
    assert_eq!(sent.len(), 4, "{sent:?}");

    // A label over 64 bytes of UTF-8 works as well as a short one.
    fake.say(43, "Bob", "hi");
    fake.wait_texts(43, 1, &server);
    let hello = fake.sent(43)[0].clone();
    fake.press(43, "Bob", &hello, LONG_LABEL);
    let texts = fake.wait_texts(43, 2, &server);
    assert_eq!(texts[1], format!("Long: {LONG_LABEL}"));
    assert_eq!(
        fake.calls_of("answerCallbackQuery").len(),
        2,
        "{:?}",
        fake.calls_of("answerCallbackQuery")
    );

    // The session is the chat's, named after the user.
    let session = server.get("/v1/sessions/tg:42").json();
    assert_eq!(session["user_id"], "tg:42", "{session}");
    assert_token_hidden(&server, &dir);
}

#[test]
fn a_deep_link_sets_ref_and_the_first_name_is_user_name() {
    let dir = TempDir::new("tg-ref");
    let bot = dir.write(
        "bot.scn",
        "on start goto s\nblock s {\n  say \"ref=[%ref%] name=%user_name%\"\n}\n",
    );
    let fake = FakeApi::start();
    let server = start(&dir, &bot, &fake, &[]);
    fake.say(7, "Zoë", "/start abc");
    fake.say(8, "Bob", "/start");
    assert_eq!(
        fake.wait_texts(7, 1, &server),
        vec!["ref=[abc] name=Zoë".to_string()]
    );
    assert_eq!(
        fake.wait_texts(8, 1, &server),
        vec!["ref=[] name=Bob".to_string()]
    );
    assert_token_hidden(&server, &dir);
}

#[test]
fn a_text_over_4096_characters_is_split_at_the_last_line_break_that_fits() {
    let dir = TempDir::new("tg-split");
    let (a, c, b) = ("A".repeat(3000), "C".repeat(500), "B".repeat(1500));
    let bot = dir.write(
        "bot.scn",
        &format!("on message goto s\nblock s {{\n  say \"{a}\\n{c}\\n{b}\"\n}}\n"),
    );
    let fake = FakeApi::start();
    let server = start(&dir, &bot, &fake, &[]);
    fake.say(9, "Ann", "hi");
    let texts = fake.wait_texts(9, 2, &server);
    assert_eq!(texts, vec![format!("{a}\n{c}"), b.clone()]);
    assert!(texts.iter().all(|t| t.chars().count() <= 4096));
    assert_token_hidden(&server, &dir);
}

// ---------------------------------------------------------------------------------------------
// Exactly once, polling.
// ---------------------------------------------------------------------------------------------

const COUNTER: &str = "user %n% = 0\non message goto count\nblock count {\n  set %n% += 1\n  say \"n=%n% (%message%)\"\n}\n";

#[test]
fn an_update_delivered_twice_runs_one_turn_also_after_a_restart() {
    let dir = TempDir::new("tg-once");
    let bot = dir.write("bot.scn", COUNTER);
    let fake = FakeApi::start();
    let mut server = start(&dir, &bot, &fake, &[]);

    let first = fake.say(5, "Ann", "a");
    fake.wait_texts(5, 1, &server);
    fake.again(first.clone());
    let second = fake.say(5, "Ann", "b");
    assert_eq!(
        fake.wait_texts(5, 2, &server),
        vec!["n=1 (a)".to_string(), "n=2 (b)".to_string()]
    );

    // getUpdates asked for messages and button presses, from the last update + 1.
    let polls = fake.calls_of("getUpdates");
    assert!(polls.iter().all(|p| p.body["allowed_updates"]
        == json!(["message", "callback_query"])
        && p.body["timeout"].as_u64().is_some_and(|t| t > 0)));
    let second_id = second["update_id"].as_i64().expect("an id");
    fake.wait_for("the second update confirmed", &server, |calls| {
        calls
            .iter()
            .any(|c| c.method == "getUpdates" && c.body["offset"] == second_id + 1)
    });
    // Polling starts by removing any webhook (Telegram refuses getUpdates while one is set).
    let calls = fake.calls();
    let delete = calls.iter().position(|c| c.method == "deleteWebhook");
    let poll = calls.iter().position(|c| c.method == "getUpdates");
    assert!(delete.is_some() && delete < poll, "{delete:?} {poll:?}");

    // A new process on the same store gets both again, as Telegram does after a crash
    // before the offset was confirmed: neither runs a turn.
    server.restart(&["--telegram", "--telegram-api", &fake.api()]);
    fake.again(first);
    fake.again(second);
    fake.say(5, "Ann", "c");
    let texts = fake.wait_texts(5, 3, &server);
    assert_eq!(texts, vec!["n=1 (a)", "n=2 (b)", "n=3 (c)"]);
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(fake.texts(5).len(), 3, "{:?}", fake.texts(5));
    assert_token_hidden(&server, &dir);
}

#[test]
fn bad_updates_and_a_failing_get_updates_never_crash_the_server() {
    let dir = TempDir::new("tg-bad");
    let bot = dir.write("bot.scn", COUNTER);
    let fake = FakeApi::start();
    // The first two polls fail: the server backs off and polls again.
    fake.fail("getUpdates", 1, 502, None);
    fake.fail("getUpdates", 2, 500, None);
    let mut server = start(&dir, &bot, &fake, &[]);

    let id = fake.next_update_id();
    fake.push(
        json!({"update_id": id, "message": {"message_id": 1, "date": 0,
        "chat": {"id": 5, "type": "private"}, "from": {"id": 5, "first_name": "Ann"},
        "sticker": {"file_id": "x", "emoji": "🙂"}}}),
    );
    let id = fake.next_update_id();
    fake.push(
        json!({"update_id": id, "edited_message": {"message_id": 1, "date": 0,
        "chat": {"id": 5, "type": "private"}, "text": "edited"}}),
    );
    let id = fake.next_update_id();
    fake.push(
        json!({"update_id": id, "message": {"message_id": 2, "date": 0,
        "chat": {"id": -100500, "type": "supergroup", "title": "G"},
        "from": {"id": 5, "first_name": "Ann"}, "text": "hello group"}}),
    );
    let id = fake.next_update_id();
    let stale = format!("q{id}");
    fake.push(
        json!({"update_id": id, "callback_query": {"id": stale, "data": "b7",
        "chat_instance": "1", "from": {"id": 5, "first_name": "Ann"},
        "message": {"message_id": 3, "date": 0, "chat": {"id": 5, "type": "private"}}}}),
    );
    let id = fake.next_update_id();
    fake.push(json!({"update_id": id, "message": {"chat": "nonsense", "text": 12}}));
    let id = fake.next_update_id();
    fake.push(json!({"update_id": id}));
    fake.again(json!(42));
    fake.again(json!({"no": "update_id"}));
    fake.say(5, "Ann", "real");

    assert_eq!(fake.wait_texts(5, 1, &server), vec!["n=1 (real)"]);
    let last = fake.next_update_id() - 1;
    fake.wait_for("every update confirmed", &server, |calls| {
        calls
            .iter()
            .any(|c| c.method == "getUpdates" && c.body["offset"] == last + 1)
    });
    // The press of a button that is not on its message is answered all the same.
    fake.wait_for("the stale press answered", &server, |calls| {
        calls.iter().any(|c| {
            c.method == "answerCallbackQuery" && c.body["callback_query_id"] == stale.as_str()
        })
    });
    assert!(fake.texts(-100500).is_empty());
    assert!(server.running());
    server.assert_serving();
    assert_token_hidden(&server, &dir);
}

#[test]
fn a_wrong_token_is_retried_and_never_logged() {
    let dir = TempDir::new("tg-wrong-token");
    let bot = dir.write("bot.scn", COUNTER);
    // The Bot API knows another bot: every call is 401.
    let fake = FakeApi::start_for("1:another");
    let server = start(&dir, &bot, &fake, &[]);
    fake.wait_for("two refused calls", &server, |calls| {
        calls.iter().filter(|c| c.status == 401).count() >= 2
    });
    server.assert_serving();
    assert_token_hidden(&server, &dir);
}

// ---------------------------------------------------------------------------------------------
// Delivery: order, retries, 429, timers.
// ---------------------------------------------------------------------------------------------

#[test]
fn a_failing_send_message_is_retried_and_the_messages_keep_their_order() {
    let dir = TempDir::new("tg-retry");
    let bot = dir.write(
        "bot.scn",
        "on message \"go\" goto three\non message goto one\nblock three {\n  say \"1\"\n  say \"2\"\n  say \"3\"\n}\nblock one {\n  say \"4\"\n}\n",
    );
    let fake = FakeApi::start();
    fake.fail("sendMessage", 2, 500, None);
    fake.fail("sendMessage", 3, 502, None);
    let server = start(&dir, &bot, &fake, &[]);
    fake.say(11, "Ann", "go");
    fake.wait_texts(11, 3, &server);
    fake.say(11, "Ann", "more");
    let texts = fake.wait_texts(11, 4, &server);
    assert_eq!(texts, vec!["1", "2", "3", "4"]);
    let attempts: Vec<(u16, String)> = fake
        .calls_of("sendMessage")
        .iter()
        .map(|c| (c.status, c.body["text"].as_str().unwrap_or("").to_string()))
        .collect();
    assert_eq!(
        attempts,
        vec![
            (200, "1".into()),
            (500, "2".into()),
            (502, "2".into()),
            (200, "2".into()),
            (200, "3".into()),
            (200, "4".into()),
        ]
    );
    assert_token_hidden(&server, &dir);
}

#[test]
fn a_429_is_honoured_no_call_comes_before_retry_after() {
    let dir = TempDir::new("tg-429");
    let bot = dir.write(
        "bot.scn",
        "on message goto s\nblock s {\n  say \"one\"\n  say \"two\"\n}\n",
    );
    let fake = FakeApi::start();
    fake.fail("sendMessage", 2, 429, Some(2));
    let server = start(&dir, &bot, &fake, &[]);
    fake.say(12, "Ann", "hi");
    assert_eq!(fake.wait_texts(12, 2, &server), vec!["one", "two"]);
    let sends = fake.calls_of("sendMessage");
    let limited = sends
        .iter()
        .position(|c| c.status == 429)
        .expect("the 429 answer");
    let next = &sends[limited + 1];
    let waited = next.at.duration_since(sends[limited].at);
    assert!(
        waited >= Duration::from_secs(2),
        "the next call came after {waited:?}"
    );
    assert_eq!(sends.len(), 3, "{sends:?}");
    assert_token_hidden(&server, &dir);
}

#[test]
fn a_scheduled_reminder_arrives_with_nobody_asking() {
    let dir = TempDir::new("tg-timer");
    let bot = dir.write(
        "bot.scn",
        "on message goto s\nblock s {\n  say \"Reminder set.\"\n  schedule 1s goto remind\n}\nblock remind {\n  say \"Time's up, %user_name%!\"\n}\n",
    );
    let fake = FakeApi::start();
    let server = start(&dir, &bot, &fake, &[]);
    fake.say(13, "Ann", "remind me");
    let started = Instant::now();
    let texts = fake.wait_texts(13, 2, &server);
    assert_eq!(texts, vec!["Reminder set.", "Time's up, Ann!"]);
    assert!(started.elapsed() >= Duration::from_millis(900));
    assert_token_hidden(&server, &dir);
}

// ---------------------------------------------------------------------------------------------
// Webhook mode.
// ---------------------------------------------------------------------------------------------

#[test]
fn webhook_mode_sets_the_webhook_and_checks_its_secret() {
    let dir = TempDir::new("tg-webhook");
    let bot = dir.write("bot.scn", COUNTER);
    let fake = FakeApi::start();
    let api = fake.api();
    let args = [
        "--telegram",
        "--telegram-api",
        api.as_str(),
        "--telegram-webhook",
        "https://bot.example.com/",
    ];
    let mut server = Server::start_with(
        &dir,
        &bot,
        &dir.store(),
        &[
            ("TELEGRAM_BOT_TOKEN", TOKEN),
            ("SCENARIST_TOKEN", "api-token"),
        ],
        &args,
    );
    let calls = fake.wait_for("setWebhook", &server, |calls| {
        calls.iter().any(|c| c.method == "setWebhook")
    });
    let set = calls
        .iter()
        .find(|c| c.method == "setWebhook")
        .expect("setWebhook");
    assert_eq!(set.body["url"], "https://bot.example.com/telegram/webhook");
    assert_eq!(
        set.body["allowed_updates"],
        json!(["message", "callback_query"])
    );
    let secret = set.body["secret_token"]
        .as_str()
        .expect("a secret_token")
        .to_string();
    assert!(
        (1..=256).contains(&secret.len())
            && secret
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-'),
        "{secret}"
    );
    assert!(!secret.contains(TOKEN.split(':').nth(1).expect("a secret half")));

    let addr = server.addr();
    let update = fake.text_update(21, "Ann", "hello");
    let body = update.to_string();
    let r = try_http(&addr, "POST", "/telegram/webhook", &[], body.as_bytes()).expect("an answer");
    assert_error(&r, 401, "unauthorized");
    let wrong = [("X-Telegram-Bot-Api-Secret-Token", "not-the-secret")];
    let r = try_http(&addr, "POST", "/telegram/webhook", &wrong, body.as_bytes()).expect("answer");
    assert_error(&r, 401, "unauthorized");
    // The API token is no way in either.
    let bearer = [("Authorization", "Bearer api-token")];
    let r = try_http(&addr, "POST", "/telegram/webhook", &bearer, body.as_bytes()).expect("answer");
    assert_error(&r, 401, "unauthorized");
    assert!(fake.texts(21).is_empty());

    // With the secret (and no API token) the update runs a turn, delivered to Telegram.
    let right = [("X-Telegram-Bot-Api-Secret-Token", secret.as_str())];
    let r = try_http(&addr, "POST", "/telegram/webhook", &right, body.as_bytes()).expect("answer");
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(fake.wait_texts(21, 1, &server), vec!["n=1 (hello)"]);
    // Sent again (its answer lost, say): no second turn.
    let r = try_http(&addr, "POST", "/telegram/webhook", &right, body.as_bytes()).expect("answer");
    assert_eq!(r.status, 200, "{r:?}");
    // Not an update, or an update for nobody: no crash, no turn.
    let r = try_http(&addr, "POST", "/telegram/webhook", &right, b"{not json").expect("answer");
    assert_error(&r, 400, "malformed_json");
    let sticker = json!({"update_id": 1, "message": {"chat": {"id": 21, "type": "private"},
        "sticker": {"file_id": "s"}}});
    let r = try_http(
        &addr,
        "POST",
        "/telegram/webhook",
        &right,
        sticker.to_string().as_bytes(),
    )
    .expect("answer");
    assert_eq!(r.status, 200, "{r:?}");
    let next = fake.text_update(21, "Ann", "again");
    let r = try_http(
        &addr,
        "POST",
        "/telegram/webhook",
        &right,
        next.to_string().as_bytes(),
    )
    .expect("answer");
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(
        fake.wait_texts(21, 2, &server),
        vec!["n=1 (hello)", "n=2 (again)"]
    );
    // The API itself still wants its token.
    let r = try_http(&addr, "GET", "/v1/sessions/tg:21", &[], b"").expect("answer");
    assert_error(&r, 401, "unauthorized");
    // Webhook mode never polls.
    assert!(fake.calls_of("getUpdates").is_empty());
    assert!(fake.calls_of("deleteWebhook").is_empty());

    // The secret is the same on every start.
    server.restart(&args);
    fake.wait_for("setWebhook again", &server, |calls| {
        calls.iter().filter(|c| c.method == "setWebhook").count() >= 2
    });
    let again = fake.calls_of("setWebhook");
    assert_eq!(again[1].body["secret_token"], secret.as_str());
    assert_token_hidden(&server, &dir);
}

#[test]
fn without_a_webhook_the_route_does_not_exist_and_the_token_is_required() {
    let dir = TempDir::new("tg-flags");
    let bot = dir.write("bot.scn", COUNTER);
    let fake = FakeApi::start();
    let server = start(&dir, &bot, &fake, &[]);
    let r = try_http(&server.addr(), "POST", "/telegram/webhook", &[], b"{}").expect("answer");
    assert_error(&r, 404, "not_found");

    // --telegram without a token is a usage error, and says where the token goes.
    let output = std::process::Command::new(common::serve::BIN)
        .arg("serve")
        .arg(&bot)
        .args(["--store", "memory:", "--telegram"])
        .env_remove("TELEGRAM_BOT_TOKEN")
        .output()
        .expect("scenarist runs");
    assert_eq!(output.status.code(), Some(2), "{output:?}");
    assert!(String::from_utf8_lossy(&output.stderr).contains("TELEGRAM_BOT_TOKEN"));
}
