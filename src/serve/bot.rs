//! The bot as `serve` runs it: the compiled [`Runtime`] (shared by every session) and what the
//! server needs to know of it beforehand — which webhooks it has, and which turns may touch a
//! `global` variable (those take the globals lock; the others run without it), and which may
//! call `http` (on a store shared by several instances, those claim their user first; the
//! others commit in one round trip, and run again if another instance got there first).

use std::collections::{HashMap, HashSet};

use crate::check::BlockId;
use crate::eval::{Input, Runtime, Session};
use crate::graph::Origin;
use crate::syntax::ast::{Event as Trigger, Scope, Stmt, StmtKind};
use crate::value::Value;

pub struct Bot {
    pub runtime: Runtime,
    /// `--var` and `--secret` presets, given to every session it loads.
    pub presets: Vec<(String, Value, bool)>,
    /// The names of the bot's `on webhook "…"` triggers.
    pub webhooks: HashSet<String>,
    /// Where a turn may read or write a global.
    globals: Reach,
    /// Where a turn may call `http`: a turn that cannot is run again, harmlessly, when its
    /// commit finds that another instance got there first.
    http: Reach,
}

/// The blocks from which a turn may come to a block of some kind (in the block itself or in
/// one it can go on to), and the triggers that lead to one.
struct Reach {
    /// Per block, indexed like `Program::blocks`.
    blocks: Vec<bool>,
    /// Whether some trigger (any / an `anytime` one / a webhook's) leads to such a block.
    trigger: bool,
    anytime: bool,
    webhook: HashMap<String, bool>,
}

impl Reach {
    /// The backwards closure of `marked` over the bot's edges, and its triggers.
    fn new(program: &crate::check::Program, next: &[Vec<BlockId>], marked: Vec<bool>) -> Reach {
        let mut reaches = marked;
        loop {
            let mut changed = false;
            for b in 0..reaches.len() {
                if !reaches[b] && next[b].iter().any(|to| reaches[to.index()]) {
                    reaches[b] = true;
                    changed = true;
                }
            }
            if !changed {
                break;
            }
        }
        let mut webhook: HashMap<String, bool> = HashMap::new();
        let (mut trigger, mut anytime) = (false, false);
        for (scenario, file) in program.files.iter().enumerate() {
            for t in &file.triggers {
                let target = program.resolve(scenario, &t.target);
                let hit = target.is_some_and(|id| reaches[id.index()]);
                if let Trigger::Webhook(name) = &t.event {
                    *webhook.entry(name.clone()).or_default() |= hit;
                    continue;
                }
                trigger |= hit;
                anytime |= hit && t.anytime;
            }
        }
        Reach {
            blocks: reaches,
            trigger,
            anytime,
            webhook,
        }
    }

    /// Whether this turn may come to such a block: where the session stands, the buttons it
    /// can press, its timers and the triggers the input can start.
    fn may(&self, program: &crate::check::Program, session: &Session, input: &Input) -> bool {
        let reaches = |scenario: &str, block: &str| {
            program
                .scenario_index(scenario)
                .and_then(|s| program.scenarios[s].blocks.get(block))
                .is_none_or(|id| self.blocks[id.index()])
        };
        let position = session
            .waiting
            .iter()
            .chain(&session.stack)
            .any(|f| reaches(&f.scenario, &f.block));
        if position {
            return true;
        }
        match input {
            Input::Message(_) => {
                session
                    .buttons
                    .iter()
                    .any(|b| reaches(&b.scenario, &b.block))
                    || if session.is_waiting() {
                        self.anytime
                    } else {
                        self.trigger
                    }
            }
            Input::Webhook { name, .. } => self.webhook.get(name).copied().unwrap_or(false),
            Input::Timer => session
                .timeout
                .iter()
                .chain(session.timers.iter())
                .any(|t| reaches(&t.scenario, &t.block)),
        }
    }
}

/// Whether statements hold an `http` call, nested ones included.
fn calls_http(body: &[Stmt]) -> bool {
    body.iter().any(|stmt| match &stmt.kind {
        StmtKind::Http(_) => true,
        StmtKind::For { body, .. } => calls_http(body),
        StmtKind::If {
            branches,
            otherwise,
        } => {
            branches.iter().any(|(_, b)| calls_http(b))
                || otherwise.as_deref().is_some_and(calls_http)
        }
        StmtKind::Match {
            arms, otherwise, ..
        } => {
            arms.iter().any(|a| calls_http(&a.body)) || otherwise.as_deref().is_some_and(calls_http)
        }
        _ => false,
    })
}

impl Bot {
    pub fn new(runtime: Runtime, presets: Vec<(String, Value, bool)>) -> Bot {
        let program = runtime.program();
        let global_names: Vec<&str> = program
            .declarations
            .iter()
            .filter(|(_, d)| d.scope == Scope::Global)
            .map(|(name, _)| name.as_str())
            .collect();
        let sources = runtime.sources();
        let parsed = |info: &crate::check::BlockInfo| {
            info.index
                .and_then(|i| program.files[info.scenario].blocks.get(i))
        };
        // A block touches a global when its text names one: `%n%`, `%n.x%`, `%n[0]%`.
        // Textual, so a comment or a string that names it counts too: never too few.
        let touches: Vec<bool> = program
            .blocks
            .iter()
            .map(|info| {
                let Some(block) = parsed(info) else {
                    return false;
                };
                let file = program.scenarios[info.scenario].file;
                let text = sources
                    .files
                    .get(file)
                    .and_then(|f| f.text.get(block.span.start..block.span.end))
                    .unwrap_or("");
                !global_names.is_empty() && names_any(text, &global_names)
            })
            .collect();
        // A block that failed to parse never runs; any other is looked through.
        let http: Vec<bool> = program
            .blocks
            .iter()
            .map(|info| parsed(info).is_some_and(|block| calls_http(&block.body)))
            .collect();
        let graph = crate::graph::build(program, sources);
        let mut next: Vec<Vec<BlockId>> = vec![Vec::new(); program.blocks.len()];
        for edge in &graph.edges {
            if let Origin::Block(from) = edge.from {
                next[from.index()].push(edge.to);
            }
        }
        let webhooks = program
            .files
            .iter()
            .flat_map(|file| &file.triggers)
            .filter_map(|t| match &t.event {
                Trigger::Webhook(name) => Some(name.clone()),
                _ => None,
            })
            .collect();
        Bot {
            globals: Reach::new(program, &next, touches),
            http: Reach::new(program, &next, http),
            runtime,
            presets,
            webhooks,
        }
    }

