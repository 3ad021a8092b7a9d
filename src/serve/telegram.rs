//! The Telegram channel (SERVER.md §4): Bot API updates in — by long polling (`getUpdates`) or
//! through the webhook Telegram calls (`POST /telegram/webhook`) — as turns of `tg:CHAT` users
//! whose events go to the outbox; outbox entries of those users out as Bot API calls
//! (`sendMessage`, `sendPhoto`, `sendDocument`), in order, honouring `429`'s `retry_after`.
//!
//! The bot token is part of every Bot API URL, so no URL is ever logged (reqwest's errors are
//! stripped of theirs).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use hmac::{Hmac, KeyInit, Mac};
use serde_json::{json, Value as Json};
use sha2::Sha256;

use super::api::{self, ApiError};
use super::store::OutboxEntry;
use super::{App, TurnError, TurnRequest};
use crate::eval::Input;

/// The public Bot API, `--telegram-api`'s default.
pub const DEFAULT_API: &str = "https://api.telegram.org";
/// Where Telegram posts updates in webhook mode, appended to `--telegram-webhook`.
pub const WEBHOOK_PATH: &str = "/telegram/webhook";
/// The header Telegram sends the webhook's `secret_token` in.
const SECRET_HEADER: &str = "x-telegram-bot-api-secret-token";
/// The user ids of Telegram chats start with this.
pub const USER_PREFIX: &str = "tg:";
/// The update types asked for (a bot answers messages and presses of its buttons).
const ALLOWED_UPDATES: [&str; 2] = ["message", "callback_query"];
/// How long one `getUpdates` waits for an update (the Bot API's long-poll `timeout`).
const POLL_TIMEOUT: Duration = Duration::from_secs(25);
/// How long any other call may take.
const CALL_TIMEOUT: Duration = Duration::from_secs(20);
/// The longest text of one message (Telegram counts UTF-16 code units; counting them is never
/// more than Telegram allows).
const MAX_TEXT_UNITS: usize = 4096;
/// The longest caption of a photo or document.
const MAX_CAPTION_UNITS: usize = 1024;
/// Sent for a message that has buttons but no text: Telegram refuses an empty text.
const NO_TEXT: &str = "…";

/// The Bot API of one bot: its URLs (with the token), the webhook, the calls' shared state.
pub struct Telegram {
    /// `{api}/bot{token}/`: never logged.
    base: String,
    /// The webhook's `secret_token`, derived from the token.
    secret: String,
    /// The webhook's URL in webhook mode; `None` to poll.
    webhook: Option<String>,
    client: reqwest::Client,
    /// A `429` said to wait until then: no message is sent before.
    pause: Mutex<Option<tokio::time::Instant>>,
    /// Calls of a partly delivered outbox entry that already succeeded, by (user, seq, time
    /// of the entry; a deleted user's seq starts again at 1): a retry in this process goes on
    /// after them instead of sending them again.
    progress: Mutex<HashMap<(String, i64, i64), usize>>,
}

/// Why a Bot API call did not succeed.
#[derive(Debug, PartialEq)]
enum CallError {
    /// `429`: wait this long, then the same call may be made again.
    Wait(Duration),
    /// Refused for good (`400`, `403`, `404`): the same call would be refused again.
    Refused(String),
    /// No answer, a `5xx`, a `401`, an answer that is not the Bot API's: try again later.
    Failed(String),
}

impl std::fmt::Display for CallError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CallError::Wait(wait) => write!(f, "429: retry after {} s", wait.as_secs()),
            CallError::Refused(reason) | CallError::Failed(reason) => f.write_str(reason),
        }
    }
}

/// A reqwest error as text, with its causes, without the URL (it holds the token).
fn transport(e: reqwest::Error) -> CallError {
    let e = e.without_url();
    let mut text = e.to_string();
    let mut source = std::error::Error::source(&e);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    CallError::Failed(text)
}

/// What became of an outbox entry given to [`Telegram::deliver`].
#[derive(Debug, PartialEq)]
pub enum Sent {
    /// Every call was made (or refused for good, and logged).
    Done,
    /// A call failed: the entry is tried again later, from that call on.
    Failed,
    /// A `429`: the entry is tried again after this long (not a failure).
    Later(Duration),
}

/// The `secret_token` of the webhook: HMAC-SHA256 of the bot token, in hex (64 characters
/// of Telegram's allowed `A-Z a-z 0-9 _ -`), the same on every start and every instance.
pub fn webhook_secret(token: &str) -> String {
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(b"scenarist telegram webhook")
        .unwrap_or_else(|_| unreachable!("HMAC takes a key of any length"));
    mac.update(token.as_bytes());
    super::hex(&mac.finalize().into_bytes())
}

