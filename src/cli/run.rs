//! `scenarist run PATH`: one conversation, headless. Messages in (an interactive prompt on a
//! terminal, else one per stdin line), events out (as a person reads them, or JSON lines),
//! exit status 0, 1, 2 or 3.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};

use clap::Args;
use serde::{Deserialize, Serialize};

use super::{run_input, status, usage_error};
use crate::eval::{Event, Globals, Input, Options, Runtime, Session};
use crate::report::{self, Stream};
use crate::value::Value;
use crate::Sources;

#[derive(Debug, Args)]
pub struct RunArgs {
    /// The bot: a .scn file or a directory of them.
    #[arg(value_name = "PATH")]
    path: PathBuf,

    /// Print every event as one JSON object per line.
    #[arg(long)]
    json: bool,

    /// The user's id (`%user_id%`).
    #[arg(long, value_name = "ID", default_value = "local")]
    user_id: String,

    /// The user's name (`%user_name%`).
    #[arg(long, value_name = "NAME", default_value = "User")]
    user_name: String,

    /// Preset a variable; VALUE is JSON when it parses as JSON, else a string. Repeatable.
    #[arg(long = "var", value_name = "NAME=VALUE")]
    vars: Vec<String>,

    /// Like --var, but the value is shown as *** in every output. Repeatable.
    #[arg(long = "secret", value_name = "NAME=VALUE")]
    secrets: Vec<String>,

    /// Load the conversation (and the bot's globals) from FILE if it exists; save them after
    /// every turn (atomically; secrets and presets are never saved).
    #[arg(long, value_name = "FILE")]
    state: Option<PathBuf>,

    /// Statements one turn may run before it is stopped.
    #[arg(long, value_name = "N", default_value_t = 10_000)]
    max_steps: u64,

    /// Wall time one turn may take, HTTP included (`90s`, `2m`, `500ms`).
    #[arg(long, value_name = "DURATION", default_value = "60s", value_parser = parse_duration)]
    max_turn_time: std::time::Duration,

    /// Only these hosts may be called (repeatable; `*.example.com` and `127.0.0.1:8080`
    /// allowed). Without it, any public host may, and private, loopback, link-local and
    /// metadata addresses are refused.
    #[arg(long, value_name = "HOST[:PORT]")]
    allow_host: Vec<String>,

    /// How stdin is read: `text`, one message per line, or `jsonl`, one JSON object per
    /// line (`{"type":"message","text":"hi"}`, `{"type":"webhook","name":"paid","payload":{}}`,
    /// `{"type":"sleep","duration":"30m"}`).
    #[arg(long, value_name = "FORMAT", value_enum, default_value = "text")]
    input: run_input::Format,

    /// A virtual clock starting at TIME (`2026-03-01T10:30:00Z`, `2026-03-01` or Unix ms),
    /// moved only by `sleep` inputs: timers fire exactly and at once.
    #[arg(long, value_name = "TIME", value_parser = parse_clock)]
    clock: Option<i64>,

    /// Timers one conversation may have pending.
    #[arg(long, value_name = "N", default_value_t = 100)]
    max_timers: usize,

    /// Largest HTTP response body accepted, in bytes; a larger one is a transport failure.
    #[arg(long, value_name = "N", default_value_t = crate::http::DEFAULT_MAX_RESPONSE_BYTES)]
    max_response_bytes: u64,
}

/// What `--state` keeps between invocations.
#[derive(Debug, Serialize, Deserialize)]
struct State {
    /// Marks the file as ours: anything else is refused rather than overwritten.
    scenarist_state: u32,
    /// A fingerprint of the bot's files, to notice when the bot changed in between.
    bot: String,
    session: Session,
    globals: Globals,
}

const STATE_VERSION: u32 = 1;

