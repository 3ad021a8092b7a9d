//! One turn: a session and the user's message in, events out. Triggers and transition buttons
//! decide where the run starts or resumes, then the instruction loop runs until `wait`, the
//! end of the run, an error, or the step limit.

use std::sync::Arc;

use indexmap::IndexMap;

use std::collections::HashMap;

use super::functions::Context;
use super::ir::{Button, Instr, When};
use super::session::{Frame, Globals, SavedButton, SavedSet, Session, Timer, Timers};
use super::{Attachment, ButtonEvent, Event, Input, Runtime, TimerKind};
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
    /// The session's timers as they were before this turn first changed them (taken only
    /// then: a session may hold many), to undo the turn.
    timers_before: Option<Timers>,
}

/// Where an input leads: the block and instruction to run from, the `wait -> %var%` to fill
/// when resuming, and the `set` of a pressed button.
struct Start {
    block: BlockId,
    pc: usize,
    into: Option<VarPath>,
    set: Option<SavedSet>,
}

impl Start {
    fn at(block: BlockId) -> Start {
        Start {
            block,
            pc: 0,
            into: None,
            set: None,
        }
    }
}

impl<'r> Turn<'r> {
    pub fn new(
        rt: &'r Runtime,
        session: &'r mut Session,
        globals: &'r mut Globals,
        transport: &'r dyn crate::http::Transport,
        now_ms: i64,
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
                cx: Context { now_ms, rng },
            },
            events: Vec::new(),
            steps: 0,
            requests: 0,
            messages: 0,
            deadline: std::time::Instant::now() + rt.options.max_turn_time,
            visited: None,
            timers_before: None,
        }
    }

    /// Marks in `visited` (indexed by [`BlockId`]) every block this turn enters.
    pub fn covering(mut self, visited: &'r mut [bool]) -> Turn<'r> {
        self.visited = Some(visited);
        self
    }

    /// Runs the turn; returns its events and, when it changed the timers, the timers as they
    /// were before (to undo it).
    pub async fn run(mut self, input: &Input) -> (Vec<Event>, Option<Timers>) {
        match input {
            Input::Message(text) => self.turn(text).await,
            Input::Webhook { name, payload } => self.webhook(name, payload).await,
            Input::Timer => self.timer().await,
        }
        self.env.session.rng = self.env.cx.rng;
        for (i, value) in std::mem::take(&mut self.env.slots).into_iter().enumerate() {
            if let Some(value) = value {
                self.env
                    .session
                    .temps
                    .insert(self.rt.code.slots[i].clone(), value);
            }
        }
        (self.events, self.timers_before)
    }

    /// A webhook: `on webhook "name"` starts its block whatever the session is doing (as an
    /// `anytime` trigger would), with the payload in `%webhook%`.
    async fn webhook(&mut self, name: &str, payload: &Value) {
        self.events.push(Event::Webhook {
            name: name.to_string(),
            payload: payload.to_json().unwrap_or(serde_json::Value::Null),
        });
        let target = self.rt.starts.iter().find_map(|r| match &r.event {
            Trigger::Webhook(n) if n == name => Some(r.target),
            _ => None,
        });
        let Some(target) = target else {
            self.events.push(Event::Warning {
                message: format!(
                    "no trigger `on webhook {name:?}` in the bot; the webhook was dropped"
                ),
                at: None,
            });
            self.push_unchanged();
            return;
        };
        self.end_run();
        self.env
            .session
            .specials
            .insert("webhook".into(), payload.clone());
        self.run_from(target, 0).await;
    }

    /// The timer that comes due first: a `wait … timeout` continues its run at its block; a
    /// `schedule` jumps to its block as a press of a transition button would. The turn's clock
    /// is the timer's due time.
    async fn timer(&mut self) {
        let session = &mut *self.env.session;
        let timeout_first = match (&session.timeout, session.timers.first()) {
            (Some(t), Some(s)) => (t.due_ms, t.seq) <= (s.due_ms, s.seq),
            (timeout, _) => timeout.is_some(),
        };
        let (timer, kind) = if timeout_first {
            (session.timeout.take(), TimerKind::Timeout)
        } else {
            (session.timers.pop_first(), TimerKind::Schedule)
        };
        let Some(timer) = timer else {
            self.push_unchanged();
            return;
        };
        self.env.cx.now_ms = timer.due_ms;
        self.events.push(Event::Timer {
            name: timer.name.clone(),
            block: timer.block.clone(),
            kind,
        });
        let Some(id) = self.block_id(&timer.scenario, &timer.block) else {
            self.events.push(Event::Warning {
                message: format!(
                    "the timer's block {}::{} is not in this bot any more; the timer was dropped",
                    timer.scenario, timer.block
                ),
                at: None,
            });
            self.push_unchanged();
            return;
        };
        match kind {
            TimerKind::Timeout => self.env.session.waiting = None,
            TimerKind::Schedule => self.press(),
        }
        self.run_from(id, 0).await;
    }

    /// A transition button was pressed (or a `schedule` came due): a waiting run, or one whose
    /// buttons kept its temporaries, goes on at the button's block; otherwise a new run starts.
    fn press(&mut self) {
        let session = &mut *self.env.session;
        if session.is_waiting() || session.parked {
            session.waiting = None;
            session.stack.clear();
            session.timeout = None;
            session.parked = false;
        } else {
            self.end_run();
        }
    }

    /// The timers are about to change: keep them as they were, once per turn.
    fn timers_changing(&mut self) {
        if self.timers_before.is_none() {
            self.timers_before = Some(self.env.session.timers.clone());
        }
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
            Some(start) => {
                let block = start.block;
                if let Some(into) = start.into {
                    let assigned =
                        self.env
                            .assign(&LValue::of(into), AssignOp::Set, Value::from(input));
                    if let Err(f) = assigned {
                        self.fail(block, *f);
                        return;
                    }
                }
                if let Some(set) = start.set {
                    let assigned = self.button_set(set);
                    if let Err(f) = assigned {
                        self.fail(block, *f);
                        return;
                    }
                }
                self.run_from(block, start.pc).await;
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
    fn route(&mut self, input: &str, first: bool) -> Option<Start> {
        // A message in time cancels the waiting run's timeout, whatever it leads to.
        self.env.session.timeout = None;
        let pressed = normalize(input);
        let button = self
            .env
            .session
            .buttons
            .iter()
            .find(|b| normalize(&b.label) == pressed)
            .cloned();
        if let Some(b) = button {
            if let Some(id) = self.block_id(&b.scenario, &b.block) {
                self.press();
                return Some(Start {
                    set: b.set,
                    ..Start::at(id)
                });
            }
        }
        if self.env.session.parked {
            // Not one of the buttons the ended run kept its temporaries for.
            self.end_run();
        }
        if let Some(frame) = self.env.session.waiting.clone() {
            if let Some(target) = self.trigger(input, first, true) {
                self.end_run();
                return Some(Start::at(target));
            }
            let Some(id) = self.block_id(&frame.scenario, &frame.block) else {
                // The bot changed under a saved session: start over rather than guess.
                self.end_run();
                return self.trigger(input, first, false).map(Start::at);
            };
            let into = match self.rt.code.blocks[id.index()]
                .code
                .get(frame.pc)
                .map(|op| &op.instr)
            {
                Some(Instr::Wait { into, .. }) => into.clone(),
                _ => None,
            };
            self.env.session.waiting = None;
            return Some(Start {
                pc: frame.pc + 1,
                into,
                ..Start::at(id)
            });
        }
        let target = self.trigger(input, first, false)?;
        self.end_run();
        Some(Start::at(target))
    }

    /// Assigns the value a pressed button carries.
    fn button_set(&mut self, set: SavedSet) -> Eval<()> {
        let span = Span::new(0, 0);
        let ident = |name: String| crate::syntax::ast::Ident { name, span };
        let var = VarPath {
            slot: self.rt.code.slot_of.get(&set.var).copied(),
            root: ident(set.var),
            path: set.path.into_iter().map(ident).collect(),
            span,
        };
        self.env.assign(&LValue::of(var), AssignOp::Set, set.value)
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

    /// The run is over: the session becomes idle. When the run's last message with buttons
    /// offers transition buttons, its temporaries stay until the next input (LANGUAGE.md §4).
    fn finish(&mut self) {
        let session = &mut *self.env.session;
        if session.buttons_in_run && !session.buttons.is_empty() {
            session.park();
        } else {
            self.end_run();
        }
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
                let mut body = SayBody::default();
                self.say_items(buttons, &mut body)?;
                if body.shown.len() > MAX_BUTTONS {
                    return fail(
                        text_span(buttons).unwrap_or(Span::new(0, 0)),
                        format!(
                            "the message has {} buttons; a message may carry at most {MAX_BUTTONS}",
                            body.shown.len()
                        ),
                    );
                }
                if !body.shown.is_empty() {
                    self.env.session.buttons = body.saved;
                    self.env.session.buttons_in_run = true;
                }
                self.emit(
                    block,
                    Event::Message {
                        text,
                        buttons: body.shown,
                        attachments: body.attachments,
                    },
                );
                Next::Continue
            }
            Instr::Wait { timeout, .. } => {
                if let Some((ms, to)) = timeout {
                    let timer =
                        self.timer_to(*to, self.env.cx.now_ms.saturating_add(*ms as i64), None);
                    self.env.session.timeout = Some(timer);
                }
                Next::Wait
            }
            Instr::ForStart { state, iter } => {
                let items = elements(self.env.eval(iter)?, iter.span)?;
                let state_value = Value::from(vec![items, Value::from(0usize)]);
                self.env
                    .assign(&LValue::of(state.clone()), AssignOp::Set, state_value)?;
                Next::Continue
            }
            Instr::ForNext { state, var, end } => {
                let slot = state.slot.map(|s| s as usize);
                let current = slot.and_then(|s| self.env.slots.get(s).cloned().flatten());
                let next = match &current {
                    Some(Value::List(pair)) => match (pair.first(), pair.get(1)) {
                        (Some(Value::List(items)), Some(Value::Number(i))) => i
                            .to_i64()
                            .and_then(|i| usize::try_from(i).ok())
                            .and_then(|i| items.get(i).map(|x| (items.clone(), i, x.clone()))),
                        _ => None,
                    },
                    _ => None,
                };
                match next {
                    Some((items, i, element)) => {
                        self.env
                            .assign(&LValue::of(var.clone()), AssignOp::Set, element)?;
                        let state_value = Value::from(vec![Value::List(items), Value::from(i + 1)]);
                        if let Some(s) = slot {
                            self.env.slots[s] = Some(state_value);
                        }
                        Next::Continue
                    }
                    None => {
                        if let Some(s) = slot {
                            self.env.slots[s] = None;
                        }
                        Next::Jump(*end)
                    }
                }
            }
            Instr::Schedule {
                when,
                to,
                name,
                span,
            } => {
                let due = match when {
                    When::After(ms) => self.env.cx.now_ms.saturating_add(*ms as i64),
                    When::At(e) => {
                        let at = self.env.eval(e)?;
                        let at = crate::eval::functions::time_ms(&at).map_err(|m| {
                            Box::new(Failure {
                                message: format!("`schedule at`: {m}"),
                                span: e.span,
                            })
                        })?;
                        // A time already past fires at once: it is due now.
                        at.max(self.env.cx.now_ms)
                    }
                };
                self.timers_changing();
                let replaced = name
                    .as_deref()
                    .is_some_and(|n| self.env.session.timers.cancel(n));
                let max = self.rt.options.max_timers;
                if !replaced && self.env.session.timers.len() >= max {
                    return fail(
                        *span,
                        format!(
                            "the conversation already has {max} timers pending, the most it may have; \
                             cancel one first (`cancel \"name\"`)"
                        ),
                    );
                }
                let timer = self.timer_to(*to, due, name.clone());
                self.env.session.timers.insert(timer);
                Next::Continue
            }
            Instr::Cancel(name) => {
                if self
                    .env
                    .session
                    .timers
                    .iter()
                    .any(|t| t.name.as_deref() == Some(name))
                {
                    self.timers_changing();
                    self.env.session.timers.cancel(name);
                }
                Next::Continue
            }
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

/// The most buttons one message may carry (LANGUAGE.md §7.1).
const MAX_BUTTONS: usize = 100;

/// A `say` body as it is sent: the buttons shown, the transition buttons kept in the session,
/// the attachments.
#[derive(Default)]
struct SayBody {
    shown: Vec<ButtonEvent>,
    saved: Vec<SavedButton>,
    attachments: Vec<Attachment>,
}

/// Where a `say` body starts in the source (for the error of too many buttons).
fn text_span(items: &[Button]) -> Option<Span> {
    items.first().map(|b| match b {
        Button::Text(l) | Button::Goto(l, ..) | Button::Link(l, _) => l.span,
        Button::Image(u) | Button::File(u, _) => u.span,
        Button::For(head, _) => head.1.span,
    })
}

/// The elements `for` goes over, as a List: a List's, a Dictionary's keys, a String's
/// characters; nothing for null (a missing variable, already warned about).
fn elements(value: Value, span: Span) -> Eval<Value> {
    Ok(match value {
        Value::List(_) => value,
        Value::Null => Value::from(Vec::<Value>::new()),
        Value::Dict(d) => Value::from(
            d.keys()
                .map(|k| Value::String(k.clone()))
                .collect::<Vec<_>>(),
        ),
        Value::String(s) => Value::from(
            s.chars()
                .map(|c| Value::from(c.to_string()))
                .collect::<Vec<_>>(),
        ),
        other => {
            return fail(
                span,
                format!(
                    "`for` goes over a List, a Dictionary or a String; this is {}",
                    match other.type_name() {
                        "null" => "null".to_string(),
                        name => format!("a {name}"),
                    }
                ),
            )
        }
    })
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

impl Turn<'_> {
    /// A timer that jumps to `to` at `due_ms`.
    fn timer_to(&mut self, to: BlockId, due_ms: i64, name: Option<String>) -> Timer {
        let info = self.rt.program.block(to);
        let session = &mut *self.env.session;
        session.timer_seq += 1;
        Timer {
            due_ms,
            seq: session.timer_seq,
            name,
            scenario: self.rt.program.scenarios[info.scenario].id.clone(),
            block: info.name.clone(),
        }
    }

    /// Renders the items of a `say` body into `body`.
    fn say_items(&mut self, items: &[Button], body: &mut SayBody) -> Eval<()> {
        for b in items {
            match b {
                Button::Text(label) => body.shown.push(ButtonEvent::Text {
                    label: self.env.render(label)?,
                }),
                Button::Goto(label, to, written, set) => {
                    let label = self.env.render(label)?;
                    let set = match set {
                        Some(set) => Some(SavedSet {
                            var: set.0.root.name.clone(),
                            path: set.0.path.iter().map(|p| p.name.clone()).collect(),
                            value: self.env.eval(&set.1)?,
                        }),
                        None => None,
                    };
                    let info = self.rt.program.block(*to);
                    body.saved.push(SavedButton {
                        label: label.clone(),
                        scenario: self.rt.program.scenarios[info.scenario].id.clone(),
                        block: info.name.clone(),
                        set,
                    });
                    body.shown.push(ButtonEvent::Goto {
                        label,
                        target: written.clone(),
                    });
                }
                Button::Link(label, url) => {
                    let label = self.env.render(label)?;
                    let url = self.env.render(url)?;
                    body.shown.push(ButtonEvent::Link { label, url });
                }
                Button::Image(url) => {
                    let url = self.env.render(url)?;
                    body.attachments.push(Attachment::Image { url });
                }
                Button::File(url, name) => {
                    let url = self.env.render(url)?;
                    let name = self.env.render(name)?;
                    body.attachments.push(Attachment::File { url, name });
                }
                Button::For(head, inner) => {
                    let Value::List(list) = elements(self.env.eval(&head.1)?, head.1.span)? else {
                        continue;
                    };
                    for element in list.iter() {
                        self.env.assign(
                            &LValue::of(head.0.clone()),
                            AssignOp::Set,
                            element.clone(),
                        )?;
                        self.say_items(inner, body)?;
                        if body.shown.len() > MAX_BUTTONS {
                            // Enough to report; no need to build the rest.
                            return Ok(());
                        }
                    }
                }
            }
        }
        Ok(())
    }
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