impl Telegram {
    /// The Bot API at `api` for the bot `token`; in webhook mode when `webhook` (the public
    /// URL of this server) is given. An error says which argument is wrong (never the token).
    pub fn new(api: &str, token: &str, webhook: Option<&str>) -> Result<Telegram, String> {
        let token_ok = !token.is_empty()
            && token
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, ':' | '_' | '-'));
        if !token_ok {
            return Err(
                "TELEGRAM_BOT_TOKEN is not a bot token (like 123456:ABC-DEF…, from \
                        @BotFather)"
                    .into(),
            );
        }
        let api = api.trim_end_matches('/');
        if url::Url::parse(api).map_or(true, |u| !matches!(u.scheme(), "http" | "https")) {
            return Err(format!("--telegram-api {api:?} is not an http(s) URL"));
        }
        let webhook = match webhook {
            None => None,
            Some(public) => {
                let public = public.trim_end_matches('/');
                if url::Url::parse(public).map_or(true, |u| !matches!(u.scheme(), "http" | "https"))
                {
                    return Err(format!(
                        "--telegram-webhook {public:?} is not an https URL (the server's public \
                         address, as in https://bot.example.com)"
                    ));
                }
                Some(format!("{public}{WEBHOOK_PATH}"))
            }
        };
        let client = reqwest::Client::builder()
            .timeout(POLL_TIMEOUT + Duration::from_secs(15))
            .build()
            .map_err(|e| format!("cannot make the Bot API's client: {}", e.without_url()))?;
        Ok(Telegram {
            base: format!("{api}/bot{token}/"),
            secret: webhook_secret(token),
            webhook,
            client,
            pause: Mutex::new(None),
            progress: Mutex::new(HashMap::new()),
        })
    }

    /// Whether Telegram posts updates to this server (`--telegram-webhook`).
    pub fn webhook_mode(&self) -> bool {
        self.webhook.is_some()
    }

    /// Calls a Bot API method with a JSON body: its `result`.
    async fn call(&self, method: &str, body: &Json, timeout: Duration) -> Result<Json, CallError> {
        let response = self
            .client
            .post(format!("{}{method}", self.base))
            .timeout(timeout)
            .header("content-type", "application/json")
            .body(body.to_string())
            .send()
            .await
            .map_err(transport)?;
        let status = response.status();
        let bytes = response.bytes().await.map_err(transport)?;
        let answer: Json = serde_json::from_slice(&bytes).unwrap_or(Json::Null);
        if status.is_success() && answer.get("ok") == Some(&Json::Bool(true)) {
            return Ok(answer.get("result").cloned().unwrap_or(Json::Null));
        }
        let code = answer["error_code"]
            .as_i64()
            .unwrap_or(i64::from(status.as_u16()));
        let description = answer["description"]
            .as_str()
            .unwrap_or_else(|| status.canonical_reason().unwrap_or("no description"));
        let reason = format!("{code} {description}");
        if code == 429 || status == StatusCode::TOO_MANY_REQUESTS {
            let secs = answer["parameters"]["retry_after"].as_u64().unwrap_or(1);
            return Err(CallError::Wait(Duration::from_secs(secs.clamp(1, 3600))));
        }
        match code {
            400 | 403 | 404 => Err(CallError::Refused(reason)),
            _ => Err(CallError::Failed(reason)),
        }
    }

    /// Waits out a pause a `429` asked for.
    async fn paused(&self) {
        let until = self.pause.lock().map_or(None, |p| *p);
        if let Some(until) = until {
            tokio::time::sleep_until(until).await;
        }
    }

    /// No message is sent for `wait` from now (or longer, if a pause lasts longer already).
    fn pause_for(&self, wait: Duration) {
        let until = tokio::time::Instant::now() + wait;
        if let Ok(mut pause) = self.pause.lock() {
            if pause.is_none_or(|p| p < until) {
                *pause = Some(until);
            }
        }
    }

    /// Sends one outbox entry of a `tg:` user: the calls its `message` events make, in order.
    /// After a failure the next attempt (in this process) starts at the call that failed; a
    /// process that stops in the middle of an entry sends all of it again when it restarts
    /// (at least once).
    pub async fn deliver(&self, entry: &OutboxEntry) -> Sent {
        let Some(chat_id) = chat_of(&entry.user_id) else {
            tracing::warn!(user = %entry.user_id, "not a Telegram chat id; nothing delivered");
            return Sent::Done;
        };
        let events: Vec<Json> = serde_json::from_str(&entry.events).unwrap_or_default();
        let calls = calls_for(chat_id, &events);
        let key = (entry.user_id.clone(), entry.seq, entry.created_ms);
        let mut done = self
            .progress
            .lock()
            .ok()
            .and_then(|p| p.get(&key).copied())
            .unwrap_or(0);
        let outcome = loop {
            let Some(call) = calls.get(done) else {
                break Sent::Done;
            };
            self.paused().await;
            let result = match self.call(call.method, &call.body, CALL_TIMEOUT).await {
                Err(CallError::Refused(reason)) => match &call.fallback {
                    Some(fallback) => {
                        tracing::warn!(user = %entry.user_id, method = call.method, %reason,
                            "the Bot API refused a call; its link is sent as text instead");
                        self.call("sendMessage", fallback, CALL_TIMEOUT).await
                    }
                    None => Err(CallError::Refused(reason)),
                },
                other => other,
            };
            match result {
                Ok(_) => done += 1,
                Err(CallError::Refused(reason)) => {
                    // Bad input to Telegram (a URL it cannot fetch, a chat that blocked the
                    // bot): retrying would only hold up the user's later messages.
                    tracing::warn!(user = %entry.user_id, seq = entry.seq, method = call.method,
                        %reason, "the Bot API refused a call; it is skipped");
                    done += 1;
                }
                Err(CallError::Wait(wait)) => {
                    tracing::info!(user = %entry.user_id, wait_s = wait.as_secs(),
                        "the Bot API asks to wait (429)");
                    self.pause_for(wait);
                    break Sent::Later(wait);
                }
                Err(CallError::Failed(reason)) => {
                    tracing::warn!(user = %entry.user_id, seq = entry.seq, method = call.method,
                        %reason, "a Bot API call failed");
                    break Sent::Failed;
                }
            }
        };
        if let Ok(mut progress) = self.progress.lock() {
            if outcome == Sent::Done {
                progress.remove(&key);
            } else {
                progress.insert(key, done);
            }
        }
        outcome
    }
}

