//! One turn: a session and the user's message in, events out. Triggers and transition buttons
//! decide where the run starts or resumes, then the instruction loop runs until `wait`, the
//! end of the run, an error, or the step limit.

use std::sync::Arc;

use indexmap::IndexMap;

use std::collections::HashMap;

use super::functions::Context;
use super::ir::{Button, Instr};
use super::session::{Frame, Globals, SavedButton, Session};
use super::{ButtonEvent, Event, Runtime};
use crate::check::{BlockId, DeclarationInfo};
use crate::syntax::ast::Event as Trigger;
use crate::syntax::ast::{AssignOp, Expr, LValue, VarPath};
use crate::syntax::Span;
use crate::value::{ops, Value};

mod env;
mod extract;
mod http;

use extract::extract;

/// Why the instruction loop stopped early: a runtime error with the place it happened.
pub(super) struct Failure {
    message: String,
    span: Span,
}

/// Boxed so that the `Ok` path of every expression stays small.
type Eval<T> = Result<T, Box<Failure>>;

fn fail<T>(span: Span, message: impl Into<String>) -> Eval<T> {
    Err(Box::new(Failure {
        message: message.into(),
        span,
    }))
}

/// The value of a declaration's initial expression, computed without any variable (literals,
/// lists, dictionaries, arithmetic, functions such as `now()`).
pub(super) fn constant(e: &Expr, now_ms: i64) -> Option<Value> {
    let mut session = Session::new("", "");
    let mut globals = Globals::default();
    let mut env = Env {
        session: &mut session,
        globals: &mut globals,
        decls: None,
        lambdas: Vec::new(),
        warnings: Vec::new(),
        slots: Vec::new(),
        at: None,
        cx: Context { now_ms, rng: 0 },
    };
    env.eval(e).ok()
}

/// What expressions see: the session's variables, the globals, lambda parameters in scope,
/// and the warnings collected on the way (missing variables).
struct Env<'a> {
    session: &'a mut Session,
    globals: &'a mut Globals,
    decls: Option<&'a HashMap<String, DeclarationInfo>>,
    lambdas: Vec<(String, Value)>,
    warnings: Vec<(String, Span)>,
    /// Values of the temporary variables the code resolved to slots (see `ir::Slots`); they
    /// live here during a turn and in `Session::temps`, by name, between turns.
    slots: Vec<Option<Value>>,
    /// The running block, for `%scenario%` and `%block%`.
    at: Option<(&'a crate::check::Program, BlockId)>,
    /// Clock and random state for `now()`, `rand()`…
    cx: Context,
}

pub(super) struct Turn<'r> {
    rt: &'r Runtime,
    transport: &'r dyn crate::http::Transport,
    env: Env<'r>,
    events: Vec<Event>,
    steps: u64,
    /// `http` requests and messages sent so far this turn.
    requests: u32,
    messages: u32,
    /// When the turn must be over (`--max-turn-time`).
    deadline: std::time::Instant,
    /// Blocks entered, by index (`scenarist test --coverage`); `None` costs one branch per block.
    visited: Option<&'r mut [bool]>,
}

