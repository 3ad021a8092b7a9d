//! A real HTTP/1.1 server on 127.0.0.1 (an ephemeral port), in-process, for the tests of the
//! `http` statement: it records every request exactly as it came off the wire and answers with
//! whatever bytes a test scripts — including slow, huge, malformed and redirecting answers.

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// One request as received.
#[derive(Clone, Debug)]
pub struct Received {
    pub method: String,
    /// The request target as sent: path and query, bytes untouched.
    pub target: String,
    /// Names as sent (case kept), in order.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// Which connection (0, 1…) carried it.
    pub connection: usize,
}

impl Received {
    /// All values of a header (case-insensitive).
    pub fn header_all(&self, name: &str) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .collect()
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.header_all(name).first().copied()
    }
}

/// How the server answers one request.
pub enum Reply {
    /// These bytes, as they are.
    Raw(Vec<u8>),
    /// Waits, then sends the bytes.
    After(Duration, Vec<u8>),
    /// A head, then `total` bytes of body sent in chunks until the client hangs up; the number
    /// of body bytes written lands in [`Server::streamed`].
    Endless { head: Vec<u8>, total: usize },
}

type Handler = dyn Fn(&Received) -> Reply + Send + Sync;

pub struct Server {
    pub addr: SocketAddr,
    log: Arc<Mutex<Vec<Received>>>,
    connections: Arc<AtomicUsize>,
    streamed: Arc<AtomicUsize>,
}

impl Server {
    pub fn start(handler: impl Fn(&Received) -> Reply + Send + Sync + 'static) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1");
        let addr = listener.local_addr().expect("local addr");
        let log = Arc::new(Mutex::new(Vec::new()));
        let connections = Arc::new(AtomicUsize::new(0));
        let streamed = Arc::new(AtomicUsize::new(0));
        let handler: Arc<Handler> = Arc::new(handler);
        {
            let (log, connections, streamed) = (log.clone(), connections.clone(), streamed.clone());
            std::thread::spawn(move || {
                for stream in listener.incoming() {
                    let Ok(stream) = stream else { continue };
                    let n = connections.fetch_add(1, Ordering::SeqCst);
                    let (log, handler, streamed) = (log.clone(), handler.clone(), streamed.clone());
                    std::thread::spawn(move || serve(stream, n, &log, &*handler, &streamed));
                }
            });
        }
        Server {
            addr,
            log,
            connections,
            streamed,
        }
    }

    /// `http://127.0.0.1:PORT`
    pub fn base(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// `127.0.0.1:PORT`, for `--allow-host`.
    pub fn host(&self) -> String {
        self.addr.to_string()
    }

    pub fn received(&self) -> Vec<Received> {
        self.log.lock().expect("log").clone()
    }

    pub fn connections(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }

    pub fn streamed(&self) -> usize {
        self.streamed.load(Ordering::SeqCst)
    }
}

fn serve(
    stream: TcpStream,
    connection: usize,
    log: &Mutex<Vec<Received>>,
    handler: &Handler,
    streamed: &AtomicUsize,
) {
    let mut writer = stream.try_clone().expect("clone stream");
    let mut reader = BufReader::new(stream);
    loop {
        let mut request_line = String::new();
        match reader.read_line(&mut request_line) {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        let mut parts = request_line.trim_end().splitn(3, ' ');
        let method = parts.next().unwrap_or("").to_string();
        let target = parts.next().unwrap_or("").to_string();
        let mut headers = Vec::new();
        loop {
            let mut line = String::new();
            if reader.read_line(&mut line).unwrap_or(0) == 0 {
                return;
            }
            let line = line.trim_end_matches(['\r', '\n']);
            if line.is_empty() {
                break;
            }
            if let Some((n, v)) = line.split_once(':') {
                headers.push((n.to_string(), v.trim().to_string()));
            }
        }
        let length = headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case("content-length"))
            .and_then(|(_, v)| v.parse::<usize>().ok())
            .unwrap_or(0);
        let mut body = vec![0; length];
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        let received = Received {
            method,
            target,
            headers,
            body,
            connection,
        };
        log.lock().expect("log").push(received.clone());
        match handler(&received) {
            Reply::Raw(mut bytes) => {
                // The answer to HEAD has the headers of a GET and no body.
                if received.method == "HEAD" {
                    if let Some(end) = bytes.windows(4).position(|w| w == b"\r\n\r\n") {
                        bytes.truncate(end + 4);
                    }
                }
                if writer.write_all(&bytes).is_err() {
                    return;
                }
            }
            Reply::After(delay, bytes) => {
                std::thread::sleep(delay);
                if writer.write_all(&bytes).is_err() {
                    return;
                }
            }
            Reply::Endless { head, total } => {
                if writer.write_all(&head).is_err() {
                    return;
                }
                let chunk = vec![b'x'; 64 * 1024];
                let mut sent = 0;
                while sent < total {
                    if writer.write_all(&chunk).is_err() {
                        break;
                    }
                    sent += chunk.len();
                    streamed.store(sent, Ordering::SeqCst);
                }
                return;
            }
        }
    }
}

/// A complete response with a Content-Length.
pub fn response(status: u16, headers: &[(&str, &str)], body: &[u8]) -> Vec<u8> {
    let mut out = format!("HTTP/1.1 {status} {}\r\n", reason(status)).into_bytes();
    for (n, v) in headers {
        out.extend_from_slice(format!("{n}: {v}\r\n").as_bytes());
    }
    out.extend_from_slice(format!("Content-Length: {}\r\n\r\n", body.len()).as_bytes());
    out.extend_from_slice(body);
    out
}

pub fn json(status: u16, body: &str) -> Reply {
    Reply::Raw(response(
        status,
        &[("Content-Type", "application/json")],
        body.as_bytes(),
    ))
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        301 => "Moved Permanently",
        302 => "Found",
        303 => "See Other",
        307 => "Temporary Redirect",
        404 => "Not Found",
        500 => "Internal Server Error",
        _ => "Whatever",
    }
}
