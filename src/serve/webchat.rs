//! The web chat of SERVER.md §4 (`--web-chat`): the page (`GET /chat`), the script that embeds
//! it in any site (`GET /widget.js`), and the page's own API under `/chat/api/`. The page holds
//! no API token: the server issues each browser a random key, and the user id is derived from
//! it, so a key reaches its own conversation and nothing else. Turns and the outbox stream are
//! the API's own ([`App::turn`], [`api::outbox`]); what this module adds is the key, and a view
//! of the events that keeps the operators' ones (`log`, `notify`, `http`, …) off the page.

use std::borrow::Cow;
use std::sync::{Arc, OnceLock};

use axum::body::Body;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use serde_json::{json, Map, Value as Json};

use super::api::{self, AfterQuery, ApiError};
use super::App;

/// The chat page: one HTML file with its CSS and script inline.
const PAGE: &str = include_str!("webchat/chat.html");
/// The embed script: a launcher button and a panel holding the page in an iframe.
const WIDGET: &str = include_str!("webchat/widget.js");

/// Bytes of randomness in a key.
const KEY_BYTES: usize = 32;
/// What a chat user id starts with.
const USER_PREFIX: &str = "web:";

/// The web chat's routes; none needs the API token, each chat request needs a key.
pub(super) fn routes() -> Router<Arc<App>> {
    Router::new()
        .route("/chat", get(page))
        .route("/widget.js", get(widget))
        .route("/chat/api/session", post(session))
        .route("/chat/api/messages", post(message))
        .route("/chat/api/events", get(events))
}

/// `GET /chat`. The Content-Security-Policy lets only the page's own inline script and style
/// run (by their digests), and the page talk to this server only: a bot's text that slipped
/// into the markup still could not run.
async fn page() -> Response {
    static CSP: OnceLock<String> = OnceLock::new();
    let csp = CSP.get_or_init(|| content_security_policy(PAGE));
    let mut response = (
        StatusCode::OK,
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-cache"),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            (header::REFERRER_POLICY, "no-referrer"),
        ],
        PAGE,
    )
        .into_response();
    if let Ok(value) = HeaderValue::from_str(csp) {
        response
            .headers_mut()
            .insert(header::CONTENT_SECURITY_POLICY, value);
    }
    response
}

/// The policy of [`page`]: scripts and styles by the digest of the page's one inline `<script>`
/// and one `<style>`, requests to this origin, images from anywhere (bots attach them by URL).
fn content_security_policy(page: &str) -> String {
    let digest = |open: &str, close: &str| {
        use sha2::Digest;
        let body = page
            .split_once(open)
            .and_then(|(_, rest)| rest.split_once(close))
            .map_or("", |(body, _)| body);
        let hash = sha2::Sha256::digest(body.as_bytes());
        format!("'sha256-{}'", base64(hash.as_slice(), STANDARD, true))
    };
    format!(
        "default-src 'none'; script-src {}; style-src {}; connect-src 'self'; \
         img-src http: https: data:; base-uri 'none'; form-action 'none'",
        digest("<script>", "</script>"),
        digest("<style>", "</style>")
    )
}

/// `GET /widget.js`: may be loaded by any site (that is what it is for).
async fn widget() -> Response {
    (
        StatusCode::OK,
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=300"),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            (
                header::HeaderName::from_static("cross-origin-resource-policy"),
                "cross-origin",
            ),
        ],
        WIDGET,
    )
        .into_response()
}

/// `POST /chat/api/session`: a new key, `{"key","user_id"}`. Nothing is stored: the key is
/// the user's identity, checked by deriving the user id from it again on every request.
async fn session() -> Result<Response, ApiError> {
    let mut key = [0u8; KEY_BYTES];
    random(&mut key).map_err(|e| {
        tracing::error!(error = %e, "no randomness for a chat key");
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "no_randomness",
            "the server cannot make a key right now; retry",
        )
    })?;
    let body = json!({ "key": base64(&key, URL_SAFE, false), "user_id": user_id(&key) });
    Ok(api::json(StatusCode::OK, body.to_string()))
}

/// Fills `bytes` from the operating system's random source.
fn random(bytes: &mut [u8]) -> std::io::Result<()> {
    use std::io::Read;
    std::fs::File::open("/dev/urandom")?.read_exact(bytes)
}

/// `web:` and the first 16 bytes of the key's SHA-256, in hex. The digest is one-way: knowing
/// a user id (from a log, say) gives no key that reaches it.
fn user_id(key: &[u8]) -> String {
    use sha2::Digest;
    let hash = sha2::Sha256::digest(key);
    format!("{USER_PREFIX}{}", super::hex(&hash[..16]))
}

