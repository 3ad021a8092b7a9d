//! A real `scenarist serve` process on a free loopback port, a plain HTTP/1.1 client (status,
//! headers and body, chunked or not), and a slow HTTP peer for bots to call.

#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use scenarist::serve::log::FLUSH_EVERY;
use serde_json::{json, Value};

pub const BIN: &str = env!("CARGO_BIN_EXE_scenarist");

/// A directory of its own under the system's temporary directory, removed at the end.
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new(name: &str) -> TempDir {
        static N: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "scenarist-serve-{name}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("a temporary directory");
        TempDir(dir)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }

    /// Writes a file in the directory; its path.
    pub fn write(&self, name: &str, text: &str) -> PathBuf {
        let path = self.0.join(name);
        std::fs::write(&path, text).expect("write a file");
        path
    }

    /// A SQLite store in the directory, as `--store` takes it.
    pub fn store(&self) -> String {
        format!("sqlite:{}", self.0.join("store.db").display())
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

// ---------------------------------------------------------------------------------------------
// A blocking HTTP/1.1 client.
// ---------------------------------------------------------------------------------------------

pub fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// Decodes the complete chunks of a chunked body: the data, and how many bytes were used.
pub fn dechunk(raw: &[u8]) -> (Vec<u8>, usize) {
    let mut out = Vec::new();
    let mut at = 0;
    while let Some(line) = find(&raw[at..], b"\r\n") {
        let size_text = String::from_utf8_lossy(&raw[at..at + line]).into_owned();
        let size_text = size_text.split(';').next().unwrap_or("").trim().to_string();
        let size = usize::from_str_radix(&size_text, 16)
            .unwrap_or_else(|_| panic!("a chunk size, not {size_text:?}"));
        let start = at + line + 2;
        if size == 0 {
            at = raw.len();
            break;
        }
        if raw.len() < start + size + 2 {
            break;
        }
        out.extend_from_slice(&raw[start..start + size]);
        at = start + size + 2;
    }
    (out, at)
}

#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|e| panic!("a JSON body ({e}), not {:?}", self.body))
    }
}

/// Splits a status line and headers from the body (after any `1xx` interim answers).
pub fn parse_head(raw: &[u8]) -> (u16, Vec<(String, String)>, usize) {
    let end = find(raw, b"\r\n\r\n")
        .unwrap_or_else(|| panic!("a complete head in {:?}", String::from_utf8_lossy(raw)));
    let head = String::from_utf8_lossy(&raw[..end]).into_owned();
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or("");
    let status: u16 = status_line
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("a status line, not {status_line:?}"));
    if (100..200).contains(&status) {
        let (status, headers, used) = parse_head(&raw[end + 4..]);
        return (status, headers, end + 4 + used);
    }
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_string(), v.trim().to_string()))
        .collect();
    (status, headers, end + 4)
}

/// A whole raw answer: its status, headers and (de-chunked) body.
pub fn parse_response(raw: &[u8]) -> Response {
    let (status, headers, body_at) = parse_head(raw);
    let mut response = Response {
        status,
        headers,
        body: String::new(),
    };
    let rest = &raw[body_at..];
    let body = if response
        .header("transfer-encoding")
        .is_some_and(|v| v.eq_ignore_ascii_case("chunked"))
    {
        dechunk(rest).0
    } else if let Some(len) = response
        .header("content-length")
        .and_then(|v| v.parse::<usize>().ok())
    {
        rest[..len.min(rest.len())].to_vec()
    } else {
        rest.to_vec()
    };
    response.body = String::from_utf8(body).expect("a UTF-8 body");
    response
}