/// The chat id of a `tg:` user id.
fn chat_of(user_id: &str) -> Option<i64> {
    user_id.strip_prefix(USER_PREFIX)?.parse().ok()
}

/// One Bot API call of a delivery.
#[derive(Debug, PartialEq)]
struct Call {
    method: &'static str,
    body: Json,
    /// A `sendMessage` body to send instead when Telegram refuses this call (a photo or file
    /// it cannot fetch: the user still gets the link).
    fallback: Option<Json>,
}

/// The calls that show these events (as `run --json` prints them) in the chat: per `message`,
/// its text (in pieces of at most 4 096 units, split at line breaks), then its images
/// (`sendPhoto`) and files (`sendDocument`, captioned with their name), the buttons as an
/// inline keyboard on the last of them. Other events are for the bot's author, not the user.
fn calls_for(chat_id: i64, events: &[Json]) -> Vec<Call> {
    let mut calls = Vec::new();
    for event in events.iter().filter(|e| e["type"] == "message") {
        let first = calls.len();
        let text = event["text"].as_str().unwrap_or("");
        for piece in split_text(text, MAX_TEXT_UNITS) {
            calls.push(Call {
                method: "sendMessage",
                body: json!({ "chat_id": chat_id, "text": piece }),
                fallback: None,
            });
        }
        for attachment in event["attachments"].as_array().into_iter().flatten() {
            let url = attachment["url"].as_str().unwrap_or("");
            match attachment["kind"].as_str() {
                Some("image") => calls.push(Call {
                    method: "sendPhoto",
                    body: json!({ "chat_id": chat_id, "photo": url }),
                    fallback: Some(json!({ "chat_id": chat_id, "text": url })),
                }),
                Some("file") => {
                    let name = attachment["name"].as_str().unwrap_or("");
                    let caption = split_text(name, MAX_CAPTION_UNITS)
                        .first()
                        .copied()
                        .unwrap_or("");
                    let mut body = json!({ "chat_id": chat_id, "document": url });
                    if !caption.is_empty() {
                        body["caption"] = Json::from(caption);
                    }
                    let link = if caption.is_empty() {
                        url.to_string()
                    } else {
                        format!("{caption}\n{url}")
                    };
                    calls.push(Call {
                        method: "sendDocument",
                        body,
                        fallback: Some(json!({ "chat_id": chat_id, "text": link })),
                    });
                }
                _ => {}
            }
        }
        if let Some(markup) = keyboard(event["buttons"].as_array().map_or(&[], Vec::as_slice)) {
            if calls.len() == first {
                calls.push(Call {
                    method: "sendMessage",
                    body: json!({ "chat_id": chat_id, "text": NO_TEXT }),
                    fallback: None,
                });
            }
            if let Some(last) = calls.last_mut() {
                last.body["reply_markup"] = markup.clone();
                if let Some(fallback) = &mut last.fallback {
                    fallback["reply_markup"] = markup;
                }
            }
        }
    }
    calls
}