pub fn run(args: RunArgs) -> u8 {
    let sources = match Sources::load(std::slice::from_ref(&args.path)) {
        Ok(s) => s,
        Err(e) => return usage_error(e),
    };
    let program = match super::compile_with_big_stack(&sources) {
        Ok(p) => p,
        Err(diagnostics) => {
            let summary = report::Summary::new(sources.files.len(), &diagnostics, false);
            let stderr = std::io::stderr();
            let text =
                report::render_check(&sources, &diagnostics, &summary, report::use_color(&stderr));
            let _ = stderr.lock().write_all(text.as_bytes());
            return status::FAILED;
        }
    };
    let presets = match parse_assignments(&args.vars, false).and_then(|mut vars| {
        vars.extend(parse_assignments(&args.secrets, true)?);
        Ok(vars)
    }) {
        Ok(p) => p,
        Err(e) => return usage_error(e),
    };
    let policy = match crate::http::Policy::allow(&args.allow_host) {
        Ok(p) => p,
        Err(e) => return usage_error(e),
    };
    let fingerprint = fingerprint(&sources);
    let warnings_text = if program.warnings.is_empty() {
        String::new()
    } else {
        report::render_human(
            &sources,
            &program.warnings,
            report::use_color(&std::io::stderr()),
        )
    };
    let options = Options {
        max_steps: args.max_steps,
        max_turn_time: args.max_turn_time,
        max_timers: args.max_timers,
        ..Options::default()
    };
    let runtime = Runtime::new(program, sources, options);
    if !warnings_text.is_empty() && !args.json {
        eprint!("{warnings_text}");
    }

    // The state file is locked for the whole run, and its directory must take the saves:
    // both are found out before the first turn, not after the conversation.
    let store = match &args.state {
        Some(path) => match StateFile::open(path) {
            Ok(s) => Some(s),
            Err(e) => return usage_error(e),
        },
        None => None,
    };
    let mut notices = Vec::new();
    let loaded = match &store {
        Some(store) => match store.load(&fingerprint) {
            Ok(loaded) => loaded,
            Err(e) => return usage_error(e),
        },
        None => None,
    };
    let (mut session, globals) = match loaded {
        Some((mut session, mut globals, changed)) => {
            if session.user_id != args.user_id {
                return usage_error(format!(
                    "{} holds the conversation of user `{}`, not `{}` (--user-id); use another \
                     state file for another user",
                    args.state.as_deref().unwrap_or(Path::new("")).display(),
                    session.user_id,
                    args.user_id
                ));
            }
            runtime.refresh(&mut session, &mut globals);
            if changed {
                notices.push(
                    "the bot changed since the state was saved; the conversation starts over \
                     (variables are kept)"
                        .to_string(),
                );
                session.end_run();
            } else if let Some(why) = runtime.check_position(&mut session) {
                notices.push(why);
            }
            (session, globals)
        }
        None => (
            runtime.new_session(&args.user_id, &args.user_name),
            runtime.new_globals(),
        ),
    };
    for (name, value, secret) in presets {
        if let Err(e) = runtime.preset(&mut session, &name, value, secret) {
            return usage_error(e);
        }
    }

    let interactive =
        std::io::stdin().is_terminal() && !args.json && args.input == run_input::Format::Text;
    let tokio = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => return usage_error(format!("cannot start the runtime: {e}")),
    };
    let limits = crate::http::Limits {
        max_response_bytes: args.max_response_bytes,
    };
    // One client for the whole conversation: keep-alive connections are reused.
    let client = crate::http::Client::new(policy, limits);
    let out = Output {
        json: args.json,
        interactive,
        color: report::use_color(&std::io::stderr()),
    };
    for message in notices {
        let _ = out.events(&[Event::Warning { message, at: None }]);
    }
    let mut talk = Talk {
        runtime: &runtime,
        tokio: &tokio,
        client: &client,
        out: &out,
        store: store.as_ref(),
        fingerprint: &fingerprint,
        session,
        globals,
        failed: false,
        save_failed: None,
        printer: None,
    };
    let mut clock = args.clock;
    let (inputs, ask) = if interactive {
        match run_input::prompt() {
            Some((inputs, ask, printer)) => {
                talk.printer = Some(printer);
                (inputs, Some(ask))
            }
            None => return usage_error("cannot start the interactive prompt".to_string()),
        }
    } else {
        (run_input::stdin(args.input), None)
    };
    let mut bad_input = false;
    // Whether the prompt is showing (asked for a line not yet given).
    let mut asked = false;
    loop {
        // Timers that came due fire before the next input, in order.
        if !talk.fire_due(clock.unwrap_or_else(real_now), asked) {
            break;
        }
        if let (Some(ask), false) = (&ask, asked) {
            if ask.send(()).is_err() {
                break;
            }
            asked = true;
        }
        let next = match (clock, talk.session.next_due()) {
            (None, Some(due)) => {
                let wait = due.saturating_sub(real_now()).max(0) as u64;
                match inputs.recv_timeout(std::time::Duration::from_millis(wait)) {
                    Ok(e) => e,
                    Err(std::sync::mpsc::RecvTimeoutError::Timeout) => continue,
                    Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => break,
                }
            }
            _ => match inputs.recv() {
                Ok(e) => e,
                Err(_) => break,
            },
        };
        asked = false;
        let go_on = match next {
            run_input::Event::Input(input) => talk.turn(&input, clock),
            run_input::Event::Sleep(ms) => match clock {
                Some(now) => {
                    let until = now.saturating_add(ms as i64);
                    let fired = talk.fire_due(until, false);
                    clock = Some(until);
                    fired
                }
                None => talk.sleep_real(ms),
            },
            run_input::Event::Lossy(number) => {
                let message = format!(
                    "line {number} of the input is not valid UTF-8; the invalid bytes were \
                     replaced by U+FFFD"
                );
                let _ = out.events(&[Event::Warning { message, at: None }]);
                true
            }
            run_input::Event::Bad(number, why) => {
                eprintln!("error: line {number} of the input: {why}");
                bad_input = true;
                false
            }
            run_input::Event::Failed(why) => {
                eprintln!("error: {why}");
                false
            }
            run_input::Event::Again => true,
        };
        if !go_on {
            break;
        }
    }
    let Talk {
        failed,
        save_failed,
        ..
    } = talk;
    if let (Some(e), Some(path)) = (save_failed, &args.state) {
        eprintln!("error: cannot save {}: {e}", path.display());
        return status::USAGE;
    }
    if bad_input {
        status::USAGE
    } else if failed {
        status::RUNTIME_ERROR
    } else {
        status::OK
    }
}

