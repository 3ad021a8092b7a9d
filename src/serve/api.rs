//! The HTTP API of SERVER.md §2 (axum): JSON in, JSON out, every error as
//! `{"error":{"code","message"}}` with a fitting status.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{Path, Query, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use serde_json::{Map, Value as Json};

use super::{App, TurnError, TurnRequest, MAX_BODY_BYTES, MAX_TEXT_CHARS};
use crate::eval::Input;
use crate::value::Value;

/// How long a client may take to send its request body.
const BODY_TIMEOUT: Duration = Duration::from_secs(10);
/// The longest `user_id`, `message_id`, `user_name` or `event_id`, in characters.
const MAX_ID_CHARS: usize = 256;

/// An error answer.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
    retry_after: Option<u64>,
    extra: Option<Box<(&'static str, Json)>>,
}

impl ApiError {
    pub(super) fn new(
        status: StatusCode,
        code: &'static str,
        message: impl Into<String>,
    ) -> ApiError {
        ApiError {
            status,
            code,
            message: message.into(),
            retry_after: None,
            extra: None,
        }
    }

    pub(super) fn bad(code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, code, message)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut error = Map::new();
        error.insert("code".into(), Json::String(self.code.into()));
        error.insert("message".into(), Json::String(self.message));
        if let Some((key, value)) = self.extra.map(|e| *e) {
            error.insert(key.into(), value);
        }
        let body = serde_json::json!({ "error": error }).to_string();
        let mut response = (self.status, json_headers(), body).into_response();
        if let Some(secs) = self.retry_after {
            if let Ok(v) = HeaderValue::from_str(&secs.to_string()) {
                response.headers_mut().insert(header::RETRY_AFTER, v);
            }
        }
        if self.status == StatusCode::UNAUTHORIZED {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}

impl From<TurnError> for ApiError {
    fn from(e: TurnError) -> ApiError {
        match e {
            TurnError::Store(e) => {
                let mut error = ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "store_unavailable",
                    format!("{e}; retry with the same message_id"),
                );
                error.retry_after = Some(1);
                error
            }
            TurnError::TooFast(secs) => {
                let mut error = ApiError::new(
                    StatusCode::TOO_MANY_REQUESTS,
                    "too_many_requests",
                    "this user sends messages faster than the server takes them; retry later",
                );
                error.retry_after = Some(secs);
                error
            }
            TurnError::Busy => {
                let mut error = ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "busy",
                    "another instance has held this user's turn too long; retry with the same \
                     message_id",
                );
                error.retry_after = Some(1);
                error
            }
            TurnError::Corrupt(message) => {
                ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "corrupt_state", message)
            }
        }
    }
}

fn json_headers() -> [(header::HeaderName, HeaderValue); 1] {
    [(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    )]
}

pub(super) fn json(status: StatusCode, body: String) -> Response {
    (status, json_headers(), body).into_response()
}

/// The whole API: the routes of SERVER.md §2, the token checked on all but the health checks.
pub fn router(app: Arc<App>) -> Router {
    let guarded = Router::new()
        .route("/v1/messages", post(messages))
        .route("/v1/webhooks/{name}", post(webhook))
        .route(
            "/v1/sessions/{user_id}",
            get(get_session).delete(delete_session),
        )
        .route("/v1/users/{user_id}/events", get(events))
        .route("/v1/globals", get(globals))
        .route("/v1/reload", post(reload))
        .route("/metrics", get(metrics))
        .route_layer(middleware::from_fn_with_state(app.clone(), auth));
    let mut open = Router::new();
    if app.web_chat {
        // The chat authorises its requests with a per-browser key of its own, not the token.
        open = super::webchat::routes();
    }
    if app.telegram.as_ref().is_some_and(|t| t.webhook_mode()) {
        // Telegram proves itself with the webhook's secret_token, not the API token.
        open = open.route(
            super::telegram::WEBHOOK_PATH,
            post(super::telegram::webhook),
        );
    }
    Router::new()
        .merge(guarded)
        .merge(open)
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(app)
}