/// The buttons of a message as an `InlineKeyboardMarkup`: link buttons as URL buttons, the
/// others as callback buttons whose `callback_data` is `b` + their index (the label, which may
/// be longer than the 64 bytes `callback_data` takes, is read back from the pressed message's
/// keyboard). Short labels share a row (at most 3, 30 characters), long ones get their own.
fn keyboard(buttons: &[Json]) -> Option<Json> {
    let mut rows: Vec<Vec<Json>> = Vec::new();
    let mut row: Vec<Json> = Vec::new();
    let mut row_chars = 0;
    for (i, button) in buttons.iter().enumerate() {
        let label = button["label"].as_str().unwrap_or("");
        if label.trim().is_empty() {
            // Telegram refuses a button without text (and the whole message with it).
            continue;
        }
        let item = match (button["kind"].as_str(), button["url"].as_str()) {
            (Some("link"), Some(url)) => json!({ "text": label, "url": url }),
            _ => json!({ "text": label, "callback_data": format!("b{i}") }),
        };
        let chars = label.chars().count();
        if !row.is_empty() && (row.len() == 3 || row_chars + chars > 30) {
            rows.push(std::mem::take(&mut row));
            row_chars = 0;
        }
        row.push(item);
        row_chars += chars;
    }
    if !row.is_empty() {
        rows.push(row);
    }
    (!rows.is_empty()).then(|| json!({ "inline_keyboard": rows }))
}

/// Splits a text into pieces of at most `limit` UTF-16 code units: at the last line break that
/// fits (the break itself dropped), or — a line longer than a piece — at the last character
/// that fits. Pieces with nothing but white space are left out (Telegram refuses them).
fn split_text(text: &str, limit: usize) -> Vec<&str> {
    let mut pieces = Vec::new();
    let mut rest = text;
    while rest.encode_utf16().count() > limit {
        let mut end = 0;
        let mut units = 0;
        for (i, c) in rest.char_indices() {
            if units + c.len_utf16() > limit {
                break;
            }
            units += c.len_utf16();
            end = i + c.len_utf8();
        }
        match rest[..end].rfind('\n') {
            Some(0) => rest = &rest[1..],
            Some(nl) => {
                pieces.push(&rest[..nl]);
                rest = &rest[nl + 1..];
            }
            None => {
                pieces.push(&rest[..end]);
                rest = &rest[end..];
            }
        }
    }
    pieces.push(rest);
    pieces.retain(|p| !p.trim().is_empty());
    pieces
}

/// What an update asks of the bot.
#[derive(Debug, PartialEq)]
enum Incoming {
    /// A text from a user in a private chat, or the label of a button pressed there.
    Text {
        update_id: i64,
        chat_id: i64,
        first_name: Option<String>,
        text: String,
        /// The callback query of a pressed button, to answer.
        callback: Option<String>,
    },
    /// Nothing for the bot: why (for the log), and a callback query to answer anyway.
    Ignored {
        update_id: Option<i64>,
        chat_id: Option<i64>,
        why: &'static str,
        callback: Option<String>,
    },
}

impl Incoming {
    fn update_id(&self) -> Option<i64> {
        match self {
            Incoming::Text { update_id, .. } => Some(*update_id),
            Incoming::Ignored { update_id, .. } => *update_id,
        }
    }

    fn chat_id(&self) -> Option<i64> {
        match self {
            Incoming::Text { chat_id, .. } => Some(*chat_id),
            Incoming::Ignored { chat_id, .. } => *chat_id,
        }
    }
}