/// The system clock, in Unix milliseconds.
fn real_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// The conversation being run: its session and globals, and where its events go.
struct Talk<'a> {
    runtime: &'a Runtime,
    tokio: &'a tokio::runtime::Runtime,
    client: &'a crate::http::Client,
    out: &'a Output,
    store: Option<&'a StateFile>,
    fingerprint: &'a str,
    session: Session,
    globals: Globals,
    /// Some turn ended in an `error` event.
    failed: bool,
    save_failed: Option<String>,
    /// The interactive prompt's printer, for what a timer says while the prompt waits.
    printer: Option<run_input::Printer>,
}

impl Talk<'_> {
    /// One turn at the clock `now` (`None`: the real one). False when the conversation must
    /// stop (output closed, the state could not be saved).
    fn turn(&mut self, input: &Input, now: Option<i64>) -> bool {
        self.turn_shown(input, now, false)
    }

    fn turn_shown(&mut self, input: &Input, now: Option<i64>, above_prompt: bool) -> bool {
        let turn = self.runtime.input(
            &mut self.session,
            &mut self.globals,
            input,
            now,
            self.client,
            None,
        );
        let events = self.tokio.block_on(turn);
        self.failed |= events.iter().any(|e| matches!(e, Event::Error { .. }));
        let written = match (&mut self.printer, above_prompt) {
            (Some(printer), true) => printer.print(self.out.text(&events)),
            _ => self.out.events(&events).is_ok(),
        };
        // After every turn: a crash, a kill or a full disk later loses nothing before it.
        if let Some(store) = self.store {
            if let Err(e) = store.save(self.fingerprint, &self.session, &self.globals) {
                self.save_failed = Some(e);
                return false;
            }
        }
        written
    }

    /// Fires, in order, every timer due at or before `until`, each in a turn at its due time.
    fn fire_due(&mut self, until: i64, above_prompt: bool) -> bool {
        let mut fired = 0;
        while self.session.next_due().is_some_and(|due| due <= until) {
            fired += 1;
            if fired > crate::eval::MAX_TIMER_TURNS {
                let message = format!(
                    "more than {} timers came due at once; the rest fire later",
                    crate::eval::MAX_TIMER_TURNS
                );
                let _ = self.out.events(&[Event::Warning { message, at: None }]);
                return true;
            }
            if !self.turn_shown(&Input::Timer, None, above_prompt) {
                return false;
            }
        }
        true
    }

    /// `sleep` with the real clock: waits, firing the timers that come due meanwhile.
    fn sleep_real(&mut self, ms: u64) -> bool {
        let until = real_now().saturating_add(ms as i64);
        loop {
            let now = real_now();
            if !self.fire_due(now, false) {
                return false;
            }
            if now >= until {
                return true;
            }
            let next = self.session.next_due().unwrap_or(until).min(until);
            let wait = next.saturating_sub(now).max(1) as u64;
            std::thread::sleep(std::time::Duration::from_millis(wait));
        }
    }
}

/// Where events go: JSON lines on stdout, or text for people, each line on its stream in the
/// order the bot produced it.
struct Output {
    json: bool,
    interactive: bool,
    color: bool,
}