/// One HTTP/1.1 request with `Connection: close` (a POST or a body as JSON); the whole answer.
pub fn try_http(
    addr: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> std::io::Result<Response> {
    let mut stream = TcpStream::connect(addr)?;
    stream.set_read_timeout(Some(Duration::from_secs(60)))?;
    let mut request = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    if !body.is_empty() || method == "POST" {
        request.push_str(&format!(
            "Content-Type: application/json\r\nContent-Length: {}\r\n",
            body.len()
        ));
    }
    request.push_str("\r\n");
    let mut bytes = request.into_bytes();
    bytes.extend_from_slice(body);
    stream.write_all(&bytes)?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw)?;
    if raw.is_empty() {
        return Err(std::io::Error::other("the server closed without an answer"));
    }
    Ok(parse_response(&raw))
}

/// POST a JSON body; the status (0 when the connection failed) and the body.
pub fn post(addr: &str, path: &str, body: &str) -> (u16, String) {
    try_http(addr, "POST", path, &[], body.as_bytes())
        .map_or((0, String::new()), |r| (r.status, r.body))
}

/// `n` messages posted at once, each from a thread of its own, the `i`th `body(i)` to server
/// `i % servers.len()`: the answers, in order.
pub fn post_at_once(
    servers: &[Server],
    n: usize,
    body: impl Fn(usize) -> String,
) -> Vec<(u16, String)> {
    let threads: Vec<_> = (0..n)
        .map(|i| {
            let (addr, body) = (servers[i % servers.len()].addr(), body(i));
            std::thread::spawn(move || post(&addr, "/v1/messages", &body))
        })
        .collect();
    threads
        .into_iter()
        .map(|t| t.join().expect("a client"))
        .collect()
}

pub fn get(addr: &str, path: &str) -> (u16, String) {
    try_http(addr, "GET", path, &[], b"").map_or((0, String::new()), |r| (r.status, r.body))
}

/// The texts of the `message` events.
pub fn said(events: &Value) -> Vec<String> {
    events
        .as_array()
        .into_iter()
        .flatten()
        .filter(|e| e["type"] == "message")
        .filter_map(|e| e["text"].as_str().map(str::to_string))
        .collect()
}

/// The answer is `{"error":{"code","message"}}` with this status and code: its message.
#[track_caller]
pub fn assert_error(r: &Response, status: u16, code: &str) -> String {
    assert_eq!(r.status, status, "{r:?}");
    assert!(
        r.header("content-type")
            .is_some_and(|v| v.starts_with("application/json")),
        "{r:?}"
    );
    let body = r.json();
    let error = body["error"]
        .as_object()
        .unwrap_or_else(|| panic!("an error object in {body}"));
    assert_eq!(error.get("code"), Some(&json!(code)), "{body}");
    let message = error
        .get("message")
        .and_then(Value::as_str)
        .unwrap_or_else(|| panic!("a message in {body}"));
    assert!(!message.is_empty(), "{body}");
    message.to_string()
}

// ---------------------------------------------------------------------------------------------
// The server.
// ---------------------------------------------------------------------------------------------

/// `scenarist serve BOT` on a free loopback port, its stderr in a log file of its own in the
/// test's directory, killed when dropped.
pub struct Server {
    child: Option<Child>,
    port: u16,
    bot: PathBuf,
    store: String,
    log_path: PathBuf,
    env: Vec<(String, String)>,
}

impl Server {
    /// With a SQLite store in the test's directory.
    pub fn start(dir: &TempDir, bot: &Path, args: &[&str]) -> Server {
        Server::start_with(dir, bot, &dir.store(), &[], args)
    }

    /// With a `memory:` store and no arguments.
    pub fn in_memory(dir: &TempDir, bot: &Path) -> Server {
        Server::start_with(dir, bot, "memory:", &[], &[])
    }

    /// With this store and these environment variables (`SCENARIST_TOKEN` is the token
    /// [`Server::request`] sends).
    pub fn start_with(
        dir: &TempDir,
        bot: &Path,
        store: &str,
        env: &[(&str, &str)],
        args: &[&str],
    ) -> Server {
        static N: AtomicUsize = AtomicUsize::new(0);
        let mut server = Server {
            child: None,
            port: 0,
            bot: bot.to_path_buf(),
            store: store.to_string(),
            log_path: dir
                .path()
                .join(format!("server-{}.log", N.fetch_add(1, Ordering::Relaxed))),
            env: env
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        };
        // A port picked free may be taken by another test before the server binds it.
        for _ in 0..3 {
            server.port = free_port();
            let _ = std::fs::remove_file(&server.log_path);
            if server.spawn(args) {
                return server;
            }
            if !server.log().contains("cannot listen") {
                break;
            }
        }
        panic!("the server did not start:\n{}", server.log());
    }