    /// Whether this turn may read or write a global variable: where the session stands, the
    /// buttons it can press, its timers and the triggers the input can start, any of them
    /// leading to a block that names one.
    pub fn may_touch_globals(&self, session: &Session, input: &Input) -> bool {
        self.globals.may(self.runtime.program(), session, input)
    }

    /// Whether this turn may call `http` (what it would do cannot be done twice).
    pub fn may_call_http(&self, session: &Session, input: &Input) -> bool {
        self.http.may(self.runtime.program(), session, input)
    }

    /// A saved session, made ready for a turn: the bot's new `user` variables added, its
    /// position checked (a warning when it no longer exists), the presets given.
    pub fn prepare(&self, session: &mut Session) -> Option<String> {
        let mut unused = crate::eval::Globals::default();
        self.runtime.refresh(session, &mut unused);
        let warning = self.runtime.check_position(session);
        for (name, value, secret) in &self.presets {
            // Checked when the server started: a special variable is refused there.
            let _ = self.runtime.preset(session, name, value.clone(), *secret);
        }
        warning
    }
}

/// Whether `text` names one of `names` as a variable.
fn names_any(text: &str, names: &[&str]) -> bool {
    let bytes = text.as_bytes();
    memchr::memchr_iter(b'%', bytes).any(|at| {
        let rest = &text[at + 1..];
        names.iter().any(|name| {
            rest.strip_prefix(name)
                .and_then(|after| after.bytes().next())
                .is_some_and(|c| matches!(c, b'%' | b'.' | b'['))
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::eval::Options;
    use crate::Sources;

    fn bot(text: &str) -> Bot {
        let sources = Sources::from_texts([("bot.scn", text)]);
        let program = crate::compile(&sources).unwrap_or_else(|d| panic!("{d:?}"));
        Bot::new(
            Runtime::new(program, sources, Options::default()),
            Vec::new(),
        )
    }

    #[test]
    fn only_turns_that_can_reach_a_global_take_the_lock() {
        let bot = bot("global %n% = 0\n\
             on message \"count\" goto count\n\
             on message \"echo\" goto echo\n\
             on webhook \"ping\" goto echo\n\
             on webhook \"bump\" goto bump\n\
             block count { say \"one\"; goto add }\n\
             block add { set %n% += 1 }\n\
             block echo { say \"%message%\" }\n\
             block bump { goto add }\n");
        let runtime = &bot.runtime;
        let idle = runtime.new_session("u", "U");
        // Idle: a message may start the trigger to `count`, which goes on to `add`.
        assert!(bot.may_touch_globals(&idle, &Input::Message("echo".into())));
        let ping = Input::Webhook {
            name: "ping".into(),
            payload: Value::Null,
        };
        let bump = Input::Webhook {
            name: "bump".into(),
            payload: Value::Null,
        };
        assert!(!bot.may_touch_globals(&idle, &ping));
        assert!(bot.may_touch_globals(&idle, &bump));
        assert!(!bot.may_touch_globals(&idle, &Input::Timer));
        assert!(names_any("say \"%n.x%\"", &["n"]));
        assert!(!names_any("say \"%nn%\" 100%", &["n"]));
    }

    #[test]
    fn a_bot_without_globals_never_takes_the_lock() {
        let bot = bot("on message goto e\nblock e { say \"%message%\" }\n");
        let idle = bot.runtime.new_session("u", "U");
        assert!(!bot.may_touch_globals(&idle, &Input::Message("hi".into())));
    }

    #[test]
    fn only_turns_that_can_reach_an_http_call_count_as_calling_it() {
        let bot = bot("on message \"order\" goto order\n\
             on message \"hi\" goto hi\n\
             on webhook \"paid\" goto thanks\n\
             block hi { say \"hello https://example.com\" { button \"Order\" goto order } }\n\
             block order { if %message% == \"x\" { http GET \"http://127.0.0.1:1/\" } }\n\
             block thanks { say \"thanks\" }\n");
        let runtime = &bot.runtime;
        let idle = runtime.new_session("u", "U");
        // Idle: any message may start the trigger to `order`.
        assert!(bot.may_call_http(&idle, &Input::Message("hi".into())));
        let paid = Input::Webhook {
            name: "paid".into(),
            payload: Value::Null,
        };
        assert!(!bot.may_call_http(&idle, &paid));
        let echo = self::bot("on message goto e\nblock e { say \"http %message%\" }\n");
        let idle = echo.runtime.new_session("u", "U");
        assert!(!echo.may_call_http(&idle, &Input::Message("http".into())));
    }
}