/// `Authorization: Bearer TOKEN`, compared in constant time.
async fn auth(State(app): State<Arc<App>>, request: Request, next: Next) -> Response {
    if let Some(token) = &app.token {
        let given = request
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "));
        if !given.is_some_and(|g| same_secret(g, token)) {
            app.metrics.rejected("unauthorized");
            return ApiError::new(
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                "this request needs `Authorization: Bearer TOKEN` with the server's token",
            )
            .into_response();
        }
    }
    next.run(request).await
}

/// Compares two secrets in constant time (their digests, so the length does not show either).
pub(super) fn same_secret(given: &str, token: &str) -> bool {
    use sha2::Digest;
    use subtle::ConstantTimeEq;
    let a = sha2::Sha256::digest(given.as_bytes());
    let b = sha2::Sha256::digest(token.as_bytes());
    a.as_slice().ct_eq(b.as_slice()).into()
}

async fn not_found() -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "not_found",
        "no such endpoint; see docs/SERVER.md for the API",
    )
}

async fn method_not_allowed() -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "this endpoint does not take this method",
    )
}

/// Reads the body within [`MAX_BODY_BYTES`] and [`BODY_TIMEOUT`].
pub(super) async fn read_body(app: &App, body: Body) -> Result<Bytes, ApiError> {
    match tokio::time::timeout(BODY_TIMEOUT, axum::body::to_bytes(body, MAX_BODY_BYTES)).await {
        Ok(Ok(bytes)) => Ok(bytes),
        Ok(Err(e)) => {
            let too_large = std::error::Error::source(&e)
                .is_some_and(|s| s.is::<http_body_util::LengthLimitError>())
                || e.to_string().contains("length limit");
            if too_large {
                app.metrics.rejected("too_large");
                Err(ApiError::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "body_too_large",
                    format!("the body is over {} KiB", MAX_BODY_BYTES >> 10),
                ))
            } else {
                Err(ApiError::bad(
                    "bad_body",
                    format!("the body could not be read: {e}"),
                ))
            }
        }
        Err(_) => {
            app.metrics.rejected("timeout");
            Err(ApiError::new(
                StatusCode::REQUEST_TIMEOUT,
                "body_timeout",
                format!(
                    "the body did not arrive within {} s",
                    BODY_TIMEOUT.as_secs()
                ),
            ))
        }
    }
}

/// The body as a JSON object.
pub(super) fn object(bytes: &[u8]) -> Result<Map<String, Json>, ApiError> {
    match serde_json::from_slice::<Json>(bytes) {
        Ok(Json::Object(map)) => Ok(map),
        Ok(_) => Err(ApiError::bad(
            "malformed_body",
            "the body must be a JSON object",
        )),
        Err(e) => Err(ApiError::bad(
            "malformed_json",
            format!(
                "the body is not valid JSON: {} (line {}, column {})",
                crate::testing::format::json_reason(&e),
                e.line(),
                e.column()
            ),
        )),
    }
}

/// A required string field, not empty, at most [`MAX_ID_CHARS`] long.
fn id_field(body: &Map<String, Json>, field: &str) -> Result<String, ApiError> {
    match body.get(field) {
        None | Some(Json::Null) => Err(ApiError::bad(
            "missing_field",
            format!("`{field}` is missing"),
        )),
        Some(Json::String(s)) => check_id(field, s.clone()),
        Some(_) => Err(ApiError::bad(
            "invalid_field",
            format!("`{field}` must be a string"),
        )),
    }
}

fn check_id(field: &str, s: String) -> Result<String, ApiError> {
    if s.is_empty() {
        return Err(ApiError::bad(
            "invalid_field",
            format!("`{field}` must not be empty"),
        ));
    }
    if s.chars().any(char::is_control) {
        return Err(ApiError::bad(
            "invalid_field",
            format!("`{field}` must not contain control characters"),
        ));
    }
    if s.chars().count() > MAX_ID_CHARS {
        return Err(ApiError::bad(
            "invalid_field",
            format!("`{field}` is longer than {MAX_ID_CHARS} characters"),
        ));
    }
    Ok(s)
}