    /// Starts the process and polls `/healthz` until it answers; false (and no process) if it
    /// ended first or did not answer in time.
    fn spawn(&mut self, args: &[&str]) -> bool {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log_path)
            .expect("the server's log");
        let mut command = Command::new(BIN);
        command
            .arg("serve")
            .arg(&self.bot)
            .args(["--listen", &self.addr(), "--store", &self.store])
            .args(args)
            .env("NO_COLOR", "1")
            .env_remove("SCENARIST_LOG")
            .env_remove("SCENARIST_TOKEN")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log);
        for (k, v) in &self.env {
            command.env(k, v);
        }
        self.child = Some(command.spawn().expect("scenarist serve starts"));
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if let Some(child) = self.child.as_mut() {
                if child.try_wait().ok().flatten().is_some() {
                    self.child = None;
                    return false;
                }
            }
            if try_http(&self.addr(), "GET", "/healthz", &[], b"").is_ok_and(|r| r.status == 200) {
                return true;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        self.kill_hard();
        false
    }

    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// The token it was started with, if any.
    pub fn token(&self) -> Option<&str> {
        self.env
            .iter()
            .find(|(k, _)| k == "SCENARIST_TOKEN")
            .map(|(_, v)| v.as_str())
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("the server is running").id()
    }

    pub fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .args([format!("-{signal}"), self.pid().to_string()])
            .status()
            .expect("kill runs");
        assert!(status.success(), "kill -{signal} failed");
    }

    /// What the server wrote on stderr so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log_path).unwrap_or_default()
    }

    /// The log once the lines of what happened before the call are in it: the server writes
    /// its lines at most [`FLUSH_EVERY`] after they are logged; the wait leaves a loaded
    /// machine five times that again. For checks that something is not in it.
    pub fn log_settled(&self) -> String {
        std::thread::sleep(FLUSH_EVERY * 6);
        self.log()
    }

    /// The log once it holds `needle` (within 5 s).
    #[track_caller]
    pub fn log_containing(&self, needle: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let log = self.log();
            if log.contains(needle) {
                return log;
            }
            assert!(
                Instant::now() < deadline,
                "no {needle:?} in the log within 5 s:\n{log}"
            );
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// Waits for the process to end (killing it after the deadline): its status.
    pub fn wait_exit(&mut self, within: Duration) -> ExitStatus {
        let deadline = Instant::now() + within;
        let child = self.child.as_mut().expect("the server is running");
        loop {
            if let Some(status) = child.try_wait().expect("the child can be waited for") {
                self.child = None;
                return status;
            }
            if Instant::now() >= deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!("the server did not exit within {within:?}:\n{}", self.log());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// SIGTERM, then the exit status and the whole log.
    pub fn stop(&mut self) -> (ExitStatus, String) {
        self.signal("TERM");
        let status = self.wait_exit(Duration::from_secs(15));
        (status, self.log())
    }

    /// SIGKILL: the process dies wherever it is.
    pub fn kill_hard(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Stops (if running) and starts again on the same port and store.
    pub fn restart(&mut self, args: &[&str]) {
        if self.child.is_some() {
            self.stop();
        }
        assert!(
            self.spawn(args),
            "the server did not start again:\n{}",
            self.log()
        );
    }

    /// Whether the process still runs (it has not exited).
    pub fn running(&mut self) -> bool {
        self.child
            .as_mut()
            .is_some_and(|child| child.try_wait().ok().flatten().is_none())
    }

    /// Starts it again on the same port and store after [`Server::kill_hard`], trying again
    /// for `within` while the port is taken (a client's connection may have been given it as
    /// its own port while the server was down).
    pub fn restart_on_its_port(&mut self, args: &[&str], within: Duration) {
        let deadline = Instant::now() + within;
        loop {
            if self.child.is_some() {
                self.stop();
            }
            let before = self.log().len();
            if self.spawn(args) {
                return;
            }
            let log = self.log();
            let new = log.get(before..).unwrap_or("");
            assert!(
                new.contains("cannot listen") && Instant::now() < deadline,
                "the server did not start again:\n{log}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// A request with the server's token (unless it has an `Authorization` of its own); the
    /// answer.
    pub fn request(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Response {
        let auth = self.token().map(|t| format!("Bearer {t}"));
        let mut all: Vec<(&str, &str)> = headers.to_vec();
        if let Some(auth) = &auth {
            if !headers
                .iter()
                .any(|(n, _)| n.eq_ignore_ascii_case("authorization"))
            {
                all.push(("Authorization", auth));
            }
        }
        try_http(&self.addr(), method, path, &all, body)
            .unwrap_or_else(|e| panic!("{method} {path}: {e}\n{}", self.log()))
    }

    pub fn get(&self, path: &str) -> Response {
        self.request("GET", path, &[], b"")
    }

    pub fn post(&self, path: &str, body: &str) -> Response {
        self.request("POST", path, &[], body.as_bytes())
    }

    pub fn delete(&self, path: &str) -> Response {
        self.request("DELETE", path, &[], b"")
    }

    pub fn message(&self, user: &str, text: &str) -> Response {
        self.post(
            "/v1/messages",
            &json!({ "user_id": user, "text": text }).to_string(),
        )
    }

    /// A turn that must succeed: its JSON.
    pub fn turn(&self, user: &str, text: &str) -> Value {
        let r = self.message(user, text);
        assert_eq!(r.status, 200, "{r:?}");
        r.json()
    }

    /// The server still answers: its health check and a turn of a user of its own.
    pub fn assert_serving(&self) {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let r = self.get("/healthz");
        assert_eq!(r.status, 200, "{r:?}");
        let user = format!("still-{}", NEXT.fetch_add(1, Ordering::Relaxed));
        let r = self.message(&user, "still there?");
        assert_eq!(r.status, 200, "{r:?}\n{}", self.log());
        assert!(r.json()["events"].is_array(), "{r:?}");
    }

    pub fn assert_no_session(&self, user: &str) {
        let r = self.get(&format!("/v1/sessions/{user}"));
        assert_error(&r, 404, "no_session");
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill_hard();
    }
}

// ---------------------------------------------------------------------------------------------
// A slow peer.
// ---------------------------------------------------------------------------------------------

/// An HTTP peer on 127.0.0.1 that answers `GET /slow/MS` with `{}` after MS milliseconds (or
/// after the delay set with [`SlowPeer::set_delay`], when larger), each request on a thread
/// of its own.
pub struct SlowPeer {
    port: u16,
    requests: Arc<AtomicUsize>,
    delay_ms: Arc<AtomicU64>,
}

impl SlowPeer {
    pub fn start() -> SlowPeer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("the peer binds");
        let port = listener.local_addr().expect("its address").port();
        let requests = Arc::new(AtomicUsize::new(0));
        let delay_ms = Arc::new(AtomicU64::new(0));
        let (count, delay) = (requests.clone(), delay_ms.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let (count, delay) = (count.clone(), delay.clone());
                std::thread::spawn(move || answer(stream, &count, &delay));
            }
        });
        SlowPeer {
            port,
            requests,
            delay_ms,
        }
    }

    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    pub fn requests(&self) -> usize {
        self.requests.load(Ordering::SeqCst)
    }

    pub fn set_delay(&self, delay: Duration) {
        self.delay_ms
            .store(delay.as_millis() as u64, Ordering::SeqCst);
    }

    /// Waits until `n` requests have arrived (at most 20 s).
    pub fn wait_for_requests(&self, n: usize) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while self.requests() < n {
            assert!(
                Instant::now() < deadline,
                "the peer got {} requests",
                self.requests()
            );
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}

fn answer(mut stream: TcpStream, count: &AtomicUsize, delay: &AtomicU64) {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        match stream.read(&mut byte) {
            Ok(1) => head.push(byte[0]),
            _ => return,
        }
    }
    count.fetch_add(1, Ordering::SeqCst);
    let head = String::from_utf8_lossy(&head);
    let ms: u64 = head
        .split(' ')
        .nth(1)
        .and_then(|p| p.strip_prefix("/slow/"))
        .and_then(|ms| ms.parse().ok())
        .unwrap_or(0);
    std::thread::sleep(Duration::from_millis(ms.max(delay.load(Ordering::SeqCst))));
    let _ = stream.write_all(
        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}",
    );
}

// ---------------------------------------------------------------------------------------------
// A delivery receiver.
// ---------------------------------------------------------------------------------------------

/// One POST a [`Receiver`] got: when it arrived, the request as sent, the body's `user_id`
/// and `seq`, and the status it was answered with.
#[derive(Clone, Debug)]
pub struct Delivery {
    pub at: Instant,
    pub request_line: String,
    /// Names in lower case.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    pub user_id: String,
    pub seq: i64,
    pub answered: u16,
}

/// How long a [`Receiver`] takes to answer a delivery.
type Delay = Arc<dyn Fn(&Delivery) -> Duration + Send + Sync>;

/// A `--deliver-url` on 127.0.0.1 that records every POST (before answering it), keep-alive
/// connections included, each connection on a thread of its own: `500` to the first
/// `fail_first` requests, then `200` (`{}`), each after the delay it is given.
pub struct Receiver {
    pub addr: String,
    received: Arc<std::sync::Mutex<Vec<Delivery>>>,
}

impl Receiver {
    /// Answers every POST with `200` at once.
    pub fn start() -> Receiver {
        Receiver::start_with(0, |_| Duration::ZERO)
    }

    pub fn start_with(
        fail_first: usize,
        delay: impl Fn(&Delivery) -> Duration + Send + Sync + 'static,
    ) -> Receiver {
        let listener = TcpListener::bind("127.0.0.1:0").expect("the receiver binds");
        let addr = listener.local_addr().expect("its address").to_string();
        let received = Arc::new(std::sync::Mutex::new(Vec::new()));
        let shared = received.clone();
        let delay: Delay = Arc::new(delay);
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let (received, delay) = (shared.clone(), delay.clone());
                std::thread::spawn(move || receive(stream, &received, fail_first, &delay));
            }
        });
        Receiver { addr, received }
    }

    /// The URL to give `--deliver-url`.
    pub fn url(&self) -> String {
        format!("http://{}/deliver", self.addr)
    }

    /// Every POST so far, in the order they arrived.
    pub fn received(&self) -> Vec<Delivery> {
        self.received.lock().expect("the receiver's lock").clone()
    }
}