impl<'r> Turn<'r> {
    pub fn new(
        rt: &'r Runtime,
        session: &'r mut Session,
        globals: &'r mut Globals,
        transport: &'r dyn crate::http::Transport,
    ) -> Turn<'r> {
        let rng = session.rng;
        // Temporaries move into their slots for the turn (and back in `run`).
        let mut slots = vec![None; rt.code.slots.len()];
        for (name, value) in std::mem::take(&mut session.temps) {
            match rt.code.slot_of.get(&name) {
                Some(&i) => slots[i as usize] = Some(value),
                None => {
                    session.temps.insert(name, value);
                }
            }
        }
        Turn {
            rt,
            transport,
            env: Env {
                session,
                globals,
                decls: Some(&rt.program.declarations),
                lambdas: Vec::new(),
                warnings: Vec::new(),
                slots,
                at: None,
                cx: Context {
                    now_ms: rt.now_ms(),
                    rng,
                },
            },
            events: Vec::new(),
            steps: 0,
            requests: 0,
            messages: 0,
            deadline: std::time::Instant::now() + rt.options.max_turn_time,
            visited: None,
        }
    }

    /// Marks in `visited` (indexed by [`BlockId`]) every block this turn enters.
    pub fn covering(mut self, visited: &'r mut [bool]) -> Turn<'r> {
        self.visited = Some(visited);
        self
    }

    pub async fn run(mut self, input: &str) -> Vec<Event> {
        self.turn(input).await;
        self.env.session.rng = self.env.cx.rng;
        for (i, value) in std::mem::take(&mut self.env.slots).into_iter().enumerate() {
            if let Some(value) = value {
                self.env
                    .session
                    .temps
                    .insert(self.rt.code.slots[i].clone(), value);
            }
        }
        self.events
    }

    /// Ends the current run: position, call stack and temporaries (slots included) go.
    fn end_run(&mut self) {
        self.env.session.end_run();
        self.env.slots.iter_mut().for_each(|s| *s = None);
    }

    async fn turn(&mut self, input: &str) {
        self.events.push(Event::Input {
            text: input.to_string(),
        });
        if input.len() > super::MAX_MESSAGE_BYTES {
            self.events.push(Event::Warning {
                message: format!(
                    "the message is {} bytes long, over the limit of {} (64 KiB); it was not \
                     processed",
                    input.len(),
                    super::MAX_MESSAGE_BYTES
                ),
                at: None,
            });
            self.push_unchanged();
            return;
        }
        let session = &mut *self.env.session;
        session.messages += 1;
        let first = session.messages == 1;
        session
            .specials
            .insert("message".into(), Value::from(input));
        if first {
            // A deep link: `/start abc` carries the payload `abc`.
            let reference = input.trim().strip_prefix("/start").map_or("", str::trim);
            session
                .specials
                .insert("ref".into(), Value::from(reference));
        }
        match self.route(input, first) {
            Some((block, pc, into)) => {
                if let Some(into) = into {
                    let assigned = self.env.assign(
                        &LValue::of(into.clone()),
                        AssignOp::Set,
                        Value::from(input),
                    );
                    if let Err(f) = assigned {
                        self.fail(block, *f);
                        return;
                    }
                }
                self.run_from(block, pc).await;
            }
            None => {
                self.events.push(Event::Warning {
                    message: format!("no trigger matches the message {input:?}; it was dropped"),
                    at: None,
                });
                self.push_unchanged();
            }
        }
    }

    /// Ends a turn that changed nothing: `wait` if a run still waits, else `end`.
    fn push_unchanged(&mut self) {
        let last = if self.env.session.is_waiting() {
            Event::Wait
        } else {
            Event::End
        };
        self.events.push(last);
    }

    /// Where this message leads: a transition button of the latest message, an `anytime`
    /// trigger, the waiting run, or (when idle) the first matching trigger. The third element
    /// is the `wait -> %var%` to fill when resuming.
    fn route(&mut self, input: &str, first: bool) -> Option<(BlockId, usize, Option<VarPath>)> {
        let pressed = normalize(input);
        let button = self
            .env
            .session
            .buttons
            .iter()
            .find(|b| normalize(&b.label) == pressed)
            .cloned();
        if let Some(id) = button.and_then(|b| self.block_id(&b.scenario, &b.block)) {
            if !self.env.session.is_waiting() {
                self.end_run();
            }
            self.env.session.waiting = None;
            self.env.session.stack.clear();
            return Some((id, 0, None));
        }
        if let Some(frame) = self.env.session.waiting.clone() {
            if let Some(target) = self.trigger(input, first, true) {
                self.end_run();
                return Some((target, 0, None));
            }
            let Some(id) = self.block_id(&frame.scenario, &frame.block) else {
                // The bot changed under a saved session: start over rather than guess.
                self.end_run();
                return self.trigger(input, first, false).map(|t| (t, 0, None));
            };
            let into = match self.rt.code.blocks[id.index()]
                .code
                .get(frame.pc)
                .map(|op| &op.instr)
            {
                Some(Instr::Wait { into }) => into.clone(),
                _ => None,
            };
            self.env.session.waiting = None;
            return Some((id, frame.pc + 1, into));
        }
        let target = self.trigger(input, first, false)?;
        self.end_run();
        Some((target, 0, None))
    }

    /// The first trigger matching the message (only `anytime` ones while a run waits).
    fn trigger(&mut self, input: &str, first: bool, anytime_only: bool) -> Option<BlockId> {
        let text = normalize(input);
        let lower = input.to_lowercase();
        for rule in &self.rt.starts {
            if anytime_only && !rule.anytime {
                continue;
            }
            let hit = match &rule.event {
                Trigger::Start => first,
                Trigger::Message(_) => rule.text == text,
                Trigger::MessageContains(_) => lower.contains(&rule.text),
                Trigger::MessageLike(t) => ops::like_text(input, t),
                Trigger::MessageMatches(_) => match rule
                    .regex
                    .as_ref()
                    .and_then(|re| re.captures(input).map(|c| (re, c)))
                {
                    Some((re, caps)) => {
                        let groups = named_groups(re, &caps);
                        self.env.session.specials.insert("match".into(), groups);
                        true
                    }
                    None => false,
                },
                Trigger::Webhook(_) => false,
                // `start` sorts first, so on a first message it has already won.
                Trigger::Fallback => true,
            };
            if hit {
                return Some(rule.target);
            }
        }
        None
    }

    fn block_id(&self, scenario: &str, block: &str) -> Option<BlockId> {
        let s = self.rt.program.scenario_index(scenario)?;
        self.rt.program.scenarios[s].blocks.get(block).copied()
    }

    fn frame(&self, block: BlockId, pc: usize) -> Frame {
        let info = self.rt.program.block(block);
        Frame {
            scenario: self.rt.program.scenarios[info.scenario].id.clone(),
            block: info.name.clone(),
            pc,
        }
    }

    fn fail_at(&mut self, block: BlockId, span: Span, message: String) {
        self.fail(block, Failure { message, span });
    }

    /// Ends the turn with an `error` event: the run stops, user variables stay.
    fn fail(&mut self, block: BlockId, f: Failure) {
        self.flush_warnings(block);
        let file = self.rt.code.blocks[block.index()].file;
        self.events.push(Event::Error {
            message: f.message,
            at: self.rt.location(file, f.span),
        });
        self.end_run();
        self.events.push(Event::End);
    }

    fn flush_warnings(&mut self, block: BlockId) {
        let file = self.rt.code.blocks[block.index()].file;
        for (message, span) in std::mem::take(&mut self.env.warnings) {
            self.events.push(Event::Warning {
                message,
                at: self.rt.location(file, span),
            });
        }
    }

    /// The instruction loop.
    /// Runs from (block, pc) to the end of the turn. The instruction loop itself is
    /// synchronous (it is the interpreter's hot path); it stops at each `http` statement,
    /// whose request is awaited here and whose outcome the loop resumes with.
    async fn run_from(&mut self, block: BlockId, pc: usize) {
        let rt = self.rt;
        let mut stop = self.execute(block, pc, None);
        while let Stop::Http { block, pc, request } = stop {
            let Some(Instr::Http(h, on_error)) = rt.code.blocks[block.index()]
                .code
                .get(pc)
                .map(|op| &op.instr)
            else {
                return;
            };
            // The request gets what is left of the turn's time, at most.
            let mut request = *request;
            let left = self
                .deadline
                .saturating_duration_since(std::time::Instant::now());
            if left.is_zero() {
                self.fail_at(block, h.url.span, self.too_long());
                return;
            }
            request.timeout = request.timeout.min(left);
            let outcome = self.http(block, h, *on_error, request).await;
            stop = self.execute(block, pc, Some(outcome));
        }
    }

    /// The instruction loop. With `resumed`, the instruction at `pc` has already run (an
    /// `http` statement) and this is its outcome.
    fn execute(
        &mut self,
        mut block: BlockId,
        mut pc: usize,
        mut resumed: Option<Eval<Next>>,
    ) -> Stop {
        let rt = self.rt;
        let max_steps = rt.options.max_steps;
        self.enter(block);
        loop {
            let code = &rt.code.blocks[block.index()].code;
            let Some(op) = code.get(pc) else {
                self.finish();
                return Stop::Done;
            };
            let step = match resumed.take() {
                Some(outcome) => outcome,
                None => {
                    self.steps += 1;
                    // The clock is read every 1024 statements: cheap, and soon enough.
                    if self.steps.is_multiple_of(1024) && std::time::Instant::now() >= self.deadline
                    {
                        self.fail_at(block, op.span, self.too_long());
                        return Stop::Done;
                    }
                    if self.steps > max_steps {
                        let name = rt.code.blocks[block.index()].name.clone();
                        let message = format!(
                            "the turn ran {max_steps} statements without waiting for the user (in block `{name}`); \
                             raise the limit with --max-steps if this is intended"
                        );
                        self.fail_at(block, op.span, message);
                        return Stop::Done;
                    }
                    self.step(block, &op.instr)
                }
            };
            if !self.env.warnings.is_empty() {
                self.flush_warnings(block);
            }
            match step {
                Ok(Next::Http(request)) => return Stop::Http { block, pc, request },
                Ok(Next::Continue) => pc += 1,
                Ok(Next::Jump(to)) => pc = to,
                Ok(Next::Goto(to)) => {
                    block = to;
                    pc = 0;
                    self.enter(block);
                }
                Ok(Next::Call(to)) => {
                    if self.env.session.stack.len() >= rt.options.max_call_depth {
                        let message = format!(
                            "calls are nested more than {} deep",
                            rt.options.max_call_depth
                        );
                        self.fail_at(block, op.span, message);
                        return Stop::Done;
                    }
                    let ret = self.frame(block, pc + 1);
                    self.env.session.stack.push(ret);
                    block = to;
                    pc = 0;
                    self.enter(block);
                }
                Ok(Next::Return) => match self.env.session.stack.pop() {
                    Some(frame) => match self.block_id(&frame.scenario, &frame.block) {
                        Some(id) => {
                            block = id;
                            pc = frame.pc;
                            self.enter(block);
                        }
                        None => {
                            self.finish();
                            return Stop::Done;
                        }
                    },
                    None => {
                        self.fail(
                            block,
                            Failure {
                                message: "`return` without a `call` to return to".into(),
                                span: op.span,
                            },
                        );
                        return Stop::Done;
                    }
                },
                Ok(Next::Wait) => {
                    self.env.session.waiting = Some(self.frame(block, pc));
                    self.events.push(Event::Wait);
                    return Stop::Done;
                }
                Ok(Next::End) => {
                    self.finish();
                    return Stop::Done;
                }
                Err(f) => {
                    self.fail(block, *f);
                    return Stop::Done;
                }
            }
        }
    }

    fn too_long(&self) -> String {
        let limit = self.rt.options.max_turn_time;
        format!(
            "the turn took longer than {} (raise the limit with --max-turn-time if this is \
             intended)",
            if limit.subsec_millis() == 0 {
                format!("{}s", limit.as_secs())
            } else {
                format!("{}ms", limit.as_millis())
            }
        )
    }

    fn enter(&mut self, block: BlockId) {
        self.env.at = Some((&self.rt.program, block));
        if let Some(seen) = self
            .visited
            .as_deref_mut()
            .and_then(|v| v.get_mut(block.index()))
        {
            *seen = true;
        }
    }

    /// The run is over: the session becomes idle.
    fn finish(&mut self) {
        self.end_run();
        self.events.push(Event::End);
    }

    /// Adds an event after the warnings raised while computing it.
    fn emit(&mut self, block: BlockId, event: Event) {
        if !self.env.warnings.is_empty() {
            self.flush_warnings(block);
        }
        self.events.push(event);
    }

    /// One instruction. The ones loops run are handled here; the rest in
    /// [`Turn::step_rest`], which keeps this function's frame small.
    fn step(&mut self, block: BlockId, instr: &Instr) -> Eval<Next> {
        Ok(match instr {
            Instr::Set { target, op, value } => {
                let v = self.env.fast(value)?;
                self.env.assign(target, *op, v)?;
                Next::Continue
            }
            Instr::JumpUnless { cond, to } => {
                if self.env.fast(cond)?.truthy() {
                    Next::Continue
                } else {
                    Next::Jump(*to)
                }
            }
            Instr::Jump { to } => Next::Jump(*to),
            Instr::Goto(to) => Next::Goto(*to),
            _ => return self.step_rest(block, instr),
        })
    }

    #[inline(never)]
    fn step_rest(&mut self, block: BlockId, instr: &Instr) -> Eval<Next> {
        Ok(match instr {
            Instr::Say { text, buttons } => {
                self.messages += 1;
                let max = self.rt.options.max_messages;
                if self.messages > max {
                    return fail(
                        text.span,
                        format!("the turn sent more than {max} messages; it was stopped"),
                    );
                }
                let text = self.env.render(text)?;
                let mut shown = Vec::with_capacity(buttons.len());
                let mut saved = Vec::new();
                for b in buttons {
                    match b {
                        Button::Text(label) => shown.push(ButtonEvent::Text {
                            label: self.env.render(label)?,
                        }),
                        Button::Goto(label, to, written) => {
                            let label = self.env.render(label)?;
                            let info = self.rt.program.block(*to);
                            saved.push(SavedButton {
                                label: label.clone(),
                                scenario: self.rt.program.scenarios[info.scenario].id.clone(),
                                block: info.name.clone(),
                            });
                            shown.push(ButtonEvent::Goto {
                                label,
                                target: written.clone(),
                            });
                        }
                        Button::Link(label, url) => {
                            let label = self.env.render(label)?;
                            let url = self.env.render(url)?;
                            shown.push(ButtonEvent::Link { label, url });
                        }
                    }
                }
                if !buttons.is_empty() {
                    self.env.session.buttons = saved;
                }
                self.emit(
                    block,
                    Event::Message {
                        text,
                        buttons: shown,
                    },
                );
                Next::Continue
            }
            Instr::Wait { .. } => Next::Wait,
            Instr::Set { .. } | Instr::JumpUnless { .. } | Instr::Jump { .. } | Instr::Goto(_) => {
                return self.step(block, instr)
            }
            Instr::Unset { target } => {
                self.env.unset(target)?;
                Next::Continue
            }
            Instr::Match {
                subject,
                arms,
                otherwise,
            } => {
                let value = self.env.eval(subject)?;
                for arm in arms {
                    for pattern in &arm.patterns {
                        if self.env.pattern_matches(&value, pattern)? {
                            return Ok(Next::Jump(arm.to));
                        }
                    }
                }
                Next::Jump(*otherwise)
            }
            Instr::Call(to) => Next::Call(*to),
            Instr::Return => Next::Return,
            Instr::End => Next::End,
            Instr::Extract {
                kind,
                from,
                into,
                otherwise,
            } => {
                let source = self.env.eval(from)?;
                match extract(kind, &source.render(), from.span)? {
                    Some(found) => {
                        self.env
                            .assign(&LValue::of(into.clone()), AssignOp::Set, found)?;
                        Next::Continue
                    }
                    None => Next::Goto(*otherwise),
                }
            }
            Instr::Http(h, _) => {
                self.requests += 1;
                let max = self.rt.options.max_requests;
                if self.requests > max {
                    return fail(
                        h.url.span,
                        format!("the turn sent more than {max} HTTP requests; it was stopped"),
                    );
                }
                Next::Http(Box::new(self.env.http_request(h)?))
            }
            Instr::Notify(t) => {
                let text = self.env.render(t)?;
                self.emit(block, Event::Notify { text });
                Next::Continue
            }
            Instr::Log(t) => {
                let text = self.env.render(t)?;
                self.emit(block, Event::Log { text });
                Next::Continue
            }
        })
    }
}