/// The user of a chat request, from its `Authorization: Key KEY` header.
fn chat_user(app: &App, headers: &HeaderMap) -> Result<String, ApiError> {
    let key = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("key"))
        .and_then(|(_, k)| unbase64(k.trim()))
        .filter(|k| k.len() == KEY_BYTES);
    match key {
        Some(key) => Ok(user_id(&key)),
        None => {
            app.metrics.rejected("unauthorized");
            Err(ApiError::new(
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                "this request needs `Authorization: Key KEY` with a key from \
                 POST /chat/api/session",
            ))
        }
    }
}

/// An error answer; a `401` asks for a chat key, not for the API's bearer token.
fn refused(error: ApiError) -> Response {
    let mut response = error.into_response();
    if response.status() == StatusCode::UNAUTHORIZED {
        response
            .headers_mut()
            .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Key"));
    }
    response
}

/// `POST /chat/api/messages` `{"text","message_id","user_name"?}`: one turn of the key's
/// user, with the API's limits; `{"events":[…],"state"}` with the events the page shows.
async fn message(State(app): State<Arc<App>>, headers: HeaderMap, body: Body) -> Response {
    match chat_turn(&app, &headers, body).await {
        Ok(response) => response,
        Err(error) => refused(error),
    }
}

async fn chat_turn(app: &App, headers: &HeaderMap, body: Body) -> Result<Response, ApiError> {
    let user_id = chat_user(app, headers)?;
    let bytes = api::read_body(app, body).await?;
    let body = api::object(&bytes)?;
    if body.contains_key("user_id") {
        return Err(ApiError::bad(
            "invalid_field",
            "`user_id` is not taken here: the key says who the user is",
        ));
    }
    let text = api::text_field(app, &body)?;
    // Required: the page retries a send it got no answer to, and that must not be a new turn.
    let message_id = api::optional_id(&body, "message_id")?
        .ok_or_else(|| ApiError::bad("missing_field", "`message_id` is missing"))?;
    let user_name = api::optional_string(&body, "user_name")?;
    // A namespace of its own: the API's `m:` ids for the same user are counted apart.
    let id = Some(format!("c:{message_id}"));
    let reply = api::message_turn(app, user_id, text, id, user_name).await?;
    let mut answer: Map<String, Json> = serde_json::from_str(&reply.body).unwrap_or_default();
    let events = match answer.get("events") {
        Some(Json::Array(events)) => shown(events),
        _ => Vec::new(),
    };
    answer.insert("events".into(), Json::Array(events));
    Ok(api::json(StatusCode::OK, Json::Object(answer).to_string()))
}

/// `GET /chat/api/events?after=SEQ`: the key's user's outbox (timers, webhooks) as the page
/// shows it; with `Accept: text/event-stream` a live stream, as the API's.
async fn events(State(app): State<Arc<App>>, query: AfterQuery, headers: HeaderMap) -> Response {
    let user_id = match chat_user(&app, &headers) {
        Ok(user) => user,
        Err(error) => return refused(error),
    };
    match api::outbox(app, user_id, query, &headers, view).await {
        Ok(response) => response,
        Err(error) => refused(error),
    }
}

/// The events a chat user sees, of a JSON array of a turn's events: the messages (a
/// transition button without its block), and that an error happened (not where, nor why: that
/// is for the bot's author). Inputs, timers, webhooks, logs, notifications and HTTP calls are
/// the operators' business.
fn view(events: &str) -> Cow<'_, str> {
    match serde_json::from_str::<Vec<Json>>(events) {
        Ok(events) => Cow::Owned(Json::Array(shown(&events)).to_string()),
        Err(_) => Cow::Borrowed("[]"),
    }
}

/// [`view`] of events already parsed.
fn shown(events: &[Json]) -> Vec<Json> {
    events
        .iter()
        .filter_map(|event| match event["type"].as_str() {
            Some("message") => {
                let buttons: Vec<Json> = event["buttons"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|b| match b["kind"].as_str() {
                        Some("link") => {
                            json!({"kind": "link", "label": b["label"], "url": b["url"]})
                        }
                        kind => json!({"kind": kind.unwrap_or("text"), "label": b["label"]}),
                    })
                    .collect();
                let mut message =
                    json!({"type": "message", "text": event["text"], "buttons": buttons});
                if let Some(attachments) = event.get("attachments") {
                    message["attachments"] = attachments.clone();
                }
                Some(message)
            }
            Some("error") => Some(json!({"type": "error"})),
            _ => None,
        })
        .collect()
}

