//! A real `scenarist serve` process on a free loopback port, a plain HTTP/1.1 client, and a
//! slow HTTP peer for bots to call.

#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

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
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

/// `scenarist serve BOT` with a SQLite store in the test's directory, killed when dropped.
pub struct Server {
    child: Option<Child>,
    port: u16,
    bot: PathBuf,
    store: String,
    log: PathBuf,
    env: Vec<(String, String)>,
}

impl Server {
    pub fn start(dir: &TempDir, bot: &Path, args: &[&str]) -> Server {
        let store = format!("sqlite:{}", dir.path().join("store.db").display());
        Server::start_with(dir, bot, &store, &[], args)
    }

    pub fn start_with(
        dir: &TempDir,
        bot: &Path,
        store: &str,
        env: &[(&str, &str)],
        args: &[&str],
    ) -> Server {
        let mut server = Server {
            child: None,
            port: free_port(),
            bot: bot.to_path_buf(),
            store: store.to_string(),
            log: dir.path().join("server.log"),
            env: env
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        };
        server.spawn(args);
        server
    }

    fn spawn(&mut self, args: &[&str]) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .expect("the server's log");
        let mut command = Command::new(env!("CARGO_BIN_EXE_scenarist"));
        command
            .arg("serve")
            .arg(&self.bot)
            .args(["--listen", &format!("127.0.0.1:{}", self.port)])
            .args(["--store", &self.store])
            .args(args)
            .env_remove("SCENARIST_TOKEN")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log);
        for (k, v) in &self.env {
            command.env(k, v);
        }
        self.child = Some(command.spawn().expect("scenarist serve starts"));
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok((200, _)) = try_request(&self.addr(), "GET", "/healthz", None, &[]) {
                return;
            }
            if let Some(status) = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
            {
                panic!("the server exited with {status}: {}", self.log_text());
            }
            assert!(
                Instant::now() < deadline,
                "the server did not start: {}",
                self.log_text()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().map_or(0, Child::id)
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// SIGTERM, and waits for the exit; its status code.
    pub fn stop(&mut self) -> Option<i32> {
        let mut child = self.child.take()?;
        let _ = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status();
        child.wait().ok().and_then(|s| s.code())
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
        self.stop();
        self.spawn(args);
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill_hard();
    }
}

/// One request over a new connection; the status and the body.
pub fn try_request(
    addr: &str,
    method: &str,
    path: &str,
    body: Option<&str>,
    headers: &[(&str, &str)],
) -> std::io::Result<(u16, String)> {
    let mut stream = TcpStream::connect(addr)?;
    stream.set_read_timeout(Some(Duration::from_secs(60)))?;
    let mut request = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (name, value) in headers {
        request += &format!("{name}: {value}\r\n");
    }
    if let Some(body) = body {
        request += &format!(
            "Content-Type: application/json\r\nContent-Length: {}\r\n",
            body.len()
        );
    }
    request += "\r\n";
    request += body.unwrap_or("");
    stream.write_all(request.as_bytes())?;
    let mut response = Vec::new();
    stream.read_to_end(&mut response)?;
    let text = String::from_utf8_lossy(&response).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| std::io::Error::other(format!("not an HTTP response: {text:?}")))?;
    let chunked = head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked");
    Ok((
        status,
        if chunked {
            dechunk(body)
        } else {
            body.to_string()
        },
    ))
}

fn dechunk(mut body: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = body.split_once("\r\n") {
        let Ok(n) = usize::from_str_radix(size.trim(), 16) else {
            break;
        };
        if n == 0 || rest.len() < n {
            break;
        }
        out += &rest[..n];
        body = rest[n..].trim_start_matches("\r\n");
    }
    out
}

/// POST a JSON body; the status (0 when the connection failed) and the body.
pub fn post(addr: &str, path: &str, body: &str) -> (u16, String) {
    try_request(addr, "POST", path, Some(body), &[]).unwrap_or((0, String::new()))
}

pub fn get(addr: &str, path: &str) -> (u16, String) {
    try_request(addr, "GET", path, None, &[]).unwrap_or((0, String::new()))
}

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