/// Reads an `Update`. Only texts and button presses in private chats make turns: messages
/// without text (stickers, photos, voice, …), edited messages, group and channel posts and
/// every other kind of update are ignored.
fn parse_update(update: &Json) -> Incoming {
    let ignored = |why, chat_id, callback| Incoming::Ignored {
        update_id: update["update_id"].as_i64(),
        chat_id,
        why,
        callback,
    };
    let Some(update_id) = update["update_id"].as_i64() else {
        return ignored("an update without an update_id", None, None);
    };
    let first_name = |from: &Json| from["first_name"].as_str().map(str::to_string);
    if let Some(message) = update.get("message").filter(|m| m.is_object()) {
        let chat_id = message["chat"]["id"].as_i64();
        if message["chat"]["type"] != "private" {
            return ignored("a message outside a private chat", chat_id, None);
        }
        let Some(chat_id) = chat_id else {
            return ignored("a message without a chat id", None, None);
        };
        let Some(text) = message["text"].as_str() else {
            return ignored("a message without text", Some(chat_id), None);
        };
        return Incoming::Text {
            update_id,
            chat_id,
            first_name: first_name(&message["from"]),
            text: text.to_string(),
            callback: None,
        };
    }
    if let Some(query) = update.get("callback_query").filter(|q| q.is_object()) {
        let callback = query["id"].as_str().map(str::to_string);
        let message = &query["message"];
        let chat_id = message["chat"]["id"].as_i64();
        if message["chat"]["type"] != "private" {
            return ignored("a button pressed outside a private chat", chat_id, callback);
        }
        let Some(chat_id) = chat_id else {
            return ignored("a button press without a chat id", None, callback);
        };
        let label = query["data"]
            .as_str()
            .and_then(|data| pressed_label(message, data));
        let Some(text) = label else {
            return ignored(
                "a button press whose button is not on its message",
                Some(chat_id),
                callback,
            );
        };
        return Incoming::Text {
            update_id,
            chat_id,
            first_name: first_name(&query["from"]),
            text,
            callback,
        };
    }
    ignored("neither a message nor a button press", None, None)
}

/// The label of the button with this `callback_data` on the message that carried it.
fn pressed_label(message: &Json, data: &str) -> Option<String> {
    message["reply_markup"]["inline_keyboard"]
        .as_array()?
        .iter()
        .filter_map(Json::as_array)
        .flatten()
        .find(|b| b["callback_data"].as_str() == Some(data))
        .and_then(|b| b["text"].as_str())
        .map(str::to_string)
}

impl App {
    /// Runs the turn an update asks for (at most once per `update_id`), its events into the
    /// outbox; an error when the update should be handled again later (the store is down).
    async fn telegram_update(
        &self,
        tg: &Arc<Telegram>,
        incoming: Incoming,
    ) -> Result<(), TurnError> {
        match incoming {
            Incoming::Ignored {
                update_id,
                why,
                callback,
                ..
            } => {
                tracing::debug!(update_id, why, "a Telegram update was ignored");
                if let Some(id) = callback {
                    answer_callback(tg, id);
                }
                Ok(())
            }
            Incoming::Text {
                update_id,
                chat_id,
                first_name,
                text,
                callback,
            } => {
                if let Some(id) = callback {
                    answer_callback(tg, id);
                }
                let turn = self
                    .turn(TurnRequest {
                        user_id: format!("{USER_PREFIX}{chat_id}"),
                        user_name: first_name,
                        input: Input::Message(text),
                        id: Some(format!("tg:{update_id}")),
                        to_outbox: true,
                    })
                    .await;
                match turn {
                    Ok(_) => Ok(()),
                    Err(TurnError::Corrupt(message)) => {
                        // Handling it again would fail again.
                        tracing::error!(update_id, %message, "a Telegram update was dropped");
                        Ok(())
                    }
                    Err(e) => Err(e),
                }
            }
        }
    }
}

/// Answers a button's callback query (Telegram shows a spinner until then), on the side: a
/// failure is only logged, the press is handled anyway.
fn answer_callback(tg: &Arc<Telegram>, id: String) {
    let tg = tg.clone();
    tokio::spawn(async move {
        let body = json!({ "callback_query_id": id });
        if let Err(e) = tg.call("answerCallbackQuery", &body, CALL_TIMEOUT).await {
            tracing::debug!(error = %e, "a callback query could not be answered");
        }
    });
}

/// Backoff after failed calls: 0.5 s, 1 s, 2 s … up to 30 s.
struct Backoff(u32);

impl Backoff {
    fn next(&mut self) -> Duration {
        self.0 = self.0.saturating_add(1);
        Duration::from_millis(500u64 << self.0.min(7).saturating_sub(1))
            .min(Duration::from_secs(30))
    }
}

/// Sleeps, or returns false when the server stops first.
async fn sleep_unless_stopped(
    wait: Duration,
    stop: &mut tokio::sync::watch::Receiver<bool>,
) -> bool {
    if *stop.borrow() {
        return false;
    }
    tokio::select! {
        _ = tokio::time::sleep(wait) => true,
        _ = stop.changed() => false,
    }
}