fn receive(
    mut stream: TcpStream,
    received: &std::sync::Mutex<Vec<Delivery>>,
    fail_first: usize,
    delay: &Delay,
) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(30)));
    let mut raw = Vec::new();
    let mut buf = [0u8; 8192];
    loop {
        let head_end = loop {
            if let Some(end) = find(&raw, b"\r\n\r\n") {
                break end;
            }
            match stream.read(&mut buf) {
                Ok(0) | Err(_) => return,
                Ok(n) => raw.extend_from_slice(&buf[..n]),
            }
        };
        let head = String::from_utf8_lossy(&raw[..head_end]).into_owned();
        let mut lines = head.split("\r\n");
        let request_line = lines.next().unwrap_or("").to_string();
        let headers: Vec<(String, String)> = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_string()))
            .collect();
        let len: usize = headers
            .iter()
            .find(|(n, _)| n == "content-length")
            .and_then(|(_, v)| v.parse().ok())
            .unwrap_or(0);
        while raw.len() < head_end + 4 + len {
            match stream.read(&mut buf) {
                Ok(0) | Err(_) => return,
                Ok(n) => raw.extend_from_slice(&buf[..n]),
            }
        }
        let body = raw[head_end + 4..head_end + 4 + len].to_vec();
        raw.drain(..head_end + 4 + len);
        let json: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
        let delivery = {
            let mut received = received.lock().expect("the receiver's lock");
            let delivery = Delivery {
                at: Instant::now(),
                request_line,
                headers,
                user_id: json["user_id"].as_str().unwrap_or_default().to_string(),
                seq: json["seq"].as_i64().unwrap_or(-1),
                body,
                answered: if received.len() < fail_first {
                    500
                } else {
                    200
                },
            };
            received.push(delivery.clone());
            delivery
        };
        std::thread::sleep(delay(&delivery));
        let response = format!(
            "HTTP/1.1 {} {}\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{{}}",
            delivery.answered,
            if delivery.answered == 200 {
                "OK"
            } else {
                "Internal Server Error"
            }
        );
        if stream.write_all(response.as_bytes()).is_err() {
            return;
        }
    }
}

