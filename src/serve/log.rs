//! The server's log lines, written to stderr by a thread of their own in batches.
//!
//! A turn appends its line to a shared buffer and goes on: it neither writes nor wakes
//! anything. The thread writes what has gathered every [`FLUSH_EVERY`], or as soon as
//! [`FLUSH_AT`] bytes wait, so under load one write takes the lines of many turns and the
//! thread wakes a hundred times a second at most, not once a line. A handoff a line (a
//! channel, a wake-up) cost a busy server more than formatting the line did.
//!
//! No line is dropped: when stderr is slower than the lines come and [`MAX_WAITING`] bytes
//! wait, the turns that log wait for the thread. The lines still waiting are written when
//! the [`LogGuard`] is dropped; a killed process loses at most the last [`FLUSH_EVERY`].

use std::io::{self, Write};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::Duration;

/// How long a line waits at most before it is written.
pub const FLUSH_EVERY: Duration = Duration::from_millis(10);
/// Bytes waiting that make the thread write without waiting for [`FLUSH_EVERY`].
const FLUSH_AT: usize = 64 << 10;
/// Bytes waiting that make the turns that log wait for the thread.
const MAX_WAITING: usize = 8 << 20;

#[derive(Default)]
struct Lines {
    bytes: Vec<u8>,
    closing: bool,
}

#[derive(Default)]
struct Shared {
    lines: Mutex<Lines>,
    /// The thread waits on it for lines (or the end).
    gathered: Condvar,
    /// Turns wait on it for room when [`MAX_WAITING`] bytes wait.
    written: Condvar,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Lines> {
        self.lines
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// Where the log lines go: a `MakeWriter` for `tracing_subscriber`.
#[derive(Clone)]
pub struct LogWriter {
    shared: Arc<Shared>,
}

/// Writes the lines still waiting, and stops the thread, when dropped.
pub struct LogGuard {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

/// The writer of the lines and its guard; `out` is where they go (stderr).
pub fn batched(out: impl Write + Send + 'static) -> io::Result<(LogWriter, LogGuard)> {
    let shared = Arc::new(Shared::default());
    let thread = std::thread::Builder::new()
        .name("scenarist-log".into())
        .spawn({
            let shared = shared.clone();
            move || write_lines(&shared, out)
        })?;
    Ok((
        LogWriter {
            shared: shared.clone(),
        },
        LogGuard {
            shared,
            thread: Some(thread),
        },
    ))
}

fn write_lines(shared: &Shared, mut out: impl Write) {
    let mut batch = Vec::new();
    loop {
        let closing = {
            let lines = shared.lock();
            let (mut lines, _) = shared
                .gathered
                .wait_timeout_while(lines, FLUSH_EVERY, |l| {
                    l.bytes.len() < FLUSH_AT && !l.closing
                })
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            // The two buffers change places: neither is allocated again.
            std::mem::swap(&mut batch, &mut lines.bytes);
            lines.closing
        };
        shared.written.notify_all();
        if !batch.is_empty() {
            // Nothing to do about a stderr that cannot be written: the lines are dropped
            // rather than the server stopped.
            let _ = out.write_all(&batch).and_then(|()| out.flush());
            batch.clear();
        }
        if closing && shared.lock().bytes.is_empty() {
            return;
        }
    }
}

impl Drop for LogGuard {
    fn drop(&mut self) {
        self.shared.lock().closing = true;
        self.shared.gathered.notify_one();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// One line being written (`tracing_subscriber` writes an event with one `write_all`).
pub struct LogLine<'a> {
    shared: &'a Shared,
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for LogWriter {
    type Writer = LogLine<'a>;

    fn make_writer(&'a self) -> Self::Writer {
        LogLine {
            shared: &self.shared,
        }
    }
}

impl Write for LogLine<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let mut lines = self.shared.lock();
        while lines.bytes.len() >= MAX_WAITING && !lines.closing {
            lines = self
                .shared
                .written
                .wait(lines)
                .unwrap_or_else(|poisoned| poisoned.into_inner());
        }
        let before = lines.bytes.len();
        lines.bytes.extend_from_slice(buf);
        if before < FLUSH_AT && lines.bytes.len() >= FLUSH_AT {
            self.shared.gathered.notify_one();
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    /// A `Write` whose bytes a test reads back, optionally slow.
    #[derive(Clone, Default)]
    struct Sink {
        bytes: Arc<Mutex<Vec<u8>>>,
        writes: Arc<Mutex<usize>>,
        delay: Duration,
    }

    impl Write for Sink {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            std::thread::sleep(self.delay);
            *self.writes.lock().expect("the sink") += 1;
            self.bytes.lock().expect("the sink").extend_from_slice(buf);
            Ok(buf.len())
        }

        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    fn line(writer: &LogWriter, text: &str) {
        use tracing_subscriber::fmt::MakeWriter;
        writer
            .make_writer()
            .write_all(text.as_bytes())
            .expect("a line");
    }

    #[test]
    fn lines_are_written_within_the_flush_interval_in_order_and_all_at_the_end() {
        let sink = Sink::default();
        let (writer, guard) = batched(sink.clone()).expect("the log thread");
        line(&writer, "one\n");
        let start = Instant::now();
        while sink.bytes.lock().expect("the sink").is_empty() {
            assert!(
                start.elapsed() < Duration::from_secs(5),
                "the line was not written"
            );
            std::thread::sleep(Duration::from_millis(1));
        }
        assert_eq!(sink.bytes.lock().expect("the sink").as_slice(), b"one\n");
        // Many lines from several threads: every line whole, each thread's in its order.
        let threads: Vec<_> = (0..4)
            .map(|t| {
                let writer = writer.clone();
                std::thread::spawn(move || {
                    for i in 0..5000 {
                        line(&writer, &format!("t{t} {i}\n"));
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().expect("a thread");
        }
        drop(guard);
        let text = String::from_utf8(sink.bytes.lock().expect("the sink").clone()).expect("UTF-8");
        let mut next = [0usize; 4];
        for l in text.lines().skip(1) {
            let (t, i) = l.split_once(' ').expect("a line's thread");
            let t: usize = t[1..].parse().expect("a thread number");
            assert_eq!(
                i.parse::<usize>().expect("a line number"),
                next[t],
                "thread {t} out of order"
            );
            next[t] += 1;
        }
        assert_eq!(next, [5000; 4]);
        // 20,000 lines took far fewer writes than lines.
        assert!(*sink.writes.lock().expect("the sink") < 2000);
    }

    #[test]
    fn a_slow_stderr_makes_the_writers_wait_and_loses_nothing() {
        let sink = Sink {
            delay: Duration::from_millis(20),
            ..Sink::default()
        };
        let (writer, guard) = batched(sink.clone()).expect("the log thread");
        // 16 MiB in lines of 1 KiB: twice what may wait.
        let text = format!("{}\n", "x".repeat(1023));
        for _ in 0..16 * 1024 {
            line(&writer, &text);
        }
        drop(guard);
        assert_eq!(sink.bytes.lock().expect("the sink").len(), 16 << 20);
    }
}