/// Why the instruction loop stopped.
enum Stop {
    /// The turn is over (it waits, ended or failed).
    Done,
    /// An `http` statement's request is to be sent.
    Http {
        block: BlockId,
        pc: usize,
        request: Box<crate::http::Request>,
    },
}

/// What the instruction loop does next.
enum Next {
    Continue,
    Jump(usize),
    Goto(BlockId),
    Call(BlockId),
    Return,
    Wait,
    End,
    /// A request to send (the instruction loop awaits the transport).
    Http(Box<crate::http::Request>),
}

impl LValue {
    fn of(var: VarPath) -> LValue {
        let span = var.span;
        LValue {
            var,
            index: Vec::new(),
            span,
        }
    }
}

/// Lowercase, trimmed, inner spaces collapsed: how messages are compared with trigger texts
/// and button labels.
pub(super) fn normalize(text: &str) -> String {
    text.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase()
}

/// The named groups of a regex match as a Dictionary (unmatched groups are Null).
fn named_groups(re: &regex::Regex, caps: &regex::Captures<'_>) -> Value {
    let mut map = IndexMap::new();
    for name in re.capture_names().flatten() {
        let v = caps
            .name(name)
            .map_or(Value::Null, |m| Value::from(m.as_str()));
        map.insert(Arc::<str>::from(name), v);
    }
    Value::from(map)
}
