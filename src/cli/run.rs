//! `scenarist run PATH`: one conversation, headless. Messages in (an interactive prompt on a
//! terminal, else one per stdin line), events out (as a person reads them, or JSON lines),
//! exit status 0, 1, 2 or 3.

use std::io::{BufRead, IsTerminal, Write};
use std::path::{Path, PathBuf};

use clap::Args;
use serde::{Deserialize, Serialize};

use super::{status, usage_error};
use crate::eval::{Event, Globals, Options, Runtime, Session};
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
    let (mut session, mut globals) = match loaded {
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

    let interactive = std::io::stdin().is_terminal() && !args.json;
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
    let mut failed = false;
    let mut save_failed = None;
    let out = Output {
        json: args.json,
        interactive,
        color: report::use_color(&std::io::stderr()),
    };
    for message in notices {
        let _ = out.events(&[Event::Warning { message, at: None }]);
    }
    let mut each = |line: &str, session: &mut Session, globals: &mut Globals| -> bool {
        let events = tokio.block_on(runtime.turn(session, globals, line, &client));
        failed |= events.iter().any(|e| matches!(e, Event::Error { .. }));
        let written = out.events(&events).is_ok();
        // After every turn: a crash, a kill or a full disk later loses nothing before it.
        if let Some(store) = &store {
            if let Err(e) = store.save(&fingerprint, session, globals) {
                save_failed = Some(e);
                return false;
            }
        }
        written
    };
    if interactive {
        prompt_loop(&mut session, &mut globals, &mut each);
    } else {
        let mut stdin = std::io::stdin().lock();
        let mut number = 0;
        loop {
            let mut bytes = Vec::new();
            match stdin.read_until(b'\n', &mut bytes) {
                Ok(0) => break,
                Ok(_) => {}
                Err(e) => {
                    eprintln!("error: cannot read the input: {e}");
                    break;
                }
            }
            number += 1;
            let bytes = bytes.strip_suffix(b"\n").unwrap_or(&bytes);
            let bytes = bytes.strip_suffix(b"\r").unwrap_or(bytes);
            let line = match std::str::from_utf8(bytes) {
                Ok(line) => line.to_string(),
                Err(_) => {
                    let message = format!(
                        "line {number} of the input is not valid UTF-8; the invalid bytes \
                         were replaced by U+FFFD"
                    );
                    let _ = each_warning(&out, message);
                    String::from_utf8_lossy(bytes).into_owned()
                }
            };
            if !each(&line, &mut session, &mut globals) {
                break;
            }
        }
    }
    if let (Some(e), Some(path)) = (save_failed, &args.state) {
        eprintln!("error: cannot save {}: {e}", path.display());
        return status::USAGE;
    }
    if failed {
        status::RUNTIME_ERROR
    } else {
        status::OK
    }
}

fn each_warning(out: &Output, message: String) -> std::io::Result<()> {
    out.events(&[Event::Warning { message, at: None }])
}

/// The interactive prompt: line editing and history (kept in memory for the session).
fn prompt_loop(
    session: &mut Session,
    globals: &mut Globals,
    each: &mut dyn FnMut(&str, &mut Session, &mut Globals) -> bool,
) {
    let Ok(mut editor) = rustyline::DefaultEditor::new() else {
        return;
    };
    eprintln!("Talking to the bot: type a message, Ctrl-D to quit.");
    loop {
        match editor.readline("> ") {
            Ok(line) => {
                let _ = editor.add_history_entry(line.as_str());
                if !each(&line, session, globals) {
                    break;
                }
            }
            Err(rustyline::error::ReadlineError::Interrupted) => continue,
            Err(_) => break,
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

/// `--max-turn-time`: a duration as the language writes one.
fn parse_duration(text: &str) -> Result<std::time::Duration, String> {
    match crate::syntax::duration_ms(text.trim()) {
        Some(ms) if ms > 0 => Ok(std::time::Duration::from_millis(ms)),
        _ => Err(format!(
            "`{text}` is not a duration (write e.g. 60s, 2m, 500ms)"
        )),
    }
}

/// `NAME=VALUE` pairs: VALUE as JSON when it parses, else as a String. A special variable
/// cannot be preset.
fn parse_assignments(raw: &[String], secret: bool) -> Result<Vec<(String, Value, bool)>, String> {
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