// ---------------------------------------------------------------------------------------------
// A TCP relay that can be cut.
// ---------------------------------------------------------------------------------------------

/// A TCP relay on 127.0.0.1 to an upstream address (a database, say), copying both ways.
/// [`Relay::cut`] closes every connection through it and closes each new one at once, as a
/// network that went away; [`Relay::restore`] lets connections through again.
pub struct Relay {
    port: u16,
    state: Arc<RelayState>,
}

#[derive(Default)]
struct RelayState {
    /// Whether the relay is cut, and both ends of every connection through it.
    open: std::sync::Mutex<(bool, Vec<TcpStream>)>,
    connections: AtomicUsize,
}

impl Relay {
    pub fn start(upstream: &str) -> Relay {
        let listener = TcpListener::bind("127.0.0.1:0").expect("the relay binds");
        let port = listener.local_addr().expect("its address").port();
        let state = Arc::new(RelayState::default());
        let shared = state.clone();
        let upstream = upstream.to_string();
        std::thread::spawn(move || {
            for client in listener.incoming().flatten() {
                if shared.open.lock().expect("the relay's lock").0 {
                    let _ = client.shutdown(std::net::Shutdown::Both);
                    continue;
                }
                let Ok(server) = TcpStream::connect(&upstream) else {
                    continue;
                };
                let _ = client.set_nodelay(true);
                let _ = server.set_nodelay(true);
                let (Ok(c2), Ok(s2), Ok(c3), Ok(s3)) = (
                    client.try_clone(),
                    server.try_clone(),
                    client.try_clone(),
                    server.try_clone(),
                ) else {
                    continue;
                };
                {
                    let mut open = shared.open.lock().expect("the relay's lock");
                    if open.0 {
                        let _ = client.shutdown(std::net::Shutdown::Both);
                        let _ = server.shutdown(std::net::Shutdown::Both);
                        continue;
                    }
                    open.1.push(c3);
                    open.1.push(s3);
                }
                shared.connections.fetch_add(1, Ordering::SeqCst);
                std::thread::spawn(move || pipe(client, s2));
                std::thread::spawn(move || pipe(server, c2));
            }
        });
        Relay { port, state }
    }

    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Connections let through so far.
    pub fn connections(&self) -> usize {
        self.state.connections.load(Ordering::SeqCst)
    }

