//! Checked program + session + one input in, events + updated session out. A [`Runtime`] holds
//! the compiled bot; a [`Session`] is one user's conversation as plain data (serde); a turn
//! runs until the session waits for the user or becomes idle.

pub mod event;
pub mod functions;
pub mod ir;
mod redact;
mod session;
mod turn;

use std::sync::Arc;

pub use event::{Attachment, ButtonEvent, Event, Location, TimerKind};
pub use redact::Redactor;
pub use session::{Frame, Globals, SavedButton, SavedSet, Session, Timer, Timers};

use crate::check::Program;
use crate::source::Sources;
use crate::syntax::ast::{Event as Trigger, Scope};
use crate::syntax::Span;
use crate::value::Value;

/// The longest user message a turn accepts (LANGUAGE.md §9); a longer one is refused with a
/// warning.
pub const MAX_MESSAGE_BYTES: usize = 64 << 10;

/// What passes the bound on saved data, if anything: the session's variables or the globals.
fn oversized(session: &Session, globals: &Globals) -> Option<&'static str> {
    let max = crate::value::MAX_VALUE_BYTES;
    let size = |maps: &[&session::Vars]| {
        let mut total = 0usize;
        for vars in maps {
            for (name, value) in vars.iter() {
                let left = max.saturating_sub(total);
                match value.measure(crate::value::MAX_DEPTH, left) {
                    Ok(bytes) => total += bytes + name.len() + 4,
                    Err(_) => return max + 1,
                }
                if total > max {
                    return total;
                }
            }
        }
        total
    };
    if size(&[&session.temps, &session.user, &session.specials]) > max {
        return Some("the conversation's variables");
    }
    if size(&[&globals.vars]) > max {
        return Some("the bot's global variables");
    }
    None
}

/// Timer turns fired at one go (one `sleep`, or on start with a saved state): a timer that
/// keeps scheduling itself cannot hold the conversation forever.
pub const MAX_TIMER_TURNS: usize = 100_000;

/// Limits and policies chosen by whoever runs the bot (the operator), not by the scenario.
#[derive(Clone, Debug)]
pub struct Options {
    /// Statements one turn may run before it is stopped (`--max-steps`).
    pub max_steps: u64,
    /// Depth of nested `call`s.
    pub max_call_depth: usize,
    /// `http` requests one turn may send.
    pub max_requests: u32,
    /// Messages one turn may send.
    pub max_messages: u32,
    /// Wall time one turn may take, HTTP included (`--max-turn-time`).
    pub max_turn_time: std::time::Duration,
    /// A fixed clock (Unix milliseconds) for `now()`/`today()`; `None` reads the system clock.
    pub now_ms: Option<i64>,
    /// Timers one session may have pending (LANGUAGE.md §7.4: 100; `--max-timers`).
    pub max_timers: usize,
}

/// What starts a turn.
#[derive(Clone, Debug)]
pub enum Input {
    /// A user's message (or a button press: its label).
    Message(String),
    /// An external event for the user, `on webhook "name"`; the payload is `%webhook%`.
    Webhook { name: String, payload: Value },
    /// The session's timer that comes due first (a `wait … timeout` or a `schedule`); the
    /// turn's clock is its due time. Callers check [`Session::next_due`] first.
    Timer,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            max_steps: 10_000,
            max_call_depth: 100,
            max_requests: 100,
            max_messages: 100,
            max_turn_time: std::time::Duration::from_secs(60),
            now_ms: None,
            max_timers: 100,
        }
    }
}

/// A trigger of the bot, resolved: which event starts which block.
#[derive(Clone, Debug)]
struct StartRule {
    event: Trigger,
    anytime: bool,
    target: crate::check::BlockId,
    /// The text to compare, prepared once: normalized for `message "…"`, lowercased for
    /// `contains`.
    text: String,
    /// Compiled regex of `on message matches`.
    regex: Option<regex::Regex>,
}

/// A compiled bot, ready to run any number of sessions (it is shared, never mutated).
#[derive(Debug)]
pub struct Runtime {
    program: Arc<Program>,
    sources: Arc<Sources>,
    code: ir::Code,
    /// Triggers in the order they are tried: start, exact, matches, contains, like, fallback;
    /// within one kind, source order (files sorted by path).
    starts: Vec<StartRule>,
    options: Options,
}