/// An optional id: a string or an integer (Telegram's update ids are numbers).
pub(super) fn optional_id(
    body: &Map<String, Json>,
    field: &str,
) -> Result<Option<String>, ApiError> {
    match body.get(field) {
        None | Some(Json::Null) => Ok(None),
        Some(Json::String(s)) => check_id(field, s.clone()).map(Some),
        Some(Json::Number(n)) if n.is_i64() || n.is_u64() => Ok(Some(n.to_string())),
        Some(_) => Err(ApiError::bad(
            "invalid_field",
            format!("`{field}` must be a string or an integer"),
        )),
    }
}

pub(super) fn optional_string(
    body: &Map<String, Json>,
    field: &str,
) -> Result<Option<String>, ApiError> {
    match body.get(field) {
        None | Some(Json::Null) => Ok(None),
        Some(Json::String(s)) if s.chars().count() <= MAX_ID_CHARS => Ok(Some(s.clone())),
        Some(Json::String(_)) => Err(ApiError::bad(
            "invalid_field",
            format!("`{field}` is longer than {MAX_ID_CHARS} characters"),
        )),
        Some(_) => Err(ApiError::bad(
            "invalid_field",
            format!("`{field}` must be a string"),
        )),
    }
}

/// The required `text`: a string of at most [`MAX_TEXT_CHARS`] characters.
pub(super) fn text_field(app: &App, body: &Map<String, Json>) -> Result<String, ApiError> {
    let text = match body.get("text") {
        None | Some(Json::Null) => return Err(ApiError::bad("missing_field", "`text` is missing")),
        Some(Json::String(s)) => s.clone(),
        Some(_) => return Err(ApiError::bad("invalid_field", "`text` must be a string")),
    };
    let chars = text.chars().count();
    if chars > MAX_TEXT_CHARS {
        app.metrics.rejected("text_too_long");
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "text_too_long",
            format!("`text` has {chars} characters; at most {MAX_TEXT_CHARS} are taken"),
        ));
    }
    Ok(text)
}

/// `POST /v1/messages`: one turn.
async fn messages(State(app): State<Arc<App>>, body: Body) -> Result<Response, ApiError> {
    let bytes = read_body(&app, body).await?;
    let body = object(&bytes)?;
    let user_id = id_field(&body, "user_id")?;
    let text = text_field(&app, &body)?;
    let message_id = optional_id(&body, "message_id")?;
    let user_name = optional_string(&body, "user_name")?;
    let id = message_id.map(|id| format!("m:{id}"));
    let reply = message_turn(&app, user_id, text, id, user_name).await?;
    Ok(json(StatusCode::OK, reply.body))
}

/// A user's message as a turn, within the user's rate; `id` is the namespaced message id.
pub(super) async fn message_turn(
    app: &App,
    user_id: String,
    text: String,
    id: Option<String>,
    user_name: Option<String>,
) -> Result<super::TurnReply, ApiError> {
    if let Err(e) = app.check_rate(&user_id) {
        app.metrics.rejected("rate");
        return Err(e.into());
    }
    Ok(app
        .turn(TurnRequest {
            user_id,
            user_name,
            input: Input::Message(text),
            id,
            to_outbox: false,
        })
        .await?)
}

/// `POST /v1/webhooks/{name}`: fires `on webhook "name"` for a user.
async fn webhook(
    State(app): State<Arc<App>>,
    Path(name): Path<String>,
    body: Body,
) -> Result<Response, ApiError> {
    let bytes = read_body(&app, body).await?;
    if !app.bot().webhooks.contains(&name) {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "unknown_webhook",
            format!("the bot has no `on webhook {name:?}`"),
        ));
    }
    let body = object(&bytes)?;
    let user_id = id_field(&body, "user_id")?;
    let event_id = optional_id(&body, "event_id")?;
    let payload = body
        .get("payload")
        .map(Value::from_json)
        .unwrap_or(Value::Null);
    let reply = app
        .turn(TurnRequest {
            user_id,
            user_name: None,
            input: Input::Webhook {
                name: name.clone(),
                payload,
            },
            // Namespaced by the webhook: two webhooks may number their events alike.
            id: event_id.map(|id| format!("w:{name}:{id}")),
            to_outbox: true,
        })
        .await?;
    Ok(json(StatusCode::OK, reply.body))
}

