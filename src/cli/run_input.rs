//! Where `scenarist run` gets its inputs: lines of stdin (text or JSON lines) or the
//! interactive prompt, read on a thread of their own so that the conversation's timers can
//! fire while it waits for the next one.

use std::io::BufRead;
use std::sync::mpsc::{self, Receiver, Sender};

use crate::eval::Input;
use crate::value::Value;

/// One thing the user (or the script) gave.
pub enum Event {
    /// An input.
    Input(Input),
    /// `{"type":"sleep","duration":"30m"}`: time passes (milliseconds).
    Sleep(u64),
    /// A line that is not valid UTF-8 was read with U+FFFD for its bad bytes: a warning.
    Lossy(usize),
    /// A JSON line that cannot be read: an error naming the line; `run` stops there.
    Bad(usize, String),
    /// The input could not be read.
    Failed(String),
    /// Nothing was entered (Ctrl-C at the prompt): ask for the next line.
    Again,
}

/// How stdin is read.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// One user message per line.
    Text,
    /// One JSON object per line: a message, a webhook or a sleep.
    Jsonl,
}

/// Reads stdin on a thread; its events arrive on the receiver, which disconnects at the end
/// of the input.
pub fn stdin(format: Format) -> Receiver<Event> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut stdin = std::io::stdin().lock();
        let mut number = 0;
        loop {
            let mut bytes = Vec::new();
            match stdin.read_until(b'\n', &mut bytes) {
                Ok(0) => break,
                Ok(_) => {}
                Err(e) => {
                    let _ = tx.send(Event::Failed(format!("cannot read the input: {e}")));
                    break;
                }
            }
            number += 1;
            let bytes = bytes.strip_suffix(b"\n").unwrap_or(&bytes);
            let bytes = bytes.strip_suffix(b"\r").unwrap_or(bytes);
            let line = match std::str::from_utf8(bytes) {
                Ok(line) => line.to_string(),
                Err(_) => {
                    if tx.send(Event::Lossy(number)).is_err() {
                        break;
                    }
                    String::from_utf8_lossy(bytes).into_owned()
                }
            };
            let event = match format {
                Format::Text => Event::Input(Input::Message(line)),
                Format::Jsonl if line.trim().is_empty() => continue,
                Format::Jsonl => json_line(number, &line),
            };
            if tx.send(event).is_err() {
                break;
            }
        }
    });
    rx
}

/// One line of `--input jsonl`.
pub fn json_line(number: usize, line: &str) -> Event {
    let bad = |why: String| Event::Bad(number, why);
    let json: serde_json::Value = match serde_json::from_str(line) {
        Ok(j) => j,
        Err(e) => return bad(format!("not valid JSON ({e})")),
    };
    let Some(object) = json.as_object() else {
        return bad("not a JSON object; write e.g. {\"type\":\"message\",\"text\":\"hi\"}".into());
    };
    let text_field = |name: &str| object.get(name).and_then(|v| v.as_str());
    match object.get("type").and_then(|t| t.as_str()) {
        Some("message") => match text_field("text") {
            Some(text) => Event::Input(Input::Message(text.to_string())),
            None => bad("a message needs \"text\", a string".into()),
        },
        Some("webhook") => match text_field("name") {
            Some(name) if !name.is_empty() => Event::Input(Input::Webhook {
                name: name.to_string(),
                payload: object.get("payload").map_or(Value::Null, Value::from_json),
            }),
            _ => bad("a webhook needs \"name\", a non-empty string".into()),
        },
        Some("sleep") => {
            let ms = match object.get("duration") {
                Some(serde_json::Value::String(d)) => crate::syntax::duration_ms(d.trim()),
                Some(serde_json::Value::Number(n)) => n.as_u64(),
                _ => None,
            };
            match ms {
                Some(ms) => Event::Sleep(ms),
                None => bad(
                    "a sleep needs \"duration\": a duration such as \"30m\" (ms, s, m, h, d) or \
                     milliseconds"
                        .into(),
                ),
            }
        }
        Some(other) => bad(format!(
            "unknown \"type\": {other:?} (message, webhook or sleep)"
        )),
        None => bad("the object has no \"type\" (message, webhook or sleep)".into()),
    }
}

/// The interactive prompt, on a thread: it reads a line each time it is sent a `()` (after the
/// bot has answered the one before), so the prompt never runs ahead of the bot's output. Returns the
/// events, the channel to ask for the next line, and a printer that writes above the prompt
/// while it waits (for a reminder that comes due).
pub fn prompt() -> Option<(Receiver<Event>, Sender<()>, Printer)> {
    let (tx, rx) = mpsc::channel();
    let (ask, asked) = mpsc::channel::<()>();
    let (printer_tx, printer_rx) = mpsc::channel();
    std::thread::spawn(move || {
        let Ok(mut editor) = rustyline::DefaultEditor::new() else {
            let _ = printer_tx.send(None);
            return;
        };
        let printer = editor
            .create_external_printer()
            .ok()
            .map(|p| Box::new(p) as Box<dyn rustyline::ExternalPrinter + Send>);
        let _ = printer_tx.send(Some(printer));
        eprintln!("Talking to the bot: type a message, Ctrl-D to quit.");
        while asked.recv().is_ok() {
            match editor.readline("> ") {
                Ok(line) => {
                    let _ = editor.add_history_entry(line.as_str());
                    if tx.send(Event::Input(Input::Message(line))).is_err() {
                        break;
                    }
                }
                Err(rustyline::error::ReadlineError::Interrupted) => {
                    // Ctrl-C drops the line being typed: nothing is sent; prompt again.
                    if tx.send(Event::Again).is_err() {
                        break;
                    }
                }
                Err(_) => break,
            }
        }
    });
    let printer = printer_rx.recv().ok().flatten()?;
    Some((rx, ask, Printer(printer)))
}

/// Writes above the interactive prompt.
pub struct Printer(Option<Box<dyn rustyline::ExternalPrinter + Send>>);

impl Printer {
    /// Prints `text` above the prompt; false when it could not.
    pub fn print(&mut self, text: String) -> bool {
        match &mut self.0 {
            Some(p) => p.print(text).is_ok(),
            None => false,
        }
    }
}
