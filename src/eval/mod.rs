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

pub use event::{ButtonEvent, Event, Location};
pub use redact::Redactor;
pub use session::{Frame, Globals, SavedButton, Session};

use crate::check::Program;
use crate::source::Sources;
use crate::syntax::ast::{Event as Trigger, Scope};
use crate::syntax::Span;
use crate::value::Value;

/// Limits and policies chosen by whoever runs the bot (the operator), not by the scenario.
#[derive(Clone, Debug)]
pub struct Options {
    /// Statements one turn may run before it is stopped (`--max-steps`).
    pub max_steps: u64,
    /// Depth of nested `call`s.
    pub max_call_depth: usize,
    /// Values shown as `***` in every event (`--secret`).
    pub secrets: Vec<String>,
    /// A fixed clock (Unix milliseconds) for `now()`/`today()`; `None` reads the system clock.
    pub now_ms: Option<i64>,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            max_steps: 10_000,
            max_call_depth: 100,
            secrets: Vec::new(),
            now_ms: None,
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
    /// Hides the secrets in every event.
    redactor: Redactor,
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
            redactor: Redactor::new(&options.secrets),
            options,
        }
    }

    pub fn program(&self) -> &Program {
        &self.program
    }

    pub fn options(&self) -> &Options {
        &self.options
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

    /// Sets a variable before the conversation (`--var`, `--secret`): a declared `user` or
    /// `global` variable in its scope, anything else as a user-level preset that every run sees.
    pub fn preset(&self, session: &mut Session, globals: &mut Globals, name: &str, value: Value) {
        match self.program.declarations.get(name).map(|d| d.scope) {
            Some(Scope::Global) => {
                globals.vars.insert(name.to_string(), value);
            }
            Some(Scope::User) => {
                session.user.insert(name.to_string(), value);
            }
            None => {
                session.presets.insert(name.to_string(), value);
            }
        }
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
        let mut events = turn::Turn::new(self, session, globals, transport)
            .run(input)
            .await;
        self.redact(&mut events);
        events
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
        let mut events = turn::Turn::new(self, session, globals, transport)
            .covering(visited)
            .run(input)
            .await;
        self.redact(&mut events);
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

    /// Replaces every secret value in every text of the events with `***`.
    fn redact(&self, events: &mut [Event]) {
        if self.redactor.is_empty() {
            return;
        }
        let hide = |text: &mut String| self.redactor.hide(text);
        for event in events {
            match event {
                Event::Input { text } | Event::Notify { text } | Event::Log { text } => hide(text),
                Event::Message { text, buttons } => {
                    hide(text);
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