fn no_session(user_id: &str) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "no_session",
        format!("there is no session of user {user_id:?}"),
    )
}

/// `GET /v1/sessions/{user_id}`: as stored (secrets were redacted before it was).
async fn get_session(
    State(app): State<Arc<App>>,
    Path(user_id): Path<String>,
) -> Result<Response, ApiError> {
    match app.store.load(&user_id).await {
        Ok(Some(session)) => Ok(json(StatusCode::OK, session)),
        Ok(None) => Err(no_session(&user_id)),
        Err(e) => Err(TurnError::Store(e).into()),
    }
}

/// `DELETE /v1/sessions/{user_id}`: session, timers, processed ids, outbox.
async fn delete_session(
    State(app): State<Arc<App>>,
    Path(user_id): Path<String>,
) -> Result<Response, ApiError> {
    let _turn = app.users.lock(&user_id).await;
    let _claim = app.claim(&user_id).await?;
    match app.store.delete_user(&user_id).await {
        Ok(true) => Ok(json(StatusCode::OK, "{\"deleted\":true}".into())),
        Ok(false) => Err(no_session(&user_id)),
        Err(e) => Err(TurnError::Store(e).into()),
    }
}

/// `GET /v1/globals`.
async fn globals(State(app): State<Arc<App>>) -> Result<Response, ApiError> {
    let saved = app
        .store
        .globals()
        .await
        .map_err(|e| ApiError::from(TurnError::Store(e)))?;
    let vars = match saved {
        Some(json) => {
            serde_json::from_str::<crate::eval::Globals>(&json)
                .map_err(|e| ApiError::from(TurnError::Corrupt(e.to_string())))?
                .vars
        }
        None => app.bot().runtime.new_globals().vars,
    };
    Ok(json(
        StatusCode::OK,
        serde_json::to_string(&vars).unwrap_or_default(),
    ))
}

/// `POST /v1/reload`.
async fn reload(State(app): State<Arc<App>>) -> Result<Response, ApiError> {
    let result = tokio::task::spawn_blocking({
        let app = app.clone();
        move || app.reload()
    })
    .await
    .map_err(|e| {
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "reload_failed",
            e.to_string(),
        )
    })?;
    match result {
        Ok(warnings) => {
            tracing::info!(warnings = warnings.len(), "reloaded the bot");
            Ok(json(
                StatusCode::OK,
                serde_json::json!({ "reloaded": true, "warnings": warnings }).to_string(),
            ))
        }
        Err(errors) => {
            tracing::error!(diagnostics = ?errors, "the new bot has errors; the running one stays");
            let mut error = ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "bot_has_errors",
                "the bot has errors; the running bot stays",
            );
            error.extra = Some(Box::new(("diagnostics", serde_json::json!(errors))));
            Err(error)
        }
    }
}

#[derive(serde::Deserialize)]
pub(super) struct After {
    after: Option<i64>,
}

/// `?after=SEQ`, or why not.
pub(super) type AfterQuery = Result<Query<After>, axum::extract::rejection::QueryRejection>;

/// What a reader of the outbox is shown of an entry's events (a JSON array): the API shows
/// them all, the web chat only what its user may see.
pub(super) type View = fn(&str) -> std::borrow::Cow<'_, str>;

/// `GET /v1/users/{user_id}/events?after=SEQ`: the outbox, or with `Accept: text/event-stream`
/// a stream of it (from `after`, or the `Last-Event-ID` a reconnecting client sends).
async fn events(
    State(app): State<Arc<App>>,
    Path(user_id): Path<String>,
    query: AfterQuery,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    outbox(app, user_id, query, &headers, all_events).await
}

