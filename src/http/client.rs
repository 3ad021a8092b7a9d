//! The real transport: reqwest (rustls, no system OpenSSL) on tokio. One [`Client`] per
//! conversation run, so keep-alive connections are reused between the bot's requests.
//!
//! Redirects are followed here, not by reqwest, so that each `http` statement's own
//! `redirects N` applies and the host policy is checked on every hop before anything is sent
//! to it. Names are resolved by [`PolicyResolver`], which drops refused addresses; IP literals
//! are checked by `Policy::check_url`. The whole exchange, redirects and body included, runs
//! under the statement's `timeout`; the body is read chunk by chunk and abandoned as soon as it
//! passes the size cap.

use std::error::Error as _;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use reqwest::dns::{Addrs, Name, Resolve, Resolving};

use super::{Failure, Policy, Request, Response, Sent, Transport, USER_AGENT};

/// Limits the operator sets for every request.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// `--max-response-bytes`: a larger body is a transport failure.
    pub max_response_bytes: u64,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_response_bytes: super::DEFAULT_MAX_RESPONSE_BYTES,
        }
    }
}

/// The HTTP client of one conversation run. The reqwest client (TLS set up with the system's
/// certificates) is made at the first request, so a bot that calls nothing pays nothing.
#[derive(Clone, Debug)]
pub struct Client {
    inner: Arc<std::sync::OnceLock<Result<reqwest::Client, String>>>,
    policy: Arc<Policy>,
    limits: Limits,
}

/// A refusal or resolution failure raised inside reqwest's connector; found again in the
/// error's source chain to describe the failure in the resolver's own words.
#[derive(Debug)]
struct Refusal(String);

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Refusal {}

/// Most headers a response may have.
const MAX_RESPONSE_HEADERS: usize = 1000;

/// How the resolver's failures begin (see `describe`).
const UNRESOLVED: &str = "cannot resolve ";
const REFUSED: &str = super::policy::REFUSED;

/// Resolves names with the system resolver, then keeps only the addresses the policy allows.
struct PolicyResolver {
    policy: Arc<Policy>,
}

impl Resolve for PolicyResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let policy = Arc::clone(&self.policy);
        let host = name.as_str().to_string();
        Box::pin(async move {
            let found: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0))
                .await
                .map_err(|e| Box::new(Refusal(format!("{UNRESOLVED}{host}: {e}"))))?
                .collect();
            let kept = policy
                .check_resolved(&host, found)
                .map_err(|m| Box::new(Refusal(m)))?;
            Ok(Box::new(kept.into_iter()) as Addrs)
        })
    }
}

impl Client {
    pub fn new(policy: Policy, limits: Limits) -> Client {
        Client {
            inner: Arc::default(),
            policy: Arc::new(policy),
            limits,
        }
    }

    fn inner(&self) -> Result<&reqwest::Client, Failure> {
        let made = self.inner.get_or_init(|| {
            reqwest::Client::builder()
                .user_agent(USER_AGENT)
                // The operator's policy decides where requests go; an environment proxy
                // must not.
                .no_proxy()
                .redirect(reqwest::redirect::Policy::none())
                // hyper's default of 100 is below what real APIs and CDNs send.
                .http1_max_headers(MAX_RESPONSE_HEADERS)
                // Header names go out as `X-Api-Key`, not `x-api-key`: what the scenario
                // writes, for the usual spelling (HTTP/2 requires lowercase).
                .http1_title_case_headers()
                .dns_resolver(Arc::new(PolicyResolver {
                    policy: Arc::clone(&self.policy),
                }))
                .build()
                .map_err(|e| format!("cannot start the HTTP client: {}", describe(&e)))
        });
        made.as_ref().map_err(|e| Failure(e.clone()))
    }

    async fn exchange(&self, request: &Request) -> Result<Response, Failure> {
        match tokio::time::timeout(request.timeout, self.follow(request)).await {
            Ok(result) => result,
            Err(_) => Err(Failure(format!(
                "timed out after {}",
                duration_text(request.timeout)
            ))),
        }
    }