impl Output {
    /// The events as text for people, both streams in one (above the interactive prompt).
    fn text(&self, events: &[Event]) -> String {
        let text = report::render_events(events, !self.interactive, self.color);
        text.lines.into_iter().map(|(_, line)| line).collect()
    }

    fn events(&self, events: &[Event]) -> std::io::Result<()> {
        let mut stdout = std::io::stdout().lock();
        if self.json {
            for e in events {
                let line = serde_json::to_string(e).unwrap_or_default();
                writeln!(stdout, "{line}")?;
            }
            return stdout.flush();
        }
        let mut stderr = std::io::stderr().lock();
        let text = report::render_events(events, !self.interactive, self.color);
        for (stream, line) in &text.lines {
            match stream {
                Stream::Stdout => {
                    stdout.write_all(line.as_bytes())?;
                    stdout.flush()?;
                }
                Stream::Stderr => {
                    stderr.write_all(line.as_bytes())?;
                    stderr.flush()?;
                }
            }
        }
        Ok(())
    }
}

/// `--clock`: a time as a test's `now` takes it.
fn parse_clock(text: &str) -> Result<i64, String> {
    crate::testing::format::parse_time(text.trim()).ok_or_else(|| {
        format!("`{text}` is not a time (write e.g. 2026-03-01T10:30:00Z, 2026-03-01 or Unix ms)")
    })
}

/// `--max-turn-time`: a duration as the language writes one.
pub(super) fn parse_duration(text: &str) -> Result<std::time::Duration, String> {
    match crate::syntax::duration_ms(text.trim()) {
        Some(ms) if ms > 0 => Ok(std::time::Duration::from_millis(ms)),
        _ => Err(format!(
            "`{text}` is not a duration (write e.g. 60s, 2m, 500ms)"
        )),
    }
}

/// `NAME=VALUE` pairs: VALUE as JSON when it parses, else as a String. A special variable
/// cannot be preset.
pub(super) fn parse_assignments(
    raw: &[String],
    secret: bool,
) -> Result<Vec<(String, Value, bool)>, String> {
    let flag = if secret { "--secret" } else { "--var" };
    let mut out = Vec::new();
    for raw in raw {
        let Some((name, value)) = raw.split_once('=') else {
            return Err(format!("`{flag} {}`: write NAME=VALUE", name_only(raw)));
        };
        let name = name.trim().trim_matches('%');
        if name.is_empty() || !name.chars().all(|c| c.is_alphanumeric() || c == '_') {
            return Err(format!("`{flag}`: `{name}` is not a variable name"));
        }
        if crate::check::is_special(name) {
            return Err(format!(
                "`{flag} {name}=…`: `%{name}%` is set by the runtime; it cannot be preset"
            ));
        }
        let value = Value::parse_json(value).unwrap_or_else(|_| Value::from(value));
        out.push((name.to_string(), value, secret));
    }
    Ok(out)
}

/// A malformed `--secret` must not print the secret: at most what looks like a name.
fn name_only(raw: &str) -> String {
    let name: String = raw
        .chars()
        .take_while(|c| c.is_alphanumeric() || *c == '_')
        .take(40)
        .collect();
    if name.is_empty() {
        "…".to_string()
    } else {
        format!("{name}…")
    }
}

/// The `--state` file, locked for the whole run (a lock file beside it, since the state file
/// itself is replaced at every save).
struct StateFile {
    path: PathBuf,
    /// Held (locked) until the run ends.
    _lock: std::fs::File,
}