/// The API's view of an outbox entry: every event.
fn all_events(events: &str) -> std::borrow::Cow<'_, str> {
    std::borrow::Cow::Borrowed(events)
}

/// A user's outbox after `?after=` (or `Last-Event-ID`): a list, or with
/// `Accept: text/event-stream` a live stream; each entry's events as `view` shows them.
pub(super) async fn outbox(
    app: Arc<App>,
    user_id: String,
    query: AfterQuery,
    headers: &HeaderMap,
    view: View,
) -> Result<Response, ApiError> {
    let Query(After { after }) =
        query.map_err(|_| ApiError::bad("invalid_field", "`after` must be an integer"))?;
    let streaming = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("text/event-stream"));
    let last_event = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<i64>().ok());
    let after = last_event.or(after).unwrap_or(0);
    if !streaming {
        let entries = app
            .store
            .outbox_after(&user_id, after, 1000)
            .await
            .map_err(|e| ApiError::from(TurnError::Store(e)))?;
        let list: Vec<String> = entries
            .iter()
            .map(|e| format!("{{\"seq\":{},\"events\":{}}}", e.seq, view(&e.events)))
            .collect();
        return Ok(json(
            StatusCode::OK,
            format!("{{\"entries\":[{}]}}", list.join(",")),
        ));
    }
    // Subscribed before the first read: nothing committed in between is missed.
    let changes = app.outbox.subscribe();
    let stop = app.stopping.subscribe();
    let state = Stream {
        app: app.clone(),
        user_id,
        last: after,
        changes,
        stop,
        queue: VecDeque::new(),
        view,
    };
    let stream = futures_util::stream::unfold(state, next_event);
    Ok(Sse::new(stream)
        .keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
        .into_response())
}

struct Stream {
    app: Arc<App>,
    user_id: String,
    last: i64,
    changes: tokio::sync::broadcast::Receiver<(String, i64)>,
    stop: tokio::sync::watch::Receiver<bool>,
    queue: VecDeque<super::store::OutboxEntry>,
    view: View,
}

async fn next_event(mut s: Stream) -> Option<(Result<SseEvent, Infallible>, Stream)> {
    loop {
        if let Some(entry) = s.queue.pop_front() {
            s.last = entry.seq;
            let events = (s.view)(&entry.events);
            let data = format!("{{\"seq\":{},\"events\":{events}}}", entry.seq);
            let event = SseEvent::default()
                .id(entry.seq.to_string())
                .event("events")
                .data(data);
            return Some((Ok(event), s));
        }
        if *s.stop.borrow() {
            return None;
        }
        if let Ok(entries) = s.app.store.outbox_after(&s.user_id, s.last, 100).await {
            if !entries.is_empty() {
                s.queue.extend(entries);
                continue;
            }
        }
        // Wait for a commit to this user's outbox (or look again after a missed one).
        loop {
            tokio::select! {
                change = s.changes.recv() => match change {
                    Ok((user, _)) if user == s.user_id => break,
                    Ok(_) => continue,
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => break,
                    Err(tokio::sync::broadcast::error::RecvError::Closed) => return None,
                },
                _ = s.stop.changed() => return None,
                _ = tokio::time::sleep(Duration::from_secs(1)) => break,
            }
        }
    }
}

async fn metrics(State(app): State<Arc<App>>) -> Response {
    let stats = app.store.stats().await.ok();
    (
        StatusCode::OK,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; version=0.0.4"),
        )],
        app.metrics.render(stats.as_ref()),
    )
        .into_response()
}

async fn healthz() -> Response {
    json(StatusCode::OK, "{\"ok\":true}".into())
}

async fn readyz(State(app): State<Arc<App>>) -> Response {
    match app.store.ping().await {
        Ok(()) => json(StatusCode::OK, "{\"ready\":true}".into()),
        Err(e) => {
            let mut error = ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "store_unavailable",
                e.to_string(),
            );
            error.retry_after = Some(1);
            error.into_response()
        }
    }
}