impl Runtime {
    pub fn new(program: Program, sources: Sources, options: Options) -> Runtime {
        let code = ir::Code::compile(&program);
        let mut starts = Vec::new();
        for (scenario, file) in program.files.iter().enumerate() {
            for t in &file.triggers {
                let Some(target) = program.resolve(scenario, &t.target) else {
                    continue;
                };
                let regex = match &t.event {
                    Trigger::MessageMatches(r) => crate::check::compile_regex(r).ok(),
                    _ => None,
                };
                let text = match &t.event {
                    Trigger::Message(m) => turn::normalize(m),
                    Trigger::MessageContains(m) => m.to_lowercase(),
                    _ => String::new(),
                };
                starts.push(StartRule {
                    event: t.event.clone(),
                    anytime: t.anytime,
                    target,
                    text,
                    regex,
                });
            }
        }
        starts.sort_by_key(|s| match s.event {
            Trigger::Start => 0,
            Trigger::Message(_) => 1,
            Trigger::MessageMatches(_) => 2,
            Trigger::MessageContains(_) => 3,
            Trigger::MessageLike(_) => 4,
            Trigger::Webhook(_) => 5,
            Trigger::Fallback => 6,
        });
        Runtime {
            program: Arc::new(program),
            sources: Arc::new(sources),
            code,
            starts,
            options,
        }
    }

    pub fn program(&self) -> &Program {
        &self.program
    }

    pub fn options(&self) -> &Options {
        &self.options
    }

    /// The files the bot was compiled from.
    pub fn sources(&self) -> &Sources {
        &self.sources
    }

    /// A new, idle session for a user, with the bot's `user` variables at their initial values.
    pub fn new_session(&self, user_id: &str, user_name: &str) -> Session {
        let mut session = Session::new(user_id, user_name);
        for (name, value) in self.initial_values(Scope::User) {
            session.user.insert(name, value);
        }
        session
    }

    /// The bot's `global` variables at their initial values.
    pub fn new_globals(&self) -> Globals {
        let mut globals = Globals::default();
        for (name, value) in self.initial_values(Scope::Global) {
            globals.vars.insert(name, value);
        }
        globals
    }

    /// Adds `user`/`global` variables declared since the session or globals were saved.
    pub fn refresh(&self, session: &mut Session, globals: &mut Globals) {
        for (name, value) in self.initial_values(Scope::User) {
            session.user.entry(name).or_insert(value);
        }
        for (name, value) in self.initial_values(Scope::Global) {
            globals.vars.entry(name).or_insert(value);
        }
    }

    /// Checks that a saved session's position (where it waits, its call stack) exists in this
    /// bot; when it does not, the run is ended and the reason returned, for a warning.
    pub fn check_position(&self, session: &mut Session) -> Option<String> {
        // A waiting frame is at its `wait`; a return address may be just past a block's last
        // statement (a `call` that ends the block).
        let valid = |f: &Frame, end_ok: bool| {
            self.program
                .scenario_index(&f.scenario)
                .and_then(|s| self.program.scenarios[s].blocks.get(&f.block).copied())
                .is_some_and(|id| {
                    let len = self.code.blocks[id.index()].code.len();
                    f.pc < len || (end_ok && f.pc == len)
                })
        };
        let bad = session
            .waiting
            .iter()
            .find(|f| !valid(f, false))
            .or_else(|| session.stack.iter().find(|f| !valid(f, true)))?
            .clone();
        session.end_run();
        Some(format!(
            "the saved conversation waits at {}::{} (statement {}), which this bot does not \
             have; the conversation starts over (variables are kept)",
            bad.scenario, bad.block, bad.pc
        ))
    }

    fn initial_values(&self, scope: Scope) -> Vec<(String, Value)> {
        let mut out = Vec::new();
        for file in &self.program.files {
            for d in file.declarations.iter().filter(|d| d.scope == scope) {
                let value = turn::constant(&d.init, self.now_ms()).unwrap_or(Value::Null);
                out.push((d.var.name.clone(), value));
            }
        }
        out
    }

    /// Presets a variable for a session (`--var`, `--secret`, a test's `var`/`secret`): every
    /// run starts with it, over a declared variable's initial value; an assignment to it lasts
    /// until the run ends; it is never saved (LANGUAGE.md §4). A secret is also shown as `***`
    /// in every event. Presetting a special variable is refused.
    pub fn preset(
        &self,
        session: &mut Session,
        name: &str,
        value: Value,
        secret: bool,
    ) -> Result<(), String> {
        if crate::check::is_special(name) {
            return Err(format!(
                "`%{name}%` is set by the runtime; it cannot be preset"
            ));
        }
        if secret {
            session.redactor.add(&value);
        }
        session.presets.insert(name.to_string(), value.clone());
        session.configured.insert(name.to_string(), value);
        Ok(())
    }