impl StateFile {
    fn open(path: &Path) -> Result<StateFile, String> {
        let shown = path.display();
        if let Ok(meta) = std::fs::metadata(path) {
            if !meta.is_file() {
                return Err(format!("--state {shown}: not a regular file"));
            }
        }
        let dir = parent(path);
        if !dir.is_dir() {
            return Err(format!(
                "--state {shown}: the directory {} does not exist",
                dir.display()
            ));
        }
        let lock_path = sibling(path, ".lock");
        let mut options = std::fs::OpenOptions::new();
        options.read(true).write(true).create(true).truncate(false);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let lock = options.open(&lock_path).map_err(|e| {
            format!(
                "--state {shown}: cannot write in {} ({e}); the conversation could not be saved",
                dir.display()
            )
        })?;
        match lock.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                return Err(format!(
                    "--state {shown}: another `scenarist run` is using this state file (it holds \
                     the lock {}); wait for it to finish",
                    lock_path.display()
                ))
            }
            Err(std::fs::TryLockError::Error(e)) => {
                return Err(format!(
                    "--state {shown}: cannot lock {}: {e}",
                    lock_path.display()
                ))
            }
        }
        let state = StateFile {
            path: path.to_path_buf(),
            _lock: lock,
        };
        // Prove the directory takes a save before the first turn.
        let probe = state.temporary().map_err(|e| {
            format!(
                "--state {shown}: cannot write in {} ({e}); the conversation could not be saved",
                dir.display()
            )
        })?;
        let _ = std::fs::remove_file(probe.1);
        Ok(state)
    }

    /// The saved session and globals, and whether the bot changed since; `None` when the file
    /// does not exist yet.
    fn load(&self, fingerprint: &str) -> Result<Option<(Session, Globals, bool)>, String> {
        let path = &self.path;
        let bytes = match crate::source::read_file(path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(format!("cannot read {}: {e}", path.display())),
        };
        let value: serde_json::Value = serde_json::from_slice(&bytes).map_err(|e| {
            format!(
                "{} is not a scenarist state file (not JSON: {e})",
                path.display()
            )
        })?;
        if value.get("scenarist_state").is_none() {
            return Err(format!("{} is not a scenarist state file", path.display()));
        }
        let state: State = serde_json::from_value(value)
            .map_err(|e| format!("{} is a damaged scenarist state file: {e}", path.display()))?;
        if state.scenarist_state != STATE_VERSION {
            return Err(format!(
                "{} was written by another version of scenarist (state format {})",
                path.display(),
                state.scenarist_state
            ));
        }
        let changed = state.bot != fingerprint;
        Ok(Some((state.session, state.globals, changed)))
    }

    /// Saves atomically: a new temporary file beside the state (created exclusively, so never
    /// through a symlink, and readable by its owner only — or with the mode the state file
    /// already has), then renamed over it. Secrets are replaced by `***`; presets are never
    /// part of a session's saved form.
    fn save(&self, fingerprint: &str, session: &Session, globals: &Globals) -> Result<(), String> {
        let mut globals = globals.clone();
        for value in globals.vars.values_mut() {
            session.redactor.hide_value(value);
        }
        let state = State {
            scenarist_state: STATE_VERSION,
            bot: fingerprint.to_string(),
            session: session.redacted(),
            globals,
        };
        let text = serde_json::to_string_pretty(&state).map_err(|e| e.to_string())? + "\n";
        let (mut file, tmp) = self.temporary().map_err(|e| e.to_string())?;
        let written = (|| {
            #[cfg(unix)]
            if let Ok(meta) = std::fs::metadata(&self.path) {
                use std::os::unix::fs::PermissionsExt;
                file.set_permissions(std::fs::Permissions::from_mode(
                    meta.permissions().mode() & 0o7777,
                ))?;
            }
            file.write_all(text.as_bytes())?;
            file.sync_all()?;
            drop(file);
            std::fs::rename(&tmp, &self.path)
        })();
        if let Err(e) = written {
            let _ = std::fs::remove_file(&tmp);
            return Err(e.to_string());
        }
        Ok(())
    }

    /// A new file `.<name>.<pid>.<n>.tmp` beside the state, created exclusively (`O_EXCL`: an
    /// existing file or symlink of that name is never opened), mode 0600.
    fn temporary(&self) -> std::io::Result<(std::fs::File, PathBuf)> {
        use std::sync::atomic::{AtomicU64, Ordering};
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let name = self
            .path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let mut last = None;
        for _ in 0..100 {
            let n = COUNTER.fetch_add(1, Ordering::Relaxed);
            let nanos = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.subsec_nanos());
            let tmp =
                parent(&self.path).join(format!(".{name}.{}.{n}.{nanos}.tmp", std::process::id()));
            let mut options = std::fs::OpenOptions::new();
            options.write(true).create_new(true);
            #[cfg(unix)]
            std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
            match options.open(&tmp) {
                Ok(f) => return Ok((f, tmp)),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => last = Some(e),
                Err(e) => return Err(e),
            }
        }
        Err(last.unwrap_or_else(|| std::io::Error::other("no temporary name")))
    }
}

/// The directory of a path (`.` for a bare file name).
fn parent(path: &Path) -> PathBuf {
    match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// `state.json` → `state.json.lock`.
fn sibling(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_os_string();
    name.push(suffix);
    PathBuf::from(name)
}

/// FNV-1a over the bot's file names and texts.
fn fingerprint(sources: &Sources) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for f in &sources.files {
        for b in f.id.bytes().chain([0]).chain(f.text.bytes()).chain([0]) {
            h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
        }
    }
    format!("{h:016x}")
}