    /// Sends the request and follows up to `request.redirects` redirects.
    async fn follow(&self, request: &Request) -> Result<Response, Failure> {
        let mut url = reqwest::Url::parse(&request.url)
            .map_err(|e| Failure(format!("`{}` is not a valid URL ({e})", request.url)))?;
        let mut method = reqwest::Method::from_bytes(request.method.as_bytes())
            .map_err(|_| Failure(format!("`{}` is not an HTTP method", request.method)))?;
        let mut headers = request.headers.clone();
        let mut body = request.body.clone();
        let mut hops = 0;
        loop {
            self.policy.check_url(&url).map_err(Failure)?;
            let mut builder = self.inner()?.request(method.clone(), url.clone());
            for (name, value) in &headers {
                builder = builder.header(name.as_str(), value.as_str());
            }
            if let Some(bytes) = &body {
                builder = builder.body(bytes.clone());
            }
            let response = builder.send().await.map_err(|e| Failure(describe(&e)))?;
            let status = response.status().as_u16();
            let location = response
                .headers()
                .get(reqwest::header::LOCATION)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string);
            let redirect = matches!(status, 301 | 302 | 303 | 307 | 308);
            let (true, Some(location), true) = (redirect, location, request.redirects > 0) else {
                return self.read(method, response).await;
            };
            if hops == request.redirects {
                return Err(Failure(format!(
                    "more than {} redirect{} (the last to {location})",
                    request.redirects,
                    if request.redirects == 1 { "" } else { "s" }
                )));
            }
            hops += 1;
            let next = url
                .join(&location)
                .map_err(|e| Failure(format!("bad redirect to `{location}` ({e})")))?;
            if !matches!(next.scheme(), "http" | "https") {
                return Err(Failure(format!(
                    "redirect to `{next}`: only http and https URLs can be called"
                )));
            }
            // What browsers do: 303 always, and 301/302 after a POST, continue as a GET
            // without the body; 307 and 308 repeat the request as it was.
            if status == 303 || (matches!(status, 301 | 302) && method == reqwest::Method::POST) {
                if method != reqwest::Method::HEAD {
                    method = reqwest::Method::GET;
                }
                body = None;
                headers.retain(|(n, _)| {
                    !n.eq_ignore_ascii_case("content-type")
                        && !n.eq_ignore_ascii_case("content-length")
                });
            }
            // No header the scenario set goes to another origin (credentials often travel in
            // custom headers), and its body is not resent there.
            if next.origin() != url.origin() {
                if body.is_some() {
                    return Err(Failure(format!(
                        "redirect to another origin ({}) would resend the request body; \
                         not followed",
                        next.origin().ascii_serialization()
                    )));
                }
                headers.clear();
            }
            url = next;
        }
    }

    /// Reads the body chunk by chunk, failing as soon as it passes the size cap.
    async fn read(
        &self,
        method: reqwest::Method,
        mut response: reqwest::Response,
    ) -> Result<Response, Failure> {
        let cap = self.limits.max_response_bytes;
        let too_large = || Failure(super::too_large(cap));
        if response.content_length().is_some_and(|n| n > cap) {
            return Err(too_large());
        }
        let status = response.status().as_u16();
        let headers = response
            .headers()
            .iter()
            .map(|(n, v)| (n.as_str().to_string(), v.as_bytes().to_vec()))
            .collect();
        let mut body = Vec::new();
        if method != reqwest::Method::HEAD {
            while let Some(chunk) = response.chunk().await.map_err(|e| Failure(describe(&e)))? {
                if (body.len() + chunk.len()) as u64 > cap {
                    return Err(too_large());
                }
                body.extend_from_slice(&chunk);
            }
        }
        Ok(Response {
            status,
            headers,
            body,
        })
    }
}

impl Transport for Client {
    fn send<'a>(&'a self, request: &'a Request) -> Sent<'a> {
        Box::pin(self.exchange(request))
    }
}

/// `5s`, `1500ms`.
fn duration_text(d: Duration) -> String {
    if d.subsec_millis() == 0 {
        format!("{}s", d.as_secs())
    } else {
        format!("{}ms", d.as_millis())
    }
}

/// One line saying why a request failed, from the most telling error in the source chain.
fn describe(error: &reqwest::Error) -> String {
    let mut source: Option<&(dyn std::error::Error + 'static)> = error.source();
    let mut innermost = None;
    while let Some(e) = source {
        if let Some(r) = e.downcast_ref::<Refusal>() {
            return r.0.clone();
        }
        if let Some(tls) = e.downcast_ref::<rustls::Error>() {
            return format!("TLS handshake failed: {tls}");
        }
        if let Some(io) = e.downcast_ref::<std::io::Error>() {
            if let Some(tls) = tls_inside(io) {
                return format!("TLS handshake failed: {tls}");
            }
            let what = match io.kind() {
                std::io::ErrorKind::ConnectionRefused => Some("connection refused"),
                std::io::ErrorKind::ConnectionReset => Some("connection reset by the server"),
                std::io::ErrorKind::ConnectionAborted => Some("connection aborted"),
                std::io::ErrorKind::TimedOut => Some("connection timed out"),
                std::io::ErrorKind::UnexpectedEof => Some("the server closed the connection"),
                _ => None,
            };
            if let Some(what) = what {
                return match error
                    .url()
                    .and_then(|u| Some((u.host_str()?, u.port_or_known_default()?)))
                {
                    Some((host, port)) => format!("{what} ({host}:{port})"),
                    None => what.to_string(),
                };
            }
        }
        innermost = Some(e);
        source = e.source();
    }
    let detail = innermost.map_or_else(|| error.to_string(), |e| e.to_string());
    // The resolver's own words (they reach us re-boxed by hyper, so `downcast_ref` misses them).
    if detail.starts_with(REFUSED) || detail.starts_with(UNRESOLVED) {
        return detail;
    }
    if detail.contains("message head is too large") {
        return format!(
            "the response's headers are too large (more than {MAX_RESPONSE_HEADERS} headers, \
             or too many bytes)"
        );
    }
    let what = if error.is_connect() && detail.to_ascii_lowercase().contains("tls") {
        "TLS handshake failed"
    } else if error.is_connect() {
        "cannot connect"
    } else if error.is_body() || error.is_decode() {
        "cannot read the response"
    } else if error.is_builder() {
        "cannot build the request"
    } else {
        "request failed"
    };
    format!("{what}: {}", one_line(&detail))
}

/// A TLS error wrapped in (layers of) I/O errors, as rustls reports through tokio.
fn tls_inside(io: &std::io::Error) -> Option<&rustls::Error> {
    let mut inner = io.get_ref()?;
    for _ in 0..8 {
        if let Some(tls) = inner.downcast_ref::<rustls::Error>() {
            return Some(tls);
        }
        inner = inner.downcast_ref::<std::io::Error>()?.get_ref()?;
    }
    None
}

fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}