    /// Closes every connection and refuses new ones (each is closed as soon as accepted).
    pub fn cut(&self) {
        let mut open = self.state.open.lock().expect("the relay's lock");
        open.0 = true;
        for stream in open.1.drain(..) {
            let _ = stream.shutdown(std::net::Shutdown::Both);
        }
    }

    /// Lets new connections through again.
    pub fn restore(&self) {
        self.state.open.lock().expect("the relay's lock").0 = false;
    }
}

/// Copies from one end to the other until either closes, then closes both.
fn pipe(mut from: TcpStream, mut to: TcpStream) {
    let _ = std::io::copy(&mut from, &mut to);
    let _ = from.shutdown(std::net::Shutdown::Both);
    let _ = to.shutdown(std::net::Shutdown::Both);
}

// ---------------------------------------------------------------------------------------------
// A server-sent event stream.
// ---------------------------------------------------------------------------------------------

/// One event of a `text/event-stream`.
#[derive(Debug, Default)]
pub struct StreamEvent {
    pub id: Option<String>,
    pub event: Option<String>,
    pub data: String,
}

/// A `GET` answered with `text/event-stream` (any headers: a token, a chat key), read event
/// by event.
pub struct EventStream {
    stream: TcpStream,
    chunked: bool,
    raw: Vec<u8>,
    text: String,
}

