//! The `http` statement (LANGUAGE.md §8). The interpreter renders a [`Request`] (URL, headers,
//! body: `url`, `body`), hands it to a [`Transport`], and turns the [`Response`] into `%body%`,
//! `%status%` and `%headers%` (`body::decode`, `body::headers`). The real transport is
//! [`Client`] (reqwest on tokio, with the operator's [`Policy`] and limits); `scenarist test`
//! serves stubs through the same trait, so both take one code path from response to variables.

pub mod body;
mod client;
pub mod policy;
pub mod url;

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

pub use client::{Client, Limits};
pub use policy::Policy;

/// The default `timeout` of an `http` statement: the whole exchange, redirects included.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
/// The default `redirects` of an `http` statement.
pub const DEFAULT_REDIRECTS: u32 = 10;
/// The default response size cap (`--max-response-bytes`).
pub const DEFAULT_MAX_RESPONSE_BYTES: u64 = 10 << 20;

/// The transport failure of a response body over the cap (real or stubbed alike).
pub fn too_large(cap: u64) -> String {
    format!("the response body is larger than {cap} bytes (--max-response-bytes)")
}

/// `User-Agent` of every request whose scenario sets none.
pub const USER_AGENT: &str = concat!("scenarist/", env!("CARGO_PKG_VERSION"));

/// A request as the scenario rendered it: templates filled, values encoded, Content-Type
/// decided. It is what goes on the wire (plus `User-Agent` when the scenario set none).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Request {
    /// `GET`, `POST`…
    pub method: &'static str,
    pub url: String,
    /// In the order the scenario wrote them; the default Content-Type comes last.
    pub headers: Vec<(String, String)>,
    /// `None` when the statement has no body.
    pub body: Option<Vec<u8>>,
    /// Total time for the exchange, redirects and body included.
    pub timeout: Duration,
    /// Redirects to follow before failing; with 0 a 3xx response is returned as it is.
    pub redirects: u32,
}

impl Request {
    /// The header the scenario set under `name` (case-insensitive), if any.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// A response as received: any status (4xx and 5xx are not failures), the headers in
/// received order, the body bytes (at most the size cap).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, Vec<u8>)>,
    pub body: Vec<u8>,
}

impl Response {
    /// The first value of a header (case-insensitive), as text.
    pub fn header(&self, name: &str) -> Option<String> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| String::from_utf8_lossy(v).into_owned())
    }
}

/// A transport failure (§8.4), described in one line: refused by the host policy, DNS,
/// connect, TLS, timeout, too large, too many redirects.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Failure(pub String);

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// What a transport's answer to one request is.
pub type Sent<'a> = Pin<Box<dyn Future<Output = Result<Response, Failure>> + Send + 'a>>;

/// Carries requests: the real [`Client`], or the stubs of a golden test.
pub trait Transport: Send + Sync {
    fn send<'a>(&'a self, request: &'a Request) -> Sent<'a>;
}

/// A transport for runs that must not make requests (e.g. an embedding without a network):
/// every request fails with the given reason.
#[derive(Clone, Debug)]
pub struct Offline(pub String);

impl Transport for Offline {
    fn send<'a>(&'a self, _: &'a Request) -> Sent<'a> {
        let reason = self.0.clone();
        Box::pin(async move { Err(Failure(reason)) })
    }
}