/// The channel's background work until the server stops: in webhook mode, `setWebhook`
/// (retried until Telegram takes it); otherwise `deleteWebhook`, then long polling.
pub async fn run(app: Arc<App>, tg: Arc<Telegram>, stop: tokio::sync::watch::Receiver<bool>) {
    let mut stop = stop;
    let mut backoff = Backoff(0);
    let (method, body) = match &tg.webhook {
        Some(url) => (
            "setWebhook",
            json!({ "url": url, "secret_token": tg.secret, "allowed_updates": ALLOWED_UPDATES }),
        ),
        // Telegram refuses getUpdates while a webhook is set.
        None => ("deleteWebhook", json!({})),
    };
    loop {
        match tg.call(method, &body, CALL_TIMEOUT).await {
            Ok(_) => break,
            Err(CallError::Refused(reason)) if tg.webhook.is_some() => {
                tracing::error!(%reason, "Telegram refused the webhook; no updates will arrive");
                return;
            }
            Err(e) => {
                let wait = match e {
                    CallError::Wait(wait) => wait,
                    _ => backoff.next(),
                };
                tracing::warn!(method, error = %e, "the Bot API call failed; retrying");
                if !sleep_unless_stopped(wait, &mut stop).await {
                    return;
                }
            }
        }
    }
    match &tg.webhook {
        Some(_) => tracing::info!(path = WEBHOOK_PATH, "Telegram posts updates to the webhook"),
        None => {
            tracing::info!("polling Telegram for updates");
            poll(app, tg, stop).await;
        }
    }
}

/// Long polling: `getUpdates` from the last update handled + 1; each batch's updates handled
/// per chat in order, chats in parallel, before the next batch is asked for (which confirms
/// them to Telegram). An update that could not be handled is asked for again, with those after
/// it (which the exactly-once ids then skip).
async fn poll(app: Arc<App>, tg: Arc<Telegram>, stop: tokio::sync::watch::Receiver<bool>) {
    let mut stop = stop;
    let mut backoff = Backoff(0);
    let mut offset: Option<i64> = None;
    loop {
        if *stop.borrow() {
            return;
        }
        let mut body = json!({
            "timeout": POLL_TIMEOUT.as_secs(),
            "allowed_updates": ALLOWED_UPDATES,
        });
        if let Some(offset) = offset {
            body["offset"] = Json::from(offset);
        }
        let answer = tokio::select! {
            answer = tg.call("getUpdates", &body, POLL_TIMEOUT + Duration::from_secs(10)) => answer,
            _ = stop.changed() => return,
        };
        let updates = match answer {
            Ok(Json::Array(updates)) => updates,
            other => {
                let wait = match &other {
                    Err(CallError::Wait(wait)) => *wait,
                    _ => backoff.next(),
                };
                if let Err(e) = &other {
                    tracing::warn!(error = %e, "getUpdates failed; retrying");
                } else {
                    tracing::warn!("getUpdates answered something else than a list; retrying");
                }
                if !sleep_unless_stopped(wait, &mut stop).await {
                    return;
                }
                continue;
            }
        };
        let incoming: Vec<Incoming> = updates.iter().map(parse_update).collect();
        let last = incoming.iter().filter_map(Incoming::update_id).max();
        match handle_batch(&app, &tg, incoming).await {
            Some(failed) => {
                offset = Some(failed);
                if !sleep_unless_stopped(backoff.next(), &mut stop).await {
                    return;
                }
            }
            None => {
                backoff = Backoff(0);
                if let Some(last) = last {
                    offset = Some(last + 1);
                }
            }
        }
    }
}

/// Handles a batch of updates: each chat's in order on a task of its own. The first update
/// that could not be handled, if any.
async fn handle_batch(app: &Arc<App>, tg: &Arc<Telegram>, incoming: Vec<Incoming>) -> Option<i64> {
    let mut chats: indexmap::IndexMap<Option<i64>, Vec<Incoming>> = indexmap::IndexMap::new();
    for update in incoming {
        chats.entry(update.chat_id()).or_default().push(update);
    }
    let mut tasks = tokio::task::JoinSet::new();
    for (_, updates) in chats {
        let (app, tg) = (app.clone(), tg.clone());
        tasks.spawn(async move {
            for update in updates {
                let id = update.update_id();
                if let Err(e) = app.telegram_update(&tg, update).await {
                    tracing::warn!(update_id = id, error = ?e,
                        "a Telegram update will be handled again");
                    return id;
                }
            }
            None
        });
    }
    let mut failed: Option<i64> = None;
    while let Some(joined) = tasks.join_next().await {
        if let Ok(Some(id)) = joined {
            failed = Some(failed.map_or(id, |f| f.min(id)));
        }
    }
    failed
}