impl EventStream {
    /// Opens the stream; panics unless the answer is `200 text/event-stream`.
    pub fn open(addr: &str, path: &str, headers: &[(&str, &str)]) -> EventStream {
        let mut stream = TcpStream::connect(addr).expect("the server accepts");
        let mut request =
            format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nAccept: text/event-stream\r\n");
        for (name, value) in headers {
            request.push_str(&format!("{name}: {value}\r\n"));
        }
        request.push_str("\r\n");
        stream
            .write_all(request.as_bytes())
            .expect("the request is sent");
        stream
            .set_read_timeout(Some(Duration::from_secs(5)))
            .expect("a read timeout");
        let mut raw = Vec::new();
        let mut buf = [0u8; 4096];
        while find(&raw, b"\r\n\r\n").is_none() {
            let n = stream.read(&mut buf).expect("the response head");
            assert!(n > 0, "closed before the head");
            raw.extend_from_slice(&buf[..n]);
        }
        let (status, headers, used) = parse_head(&raw);
        let head = Response {
            status,
            headers,
            body: String::new(),
        };
        assert_eq!(status, 200, "{head:?}");
        assert!(
            head.header("content-type")
                .is_some_and(|v| v.starts_with("text/event-stream")),
            "{head:?}"
        );
        let chunked = head
            .header("transfer-encoding")
            .is_some_and(|v| v.eq_ignore_ascii_case("chunked"));
        EventStream {
            stream,
            chunked,
            raw: raw[used..].to_vec(),
            text: String::new(),
        }
    }

    /// The next event with data, or `None` at the deadline or the end of the stream.
    pub fn next(&mut self, deadline: Instant) -> Option<StreamEvent> {
        loop {
            let data = if self.chunked {
                let (data, used) = dechunk(&self.raw);
                self.raw.drain(..used);
                data
            } else {
                std::mem::take(&mut self.raw)
            };
            self.text
                .push_str(&String::from_utf8_lossy(&data).replace("\r\n", "\n"));
            while let Some(end) = self.text.find("\n\n") {
                let block: String = self.text.drain(..end + 2).collect();
                let mut event = StreamEvent::default();
                let mut lines = Vec::new();
                for line in block
                    .lines()
                    .filter(|l| !l.is_empty() && !l.starts_with(':'))
                {
                    let (field, value) = line.split_once(':').unwrap_or((line, ""));
                    let value = value.strip_prefix(' ').unwrap_or(value).to_string();
                    match field {
                        "id" => event.id = Some(value),
                        "event" => event.event = Some(value),
                        "data" => lines.push(value),
                        _ => {}
                    }
                }
                if !lines.is_empty() {
                    event.data = lines.join("\n");
                    return Some(event);
                }
            }
            let now = Instant::now();
            if now >= deadline {
                return None;
            }
            self.stream
                .set_read_timeout(Some(deadline - now))
                .expect("a read timeout");
            let mut buf = [0u8; 4096];
            match self.stream.read(&mut buf) {
                Ok(0) => return None,
                Ok(n) => self.raw.extend_from_slice(&buf[..n]),
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) =>
                {
                    return None
                }
                Err(e) => panic!("the event stream broke: {e}"),
            }
        }
    }
}