    /// Runs one turn: the user's message `input` against the session, until it waits or ends.
    /// `http` statements go through `transport` (the real client, or a test's stubs).
    /// The events always end with exactly one `wait` or `end`; secrets are already redacted.
    pub async fn turn(
        &self,
        session: &mut Session,
        globals: &mut Globals,
        input: &str,
        transport: &dyn crate::http::Transport,
    ) -> Vec<Event> {
        let input = Input::Message(input.to_string());
        self.input(session, globals, &input, None, transport, None)
            .await
    }

    /// [`Runtime::turn`], also marking in `visited` every block the turn enters (indexed like
    /// [`Program::blocks`]; `scenarist test --coverage`).
    pub async fn turn_covering(
        &self,
        session: &mut Session,
        globals: &mut Globals,
        input: &str,
        transport: &dyn crate::http::Transport,
        visited: &mut [bool],
    ) -> Vec<Event> {
        let input = Input::Message(input.to_string());
        self.input(session, globals, &input, None, transport, Some(visited))
            .await
    }

    /// Runs one turn of any kind at the clock `now_ms` (`None`: the runtime's clock; a timer's
    /// turn runs at its due time whatever is given). With `visited`, also marks every block the
    /// turn enters (as [`Runtime::turn_covering`]).
    pub async fn input(
        &self,
        session: &mut Session,
        globals: &mut Globals,
        input: &Input,
        now_ms: Option<i64>,
        transport: &dyn crate::http::Transport,
        visited: Option<&mut [bool]>,
    ) -> Vec<Event> {
        // Cheap: values are shared, only the maps are copied. The timers (a session may have
        // many) are not copied: the turn keeps them as they were if it changes them.
        let timers = std::mem::take(&mut session.timers);
        let before = (session.clone(), globals.clone());
        session.timers = timers;
        let now = now_ms.unwrap_or_else(|| self.now_ms());
        let mut turn = turn::Turn::new(self, session, globals, transport, now);
        if let Some(visited) = visited {
            turn = turn.covering(visited);
        }
        let (mut events, timers_before) = turn.run(input).await;
        if let Some(why) = oversized(session, globals) {
            // What a session may hold is bounded (§9): the turn is undone (a timer that came
            // due stays fired: it would only come due again).
            let timers = timers_before.unwrap_or_else(|| std::mem::take(&mut session.timers));
            (*session, *globals) = before;
            session.timers = timers;
            events.pop();
            events.push(Event::Error {
                message: format!(
                    "{why} would take more than {} MiB; the turn was undone",
                    crate::value::MAX_VALUE_BYTES >> 20
                ),
                at: None,
            });
            events.push(if session.is_waiting() {
                Event::Wait
            } else {
                Event::End
            });
        }
        self.finish(&session.redactor, &mut events);
        events
    }

    fn now_ms(&self) -> i64 {
        self.options.now_ms.unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_millis() as i64)
        })
    }

    fn location(&self, file: usize, span: Span) -> Option<Location> {
        let f = self.sources.files.get(file)?;
        let (line, column) = f.line_col(span.start);
        Some(Location {
            file: f.name.clone(),
            line,
            column,
        })
    }

    /// The one redaction point of every output: replaces every secret in every text of the
    /// events with `***`, then cuts the values quoted in messages short.
    fn finish(&self, redactor: &Redactor, events: &mut [Event]) {
        let hide = |text: &mut String| redactor.finish(text);
        for event in events {
            match event {
                Event::Input { text } | Event::Notify { text } | Event::Log { text } => hide(text),
                Event::Webhook { payload, .. } => redactor.hide_json(payload),
                Event::Timer { .. } => {}
                Event::Message {
                    text,
                    buttons,
                    attachments,
                } => {
                    hide(text);
                    for a in attachments {
                        match a {
                            Attachment::Image { url } => hide(url),
                            Attachment::File { url, name } => {
                                hide(url);
                                hide(name);
                            }
                        }
                    }
                    for b in buttons {
                        match b {
                            ButtonEvent::Text { label } => hide(label),
                            ButtonEvent::Goto { label, .. } => hide(label),
                            ButtonEvent::Link { label, url } => {
                                hide(label);
                                hide(url);
                            }
                        }
                    }
                }
                Event::Http { url, error, .. } => {
                    hide(url);
                    if let Some(e) = error {
                        hide(e);
                    }
                }
                Event::Warning { message, .. } | Event::Error { message, .. } => hide(message),
                Event::Wait | Event::End => {}
            }
        }
    }
}