/// `POST /telegram/webhook`: an update from Telegram, with the `secret_token` in
/// `X-Telegram-Bot-Api-Secret-Token` (no API token: Telegram does not have it). Answered once
/// its turn is committed, so an update whose answer is lost is sent again, and skipped then.
pub(super) async fn webhook(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let Some(tg) = app.telegram.clone() else {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            "the Telegram webhook is not on (--telegram-webhook)",
        ));
    };
    let given = headers.get(SECRET_HEADER).and_then(|v| v.to_str().ok());
    if !given.is_some_and(|g| api::same_secret(g, &tg.secret)) {
        app.metrics.rejected("unauthorized");
        return Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "this endpoint takes updates from Telegram only (X-Telegram-Bot-Api-Secret-Token)",
        ));
    }
    let bytes = api::read_body(&app, body).await?;
    let update: Json = serde_json::from_slice(&bytes).map_err(|e| {
        ApiError::bad(
            "malformed_json",
            format!("the body is not a JSON update: {e}"),
        )
    })?;
    app.telegram_update(&tg, parse_update(&update)).await?;
    Ok(api::json(StatusCode::OK, "{\"ok\":true}".into()).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_texts_stay_whole_and_long_ones_split_at_line_breaks() {
        assert_eq!(split_text("hello", 10), vec!["hello"]);
        assert_eq!(split_text("", 10), Vec::<&str>::new());
        assert_eq!(
            split_text("aaaa\nbbbb\ncccc", 10),
            vec!["aaaa\nbbbb", "cccc"]
        );
        // A line longer than a piece is cut at the limit.
        assert_eq!(split_text("abcdefghijkl", 5), vec!["abcde", "fghij", "kl"]);
        // The break between two pieces is dropped; blank pieces are left out.
        assert_eq!(split_text("aaaa\n\n\n\nbbbb", 5), vec!["aaaa", "bbbb"]);
        let long = format!("{}\n{}", "x".repeat(3000), "y".repeat(2000));
        let pieces = split_text(&long, 4096);
        assert_eq!(pieces, vec!["x".repeat(3000), "y".repeat(2000)]);
    }

    #[test]
    fn splitting_counts_utf16_units_and_keeps_characters_whole() {
        // Each emoji is 2 UTF-16 units and 4 bytes.
        let text = "😀".repeat(5);
        let pieces = split_text(&text, 4);
        assert_eq!(pieces, vec!["😀😀", "😀😀", "😀"]);
        let mixed = "é".repeat(9);
        assert_eq!(split_text(&mixed, 4), vec!["éééé", "éééé", "é"]);
    }

    #[test]
    fn buttons_become_an_inline_keyboard_with_short_callback_data() {
        let long = "ü".repeat(40);
        let buttons = vec![
            json!({"kind": "text", "label": "S"}),
            json!({"kind": "goto", "label": "Cancel", "target": "c"}),
            json!({"kind": "link", "label": "Chart", "url": "https://example.com/c"}),
            json!({"kind": "text", "label": long}),
            json!({"kind": "text", "label": "  "}),
        ];
        let markup = keyboard(&buttons).expect("a keyboard");
        assert_eq!(
            markup,
            json!({"inline_keyboard": [
                [
                    {"text": "S", "callback_data": "b0"},
                    {"text": "Cancel", "callback_data": "b1"},
                    {"text": "Chart", "url": "https://example.com/c"},
                ],
                [{"text": long, "callback_data": "b3"}],
            ]})
        );
        assert_eq!(keyboard(&[]), None);
        let message = json!({"reply_markup": markup});
        assert_eq!(pressed_label(&message, "b3"), Some(long.clone()));
        assert_eq!(pressed_label(&message, "b1").as_deref(), Some("Cancel"));
        assert_eq!(pressed_label(&message, "b9"), None);
        assert_eq!(pressed_label(&json!({}), "b0"), None);
    }

    #[test]
    fn a_message_becomes_its_text_then_its_attachments_with_the_keyboard_last() {
        let events = vec![
            json!({"type": "input", "text": "hi"}),
            json!({"type": "message", "text": "Here", "buttons": [{"kind": "text", "label": "OK"}],
            "attachments": [
                {"kind": "image", "url": "https://e.com/a.png"},
                {"kind": "file", "url": "https://e.com/b.pdf", "name": "B.pdf"},
            ]}),
            json!({"type": "log", "text": "x"}),
            json!({"type": "error", "message": "boom"}),
            json!({"type": "message", "text": "", "buttons": [{"kind": "text", "label": "Go"}]}),
            json!({"type": "message", "text": "", "buttons": []}),
            json!({"type": "end"}),
        ];
        let calls = calls_for(7, &events);
        let methods: Vec<&str> = calls.iter().map(|c| c.method).collect();
        assert_eq!(
            methods,
            vec!["sendMessage", "sendPhoto", "sendDocument", "sendMessage"]
        );
        assert_eq!(calls[0].body, json!({"chat_id": 7, "text": "Here"}));
        assert_eq!(
            calls[1].body,
            json!({"chat_id": 7, "photo": "https://e.com/a.png"})
        );
        assert_eq!(
            calls[1].fallback,
            Some(json!({"chat_id": 7, "text": "https://e.com/a.png"}))
        );
        assert_eq!(calls[2].body["document"], "https://e.com/b.pdf");
        assert_eq!(calls[2].body["caption"], "B.pdf");
        assert_eq!(
            calls[2].body["reply_markup"],
            json!({"inline_keyboard": [[{"text": "OK", "callback_data": "b0"}]]})
        );
        assert_eq!(calls[3].body["text"], NO_TEXT);
        assert!(calls[3].body["reply_markup"].is_object());
    }

    #[test]
    fn updates_are_read_and_everything_else_ignored() {
        let text = json!({"update_id": 5, "message": {"message_id": 1, "date": 0,
            "chat": {"id": 42, "type": "private"}, "from": {"id": 42, "first_name": "Ann"},
            "text": "/start abc"}});
        assert_eq!(
            parse_update(&text),
            Incoming::Text {
                update_id: 5,
                chat_id: 42,
                first_name: Some("Ann".into()),
                text: "/start abc".into(),
                callback: None,
            }
        );
        let press = json!({"update_id": 6, "callback_query": {"id": "q1", "data": "b0",
            "chat_instance": "x", "from": {"id": 42, "first_name": "Ann"},
            "message": {"message_id": 2, "date": 0, "chat": {"id": 42, "type": "private"},
                "reply_markup": {"inline_keyboard": [[{"text": "Yes", "callback_data": "b0"}]]}}}});
        assert_eq!(
            parse_update(&press),
            Incoming::Text {
                update_id: 6,
                chat_id: 42,
                first_name: Some("Ann".into()),
                text: "Yes".into(),
                callback: Some("q1".into()),
            }
        );
        let sticker = json!({"update_id": 7, "message": {"chat": {"id": 42, "type": "private"},
            "sticker": {"file_id": "s"}}});
        assert!(matches!(
            parse_update(&sticker),
            Incoming::Ignored {
                update_id: Some(7),
                chat_id: Some(42),
                ..
            }
        ));
        let group = json!({"update_id": 8, "message": {"chat": {"id": -100, "type": "group"},
            "text": "hi"}});
        assert!(matches!(
            parse_update(&group),
            Incoming::Ignored {
                update_id: Some(8),
                ..
            }
        ));
        let edited = json!({"update_id": 9,
            "edited_message": {"chat": {"id": 42, "type": "private"},
            "text": "hi"}});
        assert!(matches!(
            parse_update(&edited),
            Incoming::Ignored {
                update_id: Some(9),
                ..
            }
        ));
        let stale = json!({"update_id": 10, "callback_query": {"id": "q2", "data": "b5",
            "message": {"chat": {"id": 42, "type": "private"}}}});
        assert!(matches!(parse_update(&stale),
            Incoming::Ignored { callback: Some(ref q), .. } if q == "q2"));
        for junk in [
            json!(null),
            json!([]),
            json!({"update_id": "x"}),
            json!({"update_id": 1, "message": 5}),
        ] {
            assert!(
                matches!(parse_update(&junk), Incoming::Ignored { .. }),
                "{junk}"
            );
        }
    }

    #[test]
    fn the_webhook_secret_is_stable_and_in_telegrams_charset() {
        let secret = webhook_secret("123:abc");
        assert_eq!(secret, webhook_secret("123:abc"));
        assert_ne!(secret, webhook_secret("123:abd"));
        assert_eq!(secret.len(), 64);
        assert!(secret
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-'));
        assert!(!secret.contains("123:abc"));
    }

    #[test]
    fn a_token_that_would_break_the_url_is_refused() {
        assert!(Telegram::new(DEFAULT_API, "123:abc-DEF_9", None).is_ok());
        for bad in ["", "123/abc", "12 3", "a?b", "a#b"] {
            let e = Telegram::new(DEFAULT_API, bad, None)
                .err()
                .expect("refused");
            assert!(!e.contains(bad) || bad.is_empty(), "{e}");
        }
        assert!(Telegram::new("ftp://x", "1:a", None).is_err());
        assert!(Telegram::new(DEFAULT_API, "1:a", Some("not a url")).is_err());
        let tg = Telegram::new(DEFAULT_API, "1:a", Some("https://bot.example.com/")).expect("ok");
        assert_eq!(
            tg.webhook.as_deref(),
            Some("https://bot.example.com/telegram/webhook")
        );
    }
}
