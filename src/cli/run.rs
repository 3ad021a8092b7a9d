//! `scenarist run PATH`: one conversation, headless. Messages in (an interactive prompt on a
//! terminal, else one per stdin line), events out (as a person reads them, or JSON lines),
//! exit status 0, 1, 2 or 3.

use std::io::{BufRead, IsTerminal, Write};
use std::path::PathBuf;

use clap::Args;
use serde::{Deserialize, Serialize};

use super::{status, usage_error};
use crate::eval::{Event, Globals, Options, Runtime, Session};
use crate::report;
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
    /// the last message.
    #[arg(long, value_name = "FILE")]
    state: Option<PathBuf>,

    /// Statements one turn may run before it is stopped.
    #[arg(long, value_name = "N", default_value_t = 10_000)]
    max_steps: u64,

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
    let presets = match parse_assignments(&args.vars, &args.secrets) {
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
        secrets: args
            .secrets
            .iter()
            .filter_map(|s| s.split_once('=').map(|(_, v)| v.to_string()))
            .collect(),
        ..Options::default()
    };
    let runtime = Runtime::new(program, sources, options);
    if !warnings_text.is_empty() && !args.json {
        eprint!("{warnings_text}");
    }

    let (mut session, mut globals) = match args.state.as_ref().filter(|p| p.exists()) {
        Some(path) => match load_state(path, &fingerprint) {
            Ok((mut session, mut globals, changed)) => {
                runtime.refresh(&mut session, &mut globals);
                if changed {
                    eprintln!(
                        "warning: the bot changed since {} was saved; the conversation starts over (variables are kept)",
                        path.display()
                    );
                    session.end_run();
                }
                (session, globals)
            }
            Err(e) => return usage_error(e),
        },
        None => (
            runtime.new_session(&args.user_id, &args.user_name),
            runtime.new_globals(),
        ),
    };
    for (name, value) in presets {
        runtime.preset(&mut session, &mut globals, &name, value);
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
    let mut out = std::io::stdout().lock();
    let mut each = |line: &str, session: &mut Session, globals: &mut Globals| -> bool {
        let events = tokio.block_on(runtime.turn(session, globals, line, &client));
        failed |= events.iter().any(|e| matches!(e, Event::Error { .. }));
        write_events(&mut out, &events, args.json, interactive).is_ok()
    };
    if interactive {
        prompt_loop(&mut session, &mut globals, &mut each);
    } else {
        for line in std::io::stdin().lock().lines() {
            let Ok(line) = line else { break };
            let line = line.strip_suffix('\r').unwrap_or(&line).to_string();
            if !each(&line, &mut session, &mut globals) {
                break;
            }
        }
    }
    if let Some(path) = &args.state {
        let state = State {
            scenarist_state: STATE_VERSION,
            bot: fingerprint,
            session,
            globals,
        };
        if let Err(e) = save_state(path, &state) {
            eprintln!("error: cannot save {}: {e}", path.display());
            return status::USAGE;
        }
    }
    if failed {
        status::RUNTIME_ERROR
    } else {
        status::OK
    }
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

fn write_events(
    out: &mut impl Write,
    events: &[Event],
    json: bool,
    interactive: bool,
) -> std::io::Result<()> {
    if json {
        for e in events {
            let line = serde_json::to_string(e).unwrap_or_default();
            writeln!(out, "{line}")?;
        }
    } else {
        let color = report::use_color(&std::io::stderr());
        let text = report::render_events(events, !interactive, color);
        out.write_all(text.stdout.as_bytes())?;
        out.flush()?;
        eprint!("{}", text.stderr);
    }
    Ok(())
}

/// `NAME=VALUE` pairs: VALUE as JSON when it parses, else as a String.
fn parse_assignments(vars: &[String], secrets: &[String]) -> Result<Vec<(String, Value)>, String> {
    let mut out = Vec::new();
    for raw in vars.iter().chain(secrets) {
        let Some((name, value)) = raw.split_once('=') else {
            return Err(format!("`{raw}` is not NAME=VALUE"));
        };
        let name = name.trim().trim_matches('%');
        if name.is_empty() || !name.chars().all(|c| c.is_alphanumeric() || c == '_') {
            return Err(format!("`{name}` is not a variable name"));
        }
        let value = Value::parse_json(value).unwrap_or_else(|_| Value::from(value));
        out.push((name.to_string(), value));
    }
    Ok(out)
}

fn load_state(
    path: &std::path::Path,
    fingerprint: &str,
) -> Result<(Session, Globals, bool), String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let value: serde_json::Value = serde_json::from_str(&text).map_err(|e| {
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
    Ok((state.session, state.globals, changed))
}

fn save_state(path: &std::path::Path, state: &State) -> std::io::Result<()> {
    let text = serde_json::to_string_pretty(state).map_err(std::io::Error::other)?;
    // Write beside it and rename, so an interrupted save never leaves half a file.
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, text + "\n")?;
    std::fs::rename(&tmp, path)
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