/// An alphabet of base64 (RFC 4648).
type Alphabet = &'static base64::alphabet::Alphabet;
const STANDARD: Alphabet = &base64::alphabet::STANDARD;
const URL_SAFE: Alphabet = &base64::alphabet::URL_SAFE;

/// `bytes` in base64, with `=` padding or without.
fn base64(bytes: &[u8], alphabet: Alphabet, pad: bool) -> String {
    use base64::engine::{general_purpose, Engine, GeneralPurpose};
    let config = if pad {
        general_purpose::PAD
    } else {
        general_purpose::NO_PAD
    };
    GeneralPurpose::new(alphabet, config).encode(bytes)
}

/// Unpadded base64url, strictly: `None` for any other character, a dangling digit, or
/// leftover bits that are not zero (so each key has exactly one spelling).
fn unbase64(text: &str) -> Option<Vec<u8>> {
    use base64::engine::{general_purpose::URL_SAFE_NO_PAD, Engine};
    URL_SAFE_NO_PAD.decode(text).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_follows_rfc_4648() {
        let cases = [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ];
        for (plain, encoded) in cases {
            assert_eq!(base64(plain.as_bytes(), STANDARD, true), encoded);
            let unpadded = encoded.trim_end_matches('=');
            assert_eq!(base64(plain.as_bytes(), URL_SAFE, false), unpadded);
            assert_eq!(unbase64(unpadded).as_deref(), Some(plain.as_bytes()));
        }
        assert_eq!(base64(&[0xfb, 0xff], URL_SAFE, false), "-_8");
        assert_eq!(base64(&[0xfb, 0xff], STANDARD, true), "+/8=");
    }

    #[test]
    fn unbase64_takes_one_spelling_only() {
        assert_eq!(unbase64("-_8"), Some(vec![0xfb, 0xff]));
        assert_eq!(unbase64("Zg"), Some(b"f".to_vec()));
        // "Zh" leaves a set bit over: another spelling of "Zg".
        for bad in ["Zh", "Zg==", "Zm9v+", "Z", "Zm9vY", "a b", "é"] {
            assert_eq!(unbase64(bad), None, "{bad}");
        }
    }

    #[test]
    fn a_key_gives_a_user_id_of_its_digest() {
        let id = user_id(&[0u8; KEY_BYTES]);
        // SHA-256 of 32 zero bytes starts 66687aadf862bd77 6c8fc18b8e9f8e20.
        assert_eq!(id, "web:66687aadf862bd776c8fc18b8e9f8e20");
        assert_ne!(user_id(&[1u8; KEY_BYTES]), id);
    }

    #[test]
    fn the_view_keeps_messages_and_hides_the_operators_events() {
        let events = r#"[{"type":"timer","name":null,"block":"b","kind":"schedule"},
            {"type":"log","text":"secret trace"},{"type":"notify","text":"ops"},
            {"type":"http","method":"GET","url":"https://internal/x","status":200,"duration_ms":1},
            {"type":"message","text":"<b>hi</b>","buttons":[{"kind":"text","label":"A"},
              {"kind":"goto","label":"B","target":"inner_block"},
              {"kind":"link","label":"C","url":"https://example.com/"}],
             "attachments":[{"kind":"image","url":"https://example.com/p.png"}]},
            {"type":"error","message":"division by zero","file":"bot.scn","line":3,"column":1},
            {"type":"end"}]"#;
        let shown: Json = serde_json::from_str(&view(events)).expect("JSON");
        assert_eq!(
            shown,
            json!([
                {"type":"message","text":"<b>hi</b>","buttons":[{"kind":"text","label":"A"},
                  {"kind":"goto","label":"B"},
                  {"kind":"link","label":"C","url":"https://example.com/"}],
                 "attachments":[{"kind":"image","url":"https://example.com/p.png"}]},
                {"type":"error"}
            ])
        );
        assert_eq!(view("not json"), "[]");
    }

    #[test]
    fn the_page_has_one_inline_script_and_style_and_no_external_asset() {
        assert_eq!(PAGE.matches("<script").count(), 1);
        assert_eq!(PAGE.matches("<style").count(), 1);
        for external in ["src=\"http", "href=\"http", "@import", "url(http"] {
            assert!(!PAGE.contains(external), "{external}");
        }
        let csp = content_security_policy(PAGE);
        assert!(
            !csp.contains("'sha256-47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU='"),
            "{csp}"
        );
        assert!(
            csp.starts_with("default-src 'none'; script-src 'sha256-"),
            "{csp}"
        );
    }
}
